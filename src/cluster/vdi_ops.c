/* VDI lifecycle: create, preallocate, resize, delete. Runs on the control thread. */
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
#include "../core/size.h"
#include "../io/obj_fence.h"
#include "../io/obj_io.h"
#include "obj_reaper.h"
#include "sys.h"
#include "vdi_share.h"
#include "vdi_internal.h"
#include "vdi_reclaim.h"

int vdi_write_header(const struct sd_inode_hdr *hdr, bool fresh)
{
	uint8_t buf[SD_INODE_HEADER_SIZE];
	/* Shadow first, then primary, each durable: a torn write leaves one valid copy. */
	static const uint32_t offsets[2] = { SD_INODE_SHADOW_OFF, 0 };

	inode_hdr_encode(hdr, buf);
	for (int i = 0; i < 2; i++) {
		struct obj_req req = {
			.op = OBJ_WRITE,
			/* A new inode starts from an empty file: no map of an earlier VDI. */
			.flags = (uint16_t)(OBJ_F_CREATE | OBJ_F_SYNC |
					    (fresh && i == 0 ? OBJ_F_FRESH : 0)),
			.oid = vid_to_vdi_oid(hdr->vdi_id),
			.offset = offsets[i],
			.length = SD_INODE_HDR_PART,
			.buf = buf + offsets[i],
		};
		int ret = obj_exec(&req);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int vdi_write_map_range(struct vdi *v, uint32_t first, uint32_t last)
{
	uint32_t n = last - first + 1;
	uint8_t *buf = malloc((size_t)n * 4);
	struct obj_req req = {
		.op = OBJ_WRITE,
		.flags = OBJ_F_CREATE | OBJ_F_SYNC,
		.oid = vid_to_vdi_oid(v->hdr.vdi_id),
		.offset = inode_map_offset(first),
		.length = n * 4,
		.buf = buf,
	};
	int ret;

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		put_le32(buf + 4 * i, v->map[first + i]);
	ret = obj_exec(&req);
	free(buf);
	if (ret < 0)
		return ret;
	vdi_share_publish_map(v, first, last);
	return 0;
}

int vdi_fail_errno(int neg_errno, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-neg_errno));
	if (neg_errno == -ENOSPC || neg_errno == -EDQUOT)
		snprintf(err + strlen(err), errlen - strlen(err),
			 " (the disk under %s is full: free space or add a node)", sys.dir);
	return sd_result_from_errno(neg_errno) == SD_RES_NO_SPACE ? SD_RES_NO_SPACE : SD_RES_EIO;
}

