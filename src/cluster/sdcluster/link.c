/* Control-thread client connections to other sheep (link.h). */
#include "link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/net.h"
#include "../../frontends/ctl/ctl_frame.h"

#define LINK_MAX_REPLY (1u << 20) /* cluster control replies are small */

struct call {
	struct call *next;
	link_done_fn done;
	void *arg;
	uint64_t deadline;
	uint8_t *frame; /* owned until fully sent */
	size_t len;
};

struct link {
	struct link *prev, *next;
	struct sd_node_id nid;
	int fd;
	struct evloop_fd *h;
	bool connected;
	struct call *sending, *sending_tail; /* not yet (fully) written */
	size_t sent;			     /* bytes of sending's frame written */
	struct call *waiting, *waiting_tail; /* written, answer due in order */
	uint8_t *in;
	size_t in_len, in_cap;
};

/* A completion handed to the loop, so done never runs inside link_call. */
struct finished {
	struct finished *next;
	link_done_fn done;
	void *arg;
	Sdctl__Response *rsp;
	int err;
};

static struct evloop *loop;
static struct link *links;
static struct evloop_timer deadline_timer;
static struct finished *finished, **finished_tail = &finished;
static struct evloop_defer finish_defer;

static void run_finished(void *arg)
{
	(void)arg;
	while (finished) {
		struct finished *f = finished;

		finished = f->next;
		if (!finished)
			finished_tail = &finished;
		f->done(f->arg, f->rsp, f->err);
		if (f->rsp)
			sdctl__response__free_unpacked(f->rsp, NULL);
		free(f);
	}
}

static void finish(struct call *c, Sdctl__Response *rsp, int err)
{
	struct finished *f = calloc(1, sizeof(*f));

	if (!f) {
		/* No memory to defer: answer now (a caller never calls us back from done). */
		c->done(c->arg, rsp, rsp ? 0 : err);
		if (rsp)
			sdctl__response__free_unpacked(rsp, NULL);
	} else {
		*f = (struct finished){ NULL, c->done, c->arg, rsp, rsp ? 0 : err };
		*finished_tail = f;
		finished_tail = &f->next;
		evloop_defer(loop, &finish_defer);
	}
	free(c->frame);
	free(c);
}

static void link_fail(struct link *l, int err)
{
	struct call *lists[2] = { l->waiting, l->sending };

	if (l->h)
		evloop_fd_del(loop, l->h);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->h = NULL;
	l->connected = false;
	l->waiting = l->waiting_tail = l->sending = l->sending_tail = NULL;
	l->sent = 0;
	l->in_len = 0;
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct call *c = lists[i];

			lists[i] = c->next;
			finish(c, NULL, err);
		}
	}
}

static void link_events(struct link *l)
{
	evloop_fd_mod(loop, l->h,
		      (l->connected ? EPOLLIN : 0) | (l->sending ? EPOLLOUT : 0) |
			      (!l->connected ? EPOLLOUT : 0));
}

