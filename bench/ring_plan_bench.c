/*
 * How long one node's recovery plan takes (recovery.c's send_plan: one placement per object,
 * keeping those placed on the node) for a million objects on rings of 10 to 1000 nodes.
 * Prints seconds per plan; run it through bench/ring-plan.sh, which keeps the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/oid.h"
#include "core/ring.h"

#define OBJECTS 1000000u
#define COPIES	3

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	static const int sizes[] = { 10, 100, 300, 1000 };

	printf("| nodes | objects | held by node 0 | plan seconds |\n|---:|---:|---:|---:|\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int nr = sizes[s], out[COPIES];
		struct sd_node *n = calloc((size_t)nr, sizeof(*n));
		struct placement_ring r;
		unsigned held = 0;
		double t0;

		for (int i = 0; n && i < nr; i++) {
			node_addr_parse("10.0.0.0", n[i].nid.addr);
			n[i].nid.addr[14] = (uint8_t)((i + 1) >> 8);
			n[i].nid.addr[15] = (uint8_t)(i + 1);
			n[i].nid.port = 7000;
			n[i].nr_vnodes = 128;
			n[i].zone = (uint32_t)(i % 10);
		}
		if (!n || ring_build(&r, n, nr)) {
			fprintf(stderr, "ring-plan-bench: out of memory\n");
			return 1;
		}
		t0 = now();
		for (uint32_t k = 0; k < OBJECTS; k++) {
			int got = ring_place(&r, vid_to_data_oid(k / 1024 + 1, k % 1024), COPIES,
					     out);

			for (int i = 0; i < got; i++)
				held += out[i] == 0;
		}
		printf("| %d | %u | %u | %.3f |\n", nr, OBJECTS, held, now() - t0);
		ring_destroy(&r);
		free(n);
	}
	return 0;
}
