/*
 * The placement ring: every storing node has nr_vnodes points on a 64-bit hash circle; an object
 * goes to the node of the first point at or after its hash, and each further copy to the next
 * point whose node is in a zone not chosen yet. Deterministic from the node list alone (the
 * nodes are sorted first).
 *
 * Unlike the original, each vnode is drawn as RING_POINTS_PER_VNODE points on the circle: with
 * 128 single points per node a node's share of the objects strays by up to 20% from its fair
 * share; with 16 points per vnode it stays within about 4% (docs/placement.md). A node's vnode
 * count keeps its meaning as a weight.
 */
#ifndef SD_RING_H
#define SD_RING_H

#include <stdint.h>

#include "node.h"

#define RING_POINTS_PER_VNODE 16

struct vnode {
	uint64_t hash;
	uint32_t node; /* index into ring->nodes */
};

struct placement_ring {
	int nr_nodes;
	struct sd_node *nodes; /* sorted by node_id_cmp; owned */
	int nr_vnodes;
	struct vnode *vnodes; /* sorted by hash; owned */
	int nr_zones;	      /* distinct zones among nodes that have vnodes */
};

/* Builds the ring from a copy of nodes. Returns 0 or -ENOMEM / -EINVAL. */
int ring_build(struct placement_ring *ring, const struct sd_node *nodes, int nr_nodes);
void ring_destroy(struct placement_ring *ring);

/*
 * Chooses up to `copies` nodes for oid, in copy (or EC strip) order, never two in one zone.
 * Writes node indexes into out[] and returns how many were chosen: min(copies, nr_zones).
 */
int ring_place(const struct placement_ring *ring, uint64_t oid, int copies, int *out);

/* Hash of a node's identity: the seed of its vnode chain. */
uint64_t ring_node_hash(const struct sd_node_id *nid);

#endif
