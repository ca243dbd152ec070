/*
 * The node's cluster-level state: configuration, membership, epoch and the VDI table. Owned by
 * the control thread; shards see only what is sent to them (the store layout).
 */
#ifndef SD_SYS_H
#define SD_SYS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/config.h"
#include "../core/node.h"
#include "../io/store.h"
#include "vdi.h"

/* A member of an sdcluster cluster: the node, and how to reach its Raft and its shards. */
struct cluster_member {
	struct sd_node node;
	uint64_t raft_id;
	uint16_t shards;
	uint16_t cluster_port;
	uint32_t recovered; /* the last epoch whose recovery it finished */
	uint64_t joined;    /* log index of the JOIN that made it this member (LEAVE checks it) */
};

struct sheep_sys {
	char dir[PATH_MAX];	    /* the node's data directory (absolute) */
	struct sd_config cfg;	    /* cfg.ctime == 0: not formatted */
	struct sd_node self;	    /* this node as the cluster sees it */
	bool gateway;		    /* stores nothing */
	uint8_t default_copies;	    /* sheep -c, used when format gives none */
	struct store_layout *store; /* current layout, also held by every shard */
	struct vdi_table vdis;
	bool shutdown; /* set by `dog cluster shutdown` */
	/*
	 * The sdcluster driver (src/cluster/sdcluster/): membership and the VDI table are its
	 * replicated state machine's; members are sorted by node_id_cmp. The local driver leaves
	 * clustered false and members empty (this node alone is the cluster).
	 */
	bool clustered;
	struct cluster_member *members; /* owned */
	int nr_members;
};

extern struct sheep_sys sys;

/* SD_RES_SUCCESS if the cluster serves I/O, else why not. */
int sys_status(void);

/*
 * Start-up: reads DIR/config and the epoch log, opens the store, and (once shards run) loads the
 * VDIs. Returns 0 or -errno with err filled for the operator.
 */
int cluster_init(char *err, size_t errlen);
int cluster_load_vdis(char *err, size_t errlen);

/* `dog cluster format`. Returns an SD_RES code; err explains a failure. */
int cluster_format(uint8_t copies, uint8_t copy_policy, const char *store, uint8_t shift,
		   bool recycle_vid, bool strict, char *err, size_t errlen);

/*
 * Erases this node's objects, VDI table and epoch log, marks it unformatted and switches the
 * store layout to kind (-1: keep it). For format, locally or applied from the cluster's log.
 * Returns an SD_RES code; err explains a failure.
 */
int cluster_wipe_local(int kind, char *err, size_t errlen);

/*
 * Whether copies asked for explicitly fit the zones of the cluster (one copy per zone).
 * SD_RES_SUCCESS, or SD_RES_INVALID_PARMS with err telling the operator what to do.
 */
int cluster_check_copies_fit(uint8_t copies, char *err, size_t errlen);

/*
 * dog cluster alter-copy: the default copies of VDIs created from now on (existing VDIs keep
 * theirs), saved in DIR/config. Returns an SD_RES code.
 */
int cluster_alter_copies(uint32_t copies);

/* The members of the current epoch (the local driver: this node alone). */
int cluster_members(struct sd_node *out, int max);

#endif
