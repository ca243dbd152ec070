/* Per-object range locks: FIFO lists per hash bucket; an entry waits for earlier overlaps. */
#include "gw_rangelock.h"

#include <stddef.h>

static unsigned bucket(uint64_t oid)
{
	return (unsigned)((oid * 0x9E3779B97F4A7C15ull) >> 56) % RL_BUCKETS;
}

static bool overlaps(const struct rl_entry *a, const struct rl_entry *b)
{
	return a->oid == b->oid && a->start < b->end && b->start < a->end;
}

/* Whether an entry ahead of e in its bucket holds it back. */
static bool blocked(const struct rl_entry *e)
{
	for (const struct rl_entry *p = e->prev; p; p = p->prev)
		if (overlaps(p, e))
			return true;
	return false;
}

bool rl_acquire(struct range_lock *rl, struct rl_entry *e)
{
	unsigned b = bucket(e->oid);

	e->next = NULL;
	e->prev = rl->tail[b];
	if (rl->tail[b])
		rl->tail[b]->next = e;
	else
		rl->head[b] = e;
	rl->tail[b] = e;
	rl->nr++;
	e->granted = !blocked(e);
	return e->granted;
}

void rl_release(struct range_lock *rl, struct rl_entry *e)
{
	unsigned b = bucket(e->oid);
	struct rl_entry *n = e->next;

	if (e->prev)
		e->prev->next = e->next;
	else
		rl->head[b] = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		rl->tail[b] = e->prev;
	e->prev = e->next = NULL;
	rl->nr--;
	/* Only entries after e can have waited for it. Granting calls back: find them first. */
	while (n) {
		struct rl_entry *next = n->next;

		if (!n->granted && overlaps(n, e) && !blocked(n)) {
			n->granted = true;
			n->grant(n);
		}
		n = next;
	}
}
