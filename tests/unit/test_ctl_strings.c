/*
 * Text checks on serialized control requests: NUL and invalid UTF-8 in any string field are
 * refused with the field's name; bytes fields, unknown fields and malformed input are not judged.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frontends/ctl/ctl_strings.h"
#include "sheepdog.pb-c.h"

static uint8_t buf[4096];
static char err[512];

/* A packed vdi create request for name (as a C string: a NUL is patched in afterwards). */
static size_t create_req(const char *name)
{
	Sdctl__Request q = SDCTL__REQUEST__INIT;
	Sdctl__VdiCreateReq c = SDCTL__VDI_CREATE_REQ__INIT;

	q.version = 1;
	q.op_case = SDCTL__REQUEST__OP_VDI_CREATE;
	q.vdi_create = &c;
	c.name = (char *)name;
	c.size = 8 << 20;
	cr_assert_leq(sdctl__request__get_packed_size(&q), sizeof(buf));
	return sdctl__request__pack(&q, buf);
}

static int check(size_t len)
{
	err[0] = '\0';
	return ctl_strings_check(&sdctl__request__descriptor, buf, len, err, sizeof(err));
}

/* Replaces the first 'X' of the packed bytes with NUL. */
static void patch_nul(size_t len)
{
	uint8_t *x = memchr(buf, 'X', len);

	cr_assert_not_null(x);
	*x = 0;
}

Test(ctl_strings, valid_names_pass)
{
	cr_assert_eq(check(create_req("disk")), 0);
	cr_assert_eq(check(create_req("\xd0\xb4\xd0\xb8\xd1\x81\xd0\xba-\xf0\x9f\x98\x80")), 0);
	cr_assert_eq(check(create_req("")), 0, "empty is for the VDI layer to refuse");
	cr_assert_eq(check(0), 0, "an empty request has no strings");
}

Test(ctl_strings, nul_inside_a_name_is_refused)
{
	size_t len = create_req("abXcd");
	Sdctl__Request *q;

	patch_nul(len);
	/* What the check prevents: protobuf-c hands the cluster a shorter name. */
	q = sdctl__request__unpack(NULL, len, buf);
	cr_assert_not_null(q);
	cr_assert_str_eq(q->vdi_create->name, "ab");
	sdctl__request__free_unpacked(q, NULL);

	cr_assert_eq(check(len), -EILSEQ);
	cr_assert(strstr(err, "field 'vdi_create.name' holds a NUL byte (at byte 2 of 5)"), "%s",
		  err);
	cr_assert(strstr(err, "UTF-8 text without NUL"), "%s", err);
}

Test(ctl_strings, invalid_utf8_is_refused)
{
	static const char *const bad[] = { "\xff\xfe", "\xc0\xaf", "ok\xed\xa0\x80", "\xe2\x82" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(check(create_req(bad[i])), -EILSEQ, "name %zu accepted", i);
		cr_assert(strstr(err, "field 'vdi_create.name' is not valid UTF-8"), "%s", err);
	}
	check(create_req("ok\xed\xa0\x80"));
	cr_assert(strstr(err, "(at byte 2 of 5)"), "%s", err);
}

Test(ctl_strings, every_string_field_and_only_strings)
{
	Sdctl__Request q = SDCTL__REQUEST__INIT;
	Sdctl__VdiAttrReq a = SDCTL__VDI_ATTR_REQ__INIT;
	uint8_t value[4] = { 0, 0xff, 0xfe, 0 };
	size_t len;

	q.version = 1;
	q.op_case = SDCTL__REQUEST__OP_VDI_SETATTR;
	q.vdi_setattr = &a;
	a.name = "disk";
	a.key = "kX";
	a.value.data = value;
	a.value.len = sizeof(value);
	len = sdctl__request__pack(&q, buf);
	cr_assert_eq(check(len), 0, "bytes fields may hold anything: %s", err);
	patch_nul(len);
	cr_assert_eq(check(len), -EILSEQ);
	cr_assert(strstr(err, "field 'vdi_setattr.key' holds a NUL byte"), "%s", err);
}

Test(ctl_strings, unknown_fields_are_skipped)
{
	size_t len = create_req("disk");

	/* Field 99, length-delimited, with bytes that would be a bad string. */
	buf[len++] = (uint8_t)(99 << 3 | 2) | 0x80;
	buf[len++] = 99 >> 4;
	buf[len++] = 2;
	buf[len++] = 0;
	buf[len++] = 0xff;
	cr_assert_eq(check(len), 0, "%s", err);
}

