/* Listening sockets, shared by the control port and the frontends. */
#ifndef SD_NET_H
#define SD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Both listen calls wait when what they want is still held by a listener that no live process
 * owns (the io_uring ring of a sheep killed a moment ago keeps its sockets until the kernel has
 * torn the ring down): a warning once, then tries every 20 ms, up to 15 s in all for every
 * listener of the start-up together. A live owner fails them at once.
 */

/*
 * Binds and listens on addr:port (IPv4 or IPv6 literal). nonblock: for epoll loops; io_uring
 * accepts want a blocking socket. Returns the socket or -errno (-EADDRINUSE: the port is taken).
 */
int net_listen_tcp(const char *addr, uint16_t port, bool nonblock);

/*
 * Binds and listens on a Unix socket path, replacing a stale socket file. Returns fd or -errno
 * (-EADDRINUSE: a server answers there; -EEXIST: a file that is not a socket is in the way).
 */
int net_listen_unix(const char *path);

/*
 * Bytes the kernel still holds unsent (or unacknowledged) for a stream socket, or -1: it going
 * down means the peer reads, even while a large send has not completed yet.
 */
int net_unsent_bytes(int fd);

struct sockaddr_storage;

/*
 * The socket address of a node's 16-byte address (IPv4 when the first 12 bytes are zero, as in
 * struct sd_node_id) and port. Returns its length.
 */
struct sockaddr_storage;
unsigned net_node_sockaddr(const uint8_t addr[16], uint16_t port, struct sockaddr_storage *ss);

/* "a.b.c.d:port", "[v6]:port", or "a local client" for anything else (Unix sockets). */
void net_format_peer(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif
