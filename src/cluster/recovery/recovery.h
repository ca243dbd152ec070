/*
 * Background recovery and rebalance (sdcluster). After every epoch change each node works out
 * which objects it holds in the new epoch, from the state machine's VDI maps (every node has
 * them: no object lists are exchanged), and has each owning shard check its copies: a copy that
 * is current stays, one that is stale or missing is pulled from the holders of earlier epochs
 * (obj_check.h), a few at a time, while client I/O goes on (a client's request for an object
 * pulls it at once, ahead of the queue). A newer epoch replaces the plan; copies already
 * checked in it are remembered by the shards and cost nothing the second time.
 *
 * When a node has every object of the epoch it reports it (a RecoveryDone command). Once every
 * member has, no copy outside the epoch's placement is needed as a source any more, and each
 * node removes the copies it no longer holds (recovery_purge.c): a second failure during
 * recovery never finds the only copy gone.
 *
 * Control thread, except recovery_worker_*.
 */
#ifndef SD_RECOVERY_H
#define SD_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/evloop.h"
#include "../../shard/msg.h"

/* What one shard has done of its part of the plan: atomics, written by the shard. */
struct recovery_stats {
	uint32_t epoch, gen;
	uint64_t total, done, failed;
};

/* One shard's part of a plan: owned by the shard once sent. */
struct recovery_list {
	struct sd_msg msg;
	uint32_t epoch, gen; /* gen: the plan's number, new each time one is sent */
	uint32_t n;
	uint64_t oids[];
};

/* Objects a node checks at once, and per interval (0: no interval), by default. */
#define RECOVERY_MAX_DEFAULT 32

int recovery_start(struct evloop *loop, uint64_t self_raft_id);
void recovery_stop(void);
/* A view was published: a new epoch gets a new plan. */
void recovery_view_changed(void);
/* The state machine says every member recovered `epoch`: remove what is not held any more. */
void recovery_all_done(uint32_t epoch);
/* This node's progress: false when it has nothing left to do. */
bool recovery_progress(uint32_t *epoch, uint64_t *done, uint64_t *total);
/*
 * `dog cluster recover enable|disable`, and the throttle of `-R max=N,interval=MS` and `dog node
 * recovery set-throttle`: at most max objects started per interval_ms (both 0: no throttle).
 * Any thread before recovery_start; the control thread after.
 */
void recovery_set_enabled(bool on);
void recovery_set_throttle(uint32_t max, uint32_t interval_ms);
void recovery_get(uint32_t *max, uint32_t *interval_ms, bool *on);

/* recovery_worker.c, on the shards. */
/* Shard: replaces its queue with l (message from the control thread). */
void recovery_worker_take(void *arg);
/* Sizes the per-shard stats (control thread, before the first plan; kept until exit). */
int recovery_worker_init(int nr_shards);
/* Shard, at shut-down: forgets the rest of its plan. */
void recovery_worker_drop(void *arg);
const struct recovery_stats *recovery_worker_stats(int shard);
/* The throttle and the pause, read by the shards (atomics). */
void recovery_worker_configure(bool enabled, uint32_t max_per_shard, uint32_t interval_ms);

/* recovery_purge.c: removes this node's copies not placed on it in `epoch`, in the background. */
void recovery_purge_start(struct evloop *loop, uint32_t epoch);
void recovery_purge_stop(void);

#endif
