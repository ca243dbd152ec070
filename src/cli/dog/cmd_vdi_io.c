/* dog vdi read and write: stream image data between stdin/stdout and the cluster. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/result.h"
#include "../../frontends/ctl/ctl_frame.h"
#include "dog.h"
#include "progress.h"

/* Show a progress bar only when there is something long to watch. */
#define PROGRESS_MIN (64u << 20)

static int parse_range(int argc, char **argv, uint64_t vdi_size, uint64_t *off, uint64_t *len,
		       bool *len_given, const char *verb)
{
	int ret;

	*off = 0;
	*len_given = argc == 3;
	if (argc >= 2 && (ret = parse_size_arg(argv[1], off, "offset")))
		return ret;
	if (*off > vdi_size) {
		fprintf(stderr, "%s offset is beyond the end of the VDI\n", verb);
		return EXIT_FAIL;
	}
	*len = vdi_size - *off;
	if (argc == 3) {
		if ((ret = parse_size_arg(argv[2], len, "length")))
			return ret;
		if (*len > vdi_size - *off) {
			if (verb[0] == 'R') {
				fprintf(stderr, "Read length is beyond the end of the VDI\n");
				return EXIT_FAIL;
			}
			*len = vdi_size - *off; /* writes are clamped, as the original */
		}
	}
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int vdi_read_cmd(int argc, char **argv)
{
	Sdctl__Response *info;
	uint64_t off, len, done = 0;
	bool len_given;
	struct progress p;
	char what[320];
	int ret;

	ret = dog_vdi_info(argv[0], &info);
	if (ret)
		return ret;
	ret = parse_range(argc, argv, info->vdi_info->size, &off, &len, &len_given, "Read");
	sdctl__response__free_unpacked(info, NULL);
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "Failed to read VDI %s", argv[0]);
	progress_start(&p, "reading", len >= PROGRESS_MIN ? len : 0);
	while (done < len) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__VdiReadReq q = SDCTL__VDI_READ_REQ__INIT;
		Sdctl__Response *rsp;
		uint64_t pos = off + done;
		/* Chunks end on CTL_MAX_IO boundaries, so they rarely straddle objects. */
		uint64_t chunk = CTL_MAX_IO - pos % CTL_MAX_IO;

		if (chunk > len - done)
			chunk = len - done;
		q.name = argv[0];
		q.snap = (char *)(opts.snap ? opts.snap : "");
		q.offset = pos;
		q.length = (uint32_t)chunk;
		req.op_case = SDCTL__REQUEST__OP_VDI_READ;
		req.vdi_read = &q;
		rsp = dog_call(&req);
		if (!rsp) {
			ret = EXIT_SYSFAIL;
			break;
		}
		ret = dog_result(rsp, what);
		if (!ret)
			ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_DATA);
		if (!ret && rsp->data.len != chunk) {
			fprintf(stderr, "%s: sheep returned %zu bytes instead of %" PRIu64 "\n",
				what, rsp->data.len, chunk);
			ret = EXIT_FAIL;
		}
		if (!ret && (ret = write_all(1, rsp->data.data, rsp->data.len))) {
			fprintf(stderr, "cannot write to stdout: %s\n", strerror(-ret));
			ret = EXIT_FAIL;
		}
		sdctl__response__free_unpacked(rsp, NULL);
		if (ret)
			break;
		done += chunk;
		progress_update(&p, done);
	}
	progress_end(&p);
	return ret;
}

/* Fills buf from stdin up to n bytes; returns how many (less only at end of input) or -errno. */
static ssize_t read_full(uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int vdi_write_cmd(int argc, char **argv)
{
	Sdctl__Response *info;
	uint64_t off, len, done = 0;
	bool len_given;
	struct progress p;
	char what[320];
	uint8_t *buf;
	int ret;

	if (opts.snap) {
		fprintf(stderr, "Failed to write VDI %s: a snapshot is read-only\n", argv[0]);
		return EXIT_USAGE;
	}
	ret = dog_vdi_info(argv[0], &info);
	if (ret)
		return ret;
	ret = parse_range(argc, argv, info->vdi_info->size, &off, &len, &len_given, "Write");
	sdctl__response__free_unpacked(info, NULL);
	if (ret)
		return ret;
	buf = malloc(CTL_MAX_IO);
	if (!buf)
		return EXIT_FAIL;
	snprintf(what, sizeof(what), "Failed to write VDI %s", argv[0]);
	progress_start(&p, "writing", len_given && len >= PROGRESS_MIN ? len : 0);
	while (done < len) {
		Sdctl__Request req = SDCTL__REQUEST__INIT;
		Sdctl__VdiWriteReq q = SDCTL__VDI_WRITE_REQ__INIT;
		uint64_t pos = off + done;
		uint64_t chunk = CTL_MAX_IO - pos % CTL_MAX_IO;
		ssize_t n;

		if (chunk > len - done)
			chunk = len - done;
		n = read_full(buf, chunk);
		if (n < 0) {
			fprintf(stderr, "cannot read stdin: %s\n", strerror((int)-n));
			ret = EXIT_FAIL;
			break;
		}
		if (n == 0)
			break;
		q.name = argv[0];
		q.offset = pos;
		q.data.data = buf;
		q.data.len = (size_t)n;
		req.op_case = SDCTL__REQUEST__OP_VDI_WRITE;
		req.vdi_write = &q;
		ret = dog_call_simple(&req, what);
		if (ret)
			break;
		done += (uint64_t)n;
		progress_update(&p, done);
		if ((uint64_t)n < chunk)
			break; /* end of input */
	}
	progress_end(&p);
	free(buf);
	return ret;
}
