/*
 * Object I/O through real shards and their io_uring rings, on a scratch directory: create,
 * read, holes, concurrent creators, punch, preallocation, remove, both store layouts, and reads
 * and writes done by a shard for a sleeping owner.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/oid.h"
#include "io/obj_fence.h"
#include "io/obj_flush.h"
#include "io/obj_io.h"
#include "io/peer_fds.h"
#include "io/store.h"
#include "shard/shard.h"

static char dir[64];
static const char *base = "/tmp";
static struct store_layout store;

static void start(enum store_kind kind)
{
	char msg[256];

	if (uring_probe(msg, sizeof(msg)))
		cr_skip_test("%s", msg);
	snprintf(dir, sizeof(dir), "%s/sdobjXXXXXX", base);
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(store_layout_open(&store, dir, kind), 0);
	cr_assert_eq(msg_mesh_init(3), 0);
	sd_thread_bind(2); /* this test thread plays the control thread */
	cr_assert_eq(shards_start(2, false, &store, 1024), 0);
}

static void stop(void)
{
	char cmd[128];

	shards_stop();
	msg_mesh_destroy();
	store_layout_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static int io(int op, uint64_t oid, uint64_t off, uint32_t len, void *buf, int flags)
{
	struct obj_req r = { .op = (uint8_t)op,
			     .oid = oid,
			     .offset = off,
			     .length = len,
			     .buf = buf,
			     .flags = (uint16_t)flags };

	return obj_exec(&r);
}

static void plain_setup(void)
{
	start(STORE_PLAIN);
}

static void tree_setup(void)
{
	start(STORE_TREE);
}

/* tmpfs: no FALLOC_FL_ZERO_RANGE, so zeroing takes the punch-and-allocate way. */
static void shm_setup(void)
{
	struct stat st;

	if (stat("/dev/shm", &st) || !S_ISDIR(st.st_mode))
		cr_skip_test("no /dev/shm");
	base = "/dev/shm";
	start(STORE_PLAIN);
	base = "/tmp";
}

static void check_zero_keeps_allocation(void)
{
	uint64_t oid = vid_to_data_oid(0x98, 1);
	static uint8_t w[1 << 20], r[1 << 20];
	char path[128];
	struct stat before, after;

	memset(w, 0xee, sizeof(w));
	cr_assert_eq(io(OBJ_WRITE, oid, 0, sizeof(w), w, OBJ_F_CREATE | OBJ_F_SYNC),
		     (int)sizeof(w));
	snprintf(path, sizeof(path), "%s/obj/%016llx", dir, (unsigned long long)oid);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(io(OBJ_ZERO, oid, 65536, 512 * 1024, NULL, OBJ_F_SYNC), 0);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_geq(after.st_blocks, before.st_blocks, "zeroing freed blocks");
	cr_assert_eq(after.st_size, before.st_size);
	cr_assert_eq(io(OBJ_READ, oid, 0, sizeof(r), r, 0), (int)sizeof(r));
	for (int i = 0; i < (int)sizeof(r); i++)
		cr_assert_eq(r[i], i >= 65536 && i < 65536 + 512 * 1024 ? 0 : 0xee, "byte %d", i);
}

Test(obj_io_plain, zero_keeps_allocation, .init = plain_setup, .fini = stop, .timeout = 30)
{
	check_zero_keeps_allocation();
}

Test(obj_io_shm, zero_keeps_allocation_without_zero_range, .init = shm_setup, .fini = stop,
     .timeout = 30)
{
	check_zero_keeps_allocation();
}

static void check_basic_io(const char *expect_path)
{
	uint64_t oid = vid_to_data_oid(0x7c2b25, 3);
	uint8_t w[8192], r[16384];
	char path[128];
	struct stat st;

	memset(w, 0x5a, sizeof(w));
	cr_assert_eq(io(OBJ_READ, oid, 0, 4096, r, 0), -ENOENT, "no object yet");
	cr_assert_eq(io(OBJ_WRITE, oid, 0, 4096, w, OBJ_F_SYNC), -ENOENT, "write without create");
	cr_assert_eq(io(OBJ_WRITE, oid, 4096, sizeof(w), w, OBJ_F_CREATE | OBJ_F_SYNC), 8192);
	snprintf(path, sizeof(path), "%s/obj/%s", dir, expect_path);
	cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
	memset(r, 1, sizeof(r));
	cr_assert_eq(io(OBJ_READ, oid, 0, sizeof(r), r, 0), (int)sizeof(r));
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(r[i], 0, "hole at %d", i);
	cr_assert_eq(memcmp(r + 4096, w, sizeof(w)), 0);
	for (int i = 4096 + 8192; i < (int)sizeof(r); i++)
		cr_assert_eq(r[i], 0, "past the end at %d", i);
	cr_assert_eq(io(OBJ_REMOVE, oid, 0, 0, NULL, OBJ_F_SYNC), 0);
	cr_assert_eq(stat(path, &st), -1);
	cr_assert_eq(io(OBJ_REMOVE, oid, 0, 0, NULL, 0), -ENOENT);
	cr_assert_eq(io(OBJ_READ, oid, 0, 4096, r, 0), -ENOENT, "the fd cache forgot it");
}

Test(obj_io_plain, create_read_remove, .init = plain_setup, .fini = stop, .timeout = 30)
{
	check_basic_io("007c2b2500000003");
}

Test(obj_io_tree, create_read_remove, .init = tree_setup, .fini = stop, .timeout = 30)
{
	check_basic_io("7c2b25/007c2b2500000003");
}

Test(obj_io_plain, concurrent_creators_never_truncate, .init = plain_setup, .fini = stop,
     .timeout = 30)
{
	enum {
		N = 16
	};
	struct obj_req reqs[N];
	static uint8_t bufs[N][4096], back[N * 4096];
	uint64_t oid = vid_to_data_oid(0x1234, 0);

	for (int i = 0; i < N; i++) {
		memset(bufs[i], i + 1, 4096);
		reqs[i] = (struct obj_req){ .op = OBJ_WRITE,
					    .oid = oid,
					    .offset = (uint64_t)i * 4096,
					    .length = 4096,
					    .buf = bufs[i],
					    .flags = OBJ_F_CREATE | OBJ_F_SYNC };
	}
	obj_exec_batch(reqs, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(reqs[i].result, 4096, "writer %d: %d", i, reqs[i].result);
	cr_assert_eq(io(OBJ_READ, oid, 0, sizeof(back), back, 0), (int)sizeof(back));
	for (int i = 0; i < N; i++)
		cr_assert_eq(memcmp(back + i * 4096, bufs[i], 4096), 0, "writer %d's data lost", i);
}

Test(obj_io_plain, punch_and_prealloc, .init = plain_setup, .fini = stop, .timeout = 30)
{
	uint64_t oid = vid_to_data_oid(0x99, 1);
	static uint8_t w[1 << 20], r[1 << 20];
	char path[128];
	struct stat before, after;

	memset(w, 0xee, sizeof(w));
	cr_assert_eq(io(OBJ_WRITE, oid, 0, sizeof(w), w, OBJ_F_CREATE | OBJ_F_SYNC),
		     (int)sizeof(w));
	snprintf(path, sizeof(path), "%s/obj/%016llx", dir, (unsigned long long)oid);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(io(OBJ_PUNCH, oid, 65536, 512 * 1024, NULL, OBJ_F_SYNC), 0);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_lt(after.st_blocks, before.st_blocks, "punching freed no blocks");
	cr_assert_eq(io(OBJ_READ, oid, 0, sizeof(r), r, 0), (int)sizeof(r));
	for (int i = 0; i < (int)sizeof(r); i++)
		cr_assert_eq(r[i], i >= 65536 && i < 65536 + 512 * 1024 ? 0 : 0xee, "byte %d", i);

	oid = vid_to_data_oid(0x99, 2);
	cr_assert_eq(io(OBJ_ALLOC, oid, 0, 4u << 20, NULL, OBJ_F_CREATE | OBJ_F_SYNC), 0);
	snprintf(path, sizeof(path), "%s/obj/%016llx", dir, (unsigned long long)oid);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_geq(after.st_blocks * 512, 4 << 20, "not preallocated");
}

Test(obj_io_plain, many_objects_over_fd_cache, .init = plain_setup, .fini = stop, .timeout = 60)
{
	/* More objects than the fd cache holds: eviction must keep every object reachable. */
	enum {
		N = 5000
	};
	uint32_t v, back;

	for (uint32_t i = 0; i < N; i++) {
		v = i * 2654435761u;
		cr_assert_eq(io(OBJ_WRITE, vid_to_data_oid(7, i), 0, 4, &v, OBJ_F_CREATE), 4);
	}
	for (uint32_t i = 0; i < N; i++) {
		cr_assert_eq(io(OBJ_READ, vid_to_data_oid(7, i), 0, 4, &back, 0), 4);
		cr_assert_eq(back, i * 2654435761u);
	}
}

/*
 * Inline writes in pieces (store_layout.write_chunk): a write much larger than the piece lands
 * whole, at its offset, whatever the piece size; and the pieces are what the page cache saw
 * (the file is as long as the write, so no piece was dropped or doubled).
 */
static void check_pieces(uint32_t chunk)
{
	uint64_t oid = vid_to_data_oid(0x99, chunk >> 12);
	static uint8_t w[(1 << 20) + 8192], r[sizeof(w)];
	char path[128];
	struct stat st;

	store.write_chunk = chunk;
	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7 + chunk);
	cr_assert_eq(io(OBJ_WRITE, oid, 4096, sizeof(w), w, OBJ_F_CREATE), (int)sizeof(w));
	cr_assert_eq(io(OBJ_READ, oid, 4096, sizeof(r), r, 0), (int)sizeof(r));
	cr_assert_eq(memcmp(w, r, sizeof(w)), 0, "piece size %u", chunk);
	snprintf(path, sizeof(path), "%s/obj/%016llx", dir, (unsigned long long)oid);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 4096 + (off_t)sizeof(w));
}

