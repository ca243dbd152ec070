/*
 * The gateway's request path (gw.h): placement on the shard's cluster view, writes through the
 * primary holder, reads from the nearest holder with fallback, retries across epoch changes.
 *
 * Where each step runs: the request starts on its gateway shard (the submitter's, or for the
 * control thread the object's owning shard), which keeps the retry timer and the dirty list.
 * The primary's work (range lock, local apply, fan-out) runs on the shard owning the object,
 * which is also where obj_io applies it, and answers back to the gateway shard by message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cluster/vdi_share.h"
#include "../core/list.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "../cluster/sdcluster/vdi_lease.h"
#include "gw.h"

/* The owning shard's locks over the objects it is primary for. */
static __thread struct range_lock rlock;

static void start(struct gw_req *r);

static bool is_write(const struct gw_req *r)
{
	return r->op != GW_READ && r->op != GW_PREFETCH && r->op != GW_CHECK;
}

static uint8_t obj_op(uint8_t op)
{
	static const uint8_t map[] = {
		[GW_READ] = OBJ_READ,	 [GW_WRITE] = OBJ_WRITE,   [GW_ZERO] = OBJ_ZERO,
		[GW_PUNCH] = OBJ_PUNCH,	 [GW_REMOVE] = OBJ_REMOVE, [GW_PREFETCH] = OBJ_PREFETCH,
		[GW_COPYUP] = OBJ_COPYUP
	};
	return map[op];
}

static uint8_t peer_op(uint8_t op)
{
	static const uint8_t map[] = { [GW_READ] = PEER_OP_READ,     [GW_WRITE] = PEER_OP_WRITE,
				       [GW_ZERO] = PEER_OP_ZERO,     [GW_PUNCH] = PEER_OP_PUNCH,
				       [GW_REMOVE] = PEER_OP_REMOVE, [GW_COPYUP] = PEER_OP_WRITE };
	return map[op];
}

void gw_node_name(const struct cluster_view *v, int node, char *buf, size_t len)
{
	char a[48];

	if (!v || node < 0 || node >= v->ring.nr_nodes) {
		snprintf(buf, len, "?");
		return;
	}
	node_addr_format(v->ring.nodes[node].nid.addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, v->ring.nodes[node].nid.port);
}

static void done_deferred(struct shard_defer *d)
{
	struct gw_req *r = container_of(d, struct gw_req, defer);

	r->done(r);
}

static void done_msg(void *arg)
{
	struct gw_req *r = arg;

	r->done(r);
}

static void finish(struct gw_req *r, int res)
{
	r->result = res;
	if (r->fan && r->fan != r->inline_fan)
		free(r->fan);
	r->fan = NULL;
	cluster_view_put(r->view);
	r->view = NULL;
	if (r->lease) {
		vdi_share_put(r->lease);
		r->lease = NULL;
	}
	if (sd_self_id == r->origin) {
		r->defer.fn = done_deferred;
		shard_defer(shard_self(), &r->defer);
	} else {
		r->msg.fn = done_msg;
		r->msg.arg = r;
		msg_send(r->origin, &r->msg);
	}
}

void gw_finish(struct gw_req *r, int res)
{
	finish(r, res);
}

static void fail(struct gw_req *r, int res, int node, const char *what)
{
	char n[64];

	if (!r->why[0]) {
		gw_node_name(r->view, node, n, sizeof(n));
		snprintf(r->why, sizeof(r->why), "object %016" PRIx64 " on %.48s: %.80s", r->oid, n,
			 what ? what : strerror(-res));
	}
	finish(r, res);
}

static void retry_fire(struct shard_timer *t)
{
	start(container_of(t, struct gw_req, retry));
}

/*
 * Placement changed under the request, or a holder was unreachable: try again with whatever
 * view the shard has a moment later (the control plane installs a new one after a failure).
 * Returns false when the request has retried long enough.
 */
static bool no_retries; /* sheep is stopping (gw_stop_retrying) */

