/*
 * sdcluster: each VDI's inode object (the original's header and data_vdi_id map), written from
 * the state machine and placed and replicated like a data object.
 *
 * The state machine stays the authority for VDI metadata (every node has it, a majority commits
 * it); the inode objects are what tools and a restore from objects alone read, in the original's
 * layout. Exactly one node writes each inode: the first holder of the inode object in the current
 * epoch (its primary), which every node computes the same way. It writes what changed as it
 * applies each command (a header after a create or resize, the map entries a MapChange touched),
 * and, whenever its view changes (an epoch, a restart, the end of a catch-up), the whole header
 * and map of every VDI it is now the primary of: a primary that died before it wrote, or a node
 * that was away, leaves nothing stale for long. One write per VDI is in flight at a time, always
 * of the state as it is when the write starts, so a slow write never overtakes a later one.
 *
 * Everything runs on the control thread.
 */
#ifndef SD_INODE_SYNC_H
#define SD_INODE_SYNC_H

#include <stdbool.h>
#include <stdint.h>

/* The header of VDI vid changed (create, resize, delete). */
void inode_sync_header(uint32_t vid);
/* Map entries [first, last] of VDI vid changed. */
void inode_sync_map(uint32_t vid, uint32_t first, uint32_t last);
/* A new view was published: rewrite every VDI's inode this node is now the primary of. */
void inode_sync_view_changed(void);
/* Shut-down: forget pending work (writes in flight finish and are dropped). */
void inode_sync_stop(void);

#endif
