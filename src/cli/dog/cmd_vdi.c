/* dog vdi: create, list, delete, resize, setattr, getattr (read and write are in cmd_vdi_io.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../core/constants.h"
#include "../../core/result.h"
#include "../../core/size.h"
#include "dog.h"
#include "progress.h"

#define PREALLOC_BATCH 64

static int prealloc(const char *name, uint32_t nr_objects, uint64_t size)
{
	struct progress p;
	char what[320];

	snprintf(what, sizeof(what), "Failed to preallocate VDI %s", name);
	progress_start(&p, "preallocating", size);
	for (uint32_t i = 0; i < nr_objects; i += PREALLOC_BATCH) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__VdiPreallocReq q = SDCTL__VDI_PREALLOC_REQ__INIT;
		int ret;

		q.name = (char *)name;
		q.start = i;
		q.count = PREALLOC_BATCH;
		req.op_case = SDCTL__REQUEST__OP_VDI_PREALLOC;
		req.vdi_prealloc = &q;
		ret = dog_call_simple(&req, what);
		if (ret) {
			progress_end(&p);
			return ret;
		}
		progress_update(&p, (uint64_t)(i + PREALLOC_BATCH) * size / nr_objects > size
					    ? size
					    : (uint64_t)(i + PREALLOC_BATCH) * size / nr_objects);
	}
	progress_end(&p);
	return EXIT_OK;
}

static int vdi_create_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiCreateReq q = SDCTL__VDI_CREATE_REQ__INIT;
	Sdctl__Response *rsp;
	char what[320];
	uint64_t size;
	uint32_t vid, nr;
	int ret;

	(void)argc;
	ret = parse_size_arg(argv[1], &size, "VDI size");
	if (ret)
		return ret;
	q.name = argv[0];
	q.size = size;
	q.copies_set = opts.copies_set;
	q.copies = opts.copies;
	q.copy_policy = opts.copy_policy;
	req.op_case = SDCTL__REQUEST__OP_VDI_CREATE;
	req.vdi_create = &q;
	snprintf(what, sizeof(what), "Failed to create VDI %s", argv[0]);
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, what);
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_VDI_CREATE);
	if (ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	vid = rsp->vdi_create->vid;
	nr = rsp->vdi_create->nr_objects;
	sdctl__response__free_unpacked(rsp, NULL);
	if (opts.verbose)
		printf("VDI ID of newly created VDI: %" PRIx32 "\n", vid);
	return opts.prealloc ? prealloc(argv[0], nr, size) : EXIT_OK;
}

/* Raw output escapes whitespace and backslashes so each field is one word. */
static void print_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == ' ' || *s == '\t' || *s == '\n')
			putchar('\\');
		putchar(*s);
	}
}

static void print_vdi(const Sdctl__VdiInfo *v)
{
	char size[32], used[32], shared[32], when[32], copies[16];
	time_t t = (time_t)v->ctime;
	struct tm tm;
	char flag = v->snapshot ? 's' : (v->snap_id == 1 && v->parent_vid ? 'c' : ' ');

	format_copies(copies, sizeof(copies), v->copies, v->copy_policy);
	if (opts.raw) {
		putchar(flag == ' ' ? '=' : flag);
		putchar(' ');
		print_escaped(v->name);
		printf(" %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIx32 " %s ",
		       v->snapshot ? v->snap_id : 0, v->size, v->used, v->shared, v->ctime, v->vid,
		       copies);
		print_escaped(v->tag);
		printf(" %u\n", v->block_size_shift);
		return;
	}
	size_format(v->size, size, sizeof(size));
	size_format(v->used, used, sizeof(used));
	size_format(v->shared, shared, sizeof(shared));
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	printf("%c %-8s %5u %7s %7s %7s %s  %7" PRIx32 " %6s %13s %3u\n", flag, v->name,
	       v->snapshot ? v->snap_id : 0, size, used, shared, when, v->vid, copies, v->tag,
	       v->block_size_shift);
}

