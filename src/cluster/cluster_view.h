/*
 * The cluster as the data path sees it: one epoch's members, their placement ring, and what a
 * gateway needs to reach each of them. An immutable, reference-counted snapshot: the control
 * thread builds a new one at every epoch change (and at start-up and format) and installs it on
 * every shard by message; a shard switches between requests, and a request in flight keeps the
 * view it started with (a reference) so its placement never changes under it.
 */
#ifndef SD_CLUSTER_VIEW_H
#define SD_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/node.h"
#include "../core/ring.h"

struct cluster_view {
	int refs;	     /* atomic */
	uint32_t epoch;	     /* 0: not formatted (no I/O) */
	uint64_t cluster_id; /* the format's ctime: a peer frame of another cluster is refused */
	/*
	 * ring.nodes are the members sorted by node_id_cmp: a node's index there is its index in
	 * the epoch (peer_wire's `sender`). Gateways (0 vnodes) are members but hold nothing.
	 */
	struct placement_ring ring;
	uint16_t *nr_shards; /* per member, parallel to ring.nodes; owned */
	/* sdcluster: each member's raft id, parallel to ring.nodes; owned. NULL: local driver. */
	uint64_t *raft_ids;
	int self; /* this node's index in ring.nodes, -1 if it is not a member */
	/*
	 * false while this node may not serve writes (no Raft leader known for an election
	 * timeout, or shut down): the gateway refuses writes with SD_RES_HALT meanwhile.
	 */
	bool writable;
	/*
	 * sdcluster: false until this node has caught up with the leader's log after it started
	 * or joined again: until then its epoch may be an old one in which it still held objects
	 * it has since missed writes to. The gateway holds requests meanwhile (and retries).
	 */
	bool ready;
	/*
	 * sdcluster: the epochs before this one (epoch_history.h), to tell which local copies
	 * are current; owned. NULL for the local driver: every local copy is.
	 */
	struct epoch_history *history;
};

/*
 * Control thread: builds a view from the members (any order; copied and sorted) with their
 * shard counts (parallel to members; NULL: 1 each). NULL on -ENOMEM or a bad member list.
 */
struct cluster_view *cluster_view_new(uint32_t epoch, uint64_t cluster_id,
				      const struct sd_node *members, const uint16_t *nr_shards,
				      int nr, const struct sd_node_id *self, bool writable);
void cluster_view_get(struct cluster_view *v);
void cluster_view_put(struct cluster_view *v);

/*
 * Control thread: installs v (the caller's reference moves to the shards) on every shard and
 * waits until each has switched. The previous view is dropped by each shard.
 */
int cluster_view_publish(struct cluster_view *v);
/* Control thread: the view last published (no reference taken; valid until the next publish). */
const struct cluster_view *cluster_view_latest(void);
/* Shard: the calling shard's current view (NULL before the first publish). */
struct cluster_view *cluster_view_current(void);

/*
 * Control thread, local driver (one node): builds the one-member view of `sys` (sys.self,
 * sys.cfg.ctime, sys.cfg.epoch, this process's shard count) and publishes it. Called once the
 * shards run and again after a format. Returns 0 or -errno. (The sdcluster driver publishes
 * its views itself.)
 */
int cluster_view_publish_local(void);
/* Control thread, at shut-down: every shard drops its view. */
void cluster_view_retire(void);

#endif
