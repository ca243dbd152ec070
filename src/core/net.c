/*
 * Listening sockets, shared by the control port and the frontends. A listener still held by a
 * sheep killed a moment ago is waited for (net_held.c) instead of failing at once.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "net_held.h"

#define NET_BACKLOG 128

static int listen_on(int family, const struct sockaddr *sa, socklen_t slen, bool nonblock)
{
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	/* Lets a restart bind over connections of the last run (TIME_WAIT, or kept by a ring). */
	if (family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, slen) < 0 || listen(fd, NET_BACKLOG) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int net_listen_tcp(const char *addr, uint16_t port, bool nonblock)
{
	struct sockaddr_storage ss = { 0 };
	bool waiting = false;
	char what[32];
	socklen_t slen;
	int fd;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -EINVAL;
		slen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		slen = sizeof(*s4);
	}
	snprintf(what, sizeof(what), "port %u", port);
	/* Whether to wait is decided once: a live owner makes it fail at once, as always. */
	while ((fd = listen_on(ss.ss_family, (struct sockaddr *)&ss, slen, nonblock)) ==
		       -EADDRINUSE &&
	       (waiting || net_tcp_port_orphaned(port)) && net_held_wait(what, &waiting))
		;
	if (waiting && fd >= 0)
		log_notice("%s is free again: listening", what);
	return fd;
}

int net_listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	bool waiting = false, orphaned;
	char what[sizeof(sun.sun_path) + 8];
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	snprintf(what, sizeof(what), "socket %s", path);
	while ((fd = net_unix_path_holder(&sun, &orphaned)) == -EADDRINUSE && orphaned &&
	       net_held_wait(what, &waiting))
		;
	if (fd == 0)
		fd = listen_on(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), false);
	if (waiting && fd >= 0)
		log_notice("%s is free again: listening", what);
	return fd;
}
int net_unsent_bytes(int fd)
{
	int n;

	return ioctl(fd, SIOCOUTQ, &n) < 0 ? -1 : n;
}

void net_format_peer(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "a local client");
	}
}

unsigned net_node_sockaddr(const uint8_t addr[16], uint16_t port, struct sockaddr_storage *ss)
{
	static const uint8_t zero[12];

	memset(ss, 0, sizeof(*ss));
	if (!memcmp(addr, zero, sizeof(zero))) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr + 12, 4);
		s4->sin_port = htons(port);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, addr, 16);
	s6->sin6_port = htons(port);
	return sizeof(*s6);
}
