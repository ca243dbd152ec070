/*
 * Snapshots, clones and rollbacks, as the original sheepdog numbers them: a snapshot freezes the
 * working VDI in place (it keeps its id and becomes read-only) and a new working VDI with the
 * next free id takes the name, sharing every object through its copied map; a clone is a new
 * VDI on a snapshot's map; a rollback replaces the working VDI by a new one on a snapshot's map.
 * Objects are then copied up on their first write (gw_cow.c). Runs on the control thread,
 * directly (the local driver) or as the cluster's state machine applies the command.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "../core/result.h"
#include "../core/utf8.h"
#include "../io/obj_fence.h"
#include "obj_sweep.h"
#include "sys.h"
#include "vdi_internal.h"
#include "vdi_reclaim.h"
#include "vdi_share.h"

int vdi_tag_check(const char *tag, char *err, size_t errlen)
{
	size_t len = strlen(tag), i;

	if (len >= SD_MAX_VDI_TAG_LEN) {
		snprintf(err, errlen, "snapshot tag is too long: %zu bytes, at most %d", len,
			 SD_MAX_VDI_TAG_LEN - 1);
		return -EINVAL;
	}
	if (utf8_invalid_at((const uint8_t *)tag, len) < len) {
		snprintf(err, errlen, "snapshot tag is not valid UTF-8");
		return -EINVAL;
	}
	for (i = 0; i < len && tag[i] >= '0' && tag[i] <= '9'; i++)
		;
	if (len && i == len) {
		/* As the original: -s with digits names a snapshot by id. */
		snprintf(err, errlen,
			 "snapshot tag '%s' is a number, which -s reads as a snapshot id: "
			 "use a tag with a letter in it",
			 tag);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tag[i];

		if (c < 0x20 || c == 0x7f || c == '/' || c == '@') {
			snprintf(err, errlen,
				 "snapshot tag '%s' has a character that is not allowed ('/', '@' "
				 "or a "
				 "control character): NAME@TAG is also an NBD export name",
				 tag);
			return -EINVAL;
		}
	}
	return 0;
}

struct vdi *vdi_find_snapshot(const struct vdi_table *t, const char *name, const char *snap)
{
	char *end;
	unsigned long id = strtoul(snap, &end, 10);
	bool by_id = snap[0] && !*end && snap[0] != '-';

	for (int i = 0; i < t->nr; i++) {
		struct vdi *v = t->v[i];

		if (inode_is_deleted(&v->hdr) || !v->hdr.snap_ctime || strcmp(v->hdr.name, name))
			continue;
		if (by_id ? v->hdr.snap_id == id : !strcmp(v->hdr.tag, snap))
			return v;
	}
	return NULL;
}

static uint64_t now_ctime(uint64_t t)
{
	struct timespec now;

	if (t)
		return t;
	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec << 32 | (uint64_t)now.tv_nsec;
}

/* A new VDI named name on parent's map: same size, copies and object size. NULL: no memory. */
static struct vdi *child_of(const struct vdi *parent, const char *name, uint32_t vid,
			    uint64_t ctime)
{
	struct vdi *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->hdr = parent->hdr;
	memset(v->hdr.name, 0, sizeof(v->hdr.name));
	memset(v->hdr.tag, 0, sizeof(v->hdr.tag));
	snprintf(v->hdr.name, sizeof(v->hdr.name), "%s", name);
	v->hdr.create_time = ctime;
	v->hdr.snap_ctime = 0;
	v->hdr.vm_clock_nsec = 0;
	v->hdr.vdi_id = vid;
	v->hdr.parent_vdi_id = parent->hdr.vdi_id;
	if (vdi_map_resize(v, parent->map_len)) {
		vdi_free(v);
		return NULL;
	}
	for (uint32_t i = 0; i < parent->map_len; i++)
		if (parent->map[i])
			vdi_map_set(v, i, parent->map[i]);
	/* sdcluster attributes go with the name, as they did before the snapshot. */
	if (parent->nr_kv) {
		v->kv = calloc((size_t)parent->nr_kv, sizeof(*v->kv));
		for (int i = 0; v->kv && i < parent->nr_kv; i++) {
			v->kv[i].key = strdup(parent->kv[i].key);
			v->kv[i].value = malloc(parent->kv[i].len ? parent->kv[i].len : 1);
			v->kv[i].len = parent->kv[i].len;
			if (!v->kv[i].key || !v->kv[i].value) {
				v->nr_kv = i + 1;
				vdi_free(v);
				return NULL;
			}
			memcpy(v->kv[i].value, parent->kv[i].value, parent->kv[i].len);
			v->nr_kv = i + 1;
		}
		if (!v->kv) {
			vdi_free(v);
			return NULL;
		}
	}
	return v;
}

