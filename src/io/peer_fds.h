/*
 * A shard's descriptors for other shards' object files, for the reads and writes it does for a
 * sleeping owner (obj_io.c read_here, write_here). The owner's fd cache is the owner's alone;
 * this small cache per thread saves an open and a close per request (3.3 us on a small VM,
 * against a 1.8 us read).
 *
 * A cached descriptor names an inode, so it must not outlive its object's file: whoever removes
 * or replaces an object file (unlink, rename over it, a wipe of the store) calls
 * obj_files_changed() after doing so and before reporting it done, and every cache stops serving
 * all its descriptors at its next use. A request that follows a removal's acknowledgement
 * therefore opens the path again; one concurrent with it may see either file, as any concurrent
 * request.
 *
 * Written descriptors are dirty: the calling shard's share of a flush syncs them
 * (peer_fds_for_each_dirty), since a flush reaches every shard and the owner does not know of
 * these writes. A dirty descriptor is never closed before its sync, even once stale: its slot
 * then serves nothing until the sync, and writes that map to it go to the owner. So a client
 * that never flushes keeps at most 64 such files open per shard, removed ones included (their
 * space is freed at the next flush).
 */
#ifndef SD_PEER_FDS_H
#define SD_PEER_FDS_H

#include <stdbool.h>
#include <stdint.h>

struct peer_fd {
	uint64_t oid; /* 0: empty */
	int ec, fd;
	bool dirty; /* written since its last sync began */
	bool stale; /* its file may have been removed or replaced: kept only for its sync */
	int syncs;  /* syncs in flight; the descriptor stays open until they end */
};

/* Object files were removed or replaced: every thread's cached descriptors are stale. */
void obj_files_changed(void);

/*
 * A descriptor for the file of object oid (EC index ec) in store st, cached on the calling
 * thread: read-only for reads, read-write (from a cache of its own) for writes; or -errno:
 * -ENOENT for no object, -EAGAIN when opening it would wait for the disk, -EBUSY when its write
 * cache slot holds another descriptor still to be synced. The caller must not close it and must
 * not keep it past its current request; after writing through it, it calls peer_fd_written.
 */
struct store_layout;
int peer_fd_get(const struct store_layout *st, uint64_t oid, int ec, bool write);

/* The descriptor peer_fd_get just returned for (oid, ec) was written: the next flush syncs it. */
void peer_fd_written(uint64_t oid, int ec);

/*
 * For a flush: calls fn on each dirty descriptor of the calling thread, which is clean again
 * and counted as syncing; fn starts its sync, and peer_fd_synced(p, res) reports the outcome (a
 * failure makes it dirty again).
 */
void peer_fds_for_each_dirty(void (*fn)(struct peer_fd *p, void *arg), void *arg);
void peer_fd_synced(struct peer_fd *p, int res);

/* How many descriptors of the calling thread wait for a sync (tests). */
int peer_fds_dirty(void);

/* Closes the calling thread's descriptors (at thread exit, no request in flight). */
void peer_fds_drain(void);

#endif
