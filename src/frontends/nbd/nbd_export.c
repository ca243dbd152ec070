/* Export lookup and listing for the handshake, served from the shard's export table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cluster/cluster_view.h"
#include "../../cluster/sdcluster/sdcluster.h"
#include "../../cluster/sdcluster/vdi_lock.h"
#include "../../cluster/vdi_share.h"
#include "../../core/log.h"
#include "nbd_conn.h"

#define NBD_PREF_BLOCK 4096u

/* A multi-node sdcluster (members carry raft ids): another node may know a VDI this one not yet. */
static bool may_lag(void)
{
	const struct cluster_view *v = cluster_view_current();

	return v && v->raft_ids && v->ring.nr_nodes > 1;
}

int nbd_export_lookup(void *ctx, const char *name, struct nbd_export_info *info, char *msg,
		      size_t msglen)
{
	struct nbd_conn *c = ctx;
	const struct export_table *t = export_table_current();
	struct vdi_share *sh;

	if (!name[0]) {
		snprintf(msg, msglen,
			 "sheep has no default export: name a VDI (nbd://host:port/VDI), or list "
			 "them with 'dog vdi list' or 'nbdinfo --list'");
		return -ENOENT;
	}
	sh = export_table_find(t, name);
	if (!sh) {
		if (!c->export_synced && may_lag())
			c->export_miss = true;
		snprintf(msg, msglen, "no VDI named '%s' on this cluster", name);
		return -ENOENT;
	}
	info->size = vdi_share_size(sh);
	info->tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		       NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE;
	if (sh->read_only)
		info->tflags |= NBD_FLAG_READ_ONLY;
	else
		info->tflags |=
			NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	/* DF only means something with structured replies, and may be offered only then. */
	if (c->neg.structured)
		info->tflags |= NBD_FLAG_SEND_DF;
	info->min_block = 1;
	info->pref_block = NBD_PREF_BLOCK;
	info->max_block = NBD_MAX_PAYLOAD;
	return 0;
}

void nbd_export_list(void *ctx, void (*emit)(void *arg, const char *name), void *arg)
{
	const struct export_table *t = export_table_current();

	(void)ctx;
	for (int i = 0; t && i < t->nr; i++)
		emit(arg, t->e[i]->name);
}

static void synced_on_shard(void *arg)
{
	nbd_conn_export_synced(arg);
}

static void sync_done(void *arg, bool caught_up)
{
	struct nbd_conn *c = arg;

	(void)caught_up; /* without a leader, what this node knows has to do */
	c->sync_msg.fn = synced_on_shard;
	c->sync_msg.arg = c;
	msg_send(c->shard_id, &c->sync_msg);
}

static void sync_on_control(void *arg)
{
	sdcluster_sync(sync_done, arg);
}

void nbd_export_sync(struct nbd_conn *c)
{
	c->sync_msg.fn = sync_on_control;
	c->sync_msg.arg = c;
	msg_send(msg_mesh_size() - 1, &c->sync_msg); /* the control thread comes after the shards */
}

/* The snapshot of vdi_name whose tag is from, or whose id it is when from is all digits. */
static struct vdi_share *find_snapshot(const struct export_table *t, const char *vdi_name,
				       const char *from)
{
	char *end;
	unsigned long id = strtoul(from, &end, 10);
	bool by_id = from[0] >= '0' && from[0] <= '9' && !*end;
	size_t n = strlen(vdi_name);

	for (int i = 0; t && i < t->nr; i++) {
		struct vdi_share *sh = t->e[i];

		if (!sh->read_only || strcmp(sh->vdi_name, vdi_name))
			continue;
		if (by_id ? sh->snap_id == id : !strcmp(sh->name + n + 1, from))
			return sh;
	}
	return NULL;
}

/* to (an export name) is a snapshot, and from an older snapshot of the same VDI. */
static struct vdi_share *older_snapshot(const char *to_name, const char *from)
{
	const struct export_table *t = export_table_current();
	struct vdi_share *to = export_table_find(t, to_name), *f;

	if (!to || !to->read_only)
		return NULL;
	f = find_snapshot(t, to->vdi_name, from);
	return f && f->snap_id < to->snap_id ? f : NULL;
}

