/*
 * Start-up: rebuild the VDI table from the inode objects on disk, then sweep garbage left by an
 * interrupted delete or by a write whose map update never happened (such writes were never
 * acknowledged). Objects of a VDI whose inode cannot be read are kept, never guessed away; only
 * an inode that a create never finished writing (no header at all, no objects) is removed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/byteorder.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "../io/obj_fence.h"
#include "../io/obj_io.h"
#include "sys.h"
#include "vdi_share.h"
#include "vdi_internal.h"
#include "vdi_retired.h"

struct oid_vec {
	uint64_t *v;
	size_t n, cap;
};

static int vec_push(struct oid_vec *vec, uint64_t oid)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 1024;
		uint64_t *nv = realloc(vec->v, sizeof(*nv) * cap);

		if (!nv)
			return -ENOMEM;
		vec->v = nv;
		vec->cap = cap;
	}
	vec->v[vec->n++] = oid;
	return 0;
}

struct scan {
	struct oid_vec inodes, attrs, data;
	struct oid_vec strips; /* erasure-coded parts of data objects: they only keep an id used */
};

static int collect(uint64_t oid, int ec_index, void *arg)
{
	struct scan *s = arg;

	if (ec_index)
		return oid_is_data(oid) ? vec_push(&s->strips, oid) : 0;
	if (oid_is_inode(oid))
		return vec_push(&s->inodes, oid);
	if (oid_is_attr(oid))
		return vec_push(&s->attrs, oid);
	if (oid_is_data(oid))
		return vec_push(&s->data, oid);
	return 0;
}

static int read_map(struct vdi *v)
{
	uint32_t done = 0;
	uint8_t *buf = malloc(1 << 20);

	if (!buf)
		return -ENOMEM;
	while (done < v->map_len) {
		uint32_t n = v->map_len - done < (1 << 18) ? v->map_len - done : (1 << 18);
		struct obj_req req = { .op = OBJ_READ,
				       .oid = vid_to_vdi_oid(v->hdr.vdi_id),
				       .offset = inode_map_offset(done),
				       .length = n * 4,
				       .buf = buf };
		int ret = obj_exec(&req);

		if (ret < 0) {
			free(buf);
			return ret;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t vid = get_le32(buf + 4 * i);

			if (vid >= SD_NR_VDIS)
				vid = 0;
			vdi_map_set(v, done + i, vid);
		}
		done += n;
	}
	free(buf);
	return 0;
}

enum inode_state {
	INODE_LOADED,
	INODE_UNREADABLE, /* kept, and so are its VDI's objects */
	INODE_BLANK,	  /* both header copies are zeros: no create ever finished writing it */
};

