/* OID layout and inode header encoding. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <isa-l/crc.h>

#include "core/byteorder.h"
#include "core/inode.h"
#include "core/oid.h"

Test(oid, layout_matches_original)
{
	cr_assert_eq(vid_to_vdi_oid(0x7c2b25), UINT64_C(0x807c2b2500000000));
	cr_assert_eq(vid_to_data_oid(0x7c2b25, 3), UINT64_C(0x007c2b2500000003));
	cr_assert_eq(vid_to_attr_oid(0x7c2b25, 0x12345678), UINT64_C(0x207c2b2512345678));
	cr_assert_eq(oid_to_vid(UINT64_C(0x807c2b2500000000)), 0x7c2b25);
	cr_assert_eq(oid_to_idx(UINT64_C(0x007c2b25ffffffff)), 0xffffffff);
	cr_assert(oid_is_inode(vid_to_vdi_oid(1)));
	cr_assert(oid_is_data(vid_to_data_oid(1, 0)));
	cr_assert(oid_is_attr(vid_to_attr_oid(1, 0)));
	cr_assert_not(oid_is_data(vid_to_vdi_oid(1)));
}

Test(oid, vid_is_masked_to_24_bits)
{
	/* A large index never leaks into the VDI id field. */
	cr_assert_eq(oid_to_vid(vid_to_data_oid(0x1ffffff, 0xffffffff)), 0xffffff);
	cr_assert_eq(oid_to_idx(vid_to_data_oid(5, 0xffffffff)), 0xffffffff);
}

static struct sd_inode_hdr sample(void)
{
	struct sd_inode_hdr h = { 0 };

	strcpy(h.name, "vol0");
	strcpy(h.tag, "nightly");
	h.create_time = UINT64_C(0x6543210012345678);
	h.vdi_size = UINT64_C(4) << 40;
	h.nr_copies = 3;
	h.block_size_shift = 22;
	h.snap_id = 7;
	h.vdi_id = 0xa1b2c3;
	h.parent_vdi_id = 0xa1b2c2;
	return h;
}

Test(inode, header_offsets_are_the_originals)
{
	struct sd_inode_hdr h = sample();
	uint8_t buf[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&h, buf);
	cr_assert_str_eq((char *)buf, "vol0");
	cr_assert_str_eq((char *)buf + 256, "nightly");
	cr_assert_eq(get_le64(buf + 512), h.create_time);
	cr_assert_eq(get_le64(buf + 536), h.vdi_size);
	cr_assert_eq(buf[554], 3);
	cr_assert_eq(buf[555], 22);
	cr_assert_eq(get_le32(buf + 556), 7);
	cr_assert_eq(get_le32(buf + 560), 0xa1b2c3);
	cr_assert_eq(get_le32(buf + 564), 0xa1b2c2);
	cr_assert_eq(inode_map_offset(0), 4664);
	cr_assert_eq(inode_map_offset(5), 4664 + 20);
}

Test(inode, round_trip)
{
	struct sd_inode_hdr h = sample(), back;
	uint8_t buf[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&h, buf);
	cr_assert_eq(inode_hdr_decode(buf, sizeof(buf), &back), 0);
	cr_assert_eq(memcmp(&h, &back, sizeof(h)), 0);
}

/* Recomputes the primary CRC after a test edited a field, so validation itself is tested. */
static void reseal(uint8_t *buf)
{
	put_le32(buf + SD_INODE_HDR_CRC_OFF, crc32_iscsi(buf, SD_INODE_HDR_FIELDS, 0));
}

Test(inode, decode_rejects_garbage)
{
	struct sd_inode_hdr h = sample(), back;
	uint8_t buf[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&h, buf);
	cr_assert_eq(inode_hdr_decode(buf, 100, &back), -EINVAL, "short buffer");
	buf[555] = 40;
	cr_assert_eq(inode_hdr_decode(buf, SD_INODE_HDR_PART, &back), -EINVAL, "CRC mismatch");
	reseal(buf);
	cr_assert_eq(inode_hdr_decode(buf, SD_INODE_HDR_PART, &back), -EINVAL, "bad shift");
	inode_hdr_encode(&h, buf);
	memset(buf, 'x', 256);
	reseal(buf);
	cr_assert_eq(inode_hdr_decode(buf, SD_INODE_HDR_PART, &back), -EINVAL, "unterminated");
	inode_hdr_encode(&h, buf);
	put_le64(buf + 536, (UINT64_C(4) << 40) + 1);
	reseal(buf);
	cr_assert_eq(inode_hdr_decode(buf, SD_INODE_HDR_PART, &back), -EINVAL, "size over map");
	inode_hdr_encode(&h, buf);
	put_le32(buf + 560, 0);
	reseal(buf);
	cr_assert_eq(inode_hdr_decode(buf, SD_INODE_HDR_PART, &back), -EINVAL, "vid 0");
}

