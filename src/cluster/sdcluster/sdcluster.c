/* The sdcluster driver (sdcluster.h): Raft, joins, liveness, voters, fencing, proposals. */
#include "sdcluster.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/atomic_file.h"
#include "../../core/net.h"
#include "../../core/net_held.h"
#include "../../core/log.h"
#include "../../core/result.h"
#include "../../io/obj_io.h"
#include "../cluster_view.h"
#include "../obj_check.h"
#include "../recovery/recovery.h"
#include "../sys.h"
#include "inode_sync.h"
#include "link.h"
#include "vdi_lease.h"
#include "../raft/raft_node.h"
#include "sdc_common.h"
#include "sm.h"

#define SDC_TICK_MS	 200
#define SDC_HEARTBEAT_MS 1000
#define SDC_DEAD_MS	 5000 /* a member silent this long leaves */
/* A leader elected this soon after its own start is in a restart of the cluster (below). */
#define SDC_RESTART_MS	      60000
#define SDC_FENCE_MS	      1500  /* no leader this long: writes halt */
#define SDC_CALL_MS	      3000  /* one request to another sheep */
#define SDC_PROPOSE_MS	      15000 /* a proposal, retries included */
#define SDC_ELECTION_MS	      1000
#define SDC_RAFT_HEARTBEAT_MS 100
#define SDC_MAX_TRACKED	      256

/* A proposal of this node, from its start to done. */
struct proposal {
	struct proposal *next;
	uint8_t *cmd; /* packed command, owned */
	size_t len;
	sdc_done_fn done;
	void *arg;
	uint64_t deadline;
	uint64_t wait_index; /* forwarded: done once this index is applied here */
	int result;
	int tries;
	bool waiting; /* a report or a link answer is due */
};

/* What the leader knows of a member's liveness. */
struct liveness {
	uint64_t raft_id;
	uint64_t last_ms;
	uint64_t joined; /* the member's join index when last_ms was last reset for it */
	bool heard;	 /* since this node became leader */
};

static struct evloop *loop;
static uv_loop_t uvl;
static struct raft_node *rn;
static struct sdcluster_opts opts;
static uint64_t next_seq;
static char raft_dir[PATH_MAX + 8];
static char raft_addr[RAFT_NODE_ADDRESS_MAX];
static struct evloop_timer tick_timer;
static uint64_t no_leader_since, last_hb, last_join;
static bool was_leader, hb_in_flight, join_in_flight, change_in_flight;
/*
 * After a restart of every node (dog cluster shutdown, a power loss), the nodes not back yet
 * must not be removed one by one as their grace runs out: each return would cost a recovery,
 * and copies written meanwhile on the others could not be told current. So a leader elected
 * soon after its own start, that has known no other leader since (nobody was serving: the
 * whole cluster is starting), removes only members it has heard from and then lost; the
 * others are awaited (the cluster waits, sdc.waiting, through a WAITING command) until they
 * are back or `dog cluster recover force` removes them. Once every member was heard, normal
 * rules. A node restarted alone finds a leader, so it never awaits anyone when it leads.
 */
static bool restart_mode, waiting_busy, knew_leader;
static uint64_t started_ms;
/*
 * The leader said this node is not a member, though the local state still lists it: it was
 * removed while cut off (it no longer receives the log that says so), and must join again.
 */
static bool removed;
/* Caught up with the leader's log since this node last started or (re)joined (view->ready). */
static bool sync_asked;
static int seed_turn;
static struct proposal *proposals; /* waiting for an index to be applied */
static struct liveness live[SDC_MAX_TRACKED];

/* A control request waiting until this node has applied the leader's commit index. */
struct sync_wait {
	struct sync_wait *next;
	void (*done)(void *arg, bool caught_up);
	void *arg;
	uint64_t index; /* 0 until the leader answered */
	uint64_t deadline;
	bool answered;
	bool leader; /* asked on the leader, or the leader answered: the index is the truth */
};
static struct sync_wait *syncs;
static struct evloop_defer syncs_defer;
static int nr_live;
static bool stopping;

static uint64_t now_ms(void)
{
	return evloop_now(loop);
}

/* Raft's loop inside ours */

static int uv_timeout(void *arg)
{
	(void)arg;
	uv_update_time(&uvl);
	return uv_backend_timeout(&uvl);
}

static void uv_run_once(void *arg)
{
	(void)arg;
	uv_run(&uvl, UV_RUN_NOWAIT);
}

static struct liveness *live_of(uint64_t raft_id)
{
	for (int i = 0; i < nr_live; i++)
		if (live[i].raft_id == raft_id)
			return &live[i];
	if (nr_live == SDC_MAX_TRACKED)
		return NULL;
	live[nr_live] = (struct liveness){ raft_id, now_ms() };
	return &live[nr_live++];
}

/* State machine hooks */

