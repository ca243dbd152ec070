/* sdcluster: writes each VDI's inode object from the state machine (inode_sync.h). */
#include "inode_sync.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/byteorder.h"
#include "../../core/inode.h"
#include "../../core/list.h"
#include "../../core/log.h"
#include "../../core/oid.h"
#include "../../gateway/gw.h"
#include "../cluster_view.h"
#include "../sys.h"

#define INODE_SYNC_INFLIGHT 8
#define INODE_SYNC_CHUNK    65536u /* map entries per write: 256 KiB */

/* What is still to write for one VDI. */
struct pending {
	uint32_t vid;
	bool header, map, busy;
	uint32_t first, last; /* map entries, when map */
};

/* One write in flight; owns its buffer. */
struct inode_write {
	struct gw_req g;
	uint32_t vid;
	int slot;
	uint8_t buf[];
};

static struct pending *pend;
static int nr_pend, cap_pend;
/* The writes in flight: a write still out at exit is not a leak. */
static struct inode_write *slots[INODE_SYNC_INFLIGHT];
static int inflight;
static bool stopped;

static void pump(void);

static struct pending *pending_of(uint32_t vid)
{
	for (int i = 0; i < nr_pend; i++)
		if (pend[i].vid == vid)
			return &pend[i];
	if (nr_pend == cap_pend) {
		int cap = cap_pend ? cap_pend * 2 : 16;
		struct pending *p = realloc(pend, sizeof(*p) * (size_t)cap);

		if (!p) {
			log_warn("out of memory: the inode object of VDI id %" PRIx32
				 " is written at the next epoch",
				 vid);
			return NULL;
		}
		pend = p;
		cap_pend = cap;
	}
	pend[nr_pend] = (struct pending){ .vid = vid };
	return &pend[nr_pend++];
}

static void forget(struct pending *p)
{
	*p = pend[--nr_pend];
}

static void mark_map(struct pending *p, uint32_t first, uint32_t last)
{
	if (!p->map) {
		p->first = first;
		p->last = last;
		p->map = true;
		return;
	}
	if (first < p->first)
		p->first = first;
	if (last > p->last)
		p->last = last;
}

void inode_sync_header(uint32_t vid)
{
	struct pending *p = pending_of(vid);

	if (p)
		p->header = true;
	pump();
}

void inode_sync_map(uint32_t vid, uint32_t first, uint32_t last)
{
	struct pending *p = first <= last ? pending_of(vid) : NULL;

	if (p)
		mark_map(p, first, last);
	pump();
}

static uint8_t copies_of(const struct vdi *v)
{
	return v->hdr.nr_copies ? v->hdr.nr_copies : (sys.cfg.copies ? sys.cfg.copies : 1);
}

/* Whether this node writes vid's inode in view v: it is the inode object's first holder. */
static bool is_primary(const struct cluster_view *v, const struct vdi *vdi)
{
	int idx[SD_MAX_COPIES];
	int n = ring_place(&v->ring, vid_to_vdi_oid(vdi->hdr.vdi_id), copies_of(vdi), idx);

	return n > 0 && idx[0] == v->self;
}

void inode_sync_view_changed(void)
{
	const struct cluster_view *v = cluster_view_latest();

	if (!v || !v->ready || !v->writable || !v->epoch || v->self < 0)
		return;
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *vdi = sys.vdis.v[i];
		struct pending *p;

		if (!vdi->hdr.name[0] || !is_primary(v, vdi))
			continue;
		if (!(p = pending_of(vdi->hdr.vdi_id)))
			break;
		p->header = true;
		if (vdi->map_len)
			mark_map(p, 0, vdi->map_len - 1);
	}
	pump();
}

static void write_done(struct gw_req *g)
{
	struct inode_write *w = container_of(g, struct inode_write, g);
	struct vdi *v = vdi_find_live(&sys.vdis, w->vid);

	inflight--;
	slots[w->slot] = NULL;
	for (int i = 0; i < nr_pend; i++)
		if (pend[i].vid == w->vid)
			pend[i].busy = false;
	/* A VDI deleted meanwhile refuses the write (its id is fenced): nothing to say. */
	if (g->result < 0 && v && g->result != -ESTALE && g->result != -EL2NSYNC)
		log_warn("the inode object %016" PRIx64 " of VDI %s was not written: %s%s%s; it is "
			 "written again at the next epoch",
			 g->oid, v->hdr.name, strerror(-g->result), g->why[0] ? ": " : "", g->why);
	free(w);
	pump();
}

/*
 * The next write for p from the state as it is now: the header first, then the map in chunks.
 * NULL when there is nothing (more) to write (p is to be forgotten) or no memory.
 */
static struct inode_write *next_write(struct pending *p, const struct vdi *v)
{
	struct inode_write *w;
	uint64_t offset;
	uint32_t len;

	if (p->header) {
		if (!(w = malloc(sizeof(*w) + SD_INODE_HEADER_SIZE)))
			return NULL;
		p->header = false;
		inode_hdr_encode(&v->hdr, w->buf);
		offset = 0;
		len = SD_INODE_HEADER_SIZE;
	} else {
		uint32_t last = p->last < v->map_len ? p->last : v->map_len - 1;
		uint32_t n;

		if (!p->map || !v->map_len || p->first > last) {
			p->map = false;
			return NULL;
		}
		n = last - p->first + 1 < INODE_SYNC_CHUNK ? last - p->first + 1 : INODE_SYNC_CHUNK;
		if (!(w = malloc(sizeof(*w) + (size_t)n * 4)))
			return NULL;
		for (uint32_t i = 0; i < n; i++)
			put_le32(w->buf + 4 * i, v->map[p->first + i]);
		offset = inode_map_offset(p->first);
		len = n * 4;
		if (p->first + n > last)
			p->map = false;
		else
			p->first += n;
	}
	w->vid = v->hdr.vdi_id;
	/*
	 * No retries across epochs: after an epoch change this node may no longer be the one to
	 * write, and its content could land after the new writer's; the view change rewrites it.
	 */
	w->g = (struct gw_req){ .op = GW_WRITE,
				.flags = GW_F_CREATE | GW_F_ONE_EPOCH,
				.copies = copies_of(v),
				.oid = vid_to_vdi_oid(v->hdr.vdi_id),
				.offset = offset,
				.length = len,
				.buf = w->buf,
				.done = write_done };
	return w;
}

static void pump(void)
{
	const struct cluster_view *view = cluster_view_latest();

	/* Not writable or not caught up: the next view (ready) rewrites everything anyway. */
	if (stopped || !view || !view->ready || !view->writable || !view->epoch || view->self < 0)
		return;
	for (int i = 0; i < nr_pend && inflight < INODE_SYNC_INFLIGHT;) {
		struct pending *p = &pend[i];
		struct vdi *v = vdi_find_live(&sys.vdis, p->vid);
		struct inode_write *w;

		if (p->busy) {
			i++;
			continue;
		}
		/* Deleted (its copies are being removed), gone, or another node's to write. */
		if (!v || !is_primary(view, v)) {
			forget(p); /* the last entry moves to i */
			continue;
		}
		if (!(w = next_write(p, v))) {
			if (!p->header && !p->map)
				forget(p);
			else
				i++; /* out of memory: tried again at the next change */
			continue;
		}
		p->busy = true;
		for (w->slot = 0; slots[w->slot]; w->slot++)
			;
		slots[w->slot] = w;
		inflight++;
		gw_submit(&w->g);
		i++;
	}
}

void inode_sync_stop(void)
{
	stopped = true;
	free(pend);
	pend = NULL;
	nr_pend = cap_pend = 0;
}
