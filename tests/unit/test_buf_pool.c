/* Per-thread buffer pools: classes, alignment, reuse. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "shard/buf_pool.h"

Test(buf_pool, classes_and_alignment)
{
	cr_assert_eq(buf_class_size(1), 4096);
	cr_assert_eq(buf_class_size(4096), 4096);
	cr_assert_eq(buf_class_size(4097), 8192);
	cr_assert_eq(buf_class_size(4u << 20), 4u << 20);
	cr_assert_null(buf_get((4u << 20) + 1), "larger than the largest class");
	for (size_t s = 1; s <= (4u << 20); s *= 3) {
		void *b = buf_get(s);

		cr_assert_not_null(b);
		cr_assert_eq((uintptr_t)b % 4096, 0);
		memset(b, 0xab, s);
		buf_put(b, s);
	}
	buf_pool_drain();
}

Test(buf_pool, freed_buffers_are_reused)
{
	void *a = buf_get(65536), *b;

	buf_put(a, 65536);
	b = buf_get(60000); /* same class */
	cr_assert_eq(a, b);
	buf_put(b, 60000);
	buf_pool_drain();
}
