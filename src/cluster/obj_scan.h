/*
 * Reading this node's object directory a batch at a time, on the control thread: the callers
 * (the recovery purge, dog cluster check's orphan report) read one batch per timer tick, so a
 * store of millions of objects never stalls the control thread (and Raft with it). Plain and
 * tree layouts alike; names that are not objects are skipped.
 */
#ifndef SD_OBJ_SCAN_H
#define SD_OBJ_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct obj_scan;

/* Starts a scan of sys.store's directory. NULL with errno set when it cannot be read. */
struct obj_scan *obj_scan_open(void);
/* Up to max object ids (an erasure-coded strip's file counts as its object); 0 at the end. */
size_t obj_scan_next(struct obj_scan *s, uint64_t *oids, size_t max);
void obj_scan_close(struct obj_scan *s);

#endif
