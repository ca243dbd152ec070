/*
 * Runs a fuzz target without libFuzzer, so that every build (gcc too) exercises it: first every
 * corpus file named on the command line (files, or directories of them), then deterministic
 * mutations of those files (bit flips, byte sets, inserts, deletes, duplicated chunks, splices of
 * two files, length fields bumped). The seed is fixed, so a failure reproduces: the number of the
 * failing mutation is printed, and -x N -w FILE writes that input out for a libFuzzer build.
 *
 * usage: fuzz_X_replay [-n MUTATIONS] [-t SECONDS] [-s SEED] [-x N [-w FILE]] PATH...
 * -t stops the mutations after that much time, so the suite stays bounded on a slow machine.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_MAX_LEN (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Targets may print what they counted. */
void fuzz_target_report(void) __attribute__((weak));
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

struct input {
	char *name;
	uint8_t *data;
	size_t len;
};

static struct input *corpus;
static int nr_corpus, cap_corpus;
static uint64_t rng;
static const char *current_file;
static long current_mutation = -1;
static char argv0[256];

static uint64_t next_rand(void)
{
	/* xorshift64*: small, fixed across platforms and compilers */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

static size_t below(size_t n)
{
	return n ? (size_t)(next_rand() % n) : 0;
}

static void say_where(void)
{
	char msg[600];
	int n;

	if (current_mutation >= 0)
		n = snprintf(msg, sizeof(msg),
			     "fuzz replay: failed on mutation %ld; write it out with: %s -x %ld "
			     "-w FILE <same paths>\n",
			     current_mutation, argv0, current_mutation);
	else
		n = snprintf(msg, sizeof(msg), "fuzz replay: failed on corpus file %s\n",
			     current_file ? current_file : "?");
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		return;
}

/*
 * UBSan (a runtime of its own with gcc) does not call the death callback: have it abort, so the
 * SIGABRT handler says which input failed, and show where the undefined behaviour was.
 */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "abort_on_error=1:print_stacktrace=1";
}

