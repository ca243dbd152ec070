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

int cluster_view_parse_static(const char *s, uint64_t *cluster_id, uint32_t *epoch, uint8_t *copies,
			      struct sd_node *members, int max)
{
	char *copy = strdup(s), *save = NULL, *tok, *end;
	int n = 0, field = 0, ret = -EINVAL;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), field++) {
		unsigned long long x;
		char *port, *zone;

		if (field < 3) {
			x = strtoull(tok, &end, 0);
			if (*end || end == tok)
				goto out;
			if (field == 0)
				*cluster_id = x;
			else if (field == 1 && x <= UINT32_MAX)
				*epoch = (uint32_t)x;
			else if (field == 2 && x >= 1 && x <= 31)
				*copies = (uint8_t)x;
			else if (field)
				goto out;
			continue;
		}
		/* ADDR:PORT:ZONE, the address IPv4 (the harness runs on 127.0.0.1). */
		port = strchr(tok, ':');
		zone = port ? strchr(port + 1, ':') : NULL;
		if (!zone || n >= max)
			goto out;
		*port++ = '\0';
		*zone++ = '\0';
		memset(&members[n], 0, sizeof(members[n]));
		if (node_addr_parse(tok, members[n].nid.addr))
			goto out;
		x = strtoull(port, &end, 10);
		if (*end || !x || x > 65535)
			goto out;
		members[n].nid.port = (uint16_t)x;
		x = strtoull(zone, &end, 10);
		if (*end || end == zone || x > UINT32_MAX)
			goto out;
		members[n].zone = (uint32_t)x;
		members[n].nr_vnodes = 128;
		n++;
	}
	ret = n > 0 ? n : -EINVAL;
out:
	free(copy);
	return ret;
}

int cluster_view_publish_local(void)
{
	const char *test = getenv("SHEEP_TEST_STATIC_VIEW"); /* TEST ONLY: see the header */
	uint16_t shards[64] = { 0 };
	struct sd_node members[64];
	struct cluster_view *v;
	uint64_t id = sys.cfg.ctime;
	uint32_t epoch = sys.cfg.epoch;
	uint8_t copies = 0;
	int nr = 1;

	members[0] = sys.self;
	if (test) {
		nr = cluster_view_parse_static(test, &id, &epoch, &copies, members, 64);
		if (nr < 0) {
			log_err("SHEEP_TEST_STATIC_VIEW=%s cannot be parsed", test);
			return -EINVAL;
		}
		/* Before a format there is no cluster: no I/O either. */
		if (!sys.cfg.ctime)
			epoch = 0;
	}
	for (int i = 0; i < nr; i++)
		shards[i] = (uint16_t)shard_count();
	v = cluster_view_new(epoch, id, members, shards, nr, &sys.self.nid, true);
	if (!v) {
		log_err("out of memory building the cluster view");
		return -ENOMEM;
	}
	if (test) {
		v->test_copies = copies;
		log_warn("TEST ONLY: static cluster view of %d members from SHEEP_TEST_STATIC_VIEW",
			 nr);
	}
	return cluster_view_publish(v);
}
