/* dog vdi snapshot, clone, rollback, delete and tree: snapshots and their families. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/constants.h"
#include "../../core/result.h"
#include "dog.h"

/* Sends a request answered with VdiCreateRsp; the new VDI's id in *vid. */
static int call_create(Sdctl__Request *req, const char *what, uint32_t *vid)
{
	int ret;
	Sdctl__Response *rsp = dog_call_expect(req, what, SDCTL__RESPONSE__BODY_VDI_CREATE, &ret);

	*vid = 0;
	if (rsp) {
		*vid = rsp->vdi_create->vid;
		sdctl__response__free_unpacked(rsp, NULL);
	}
	return ret;
}

int vdi_snapshot_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiSnapshotReq q = SDCTL__VDI_SNAPSHOT_REQ__INIT;
	Sdctl__Response *info;
	const char *tag = opts.snap ? opts.snap : "";
	char what[320];
	uint32_t old_vid, vid;
	int ret;

	(void)argc;
	for (const char *c = tag; *c && *c >= '0' && *c <= '9'; c++)
		if (!c[1]) {
			fprintf(stderr,
				"Failed to create snapshot for %s: the tag '%s' is a number, "
				"which -s reads as a snapshot id elsewhere: use a tag with a "
				"letter in it\n",
				argv[0], tag);
			return EXIT_USAGE;
		}
	opts.snap = NULL; /* the working VDI */
	ret = dog_vdi_info(argv[0], &info);
	if (ret)
		return ret;
	old_vid = info->vdi_info->vid;
	sdctl__response__free_unpacked(info, NULL);
	q.name = argv[0];
	q.tag = (char *)tag;
	req.op_case = SDCTL__REQUEST__OP_VDI_SNAPSHOT;
	req.vdi_snapshot = &q;
	snprintf(what, sizeof(what), "Failed to create snapshot for %s", argv[0]);
	ret = call_create(&req, what, &vid);
	if (!ret && opts.verbose)
		printf("new VID of original VDI: %" PRIx32 ", VDI ID of newly created snapshot: "
		       "%" PRIx32 "\n",
		       vid, old_vid);
	return ret;
}

int vdi_clone_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiCloneReq q = SDCTL__VDI_CLONE_REQ__INIT;
	char what[600];
	uint32_t vid;
	int ret;

	(void)argc;
	if (!opts.snap) {
		fprintf(stderr,
			"Only snapshot VDIs can be cloned: name one with -s TAG or -s ID\n");
		return EXIT_USAGE;
	}
	q.src = argv[0];
	q.snap = (char *)opts.snap;
	q.dst = argv[1];
	req.op_case = SDCTL__REQUEST__OP_VDI_CLONE;
	req.vdi_clone = &q;
	snprintf(what, sizeof(what), "Failed to clone VDI %s (snapshot %s) to %s", argv[0],
		 opts.snap, argv[1]);
	ret = call_create(&req, what, &vid);
	if (!ret && opts.verbose)
		printf("VDI ID of newly created clone: %" PRIx32 "\n", vid);
	return ret;
}

int vdi_rollback_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiRollbackReq q = SDCTL__VDI_ROLLBACK_REQ__INIT;
	char what[320];
	uint32_t vid;
	int ret;

	(void)argc;
	if (!opts.snap) {
		fprintf(stderr,
			"Failed to roll back VDI %s: name the snapshot with -s TAG or -s ID\n",
			argv[0]);
		return EXIT_USAGE;
	}
	if (!opts.force && !dog_confirm("This operation discards any changes made since the "
					"previous\nsnapshot was taken.  Continue?"))
		return EXIT_FAIL;
	q.name = argv[0];
	q.snap = (char *)opts.snap;
	req.op_case = SDCTL__REQUEST__OP_VDI_ROLLBACK;
	req.vdi_rollback = &q;
	snprintf(what, sizeof(what), "Failed to roll back VDI %s to snapshot %s", argv[0],
		 opts.snap);
	ret = call_create(&req, what, &vid);
	if (!ret && opts.verbose)
		printf("new VID of VDI %s: %" PRIx32 "\n", argv[0], vid);
	return ret;
}

