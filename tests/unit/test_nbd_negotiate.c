/* The NBD handshake state machine, against a fake export table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "frontends/nbd/nbd_negotiate.h"

static int lookup(void *ctx, const char *name, struct nbd_export_info *info, char *msg,
		  size_t msglen)
{
	(void)ctx;
	if (strcmp(name, "vol0") && strcmp(name, "vol1")) {
		snprintf(msg, msglen, "no VDI named '%s'", name);
		return -ENOENT;
	}
	*info = (struct nbd_export_info){ .size = 1 << 30,
					  .tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH,
					  .min_block = 1,
					  .pref_block = 4096,
					  .max_block = NBD_MAX_PAYLOAD };
	return 0;
}

static void list(void *ctx, void (*emit)(void *, const char *), void *arg)
{
	(void)ctx;
	emit(arg, "vol0");
	emit(arg, "vol1");
}

/* vol1 is a snapshot whose only older snapshot is "old". */
static int dirty_from(void *ctx, const char *name, const char *from)
{
	(void)ctx;
	return !strcmp(name, "vol1") && !strcmp(from, "old") ? 0 : -ENOENT;
}

static void list_dirty(void *ctx, const char *name, void (*emit)(void *, const char *), void *arg)
{
	(void)ctx;
	if (!strcmp(name, "vol1"))
		emit(arg, "old");
}

static const struct nbd_export_ops ops = {
	.lookup = lookup, .list = list, .dirty_from = dirty_from, .list_dirty = list_dirty
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The reply type of the n-th option reply in buf (0-based), or 0 if there is none. */
static uint32_t reply_type(const struct nbd_buf *b, int n, uint32_t *len_out)
{
	size_t off = 0;

	for (int i = 0; off + 20 <= b->len; i++) {
		uint32_t len = be32(b->p + off + 16);

		if (i == n) {
			if (len_out)
				*len_out = len;
			return be32(b->p + off + 12);
		}
		off += 20 + len;
	}
	return 0;
}

static struct nbd_neg neg;

static void init(void)
{
	const uint8_t flags[4] = { 0, 0, 0, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES };

	cr_assert_eq(nbd_neg_client_flags(&neg, flags), 0);
}

TestSuite(nbd_neg, .init = init);

Test(nbd_neg, client_flags)
{
	struct nbd_neg n;
	uint8_t f[4] = { 0, 0, 0, 4 };

	cr_assert_eq(nbd_neg_client_flags(&n, f), -EPROTO, "unknown flag accepted");
	f[3] = 0;
	cr_assert_eq(nbd_neg_client_flags(&n, f), -EPROTO, "plain newstyle accepted");
	f[3] = 1;
	cr_assert_eq(nbd_neg_client_flags(&n, f), 0);
	cr_assert_not(n.no_zeroes);
}

static uint8_t *go_payload(const char *name, int nr_info, const uint16_t *info, uint32_t *len)
{
	static uint8_t b[256];
	size_t n = strlen(name), off = 0;

	b[off++] = 0, b[off++] = 0, b[off++] = 0, b[off++] = (uint8_t)n;
	memcpy(b + off, name, n);
	off += n;
	b[off++] = 0, b[off++] = (uint8_t)nr_info;
	for (int i = 0; i < nr_info; i++)
		b[off++] = (uint8_t)(info[i] >> 8), b[off++] = (uint8_t)info[i];
	*len = (uint32_t)off;
	return b;
}

Test(nbd_neg, go_known_export)
{
	struct nbd_buf out = { 0 };
	uint16_t want[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME };
	struct nbd_option o = { .option = NBD_OPT_GO };
	uint8_t *p = go_payload("vol0", 2, want, &o.length);
	uint32_t len;

	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_TRANSMIT);
	cr_assert_str_eq(neg.export_name, "vol0");
	cr_assert_eq(reply_type(&out, 0, &len), NBD_REP_INFO);
	cr_assert_eq(len, 12, "INFO_EXPORT first");
	cr_assert_eq(reply_type(&out, 1, &len), NBD_REP_INFO);
	cr_assert_eq(len, 6, "INFO_NAME");
	cr_assert_eq(reply_type(&out, 2, &len), NBD_REP_INFO);
	cr_assert_eq(len, 14, "INFO_BLOCK_SIZE");
	cr_assert_eq(reply_type(&out, 3, NULL), NBD_REP_ACK);
	nbd_buf_free(&out);
}

Test(nbd_neg, go_unknown_export_keeps_haggling)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_GO };
	uint8_t *p = go_payload("nope", 0, NULL, &o.length);

	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_UNKNOWN);
	cr_assert(memmem(out.p, out.len, "no VDI named 'nope'", 19), "the reason is sent");
	nbd_buf_free(&out);
}