int nbd_export_dirty_from(void *ctx, const char *name, const char *from)
{
	(void)ctx;
	return older_snapshot(name, from) ? 0 : -ENOENT;
}

void nbd_export_list_dirty(void *ctx, const char *name, void (*emit)(void *arg, const char *from),
			   void *arg)
{
	const struct export_table *t = export_table_current();
	struct vdi_share *to = export_table_find(t, name);
	size_t n;

	(void)ctx;
	if (!to || !to->read_only)
		return;
	n = strlen(to->vdi_name);
	for (int i = 0; i < t->nr; i++) {
		struct vdi_share *sh = t->e[i];

		if (sh->read_only && sh->snap_id < to->snap_id &&
		    !strcmp(sh->vdi_name, to->vdi_name))
			emit(arg, sh->name + n + 1); /* its tag, or its id */
	}
}

struct vdi_share *nbd_export_find_from(const char *name, const char *from)
{
	struct vdi_share *f = older_snapshot(name, from);

	if (f)
		vdi_share_get(f);
	return f;
}

/* "host:port" of the member with this raft id in the shard's view, or NULL. */
static bool member_name(const struct cluster_view *v, uint64_t raft_id, char *buf, size_t len)
{
	for (int i = 0; i < v->ring.nr_nodes; i++) {
		if (v->raft_ids[i] == raft_id) {
			char a[48];

			node_addr_format(v->ring.nodes[i].nid.addr, a, sizeof(a));
			snprintf(buf, len, "%s:%u", a, v->ring.nodes[i].nid.port);
			return true;
		}
	}
	return false;
}

/* This connection writes through this node: it keeps the VDI's lock here. */
static void count_writer(struct nbd_conn *c)
{
	if (c->rw_counted)
		return;
	__atomic_add_fetch(&c->share->rw_conns, 1, __ATOMIC_RELEASE);
	c->rw_counted = true;
}

static void locked_on_shard(void *arg)
{
	nbd_cmd_execute(arg);
}

static void lock_done(void *arg, int result)
{
	struct nbd_cmd *cmd = arg;

	(void)result; /* the command, run again, reads the outcome in the share */
	cmd->sync_msg.fn = locked_on_shard;
	cmd->sync_msg.arg = cmd;
	msg_send(cmd->c->shard_id, &cmd->sync_msg);
}

static void lock_on_control(void *arg)
{
	struct nbd_cmd *cmd = arg;

	vdi_lock_acquire(cmd->share->vid, lock_done, cmd);
}

int nbd_export_may_write(struct nbd_cmd *cmd)
{
	struct nbd_conn *c = cmd->c;
	struct vdi_share *sh = cmd->share;
	const struct cluster_view *v = cluster_view_current();
	uint64_t self, holder;
	char who[80];

	/* Nothing to lock against: one node (the local driver) that all clients share. */
	if (!v || !v->raft_ids || v->self < 0 ||
	    __atomic_load_n(&sh->shareable, __ATOMIC_ACQUIRE)) {
		count_writer(c);
		return 0;
	}
	self = v->raft_ids[v->self];
	holder = __atomic_load_n(&sh->lock_holder, __ATOMIC_ACQUIRE);
	if (holder == self) {
		count_writer(c);
		return 0;
	}
	/* What this node knows may be a moment old: the cluster's log decides, once. */
	if (!cmd->lock_asked) {
		cmd->lock_asked = true;
		cmd->sync_msg.fn = lock_on_control;
		cmd->sync_msg.arg = cmd;
		msg_send(msg_mesh_size() - 1, &cmd->sync_msg); /* the control thread follows */
		return -EAGAIN;
	}
	if (holder && member_name(v, holder, who, sizeof(who)))
		snprintf(cmd->why, sizeof(cmd->why),
			 "VDI is locked: a client writes it through %.48s", who);
	else
		snprintf(cmd->why, sizeof(cmd->why),
			 "VDI lock not granted by the cluster (no leader reachable?)");
	log_warn("NBD %s: a write to %s refused: %s; detach the other client, or 'dog vdi lock "
		 "unlock|share %s'",
		 c->peer, sh->name, cmd->why, sh->vdi_name);
	return -EPERM;
}
