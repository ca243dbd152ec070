/*
 * Object IDs: 8 flag bits, a 24-bit VDI id and a 32-bit index, as in the original sheepdog, so
 * that object file names and placement are the same.
 */
#ifndef SD_OID_H
#define SD_OID_H

#include <stdbool.h>
#include <stdint.h>

#define VDI_BIT	      (UINT64_C(1) << 63)
#define VMSTATE_BIT   (UINT64_C(1) << 62)
#define VDI_ATTR_BIT  (UINT64_C(1) << 61)
#define VDI_BTREE_BIT (UINT64_C(1) << 60)
#define LEDGER_BIT    (UINT64_C(1) << 59)
#define OID_TYPE_MASK (VDI_BIT | VMSTATE_BIT | VDI_ATTR_BIT | VDI_BTREE_BIT | LEDGER_BIT)
#define OID_VID_SHIFT 32
#define OID_VID_MASK  UINT64_C(0x00ffffff00000000)

static inline uint64_t vid_to_vdi_oid(uint32_t vid)
{
	return VDI_BIT | ((uint64_t)(vid & 0xffffff) << OID_VID_SHIFT);
}

static inline uint64_t vid_to_data_oid(uint32_t vid, uint32_t idx)
{
	return ((uint64_t)(vid & 0xffffff) << OID_VID_SHIFT) | idx;
}

static inline uint64_t vid_to_attr_oid(uint32_t vid, uint32_t attr_id)
{
	return VDI_ATTR_BIT | ((uint64_t)(vid & 0xffffff) << OID_VID_SHIFT) | attr_id;
}

static inline uint32_t oid_to_vid(uint64_t oid)
{
	return (uint32_t)((oid & OID_VID_MASK) >> OID_VID_SHIFT);
}

static inline uint32_t oid_to_idx(uint64_t oid)
{
	return (uint32_t)oid;
}

static inline bool oid_is_inode(uint64_t oid)
{
	return (oid & OID_TYPE_MASK) == VDI_BIT;
}

static inline bool oid_is_data(uint64_t oid)
{
	return (oid & OID_TYPE_MASK) == 0;
}

static inline bool oid_is_attr(uint64_t oid)
{
	return (oid & OID_TYPE_MASK) == VDI_ATTR_BIT;
}

#endif
