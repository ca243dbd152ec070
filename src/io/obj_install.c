/* A whole object, written and renamed into place through the shard's ring (obj_install.h). */
#include "obj_install.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd_cache.h"
#include "obj_fence.h"
#include "peer_fds.h"
#include "store.h"

#define INSTALL_BLOCK	  4096
#define INSTALL_MAX_WRITE (1u << 20) /* one WRITE covers at most this much */
#define INSTALL_IN_FLIGHT 8	     /* the writes[] of struct obj_install */

enum {
	ST_PROBE,
	ST_REMOVE,
	ST_OPEN,
	ST_MKDIR,
	ST_WRITE,
	ST_FSYNC,
	ST_CLOSE,
	ST_RENAME,
	ST_SYNCDIR
};

static void step_done(struct uop *op, int res);

static struct io_uring_sqe *sqe_for(struct obj_install *in)
{
	struct io_uring_sqe *sqe = shard_get_sqe(shard_self());

	io_uring_sqe_set_data(sqe, &in->uop);
	in->pending++;
	return sqe;
}

static int objdir(void)
{
	return shard_self()->store->objdir_fd;
}

static void finish(struct obj_install *in, int err)
{
	if (in->fd >= 0) {
		close(in->fd); /* only on a failure: the normal path closed it through the ring */
		in->fd = -1;
	}
	if (err && in->step > ST_OPEN && in->step < ST_SYNCDIR)
		unlinkat(objdir(), in->tmp, 0);
	in->done(in, err);
}

static bool zero_block(const uint8_t *b, uint32_t n)
{
	return b[0] == 0 && !memcmp(b, b + 1, n - 1);
}

static void write_done(struct uop *op, int res);

/* The next extents of non-zero blocks, each one WRITE, a few in flight. */
static void write_more(struct obj_install *in)
{
	/* shard_get_sqe may reap completions when the ring is full: those of this install must
	 * not come back in here. */
	if (in->submitting)
		return;
	in->submitting = true;
	while (in->pending < INSTALL_IN_FLIGHT && in->next_off < in->len && !in->err) {
		struct obj_install_write *w = NULL;
		struct io_uring_sqe *sqe;
		uint32_t off = in->next_off, end;

		while (off < in->len &&
		       zero_block(in->buf + off,
				  in->len - off < INSTALL_BLOCK ? in->len - off : INSTALL_BLOCK))
			off += INSTALL_BLOCK;
		if (off >= in->len) {
			in->next_off = in->len;
			break;
		}
		end = off;
		while (end < in->len && end - off < INSTALL_MAX_WRITE &&
		       !zero_block(in->buf + end,
				   in->len - end < INSTALL_BLOCK ? in->len - end : INSTALL_BLOCK))
			end += INSTALL_BLOCK;
		if (end > in->len)
			end = in->len;
		sqe = shard_get_sqe(shard_self());
		for (int i = 0; i < INSTALL_IN_FLIGHT && !w; i++)
			if (!in->writes[i].len)
				w = &in->writes[i];
		*w = (struct obj_install_write){ .uop.cb = write_done, .len = end - off, .in = in };
		io_uring_prep_write(sqe, in->fd, in->buf + off, end - off, off);
		io_uring_sqe_set_data(sqe, &w->uop);
		in->pending++;
		in->next_off = end;
	}
	in->submitting = false;
}

