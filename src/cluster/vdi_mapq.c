/* Batched, durable map changes for the frontends, on the control thread. */
#include "vdi_mapq.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/result.h"
#include "sdcluster/sdcluster.h"
#include "../core/oid.h"
#include "../io/obj_io.h"
#include "obj_sweep.h"
#include "sys.h"
#include "vdi_internal.h"
#include "vdi_reclaim.h"

static struct vdi_mapq_req *queue_head, *queue_tail;
static int control_id = -1;
static bool running;

static void enqueue(void *arg)
{
	struct vdi_mapq_req *r = arg;

	r->next = NULL;
	if (queue_tail)
		queue_tail->next = r;
	else
		queue_head = r;
	queue_tail = r;
}

void vdi_mapq_submit(struct vdi_mapq_req *r)
{
	if (control_id < 0)
		control_id = msg_mesh_size() - 1; /* the control thread comes after the shards */
	r->origin = sd_self_id;
	r->result = 0;
	r->msg.fn = enqueue;
	r->msg.arg = r;
	msg_send(control_id, &r->msg);
}

static void answer_on_origin(void *arg)
{
	struct vdi_mapq_req *r = arg;

	r->done(r);
}

static void answer(struct vdi_mapq_req *r, int result)
{
	r->result = result;
	r->msg.fn = answer_on_origin;
	r->msg.arg = r;
	msg_send(r->origin, &r->msg);
}

static struct vdi *live_vdi(uint32_t vid)
{
	struct vdi *v = vdi_find_vid(&sys.vdis, vid);

	return v && v->hdr.name[0] && !v->hdr.snap_ctime ? v : NULL;
}

/* Why a VDI takes no map change: -EROFS once a snapshot (the writer moves on), else -ENODEV. */
static int gone(uint32_t vid)
{
	struct vdi *v = vdi_find_vid(&sys.vdis, vid);

	if (v && v->hdr.name[0] && v->hdr.snap_ctime) {
		obj_sweep_kick(); /* what the write created stays unrecorded: garbage */
		return -EROFS;
	}
	return -ENODEV;
}

/* Makes new object files' directory entries durable before any map entry names them. */
static int sync_dirs(const struct vdi_mapq_req *batch)
{
	if (sys.store->kind == STORE_TREE) {
		for (const struct vdi_mapq_req *r = batch; r; r = r->next) {
			char sub[16];
			int fd, ret = 0;

			store_obj_subdir(sys.store->kind, vid_to_data_oid(r->vid, 0), sub,
					 sizeof(sub));
			fd = openat(sys.store->objdir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) < 0)
				ret = -errno;
			if (fd >= 0)
				close(fd);
			if (ret && ret != -ENOENT)
				return ret;
		}
	}
	return fsync(sys.store->objdir_fd) < 0 ? -errno : 0;
}

#define MAPQ_PENDING 1

/*
 * The files of a request's new objects must exist: a TRIM that overlapped the write may have
 * removed one after the data went in, and the map must never name a missing file.
 */
static int files_exist(const struct vdi *v, const struct vdi_mapq_req *q)
{
	for (uint32_t i = q->first; i <= q->last; i++) {
		uint64_t oid = vid_to_data_oid(q->vid, i);
		char path[48];
		struct stat st;

		if (v->map[i] == q->vid)
			continue;
		if (store_obj_path(sys.store->kind, oid, 0, path, sizeof(path)) ||
		    fstatat(sys.store->objdir_fd, path, &st, 0) < 0) {
			log_warn("VDI %s: object %016" PRIx64 " went away before it was recorded "
				 "(a TRIM overlapped the write); the write fails",
				 v->hdr.name, oid);
			return -EIO;
		}
	}
	return 0;
}

/* Records the pending requests of r's VDI (r included) with one map write. */
static void alloc_group(struct vdi *v, struct vdi_mapq_req *r)
{
	uint32_t first = UINT32_MAX, last = 0, *saved;
	struct vdi_mapq_req *q;
	int ret;

	for (q = r; q; q = q->next) {
		if (q->vid != r->vid || q->result != MAPQ_PENDING)
			continue;
		if (q->first > q->last || q->last >= v->map_len) {
			q->result = -EINVAL;
			continue;
		}
		if ((q->result = files_exist(v, q)) != 0)
			continue;
		q->result = MAPQ_PENDING;
		first = q->first < first ? q->first : first;
		last = q->last > last ? q->last : last;
	}
	if (first == UINT32_MAX)
		return;
	saved = malloc(sizeof(*saved) * (last - first + 1));
	if (saved) {
		memcpy(saved, v->map + first, sizeof(*saved) * (last - first + 1));
		for (q = r; q; q = q->next) {
			if (q->vid != r->vid || q->result != MAPQ_PENDING)
				continue;
			for (uint32_t i = q->first; i <= q->last; i++)
				if (v->map[i] != r->vid)
					vdi_map_set(v, i, r->vid);
		}
		ret = vdi_write_map_range(v, first, last);
		if (ret) {
			log_err("VDI %s: cannot record new objects %" PRIu32 "..%" PRIu32
				" in its data map: %s",
				v->hdr.name, first, last, strerror(-ret));
			for (uint32_t i = first; i <= last; i++)
				vdi_map_set(v, i, saved[i - first]);
		} else {
			/* Copied-up objects: the parent's may now be unused (vdi_reclaim.h). */
			struct vdi_garbage g = { 0 };

			for (uint32_t i = first; i <= last; i++)
				if (saved[i - first] != r->vid && v->map[i] == r->vid)
					vdi_unref(saved[i - first], i, &g);
			vdi_garbage_dispose(&g, false);
		}
		free(saved);
	} else {
		ret = -ENOMEM;
	}
	for (q = r; q; q = q->next)
		if (q->vid == r->vid && q->result == MAPQ_PENDING)
			q->result = ret;
}

