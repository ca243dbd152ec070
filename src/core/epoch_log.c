/* Reading and writing epoch log files. */
#include "epoch_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "constants.h"

int epoch_log_write(const char *dir, const struct epoch_entry *e)
{
	char edir[4096], name[16];
	size_t cap = 128 + (size_t)e->nr_nodes * 96, n;
	char *buf = malloc(cap);
	int ret;

	if (!buf)
		return -ENOMEM;
	snprintf(edir, sizeof(edir), "%s/epoch", dir);
	if (mkdir(edir, 0755) < 0 && errno != EEXIST) {
		free(buf);
		return -errno;
	}
	n = (size_t)snprintf(buf, cap, "epoch=%u\ntime=%" PRIu64 "\n", e->epoch, e->time);
	for (int i = 0; i < e->nr_nodes; i++) {
		char addr[64];

		node_addr_format(e->nodes[i].nid.addr, addr, sizeof(addr));
		n += (size_t)snprintf(buf + n, cap - n, "node=%s %u %u %u %" PRIu64 "\n", addr,
				      e->nodes[i].nid.port, e->nodes[i].nr_vnodes, e->nodes[i].zone,
				      e->nodes[i].space);
	}
	snprintf(name, sizeof(name), "%08u", e->epoch);
	ret = atomic_file_write(edir, name, buf, n);
	free(buf);
	return ret;
}

int epoch_log_parse(const char *text, struct epoch_entry *e)
{
	const char *p = text;
	int cap = 0;
	bool have_epoch = false;

	memset(e, 0, sizeof(*e));
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[160];

		if (n >= sizeof(line))
			goto bad;
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);
		if (!strncmp(line, "epoch=", 6)) {
			if (sscanf(line + 6, "%" SCNu32, &e->epoch) != 1)
				goto bad;
			have_epoch = true;
		} else if (!strncmp(line, "time=", 5)) {
			if (sscanf(line + 5, "%" SCNu64, &e->time) != 1)
				goto bad;
		} else if (!strncmp(line, "node=", 5)) {
			char addr[64];
			unsigned port, vnodes, zone;
			uint64_t space;
			struct sd_node *nd;

			if (sscanf(line + 5, "%63s %u %u %u %" SCNu64, addr, &port, &vnodes, &zone,
				   &space) != 5 ||
			    port > 65535 || vnodes > SD_MAX_VNODES || e->nr_nodes >= SD_MAX_NODES)
				goto bad;
			if (e->nr_nodes == cap) {
				cap = cap ? cap * 2 : 8;
				nd = realloc(e->nodes, sizeof(*nd) * (size_t)cap);
				if (!nd)
					goto bad;
				e->nodes = nd;
			}
			nd = &e->nodes[e->nr_nodes];
			memset(nd, 0, sizeof(*nd));
			if (node_addr_parse(addr, nd->nid.addr))
				goto bad;
			nd->nid.port = (uint16_t)port;
			nd->nr_vnodes = (uint16_t)vnodes;
			nd->zone = zone;
			nd->space = space;
			e->nr_nodes++;
		} else if (line[0]) {
			goto bad;
		}
	}
	if (!have_epoch)
		goto bad;
	return 0;
bad:
	epoch_entry_free(e);
	return -EINVAL;
}

int epoch_log_read(const char *dir, uint32_t epoch, struct epoch_entry *e)
{
	char path[4096];
	char *text;
	long n;
	int ret;

	snprintf(path, sizeof(path), "%s/epoch/%08u", dir, epoch);
	n = file_read_all(path, &text, 1 << 20);
	if (n < 0)
		return (int)n;
	ret = epoch_log_parse(text, e);
	free(text);
	if (!ret && e->epoch != epoch) {
		epoch_entry_free(e);
		return -EINVAL;
	}
	return ret;
}

void epoch_entry_free(struct epoch_entry *e)
{
	free(e->nodes);
	e->nodes = NULL;
	e->nr_nodes = 0;
}
