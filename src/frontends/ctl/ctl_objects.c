/*
 * Questions about objects on disk: where one object should be and whether this node has it
 * (dog vdi object location asks every node), and which of this node's objects no VDI owns any
 * more (dog cluster check's orphan report: a VDI deleted while this node was away leaves its
 * copies here). The orphan scan reads the object directory a batch per tick (obj_scan.h) and
 * answers when it is through.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../cluster/cluster_view.h"
#include "../../cluster/obj_scan.h"
#include "../../cluster/sys.h"
#include "../../core/evloop.h"
#include "../../core/log.h"
#include "../../core/oid.h"
#include "../../core/result.h"
#include "../../io/store.h"
#include "ctl_reply.h"
#include "ctl_server.h"

#define ORPHANS_BATCH	1024 /* directory entries per tick */
#define ORPHANS_TICK_MS 2
#define ORPHANS_LISTED	1000 /* orphans named in the answer; the count covers all */

static bool have_object(uint64_t oid)
{
	char path[64];

	if (store_obj_path(sys.store->kind, oid, 0, path, sizeof(path)))
		return false;
	return faccessat(sys.store->objdir_fd, path, F_OK, 0) == 0;
}

void ctl_object_location(struct reply *r, const Sdctl__ObjectLocationReq *q)
{
	const struct cluster_view *view = cluster_view_latest();
	Sdctl__ObjectLocationRsp *rsp;
	struct vdi *v;
	int idx[SD_MAX_COPIES], n;

	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "object location without parameters");
	if (!check_running(r) || !(v = find_vdi(r, q->name)))
		return;
	if (q->has_index && (uint64_t)q->index << v->hdr.block_size_shift >= v->hdr.vdi_size)
		return fail(r, SD_RES_INVALID_PARMS,
			    "index %u is past the end of VDI %s (%" PRIu64 " objects)", q->index,
			    v->hdr.name, v->hdr.vdi_size >> v->hdr.block_size_shift);
	if (!view)
		return fail(r, SD_RES_HALT, "this node has no view of the cluster yet");
	if (!(rsp = ralloc(r, sizeof(*rsp))))
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__object_location_rsp__init(rsp);
	rsp->vid = v->hdr.vdi_id;
	rsp->index = q->has_index ? q->index : 0;
	rsp->oid = q->has_index ? vid_to_data_oid(rsp->vid, q->index) : vid_to_vdi_oid(rsp->vid);
	rsp->copies = v->hdr.nr_copies ? v->hdr.nr_copies : 1;
	rsp->here = !sys.gateway && have_object(rsp->oid);
	n = ring_place(&view->ring, rsp->oid, (int)rsp->copies, idx);
	rsp->placed = ralloc(r, sizeof(*rsp->placed) * (size_t)(n + 1));
	for (int i = 0; rsp->placed && i < n; i++)
		rsp->placed[rsp->n_placed++] = node_msg(r, &view->ring.nodes[idx[i]]);
	r->rsp.body_case = SDCTL__RESPONSE__BODY_OBJECT_LOCATION;
	r->rsp.object_location = rsp;
}

/* Orphans */

struct orphan_scan {
	struct ctl_call *call;
	struct obj_scan *scan;
	struct evloop_timer tick;
	uint64_t nr_objects, nr_orphans;
	uint64_t listed[ORPHANS_LISTED];
};

/* No VDI, live or deleted and still known, owns it. */
static bool is_orphan(uint64_t oid)
{
	const struct vdi *v = vdi_find_vid(&sys.vdis, oid_to_vid(oid));

	return !v || inode_is_deleted(&v->hdr);
}

static void orphans_answer(struct orphan_scan *o, int err)
{
	struct reply r;
	Sdctl__OrphansRsp *rsp;

	ctl_reply_init(&r);
	if (err) {
		fail(&r, SD_RES_SYSTEM_ERROR, "cannot read %s: %s", sys.store->objdir,
		     strerror(err));
	} else if (!(rsp = ralloc(&r, sizeof(*rsp)))) {
		fail(&r, SD_RES_NO_MEM, "out of memory");
	} else {
		sdctl__orphans_rsp__init(rsp);
		rsp->nr_objects = o->nr_objects;
		rsp->nr_orphans = o->nr_orphans;
		rsp->n_orphans = o->nr_orphans < ORPHANS_LISTED ? o->nr_orphans : ORPHANS_LISTED;
		rsp->orphans = o->listed;
		r.rsp.body_case = SDCTL__RESPONSE__BODY_ORPHANS;
		r.rsp.orphans = rsp;
	}
	ctl_reply_answer(&r, o->call);
	obj_scan_close(o->scan);
	free(o);
}

static void orphans_step(void *arg)
{
	struct orphan_scan *o = arg;
	uint64_t oids[ORPHANS_BATCH];
	size_t n = obj_scan_next(o->scan, oids, ORPHANS_BATCH);

	for (size_t i = 0; i < n; i++) {
		o->nr_objects++;
		if (!is_orphan(oids[i]))
			continue;
		if (o->nr_orphans < ORPHANS_LISTED)
			o->listed[o->nr_orphans] = oids[i];
		o->nr_orphans++;
	}
	if (n)
		return;
	evloop_timer_stop(ctl_loop(), &o->tick);
	log_info("dog cluster check: %" PRIu64 " orphan objects among %" PRIu64 " here",
		 o->nr_orphans, o->nr_objects);
	orphans_answer(o, 0);
}

void ctl_orphans(struct reply *r, struct ctl_call *call)
{
	struct orphan_scan *o;

	if (!call)
		return fail(r, SD_RES_INVALID_PARMS, "an orphan scan answers later: not here");
	if (!check_running(r))
		return;
	if (!(o = calloc(1, sizeof(*o))))
		return fail(r, SD_RES_NO_MEM, "out of memory");
	o->call = call;
	if (!(o->scan = obj_scan_open())) {
		int e = errno;

		free(o);
		return fail(r, SD_RES_SYSTEM_ERROR, "cannot read %s: %s", sys.store->objdir,
			    strerror(e));
	}
	r->async = true;
	evloop_timer_init(&o->tick, orphans_step, o);
	evloop_timer_start(ctl_loop(), &o->tick, 0, ORPHANS_TICK_MS);
}