/*
 * A batch of allocations: sync the directories once, write each VDI's changed map range once,
 * then answer every request. On a failure the entries go back to what they were.
 */
static void run_allocs(struct vdi_mapq_req *batch)
{
	int dir_ret = sync_dirs(batch);
	struct vdi_mapq_req *r;

	if (dir_ret)
		log_err("cannot sync the object directory %s: %s", sys.store->objdir,
			strerror(-dir_ret));
	for (r = batch; r; r = r->next)
		r->result = MAPQ_PENDING;
	for (r = batch; r; r = r->next) {
		struct vdi *v;

		if (r->result != MAPQ_PENDING)
			continue;
		v = live_vdi(r->vid);
		if (!v || dir_ret)
			r->result = v ? dir_ret : gone(r->vid);
		else
			alloc_group(v, r);
	}
	while (batch) {
		r = batch;
		batch = r->next;
		answer(r, r->result);
	}
}

/*
 * A free: clear the entries durably, then remove what nothing names any more (the VDI's own
 * objects, and a deleted parent's that only this entry still named); an own object that cannot
 * be removed keeps its data, so it goes back into the map.
 */
static int run_free(struct vdi_mapq_req *r)
{
	struct vdi *v = live_vdi(r->vid);
	struct vdi_garbage g = { 0 };
	uint32_t n = 0, last, *saved;
	int ret, failed = 0;

	if (!v)
		return gone(r->vid);
	if (r->first >= v->map_len)
		return 0;
	last = r->last < v->map_len ? r->last : v->map_len - 1;
	for (uint32_t i = r->first; i <= last; i++)
		n += v->map[i] != 0;
	if (!n)
		return 0;
	saved = malloc(sizeof(*saved) * (last - r->first + 1));
	if (!saved)
		return -ENOMEM;
	memcpy(saved, v->map + r->first, sizeof(*saved) * (last - r->first + 1));
	for (uint32_t i = r->first; i <= last; i++)
		if (v->map[i])
			vdi_map_set(v, i, 0);
	ret = vdi_write_map_range(v, r->first, last);
	if (ret) {
		for (uint32_t i = r->first; i <= last; i++)
			vdi_map_set(v, i, saved[i - r->first]);
		free(saved);
		log_err("VDI %s: cannot clear objects %" PRIu32 "..%" PRIu32 " in its data map: %s",
			v->hdr.name, r->first, last, strerror(-ret));
		return ret;
	}
	for (uint32_t i = r->first; i <= last; i++)
		vdi_unref(saved[i - r->first], i, &g);
	free(saved);
	failed = vdi_garbage_dispose(&g, false);
	if (failed) {
		/* Which ones failed is in the log; the map keeps what may still be on disk. */
		log_err("VDI %s: %d objects of %" PRIu32 "..%" PRIu32 " could not be removed",
			v->hdr.name, failed, r->first, last);
	}
	return failed ? -EIO : 0;
}

/*
 * sdcluster: a map change is a command in the cluster's log, applied on every node (each
 * removes its own copies of freed objects); the request is answered once it is applied here.
 */
static void cluster_done(void *arg, const struct sdc_outcome *o)
{
	struct vdi_mapq_req *r = arg;

	if (o->result)
		log_warn("VDI %" PRIx32 ": map change %" PRIu32 "..%" PRIu32 " failed: %s", r->vid,
			 r->first, r->last, o->msg && o->msg[0] ? o->msg : sd_strerror(o->result));
	answer(r, o->result == SD_RES_SUCCESS	 ? 0
		  : o->result == SD_RES_NO_VDI	 ? -ENODEV
		  : o->result == SD_RES_READONLY ? -EROFS
						 : -EIO);
}

static void run_cluster(struct vdi_mapq_req *r)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__MapChange m = SDCL__MAP_CHANGE__INIT;

	if (!live_vdi(r->vid)) {
		answer(r, gone(r->vid));
		return;
	}
	m.vid = r->vid;
	m.alloc = r->op == VDI_MAPQ_ALLOC;
	m.first = r->first;
	m.last = r->last;
	cmd.op_case = SDCL__COMMAND__OP_MAP;
	cmd.map = &m;
	sdcluster_propose(&cmd, cluster_done, r);
}

int vdi_mapq_run(void)
{
	int answered = 0;

	if (sys.clustered) {
		while (queue_head) {
			struct vdi_mapq_req *r = queue_head;

			queue_head = r->next;
			if (!queue_head)
				queue_tail = NULL;
			r->next = NULL;
			answered++;
			run_cluster(r);
		}
		return answered;
	}

	/* Map writes wait on shards and run messages meanwhile: new requests only queue. */
	if (running)
		return 0;
	running = true;
	while (queue_head) {
		struct vdi_mapq_req *batch = queue_head, *allocs = NULL, **tail = &allocs;

		queue_head = queue_tail = NULL;
		while (batch) {
			struct vdi_mapq_req *r = batch;

			batch = r->next;
			r->next = NULL;
			answered++;
			if (r->op == VDI_MAPQ_ALLOC) {
				*tail = r;
				tail = &r->next;
			} else {
				answer(r, r->op == VDI_MAPQ_FREE ? run_free(r) : -EINVAL);
			}
		}
		if (allocs)
			run_allocs(allocs);
	}
	running = false;
	return answered;
}
