/*
 * Wire format of the peer protocol (node to node: object I/O between gateways and holders,
 * recovery pulls, heartbeats, joins). Pure functions over buffers: no socket, no store, so the
 * parser is fuzzed alone (tests/fuzz/fuzz_peer_wire.c) and the transport (TCP now, DPDK later)
 * only moves bytes. docs/cluster-design.md, "The peer protocol", says why it looks like this.
 *
 * A frame is a 64-byte little-endian header, then a payload of peer_payload_len() bytes: the
 * header's length for a WRITE request, a READ or PULL reply and a JOIN request, none otherwise
 * (in READ, PULL, ZERO and PUNCH requests the length is that of the range). That depends on the
 * opcode and the REPLY flag only, so a receiver skips the payload of a refused frame and a
 * refusal never desynchronises the stream; an opcode unknown to this version carries none (a new
 * opcode with a payload needs a new version). Header layout (byte offsets):
 *
 *    0 u32 magic        PEER_MAGIC: the bytes "SDPR"
 *    4 u8  version      PEER_PROTO_VERSION
 *    5 u8  opcode       enum peer_opcode
 *    6 u16 flags        PEER_F_*
 *    8 u64 cluster_id   the ctime of the cluster's format
 *   16 u32 epoch        the sender's epoch (in a reply: the replier's)
 *   20 u32 sender       the sender's node index in its epoch's member list
 *   24 u64 req_id       chosen by the requester, echoed by the reply
 *   32 u64 oid
 *   40 u64 offset       within the object
 *   48 u32 length       of the range or of the payload
 *   52 u32 result       0 in requests; enum peer_result in replies
 *   56 u16 shard        the target shard on the receiver
 *   58 u8  ec_index     the strip of an erasure-coded object (0 when replicated)
 *   59 u8  reserved[5]  zero: a later version may use them, so a sender must not
 *
 * The result is a protocol code, not an errno: errno numbers are not the same on every platform,
 * and the codes are the original sheepdog's SD_RES_* numbers, which dog and the logs know.
 */
#ifndef SD_PEER_WIRE_H
#define SD_PEER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/node.h"

#define PEER_HDR_SIZE	   64
#define PEER_MAGIC	   0x52504453u /* "SDPR" read as a little-endian u32 */
#define PEER_PROTO_VERSION 1
#define PEER_MAX_PAYLOAD   (32u << 20)

enum peer_opcode {
	PEER_OP_READ = 1,  /* offset, length: the reply carries the bytes */
	PEER_OP_WRITE = 2, /* offset, length: the bytes follow the header */
	PEER_OP_ZERO = 3,  /* zero a range, keeping its blocks allocated */
	PEER_OP_PUNCH = 4, /* zero a range, freeing its blocks */
	PEER_OP_REMOVE = 5,
	PEER_OP_FLUSH = 6, /* make durable what the target shard has written (oid unused) */
	/*
	 * Recovery: a range of this node's copy of an object, from whichever epoch it has, the
	 * moved-aside copies included. Not refused for another epoch: the puller is in a newer one
	 * by design. Objects larger than PEER_MAX_PAYLOAD are pulled in pieces.
	 */
	PEER_OP_PULL = 7,
	PEER_OP_HEARTBEAT = 8, /* member to leader; the reply's epoch tells a lagging member */
	PEER_OP_JOIN = 9,      /* payload: struct peer_join, PEER_JOIN_SIZE bytes */
	PEER_OP_MAX = PEER_OP_JOIN,
};

enum {
	PEER_F_REPLY = 1 << 0,	/* this frame answers the request with the same req_id */
	PEER_F_SYNC = 1 << 1,	/* durable before the reply (FUA) */
	PEER_F_CREATE = 1 << 2, /* the object may be created; without it a missing one is NO_OBJ */
	/* the receiver is the primary: apply, then forward to the other holders */
	PEER_F_FORWARD = 1 << 3,
	/* READ: this node's copy as it is, not checked or pulled first (dog vdi check compares
	 * the copies themselves) */
	PEER_F_RAW = 1 << 4,
	/* WRITE: makes copies equal (dog vdi check), allowed on a snapshot's objects */
	PEER_F_REPAIR = 1 << 5,
	/* READ: the parent of a copy-up: only if this node has frozen its VDI (obj_fence.h) */
	PEER_F_FROZEN = 1 << 6,
	/* WRITE of a whole object: create it with these bytes unless it exists (obj_install.h) */
	PEER_F_COPYUP = 1 << 7,
};

/*
 * Result codes of replies. Where the original sheepdog has a code for the case its number is
 * used (SD_RES_* of src/core/result.h, and its internal OLD_NODE_VER, NEW_NODE_VER and
 * INVALID_CTIME), so a code means the same thing on both protocols.
 */
enum peer_result {
	PEER_RES_SUCCESS = 0x00,
	PEER_RES_NO_OBJ = 0x02,
	PEER_RES_EIO = 0x03,
	PEER_RES_INVALID_PARMS = 0x05,
	PEER_RES_NO_VDI = 0x08, /* the object's VDI was deleted (its id is fenced here) */
	PEER_RES_SYSTEM_ERROR = 0x06,
	PEER_RES_NO_MEM = 0x12,
	PEER_RES_NO_SPACE = 0x15,
	PEER_RES_HALT = 0x19, /* fenced: no leader heard; retry elsewhere or later */
	PEER_RES_READONLY = 0x1A,
	PEER_RES_OLD_NODE_VER =
		0x81, /* the request's epoch is older: retry with the new placement */
	PEER_RES_NEW_NODE_VER =
		0x82, /* the request's epoch is newer: wait until the replier has it */
	PEER_RES_INVALID_CTIME = 0x84, /* another cluster (or a node formatted since) */
	PEER_RES_NETWORK_ERROR = 0x86, /* the primary could not reach another holder: retry */
	PEER_RES_STALE_OBJ = 0x90,     /* a pull: this node's copy may be stale (obj_check.h) */
	PEER_RES_NO_SUPPORT = 0x8B,    /* an opcode this node does not know */
};

