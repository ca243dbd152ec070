/*
 * sdcluster: the write lease of a VDI. One member at a time orders the writes to a VDI's data
 * objects: its gateway sends each write to every holder in parallel, under a per-object range
 * lock on the shard that owns the object, and no other node orders writes to that VDI
 * (docs/cluster-design.md says why: one hop fewer than a primary holder, for the common case
 * of one client per VDI). Another node's gateway forwards its writes to the holder.
 *
 * The lease lives in the state machine (a VdiLease command; a LEAVE drops the leaver's), so
 * every node agrees who holds it. A node takes it on its first write to a VDI nobody holds,
 * and gives it back after LEASE_IDLE_MS without writes, once the writes it was ordering are
 * done: the next holder's writes can never interleave with the last one's. A holder that
 * dies is removed by a LEAVE, which starts a new epoch: holders refuse its writes in flight.
 */
#ifndef SD_VDI_LEASE_H
#define SD_VDI_LEASE_H

#include <stdint.h>

#include "../../core/evloop.h"

struct vdi_share;

#define LEASE_IDLE_MS 5000

/* Shard: asks the control thread to take sh's lease for this node (once until answered). */
void vdi_lease_want(struct vdi_share *sh);

/* Control thread: starts the idle check; self is this node's raft id. */
void vdi_lease_start(struct evloop *loop, uint64_t self);
void vdi_lease_stop(void);

#endif
