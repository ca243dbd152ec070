/*
 * The control protocol's operations: decode a Request, run it against the cluster and VDI layer,
 * encode the Response. Every failure carries a result code and a message for the operator.
 */
#include "ctl_ops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "../../cluster/cluster_view.h"
#include "../../cluster/recovery/recovery.h"
#include "../../cluster/sdcluster/sdcluster.h"
#include "../../cluster/sdcluster/sm.h"
#include "../../cluster/sys.h"
#include "../../core/epoch_log.h"
#include "../../core/log.h"
#include "../../core/result.h"
#include "../../shard/buf_pool.h"
#include "ctl_frame.h"
#include "ctl_reply.h"
#include "ctl_strings.h"
#include "sheepdog.pb-c.h"

void *ralloc(struct reply *r, size_t size)
{
	void *p;

	if (r->nr_allocs == r->cap_allocs) {
		int cap = r->cap_allocs ? r->cap_allocs * 2 : 16;
		void **n = realloc(r->allocs, sizeof(*n) * (size_t)cap);

		if (!n)
			return NULL;
		r->allocs = n;
		r->cap_allocs = cap;
	}
	p = calloc(1, size ? size : 1);
	if (p)
		r->allocs[r->nr_allocs++] = p;
	return p;
}

char *rstrdup(struct reply *r, const char *s)
{
	char *p = ralloc(r, strlen(s) + 1);

	if (p)
		memcpy(p, s, strlen(s) + 1);
	return p ? p : (char *)"";
}

