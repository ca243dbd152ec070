/*
 * Inbound peer connections on a shard: frames are read through the shard's ring, validated
 * (peer_wire.h) against this node's view, executed, and answered in any order (the requester
 * matches replies by req_id). A plain request runs on this node's copy (obj_submit, which goes
 * to the owning shard); a FORWARD makes this node order the write (gw_submit_primary); a FLUSH runs
 * the local barrier.
 *
 * Bounded like NBD (docs/limits.md): each request is charged its structure and payload or read
 * buffer before its header is taken; a connection that may not take more stops being read. A
 * malformed frame closes the connection; a refused one is answered with its code after its
 * payload has been skipped, so the stream stays in step.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/inode.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "../../gateway/gw.h"
#include "../../shard/buf_pool.h"
#include "peer.h"

#define PC_RBUF_SIZE	(256u << 10)
#define PC_MAX_INFLIGHT 1024
#define PC_SEND_ITEMS	64
#define PC_SWEEP_MS	1000
#define PC_BUF_POOL_MAX (1u << BUF_POOL_MAX_SHIFT)

struct peer_conn;

struct peer_sreq {
	struct peer_conn *c;
	struct peer_hdr h;
	uint32_t charge;
	void *data;
	uint32_t data_len;
	int err;
	uint32_t reply_len; /* payload bytes after the reply's header */
	union {
		struct obj_req obj;
		struct gw_req gw;
		struct obj_flush_req flush;
	} u;
	uint8_t reply[PEER_HDR_SIZE];
	struct peer_sreq *out_next;
};

struct peer_conn {
	int fd;
	char peer[64];
	bool closing, paused, recv_busy, send_busy, kicking, want_resume;
	struct conn_guard guard;
	uint8_t *rbuf;
	uint32_t rpos, rlen;
	struct peer_sreq *rx; /* a WRITE whose payload is arriving straight into it */
	uint32_t rx_have;
	uint64_t discard;	       /* payload bytes of a refused frame to skip */
	struct peer_sreq *discard_req; /* answered once they are skipped */
	struct peer_sreq *out_head, **out_tail;
	uint32_t out_sent;
	struct msghdr mh;
	struct iovec iov[PC_SEND_ITEMS * 2];
	struct uop recv_uop, send_uop;
	struct shard_defer kick;
	int inflight;
	bool completed; /* a frame was received whole in this parse */
	struct peer_conn *next, *prev;
};

static __thread struct peer_conn *conns;
static __thread int nr_conns;
static __thread struct guard_pool pool;
static __thread bool pool_ready;
static __thread struct shard_timer sweep_timer;

static void arm_recv(struct peer_conn *c);
static void parse(struct peer_conn *c);
static void start_send(struct peer_conn *c);
static void conn_close(struct peer_conn *c, const char *why);

static void *buf_alloc(uint32_t len)
{
	if (!len)
		return NULL;
	if (len <= PC_BUF_POOL_MAX)
		return buf_get(len);
	return aligned_alloc(4096, ((size_t)len + 4095) & ~(size_t)4095);
}

static void buf_free(void *p, uint32_t len)
{
	if (!p)
		return;
	if (len <= PC_BUF_POOL_MAX)
		buf_put(p, len);
	else
		free(p);
}

static void kick_run(struct shard_defer *d);

static void kick(struct peer_conn *c, bool resume)
{
	c->want_resume |= resume;
	shard_defer(shard_self(), &c->kick);
}

static void free_when_run(struct shard_defer *d)
{
	free(container_of(d, struct peer_conn, kick));
}

static void maybe_free(struct peer_conn *c)
{
	if (!c->closing || c->recv_busy || c->send_busy || c->kicking || c->inflight)
		return;
	dlist_unlink(conns, c);
	nr_conns--;
	close(c->fd);
	free(c->rbuf);
	if (c->kick.queued)
		c->kick.fn = free_when_run;
	else
		free(c);
}

static void sreq_put(struct peer_sreq *s)
{
	struct peer_conn *c = s->c;

	buf_free(s->data, s->data_len);
	guard_release(&c->guard, s->charge);
	free(s);
	c->inflight--;
	if (c->paused)
		kick(c, true);
}

static void kick_run(struct shard_defer *d)
{
	struct peer_conn *c = container_of(d, struct peer_conn, kick);

	c->kicking = true;
	if (c->want_resume && !c->closing) {
		c->want_resume = false;
		c->paused = false;
		guard_set_time(&pool, guard_clock_ms());
		parse(c);
		arm_recv(c);
	}
	start_send(c);
	c->kicking = false;
	maybe_free(c);
}

