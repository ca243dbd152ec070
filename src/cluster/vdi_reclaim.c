/* Freeing objects that no VDI names any more (vdi_reclaim.h). */
#include "vdi_reclaim.h"

#include <inttypes.h>
#include <stdlib.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../io/obj_fence.h"
#include "obj_reaper.h"
#include "obj_sweep.h"
#include "sys.h"
#include "vdi_internal.h"
#include "vdi_retired.h"

static void add(struct vdi_garbage *g, uint64_t oid)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		uint64_t *n = realloc(g->oids, sizeof(*n) * cap);

		if (!n) {
			g->nomem = true;
			return;
		}
		g->oids = n;
		g->cap = cap;
	}
	g->oids[g->n++] = oid;
}

bool vdi_obj_referenced(uint32_t vid, uint32_t idx)
{
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (v->hdr.name[0] && idx < v->map_len && v->map[idx] == vid)
			return true;
	}
	return false;
}

/* Whether any live VDI's map names vid anywhere. */
static bool any_reference(uint32_t vid)
{
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (!v->hdr.name[0])
			continue;
		for (uint32_t k = 0; k < v->map_len; k++)
			if (v->map[k] == vid)
				return true;
	}
	return false;
}

/* A deleted VDI nothing names any more: its inode and attribute objects go. */
static void release_inode(struct vdi *d, struct vdi_garbage *g)
{
	add(g, vid_to_vdi_oid(d->hdr.vdi_id));
	for (int i = 0; i < d->nr_attrs; i++)
		add(g, d->attr_oids[i]);
	free(d->attr_oids);
	d->attr_oids = NULL;
	d->nr_attrs = 0;
	d->inode_kept = false;
	g->released++;
	/* Its objects are all garbage now: none may be created or installed again. */
	if (obj_fence_set(d->hdr.vdi_id, true))
		log_warn("out of memory fencing VDI id %" PRIx32, d->hdr.vdi_id);
	log_info("VDI id %" PRIx32 ": no VDI uses its objects any more; its inode goes",
		 d->hdr.vdi_id);
}

void vdi_unref(uint32_t old, uint32_t idx, struct vdi_garbage *g)
{
	struct vdi *d;

	if (!old || vdi_obj_referenced(old, idx))
		return;
	add(g, vid_to_data_oid(old, idx));
	d = vdi_find_vid(&sys.vdis, old);
	if (!d || d->hdr.name[0] || !d->inode_kept)
		return;
	/* Whether it was the last: looked at once per VDI, when the garbage is disposed of. */
	for (size_t i = 0; i < g->nr_check; i++)
		if (g->check[i] == old)
			return;
	if (g->nr_check == g->cap_check) {
		size_t cap = g->cap_check ? g->cap_check * 2 : 8;
		uint32_t *n = realloc(g->check, sizeof(*n) * cap);

		if (!n) {
			g->nomem = true;
			return;
		}
		g->check = n;
		g->cap_check = cap;
	}
	g->check[g->nr_check++] = old;
}

void vdi_release_all(struct vdi *v, struct vdi_garbage *g)
{
	uint32_t vid = v->hdr.vdi_id;

	for (uint32_t i = 0; i < v->map_len; i++) {
		uint32_t e = v->map[i];

		if (e && e != vid)
			vdi_unref(e, i, g);
		else if (e == vid && !vdi_obj_referenced(vid, i))
			add(g, vid_to_data_oid(vid, i));
	}
	free(v->map);
	v->map = NULL;
	v->map_len = v->nr_owned = v->nr_shared = 0;
	v->inode_kept = any_reference(vid);
	obj_sweep_kick(); /* copies that writes racing the delete left */
	if (v->inode_kept)
		log_info("VDI id %" PRIx32 ": deleted; clones or later snapshots still use some of "
			 "its objects, which stay until they no longer do",
			 vid);
	else
		release_inode(v, g);
}

static void settle(struct vdi_garbage *g)
{
	for (size_t i = 0; i < g->nr_check; i++) {
		struct vdi *d = vdi_find_vid(&sys.vdis, g->check[i]);

		if (d && !d->hdr.name[0] && d->inode_kept && !any_reference(d->hdr.vdi_id))
			release_inode(d, g);
	}
	free(g->check);
	g->check = NULL;
	g->nr_check = g->cap_check = 0;
}

void vdi_garbage_forget(struct vdi_garbage *g)
{
	settle(g);
	free(g->oids);
	g->oids = NULL;
	g->n = g->cap = 0;
}

int vdi_garbage_dispose(struct vdi_garbage *g, bool background)
{
	int failed = 0;

	settle(g);
	if (g->nomem)
		log_warn("out of memory listing objects to free; the orphan scan (dog cluster "
			 "check) "
			 "will find the rest");
	if (g->n) {
		if (background) {
			if (obj_reaper_add(g->oids, g->n))
				log_warn("out of memory queueing %zu objects for removal; they "
					 "stay on "
					 "disk until the orphan scan",
					 g->n);
		} else {
			failed = vdi_remove_objects(g->oids, g->n);
			/* Only its id is left: it stays used across restarts. */
			if (g->released)
				vdi_retired_save();
		}
	}
	free(g->oids);
	g->oids = NULL;
	g->n = g->cap = 0;
	return failed;
}