static void next_step(struct obj_install *in)
{
	switch (in->step) {
	case ST_OPEN:
		io_uring_prep_openat(sqe_for(in), objdir(), in->tmp,
				     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		break;
	case ST_MKDIR:
		io_uring_prep_mkdirat(sqe_for(in), objdir(), in->sub, 0755);
		break;
	case ST_WRITE:
		write_more(in);
		if (in->err && !in->pending)
			finish(in, in->err);
		else if (!in->pending) {
			in->step = ST_FSYNC;
			next_step(in);
		}
		break;
	case ST_FSYNC:
		/* Durable before it counts as current: its mtime says so from now on. */
		io_uring_prep_fsync(sqe_for(in), in->fd, 0);
		break;
	case ST_CLOSE:
		io_uring_prep_close(sqe_for(in), in->fd);
		in->fd = -1;
		break;
	case ST_RENAME:
		/* A delete of the VDI meanwhile: its objects must not come back. */
		if (obj_fenced(in->oid)) {
			unlinkat(objdir(), in->tmp, 0);
			in->done(in, -ESTALE);
			return;
		}
		io_uring_prep_renameat(sqe_for(in), objdir(), in->tmp, objdir(), in->path,
				       in->noreplace ? RENAME_NOREPLACE : 0);
		break;
	case ST_SYNCDIR:
		io_uring_prep_fsync(sqe_for(in), objdir(), 0);
		break;
	}
}

static void step_done(struct uop *op, int res)
{
	struct obj_install *in =
		(struct obj_install *)((char *)op - offsetof(struct obj_install, uop));

	in->pending--;
	switch (in->step) {
	case ST_PROBE:
		if (res >= 0) {
			close(res);
			in->existed = true;
			in->done(in, 0);
		} else if (res == -ENOENT) {
			in->step = ST_OPEN;
			next_step(in);
		} else {
			in->done(in, res);
		}
		return;
	case ST_RENAME:
		if (res >= 0)
			obj_files_changed(); /* it may have replaced a file (peer_fds.h) */
		if (res == -EEXIST && in->noreplace) {
			/* Another copy-up won meanwhile: its object stays, this one goes. */
			unlinkat(objdir(), in->tmp, 0);
			in->existed = true;
			in->done(in, 0);
			return;
		}
		if (res < 0) {
			finish(in, res);
			return;
		}
		in->step++;
		next_step(in);
		return;
	case ST_REMOVE:
		obj_files_changed();
		in->done(in, res < 0 && res != -ENOENT ? res : 0);
		return;
	case ST_OPEN:
		/* The tree store's directory of the VDI may not exist here yet. */
		if (res == -ENOENT && !in->made_dir &&
		    store_obj_subdir(shard_self()->store->kind, in->oid, in->sub,
				     sizeof(in->sub))) {
			in->made_dir = true;
			in->step = ST_MKDIR;
			next_step(in);
			return;
		}
		if (res < 0) {
			finish(in, res);
			return;
		}
		in->fd = res;
		in->step = ST_WRITE;
		next_step(in);
		return;
	case ST_MKDIR:
		in->step = ST_OPEN; /* EEXIST: made meanwhile; anything else fails the open */
		next_step(in);
		return;
	case ST_SYNCDIR:
		/* A request that skipped the check (serving a pull) may have cached the replaced
		 * file's descriptor meanwhile: nobody may write through it. */
		fd_cache_drop(shard_self()->fdc, shard_self(), in->oid, 0, true);
		finish(in, res < 0 ? res : 0);
		return;
	default:
		if (res < 0) {
			finish(in, res);
			return;
		}
		in->step++;
		next_step(in);
		return;
	}
}

static void write_done(struct uop *op, int res)
{
	struct obj_install_write *w = (struct obj_install_write *)op;
	struct obj_install *in = w->in;

	in->pending--;
	if (res < 0 && !in->err)
		in->err = res;
	else if (res >= 0 && (uint32_t)res != w->len && !in->err)
		in->err = -ENOSPC; /* a short write to a local file: no room */
	w->len = 0;
	if (in->submitting)
		return; /* write_more goes on when it returns */
	if (in->err) {
		if (!in->pending)
			finish(in, in->err);
		return;
	}
	next_step(in);
}

void obj_install_start(struct obj_install *in)
{
	struct shard *s = shard_self();

	in->uop.cb = step_done;
	in->fd = -1;
	in->pending = in->err = 0;
	in->next_off = 0;
	in->made_dir = false;
	in->existed = false;
	memset(in->writes, 0, sizeof(in->writes));
	if (store_obj_path(s->store->kind, in->oid, 0, in->path, sizeof(in->path))) {
		in->done(in, -ENAMETOOLONG);
		return;
	}
	if (in->noreplace) {
		static __thread unsigned long seq;

		/* Concurrent copy-ups of one object each have their own temporary file. */
		snprintf(in->tmp, sizeof(in->tmp), "%s.cow%lu", in->path, ++seq);
		in->step = ST_PROBE;
		io_uring_prep_openat(sqe_for(in), s->store->objdir_fd, in->path,
				     O_RDONLY | O_CLOEXEC, 0);
		return;
	}
	/* Nothing may use the stale file's cached descriptor from now on. */
	fd_cache_drop(s->fdc, s, in->oid, 0, true);
	if (!in->buf) {
		in->step = ST_REMOVE;
		io_uring_prep_unlinkat(sqe_for(in), s->store->objdir_fd, in->path, 0);
		return;
	}
	snprintf(in->tmp, sizeof(in->tmp), "%s.pull", in->path);
	in->step = ST_OPEN;
	next_step(in);
}
