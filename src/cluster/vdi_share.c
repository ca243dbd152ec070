/* Shares of VDIs and the export table, published by the control thread to the shards. */
#include "vdi_share.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/log.h"
#include "../shard/shard.h"
#include "../shard/shard_all.h"
#include "sys.h"
#include "vdi.h"

#define SHARE_MAP_BYTES ((size_t)SD_INODE_DATA_INDEX * sizeof(uint32_t))

struct vdi_share *vdi_share_new(const struct vdi *v)
{
	struct vdi_share *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	/* Reserved, not committed: only the pages the VDI's size reaches are ever touched. */
	sh->map = mmap(NULL, SHARE_MAP_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sh->map == MAP_FAILED) {
		free(sh);
		return NULL;
	}
	sh->vid = v->hdr.vdi_id;
	sh->obj_shift = v->hdr.block_size_shift;
	sh->copies = v->hdr.nr_copies ? v->hdr.nr_copies : 1;
	sh->read_only = v->hdr.snap_ctime != 0;
	sh->snap_id = v->hdr.snap_id;
	snprintf(sh->vdi_name, sizeof(sh->vdi_name), "%s", v->hdr.name);
	/* A snapshot is exported as NAME@TAG, or NAME@ID without a tag. */
	if (sh->read_only && v->hdr.tag[0])
		snprintf(sh->name, sizeof(sh->name), "%s@%s", v->hdr.name, v->hdr.tag);
	else if (sh->read_only)
		snprintf(sh->name, sizeof(sh->name), "%s@%" PRIu32, v->hdr.name, v->hdr.snap_id);
	else
		snprintf(sh->name, sizeof(sh->name), "%s", v->hdr.name);
	sh->size = v->hdr.vdi_size;
	sh->writer = v->writer;
	sh->copies_epoch = v->copies_epoch;
	sh->prev_copies = v->prev_copies;
	sh->lock_holder = v->lock_holder;
	sh->shareable = v->shareable;
	memcpy(sh->map, v->map, sizeof(uint32_t) * v->map_len);
	sh->refs = 1;
	return sh;
}

void vdi_share_get(struct vdi_share *sh)
{
	__atomic_add_fetch(&sh->refs, 1, __ATOMIC_RELAXED);
}

void vdi_share_put(struct vdi_share *sh)
{
	if (!sh || __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL))
		return;
	munmap(sh->map, SHARE_MAP_BYTES);
	free(sh);
}

void vdi_share_publish_map(const struct vdi *v, uint32_t first, uint32_t last)
{
	if (!v->share)
		return;
	for (uint32_t i = first; i <= last && i < v->map_len; i++)
		__atomic_store_n(&v->share->map[i], v->map[i], __ATOMIC_RELEASE);
}

void export_table_put(struct export_table *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (int i = 0; i < t->nr; i++)
		vdi_share_put(t->e[i]);
	free(t->e);
	free(t->by_vid);
	free(t);
}

static int by_name(const void *a, const void *b)
{
	const struct vdi_share *x = *(struct vdi_share *const *)a;
	const struct vdi_share *y = *(struct vdi_share *const *)b;

	return strcmp(x->name, y->name);
}

struct vdi_share *export_table_find(const struct export_table *t, const char *name)
{
	int lo = 0, hi = t ? t->nr - 1 : -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(name, t->e[mid]->name);

		if (!c)
			return t->e[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int by_vid(const void *a, const void *b)
{
	const struct vdi_share *x = *(struct vdi_share *const *)a;
	const struct vdi_share *y = *(struct vdi_share *const *)b;

	return x->vid < y->vid ? -1 : x->vid > y->vid;
}

struct vdi_share *export_table_find_vid(const struct export_table *t, uint32_t vid)
{
	int lo = 0, hi = t ? t->nr - 1 : -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (t->by_vid[mid]->vid == vid)
			return t->by_vid[mid];
		if (t->by_vid[mid]->vid < vid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Each shard's current table: one reference each. */
static __thread struct export_table *current;

const struct export_table *export_table_current(void)
{
	return current;
}

static void install(void *arg)
{
	struct export_table *old = current;

	current = arg;
	export_table_put(old);
}

static struct export_table *build(void)
{
	struct export_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->e = calloc((size_t)sys.vdis.nr + 1, sizeof(*t->e));
	t->by_vid = calloc((size_t)sys.vdis.nr + 1, sizeof(*t->by_vid));
	if (!t->e || !t->by_vid) {
		free(t->e);
		free(t->by_vid);
		free(t);
		return NULL;
	}
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *v = sys.vdis.v[i];

		if (!v->share || !v->hdr.name[0] || vdi_share_deleted(v->share))
			continue;
		vdi_share_get(v->share);
		t->e[t->nr++] = v->share;
	}
	qsort(t->e, (size_t)t->nr, sizeof(*t->e), by_name);
	memcpy(t->by_vid, t->e, sizeof(*t->e) * (size_t)t->nr);
	qsort(t->by_vid, (size_t)t->nr, sizeof(*t->by_vid), by_vid);
	return t;
}

int export_table_publish(void)
{
	struct export_table *t = build();

	if (!t) {
		log_err("out of memory building the export table: exports keep their old list");
		return -ENOMEM;
	}
	t->refs = shard_count() + 1;
	if (shard_run_on_all(install, t)) {
		/* No shard took a reference; drop them all. */
		t->refs = 1;
		export_table_put(t);
		return -ENOMEM;
	}
	export_table_put(t);
	return 0;
}

void (*export_moved_hook)(void *arg);

void export_table_moved(void)
{
	if (export_moved_hook && shard_run_on_all(export_moved_hook, NULL))
		log_warn("out of memory moving NBD connections to a snapshot's new working VDI; "
			 "each moves at its next request");
}

static void retire(void *arg)
{
	(void)arg;
	install(NULL);
}

void export_table_retire(void)
{
	shard_run_on_all(retire, NULL);
}
