/*
 * Placement at hundreds of nodes, with no processes: a join or a leave moves about 1/N of the
 * copies, never more than twice that; copies keep to distinct zones; every node's share stays
 * near its fair share. (The time a recovery plan takes is measured in bench/ring-plan-bench.)
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/oid.h"
#include "core/ring.h"

#define NODES	300
#define ZONES	30
#define COPIES	3
#define OBJECTS 100000

static void make_nodes(struct sd_node *n, int nr, int zones)
{
	memset(n, 0, sizeof(*n) * (size_t)nr);
	for (int i = 0; i < nr; i++) {
		node_addr_parse("10.0.0.0", n[i].nid.addr);
		n[i].nid.addr[14] = (uint8_t)((i + 1) >> 8);
		n[i].nid.addr[15] = (uint8_t)(i + 1);
		n[i].nid.port = 7000;
		n[i].nr_vnodes = 128;
		n[i].zone = (uint32_t)(i % zones);
	}
}

/* Copies whose holder changed between two rings (by identity), over OBJECTS objects. */
static long moved_copies(const struct placement_ring *a, const struct placement_ring *b)
{
	long moved = 0;

	for (uint32_t k = 0; k < OBJECTS; k++) {
		uint64_t oid = vid_to_data_oid(0x2a2a2a, k);
		int oa[COPIES], ob[COPIES];
		int na = ring_place(a, oid, COPIES, oa), nb = ring_place(b, oid, COPIES, ob);

		cr_assert_eq(na, COPIES);
		cr_assert_eq(nb, COPIES);
		/* A copy moved if its old holder no longer holds any copy of the object. */
		for (int i = 0; i < COPIES; i++) {
			bool kept = false;

			for (int j = 0; j < COPIES; j++)
				kept |= !node_id_cmp(&a->nodes[oa[i]].nid, &b->nodes[ob[j]].nid);
			moved += !kept;
		}
	}
	return moved;
}

Test(ring_scale, a_join_moves_about_one_nth)
{
	struct sd_node *n = calloc(NODES + 1, sizeof(*n));
	struct placement_ring before, after;
	double expect = (double)OBJECTS * COPIES / (NODES + 1);
	long moved;

	make_nodes(n, NODES + 1, ZONES);
	cr_assert_eq(ring_build(&before, n, NODES), 0);
	cr_assert_eq(ring_build(&after, n, NODES + 1), 0);
	moved = moved_copies(&before, &after);
	cr_log_info("join of one node to %d: %ld copies of %d moved (1/N: %.0f)", NODES, moved,
		    OBJECTS * COPIES, expect);
	cr_assert(moved > expect / 2 && moved < expect * 2, "moved %ld, 1/N is %.0f", moved,
		  expect);
	ring_destroy(&before);
	ring_destroy(&after);
	free(n);
}

Test(ring_scale, a_leave_moves_about_one_nth)
{
	struct sd_node *n = calloc(NODES, sizeof(*n));
	struct placement_ring before, after;
	double expect = (double)OBJECTS * COPIES / NODES;
	long moved;

	make_nodes(n, NODES, ZONES);
	cr_assert_eq(ring_build(&before, n, NODES), 0);
	/* The node in the middle leaves: the others keep their order. */
	memmove(&n[NODES / 2], &n[NODES / 2 + 1], sizeof(*n) * (NODES / 2 - 1));
	cr_assert_eq(ring_build(&after, n, NODES - 1), 0);
	moved = moved_copies(&before, &after);
	cr_log_info("leave of one node of %d: %ld copies moved (1/N: %.0f)", NODES, moved, expect);
	cr_assert(moved > expect / 2 && moved < expect * 2, "moved %ld, 1/N is %.0f", moved,
		  expect);
	ring_destroy(&before);
	ring_destroy(&after);
	free(n);
}

Test(ring_scale, zones_hold_and_shares_stay_fair)
{
	struct sd_node *n = calloc(NODES, sizeof(*n));
	long *share = calloc(NODES, sizeof(*share));
	struct placement_ring r;
	double fair = (double)OBJECTS * COPIES / NODES;

	make_nodes(n, NODES, ZONES);
	cr_assert_eq(ring_build(&r, n, NODES), 0);
	for (uint32_t k = 0; k < OBJECTS; k++) {
		int out[COPIES];

		cr_assert_eq(ring_place(&r, vid_to_data_oid(0x1234, k), COPIES, out), COPIES);
		for (int i = 0; i < COPIES; i++) {
			share[out[i]]++;
			for (int j = 0; j < i; j++)
				cr_assert_neq(r.nodes[out[i]].zone, r.nodes[out[j]].zone,
					      "two copies in zone %u", r.nodes[out[i]].zone);
		}
	}
	/* 1000 copies per node on average: the sampling alone spreads them by a few percent. */
	for (int i = 0; i < NODES; i++)
		cr_assert(share[i] > fair * 0.7 && share[i] < fair * 1.3,
			  "node %d holds %ld, fair %.0f", i, share[i], fair);
	ring_destroy(&r);
	free(share);
	free(n);
}
