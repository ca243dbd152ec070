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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/conn_guard.h"
#include "../../core/evloop.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "../../cluster/peer/peer.h"
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
	struct evloop_fd *h;
	char peer[64];
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool backlog; /* complete frames wait in `in`: run them at the end of the pass */
	struct evloop_defer run_backlog;
	bool paused;	/* not reading: the memory budget has no room for its frame */
	bool dead;	/* closed; freed at the end of the loop pass */
	bool sniffed;	/* its first bytes were looked at: a control or a peer connection */
	size_t charged; /* in_cap + out_cap, as charged to the guard */
	struct conn_guard guard;
	/*
	 * A request answered later (a cluster change waits for Raft): the connection runs no
	 * other frame until it is answered. The call outlives a connection closed meanwhile.
	 */
	struct ctl_call *call;
	bool waiting;
	/*
	 * ctl_handle is running: an answer that comes back inside it (an operation that failed at
	 * once) is only queued, and process() goes on as for a synchronous reply.
	 */
	bool in_handle, answered_inline;
	struct conn *prev, *next;
};

static int nr_conns;
/* Every open connection: shut-down closes them all. */
static struct conn *conns;
/*
 * Closed connections wait here until the end of the loop pass. The loop drops events of
 * unregistered descriptors itself; this keeps a closed connection's memory valid for anything
 * else that still holds it during the pass (the guard's own lists while it expires one, say).
 */
static struct conn *graveyard;
static struct evloop_defer bury;
static struct evloop *loop;
static int listen_fd = -1;
static struct evloop_fd *listen_h;
static struct evloop_timer accept_resume; /* after EMFILE: accepting starts again */
static struct evloop_timer sweep_timer;	  /* once a second while there are connections */
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

struct evloop *ctl_loop(void)
{
	if (!loop) {
		loop = evloop_new();
		if (!loop)
			log_err("cannot create the control thread's event loop: %s",
				strerror(errno));
	}
	return loop;
}

static void set_events(struct conn *c)
{
	/* Output first: a client reads its reply before its next request is read. */
	evloop_fd_mod(loop, c->h, c->out_len ? EPOLLOUT : c->paused ? 0 : EPOLLIN);
}

/* Complete frames wait in the input buffer: they run at the end of this pass. */
static void set_backlog(struct conn *c)
{
	c->backlog = true;
	evloop_defer(loop, &c->run_backlog);
}

/* Closes the connection, or (keep_fd) only forgets it: its descriptor has a new owner. */
static void conn_drop(struct conn *c, const char *why, bool keep_fd)
{
	if (why)
		log_warn("closing control connection from %s: %s", c->peer, why);
	if (c->call) {
		if (c->waiting)
			c->call->conn = NULL; /* freed when its answer comes */
		else
			free(c->call);
		c->call = NULL;
	}
	evloop_fd_del(loop, c->h);
	evloop_defer_cancel(loop, &c->run_backlog);
	dlist_unlink(conns, c);
	guard_remove(&c->guard);
	if (!keep_fd)
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
	evloop_defer(loop, &bury);
	nr_conns--;
}

static void conn_close(struct conn *c, const char *why)
{
	conn_drop(c, why, false);
}

/*
 * Peer frames (node to node) arrive on this port too, as in the original sheepdog: they start
 * with the magic "SDPR", where a control frame starts with its big-endian length (0x00 first).
 * Returns true when the connection turned out to be a peer's and went to a shard.
 */
static bool sniff_peer(struct conn *c)
{
	static const uint8_t magic[4] = { 'S', 'D', 'P', 'R' };
	size_t n = c->in_len < 4 ? c->in_len : 4;

	if (c->sniffed)
		return false;
	if (c->in_len < 4 && !memcmp(c->in, magic, n))
		return true; /* maybe a peer's: wait for the rest of the magic */
	c->sniffed = true;
	if (memcmp(c->in, magic, 4))
		return false;
	peer_conn_adopt(c->fd, c->peer, c->in, c->in_len, limits);
	conn_drop(c, NULL, true);
	return true;
}

static void bury_the_dead(void *arg)
{
	(void)arg;
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
	set_backlog(c);
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
	conn_close(container_of(g, struct conn, guard), why);
}

static const struct guard_pool_ops pool_ops = { pool_resume, pool_expire };

static void conn_event(void *arg, uint32_t events);
static void run_backlog(void *arg);
static void listener_event(void *arg, uint32_t events);

