/*
 * Copy-on-write in the gateway. A write to an object that the VDI still shares with a snapshot
 * or a parent (its map entry names another VDI) first copies the parent's object up into the
 * VDI's own, then runs as a plain write on it:
 *
 * 1. read the parent's whole object, from a holder that has frozen the parent (GW_F_FROZEN):
 *    a snapshot's objects change no more once frozen, and the freeze waited for every write
 *    admitted before it, so this is the parent's content for good;
 * 2. GW_COPYUP the bytes to the VDI's own object, on every holder, through the same ordering
 *    point as its writes: each holder creates it atomically (temporary file, fsync, rename
 *    without replace) only if it does not exist yet. Two writers racing to copy one object up
 *    both get the same result, and the loser never overwrites what the winner's write already
 *    put there;
 * 3. the caller's piece, unchanged, on the VDI's own object.
 *
 * A write that covers the whole object needs no copy. Copy-ups hold an object-sized buffer, so
 * each thread runs at most GW_COW_ACTIVE at a time and queues the rest in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "gw.h"

#define GW_COW_ACTIVE 4

struct gw_cow {
	struct gw_req *r;    /* the caller's piece, submitted once the copy is in place */
	struct gw_req sub;   /* the parent's read, then the copy-up */
	uint8_t *image;	     /* the parent's object, object-sized, owned */
	struct gw_cow *next; /* waiting for a slot */
};

static __thread int cow_active;
static __thread struct gw_cow *wait_head, *wait_tail;

bool gw_cow_needed(const struct gw_req *r)
{
	uint64_t size = UINT64_C(1) << r->obj_shift;

	if (!r->cow_from || r->cow_from == oid_to_vid(r->oid))
		return false;
	if (r->op != GW_WRITE && r->op != GW_ZERO && r->op != GW_PUNCH)
		return false;
	/* Every byte is rewritten: nothing of the parent's survives. */
	return !(r->op != GW_PUNCH && r->offset == 0 && r->length == size);
}

static void cow_start(struct gw_cow *c);

static void failed_msg(void *arg)
{
	struct gw_req *r = arg;

	r->done(r);
}

/* done never runs inside gw_submit: a failure found there reaches the caller by message. */
static void fail_later(struct gw_req *r, int res, const char *why)
{
	r->result = res;
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->msg.fn = failed_msg;
	r->msg.arg = r;
	msg_send(sd_self_id, &r->msg);
}

static void cow_end(struct gw_cow *c, int res, const char *why)
{
	struct gw_req *r = c->r;

	free(c->image);
	free(c);
	cow_active--;
	if (wait_head && cow_active < GW_COW_ACTIVE) {
		struct gw_cow *n = wait_head;

		wait_head = n->next;
		if (!wait_head)
			wait_tail = NULL;
		cow_start(n);
	}
	if (!res) {
		r->cow_from = 0;
		gw_submit(r);
		return;
	}
	fail_later(r, res, why);
}

static void copied_up(struct gw_req *sub)
{
	struct gw_cow *c = sub->priv;
	char why[sizeof(sub->why)];

	if (sub->result >= 0) {
		cow_end(c, 0, NULL);
		return;
	}
	snprintf(why, sizeof(why), "copy-up of object %016" PRIx64 " failed: %.100s", sub->oid,
		 sub->why[0] ? sub->why : "");
	cow_end(c, sub->result, why);
}

static void parent_read(struct gw_req *sub)
{
	struct gw_cow *c = sub->priv;
	struct gw_req *r = c->r;
	char why[sizeof(sub->why)];

	if (sub->result < 0) {
		if (sub->result == -ENOENT) {
			log_err("copy-on-write of object %016" PRIx64
				": its parent object %016" PRIx64
				" is missing from every holder although the data map names it: "
				"that "
				"data is lost",
				r->oid, sub->oid);
			snprintf(why, sizeof(why), "parent object %016" PRIx64 " is missing",
				 sub->oid);
			cow_end(c, -EIO, why);
			return;
		}
		snprintf(why, sizeof(why), "reading parent object %016" PRIx64 ": %.100s", sub->oid,
			 sub->why[0] ? sub->why : "");
		cow_end(c, sub->result, why);
		return;
	}
	c->sub = (struct gw_req){ .op = GW_COPYUP,
				  .flags = GW_F_CREATE,
				  .copies = r->copies,
				  .oid = r->oid,
				  .length = sub->length,
				  .buf = c->image,
				  .done = copied_up,
				  .priv = c };
	gw_submit(&c->sub);
}

static void cow_start(struct gw_cow *c)
{
	struct gw_req *r = c->r;
	uint32_t size = (uint32_t)1 << r->obj_shift;

	cow_active++;
	c->image = malloc(size);
	if (!c->image) {
		cow_end(c, -ENOMEM, "out of memory for a copy-on-write");
		return;
	}
	c->sub = (struct gw_req){ .op = GW_READ,
				  .flags = GW_F_FROZEN,
				  .copies = r->copies,
				  .oid = vid_to_data_oid(r->cow_from, oid_to_idx(r->oid)),
				  .length = size,
				  .buf = c->image,
				  .done = parent_read,
				  .priv = c };
	gw_submit(&c->sub);
}

void gw_cow_submit(struct gw_req *r)
{
	struct gw_cow *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		fail_later(r, -ENOMEM, "out of memory for a copy-on-write");
		return;
	}
	c->r = r;
	if (cow_active < GW_COW_ACTIVE) {
		cow_start(c);
		return;
	}
	if (wait_tail)
		wait_tail->next = c;
	else
		wait_head = c;
	wait_tail = c;
}