static void on_members_changed(void)
{
	/*
	 * Members new to the leader, or that joined again (a new join index), get the full grace
	 * period from now: the clock a join request started may have run out while the joiner
	 * caught up with the log, and its heartbeats did not count before it was a member.
	 */
	for (int i = 0; i < sys.nr_members; i++) {
		struct liveness *l = live_of(sys.members[i].raft_id);

		if (l && l->joined != sys.members[i].joined) {
			l->joined = sys.members[i].joined;
			l->last_ms = now_ms();
		}
	}
}

static void on_member_left(uint64_t raft_id)
{
	for (int i = 0; i < nr_live; i++) {
		if (live[i].raft_id == raft_id) {
			live[i] = live[--nr_live];
			break;
		}
	}
}

static struct sm_hooks hooks;

/* Proposals */

static void proposal_finish(struct proposal *p, int result, const char *msg, uint64_t index)
{
	struct sdc_outcome o = { .result = result, .msg = msg ? msg : "", .index = index };

	p->done(p->arg, &o);
	free(p->cmd);
	free(p);
}

static void proposal_try(struct proposal *p);

/* After each apply: forwarded proposals whose index is now applied here are done. */
static void proposals_check(void)
{
	struct proposal **pp = &proposals;

	while (*pp) {
		struct proposal *p = *pp;

		if (!p->waiting && p->wait_index && sm_last_applied() >= p->wait_index) {
			*pp = p->next;
			proposal_finish(p, p->result, NULL, p->wait_index);
			continue;
		}
		pp = &p->next;
	}
}

/*
 * Raft's applied index: configuration changes are log entries too, which the state machine
 * never sees, so the leader's commit index is compared with this, not with sm_last_applied().
 */
static uint64_t raft_applied(void)
{
	struct raft_node_status st;

	raft_node_status(rn, &st);
	return st.last_applied > sm_last_applied() ? st.last_applied : sm_last_applied();
}

/* Waiting control requests whose index is applied, or whose time is up, go on. */
static void syncs_check(void *arg)
{
	struct sync_wait **pp = &syncs;

	(void)arg;
	while (*pp) {
		struct sync_wait *w = *pp;

		bool caught_up = w->answered && w->leader && raft_applied() >= w->index;

		if ((w->answered && raft_applied() >= w->index) || now_ms() >= w->deadline ||
		    stopping) {
			*pp = w->next;
			w->done(w->arg, caught_up);
			free(w);
			continue;
		}
		pp = &w->next;
	}
}

static int fsm_apply(void *ctx, uint64_t index, const void *data, size_t len)
{
	int ret = sm_apply(ctx, index, data, len);

	proposals_check();
	if (syncs)
		evloop_defer(loop, &syncs_defer);
	return ret;
}

static const struct raft_node_fsm fsm = { fsm_apply, sm_snapshot, sm_restore };

static void proposals_add(struct proposal *p)
{
	p->next = proposals;
	proposals = p;
}

