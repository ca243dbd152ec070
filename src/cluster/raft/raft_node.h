/*
 * One Raft member on a libuv loop: what sheep needs of libraft (cowsql/raft 0.22) and nothing of
 * its API. docs/cluster-design.md says what runs on top (membership, epochs, the VDI table).
 *
 * Threading: everything here runs on the thread that runs the loop given to raft_node_create().
 * Every function must be called from that thread, and every callback is called on it. Other
 * threads hand work over with uv_async_t. The process must ignore SIGPIPE (sheep does): libuv
 * writes to peers that may have just closed.
 *
 * Buffers: raft_node_propose() copies the command, so the caller keeps its bytes. The apply and
 * restore callbacks get bytes that are valid only during the call. The snapshot callback returns
 * a buffer from raft_node_buf_alloc() that raft_node then owns.
 *
 * Reports: every proposal and membership change accepted (return 0) gets exactly one report,
 * never from inside the call that made it. A report that is not RAFT_NODE_DONE says why: not the
 * leader (forward to the leader it names), outcome unknown (leadership was lost after the entry
 * was appended: it may still commit, so commands must be idempotent and the proposer learns the
 * truth when it applies), or failed (not appended).
 */
#ifndef SD_RAFT_NODE_H
#define SD_RAFT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define RAFT_NODE_ADDRESS_MAX 264 /* "host:port", host up to 255 */

struct raft_node;

/* The caller's state machine. ctx is raft_node_config.fsm_ctx. */
struct raft_node_fsm {
	/*
	 * Applies one committed command, on every member, in log order; index grows by at least 1
	 * each call. It cannot fail Raft: a command the state machine refuses (a name already
	 * taken) is still applied, and the returned value (0 or negative errno) goes to the
	 * proposer's report as result.
	 */
	int (*apply)(void *ctx, uint64_t index, const void *data, size_t len);
	/*
	 * Serializes the whole state into *out (allocated with raft_node_buf_alloc(); raft_node
	 * owns it from then on, also on failure). 0 or negative errno (no snapshot this time).
	 */
	int (*snapshot)(void *ctx, void **out, size_t *out_len);
	/*
	 * Replaces the whole state with a snapshot's: at start from the local snapshot, and when
	 * the leader sends one (this member fell behind its log). A non-zero return is fatal to
	 * this member (it stops taking part), so return it only for a corrupt snapshot.
	 */
	int (*restore)(void *ctx, const void *data, size_t len);
};

struct raft_node_config {
	uint64_t id;		     /* > 0, unique in the cluster, never reused */
	const char *address;	     /* "host:port" this member listens on and peers dial */
	const char *data_dir;	     /* must exist; holds the log, term, vote and snapshots */
	unsigned election_ms;	     /* 0: 1000 */
	unsigned heartbeat_ms;	     /* 0: 100 */
	unsigned snapshot_threshold; /* entries between snapshots; 0: 1024 */
	unsigned snapshot_trailing;  /* entries kept behind a snapshot; 0: 128 */
	const struct raft_node_fsm *fsm;
	void *fsm_ctx;
};

enum raft_node_outcome {
	RAFT_NODE_DONE,	      /* committed and applied on this member */
	RAFT_NODE_NOT_LEADER, /* not appended: send it to the leader named in the report */
	RAFT_NODE_UNKNOWN,    /* appended, then leadership was lost: it may or may not commit */
	RAFT_NODE_FAILED,     /* not done; err and reason say why */
};

struct raft_node_report {
	enum raft_node_outcome outcome;
	/* 0 when DONE; else -EREMOTE (not leader), -ECONNABORTED (unknown), other negative errno.
	 */
	int err;
	int result;	/* DONE proposal: what the apply callback returned */
	uint64_t index; /* DONE proposal: its log index */
	/* The leader as this member knows it at report time; 0 and "" when it knows none. */
	uint64_t leader_id;
	char leader_address[RAFT_NODE_ADDRESS_MAX];
	char reason[512]; /* one line for the operator; "" when DONE */
};

typedef void (*raft_node_report_cb)(void *arg, const struct raft_node_report *report);

/* Creates a member on loop. Nothing is read from data_dir or bound yet. 0 or negative errno. */
int raft_node_create(uv_loop_t *loop, const struct raft_node_config *cfg, struct raft_node **out);

/*
 * Starts the member. bootstrap: when data_dir holds no Raft state, first write a configuration
 * of this member alone as voter (it becomes leader at once); with state there it is ignored, so
 * the formatting node may pass true on every start. Without bootstrap an empty member waits for
 * a leader to add it. 0 or negative errno (-EADDRINUSE: the address is taken).
 */
int raft_node_start(struct raft_node *node, bool bootstrap);

/*
 * Proposes a command of len bytes (copied). 0: cb reports later; negative errno: nothing was
 * proposed and cb is not called (-EINVAL, -ENOMEM, -ESHUTDOWN when closing).
 */
int raft_node_propose(struct raft_node *node, const void *data, size_t len, raft_node_report_cb cb,
		      void *arg);

enum raft_node_role {
	RAFT_NODE_ROLE_NONE = -1, /* not in the configuration */
	RAFT_NODE_STANDBY = 0,	  /* replicates the log, does not vote */
	RAFT_NODE_VOTER,	  /* replicates and votes */
	RAFT_NODE_SPARE,	  /* in the configuration only */
};

/*
 * Membership changes, on the leader. They are queued and run one at a time (Raft allows one in
 * flight); each reports when its configuration is committed. add enters the member as spare and
 * then assigns role (for a voter the leader first lets it catch up with the log). A queued
 * change that starts on a member that is no longer leader reports NOT_LEADER.
 */
int raft_node_add(struct raft_node *node, uint64_t id, const char *address,
		  enum raft_node_role role, raft_node_report_cb cb, void *arg);
int raft_node_assign(struct raft_node *node, uint64_t id, enum raft_node_role role,
		     raft_node_report_cb cb, void *arg);
int raft_node_remove(struct raft_node *node, uint64_t id, raft_node_report_cb cb, void *arg);

enum raft_node_state {
	RAFT_NODE_UNAVAILABLE, /* not started, closing, or stopped by an error */
	RAFT_NODE_FOLLOWER,
	RAFT_NODE_CANDIDATE,
	RAFT_NODE_LEADER,
};

struct raft_node_status {
	enum raft_node_state state;
	enum raft_node_role role; /* this member's, in the latest configuration */
	uint64_t term;
	uint64_t leader_id; /* 0 when no leader is known */
	char leader_address[RAFT_NODE_ADDRESS_MAX];
	uint64_t commit_index;
	uint64_t last_applied;
};

void raft_node_status(struct raft_node *node, struct raft_node_status *st);
const char *raft_node_state_name(enum raft_node_state state);

struct raft_node_member {
	uint64_t id;
	enum raft_node_role role;
	char address[RAFT_NODE_ADDRESS_MAX];
};

/* The latest configuration (committed or not): up to max members; returns how many there are. */
int raft_node_members(struct raft_node *node, struct raft_node_member *out, int max);

/*
 * Stops the member: pending proposals report UNKNOWN, queued changes FAILED (-ESHUTDOWN). cb
 * runs once the node is freed and all its loop handles are closed. Once per node.
 */
void raft_node_close(struct raft_node *node, void (*cb)(void *arg), void *arg);

/* For the snapshot callback's buffer. */
void *raft_node_buf_alloc(size_t len);
void raft_node_buf_free(void *buf);

#endif