static int load_inode(uint64_t oid, enum inode_state *state)
{
	uint8_t buf[SD_INODE_HEADER_SIZE];
	struct obj_req req = { .op = OBJ_READ, .oid = oid, .length = sizeof(buf), .buf = buf };
	struct vdi *v;
	int ret = obj_exec(&req);

	*state = INODE_UNREADABLE;
	if (ret < 0) {
		log_err("cannot read inode %016" PRIx64 ": %s; its VDI is not served and its "
			"objects are kept",
			oid, strerror(-ret));
		return 0;
	}
	if (inode_hdr_is_blank(buf, sizeof(buf))) {
		*state = INODE_BLANK;
		return 0;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = inode_hdr_decode(buf, sizeof(buf), &v->hdr);
	if (ret == 1)
		log_warn("inode %016" PRIx64 " has no valid primary header copy (torn or never "
			 "written: a crash during an update or a create); using its shadow copy",
			 oid);
	if (ret < 0 || v->hdr.vdi_id != oid_to_vid(oid)) {
		log_err("inode %016" PRIx64
			" is corrupt; its VDI is not served and its objects are "
			"kept",
			oid);
		free(v);
		return 0;
	}
	if (!inode_is_deleted(&v->hdr)) {
		ret = vdi_map_resize(v, inode_nr_objects(v->hdr.vdi_size, v->hdr.block_size_shift));
		if (!ret)
			ret = read_map(v);
		if (ret) {
			log_err("cannot read the data map of VDI %s: %s; it is not served",
				v->hdr.name, strerror(-ret));
			vdi_free(v);
			return 0;
		}
	}
	*state = INODE_LOADED;
	return vdi_table_insert(&sys.vdis, v);
}

static bool vid_has_objects(const struct scan *s, uint32_t vid)
{
	const struct oid_vec *vecs[] = { &s->data, &s->attrs, &s->strips };

	for (size_t k = 0; k < sizeof(vecs) / sizeof(vecs[0]); k++)
		for (size_t i = 0; i < vecs[k]->n; i++)
			if (oid_to_vid(vecs[k]->v[i]) == vid)
				return true;
	return false;
}

/*
 * An inode without any header and without any object of its id is what a create leaves when it
 * dies (or fails) between creating the file and writing the header. vdi_create acknowledges only
 * once both copies are durable, and later updates rewrite one copy at a time, so an acknowledged
 * VDI never has both copies zero: no client ever saw this VDI, wrote to it or got its id. On one
 * node this store is the only copy, so removing the file loses nothing and frees the id. Returns
 * true if it was removed; otherwise the inode stays, like any unreadable one.
 *
 * The multi-node work must revisit this: there another node may hold a valid copy of the same
 * inode (a create acknowledged by the cluster but torn here), which must be recovered, not removed.
 */
static bool remove_blank_inode(const struct scan *s, uint64_t oid)
{
	uint32_t vid = oid_to_vid(oid);

	if (vid_has_objects(s, vid)) {
		log_err("inode %016" PRIx64 " has no header (both copies are zeros) but objects of "
			"VDI id %" PRIx32 " exist; its VDI is not served and its objects are kept",
			oid, vid);
		return false;
	}
	log_notice("removing inode %016" PRIx64 ": both header copies are zeros and VDI id %" PRIx32
		   " has no objects, the leftover of a create that was never acknowledged; the id "
		   "is free again",
		   oid, vid);
	return vdi_remove_objects(&oid, 1) == 0;
}

/*
 * Two working VDIs of one name: a snapshot or a rollback (vdi_snap.c) died between writing the
 * new working VDI's inode and changing the old one. If the newer is the older's child, the
 * snapshot is finished (the older becomes the snapshot); otherwise the rollback is (the older
 * is deleted). Either way the operation was not acknowledged, and finishing it loses nothing
 * that was.
 */
static void finish_interrupted_snapshots(void)
{
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *a = sys.vdis.v[i];

		if (!a->hdr.name[0] || a->hdr.snap_ctime)
			continue;
		for (int k = 0; k < sys.vdis.nr; k++) {
			struct vdi *b = sys.vdis.v[k], *old, *young;
			char err[256];

			if (k == i || !b->hdr.name[0] || b->hdr.snap_ctime ||
			    strcmp(a->hdr.name, b->hdr.name))
				continue;
			young = b->hdr.create_time > a->hdr.create_time ? b : a;
			old = young == b ? a : b;
			if (young->hdr.parent_vdi_id == old->hdr.vdi_id &&
			    young->hdr.snap_id == old->hdr.snap_id + 1) {
				struct sd_inode_hdr hdr = old->hdr;

				hdr.snap_ctime = young->hdr.create_time;
				log_notice("VDI %s: finishing a snapshot interrupted by a crash "
					   "(id %" PRIx32 " becomes the snapshot, %" PRIx32
					   " the working VDI)",
					   old->hdr.name, old->hdr.vdi_id, young->hdr.vdi_id);
				if (vdi_write_header(&hdr, false) == 0) {
					old->hdr = hdr;
					vdi_share_put(old->share);
					old->share = vdi_share_new(old);
				}
			} else {
				log_notice("VDI %s: finishing a rollback interrupted by a crash "
					   "(id %" PRIx32 " is deleted, %" PRIx32
					   " is the working VDI)",
					   old->hdr.name, old->hdr.vdi_id, young->hdr.vdi_id);
				vdi_delete(old, err, sizeof(err));
			}
			i = -1; /* the table may have changed: look again from the start */
			break;
		}
	}
}

