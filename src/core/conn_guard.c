/* Memory budgets, deadlines and eviction for client connections (see conn_guard.h). */
#include "conn_guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "size.h"

uint64_t guard_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_uint(const char *v, unsigned long min, unsigned long max, uint32_t *out)
{
	char *end;
	unsigned long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int parse_seconds(const char *v, uint32_t *ms)
{
	uint32_t s;

	if (parse_uint(v, 1, 86400, &s))
		return -EINVAL;
	*ms = s * 1000u;
	return 0;
}

static int parse_mem(const char *v, uint64_t *bytes)
{
	/* Below 1 MiB a single 4 KiB write could not share a connection with its reply. */
	if (size_parse(v, bytes) || *bytes < (1u << 20))
		return -EINVAL;
	return 0;
}

int conn_limits_parse(const char *s, struct conn_limits *lim, char *err, size_t errlen)
{
	char buf[512], *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "--limits: the list is too long");
		return -EINVAL;
	}
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		int ret;

		if (!v) {
			snprintf(err, errlen, "--limits: '%s' is not KEY=VALUE", kv);
			return -EINVAL;
		}
		*v++ = '\0';
		if (!strcmp(kv, "conn-mem"))
			ret = parse_mem(v, &lim->conn_mem);
		else if (!strcmp(kv, "shard-mem"))
			ret = parse_mem(v, &lim->pool_mem);
		else if (!strcmp(kv, "nbd-conns"))
			ret = parse_uint(v, 1, 1000000, &lim->nbd_conns);
		else if (!strcmp(kv, "ctl-conns"))
			ret = parse_uint(v, 1, 1000000, &lim->ctl_conns);
		else if (!strcmp(kv, "handshake"))
			ret = parse_seconds(v, &lim->handshake_ms);
		else if (!strcmp(kv, "request"))
			ret = parse_seconds(v, &lim->request_ms);
		else if (!strcmp(kv, "reply"))
			ret = parse_seconds(v, &lim->reply_ms);
		else {
			snprintf(err, errlen,
				 "--limits: unknown key '%s' (known: conn-mem, shard-mem, "
				 "nbd-conns, "
				 "ctl-conns, handshake, request, reply)",
				 kv);
			return -EINVAL;
		}
		if (ret) {
			snprintf(err, errlen,
				 "--limits: bad value '%s' for %s (sizes: 1M or more, e.g. 64M; "
				 "counts: 1 to 1000000; times: 1 to 86400 seconds)",
				 v, kv);
			return -EINVAL;
		}
	}
	return 0;
}

void guard_pool_init(struct guard_pool *p, const struct conn_limits *lim, uint32_t max_conns,
		     const struct guard_pool_ops *ops)
{
	memset(p, 0, sizeof(*p));
	p->lim = lim;
	p->ops = ops;
	p->max_conns = max_conns ? max_conns : 1;
	p->now = 1; /* 0 means "no deadline running" in the guards */
}

void guard_set_time(struct guard_pool *p, uint64_t now_ms)
{
	p->now = now_ms ? now_ms : 1;
}

/* The list is kept least recently served first: appending marks "served now". */
static void list_append(struct guard_pool *p, struct conn_guard *g)
{
	g->next = NULL;
	g->prev = p->conns_tail;
	if (p->conns_tail)
		p->conns_tail->next = g;
	else
		p->conns = g;
	p->conns_tail = g;
}

static void list_unlink(struct guard_pool *p, struct conn_guard *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else
		p->conns = g->next;
	if (g->next)
		g->next->prev = g->prev;
	else
		p->conns_tail = g->prev;
	g->prev = g->next = NULL;
}

int guard_make_room(struct guard_pool *p, struct conn_guard **victim)
{
	if (p->nr < p->max_conns)
		return 0;
	for (struct conn_guard *g = p->conns; g; g = g->next) {
		if (g->evictable) {
			*victim = g;
			p->evicted++;
			return 1;
		}
	}
	p->refused++;
	return -EBUSY;
}

void guard_add(struct guard_pool *p, struct conn_guard *g, bool evictable, bool handshake)
{
	memset(g, 0, sizeof(*g));
	g->pool = p;
	g->listed = true;
	g->evictable = evictable;
	g->handshake_start = handshake ? p->now : 0;
	list_append(p, g);
	p->nr++;
}

static void waiters_unlink(struct guard_pool *p, struct conn_guard *g)
{
	struct conn_guard **pp = &p->waiters, *prev = NULL;

	while (*pp && *pp != g) {
		prev = *pp;
		pp = &(*pp)->wait_next;
	}
	if (!*pp)
		return;
	*pp = g->wait_next;
	if (p->waiters_tail == g)
		p->waiters_tail = prev;
	g->wait_next = NULL;
	g->waiting = false;
}

