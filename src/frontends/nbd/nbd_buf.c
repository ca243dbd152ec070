/* Growable big-endian output buffer. */
#include "nbd_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *room(struct nbd_buf *b, size_t len)
{
	if (b->error)
		return NULL;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *n;

		while (cap < b->len + len)
			cap *= 2;
		n = realloc(b->p, cap);
		if (!n) {
			b->error = -ENOMEM;
			return NULL;
		}
		b->p = n;
		b->cap = cap;
	}
	b->len += len;
	return b->p + b->len - len;
}

void nbd_buf_put(struct nbd_buf *b, const void *data, size_t len)
{
	uint8_t *p = room(b, len);

	if (p && len)
		memcpy(p, data, len);
}

static void put_be(struct nbd_buf *b, uint64_t v, int bytes)
{
	uint8_t *p = room(b, (size_t)bytes);

	for (int i = 0; p && i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

void nbd_buf_u16(struct nbd_buf *b, uint16_t v)
{
	put_be(b, v, 2);
}

void nbd_buf_u32(struct nbd_buf *b, uint32_t v)
{
	put_be(b, v, 4);
}

void nbd_buf_u64(struct nbd_buf *b, uint64_t v)
{
	put_be(b, v, 8);
}

void nbd_buf_zero(struct nbd_buf *b, size_t len)
{
	uint8_t *p = room(b, len);

	if (p)
		memset(p, 0, len);
}

void nbd_buf_free(struct nbd_buf *b)
{
	free(b->p);
	*b = (struct nbd_buf){ 0 };
}
