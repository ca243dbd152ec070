/* dog's connection to sheep: framing, one request at a time, error reporting. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/byteorder.h"
#include "../../core/result.h"
#include "../../frontends/ctl/ctl_frame.h"
#include "dog.h"

static int conn_fd = -1;

static int dog_connect(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int ret, err = 0, one = 1;

	ret = getaddrinfo(opts.addr, opts.port, &hints, &res);
	if (ret) {
		fprintf(stderr, "cannot resolve %s: %s\n", opts.addr, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			conn_fd = fd;
			break;
		}
		err = errno;
		close(fd);
	}
	freeaddrinfo(res);
	if (conn_fd < 0) {
		fprintf(stderr,
			"failed to connect to %s:%s: %s\n"
			"Is sheep running there? Start one with 'sheep DIR', or point dog at it "
			"with -a ADDRESS and -p PORT.\n",
			opts.addr, opts.port, strerror(err ? err : ECONNREFUSED));
		return -1;
	}
	return 0;
}

static int io_all(int fd, void *buf, size_t len, bool writing)
{
	char *p = buf;

	while (len) {
		ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

Sdctl__Response *dog_call(Sdctl__Request *req)
{
	uint8_t hdr[CTL_FRAME_HDR], *buf;
	size_t len;
	uint32_t rlen;
	Sdctl__Response *rsp;
	int ret;

	if (conn_fd < 0 && dog_connect())
		return NULL;
	req->version = CTL_PROTO_VERSION;
	len = sdctl__request__get_packed_size(req);
	buf = malloc(CTL_FRAME_HDR + len);
	if (!buf) {
		fprintf(stderr, "out of memory\n");
		return NULL;
	}
	ctl_frame_header(buf, (uint32_t)len);
	sdctl__request__pack(req, buf + CTL_FRAME_HDR);
	ret = io_all(conn_fd, buf, CTL_FRAME_HDR + len, true);
	free(buf);
	if (!ret)
		ret = io_all(conn_fd, hdr, sizeof(hdr), false);
	if (ret) {
		fprintf(stderr, "lost the connection to sheep at %s:%s: %s\n", opts.addr, opts.port,
			strerror(-ret));
		return NULL;
	}
	rlen = get_be32(hdr);
	if (rlen > CTL_MAX_FRAME) {
		fprintf(stderr, "sheep at %s:%s sent an oversized reply (%u bytes)\n", opts.addr,
			opts.port, rlen);
		return NULL;
	}
	buf = malloc(rlen ? rlen : 1);
	if (!buf) {
		fprintf(stderr, "out of memory\n");
		return NULL;
	}
	ret = io_all(conn_fd, buf, rlen, false);
	if (ret) {
		free(buf);
		fprintf(stderr, "lost the connection to sheep at %s:%s: %s\n", opts.addr, opts.port,
			strerror(-ret));
		return NULL;
	}
	rsp = sdctl__response__unpack(NULL, rlen, buf);
	free(buf);
	if (!rsp)
		fprintf(stderr,
			"sheep at %s:%s sent a reply dog cannot decode: is it the same "
			"version?\n",
			opts.addr, opts.port);
	return rsp;
}

int dog_expect(const Sdctl__Response *rsp, Sdctl__Response__BodyCase body)
{
	if (rsp->body_case == body)
		return 0;
	fprintf(stderr,
		"sheep at %s:%s sent a reply without the expected content: is it the same "
		"version as dog?\n",
		opts.addr, opts.port);
	return EXIT_SYSFAIL;
}

int dog_result(const Sdctl__Response *rsp, const char *what)
{
	const char *msg;

	if (rsp->result == SDCTL__RESULT__SUCCESS)
		return 0;
	msg = rsp->message && rsp->message[0] ? rsp->message : sd_strerror((int)rsp->result);
	if (what)
		fprintf(stderr, "%s: %s\n", what, msg);
	else
		fprintf(stderr, "%s\n", msg);
	return dog_exit_from_result((int)rsp->result);
}

int dog_call_simple(Sdctl__Request *req, const char *what)
{
	Sdctl__Response *rsp = dog_call(req);
	int ret;

	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, what);
	sdctl__response__free_unpacked(rsp, NULL);
	return ret;
}

int dog_vdi_info(const char *name, Sdctl__Response **out)
{
	Sdctl__Request req = SDCTL__REQUEST__INIT;
	Sdctl__VdiNameReq q = SDCTL__VDI_NAME_REQ__INIT;
	Sdctl__Response *rsp;
	int ret;

	q.name = (char *)name;
	req.op_case = SDCTL__REQUEST__OP_VDI_INFO;
	req.vdi_info = &q;
	rsp = dog_call(&req);
	if (!rsp)
		return EXIT_SYSFAIL;
	ret = dog_result(rsp, NULL);
	if (!ret)
		ret = dog_expect(rsp, SDCTL__RESPONSE__BODY_VDI_INFO);
	if (ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return ret;
	}
	*out = rsp;
	return 0;
}
