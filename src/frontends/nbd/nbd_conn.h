/*
 * An NBD connection and its requests, as the shard that owns the connection keeps them. All of
 * this lives on one shard: the connection's socket I/O goes through that shard's ring, and every
 * object request, flush and map change it starts answers back on the same shard.
 */
#ifndef SD_NBD_CONN_H
#define SD_NBD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../../cluster/vdi_mapq.h"
#include "../../core/conn_guard.h"
#include "../../io/obj_flush.h"
#include "../../io/obj_io.h"
#include "../../gateway/gw.h"
#include "../../shard/shard.h"
#include "nbd_negotiate.h"
#include "nbd_parse.h"

struct nbd_conn;

/* Something to send: up to four buffers, released (by its owner's function) once sent. */
struct nbd_out {
	struct nbd_out *next;
	struct iovec iov[4];
	int niov;
	void (*release)(struct nbd_out *o);
};

#define NBD_CMD_INLINE_PIECES 2
#define NBD_MAX_EXTENTS	      1024 /* BLOCK_STATUS descriptors in one reply */
#define NBD_REPLY_HDR_MAX     160  /* structured error chunk with its message */

struct nbd_cmd {
	struct nbd_conn *c;
	struct nbd_request req;
	int error;	 /* 0 or -errno, the outcome sent to the client */
	char why[96];	 /* for a structured error reply: what failed */
	uint32_t charge; /* bytes charged to the connection's guard for this command */
	/* READ data or WRITE payload; owned by the command (nbd_payload_free). */
	void *data;
	uint32_t data_len;
	bool hole; /* READ of nothing but unallocated objects, sent as a hole when structured */
	/* BLOCK_STATUS descriptors (big-endian length, flags pairs), owned. */
	uint8_t *extents; /* base:allocation's, then the dirty bitmap's */
	uint32_t extents_len, dirty_len;
	/* The VDI this command runs on, one reference: the connection's when it started. */
	struct vdi_share *share;
	bool moved;	 /* a write met the VDI snapshotted: it runs again on its successor */
	bool lock_asked; /* the VDI's lock was asked for, for this command */
	bool synced;	 /* caught up with the cluster before a copy-up */
	int moves;	 /* how often it waited for the successor */
	uint32_t cow_first, cow_last; /* TRIM/WRITE_ZEROES: objects copied up then punched */
	bool cow_punched;
	/* Object pieces in flight. */
	struct gw_req *pieces; /* inline_pieces or an owned array */
	struct gw_req inline_pieces[NBD_CMD_INLINE_PIECES];
	int nr_pieces, pending;
	struct vdi_mapq_req mq, mq2;
	struct gw_flush_req flush;
	struct shard_timer retry;
	struct sd_msg sync_msg;
	uint8_t hdr[NBD_REPLY_HDR_MAX];
	struct nbd_out out;
	struct nbd_cmd *free_next;
};

enum nbd_conn_state {
	NBD_CONN_CLIENT_FLAGS, /* greeting sent, waiting for the client's flags */
	NBD_CONN_OPTIONS,      /* option haggling */
	NBD_CONN_TRANSMIT,     /* requests */
	NBD_CONN_CLOSING,      /* no more input; freed once nothing is in flight */
};

struct nbd_conn {
	int fd;
	int shard_id;
	enum nbd_conn_state state;
	char peer[64];
	struct nbd_neg neg;
	struct vdi_share *share;      /* the export, one reference; NULL before transmission */
	struct vdi_share *dirty_from; /* qemu:dirty-bitmap's older snapshot, one reference */
	bool close_after_send;	      /* ABORT, a refused EXPORT_NAME or DISC: close once sent */
	struct conn_guard guard;      /* memory budget, deadlines (conn_guard.h) */
	bool paused;		      /* reading stopped: in-flight or memory limit reached */
	bool want_resume;	      /* kick: try reading again */
	bool kicking;		      /* kick_run is using it: not freed meanwhile */
	bool rx_completed;	      /* a request or option was received whole in this parse */
	/*
	 * sdcluster: an export not found here may be a VDI another node has just created. The
	 * option is put back and this node first catches up with the leader (export_syncing: a
	 * message is out, the connection is not freed), then looks once more (export_synced).
	 */
	bool export_miss, export_syncing, export_synced;
	/* It has written: it counts in its VDI's rw_conns, for the lock (vdi_lock.h). */
	bool rw_counted;
	struct sd_msg sync_msg;