void guard_remove(struct conn_guard *g)
{
	struct guard_pool *p = g->pool;

	if (!g->listed)
		return;
	if (g->waiting)
		waiters_unlink(p, g);
	list_unlink(p, g);
	p->nr--;
	/* Still charged: the memory goes when the server frees it (guard_release). */
	g->listed = false;
	g->handshake_start = g->rx_start = g->tx_start = 0;
	g->evictable = false;
}

bool guard_may_take(const struct conn_guard *g, uint64_t bytes)
{
	const struct guard_pool *p = g->pool;

	/* The floor: small requests keep moving whatever the others hold. */
	if (g->held + bytes <= GUARD_FLOOR)
		return true;
	/*
	 * Within its floor, a connection may take one request of any size, and so may anyone when
	 * nobody holds more than a floor: a budget smaller than a request never deadlocks.
	 */
	if (g->held > GUARD_FLOOR && g->held + bytes > p->lim->conn_mem)
		return false;
	return !p->over_floor || p->held + bytes <= p->lim->pool_mem;
}

bool guard_admit(struct conn_guard *g, uint64_t bytes)
{
	struct guard_pool *p = g->pool;

	if (guard_may_take(g, bytes))
		return true;
	/* Over its own budget: its own replies draining will resume it, not the queue. */
	if (!g->listed || (g->held > GUARD_FLOOR && g->held + bytes > p->lim->conn_mem) ||
	    g->waiting)
		return false;
	g->waiting = true;
	g->wait_next = NULL;
	if (p->waiters_tail)
		p->waiters_tail->wait_next = g;
	else
		p->waiters = g;
	p->waiters_tail = g;
	return false;
}

void guard_charge(struct conn_guard *g, uint64_t bytes)
{
	if (g->held <= GUARD_FLOOR && g->held + bytes > GUARD_FLOOR)
		g->pool->over_floor++;
	g->held += bytes;
	g->pool->held += bytes;
}

void guard_release(struct conn_guard *g, uint64_t bytes)
{
	struct guard_pool *p = g->pool;

	if (g->held > GUARD_FLOOR && g->held - bytes <= GUARD_FLOOR)
		p->over_floor--;
	g->held -= bytes;
	p->held -= bytes;
	/*
	 * Resume waiters while there is room: each one will ask again (guard_admit) before it
	 * takes anything, so resuming one too many costs a retry, never the budget.
	 */
	while (p->waiters && (p->held < p->lim->pool_mem || !p->over_floor)) {
		struct conn_guard *w = p->waiters;

		p->waiters = w->wait_next;
		if (!p->waiters)
			p->waiters_tail = NULL;
		w->wait_next = NULL;
		w->waiting = false;
		p->ops->resume(w);
	}
}

void guard_handshake_done(struct conn_guard *g, bool evictable)
{
	g->handshake_start = 0;
	g->evictable = evictable;
	guard_served(g);
}

void guard_served(struct conn_guard *g)
{
	struct guard_pool *p = g->pool;

	if (!g->listed || p->conns_tail == g)
		return;
	list_unlink(p, g);
	list_append(p, g);
}

void guard_rx(struct conn_guard *g, bool partial, bool completed, bool reading)
{
	struct guard_pool *p = g->pool;

	if (!g->listed)
		return;
	if (!partial || !reading)
		g->rx_start = 0;
	else if (completed || !g->rx_start)
		g->rx_start = p->now;
}

void guard_tx(struct conn_guard *g, bool pending, bool progressed)
{
	struct guard_pool *p = g->pool;

	if (!g->listed)
		return;
	if (!pending)
		g->tx_start = 0;
	else if (progressed || !g->tx_start)
		g->tx_start = p->now;
}

void guard_tx_unsent(struct conn_guard *g, int unsent)
{
	if (unsent >= 0 && unsent < g->unsent)
		guard_tx(g, true, true);
	g->unsent = unsent;
}

static bool past(const struct guard_pool *p, uint64_t start, uint32_t limit_ms)
{
	return start && limit_ms && p->now - start >= limit_ms;
}

void guard_sweep(struct guard_pool *p, uint64_t *refused, uint64_t *evicted)
{
	const struct conn_limits *lim = p->lim;
	char why[128];

	*refused = p->refused;
	*evicted = p->evicted;
	p->refused = p->evicted = 0;
	for (struct conn_guard *g = p->conns, *next; g; g = next) {
		next = g->next; /* expire removes g */
		if (past(p, g->handshake_start, lim->handshake_ms))
			snprintf(why, sizeof(why), "the handshake did not finish within %u s",
				 lim->handshake_ms / 1000);
		else if (past(p, g->rx_start, lim->request_ms))
			snprintf(why, sizeof(why),
				 "a request has been arriving for %u s without completing",
				 lim->request_ms / 1000);
		else if (past(p, g->tx_start, lim->reply_ms))
			snprintf(why, sizeof(why), "it has not read its replies for %u s",
				 lim->reply_ms / 1000);
		else
			continue;
		p->ops->expire(g, why);
	}
}
