/*
 * Reading and writing a VDI's bytes from the control thread (dog vdi read/write): split at
 * object boundaries, run the pieces in parallel on their shards, and allocate objects in the
 * data map only after their data is durable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../core/result.h"
#include "../io/obj_io.h"
#include "sys.h"
#include "vdi_internal.h"

static int check_range(const struct vdi *v, uint64_t off, uint32_t len, char *err, size_t errlen)
{
	if (off > v->hdr.vdi_size || len > v->hdr.vdi_size - off) {
		snprintf(err, errlen,
			 "range %" PRIu64 "+%" PRIu32 " is beyond the end of VDI %s (%" PRIu64
			 " bytes)",
			 off, len, v->hdr.name, v->hdr.vdi_size);
		return SD_RES_INVALID_PARMS;
	}
	return SD_RES_SUCCESS;
}

/* Fills reqs with one piece per object touched by [off, off + len). Returns the count. */
static int split(const struct vdi *v, uint64_t off, uint32_t len, struct obj_req *reqs, char *buf)
{
	uint8_t shift = v->hdr.block_size_shift;
	uint64_t obj_size = UINT64_C(1) << shift;
	uint32_t done = 0;
	int n = 0;

	while (done < len) {
		uint64_t pos = off + done;
		uint32_t idx = (uint32_t)(pos >> shift);
		uint64_t in_obj = pos & (obj_size - 1);
		uint32_t chunk =
			(uint32_t)(obj_size - in_obj < len - done ? obj_size - in_obj : len - done);

		reqs[n++] = (struct obj_req){ .offset = in_obj,
					      .length = chunk,
					      .buf = buf + done,
					      .priv = NULL,
					      .oid = idx };
		done += chunk;
	}
	return n;
}

static int max_pieces(const struct vdi *v, uint32_t len)
{
	return (int)(len >> v->hdr.block_size_shift) + 2;
}

int vdi_read(struct vdi *v, uint64_t off, uint32_t len, void *buf, char *err, size_t errlen)
{
	struct obj_req *reqs, *io;
	int n, nio = 0, ret = check_range(v, off, len, err, errlen);

	if (ret)
		return ret;
	reqs = calloc((size_t)max_pieces(v, len), sizeof(*reqs));
	io = calloc((size_t)max_pieces(v, len), sizeof(*io));
	if (!reqs || !io) {
		free(reqs);
		free(io);
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	n = split(v, off, len, reqs, buf);
	for (int i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)reqs[i].oid;

		if (!v->map[idx]) {
			memset(reqs[i].buf, 0, reqs[i].length);
			continue;
		}
		io[nio] = reqs[i];
		io[nio].op = OBJ_READ;
		io[nio].oid = vid_to_data_oid(v->map[idx], idx);
		nio++;
	}
	obj_exec_batch(io, nio);
	ret = SD_RES_SUCCESS;
	for (int i = 0; i < nio && !ret; i++) {
		if (io[i].result == -ENOENT) {
			snprintf(err, errlen,
				 "object %016" PRIx64 " of VDI %s is missing from %s/obj although "
				 "its data map says it was written: that data is lost on this node",
				 io[i].oid, v->hdr.name, sys.dir);
			log_err("%s", err);
			ret = SD_RES_EIO;
		} else if (io[i].result < 0) {
			char what[384];

			snprintf(what, sizeof(what),
				 "reading object %016" PRIx64 " of VDI %s failed", io[i].oid,
				 v->hdr.name);
			ret = vdi_fail_errno(io[i].result, err, errlen, what);
			log_err("%s", err);
		}
	}
	free(reqs);
	free(io);
	return ret;
}

int vdi_write(struct vdi *v, uint64_t off, uint32_t len, const void *buf, char *err, size_t errlen)
{
	uint32_t vid = v->hdr.vdi_id, first = UINT32_MAX, last = 0;
	struct obj_req *reqs;
	int n, ret = check_range(v, off, len, err, errlen);

	if (ret)
		return ret;
	if (v->hdr.snap_ctime) {
		snprintf(err, errlen, "VDI %s is a snapshot and cannot be written", v->hdr.name);
		return SD_RES_READONLY;
	}
	reqs = calloc((size_t)max_pieces(v, len), sizeof(*reqs));
	if (!reqs) {
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	/* The object layer never writes through buf; the cast only matches obj_req's type. */
	n = split(v, off, len, reqs, (char *)(uintptr_t)buf);
	for (int i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)reqs[i].oid;

		reqs[i].op = OBJ_WRITE;
		reqs[i].flags = OBJ_F_SYNC | (v->map[idx] == vid ? 0 : OBJ_F_CREATE);
		reqs[i].oid = vid_to_data_oid(vid, idx);
	}
	obj_exec_batch(reqs, n);
	for (int i = 0; i < n; i++) {
		if (reqs[i].result < 0) {
			char what[384];

			snprintf(what, sizeof(what),
				 "writing object %016" PRIx64 " of VDI %s failed", reqs[i].oid,
				 v->hdr.name);
			ret = vdi_fail_errno(reqs[i].result, err, errlen, what);
			log_err("%s", err);
			free(reqs);
			return ret;
		}
	}
	/* Data is durable; now record newly allocated objects in the map, also durably. */
	for (int i = 0; i < n; i++) {
		uint32_t idx = oid_to_idx(reqs[i].oid);

		if (v->map[idx] != vid) {
			first = idx < first ? idx : first;
			last = idx > last ? idx : last;
		}
	}
	if (first != UINT32_MAX) {
		uint32_t *saved = malloc(sizeof(*saved) * (last - first + 1));

		if (!saved) {
			free(reqs);
			snprintf(err, errlen, "out of memory");
			return SD_RES_NO_MEM;
		}
		memcpy(saved, v->map + first, sizeof(*saved) * (last - first + 1));
		for (int i = 0; i < n; i++)
			vdi_map_set(v, oid_to_idx(reqs[i].oid), vid);
		ret = vdi_write_map_range(v, first, last);
		if (ret) {
			for (uint32_t i = first; i <= last; i++)
				vdi_map_set(v, i, saved[i - first]);
			ret = vdi_fail_errno(ret, err, errlen, "cannot update the data map");
			log_err("VDI %s: %s", v->hdr.name, err);
		}
		free(saved);
	}
	free(reqs);
	return ret;
}
