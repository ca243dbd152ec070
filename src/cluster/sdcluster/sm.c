/* The sdcluster state machine (sm.h): apply, snapshot, restore. */
#include "sm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../core/atomic_file.h"
#include "../../core/byteorder.h"
#include "../../core/conn_guard.h"
#include "../../core/inode.h"
#include "../../core/log.h"
#include "../../core/node.h"
#include "../../core/oid.h"
#include "../../core/result.h"
#include "../epoch_history.h"
#include "../obj_reaper.h"
#include "../obj_sweep.h"
#include "../sys.h"
#include "../vdi_internal.h"
#include "../vdi_reclaim.h"
#include "../../io/obj_fence.h"
#include "../vdi_share.h"
#include "../raft/raft_node.h"

#define SM_EFFECTS_FILE "sm-effects"
#define SM_MAX_ORIGINS	256

/*
 * The commands of one origin already applied: the highest seq, and which of the 63 below it
 * (bit k: seq - k). Two proposals of one node may commit out of order across a leader change;
 * a window, not only the highest, keeps the earlier one from being taken for a duplicate.
 */
struct applied {
	uint64_t origin, seq, window;
};

static const struct sm_hooks *hooks;
static uint64_t last_applied;
/* The command sm_apply last read (0, 0: none could be read). */
static uint64_t last_origin, last_seq;
/* The last WAITING command (a restart of the whole cluster waits for its members). */
static bool cluster_waiting;
static uint64_t effects_index; /* effects of commands at or below it already ran */
static struct epoch_entry *epochs;
static int nr_epochs;
static struct applied applied[SM_MAX_ORIGINS];
static int nr_applied;
/* The cluster's recovery settings, as dog last set them (unset parts: each node's own). */
static Sdcl__RecoveryCtl rec_ctl = SDCL__RECOVERY_CTL__INIT;
/*
 * When this node applied each epoch, by its own clock (epoch_history.h): kept in
 * DIR/epoch-times, one "EPOCH NANOSECONDS" line per epoch, so that a restart, which applies the
 * log again, keeps the first times.
 */
struct epoch_time {
	uint32_t epoch;
	uint64_t ns;
};
static struct epoch_time *etimes;
static int nr_etimes;
/*
 * The format the objects on this node's disk belong to (DIR/config). The state machine starts
 * empty and reaches the current configuration by applying the log; this only decides whether a
 * format (or a snapshot of a cluster formatted again meanwhile) must wipe the local store.
 */
static uint64_t local_ctime;

static void etimes_load(void)
{
	char path[PATH_MAX + 32], *text = NULL, *line, *save = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/epoch-times", sys.dir);
	n = file_read_all(path, &text, 16 << 20);
	if (n <= 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long e;
		unsigned long long ns;
		struct epoch_time *nt;

		if (sscanf(line, "%lu %llu", &e, &ns) != 2)
			continue;
		nt = realloc(etimes, sizeof(*nt) * (size_t)(nr_etimes + 1));
		if (!nt)
			break;
		etimes = nt;
		etimes[nr_etimes++] = (struct epoch_time){ (uint32_t)e, ns };
	}
	free(text);
}

/* The local time epoch was first applied here; records now if it never was. */
static uint64_t etime_of(uint32_t epoch)
{
	struct epoch_time *nt;
	struct timespec ts;
	char path[PATH_MAX + 32];
	FILE *f;

	for (int i = nr_etimes - 1; i >= 0; i--)
		if (etimes[i].epoch == epoch)
			return etimes[i].ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	nt = realloc(etimes, sizeof(*nt) * (size_t)(nr_etimes + 1));
	if (!nt)
		return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	etimes = nt;
	etimes[nr_etimes] = (struct epoch_time){ epoch, (uint64_t)ts.tv_sec * 1000000000u +
								(uint64_t)ts.tv_nsec };
	snprintf(path, sizeof(path), "%s/epoch-times", sys.dir);
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%u %" PRIu64 "\n", epoch, etimes[nr_etimes].ns);
		/* Durable before any write of the new epoch can land. */
		if (fflush(f) || fsync(fileno(f)))
			log_warn("cannot sync %s: %s", path, strerror(errno));
		fclose(f);
	} else {
		log_warn("cannot record epoch %u in %s: %s", epoch, path, strerror(errno));
	}
	return etimes[nr_etimes++].ns;
}

static void etimes_forget(void)
{
	char path[PATH_MAX + 32];

	free(etimes);
	etimes = NULL;
	nr_etimes = 0;
	snprintf(path, sizeof(path), "%s/epoch-times", sys.dir);
	unlink(path);
}

struct epoch_history *sm_history_new(void)
{
	uint32_t *ep = calloc((size_t)nr_epochs + 1, sizeof(*ep));
	uint64_t *at = calloc((size_t)nr_epochs + 1, sizeof(*at));
	const struct sd_node **m = calloc((size_t)nr_epochs + 1, sizeof(*m));
	int *nr = calloc((size_t)nr_epochs + 1, sizeof(*nr));
	struct epoch_history *h = NULL;

	if (ep && at && m && nr) {
		for (int i = 0; i < nr_epochs; i++) {
			ep[i] = epochs[i].epoch;
			at[i] = etime_of(epochs[i].epoch);
			m[i] = epochs[i].nodes;
			nr[i] = epochs[i].nr_nodes;
		}
		h = epoch_history_new(ep, at, m, nr, nr_epochs, &sys.self.nid);
	}
	free(ep);
	free(at);
	free(m);
	free(nr);
	return h;
}

int sm_init(const struct sm_hooks *h)
{
	char path[PATH_MAX + 32], *text = NULL;
	long n;

	hooks = h;
	sdcl__recovery_ctl__init(&rec_ctl);
	etimes_load();
	local_ctime = sys.cfg.ctime;
	/* The log says what the cluster is: a replay must not see a format it has not reached. */
	memset(&sys.cfg, 0, sizeof(sys.cfg));
	snprintf(path, sizeof(path), "%s/" SM_EFFECTS_FILE, sys.dir);
	n = file_read_all(path, &text, 64);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	effects_index = strtoull(text, NULL, 10);
	free(text);
	return 0;
}

