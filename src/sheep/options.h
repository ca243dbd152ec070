/* sheep's command line. */
#ifndef SD_SHEEP_OPTIONS_H
#define SD_SHEEP_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/conn_guard.h"

struct sheep_options {
	const char *dir;
	const char *bind_addr;
	uint16_t port;
	bool gateway;
	uint8_t copies;
	bool zone_set;
	uint32_t zone;
	uint16_t vnodes;
	bool vnodes_set;
	int log_level;
	bool foreground;
	int shards; /* 0: one per online CPU */
	const char *cluster_driver;
	/* sdcluster: where to ask to join, and the Raft port (0: the client port + 1) */
	const char *seeds[16];
	int nr_seeds;
	uint16_t cluster_port;
	/* zookeeper: the ensemble ("host:port,...[/path]") and the session timeout asked for */
	const char *zk_hosts;
	int zk_timeout_ms;
	uint16_t nbd_port;	   /* 0: no NBD over TCP */
	const char *nbd_socket;	   /* NULL: no NBD Unix socket */
	struct conn_limits limits; /* what clients may make sheep hold (--limits) */
	/* -R: recovery throttle, max objects per interval ms (recovery_set: given) */
	uint32_t recovery_max, recovery_interval;
	bool recovery_set;
};

/*
 * Parses argv. Returns 0 to run, 1 when --help or --version printed something and sheep should
 * exit 0, or -1 after printing an error (exit 1).
 */
int sheep_parse_options(int argc, char **argv, struct sheep_options *o);

/* Parses a --seed value ("HOST:PORT", "[V6]:PORT") into nid. 0 or -1. */
struct sd_node_id;
int seed_parse(const char *s, struct sd_node_id *nid);

#endif