	/* Input: rbuf[rpos..rlen) is received but not parsed yet. */
	uint8_t *rbuf;
	uint32_t rpos, rlen;
	struct nbd_cmd *rx_cmd; /* a WRITE whose payload is still arriving (straight into it) */
	uint32_t rx_have;
	uint64_t discard; /* payload bytes to drop (a refused WRITE or a too-big option) */
	struct nbd_cmd *discard_cmd; /* the refused WRITE, answered once its payload is dropped */
	bool recv_busy;
	struct uop recv_uop;

	/* Output: a FIFO of things to send; one sendmsg in flight at a time. */
	struct nbd_out *out_head, **out_tail;
	uint32_t out_sent; /* bytes of out_head already sent */
	int out_batch;	   /* items covered by the sendmsg in flight */
	bool send_busy;
	struct uop send_uop;
	struct msghdr mh;
	struct iovec *iov;
	struct shard_defer kick; /* end of pass: resume reading if asked, send what is queued */

	int inflight;		      /* requests being executed */
	struct nbd_conn *next, *prev; /* the shard's connections */
};

/* nbd_conn.c */
/* The bounds every shard applies to its connections; set before the first connection. */
void nbd_conn_set_limits(const struct conn_limits *lim);
void nbd_conn_start(int fd, bool tcp);
/* Connections open on a shard, as it last published them (read from any thread). */
uint32_t nbd_conns_on(int shard);
void nbd_conn_queue(struct nbd_conn *c, struct nbd_out *o);
/* A command finished executing (cmd->error set): build and queue its reply. */
void nbd_cmd_reply(struct nbd_cmd *cmd);
/*
 * A snapshot gave the connection's VDI name to a new working VDI (vdi_share.h, successor): the
 * connection moves to it, in between requests, so its writes never land in the snapshot.
 */
void nbd_conn_follow(struct nbd_conn *c);
/* Shut-down: every connection of the calling shard is closed; returns how many are left. */
int nbd_conns_close_all(void);
/* Makes connections follow a snapshotted VDI at once (export_moved_hook, vdi_share.h). */
void nbd_conns_follow_hook_install(void);
int nbd_conns_count(void);
/* Frees the calling shard's cache of command structures (at shut-down). */
void nbd_cmd_cache_drain(void);

/* nbd_cmd.c */
/*
 * The bytes a request makes the shard hold until its reply is sent: the command itself, a READ's
 * buffer or a WRITE's payload, BLOCK_STATUS descriptors, the pieces of a request over many
 * objects (objects of 1 << obj_shift bytes). wire: its validation result (a refused request holds
 * no buffer).
 */
uint32_t nbd_request_charge(const struct nbd_request *rq, int wire, uint8_t obj_shift);
void nbd_cmd_execute(struct nbd_cmd *cmd);
void *nbd_payload_alloc(uint32_t len);
void nbd_payload_free(void *p, uint32_t len);

/* nbd_export.c: the negotiation's view of the shard's export table. */
int nbd_export_lookup(void *ctx, const char *name, struct nbd_export_info *info, char *msg,
		      size_t msglen);
void nbd_export_list(void *ctx, void (*emit)(void *arg, const char *name), void *arg);
int nbd_export_dirty_from(void *ctx, const char *name, const char *from);
void nbd_export_list_dirty(void *ctx, const char *name, void (*emit)(void *arg, const char *from),
			   void *arg);
/* The older snapshot from of the snapshot exported as name, with a reference; or NULL. */
struct vdi_share *nbd_export_find_from(const char *name, const char *from);
/* Catches this node up with the cluster's VDI table, then calls nbd_conn_export_synced(c). */
void nbd_export_sync(struct nbd_conn *c);
/*
 * Before a write: whether the connection may write its VDI (vdi_lock.h). 0: yes (it now
 * counts as a writer here); -EAGAIN: the lock is being asked for, nbd_cmd_execute(cmd) runs
 * again once answered; -EPERM: another node's clients hold it (why in cmd->why).
 */
int nbd_export_may_write(struct nbd_cmd *cmd);
/* nbd_conn.c: on c's shard, the catch-up is done. */
void nbd_conn_export_synced(struct nbd_conn *c);

#endif
