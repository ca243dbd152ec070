/*
 * Pure parsers of the NBD protocol: they read only the buffer they are given and touch no
 * socket or store, so they are fuzzed alone (tests/fuzz/fuzz_nbd_parse.c). The connection code
 * feeds them bytes and acts on the result.
 */
#ifndef SD_NBD_PARSE_H
#define SD_NBD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nbd_wire.h"

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/*
 * One transmission request header at buf[0..len). Returns NBD_REQUEST_SIZE (bytes used; a WRITE's
 * payload follows), 0 if more bytes are needed, or -EPROTO for a bad magic (the connection must
 * be closed: the stream cannot be resynchronised).
 */
int nbd_parse_request(const uint8_t *buf, size_t len, struct nbd_request *req);

/* What an export allows, for validation. */
struct nbd_export_caps {
	uint64_t size;
	bool read_only;
	bool structured; /* structured replies negotiated */
	bool meta_base_allocation;
	bool meta_dirty; /* a qemu:dirty-bitmap context */
};

/*
 * Checks a parsed request against the export. Returns 0 or the NBD error value to reply with
 * (NBD_EINVAL for an unknown command or flag, an out-of-range read/trim, or a read or write
 * longer than NBD_MAX_PAYLOAD, the maximum block size advertised: the protocol asks for EINVAL
 * there; NBD_ENOSPC for a write past the end; NBD_EPERM for a write to a read-only export).
 * Overflow of offset + length is checked. A refused write's payload still follows on the wire.
 */
int nbd_validate_request(const struct nbd_request *req, const struct nbd_export_caps *caps);

struct nbd_option {
	uint32_t option;
	uint32_t length; /* payload bytes that follow the header */
};

/*
 * One option header. Returns NBD_OPTION_HDR_SIZE, 0 if more bytes are needed, or -EPROTO for a
 * bad magic.
 */
int nbd_parse_option(const uint8_t *buf, size_t len, struct nbd_option *opt);

/* INFO and GO payload: u32 name length, name, u16 n, n x u16 info requests. */
struct nbd_go {
	const uint8_t *name; /* points into the caller's buffer; not NUL terminated */
	uint32_t name_len;
	uint16_t nr_info;
	bool want_block_size;
	bool want_name;
	bool want_description;
};

/* Returns 0 or -EINVAL when the payload's lengths do not add up. */
int nbd_parse_go(const uint8_t *data, uint32_t len, struct nbd_go *go);

/* LIST/SET_META_CONTEXT payload: u32 name length, name, u32 n, n x (u32 len, query). */
struct nbd_meta_query {
	const uint8_t *name;
	uint32_t name_len;
	uint32_t nr_queries;
	const uint8_t *queries; /* the n (len, query) pairs, validated */
	uint32_t queries_len;
};

int nbd_parse_meta_context(const uint8_t *data, uint32_t len, struct nbd_meta_query *q);
/*
 * Iterates the queries of a parsed meta context payload: *pos starts at 0. Returns 1 and the
 * next query, or 0 at the end.
 */
int nbd_meta_next_query(const struct nbd_meta_query *q, uint32_t *pos, const uint8_t **query,
			uint32_t *query_len);

/* The one mapping from the daemon's negative errno values to NBD error values. */
uint32_t nbd_errno_to_wire(int neg_errno);

#endif
