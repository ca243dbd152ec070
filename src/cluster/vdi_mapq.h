/*
 * Changes to VDI data maps asked for by the shards' frontends: "these objects now exist" after a
 * write created them, and "free these objects" for TRIM and WRITE_ZEROES. The control thread owns
 * the maps, so requests travel there by message; it applies them in batches (one directory sync
 * and one map write per VDI for a whole batch of allocations) and answers each request on the
 * thread that sent it, only once the change is durable and published to the shards.
 */
#ifndef SD_VDI_MAPQ_H
#define SD_VDI_MAPQ_H

#include <stdint.h>

#include "../shard/msg.h"

enum vdi_mapq_op {
	/* Objects first..last were written (their files exist): record them in the map. */
	VDI_MAPQ_ALLOC,
	/* Clear the map entries of first..last, then remove their objects. */
	VDI_MAPQ_FREE,
};

struct vdi_mapq_req {
	/* Set by the submitter; the request belongs to it and stays valid until done runs. */
	uint8_t op;
	uint32_t vid;
	uint32_t first, last;		      /* object indices, inclusive */
	void (*done)(struct vdi_mapq_req *r); /* runs on the submitting thread */
	void *priv;
	/* 0 or -errno: -ENODEV if the VDI was deleted meanwhile. */
	int result;
	/* Private. */
	struct sd_msg msg;
	int origin;
	struct vdi_mapq_req *next;
};

/* From any mesh thread other than the control thread. */
void vdi_mapq_submit(struct vdi_mapq_req *r);

/* Control thread: applies every queued request. Returns how many were answered. */
int vdi_mapq_run(void);

#endif
