/*
 * Cutting a byte range of a VDI at object boundaries: the one loop every front-end used to
 * carry its own copy of. Pure and O(1) per piece, so a caller walks the pieces in any order.
 */
#ifndef SD_GW_SPLIT_H
#define SD_GW_SPLIT_H

#include <stdint.h>

struct gw_piece {
	uint32_t idx;	 /* object index in the VDI */
	uint64_t in_obj; /* offset within the object */
	uint32_t len;	 /* bytes in this object */
	uint64_t pos;	 /* offset of the piece within the range */
	uint64_t ostart; /* the object's first byte in the VDI */
	uint8_t whole;	 /* the piece covers its whole object */
};

/* Objects (of 1 << shift bytes) touched by [off, off + len); 0 when len is 0. */
static inline uint32_t gw_split_count(uint64_t off, uint64_t len, uint8_t shift)
{
	if (!len)
		return 0;
	return (uint32_t)(((off + len - 1) >> shift) - (off >> shift) + 1);
}

/* Piece i (0 <= i < gw_split_count) of [off, off + len). */
static inline void gw_split_piece(uint64_t off, uint64_t len, uint8_t shift, uint32_t i,
				  struct gw_piece *p)
{
	uint64_t osize = UINT64_C(1) << shift, end = off + len;
	uint32_t idx = (uint32_t)(off >> shift) + i;
	uint64_t ostart = (uint64_t)idx << shift, oend = ostart + osize;
	uint64_t s = off > ostart ? off : ostart, e = end < oend ? end : oend;

	p->idx = idx;
	p->in_obj = s - ostart;
	p->len = (uint32_t)(e - s);
	p->pos = s - off;
	p->ostart = ostart;
	p->whole = s == ostart && e == oend;
}

#endif