void gw_stop_retrying(void)
{
	__atomic_store_n(&no_retries, true, __ATOMIC_RELEASE);
}

static bool retry_after(struct gw_req *r, int res, unsigned ms)
{
	if (r->from_peer || !peer_error_is_transient(res) ||
	    guard_clock_ms() - r->t0 >= GW_RETRY_MS ||
	    __atomic_load_n(&no_retries, __ATOMIC_ACQUIRE))
		return false;
	if (r->fan && r->fan != r->inline_fan)
		free(r->fan);
	r->fan = NULL;
	cluster_view_put(r->view);
	r->view = NULL;
	if (r->lease) {
		vdi_share_put(r->lease);
		r->lease = NULL;
	}
	r->retry.fn = retry_fire;
	shard_timer_start(&r->retry, ms);
	return true;
}

static bool retry_later(struct gw_req *r, int res)
{
	return retry_after(r, res, GW_RETRY_STEP_MS);
}

/* A failure the caller sees: epoch and transport codes become -EIO (why names the node). */
static void give_up(struct gw_req *r, int res, int node)
{
	if (r->from_peer) {
		finish(r, res);
		return;
	}
	if (res == -EHOSTDOWN) {
		fail(r, -EHOSTDOWN, node,
		     "IO has halted as there are not enough living nodes (no cluster leader for "
		     "the last 15 s)");
		return;
	}
	if (peer_error_is_transient(res)) {
		char what[80];

		snprintf(what, sizeof(what), "%s (retried for %d s)", strerror(-res),
			 GW_RETRY_MS / 1000);
		log_err("gateway: %s %016" PRIx64 " failed: %s",
			is_write(r) ? "write of" : "read of", r->oid, what);
		fail(r, -EIO, node, what);
		return;
	}
	fail(r, res, node, NULL);
}

/*
 * This node has heard no leader for a while: an election after a node died takes a second or
 * two, and the request waits it out; a node cut off from the majority fails its requests once
 * the retries are over (GW_RETRY_MS), with the original's words.
 */
static void halted(struct gw_req *r)
{
	if (r->from_peer || !retry_later(r, -EHOSTDOWN))
		give_up(r, -EHOSTDOWN, r->view ? r->view->self : -1);
}

static void fill_peer(struct gw_req *r, struct peer_req *p, int node, uint16_t flags,
		      void (*done)(struct peer_req *))
{
	const struct cluster_view *v = r->view;

	p->to = v->ring.nodes[node].nid;
	p->hdr = (struct peer_hdr){ .opcode = peer_op(r->op),
				    .flags = flags,
				    .cluster_id = v->cluster_id,
				    .epoch = v->epoch,
				    .sender = (uint32_t)v->self,
				    .oid = r->oid,
				    .offset = r->op == GW_REMOVE ? 0 : r->offset,
				    .length = r->op == GW_REMOVE ? 0 : r->length,
				    .shard = (uint16_t)shard_of_oid(r->oid, v->nr_shards[node]) };
	p->buf = r->buf;
	p->done = done;
	p->priv = r;
}

static uint16_t obj_flags(const struct gw_req *r)
{
	return (uint16_t)((r->flags & GW_F_CREATE ? OBJ_F_CREATE : 0) |
			  (r->flags & GW_F_SYNC ? OBJ_F_SYNC : 0) |
			  (r->flags & GW_F_FROZEN ? OBJ_F_FROZEN : 0));
}

static uint16_t wire_flags(const struct gw_req *r)
{
	return (uint16_t)((r->flags & GW_F_CREATE ? PEER_F_CREATE : 0) |
			  (r->flags & GW_F_SYNC ? PEER_F_SYNC : 0) |
			  (r->op == GW_COPYUP ? PEER_F_COPYUP : 0));
}

static int ok_result(const struct gw_req *r)
{
	return r->op == GW_READ || r->op == GW_WRITE ? (int)r->length : 0;
}

