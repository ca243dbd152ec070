/*
 * sheep: start-up and shut-down of the daemon. The main thread becomes the control thread (the
 * last thread of the message mesh) once the shards run.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cluster/obj_check.h"
#include "../cluster/recovery/recovery.h"
#include "../cluster/sdcluster/sdcluster.h"
#include "../cluster/obj_sweep.h"
#include "../cluster/sys.h"
#include "../core/atomic_file.h"
#include "../core/log.h"
#include "../core/proc.h"
#include "../cluster/vdi_mapq.h"
#include "../cluster/vdi_share.h"
#include "../gateway/gw.h"
#include "../frontends/ctl/ctl_server.h"
#include "../frontends/nbd/nbd_conn.h"
#include "../frontends/nbd/nbd_server.h"
#include "../shard/buf_pool.h"
#include "../shard/shard.h"
#include "daemon.h"
#include "options.h"

#define LOCK_WAIT_MS  15000
#define LOCK_RETRY_MS 20

static char log_path[PATH_MAX + 16];
static bool foreground;

static void startup_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void startup_fail(const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (foreground)
		fprintf(stderr, "%s\n", msg);
	daemon_report(msg);
	exit(1);
}

static const char *port_str(uint16_t port)
{
	static char buf[8];

	snprintf(buf, sizeof(buf), "%u", port);
	return buf;
}

/* Messages from the shards to the control thread, and the map changes they ask for. */
static void control_mesh_work(void)
{
	int n;

	do {
		n = msg_poll(64);
		n += vdi_mapq_run();
	} while (n);
}

static void reopen_log(void)
{
	if (!foreground && log_reopen(log_path) == 0)
		log_notice("log reopened");
}

static int make_dir(const char *dir)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The address this node is known by: the bind address, or for a wildcard the first non-loopback
 * IPv4 address (as the original sheepdog), else loopback. */
static void advertised_addr(const char *bind, uint8_t addr[16])
{
	struct ifaddrs *ifa, *i;

	if (strcmp(bind, "0.0.0.0") && strcmp(bind, "::") && !node_addr_parse(bind, addr))
		return;
	node_addr_parse("127.0.0.1", addr);
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)i->ifa_addr;

			if ((ntohl(s->sin_addr.s_addr) >> 24) == 127)
				continue;
			memset(addr, 0, 16);
			memcpy(addr + 12, &s->sin_addr, 4);
			break;
		}
	}
	freeifaddrs(ifa);
}

/* The pid a sheep wrote into DIR/sheep.pid, or 0. */
static pid_t pidfile_pid(const char *dir)
{
	char path[PATH_MAX + 16];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/sheep.pid", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/*
 * Takes DIR/lock, held until exit. A sheep killed a moment ago holds it until the kernel has
 * finished its exit: when DIR/sheep.pid names a process that is dying or gone, wait for the lock
 * (bounded, with a log line) so that a restart right after a SIGKILL comes back. A running sheep
 * makes it fail at once (-EWOULDBLOCK, *holder set).
 */
static int lock_dir(const char *dir, pid_t *holder)
{
	char path[PATH_MAX + 16];
	bool said = false;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += LOCK_RETRY_MS) {
		int err = -errno;

		*holder = pidfile_pid(dir);
		if (err != -EWOULDBLOCK || waited >= LOCK_WAIT_MS ||
		    proc_state(*holder) == PROC_RUNNING) {
			close(fd);
			return err;
		}
		if (!said)
			log_warn("%s is still held by sheep %d, which is exiting (killed a moment "
				 "ago?); waiting up to %d s",
				 path, (int)*holder, LOCK_WAIT_MS / 1000);
		said = true;
		usleep(LOCK_RETRY_MS * 1000);
	}
	if (said)
		log_notice("%s is free again", path);
	return fd;
}

static void write_pidfile(const char *dir)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (atomic_file_write(dir, "sheep.pid", buf, (size_t)n))
		log_warn("cannot write %s/sheep.pid: %s", dir, strerror(errno));
}

