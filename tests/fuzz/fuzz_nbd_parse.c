/*
 * Fuzz target for the NBD parsers: the input is split by its first byte into an option payload
 * (GO / meta context) and a stream of request headers, each validated against an export.
 */
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <string.h>

#include "frontends/nbd/nbd_negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int lookup(void *ctx, const char *name, struct nbd_export_info *info, char *msg,
		  size_t msglen)
{
	(void)ctx;
	(void)msg;
	(void)msglen;
	if (strcmp(name, "vol0"))
		return -ENOENT;
	*info = (struct nbd_export_info){ .size = 1 << 30,
					  .tflags = NBD_FLAG_HAS_FLAGS,
					  .min_block = 1,
					  .pref_block = 4096,
					  .max_block = NBD_MAX_PAYLOAD };
	return 0;
}

static void list(void *ctx, void (*emit)(void *, const char *), void *arg)
{
	(void)ctx;
	emit(arg, "vol0");
}

/* Feeds the input to the handshake as a stream of options, as a client would send them. */
static void negotiate(const uint8_t *data, size_t size)
{
	static const struct nbd_export_ops ops = { .lookup = lookup, .list = list };
	const uint8_t flags[4] = { 0, 0, 0, NBD_FLAG_C_FIXED_NEWSTYLE };
	struct nbd_neg neg;
	struct nbd_buf out = { 0 };
	size_t off = 0;

	nbd_neg_client_flags(&neg, flags);
	while (off < size) {
		struct nbd_option opt;
		int n = nbd_parse_option(data + off, size - off, &opt);

		if (n <= 0)
			break;
		off += (size_t)n;
		if (opt.length > NBD_MAX_OPTION_LEN || opt.length > size - off)
			break;
		if (nbd_neg_option(&neg, &opt, data + off, &out, &ops) != NBD_NEG_CONTINUE)
			break;
		off += opt.length;
	}
	nbd_buf_free(&out);
}

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
	negotiate(data + 1, size - 1);
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