Test(nbd_neg, malformed_go_is_invalid)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_GO, .length = 3 };
	uint8_t junk[3] = { 0xff, 0xff, 0xff };

	cr_assert_eq(nbd_neg_option(&neg, &o, junk, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	nbd_buf_free(&out);
}

Test(nbd_neg, list_exports)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_LIST };

	cr_assert_eq(nbd_neg_option(&neg, &o, NULL, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_SERVER);
	cr_assert_eq(reply_type(&out, 1, NULL), NBD_REP_SERVER);
	cr_assert_eq(reply_type(&out, 2, NULL), NBD_REP_ACK);
	nbd_buf_free(&out);
}

Test(nbd_neg, export_name_legacy)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_EXPORT_NAME, .length = 4 };

	cr_assert_eq(nbd_neg_option(&neg, &o, (const uint8_t *)"vol1", &out, &ops),
		     NBD_NEG_TRANSMIT);
	cr_assert_eq(out.len, 10, "size and flags, no zeroes (NO_ZEROES)");
	nbd_buf_free(&out);
	o.length = 3;
	cr_assert_eq(nbd_neg_option(&neg, &o, (const uint8_t *)"bad", &out, &ops), NBD_NEG_CLOSE);
	nbd_buf_free(&out);
}

static uint8_t *meta_payload(const char *exp, const char *query, uint32_t *len)
{
	static uint8_t b[256];
	size_t off = 0, n = strlen(exp), q = strlen(query);

	b[off++] = 0, b[off++] = 0, b[off++] = 0, b[off++] = (uint8_t)n;
	memcpy(b + off, exp, n);
	off += n;
	b[off++] = 0, b[off++] = 0, b[off++] = 0, b[off++] = 1;
	b[off++] = 0, b[off++] = 0, b[off++] = 0, b[off++] = (uint8_t)q;
	memcpy(b + off, query, q);
	off += q;
	*len = (uint32_t)off;
	return b;
}

Test(nbd_neg, meta_context_needs_structured_replies)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_SET_META_CONTEXT };
	uint8_t *p = meta_payload("vol0", "base:allocation", &o.length);

	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	cr_assert_not(neg.meta_base_allocation);
	nbd_buf_free(&out);
}

Test(nbd_neg, base_allocation_selected_then_go)
{
	struct nbd_buf out = { 0 };
	struct nbd_option sr = { .option = NBD_OPT_STRUCTURED_REPLY };
	struct nbd_option o = { .option = NBD_OPT_SET_META_CONTEXT };
	struct nbd_option go = { .option = NBD_OPT_GO };
	uint8_t *p;

	cr_assert_eq(nbd_neg_option(&neg, &sr, NULL, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert(neg.structured);
	p = meta_payload("vol0", "base:allocation", &o.length);
	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 1, NULL), NBD_REP_META_CONTEXT);
	cr_assert_eq(reply_type(&out, 2, NULL), NBD_REP_ACK);
	cr_assert(neg.meta_base_allocation);
	/* GO to another export drops the selection. */
	p = go_payload("vol1", 0, NULL, &go.length);
	cr_assert_eq(nbd_neg_option(&neg, &go, p, &out, &ops), NBD_NEG_TRANSMIT);
	cr_assert_not(neg.meta_base_allocation);
	nbd_buf_free(&out);
}

Test(nbd_neg, dirty_bitmap_of_an_older_snapshot)
{
	struct nbd_buf out = { 0 };
	struct nbd_option sr = { .option = NBD_OPT_STRUCTURED_REPLY };
	struct nbd_option o = { .option = NBD_OPT_SET_META_CONTEXT };
	struct nbd_option l = { .option = NBD_OPT_LIST_META_CONTEXT };
	uint32_t len;
	uint8_t *p;

	cr_assert_eq(nbd_neg_option(&neg, &sr, NULL, &out, &ops), NBD_NEG_CONTINUE);
	/* LIST of the qemu: namespace names every older snapshot's bitmap. */
	p = meta_payload("vol1", "qemu:", &l.length);
	cr_assert_eq(nbd_neg_option(&neg, &l, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 1, &len), NBD_REP_META_CONTEXT);
	cr_assert_eq(len, 4 + strlen("qemu:dirty-bitmap:old"));
	cr_assert_eq(reply_type(&out, 2, NULL), NBD_REP_ACK);
	/* SET of a bitmap that exists selects it (id 2); one that does not is left out. */
	p = meta_payload("vol1", "qemu:dirty-bitmap:old", &o.length);
	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 3, NULL), NBD_REP_META_CONTEXT);
	cr_assert(neg.meta_dirty);
	cr_assert_str_eq(neg.meta_dirty_from, "old");
	cr_assert_not(neg.meta_base_allocation);
	p = meta_payload("vol0", "qemu:dirty-bitmap:old", &o.length);
	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 5, NULL), NBD_REP_ACK);
	cr_assert_not(neg.meta_dirty);
	nbd_buf_free(&out);
}

