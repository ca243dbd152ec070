/* Unit tests of the connection guard: budgets, the wait queue, deadlines, eviction, --limits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/conn_guard.h"

static struct conn_guard *resumed[8];
static int nr_resumed;
static struct conn_guard *expired[8];
static char expired_why[8][128];
static int nr_expired;

static void on_resume(struct conn_guard *g)
{
	resumed[nr_resumed++] = g;
}

static void on_expire(struct conn_guard *g, const char *why)
{
	snprintf(expired_why[nr_expired], sizeof(expired_why[0]), "%s", why);
	expired[nr_expired++] = g;
	guard_remove(g);
}

static const struct guard_pool_ops ops = { on_resume, on_expire };
static struct conn_limits lim;
#define K (GUARD_FLOOR / 16) /* the floor is 16 K */
static struct guard_pool pool;

static uint64_t refused, evicted;

static void sweep(void)
{
	guard_sweep(&pool, &refused, &evicted);
}

static void setup(void)
{
	lim = (struct conn_limits){ .conn_mem = 100 * K,
				    .pool_mem = 250 * K,
				    .handshake_ms = 10000,
				    .request_ms = 30000,
				    .reply_ms = 60000 };
	guard_pool_init(&pool, &lim, 3, &ops);
	nr_resumed = nr_expired = 0;
}

TestSuite(conn_guard, .init = setup);

Test(conn_guard, the_floor_lets_small_requests_through_a_full_pool)
{
	struct conn_guard a, b, small;

	guard_add(&pool, &a, false, false);
	guard_add(&pool, &b, false, false);
	guard_add(&pool, &small, false, false);
	guard_charge(&a, 100 * K);
	guard_charge(&b, 200 * K);
	cr_assert(guard_admit(&small, 4 * K), "a small request passes a full pool");
	guard_charge(&small, 4 * K);
	cr_assert(guard_admit(&small, 12 * K), "up to the floor");
	guard_charge(&small, 12 * K);
	cr_assert_not(guard_admit(&small, 1), "past the floor it waits");
	cr_assert(small.waiting);
}

Test(conn_guard, within_its_floor_a_connection_may_take_one_large_request)
{
	struct conn_guard a;

	guard_add(&pool, &a, false, false);
	guard_charge(&a, 1 * K); /* a control connection's input buffer, say */
	cr_assert(guard_may_take(&a, 1000 * K), "one request larger than the budget");
	guard_charge(&a, 1000 * K);
	cr_assert_not(guard_may_take(&a, 17 * K), "past its floor, its budget holds");
}

Test(conn_guard, a_request_larger_than_the_pool_passes_when_only_floors_are_held)
{
	struct conn_guard a, b;

	guard_add(&pool, &a, false, false);
	guard_add(&pool, &b, false, false);
	guard_charge(&a, 16 * K);
	guard_charge(&b, 2 * K);
	cr_assert_eq(pool.over_floor, 0);
	cr_assert(guard_may_take(&b, 300 * K), "nobody holds more than a floor");
	guard_charge(&b, 300 * K);
	cr_assert_eq(pool.over_floor, 1);
	cr_assert_not(guard_admit(&a, 300 * K));
	cr_assert(a.waiting);
	guard_release(&b, 300 * K);
	cr_assert_eq(pool.over_floor, 0);
	cr_assert_eq(nr_resumed, 1);
	cr_assert_eq(resumed[0], &a);
}

Test(conn_guard, connection_budget_allows_one_request_beyond_it_only_when_empty)
{
	struct conn_guard a;

	guard_add(&pool, &a, false, false);
	cr_assert(guard_may_take(&a, 1000 * K), "an empty connection may always take one request");
	guard_charge(&a, 60 * K);
	cr_assert(guard_may_take(&a, 40 * K));
	cr_assert_not(guard_may_take(&a, 41 * K));
	cr_assert_not(guard_admit(&a, 41 * K));
	cr_assert_not(a.waiting, "over its own budget it waits for its own replies, not the queue");
	guard_release(&a, 60 * K);
	cr_assert_eq(a.held, 0);
	cr_assert_eq(pool.held, 0);
}

