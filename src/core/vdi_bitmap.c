/* First-free search over the VDI id bitmap, word at a time. */
#include "vdi_bitmap.h"

/* First clear bit in [from, to), or 0 if none. Bit 0 is never a valid id, callers start at 1. */
static uint32_t find_clear(const struct vdi_bitmap *bm, uint32_t from, uint32_t to)
{
	uint32_t i = from;

	while (i < to) {
		uint64_t w = ~bm->words[i / 64] >> (i % 64);

		if (w) {
			uint32_t bit = i + (uint32_t)__builtin_ctzll(w);

			return bit < to ? bit : 0;
		}
		i = (i / 64 + 1) * 64;
	}
	return 0;
}

uint32_t vdi_bitmap_find_free(const struct vdi_bitmap *bm, uint32_t start)
{
	uint32_t vid;

	start &= SD_NR_VDIS - 1;
	if (start == 0)
		start = 1;
	vid = find_clear(bm, start, SD_NR_VDIS);
	if (vid)
		return vid;
	return find_clear(bm, 1, start);
}
