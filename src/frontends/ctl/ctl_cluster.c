/*
 * Control operations of an sdcluster cluster: the changes (format, VDI create, delete, resize,
 * setattr, shutdown) become commands in the cluster's log and are answered once applied on this
 * node, so a `dog vdi list` right after a `dog vdi create` on the same node shows the VDI; and
 * the requests between sheep (join, forwarded proposals, heartbeats).
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../cluster/recovery/recovery.h"
#include "../../cluster/sdcluster/sdcluster.h"
#include "../../cluster/sys.h"
#include "../../core/inode.h"
#include "../../core/log.h"
#include "../../core/oid.h"
#include "../../gateway/gw.h"
#include "../../core/result.h"
#include "../../core/size.h"
#include "../../io/store.h"
#include "ctl_frame.h"
#include "ctl_reply.h"

enum pend_kind {
	PEND_PLAIN,   /* success or failure, nothing more */
	PEND_CREATE,  /* VdiCreateRsp */
	PEND_CLUSTER, /* ClusterRsp: a request from another sheep */
};

struct pend {
	struct ctl_call *call;
	enum pend_kind kind;
	char name[SD_MAX_VDI_LEN];
	char what[64]; /* the operation, for messages */
};

static Sdctl__Node *leader_node(struct reply *r, const struct sd_node_id *nid)
{
	Sdctl__Node *n = ralloc(r, sizeof(*n));
	char host[64];

	if (!n)
		return NULL;
	sdctl__node__init(n);
	node_addr_format(nid->addr, host, sizeof(host));
	n->host = rstrdup(r, host);
	n->port = nid->port;
	return n;
}

static void fill_cluster_rsp(struct reply *r, const struct sdc_outcome *o)
{
	Sdctl__ClusterRsp *c = ralloc(r, sizeof(*c));

	r->rsp.result = (Sdctl__Result)o->result;
	if (o->result && o->result != SD_RES_NOT_LEADER)
		snprintf(r->msg, sizeof(r->msg), "%s", o->msg ? o->msg : "");
	if (!c)
		return;
	sdctl__cluster_rsp__init(c);
	c->index = o->index;
	c->member = o->member;
	c->epoch = o->epoch;
	if (o->leader_known)
		c->leader = leader_node(r, &o->leader);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_CLUSTER;
	r->rsp.cluster = c;
}

/* Messages for results of commands applied elsewhere, whose own text stayed there. */
static void explain(struct reply *r, const struct pend *p, int result, const char *msg)
{
	if (msg && msg[0])
		return fail(r, result, "%s", msg);
	switch (result) {
	case SD_RES_VDI_EXIST:
		return fail(r, result, "VDI %s already exists", p->name);
	case SD_RES_NO_VDI:
		return fail(r, result, "VDI %s not found: see 'dog vdi list'", p->name);
	case SD_RES_FULL_VDI:
		return fail(r, result, "all %u VDI ids are in use", SD_NR_VDIS - 1);
	case SD_RES_NO_OBJ:
		return fail(r, result, "Attribute not found");
	default:
		return fail(r, result, "%s of %s failed: %s", p->what, p->name[0] ? p->name : "",
			    sd_strerror(result));
	}
}

static void pend_done(void *arg, const struct sdc_outcome *o)
{
	struct pend *p = arg;
	struct reply r;

	ctl_reply_init(&r);
	if (p->kind == PEND_CLUSTER) {
		fill_cluster_rsp(&r, o);
	} else if (o->result) {
		explain(&r, p, o->result, o->msg);
	} else if (p->kind == PEND_CREATE) {
		struct vdi *v = vdi_find_name(&sys.vdis, p->name);
		Sdctl__VdiCreateRsp *c = ralloc(&r, sizeof(*c));

		if (!v || !c) {
			fail(&r, SD_RES_EIO, "VDI %s was created, then vanished (deleted at once?)",
			     p->name);
		} else {
			sdctl__vdi_create_rsp__init(c);
			c->vid = v->hdr.vdi_id;
			c->nr_objects = v->map_len;
			r.rsp.body_case = SDCTL__RESPONSE__BODY_VDI_CREATE;
			r.rsp.vdi_create = c;
		}
	}
	ctl_reply_answer(&r, p->call);
	free(p);
}

