/* NBD parsers: request headers, validation against an export, options, GO and meta contexts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "frontends/nbd/nbd_parse.h"

static size_t put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return (size_t)bytes;
}

static void make_req(uint8_t *b, uint16_t flags, uint16_t type, uint64_t off, uint32_t len)
{
	put_be(b, NBD_REQUEST_MAGIC, 4);
	put_be(b + 4, flags, 2);
	put_be(b + 6, type, 2);
	put_be(b + 8, 0x1122334455667788ull, 8);
	put_be(b + 16, off, 8);
	put_be(b + 24, len, 4);
}

Test(nbd_parse, request_header)
{
	uint8_t b[28];
	struct nbd_request r;

	make_req(b, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 4096, 512);
	for (size_t n = 0; n < 28; n++)
		cr_assert_eq(nbd_parse_request(b, n, &r), 0, "parsed a %zu-byte prefix", n);
	cr_assert_eq(nbd_parse_request(b, 28, &r), 28);
	cr_assert_eq(r.flags, NBD_CMD_FLAG_FUA);
	cr_assert_eq(r.type, NBD_CMD_WRITE);
	cr_assert_eq(r.cookie, 0x1122334455667788ull);
	cr_assert_eq(r.offset, 4096);
	cr_assert_eq(r.length, 512);
	b[0] ^= 1;
	cr_assert_eq(nbd_parse_request(b, 28, &r), -EPROTO);
}

static int check(uint16_t flags, uint16_t type, uint64_t off, uint32_t len, bool ro)
{
	struct nbd_export_caps caps = {
		.size = 1 << 20, .read_only = ro, .structured = true, .meta_base_allocation = true
	};
	struct nbd_request r = { .flags = flags, .type = type, .offset = off, .length = len };

	return nbd_validate_request(&r, &caps);
}

Test(nbd_parse, validation)
{
	cr_assert_eq(check(0, NBD_CMD_READ, 0, 4096, false), 0);
	cr_assert_eq(check(0, NBD_CMD_READ, (1 << 20) - 4096, 4096, false), 0, "ends at the end");
	cr_assert_eq(check(0, NBD_CMD_READ, (1 << 20) - 4095, 4096, false), NBD_EINVAL);
	cr_assert_eq(check(0, NBD_CMD_READ, UINT64_MAX - 10, 4096, false), NBD_EINVAL, "wraps");
	cr_assert_eq(check(0, NBD_CMD_READ, 0, NBD_MAX_PAYLOAD + 1, false), NBD_EINVAL);
	cr_assert_eq(check(0, NBD_CMD_WRITE, 1 << 20, 1, false), NBD_ENOSPC, "past the end");
	cr_assert_eq(check(0, NBD_CMD_WRITE, 0, 1, true), NBD_EPERM, "read-only");
	cr_assert_eq(check(0, NBD_CMD_TRIM, 0, 1, true), NBD_EPERM);
	cr_assert_eq(check(0, NBD_CMD_WRITE_ZEROES, 0, 1 << 20, true), NBD_EPERM);
	cr_assert_eq(check(NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO, NBD_CMD_WRITE_ZEROES, 0,
			   1 << 20, false),
		     0);
	cr_assert_eq(check(NBD_CMD_FLAG_NO_HOLE, NBD_CMD_WRITE, 0, 1, false), NBD_EINVAL,
		     "NO_HOLE on a write");
	cr_assert_eq(check(0, 99, 0, 0, false), NBD_EINVAL, "unknown command");
	cr_assert_eq(check(0x8000, NBD_CMD_READ, 0, 1, false), NBD_EINVAL, "unknown flag");
	cr_assert_eq(check(0, NBD_CMD_FLUSH, 0, 0, false), 0);
	cr_assert_eq(check(0, NBD_CMD_FLUSH, 1, 0, false), NBD_EINVAL);
	cr_assert_eq(check(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 0, 1 << 20, false), 0);
	cr_assert_eq(check(0, NBD_CMD_BLOCK_STATUS, 0, 0, false), NBD_EINVAL);
}

/*
 * Over the advertised maximum block size is EINVAL (the protocol keeps EOVERFLOW for DF reads
 * that cannot be sent unfragmented), on an export large enough that only the length is wrong.
 */
Test(nbd_parse, oversized_read_and_write_are_einval)
{
	struct nbd_export_caps caps = { .size = 1ull << 40, .structured = true };
	struct nbd_request r = { .type = NBD_CMD_READ, .length = NBD_MAX_PAYLOAD };

	cr_assert_eq(nbd_validate_request(&r, &caps), 0, "the maximum itself is fine");
	r.length = NBD_MAX_PAYLOAD + 1;
	cr_assert_eq(nbd_validate_request(&r, &caps), NBD_EINVAL);
	r.length = 64u << 20;
	cr_assert_eq(nbd_validate_request(&r, &caps), NBD_EINVAL);
	r.flags = NBD_CMD_FLAG_DF;
	cr_assert_eq(nbd_validate_request(&r, &caps), NBD_EINVAL, "DF does not make it EOVERFLOW");
	r = (struct nbd_request){ .type = NBD_CMD_WRITE, .length = NBD_MAX_PAYLOAD };
	cr_assert_eq(nbd_validate_request(&r, &caps), 0);
	r.length = UINT32_MAX;
	cr_assert_eq(nbd_validate_request(&r, &caps), NBD_EINVAL);
	/* Without a payload the length is only a range: TRIM and WRITE_ZEROES may go beyond. */
	r = (struct nbd_request){ .type = NBD_CMD_TRIM, .length = 64u << 20 };
	cr_assert_eq(nbd_validate_request(&r, &caps), 0);
	r.type = NBD_CMD_WRITE_ZEROES;
	cr_assert_eq(nbd_validate_request(&r, &caps), 0);
}