static void proposals_del(struct proposal *p)
{
	for (struct proposal **pp = &proposals; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static bool leader_client(struct sd_node_id *nid)
{
	struct raft_node_status st;
	const struct cluster_member *m;

	raft_node_status(rn, &st);
	if (!st.leader_id || !(m = sm_member_by_raft_id(st.leader_id)))
		return false;
	*nid = m->node.nid;
	return true;
}

static void on_local_report(void *arg, const struct raft_node_report *r)
{
	struct proposal *p = arg;

	p->waiting = false;
	if (r->outcome == RAFT_NODE_DONE) {
		proposals_del(p);
		proposal_finish(p, r->result == SM_DUPLICATE ? SD_RES_SUCCESS : r->result, NULL,
				r->index);
		return;
	}
	/* Not the leader (any more), or the outcome is unknown: try again (same seq). */
	if (now_ms() >= p->deadline || stopping) {
		proposals_del(p);
		proposal_finish(p, SD_RES_HALT,
				"no cluster leader could commit the change in time: are enough "
				"nodes up? (see 'dog node list' on each)",
				0);
		return;
	}
	p->tries++;
}

static void on_forward_answer(void *arg, const Sdctl__Response *rsp, int err)
{
	struct proposal *p = arg;

	p->waiting = false;
	if (rsp && rsp->result != SDCTL__RESULT__NOT_LEADER &&
	    rsp->body_case == SDCTL__RESPONSE__BODY_CLUSTER && rsp->cluster->index) {
		p->result = rsp->result == SM_DUPLICATE ? SD_RES_SUCCESS : (int)rsp->result;
		p->wait_index = rsp->cluster->index;
		proposals_check();
		return;
	}
	if (rsp && rsp->result != SDCTL__RESULT__NOT_LEADER && rsp->result != SDCTL__RESULT__HALT) {
		proposals_del(p);
		proposal_finish(p, (int)rsp->result, rsp->message, 0);
		return;
	}
	(void)err;
	p->tries++; /* the next tick tries again */
}

static void proposal_try(struct proposal *p)
{
	struct raft_node_status st;
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	struct sd_node_id leader;

	raft_node_status(rn, &st);
	if (st.state == RAFT_NODE_LEADER) {
		if (raft_node_propose(rn, p->cmd, p->len, on_local_report, p) == 0)
			p->waiting = true;
		return;
	}
	if (!leader_client(&leader))
		return; /* no leader known: the next tick tries again */
	req.version = 1;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_PROPOSE;
	req.cluster_propose.data = p->cmd;
	req.cluster_propose.len = p->len;
	if (link_call(&leader, &req, SDC_CALL_MS, on_forward_answer, p) == 0)
		p->waiting = true;
}

static void raft_propose(Sdcl__Command *cmd, sdc_done_fn done, void *arg)
{
	struct proposal *p = calloc(1, sizeof(*p));

	cmd->origin = sdc.my_id;
	cmd->seq = ++next_seq;
	cmd->time = (uint64_t)time(NULL);
	if (!p || !(p->len = sdcl__command__get_packed_size(cmd)) || !(p->cmd = malloc(p->len))) {
		struct sdc_outcome o = { .result = SD_RES_NO_MEM, .msg = "out of memory" };

		free(p);
		done(arg, &o);
		return;
	}
	sdcl__command__pack(cmd, p->cmd);
	p->done = done;
	p->arg = arg;
	p->deadline = now_ms() + SDC_PROPOSE_MS;
	proposals_add(p);
	proposal_try(p);
}

/* Retries and deadlines of proposals, on every tick. */
static void proposals_tick(void)
{
	struct proposal *p = proposals, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->waiting || p->wait_index)
			continue;
		if (now_ms() >= p->deadline) {
			proposals_del(p);
			proposal_finish(p, SD_RES_HALT,
					"IO has halted as there are not enough living nodes (no "
					"cluster leader answered in time)",
					0);
			continue;
		}
		proposal_try(p);
	}
	/* A forwarded proposal whose index never shows up here (this node fell out): give up. */
	for (p = proposals; p; p = next) {
		next = p->next;
		if (p->wait_index && now_ms() >= p->deadline + SDC_PROPOSE_MS) {
			proposals_del(p);
			proposal_finish(p, SD_RES_HALT,
					"the change was committed but this node has not caught up "
					"with the cluster's log",
					p->wait_index);
		}
	}
}

/* Requests from other sheep */

struct remote_req {
	sdc_done_fn done;
	void *arg;
	Sdcl__Command *cmd; /* a join's command, once the member is in Raft's configuration */
};

static void not_leader(sdc_done_fn done, void *arg)
{
	struct sdc_outcome o = { .result = SD_RES_NOT_LEADER, .msg = "not the leader" };

	o.leader_known = leader_client(&o.leader);
	done(arg, &o);
}

static void on_remote_report(void *arg, const struct raft_node_report *r)
{
	struct remote_req *q = arg;
	struct sdc_outcome o = { .result = r->result, .index = r->index };

	if (r->outcome != RAFT_NODE_DONE) {
		o.result = r->outcome == RAFT_NODE_NOT_LEADER ? SD_RES_NOT_LEADER : SD_RES_HALT;
		o.msg = r->reason;
		o.index = 0;
		o.leader_known = leader_client(&o.leader);
	}
	q->done(q->arg, &o);
	free(q);
}

static void raft_on_propose(const uint8_t *cmd, size_t len, sdc_done_fn done, void *arg)
{
	struct raft_node_status st;
	struct remote_req *q;

	raft_node_status(rn, &st);
	if (st.state != RAFT_NODE_LEADER)
		return not_leader(done, arg);
	q = calloc(1, sizeof(*q));
	if (q) {
		q->done = done;
		q->arg = arg;
	}
	if (!q || raft_node_propose(rn, cmd, len, on_remote_report, q)) {
		struct sdc_outcome o = { .result = SD_RES_NO_MEM, .msg = "out of memory" };

		free(q);
		done(arg, &o);
	}
}

static void join_proposed(void *arg, const struct sdc_outcome *o)
{
	struct remote_req *q = arg;

	q->done(q->arg, o);
	free(q);
}

static void join_added(void *arg, const struct raft_node_report *r)
{
	struct remote_req *q = arg;
	Sdcl__Command *cmd = q->cmd;

	change_in_flight = false;
	if (r->outcome != RAFT_NODE_DONE) {
		struct sdc_outcome o = { .result = r->outcome == RAFT_NODE_NOT_LEADER
							   ? SD_RES_NOT_LEADER
							   : SD_RES_JOIN_FAILED,
					 .msg = r->reason };

		o.leader_known = leader_client(&o.leader);
		q->done(q->arg, &o);
		sdcl__command__free_unpacked(cmd, NULL);
		free(q);
		return;
	}
	q->cmd = NULL;
	raft_propose(cmd, join_proposed, q);
	sdcl__command__free_unpacked(cmd, NULL);
}