static struct pend *pend_new(struct reply *r, struct ctl_call *call, enum pend_kind kind,
			     const char *what, const char *name)
{
	struct pend *p = calloc(1, sizeof(*p));

	if (!p) {
		fail(r, SD_RES_NO_MEM, "out of memory");
		return NULL;
	}
	p->call = call;
	p->kind = kind;
	snprintf(p->what, sizeof(p->what), "%s", what);
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	r->async = true;
	return p;
}

static void propose(struct reply *r, struct ctl_call *call, Sdcl__Command *cmd, enum pend_kind kind,
		    const char *what, const char *name)
{
	struct pend *p = pend_new(r, call, kind, what, name);

	if (p)
		sdcluster_propose(cmd, pend_done, p);
}

void ctl_propose_create(struct reply *r, struct ctl_call *call, struct Sdcl__Command *cmd,
			const char *what, const char *name)
{
	propose(r, call, cmd, PEND_CREATE, what, name);
}

void ctl_propose_plain(struct reply *r, struct ctl_call *call, struct Sdcl__Command *cmd,
		       const char *what, const char *name)
{
	propose(r, call, cmd, PEND_PLAIN, what, name);
}

static void op_format(struct reply *r, const Sdctl__ClusterFormatReq *f, struct ctl_call *call)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__Config cfg = SDCL__CONFIG__INIT;
	char err[512];
	unsigned shift, copies;
	int kind;

	if (!f)
		return fail(r, SD_RES_INVALID_PARMS, "format request without parameters");
	if (f->copies > 255 || f->copy_policy > 255 || f->block_size_shift > 255)
		return fail(r, SD_RES_INVALID_PARMS, "format parameters out of range");
	kind = store_kind_parse(f->store[0] ? f->store : "plain");
	if (kind < 0)
		return fail(r, SD_RES_NO_STORE,
			    "Targeted backend store is not found\nAvailable stores:\n"
			    "---------------------------------------\ntree plain");
	shift = f->block_size_shift ? f->block_size_shift : SD_DEFAULT_BLOCK_SHIFT;
	if (shift < SD_MIN_BLOCK_SHIFT || shift > SD_MAX_BLOCK_SHIFT)
		return fail(r, SD_RES_INVALID_PARMS, "block size shift must be %d to %d, not %u",
			    SD_MIN_BLOCK_SHIFT, SD_MAX_BLOCK_SHIFT, shift);
	if (!sdcluster_writable())
		return fail(r, SD_RES_HALT, "%s: no cluster leader is reachable from this node",
			    sd_strerror(SD_RES_HALT));
	copies = f->copies;
	if (f->copy_policy)
		copies = ec_data_strips((uint8_t)f->copy_policy) +
			 ec_parity_strips((uint8_t)f->copy_policy);
	if (copies && !f->copy_policy &&
	    cluster_check_copies_fit((uint8_t)copies, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	if (!copies)
		copies = sys.default_copies ? sys.default_copies : SD_DEFAULT_COPIES;
	cfg.ctime = (uint64_t)time(NULL);
	cfg.copies = copies;
	cfg.copy_policy = f->copy_policy;
	cfg.block_size_shift = shift;
	cfg.store = (char *)store_kind_name((enum store_kind)kind);
	cfg.recycle_vid = f->recycle_vid;
	cfg.strict = f->strict;
	cmd.op_case = SDCL__COMMAND__OP_FORMAT;
	cmd.format = &cfg;
	propose(r, call, &cmd, PEND_PLAIN, "format", "the cluster");
}

static void op_create(struct reply *r, const Sdctl__VdiCreateReq *q, struct ctl_call *call)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__VdiCreate c = SDCL__VDI_CREATE__INIT;
	struct timespec now;
	char err[512];

	if (!check_running(r))
		return;
	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "create request without parameters");
	if (vdi_name_check(q->name, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	c.copies = sys.cfg.copies;
	c.copy_policy = sys.cfg.copy_policy;
	if (q->copies_set) {
		if (q->copies > 255 || q->copy_policy > 255)
			return fail(r, SD_RES_INVALID_PARMS, "copies out of range");
		c.copies = q->copies;
		c.copy_policy = q->copy_policy;
		if (!c.copy_policy && cluster_check_copies_fit((uint8_t)c.copies, err, sizeof(err)))
			return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	c.name = q->name;
	c.size = q->size;
	c.create_time = (uint64_t)now.tv_sec << 32 | (uint64_t)now.tv_nsec;
	cmd.op_case = SDCL__COMMAND__OP_VDI_CREATE;
	cmd.vdi_create = &c;
	propose(r, call, &cmd, PEND_CREATE, "create", q->name);
}

static void op_delete(struct reply *r, const Sdctl__VdiNameReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi_snap(r, q ? q->name : NULL, q ? q->snap : NULL);
	Sdcl__Command cmd = SDCL__COMMAND__INIT;

	if (!v)
		return;
	cmd.op_case = SDCL__COMMAND__OP_VDI_DELETE;
	cmd.vdi_delete = v->hdr.vdi_id;
	propose(r, call, &cmd, PEND_PLAIN, "delete", q->name);
}

static void op_resize(struct reply *r, const Sdctl__VdiResizeReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__VdiResize rs = SDCL__VDI_RESIZE__INIT;
	char err[256];
	int ret;

	if (!v)
		return;
	/* The checks give their exact messages here; applying the command checks the same. */
	ret = vdi_resize_check(v, q->size, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	rs.vid = v->hdr.vdi_id;
	rs.size = q->size;
	cmd.op_case = SDCL__COMMAND__OP_VDI_RESIZE;
	cmd.vdi_resize = &rs;
	propose(r, call, &cmd, PEND_PLAIN, "resize", q->name);
}

static void op_setattr(struct reply *r, const Sdctl__VdiAttrReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__VdiAttr a = SDCL__VDI_ATTR__INIT;

	if (!v)
		return;
	if (q->value.len > SD_MAX_VDI_ATTR_VALUE_LEN)
		return fail(r, SD_RES_INVALID_PARMS, "attribute value is %zu bytes, at most %d",
			    q->value.len, SD_MAX_VDI_ATTR_VALUE_LEN);
	if (!q->key[0] || strlen(q->key) >= SD_MAX_VDI_ATTR_KEY_LEN)
		return fail(r, SD_RES_INVALID_PARMS, "attribute key must be 1 to %d bytes",
			    SD_MAX_VDI_ATTR_KEY_LEN - 1);
	a.vid = v->hdr.vdi_id;
	a.key = q->key;
	a.value = q->value;
	a.exclusive = q->exclusive;
	a.delete_ = q->delete_;
	cmd.op_case = SDCL__COMMAND__OP_VDI_ATTR;
	cmd.vdi_attr = &a;
	propose(r, call, &cmd, PEND_PLAIN, "setattr", q->name);
}

/*
 * dog vdi read/write in a cluster: the pieces go through the gateway without the control thread
 * waiting (Raft and heartbeats run on it), and a write's new objects are recorded by a map
 * command in the log, applied on every node, before the answer.
 */
struct vio {
	struct ctl_call *call;
	bool write;
	bool prealloc; /* a write of whole objects as allocated zeros (dog vdi create -P) */
	uint32_t vid;
	uint64_t off;
	uint32_t len;
	uint8_t *buf; /* read: the answer's bytes; write: a copy of the request's */
	int n, pending;
	char name[SD_MAX_VDI_LEN];
	struct gw_req reqs[];
};

static void vio_answer(struct vio *io, int result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vio_answer(struct vio *io, int result, const char *fmt, ...)
{
	struct reply r;

	ctl_reply_init(&r);
	if (result) {
		va_list ap;

		r.rsp.result = (Sdctl__Result)result;
		va_start(ap, fmt);
		vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
		va_end(ap);
		log_err("VDI %s: %s", io->name, r.msg);
	} else if (!io->write && !io->prealloc) {
		r.rsp.body_case = SDCTL__RESPONSE__BODY_DATA;
		r.rsp.data.data = io->buf;
		r.rsp.data.len = io->len;
	}
	ctl_reply_answer(&r, io->call);
	free(io->buf);
	free(io);
}

static void vio_mapped(void *arg, const struct sdc_outcome *o)
{
	struct vio *io = arg;

	if (o->result)
		vio_answer(io, o->result,
			   "the data is written but recording its new objects "
			   "failed: %s",
			   o->msg && o->msg[0] ? o->msg : sd_strerror(o->result));
	else
		vio_answer(io, 0, " ");
}

static void vio_all_done(struct vio *io)
{
	struct vdi *v = vdi_find_vid(&sys.vdis, io->vid);
	uint32_t first = UINT32_MAX, last = 0;

	for (int i = 0; i < io->n; i++) {
		struct gw_req *g = &io->reqs[i];
		uint32_t idx = oid_to_idx(g->oid);

		if (g->result == -ENOENT && !io->write) {
			if (v && idx < v->map_len && v->map[idx])
				return vio_answer(io, SD_RES_EIO,
						  "object %016" PRIx64 " is missing from every "
						  "holder although its data map says it was "
						  "written: that data is lost",
						  g->oid);
			memset(g->buf, 0, g->length); /* never written: zeros */
		} else if (g->result == -EHOSTDOWN) {
			return vio_answer(io, SD_RES_HALT, "%s", sd_strerror(SD_RES_HALT));
		} else if (g->result < 0) {
			return vio_answer(io, SD_RES_EIO, "%s object %016" PRIx64 " failed: %s",
					  io->write ? "writing" : "reading", g->oid,
					  g->why[0] ? g->why : strerror(-g->result));
		}
		if (io->write && (!v || idx >= v->map_len || v->map[idx] != io->vid)) {
			first = idx < first ? idx : first;
			last = idx > last ? idx : last;
		}
	}
	if (!v || !v->hdr.name[0])
		return vio_answer(io, SD_RES_NO_VDI, "VDI %s was deleted meanwhile", io->name);
	if (io->write && first != UINT32_MAX) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__MapChange m = SDCL__MAP_CHANGE__INIT;

		m.vid = io->vid;
		m.alloc = true;
		m.first = first;
		m.last = last;
		cmd.op_case = SDCL__COMMAND__OP_MAP;
		cmd.map = &m;
		sdcluster_propose(&cmd, vio_mapped, io);
		return;
	}
	vio_answer(io, 0, " ");
}

static void vio_piece_done(struct gw_req *g)
{
	struct vio *io = g->priv;

	/* Not copied up (no holder has the VDI's own object): the parent's has the content. */
	if (!io->write && g->result == -ENOENT && g->cow_from) {
		g->oid = vid_to_data_oid(g->cow_from, oid_to_idx(g->oid));
		g->cow_from = 0;
		gw_submit(g);
		return;
	}
	if (io->write && g->result == -EROFS) {
		g->result = -EIO;
		snprintf(g->why, sizeof(g->why),
			 "the VDI was snapshotted during the write: write "
			 "again, to the new working VDI");
	}
	if (--io->pending == 0)
		vio_all_done(io);
}

/* The pieces, from the map as this node has it now. */
static void vio_start(struct vio *io)
{
	struct vdi *v = vdi_find_live(&sys.vdis, io->vid);
	uint8_t shift;

	if (!v)
		return vio_answer(io, SD_RES_NO_VDI, "VDI %s was deleted meanwhile", io->name);
	shift = v->hdr.block_size_shift;
	for (int i = 0; i < io->n; i++) {
		struct gw_piece pc;
		struct gw_req *g = &io->reqs[i];
		uint32_t entry;

		gw_split_piece(io->off, io->len, shift, (uint32_t)i, &pc);
		entry = pc.idx < v->map_len ? v->map[pc.idx] : 0;
		*g = (struct gw_req){ .copies = v->hdr.nr_copies,
				      .obj_shift = shift,
				      .offset = pc.in_obj,
				      .length = pc.len,
				      .buf = io->buf + pc.pos,
				      .done = vio_piece_done,
				      .priv = io };
		if (io->write) {
			g->op = GW_WRITE;
			g->flags = GW_F_SYNC | (entry == io->vid ? 0 : GW_F_CREATE);
			g->oid = vid_to_data_oid(io->vid, pc.idx);
			g->cow_from = entry != io->vid ? entry : 0; /* copied up first (gw_cow.c) */
		} else if (entry && entry != io->vid && !v->hdr.snap_ctime) {
			/* Another node may have copied it up already: the VDI's own object first.
			 */
			g->op = GW_READ;
			g->oid = vid_to_data_oid(io->vid, pc.idx);
			g->cow_from = entry;
		} else {
			/* Another node's allocation may not be applied here yet: always ask. */
			g->op = GW_READ;
			g->oid = vid_to_data_oid(entry ? entry : io->vid, pc.idx);
		}
	}
	for (int i = 0; i < io->n; i++)
		gw_submit(&io->reqs[i]);
}

static void vio_synced(void *arg, bool caught_up)
{
	(void)caught_up; /* without a leader, what this node knows has to do */
	vio_start(arg);
}

static void op_vdi_io(struct reply *r, const char *name, const char *snap, uint64_t off,
		      uint32_t len, const uint8_t *data, struct ctl_call *call)
{
	struct vdi *v = find_vdi_snap(r, name, data ? NULL : snap);
	struct vio *io;
	uint8_t shift;
	uint32_t n;
	bool cow = false;

	if (!v)
		return;
	shift = v->hdr.block_size_shift;
	if (len > CTL_MAX_IO)
		return fail(r, SD_RES_INVALID_PARMS,
			    "%s of %" PRIu32 " bytes: at most %u per request",
			    data ? "write" : "read", len, CTL_MAX_IO);
	if (off > v->hdr.vdi_size || len > v->hdr.vdi_size - off)
		return fail(r, SD_RES_INVALID_PARMS,
			    "range %" PRIu64 "+%" PRIu32 " is beyond the end of VDI %s (%" PRIu64
			    " bytes)",
			    off, len, v->hdr.name, v->hdr.vdi_size);
	if (data && v->hdr.snap_ctime)
		return fail(r, SD_RES_READONLY, "VDI %s is a snapshot and cannot be written", name);
	n = gw_split_count(off, len, shift);
	io = calloc(1, sizeof(*io) + sizeof(io->reqs[0]) * (n ? n : 1));
	if (!io || !(io->buf = malloc(len ? len : 1))) {
		free(io);
		return fail(r, SD_RES_NO_MEM, "out of memory");
	}
	if (data && len)
		memcpy(io->buf, data, len);
	io->call = call;
	io->write = data != NULL;
	io->vid = v->hdr.vdi_id;
	io->off = off;
	io->len = len;
	io->n = (int)n;
	io->pending = (int)n;
	snprintf(io->name, sizeof(io->name), "%s", name);
	r->async = true;
	if (!n) {
		vio_answer(io, 0, " ");
		return;
	}
	for (uint32_t i = 0; io->write && i < n; i++) {
		struct gw_piece pc;
		uint32_t entry;

		gw_split_piece(off, len, shift, i, &pc);
		entry = pc.idx < v->map_len ? v->map[pc.idx] : 0;
		cow |= entry && entry != io->vid && !pc.whole;
	}
	/* A copy-up acts on the map entry: first catch up, so it is not an old one. */
	if (cow)
		sdcluster_sync(vio_synced, io);
	else
		vio_start(io);
}

/*
 * dog vdi create -P in a cluster: each object not allocated yet is created on every holder with
 * its space reserved (a zeroing write that keeps the blocks), then recorded in the map.
 */
static void op_prealloc(struct reply *r, const Sdctl__VdiPreallocReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	uint32_t end, n = 0;
	struct vio *io;

	if (!v)
		return;
	if (q->count > 64 || q->start > v->map_len)
		return fail(r, SD_RES_INVALID_PARMS,
			    "bad preallocation range %u+%u (the VDI has %u objects)", q->start,
			    q->count, v->map_len);
	end = q->start + q->count > v->map_len ? v->map_len : q->start + q->count;
	io = calloc(1, sizeof(*io) + sizeof(io->reqs[0]) * (q->count ? q->count : 1));
	if (!io)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	io->call = call;
	io->write = io->prealloc = true;
	io->vid = v->hdr.vdi_id;
	snprintf(io->name, sizeof(io->name), "%s", q->name);
	for (uint32_t i = q->start; i < end; i++) {
		if (v->map[i] == io->vid)
			continue;
		io->reqs[n++] = (struct gw_req){ .op = GW_ZERO,
						 .flags = GW_F_CREATE | GW_F_SYNC,
						 .copies = v->hdr.nr_copies,
						 .oid = vid_to_data_oid(io->vid, i),
						 .length = (uint32_t)vdi_obj_size(v),
						 .done = vio_piece_done,
						 .priv = io };
	}
	io->n = io->pending = (int)n;
	r->async = true;
	if (!n) {
		vio_answer(io, 0, " ");
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		gw_submit(&io->reqs[i]);
}

static void op_shutdown(struct reply *r, struct ctl_call *call)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;

	cmd.op_case = SDCL__COMMAND__OP_SHUTDOWN;
	cmd.shutdown = true;
	propose(r, call, &cmd, PEND_PLAIN, "shutdown", "the cluster");
}

/* dog node recovery set-throttle|get-throttle, dog cluster recover enable|disable. */
static void op_recovery_ctl(struct reply *r, const Sdctl__RecoveryCtlReq *q, struct ctl_call *call)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__RecoveryCtl rc = SDCL__RECOVERY_CTL__INIT;
	Sdctl__RecoveryCtlRsp *rsp;
	uint32_t interval;
	bool on;

	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "recovery request without parameters");
	switch (q->what) {
	case SDCTL__RECOVERY_CTL_REQ__WHAT__GET:
		if (!(rsp = ralloc(r, sizeof(*rsp))))
			return fail(r, SD_RES_NO_MEM, "out of memory");
		sdctl__recovery_ctl_rsp__init(rsp);
		recovery_get(&rsp->max, &interval, &on);
		rsp->interval_ms = interval;
		rsp->enabled = on;
		r->rsp.body_case = SDCTL__RESPONSE__BODY_RECOVERY_CTL;
		r->rsp.recovery_ctl = rsp;
		return;
	case SDCTL__RECOVERY_CTL_REQ__WHAT__SET_THROTTLE:
		if (!q->max != !q->interval_ms || q->interval_ms > UINT32_MAX)
			return fail(r, SD_RES_INVALID_PARMS,
				    "Invalid interval max (%u), interval (%" PRIu64 ")", q->max,
				    q->interval_ms);
		rc.set_throttle = true;
		rc.max = q->max;
		rc.interval_ms = (uint32_t)q->interval_ms;
		break;
	case SDCTL__RECOVERY_CTL_REQ__WHAT__ENABLE:
	case SDCTL__RECOVERY_CTL_REQ__WHAT__DISABLE:
		rc.set_enabled = true;
		rc.enabled = q->what == SDCTL__RECOVERY_CTL_REQ__WHAT__ENABLE;
		break;
	case SDCTL__RECOVERY_CTL_REQ__WHAT__FORCE: {
		char msg[256] = "";
		int n;

		if (!sys.clustered)
			return fail(r, SD_RES_INVALID_PARMS,
				    "a single node has nothing to recover");
		n = sdcluster_force_recover(msg, sizeof(msg));
		if (n < 0)
			return fail(r, SD_RES_INVALID_PARMS, "%s", msg);
		log_notice("dog cluster recover force: %d absent node%s removed", n,
			   n == 1 ? "" : "s");
		return;
	}
	default:
		return fail(r, SD_RES_INVALID_PARMS, "unknown recovery request %d", (int)q->what);
	}
	cmd.op_case = SDCL__COMMAND__OP_RECOVERY_CTL;
	cmd.recovery_ctl = &rc;
	propose(r, call, &cmd, PEND_PLAIN, "recovery setting", "the cluster");
}

bool ctl_cluster_op(struct reply *r, const Sdctl__Request *q, struct ctl_call *call)
{
	struct pend *p;

	switch (q->op_case) {
	case SDCTL__REQUEST__OP_CLUSTER_FORMAT:
		op_format(r, q->cluster_format, call);
		return true;
	case SDCTL__REQUEST__OP_CLUSTER_SHUTDOWN:
		op_shutdown(r, call);
		return true;
	case SDCTL__REQUEST__OP_RECOVERY_CTL:
		op_recovery_ctl(r, q->recovery_ctl, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_CHECK:
		ctl_vdi_check(r, q->vdi_check, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_CREATE:
		op_create(r, q->vdi_create, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_DELETE:
		op_delete(r, q->vdi_delete, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_RESIZE:
		op_resize(r, q->vdi_resize, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_SETATTR:
		op_setattr(r, q->vdi_setattr, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_READ:
		if (!q->vdi_read)
			return fail(r, SD_RES_INVALID_PARMS, "read without parameters"), true;
		op_vdi_io(r, q->vdi_read->name, q->vdi_read->snap, q->vdi_read->offset,
			  q->vdi_read->length, NULL, call);
		return true;
	case SDCTL__REQUEST__OP_VDI_WRITE:
		if (!q->vdi_write)
			return fail(r, SD_RES_INVALID_PARMS, "write without parameters"), true;
		if (q->vdi_write->data.len > CTL_MAX_IO)
			return fail(r, SD_RES_INVALID_PARMS,
				    "write of %zu bytes: at most %u per request",
				    q->vdi_write->data.len, CTL_MAX_IO),
			       true;
		op_vdi_io(r, q->vdi_write->name, NULL, q->vdi_write->offset,
			  (uint32_t)q->vdi_write->data.len,
			  q->vdi_write->data.data ? q->vdi_write->data.data : (const uint8_t *)"",
			  call);
		return true;
	case SDCTL__REQUEST__OP_VDI_PREALLOC:
		op_prealloc(r, q->vdi_prealloc, call);
		return true;
	case SDCTL__REQUEST__OP_CLUSTER_JOIN:
		p = pend_new(r, call, PEND_CLUSTER, "join", NULL);
		if (p)
			sdcluster_on_join(q->cluster_join.data, q->cluster_join.len, pend_done, p);
		return true;
	case SDCTL__REQUEST__OP_CLUSTER_PROPOSE:
		p = pend_new(r, call, PEND_CLUSTER, "propose", NULL);
		if (p)
			sdcluster_on_propose(q->cluster_propose.data, q->cluster_propose.len,
					     pend_done, p);
		return true;
	case SDCTL__REQUEST__OP_HEARTBEAT: {
		struct sdc_outcome o;

		if (!q->heartbeat)
			return fail(r, SD_RES_INVALID_PARMS, "heartbeat without a body"), true;
		sdcluster_on_heartbeat(q->heartbeat->raft_id, &o);
		fill_cluster_rsp(r, &o);
		return true;
	}
	default:
		return false;
	}
}
