/* FNV-1a 64 hashing, bit-for-bit as in the original sheepdog. */
#include "hash.h"

#include <string.h>

#define FNV_64_PRIME UINT64_C(0x100000001b3)

uint64_t fnv_64a_buf(const void *buf, size_t len, uint64_t hval)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		hval ^= p[i];
		hval *= FNV_64_PRIME;
	}
	return hval;
}

uint64_t fnv_64a_64(uint64_t hval, uint64_t x)
{
	for (int i = 0; i < 8; i++) {
		hval ^= (x >> (8 * i)) & 0xff;
		hval *= FNV_64_PRIME;
	}
	return hval;
}

uint64_t sd_hash(const void *buf, size_t len)
{
	uint64_t h = fnv_64a_buf(buf, len, FNV1A_64_INIT);

	return fnv_64a_64(h, h);
}

uint64_t sd_hash_next(uint64_t h)
{
	return fnv_64a_64(h, h);
}

uint64_t sd_hash_oid(uint64_t oid)
{
	uint64_t h = fnv_64a_64(FNV1A_64_INIT, oid);

	return fnv_64a_64(h, h);
}

uint32_t sd_hash_vdi(const char *name)
{
	return (uint32_t)(fnv_64a_buf(name, strlen(name), FNV1A_64_INIT) & 0xffffff);
}