Test(obj_io_plain, inline_writes_in_pieces, .init = plain_setup, .fini = stop, .timeout = 30)
{
	uint32_t sizes[] = { 0, 4096, 16384, 65536, 262144, 4u << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_pieces(sizes[i]);
}

/*
 * Reads and writes done for a sleeping owner (obj_io.c read_here, write_here): a lone request
 * for another shard's object, done by the submitting shard when it can be, with the owner's
 * answers.
 */
struct side_req {
	struct sd_msg msg;
	struct obj_req req;
	atomic_bool done;
};

static void side_done(struct obj_req *req)
{
	struct side_req *sr = req->priv;

	atomic_store(&sr->done, true);
}

static void side_start(void *arg)
{
	struct side_req *sr = arg;

	obj_submit(&sr->req);
}

/* Submits a request on shard 0, once shard 1 (the owner) sleeps; returns the result. */
static int on_shard0(int op, uint64_t oid, uint64_t off, uint32_t len, void *buf, int flags)
{
	struct side_req sr = { .req = { .op = (uint8_t)op,
					.oid = oid,
					.offset = off,
					.length = len,
					.buf = buf,
					.flags = (uint16_t)flags,
					.done = side_done,
					.priv = &sr } };

	for (int i = 0; i < 1000 && !msg_thread_sleeping(1); i++)
		usleep(1000);
	cr_assert(msg_thread_sleeping(1), "shard 1 never went to sleep");
	usleep(1000); /* shard 0 idle too: its next pass is a quiet one */
	sr.msg.fn = side_start;
	sr.msg.arg = &sr;
	msg_send(0, &sr.msg);
	while (!atomic_load(&sr.done))
		usleep(100);
	return sr.req.result;
}

static int read_from_shard0(uint64_t oid, uint32_t len, void *buf)
{
	return on_shard0(OBJ_READ, oid, 0, len, buf, 0);
}

Test(obj_io_plain, reads_for_a_sleeping_owner, .init = plain_setup, .fini = stop, .timeout = 30)
{
	static uint8_t w[8192], r[8192];
	uint64_t oid = 0, before;
	char path[128];
	int fd;

	for (uint32_t i = 1; !oid; i++)
		if (shard_of_oid(vid_to_data_oid(0x77, i), 2) == 1)
			oid = vid_to_data_oid(0x77, i);
	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 13 + 1);
	cr_assert_eq(io(OBJ_WRITE, oid, 0, 4096, w, OBJ_F_CREATE), 4096);

	before = shard_reads_for_others(0);
	memset(r, 0xaa, sizeof(r));
	cr_assert_eq(read_from_shard0(oid, 4096, r), 4096);
	cr_assert_eq(memcmp(r, w, 4096), 0);
	cr_assert_eq(shard_reads_for_others(0), before + 1, "shard 0 did not read it itself");
	memset(r, 0xaa, sizeof(r));
	cr_assert_eq(read_from_shard0(oid, sizeof(r), r), (int)sizeof(r));
	cr_assert_eq(memcmp(r, w, 4096), 0);
	for (size_t i = 4096; i < sizeof(r); i++)
		cr_assert_eq(r[i], 0, "past the end of the file reads as zeros");

	/*
	 * Out of the page cache: the read must still return the data. Who does it depends on
	 * timing (RWF_NOWAIT starts readahead, which may have finished when it tries again).
	 */
	cr_assert_eq(io(OBJ_WRITE, oid, 0, sizeof(w), w, OBJ_F_SYNC), (int)sizeof(w));
	snprintf(path, sizeof(path), "%s/obj/%016llx", dir, (unsigned long long)oid);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	memset(r, 0, sizeof(r));
	cr_assert_eq(read_from_shard0(oid, sizeof(r), r), (int)sizeof(r));
	cr_assert_eq(memcmp(r, w, sizeof(w)), 0);

	/*
	 * Removed: no object, whichever shard answers (a cached lookup of a name just removed may
	 * be left to the owner). A descriptor shard 0 kept would still read the old data.
	 */
	cr_assert_eq(io(OBJ_REMOVE, oid, 0, 0, NULL, 0), 0);
	cr_assert_eq(read_from_shard0(oid, sizeof(r), r), -ENOENT);
}

