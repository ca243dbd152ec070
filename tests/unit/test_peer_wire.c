/* Peer protocol wire format: byte layout, round trips, partial input, each refusal rule. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cluster/peer/peer_wire.h"
#include "core/inode.h"
#include "core/oid.h"

#define CLUSTER UINT64_C(0x0123456789abcdef)
#define OBJ	(UINT64_C(4) << 20)

static const struct peer_expect exp_ = {
	.cluster_id = CLUSTER,
	.epoch = 7,
	.nr_shards = 4,
	.data_obj_size = OBJ,
	.other_obj_size = SD_INODE_SIZE,
};

static const uint8_t all_ops[] = { PEER_OP_READ,  PEER_OP_WRITE,     PEER_OP_ZERO,
				   PEER_OP_PUNCH, PEER_OP_REMOVE,    PEER_OP_FLUSH,
				   PEER_OP_PULL,  PEER_OP_HEARTBEAT, PEER_OP_JOIN };

/* A request of this opcode that every rule accepts. */
static struct peer_hdr valid_req(uint8_t op)
{
	struct peer_hdr h = {
		.opcode = op,
		.cluster_id = CLUSTER,
		.epoch = 7,
		.sender = 2,
		.req_id = 1000 + op,
		.oid = vid_to_data_oid(0xabcdef, 3),
		.shard = 3,
	};

	switch (op) {
	case PEER_OP_READ:
	case PEER_OP_PULL:
	case PEER_OP_ZERO:
	case PEER_OP_PUNCH:
		h.offset = 4096;
		h.length = 8192;
		break;
	case PEER_OP_WRITE:
		h.offset = 512;
		h.length = 4096;
		h.flags = PEER_F_SYNC | PEER_F_CREATE | PEER_F_FORWARD;
		break;
	case PEER_OP_JOIN:
		h.length = PEER_JOIN_SIZE;
		h.oid = 0;
		break;
	case PEER_OP_FLUSH:
	case PEER_OP_HEARTBEAT:
		h.oid = 0;
		break;
	}
	return h;
}

static int validate(const struct peer_hdr *h)
{
	return peer_hdr_validate(h, &exp_);
}

static void assert_same(const struct peer_hdr *a, const struct peer_hdr *b)
{
	cr_assert_eq(a->opcode, b->opcode);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->cluster_id, b->cluster_id);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->sender, b->sender);
	cr_assert_eq(a->req_id, b->req_id);
	cr_assert_eq(a->oid, b->oid);
	cr_assert_eq(a->offset, b->offset);
	cr_assert_eq(a->length, b->length);
	cr_assert_eq(a->result, b->result);
	cr_assert_eq(a->shard, b->shard);
	cr_assert_eq(a->ec_index, b->ec_index);
}

Test(peer_wire, exact_layout)
{
	const struct peer_hdr h = {
		.opcode = PEER_OP_WRITE,
		.flags = PEER_F_SYNC | PEER_F_CREATE,
		.cluster_id = UINT64_C(0x1122334455667788),
		.epoch = 0xa1a2a3a4,
		.sender = 0xb1b2b3b4,
		.req_id = UINT64_C(0xc1c2c3c4c5c6c7c8),
		.oid = UINT64_C(0x00abcdef00000005),
		.offset = UINT64_C(0x0000000100200000),
		.length = 0x00100000,
		.result = 0x81,
		.shard = 0x0102,
		.ec_index = 9,
	};
	const uint8_t want[PEER_HDR_SIZE] = {
		'S',  'D',  'P',  'R',	1,    2,    0x06, 0x00, /* magic, version, op, flags */
		0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* cluster id */
		0xa4, 0xa3, 0xa2, 0xa1, 0xb4, 0xb3, 0xb2, 0xb1, /* epoch, sender */
		0xc8, 0xc7, 0xc6, 0xc5, 0xc4, 0xc3, 0xc2, 0xc1, /* request id */
		0x05, 0x00, 0x00, 0x00, 0xef, 0xcd, 0xab, 0x00, /* oid */
		0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, /* offset */
		0x00, 0x00, 0x10, 0x00, 0x81, 0x00, 0x00, 0x00, /* length, result */
		0x02, 0x01, 9,	  0,	0,    0,    0,	  0,	/* shard, ec index, reserved */
	};
	uint8_t b[PEER_HDR_SIZE];

	memset(b, 0xee, sizeof(b));
	peer_hdr_encode(&h, b);
	for (int i = 0; i < PEER_HDR_SIZE; i++)
		cr_assert_eq(b[i], want[i], "byte %d is 0x%02x, the format says 0x%02x", i, b[i],
			     want[i]);
}