uint64_t sm_last_applied(void)
{
	return last_applied;
}

void sm_set_applied(uint64_t index)
{
	last_applied = index;
}

void sm_last_command(uint64_t *origin, uint64_t *seq)
{
	*origin = last_origin;
	*seq = last_seq;
}

int sm_epochs(const struct epoch_entry **out)
{
	*out = epochs;
	return nr_epochs;
}

/* Whether this command's local effects still have to run; records that they now do. */
static bool effects_due(uint64_t index)
{
	char buf[32];
	int n, ret;

	if (index <= effects_index)
		return false;
	effects_index = index;
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", index);
	ret = atomic_file_write(sys.dir, SM_EFFECTS_FILE, buf, (size_t)n);
	if (ret)
		log_warn("cannot record applied effects in %s/" SM_EFFECTS_FILE
			 ": %s; a restart may run them again",
			 sys.dir, strerror(-ret));
	return true;
}

/* Members */

void sm_member_to_msg(const struct cluster_member *m, Sdcl__Member *msg, uint8_t addr[16])
{
	sdcl__member__init(msg);
	memcpy(addr, m->node.nid.addr, 16);
	msg->addr.data = addr;
	msg->addr.len = 16;
	msg->port = m->node.nid.port;
	msg->vnodes = m->node.nr_vnodes;
	msg->zone = m->node.zone;
	msg->space = m->node.space;
	msg->shards = m->shards;
	msg->raft_id = m->raft_id;
	msg->cluster_port = m->cluster_port;
	msg->recovered = m->recovered;
	msg->joined = m->joined;
}

int sm_member_from_msg(const Sdcl__Member *msg, struct cluster_member *m)
{
	if (!msg || msg->addr.len != 16 || msg->port > 65535 || msg->vnodes > 65535 ||
	    msg->shards > 65535 || msg->cluster_port > 65535 || !msg->raft_id)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	memcpy(m->node.nid.addr, msg->addr.data, 16);
	m->node.nid.port = (uint16_t)msg->port;
	m->node.nr_vnodes = (uint16_t)msg->vnodes;
	m->node.zone = msg->zone;
	m->node.space = msg->space;
	m->shards = (uint16_t)msg->shards;
	m->raft_id = msg->raft_id;
	m->cluster_port = (uint16_t)msg->cluster_port;
	m->recovered = msg->recovered;
	m->joined = msg->joined;
	return 0;
}

const struct cluster_member *sm_member_by_raft_id(uint64_t raft_id)
{
	for (int i = 0; i < sys.nr_members; i++)
		if (sys.members[i].raft_id == raft_id)
			return &sys.members[i];
	return NULL;
}

static int member_pos(const struct sd_node_id *nid)
{
	for (int i = 0; i < sys.nr_members; i++)
		if (!node_id_cmp(&sys.members[i].node.nid, nid))
			return i;
	return -1;
}

static int members_insert(const struct cluster_member *m)
{
	struct cluster_member *nm =
		realloc(sys.members, sizeof(*nm) * (size_t)(sys.nr_members + 1));
	int pos = 0;

	if (!nm)
		return -ENOMEM;
	sys.members = nm;
	while (pos < sys.nr_members && node_id_cmp(&nm[pos].node.nid, &m->node.nid) < 0)
		pos++;
	memmove(&nm[pos + 1], &nm[pos], sizeof(*nm) * (size_t)(sys.nr_members - pos));
	nm[pos] = *m;
	sys.nr_members++;
	return 0;
}

static void members_remove(int pos)
{
	memmove(&sys.members[pos], &sys.members[pos + 1],
		sizeof(*sys.members) * (size_t)(sys.nr_members - pos - 1));
	sys.nr_members--;
}

/* Epochs */

static int epoch_push(uint32_t epoch, uint64_t time)
{
	struct epoch_entry *ne = realloc(epochs, sizeof(*ne) * (size_t)(nr_epochs + 1));
	struct epoch_entry *e;

	if (!ne)
		return -ENOMEM;
	epochs = ne;
	e = &epochs[nr_epochs];
	e->epoch = epoch;
	e->time = time;
	e->nr_nodes = sys.nr_members;
	e->nodes = calloc((size_t)(sys.nr_members ? sys.nr_members : 1), sizeof(*e->nodes));
	if (!e->nodes)
		return -ENOMEM;
	for (int i = 0; i < sys.nr_members; i++)
		e->nodes[i] = sys.members[i].node;
	nr_epochs++;
	return 0;
}

static void epochs_clear(void)
{
	for (int i = 0; i < nr_epochs; i++)
		epoch_entry_free(&epochs[i]);
	free(epochs);
	epochs = NULL;
	nr_epochs = 0;
}

/* A membership change in a formatted cluster: the next epoch, logged the same on every node. */
static void new_epoch(uint64_t time)
{
	int ret;

	if (!sys.cfg.ctime)
		return;
	sys.cfg.epoch++;
	ret = epoch_push(sys.cfg.epoch, time);
	if (!ret)
		ret = epoch_log_write(sys.dir, &epochs[nr_epochs - 1]);
	etime_of(sys.cfg.epoch);
	if (!ret)
		ret = config_save(sys.dir, &sys.cfg);
	if (ret)
		log_err("cannot log epoch %u in %s: %s", sys.cfg.epoch, sys.dir, strerror(-ret));
	log_notice("epoch %u: %d node%s", sys.cfg.epoch, sys.nr_members,
		   sys.nr_members == 1 ? "" : "s");
}

