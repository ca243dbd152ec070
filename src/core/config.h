/*
 * The cluster configuration a node keeps in DIR/config: what `dog cluster format` chose. It is a
 * small key=value text file, readable by an operator, replaced atomically.
 */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SD_CONFIG_VERSION 1

struct sd_config {
	uint64_t ctime; /* unix seconds of the format; 0: never formatted */
	uint8_t copies;
	uint8_t copy_policy; /* 0 replicated, else ec_policy(D, P) */
	uint8_t block_size_shift;
	char store[16]; /* "plain" or "tree" */
	bool recycle_vid;
	bool strict;
	uint32_t epoch; /* latest epoch */
};

/* Parses the text of a config file. Returns 0 or -EINVAL, with a reason in err. */
int config_parse(const char *text, struct sd_config *cfg, char *err, size_t errlen);
/* Writes the text of a config file into buf; returns its length. */
size_t config_format(const struct sd_config *cfg, char *buf, size_t len);

/* Loads DIR/config. -ENOENT if there is none (a node never formatted). */
int config_load(const char *dir, struct sd_config *cfg, char *err, size_t errlen);
int config_save(const char *dir, const struct sd_config *cfg);

#endif