/* Writes: the outcome, on the gateway shard. */
static void write_done(struct gw_req *r, int res, int node)
{
	const struct cluster_view *v = r->view;

	if (res >= 0) {
		/* Every holder has it, buffered: the next FLUSH must reach each of them. */
		for (int i = 0; v && !(r->flags & GW_F_SYNC) && i < r->nr; i++)
			if (r->idx[i] != v->self)
				gw_dirty_mark(
					&v->ring.nodes[r->idx[i]].nid,
					(uint16_t)shard_of_oid(r->oid, v->nr_shards[r->idx[i]]));
		finish(r, ok_result(r));
		return;
	}
	if (!retry_later(r, res))
		give_up(r, res, node);
}

/* One holder, this node: obj_io directly, as a single node always did. */
static void direct_done(struct obj_req *o)
{
	struct gw_req *r = o->priv;

	r->created = o->created;
	if (r->op == GW_READ || r->op == GW_PREFETCH) {
		/* A pull that meets a source behind in epochs answers -EL2NSYNC: wait it out. */
		if (o->result >= 0)
			finish(r, ok_result(r));
		else if (!retry_later(r, o->result))
			give_up(r, o->result, r->view ? r->view->self : -1);
		return;
	}
	write_done(r, o->result, r->view ? r->view->self : -1);
}

/* This node's copy: the request as an object operation on the owning shard. */
static void submit_local(struct gw_req *r, void (*done)(struct obj_req *), uint16_t extra)
{
	r->obj = (struct obj_req){ .op = obj_op(r->op),
				   .flags = obj_flags(r) | extra,
				   .oid = r->oid,
				   .offset = r->offset,
				   .length = r->length,
				   .buf = r->buf,
				   .done = done,
				   .priv = r };
	obj_submit(&r->obj);
}

static void direct(struct gw_req *r)
{
	submit_local(r, direct_done, 0);
}

/* The primary: back on the gateway shard with the outcome of every holder. */
static void prim_back(void *arg)
{
	struct gw_req *r = arg;
	int res = r->err;

	if (!res && r->noent == r->nr)
		res = -ENOENT; /* PUNCH or REMOVE of an object no holder has */
	write_done(r, res, r->err_node);
}

static void prim_to_gateway(struct gw_req *r)
{
	/* The owning shard is often the gateway's own: no message, no extra loop pass. */
	if (r->gw_shard == sd_self_id) {
		prim_back(r);
		return;
	}
	r->msg.fn = prim_back;
	r->msg.arg = r;
	msg_send(r->gw_shard, &r->msg);
}

static void prim_repair(struct gw_req *r);

static void prim_one(struct gw_req *r, int res, int node)
{
	/* A PUNCH or REMOVE where a holder has no copy: nothing to do there. */
	if (res == -ENOENT && (r->op == GW_PUNCH || r->op == GW_REMOVE)) {
		r->noent++;
		res = 0;
	}
	for (int i = 0; i < r->nr && !r->repairing; i++) {
		if (r->idx[i] != node)
			continue;
		if (res >= 0)
			r->ok_mask |= 1u << i;
		else if (res == -EROFS)
			r->rofs_mask |= 1u << i;
	}
	if (r->repairing) {
		if (res < 0)
			log_warn("gateway: object %016" PRIx64
				 " of a snapshot keeps unequal copies "
				 "(a write raced the snapshot and a holder could not take it: %s); "
				 "'dog vdi check' makes them equal",
				 r->oid, strerror(-res));
		res = 0; /* the outcome stays the first one, EROFS */
	}
	if (res < 0 && !r->err) {
		char n[64];

		gw_node_name(r->view, node, n, sizeof(n));
		/* EROFS: a snapshot froze it meanwhile; the writer moves on (nbd_cmd.c). */
		if (res != -ESTALE && res != -EL2NSYNC && res != -EROFS)
			log_warn("gateway: write of object %016" PRIx64 " on holder %s failed: %s",
				 r->oid, n, strerror(-res));
		r->err = res;
		r->err_node = node;
	}
	if (--r->pending)
		return;
	if (r->err == -EROFS && r->ok_mask && r->rofs_mask && !r->repairing) {
		prim_repair(r);
		return;
	}
	rl_release(&rlock, &r->lock);
	if (r->lease)
		__atomic_sub_fetch(&r->lease->seq_inflight, 1, __ATOMIC_SEQ_CST);
	prim_to_gateway(r);
}

