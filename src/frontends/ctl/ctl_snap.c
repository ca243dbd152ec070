/*
 * dog vdi snapshot, clone, rollback and delete -s: the same checks on every driver, then the
 * change itself, directly on one node (the local driver) or as a command in the cluster's log,
 * answered once applied here (ctl_cluster.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../cluster/sys.h"
#include "../../core/result.h"
#include "cluster.pb-c.h"
#include "ctl_reply.h"

struct vdi *find_vdi_snap(struct reply *r, const char *name, const char *snap)
{
	struct vdi *v;

	if (!snap || !snap[0])
		return find_vdi(r, name);
	if (!check_running(r))
		return NULL;
	v = vdi_find_snapshot(&sys.vdis, name ? name : "", snap);
	if (!v)
		fail(r, SD_RES_NO_VDI, "VDI %s has no snapshot '%s': see 'dog vdi list'",
		     name ? name : "", snap);
	return v;
}

static uint64_t now_ctime(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec << 32 | (uint64_t)now.tv_nsec;
}

/* The answer of a change that made the VDI vid (local driver). */
static void created(struct reply *r, uint32_t vid)
{
	Sdctl__VdiCreateRsp *c = ralloc(r, sizeof(*c));
	struct vdi *v = vdi_find_vid(&sys.vdis, vid);

	if (!c || !v)
		return;
	sdctl__vdi_create_rsp__init(c);
	c->vid = vid;
	c->nr_objects = v->map_len;
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_CREATE;
	r->rsp.vdi_create = c;
}