static int vdi_list_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__Response *rsp;
	int ret;

	req.op_case = SDCTL__REQUEST__OP_VDI_LIST;
	req.vdi_list = true;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, "Failed to list VDIs");
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_VDI_LIST);
	if (ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	if (!opts.raw)
		printf("  Name        Id    Size    Used  Shared    Creation time   VDI id  Copies"
		       "  Tag   Block Size Shift\n");
	for (size_t i = 0; i < rsp->vdi_list->n_vdis; i++) {
		const Sdctl__VdiInfo *v = rsp->vdi_list->vdis[i];

		if (argc == 1 && strcmp(v->name, argv[0]))
			continue;
		print_vdi(v);
	}
	sdctl__response__free_unpacked(rsp, NULL);
	return EXIT_OK;
}

static int vdi_resize_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiResizeReq q = SDCTL__VDI_RESIZE_REQ__INIT;
	char what[320];
	uint64_t size;
	int ret;

	(void)argc;
	ret = parse_size_arg(argv[1], &size, "VDI size");
	if (ret)
		return ret;
	q.name = argv[0];
	q.size = size;
	req.op_case = SDCTL__REQUEST__OP_VDI_RESIZE;
	req.vdi_resize = &q;
	snprintf(what, sizeof(what), "Failed to resize VDI %s", argv[0]);
	return dog_call_simple(&req, what);
}

/* Reads all of stdin, at most max bytes. Returns the length or -1 (message printed). */
static ssize_t read_stdin(uint8_t *buf, size_t max)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(0, buf + got, max + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "cannot read the value from stdin: %s\n", strerror(errno));
			return -1;
		}
		if (n == 0)
			return (ssize_t)got;
		got += (size_t)n;
		if (got > max) {
			fprintf(stderr, "the value is larger than %zu bytes\n", max);
			return -1;
		}
	}
}

static int vdi_setattr_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiAttrReq q = SDCTL__VDI_ATTR_REQ__INIT;
	uint8_t *buf = NULL;
	char what[320];
	int ret;

	q.name = argv[0];
	q.key = argv[1];
	q.exclusive = opts.exclusive;
	q.delete_ = opts.del;
	if (argc == 3) {
		q.value.data = (uint8_t *)argv[2];
		q.value.len = strlen(argv[2]);
	} else if (!opts.del) {
		ssize_t n;

		buf = malloc(SD_MAX_VDI_ATTR_VALUE_LEN + 1);
		if (!buf)
			return EXIT_FAIL;
		n = read_stdin(buf, SD_MAX_VDI_ATTR_VALUE_LEN);
		if (n < 0) {
			free(buf);
			return EXIT_FAIL;
		}
		q.value.data = buf;
		q.value.len = (size_t)n;
	}
	req.op_case = SDCTL__REQUEST__OP_VDI_SETATTR;
	req.vdi_setattr = &q;
	snprintf(what, sizeof(what), "Failed to set attribute '%s' of VDI %s", argv[1], argv[0]);
	ret = dog_call_simple(&req, what);
	free(buf);
	return ret;
}

static int vdi_getattr_cmd(int argc, char **argv)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiAttrReq q = SDCTL__VDI_ATTR_REQ__INIT;
	Sdctl__Response *rsp;
	int ret;

	(void)argc;
	q.name = argv[0];
	q.key = argv[1];
	req.op_case = SDCTL__REQUEST__OP_VDI_GETATTR;
	req.vdi_getattr = &q;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, NULL);
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_DATA);
	if (!ret && rsp->data.len &&
	    fwrite(rsp->data.data, 1, rsp->data.len, stdout) != rsp->data.len)
		ret = EXIT_FAIL;
	sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