Test(peer_wire, round_trip_every_opcode)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]), reply, got;
		uint8_t b[PEER_HDR_SIZE];

		peer_hdr_encode(&h, b);
		cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), PEER_HDR_SIZE);
		assert_same(&h, &got);
		cr_assert_eq(validate(&got), 0, "valid request of opcode %d refused", h.opcode);

		reply = h;
		reply.flags = PEER_F_REPLY;
		reply.result = PEER_RES_SUCCESS;
		reply.length =
			(h.opcode == PEER_OP_READ || h.opcode == PEER_OP_PULL) ? h.length : 0;
		reply.epoch = 9;
		peer_hdr_encode(&reply, b);
		cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), PEER_HDR_SIZE);
		assert_same(&reply, &got);
		cr_assert_eq(validate(&got), 0, "valid reply of opcode %d refused", h.opcode);
	}
}

Test(peer_wire, partial_header_needs_more)
{
	struct peer_hdr h = valid_req(PEER_OP_WRITE), got;
	uint8_t b[PEER_HDR_SIZE + 16];

	memset(b, 0, sizeof(b));
	peer_hdr_encode(&h, b);
	for (size_t n = 0; n < PEER_HDR_SIZE; n++)
		cr_assert_eq(peer_hdr_parse(b, n, &got), 0, "parsed a %zu-byte prefix", n);
	/* bytes after the header (the payload) are not the parser's */
	cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), PEER_HDR_SIZE);
}

Test(peer_wire, parse_bad_magic)
{
	struct peer_hdr h = valid_req(PEER_OP_READ), got;
	uint8_t b[PEER_HDR_SIZE];

	for (int i = 0; i < 4; i++) {
		peer_hdr_encode(&h, b);
		b[i] ^= 0x20;
		cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), -EPROTO);
	}
}

Test(peer_wire, parse_other_version)
{
	struct peer_hdr h = valid_req(PEER_OP_READ), got;
	uint8_t b[PEER_HDR_SIZE];

	peer_hdr_encode(&h, b);
	b[4] = PEER_PROTO_VERSION + 1;
	cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), -EPROTONOSUPPORT);
	b[4] = 0;
	cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), -EPROTONOSUPPORT);
}

Test(peer_wire, parse_reserved_nonzero)
{
	struct peer_hdr h = valid_req(PEER_OP_READ), got;
	uint8_t b[PEER_HDR_SIZE];

	for (int i = 59; i < PEER_HDR_SIZE; i++) {
		peer_hdr_encode(&h, b);
		b[i] = 1;
		cr_assert_eq(peer_hdr_parse(b, sizeof(b), &got), -EBADMSG, "reserved byte %d", i);
	}
}

Test(peer_wire, refuse_other_cluster)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]);

		h.cluster_id = CLUSTER + 1;
		cr_assert_eq(validate(&h), -EXDEV, "opcode %d", h.opcode);
		h.flags = PEER_F_REPLY;
		h.length = 0;
		cr_assert_eq(validate(&h), -EXDEV, "reply of opcode %d", h.opcode);
	}
}

Test(peer_wire, join_without_cluster_id)
{
	struct peer_hdr h = valid_req(PEER_OP_JOIN);
	struct peer_expect fresh = exp_;

	h.cluster_id = 0; /* a new node asks to join */
	cr_assert_eq(validate(&h), 0);
	h = valid_req(PEER_OP_JOIN); /* this node is the one joining and learns the id */
	h.flags = PEER_F_REPLY;
	h.length = 0;
	fresh.cluster_id = 0;
	cr_assert_eq(peer_hdr_validate(&h, &fresh), 0);
	/* only JOIN crosses: anything else from a cluster-less node is refused */
	h = valid_req(PEER_OP_HEARTBEAT);
	h.cluster_id = 0;
	cr_assert_eq(validate(&h), -EXDEV);
	h = valid_req(PEER_OP_READ);
	cr_assert_eq(peer_hdr_validate(&h, &fresh), -EXDEV);
}