Test(ctl_strings, a_field_that_comes_twice_is_checked_both_times)
{
	uint8_t first[256];
	size_t len = create_req("disk"), len2;

	/* A second vdi_create (protobuf-c merges the two) whose name is bad. */
	memcpy(first, buf, len);
	len2 = create_req("\xff");
	memmove(buf + len, buf, len2);
	memcpy(buf, first, len);
	cr_assert_eq(check(len + len2), -EILSEQ);
	cr_assert_eq(check(len), 0);
}

/* Malformed bytes are the unpack's to refuse: the check neither crashes nor judges them. */
Test(ctl_strings, malformed_input_is_left_to_the_unpack)
{
	static const uint8_t cases[][6] = {
		{ 0x08, 0x80, 0x80 },			/* truncated varint value */
		{ 0xf2, 0x01, 0x10, 0x0a, 0x01 },	/* length past the end */
		{ 0x0b, 0x0a, 0x01, 0xff, 0x0c },	/* a group (wire type 3) */
		{ 0x0f, 0x00 },				/* wire type 7 */
		{ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 }, /* truncated key */
		{ 0x09, 0x01 },				/* truncated fixed64 */
		{ 0x0d, 0x01 },				/* truncated fixed32 */
	};
	static const size_t lens[] = { 3, 5, 5, 2, 6, 2, 2 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(buf, cases[i], lens[i]);
		cr_assert_eq(check(lens[i]), 0, "case %zu judged: %s", i, err);
		cr_assert_null(sdctl__request__unpack(NULL, lens[i], buf), "case %zu unpacked", i);
	}
}

Test(ctl_strings, every_prefix_and_random_bytes)
{
	size_t len = create_req("abXcd");

	patch_nul(len);
	for (size_t n = 0; n <= len; n++) {
		uint8_t *copy = malloc(n ? n : 1);

		memcpy(copy, buf, n);
		/* Under ASan: never reads past the prefix. */
		ctl_strings_check(&sdctl__request__descriptor, copy, n, err, sizeof(err));
		free(copy);
	}
	srand(1);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand() % 64);
		uint8_t *copy = malloc(n ? n : 1);

		for (size_t i = 0; i < n; i++)
			copy[i] = (uint8_t)rand();
		ctl_strings_check(&sdctl__request__descriptor, copy, n, err, sizeof(err));
		free(copy);
	}
}

/* A message type that contains itself: the walk stops at CTL_STRINGS_MAX_DEPTH. */
static const ProtobufCMessageDescriptor node_desc;
static const ProtobufCFieldDescriptor node_fields[] = {
	{ .name = "next",
	  .id = 1,
	  .label = PROTOBUF_C_LABEL_NONE,
	  .type = PROTOBUF_C_TYPE_MESSAGE,
	  .descriptor = &node_desc },
	{ .name = "s", .id = 2, .label = PROTOBUF_C_LABEL_NONE, .type = PROTOBUF_C_TYPE_STRING },
};
static const ProtobufCIntRange node_ranges[] = { { 1, 0 }, { 0, 2 } };
static const ProtobufCMessageDescriptor node_desc = {
	.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	.name = "test.Node",
	.short_name = "Node",
	.n_fields = 2,
	.fields = node_fields,
	.n_field_ranges = 1,
	.field_ranges = node_ranges,
};

/* depth nested "next" messages around a string field s of slen bytes. */
static size_t nested(int depth, const uint8_t *s, size_t slen)
{
	uint8_t tmp[sizeof(buf)];
	size_t len = 0;

	buf[len++] = 2 << 3 | 2;
	buf[len++] = (uint8_t)slen;
	memcpy(buf + len, s, slen);
	len += slen;
	for (int i = 0; i < depth; i++) {
		cr_assert_lt(len, 128);
		memcpy(tmp, buf, len);
		buf[0] = 1 << 3 | 2;
		buf[1] = (uint8_t)len;
		memcpy(buf + 2, tmp, len);
		len += 2;
	}
	return len;
}

Test(ctl_strings, nesting_is_bounded)
{
	size_t len = nested(3, (const uint8_t *)"a\0b", 3);

	cr_assert_eq(ctl_strings_check(&node_desc, buf, len, err, sizeof(err)), -EILSEQ);
	cr_assert(strstr(err, "field 'next.next.next.s' holds a NUL byte"), "%s", err);
	len = nested(CTL_STRINGS_MAX_DEPTH, (const uint8_t *)"ok", 2);
	cr_assert_eq(ctl_strings_check(&node_desc, buf, len, err, sizeof(err)), 0, "%s", err);
	len = nested(CTL_STRINGS_MAX_DEPTH + 1, (const uint8_t *)"ok", 2);
	cr_assert_eq(ctl_strings_check(&node_desc, buf, len, err, sizeof(err)), -ELOOP);
	cr_assert(strstr(err, "nested deeper than 16 messages"), "%s", err);
}
