/* The per-object state machine that runs on the owning shard. */
#include "obj_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/list.h"
#include "../core/log.h"
#include "fd_cache.h"
#include "obj_fence.h"
#include "obj_install.h"
#include "peer_fds.h"
#include "store.h"

enum stage {
	ST_OPEN,
	ST_CREATE,
	ST_MKDIR,
	ST_IO,
	ST_DATASYNC,
	ST_UNLINK,
	ST_DIROPEN,
	ST_DIRSYNC,
	ST_DIRCLOSE,
	ST_TOPSYNC,
};

static void obj_cqe(struct uop *op, int res);

static struct obj_req *req_of(struct uop *op)
{
	return container_of(op, struct obj_req, uop);
}

static struct io_uring_sqe *next_sqe(struct obj_req *req, int stage)
{
	struct io_uring_sqe *sqe = shard_get_sqe(shard_self());

	req->stage = stage;
	io_uring_sqe_set_data(sqe, &req->uop);
	return sqe;
}

static void reply_msg(void *arg)
{
	struct obj_req *req = arg;

	req->done(req);
}

/* Set while obj_submit runs obj_start directly: a completion then must not run inline. */
static __thread bool starting_inline;

/*
 * A request that completed inside its own obj_submit (owner == submitter, file cached, a write
 * done in place) runs its callback at the end of the loop pass. Not a message to self: the ring
 * to self holds only SD_MSG_RING_SIZE, and a full ring would make msg_send run other callbacks
 * nested inside the submitter.
 */
static void done_at_pass_end(struct shard_defer *d)
{
	struct obj_req *req = container_of(d, struct obj_req, defer);

	req->done(req);
}

/* Writes in flight by generation: a freeze waits for those of the generation before it. */
static __thread uint32_t wgen;
static __thread int winflight[2];

void obj_write_barrier_begin(void)
{
	wgen++;
}

bool obj_write_barrier_done(void)
{
	return winflight[(wgen - 1) & 1] == 0;
}

static void finish(struct obj_req *req, int res)
{
	struct shard *s = shard_self();

	if (req->counted) {
		winflight[req->wgen & 1]--;
		req->counted = false;
	}
	if (req->fde) {
		fd_cache_put(s->fdc, req->fde);
		req->fde = NULL;
	}
	req->result = res;
	if (res < 0 && res != -ENOENT)
		log_debug("object %016lx op %d: %s", (unsigned long)req->oid, req->op,
			  strerror(-res));
	if (req->origin == s->id) {
		if (starting_inline) {
			req->defer.fn = done_at_pass_end;
			shard_defer(s, &req->defer);
		} else {
			req->done(req);
		}
		return;
	}
	req->msg.fn = reply_msg;
	req->msg.arg = req;
	msg_send(req->origin, &req->msg);
}

static int create_flags(const struct obj_req *req)
{
	return req->flags & OBJ_F_FRESH ? O_CREAT | O_TRUNC : O_CREAT | O_EXCL;
}

static void prep_open(struct obj_req *req, int stage, int flags)
{
	struct shard *s = shard_self();
	struct io_uring_sqe *sqe = next_sqe(req, stage);

	io_uring_prep_openat(sqe, s->store->objdir_fd, req->path, O_RDWR | O_CLOEXEC | flags, 0644);
}

