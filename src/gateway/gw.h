/*
 * The gateway: the one request path every front-end (NBD, dog vdi read/write, later NFS) uses
 * for object I/O in a cluster. A gw_req is shaped like an obj_req; the gateway places the
 * object on the calling shard's cluster view (ring_place) and:
 *
 * - writes (WRITE, ZERO, PUNCH, REMOVE) are ordered on one node: for a data object with more
 *   than one holder in sdcluster, the holder of its VDI's write lease (vdi_lease.h), which this
 *   node takes first if nobody holds it; otherwise the object's primary holder (the first placed
 *   node). A local hop when it is this node, a PEER_F_FORWARD request otherwise. There, the
 *   shard that owns the object orders them with a range lock (gw_rangelock.h), applies them and
 *   sends them to every holder in parallel; the write is acknowledged only when every holder
 *   has it, and fails if any holder fails;
 * - reads go to a local copy if this node holds one, else to the primary, and fall back to the
 *   other holders on an error, a timeout or a missing object: -ENOENT only if no holder has it;
 * - a holder on another epoch refuses; the gateway waits for its view to change (or a moment) and
 *   tries again with the new placement, for at most GW_RETRY_MS, then fails with -EIO and says
 *   which object and node in `why`.
 *
 * With one holder that is this node (a single node, or one copy here) the request goes straight
 * to obj_submit, as before the cluster: nothing to order between copies.
 *
 * Every gw_req runs from a shard or the control thread; done runs on the submitting thread,
 * never inside gw_submit. Writes never set OBJ_F_FRESH: in a cluster two gateways may allocate
 * one object at once, and the truncate of a "fresh" object would destroy the other's
 * acknowledged data; objects are created with OBJ_F_CREATE, which never truncates.
 */
#ifndef SD_GW_H
#define SD_GW_H

#include <stdbool.h>
#include <stdint.h>

#include "../cluster/cluster_view.h"
#include "../cluster/peer/peer.h"
#include "../core/constants.h"
#include "../io/obj_flush.h"
#include "../io/obj_io.h"
#include "gw_rangelock.h"
#include "gw_split.h"

enum gw_op {
	GW_READ,     /* length bytes at offset into buf; -ENOENT if no holder has the object */
	GW_WRITE,    /* length bytes at offset from buf */
	GW_ZERO,     /* zero the range, keeping it allocated */
	GW_PUNCH,    /* zero the range, freeing it; -ENOENT if no holder has the object */
	GW_REMOVE,   /* remove the object from every holder */
	GW_PREFETCH, /* read-ahead, on a local copy only (no-op elsewhere) */
	GW_CHECK,    /* compare every holder's copy (length: the object's size) and repair */
	/* create the object with buf[0, length) (its whole size) unless it exists (gw_cow.c) */
	GW_COPYUP,
};

#define GW_F_CREATE 0x1 /* the object may be created (WRITE, ZERO) */
#define GW_F_SYNC   0x2 /* durable on every holder before done (FUA) */
/* Retried within the epoch it started in only: -ESTALE once the epoch changes (a write whose
 * content may be outdated in the next one). */
#define GW_F_ONE_EPOCH 0x4
/* GW_CHECK: only whether each holder has a copy (dog vdi check -e); nothing is repaired. */
#define GW_F_EXIST 0x8
/* GW_READ: the parent of a copy-up, read only where its VDI is frozen (obj_fence.h) */
#define GW_F_FROZEN 0x10

#define GW_RETRY_MS	 15000 /* how long epoch changes and unreachable holders are retried */
#define GW_RETRY_STEP_MS 100
#define GW_LEASE_STEP_MS 2 /* while this node takes a VDI's write lease (a Raft commit) */
#define GW_INLINE_FANOUT 3 /* remote holders without an allocation: 3 copies, none local */

struct gw_req {
	/* Set by the submitter; buf stays valid until done. */
	uint8_t op, flags;
	uint8_t copies; /* the VDI's copy count (0: 1) */
	/*
	 * WRITE, ZERO, PUNCH of an object its VDI still shares: the id of the VDI whose object
	 * holds the current content (the map entry), 0 if none. The gateway first copies that
	 * object up (gw_cow.c); obj_shift gives the object's size.
	 */
	uint32_t cow_from;
	uint8_t obj_shift;
	uint32_t length;
	uint64_t oid, offset;
	void *buf;
	void (*done)(struct gw_req *r);
	void *priv;

