/* sdcluster: taking and giving back VDI write leases (vdi_lease.h). */
#include "vdi_lease.h"

#include <inttypes.h>
#include <stdlib.h>

#include "../../core/conn_guard.h"
#include "../../core/log.h"
#include "../../core/result.h"
#include "../../shard/msg.h"
#include "../sys.h"
#include "../vdi_share.h"
#include "sdcluster.h"
#include "sm.h"

#define LEASE_CHECK_MS 1000

/* A shard's request, owned by the control thread once sent. */
struct lease_want {
	struct sd_msg msg;
	uint32_t vid;
};

static struct evloop *loop;
static struct evloop_timer check_timer;
static uint64_t self_id;
static bool running;

static struct vdi *live_vdi(uint32_t vid)
{
	return vdi_find_live(&sys.vdis, vid);
}

static void propose(uint32_t vid, bool acquire, sdc_done_fn done)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__VdiLease l = SDCL__VDI_LEASE__INIT;

	l.vid = vid;
	l.holder = self_id;
	l.acquire = acquire;
	cmd.op_case = SDCL__COMMAND__OP_LEASE;
	cmd.lease = &l;
	sdcluster_propose(&cmd, done, (void *)(uintptr_t)vid);
}

static void acquired(void *arg, const struct sdc_outcome *o)
{
	struct vdi *v = live_vdi((uint32_t)(uintptr_t)arg);

	/* Taken, or held by another member (the shards forward to it), or failed: asked again. */
	if (o->result && o->result != SD_RES_VDI_LOCKED)
		log_info("VDI %" PRIx32 ": write lease not taken: %s", (uint32_t)(uintptr_t)arg,
			 o->msg && o->msg[0] ? o->msg : sd_strerror(o->result));
	if (v && v->share)
		__atomic_store_n(&v->share->lease_wanted, 0, __ATOMIC_SEQ_CST);
}

static void on_want(void *arg)
{
	struct lease_want *w = arg;
	struct vdi *v = live_vdi(w->vid);

	free(w);
	if (!v || !v->share)
		return;
	if (!running || (v->writer && sm_member_by_raft_id(v->writer))) {
		__atomic_store_n(&v->share->lease_wanted, 0, __ATOMIC_SEQ_CST);
		return;
	}
	propose(v->hdr.vdi_id, true, acquired);
}

void vdi_lease_want(struct vdi_share *sh)
{
	struct lease_want *w;

	if (__atomic_exchange_n(&sh->lease_wanted, 1, __ATOMIC_SEQ_CST))
		return;
	w = malloc(sizeof(*w));
	if (!w) {
		__atomic_store_n(&sh->lease_wanted, 0, __ATOMIC_SEQ_CST);
		return; /* the gateway asks again at its next try */
	}
	w->vid = sh->vid;
	w->msg.fn = on_want;
	w->msg.arg = w;
	msg_send(msg_mesh_size() - 1, &w->msg); /* the control thread comes after the shards */
}

static void released(void *arg, const struct sdc_outcome *o)
{
	struct vdi *v = live_vdi((uint32_t)(uintptr_t)arg);

	/*
	 * Applied: vdi_set_writer cleared `releasing`. Reported failed: it may still commit (at a
	 * leader change), so this node goes on refusing to order writes, and the next check
	 * proposes the release again; it is idempotent.
	 */
	if (v)
		v->lease_release_busy = false;
	(void)o;
}

/* Gives back the leases this node has not used for LEASE_IDLE_MS. */
static void check(void *arg)
{
	uint64_t now = guard_clock_ms();

	(void)arg;
	if (!sdcluster_writable())
		return;
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *v = sys.vdis.v[i];
		struct vdi_share *sh = v->share;

		if (!sh || v->writer != self_id || !v->hdr.name[0] || v->lease_release_busy)
			continue;
		if (__atomic_load_n(&sh->releasing, __ATOMIC_SEQ_CST)) {
			v->lease_release_busy = true; /* the last release was reported failed */
			propose(v->hdr.vdi_id, false, released);
			continue;
		}
		if (now - __atomic_load_n(&sh->seq_last_ms, __ATOMIC_RELAXED) < LEASE_IDLE_MS)
			continue;
		/* Shards count a write in, then look at releasing: one of the two sees the other.
		 */
		__atomic_store_n(&sh->releasing, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&sh->seq_inflight, __ATOMIC_SEQ_CST)) {
			__atomic_store_n(&sh->releasing, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		v->lease_release_busy = true;
		propose(v->hdr.vdi_id, false, released);
	}
}

void vdi_lease_start(struct evloop *l, uint64_t self)
{
	loop = l;
	self_id = self;
	running = true;
	evloop_timer_init(&check_timer, check, NULL);
	evloop_timer_start(loop, &check_timer, LEASE_CHECK_MS, LEASE_CHECK_MS);
}

void vdi_lease_stop(void)
{
	if (!running)
		return;
	running = false;
	evloop_timer_stop(loop, &check_timer);
}
