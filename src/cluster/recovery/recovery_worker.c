/*
 * Recovery on a shard: the objects of the plan this shard owns, checked a few at a time
 * (OBJ_RECOVER: obj_check pulls a copy that is not current), within the throttle.
 */
#include <errno.h>
#include <stdlib.h>

#include "../../io/obj_io.h"
#include "recovery.h"

#define ITEMS_MAX 64

struct item {
	struct obj_req req;
	uint32_t gen; /* of the plan it belongs to: one sent again replaces the counts */
	bool busy;
};

static struct recovery_stats *stats; /* one per shard */
static int nr_stats;
/* Set by the control thread, read by the shards. */
static uint8_t cfg_enabled = 1;
static uint32_t cfg_max = RECOVERY_MAX_DEFAULT, cfg_interval;

static __thread struct recovery_list *cur;
static __thread uint32_t next_idx;
static __thread struct item items[ITEMS_MAX];
static __thread int inflight;
static __thread uint32_t tokens;
static __thread struct shard_timer tick;

int recovery_worker_init(int nr_shards)
{
	stats = calloc((size_t)nr_shards, sizeof(*stats));
	nr_stats = stats ? nr_shards : 0;
	return stats ? 0 : -ENOMEM;
}

/* Shard, at shut-down: the rest of the plan is dropped (checks in flight finish uncounted). */
void recovery_worker_drop(void *arg)
{
	(void)arg;
	free(cur);
	cur = NULL;
}

const struct recovery_stats *recovery_worker_stats(int shard)
{
	return shard < nr_stats ? &stats[shard] : NULL;
}

void recovery_worker_configure(bool enabled, uint32_t max_per_shard, uint32_t interval_ms)
{
	__atomic_store_n(&cfg_max, max_per_shard ? max_per_shard : 1, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg_interval, interval_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&cfg_enabled, enabled, __ATOMIC_RELEASE);
}

static void pump(void);

static void refill(struct shard_timer *t)
{
	(void)t;
	tokens = __atomic_load_n(&cfg_max, __ATOMIC_RELAXED);
	pump();
}

static void item_done(struct obj_req *req)
{
	struct item *it = req->priv;
	struct recovery_stats *st = &stats[sd_self_id];

	it->busy = false;
	inflight--;
	if (it->gen == __atomic_load_n(&st->gen, __ATOMIC_RELAXED)) {
		/* -ENODEV: its VDI was deleted meanwhile; nothing to recover. */
		if (req->result < 0 && req->result != -ENOENT && req->result != -ENODEV)
			__atomic_add_fetch(&st->failed, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->done, 1, __ATOMIC_RELEASE);
	}
	pump();
}

static void pump(void)
{
	uint32_t max = __atomic_load_n(&cfg_max, __ATOMIC_RELAXED);
	uint32_t interval = __atomic_load_n(&cfg_interval, __ATOMIC_RELAXED);
	int cap = max < ITEMS_MAX ? (int)max : ITEMS_MAX;

	if (!cur || !__atomic_load_n(&cfg_enabled, __ATOMIC_ACQUIRE)) {
		if (cur && !tick.armed) {
			/* Paused: look again in a moment. */
			tick.fn = refill;
			shard_timer_start(&tick, 500);
		}
		return;
	}
	while (inflight < cap && next_idx < cur->n) {
		struct item *it = NULL;

		if (interval && !tokens) {
			tick.fn = refill;
			shard_timer_start(&tick, interval);
			return;
		}
		for (int i = 0; i < ITEMS_MAX && !it; i++)
			if (!items[i].busy)
				it = &items[i];
		if (!it)
			return;
		it->busy = true;
		it->gen = cur->gen;
		it->req = (struct obj_req){ .op = OBJ_RECOVER,
					    .oid = cur->oids[next_idx++],
					    .done = item_done,
					    .priv = it };
		inflight++;
		if (tokens)
			tokens--;
		obj_submit(&it->req);
	}
}

void recovery_worker_take(void *arg)
{
	struct recovery_list *l = arg;
	struct recovery_stats *st = &stats[sd_self_id];

	free(cur);
	cur = l;
	next_idx = 0;
	tokens = __atomic_load_n(&cfg_max, __ATOMIC_RELAXED);
	__atomic_store_n(&st->total, l->n, __ATOMIC_RELAXED);
	__atomic_store_n(&st->done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&st->failed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&st->epoch, l->epoch, __ATOMIC_RELAXED);
	__atomic_store_n(&st->gen, l->gen, __ATOMIC_RELEASE);
	pump();
}
