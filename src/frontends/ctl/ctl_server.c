/*
 * Control connections. Each is read into a buffer until a whole frame is there; the request runs
 * to completion (the control thread orders all metadata changes), and the reply is queued. A
 * malformed, truncated-then-closed or oversized frame closes only that connection.
 *
 * The connection guard (conn_guard.h) bounds the rest: a buffer grows to a frame's announced size
 * only within the memory budget (else reading stops until others release), a frame must arrive
 * whole and a reply must be read in time, and when every slot is taken the connection that has
 * gone longest without completing a request makes room, so a flood of slow or half-open
 * connections never locks `dog` out.
 */
#include "ctl_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../core/conn_guard.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "../../shard/msg.h"
#include "ctl_frame.h"
#include "ctl_ops.h"

#define CTL_MAX_PER_WAKEUP  16	 /* requests one connection runs before others get a turn */
#define CTL_ACCEPT_PAUSE_MS 100	 /* after EMFILE: stop accepting for a moment */
#define CTL_SMALL_BUF	    4096 /* what an idle connection keeps for input and for output */
#define CTL_SWEEP_MS	    1000
#define CTL_ACCEPT_BATCH    32

struct conn {
	int fd;
	char peer[64];
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool backlog;	/* complete frames wait in `in`: run them in the next round */
	bool paused;	/* not reading: the memory budget has no room for its frame */
	bool dead;	/* closed; freed at the end of the loop pass */
	size_t charged; /* in_cap + out_cap, as charged to the guard */
	int unsent;	/* the socket's unsent bytes at the last sweep */
	struct conn_guard guard;
	struct conn *prev, *next;
};

static int nr_conns;
/* Every open connection: shut-down closes them all. */
static struct conn *conns;
/*
 * Closed connections wait here until the end of the loop pass: an event for one of them may still
 * be in the batch epoll_wait returned (a connection closed to make room, say).
 */
static struct conn *graveyard;
static bool accept_paused;
static struct timespec accept_resume; /* when accepting starts again after EMFILE */
static int epfd = -1;
static struct conn_limits default_limits = CONN_LIMITS_DEFAULT;
static const struct conn_limits *limits = &default_limits;
static struct guard_pool pool;

int ctl_listen(const char *addr, uint16_t port)
{
	return net_listen_tcp(addr, port, true);
}

void ctl_set_limits(const struct conn_limits *lim)
{
	limits = lim;
}

/* Brings the guard's charge in line with the buffers the connection holds now. */
static void charge_sync(struct conn *c)
{
	size_t mem = c->in_cap + c->out_cap;

	if (mem > c->charged)
		guard_charge(&c->guard, mem - c->charged);
	else if (mem < c->charged)
		guard_release(&c->guard, c->charged - mem);
	c->charged = mem;
}

