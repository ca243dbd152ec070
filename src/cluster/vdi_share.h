/*
 * What the shards may see of a VDI: its identity, its current size, and its *published* data
 * map, which holds only entries that are already durable on disk. The control thread owns the
 * VDI table and is the only writer of these; shards read them without locks.
 *
 * - A share is reference counted (atomically): the export table holds one reference, and every
 *   frontend connection bound to the VDI holds one, so a delete never frees it under a reader.
 * - The published map is a fixed mapping large enough for the largest VDI, so it never moves when
 *   the VDI grows; untouched pages cost nothing. Entries are 32-bit atomic stores and loads.
 * - The export table (name -> share) is an immutable snapshot. The control thread builds a new
 *   one whenever VDIs appear or disappear and sends it to every shard; the old one is freed by
 *   whoever drops its last reference.
 */
#ifndef SD_VDI_SHARE_H
#define SD_VDI_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/constants.h"

struct vdi;

struct vdi_share {
	uint32_t vid;
	uint8_t obj_shift;
	uint8_t copies; /* atomic: replicas of each object, the placement's */
	/* Atomic: dog vdi alter-copy changed the copies in this epoch (0: never), from these. */
	uint32_t copies_epoch;
	uint8_t prev_copies;
	bool read_only;		       /* a snapshot */
	char name[SD_MAX_VDI_LEN * 2]; /* the export name: "name", or "name@tag" for a snapshot */
	char vdi_name[SD_MAX_VDI_LEN]; /* the VDI's name alone */
	uint64_t size;		       /* atomic: grows on resize */
	uint8_t deleted;	       /* atomic: set once the VDI is deleted */
	uint32_t snap_id;
	/*
	 * Atomic: set when a snapshot made this working VDI read-only and gave its name to a new
	 * VDI with this id. Connections bound to it move there, in between requests.
	 */
	uint32_t successor;
	uint32_t *map; /* SD_INODE_DATA_INDEX entries, atomic */
	int refs;      /* atomic */
	/*
	 * sdcluster's write lease (vdi_lease.h), all atomic. writer: the holder's raft id (0:
	 * none), set by the control thread. On the holder: seq_inflight counts the writes its
	 * shards are ordering, seq_last_ms when one last started; releasing (set by the control
	 * thread before it gives the lease up) makes shards refuse new ones; lease_wanted: a
	 * shard has asked the control thread for the lease.
	 */
	uint64_t writer;
	int seq_inflight;
	/* VDI lock (vdi_lock.h), atomic: the holder's raft id, shareable, set by the control
	 * thread; rw_conns: this node's read-write NBD connections to it, set by the shards. */
	uint64_t lock_holder;
	uint8_t shareable;
	int rw_conns;
	uint64_t seq_last_ms;
	uint8_t releasing, lease_wanted;
};

struct export_table {
	int refs; /* atomic */
	int nr;
	struct vdi_share **e;	   /* sorted by name; each holds a reference */
	struct vdi_share **by_vid; /* the same shares sorted by id (no references of their own) */
};

/* Control thread: creates the share of a VDI, with its current (durable) map. NULL: no memory. */
struct vdi_share *vdi_share_new(const struct vdi *v);
void vdi_share_get(struct vdi_share *sh);
void vdi_share_put(struct vdi_share *sh);

static inline uint64_t vdi_share_size(const struct vdi_share *sh)
{
	return __atomic_load_n(&sh->size, __ATOMIC_ACQUIRE);
}

static inline bool vdi_share_deleted(const struct vdi_share *sh)
{
	return __atomic_load_n(&sh->deleted, __ATOMIC_ACQUIRE);
}

/* The durable map entry of object idx (0: unallocated). */
static inline uint32_t vdi_share_entry(const struct vdi_share *sh, uint32_t idx)
{
	return __atomic_load_n(&sh->map[idx], __ATOMIC_ACQUIRE);
}

/* Control thread: map[first..last] of v just became durable; shards may now rely on it. */
void vdi_share_publish_map(const struct vdi *v, uint32_t first, uint32_t last);

/*
 * Control thread: builds the export table from the VDI table and installs it on every shard.
 * Called after start-up and whenever a VDI is created or deleted. Returns 0 or -ENOMEM.
 */
int export_table_publish(void);
/*
 * Run on every shard once a snapshot gave a working VDI's name to a new VDI (its old share's
 * successor is set): the frontends move their connections over now, so that what they count
 * (the lock's clients, vdi_lock.h) is on the new VDI at once. NULL: no frontend.
 */
extern void (*export_moved_hook)(void *arg);
/* Control thread: runs the hook on every shard and waits. */
void export_table_moved(void);

/* Control thread, at shut-down: every shard drops its table. */
void export_table_retire(void);

/* The calling shard's current table (never NULL once published), and lookups in it. */
const struct export_table *export_table_current(void);
struct vdi_share *export_table_find(const struct export_table *t, const char *name);
void export_table_put(struct export_table *t);
/* The share with id vid, or NULL (the primary holder learns a VDI's copies from it). */
struct vdi_share *export_table_find_vid(const struct export_table *t, uint32_t vid);

#endif
