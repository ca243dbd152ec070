/* Listening sockets, shared by the control port and the frontends. */
#ifndef SD_NET_H
#define SD_NET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Binds and listens on addr:port (IPv4 or IPv6 literal). nonblock: for epoll loops; io_uring
 * accepts want a blocking socket. Returns the socket or -errno.
 */
int net_listen_tcp(const char *addr, uint16_t port, bool nonblock);

/* Binds and listens on a Unix socket path, replacing a stale socket file. Returns fd or -errno. */
int net_listen_unix(const char *path);

#endif
