/*
 * raft_node over libraft's legacy raft_io API (raft_uv_init + the TCP transport). The facts it
 * relies on (cowsql/raft 0.22) are in /work/shared/reference/coordination.md section 1; the
 * non-obvious ones are noted where they are used.
 */
#include "raft_node.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>

#include "../../core/byteorder.h"
#include "../../core/list.h"
#include "../../core/log.h"

/*
 * A log entry is [le64 command length][command][zeros to a multiple of 8]: libraft's disk
 * writer refuses entries whose length is not a multiple of 8 ("entry buffers must be 8-byte
 * aligned"), and on that path raft_apply has already freed the buffer it then reports failed.
 */
#define ENTRY_HDR 8

/* A report delivered from the loop rather than from inside the call that caused it. */
struct deferred {
	struct deferred *next;
	raft_node_report_cb cb;
	void *arg;
	struct raft_node_report report;
};

enum change_kind {
	CHANGE_ADD,
	CHANGE_ASSIGN,
	CHANGE_REMOVE
};

struct change {
	struct change *next;
	struct raft_node *node;
	enum change_kind kind;
	uint64_t id;
	char address[RAFT_NODE_ADDRESS_MAX];
	enum raft_node_role role;
	bool assigning; /* an add whose raft_add committed, now assigning role */
	struct raft_change req;
	raft_node_report_cb cb;
	void *arg;
};

struct proposal {
	struct raft_node *node;
	struct raft_apply req;
	raft_node_report_cb cb;
	void *arg;
};

/* An InstallSnapshot held back while this member writes its own snapshot (see hold_install). */
struct held_message {
	struct held_message *next;
	struct raft_message msg;
	char *address; /* the sender's; libuv frees its own copy with the connection */
};

struct raft_node {
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm raft_fsm;
	const struct raft_node_fsm *fsm;
	void *fsm_ctx;
	uint64_t id;
	char address[RAFT_NODE_ADDRESS_MAX];
	char *data_dir;
	bool started;
	bool closing;

	uv_timer_t defer_timer;
	struct deferred *deferred_head, *deferred_tail;

	struct change *changes_head, *changes_tail; /* queued, not started */
	struct change *change_running;

	/*
	 * libraft 0.22.1 dereferences NULL (legacy.c takeSnapshotCb: it clears snapshot_pending
	 * and then reads it) when an InstallSnapshot arrives while the member writes its own
	 * snapshot. So while ours is being written (fsm snapshot to snapshot_finalize), incoming
	 * InstallSnapshot messages wait here, as if the network were slow.
	 */
	bool taking_snapshot;
	struct held_message *held_head, *held_tail;
	uv_timer_t held_timer;
	raft_io_recv_cb raft_recv;
	int (*io_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			raft_io_recv_cb recv);

	void (*close_cb)(void *arg);
	void *close_arg;
	int timers_open; /* while closing */
};

void *raft_node_buf_alloc(size_t len)
{
	return raft_malloc(len ? len : 1);
}

void raft_node_buf_free(void *buf)
{
	raft_free(buf);
}

static int raft_errno(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_BADID:
	case RAFT_BADROLE:
	case RAFT_INVALID:
	case RAFT_MALFORMED:
		return -EINVAL;
	case RAFT_DUPLICATEID:
		return -EEXIST;
	case RAFT_DUPLICATEADDRESS:
		return -EADDRINUSE;
	case RAFT_NOTLEADER:
		return -EREMOTE;
	case RAFT_LEADERSHIPLOST:
		return -ECONNABORTED;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return -ESHUTDOWN;
	case RAFT_CANTCHANGE:
	case RAFT_BUSY:
		return -EBUSY;
	case RAFT_CORRUPT:
		return -EUCLEAN;
	case RAFT_NAMETOOLONG:
		return -ENAMETOOLONG;
	case RAFT_TOOBIG:
		return -E2BIG;
	case RAFT_NOCONNECTION:
		return -ENOTCONN;
	case RAFT_NOTFOUND:
		return -ENOENT;
	case RAFT_UNAUTHORIZED:
		return -EACCES;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_TOOMANY:
		return -EMFILE;
	default:
		return -EIO;
	}
}