static int apply_join(const Sdcl__Member *msg, uint64_t index, uint64_t time)
{
	struct cluster_member m;
	int pos;

	if (sm_member_from_msg(msg, &m))
		return SD_RES_INVALID_PARMS;
	pos = member_pos(&m.node.nid);
	/* Already a member, as it is (a rejoin after a restart): nothing changes. What it
	 * recovered is the cluster's record, not the joiner's to say. */
	if (pos >= 0) {
		m.recovered = sys.members[pos].recovered;
		m.joined = sys.members[pos].joined;
	}
	if (pos >= 0 && !memcmp(&sys.members[pos], &m, sizeof(m)))
		return SD_RES_SUCCESS;
	m.joined = index;
	/* Another node must not hold the raft id: a restarted node with a new id replaces itself.
	 */
	for (int i = 0; i < sys.nr_members; i++) {
		if (i != pos && sys.members[i].raft_id == m.raft_id)
			return SD_RES_INVALID_PARMS;
	}
	if (pos >= 0)
		sys.members[pos] = m;
	else if (members_insert(&m))
		return SD_RES_NO_MEM;
	new_epoch(time);
	if (hooks)
		hooks->members_changed();
	return SD_RES_SUCCESS;
}

static void set_lock(struct vdi *v, uint64_t holder)
{
	v->lock_holder = holder;
	v->lock_idle = 0;
	if (v->share)
		__atomic_store_n(&v->share->lock_holder, holder, __ATOMIC_RELEASE);
}

static int apply_leave(const Sdcl__Member *msg, uint64_t time)
{
	for (int i = 0; i < sys.nr_members; i++) {
		if (sys.members[i].raft_id != msg->raft_id)
			continue;
		/*
		 * Proposed while the member was silent, applied after it came back and joined
		 * again (a partition that healed meanwhile): it is alive, the removal is stale.
		 */
		if (msg->joined && msg->joined != sys.members[i].joined) {
			char host[64];

			node_addr_format(sys.members[i].node.nid.addr, host, sizeof(host));
			log_info("node %s:%u joined again after its removal was proposed: it stays",
				 host, sys.members[i].node.nid.port);
			return SD_RES_SUCCESS;
		}
		members_remove(i);
		/* Its writes in flight carry the old epoch: holders refuse them from now on. */
		for (int j = 0; j < sys.vdis.nr; j++) {
			if (sys.vdis.v[j]->writer == msg->raft_id)
				vdi_set_writer(sys.vdis.v[j], 0);
			/* Its clients are gone with it: so are their locks. */
			if (sys.vdis.v[j]->lock_holder == msg->raft_id)
				set_lock(sys.vdis.v[j], 0);
		}
		new_epoch(time);
		if (hooks) {
			hooks->member_left(msg->raft_id);
			hooks->members_changed();
		}
		return SD_RES_SUCCESS;
	}
	return SD_RES_SUCCESS; /* gone already */
}

static int apply_format(uint64_t index, const Sdcl__Config *c, uint64_t time)
{
	struct sd_config cfg = { 0 };
	char err[512];
	int ret;

	if (!c->ctime || !c->copies || c->copies > SD_MAX_COPIES || c->copy_policy > 255 ||
	    c->block_size_shift < SD_MIN_BLOCK_SHIFT || c->block_size_shift > SD_MAX_BLOCK_SHIFT ||
	    store_kind_parse(c->store) < 0)
		return SD_RES_INVALID_PARMS;
	cfg.ctime = c->ctime;
	cfg.copies = (uint8_t)c->copies;
	cfg.copy_policy = (uint8_t)c->copy_policy;
	cfg.block_size_shift = (uint8_t)c->block_size_shift;
	snprintf(cfg.store, sizeof(cfg.store), "%s", c->store);
	cfg.recycle_vid = c->recycle_vid;
	cfg.strict = c->strict;
	if (effects_due(index) && local_ctime != cfg.ctime) {
		etimes_forget(); /* the epochs of the cluster before are gone with its objects */
		ret = cluster_wipe_local(store_kind_parse(c->store), err, sizeof(err));
		if (ret)
			log_err("format: %s", err);
	} else {
		vdi_table_clear(&sys.vdis);
		export_table_publish();
	}
	epochs_clear();
	cfg.epoch = 0;
	sys.cfg = cfg;
	local_ctime = cfg.ctime;
	new_epoch(time); /* epoch 1: the members at the format */
	sys.shutdown = false;
	log_notice("cluster formatted: %s store, %u copies, policy 0x%x, %u-bit objects", cfg.store,
		   cfg.copies, cfg.copy_policy, cfg.block_size_shift);
	if (hooks)
		hooks->members_changed();
	return SD_RES_SUCCESS;
}

/* VDIs */

static struct vdi *live_vdi(uint32_t vid)
{
	return vdi_find_live(&sys.vdis, vid);
}

static int apply_vdi_create(const Sdcl__VdiCreate *c)
{
	char err[512];
	uint32_t vid;
	int ret;

	if (!sys.cfg.ctime)
		return SD_RES_WAIT_FOR_FORMAT;
	if (c->copies > SD_MAX_COPIES || c->copy_policy > 255)
		return SD_RES_INVALID_PARMS;
	ret = vdi_create(c->name, c->size, (uint8_t)c->copies, (uint8_t)c->copy_policy,
			 c->create_time, &vid, err, sizeof(err));
	if (ret)
		log_info("create of VDI %s refused: %s", c->name, err);
	else if (hooks)
		hooks->vdi_header_changed(vid);
	return ret;
}

static int apply_vdi_delete(uint64_t index, uint32_t vid)
{
	struct vdi *v = live_vdi(vid);
	char err[256];

	if (!v)
		return SD_RES_NO_VDI;
	return vdi_delete_cluster(v, effects_due(index), err, sizeof(err));
}

