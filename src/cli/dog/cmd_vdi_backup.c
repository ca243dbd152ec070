/*
 * dog vdi backup and restore: the original's incremental stream (docs/backup-format.md), and
 * dog vdi object map. A backup compares two snapshots object by object: an object both data
 * maps name alike is shared, hence unchanged, and is skipped without reading it; the others
 * are read from both and compared 512 bytes at a time, and each run of changed blocks becomes
 * a record. A restore rolls the image back to the older snapshot and writes the records.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/byteorder.h"
#include "../../core/result.h"
#include "../../frontends/ctl/ctl_frame.h"
#include "dog.h"
#include "progress.h"

#define BACKUP_VERSION	1
#define BACKUP_MAGIC	0x11921192u
#define BACKUP_BLOCK	512
#define BACKUP_END	0xffffffffu
#define BACKUP_REC_SIZE 16
#define MAP_CHUNK	262144

struct vmap {
	uint32_t vid, shift, len;
	uint64_t size;
	uint32_t *e; /* len entries, owned */
};

/* The whole data map of name (snap: NULL for the working VDI). Returns 0 or an exit code. */
static int get_map(const char *name, const char *snap, struct vmap *m)
{
	char what[600];

	memset(m, 0, sizeof(*m));
	snprintf(what, sizeof(what), "Failed to read the data map of %s%s%s", name,
		 snap ? " snapshot " : "", snap ? snap : "");
	for (uint32_t first = 0;; first += MAP_CHUNK) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__VdiMapReq q = SDCTL__VDI_MAP_REQ__INIT;
		Sdctl__Response *rsp;
		const Sdctl__VdiMapRsp *r;
		int ret;

		q.name = (char *)name;
		q.snap = (char *)(snap ? snap : "");
		q.first = first;
		q.count = MAP_CHUNK;
		req.op_case = SDCTL__REQUEST__OP_VDI_MAP;
		req.vdi_map = &q;
		rsp = dog_call_expect(&req, what, SDCTL__RESPONSE__BODY_VDI_MAP, &ret);
		if (!rsp) {
			free(m->e);
			return ret;
		}
		r = rsp->vdi_map;
		if (!first) {
			m->vid = r->vid;
			m->shift = r->block_size_shift;
			m->size = r->size;
			m->len = r->map_len;
			m->e = calloc(m->len + 1, sizeof(*m->e));
			if (!m->e) {
				sdctl__response__free_unpacked(rsp, NULL);
				return EXIT_SYSFAIL;
			}
		}
		for (size_t i = 0; i < r->n_entries && first + i < m->len; i++)
			m->e[first + i] = r->entries[i];
		sdctl__response__free_unpacked(rsp, NULL);
		if ((uint64_t)first + MAP_CHUNK >= m->len)
			return 0;
	}
}

int vdi_object_map_cmd(const char *name)
{
	struct vmap m;
	int ret = get_map(name, opts.snap, &m);

	if (ret)
		return ret;
	printf("Index       VID\n");
	for (uint32_t i = 0; i < m.len; i++)
		if (m.e[i])
			printf("%08" PRIu32 " %8" PRIx32 "\n", i, m.e[i]);
	free(m.e);
	return EXIT_OK;
}

/* Reads [off, off + len) of name@snap into buf. Returns 0 or an exit code (printed). */
static int read_range(const char *name, const char *snap, uint64_t off, uint32_t len, uint8_t *buf)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiReadReq q = SDCTL__VDI_READ_REQ__INIT;
	Sdctl__Response *rsp;
	char what[600];
	int ret;

	q.name = (char *)name;
	q.snap = (char *)(snap ? snap : "");
	q.offset = off;
	q.length = len;
	req.op_case = SDCTL__REQUEST__OP_VDI_READ;
	req.vdi_read = &q;
	snprintf(what, sizeof(what), "Failed to read %s%s%s", name, snap ? " snapshot " : "",
		 snap ? snap : "");
	rsp = dog_call_expect(&req, what, SDCTL__RESPONSE__BODY_DATA, &ret);
	if (!rsp)
		return ret;
	if (rsp->data.len != len) {
		fprintf(stderr, "%s: %zu bytes instead of %" PRIu32 "\n", what, rsp->data.len, len);
		ret = EXIT_FAIL;
	}
	if (!ret)
		memcpy(buf, rsp->data.data, len);
	sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