static void resume_accepting(void *arg)
{
	(void)arg;
	if (evloop_fd_add(loop, listen_fd, EPOLLIN, listener_event, NULL, &listen_h) < 0) {
		/* Out of memory for one record: try again after the same pause. */
		listen_h = NULL;
		evloop_timer_start(loop, &accept_resume, CTL_ACCEPT_PAUSE_MS, 0);
	}
}

/* A connection just accepted becomes a control connection (or a peer's, once sniffed). */
static void conn_accepted(int fd, const struct sockaddr_storage *ss)
{
	struct conn_guard *victim;
	struct conn *c;
	int one = 1;

	guard_set_time(&pool, guard_clock_ms());
	switch (guard_make_room(&pool, &victim)) {
	case 0:
		break;
	case 1: /* the first of a second is logged, the rest counted by the sweep */
		conn_close(container_of(victim, struct conn, guard),
			   pool.evicted > 1
				   ? NULL
				   : "the control connection limit is reached (--limits "
				     "ctl-conns) and it had gone longest without completing a "
				     "request: closed for a new one");
		break;
	default: /* counted, and logged once a second by the sweep */
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	net_format_peer(ss, c->peer, sizeof(c->peer));
	evloop_defer_init(&c->run_backlog, run_backlog, c);
	if (evloop_fd_add(loop, fd, EPOLLIN, conn_event, c, &c->h) < 0) {
		close(fd);
		free(c);
		return;
	}
	nr_conns++;
	dlist_push(conns, c);
	guard_add(&pool, &c->guard, true, false);
	if (!evloop_timer_active(&sweep_timer))
		evloop_timer_start(loop, &sweep_timer, CTL_SWEEP_MS, CTL_SWEEP_MS);
}

/*
 * Connections accepted while the control thread waits, whose first bytes have not come yet:
 * looked at again on the next pass, and taken as control connections once the wait is over.
 */
#define CTL_WAIT_PENDING 32
static struct {
	int fd;
	struct sockaddr_storage ss;
} pending_fds[CTL_WAIT_PENDING];
static int nr_pending_fds;
static struct evloop_defer pending_flush;

/* Returns true if fd was a peer's (and went to a shard), false if it still has to be decided. */
static bool hand_if_peer(int fd, const struct sockaddr_storage *ss, bool *decided)
{
	static const uint8_t magic[4] = { 'S', 'D', 'P', 'R' };
	uint8_t first[4];
	ssize_t n = recv(fd, first, sizeof(first), MSG_PEEK | MSG_DONTWAIT);
	char peer[64];

	*decided = n != 0 && !(n < 0 && errno == EAGAIN) && (n < 0 || first[0] != 'S' || n == 4);
	if (n != (ssize_t)sizeof(first) || memcmp(first, magic, sizeof(magic)))
		return false;
	net_format_peer(ss, peer, sizeof(peer));
	peer_conn_adopt(fd, peer, NULL, 0, limits);
	return true;
}

static void flush_pending(void *arg)
{
	(void)arg;
	while (nr_pending_fds) {
		nr_pending_fds--;
		conn_accepted(pending_fds[nr_pending_fds].fd, &pending_fds[nr_pending_fds].ss);
	}
}

void ctl_accept_peers_during_wait(void)
{
	bool decided;

	if (!loop || listen_fd < 0 || !listen_h)
		return;
	for (int i = 0; i < nr_pending_fds;) {
		if (hand_if_peer(pending_fds[i].fd, &pending_fds[i].ss, &decided)) {
			pending_fds[i] = pending_fds[--nr_pending_fds];
		} else if (decided) {
			int fd = pending_fds[i].fd;
			struct sockaddr_storage ss = pending_fds[i].ss;

			pending_fds[i] = pending_fds[--nr_pending_fds];
			conn_accepted(fd, &ss);
		} else {
			i++;
		}
	}
	for (int n = 0; n < CTL_ACCEPT_BATCH && nr_pending_fds < CTL_WAIT_PENDING; n++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &slen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		/* A peer sends its frame right after connecting: its magic is usually there. */
		if (hand_if_peer(fd, &ss, &decided))
			continue;
		if (decided) {
			conn_accepted(fd, &ss);
			continue;
		}
		pending_fds[nr_pending_fds].fd = fd;
		pending_fds[nr_pending_fds].ss = ss;
		nr_pending_fds++;
		/* The loop's next pass (after the wait) takes what is still undecided. */
		evloop_defer_init(&pending_flush, flush_pending, NULL);
		evloop_defer(loop, &pending_flush);
	}
}

static void listener_event(void *arg, uint32_t events)
{
	int lfd = listen_fd;

	(void)arg;
	(void)events;
	/*
	 * A batch per pass, then the connections' own events: under a flood of connections, an
	 * admin's request that has arrived completes before the next batch comes in.
	 */
	for (int n = 0; n < CTL_ACCEPT_BATCH; n++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: without a pause the loop would spin on this. */
				log_err("accept on the control port: %s; pausing for %d ms",
					strerror(errno), CTL_ACCEPT_PAUSE_MS);
				evloop_fd_del(loop, listen_h);
				listen_h = NULL;
				evloop_timer_start(loop, &accept_resume, CTL_ACCEPT_PAUSE_MS, 0);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_err("accept on the control port: %s", strerror(errno));
			}
			return;
		}
		conn_accepted(fd, &ss);
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
/* The answer of a request that waited (ctl_ops.h): send it, then run the frames behind it. */
static void call_answer(struct ctl_call *call, const uint8_t *frame, size_t len)
{
	struct conn *c = call->conn;

	if (!c) {
		free(call); /* its connection closed while it ran */
		return;
	}
	c->waiting = false;
	if (c->in_handle)
		c->answered_inline = true;
	if (c->out_len + len > c->out_cap) {
		uint8_t *n = realloc(c->out, c->out_len + len);

		if (!n) {
			conn_close(c, "out of memory");
			return;
		}
		c->out = n;
		c->out_cap = c->out_len + len;
	}
	if (len)
		memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	if (c->in_handle)
		return; /* process() sends it */
	charge_sync(c);
	guard_served(&c->guard);
	if (flush_out(c)) {
		conn_close(c, "send failed");
		return;
	}
	set_events(c);
	if (c->in_len)
		set_backlog(c);
}

static int process(struct conn *c)
{
	size_t off = 0;
	int ran = 0, done = 0, ret;

	c->backlog = false;
	while (!c->out_len && !c->paused && !c->waiting) {
		const uint8_t *payload;
		uint32_t plen;
		size_t used;
		int st = ctl_frame_parse(c->in + off, c->in_len - off, CTL_MAX_FRAME, &payload,
					 &plen, &used);

		if (st == -EMSGSIZE) {
			conn_close(c, "frame larger than the protocol maximum");
			return -1;
		}
		if (st == CTL_FRAME_NEED_MORE)
			break;
		if (ran++ == CTL_MAX_PER_WAKEUP) {
			set_backlog(c); /* fairness: the others first */
			break;
		}
		ret = reserve_reply(c, payload, plen);
		if (ret < 0) {
			conn_close(c, "out of memory");
			return -1;
		}
		if (ret > 0)
			break; /* the frame waits in `in` for room */
		if (!c->call && !(c->call = calloc(1, sizeof(*c->call)))) {
			conn_close(c, "out of memory");
			return -1;
		}
		c->call->conn = c;
		c->call->answer = call_answer;
		c->in_handle = true;
		c->answered_inline = false;
		ret = ctl_handle(payload, plen, &c->out, &c->out_len, &c->out_cap, c->call);
		c->in_handle = false;
		if (c->dead)
			return -1;
		if (ret > 0 && c->answered_inline)
			ret = 0; /* answered already: a synchronous reply */
		if (ret < 0) {
			conn_close(c, "malformed request frame");
			return -1;
		}
		if (ret > 0) {
			c->waiting = true;
			off += used;
			break;
		}
		if (ctl_shutdown_requested())
			evloop_stop(loop); /* the reply still goes out, below */
		off += used;
		done++;
		charge_sync(c);
		guard_served(&c->guard);
		if (flush_out(c)) {
			conn_close(c, "send failed");
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
static void conn_readable(struct conn *c)
{
	ssize_t n;
	int ret;

	if (c->out_len || c->paused)
		return;
	if (c->backlog) {
		process(c); /* whole frames wait: run them before buffering more */
		return;
	}
	ret = reserve_input(c);
	if (ret < 0) {
		conn_close(c, "out of memory");
		return;
	}
	if (ret > 0)
		return;
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == 0) {
		conn_close(c, c->in_len ? "peer closed in the middle of a frame" : NULL);
		return;
	}
	if (n < 0) {
		conn_close(c, strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	if (sniff_peer(c))
		return;
	process(c);
}

static void conn_writable(struct conn *c)
{
	if (flush_out(c)) {
		conn_close(c, "send failed");
		return;
	}
	/* Frames that arrived while the reply was pending. */
	if (!c->out_len && c->in_len)
		process(c);
}

static void conn_event(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->dead)
		return;
	/*
	 * A connection we do not read (paused) still hears of a reset: close it, or the level-
	 * triggered hang-up would wake the loop on every pass until it resumes.
	 */
	if (!(events & (EPOLLIN | EPOLLOUT)) && (events & (EPOLLHUP | EPOLLERR))) {
		conn_close(c, NULL);
		return;
	}
	if (events & EPOLLOUT)
		conn_writable(c);
	else
		conn_readable(c);
}

/* A connection's frames that waited (fairness, or room in the budget) run after the others'. */
static void run_backlog(void *arg)
{
	struct conn *c = arg;

	if (c->backlog && !c->out_len)
		process(c);
}

/*
 * Once a second while there are connections (and once more after the last one closed, for its
 * counts): deadlines, and how many connections were refused or evicted meanwhile.
 */
static void sweep(void *arg)
{
	uint64_t refused, evicted;

	(void)arg;
	guard_set_time(&pool, guard_clock_ms());
	for (struct conn *c = conns; c; c = c->next)
		guard_tx_unsent(&c->guard, c->out_len ? net_unsent_bytes(c->fd) : -1);
	guard_sweep(&pool, &refused, &evicted);
	if (refused)
		log_warn("refused %llu control connections in the last second: %d are open",
			 (unsigned long long)refused, nr_conns);
	if (evicted > 1)
		log_warn("closed %llu more control connections in the last second to make room "
			 "for new ones (--limits ctl-conns)",
			 (unsigned long long)evicted - 1);
	if (!nr_conns)
		evloop_timer_stop(loop, &sweep_timer);
}

struct serve_hooks {
	int sig_fd, mesh_fd;
	void (*on_hup)(void);
	void (*on_mesh)(void);
};

static void mesh_event(void *arg, uint32_t events)
{
	struct serve_hooks *sh = arg;
	struct pollfd pfd = { .fd = sh->mesh_fd, .events = POLLIN };
	uint64_t v;

	(void)events;
	/* The eventfd blocks (the shards read theirs through io_uring), and a wait for a shard
	 * earlier in this pass may have drained it. */
	if (poll(&pfd, 1, 0) == 1 && read(sh->mesh_fd, &v, sizeof(v)) < 0)
		log_warn("reading the wake-up eventfd: %s", strerror(errno));
}

static void signal_event(void *arg, uint32_t events)
{
	struct serve_hooks *sh = arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(sh->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		sh->on_hup();
	} else {
		log_notice("got signal %u, shutting down", si.ssi_signo);
		evloop_stop(loop);
	}
}

/*
 * Every pass: the shards' messages, then the mesh's sleep protocol (a shard that sees us asleep
 * writes mesh_fd; one that does not, we see next pass).
 */
static bool before_sleep(void *arg)
{
	struct serve_hooks *sh = arg;

	sh->on_mesh();
	guard_set_time(&pool, guard_clock_ms());
	if (ctl_shutdown_requested())
		evloop_stop(loop);
	return msg_sleep_begin();
}

static void after_sleep(void *arg)
{
	(void)arg;
	msg_sleep_end();
}

void ctl_serve(int lfd, int sig_fd, void (*on_hup)(void), void (*on_mesh)(void))
{
	struct serve_hooks sh = { sig_fd, sd_thread_get(sd_self_id)->efd, on_hup, on_mesh };
	struct evloop_fd *sig_h = NULL, *mesh_h = NULL;
	int ret;

	if (!ctl_loop())
		return;
	listen_fd = lfd;
	guard_pool_init(&pool, limits, limits->ctl_conns, &pool_ops);
	evloop_defer_init(&bury, bury_the_dead, NULL);
	evloop_timer_init(&accept_resume, resume_accepting, NULL);
	evloop_timer_init(&sweep_timer, sweep, NULL);
	evloop_set_sleep_hooks(loop, before_sleep, after_sleep, &sh);
	ret = evloop_fd_add(loop, lfd, EPOLLIN, listener_event, NULL, &listen_h);
	if (!ret)
		ret = evloop_fd_add(loop, sig_fd, EPOLLIN, signal_event, &sh, &sig_h);
	if (!ret)
		ret = evloop_fd_add(loop, sh.mesh_fd, EPOLLIN, mesh_event, &sh, &mesh_h);
	if (ret)
		log_err("cannot watch the control port, signals and the shards' wake-ups: %s",
			strerror(-ret));
	else
		evloop_run(loop);

	while (conns)
		conn_close(conns, NULL);
	bury_the_dead(NULL);
	evloop_timer_stop(loop, &accept_resume);
	evloop_timer_stop(loop, &sweep_timer);
	listen_h = NULL;
	listen_fd = -1;
}

void ctl_loop_free(void)
{
	evloop_free(loop); /* with the records of the listener, the signalfd and the eventfd */
	loop = NULL;
}
