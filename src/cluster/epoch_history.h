/*
 * Which copies of an object can be trusted after membership changes (docs/cluster-design.md,
 * "Stale copies"). A write is acknowledged only when every holder of its epoch has it, and a
 * holder applies a write only to a copy it knows is current. So a local copy last modified
 * during epoch F is current now if this node was a holder of the object in every epoch from F
 * to the latest: it then received every write acknowledged since. Otherwise (it was away, or the
 * object moved off it and back) the copy may be stale and must be pulled from a current holder
 * before it is served or partly written.
 *
 * The epoch a modification belongs to comes from the file's mtime and the local clock time at
 * which this node applied each epoch (kept in DIR/epoch-times, so that a restart does not make
 * old files look new). The history keeps the rings of the last EH_MAX epochs; a copy older than
 * that is treated as stale (pulled again), which is slow but never wrong.
 *
 * Immutable once built; published to the shards with the cluster view. Pure functions.
 */
#ifndef SD_EPOCH_HISTORY_H
#define SD_EPOCH_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/node.h"
#include "../core/ring.h"

#define EH_MAX 64

struct eh_epoch {
	uint32_t epoch;
	uint64_t applied_ns; /* CLOCK_REALTIME when this node applied it */
	struct placement_ring ring;
};

struct epoch_history {
	int nr;		     /* oldest first; eh[nr - 1] is the latest */
	struct eh_epoch *eh; /* owned */
	struct sd_node_id self;
};

/*
 * Builds a history from nr epochs (oldest first): their numbers, local apply times and member
 * lists. Keeps the last EH_MAX. Returns NULL without memory.
 */
struct epoch_history *epoch_history_new(const uint32_t *epochs, const uint64_t *applied_ns,
					const struct sd_node *const *members, const int *nr_members,
					int nr, const struct sd_node_id *self);
void epoch_history_free(struct epoch_history *h);

/* The epoch this node was in at time t_ns: the latest applied at or before it; 0 if unknown. */
uint32_t eh_epoch_at(const struct epoch_history *h, uint64_t t_ns);

/* Whether this node was among the copies holders of oid in every epoch from `from` on. */
bool eh_held_since(const struct epoch_history *h, uint64_t oid, int copies, uint32_t from);

/*
 * For a node asked for its copy (a pull): whether the copy, last changed in epoch `from`, is
 * current as of the last epoch this node held the object: it held it in every epoch from `from`
 * to that one, and never again after a gap. The puller asks the holders of the newest epochs
 * first, so such a copy has every write acknowledged until the holders changed.
 */
bool eh_current_as_of_last(const struct epoch_history *h, uint64_t oid, int copies, uint32_t from);

/*
 * Nodes that may hold a current copy of oid, best first: the holders of the epochs before the
 * latest, newest epoch first, that are members of the latest epoch, without this node and
 * without repeats. Writes up to max node ids into out; returns how many.
 */
int eh_pull_sources(const struct epoch_history *h, uint64_t oid, int copies, struct sd_node_id *out,
		    int max);

#endif
