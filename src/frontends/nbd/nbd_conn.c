/*
 * NBD connections on a shard: receiving through the ring, the handshake, turning bytes into
 * commands, and sending replies. Every reply of a loop pass goes out in one sendmsg per
 * connection (queued on the shard's deferred list), so a deep queue costs few system calls.
 *
 * What a client makes the shard hold is bounded by the connection guard (conn_guard.h): each
 * request is charged its command, payload or read buffer before its header is taken, each
 * handshake reply until it is sent; a connection that may not take more stops being read (the
 * request stays in the receive buffer) until its replies drain or the shard has room. A timer
 * sweeps the shard's connections once a second for missed deadlines.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../cluster/vdi_share.h"
#include "../../core/byteorder.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "nbd_conn.h"

#define NBD_RBUF_SIZE	    (256u << 10) /* holds any option (64 KiB) and many small writes */
#define NBD_MAX_INFLIGHT    512		 /* requests per connection before reading pauses */
#define NBD_SEND_MAX_ITEMS  128
#define NBD_SEND_MAX_IOV    (NBD_SEND_MAX_ITEMS * 4)
#define NBD_CMD_CACHE_LIMIT 1024
/* Handshake replies a client may leave unread before its options stop being read. */
#define NBD_HANDSHAKE_MEM (1u << 20)
#define NBD_OPTION_COST	  4096u /* what one option reply is assumed to take, before it is built */
#define NBD_SWEEP_MS	  1000

static __thread struct nbd_conn *conns;
static __thread int nr_conns;
static __thread bool stopping;
static __thread struct nbd_cmd *cmd_cache;
static __thread int cmd_cache_n;
static const struct conn_limits *limits;
static __thread struct guard_pool pool;
static __thread bool pool_ready;
static __thread struct shard_timer sweep_timer;
/* Each shard's open connections, published for the dealer on shard 0 (nbd_server.c). */
static uint32_t published_conns[SD_MAX_SHARDS];

static void publish_count(void)
{
	__atomic_store_n(&published_conns[shard_self()->id], pool.nr, __ATOMIC_RELAXED);
}

uint32_t nbd_conns_on(int shard)
{
	return __atomic_load_n(&published_conns[shard], __ATOMIC_RELAXED);
}

static void arm_recv(struct nbd_conn *c);
static void parse_input(struct nbd_conn *c);
static void start_send(struct nbd_conn *c);
static void conn_close(struct nbd_conn *c, const char *why);
static void maybe_free(struct nbd_conn *c);
static void parse_some(struct nbd_conn *c);

void nbd_conn_set_limits(const struct conn_limits *lim)
{
	limits = lim;
}

/* End of pass: resume reading if something asked for it, then send what is queued. */
static void kick_run(struct shard_defer *d)
{
	struct nbd_conn *c = container_of(d, struct nbd_conn, kick);

	/* Pinned: parsing may close it, and a paused connection has no I/O in flight to wait on. */
	c->kicking = true;
	/* An option waiting for the catch-up stays unparsed until it is back (want_resume kept). */
	if (c->want_resume && c->state != NBD_CONN_CLOSING && !c->export_syncing) {
		c->want_resume = false;
		c->paused = false;
		guard_set_time(&pool, guard_clock_ms());
		parse_input(c);
		arm_recv(c);
	}
	start_send(c);
	c->kicking = false;
	if (c->state == NBD_CONN_CLOSING)
		maybe_free(c);
}

static void kick(struct nbd_conn *c, bool resume)
{
	c->want_resume |= resume;
	shard_defer(shard_self(), &c->kick);
}

void nbd_conn_export_synced(struct nbd_conn *c)
{
	c->export_syncing = false;
	c->export_synced = true;
	if (c->state == NBD_CONN_CLOSING)
		maybe_free(c);
	else
		kick(c, true);
}

static void conn_release(struct nbd_conn *c, uint32_t bytes)
{
	guard_release(&c->guard, bytes);
	if (c->paused)
		kick(c, true);
}

