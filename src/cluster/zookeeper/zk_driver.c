/*
 * The ZooKeeper cluster driver (--cluster-driver zookeeper --zk HOSTS): the sdcluster API
 * (../sdcluster/sdcluster.h) and its state machine over a ZooKeeper ensemble instead of Raft
 * among the sheep. ZooKeeper orders the commands (a sequential queue, zk_log.c) and tells who is
 * alive (an ephemeral node per member's session), so clusters grow past the handful of Raft
 * voters without every sheep's heartbeats reaching one leader.
 *
 * - Join: one transaction creates this node's ephemeral member node and appends its JOIN, so
 *   nobody ever sees one without the other. A restarted node replaces its previous session's
 *   member node in the same transaction.
 * - Leave: every member watches the member nodes; one that is gone (confirmed with a fresh read
 *   after this node caught up) gets a LEAVE from whoever first creates its tombstone for the
 *   epoch, so there is exactly one per member per epoch and no leader is needed.
 * - Fencing: a sheep hears that its session expired only once it reaches the ensemble again,
 *   and the others give its objects away as soon as it has. So it stops writes itself as soon
 *   as the client declares the connection lost (two thirds of the session timeout without an
 *   answer), and serves again only after it has caught up with the log (and rejoined, if the
 *   session expired).
 * - Proposals: any node appends; a proposal is done when this node applies it (matched by its
 *   origin and sequence number, which also makes a retried append harmless).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zookeeper/zookeeper.h>

#include "../../core/log.h"
#include "../../core/result.h"
#include "../sdcluster/sdc_common.h"
#include "../sdcluster/sdcluster.h"
#include "../sys.h"
#include "zk_client.h"
#include "zk_internal.h"

#define ZKD_TICK_MS	    200
#define ZKD_REFRESH_MS	    5000  /* re-read log and members even without a watch event */
#define ZKD_PROPOSE_MS	    15000 /* a proposal, retries included */
#define ZKD_SYNC_MS	    3000
#define ZKD_JOIN_BACKOFF_MS 5000 /* after a JOIN the state machine refused */

struct zk_proposal {
	struct zk_proposal *next;
	uint8_t *cmd; /* packed, owned */
	size_t len;
	uint64_t seq;
	sdc_done_fn done;
	void *arg;
	uint64_t deadline;
	bool appending; /* a create is in flight */
	bool appended;	/* in the log: done once applied here */
	bool applied;	/* applied here (result), finished once no create is in flight */
	int result;
};

struct zk_sync_wait {
	struct zk_sync_wait *next;
	void (*done)(void *arg, bool caught_up);
	void *arg;
	uint64_t read_gen; /* 0 until the server synced: then the read that must end */
	uint64_t deadline;
	bool failed;
	bool asked;    /* a zk_sync is due to answer: only its answer frees the waiter */
	bool reported; /* done was called (at the deadline, before the answer) */
};

static struct sdcluster_opts opts;
static struct evloop *loop;
static struct evloop_timer tick_timer;
static struct evloop_defer syncs_defer;
static struct sm_hooks hooks;
static uint64_t next_seq;
static bool stopping, expired, paths_ready, paths_busy, join_busy, members_busy;
static bool sync_asked, read_failed, join_pending, leader_sync_busy;
static uint64_t join_after, read_retry_at, read_backoff_ms;
/*
 * The last time a sync through the ensemble's leader answered. A server cut off from its
 * leader answers this node's pings by itself until it notices (syncLimit ticks), while the
 * leader lets the session expire: so the client looking connected is not enough to serve.
 */
static uint64_t leader_ok_ms;
static uint64_t last_refresh;
static int64_t member_session; /* the session our member node is confirmed under; 0: none */
static struct zk_proposal *proposals;
static struct zk_sync_wait *syncs;
/* The member nodes as last listed. */
static uint64_t *live_ids;
static int nr_live_ids;

