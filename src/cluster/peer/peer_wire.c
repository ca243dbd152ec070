/* Peer protocol: header and JOIN payload encoding, parsing and validation. */
#include "peer_wire.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/oid.h"
#include "../../core/result.h"

/* The codes shared with the control protocol must keep its numbers. */
#define SAME_NUMBER(a, b) _Static_assert((int)(a) == (int)(b), #a " is not " #b)
SAME_NUMBER(PEER_RES_NO_OBJ, SD_RES_NO_OBJ);
SAME_NUMBER(PEER_RES_EIO, SD_RES_EIO);
SAME_NUMBER(PEER_RES_INVALID_PARMS, SD_RES_INVALID_PARMS);
SAME_NUMBER(PEER_RES_SYSTEM_ERROR, SD_RES_SYSTEM_ERROR);
SAME_NUMBER(PEER_RES_NO_MEM, SD_RES_NO_MEM);
SAME_NUMBER(PEER_RES_NO_VDI, SD_RES_NO_VDI);
SAME_NUMBER(PEER_RES_NO_SPACE, SD_RES_NO_SPACE);
SAME_NUMBER(PEER_RES_HALT, SD_RES_HALT);
SAME_NUMBER(PEER_RES_READONLY, SD_RES_READONLY);
SAME_NUMBER(PEER_RES_NO_SUPPORT, SD_RES_NO_SUPPORT);

enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_OPCODE = 5,
	OFF_FLAGS = 6,
	OFF_CLUSTER = 8,
	OFF_EPOCH = 16,
	OFF_SENDER = 20,
	OFF_REQ_ID = 24,
	OFF_OID = 32,
	OFF_OFFSET = 40,
	OFF_LENGTH = 48,
	OFF_RESULT = 52,
	OFF_SHARD = 56,
	OFF_EC_INDEX = 58,
	OFF_RESERVED = 59,
};

enum {
	JOIN_OFF_ADDR = 0,
	JOIN_OFF_PORT = 16,
	JOIN_OFF_PEER_PORT = 18,
	JOIN_OFF_ZONE = 20,
	JOIN_OFF_VNODES = 24,
	JOIN_OFF_SHARDS = 26,
	JOIN_OFF_RESERVED = 28,
	JOIN_OFF_SPACE = 32,
};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

void peer_hdr_encode(const struct peer_hdr *h, uint8_t out[PEER_HDR_SIZE])
{
	put_le32(out + OFF_MAGIC, PEER_MAGIC);
	out[OFF_VERSION] = PEER_PROTO_VERSION;
	out[OFF_OPCODE] = h->opcode;
	put_le16(out + OFF_FLAGS, h->flags);
	put_le64(out + OFF_CLUSTER, h->cluster_id);
	put_le32(out + OFF_EPOCH, h->epoch);
	put_le32(out + OFF_SENDER, h->sender);
	put_le64(out + OFF_REQ_ID, h->req_id);
	put_le64(out + OFF_OID, h->oid);
	put_le64(out + OFF_OFFSET, h->offset);
	put_le32(out + OFF_LENGTH, h->length);
	put_le32(out + OFF_RESULT, h->result);
	put_le16(out + OFF_SHARD, h->shard);
	out[OFF_EC_INDEX] = h->ec_index;
	memset(out + OFF_RESERVED, 0, PEER_HDR_SIZE - OFF_RESERVED);
}

