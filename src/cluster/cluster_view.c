/*
 * The cluster view: building an epoch's snapshot (members sorted, ring built, this node found)
 * and installing it on every shard, the way export_table_publish installs the export table. The
 * control thread keeps one reference to the last published view (cluster_view_latest); each
 * shard keeps one to its current one and drops it when the next arrives, so the last request
 * still using an old view frees it.
 */
#include "cluster_view.h"
#include "epoch_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../shard/shard.h"
#include "../shard/shard_all.h"
#include "sys.h"

struct member {
	struct sd_node node;
	uint16_t nr_shards;
};

static int by_id(const void *a, const void *b)
{
	return node_id_cmp(&((const struct member *)a)->node.nid,
			   &((const struct member *)b)->node.nid);
}

struct cluster_view *cluster_view_new(uint32_t epoch, uint64_t cluster_id,
				      const struct sd_node *members, const uint16_t *nr_shards,
				      int nr, const struct sd_node_id *self, bool writable)
{
	struct cluster_view *v;
	struct member *m;
	struct sd_node *sorted;

	if (nr < 0 || nr > SD_MAX_NODES || (nr && !members))
		return NULL;
	v = calloc(1, sizeof(*v));
	m = calloc((size_t)nr + 1, sizeof(*m));
	sorted = calloc((size_t)nr + 1, sizeof(*sorted));
	if (v)
		v->nr_shards = calloc((size_t)nr + 1, sizeof(*v->nr_shards));
	if (!v || !m || !sorted || !v->nr_shards)
		goto fail;
	for (int i = 0; i < nr; i++) {
		m[i].node = members[i];
		m[i].nr_shards = nr_shards && nr_shards[i] ? nr_shards[i] : 1;
	}
	qsort(m, (size_t)nr, sizeof(*m), by_id);
	for (int i = 0; i < nr; i++) {
		/* One node twice would get two places in the epoch: a bad list. */
		if (i && !node_id_cmp(&m[i - 1].node.nid, &m[i].node.nid))
			goto fail;
		sorted[i] = m[i].node;
		v->nr_shards[i] = m[i].nr_shards;
	}
	if (ring_build(&v->ring, sorted, nr))
		goto fail;
	v->self = -1;
	for (int i = 0; self && i < nr; i++)
		if (!node_id_cmp(&v->ring.nodes[i].nid, self))
			v->self = i;
	v->refs = 1;
	v->epoch = epoch;
	v->cluster_id = cluster_id;
	v->writable = writable;
	v->ready = true;
	free(m);
	free(sorted);
	return v;
fail:
	if (v)
		free(v->nr_shards);
	free(v);
	free(m);
	free(sorted);
	return NULL;
}

void cluster_view_get(struct cluster_view *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

void cluster_view_put(struct cluster_view *v)
{
	if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL))
		return;
	ring_destroy(&v->ring);
	free(v->nr_shards);
	free(v->raft_ids);
	epoch_history_free(v->history);
	free(v);
}

/* The control thread's reference to the last published view. */
static struct cluster_view *latest;
/* Each shard's current view: one reference each. */
static __thread struct cluster_view *current;

static void install(void *arg)
{
	struct cluster_view *old = current;

	current = arg;
	cluster_view_put(old);
}

int cluster_view_publish(struct cluster_view *v)
{
	/* The caller's reference goes to `latest`; each shard takes one more. */
	__atomic_add_fetch(&v->refs, shard_count(), __ATOMIC_RELAXED);
	if (shard_run_on_all(install, v)) {
		__atomic_sub_fetch(&v->refs, shard_count(), __ATOMIC_RELAXED);
		cluster_view_put(v);
		return -ENOMEM;
	}
	cluster_view_put(latest);
	latest = v;
	log_info("cluster view: epoch %u, %d members, this node %d%s", v->epoch, v->ring.nr_nodes,
		 v->self, v->writable ? "" : ", writes halted");
	return 0;
}

const struct cluster_view *cluster_view_latest(void)
{
	return latest;
}

struct cluster_view *cluster_view_current(void)
{
	return current;
}

static void retire(void *arg)
{
	(void)arg;
	install(NULL);
}

void cluster_view_retire(void)
{
	shard_run_on_all(retire, NULL);
	cluster_view_put(latest);
	latest = NULL;
}

int cluster_view_publish_local(void)
{
	uint16_t shards[1] = { (uint16_t)shard_count() };
	struct cluster_view *v;

	v = cluster_view_new(sys.cfg.epoch, sys.cfg.ctime, &sys.self, shards, 1, &sys.self.nid,
			     true);
	if (!v) {
		log_err("out of memory building the cluster view");
		return -ENOMEM;
	}
	return cluster_view_publish(v);
}