Test(nbd_neg, unknown_option_and_abort)
{
	struct nbd_buf out = { 0 };
	struct nbd_option u = { .option = 1234 }, a = { .option = NBD_OPT_ABORT };

	cr_assert_eq(nbd_neg_option(&neg, &u, NULL, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_UNSUP);
	cr_assert_eq(nbd_neg_option(&neg, &a, NULL, &out, &ops), NBD_NEG_CLOSE);
	cr_assert_eq(reply_type(&out, 1, NULL), NBD_REP_ACK);
	nbd_buf_free(&out);
}

/* A GO/INFO payload whose name is n raw bytes (which may hold NUL or invalid UTF-8). */
static uint8_t *go_payload_raw(const char *name, size_t n, uint32_t *len)
{
	static uint8_t b[256];
	size_t off = 0;

	b[off++] = 0, b[off++] = 0, b[off++] = 0, b[off++] = (uint8_t)n;
	memcpy(b + off, name, n);
	off += n;
	b[off++] = 0, b[off++] = 0;
	*len = (uint32_t)off;
	return b;
}

/* The data of the n-th option reply, as a C string. */
static const char *reply_text(const struct nbd_buf *b, int n)
{
	static char text[512];
	size_t off = 0;

	for (int i = 0; off + 20 <= b->len; i++) {
		uint32_t len = be32(b->p + off + 16);

		if (i == n) {
			snprintf(text, sizeof(text), "%.*s", (int)len,
				 (const char *)b->p + off + 20);
			return text;
		}
		off += 20 + len;
	}
	return "";
}

Test(nbd_neg, bad_export_names_are_invalid_and_haggling_goes_on)
{
	static const struct {
		const char *name;
		size_t len;
		const char *why;
	} bad[] = {
		{ "vol0\0x", 6, "export name holds a NUL byte" },
		{ "\0", 1, "export name holds a NUL byte" },
		{ "\xff\xfe", 2, "export name is not valid UTF-8" },
		{ "\xc0\xaf", 2, "export name is not valid UTF-8" },
		{ "vol\xed\xa0\x80", 6, "export name is not valid UTF-8" },
	};
	const uint32_t opts[] = { NBD_OPT_INFO, NBD_OPT_GO };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t k = 0; k < 2; k++) {
			struct nbd_buf out = { 0 };
			struct nbd_option o = { .option = opts[k] };
			uint8_t *p = go_payload_raw(bad[i].name, bad[i].len, &o.length);

			cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
			cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID, "name %zu", i);
			cr_assert(strstr(reply_text(&out, 0), bad[i].why), "%s",
				  reply_text(&out, 0));
			cr_assert(strstr(reply_text(&out, 0), "UTF-8 text without NUL"));
			cr_assert_eq(reply_type(&out, 1, NULL), 0, "one reply only");
			nbd_buf_free(&out);
		}
	}
	/* The same connection still gets its export. */
	{
		struct nbd_buf out = { 0 };
		struct nbd_option o = { .option = NBD_OPT_GO };
		uint8_t *p = go_payload("vol0", 0, NULL, &o.length);

		cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_TRANSMIT);
		nbd_buf_free(&out);
	}
}

Test(nbd_neg, meta_context_with_a_bad_export_name_is_invalid)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_LIST_META_CONTEXT };
	uint8_t *p = meta_payload("vol\xff", "base:allocation", &o.length);

	cr_assert_eq(nbd_neg_option(&neg, &o, p, &out, &ops), NBD_NEG_CONTINUE);
	cr_assert_eq(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	cr_assert(strstr(reply_text(&out, 0), "export name is not valid UTF-8"), "%s",
		  reply_text(&out, 0));
	nbd_buf_free(&out);
}

Test(nbd_neg, export_name_with_bad_text_closes)
{
	struct nbd_buf out = { 0 };
	struct nbd_option o = { .option = NBD_OPT_EXPORT_NAME, .length = 2 };

	cr_assert_eq(nbd_neg_option(&neg, &o, (const uint8_t *)"\xc0\xaf", &out, &ops),
		     NBD_NEG_CLOSE);
	cr_assert_eq(out.len, 0, "EXPORT_NAME has no way to send an error");
	o.length = 5;
	cr_assert_eq(nbd_neg_option(&neg, &o, (const uint8_t *)"vol0\0", &out, &ops),
		     NBD_NEG_CLOSE);
	cr_assert_eq(out.len, 0);
	nbd_buf_free(&out);
}
