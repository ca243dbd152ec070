/*
 * The VDI id bitmap: one bit per 24-bit id, set while the id is in use. Deleted VDIs keep their
 * bit (ids are not reused) unless the cluster was formatted to recycle ids.
 */
#ifndef SD_VDI_BITMAP_H
#define SD_VDI_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"

struct vdi_bitmap {
	uint64_t words[SD_NR_VDIS / 64];
};

static inline bool vdi_bitmap_test(const struct vdi_bitmap *bm, uint32_t vid)
{
	return (bm->words[vid / 64] >> (vid % 64)) & 1;
}

static inline void vdi_bitmap_set(struct vdi_bitmap *bm, uint32_t vid)
{
	bm->words[vid / 64] |= UINT64_C(1) << (vid % 64);
}

static inline void vdi_bitmap_clear(struct vdi_bitmap *bm, uint32_t vid)
{
	bm->words[vid / 64] &= ~(UINT64_C(1) << (vid % 64));
}

/*
 * The id a new VDI gets: the first free id at or after start (0 counts as 1), wrapping around to
 * 1. Returns 0 when every id is taken.
 */
uint32_t vdi_bitmap_find_free(const struct vdi_bitmap *bm, uint32_t start);

#endif
