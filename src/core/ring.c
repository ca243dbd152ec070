/* Consistent-hash placement with virtual nodes and zone separation. */
#include "ring.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "constants.h"
#include "hash.h"

uint64_t ring_node_hash(const struct sd_node_id *nid)
{
	uint8_t buf[18];

	memcpy(buf, nid->addr, 16);
	put_le16(buf + 16, nid->port);
	return sd_hash(buf, sizeof(buf));
}

static int cmp_node(const void *a, const void *b)
{
	return node_id_cmp(&((const struct sd_node *)a)->nid, &((const struct sd_node *)b)->nid);
}

static int cmp_vnode(const void *a, const void *b)
{
	const struct vnode *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

int ring_build(struct placement_ring *ring, const struct sd_node *nodes, int nr_nodes)
{
	int total = 0, v = 0;

	memset(ring, 0, sizeof(*ring));
	if (nr_nodes < 0 || nr_nodes > SD_MAX_NODES)
		return -EINVAL;
	ring->nodes = calloc((size_t)nr_nodes + 1, sizeof(*ring->nodes));
	if (!ring->nodes)
		return -ENOMEM;
	if (nr_nodes)
		memcpy(ring->nodes, nodes, sizeof(*nodes) * (size_t)nr_nodes);
	qsort(ring->nodes, (size_t)nr_nodes, sizeof(*nodes), cmp_node);
	ring->nr_nodes = nr_nodes;

	for (int i = 0; i < nr_nodes; i++)
		total += ring->nodes[i].nr_vnodes * RING_POINTS_PER_VNODE;
	ring->vnodes = calloc((size_t)total + 1, sizeof(*ring->vnodes));
	if (!ring->vnodes) {
		ring_destroy(ring);
		return -ENOMEM;
	}
	for (int i = 0; i < nr_nodes; i++) {
		uint64_t h = ring_node_hash(&ring->nodes[i].nid);
		bool zone_seen = false;

		for (int j = 0; j < ring->nodes[i].nr_vnodes * RING_POINTS_PER_VNODE; j++) {
			h = sd_hash_next(h);
			ring->vnodes[v].hash = h;
			ring->vnodes[v].node = (uint32_t)i;
			v++;
		}
		if (!ring->nodes[i].nr_vnodes)
			continue;
		for (int k = 0; k < i; k++)
			if (ring->nodes[k].nr_vnodes && ring->nodes[k].zone == ring->nodes[i].zone)
				zone_seen = true;
		if (!zone_seen)
			ring->nr_zones++;
	}
	ring->nr_vnodes = total;
	qsort(ring->vnodes, (size_t)total, sizeof(*ring->vnodes), cmp_vnode);
	return 0;
}

void ring_destroy(struct placement_ring *ring)
{
	free(ring->nodes);
	free(ring->vnodes);
	memset(ring, 0, sizeof(*ring));
}

/* Index of the first vnode with hash >= h, wrapping to 0. */
static int first_vnode_at(const struct placement_ring *ring, uint64_t h)
{
	int lo = 0, hi = ring->nr_vnodes;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (ring->vnodes[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == ring->nr_vnodes ? 0 : lo;
}

int ring_place(const struct placement_ring *ring, uint64_t oid, int copies, int *out)
{
	int want = copies < ring->nr_zones ? copies : ring->nr_zones;
	int chosen = 0, start;

	if (want <= 0)
		return 0;
	start = first_vnode_at(ring, sd_hash_oid(oid));
	for (int step = 0; step < ring->nr_vnodes && chosen < want; step++) {
		const struct vnode *vn = &ring->vnodes[(start + step) % ring->nr_vnodes];
		uint32_t zone = ring->nodes[vn->node].zone;
		bool taken = false;

		for (int k = 0; k < chosen; k++)
			if (ring->nodes[out[k]].zone == zone)
				taken = true;
		if (!taken)
			out[chosen++] = (int)vn->node;
	}
	return chosen;
}
