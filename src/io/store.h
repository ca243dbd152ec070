/*
 * Object store layouts. `plain`: DIR/obj/<oid>; `tree`: DIR/obj/<vid>/<oid>, which keeps
 * directories small when there are many VDIs. Erasure-coded strips add a _<index> suffix. A
 * layout is immutable once published: the control thread makes a new one (on format) and sends
 * it to every shard.
 */
#ifndef SD_STORE_H
#define SD_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_kind {
	STORE_PLAIN = 0,
	STORE_TREE = 1,
};

/* Inline writes on ext4 go in pieces of this size (store_layout.write_chunk). */
#define STORE_EXT4_WRITE_CHUNK (256u << 10)

struct store_layout {
	enum store_kind kind;
	int objdir_fd; /* DIR/obj, O_DIRECTORY; owned by the layout */
	char objdir[PATH_MAX];
	/*
	 * The filesystem cannot take a buffered write without possibly blocking (no RWF_NOWAIT
	 * support, e.g. ext4), so io_uring would hand every write to a worker thread. Shards then
	 * write whole pages themselves: no read is needed, and a page-cache write costs less than
	 * the worker's wake-up.
	 */
	bool write_inline;
	/*
	 * Inline writes go in pieces of at most this many bytes (0: whole). ext4 (since Linux
	 * 6.16) caches a file in folios as large as the write that created them, and every small
	 * overwrite of a folio then walks all its buffer heads: capping the pieces keeps the folios
	 * that later small writes land in small (docs/nbd-design.md, store_probe_write_chunk).
	 */
	uint32_t write_chunk;
};

/* Returns the kind for "plain" or "tree", or -1. */
int store_kind_parse(const char *name);
const char *store_kind_name(enum store_kind kind);

/* Opens (creating if needed) DIR/obj for a layout. Returns 0 or -errno. */
int store_layout_open(struct store_layout *st, const char *dir, enum store_kind kind);
void store_layout_close(struct store_layout *st);

/* The object's path relative to the objdir. Returns 0 or -ENAMETOOLONG. */
int store_obj_path(enum store_kind kind, uint64_t oid, int ec_index, char *buf, size_t len);
/* For tree: the object's directory relative to the objdir; false for plain (objdir itself). */
bool store_obj_subdir(enum store_kind kind, uint64_t oid, char *buf, size_t len);
/* Parses an object file name ("%016llx" or "%016llx_%d"). Returns 0 or -EINVAL. */
int store_parse_name(const char *name, uint64_t *oid, int *ec_index);

/*
 * Calls fn for every object file in the store (blocking directory scan, for start-up and format
 * on the control thread). Stops and returns fn's value if non-zero.
 */
int store_for_each(const struct store_layout *st, int (*fn)(uint64_t oid, int ec_index, void *arg),
		   void *arg);

/* Removes every object (and tree subdirectory) of the store; for `dog cluster format`. */
int store_wipe(const struct store_layout *st);

#endif
