/*
 * Whether what a listener wants is held by nobody alive: a sheep killed with SIGKILL leaves its
 * listeners to its io_uring rings, which the kernel tears down only after the process is gone.
 * Start-up waits (bounded) for those, and fails at once for a live owner. Reads /proc.
 */
#include "net_held.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

/*
 * How long start-up waits, in all, for listeners held by dead processes (SHEEP_LISTEN_WAIT_S
 * overrides, 0 to 3600 s); and how often it tries.
 */
#define NET_HELD_WAIT_MS  30000
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

static long long held_wait_ms(void)
{
	const char *env = getenv("SHEEP_LISTEN_WAIT_S");
	char *end;
	long s;

	if (!env || !*env)
		return NET_HELD_WAIT_MS;
	s = strtol(env, &end, 10);
	if (*end || s < 0 || s > 3600) {
		log_warn("SHEEP_LISTEN_WAIT_S='%s' is not a number of seconds from 0 to 3600; "
			 "waiting the default %d s",
			 env, NET_HELD_WAIT_MS / 1000);
		return NET_HELD_WAIT_MS;
	}
	return (long long)s * 1000;
}

/*
 * One more round of waiting for what (a port or socket) that nobody alive holds. The first round
 * of each listener says why start-up pauses. False once the start-up's wait is used up.
 */
bool net_held_wait(const char *what, bool *waiting)
{
	long long now = now_ms();

	if (!held_deadline_ms)
		held_deadline_ms = now + held_wait_ms();
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
bool net_tcp_port_orphaned(uint16_t port)
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

/*
 * What holds the socket file at sun: 0 nothing (no file, or a stale one, now removed), -EEXIST
 * a file that is not a socket, -EADDRINUSE a listener. *orphaned when that listener's creator
 * is dead (SO_PEERCRED names the process that called listen): then only its ring keeps it.
 */
int net_unix_path_holder(const struct sockaddr_un *sun, bool *orphaned)
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
