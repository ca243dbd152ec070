/*
 * The `local` cluster driver: a cluster of this one node. It owns the configuration, the epoch
 * log and `dog cluster format`. Later drivers replace membership; the rest stays.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../core/epoch_log.h"
#include "../core/log.h"
#include "../core/result.h"
#include "../io/obj_fence.h"
#include "../io/fd_cache.h"
#include "../shard/shard.h"
#include "../shard/shard_all.h"
#include "cluster_view.h"
#include "sdcluster/sdcluster.h"
#include "sys.h"
#include "vdi_share.h"
#include "vdi_internal.h"
#include "vdi_retired.h"

struct sheep_sys sys;

int sys_status(void)
{
	if (sys.shutdown)
		return SD_RES_SHUTDOWN;
	if (sys.clustered && !sdcluster_writable())
		return SD_RES_HALT;
	if (sys.clustered && sdcluster_waiting())
		return SD_RES_WAIT_FOR_JOIN;
	if (!sys.cfg.ctime)
		return SD_RES_WAIT_FOR_FORMAT;
	return SD_RES_SUCCESS;
}

int cluster_members(struct sd_node *out, int max)
{
	if (sys.clustered) {
		for (int i = 0; i < sys.nr_members && i < max; i++)
			out[i] = sys.members[i].node;
		return sys.nr_members;
	}
	if (max < 1)
		return 0;
	out[0] = sys.self;
	return 1;
}

static int nr_zones(void)
{
	int n = 0;

	if (!sys.clustered)
		return sys.self.nr_vnodes ? 1 : 0;
	for (int i = 0; i < sys.nr_members; i++) {
		bool seen = false;

		if (!sys.members[i].node.nr_vnodes)
			continue;
		for (int k = 0; k < i && !seen; k++)
			seen = sys.members[k].node.nr_vnodes &&
			       sys.members[k].node.zone == sys.members[i].node.zone;
		n += !seen;
	}
	return n;
}

int cluster_check_copies_fit(uint8_t copies, char *err, size_t errlen)
{
	int zones = nr_zones();

	if (copies <= zones)
		return SD_RES_SUCCESS;
	snprintf(err, errlen,
		 "cannot keep %u copies: this cluster has %d zone%s to put them in (one copy per "
		 "zone). Add nodes in other zones, or ask for %d cop%s (-c %d)",
		 copies, zones, zones == 1 ? "" : "s", zones, zones == 1 ? "y" : "ies", zones);
	return SD_RES_INVALID_PARMS;
}

int vdi_check_redundancy(uint8_t copies, uint8_t copy_policy, char *err, size_t errlen)
{
	if (copy_policy) {
		unsigned d = ec_data_strips(copy_policy), p = ec_parity_strips(copy_policy);

		if ((d != 2 && d != 4 && d != 8 && d != 16) || p < 1 || p > 15) {
			snprintf(err, errlen, "invalid erasure code policy 0x%x", copy_policy);
			return SD_RES_INVALID_PARMS;
		}
		if ((int)(d + p) > nr_zones()) {
			snprintf(err, errlen,
				 "erasure code %u:%u needs %u nodes in different zones; this "
				 "cluster "
				 "has %d. Add nodes, or use replication (-c N)",
				 d, p, d + p, nr_zones());
			return SD_RES_INVALID_PARMS;
		}
		return SD_RES_SUCCESS;
	}
	if (copies < 1 || copies > SD_MAX_COPIES) {
		snprintf(err, errlen, "copies must be 1 to %d, not %u", SD_MAX_COPIES, copies);
		return SD_RES_INVALID_PARMS;
	}
	if (!nr_zones()) {
		snprintf(err, errlen, "no node in this cluster stores data (gateway only)");
		return SD_RES_HALT;
	}
	return SD_RES_SUCCESS;
}

static bool same_members(const struct epoch_entry *e)
{
	return e->nr_nodes == 1 && !node_id_cmp(&e->nodes[0].nid, &sys.self.nid) &&
	       e->nodes[0].nr_vnodes == sys.self.nr_vnodes && e->nodes[0].zone == sys.self.zone;
}

static int log_new_epoch(uint32_t epoch)
{
	struct sd_node self = sys.self;
	struct epoch_entry e = {
		.epoch = epoch, .time = (uint64_t)time(NULL), .nr_nodes = 1, .nodes = &self
	};

	return epoch_log_write(sys.dir, &e);
}

int cluster_init(char *err, size_t errlen)
{
	char reason[256];
	struct statvfs vfs;
	int ret;

	if (statvfs(sys.dir, &vfs) == 0)
		sys.self.space = sys.gateway ? 0 : (uint64_t)vfs.f_blocks * vfs.f_frsize;
	ret = config_load(sys.dir, &sys.cfg, reason, sizeof(reason));
	if (ret == -ENOENT) {
		memset(&sys.cfg, 0, sizeof(sys.cfg));
		log_notice("%s has no cluster configuration: waiting for 'dog cluster format'",
			   sys.dir);
	} else if (ret) {
		snprintf(err, errlen,
			 "%s/config is unreadable (%s). Restore it from a backup, or move it away "
			 "and run 'dog cluster format', which erases this node's data",
			 sys.dir, reason);
		return ret;
	}
	sys.store = calloc(1, sizeof(*sys.store));
	if (!sys.store)
		return -ENOMEM;
	ret = store_layout_open(sys.store, sys.dir,
				sys.cfg.ctime && !strcmp(sys.cfg.store, "tree") ? STORE_TREE
										: STORE_PLAIN);
	if (ret) {
		snprintf(err, errlen, "cannot open the object directory %s/obj: %s", sys.dir,
			 strerror(-ret));
		return ret;
	}
	if (vdi_table_init(&sys.vdis))
		return -ENOMEM;
	/* sdcluster: the epoch is the cluster's, from its log (sdcluster.c). */
	if (sys.cfg.ctime && !sys.clustered) {
		struct epoch_entry e;

		ret = epoch_log_read(sys.dir, sys.cfg.epoch, &e);
		if (ret == 0 && same_members(&e)) {
			epoch_entry_free(&e);
			return 0;
		}
		if (ret == 0)
			epoch_entry_free(&e);
		else
			log_warn("epoch %u is missing from %s/epoch (%s); logging a new epoch",
				 sys.cfg.epoch, sys.dir, strerror(-ret));
		/* The membership changed (another address, port, zone or vnodes): a new epoch. */
		ret = log_new_epoch(sys.cfg.epoch + 1);
		if (!ret) {
			sys.cfg.epoch++;
			ret = config_save(sys.dir, &sys.cfg);
		}
		if (ret) {
			snprintf(err, errlen, "cannot log a new epoch in %s: %s", sys.dir,
				 strerror(-ret));
			return ret;
		}
		log_notice("membership changed: now at epoch %u", sys.cfg.epoch);
	}
	return 0;
}

