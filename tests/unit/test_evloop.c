/*
 * The control thread's event loop: timer order and "never early", stopping and freeing timers
 * from inside callbacks, descriptors (including one unregistered while its event is in the
 * batch), end-of-pass callbacks, the sleep hooks and an external backend (an eventfd and a
 * timeout, as libuv's would be). No assertion depends on how late anything runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/evloop.h"

static struct evloop *loop;

static void setup(void)
{
	loop = evloop_new();
	cr_assert_not_null(loop);
}

static void teardown(void)
{
	evloop_free(loop);
	loop = NULL;
}

TestSuite(evloop, .init = setup, .fini = teardown, .timeout = 30);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void stop_loop(void *arg)
{
	(void)arg;
	evloop_stop(loop);
}

/* A stop timer far away, so that a loop that never stops fails the test instead of hanging. */
static struct evloop_timer guard_timer;
static bool guard_fired;

static void guard_fn(void *arg)
{
	(void)arg;
	guard_fired = true;
	evloop_stop(loop);
}

static void arm_guard(void)
{
	guard_fired = false;
	evloop_timer_init(&guard_timer, guard_fn, NULL);
	cr_assert_eq(evloop_timer_start(loop, &guard_timer, 10000, 0), 0);
}

struct stamp {
	struct evloop_timer t;
	uint64_t started_us, delay_ms, fired_us;
	int order;
};

static int fired;

static void stamp_fn(void *arg)
{
	struct stamp *s = arg;

	s->fired_us = now_us();
	s->order = fired++;
}

Test(evloop, timers_fire_in_deadline_order_never_early)
{
	static const uint64_t delays[] = { 30, 5, 20, 0, 10, 20 };
	struct stamp s[6];
	struct evloop_timer last;

	fired = 0;
	for (int i = 0; i < 6; i++) {
		evloop_timer_init(&s[i].t, stamp_fn, &s[i]);
		s[i].delay_ms = delays[i];
		s[i].started_us = now_us();
		cr_assert_eq(evloop_timer_start(loop, &s[i].t, delays[i], 0), 0);
		cr_assert(evloop_timer_active(&s[i].t));
	}
	evloop_timer_init(&last, stop_loop, NULL);
	evloop_timer_start(loop, &last, 40, 0);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(fired, 6);
	/* 0, 5, 10, then the two 20s in the order started, then 30. */
	cr_assert_eq(s[3].order, 0);
	cr_assert_eq(s[1].order, 1);
	cr_assert_eq(s[4].order, 2);
	cr_assert_eq(s[2].order, 3);
	cr_assert_eq(s[5].order, 4);
	cr_assert_eq(s[0].order, 5);
	for (int i = 0; i < 6; i++) {
		cr_assert_not(evloop_timer_active(&s[i].t));
		cr_assert_geq(s[i].fired_us - s[i].started_us, s[i].delay_ms * 1000,
			      "timer %d (%llu ms) fired after %llu us", i,
			      (unsigned long long)s[i].delay_ms,
			      (unsigned long long)(s[i].fired_us - s[i].started_us));
	}
	evloop_timer_stop(loop, &guard_timer);
}

static int ticks_seen;
static bool tick_too_early;

struct ticker {
	struct evloop_timer t;
	uint64_t started_us;
	int ticks, limit;
};

static void tick_fn(void *arg)
{
	struct ticker *k = arg;
	uint64_t now = now_us();

	/* Periods are counted from the start, not from the last run: no drift. */
	ticks_seen = ++k->ticks;
	if (now - k->started_us < 15000u * (uint64_t)k->ticks)
		tick_too_early = true;
	if (k->ticks == k->limit) {
		evloop_timer_stop(loop, &k->t); /* the running timer stops itself... */
		free(k); /* ...and its owner goes: ASan sees any later touch */
		evloop_stop(loop);
	}
}