void fail(struct reply *r, int result, const char *fmt, ...)
{
	va_list ap;

	r->rsp.result = (Sdctl__Result)result;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

bool check_running(struct reply *r)
{
	int st = sys_status();

	if (st == SD_RES_WAIT_FOR_FORMAT)
		fail(r, st, "the cluster is not formatted yet: run 'dog cluster format' first");
	else if (st)
		fail(r, st, "%s", sd_strerror(st));
	return st == SD_RES_SUCCESS;
}

struct vdi *find_vdi(struct reply *r, const char *name)
{
	struct vdi *v;

	if (!check_running(r))
		return NULL;
	v = vdi_find_name(&sys.vdis, name ? name : "");
	if (!v)
		fail(r, SD_RES_NO_VDI, "VDI %s not found: see 'dog vdi list'", name ? name : "");
	return v;
}

Sdctl__Node *node_msg(struct reply *r, const struct sd_node *n)
{
	Sdctl__Node *m = ralloc(r, sizeof(*m));
	char host[64];

	if (!m)
		return NULL;
	sdctl__node__init(m);
	node_addr_format(n->nid.addr, host, sizeof(host));
	m->host = rstrdup(r, host);
	m->port = n->nid.port;
	m->vnodes = n->nr_vnodes;
	m->zone = n->zone;
	m->space = n->space;
	return m;
}

static void op_cluster_format(struct reply *r, const Sdctl__ClusterFormatReq *f)
{
	char err[512] = "";
	int ret;

	if (!f) {
		fail(r, SD_RES_INVALID_PARMS, "format request without parameters");
		return;
	}
	if (f->copies > 255 || f->copy_policy > 255 || f->block_size_shift > 255) {
		fail(r, SD_RES_INVALID_PARMS, "format parameters out of range");
		return;
	}
	ret = cluster_format((uint8_t)f->copies, (uint8_t)f->copy_policy, f->store,
			     (uint8_t)f->block_size_shift, f->recycle_vid, f->strict, err,
			     sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_cluster_info(struct reply *r)
{
	Sdctl__ClusterInfoRsp *ci = ralloc(r, sizeof(*ci));
	uint32_t n = sys.cfg.epoch;

	if (!ci)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__cluster_info_rsp__init(ci);
	ci->status = (Sdctl__Result)sys_status();
	ci->ctime = sys.cfg.ctime;
	ci->copies = sys.cfg.copies;
	ci->copy_policy = sys.cfg.copy_policy;
	ci->store = rstrdup(r, sys.cfg.ctime ? sys.cfg.store : "");
	ci->recovery_enabled = true;
	if (sys.clustered) {
		uint32_t max, interval;
		bool on;

		recovery_get(&max, &interval, &on);
		ci->recovery_enabled = on;
	}
	ci->block_size_shift = sys.cfg.block_size_shift;
	ci->recycle_vid = sys.cfg.recycle_vid;
	ci->strict = sys.cfg.strict;
	ci->epochs = ralloc(r, sizeof(*ci->epochs) * (n + 1));
	if (sys.clustered) {
		const struct epoch_entry *eps;
		int ne = sm_epochs(&eps);

		/* The cluster's own history, the same on every node. */
		ci->epochs = ralloc(r, sizeof(*ci->epochs) * (size_t)(ne + 1));
		for (int k = ne - 1; k >= 0 && ci->epochs; k--) {
			Sdctl__EpochEntry *m = ralloc(r, sizeof(*m));

			if (!m)
				break;
			sdctl__epoch_entry__init(m);
			m->epoch = eps[k].epoch;
			m->time = eps[k].time;
			m->nodes = ralloc(r, sizeof(*m->nodes) * (size_t)(eps[k].nr_nodes + 1));
			for (int i = 0; m->nodes && i < eps[k].nr_nodes; i++)
				m->nodes[m->n_nodes++] = node_msg(r, &eps[k].nodes[i]);
			ci->epochs[ci->n_epochs++] = m;
		}
		n = 0;
	}
	for (uint32_t e = n; e >= 1 && ci->epochs; e--) {
		struct epoch_entry ent;
		Sdctl__EpochEntry *m;

		if (epoch_log_read(sys.dir, e, &ent))
			continue;
		m = ralloc(r, sizeof(*m));
		if (m) {
			sdctl__epoch_entry__init(m);
			m->epoch = ent.epoch;
			m->time = ent.time;
			m->nodes = ralloc(r, sizeof(*m->nodes) * (size_t)(ent.nr_nodes + 1));
			for (int i = 0; m->nodes && i < ent.nr_nodes; i++)
				m->nodes[m->n_nodes++] = node_msg(r, &ent.nodes[i]);
			ci->epochs[ci->n_epochs++] = m;
		}
		epoch_entry_free(&ent);
	}
	r->rsp.body_case = SDCTL__RESPONSE__BODY_CLUSTER_INFO;
	r->rsp.cluster_info = ci;
}

static void op_node_list(struct reply *r)
{
	Sdctl__NodeListRsp *nl = ralloc(r, sizeof(*nl));
	int max = sys.nr_members > 0 ? sys.nr_members : 1;
	struct sd_node *nodes = ralloc(r, sizeof(*nodes) * (size_t)max);
	int n = nodes ? cluster_members(nodes, max) : 0;

	if (!nl || !nodes)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__node_list_rsp__init(nl);
	n = n < max ? n : max;
	nl->nodes = ralloc(r, sizeof(*nl->nodes) * (size_t)(n + 1));
	for (int i = 0; nl->nodes && i < n; i++) {
		if (!node_id_cmp(&nodes[i].nid, &sys.self.nid))
			nl->local = (uint32_t)i;
		nl->nodes[nl->n_nodes++] = node_msg(r, &nodes[i]);
	}
	r->rsp.body_case = SDCTL__RESPONSE__BODY_NODE_LIST;
	r->rsp.node_list = nl;
}

static void op_node_info(struct reply *r)
{
	Sdctl__NodeInfoRsp *ni = ralloc(r, sizeof(*ni));
	struct statvfs vfs;

	if (!ni)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__node_info_rsp__init(ni);
	if (statvfs(sys.dir, &vfs) < 0)
		return fail(r, SD_RES_SYSTEM_ERROR, "cannot stat %s: %s", sys.dir, strerror(errno));
	if (!sys.gateway) {
		ni->store_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		ni->store_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (!inode_is_deleted(&v->hdr) && !v->hdr.snap_ctime)
			ni->vdi_size_total += v->hdr.vdi_size;
	}
	r->rsp.body_case = SDCTL__RESPONSE__BODY_NODE_INFO;
	r->rsp.node_info = ni;
}

/*
 * This node, if it is recovering objects (recovery.h): dog asks every node and prints those in
 * recovery, in node-list order. None: `dog node recovery` prints its header only, which is what
 * scripts wait for.
 */
static void op_node_recovery(struct reply *r)
{
	Sdctl__NodeRecoveryRsp *nr = ralloc(r, sizeof(*nr));
	const struct cluster_view *v = cluster_view_latest();
	uint64_t done, total;
	uint32_t epoch;

	if (!nr)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__node_recovery_rsp__init(nr);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_NODE_RECOVERY;
	r->rsp.node_recovery = nr;
	if (!sys.clustered || !v || v->self < 0 || !recovery_progress(&epoch, &done, &total))
		return;
	if (!(nr->nodes = ralloc(r, sizeof(*nr->nodes))) ||
	    !(nr->nodes[0] = ralloc(r, sizeof(**nr->nodes))))
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__node_recovery__init(nr->nodes[0]);
	nr->nodes[0]->id = (uint32_t)v->self;
	nr->nodes[0]->node = node_msg(r, &sys.self);
	nr->nodes[0]->nr_finished = done;
	nr->nodes[0]->nr_total = total;
	nr->n_nodes = 1;
}

static Sdctl__VdiInfo *vdi_info_msg(struct reply *r, const struct vdi *v)
{
	Sdctl__VdiInfo *m = ralloc(r, sizeof(*m));

	if (!m)
		return NULL;
	sdctl__vdi_info__init(m);
	m->name = rstrdup(r, v->hdr.name);
	m->tag = rstrdup(r, v->hdr.tag);
	m->vid = v->hdr.vdi_id;
	m->snap_id = v->hdr.snap_id;
	m->snapshot = v->hdr.snap_ctime != 0;
	m->size = v->hdr.vdi_size;
	m->used = (uint64_t)v->nr_owned << v->hdr.block_size_shift;
	m->shared = (uint64_t)v->nr_shared << v->hdr.block_size_shift;
	m->ctime = v->hdr.create_time >> 32;
	m->copies = v->hdr.nr_copies;
	m->copy_policy = v->hdr.copy_policy;
	m->block_size_shift = v->hdr.block_size_shift;
	m->parent_vid = v->hdr.parent_vdi_id;
	return m;
}

static void op_vdi_list(struct reply *r)
{
	Sdctl__VdiListRsp *l = ralloc(r, sizeof(*l));

	if (!l)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	if (!check_running(r))
		return;
	sdctl__vdi_list_rsp__init(l);
	l->vdis = ralloc(r, sizeof(*l->vdis) * (size_t)(sys.vdis.nr + 1));
	for (int i = 0; l->vdis && i < sys.vdis.nr; i++)
		if (!inode_is_deleted(&sys.vdis.v[i]->hdr))
			l->vdis[l->n_vdis++] = vdi_info_msg(r, sys.vdis.v[i]);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_LIST;
	r->rsp.vdi_list = l;
}

static void op_vdi_info(struct reply *r, const Sdctl__VdiNameReq *q)
{
	struct vdi *v = find_vdi_snap(r, q ? q->name : NULL, q ? q->snap : NULL);

	if (!v)
		return;
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_INFO;
	r->rsp.vdi_info = vdi_info_msg(r, v);
}

static void op_vdi_create(struct reply *r, const Sdctl__VdiCreateReq *q)
{
	Sdctl__VdiCreateRsp *c;
	uint8_t copies = sys.cfg.copies, policy = sys.cfg.copy_policy;
	char err[512] = "";
	uint32_t vid = 0;
	int ret;

	if (!check_running(r))
		return;
	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "create request without parameters");
	if (q->copies_set) {
		if (q->copies > 255 || q->copy_policy > 255)
			return fail(r, SD_RES_INVALID_PARMS, "copies out of range");
		copies = (uint8_t)q->copies;
		policy = (uint8_t)q->copy_policy;
		if (!policy && cluster_check_copies_fit(copies, err, sizeof(err)))
			return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	}
	ret = vdi_create(q->name, q->size, copies, policy, 0, &vid, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	c = ralloc(r, sizeof(*c));
	if (!c)
		return fail(r, SD_RES_NO_MEM, "VDI %s was created, but the reply ran out of memory",
			    q->name);
	sdctl__vdi_create_rsp__init(c);
	c->vid = vid;
	c->nr_objects = vdi_find_vid(&sys.vdis, vid)->map_len;
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_CREATE;
	r->rsp.vdi_create = c;
}

static void op_vdi_prealloc(struct reply *r, const Sdctl__VdiPreallocReq *q)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	char err[512] = "";
	int ret;

	if (!v)
		return;
	ret = vdi_prealloc(v, q->start, q->count, err, sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_vdi_delete(struct reply *r, const Sdctl__VdiNameReq *q)
{
	struct vdi *v = find_vdi_snap(r, q ? q->name : NULL, q ? q->snap : NULL);
	char err[512] = "";
	int ret;

	if (!v)
		return;
	ret = vdi_delete(v, err, sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_vdi_resize(struct reply *r, const Sdctl__VdiResizeReq *q)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	char err[512] = "";
	int ret;

	if (!v)
		return;
	ret = vdi_resize(v, q->size, err, sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_vdi_read(struct reply *r, const Sdctl__VdiReadReq *q)
{
	struct vdi *v = find_vdi_snap(r, q ? q->name : NULL, q ? q->snap : NULL);
	char err[512] = "";
	uint8_t *buf;
	int ret;

	if (!v)
		return;
	if (q->length > CTL_MAX_IO)
		return fail(r, SD_RES_INVALID_PARMS,
			    "read of %" PRIu32 " bytes: at most %u per request", q->length,
			    CTL_MAX_IO);
	buf = buf_get(q->length);
	if (!buf)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	r->io_buf = buf;
	r->io_len = q->length;
	ret = vdi_read(v, q->offset, q->length, buf, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_DATA;
	r->rsp.data.data = buf;
	r->rsp.data.len = q->length;
}

static void op_vdi_write(struct reply *r, const Sdctl__VdiWriteReq *q)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	char err[512] = "";
	int ret;

	if (!v)
		return;
	if (q->data.len > CTL_MAX_IO)
		return fail(r, SD_RES_INVALID_PARMS, "write of %zu bytes: at most %u per request",
			    q->data.len, CTL_MAX_IO);
	ret = vdi_write(v, q->offset, (uint32_t)q->data.len, q->data.data, err, sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_vdi_setattr(struct reply *r, const Sdctl__VdiAttrReq *q)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	char err[512] = "";
	int ret;

	if (!v)
		return;
	if (q->value.len > SD_MAX_VDI_ATTR_VALUE_LEN)
		return fail(r, SD_RES_INVALID_PARMS, "attribute value is %zu bytes, at most %d",
			    q->value.len, SD_MAX_VDI_ATTR_VALUE_LEN);
	ret = vdi_attr_set(v, q->key, q->value.data, (uint32_t)q->value.len, q->exclusive,
			   q->delete_, err, sizeof(err));
	if (ret)
		fail(r, ret, "%s", err);
}

static void op_vdi_getattr(struct reply *r, const Sdctl__VdiAttrReq *q)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	char err[512] = "";
	uint8_t *buf;
	uint32_t len = 0;
	int ret;

	if (!v)
		return;
	buf = ralloc(r, SD_MAX_VDI_ATTR_VALUE_LEN);
	if (!buf)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	ret = vdi_attr_get(v, q->key, buf, &len, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_DATA;
	r->rsp.data.data = buf;
	r->rsp.data.len = len;
}

static bool shutdown_requested;

bool ctl_shutdown_requested(void)
{
	return shutdown_requested;
}

static void dispatch(struct reply *r, const Sdctl__Request *q, struct ctl_call *call)
{
	if (sys.clustered && call && ctl_cluster_op(r, q, call))
		return;
	switch (q->op_case) {
	case SDCTL__REQUEST__OP_CLUSTER_FORMAT:
		return op_cluster_format(r, q->cluster_format);
	case SDCTL__REQUEST__OP_CLUSTER_INFO:
		return op_cluster_info(r);
	case SDCTL__REQUEST__OP_CLUSTER_SHUTDOWN:
		log_notice("shutdown requested by dog");
		shutdown_requested = true;
		return;
	case SDCTL__REQUEST__OP_NODE_LIST:
		return op_node_list(r);
	case SDCTL__REQUEST__OP_NODE_INFO:
		return op_node_info(r);
	case SDCTL__REQUEST__OP_NODE_KILL:
		/* This node only, as on SIGTERM; an sdcluster leader sees it leave (5 s). */
		log_notice("exiting: asked to by dog node kill");
		shutdown_requested = true;
		return;
	case SDCTL__REQUEST__OP_NODE_RECOVERY:
		return op_node_recovery(r);
	case SDCTL__REQUEST__OP_VDI_CHECK:
		return fail(r, SD_RES_NO_SUPPORT,
			    "this sheep is a cluster of one (the local driver): each object has "
			    "one copy, there are no copies to compare");
	case SDCTL__REQUEST__OP_RECOVERY_CTL:
		/* The sdcluster driver answers these (ctl_cluster.c). */
		return fail(
			r, SD_RES_NO_SUPPORT,
			"this sheep is a cluster of one (the local driver): there is no "
			"recovery to throttle or pause; it runs with --cluster-driver sdcluster");
	case SDCTL__REQUEST__OP_VDI_CREATE:
		return op_vdi_create(r, q->vdi_create);
	case SDCTL__REQUEST__OP_VDI_PREALLOC:
		return op_vdi_prealloc(r, q->vdi_prealloc);
	case SDCTL__REQUEST__OP_VDI_DELETE:
		return op_vdi_delete(r, q->vdi_delete);
	case SDCTL__REQUEST__OP_VDI_LIST:
		return op_vdi_list(r);
	case SDCTL__REQUEST__OP_VDI_RESIZE:
		return op_vdi_resize(r, q->vdi_resize);
	case SDCTL__REQUEST__OP_VDI_READ:
		return op_vdi_read(r, q->vdi_read);
	case SDCTL__REQUEST__OP_VDI_WRITE:
		return op_vdi_write(r, q->vdi_write);
	case SDCTL__REQUEST__OP_VDI_SETATTR:
		return op_vdi_setattr(r, q->vdi_setattr);
	case SDCTL__REQUEST__OP_VDI_GETATTR:
		return op_vdi_getattr(r, q->vdi_getattr);
	case SDCTL__REQUEST__OP_VDI_INFO:
		return op_vdi_info(r, q->vdi_info);
	case SDCTL__REQUEST__OP_OBJECT_LOCATION:
		return ctl_object_location(r, q->object_location);
	case SDCTL__REQUEST__OP_ORPHANS:
		return ctl_orphans(r, call);
	case SDCTL__REQUEST__OP_VDI_SNAPSHOT:
		return ctl_vdi_snapshot(r, q->vdi_snapshot, call);
	case SDCTL__REQUEST__OP_VDI_CLONE:
		return ctl_vdi_clone(r, q->vdi_clone, call);
	case SDCTL__REQUEST__OP_VDI_ROLLBACK:
		return ctl_vdi_rollback(r, q->vdi_rollback, call);
	case SDCTL__REQUEST__OP_VDI_MAP:
		return ctl_vdi_map(r, q->vdi_map);
	case SDCTL__REQUEST__OP_VDI_LOCK:
		return ctl_vdi_lock(r, q->vdi_lock, call);
	case SDCTL__REQUEST__OP_CLUSTER_ALTER_COPY:
		return ctl_alter_copy(r, q->cluster_alter_copy, call);
	case SDCTL__REQUEST__OP_VDI_ALTER_COPY:
		return ctl_vdi_alter_copy(r, q->vdi_alter_copy, call);
	default:
		fail(r, SD_RES_NO_SUPPORT, "unknown operation %d: is dog newer than this sheep?",
		     (int)q->op_case);
	}
}

static int append(uint8_t **out, size_t *out_len, size_t *out_cap, size_t need)
{
	if (*out_len + need > *out_cap) {
		size_t cap = *out_cap ? *out_cap : 4096;
		uint8_t *n;

		while (cap < *out_len + need)
			cap *= 2;
		n = realloc(*out, cap);
		if (!n)
			return -ENOMEM;
		*out = n;
		*out_cap = cap;
	}
	return 0;
}

#define CTL_REPLY_SMALL	  4096
#define CTL_REPLY_PER_VDI 640 /* a VdiInfo with a long name and tag */

size_t ctl_reply_bound(const uint8_t *payload, size_t len)
{
	Sdctl__Request *q;
	size_t bound = CTL_REPLY_SMALL;

	/*
	 * Requests with large replies (read, getattr, list) are small; a large frame is a write,
	 * whose reply is small: no need to decode (and copy) its 4 MiB twice.
	 */
	if (len > CTL_REPLY_SMALL)
		return bound;
	q = sdctl__request__unpack(NULL, len, payload);
	if (!q)
		return bound;
	switch (q->op_case) {
	case SDCTL__REQUEST__OP_VDI_READ:
		if (q->vdi_read)
			bound +=
				q->vdi_read->length < CTL_MAX_IO ? q->vdi_read->length : CTL_MAX_IO;
		break;
	case SDCTL__REQUEST__OP_VDI_GETATTR:
		bound += SD_MAX_VDI_ATTR_VALUE_LEN;
		break;
	case SDCTL__REQUEST__OP_VDI_LIST:
	case SDCTL__REQUEST__OP_VDI_LOCK:
		bound += (size_t)sys.vdis.nr * CTL_REPLY_PER_VDI;
		break;
	case SDCTL__REQUEST__OP_VDI_MAP:
		/* Varints of ids below 2^24: at most 4 bytes each (the count is checked later). */
		if (q->vdi_map)
			bound += (size_t)(q->vdi_map->count < 262144 ? q->vdi_map->count : 262144) *
				 4;
		break;
	default:
		break;
	}
	sdctl__request__free_unpacked(q, NULL);
	return bound;
}

int ctl_reply_pack(struct reply *r, uint8_t **out, size_t *out_len, size_t *out_cap)
{
	size_t size;
	int ret = 0;

	if (r->rsp.result != SDCTL__RESULT__SUCCESS) {
		r->rsp.body_case = SDCTL__RESPONSE__BODY__NOT_SET;
		r->rsp.message = r->msg;
	}
	size = sdctl__response__get_packed_size(&r->rsp);
	if (append(out, out_len, out_cap, CTL_FRAME_HDR + size)) {
		ret = -1;
	} else {
		ctl_frame_header(*out + *out_len, (uint32_t)size);
		sdctl__response__pack(&r->rsp, *out + *out_len + CTL_FRAME_HDR);
		*out_len += CTL_FRAME_HDR + size;
	}
	for (int i = 0; i < r->nr_allocs; i++)
		free(r->allocs[i]);
	buf_put(r->io_buf, r->io_len);
	free(r->allocs);
	r->allocs = NULL;
	r->nr_allocs = 0;
	r->io_buf = NULL;
	return ret;
}

void ctl_reply_answer(struct reply *r, struct ctl_call *call)
{
	uint8_t *out = NULL;
	size_t out_len = 0, out_cap = 0;

	if (ctl_reply_pack(r, &out, &out_len, &out_cap) == 0)
		call->answer(call, out, out_len);
	else
		call->answer(call, NULL, 0);
	free(out);
}

void ctl_reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	sdctl__response__init(&r->rsp);
	r->rsp.version = CTL_PROTO_VERSION;
}

/*
 * sdcluster: requests that read the cluster's state run once this node has applied what the
 * leader has committed (sdcluster_sync), so every node answers as the leader would. Requests
 * between sheep, and those about this node alone, run at once.
 */
static bool needs_sync(const Sdctl__Request *q)
{
	switch (q->op_case) {
	case SDCTL__REQUEST__OP_CLUSTER_JOIN:
	case SDCTL__REQUEST__OP_CLUSTER_PROPOSE:
	case SDCTL__REQUEST__OP_HEARTBEAT:
	case SDCTL__REQUEST__OP_NODE_KILL:
	case SDCTL__REQUEST__OP_NODE_INFO:
	case SDCTL__REQUEST__OP_NODE_RECOVERY:
	case SDCTL__REQUEST__OP_CLUSTER_FORMAT:
	case SDCTL__REQUEST__OP_CLUSTER_SHUTDOWN:
	case SDCTL__REQUEST__OP_ORPHANS:
		return false;
	default:
		return true;
	}
}

struct synced {
	struct ctl_call *call;
	size_t len;
	uint8_t payload[]; /* a copy of the request */
};

static int handle(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len,
		  size_t *out_cap, struct ctl_call *call, bool synced);

static void run_synced(void *arg, bool caught_up)
{
	struct synced *s = arg;
	uint8_t *out = NULL;
	size_t out_len = 0, out_cap = 0;
	int ret;

	(void)caught_up; /* not caught up: the local state answers, as best it can */
	ret = handle(s->payload, s->len, &out, &out_len, &out_cap, s->call, true);

	if (ret <= 0)
		s->call->answer(s->call, out, ret < 0 ? 0 : out_len);
	free(out);
	free(s);
}

int ctl_handle(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len, size_t *out_cap,
	       struct ctl_call *call)
{
	return handle(payload, len, out, out_len, out_cap, call, false);
}

static int handle(const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len,
		  size_t *out_cap, struct ctl_call *call, bool synced)
{
	Sdctl__Request *q = NULL;
	struct reply r;
	char why[512];
	int ret = 0;

	ctl_reply_init(&r);
	/* Checked before the unpack, which would cut a string at its first NUL. */
	if (ctl_strings_check(&sdctl__request__descriptor, payload, len, why, sizeof(why))) {
		fail(&r, SD_RES_INVALID_PARMS, "%s", why);
	} else if (!(q = sdctl__request__unpack(NULL, len, payload))) {
		return -1;
	} else if (q->version != CTL_PROTO_VERSION) {
		fail(&r, SD_RES_VER_MISMATCH,
		     "protocol version %u is not %u: use a dog of the same version as this sheep",
		     q->version, CTL_PROTO_VERSION);
	} else if (sys.clustered && call && !synced && needs_sync(q)) {
		struct synced *s = malloc(sizeof(*s) + len);

		if (!s) {
			fail(&r, SD_RES_NO_MEM, "out of memory");
		} else {
			s->call = call;
			s->len = len;
			memcpy(s->payload, payload, len);
			r.async = true;
			sdcluster_sync(run_synced, s);
		}
	} else {
		dispatch(&r, q, call);
	}
	if (r.async) {
		for (int i = 0; i < r.nr_allocs; i++)
			free(r.allocs[i]);
		free(r.allocs);
		ret = 1;
	} else {
		ret = ctl_reply_pack(&r, out, out_len, out_cap);
	}
	if (q)
		sdctl__request__free_unpacked(q, NULL);
	return ret;
}