static void fill_leader(struct raft_node *node, uint64_t *id, char *address)
{
	raft_id lid = 0;
	const char *laddr = NULL;

	address[0] = '\0';
	if (node->started && !node->closing)
		raft_leader(&node->raft, &lid, &laddr);
	*id = lid;
	if (lid && laddr)
		snprintf(address, RAFT_NODE_ADDRESS_MAX, "%s", laddr);
}

/* Turns a libraft status into a report; what names the operation for the reason line. */
static void make_report(struct raft_node *node, int status, const char *what,
			struct raft_node_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	fill_leader(node, &rep->leader_id, rep->leader_address);
	rep->err = raft_errno(status);
	switch (status) {
	case 0:
		rep->outcome = RAFT_NODE_DONE;
		return;
	case RAFT_NOTLEADER:
		rep->outcome = RAFT_NODE_NOT_LEADER;
		if (rep->leader_id)
			snprintf(rep->reason, sizeof(rep->reason),
				 "%s: raft member %llu is not the leader; the leader is %llu at %s",
				 what, (unsigned long long)node->id,
				 (unsigned long long)rep->leader_id, rep->leader_address);
		else
			snprintf(rep->reason, sizeof(rep->reason),
				 "%s: raft member %llu is not the leader and knows none (election "
				 "under way, or too few members up); retry",
				 what, (unsigned long long)node->id);
		return;
	case RAFT_LEADERSHIPLOST:
		rep->outcome = RAFT_NODE_UNKNOWN;
		snprintf(rep->reason, sizeof(rep->reason),
			 "%s: raft member %llu lost leadership before it committed; it may still "
			 "commit",
			 what, (unsigned long long)node->id);
		return;
	case RAFT_NOCONNECTION:
		rep->outcome = RAFT_NODE_FAILED;
		snprintf(rep->reason, sizeof(rep->reason),
			 "%s: the member did not catch up with the log; is it running and "
			 "reachable?",
			 what);
		return;
	default:
		rep->outcome = RAFT_NODE_FAILED;
		snprintf(rep->reason, sizeof(rep->reason), "%s: %s (%s)", what,
			 raft_strerror(status),
			 node->started ? raft_errmsg(&node->raft) : "not started");
		return;
	}
}

static void deliver_deferred(uv_timer_t *t)
{
	struct raft_node *node = t->data;

	while (node->deferred_head) {
		struct deferred *d = node->deferred_head;

		node->deferred_head = d->next;
		if (!node->deferred_head)
			node->deferred_tail = NULL;
		d->cb(d->arg, &d->report);
		free(d);
	}
}

static int defer_report(struct raft_node *node, raft_node_report_cb cb, void *arg,
			const struct raft_node_report *rep)
{
	struct deferred *d = malloc(sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->next = NULL;
	d->cb = cb;
	d->arg = arg;
	d->report = *rep;
	if (node->deferred_tail)
		node->deferred_tail->next = d;
	else
		node->deferred_head = d;
	node->deferred_tail = d;
	if (!node->closing)
		uv_timer_start(&node->defer_timer, deliver_deferred, 0, 0);
	return 0;
}

/* --- the state machine, as libraft sees it --- */

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	struct raft_node *node = f->data;
	/* libraft advances last_applied entry by entry, after each apply returns. */
	uint64_t index = raft_last_applied(&node->raft) + 1;
	uint64_t len = buf->len >= ENTRY_HDR ? get_le64(buf->base) : UINT64_MAX;
	int r;

	if (len > buf->len - ENTRY_HDR) {
		/* Every member sees the same bytes, so skipping it keeps them equal. */
		log_err("raft member %llu: log entry %llu is malformed (%zu bytes); skipped",
			(unsigned long long)node->id, (unsigned long long)index, buf->len);
		*result = (void *)(intptr_t)-EUCLEAN;
		return 0;
	}
	r = node->fsm->apply(node->fsm_ctx, index, (const uint8_t *)buf->base + ENTRY_HDR,
			     (size_t)len);

	/* A non-zero return here would stop libraft; the command's own verdict is its result. */
	*result = (void *)(intptr_t)r;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct raft_node *node = f->data;
	void *data = NULL;
	size_t len = 0;
	struct raft_buffer *b;
	int r = node->fsm->snapshot(node->fsm_ctx, &data, &len);

	if (r) {
		raft_free(data);
		log_warn("raft member %llu: the state machine could not take a snapshot: %s; the "
			 "log keeps growing until one succeeds",
			 (unsigned long long)node->id, strerror(-r));
		return RAFT_IOERR;
	}
	b = raft_malloc(sizeof(*b));
	if (!b) {
		raft_free(data);
		return RAFT_NOMEM;
	}
	b->base = data;
	b->len = len;
	*bufs = b; /* freed in fsm_snapshot_finalize */
	*n_bufs = 1;
	node->taking_snapshot = true;
	return 0;
}

