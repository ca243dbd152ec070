/* A cluster node as the placement ring and the epoch log see it. */
#ifndef SD_NODE_H
#define SD_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sd_node_id {
	uint8_t addr[16]; /* IPv6, or IPv4 in the last 4 bytes with 12 leading zero bytes */
	uint16_t port;
};

struct sd_node {
	struct sd_node_id nid;
	uint16_t nr_vnodes; /* 0 for a gateway */
	uint32_t zone;
	uint64_t space;
};

/* Parses "a.b.c.d" or an IPv6 address into the 16-byte form. Returns 0 or -EINVAL. */
int node_addr_parse(const char *s, uint8_t addr[16]);
/* Prints the address as the original dog does ("127.0.0.1" or an IPv6 text form). */
void node_addr_format(const uint8_t addr[16], char *buf, size_t len);
/* The zone a node gets without -z: the last 4 address bytes read as a little-endian u32. */
uint32_t node_default_zone(const uint8_t addr[16]);
/* Order by (address bytes, port): the order of `dog node list`. */
int node_id_cmp(const struct sd_node_id *a, const struct sd_node_id *b);

#endif
