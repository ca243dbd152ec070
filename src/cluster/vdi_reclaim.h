/*
 * Which objects may go when VDIs stop naming them. Snapshots and clones share objects through
 * their data maps, so an object X:idx (VDI id X, index idx) is kept exactly while some live
 * VDI's map names X at idx: the VDI X itself while it lives, and every descendant (a later
 * snapshot's working VDI, a clone) that has not copied the object up yet. When the last such
 * entry goes (a delete, a copy-up, a TRIM), the object is garbage; when no live map names a
 * deleted VDI at all any more, its inode and attributes are garbage too.
 *
 * Every node's VDI table holds the same maps (the state machine's, or the one node's), so every
 * node decides the same: each removes its own copies, also one that was down at the time (it
 * applies the same commands when it comes back). Everything runs on the control thread.
 */
#ifndef SD_VDI_RECLAIM_H
#define SD_VDI_RECLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vdi;

/* Object ids to remove, owned. */
struct vdi_garbage {
	uint64_t *oids;
	size_t n, cap;
	bool nomem; /* some could not be listed: the start-up sweep or the orphan scan gets them */
	uint32_t *check; /* deleted VDIs that lost references: their inodes may go too */
	size_t nr_check, cap_check;
	int released; /* inodes among the garbage */
};

/* Whether a live VDI's map names vid at idx. */
bool vdi_obj_referenced(uint32_t vid, uint32_t idx);

/*
 * A map entry at idx that named old no longer does (the map is already changed): old's object
 * goes into g if nothing names it now, and a deleted old's inode too once nothing names it.
 */
void vdi_unref(uint32_t old, uint32_t idx, struct vdi_garbage *g);

/*
 * v was just marked deleted (its name cleared) and still has its map: every object it named
 * that nothing else names goes into g, and its inode and attributes unless a descendant still
 * names some of its objects (then vdi_unref frees them later). Frees v's map.
 */
void vdi_release_all(struct vdi *v, struct vdi_garbage *g);

/*
 * Removes the garbage: at once on this node's store (local driver; returns how many removals
 * failed, they are logged), or through the background reaper (a cluster's state machine, when
 * its effects are due; returns 0). Deleted VDIs that lost their last reference are fenced
 * (obj_fence.h) and their inodes go too. Frees g's lists.
 */
int vdi_garbage_dispose(struct vdi_garbage *g, bool background);
/* The same bookkeeping without removing anything (a command replayed whose effects ran). */
void vdi_garbage_forget(struct vdi_garbage *g);

#endif