static void prim_local_done(struct obj_req *o)
{
	struct gw_req *r = o->priv;

	prim_one(r, o->result, r->view->self);
}

static void prim_peer_done(struct peer_req *p)
{
	struct gw_req *r = p->priv;
	const struct cluster_view *v = r->view;
	int node = -1;

	for (int i = 0; i < r->nr; i++)
		if (!node_id_cmp(&v->ring.nodes[r->idx[i]].nid, &p->to))
			node = r->idx[i];
	prim_one(r, p->result, node);
}

/*
 * A write that some holders took and others refused because their node froze the object's VDI
 * for a snapshot first: the snapshot's copies would differ. The write was in flight when the
 * snapshot was taken, so it may belong to it: the refusing holders take it too, as a repair
 * (which a freeze lets through), before the writer hears EROFS and writes again to the new
 * working VDI. The range stays locked meanwhile.
 */
static void prim_repair(struct gw_req *r)
{
	const struct cluster_view *v = r->view;
	int k = 0, n = 0;

	r->repairing = true;
	for (int i = 0; i < r->nr; i++)
		n += (r->rofs_mask >> i) & 1;
	r->pending = n;
	for (int i = 0; i < r->nr; i++) {
		if (!((r->rofs_mask >> i) & 1))
			continue;
		if (r->idx[i] == v->self) {
			submit_local(r, prim_local_done, OBJ_F_REPAIR);
			continue;
		}
		fill_peer(r, &r->fan[k], r->idx[i], wire_flags(r) | PEER_F_REPAIR, prim_peer_done);
		peer_submit(&r->fan[k++]);
	}
}

/* Granted the range: apply here and forward to the other holders, all at once. */
static void prim_apply(struct gw_req *r)
{
	const struct cluster_view *v = r->view;
	int k = 0, remote = 0;

	r->ok_mask = r->rofs_mask = 0;
	r->repairing = false;

	/* The lease holder orders writes to objects it may not hold: then every copy is remote. */
	for (int i = 0; i < r->nr; i++)
		remote += r->idx[i] != v->self;
	r->pending = r->nr;
	r->err = 0;
	r->noent = 0;
	r->fan = remote <= GW_INLINE_FANOUT ? r->inline_fan
					    : calloc((size_t)remote, sizeof(*r->fan));
	if (!r->fan) {
		r->pending = 1;
		prim_one(r, -ENOMEM, v->self);
		return;
	}
	/* The other holders first, on their way before this node's copy blocks the shard. */
	for (int i = 0; i < r->nr; i++) {
		if (r->idx[i] != v->self) {
			struct peer_req *p = &r->fan[k++];

			fill_peer(r, p, r->idx[i], wire_flags(r), prim_peer_done);
			peer_submit(p);
		}
	}
	if (remote < r->nr) {
		if (remote)
			shard_submit_now(shard_self());
		submit_local(r, prim_local_done, 0);
	}
}

static void prim_granted(struct rl_entry *e)
{
	prim_apply(container_of(e, struct gw_req, lock));
}

/* Back to the gateway shard, unordered: the lease is being given back (vdi_lease.h). */
static void prim_refuse(struct gw_req *r)
{
	r->err = -ESTALE;
	r->err_node = r->view->self;
	r->noent = 0;
	prim_to_gateway(r);
}

