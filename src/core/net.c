/*
 * Listening sockets, shared by the control port and the frontends. A sheep killed with SIGKILL
 * leaves its listeners to its io_uring rings, which the kernel tears down only after the process
 * is gone; start-up waits (bounded) for such a listener instead of failing at once.
 */
#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

#define NET_BACKLOG 128
/* How long start-up waits, in all, for listeners held by dead processes; and how often it tries. */
#define NET_HELD_WAIT_MS  15000
#define NET_HELD_RETRY_MS 20
/* TCP listeners on one port (IPv4 and IPv6, one per address) looked at when deciding to wait. */
#define NET_MAX_LISTENERS 16

/* Monotonic ms when waiting ends; set by the first listener that waits, shared by the rest. */
static long long held_deadline_ms;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One more round of waiting for what (a port or socket) that nobody alive holds. The first round
 * of each listener says why start-up pauses. False once the start-up's wait is used up.
 */
static bool wait_held(const char *what, bool *waiting)
{
	long long now = now_ms();

	if (!held_deadline_ms)
		held_deadline_ms = now + NET_HELD_WAIT_MS;
	if (now >= held_deadline_ms)
		return false;
	if (!*waiting) {
		log_warn("%s is still held, probably by the io_uring ring of a sheep that was just "
			 "killed; waiting up to %lld s",
			 what, (held_deadline_ms - now + 999) / 1000);
		*waiting = true;
	}
	usleep(NET_HELD_RETRY_MS * 1000);
	return true;
}

/* Whether a process has one of the sockets in its descriptor table ("socket:[inode]"). */
static bool sockets_open_anywhere(const unsigned long *inodes, int n)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	bool found = false;

	if (!proc)
		return false;
	while (!found && (p = readdir(proc))) {
		char fd_dir[300];
		struct dirent *f;
		DIR *fds;

		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(fd_dir, sizeof(fd_dir), "/proc/%s/fd", p->d_name);
		fds = opendir(fd_dir);
		if (!fds)
			continue; /* gone, or another user's (see tcp_port_orphaned) */
		while (!found && (f = readdir(fds))) {
			char link[64];
			unsigned long ino;
			ssize_t len = readlinkat(dirfd(fds), f->d_name, link, sizeof(link) - 1);

			if (len <= 0)
				continue;
			link[len] = '\0';
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			for (int i = 0; i < n; i++)
				found |= ino == inodes[i];
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

/*
 * Whether the TCP listeners on port are orphans: in the kernel's tables (/proc/net/tcp, tcp6)
 * but open in no process, as when only a dead sheep's ring holds them. A listener of another
 * user is never taken for one: we could not see the process that has it open.
 */
static bool tcp_port_orphaned(uint16_t port)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned long inodes[NET_MAX_LISTENERS];
	uid_t me = geteuid();
	bool read_any = false;
	int n = 0;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		FILE *f = fopen(tables[t], "re");
		char line[512], local[64];
		unsigned state, uid;
		unsigned long ino;

		if (!f)
			continue;
		read_any = true;
		while (fgets(line, sizeof(line), f)) {
			const char *colon;

			if (sscanf(line, "%*d: %63s %*s %x %*s %*s %*s %u %*d %lu", local, &state,
				   &uid, &ino) != 4 ||
			    state != 0x0A /* TCP_LISTEN */)
				continue;
			colon = strrchr(local, ':');
			if (!colon || strtoul(colon + 1, NULL, 16) != port)
				continue;
			if (uid != me && me != 0) {
				fclose(f);
				return false;
			}
			if (n < NET_MAX_LISTENERS)
				inodes[n++] = ino;
		}
		fclose(f);
	}
	/* Without /proc there is no telling; with no listener left the next bind may succeed. */
	if (!read_any || !n)
		return true;
	return !sockets_open_anywhere(inodes, n);
}

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
	       (waiting || tcp_port_orphaned(port)) && wait_held(what, &waiting))
		;
	if (waiting && fd >= 0)
		log_notice("%s is free again: listening", what);
	return fd;
}

/*
 * What holds the socket file at sun: 0 nothing (no file, or a stale one, now removed), -EEXIST
 * a file that is not a socket, -EADDRINUSE a listener. *orphaned when that listener's creator
 * is dead (SO_PEERCRED names the process that called listen): then only its ring keeps it.
 */
static int unix_path_holder(const struct sockaddr_un *sun, bool *orphaned)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct stat st;
	int probe, ret = -EADDRINUSE;

	*orphaned = false;
	if (lstat(sun->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* not ours to remove */
	/* Non-blocking: a listener whose backlog is full would hold a blocking connect. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	if (connect(probe, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		*orphaned = getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
			    cred.pid > 0 && proc_state(cred.pid) != PROC_RUNNING;
	} else if (errno == EAGAIN) {
		*orphaned = true; /* a full backlog: nobody accepts; wait and see */
	} else {
		unlink(sun->sun_path); /* left by a sheep that died */
		ret = 0;
	}
	close(probe);
	return ret;
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
	while ((fd = unix_path_holder(&sun, &orphaned)) == -EADDRINUSE && orphaned &&
	       wait_held(what, &waiting))
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
