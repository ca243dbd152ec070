/*
 * dog node: list, info, kill, recovery. The node list comes from the sheep dog talks to (-a,
 * -p); info and kill then talk to each listed node at its own address, as the original did, so
 * any member of a multi-node cluster can be asked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/result.h"
#include "../../core/size.h"
#include "dog.h"

/* Sends a request whose one field is a bool and checks the body; NULL with *ret on failure. */
static Sdctl__Response *simple_call(Sdctl__Request__OpCase op, Sdctl__Response__BodyCase body,
				    const char *what, int *ret)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;

	req.op_case = op;
	req.node_list = true; /* every bool member of the oneof shares this storage */
	return dog_call_expect(&req, what, body, ret);
}

Sdctl__Response *dog_node_list(int *ret)
{
	return simple_call(SDCTL__REQUEST__OP_NODE_LIST, SDCTL__RESPONSE__BODY_NODE_LIST,
			   "Failed to get node list", ret);
}

void host_port(const Sdctl__Node *n, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u", n->host, n->port);
}

static int node_list(int argc, char **argv)
{
	Sdctl__Response *rsp;
	int ret;

	(void)argc;
	(void)argv;
	rsp = dog_node_list(&ret);
	if (!rsp)
		return ret;
	if (!opts.raw)
		printf("  Id   Host:Port         V-Nodes       Zone\n");
	for (size_t i = 0; i < rsp->node_list->n_nodes; i++) {
		const Sdctl__Node *n = rsp->node_list->nodes[i];
		char hp[96];

		host_port(n, hp, sizeof(hp));
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

/* Use% as the original computes it: truncated, 0 for a node that stores nothing. */
static int use_pct(uint64_t size, uint64_t avail)
{
	return size ? (int)((double)(size - avail) / (double)size * 100) : 0;
}

static void print_space(const char *id, uint64_t size, uint64_t avail, const char *tail)
{
	char s[32], u[32], a[32];

	fmt(size, s, sizeof(s));
	fmt(size - avail, u, sizeof(u));
	fmt(avail, a, sizeof(a));
	if (opts.raw)
		printf("%s %s %s %s %d%%%s", id, s, u, a, use_pct(size, avail), tail);
	else
		printf("%s\t%s\t%s\t%s\t%3d%%%s", id, s, u, a, use_pct(size, avail), tail);
}

/*
 * Asks every node for its space. A node that does not answer is reported on stderr and left out
 * of the totals; the others are still shown, and dog exits 2.
 */
static int node_info(int argc, char **argv)
{
	Sdctl__Response *nl;
	const Sdctl__NodeListRsp *l;
	uint64_t size = 0, avail = 0, vdi_total = 0;
	int ret, answered = 0, failed = 0;

	(void)argc;
	(void)argv;
	nl = dog_node_list(&ret);
	if (!nl)
		return ret;
	l = nl->node_list;
	if (!opts.raw)
		printf("Id\tSize\tUsed\tAvail\tUse%%\n");
	for (size_t i = 0; i < l->n_nodes; i++) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__Response *rsp;
		char why[512], hp[96], id[16];

		req.op_case = SDCTL__REQUEST__OP_NODE_INFO;
		req.node_info = true;
		host_port(l->nodes[i], hp, sizeof(hp));
		rsp = dog_call_node(l->nodes[i], &req, why, sizeof(why));
		if (rsp && rsp->result != SDCTL__RESULT__SUCCESS)
			snprintf(why, sizeof(why), "%s",
				 rsp->message && rsp->message[0] ? rsp->message
								 : sd_strerror((int)rsp->result));
		else if (rsp && rsp->body_case != SDCTL__RESPONSE__BODY_NODE_INFO)
			snprintf(why, sizeof(why),
				 "its reply has no node information (another "
				 "version of sheep?)");
		if (!rsp || rsp->result != SDCTL__RESULT__SUCCESS ||
		    rsp->body_case != SDCTL__RESPONSE__BODY_NODE_INFO) {
			fflush(stdout);
			fprintf(stderr, "Failed to get information of node %zu (%s): %s\n", i, hp,
				why);
			failed++;
		} else {
			const Sdctl__NodeInfoRsp *ni = rsp->node_info;
			uint64_t free_b =
				ni->store_free < ni->store_size ? ni->store_free : ni->store_size;

			snprintf(id, sizeof(id), opts.raw ? "%zu" : "%2zu", i);
			print_space(id, ni->store_size, free_b, "\n");
			fflush(stdout);
			size += ni->store_size;
			avail += free_b;
			/* The VDI sizes as the node dog talks to knows them (else the first). */
			if (!answered || i == l->local)
				vdi_total = ni->vdi_size_total;
			answered++;
		}
		if (rsp)
			sdctl__response__free_unpacked(rsp, NULL);
	}
	sdctl__response__free_unpacked(nl, NULL);
	if (!answered) {
		fprintf(stderr, "Cannot get information from any nodes\n");
		return EXIT_SYSFAIL;
	}
	if (opts.raw) {
		char t[32];

		fmt(vdi_total, t, sizeof(t));
		print_space("Total", size, avail, " ");
		printf("%s\n", t);
	} else {
		char t[32];

		fmt(vdi_total, t, sizeof(t));
		print_space("Total", size, avail, "\n\n");
		printf("Total virtual image size\t%s\n", t);
	}
	return failed ? EXIT_SYSFAIL : EXIT_OK;
}

/* The original's is_numeric: digits only, no sign. */
static bool is_numeric(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Prints the original's two lines for a failed kill; EXIT_FAIL. */
static int kill_failed(const Sdctl__Response *rsp)
{
	if (rsp)
		fprintf(stderr, "Response's result: %s\n",
			rsp->message && rsp->message[0] ? rsp->message
							: sd_strerror((int)rsp->result));
	fprintf(stderr, "Failed to execute request\n");
	return EXIT_FAIL;
}

static int node_kill(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *nl, *rsp;
	char why[512];
	unsigned long id;
	int ret;

	req.op_case = SDCTL__REQUEST__OP_NODE_KILL;
	req.node_kill = true;
	if (opts.local && argc) {
		fprintf(stderr, "don't use -l option and specify node id at the same time\n");
		return EXIT_USAGE;
	}
	if (opts.local) {
		rsp = dog_call(&req);
		if (!rsp || rsp->result != SDCTL__RESULT__SUCCESS)
			ret = kill_failed(rsp);
		else
			ret = EXIT_OK;
		if (rsp)
			sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	if (!argc) {
		fprintf(stderr, "please specify -l option or node id\n");
		return EXIT_USAGE;
	}
	if (!is_numeric(argv[0])) {
		fprintf(stderr, "Invalid node id '%s', please specify a numeric value\n", argv[0]);
		return EXIT_USAGE;
	}
	nl = dog_node_list(&ret);
	if (!nl)
		return ret;
	id = strtoul(argv[0], NULL, 10);
	if (strlen(argv[0]) > 9 || id >= nl->node_list->n_nodes) {
		fprintf(stderr, "Invalid node id '%s'\n", argv[0]);
		sdctl__response__free_unpacked(nl, NULL);
		return EXIT_USAGE;
	}
	rsp = dog_call_node(nl->node_list->nodes[id], &req, why, sizeof(why));
	if (!rsp)
		fprintf(stderr, "%s\n", why);
	if (!rsp || rsp->result != SDCTL__RESULT__SUCCESS)
		ret = kill_failed(rsp);
	else
		ret = EXIT_OK;
	if (rsp)
		sdctl__response__free_unpacked(rsp, NULL);
	sdctl__response__free_unpacked(nl, NULL);
	return ret;
}

static void print_recovery(const Sdctl__NodeRecoveryRsp *nr)
{
	for (size_t i = 0; i < nr->n_nodes; i++) {
		const Sdctl__NodeRecovery *r = nr->nodes[i];
		char hp[96];

		if (!r->node)
			continue;
		host_port(r->node, hp, sizeof(hp));
		if (opts.raw)
			printf("%u %s %u %u %" PRIu64 " %" PRIu64 "\n", r->id, hp, r->node->vnodes,
			       r->node->zone, r->nr_finished, r->nr_total);
		else
			printf("%4u   %-20s%5u%11u%11.1f%%\n", r->id, hp, r->node->vnodes,
			       r->node->zone,
			       r->nr_total ? 100 * (double)r->nr_finished / (double)r->nr_total
					   : 0.0);
	}
}

/* A recovery setting through the node dog talks to; the cluster applies it everywhere. */
static int recovery_ctl(Sdctl__RecoveryCtlReq__What what, uint32_t max, uint64_t interval,
			const char *fail_what)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__RecoveryCtlReq rc = SDCTL__RECOVERY_CTL_REQ__INIT;
	Sdctl__Response *rsp;
	int ret;

	rc.what = what;
	rc.max = max;
	rc.interval_ms = interval;
	req.op_case = SDCTL__REQUEST__OP_RECOVERY_CTL;
	req.recovery_ctl = &rc;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, fail_what);
	if (!ret && what == SDCTL__RECOVERY_CTL_REQ__WHAT__GET &&
	    !(ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_RECOVERY_CTL)))
		/* On stderr, as the original's informational output. */
		fprintf(stderr, "max (%u), interval (%" PRIu64 ")\n", rsp->recovery_ctl->max,
			rsp->recovery_ctl->interval_ms);
	sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

int dog_recovery_ctl(Sdctl__RecoveryCtlReq__What what, const char *fail_what)
{
	return recovery_ctl(what, 0, 0, fail_what);
}

static int set_throttle(int argc, char **argv)
{
	char *end;
	long long max, interval;

	if (argc != 3) {
		fprintf(stderr, "Usage: dog node recovery set-throttle <max> <interval>\n");
		return EXIT_USAGE;
	}
	errno = 0;
	max = strtoll(argv[1], &end, 10);
	if (errno || *end || !*argv[1] || max < 0 || max > UINT32_MAX) {
		fprintf(stderr, "Invalid max (%s)\n", argv[1]);
		return EXIT_USAGE;
	}
	errno = 0;
	interval = strtoll(argv[2], &end, 10);
	if (errno || *end || !*argv[2] || interval < 0 || interval > UINT32_MAX) {
		fprintf(stderr, "Invalid interval (%s)\n", argv[2]);
		return EXIT_USAGE;
	}
	if (!max != !interval) {
		fprintf(stderr, "Invalid interval max (%lld), interval (%lld)\n", max, interval);
		return EXIT_USAGE;
	}
	return recovery_ctl(SDCTL__RECOVERY_CTL_REQ__WHAT__SET_THROTTLE, (uint32_t)max,
			    (uint64_t)interval, "Failed to set the recovery throttle");
}

/* Each node answers for itself: asked one after the other, in node-list order. */
static int node_recovery(int argc, char **argv)
{
	Sdctl__Response *nl;
	int ret, failed = 0;

	if (argc && !strcmp(argv[0], "set-throttle"))
		return set_throttle(argc, argv);
	if (argc == 1 && !strcmp(argv[0], "get-throttle"))
		return recovery_ctl(SDCTL__RECOVERY_CTL_REQ__WHAT__GET, 0, 0,
				    "Failed to get the recovery throttle");
	if (argc && (argc != 1 || strcmp(argv[0], "info"))) {
		fprintf(stderr, "Usage: dog node recovery [info|set-throttle <max> <interval>|"
				"get-throttle]\n");
		return EXIT_USAGE;
	}
	nl = dog_node_list(&ret);
	if (!nl)
		return ret;
	if (!opts.raw) {
		printf("Nodes In Recovery:\n");
		printf("  Id   Host:Port         V-Nodes       Zone       Progress\n");
	}
	for (size_t i = 0; i < nl->node_list->n_nodes; i++) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__Response *rsp;
		char why[512], hp[96];

		req.op_case = SDCTL__REQUEST__OP_NODE_RECOVERY;
		req.node_recovery = true;
		host_port(nl->node_list->nodes[i], hp, sizeof(hp));
		rsp = dog_call_node(nl->node_list->nodes[i], &req, why, sizeof(why));
		if (rsp && rsp->result == SDCTL__RESULT__SUCCESS &&
		    rsp->body_case == SDCTL__RESPONSE__BODY_NODE_RECOVERY) {
			print_recovery(rsp->node_recovery);
		} else {
			if (rsp)
				snprintf(why, sizeof(why), "%s",
					 rsp->message && rsp->message[0]
						 ? rsp->message
						 : sd_strerror((int)rsp->result));
			fflush(stdout);
			fprintf(stderr, "Failed to get recovery information of node %zu (%s): %s\n",
				i, hp, why);
			failed++;
		}
		if (rsp)
			sdctl__response__free_unpacked(rsp, NULL);
	}
	sdctl__response__free_unpacked(nl, NULL);
	return failed ? EXIT_FAILURE : EXIT_OK;
}

