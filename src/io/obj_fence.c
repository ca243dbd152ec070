/*
 * Fenced and frozen VDI ids, one small sorted array of each per shard (see obj_fence.h).
 * Deletes and snapshots are rare; lookups are a binary search.
 */
#include "obj_fence.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../shard/msg.h"
#include "../shard/shard_all.h"
#include "obj_io.h"

struct vid_set {
	uint32_t *v;
	int nr, cap;
};

static __thread struct vid_set fenced, frozen;

/* Index of the first entry >= vid. */
static int lower_bound(const struct vid_set *s, uint32_t vid)
{
	int lo = 0, hi = s->nr;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (s->v[mid] < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool set_has(const struct vid_set *s, uint32_t vid)
{
	int i;

	if (!s->nr)
		return false;
	i = lower_bound(s, vid);
	return i < s->nr && s->v[i] == vid;
}

/* Returns 0, or -1 out of memory. */
static int set_change(struct vid_set *s, uint32_t vid, bool on)
{
	int i = lower_bound(s, vid);
	bool present = i < s->nr && s->v[i] == vid;

	if (on && !present) {
		if (s->nr == s->cap) {
			int cap = s->cap ? s->cap * 2 : 16;
			uint32_t *n = realloc(s->v, sizeof(*n) * (size_t)cap);

			if (!n)
				return -1;
			s->v = n;
			s->cap = cap;
		}
		memmove(s->v + i + 1, s->v + i, sizeof(*s->v) * (size_t)(s->nr - i));
		s->v[i] = vid;
		s->nr++;
	} else if (!on && present) {
		memmove(s->v + i, s->v + i + 1, sizeof(*s->v) * (size_t)(s->nr - i - 1));
		s->nr--;
	}
	return 0;
}

struct fence_change {
	uint32_t vid;
	bool on, freeze;
	int failed;  /* shards that ran out of memory */
	int pending; /* freeze: shards with writes from before it still in flight */
};

static void change_on_shard(void *arg)
{
	struct fence_change *ch = arg;

	if (set_change(ch->freeze ? &frozen : &fenced, ch->vid, ch->on))
		__atomic_add_fetch(&ch->failed, 1, __ATOMIC_RELAXED);
	else if (ch->freeze && ch->on)
		obj_write_barrier_begin();
}

int obj_fence_set(uint32_t vid, bool on)
{
	struct fence_change ch = { .vid = vid, .on = on };

	if (shard_run_on_all(change_on_shard, &ch) || ch.failed)
		return -1;
	return 0;
}

static void drained_on_shard(void *arg)
{
	struct fence_change *ch = arg;

	if (!obj_write_barrier_done())
		__atomic_add_fetch(&ch->pending, 1, __ATOMIC_RELAXED);
}

int obj_freeze_set(uint32_t vid, bool on)
{
	struct fence_change ch = { .vid = vid, .on = on, .freeze = true };

	if (shard_run_on_all(change_on_shard, &ch) || ch.failed)
		return -1;
	if (!on)
		return 0;
	/* Writes already on their way to the disk finish within an I/O's time. */
	for (int tries = 0;; tries++) {
		ch.pending = 0;
		if (shard_run_on_all(drained_on_shard, &ch))
			return -1;
		if (!ch.pending)
			return 0;
		if (tries == 10000)
			log_warn(
				"freezing VDI id %x: writes admitted before the snapshot are still "
				"in flight after 2 s (a slow disk?); waiting for them",
				vid);
		msg_poll(64);
		usleep(200);
	}
}

bool obj_fenced(uint64_t oid)
{
	/* Data and inode objects: a late inode write must not bring a deleted VDI back. */
	if (!fenced.nr || !(oid_is_data(oid) || oid_is_inode(oid)))
		return false;
	return set_has(&fenced, oid_to_vid(oid));
}

bool obj_frozen(uint64_t oid)
{
	return frozen.nr && oid_is_data(oid) && set_has(&frozen, oid_to_vid(oid));
}

void obj_fence_drain(void)
{
	free(fenced.v);
	free(frozen.v);
	memset(&fenced, 0, sizeof(fenced));
	memset(&frozen, 0, sizeof(frozen));
}
