/* Human size strings: parsing ("20G", "1.5T") and printing in dog's style ("4.0 GB", "12 MB"). */
#ifndef SD_SIZE_H
#define SD_SIZE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses a non-negative number with an optional fractional part and an optional single suffix
 * B, K, M, G, T or P (powers of 1024, either case). Returns 0, or -EINVAL for anything else and
 * -ERANGE if the result does not fit in 64 bits.
 */
int size_parse(const char *s, uint64_t *bytes);

/* Formats bytes as dog prints sizes: MB and up, one decimal below 10. */
void size_format(uint64_t bytes, char *buf, size_t len);

#endif
