/* The background garbage sweep of this node's objects (obj_sweep.h). */
#include "obj_sweep.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/evloop.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "cluster_view.h"
#include "obj_reaper.h"
#include "obj_scan.h"
#include "sys.h"
#include "vdi_reclaim.h"

#define SWEEP_BATCH   1024 /* directory entries per tick */
#define SWEEP_TICK_MS 2

static struct evloop *loop;
static struct evloop_timer tick, delay;
static struct obj_scan *scan;
static uint64_t nr_seen, nr_removed;
static bool started, again;

static bool is_garbage(uint64_t oid)
{
	const struct vdi *v = vdi_find_vid(&sys.vdis, oid_to_vid(oid));

	if (!v)
		return false; /* unknown here: a create not applied yet, or another cluster's */
	if (oid_is_data(oid))
		return (!v->hdr.name[0] || v->hdr.snap_ctime) &&
		       !vdi_obj_referenced(oid_to_vid(oid), oid_to_idx(oid));
	if (oid_is_inode(oid) || oid_is_attr(oid))
		return !v->hdr.name[0] && !v->inode_kept;
	return false;
}

/* Whether what this node knows is the cluster's: caught up, and not cut off. */
static bool current(void)
{
	const struct cluster_view *v = cluster_view_latest();

	if (!sys.cfg.ctime)
		return false;
	return !sys.clustered || (v && v->ready && v->writable);
}

static void finish(void)
{
	evloop_timer_stop(loop, &tick);
	obj_scan_close(scan);
	scan = NULL;
	if (nr_removed)
		log_info("garbage sweep: %" PRIu64 " of %" PRIu64 " objects here were used by no "
			 "VDI any more; removed",
			 nr_removed, nr_seen);
	if (again) {
		again = false;
		evloop_timer_stop(loop, &delay);
		evloop_timer_start(loop, &delay, SWEEP_DELAY_MS, SWEEP_PERIOD_S * 1000);
	}
}

static void step(void *arg)
{
	uint64_t oids[SWEEP_BATCH], garbage[SWEEP_BATCH];
	size_t n, k = 0;

	(void)arg;
	/* A view change or a halt midway: the table may be an old one; start over later. */
	if (!current()) {
		again = true;
		finish();
		return;
	}
	n = obj_scan_next(scan, oids, SWEEP_BATCH);
	for (size_t i = 0; i < n; i++) {
		nr_seen++;
		if (is_garbage(oids[i]))
			garbage[k++] = oids[i];
	}
	if (k && obj_reaper_add(garbage, k) == 0)
		nr_removed += k;
	if (!n)
		finish();
}

static void begin(void *arg)
{
	(void)arg;
	if (scan) {
		again = true; /* a kick during a sweep: one more after it */
		return;
	}
	if (!current())
		return; /* the next period, or kick, tries again */
	scan = obj_scan_open();
	if (!scan) {
		log_warn("garbage sweep: cannot read %s: %s", sys.store->objdir, strerror(errno));
		return;
	}
	nr_seen = nr_removed = 0;
	evloop_timer_start(loop, &tick, 0, SWEEP_TICK_MS);
}

void obj_sweep_start(struct evloop *l)
{
	loop = l;
	evloop_timer_init(&tick, step, NULL);
	evloop_timer_init(&delay, begin, NULL);
	evloop_timer_start(loop, &delay, SWEEP_DELAY_MS, SWEEP_PERIOD_S * 1000);
	started = true;
}

void obj_sweep_kick(void)
{
	if (!started)
		return;
	if (scan) {
		again = true;
		return;
	}
	evloop_timer_stop(loop, &delay);
	evloop_timer_start(loop, &delay, SWEEP_DELAY_MS, SWEEP_PERIOD_S * 1000);
}

void obj_sweep_stop(void)
{
	if (!started)
		return;
	evloop_timer_stop(loop, &delay);
	evloop_timer_stop(loop, &tick);
	obj_scan_close(scan);
	scan = NULL;
	started = false;
}
