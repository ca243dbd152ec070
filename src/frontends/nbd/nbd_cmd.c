/*
 * NBD commands: each request is cut at object boundaries, and every piece runs on the shard that
 * owns its object (obj_io sends it there and answers back here). The published map of the VDI
 * (vdi_share.h) says which objects exist:
 *
 * - an unallocated object reads as zeros without any I/O; an allocated one whose file is missing
 *   is an error, never zeros;
 * - a write that lands in an object the map does not have yet is acknowledged only after the
 *   control thread has recorded it durably (vdi_mapq.h), so no restart can sweep it away;
 * - TRIM and WRITE_ZEROES free whole objects through the control thread (clearing the map
 *   first) and punch holes in partial ones;
 * - FLUSH is the barrier of obj_flush.h over every shard.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cluster/vdi_share.h"
#include "../../core/byteorder.h"
#include "../../core/log.h"
#include "../../core/oid.h"
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
	/* A CACHE or WRITE_ZEROES over 4 GiB is one piece per object: 1024 of them. */
	objs = ((rq->offset + rq->length - 1) >> obj_shift) - (rq->offset >> obj_shift) + 1;
	if (objs > NBD_CMD_INLINE_PIECES && rq->type != NBD_CMD_TRIM)
		charge += objs * sizeof(struct obj_req);
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

static struct vdi_share *share_of(const struct nbd_cmd *cmd)
{
	return cmd->c->share;
}

/* Object index range [*first, *last] covered by the request. */
static void obj_range(const struct nbd_cmd *cmd, uint32_t *first, uint32_t *last)
{
	uint8_t shift = share_of(cmd)->obj_shift;

	*first = (uint32_t)(cmd->req.offset >> shift);
	*last = (uint32_t)((cmd->req.offset + cmd->req.length - 1) >> shift);
}

static int pieces_reserve(struct nbd_cmd *cmd, uint32_t n)
{
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

static void submit_pieces(struct nbd_cmd *cmd, void (*done)(struct obj_req *))
{
	int n = cmd->nr_pieces;

	/* Set before the first submit: completions never run inline, but count them all first. */
	cmd->pending = n;
	for (int i = 0; i < n; i++) {
		cmd->pieces[i].done = done;
		cmd->pieces[i].priv = cmd;
		obj_submit(&cmd->pieces[i]);
	}
}

static void piece_error(struct nbd_cmd *cmd, const struct obj_req *p)
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
	} else {
		log_err("VDI %s: I/O on object %016" PRIx64 " failed: %s", sh->name, p->oid,
			strerror(-p->result));
		fail(cmd, p->result, "object %016" PRIx64 ": %s", p->oid, strerror(-p->result));
	}
}

/* READ */

