/*
 * The control thread's event loop (evloop.h): epoll for descriptors, a binary min-heap for
 * timers, two lists for end-of-pass callbacks. Descriptor records are the loop's own and outlive
 * their unregistration until the end of the pass, so an event still in epoll's batch for a
 * descriptor that a callback unregistered (and whose owner it freed) finds a dead record, not
 * freed memory.
 */
#include "evloop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EVLOOP_BATCH 64

struct evloop_fd {
	int fd;
	bool dead;
	evloop_fd_fn fn;
	void *arg;
	struct evloop_fd *prev, *next; /* live records; `next` alone links the dead ones */
};

struct evloop {
	int epfd;
	bool stopping;
	uint64_t now;
	struct evloop_fd *live, *dead;

	struct evloop_timer **heap;
	uint32_t nr_timers, heap_cap;
	uint64_t timer_seq;

	/* Circular lists with these sentinels: queued for the end of the pass, and running now. */
	struct evloop_defer queued, running;

	bool (*before_sleep)(void *arg);
	void (*after_sleep)(void *arg);
	void *sleep_arg;

	struct evloop_fd *backend;
	int (*backend_timeout)(void *arg);
	void (*backend_run)(void *arg);
	void *backend_arg;
	bool backend_ready;
	uint64_t backend_due; /* UINT64_MAX: no timeout */
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ms_floor(void)
{
	return clock_ns() / 1000000u;
}

/* Rounded up, so that "due at now + delay" is never earlier than delay from this instant. */
static uint64_t clock_ms_ceil(void)
{
	return (clock_ns() + 999999u) / 1000000u;
}

static void defer_list_init(struct evloop_defer *head)
{
	head->prev = head->next = head;
}

static bool defer_list_empty(const struct evloop_defer *head)
{
	return head->next == head;
}

static void defer_unlink(struct evloop_defer *d)
{
	d->prev->next = d->next;
	d->next->prev = d->prev;
	d->prev = d->next = NULL;
}

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = errno;

		free(loop);
		errno = err;
		return NULL;
	}
	defer_list_init(&loop->queued);
	defer_list_init(&loop->running);
	loop->backend_due = UINT64_MAX;
	loop->now = clock_ms_floor();
	return loop;
}

static void free_dead(struct evloop *loop)
{
	while (loop->dead) {
		struct evloop_fd *r = loop->dead;

		loop->dead = r->next;
		free(r);
	}
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	free_dead(loop);
	while (loop->live) {
		struct evloop_fd *r = loop->live;

		loop->live = r->next;
		free(r);
	}
	/* Unlinked, so that a later evloop_defer_cancel of them is harmless. */
	while (!defer_list_empty(&loop->queued))
		defer_unlink(loop->queued.next);
	for (uint32_t i = 0; i < loop->nr_timers; i++)
		loop->heap[i]->slot = EVLOOP_IDLE;
	free(loop->heap);
	close(loop->epfd);
	free(loop);
}

void evloop_stop(struct evloop *loop)
{
	loop->stopping = true;
}

uint64_t evloop_now(const struct evloop *loop)
{
	return loop->now;
}

int evloop_fd_add(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *arg,
		  struct evloop_fd **h)
{
	struct evloop_fd *r = calloc(1, sizeof(*r));
	struct epoll_event ev = { .events = events };

	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->fn = fn;
	r->arg = arg;
	ev.data.ptr = r;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		free(r);
		return -err;
	}
	r->next = loop->live;
	if (loop->live)
		loop->live->prev = r;
	loop->live = r;
	*h = r;
	return 0;
}

int evloop_fd_mod(struct evloop *loop, struct evloop_fd *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0 ? -errno : 0;
}

