/*
 * When a shard with nothing to do spins instead of sleeping. A wake-up across CPUs costs tens of
 * microseconds on small VMs, more than a whole request, so a shard that expects its next request
 * soon keeps its CPU; but a spinning shard takes that CPU from the clients (QEMU, fio) when they
 * run on the same machine and need it.
 *
 * - Fixed (SHEEP_SPIN_US): a shard spins for spin_ns after its last work.
 * - Adaptive (the default): a shard spins 50 us after its last work only while it holds one of
 *   the spin slots (one fewer than the CPUs sheep may run on) and only while those CPUs have
 *   idle time to spare: a quarter of a CPU or more idle over the last 50 ms (/proc/stat; a
 *   spinner's own CPU is never idle, so that means idle beside the spinners). With less, it
 *   stops spinning for 100 ms, twice as long each time in a row, up to 3.2 s; after a pause it
 *   spins 50 ms on trial while it measures again. Spinning thus
 *   takes only time nothing else would run in: at queue depth 1 the client mostly waits and a
 *   CPU is idle; at queue depth 32 the clients keep every CPU busy and shards sleep when idle.
 */
#ifndef SD_SHARD_SPIN_H
#define SD_SHARD_SPIN_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

struct shard_spin {
	uint64_t spin_ns; /* how long to spin after the last work; 0: never */
	bool adaptive;
	bool slot;				/* holds a spin slot (adaptive) */
	uint64_t idle_then, sampled, sample_at; /* the machine's idle time at the last sample */
	uint64_t off_until, backoff;
	uint64_t nr_backoffs;
};

/* The machine's idle time since boot, all CPUs together, in ns (0: unknown); tests replace it. */
extern uint64_t (*shard_spin_idle_clock)(void);
/*
 * Before shards start: the CPUs sheep may run on (its affinity; NULL: every CPU), whose idle
 * time counts, and one spin slot fewer than there are of them. Returns how many there are.
 */
int shard_spin_cpus_set(const cpu_set_t *cpus);
/* Sets the number of spin slots shared by the adaptive spinners (tests). */
void shard_spin_slots_set(int n);
void shard_spin_init(struct shard_spin *sp, uint64_t spin_ns, bool adaptive);
void shard_spin_fini(struct shard_spin *sp);
/* With nothing to do, idle_ns after the last work: whether to spin on rather than sleep. */
bool shard_spin_allowed(struct shard_spin *sp, uint64_t now, uint64_t idle_ns);
/* Before sleeping: gives the slot back. */
void shard_spin_stop(struct shard_spin *sp);

#endif