/* Deleted VDIs that no live map names any more: their inodes are garbage. */
static void settle_deleted(struct oid_vec *garbage)
{
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *d = sys.vdis.v[i];
		bool named = false;

		if (d->hdr.name[0])
			continue;
		for (int k = 0; k < sys.vdis.nr && !named; k++) {
			const struct vdi *v = sys.vdis.v[k];

			for (uint32_t j = 0; v->hdr.name[0] && j < v->map_len && !named; j++)
				named = v->map[j] == d->hdr.vdi_id;
		}
		d->inode_kept = named;
		if (!named) {
			vec_push(garbage, vid_to_vdi_oid(d->hdr.vdi_id));
			obj_fence_set(d->hdr.vdi_id, true);
		}
	}
}

/* A data object is live if some VDI's map points at it. */
static bool data_is_live(uint64_t oid)
{
	uint32_t vid = oid_to_vid(oid), idx = oid_to_idx(oid);
	struct vdi *owner = vdi_find_vid(&sys.vdis, vid);

	if (owner && idx < owner->map_len && owner->map[idx] == vid)
		return true;
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *v = sys.vdis.v[i];

		if (idx < v->map_len && v->map[idx] == vid)
			return true;
	}
	return false;
}

int cluster_load_vdis(char *err, size_t errlen)
{
	struct scan s = { 0 };
	struct oid_vec garbage = { 0 }, unreadable = { 0 };
	int ret = store_for_each(sys.store, collect, &s);

	if (ret) {
		snprintf(err, errlen, "cannot scan %s: %s", sys.store->objdir, strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < s.inodes.n && !ret; i++) {
		enum inode_state state;

		ret = load_inode(s.inodes.v[i], &state);
		if (state == INODE_BLANK && remove_blank_inode(&s, s.inodes.v[i]))
			continue;
		vdi_bitmap_set(sys.vdis.inuse, oid_to_vid(s.inodes.v[i]));
		if (state != INODE_LOADED)
			ret = ret ? ret : vec_push(&unreadable, oid_to_vid(s.inodes.v[i]));
	}
	if (ret) {
		snprintf(err, errlen, "out of memory loading VDIs");
		goto out;
	}
	ret = vdi_retired_load();
	if (ret) {
		snprintf(err, errlen, "cannot load the ids of deleted VDIs: %s", strerror(-ret));
		goto out;
	}
	finish_interrupted_snapshots();
	settle_deleted(&garbage);
	for (size_t i = 0; i < s.attrs.n; i++) {
		uint64_t oid = s.attrs.v[i];
		struct vdi *v = vdi_find_vid(&sys.vdis, oid_to_vid(oid));

		if (v && !inode_is_deleted(&v->hdr)) {
			uint64_t *n = realloc(v->attr_oids, sizeof(*n) * (size_t)(v->nr_attrs + 1));

			if (!n) {
				ret = -ENOMEM;
				snprintf(err, errlen, "out of memory loading attributes");
				goto out;
			}
			v->attr_oids = n;
			v->attr_oids[v->nr_attrs++] = oid;
		} else if (v) {
			vec_push(&garbage, oid);
		}
	}
	for (size_t i = 0; i < s.data.n; i++) {
		uint64_t oid = s.data.v[i];
		bool keep = false;

		for (size_t k = 0; k < unreadable.n; k++)
			keep |= unreadable.v[k] == oid_to_vid(oid);
		if (!vdi_find_vid(&sys.vdis, oid_to_vid(oid))) {
			if (!keep)
				log_warn("object %016" PRIx64 " belongs to no known VDI; kept",
					 oid);
			continue;
		}
		if (!keep && !data_is_live(oid))
			vec_push(&garbage, oid);
	}
	if (garbage.n) {
		log_notice("removing %zu objects left by interrupted deletes or unacknowledged "
			   "writes",
			   garbage.n);
		vdi_remove_objects(garbage.v, garbage.n);
	}
	vdi_retired_save();
	vdi_freeze_snapshots();
	log_info("loaded %d VDIs (%zu inode, %zu data objects)", sys.vdis.nr, s.inodes.n, s.data.n);
	export_table_publish();
out:
	free(s.inodes.v);
	free(s.attrs.v);
	free(s.data.v);
	free(s.strips.v);
	free(garbage.v);
	free(unreadable.v);
	return ret;
}