static void deliver_held(uv_timer_t *t);

/* Called once the snapshot is written, or failed to be. */
static int fsm_snapshot_finalize(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct raft_node *node = f->data;

	for (unsigned i = 0; i < *n_bufs; i++)
		raft_free((*bufs)[i].base);
	raft_free(*bufs);
	*bufs = NULL;
	*n_bufs = 0;
	node->taking_snapshot = false;
	/* Not from here: libraft is still inside its snapshot callback. */
	if (node->held_head && !node->closing)
		uv_timer_start(&node->held_timer, deliver_held, 0, 0);
	return 0;
}

static void free_held(struct held_message *h)
{
	raft_configuration_close(&h->msg.install_snapshot.conf);
	raft_free(h->msg.install_snapshot.data.base);
	free(h->address);
	free(h);
}

static void deliver_held(uv_timer_t *t)
{
	struct raft_node *node = t->data;

	while (node->held_head && !node->taking_snapshot && !node->closing) {
		struct held_message *h = node->held_head;

		node->held_head = h->next;
		if (!node->held_head)
			node->held_tail = NULL;
		h->msg.server_address = h->address;
		node->raft_recv(&node->io, &h->msg); /* takes the conf and the data */
		free(h->address);
		free(h);
	}
}

static void hold_install(struct raft_io *io, struct raft_message *msg)
{
	struct raft_node *node = container_of(io, struct raft_node, io);
	struct held_message *h;

	if (msg->type != RAFT_INSTALL_SNAPSHOT || !node->taking_snapshot) {
		node->raft_recv(io, msg);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h)
		h->address = strdup(msg->server_address);
	if (!h || !h->address) {
		/* Dropped: the leader sends it again after its install timeout. */
		free(h);
		raft_configuration_close(&msg->install_snapshot.conf);
		raft_free(msg->install_snapshot.data.base);
		return;
	}
	h->msg = *msg;
	if (node->held_tail)
		node->held_tail->next = h;
	else
		node->held_head = h;
	node->held_tail = h;
}

static int io_start_hooked(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			   raft_io_recv_cb recv)
{
	struct raft_node *node = container_of(io, struct raft_node, io);

	node->raft_recv = recv;
	return node->io_start(io, msecs, tick, hold_install);
}

static int fsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
	struct raft_node *node = f->data;
	int r = node->fsm->restore(node->fsm_ctx, buf->base, buf->len);

	if (r) {
		log_err("raft member %llu: the state machine refused a snapshot of %zu bytes: %s; "
			"this member stops taking part",
			(unsigned long long)node->id, buf->len, strerror(-r));
		return RAFT_CORRUPT;
	}
	/* On success the buffer is ours to free (libraft frees it only on failure). */
	raft_free(buf->base);
	return 0;
}

/* --- create, start, close --- */

