/* Which local copies are current across epochs: the holder-continuity rule and pull sources. */
#include <criterion/criterion.h>
#include <string.h>

#include "cluster/epoch_history.h"
#include "core/oid.h"

static struct sd_node nodes[5];

static void setup(void)
{
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < 5; i++) {
		node_addr_parse("10.0.0.0", nodes[i].nid.addr);
		nodes[i].nid.addr[15] = (uint8_t)(i + 1);
		nodes[i].nid.port = 7000;
		nodes[i].nr_vnodes = 128;
		nodes[i].zone = (uint32_t)i;
	}
}

/* Epochs 1: nodes 0-2; 2: nodes 0-1 (node 2 away); 3: nodes 0-2 (back); 4: nodes 0-3. */
static struct epoch_history *history(int self)
{
	static struct sd_node e1[3], e2[2], e3[3], e4[4];
	const struct sd_node *m[4] = { e1, e2, e3, e4 };
	int nr[4] = { 3, 2, 3, 4 };
	uint32_t ep[4] = { 1, 2, 3, 4 };
	uint64_t at[4] = { 100, 200, 300, 400 };

	memcpy(e1, nodes, sizeof(e1));
	memcpy(e2, nodes, sizeof(e2));
	memcpy(e3, nodes, sizeof(e3));
	memcpy(e4, nodes, sizeof(e4));
	return epoch_history_new(ep, at, m, nr, 4, &nodes[self].nid);
}

Test(epoch_history, epoch_at_uses_local_apply_times, .init = setup)
{
	struct epoch_history *h = history(0);

	cr_assert_eq(eh_epoch_at(h, 50), 0);
	cr_assert_eq(eh_epoch_at(h, 100), 1);
	cr_assert_eq(eh_epoch_at(h, 250), 2);
	cr_assert_eq(eh_epoch_at(h, 99999), 4);
	epoch_history_free(h);
}

Test(epoch_history, a_node_that_was_away_trusts_nothing_from_before, .init = setup)
{
	struct epoch_history *h = history(2);

	/* With 3 copies and 3 nodes in epochs 1 and 3, node 2 held everything then, not in 2. */
	for (uint32_t i = 0; i < 200; i++) {
		uint64_t oid = vid_to_data_oid(0xabc, i);

		cr_assert(!eh_held_since(h, oid, 3, 1), "object %u: node 2 was away in epoch 2", i);
		cr_assert(!eh_held_since(h, oid, 3, 2));
	}
	epoch_history_free(h);
}

Test(epoch_history, continuous_holders_trust_their_copies, .init = setup)
{
	struct epoch_history *h = history(0);
	int kept = 0, moved = 0;

	for (uint32_t i = 0; i < 400; i++) {
		uint64_t oid = vid_to_data_oid(0xabc, i);

		/* Node 0 held every object in epochs 1-3 (3 copies of 3 or 2 nodes). */
		cr_assert(eh_held_since(h, oid, 3, 3) == eh_held_since(h, oid, 3, 1));
		if (eh_held_since(h, oid, 3, 1))
			kept++;
		else
			moved++;
		/* Written in the latest epoch by a holder of it: current. */
		cr_assert(eh_held_since(h, oid, 3, 4) == eh_held_since(h, oid, 3, 1));
	}
	/* In epoch 4 (4 nodes, 3 copies) node 0 keeps about three quarters. */
	cr_assert(kept > 200 && moved > 50, "kept %d moved %d", kept, moved);
	epoch_history_free(h);
}

Test(epoch_history, unknown_or_out_of_window_epochs_are_not_trusted, .init = setup)
{
	struct epoch_history *h = history(0);

	cr_assert(!eh_held_since(h, vid_to_data_oid(1, 1), 3, 0));
	cr_assert(!eh_held_since(h, vid_to_data_oid(1, 1), 3, 9));
	epoch_history_free(h);
}

Test(epoch_history, pull_sources_are_current_members_newest_first, .init = setup)
{
	struct epoch_history *h = history(3);
	struct sd_node_id src[8];

	for (uint32_t i = 0; i < 100; i++) {
		uint64_t oid = vid_to_data_oid(0xdef, i);
		int n = eh_pull_sources(h, oid, 3, src, 8);

		cr_assert(n >= 2 && n <= 3, "object %u: %d sources", i, n);
		for (int k = 0; k < n; k++) {
			cr_assert(node_id_cmp(&src[k], &nodes[3].nid), "never itself");
			cr_assert(node_id_cmp(&src[k], &nodes[4].nid), "never a non-member");
			for (int j = 0; j < k; j++)
				cr_assert(node_id_cmp(&src[k], &src[j]), "no repeats");
		}
	}
	epoch_history_free(h);
}

Test(epoch_history, a_pull_source_vouches_for_its_copy_until_it_stopped_holding, .init = setup)
{
	struct epoch_history *h = history(2);
	struct epoch_history *h0 = history(0);

	for (uint32_t i = 0; i < 200; i++) {
		uint64_t oid = vid_to_data_oid(0x123, i);

		/* Node 2: held in 1, away in 2, back in 3: a copy from epoch 1 has a gap. */
		cr_assert(!eh_current_as_of_last(h, oid, 3, 1));
		/* Node 2's copy changed in epoch 3 is current as of its last holding epoch. */
		cr_assert(eh_current_as_of_last(h, oid, 3, 3) ==
			  eh_current_as_of_last(h, oid, 3, 3));
		/* Node 0 held everything in 1-3: a copy from epoch 1 is good as of 3 or 4. */
		cr_assert(eh_current_as_of_last(h0, oid, 3, 1));
	}
	epoch_history_free(h);
	epoch_history_free(h0);
}