static bool raft_has(uint64_t id, enum raft_node_role *role)
{
	struct raft_node_member ms[64];
	int n = raft_node_members(rn, ms, 64);

	for (int i = 0; i < n && i < 64; i++) {
		if (ms[i].id == id) {
			if (role)
				*role = ms[i].role;
			return true;
		}
	}
	return false;
}

static void raft_on_join(const uint8_t *member, size_t len, sdc_done_fn done, void *arg)
{
	struct raft_node_status st;
	Sdcl__Member *m = sdcl__member__unpack(NULL, len, member);
	struct cluster_member cm;
	struct remote_req *q = NULL;
	Sdcl__Command *cmd = NULL;
	char addr[RAFT_NODE_ADDRESS_MAX], host[64];
	struct sdc_outcome fail = { .result = SD_RES_INVALID_PARMS, .msg = "malformed join" };

	raft_node_status(rn, &st);
	if (!m || sm_member_from_msg(m, &cm))
		goto out_fail;
	if (st.state != RAFT_NODE_LEADER) {
		sdcl__member__free_unpacked(m, NULL);
		return not_leader(done, arg);
	}
	if (change_in_flight) {
		fail = (struct sdc_outcome){ .result = SD_RES_HALT,
					     .msg = "another membership change is in progress; "
						    "try again" };
		goto out_fail;
	}
	q = calloc(1, sizeof(*q));
	cmd = calloc(1, sizeof(*cmd));
	if (!q || !cmd)
		goto out_nomem;
	sdcl__command__init(cmd);
	cmd->op_case = SDCL__COMMAND__OP_JOIN;
	cmd->join = m;
	q->done = done;
	q->arg = arg;
	live_of(cm.raft_id)->last_ms = now_ms();
	live_of(cm.raft_id)->heard = true;
	node_addr_format(cm.node.nid.addr, host, sizeof(host));
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 cm.cluster_port);
	if (raft_has(cm.raft_id, NULL)) {
		raft_propose(cmd, join_proposed, q);
		free(cmd);
		sdcl__member__free_unpacked(m, NULL);
		return;
	}
	/* The command is re-packed after the add: keep it as an unpacked copy. */
	{
		size_t clen = sdcl__command__get_packed_size(cmd);
		uint8_t *buf = malloc(clen ? clen : 1);

		if (!buf)
			goto out_nomem;
		sdcl__command__pack(cmd, buf);
		q->cmd = sdcl__command__unpack(NULL, clen, buf);
		free(buf);
		free(cmd);
		cmd = NULL;
		sdcl__member__free_unpacked(m, NULL);
		m = NULL;
		if (!q->cmd)
			goto out_nomem;
	}
	change_in_flight = true;
	log_info("adding node %s (raft id %" PRIx64 ") to the cluster", addr, cm.raft_id);
	if (raft_node_add(rn, cm.raft_id, addr, RAFT_NODE_STANDBY, join_added, q)) {
		change_in_flight = false;
		sdcl__command__free_unpacked(q->cmd, NULL);
		q->cmd = NULL;
		goto out_nomem;
	}
	return;
out_nomem:
	fail = (struct sdc_outcome){ .result = SD_RES_NO_MEM, .msg = "out of memory" };
out_fail:
	free(q);
	free(cmd);
	if (m)
		sdcl__member__free_unpacked(m, NULL);
	done(arg, &fail);
}

static void on_sync_answer(void *arg, const Sdctl__Response *rsp, int err)
{
	struct sync_wait *w = arg;

	log_debug("sync answer: %s, result %d", rsp ? "response" : strerror(-err),
		  rsp ? (int)rsp->result : 0);
	w->answered = true;
	w->leader = rsp && rsp->result == SDCTL__RESULT__SUCCESS &&
		    rsp->body_case == SDCTL__RESPONSE__BODY_CLUSTER;
	w->index = w->leader ? rsp->cluster->index : 0;
	evloop_defer(loop, &syncs_defer);
}

static void raft_sync(void (*done)(void *arg, bool caught_up), void *arg)
{
	struct sync_wait *w = calloc(1, sizeof(*w));
	struct raft_node_status st;
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__HeartbeatReq hb = SDCTL__HEARTBEAT_REQ__INIT;
	struct sd_node_id leader;

	if (!w) {
		done(arg, false); /* without memory, the local state has to do */
		return;
	}
	w->done = done;
	w->arg = arg;
	w->deadline = now_ms() + SDC_CALL_MS;
	w->next = syncs;
	syncs = w;
	raft_node_status(rn, &st);
	/* raft id 0 asks only for the commit index. */
	req.version = 1;
	req.op_case = SDCTL__REQUEST__OP_HEARTBEAT;
	req.heartbeat = &hb;
	if (st.state == RAFT_NODE_LEADER) {
		w->answered = w->leader = true; /* this node's log is the truth */
		w->index = raft_applied();
	} else if (!leader_client(&leader) ||
		   link_call(&leader, &req, SDC_CALL_MS, on_sync_answer, w)) {
		w->answered = true; /* nothing to wait for: answered at the end of this pass */
	}
	evloop_defer(loop, &syncs_defer);
}