static void pool_resume(struct conn_guard *g)
{
	kick(container_of(g, struct nbd_conn, guard), true);
}

static void pool_expire(struct conn_guard *g, const char *why)
{
	conn_close(container_of(g, struct nbd_conn, guard), why);
}

static const struct guard_pool_ops pool_ops = { pool_resume, pool_expire };

static void sweep(struct shard_timer *t)
{
	uint64_t refused, evicted;

	guard_set_time(&pool, guard_clock_ms());
	for (struct nbd_conn *c = conns; c; c = c->next)
		guard_tx_unsent(&c->guard, c->send_busy ? net_unsent_bytes(c->fd) : -1);
	guard_sweep(&pool, &refused, &evicted);
	if (refused)
		log_warn("refused %llu NBD connections: this shard holds its share of the limit "
			 "(%u connections, all past the handshake; raise --limits nbd-conns)",
			 (unsigned long long)refused, pool.max_conns);
	if (evicted > 1)
		log_warn("closed %llu more NBD connections still in their handshake to make room "
			 "for new ones (--limits nbd-conns)",
			 (unsigned long long)evicted - 1);
	if (pool.nr)
		shard_timer_start(t, NBD_SWEEP_MS);
}

int nbd_conns_count(void)
{
	return nr_conns;
}

void nbd_cmd_cache_drain(void)
{
	while (cmd_cache) {
		struct nbd_cmd *cmd = cmd_cache;

		cmd_cache = cmd->free_next;
		free(cmd);
	}
	cmd_cache_n = 0;
}

static struct nbd_cmd *cmd_get(struct nbd_conn *c)
{
	struct nbd_cmd *cmd = cmd_cache;

	if (cmd) {
		cmd_cache = cmd->free_next;
		cmd_cache_n--;
	} else {
		cmd = malloc(sizeof(*cmd));
		if (!cmd)
			return NULL;
	}
	memset(cmd, 0, offsetof(struct nbd_cmd, inline_pieces));
	cmd->retry.armed = false; /* past the cleared part, and read before it is started */
	cmd->c = c;
	cmd->pieces = cmd->inline_pieces;
	c->inflight++;
	return cmd;
}

static void cmd_put(struct nbd_cmd *cmd)
{
	struct nbd_conn *c = cmd->c;

	uint32_t charge = cmd->charge;

	if (cmd->data)
		nbd_payload_free(cmd->data, cmd->data_len);
	free(cmd->extents);
	vdi_share_put(cmd->share);
	if (cmd->pieces != cmd->inline_pieces)
		free(cmd->pieces);
	if (cmd_cache_n < NBD_CMD_CACHE_LIMIT) {
		cmd->free_next = cmd_cache;
		cmd_cache = cmd;
		cmd_cache_n++;
	} else {
		free(cmd);
	}
	c->inflight--;
	/* A reader paused at the in-flight or memory limit is kicked at the end of the pass. */
	conn_release(c, charge);
}

static void release_outputs(struct nbd_conn *c)
{
	while (c->out_head) {
		struct nbd_out *o = c->out_head;

		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = &c->out_head;
		o->release(o);
	}
	c->out_sent = 0;
}

static void free_when_run(struct shard_defer *d)
{
	free(container_of(d, struct nbd_conn, kick));
}

static void conn_free(struct nbd_conn *c)
{
	dlist_unlink(conns, c);
	nr_conns--;
	close(c->fd);
	if (c->rw_counted)
		__atomic_sub_fetch(&c->share->rw_conns, 1, __ATOMIC_RELEASE);
	vdi_share_put(c->share);
	vdi_share_put(c->dirty_from);
	free(c->rbuf);
	free(c->iov);
	/* Still on the shard's deferred list: the entry itself must outlive this pass. */
	if (c->kick.queued)
		c->kick.fn = free_when_run;
	else
		free(c);
}