/* On the shard owning the object: wait for overlapping writes ahead of this one. */
static void prim_start(void *arg)
{
	struct gw_req *r = arg;

	if (r->lease) {
		uint64_t now = guard_clock_ms();

		/*
		 * In, then look: the control thread sets releasing, then looks at the count. The
		 * lease may also have gone while this request travelled from the gateway shard
		 * (given back and taken by another node): the holder is looked at again, after the
		 * count, since a release stores the new holder before it clears releasing.
		 */
		__atomic_add_fetch(&r->lease->seq_inflight, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&r->lease->releasing, __ATOMIC_SEQ_CST) ||
		    __atomic_load_n(&r->lease->writer, __ATOMIC_SEQ_CST) !=
			    r->view->raft_ids[r->view->self] ||
		    vdi_share_deleted(r->lease)) {
			__atomic_sub_fetch(&r->lease->seq_inflight, 1, __ATOMIC_SEQ_CST);
			prim_refuse(r);
			return;
		}
		/* Only this node's own clients keep the lease here: forwarders may take it over. */
		if (!r->from_peer &&
		    now - __atomic_load_n(&r->lease->seq_last_ms, __ATOMIC_RELAXED) >= 100)
			__atomic_store_n(&r->lease->seq_last_ms, now, __ATOMIC_RELAXED);
	}

	r->lock = (struct rl_entry){ .oid = r->oid,
				     .start = r->op == GW_REMOVE ? 0 : r->offset,
				     .end = r->op == GW_REMOVE ? UINT64_MAX : r->offset + r->length,
				     .grant = prim_granted };
	if (rl_acquire(&rlock, &r->lock))
		prim_apply(r);
}

static void fwd_done(struct peer_req *p)
{
	struct gw_req *r = p->priv;

	write_done(r, p->result, r->seq_node);
}

/* This node orders the write: on the shard that owns the object here. */
static void order_here(struct gw_req *r)
{
	int owner = shard_of_oid(r->oid, shard_count());

	if (owner == sd_self_id) {
		prim_start(r);
		return;
	}
	r->msg.fn = prim_start;
	r->msg.arg = r;
	msg_send(owner, &r->msg);
}

static void forward(struct gw_req *r, int node)
{
	r->seq_node = node;
	fill_peer(r, &r->peer, node, wire_flags(r) | PEER_F_FORWARD, fwd_done);
	peer_submit(&r->peer);
}

/*
 * A data object with several holders in sdcluster: ordered by the holder of its VDI's write
 * lease; this node asks for the lease when nobody holds it, and tries again in a moment.
 */
static void do_write_leased(struct gw_req *r)
{
	const struct cluster_view *v = r->view;
	struct vdi_share *sh = export_table_find_vid(export_table_current(), oid_to_vid(r->oid));
	uint64_t w = sh ? __atomic_load_n(&sh->writer, __ATOMIC_SEQ_CST) : 0;

	if (!sh) {
		/* Not known here yet (its creation not applied), or deleted. */
		if (!retry_later(r, -EL2NSYNC))
			give_up(r, -EL2NSYNC, v->self);
		return;
	}
	if (sh->read_only) {
		/* A snapshot now: the writer moves to the new working VDI (obj_fence.h). */
		fail(r, -EROFS, v->self, "the VDI is a snapshot now");
		return;
	}
	if (w && w == v->raft_ids[v->self]) {
		vdi_share_get(sh);
		r->lease = sh;
		order_here(r);
		return;
	}
	if (r->from_peer) {
		fail(r, -ESTALE, v->self, "this node does not hold the VDI's write lease");
		return;
	}
	for (int i = 0; w && i < v->ring.nr_nodes; i++) {
		if (v->raft_ids[i] == w) {
			forward(r, i);
			return;
		}
	}
	vdi_lease_want(sh);
	if (!retry_after(r, -EL2NSYNC, GW_LEASE_STEP_MS))
		give_up(r, -EL2NSYNC, v->self);
}

