/* Listening sockets, shared by the control port and the frontends. */
#ifndef SD_NET_H
#define SD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Binds and listens on addr:port (IPv4 or IPv6 literal). nonblock: for epoll loops; io_uring
 * accepts want a blocking socket. Returns the socket or -errno.
 */
int net_listen_tcp(const char *addr, uint16_t port, bool nonblock);

/* Binds and listens on a Unix socket path, replacing a stale socket file. Returns fd or -errno. */
int net_listen_unix(const char *path);

struct sockaddr_storage;

/* "a.b.c.d:port", "[v6]:port", or "a local client" for anything else (Unix sockets). */
void net_format_peer(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
