/* The flush barrier over all shards, with group commit per shard. */
#include "obj_flush.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../shard/shard.h"
#include "fd_cache.h"
#include "peer_fds.h"

/* One shard's share of a flush request. */
struct obj_flush_part {
	struct sd_msg msg;
	struct obj_flush_req *req;
	int result;
	struct obj_flush_part *next; /* on the shard's waiting or running list */
};

/* One fdatasync of a round: of an owned file (e), or of one written for its owner (p). */
struct sync_op {
	struct uop uop;
	struct fd_entry *e;
	struct peer_fd *p;
};

/* Per shard: the parts whose round is running, those waiting for the next, the syncs left. */
struct flush_state {
	struct obj_flush_part *running, *waiting;
	int syncs_left, round_result;
};

static __thread struct flush_state fs;
static __thread uint64_t peer_syncs_done;

uint64_t obj_flush_peer_syncs(void)
{
	return peer_syncs_done;
}

static void part_done_on_origin(void *arg)
{
	struct obj_flush_part *p = arg;
	struct obj_flush_req *r = p->req;

	if (p->result && !r->result)
		r->result = p->result;
	if (--r->pending == 0) {
		free(r->parts);
		r->parts = NULL;
		r->done(r);
	}
}

static void start_round(struct shard *s);

static void end_round(struct shard *s)
{
	struct obj_flush_part *p = fs.running;

	fs.running = NULL;
	while (p) {
		struct obj_flush_part *next = p->next;

		p->result = fs.round_result;
		p->msg.fn = part_done_on_origin;
		p->msg.arg = p;
		msg_send(p->req->origin, &p->msg);
		p = next;
	}
	if (fs.waiting)
		start_round(s);
}

static void sync_done(struct uop *op, int res)
{
	struct sync_op *so = (struct sync_op *)op;
	struct shard *s = shard_self();
	uint64_t oid = so->e ? so->e->oid : so->p->oid;

	if (res < 0) {
		/* Kept dirty: the next flush tries again; this one reports the error. */
		if (so->e)
			so->e->dirty = true;
		if (!fs.round_result)
			fs.round_result = res;
		log_err("shard %d: fdatasync of object %016lx failed: %s", s->id,
			(unsigned long)oid, strerror(-res));
	}
	if (so->e) {
		fd_cache_put(s->fdc, so->e);
	} else {
		peer_syncs_done += res >= 0;
		peer_fd_synced(so->p, res);
	}
	free(so);
	if (--fs.syncs_left == 0)
		end_round(s);
}

static void sync_start(struct shard *s, struct sync_op *so, int fd)
{
	struct io_uring_sqe *sqe = shard_get_sqe(s);

	so->uop.cb = sync_done;
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, &so->uop);
	fs.syncs_left++;
}

static struct sync_op *sync_op_new(void)
{
	struct sync_op *so = calloc(1, sizeof(*so));

	if (!so && !fs.round_result)
		fs.round_result = -ENOMEM;
	return so;
}

static void sync_one(struct fd_entry *e, void *arg)
{
	struct sync_op *so = sync_op_new();

	if (!so)
		return;
	e->dirty = false;
	e->refs++;
	so->e = e;
	sync_start(arg, so, e->fd);
}

/* A file this shard wrote for its sleeping owner (obj_io.c write_here). */
static void sync_peer(struct peer_fd *p, void *arg)
{
	struct sync_op *so = sync_op_new();

	if (!so) {
		peer_fd_synced(p, -ENOMEM);
		return;
	}
	so->p = p;
	sync_start(arg, so, p->fd);
}

static void start_round(struct shard *s)
{
	fs.running = fs.waiting;
	fs.waiting = NULL;
	fs.round_result = 0;
	/* Counts one extra so that a round with no dirty files ends here, not in sync_one. */
	fs.syncs_left = 1;
	fd_cache_for_each_dirty(s->fdc, sync_one, s);
	peer_fds_for_each_dirty(sync_peer, s);
	if (--fs.syncs_left == 0)
		end_round(s);
}

static void part_start(void *arg)
{
	struct obj_flush_part *p = arg;
	struct shard *s = shard_self();

	p->next = fs.waiting;
	fs.waiting = p;
	if (!fs.running)
		start_round(s);
}

int obj_flush_submit(struct obj_flush_req *r)
{
	int n = shard_count();

	r->parts = calloc((size_t)n, sizeof(*r->parts));
	if (!r->parts)
		return -ENOMEM;
	r->origin = sd_self_id;
	r->pending = n;
	r->result = 0;
	for (int i = 0; i < n; i++) {
		r->parts[i].req = r;
		r->parts[i].msg.fn = part_start;
		r->parts[i].msg.arg = &r->parts[i];
		msg_send(i, &r->parts[i].msg);
	}
	return 0;
}
