/* VDI id hashing and allocation: collisions, wrap-around, a full id space. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/vdi_bitmap.h"

Test(vdi_id, hash_vectors_of_the_original)
{
	cr_assert_eq(sd_hash_vdi("test"), 0x7c2b25);
	cr_assert_eq(sd_hash_vdi("test0"), 0xfd34af);
	cr_assert_eq(sd_hash_vdi("test1"), 0xfd32fc);
	cr_assert_eq(sd_hash_vdi("test2"), 0xfd3815);
	cr_assert_eq(sd_hash_vdi("base"), 0x54c278);
}

static struct vdi_bitmap *bm;

static void setup(void)
{
	bm = calloc(1, sizeof(*bm));
}

static void teardown(void)
{
	free(bm);
}

TestSuite(vdi_alloc, .init = setup, .fini = teardown);

Test(vdi_alloc, free_hash_is_used)
{
	cr_assert_eq(vdi_bitmap_find_free(bm, 0x7c2b25), 0x7c2b25);
}

Test(vdi_alloc, collision_takes_next_free)
{
	vdi_bitmap_set(bm, 0x7c2b25);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0x7c2b25), 0x7c2b26, "the next snapshot's id");
	vdi_bitmap_set(bm, 0x7c2b26);
	vdi_bitmap_set(bm, 0x7c2b27);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0x7c2b25), 0x7c2b28);
}

Test(vdi_alloc, run_across_word_boundaries)
{
	for (uint32_t v = 60; v < 200; v++)
		vdi_bitmap_set(bm, v);
	cr_assert_eq(vdi_bitmap_find_free(bm, 60), 200);
}

Test(vdi_alloc, wraps_around_to_one)
{
	vdi_bitmap_set(bm, 0xfffffe);
	vdi_bitmap_set(bm, 0xffffff);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0xfffffe), 1);
	vdi_bitmap_set(bm, 1);
	vdi_bitmap_set(bm, 2);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0xfffffe), 3);
}

Test(vdi_alloc, zero_is_never_an_id)
{
	cr_assert_eq(vdi_bitmap_find_free(bm, 0), 1);
	vdi_bitmap_set(bm, 1);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0), 2);
}

Test(vdi_alloc, full_space_returns_zero)
{
	for (uint32_t i = 0; i < SD_NR_VDIS / 64; i++)
		bm->words[i] = ~UINT64_C(0);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0x123456), 0);
	vdi_bitmap_clear(bm, 0x123455);
	cr_assert_eq(vdi_bitmap_find_free(bm, 0x123456), 0x123455, "found after wrapping");
}
