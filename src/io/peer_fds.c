/* Cached descriptors for other shards' objects (peer_fds.h). */
#include "peer_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store.h"

#define PEER_FDS 64 /* direct-mapped by object id: enough for the hot objects of a lone client */
#define ALL_FDS	 (2 * PEER_FDS)

static uint64_t files_gen; /* bumped by obj_files_changed */

/*
 * Read-only descriptors for reads, then read-write ones for writes: a read never waits for a
 * written descriptor's sync to get a slot (a client that writes without flushing would
 * otherwise send later reads to the owners).
 */
static __thread struct peer_fd slots[ALL_FDS];
static __thread uint64_t seen_gen;
static __thread int seen_dir = -1;

void obj_files_changed(void)
{
	__atomic_add_fetch(&files_gen, 1, __ATOMIC_SEQ_CST);
}

static void slot_close(struct peer_fd *p)
{
	close(p->fd);
	*p = (struct peer_fd){ 0 };
}

void peer_fds_drain(void)
{
	for (int i = 0; i < ALL_FDS; i++)
		if (slots[i].oid)
			slot_close(&slots[i]);
}

/* Every descriptor is stale: the clean ones are closed, the others wait for their sync. */
static void all_stale(void)
{
	for (int i = 0; i < ALL_FDS; i++) {
		struct peer_fd *p = &slots[i];

		if (!p->oid)
			continue;
		if (p->dirty || p->syncs)
			p->stale = true;
		else
			slot_close(p);
	}
}

static struct peer_fd *slot_of(uint64_t oid, bool write)
{
	return &slots[(write ? PEER_FDS : 0) +
		      (oid * UINT64_C(0x9e3779b97f4a7c15) >> 58) % PEER_FDS];
}

/*
 * Opens path only if the kernel can do it without I/O (RESOLVE_CACHED: the directory entries and
 * inode are in memory); -EAGAIN otherwise, and on kernels without it (before 5.12).
 */
static int open_cached(int dir, const char *path, bool write)
{
	struct open_how how = { .flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC,
				.resolve = RESOLVE_CACHED };
	long fd = syscall(SYS_openat2, dir, path, &how, sizeof(how));

	if (fd >= 0)
		return (int)fd;
	return errno == ENOSYS || errno == EINVAL ? -EAGAIN : -errno;
}

int peer_fd_get(const struct store_layout *st, uint64_t oid, int ec, bool write)
{
	uint64_t gen = __atomic_load_n(&files_gen, __ATOMIC_SEQ_CST);
	struct peer_fd *p = slot_of(oid, write);
	char path[48];
	int fd;

	/* Another store (a test's, or one reopened) is as good as a change of every file. */
	if (gen != seen_gen || st->objdir_fd != seen_dir) {
		all_stale();
		seen_gen = gen;
		seen_dir = st->objdir_fd;
	}
	if (p->oid == oid && p->ec == ec && !p->stale)
		return p->fd;
	if (p->oid && (p->dirty || p->syncs))
		return -EBUSY;
	fd = store_obj_path(st->kind, oid, ec, path, sizeof(path));
	if (fd < 0)
		return fd;
	fd = open_cached(st->objdir_fd, path, write);
	if (fd < 0)
		return fd;
	if (p->oid)
		slot_close(p);
	*p = (struct peer_fd){ .oid = oid, .ec = ec, .fd = fd };
	return fd;
}

void peer_fd_written(uint64_t oid, int ec)
{
	struct peer_fd *p = slot_of(oid, true);

	if (p->oid == oid && p->ec == ec && !p->stale)
		p->dirty = true;
}

void peer_fds_for_each_dirty(void (*fn)(struct peer_fd *p, void *arg), void *arg)
{
	for (int i = 0; i < ALL_FDS; i++) {
		struct peer_fd *p = &slots[i];

		if (!p->oid || !p->dirty)
			continue;
		p->dirty = false;
		p->syncs++;
		fn(p, arg);
	}
}

void peer_fd_synced(struct peer_fd *p, int res)
{
	p->syncs--;
	if (res < 0)
		p->dirty = true;
	if (p->stale && !p->dirty && !p->syncs)
		slot_close(p);
}

int peer_fds_dirty(void)
{
	int n = 0;

	for (int i = 0; i < ALL_FDS; i++)
		n += slots[i].oid && slots[i].dirty;
	return n;
}
