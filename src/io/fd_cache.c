/* Hash table plus LRU list of open object descriptors. */
#include "fd_cache.h"

#include <stdlib.h>
#include <unistd.h>

#include "../core/hash.h"
#include "../shard/shard.h"

struct fd_cache {
	int capacity, count;
	unsigned nbuckets;
	struct fd_entry **buckets;
	struct fd_entry lru; /* sentinel: lru.lru_next is the most recently used */
};

static unsigned bucket_of(const struct fd_cache *c, uint64_t oid, int ec_index)
{
	return (unsigned)(sd_hash_oid(oid ^ (uint64_t)ec_index) & (c->nbuckets - 1));
}

static void lru_unlink(struct fd_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front(struct fd_cache *c, struct fd_entry *e)
{
	e->lru_next = c->lru.lru_next;
	e->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static void close_fd(struct shard *s, int fd)
{
	if (s) {
		struct io_uring_sqe *sqe = shard_get_sqe(s);

		io_uring_prep_close(sqe, fd);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		close(fd);
	}
}

struct fd_cache *fd_cache_create(int capacity)
{
	struct fd_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->capacity = capacity;
	c->nbuckets = 1;
	while (c->nbuckets < (unsigned)capacity * 2)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return c;
}

static void remove_entry(struct fd_cache *c, struct fd_entry *e)
{
	struct fd_entry **pp = &c->buckets[bucket_of(c, e->oid, e->ec_index)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	c->count--;
}

void fd_cache_destroy(struct fd_cache *c, struct shard *s)
{
	if (!c)
		return;
	(void)s; /* at shut-down the ring is going away: close directly */
	while (c->lru.lru_next != &c->lru) {
		struct fd_entry *e = c->lru.lru_next;

		remove_entry(c, e);
		close(e->fd);
		free(e);
	}
	free(c->buckets);
	free(c);
}

static struct fd_entry *lookup(struct fd_cache *c, uint64_t oid, int ec_index)
{
	for (struct fd_entry *e = c->buckets[bucket_of(c, oid, ec_index)]; e; e = e->hnext)
		if (e->oid == oid && e->ec_index == ec_index)
			return e;
	return NULL;
}

struct fd_entry *fd_cache_get(struct fd_cache *c, uint64_t oid, int ec_index)
{
	struct fd_entry *e = lookup(c, oid, ec_index);

	if (e) {
		e->refs++;
		lru_unlink(e);
		lru_push_front(c, e);
	}
	return e;
}

static void evict(struct fd_cache *c, struct shard *s)
{
	struct fd_entry *e = c->lru.lru_prev;

	/* Dirty entries stay: their data still needs the flush that will sync them. */
	while (c->count > c->capacity && e != &c->lru) {
		struct fd_entry *prev = e->lru_prev;

		if (!e->refs && !e->dirty) {
			remove_entry(c, e);
			close_fd(s, e->fd);
			free(e);
		}
		e = prev;
	}
}

struct fd_entry *fd_cache_insert(struct fd_cache *c, struct shard *s, uint64_t oid, int ec_index,
				 int fd)
{
	struct fd_entry *e = fd_cache_get(c, oid, ec_index);
	unsigned b;

	if (e) {
		close_fd(s, fd);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		close_fd(s, fd);
		return NULL;
	}
	e->oid = oid;
	e->ec_index = ec_index;
	e->fd = fd;
	e->refs = 1;
	b = bucket_of(c, oid, ec_index);
	e->hnext = c->buckets[b];
	c->buckets[b] = e;
	lru_push_front(c, e);
	c->count++;
	evict(c, s);
	return e;
}

void fd_cache_put(struct fd_cache *c, struct fd_entry *e)
{
	(void)c;
	if (--e->refs == 0 && e->detached) {
		close(e->fd);
		free(e);
	}
}

bool fd_cache_drop(struct fd_cache *c, struct shard *s, uint64_t oid, int ec_index, bool detach)
{
	struct fd_entry *e = lookup(c, oid, ec_index);

	if (!e)
		return true;
	if (e->refs && !detach)
		return false;
	if (e->refs) {
		remove_entry(c, e);
		e->detached = true;
		return true;
	}
	remove_entry(c, e);
	close_fd(s, e->fd);
	free(e);
	return true;
}

void fd_cache_for_each_dirty(struct fd_cache *c, void (*fn)(struct fd_entry *e, void *arg),
			     void *arg)
{
	for (struct fd_entry *e = c->lru.lru_next; e != &c->lru; e = e->lru_next)
		if (e->dirty)
			fn(e, arg);
}

void fd_cache_clear(struct fd_cache *c, struct shard *s)
{
	struct fd_entry *e = c->lru.lru_next;

	while (e != &c->lru) {
		struct fd_entry *next = e->lru_next;

		if (!e->refs) {
			remove_entry(c, e);
			close_fd(s, e->fd);
			free(e);
		}
		e = next;
	}
}

int fd_cache_evict_idle(struct fd_cache *c, struct shard *s, int n)
{
	struct fd_entry *e = c->lru.lru_prev;
	int closed = 0;

	while (closed < n && e != &c->lru) {
		struct fd_entry *prev = e->lru_prev;

		if (!e->refs && !e->dirty) {
			remove_entry(c, e);
			close_fd(s, e->fd);
			free(e);
			closed++;
		}
		e = prev;
	}
	return closed;
}