int main(int argc, char **argv)
{
	struct sheep_options o;
	char uring_msg[512], err[1024];
	struct rlimit rl;
	sigset_t mask;
	int ret, nr_shards, lfd, sfd, fd_cap;
	pid_t holder = 0;

	ret = sheep_parse_options(argc, argv, &o);
	if (ret)
		return ret > 0 ? 0 : 1;
	foreground = o.foreground;
	ret = make_dir(o.dir);
	if (ret || !realpath(o.dir, sys.dir)) {
		fprintf(stderr, "cannot create the data directory %s: %s\n", o.dir,
			strerror(ret ? -ret : errno));
		return 1;
	}
	snprintf(log_path, sizeof(log_path), "%s/sheep.log", sys.dir);
	if (!foreground) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr, "cannot open %s: %s\n", log_path, strerror(errno));
			return 1;
		}
		if (daemon_begin() < 0) {
			fprintf(stderr, "cannot daemonize: %s\n", strerror(errno));
			return 1;
		}
		log_init(fd, o.log_level);
	} else {
		log_init(2, o.log_level);
	}
	log_set_thread_name("main");

	ret = lock_dir(sys.dir, &holder);
	if (ret == -EWOULDBLOCK)
		startup_fail("another sheep is already running on %s (pid %d holds %s/lock)",
			     sys.dir, (int)holder, sys.dir);
	if (ret < 0)
		startup_fail("cannot lock %s/lock: %s", sys.dir, strerror(-ret));
	if (uring_probe(uring_msg, sizeof(uring_msg)))
		startup_fail("%s", uring_msg);

	/* Signals go to the control thread's signalfd; every thread inherits this mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		startup_fail("signalfd: %s", strerror(errno));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	nr_shards = o.shards ? o.shards : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nr_shards < 1)
		nr_shards = 1;
	if (nr_shards > SD_MAX_SHARDS)
		nr_shards = SD_MAX_SHARDS;

	memset(&sys.self, 0, sizeof(sys.self));
	advertised_addr(o.bind_addr, sys.self.nid.addr);
	sys.self.nid.port = o.port;
	sys.self.nr_vnodes = o.gateway ? 0 : o.vnodes;
	sys.self.zone = o.zone_set ? o.zone : node_default_zone(sys.self.nid.addr);
	sys.gateway = o.gateway;
	sys.default_copies = o.copies;
	sys.clustered = strcmp(o.cluster_driver, "local") != 0;

	if (cluster_init(err, sizeof(err)))
		startup_fail("%s", err);
	ret = msg_mesh_init(nr_shards + 1);
	if (ret)
		startup_fail("cannot set up message rings for %d shards: %s", nr_shards,
			     strerror(-ret));
	sd_thread_bind(nr_shards);
	log_set_thread_name("ctl");
	/* Half the descriptor limit goes to cached object files, shared by the shards. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 1024;
	fd_cap = (int)(rl.rlim_cur > 256 ? (rl.rlim_cur - 256) / 2 / (rlim_t)nr_shards : 8);
	fd_cap = fd_cap < 8 ? 8 : fd_cap > 4096 ? 4096 : fd_cap;
	if (sys.clustered)
		shard_exit_hook = obj_check_drain;
	ret = shards_start(nr_shards, o.shards == 0, sys.store, fd_cap);
	if (ret)
		startup_fail("cannot start %d shards: %s", nr_shards, strerror(-ret));
	/* sdcluster: the VDI table and the view come from the cluster's log (sdcluster_start). */
	if (!sys.clustered && sys.cfg.ctime && cluster_load_vdis(err, sizeof(err)))
		startup_fail("%s", err);
	if (!sys.clustered && cluster_view_publish_local())
		startup_fail("cannot publish the cluster view to the shards");
	lfd = ctl_listen(o.bind_addr, o.port);
	if (lfd < 0)
		startup_fail("cannot listen on %s:%u: %s%s", o.bind_addr, o.port, strerror(-lfd),
			     lfd == -EADDRINUSE ? " (another sheep, or another program, has that "
						  "port: choose one with -p)"
						: "");
	nbd_conn_set_limits(&o.limits);
	ctl_set_limits(&o.limits);
	if ((o.nbd_port || o.nbd_socket) &&
	    nbd_server_start(o.bind_addr, o.nbd_port, o.nbd_socket, err, sizeof(err)))
		startup_fail("%s", err);
	if (sys.clustered) {
		struct sdcluster_opts so = { .cluster_port = o.cluster_port,
					     .nr_shards = nr_shards,
					     .zk_hosts = o.zk_hosts,
					     .zk_timeout_ms = o.zk_timeout_ms };

		for (int i = 0; i < o.nr_seeds; i++)
			seed_parse(o.seeds[i], &so.seeds[so.nr_seeds++]);
		/* This node's own; a cluster-wide set-throttle in the log overrides it. */
		if (o.recovery_set)
			recovery_set_throttle(o.recovery_max, o.recovery_interval);
		if (sdcluster_start(&so, ctl_loop(), err, sizeof(err)))
			startup_fail("%s", err);
	}
	obj_sweep_start(ctl_loop());
	write_pidfile(sys.dir);
	log_notice("sheepdog daemon (version %s) started: %s, port %u, %d shards, %s", SD_VERSION,
		   sys.dir, o.port, nr_shards, sys.cfg.ctime ? "formatted" : "waiting for format");
	if (o.nbd_port || o.nbd_socket)
		log_notice("NBD: every VDI is an export named after it%s%s%s%s",
			   o.nbd_port ? ", on TCP port " : "",
			   o.nbd_port ? port_str(o.nbd_port) : "",
			   o.nbd_socket ? ", on the Unix socket " : "",
			   o.nbd_socket ? o.nbd_socket : "");
	daemon_report(NULL);

	ctl_serve(lfd, sfd, reopen_log, control_mesh_work);
	gw_stop_retrying();
	if (sys.clustered)
		sdcluster_stop();
	obj_sweep_stop();
	ctl_loop_free();

	close(lfd);
	nbd_server_stop(control_mesh_work);
	export_table_retire();
	gw_retire();
	shards_stop();
	buf_pool_drain();
	vdi_table_destroy(&sys.vdis);
	snprintf(log_path, sizeof(log_path), "%s/sheep.pid", sys.dir);
	unlink(log_path);
	log_notice("sheep exits");
	return 0;
}