/*
 * What this node saw of each member's node. Only a member seen alive and then gone gets a
 * LEAVE: after a restart of every sheep, the nodes of the ones not back yet may still be
 * there (their sessions outlive a SIGKILL by the session timeout), and those must not be
 * removed one by one as they expire, or each return would cost a recovery and copies could
 * be stranded on nodes that left. A member node counts as alive once it was created after
 * this node's own (a live sheep made it) or has lasted longer than a session timeout.
 */
struct zk_seen {
	uint64_t id;
	uint64_t since_ms; /* listed continuously since */
	bool present, confirmed;
};
static struct zk_seen *seen;
static int nr_seen;
static int64_t my_czxid; /* our member node's creation, once known */

static uint64_t now_ms(void)
{
	return evloop_now(loop);
}

static void member_path(char *path, size_t len, uint64_t id)
{
	snprintf(path, len, ZKD_MEMBERS "/%016" PRIx64, id);
}

/* A command of this node: origin, seq and time filled, packed into *out (malloc'd). */
static int cmd_pack(Sdcl__Command *cmd, uint8_t **out, size_t *len)
{
	cmd->origin = sdc.my_id;
	cmd->seq = ++next_seq;
	cmd->time = (uint64_t)time(NULL);
	*len = sdcl__command__get_packed_size(cmd);
	if (!(*out = malloc(*len ? *len : 1)))
		return -ENOMEM;
	sdcl__command__pack(cmd, *out);
	return 0;
}

/* Proposals */

static void proposals_try(void);

