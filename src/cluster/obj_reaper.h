/*
 * Removal of many local objects in the background, on the control thread: a VDI delete or a
 * TRIM applied by the cluster's state machine hands its object ids here and returns at once;
 * the reaper keeps REAPER_IN_FLIGHT removals going through the shards and logs what it could not
 * remove. The control thread never waits on it, so a delete of a large VDI cannot stall Raft.
 */
#ifndef SD_OBJ_REAPER_H
#define SD_OBJ_REAPER_H

#include <stddef.h>
#include <stdint.h>

#define REAPER_IN_FLIGHT 128

/* Control thread: queues oids (copied) for removal. Returns 0 or -ENOMEM. */
int obj_reaper_add(const uint64_t *oids, size_t n);
/* Objects queued or in flight. */
size_t obj_reaper_pending(void);

#endif
