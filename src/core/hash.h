/* FNV-1a 64 and the derived hashes of the original sheepdog (VDI ids, ring positions). */
#ifndef SD_HASH_H
#define SD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_64_INIT UINT64_C(0xcbf29ce484222325)

uint64_t fnv_64a_buf(const void *buf, size_t len, uint64_t hval);
/* Feeds the 8 bytes of x, least significant first. */
uint64_t fnv_64a_64(uint64_t hval, uint64_t x);
uint64_t sd_hash(const void *buf, size_t len);
uint64_t sd_hash_next(uint64_t h);
uint64_t sd_hash_oid(uint64_t oid);
/* The 24-bit starting point for a VDI id: FNV-1a of the name, low 24 bits. */
uint32_t sd_hash_vdi(const char *name);

#endif
