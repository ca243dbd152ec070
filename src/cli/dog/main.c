/*
 * dog: the sheepdog administrator utility. `dog <command> <subcommand> [options] [args]`, with
 * options and arguments in any order, as in the original.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/constants.h"
#include "../../core/inode.h"
#include "../../core/result.h"
#include "../../core/size.h"
#include "dog.h"

struct dog_opts opts;
const char *dog_cmd_name = "";

struct command {
	const char *name;
	const char *desc;
	const struct subcommand *subs;
};

static const struct command commands[] = {
	{ "vdi", "Virtual disk image (VDI) management", vdi_cmds },
	{ "node", "Node information", node_cmds },
	{ "cluster", "Cluster administration", cluster_cmds },
	{ NULL, NULL, NULL },
};

static const struct option long_opts[] = {
	{ "address", required_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "raw", no_argument, NULL, 'r' },
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "prealloc", no_argument, NULL, 'P' },
	{ "copies", required_argument, NULL, 'c' },
	{ "copy-policy", required_argument, NULL, 'c' },
	{ "backend", required_argument, NULL, 'b' },
	{ "block-size-shift", required_argument, NULL, 'z' },
	{ "recycle-vid", no_argument, NULL, 'R' },
	{ "strict", no_argument, NULL, 't' },
	{ "force", no_argument, NULL, 'f' },
	{ "exclusive", no_argument, NULL, 'x' },
	{ "delete", no_argument, NULL, 'd' },
	{ "local", no_argument, NULL, 'l' },
	{ "exist", no_argument, NULL, 'e' },
	{ "index", required_argument, NULL, 'i' },
	{ "snapshot", required_argument, NULL, 's' },
	{ "from", required_argument, NULL, 'F' },
	{ NULL, 0, NULL, 0 },
};

static void print_commands(void)
{
	printf("Sheepdog administrator utility (version %s)\n"
	       "Usage: dog <command> <subcommand> [options]\n\nAvailable commands:\n",
	       SD_VERSION);
	for (const struct command *c = commands; c->name; c++)
		for (const struct subcommand *s = c->subs; s->name; s++) {
			char name[64];

			snprintf(name, sizeof(name), "%s %s", c->name, s->name);
			printf("  %-24s%s\n", name, s->desc);
		}
	printf("\nFor help about a command, run 'dog <command> <subcommand> --help'.\n");
}

static void print_subcommands(const struct command *c)
{
	printf("Usage: dog %s <subcommand> [options]\n\nAvailable subcommands:\n", c->name);
	for (const struct subcommand *s = c->subs; s->name; s++)
		printf("  %-24s%s\n", s->name, s->desc);
	printf("\nFor help about a subcommand, run 'dog %s <subcommand> --help'.\n", c->name);
}

static void print_sub_usage(FILE *f, const struct command *c, const struct subcommand *s)
{
	fprintf(f, "Usage: dog %s %s%s%s [-a address] [-p port] [-h]", c->name, s->name,
		s->args[0] ? " " : "", s->args);
	for (const char *p = s->flags; *p; p++)
		if (*p != ':')
			fprintf(f, p[1] == ':' ? " [-%c ARG]" : " [-%c]", *p);
	fputc('\n', f);
}

static void print_sub_help(const struct command *c, const struct subcommand *s)
{
	print_sub_usage(stdout, c, s);
	printf("%s\n\n", s->desc);
	if (s->about)
		printf("%s\n", s->about);
	printf("Options:\n%s", s->help);
	printf("  -a, --address ADDR    address of a sheep (default 127.0.0.1, or "
	       "$SHEEPDOG_DOG_ADDR)\n"
	       "  -p, --port PORT       its control port (default 7000, or $SHEEPDOG_DOG_PORT)\n"
	       "  -h, --help            show this help\n"
	       "\nExit status: 0 success, 1 failure, 2 cluster or host problem, 3 already exists,\n"
	       "4 full, 5 not found, 64 bad usage.\n");
}

int parse_size_arg(const char *s, uint64_t *out, const char *what)
{
	int ret = size_parse(s, out);

	if (ret == -ERANGE) {
		fprintf(stderr, "%s '%s' is too large\n", what, s);
		return EXIT_USAGE;
	}
	if (ret) {
		fprintf(stderr,
			"Invalid size '%s'\nUse a number with an optional unit B, K, M, G, T or P "
			"(powers of 1024), e.g. 20G or 1.5T.\n",
			s);
		return EXIT_USAGE;
	}
	return 0;
}

int parse_copies(const char *s, uint8_t *copies, uint8_t *policy)
{
	char *end;
	long a, b;

	errno = 0;
	a = strtol(s, &end, 10);
	if (end != s && !errno && !*end && a >= 1 && a <= SD_MAX_COPIES) {
		*copies = (uint8_t)a;
		*policy = 0;
		return 0;
	}
	if (end != s && *end == ':' && !errno) {
		const char *q = end + 1;

		b = strtol(q, &end, 10);
		if (end != q && !*end && !errno && (a == 2 || a == 4 || a == 8 || a == 16) &&
		    b >= 1 && b <= 15) {
			*copies = (uint8_t)(a + b);
			*policy = ec_policy((unsigned)a, (unsigned)b);
			return 0;
		}
	}
	fprintf(stderr,
		"Invalid parameter %s\n"
		"To create replicated vdi, set -c x\n"
		"  x(1 to %d)   - number of replicated copies\n"
		"To create erasure coded vdi, set -c x:y\n"
		"  x(2,4,8,16)  - number of data strips\n"
		"  y(1 to 15)   - number of parity strips\n",
		s, SD_MAX_COPIES);
	return EXIT_USAGE;
}

void format_copies(char *buf, size_t len, uint32_t copies, uint32_t policy)
{
	if (policy)
		snprintf(buf, len, "%u:%u", ec_data_strips((uint8_t)policy),
			 ec_parity_strips((uint8_t)policy));
	else
		snprintf(buf, len, "%u", copies);
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > 65535) {
		fprintf(stderr, "Invalid port number '%s'\n", s);
		return -1;
	}
	return 0;
}

static int run_sub(const struct command *c, const struct subcommand *s, int argc, char **argv)
{
	char optstring[64], name[64];
	int ch, nargs;

	/* Leading ':' reports a missing argument as ':'; GNU getopt permutes, so options may
	 * follow arguments as with the original dog. */
	snprintf(optstring, sizeof(optstring), ":a:p:h%s", s->flags);
	snprintf(name, sizeof(name), "%s %s", c->name, s->name);
	dog_cmd_name = name;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, long_opts, NULL)) != -1) {
		int ret;
		unsigned long shift;
		char *end;

		/* A long option maps to a letter that this subcommand may not take. */
		if (ch != ':' && ch != '?' && !strchr("aph", ch) && !strchr(s->flags, ch)) {
			fprintf(stderr, "Invalid option '%s' for 'dog %s'\n", argv[optind - 1],
				name);
			print_sub_usage(stderr, c, s);
			return EXIT_USAGE;
		}
		switch (ch) {
		case 'a':
			opts.addr = optarg;
			break;
		case 'p':
			if (parse_port(optarg))
				return EXIT_USAGE;
			opts.port = optarg;
			break;
		case 'h':
			print_sub_help(c, s);
			return EXIT_OK;
		case 'r':
			opts.raw = true;
			break;
		case 'v':
			opts.verbose = true;
			break;
		case 'P':
			opts.prealloc = true;
			break;
		case 'f':
			opts.force = true;
			break;
		case 'x':
			opts.exclusive = true;
			break;
		case 'd':
			opts.del = true;
			break;
		case 'l':
			opts.local = true;
			break;
		case 'e':
			opts.exist = true;
			break;
		case 'i':
			errno = 0;
			shift = strtoul(optarg, &end, 0);
			if (errno || end == optarg || *end || shift > UINT32_MAX) {
				fprintf(stderr, "Invalid object index '%s'\n", optarg);
				return EXIT_USAGE;
			}
			opts.index = (uint32_t)shift;
			opts.index_set = true;
			break;
		case 'R':
			opts.recycle_vid = true;
			break;
		case 's':
		case 'F':
			if (!optarg[0] || strlen(optarg) >= SD_MAX_VDI_TAG_LEN) {
				fprintf(stderr,
					"Invalid snapshot '%s': a tag of 1 to %d bytes, or an "
					"id\n",
					optarg, SD_MAX_VDI_TAG_LEN - 1);
				return EXIT_USAGE;
			}
			*(ch == 's' ? &opts.snap : &opts.from) = optarg;
			break;
		case 't':
			opts.strict = true;
			break;
		case 'b':
			opts.store = optarg;
			break;
		case 'c':
			ret = parse_copies(optarg, &opts.copies, &opts.copy_policy);
			if (ret)
				return ret;
			opts.copies_set = true;
			break;
		case 'z':
			errno = 0;
			shift = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || shift < SD_MIN_BLOCK_SHIFT ||
			    shift > SD_MAX_BLOCK_SHIFT) {
				fprintf(stderr, "Invalid block size shift '%s': must be %d to %d\n",
					optarg, SD_MIN_BLOCK_SHIFT, SD_MAX_BLOCK_SHIFT);
				return EXIT_USAGE;
			}
			opts.block_size_shift = (uint8_t)shift;
			break;
		case ':':
			fprintf(stderr, "Option '-%c' needs an argument\n", optopt);
			print_sub_usage(stderr, c, s);
			return EXIT_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "Invalid option '-%c' for 'dog %s'\n", optopt,
					name);
			else
				fprintf(stderr, "Invalid option '%s' for 'dog %s'\n",
					argv[optind - 1], name);
			print_sub_usage(stderr, c, s);
			return EXIT_USAGE;
		}
	}
	nargs = argc - optind;
	if (nargs < s->min_args || nargs > s->max_args) {
		fprintf(stderr,
			nargs < s->min_args ? "Not enough arguments\n" : "Too many arguments\n");
		print_sub_usage(stderr, c, s);
		return EXIT_USAGE;
	}
	return s->fn(nargs, argv + optind);
}

