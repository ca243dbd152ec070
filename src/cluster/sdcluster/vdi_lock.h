/*
 * VDI locks: an NBD client that attaches to a working VDI read-write takes its lock for the node
 * it attaches through; other clients of that node share it (multi-conn), a client through
 * another node is refused with the holder's name, unless the VDI is shareable. The lock is a
 * field of the VDI in the cluster's state machine (VdiLock commands), so every node agrees who
 * holds it; it goes when the node's last read-write client disconnects (LOCK_IDLE_CHECKS checks
 * later, to let a client reconnect), when the node leaves the cluster, and with
 * `dog vdi lock unlock`. A node that restarts gives back the locks it held without clients.
 *
 * The local driver (one node) has nothing to lock against: every attach is this node's.
 */
#ifndef SD_VDI_LOCK_H
#define SD_VDI_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/evloop.h"

#define LOCK_CHECK_MS	 250
#define LOCK_IDLE_CHECKS 2
/* An attach refused because another node holds the lock asks again for this long: that
 * node's clients may have just detached, and its release is on its way. */
#define LOCK_PATIENCE_MS 3000
#define LOCK_RETRY_MS	 200

/*
 * Control thread: takes vid's lock for this node, or learns who has it. done gets an SD_RES
 * code (SD_RES_VDI_LOCKED: another node holds it, still after LOCK_PATIENCE_MS of asking);
 * done may run before this returns.
 */
void vdi_lock_acquire(uint32_t vid, void (*done)(void *arg, int result), void *arg);
/* Control thread: dog vdi lock unlock (force) and share|exclusive, as commands. */
void vdi_lock_force(uint32_t vid, bool unlock, bool set_shareable, bool shareable,
		    void (*done)(void *arg, int result, const char *msg), void *arg);

/* Control thread: gives this node's lock of vid back. */
void vdi_lock_acquire_release(uint32_t vid, void (*done)(void *arg, int result));

void vdi_lock_start(struct evloop *loop, uint64_t self);
void vdi_lock_stop(void);

#endif
