/* A walk over the protobuf wire format guided by protobuf-c's descriptors. */
#include "ctl_strings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../core/utf8.h"

struct walk {
	char path[256]; /* dotted field names down to the field being looked at */
	char *err;
	size_t errlen;
};

/* Returns the bytes the varint at p[0..len) takes, or 0 when it is truncated or too long. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < len && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* Appends ".name" (or "name" at the top) to the path; returns the old length to restore. */
static size_t path_push(struct walk *w, const char *name)
{
	size_t old = strlen(w->path);

	snprintf(w->path + old, sizeof(w->path) - old, "%s%s", old ? "." : "", name);
	return old;
}

static int check_string(struct walk *w, const uint8_t *s, size_t len)
{
	const uint8_t *nul = memchr(s, 0, len);
	size_t bad = utf8_invalid_at(s, len);

	if (nul && (size_t)(nul - s) <= bad) {
		snprintf(
			w->err, w->errlen,
			"field '%s' holds a NUL byte (at byte %zu of %zu): names and other strings "
			"must be UTF-8 text without NUL",
			w->path, (size_t)(nul - s), len);
		return -EILSEQ;
	}
	if (bad < len) {
		snprintf(w->err, w->errlen,
			 "field '%s' is not valid UTF-8 (at byte %zu of %zu): names and other "
			 "strings must be UTF-8 text without NUL",
			 w->path, bad, len);
		return -EILSEQ;
	}
	return 0;
}

static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, int depth,
		struct walk *w)
{
	size_t off = 0, n;

	while (off < len) {
		const ProtobufCFieldDescriptor *f = NULL;
		uint64_t key, v;
		size_t old;
		int ret = 0;

		if (!(n = read_varint(p + off, len - off, &key)))
			return 0;
		off += n;
		switch (key & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!(n = read_varint(p + off, len - off, &v)))
				return 0;
			off += n;
			continue;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (len - off < 8)
				return 0;
			off += 8;
			continue;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (len - off < 4)
				return 0;
			off += 4;
			continue;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			break;
		default:
			return 0; /* groups and undefined wire types: the unpack refuses them */
		}
		if (!(n = read_varint(p + off, len - off, &v)) || v > len - off - n)
			return 0;
		off += n;
		if ((key >> 3) && (key >> 3) <= UINT32_MAX)
			f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
		if (f &&
		    (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)) {
			old = path_push(w, f->name);
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				ret = check_string(w, p + off, (size_t)v);
			} else if (depth >= CTL_STRINGS_MAX_DEPTH) {
				snprintf(w->err, w->errlen,
					 "field '%s' is nested deeper than %d messages, which no "
					 "request of this protocol is",
					 w->path, CTL_STRINGS_MAX_DEPTH);
				ret = -ELOOP;
			} else {
				ret = walk(f->descriptor, p + off, (size_t)v, depth + 1, w);
			}
			if (ret)
				return ret;
			w->path[old] = '\0';
		}
		off += (size_t)v;
	}
	return 0;
}

int ctl_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		      char *err, size_t errlen)
{
	struct walk w = { .err = err, .errlen = errlen };

	return walk(desc, buf, len, 0, &w);
}
