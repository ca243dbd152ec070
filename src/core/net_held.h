/* Listeners held by nobody alive (see net_held.c), for net.c's listen calls. */
#ifndef SD_NET_HELD_H
#define SD_NET_HELD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

/*
 * One more round of waiting for what (a port or socket, for the log line) that nobody alive
 * holds: a warning the first time for each listener, then a short sleep. False once the
 * start-up's wait (30 s for all listeners together) is used up.
 */
bool net_held_wait(const char *what, bool *waiting);

/* Whether the TCP listeners on port are in the kernel's tables but open in no live process. */
bool net_tcp_port_orphaned(uint16_t port);

/*
 * What holds the socket file at sun: 0 nothing (no file, or a stale one, now removed), -EEXIST
 * a file that is not a socket, -EADDRINUSE a listener; *orphaned when its creator is dead.
 */
int net_unix_path_holder(const struct sockaddr_un *sun, bool *orphaned);

#endif
