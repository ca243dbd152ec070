/*
 * What the control operations share: the response being built (an arena that every part of the
 * response is allocated from, freed after packing) and the helpers that fill it. Private to
 * src/frontends/ctl.
 */
#ifndef SD_CTL_REPLY_H
#define SD_CTL_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_ops.h"
#include "sheepdog.pb-c.h"

struct vdi;

struct reply {
	Sdctl__Response rsp;
	char msg[1024];
	void **allocs;
	int nr_allocs, cap_allocs;
	void *io_buf; /* from the thread's buffer pool, returned after packing */
	size_t io_len;
	bool async; /* the operation answers later through its ctl_call */
};

void ctl_reply_init(struct reply *r);
/* Appends the framed response to *out and frees the arena. 0, or -1 out of memory. */
int ctl_reply_pack(struct reply *r, uint8_t **out, size_t *out_len, size_t *out_cap);
/* An operation answered later: packs r and hands it to call (nothing, out of memory). */
void ctl_reply_answer(struct reply *r, struct ctl_call *call);

void *ralloc(struct reply *r, size_t size);
char *rstrdup(struct reply *r, const char *s);
void fail(struct reply *r, int result, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* False, with the reply failed, when the cluster does not serve (not formatted, halted...). */
bool check_running(struct reply *r);
/* The working VDI of that name, or NULL with the reply failed. */
struct vdi *find_vdi(struct reply *r, const char *name);
/* Its snapshot snap (tag, or id in digits), or the working VDI when snap is empty or NULL. */
struct vdi *find_vdi_snap(struct reply *r, const char *name, const char *snap);

/* ctl_snap.c: dog vdi snapshot, clone, rollback (answered later in a cluster). */
void ctl_vdi_snapshot(struct reply *r, const Sdctl__VdiSnapshotReq *q, struct ctl_call *call);
void ctl_vdi_clone(struct reply *r, const Sdctl__VdiCloneReq *q, struct ctl_call *call);
void ctl_vdi_rollback(struct reply *r, const Sdctl__VdiRollbackReq *q, struct ctl_call *call);
/* ctl_snap.c: dog cluster alter-copy (the default copies), dog vdi alter-copy. */
void ctl_alter_copy(struct reply *r, uint32_t copies, struct ctl_call *call);
void ctl_vdi_alter_copy(struct reply *r, const Sdctl__VdiResizeReq *q, struct ctl_call *call);
/* ctl_lock.c: dog vdi lock list|unlock|share|exclusive. */
void ctl_vdi_lock(struct reply *r, const Sdctl__VdiLockReq *q, struct ctl_call *call);
/* dog vdi object map, dog vdi backup: a range of a VDI's data map. */
void ctl_vdi_map(struct reply *r, const Sdctl__VdiMapReq *q);
/*
 * ctl_cluster.c: proposes cmd (a packed sdcl.Command, from cluster.proto) and answers, once it
 * is applied here, with the VdiCreateRsp of the working VDI called name.
 */
struct Sdcl__Command;
void ctl_propose_create(struct reply *r, struct ctl_call *call, struct Sdcl__Command *cmd,
			const char *what, const char *name);
/* The same, answered with success or failure only. */
void ctl_propose_plain(struct reply *r, struct ctl_call *call, struct Sdcl__Command *cmd,
		       const char *what, const char *name);

/*
 * sdcluster (ctl_cluster.c): runs the operations that change the cluster through its log, and
 * the requests between sheep. Returns false for an operation it leaves to the local code.
 */
bool ctl_cluster_op(struct reply *r, const Sdctl__Request *q, struct ctl_call *call);
/* A node of the cluster as the protocol says it. */
struct sd_node;
Sdctl__Node *node_msg(struct reply *r, const struct sd_node *n);
/* ctl_objects.c: dog vdi object location; dog cluster check's orphans (answered later). */
void ctl_object_location(struct reply *r, const Sdctl__ObjectLocationReq *q);
void ctl_orphans(struct reply *r, struct ctl_call *call);
/* ctl_vdi_check.c: dog vdi check's request, answered later through call. */
void ctl_vdi_check(struct reply *r, const Sdctl__VdiCheckReq *q, struct ctl_call *call);

#endif