	/* Set before done: bytes (READ, WRITE), 0, or -errno; why explains a failure. */
	int result;
	bool created; /* one-holder path only: this write created the object here */
	char why[160];

	/* Private to the gateway. */
	struct cluster_view *view;
	int origin, gw_shard, nr, idx[SD_MAX_COPIES];
	int seq_node;	 /* the node a FORWARD went to */
	uint32_t epoch0; /* GW_F_ONE_EPOCH: the epoch of the first try */
	int next, pending, err, err_node, noent;
	/* The orderer: holders (bits of idx[] positions) that took the write, or refused it as
	 * frozen (a snapshot taken meanwhile), and whether those are being made equal. */
	uint32_t ok_mask, rofs_mask;
	bool repairing;
	bool from_peer;		 /* a FORWARD from another gateway: this node orders the write */
	struct vdi_share *lease; /* ordered here under the VDI's write lease: a reference */
	uint32_t peer_epoch;
	uint64_t t0;
	struct sd_msg msg;
	struct obj_req obj;
	struct peer_req *fan;
	union {
		struct peer_req peer; /* the gateway's request: to the primary, or a read */
		struct peer_req inline_fan[GW_INLINE_FANOUT]; /* the orderer's, to the holders */
	};
	struct rl_entry lock;
	struct shard_timer retry;
	struct shard_defer defer;
};

/* GW_CHECK's results besides 0 (every copy the same) and -errno. */
#define GW_CHECK_FIXED_REPLICA 1 /* a copy differed and was rewritten */
#define GW_CHECK_FIXED_MISSING 2 /* a holder had no copy and got one */
#define GW_CHECK_MISSING       3 /* GW_F_EXIST: holders without a copy, named in why */

void gw_submit(struct gw_req *r);
/* gw_cow.c, for gw_submit: whether r must copy its object up first; if so, that first. */
bool gw_cow_needed(const struct gw_req *r);
void gw_cow_submit(struct gw_req *r);
/* gw_io.c, for gw_check.c: hands r back to its submitter with res. */
void gw_finish(struct gw_req *r, int res);
/* "host:port" of node (an index in v's ring), or "?". */
void gw_node_name(const struct cluster_view *v, int node, char *buf, size_t len);
void gw_check_start(struct gw_req *r);
/* Control thread: submits n requests and waits for all of them. */
void gw_exec_batch(struct gw_req *reqs, int n);

/*
 * Peer server (peer_conn.c): a FORWARD request, validated for epoch req_epoch: this node is the
 * primary. r is filled like a gateway request (copies found from the object's VDI here).
 */
void gw_submit_primary(struct gw_req *r, uint32_t req_epoch);

/*
 * FLUSH: the local barrier (obj_flush) on every shard of this node, plus PEER_OP_FLUSH to the
 * (node, shard) pairs each shard of this node has written to since their last flush. Writes
 * acknowledged before gw_flush_submit are durable on every holder when done runs.
 */
struct gw_flush_part;
struct gw_flush_req {
	void (*done)(struct gw_flush_req *f); /* on the submitting thread */
	void *priv;
	int result; /* 0 or the first -errno */
	/* Private. */
	int origin, pending;
	struct obj_flush_req local;
	struct gw_flush_part *parts;
};

/* Any mesh thread. Returns 0, or -ENOMEM (done will not run). */
int gw_flush_submit(struct gw_flush_req *f);

/* Shard: remembers that (node, shard) holds writes of this shard's gateway not yet flushed. */
void gw_dirty_mark(const struct sd_node_id *nid, uint16_t shard);

/* Control thread at shut-down: every shard drops its view, peer connections and dirty lists. */
void gw_retire(void);
/*
 * Control thread, as shut-down begins: requests stop waiting for the cluster (an epoch
 * change, a halt, an unreachable holder) and fail at once, so that every connection finishes
 * its requests before the shards stop.
 */
void gw_stop_retrying(void);

#endif
