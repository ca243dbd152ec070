/*
 * Per-thread buffer pools. Buffers are 4 KiB aligned, in power-of-two classes from 4 KiB to
 * 4 MiB; a freed buffer goes back to the calling thread's pool (a bounded cache), so the hot path
 * allocates nothing once warm. A buffer may be returned on another thread than the one it came
 * from: it simply joins that thread's cache.
 */
#ifndef SD_BUF_POOL_H
#define SD_BUF_POOL_H

#include <stddef.h>

#define BUF_POOL_MIN_SHIFT 12
#define BUF_POOL_MAX_SHIFT 22

/* A buffer of at least size bytes (size <= 4 MiB), or NULL. The caller owns it until buf_put. */
void *buf_get(size_t size);
/* Returns a buffer from buf_get with the same size. */
void buf_put(void *buf, size_t size);
/* The class size buf_get(size) would hand out. */
size_t buf_class_size(size_t size);
/* Frees every buffer cached by the calling thread (at thread exit). */
void buf_pool_drain(void);

#endif