/* Makes the new directory entries durable: the object's directory, then (tree) its parent. */
static void start_dirsync(struct obj_req *req)
{
	struct shard *s = shard_self();
	char sub[16];

	if (store_obj_subdir(s->store->kind, req->oid, sub, sizeof(sub))) {
		struct io_uring_sqe *sqe = next_sqe(req, ST_DIROPEN);

		/* path is "vid/oid": cut it at the slash to name the directory. */
		memcpy(req->path, sub, strlen(sub) + 1);
		io_uring_prep_openat(sqe, s->store->objdir_fd, req->path,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	} else {
		io_uring_prep_fsync(next_sqe(req, ST_TOPSYNC), s->store->objdir_fd, 0);
	}
}

static void after_io(struct obj_req *req)
{
	if (req->flags & OBJ_F_SYNC) {
		io_uring_prep_fsync(next_sqe(req, ST_DATASYNC), req->fde->fd,
				    IORING_FSYNC_DATASYNC);
		return;
	}
	/* Only changes need a later flush; a dirty entry is never evicted until then. */
	if (req->op != OBJ_READ && req->op != OBJ_PREFETCH)
		req->fde->dirty = true;
	finish(req, req->op == OBJ_READ || req->op == OBJ_WRITE ? (int)req->length : 0);
}

/*
 * Reads what the page cache holds of [offset + xfer, offset + length) without waiting for the
 * disk (RWF_NOWAIT). Returns 0 when it has read everything (zeros past the end of the file),
 * -EAGAIN when the rest needs the disk (or the filesystem cannot tell), or -errno.
 */
static int read_cached(struct obj_req *req, int fd)
{
	while (req->xfer < req->length) {
		struct iovec iov = { (char *)req->buf + req->xfer, req->length - req->xfer };
		ssize_t n = preadv2(fd, &iov, 1, (off_t)(req->offset + req->xfer), RWF_NOWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		/* Unsupported here (a filesystem, a sandbox): the ring does the read instead. */
		if (n < 0)
			return errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS ? -EAGAIN
											 : -errno;
		if (n == 0) {
			memset((char *)req->buf + req->xfer, 0, req->length - req->xfer);
			req->xfer = req->length;
		} else {
			req->xfer += (uint32_t)n;
		}
	}
	return 0;
}

/*
 * Writes [offset + xfer, offset + length) with pwritev2(flags) in pieces of at most
 * store_layout.write_chunk; a short piece ends it. Returns the bytes written, or -errno when the
 * first piece failed.
 */
static int write_pieces(struct obj_req *req, int fd, int flags)
{
	uint32_t chunk = shard_self()->store->write_chunk, done = 0;
	ssize_t n = 0;

	while (req->xfer + done < req->length) {
		size_t len = req->length - req->xfer - done;
		struct iovec iov;

		if (chunk && len > chunk)
			len = chunk;
		iov = (struct iovec){ (char *)req->buf + req->xfer + done, len };
		n = pwritev2(fd, &iov, 1, (off_t)(req->offset + req->xfer + done), flags);
		if (n <= 0)
			break;
		done += (uint32_t)n;
		if ((size_t)n < len)
			break;
	}
	return n < 0 && !done ? -errno : (int)done;
}

static void io_done(struct obj_req *req, int res);

/*
 * Whole pages on a filesystem where io_uring would punt the write to a worker (see
 * store_layout.write_inline): written here, synchronously. A partial page could need a read
 * from disk first, so it still goes through the ring.
 */
static bool write_inline(const struct obj_req *req)
{
	uint64_t off = req->offset + req->xfer;

	return shard_self()->store->write_inline && (off & 4095) == 0 &&
	       ((req->length - req->xfer) & 4095) == 0;
}

static void do_io(struct obj_req *req)
{
	int fd = req->fde->fd;
	struct io_uring_sqe *sqe;

	switch (req->op) {
	case OBJ_READ:
		/* A lone read (see obj_submit) from the page cache: no pass of the ring to wait. */
		if (req->lone) {
			int ret = read_cached(req, fd);

			if (ret != -EAGAIN) {
				req->stage = ST_IO;
				if (ret)
					finish(req, ret);
				else
					after_io(req);
				return;
			}
		}
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_read(sqe, fd, (char *)req->buf + req->xfer, req->length - req->xfer,
				   req->offset + req->xfer);
		break;
	case OBJ_WRITE:
		if (req->length == 0) {
			after_io(req);
			return;
		}
		if (write_inline(req)) {
			req->stage = ST_IO;
			io_done(req, write_pieces(req, fd, 0));
			return;
		}
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_write(sqe, fd, (const char *)req->buf + req->xfer,
				    req->length - req->xfer, req->offset + req->xfer);
		break;
	case OBJ_PUNCH:
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)req->offset, req->length);
		break;
	case OBJ_ALLOC:
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_fallocate(sqe, fd, 0, 0, req->length);
		break;
	case OBJ_ZERO:
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)req->offset, req->length);
		break;
	case OBJ_PREFETCH:
		sqe = next_sqe(req, ST_IO);
		io_uring_prep_fadvise(sqe, fd, req->offset, (off_t)req->length,
				      POSIX_FADV_WILLNEED);
		break;
	default:
		finish(req, -EINVAL);
	}
}

