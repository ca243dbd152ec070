/* The N x N mesh of SPSC rings, sending, polling and the wake-up handshake. */
#include "msg.h"

#include <ck_pr.h>
#include <ck_ring.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"

struct ring_slot {
	ck_ring_t ring;
	ck_ring_buffer_t *buf;
} CK_CC_CACHELINE;

static int mesh_nr;
static struct ring_slot *mesh;	  /* mesh[src * mesh_nr + dst] */
static struct sd_thread *threads; /* [mesh_nr] */
__thread int sd_self_id = -1;
/* Where the calling thread's inbound scan starts, so no sender is starved. */
static __thread int poll_cursor;

static struct ring_slot *slot(int src, int dst)
{
	return &mesh[src * mesh_nr + dst];
}

int msg_mesh_init(int nr_threads)
{
	if (nr_threads < 1 || nr_threads > SD_MAX_THREADS)
		return -EINVAL;
	mesh_nr = nr_threads;
	mesh = calloc((size_t)nr_threads * nr_threads, sizeof(*mesh));
	threads = calloc((size_t)nr_threads, sizeof(*threads));
	if (!mesh || !threads)
		goto nomem;
	for (int i = 0; i < nr_threads * nr_threads; i++) {
		mesh[i].buf = calloc(SD_MSG_RING_SIZE, sizeof(ck_ring_buffer_t));
		if (!mesh[i].buf)
			goto nomem;
		ck_ring_init(&mesh[i].ring, SD_MSG_RING_SIZE);
	}
	for (int i = 0; i < nr_threads; i++) {
		threads[i].id = i;
		/* Blocking: shards read it through io_uring, which then waits instead of returning
		 * EAGAIN on kernels that honour O_NONBLOCK there. */
		threads[i].efd = eventfd(0, EFD_CLOEXEC);
		if (threads[i].efd < 0) {
			int err = -errno;

			msg_mesh_destroy();
			return err;
		}
	}
	return 0;
nomem:
	msg_mesh_destroy();
	return -ENOMEM;
}

void msg_mesh_destroy(void)
{
	if (mesh)
		for (int i = 0; i < mesh_nr * mesh_nr; i++)
			free(mesh[i].buf);
	if (threads)
		for (int i = 0; i < mesh_nr; i++)
			if (threads[i].efd > 0)
				close(threads[i].efd);
	free(mesh);
	free(threads);
	mesh = NULL;
	threads = NULL;
	mesh_nr = 0;
}

int msg_mesh_size(void)
{
	return mesh_nr;
}

struct sd_thread *sd_thread_get(int id)
{
	return &threads[id];
}

void sd_thread_bind(int id)
{
	sd_self_id = id;
	poll_cursor = 0;
}

static void wake(struct sd_thread *t)
{
	/* Pairs with the fence in msg_sleep_begin(): either it sees our message or we see it
	 * asleep. */
	ck_pr_fence_memory();
	if (ck_pr_load_int(&t->sleeping)) {
		uint64_t one = 1;

		if (write(t->efd, &one, sizeof(one)) < 0)
			log_err("cannot wake thread %d: %s", t->id, strerror(errno));
	}
}

/* Threads that flush their wake-ups once per loop pass: the ids still to wake. */
static __thread bool wakes_deferred;
static __thread uint64_t wakes_pending[(SD_MAX_THREADS + 63) / 64];

void msg_defer_wakes(void)
{
	wakes_deferred = true;
}

void msg_flush_wakes(void)
{
	for (int w = 0; w < (SD_MAX_THREADS + 63) / 64; w++) {
		while (wakes_pending[w]) {
			int bit = __builtin_ctzll(wakes_pending[w]);

			wakes_pending[w] &= wakes_pending[w] - 1;
			wake(&threads[w * 64 + bit]);
		}
	}
}

void msg_send(int dst, struct sd_msg *msg)
{
	struct ring_slot *s = slot(sd_self_id, dst);

	while (!ck_ring_enqueue_spsc(&s->ring, s->buf, msg)) {
		wake(&threads[dst]);
		if (!msg_poll(16))
			sched_yield();
	}
	if (wakes_deferred && dst != sd_self_id)
		wakes_pending[dst / 64] |= UINT64_C(1) << (dst % 64);
	else if (dst != sd_self_id)
		wake(&threads[dst]);
}

int msg_poll(int budget)
{
	int ran = 0, self = sd_self_id;

	for (int k = 0; k < mesh_nr && ran < budget; k++) {
		int src = (poll_cursor + k) % mesh_nr;
		struct ring_slot *s = slot(src, self);
		void *p;

		while (ran < budget && ck_ring_dequeue_spsc(&s->ring, s->buf, &p)) {
			struct sd_msg *m = p;

			m->fn(m->arg);
			ran++;
		}
	}
	poll_cursor = (poll_cursor + 1) % mesh_nr;
	return ran;
}

bool msg_pending(void)
{
	for (int src = 0; src < mesh_nr; src++)
		if (ck_ring_size(&slot(src, sd_self_id)->ring))
			return true;
	return false;
}

bool msg_sleep_begin(void)
{
	struct sd_thread *t = &threads[sd_self_id];

	ck_pr_store_int(&t->sleeping, 1);
	ck_pr_fence_memory();
	if (msg_pending()) {
		ck_pr_store_int(&t->sleeping, 0);
		return false;
	}
	return true;
}

bool msg_thread_sleeping(int id)
{
	return ck_pr_load_int(&threads[id].sleeping) != 0;
}

void msg_sleep_end(void)
{
	ck_pr_store_int(&threads[sd_self_id].sleeping, 0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void msg_wait_until(const bool *done)
{
	struct sd_thread *t = &threads[sd_self_id];
	uint64_t idle_since = now_ns();

	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE)) {
		if (msg_poll(64)) {
			idle_since = now_ns();
			continue;
		}
		if (now_ns() - idle_since < 50000) {
			ck_pr_stall();
			continue;
		}
		if (msg_sleep_begin()) {
			struct pollfd pfd = { .fd = t->efd, .events = POLLIN };
			uint64_t v;

			if (poll(&pfd, 1, 1000) > 0 && (pfd.revents & POLLIN) &&
			    read(t->efd, &v, sizeof(v)) < 0)
				log_err("eventfd read: %s", strerror(errno));
			msg_sleep_end();
		}
	}
}
