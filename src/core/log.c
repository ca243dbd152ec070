/* Log line formatting and output. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int log_current_level = LOG_LVL_INFO;
static int log_fd = 2;
static __thread char thread_name[16] = "main";

static const char *const level_names[] = { "ERROR", "WARN", "NOTICE", "INFO", "DEBUG" };

int log_level_parse(const char *s)
{
	static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
	char *end;
	long v;

	for (int i = 0; i < 5; i++)
		if (!strcasecmp(s, names[i]))
			return i;
	if (!strcasecmp(s, "warning"))
		return LOG_LVL_WARN;
	v = strtol(s, &end, 10);
	if (*s && !*end && v >= 0 && v <= 4)
		return (int)v;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

void log_init(int fd, int level)
{
	log_fd = fd;
	log_current_level = level;
}

int log_reopen(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	int old = log_fd;
	log_fd = fd;
	if (old > 2)
		close(old);
	return 0;
}

void log_set_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
}

void log_write(int level, const char *func, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02d %02d:%02d:%02d.%03ld %-6s [%s] %s(): ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, log_level_name(level), thread_name, func);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write keeps the line whole; a short write of a log line is not worth retrying. */
	if (write(log_fd, line, (size_t)n) < 0)
		(void)0;
}