static void raft_on_heartbeat(uint64_t raft_id, struct sdc_outcome *out)
{
	struct raft_node_status st;
	struct liveness *l;

	raft_node_status(rn, &st);
	memset(out, 0, sizeof(*out));
	out->msg = "";
	out->epoch = sys.cfg.epoch;
	if (st.state != RAFT_NODE_LEADER) {
		out->result = SD_RES_NOT_LEADER;
		out->leader_known = leader_client(&out->leader);
		return;
	}
	out->index = st.commit_index;
	if (!raft_id)
		return; /* a read index (sdcluster_sync), not a member's heartbeat */
	out->member = sm_member_by_raft_id(raft_id) != NULL;
	if (out->member && (l = live_of(raft_id))) {
		l->last_ms = now_ms();
		l->heard = true;
	}
}

/* Member side: heartbeats and joins */

static const struct sd_node_id *next_contact(void)
{
	static struct sd_node_id nid;
	int n = opts.nr_seeds + sys.nr_members;

	if (leader_client(&nid))
		return &nid;
	for (int tries = 0; tries < n; tries++) {
		int i = seed_turn++ % n;

		nid = i < opts.nr_seeds ? opts.seeds[i] : sys.members[i - opts.nr_seeds].node.nid;
		if (node_id_cmp(&nid, &sys.self.nid))
			return &nid;
	}
	return NULL;
}

static void on_join_answer(void *arg, const Sdctl__Response *rsp, int err)
{
	(void)arg;
	join_in_flight = false;
	if (!rsp) {
		log_debug("join request failed: %s", strerror(-err));
		return;
	}
	if (rsp->result == SDCTL__RESULT__SUCCESS) {
		log_notice("joined the cluster");
		removed = false;
	} else if (rsp->result != SDCTL__RESULT__NOT_LEADER)
		log_warn("join refused: %s", rsp->message ? rsp->message : "");
}

static void try_join(void)
{
	const struct sd_node_id *to;
	struct cluster_member me;
	Sdcl__Member mm;
	uint8_t addr[16], buf[128];
	Sdctl__Request req = SDCTL__REQUEST__INIT;

	if (join_in_flight || now_ms() - last_join < SDC_HEARTBEAT_MS)
		return;
	to = next_contact();
	if (!to)
		return;
	last_join = now_ms();
	sdc_self_member(&me);
	sm_member_to_msg(&me, &mm, addr);
	req.version = 1;
	req.op_case = SDCTL__REQUEST__OP_CLUSTER_JOIN;
	req.cluster_join.data = buf;
	req.cluster_join.len = sdcl__member__pack(&mm, buf);
	if (link_call(to, &req, SDC_CALL_MS, on_join_answer, NULL) == 0)
		join_in_flight = true;
}

static void on_heartbeat_answer(void *arg, const Sdctl__Response *rsp, int err)
{
	(void)arg;
	(void)err;
	hb_in_flight = false;
	if (rsp && rsp->result == SDCTL__RESULT__SUCCESS &&
	    rsp->body_case == SDCTL__RESPONSE__BODY_CLUSTER && !rsp->cluster->member && !removed) {
		log_warn("the leader no longer counts this node as a member (it was cut off for "
			 "too long); joining again");
		removed = true;
	}
}

static void send_heartbeat(void)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__HeartbeatReq hb = SDCTL__HEARTBEAT_REQ__INIT;
	struct sd_node_id leader;

	if (hb_in_flight || now_ms() - last_hb < SDC_HEARTBEAT_MS || !leader_client(&leader) ||
	    !node_id_cmp(&leader, &sys.self.nid))
		return;
	last_hb = now_ms();
	hb.raft_id = sdc.my_id;
	hb.epoch = sys.cfg.epoch;
	req.version = 1;
	req.op_case = SDCTL__REQUEST__OP_HEARTBEAT;
	req.heartbeat = &hb;
	if (link_call(&leader, &req, SDC_CALL_MS, on_heartbeat_answer, NULL) == 0)
		hb_in_flight = true;
}

/* Leader side: liveness and voters */

static void change_done(void *arg, const struct raft_node_report *r)
{
	(void)arg;
	change_in_flight = false;
	if (r->outcome != RAFT_NODE_DONE)
		log_warn("a Raft configuration change failed: %s", r->reason);
}