Test(evloop, periodic_timer_stops_and_frees_itself_in_its_callback)
{
	struct ticker *k = calloc(1, sizeof(*k));

	ticks_seen = 0;
	tick_too_early = false;
	k->limit = 4;
	evloop_timer_init(&k->t, tick_fn, k);
	k->started_us = now_us();
	cr_assert_eq(evloop_timer_start(loop, &k->t, 15, 15), 0);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(ticks_seen, 4);
	cr_assert_not(tick_too_early, "tick k ran before k x 15 ms");
	evloop_timer_stop(loop, &guard_timer);
}

/* A one-shot timer frees its owner in its callback without stopping it (it is stopped). */
struct owned {
	struct evloop_timer t;
};

static int owned_ran;

static void owned_fn(void *arg)
{
	owned_ran++;
	free(arg);
}

/* Cancels the other timers due at the same time, one of them freed with its owner. */
struct canceller {
	struct evloop_timer t;
	struct evloop_timer *victim;
	struct owned *freed_victim;
};

static int victim_ran;

static void victim_fn(void *arg)
{
	(void)arg;
	victim_ran++;
}

static void canceller_fn(void *arg)
{
	struct canceller *c = arg;

	evloop_timer_stop(loop, c->victim);
	evloop_timer_stop(loop, &c->freed_victim->t);
	free(c->freed_victim);
}

Test(evloop, timers_stopped_and_freed_by_another_callback_never_run)
{
	struct canceller c;
	struct evloop_timer victim, end;
	struct owned *o = calloc(1, sizeof(*o)), *self_freeing = calloc(1, sizeof(*self_freeing));

	victim_ran = owned_ran = 0;
	evloop_timer_init(&c.t, canceller_fn, &c);
	evloop_timer_init(&victim, victim_fn, NULL);
	evloop_timer_init(&o->t, victim_fn, NULL);
	evloop_timer_init(&self_freeing->t, owned_fn, self_freeing);
	c.victim = &victim;
	c.freed_victim = o;
	/* Same deadline: started first, run first. */
	evloop_timer_start(loop, &c.t, 5, 0);
	evloop_timer_start(loop, &victim, 5, 0);
	evloop_timer_start(loop, &o->t, 5, 0);
	evloop_timer_start(loop, &self_freeing->t, 5, 0);
	evloop_timer_init(&end, stop_loop, NULL);
	evloop_timer_start(loop, &end, 20, 0);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(victim_ran, 0);
	cr_assert_eq(owned_ran, 1);
	cr_assert_not(evloop_timer_active(&victim));
	evloop_timer_stop(loop, &guard_timer);
}

/* A timer that restarts itself with no delay runs once a pass, so descriptors still get theirs. */
static int spins;
static struct evloop_timer spinner;

static void spin_fn(void *arg)
{
	(void)arg;
	spins++;
	evloop_timer_start(loop, &spinner, 0, 0);
}

static int fds[2];
static bool fd_ran;

static void read_and_stop(void *arg, uint32_t events)
{
	char b;

	(void)arg;
	cr_assert(events & EPOLLIN);
	cr_assert_eq(read(fds[0], &b, 1), 1);
	fd_ran = true;
	evloop_stop(loop);
}

Test(evloop, zero_delay_restart_waits_for_the_next_pass)
{
	struct evloop_fd *h;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, read_and_stop, NULL, &h), 0);
	spins = 0;
	fd_ran = false;
	evloop_timer_init(&spinner, spin_fn, NULL);
	evloop_timer_start(loop, &spinner, 0, 0);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	arm_guard();
	evloop_run(loop);
	cr_assert(fd_ran);
	cr_assert_not(guard_fired);
	evloop_timer_stop(loop, &spinner);
	evloop_timer_stop(loop, &guard_timer);
	evloop_fd_del(loop, h);
	close(fds[0]);
	close(fds[1]);
}

/* Descriptors: read, switch to EPOLLOUT, write, then stop. */
struct echo {
	struct evloop_fd *h;
	int fd;
	int reads, writes;
};

