/*
 * After every member recovered an epoch: this node's copies that the epoch does not place on it
 * are not needed as sources any more. The object directory is read a batch per timer tick (the
 * control thread must not stall), and the copies go through the reaper, in the background. A
 * newer epoch stops the scan: its own recovery ends with a purge of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "../../core/log.h"
#include "../../core/oid.h"
#include "../cluster_view.h"
#include "../obj_reaper.h"
#include "../obj_scan.h"
#include "../sys.h"
#include "recovery.h"

#define PURGE_BATCH   512 /* directory entries per tick */
#define PURGE_TICK_MS 5

static struct evloop *loop;
static struct evloop_timer tick;
static bool ticking;
static uint32_t purge_epoch;
static struct obj_scan *scan;
static uint64_t removed;

/* Whether this node holds oid in view v; objects of unknown VDIs stay (dog cluster check). */
static bool placed_here(const struct cluster_view *v, uint64_t oid)
{
	const struct vdi *vdi = vdi_find_vid(&sys.vdis, oid_to_vid(oid));
	int idx[SD_MAX_COPIES], n;

	if (!vdi || !(oid_is_data(oid) || oid_is_inode(oid)))
		return true;
	n = ring_place(&v->ring, oid, vdi->hdr.nr_copies ? vdi->hdr.nr_copies : 1, idx);
	for (int i = 0; i < n; i++)
		if (idx[i] == v->self)
			return true;
	return false;
}

static void finish(const char *why)
{
	obj_scan_close(scan);
	scan = NULL;
	if (ticking)
		evloop_timer_stop(loop, &tick);
	ticking = false;
	if (why)
		log_info("recovery: purge of epoch %u %s after %" PRIu64 " copies", purge_epoch,
			 why, removed);
}

static void purge_some(void *arg)
{
	const struct cluster_view *v = cluster_view_latest();
	uint64_t oids[PURGE_BATCH];
	size_t got, n = 0;

	(void)arg;
	if (!v || v->epoch != purge_epoch || v->self < 0) {
		finish("stopped by a newer epoch");
		return;
	}
	got = obj_scan_next(scan, oids, PURGE_BATCH);
	for (size_t i = 0; i < got; i++)
		if (!placed_here(v, oids[i]))
			oids[n++] = oids[i];
	if (n && obj_reaper_add(oids, n))
		log_warn("recovery: out of memory queueing copies to remove; they stay on disk");
	removed += n;
	if (!got)
		finish("done");
}

void recovery_purge_start(struct evloop *l, uint32_t epoch)
{
	finish(NULL);
	loop = l;
	purge_epoch = epoch;
	removed = 0;
	if (!(scan = obj_scan_open())) {
		log_err("recovery: cannot read %s to remove copies not held any more: %s",
			sys.store->objdir, strerror(errno));
		return;
	}
	evloop_timer_init(&tick, purge_some, NULL);
	evloop_timer_start(loop, &tick, 0, PURGE_TICK_MS);
	ticking = true;
}

void recovery_purge_stop(void)
{
	finish(scan ? "stopped" : NULL);
}
