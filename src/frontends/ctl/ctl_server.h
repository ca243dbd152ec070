/* The control thread's event loop: the dog protocol listener, its connections, and signals. */
#ifndef SD_CTL_SERVER_H
#define SD_CTL_SERVER_H

#include <stdint.h>

struct conn_limits;

/* The bounds on control connections (sheep --limits); the defaults until called. */
void ctl_set_limits(const struct conn_limits *lim);

/* Binds and listens on addr:port. Returns the socket or -errno. */
int ctl_listen(const char *addr, uint16_t port);

/*
 * Serves connections on listen_fd until SIGTERM/SIGINT arrive on sig_fd (a signalfd) or dog asks
 * for a shutdown. SIGHUP calls on_hup (log rotation). Runs on the control thread, which is also a
 * mesh thread: messages from the shards wake the loop, and on_mesh runs them (and whatever work
 * they queued) on every pass.
 */
void ctl_serve(int listen_fd, int sig_fd, void (*on_hup)(void), void (*on_mesh)(void));

#endif
