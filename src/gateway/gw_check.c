/*
 * GW_CHECK (dog vdi check): reads every holder's copy of one object, takes the content most
 * present copies agree on (the first holder's in placement order on a tie), and writes it to
 * the holders whose copy differs or is missing. Copies can differ only where a write was never
 * acknowledged (its orderer died with it in flight); either content is allowed there, and this
 * makes the copies agree again. Runs on the gateway shard; the VDI must not be written
 * meanwhile (the caller checks that nobody holds its write lease).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "gw.h"

struct gw_check {
	struct gw_req *r;
	int pending, chosen;
	bool repairing, fixed_missing, fixed_replica;
	int err, res[SD_MAX_COPIES]; /* bytes read, -ENOENT, or -errno */
	uint8_t *buf[SD_MAX_COPIES];
	struct peer_req peer[SD_MAX_COPIES];
	struct obj_req obj;
};

static void check_end(struct gw_check *ck)
{
	struct gw_req *r = ck->r;
	int res = ck->err	      ? ck->err
		  : ck->fixed_missing ? GW_CHECK_FIXED_MISSING
		  : ck->fixed_replica ? GW_CHECK_FIXED_REPLICA
				      : 0;

	for (int i = 0; i < r->nr; i++)
		free(ck->buf[i]);
	free(ck);
	gw_finish(r, res);
}

static void one_done(struct gw_check *ck, int i, int res);

static void local_done(struct obj_req *o)
{
	struct gw_check *ck = o->priv;

	for (int i = 0; i < ck->r->nr; i++)
		if (ck->r->idx[i] == ck->r->view->self)
			one_done(ck, i, o->result);
}

static void peer_done(struct peer_req *p)
{
	struct gw_check *ck = p->priv;

	one_done(ck, (int)(p - ck->peer), p->result);
}

/* Holder i's copy: read it, or (repairing) write the chosen content over it. */
static void submit(struct gw_check *ck, int i, bool write)
{
	struct gw_req *r = ck->r;
	const struct cluster_view *v = r->view;
	uint8_t *buf = write ? ck->buf[ck->chosen] : ck->buf[i];

	if (r->idx[i] == v->self) {
		/* The copies as they are: a read that pulled a missing or stale copy first would
		 * hide it. */
		ck->obj = (struct obj_req){ .op = write ? OBJ_WRITE : OBJ_READ,
					    .flags = write ? OBJ_F_CREATE | OBJ_F_REPAIR
							   : OBJ_F_NOCHECK,
					    .oid = r->oid,
					    .length = r->length,
					    .buf = buf,
					    .done = local_done,
					    .priv = ck };
		obj_submit(&ck->obj);
		return;
	}
	ck->peer[i] = (struct peer_req){ 0 };
	ck->peer[i].to = v->ring.nodes[r->idx[i]].nid;
	ck->peer[i].hdr = (struct peer_hdr){
		.opcode = write ? PEER_OP_WRITE : PEER_OP_READ,
		.flags = write ? PEER_F_CREATE | PEER_F_REPAIR : PEER_F_RAW,
		.cluster_id = v->cluster_id,
		.epoch = v->epoch,
		.sender = (uint32_t)v->self,
		.oid = r->oid,
		.length = r->length,
		.shard = (uint16_t)shard_of_oid(r->oid, v->nr_shards[r->idx[i]]),
	};
	ck->peer[i].buf = buf;
	ck->peer[i].done = peer_done;
	ck->peer[i].priv = ck;
	peer_submit(&ck->peer[i]);
}

/* -e: which holders lack a copy; nothing to compare or repair. */
static void report_missing(struct gw_check *ck)
{
	struct gw_req *r = ck->r;
	size_t used = 0;
	bool any = false;

	for (int i = 0; i < r->nr; i++) {
		char n[64];

		if (ck->res[i] != -ENOENT)
			continue;
		gw_node_name(r->view, r->idx[i], n, sizeof(n));
		if (used + strlen(n) + 2 > sizeof(r->why))
			break;
		used += (size_t)snprintf(r->why + used, sizeof(r->why) - used, "%s%s",
					 any ? " " : "", n);
		any = true;
	}
	if (any && !ck->err)
		ck->err = GW_CHECK_MISSING;
	check_end(ck);
}

/* All copies read: the content to keep, and the holders to repair. */
static void decide(struct gw_check *ck)
{
	struct gw_req *r = ck->r;
	int best = 0;

	if (r->flags & GW_F_EXIST) {
		report_missing(ck);
		return;
	}

	ck->chosen = -1;
	for (int i = 0; i < r->nr; i++) {
		int same = 0;

		if (ck->res[i] < 0)
			continue;
		for (int j = 0; j < r->nr; j++)
			same += ck->res[j] >= 0 && !memcmp(ck->buf[i], ck->buf[j], r->length);
		if (same > best) {
			best = same;
			ck->chosen = i;
		}
	}
	if (ck->chosen < 0) {
		/* The map says allocated, yet no holder has it: nothing to copy from. */
		if (!ck->err)
			ck->err = -ENOENT;
		check_end(ck);
		return;
	}
	ck->repairing = true;
	ck->pending = 1; /* held until every repair is submitted */
	for (int i = 0; i < r->nr; i++) {
		bool missing = ck->res[i] == -ENOENT;

		if (!missing &&
		    (ck->res[i] < 0 || !memcmp(ck->buf[i], ck->buf[ck->chosen], r->length)))
			continue;
		log_notice("vdi check: object %016" PRIx64 ": %s copy on holder %d repaired",
			   r->oid, missing ? "missing" : "differing", i);
		ck->fixed_missing |= missing;
		ck->fixed_replica |= !missing;
		ck->pending++;
		submit(ck, i, true);
	}
	one_done(ck, -1, 0);
}

static void one_done(struct gw_check *ck, int i, int res)
{
	if (i >= 0 && !ck->repairing)
		ck->res[i] = res;
	if (res < 0 && res != -ENOENT && !ck->err)
		ck->err = res; /* that holder stays as it is; the caller reports it */
	if (ck->repairing && res < 0 && !ck->err)
		ck->err = res;
	if (--ck->pending)
		return;
	if (ck->repairing)
		check_end(ck);
	else
		decide(ck);
}

void gw_check_start(struct gw_req *r)
{
	struct gw_check *ck = calloc(1, sizeof(*ck));

	if (!ck) {
		gw_finish(r, -ENOMEM);
		return;
	}
	ck->r = r;
	if (r->flags & GW_F_EXIST)
		r->length = 1; /* whether a copy is there, not what it holds */
	for (int i = 0; i < r->nr; i++) {
		if (!(ck->buf[i] = malloc(r->length))) {
			ck->err = -ENOMEM;
			check_end(ck);
			return;
		}
	}
	ck->pending = r->nr;
	for (int i = 0; i < r->nr; i++)
		submit(ck, i, false);
}
