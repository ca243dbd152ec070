/*
 * FLUSH without a cluster-wide round trip (docs/cluster-design.md): each shard remembers the
 * (node, shard) pairs its gateway has written to since their last flush, and a FLUSH sends
 * PEER_OP_FLUSH to those only, from every shard of this node (a client's writes may have gone
 * through any of them: NBD's multi-conn promise), alongside the local obj_flush barrier.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/list.h"
#include "../core/log.h"
#include "../shard/shard_all.h"
#include "gw.h"

struct dirty {
	struct sd_node_id nid;
	uint64_t shards; /* bit s: shard s of that node (SD_MAX_SHARDS <= 64) */
};

static __thread struct dirty *dirty;
static __thread int nr_dirty, cap_dirty;

void gw_dirty_mark(const struct sd_node_id *nid, uint16_t shard)
{
	for (int i = 0; i < nr_dirty; i++) {
		if (!node_id_cmp(&dirty[i].nid, nid)) {
			dirty[i].shards |= UINT64_C(1) << (shard & 63);
			return;
		}
	}
	if (nr_dirty == cap_dirty) {
		int cap = cap_dirty ? cap_dirty * 2 : 8;
		struct dirty *d = realloc(dirty, sizeof(*d) * (size_t)cap);

		if (!d) {
			/* Cannot remember it: it gets flushed by the holder's own writeback only.
			 */
			log_err("out of memory tracking unflushed writes; a FLUSH may miss a "
				"holder");
			return;
		}
		dirty = d;
		cap_dirty = cap;
	}
	dirty[nr_dirty].nid = *nid;
	dirty[nr_dirty].shards = UINT64_C(1) << (shard & 63);
	nr_dirty++;
}

/* One peer flush, tried again while its node is still a member (it may be dying or slow). */
struct flush_try {
	struct peer_req req;
	struct shard_timer timer;
	struct gw_flush_part *part;
	uint64_t t0;
};

struct gw_flush_part {
	struct gw_flush_req *f;
	struct sd_msg msg, reply;
	struct flush_try *reqs;
	int nr, pending, result;
};

static void finish_one(struct gw_flush_req *f, int result)
{
	if (result && !f->result)
		f->result = result;
	if (--f->pending)
		return;
	free(f->parts);
	f->parts = NULL;
	f->done(f);
}

static void part_reply(void *arg)
{
	struct gw_flush_part *p = arg;

	finish_one(p->f, p->result);
}

static void part_end(struct gw_flush_part *p)
{
	free(p->reqs);
	p->reqs = NULL;
	p->reply.fn = part_reply;
	p->reply.arg = p;
	msg_send(p->f->origin, &p->reply);
}

/* Whether nid is a member of the shard's current view: a node that left holds nothing now. */
static bool still_member(const struct cluster_view *v, const struct sd_node_id *nid)
{
	for (int i = 0; v && i < v->ring.nr_nodes; i++)
		if (!node_id_cmp(&v->ring.nodes[i].nid, nid))
			return true;
	return false;
}

static void peer_flush_done(struct peer_req *r);

static void flush_retry(struct shard_timer *t)
{
	struct flush_try *ft = container_of(t, struct flush_try, timer);
	const struct cluster_view *v = cluster_view_current();

	if (!still_member(v, &ft->req.to)) {
		ft->req.result = 0; /* it left: its copies no longer count */
		peer_flush_done(&ft->req);
		return;
	}
	ft->req.hdr.epoch = v->epoch;
	ft->req.hdr.cluster_id = v->cluster_id;
	ft->req.hdr.sender = (uint32_t)v->self;
	peer_submit(&ft->req);
}

