/* Start-up check of io_uring: the ring can be created and knows the opcodes we use. */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"

static const struct {
	int op;
	const char *name;
} needed_ops[] = {
	{ IORING_OP_READ, "READ" },	    { IORING_OP_WRITE, "WRITE" },
	{ IORING_OP_FSYNC, "FSYNC" },	    { IORING_OP_OPENAT, "OPENAT" },
	{ IORING_OP_CLOSE, "CLOSE" },	    { IORING_OP_FALLOCATE, "FALLOCATE" },
	{ IORING_OP_UNLINKAT, "UNLINKAT" }, { IORING_OP_MKDIRAT, "MKDIRAT" },
	{ IORING_OP_ACCEPT, "ACCEPT" },	    { IORING_OP_RECV, "RECV" },
	{ IORING_OP_SEND, "SEND" },	    { IORING_OP_SENDMSG, "SENDMSG" },
	{ IORING_OP_FADVISE, "FADVISE" },   { IORING_OP_RENAMEAT, "RENAMEAT" },
};

int uring_probe(char *msg, size_t len)
{
	struct io_uring ring;
	struct io_uring_probe *probe;
	int ret = io_uring_queue_init(8, &ring, 0);

	if (ret < 0) {
		snprintf(msg, len,
			 "io_uring is not available (%s). sheep does all its I/O through io_uring "
			 "and "
			 "needs Linux 5.15 or later with io_uring enabled: check "
			 "/proc/sys/kernel/io_uring_disabled and any seccomp profile",
			 strerror(-ret));
		return ret;
	}
	probe = io_uring_get_probe_ring(&ring);
	if (!probe) {
		io_uring_queue_exit(&ring);
		snprintf(msg, len,
			 "cannot probe io_uring operations: the kernel is too old (5.15 or "
			 "later is needed)");
		return -ENOSYS;
	}
	ret = 0;
	for (size_t i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, needed_ops[i].op)) {
			snprintf(msg, len,
				 "this kernel's io_uring lacks the %s operation; sheep needs Linux "
				 "5.15 or later",
				 needed_ops[i].name);
			ret = -ENOSYS;
			break;
		}
	}
	io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);
	return ret;
}
