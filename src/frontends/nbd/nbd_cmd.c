/*
 * NBD commands: each request is cut at object boundaries (gw_split.h), and every piece goes
 * through the gateway (gw.h), which places it on the cluster's holders and answers back here.
 * The published map of the VDI (vdi_share.h) says which objects exist:
 *
 * - on a single node, an unallocated object reads as zeros without any I/O; in a cluster it is
 *   still asked for (another node's allocation may not be applied here yet) and reads as zeros
 *   when no holder has it. An allocated object that no holder has is an error, never zeros;
 * - an object the VDI shares with a snapshot or a parent (its entry names another VDI) is read
 *   from that VDI's object; in a cluster the VDI's own object is asked for first, as another
 *   node may have copied it up already. The first write to it copies it up (gw_cow.c), in a
 *   cluster only after this node has caught up with the cluster's log, so the entry it acts on
 *   is not an old one;
 * - a write that lands in an object the map does not have yet is acknowledged only after the
 *   control thread has recorded it durably (vdi_mapq.h), so no restart can sweep it away;
 * - TRIM and WRITE_ZEROES free whole objects through the control thread (clearing the map
 *   first) and punch holes in partial ones, shared ones after a copy-up;
 * - a write that finds its VDI snapshotted meanwhile (-EROFS: the snapshot's objects are
 *   frozen) runs again, whole, on the new working VDI, which the connection follows;
 * - FLUSH is the barrier of obj_flush.h over every shard.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cluster/sdcluster/sdcluster.h"
#include "../../cluster/vdi_share.h"
#include "../../core/byteorder.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/oid.h"
#include "../../gateway/gw.h"
#include "../../shard/buf_pool.h"
#include "nbd_conn.h"

#define BUF_POOL_MAX (1u << BUF_POOL_MAX_SHIFT)

uint32_t nbd_request_charge(const struct nbd_request *rq, int wire, uint8_t obj_shift)
{
	uint64_t charge = sizeof(struct nbd_cmd), objs;

	if (wire || !rq->length)
		return (uint32_t)charge;
	if (rq->type == NBD_CMD_READ || rq->type == NBD_CMD_WRITE)
		charge += rq->length; /* at most NBD_MAX_PAYLOAD: validated */
	else if (rq->type == NBD_CMD_BLOCK_STATUS)
		charge += NBD_MAX_EXTENTS * 8;
	/* A CACHE, TRIM or WRITE_ZEROES over 4 GiB is one piece per object: 1024 of them. */
	objs = gw_split_count(rq->offset, rq->length, obj_shift);
	if (objs > NBD_CMD_INLINE_PIECES)
		charge += objs * sizeof(struct gw_req);
	return (uint32_t)charge;
}

void *nbd_payload_alloc(uint32_t len)
{
	if (!len)
		return NULL;
	if (len <= BUF_POOL_MAX)
		return buf_get(len);
	return aligned_alloc(4096, ((size_t)len + 4095) & ~(size_t)4095);
}

void nbd_payload_free(void *p, uint32_t len)
{
	if (!p)
		return;
	if (len <= BUF_POOL_MAX)
		buf_put(p, len);
	else
		free(p);
}

