/*
 * ZooKeeper's multi-threaded C client (libzookeeper_mt) seen from the control thread. The
 * library calls completions and watches on a thread of its own; here each one is copied into a
 * queue and run on the control thread's loop, so the driver above (zk_driver.c) keeps the
 * single-threaded shape of everything else on that thread and never calls a blocking zoo_*
 * function. One session per process.
 *
 * Buffers: every call copies what it is given (paths, data), so the caller keeps its bytes. A
 * result is valid only during its done callback.
 *
 * Every call accepted (return 0) gets exactly one done, never from inside the call, also when
 * the session closes first (rc ZCLOSING or ZSESSIONEXPIRED). Session and watch events go to the
 * event function given to zk_client_open, in the order the library saw them.
 */
#ifndef SD_ZK_CLIENT_H
#define SD_ZK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/evloop.h"

#define ZK_PATH_MAX 256

struct zk_result {
	int rc;			 /* ZOK (0) or a ZooKeeper error code (negative) */
	char path[ZK_PATH_MAX];	 /* create (and a multi's first create): the path made */
	char *data;		 /* get: the node's bytes (NUL after them), NULL when none */
	int len;		 /* get: how many */
	char **names;		 /* children: the names, unsorted */
	int nr_names;		 /* children: how many */
	int32_t version;	 /* get, exists: the node's data version */
	int64_t ephemeral_owner; /* get, exists: the session that owns it, 0 if persistent */
	int64_t czxid;		 /* get, exists: the transaction that created it */
};

typedef void (*zk_done_fn)(void *arg, const struct zk_result *r);

/* A session or watch event: type and state as zookeeper.h defines them; path may be "". */
typedef void (*zk_event_fn)(void *arg, int type, int state, const char *path);

/*
 * Opens a session to hosts ("host:port[,host:port...][/chroot]") asking for timeout_ms.
 * Connecting goes on in the background; the event function hears ZOO_CONNECTED_STATE. 0 or
 * negative errno.
 */
int zk_client_open(struct evloop *loop, const char *hosts, int timeout_ms, zk_event_fn fn,
		   void *arg);
/* Closes the session (its ephemeral nodes go at once) and runs every done still due. */
void zk_client_close(void);
/* A new session after the old one expired: close, then open with the same settings. */
int zk_client_reopen(void);

bool zk_client_connected(void);
/* The session's id (0 before the first connect) and negotiated timeout in ms. */
int64_t zk_client_session(void);
int zk_client_timeout_ms(void);
/* zerror(rc) for logs. */
const char *zk_client_error(int rc);

/* The operations; 0, or negative errno when the call could not be queued (done not called). */
int zk_create(const char *path, const void *data, size_t len, int flags, zk_done_fn done,
	      void *arg);
int zk_get(const char *path, zk_done_fn done, void *arg);
int zk_set(const char *path, const void *data, size_t len, int32_t version, zk_done_fn done,
	   void *arg);
int zk_delete(const char *path, int32_t version, zk_done_fn done, void *arg);
int zk_exists(const char *path, zk_done_fn done, void *arg);
/* Children of path; watch: the event function hears the next change of the list. */
int zk_children(const char *path, bool watch, zk_done_fn done, void *arg);
/* Waits until the server this session talks to has everything the ensemble committed. */
int zk_sync(const char *path, zk_done_fn done, void *arg);

/* One step of a transaction: all of them happen, or none. */
struct zk_op {
	enum {
		ZK_OP_CREATE,
		ZK_OP_DELETE
	} kind;
	const char *path;
	const void *data; /* create */
	size_t len;
	int flags;	 /* create: ZOO_EPHEMERAL, ZOO_PERSISTENT_SEQUENTIAL, 0... */
	int32_t version; /* delete: -1 for any */
};
#define ZK_MULTI_MAX 4
/* rc is the transaction's; path is the first create's, as made. */
int zk_multi(const struct zk_op *ops, int nr, zk_done_fn done, void *arg);

#endif
