/*
 * Outbound peer connections: each shard keeps one to each remote node it talks to, made on
 * the first request through the shard's ring, multiplexing requests by req_id. A request stays
 * on its link's list, in submission order, from peer_submit until its reply (or the link's
 * reset): the list is both the send queue (from send_next on) and where replies find their
 * request. It ends only once it is both sent and answered, since a reply's completion may be
 * reaped before the completion of the send that carried its request.
 *
 * A link that fails (connect refused, a send or receive error, a malformed reply, a request past
 * its deadline) is reset: its socket is shut down, and once no operation of the ring refers to
 * it any more every request on it fails; requests submitted meanwhile wait for a new connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "peer.h"

#define LINK_RBUF_SIZE (64u << 10)
#define LINK_MAX_ITEMS 64 /* requests per sendmsg */
#define LINK_SWEEP_MS  1000

enum link_state {
	LINK_DOWN,
	LINK_CONNECTING,
	LINK_UP,
	LINK_RESETTING
};

struct peer_link {
	struct sd_node_id nid;
	char name[64];
	int fd;
	enum link_state state;
	int reset_err;
	/* Every request on the link, oldest first; send_next: the first not sent whole. */
	struct peer_req *head, *tail, *send_next;
	uint32_t send_off;
	/* Submitted while the link resets: they go on the next connection. */
	struct peer_req *wait_head, *wait_tail;
	bool connect_busy, send_busy, recv_busy;
	struct uop connect_uop, send_uop, recv_uop;
	struct sockaddr_storage sa;
	socklen_t salen;
	struct msghdr mh;
	struct iovec iov[LINK_MAX_ITEMS * 2];
	uint8_t *rbuf;
	uint32_t rpos, rlen;
	struct peer_req *rx; /* a READ reply's bytes arriving straight into rx->buf */
	uint32_t rx_have;
	bool retiring; /* shut-down: freed once the ring holds nothing of it */
	struct peer_link *next;
};

static __thread struct peer_link *links;
static __thread uint64_t next_req_id;
static __thread struct shard_timer sweep_timer;

static void link_connect(struct peer_link *l);
static void link_send(struct peer_link *l);
static void link_reset(struct peer_link *l, int err, const char *why);
static void arm_recv(struct peer_link *l);
static void link_free(struct peer_link *l);

