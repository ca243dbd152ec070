/*
 * Fuzz target for the peer protocol's wire format: the input is a stream of frames as a peer
 * connection receives them. Each header is parsed, validated against a fixed node, and its
 * payload skipped by peer_payload_len() (a JOIN's parsed), as the connection code will do.
 * Besides memory errors it checks what the parsers promise: a parsed header or JOIN payload
 * encodes back to the same bytes, and an accepted request's range lies inside its object.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/peer/peer_wire.h"
#include "core/inode.h"
#include "core/oid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The node every frame is sent to; gen_peer_corpus.py writes frames for it. */
static const struct peer_expect node = {
	.cluster_id = UINT64_C(0x0000000065f1e2d3),
	.epoch = 7,
	.nr_shards = 4,
	.data_obj_size = UINT64_C(4) << 20,
	.other_obj_size = SD_INODE_SIZE,
};

static void check_join(const uint8_t *p, size_t len)
{
	struct peer_join j;
	uint8_t again[PEER_JOIN_SIZE];

	if (peer_join_parse(p, len, &j))
		return;
	peer_join_encode(&j, again);
	if (memcmp(again, p, PEER_JOIN_SIZE))
		abort(); /* a JOIN payload parsed to something else than it says */
}

static void check_accepted(const struct peer_hdr *h)
{
	uint64_t size = oid_is_data(h->oid) ? node.data_obj_size : node.other_obj_size;

	if (h->flags & PEER_F_REPLY)
		return;
	if (h->shard >= node.nr_shards || h->offset > size || h->length > size - h->offset)
		abort(); /* validation let a request outside its object or shards through */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct peer_hdr h;
		uint8_t again[PEER_HDR_SIZE];
		uint32_t payload;
		int n = peer_hdr_parse(data + off, size - off, &h), r;

		if (n <= 0)
			break; /* need more, or the connection is closed */
		peer_hdr_encode(&h, again);
		if (memcmp(again, data + off, PEER_HDR_SIZE))
			abort(); /* a header parsed to something else than it says */
		off += (size_t)n;
		r = peer_hdr_validate(&h, &node);
		if (!r)
			check_accepted(&h);
		else if (peer_result_from_errno(r) == PEER_RES_SUCCESS)
			abort(); /* a refusal must not read as success */
		payload = peer_payload_len(&h);
		if (payload > size - off)
			break;
		if (h.opcode == PEER_OP_JOIN && !(h.flags & PEER_F_REPLY))
			check_join(data + off, payload);
		off += payload;
	}
	return 0;
}
