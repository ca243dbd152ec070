/*
 * The flush barrier: every shard makes durable (fdatasync) each object file written since its
 * last flush, its own objects' and those it wrote for a sleeping owner (peer_fds.h). Because a
 * write is acknowledged only once the shard that wrote it has noted it, a flush issued after
 * the acknowledgement covers it, whichever connection or shard the write came through: the
 * promise behind NBD's CAN_MULTI_CONN.
 *
 * Concurrent flushes are grouped: a shard runs one round of syncs at a time, and every flush
 * that arrives during a round waits for the next one, which starts when the current round ends.
 */
#ifndef SD_OBJ_FLUSH_H
#define SD_OBJ_FLUSH_H

#include <stdint.h>

#include "../shard/msg.h"

struct obj_flush_part;

struct obj_flush_req {
	/* Set by the submitter; done runs on the submitting thread. */
	void (*done)(struct obj_flush_req *r);
	void *priv;
	/* 0, or the first -errno a shard met. */
	int result;
	/* Private. */
	int origin, pending;
	struct obj_flush_part *parts; /* one per shard, owned */
};

/* Starts a flush from any mesh thread. Returns 0, or -ENOMEM (done will not run). */
int obj_flush_submit(struct obj_flush_req *r);

/* On a shard: how many fdatasyncs of files written for other shards have succeeded (tests). */
uint64_t obj_flush_peer_syncs(void);

#endif
