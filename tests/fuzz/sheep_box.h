/*
 * "Sheep in a box": one sheep node inside the fuzz process, set up as src/sheep/main.c sets up a
 * real node but without the daemon and the listeners. One shard serves the NBD connections the
 * fuzz targets hand it; the calling thread is the control thread and runs the control requests.
 * The box holds a formatted one-copy cluster with two VDIs: "vol0" (64 MiB, data at the start
 * and across the first object boundary) and "vol1" (4 MiB, empty).
 */
#ifndef SD_FUZZ_SHEEP_BOX_H
#define SD_FUZZ_SHEEP_BOX_H

#include <stdbool.h>
#include <stdint.h>

#define BOX_VOL0_SIZE (64u << 20)
#define BOX_VOL1_SIZE (4u << 20)

/*
 * Starts the box on the first call (the calling thread becomes the control thread for good) and
 * removes it at exit. Exits with 77 (skip) if this kernel cannot run sheep (no io_uring).
 */
void box_start(void);

/* Formats the cluster again and recreates the two VDIs with their data. */
void box_reset(void);

/* True if a VDI was created, deleted, resized or (de)allocated objects since the last reset. */
bool box_dirty(void);

/*
 * Waits up to timeout_ms for events on fd (-1: none) while doing the control thread's work, as
 * main.c's control_mesh_work does: the shards' messages and the map changes they ask for.
 * Returns fd's revents (0 on timeout).
 */
short box_poll(int fd, short events, int timeout_ms);

/* Runs fn(arg) on shard 0 and returns once it has run. */
void box_on_shard(void (*fn)(void *arg), void *arg);

uint64_t box_now_ms(void);

#endif