static void echo_fn(void *arg, uint32_t events)
{
	struct echo *e = arg;
	char b[16];

	if (events & EPOLLIN) {
		cr_assert_eq(read(e->fd, b, sizeof(b)), 4);
		e->reads++;
		cr_assert_eq(evloop_fd_mod(loop, e->h, EPOLLOUT), 0);
	} else if (events & EPOLLOUT) {
		cr_assert_eq(write(e->fd, "pong", 4), 4);
		e->writes++;
		cr_assert_eq(evloop_fd_mod(loop, e->h, 0), 0);
		evloop_stop(loop);
	}
}

Test(evloop, descriptor_callbacks_follow_their_events)
{
	struct echo e = { 0 };
	char b[8];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	e.fd = fds[0];
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, echo_fn, &e, &e.h), 0);
	cr_assert_eq(write(fds[1], "ping", 4), 4);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(e.reads, 1);
	cr_assert_eq(e.writes, 1);
	cr_assert_eq(read(fds[1], b, sizeof(b)), 4);
	cr_assert_eq(memcmp(b, "pong", 4), 0);
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, echo_fn, &e, &e.h), -EEXIST);
	evloop_fd_del(loop, e.h);
	close(fds[0]);
	close(fds[1]);
	evloop_timer_stop(loop, &guard_timer);
}

/*
 * Two readable descriptors in one batch: whichever callback runs first unregisters the other,
 * closes it and frees its owner; the other's event, already in the batch, must not be delivered.
 */
struct peer {
	struct evloop_fd *h;
	int fd;
	struct peer **other;
};

static int peer_calls;

static void peer_fn(void *arg, uint32_t events)
{
	struct peer *p = arg, *o = *p->other;

	(void)events;
	peer_calls++;
	evloop_fd_del(loop, o->h);
	close(o->fd);
	free(o);
	*p->other = NULL;
	evloop_stop(loop);
}

Test(evloop, an_event_of_a_descriptor_unregistered_in_the_same_batch_is_dropped)
{
	int a[2], b[2];
	struct peer *pa = calloc(1, sizeof(*pa)), *pb = calloc(1, sizeof(*pb));

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	pa->fd = a[0];
	pb->fd = b[0];
	pa->other = &pb;
	pb->other = &pa;
	cr_assert_eq(evloop_fd_add(loop, a[0], EPOLLIN, peer_fn, pa, &pa->h), 0);
	cr_assert_eq(evloop_fd_add(loop, b[0], EPOLLIN, peer_fn, pb, &pb->h), 0);
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	peer_calls = 0;
	arm_guard();
	evloop_run(loop);
	cr_assert_eq(peer_calls, 1);
	cr_assert((pa == NULL) != (pb == NULL));
	{
		struct peer *left = pa ? pa : pb;

		evloop_fd_del(loop, left->h);
		close(left->fd);
		free(left);
	}
	close(a[1]);
	close(b[1]);
	evloop_timer_stop(loop, &guard_timer);
}

/* End-of-pass callbacks: after the descriptors of their pass; one queued by another runs next. */
static int trail[8], trail_len;
static struct evloop_defer d1, d2, d3, cancelled;

static void note(void *arg)
{
	trail[trail_len++] = (int)(long)arg;
}

static void note_and_queue(void *arg)
{
	note(arg);
	evloop_defer(loop, &d3); /* queued while they run: the next pass */
	evloop_defer_cancel(loop, &cancelled);
}

static void note_and_stop(void *arg)
{
	note(arg);
	evloop_stop(loop);
}

static void queue_from_fd(void *arg, uint32_t events)
{
	char b;

	(void)events;
	note(arg);
	cr_assert_eq(read(fds[0], &b, 1), 1);
	evloop_defer(loop, &d1);
	evloop_defer(loop, &d2);
	evloop_defer(loop, &d1); /* queued already: no second run */
	evloop_defer(loop, &cancelled);
}

