/*
 * The VDI inode: a header at the original sheepdog's offsets, followed by the data object map
 * (data_vdi_id[], one little-endian u32 per object index). The map entry is 0 for an
 * unallocated object, the VDI's own id for an object it owns, or an ancestor's id for an object
 * shared copy-on-write. The map has SD_INODE_DATA_INDEX entries: 4 TiB with 4 MiB objects.
 */
#ifndef SD_INODE_H
#define SD_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"

#define SD_INODE_HEADER_SIZE 4664

/*
 * Header updates must survive a torn write (power loss in the middle of a sector run), so the
 * header fields carry a CRC32C, and a shadow copy of them lives in the unused area. An update
 * writes the shadow durably, then the primary; a reader takes the primary if its CRC holds, else
 * the shadow. Either way it sees the old or the new header, never a mix.
 */
#define SD_INODE_HDR_FIELDS  572  /* bytes of header fields, [0, 572) */
#define SD_INODE_HDR_CRC_OFF 572  /* CRC32C of the fields */
#define SD_INODE_HDR_PART    576  /* fields plus CRC: what one update writes */
#define SD_INODE_SHADOW_OFF  2048 /* the shadow copy of [0, 576) */
#define SD_INODE_SIZE	     (SD_INODE_HEADER_SIZE + 4 * (uint64_t)SD_INODE_DATA_INDEX)

struct sd_inode_hdr {
	char name[SD_MAX_VDI_LEN];    /* NUL terminated; empty for a deleted VDI */
	char tag[SD_MAX_VDI_TAG_LEN]; /* NUL terminated */
	uint64_t create_time;	      /* seconds << 32 | nanoseconds */
	uint64_t snap_ctime;	      /* non-zero: this inode is a snapshot */
	uint64_t vm_clock_nsec;
	uint64_t vdi_size; /* bytes */
	uint64_t vm_state_size;
	uint8_t copy_policy; /* 0 replicated, else ec_policy(D, P) */
	uint8_t store_policy;
	uint8_t nr_copies;
	uint8_t block_size_shift;
	uint32_t snap_id;
	uint32_t vdi_id;
	uint32_t parent_vdi_id;
	uint32_t btree_counter;
};

/* Encodes the header with its CRC, and the shadow copy, into out. */
void inode_hdr_encode(const struct sd_inode_hdr *hdr, uint8_t out[SD_INODE_HEADER_SIZE]);
/*
 * Decodes a header read from offset 0 (len >= SD_INODE_HEADER_SIZE to use the shadow). A copy is
 * valid if its CRC holds, it is not all zeros and its fields decode. Returns 0 (the primary), 1 if
 * the primary was not valid (torn, never written) and the shadow was used, or -EINVAL if neither
 * copy is valid.
 */
int inode_hdr_decode(const uint8_t *buf, size_t len, struct sd_inode_hdr *hdr);
/*
 * True if both header copies in buf (read from offset 0, len >= SD_INODE_HEADER_SIZE; reads past
 * the end of an object give zeros) are all zero bytes: neither was ever written, which only a
 * create that never finished leaves.
 */
bool inode_hdr_is_blank(const uint8_t *buf, size_t len);

static inline uint64_t inode_map_offset(uint32_t idx)
{
	return SD_INODE_HEADER_SIZE + 4 * (uint64_t)idx;
}

/* The largest VDI size for objects of 1 << shift bytes. */
static inline uint64_t inode_max_vdi_size(uint8_t shift)
{
	return (uint64_t)SD_INODE_DATA_INDEX << shift;
}

/* Number of data objects that cover size bytes. */
static inline uint32_t inode_nr_objects(uint64_t size, uint8_t shift)
{
	return (uint32_t)((size + (UINT64_C(1) << shift) - 1) >> shift);
}

static inline bool inode_is_deleted(const struct sd_inode_hdr *hdr)
{
	return hdr->name[0] == '\0';
}

/*
 * Copy policy byte, as the original sheepdog: ((D / 2) << 4) | P for D data and P parity strips,
 * 0 for replication. D is 2, 4, 8 or 16, so D / 2 fits in four bits.
 */
static inline uint8_t ec_policy(unsigned d, unsigned p)
{
	return (uint8_t)(((d / 2) << 4) | p);
}

static inline unsigned ec_data_strips(uint8_t policy)
{
	return (policy >> 4) * 2;
}

static inline unsigned ec_parity_strips(uint8_t policy)
{
	return policy & 0xf;
}

#endif
