/* dog's connection to sheep: framing, one request at a time, error reporting. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../core/byteorder.h"
#include "../../core/result.h"
#include "../../frontends/ctl/ctl_frame.h"
#include "dog.h"

static int conn_fd = -1;

/*
 * Per-node requests (node info, node kill) give up on a node that does not answer within this
 * time, so one hung node does not hang dog; the connection to -a/-p waits as long as it takes.
 */
#define NODE_TIMEOUT_S 10

/* A connected socket to host:port (timeout_s > 0: for connect, send and receive each), or -1
 * with why filled. */
static int connect_to(const char *host, const char *port, int timeout_s, char *why, size_t len)
{
	struct timeval tv = { .tv_sec = timeout_s };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int ret, err = 0, one = 1, fd = -1;

	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(why, len, "cannot resolve %s: %s", host, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (timeout_s > 0) {
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && (err == EINPROGRESS || err == EAGAIN))
		snprintf(why, len, "failed to connect to %s:%s: no answer within %d s", host, port,
			 timeout_s);
	else if (fd < 0)
		snprintf(why, len, "failed to connect to %s:%s: %s", host, port,
			 strerror(err ? err : ECONNREFUSED));
	return fd;
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

static void lost(char *why, size_t len, const char *host, const char *port, int err)
{
	if (err == -EAGAIN || err == -EWOULDBLOCK)
		snprintf(why, len, "sheep at %s:%s did not answer within %d s", host, port,
			 NODE_TIMEOUT_S);
	else
		snprintf(why, len, "lost the connection to sheep at %s:%s: %s", host, port,
			 strerror(-err));
}

/* One request and its response on fd; NULL with why filled (naming host:port) on failure. */
static Sdctl__Response *exchange(int fd, const char *host, const char *port, Sdctl__Request *req,
				 char *why, size_t wlen)
{
	uint8_t hdr[CTL_FRAME_HDR], *buf;
	size_t len;
	uint32_t rlen;
	Sdctl__Response *rsp;
	int ret;

	req->version = CTL_PROTO_VERSION;
	len = sdctl__request__get_packed_size(req);
	buf = malloc(CTL_FRAME_HDR + len);
	if (!buf) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	ctl_frame_header(buf, (uint32_t)len);
	sdctl__request__pack(req, buf + CTL_FRAME_HDR);
	ret = io_all(fd, buf, CTL_FRAME_HDR + len, true);
	free(buf);
	if (!ret)
		ret = io_all(fd, hdr, sizeof(hdr), false);
	if (ret) {
		lost(why, wlen, host, port, ret);
		return NULL;
	}
	rlen = get_be32(hdr);
	if (rlen > CTL_MAX_FRAME) {
		snprintf(why, wlen, "sheep at %s:%s sent an oversized reply (%u bytes)", host, port,
			 rlen);
		return NULL;
	}
	buf = malloc(rlen ? rlen : 1);
	if (!buf) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	ret = io_all(fd, buf, rlen, false);
	if (ret) {
		free(buf);
		lost(why, wlen, host, port, ret);
		return NULL;
	}
	rsp = sdctl__response__unpack(NULL, rlen, buf);
	free(buf);
	if (!rsp)
		snprintf(why, wlen,
			 "sheep at %s:%s sent a reply dog cannot decode: is it the same version?",
			 host, port);
	return rsp;
}

Sdctl__Response *dog_call(Sdctl__Request *req)
{
	char why[512];
	Sdctl__Response *rsp;

	if (conn_fd < 0) {
		conn_fd = connect_to(opts.addr, opts.port, 0, why, sizeof(why));
		if (conn_fd < 0) {
			fprintf(stderr,
				"%s\nIs sheep running there? Start one with 'sheep DIR', or point "
				"dog at it with -a ADDRESS and -p PORT.\n",
				why);
			return NULL;
		}
	}
	rsp = exchange(conn_fd, opts.addr, opts.port, req, why, sizeof(why));
	if (!rsp)
		fprintf(stderr, "%s\n", why);
	return rsp;
}

Sdctl__Response *dog_call_node(const Sdctl__Node *n, Sdctl__Request *req, char *why, size_t len)
{
	char port[16];
	Sdctl__Response *rsp;
	int fd;

	snprintf(port, sizeof(port), "%u", n->port);
	fd = connect_to(n->host, port, NODE_TIMEOUT_S, why, len);
	if (fd < 0)
		return NULL;
	rsp = exchange(fd, n->host, port, req, why, len);
	close(fd);
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

Sdctl__Response *dog_call_expect(Sdctl__Request *req, const char *what,
				 Sdctl__Response__BodyCase body, int *ret)
{
	Sdctl__Response *rsp = dog_call(req);

	if (!rsp) {
		*ret = EXIT_SYSFAIL;
		return NULL;
	}
	*ret = dog_result(rsp, what);
	if (!*ret)
		*ret = dog_expect(rsp, body);
	if (*ret) {
		sdctl__response__free_unpacked(rsp, NULL);
		return NULL;
	}
	return rsp;
}

bool dog_confirm(const char *question)
{
	char answer[16] = "";

	printf("%s [yes/no]: ", question);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	return !strcmp(answer, "yes\n") || !strcmp(answer, "yes");
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
	q.snap = (char *)(opts.snap ? opts.snap : "");
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
