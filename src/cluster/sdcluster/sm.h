/*
 * The replicated state machine of the sdcluster driver: members, epochs, the configuration and
 * the VDI table, changed only by commands that Raft delivers in one order to every node
 * (proto/cluster.proto). Applying a command is deterministic: every node reaches the same state
 * from the same log, so `dog vdi list` and `dog cluster info` print the same everywhere.
 *
 * Local side effects (wiping the store at a format, removing this node's copies of a deleted
 * VDI's objects) must not run twice: after a restart Raft applies the log again from the last
 * snapshot, and a delete replayed after its VDI id was reused (-R) would remove the new VDI's
 * objects. So the index of the last command whose effects ran is kept on disk (DIR/sm-effects)
 * and effects of commands at or below it are skipped.
 *
 * Everything here runs on the control thread.
 */
#ifndef SD_SM_H
#define SD_SM_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/epoch_log.h"
#include "cluster.pb-c.h"

/* A command already applied once (its (origin, seq) was seen): the retry of a proposal. */
#define SM_DUPLICATE 0x1000

struct sm_hooks {
	/* The member list or the epoch changed (after the new epoch is logged). */
	void (*members_changed)(void);
	/* A member left the cluster by a LEAVE command (raft_id); called before members_changed. */
	void (*member_left)(uint64_t raft_id);
	/* `dog cluster shutdown` was applied. */
	void (*shutdown)(void);
	/* A VDI's inode header changed (created, resized). */
	void (*vdi_header_changed)(uint32_t vid);
	/* Map entries [first, last] of a VDI changed. */
	void (*vdi_map_changed)(uint32_t vid, uint32_t first, uint32_t last);
	/* Every member has recovered the latest epoch (once per epoch, not on replays). */
	void (*recovered)(uint32_t epoch);
	/* The cluster's recovery settings changed (their set_* parts say which apply). */
	void (*recovery_ctl)(const Sdcl__RecoveryCtl *r);
	/* The leader said the cluster waits for members of its last epoch (or no longer). */
	void (*waiting)(bool waiting);
};

/* Loads DIR/sm-effects. Returns 0 or -errno. */
int sm_init(const struct sm_hooks *hooks);

/* Raft's callbacks (raft_node_fsm). apply returns an SD_RES code or SM_DUPLICATE. */
int sm_apply(void *ctx, uint64_t index, const void *data, size_t len);
int sm_snapshot(void *ctx, void **out, size_t *out_len);
int sm_restore(void *ctx, const void *data, size_t len);

/* The index of the last command applied. */
uint64_t sm_last_applied(void);
/* After sm_restore from a log that does not count (ZooKeeper's): the snapshot's index. */
void sm_set_applied(uint64_t index);
/* The origin and seq of the command sm_apply last read (0, 0 when it could not be read). */
void sm_last_command(uint64_t *origin, uint64_t *seq);

/* Every epoch since the format, oldest first (for `dog cluster info`). */
int sm_epochs(const struct epoch_entry **out);

/* The epochs as epoch_history.h wants them, with this node's apply times. NULL: no memory. */
struct epoch_history;
struct epoch_history *sm_history_new(void);

/* The member with this raft id, or NULL. */
const struct cluster_member *sm_member_by_raft_id(uint64_t raft_id);

/* Converts between the wire Member and struct cluster_member. */
struct cluster_member;
void sm_member_to_msg(const struct cluster_member *m, Sdcl__Member *msg, uint8_t addr[16]);
int sm_member_from_msg(const Sdcl__Member *msg, struct cluster_member *m);

#endif
