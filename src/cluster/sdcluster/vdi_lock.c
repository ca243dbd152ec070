/* The node's side of VDI locks (vdi_lock.h): taking them, and giving back idle ones. */
#include "vdi_lock.h"

#include <inttypes.h>
#include <stdlib.h>

#include "../../core/conn_guard.h"
#include "../../core/log.h"
#include "../../core/result.h"
#include "../sys.h"
#include "../vdi_share.h"
#include "sdcluster.h"
#include "sm.h"

static struct evloop *loop;
static struct evloop_timer check_timer;
static uint64_t self_id;
static bool running;

struct lock_call {
	uint32_t vid;
	uint64_t deadline_ms; /* an acquire: asks again until then while another node holds it */
	struct evloop_timer retry;
	void (*done)(void *arg, int result);
	void (*done_msg)(void *arg, int result, const char *msg);
	void *arg;
};

static void propose(uint32_t vid, uint64_t holder, bool acquire, bool force, bool set_shareable,
		    bool shareable, struct lock_call *c);

static void retry_fire(void *arg)
{
	struct lock_call *c = arg;

	propose(c->vid, self_id, true, false, false, false, c);
}

static void proposed(void *arg, const struct sdc_outcome *o)
{
	struct lock_call *c = arg;

	if (o->result == SD_RES_VDI_LOCKED && c->deadline_ms && running &&
	    guard_clock_ms() < c->deadline_ms) {
		evloop_timer_init(&c->retry, retry_fire, c);
		evloop_timer_start(loop, &c->retry, LOCK_RETRY_MS, 0);
		return;
	}
	if (c->done)
		c->done(c->arg, o->result);
	else if (c->done_msg)
		c->done_msg(c->arg, o->result, o->msg);
	free(c);
}

static void propose(uint32_t vid, uint64_t holder, bool acquire, bool force, bool set_shareable,
		    bool shareable, struct lock_call *c)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__VdiLock l = SDCL__VDI_LOCK__INIT;

	l.vid = vid;
	l.holder = holder;
	l.acquire = acquire;
	l.force = force;
	l.set_shareable = set_shareable;
	l.shareable = shareable;
	cmd.op_case = SDCL__COMMAND__OP_VDI_LOCK;
	cmd.vdi_lock = &l;
	sdcluster_propose(&cmd, proposed, c);
}

void vdi_lock_acquire(uint32_t vid, void (*done)(void *arg, int result), void *arg)
{
	struct lock_call *c;

	if (!sys.clustered || !running) {
		done(arg, SD_RES_SUCCESS);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		done(arg, SD_RES_NO_MEM);
		return;
	}
	*c = (struct lock_call){ .vid = vid,
				 .deadline_ms = guard_clock_ms() + LOCK_PATIENCE_MS,
				 .done = done,
				 .arg = arg };
	propose(vid, self_id, true, false, false, false, c);
}

void vdi_lock_force(uint32_t vid, bool unlock, bool set_shareable, bool shareable,
		    void (*done)(void *arg, int result, const char *msg), void *arg)
{
	struct lock_call *c = calloc(1, sizeof(*c));

	if (!c) {
		done(arg, SD_RES_NO_MEM, "out of memory");
		return;
	}
	*c = (struct lock_call){ .vid = vid, .done_msg = done, .arg = arg };
	propose(vid, self_id, false, unlock, set_shareable, shareable, c);
}

static void released(void *arg, int result)
{
	struct vdi *v = vdi_find_live(&sys.vdis, (uint32_t)(uintptr_t)arg);

	(void)result; /* a failed release is proposed again at the next check */
	if (v)
		v->lock_busy = false;
}

static void reacquired(void *arg, int result)
{
	struct vdi *v = vdi_find_live(&sys.vdis, (uint32_t)(uintptr_t)arg);

	if (v)
		v->lock_busy = false;
	if (result == SD_RES_VDI_LOCKED && v)
		log_warn("VDI %s: its lock was taken away (dog vdi lock unlock) and another node "
			 "holds it now, while clients here still write it",
			 v->hdr.name);
}

/* Locks this node holds without clients go; clients without the lock (unlocked by force
 * meanwhile) take it again. */
static void check(void *arg)
{
	(void)arg;
	if (!sdcluster_writable())
		return;
	for (int i = 0; i < sys.vdis.nr; i++) {
		struct vdi *v = sys.vdis.v[i];
		int conns;

		if (!v->share || !v->hdr.name[0] || v->hdr.snap_ctime || v->lock_busy)
			continue;
		conns = __atomic_load_n(&v->share->rw_conns, __ATOMIC_ACQUIRE);
		if (v->lock_holder == self_id && !conns) {
			if (++v->lock_idle < LOCK_IDLE_CHECKS)
				continue;
			v->lock_busy = true;
			log_info("VDI %s: no client writes it through this node any more; its lock "
				 "is given back",
				 v->hdr.name);
			vdi_lock_acquire_release(v->hdr.vdi_id, released);
		} else if (conns && !v->lock_holder && !v->shareable) {
			v->lock_busy = true;
			vdi_lock_acquire(v->hdr.vdi_id, reacquired,
					 (void *)(uintptr_t)v->hdr.vdi_id);
		} else {
			v->lock_idle = 0;
		}
	}
}

void vdi_lock_acquire_release(uint32_t vid, void (*done)(void *arg, int result))
{
	struct lock_call *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	*c = (struct lock_call){ .vid = vid, .done = done, .arg = (void *)(uintptr_t)vid };
	propose(vid, self_id, false, false, false, false, c);
}

void vdi_lock_start(struct evloop *l, uint64_t self)
{
	loop = l;
	self_id = self;
	running = true;
	evloop_timer_init(&check_timer, check, NULL);
	evloop_timer_start(loop, &check_timer, LOCK_CHECK_MS, LOCK_CHECK_MS);
}

void vdi_lock_stop(void)
{
	if (!running)
		return;
	running = false;
	evloop_timer_stop(loop, &check_timer);
}