/* Range after range of the VDI's objects, so a terminal shows the progress. */
int dog_vdi_check(const char *name)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiCheckReq q = SDCTL__VDI_CHECK_REQ__INIT;
	struct progress pr = { 0 };
	uint32_t map_len = 1;
	int ret = EXIT_OK, errors = 0;

	size_t lost = 0;

	q.name = (char *)name;
	q.count = 64;
	q.exist_only = opts.exist;
	req.op_case = SDCTL__REQUEST__OP_VDI_CHECK;
	req.vdi_check = &q;
	for (q.first = 0; q.first < map_len; q.first += q.count) {
		Sdctl__Response *rsp = dog_call(&req);
		const Sdctl__VdiCheckRsp *c;

		if (!rsp) {
			ret = EXIT_SYSFAIL;
			break;
		}
		ret = dog_result(rsp, "Failed to check the VDI");
		if (!ret)
			ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_VDI_CHECK);
		if (ret) {
			sdctl__response__free_unpacked(rsp, NULL);
			break;
		}
		c = rsp->vdi_check;
		if (!q.first) {
			map_len = c->map_len;
			progress_start(&pr, "checking", map_len);
		}
		for (size_t i = 0; i < c->n_fixed_replica; i++)
			printf("fixed replica %016" PRIx64 "\n", c->fixed_replica[i]);
		for (size_t i = 0; i < c->n_fixed_missing; i++)
			printf("fixed missing %016" PRIx64 "\n", c->fixed_missing[i]);
		for (size_t i = 0; i < c->n_missing; i++)
			printf("[%s] oid %016" PRIx64 " is missing.\n", c->missing[i]->node,
			       c->missing[i]->oid);
		lost += c->n_missing;
		for (size_t i = 0; i < c->n_errors; i++)
			fprintf(stderr, "cannot check %s\n", c->errors[i]);
		errors += (int)c->n_errors;
		fflush(stdout);
		progress_update(&pr, q.first + q.count < map_len ? q.first + q.count : map_len);
		sdctl__response__free_unpacked(rsp, NULL);
	}
	progress_end(&pr);
	if (ret)
		return ret;
	if (opts.exist) {
		if (lost)
			printf("%s lost %zu object(s).\n", name, lost);
		else
			printf("%s is fine, no object is missing.\n", name);
		return errors || lost ? EXIT_FAIL : EXIT_OK;
	}
	printf("finish check&repair %s\n", name);
	return errors ? EXIT_FAIL : EXIT_OK;
}

static int vdi_check_cmd(int argc, char **argv)
{
	(void)argc;
	return dog_vdi_check(argv[0]);
}

