/* UTF-8 decoding by the table of well-formed sequences (Unicode 15, table 3-7). */
#include "utf8.h"

static bool is_cont(uint8_t b)
{
	return (b & 0xc0) == 0x80;
}

int utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xbf;
	uint32_t v;
	int n;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	/*
	 * The second byte's range excludes overlongs (E0, F0), surrogates (ED) and code points
	 * above U+10FFFF (F4); C0, C1 and F5..FF never start a sequence.
	 */
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		v = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		v = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		v = b & 0x07;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < (size_t)n || s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 1; i < n; i++) {
		if (!is_cont(s[i]))
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	*cp = v;
	return n;
}

size_t utf8_invalid_at(const uint8_t *s, size_t len)
{
	size_t off = 0;
	uint32_t cp;

	while (off < len) {
		int n;

		/* ASCII runs dominate names: skip them without the decoder. */
		if (s[off] < 0x80) {
			off++;
			continue;
		}
		n = utf8_decode(s + off, len - off, &cp);
		if (!n)
			return off;
		off += (size_t)n;
	}
	return len;
}
