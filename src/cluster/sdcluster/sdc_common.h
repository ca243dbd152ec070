/*
 * What the two replicated-log drivers share: Raft among the sheep (sdcluster.c) and ZooKeeper
 * (../zookeeper/zk_driver.c). Both feed the same state machine (sm.h); this is the state and
 * the steps around it that do not depend on where the log lives: this node as a member, the
 * view published to the shards, the state machine's hooks, the node's id on disk.
 *
 * Control thread only.
 */
#ifndef SD_SDC_COMMON_H
#define SD_SDC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/evloop.h"
#include "sm.h"

struct cluster_member;

struct sdc_state {
	struct evloop *loop;
	uint64_t my_id;	       /* this node's id in the log (raft-id file), never reused */
	uint16_t shards;       /* as this node announces itself */
	uint16_t cluster_port; /* Raft's port; 0 under ZooKeeper */
	/* Refusing writes and changes: no quorum, not a member, or cut off too long. */
	bool fenced;
	/* Caught up with the cluster's log since this node last started or rejoined. */
	bool synced;
	/*
	 * Members of the last epoch are missing and nobody saw them go (a restart of the whole
	 * cluster): no writes until they are back or `dog cluster recover force` removes them.
	 */
	bool waiting;
};
extern struct sdc_state sdc;

/* Reads DIR/raft-id, or makes and saves a new random one, into sdc.my_id. */
int sdc_load_id(char *err, size_t errlen);

void sdc_self_member(struct cluster_member *m);
bool sdc_self_is_member(void);
/* Whether the state machine knows this node as it is now (address, vnodes, zone, shards). */
bool sdc_self_is_current(void);

/* Whether the cluster waits for members of its last epoch: logged, and the view published. */
void sdc_set_waiting(bool waiting);

/* Publishes the state machine's members and epoch, with fenced and synced, to the shards. */
void sdc_publish_view(void);

/*
 * What runs above the log on every driver, started once the log is: the current-copy check of
 * the shards, the write leases, background recovery, and the first view. 0 or -errno (err
 * says why). Stopped before the log closes.
 */
int sdc_services_start(char *err, size_t errlen);
void sdc_services_stop(void);

/*
 * The state machine's hooks, with a driver's own additions: members_changed and member_left
 * run the driver's function (may be NULL) and then the common steps.
 */
void sdc_hooks_init(struct sm_hooks *h, void (*members_changed)(void),
		    void (*member_left)(uint64_t id));

#endif
