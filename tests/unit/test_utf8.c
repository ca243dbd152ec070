/* The strict UTF-8 validator: exhaustive over 1- to 3-byte sequences, and the classic bad forms. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/utf8.h"

static bool valid(const char *s, size_t n)
{
	return utf8_valid(s, n);
}

#define VALID(lit)   cr_assert(valid(lit, sizeof(lit) - 1), "%s refused", #lit)
#define INVALID(lit) cr_assert_not(valid(lit, sizeof(lit) - 1), "%s accepted", #lit)

Test(utf8, well_formed)
{
	VALID("");
	VALID("disk-01");
	VALID("a\0b"); /* NUL is a code point: the callers refuse it themselves */
	VALID("\xc2\x80");
	VALID("\xdf\xbf");
	VALID("\xe0\xa0\x80");
	VALID("\xed\x9f\xbf"); /* U+D7FF, just below the surrogates */
	VALID("\xee\x80\x80"); /* U+E000, just above them */
	VALID("\xef\xbf\xbf");
	VALID("\xf0\x90\x80\x80");
	VALID("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	VALID("\xd0\xb4\xd0\xb8\xd1\x81\xd0\xba-\xf0\x9f\x98\x80");
}

Test(utf8, overlong_forms)
{
	INVALID("\xc0\xaf"); /* '/' in two bytes */
	INVALID("\xc0\x80"); /* NUL in two bytes */
	INVALID("\xc1\xbf");
	INVALID("\xe0\x80\xaf");
	INVALID("\xe0\x9f\xbf");
	INVALID("\xf0\x80\x80\xaf");
	INVALID("\xf0\x8f\xbf\xbf");
}

Test(utf8, surrogates_and_beyond_unicode)
{
	INVALID("\xed\xa0\x80");
	INVALID("\xed\xbf\xbf");
	INVALID("\xf4\x90\x80\x80"); /* U+110000 */
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xf8\x88\x80\x80\x80");
	INVALID("\xfe");
	INVALID("\xff\xfe");
}

Test(utf8, truncated_and_stray_bytes)
{
	INVALID("\xc3");
	INVALID("\xe2\x82");
	INVALID("\xf0\x9f\x98");
	INVALID("\x80");
	INVALID("\xbf");
	INVALID("\xc3\x41");
	INVALID("\xe2\x28\xa1");
	INVALID("\xe2\x82\x28");
	INVALID("\xf0\x9f\x28\x80");
	cr_assert_eq(utf8_invalid_at((const uint8_t *)"ab\xe2\x82", 4), 2,
		     "offset of the bad start");
	cr_assert_eq(utf8_invalid_at((const uint8_t *)"ab\xc3\xa9x\xff", 6), 5);
	/* A sequence cut by the length, though the bytes after it in memory would complete it. */
	cr_assert_eq(utf8_invalid_at((const uint8_t *)"\xe2\x82\xac", 2), 0);
}

/* The reference encoder the decoder is checked against. */
static int encode(uint32_t cp, uint8_t *b)
{
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (uint8_t)(0xf0 | cp >> 18);
	b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	b[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

Test(utf8, every_code_point_round_trips)
{
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		uint8_t b[4];
		uint32_t got = 0xffffffff;
		int n = encode(cp, b);

		if (cp >= 0xd800 && cp <= 0xdfff) {
			cr_assert_eq(utf8_decode(b, (size_t)n, &got), 0, "surrogate %x accepted",
				     cp);
			continue;
		}
		cr_assert_eq(utf8_decode(b, (size_t)n, &got), n, "U+%04X refused", cp);
		cr_assert_eq(got, cp);
		cr_assert_eq(utf8_decode(b, (size_t)n - 1 + (n == 1), &got), n == 1 ? 1 : 0,
			     "U+%04X accepted truncated", cp);
	}
}

/*
 * Every byte string of a given shape is accepted exactly when it is the shortest encoding of a
 * scalar value: the count of accepted strings equals the count of such values.
 */
static unsigned count_valid(int len, uint8_t first_lo, uint8_t first_hi, unsigned rest_lo,
			    unsigned rest_hi)
{
	unsigned ok = 0;
	uint8_t b[4];

	for (unsigned f = first_lo; f <= first_hi; f++) {
		uint32_t total = 1;

		for (int i = 1; i < len; i++)
			total *= rest_hi - rest_lo + 1;
		for (uint32_t k = 0; k < total; k++) {
			uint32_t x = k, cp;
			uint8_t re[4];

			b[0] = (uint8_t)f;
			for (int i = len - 1; i >= 1; i--) {
				b[i] = (uint8_t)(rest_lo + x % (rest_hi - rest_lo + 1));
				x /= rest_hi - rest_lo + 1;
			}
			if (utf8_decode(b, (size_t)len, &cp) != len)
				continue;
			cr_assert_eq(encode(cp, re), len, "U+%04X accepted in %d bytes", cp, len);
			cr_assert(!memcmp(re, b, (size_t)len));
			ok++;
		}
	}
	return ok;
}

Test(utf8, exhaustive_by_length)
{
	cr_assert_eq(count_valid(1, 0, 0x7f, 0, 0), 0x80);
	cr_assert_eq(count_valid(2, 0x80, 0xff, 0, 0xff), 0x800 - 0x80);
	cr_assert_eq(count_valid(3, 0xe0, 0xef, 0, 0xff), 0x10000 - 0x800 - 0x800);
	/* Four bytes: all first bytes from F0 up, continuation-shaped tails. */
	cr_assert_eq(count_valid(4, 0xf0, 0xff, 0x80, 0xbf), 0x110000 - 0x10000);
}