static void leave_done(void *arg, const struct sdc_outcome *o)
{
	(void)arg;
	if (o->result)
		log_warn("could not remove a silent node: %s", o->msg);
}

static void propose_leave(const struct cluster_member *m)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__Member mm;
	uint8_t addr[16];
	char host[64];

	node_addr_format(m->node.nid.addr, host, sizeof(host));
	log_warn("node %s:%u has not been heard from for %d s: removing it from the cluster", host,
		 m->node.nid.port, SDC_DEAD_MS / 1000);
	sm_member_to_msg(m, &mm, addr);
	cmd.op_case = SDCL__COMMAND__OP_LEAVE;
	cmd.leave = &mm;
	raft_propose(&cmd, leave_done, NULL);
}

/* dog cluster recover force, on the leader: members silent now go without their grace. */
static int raft_force_recover(char *msg, size_t len)
{
	struct raft_node_status st;
	struct sd_node_id leader;
	char host[64];
	int n = 0;

	raft_node_status(rn, &st);
	if (st.state != RAFT_NODE_LEADER) {
		if (leader_client(&leader)) {
			node_addr_format(leader.addr, host, sizeof(host));
			snprintf(msg, len,
				 "this node is not the cluster's leader: run it against %s:%u",
				 host, leader.port);
		} else {
			snprintf(msg, len,
				 "no cluster leader is known: start a majority of the nodes");
		}
		return -EREMOTE;
	}
	for (int i = 0; i < sys.nr_members; i++) {
		const struct cluster_member *m = &sys.members[i];
		struct liveness *l = live_of(m->raft_id);

		if (m->raft_id == sdc.my_id || !l ||
		    (l->heard && now_ms() - l->last_ms < 2 * SDC_HEARTBEAT_MS))
			continue;
		propose_leave(m);
		n++;
	}
	return n;
}

static int voter_target(void)
{
	return sys.nr_members >= 5 ? 5 : sys.nr_members >= 3 ? 3 : 1;
}

static void waiting_told(void *arg, const struct sdc_outcome *o)
{
	(void)arg;
	waiting_busy = false;
	if (o->result)
		log_warn("could not tell the cluster whether it waits: %s", o->msg);
}

/* The leader: whether members are awaited, told to every node when it changes. */
static void waiting_tell(bool awaited)
{
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	bool all_heard = true;

	for (int i = 0; i < sys.nr_members; i++) {
		struct liveness *l = live_of(sys.members[i].raft_id);

		all_heard = all_heard && l && l->heard;
	}
	if (all_heard)
		restart_mode = false;
	if (awaited == sdc.waiting || waiting_busy)
		return;
	cmd.op_case = SDCL__COMMAND__OP_WAITING;
	cmd.waiting = awaited;
	waiting_busy = true;
	raft_propose(&cmd, waiting_told, NULL);
}

static void leader_tick(void)
{
	struct raft_node_member ms[64];
	int n, voters = 0;
	uint64_t now = now_ms();

	bool awaited = false;

	if (!was_leader) {
		/* A new leader starts every member's clock afresh. */
		was_leader = true;
		for (int i = 0; i < nr_live; i++) {
			live[i].last_ms = now;
			live[i].heard = false;
		}
		/* Also when the cluster already waits: a leader lost during a restart must not
		 * end the wait by removing the members one by one. */
		restart_mode = (now - started_ms < SDC_RESTART_MS && !knew_leader) || sdc.waiting;
	}
	live_of(sdc.my_id)->last_ms = now;
	live_of(sdc.my_id)->heard = true;
	if (!sdc_self_is_current() && !proposals) {
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		struct cluster_member me;
		Sdcl__Member mm;
		uint8_t addr[16];

		sdc_self_member(&me);
		sm_member_to_msg(&me, &mm, addr);
		cmd.op_case = SDCL__COMMAND__OP_JOIN;
		cmd.join = &mm;
		raft_propose(&cmd, leave_done, NULL);
	}
	if (change_in_flight)
		return;
	for (int i = 0; i < sys.nr_members; i++) {
		const struct cluster_member *m = &sys.members[i];
		struct liveness *l = live_of(m->raft_id);

		if (m->raft_id == sdc.my_id || !l || now - l->last_ms < SDC_DEAD_MS)
			continue;
		if (restart_mode && !l->heard && sys.cfg.ctime) {
			awaited = true;
			continue;
		}
		l->last_ms = now; /* once per silence */
		if (raft_has(m->raft_id, NULL) &&
		    raft_node_remove(rn, m->raft_id, change_done, NULL) == 0)
			change_in_flight = true;
		propose_leave(m);
		return;
	}
	waiting_tell(awaited);
	n = raft_node_members(rn, ms, 64);
	for (int i = 0; i < n && i < 64; i++) {
		struct liveness *l;

		voters += ms[i].role == RAFT_NODE_VOTER;
		if (ms[i].id == sdc.my_id || sm_member_by_raft_id(ms[i].id))
			continue;
		/*
		 * In Raft's configuration but not a member: a node that joined again under a new
		 * id (its data directory was replaced), or a join that never completed. A dead
		 * voter there would count against the majority forever.
		 */
		l = live_of(ms[i].id);
		if (l && now - l->last_ms > 2 * SDC_DEAD_MS) {
			log_info("removing raft member %" PRIx64
				 ": it is no longer a cluster member",
				 ms[i].id);
			if (raft_node_remove(rn, ms[i].id, change_done, NULL) == 0)
				change_in_flight = true;
			return;
		}
	}
	if (voters >= voter_target())
		return;
	for (int i = 0; i < n && i < 64; i++) {
		struct liveness *l;

		if (ms[i].role == RAFT_NODE_VOTER || !sm_member_by_raft_id(ms[i].id))
			continue;
		l = live_of(ms[i].id);
		if (!l || now - l->last_ms > 2 * SDC_HEARTBEAT_MS)
			continue;
		log_info("promoting raft member %" PRIx64 " to voter (%d of %d)", ms[i].id,
			 voters + 1, voter_target());
		if (raft_node_assign(rn, ms[i].id, RAFT_NODE_VOTER, change_done, NULL) == 0)
			change_in_flight = true;
		return;
	}
}