static void do_write(struct gw_req *r)
{
	const struct cluster_view *v = r->view;

	if (!v->writable) {
		halted(r);
		return;
	}
	if (r->nr == 1 && r->idx[0] == v->self) {
		direct(r);
	} else if (r->nr > 1 && v->raft_ids && oid_is_data(r->oid)) {
		do_write_leased(r);
	} else if (r->idx[0] == v->self) {
		order_here(r);
	} else if (r->from_peer) {
		fail(r, -ESTALE, v->self, "this node is not the object's primary");
	} else {
		forward(r, r->idx[0]);
	}
}

/* Reads: this node's copy first, then the others in placement order. */
static void read_next(struct gw_req *r);

static void read_one(struct gw_req *r, int res, int node)
{
	if (res >= 0) {
		finish(r, ok_result(r));
		return;
	}
	if (res == -ENOENT) {
		r->noent++;
	} else {
		char n[64];

		gw_node_name(r->view, node, n, sizeof(n));
		if (!peer_error_is_transient(res) || r->next < r->nr)
			log_warn("gateway: read of object %016" PRIx64 " from %s failed: %s%s",
				 r->oid, n, strerror(-res),
				 r->next < r->nr ? "; trying another holder" : "");
		if (!r->err || peer_error_is_transient(r->err)) {
			r->err = res;
			r->err_node = node;
		}
	}
	read_next(r);
}

static void read_local_done(struct obj_req *o)
{
	struct gw_req *r = o->priv;

	read_one(r, o->result, r->view->self);
}

static void read_peer_done(struct peer_req *p)
{
	struct gw_req *r = p->priv;

	read_one(r, p->result, r->idx[r->next - 1]);
}

static void read_next(struct gw_req *r)
{
	const struct cluster_view *v = r->view;
	int node;

	if (r->next == r->nr) {
		/*
		 * A holder of this epoch that answers "no object" has every acknowledged write of
		 * it (epoch rules, docs/cluster-design.md): the others' failures change nothing.
		 */
		if (r->noent)
			finish(r, -ENOENT);
		else if (!retry_later(r, r->err))
			give_up(r, r->err, r->err_node);
		return;
	}
	node = r->idx[r->next++];
	if (node == v->self) {
		r->obj = (struct obj_req){ .op = OBJ_READ,
					   .flags = r->flags & GW_F_FROZEN ? OBJ_F_FROZEN : 0,
					   .oid = r->oid,
					   .offset = r->offset,
					   .length = r->length,
					   .buf = r->buf,
					   .done = read_local_done,
					   .priv = r };
		obj_submit(&r->obj);
	} else {
		fill_peer(r, &r->peer, node, r->flags & GW_F_FROZEN ? PEER_F_FROZEN : 0,
			  read_peer_done);
		peer_submit(&r->peer);
	}
}

static uint8_t copies_of(const struct gw_req *r)
{
	if (r->from_peer) {
		struct vdi_share *sh =
			export_table_find_vid(export_table_current(), oid_to_vid(r->oid));

		return sh ? sh->copies : 0;
	}
	return r->copies ? r->copies : 1;
}