/* Frees the connection once nothing refers to it any more. */
static void maybe_free(struct nbd_conn *c)
{
	if (c->state != NBD_CONN_CLOSING || c->recv_busy || c->send_busy || c->kicking ||
	    c->export_syncing)
		return;
	/* Only now: a receive in flight may still be filling the payload buffer. */
	if (c->rx_cmd) {
		struct nbd_cmd *cmd = c->rx_cmd;

		c->rx_cmd = NULL;
		cmd_put(cmd);
	}
	if (c->discard_cmd) {
		struct nbd_cmd *cmd = c->discard_cmd;

		c->discard_cmd = NULL;
		cmd_put(cmd);
	}
	release_outputs(c);
	if (c->inflight == 0)
		conn_free(c);
}

/* why NULL: an orderly end. Stops input at once; requests in flight finish unanswered. */
static void conn_close(struct nbd_conn *c, const char *why)
{
	if (c->state == NBD_CONN_CLOSING)
		return;
	if (why)
		log_warn("NBD connection from %s%s%s: %s; closing it", c->peer,
			 c->share ? " to " : "", c->share ? c->share->name : "", why);
	else
		log_debug("NBD connection from %s closed", c->peer);
	c->state = NBD_CONN_CLOSING;
	guard_remove(&c->guard);
	publish_count();
	/* Makes a pending receive or send complete, so their buffers can go. */
	shutdown(c->fd, SHUT_RDWR);
	maybe_free(c);
}

/* export_moved_hook: every connection of this shard follows its VDI now. */
static void follow_all(void *arg)
{
	(void)arg;
	for (struct nbd_conn *c = conns; c; c = c->next)
		if (c->state == NBD_CONN_TRANSMIT)
			nbd_conn_follow(c);
}

void nbd_conns_follow_hook_install(void)
{
	export_moved_hook = follow_all;
}

int nbd_conns_close_all(void)
{
	stopping = true; /* and connections handed over from now on are refused */
	for (struct nbd_conn *c = conns, *next; c; c = next) {
		next = c->next; /* conn_close may free c */
		conn_close(c, NULL);
	}
	return nr_conns;
}

void nbd_conn_queue(struct nbd_conn *c, struct nbd_out *o)
{
	o->next = NULL;
	*c->out_tail = o;
	c->out_tail = &o->next;
	kick(c, false);
}

/* Handshake output: a copy of the negotiation buffer, charged to the connection until sent. */
struct raw_out {
	struct nbd_out out;
	struct nbd_conn *c;
	uint32_t charge;
	uint8_t data[];
};

static void raw_release(struct nbd_out *o)
{
	struct raw_out *r = container_of(o, struct raw_out, out);

	conn_release(r->c, r->charge);
	free(r);
}

static int queue_buf(struct nbd_conn *c, struct nbd_buf *b)
{
	struct raw_out *r;

	if (b->error) {
		nbd_buf_free(b);
		return -ENOMEM;
	}
	if (!b->len) {
		nbd_buf_free(b);
		return 0;
	}
	r = malloc(sizeof(*r) + b->len);
	if (!r) {
		nbd_buf_free(b);
		return -ENOMEM;
	}
	memcpy(r->data, b->p, b->len);
	r->c = c;
	r->charge = (uint32_t)(sizeof(*r) + b->len);
	guard_charge(&c->guard, r->charge);
	r->out.iov[0] = (struct iovec){ r->data, b->len };
	r->out.niov = 1;
	r->out.release = raw_release;
	nbd_conn_queue(c, &r->out);
	nbd_buf_free(b);
	return 0;
}

static void cmd_out_release(struct nbd_out *o)
{
	cmd_put(container_of(o, struct nbd_cmd, out));
}

