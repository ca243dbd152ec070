/*
 * Shards: one pinned thread per core, each with its own io_uring ring, doing all of its I/O
 * through it. Shard i is mesh thread i; it owns the objects with sd_hash_oid(oid) % nr_shards == i
 * and every piece of state about them. Other threads reach a shard only by message.
 *
 * The loop: run inbound messages, reap completions, submit what was prepared (one submit per
 * pass); when a pass finds nothing to do, spin for a short while (a cross-core wake-up costs tens
 * of microseconds on small VMs), then sleep in the kernel until a completion or a wake-up.
 */
#ifndef SD_SHARD_H
#define SD_SHARD_H

#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/hash.h"
#include "msg.h"
#include "shard_spin.h"

#define SD_MAX_SHARDS (SD_MAX_THREADS - 1)

/* A pending io_uring operation: its completion calls cb with the CQE's result. */
struct uop {
	void (*cb)(struct uop *op, int res);
};

struct store_layout;
struct fd_cache;

/*
 * Work to run once at the end of the current loop pass, just before the ring is submitted: a
 * frontend queues its connections here to send all replies of a pass in one operation.
 */
struct shard_defer {
	void (*fn)(struct shard_defer *d);
	struct shard_defer *next;
	bool queued;
};

struct shard {
	int id;
	int cpu; /* -1: not pinned */
	pthread_t tid;
	struct io_uring ring;
	unsigned to_submit; /* SQEs prepared since the last submit */
	bool stop;
	uint64_t efd_value;
	struct uop efd_uop;
	const struct store_layout *store; /* the shard's current view, switched by message */
	struct fd_cache *fdc;
	int fd_cache_cap;
	struct shard_spin spin;
	struct shard_defer *deferred; /* run before the next submit, then cleared */
	/* counters, written by the shard only (the ..._for_others ones read by any thread) */
	uint64_t nr_ops, nr_sleeps, nr_lone_reads, nr_lone_writes;
	uint64_t nr_reads_for_others, nr_writes_for_others;
};

/*
 * Starts nr shards (mesh threads 0..nr-1), pinned to CPUs in order when pin is set, each caching
 * up to fd_cache_cap open object files. The mesh must have been set up with at least nr + 1
 * threads. Returns 0 or -errno with a message logged.
 */
int shards_start(int nr, bool pin, const struct store_layout *store, int fd_cache_cap);
/* Stops and joins every shard; callable from the control thread. */
void shards_stop(void);
int shard_count(void);
/* How many reads and writes shard id has done for other shards (obj_io.c read_here,
 * write_here); any thread. */
uint64_t shard_reads_for_others(int id);
uint64_t shard_writes_for_others(int id);
/* The calling shard, or NULL when called from a thread that is not a shard. */
struct shard *shard_self(void);

static inline int shard_of_oid(uint64_t oid, int nr_shards)
{
	return (int)(sd_hash_oid(oid) % (uint64_t)nr_shards);
}

/* Queues d to run at the end of this pass (once, however often it is queued). */
static inline void shard_defer(struct shard *s, struct shard_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = s->deferred;
	s->deferred = d;
}

/*
 * A one-shot timer on the calling shard's ring: fn runs on the shard ms milliseconds after
 * shard_timer_start (a timer already running is left alone). The shard's ring owns the pending
 * timeout, so the timer must stay valid until it has fired or the shard has stopped.
 */
struct shard_timer {
	struct uop uop;
	struct __kernel_timespec ts;
	bool armed;
	void (*fn)(struct shard_timer *t);
};

void shard_timer_start(struct shard_timer *t, uint32_t ms);

/* An SQE of the calling shard's ring; submits to make room when the ring is full. */
struct io_uring_sqe *shard_get_sqe(struct shard *s);
/* Set before shards_start: each shard runs it as it exits, to free its thread-local state. */
extern void (*shard_exit_hook)(void);
/*
 * Submits what is queued on the ring now instead of at the end of the loop pass: before work
 * that blocks the shard (an inline pwrite), so that sends queued first are already under way.
 */
void shard_submit_now(struct shard *s);

/*
 * Checks that this kernel's io_uring has every operation sheep needs. Returns 0, or -errno with
 * an explanation for the operator written into msg.
 */
int uring_probe(char *msg, size_t len);

#endif
