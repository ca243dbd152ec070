/*
 * VDI attributes (dog vdi setattr/getattr): key/value pairs stored in attribute objects of the
 * original layout, found by hashing (name, tag, snapshot id, key) and probing linearly. A removed
 * key leaves a tombstone (empty key) so probe chains stay intact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/byteorder.h"
#include "../core/hash.h"
#include "../core/log.h"
#include "../core/oid.h"
#include "../core/result.h"
#include "../io/obj_io.h"
#include "sys.h"
#include "vdi_internal.h"

enum {
	ATTR_OFF_NAME = 0,
	ATTR_OFF_TAG = 256,
	ATTR_OFF_CTIME = 512,
	ATTR_OFF_SNAP_ID = 520,
	ATTR_OFF_VALUE_LEN = 524,
	ATTR_OFF_KEY = 528,
	ATTR_HDR_SIZE = 784,
	ATTR_MAX_PROBES = 256,
};

static uint32_t attr_hash(const struct vdi *v, const char *key)
{
	uint8_t buf[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN + 4 + SD_MAX_VDI_ATTR_KEY_LEN] = { 0 };

	memcpy(buf, v->hdr.name, strlen(v->hdr.name));
	memcpy(buf + SD_MAX_VDI_LEN, v->hdr.tag, strlen(v->hdr.tag));
	put_le32(buf + SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN, v->hdr.snap_id);
	memcpy(buf + SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN + 4, key, strlen(key));
	return (uint32_t)fnv_64a_buf(buf, sizeof(buf), FNV1A_64_INIT);
}

enum slot_state {
	SLOT_EMPTY,
	SLOT_TOMBSTONE,
	SLOT_MATCH,
	SLOT_OTHER,
};

/* Reads the header of attribute slot oid. Returns a slot state or -errno. */
static int read_slot(uint64_t oid, const char *key, uint8_t *hdr)
{
	struct obj_req req = { .op = OBJ_READ, .oid = oid, .length = ATTR_HDR_SIZE, .buf = hdr };
	int ret = obj_exec(&req);

	if (ret == -ENOENT)
		return SLOT_EMPTY;
	if (ret < 0)
		return ret;
	if (!hdr[ATTR_OFF_KEY])
		return SLOT_TOMBSTONE;
	if (!strncmp((char *)hdr + ATTR_OFF_KEY, key, SD_MAX_VDI_ATTR_KEY_LEN))
		return SLOT_MATCH;
	return SLOT_OTHER;
}

/*
 * Finds key: *found gets the matching slot's oid (or 0), *free_oid the first reusable slot.
 * Returns 0 or -errno.
 */
static int find_key(struct vdi *v, const char *key, uint64_t *found, uint64_t *free_oid,
		    uint32_t *value_len)
{
	uint32_t h = attr_hash(v, key);
	uint8_t hdr[ATTR_HDR_SIZE];

	*found = *free_oid = 0;
	for (uint32_t i = 0; i < ATTR_MAX_PROBES; i++) {
		uint64_t oid = vid_to_attr_oid(v->hdr.vdi_id, h + i);
		int st = read_slot(oid, key, hdr);

		if (st < 0)
			return st;
		if (st == SLOT_MATCH) {
			*found = oid;
			*value_len = get_le32(hdr + ATTR_OFF_VALUE_LEN);
			return 0;
		}
		if (st == SLOT_TOMBSTONE && !*free_oid)
			*free_oid = oid;
		if (st == SLOT_EMPTY) {
			if (!*free_oid)
				*free_oid = oid;
			return 0;
		}
	}
	return 0;
}

static bool key_ok(const char *key, char *err, size_t errlen)
{
	if (key[0] && strlen(key) < SD_MAX_VDI_ATTR_KEY_LEN)
		return true;
	snprintf(err, errlen, "attribute key must be 1 to %d bytes", SD_MAX_VDI_ATTR_KEY_LEN - 1);
	return false;
}

static int remember_attr(struct vdi *v, uint64_t oid)
{
	uint64_t *n;

	for (int i = 0; i < v->nr_attrs; i++)
		if (v->attr_oids[i] == oid)
			return 0;
	n = realloc(v->attr_oids, sizeof(*n) * (size_t)(v->nr_attrs + 1));
	if (!n)
		return -ENOMEM;
	v->attr_oids = n;
	v->attr_oids[v->nr_attrs++] = oid;
	return 0;
}

/*
 * sdcluster: attributes live in the cluster's state machine (struct vdi_kv), changed only when
 * a command is applied, so every node answers getattr the same.
 */
static int kv_find(const struct vdi *v, const char *key)
{
	for (int i = 0; i < v->nr_kv; i++)
		if (!strcmp(v->kv[i].key, key))
			return i;
	return -1;
}