static void set_events(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	/* Output first: a client reads its reply before its next request is read. */
	ev.events = c->out_len ? EPOLLOUT : c->paused ? 0 : EPOLLIN;
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(int ep, struct conn *c, const char *why)
{
	if (why)
		log_warn("closing control connection from %s: %s", c->peer, why);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	dlist_unlink(conns, c);
	guard_remove(&c->guard);
	close(c->fd);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_cap = c->out_cap = 0;
	c->in_len = c->out_len = 0;
	charge_sync(c);
	c->dead = true;
	c->next = graveyard;
	graveyard = c;
	nr_conns--;
}

static void bury_the_dead(void)
{
	while (graveyard) {
		struct conn *c = graveyard;

		graveyard = c->next;
		free(c);
	}
}

static void pool_resume(struct conn_guard *g)
{
	struct conn *c = container_of(g, struct conn, guard);

	c->paused = false;
	/* A whole frame may wait for its reply's room: the loop runs it (it has no event). */
	c->backlog = true;
	guard_rx(&c->guard, c->in_len != 0, false, true);
	set_events(c);
}

/* Stops reading until the budget has room (pool_resume); the request clock stops meanwhile. */
static void pause_conn(struct conn *c)
{
	c->paused = true;
	guard_rx(&c->guard, c->in_len != 0, false, false);
	set_events(c);
}

/*
 * Reserves the room the reply to a frame will take (ctl_reply_bound) before it runs. Returns 0,
 * 1 if the budget has no room now (paused), or -ENOMEM.
 */
static int reserve_reply(struct conn *c, const uint8_t *payload, uint32_t plen)
{
	size_t bound = ctl_reply_bound(payload, plen);
	uint8_t *nb;

	if (bound <= c->out_cap)
		return 0;
	if (!guard_admit(&c->guard, bound - c->out_cap)) {
		pause_conn(c);
		return 1;
	}
	nb = realloc(c->out, bound);
	if (!nb)
		return -ENOMEM;
	c->out = nb;
	c->out_cap = bound;
	charge_sync(c);
	return 0;
}

static void pool_expire(struct conn_guard *g, const char *why)
{
	conn_close(epfd, container_of(g, struct conn, guard), why);
}

static const struct guard_pool_ops pool_ops = { pool_resume, pool_expire };

static void do_accept(int ep, int lfd)
{
	/*
	 * A batch per pass, then the connections' own events: under a flood of connections, an
	 * admin's request that has arrived completes before the next batch comes in.
	 */
	for (int n = 0; n < CTL_ACCEPT_BATCH; n++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn_guard *victim;
		struct conn *c;
		int one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: without a pause the loop would spin on this. */
				log_err("accept on the control port: %s; pausing for %d ms",
					strerror(errno), CTL_ACCEPT_PAUSE_MS);
				epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
				accept_paused = true;
				clock_gettime(CLOCK_MONOTONIC, &accept_resume);
				accept_resume.tv_nsec += CTL_ACCEPT_PAUSE_MS * 1000000L;
				if (accept_resume.tv_nsec >= 1000000000L) {
					accept_resume.tv_sec++;
					accept_resume.tv_nsec -= 1000000000L;
				}
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_err("accept on the control port: %s", strerror(errno));
			}
			return;
		}
		guard_set_time(&pool, guard_clock_ms());
		switch (guard_make_room(&pool, &victim)) {
		case 0:
			break;
		case 1: /* the first of a second is logged, the rest counted by the sweep */
			conn_close(
				ep, container_of(victim, struct conn, guard),
				pool.evicted > 1
					? NULL
					: "the control connection limit is reached (--limits "
					  "ctl-conns) and it had gone longest without completing a "
					  "request: closed for a new one");
			break;
		default: /* counted, and logged once a second by the sweep */
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		net_format_peer(&ss, c->peer, sizeof(c->peer));
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		nr_conns++;
		dlist_push(conns, c);
		guard_add(&pool, &c->guard, true, false);
	}
}

/* Sends queued output. Returns 0, or -1 if the connection failed. */
static int flush_out(struct conn *c)
{
	bool progressed = false;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
		progressed = true;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		/* A large reply's buffer is not kept by an idle connection. */
		if (c->out_cap > CTL_SMALL_BUF) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
			charge_sync(c);
		}
	}
	/* Until the peer takes its replies, nothing more is read: bounded memory per connection. */
	guard_tx(&c->guard, c->out_len != 0, progressed);
	set_events(c);
	return 0;
}

/*
 * Makes room in the input buffer for the frame being received (its announced size, or a small
 * chunk while the header is incomplete). Returns 0, 1 if the memory budget has no room now (the
 * connection pauses and waits its turn), or -ENOMEM.
 */