struct dirty_query {
	struct sd_msg msg;
	int n;
	uint64_t synced;
	atomic_bool done;
};

static void dirty_count(void *arg)
{
	struct dirty_query *q = arg;

	q->n = peer_fds_dirty();
	q->synced = obj_flush_peer_syncs();
	atomic_store(&q->done, true);
}

/* How many descriptors shard 0 holds for writes not yet synced; how many syncs it has done. */
static int dirty_on_shard0(uint64_t *synced)
{
	struct dirty_query q = { .msg = { .fn = dirty_count, .arg = &q } };

	msg_send(0, &q.msg);
	while (!atomic_load(&q.done))
		usleep(100);
	if (synced)
		*synced = q.synced;
	return q.n;
}

/* Two writes submitted on shard 0 in one loop pass: neither is alone. */
struct two_writes {
	struct side_req a, b;
	struct sd_msg msg;
};

/* A page written at 4096 in oid, from buf, reporting to sr. */
static void side_write(struct side_req *sr, uint64_t oid, void *buf)
{
	sr->req = (struct obj_req){ .op = OBJ_WRITE,
				    .oid = oid,
				    .offset = 4096,
				    .length = 4096,
				    .buf = buf,
				    .flags = OBJ_F_CREATE,
				    .done = side_done,
				    .priv = sr };
}

