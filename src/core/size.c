/* Size parsing and formatting, following the original dog's rules. */
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int size_parse(const char *s, uint64_t *bytes)
{
	static const char suffixes[] = "BKMGTP";
	uint64_t whole = 0, frac_num = 0, frac_den = 1, mult = 1;
	const char *p = s;
	int digits = 0;

	if (!s)
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
	}
	if (*p == '.') {
		p++;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			/* Digits past 18 decimals cannot change a byte count; ignore them. */
			if (frac_den < UINT64_C(1000000000000000000)) {
				frac_num = frac_num * 10 + (uint64_t)(*p - '0');
				frac_den *= 10;
			}
		}
	}
	if (!digits)
		return -EINVAL;
	if (*p) {
		const char *u = strchr(suffixes, toupper((unsigned char)*p));

		if (!u || p[1])
			return -EINVAL;
		for (long i = 0; i < u - suffixes; i++)
			mult *= 1024;
	}
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	whole *= mult;
	/* frac_num / frac_den * mult, in 128 bits so no precision is lost. */
	unsigned __int128 frac = (unsigned __int128)frac_num * mult / frac_den;
	if (whole > UINT64_MAX - (uint64_t)frac)
		return -ERANGE;
	*bytes = whole + (uint64_t)frac;
	return 0;
}

void size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
	double v = (double)bytes / (1024.0 * 1024.0);
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (v >= 10.0)
		snprintf(buf, len, "%.0lf %s", v, units[u]);
	else
		snprintf(buf, len, "%.1lf %s", v, units[u]);
}
