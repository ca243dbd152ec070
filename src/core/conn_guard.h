/*
 * What a client may make sheep hold, and for how long: one mechanism for every port (NBD, the dog
 * control port, and the peer port of the cluster). A server embeds a `conn_guard` in each
 * connection and keeps one `guard_pool` per thread that owns connections (each shard for NBD, the
 * control thread for dog). The guard is pure bookkeeping: it does no I/O and reads no clock; the
 * server tells it what happened and when, and acts on its answers.
 *
 * - Memory: every byte a connection holds on the client's behalf (a request's payload, a READ's
 *   buffer, a queued reply) is charged to the connection and to its pool. Before a server reads
 *   the next request it asks guard_may_take(); on "no" it stops reading from that connection. A
 *   connection over its own budget resumes when its own replies drain; one that the pool's budget
 *   stopped waits in the pool's queue and is resumed, in order, as others release memory. So one
 *   connection holds at most max(conn_mem, floor + one request), and a pool at most
 *   max(pool_mem, one request) + max_conns * GUARD_FLOOR however many connections add up. The floor
 * keeps small requests (an admin's dog, a guest's 4 KiB I/O) moving while large ones wait their
 * turn.
 * - Time: a handshake must end, a request that has started to arrive must arrive whole, and
 *   queued output must make progress, each within its deadline; guard_sweep() (once a second)
 *   expires the connections that missed one. Time the server itself spends not reading (a paused
 *   connection) does not count against the client.
 * - Connections: a pool holds at most max_conns. When it is full, the connection that has gone
 *   longest without completing anything (a request, a handshake), among those the server marked
 *   evictable, makes room for the new one: a flood of half-open connections cannot lock out an
 *   admin. (Servers accept in small batches and read their connections between batches, so that
 *   a flood of new connections cannot evict one just accepted before its request is read.)
 */
#ifndef SD_CONN_GUARD_H
#define SD_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bounds, set once at start-up (sheep --limits) and read by every thread. */
struct conn_limits {
	uint64_t conn_mem;     /* bytes one connection may hold */
	uint64_t pool_mem;     /* bytes all connections of one pool may hold */
	uint32_t nbd_conns;    /* NBD connections in all (each shard takes its share) */
	uint32_t ctl_conns;    /* control connections */
	uint32_t handshake_ms; /* accept to the end of the NBD handshake */
	uint32_t request_ms;   /* first byte of a request to its last payload byte */
	uint32_t reply_ms;     /* queued output without progress */
};

#define CONN_LIMITS_DEFAULT                                                                        \
	{                                                                                          \
		.conn_mem = 64u << 20, .pool_mem = 256u << 20, .nbd_conns = 1024,                  \
		.ctl_conns = 256, .handshake_ms = 10000, .request_ms = 30000, .reply_ms = 30000,   \
	}

/*
 * Parses "key=value[,key=value...]" (keys: conn-mem, shard-mem, nbd-conns, ctl-conns,
 * handshake, request, reply; sizes take K/M/G suffixes, times are seconds) into lim, which holds
 * the defaults to start from. Returns 0, or -EINVAL with the reason in err.
 */
int conn_limits_parse(const char *s, struct conn_limits *lim, char *err, size_t errlen);

/* What every connection may hold whatever the pool holds. */
#define GUARD_FLOOR (64u << 10)

struct guard_pool;

struct conn_guard {
	struct guard_pool *pool;	/* set by guard_add, kept after guard_remove */
	struct conn_guard *prev, *next; /* pool->conns, least recently served first */
	struct conn_guard *wait_next;	/* pool->waiters */
	uint64_t held;			/* bytes charged */
	uint64_t handshake_start;	/* 0: no handshake deadline (or done) */
	uint64_t rx_start;		/* 0: no request partly received */
	uint64_t tx_start;		/* 0: no output waiting; else since the last progress */
	bool evictable;			/* may make room for a new connection */
	bool waiting;			/* in pool->waiters */
	bool listed;			/* in pool->conns: between guard_add and guard_remove */
	int unsent;			/* guard_tx_unsent's last value */
};

