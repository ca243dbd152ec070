/*
 * A shard's descriptors for other shards' object files, for the reads it does for a sleeping
 * owner (obj_io.c read_here). The owner's fd cache is the owner's alone; this small cache per
 * thread saves an open and a close per read (3.3 us on a small VM, against a 1.8 us read).
 *
 * A cached descriptor names an inode, so it must not outlive its object's file: whoever removes
 * or replaces an object file (unlink, rename over it, a wipe of the store) calls
 * obj_files_changed() after doing so and before reporting it done, and every cache drops all
 * its descriptors at its next use. A read that follows a removal's acknowledgement therefore
 * opens the path again; a read concurrent with it may see either file, as any concurrent read.
 */
#ifndef SD_PEER_FDS_H
#define SD_PEER_FDS_H

#include <stdint.h>

/* Object files were removed or replaced: every thread's cached descriptors are stale. */
void obj_files_changed(void);

/*
 * A descriptor, opened read-only, for the file of object oid (EC index ec) in store st, cached
 * on the calling thread; or -errno: -ENOENT for no object, -EAGAIN when opening it would wait
 * for the disk. The caller must not close it and must not keep it past
 * its current read.
 */
struct store_layout;
int peer_fd_get(const struct store_layout *st, uint64_t oid, int ec);

/* Closes the calling thread's cached descriptors (at thread exit). */
void peer_fds_drain(void);

#endif
