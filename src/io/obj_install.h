/*
 * Installing a whole object on the owning shard without blocking it: the bytes go to a
 * temporary file, are made durable, and replace the object's file by a rename (then the
 * directory is synced), every step an io_uring operation of the shard's ring. Zero blocks are
 * left as holes, as the source's copy most likely has them. Or the object's file is removed
 * (the object does not exist anywhere).
 *
 * Two users: recovery installs a pulled copy over whatever is there; a copy-up (the first write
 * to an object shared with a snapshot) installs the parent's bytes only if the object does not
 * exist yet (noreplace), so that a copy-up that lost a race never overwrites a write the
 * winner's object already took. Either way a reader sees the old file or the whole new one.
 */
#ifndef SD_OBJ_INSTALL_H
#define SD_OBJ_INSTALL_H

#include <stdbool.h>
#include <stdint.h>

#include "../shard/shard.h"

struct obj_install {
	/* Set by the caller; buf (len bytes, NULL: remove the object) stays valid until done. */
	uint64_t oid;
	const uint8_t *buf;
	uint32_t len;
	bool noreplace; /* copy-up: leave an existing object alone; existed says so */
	bool existed;
	void (*done)(struct obj_install *in, int err); /* 0 or -errno, on the shard */
	void *priv;

	/* Private. */
	struct uop uop;
	struct obj_install_write {
		struct uop uop;
		uint32_t len;
		struct obj_install *in;
	} writes[8];
	int step, fd, pending, err;
	uint32_t next_off;
	char path[48], tmp[64], sub[24];
	bool made_dir;
	bool submitting; /* in write_more: completions reaped meanwhile only count */
};

/* On the object's shard. The caller's struct must live until done. */
void obj_install_start(struct obj_install *in);

#endif