static void proposal_finish(struct zk_proposal *p, int result, const char *msg)
{
	struct sdc_outcome o = { .result = result, .msg = msg ? msg : "" };
	struct zk_proposal **pp;

	for (pp = &proposals; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	o.index = sm_last_applied();
	p->done(p->arg, &o);
	free(p->cmd);
	free(p);
}

static void on_appended(void *arg, const struct zk_result *r)
{
	struct zk_proposal *p = arg;

	p->appending = false;
	if (p->applied) {
		proposal_finish(p, p->result, NULL);
		if (!stopping)
			proposals_try();
		return;
	}
	if (r->rc == ZOK)
		p->appended = true;
	else
		log_debug("zookeeper: appending a command: %s (retrying)", zk_client_error(r->rc));
	/* An unknown outcome (connection loss) is appended again: the state machine drops the
	 * second copy by (origin, seq). */
	if (!stopping)
		proposals_try();
}

static struct zk_proposal **proposals_tail(void)
{
	struct zk_proposal **pp = &proposals;

	while (*pp)
		pp = &(*pp)->next;
	return pp;
}

/* Appends, in order, what is not in the log yet; one append at a time keeps the order. */
static void proposals_try(void)
{
	for (struct zk_proposal *p = proposals; p; p = p->next) {
		if (p->appended || p->applied)
			continue;
		if (p->appending || !zk_client_connected())
			return;
		if (zk_create(ZKD_LOG_ENT, p->cmd, p->len, ZOO_PERSISTENT_SEQUENTIAL, on_appended,
			      p) == 0)
			p->appending = true;
		return;
	}
}

static void zkd_propose(Sdcl__Command *cmd, sdc_done_fn done, void *arg)
{
	struct zk_proposal *p = calloc(1, sizeof(*p));

	if (!p || cmd_pack(cmd, &p->cmd, &p->len)) {
		struct sdc_outcome o = { .result = SD_RES_NO_MEM, .msg = "out of memory" };

		free(p);
		done(arg, &o);
		return;
	}
	p->seq = cmd->seq;
	p->done = done;
	p->arg = arg;
	p->deadline = now_ms() + ZKD_PROPOSE_MS;
	/* First in, first appended: the state machine takes a command far behind a newer one of
	 * the same origin for a duplicate (its window of 64). */
	*proposals_tail() = p;
	if (stopping) {
		proposal_finish(p, SD_RES_SHUTDOWN, "sheep is shutting down");
		return;
	}
	proposals_try();
}

void zkd_applied(uint64_t origin, uint64_t seq, int ret)
{
	if (origin != sdc.my_id)
		return;
	for (struct zk_proposal *p = proposals; p; p = p->next) {
		if (p->seq != seq || p->applied)
			continue;
		p->applied = true;
		p->result = ret == SM_DUPLICATE ? SD_RES_SUCCESS : ret;
		/* An append still unanswered (a retry) must find p: it finishes it. */
		if (!p->appending)
			proposal_finish(p, p->result, NULL);
		return;
	}
}

static void proposals_tick(void)
{
	struct zk_proposal *p, *next;

	for (p = proposals; p; p = next) {
		next = p->next;
		if (p->appending || p->applied)
			continue;
		if (!p->appended && now_ms() >= p->deadline) {
			proposal_finish(p, SD_RES_HALT,
					"IO has halted as there are not enough living nodes (the "
					"ZooKeeper ensemble did not take the change in time)");
			continue;
		}
		if (p->appended && now_ms() >= p->deadline + ZKD_PROPOSE_MS) {
			proposal_finish(p, SD_RES_HALT,
					"the change was committed but this node has not caught up "
					"with the cluster's log");
			continue;
		}
	}
	proposals_try();
}

/* Reads of the log and syncs */

static void syncs_check(void *arg)
{
	struct zk_sync_wait **pp = &syncs;

	(void)arg;
	while (*pp) {
		struct zk_sync_wait *w = *pp;
		bool caught_up = w->read_gen && zkl_reads_done() >= w->read_gen;

		if (!w->reported &&
		    (caught_up || w->failed || now_ms() >= w->deadline || stopping)) {
			w->reported = true;
			w->done(w->arg, caught_up);
		}
		if (w->reported && !w->asked) {
			*pp = w->next;
			free(w);
			continue;
		}
		pp = &w->next;
	}
}

static void on_server_synced(void *arg, const struct zk_result *r)
{
	struct zk_sync_wait *w = arg;

	w->asked = false;
	if (r->rc != ZOK) {
		w->failed = true;
	} else {
		/* A read that starts after this point sees everything committed before it. */
		w->read_gen = zkl_reads_started() + 1;
		zkl_read();
	}
	evloop_defer(loop, &syncs_defer);
}

static void zkd_sync(void (*done)(void *arg, bool caught_up), void *arg)
{
	struct zk_sync_wait *w = calloc(1, sizeof(*w));

	if (!w) {
		done(arg, false);
		return;
	}
	w->done = done;
	w->arg = arg;
	w->deadline = now_ms() + ZKD_SYNC_MS;
	w->next = syncs;
	syncs = w;
	if (!zk_client_connected() || zk_sync(ZKD_LOG, on_server_synced, w))
		w->failed = true;
	else
		w->asked = true;
	evloop_defer(loop, &syncs_defer);
}

/* Membership */

static bool is_live(uint64_t id)
{
	for (int i = 0; i < nr_live_ids; i++)
		if (live_ids[i] == id)
			return true;
	return false;
}

static struct zk_seen *seen_of(uint64_t id)
{
	for (int i = 0; i < nr_seen; i++)
		if (seen[i].id == id)
			return &seen[i];
	return NULL;
}

static void on_member_stat(void *arg, const struct zk_result *r)
{
	struct zk_seen *e = seen_of((uint64_t)(uintptr_t)arg);

	if (e && r->rc == ZOK && my_czxid && r->czxid > my_czxid)
		e->confirmed = true;
}

/* A new listing: who appeared (checked) and who went (kept: it may need a LEAVE). */
static void seen_update(void)
{
	uint64_t now = now_ms();
	char path[ZK_PATH_MAX];

	for (int i = 0; i < nr_seen; i++) {
		if (seen[i].present && !is_live(seen[i].id))
			seen[i].present = false;
	}
	for (int i = 0; i < nr_live_ids; i++) {
		struct zk_seen *e = seen_of(live_ids[i]), *ns;

		if (e && e->present)
			continue;
		if (!e) {
			ns = realloc(seen, sizeof(*seen) * (size_t)(nr_seen + 1));
			if (!ns)
				return;
			seen = ns;
			e = &seen[nr_seen++];
			e->id = live_ids[i];
		}
		*e = (struct zk_seen){ .id = live_ids[i], .since_ms = now, .present = true };
		member_path(path, sizeof(path), e->id);
		zk_exists(path, on_member_stat, (void *)(uintptr_t)e->id);
	}
}

/* Members that are absent and were never seen alive: the cluster waits for them. */
static void waiting_update(void)
{
	bool w = false;
	uint64_t age = (uint64_t)zk_client_timeout_ms() * 3 / 2;

	for (int i = 0; i < nr_seen; i++)
		if (seen[i].present && !seen[i].confirmed && now_ms() - seen[i].since_ms > age)
			seen[i].confirmed = true;
	for (int i = 0; sys.cfg.ctime && member_session && i < sys.nr_members; i++) {
		const struct zk_seen *e = seen_of(sys.members[i].raft_id);

		if (sys.members[i].raft_id != sdc.my_id && !is_live(sys.members[i].raft_id) &&
		    (!e || !e->confirmed))
			w = true;
	}
	sdc_set_waiting(w);
}

static void on_member_left(uint64_t id)
{
	for (int i = 0; i < nr_seen; i++) {
		if (seen[i].id == id) {
			seen[i] = seen[--nr_seen];
			break;
		}
	}
}

static void on_leave_done(void *arg, const struct zk_result *r)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;

	if (r->rc == ZOK)
		log_warn("zookeeper: node %016" PRIx64 " lost its session: removing it from the "
			 "cluster",
			 id);
	else if (r->rc != ZNODEEXISTS)
		log_debug("zookeeper: LEAVE of %016" PRIx64 ": %s", id, zk_client_error(r->rc));
}

