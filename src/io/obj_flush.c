/* The flush barrier over all shards, with group commit per shard. */
#include "obj_flush.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../shard/shard.h"
#include "fd_cache.h"

/* One shard's share of a flush request. */
struct obj_flush_part {
	struct sd_msg msg;
	struct obj_flush_req *req;
	int result;
	struct obj_flush_part *next; /* on the shard's waiting or running list */
};

/* One fdatasync of a round. */
struct sync_op {
	struct uop uop;
	struct fd_entry *e;
};

/* Per shard: the parts whose round is running, those waiting for the next, the syncs left. */
struct flush_state {
	struct obj_flush_part *running, *waiting;
	int syncs_left, round_result;
};

static __thread struct flush_state fs;

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

	if (res < 0) {
		/* Keep it dirty: the next flush tries again; this one reports the error. */
		so->e->dirty = true;
		if (!fs.round_result)
			fs.round_result = res;
		log_err("shard %d: fdatasync of object %016lx failed: %s", s->id,
			(unsigned long)so->e->oid, strerror(-res));
	}
	fd_cache_put(s->fdc, so->e);
	free(so);
	if (--fs.syncs_left == 0)
		end_round(s);
}

static void sync_one(struct fd_entry *e, void *arg)
{
	struct shard *s = arg;
	struct sync_op *so = malloc(sizeof(*so));
	struct io_uring_sqe *sqe;

	if (!so) {
		if (!fs.round_result)
			fs.round_result = -ENOMEM;
		return;
	}
	e->dirty = false;
	e->refs++;
	so->e = e;
	so->uop.cb = sync_done;
	sqe = shard_get_sqe(s);
	io_uring_prep_fsync(sqe, e->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, &so->uop);
	fs.syncs_left++;
}

static void start_round(struct shard *s)
{
	fs.running = fs.waiting;
	fs.waiting = NULL;
	fs.round_result = 0;
	/* Counts one extra so that a round with no dirty files ends here, not in sync_one. */
	fs.syncs_left = 1;
	fd_cache_for_each_dirty(s->fdc, sync_one, s);
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