static int out_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(1, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			fprintf(stderr, "cannot write the backup to stdout: %s\n", strerror(errno));
			return EXIT_FAIL;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int put_record(uint32_t idx, uint32_t off, uint32_t len, const uint8_t *data)
{
	uint8_t h[BACKUP_REC_SIZE] = { 0 };
	int ret;

	put_le32(h, idx);
	put_le32(h + 4, off);
	put_le32(h + 8, len);
	ret = out_all(h, sizeof(h));
	return ret || !len ? ret : out_all(data, len);
}

/* The runs of 512-byte blocks where to differs from from (NULL: zeros), as records. */
static int diff_object(uint32_t idx, const uint8_t *from, const uint8_t *to, uint32_t len)
{
	static const uint8_t zero[BACKUP_BLOCK];
	uint32_t start = UINT32_MAX;

	for (uint32_t off = 0; off <= len; off += BACKUP_BLOCK) {
		uint32_t n = len - off < BACKUP_BLOCK ? len - off : BACKUP_BLOCK;
		bool same = off == len || !memcmp(to + off, from ? from + off : zero, n);
		int ret;

		if (!same && start == UINT32_MAX)
			start = off;
		if (same && start != UINT32_MAX) {
			ret = put_record(idx, start, off - start, to + start);
			if (ret)
				return ret;
			start = UINT32_MAX;
		}
	}
	return 0;
}

int vdi_backup_cmd(int argc, char **argv)
{
	const char *from_snap = opts.from;
	struct vmap from = { 0 }, to;
	uint8_t hdr[8], *fbuf = NULL, *tbuf = NULL;
	struct progress p;
	uint64_t osize;
	int ret;

	(void)argc;
	if (!opts.snap) {
		fprintf(stderr,
			"Failed to back up %s: name the snapshot to back up with -s TAG|ID "
			"(and the older one it starts from with -F)\n",
			argv[0]);
		return EXIT_USAGE;
	}
	if (isatty(1)) {
		fprintf(stderr,
			"Failed to back up %s: stdout is a terminal; redirect it to a file "
			"or a pipe\n",
			argv[0]);
		return EXIT_USAGE;
	}
	ret = get_map(argv[0], opts.snap, &to);
	if (ret)
		return ret;
	if (from_snap && (ret = get_map(argv[0], from_snap, &from))) {
		free(to.e);
		return ret;
	}
	osize = UINT64_C(1) << to.shift;
	if (from_snap && from.shift != to.shift) {
		fprintf(stderr, "Failed to back up %s: the snapshots have different object sizes\n",
			argv[0]);
		ret = EXIT_FAIL;
		goto out;
	}
	fbuf = malloc(osize);
	tbuf = malloc(osize);
	if (!fbuf || !tbuf) {
		ret = EXIT_SYSFAIL;
		goto out;
	}
	put_le32(hdr, BACKUP_VERSION);
	put_le32(hdr + 4, BACKUP_MAGIC);
	ret = out_all(hdr, sizeof(hdr));
	progress_start(&p, "backing up", to.len);
	for (uint32_t i = 0; !ret && i < to.len; i++) {
		uint32_t f = i < from.len ? from.e[i] : 0, t = to.e[i];
		uint64_t off = (uint64_t)i << to.shift;
		uint32_t len = (uint32_t)(to.size - off < osize ? to.size - off : osize);

		progress_update(&p, i + 1);
		/* The same object, or nothing on either side: no change. */
		if (f == t)
			continue;
		if (t)
			ret = read_range(argv[0], opts.snap, off, len, tbuf);
		else
			memset(tbuf, 0, len);
		if (!ret && f)
			ret = read_range(argv[0], from_snap, off, len, fbuf);
		if (!ret)
			ret = diff_object(i, f ? fbuf : NULL, tbuf, len);
	}
	progress_end(&p);
	if (!ret)
		ret = put_record(BACKUP_END, 0, 0, NULL);
out:
	free(fbuf);
	free(tbuf);
	free(from.e);
	free(to.e);
	return ret;
}

/* Reads exactly n bytes of stdin. 1: done; 0: end of input at once; -1: error (printed). */
static int in_exact(void *p, size_t n, bool eof_ok)
{
	uint8_t *b = p;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, b + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "cannot read the backup from stdin: %s\n", strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (!got && eof_ok)
				return 0;
			fprintf(stderr,
				"the backup stream ends in the middle of a record: it is cut "
				"short\n");
			return -1;
		}
		got += (size_t)r;
	}
	return 1;
}