const struct subcommand node_cmds[] = {
	{ "kill", "<node id>", "l", "kill node",
	  "  -l, --local           kill the sheep dog talks to (-a, -p) instead of naming an "
	  "Id\n",
	  0, 1, node_kill,
	  "Asks one sheep to exit cleanly, as on SIGTERM: it answers dog, stops serving and\n"
	  "exits 0. NODE ID is the Id column of 'dog node list', as the sheep at -a/-p lists\n"
	  "it; dog then sends the request to that node's own address. On a multi-node cluster\n"
	  "the other members see the node leave about 5 seconds later (a new epoch in 'dog\n"
	  "cluster info'); its data stays on its disk, and started again it rejoins. On a\n"
	  "single node (the local driver) 'dog node kill 0' stops it.\n"
	  "Prints nothing on success. Errors: 'Invalid node id' (exit 64) for an Id that is\n"
	  "not in the list; 'Failed to execute request' (exit 1) when the node cannot be\n"
	  "reached or refuses.\n" },
	{ "list", "", "r", "list nodes", "  -r, --raw             raw output for scripts\n", 0, 0,
	  node_list,
	  "Lists the members of the cluster's current epoch, sorted by address and port, as\n"
	  "the sheep at -a/-p knows them (every member knows the same list), under the\n"
	  "header '  Id   Host:Port         V-Nodes       Zone'.\n"
	  "Id numbers the rows (dog node kill and dog node info use it), V-Nodes is the node's\n"
	  "weight on the hash ring (0: a gateway that stores nothing), Zone its failure domain\n"
	  "(copies of an object go to different zones). Raw output (-r): one line per node,\n"
	  "'ID HOST:PORT VNODES ZONE'.\n" },
	{ "info", "", "r", "show information about each node",
	  "  -r, --raw             raw output for scripts (sizes in bytes)\n", 0, 0, node_info,
	  "Asks every node in 'dog node list' for the space of its store and prints one row\n"
	  "per node (Id, Size, Used, Avail, Use%), a Total row over the nodes that answered,\n"
	  "and the total virtual size of the working (non-snapshot) VDIs. A node that does\n"
	  "not answer (within 10 s) is named on stderr and left out of the totals; dog still\n"
	  "prints the others and exits 2. Raw output (-r): 'ID SIZE USED AVAIL USE%' per node and\n"
	  "'Total SIZE USED AVAIL USE% VIRTUAL' in bytes.\n" },
	{ "recovery", "[info|set-throttle <max> <interval>|get-throttle]", "r",
	  "show recovery information of nodes, or set or show the recovery throttle",
	  "  -r, --raw             raw output for scripts (no header; 'ID HOST:PORT VNODES\n"
	  "                        ZONE FINISHED TOTAL' per node)\n",
	  0, 3, node_recovery,
	  "Lists the nodes that are copying objects to themselves after a change of members\n"
	  "(an epoch change), with their progress. When no node is recovering it prints only\n"
	  "its two header lines, so scripts can wait for recovery by counting lines:\n"
	  "  Nodes In Recovery:\n"
	  "    Id   Host:Port         V-Nodes       Zone       Progress\n"
	  "Each node works out the objects it holds in the new epoch from the cluster's VDI\n"
	  "maps and copies those it lacks, or has an old version of, from the nodes that held\n"
	  "them; the progress is the share of those objects checked so far. Clients are\n"
	  "served meanwhile. Once every node has finished, copies a node no longer holds are\n"
	  "removed. Every node is asked; one that does not answer is reported on stderr and\n"
	  "the exit status is 1.\n"
	  "set-throttle <max> <interval>: every node recovers at most <max> objects per\n"
	  "<interval> milliseconds, to spare client I/O (both 0: no throttle, the default).\n"
	  "It holds for the whole cluster, also for nodes that join later; 'sheep -R'\n"
	  "sets a node's own until then. get-throttle prints the throttle of the node dog\n"
	  "talks to as 'max (N), interval (MS)' on stderr, as the original does.\n" },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL },
};