static void got_fd(struct obj_req *req, int fd)
{
	struct shard *s = shard_self();

	req->fde = fd_cache_insert(s->fdc, s, req->oid, req->ec_index, fd);
	if (!req->fde) {
		finish(req, -ENOMEM);
		return;
	}
	do_io(req);
}

/*
 * A filesystem without FALLOC_FL_ZERO_RANGE (tmpfs, some network filesystems): zero the range by
 * punching it out, then allocate it again, so that it stays allocated as NBD's NO_HOLE asks.
 * Returns true when the next step has been queued.
 */
static bool zero_fallback(struct obj_req *req, int res)
{
	int mode;

	if (req->zero_step == 0 && (res == -EOPNOTSUPP || res == -EINVAL))
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else if (req->zero_step == 1 && res >= 0)
		mode = FALLOC_FL_KEEP_SIZE;
	else
		return false;
	req->zero_step++;
	io_uring_prep_fallocate(next_sqe(req, ST_IO), req->fde->fd, mode, (off_t)req->offset,
				req->length);
	return true;
}

static void io_done(struct obj_req *req, int res)
{
	if (req->op == OBJ_ZERO && zero_fallback(req, res))
		return;
	if (res < 0) {
		finish(req, res);
		return;
	}
	if (req->op == OBJ_READ || req->op == OBJ_WRITE) {
		if (res == 0) {
			if (req->op == OBJ_WRITE) {
				finish(req, -EIO);
				return;
			}
			/* End of file: the rest of a sparse object reads as zeros. */
			memset((char *)req->buf + req->xfer, 0, req->length - req->xfer);
			req->xfer = req->length;
		} else {
			req->xfer += (uint32_t)res;
		}
		if (req->xfer < req->length) {
			do_io(req);
			return;
		}
	}
	after_io(req);
}

/*
 * Out of file descriptors: close idle cached ones and retry the open once. The cache is sized
 * from RLIMIT_NOFILE, so this happens only when something else holds many descriptors.
 */
static bool retry_after_emfile(struct obj_req *req, int res)
{
	struct shard *s = shard_self();

	if ((res != -EMFILE && res != -ENFILE) || req->evicted)
		return false;
	req->evicted = true;
	if (!fd_cache_evict_idle(s->fdc, s, 64))
		return false;
	log_warn("shard %d: out of file descriptors; closed idle object files to continue", s->id);
	return true;
}

