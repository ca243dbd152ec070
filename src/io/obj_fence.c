/* Fenced VDI ids, one small sorted array per shard (see obj_fence.h). Deletes are rare. */
#include "obj_fence.h"

#include <stdlib.h>
#include <string.h>

#include "../core/oid.h"
#include "../shard/shard_all.h"

static __thread uint32_t *fenced;
static __thread int nr_fenced, cap_fenced;

/* Index of the first entry >= vid. */
static int lower_bound(uint32_t vid)
{
	int lo = 0, hi = nr_fenced;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (fenced[mid] < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct fence_change {
	uint32_t vid;
	bool fenced;
	int failed; /* shards that ran out of memory */
};

static void change_on_shard(void *arg)
{
	struct fence_change *ch = arg;
	int i = lower_bound(ch->vid);
	bool present = i < nr_fenced && fenced[i] == ch->vid;

	if (ch->fenced && !present) {
		if (nr_fenced == cap_fenced) {
			int cap = cap_fenced ? cap_fenced * 2 : 16;
			uint32_t *n = realloc(fenced, sizeof(*n) * (size_t)cap);

			if (!n) {
				__atomic_add_fetch(&ch->failed, 1, __ATOMIC_RELAXED);
				return;
			}
			fenced = n;
			cap_fenced = cap;
		}
		memmove(fenced + i + 1, fenced + i, sizeof(*fenced) * (size_t)(nr_fenced - i));
		fenced[i] = ch->vid;
		nr_fenced++;
	} else if (!ch->fenced && present) {
		memmove(fenced + i, fenced + i + 1, sizeof(*fenced) * (size_t)(nr_fenced - i - 1));
		nr_fenced--;
	}
}

int obj_fence_set(uint32_t vid, bool on)
{
	struct fence_change ch = { .vid = vid, .fenced = on };

	if (shard_run_on_all(change_on_shard, &ch) || ch.failed)
		return -1;
	return 0;
}

bool obj_fenced(uint64_t oid)
{
	uint32_t vid;
	int i;

	/* Data and inode objects: a late inode write must not bring a deleted VDI back. */
	if (!nr_fenced || !(oid_is_data(oid) || oid_is_inode(oid)))
		return false;
	vid = oid_to_vid(oid);
	i = lower_bound(vid);
	return i < nr_fenced && fenced[i] == vid;
}

void obj_fence_drain(void)
{
	free(fenced);
	fenced = NULL;
	nr_fenced = cap_fenced = 0;
}
