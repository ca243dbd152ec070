/*
 * Inside the ZooKeeper driver: the znode layout, and what its two halves tell each other.
 * zk_driver.c keeps the session, membership, proposals and fencing; zk_log.c reads the log into
 * the state machine, and snapshots and prunes it.
 *
 * Layout, under the client's chroot (--zk HOSTS/CHROOT):
 *   /sheepdog/log/c-NNNNNNNNNN   one packed command each (sequential): log index = N + 1
 *   /sheepdog/members/<id>       ephemeral, one per live member (id: its raft-id, hex)
 *   /sheepdog/left/<id>-<epoch>  tombstones: exactly one LEAVE per member per epoch
 *   /sheepdog/snap/s-<index>     a snapshot's manifest ("parts bytes"); parts s-<index>-pNNNN
 *   /sheepdog/pruned             "P": log entries up to index P may be gone (a snapshot covers)
 */
#ifndef SD_ZK_INTERNAL_H
#define SD_ZK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#define ZKD_ROOT    "/sheepdog"
#define ZKD_LOG	    ZKD_ROOT "/log"
#define ZKD_LOG_ENT ZKD_ROOT "/log/c-"
#define ZKD_MEMBERS ZKD_ROOT "/members"
#define ZKD_LEFT    ZKD_ROOT "/left"
#define ZKD_SNAP    ZKD_ROOT "/snap"
#define ZKD_PRUNED  ZKD_ROOT "/pruned"

/* zk_log.c */

/* Settings from the environment (SD_ZK_SNAPSHOT_EVERY, for tests). */
void zkl_init(void);
/* Reads the log (again, if a read is running) and applies what is new. */
void zkl_read(void);
/* Reads done to the end of the log, counted from the start; a read asked now gets the next. */
uint64_t zkl_reads_started(void);
uint64_t zkl_reads_done(void);
/* Whether a whole read has ever completed (this node has caught up at least once). */
bool zkl_caught_up_once(void);
/* Writes a snapshot and prunes the log when it is long; the driver calls it on the snapshotter. */
void zkl_maybe_snapshot(void);
/* Stop: drop what is pending (completions still due find nothing to do). */
void zkl_stop(void);

/* zk_driver.c, called by zk_log.c */

/* A log entry was applied (sm_apply returned ret for the command of origin and seq). */
void zkd_applied(uint64_t origin, uint64_t seq, int ret);
/* A read of the log ended (ok: to its end). */
void zkd_read_done(bool ok);

#endif
