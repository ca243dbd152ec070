/* The shards' spin policy (shard_spin.h). */
#include "shard_spin.h"

#include <ck_pr.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* How often an adaptive spinner measures the machine's idle time (/proc/stat counts it in
 * 10 ms steps, so shorter periods would mostly measure the rounding). */
#define SPIN_SAMPLE_NS	    50000000
#define SPIN_BACKOFF_NS	    100000000
#define SPIN_BACKOFF_MAX_NS 3200000000u
/* Spare CPU: at least 1/SPIN_IDLE_DIV of a CPU idle on average. */
#define SPIN_IDLE_DIV 4

static int spin_slots;

void shard_spin_slots_set(int n)
{
	ck_pr_store_int(&spin_slots, n);
}

/*
 * The idle time of all CPUs together since boot, in ns, or 0 when it cannot be read: idle plus
 * iowait of /proc/stat's first line (a CPU whose last task waits for I/O, as shards waiting in
 * io_uring do, counts its idle time as iowait). Opened each time: reading a proc file again
 * through the same descriptor can return the old text.
 */
static uint64_t machine_idle_ns(void)
{
	char buf[256];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	unsigned long long user, nice, sys, idle, iowait;
	long hz = sysconf(_SC_CLK_TCK);

	if (fd >= 0)
		close(fd);
	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait) != 5)
		return 0;
	return (idle + iowait) * (1000000000u / (uint64_t)hz);
}

uint64_t (*shard_spin_idle_clock)(void) = machine_idle_ns;

void shard_spin_init(struct shard_spin *sp, uint64_t spin_ns, bool adaptive)
{
	*sp = (struct shard_spin){ .spin_ns = spin_ns,
				   .adaptive = adaptive,
				   .backoff = SPIN_BACKOFF_NS };
}

void shard_spin_fini(struct shard_spin *sp)
{
	shard_spin_stop(sp);
}

void shard_spin_stop(struct shard_spin *sp)
{
	if (sp->slot) {
		sp->slot = false;
		ck_pr_inc_int(&spin_slots);
	}
}

static bool take_slot(struct shard_spin *sp)
{
	int n = ck_pr_load_int(&spin_slots);

	while (n > 0 && !ck_pr_cas_int_value(&spin_slots, n, n - 1, &n))
		;
	if (n <= 0)
		return false;
	sp->slot = true;
	return true;
}

/*
 * Whether the machine had CPU to spare since the last sample (taken at most every
 * SPIN_SAMPLE_NS; in between, the last answer, which was yes, holds).
 */
static bool cpu_to_spare(struct shard_spin *sp, uint64_t now)
{
	uint64_t idle, elapsed = now - sp->sampled;
	bool spare;

	if (sp->sampled && now < sp->sample_at)
		return true;
	idle = shard_spin_idle_clock();
	if (!idle)
		return false;
	spare = !sp->sampled || (idle - sp->idle_then) * SPIN_IDLE_DIV >= elapsed;
	if (spare)
		sp->backoff = SPIN_BACKOFF_NS;
	sp->idle_then = idle;
	sp->sampled = now;
	sp->sample_at = now + SPIN_SAMPLE_NS;
	return spare;
}

bool shard_spin_allowed(struct shard_spin *sp, uint64_t now, uint64_t idle_ns)
{
	if (idle_ns >= sp->spin_ns)
		return false;
	if (!sp->adaptive)
		return true;
	if (now < sp->off_until)
		return false;
	if (!cpu_to_spare(sp, now)) {
		sp->off_until = now + sp->backoff;
		if (sp->backoff < SPIN_BACKOFF_MAX_NS)
			sp->backoff *= 2;
		sp->nr_backoffs++;
		shard_spin_stop(sp);
		return false;
	}
	return sp->slot || take_slot(sp);
}
