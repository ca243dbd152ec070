/*
 * VDIs as the control thread keeps them: the inode header and the data object map of every VDI,
 * loaded at start-up from the inode objects, changed only by the control thread, in one order.
 * The inode objects on disk are the truth; this table is their cache.
 */
#ifndef SD_VDI_H
#define SD_VDI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/inode.h"
#include "../core/vdi_bitmap.h"

struct vdi_share;

/* An attribute kept in the cluster's state machine (sdcluster; the local driver uses objects). */
struct vdi_kv {
	char *key;	/* owned */
	uint8_t *value; /* owned */
	uint32_t len;
};

struct vdi {
	struct sd_inode_hdr hdr;
	uint32_t *map;		 /* data_vdi_id[0 .. map_len), owned */
	uint32_t map_len;	 /* objects covering hdr.vdi_size */
	uint32_t nr_owned;	 /* map entries equal to the VDI's id */
	uint32_t nr_shared;	 /* other non-zero entries */
	uint64_t *attr_oids;	 /* attribute objects of this VDI, owned */
	struct vdi_share *share; /* what shards see of it (vdi_share.h); one reference */
	int nr_attrs;
	struct vdi_kv *kv; /* sdcluster attributes, owned */
	int nr_kv;
	uint64_t writer; /* sdcluster: raft id of the write lease's holder, 0: none */
	/* Deleted, but descendants still name some of its objects: its inode stays meanwhile. */
	bool inode_kept;
	/* sdcluster's VDI lock (vdi_lock.h): the holder's raft id, 0: none; shareable: none is
	 * taken. lock_idle, lock_busy: this node's bookkeeping of its own. */
	uint64_t lock_holder;
	bool shareable, lock_busy;
	int lock_idle;
	/* dog vdi alter-copy: the epoch its copies last changed in (0: never), and before. */
	uint32_t copies_epoch;
	uint8_t prev_copies;
	bool lease_release_busy; /* this node's release of the lease is being proposed */
};

struct vdi_table {
	struct vdi_bitmap *inuse; /* owned, 2 MiB */
	struct vdi **v;		  /* sorted by id; deleted VDIs stay (their id stays used) */
	int nr, cap;
};

int vdi_table_init(struct vdi_table *t);
void vdi_table_clear(struct vdi_table *t);
void vdi_table_destroy(struct vdi_table *t);
/* Takes ownership of v. Returns 0 or -ENOMEM. */
int vdi_table_insert(struct vdi_table *t, struct vdi *v);
void vdi_table_remove(struct vdi_table *t, uint32_t vid);
struct vdi *vdi_find_vid(const struct vdi_table *t, uint32_t vid);
/* The VDI with id vid unless it was deleted, or NULL. */
struct vdi *vdi_find_live(const struct vdi_table *t, uint32_t vid);
/* The working (not deleted, not snapshot) VDI with this name, or NULL. */
struct vdi *vdi_find_name(const struct vdi_table *t, const char *name);
void vdi_free(struct vdi *v);
/* Sets the write lease's holder (sdcluster), and what the shards see of it. */
void vdi_set_writer(struct vdi *v, uint64_t raft_id);
/* Grows the map to cover new_len objects (new entries 0). Returns 0 or -ENOMEM. */
int vdi_map_resize(struct vdi *v, uint32_t new_len);
/* Sets map[idx] and keeps the owned/shared counts right. */
void vdi_map_set(struct vdi *v, uint32_t idx, uint32_t vid);

static inline uint64_t vdi_obj_size(const struct vdi *v)
{
	return UINT64_C(1) << v->hdr.block_size_shift;
}

/*
 * Checks a VDI name: not empty, shorter than 256 bytes, valid UTF-8, no '/', '@' or control
 * characters (C0, DEL or C1). Returns 0, or -EINVAL with the reason in err.
 */
int vdi_name_check(const char *name, char *err, size_t errlen);

/* Operations, each returning an SD_RES code and, on failure, a message for the operator. */
/* create_time: seconds << 32 | nanoseconds, 0 for now (sdcluster: the proposer's). */
int vdi_create(const char *name, uint64_t size, uint8_t copies, uint8_t copy_policy,
	       uint64_t create_time, uint32_t *vid, char *err, size_t errlen);
int vdi_prealloc(struct vdi *v, uint32_t start, uint32_t count, char *err, size_t errlen);
int vdi_delete(struct vdi *v, char *err, size_t errlen);
/*
 * sdcluster: a delete applied from the cluster's log. The VDI stops being served at once;
 * remove_local: this node's copies of its objects go too, in the background (obj_reaper.h).
 */
int vdi_delete_cluster(struct vdi *v, bool remove_local, char *err, size_t errlen);
int vdi_resize(struct vdi *v, uint64_t new_size, char *err, size_t errlen);

/* Snapshots, clones, rollbacks (vdi_snap.c). ctime: seconds << 32 | ns, 0 for now. */
/* Checks a snapshot tag: shorter than 256 bytes, UTF-8, not all digits, no '/', '@', controls. */
int vdi_tag_check(const char *tag, char *err, size_t errlen);
/* The live snapshot of name whose tag is snap, or whose id it is when snap is all digits. */
struct vdi *vdi_find_snapshot(const struct vdi_table *t, const char *name, const char *snap);
/* v (working) becomes a snapshot tagged tag; the name moves to a new VDI, id in *new_vid. */
int vdi_snapshot(struct vdi *v, const char *tag, uint64_t ctime, uint32_t *new_vid, char *err,
		 size_t errlen);
/* A new VDI name on snapshot snap's objects. */
int vdi_clone(struct vdi *snap, const char *name, uint64_t ctime, uint32_t *vid, char *err,
	      size_t errlen);
/* Deletes working VDI cur and gives its name to a new VDI on snapshot snap's objects. */
int vdi_rollback(struct vdi *cur, struct vdi *snap, uint64_t ctime, bool remove_local,
		 uint32_t *vid, char *err, size_t errlen);
/* At start-up: every snapshot's objects are read-only (obj_fence.h). */
void vdi_freeze_snapshots(void);
/* The checks of vdi_resize alone: SD_RES_SUCCESS, or why not in err. */
int vdi_resize_check(const struct vdi *v, uint64_t new_size, char *err, size_t errlen);
int vdi_read(struct vdi *v, uint64_t off, uint32_t len, void *buf, char *err, size_t errlen);
int vdi_write(struct vdi *v, uint64_t off, uint32_t len, const void *buf, char *err, size_t errlen);
/* Attributes: set (value NULL with del to remove) and get. */
int vdi_attr_set(struct vdi *v, const char *key, const void *value, uint32_t len, bool exclusive,
		 bool del, char *err, size_t errlen);
int vdi_attr_get(struct vdi *v, const char *key, void *value, uint32_t *len, char *err,
		 size_t errlen);

/*
 * Writes the inode header durably (shadow copy, then primary). fresh: a new VDI, whose inode
 * file must start empty. Returns 0 or -errno.
 */
int vdi_write_header(const struct sd_inode_hdr *hdr, bool fresh);

#endif