static int reserve_input(struct conn *c)
{
	const uint8_t *payload;
	uint32_t plen;
	size_t need = CTL_SMALL_BUF, grow;
	uint8_t *nb;

	if (ctl_frame_parse(c->in, c->in_len, CTL_MAX_FRAME, &payload, &plen, &need) !=
		    CTL_FRAME_NEED_MORE ||
	    need < CTL_SMALL_BUF)
		need = CTL_SMALL_BUF;
	if (c->in_cap >= need && c->in_cap > c->in_len)
		return 0;
	if (need <= c->in_len)
		need = c->in_len + CTL_SMALL_BUF;
	grow = need - c->in_cap;
	if (!guard_admit(&c->guard, grow)) {
		pause_conn(c);
		return 1;
	}
	nb = realloc(c->in, need);
	if (!nb)
		return -ENOMEM;
	c->in = nb;
	c->in_cap = need;
	charge_sync(c);
	return 0;
}

/*
 * Runs the complete frames in the input buffer, one at a time, sending each reply before the
 * next request runs. Returns 0, or -1 if the connection was closed.
 */
static int process(int ep, struct conn *c)
{
	size_t off = 0;
	int ran = 0, done = 0, ret;

	c->backlog = false;
	while (!c->out_len && !c->paused) {
		const uint8_t *payload;
		uint32_t plen;
		size_t used;
		int st = ctl_frame_parse(c->in + off, c->in_len - off, CTL_MAX_FRAME, &payload,
					 &plen, &used);

		if (st == -EMSGSIZE) {
			conn_close(ep, c, "frame larger than the protocol maximum");
			return -1;
		}
		if (st == CTL_FRAME_NEED_MORE)
			break;
		if (ran++ == CTL_MAX_PER_WAKEUP) {
			c->backlog = true; /* fairness: the others first */
			break;
		}
		ret = reserve_reply(c, payload, plen);
		if (ret < 0) {
			conn_close(ep, c, "out of memory");
			return -1;
		}
		if (ret > 0)
			break; /* the frame waits in `in` for room */
		if (ctl_handle(payload, plen, &c->out, &c->out_len, &c->out_cap) < 0) {
			conn_close(ep, c, "malformed request frame");
			return -1;
		}
		off += used;
		done++;
		charge_sync(c);
		guard_served(&c->guard);
		if (flush_out(c)) {
			conn_close(ep, c, "send failed");
			return -1;
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	/* A 4 MiB write's buffer is not kept once its frame has run. */
	if (c->in_cap > CTL_SMALL_BUF && c->in_len <= CTL_SMALL_BUF) {
		uint8_t *nb = realloc(c->in, CTL_SMALL_BUF);

		if (nb) {
			c->in = nb;
			c->in_cap = CTL_SMALL_BUF;
			charge_sync(c);
		}
	}
	/* A frame that has begun must arrive whole in time; waiting on our side does not count. */
	guard_rx(&c->guard, c->in_len != 0, done > 0, !c->out_len && !c->paused);
	return 0;
}

/* One receive per wake-up, so a client that streams requests cannot starve the others. */
static void conn_readable(int ep, struct conn *c)
{
	ssize_t n;
	int ret;

	if (c->out_len || c->paused)
		return;
	if (c->backlog) {
		process(ep, c); /* whole frames wait: run them before buffering more */
		return;
	}
	ret = reserve_input(c);
	if (ret < 0) {
		conn_close(ep, c, "out of memory");
		return;
	}
	if (ret > 0)
		return;
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == 0) {
		conn_close(ep, c, c->in_len ? "peer closed in the middle of a frame" : NULL);
		return;
	}
	if (n < 0) {
		conn_close(ep, c, strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	process(ep, c);
}

static void conn_writable(int ep, struct conn *c)
{
	if (flush_out(c)) {
		conn_close(ep, c, "send failed");
		return;
	}
	/* Frames that arrived while the reply was pending. */
	if (!c->out_len && c->in_len)
		process(ep, c);
}

/* Once a second: deadlines, and how many connections were refused or evicted meanwhile. */
static void sweep(void)
{
	uint64_t refused, evicted;

	/* A client that reads its reply, however slowly, drains the socket: that is progress. */
	for (struct conn *c = conns; c; c = c->next) {
		int unsent = c->out_len ? net_unsent_bytes(c->fd) : -1;

		if (unsent >= 0 && unsent < c->unsent)
			guard_tx(&c->guard, true, true);
		c->unsent = unsent;
	}
	guard_sweep(&pool, &refused, &evicted);
	if (refused)
		log_warn("refused %llu control connections in the last second: %d are open",
			 (unsigned long long)refused, nr_conns);
	if (evicted > 1)
		log_warn("closed %llu more control connections in the last second to make room "
			 "for new ones (--limits ctl-conns)",
			 (unsigned long long)evicted - 1);
}

void ctl_serve(int listen_fd, int sig_fd, void (*on_hup)(void), void (*on_mesh)(void))
{
	int mesh_fd = sd_thread_get(sd_self_id)->efd;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	bool running = true;

	uint64_t last_sweep = guard_clock_ms();

	if (ep < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		return;
	}
	epfd = ep;
	guard_pool_init(&pool, limits, limits->ctl_conns, &pool_ops);
	ev.data.ptr = &listen_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
	{
		struct epoll_event sev = { .events = EPOLLIN, .data.ptr = &sig_fd };
		struct epoll_event mev = { .events = EPOLLIN, .data.ptr = &mesh_fd };

		epoll_ctl(ep, EPOLL_CTL_ADD, sig_fd, &sev);
		epoll_ctl(ep, EPOLL_CTL_ADD, mesh_fd, &mev);
	}
	while (running) {
		struct epoll_event evs[64];
		bool backlog = false, may_sleep;
		int n;

		on_mesh();
		for (struct conn *c = conns; c; c = c->next)
			backlog |= c->backlog;
		/* A shard that sees us asleep writes mesh_fd; one that does not, we see next pass.
		 */
		may_sleep = msg_sleep_begin();
		n = epoll_wait(ep, evs, 64,
			       backlog || !may_sleep ? 0
			       : accept_paused	     ? CTL_ACCEPT_PAUSE_MS
			       : nr_conns	     ? CTL_SWEEP_MS
						     : -1);
		if (may_sleep)
			msg_sleep_end();

		if (n < 0 && errno == EINTR)
			continue;
		if (accept_paused) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > accept_resume.tv_sec ||
			    (now.tv_sec == accept_resume.tv_sec &&
			     now.tv_nsec >= accept_resume.tv_nsec)) {
				accept_paused = false;
				epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
			}
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &listen_fd) {
				do_accept(ep, listen_fd);
			} else if (evs[i].data.ptr == &mesh_fd) {
				struct pollfd pfd = { .fd = mesh_fd, .events = POLLIN };
				uint64_t v;

				/* The eventfd blocks (the shards read theirs through io_uring), and
				 * a wait for a shard earlier in this pass may have drained it. */
				if (poll(&pfd, 1, 0) == 1 && read(mesh_fd, &v, sizeof(v)) < 0)
					log_warn("reading the wake-up eventfd: %s",
						 strerror(errno));
			} else if (evs[i].data.ptr == &sig_fd) {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					on_hup();
				} else {
					log_notice("got signal %u, shutting down", si.ssi_signo);
					running = false;
				}
			} else if (((struct conn *)evs[i].data.ptr)->dead) {
				continue;
			} else if (evs[i].events & (EPOLLOUT)) {
				conn_writable(ep, evs[i].data.ptr);
			} else {
				conn_readable(ep, evs[i].data.ptr);
			}
		}
		for (struct conn *c = conns, *next; c; c = next) {
			next = c->next; /* process() may close c */
			if (c->backlog && !c->out_len)
				process(ep, c);
		}
		guard_set_time(&pool, guard_clock_ms());
		if (pool.now - last_sweep >= CTL_SWEEP_MS) {
			last_sweep = pool.now;
			sweep();
		}
		bury_the_dead();
		if (ctl_shutdown_requested())
			running = false;
	}
	while (conns)
		conn_close(ep, conns, NULL);
	bury_the_dead();
	close(ep);
}