int raft_node_create(uv_loop_t *loop, const struct raft_node_config *cfg, struct raft_node **out)
{
	struct raft_node *node;
	struct stat st;
	unsigned seed;
	int rv;

	if (!loop || !cfg || !cfg->id || !cfg->address || !cfg->data_dir || !cfg->fsm ||
	    !cfg->fsm->apply || !cfg->fsm->snapshot || !cfg->fsm->restore)
		return -EINVAL;
	if (strlen(cfg->address) >= RAFT_NODE_ADDRESS_MAX || !strchr(cfg->address, ':')) {
		log_err("raft member %llu: address '%s' is not host:port",
			(unsigned long long)cfg->id, cfg->address);
		return -EINVAL;
	}
	if (stat(cfg->data_dir, &st) || !S_ISDIR(st.st_mode)) {
		log_err("raft member %llu: data directory %s does not exist; create it first",
			(unsigned long long)cfg->id, cfg->data_dir);
		return -ENOENT;
	}
	node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->data_dir = strdup(cfg->data_dir);
	if (!node->data_dir) {
		free(node);
		return -ENOMEM;
	}
	node->loop = loop;
	node->id = cfg->id;
	snprintf(node->address, sizeof(node->address), "%s", cfg->address);
	node->fsm = cfg->fsm;
	node->fsm_ctx = cfg->fsm_ctx;
	node->raft_fsm.version = 2;
	node->raft_fsm.data = node;
	node->raft_fsm.apply = fsm_apply;
	node->raft_fsm.snapshot = fsm_snapshot;
	node->raft_fsm.restore = fsm_restore;
	node->raft_fsm.snapshot_finalize = fsm_snapshot_finalize;

	/* Since 0.17 the transport must say its version, or init fails with RAFT_INVALID. */
	node->transport.version = 1;
	rv = raft_uv_tcp_init(&node->transport, loop);
	if (rv) {
		log_err("raft member %llu: TCP transport: %s", (unsigned long long)cfg->id,
			raft_strerror(rv));
		goto err_free;
	}
	rv = raft_uv_init(&node->io, loop, node->data_dir, &node->transport);
	if (rv) {
		log_err("raft member %llu: storage in %s: %s", (unsigned long long)cfg->id,
			node->data_dir, node->io.errmsg);
		goto err_transport;
	}
	node->io_start = node->io.start;
	node->io.start = io_start_hooked;
	rv = raft_init(&node->raft, &node->io, &node->raft_fsm, cfg->id, node->address);
	if (rv) {
		log_err("raft member %llu: %s (data directory %s)", (unsigned long long)cfg->id,
			raft_errmsg(&node->raft), node->data_dir);
		goto err_io;
	}
	node->raft.data = node;
	raft_set_election_timeout(&node->raft, cfg->election_ms ? cfg->election_ms : 1000);
	raft_set_heartbeat_timeout(&node->raft, cfg->heartbeat_ms ? cfg->heartbeat_ms : 100);
	/* Without pre-vote a failover always splits the first vote (about 2.5 s at 1000 ms). */
	raft_set_pre_vote(&node->raft, true);
	if (cfg->snapshot_threshold)
		raft_set_snapshot_threshold(&node->raft, cfg->snapshot_threshold);
	if (cfg->snapshot_trailing)
		raft_set_snapshot_trailing(&node->raft, cfg->snapshot_trailing);
	/* The default 1000 ms retry slows a restarted peer's return by up to a second. */
	raft_uv_set_connect_retry_delay(&node->io, 100);
	/* Members sharing a process must not share election timer sequences. */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (unsigned)(cfg->id * 2654435761u) ^ (unsigned)getpid();
	raft_seed(&node->raft, seed);

	uv_timer_init(loop, &node->defer_timer);
	node->defer_timer.data = node;
	uv_timer_init(loop, &node->held_timer);
	node->held_timer.data = node;
	*out = node;
	return 0;

err_io:
	raft_uv_close(&node->io);
err_transport:
	raft_uv_tcp_close(&node->transport);
err_free:
	free(node->data_dir);
	free(node);
	return raft_errno(rv);
}

/*
 * libraft reports a taken listen address as RAFT_IOERR with no message, so bind it ourselves
 * first to tell the operator what is wrong. SO_REUSEADDR as libuv sets it: a TIME_WAIT left by a
 * previous run is no conflict.
 */
static int probe_listen_address(const char *address)
{
	char host[RAFT_NODE_ADDRESS_MAX];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai;
	size_t hlen = (size_t)(colon - address);
	int fd, one = 1, r = 0;

	if (address[0] == '[' && hlen >= 2 && address[hlen - 1] == ']') {
		memcpy(host, address + 1, hlen - 2);
		host[hlen - 2] = '\0';
	} else {
		memcpy(host, address, hlen);
		host[hlen] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen))
			r = -errno;
		close(fd);
	}
	freeaddrinfo(ai);
	return r;
}

