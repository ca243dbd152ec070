/*
 * The sheep in a box (sheep_box.h): main.c's start-up minus the daemon, the listeners and the
 * serve loop, in a throw-away data directory. The directory is on tmpfs where there is one, so
 * that reformatting the box between inputs costs no disk flushes.
 */
#include "sheep_box.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/sys.h"
#include "cluster/vdi_mapq.h"
#include "cluster/vdi_share.h"
#include "core/log.h"
#include "core/result.h"
#include "frontends/nbd/nbd_conn.h"
#include "shard/buf_pool.h"
#include "shard/shard.h"

#define BOX_SHARDS	 1
#define BOX_FD_CACHE	 64
#define BOX_STOP_WAIT_MS 10000

static bool started;
static char box_dir[PATH_MAX];

/* What box_dirty() compares against: the VDI table right after the last reset. */
struct vdi_snap {
	uint32_t vid, map_len, nr_owned;
	uint64_t size;
	int nr_attrs;
	uint32_t map[BOX_VOL0_SIZE >> SD_DEFAULT_BLOCK_SHIFT];
};
static struct vdi_snap baseline[2];
static int baseline_nr;
static uint64_t baseline_ctime;

uint64_t box_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "sheep box: %s: %s\n", what, detail);
	abort();
}

/*
 * main.c's control_mesh_work: without vdi_mapq_run, allocating writes would never complete.
 * Returns how much it did.
 */
static int control_work(void)
{
	int n, all = 0;

	do {
		n = msg_poll(64);
		n += vdi_mapq_run();
		all += n;
	} while (n);
	return all;
}