static void fail(struct nbd_cmd *cmd, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error of a command and its explanation for the client. */
static void fail(struct nbd_cmd *cmd, int err, const char *fmt, ...)
{
	va_list ap;

	if (cmd->error)
		return;
	cmd->error = err;
	va_start(ap, fmt);
	vsnprintf(cmd->why, sizeof(cmd->why), fmt, ap);
	va_end(ap);
}

/* More than one member: objects may be on other nodes, whatever this node's map says. */
static bool clustered(void)
{
	const struct cluster_view *v = cluster_view_current();

	return v && v->ring.nr_nodes > 1;
}

static struct vdi_share *share_of(const struct nbd_cmd *cmd)
{
	return cmd->share ? cmd->share : cmd->c->share;
}

/* How long a write waits for the working VDI a snapshot made: the cluster's retry time. */
#define NBD_MOVE_STEP_MS 5
#define NBD_MOVE_TRIES	 (GW_RETRY_MS / NBD_MOVE_STEP_MS)

static void restart_fire(struct shard_timer *t)
{
	struct nbd_cmd *cmd = container_of(t, struct nbd_cmd, retry);

	nbd_cmd_execute(cmd);
}

/*
 * The command's VDI became a snapshot while it ran: it runs again, whole, on the new working
 * VDI (a write is idempotent). This node may not have applied the snapshot yet (another holder
 * froze the objects first): it waits for it a moment at a time.
 */
static void restart_moved(struct nbd_cmd *cmd)
{
	struct nbd_conn *c = cmd->c;

	if (cmd->pieces != cmd->inline_pieces)
		free(cmd->pieces);
	cmd->pieces = cmd->inline_pieces;
	cmd->nr_pieces = 0;
	cmd->error = 0;
	cmd->why[0] = '\0';
	cmd->moved = cmd->synced = cmd->cow_punched = false;
	nbd_conn_follow(c);
	if (c->share != cmd->share) {
		vdi_share_put(cmd->share);
		cmd->share = NULL; /* nbd_cmd_execute takes the connection's */
		nbd_cmd_execute(cmd);
		return;
	}
	if (++cmd->moves > NBD_MOVE_TRIES) {
		fail(cmd, -EIO,
		     "VDI %s became a snapshot and its new working VDI is not known here",
		     share_of(cmd)->name);
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->retry.fn = restart_fire;
	shard_timer_start(&cmd->retry, NBD_MOVE_STEP_MS);
}

/* A write's outcome -EROFS on a VDI that was writable: a snapshot froze it meanwhile. */
static bool snapshotted(struct nbd_cmd *cmd, int res)
{
	if (res != -EROFS || share_of(cmd)->read_only)
		return false;
	cmd->moved = true;
	return true;
}

static void sync_back(void *arg)
{
	nbd_cmd_execute(arg);
}

static void sync_done(void *arg, bool caught_up)
{
	struct nbd_cmd *cmd = arg;

	(void)caught_up; /* without a leader, what this node knows has to do */
	cmd->sync_msg.fn = sync_back;
	cmd->sync_msg.arg = cmd;
	msg_send(cmd->c->shard_id, &cmd->sync_msg);
}

static void sync_on_control(void *arg)
{
	sdcluster_sync(sync_done, arg);
}

/*
 * Before a copy-up in a cluster: this node catches up with the cluster's log, then the command
 * starts again with the map as the cluster has it. Returns true if the command waits for that.
 */
static bool sync_before_cow(struct nbd_cmd *cmd)
{
	if (cmd->synced || !clustered())
		return false;
	cmd->synced = true;
	cmd->sync_msg.fn = sync_on_control;
	cmd->sync_msg.arg = cmd;
	msg_send(msg_mesh_size() - 1, &cmd->sync_msg); /* the control thread follows the shards */
	return true;
}

static uint32_t nr_objs(const struct nbd_cmd *cmd)
{
	return gw_split_count(cmd->req.offset, cmd->req.length, share_of(cmd)->obj_shift);
}

static void piece_of(const struct nbd_cmd *cmd, uint32_t i, struct gw_piece *p)
{
	gw_split_piece(cmd->req.offset, cmd->req.length, share_of(cmd)->obj_shift, i, p);
}

static int pieces_reserve(struct nbd_cmd *cmd, uint32_t n)
{
	cmd->nr_pieces = 0;
	if (n <= NBD_CMD_INLINE_PIECES)
		return 0;
	cmd->pieces = calloc(n, sizeof(*cmd->pieces));
	if (!cmd->pieces) {
		cmd->pieces = cmd->inline_pieces;
		fail(cmd, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static struct gw_req *add_piece(struct nbd_cmd *cmd, uint8_t op, uint8_t flags, uint64_t oid,
				uint64_t in_obj, uint32_t len, void *buf)
{
	struct gw_req *p = &cmd->pieces[cmd->nr_pieces++];

	*p = (struct gw_req){ .op = op,
			      .flags = flags,
			      .copies = share_of(cmd)->copies,
			      .obj_shift = share_of(cmd)->obj_shift,
			      .oid = oid,
			      .offset = in_obj,
			      .length = len,
			      .buf = buf,
			      .priv = cmd };
	return p;
}

static void submit_pieces(struct nbd_cmd *cmd, void (*done)(struct gw_req *))
{
	int n = cmd->nr_pieces;

	/* Set before the first submit: completions never run inline, but count them all first. */
	cmd->pending = n;
	for (int i = 0; i < n; i++) {
		cmd->pieces[i].done = done;
		gw_submit(&cmd->pieces[i]);
	}
}

static void piece_error(struct nbd_cmd *cmd, const struct gw_req *p)
{
	struct vdi_share *sh = share_of(cmd);

	if (p->result == -ENODEV) {
		/* obj_fence.h: the VDI was deleted while this request was in flight. */
		fail(cmd, -EIO, "VDI %s has been deleted", sh->name);
	} else if (p->result == -ENOENT) {
		log_err("VDI %s: object %016" PRIx64 " is allocated but missing; its data is lost "
			"(check the disk under the data directory)",
			sh->name, p->oid);
		fail(cmd, -EIO, "object %016" PRIx64 " of VDI %s is missing", p->oid, sh->name);
	} else if (p->result == -EHOSTDOWN) {
		fail(cmd, -EIO, "IO has halted as there are not enough living nodes");
	} else {
		log_err("VDI %s: I/O on object %016" PRIx64 " failed: %s", sh->name, p->oid,
			p->why[0] ? p->why : strerror(-p->result));
		fail(cmd, p->result, "%s", p->why[0] ? p->why : strerror(-p->result));
	}
}

/* READ */

static void read_piece_done(struct gw_req *p)
{
	struct nbd_cmd *cmd = p->priv;
	struct vdi_share *sh = share_of(cmd);

	/* Not copied up (no holder has the VDI's own object): the parent's has the content. */
	if (p->result == -ENOENT && p->cow_from) {
		p->oid = vid_to_data_oid(p->cow_from, oid_to_idx(p->oid));
		p->cow_from = 0;
		gw_submit(p);
		return;
	}
	/* No holder has it and the map here does not name it: not written yet, zeros. */
	if (p->result == -ENOENT && vdi_share_entry(sh, oid_to_idx(p->oid)) == 0)
		memset(p->buf, 0, p->length);
	else if (p->result < 0)
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

static void do_read(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint32_t n = nr_objs(cmd);
	bool any_data = false, cluster = clustered();
	struct gw_piece pc;

	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		piece_of(cmd, i, &pc);
		any_data |= vdi_share_entry(sh, pc.idx) != 0;
	}
	/* Nothing allocated on a lone node: a structured reply says "hole" instead of zeros. */
	if (!any_data && !cluster && cmd->c->neg.structured) {
		cmd->hole = true;
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->data = nbd_payload_alloc(cmd->req.length);
	if (!cmd->data || pieces_reserve(cmd, n)) {
		fail(cmd, -ENOMEM, "out of memory");
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->data_len = cmd->req.length;
	for (uint32_t i = 0; i < n; i++) {
		struct gw_req *p;
		uint32_t entry;

		piece_of(cmd, i, &pc);
		entry = vdi_share_entry(sh, pc.idx);
		if (!entry && !cluster) {
			memset((char *)cmd->data + pc.pos, 0, pc.len);
			continue;
		}
		/* A snapshot's map never changes, nor does a lone node's lag behind its writes. */
		if (sh->read_only || !cluster || !entry || entry == sh->vid) {
			add_piece(cmd, GW_READ, 0, vid_to_data_oid(entry ? entry : sh->vid, pc.idx),
				  pc.in_obj, pc.len, (char *)cmd->data + pc.pos);
			continue;
		}
		p = add_piece(cmd, GW_READ, 0, vid_to_data_oid(sh->vid, pc.idx), pc.in_obj, pc.len,
			      (char *)cmd->data + pc.pos);
		p->cow_from = entry; /* read_piece_done falls back to it */
	}
	if (!cmd->nr_pieces) {
		nbd_cmd_reply(cmd);
		return;
	}
	submit_pieces(cmd, read_piece_done);
}

/* WRITE, and WRITE_ZEROES with NO_HOLE: the data lands, then new objects are recorded. */

static void cleanup_done(struct gw_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

/*
 * A failed write leaves no new object behind: a file the map does not name would otherwise
 * resurface (with this write's bytes) when a later write allocates the object, even after the
 * client zeroed that range. The gateway knows what it created only where it wrote alone (one
 * holder, this node); in a cluster that cleanup is left to recovery.
 */
static bool created_unmapped(const struct nbd_cmd *cmd, const struct gw_req *p)
{
	struct vdi_share *sh = share_of(cmd);

	return p->created && p->result >= 0 && vdi_share_entry(sh, oid_to_idx(p->oid)) != sh->vid;
}

static void remove_created(struct nbd_cmd *cmd)
{
	int n = 0;

	/* Decided once (the published map may change meanwhile), then counted before submitting. */
	for (int i = 0; i < cmd->nr_pieces; i++) {
		cmd->pieces[i].created = created_unmapped(cmd, &cmd->pieces[i]);
		n += cmd->pieces[i].created;
	}
	cmd->pending = n;
	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (int i = 0; i < cmd->nr_pieces; i++) {
		struct gw_req *p = &cmd->pieces[i];

		if (!p->created)
			continue;
		p->op = GW_REMOVE;
		p->flags = 0;
		p->done = cleanup_done;
		gw_submit(p);
	}
}

/* A map change's outcome, into the command's. */
static void mq_outcome(struct nbd_cmd *cmd, int result)
{
	if (snapshotted(cmd, result))
		return;
	if (result == -ENODEV)
		fail(cmd, -EIO, "VDI %s has been deleted", share_of(cmd)->name);
	else if (result)
		fail(cmd, result, "cannot update the data map of VDI %s: %s", share_of(cmd)->name,
		     strerror(-result));
}

static void mq_done(struct vdi_mapq_req *r)
{
	struct nbd_cmd *cmd = r->priv;

	mq_outcome(cmd, r->result);
	if (--cmd->pending)
		return;
	if (cmd->moved)
		restart_moved(cmd);
	else if (cmd->error && r->op == VDI_MAPQ_ALLOC)
		remove_created(cmd);
	else
		nbd_cmd_reply(cmd);
}

static void map_change(struct nbd_cmd *cmd, struct vdi_mapq_req *mq, uint8_t op, uint32_t first,
		       uint32_t last, void (*done)(struct vdi_mapq_req *r))
{
	*mq = (struct vdi_mapq_req){ .op = op,
				     .vid = share_of(cmd)->vid,
				     .first = first,
				     .last = last,
				     .done = done,
				     .priv = cmd };
	vdi_mapq_submit(mq);
}

static void write_piece_done(struct gw_req *p)
{
	struct nbd_cmd *cmd = p->priv;
	struct vdi_share *sh = share_of(cmd);
	uint32_t nfirst = UINT32_MAX, nlast = 0;

	if (p->result < 0 && !snapshotted(cmd, p->result))
		piece_error(cmd, p);
	if (--cmd->pending)
		return;
	if (cmd->moved) {
		restart_moved(cmd);
		return;
	}
	if (cmd->error) {
		remove_created(cmd);
		return;
	}
	for (int i = 0; i < cmd->nr_pieces; i++) {
		uint32_t idx = oid_to_idx(cmd->pieces[i].oid);

		if (vdi_share_entry(sh, idx) != sh->vid) {
			nfirst = idx < nfirst ? idx : nfirst;
			nlast = idx;
		}
	}
	if (nfirst == UINT32_MAX) {
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->pending = 1;
	map_change(cmd, &cmd->mq, VDI_MAPQ_ALLOC, nfirst, nlast, mq_done);
}

static void do_write(struct nbd_cmd *cmd, uint8_t op)
{
	struct vdi_share *sh = share_of(cmd);
	uint32_t n = nr_objs(cmd);
	uint8_t flags = GW_F_CREATE;
	struct gw_piece pc;

	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	if (cmd->req.flags & NBD_CMD_FLAG_FUA)
		flags |= GW_F_SYNC;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t e;

		piece_of(cmd, i, &pc);
		e = vdi_share_entry(sh, pc.idx);
		if (e && e != sh->vid && !pc.whole && sync_before_cow(cmd))
			return; /* back here once caught up */
	}
	if (pieces_reserve(cmd, n)) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t e;
		struct gw_req *p;

		piece_of(cmd, i, &pc);
		e = vdi_share_entry(sh, pc.idx);
		p = add_piece(cmd, op, flags, vid_to_data_oid(sh->vid, pc.idx), pc.in_obj, pc.len,
			      op == GW_WRITE ? (char *)cmd->data + pc.pos : NULL);
		if (e != sh->vid)
			p->cow_from = e; /* shared with a parent: copied up first (gw_cow.c) */
	}
	submit_pieces(cmd, write_piece_done);
}

/*
 * TRIM and WRITE_ZEROES: free whole objects, punch the partial ends; a shared partial end is
 * copied up first, and then recorded in the map like a write's new object.
 */

static void zero_finish(struct nbd_cmd *cmd)
{
	if (cmd->moved) {
		restart_moved(cmd);
		return;
	}
	if (!cmd->error && cmd->cow_punched) {
		cmd->cow_punched = false;
		cmd->pending = 1;
		map_change(cmd, &cmd->mq2, VDI_MAPQ_ALLOC, cmd->cow_first, cmd->cow_last, mq_done);
		return;
	}
	nbd_cmd_reply(cmd);
}

static void punch_done(struct gw_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	/* A missing object has nothing to punch: the range already reads as zeros. */
	if (p->result < 0 && p->result != -ENOENT && !snapshotted(cmd, p->result))
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		zero_finish(cmd);
}

static void zero_mq_done(struct vdi_mapq_req *r)
{
	struct nbd_cmd *cmd = r->priv;

	mq_outcome(cmd, r->result);
	if (--cmd->pending == 0)
		zero_finish(cmd);
}

static void do_zero(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint32_t n = nr_objs(cmd), ffirst = UINT32_MAX, flast = 0;
	int free_objs = 0;
	uint8_t flags = cmd->req.flags & NBD_CMD_FLAG_FUA ? GW_F_SYNC : 0;
	bool cluster = clustered();
	struct gw_piece pc;

	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	if (cmd->req.type == NBD_CMD_WRITE_ZEROES && (cmd->req.flags & NBD_CMD_FLAG_NO_HOLE)) {
		do_write(cmd, GW_ZERO);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t entry;

		piece_of(cmd, i, &pc);
		entry = vdi_share_entry(sh, pc.idx);
		if (entry && entry != sh->vid && !pc.whole && sync_before_cow(cmd))
			return; /* back here once caught up */
	}
	if (pieces_reserve(cmd, n)) {
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->cow_first = UINT32_MAX;
	cmd->cow_last = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct gw_req *p;
		uint32_t entry;

		piece_of(cmd, i, &pc);
		entry = vdi_share_entry(sh, pc.idx);
		/* Unallocated reads as zeros here; in a cluster another node may have written it.
		 */
		if (!entry && !cluster)
			continue;
		/* A whole object: its entry is cleared, and what nothing names any more goes. */
		if (pc.whole && entry) {
			ffirst = pc.idx < ffirst ? pc.idx : ffirst;
			flast = pc.idx;
			free_objs++;
			continue;
		}
		p = add_piece(cmd, GW_PUNCH, flags, vid_to_data_oid(sh->vid, pc.idx), pc.in_obj,
			      pc.len, NULL);
		if (entry && entry != sh->vid) {
			p->cow_from = entry;
			cmd->cow_punched = true;
			cmd->cow_first = pc.idx < cmd->cow_first ? pc.idx : cmd->cow_first;
			cmd->cow_last = pc.idx > cmd->cow_last ? pc.idx : cmd->cow_last;
		}
	}
	cmd->pending = cmd->nr_pieces + (free_objs ? 1 : 0);
	if (!cmd->pending) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (int i = 0; i < cmd->nr_pieces; i++) {
		cmd->pieces[i].done = punch_done;
		gw_submit(&cmd->pieces[i]);
	}
	if (free_objs) {
		map_change(cmd, &cmd->mq, VDI_MAPQ_FREE, ffirst, flast, zero_mq_done);
	}
}

/* CACHE: read-ahead where this node has a copy. */

static void cache_done(struct gw_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	if (p->result < 0 && p->result != -ENOENT)
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

static void do_cache(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint32_t n = nr_objs(cmd);
	struct gw_piece pc;

	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	if (pieces_reserve(cmd, n)) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t entry;

		piece_of(cmd, i, &pc);
		entry = vdi_share_entry(sh, pc.idx);
		if (entry)
			add_piece(cmd, GW_PREFETCH, 0, vid_to_data_oid(entry, pc.idx), pc.in_obj,
				  pc.len, NULL);
	}
	if (!cmd->nr_pieces) {
		nbd_cmd_reply(cmd);
		return;
	}
	submit_pieces(cmd, cache_done);
}

/*
 * BLOCK_STATUS at object granularity, from the published maps: base:allocation (holes where
 * the map has nothing, on one node), and qemu:dirty-bitmap:FROM on a snapshot's export (an
 * object is dirty when the two snapshots' maps name different objects for it: one copied up,
 * written or freed it since FROM; an entry both name alike is one shared, unchanged object).
 */
typedef uint32_t (*extent_state_fn)(const struct nbd_cmd *cmd, uint32_t idx);

static uint32_t alloc_state(const struct nbd_cmd *cmd, uint32_t idx)
{
	return vdi_share_entry(share_of(cmd), idx) ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO;
}

static uint32_t dirty_state(const struct nbd_cmd *cmd, uint32_t idx)
{
	/* Past the end of a smaller FROM, its (fixed-size) map reads as unallocated. */
	uint32_t f = vdi_share_entry(cmd->c->dirty_from, idx);

	return vdi_share_entry(share_of(cmd), idx) != f ? NBD_STATE_DIRTY : 0;
}

/* Extents of [offset, offset + length) into ext, merged by state. Returns how many. */
static int extents(const struct nbd_cmd *cmd, extent_state_fn state, uint8_t *ext, int max)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t pos = cmd->req.offset, end = pos + cmd->req.length;
	int nr = 0;

	while (pos < end && nr < max) {
		uint32_t idx = (uint32_t)(pos >> sh->obj_shift), st = state(cmd, idx);
		uint64_t start = pos;

		do {
			pos = ((uint64_t)idx + 1) << sh->obj_shift;
			idx++;
		} while (pos < end && state(cmd, idx) == st);
		if (pos > end)
			pos = end;
		put_be32(ext + nr * 8, (uint32_t)(pos - start));
		put_be32(ext + nr * 8 + 4, st);
		nr++;
	}
	return nr;
}

static void do_block_status(struct nbd_cmd *cmd)
{
	int max = cmd->req.flags & NBD_CMD_FLAG_REQ_ONE ? 1 : NBD_MAX_EXTENTS, nr = 0;
	bool base = cmd->c->neg.meta_base_allocation, dirty = cmd->c->neg.meta_dirty;
	uint8_t *ext = malloc((size_t)max * 8 * 2);

	if (!ext) {
		fail(cmd, -ENOMEM, "out of memory");
		nbd_cmd_reply(cmd);
		return;
	}
	if (base && clustered()) {
		/*
		 * In a cluster this node's map may lag behind another node's allocations: say
		 * "data" for the whole range rather than a hole that a client would skip.
		 */
		put_be32(ext, cmd->req.length);
		put_be32(ext + 4, 0);
		nr = 1;
	} else if (base) {
		nr = extents(cmd, alloc_state, ext, max);
	}
	cmd->extents = ext;
	cmd->extents_len = (uint32_t)nr * 8;
	if (dirty)
		cmd->dirty_len = (uint32_t)extents(cmd, dirty_state, ext + nr * 8, max) * 8;
	nbd_cmd_reply(cmd);
}

static void flush_done(struct gw_flush_req *r)
{
	struct nbd_cmd *cmd = r->priv;

	if (r->result)
		fail(cmd, r->result, "flush failed: %s", strerror(-r->result));
	nbd_cmd_reply(cmd);
}

void nbd_cmd_execute(struct nbd_cmd *cmd)
{
	if (!cmd->share) {
		nbd_conn_follow(cmd->c);
		cmd->share = cmd->c->share;
		vdi_share_get(cmd->share);
	}
	/* A write takes the VDI's lock for this node first (vdi_lock.h). */
	if (!cmd->share->read_only &&
	    (cmd->req.type == NBD_CMD_WRITE || cmd->req.type == NBD_CMD_TRIM ||
	     cmd->req.type == NBD_CMD_WRITE_ZEROES)) {
		int ret = nbd_export_may_write(cmd);

		if (ret == -EAGAIN)
			return;
		if (ret) {
			cmd->error = ret; /* why is set */
			nbd_cmd_reply(cmd);
			return;
		}
	}
	switch (cmd->req.type) {
	case NBD_CMD_READ:
		do_read(cmd);
		break;
	case NBD_CMD_WRITE:
		do_write(cmd, GW_WRITE);
		break;
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		do_zero(cmd);
		break;
	case NBD_CMD_CACHE:
		do_cache(cmd);
		break;
	case NBD_CMD_BLOCK_STATUS:
		do_block_status(cmd);
		break;
	case NBD_CMD_FLUSH:
		cmd->flush = (struct gw_flush_req){ .done = flush_done, .priv = cmd };
		if (gw_flush_submit(&cmd->flush)) {
			fail(cmd, -ENOMEM, "out of memory");
			nbd_cmd_reply(cmd);
		}
		break;
	default:
		fail(cmd, -EINVAL, "unknown command");
		nbd_cmd_reply(cmd);
	}
}