static void pool_resume(struct conn_guard *g)
{
	kick(container_of(g, struct peer_conn, guard), true);
}

static void pool_expire(struct conn_guard *g, const char *why)
{
	conn_close(container_of(g, struct peer_conn, guard), why);
}

static const struct guard_pool_ops pool_ops = { pool_resume, pool_expire };

static void sweep(struct shard_timer *t)
{
	uint64_t refused, evicted;

	guard_set_time(&pool, guard_clock_ms());
	for (struct peer_conn *c = conns; c; c = c->next)
		guard_tx_unsent(&c->guard, c->send_busy ? net_unsent_bytes(c->fd) : -1);
	guard_sweep(&pool, &refused, &evicted);
	if (refused)
		log_warn("refused %llu peer connections: this shard holds its share of the limit",
			 (unsigned long long)refused);
	if (pool.nr)
		shard_timer_start(t, PC_SWEEP_MS);
}

static void conn_close(struct peer_conn *c, const char *why)
{
	if (c->closing)
		return;
	if (why)
		log_warn("peer connection from %s: %s; closing it", c->peer, why);
	c->closing = true;
	guard_remove(&c->guard);
	shutdown(c->fd, SHUT_RDWR);
	if (c->rx) {
		struct peer_sreq *s = c->rx;

		c->rx = NULL;
		if (!c->recv_busy)
			sreq_put(s);
		else
			c->rx = s; /* freed once the receive into it has ended */
	}
	if (c->discard_req) {
		/* A refused frame whose payload will never come: nothing to answer. */
		sreq_put(c->discard_req);
		c->discard_req = NULL;
	}
	while (c->out_head && !c->send_busy) {
		struct peer_sreq *s = c->out_head;

		c->out_head = s->out_next;
		sreq_put(s);
	}
	maybe_free(c);
}

int peer_conns_count(void)
{
	return nr_conns;
}

int peer_conns_close_all(void)
{
	for (struct peer_conn *c = conns, *next; c; c = next) {
		next = c->next;
		conn_close(c, NULL);
	}
	return nr_conns;
}

/* Queues the reply to s (its code from s->err, its bytes for a successful READ). */
static void reply(struct peer_sreq *s)
{
	struct peer_conn *c = s->c;
	struct cluster_view *v = cluster_view_current();
	uint32_t code = peer_result_from_errno(s->err);
	struct peer_hdr h = { .opcode = s->h.opcode,
			      .flags = PEER_F_REPLY,
			      .cluster_id = v ? v->cluster_id : 0,
			      .epoch = v ? v->epoch : 0,
			      .sender = v && v->self >= 0 ? (uint32_t)v->self : 0,
			      .req_id = s->h.req_id,
			      .oid = s->h.oid,
			      .result = code,
			      .shard = s->h.shard };

	if (!code && (s->h.opcode == PEER_OP_READ || s->h.opcode == PEER_OP_PULL))
		h.length = s->h.length;
	s->reply_len = h.length;
	peer_hdr_encode(&h, s->reply);
	if (c->closing) {
		sreq_put(s);
		maybe_free(c);
		return;
	}
	s->out_next = NULL;
	*c->out_tail = s;
	c->out_tail = &s->out_next;
	guard_served(&c->guard);
	kick(c, false);
}

static void send_done(struct uop *op, int res)
{
	struct peer_conn *c = container_of(op, struct peer_conn, send_uop);

	guard_set_time(&pool, guard_clock_ms());
	c->send_busy = false;
	if (res <= 0 && !c->closing)
		conn_close(c,
			   res == 0 || res == -EPIPE || res == -ECONNRESET ? NULL : strerror(-res));
	if (c->closing) {
		while (c->out_head) {
			struct peer_sreq *s = c->out_head;

			c->out_head = s->out_next;
			sreq_put(s);
		}
		maybe_free(c);
		return;
	}
	while (c->out_head) {
		struct peer_sreq *s = c->out_head;
		uint32_t left = PEER_HDR_SIZE + s->reply_len - c->out_sent;

		if ((uint32_t)res < left) {
			c->out_sent += (uint32_t)res;
			break;
		}
		res -= (int)left;
		c->out_sent = 0;
		c->out_head = s->out_next;
		if (!c->out_head)
			c->out_tail = &c->out_head;
		sreq_put(s);
	}
	guard_tx(&c->guard, c->out_head != NULL, true);
	start_send(c);
}

