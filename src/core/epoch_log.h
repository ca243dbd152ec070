/*
 * The epoch log: DIR/epoch/NNNNNNNN, one file per epoch, listing the members of the cluster at
 * that epoch. Written atomically; `dog cluster info` shows it newest first.
 */
#ifndef SD_EPOCH_LOG_H
#define SD_EPOCH_LOG_H

#include <stdint.h>

#include "node.h"

struct epoch_entry {
	uint32_t epoch;
	uint64_t time; /* unix seconds */
	int nr_nodes;
	struct sd_node *nodes; /* owned */
};

int epoch_log_write(const char *dir, const struct epoch_entry *e);
/* Reads one epoch. -ENOENT if it was never written. */
int epoch_log_read(const char *dir, uint32_t epoch, struct epoch_entry *e);
void epoch_entry_free(struct epoch_entry *e);
/* Parses the text of one epoch file. Pure; returns 0 or -EINVAL. */
int epoch_log_parse(const char *text, struct epoch_entry *e);

#endif
