/*
 * The cluster drivers' API, and the sdcluster driver behind it: membership and VDI metadata through
 * Raft among the sheep themselves (docs/cluster-design.md). It runs on the control thread:
 * libraft's libuv loop is polled from the control thread's event loop, and every change goes
 * through the state machine (sm.h) in the one order Raft gives.
 *
 * - Start: a node with no Raft state and no --seed bootstraps a cluster of itself; a node with
 *   --seed asks the seeds (any member: it forwards to the leader) to be added. A node with
 *   state rejoins by it.
 * - Voters: the leader keeps 1, 3 or 5 voters among live members (by member count); the others
 *   replicate the log without voting.
 * - Liveness: members send a heartbeat to the leader every second; the leader removes a member
 *   silent for 5 s (a LEAVE command: a new epoch). A removed node that is alive joins again.
 * - Fencing: a node that has known no leader for 1.5 s refuses writes and metadata changes with
 *   SD_RES_HALT until it hears one again.
 */
#ifndef SD_SDCLUSTER_H
#define SD_SDCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/evloop.h"
#include "../../core/node.h"
#include "cluster.pb-c.h"

#define SDC_MAX_SEEDS 16

/*
 * The same API and state machine run over ZooKeeper instead of Raft when zk_hosts is given
 * (--cluster-driver zookeeper, ../zookeeper/zk_driver.c): the log is a ZooKeeper sequential
 * queue and liveness its sessions.
 */
struct sdcluster_opts {
	struct sd_node_id seeds[SDC_MAX_SEEDS];
	int nr_seeds;
	uint16_t cluster_port; /* Raft */
	int nr_shards;
	const char *zk_hosts; /* "host:port[,host:port...][/chroot]"; NULL: Raft */
	int zk_timeout_ms;    /* the ZooKeeper session timeout asked for */
};

/* Starts the driver on the control thread's loop. 0, or -errno with err for the operator. */
int sdcluster_start(const struct sdcluster_opts *o, struct evloop *loop, char *err, size_t errlen);
/* Leaves the loop's descriptors; Raft's files stay for the next start. */
void sdcluster_stop(void);

/* True while this node may change the cluster (a leader is known and it is a member). */
bool sdcluster_writable(void);
/* True while the cluster waits for members of its last epoch (`dog cluster info`). */
bool sdcluster_waiting(void);
/*
 * `dog cluster recover force`: removes the members this node knows to be absent, so that the
 * cluster serves without them. The number removed (LEAVEs proposed), or -EREMOTE when another
 * node must be asked (msg names it).
 */
int sdcluster_force_recover(char *msg, size_t len);

/* What a proposal, join or heartbeat came to. */
struct sdc_outcome {
	int result;	   /* SD_RES code */
	const char *msg;   /* for the operator; "" on success */
	uint64_t index;	   /* the command's Raft index (proposals) */
	bool leader_known; /* NOT_LEADER answers: where to go */
	struct sd_node_id leader;
	bool member; /* heartbeats: whether the sender is a member */
	uint32_t epoch;
};

typedef void (*sdc_done_fn)(void *arg, const struct sdc_outcome *o);

/*
 * Proposes cmd (origin, seq and time are filled here) and calls done on the control thread once
 * it is applied on this node, or failed. Forwards to the leader when this node is not it.
 */
void sdcluster_propose(Sdcl__Command *cmd, sdc_done_fn done, void *arg);

/* Control-port requests between nodes (ctl_ops.c decodes, these decide). */
void sdcluster_on_join(const uint8_t *member, size_t len, sdc_done_fn done, void *arg);
void sdcluster_on_propose(const uint8_t *cmd, size_t len, sdc_done_fn done, void *arg);
void sdcluster_on_heartbeat(uint64_t raft_id, struct sdc_outcome *out);

/*
 * Read-your-cluster's-writes for control requests: on a follower, asks the leader for its commit
 * index and calls done once this node has applied that far, so that a `dog vdi list` through
 * any node shows a VDI another node has just created. Immediate on the leader; best effort (done
 * is called anyway, after at most a few seconds, with caught_up false) when no leader answers.
 * Never inline.
 */
void sdcluster_sync(void (*done)(void *arg, bool caught_up), void *arg);

/* For `dog node info` and logs: this node's role in the log (Raft role, or "zookeeper"). */
const char *sdcluster_role(void);

/* One driver behind the API above; the functions mean what the API's do. */
struct sdc_driver {
	const char *name;
	int (*start)(const struct sdcluster_opts *o, struct evloop *loop, char *err, size_t errlen);
	void (*stop)(void);
	void (*propose)(Sdcl__Command *cmd, sdc_done_fn done, void *arg);
	void (*sync)(void (*done)(void *arg, bool caught_up), void *arg);
	void (*on_join)(const uint8_t *member, size_t len, sdc_done_fn done, void *arg);
	void (*on_propose)(const uint8_t *cmd, size_t len, sdc_done_fn done, void *arg);
	void (*on_heartbeat)(uint64_t raft_id, struct sdc_outcome *out);
	const char *(*role)(void);
	int (*force_recover)(char *msg, size_t len);
};
extern const struct sdc_driver sdc_raft_driver, sdc_zk_driver;

#endif