static void start_send(struct peer_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t skip = c->out_sent;
	int niov = 0, items = 0;

	if (c->send_busy || !c->out_head || c->closing)
		return;
	for (struct peer_sreq *s = c->out_head; s && items < PC_SEND_ITEMS; s = s->out_next) {
		struct iovec v[2] = { { s->reply, PEER_HDR_SIZE }, { s->data, s->reply_len } };

		for (int i = 0; i < 2; i++) {
			if (skip >= v[i].iov_len) {
				skip -= (uint32_t)v[i].iov_len;
				continue;
			}
			v[i].iov_base = (char *)v[i].iov_base + skip;
			v[i].iov_len -= skip;
			skip = 0;
			c->iov[niov++] = v[i];
		}
		items++;
	}
	memset(&c->mh, 0, sizeof(c->mh));
	c->mh.msg_iov = c->iov;
	c->mh.msg_iovlen = (size_t)niov;
	c->send_busy = true;
	guard_tx(&c->guard, true, false);
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_sendmsg(sqe, c->fd, &c->mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->send_uop);
}

/* Execution: the outcome of whichever operation ran. */

static void obj_done(struct obj_req *o)
{
	struct peer_sreq *s = container_of(o, struct peer_sreq, u.obj);

	s->err = o->result < 0 ? o->result : 0;
	reply(s);
}

static void gw_done(struct gw_req *g)
{
	struct peer_sreq *s = container_of(g, struct peer_sreq, u.gw);

	s->err = g->result < 0 ? g->result : 0;
	reply(s);
}

static void flush_done(struct obj_flush_req *f)
{
	struct peer_sreq *s = container_of(f, struct peer_sreq, u.flush);

	s->err = f->result;
	reply(s);
}

static const uint8_t obj_ops[] = { [PEER_OP_READ] = OBJ_READ,
				   [PEER_OP_WRITE] = OBJ_WRITE,
				   [PEER_OP_ZERO] = OBJ_ZERO,
				   [PEER_OP_PUNCH] = OBJ_PUNCH,
				   [PEER_OP_REMOVE] = OBJ_REMOVE };
static const uint8_t gw_ops[] = { [PEER_OP_WRITE] = GW_WRITE,
				  [PEER_OP_ZERO] = GW_ZERO,
				  [PEER_OP_PUNCH] = GW_PUNCH,
				  [PEER_OP_REMOVE] = GW_REMOVE };

static void execute(struct peer_sreq *s)
{
	const struct peer_hdr *h = &s->h;

	switch (h->opcode) {
	case PEER_OP_READ:
	case PEER_OP_WRITE:
	case PEER_OP_ZERO:
	case PEER_OP_PUNCH:
	case PEER_OP_REMOVE:
		if (h->flags & PEER_F_FORWARD) {
			s->u.gw = (struct gw_req){
				.op = h->flags & PEER_F_COPYUP ? GW_COPYUP : gw_ops[h->opcode],
				.flags = (uint8_t)((h->flags & PEER_F_CREATE ? GW_F_CREATE : 0) |
						   (h->flags & PEER_F_SYNC ? GW_F_SYNC : 0)),
				.oid = h->oid,
				.offset = h->offset,
				.length = h->length,
				.buf = s->data,
				.done = gw_done
			};
			gw_submit_primary(&s->u.gw, h->epoch);
			return;
		}
		s->u.obj = (struct obj_req){
			.op = h->flags & PEER_F_COPYUP ? OBJ_COPYUP : obj_ops[h->opcode],
			.flags = (uint16_t)((h->flags & PEER_F_CREATE ? OBJ_F_CREATE : 0) |
					    (h->flags & PEER_F_SYNC ? OBJ_F_SYNC : 0) |
					    (h->flags & PEER_F_RAW ? OBJ_F_NOCHECK : 0) |
					    (h->flags & PEER_F_REPAIR ? OBJ_F_REPAIR : 0) |
					    (h->flags & PEER_F_FROZEN ? OBJ_F_FROZEN : 0)),
			.oid = h->oid,
			.offset = h->offset,
			.length = h->length,
			.buf = s->data,
			.done = obj_done
		};
		obj_submit(&s->u.obj);
		return;
	case PEER_OP_PULL:
		/* This node's copy as it is, if it can vouch for it (obj_check.h). */
		s->u.obj = (struct obj_req){ .op = OBJ_READ,
					     .flags = OBJ_F_CHECK_ONLY,
					     .oid = h->oid,
					     .offset = h->offset,
					     .length = h->length,
					     .buf = s->data,
					     .done = obj_done };
		obj_submit(&s->u.obj);
		return;
	case PEER_OP_FLUSH:
		log_debug("peer %s: flush", s->c->peer);
		s->u.flush = (struct obj_flush_req){ .done = flush_done };
		if (obj_flush_submit(&s->u.flush)) {
			s->err = -ENOMEM;
			reply(s);
		}
		return;
	default:
		/* Heartbeats, joins and pulls belong to the control plane and recovery. */
		s->err = -EOPNOTSUPP;
		reply(s);
	}
}

