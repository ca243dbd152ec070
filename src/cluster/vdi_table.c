/* The in-memory VDI table: lookup by id and name, the id bitmap, the data maps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/utf8.h"
#include "vdi.h"
#include "vdi_share.h"

int vdi_table_init(struct vdi_table *t)
{
	memset(t, 0, sizeof(*t));
	t->inuse = calloc(1, sizeof(*t->inuse));
	return t->inuse ? 0 : -ENOMEM;
}

void vdi_free(struct vdi *v)
{
	if (!v)
		return;
	if (v->share) {
		__atomic_store_n(&v->share->deleted, 1, __ATOMIC_RELEASE);
		vdi_share_put(v->share);
	}
	free(v->map);
	free(v->attr_oids);
	for (int i = 0; i < v->nr_kv; i++) {
		free(v->kv[i].key);
		free(v->kv[i].value);
	}
	free(v->kv);
	free(v);
}

void vdi_table_clear(struct vdi_table *t)
{
	for (int i = 0; i < t->nr; i++)
		vdi_free(t->v[i]);
	t->nr = 0;
	memset(t->inuse, 0, sizeof(*t->inuse));
}

void vdi_table_destroy(struct vdi_table *t)
{
	if (!t->inuse)
		return;
	vdi_table_clear(t);
	free(t->v);
	free(t->inuse);
	memset(t, 0, sizeof(*t));
}

/* Index of the first entry with id >= vid. */
static int lower_bound(const struct vdi_table *t, uint32_t vid)
{
	int lo = 0, hi = t->nr;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (t->v[mid]->hdr.vdi_id < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vdi_table_insert(struct vdi_table *t, struct vdi *v)
{
	int pos = lower_bound(t, v->hdr.vdi_id);

	/* Deleted VDIs keep their id but are never exported. */
	if (!v->share && v->hdr.name[0] && !(v->share = vdi_share_new(v)))
		return -ENOMEM;

	if (pos < t->nr && t->v[pos]->hdr.vdi_id == v->hdr.vdi_id) {
		vdi_free(t->v[pos]);
		t->v[pos] = v;
		return 0;
	}
	if (t->nr == t->cap) {
		int cap = t->cap ? t->cap * 2 : 64;
		struct vdi **nv = realloc(t->v, sizeof(*nv) * (size_t)cap);

		if (!nv)
			return -ENOMEM;
		t->v = nv;
		t->cap = cap;
	}
	memmove(&t->v[pos + 1], &t->v[pos], sizeof(*t->v) * (size_t)(t->nr - pos));
	t->v[pos] = v;
	t->nr++;
	vdi_bitmap_set(t->inuse, v->hdr.vdi_id);
	return 0;
}

void vdi_table_remove(struct vdi_table *t, uint32_t vid)
{
	int pos = lower_bound(t, vid);

	if (pos < t->nr && t->v[pos]->hdr.vdi_id == vid) {
		vdi_free(t->v[pos]);
		memmove(&t->v[pos], &t->v[pos + 1], sizeof(*t->v) * (size_t)(t->nr - pos - 1));
		t->nr--;
	}
	vdi_bitmap_clear(t->inuse, vid);
}

struct vdi *vdi_find_vid(const struct vdi_table *t, uint32_t vid)
{
	int pos = lower_bound(t, vid);

	return pos < t->nr && t->v[pos]->hdr.vdi_id == vid ? t->v[pos] : NULL;
}

struct vdi *vdi_find_name(const struct vdi_table *t, const char *name)
{
	for (int i = 0; i < t->nr; i++) {
		struct vdi *v = t->v[i];

		if (!inode_is_deleted(&v->hdr) && !v->hdr.snap_ctime && !strcmp(v->hdr.name, name))
			return v;
	}
	return NULL;
}

struct vdi *vdi_find_live(const struct vdi_table *t, uint32_t vid)
{
	struct vdi *v = vdi_find_vid(t, vid);

	return v && v->hdr.name[0] ? v : NULL;
}

void vdi_set_writer(struct vdi *v, uint64_t raft_id)
{
	if (v->writer == raft_id)
		return;
	v->writer = raft_id;
	if (v->share) {
		__atomic_store_n(&v->share->writer, raft_id, __ATOMIC_SEQ_CST);
		/* A release applied: the holder's shards may order writes again once it is back. */
		__atomic_store_n(&v->share->releasing, 0, __ATOMIC_SEQ_CST);
	}
}

int vdi_map_resize(struct vdi *v, uint32_t new_len)
{
	uint32_t *m;

	if (new_len <= v->map_len)
		return 0;
	m = realloc(v->map, sizeof(*m) * new_len);
	if (!m)
		return -ENOMEM;
	memset(m + v->map_len, 0, sizeof(*m) * (new_len - v->map_len));
	v->map = m;
	v->map_len = new_len;
	return 0;
}

void vdi_map_set(struct vdi *v, uint32_t idx, uint32_t vid)
{
	uint32_t old = v->map[idx];

	if (old == v->hdr.vdi_id)
		v->nr_owned--;
	else if (old)
		v->nr_shared--;
	if (vid == v->hdr.vdi_id)
		v->nr_owned++;
	else if (vid)
		v->nr_shared++;
	v->map[idx] = vid;
}

int vdi_name_check(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), bad;
	uint32_t cp;
	int n;

	if (!len) {
		snprintf(err, errlen, "VDI name cannot be empty");
		return -EINVAL;
	}
	if (len >= SD_MAX_VDI_LEN) {
		snprintf(err, errlen, "VDI name is too long: %zu bytes, at most %d", len,
			 SD_MAX_VDI_LEN - 1);
		return -EINVAL;
	}
	/* Before anything prints the name: the operator's terminal gets only text. */
	bad = utf8_invalid_at((const uint8_t *)name, len);
	if (bad < len) {
		snprintf(err, errlen,
			 "VDI name is not valid UTF-8 (at byte %zu of %zu): names must be "
			 "UTF-8 text without NUL",
			 bad, len);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i += (size_t)n) {
		n = utf8_decode((const uint8_t *)name + i, len - i, &cp);
		/* C1 controls (U+0080..U+009F) too: they are control characters as much as C0. */
		if (cp == '/' || cp == '@' || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			snprintf(err, errlen,
				 "VDI name '%s' has a character that is not allowed ('/', '@' or a "
				 "control character): the name is also an NBD export and a file "
				 "name",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}
