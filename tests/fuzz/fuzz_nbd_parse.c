/*
 * Fuzz target for the NBD parsers: the input is split by its first byte into an option payload
 * (GO / meta context) and a stream of request headers, each validated against an export.
 */
#include <stddef.h>
#include <stdint.h>

#include "frontends/nbd/nbd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_export_caps caps = { .size = 1 << 30,
					.structured = true,
					.meta_base_allocation = true };
	struct nbd_go go;
	struct nbd_meta_query q;
	struct nbd_option opt;
	size_t split, off;

	if (size < 1)
		return 0;
	split = data[0] < size ? data[0] : size;
	if (!nbd_parse_go(data, (uint32_t)split, &go) && go.name_len)
		(void)go.name[go.name_len - 1];
	if (!nbd_parse_meta_context(data, (uint32_t)split, &q)) {
		const uint8_t *s;
		uint32_t pos = 0, len;

		while (nbd_meta_next_query(&q, &pos, &s, &len))
			if (len)
				(void)s[len - 1];
	}
	nbd_parse_option(data, size, &opt);
	for (off = split; off < size;) {
		struct nbd_request r;
		int n = nbd_parse_request(data + off, size - off, &r);

		if (n <= 0)
			break;
		caps.read_only = r.cookie & 1;
		nbd_validate_request(&r, &caps);
		off += (size_t)n;
	}
	return 0;
}