/* The member's node is gone, read after this node applied its JOIN: propose its LEAVE. */
static void on_gone_checked(void *arg, const struct zk_result *r)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	const struct cluster_member *m = sm_member_by_raft_id(id);
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	Sdcl__Member mm;
	uint8_t addr[16], *buf;
	char tomb[ZK_PATH_MAX];
	size_t len;
	struct zk_op ops[2];

	if (r->rc != ZNONODE || !m || stopping || sys.shutdown)
		return;
	sm_member_to_msg(m, &mm, addr);
	cmd.op_case = SDCL__COMMAND__OP_LEAVE;
	cmd.leave = &mm;
	if (cmd_pack(&cmd, &buf, &len))
		return;
	/* Per formatted cluster and epoch: a member leaves once per epoch. */
	snprintf(tomb, sizeof(tomb), ZKD_LEFT "/%016" PRIx64 "-%" PRIx64 "-%u", id, sys.cfg.ctime,
		 sys.cfg.epoch);
	ops[0] = (struct zk_op){ .kind = ZK_OP_CREATE, .path = tomb };
	ops[1] = (struct zk_op){ .kind = ZK_OP_CREATE,
				 .path = ZKD_LOG_ENT,
				 .data = buf,
				 .len = len,
				 .flags = ZOO_PERSISTENT_SEQUENTIAL };
	zk_multi(ops, 2, on_leave_done, (void *)(uintptr_t)id);
	free(buf);
}

static void on_gone_synced(void *arg, const struct zk_result *r)
{
	char path[ZK_PATH_MAX];

	if (r->rc != ZOK || stopping)
		return;
	member_path(path, sizeof(path), (uint64_t)(uintptr_t)arg);
	zk_exists(path, on_gone_checked, arg);
}

/* After a full read: members whose node the last listing lacked are checked once more. */
static void members_check_gone(void)
{
	if (!sdc.synced || members_busy || sys.shutdown || stopping)
		return;
	for (int i = 0; i < sys.nr_members; i++) {
		uint64_t id = sys.members[i].raft_id;

		const struct zk_seen *e = seen_of(id);

		if (id == sdc.my_id || is_live(id) || !e || !e->confirmed)
			continue;
		/* Through the ensemble's leader first: a lagging server could still say gone of
		 * a member whose return it has not seen. */
		zk_sync(ZKD_MEMBERS, on_gone_synced, (void *)(uintptr_t)id);
	}
}