Test(evloop, end_of_pass_callbacks_run_after_the_pass_in_order)
{
	struct evloop_fd *h;

	trail_len = 0;
	evloop_defer_init(&d1, note, (void *)1L);
	evloop_defer_init(&d2, note_and_queue, (void *)2L);
	evloop_defer_init(&d3, note_and_stop, (void *)3L);
	evloop_defer_init(&cancelled, note, (void *)9L);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, queue_from_fd, (void *)0L, &h), 0);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(trail_len, 4);
	cr_assert_eq(trail[0], 0);
	cr_assert_eq(trail[1], 1);
	cr_assert_eq(trail[2], 2);
	cr_assert_eq(trail[3], 3);
	evloop_fd_del(loop, h);
	close(fds[0]);
	close(fds[1]);
	evloop_timer_stop(loop, &guard_timer);
}

/* An end-of-pass callback that queues itself again runs once a pass: the loop goes on. */
static struct evloop_defer requeuer;
static int requeues;

static void requeue_fn(void *arg)
{
	(void)arg;
	requeues++;
	evloop_defer(loop, &requeuer);
}

Test(evloop, an_end_of_pass_callback_queued_by_itself_waits_for_the_next_pass)
{
	struct evloop_fd *h;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, read_and_stop, NULL, &h), 0);
	requeues = 0;
	fd_ran = false;
	evloop_defer_init(&requeuer, requeue_fn, NULL);
	evloop_defer(loop, &requeuer);
	cr_assert_eq(write(fds[1], "x", 1), 1);
	arm_guard();
	evloop_run(loop);
	cr_assert(fd_ran);
	cr_assert_geq(requeues, 1);
	evloop_defer_cancel(loop, &requeuer);
	evloop_fd_del(loop, h);
	close(fds[0]);
	close(fds[1]);
	evloop_timer_stop(loop, &guard_timer);
}

/* before_sleep saying no keeps the loop polling: nothing else is registered that could wake it. */
static int befores, afters, refusals;

static bool refuse_sleep(void *arg)
{
	(void)arg;
	befores++;
	if (++refusals == 5)
		evloop_stop(loop);
	return false;
}

static void count_after(void *arg)
{
	(void)arg;
	afters++;
}

Test(evloop, a_before_sleep_that_says_no_keeps_the_loop_awake)
{
	befores = afters = refusals = 0;
	evloop_set_sleep_hooks(loop, refuse_sleep, count_after, NULL);
	evloop_run(loop);
	cr_assert_eq(befores, 5);
	cr_assert_eq(afters, 0);
}

static bool allow_sleep(void *arg)
{
	(void)arg;
	befores++;
	return true;
}

Test(evloop, after_sleep_follows_every_before_sleep_that_said_yes)
{
	struct evloop_timer t;

	befores = afters = 0;
	evloop_set_sleep_hooks(loop, allow_sleep, count_after, NULL);
	evloop_timer_init(&t, stop_loop, NULL);
	evloop_timer_start(loop, &t, 10, 0);
	evloop_run(loop);
	cr_assert_geq(befores, 1);
	cr_assert_eq(afters, befores);
}

/* A fake libuv: an eventfd as its backend descriptor, and a timeout it reports. */
struct fake_backend {
	int efd;
	int timeout_ms;	   /* what it reports while no timer of its own has run */
	uint64_t armed_us; /* when its timer was set */
	uint64_t timer_us; /* when run found the timer due */
	int timer_runs, fd_runs, runs;
};

static int fake_timeout(void *arg)
{
	struct fake_backend *b = arg;

	uint64_t elapsed = now_us() - b->armed_us, total = (uint64_t)b->timeout_ms * 1000;

	/* Like uv_backend_timeout: what is left until its timer, rounded up; -1 once it ran. */
	if (b->timer_runs)
		return -1;
	return elapsed >= total ? 0 : (int)((total - elapsed + 999) / 1000);
}

static void fake_run(void *arg)
{
	struct fake_backend *b = arg;
	uint64_t v;

	b->runs++;
	if (read(b->efd, &v, sizeof(v)) == sizeof(v)) {
		b->fd_runs++;
		evloop_stop(loop);
		return;
	}
	if (!b->timer_runs && now_us() - b->armed_us >= (uint64_t)b->timeout_ms * 1000) {
		b->timer_runs++;
		b->timer_us = now_us();
		/* As a libuv callback would: something for the backend's own descriptor. */
		v = 1;
		cr_assert_eq(write(b->efd, &v, sizeof(v)), sizeof(v));
	}
}

