/*
 * Links: the control thread's own client connections to other sheep's client ports, for the
 * cluster's small control traffic (joins, heartbeats, proposals forwarded to the leader). One
 * connection per destination, requests answered in order as the control protocol defines; all
 * non-blocking on the control thread's event loop, with a deadline per call. A destination that
 * fails or times out fails every call queued on it and is dialled again by the next call.
 */
#ifndef SD_LINK_H
#define SD_LINK_H

#include <stdint.h>

#include "../../core/evloop.h"
#include "../../core/node.h"
#include "sheepdog.pb-c.h"

struct link_call;

/*
 * rsp is the decoded response (valid during the call only), or NULL with err (negative errno:
 * -ETIMEDOUT, -ECONNREFUSED, -EPROTO...) when none came.
 */
typedef void (*link_done_fn)(void *arg, const Sdctl__Response *rsp, int err);

void link_init(struct evloop *loop);

/*
 * Sends req (packed here; the caller keeps it) to nid's client port. done runs exactly once,
 * never from inside this call. Returns 0, or -ENOMEM (done will not run).
 */
int link_call(const struct sd_node_id *nid, const Sdctl__Request *req, unsigned timeout_ms,
	      link_done_fn done, void *arg);

/* Fails every call (done with -ESHUTDOWN) and closes every link; for shut-down. */
void link_close_all(void);

#endif
