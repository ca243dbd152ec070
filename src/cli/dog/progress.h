/* A progress bar on stderr, shown only when stderr is a terminal. */
#ifndef SD_DOG_PROGRESS_H
#define SD_DOG_PROGRESS_H

#include <stdint.h>

struct progress {
	const char *label;
	uint64_t total;
	int last_permille;
	int enabled;
};

void progress_start(struct progress *p, const char *label, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

#endif