static void read_piece_done(struct obj_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	if (p->result < 0)
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

static void do_read(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t osize = UINT64_C(1) << sh->obj_shift, off = cmd->req.offset;
	uint32_t first, last, pos = 0, n = 0, len = cmd->req.length;
	bool any_data = false;

	if (!len) {
		nbd_cmd_reply(cmd);
		return;
	}
	obj_range(cmd, &first, &last);
	for (uint32_t idx = first; idx <= last; idx++)
		any_data |= vdi_share_entry(sh, idx) != 0;
	/* Nothing allocated: a structured reply says "hole" instead of sending zeros. */
	if (!any_data && cmd->c->neg.structured) {
		cmd->hole = true;
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->data = nbd_payload_alloc(len);
	if (!cmd->data || pieces_reserve(cmd, last - first + 1)) {
		fail(cmd, -ENOMEM, "out of memory");
		nbd_cmd_reply(cmd);
		return;
	}
	cmd->data_len = len;
	for (uint32_t idx = first; idx <= last; idx++) {
		uint64_t in_obj = (off + pos) & (osize - 1);
		uint32_t plen = (uint32_t)(osize - in_obj < len - pos ? osize - in_obj : len - pos);
		uint32_t entry = vdi_share_entry(sh, idx);

		if (!entry) {
			memset((char *)cmd->data + pos, 0, plen);
		} else {
			cmd->pieces[n++] = (struct obj_req){ .op = OBJ_READ,
							     .oid = vid_to_data_oid(entry, idx),
							     .offset = in_obj,
							     .length = plen,
							     .buf = (char *)cmd->data + pos };
		}
		pos += plen;
	}
	cmd->nr_pieces = (int)n;
	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	submit_pieces(cmd, read_piece_done);
}

/* WRITE, and WRITE_ZEROES with NO_HOLE: the data lands, then new objects are recorded. */

static void cleanup_done(struct obj_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

/*
 * A failed write leaves no new object behind: a file the map does not name would otherwise
 * resurface (with this write's bytes) when a later write allocates the object, even after the
 * client zeroed that range.
 */
static bool created_unmapped(const struct nbd_cmd *cmd, const struct obj_req *p)
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
		struct obj_req *p = &cmd->pieces[i];

		if (!p->created)
			continue;
		p->op = OBJ_REMOVE;
		p->flags = 0;
		p->done = cleanup_done;
		obj_submit(p);
	}
}

static void mq_done(struct vdi_mapq_req *r)
{
	struct nbd_cmd *cmd = r->priv;

	if (r->result == -ENODEV)
		fail(cmd, -EIO, "VDI %s has been deleted", share_of(cmd)->name);
	else if (r->result)
		fail(cmd, r->result, "cannot update the data map of VDI %s: %s",
		     share_of(cmd)->name, strerror(-r->result));
	if (--cmd->pending)
		return;
	if (cmd->error && r->op == VDI_MAPQ_ALLOC)
		remove_created(cmd);
	else
		nbd_cmd_reply(cmd);
}

static void map_change(struct nbd_cmd *cmd, uint8_t op, uint32_t first, uint32_t last)
{
	cmd->mq = (struct vdi_mapq_req){ .op = op,
					 .vid = share_of(cmd)->vid,
					 .first = first,
					 .last = last,
					 .done = mq_done,
					 .priv = cmd };
	vdi_mapq_submit(&cmd->mq);
}

static void write_piece_done(struct obj_req *p)
{
	struct nbd_cmd *cmd = p->priv;
	struct vdi_share *sh = share_of(cmd);
	uint32_t first, last, nfirst = UINT32_MAX, nlast = 0;

	if (p->result < 0)
		piece_error(cmd, p);
	if (--cmd->pending)
		return;
	if (cmd->error) {
		remove_created(cmd);
		return;
	}
	obj_range(cmd, &first, &last);
	for (uint32_t idx = first; idx <= last; idx++) {
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
	map_change(cmd, VDI_MAPQ_ALLOC, nfirst, nlast);
}

static void do_write(struct nbd_cmd *cmd, uint8_t op)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t osize = UINT64_C(1) << sh->obj_shift, off = cmd->req.offset;
	uint32_t first, last, pos = 0, n = 0, len = cmd->req.length;
	uint16_t flags = OBJ_F_CREATE;

	if (!len) {
		nbd_cmd_reply(cmd);
		return;
	}
	if (cmd->req.flags & NBD_CMD_FLAG_FUA)
		flags |= OBJ_F_SYNC;
	obj_range(cmd, &first, &last);
	for (uint32_t idx = first; idx <= last; idx++) {
		uint32_t e = vdi_share_entry(sh, idx);

		if (e && e != sh->vid) {
			/* Objects shared with a parent need copy-on-write, which comes with clones.
			 */
			fail(cmd, -EIO, "object %u of VDI %s is shared with VDI %" PRIx32, idx,
			     sh->name, e);
			nbd_cmd_reply(cmd);
			return;
		}
	}
	if (pieces_reserve(cmd, last - first + 1)) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (uint32_t idx = first; idx <= last; idx++) {
		uint64_t in_obj = (off + pos) & (osize - 1);
		uint32_t plen = (uint32_t)(osize - in_obj < len - pos ? osize - in_obj : len - pos);

		cmd->pieces[n++] =
			(struct obj_req){ .op = op,
					  .flags = flags,
					  .oid = vid_to_data_oid(sh->vid, idx),
					  .offset = in_obj,
					  .length = plen,
					  .buf = op == OBJ_WRITE ? (char *)cmd->data + pos : NULL };
		pos += plen;
	}
	cmd->nr_pieces = (int)n;
	submit_pieces(cmd, write_piece_done);
}

/* TRIM and WRITE_ZEROES: free whole objects, punch the partial ends. */

static void punch_done(struct obj_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	/* A missing file has nothing to punch: the range already reads as zeros. */
	if (p->result < 0 && p->result != -ENOENT)
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

static void do_zero(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t osize = UINT64_C(1) << sh->obj_shift, off = cmd->req.offset;
	uint64_t end = off + cmd->req.length;
	uint32_t first, last, ffirst = UINT32_MAX, flast = 0;
	int n = 0, free_objs = 0;
	uint16_t flags = cmd->req.flags & NBD_CMD_FLAG_FUA ? OBJ_F_SYNC : 0;

	if (!cmd->req.length) {
		nbd_cmd_reply(cmd);
		return;
	}
	if (cmd->req.type == NBD_CMD_WRITE_ZEROES && (cmd->req.flags & NBD_CMD_FLAG_NO_HOLE)) {
		do_write(cmd, OBJ_ZERO);
		return;
	}
	obj_range(cmd, &first, &last);
	for (uint32_t idx = first; idx <= last; idx++) {
		uint64_t ostart = (uint64_t)idx << sh->obj_shift, oend = ostart + osize;
		uint64_t s = off > ostart ? off : ostart, e = end < oend ? end : oend;
		uint32_t entry = vdi_share_entry(sh, idx);

		if (!entry)
			continue; /* already reads as zeros */
		if (s == ostart && e == oend && entry == sh->vid) {
			ffirst = idx < ffirst ? idx : ffirst;
			flast = idx;
			free_objs++;
			continue;
		}
		if (entry != sh->vid) {
			fail(cmd, -EIO, "object %u of VDI %s is shared with VDI %" PRIx32, idx,
			     sh->name, entry);
			nbd_cmd_reply(cmd);
			return;
		}
		/* A partial object: at most the two ends of the range. */
		cmd->inline_pieces[n++] = (struct obj_req){ .op = OBJ_PUNCH,
							    .flags = flags,
							    .oid = vid_to_data_oid(sh->vid, idx),
							    .offset = s - ostart,
							    .length = (uint32_t)(e - s) };
	}
	cmd->nr_pieces = n;
	cmd->pending = n + (free_objs ? 1 : 0);
	if (!cmd->pending) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (int i = 0; i < n; i++) {
		cmd->pieces[i].done = punch_done;
		cmd->pieces[i].priv = cmd;
		obj_submit(&cmd->pieces[i]);
	}
	if (free_objs)
		map_change(cmd, VDI_MAPQ_FREE, ffirst, flast);
}

/* CACHE: read-ahead of what is allocated. */

static void cache_done(struct obj_req *p)
{
	struct nbd_cmd *cmd = p->priv;

	if (p->result < 0)
		piece_error(cmd, p);
	if (--cmd->pending == 0)
		nbd_cmd_reply(cmd);
}

static void do_cache(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t osize = UINT64_C(1) << sh->obj_shift, off = cmd->req.offset;
	uint64_t end = off + cmd->req.length;
	uint32_t first, last, n = 0;

	if (!cmd->req.length) {
		nbd_cmd_reply(cmd);
		return;
	}
	obj_range(cmd, &first, &last);
	if (pieces_reserve(cmd, last - first + 1)) {
		nbd_cmd_reply(cmd);
		return;
	}
	for (uint32_t idx = first; idx <= last; idx++) {
		uint64_t ostart = (uint64_t)idx << sh->obj_shift;
		uint64_t s = off > ostart ? off : ostart,
			 e = end < ostart + osize ? end : ostart + osize;
		uint32_t entry = vdi_share_entry(sh, idx);

		if (entry)
			cmd->pieces[n++] = (struct obj_req){ .op = OBJ_PREFETCH,
							     .oid = vid_to_data_oid(entry, idx),
							     .offset = s - ostart,
							     .length = (uint32_t)(e - s) };
	}
	cmd->nr_pieces = (int)n;
	if (!n) {
		nbd_cmd_reply(cmd);
		return;
	}
	submit_pieces(cmd, cache_done);
}

/* BLOCK_STATUS: base:allocation at object granularity, from the published map. */
static void do_block_status(struct nbd_cmd *cmd)
{
	struct vdi_share *sh = share_of(cmd);
	uint64_t pos = cmd->req.offset, end = pos + cmd->req.length;
	int max = cmd->req.flags & NBD_CMD_FLAG_REQ_ONE ? 1 : NBD_MAX_EXTENTS, nr = 0;
	uint8_t *ext = malloc((size_t)max * 8);

	if (!ext) {
		fail(cmd, -ENOMEM, "out of memory");
		nbd_cmd_reply(cmd);
		return;
	}
	while (pos < end && nr < max) {
		uint32_t idx = (uint32_t)(pos >> sh->obj_shift);
		uint32_t state = vdi_share_entry(sh, idx) ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO;
		uint64_t start = pos;

		/* Merge the following objects in the same state. */
		do {
			pos = ((uint64_t)idx + 1) << sh->obj_shift;
			idx++;
		} while (pos < end &&
			 (vdi_share_entry(sh, idx) ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO) == state);
		if (pos > end)
			pos = end;
		put_be32(ext + nr * 8, (uint32_t)(pos - start));
		put_be32(ext + nr * 8 + 4, state);
		nr++;
	}
	cmd->extents = ext;
	cmd->extents_len = (uint32_t)nr * 8;
	nbd_cmd_reply(cmd);
}

static void flush_done(struct obj_flush_req *r)
{
	struct nbd_cmd *cmd = r->priv;

	if (r->result)
		fail(cmd, r->result, "flush failed: %s", strerror(-r->result));
	nbd_cmd_reply(cmd);
}

void nbd_cmd_execute(struct nbd_cmd *cmd)
{
	switch (cmd->req.type) {
	case NBD_CMD_READ:
		do_read(cmd);
		break;
	case NBD_CMD_WRITE:
		do_write(cmd, OBJ_WRITE);
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
		cmd->flush = (struct obj_flush_req){ .done = flush_done, .priv = cmd };
		if (obj_flush_submit(&cmd->flush)) {
			fail(cmd, -ENOMEM, "out of memory");
			nbd_cmd_reply(cmd);
		}
		break;
	default:
		fail(cmd, -EINVAL, "unknown command");
		nbd_cmd_reply(cmd);
	}
}