static void drop_fds(void *arg)
{
	struct shard *s = shard_self();

	(void)arg;
	fd_cache_clear(s->fdc, s);
	obj_fence_drain(); /* a format forgets every VDI, deleted ones included */
}

static void set_store(void *arg)
{
	shard_self()->store = arg;
}

static void wipe_epochs(void)
{
	char path[PATH_MAX + 32];

	for (uint32_t e = sys.cfg.epoch; e >= 1 && e <= sys.cfg.epoch; e--) {
		snprintf(path, sizeof(path), "%s/epoch/%08u", sys.dir, e);
		unlink(path);
	}
}

int cluster_alter_copies(uint32_t copies)
{
	uint8_t old = sys.cfg.copies;
	int ret;

	if (!sys.cfg.ctime)
		return SD_RES_WAIT_FOR_FORMAT;
	if (!copies || copies > SD_MAX_COPIES)
		return SD_RES_INVALID_PARMS;
	sys.cfg.copies = (uint8_t)copies;
	sys.cfg.copy_policy = 0;
	ret = config_save(sys.dir, &sys.cfg);
	if (ret)
		log_err("cannot save %s/config: %s; the new default copies hold until a restart",
			sys.dir, strerror(-ret));
	if (old != copies)
		log_notice("the cluster's default redundancy is now %u copies (it was %u); "
			   "existing VDIs keep theirs",
			   copies, old);
	return SD_RES_SUCCESS;
}

