/*
 * Current copies only (docs/cluster-design.md, "Stale copies"): on the shard that owns an object,
 * before any operation on this node's copy runs, the copy is checked against the epoch history
 * (epoch_history.h). A copy this node has held through every epoch since it last changed runs at
 * once; one that may be stale (this node was away, or the object moved off it and back, or it
 * is new here) is first pulled from the nodes that held it, newest epoch first, and replaces the
 * local file; operations on the object wait meanwhile, in order. A pull that finds no copy
 * anywhere (every node asked answered that it has none) means there is no object; one that
 * cannot reach a current copy fails the operations with -EIO: never stale data, never zeros.
 *
 * Known limits: pulls (on demand, and by background recovery, recovery.h) write the file with
 * blocking calls on the shard, and a copy older than the history window (EH_MAX epochs) is pulled
 * again.
 */
#ifndef SD_OBJ_CHECK_H
#define SD_OBJ_CHECK_H

#include <stdbool.h>

struct obj_req;

/* obj_check_hook (obj_io.h): set once by the sdcluster driver. */
bool obj_check(struct obj_req *req);
/* On a shard as it exits: frees its table of copies known current. */
void obj_check_drain(void);

#endif
