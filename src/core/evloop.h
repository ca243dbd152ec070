/*
 * An event loop for one thread (the control thread): file descriptors, timers, end-of-pass
 * callbacks and one external backend (libuv's, for Raft) share one epoll_wait, so nothing that
 * lives on the thread has to block it or run a loop of its own.
 *
 * Threading: every function here is called from the thread that runs the loop (there is no
 * cross-thread wake-up: other threads wake it through a file descriptor it watches, as the mesh
 * eventfd does).
 *
 * One pass of evloop_run, in this order:
 *   1. before_sleep, if set (every pass, whether or not the loop means to block);
 *   2. epoll_wait, blocking until the next timer, the backend's timeout or an event, or not at all
 *      when before_sleep said no, an end-of-pass callback is queued, or evloop_stop was called;
 *   3. after_sleep, if before_sleep returned true;
 *   4. the callbacks of the descriptors that are ready, in the order epoll returned them;
 *   5. the backend's run function, if its descriptor was ready or its timeout has passed;
 *   6. the timers that are due, earliest first (ties in the order they were started); a timer
 *      started during this step waits for the next pass even if it is due at once;
 *   7. the end-of-pass callbacks queued before this step began, in the order queued (those queued
 *      while they run wait for the next pass, which then does not block);
 *   8. the records of unregistered descriptors are freed; evloop_run returns if stopped.
 *
 * Re-entrancy: any callback may call any function here except evloop_run and evloop_free. In
 * particular it may unregister any descriptor (its own included: an event still in this pass's
 * batch for a descriptor unregistered earlier in the pass is dropped, never delivered), cancel
 * any timer or end-of-pass callback (its own included) and then free the memory they live in.
 * The loop does not touch a timer or end-of-pass callback after calling its function.
 *
 * Ownership: descriptor records belong to the loop (the handle is valid until evloop_fd_del);
 * the descriptors themselves, timers and end-of-pass callbacks belong to the caller, who embeds
 * the latter two in its own objects and must stop them before freeing that memory.
 */
#ifndef SD_EVLOOP_H
#define SD_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct evloop;
struct evloop_fd;

/* events: what epoll reported (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP...). */
typedef void (*evloop_fd_fn)(void *arg, uint32_t events);

struct evloop_timer {
	void (*fn)(void *arg);
	void *arg;
	uint64_t when;	 /* CLOCK_MONOTONIC milliseconds at which it is due */
	uint64_t period; /* 0: one-shot */
	uint64_t seq;	 /* start order: ties, and "not in the pass it was started" */
	uint32_t slot;	 /* index in the loop's heap; EVLOOP_IDLE when not started */
};

struct evloop_defer {
	void (*fn)(void *arg);
	void *arg;
	struct evloop_defer *prev, *next; /* NULL when not queued */
};

#define EVLOOP_IDLE UINT32_MAX

/* Returns a new loop, or NULL with errno set. */
struct evloop *evloop_new(void);
/* Frees the loop and its descriptor records; closes no descriptor, touches no timer. */
void evloop_free(struct evloop *loop);

/*
 * Runs passes until evloop_stop. Returns after the pass in which evloop_stop was called (one
 * non-blocking pass if it was called before evloop_run).
 */
void evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

/* CLOCK_MONOTONIC milliseconds, as read when the loop last woke up. */
uint64_t evloop_now(const struct evloop *loop);

/*
 * Watches fd for events (EPOLLIN, EPOLLOUT, level-triggered; 0 watches only for EPOLLERR and
 * EPOLLHUP, which epoll always reports). Returns 0 and the handle in *h, or -errno.
 */
int evloop_fd_add(struct evloop *loop, int fd, uint32_t events, evloop_fd_fn fn, void *arg,
		  struct evloop_fd **h);
int evloop_fd_mod(struct evloop *loop, struct evloop_fd *h, uint32_t events);
/*
 * Stops watching; h is invalid afterwards and fn is not called again, not even for an event
 * already returned in this pass. Call it before closing the descriptor.
 */
void evloop_fd_del(struct evloop *loop, struct evloop_fd *h);

/* Sets up a timer that calls fn(arg); it is not started. */
void evloop_timer_init(struct evloop_timer *t, void (*fn)(void *arg), void *arg);
/*
 * Starts (or restarts) t: due delay_ms from now, never earlier; then every period_ms if period_ms
 * is not 0 (a periodic timer that fell behind skips the missed periods rather than firing in a
 * burst). A periodic timer is rescheduled before its function runs, so the function may stop it.
 * Returns 0 or -ENOMEM. O(log n).
 */
int evloop_timer_start(struct evloop *loop, struct evloop_timer *t, uint64_t delay_ms,
		       uint64_t period_ms);
/* Stops t if it is started; O(log n). A one-shot timer is stopped when its function runs. */
void evloop_timer_stop(struct evloop *loop, struct evloop_timer *t);
bool evloop_timer_active(const struct evloop_timer *t);

void evloop_defer_init(struct evloop_defer *d, void (*fn)(void *arg), void *arg);
/* Queues d to run at the end of this pass; nothing if it is queued already. */
void evloop_defer(struct evloop *loop, struct evloop_defer *d);
void evloop_defer_cancel(struct evloop *loop, struct evloop_defer *d);

/*
 * The sleep protocol of another wake-up mechanism (the mesh: msg_sleep_begin/msg_sleep_end).
 * before_sleep runs at the start of every pass and returns whether the loop may block; when it
 * returned true, after_sleep runs once the loop is awake again (even if it did not block).
 * Either may be NULL.
 */
void evloop_set_sleep_hooks(struct evloop *loop, bool (*before_sleep)(void *arg),
			    void (*after_sleep)(void *arg), void *arg);

/*
 * An external loop polled through one descriptor, as libuv offers: fd is uv_backend_fd(),
 * timeout returns uv_backend_timeout() (milliseconds; -1: none; 0: run now) and is asked every
 * pass, and run (uv_run(UV_RUN_NOWAIT)) is called in the pass when fd is readable or the timeout
 * has passed. One backend per loop; fd -1 removes it. Returns 0 or -errno.
 */
int evloop_set_backend(struct evloop *loop, int fd, int (*timeout)(void *arg),
		       void (*run)(void *arg), void *arg);

#endif