static void obj_cqe(struct uop *op, int res)
{
	struct obj_req *req = req_of(op);
	struct shard *s = shard_self();

	if ((req->stage == ST_OPEN || req->stage == ST_CREATE) && retry_after_emfile(req, res)) {
		prep_open(req, req->stage, req->stage == ST_OPEN ? 0 : create_flags(req));
		return;
	}
	switch (req->stage) {
	case ST_OPEN:
		if (res >= 0)
			got_fd(req, res);
		else if (res == -ENOENT && (req->flags & OBJ_F_CREATE))
			prep_open(req, ST_CREATE, create_flags(req));
		else
			finish(req, res);
		break;
	case ST_CREATE:
		if (res >= 0 && obj_fenced(req->oid)) {
			/* Its VDI was deleted while the file was being created: it must not stay.
			 */
			close(res);
			if (unlinkat(s->store->objdir_fd, req->path, 0) < 0)
				log_warn("cannot remove object %016" PRIx64 " of a deleted VDI: %s",
					 req->oid, strerror(errno));
			obj_files_changed();
			finish(req, -ENODEV);
		} else if (res >= 0) {
			req->created = true;
			got_fd(req, res);
		} else if (res == -EEXIST) {
			/* Another creator won: use its file, never truncate it. */
			req->flags &= (uint16_t)~OBJ_F_CREATE;
			prep_open(req, ST_OPEN, 0);
		} else if (res == -ENOENT && s->store->kind == STORE_TREE && !req->dir_created) {
			char sub[16];

			store_obj_subdir(s->store->kind, req->oid, sub, sizeof(sub));
			req->dir_created = true;
			/* The subdirectory name is a prefix of path; mkdirat needs it alone. */
			req->path[strlen(sub)] = '\0';
			io_uring_prep_mkdirat(next_sqe(req, ST_MKDIR), s->store->objdir_fd,
					      req->path, 0755);
		} else {
			finish(req, res);
		}
		break;
	case ST_MKDIR:
		req->path[strlen(req->path)] = '/';
		if (res < 0 && res != -EEXIST)
			finish(req, res);
		else
			prep_open(req, ST_CREATE, create_flags(req));
		break;
	case ST_IO:
		io_done(req, res);
		break;
	case ST_DATASYNC:
		if (res < 0)
			finish(req, res);
		else if (req->created)
			start_dirsync(req);
		else
			finish(req,
			       req->op == OBJ_READ || req->op == OBJ_WRITE ? (int)req->length : 0);
		break;
	case ST_UNLINK:
		obj_files_changed();
		if (res < 0)
			finish(req, res);
		else if (req->flags & OBJ_F_SYNC)
			start_dirsync(req);
		else
			finish(req, 0);
		break;
	case ST_DIROPEN:
		if (res < 0) {
			finish(req, res);
			break;
		}
		req->dirfd = res;
		io_uring_prep_fsync(next_sqe(req, ST_DIRSYNC), req->dirfd, 0);
		break;
	case ST_DIRSYNC:
		req->saved = res;
		io_uring_prep_close(next_sqe(req, ST_DIRCLOSE), req->dirfd);
		break;
	case ST_DIRCLOSE:
		if (req->saved < 0)
			finish(req, req->saved);
		else if (req->dir_created)
			io_uring_prep_fsync(next_sqe(req, ST_TOPSYNC), s->store->objdir_fd, 0);
		else
			finish(req, req->op == OBJ_WRITE ? (int)req->length : 0);
		break;
	case ST_TOPSYNC:
		if (res < 0)
			finish(req, res);
		else
			finish(req, req->op == OBJ_WRITE ? (int)req->length : 0);
		break;
	}
}

bool (*obj_check_hook)(struct obj_req *req);

static void obj_run(struct obj_req *req);

void obj_resume(struct obj_req *req, int err)
{
	if (err)
		finish(req, err);
	else
		obj_run(req);
}

static bool is_content_write(const struct obj_req *req)
{
	return req->op == OBJ_WRITE || req->op == OBJ_ZERO || req->op == OBJ_PUNCH ||
	       req->op == OBJ_ALLOC;
}

static void copyup_done(struct obj_install *in, int err)
{
	struct obj_req *req = in->priv;

	req->created = !err && !in->existed;
	free(in);
	req->install = NULL;
	finish(req, err);
}

static void start_copyup(struct obj_req *req)
{
	struct obj_install *in = calloc(1, sizeof(*in));

	if (!in) {
		finish(req, -ENOMEM);
		return;
	}
	*in = (struct obj_install){ .oid = req->oid,
				    .buf = req->buf,
				    .len = req->length,
				    .noreplace = true,
				    .done = copyup_done,
				    .priv = req };
	req->install = in;
	obj_install_start(in);
}

/* Runs on the owning shard. */
static void obj_start(void *arg)
{
	struct obj_req *req = arg;
	bool (*check)(struct obj_req *) = __atomic_load_n(&obj_check_hook, __ATOMIC_ACQUIRE);

	req->uop.cb = obj_cqe;
	if (check && !(req->flags & OBJ_F_NOCHECK) && !check(req))
		return; /* the check owns it until obj_resume */
	obj_run(req);
}