int cluster_wipe_local(int kind, char *err, size_t errlen)
{
	int ret;

	/* 1: mark the node unformatted, so a crash while wiping leaves nothing half-valid. */
	wipe_epochs();
	sys.cfg.ctime = 0;
	sys.cfg.epoch = 0;
	ret = config_save(sys.dir, &sys.cfg);
	if (ret)
		goto io_fail;
	/* 2: forget open files, erase every object, switch the layout. */
	if (shard_run_on_all(drop_fds, NULL)) {
		snprintf(err, errlen, "out of memory");
		return SD_RES_NO_MEM;
	}
	vdi_table_clear(&sys.vdis);
	vdi_retired_forget();
	export_table_publish();
	ret = store_wipe(sys.store);
	if (ret)
		goto io_fail;
	if (kind >= 0 && (int)sys.store->kind != kind) {
		struct store_layout *old = sys.store, *nl = calloc(1, sizeof(*nl));

		if (!nl)
			return SD_RES_NO_MEM;
		ret = store_layout_open(nl, sys.dir, (enum store_kind)kind);
		if (ret) {
			free(nl);
			goto io_fail;
		}
		if (shard_run_on_all(set_store, nl)) {
			/* The shards keep the old layout, so it must stay. */
			store_layout_close(nl);
			free(nl);
			snprintf(err, errlen, "out of memory");
			return SD_RES_NO_MEM;
		}
		sys.store = nl;
		store_layout_close(old);
		free(old);
	}
	return SD_RES_SUCCESS;
io_fail:
	snprintf(err, errlen, "erasing %s failed: %s", sys.dir, strerror(-ret));
	log_err("%s", err);
	return SD_RES_EIO;
}

int cluster_format(uint8_t copies, uint8_t copy_policy, const char *store, uint8_t shift,
		   bool recycle_vid, bool strict, char *err, size_t errlen)
{
	struct sd_config cfg = { 0 };
	int kind = store_kind_parse(store[0] ? store : "plain");
	int ret;

	if (kind < 0) {
		snprintf(err, errlen,
			 "Targeted backend store is not found\nAvailable stores:\n"
			 "---------------------------------------\ntree plain");
		return SD_RES_NO_STORE;
	}
	if (!shift)
		shift = SD_DEFAULT_BLOCK_SHIFT;
	if (shift < SD_MIN_BLOCK_SHIFT || shift > SD_MAX_BLOCK_SHIFT) {
		snprintf(err, errlen, "block size shift must be %d to %d, not %u",
			 SD_MIN_BLOCK_SHIFT, SD_MAX_BLOCK_SHIFT, shift);
		return SD_RES_INVALID_PARMS;
	}
	/*
	 * Copies asked for must fit the zones there are; the default is kept as the original did
	 * (the effective count is capped by the zones until more nodes join).
	 */
	if (copies && !copy_policy && nr_zones() && cluster_check_copies_fit(copies, err, errlen))
		return SD_RES_INVALID_PARMS;
	if (!copies && !copy_policy)
		copies = sys.default_copies ? sys.default_copies : SD_DEFAULT_COPIES;
	if (copy_policy)
		copies = (uint8_t)(ec_data_strips(copy_policy) + ec_parity_strips(copy_policy));
	ret = vdi_check_redundancy(copies, copy_policy, err, errlen);
	if (ret && ret != SD_RES_HALT)
		return ret;

	ret = cluster_wipe_local(kind, err, errlen);
	if (ret)
		return ret;
	/* 3: the new configuration and epoch 1. */
	cfg.ctime = (uint64_t)time(NULL);
	cfg.copies = copies;
	cfg.copy_policy = copy_policy;
	cfg.block_size_shift = shift;
	snprintf(cfg.store, sizeof(cfg.store), "%s", store_kind_name((enum store_kind)kind));
	cfg.recycle_vid = recycle_vid;
	cfg.strict = strict;
	cfg.epoch = 1;
	sys.cfg = cfg;
	ret = log_new_epoch(1);
	if (!ret)
		ret = config_save(sys.dir, &sys.cfg);
	if (ret) {
		sys.cfg.ctime = 0;
		goto io_fail;
	}
	cluster_view_publish_local(); /* the data path's view: epoch 1, this node */
	log_notice("cluster formatted: %s store, %u copies, policy 0x%x, %u-bit objects", cfg.store,
		   copies, copy_policy, shift);
	return SD_RES_SUCCESS;
io_fail:
	snprintf(err, errlen, "format failed writing %s: %s", sys.dir, strerror(-ret));
	log_err("%s", err);
	return SD_RES_EIO;
}
