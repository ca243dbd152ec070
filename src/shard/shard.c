/* The shard threads: start-up, the reactor loop, and shut-down. */
#include "shard.h"

#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/list.h"
#include "../core/log.h"
#include "../io/fd_cache.h"
#include "../io/obj_fence.h"
#include "../io/peer_fds.h"
#include "buf_pool.h"

#define SHARD_RING_DEPTH 1024
#define SHARD_MSG_BATCH	 64
#define SHARD_REAP_BATCH 256
/*
 * Spinning: 50 us after the last work, when the policy allows (shard_spin.h). Measured on 2
 * vCPUs with a spinner that took a client's CPU: 4k reads at queue depth 32 went from 126k to
 * 96k IOPS, and queue depth 1 latency rose from 53 to 80 us; hence the adaptive policy.
 */
#define SHARD_SPIN_NS 50000

static int nr_shards;
static struct shard *shards;
void (*shard_exit_hook)(void);
static __thread struct shard *self;

/* Start-up handshake: each shard reports 0 or -errno once. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static int start_reported, start_error;

struct shard *shard_self(void)
{
	return self;
}

int shard_count(void)
{
	return nr_shards;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int reap(struct shard *s);

struct io_uring_sqe *shard_get_sqe(struct shard *s)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&s->ring))) {
		int ret = io_uring_submit(&s->ring);

		if (ret >= 0) {
			s->to_submit = 0;
			continue;
		}
		if (ret == -EBUSY || ret == -EAGAIN) {
			/* The completion queue is full: make room, then try again. */
			reap(s);
			continue;
		}
		log_err("shard %d: io_uring_submit: %s", s->id, strerror(-ret));
	}
	s->to_submit++;
	return sqe;
}

static void timer_done(struct uop *op, int res)
{
	struct shard_timer *t = container_of(op, struct shard_timer, uop);

	(void)res; /* -ETIME when it expired: the only way it completes while the shard runs */
	t->armed = false;
	t->fn(t);
}

void shard_timer_start(struct shard_timer *t, uint32_t ms)
{
	struct io_uring_sqe *sqe;

	if (t->armed)
		return;
	t->armed = true;
	t->uop.cb = timer_done;
	t->ts.tv_sec = ms / 1000;
	t->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	io_uring_sqe_set_data(sqe, &t->uop);
}

static void arm_eventfd(struct shard *s)
{
	struct io_uring_sqe *sqe = shard_get_sqe(s);

	io_uring_prep_read(sqe, sd_thread_get(s->id)->efd, &s->efd_value, sizeof(s->efd_value), 0);
	io_uring_sqe_set_data(sqe, &s->efd_uop);
}

static void eventfd_done(struct uop *op, int res)
{
	struct shard *s = container_of(op, struct shard, efd_uop);

	(void)res;
	if (!s->stop)
		arm_eventfd(s);
}

/*
 * Runs completions. Each CQE is consumed before its callback runs, so a callback that needs
 * SQEs (and submits to get them) never faces a full completion queue of its own making.
 */
static int reap(struct shard *s)
{
	struct io_uring_cqe *cqe;
	int n = 0;

	while (n < SHARD_REAP_BATCH && io_uring_peek_cqe(&s->ring, &cqe) == 0) {
		struct uop *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&s->ring, cqe);
		n++;
		if (op)
			op->cb(op, res);
	}
	return n;
}

static void submit(struct shard *s)
{
	if (s->to_submit) {
		int ret = io_uring_submit(&s->ring);

		if (ret < 0 && ret != -EAGAIN && ret != -EBUSY)
			log_err("shard %d: io_uring_submit: %s", s->id, strerror(-ret));
		s->to_submit = 0;
	}
}

void shard_submit_now(struct shard *s)
{
	submit(s);
}

static void report_start(int err)
{
	pthread_mutex_lock(&start_lock);
	if (err && !start_error)
		start_error = err;
	start_reported++;
	pthread_cond_broadcast(&start_cond);
	pthread_mutex_unlock(&start_lock);
}

static int shard_setup(struct shard *s)
{
	/*
	 * Completions that need task work (socket receives woken by the network) run only when
	 * this thread asks for events, instead of interrupting it: fewer context switches. Older
	 * kernels get cooperative task running, or nothing.
	 */
	static const unsigned setups[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct io_uring_params p;
	int ret = -EINVAL;

	if (s->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(s->cpu, &set);
		ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (ret)
			log_warn("shard %d: cannot pin to CPU %d: %s; running unpinned", s->id,
				 s->cpu, strerror(ret));
	}
	ret = -EINVAL;
	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]) && ret == -EINVAL; i++) {
		memset(&p, 0, sizeof(p));
		p.flags = setups[i];
		ret = io_uring_queue_init_params(SHARD_RING_DEPTH, &s->ring, &p);
	}
	if (ret < 0) {
		log_err("shard %d: cannot create its io_uring ring: %s", s->id, strerror(-ret));
		return ret;
	}
	s->fdc = fd_cache_create(s->fd_cache_cap);
	if (!s->fdc) {
		io_uring_queue_exit(&s->ring);
		return -ENOMEM;
	}
	s->efd_uop.cb = eventfd_done;
	arm_eventfd(s);
	submit(s);
	return 0;
}

