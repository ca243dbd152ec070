/*
 * Fuzz target for the control protocol's request handlers: the input is a stream of frames as
 * dog sends them, each run through ctl_handle() in the box, so that format, VDI create, write,
 * attributes and the rest run against a real store. Seeds are valid requests
 * (gen_ctl_corpus.py). Every reply must be one well-formed Response frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/sys.h"
#include "frontends/ctl/ctl_frame.h"
#include "frontends/ctl/ctl_ops.h"
#include "sheep_box.h"
#include "sheepdog.pb-c.h"

/* Frames run per input: enough for create-write-read-delete chains, bounded in time. */
#define MAX_FRAMES 32
/* Preallocation writes real blocks: more than this per input would fill the box's tmpfs. */
#define MAX_PREALLOC_BYTES (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_target_report(void);

static unsigned long nr_frames, nr_handled, nr_skipped, nr_resets;

/*
 * Requests the box must not run, decided on the decoded request. *prealloc counts the bytes this
 * input has preallocated so far.
 */
static bool skipped(const Sdctl__Request *q, uint64_t *prealloc)
{
	const Sdctl__VdiPreallocReq *p = q->vdi_prealloc;
	const struct vdi *v;
	uint64_t bytes;

	switch (q->op_case) {
	case SDCTL__REQUEST__OP_CLUSTER_SHUTDOWN:
		/* Sets the process-wide "stop serving" flag, which nothing in the box clears. */
		return true;
	case SDCTL__REQUEST__OP_VDI_PREALLOC:
		if (!p)
			return false;
		/* Up to 64 objects of up to 2 GiB each (-b 31): allocated, not sparse. */
		v = vdi_find_name(&sys.vdis, p->name ? p->name : "");
		if (!v)
			return false;
		bytes = (uint64_t)p->count << v->hdr.block_size_shift;
		if (*prealloc + bytes > MAX_PREALLOC_BYTES)
			return true;
		*prealloc += bytes;
		return false;
	default:
		return false;
	}
}

/* Requests after which the box is no longer in its initial state. */
static bool changes_state(const Sdctl__Request *q)
{
	switch (q->op_case) {
	case SDCTL__REQUEST__OP_CLUSTER_FORMAT:
	case SDCTL__REQUEST__OP_VDI_CREATE:
	case SDCTL__REQUEST__OP_VDI_PREALLOC:
	case SDCTL__REQUEST__OP_VDI_DELETE:
	case SDCTL__REQUEST__OP_VDI_RESIZE:
	case SDCTL__REQUEST__OP_VDI_WRITE:
	case SDCTL__REQUEST__OP_VDI_SETATTR:
		return true;
	default:
		return false;
	}
}

static void check_reply(const uint8_t *out, size_t len)
{
	const uint8_t *payload;
	uint32_t plen;
	size_t used;
	Sdctl__Response *rsp;

	if (ctl_frame_parse(out, len, UINT32_MAX, &payload, &plen, &used) != CTL_FRAME_OK ||
	    used != len) {
		fprintf(stderr, "fuzz_ctl_request: the reply is not one whole frame\n");
		abort();
	}
	rsp = sdctl__response__unpack(NULL, plen, payload);
	if (!rsp) {
		fprintf(stderr, "fuzz_ctl_request: the reply does not decode as a Response\n");
		abort();
	}
	sdctl__response__free_unpacked(rsp, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *out;
	static size_t out_cap;
	bool changed = false;
	uint64_t prealloc = 0;
	size_t off = 0;

	box_start();
	for (int n = 0; n < MAX_FRAMES && off < size; n++) {
		const uint8_t *payload;
		uint32_t len;
		size_t used, out_len = 0;
		Sdctl__Request *q;
		int ret;

		if (ctl_frame_parse(data + off, size - off, CTL_MAX_FRAME, &payload, &len, &used) !=
		    CTL_FRAME_OK)
			break;
		off += used;
		nr_frames++;
		q = sdctl__request__unpack(NULL, len, payload);
		if (q) {
			bool skip = skipped(q, &prealloc);

			changed |= !skip && changes_state(q);
			sdctl__request__free_unpacked(q, NULL);
			if (skip) {
				nr_skipped++;
				continue;
			}
		}
		ret = ctl_handle(payload, len, &out, &out_len, &out_cap, NULL);
		if (ret < 0)
			break; /* the server closes the connection here */
		nr_handled++;
		check_reply(out, out_len);
	}
	if (changed || box_dirty()) {
		nr_resets++;
		box_reset();
	}
	return 0;
}

void fuzz_target_report(void)
{
	printf("fuzz_ctl_request: %lu frames, %lu requests handled, %lu skipped, %lu resets\n",
	       nr_frames, nr_handled, nr_skipped, nr_resets);
}
