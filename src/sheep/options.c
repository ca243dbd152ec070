/* Parsing and validation of sheep's options; the flags follow the seed README's reference. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/constants.h"
#include "../core/log.h"
#include "../core/node.h"
#include "../shard/shard.h"

enum {
	OPT_CACHE_SIZE = 256,
	OPT_DIRECTIO,
	OPT_HTTP_PORT,
	OPT_NFS,
	OPT_NFS_PORT,
	OPT_NBD,
	OPT_NBD_PORT,
	OPT_NBD_SOCKET,
	OPT_CLUSTER_DRIVER,
	OPT_SEED,
	OPT_CLUSTER_PORT,
	OPT_ZK,
	OPT_ZK_TIMEOUT,
	OPT_DPDK,
	OPT_DPDK_ADDR,
	OPT_DPDK_PORT,
	OPT_DPDK_EAL_ARGS,
	OPT_DPDK_PORTS,
	OPT_DPDK_QUEUES,
	OPT_SHARDS,
	OPT_LIMITS,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{ "bind-addr", required_argument, NULL, 'b' },
	{ "port", required_argument, NULL, 'p' },
	{ "gateway", no_argument, NULL, 'g' },
	{ "copies", required_argument, NULL, 'c' },
	{ "zone", required_argument, NULL, 'z' },
	{ "vnodes", required_argument, NULL, 'v' },
	{ "journal", required_argument, NULL, 'j' },
	{ "cache", no_argument, NULL, 'w' },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "directio", no_argument, NULL, OPT_DIRECTIO },
	{ "http-port", required_argument, NULL, OPT_HTTP_PORT },
	{ "nfs", no_argument, NULL, OPT_NFS },
	{ "nfs-port", required_argument, NULL, OPT_NFS_PORT },
	{ "nbd", no_argument, NULL, OPT_NBD },
	{ "nbd-port", required_argument, NULL, OPT_NBD_PORT },
	{ "nbd-socket", required_argument, NULL, OPT_NBD_SOCKET },
	{ "log-level", required_argument, NULL, 'l' },
	{ "cluster-driver", required_argument, NULL, OPT_CLUSTER_DRIVER },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "cluster-port", required_argument, NULL, OPT_CLUSTER_PORT },
	{ "zk", required_argument, NULL, OPT_ZK },
	{ "zk-timeout", required_argument, NULL, OPT_ZK_TIMEOUT },
	{ "dpdk", no_argument, NULL, OPT_DPDK },
	{ "dpdk-addr", required_argument, NULL, OPT_DPDK_ADDR },
	{ "dpdk-port", required_argument, NULL, OPT_DPDK_PORT },
	{ "dpdk-eal-args", required_argument, NULL, OPT_DPDK_EAL_ARGS },
	{ "dpdk-ports", required_argument, NULL, OPT_DPDK_PORTS },
	{ "dpdk-queues", required_argument, NULL, OPT_DPDK_QUEUES },
	{ "shards", required_argument, NULL, OPT_SHARDS },
	{ "limits", required_argument, NULL, OPT_LIMITS },
	{ "recovery", required_argument, NULL, 'R' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(void)
{
	printf("Usage: sheep [OPTIONS] DIR\n"
	       "Runs a sheepdog storage daemon that keeps its objects and metadata in DIR.\n"
	       "It daemonizes (pid in DIR/sheep.pid, log in DIR/sheep.log) unless -f is given.\n"
	       "\n"
	       "Options:\n"
	       "  -b, --bind-addr ADDR      address to listen on (default 0.0.0.0)\n"
	       "  -p, --port PORT           control port for dog and peers (default 7000)\n"
	       "  -g, --gateway             store nothing: serve requests only (0 vnodes)\n"
	       "  -c, --copies N            default replica count for 'dog cluster format'\n"
	       "                            (default 3; the effective count is capped by zones)\n"
	       "  -z, --zone ID             fault zone, 0..4294967295 (default: the last four\n"
	       "                            address bytes, as in the original sheepdog)\n"
	       "  -v, --vnodes N            virtual nodes on the hash ring, 1..65535 (default "
	       "128)\n"
	       "  -l, --log-level LEVEL     error, warn, notice, info or debug (default info)\n"
	       "      --cluster-driver DRV  cluster driver: local (one node, the default), or\n"
	       "                            sdcluster: many nodes agreeing through Raft among\n"
	       "                            themselves (no ZooKeeper). The first node starts a\n"
	       "                            cluster; the others name it with --seed\n"
	       "                            zookeeper: many nodes ordered by a ZooKeeper\n"
	       "                            ensemble (--zk); for clusters past a few dozen\n"
	       "                            nodes. 'zookeeper:HOSTS' is short for --zk HOSTS\n"
	       "      --zk HOST:PORT[,HOST:PORT...][/PATH]\n"
	       "                            zookeeper: the ensemble; PATH keeps several clusters\n"
	       "                            apart on one ensemble (it must exist)\n"
	       "      --zk-timeout MS       zookeeper: session timeout (default 10000). A node\n"
	       "                            cut off from the ensemble stops writes within 2/3\n"
	       "                            of it; the others remove it after all of it\n"
	       "      --seed HOST:PORT      sdcluster: a member to ask for joining (its client\n"
	       "                            port, -p); repeat for more. Not needed on restart\n"
	       "      --cluster-port PORT   sdcluster: the Raft port (default: -p PORT + 1)\n"
	       "  -R, --recovery max=N,interval=MS\n"
	       "                            sdcluster: recover at most N objects per MS\n"
	       "                            milliseconds after a membership change, to spare\n"
	       "                            client I/O (both 0, the default: as fast as it can);\n"
	       "                            'dog node recovery set-throttle' changes it for the\n"
	       "                            whole cluster\n"
	       "      --shards N            I/O threads, one per core (default: every online CPU,\n"
	       "                            pinned). Idle shards spin briefly before sleeping,\n"
	       "                            but only while another CPU is idle: never on the\n"
	       "                            CPU that clients on this machine (QEMU, fio) need;\n"
	       "                            SHEEP_SPIN_US=N: spin N us always (0: never)\n"
	       "      --nbd                 serve every VDI over NBD on TCP port 10809; the "
	       "export\n"
	       "                            name is the VDI's name (nbd://host:10809/VDI)\n"
	       "      --nbd-port PORT       serve NBD on this TCP port instead (implies --nbd)\n"
	       "      --nbd-socket PATH     serve NBD on a Unix socket too "
	       "(nbd+unix:///VDI?socket=\n"
	       "                            PATH); without --nbd or --nbd-port, only there\n"
	       "      --limits KEY=VAL[,..] bounds on what clients (NBD, dog) may make sheep "
	       "hold;\n"
	       "                            the defaults:\n"
	       "                  conn-mem=64M    request payloads, read buffers and unsent "
	       "replies\n"
	       "                                  of one connection; past it sheep stops reading\n"
	       "                                  from it until its replies drain\n"
	       "                  shard-mem=256M  the same, summed over the connections of one "
	       "shard\n"
	       "                                  (the control port counts as one); connections\n"
	       "                                  wait their turn past it\n"
	       "                  nbd-conns=1024  NBD connections (dealt out evenly to the "
	       "shards);\n"
	       "                                  when full, the oldest one still in its "
	       "handshake\n"
	       "                                  is closed for the new one, else it is refused\n"
	       "                  ctl-conns=256   control connections; when full, the one that "
	       "has\n"
	       "                                  gone longest without completing a request goes\n"
	       "                  handshake=10    seconds to finish the NBD handshake\n"
	       "                  request=30      seconds for a request, once it has started to\n"
	       "                                  arrive, to arrive whole with its payload\n"
	       "                  reply=30        seconds queued replies may go unread\n"
	       "                            A connection past a deadline is closed and the log\n"
	       "                            names its peer. Example: --limits "
	       "conn-mem=16M,reply=20\n"
	       "  -f, --foreground          stay in the foreground and log to stderr\n"
	       "  -h, --help                show this help\n"
	       "      --version             show the version\n"
	       "\n"
	       "Signals: SIGTERM or SIGINT shut down cleanly; SIGHUP reopens DIR/sheep.log\n"
	       "(for log rotation).\n"
	       "\n"
	       "Not in this version yet (sheep refuses to start with them rather than ignore "
	       "them):\n"
	       "  -j/--journal, -w/--cache, --cache-size, --directio, --nfs, --nfs-port,\n"
	       "  --http-port, --dpdk and its options.\n");
}

static int parse_num(const char *s, unsigned long long min, unsigned long long max,
		     unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* -R max=N,interval=MS, as the original: both 0 (no throttle) or both set. */
