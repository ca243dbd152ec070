/* Background recovery: the plan of each epoch, its progress, and its end (recovery.h). */
#include "recovery.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "../../core/conn_guard.h"
#include "../../core/log.h"
#include "../../core/oid.h"
#include "../../core/result.h"
#include "../../shard/shard.h"
#include "../../shard/shard_all.h"
#include "../cluster_view.h"
#include "../sdcluster/sdcluster.h"
#include "../sys.h"

#define POLL_MS	  500
#define RETRY_MS  5000 /* a plan with objects that could not be recovered runs again */
#define LIST_GROW 1024

static struct evloop *loop;
static struct evloop_timer poll_timer;
static uint64_t self_id;
static int nr_shards;
static bool running;
/* The plan: its epoch and number, whether it still runs, whether its end is reported. */
static uint32_t plan_epoch, plan_gen;
static bool plan_active, need_report, report_busy;
static uint64_t retry_at;
static bool enabled = true;
/* max objects per interval_ms; both 0: no throttle (RECOVERY_MAX_DEFAULT at once). */
static uint32_t thr_max, thr_interval;

static void configure(void)
{
	uint32_t max = thr_max ? thr_max : RECOVERY_MAX_DEFAULT;
	uint32_t per_shard = max / (uint32_t)(nr_shards ? nr_shards : 1);

	recovery_worker_configure(enabled, per_shard ? per_shard : 1, thr_interval);
}

void recovery_get(uint32_t *max, uint32_t *interval_ms, bool *on)
{
	*max = thr_max;
	*interval_ms = thr_interval;
	*on = enabled;
}

void recovery_set_enabled(bool on)
{
	if (on != enabled)
		log_notice("recovery %s",
			   on ? "enabled" : "disabled (dog cluster recover disable)");
	enabled = on;
	if (running)
		configure();
}

void recovery_set_throttle(uint32_t max, uint32_t interval_ms)
{
	if (max && (max != thr_max || interval_ms != thr_interval))
		log_notice("recovery throttle: %u objects per %u ms", max, interval_ms);
	else if (!max && thr_max)
		log_notice("recovery throttle: none");
	thr_max = max;
	thr_interval = max ? interval_ms : 0;
	if (running)
		configure();
}

static int list_add(struct recovery_list **l, uint32_t *cap, uint64_t oid)
{
	if ((*l)->n == *cap) {
		uint32_t ncap = *cap * 2;
		struct recovery_list *n = realloc(*l, sizeof(**l) + sizeof(uint64_t) * ncap);

		if (!n)
			return -ENOMEM;
		*l = n;
		*cap = ncap;
	}
	(*l)->oids[(*l)->n++] = oid;
	return 0;
}

/* Every object this node holds in v's epoch, per owning shard, from the VDI maps. */
static int send_plan(const struct cluster_view *v)
{
	struct recovery_list **lists = calloc((size_t)nr_shards, sizeof(*lists));
	uint32_t *caps = calloc((size_t)nr_shards, sizeof(*caps));
	uint64_t total = 0;
	int ret = -ENOMEM;

	for (int s = 0; lists && caps && s < nr_shards; s++) {
		caps[s] = LIST_GROW;
		if (!(lists[s] = malloc(sizeof(*lists[s]) + sizeof(uint64_t) * LIST_GROW)))
			goto out;
		lists[s]->n = 0;
	}
	if (!lists || !caps)
		goto out;
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *vdi = sys.vdis.v[i];
		uint32_t vid = vdi->hdr.vdi_id;
		int copies = vdi->hdr.nr_copies ? vdi->hdr.nr_copies : 1, idx[SD_MAX_COPIES];

		for (uint32_t k = 0; vdi->map && k < vdi->map_len; k++) {
			uint64_t oid = vid_to_data_oid(vid, k);
			int n;

			if (vdi->map[k] != vid)
				continue; /* unallocated, or an ancestor's object: listed under it
					   */
			n = ring_place(&v->ring, oid, copies, idx);
			for (int h = 0; h < n; h++) {
				if (idx[h] != v->self)
					continue;
				if (list_add(&lists[shard_of_oid(oid, nr_shards)],
					     &caps[shard_of_oid(oid, nr_shards)], oid))
					goto out;
				total++;
				break;
			}
		}
	}
	plan_gen++;
	for (int s = 0; s < nr_shards; s++) {
		lists[s]->epoch = v->epoch;
		lists[s]->gen = plan_gen;
		lists[s]->msg.fn = recovery_worker_take;
		lists[s]->msg.arg = lists[s];
		msg_send(s, &lists[s]->msg);
		lists[s] = NULL; /* the shard's now */
	}
	plan_epoch = v->epoch;
	plan_active = true;
	need_report = false;
	log_info("recovery: epoch %u, %" PRIu64 " objects held here to check", v->epoch, total);
	ret = 0;