static void append(struct peer_req **head, struct peer_req **tail, struct peer_req *r)
{
	r->next = NULL;
	r->prev = *tail;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static void unlink_req(struct peer_link *l, struct peer_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->next = r->prev = NULL;
}

static void done_deferred(struct shard_defer *d)
{
	struct peer_req *r = container_of(d, struct peer_req, defer);

	r->done(r);
}

/* Every completion runs at the end of the pass: a callback may submit again on this link. */
static void complete(struct peer_req *r, int result)
{
	r->result = result;
	r->link = NULL;
	r->defer.fn = done_deferred;
	shard_defer(shard_self(), &r->defer);
}

static void name_link(struct peer_link *l)
{
	char a[48];

	node_addr_format(l->nid.addr, a, sizeof(a));
	snprintf(l->name, sizeof(l->name), "%s:%u", a, l->nid.port);
	l->salen = net_node_sockaddr(l->nid.addr, l->nid.port, &l->sa);
}

static void connect_done(struct uop *op, int res);
static void send_done(struct uop *op, int res);
static void recv_done(struct uop *op, int res);

static struct peer_link *link_of(const struct sd_node_id *nid)
{
	struct peer_link *l;

	for (l = links; l; l = l->next)
		if (!node_id_cmp(&l->nid, nid))
			return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->rbuf = malloc(LINK_RBUF_SIZE);
	if (!l->rbuf) {
		free(l);
		return NULL;
	}
	l->nid = *nid;
	l->fd = -1;
	l->connect_uop.cb = connect_done;
	l->send_uop.cb = send_done;
	l->recv_uop.cb = recv_done;
	name_link(l);
	l->next = links;
	links = l;
	return l;
}

static void sweep(struct shard_timer *t)
{
	uint64_t now = guard_clock_ms();
	bool busy = false;

	for (struct peer_link *l = links; l; l = l->next) {
		for (struct peer_req *r = l->head; r; r = r->next) {
			if (r->deadline <= now && l->state != LINK_RESETTING) {
				char why[96];

				snprintf(why, sizeof(why), "no reply for %d s",
					 PEER_REQ_TIMEOUT_MS / 1000);
				link_reset(l, -ECONNRESET, why);
				break;
			}
		}
		busy |= l->head || l->wait_head;
	}
	if (busy)
		shard_timer_start(t, LINK_SWEEP_MS);
}

void peer_submit(struct peer_req *r)
{
	struct peer_link *l = link_of(&r->to);

	r->sent = r->replied = false;
	r->reply_code = PEER_RES_SYSTEM_ERROR;
	r->reply_epoch = 0;
	r->defer.queued = false;
	if (!l) {
		log_err("out of memory for a connection to a peer");
		complete(r, -ENOMEM);
		return;
	}
	r->link = l;
	r->hdr.req_id = ++next_req_id;
	r->hdr.flags &= (uint16_t)~PEER_F_REPLY;
	r->hdr.result = 0;
	peer_hdr_encode(&r->hdr, r->wire);
	r->deadline = guard_clock_ms() + PEER_REQ_TIMEOUT_MS;
	sweep_timer.fn = sweep;
	shard_timer_start(&sweep_timer, LINK_SWEEP_MS);
	if (l->state == LINK_RESETTING) {
		append(&l->wait_head, &l->wait_tail, r);
		return;
	}
	append(&l->head, &l->tail, r);
	if (!l->send_next)
		l->send_next = r;
	if (l->state == LINK_DOWN)
		link_connect(l);
	else if (l->state == LINK_UP)
		link_send(l);
}

static void link_connect(struct peer_link *l)
{
	struct io_uring_sqe *sqe;
	int one = 1, fd = socket(l->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		l->state = LINK_CONNECTING; /* so that the reset fails its requests */
		link_reset(l, -errno, "cannot create a socket");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	l->fd = fd;
	l->state = LINK_CONNECTING;
	l->connect_busy = true;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&l->sa, l->salen);
	io_uring_sqe_set_data(sqe, &l->connect_uop);
}

/* Once the ring holds nothing of the link: close it, fail its requests, go on with new ones. */
static void finish_reset(struct peer_link *l)
{
	uint64_t now = guard_clock_ms();

	if (l->state != LINK_RESETTING || l->connect_busy || l->send_busy || l->recv_busy)
		return;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	while (l->head) {
		struct peer_req *r = l->head;

		unlink_req(l, r);
		complete(r, r->deadline <= now ? -ETIMEDOUT : l->reset_err);
	}
	l->send_next = NULL;
	l->send_off = 0;
	l->rx = NULL;
	l->rpos = l->rlen = 0;
	l->state = LINK_DOWN;
	l->head = l->wait_head;
	l->tail = l->wait_tail;
	l->wait_head = l->wait_tail = NULL;
	l->send_next = l->head;
	if (l->retiring) {
		link_free(l);
		return;
	}
	if (l->head)
		link_connect(l);
}

static void link_reset(struct peer_link *l, int err, const char *why)
{
	if (l->state == LINK_RESETTING || l->state == LINK_DOWN)
		return;
	if (why)
		log_warn("peer connection to %s: %s; resetting it", l->name, why);
	l->state = LINK_RESETTING;
	l->reset_err = err;
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	if (l->connect_busy) {
		struct io_uring_sqe *sqe = shard_get_sqe(shard_self());

		io_uring_prep_cancel(sqe, &l->connect_uop, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	finish_reset(l);
}

static void connect_done(struct uop *op, int res)
{
	struct peer_link *l = container_of(op, struct peer_link, connect_uop);

	l->connect_busy = false;
	if (l->state == LINK_RESETTING) {
		finish_reset(l);
		return;
	}
	if (res < 0) {
		link_reset(l, res, strerror(-res));
		return;
	}
	l->state = LINK_UP;
	log_debug("peer connection to %s up", l->name);
	arm_recv(l);
	link_send(l);
}

static uint32_t wire_len(const struct peer_req *r)
{
	return PEER_HDR_SIZE + (r->hdr.opcode == PEER_OP_WRITE ? r->hdr.length : 0);
}

static void link_send(struct peer_link *l)
{
	struct io_uring_sqe *sqe;
	uint32_t skip = l->send_off;
	int niov = 0, items = 0;

	if (l->send_busy || l->state != LINK_UP || !l->send_next)
		return;
	for (struct peer_req *r = l->send_next; r && items < LINK_MAX_ITEMS; r = r->next, items++) {
		struct iovec v[2] = { { r->wire, PEER_HDR_SIZE }, { r->buf, 0 } };

		if (r->hdr.opcode == PEER_OP_WRITE)
			v[1].iov_len = r->hdr.length;
		for (int i = 0; i < 2; i++) {
			if (skip >= v[i].iov_len) {
				skip -= (uint32_t)v[i].iov_len;
				continue;
			}
			v[i].iov_base = (char *)v[i].iov_base + skip;
			v[i].iov_len -= skip;
			skip = 0;
			l->iov[niov++] = v[i];
		}
	}
	memset(&l->mh, 0, sizeof(l->mh));
	l->mh.msg_iov = l->iov;
	l->mh.msg_iovlen = (size_t)niov;
	l->send_busy = true;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_sendmsg(sqe, l->fd, &l->mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &l->send_uop);
}

/* r is sent and answered: it leaves the link. */
static void finish_req(struct peer_link *l, struct peer_req *r)
{
	if (l->rx == r)
		return; /* its bytes are still arriving */
	unlink_req(l, r);
	complete(r, r->result);
}

static void send_done(struct uop *op, int res)
{
	struct peer_link *l = container_of(op, struct peer_link, send_uop);

	l->send_busy = false;
	if (l->state == LINK_RESETTING) {
		finish_reset(l);
		return;
	}
	if (res <= 0) {
		link_reset(l, -ECONNRESET, res ? strerror(-res) : "nothing sent");
		return;
	}
	while (l->send_next) {
		struct peer_req *r = l->send_next;
		uint32_t left = wire_len(r) - l->send_off;

		if ((uint32_t)res < left) {
			l->send_off += (uint32_t)res;
			break;
		}
		res -= (int)left;
		l->send_off = 0;
		l->send_next = r->next;
		r->sent = true;
		if (r->replied)
			finish_req(l, r);
	}
	link_send(l);
}

static void arm_recv(struct peer_link *l)
{
	struct io_uring_sqe *sqe;
	void *buf;
	size_t len;

	if (l->recv_busy || l->state != LINK_UP)
		return;
	if (l->rx) {
		buf = (uint8_t *)l->rx->buf + l->rx_have;
		len = l->rx->hdr.length - l->rx_have;
	} else {
		if (l->rpos) {
			memmove(l->rbuf, l->rbuf + l->rpos, l->rlen - l->rpos);
			l->rlen -= l->rpos;
			l->rpos = 0;
		}
		buf = l->rbuf + l->rlen;
		len = LINK_RBUF_SIZE - l->rlen;
	}
	l->recv_busy = true;
	sqe = shard_get_sqe(shard_self());
	io_uring_prep_recv(sqe, l->fd, buf, len, 0);
	io_uring_sqe_set_data(sqe, &l->recv_uop);
}

static void replied(struct peer_link *l, struct peer_req *r)
{
	r->replied = true;
	if (r->sent)
		finish_req(l, r);
}

/* Parses the replies in rbuf. Returns 0, or -1 after a reset. */
static int parse_replies(struct peer_link *l)
{
	while (l->rlen - l->rpos >= PEER_HDR_SIZE) {
		struct peer_hdr h;
		struct peer_req *r;
		uint32_t plen, avail;
		int ret = peer_hdr_parse(l->rbuf + l->rpos, l->rlen - l->rpos, &h);

		if (ret < 0 || !(h.flags & PEER_F_REPLY)) {
			link_reset(l, -ECONNRESET, "malformed reply");
			return -1;
		}
		for (r = l->head; r && r->hdr.req_id != h.req_id; r = r->next)
			;
		plen = peer_payload_len(&h);
		if (!r || r->replied ||
		    (plen && ((r->hdr.opcode != PEER_OP_READ && r->hdr.opcode != PEER_OP_PULL) ||
			      plen != r->hdr.length))) {
			link_reset(l, -ECONNRESET, "a reply that matches no request");
			return -1;
		}
		l->rpos += PEER_HDR_SIZE;
		r->reply_code = h.result;
		r->reply_epoch = h.epoch;
		r->result =
			h.result ? peer_errno_from_result(h.result)
				 : (r->hdr.opcode == PEER_OP_READ || r->hdr.opcode == PEER_OP_PULL
					    ? (int)r->hdr.length
					    : 0);
		if (h.result && !r->result)
			r->result = -EIO;
		if (plen) {
			avail = l->rlen - l->rpos < plen ? l->rlen - l->rpos : plen;
			memcpy(r->buf, l->rbuf + l->rpos, avail);
			l->rpos += avail;
			if (avail < plen) {
				l->rx = r;
				l->rx_have = avail;
				r->replied = true;
				return 0;
			}
		}
		replied(l, r);
	}
	return 0;
}

static void recv_done(struct uop *op, int res)
{
	struct peer_link *l = container_of(op, struct peer_link, recv_uop);

	l->recv_busy = false;
	if (l->state == LINK_RESETTING) {
		finish_reset(l);
		return;
	}
	if (res <= 0) {
		link_reset(l, -ECONNRESET, res ? strerror(-res) : "closed by the peer");
		return;
	}
	if (l->rx) {
		struct peer_req *r = l->rx;

		l->rx_have += (uint32_t)res;
		if (l->rx_have < r->hdr.length) {
			arm_recv(l);
			return;
		}
		l->rx = NULL;
		r->replied = false;
		replied(l, r);
	} else {
		l->rlen += (uint32_t)res;
	}
	if (parse_replies(l))
		return;
	arm_recv(l);
}

static void link_free(struct peer_link *l)
{
	struct peer_link **pp = &links;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	/* Requests that came meanwhile fail too: nothing will carry them any more. */
	while (l->head) {
		struct peer_req *r = l->head;

		unlink_req(l, r);
		complete(r, -ECONNRESET);
	}
	free(l->rbuf);
	free(l);
}

int peer_client_shutdown(void)
{
	int left = 0;

	for (struct peer_link *l = links, *next; l; l = next) {
		next = l->next;
		l->retiring = true;
		if (l->state == LINK_DOWN)
			link_free(l);
		else
			link_reset(l, -ECONNRESET, NULL); /* frees it once idle */
	}
	for (struct peer_link *l = links; l; l = l->next)
		left++;
	return left;
}
