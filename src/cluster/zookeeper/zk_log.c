/*
 * The ZooKeeper log read into the state machine, and kept short (zk_internal.h).
 *
 * A read lists /sheepdog/log (arming the watch that starts the next read), reads the prune
 * point, loads a snapshot first when entries this node has not applied were pruned, then gets
 * the new entries in order, pipelined, and applies each as soon as every earlier one is
 * applied. ZooKeeper answers one session's requests in the order they were sent, which is what
 * ties each answer to its entry. An entry gone before its get (pruned meanwhile) ends the read
 * as failed; the next one finds the prune point past this node and loads a snapshot.
 *
 * The snapshotter (the live member with the lowest id) writes the state machine's snapshot in
 * parts once the log is long, moves the prune point to behind it (version-checked, so two
 * snapshotters never move it back) and deletes what it covers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zookeeper/zookeeper.h>

#include "../../core/log.h"
#include "../raft/raft_node.h"
#include "../sdcluster/sm.h"
#include "zk_client.h"
#include "zk_internal.h"

#define ZKL_SNAP_EVERY 1024	   /* entries in the log before a snapshot is written */
#define ZKL_TRAILING   256	   /* entries kept behind the prune point, for nodes just behind */
#define ZKL_PART       (512 << 10) /* ZooKeeper refuses nodes over 1 MiB */
#define ZKL_IN_FLIGHT  512	   /* gets of one read in flight */
/* Tests lower it (SD_ZK_SNAPSHOT_EVERY) to see snapshots and pruning without 1300 commands. */
static int snap_every = ZKL_SNAP_EVERY, trailing = ZKL_TRAILING;

struct zk_read {
	uint64_t gen;
	uint64_t *idx; /* entries to apply, ascending */
	int n;
	char **data; /* arrived, not yet applied */
	int *len;
	int issued, arrived, applied;
	uint64_t prune_point;
	bool failed, finished;
	/* snapshot load */
	uint64_t snap_index;
	int snap_parts, snap_issued, snap_arrived;
	size_t snap_len, snap_have;
	uint8_t *snap_buf;
};

static struct zk_read *cur;
static bool again, stopping, caught_up_once;
static uint64_t gens_started, gens_done;
/* Every log index the last good listing saw, ascending (for pruning). */
static uint64_t *listed;
static int nr_listed;

static void read_start(void);

uint64_t zkl_reads_started(void)
{
	return gens_started;
}

uint64_t zkl_reads_done(void)
{
	return gens_done;
}

bool zkl_caught_up_once(void)
{
	return caught_up_once;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "c-0000000041" is index 42; 0 for anything else. */
static uint64_t entry_index(const char *name)
{
	char *end;
	unsigned long long seq;

	if (strncmp(name, "c-", 2))
		return 0;
	errno = 0;
	seq = strtoull(name + 2, &end, 10);
	return errno || *end || end == name + 2 ? 0 : (uint64_t)seq + 1;
}

static void read_free(struct zk_read *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->data[i]);
	free(r->data);
	free(r->len);
	free(r->idx);
	free(r->snap_buf);
	free(r);
}

/* An answer to a read that has ended: frees it after the last one due. */
static bool orphaned(struct zk_read *r)
{
	if (!r->finished)
		return false;
	if (r->arrived == r->issued && r->snap_arrived == r->snap_issued)
		read_free(r);
	return true;
}

/* The read is over for the driver; its struct lives until every answer due has come. */
static void read_end(struct zk_read *r, bool ok)
{
	if (r->finished)
		return;
	r->finished = true;
	r->failed = !ok;
	cur = NULL;
	if (ok) {
		gens_done = r->gen;
		caught_up_once = true;
	}
	if (!stopping)
		zkd_read_done(ok);
	if (r->arrived == r->issued && r->snap_arrived == r->snap_issued)
		read_free(r);
	if (again && !stopping) {
		again = false;
		read_start();
	}
}

static void on_entry(void *arg, const struct zk_result *res);

static void fetch_more(struct zk_read *r)
{
	char path[ZK_PATH_MAX];

	/* A snapshot loaded meanwhile covers the first ones: they need not be read (they may be
	 * pruned already). */
	while (!r->finished && r->issued == r->arrived && r->issued < r->n &&
	       r->idx[r->issued] <= sm_last_applied()) {
		r->issued++;
		r->arrived++;
		r->applied++;
	}
	while (!r->finished && r->issued < r->n && r->issued - r->applied < ZKL_IN_FLIGHT) {
		snprintf(path, sizeof(path), ZKD_LOG_ENT "%010" PRIu64, r->idx[r->issued] - 1);
		if (zk_get(path, on_entry, r)) {
			read_end(r, false);
			return;
		}
		r->issued++;
	}
	if (!r->finished && r->applied == r->n)
		read_end(r, true);
}