struct peer_hdr {
	uint8_t opcode;
	uint16_t flags;
	uint64_t cluster_id;
	uint32_t epoch;
	uint32_t sender;
	uint64_t req_id;
	uint64_t oid;
	uint64_t offset;
	uint32_t length;
	uint32_t result;
	uint16_t shard;
	uint8_t ec_index;
};

/* Writes the header (version PEER_PROTO_VERSION, reserved bytes zero). */
void peer_hdr_encode(const struct peer_hdr *h, uint8_t out[PEER_HDR_SIZE]);

/*
 * One header at buf[0..len). Returns PEER_HDR_SIZE (the payload, if any, follows), 0 if more
 * bytes are needed, or a negative errno for a frame after which the stream cannot be trusted, so
 * the connection must be closed: -EPROTO for a bad magic, -EPROTONOSUPPORT for another version,
 * -EBADMSG for a nonzero reserved byte. Fields are not checked against each other here.
 */
int peer_hdr_parse(const uint8_t *buf, size_t len, struct peer_hdr *h);

/* Payload bytes that follow this header on the wire, whether or not it is valid. */
uint32_t peer_payload_len(const struct peer_hdr *h);

/* What the receiving node is, for validation. */
struct peer_expect {
	uint64_t cluster_id;	 /* 0: this node has none yet (not formatted, joining) */
	uint32_t epoch;		 /* the current epoch */
	uint16_t nr_shards;	 /* shards of this node, at least 1 */
	uint64_t data_obj_size;	 /* size of data objects (the cluster's block size) */
	uint64_t other_obj_size; /* of every other object (inode, attribute...): SD_INODE_SIZE */
};

/*
 * Checks a parsed header against this node. Returns 0, or a negative errno naming the rule it
 * breaks; peer_result_from_errno() turns it into the reply's code. The rules, in order:
 *
 *   -EXDEV       cluster_id differs (a JOIN passes when either side's is 0: the joiner has
 *                none yet, or this node is the one joining)
 *   -EOPNOTSUPP  unknown opcode
 *   -EINVAL      a flag the opcode does not take (a reply takes only PEER_F_REPLY), or a
 *                nonzero result in a request
 *   -EMSGSIZE    length over PEER_MAX_PAYLOAD where it is (or asks for) a payload: WRITE,
 *                READ and PULL; nonzero for REMOVE, FLUSH, HEARTBEAT and in replies other than
 *                a successful READ's or PULL's; not PEER_JOIN_SIZE in a JOIN request
 *   -ERANGE      offset + length past the object (its size from exp by the oid's type; overflow
 *                checked), or a nonzero offset for an opcode without a range
 *   -ECHRNG      shard >= exp->nr_shards
 *   -ESTALE      epoch older than exp->epoch (READ, WRITE, ZERO, PUNCH, REMOVE)
 *   -EL2NSYNC    epoch newer than exp->epoch (the same opcodes)
 *
 * Replies are checked for the first four rules only: their offset, shard and epoch are the
 * replier's and are matched against the request by the caller. FLUSH, PULL, HEARTBEAT and JOIN
 * are not refused for another epoch: a flush concerns what the shard already has whichever epoch
 * wrote it, and the others exist to cross epochs.
 */
int peer_hdr_validate(const struct peer_hdr *h, const struct peer_expect *exp);

/*
 * The one mapping from negative errno values (peer_hdr_validate's, and the daemon's internal
 * ones from the store) to reply result codes.
 */
enum peer_result peer_result_from_errno(int neg_errno);
/*
 * The other way, for the requester: a reply's code as the negative errno the daemon uses inside
 * (0 for success; NO_OBJ -ENOENT, OLD_NODE_VER -ESTALE, NEW_NODE_VER -EL2NSYNC, INVALID_CTIME
 * -EXDEV, HALT -EHOSTDOWN, NO_VDI -ENODEV, NETWORK_ERROR -ECONNRESET; a code it does not know
 * -EIO).
 */
int peer_errno_from_result(uint32_t result);
/*
 * Whether an answer (negative errno) may well change within a second, so that asking again
 * is right: an epoch mismatch, or a transport failure while membership catches up.
 */
bool peer_error_is_transient(int neg_errno);

/*
 * JOIN payload, PEER_JOIN_SIZE bytes, little-endian:
 *    0 u8  addr[16]   IPv6, or IPv4 in the last 4 bytes after 12 zero bytes (struct sd_node_id)
 *   16 u16 port       the control (dog) port: with addr, the node's identity
 *   18 u16 peer_port  where this protocol is served
 *   20 u32 zone
 *   24 u16 nr_vnodes  0 for a gateway
 *   26 u16 nr_shards  at least 1: senders pick the target shard from it
 *   28 u8  reserved[4] zero
 *   32 u64 space      bytes this node offers
 */
#define PEER_JOIN_SIZE 40

struct peer_join {
	struct sd_node node;
	uint16_t peer_port;
	uint16_t nr_shards;
};

void peer_join_encode(const struct peer_join *j, uint8_t out[PEER_JOIN_SIZE]);

/*
 * Parses a JOIN payload. Returns 0, -EMSGSIZE when len is not PEER_JOIN_SIZE, -EBADMSG for a
 * nonzero reserved byte, or -EINVAL for an all-zero address, a zero port or peer port, or zero
 * shards.
 */
int peer_join_parse(const uint8_t *buf, size_t len, struct peer_join *j);

#endif
