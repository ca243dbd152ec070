/*
 * The data path's pure parts: the cluster view (members sorted with their shard counts, this
 * node found, bad lists refused, the test harness's static view parsed), the primary's range
 * locks, and the splitting of a VDI range at object boundaries.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cluster/cluster_view.h"
#include "cluster/peer/peer_wire.h"
#include "cluster/sys.h"
#include "gateway/gw_rangelock.h"
#include "gateway/gw_split.h"

struct sheep_sys sys; /* cluster_view.c's publish_local reads it; unused here */

static struct sd_node node(int last, uint16_t port, uint32_t zone)
{
	struct sd_node n = { .nr_vnodes = 128, .zone = zone };

	node_addr_parse("10.0.0.0", n.nid.addr);
	n.nid.addr[15] = (uint8_t)last;
	n.nid.port = port;
	return n;
}

Test(cluster_view, members_sorted_with_their_shards_and_self_found)
{
	struct sd_node m[3] = { node(3, 7000, 3), node(1, 7000, 1), node(2, 7000, 2) };
	uint16_t shards[3] = { 30, 10, 20 };
	struct cluster_view *v = cluster_view_new(7, 99, m, shards, 3, &m[2].nid, false);

	cr_assert_not_null(v);
	cr_assert_eq(v->epoch, 7);
	cr_assert_eq(v->cluster_id, 99);
	cr_assert_eq(v->refs, 1);
	cr_assert(!v->writable);
	cr_assert_eq(v->ring.nr_nodes, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(v->ring.nodes[i].nid.addr[15], i + 1);
		cr_assert_eq(v->nr_shards[i], (i + 1) * 10, "shards follow their node");
	}
	cr_assert_eq(v->self, 1);
	cr_assert_eq(v->ring.nr_zones, 3);
	cluster_view_get(v);
	cluster_view_put(v);
	cr_assert_eq(v->refs, 1);
	cluster_view_put(v);
}

Test(cluster_view, defaults_and_refusals)
{
	struct sd_node m[2] = { node(1, 7000, 1), node(1, 7000, 2) };
	struct sd_node_id other = node(9, 7000, 0).nid;
	struct cluster_view *v;

	cr_assert_null(cluster_view_new(1, 1, m, NULL, 2, NULL, true), "one node twice");
	cr_assert_null(cluster_view_new(1, 1, m, NULL, -1, NULL, true));
	v = cluster_view_new(1, 1, m, NULL, 1, &other, true);
	cr_assert_not_null(v);
	cr_assert_eq(v->nr_shards[0], 1, "no shard counts: 1 each");
	cr_assert_eq(v->self, -1, "not a member");
	cluster_view_put(v);
	v = cluster_view_new(0, 0, NULL, NULL, 0, NULL, true);
	cr_assert_not_null(v, "an empty view (no cluster yet)");
	cluster_view_put(v);
}

static int granted[8];

static void grant(struct rl_entry *e)
{
	granted[e->start / 100]++;
}

static struct rl_entry entry(uint64_t oid, uint64_t start, uint64_t end)
{
	return (struct rl_entry){ .oid = oid, .start = start, .end = end, .grant = grant };
}

Test(range_lock, overlapping_writes_wait_in_order)
{
	static struct range_lock rl;
	struct rl_entry a = entry(1, 0, 150), b = entry(1, 100, 250), c = entry(1, 200, 300),
			d = entry(2, 0, 1000), e = entry(1, 400, 500);

	memset(granted, 0, sizeof(granted));
	cr_assert(rl_acquire(&rl, &a));
	cr_assert(!rl_acquire(&rl, &b), "overlaps a");
	cr_assert(!rl_acquire(&rl, &c), "overlaps b, which waits: order kept");
	cr_assert(rl_acquire(&rl, &d), "another object");
	cr_assert(rl_acquire(&rl, &e), "no overlap");
	cr_assert_eq(rl.nr, 5);
	rl_release(&rl, &a);
	cr_assert_eq(granted[1], 1, "b goes once a is done");
	cr_assert_eq(granted[2], 0, "c still waits for b");
	rl_release(&rl, &b);
	cr_assert_eq(granted[2], 1);
	rl_release(&rl, &c);
	rl_release(&rl, &d);
	rl_release(&rl, &e);
	cr_assert_eq(rl.nr, 0);
}

Test(range_lock, a_waiter_needs_every_overlap_gone)
{
	static struct range_lock rl;
	struct rl_entry a = entry(5, 0, 100), b = entry(5, 200, 300), c = entry(5, 50, 250);

	memset(granted, 0, sizeof(granted));
	cr_assert(rl_acquire(&rl, &a));
	cr_assert(rl_acquire(&rl, &b));
	cr_assert(!rl_acquire(&rl, &c));
	rl_release(&rl, &b);
	cr_assert_eq(granted[0], 0, "a still holds c back");
	rl_release(&rl, &a);
	cr_assert_eq(granted[0], 1);
	rl_release(&rl, &c);
}

Test(split, pieces_cover_the_range_at_object_boundaries)
{
	const uint8_t shift = 22;
	const uint64_t osize = UINT64_C(1) << shift;
	uint64_t off = osize - 100, len = 2 * osize + 200, pos = 0;
	uint32_t n = gw_split_count(off, len, shift);
	struct gw_piece p;

	cr_assert_eq(n, 4);
	for (uint32_t i = 0; i < n; i++) {
		gw_split_piece(off, len, shift, i, &p);
		cr_assert_eq(p.idx, i);
		cr_assert_eq(p.pos, pos, "pieces follow each other");
		cr_assert_eq(p.ostart + p.in_obj, off + pos);
		cr_assert_leq(p.in_obj + p.len, osize);
		cr_assert_eq(p.whole, i == 1 || i == 2);
		pos += p.len;
	}
	cr_assert_eq(pos, len);
	cr_assert_eq(gw_split_count(5, 0, shift), 0);
	cr_assert_eq(gw_split_count(0, osize, shift), 1);
	gw_split_piece(0, osize, shift, 0, &p);
	cr_assert(p.whole);
}

Test(peer_codes, round_trip_of_the_codes_the_gateway_acts_on)
{
	static const int errs[] = { 0,	     -ENOENT,	  -ESTALE, -EL2NSYNC, -EXDEV, -EHOSTDOWN,
				    -ENODEV, -ECONNRESET, -EIO,	   -ENOMEM,   -ENOSPC };

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		cr_assert_eq(peer_errno_from_result(peer_result_from_errno(errs[i])), errs[i], "%d",
			     errs[i]);
	/* Transport failures at the primary travel as one retryable code. */
	cr_assert_eq(peer_errno_from_result(peer_result_from_errno(-ECONNREFUSED)), -ECONNRESET);
	cr_assert_eq(peer_errno_from_result(peer_result_from_errno(-ETIMEDOUT)), -ECONNRESET);
	cr_assert_eq(peer_errno_from_result(0x77), -EIO, "a code this node does not know");
}