void evloop_fd_del(struct evloop *loop, struct evloop_fd *h)
{
	/* Fails only if the caller closed the descriptor first, which removed it anyway. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	if (h->prev)
		h->prev->next = h->next;
	else
		loop->live = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->dead = true;
	h->prev = NULL;
	h->next = loop->dead;
	loop->dead = h;
}

/* Timers: a binary min-heap ordered by (when, seq); each timer knows its slot. */

static bool timer_before(const struct evloop_timer *a, const struct evloop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct evloop *loop, uint32_t i, struct evloop_timer *t)
{
	loop->heap[i] = t;
	t->slot = i;
}

static void heap_up(struct evloop *loop, uint32_t i)
{
	struct evloop_timer *t = loop->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void heap_down(struct evloop *loop, uint32_t i)
{
	struct evloop_timer *t = loop->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= loop->nr_timers)
			break;
		if (child + 1 < loop->nr_timers &&
		    timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_set(loop, i, loop->heap[child]);
		i = child;
	}
	heap_set(loop, i, t);
}

static void heap_remove(struct evloop *loop, struct evloop_timer *t)
{
	uint32_t i = t->slot;
	struct evloop_timer *last = loop->heap[--loop->nr_timers];

	t->slot = EVLOOP_IDLE;
	if (last == t)
		return;
	heap_set(loop, i, last);
	if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
		heap_up(loop, i);
	else
		heap_down(loop, i);
}

/* Never fails when a slot was just freed: the heap does not shrink. */
static int heap_insert(struct evloop *loop, struct evloop_timer *t)
{
	if (loop->nr_timers == loop->heap_cap) {
		uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		struct evloop_timer **nh = realloc(loop->heap, cap * sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		loop->heap = nh;
		loop->heap_cap = cap;
	}
	t->seq = loop->timer_seq++;
	heap_set(loop, loop->nr_timers++, t);
	heap_up(loop, t->slot);
	return 0;
}

void evloop_timer_init(struct evloop_timer *t, void (*fn)(void *arg), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->when = t->period = t->seq = 0;
	t->slot = EVLOOP_IDLE;
}

bool evloop_timer_active(const struct evloop_timer *t)
{
	return t->slot != EVLOOP_IDLE;
}

int evloop_timer_start(struct evloop *loop, struct evloop_timer *t, uint64_t delay_ms,
		       uint64_t period_ms)
{
	evloop_timer_stop(loop, t);
	t->when = clock_ms_ceil() + delay_ms;
	t->period = period_ms;
	return heap_insert(loop, t);
}

void evloop_timer_stop(struct evloop *loop, struct evloop_timer *t)
{
	if (t->slot != EVLOOP_IDLE)
		heap_remove(loop, t);
}

static void run_timers(struct evloop *loop)
{
	/* Timers started from here on have a later seq: they wait for the next pass. */
	uint64_t first_new = loop->timer_seq;

	while (loop->nr_timers) {
		struct evloop_timer *t = loop->heap[0];

		if (t->when > loop->now || t->seq >= first_new)
			break;
		heap_remove(loop, t);
		if (t->period) {
			t->when += t->period;
			if (t->when <= loop->now)
				t->when = loop->now + t->period;
			heap_insert(loop, t);
		}
		t->fn(t->arg); /* may stop or free t: not touched afterwards */
	}
}

void evloop_defer_init(struct evloop_defer *d, void (*fn)(void *arg), void *arg)
{
	d->fn = fn;
	d->arg = arg;
	d->prev = d->next = NULL;
}

void evloop_defer(struct evloop *loop, struct evloop_defer *d)
{
	if (d->next)
		return;
	d->prev = loop->queued.prev;
	d->next = &loop->queued;
	loop->queued.prev->next = d;
	loop->queued.prev = d;
}

void evloop_defer_cancel(struct evloop *loop, struct evloop_defer *d)
{
	(void)loop;
	if (d->next)
		defer_unlink(d);
}

static void run_deferred(struct evloop *loop)
{
	struct evloop_defer *run = &loop->running;

	if (defer_list_empty(&loop->queued))
		return;
	/* Those queued from here on go to `queued` again: the next pass. */
	run->next = loop->queued.next;
	run->prev = loop->queued.prev;
	run->next->prev = run;
	run->prev->next = run;
	defer_list_init(&loop->queued);
	while (!defer_list_empty(run)) {
		struct evloop_defer *d = run->next;

		defer_unlink(d);
		d->fn(d->arg);
	}
}

void evloop_set_sleep_hooks(struct evloop *loop, bool (*before_sleep)(void *arg),
			    void (*after_sleep)(void *arg), void *arg)
{
	loop->before_sleep = before_sleep;
	loop->after_sleep = after_sleep;
	loop->sleep_arg = arg;
}

static void backend_readable(void *arg, uint32_t events)
{
	struct evloop *loop = arg;

	(void)events;
	loop->backend_ready = true;
}

int evloop_set_backend(struct evloop *loop, int fd, int (*timeout)(void *arg),
		       void (*run)(void *arg), void *arg)
{
	int ret;

	if (loop->backend) {
		evloop_fd_del(loop, loop->backend);
		loop->backend = NULL;
	}
	loop->backend_ready = false;
	loop->backend_due = UINT64_MAX;
	if (fd < 0)
		return 0;
	ret = evloop_fd_add(loop, fd, EPOLLIN, backend_readable, loop, &loop->backend);
	if (ret)
		return ret;
	loop->backend_timeout = timeout;
	loop->backend_run = run;
	loop->backend_arg = arg;
	return 0;
}

/* How long epoll_wait may block: until the first timer or the backend's timeout. */
static int sleep_ms(struct evloop *loop, bool may_sleep)
{
	uint64_t now = clock_ms_floor(), due = UINT64_MAX;

	loop->backend_due = UINT64_MAX;
	if (loop->backend && loop->backend_timeout) {
		int bt = loop->backend_timeout(loop->backend_arg);

		if (bt >= 0)
			loop->backend_due = now + (uint64_t)bt;
	}
	if (!may_sleep || loop->stopping || !defer_list_empty(&loop->queued))
		return 0;
	due = loop->backend_due;
	if (loop->nr_timers && loop->heap[0]->when < due)
		due = loop->heap[0]->when;
	if (due == UINT64_MAX)
		return -1;
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

void evloop_run(struct evloop *loop)
{
	struct epoll_event evs[EVLOOP_BATCH];

	for (;;) {
		bool hooked = false, may_sleep = true;
		int n;

		if (loop->before_sleep)
			hooked = may_sleep = loop->before_sleep(loop->sleep_arg);
		n = epoll_wait(loop->epfd, evs, EVLOOP_BATCH, sleep_ms(loop, may_sleep));
		if (hooked && loop->after_sleep)
			loop->after_sleep(loop->sleep_arg);
		if (n < 0)
			n = 0; /* EINTR: the rest of the pass runs as usual */
		loop->now = clock_ms_floor();

		for (int i = 0; i < n; i++) {
			struct evloop_fd *r = evs[i].data.ptr;

			if (!r->dead)
				r->fn(r->arg, evs[i].events);
		}
		if (loop->backend && (loop->backend_ready || loop->backend_due <= loop->now)) {
			loop->backend_ready = false;
			loop->backend_run(loop->backend_arg);
		}
		run_timers(loop);
		run_deferred(loop);
		free_dead(loop);
		if (loop->stopping) {
			loop->stopping = false;
			return;
		}
	}
}