static int kv_set(struct vdi *v, const char *key, const void *value, uint32_t len, bool exclusive,
		  bool del, char *err, size_t errlen)
{
	int i = kv_find(v, key);
	uint8_t *val;

	if (del && i < 0) {
		snprintf(err, errlen, "Attribute '%s' not found", key);
		return SD_RES_NO_OBJ;
	}
	if (i >= 0 && exclusive) {
		snprintf(err, errlen, "The attribute '%s' already exists", key);
		return SD_RES_VDI_EXIST;
	}
	if (del) {
		free(v->kv[i].key);
		free(v->kv[i].value);
		v->kv[i] = v->kv[--v->nr_kv];
		return SD_RES_SUCCESS;
	}
	val = malloc(len ? len : 1);
	if (!val)
		goto nomem;
	if (len)
		memcpy(val, value, len);
	if (i < 0) {
		struct vdi_kv *nk = realloc(v->kv, sizeof(*nk) * (size_t)(v->nr_kv + 1));
		char *k = strdup(key);

		if (!nk || !k) {
			if (nk)
				v->kv = nk;
			free(k);
			free(val);
			goto nomem;
		}
		v->kv = nk;
		i = v->nr_kv++;
		v->kv[i].key = k;
	} else {
		free(v->kv[i].value);
	}
	v->kv[i].value = val;
	v->kv[i].len = len;
	return SD_RES_SUCCESS;
nomem:
	snprintf(err, errlen, "out of memory");
	return SD_RES_NO_MEM;
}

int vdi_attr_set(struct vdi *v, const char *key, const void *value, uint32_t len, bool exclusive,
		 bool del, char *err, size_t errlen)
{
	uint64_t found, free_oid, oid;
	uint32_t old_len = 0;
	uint8_t *obj;
	struct obj_req req;
	int ret;

	if (!key_ok(key, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (len > SD_MAX_VDI_ATTR_VALUE_LEN) {
		snprintf(err, errlen, "attribute value is %" PRIu32 " bytes, at most %d", len,
			 SD_MAX_VDI_ATTR_VALUE_LEN);
		return SD_RES_INVALID_PARMS;
	}
	if (sys.clustered)
		return kv_set(v, key, value, len, exclusive, del, err, errlen);
	ret = find_key(v, key, &found, &free_oid, &old_len);
	if (ret)
		return vdi_fail_errno(ret, err, errlen, "cannot read the attribute objects");
	if (del && !found) {
		snprintf(err, errlen, "Attribute '%s' not found", key);
		return SD_RES_NO_OBJ;
	}
	if (found && exclusive) {
		snprintf(err, errlen, "The attribute '%s' already exists", key);
		return SD_RES_VDI_EXIST;
	}
	oid = found ? found : free_oid;
	if (!oid) {
		snprintf(err, errlen, "no free attribute slot for '%s' after %d probes", key,
			 ATTR_MAX_PROBES);
		return SD_RES_NO_SPACE;
	}
	obj = calloc(1, ATTR_HDR_SIZE + (size_t)len);
	if (!obj) {
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	memcpy(obj + ATTR_OFF_NAME, v->hdr.name, strlen(v->hdr.name));
	memcpy(obj + ATTR_OFF_TAG, v->hdr.tag, strlen(v->hdr.tag));
	put_le64(obj + ATTR_OFF_CTIME, (uint64_t)time(NULL));
	put_le32(obj + ATTR_OFF_SNAP_ID, v->hdr.snap_id);
	if (!del) {
		put_le32(obj + ATTR_OFF_VALUE_LEN, len);
		memcpy(obj + ATTR_OFF_KEY, key, strlen(key));
		if (len)
			memcpy(obj + ATTR_HDR_SIZE, value, len);
	}
	req = (struct obj_req){ .op = OBJ_WRITE,
				.flags = OBJ_F_CREATE | OBJ_F_SYNC,
				.oid = oid,
				.length = ATTR_HDR_SIZE + (del ? 0 : len),
				.buf = obj };
	ret = obj_exec(&req);
	free(obj);
	if (ret < 0)
		return vdi_fail_errno(ret, err, errlen, "cannot write the attribute object");
	if (remember_attr(v, oid))
		log_warn("out of memory tracking attribute %016" PRIx64, oid);
	return SD_RES_SUCCESS;
}

int vdi_attr_get(struct vdi *v, const char *key, void *value, uint32_t *len, char *err,
		 size_t errlen)
{
	uint64_t found, free_oid;
	uint32_t vlen = 0;
	struct obj_req req;
	int ret;

	if (!key_ok(key, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (sys.clustered) {
		int i = kv_find(v, key);

		if (i < 0) {
			snprintf(err, errlen, "Attribute '%s' not found", key);
			return SD_RES_NO_OBJ;
		}
		if (v->kv[i].len)
			memcpy(value, v->kv[i].value, v->kv[i].len);
		*len = v->kv[i].len;
		return SD_RES_SUCCESS;
	}
	ret = find_key(v, key, &found, &free_oid, &vlen);
	if (ret)
		return vdi_fail_errno(ret, err, errlen, "cannot read the attribute objects");
	if (!found) {
		snprintf(err, errlen, "Attribute '%s' not found", key);
		return SD_RES_NO_OBJ;
	}
	if (vlen > SD_MAX_VDI_ATTR_VALUE_LEN) {
		snprintf(err, errlen, "attribute object %016" PRIx64 " is corrupt", found);
		return SD_RES_EIO;
	}
	req = (struct obj_req){
		.op = OBJ_READ, .oid = found, .offset = ATTR_HDR_SIZE, .length = vlen, .buf = value
	};
	ret = vlen ? obj_exec(&req) : 0;
	if (ret < 0)
		return vdi_fail_errno(ret, err, errlen, "cannot read the attribute value");
	*len = vlen;
	return SD_RES_SUCCESS;
}