static int write_range(const char *name, uint64_t off, const uint8_t *data, uint32_t len)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiWriteReq q = SDCTL__VDI_WRITE_REQ__INIT;
	char what[320];

	q.name = (char *)name;
	q.offset = off;
	q.data.data = (uint8_t *)data;
	q.data.len = len;
	req.op_case = SDCTL__REQUEST__OP_VDI_WRITE;
	req.vdi_write = &q;
	snprintf(what, sizeof(what), "Failed to restore VDI %s", name);
	return dog_call_simple(&req, what);
}

static int rollback_to(const char *name, const char *snap)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiRollbackReq q = SDCTL__VDI_ROLLBACK_REQ__INIT;
	char what[600];

	q.name = (char *)name;
	q.snap = (char *)snap;
	req.op_case = SDCTL__REQUEST__OP_VDI_ROLLBACK;
	req.vdi_rollback = &q;
	snprintf(what, sizeof(what), "Failed to restore VDI %s: cannot roll it back to snapshot %s",
		 name, snap);
	return dog_call_simple(&req, what);
}

int vdi_restore_cmd(int argc, char **argv)
{
	uint8_t hdr[8], rec[BACKUP_REC_SIZE], *buf = NULL;
	struct progress p;
	struct vmap m;
	uint64_t osize, nr = 0;
	int ret;

	(void)argc;
	if (isatty(0)) {
		fprintf(stderr,
			"Failed to restore %s: stdin is a terminal; give the backup on "
			"stdin (dog vdi restore %s -s TAG < FILE)\n",
			argv[0], argv[0]);
		return EXIT_USAGE;
	}
	if (in_exact(hdr, sizeof(hdr), false) < 1)
		return EXIT_FAIL;
	if (get_le32(hdr + 4) != BACKUP_MAGIC || get_le32(hdr) != BACKUP_VERSION) {
		fprintf(stderr,
			"Failed to restore %s: stdin is not a sheepdog backup stream (magic "
			"%08" PRIx32 ", version %" PRIu32 "; expected %08x, %u)\n",
			argv[0], get_le32(hdr + 4), get_le32(hdr), BACKUP_MAGIC, BACKUP_VERSION);
		return EXIT_FAIL;
	}
	/* The image goes back to the snapshot the backup starts from, then takes its changes. */
	if (opts.snap && (ret = rollback_to(argv[0], opts.snap)))
		return ret;
	opts.snap = NULL;
	ret = get_map(argv[0], NULL, &m);
	if (ret)
		return ret;
	osize = UINT64_C(1) << m.shift;
	buf = malloc(osize);
	if (!buf) {
		free(m.e);
		return EXIT_SYSFAIL;
	}
	progress_start(&p, "restoring", m.len);
	for (;;) {
		uint32_t idx, off, len;
		int r = in_exact(rec, sizeof(rec), false);

		if (r < 1) {
			ret = EXIT_FAIL;
			break;
		}
		idx = get_le32(rec);
		off = get_le32(rec + 4);
		len = get_le32(rec + 8);
		if (idx == BACKUP_END)
			break;
		nr++;
		if (idx >= m.len || off > osize || len > osize - off || !len ||
		    ((uint64_t)idx << m.shift) + off + len > m.size) {
			fprintf(stderr,
				"Failed to restore %s: record %" PRIu64 " (object %" PRIu32
				", %" PRIu32 "+%" PRIu32 ") is outside the image: the backup is "
				"corrupt or of another image\n",
				argv[0], nr, idx, off, len);
			ret = EXIT_FAIL;
			break;
		}
		if (in_exact(buf, len, false) < 1) {
			ret = EXIT_FAIL;
			break;
		}
		ret = write_range(argv[0], ((uint64_t)idx << m.shift) + off, buf, len);
		if (ret)
			break;
		progress_update(&p, idx + 1);
	}
	progress_end(&p);
	free(buf);
	free(m.e);
	return ret;
}