static void on_members(void *arg, const struct zk_result *r)
{
	uint64_t *ids;
	int n = 0;

	(void)arg;
	members_busy = false;
	if (r->rc != ZOK)
		return;
	ids = calloc((size_t)r->nr_names + 1, sizeof(*ids));
	if (!ids)
		return;
	for (int i = 0; i < r->nr_names; i++) {
		char *end;
		uint64_t id = strtoull(r->names[i], &end, 16);

		if (!*end && id)
			ids[n++] = id;
	}
	free(live_ids);
	live_ids = ids;
	nr_live_ids = n;
	seen_update();
	waiting_update();
	/* Catch up first, so that a LEAVE never follows a JOIN this node has not seen. */
	zkl_read();
}

static void members_refresh(void)
{
	if (members_busy || !paths_ready)
		return;
	if (zk_children(ZKD_MEMBERS, true, on_members, NULL) == 0)
		members_busy = true;
}

static void on_own_stat(void *arg, const struct zk_result *r)
{
	(void)arg;
	if (r->rc == ZOK && r->ephemeral_owner == member_session)
		my_czxid = r->czxid;
}

static void on_joined(void *arg, const struct zk_result *r)
{
	int64_t session = (int64_t)(intptr_t)arg;
	char path[ZK_PATH_MAX];

	join_busy = false;
	if (r->rc == ZOK) {
		/* If the state machine refuses the JOIN, the next try waits. */
		join_after = now_ms() + ZKD_JOIN_BACKOFF_MS;
		member_session = session;
		member_path(path, sizeof(path), sdc.my_id);
		zk_exists(path, on_own_stat, NULL);
		log_notice("zookeeper: joined the cluster (session %" PRIx64 ")",
			   (uint64_t)session);
		zkl_read();
	} else {
		log_warn("zookeeper: join failed: %s; trying again", zk_client_error(r->rc));
	}
}

static void on_join_done(void *arg, const struct sdc_outcome *o)
{
	(void)arg;
	join_pending = false;
	if (o->result) {
		log_warn("zookeeper: the cluster refused this node's membership: %s; trying again "
			 "in %d s",
			 o->msg[0] ? o->msg : sd_strerror(o->result), ZKD_JOIN_BACKOFF_MS / 1000);
		join_after = now_ms() + ZKD_JOIN_BACKOFF_MS;
	}
}

static void on_member_node(void *arg, const struct zk_result *r)
{
	int64_t session = zk_client_session();
	Sdcl__Command cmd = SDCL__COMMAND__INIT;
	struct cluster_member me;
	Sdcl__Member mm;
	uint8_t addr[16], *buf;
	char path[ZK_PATH_MAX];
	struct zk_op ops[3];
	size_t len;
	int n = 0;

	(void)arg;
	if (stopping || (r->rc != ZOK && r->rc != ZNONODE)) {
		join_busy = false;
		return;
	}
	sdc_self_member(&me);
	sm_member_to_msg(&me, &mm, addr);
	cmd.op_case = SDCL__COMMAND__OP_JOIN;
	cmd.join = &mm;
	if (r->rc == ZOK && r->ephemeral_owner == session) {
		/* Our node is there: the state machine only has to learn what changed. */
		join_busy = false;
		member_session = session;
		my_czxid = r->czxid;
		if (!sdc_self_is_current() && !join_pending) {
			join_pending = true;
			zkd_propose(&cmd, on_join_done, NULL);
		}
		return;
	}
	if (cmd_pack(&cmd, &buf, &len)) {
		join_busy = false;
		return;
	}
	member_path(path, sizeof(path), sdc.my_id);
	if (r->rc == ZOK) /* our previous session's: replaced in the same step */
		ops[n++] = (struct zk_op){ .kind = ZK_OP_DELETE, .path = path, .version = -1 };
	ops[n++] = (struct zk_op){ .kind = ZK_OP_CREATE, .path = path, .flags = ZOO_EPHEMERAL };
	ops[n++] = (struct zk_op){ .kind = ZK_OP_CREATE,
				   .path = ZKD_LOG_ENT,
				   .data = buf,
				   .len = len,
				   .flags = ZOO_PERSISTENT_SEQUENTIAL };
	if (zk_multi(ops, n, on_joined, (void *)(intptr_t)session))
		join_busy = false;
	free(buf);
}

