/* The cluster API (sdcluster.h) handed to the driver chosen at start: Raft or ZooKeeper. */
#include "sdcluster.h"

#include "../../core/result.h"
#include "sdc_common.h"

static const struct sdc_driver *drv = &sdc_raft_driver;

int sdcluster_start(const struct sdcluster_opts *o, struct evloop *loop, char *err, size_t errlen)
{
	drv = o->zk_hosts ? &sdc_zk_driver : &sdc_raft_driver;
	return drv->start(o, loop, err, errlen);
}

void sdcluster_stop(void)
{
	drv->stop();
}

bool sdcluster_writable(void)
{
	return !sdc.fenced;
}

bool sdcluster_waiting(void)
{
	return sdc.waiting;
}

int sdcluster_force_recover(char *msg, size_t len)
{
	return drv->force_recover(msg, len);
}

void sdcluster_propose(Sdcl__Command *cmd, sdc_done_fn done, void *arg)
{
	drv->propose(cmd, done, arg);
}

void sdcluster_sync(void (*done)(void *arg, bool caught_up), void *arg)
{
	drv->sync(done, arg);
}

void sdcluster_on_join(const uint8_t *member, size_t len, sdc_done_fn done, void *arg)
{
	drv->on_join(member, len, done, arg);
}

void sdcluster_on_propose(const uint8_t *cmd, size_t len, sdc_done_fn done, void *arg)
{
	drv->on_propose(cmd, len, done, arg);
}

void sdcluster_on_heartbeat(uint64_t raft_id, struct sdc_outcome *out)
{
	drv->on_heartbeat(raft_id, out);
}

const char *sdcluster_role(void)
{
	return drv->role();
}
