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

/* On a shard: forgets every fence (a format forgets every VDI) and frees its copy. */
void obj_fence_drain(void);

#endif