/* Runs the deferred work of this pass; returns how many items ran. */
static int run_deferred(struct shard *s)
{
	int n = 0;

	while (s->deferred) {
		struct shard_defer *d = s->deferred;

		s->deferred = d->next;
		d->queued = false;
		d->fn(d);
		n++;
	}
	return n;
}

uint64_t shard_reads_for_others(int id)
{
	return __atomic_load_n(&shards[id].nr_reads_for_others, __ATOMIC_RELAXED);
}

uint64_t shard_writes_for_others(int id)
{
	return __atomic_load_n(&shards[id].nr_writes_for_others, __ATOMIC_RELAXED);
}

static void shard_loop(struct shard *s)
{
	uint64_t last_work = now_ns();

	while (!ck_pr_load_8((uint8_t *)&s->stop)) {
		int work = msg_poll(SHARD_MSG_BATCH);
		uint64_t now;

		work += reap(s);
		work += run_deferred(s);
		msg_flush_wakes();
		submit(s);
		now = now_ns();
		if (work) {
			last_work = now;
			s->nr_ops += (uint64_t)work;
			continue;
		}
		if (s->spin.spin_ns && shard_spin_allowed(&s->spin, now, now - last_work)) {
			ck_pr_stall();
			continue;
		}
		shard_spin_stop(&s->spin);
		if (msg_sleep_begin()) {
			s->nr_sleeps++;
			io_uring_submit_and_wait(&s->ring, 1);
			msg_sleep_end();
		}
		last_work = now_ns();
	}
}

static void *shard_main(void *arg)
{
	struct shard *s = arg;
	char name[16];
	int ret;

	self = s;
	sd_thread_bind(s->id);
	msg_defer_wakes();
	snprintf(name, sizeof(name), "shard%d", s->id);
	log_set_thread_name(name);
	pthread_setname_np(pthread_self(), name); /* for top -H and perf */
	ret = shard_setup(s);
	report_start(ret);
	if (ret)
		return NULL;
	shard_loop(s);
	shard_spin_fini(&s->spin);
	log_info("shard %d: %" PRIu64 " busy passes, %" PRIu64 " sleeps, %" PRIu64
		 " pauses of its spinning for a busy CPU; lone requests sent to their owner: "
		 "%" PRIu64 " reads, %" PRIu64 " writes; done for a sleeping owner: %" PRIu64
		 " reads, %" PRIu64 " writes",
		 s->id, s->nr_ops, s->nr_sleeps, s->spin.nr_backoffs, s->nr_lone_reads,
		 s->nr_lone_writes, s->nr_reads_for_others, s->nr_writes_for_others);
	/* Requests are all complete by now: the control thread stops shards only when idle. */
	fd_cache_destroy(s->fdc, s);
	io_uring_queue_exit(&s->ring);
	buf_pool_drain();
	obj_fence_drain();
	peer_fds_drain();
	if (shard_exit_hook)
		shard_exit_hook();
	return NULL;
}

int shards_start(int nr, bool pin, const struct store_layout *store, int fd_cache_cap)
{
	const char *spin = getenv("SHEEP_SPIN_US");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t mine;

	if (nr < 1 || nr > SD_MAX_SHARDS || nr >= msg_mesh_size())
		return -EINVAL;
	shards = calloc((size_t)nr, sizeof(*shards));
	if (!shards)
		return -ENOMEM;
	nr_shards = nr;
	shard_spin_cpus_set(sched_getaffinity(0, sizeof(mine), &mine) ? NULL : &mine);
	start_reported = start_error = 0;
	for (int i = 0; i < nr; i++) {
		struct shard *s = &shards[i];
		int ret;

		s->id = i;
		s->cpu = pin && ncpu > 0 ? (int)(i % ncpu) : -1;
		s->store = store;
		s->fd_cache_cap = fd_cache_cap;
		shard_spin_init(&s->spin,
				spin ? (uint64_t)strtoull(spin, NULL, 10) * 1000 : SHARD_SPIN_NS,
				!spin);
		ret = pthread_create(&s->tid, NULL, shard_main, s);
		if (ret) {
			log_err("cannot start shard %d: %s", i, strerror(ret));
			report_start(-ret);
			nr_shards = i;
			for (int j = i + 1; j < nr; j++)
				report_start(0);
			break;
		}
	}
	pthread_mutex_lock(&start_lock);
	while (start_reported < nr)
		pthread_cond_wait(&start_cond, &start_lock);
	pthread_mutex_unlock(&start_lock);
	if (start_error) {
		int err = start_error;

		shards_stop();
		return err;
	}
	return 0;
}

void shards_stop(void)
{
	/* A flag and a wake-up rather than a message: this also works from outside the mesh. */
	for (int i = 0; i < nr_shards; i++) {
		uint64_t one = 1;

		ck_pr_store_8((uint8_t *)&shards[i].stop, 1);
		if (write(sd_thread_get(i)->efd, &one, sizeof(one)) < 0)
			log_warn("cannot wake shard %d to stop it: %s", i, strerror(errno));
	}
	for (int i = 0; i < nr_shards; i++)
		pthread_join(shards[i].tid, NULL);
	free(shards);
	shards = NULL;
	nr_shards = 0;
}