static int apply_vdi_resize(const Sdcl__VdiResize *r)
{
	struct vdi *v = live_vdi(r->vid);
	char err[256];

	int ret;

	if (!v)
		return SD_RES_NO_VDI;
	ret = vdi_resize(v, r->size, err, sizeof(err));
	if (!ret && hooks)
		hooks->vdi_header_changed(r->vid);
	return ret;
}

static int apply_vdi_attr(const Sdcl__VdiAttr *a)
{
	struct vdi *v = live_vdi(a->vid);
	char err[256];

	if (!v)
		return SD_RES_NO_VDI;
	return vdi_attr_set(v, a->key, a->value.data, (uint32_t)a->value.len, a->exclusive,
			    a->delete_, err, sizeof(err));
}

/*
 * A map change: alloc records objects written (copied up, for entries that named a parent);
 * free clears entries (TRIM). Either way what nothing names any more goes (vdi_reclaim.h).
 */
static int apply_map(uint64_t index, const Sdcl__MapChange *m)
{
	struct vdi *v = live_vdi(m->vid);
	struct vdi_garbage g = { 0 };
	uint32_t last;

	if (!v)
		return SD_RES_NO_VDI;
	if (v->hdr.snap_ctime) {
		/* Snapshotted meanwhile: the writer moves on; what it wrote is garbage. */
		obj_sweep_kick();
		return SD_RES_READONLY;
	}
	if (m->first > m->last || m->first >= v->map_len)
		return SD_RES_INVALID_PARMS;
	last = m->last < v->map_len ? m->last : v->map_len - 1;
	for (uint32_t i = m->first; i <= last; i++) {
		uint32_t old = v->map[i];

		if (m->alloc && old != m->vid) {
			vdi_map_set(v, i, m->vid);
			vdi_unref(old, i, &g);
		} else if (!m->alloc && old) {
			vdi_map_set(v, i, 0);
			vdi_unref(old, i, &g);
		}
	}
	vdi_share_publish_map(v, m->first, last);
	if (hooks)
		hooks->vdi_map_changed(m->vid, m->first, last);
	if (effects_due(index))
		vdi_garbage_dispose(&g, true);
	else
		vdi_garbage_forget(&g);
	return SD_RES_SUCCESS;
}

static int apply_vdi_snapshot(const Sdcl__VdiSnapshot *c)
{
	struct vdi *v = live_vdi(c->vid);
	char err[512];
	uint32_t vid;
	int ret;

	if (!v)
		return SD_RES_NO_VDI;
	ret = vdi_snapshot(v, c->tag ? c->tag : "", c->create_time, &vid, err, sizeof(err));
	if (ret) {
		log_info("snapshot of VDI %s refused: %s", v->hdr.name, err);
		return ret;
	}
	if (hooks) {
		hooks->vdi_header_changed(c->vid);
		hooks->vdi_header_changed(vid);
		hooks->vdi_map_changed(vid, 0, v->map_len ? v->map_len - 1 : 0);
	}
	return SD_RES_SUCCESS;
}

static int apply_vdi_clone(const Sdcl__VdiClone *c)
{
	struct vdi *s = live_vdi(c->snap_vid);
	char err[512];
	uint32_t vid;
	int ret;

	if (!s)
		return SD_RES_NO_VDI;
	ret = vdi_clone(s, c->name ? c->name : "", c->create_time, &vid, err, sizeof(err));
	if (ret) {
		log_info("clone of VDI %s refused: %s", s->hdr.name, err);
		return ret;
	}
	if (hooks) {
		hooks->vdi_header_changed(vid);
		hooks->vdi_map_changed(vid, 0, s->map_len ? s->map_len - 1 : 0);
	}
	return SD_RES_SUCCESS;
}

static int apply_vdi_rollback(uint64_t index, const Sdcl__VdiRollback *c)
{
	struct vdi *cur = live_vdi(c->vid), *s = live_vdi(c->snap_vid);
	char err[512];
	uint32_t vid;
	int ret;

	if (!cur || !s)
		return SD_RES_NO_VDI;
	ret = vdi_rollback(cur, s, c->create_time, effects_due(index), &vid, err, sizeof(err));
	if (ret) {
		log_info("rollback of VDI %s refused: %s", cur->hdr.name, err);
		return ret;
	}
	if (hooks) {
		hooks->vdi_header_changed(vid);
		hooks->vdi_map_changed(vid, 0, s->map_len ? s->map_len - 1 : 0);
	}
	return SD_RES_SUCCESS;
}

static bool is_member(uint64_t raft_id)
{
	return sm_member_by_raft_id(raft_id) != NULL;
}

/*
 * dog vdi alter-copy of a standalone VDI (no parent, no descendant: no object is shared).
 * The next epoch places its objects with the new copies: recovery gives the new holders their
 * copies and, once every node is done, removes the extra ones. A copy older than that epoch
 * counts as current only if this node held it under the smaller of both copy counts
 * (obj_check.c): placements are prefixes of one another.
 */
static int apply_vdi_alter_copy(const Sdcl__VdiAlterCopy *a, uint64_t time)
{
	struct vdi *v = live_vdi(a->vid);
	char err[256];

	if (!v)
		return SD_RES_NO_VDI;
	if (v->hdr.snap_ctime || v->hdr.parent_vdi_id || v->nr_shared || v->hdr.copy_policy)
		return SD_RES_INVALID_PARMS;
	for (int i = 0; i < sys.vdis.nr; i++)
		if (sys.vdis.v[i]->hdr.parent_vdi_id == a->vid && sys.vdis.v[i]->hdr.name[0])
			return SD_RES_INVALID_PARMS;
	if (!a->copies || a->copies > SD_MAX_COPIES ||
	    cluster_check_copies_fit((uint8_t)a->copies, err, sizeof(err)))
		return SD_RES_INVALID_PARMS;
	if (a->copies == v->hdr.nr_copies)
		return SD_RES_SUCCESS;
	log_notice("VDI %s: %u copies instead of %u, from epoch %u on", v->hdr.name, a->copies,
		   v->hdr.nr_copies, sys.cfg.epoch + 1);
	v->prev_copies = v->hdr.nr_copies;
	v->hdr.nr_copies = (uint8_t)a->copies;
	v->copies_epoch = sys.cfg.epoch + 1;
	if (v->share) {
		v->share->prev_copies = v->prev_copies;
		__atomic_store_n(&v->share->copies_epoch, v->copies_epoch, __ATOMIC_RELEASE);
		__atomic_store_n(&v->share->copies, v->hdr.nr_copies, __ATOMIC_RELEASE);
	}
	new_epoch(time);
	if (hooks) {
		hooks->vdi_header_changed(a->vid);
		hooks->members_changed();
	}
	return SD_RES_SUCCESS;
}

