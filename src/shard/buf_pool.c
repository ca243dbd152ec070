/* Thread-local buffer caches over posix_memalign. */
#include "buf_pool.h"

#include <stdlib.h>

#define NR_CLASSES (BUF_POOL_MAX_SHIFT - BUF_POOL_MIN_SHIFT + 1)

/* How many free buffers a class keeps: more small ones than 4 MiB ones. */
static const int class_cap[NR_CLASSES] = { 256, 128, 64, 64, 32, 32, 16, 16, 8, 8, 8 };

struct free_buf {
	struct free_buf *next;
};

static __thread struct free_buf *free_list[NR_CLASSES];
static __thread int free_count[NR_CLASSES];

static int class_of(size_t size)
{
	int c = 0;

	while (((size_t)1 << (BUF_POOL_MIN_SHIFT + c)) < size)
		c++;
	return c;
}

size_t buf_class_size(size_t size)
{
	return (size_t)1 << (BUF_POOL_MIN_SHIFT + class_of(size));
}

void *buf_get(size_t size)
{
	void *p;
	int c;

	if (size > ((size_t)1 << BUF_POOL_MAX_SHIFT))
		return NULL;
	c = class_of(size);
	if (free_list[c]) {
		struct free_buf *b = free_list[c];

		free_list[c] = b->next;
		free_count[c]--;
		return b;
	}
	if (posix_memalign(&p, 4096, (size_t)1 << (BUF_POOL_MIN_SHIFT + c)))
		return NULL;
	return p;
}

void buf_put(void *buf, size_t size)
{
	int c;

	if (!buf)
		return;
	c = class_of(size);
	if (free_count[c] >= class_cap[c]) {
		free(buf);
		return;
	}
	((struct free_buf *)buf)->next = free_list[c];
	free_list[c] = buf;
	free_count[c]++;
}

void buf_pool_drain(void)
{
	for (int c = 0; c < NR_CLASSES; c++) {
		while (free_list[c]) {
			struct free_buf *b = free_list[c];

			free_list[c] = b->next;
			free(b);
		}
		free_count[c] = 0;
	}
}