static void obj_run(struct obj_req *req)
{
	struct shard *s = shard_self();
	int ret;

	/* Past the check (obj_check_hook): the copy is current, or there is no object. */
	if (req->op == OBJ_RECOVER) {
		finish(req, 0);
		return;
	}

	/* A deleted VDI's objects are never created again (obj_fence.h). */
	if ((req->flags & OBJ_F_CREATE || req->op == OBJ_COPYUP) && obj_fenced(req->oid)) {
		finish(req, -ENODEV);
		return;
	}
	if (req->op == OBJ_COPYUP) {
		start_copyup(req);
		return;
	}
	if (is_content_write(req)) {
		/* A snapshot's objects change no more (obj_fence.h). */
		if (!(req->flags & (OBJ_F_NOCHECK | OBJ_F_REPAIR)) && obj_frozen(req->oid)) {
			finish(req, -EROFS);
			return;
		}
		req->counted = true;
		req->wgen = wgen;
		winflight[wgen & 1]++;
	} else if (req->op == OBJ_READ && (req->flags & OBJ_F_FROZEN) && !obj_frozen(req->oid)) {
		/* The copy-up's node took the snapshot; this one has not applied it yet. */
		finish(req, -EL2NSYNC);
		return;
	}
	/* The common case, an open file in the cache, needs no path. */
	if (req->op != OBJ_REMOVE && !(req->flags & OBJ_F_FRESH)) {
		req->fde = fd_cache_get(s->fdc, req->oid, req->ec_index);
		if (req->fde) {
			do_io(req);
			return;
		}
	}
	ret = store_obj_path(s->store->kind, req->oid, req->ec_index, req->path, sizeof(req->path));
	if (ret) {
		finish(req, ret);
		return;
	}
	if (req->op == OBJ_REMOVE) {
		fd_cache_drop(s->fdc, s, req->oid, req->ec_index, true);
		io_uring_prep_unlinkat(next_sqe(req, ST_UNLINK), s->store->objdir_fd, req->path, 0);
		return;
	}
	if (req->flags & OBJ_F_FRESH) {
		if (!fd_cache_drop(s->fdc, s, req->oid, req->ec_index, false)) {
			finish(req, -EBUSY);
			return;
		}
		prep_open(req, ST_CREATE, create_flags(req));
		return;
	}
	prep_open(req, ST_OPEN, 0);
}

/*
 * Requests done by the submitting shard instead of the owner, which sleeps: waking it costs more
 * than the I/O (tens of microseconds on small VMs, and a second CPU). Only where nothing but the
 * file decides the answer: no current-copy check (the local driver, see lone_run; clusters check
 * on the owner), no snapshot condition, and only I/O that cannot wait for the disk. The
 * descriptor comes from peer_fds.h, which never serves one for a file its owner replaced or
 * removed before the request began. res -EAGAIN leaves the request to the owner.
 */
static bool done_here(struct obj_req *req, int res, uint64_t *counter)
{
	struct shard *s = shard_self();

	if (res == -EAGAIN) {
		req->xfer = 0;
		return false;
	}
	req->result = res ? res : (int)req->length;
	__atomic_store_n(counter, *counter + 1, __ATOMIC_RELAXED);
	req->defer.fn = done_at_pass_end;
	shard_defer(s, &req->defer);
	return true;
}

/*
 * A read from the page cache only. Reads have no order with writes in flight, and a write is
 * acknowledged only once in the page cache, so a read sees every acknowledged write.
 */
static bool read_here(struct obj_req *req)
{
	struct shard *s = shard_self();
	int fd;

	if (req->flags & (OBJ_F_FROZEN | OBJ_F_SYNC | OBJ_F_CREATE))
		return false;
	fd = peer_fd_get(s->store, req->oid, req->ec_index, false);
	/* No object is an answer; any other failure to open is the owner's to meet. */
	if (fd < 0 && fd != -ENOENT)
		return false;
	return done_here(req, fd < 0 ? fd : read_cached(req, fd), &s->nr_reads_for_others);
}

/*
 * An overwrite of whole pages of an existing file, where the owner would write in place too
 * (store_layout.write_inline), or else only if the filesystem takes it without waiting
 * (RWF_NOWAIT). A missing file (a create), a snapshot's object (-EROFS), a deleted VDI's
 * (-ENODEV), a durable write: the owner's. The shard checks its own copy of the frozen set: a
 * freeze changes every shard's copy before it waits, and this write completes within the pass that
 * checked. The next flush syncs the file from here (peer_fds.h), as every shard takes part in every
 * flush.
 */