/* VDI locks (vdi_lock.h): one node at a time, a member, unless the VDI is shareable. */
static int apply_vdi_lock(const Sdcl__VdiLock *l)
{
	struct vdi *v = live_vdi(l->vid);

	if (!v)
		return SD_RES_NO_VDI;
	if (v->hdr.snap_ctime)
		return SD_RES_READONLY;
	if (l->set_shareable) {
		v->shareable = l->shareable;
		if (v->share)
			__atomic_store_n(&v->share->shareable, l->shareable, __ATOMIC_RELEASE);
		if (l->shareable)
			set_lock(v, 0);
		return SD_RES_SUCCESS;
	}
	if (!l->acquire) {
		if (l->force || v->lock_holder == l->holder)
			set_lock(v, 0);
		return SD_RES_SUCCESS;
	}
	if (v->shareable)
		return SD_RES_SUCCESS;
	if (v->lock_holder && v->lock_holder != l->holder && is_member(v->lock_holder))
		return SD_RES_VDI_LOCKED;
	if (!is_member(l->holder))
		return SD_RES_INVALID_PARMS;
	set_lock(v, l->holder);
	return SD_RES_SUCCESS;
}

/* The write lease (vdi_lease.h): one holder at a time, a member. */
static int apply_lease(const Sdcl__VdiLease *l)
{
	struct vdi *v = live_vdi(l->vid);

	if (!v)
		return SD_RES_NO_VDI;
	if (l->acquire && v->hdr.snap_ctime)
		return SD_RES_READONLY; /* a snapshot takes no writes */
	if (!l->acquire) {
		if (v->writer == l->holder) {
			log_debug("VDI %s: write lease given back by %016" PRIx64, v->hdr.name,
				  l->holder);
			vdi_set_writer(v, 0);
		}
		return SD_RES_SUCCESS;
	}
	if (v->writer == l->holder)
		return SD_RES_SUCCESS; /* held already: nothing changes, `releasing` included */
	if (v->writer && is_member(v->writer))
		return SD_RES_VDI_LOCKED;
	if (!is_member(l->holder))
		return SD_RES_INVALID_PARMS;
	/* The new holder's idle time counts from now, not from its last lease. */
	if (v->share)
		__atomic_store_n(&v->share->seq_last_ms, guard_clock_ms(), __ATOMIC_RELAXED);
	log_debug("VDI %s: write lease taken by %016" PRIx64, v->hdr.name, l->holder);
	vdi_set_writer(v, l->holder);
	return SD_RES_SUCCESS;
}

/*
 * A node finished recovering epoch e. Once every member of the latest epoch has, no node needs
 * a copy it does not hold in that epoch any more: each may remove them (recovery.h).
 */
static int apply_recovered(uint64_t index, const Sdcl__RecoveryDone *r)
{
	bool all = true;

	for (int i = 0; i < sys.nr_members; i++) {
		if (sys.members[i].raft_id == r->holder && r->epoch <= sys.cfg.epoch &&
		    r->epoch > sys.members[i].recovered)
			sys.members[i].recovered = r->epoch;
		all &= sys.members[i].recovered == sys.cfg.epoch;
	}
	if (all && r->epoch == sys.cfg.epoch && effects_due(index) && hooks)
		hooks->recovered(sys.cfg.epoch);
	return SD_RES_SUCCESS;
}

static void recovery_ctl_merge(const Sdcl__RecoveryCtl *r)
{
	if (r->set_throttle) {
		rec_ctl.set_throttle = true;
		rec_ctl.max = r->max;
		rec_ctl.interval_ms = r->interval_ms;
	}
	if (r->set_enabled) {
		rec_ctl.set_enabled = true;
		rec_ctl.enabled = r->enabled;
	}
	if (hooks)
		hooks->recovery_ctl(&rec_ctl);
}

/* Idempotence: (origin, seq) pairs already applied. */
static bool seen(uint64_t origin, uint64_t seq)
{
	int oldest = 0;

	if (!origin)
		return false;
	for (int i = 0; i < nr_applied; i++) {
		struct applied *a = &applied[i];

		if (a->origin == origin) {
			uint64_t d;

			if (seq > a->seq) {
				d = seq - a->seq;
				a->window = (d >= 64 ? 0 : a->window << d) | 1;
				a->seq = seq;
				return false;
			}
			d = a->seq - seq;
			if (d >= 64 || (a->window >> d & 1))
				return true; /* older than the window: long since answered */
			a->window |= (uint64_t)1 << d;
			return false;
		}
		if (a->seq < applied[oldest].seq)
			oldest = i;
	}
	if (nr_applied < SM_MAX_ORIGINS)
		applied[nr_applied++] = (struct applied){ origin, seq, 1 };
	else
		applied[oldest] = (struct applied){ origin, seq, 1 };
	return false;
}