static void peer_flush_done(struct peer_req *r)
{
	struct flush_try *ft = container_of(r, struct flush_try, req);
	struct gw_flush_part *p = r->priv;

	/*
	 * A holder that failed, or is on another epoch, is asked again until it answers or leaves
	 * the cluster (its writes then live on the holders that remain, which this flush covers).
	 */
	if (r->result < 0 && guard_clock_ms() - ft->t0 < GW_RETRY_MS &&
	    still_member(cluster_view_current(), &r->to)) {
		ft->timer.fn = flush_retry;
		shard_timer_start(&ft->timer, GW_RETRY_STEP_MS);
		return;
	}
	if (r->result < 0 && !still_member(cluster_view_current(), &r->to))
		r->result = 0;
	if (r->result < 0) {
		/* Still unflushed there: the next FLUSH tries again. */
		gw_dirty_mark(&r->to, r->hdr.shard);
		if (!p->result)
			p->result = r->result == -ENOENT ? -EIO : r->result;
		log_err("flush on a peer failed: %s", strerror(-r->result));
	}
	if (--p->pending == 0)
		part_end(p);
}

/* On each shard: a flush to every pair it has written to, then the answer. */
static void part_run(void *arg)
{
	struct gw_flush_part *p = arg;
	struct cluster_view *v = cluster_view_current();
	int n = 0, k = 0;

	for (int i = 0; i < nr_dirty; i++)
		n += __builtin_popcountll(dirty[i].shards);
	if (!n || !v || v->self < 0) {
		part_end(p);
		return;
	}
	p->reqs = calloc((size_t)n, sizeof(*p->reqs));
	if (!p->reqs) {
		p->result = -ENOMEM;
		part_end(p);
		return;
	}
	p->pending = n;
	for (int i = 0; i < nr_dirty; i++) {
		for (int s = 0; s < 64; s++) {
			struct peer_req *r;

			if (!(dirty[i].shards & (UINT64_C(1) << s)))
				continue;
			p->reqs[k].part = p;
			p->reqs[k].t0 = guard_clock_ms();
			r = &p->reqs[k++].req;
			r->to = dirty[i].nid;
			r->hdr = (struct peer_hdr){ .opcode = PEER_OP_FLUSH,
						    .cluster_id = v->cluster_id,
						    .epoch = v->epoch,
						    .sender = (uint32_t)v->self,
						    .shard = (uint16_t)s };
			r->done = peer_flush_done;
			r->priv = p;
		}
	}
	/* The list is taken whole: writes acknowledged from now on wait for the next FLUSH. */
	nr_dirty = 0;
	for (int i = 0; i < n; i++)
		peer_submit(&p->reqs[i].req);
}

static void local_done(struct obj_flush_req *l)
{
	struct gw_flush_req *f = container_of(l, struct gw_flush_req, local);

	finish_one(f, l->result);
}

int gw_flush_submit(struct gw_flush_req *f)
{
	const struct cluster_view *v =
		shard_self() ? cluster_view_current() : cluster_view_latest();
	/* A lone node has written to no other: the local barrier is the whole flush. */
	int n = v && v->ring.nr_nodes > 1 ? shard_count() : 0;

	f->origin = sd_self_id;
	f->result = 0;
	f->parts = calloc((size_t)n + 1, sizeof(*f->parts));
	if (!f->parts)
		return -ENOMEM;
	f->local = (struct obj_flush_req){ .done = local_done };
	/* Counted before the first message: the answers may come back at once. */
	f->pending = n + 1;
	if (obj_flush_submit(&f->local)) {
		free(f->parts);
		f->parts = NULL;
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		f->parts[i] = (struct gw_flush_part){ .f = f };
		f->parts[i].msg.fn = part_run;
		f->parts[i].msg.arg = &f->parts[i];
		msg_send(i, &f->parts[i].msg);
	}
	return 0;
}

static void retire_shard(void *arg)
{
	int left = peer_conns_close_all() + peer_client_shutdown();

	free(dirty);
	dirty = NULL;
	nr_dirty = cap_dirty = 0;
	__atomic_add_fetch((int *)arg, left, __ATOMIC_RELAXED);
}

void gw_retire(void)
{
	int left = 0;

	/* Connections end once the ring has returned their operations: a few passes. */
	for (int waited = 0; waited < 2000; waited += 10) {
		left = 0;
		shard_run_on_all(retire_shard, &left);
		if (!left)
			break;
		usleep(10000);
	}
	if (left)
		log_warn("%d peer connections still busy at shut-down", left);
	cluster_view_retire();
}
