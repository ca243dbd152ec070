/* Running a function on every shard, for the control thread. */
#ifndef SD_SHARD_ALL_H
#define SD_SHARD_ALL_H

/*
 * Runs fn(arg) on each shard (on their own threads, in parallel) and returns once all have run.
 * Only for a mesh thread that is not a shard. Returns 0, or -1 if out of memory.
 */
int shard_run_on_all(void (*fn)(void *arg), void *arg);

#endif
