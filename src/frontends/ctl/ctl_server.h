/*
 * The control thread's loop (core/evloop.h) and what it serves: the dog protocol listener, its
 * connections, signals and the shards' wake-ups.
 */
#ifndef SD_CTL_SERVER_H
#define SD_CTL_SERVER_H

#include <stdint.h>

struct conn_limits;
struct evloop;

/* The bounds on control connections (sheep --limits); the defaults until called. */
void ctl_set_limits(const struct conn_limits *lim);

/* Binds and listens on addr:port. Returns the socket or -errno. */
int ctl_listen(const char *addr, uint16_t port);

/*
 * Serves connections on listen_fd until SIGTERM/SIGINT arrive on sig_fd (a signalfd) or dog asks
 * for a shutdown. SIGHUP calls on_hup (log rotation). Runs on the control thread, which is also a
 * mesh thread: messages from the shards wake the loop, and on_mesh runs them (and whatever work
 * they queued) on every pass, before the mesh's sleep protocol.
 */
void ctl_serve(int listen_fd, int sig_fd, void (*on_hup)(void), void (*on_mesh)(void));

/*
 * The control thread's event loop (created on the first call; NULL if that failed), for what
 * else lives on the control thread: peer connections, timers, Raft's libuv backend. Whatever is
 * registered before or during ctl_serve runs while it serves. The loop outlives ctl_serve, so
 * that its users (sdcluster closing Raft) can tear down after serving ends; ctl_loop_free then
 * frees it, once they have (or have forgotten their handles).
 */
struct evloop *ctl_loop(void);
void ctl_loop_free(void);

#endif
