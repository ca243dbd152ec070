/*
 * Object operations. Any mesh thread submits an obj_req; it runs on the shard that owns the
 * object, through that shard's io_uring ring, and `done` then runs back on the submitting
 * thread. Submission never completes inline. A read alone in its loop pass is done from the
 * page cache at once, and a lone read or whole-page overwrite of an object whose owner sleeps
 * is done by the submitting shard itself (obj_io.c, lone requests). Requests have no order
 * among themselves: two submitted one after the other may run in either order. Wait for a
 * completion to order two requests.
 *
 * Creating an object never truncates it: the file is created with O_EXCL, and a creator that
 * loses the race simply opens the winner's file (OBJ_F_FRESH, for a new allocation, is the one
 * exception). Objects are sparse; reads past the end of the
 * file, or of a hole, return zeros. With OBJ_F_SYNC the operation completes only once its data,
 * and for a new object its directory entry, are on stable storage.
 */
#ifndef SD_OBJ_IO_H
#define SD_OBJ_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "../shard/msg.h"
#include "../shard/shard.h"

enum obj_op_type {
	OBJ_READ,     /* read length bytes at offset into buf; -ENOENT if there is no object */
	OBJ_WRITE,    /* write length bytes at offset from buf */
	OBJ_REMOVE,   /* delete the object; -ENOENT if there is none */
	OBJ_PUNCH,    /* free [offset, offset + length): it reads back as zeros */
	OBJ_ALLOC,    /* reserve [0, length) on disk (preallocation) */
	OBJ_ZERO,     /* zero [offset, offset + length), keeping the space allocated */
	OBJ_PREFETCH, /* advise the kernel to read [offset, offset + length) ahead */
	OBJ_RECOVER,  /* cluster: make this node's copy current (the check pulls it), no I/O */
	/*
	 * Copy-on-write: create the object with buf[0, length) as its whole content, durably, only
	 * if it does not exist yet (obj_install.h); an existing object is left as it is.
	 */
	OBJ_COPYUP,
};

#define OBJ_F_CREATE 0x1 /* write/alloc: create the object if missing */
#define OBJ_F_SYNC   0x2 /* complete only once durable */
/*
 * write/alloc: the object is being allocated (its map entry is not set), so any file by that
 * name is a leftover of a failed write or an interrupted delete: start from an empty file. Only
 * the map's single owner sets it, so no concurrent writer of the object can exist.
 */
#define OBJ_F_FRESH 0x4
/* Cluster: skip the current-copy check (obj_check_hook): removals of whole VDIs, pulls. */
#define OBJ_F_NOCHECK 0x8
/* Cluster: a copy that is not current fails with -EUCLEAN instead of being pulled (serving a
 * pull: the puller then asks another node). */
#define OBJ_F_CHECK_ONLY 0x10
/* READ: only an object of a frozen VDI (a snapshot here), else -EL2NSYNC (obj_fence.h). */
#define OBJ_F_FROZEN 0x20
/* A write that makes copies equal (dog vdi check): allowed on a snapshot's objects. */
#define OBJ_F_REPAIR 0x40

struct obj_req {
	/* Set by the submitter. buf belongs to the submitter and must stay valid until done. */
	uint8_t op;
	uint8_t ec_index;
	uint16_t flags;
	uint32_t length;
	uint64_t oid;
	uint64_t offset;
	void *buf;
	void (*done)(struct obj_req *req); /* runs on the submitting thread */
	void *priv;			   /* the submitter's */

	/* Bytes read or written (length), 0 for other operations, or -errno. */
	int result;

	/* Private to obj_io. */
	struct sd_msg msg;
	struct uop uop;
	struct fd_entry *fde;
	int origin, stage, dirfd, saved;
	uint32_t xfer;
	bool created, dir_created, evicted;
	uint8_t zero_step; /* OBJ_ZERO without ZERO_RANGE: 1 punching, 2 allocating again */
	bool counted;	   /* a write the freeze barrier waits for (wgen: its generation) */
	bool lone;	   /* alone in its pass (obj_submit): a read from the page cache at once */
	uint32_t wgen;
	struct obj_install *install; /* OBJ_COPYUP, owned while it runs */
	struct shard_defer
		defer; /* a completion inside its own submission waits for the pass end */
	char path[48];
};

void obj_submit(struct obj_req *req);

/*
 * Cluster (src/cluster/obj_check.h): called on the owning shard before each operation without
 * OBJ_F_NOCHECK. It returns true to let the operation run now, or false when it has taken the
 * request: it hands it back later with obj_resume(req, 0) to run it, or obj_resume(req, -errno)
 * to fail it. NULL (the local driver): every operation runs at once.
 */
extern bool (*obj_check_hook)(struct obj_req *req);
void obj_resume(struct obj_req *req, int err);

/*
 * On a shard, for obj_freeze_set: begin a barrier (writes admitted from now on are not waited
 * for), then ask whether every write admitted before it has completed.
 */
void obj_write_barrier_begin(void);
bool obj_write_barrier_done(void);

/* For the control thread: submit and wait for one request, or for n of them at once. */
int obj_exec(struct obj_req *req);
void obj_exec_batch(struct obj_req *reqs, int n);

#endif