static void on_signal(int sig)
{
	say_where();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int add_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct input *in;

	if (!f) {
		fprintf(stderr, "fuzz replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (nr_corpus == cap_corpus) {
		cap_corpus = cap_corpus ? cap_corpus * 2 : 64;
		corpus = realloc(corpus, sizeof(*corpus) * (size_t)cap_corpus);
		if (!corpus)
			abort();
	}
	in = &corpus[nr_corpus++];
	in->name = strdup(path);
	in->data = malloc(REPLAY_MAX_LEN);
	if (!in->name || !in->data)
		abort();
	in->len = fread(in->data, 1, REPLAY_MAX_LEN, f);
	fclose(f);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's files in name order, so that every run sees the same sequence. */
static int add_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	int n = 0, cap = 0, ret = 0;

	if (!d) {
		fprintf(stderr, "fuzz replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, sizeof(*names) * (size_t)cap);
			if (!names)
				abort();
		}
		if (asprintf(&names[n++], "%s/%s", dir, de->d_name) < 0)
			abort();
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	for (int i = 0; i < n; i++) {
		struct stat st;

		if (!ret && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			ret = add_file(names[i]);
		free(names[i]);
	}
	free(names);
	return ret;
}

static void put_be(uint8_t *p, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int width)
{
	uint64_t v = 0;

	for (int i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

/* One change to buf[0..*len) (room for REPLAY_MAX_LEN bytes). */
static void mutate_once(uint8_t *buf, size_t *len)
{
	static const uint8_t interesting[] = { 0, 1, 0x7f, 0x80, 0xff, 0x20, 0x40 };
	static const int64_t deltas[] = { 1, -1, 2, -2, 4096, -4096, 1 << 20, -(1 << 20) };
	size_t n = *len, pos = below(n), k;

	switch (below(9)) {
	case 0: /* bit flip */
		if (n)
			buf[pos] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* byte set */
		if (n)
			buf[pos] = below(2) ? interesting[below(sizeof(interesting))]
					    : (uint8_t)next_rand();
		break;
	case 2: /* insert random bytes */
		k = 1 + below(16);
		if (n + k > REPLAY_MAX_LEN)
			break;
		memmove(buf + pos + k, buf + pos, n - pos);
		for (size_t i = 0; i < k; i++)
			buf[pos + i] = (uint8_t)next_rand();
		*len = n + k;
		break;
	case 3: /* delete a range */
		k = 1 + below(n - pos < 64 ? n - pos : 64);
		if (!n)
			break;
		memmove(buf + pos, buf + pos + k, n - pos - k);
		*len = n - k;
		break;
	case 4: /* duplicate a chunk (a request sent twice) */
		k = 1 + below(n - pos < 512 ? n - pos : 512);
		if (!n || n + k > REPLAY_MAX_LEN)
			break;
		memmove(buf + pos + k, buf + pos, n - pos);
		*len = n + k;
		break;
	case 5: /* truncate */
		*len = pos;
		break;
	case 6: { /* splice: this input's head, another's tail */
		const struct input *o = &corpus[below((size_t)nr_corpus)];
		size_t from = below(o->len);

		k = o->len - from;
		if (pos + k > REPLAY_MAX_LEN)
			k = REPLAY_MAX_LEN - pos;
		memcpy(buf + pos, o->data + from, k);
		*len = pos + k;
		break;
	}
	default: { /* a big-endian length (or offset) field bumped */
		int width = below(3) == 0 ? 2 : below(2) ? 4 : 8;
		uint64_t v;

		if (n < (size_t)width)
			break;
		pos = below(n - (size_t)width + 1);
		v = get_be(buf + pos, width);
		switch (below(4)) {
		case 0:
			v += (uint64_t)deltas[below(sizeof(deltas) / sizeof(deltas[0]))];
			break;
		case 1:
			v *= 2;
			break;
		case 2:
			v = ~(uint64_t)0 >> below(2);
			break;
		default:
			v = v / 2;
			break;
		}
		put_be(buf + pos, width, v);
		break;
	}
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_mutation(uint8_t *buf, size_t *len)
{
	const struct input *base = &corpus[below((size_t)nr_corpus)];
	int changes = 1 + (int)below(4);

	memcpy(buf, base->data, base->len);
	*len = base->len;
	for (int c = 0; c < changes; c++)
		mutate_once(buf, len);
}

/* In a buffer of exactly its size, as libFuzzer does, so that ASan sees reads past the end. */
static void run(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		abort();
	memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: %s [-n MUTATIONS] [-t SECONDS] [-s SEED] [-x N [-w FILE]] "
		"PATH...\n",
		argv0);
	return 2;
}

int main(int argc, char **argv)
{
	static uint8_t buf[REPLAY_MAX_LEN];
	long mutations = 20000, only = -1;
	double limit = 0, start;
	const char *out_file = NULL;
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
	long done = 0;
	size_t len;
	int opt;

	snprintf(argv0, sizeof(argv0), "%s", argv[0]);
	while ((opt = getopt(argc, argv, "n:t:s:x:w:")) != -1) {
		switch (opt) {
		case 'n':
			mutations = strtol(optarg, NULL, 10);
			break;
		case 't':
			limit = strtod(optarg, NULL);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'x':
			only = strtol(optarg, NULL, 10);
			break;
		case 'w':
			out_file = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind == argc)
		return usage();
	for (int i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "fuzz replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? add_dir(argv[i]) : add_file(argv[i]))
			return 1;
	}
	if (!nr_corpus) {
		fprintf(stderr, "fuzz replay: no corpus files in the paths given\n");
		return 1;
	}
	rng = seed ? seed : 1;
	if (only >= 0) {
		for (long i = 0; i <= only; i++)
			make_mutation(buf, &len);
		if (out_file) {
			FILE *f = fopen(out_file, "wb");

			if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
				fprintf(stderr, "fuzz replay: cannot write %s\n", out_file);
				return 1;
			}
			printf("mutation %ld (%zu bytes) written to %s\n", only, len, out_file);
			return 0;
		}
		current_mutation = only;
		run(buf, len);
		printf("mutation %ld: no crash\n", only);
		return 0;
	}
	/* ASan reports faults itself and then calls us; without it, the signal handler does. */
	if (__sanitizer_set_death_callback) {
		__sanitizer_set_death_callback(say_where);
	} else {
		signal(SIGSEGV, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGFPE, on_signal);
	}
	signal(SIGABRT, on_signal);

	start = now_s();
	for (int i = 0; i < nr_corpus; i++) {
		current_file = corpus[i].name;
		run(corpus[i].data, corpus[i].len);
	}
	for (long i = 0; i < mutations; i++) {
		if (limit > 0 && now_s() - start > limit)
			break;
		make_mutation(buf, &len);
		current_mutation = i;
		run(buf, len);
		done++;
	}
	printf("%d corpus files and %ld of %ld mutations (seed 0x%llx) in %.1f s, no crash\n",
	       nr_corpus, done, mutations, (unsigned long long)seed, now_s() - start);
	if (fuzz_target_report)
		fuzz_target_report();
	for (int i = 0; i < nr_corpus; i++) {
		free(corpus[i].name);
		free(corpus[i].data);
	}
	free(corpus);
	return 0;
}
