/* dog node: list, info. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/result.h"
#include "../../core/size.h"
#include "dog.h"

static Sdctl__Response *simple_call(Sdctl__Request__OpCase op, Sdctl__Response__BodyCase body,
				    const char *what, int *ret)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;

	req.op_case = op;
	req.node_list = true; /* every bool member of the oneof shares this storage */
	rsp = dog_call(&req);
	if (!rsp) {
		*ret = EXIT_SYSFAIL;
		return NULL;
	}
	*ret = dog_result(rsp, what);
	if (!*ret)
		*ret = dog_expect(rsp, body);
	if (*ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return NULL;
	}
	return rsp;
}

static int node_list(int argc, char **argv)
{
	Sdctl__Response *rsp;
	int ret;

	(void)argc;
	(void)argv;
	rsp = simple_call(SDCTL__REQUEST__OP_NODE_LIST, SDCTL__RESPONSE__BODY_NODE_LIST,
			  "Failed to get the node list", &ret);
	if (!rsp)
		return ret;
	if (!opts.raw)
		printf("  Id   Host:Port         V-Nodes       Zone\n");
	for (size_t i = 0; i < rsp->node_list->n_nodes; i++) {
		const Sdctl__Node *n = rsp->node_list->nodes[i];
		char hp[96];

		snprintf(hp, sizeof(hp), "%s:%u", n->host, n->port);
		if (opts.raw)
			printf("%zu %s %u %u\n", i, hp, n->vnodes, n->zone);
		else
			printf("%4zu   %-20s\t%2u%11u\n", i, hp, n->vnodes, n->zone);
	}
	sdctl__response__free_unpacked(rsp, NULL);
	return EXIT_OK;
}

static void fmt(uint64_t v, char *buf, size_t len)
{
	if (opts.raw)
		snprintf(buf, len, "%" PRIu64, v);
	else
		size_format(v, buf, len);
}

static int node_info(int argc, char **argv)
{
	Sdctl__Response *rsp;
	const Sdctl__NodeInfoRsp *ni;
	char size[32], used[32], avail[32], total[32];
	int ret, pct;

	(void)argc;
	(void)argv;
	rsp = simple_call(SDCTL__REQUEST__OP_NODE_INFO, SDCTL__RESPONSE__BODY_NODE_INFO,
			  "Failed to get node information", &ret);
	if (!rsp)
		return ret;
	ni = rsp->node_info;
	pct = ni->store_size ? (int)((ni->store_size - ni->store_free) * 100 / ni->store_size) : 0;
	fmt(ni->store_size, size, sizeof(size));
	fmt(ni->store_size - ni->store_free, used, sizeof(used));
	fmt(ni->store_free, avail, sizeof(avail));
	fmt(ni->vdi_size_total, total, sizeof(total));
	if (opts.raw) {
		printf("0 %s %s %s %d%%\n", size, used, avail, pct);
		printf("Total %s %s %s %d%% %s\n", size, used, avail, pct, total);
	} else {
		printf("Id\tSize\tUsed\tAvail\tUse%%\n");
		printf("%2d\t%s\t%s\t%s\t%3d%%\n", 0, size, used, avail, pct);
		printf("Total\t%s\t%s\t%s\t%3d%%\n\n", size, used, avail, pct);
		printf("Total virtual image size\t%s\n", total);
	}
	sdctl__response__free_unpacked(rsp, NULL);
	return EXIT_OK;
}

const struct subcommand node_cmds[] = {
	{ "list", "", "r", "list nodes", "  -r, --raw             raw output for scripts\n", 0, 0,
	  node_list },
	{ "info", "", "r", "show information about each node's space",
	  "  -r, --raw             raw output for scripts (sizes in bytes)\n", 0, 0, node_info },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, NULL },
};
