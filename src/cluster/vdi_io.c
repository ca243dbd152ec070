/*
 * Reading and writing a VDI's bytes from the control thread (dog vdi read/write): split at
 * object boundaries, run the pieces in parallel through the gateway (gw.h: on every holder of
 * the cluster), and allocate objects in the data map only after their data is durable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../core/result.h"
#include "../gateway/gw.h"
#include "../io/obj_io.h"
#include "cluster_view.h"
#include "sys.h"
#include "vdi_internal.h"
#include "vdi_reclaim.h"

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

static uint8_t copies_of(const struct vdi *v)
{
	return v->hdr.nr_copies ? v->hdr.nr_copies : 1;
}

/* Fills reqs with one gateway piece per object touched by [off, off + len). Returns the count. */
static int split(const struct vdi *v, uint64_t off, uint32_t len, struct gw_req *reqs, char *buf)
{
	uint32_t n = gw_split_count(off, len, v->hdr.block_size_shift);

	for (uint32_t i = 0; i < n; i++) {
		struct gw_piece pc;

		gw_split_piece(off, len, v->hdr.block_size_shift, i, &pc);
		reqs[i] = (struct gw_req){ .copies = copies_of(v),
					   .offset = pc.in_obj,
					   .length = pc.len,
					   .buf = buf + pc.pos,
					   .oid = pc.idx };
	}
	return (int)n;
}

/* More than one member: objects may be on other nodes, whatever this node's map says. */
static bool clustered(void)
{
	const struct cluster_view *v = cluster_view_latest();

	return v && v->ring.nr_nodes > 1;
}

static int max_pieces(const struct vdi *v, uint32_t len)
{
	return (int)(len >> v->hdr.block_size_shift) + 2;
}

static int io_fail(const struct vdi *v, const struct gw_req *r, const char *verb, char *err,
		   size_t errlen)
{
	char what[640];

	if (r->result == -EHOSTDOWN) {
		snprintf(err, errlen, "IO has halted as there are not enough living nodes");
		return SD_RES_HALT;
	}
	snprintf(what, sizeof(what), "%s object %016" PRIx64 " of VDI %.256s failed%s%s", verb,
		 r->oid, v->hdr.name, r->why[0] ? ": " : "", r->why);
	return vdi_fail_errno(r->result, err, errlen, what);
}

int vdi_read(struct vdi *v, uint64_t off, uint32_t len, void *buf, char *err, size_t errlen)
{
	struct gw_req *reqs, *io;
	int n, nio = 0, ret = check_range(v, off, len, err, errlen);
	bool cluster = clustered();

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

		/* Unallocated here: zeros, unless another node's allocation is not applied yet. */
		if (!v->map[idx] && !cluster) {
			memset(reqs[i].buf, 0, reqs[i].length);
			continue;
		}
		io[nio] = reqs[i];
		io[nio].op = GW_READ;
		io[nio].oid = vid_to_data_oid(v->map[idx] ? v->map[idx] : v->hdr.vdi_id, idx);
		nio++;
	}
	gw_exec_batch(io, nio);
	ret = SD_RES_SUCCESS;
	for (int i = 0; i < nio && !ret; i++) {
		if (io[i].result == -ENOENT && !v->map[oid_to_idx(io[i].oid)]) {
			memset(io[i].buf, 0, io[i].length);
		} else if (io[i].result == -ENOENT) {
			snprintf(err, errlen,
				 "object %016" PRIx64
				 " of VDI %s is missing from every holder although "
				 "its data map says it was written: that data is lost",
				 io[i].oid, v->hdr.name);
			log_err("%s", err);
			ret = SD_RES_EIO;
		} else if (io[i].result < 0) {
			ret = io_fail(v, &io[i], "reading", err, errlen);
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
	struct gw_req *reqs;
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
	/* The gateway never writes through buf; the cast only matches gw_req's type. */
	n = split(v, off, len, reqs, (char *)(uintptr_t)buf);
	for (int i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)reqs[i].oid;

		reqs[i].op = GW_WRITE;
		reqs[i].flags = GW_F_SYNC | (v->map[idx] == vid ? 0 : GW_F_CREATE);
		reqs[i].oid = vid_to_data_oid(vid, idx);
		/* Shared with a parent: the gateway copies it up first (gw_cow.c). */
		reqs[i].cow_from = v->map[idx] != vid ? v->map[idx] : 0;
		reqs[i].obj_shift = v->hdr.block_size_shift;
	}
	gw_exec_batch(reqs, n);
	for (int i = 0; i < n; i++) {
		if (reqs[i].result < 0) {
			ret = io_fail(v, &reqs[i], "writing", err, errlen);
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
		} else {
			/* Copied-up objects: a deleted parent's may now be unused. */
			struct vdi_garbage g = { 0 };

			for (uint32_t i = first; i <= last; i++)
				if (saved[i - first] != vid && v->map[i] == vid)
					vdi_unref(saved[i - first], i, &g);
			vdi_garbage_dispose(&g, false);
		}
		free(saved);
	}
	free(reqs);
	return ret;
}