Test(conn_guard, pool_budget_queues_and_resumes_in_order)
{
	struct conn_guard a, b, c;

	guard_add(&pool, &a, false, false);
	guard_add(&pool, &b, false, false);
	guard_add(&pool, &c, false, false);
	guard_charge(&a, 100 * K);
	guard_charge(&b, 100 * K);
	cr_assert_not(guard_admit(&c, 60 * K), "three connections cannot add up past the pool");
	cr_assert(c.waiting);
	cr_assert_not(guard_admit(&a, 1 * K));
	cr_assert_not(a.waiting, "a is over its own budget, not queued");
	guard_release(&b, 10 * K); /* still 190 + nothing: room below 250, c resumes */
	cr_assert_eq(nr_resumed, 1);
	cr_assert_eq(resumed[0], &c);
	cr_assert_not(c.waiting);
	cr_assert(guard_admit(&c, 60 * K));
}

Test(conn_guard, removed_connection_leaves_the_queue_but_stays_charged)
{
	struct conn_guard a, b;

	guard_add(&pool, &a, false, false);
	guard_add(&pool, &b, false, false);
	guard_charge(&a, 100 * K);
	guard_charge(&a, 60 * K); /* one big request beyond the budget */
	guard_charge(&b, 50 * K);
	cr_assert_not(guard_admit(&b, 50 * K));
	cr_assert(b.waiting);
	guard_remove(&b);
	cr_assert_not(b.waiting);
	cr_assert_eq(pool.nr, 1);
	cr_assert_eq(pool.held, 210 * K);
	guard_release(&b, 50 * K);
	cr_assert_eq(nr_resumed, 0, "b is gone, nobody to resume");
	cr_assert_eq(pool.held, 160 * K);
}

Test(conn_guard, full_pool_evicts_the_least_recently_served_evictable)
{
	struct conn_guard a, b, c, *victim = NULL;

	guard_set_time(&pool, 1000);
	guard_add(&pool, &a, true, false);
	guard_add(&pool, &b, true, false);
	guard_add(&pool, &c, false, false);
	guard_served(&a); /* a just completed a request: b has waited longest */
	cr_assert_eq(guard_make_room(&pool, &victim), 1);
	cr_assert_eq(victim, &b);
	guard_remove(&b);
	cr_assert_eq(guard_make_room(&pool, &victim), 0);
	sweep();
	cr_assert_eq(refused, 0);
	cr_assert_eq(evicted, 1);
}

Test(conn_guard, full_pool_without_evictable_refuses_and_counts)
{
	struct conn_guard a, b, c, *victim = NULL;

	guard_add(&pool, &a, true, true);
	guard_add(&pool, &b, true, true);
	guard_add(&pool, &c, true, true);
	guard_handshake_done(&a, false);
	guard_handshake_done(&b, false);
	guard_handshake_done(&c, false);
	cr_assert_eq(guard_make_room(&pool, &victim), -EBUSY);
	cr_assert_eq(guard_make_room(&pool, &victim), -EBUSY);
	sweep();
	cr_assert_eq(refused, 2);
	sweep();
	cr_assert_eq(refused, 0);
}

