/*
 * Framing of the control protocol: a 4-byte big-endian length, then that many bytes of protobuf.
 * The parser is a pure function over a buffer (fuzzed by tests/fuzz/fuzz_ctl_frame.c).
 */
#ifndef SD_CTL_FRAME_H
#define SD_CTL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define CTL_FRAME_HDR	  4
#define CTL_MAX_IO	  (4u << 20) /* largest vdi read/write payload in one request */
#define CTL_MAX_FRAME	  (CTL_MAX_IO + 4096)
#define CTL_PROTO_VERSION 1

enum {
	CTL_FRAME_NEED_MORE = 0,
	CTL_FRAME_OK = 1,
};

/*
 * Looks for one frame at the start of buf[0..len). Returns CTL_FRAME_OK and sets *payload,
 * *payload_len and *consumed (header plus payload); CTL_FRAME_NEED_MORE with *consumed set to the
 * bytes the whole frame needs (or CTL_FRAME_HDR if even the header is incomplete); or -EMSGSIZE
 * if the announced length exceeds max. Never reads outside buf.
 */
int ctl_frame_parse(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
		    uint32_t *payload_len, size_t *consumed);

/* Writes the header for a payload of len bytes. */
void ctl_frame_header(uint8_t hdr[CTL_FRAME_HDR], uint32_t len);

#endif