static void on_synced(void *arg, bool caught_up)
{
	(void)arg;
	sync_asked = false;
	log_debug("sync: caught up %d, fenced %d, current %d, applied %" PRIu64, caught_up,
		  sdc.fenced, sdc_self_is_current(), sm_last_applied());
	if (sdc.fenced || stopping || !caught_up || !sdc_self_is_current())
		return; /* the next tick asks again */
	sdc.synced = true;
	log_info("caught up with the cluster at epoch %u: serving I/O", sys.cfg.epoch);
	sdc_publish_view();
}

static void tick(void *arg)
{
	struct raft_node_status st;
	bool leader_known, f;

	(void)arg;
	if (stopping)
		return;
	raft_node_status(rn, &st);
	leader_known = st.leader_id != 0 && st.state != RAFT_NODE_UNAVAILABLE;
	knew_leader = knew_leader || (leader_known && st.leader_id != sdc.my_id);
	if (leader_known)
		no_leader_since = 0;
	else if (!no_leader_since)
		no_leader_since = now_ms();
	f = !sdc_self_is_member() || removed ||
	    (!leader_known && now_ms() - no_leader_since >= SDC_FENCE_MS);
	if (f && sdc.synced) {
		sdc.synced = false; /* after this, catch up again before serving */
		sdc_publish_view();
	}
	if (f != sdc.fenced) {
		sdc.fenced = f;
		if (f)
			log_warn("IO has halted as there are not enough living nodes: %s",
				 sdc_self_is_member() ? "no cluster leader is reachable"
						      : "this node is not a member yet");
		else
			log_notice("the cluster is reachable again: serving writes");
		sdc_publish_view();
	}
	if (!sdc.fenced && !sdc.synced && !sync_asked && sdc_self_is_current()) {
		sync_asked = true;
		raft_sync(on_synced, NULL);
	}
	if (st.state == RAFT_NODE_LEADER) {
		leader_tick();
	} else {
		was_leader = false;
		/*
		 * No leader for a while: this node may have been removed while it was away, and a
		 * removed node hears from no leader (it is not in Raft's configuration any more),
		 * so it would wait forever. Asking any member to let it join finds out: for a
		 * member as it is, the JOIN changes nothing.
		 */
		if (!sdc_self_is_current() || removed ||
		    (!leader_known && now_ms() - no_leader_since >= 2 * SDC_FENCE_MS))
			try_join();
		else
			send_heartbeat();
	}
	proposals_tick();
	if (syncs)
		syncs_check(NULL);
}

static const char *raft_role(void)
{
	struct raft_node_status st;

	raft_node_status(rn, &st);
	if (st.state == RAFT_NODE_LEADER)
		return "leader";
	return st.role == RAFT_NODE_VOTER     ? "voter"
	       : st.role == RAFT_NODE_STANDBY ? "standby"
					      : "none";
}

/* Start-up */

/*
 * The Raft port may still be held for a moment by this node's previous sheep, exiting (or
 * killed: its sockets outlive it briefly). As for the control port (net_held.c), wait for a
 * listener nobody alive holds; a live process's listener fails at once.
 */
static int wait_raft_port(const uint8_t addr[16], uint16_t port)
{
	bool waiting = false;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t slen = net_node_sockaddr(addr, port, &ss);
		int fd, one = 1, ret = 0;

		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, slen) < 0)
			ret = -errno;
		close(fd);
		if (ret != -EADDRINUSE || !net_tcp_port_orphaned(port))
			return ret;
		if (!net_held_wait("the Raft port", &waiting))
			return ret;
	}
}

