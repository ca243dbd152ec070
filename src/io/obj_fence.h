/*
 * Fenced VDI ids: data objects of these VDIs must not be created. A delete fences its VDI's id on
 * every shard before it removes the objects, so a write that was already past the front-end's
 * checks (its header arrived before the delete, its payload after) cannot recreate an object the
 * delete removed, whose bytes would otherwise reappear in a new VDI that reuses the id (-R).
 *
 * Each shard keeps its own copy (it checks it on its own objects, in order with their removal);
 * the control thread changes all copies at once with obj_fence_set().
 */
#ifndef SD_OBJ_FENCE_H
#define SD_OBJ_FENCE_H

#include <stdbool.h>
#include <stdint.h>

/* Control thread: fences (or unfences, for a reused id) vid on every shard; returns once done. */
int obj_fence_set(uint32_t vid, bool fenced);

/* On a shard: whether the object belongs to a fenced VDI (its data and inode objects). */
bool obj_fenced(uint64_t oid);

/*
 * Frozen VDI ids: snapshots. Their data objects are read-only from the moment the snapshot is
 * taken on this node: writes fail with -EROFS (a writer then moves to the new working VDI), and
 * a copy-up reads the parent's object with OBJ_F_FROZEN, which succeeds only here and now that
 * it is frozen. obj_freeze_set returns only once every write to any object admitted before the
 * freeze has completed on every shard, so a copy-up that reads after it sees every write the
 * snapshot's VDI ever acknowledged. Recovery and repair writes (OBJ_F_NOCHECK, OBJ_F_REPAIR)
 * still reach frozen objects: they make copies equal, they change no content.
 */
int obj_freeze_set(uint32_t vid, bool frozen);
bool obj_frozen(uint64_t oid);

/* On a shard: forgets every fence (a format forgets every VDI) and frees its copy. */
void obj_fence_drain(void);

#endif