Test(peer_wire, refuse_unknown_opcode)
{
	const uint8_t bad[] = { 0, PEER_OP_MAX + 1, 0x7f, 0xff };

	for (size_t i = 0; i < sizeof(bad); i++) {
		struct peer_hdr h = valid_req(PEER_OP_FLUSH);

		h.opcode = bad[i];
		cr_assert_eq(validate(&h), -EOPNOTSUPP, "opcode %d", bad[i]);
		h.flags = PEER_F_REPLY;
		cr_assert_eq(validate(&h), -EOPNOTSUPP, "reply of opcode %d", bad[i]);
	}
}

Test(peer_wire, refuse_flags_not_for_opcode)
{
	static const struct {
		uint8_t op;
		uint16_t flags;
	} bad[] = {
		{ PEER_OP_READ, PEER_F_SYNC },
		{ PEER_OP_READ, PEER_F_CREATE },
		{ PEER_OP_PUNCH, PEER_F_CREATE },
		{ PEER_OP_REMOVE, PEER_F_SYNC },
		{ PEER_OP_FLUSH, PEER_F_FORWARD },
		{ PEER_OP_PULL, PEER_F_SYNC },
		{ PEER_OP_HEARTBEAT, PEER_F_SYNC },
		{ PEER_OP_JOIN, PEER_F_CREATE },
		{ PEER_OP_WRITE, PEER_F_RAW },
		{ PEER_OP_PULL, PEER_F_RAW },
		{ PEER_OP_WRITE, 1 << 15 },
		/* a reply carries PEER_F_REPLY and nothing else */
		{ PEER_OP_WRITE, PEER_F_REPLY | PEER_F_SYNC },
		{ PEER_OP_READ, PEER_F_REPLY | 1 << 9 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct peer_hdr h = valid_req(bad[i].op);

		h.flags = bad[i].flags;
		if (h.flags & PEER_F_REPLY)
			h.length = 0;
		cr_assert_eq(validate(&h), -EINVAL, "opcode %d flags 0x%x", bad[i].op,
			     bad[i].flags);
	}
}

Test(peer_wire, refuse_result_in_request)
{
	struct peer_hdr h = valid_req(PEER_OP_READ);

	h.result = PEER_RES_EIO;
	cr_assert_eq(validate(&h), -EINVAL);
}

Test(peer_wire, refuse_length_over_max)
{
	struct peer_hdr h = valid_req(PEER_OP_WRITE);
	struct peer_expect big = exp_;

	big.data_obj_size = UINT64_C(1) << 31; /* so that only the payload limit applies */
	h.offset = 0;
	h.length = PEER_MAX_PAYLOAD;
	cr_assert_eq(peer_hdr_validate(&h, &big), 0);
	h.length = PEER_MAX_PAYLOAD + 1;
	cr_assert_eq(peer_hdr_validate(&h, &big), -EMSGSIZE);
	h.length = UINT32_MAX;
	cr_assert_eq(peer_hdr_validate(&h, &big), -EMSGSIZE);
	h = valid_req(PEER_OP_READ);
	h.flags = PEER_F_REPLY;
	h.length = PEER_MAX_PAYLOAD + 1;
	cr_assert_eq(peer_hdr_validate(&h, &big), -EMSGSIZE);
}

Test(peer_wire, refuse_length_where_none)
{
	static const uint8_t no_length[] = { PEER_OP_REMOVE, PEER_OP_FLUSH, PEER_OP_HEARTBEAT };
	struct peer_hdr h;

	for (size_t i = 0; i < sizeof(no_length); i++) {
		h = valid_req(no_length[i]);
		h.length = 1;
		cr_assert_eq(validate(&h), -EMSGSIZE, "opcode %d", h.opcode);
	}
	/* replies: only READ and PULL answer with data */
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		h = valid_req(all_ops[i]);
		if (h.opcode == PEER_OP_READ || h.opcode == PEER_OP_PULL)
			continue;
		h.flags = PEER_F_REPLY;
		h.length = 4;
		cr_assert_eq(validate(&h), -EMSGSIZE, "reply of opcode %d", h.opcode);
	}
}