int raft_node_start(struct raft_node *node, bool bootstrap)
{
	int rv, r;

	if (node->started || node->closing)
		return -EALREADY;
	r = probe_listen_address(node->address);
	if (r == -EINVAL) {
		log_err("raft member %llu: cannot resolve address %s", (unsigned long long)node->id,
			node->address);
		return r;
	}
	if (r) {
		log_err("raft member %llu: cannot listen on %s: %s%s", (unsigned long long)node->id,
			node->address, strerror(-r),
			r == -EADDRINUSE ? " (another process holds the port; pick another "
					   "--cluster-port or stop it)"
					 : "");
		return r;
	}
	if (bootstrap) {
		struct raft_configuration conf;

		raft_configuration_init(&conf);
		rv = raft_configuration_add(&conf, node->id, node->address, RAFT_VOTER);
		if (!rv)
			rv = raft_bootstrap(&node->raft, &conf);
		raft_configuration_close(&conf);
		/* RAFT_CANTBOOTSTRAP: the directory already holds state; that state wins. */
		if (rv && rv != RAFT_CANTBOOTSTRAP) {
			log_err("raft member %llu: cannot bootstrap in %s: %s",
				(unsigned long long)node->id, node->data_dir,
				raft_errmsg(&node->raft));
			return raft_errno(rv);
		}
	}
	rv = raft_start(&node->raft);
	if (rv) {
		log_err("raft member %llu: cannot start from %s on %s: %s (%s)",
			(unsigned long long)node->id, node->data_dir, node->address,
			raft_strerror(rv), raft_errmsg(&node->raft));
		return raft_errno(rv);
	}
	node->started = true;
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct raft_node *node = h->data;
	void (*cb)(void *) = node->close_cb;
	void *arg = node->close_arg;

	if (--node->timers_open)
		return;
	free(node->data_dir);
	free(node);
	if (cb)
		cb(arg);
}

static void on_raft_closed(struct raft *r)
{
	struct raft_node *node = r->data;

	raft_uv_close(&node->io);
	raft_uv_tcp_close(&node->transport);
	node->started = false;
	/* Reports queued until now (and the failed queued changes) go out before the free. */
	uv_timer_stop(&node->defer_timer);
	deliver_deferred(&node->defer_timer);
	while (node->held_head) {
		struct held_message *h = node->held_head;

		node->held_head = h->next;
		free_held(h);
	}
	node->held_tail = NULL;
	node->timers_open = 2;
	uv_close((uv_handle_t *)&node->defer_timer, on_timer_closed);
	uv_close((uv_handle_t *)&node->held_timer, on_timer_closed);
}

void raft_node_close(struct raft_node *node, void (*cb)(void *arg), void *arg)
{
	struct raft_node_report rep;

	if (node->closing)
		return;
	node->closing = true;
	node->close_cb = cb;
	node->close_arg = arg;
	while (node->changes_head) {
		struct change *c = node->changes_head;

		node->changes_head = c->next;
		make_report(node, RAFT_SHUTDOWN, "membership change", &rep);
		snprintf(rep.reason, sizeof(rep.reason),
			 "membership change of member %llu: raft member %llu is shutting down",
			 (unsigned long long)c->id, (unsigned long long)node->id);
		if (defer_report(node, c->cb, c->arg, &rep))
			c->cb(c->arg, &rep);
		free(c);
	}
	node->changes_tail = NULL;
	/* Pending proposals and the running change report UNKNOWN from inside raft_close. */
	raft_close(&node->raft, on_raft_closed);
}

/* --- proposals --- */

static void on_applied(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct raft_node_report rep;

	make_report(p->node, status, "raft proposal", &rep);
	if (status == 0) {
		rep.result = (int)(intptr_t)result;
		rep.index = req->index;
	}
	p->cb(p->arg, &rep);
	free(p);
}