/* Called from guard_release and guard_sweep: neither may close another connection at once. */
struct guard_pool_ops {
	/* The pool has room again for g, which waited: the server resumes reading from it. */
	void (*resume)(struct conn_guard *g);
	/* g missed a deadline: the server closes it (and calls guard_remove) and logs why. */
	void (*expire)(struct conn_guard *g, const char *why);
};

struct guard_pool {
	const struct conn_limits *lim;
	const struct guard_pool_ops *ops;
	uint32_t max_conns;
	uint32_t nr;	     /* connections in the pool */
	uint64_t held;	     /* bytes charged by them, and by closed ones not yet freed */
	uint32_t over_floor; /* connections holding more than GUARD_FLOOR */
	uint64_t now;	     /* milliseconds, as of the server's last guard_set_time */
	struct conn_guard *conns, *conns_tail;
	struct conn_guard *waiters, *waiters_tail;
	/* Since the last sweep: connections refused because the pool was full, and evicted. */
	uint64_t refused, evicted;
};

void guard_pool_init(struct guard_pool *p, const struct conn_limits *lim, uint32_t max_conns,
		     const struct guard_pool_ops *ops);
/* The clock deadlines are measured in: milliseconds, monotonic, cheap (coarse, a few ms). */
uint64_t guard_clock_ms(void);
/* Milliseconds of guard_clock_ms; deadlines are measured against the last value set. */
void guard_set_time(struct guard_pool *p, uint64_t now_ms);

/*
 * Before adding a connection: returns 0 when there is room, 1 with *victim set when the pool is
 * full and *victim must be closed (and removed) first, or -EBUSY when it is full and nothing may
 * go (the new connection is refused; counted in p->refused).
 */
int guard_make_room(struct guard_pool *p, struct conn_guard **victim);
/* A new connection; its handshake deadline starts now when handshake is set. */
void guard_add(struct guard_pool *p, struct conn_guard *g, bool evictable, bool handshake);
/* The connection closes: it leaves the list and the queue; what it holds stays charged. */
void guard_remove(struct conn_guard *g);

/* Whether g may take bytes more now: within its own budget, and within the pool's. */
bool guard_may_take(const struct conn_guard *g, uint64_t bytes);
/*
 * Like guard_may_take, and when the pool's budget says no, queues g to be resumed (ops->resume)
 * once others have released enough. Returns true if g may take the bytes now.
 */
bool guard_admit(struct conn_guard *g, uint64_t bytes);
void guard_charge(struct conn_guard *g, uint64_t bytes);
/* Releases bytes; waiting connections are resumed while the pool has room. */
void guard_release(struct conn_guard *g, uint64_t bytes);

/* The handshake ended: no more handshake deadline, and the connection counts as served. */
void guard_handshake_done(struct conn_guard *g, bool evictable);
/* A request completed: the connection moves to the most recently served end. */
void guard_served(struct conn_guard *g);
/*
 * Input state after the server has parsed what it has: partial is true while a request has
 * started to arrive but is not whole (header bytes, or payload still to come). Call it after each
 * request received whole (completed = true) so that the next one's clock starts afresh, and with
 * reading = false while the server does not read (its own pause), which stops the clock.
 */
void guard_rx(struct conn_guard *g, bool partial, bool completed, bool reading);
/* Output state: pending while output waits to be sent; progressed when bytes were just sent. */
void guard_tx(struct conn_guard *g, bool pending, bool progressed);
/*
 * At each sweep, the bytes the connection's socket still holds unsent (-1: no output pending).
 * A large send completes only once most of it is in the socket, but a client that reads, however
 * slowly, drains the socket meanwhile: a drop since the last call counts as progress.
 */
void guard_tx_unsent(struct conn_guard *g, int unsent);

/*
 * Expires the connections of p that missed a deadline (ops->expire), and says how many
 * connections were refused and evicted since the previous sweep (a server logs the first
 * eviction of a second and counts the rest: a flood must not flood the log too).
 */
void guard_sweep(struct guard_pool *p, uint64_t *refused, uint64_t *evicted);

#endif