static int parse_recovery(const char *arg, struct sheep_options *o)
{
	char buf[128], *save = NULL;
	unsigned long long v;
	bool max_set = false, interval_set = false;

	if (snprintf(buf, sizeof(buf), "%s", arg) >= (int)sizeof(buf))
		goto bad;
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "max=", 4) && !parse_num(kv + 4, 0, UINT32_MAX, &v)) {
			o->recovery_max = (uint32_t)v;
			max_set = true;
		} else if (!strncmp(kv, "interval=", 9) && !parse_num(kv + 9, 0, UINT32_MAX, &v)) {
			o->recovery_interval = (uint32_t)v;
			interval_set = true;
		} else {
			goto bad;
		}
	}
	if (!max_set || !interval_set || !o->recovery_max != !o->recovery_interval)
		goto bad;
	o->recovery_set = true;
	return 0;
bad:
	fprintf(stderr,
		"Invalid recovery throttle '%s': use max=N,interval=MS (N objects per MS "
		"milliseconds, both 0 for no throttle)\n",
		arg);
	return -1;
}

static int not_yet(const char *opt)
{
	fprintf(stderr, "%s is not available in this version of sheep yet; start without it\n",
		opt);
	return -1;
}

/* "HOST:PORT" with a literal IPv4 address, or "[IPv6]:PORT". */
int seed_parse(const char *s, struct sd_node_id *nid)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	unsigned long long port;
	size_t hl;

	if (!colon || colon == s)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (node_addr_parse(host, nid->addr) || parse_num(colon + 1, 1, 65535, &port))
		return -1;
	nid->port = (uint16_t)port;
	return 0;
}

