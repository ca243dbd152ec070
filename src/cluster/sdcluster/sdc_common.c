/* The steps both log drivers share (sdc_common.h). */
#include "sdc_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../../core/atomic_file.h"
#include "../../core/log.h"
#include "../cluster_view.h"
#include "../recovery/recovery.h"
#include "../sys.h"
#include "../../io/obj_io.h"
#include "../obj_check.h"
#include "inode_sync.h"
#include "vdi_lease.h"
#include "vdi_lock.h"

struct sdc_state sdc = { .fenced = true };

void sdc_publish_view(void)
{
	struct sd_node *nodes = calloc((size_t)sys.nr_members + 1, sizeof(*nodes));
	uint16_t *shards = calloc((size_t)sys.nr_members + 1, sizeof(*shards));
	struct cluster_view *v = NULL;

	if (nodes && shards) {
		for (int i = 0; i < sys.nr_members; i++) {
			nodes[i] = sys.members[i].node;
			shards[i] = sys.members[i].shards ? sys.members[i].shards : 1;
		}
		v = cluster_view_new(sys.cfg.ctime ? sys.cfg.epoch : 0, sys.cfg.ctime, nodes,
				     shards, sys.nr_members, &sys.self.nid,
				     !sdc.fenced && !sdc.waiting && !sys.shutdown);
	}
	free(nodes);
	free(shards);
	if (v) {
		v->ready = sdc.synced && !sdc.fenced;
		v->raft_ids = calloc((size_t)v->ring.nr_nodes + 1, sizeof(*v->raft_ids));
		for (int i = 0; v->raft_ids && i < v->ring.nr_nodes; i++)
			for (int j = 0; j < sys.nr_members; j++)
				if (!node_id_cmp(&sys.members[j].node.nid, &v->ring.nodes[i].nid))
					v->raft_ids[i] = sys.members[j].raft_id;
		if (!v->raft_ids) {
			cluster_view_put(v);
			v = NULL;
		}
	}
	if (v && sys.cfg.ctime && !(v->history = sm_history_new())) {
		cluster_view_put(v);
		v = NULL;
	}
	if (!v || cluster_view_publish(v))
		log_err("out of memory publishing epoch %u to the shards", sys.cfg.epoch);
	else {
		inode_sync_view_changed();
		recovery_view_changed();
	}
}

bool sdc_self_is_member(void)
{
	for (int i = 0; i < sys.nr_members; i++)
		if (sys.members[i].raft_id == sdc.my_id)
			return true;
	return false;
}

void sdc_self_member(struct cluster_member *m)
{
	memset(m, 0, sizeof(*m));
	m->node = sys.self;
	m->raft_id = sdc.my_id;
	m->shards = sdc.shards;
	m->cluster_port = sdc.cluster_port;
}

bool sdc_self_is_current(void)
{
	struct cluster_member me;

	sdc_self_member(&me);
	for (int i = 0; i < sys.nr_members; i++) {
		if (sys.members[i].raft_id != sdc.my_id)
			continue;
		return !node_id_cmp(&sys.members[i].node.nid, &me.node.nid) &&
		       sys.members[i].node.nr_vnodes == me.node.nr_vnodes &&
		       sys.members[i].node.zone == me.node.zone &&
		       sys.members[i].shards == me.shards &&
		       sys.members[i].cluster_port == me.cluster_port;
	}
	return false;
}

/* State machine hooks */

static void (*drv_members_changed)(void);
static void (*drv_member_left)(uint64_t id);

static void on_members_changed(void)
{
	if (drv_members_changed)
		drv_members_changed();
	sdc_publish_view();
}

static void on_member_left(uint64_t id)
{
	if (drv_member_left)
		drv_member_left(id);
	if (id == sdc.my_id)
		log_warn("this node was removed from the cluster (it was cut off or not heard from "
			 "for too long); it joins again");
}

static void on_recovery_ctl(const Sdcl__RecoveryCtl *r)
{
	if (r->set_throttle)
		recovery_set_throttle(r->max, r->interval_ms);
	if (r->set_enabled)
		recovery_set_enabled(r->enabled);
}

void sdc_set_waiting(bool waiting)
{
	if (waiting == sdc.waiting)
		return;
	sdc.waiting = waiting;
	if (waiting)
		log_warn("waiting for other nodes to join: members of epoch %u are not back ('dog "
			 "node list' shows them; 'dog cluster recover force' goes on without them)",
			 sys.cfg.epoch);
	else
		log_notice("the cluster no longer waits for its members: serving writes");
	sdc_publish_view();
}

static struct evloop_timer stop_timer;

static void stop_now(void *arg)
{
	(void)arg;
	evloop_stop(sdc.loop);
}

static void on_shutdown(void)
{
	if (sys.shutdown)
		return; /* a second SHUTDOWN (a retry): the first one's timer runs */
	log_notice("the cluster is shutting down (dog cluster shutdown)");
	sys.shutdown = true;
	sdc_publish_view();
	/* A moment for the answer to dog and for the other nodes to hear the commit. */
	evloop_timer_init(&stop_timer, stop_now, NULL);
	evloop_timer_start(sdc.loop, &stop_timer, 1000, 0);
}

void sdc_hooks_init(struct sm_hooks *h, void (*members_changed)(void),
		    void (*member_left)(uint64_t id))
{
	drv_members_changed = members_changed;
	drv_member_left = member_left;
	*h = (struct sm_hooks){ .members_changed = on_members_changed,
				.member_left = on_member_left,
				.shutdown = on_shutdown,
				.vdi_header_changed = inode_sync_header,
				.vdi_map_changed = inode_sync_map,
				.recovered = recovery_all_done,
				.recovery_ctl = on_recovery_ctl,
				.waiting = sdc_set_waiting };
}

int sdc_services_start(char *err, size_t errlen)
{
	int ret;

	__atomic_store_n(&obj_check_hook, obj_check, __ATOMIC_RELEASE);
	vdi_lease_start(sdc.loop, sdc.my_id);
	vdi_lock_start(sdc.loop, sdc.my_id);
	ret = recovery_start(sdc.loop, sdc.my_id);
	if (ret) {
		snprintf(err, errlen, "cannot start recovery: %s", strerror(-ret));
		return ret;
	}
	sdc_publish_view();
	return 0;
}

void sdc_services_stop(void)
{
	inode_sync_stop();
	vdi_lease_stop();
	vdi_lock_stop();
	recovery_stop();
}

int sdc_load_id(char *err, size_t errlen)
{
	char path[PATH_MAX + 16], *text = NULL, buf[32];
	long n;
	int ret;

	snprintf(path, sizeof(path), "%s/raft-id", sys.dir);
	n = file_read_all(path, &text, 64);
	if (n > 0) {
		sdc.my_id = strtoull(text, NULL, 16);
		free(text);
		if (sdc.my_id)
			return 0;
	}
	if (n < 0 && n != -ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	while (!sdc.my_id)
		if (getrandom(&sdc.my_id, sizeof(sdc.my_id), 0) != sizeof(sdc.my_id))
			return -errno;
	sdc.my_id &= INT64_MAX; /* printable as a positive number everywhere */
	n = snprintf(buf, sizeof(buf), "%016" PRIx64 "\n", sdc.my_id);
	ret = atomic_file_write(sys.dir, "raft-id", buf, (size_t)n);
	if (ret)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
	return ret;
}