/* Local driver: the new VDI's whole inode, header and map, durably. */
static int write_inode(struct vdi *v)
{
	int ret;

	if (sys.clustered)
		return 0;
	ret = vdi_write_header(&v->hdr, true);
	if (!ret && v->map_len)
		ret = vdi_write_map_range(v, 0, v->map_len - 1);
	return ret;
}

/* Undoes a create whose inode could not be written. */
static void drop_new(struct vdi *v)
{
	uint64_t inode = vid_to_vdi_oid(v->hdr.vdi_id);

	if (!sys.clustered)
		vdi_remove_objects(&inode, 1);
	vdi_free(v);
}

static uint32_t new_vid(const char *name, char *err, size_t errlen)
{
	uint32_t vid = vdi_bitmap_find_free(sys.vdis.inuse, sd_hash_vdi(name));

	if (!vid)
		snprintf(err, errlen, "all %u VDI ids are in use", SD_NR_VDIS - 1);
	else if (sys.cfg.recycle_vid && obj_fence_set(vid, false))
		vid = 0, snprintf(err, errlen, "out of memory");
	return vid;
}

int vdi_snapshot(struct vdi *v, const char *tag, uint64_t ctime, uint32_t *new_out, char *err,
		 size_t errlen)
{
	struct vdi_share *old_share;
	struct vdi *w;
	uint32_t vid;
	int ret;

	if (inode_is_deleted(&v->hdr) || v->hdr.snap_ctime) {
		snprintf(err, errlen, "VDI %s is a snapshot: only a working VDI can be snapshotted",
			 v->hdr.name);
		return SD_RES_INVALID_PARMS;
	}
	if (vdi_tag_check(tag, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (tag[0] && vdi_find_snapshot(&sys.vdis, v->hdr.name, tag)) {
		snprintf(err, errlen, "VDI %s already has a snapshot tagged '%s'", v->hdr.name,
			 tag);
		return SD_RES_VDI_EXIST;
	}
	vid = new_vid(v->hdr.name, err, errlen);
	if (!vid)
		return SD_RES_FULL_VDI;
	ctime = now_ctime(ctime);
	w = child_of(v, v->hdr.name, vid, ctime);
	if (!w) {
		snprintf(err, errlen, "out of memory for the new working VDI of %s", v->hdr.name);
		return SD_RES_NO_MEM;
	}
	w->hdr.snap_id = v->hdr.snap_id + 1;
	/* The lock goes with the name: the clients that hold it now write the new VDI. */
	w->lock_holder = v->lock_holder;
	w->shareable = v->shareable;
	/*
	 * Local driver: the new working VDI first, then the snapshot mark. A crash between leaves
	 * two working VDIs of one name, the new one the old one's child: the load finishes the
	 * snapshot (vdi_load.c).
	 */
	ret = write_inode(w);
	if (!ret && !sys.clustered) {
		struct sd_inode_hdr hdr = v->hdr;

		hdr.snap_ctime = ctime;
		snprintf(hdr.tag, sizeof(hdr.tag), "%s", tag);
		ret = vdi_write_header(&hdr, false);
	}
	if (ret) {
		drop_new(w);
		return vdi_fail_errno(ret, err, errlen, "cannot write the snapshot's inodes");
	}
	/* Writes to the snapshot's objects end here; those in flight finish first. */
	if (obj_freeze_set(v->hdr.vdi_id, true))
		log_warn("out of memory freezing VDI id %" PRIx32 "; its objects may take a late "
			 "write",
			 v->hdr.vdi_id);
	v->hdr.snap_ctime = ctime;
	snprintf(v->hdr.tag, sizeof(v->hdr.tag), "%s", tag);
	vdi_set_writer(v, 0);
	/* Objects that writes racing the snapshot created but could not record go later. */
	obj_sweep_kick();
	old_share = v->share;
	v->share = vdi_share_new(v);
	if (!v->share) {
		/* The metadata is right (on disk, or in the log); only the exports lag. */
		log_err("out of memory publishing snapshot %s of %s; restart sheep to export it",
			tag, v->hdr.name);
		v->share = old_share;
		old_share = NULL;
	}
	if (vdi_table_insert(&sys.vdis, w)) {
		log_err("out of memory adding the new working VDI of %s; restart sheep to serve it",
			v->hdr.name);
		vdi_free(w);
	}
	export_table_publish();
	if (old_share) {
		/* Connections to the working VDI follow it to its new id (nbd_cmd.c). */
		__atomic_store_n(&old_share->successor, vid, __ATOMIC_RELEASE);
		export_table_moved();
		vdi_share_put(old_share);
	}
	log_info("snapshot of VDI %s: id %" PRIx32 " is now snapshot %" PRIu32 "%s%s%s, the "
		 "working VDI is id %" PRIx32,
		 v->hdr.name, v->hdr.vdi_id, v->hdr.snap_id, tag[0] ? " (tag '" : "", tag,
		 tag[0] ? "')" : "", vid);
	*new_out = vid;
	return SD_RES_SUCCESS;
}

int vdi_clone(struct vdi *snap, const char *name, uint64_t ctime, uint32_t *vid_out, char *err,
	      size_t errlen)
{
	struct vdi *c;
	uint32_t vid;
	int ret;

	if (!snap->hdr.snap_ctime || inode_is_deleted(&snap->hdr)) {
		snprintf(err, errlen, "Only snapshot VDIs can be cloned");
		return SD_RES_INVALID_PARMS;
	}
	if (vdi_name_check(name, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (vdi_find_name(&sys.vdis, name)) {
		snprintf(err, errlen, "VDI %s already exists", name);
		return SD_RES_VDI_EXIST;
	}
	vid = new_vid(name, err, errlen);
	if (!vid)
		return SD_RES_FULL_VDI;
	c = child_of(snap, name, vid, now_ctime(ctime));
	if (!c) {
		snprintf(err, errlen, "out of memory for the clone %s", name);
		return SD_RES_NO_MEM;
	}
	c->hdr.snap_id = 1;
	ret = write_inode(c);
	if (ret) {
		drop_new(c);
		return vdi_fail_errno(ret, err, errlen, "cannot write the clone's inode");
	}
	if (vdi_table_insert(&sys.vdis, c)) {
		vdi_free(c);
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	export_table_publish();
	log_info("cloned snapshot %" PRIx32 " of %s into VDI %s, id %" PRIx32, snap->hdr.vdi_id,
		 snap->hdr.name, name, vid);
	*vid_out = vid;
	return SD_RES_SUCCESS;
}

int vdi_rollback(struct vdi *cur, struct vdi *snap, uint64_t ctime, bool remove_local,
		 uint32_t *vid_out, char *err, size_t errlen)
{
	struct vdi *n;
	uint32_t vid;
	int ret;

	if (!snap->hdr.snap_ctime || inode_is_deleted(&snap->hdr) ||
	    strcmp(snap->hdr.name, cur->hdr.name)) {
		snprintf(err, errlen, "VDI %s can only be rolled back to one of its own snapshots",
			 cur->hdr.name);
		return SD_RES_INVALID_PARMS;
	}
	if (cur->hdr.snap_ctime || inode_is_deleted(&cur->hdr)) {
		snprintf(err, errlen, "VDI %s has no working VDI to roll back", cur->hdr.name);
		return SD_RES_INVALID_PARMS;
	}
	vid = new_vid(cur->hdr.name, err, errlen);
	if (!vid)
		return SD_RES_FULL_VDI;
	n = child_of(snap, cur->hdr.name, vid, now_ctime(ctime));
	if (!n) {
		snprintf(err, errlen, "out of memory for the rolled back VDI %s", cur->hdr.name);
		return SD_RES_NO_MEM;
	}
	n->hdr.snap_id = cur->hdr.snap_id;
	/* The new inode first: a crash before the delete leaves two working VDIs of one name,
	 * and the load keeps the newer (vdi_load.c). */
	ret = write_inode(n);
	if (ret) {
		drop_new(n);
		return vdi_fail_errno(ret, err, errlen, "cannot write the new working VDI's inode");
	}
	ret = sys.clustered ? vdi_delete_cluster(cur, remove_local, err, errlen)
			    : vdi_delete(cur, err, errlen);
	if (ret) {
		drop_new(n);
		return ret;
	}
	if (vdi_table_insert(&sys.vdis, n)) {
		vdi_free(n);
		log_err("out of memory publishing the rolled back VDI; restart sheep to serve it");
	}
	export_table_publish();
	log_info("rolled VDI %s back to snapshot %" PRIu32 " (id %" PRIx32 "): its working VDI "
		 "is now id %" PRIx32,
		 n->hdr.name, snap->hdr.snap_id, snap->hdr.vdi_id, vid);
	*vid_out = vid;
	return SD_RES_SUCCESS;
}

void vdi_freeze_snapshots(void)
{
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (v->hdr.snap_ctime && obj_freeze_set(v->hdr.vdi_id, true))
			log_warn("out of memory freezing snapshot id %" PRIx32, v->hdr.vdi_id);
	}
}