int raft_node_propose(struct raft_node *node, const void *data, size_t len, raft_node_report_cb cb,
		      void *arg)
{
	struct raft_buffer buf;
	struct proposal *p;
	int rv;

	if (!cb || (!data && len) || len > UINT32_MAX)
		return -EINVAL;
	if (node->closing)
		return -ESHUTDOWN;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->node = node;
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	buf.len = ENTRY_HDR + ((len + 7) & ~(size_t)7);
	buf.base = raft_malloc(buf.len);
	if (!buf.base) {
		free(p);
		return -ENOMEM;
	}
	memset(buf.base, 0, buf.len);
	put_le64(buf.base, len);
	if (len)
		memcpy((uint8_t *)buf.base + ENTRY_HDR, data, len);
	rv = node->started ? raft_apply(&node->raft, &p->req, &buf, 1, on_applied) : RAFT_NOTLEADER;
	if (rv == 0)
		return 0; /* libraft owns buf.base now */
	/*
	 * These are refused before libraft touches the buffer. After other failures it may
	 * already have freed it (see ENTRY_HDR): a leak is the lesser harm.
	 */
	if (rv == RAFT_NOTLEADER || rv == RAFT_NOSPACE || rv == RAFT_SHUTDOWN || !node->started)
		raft_free(buf.base);
	{
		struct raft_node_report rep;
		int r;

		make_report(node, rv, "raft proposal", &rep);
		r = defer_report(node, cb, arg, &rep);
		free(p);
		return r;
	}
}

/* --- membership changes --- */

static const char *role_name(enum raft_node_role role)
{
	switch (role) {
	case RAFT_NODE_VOTER:
		return "voter";
	case RAFT_NODE_STANDBY:
		return "standby";
	case RAFT_NODE_SPARE:
		return "spare";
	default:
		return "none";
	}
}

static int to_raft_role(enum raft_node_role role)
{
	switch (role) {
	case RAFT_NODE_VOTER:
		return RAFT_VOTER;
	case RAFT_NODE_STANDBY:
		return RAFT_STANDBY;
	default:
		return RAFT_SPARE;
	}
}

static enum raft_node_role from_raft_role(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return RAFT_NODE_VOTER;
	case RAFT_STANDBY:
		return RAFT_NODE_STANDBY;
	case RAFT_SPARE:
		return RAFT_NODE_SPARE;
	default:
		return RAFT_NODE_ROLE_NONE;
	}
}

static void change_what(const struct change *c, char *buf, size_t size)
{
	switch (c->kind) {
	case CHANGE_ADD:
		snprintf(buf, size, "add raft member %llu (%s) as %s", (unsigned long long)c->id,
			 c->address, role_name(c->role));
		break;
	case CHANGE_ASSIGN:
		snprintf(buf, size, "make raft member %llu a %s", (unsigned long long)c->id,
			 role_name(c->role));
		break;
	case CHANGE_REMOVE:
		snprintf(buf, size, "remove raft member %llu", (unsigned long long)c->id);
		break;
	}
}

static void changes_run_next(struct raft_node *node);

static void change_finish(struct change *c, int status, bool deferred)
{
	struct raft_node *node = c->node;
	struct raft_node_report rep;
	char what[RAFT_NODE_ADDRESS_MAX + 64];

	change_what(c, what, sizeof(what));
	make_report(node, status, what, &rep);
	if (!deferred || defer_report(node, c->cb, c->arg, &rep))
		c->cb(c->arg, &rep);
	free(c);
}

static void on_changed(struct raft_change *req, int status)
{
	struct change *c = req->data;
	struct raft_node *node = c->node;

	if (status == 0 && c->kind == CHANGE_ADD && c->role != RAFT_NODE_SPARE && !c->assigning &&
	    !node->closing) {
		/* raft_add enters a member as spare; the role is a second change. */
		c->assigning = true;
		status =
			raft_assign(&node->raft, &c->req, c->id, to_raft_role(c->role), on_changed);
		if (status == 0)
			return;
	}
	node->change_running = NULL;
	change_finish(c, status, false);
	if (!node->closing)
		changes_run_next(node);
}

static int change_start(struct change *c)
{
	struct raft_node *node = c->node;

	if (!node->started)
		return RAFT_NOTLEADER;
	c->req.data = c;
	switch (c->kind) {
	case CHANGE_ADD:
		return raft_add(&node->raft, &c->req, c->id, c->address, on_changed);
	case CHANGE_ASSIGN:
		return raft_assign(&node->raft, &c->req, c->id, to_raft_role(c->role), on_changed);
	case CHANGE_REMOVE:
		return raft_remove(&node->raft, &c->req, c->id, on_changed);
	}
	return RAFT_INVALID;
}

