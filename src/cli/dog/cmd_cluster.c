/* dog cluster: format, info, shutdown. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/result.h"
#include "dog.h"

/* 1 if the cluster has VDIs, 0 if not, -1 if sheep cannot be reached (error printed). */
static int cluster_has_vdis(void)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	int any;

	req.op_case = SDCTL__REQUEST__OP_VDI_LIST;
	req.vdi_list = true;
	rsp = dog_call(&req);
	if (!rsp)
		return -1;
	any = rsp->result == SDCTL__RESULT__SUCCESS &&
	      rsp->body_case == SDCTL__RESPONSE__BODY_VDI_LIST && rsp->vdi_list->n_vdis > 0;
	sdctl__response__free_unpacked(rsp, NULL);
	return any;
}

static int cluster_format(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__ClusterFormatReq f = SDCTL__CLUSTER_FORMAT_REQ__INIT;

	(void)argc;
	(void)argv;
	int has = opts.force ? 0 : cluster_has_vdis();

	if (has < 0)
		return EXIT_SYSFAIL;
	if (has) {
		printf("Caution! The cluster is not empty: formatting erases every VDI and all "
		       "data.\n");
		if (!dog_confirm("Are you sure you want to continue?"))
			return EXIT_OK;
	}
	f.copies = opts.copies_set ? opts.copies : 0;
	f.copy_policy = opts.copies_set ? opts.copy_policy : 0;
	f.store = (char *)(opts.store ? opts.store : "plain");
	f.block_size_shift = opts.block_size_shift;
	f.recycle_vid = opts.recycle_vid;
	f.strict = opts.strict;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_FORMAT;
	req.cluster_format = &f;
	printf("using backend %s store\n", f.store);
	return dog_call_simple(&req, "Format failed");
}

static void print_epoch(const Sdctl__EpochEntry *e)
{
	char when[32];
	time_t t = (time_t)e->time;
	struct tm tm;

	if (opts.raw) {
		printf("%" PRIu64 " %u [", e->time, e->epoch);
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s %6u [", when, e->epoch);
	}
	for (size_t i = 0; i < e->n_nodes; i++)
		printf("%s%s:%u:%u", i ? ", " : "", e->nodes[i]->host, e->nodes[i]->port,
		       e->nodes[i]->vnodes);
	printf("]\n");
}

/* dog cluster alter-copy -c N: the default copies of VDIs created from now on. */
static int cluster_alter_copy(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	uint32_t old;
	int ret;

	(void)argc;
	(void)argv;
	if (!opts.copies_set || opts.copy_policy) {
		fprintf(stderr, "%s\n",
			opts.copy_policy ? "Erasure coding cannot be the cluster's default "
					   "redundancy level: give -c N copies"
					 : "Give the number of copies with -c N");
		return EXIT_USAGE;
	}
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_INFO;
	req.cluster_info = true;
	rsp = dog_call_expect(&req, "Failed to get cluster information",
			      SDCTL__RESPONSE__BODY_CLUSTER_INFO, &ret);
	if (!rsp)
		return ret;
	old = rsp->cluster_info->copies;
	sdctl__response__free_unpacked(rsp, NULL);
	if (old == opts.copies) {
		printf("The cluster's redundancy level is already set to %u, nothing changed.\n",
		       old);
		return EXIT_OK;
	}
	if (!opts.force &&
	    !dog_confirm(
		    "VDIs created from now on get the new number of copies; existing VDIs keep "
		    "theirs (change one with 'dog vdi alter-copy').  Continue?"))
		return EXIT_FAIL;
	req = (Sdctl__Request)SDCTL__REQUEST__INIT;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_ALTER_COPY;
	req.cluster_alter_copy = opts.copies;
	ret = dog_call_simple(&req, "Failed to change the cluster's redundancy level");
	if (!ret)
		printf("The cluster's redundancy level is set to %u, the old one was %u.\n",
		       opts.copies, old);
	return ret;
}

static int cluster_info(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	const Sdctl__ClusterInfoRsp *ci;
	int ret;

	(void)argc;
	(void)argv;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_INFO;
	req.cluster_info = true;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, "Failed to get cluster information");
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_CLUSTER_INFO);
	if (ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	ci = rsp->cluster_info;
	if (!opts.raw)
		printf("Cluster status: ");
	if (ci->status == SDCTL__RESULT__SUCCESS)
		printf("running, auto-recovery %s\n",
		       ci->recovery_enabled ? "enabled" : "disabled");
	else
		printf("%s\n", sd_strerror((int)ci->status));
	if (!opts.raw) {
		if (opts.verbose) {
			char copies[16];

			format_copies(copies, sizeof(copies), ci->copies, ci->copy_policy);
			printf("Cluster store: %s with %s redundancy policy\n",
			       ci->store[0] ? ci->store : "plain", copies);
			printf("Cluster vnodes strategy: auto\nCluster vnode mode: node\n");
		} else {
			printf("\n");
		}
		if (ci->ctime) {
			time_t t = (time_t)ci->ctime;

			/* ctime() ends with its own newline; the blank line after it is the
			 * original's. */
			printf("Cluster created at %s\n", ctime(&t));
			printf("Epoch Time           Version [Host:Port:V-Nodes,,,]\n");
		}
	}
	for (size_t i = 0; i < ci->n_epochs; i++)
		print_epoch(ci->epochs[i]);
	sdctl__response__free_unpacked(rsp, NULL);
	return EXIT_OK;
}

