/*
 * Strict UTF-8 validation: every name that reaches the cluster (dog requests, NBD export names)
 * must be text, and all paths share this one definition of it.
 */
#ifndef SD_UTF8_H
#define SD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the sequence at s[0..len), len > 0. Returns its length (1 to 4) and sets *cp, or 0 when
 * the bytes there are not UTF-8: a stray continuation byte, a truncated sequence, an overlong
 * form, a surrogate (U+D800..U+DFFF) or a code point above U+10FFFF. U+0000 is valid here; the
 * callers that forbid NUL check for it themselves.
 */
int utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* The offset of the first byte of s[0..len) that does not begin valid UTF-8, or len if none. */
size_t utf8_invalid_at(const uint8_t *s, size_t len);

static inline bool utf8_valid(const void *s, size_t len)
{
	return utf8_invalid_at(s, len) == len;
}

#endif
