/* A growable output buffer for protocol replies, with big-endian appenders. */
#ifndef SD_NBD_BUF_H
#define SD_NBD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct nbd_buf {
	uint8_t *p; /* owned; free with nbd_buf_free */
	size_t len, cap;
	int error; /* -ENOMEM once an append failed; later appends do nothing */
};

void nbd_buf_put(struct nbd_buf *b, const void *data, size_t len);
void nbd_buf_u16(struct nbd_buf *b, uint16_t v);
void nbd_buf_u32(struct nbd_buf *b, uint32_t v);
void nbd_buf_u64(struct nbd_buf *b, uint64_t v);
void nbd_buf_zero(struct nbd_buf *b, size_t len);
void nbd_buf_free(struct nbd_buf *b);

#endif
