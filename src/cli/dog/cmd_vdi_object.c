/*
 * dog vdi object location (where an object of an image is, asked of every node, in the
 * original's words) and dog cluster check's orphan report (every node's objects that no image
 * owns, which a node that was away when their image was deleted still keeps).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../core/result.h"
#include "dog.h"

static const char *failure(const Sdctl__Response *rsp, char *why)
{
	if (!rsp)
		return why;
	return rsp->message && rsp->message[0] ? rsp->message : sd_strerror((int)rsp->result);
}

int vdi_object_map_cmd(const char *name);

int vdi_object_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__ObjectLocationReq q = SDCTL__OBJECT_LOCATION_REQ__INIT;
	Sdctl__Response *rsp, *nl;
	const Sdctl__ObjectLocationRsp *loc;
	int ret, failed = 0;

	(void)argc;
	if (!strcmp(argv[0], "map"))
		return vdi_object_map_cmd(argv[1]);
	if (strcmp(argv[0], "location")) {
		fprintf(stderr,
			"Usage: dog vdi object location|map <vdiname> [-i index] [-s snap]\n");
		return EXIT_USAGE;
	}
	q.name = argv[1];
	q.has_index = opts.index_set;
	q.index = opts.index;
	req.op_case = SDCTL__REQUEST__OP_OBJECT_LOCATION;
	req.object_location = &q;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, "Failed to locate the object");
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_OBJECT_LOCATION);
	if (ret || !(nl = dog_node_list(&ret))) {
		sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	loc = rsp->object_location;
	printf("Looking for the object %016" PRIx64 " (vid 0x%" PRIx32 " idx %" PRIu32
	       ", %u copies) with %zu nodes\n\n",
	       loc->oid, loc->vid, loc->index, loc->copies, nl->node_list->n_nodes);
	for (size_t i = 0; i < nl->node_list->n_nodes; i++) {
		const Sdctl__Node *n = nl->node_list->nodes[i];
		Sdctl__Response *r;
		char hp[96], why[512];

		host_port(n, hp, sizeof(hp));
		r = dog_call_node(n, &req, why, sizeof(why));
		if (r && r->result == SDCTL__RESULT__SUCCESS &&
		    r->body_case == SDCTL__RESPONSE__BODY_OBJECT_LOCATION) {
			printf("%s %s the object\n", hp,
			       r->object_location->here ? "has" : "doesn't have");
		} else {
			fflush(stdout);
			fprintf(stderr, "Failed to ask %s: %s\n", hp, failure(r, why));
			failed++;
		}
		if (r)
			sdctl__response__free_unpacked(r, NULL);
	}
	printf("\nAccording to sheepdog algorithm, the object should be located at:\n");
	for (size_t i = 0; i < loc->n_placed; i++) {
		char hp[96];

		host_port(loc->placed[i], hp, sizeof(hp));
		printf("%s%s", i ? " " : "", hp);
	}
	printf("\n");
	sdctl__response__free_unpacked(nl, NULL);
	sdctl__response__free_unpacked(rsp, NULL);
	return failed ? EXIT_FAIL : EXIT_OK;
}

int dog_report_orphans(void)
{
	Sdctl__Response *nl;
	uint64_t total = 0;
	int ret, failed = 0;

	nl = dog_node_list(&ret);
	if (!nl)
		return ret;
	for (size_t i = 0; i < nl->node_list->n_nodes; i++) {
		const Sdctl__Node *n = nl->node_list->nodes[i];
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__Response *r;
		char hp[96], why[512];

		req.op_case = SDCTL__REQUEST__OP_ORPHANS;
		req.orphans = true;
		host_port(n, hp, sizeof(hp));
		r = dog_call_node(n, &req, why, sizeof(why));
		if (!r || r->result != SDCTL__RESULT__SUCCESS ||
		    r->body_case != SDCTL__RESPONSE__BODY_ORPHANS) {
			fflush(stdout);
			fprintf(stderr, "Failed to list the objects of %s: %s\n", hp,
				failure(r, why));
			failed++;
		} else {
			const Sdctl__OrphansRsp *o = r->orphans;

			for (size_t k = 0; k < o->n_orphans; k++)
				printf("orphan object %016" PRIx64 " on %s: no image owns it\n",
				       o->orphans[k], hp);
			if (o->nr_orphans > o->n_orphans)
				printf("... and %" PRIu64 " more orphan objects on %s\n",
				       o->nr_orphans - o->n_orphans, hp);
			total += o->nr_orphans;
		}
		if (r)
			sdctl__response__free_unpacked(r, NULL);
	}
	sdctl__response__free_unpacked(nl, NULL);
	if (total)
		printf("%" PRIu64 " orphan object%s: their images were deleted while their node "
		       "was away; they are never read\n",
		       total, total == 1 ? "" : "s");
	return failed ? EXIT_FAIL : EXIT_OK;
}