int sm_apply(void *ctx, uint64_t index, const void *data, size_t len)
{
	Sdcl__Command *c = sdcl__command__unpack(NULL, len, data);
	int ret = SD_RES_INVALID_PARMS;

	(void)ctx;
	last_applied = index;
	last_origin = c ? c->origin : 0;
	last_seq = c ? c->seq : 0;
	if (!c) {
		log_err("Raft entry %" PRIu64 " is not a cluster command (%zu bytes); skipped",
			index, len);
		return SD_RES_INVALID_PARMS;
	}
	if (seen(c->origin, c->seq)) {
		sdcl__command__free_unpacked(c, NULL);
		return SM_DUPLICATE;
	}
	switch (c->op_case) {
	case SDCL__COMMAND__OP_JOIN:
		ret = apply_join(c->join, index, c->time);
		break;
	case SDCL__COMMAND__OP_LEAVE:
		ret = apply_leave(c->leave, c->time);
		break;
	case SDCL__COMMAND__OP_FORMAT:
		ret = apply_format(index, c->format, c->time);
		break;
	case SDCL__COMMAND__OP_VDI_CREATE:
		ret = apply_vdi_create(c->vdi_create);
		break;
	case SDCL__COMMAND__OP_VDI_DELETE:
		ret = apply_vdi_delete(index, c->vdi_delete);
		break;
	case SDCL__COMMAND__OP_VDI_RESIZE:
		ret = apply_vdi_resize(c->vdi_resize);
		break;
	case SDCL__COMMAND__OP_VDI_ATTR:
		ret = apply_vdi_attr(c->vdi_attr);
		break;
	case SDCL__COMMAND__OP_MAP:
		ret = apply_map(index, c->map);
		break;
	case SDCL__COMMAND__OP_VDI_SNAPSHOT:
		ret = apply_vdi_snapshot(c->vdi_snapshot);
		break;
	case SDCL__COMMAND__OP_VDI_CLONE:
		ret = apply_vdi_clone(c->vdi_clone);
		break;
	case SDCL__COMMAND__OP_VDI_ROLLBACK:
		ret = apply_vdi_rollback(index, c->vdi_rollback);
		break;
	case SDCL__COMMAND__OP_VDI_LOCK:
		ret = apply_vdi_lock(c->vdi_lock);
		break;
	case SDCL__COMMAND__OP_ALTER_COPIES:
		ret = cluster_alter_copies(c->alter_copies);
		break;
	case SDCL__COMMAND__OP_VDI_ALTER_COPY:
		ret = apply_vdi_alter_copy(c->vdi_alter_copy, c->time);
		break;
	case SDCL__COMMAND__OP_LEASE:
		ret = apply_lease(c->lease);
		break;
	case SDCL__COMMAND__OP_RECOVERED:
		ret = apply_recovered(index, c->recovered);
		break;
	case SDCL__COMMAND__OP_RECOVERY_CTL:
		recovery_ctl_merge(c->recovery_ctl);
		ret = SD_RES_SUCCESS;
		break;
	case SDCL__COMMAND__OP_WAITING:
		/* In snapshots too: a node that catches up from one must not miss the change. */
		cluster_waiting = c->waiting;
		if (hooks && hooks->waiting)
			hooks->waiting(c->waiting);
		ret = SD_RES_SUCCESS;
		break;
	case SDCL__COMMAND__OP_SHUTDOWN:
		/* Not state: a restart of every node after it serves again. */
		if (effects_due(index) && hooks)
			hooks->shutdown();
		ret = SD_RES_SUCCESS;
		break;
	default:
		log_warn("Raft entry %" PRIu64 " has an unknown command %d (a newer sheep?); "
			 "skipped",
			 index, (int)c->op_case);
		break;
	}
	sdcl__command__free_unpacked(c, NULL);
	return ret;
}

/* Snapshots */

struct snap_arena {
	void **p;
	int n, cap;
};

static void *arena_alloc(struct snap_arena *a, size_t size)
{
	void *p;

	if (a->n == a->cap) {
		int cap = a->cap ? a->cap * 2 : 64;
		void **np = realloc(a->p, sizeof(*np) * (size_t)cap);

		if (!np)
			return NULL;
		a->p = np;
		a->cap = cap;
	}
	p = calloc(1, size ? size : 1);
	if (p)
		a->p[a->n++] = p;
	return p;
}

