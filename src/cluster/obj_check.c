/* The current-copy check and on-demand pulls (obj_check.h). Runs on the owning shard. */
#include "obj_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/oid.h"
#include "../io/fd_cache.h"
#include "../io/obj_io.h"
#include "../io/store.h"
#include "../shard/shard.h"
#include "cluster_view.h"
#include "epoch_history.h"
#include "../io/obj_install.h"
#include "peer/peer.h"
#include "vdi_share.h"

#define CHECK_MAX_SOURCES 16
#define CHECK_TABLE_MIN	  1024
#define CHECK_BLOCK	  4096

/* Copies known current: oid -> the epoch they were last known current in. Open addressing. */
struct known {
	uint64_t oid; /* 0: empty (oid 0 is never a data object of a VDI: VDI id 0 is unused) */
	uint32_t epoch;
};

struct waiter {
	struct waiter *next;
	struct obj_req *req;
};

/* A pull in progress for one object; operations on it wait. */
struct pull {
	struct pull *next;
	uint64_t oid;
	uint8_t copies;
	uint32_t len;
	struct cluster_view *view; /* a reference: the placement the pull works with */
	struct waiter *waiters, **tail;
	struct sd_node_id src[CHECK_MAX_SOURCES];
	int nr_src, at;
	bool doubt;	 /* a node answered that its copy is stale, or could not be asked */
	bool transient;	 /* ...because it was behind in epochs or unreachable for now */
	int why, why_at; /* the last such answer (negative errno) and the source's index */
	void *buf;
	struct peer_req preq;
	struct obj_install inst; /* the pulled bytes to the local file, or its removal */
};

static __thread struct known *known;
static __thread size_t known_cap, known_nr;
static __thread struct pull *pulls;

