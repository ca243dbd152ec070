/*
 * Start-up: rebuild the VDI table from the inode objects on disk, then sweep garbage left by an
 * interrupted delete or by a write whose map update never happened (such writes were never
 * acknowledged). Objects of a VDI whose inode cannot be read are kept, never guessed away.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/byteorder.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "../io/obj_io.h"
#include "sys.h"
#include "vdi_share.h"
#include "vdi_internal.h"

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
};

static int collect(uint64_t oid, int ec_index, void *arg)
{
	struct scan *s = arg;

	if (ec_index)
		return 0;
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

static int load_inode(uint64_t oid, bool *unreadable)
{
	uint8_t buf[SD_INODE_HEADER_SIZE];
	struct obj_req req = { .op = OBJ_READ, .oid = oid, .length = sizeof(buf), .buf = buf };
	struct vdi *v;
	int ret = obj_exec(&req);

	*unreadable = true;
	if (ret < 0) {
		log_err("cannot read inode %016" PRIx64 ": %s; its VDI is not served and its "
			"objects are kept",
			oid, strerror(-ret));
		return 0;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = inode_hdr_decode(buf, sizeof(buf), &v->hdr);
	if (ret == 1)
		log_warn("inode %016" PRIx64 " had a torn header (a crash during an update); using "
			 "its shadow copy",
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
	*unreadable = false;
	return vdi_table_insert(&sys.vdis, v);
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
		bool bad;

		ret = load_inode(s.inodes.v[i], &bad);
		vdi_bitmap_set(sys.vdis.inuse, oid_to_vid(s.inodes.v[i]));
		if (bad)
			ret = ret ? ret : vec_push(&unreadable, oid_to_vid(s.inodes.v[i]));
	}
	if (ret) {
		snprintf(err, errlen, "out of memory loading VDIs");
		goto out;
	}
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
	log_info("loaded %d VDIs (%zu inode, %zu data objects)", sys.vdis.nr, s.inodes.n, s.data.n);
	export_table_publish();
out:
	free(s.inodes.v);
	free(s.attrs.v);
	free(s.data.v);
	free(garbage.v);
	free(unreadable.v);
	return ret;
}
