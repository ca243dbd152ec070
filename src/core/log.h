/*
 * Logging with levels. Each line is written with one write(2) to an O_APPEND descriptor, so lines
 * from different threads never interleave. The level is checked before any formatting.
 */
#ifndef SD_LOG_H
#define SD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

extern int log_current_level;

/* Returns the level for "error", "warn", "notice", "info", "debug" (or 0..4), or -1. */
int log_level_parse(const char *s);
const char *log_level_name(int level);
/* Logs to fd (stderr, or a file opened with O_APPEND). */
void log_init(int fd, int level);
/* Reopens the log file at path (for SIGHUP log rotation); keeps the old fd on failure. */
int log_reopen(const char *path);
/* A short name for the calling thread, shown on every line ("main", "ctl", "shard3"). */
void log_set_thread_name(const char *name);

void log_write(int level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define sd_log(level, ...)                                                                         \
	do {                                                                                       \
		if ((level) <= log_current_level)                                                  \
			log_write((level), __func__, __VA_ARGS__);                                 \
	} while (0)

#define log_err(...)	sd_log(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	sd_log(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) sd_log(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	sd_log(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	sd_log(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