int vdi_create(const char *name, uint64_t size, uint8_t copies, uint8_t copy_policy,
	       uint64_t create_time, uint32_t *vid_out, char *err, size_t errlen)
{
	uint8_t shift = sys.cfg.block_size_shift;
	uint64_t max = inode_max_vdi_size(shift);
	struct timespec now;
	struct vdi *v;
	uint32_t vid;
	int ret;

	if (vdi_name_check(name, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (vdi_find_name(&sys.vdis, name)) {
		snprintf(err, errlen, "VDI %s already exists", name);
		return SD_RES_VDI_EXIST;
	}
	if (size == 0) {
		snprintf(err, errlen, "VDI size must be larger than 0");
		return SD_RES_INVALID_PARMS;
	}
	if (size > max) {
		char a[32], b[32];

		size_format(size, a, sizeof(a));
		size_format(max, b, sizeof(b));
		snprintf(err, errlen,
			 "VDI size %s is too large: at most %s with %" PRIu64 " MiB objects", a, b,
			 (UINT64_C(1) << shift) >> 20);
		return SD_RES_INVALID_PARMS;
	}
	ret = vdi_check_redundancy(copies, copy_policy, err, errlen);
	if (ret)
		return ret;
	vid = vdi_bitmap_find_free(sys.vdis.inuse, sd_hash_vdi(name));
	if (!vid) {
		snprintf(err, errlen, "all %u VDI ids are in use", SD_NR_VDIS - 1);
		return SD_RES_FULL_VDI;
	}
	/* A recycled id (-R) was fenced by its delete: its objects may be created again. */
	if (sys.cfg.recycle_vid && obj_fence_set(vid, false)) {
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	v = calloc(1, sizeof(*v));
	if (!v || vdi_map_resize(v, inode_nr_objects(size, shift))) {
		vdi_free(v);
		snprintf(err, errlen, "out of memory for the data map of %s", name);
		return SD_RES_NO_MEM;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(v->hdr.name, sizeof(v->hdr.name), "%s", name);
	v->hdr.create_time =
		create_time ? create_time : (uint64_t)now.tv_sec << 32 | (uint64_t)now.tv_nsec;
	v->hdr.vdi_size = size;
	v->hdr.copy_policy = copy_policy;
	v->hdr.nr_copies =
		copy_policy ? (uint8_t)(ec_data_strips(copy_policy) + ec_parity_strips(copy_policy))
			    : copies;
	v->hdr.block_size_shift = shift;
	v->hdr.snap_id = 1;
	v->hdr.vdi_id = vid;
	/* sdcluster: the cluster's log is the VDI's durable record, on every node. */
	ret = sys.clustered ? 0 : vdi_write_header(&v->hdr, true);
	if (ret) {
		uint64_t inode = vid_to_vdi_oid(vid);

		/*
		 * Whatever reached the disk (an empty file, or a shadow copy a restart would load)
		 * must go: the create was refused, so neither the VDI nor its id may outlive it.
		 */
		if (vdi_remove_objects(&inode, 1)) {
			vdi_bitmap_set(sys.vdis.inuse, vid);
			log_warn("VDI id %" PRIx32 " stays reserved: the inode %016" PRIx64
				 " of the failed create of %s could not be removed (see above)",
				 vid, inode, name);
		}
		vdi_free(v);
		return vdi_fail_errno(ret, err, errlen, "cannot write the inode of the new VDI");
	}
	if (vdi_table_insert(&sys.vdis, v)) {
		vdi_free(v);
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	export_table_publish();
	log_info("created VDI %s, id %" PRIx32 ", %" PRIu64 " bytes", name, vid, size);
	*vid_out = vid;
	return SD_RES_SUCCESS;
}

int vdi_prealloc(struct vdi *v, uint32_t start, uint32_t count, char *err, size_t errlen)
{
	struct obj_req reqs[VDI_PREALLOC_BATCH];
	uint32_t idx[VDI_PREALLOC_BATCH];
	uint32_t end, first = UINT32_MAX, last = 0;
	int n = 0, ret;

	if (count > VDI_PREALLOC_BATCH || start > v->map_len) {
		snprintf(err, errlen, "bad preallocation range %u+%u (the VDI has %u objects)",
			 start, count, v->map_len);
		return SD_RES_INVALID_PARMS;
	}
	end = start + count > v->map_len ? v->map_len : start + count;
	for (uint32_t i = start; i < end; i++) {
		if (v->map[i])
			continue;
		reqs[n] = (struct obj_req){ .op = OBJ_ALLOC,
					    .flags = OBJ_F_CREATE | OBJ_F_SYNC,
					    .oid = vid_to_data_oid(v->hdr.vdi_id, i),
					    .length = (uint32_t)vdi_obj_size(v) };
		idx[n++] = i;
	}
	obj_exec_batch(reqs, n);
	for (int i = 0; i < n; i++) {
		if (reqs[i].result < 0) {
			char what[128];

			snprintf(what, sizeof(what), "cannot allocate object %016" PRIx64,
				 reqs[i].oid);
			return vdi_fail_errno(reqs[i].result, err, errlen, what);
		}
	}
	for (int i = 0; i < n; i++) {
		vdi_map_set(v, idx[i], v->hdr.vdi_id);
		first = idx[i] < first ? idx[i] : first;
		last = idx[i] > last ? idx[i] : last;
	}
	if (n && (ret = vdi_write_map_range(v, first, last))) {
		for (int i = 0; i < n; i++)
			vdi_map_set(v, idx[i], 0);
		return vdi_fail_errno(ret, err, errlen, "cannot update the data map");
	}
	return SD_RES_SUCCESS;
}

int vdi_resize_check(const struct vdi *v, uint64_t new_size, char *err, size_t errlen)
{
	/* As the original: a VDI only grows (its data past the new end would need freeing). */
	if (new_size < v->hdr.vdi_size) {
		snprintf(err, errlen, "Shrinking VDIs is not implemented");
		return SD_RES_INVALID_PARMS;
	}
	if (new_size > inode_max_vdi_size(v->hdr.block_size_shift)) {
		char b[32];

		size_format(inode_max_vdi_size(v->hdr.block_size_shift), b, sizeof(b));
		snprintf(err, errlen, "New VDI size is too large: at most %s", b);
		return SD_RES_INVALID_PARMS;
	}
	return SD_RES_SUCCESS;
}

int vdi_resize(struct vdi *v, uint64_t new_size, char *err, size_t errlen)
{
	uint64_t old = v->hdr.vdi_size;
	int ret = vdi_resize_check(v, new_size, err, errlen);

	if (ret)
		return ret;
	if (new_size == old)
		return SD_RES_SUCCESS;
	if (vdi_map_resize(v, inode_nr_objects(new_size, v->hdr.block_size_shift))) {
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	v->hdr.vdi_size = new_size;
	ret = sys.clustered ? 0 : vdi_write_header(&v->hdr, false);
	if (ret) {
		v->hdr.vdi_size = old;
		return vdi_fail_errno(ret, err, errlen, "cannot write the inode");
	}
	if (v->share)
		__atomic_store_n(&v->share->size, new_size, __ATOMIC_RELEASE);
	log_info("resized VDI %s from %" PRIu64 " to %" PRIu64 " bytes", v->hdr.name, old,
		 new_size);
	return SD_RES_SUCCESS;
}

/* Removes objects in batches; a failure is logged and left for the start-up sweep. */
int vdi_remove_objects(const uint64_t *oids, size_t n)
{
	struct obj_req reqs[VDI_REMOVE_BATCH];
	int failed = 0;

	for (size_t i = 0; i < n; i += VDI_REMOVE_BATCH) {
		int k = (int)(n - i < VDI_REMOVE_BATCH ? n - i : VDI_REMOVE_BATCH);

		for (int j = 0; j < k; j++)
			reqs[j] = (struct obj_req){ .op = OBJ_REMOVE, .oid = oids[i + (size_t)j] };
		obj_exec_batch(reqs, k);
		for (int j = 0; j < k; j++) {
			if (reqs[j].result < 0 && reqs[j].result != -ENOENT) {
				log_warn("cannot remove object %016" PRIx64 ": %s", reqs[j].oid,
					 strerror(-reqs[j].result));
				failed++;
			}
		}
	}
	return failed;
}

int vdi_delete(struct vdi *v, char *err, size_t errlen)
{
	struct sd_inode_hdr hdr = v->hdr;
	struct vdi_garbage g = { 0 };
	char name[SD_MAX_VDI_LEN];
	uint32_t vid = v->hdr.vdi_id;
	size_t n;
	int ret, failed;

	/* First the durable mark: a crash after it leaves only garbage the start-up sweep removes.
	 */
	snprintf(name, sizeof(name), "%s", v->hdr.name);
	memset(hdr.name, 0, sizeof(hdr.name));
	ret = vdi_write_header(&hdr, false);
	if (ret)
		return vdi_fail_errno(ret, err, errlen, "cannot mark the VDI deleted in its inode");
	v->hdr = hdr;
	/* Exports stop serving it before its objects go: a reader gets an error, never zeros. */
	if (v->share)
		__atomic_store_n(&v->share->deleted, 1, __ATOMIC_RELEASE);
	export_table_publish();
	vdi_release_all(v, &g);
	n = g.n;
	failed = vdi_garbage_dispose(&g, false);
	if (sys.cfg.recycle_vid && !v->inode_kept) {
		/* The id may be reused only once nothing of this VDI is left on disk. */
		if (!failed)
			vdi_table_remove(&sys.vdis, vid);
		else
			log_warn("VDI id %" PRIx32
				 " stays reserved: some of its objects could not be "
				 "removed (see above)",
				 vid);
	}
	log_info("deleted VDI %s (id %" PRIx32 ", %zu objects freed)", name, vid, n);
	return SD_RES_SUCCESS;
}

int vdi_delete_cluster(struct vdi *v, bool remove_local, char *err, size_t errlen)
{
	struct vdi_garbage g = { 0 };
	uint32_t vid = v->hdr.vdi_id;

	(void)err;
	(void)errlen;
	log_info("deleted VDI %s (id %" PRIx32 ")", v->hdr.name, vid);
	memset(v->hdr.name, 0, sizeof(v->hdr.name));
	if (v->share)
		__atomic_store_n(&v->share->deleted, 1, __ATOMIC_RELEASE);
	export_table_publish();
	/* Every node decides the same garbage; each removes its own copies (vdi_reclaim.h). */
	vdi_release_all(v, &g);
	if (remove_local)
		vdi_garbage_dispose(&g, true);
	else
		vdi_garbage_forget(&g);
	/*
	 * The id stays reserved even with -R: this node's copies go in the background, and an id
	 * reused meanwhile would see its new objects removed. Whether every node has finished is
	 * not something the log knows yet.
	 */
	return SD_RES_SUCCESS;
}