int vdi_delete_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiNameReq q = SDCTL__VDI_NAME_REQ__INIT;
	char what[600];

	(void)argc;
	q.name = argv[0];
	q.snap = (char *)(opts.snap ? opts.snap : "");
	req.op_case = SDCTL__REQUEST__OP_VDI_DELETE;
	req.vdi_delete = &q;
	if (opts.snap)
		snprintf(what, sizeof(what), "Failed to delete snapshot %s of VDI %s", opts.snap,
			 argv[0]);
	else
		snprintf(what, sizeof(what), "Failed to delete VDI %s", argv[0]);
	return dog_call_simple(&req, what);
}

/* The tree: each VDI under its parent; a root under its name. */
struct tnode {
	const Sdctl__VdiInfo *v; /* NULL: a name, the root of a family */
	const char *name;
	struct tnode **kids;
	int nr_kids;
};

static int add_kid(struct tnode *p, struct tnode *k)
{
	struct tnode **n = realloc(p->kids, sizeof(*n) * (size_t)(p->nr_kids + 1));

	if (!n)
		return -1;
	p->kids = n;
	p->kids[p->nr_kids++] = k;
	return 0;
}

static void label(const struct tnode *t, const struct tnode *parent, char *buf, size_t len)
{
	time_t when;
	struct tm tm;

	if (!t->v) {
		snprintf(buf, len, "%s", t->name);
		return;
	}
	if (!t->v->snapshot) {
		/* The working VDI; a clone (another name) says which it is. */
		if (parent && parent->v && strcmp(parent->v->name, t->v->name))
			snprintf(buf, len, "%s (you are here)", t->v->name);
		else
			snprintf(buf, len, "(you are here)");
		return;
	}
	when = (time_t)t->v->ctime;
	localtime_r(&when, &tm);
	strftime(buf, len, "[%Y-%m-%d %H:%M]", &tm);
}

/*
 * Prints t at the cursor, which is at column col; pre[0, col) is what a new line of this
 * subtree starts with (spaces, and '|' where a branch above is still open).
 */
static void render(const struct tnode *t, const struct tnode *parent, char *pre, size_t col)
{
	char buf[SD_MAX_VDI_LEN + 32];
	size_t base;

	label(t, parent, buf, sizeof(buf));
	fputs(buf, stdout);
	base = col + strlen(buf);
	if (!t->nr_kids || base + 4 >= 8192) {
		putchar('\n');
		return;
	}
	memset(pre + col, ' ', base - col);
	if (t->nr_kids == 1) {
		fputs("---", stdout);
		memcpy(pre + base, "   ", 3);
		render(t->kids[0], t, pre, base + 3);
		return;
	}
	fputs("-+-", stdout);
	for (int i = 0; i < t->nr_kids; i++) {
		bool last = i == t->nr_kids - 1;

		if (i) {
			fwrite(pre, 1, base, stdout);
			fputs(last ? " `-" : " |-", stdout);
		}
		memcpy(pre + base, last ? "   " : " | ", 3);
		render(t->kids[i], t, pre, base + 3);
	}
}

static int by_vid(const void *a, const void *b)
{
	const struct tnode *x = *(struct tnode *const *)a, *y = *(struct tnode *const *)b;

	return x->v->ctime != y->v->ctime ? (x->v->ctime < y->v->ctime ? -1 : 1)
					  : (x->v->vid < y->v->vid ? -1 : x->v->vid > y->v->vid);
}

int vdi_tree_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	struct tnode *nodes, *roots;
	size_t n, nr_roots = 0;
	static char pre[8192];
	int ret;

	(void)argc;
	(void)argv;
	req.op_case = SDCTL__REQUEST__OP_VDI_LIST;
	req.vdi_list = true;
	rsp = dog_call_expect(&req, "Failed to list VDIs", SDCTL__RESPONSE__BODY_VDI_LIST, &ret);
	if (!rsp)
		return ret;
	n = rsp->vdi_list->n_vdis;
	nodes = calloc(n + 1, sizeof(*nodes));
	roots = calloc(n + 1, sizeof(*roots));
	if (!nodes || !roots) {
		free(nodes);
		free(roots);
		sdctl__response__free_unpacked(rsp, NULL);
		return EXIT_SYSFAIL;
	}
	for (size_t i = 0; i < n; i++)
		nodes[i].v = rsp->vdi_list->vdis[i];
	for (size_t i = 0; i < n; i++) {
		struct tnode *parent = NULL;

		for (size_t k = 0; k < n && nodes[i].v->parent_vid && !parent; k++)
			if (nodes[k].v->vid == nodes[i].v->parent_vid)
				parent = &nodes[k];
		if (!parent) {
			/* A family's first VDI (or one whose parent was deleted): under its name.
			 */
			for (size_t k = 0; k < nr_roots && !parent; k++)
				if (!strcmp(roots[k].name, nodes[i].v->name))
					parent = &roots[k];
			if (!parent) {
				parent = &roots[nr_roots++];
				parent->name = nodes[i].v->name;
			}
		}
		if (add_kid(parent, &nodes[i]))
			ret = EXIT_SYSFAIL;
	}
	for (size_t i = 0; i < n; i++)
		if (nodes[i].nr_kids > 1)
			qsort(nodes[i].kids, (size_t)nodes[i].nr_kids, sizeof(*nodes[i].kids),
			      by_vid);
	for (size_t i = 0; !ret && i < nr_roots; i++) {
		qsort(roots[i].kids, (size_t)roots[i].nr_kids, sizeof(*roots[i].kids), by_vid);
		render(&roots[i], NULL, pre, 0);
	}
	for (size_t i = 0; i < n; i++)
		free(nodes[i].kids);
	for (size_t i = 0; i < nr_roots; i++)
		free(roots[i].kids);
	free(nodes);
	free(roots);
	sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

