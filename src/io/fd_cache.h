/*
 * A shard's cache of open object files, keyed by (oid, EC index). Entries are reference counted
 * while an operation uses the descriptor, so eviction never closes a file that an in-flight
 * io_uring operation still names. Owned by one shard; never touched by another thread.
 */
#ifndef SD_FD_CACHE_H
#define SD_FD_CACHE_H

#include <stdbool.h>
#include <stdint.h>

struct shard;
struct fd_cache;

struct fd_entry {
	uint64_t oid;
	int ec_index;
	int fd;
	int refs;
	bool dirty;    /* written without a sync since the last flush */
	bool detached; /* dropped while in use: closed and freed by the last put */
	struct fd_entry *hnext;
	struct fd_entry *lru_prev, *lru_next;
};

struct fd_cache *fd_cache_create(int capacity);
/* Closes every descriptor (through the shard's ring when s is given) and frees the cache. */
void fd_cache_destroy(struct fd_cache *c, struct shard *s);

/* Looks up and references an entry, or returns NULL. */
struct fd_entry *fd_cache_get(struct fd_cache *c, uint64_t oid, int ec_index);
/*
 * Inserts a freshly opened fd and returns a referenced entry. If another operation inserted the
 * same object meanwhile, fd is closed and the existing entry is returned. May evict idle entries.
 */
struct fd_entry *fd_cache_insert(struct fd_cache *c, struct shard *s, uint64_t oid, int ec_index,
				 int fd);
void fd_cache_put(struct fd_cache *c, struct fd_entry *e);
/*
 * Forgets the object's descriptor (before removing or recreating the file). Returns false if it
 * is still in use, unless detach is set: then the entry leaves the cache at once and its last user
 * closes it (removing a file that an operation still reads is fine; truncating it is not).
 */
bool fd_cache_drop(struct fd_cache *c, struct shard *s, uint64_t oid, int ec_index, bool detach);
/* Closes up to n idle descriptors, least recently used first (on EMFILE). Returns how many. */
int fd_cache_evict_idle(struct fd_cache *c, struct shard *s, int n);
/* Closes every idle descriptor (after a format). */
void fd_cache_clear(struct fd_cache *c, struct shard *s);
/* Calls fn on every dirty entry. */
void fd_cache_for_each_dirty(struct fd_cache *c, void (*fn)(struct fd_entry *e, void *arg),
			     void *arg);

#endif