int peer_hdr_parse(const uint8_t *buf, size_t len, struct peer_hdr *h)
{
	if (len < PEER_HDR_SIZE)
		return 0;
	if (get_le32(buf + OFF_MAGIC) != PEER_MAGIC)
		return -EPROTO;
	if (buf[OFF_VERSION] != PEER_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (!all_zero(buf + OFF_RESERVED, PEER_HDR_SIZE - OFF_RESERVED))
		return -EBADMSG;
	h->opcode = buf[OFF_OPCODE];
	h->flags = get_le16(buf + OFF_FLAGS);
	h->cluster_id = get_le64(buf + OFF_CLUSTER);
	h->epoch = get_le32(buf + OFF_EPOCH);
	h->sender = get_le32(buf + OFF_SENDER);
	h->req_id = get_le64(buf + OFF_REQ_ID);
	h->oid = get_le64(buf + OFF_OID);
	h->offset = get_le64(buf + OFF_OFFSET);
	h->length = get_le32(buf + OFF_LENGTH);
	h->result = get_le32(buf + OFF_RESULT);
	h->shard = get_le16(buf + OFF_SHARD);
	h->ec_index = buf[OFF_EC_INDEX];
	return PEER_HDR_SIZE;
}

/* Flags a request of this opcode may carry; -1 for an unknown opcode. */
static int request_flags(uint8_t opcode)
{
	switch (opcode) {
	case PEER_OP_WRITE:
		return PEER_F_SYNC | PEER_F_CREATE | PEER_F_FORWARD | PEER_F_REPAIR | PEER_F_COPYUP;
	case PEER_OP_ZERO:
		return PEER_F_SYNC | PEER_F_CREATE | PEER_F_FORWARD | PEER_F_REPAIR;
	case PEER_OP_PUNCH:
		return PEER_F_SYNC | PEER_F_FORWARD | PEER_F_REPAIR;
	case PEER_OP_REMOVE:
		return PEER_F_FORWARD;
	case PEER_OP_READ:
		return PEER_F_RAW | PEER_F_FROZEN;
	case PEER_OP_FLUSH:
	case PEER_OP_PULL:
	case PEER_OP_HEARTBEAT:
	case PEER_OP_JOIN:
		return 0;
	default:
		return -1;
	}
}

/* The opcodes whose offset and length name a range of the object. */
static bool has_range(uint8_t opcode)
{
	switch (opcode) {
	case PEER_OP_READ:
	case PEER_OP_WRITE:
	case PEER_OP_ZERO:
	case PEER_OP_PUNCH:
	case PEER_OP_PULL:
		return true;
	default:
		return false;
	}
}

/* The opcodes a holder must refuse when the sender's epoch is not its own. */
static bool epoch_bound(uint8_t opcode)
{
	switch (opcode) {
	case PEER_OP_READ:
	case PEER_OP_WRITE:
	case PEER_OP_ZERO:
	case PEER_OP_PUNCH:
	case PEER_OP_REMOVE:
		return true;
	default:
		return false;
	}
}

uint32_t peer_payload_len(const struct peer_hdr *h)
{
	if (h->flags & PEER_F_REPLY)
		return (h->opcode == PEER_OP_READ || h->opcode == PEER_OP_PULL) ? h->length : 0;
	return (h->opcode == PEER_OP_WRITE || h->opcode == PEER_OP_JOIN) ? h->length : 0;
}

static int check_length(const struct peer_hdr *h)
{
	uint32_t max;

	if (h->flags & PEER_F_REPLY) {
		max = 0;
		if (h->result == PEER_RES_SUCCESS &&
		    (h->opcode == PEER_OP_READ || h->opcode == PEER_OP_PULL))
			max = PEER_MAX_PAYLOAD;
		return h->length > max ? -EMSGSIZE : 0;
	}
	switch (h->opcode) {
	case PEER_OP_READ:
	case PEER_OP_WRITE:
	case PEER_OP_PULL:
		max = PEER_MAX_PAYLOAD;
		break;
	case PEER_OP_ZERO:
	case PEER_OP_PUNCH:
		return 0; /* a range, no payload: the object's size bounds it */
	case PEER_OP_JOIN:
		return h->length == PEER_JOIN_SIZE ? 0 : -EMSGSIZE;
	default:
		max = 0;
	}
	return h->length > max ? -EMSGSIZE : 0;
}

static int check_range(const struct peer_hdr *h, const struct peer_expect *exp)
{
	uint64_t size = oid_is_data(h->oid) ? exp->data_obj_size : exp->other_obj_size;

	if (!has_range(h->opcode))
		return h->offset ? -ERANGE : 0;
	if (h->offset > size || h->length > size - h->offset)
		return -ERANGE;
	return 0;
}

int peer_hdr_validate(const struct peer_hdr *h, const struct peer_expect *exp)
{
	bool reply = h->flags & PEER_F_REPLY;
	int allowed, r;

	if (h->cluster_id != exp->cluster_id &&
	    !(h->opcode == PEER_OP_JOIN && (!h->cluster_id || !exp->cluster_id)))
		return -EXDEV;
	allowed = request_flags(h->opcode);
	if (allowed < 0)
		return -EOPNOTSUPP;
	if (reply ? h->flags != PEER_F_REPLY : (h->flags & ~allowed) != 0)
		return -EINVAL;
	if (!reply && h->result != PEER_RES_SUCCESS)
		return -EINVAL;
	r = check_length(h);
	if (r || reply)
		return r;
	r = check_range(h, exp);
	if (r)
		return r;
	if (h->shard >= exp->nr_shards)
		return -ECHRNG;
	if (epoch_bound(h->opcode) && h->epoch < exp->epoch)
		return -ESTALE;
	if (epoch_bound(h->opcode) && h->epoch > exp->epoch)
		return -EL2NSYNC;
	return 0;
}

enum peer_result peer_result_from_errno(int neg_errno)
{
	switch (-neg_errno) {
	case 0:
		return PEER_RES_SUCCESS;
	case EXDEV:
		return PEER_RES_INVALID_CTIME;
	case EOPNOTSUPP:
		return PEER_RES_NO_SUPPORT;
	case EINVAL:
	case EMSGSIZE:
	case ERANGE:
	case ECHRNG:
	case EOVERFLOW:
		return PEER_RES_INVALID_PARMS;
	case EUCLEAN:
		return PEER_RES_STALE_OBJ;
	case ESTALE:
		return PEER_RES_OLD_NODE_VER;
	case EL2NSYNC:
		return PEER_RES_NEW_NODE_VER;
	case ENOENT:
		return PEER_RES_NO_OBJ;
	case EIO:
		return PEER_RES_EIO;
	case ENOMEM:
		return PEER_RES_NO_MEM;
	case ENOSPC:
	case EDQUOT:
		return PEER_RES_NO_SPACE;
	case EROFS:
	case EPERM:
		return PEER_RES_READONLY;
	case ENODEV:
		return PEER_RES_NO_VDI;
	case EHOSTDOWN:
		return PEER_RES_HALT;
	case ECONNREFUSED:
	case ECONNRESET:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return PEER_RES_NETWORK_ERROR;
	default:
		return PEER_RES_SYSTEM_ERROR;
	}
}

int peer_errno_from_result(uint32_t result)
{
	switch (result) {
	case PEER_RES_SUCCESS:
		return 0;
	case PEER_RES_STALE_OBJ:
		return -EUCLEAN;
	case PEER_RES_NO_OBJ:
		return -ENOENT;
	case PEER_RES_INVALID_PARMS:
		return -EINVAL;
	case PEER_RES_NO_VDI:
		return -ENODEV;
	case PEER_RES_NO_MEM:
		return -ENOMEM;
	case PEER_RES_NO_SPACE:
		return -ENOSPC;
	case PEER_RES_HALT:
		return -EHOSTDOWN;
	case PEER_RES_READONLY:
		return -EROFS;
	case PEER_RES_OLD_NODE_VER:
		return -ESTALE;
	case PEER_RES_NEW_NODE_VER:
		return -EL2NSYNC;
	case PEER_RES_INVALID_CTIME:
		return -EXDEV;
	case PEER_RES_NO_SUPPORT:
		return -EOPNOTSUPP;
	case PEER_RES_NETWORK_ERROR:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

void peer_join_encode(const struct peer_join *j, uint8_t out[PEER_JOIN_SIZE])
{
	memcpy(out + JOIN_OFF_ADDR, j->node.nid.addr, sizeof(j->node.nid.addr));
	put_le16(out + JOIN_OFF_PORT, j->node.nid.port);
	put_le16(out + JOIN_OFF_PEER_PORT, j->peer_port);
	put_le32(out + JOIN_OFF_ZONE, j->node.zone);
	put_le16(out + JOIN_OFF_VNODES, j->node.nr_vnodes);
	put_le16(out + JOIN_OFF_SHARDS, j->nr_shards);
	memset(out + JOIN_OFF_RESERVED, 0, JOIN_OFF_SPACE - JOIN_OFF_RESERVED);
	put_le64(out + JOIN_OFF_SPACE, j->node.space);
}

int peer_join_parse(const uint8_t *buf, size_t len, struct peer_join *j)
{
	if (len != PEER_JOIN_SIZE)
		return -EMSGSIZE;
	if (!all_zero(buf + JOIN_OFF_RESERVED, JOIN_OFF_SPACE - JOIN_OFF_RESERVED))
		return -EBADMSG;
	memset(j, 0, sizeof(*j));
	memcpy(j->node.nid.addr, buf + JOIN_OFF_ADDR, sizeof(j->node.nid.addr));
	j->node.nid.port = get_le16(buf + JOIN_OFF_PORT);
	j->peer_port = get_le16(buf + JOIN_OFF_PEER_PORT);
	j->node.zone = get_le32(buf + JOIN_OFF_ZONE);
	j->node.nr_vnodes = get_le16(buf + JOIN_OFF_VNODES);
	j->nr_shards = get_le16(buf + JOIN_OFF_SHARDS);
	j->node.space = get_le64(buf + JOIN_OFF_SPACE);
	if (all_zero(j->node.nid.addr, sizeof(j->node.nid.addr)) || !j->node.nid.port ||
	    !j->peer_port || !j->nr_shards)
		return -EINVAL;
	return 0;
}

bool peer_error_is_transient(int neg_errno)
{
	switch (-neg_errno) {
	case ESTALE:
	case EL2NSYNC:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EPIPE:
	case EHOSTDOWN:
		return true;
	default:
		return false;
	}
}
