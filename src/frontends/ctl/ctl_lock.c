/* dog vdi lock list|unlock|share|exclusive (src/cluster/sdcluster/vdi_lock.h). */
#include <stdio.h>
#include <string.h>

#include "../../cluster/sdcluster/sdcluster.h"
#include "../../cluster/sdcluster/sm.h"
#include "../../cluster/sdcluster/vdi_lock.h"
#include "../../cluster/sys.h"
#include "../../cluster/vdi_share.h"
#include "../../core/result.h"
#include "ctl_reply.h"

/* The holder's "host:port", or this node on the local driver while clients write it. */
static const char *owner(struct reply *r, const struct vdi *v)
{
	char host[64], buf[96];
	const struct sd_node *n = NULL;

	if (!sys.clustered) {
		if (!v->share || !__atomic_load_n(&v->share->rw_conns, __ATOMIC_ACQUIRE))
			return NULL;
		n = &sys.self;
	} else if (v->lock_holder) {
		const struct cluster_member *m = sm_member_by_raft_id(v->lock_holder);

		if (!m)
			return NULL;
		n = &m->node;
	} else {
		return NULL;
	}
	node_addr_format(n->nid.addr, host, sizeof(host));
	snprintf(buf, sizeof(buf), "%s:%u", host, n->nid.port);
	return rstrdup(r, buf);
}

static void list(struct reply *r, const char *name)
{
	Sdctl__VdiLockListRsp *l = ralloc(r, sizeof(*l));

	if (!l)
		return fail(r, SD_RES_NO_MEM, "out of memory");
	sdctl__vdi_lock_list_rsp__init(l);
	l->locks = ralloc(r, sizeof(*l->locks) * (size_t)(sys.vdis.nr + 1));
	for (int i = 0; l->locks && i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];
		Sdctl__VdiLockInfo *m;
		const char *o;

		if (!v->hdr.name[0] || v->hdr.snap_ctime || (name[0] && strcmp(name, v->hdr.name)))
			continue;
		o = owner(r, v);
		if (!o && !v->shareable)
			continue;
		if (!(m = ralloc(r, sizeof(*m))))
			return fail(r, SD_RES_NO_MEM, "out of memory");
		sdctl__vdi_lock_info__init(m);
		m->name = rstrdup(r, v->hdr.name);
		m->vid = v->hdr.vdi_id;
		m->tag = rstrdup(r, v->hdr.tag);
		m->shared = v->shareable;
		if (o) {
			m->owners = ralloc(r, sizeof(*m->owners));
			if (m->owners)
				m->owners[m->n_owners++] = (char *)o;
		}
		l->locks[l->n_locks++] = m;
	}
	r->rsp.body_case = SDCTL__RESPONSE__BODY_VDI_LOCKS;
	r->rsp.vdi_locks = l;
}

static void changed(void *arg, int result, const char *msg)
{
	struct ctl_call *call = arg;
	struct reply r;

	ctl_reply_init(&r);
	if (result)
		fail(&r, result, "%s", msg && msg[0] ? msg : sd_strerror(result));
	ctl_reply_answer(&r, call);
}

void ctl_vdi_lock(struct reply *r, const Sdctl__VdiLockReq *q, struct ctl_call *call)
{
	struct vdi *v;

	if (!q)
		return fail(r, SD_RES_INVALID_PARMS, "lock request without parameters");
	if (q->what == SDCTL__VDI_LOCK_REQ__WHAT__LIST) {
		if (check_running(r))
			list(r, q->name ? q->name : "");
		return;
	}
	if (!(v = find_vdi(r, q->name)))
		return;
	if (!sys.clustered) {
		/* One node: its clients share every VDI; there is no other node to lock out. */
		if (q->what == SDCTL__VDI_LOCK_REQ__WHAT__SHARE ||
		    q->what == SDCTL__VDI_LOCK_REQ__WHAT__EXCLUSIVE)
			v->shareable = q->what == SDCTL__VDI_LOCK_REQ__WHAT__SHARE;
		return;
	}
	if (!call)
		return fail(r, SD_RES_INVALID_PARMS, "a lock change answers later: not here");
	r->async = true;
	switch (q->what) {
	case SDCTL__VDI_LOCK_REQ__WHAT__UNLOCK:
		return vdi_lock_force(v->hdr.vdi_id, true, false, false, changed, call);
	case SDCTL__VDI_LOCK_REQ__WHAT__SHARE:
	case SDCTL__VDI_LOCK_REQ__WHAT__EXCLUSIVE:
		return vdi_lock_force(v->hdr.vdi_id, false, true,
				      q->what == SDCTL__VDI_LOCK_REQ__WHAT__SHARE, changed, call);
	default:
		r->async = false;
		return fail(r, SD_RES_INVALID_PARMS, "unknown lock request %d", (int)q->what);
	}
}