Test(nbd_parse, block_status_needs_a_context)
{
	struct nbd_export_caps caps = { .size = 1 << 20, .structured = true };
	struct nbd_request r = { .type = NBD_CMD_BLOCK_STATUS, .length = 4096 };

	cr_assert_eq(nbd_validate_request(&r, &caps), NBD_EINVAL);
	caps.meta_base_allocation = true;
	cr_assert_eq(nbd_validate_request(&r, &caps), 0);
}

Test(nbd_parse, option_header)
{
	uint8_t b[16];
	struct nbd_option o;

	put_be(b, NBD_IHAVEOPT, 8);
	put_be(b + 8, NBD_OPT_GO, 4);
	put_be(b + 12, 0xfffffff0u, 4);
	cr_assert_eq(nbd_parse_option(b, 15, &o), 0);
	cr_assert_eq(nbd_parse_option(b, 16, &o), 16);
	cr_assert_eq(o.option, NBD_OPT_GO);
	cr_assert_eq(o.length, 0xfffffff0u, "the caller decides what is too big");
	b[7] = 0;
	cr_assert_eq(nbd_parse_option(b, 16, &o), -EPROTO);
}

Test(nbd_parse, go_payload)
{
	uint8_t b[64];
	size_t n = 0;
	struct nbd_go go;

	n += put_be(b + n, 4, 4);
	memcpy(b + n, "vol0", 4);
	n += 4;
	n += put_be(b + n, 2, 2);
	n += put_be(b + n, NBD_INFO_BLOCK_SIZE, 2);
	n += put_be(b + n, 77, 2); /* unknown: ignored */
	cr_assert_eq(nbd_parse_go(b, (uint32_t)n, &go), 0);
	cr_assert_eq(go.name_len, 4);
	cr_assert_eq(memcmp(go.name, "vol0", 4), 0);
	cr_assert(go.want_block_size);
	cr_assert_not(go.want_name);
	cr_assert_eq(nbd_parse_go(b, (uint32_t)n - 1, &go), -EINVAL, "truncated info list");
	cr_assert_eq(nbd_parse_go(b, (uint32_t)n + 1, &go), -EINVAL, "trailing byte");
	put_be(b, 0xffffffffu, 4);
	cr_assert_eq(nbd_parse_go(b, (uint32_t)n, &go), -EINVAL, "name longer than the payload");
	cr_assert_eq(nbd_parse_go(b, 3, &go), -EINVAL);
}

Test(nbd_parse, meta_context_payload)
{
	uint8_t b[128];
	size_t n = 0;
	struct nbd_meta_query q;
	const uint8_t *s;
	uint32_t pos = 0, len;

	n += put_be(b + n, 0, 4); /* empty export name */
	n += put_be(b + n, 2, 4);
	n += put_be(b + n, 15, 4);
	memcpy(b + n, "base:allocation", 15);
	n += 15;
	n += put_be(b + n, 5, 4);
	memcpy(b + n, "qemu:", 5);
	n += 5;
	cr_assert_eq(nbd_parse_meta_context(b, (uint32_t)n, &q), 0);
	cr_assert_eq(q.nr_queries, 2);
	cr_assert_eq(nbd_meta_next_query(&q, &pos, &s, &len), 1);
	cr_assert_eq(len, 15);
	cr_assert_eq(memcmp(s, "base:allocation", 15), 0);
	cr_assert_eq(nbd_meta_next_query(&q, &pos, &s, &len), 1);
	cr_assert_eq(len, 5);
	cr_assert_eq(nbd_meta_next_query(&q, &pos, &s, &len), 0);
	cr_assert_eq(nbd_parse_meta_context(b, (uint32_t)n - 1, &q), -EINVAL, "cut query");
	put_be(b + 4, 3, 4);
	cr_assert_eq(nbd_parse_meta_context(b, (uint32_t)n, &q), -EINVAL, "count mismatch");
}

Test(nbd_parse, errno_mapping)
{
	cr_assert_eq(nbd_errno_to_wire(0), 0);
	cr_assert_eq(nbd_errno_to_wire(-EROFS), NBD_EPERM);
	cr_assert_eq(nbd_errno_to_wire(-EDQUOT), NBD_ENOSPC);
	cr_assert_eq(nbd_errno_to_wire(-ENOENT), NBD_EIO);
	cr_assert_eq(nbd_errno_to_wire(-ESHUTDOWN), NBD_ESHUTDOWN);
}