void nbd_cmd_reply(struct nbd_cmd *cmd)
{
	struct nbd_conn *c = cmd->c;
	const struct nbd_request *rq = &cmd->req;
	uint8_t *h = cmd->hdr;
	struct nbd_out *o = &cmd->out;
	uint32_t wire = nbd_errno_to_wire(cmd->error);

	if (c->state == NBD_CONN_CLOSING) {
		cmd_put(cmd);
		maybe_free(c);
		return;
	}
	o->release = cmd_out_release;
	o->niov = 1;
	if (!c->neg.structured) {
		put_be32(h, NBD_SIMPLE_REPLY_MAGIC);
		put_be32(h + 4, wire);
		put_be64(h + 8, rq->cookie);
		o->iov[0] = (struct iovec){ h, 16 };
		/* No payload after an error: the client would take it for the next reply. */
		if (!wire && rq->type == NBD_CMD_READ && rq->length) {
			o->iov[1] = (struct iovec){ cmd->data, rq->length };
			o->niov = 2;
		}
		nbd_conn_queue(c, o);
		return;
	}
	put_be32(h, NBD_STRUCT_REPLY_MAGIC);
	put_be16(h + 4, NBD_REPLY_FLAG_DONE);
	put_be64(h + 8, rq->cookie);
	if (wire) {
		uint16_t n = (uint16_t)strnlen(cmd->why, sizeof(cmd->why));

		put_be16(h + 6, (uint16_t)NBD_REPLY_TYPE_ERROR);
		put_be32(h + 16, 6u + n);
		put_be32(h + 20, wire);
		put_be16(h + 24, n);
		memcpy(h + 26, cmd->why, n);
		o->iov[0] = (struct iovec){ h, 26u + n };
	} else if (rq->type == NBD_CMD_READ && rq->length && cmd->hole) {
		put_be16(h + 6, NBD_REPLY_TYPE_OFFSET_HOLE);
		put_be32(h + 16, 12);
		put_be64(h + 20, rq->offset);
		put_be32(h + 28, rq->length);
		o->iov[0] = (struct iovec){ h, 32 };
	} else if (rq->type == NBD_CMD_READ && rq->length) {
		put_be16(h + 6, NBD_REPLY_TYPE_OFFSET_DATA);
		put_be32(h + 16, 8u + rq->length);
		put_be64(h + 20, rq->offset);
		o->iov[0] = (struct iovec){ h, 28 };
		o->iov[1] = (struct iovec){ cmd->data, rq->length };
		o->niov = 2;
	} else if (rq->type == NBD_CMD_BLOCK_STATUS) {
		/* One chunk per selected context; only the last one ends the reply. */
		uint8_t *h2 = h + 24;
		bool both = cmd->extents_len && cmd->dirty_len;

		put_be16(h + 6, NBD_REPLY_TYPE_BLOCK_STATUS);
		put_be32(h + 16, 4u + (cmd->extents_len ? cmd->extents_len : cmd->dirty_len));
		put_be32(h + 20,
			 cmd->extents_len ? NBD_META_BASE_ALLOCATION_ID : NBD_META_DIRTY_BITMAP_ID);
		o->iov[0] = (struct iovec){ h, 24 };
		o->iov[1] = (struct iovec){ cmd->extents,
					    cmd->extents_len ? cmd->extents_len : cmd->dirty_len };
		o->niov = 2;
		if (both) {
			memcpy(h2, h, 24);
			put_be16(h + 4, 0);
			put_be32(h2 + 16, 4u + cmd->dirty_len);
			put_be32(h2 + 20, NBD_META_DIRTY_BITMAP_ID);
			o->iov[2] = (struct iovec){ h2, 24 };
			o->iov[3] =
				(struct iovec){ cmd->extents + cmd->extents_len, cmd->dirty_len };
			o->niov = 4;
		}
	} else {
		put_be16(h + 6, NBD_REPLY_TYPE_NONE);
		put_be32(h + 16, 0);
		o->iov[0] = (struct iovec){ h, 20 };
	}
	nbd_conn_queue(c, o);
}

/*
 * send_busy stays set until the end, and recv_busy likewise in recv_done: releasing replies and
 * parsing input may close the connection, and it must not be freed under our feet.
 */