int vdi_lock_cmd(int argc, char **argv)
{
	static const struct {
		const char *name;
		Sdctl__VdiLockReq__What what;
	} subs[] = { { "list", SDCTL__VDI_LOCK_REQ__WHAT__LIST },
		     { "unlock", SDCTL__VDI_LOCK_REQ__WHAT__UNLOCK },
		     { "share", SDCTL__VDI_LOCK_REQ__WHAT__SHARE },
		     { "exclusive", SDCTL__VDI_LOCK_REQ__WHAT__EXCLUSIVE } };
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiLockReq q = SDCTL__VDI_LOCK_REQ__INIT;
	Sdctl__Response *rsp;
	char what[320];
	size_t k;
	int ret;

	for (k = 0; k < sizeof(subs) / sizeof(subs[0]) && strcmp(argv[0], subs[k].name); k++)
		;
	if (k == sizeof(subs) / sizeof(subs[0]) || (k && argc != 2)) {
		fprintf(stderr, "Usage: dog vdi lock list [<vdiname>] | unlock|share|exclusive "
				"<vdiname>\n");
		return EXIT_USAGE;
	}
	q.what = subs[k].what;
	q.name = argc > 1 ? argv[1] : "";
	req.op_case = SDCTL__REQUEST__OP_VDI_LOCK;
	req.vdi_lock = &q;
	if (k) {
		snprintf(what, sizeof(what), "Failed to %s VDI %s", argv[0], argv[1]);
		return dog_call_simple(&req, what);
	}
	rsp = dog_call_expect(&req, "Failed to list the locks", SDCTL__RESPONSE__BODY_VDI_LOCKS,
			      &ret);
	if (!rsp)
		return ret;
	if (!opts.raw)
		printf("  Name         Id  VDI id  Tag            Owner node(s)\n");
	for (size_t i = 0; i < rsp->vdi_locks->n_locks; i++) {
		const Sdctl__VdiLockInfo *l = rsp->vdi_locks->locks[i];
		const char *own = l->n_owners ? l->owners[0] : "";

		if (opts.raw)
			printf("%s %u %" PRIx32 " %s %s%s\n", l->name, l->snap_id, l->vid, l->tag,
			       own, l->shared ? " shared" : "");
		else
			printf("  %-12s%3u%8" PRIx32 "  %-15s%s%s\n", l->name, l->snap_id, l->vid,
			       l->tag, own, l->shared ? (own[0] ? " (shared)" : "(shared)") : "");
	}
	sdctl__response__free_unpacked(rsp, NULL);
	return EXIT_OK;
}

int vdi_alter_copy_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiResizeReq q = SDCTL__VDI_RESIZE_REQ__INIT;
	char what[320];

	(void)argc;
	if (!opts.copies_set || opts.copy_policy) {
		fprintf(stderr, "%s\n",
			opts.copy_policy ? "Only replicated VDIs change their copies: give -c N"
					 : "Give the number of copies with -c N");
		return EXIT_USAGE;
	}
	q.name = argv[0];
	q.size = opts.copies;
	req.op_case = SDCTL__REQUEST__OP_VDI_ALTER_COPY;
	req.vdi_alter_copy = &q;
	snprintf(what, sizeof(what), "Failed to change the copies of VDI %s", argv[0]);
	return dog_call_simple(&req, what);
}