static void on_entry(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;
	int k = r->arrived++;

	if (orphaned(r))
		return;
	if (res->rc != ZOK) {
		if (res->rc != ZNONODE)
			log_debug("zookeeper: reading log entry %" PRIu64 ": %s", r->idx[k],
				  zk_client_error(res->rc));
		read_end(r, false);
		return;
	}
	r->data[k] = res->data; /* taken over: the result frees only what it still points to */
	r->len[k] = res->len;
	((struct zk_result *)res)->data = NULL;
	while (r->applied < r->arrived) {
		int i = r->applied++;
		uint64_t origin, seq;
		int ret;

		if (r->idx[i] > sm_last_applied()) {
			ret = sm_apply(NULL, r->idx[i], r->data[i] ? r->data[i] : "",
				       (size_t)r->len[i]);
			sm_last_command(&origin, &seq);
			zkd_applied(origin, seq, ret);
		}
		free(r->data[i]);
		r->data[i] = NULL;
	}
	fetch_more(r);
}

/* Snapshot load */

static void snap_loaded(struct zk_read *r)
{
	int ret = sm_restore(NULL, r->snap_buf, r->snap_len);

	free(r->snap_buf);
	r->snap_buf = NULL;
	if (ret) {
		log_err("zookeeper: the cluster state snapshot at index %" PRIu64
			" is corrupt; this node cannot catch up (see the log of the node that "
			"wrote it)",
			r->snap_index);
		read_end(r, false);
		return;
	}
	sm_set_applied(r->snap_index);
	log_info("zookeeper: loaded the cluster state at log index %" PRIu64, r->snap_index);
	fetch_more(r);
}

static void on_snap_part(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;

	r->snap_arrived++;
	if (orphaned(r))
		return;
	if (res->rc != ZOK || r->snap_have + (size_t)res->len > r->snap_len) {
		log_debug("zookeeper: snapshot %" PRIu64 " part: %s", r->snap_index,
			  res->rc ? zk_client_error(res->rc) : "longer than its manifest says");
		read_end(r, false);
		return;
	}
	memcpy(r->snap_buf + r->snap_have, res->data, (size_t)res->len);
	r->snap_have += (size_t)res->len;
	if (r->snap_arrived == r->snap_parts) {
		if (r->snap_have != r->snap_len) {
			read_end(r, false);
			return;
		}
		snap_loaded(r);
	}
}

static void on_snap_manifest(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;
	unsigned parts = 0;
	unsigned long long len = 0;
	char path[ZK_PATH_MAX];

	r->snap_arrived++;
	if (orphaned(r))
		return;
	if (res->rc != ZOK || !res->data || sscanf(res->data, "%u %llu", &parts, &len) != 2 ||
	    !parts || parts > 4096 || len > (unsigned long long)parts * ZKL_PART ||
	    !(r->snap_buf = malloc(len ? len : 1))) {
		log_warn("zookeeper: cannot read the snapshot manifest %" PRIu64 ": %s",
			 r->snap_index, res->rc ? zk_client_error(res->rc) : "malformed");
		read_end(r, false);
		return;
	}
	r->snap_len = len;
	r->snap_parts = (int)parts;
	r->snap_arrived = r->snap_issued = 0;
	for (unsigned i = 0; i < parts; i++) {
		snprintf(path, sizeof(path), ZKD_SNAP "/s-%020" PRIu64 "-p%04u", r->snap_index, i);
		if (zk_get(path, on_snap_part, r)) {
			read_end(r, false);
			return;
		}
		r->snap_issued++;
	}
}

static void on_snap_list(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;
	char path[ZK_PATH_MAX];
	uint64_t best = 0;

	r->snap_arrived++;
	if (orphaned(r))
		return;
	for (int i = 0; res->rc == ZOK && i < res->nr_names; i++) {
		char *end;
		uint64_t s;

		if (strncmp(res->names[i], "s-", 2))
			continue;
		s = strtoull(res->names[i] + 2, &end, 10);
		if (!*end && s > best)
			best = s;
	}
	if (best < r->prune_point) {
		log_err("zookeeper: the log was pruned up to index %" PRIu64
			" but no snapshot covers it (newest: %" PRIu64 "); this node cannot catch "
			"up. Check %s for lost znodes",
			r->prune_point, best, ZKD_SNAP);
		read_end(r, false);
		return;
	}
	r->snap_index = best;
	snprintf(path, sizeof(path), ZKD_SNAP "/s-%020" PRIu64, best);
	if (zk_get(path, on_snap_manifest, r)) {
		read_end(r, false);
		return;
	}
	r->snap_issued++;
}