static int cluster_shutdown(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	int ret = EXIT_OK;

	(void)argc;
	(void)argv;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_SHUTDOWN;
	req.cluster_shutdown = true;
	rsp = dog_call(&req);
	/* The original's lines, nothing on success. */
	if (rsp && rsp->result != SDCTL__RESULT__SUCCESS)
		fprintf(stderr, "Response's result: %s\n",
			rsp->message && rsp->message[0] ? rsp->message
							: sd_strerror((int)rsp->result));
	if (!rsp || rsp->result != SDCTL__RESULT__SUCCESS) {
		fprintf(stderr, "failed to execute request\n");
		ret = EXIT_FAIL;
	}
	if (rsp)
		sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

static int cluster_recover(int argc, char **argv)
{
	bool on = argc == 1 && !strcmp(argv[0], "enable");
	int ret;

	if (on || (argc == 1 && !strcmp(argv[0], "disable"))) {
		ret = dog_recovery_ctl(on ? SDCTL__RECOVERY_CTL_REQ__WHAT__ENABLE
					  : SDCTL__RECOVERY_CTL_REQ__WHAT__DISABLE,
				       on ? "Failed to enable recovery"
					  : "Failed to disable recovery");
		if (!ret)
			printf("Cluster recovery: %s\n", on ? "enable" : "disable");
		return ret;
	}
	if (argc == 1 && !strcmp(argv[0], "force")) {
		if (!opts.force) {
			printf("Caution! Start every node of the cluster normally before you use "
			       "this.\n"
			       "It removes the members that are not back, as if they had failed: "
			       "their\n"
			       "objects are recovered from the other copies, and a node removed "
			       "this way\n"
			       "joins again as a new member when it returns.\n");
			if (!dog_confirm("Are you sure you want to force the recovery?"))
				return EXIT_OK;
		}
		return dog_recovery_ctl(SDCTL__RECOVERY_CTL_REQ__WHAT__FORCE,
					"Failed to force the recovery");
	}
	fprintf(stderr, "Usage: dog cluster recover enable|disable|force\n");
	return EXIT_USAGE;
}

/* dog vdi check on every VDI, as the original: "fix vdi NAME" before each. */
static int cluster_check(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	int ret, worst = EXIT_OK;

	(void)argc;
	(void)argv;
	req.op_case = SDCTL__REQUEST__OP_VDI_LIST;
	req.vdi_list = true;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, "Failed to list the VDIs");
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_VDI_LIST);
	for (size_t i = 0; !ret && i < rsp->vdi_list->n_vdis; i++) {
		const Sdctl__VdiInfo *v = rsp->vdi_list->vdis[i];
		int r;

		if (v->snapshot)
			continue;
		printf("fix vdi %s\n", v->name);
		fflush(stdout);
		r = dog_vdi_check(v->name);
		if (r > worst)
			worst = r;
	}
	sdctl__response__free_unpacked(rsp, NULL);
	if (!ret) {
		int r = dog_report_orphans();

		worst = r > worst ? r : worst;
	}
	return ret ? ret : worst;
}