static void two_writes_start(void *arg)
{
	struct two_writes *t = arg;

	obj_submit(&t->a.req);
	obj_submit(&t->b.req);
}

static void flush_done(struct obj_flush_req *r)
{
	*(bool *)r->priv = true;
}

static int flush(void)
{
	bool done = false;
	struct obj_flush_req r = { .done = flush_done, .priv = &done };

	cr_assert_eq(obj_flush_submit(&r), 0);
	msg_wait_until(&done);
	return r.result;
}

static uint64_t oid_of_shard1(uint32_t vid, uint32_t from)
{
	for (uint32_t i = from;; i++)
		if (shard_of_oid(vid_to_data_oid(vid, i), 2) == 1)
			return vid_to_data_oid(vid, i);
}

/* Whole-page writes in place, as on ext4, wherever the test runs. */
static void inline_writes_setup(void)
{
	setenv("SHEEP_INLINE_WRITES", "1", 1);
	start(STORE_PLAIN);
	unsetenv("SHEEP_INLINE_WRITES");
}

Test(obj_io_plain, writes_for_a_sleeping_owner, .init = inline_writes_setup, .fini = stop,
     .timeout = 30)
{
	static uint8_t w[8192], v[4096], r[8192], a[4096], b[4096];
	uint64_t oid = oid_of_shard1(0x78, 1), fresh = oid_of_shard1(0x78, 1000), before;
	uint64_t synced, synced_before, reads_before;
	struct two_writes t = { 0 };

	for (size_t i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 7 + 3);
	memset(v, 0x5c, sizeof(v));
	cr_assert_eq(io(OBJ_WRITE, oid, 0, sizeof(w), w, OBJ_F_CREATE), (int)sizeof(w));

	/* Whole pages of an existing object: written by shard 0, read back by the owner. */
	before = shard_writes_for_others(0);
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 4096, 4096, v, OBJ_F_CREATE), 4096);
	cr_assert_eq(shard_writes_for_others(0), before + 1, "shard 0 did not write it itself");
	cr_assert_eq(io(OBJ_READ, oid, 0, sizeof(r), r, 0), (int)sizeof(r));
	cr_assert_eq(memcmp(r, w, 4096), 0);
	cr_assert_eq(memcmp(r + 4096, v, 4096), 0);
	cr_assert_eq(dirty_on_shard0(&synced_before), 1,
		     "shard 0 does not know its write needs a sync");
	cr_assert_eq(flush(), 0);
	cr_assert_eq(dirty_on_shard0(&synced), 0, "the flush did not sync shard 0's write");
	cr_assert_eq(synced, synced_before + 1, "the flush did not fdatasync shard 0's descriptor");

	/* Two in one pass: both to the owner, in the order they came. */
	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	side_write(&t.a, oid, a);
	side_write(&t.b, oid, b);
	t.msg = (struct sd_msg){ .fn = two_writes_start, .arg = &t };
	msg_send(0, &t.msg);
	while (!atomic_load(&t.a.done) || !atomic_load(&t.b.done))
		usleep(100);
	cr_assert_eq(t.a.req.result, 4096);
	cr_assert_eq(t.b.req.result, 4096);
	cr_assert_eq(shard_writes_for_others(0), before + 1,
		     "a write that was not alone went here");
	cr_assert_eq(io(OBJ_READ, oid, 4096, 4096, r, 0), 4096);
	cr_assert_eq(memcmp(r, b, 4096), 0, "the second write did not land last");

	/*
	 * The owner's: a partial page, a new object, a durable write, a snapshot's object, a
	 * deleted VDI's.
	 */
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 100, 200, v, OBJ_F_CREATE), 200);
	cr_assert_eq(read_from_shard0(fresh, 4096, r), -ENOENT); /* its absence is cached */
	cr_assert_eq(on_shard0(OBJ_WRITE, fresh, 0, 4096, v, OBJ_F_CREATE), 4096);
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 0, 4096, v, OBJ_F_SYNC), 4096);
	cr_assert_eq(obj_freeze_set(0x78, true), 0);
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 0, 4096, w, OBJ_F_CREATE), -EROFS);
	cr_assert_eq(obj_freeze_set(0x78, false), 0);
	cr_assert_eq(obj_fence_set(0x78, true), 0); /* deleted */
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 0, 4096, w, OBJ_F_CREATE), -ENODEV);
	cr_assert_eq(obj_fence_set(0x78, false), 0);
	cr_assert_eq(shard_writes_for_others(0), before + 1, "shard 0 wrote what its owner must");
	cr_assert_eq(io(OBJ_READ, fresh, 0, 4096, r, 0), 4096);
	cr_assert_eq(memcmp(r, v, 4096), 0);
	cr_assert_eq(io(OBJ_READ, oid, 0, 4096, r, 0), 4096);
	cr_assert_eq(memcmp(r, v, 4096), 0, "a snapshot's object changed");

	/*
	 * A removal elsewhere makes shard 0's descriptors stale; a dirty one stays for its sync,
	 * and meanwhile writes that map to its slot go to the owner.
	 */
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 4096, 4096, w, OBJ_F_CREATE), 4096);
	cr_assert_eq(shard_writes_for_others(0), before + 2);
	cr_assert_eq(io(OBJ_REMOVE, fresh, 0, 0, NULL, 0), 0);
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 4096, 4096, v, OBJ_F_CREATE), 4096);
	cr_assert_eq(shard_writes_for_others(0), before + 2, "a stale descriptor was written");
	reads_before = shard_reads_for_others(0);
	cr_assert_eq(read_from_shard0(oid, 4096, r), 4096);
	cr_assert_eq(shard_reads_for_others(0), reads_before + 1, "a write's sync held up a read");
	cr_assert_eq(dirty_on_shard0(NULL), 1);
	cr_assert_eq(flush(), 0);
	cr_assert_eq(dirty_on_shard0(NULL), 0);
	cr_assert_eq(io(OBJ_READ, oid, 4096, 4096, r, 0), 4096);
	cr_assert_eq(memcmp(r, v, 4096), 0);
	cr_assert_eq(on_shard0(OBJ_WRITE, oid, 4096, 4096, w, OBJ_F_CREATE), 4096);
	cr_assert_eq(shard_writes_for_others(0), before + 3, "the synced slot was not reused");
}