Test(inode, four_tib_with_4mib_objects)
{
	cr_assert_eq(inode_max_vdi_size(22), UINT64_C(4) << 40);
	cr_assert_eq(inode_nr_objects(UINT64_C(4) << 40, 22), 1u << 20);
	cr_assert_eq(inode_nr_objects(1, 22), 1);
	cr_assert_eq(inode_nr_objects((UINT64_C(4) << 20) + 1, 22), 2);
}

Test(inode, ec_policy_byte)
{
	cr_assert_eq(ec_policy(4, 2), 0x22);
	cr_assert_eq(ec_data_strips(ec_policy(16, 15)), 16);
	cr_assert_eq(ec_parity_strips(ec_policy(16, 15)), 15);
	cr_assert_eq(ec_data_strips(ec_policy(2, 1)), 2);
}

Test(inode, torn_primary_falls_back_to_shadow)
{
	struct sd_inode_hdr old = sample(), cur = sample(), back;
	uint8_t disk[SD_INODE_HEADER_SIZE], upd[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&old, disk);
	cur.vdi_size = UINT64_C(5) << 30;
	inode_hdr_encode(&cur, upd);
	/* The update wrote its shadow, then tore in the middle of the primary. */
	memcpy(disk + SD_INODE_SHADOW_OFF, upd + SD_INODE_SHADOW_OFF, SD_INODE_HDR_PART);
	memcpy(disk + 512, upd + 512, 40); /* new size reached the disk, the new CRC did not */
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 1, "the shadow was not used");
	cr_assert_eq(back.vdi_size, cur.vdi_size);
	/* Torn in the shadow: the old primary still stands. */
	inode_hdr_encode(&old, disk);
	memcpy(disk + SD_INODE_SHADOW_OFF, upd + SD_INODE_SHADOW_OFF, 100);
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 0);
	cr_assert_eq(back.vdi_size, old.vdi_size);
	/* Both copies damaged: refused. */
	disk[3] ^= 1;
	disk[SD_INODE_SHADOW_OFF + 3] ^= 1;
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), -EINVAL);
}

/* A copy never written reads as zeros, and the CRC32C of zeros is 0: it must not pass. */
Test(inode, zeroed_primary_uses_the_shadow)
{
	struct sd_inode_hdr h = sample(), back;
	uint8_t disk[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&h, disk);
	memset(disk, 0, SD_INODE_HDR_PART);
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 1, "the shadow was not used");
	cr_assert_eq(memcmp(&h, &back, sizeof(h)), 0);
	cr_assert_not(inode_hdr_is_blank(disk, sizeof(disk)));
}

Test(inode, primary_with_good_crc_but_bad_fields_uses_the_shadow)
{
	struct sd_inode_hdr h = sample(), back;
	uint8_t disk[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&h, disk);
	put_le32(disk + 560, 0); /* vdi_id 0 */
	reseal(disk);
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 1, "vid 0: shadow not used");
	cr_assert_eq(back.vdi_id, h.vdi_id);
	inode_hdr_encode(&h, disk);
	disk[555] = 40; /* block size shift out of range */
	reseal(disk);
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 1, "bad shift: shadow not used");
	cr_assert_eq(back.block_size_shift, h.block_size_shift);
}

Test(inode, both_copies_zero_is_refused_and_blank)
{
	struct sd_inode_hdr back;
	uint8_t disk[SD_INODE_HEADER_SIZE] = { 0 };

	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), -EINVAL);
	cr_assert_eq(inode_hdr_decode(disk, SD_INODE_HDR_PART, &back), -EINVAL, "no shadow");
	cr_assert(inode_hdr_is_blank(disk, sizeof(disk)));
	/* Too short to see the shadow: never called blank. */
	cr_assert_not(inode_hdr_is_blank(disk, SD_INODE_HDR_PART));
	/* One non-zero byte anywhere in either copy is not blank: such an inode is kept. */
	disk[SD_INODE_SHADOW_OFF + SD_INODE_HDR_PART - 1] = 1;
	cr_assert_not(inode_hdr_is_blank(disk, sizeof(disk)));
	disk[SD_INODE_SHADOW_OFF + SD_INODE_HDR_PART - 1] = 0;
	disk[7] = 1;
	cr_assert_not(inode_hdr_is_blank(disk, sizeof(disk)));
}

Test(inode, both_copies_valid_uses_the_primary)
{
	struct sd_inode_hdr old = sample(), cur = sample(), back;
	uint8_t disk[SD_INODE_HEADER_SIZE], upd[SD_INODE_HEADER_SIZE];

	inode_hdr_encode(&old, disk);
	cur.vdi_size = UINT64_C(5) << 30;
	inode_hdr_encode(&cur, upd);
	/* The copies differ (an update finished its primary, not yet visible in the shadow). */
	memcpy(disk, upd, SD_INODE_HDR_PART);
	cr_assert_eq(inode_hdr_decode(disk, sizeof(disk), &back), 0);
	cr_assert_eq(back.vdi_size, cur.vdi_size);
	cr_assert_not(inode_hdr_is_blank(disk, sizeof(disk)));
}
