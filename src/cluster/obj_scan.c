/* The object directory, a batch at a time (obj_scan.h). */
#include "obj_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "../io/store.h"
#include "sys.h"

struct obj_scan {
	DIR *top, *sub; /* the object directory; a tree store's VDI directory */
	bool tree;
};

struct obj_scan *obj_scan_open(void)
{
	struct obj_scan *s = calloc(1, sizeof(*s));
	int fd;

	if (!s)
		return NULL;
	s->tree = sys.store->kind == STORE_TREE;
	fd = openat(sys.store->objdir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(s->top = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		free(s);
		errno = e;
		return NULL;
	}
	return s;
}

static struct dirent *next_entry(struct obj_scan *s)
{
	struct dirent *d;

	for (;;) {
		if (s->sub) {
			if ((d = readdir(s->sub)))
				return d;
			closedir(s->sub);
			s->sub = NULL;
		}
		if (!(d = readdir(s->top)))
			return NULL;
		/* The tree store keeps each VDI's objects in a directory named by its id. */
		if (s->tree && d->d_type == DT_DIR && d->d_name[0] != '.') {
			int fd = openat(dirfd(s->top), d->d_name,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (fd >= 0 && !(s->sub = fdopendir(fd)))
				close(fd);
			continue;
		}
		return d;
	}
}

size_t obj_scan_next(struct obj_scan *s, uint64_t *oids, size_t max)
{
	struct dirent *d;
	size_t n = 0;

	while (n < max && (d = next_entry(s))) {
		uint64_t oid;
		int ec_index;

		if (d->d_name[0] != '.' && !store_parse_name(d->d_name, &oid, &ec_index))
			oids[n++] = oid;
	}
	return n;
}

void obj_scan_close(struct obj_scan *s)
{
	if (!s)
		return;
	if (s->sub)
		closedir(s->sub);
	closedir(s->top);
	free(s);
}