out:
	for (int s = 0; lists && s < nr_shards; s++)
		free(lists[s]);
	free(lists);
	free(caps);
	if (ret)
		log_err("recovery: out of memory planning epoch %u; tried again at the next change",
			v->epoch);
	return ret;
}

void recovery_view_changed(void)
{
	const struct cluster_view *v = cluster_view_latest();

	if (!running || !v || !v->ready || !v->writable || !v->epoch || v->self < 0)
		return;
	/* The same epoch published again (fencing, a catch-up): its plan goes on. */
	if (v->epoch == plan_epoch && plan_gen)
		return;
	recovery_purge_stop(); /* a purge of an older epoch would judge by the wrong placement */
	send_plan(v);
}

/* Sums the shards' counts for the current plan; false while a shard has not taken it yet. */
static bool sum(uint64_t *done, uint64_t *total, uint64_t *failed)
{
	*done = *total = *failed = 0;
	for (int s = 0; s < nr_shards; s++) {
		const struct recovery_stats *st = recovery_worker_stats(s);

		if (!st || __atomic_load_n(&st->gen, __ATOMIC_ACQUIRE) != plan_gen)
			return false;
		*total += __atomic_load_n(&st->total, __ATOMIC_RELAXED);
		*done += __atomic_load_n(&st->done, __ATOMIC_ACQUIRE);
		*failed += __atomic_load_n(&st->failed, __ATOMIC_RELAXED);
	}
	return true;
}

static void reported(void *arg, const struct sdc_outcome *o)
{
	uint32_t epoch = (uint32_t)(uintptr_t)arg;

	report_busy = false;
	if (o->result == SD_RES_SUCCESS && epoch == plan_epoch)
		need_report = false;
}

static void poll_plan(void *arg)
{
	const struct cluster_view *v = cluster_view_latest();
	uint64_t done, total, failed;

	(void)arg;
	if (need_report && !report_busy && v && v->epoch == plan_epoch) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__RecoveryDone r = SDCL__RECOVERY_DONE__INIT;

		r.holder = self_id;
		r.epoch = plan_epoch;
		cmd.op_case = SDCL__COMMAND__OP_RECOVERED;
		cmd.recovered = &r;
		report_busy = true;
		sdcluster_propose(&cmd, reported, (void *)(uintptr_t)plan_epoch);
	}
	if (!plan_active || !v || v->epoch != plan_epoch || !sum(&done, &total, &failed) ||
	    done < total)
		return;
	if (failed) {
		uint64_t now = guard_clock_ms();

		if (!retry_at) {
			log_warn("recovery: epoch %u: %" PRIu64 " of %" PRIu64
				 " objects could not be recovered (no current copy reachable); "
				 "trying again in %d s",
				 plan_epoch, failed, total, RETRY_MS / 1000);
			retry_at = now + RETRY_MS;
		} else if (now >= retry_at) {
			retry_at = 0;
			send_plan(v);
		}
		return;
	}
	retry_at = 0;
	plan_active = false;
	need_report = true;
	log_notice("recovery: epoch %u done, %" PRIu64 " objects checked", plan_epoch, total);
}

bool recovery_progress(uint32_t *epoch, uint64_t *done, uint64_t *total)
{
	uint64_t failed;

	*epoch = plan_epoch;
	if (!plan_active || !sum(done, total, &failed)) {
		*done = *total = 0;
		return plan_active;
	}
	/* Every object checked and none failed: over, though the poll has not said so yet. */
	return *done < *total || failed;
}

void recovery_all_done(uint32_t epoch)
{
	log_info("recovery: every node has recovered epoch %u; copies not held here any more go",
		 epoch);
	recovery_purge_start(loop, epoch);
}

int recovery_start(struct evloop *l, uint64_t self_raft_id)
{
	int ret;

	loop = l;
	self_id = self_raft_id;
	nr_shards = shard_count();
	if ((ret = recovery_worker_init(nr_shards)))
		return ret;
	running = true;
	configure();
	evloop_timer_init(&poll_timer, poll_plan, NULL);
	evloop_timer_start(loop, &poll_timer, POLL_MS, POLL_MS);
	return 0;
}

void recovery_stop(void)
{
	if (!running)
		return;
	running = false;
	evloop_timer_stop(loop, &poll_timer);
	recovery_purge_stop();
	shard_run_on_all(recovery_worker_drop, NULL);
}
