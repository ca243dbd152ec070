/* Durable replacement of small metadata files: temporary file, fsync, rename, fsync directory. */
#ifndef SD_ATOMIC_FILE_H
#define SD_ATOMIC_FILE_H

#include <stddef.h>

/* Replaces dir/name with buf. Returns 0 or -errno; on failure the old file is untouched. */
int atomic_file_write(const char *dir, const char *name, const void *buf, size_t len);

/*
 * Reads all of path into a NUL-terminated buffer the caller frees. At most max bytes; returns the
 * length, or -errno (-EFBIG when larger than max).
 */
long file_read_all(const char *path, char **out, size_t max);

/* fsync a directory by path. */
int fsync_dir(const char *dir);

#endif
