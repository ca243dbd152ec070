/* Node identity: address parsing and printing, default zones, ordering. */
#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"

static bool addr_is_v4(const uint8_t addr[16])
{
	static const uint8_t zero[12];

	return memcmp(addr, zero, 12) == 0;
}

int node_addr_parse(const char *s, uint8_t addr[16])
{
	struct in_addr a4;
	struct in6_addr a6;

	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(addr + 12, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		memcpy(addr, &a6, 16);
		return 0;
	}
	return -EINVAL;
}

void node_addr_format(const uint8_t addr[16], char *buf, size_t len)
{
	if (addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
}

uint32_t node_default_zone(const uint8_t addr[16])
{
	return get_le32(addr + 12);
}

int node_id_cmp(const struct sd_node_id *a, const struct sd_node_id *b)
{
	int c = memcmp(a->addr, b->addr, 16);

	if (c)
		return c;
	return (int)a->port - (int)b->port;
}