static void join_try(void)
{
	char path[ZK_PATH_MAX];

	if (join_busy || join_pending || !paths_ready || !zkl_caught_up_once() ||
	    now_ms() < join_after)
		return;
	if (member_session == zk_client_session() && sdc_self_is_current())
		return;
	member_path(path, sizeof(path), sdc.my_id);
	if (zk_exists(path, on_member_node, NULL) == 0)
		join_busy = true;
}

/* Session */

static void on_path_made(void *arg, const struct zk_result *r)
{
	bool last = arg != NULL;

	if (r->rc != ZOK && r->rc != ZNODEEXISTS) {
		log_warn("zookeeper: cannot create %s: %s", ZKD_ROOT, zk_client_error(r->rc));
		paths_busy = last ? false : paths_busy;
		return;
	}
	if (!last)
		return;
	paths_busy = false;
	paths_ready = true;
	zkl_read();
	members_refresh();
}

static void paths_make(void)
{
	static const char *const paths[] = { ZKD_ROOT, ZKD_LOG, ZKD_MEMBERS, ZKD_LEFT, ZKD_SNAP };
	int n = (int)(sizeof(paths) / sizeof(paths[0]));

	if (paths_ready || paths_busy || !zk_client_connected())
		return;
	paths_busy = true;
	for (int i = 0; i < n; i++) {
		if (zk_create(paths[i], NULL, 0, 0, on_path_made, i == n - 1 ? (void *)1 : NULL)) {
			paths_busy = false;
			return;
		}
	}
}

static void on_event(void *arg, int type, int state, const char *path)
{
	(void)arg;
	if (stopping)
		return;
	if (type == ZOO_SESSION_EVENT) {
		if (state == ZOO_EXPIRED_SESSION_STATE) {
			log_warn("zookeeper: the session expired (this node was cut off from the "
				 "ensemble for longer than %d ms): starting a new one and joining "
				 "again",
				 zk_client_timeout_ms());
			expired = true;
		} else if (state == ZOO_CONNECTED_STATE) {
			leader_ok_ms = now_ms(); /* the server has a quorum: it took the session */
			log_info("zookeeper: connected (session %" PRIx64 ", timeout %d ms)",
				 (uint64_t)zk_client_session(), zk_client_timeout_ms());
			paths_make();
			if (paths_ready) {
				zkl_read();
				members_refresh();
			}
		} else if (state == ZOO_CONNECTING_STATE) {
			log_warn("zookeeper: lost the connection to the ensemble; reconnecting");
		}
		return;
	}
	if (!strcmp(path, ZKD_LOG))
		zkl_read();
	else if (!strcmp(path, ZKD_MEMBERS))
		members_refresh();
}

void zkd_read_done(bool ok)
{
	read_failed = !ok;
	/* A read that fails again and again (a corrupt snapshot) is retried less and less often. */
	read_backoff_ms = ok ? 0 : read_backoff_ms ? read_backoff_ms * 2 : 200;
	if (read_backoff_ms > 10000)
		read_backoff_ms = 10000;
	read_retry_at = now_ms() + read_backoff_ms;
	if (syncs)
		evloop_defer(loop, &syncs_defer);
	if (!ok)
		return;
	members_check_gone();
	/* The snapshotter: the live member with the lowest id. */
	if (sdc.synced && nr_live_ids && is_live(sdc.my_id)) {
		uint64_t low = live_ids[0];

		for (int i = 1; i < nr_live_ids; i++)
			low = live_ids[i] < low ? live_ids[i] : low;
		if (low == sdc.my_id)
			zkl_maybe_snapshot();
	}
}