Test(peer_wire, zero_and_punch_ranges_are_not_payloads)
{
	struct peer_expect big = exp_;
	struct peer_hdr h = valid_req(PEER_OP_ZERO);

	big.data_obj_size = UINT64_C(1) << 31;
	h.offset = 0;
	h.length = PEER_MAX_PAYLOAD * 2;
	cr_assert_eq(peer_hdr_validate(&h, &big), 0);
	cr_assert_eq(peer_payload_len(&h), 0);
	h.opcode = PEER_OP_PUNCH;
	cr_assert_eq(peer_hdr_validate(&h, &big), 0);
	h.opcode = PEER_OP_READ; /* its reply would carry that much */
	cr_assert_eq(peer_hdr_validate(&h, &big), -EMSGSIZE);
	h.opcode = PEER_OP_PULL;
	cr_assert_eq(peer_hdr_validate(&h, &big), -EMSGSIZE);
}

Test(peer_wire, payload_follows_by_opcode_and_direction)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]);
		bool req_data = h.opcode == PEER_OP_WRITE || h.opcode == PEER_OP_JOIN;
		bool reply_data = h.opcode == PEER_OP_READ || h.opcode == PEER_OP_PULL;

		h.length = 777;
		cr_assert_eq(peer_payload_len(&h), req_data ? 777 : 0, "opcode %d", h.opcode);
		h.flags = PEER_F_REPLY;
		cr_assert_eq(peer_payload_len(&h), reply_data ? 777 : 0, "reply of opcode %d",
			     h.opcode);
	}
	/* an unknown opcode carries none: the stream stays in step after refusing it */
	struct peer_hdr h = valid_req(PEER_OP_WRITE);

	h.opcode = 0xee;
	cr_assert_eq(peer_payload_len(&h), 0);
}

Test(peer_wire, refuse_join_length)
{
	struct peer_hdr h = valid_req(PEER_OP_JOIN);

	h.length = PEER_JOIN_SIZE - 1;
	cr_assert_eq(validate(&h), -EMSGSIZE);
	h.length = PEER_JOIN_SIZE + 1;
	cr_assert_eq(validate(&h), -EMSGSIZE);
	h.length = 0;
	cr_assert_eq(validate(&h), -EMSGSIZE);
}

Test(peer_wire, refuse_payload_in_failed_reply)
{
	struct peer_hdr h = valid_req(PEER_OP_READ);

	h.flags = PEER_F_REPLY;
	h.result = PEER_RES_NO_OBJ;
	h.length = 0;
	cr_assert_eq(validate(&h), 0);
	h.length = 512;
	cr_assert_eq(validate(&h), -EMSGSIZE);
}

Test(peer_wire, refuse_range_past_object)
{
	static const uint8_t ranged[] = { PEER_OP_READ, PEER_OP_WRITE, PEER_OP_ZERO, PEER_OP_PUNCH,
					  PEER_OP_PULL };

	for (size_t i = 0; i < sizeof(ranged); i++) {
		struct peer_hdr h = valid_req(ranged[i]);

		h.offset = OBJ - 4096;
		h.length = 4096;
		cr_assert_eq(validate(&h), 0, "opcode %d to the end", h.opcode);
		h.length = 4097;
		cr_assert_eq(validate(&h), -ERANGE, "opcode %d past the end", h.opcode);
		h.offset = OBJ + 1;
		h.length = 0;
		cr_assert_eq(validate(&h), -ERANGE, "opcode %d starting past the end", h.opcode);
		/* offset + length wraps around: must not pass as small */
		h.offset = UINT64_MAX - 100;
		h.length = 4096;
		cr_assert_eq(validate(&h), -ERANGE, "opcode %d wrapping", h.opcode);
	}
}