short box_poll(int fd, short events, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = events },
			       { .fd = sd_thread_get(sd_self_id)->efd, .events = POLLIN } };
	uint64_t v;

	/* Work done may be what the caller waits for: then look at fd without blocking. */
	if (control_work() || !msg_sleep_begin()) {
		timeout_ms = 0;
		p[1].fd = -1;
	}
	if (poll(p, 2, timeout_ms) < 0 && errno != EINTR)
		fatal("poll", strerror(errno));
	if (p[1].fd >= 0) {
		if ((p[1].revents & POLLIN) && read(p[1].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			fatal("eventfd read", strerror(errno));
		msg_sleep_end();
	}
	control_work();
	return p[0].revents;
}

struct shard_call {
	struct sd_msg msg, reply;
	void (*fn)(void *arg);
	void *arg;
	bool done;
};

static void shard_call_done(void *arg)
{
	struct shard_call *c = arg;

	c->done = true;
}

static void shard_call_run(void *arg)
{
	struct shard_call *c = arg;

	c->fn(c->arg);
	c->reply.fn = shard_call_done;
	c->reply.arg = c;
	msg_send(BOX_SHARDS, &c->reply);
}

void box_on_shard(void (*fn)(void *arg), void *arg)
{
	struct shard_call c = { .fn = fn, .arg = arg };

	c.msg.fn = shard_call_run;
	c.msg.arg = &c;
	msg_send(0, &c.msg);
	while (!c.done)
		box_poll(-1, 0, 100);
}

static struct vdi *must_find(const char *name)
{
	struct vdi *v = vdi_find_name(&sys.vdis, name);

	if (!v)
		fatal("VDI missing after creation", name);
	return v;
}

static void take_baseline(void)
{
	baseline_nr = 0;
	for (int i = 0; i < sys.vdis.nr && baseline_nr < 2; i++) {
		const struct vdi *v = sys.vdis.v[i];
		struct vdi_snap *s = &baseline[baseline_nr++];

		s->vid = v->hdr.vdi_id;
		s->size = v->hdr.vdi_size;
		s->map_len = v->map_len;
		s->nr_owned = v->nr_owned;
		s->nr_attrs = v->nr_attrs;
		memcpy(s->map, v->map, sizeof(s->map[0]) * v->map_len);
	}
	baseline_ctime = sys.cfg.ctime;
}

bool box_dirty(void)
{
	if (sys.cfg.ctime != baseline_ctime || sys.vdis.nr != baseline_nr)
		return true;
	for (int i = 0; i < baseline_nr; i++) {
		const struct vdi *v = sys.vdis.v[i];
		const struct vdi_snap *s = &baseline[i];

		if (v->hdr.vdi_id != s->vid || v->hdr.vdi_size != s->size ||
		    v->map_len != s->map_len || v->nr_owned != s->nr_owned ||
		    v->nr_attrs != s->nr_attrs || inode_is_deleted(&v->hdr) ||
		    memcmp(v->map, s->map, sizeof(s->map[0]) * v->map_len))
			return true;
	}
	return false;
}

static void create(const char *name, uint64_t size)
{
	char err[512];
	uint32_t vid;
	int ret = vdi_create(name, size, 1, 0, 0, &vid, err, sizeof(err));

	if (ret)
		fatal("cannot create a VDI", err);
}

static void fill(const char *name, uint64_t off, uint32_t len, uint8_t seed)
{
	char err[512];
	uint8_t *buf = malloc(len);
	int ret;

	if (!buf)
		fatal("cannot fill a VDI", "out of memory");
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
	ret = vdi_write(must_find(name), off, len, buf, err, sizeof(err));
	free(buf);
	if (ret)
		fatal("cannot write to a VDI", err);
}

void box_reset(void)
{
	char err[512];
	/* The format op's own function, as `dog cluster format -c 1` runs it. */
	int ret = cluster_format(1, 0, "plain", 0, false, false, err, sizeof(err));

	if (ret)
		fatal("cannot format the cluster", err);
	create("vol0", BOX_VOL0_SIZE);
	create("vol1", BOX_VOL1_SIZE);
	/* Data at the start, and across the boundary of objects 0 and 1; the rest are holes. */
	fill("vol0", 0, 64 << 10, 1);
	fill("vol0", (4u << 20) - 2048, 4096, 2);
	if (export_table_publish())
		fatal("cannot publish the export table", "out of memory");
	take_baseline();
}

static void close_conns(void *arg)
{
	int *left = arg;

	*left = nbd_conns_close_all();
	if (!*left)
		nbd_cmd_cache_drain();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void box_stop(void)
{
	uint64_t until = box_now_ms() + BOX_STOP_WAIT_MS;
	int left;

	do {
		box_on_shard(close_conns, &left);
		if (left)
			box_poll(-1, 0, 10);
	} while (left && box_now_ms() < until);
	if (left)
		fprintf(stderr, "sheep box: %d NBD connections still busy at exit\n", left);
	export_table_retire();
	shards_stop();
	buf_pool_drain();
	vdi_table_destroy(&sys.vdis);
	store_layout_close(sys.store);
	free(sys.store);
	msg_mesh_destroy();
	nftw(box_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A crashed fuzzer leaves its box behind (no atexit on a fatal signal): the next one clears it. */
static void remove_dead_boxes(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *de;
	char path[PATH_MAX];
	int pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "sheep-box-%d-", &pid) != 1 || pid <= 0 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

static void make_dir(void)
{
	const char *parent = getenv("SHEEP_BOX_DIR");

	if (!parent)
		parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!parent)
		parent = "/tmp";
	remove_dead_boxes(parent);
	snprintf(box_dir, sizeof(box_dir), "%s/sheep-box-%d-XXXXXX", parent, (int)getpid());
	if (!mkdtemp(box_dir))
		fatal("cannot create the data directory", strerror(errno));
	if (!realpath(box_dir, sys.dir))
		fatal("realpath of the data directory", strerror(errno));
}

void box_start(void)
{
	/* What sheep runs with when --limits is not given. */
	static const struct conn_limits limits = CONN_LIMITS_DEFAULT;
	const char *lvl = getenv("SHEEP_BOX_LOG");
	char err[1024];
	int ret;

	if (started)
		return;
	started = true;
	/* Errors only by default: a fuzzer makes the server warn about every broken stream. */
	log_init(2, lvl && log_level_parse(lvl) >= 0 ? log_level_parse(lvl) : LOG_LVL_ERROR);
	if (uring_probe(err, sizeof(err))) {
		fprintf(stderr, "sheep box: skipped, this kernel cannot run sheep: %s\n", err);
		exit(77);
	}
	signal(SIGPIPE, SIG_IGN);
	make_dir();
	node_addr_parse("127.0.0.1", sys.self.nid.addr);
	sys.self.nid.port = 7000;
	sys.self.nr_vnodes = SD_DEFAULT_VNODES;
	sys.self.zone = node_default_zone(sys.self.nid.addr);
	sys.default_copies = 1;
	if (cluster_init(err, sizeof(err)))
		fatal("cluster_init", err);
	ret = msg_mesh_init(BOX_SHARDS + 1);
	if (ret)
		fatal("msg_mesh_init", strerror(-ret));
	sd_thread_bind(BOX_SHARDS);
	log_set_thread_name("ctl");
	nbd_conn_set_limits(&limits);
	ret = shards_start(BOX_SHARDS, false, sys.store, BOX_FD_CACHE);
	if (ret)
		fatal("shards_start", strerror(-ret));
	atexit(box_stop);
	box_reset();
}