static void start(struct gw_req *r)
{
	struct cluster_view *v = cluster_view_current();
	int copies;

	if (!v) {
		/* No view (an in-process test node): this node alone, as before the cluster. */
		direct(r);
		return;
	}
	cluster_view_get(v);
	r->view = v;
	if (r->flags & GW_F_ONE_EPOCH) {
		if (!r->epoch0)
			r->epoch0 = v->epoch;
		if (v->epoch != r->epoch0) {
			finish(r, -ESTALE); /* its content may be outdated in the new epoch */
			return;
		}
	}
	if (r->from_peer && v->epoch != r->peer_epoch) {
		finish(r, v->epoch > r->peer_epoch ? -ESTALE : -EL2NSYNC);
		return;
	}
	if (!v->epoch || v->self < 0) {
		fail(r, -EIO, -1, "this node is not a member of a formatted cluster");
		return;
	}
	if (r->from_peer && !v->ready && is_write(r)) {
		/* Catching up: its state (a write lease, say) may be an old one. */
		finish(r, -EL2NSYNC);
		return;
	}
	if (!r->from_peer && !v->ready) {
		/* Catching up with the cluster: asked again in a moment. */
		if (!retry_later(r, -EL2NSYNC))
			give_up(r, -EL2NSYNC, v->self);
		return;
	}
	/* Cut off: even reads, for this node's copies may miss what the majority wrote since. */
	if (!r->from_peer && !v->writable) {
		halted(r);
		return;
	}
	copies = copies_of(r);
	if (!copies) {
		/* The VDI is not known here yet (a creation not applied): the gateway retries. */
		finish(r, -EL2NSYNC);
		return;
	}
	r->nr = ring_place(&v->ring, r->oid, copies, r->idx);
	if (!r->nr) {
		fail(r, -EIO, -1, "no node of the cluster stores data");
		return;
	}
	r->next = r->noent = r->err = 0;
	r->err_node = -1;
	switch (r->op) {
	case GW_READ:
		/* This node's copy first: move it to the front, the others keep their order. */
		for (int i = 1; i < r->nr; i++) {
			if (r->idx[i] == v->self) {
				memmove(r->idx + 1, r->idx, sizeof(int) * (size_t)i);
				r->idx[0] = v->self;
				break;
			}
		}
		read_next(r);
		break;
	case GW_CHECK:
		gw_check_start(r);
		break;
	case GW_PREFETCH:
		for (int i = 0; i < r->nr; i++) {
			if (r->idx[i] == v->self) {
				direct(r);
				return;
			}
		}
		finish(r, 0);
		break;
	default:
		do_write(r);
	}
}

static void start_msg(void *arg)
{
	start(arg);
}

static void init(struct gw_req *r)
{
	r->origin = sd_self_id;
	r->view = NULL;
	r->fan = NULL;
	r->why[0] = '\0';
	r->created = false;
	r->result = 0;
	r->defer.queued = false;
	r->retry.armed = false;
	r->lease = NULL;
	r->epoch0 = 0;
	r->t0 = guard_clock_ms();
}

void gw_submit(struct gw_req *r)
{
	if (r->cow_from && gw_cow_needed(r)) {
		gw_cow_submit(r);
		return;
	}
	init(r);
	r->from_peer = false;
	if (shard_self()) {
		r->gw_shard = sd_self_id;
		start(r);
		return;
	}
	/* The control thread has no ring: the object's owning shard is its gateway. */
	r->gw_shard = shard_of_oid(r->oid, shard_count());
	r->msg.fn = start_msg;
	r->msg.arg = r;
	msg_send(r->gw_shard, &r->msg);
}

void gw_submit_primary(struct gw_req *r, uint32_t req_epoch)
{
	init(r);
	r->from_peer = true;
	r->peer_epoch = req_epoch;
	r->gw_shard = sd_self_id;
	start(r);
}

struct exec_batch {
	int pending;
	bool done;
};

static void exec_one_done(struct gw_req *r)
{
	struct exec_batch *b = r->priv;

	if (--b->pending == 0)
		b->done = true;
}

void gw_exec_batch(struct gw_req *reqs, int n)
{
	struct exec_batch b = { .pending = n, .done = n == 0 };

	for (int i = 0; i < n; i++) {
		reqs[i].done = exec_one_done;
		reqs[i].priv = &b;
		gw_submit(&reqs[i]);
	}
	/* Not msg_wait_until: peers' new connections must be accepted meanwhile (peer.h). */
	for (unsigned idle = 0; !b.done;) {
		if (msg_poll(64)) {
			idle = 0;
			continue;
		}
		if (++idle % 64 == 0) {
			ctl_accept_peers_during_wait();
			usleep(idle > 4096 ? 200 : 10);
		}
	}
}
