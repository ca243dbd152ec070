/* Reading and writing DIR/config. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "constants.h"

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

int config_parse(const char *text, struct sd_config *cfg, char *err, size_t errlen)
{
	char line[256];
	const char *p = text;
	int lineno = 0;
	bool have_version = false;

	memset(cfg, 0, sizeof(*cfg));
	cfg->block_size_shift = SD_DEFAULT_BLOCK_SHIFT;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *eq, *key, *val;
		uint64_t v = 0;
		int ret = 0;

		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %d is too long", lineno);
			return -EINVAL;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);
		if (!line[0] || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			snprintf(err, errlen, "line %d has no '='", lineno);
			return -EINVAL;
		}
		*eq = '\0';
		key = line;
		val = eq + 1;
		if (!strcmp(key, "version")) {
			ret = parse_u64(val, SD_CONFIG_VERSION, &v);
			have_version = true;
		} else if (!strcmp(key, "ctime")) {
			ret = parse_u64(val, UINT64_MAX, &cfg->ctime);
		} else if (!strcmp(key, "copies")) {
			ret = parse_u64(val, SD_MAX_COPIES, &v);
			cfg->copies = (uint8_t)v;
		} else if (!strcmp(key, "copy_policy")) {
			ret = parse_u64(val, 255, &v);
			cfg->copy_policy = (uint8_t)v;
		} else if (!strcmp(key, "block_size_shift")) {
			ret = parse_u64(val, SD_MAX_BLOCK_SHIFT, &v);
			if (!ret && v < SD_MIN_BLOCK_SHIFT)
				ret = -EINVAL;
			cfg->block_size_shift = (uint8_t)v;
		} else if (!strcmp(key, "store")) {
			if (strcmp(val, "plain") && strcmp(val, "tree"))
				ret = -EINVAL;
			else
				snprintf(cfg->store, sizeof(cfg->store), "%s", val);
		} else if (!strcmp(key, "recycle_vid")) {
			ret = parse_u64(val, 1, &v);
			cfg->recycle_vid = v;
		} else if (!strcmp(key, "strict")) {
			ret = parse_u64(val, 1, &v);
			cfg->strict = v;
		} else if (!strcmp(key, "epoch")) {
			ret = parse_u64(val, UINT32_MAX, &v);
			cfg->epoch = (uint32_t)v;
		} else {
			snprintf(err, errlen, "line %d: unknown key '%s'", lineno, key);
			return -EINVAL;
		}
		if (ret) {
			snprintf(err, errlen, "line %d: bad value '%s' for %s", lineno, val, key);
			return -EINVAL;
		}
	}
	if (!have_version) {
		snprintf(err, errlen, "no version line");
		return -EINVAL;
	}
	if (cfg->ctime && (!cfg->copies || !cfg->store[0])) {
		snprintf(err, errlen, "formatted, but copies or store is missing");
		return -EINVAL;
	}
	return 0;
}

size_t config_format(const struct sd_config *cfg, char *buf, size_t len)
{
	int n = snprintf(buf, len,
			 "# sheepdog cluster configuration, written by sheep; do not edit\n"
			 "version=%d\nctime=%" PRIu64 "\ncopies=%u\ncopy_policy=%u\n"
			 "block_size_shift=%u\nstore=%s\nrecycle_vid=%d\nstrict=%d\nepoch=%u\n",
			 SD_CONFIG_VERSION, cfg->ctime, cfg->copies, cfg->copy_policy,
			 cfg->block_size_shift, cfg->store[0] ? cfg->store : "plain",
			 cfg->recycle_vid, cfg->strict, cfg->epoch);

	return n < 0 ? 0 : (size_t)n;
}

int config_load(const char *dir, struct sd_config *cfg, char *err, size_t errlen)
{
	char path[4096];
	char *text;
	long n;
	int ret;

	snprintf(path, sizeof(path), "%s/config", dir);
	n = file_read_all(path, &text, 65536);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	ret = config_parse(text, cfg, err, errlen);
	free(text);
	return ret;
}

int config_save(const char *dir, const struct sd_config *cfg)
{
	char buf[1024];
	size_t n = config_format(cfg, buf, sizeof(buf));

	return atomic_file_write(dir, "config", buf, n);
}
