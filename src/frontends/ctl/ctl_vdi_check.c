/*
 * dog vdi check (sdcluster): a range of a VDI's objects, each compared on all its holders and
 * repaired where they differ (GW_CHECK, gw_check.c), a few at a time so the buffers (copies x
 * object size each) stay bounded. dog asks range after range and shows the progress.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cluster/sys.h"
#include "../../core/oid.h"
#include "../../core/result.h"
#include "../../gateway/gw.h"
#include "ctl_reply.h"

#define CHECK_MAX_COUNT	 64
#define CHECK_CONCURRENT 4

struct vchk {
	struct ctl_call *call;
	uint32_t nr_objects, map_len;
	int n, next, pending;
	uint64_t oids[CHECK_MAX_COUNT];
	int results[CHECK_MAX_COUNT];
	char why[CHECK_MAX_COUNT][160];
	struct gw_req reqs[CHECK_CONCURRENT];
	uint32_t obj_size;
	uint8_t copies;
	bool exist_only;
};

/* -e: one entry per holder named in why (space-separated "host:port"). */
static int add_missing(struct reply *r, Sdctl__VdiCheckRsp *rsp, uint64_t oid, char *why)
{
	for (char *save = NULL, *n = strtok_r(why, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		Sdctl__MissingCopy *m = ralloc(r, sizeof(*m)), **nm;

		nm = ralloc(r, sizeof(*nm) * (rsp->n_missing + 1));
		if (!m || !nm)
			return -1;
		sdctl__missing_copy__init(m);
		m->oid = oid;
		m->node = rstrdup(r, n);
		if (rsp->n_missing)
			memcpy(nm, rsp->missing, sizeof(*nm) * rsp->n_missing);
		nm[rsp->n_missing++] = m;
		rsp->missing = nm;
	}
	return 0;
}

static void vchk_answer(struct vchk *c)
{
	struct reply r;
	Sdctl__VdiCheckRsp *rsp;

	ctl_reply_init(&r);
	rsp = ralloc(&r, sizeof(*rsp));
	if (rsp) {
		sdctl__vdi_check_rsp__init(rsp);
		rsp->nr_objects = c->nr_objects;
		rsp->map_len = c->map_len;
		rsp->fixed_replica = ralloc(&r, sizeof(uint64_t) * (size_t)(c->n + 1));
		rsp->fixed_missing = ralloc(&r, sizeof(uint64_t) * (size_t)(c->n + 1));
		rsp->errors = ralloc(&r, sizeof(char *) * (size_t)(c->n + 1));
	}
	if (!rsp || !rsp->fixed_replica || !rsp->fixed_missing || !rsp->errors) {
		fail(&r, SD_RES_NO_MEM, "out of memory");
	} else {
		for (int i = 0; i < c->n; i++) {
			char line[160];

			if (c->results[i] == GW_CHECK_FIXED_REPLICA)
				rsp->fixed_replica[rsp->n_fixed_replica++] = c->oids[i];
			else if (c->results[i] == GW_CHECK_FIXED_MISSING)
				rsp->fixed_missing[rsp->n_fixed_missing++] = c->oids[i];
			else if (c->results[i] == GW_CHECK_MISSING &&
				 add_missing(&r, rsp, c->oids[i], c->why[i]))
				break;
			else if (c->results[i] < 0) {
				snprintf(line, sizeof(line), "object %016" PRIx64 ": %s",
					 c->oids[i],
					 c->why[i][0] ? c->why[i] : strerror(-c->results[i]));
				rsp->errors[rsp->n_errors++] = rstrdup(&r, line);
			}
		}
		r.rsp.body_case = SDCTL__RESPONSE__BODY_VDI_CHECK;
		r.rsp.vdi_check = rsp;
	}
	ctl_reply_answer(&r, c->call);
	free(c);
}

static void next_object(struct vchk *c, struct gw_req *g);

static void object_done(struct gw_req *g)
{
	struct vchk *c = g->priv;
	int i = (int)(intptr_t)g->buf; /* the object's index in c->oids, kept in buf */

	c->results[i] = g->result;
	snprintf(c->why[i], sizeof(c->why[i]), "%s", g->why);
	c->pending--;
	next_object(c, g);
}

/* Starts the next object on g's slot; answers once all are done. */
static void next_object(struct vchk *c, struct gw_req *g)
{
	if (c->next < c->n) {
		int i = c->next++;

		*g = (struct gw_req){ .op = GW_CHECK,
				      .flags = c->exist_only ? GW_F_EXIST : 0,
				      .copies = c->copies,
				      .oid = c->oids[i],
				      .length = c->obj_size,
				      .buf = (void *)(intptr_t)i,
				      .done = object_done,
				      .priv = c };
		c->pending++;
		gw_submit(g);
		return;
	}
	if (!c->pending)
		vchk_answer(c);
}

void ctl_vdi_check(struct reply *r, const Sdctl__VdiCheckReq *q, struct ctl_call *call)
{
	struct vdi *v;
	struct vchk *c;
	uint32_t end;

	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "check without parameters");
	if (!(v = find_vdi(r, q->name)))
		return;
	if (q->count > CHECK_MAX_COUNT)
		return fail(r, SD_RES_INVALID_PARMS, "check of %u objects: at most %d per request",
			    q->count, CHECK_MAX_COUNT);
	if (v->writer && !q->exist_only)
		return fail(r, SD_RES_VDI_LOCKED,
			    "VDI %s is being written (a node holds its write lease): check it "
			    "once it has been idle for 5 seconds",
			    v->hdr.name);
	if (!(c = calloc(1, sizeof(*c))))
		return fail(r, SD_RES_NO_MEM, "out of memory");
	c->call = call;
	c->exist_only = q->exist_only;
	c->map_len = v->map_len;
	c->copies = v->hdr.nr_copies;
	c->obj_size = (uint32_t)1 << v->hdr.block_size_shift;
	for (uint32_t i = 0; i < v->map_len; i++)
		c->nr_objects += v->map[i] == v->hdr.vdi_id;
	end = q->first < v->map_len ? q->first + q->count : q->first;
	for (uint32_t i = q->first; i < end && i < v->map_len; i++)
		if (v->map[i] == v->hdr.vdi_id)
			c->oids[c->n++] = vid_to_data_oid(v->hdr.vdi_id, i);
	r->async = true;
	if (!c->n) {
		vchk_answer(c);
		return;
	}
	for (int k = 0; k < CHECK_CONCURRENT && k < c->n; k++)
		next_object(c, &c->reqs[k]);
}