static void on_pruned(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;

	r->snap_arrived++;
	if (orphaned(r))
		return;
	if (res->rc != ZOK && res->rc != ZNONODE) {
		read_end(r, false);
		return;
	}
	r->prune_point = res->rc == ZOK && res->data ? strtoull(res->data, NULL, 10) : 0;
	if (sm_last_applied() >= r->prune_point) {
		fetch_more(r);
		return;
	}
	log_info("zookeeper: this node is behind the pruned log (applied %" PRIu64
		 ", pruned up to %" PRIu64 "): loading a snapshot",
		 sm_last_applied(), r->prune_point);
	if (zk_children(ZKD_SNAP, false, on_snap_list, r)) {
		read_end(r, false);
		return;
	}
	r->snap_issued++;
}

static void on_list(void *arg, const struct zk_result *res)
{
	struct zk_read *r = arg;
	uint64_t *all;
	int n = 0;

	r->snap_arrived++;
	if (orphaned(r))
		return;
	if (res->rc != ZOK) {
		read_end(r, false);
		return;
	}
	all = calloc((size_t)res->nr_names + 1, sizeof(*all));
	r->idx = calloc((size_t)res->nr_names + 1, sizeof(*r->idx));
	r->data = calloc((size_t)res->nr_names + 1, sizeof(*r->data));
	r->len = calloc((size_t)res->nr_names + 1, sizeof(*r->len));
	if (!all || !r->idx || !r->data || !r->len) {
		free(all);
		read_end(r, false);
		return;
	}
	for (int i = 0; i < res->nr_names; i++) {
		uint64_t idx = entry_index(res->names[i]);

		if (idx)
			all[n++] = idx;
	}
	qsort(all, (size_t)n, sizeof(*all), cmp_u64);
	for (int i = 0; i < n; i++)
		if (all[i] > sm_last_applied())
			r->idx[r->n++] = all[i];
	free(listed);
	listed = all;
	nr_listed = n;
	if (zk_get(ZKD_PRUNED, on_pruned, r)) {
		read_end(r, false);
		return;
	}
	r->snap_issued++;
}

static void read_start(void)
{
	struct zk_read *r;

	if (stopping)
		return;
	if (cur) {
		again = true;
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return; /* the driver's tick asks again */
	r->gen = ++gens_started;
	cur = r;
	if (zk_children(ZKD_LOG, true, on_list, r)) {
		read_end(r, false);
		return;
	}
	r->snap_issued++;
}

void zkl_init(void)
{
	const char *e = getenv("SD_ZK_SNAPSHOT_EVERY");

	if (e && atoi(e) > 0) {
		snap_every = atoi(e);
		trailing = snap_every / 4;
	}
}

void zkl_read(void)
{
	read_start();
}

/* Snapshot and prune, on the snapshotter */

struct zk_snap {
	uint64_t index, prune_to, old_prune;
	int parts, issued, arrived;
	bool failed;
	void *buf;
	size_t len;
};

static bool snap_busy;

static void snap_done(struct zk_snap *s)
{
	if (s->buf)
		raft_node_buf_free(s->buf);
	free(s);
	snap_busy = false;
}

static void on_deleted(void *arg, const struct zk_result *res)
{
	(void)arg;
	if (res->rc != ZOK && res->rc != ZNONODE)
		log_debug("zookeeper: pruning: %s", zk_client_error(res->rc));
}

static void on_old_snaps(void *arg, const struct zk_result *res)
{
	struct zk_snap *s = arg;
	char path[ZK_PATH_MAX];

	/* Manifests first: a reader never finds a manifest whose parts are gone for good. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; res->rc == ZOK && i < res->nr_names; i++) {
			char *end;
			uint64_t idx;

			if (strncmp(res->names[i], "s-", 2))
				continue;
			idx = strtoull(res->names[i] + 2, &end, 10);
			if (idx >= s->index || (pass == 0) != (*end == 0))
				continue;
			snprintf(path, sizeof(path), ZKD_SNAP "/%s", res->names[i]);
			zk_delete(path, -1, on_deleted, NULL);
		}
	}
	log_info("zookeeper: log pruned up to index %" PRIu64 " (snapshot at %" PRIu64 ")",
		 s->prune_to, s->index);
	snap_done(s);
}

static void on_prune_set(void *arg, const struct zk_result *res)
{
	struct zk_snap *s = arg;
	char path[ZK_PATH_MAX];

	if (res->rc != ZOK) {
		/* Another snapshotter moved it first (ZBADVERSION), or the session is gone. */
		log_debug("zookeeper: prune point: %s", zk_client_error(res->rc));
		snap_done(s);
		return;
	}
	for (int i = 0; i < nr_listed && listed[i] <= s->prune_to; i++) {
		snprintf(path, sizeof(path), ZKD_LOG_ENT "%010" PRIu64, listed[i] - 1);
		zk_delete(path, -1, on_deleted, NULL);
	}
	if (zk_children(ZKD_SNAP, false, on_old_snaps, s))
		snap_done(s);
}

