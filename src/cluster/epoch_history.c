/* Trusting local copies across epochs (epoch_history.h). */
#include "epoch_history.h"

#include <stdlib.h>
#include <string.h>

struct epoch_history *epoch_history_new(const uint32_t *epochs, const uint64_t *applied_ns,
					const struct sd_node *const *members, const int *nr_members,
					int nr, const struct sd_node_id *self)
{
	struct epoch_history *h = calloc(1, sizeof(*h));
	int first = nr > EH_MAX ? nr - EH_MAX : 0;

	if (!h)
		return NULL;
	h->self = *self;
	h->eh = calloc((size_t)(nr - first + 1), sizeof(*h->eh));
	if (!h->eh) {
		free(h);
		return NULL;
	}
	for (int i = first; i < nr; i++) {
		struct eh_epoch *e = &h->eh[h->nr];

		e->epoch = epochs[i];
		e->applied_ns = applied_ns[i];
		if (ring_build(&e->ring, members[i], nr_members[i])) {
			epoch_history_free(h);
			return NULL;
		}
		h->nr++;
	}
	return h;
}

void epoch_history_free(struct epoch_history *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nr; i++)
		ring_destroy(&h->eh[i].ring);
	free(h->eh);
	free(h);
}

uint32_t eh_epoch_at(const struct epoch_history *h, uint64_t t_ns)
{
	for (int i = h->nr - 1; i >= 0; i--)
		if (h->eh[i].applied_ns <= t_ns)
			return h->eh[i].epoch;
	return 0;
}

static bool holds(const struct eh_epoch *e, const struct sd_node_id *nid, uint64_t oid, int copies)
{
	int idx[32], n;

	if (copies > 32)
		copies = 32;
	n = ring_place(&e->ring, oid, copies, idx);
	for (int i = 0; i < n; i++)
		if (!node_id_cmp(&e->ring.nodes[idx[i]].nid, nid))
			return true;
	return false;
}

bool eh_held_since(const struct epoch_history *h, uint64_t oid, int copies, uint32_t from)
{
	bool seen = false;

	if (!from)
		return false;
	for (int i = 0; i < h->nr; i++) {
		if (h->eh[i].epoch < from)
			continue;
		if (h->eh[i].epoch == from)
			seen = true;
		if (!holds(&h->eh[i], &h->self, oid, copies))
			return false;
	}
	/* `from` fell out of the window: nothing says what happened since. */
	return seen;
}

bool eh_current_as_of_last(const struct epoch_history *h, uint64_t oid, int copies, uint32_t from)
{
	bool seen = false, held_last = false, gap = false;

	if (!from)
		return false;
	for (int i = 0; i < h->nr; i++) {
		bool held;

		if (h->eh[i].epoch < from)
			continue;
		held = holds(&h->eh[i], &h->self, oid, copies);
		if (h->eh[i].epoch == from) {
			seen = true;
			if (!held)
				return false;
		} else if (held && !held_last) {
			gap = true; /* held again after not holding it: writes were missed */
		}
		held_last = held;
	}
	return seen && !gap;
}

static bool is_member(const struct eh_epoch *e, const struct sd_node_id *nid)
{
	for (int i = 0; i < e->ring.nr_nodes; i++)
		if (!node_id_cmp(&e->ring.nodes[i].nid, nid))
			return true;
	return false;
}

int eh_pull_sources(const struct epoch_history *h, uint64_t oid, int copies, struct sd_node_id *out,
		    int max)
{
	const struct eh_epoch *latest;
	int n = 0, idx[32];

	if (!h->nr)
		return 0;
	latest = &h->eh[h->nr - 1];
	if (copies > 32)
		copies = 32;
	/* The latest epoch's other holders first: they have every write of this epoch. */
	for (int i = h->nr - 1; i >= 0 && n < max; i--) {
		int k = ring_place(&h->eh[i].ring, oid, copies, idx);

		for (int j = 0; j < k && n < max; j++) {
			const struct sd_node_id *nid = &h->eh[i].ring.nodes[idx[j]].nid;
			bool dup = !node_id_cmp(nid, &h->self) || !is_member(latest, nid);

			for (int d = 0; d < n && !dup; d++)
				dup = !node_id_cmp(&out[d], nid);
			if (!dup)
				out[n++] = *nid;
		}
	}
	return n;
}