Test(peer_wire, object_size_by_oid_type)
{
	struct peer_hdr h = valid_req(PEER_OP_WRITE);

	/* an inode is larger than a data object */
	h.oid = vid_to_vdi_oid(0xabcdef);
	h.offset = SD_INODE_SIZE - 4096;
	h.length = 4096;
	cr_assert_eq(validate(&h), 0);
	h.length = 4097;
	cr_assert_eq(validate(&h), -ERANGE);
	h.oid = vid_to_data_oid(0xabcdef, 0);
	h.length = 4096;
	cr_assert_eq(validate(&h), -ERANGE);
}

Test(peer_wire, refuse_offset_without_range)
{
	static const uint8_t unranged[] = { PEER_OP_REMOVE, PEER_OP_FLUSH, PEER_OP_HEARTBEAT,
					    PEER_OP_JOIN };

	for (size_t i = 0; i < sizeof(unranged); i++) {
		struct peer_hdr h = valid_req(unranged[i]);

		h.offset = 4096;
		cr_assert_eq(validate(&h), -ERANGE, "opcode %d", h.opcode);
	}
}

Test(peer_wire, refuse_shard_out_of_range)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]);

		h.shard = exp_.nr_shards;
		cr_assert_eq(validate(&h), -ECHRNG, "opcode %d", h.opcode);
		h.shard = UINT16_MAX;
		cr_assert_eq(validate(&h), -ECHRNG, "opcode %d", h.opcode);
	}
}

static bool epoch_bound(uint8_t op)
{
	return op == PEER_OP_READ || op == PEER_OP_WRITE || op == PEER_OP_ZERO ||
	       op == PEER_OP_PUNCH || op == PEER_OP_REMOVE;
}

Test(peer_wire, refuse_older_epoch)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]);

		h.epoch = exp_.epoch - 1;
		cr_assert_eq(validate(&h), epoch_bound(h.opcode) ? -ESTALE : 0, "opcode %d",
			     h.opcode);
		h.epoch = 0;
		cr_assert_eq(validate(&h), epoch_bound(h.opcode) ? -ESTALE : 0, "opcode %d",
			     h.opcode);
	}
}

Test(peer_wire, refuse_newer_epoch)
{
	for (size_t i = 0; i < sizeof(all_ops); i++) {
		struct peer_hdr h = valid_req(all_ops[i]);

		h.epoch = exp_.epoch + 1;
		cr_assert_eq(validate(&h), epoch_bound(h.opcode) ? -EL2NSYNC : 0, "opcode %d",
			     h.opcode);
		h.epoch = UINT32_MAX;
		cr_assert_eq(validate(&h), epoch_bound(h.opcode) ? -EL2NSYNC : 0, "opcode %d",
			     h.opcode);
	}
}

Test(peer_wire, replies_carry_the_repliers_fields)
{
	struct peer_hdr h = valid_req(PEER_OP_READ);

	h.flags = PEER_F_REPLY;
	h.result = PEER_RES_OLD_NODE_VER;
	h.length = 0;
	h.epoch = 100; /* the replier's newer epoch: what the sender waits for */
	h.shard = 999;
	cr_assert_eq(validate(&h), 0);
}

