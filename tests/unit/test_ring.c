/* The placement ring: determinism, zones kept apart, balance, gateways. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/oid.h"
#include "core/ring.h"

static void make_nodes(struct sd_node *n, int nr, int zones)
{
	memset(n, 0, sizeof(*n) * (size_t)nr);
	for (int i = 0; i < nr; i++) {
		node_addr_parse("10.0.0.0", n[i].nid.addr);
		n[i].nid.addr[15] = (uint8_t)(i + 1);
		n[i].nid.port = 7000;
		n[i].nr_vnodes = 128;
		n[i].zone = (uint32_t)(i % zones);
	}
}

Test(ring, deterministic_whatever_the_node_order)
{
	struct sd_node a[6], b[6];
	struct placement_ring ra, rb;
	int oa[3], ob[3];

	make_nodes(a, 6, 6);
	for (int i = 0; i < 6; i++)
		b[i] = a[5 - i];
	cr_assert_eq(ring_build(&ra, a, 6), 0);
	cr_assert_eq(ring_build(&rb, b, 6), 0);
	for (uint32_t k = 0; k < 5000; k++) {
		int na = ring_place(&ra, vid_to_data_oid(0x7c2b25, k), 3, oa);
		int nb = ring_place(&rb, vid_to_data_oid(0x7c2b25, k), 3, ob);

		cr_assert_eq(na, 3);
		cr_assert_eq(nb, 3);
		for (int j = 0; j < 3; j++)
			cr_assert(!node_id_cmp(&ra.nodes[oa[j]].nid, &rb.nodes[ob[j]].nid));
	}
	ring_destroy(&ra);
	ring_destroy(&rb);
}

Test(ring, copies_never_share_a_zone)
{
	struct sd_node n[9];
	struct placement_ring r;
	int out[5];

	make_nodes(n, 9, 3); /* zones 0, 1, 2, three nodes each */
	cr_assert_eq(ring_build(&r, n, 9), 0);
	cr_assert_eq(r.nr_zones, 3);
	for (uint32_t k = 0; k < 5000; k++) {
		int got = ring_place(&r, vid_to_data_oid(42, k), 5, out);

		cr_assert_eq(got, 3, "copies are capped by the number of zones");
		cr_assert_neq(r.nodes[out[0]].zone, r.nodes[out[1]].zone);
		cr_assert_neq(r.nodes[out[0]].zone, r.nodes[out[2]].zone);
		cr_assert_neq(r.nodes[out[1]].zone, r.nodes[out[2]].zone);
	}
	ring_destroy(&r);
}

static void check_balance(int nr, int copies, double max_dev)
{
	struct sd_node n[16];
	struct placement_ring r;
	long count[16] = { 0 };
	const long objects = 200000;
	int out[3];

	make_nodes(n, nr, nr);
	cr_assert_eq(ring_build(&r, n, nr), 0);
	for (long k = 0; k < objects; k++) {
		uint64_t oid =
			vid_to_data_oid(0x7c2b25 + (uint32_t)(k >> 12), (uint32_t)(k & 4095));
		int got = ring_place(&r, oid, copies, out);

		for (int j = 0; j < got; j++)
			count[out[j]]++;
	}
	for (int i = 0; i < nr; i++) {
		double share = (double)count[i] / ((double)objects * copies / nr);

		cr_assert(share > 1 - max_dev && share < 1 + max_dev,
			  "node %d of %d has %.1f%% of its fair share (%d copies)", i, nr,
			  share * 100, copies);
	}
	ring_destroy(&r);
}

Test(ring, balanced_within_a_few_percent)
{
	check_balance(4, 1, 0.06);
	check_balance(8, 1, 0.06);
	check_balance(16, 1, 0.06);
	check_balance(8, 3, 0.06);
	check_balance(16, 3, 0.06);
}

Test(ring, gateways_store_nothing)
{
	struct sd_node n[4];
	struct placement_ring r;
	int out[3];

	make_nodes(n, 4, 4);
	n[2].nr_vnodes = 0;
	cr_assert_eq(ring_build(&r, n, 4), 0);
	cr_assert_eq(r.nr_zones, 3);
	for (uint32_t k = 0; k < 2000; k++) {
		int got = ring_place(&r, vid_to_data_oid(9, k), 3, out);

		cr_assert_eq(got, 3);
		for (int j = 0; j < got; j++)
			cr_assert_neq(r.nodes[out[j]].nid.addr[15], 3, "the gateway got a copy");
	}
	ring_destroy(&r);
}

Test(ring, joining_node_moves_only_what_it_takes)
{
	struct sd_node n[5];
	struct placement_ring before, after;
	int a, b, moved = 0;

	make_nodes(n, 5, 5);
	cr_assert_eq(ring_build(&before, n, 4), 0);
	cr_assert_eq(ring_build(&after, n, 5), 0);
	for (uint32_t k = 0; k < 20000; k++) {
		ring_place(&before, vid_to_data_oid(7, k), 1, &a);
		ring_place(&after, vid_to_data_oid(7, k), 1, &b);
		if (node_id_cmp(&before.nodes[a].nid, &after.nodes[b].nid)) {
			moved++;
			cr_assert_eq(after.nodes[b].nid.addr[15], 5, "moved between old nodes");
		}
	}
	cr_assert(moved > 20000 / 5 * 0.9 && moved < 20000 / 5 * 1.1, "moved %d", moved);
	ring_destroy(&before);
	ring_destroy(&after);
}

Test(ring, empty_ring_places_nothing)
{
	struct placement_ring r;
	int out[3];

	cr_assert_eq(ring_build(&r, NULL, 0), 0);
	cr_assert_eq(ring_place(&r, 1, 3, out), 0);
	ring_destroy(&r);
}
