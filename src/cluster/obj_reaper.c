/* The background remover of local objects (obj_reaper.h). */
#include "obj_reaper.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../io/obj_io.h"

static uint64_t *queue; /* oids waiting, a growing array consumed from head */
static size_t head, tail, cap;
static struct obj_req slots[REAPER_IN_FLIGHT];
static int in_flight;
static int free_slots[REAPER_IN_FLIGHT], nr_free = -1;

static void pump(void);

static void removed(struct obj_req *req)
{
	if (req->result < 0 && req->result != -ENOENT)
		log_warn("cannot remove object %016" PRIx64 ": %s; it stays on disk until the "
			 "next delete or format",
			 req->oid, strerror(-req->result));
	free_slots[nr_free++] = (int)(req - slots);
	in_flight--;
	pump();
}

static void pump(void)
{
	while (nr_free > 0 && head < tail) {
		struct obj_req *req = &slots[free_slots[--nr_free]];

		*req = (struct obj_req){ .op = OBJ_REMOVE, .oid = queue[head++], .done = removed };
		in_flight++;
		obj_submit(req);
	}
	if (head == tail) {
		head = tail = 0;
		if (cap > 4096) {
			free(queue);
			queue = NULL;
			cap = 0;
		}
	}
}

int obj_reaper_add(const uint64_t *oids, size_t n)
{
	if (nr_free < 0) {
		for (int i = 0; i < REAPER_IN_FLIGHT; i++)
			free_slots[i] = i;
		nr_free = REAPER_IN_FLIGHT;
	}
	if (head && tail + n > cap) {
		memmove(queue, queue + head, sizeof(*queue) * (tail - head));
		tail -= head;
		head = 0;
	}
	if (tail + n > cap) {
		size_t ncap = cap ? cap : 1024;
		uint64_t *nq;

		while (ncap < tail + n)
			ncap *= 2;
		nq = realloc(queue, sizeof(*nq) * ncap);
		if (!nq)
			return -ENOMEM;
		queue = nq;
		cap = ncap;
	}
	memcpy(queue + tail, oids, sizeof(*oids) * n);
	tail += n;
	pump();
	return 0;
}

size_t obj_reaper_pending(void)
{
	return tail - head + (size_t)in_flight;
}
