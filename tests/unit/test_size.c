/* Size parsing and dog's size formatting. */
#include <criterion/criterion.h>
#include <errno.h>

#include "core/size.h"

Test(size, parses_units)
{
	uint64_t v;

	cr_assert_eq(size_parse("1024", &v), 0);
	cr_assert_eq(v, 1024);
	cr_assert_eq(size_parse("20G", &v), 0);
	cr_assert_eq(v, UINT64_C(20) << 30);
	cr_assert_eq(size_parse("20g", &v), 0);
	cr_assert_eq(v, UINT64_C(20) << 30);
	cr_assert_eq(size_parse("1.5T", &v), 0);
	cr_assert_eq(v, UINT64_C(3) << 39);
	cr_assert_eq(size_parse("512B", &v), 0);
	cr_assert_eq(v, 512);
	cr_assert_eq(size_parse("4k", &v), 0);
	cr_assert_eq(v, 4096);
	cr_assert_eq(size_parse("0.5M", &v), 0);
	cr_assert_eq(v, 512 * 1024);
	cr_assert_eq(size_parse("1P", &v), 0);
	cr_assert_eq(v, UINT64_C(1) << 50);
}

Test(size, rejects_garbage)
{
	uint64_t v;
	const char *bad[] = { "",    "G", "-1",	 "1Q",	"1GB",	"1 G", "1.2.3",
			      "abc", ".", "nan", "inf", "0x10", "+5" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(size_parse(bad[i], &v), -EINVAL, "'%s' was accepted", bad[i]);
	cr_assert_eq(size_parse(NULL, &v), -EINVAL);
}

Test(size, overflow_is_an_error)
{
	uint64_t v;

	cr_assert_eq(size_parse("16384P", &v), -ERANGE);
	cr_assert_eq(size_parse("99999999999999999999", &v), -ERANGE);
	cr_assert_eq(size_parse("18446744073709551615", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
}

Test(size, formats_like_dog)
{
	char b[32];

	size_format(0, b, sizeof(b));
	cr_assert_str_eq(b, "0.0 MB");
	size_format(UINT64_C(12) << 20, b, sizeof(b));
	cr_assert_str_eq(b, "12 MB");
	size_format(UINT64_C(4) << 30, b, sizeof(b));
	cr_assert_str_eq(b, "4.0 GB");
	size_format(UINT64_C(20) << 30, b, sizeof(b));
	cr_assert_str_eq(b, "20 GB");
	size_format(UINT64_C(3) << 39, b, sizeof(b));
	cr_assert_str_eq(b, "1.5 TB");
	size_format(UINT64_C(1) << 60, b, sizeof(b));
	cr_assert_str_eq(b, "1.0 EB");
}