static size_t slot_of(uint64_t oid, size_t cap)
{
	return (size_t)((oid * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (cap - 1);
}

static struct known *known_find(uint64_t oid)
{
	if (!known)
		return NULL;
	for (size_t i = slot_of(oid, known_cap);; i = (i + 1) & (known_cap - 1)) {
		if (known[i].oid == oid)
			return &known[i];
		if (!known[i].oid)
			return NULL;
	}
}

static void known_set(uint64_t oid, uint32_t epoch)
{
	struct known *k = known_find(oid);

	if (k) {
		k->epoch = epoch;
		return;
	}
	if (known_nr * 2 >= known_cap) {
		size_t cap = known_cap ? known_cap * 2 : CHECK_TABLE_MIN;
		struct known *nk = calloc(cap, sizeof(*nk));

		if (!nk)
			return; /* only a cache: the next check stats the file again */
		for (size_t i = 0; i < known_cap; i++) {
			if (!known[i].oid)
				continue;
			for (size_t j = slot_of(known[i].oid, cap);; j = (j + 1) & (cap - 1)) {
				if (!nk[j].oid) {
					nk[j] = known[i];
					break;
				}
			}
		}
		free(known);
		known = nk;
		known_cap = cap;
	}
	for (size_t i = slot_of(oid, known_cap);; i = (i + 1) & (known_cap - 1)) {
		if (!known[i].oid) {
			known[i] = (struct known){ oid, epoch };
			known_nr++;
			return;
		}
	}
}

static uint8_t copies_of(uint64_t oid)
{
	struct vdi_share *sh = export_table_find_vid(export_table_current(), oid_to_vid(oid));

	return sh ? __atomic_load_n(&sh->copies, __ATOMIC_ACQUIRE) : 0;
}

/*
 * dog vdi alter-copy changed the object's copies in epoch *ce (0: never): a copy from before
 * is current only if this node held it under the smaller count (*low) since then.
 */
static void copies_change_of(uint64_t oid, uint32_t *ce, uint8_t *low)
{
	struct vdi_share *sh = export_table_find_vid(export_table_current(), oid_to_vid(oid));

	*ce = sh ? __atomic_load_n(&sh->copies_epoch, __ATOMIC_ACQUIRE) : 0;
	*low = sh && sh->prev_copies < sh->copies ? sh->prev_copies : sh ? sh->copies : 0;
}

/* eh_held_since, across a change of the copies in epoch ce. */
static bool held_since(const struct epoch_history *h, uint64_t oid, int copies, uint32_t from)
{
	uint32_t ce;
	uint8_t low;

	copies_change_of(oid, &ce, &low);
	if (ce && from < ce)
		return low && eh_held_since(h, oid, low, from) && eh_held_since(h, oid, copies, ce);
	return eh_held_since(h, oid, copies, from);
}

static uint32_t obj_size_of(uint64_t oid)
{
	struct vdi_share *sh = export_table_find_vid(export_table_current(), oid_to_vid(oid));

	return sh ? (uint32_t)1 << sh->obj_shift : 0;
}

enum verdict {
	COPY_CURRENT,
	COPY_ABSENT,  /* no file, and none can exist: current too */
	COPY_MISSING, /* no file, and nothing says there is none elsewhere */
	COPY_STALE,
};

/*
 * This node's copy. as_source: judged as of the last epoch this node held the object (serving
 * a pull), instead of through the current epoch.
 */
static enum verdict judge(const struct cluster_view *v, uint64_t oid, int copies, bool as_source)
{
	const struct epoch_history *h = v->history;
	struct shard *s = shard_self();
	struct known *k = known_find(oid);
	char path[48];
	struct stat st;
	uint32_t from;

	if (!as_source && k) {
		if (k->epoch == v->epoch)
			return COPY_CURRENT;
		if (held_since(h, oid, copies, k->epoch)) {
			k->epoch = v->epoch;
			return COPY_CURRENT;
		}
	}
	if (store_obj_path(s->store->kind, oid, 0, path, sizeof(path)) ||
	    fstatat(s->store->objdir_fd, path, &st, 0) < 0) {
		/* A holder since the format has every object there is. */
		if (h->nr && h->eh[0].epoch == 1 && held_since(h, oid, copies, 1))
			return COPY_ABSENT;
		return COPY_MISSING;
	}
	from = eh_epoch_at(h, (uint64_t)st.st_mtim.tv_sec * 1000000000u +
				      (uint64_t)st.st_mtim.tv_nsec);
	if (as_source)
		return eh_current_as_of_last(h, oid, copies, from) ? COPY_CURRENT : COPY_STALE;
	return held_since(h, oid, copies, from) ? COPY_CURRENT : COPY_STALE;
}

static void pull_finish(struct pull *p, int err)
{
	struct waiter *w = p->waiters;

	for (struct pull **pp = &pulls; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (!err)
		known_set(p->oid, p->view->epoch);
	while (w) {
		struct waiter *next = w->next;

		obj_resume(w->req, err);
		free(w);
		w = next;
	}
	cluster_view_put(p->view);
	free(p->buf);
	free(p);
}

static void pull_next(struct pull *p);

static void install_done(struct obj_install *in, int err)
{
	struct pull *p = (struct pull *)((char *)in - offsetof(struct pull, inst));
	char host[64];

	if (err)
		log_err("cannot %s the pulled copy of object %016" PRIx64 ": %s",
			in->buf ? "write" : "remove", p->oid, strerror(-err));
	else if (in->buf)
		log_debug("pulled object %016" PRIx64 " from node %s:%u", p->oid,
			  (node_addr_format(p->src[p->at].addr, host, sizeof(host)), host),
			  p->src[p->at].port);
	pull_finish(p, err ? -EIO : 0);
}

/* The pulled bytes replace the local file (absent: the object does not exist, it goes). */
static void install(struct pull *p, bool absent)
{
	p->inst = (struct obj_install){
		.oid = p->oid, .buf = absent ? NULL : p->buf, .len = p->len, .done = install_done
	};
	obj_install_start(&p->inst);
}

static void pull_done(struct peer_req *r)
{
	struct pull *p = r->priv;

	if (r->result >= 0) {
		install(p, false);
		return;
	}
	if (r->result != -ENOENT) {
		p->doubt = true; /* stale there, or not reachable */
		p->why = r->result;
		p->why_at = p->at;
	}
	if (peer_error_is_transient(r->result))
		p->transient = true;
	p->at++;
	pull_next(p);
}

static void pull_next(struct pull *p)
{
	const struct cluster_view *v = p->view;
	int idx = -1;

	while (p->at < p->nr_src) {
		for (int i = 0; i < v->ring.nr_nodes; i++)
			if (!node_id_cmp(&v->ring.nodes[i].nid, &p->src[p->at]))
				idx = i;
		if (idx >= 0)
			break;
		p->doubt = true;
		p->at++;
	}
	if (p->at == p->nr_src) {
		if (p->transient) {
			/*
			 * A source had not reached this epoch yet, or could not be reached for
			 * now: the caller tries again (the gateway retries -EL2NSYNC for a while)
			 * rather than failing I/O that a moment's wait would serve.
			 */
			log_debug("object %016" PRIx64 ": no current copy reachable yet (%d node%s "
				  "asked); the caller retries",
				  p->oid, p->nr_src, p->nr_src == 1 ? "" : "s");
			pull_finish(p, -EL2NSYNC);
			return;
		}
		if (p->doubt) {
			char host[64], last[160] = "";

			if (p->why) {
				node_addr_format(p->src[p->why_at].addr, host, sizeof(host));
				snprintf(last, sizeof(last), "; %s:%u answered: %s", host,
					 p->src[p->why_at].port,
					 p->why == -EUCLEAN ? "its copy is stale"
							    : strerror(-p->why));
			}
			log_err("object %016" PRIx64 ": no current copy is reachable (%d node%s "
				"asked%s); its I/O fails until one is",
				p->oid, p->nr_src, p->nr_src == 1 ? "" : "s", last);
			pull_finish(p, -EIO);
			return;
		}
		/* Every node that could have it says it has none: there is no object. */
		install(p, true);
		return;
	}
	p->preq = (struct peer_req){ 0 };
	p->preq.to = p->src[p->at];
	p->preq.hdr = (struct peer_hdr){
		.opcode = PEER_OP_PULL,
		.cluster_id = v->cluster_id,
		.epoch = v->epoch,
		.sender = (uint32_t)v->self,
		.oid = p->oid,
		.offset = 0,
		.length = p->len,
		.shard = (uint16_t)shard_of_oid(p->oid, v->nr_shards[idx]),
	};
	p->preq.buf = p->buf;
	p->preq.done = pull_done;
	p->preq.priv = p;
	peer_submit(&p->preq);
}

static bool park(struct obj_req *req, struct cluster_view *v, uint8_t copies)
{
	struct waiter *w = calloc(1, sizeof(*w));
	struct pull *p;

	if (!w) {
		obj_resume(req, -ENOMEM);
		return false;
	}
	w->req = req;
	for (p = pulls; p; p = p->next) {
		if (p->oid == req->oid) {
			*p->tail = w;
			p->tail = &w->next;
			return false;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->len = obj_size_of(req->oid)) || !(p->buf = malloc(p->len))) {
		free(p);
		free(w);
		obj_resume(req, -ENOMEM);
		return false;
	}
	p->oid = req->oid;
	p->copies = copies;
	p->view = v;
	cluster_view_get(v);
	p->waiters = w;
	p->tail = &w->next;
	p->nr_src = eh_pull_sources(v->history, req->oid, copies, p->src, CHECK_MAX_SOURCES);
	p->next = pulls;
	pulls = p;
	pull_next(p);
	return false;
}

bool obj_check(struct obj_req *req)
{
	struct cluster_view *v = cluster_view_current();
	enum verdict verdict;
	uint8_t copies;

	if (req->op == OBJ_REMOVE || req->op == OBJ_PREFETCH || req->ec_index ||
	    !oid_is_data(req->oid) || !v || !v->history || !v->epoch)
		return true;
	copies = copies_of(req->oid);
	if (!copies)
		return true; /* not a live VDI's: the fence and the front-ends decide */
	verdict = judge(v, req->oid, copies, req->flags & OBJ_F_CHECK_ONLY);
	if (req->flags & OBJ_F_CHECK_ONLY) {
		/* Serving a pull: what this node has, as it is, or why not. */
		if (verdict == COPY_STALE) {
			obj_resume(req, -EUCLEAN);
			return false;
		}
		return true; /* a missing file reads as -ENOENT */
	}
	if (verdict == COPY_CURRENT || verdict == COPY_ABSENT) {
		known_set(req->oid, v->epoch);
		return true;
	}
	return park(req, v, copies);
}

void obj_check_drain(void)
{
	free(known);
	known = NULL;
	known_cap = known_nr = 0;
}