static int seed_check(const char *s)
{
	struct sd_node_id nid;

	if (!seed_parse(s, &nid))
		return 0;
	fprintf(stderr,
		"Invalid seed '%s': use HOST:PORT with an IP address, e.g. "
		"192.168.0.1:7000 or [fd00::1]:7000\n",
		s);
	return -1;
}

int sheep_parse_options(int argc, char **argv, struct sheep_options *o)
{
	unsigned long long v;
	int c, lvl;

	memset(o, 0, sizeof(*o));
	o->bind_addr = "0.0.0.0";
	o->port = SD_LISTEN_PORT;
	o->vnodes = SD_DEFAULT_VNODES;
	o->log_level = LOG_LVL_INFO;
	o->cluster_driver = "local";
	o->zk_timeout_ms = 10000;
	o->limits = (struct conn_limits)CONN_LIMITS_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:p:gc:z:v:j:wl:fhR:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bind_addr = optarg;
			break;
		case 'p':
			if (parse_num(optarg, 1, 65535, &v)) {
				fprintf(stderr, "Invalid port number '%s'\n", optarg);
				return -1;
			}
			o->port = (uint16_t)v;
			break;
		case 'g':
			o->gateway = true;
			break;
		case 'c':
			if (parse_num(optarg, 1, SD_MAX_COPIES, &v)) {
				fprintf(stderr, "Invalid number of copies '%s': must be 1 to %d\n",
					optarg, SD_MAX_COPIES);
				return -1;
			}
			o->copies = (uint8_t)v;
			break;
		case 'z':
			if (parse_num(optarg, 0, UINT32_MAX, &v)) {
				fprintf(stderr,
					"Invalid zone id '%s': must be an integer between 0 "
					"and 4294967295\n",
					optarg);
				return -1;
			}
			o->zone = (uint32_t)v;
			o->zone_set = true;
			break;
		case 'v':
			if (parse_num(optarg, 1, SD_MAX_VNODES, &v)) {
				fprintf(stderr,
					"Invalid number of vnodes '%s': must be an integer "
					"between 1 and 65535\n",
					optarg);
				return -1;
			}
			o->vnodes = (uint16_t)v;
			o->vnodes_set = true;
			break;
		case 'l':
			lvl = log_level_parse(optarg);
			if (lvl < 0) {
				fprintf(stderr,
					"Invalid log level '%s': use error, warn, notice, "
					"info or debug\n",
					optarg);
				return -1;
			}
			o->log_level = lvl;
			break;
		case 'f':
			o->foreground = true;
			break;
		case OPT_SHARDS:
			if (parse_num(optarg, 1, SD_MAX_SHARDS, &v)) {
				fprintf(stderr, "Invalid number of shards '%s': must be 1 to %d\n",
					optarg, SD_MAX_SHARDS);
				return -1;
			}
			o->shards = (int)v;
			break;
		case 'R':
			if (parse_recovery(optarg, o))
				return -1;
			break;
		case OPT_LIMITS: {
			char err[256];

			if (conn_limits_parse(optarg, &o->limits, err, sizeof(err))) {
				fprintf(stderr, "%s\n", err);
				return -1;
			}
			break;
		}
		case OPT_CLUSTER_DRIVER:
			if (!strcmp(optarg, "local") || !strcmp(optarg, "sdcluster")) {
				o->cluster_driver = optarg;
				break;
			}
			if (!strcmp(optarg, "zookeeper")) {
				o->cluster_driver = "zookeeper";
				break;
			}
			if (!strncmp(optarg, "zookeeper:", 10) && optarg[10]) {
				o->cluster_driver = "zookeeper";
				o->zk_hosts = optarg + 10;
				break;
			}
			fprintf(stderr,
				"Invalid cluster driver '%s'\nSupported drivers: local sdcluster "
				"zookeeper\n",
				optarg);
			return -1;
		case 'j':
			return not_yet("-j/--journal");
		case 'w':
			return not_yet("-w/--cache");
		case OPT_CACHE_SIZE:
			return not_yet("--cache-size");
		case OPT_DIRECTIO:
			return not_yet("--directio");
		case OPT_HTTP_PORT:
			return not_yet("--http-port");
		case OPT_NFS:
		case OPT_NFS_PORT:
			return not_yet("--nfs");
		case OPT_NBD:
			o->nbd_port = o->nbd_port ? o->nbd_port : SD_NBD_PORT;
			break;
		case OPT_NBD_PORT:
			if (parse_num(optarg, 1, 65535, &v)) {
				fprintf(stderr, "Invalid NBD port number '%s'\n", optarg);
				return -1;
			}
			o->nbd_port = (uint16_t)v;
			break;
		case OPT_NBD_SOCKET:
			if (!optarg[0] || strlen(optarg) >= 108) {
				fprintf(stderr,
					"Invalid NBD socket path '%s': it must be 1 to 107 "
					"bytes\n",
					optarg);
				return -1;
			}
			o->nbd_socket = optarg;
			break;
		case OPT_SEED:
			if (o->nr_seeds == 16) {
				fprintf(stderr, "at most 16 --seed options\n");
				return -1;
			}
			if (seed_check(optarg))
				return -1;
			o->seeds[o->nr_seeds++] = optarg;
			break;
		case OPT_CLUSTER_PORT:
			if (parse_num(optarg, 1, 65535, &v)) {
				fprintf(stderr, "Invalid cluster port number '%s'\n", optarg);
				return -1;
			}
			o->cluster_port = (uint16_t)v;
			break;
		case OPT_ZK:
			if (!*optarg || strlen(optarg) >= 1000) {
				fprintf(stderr,
					"Invalid ZooKeeper ensemble '%s': give "
					"HOST:PORT[,HOST:PORT...][/PATH]\n",
					optarg);
				return -1;
			}
			o->zk_hosts = optarg;
			break;
		case OPT_ZK_TIMEOUT:
			if (parse_num(optarg, 1000, 300000, &v)) {
				fprintf(stderr,
					"Invalid ZooKeeper session timeout '%s': give "
					"milliseconds, "
					"1000 to 300000\n",
					optarg);
				return -1;
			}
			o->zk_timeout_ms = (int)v;
			break;
		case OPT_DPDK:
		case OPT_DPDK_ADDR:
		case OPT_DPDK_PORT:
		case OPT_DPDK_EAL_ARGS:
		case OPT_DPDK_PORTS:
		case OPT_DPDK_QUEUES:
			return not_yet("--dpdk");
		case 'h':
			usage();
			return 1;
		case OPT_VERSION:
			printf("sheepdog daemon version %s\n", SD_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'sheep --help' for more information.\n");
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, optind >= argc ? "no data directory given\n"
					       : "more than one data directory given\n");
		fprintf(stderr, "Usage: sheep [OPTIONS] DIR (see 'sheep --help')\n");
		return -1;
	}
	if (o->gateway && o->vnodes_set) {
		fprintf(stderr, "Options '-g' and '-v' can not be both specified\n");
		return -1;
	}
	if (!strcmp(o->cluster_driver, "zookeeper") && !o->zk_hosts) {
		fprintf(stderr, "--cluster-driver zookeeper needs the ensemble: --zk "
				"HOST:PORT[,HOST:PORT...]\n");
		return -1;
	}
	if (o->zk_hosts && strcmp(o->cluster_driver, "zookeeper")) {
		fprintf(stderr, "--zk needs --cluster-driver zookeeper\n");
		return -1;
	}
	if (o->nr_seeds && strcmp(o->cluster_driver, "sdcluster")) {
		fprintf(stderr, "--seed needs --cluster-driver sdcluster\n");
		return -1;
	}
	if (!o->cluster_port)
		o->cluster_port = o->port == 65535 ? 0 : (uint16_t)(o->port + 1);
	if (!o->cluster_port && !strcmp(o->cluster_driver, "sdcluster")) {
		fprintf(stderr, "port 65535 leaves no room for the cluster port: give "
				"--cluster-port\n");
		return -1;
	}
	o->dir = argv[optind];
	return 0;
}