Test(conn_guard, deadlines_expire_with_a_reason)
{
	struct conn_guard hs, rx, tx, ok;

	guard_set_time(&pool, 1000);
	guard_add(&pool, &hs, true, true);
	guard_add(&pool, &rx, false, false);
	guard_add(&pool, &tx, false, false);
	pool.max_conns = 4;
	guard_add(&pool, &ok, false, true);
	guard_handshake_done(&ok, false);
	guard_rx(&rx, true, false, true);
	guard_tx(&tx, true, false);
	guard_set_time(&pool, 1000 + 9999);
	sweep();
	cr_assert_eq(nr_expired, 0);
	guard_set_time(&pool, 1000 + 10000);
	sweep();
	cr_assert_eq(nr_expired, 1);
	cr_assert_eq(expired[0], &hs);
	cr_assert(strstr(expired_why[0], "handshake"));
	guard_set_time(&pool, 1000 + 30000);
	sweep();
	cr_assert_eq(nr_expired, 2);
	cr_assert_eq(expired[1], &rx);
	cr_assert(strstr(expired_why[1], "arriving"));
	guard_set_time(&pool, 1000 + 60000);
	sweep();
	cr_assert_eq(nr_expired, 3);
	cr_assert_eq(expired[2], &tx);
	cr_assert(strstr(expired_why[2], "replies"));
	guard_set_time(&pool, 1000 + 600000);
	sweep();
	cr_assert_eq(nr_expired, 3, "an idle established connection has no deadline");
}

Test(conn_guard, progress_restarts_the_clocks_and_pauses_stop_them)
{
	struct conn_guard g;

	guard_set_time(&pool, 1000);
	guard_add(&pool, &g, false, false);
	guard_rx(&g, true, false, true);
	guard_tx(&g, true, false);
	guard_set_time(&pool, 25000);
	guard_rx(&g, true, true, true); /* a request arrived whole, the next has begun */
	guard_tx(&g, true, true);	/* some bytes went out */
	guard_set_time(&pool, 50000);
	sweep();
	cr_assert_eq(nr_expired, 0);
	guard_rx(&g, true, false, false); /* the server paused reading */
	guard_set_time(&pool, 200000);
	guard_tx(&g, false, true);
	sweep();
	cr_assert_eq(nr_expired, 0, "time the server did not read is not the client's");
}

Test(conn_guard, limits_parse)
{
	struct conn_limits l = CONN_LIMITS_DEFAULT;
	char err[256];

	cr_assert_eq(conn_limits_parse("conn-mem=8M,shard-mem=1G,nbd-conns=10,ctl-conns=5,"
				       "handshake=2,request=3,reply=4",
				       &l, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(l.conn_mem, 8u << 20);
	cr_assert_eq(l.pool_mem, 1u << 30);
	cr_assert_eq(l.nbd_conns, 10);
	cr_assert_eq(l.ctl_conns, 5);
	cr_assert_eq(l.handshake_ms, 2000);
	cr_assert_eq(l.request_ms, 3000);
	cr_assert_eq(l.reply_ms, 4000);
	cr_assert_eq(conn_limits_parse("conn-mem=10", &l, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "conn-mem"));
	cr_assert_eq(conn_limits_parse("bogus=1", &l, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "unknown key"));
	cr_assert_eq(conn_limits_parse("reply", &l, err, sizeof(err)), -EINVAL);
	cr_assert_eq(conn_limits_parse("reply=0", &l, err, sizeof(err)), -EINVAL);
	cr_assert_eq(conn_limits_parse("nbd-conns=-1", &l, err, sizeof(err)), -EINVAL);
}

Test(conn_guard, a_draining_socket_counts_as_progress)
{
	struct conn_guard g;

	guard_set_time(&pool, 1000);
	guard_add(&pool, &g, false, false);
	guard_tx(&g, true, false);
	guard_tx_unsent(&g, 4000000);
	guard_set_time(&pool, 1000 + 20000);
	guard_tx_unsent(&g, 3000000); /* the client read a megabyte */
	guard_set_time(&pool, 1000 + 70000);
	sweep();
	cr_assert_eq(nr_expired, 0, "past the reply deadline from the send, but it read since");
	guard_tx_unsent(&g, 3000000); /* and then nothing */
	guard_set_time(&pool, 1000 + 20000 + 60000);
	sweep();
	cr_assert_eq(nr_expired, 1);
}
