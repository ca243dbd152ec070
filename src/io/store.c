/* Object file naming and whole-store scans. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../core/size.h"
#include "peer_fds.h"

int store_kind_parse(const char *name)
{
	if (!strcmp(name, "plain"))
		return STORE_PLAIN;
	if (!strcmp(name, "tree"))
		return STORE_TREE;
	return -1;
}

const char *store_kind_name(enum store_kind kind)
{
	return kind == STORE_TREE ? "tree" : "plain";
}

/* SHEEP_INLINE_WRITES=0/1 overrides the probe (for benchmarks). */
static bool store_probe_write_inline(const char *objdir)
{
	const char *env = getenv("SHEEP_INLINE_WRITES");
	char page[4096] = { 0 };
	struct iovec iov = { page, sizeof(page) };
	bool unsupported;
	int fd;

	if (env && *env)
		return strcmp(env, "0") && strcasecmp(env, "no") && strcasecmp(env, "false") &&
		       strcasecmp(env, "off");
	/* An unnamed file: nothing is left behind, and no scan of the store can see it. */
	fd = open(objdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	unsupported = pwritev2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
	close(fd);
	return unsupported;
}

/*
 * The default piece size for inline writes: on ext4, STORE_EXT4_WRITE_CHUNK; elsewhere whole
 * writes (XFS and btrfs track a large folio's dirty blocks in a bitmap, not buffer heads).
 * SHEEP_WRITE_CHUNK=SIZE overrides ("256K"; 0: whole writes; a multiple of 4096 up to 4M).
 */
static uint32_t store_probe_write_chunk(int objdir_fd)
{
	const char *env = getenv("SHEEP_WRITE_CHUNK");
	struct statfs sfs;

	if (env && *env) {
		uint64_t v;

		if (!size_parse(env, &v) && v % 4096 == 0 && v <= (4u << 20))
			return (uint32_t)v;
		log_warn("SHEEP_WRITE_CHUNK='%s' is not 0 or a multiple of 4096 bytes up to 4M; "
			 "using the default",
			 env);
	}
	if (fstatfs(objdir_fd, &sfs) == 0 && sfs.f_type == EXT4_SUPER_MAGIC)
		return STORE_EXT4_WRITE_CHUNK;
	return 0;
}

int store_layout_open(struct store_layout *st, const char *dir, enum store_kind kind)
{
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	if (snprintf(st->objdir, sizeof(st->objdir), "%s/obj", dir) >= (int)sizeof(st->objdir))
		return -ENAMETOOLONG;
	if (mkdir(st->objdir, 0755) < 0 && errno != EEXIST)
		return -errno;
	st->objdir_fd = open(st->objdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->objdir_fd < 0)
		return -errno;
	st->write_inline = store_probe_write_inline(st->objdir);
	st->write_chunk = store_probe_write_chunk(st->objdir_fd);
	return 0;
}

void store_layout_close(struct store_layout *st)
{
	if (st->objdir_fd > 0)
		close(st->objdir_fd);
	st->objdir_fd = -1;
}

bool store_obj_subdir(enum store_kind kind, uint64_t oid, char *buf, size_t len)
{
	if (kind != STORE_TREE)
		return false;
	snprintf(buf, len, "%06" PRIx32, oid_to_vid(oid));
	return true;
}

int store_obj_path(enum store_kind kind, uint64_t oid, int ec_index, char *buf, size_t len)
{
	char sub[16];
	int n;

	if (store_obj_subdir(kind, oid, sub, sizeof(sub)))
		n = ec_index ? snprintf(buf, len, "%s/%016" PRIx64 "_%d", sub, oid, ec_index)
			     : snprintf(buf, len, "%s/%016" PRIx64, sub, oid);
	else
		n = ec_index ? snprintf(buf, len, "%016" PRIx64 "_%d", oid, ec_index)
			     : snprintf(buf, len, "%016" PRIx64, oid);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int store_parse_name(const char *name, uint64_t *oid, int *ec_index)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = name[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*ec_index = 0;
	if (name[16] == '_') {
		char *end;
		long idx = strtol(name + 17, &end, 10);

		if (end == name + 17 || *end || idx < 1 || idx > 31)
			return -EINVAL;
		*ec_index = (int)idx;
	} else if (name[16]) {
		return -EINVAL;
	}
	*oid = v;
	return 0;
}

static int scan_dir(int dfd, int (*fn)(uint64_t, int, void *), void *arg, bool recurse)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while (!ret && (de = readdir(d))) {
		uint64_t oid;
		int ec;

		if (de->d_name[0] == '.')
			continue;
		if (!store_parse_name(de->d_name, &oid, &ec)) {
			ret = fn(oid, ec, arg);
		} else if (recurse && strlen(de->d_name) == 6) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (sub >= 0)
				ret = scan_dir(sub, fn, arg, false);
		}
	}
	closedir(d);
	return ret;
}

int store_for_each(const struct store_layout *st, int (*fn)(uint64_t, int, void *), void *arg)
{
	int dfd = openat(st->objdir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	return scan_dir(dfd, fn, arg, st->kind == STORE_TREE);
}

static int wipe_dir(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		if (errno == EISDIR) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (sub >= 0)
				wipe_dir(sub);
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && !ret)
				ret = -errno;
		} else if (!ret) {
			ret = -errno;
		}
	}
	if (fsync(dirfd(d)) < 0 && !ret)
		ret = -errno;
	closedir(d);
	return ret;
}

int store_wipe(const struct store_layout *st)
{
	int dfd = openat(st->objdir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (dfd < 0)
		return -errno;
	ret = wipe_dir(dfd);
	obj_files_changed(); /* even a partial wipe removed files (peer_fds.h) */
	return ret;
}