static int validate(const struct peer_hdr *h)
{
	struct cluster_view *v = cluster_view_current();
	struct peer_expect exp = { .cluster_id = v ? v->cluster_id : 0,
				   .epoch = v ? v->epoch : 0,
				   .nr_shards = (uint16_t)shard_count(),
				   .data_obj_size = UINT64_C(1) << SD_MAX_BLOCK_SHIFT,
				   .other_obj_size = SD_INODE_SIZE };
	int ret;

	if (h->flags & PEER_F_REPLY)
		return -EPROTO; /* a reply to nothing we asked */
	ret = peer_hdr_validate(h, &exp);
	if (ret)
		return ret;
	if (!v || !v->epoch)
		return -EXDEV; /* not formatted: no cluster to serve */
	/* The sender's index is in its epoch's ring: comparable only when the epochs agree. */
	if (h->epoch == v->epoch &&
	    (h->sender >= (uint32_t)v->ring.nr_nodes || (int)h->sender == v->self))
		return -EINVAL; /* not a member of this epoch */
	return 0;
}

/* One frame from rbuf. Returns false when input must stop. */
static bool handle_frame(struct peer_conn *c)
{
	struct peer_hdr h;
	struct peer_sreq *s;
	uint32_t plen, charge, avail, take;
	int ret = peer_hdr_parse(c->rbuf + c->rpos, c->rlen - c->rpos, &h), err;

	if (ret == 0)
		return false;
	if (ret < 0) {
		conn_close(c, ret == -EPROTO		? "bad magic (the stream is out of step)"
			      : ret == -EPROTONOSUPPORT ? "another protocol version"
							: "a reserved header byte is set");
		return false;
	}
	err = validate(&h);
	if (err == -EPROTO) {
		conn_close(c, "a reply frame where a request was expected");
		return false;
	}
	plen = peer_payload_len(&h);
	charge = (uint32_t)sizeof(*s);
	if (!err &&
	    (h.opcode == PEER_OP_WRITE || h.opcode == PEER_OP_READ || h.opcode == PEER_OP_PULL))
		charge += h.length;
	if (c->inflight >= PC_MAX_INFLIGHT || !guard_admit(&c->guard, charge)) {
		c->paused = true;
		return false;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		conn_close(c, "out of memory");
		return false;
	}
	c->rpos += PEER_HDR_SIZE;
	c->inflight++;
	s->c = c;
	s->h = h;
	s->charge = charge;
	guard_charge(&c->guard, charge);
	if (!err &&
	    (h.opcode == PEER_OP_WRITE || h.opcode == PEER_OP_READ || h.opcode == PEER_OP_PULL) &&
	    h.length) {
		s->data = buf_alloc(h.length);
		if (!s->data)
			err = -ENOMEM;
		else
			s->data_len = h.length;
	}
	if (err) {
		if (err != -ESTALE && err != -EL2NSYNC)
			log_debug("peer %s: frame op %u refused: %s", c->peer, h.opcode,
				  strerror(-err));
		s->err = err;
		if (plen) {
			c->discard = plen;
			c->discard_req = s;
			return true;
		}
		c->completed = true;
		reply(s);
		return true;
	}
	if (h.opcode == PEER_OP_WRITE && plen) {
		avail = c->rlen - c->rpos;
		take = avail < plen ? avail : plen;
		memcpy(s->data, c->rbuf + c->rpos, take);
		c->rpos += take;
		if (take < plen) {
			c->rx = s;
			c->rx_have = take;
			return false;
		}
	}
	c->completed = true;
	execute(s);
	return !c->closing;
}

static void parse_some(struct peer_conn *c)
{
	while (!c->closing && !c->rx) {
		if (c->discard) {
			uint32_t n = c->rlen - c->rpos;

			if (n > c->discard)
				n = (uint32_t)c->discard;
			c->rpos += n;
			c->discard -= n;
			if (c->discard)
				return;
			c->completed = true;
			if (c->discard_req) {
				struct peer_sreq *s = c->discard_req;

				c->discard_req = NULL;
				reply(s);
			}
		}
		if (!handle_frame(c))
			return;
	}
}

static void parse(struct peer_conn *c)
{
	parse_some(c);
	guard_rx(&c->guard, c->rlen > c->rpos || c->rx || c->discard, c->completed, !c->paused);
	c->completed = false;
}

