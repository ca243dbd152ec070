/*
 * Ids of deleted VDIs of which nothing is left, on one node (the local driver): their inodes
 * are removed like every other object, so DIR/retired-vids keeps the ids used across restarts,
 * as the original never reuses an id unless the cluster recycles them (-R). A cluster keeps
 * deleted VDIs in its state machine instead.
 */
#include "vdi_retired.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/atomic_file.h"
#include "../core/log.h"
#include "sys.h"

#define RETIRED_FILE "retired-vids"

static bool wanted(void)
{
	return !sys.clustered && !sys.cfg.recycle_vid;
}

void vdi_retired_save(void)
{
	char *buf;
	size_t len = 0;
	int ret;

	if (!wanted())
		return;
	buf = malloc((size_t)sys.vdis.nr * 8 + 1);
	if (!buf) {
		log_warn("out of memory saving %s/" RETIRED_FILE "; deleted VDI ids may be reused "
			 "after a restart",
			 sys.dir);
		return;
	}
	for (int i = 0; i < sys.vdis.nr; i++) {
		const struct vdi *v = sys.vdis.v[i];

		if (!v->hdr.name[0] && !v->inode_kept)
			len += (size_t)sprintf(buf + len, "%06" PRIx32 "\n", v->hdr.vdi_id);
	}
	ret = atomic_file_write(sys.dir, RETIRED_FILE, buf, len);
	if (ret)
		log_warn("cannot write %s/" RETIRED_FILE
			 ": %s; deleted VDI ids may be reused after "
			 "a restart",
			 sys.dir, strerror(-ret));
	free(buf);
}

int vdi_retired_load(void)
{
	char path[PATH_MAX + 32], *buf, *p, *end;
	long len;

	if (!wanted())
		return 0;
	snprintf(path, sizeof(path), "%s/" RETIRED_FILE, sys.dir);
	len = file_read_all(path, &buf, (size_t)SD_NR_VDIS * 7 + 1);
	if (len == -ENOENT)
		return 0;
	if (len < 0) {
		log_err("cannot read %s: %s", path, strerror((int)-len));
		return (int)len;
	}
	for (p = buf; *p; p = end) {
		unsigned long vid = strtoul(p, &end, 16);
		struct vdi *v;

		if (end == p || vid == 0 || vid >= SD_NR_VDIS)
			break;
		while (*end == '\n')
			end++;
		if (vdi_find_vid(&sys.vdis, (uint32_t)vid))
			continue;
		/* A deleted VDI of which only the id is left. */
		v = calloc(1, sizeof(*v));
		if (v)
			v->hdr.vdi_id = (uint32_t)vid;
		if (!v || vdi_table_insert(&sys.vdis, v)) {
			free(v);
			free(buf);
			return -ENOMEM;
		}
	}
	free(buf);
	return 0;
}

void vdi_retired_forget(void)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/" RETIRED_FILE, sys.dir);
	unlink(path);
}
