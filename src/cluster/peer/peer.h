/*
 * The peer transport: how a shard sends a request to another node and gets its reply, and how
 * a node serves the requests other nodes send it. TCP through each shard's io_uring now; the
 * interface is what a DPDK queue per shard would implement later.
 *
 * Client side (peer_client.c): every shard keeps its own connection to each remote node, made
 * lazily on the first request and again after a failure. Requests are multiplexed on it by
 * req_id; each has a deadline (PEER_REQ_TIMEOUT_MS): when one passes, the connection is reset
 * and its requests fail (-ETIMEDOUT for the late one, -ECONNRESET for the others).
 *
 * Server side (peer_conn.c): peer frames arrive on the control port (ctl_server.c sniffs the
 * magic) and the connection is handed to a shard, which reads, validates (peer_wire.h) and
 * executes them, and replies. A malformed frame closes the connection; a refused one (another
 * cluster, epoch or a non-member sender) is answered with its code and the stream goes on.
 */
#ifndef SD_PEER_H
#define SD_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/conn_guard.h"
#include "../../core/node.h"
#include "../../shard/shard.h"
#include "peer_wire.h"

#define PEER_REQ_TIMEOUT_MS 10000

struct peer_link;

struct peer_req {
	/*
	 * Set by the submitter: the node, and the whole header but req_id (opcode, flags,
	 * cluster_id, epoch, sender, oid, offset, length, shard). buf: a WRITE's payload, or where
	 * a READ's reply bytes go (hdr.length of them); it must stay valid until done.
	 */
	struct sd_node_id to;
	struct peer_hdr hdr;
	void *buf;
	void (*done)(struct peer_req *r); /* on the submitting shard, never inside peer_submit */
	void *priv;

	/*
	 * Set before done: result is 0 (bytes of a READ: hdr.length) or -errno: the reply's code
	 * through peer_errno_from_result, or the transport's own -ETIMEDOUT, -ECONNRESET,
	 * -ECONNREFUSED... reply_code is the reply's peer_result (PEER_RES_SYSTEM_ERROR when no
	 * reply came) and reply_epoch the replier's epoch.
	 */
	int result;
	uint32_t reply_code, reply_epoch;

	/* Private to the transport. */
	struct peer_link *link;
	struct peer_req *next, *prev;
	uint64_t deadline;
	bool sent, replied;
	uint8_t wire[PEER_HDR_SIZE];
	struct shard_defer defer;
};

/* Shards only. Queues r on the connection to r->to (connecting it first if needed). */
void peer_submit(struct peer_req *r);

/*
 * Shard, at shut-down: closes the shard's outbound connections (requests fail -ECONNRESET);
 * returns how many still wait for the ring (call again until 0).
 */
int peer_client_shutdown(void);

/*
 * Server side. peer_conn_adopt runs on the control thread: hands an accepted connection whose
 * first bytes (pre, n of them, already read) are a peer frame to a shard. lim: the bounds of
 * docs/limits.md (a peer connection is under the same guard as NBD's, in a pool per shard).
 */
void peer_conn_adopt(int fd, const char *peer, const uint8_t *pre, size_t n,
		     const struct conn_limits *lim);
/*
 * ctl_server.c, for the control thread while it waits for the shards in a blocking control
 * operation (dog vdi write): accepts pending connections on the control port and hands those
 * that are already known to be peers' to a shard. Without it, a write whose holder is this node
 * would wait for the primary's new connection to be accepted by this very thread. A stopgap
 * until control operations stop blocking (docs/cluster-design.md).
 */
void ctl_accept_peers_during_wait(void);
/* Shard, at shut-down: closes its peer connections; returns how many are still busy. */
int peer_conns_close_all(void);
/* Shard: its inbound peer connections not freed yet. */
int peer_conns_count(void);

#endif
