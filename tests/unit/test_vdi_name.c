/*
 * The one rule for VDI names, shared by dog's requests and NBD export names: UTF-8 text, no '/',
 * '@' or control characters, 1 to 255 bytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cluster/sys.h"
#include "cluster/vdi.h"

struct sheep_sys sys; /* vdi_share.c, linked with the table, refers to it */

static char err[512];

static int check(const char *name)
{
	err[0] = '\0';
	return vdi_name_check(name, err, sizeof(err));
}

Test(vdi_name, text_names_pass)
{
	cr_assert_eq(check("disk"), 0);
	cr_assert_eq(check("vm-01_root.img"), 0);
	cr_assert_eq(check("\xd0\xb4\xd0\xb8\xd1\x81\xd0\xba"), 0, "%s", err);
	cr_assert_eq(check("\xf0\x9f\x98\x80 \xe2\x82\xac"), 0, "%s", err);
}

Test(vdi_name, invalid_utf8_is_refused_without_echoing_it)
{
	static const char *const bad[] = { "\xff\xfe", "ab\xc3", "\xed\xa0\x80", "x\x80y" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(check(bad[i]), -EINVAL, "name %zu accepted", i);
		cr_assert(strstr(err, "VDI name is not valid UTF-8"), "%s", err);
		cr_assert_null(strstr(err, bad[i]), "the bad bytes are printed: %s", err);
	}
	check("ab\xc3");
	cr_assert(strstr(err, "(at byte 2 of 3)"), "%s", err);
}

/* An overlong '/' must not slip past the '/' rule by being read as something else. */
Test(vdi_name, overlong_slash_is_refused)
{
	cr_assert_eq(check("a\xc0\xaf"
			   "b"),
		     -EINVAL);
	cr_assert(strstr(err, "not valid UTF-8"), "%s", err);
	cr_assert_eq(check("a\xe0\x80\xaf"
			   "b"),
		     -EINVAL);
}

Test(vdi_name, separators_and_control_characters)
{
	cr_assert_eq(check("a/b"), -EINVAL);
	cr_assert_eq(check("a@b"), -EINVAL);
	cr_assert_eq(check("a\tb"), -EINVAL);
	cr_assert_eq(check("a\x7f"), -EINVAL);
	cr_assert_eq(check("a\xc2\x85"), -EINVAL, "C1 NEL accepted");
	cr_assert_eq(check("a\xc2\x9f"), -EINVAL, "C1 APC accepted");
	cr_assert(strstr(err, "control character"), "%s", err);
	cr_assert_eq(check("a\xc2\xa0"), 0, "NO-BREAK SPACE is text: %s", err);
}

Test(vdi_name, length)
{
	char name[SD_MAX_VDI_LEN + 1];

	cr_assert_eq(check(""), -EINVAL);
	memset(name, 'a', SD_MAX_VDI_LEN - 1);
	name[SD_MAX_VDI_LEN - 1] = '\0';
	cr_assert_eq(check(name), 0);
	name[SD_MAX_VDI_LEN - 1] = 'a';
	name[SD_MAX_VDI_LEN] = '\0';
	cr_assert_eq(check(name), -EINVAL);
}