const struct subcommand cluster_cmds[] = {
	{ "info", "", "rv", "show cluster information",
	  "  -r, --raw             raw output for scripts (no headers, unix times)\n"
	  "  -v, --verbose         also show the store, redundancy and vnode settings\n",
	  0, 0, cluster_info,
	  "Prints the cluster's status, when it was formatted, and its epochs, newest first:\n"
	  "each change of members (a node joins or leaves) starts a new epoch with the list of\n"
	  "members as Host:Port:V-Nodes. Every member of a multi-node cluster keeps the same\n"
	  "history, so any node (-a, -p) prints the same epochs. The status is 'running' once\n"
	  "formatted, else why the cluster does not serve (e.g. 'Waiting for cluster to be\n"
	  "formatted', or 'IO has halted as there are not enough living nodes' on a node that\n"
	  "cannot reach a leader).\n" },
	{ "format", "", "c:b:z:Rtf", "create a cluster (erases all data)",
	  "  -c, --copies N|D:P    default redundancy: N copies (1-31), or erasure code with D\n"
	  "                        data strips (2, 4, 8, 16) and P parity strips (1-15)\n"
	  "                        (default: sheep -c, else 3)\n"
	  "  -b, --backend STORE   object store layout: plain (default) or tree\n"
	  "  -z, --block-size-shift N  objects of 2^N bytes, 20-31 (default 22: 4 MiB)\n"
	  "  -R, --recycle-vid     reuse the ids of deleted VDIs\n"
	  "  -t, --strict          refuse writes when fewer zones than copies are up\n"
	  "  -f, --force           do not ask for confirmation when VDIs exist\n",
	  0, 0, cluster_format },
	{ "shutdown", "", "", "stop Sheepdog", "", 0, 0, cluster_shutdown,
	  "Stops the whole cluster cleanly. With one node (the local driver) that sheep exits.\n"
	  "On a multi-node cluster (--cluster-driver sdcluster) the shutdown is a command in\n"
	  "the cluster's log: every member applies it and exits about a second later, and no\n"
	  "epoch changes, so starting all the nodes again (the same command lines, no --seed\n"
	  "needed) brings the same cluster back with its VDIs. It needs a cluster leader: a\n"
	  "node cut off from the others refuses it. Prints nothing on success; on failure the\n"
	  "reason and 'failed to execute request', exit 1. To stop one node, use\n"
	  "'dog node kill'.\n" },
	{ "alter-copy", "", "c:f", "set the number of copies of new images",
	  "  -c, --copies N        copies (1-31) of the VDIs created from now on\n"
	  "  -f, --force           do not ask for confirmation\n",
	  0, 0, cluster_alter_copy,
	  "Changes the cluster's default redundancy level, which VDIs created without -c get.\n"
	  "Existing VDIs keep theirs. The copies must fit the zones of the cluster.\n" },
	{ "check", "", "", "check and repair the copies of every image", "", 0, 0, cluster_check,
	  "Runs 'dog vdi check' on every image of the cluster, printing 'fix vdi NAME' before\n"
	  "each (see 'dog vdi check --help'), then asks every node for orphan objects: copies\n"
	  "no image owns, left on a node that was away when their image was deleted. Each is\n"
	  "printed as 'orphan object OID on HOST:PORT: no image owns it', with a count at the\n"
	  "end; they are never read, and do not change the exit status.\n" },
	{ "recover", "enable|disable|force", "f", "pause, resume or force the recovery",
	  "  -f, --force           force: do not ask for confirmation\n", 1, 1, cluster_recover,
	  "After a change of members each node copies the objects it now holds and lacks\n"
	  "(dog node recovery shows the progress). 'disable' pauses that on every node, for\n"
	  "example while more nodes are being added, so objects do not move twice; clients\n"
	  "are still served, and an object a client asks for is still fetched at once.\n"
	  "'enable' resumes it. The setting holds for the whole cluster and survives\n"
	  "restarts; 'dog cluster info' shows it as 'auto-recovery enabled|disabled'. Prints\n"
	  "'Cluster recovery: enable|disable', as the original.\n"
	  "'force' is for a cluster restarted after 'dog cluster shutdown' or a power loss,\n"
	  "which waits ('Waiting for other nodes to join cluster' in 'dog cluster info', no\n"
	  "writes) until every node of its last epoch is back: it removes the nodes still\n"
	  "missing, so the cluster serves from the copies it has. Under sdcluster ask the\n"
	  "Raft leader (another node names it).\n" },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, NULL },
};