/*
 * Accepts options before the command too ("dog -p 7001 vdi list"): moves them after the
 * subcommand, where getopt sees them. Only options that take the next word are paired with it.
 */
static void move_leading_options(int argc, char **argv)
{
	int lead = 1;

	while (lead < argc && argv[lead][0] == '-' && strcmp(argv[lead], "-h") &&
	       strcmp(argv[lead], "--help")) {
		bool takes_arg = !strcmp(argv[lead], "-a") || !strcmp(argv[lead], "-p") ||
				 !strcmp(argv[lead], "--address") || !strcmp(argv[lead], "--port");

		lead += takes_arg && lead + 1 < argc ? 2 : 1;
	}
	int words = argc - lead < 2 ? argc - lead : 2;

	if (lead == 1)
		return;
	/* rotate argv[1..lead) behind the command words at argv[lead], argv[lead + 1] */
	for (int k = 0; k < words; k++) {
		char *w = argv[lead + k];

		memmove(&argv[2 + k], &argv[1 + k], sizeof(*argv) * (size_t)(lead - 1));
		argv[1 + k] = w;
	}
}

int main(int argc, char **argv)
{
	const struct command *c;
	const struct subcommand *s;

	move_leading_options(argc, argv);

	opts.addr = getenv("SHEEPDOG_DOG_ADDR") ? getenv("SHEEPDOG_DOG_ADDR") : "127.0.0.1";
	opts.port = getenv("SHEEPDOG_DOG_PORT") ? getenv("SHEEPDOG_DOG_PORT") : "7000";
	if (parse_port(opts.port))
		return EXIT_USAGE;
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_commands();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (c = commands; c->name && strcmp(c->name, argv[1]); c++)
		;
	if (!c->name) {
		fprintf(stderr, "Invalid command '%s'\n", argv[1]);
		print_commands();
		return EXIT_USAGE;
	}
	if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
		print_subcommands(c);
		return argc < 3 ? EXIT_USAGE : EXIT_OK;
	}
	for (s = c->subs; s->name && strcmp(s->name, argv[2]); s++)
		;
	if (!s->name) {
		fprintf(stderr, "Invalid subcommand '%s' for 'dog %s'\n", argv[2], c->name);
		print_subcommands(c);
		return EXIT_USAGE;
	}
	return run_sub(c, s, argc - 2, argv + 2);
}