const struct subcommand vdi_cmds[] = {
	{ "create", "<vdiname> <size>", "Pc:v", "create an image",
	  "  -P, --prealloc        allocate every object now (shows progress on a terminal)\n"
	  "  -c, --copies N|D:P    N copies (1-31), or erasure code D:P (D of 2, 4, 8, 16\n"
	  "                        data strips, P of 1-15 parity strips); default: the cluster's\n"
	  "  -v, --verbose         print the new VDI's id\n"
	  "Sizes take a unit B, K, M, G, T or P (powers of 1024), e.g. 20G.\n",
	  2, 2, vdi_create_cmd },
	{ "list", "[vdiname]", "r", "list images",
	  "  -r, --raw             raw output for scripts: one line per VDI, sizes in bytes,\n"
	  "                        creation time in unix seconds, '=' for a working VDI\n",
	  0, 1, vdi_list_cmd },
	{ "snapshot", "<vdiname>", "s:v", "take a snapshot of an image",
	  "  -s, --snapshot TAG    tag the snapshot (not all digits: -s with digits means an id)\n"
	  "  -v, --verbose         print the new and the snapshot's VDI ids\n",
	  1, 1, vdi_snapshot_cmd,
	  "The image's current content becomes a read-only snapshot, which keeps the image's VDI\n"
	  "id and is exported over NBD as NAME@TAG (NAME@ID without a tag); the name moves to a\n"
	  "new working VDI with the next free id, which shares every object with the snapshot\n"
	  "until it writes it (copy-on-write). NBD clients attached to the image go on writing to\n"
	  "the new working VDI without an error; everything they had written before the snapshot\n"
	  "returned is in it.\n" },
	{ "clone", "<src vdi> <dst vdi>", "s:v", "create a writable image from a snapshot",
	  "  -s, --snapshot TAG|ID the snapshot of <src vdi> to clone (required)\n"
	  "  -v, --verbose         print the clone's VDI id\n",
	  2, 2, vdi_clone_cmd,
	  "The clone shares the snapshot's objects and copies each one on its first write: the\n"
	  "snapshot never changes.\n" },
	{ "rollback", "<vdiname>", "s:fv", "roll an image back to a snapshot",
	  "  -s, --snapshot TAG|ID the snapshot to go back to (required)\n"
	  "  -f, --force           do not ask for confirmation\n"
	  "  -v, --verbose         print the new working VDI's id\n",
	  1, 1, vdi_rollback_cmd,
	  "Deletes the working VDI (what was written since the snapshot is lost) and gives its\n"
	  "name to a new working VDI on the snapshot's content. Detach clients first: their\n"
	  "connections fail, as for a delete.\n" },
	{ "delete", "<vdiname>", "s:", "delete an image or one of its snapshots",
	  "  -s, --snapshot TAG|ID delete this snapshot instead of the working VDI\n", 1, 1,
	  vdi_delete_cmd,
	  "Frees every object nothing else uses, on every node (a node that is down frees its\n"
	  "copies when it comes back). Objects a clone or a later snapshot still shares stay\n"
	  "until they no longer do.\n" },
	{ "tree", "", "", "show images as a tree of snapshots and clones", "", 0, 0, vdi_tree_cmd,
	  "Each family starts with its name; snapshots show their creation time, the working\n"
	  "VDI '(you are here)', a clone its name.\n" },
	{ "resize", "<vdiname> <new size>", "", "grow an image (shrinking is not supported)", "", 2,
	  2, vdi_resize_cmd },
	{ "read", "<vdiname> [<offset> [<len>]]", "s:", "read image data to stdout",
	  "  -s, --snapshot TAG|ID read this snapshot of the image\n"
	  "Offset and length take size units; by default the whole image is read. Holes read as\n"
	  "zeros. A progress bar is shown on a terminal.\n",
	  1, 3, vdi_read_cmd },
	{ "write", "<vdiname> [<offset> [<len>]]", "", "write image data from stdin",
	  "Offset and length take size units; by default stdin is written from the offset to\n"
	  "its end, at most to the end of the image. dog returns only when the data is durable.\n",
	  1, 3, vdi_write_cmd },
	{ "setattr", "<vdiname> <key> [<value>]", "xd",
	  "set an attribute (value from stdin if absent)",
	  "  -x, --exclusive       fail if the key exists already (exit 3)\n"
	  "  -d, --delete          remove the key\n",
	  2, 3, vdi_setattr_cmd },
	{ "getattr", "<vdiname> <key>", "", "print an attribute's value to stdout", "", 2, 2,
	  vdi_getattr_cmd },
	{ "check", "<vdiname>", "e", "check and repair the copies of an image's objects",
	  "  -e, --exist           only check that every holder has its copy; repair nothing\n", 1,
	  1, vdi_check_cmd,
	  "Reads every copy of every object of the image from its holders and compares them.\n"
	  "Where they differ (only possible where a write was never acknowledged: the node\n"
	  "ordering it died with it in flight) the content most copies agree on is written to\n"
	  "the others, and 'fixed replica OID' is printed; a holder without a copy gets one\n"
	  "('fixed missing OID'). Ends with 'finish check&repair NAME'. It refuses while a\n"
	  "node writes the image (holds its write lease, given back 5 s after the last write).\n"
	  "A progress bar is shown on a terminal. Exit 1 if some object could not be checked.\n"
	  "With -e only the presence of each copy is checked (quick, allowed while the image\n"
	  "is written): '[HOST:PORT] oid OID is missing.' for each copy a holder lacks, then\n"
	  "'NAME lost N object(s).' (exit 1) or 'NAME is fine, no object is missing.'\n" },
	{ "object", "location|map <vdiname>", "i:s:", "show where an image's objects are",
	  "  -i, --index N         location: the data object of index N (default: the inode)\n"
	  "  -s, --snapshot TAG|ID map: of this snapshot of the image\n",
	  2, 2, vdi_object_cmd,
	  "location asks every node whether it holds the object, then prints where the\n"
	  "placement of the current epoch puts it. An object missing where it should be is\n"
	  "repaired by 'dog vdi check'.\n"
	  "map prints the image's data map: for each allocated object index, the id of the VDI\n"
	  "whose object holds its data (its own, or a snapshot's it still shares).\n" },
	{ "lock", "list [<vdiname>] | unlock|share|exclusive <vdiname>", "r",
	  "show or change the locks of images",
	  "  -r, --raw             list: raw output for scripts\n", 1, 2, vdi_lock_cmd,
	  "An NBD client that attaches to an image read-write takes its lock for the node it\n"
	  "attaches through: more clients through that node share it (multi-conn), a client\n"
	  "through another node is refused, with the holder's name. The lock goes when the\n"
	  "node's last such client detaches, or the node leaves the cluster.\n"
	  "  list       the images that are locked (or shareable), and the node holding each\n"
	  "  unlock     frees an image's lock, whoever holds it (a client left behind keeps\n"
	  "             writing: detach it first)\n"
	  "  share      lets clients through every node write the image (a cluster file system\n"
	  "             on a shared disk); exclusive undoes it\n" },
	{ "alter-copy", "<vdiname>", "c:", "change the number of copies of an image",
	  "  -c, --copies N        the new number of copies (1-31)\n", 1, 1, vdi_alter_copy_cmd,
	  "For a standalone image (no snapshot or clone shares its objects), replicated. The\n"
	  "cluster moves to a new epoch with the same nodes, whose placement has the new\n"
	  "number of copies: recovery gives the new holders their copies ('dog node recovery'\n"
	  "shows it) and, once every node is done, removes the copies no longer needed. Reads\n"
	  "and writes go on meanwhile.\n" },
	{ "track", "<vdiname>", "i:s:", "show where an object was in every epoch",
	  "  -i, --index N         the data object of index N (default: the image's inode)\n"
	  "  -s, --snapshot TAG|ID of this snapshot of the image\n",
	  1, 1, vdi_track_cmd,
	  "For each epoch, newest first, the nodes the placement of that epoch puts the object\n"
	  "on: 'obj OID locations at epoch E, copies = N', then one host:port per line.\n" },
	{ "backup", "<vdiname>", "s:F:", "write an incremental backup of a snapshot to stdout",
	  "  -s, --snapshot TAG|ID the snapshot to back up (required)\n"
	  "  -F, --from TAG|ID     an older snapshot: only what changed since it (incremental)\n",
	  1, 1, vdi_backup_cmd,
	  "Writes the original sheepdog's backup stream (docs/backup-format.md): the blocks of\n"
	  "the snapshot that differ from the older one (from an empty image without -F), in\n"
	  "512-byte units. Objects both snapshots share are skipped without being read. A\n"
	  "progress bar is shown when stderr is a terminal.\n" },
	{ "restore", "<vdiname>", "s:", "apply a backup stream from stdin",
	  "  -s, --snapshot TAG|ID the snapshot the backup starts from (its -F)\n", 1, 1,
	  vdi_restore_cmd,
	  "With -s the image is first rolled back to that snapshot (what was written since is\n"
	  "lost, as with rollback), then the backup's blocks are written to it: a backup of\n"
	  "FROM..TO restored onto FROM gives TO. Without -s the blocks go onto the image as it\n"
	  "is (a full backup into a new, empty image). A progress bar is shown on a terminal.\n" },
	{ NULL, NULL, NULL, NULL, NULL, 0, 0, NULL },
};
