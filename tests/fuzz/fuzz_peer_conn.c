/*
 * Fuzz target for a whole inbound peer connection (peer_conn.c): the input is everything another
 * node sends (frames and write payloads), written into one end of a socketpair whose other end is
 * handed over as ctl_server.c hands a sniffed peer connection to a shard. Whatever the server
 * answers is read and dropped. The box gets a cluster view of four members with the cluster id
 * and epoch of the peer_wire seeds (gen_peer_corpus.py: 0x65F1E2D3, epoch 7), so that their
 * requests pass validation and reach the store, the primary's path and the flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_view.h"
#include "cluster/peer/peer.h"
#include "cluster/sys.h"
#include "sheep_box.h"

/* Without progress for this long, the server is taken to wait for more than the input holds. */
#define CONN_IDLE_MS 2000
/* A connection must be gone this long after the client closed; otherwise it leaked. */
#define CONN_GONE_MS 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fuzz_target_report(void);

static unsigned long nr_inputs, nr_stalled, nr_eof_early;

#define SEED_CLUSTER 0x65F1E2D3u
#define SEED_EPOCH   7

static const struct conn_limits limits = CONN_LIMITS_DEFAULT;

static void count_conns(void *arg)
{
	*(int *)arg = peer_conns_count();
}

/* This node and three others (never contacted: writes the seeds forward are refused first). */
static void publish_view(void)
{
	struct sd_node m[4];
	struct cluster_view *v;

	for (int i = 0; i < 4; i++) {
		m[i] = sys.self;
		m[i].nid.port = (uint16_t)(sys.self.nid.port + 1 + i);
		m[i].zone = (uint32_t)i + 100;
	}
	m[0] = sys.self;
	v = cluster_view_new(SEED_EPOCH, SEED_CLUSTER, m, NULL, 4, &sys.self.nid, true);
	if (!v || cluster_view_publish(v)) {
		fprintf(stderr, "fuzz_peer_conn: cannot publish the view\n");
		abort();
	}
}

/* Reads and drops what the server sent. Returns false once the server has closed. */
static bool drain(int fd, bool *progress)
{
	static uint8_t sink[64 << 10];

	for (;;) {
		ssize_t n = read(fd, sink, sizeof(sink));

		if (n > 0) {
			*progress = true;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		return false; /* EOF, or ECONNRESET */
	}
}

/* Runs one connection; returns false if the server kept it open past CONN_IDLE_MS. */
static bool converse(int fd, const uint8_t *data, size_t size)
{
	uint64_t idle_since = box_now_ms();
	size_t off = 0;
	bool writing = true;

	for (;;) {
		bool progress = false;
		short ev;

		if (writing && off == size) {
			shutdown(fd, SHUT_WR);
			writing = false;
		}
		ev = box_poll(fd, (short)(POLLIN | (writing ? POLLOUT : 0)), 10);
		if (ev & (POLLIN | POLLHUP | POLLERR)) {
			if (!drain(fd, &progress)) {
				if (writing)
					nr_eof_early++;
				return true;
			}
		}
		if (writing && (ev & (POLLOUT | POLLERR))) {
			ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				off += (size_t)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The server closed (EPIPE): read what it sent before. */
				writing = false;
			}
		}
		if (progress)
			idle_since = box_now_ms();
		else if (box_now_ms() - idle_since > CONN_IDLE_MS)
			return false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t until;
	int sv[2], left;

	box_start();
	if (!cluster_view_latest() || cluster_view_latest()->epoch != SEED_EPOCH)
		publish_view(); /* the first input, and after each box_reset (a format) */
	nr_inputs++;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("fuzz_peer_conn: socketpair");
		abort();
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	/* As ctl_server.c hands a peer's socket to a shard: by message, owned by it from now. */
	peer_conn_adopt(sv[1], "fuzz", NULL, 0, &limits);
	if (!converse(sv[0], data, size)) {
		nr_stalled++;
		fprintf(stderr,
			"fuzz_peer_conn: the server kept the connection open %d ms after the last "
			"byte moved; closing it (%lu so far)\n",
			CONN_IDLE_MS, nr_stalled);
	}
	close(sv[0]);
	/* The next input starts only once this connection is freed, so that what ASan finds is
	 * charged to the input that caused it. */
	until = box_now_ms() + CONN_GONE_MS;
	for (;;) {
		box_on_shard(count_conns, &left);
		if (!left)
			break;
		if (box_now_ms() > until) {
			fprintf(stderr,
				"fuzz_peer_conn: the connection is still open %d ms after the "
				"client "
				"closed it\n",
				CONN_GONE_MS);
			abort();
		}
		box_poll(-1, 0, 1);
	}
	/* Objects allocated or freed change which paths the next input takes: start it clean. */
	if (box_dirty())
		box_reset();
	return 0;
}

void fuzz_target_report(void)
{
	printf("fuzz_peer_conn: %lu connections, %lu closed by the server before all input was "
	       "sent, %lu kept open by the server until the client gave up\n",
	       nr_inputs, nr_eof_early, nr_stalled);
}
