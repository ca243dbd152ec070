/*
 * The shards' spin policy (shard_spin.h): the fixed spin window, the slots adaptive spinners
 * share, and adaptive spinning on idle CPU only: with a fake idle clock (the decisions and the
 * back-off), then with real threads keeping every CPU busy.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "shard/shard_spin.h"

#define MS 1000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The fake machine: idle_rate CPUs idle, advanced by hand along with the fake time. */
static uint64_t fake_idle, fake_now;
static double idle_rate;

static uint64_t fake_idle_clock(void)
{
	return fake_idle;
}

static void advance(uint64_t ns)
{
	fake_now += ns;
	fake_idle += (uint64_t)(idle_rate * (double)ns);
}

static void fake_setup(void)
{
	shard_spin_idle_clock = fake_idle_clock;
	fake_idle = 1000 * MS;
	fake_now = 1000000 * MS;
	shard_spin_slots_set(1);
}

Test(shard_spin, fixed_window)
{
	struct shard_spin sp;

	shard_spin_init(&sp, 50000, false);
	cr_assert(shard_spin_allowed(&sp, now_ns(), 0));
	cr_assert(shard_spin_allowed(&sp, now_ns(), 49999));
	cr_assert_not(shard_spin_allowed(&sp, now_ns(), 50000));
	shard_spin_fini(&sp);

	shard_spin_init(&sp, 0, false);
	cr_assert_not(shard_spin_allowed(&sp, now_ns(), 0), "0 never spins");
	shard_spin_fini(&sp);
}

Test(shard_spin, slots_are_shared, .init = fake_setup)
{
	struct shard_spin a, b;

	idle_rate = 2;
	shard_spin_init(&a, 50000, true);
	shard_spin_init(&b, 50000, true);
	cr_assert(shard_spin_allowed(&a, fake_now, 0));
	cr_assert_not(shard_spin_allowed(&b, fake_now, 0), "one slot, already taken");
	cr_assert(shard_spin_allowed(&a, fake_now, 10), "the holder goes on");
	cr_assert_not(shard_spin_allowed(&a, fake_now, 50000), "past the spin window");
	shard_spin_stop(&a);
	cr_assert(shard_spin_allowed(&b, fake_now, 0), "the slot given back is free");
	cr_assert_not(shard_spin_allowed(&a, fake_now, 0));
	shard_spin_fini(&b);
	cr_assert(shard_spin_allowed(&a, fake_now, 0), "fini gives the slot back");
	shard_spin_fini(&a);

	shard_spin_slots_set(0);
	shard_spin_init(&a, 50000, true);
	cr_assert_not(shard_spin_allowed(&a, fake_now, 0), "no slots (one CPU): never spins");
	shard_spin_fini(&a);
}

/*
 * Spins while a quarter of a CPU is idle; pauses 100 ms, 200 ms, ... while none is, each pause
 * followed by 50 ms of spinning on trial while it measures again.
 */
Test(shard_spin, spins_on_idle_cpu_only, .init = fake_setup)
{
	struct shard_spin sp;

	shard_spin_init(&sp, 50000, true);
	idle_rate = 0.5;
	cr_assert(shard_spin_allowed(&sp, fake_now, 0), "the first sample is a baseline: spin");
	for (int i = 0; i < 20; i++) {
		advance(10 * MS);
		cr_assert(shard_spin_allowed(&sp, fake_now, 0), "half a CPU idle: spin (%d)", i);
	}

	idle_rate = 0.2; /* the clients took the CPU */
	advance(60 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0), "no CPU to spare: stop");
	cr_assert_eq(sp.nr_backoffs, 1);
	cr_assert_not(sp.slot, "a paused spinner holds no slot");
	advance(99 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0), "paused for 100 ms");
	advance(2 * MS);
	cr_assert(shard_spin_allowed(&sp, fake_now, 0), "the pause is over: spin on trial");
	advance(30 * MS);
	cr_assert(shard_spin_allowed(&sp, fake_now, 0), "still on trial");
	advance(30 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0), "still busy: paused again");
	cr_assert_eq(sp.nr_backoffs, 2);
	advance(150 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0), "the second pause is 200 ms");

	idle_rate = 1; /* the load is gone */
	advance(60 * MS);
	cr_assert(shard_spin_allowed(&sp, fake_now, 0), "the pause is over: spin on trial");
	cr_assert(sp.slot);
	advance(60 * MS);
	cr_assert(shard_spin_allowed(&sp, fake_now, 0), "a whole CPU idle: go on spinning");
	idle_rate = 0;
	advance(60 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0));
	cr_assert_eq(sp.nr_backoffs, 3);
	advance(99 * MS);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0), "the pause started again from 100 ms");
	advance(2 * MS);
	cr_assert(shard_spin_allowed(&sp, fake_now, 0));
	shard_spin_fini(&sp);
}

Test(shard_spin, unknown_idle_time_never_spins, .init = fake_setup)
{
	struct shard_spin sp;

	fake_idle = 0;
	shard_spin_init(&sp, 50000, true);
	cr_assert_not(shard_spin_allowed(&sp, fake_now, 0));
	shard_spin_fini(&sp);
}

static atomic_bool hogs_stop;

static void *hog(void *arg)
{
	(void)arg;
	while (!atomic_load(&hogs_stop))
		;
	return NULL;
}

/* The real clock: with a busy thread for every CPU it may use, a spinner stops within 100 ms. */
Test(shard_spin, stops_when_every_cpu_is_busy, .timeout = 30)
{
	pthread_t t[64];
	struct shard_spin sp;
	uint64_t start, now;
	bool stopped = false;
	cpu_set_t mine;
	int n;

	/* Only the CPUs this test may run on count, so that a hog can sit on each of them. */
	cr_assert_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	n = shard_spin_cpus_set(&mine);
	if (n > 64)
		cr_skip_test("more than 64 CPUs");
	shard_spin_slots_set(1);
	shard_spin_init(&sp, 50000, true);
	atomic_store(&hogs_stop, false);
	for (int i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hog, NULL), 0);
	start = now_ns();
	while (!stopped && (now = now_ns()) - start < 5000 * MS)
		stopped = !shard_spin_allowed(&sp, now, 0);
	atomic_store(&hogs_stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	cr_assert(stopped, "the spinner never saw that no CPU was idle");
	cr_assert_eq(sp.nr_backoffs, 1);
	shard_spin_fini(&sp);
}
