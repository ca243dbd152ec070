/* NBD listeners: accepted on shard 0 through its ring, then dealt out round robin. */
#include "nbd_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "../../shard/shard_all.h"
#include "nbd_conn.h"

#define NBD_ACCEPT_RETRY_MS 100
#define NBD_STOP_WAIT_MS    5000

struct listener {
	int fd;
	bool tcp, stopping, busy;
	struct uop uop;
	struct __kernel_timespec retry;
};

static struct listener listeners[2];
static int nr_listeners;
static char unix_path[108];

/* Shard 0's turn counter for dealing connections. */
static unsigned next_shard;

struct handoff {
	struct sd_msg msg;
	int fd;
	bool tcp;
};

static void take_connection(void *arg)
{
	struct handoff *h = arg;

	nbd_conn_start(h->fd, h->tcp);
	free(h);
}

static void arm_accept(struct listener *l);

/*
 * The shard with the fewest connections, in turn among equals: every shard takes its share of
 * the connection limit, so dealing blindly in turn would refuse clients while another shard has
 * room (one client gone from shard 1, the next dealt to a full shard 0).
 */
static int pick_shard(void)
{
	int n = shard_count(), best = (int)(next_shard++ % (unsigned)n);
	uint32_t least = nbd_conns_on(best);

	for (int i = 1; i < n && least; i++) {
		int s = (best + i) % n;

		if (nbd_conns_on(s) < least) {
			least = nbd_conns_on(s);
			best = s;
		}
	}
	return best;
}

static void accept_done(struct uop *op, int res)
{
	struct listener *l = container_of(op, struct listener, uop);
	int target;

	l->busy = false;
	if (l->stopping) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res < 0) {
		if (res == -EMFILE || res == -ENFILE || res == -ENOMEM) {
			struct io_uring_sqe *sqe = shard_get_sqe(shard_self());

			log_warn("NBD accept: %s; trying again in %d ms", strerror(-res),
				 NBD_ACCEPT_RETRY_MS);
			/* The timeout's completion re-arms accept through the same callback. */
			l->retry.tv_sec = 0;
			l->retry.tv_nsec = NBD_ACCEPT_RETRY_MS * 1000000L;
			io_uring_prep_timeout(sqe, &l->retry, 0, 0);
			io_uring_sqe_set_data(sqe, &l->uop);
			l->busy = true;
			return;
		}
		if (res != -ETIME && res != -EINTR && res != -ECONNABORTED && res != -EAGAIN)
			log_warn("NBD accept: %s", strerror(-res));
		arm_accept(l);
		return;
	}
	target = pick_shard();
	if (target == shard_self()->id) {
		nbd_conn_start(res, l->tcp);
	} else {
		struct handoff *h = malloc(sizeof(*h));

		if (!h) {
			log_err("out of memory handing an NBD connection to shard %d", target);
			close(res);
		} else {
			h->fd = res;
			h->tcp = l->tcp;
			h->msg.fn = take_connection;
			h->msg.arg = h;
			msg_send(target, &h->msg);
		}
	}
	arm_accept(l);
}

static void arm_accept(struct listener *l)
{
	struct io_uring_sqe *sqe = shard_get_sqe(shard_self());

	io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->uop);
	l->busy = true;
}

static void start_on_shard(void *arg)
{
	(void)arg;
	if (shard_self()->id != 0)
		return;
	for (int i = 0; i < nr_listeners; i++)
		arm_accept(&listeners[i]);
}

int nbd_server_start(const char *addr, uint16_t port, const char *socket_path, char *err,
		     size_t errlen)
{
	int fd;

	nbd_conns_follow_hook_install();
	if (port) {
		fd = net_listen_tcp(addr, port, false);
		if (fd < 0) {
			snprintf(err, errlen, "cannot listen for NBD on %s:%u: %s%s", addr, port,
				 strerror(-fd),
				 fd == -EADDRINUSE ? " (choose another port with --nbd-port)" : "");
			return fd;
		}
		listeners[nr_listeners++] = (struct listener){ .fd = fd, .tcp = true };
	}
	if (socket_path) {
		fd = net_listen_unix(socket_path);
		if (fd < 0) {
			snprintf(err, errlen, "cannot listen for NBD on the Unix socket %s: %s%s",
				 socket_path, strerror(-fd),
				 fd == -EEXIST ? " (a file that is not a socket is in the way)"
				 : fd == -EADDRINUSE ? " (another server answers on it)"
						     : "");
			nbd_server_stop(NULL);
			return fd;
		}
		snprintf(unix_path, sizeof(unix_path), "%s", socket_path);
		listeners[nr_listeners++] = (struct listener){ .fd = fd };
	}
	for (int i = 0; i < nr_listeners; i++)
		listeners[i].uop.cb = accept_done;
	shard_run_on_all(start_on_shard, NULL);
	return 0;
}

/*
 * Stops accepting, closes every connection (also those handed over since the last call) and
 * counts what is still busy. Idempotent: the stop runs it until nothing is left.
 */
static void stop_on_shard(void *arg)
{
	int *left = arg;
	bool busy = false;

	if (shard_self()->id == 0) {
		for (int i = 0; i < nr_listeners; i++) {
			if (!listeners[i].stopping) {
				listeners[i].stopping = true;
				/* Ends a pending accept (it completes with an error). */
				shutdown(listeners[i].fd, SHUT_RDWR);
			}
			busy |= listeners[i].busy;
		}
	}
	__atomic_add_fetch(left, nbd_conns_close_all() + busy, __ATOMIC_RELAXED);
}

static void drain_on_shard(void *arg)
{
	(void)arg;
	if (!nbd_conns_count())
		nbd_cmd_cache_drain();
}

void nbd_server_stop(void (*pump)(void))
{
	int left = 0;

	if (!nr_listeners)
		return;
	for (int waited = 0; waited < NBD_STOP_WAIT_MS; waited += 10) {
		left = 0;
		shard_run_on_all(stop_on_shard, &left);
		if (!left)
			break;
		if (pump)
			pump();
		usleep(10000);
	}
	if (left)
		log_warn("NBD: %d connections still busy at shut-down", left);
	shard_run_on_all(drain_on_shard, NULL);
	for (int i = 0; i < nr_listeners; i++)
		close(listeners[i].fd);
	nr_listeners = 0;
	if (unix_path[0])
		unlink(unix_path);
	unix_path[0] = '\0';
}