static bool raft_dir_empty(void)
{
	DIR *d = opendir(raft_dir);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return true;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			empty = false;
	closedir(d);
	return empty;
}

static int raft_start(const struct sdcluster_opts *o, struct evloop *lp, char *err, size_t errlen)
{
	struct raft_node_config cfg = { 0 };
	char host[64];
	bool fresh;
	int ret;

	opts = *o;
	loop = lp;
	started_ms = evloop_now(lp);
	sys.clustered = true;
	next_seq = (uint64_t)time(NULL) << 20; /* grows across restarts */
	ret = sdc_load_id(err, errlen);
	if (ret)
		return ret;
	sdc.loop = lp;
	sdc.shards = (uint16_t)o->nr_shards;
	sdc.cluster_port = o->cluster_port;
	sdc_hooks_init(&hooks, on_members_changed, on_member_left);
	ret = sm_init(&hooks);
	if (ret) {
		snprintf(err, errlen, "cannot read %s/sm-effects: %s", sys.dir, strerror(-ret));
		return ret;
	}
	snprintf(raft_dir, sizeof(raft_dir), "%s/raft", sys.dir);
	if (mkdir(raft_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", raft_dir, strerror(errno));
		return -errno;
	}
	fresh = raft_dir_empty();
	node_addr_format(sys.self.nid.addr, host, sizeof(host));
	snprintf(raft_addr, sizeof(raft_addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 opts.cluster_port);
	if (uv_loop_init(&uvl)) {
		snprintf(err, errlen, "cannot create the Raft event loop");
		return -ENOMEM;
	}
	link_init(loop);
	cfg.id = sdc.my_id;
	cfg.address = raft_addr;
	cfg.data_dir = raft_dir;
	cfg.election_ms = SDC_ELECTION_MS;
	cfg.heartbeat_ms = SDC_RAFT_HEARTBEAT_MS;
	cfg.fsm = &fsm;
	ret = wait_raft_port(sys.self.nid.addr, opts.cluster_port);
	if (ret == -EADDRINUSE) {
		snprintf(err, errlen,
			 "cannot start Raft on %s: the port is taken by another process (choose "
			 "another --cluster-port)",
			 raft_addr);
		return ret;
	}
	ret = raft_node_create(&uvl, &cfg, &rn);
	if (!ret)
		ret = raft_node_start(rn, fresh && !opts.nr_seeds);
	if (ret) {
		snprintf(err, errlen, "cannot start Raft on %s: %s%s", raft_addr, strerror(-ret),
			 ret == -EADDRINUSE ? " (choose another --cluster-port)" : "");
		return ret;
	}
	ret = evloop_set_backend(loop, uv_backend_fd(&uvl), uv_timeout, uv_run_once, NULL);
	if (ret) {
		snprintf(err, errlen, "cannot poll the Raft loop: %s", strerror(-ret));
		return ret;
	}
	evloop_defer_init(&syncs_defer, syncs_check, NULL);
	evloop_timer_init(&tick_timer, tick, NULL);
	evloop_timer_start(loop, &tick_timer, SDC_TICK_MS, SDC_TICK_MS);
	if ((ret = sdc_services_start(err, errlen)))
		return ret;
	log_notice("sdcluster: raft id %016" PRIx64 " on %s, %s", sdc.my_id, raft_addr,
		   !fresh	   ? "rejoining with its state"
		   : opts.nr_seeds ? "joining through its seeds"
				   : "starting a new cluster");
	return 0;
}

static void raft_closed(void *arg)
{
	*(bool *)arg = true;
}

static void raft_stop(void)
{
	bool closed = false;

	stopping = true;
	sdc_services_stop();
	evloop_timer_stop(loop, &tick_timer);
	syncs_check(NULL); /* stopping: every waiter goes on now */
	while (proposals) {
		struct proposal *p = proposals;

		proposals = p->next;
		proposal_finish(p, SD_RES_SHUTDOWN, "sheep is shutting down", 0);
	}
	link_close_all();
	raft_node_close(rn, raft_closed, &closed);
	for (int i = 0; i < 1000 && !closed; i++)
		uv_run(&uvl, UV_RUN_ONCE);
	evloop_set_backend(loop, -1, NULL, NULL, NULL);
	uv_loop_close(&uvl);
}

const struct sdc_driver sdc_raft_driver = { .name = "sdcluster",
					    .start = raft_start,
					    .stop = raft_stop,
					    .propose = raft_propose,
					    .sync = raft_sync,
					    .on_join = raft_on_join,
					    .on_propose = raft_on_propose,
					    .on_heartbeat = raft_on_heartbeat,
					    .role = raft_role,
					    .force_recover = raft_force_recover };