Test(evloop, an_external_backend_runs_at_its_timeout_and_when_its_fd_is_ready)
{
	struct fake_backend b = { .timeout_ms = 20 };

	b.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_geq(b.efd, 0);
	b.armed_us = now_us();
	cr_assert_eq(evloop_set_backend(loop, b.efd, fake_timeout, fake_run, &b), 0);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(b.timer_runs, 1);
	cr_assert_eq(b.fd_runs, 1);
	cr_assert_geq(b.timer_us - b.armed_us, 20000);
	/* Not called when nothing was due: at most a few early wake-ups within the 20 ms. */
	cr_assert_leq(b.runs, 2 + 20);
	cr_assert_eq(evloop_set_backend(loop, -1, NULL, NULL, NULL), 0);
	close(b.efd);
	evloop_timer_stop(loop, &guard_timer);
}

Test(evloop, a_stop_before_run_makes_one_pass_that_does_not_block)
{
	struct evloop_defer d;

	trail_len = 0;
	evloop_defer_init(&d, note, (void *)7L);
	evloop_defer(loop, &d);
	evloop_stop(loop);
	evloop_run(loop); /* no timers, no descriptors: a blocking pass would hang here */
	cr_assert_eq(trail_len, 1);
	cr_assert_eq(trail[0], 7);
}

Test(evloop, stop_from_a_descriptor_callback_ends_the_run_and_a_new_run_continues)
{
	struct evloop_fd *h;
	struct evloop_timer t;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	cr_assert_eq(evloop_fd_add(loop, fds[0], EPOLLIN, read_and_stop, NULL, &h), 0);
	fd_ran = false;
	cr_assert_eq(write(fds[1], "x", 1), 1);
	evloop_run(loop);
	cr_assert(fd_ran);
	/* The same loop runs again: a timer stops it this time. */
	evloop_timer_init(&t, stop_loop, NULL);
	evloop_timer_start(loop, &t, 5, 0);
	fd_ran = false;
	evloop_run(loop);
	cr_assert_not(fd_ran);
	evloop_fd_del(loop, h);
	close(fds[0]);
	close(fds[1]);
}

/* Many timers started and stopped at random keep the heap ordered. */
Test(evloop, a_heap_of_many_timers_stays_ordered_through_random_stops)
{
	enum {
		N = 500
	};
	struct stamp *s = calloc(N, sizeof(*s));
	struct evloop_timer end;
	uint64_t last_due = 0;
	int expected = 0;

	srand(7);
	fired = 0;
	for (int i = 0; i < N; i++) {
		evloop_timer_init(&s[i].t, stamp_fn, &s[i]);
		s[i].delay_ms = (uint64_t)(rand() % 30);
		s[i].order = -1;
		evloop_timer_start(loop, &s[i].t, s[i].delay_ms, 0);
	}
	for (int i = 0; i < N; i += 3)
		evloop_timer_stop(loop, &s[i].t);
	for (int i = 0; i < N; i++)
		expected += i % 3 != 0;
	evloop_timer_init(&end, stop_loop, NULL);
	evloop_timer_start(loop, &end, 60, 0);
	arm_guard();
	evloop_run(loop);
	cr_assert_not(guard_fired);
	cr_assert_eq(fired, expected);
	/* In firing order, the deadlines never go down. */
	for (int k = 0; k < expected; k++) {
		int found = -1;

		for (int i = 0; i < N; i++)
			if (s[i].order == k)
				found = i;
		cr_assert_geq(found, 0);
		cr_assert_neq(found % 3, 0);
		cr_assert_geq(s[found].t.when, last_due);
		last_due = s[found].t.when;
	}
	free(s);
	evloop_timer_stop(loop, &guard_timer);
}