static int do_send(struct link *l)
{
	while (l->sending) {
		struct call *c = l->sending;
		ssize_t n = send(l->fd, c->frame + l->sent, c->len - l->sent, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		l->sent += (size_t)n;
		if (l->sent < c->len)
			return 0;
		l->sent = 0;
		l->sending = c->next;
		if (!l->sending)
			l->sending_tail = NULL;
		free(c->frame);
		c->frame = NULL;
		c->next = NULL;
		if (l->waiting_tail)
			l->waiting_tail->next = c;
		else
			l->waiting = c;
		l->waiting_tail = c;
	}
	return 0;
}

static int do_recv(struct link *l)
{
	for (;;) {
		const uint8_t *payload;
		uint32_t plen;
		size_t used;
		ssize_t n;
		int st;

		if (l->in_len == l->in_cap) {
			size_t cap = l->in_cap ? l->in_cap * 2 : 4096;
			uint8_t *nb;

			if (cap > LINK_MAX_REPLY + CTL_FRAME_HDR)
				return -EMSGSIZE;
			nb = realloc(l->in, cap);
			if (!nb)
				return -ENOMEM;
			l->in = nb;
			l->in_cap = cap;
		}
		n = recv(l->fd, l->in + l->in_len, l->in_cap - l->in_len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		l->in_len += (size_t)n;
		while ((st = ctl_frame_parse(l->in, l->in_len, LINK_MAX_REPLY, &payload, &plen,
					     &used)) == CTL_FRAME_OK) {
			struct call *c = l->waiting;
			Sdctl__Response *rsp;

			if (!c)
				return -EPROTO; /* an answer nobody asked for */
			rsp = sdctl__response__unpack(NULL, plen, payload);
			if (!rsp)
				return -EPROTO;
			l->waiting = c->next;
			if (!l->waiting)
				l->waiting_tail = NULL;
			finish(c, rsp, 0);
			memmove(l->in, l->in + used, l->in_len - used);
			l->in_len -= used;
		}
		if (st < 0)
			return st;
	}
}

static void on_event(void *arg, uint32_t events)
{
	struct link *l = arg;
	int ret = 0;

	if (!l->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			link_fail(l, -soerr);
			return;
		}
		l->connected = true;
	}
	if (events & EPOLLIN)
		ret = do_recv(l);
	if (!ret && (events & EPOLLOUT))
		ret = do_send(l);
	if (!ret && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))
		ret = -ECONNRESET;
	if (ret) {
		link_fail(l, ret);
		return;
	}
	link_events(l);
}

static int link_dial(struct link *l)
{
	struct sockaddr_storage ss;
	socklen_t slen = net_node_sockaddr(l->nid.addr, l->nid.port, &ss);
	int fd, one = 1;

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, slen) < 0 && errno != EINPROGRESS) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	if (evloop_fd_add(loop, fd, EPOLLOUT, on_event, l, &l->h)) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	return 0;
}

static void check_deadlines(void *arg)
{
	uint64_t now = evloop_now(loop);

	(void)arg;
	for (struct link *l = links; l; l = l->next) {
		struct call *first = l->waiting ? l->waiting : l->sending;

		/* Calls finish in order, so the oldest one's deadline speaks for the link. */
		if (first && first->deadline <= now)
			link_fail(l, -ETIMEDOUT);
	}
}

void link_init(struct evloop *lp)
{
	loop = lp;
	evloop_defer_init(&finish_defer, run_finished, NULL);
	evloop_timer_init(&deadline_timer, check_deadlines, NULL);
	evloop_timer_start(loop, &deadline_timer, 100, 100);
}

int link_call(const struct sd_node_id *nid, const Sdctl__Request *req, unsigned timeout_ms,
	      link_done_fn done, void *arg)
{
	size_t size = sdctl__request__get_packed_size(req);
	struct call *c = calloc(1, sizeof(*c));
	struct link *l;
	int ret;

	if (!c || !(c->frame = malloc(CTL_FRAME_HDR + size))) {
		free(c);
		return -ENOMEM;
	}
	ctl_frame_header(c->frame, (uint32_t)size);
	sdctl__request__pack(req, c->frame + CTL_FRAME_HDR);
	c->len = CTL_FRAME_HDR + size;
	c->done = done;
	c->arg = arg;
	c->deadline = evloop_now(loop) + timeout_ms;
	for (l = links; l; l = l->next)
		if (!node_id_cmp(&l->nid, nid))
			break;
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l) {
			free(c->frame);
			free(c);
			return -ENOMEM;
		}
		l->nid = *nid;
		l->fd = -1;
		dlist_push(links, l);
	}
	if (l->sending_tail)
		l->sending_tail->next = c;
	else
		l->sending = c;
	l->sending_tail = c;
	if (l->fd < 0) {
		ret = link_dial(l);
		if (ret) {
			link_fail(l, ret);
			return 0;
		}
	}
	link_events(l);
	return 0;
}

void link_close_all(void)
{
	while (links) {
		struct link *l = links;

		link_fail(l, -ESHUTDOWN);
		dlist_unlink(links, l);
		free(l->in);
		free(l);
	}
	evloop_timer_stop(loop, &deadline_timer);
	run_finished(NULL);
}