static void arena_free(struct snap_arena *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

static Sdcl__Member **members_msg(struct snap_arena *a, const struct cluster_member *m, int n)
{
	Sdcl__Member **v = arena_alloc(a, sizeof(*v) * (size_t)n);

	if (!v)
		return NULL;
	for (int i = 0; i < n; i++) {
		uint8_t *addr = arena_alloc(a, 16);

		v[i] = arena_alloc(a, sizeof(**v));
		if (!v[i] || !addr)
			return NULL;
		sm_member_to_msg(&m[i], v[i], addr);
	}
	return v;
}

static Sdcl__Vdi *vdi_msg(struct snap_arena *a, const struct vdi *v)
{
	Sdcl__Vdi *m = arena_alloc(a, sizeof(*m));
	uint8_t *hdr = arena_alloc(a, SD_INODE_HEADER_SIZE);
	uint8_t *map = arena_alloc(a, (size_t)v->map_len * 4);

	if (!m || !hdr || !map)
		return NULL;
	sdcl__vdi__init(m);
	inode_hdr_encode(&v->hdr, hdr);
	m->hdr.data = hdr;
	m->hdr.len = SD_INODE_HDR_PART;
	for (uint32_t i = 0; i < v->map_len; i++)
		put_le32(map + 4 * i, v->map[i]);
	m->map.data = map;
	m->map.len = (size_t)v->map_len * 4;
	m->writer = v->writer;
	m->inode_kept = v->inode_kept;
	m->lock_holder = v->lock_holder;
	m->shareable = v->shareable;
	m->copies_epoch = v->copies_epoch;
	m->prev_copies = v->prev_copies;
	m->attrs = arena_alloc(a, sizeof(*m->attrs) * (size_t)v->nr_kv);
	if (!m->attrs)
		return NULL;
	for (int i = 0; i < v->nr_kv; i++) {
		Sdcl__Attr *at = arena_alloc(a, sizeof(*at));

		if (!at)
			return NULL;
		sdcl__attr__init(at);
		at->key = v->kv[i].key;
		at->value.data = v->kv[i].value;
		at->value.len = v->kv[i].len;
		m->attrs[m->n_attrs++] = at;
	}
	return m;
}

int sm_snapshot(void *ctx, void **out, size_t *out_len)
{
	struct snap_arena a = { 0 };
	Sdcl__State st = SDCL__STATE__INIT;
	Sdcl__Config cfg = SDCL__CONFIG__INIT;
	int ret = -ENOMEM;
	size_t len;

	(void)ctx;
	cfg.ctime = sys.cfg.ctime;
	cfg.copies = sys.cfg.copies;
	cfg.copy_policy = sys.cfg.copy_policy;
	cfg.block_size_shift = sys.cfg.block_size_shift;
	cfg.store = sys.cfg.store;
	cfg.recycle_vid = sys.cfg.recycle_vid;
	cfg.strict = sys.cfg.strict;
	st.cfg = &cfg;
	st.epoch = sys.cfg.epoch;
	st.recovery = &rec_ctl;
	st.waiting = cluster_waiting;
	st.n_members = (size_t)sys.nr_members;
	st.members = members_msg(&a, sys.members, sys.nr_members);
	st.vdis = arena_alloc(&a, sizeof(*st.vdis) * (size_t)sys.vdis.nr);
	st.epochs = arena_alloc(&a, sizeof(*st.epochs) * (size_t)nr_epochs);
	st.applied = arena_alloc(&a, sizeof(*st.applied) * (size_t)nr_applied);
	if (!st.members || !st.vdis || !st.epochs || !st.applied)
		goto out;
	for (int i = 0; i < sys.vdis.nr; i++) {
		if (!(st.vdis[i] = vdi_msg(&a, sys.vdis.v[i])))
			goto out;
		st.n_vdis++;
	}
	for (int i = 0; i < nr_epochs; i++) {
		Sdcl__Epoch *e = arena_alloc(&a, sizeof(*e));
		struct cluster_member *ms =
			arena_alloc(&a, sizeof(*ms) * (size_t)(epochs[i].nr_nodes + 1));

		if (!e || !ms)
			goto out;
		sdcl__epoch__init(e);
		e->epoch = epochs[i].epoch;
		e->time = epochs[i].time;
		for (int k = 0; k < epochs[i].nr_nodes; k++) {
			ms[k].node = epochs[i].nodes[k];
			ms[k].raft_id = 1; /* not kept per epoch; non-zero so it decodes */
		}
		e->members = members_msg(&a, ms, epochs[i].nr_nodes);
		if (!e->members)
			goto out;
		e->n_members = (size_t)epochs[i].nr_nodes;
		st.epochs[st.n_epochs++] = e;
	}
	for (int i = 0; i < nr_applied; i++) {
		Sdcl__Applied *ap = arena_alloc(&a, sizeof(*ap));

		if (!ap)
			goto out;
		sdcl__applied__init(ap);
		ap->origin = applied[i].origin;
		ap->seq = applied[i].seq;
		ap->window = applied[i].window;
		st.applied[st.n_applied++] = ap;
	}
	len = sdcl__state__get_packed_size(&st);
	*out = raft_node_buf_alloc(len ? len : 1);
	if (!*out)
		goto out;
	sdcl__state__pack(&st, *out);
	*out_len = len;
	ret = 0;
out:
	arena_free(&a);
	return ret;
}

static struct vdi *vdi_from_msg(const Sdcl__Vdi *m)
{
	struct vdi *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	if (m->map.len % 4 || inode_hdr_decode(m->hdr.data, m->hdr.len, &v->hdr) < 0 ||
	    vdi_map_resize(v, (uint32_t)(m->map.len / 4))) {
		vdi_free(v);
		return NULL;
	}
	for (uint32_t i = 0; i < v->map_len; i++)
		vdi_map_set(v, i, get_le32(m->map.data + 4 * i));
	v->writer = m->writer;
	v->inode_kept = m->inode_kept;
	v->lock_holder = m->lock_holder;
	v->shareable = m->shareable;
	v->copies_epoch = m->copies_epoch;
	v->prev_copies = (uint8_t)m->prev_copies;
	for (size_t i = 0; i < m->n_attrs; i++) {
		char err[128];

		if (vdi_attr_set(v, m->attrs[i]->key, m->attrs[i]->value.data,
				 (uint32_t)m->attrs[i]->value.len, false, false, err,
				 sizeof(err))) {
			vdi_free(v);
			return NULL;
		}
	}
	return v;
}

/*
 * A VDI that lives on through a snapshot install keeps its share: open NBD connections go on
 * serving it, and writes in flight under its write lease stay counted (vdi_lease.h).
 */
static void share_carry_over(struct vdi *v, struct vdi_share **old, int nr_old)
{
	for (int i = 0; i < nr_old; i++) {
		struct vdi_share *sh = old[i];

		if (!sh || sh->vid != v->hdr.vdi_id || sh->read_only != (v->hdr.snap_ctime != 0))
			continue;
		old[i] = NULL;
		v->share = sh;
		sh->copies = v->hdr.nr_copies ? v->hdr.nr_copies : 1;
		__atomic_store_n(&sh->copies_epoch, v->copies_epoch, __ATOMIC_RELEASE);
		sh->prev_copies = v->prev_copies;
		__atomic_store_n(&sh->size, v->hdr.vdi_size, __ATOMIC_RELEASE);
		vdi_share_publish_map(v, 0, v->map_len ? v->map_len - 1 : 0);
		__atomic_store_n(&sh->lock_holder, v->lock_holder, __ATOMIC_RELEASE);
		__atomic_store_n(&sh->shareable, v->shareable, __ATOMIC_RELEASE);
		if (__atomic_load_n(&sh->writer, __ATOMIC_SEQ_CST) != v->writer) {
			__atomic_store_n(&sh->writer, v->writer, __ATOMIC_SEQ_CST);
			__atomic_store_n(&sh->releasing, 0, __ATOMIC_SEQ_CST);
		}
		return;
	}
}

int sm_restore(void *ctx, const void *data, size_t len)
{
	Sdcl__State *st = sdcl__state__unpack(NULL, len, data);
	struct vdi_share **old = NULL;
	int nr_old = 0, ret = -EINVAL;

	(void)ctx;
	if (!st || !st->cfg)
		goto out;
	old = calloc((size_t)sys.vdis.nr + 1, sizeof(*old));
	for (int i = 0; old && i < sys.vdis.nr; i++) {
		if (sys.vdis.v[i]->share && sys.vdis.v[i]->hdr.name[0]) {
			old[nr_old++] = sys.vdis.v[i]->share;
			sys.vdis.v[i]->share = NULL;
		}
	}
	vdi_table_clear(&sys.vdis);
	epochs_clear();
	sys.nr_members = 0;
	nr_applied = 0;
	for (size_t i = 0; i < st->n_members; i++) {
		struct cluster_member m;

		if (sm_member_from_msg(st->members[i], &m) || members_insert(&m))
			goto out;
	}
	for (size_t i = 0; i < st->n_vdis; i++) {
		struct vdi *v = vdi_from_msg(st->vdis[i]);

		if (v && v->hdr.name[0])
			share_carry_over(v, old, nr_old);
		if (!v || vdi_table_insert(&sys.vdis, v)) {
			vdi_free(v);
			goto out;
		}
	}
	for (size_t i = 0; i < st->n_epochs; i++) {
		const Sdcl__Epoch *e = st->epochs[i];
		struct epoch_entry *ne = realloc(epochs, sizeof(*ne) * (size_t)(nr_epochs + 1));

		if (!ne)
			goto out;
		epochs = ne;
		ne[nr_epochs] = (struct epoch_entry){ .epoch = e->epoch, .time = e->time };
		ne[nr_epochs].nodes = calloc(e->n_members + 1, sizeof(struct sd_node));
		if (!ne[nr_epochs].nodes)
			goto out;
		for (size_t k = 0; k < e->n_members; k++) {
			struct cluster_member m;

			if (sm_member_from_msg(e->members[k], &m))
				goto out;
			ne[nr_epochs].nodes[k] = m.node;
		}
		ne[nr_epochs].nr_nodes = (int)e->n_members;
		nr_epochs++;
		/* A node that was away gets the epochs it missed in its log. */
		epoch_log_write(sys.dir, &epochs[nr_epochs - 1]);
	}
	for (size_t i = 0; i < st->n_applied && i < SM_MAX_ORIGINS; i++)
		applied[nr_applied++] = (struct applied){
			st->applied[i]->origin, st->applied[i]->seq,
			/* A snapshot of an older sheep: only the highest is known. */
			st->applied[i]->window ? st->applied[i]->window : 1
		};
	if (st->cfg->ctime != local_ctime && local_ctime) {
		char err[512];

		/* Formatted again while this node was away: its objects are of the old cluster. */
		etimes_forget();
		if (cluster_wipe_local(store_kind_parse(st->cfg->store), err, sizeof(err)))
			log_err("restore: %s", err);
	}
	sys.cfg.ctime = st->cfg->ctime;
	local_ctime = sys.cfg.ctime;
	sys.cfg.copies = (uint8_t)st->cfg->copies;
	sys.cfg.copy_policy = (uint8_t)st->cfg->copy_policy;
	sys.cfg.block_size_shift = (uint8_t)st->cfg->block_size_shift;
	snprintf(sys.cfg.store, sizeof(sys.cfg.store), "%s", st->cfg->store);
	sys.cfg.recycle_vid = st->cfg->recycle_vid;
	sys.cfg.strict = st->cfg->strict;
	sdcl__recovery_ctl__init(&rec_ctl);
	if (st->recovery)
		recovery_ctl_merge(st->recovery);
	cluster_waiting = st->waiting;
	if (hooks && hooks->waiting)
		hooks->waiting(cluster_waiting);
	sys.cfg.epoch = st->epoch;
	if (sys.cfg.ctime && (ret = config_save(sys.dir, &sys.cfg)))
		log_err("cannot save %s/config: %s", sys.dir, strerror(-ret));
	/* What the commands behind the snapshot would have fenced and frozen (obj_fence.h). */
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (!v->hdr.name[0] && !v->inode_kept && obj_fence_set(v->hdr.vdi_id, true))
			log_warn("out of memory fencing VDI id %" PRIx32, v->hdr.vdi_id);
	}
	vdi_freeze_snapshots();
	export_table_publish();
	obj_sweep_kick(); /* copies of what was freed while this node was behind */
	/* A working VDI snapshotted meanwhile: its connections follow the name (nbd_cmd.c). */
	for (int i = 0; i < nr_old; i++) {
		struct vdi *w = old[i] && !old[i]->read_only
					? vdi_find_name(&sys.vdis, old[i]->name)
					: NULL;

		if (w && w->hdr.vdi_id != old[i]->vid)
			__atomic_store_n(&old[i]->successor, w->hdr.vdi_id, __ATOMIC_RELEASE);
	}
	if (hooks)
		hooks->members_changed();
	ret = 0;
out:
	/* VDIs the snapshot no longer has: their readers see them deleted. */
	for (int i = 0; i < nr_old; i++) {
		if (old[i]) {
			__atomic_store_n(&old[i]->deleted, 1, __ATOMIC_RELEASE);
			vdi_share_put(old[i]);
		}
	}
	free(old);
	if (ret)
		log_err("the cluster state snapshot is corrupt (%zu bytes)", len);
	if (st)
		sdcl__state__free_unpacked(st, NULL);
	return ret;
}
