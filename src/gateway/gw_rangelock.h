/*
 * Per-object range locks for the primary holder (docs/cluster-design.md, "Ordering: the primary
 * holder"): a write that overlaps one in flight, or one queued before it, on the same object
 * waits; others go at once. FIFO per object, so overlapping writes apply in arrival order on
 * every holder. Pure bookkeeping, one instance per shard (the shard that owns the objects), no
 * locking.
 */
#ifndef SD_GW_RANGELOCK_H
#define SD_GW_RANGELOCK_H

#include <stdbool.h>
#include <stdint.h>

#define RL_BUCKETS 256

struct rl_entry {
	/* Set by the caller: the object, the range [start, end), what to call once granted. */
	uint64_t oid, start, end;
	void (*grant)(struct rl_entry *e);
	/* Private. */
	bool granted;
	struct rl_entry *prev, *next;
};

struct range_lock {
	struct rl_entry *head[RL_BUCKETS], *tail[RL_BUCKETS];
	uint32_t nr; /* entries held or waiting */
};

/* Returns true if e is granted now (grant is not called); else e waits and grant runs later. */
bool rl_acquire(struct range_lock *rl, struct rl_entry *e);
/* e (granted) is done: waiters it held back and that nothing else holds back are granted. */
void rl_release(struct range_lock *rl, struct rl_entry *e);

#endif
