/* The shards' spin policy (shard_spin.h). */
#include "shard_spin.h"

#include <ck_pr.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often an adaptive spinner measures the machine's idle time (/proc/stat counts it in
 * 10 ms steps, so shorter periods would mostly measure the rounding). */
#define SPIN_SAMPLE_NS	    50000000
#define SPIN_BACKOFF_NS	    100000000
#define SPIN_BACKOFF_MAX_NS 3200000000u
/* Spare CPU: at least 1/SPIN_IDLE_DIV of a CPU idle on average. */
#define SPIN_IDLE_DIV 4

static int spin_slots;
static cpu_set_t spin_cpus; /* the CPUs sheep may run on; empty: all of them */

int shard_spin_cpus_set(const cpu_set_t *cpus)
{
	int n = cpus ? CPU_COUNT(cpus) : 0;

	if (cpus)
		spin_cpus = *cpus;
	else
		CPU_ZERO(&spin_cpus);
	ck_pr_store_int(&spin_slots, n > 1 ? n - 1 : 0);
	return n;
}

void shard_spin_slots_set(int n)
{
	ck_pr_store_int(&spin_slots, n);
}

/*
 * The idle time since boot of the CPUs sheep may run on (all of them when spin_cpus is empty),
 * in ns, or 0 when it cannot be read: idle plus iowait of /proc/stat's cpuN lines (a CPU whose
 * last task waits for I/O, as shards waiting in io_uring do, counts its idle time as iowait).
 * Opened each time: reading a proc file again through the same descriptor can return the old
 * text.
 */
static uint64_t machine_idle_ns(void)
{
	static __thread char buf[16384]; /* about 200 CPUs' lines; the rest are not counted */
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	long hz = sysconf(_SC_CLK_TCK);
	bool all = CPU_COUNT(&spin_cpus) == 0;
	unsigned long long sum = 0;
	char *line = buf;

	if (fd >= 0)
		close(fd);
	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = '\0';
	while (line && !strncmp(line, "cpu", 3)) {
		unsigned long long user, nice, sys, idle, iowait;
		bool total = line[3] == ' ';
		int cpu = total ? -1 : atoi(line + 3);

		/* Every CPU: the first line, their total. Some: their own lines. */
		if (total == all &&
		    (total || (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &spin_cpus))) &&
		    sscanf(line + 3 + strcspn(line + 3, " "), "%llu %llu %llu %llu %llu", &user,
			   &nice, &sys, &idle, &iowait) == 5)
			sum += idle + iowait;
		if (total && all)
			break;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return sum * (1000000000u / (uint64_t)hz);
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
 * Whether the machine has CPU to spare. A first sample (at the start, or after a pause) only
 * takes a baseline, and the shard spins on trial until the next, SPIN_SAMPLE_NS later, judges
 * the time in between: spinning all along, so that the idle time is the other CPUs'.
 */
static bool cpu_to_spare(struct shard_spin *sp, uint64_t now)
{
	uint64_t idle;
	bool spare;

	if (sp->sampled && now < sp->sample_at)
		return true;
	idle = shard_spin_idle_clock();
	if (!idle)
		return false;
	spare = !sp->sampled || idle < sp->idle_then || /* a CPU went offline: start again */
		(idle - sp->idle_then) * SPIN_IDLE_DIV >= now - sp->sampled;
	if (spare && sp->sampled && idle >= sp->idle_then)
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
		sp->sampled = 0; /* a fresh baseline when the pause ends */
		shard_spin_stop(sp);
		return false;
	}
	return sp->slot || take_slot(sp);
}