void ctl_alter_copy(struct reply *r, uint32_t copies, struct ctl_call *call)
{
	char err[512];
	int ret;

	if (!check_running(r))
		return;
	if (!copies || copies > SD_MAX_COPIES)
		return fail(r, SD_RES_INVALID_PARMS, "copies must be 1 to %d, not %u",
			    SD_MAX_COPIES, copies);
	if (cluster_check_copies_fit((uint8_t)copies, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	if (sys.clustered) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;

		cmd.op_case = SDCL__COMMAND__OP_ALTER_COPIES;
		cmd.alter_copies = copies;
		return ctl_propose_plain(r, call, &cmd, "alter-copy", "the cluster");
	}
	ret = cluster_alter_copies(copies);
	if (ret)
		fail(r, ret, "cannot change the cluster's copies: %s", sd_strerror(ret));
}

/* dog vdi alter-copy: a standalone, replicated VDI's copies (the next epoch moves them). */
void ctl_vdi_alter_copy(struct reply *r, const Sdctl__VdiResizeReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	uint64_t copies = q ? q->size : 0;
	char err[512];
	bool standalone;

	if (!v)
		return;
	standalone = !v->hdr.parent_vdi_id && !v->nr_shared;
	for (int i = 0; standalone && i < sys.vdis.nr; i++)
		standalone = !(sys.vdis.v[i]->hdr.parent_vdi_id == v->hdr.vdi_id &&
			       sys.vdis.v[i]->hdr.name[0]);
	if (!standalone)
		return fail(r, SD_RES_INVALID_PARMS,
			    "Only standalone vdi supports changing redundancy level. (%s has "
			    "snapshots or clones that share its objects)",
			    q->name);
	if (v->hdr.copy_policy)
		return fail(r, SD_RES_INVALID_PARMS,
			    "VDI %s is erasure coded: only replicated VDIs change their copies",
			    q->name);
	if (!copies || copies > SD_MAX_COPIES)
		return fail(r, SD_RES_INVALID_PARMS, "copies must be 1 to %d", SD_MAX_COPIES);
	if (copies == v->hdr.nr_copies)
		return;
	if (cluster_check_copies_fit((uint8_t)copies, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	if (sys.clustered) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__VdiAlterCopy a = SDCL__VDI_ALTER_COPY__INIT;

		a.vid = v->hdr.vdi_id;
		a.copies = (uint32_t)copies;
		cmd.op_case = SDCL__COMMAND__OP_VDI_ALTER_COPY;
		cmd.vdi_alter_copy = &a;
		return ctl_propose_plain(r, call, &cmd, "alter-copy", q->name);
	}
	fail(r, SD_RES_INVALID_PARMS, "a single node keeps one copy of each object");
}

#define CTL_MAP_MAX 262144

void ctl_vdi_map(struct reply *r, const Sdctl__VdiMapReq *q)
{
	struct vdi *v = find_vdi_snap(r, q ? q->name : NULL, q ? q->snap : NULL);
	Sdctl__VdiMapRsp *m;
	uint32_t n;

	if (!v)
		return;
	if (q->count > CTL_MAP_MAX)
		return fail(r, SD_RES_INVALID_PARMS, "map request of %u entries: at most %u",
			    q->count, CTL_MAP_MAX);
	n = q->first >= v->map_len ? 0 : v->map_len - q->first;
	n = n < q->count ? n : q->count;
	m = ralloc(r, sizeof(*m));
	if (!m)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__vdi_map_rsp__init(m);
	if (n)
		m->entries = ralloc(r, sizeof(*m->entries) * n);
	if (n && !m->entries)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	memcpy(m->entries, v->map + q->first, sizeof(*m->entries) * n);
	m->n_entries = n;
	m->vid = v->hdr.vdi_id;
	m->size = v->hdr.vdi_size;
	m->block_size_shift = v->hdr.block_size_shift;
	m->map_len = v->map_len;
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_MAP;
	r->rsp.vdi_map = m;
}

void ctl_vdi_snapshot(struct reply *r, const Sdctl__VdiSnapshotReq *q, struct ctl_call *call)
{
	struct vdi *v = find_vdi(r, q ? q->name : NULL);
	const char *tag = q && q->tag ? q->tag : "";
	char err[512] = "";
	uint32_t vid;
	int ret;

	if (!v)
		return;
	if (vdi_tag_check(tag, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	if (tag[0] && vdi_find_snapshot(&sys.vdis, q->name, tag))
		return fail(r, SD_RES_VDI_EXIST, "VDI %s already has a snapshot tagged '%s'",
			    q->name, tag);
	if (sys.clustered) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__VdiSnapshot s = SDCL__VDI_SNAPSHOT__INIT;

		s.vid = v->hdr.vdi_id;
		s.tag = (char *)tag;
		s.create_time = now_ctime();
		cmd.op_case = SDCL__COMMAND__OP_VDI_SNAPSHOT;
		cmd.vdi_snapshot = &s;
		return ctl_propose_create(r, call, &cmd, "snapshot", q->name);
	}
	ret = vdi_snapshot(v, tag, 0, &vid, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	created(r, vid);
}

void ctl_vdi_clone(struct reply *r, const Sdctl__VdiCloneReq *q, struct ctl_call *call)
{
	struct vdi *s;
	char err[512] = "";
	uint32_t vid;
	int ret;

	if (!q || !q->snap || !q->snap[0])
		return fail(r, SD_RES_INVALID_PARMS,
			    "Only snapshot VDIs can be cloned: name one "
			    "with -s TAG or -s ID");
	if (!(s = find_vdi_snap(r, q->src, q->snap)))
		return;
	if (vdi_name_check(q->dst, err, sizeof(err)))
		return fail(r, SD_RES_INVALID_PARMS, "%s", err);
	if (vdi_find_name(&sys.vdis, q->dst))
		return fail(r, SD_RES_VDI_EXIST, "VDI %s already exists", q->dst);
	if (sys.clustered) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__VdiClone c = SDCL__VDI_CLONE__INIT;

		c.snap_vid = s->hdr.vdi_id;
		c.name = q->dst;
		c.create_time = now_ctime();
		cmd.op_case = SDCL__COMMAND__OP_VDI_CLONE;
		cmd.vdi_clone = &c;
		return ctl_propose_create(r, call, &cmd, "clone", q->dst);
	}
	ret = vdi_clone(s, q->dst, 0, &vid, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	created(r, vid);
}

void ctl_vdi_rollback(struct reply *r, const Sdctl__VdiRollbackReq *q, struct ctl_call *call)
{
	struct vdi *cur, *s;
	char err[512] = "";
	uint32_t vid;
	int ret;

	if (!q || !q->snap || !q->snap[0])
		return fail(r, SD_RES_INVALID_PARMS,
			    "a rollback needs the snapshot: -s TAG or -s ID");
	if (!(cur = find_vdi(r, q->name)) || !(s = find_vdi_snap(r, q->name, q->snap)))
		return;
	if (sys.clustered) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__VdiRollback rb = SDCL__VDI_ROLLBACK__INIT;

		rb.vid = cur->hdr.vdi_id;
		rb.snap_vid = s->hdr.vdi_id;
		rb.create_time = now_ctime();
		cmd.op_case = SDCL__COMMAND__OP_VDI_ROLLBACK;
		cmd.vdi_rollback = &rb;
		return ctl_propose_create(r, call, &cmd, "rollback", q->name);
	}
	ret = vdi_rollback(cur, s, 0, true, &vid, err, sizeof(err));
	if (ret)
		return fail(r, ret, "%s", err);
	created(r, vid);
}
