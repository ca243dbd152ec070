/* Encoding of the inode header to its on-disk little-endian layout, and validation on load. */
#include "inode.h"

#include <errno.h>
#include <string.h>

#include <isa-l/crc.h>

#include "byteorder.h"

enum {
	OFF_NAME = 0,
	OFF_TAG = 256,
	OFF_CREATE_TIME = 512,
	OFF_SNAP_CTIME = 520,
	OFF_VM_CLOCK = 528,
	OFF_VDI_SIZE = 536,
	OFF_VM_STATE_SIZE = 544,
	OFF_COPY_POLICY = 552,
	OFF_STORE_POLICY = 553,
	OFF_NR_COPIES = 554,
	OFF_BLOCK_SHIFT = 555,
	OFF_SNAP_ID = 556,
	OFF_VDI_ID = 560,
	OFF_PARENT = 564,
	OFF_BTREE_COUNTER = 568,
};

void inode_hdr_encode(const struct sd_inode_hdr *hdr, uint8_t out[SD_INODE_HEADER_SIZE])
{
	memset(out, 0, SD_INODE_HEADER_SIZE);
	memcpy(out + OFF_NAME, hdr->name, strnlen(hdr->name, SD_MAX_VDI_LEN - 1));
	memcpy(out + OFF_TAG, hdr->tag, strnlen(hdr->tag, SD_MAX_VDI_TAG_LEN - 1));
	put_le64(out + OFF_CREATE_TIME, hdr->create_time);
	put_le64(out + OFF_SNAP_CTIME, hdr->snap_ctime);
	put_le64(out + OFF_VM_CLOCK, hdr->vm_clock_nsec);
	put_le64(out + OFF_VDI_SIZE, hdr->vdi_size);
	put_le64(out + OFF_VM_STATE_SIZE, hdr->vm_state_size);
	out[OFF_COPY_POLICY] = hdr->copy_policy;
	out[OFF_STORE_POLICY] = hdr->store_policy;
	out[OFF_NR_COPIES] = hdr->nr_copies;
	out[OFF_BLOCK_SHIFT] = hdr->block_size_shift;
	put_le32(out + OFF_SNAP_ID, hdr->snap_id);
	put_le32(out + OFF_VDI_ID, hdr->vdi_id);
	put_le32(out + OFF_PARENT, hdr->parent_vdi_id);
	put_le32(out + OFF_BTREE_COUNTER, hdr->btree_counter);
	put_le32(out + SD_INODE_HDR_CRC_OFF, crc32_iscsi(out, SD_INODE_HDR_FIELDS, 0));
	memcpy(out + SD_INODE_SHADOW_OFF, out, SD_INODE_HDR_PART);
}

static bool part_is_zero(const uint8_t *part)
{
	for (size_t i = 0; i < SD_INODE_HDR_PART; i++)
		if (part[i])
			return false;
	return true;
}

/*
 * The CRC32C of zeros with seed 0 is 0, so a copy that was never written would pass the CRC
 * alone; no real header is all zeros (the vdi_id is never 0), so such a copy never passes.
 */
static bool part_valid(const uint8_t *part)
{
	uint32_t crc = crc32_iscsi((unsigned char *)part, SD_INODE_HDR_FIELDS, 0);

	return !part_is_zero(part) && crc == get_le32(part + SD_INODE_HDR_CRC_OFF);
}

static int decode_fields(const uint8_t *buf, struct sd_inode_hdr *hdr);

static bool has_shadow(size_t len)
{
	return len >= SD_INODE_SHADOW_OFF + SD_INODE_HDR_PART;
}

/*
 * A copy counts only if its CRC holds and its fields make sense; a primary that fails either way
 * sends the reader to the shadow.
 */
int inode_hdr_decode(const uint8_t *buf, size_t len, struct sd_inode_hdr *hdr)
{
	if (len < SD_INODE_HDR_PART)
		return -EINVAL;
	if (part_valid(buf) && !decode_fields(buf, hdr))
		return 0;
	if (has_shadow(len) && part_valid(buf + SD_INODE_SHADOW_OFF) &&
	    !decode_fields(buf + SD_INODE_SHADOW_OFF, hdr))
		return 1;
	return -EINVAL;
}

bool inode_hdr_is_blank(const uint8_t *buf, size_t len)
{
	return has_shadow(len) && part_is_zero(buf) && part_is_zero(buf + SD_INODE_SHADOW_OFF);
}

static int decode_fields(const uint8_t *buf, struct sd_inode_hdr *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	memcpy(hdr->name, buf + OFF_NAME, SD_MAX_VDI_LEN);
	memcpy(hdr->tag, buf + OFF_TAG, SD_MAX_VDI_TAG_LEN);
	if (hdr->name[SD_MAX_VDI_LEN - 1] || hdr->tag[SD_MAX_VDI_TAG_LEN - 1])
		return -EINVAL;
	hdr->create_time = get_le64(buf + OFF_CREATE_TIME);
	hdr->snap_ctime = get_le64(buf + OFF_SNAP_CTIME);
	hdr->vm_clock_nsec = get_le64(buf + OFF_VM_CLOCK);
	hdr->vdi_size = get_le64(buf + OFF_VDI_SIZE);
	hdr->vm_state_size = get_le64(buf + OFF_VM_STATE_SIZE);
	hdr->copy_policy = buf[OFF_COPY_POLICY];
	hdr->store_policy = buf[OFF_STORE_POLICY];
	hdr->nr_copies = buf[OFF_NR_COPIES];
	hdr->block_size_shift = buf[OFF_BLOCK_SHIFT];
	hdr->snap_id = get_le32(buf + OFF_SNAP_ID);
	hdr->vdi_id = get_le32(buf + OFF_VDI_ID);
	hdr->parent_vdi_id = get_le32(buf + OFF_PARENT);
	hdr->btree_counter = get_le32(buf + OFF_BTREE_COUNTER);

	if (hdr->vdi_id == 0 || hdr->vdi_id >= SD_NR_VDIS)
		return -EINVAL;
	if (inode_is_deleted(hdr))
		return 0;
	if (hdr->block_size_shift < SD_MIN_BLOCK_SHIFT ||
	    hdr->block_size_shift > SD_MAX_BLOCK_SHIFT)
		return -EINVAL;
	if (hdr->vdi_size > inode_max_vdi_size(hdr->block_size_shift))
		return -EINVAL;
	if (hdr->nr_copies == 0 || hdr->nr_copies > SD_MAX_COPIES)
		return -EINVAL;
	return 0;
}