static bool write_here(struct obj_req *req)
{
	struct shard *s = shard_self();
	int fd, res;

	if ((req->flags & ~OBJ_F_CREATE) || ((req->offset | req->length) & 4095) || !req->length ||
	    obj_frozen(req->oid) || obj_fenced(req->oid))
		return false;
	fd = peer_fd_get(s->store, req->oid, req->ec_index, true);
	if (fd < 0) /* no file yet (the owner creates it), or no descriptor now */
		return false;
	res = write_pieces(req, fd, s->store->write_inline ? 0 : RWF_NOWAIT);
	if (res > 0)
		peer_fd_written(req->oid, req->ec_index);
	/* Short or failed: the owner writes it all again, and reports what it meets. */
	return done_here(req, res == (int)req->length ? 0 : -EAGAIN, &s->nr_writes_for_others);
}

/* To the owner: at once when that is this shard, else by message. */
static void route(struct obj_req *req)
{
	int owner = shard_of_oid(req->oid, shard_count());

	/* The owner submitting to itself skips the message (and a loop pass). */
	if (owner == sd_self_id) {
		bool outer = starting_inline;

		starting_inline = true;
		obj_start(req);
		starting_inline = outer;
		return;
	}
	msg_send(owner, &req->msg);
}

/*
 * Lone requests. A shard holds back the first read or write a loop pass submits until the pass
 * ends: if nothing came before or after it, it is alone (queue depth 1, a quiet moment), and no
 * request of this shard's waits in the owner's ring ahead of it. A lone read is done
 * at once from the page cache, by the owner without a pass of the ring (do_io); a lone read or
 * write of an object whose owner sleeps is done by this shard itself (read_here, write_here).
 * Requests that come in numbers go to their owners, batched through the rings, in the order
 * they came. Nothing waits longer than before: messages and ring submissions of a pass only
 * leave at its end.
 */
static void lone_run(struct shard_defer *d);

static __thread struct obj_req *held;
static __thread bool held_crowded; /* another request came in this pass */
static __thread struct shard_defer held_defer = { .fn = lone_run };

static void lone_run(struct shard_defer *d)
{
	struct obj_req *req = held;
	struct shard *s = shard_self();
	int owner;

	(void)d;
	held = NULL;
	held_crowded = false;
	if (!req)
		return;
	req->lone = true;
	owner = shard_of_oid(req->oid, shard_count());
	if (owner != sd_self_id && msg_thread_sleeping(owner) &&
	    !__atomic_load_n(&obj_check_hook, __ATOMIC_ACQUIRE) &&
	    (req->op == OBJ_READ ? read_here(req) : write_here(req)))
		return;
	if (req->op == OBJ_READ)
		s->nr_lone_reads++;
	else
		s->nr_lone_writes++;
	route(req);
}

void obj_submit(struct obj_req *req)
{
	struct shard *s = shard_self();

	req->origin = sd_self_id;
	req->fde = NULL;
	req->xfer = 0;
	req->created = req->dir_created = req->evicted = false;
	req->zero_step = 0;
	req->counted = false;
	req->lone = false;
	req->install = NULL;
	req->defer.queued = false;
	req->msg.fn = obj_start;
	req->msg.arg = req;
	if (s) {
		struct obj_req *first = held;

		/* lone_run, at the pass end, decides for the held request and resets the state. */
		shard_defer(s, &held_defer);
		if (!held_crowded && !first && (req->op == OBJ_READ || req->op == OBJ_WRITE)) {
			held = req;
			return;
		}
		held_crowded = true; /* nothing in this pass is alone any more */
		if (first) {
			/* The held one goes first, keeping the order of submission. */
			held = NULL;
			route(first);
		}
	}
	route(req);
}

static void exec_done(struct obj_req *req)
{
	*(bool *)req->priv = true;
}

int obj_exec(struct obj_req *req)
{
	bool done = false;

	req->done = exec_done;
	req->priv = &done;
	obj_submit(req);
	msg_wait_until(&done);
	return req->result;
}

struct batch {
	int pending;
	bool done;
};

static void batch_done(struct obj_req *req)
{
	struct batch *b = req->priv;

	if (--b->pending == 0)
		b->done = true;
}

void obj_exec_batch(struct obj_req *reqs, int n)
{
	struct batch b = { .pending = n, .done = n == 0 };

	for (int i = 0; i < n; i++) {
		reqs[i].done = batch_done;
		reqs[i].priv = &b;
		obj_submit(&reqs[i]);
	}
	msg_wait_until(&b.done);
}