static void on_synced(void *arg, bool caught_up)
{
	(void)arg;
	sync_asked = false;
	if (sdc.fenced || stopping || !caught_up || !sdc_self_is_current())
		return;
	sdc.synced = true;
	log_info("caught up with the cluster at epoch %u: serving I/O", sys.cfg.epoch);
	sdc_publish_view();
	members_check_gone();
}

static void on_leader_sync(void *arg, const struct zk_result *r)
{
	(void)arg;
	leader_sync_busy = false;
	if (r->rc == ZOK)
		leader_ok_ms = now_ms();
}

static void tick(void *arg)
{
	bool f, connected;
	uint64_t now = now_ms();

	(void)arg;
	if (stopping)
		return;
	if (expired) {
		paths_ready = paths_busy = join_busy = members_busy = false;
		member_session = 0;
		if (zk_client_reopen() == 0)
			expired = false; /* else the next tick tries again */
		else
			log_err("zookeeper: cannot open a new session; trying again");
	}
	/*
	 * The client declares the connection lost after two thirds of the session timeout
	 * without an answer, and the ensemble expires the session at the full timeout: so stop
	 * at once, which leaves a third of the timeout before the others may remove this node.
	 * A switch to another server of the ensemble fences for the moment it takes; the
	 * gateway retries what it refused meanwhile.
	 */
	connected = zk_client_connected();
	if (connected && !leader_sync_busy &&
	    now - leader_ok_ms >= (uint64_t)zk_client_timeout_ms() / 6 &&
	    zk_sync(ZKD_ROOT, on_leader_sync, NULL) == 0)
		leader_sync_busy = true;
	f = !connected || now - leader_ok_ms > (uint64_t)zk_client_timeout_ms() / 2 ||
	    !sdc_self_is_member() || member_session != zk_client_session() || !member_session;
	if (f && sdc.synced) {
		sdc.synced = false; /* catch up again before serving */
		sdc_publish_view();
	}
	if (f != sdc.fenced) {
		sdc.fenced = f;
		if (f)
			log_warn("IO has halted as there are not enough living nodes: %s",
				 !connected ? "cut off from the ZooKeeper ensemble"
				 : !sdc_self_is_member()
					 ? "this node is not a member (yet)"
					 : "the ZooKeeper server does not reach its leader");
		else
			log_notice("the cluster is reachable again: serving writes");
		sdc_publish_view();
	}
	if (connected) {
		paths_make();
		join_try();
		if (now - last_refresh >= ZKD_REFRESH_MS || (read_failed && now >= read_retry_at)) {
			last_refresh = now;
			read_failed = false;
			zkl_read();
			members_refresh();
		}
	}
	if (!sdc.fenced && !sdc.synced && !sync_asked && sdc_self_is_current()) {
		sync_asked = true;
		zkd_sync(on_synced, NULL);
	}
	waiting_update();
	proposals_tick();
	if (syncs)
		syncs_check(NULL);
}

/* The API */

static void not_ours(sdc_done_fn done, void *arg)
{
	struct sdc_outcome o = { .result = SD_RES_INVALID_PARMS,
				 .msg = "this sheep runs the zookeeper cluster driver: every node "
					"of a cluster must run the same driver" };

	done(arg, &o);
}

static void zkd_on_join(const uint8_t *member, size_t len, sdc_done_fn done, void *arg)
{
	(void)member;
	(void)len;
	not_ours(done, arg);
}

static void zkd_on_propose(const uint8_t *cmd, size_t len, sdc_done_fn done, void *arg)
{
	(void)cmd;
	(void)len;
	not_ours(done, arg);
}

static void zkd_on_heartbeat(uint64_t raft_id, struct sdc_outcome *out)
{
	(void)raft_id;
	memset(out, 0, sizeof(*out));
	out->result = SD_RES_INVALID_PARMS;
	out->msg = "this sheep runs the zookeeper cluster driver";
}