static void send_done(struct uop *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, send_uop);

	guard_set_time(&pool, guard_clock_ms()); /* coarse: a few nanoseconds */
	if (res < 0) {
		conn_close(c, c->state == NBD_CONN_CLOSING || res == -EPIPE || res == -ECONNRESET
				      ? NULL
				      : strerror(-res));
	} else {
		/* Retire what was sent completely; a partial item stays at the head. */
		while (c->out_head) {
			struct nbd_out *o = c->out_head;
			size_t len = 0;

			for (int i = 0; i < o->niov; i++)
				len += o->iov[i].iov_len;
			len -= c->out_sent;
			if ((size_t)res < len) {
				c->out_sent += (uint32_t)res;
				break;
			}
			res -= (int)len;
			c->out_sent = 0;
			c->out_head = o->next;
			if (!c->out_head)
				c->out_tail = &c->out_head;
			o->release(o);
		}
	}
	c->send_busy = false;
	if (c->state == NBD_CONN_CLOSING) {
		maybe_free(c);
		return;
	}
	guard_tx(&c->guard, c->out_head != NULL, res > 0);
	if (c->out_head)
		start_send(c);
	else if (c->close_after_send && c->inflight == 0)
		conn_close(c, NULL);
}

static void start_send(struct nbd_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t skip = c->out_sent;
	int niov = 0, items = 0;

	if (c->send_busy || !c->out_head || c->state == NBD_CONN_CLOSING)
		return;
	for (struct nbd_out *o = c->out_head; o && items < NBD_SEND_MAX_ITEMS; o = o->next) {
		for (int i = 0; i < o->niov; i++) {
			struct iovec v = o->iov[i];

			if (skip >= v.iov_len) {
				skip -= (uint32_t)v.iov_len;
				continue;
			}
			v.iov_base = (char *)v.iov_base + skip;
			v.iov_len -= skip;
			skip = 0;
			if (v.iov_len)
				c->iov[niov++] = v;
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

static void recv_done(struct uop *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, recv_uop);

	guard_set_time(&pool, guard_clock_ms());
	if (c->state != NBD_CONN_CLOSING && res <= 0) {
		conn_close(c, res == 0 || res == -ECONNRESET ? NULL : strerror(-res));
	} else if (c->state != NBD_CONN_CLOSING) {
		if (c->rx_cmd) {
			c->rx_have += (uint32_t)res;
			if (c->rx_have == c->rx_cmd->data_len) {
				struct nbd_cmd *cmd = c->rx_cmd;

				c->rx_cmd = NULL;
				c->rx_completed = true;
				nbd_cmd_execute(cmd);
			}
		} else {
			c->rlen += (uint32_t)res;
		}
		parse_input(c);
	}
	c->recv_busy = false;
	if (c->state == NBD_CONN_CLOSING)
		maybe_free(c);
	else
		arm_recv(c);
}

static void arm_recv(struct nbd_conn *c)
{
	struct io_uring_sqe *sqe;
	void *buf;
	size_t len;

	if (c->recv_busy || c->state == NBD_CONN_CLOSING || c->close_after_send || c->paused)
		return;
	if (c->rx_cmd) {
		buf = (uint8_t *)c->rx_cmd->data + c->rx_have;
		len = c->rx_cmd->data_len - c->rx_have;
	} else {
		if (c->rpos) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		buf = c->rbuf + c->rlen;
		len = NBD_RBUF_SIZE - c->rlen;
	}
	c->recv_busy = true;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_recv(sqe, c->fd, buf, len, 0);
	io_uring_sqe_set_data(sqe, &c->recv_uop);
}

void nbd_conn_follow(struct nbd_conn *c)
{
	for (int hops = 0; c->share && hops < 16; hops++) {
		uint32_t next = __atomic_load_n(&c->share->successor, __ATOMIC_ACQUIRE);
		struct vdi_share *sh;

		if (!next || !(sh = export_table_find_vid(export_table_current(), next)))
			return;
		log_info("NBD connection from %s: %s was snapshotted; its writes go to the new "
			 "working VDI (id %" PRIx32 ")",
			 c->peer, sh->name, sh->vid);
		vdi_share_get(sh);
		if (c->rw_counted) {
			__atomic_add_fetch(&sh->rw_conns, 1, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&c->share->rw_conns, 1, __ATOMIC_RELEASE);
		}
		vdi_share_put(c->share);
		c->share = sh;
	}
}

static void enter_transmission(struct nbd_conn *c)
{
	struct vdi_share *sh = export_table_find(export_table_current(), c->neg.export_name);

	if (!sh) {
		/* Deleted between the option and now. */
		conn_close(c, "its export went away during the handshake");
		return;
	}
	vdi_share_get(sh);
	c->share = sh;
	if (c->neg.meta_dirty &&
	    !(c->dirty_from = nbd_export_find_from(c->neg.export_name, c->neg.meta_dirty_from)))
		c->neg.meta_dirty = false; /* deleted since: BLOCK_STATUS says so */
	c->state = NBD_CONN_TRANSMIT;
	/* Established: an idle client is legitimate and is never evicted for a newcomer. */
	guard_handshake_done(&c->guard, false);
	log_info("NBD connection from %s: serving %s (%s, %s replies)", c->peer, sh->name,
		 sh->read_only ? "read-only" : "read-write",
		 c->neg.structured ? "structured" : "simple");
}

/* One option, whole in rbuf. Returns false when input must stop. */
static bool handle_option(struct nbd_conn *c)
{
	const struct nbd_export_ops ops = { .lookup = nbd_export_lookup,
					    .list = nbd_export_list,
					    .dirty_from = nbd_export_dirty_from,
					    .list_dirty = nbd_export_list_dirty,
					    .ctx = c };
	struct nbd_buf out = { 0 };
	struct nbd_option opt;
	int ret = nbd_parse_option(c->rbuf + c->rpos, c->rlen - c->rpos, &opt);

	if (ret == 0)
		return false;
	if (ret < 0) {
		conn_close(c, "bad option magic in the handshake");
		return false;
	}
	/* Replies the client does not read stop the options it sends from being read. */
	if ((c->guard.held && c->guard.held + NBD_OPTION_COST > NBD_HANDSHAKE_MEM) ||
	    !guard_admit(&c->guard, NBD_OPTION_COST)) {
		c->paused = true;
		return false;
	}
	if (opt.length > NBD_MAX_OPTION_LEN) {
		c->rpos += NBD_OPTION_HDR_SIZE;
		c->discard = opt.length;
		nbd_neg_too_big(&opt, &out);
		return queue_buf(c, &out) == 0 || (conn_close(c, "out of memory"), false);
	}
	if (c->rlen - c->rpos < NBD_OPTION_HDR_SIZE + opt.length)
		return false;
	ret = nbd_neg_option(&c->neg, &opt, c->rbuf + c->rpos + NBD_OPTION_HDR_SIZE, &out, &ops);
	if (c->export_miss) {
		/* Not known here yet: the option waits, unanswered, while this node catches up. */
		c->export_miss = false;
		nbd_buf_free(&out);
		c->paused = c->export_syncing = true;
		nbd_export_sync(c);
		return false;
	}

	c->rpos += NBD_OPTION_HDR_SIZE + opt.length;
	c->rx_completed = true;
	if (queue_buf(c, &out)) {
		conn_close(c, "out of memory");
		return false;
	}
	if (ret == NBD_NEG_CLOSE) {
		c->close_after_send = true;
		/* A refused EXPORT_NAME has nothing to send: close now. */
		if (!c->out_head && !c->send_busy)
			conn_close(c, NULL);
		return false;
	}
	if (ret == NBD_NEG_TRANSMIT)
		enter_transmission(c);
	return c->state != NBD_CONN_CLOSING;
}

/* One request from rbuf. Returns false when input must stop. */
static bool handle_request(struct nbd_conn *c)
{
	struct nbd_request rq;
	struct nbd_export_caps caps;
	struct nbd_cmd *cmd;
	uint32_t avail, take;
	int ret, wire;

	uint32_t charge;

	ret = nbd_parse_request(c->rbuf + c->rpos, c->rlen - c->rpos, &rq);
	if (ret == 0)
		return false;
	if (ret < 0) {
		conn_close(c, "bad request magic (the stream is out of step)");
		return false;
	}
	if (rq.type == NBD_CMD_DISC) {
		c->rpos += NBD_REQUEST_SIZE;
		/* Requests in flight are answered first, then the connection closes. */
		c->close_after_send = true;
		if (!c->inflight && !c->out_head && !c->send_busy)
			conn_close(c, NULL);
		return false;
	}
	nbd_conn_follow(c);
	caps = (struct nbd_export_caps){ .size = vdi_share_size(c->share),
					 .read_only = c->share->read_only,
					 .structured = c->neg.structured,
					 .meta_base_allocation = c->neg.meta_base_allocation,
					 .meta_dirty = c->neg.meta_dirty };
	wire = nbd_validate_request(&rq, &caps);
	charge = nbd_request_charge(&rq, wire, c->share->obj_shift);
	/* The header stays in rbuf until the request may be taken: a paused reader re-parses it. */
	if (c->inflight >= NBD_MAX_INFLIGHT || !guard_admit(&c->guard, charge)) {
		c->paused = true;
		return false;
	}
	cmd = cmd_get(c);
	if (!cmd) {
		conn_close(c, "out of memory");
		return false;
	}
	c->rpos += NBD_REQUEST_SIZE;
	cmd->req = rq;
	cmd->charge = charge;
	guard_charge(&c->guard, charge);
	if (rq.type != NBD_CMD_WRITE)
		c->rx_completed = true;
	if (!wire && vdi_share_deleted(c->share)) {
		wire = NBD_EIO;
		snprintf(cmd->why, sizeof(cmd->why), "VDI %.64s has been deleted", c->share->name);
	}
	if (rq.type == NBD_CMD_WRITE && !wire) {
		cmd->data = nbd_payload_alloc(rq.length);
		if (!cmd->data && rq.length)
			wire = NBD_ENOMEM;
		else
			cmd->data_len = rq.length;
	}
	if (wire) {
		/*
		 * The payload of a refused write still arrives and must be skipped; clients
		 * expect the reply only after they have sent it all.
		 */
		if (rq.type == NBD_CMD_WRITE && rq.length) {
			c->discard = rq.length;
			c->discard_cmd = cmd;
		}
		log_debug("NBD %s: request type %u at %llu+%u refused: %s", c->peer, rq.type,
			  (unsigned long long)rq.offset, rq.length, strerror((int)wire));
		cmd->error = -(int)wire;
		if (!cmd->why[0] && (rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE) &&
		    rq.length > NBD_MAX_PAYLOAD)
			snprintf(cmd->why, sizeof(cmd->why),
				 "a request of %u bytes: at most %u per READ or WRITE", rq.length,
				 NBD_MAX_PAYLOAD);
		else if (!cmd->why[0])
			snprintf(cmd->why, sizeof(cmd->why), "%s", strerror((int)wire));
		if (!c->discard_cmd)
			nbd_cmd_reply(cmd);
		return true;
	}
	if (rq.type == NBD_CMD_WRITE) {
		avail = c->rlen - c->rpos;
		take = avail < rq.length ? avail : rq.length;
		if (take) /* a zero-length WRITE has no buffer */
			memcpy(cmd->data, c->rbuf + c->rpos, take);
		c->rpos += take;
		if (take < rq.length) {
			/* The rest goes straight into the payload buffer. */
			c->rx_cmd = cmd;
			c->rx_have = take;
			return false;
		}
		c->rx_completed = true;
	}
	nbd_cmd_execute(cmd);
	return c->state != NBD_CONN_CLOSING;
}

static void parse_input(struct nbd_conn *c)
{
	parse_some(c);
	/* A request that has begun must arrive whole in time, unless we are the ones not reading.
	 */
	guard_rx(&c->guard, c->rlen > c->rpos || c->rx_cmd || c->discard, c->rx_completed,
		 !c->paused && !c->close_after_send);
	c->rx_completed = false;
}

static void parse_some(struct nbd_conn *c)
{
	while (c->state != NBD_CONN_CLOSING && !c->close_after_send && !c->rx_cmd) {
		if (c->discard) {
			uint32_t n = c->rlen - c->rpos;

			if (n > c->discard)
				n = (uint32_t)c->discard;
			c->rpos += n;
			c->discard -= n;
			if (c->discard)
				return;
			c->rx_completed = true;
			if (c->discard_cmd) {
				struct nbd_cmd *cmd = c->discard_cmd;

				c->discard_cmd = NULL;
				nbd_cmd_reply(cmd);
			}
		}
		switch (c->state) {
		case NBD_CONN_CLIENT_FLAGS:
			if (c->rlen - c->rpos < 4)
				return;
			if (nbd_neg_client_flags(&c->neg, c->rbuf + c->rpos)) {
				conn_close(c, "unknown client flags in the handshake");
				return;
			}
			c->rpos += 4;
			c->state = NBD_CONN_OPTIONS;
			break;
		case NBD_CONN_OPTIONS:
			if (!handle_option(c))
				return;
			break;
		case NBD_CONN_TRANSMIT:
			if (!handle_request(c))
				return;
			break;
		case NBD_CONN_CLOSING:
			return;
		}
	}
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	net_format_peer(&ss, buf, len);
}

void nbd_conn_start(int fd, bool tcp)
{
	struct nbd_conn *c;
	struct nbd_buf out = { 0 };
	struct conn_guard *victim;
	int one = 1, room;

	if (stopping) {
		close(fd);
		return;
	}
	if (!pool_ready) {
		int n = shard_count();

		guard_pool_init(&pool, limits, (limits->nbd_conns + (uint32_t)n - 1) / (uint32_t)n,
				&pool_ops);
		sweep_timer.fn = sweep;
		pool_ready = true;
	}
	guard_set_time(&pool, guard_clock_ms());
	room = guard_make_room(&pool, &victim);
	if (room < 0) {
		close(fd); /* counted, and logged once a second by the sweep */
		return;
	}
	/* The first eviction of a second is logged, the others counted by the sweep. */
	if (room > 0)
		conn_close(container_of(victim, struct nbd_conn, guard),
			   pool.evicted > 1 ? NULL
					    : "the NBD connection limit is reached (--limits "
					      "nbd-conns) and this one had waited longest in its "
					      "handshake: closed for a new one");
	c = calloc(1, sizeof(*c));
	if (c) {
		c->rbuf = malloc(NBD_RBUF_SIZE);
		c->iov = calloc(NBD_SEND_MAX_IOV, sizeof(*c->iov));
	}
	if (!c || !c->rbuf || !c->iov) {
		log_err("out of memory for a new NBD connection; refusing it");
		if (c) {
			free(c->rbuf);
			free(c->iov);
		}
		free(c);
		close(fd);
		return;
	}
	if (tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->shard_id = shard_self()->id;
	c->state = NBD_CONN_CLIENT_FLAGS;
	c->out_tail = &c->out_head;
	c->recv_uop.cb = recv_done;
	c->send_uop.cb = send_done;
	c->kick.fn = kick_run;
	peer_name(fd, c->peer, sizeof(c->peer));
	dlist_push(conns, c);
	nr_conns++;
	guard_add(&pool, &c->guard, true, true);
	publish_count();
	shard_timer_start(&sweep_timer, NBD_SWEEP_MS);
	log_debug("NBD connection from %s on shard %d", c->peer, c->shard_id);
	nbd_neg_greeting(&out);
	if (queue_buf(c, &out)) {
		conn_close(c, "out of memory");
		return;
	}
	arm_recv(c);
}
