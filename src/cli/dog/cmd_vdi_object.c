/*
 * dog vdi object location (where an object of an image is, asked of every node, in the
 * original's words) and dog cluster check's orphan report (every node's objects that no image
 * owns, which a node that was away when their image was deleted still keeps).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/constants.h"
#include "../../core/node.h"
#include "../../core/oid.h"
#include "../../core/result.h"
#include "../../core/ring.h"
#include "dog.h"

static const char *failure(const Sdctl__Response *rsp, char *why)
{
	if (!rsp)
		return why;
	return rsp->message && rsp->message[0] ? rsp->message : sd_strerror((int)rsp->result);
}

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

/*
 * dog vdi track: where the placement of each epoch put an object, newest first, from the
 * epochs' member lists (dog cluster info's) and the ring every sheep builds the same way.
 */
int vdi_track_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *info, *ci;
	uint64_t oid;
	int copies, ret;

	(void)argc;
	ret = dog_vdi_info(argv[0], &info);
	if (ret)
		return ret;
	copies = (int)info->vdi_info->copies;
	oid = vid_to_vdi_oid(info->vdi_info->vid);
	if (opts.index_set) {
		Sdctl__VdiMapReq q = SDCTL__VDI_MAP_REQ__INIT;
		Sdctl__Response *m;

		q.name = argv[0];
		q.snap = (char *)(opts.snap ? opts.snap : "");
		q.first = opts.index;
		q.count = 1;
		req.op_case = SDCTL__REQUEST__OP_VDI_MAP;
		req.vdi_map = &q;
		m = dog_call(&req);
		ret = m ? dog_result(m, "Failed to read the data map") : EXIT_SYSFAIL;
		if (!ret)
			ret = dog_expect(m, SDCTL__RESPONSE__BODY_VDI_MAP);
		if (!ret && (opts.index >= m->vdi_map->map_len || !m->vdi_map->n_entries ||
			     !m->vdi_map->entries[0])) {
			fprintf(stderr,
				"Failed to track object %" PRIu32 " of %s: it is not "
				"allocated (see 'dog vdi object map')\n",
				opts.index, argv[0]);
			ret = EXIT_MISSING;
		}
		if (!ret)
			oid = vid_to_data_oid(m->vdi_map->entries[0], opts.index);
		if (m)
			sdctl__response__free_unpacked(m, NULL);
		if (ret) {
			sdctl__response__free_unpacked(info, NULL);
			return ret;
		}
	}
	sdctl__response__free_unpacked(info, NULL);
	req = (Sdctl__Request)SDCTL__REQUEST__INIT;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_INFO;
	req.cluster_info = true;
	ci = dog_call_expect(&req, "Failed to read the epochs", SDCTL__RESPONSE__BODY_CLUSTER_INFO,
			     &ret);
	if (!ci)
		return ret;
	for (size_t e = 0; !ret && e < ci->cluster_info->n_epochs; e++) {
		const Sdctl__EpochEntry *ep = ci->cluster_info->epochs[e];
		struct sd_node *nodes = calloc(ep->n_nodes + 1, sizeof(*nodes));
		struct placement_ring ring;
		int idx[SD_MAX_COPIES], n;

		if (!nodes)
			return EXIT_SYSFAIL;
		for (size_t i = 0; i < ep->n_nodes; i++) {
			node_addr_parse(ep->nodes[i]->host, nodes[i].nid.addr);
			nodes[i].nid.port = (uint16_t)ep->nodes[i]->port;
			nodes[i].nr_vnodes = (uint16_t)ep->nodes[i]->vnodes;
			nodes[i].zone = ep->nodes[i]->zone;
		}
		if (ring_build(&ring, nodes, (int)ep->n_nodes)) {
			free(nodes);
			ret = EXIT_SYSFAIL;
			break;
		}
		n = ring_place(&ring, oid, copies, idx);
		printf("\nobj %016" PRIx64 " locations at epoch %u, copies = %d\n", oid, ep->epoch,
		       copies);
		printf("---------------------------------------------------\n");
		for (int i = 0; i < n; i++) {
			char a[64];

			node_addr_format(ring.nodes[idx[i]].nid.addr, a, sizeof(a));
			printf("%s:%u\n", a, ring.nodes[idx[i]].nid.port);
		}
		ring_destroy(&ring);
		free(nodes);
	}
	sdctl__response__free_unpacked(ci, NULL);
	return ret;
}