Test(peer_wire, result_mapping)
{
	cr_assert_eq(peer_result_from_errno(0), PEER_RES_SUCCESS);
	cr_assert_eq(peer_result_from_errno(-EXDEV), PEER_RES_INVALID_CTIME);
	cr_assert_eq(peer_result_from_errno(-EOPNOTSUPP), PEER_RES_NO_SUPPORT);
	cr_assert_eq(peer_result_from_errno(-EINVAL), PEER_RES_INVALID_PARMS);
	cr_assert_eq(peer_result_from_errno(-EMSGSIZE), PEER_RES_INVALID_PARMS);
	cr_assert_eq(peer_result_from_errno(-ERANGE), PEER_RES_INVALID_PARMS);
	cr_assert_eq(peer_result_from_errno(-ECHRNG), PEER_RES_INVALID_PARMS);
	cr_assert_eq(peer_result_from_errno(-ESTALE), PEER_RES_OLD_NODE_VER);
	cr_assert_eq(peer_result_from_errno(-EL2NSYNC), PEER_RES_NEW_NODE_VER);
	cr_assert_eq(peer_result_from_errno(-ENOENT), PEER_RES_NO_OBJ);
	cr_assert_eq(peer_result_from_errno(-EIO), PEER_RES_EIO);
	cr_assert_eq(peer_result_from_errno(-ENOSPC), PEER_RES_NO_SPACE);
	cr_assert_eq(peer_result_from_errno(-ENOMEM), PEER_RES_NO_MEM);
	cr_assert_eq(peer_result_from_errno(-EROFS), PEER_RES_READONLY);
	cr_assert_eq(peer_result_from_errno(-EPIPE), PEER_RES_SYSTEM_ERROR);
	/* the original's numbers, which dog and old logs know */
	cr_assert_eq(PEER_RES_OLD_NODE_VER, 0x81);
	cr_assert_eq(PEER_RES_NEW_NODE_VER, 0x82);
	cr_assert_eq(PEER_RES_INVALID_CTIME, 0x84);
}

static struct peer_join valid_join(void)
{
	struct peer_join j = {
		.node = { .nid = { .addr = { [10] = 0xff,
					     [11] = 0xff,
					     [12] = 10,
					     [13] = 0,
					     [14] = 0,
					     [15] = 7 },
				   .port = 7000 },
			  .nr_vnodes = 128,
			  .zone = 0x0700000a,
			  .space = UINT64_C(0x0000010000000000) },
		.peer_port = 7001,
		.nr_shards = 16,
	};
	return j;
}

Test(peer_wire, join_layout_and_round_trip)
{
	const uint8_t want[PEER_JOIN_SIZE] = {
		0,    0,    0,	  0,	0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7, /* addr */
		0x58, 0x1b, 0x59, 0x1b,		    /* port 7000, peer port 7001 */
		0x0a, 0,    0,	  0x07,		    /* zone */
		128,  0,    16,	  0,		    /* vnodes, shards */
		0,    0,    0,	  0,		    /* reserved */
		0,    0,    0,	  0,	0, 1, 0, 0, /* space: 1 TiB */
	};
	struct peer_join j = valid_join(), got;
	uint8_t b[PEER_JOIN_SIZE];

	memset(b, 0xee, sizeof(b));
	peer_join_encode(&j, b);
	cr_assert_arr_eq(b, want, sizeof(want));
	cr_assert_eq(peer_join_parse(b, sizeof(b), &got), 0);
	cr_assert_arr_eq(got.node.nid.addr, j.node.nid.addr, 16);
	cr_assert_eq(got.node.nid.port, 7000);
	cr_assert_eq(got.peer_port, 7001);
	cr_assert_eq(got.node.zone, j.node.zone);
	cr_assert_eq(got.node.nr_vnodes, 128);
	cr_assert_eq(got.nr_shards, 16);
	cr_assert_eq(got.node.space, j.node.space);
}

Test(peer_wire, join_refusals)
{
	struct peer_join j = valid_join(), got;
	uint8_t b[PEER_JOIN_SIZE + 1] = { 0 };

	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE - 1, &got), -EMSGSIZE);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE + 1, &got), -EMSGSIZE);
	for (int i = 28; i < 32; i++) {
		peer_join_encode(&j, b);
		b[i] = 1;
		cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), -EBADMSG, "byte %d", i);
	}

	j = valid_join();
	memset(j.node.nid.addr, 0, 16);
	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), -EINVAL);
	j = valid_join();
	j.node.nid.port = 0;
	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), -EINVAL);
	j = valid_join();
	j.peer_port = 0;
	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), -EINVAL);
	j = valid_join();
	j.nr_shards = 0;
	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), -EINVAL);
	/* a gateway (no vnodes, no space) may join */
	j = valid_join();
	j.node.nr_vnodes = 0;
	j.node.space = 0;
	peer_join_encode(&j, b);
	cr_assert_eq(peer_join_parse(b, PEER_JOIN_SIZE, &got), 0);
}