static void on_prune_read(void *arg, const struct zk_result *res)
{
	struct zk_snap *s = arg;
	char text[32];
	int n, ret;

	if (res->rc != ZOK && res->rc != ZNONODE) {
		snap_done(s);
		return;
	}
	s->old_prune = res->rc == ZOK && res->data ? strtoull(res->data, NULL, 10) : 0;
	if (s->prune_to <= s->old_prune) {
		snap_done(s);
		return;
	}
	n = snprintf(text, sizeof(text), "%" PRIu64, s->prune_to);
	ret = res->rc == ZOK ? zk_set(ZKD_PRUNED, text, (size_t)n, res->version, on_prune_set, s)
			     : zk_create(ZKD_PRUNED, text, (size_t)n, 0, on_prune_set, s);
	if (ret)
		snap_done(s);
}

static void on_manifest_made(void *arg, const struct zk_result *res)
{
	struct zk_snap *s = arg;

	if ((res->rc != ZOK && res->rc != ZNODEEXISTS) || zk_get(ZKD_PRUNED, on_prune_read, s)) {
		log_warn("zookeeper: cannot write the snapshot manifest at %" PRIu64 ": %s",
			 s->index, zk_client_error(res->rc));
		snap_done(s);
	}
}

static void on_part_made(void *arg, const struct zk_result *res)
{
	struct zk_snap *s = arg;
	char path[ZK_PATH_MAX], text[64];
	int n;

	s->arrived++;
	if (res->rc != ZOK && res->rc != ZNODEEXISTS)
		s->failed = true;
	if (s->arrived < s->issued || s->issued < s->parts)
		return;
	if (s->failed) {
		log_warn("zookeeper: cannot write a snapshot of the cluster state at index %" PRIu64
			 ": %s; the log grows until one is written",
			 s->index, zk_client_error(res->rc));
		snap_done(s);
		return;
	}
	raft_node_buf_free(s->buf);
	s->buf = NULL;
	snprintf(path, sizeof(path), ZKD_SNAP "/s-%020" PRIu64, s->index);
	n = snprintf(text, sizeof(text), "%d %zu", s->parts, s->len);
	if (zk_create(path, text, (size_t)n, 0, on_manifest_made, s))
		snap_done(s);
}

void zkl_maybe_snapshot(void)
{
	struct zk_snap *s;
	char path[ZK_PATH_MAX];

	if (snap_busy || stopping || nr_listed < snap_every + trailing)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->index = sm_last_applied();
	s->prune_to = listed[nr_listed - trailing - 1];
	if (s->prune_to > s->index)
		s->prune_to = s->index;
	if (sm_snapshot(NULL, &s->buf, &s->len)) {
		free(s);
		return;
	}
	snap_busy = true;
	s->parts = (int)((s->len + ZKL_PART - 1) / ZKL_PART);
	if (!s->parts)
		s->parts = 1;
	for (int i = 0; i < s->parts; i++) {
		size_t off = (size_t)i * ZKL_PART;
		size_t len = s->len - off < ZKL_PART ? s->len - off : ZKL_PART;

		snprintf(path, sizeof(path), ZKD_SNAP "/s-%020" PRIu64 "-p%04d", s->index, i);
		if (zk_create(path, (uint8_t *)s->buf + off, len, 0, on_part_made, s)) {
			s->failed = true;
			if (!s->issued)
				snap_done(s);
			else
				s->parts = s->issued; /* the last answer ends it */
			return;
		}
		s->issued++;
	}
}

void zkl_stop(void)
{
	stopping = true;
	free(listed);
	listed = NULL;
	nr_listed = 0;
}