static void on_forced(void *arg, const struct sdc_outcome *o)
{
	(void)arg;
	if (o->result)
		log_warn("zookeeper: a forced removal failed: %s", o->msg);
}

static int zkd_force_recover(char *msg, size_t len)
{
	int n = 0;

	if (!zk_client_connected() || member_session != zk_client_session()) {
		snprintf(msg, len,
			 "this node is not connected to the ZooKeeper ensemble as a member");
		return -ENOTCONN;
	}
	for (int i = 0; i < sys.nr_members; i++) {
		const struct cluster_member *m = &sys.members[i];
		Sdcl__Command cmd = SDCL__COMMAND__INIT;
		Sdcl__Member mm;
		uint8_t addr[16];

		if (m->raft_id == sdc.my_id || is_live(m->raft_id))
			continue;
		sm_member_to_msg(m, &mm, addr);
		cmd.op_case = SDCL__COMMAND__OP_LEAVE;
		cmd.leave = &mm;
		log_warn("zookeeper: removing absent node %016" PRIx64
			 " (dog cluster recover force)",
			 m->raft_id);
		zkd_propose(&cmd, on_forced, NULL);
		n++;
	}
	return n;
}

static const char *zkd_role(void)
{
	return "zookeeper";
}

static int zkd_start(const struct sdcluster_opts *o, struct evloop *lp, char *err, size_t errlen)
{
	int ret;

	opts = *o;
	loop = lp;
	sdc.loop = lp;
	sdc.shards = (uint16_t)o->nr_shards;
	sdc.cluster_port = 0;
	sys.clustered = true;
	next_seq = (uint64_t)time(NULL) << 20; /* grows across restarts */
	ret = sdc_load_id(err, errlen);
	if (ret)
		return ret;
	sdc_hooks_init(&hooks, NULL, on_member_left);
	ret = sm_init(&hooks);
	if (ret) {
		snprintf(err, errlen, "cannot read %s/sm-effects: %s", sys.dir, strerror(-ret));
		return ret;
	}
	evloop_defer_init(&syncs_defer, syncs_check, NULL);
	zkl_init();
	ret = zk_client_open(loop, o->zk_hosts, o->zk_timeout_ms, on_event, NULL);
	if (ret) {
		snprintf(err, errlen, "cannot start a ZooKeeper session to %s: %s", o->zk_hosts,
			 strerror(-ret));
		return ret;
	}
	evloop_timer_init(&tick_timer, tick, NULL);
	evloop_timer_start(loop, &tick_timer, ZKD_TICK_MS, ZKD_TICK_MS);
	if ((ret = sdc_services_start(err, errlen)))
		return ret;
	log_notice("zookeeper: node id %016" PRIx64 ", ensemble %s, session timeout %d ms",
		   sdc.my_id, o->zk_hosts, o->zk_timeout_ms);
	return 0;
}

static void zkd_stop(void)
{
	stopping = true;
	sdc_services_stop();
	evloop_timer_stop(loop, &tick_timer);
	/* Its member node goes now, so the others see the leave at once; every answer still due
	 * runs here, while what it points to is alive. */
	zk_client_close();
	syncs_check(NULL);
	while (proposals)
		proposal_finish(proposals, SD_RES_SHUTDOWN, "sheep is shutting down");
	zkl_stop();
	free(live_ids);
	live_ids = NULL;
	free(seen);
	seen = NULL;
	nr_seen = 0;
}

const struct sdc_driver sdc_zk_driver = { .name = "zookeeper",
					  .start = zkd_start,
					  .stop = zkd_stop,
					  .propose = zkd_propose,
					  .sync = zkd_sync,
					  .on_join = zkd_on_join,
					  .on_propose = zkd_on_propose,
					  .on_heartbeat = zkd_on_heartbeat,
					  .role = zkd_role,
					  .force_recover = zkd_force_recover };