/*
 * recv_busy stays set until the end: parsing may close the connection, which must not be freed
 * under our feet (as in nbd_conn.c).
 */
static void recv_done(struct uop *op, int res)
{
	struct peer_conn *c = container_of(op, struct peer_conn, recv_uop);

	guard_set_time(&pool, guard_clock_ms());
	if (!c->closing && res <= 0) {
		conn_close(c, res == 0 || res == -ECONNRESET ? NULL : strerror(-res));
	} else if (!c->closing) {
		if (c->rx) {
			c->rx_have += (uint32_t)res;
			if (c->rx_have == c->rx->h.length) {
				struct peer_sreq *s = c->rx;

				c->rx = NULL;
				c->completed = true;
				execute(s);
			}
		} else {
			c->rlen += (uint32_t)res;
		}
		parse(c);
	}
	c->recv_busy = false;
	if (c->closing) {
		if (c->rx) {
			struct peer_sreq *s = c->rx;

			c->rx = NULL;
			sreq_put(s);
		}
		maybe_free(c);
		return;
	}
	arm_recv(c);
}

static void arm_recv(struct peer_conn *c)
{
	struct io_uring_sqe *sqe;
	void *buf;
	size_t len;

	if (c->recv_busy || c->closing || c->paused)
		return;
	if (c->rx) {
		buf = (uint8_t *)c->rx->data + c->rx_have;
		len = c->rx->h.length - c->rx_have;
	} else {
		if (c->rpos) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		buf = c->rbuf + c->rlen;
		len = PC_RBUF_SIZE - c->rlen;
	}
	c->recv_busy = true;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_recv(sqe, c->fd, buf, len, 0);
	io_uring_sqe_set_data(sqe, &c->recv_uop);
}

struct adopt {
	struct sd_msg msg;
	int fd;
	const struct conn_limits *lim;
	char peer[64];
	size_t n;
	uint8_t pre[];
};

static void start_conn(struct adopt *a)
{
	struct conn_guard *victim;
	struct peer_conn *c;
	int room, one = 1;

	if (!pool_ready) {
		guard_pool_init(&pool, a->lim, a->lim->ctl_conns, &pool_ops);
		sweep_timer.fn = sweep;
		pool_ready = true;
	}
	guard_set_time(&pool, guard_clock_ms());
	room = guard_make_room(&pool, &victim);
	if (room < 0) {
		close(a->fd);
		return;
	}
	if (room > 0)
		conn_close(container_of(victim, struct peer_conn, guard),
			   "the peer connection limit is reached: closed for a new one");
	c = calloc(1, sizeof(*c));
	if (c)
		c->rbuf = malloc(PC_RBUF_SIZE);
	if (!c || !c->rbuf || a->n > PC_RBUF_SIZE) {
		log_err("out of memory for a peer connection from %s; refusing it", a->peer);
		if (c)
			free(c->rbuf);
		free(c);
		close(a->fd);
		return;
	}
	setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = a->fd;
	snprintf(c->peer, sizeof(c->peer), "%s", a->peer);
	if (a->n)
		memcpy(c->rbuf, a->pre, a->n);
	c->rlen = (uint32_t)a->n;
	c->out_tail = &c->out_head;
	c->recv_uop.cb = recv_done;
	c->send_uop.cb = send_done;
	c->kick.fn = kick_run;
	dlist_push(conns, c);
	nr_conns++;
	/* Like an established NBD connection: never closed to make room for a newcomer. */
	guard_add(&pool, &c->guard, false, false);
	shard_timer_start(&sweep_timer, PC_SWEEP_MS);
	log_debug("peer connection from %s on shard %d", c->peer, shard_self()->id);
	c->kicking = true; /* pinned: parsing may close it */
	parse(c);
	c->kicking = false;
	arm_recv(c);
	maybe_free(c);
}

static void adopt_msg(void *arg)
{
	struct adopt *a = arg;

	start_conn(a);
	free(a);
}

static unsigned next_shard;

void peer_conn_adopt(int fd, const char *peer, const uint8_t *pre, size_t n,
		     const struct conn_limits *lim)
{
	struct adopt *a = malloc(sizeof(*a) + n);
	int target = (int)(next_shard++ % (unsigned)shard_count());

	if (!a) {
		log_err("out of memory handing a peer connection from %s to a shard", peer);
		close(fd);
		return;
	}
	a->fd = fd;
	a->lim = lim;
	a->n = n;
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	if (n)
		memcpy(a->pre, pre, n);
	a->msg.fn = adopt_msg;
	a->msg.arg = a;
	msg_send(target, &a->msg);
}