static void changes_run_next(struct raft_node *node)
{
	while (!node->change_running && node->changes_head) {
		struct change *c = node->changes_head;
		int rv;

		node->changes_head = c->next;
		if (!node->changes_head)
			node->changes_tail = NULL;
		c->next = NULL;
		node->change_running = c;
		rv = change_start(c);
		if (rv == 0)
			return;
		node->change_running = NULL;
		change_finish(c, rv, true);
	}
}

static int change_queue(struct raft_node *node, enum change_kind kind, uint64_t id,
			const char *address, enum raft_node_role role, raft_node_report_cb cb,
			void *arg)
{
	struct change *c;

	if (!cb || !id)
		return -EINVAL;
	if (node->closing)
		return -ESHUTDOWN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->node = node;
	c->kind = kind;
	c->id = id;
	if (address)
		snprintf(c->address, sizeof(c->address), "%s", address);
	c->role = role;
	c->cb = cb;
	c->arg = arg;
	if (node->changes_tail)
		node->changes_tail->next = c;
	else
		node->changes_head = c;
	node->changes_tail = c;
	changes_run_next(node);
	return 0;
}

int raft_node_add(struct raft_node *node, uint64_t id, const char *address,
		  enum raft_node_role role, raft_node_report_cb cb, void *arg)
{
	if (!address || strlen(address) >= RAFT_NODE_ADDRESS_MAX || role == RAFT_NODE_ROLE_NONE)
		return -EINVAL;
	return change_queue(node, CHANGE_ADD, id, address, role, cb, arg);
}

int raft_node_assign(struct raft_node *node, uint64_t id, enum raft_node_role role,
		     raft_node_report_cb cb, void *arg)
{
	if (role == RAFT_NODE_ROLE_NONE)
		return -EINVAL;
	return change_queue(node, CHANGE_ASSIGN, id, NULL, role, cb, arg);
}

int raft_node_remove(struct raft_node *node, uint64_t id, raft_node_report_cb cb, void *arg)
{
	return change_queue(node, CHANGE_REMOVE, id, NULL, RAFT_NODE_ROLE_NONE, cb, arg);
}

/* --- queries --- */

const char *raft_node_state_name(enum raft_node_state state)
{
	switch (state) {
	case RAFT_NODE_FOLLOWER:
		return "follower";
	case RAFT_NODE_CANDIDATE:
		return "candidate";
	case RAFT_NODE_LEADER:
		return "leader";
	default:
		return "unavailable";
	}
}

void raft_node_status(struct raft_node *node, struct raft_node_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = RAFT_NODE_UNAVAILABLE;
	st->role = RAFT_NODE_ROLE_NONE;
	if (!node->started || node->closing)
		return;
	switch (raft_state(&node->raft)) {
	case RAFT_FOLLOWER:
		st->state = RAFT_NODE_FOLLOWER;
		break;
	case RAFT_CANDIDATE:
		st->state = RAFT_NODE_CANDIDATE;
		break;
	case RAFT_LEADER:
		st->state = RAFT_NODE_LEADER;
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < node->raft.configuration.n; i++)
		if (node->raft.configuration.servers[i].id == node->id)
			st->role = from_raft_role(node->raft.configuration.servers[i].role);
	st->term = raft_current_term(&node->raft);
	fill_leader(node, &st->leader_id, st->leader_address);
	st->commit_index = raft_commit_index(&node->raft);
	st->last_applied = raft_last_applied(&node->raft);
}

int raft_node_members(struct raft_node *node, struct raft_node_member *out, int max)
{
	const struct raft_configuration *conf = &node->raft.configuration;
	int n = 0;

	if (!node->started || node->closing)
		return 0;
	for (unsigned i = 0; i < conf->n; i++, n++) {
		if (n >= max)
			continue;
		out[n].id = conf->servers[i].id;
		out[n].role = from_raft_role(conf->servers[i].role);
		snprintf(out[n].address, sizeof(out[n].address), "%s", conf->servers[i].address);
	}
	return n;
}
