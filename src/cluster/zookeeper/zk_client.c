/*
 * ZooKeeper's client threads handed over to the control thread (zk_client.h): completions and
 * watch events become items on a locked queue, an eventfd wakes the control thread's loop, and
 * the loop runs each item's callback there.
 */
#include "zk_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "../../core/log.h"

/* One pending call, or one event; owned by the queue once the library has called back. */
struct zk_item {
	struct zk_item *next;
	bool is_event;
	int type, state; /* event */
	char evpath[ZK_PATH_MAX];
	zk_done_fn done; /* call */
	void *arg;
	struct zk_result r;
	/* a multi's own copies, valid until its completion */
	zoo_op_t ops[ZK_MULTI_MAX];
	zoo_op_result_t results[ZK_MULTI_MAX];
	char paths[ZK_MULTI_MAX][ZK_PATH_MAX];
	char made[ZK_MULTI_MAX][ZK_PATH_MAX];
	void *datas[ZK_MULTI_MAX];
	int nr_ops;
};

static zhandle_t *zh;
static struct evloop *loop;
static struct evloop_fd *wake_h;
static int wake_fd = -1;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zk_item *q_head, **q_tail = &q_head;
static char hosts_copy[1024];
static int want_timeout;
static zk_event_fn event_fn;
static void *event_arg;
static bool connected;

/* Library threads */

static void enqueue(struct zk_item *it)
{
	uint64_t one = 1;

	it->next = NULL;
	pthread_mutex_lock(&q_lock);
	*q_tail = it;
	q_tail = &it->next;
	pthread_mutex_unlock(&q_lock);
	if (write(wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort(); /* an eventfd write cannot otherwise fail */
}

static void on_watch(zhandle_t *h, int type, int state, const char *path, void *ctx)
{
	struct zk_item *it = calloc(1, sizeof(*it));

	(void)h;
	(void)ctx;
	if (!it)
		return; /* lost: the driver re-reads on its tick */
	it->is_event = true;
	it->type = type;
	it->state = state;
	snprintf(it->evpath, sizeof(it->evpath), "%s", path ? path : "");
	enqueue(it);
}

static void stat_into(struct zk_result *r, const struct Stat *st)
{
	if (st) {
		r->version = st->version;
		r->ephemeral_owner = st->ephemeralOwner;
		r->czxid = st->czxid;
	}
}

static void on_string(int rc, const char *value, const void *data)
{
	struct zk_item *it = (struct zk_item *)data;

	it->r.rc = rc;
	if (rc == ZOK && value)
		snprintf(it->r.path, sizeof(it->r.path), "%s", value);
	enqueue(it);
}

static void on_data(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
	struct zk_item *it = (struct zk_item *)data;

	it->r.rc = rc;
	if (rc == ZOK) {
		stat_into(&it->r, st);
		if (value && len > 0 && (it->r.data = malloc((size_t)len + 1))) {
			memcpy(it->r.data, value, (size_t)len);
			it->r.data[len] = 0;
			it->r.len = len;
		} else if (value && len > 0) {
			it->r.rc = ZSYSTEMERROR; /* no memory for the copy */
		}
	}
	enqueue(it);
}

static void on_stat(int rc, const struct Stat *st, const void *data)
{
	struct zk_item *it = (struct zk_item *)data;

	it->r.rc = rc;
	if (rc == ZOK)
		stat_into(&it->r, st);
	enqueue(it);
}

static void on_void(int rc, const void *data)
{
	struct zk_item *it = (struct zk_item *)data;

	it->r.rc = rc;
	for (int i = 0; rc == ZOK && i < it->nr_ops; i++) {
		if (it->ops[i].type == ZOO_CREATE_OP) {
			snprintf(it->r.path, sizeof(it->r.path), "%s", it->made[i]);
			break;
		}
	}
	enqueue(it);
}

static void on_strings(int rc, const struct String_vector *sv, const void *data)
{
	struct zk_item *it = (struct zk_item *)data;

	it->r.rc = rc;
	if (rc == ZOK && sv && sv->count > 0) {
		it->r.names = calloc((size_t)sv->count, sizeof(char *));
		for (int i = 0; it->r.names && i < sv->count; i++) {
			if (!(it->r.names[i] = strdup(sv->data[i]))) {
				it->r.rc = ZSYSTEMERROR;
				break;
			}
			it->r.nr_names++;
		}
		if (!it->r.names)
			it->r.rc = ZSYSTEMERROR;
	}
	enqueue(it);
}

/* Control thread */

static void item_free(struct zk_item *it)
{
	free(it->r.data);
	for (int i = 0; i < it->r.nr_names; i++)
		free(it->r.names[i]);
	free(it->r.names);
	for (int i = 0; i < it->nr_ops; i++)
		free(it->datas[i]);
	free(it);
}

static void drain(void *arg, uint32_t events)
{
	uint64_t n;
	struct zk_item *list;

	(void)arg;
	(void)events;
	if (read(wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("zookeeper: cannot read the wake-up descriptor: %s", strerror(errno));
	pthread_mutex_lock(&q_lock);
	list = q_head;
	q_head = NULL;
	q_tail = &q_head;
	pthread_mutex_unlock(&q_lock);
	while (list) {
		struct zk_item *it = list;

		list = it->next;
		if (it->is_event) {
			if (it->type == ZOO_SESSION_EVENT)
				connected = it->state == ZOO_CONNECTED_STATE;
			if (event_fn)
				event_fn(event_arg, it->type, it->state, it->evpath);
		} else {
			it->done(it->arg, &it->r);
		}
		item_free(it);
	}
}

/* A call's item, or NULL with *err set: no session (-ENOTCONN) or no memory. */
static struct zk_item *item_new(zk_done_fn done, void *arg, int *err)
{
	struct zk_item *it;

	if (!zh) {
		*err = -ENOTCONN;
		return NULL;
	}
	if (!(it = calloc(1, sizeof(*it)))) {
		*err = -ENOMEM;
		return NULL;
	}
	it->done = done;
	it->arg = arg;
	return it;
}

/* The library's return for a call it did not queue; the item is ours again. */
static int queued(struct zk_item *it, int rc)
{
	if (rc == ZOK)
		return 0;
	item_free(it);
	return rc == ZBADARGUMENTS ? -EINVAL : rc == ZSYSTEMERROR ? -ENOMEM : -ENOTCONN;
}

int zk_create(const char *path, const void *data, size_t len, int flags, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_acreate(zh, path, data, (int)len, &ZOO_OPEN_ACL_UNSAFE, flags,
				      on_string, it));
}

int zk_get(const char *path, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_aget(zh, path, 0, on_data, it));
}

int zk_set(const char *path, const void *data, size_t len, int32_t version, zk_done_fn done,
	   void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_aset(zh, path, data, (int)len, version, on_stat, it));
}

int zk_delete(const char *path, int32_t version, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_adelete(zh, path, version, on_void, it));
}

int zk_exists(const char *path, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_aexists(zh, path, 0, on_stat, it));
}

int zk_children(const char *path, bool watch, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_aget_children(zh, path, watch, on_strings, it));
}

int zk_sync(const char *path, zk_done_fn done, void *arg)
{
	int err;
	struct zk_item *it = item_new(done, arg, &err);

	if (!it)
		return err;
	return queued(it, zoo_async(zh, path, on_string, it));
}

int zk_multi(const struct zk_op *ops, int nr, zk_done_fn done, void *arg)
{
	struct zk_item *it;
	int err;

	if (nr < 1 || nr > ZK_MULTI_MAX)
		return -EINVAL;
	if (!(it = item_new(done, arg, &err)))
		return err;
	for (int i = 0; i < nr; i++) {
		snprintf(it->paths[i], ZK_PATH_MAX, "%s", ops[i].path);
		it->nr_ops = i + 1;
		if (ops[i].kind == ZK_OP_DELETE) {
			zoo_delete_op_init(&it->ops[i], it->paths[i], ops[i].version);
			continue;
		}
		if (ops[i].len && !(it->datas[i] = malloc(ops[i].len))) {
			item_free(it);
			return -ENOMEM;
		}
		if (ops[i].len)
			memcpy(it->datas[i], ops[i].data, ops[i].len);
		zoo_create_op_init(&it->ops[i], it->paths[i], it->datas[i], (int)ops[i].len,
				   &ZOO_OPEN_ACL_UNSAFE, ops[i].flags, it->made[i], ZK_PATH_MAX);
	}
	return queued(it, zoo_amulti(zh, nr, it->ops, it->results, on_void, it));
}

/* Session */

bool zk_client_connected(void)
{
	return zh && connected;
}

int64_t zk_client_session(void)
{
	const clientid_t *id = zh ? zoo_client_id(zh) : NULL;

	return id ? id->client_id : 0;
}

int zk_client_timeout_ms(void)
{
	int t = zh ? zoo_recv_timeout(zh) : 0;

	return t > 0 ? t : want_timeout;
}

const char *zk_client_error(int rc)
{
	return zerror(rc);
}

static int session_open(void)
{
	connected = false;
	zh = zookeeper_init(hosts_copy, on_watch, want_timeout, NULL, NULL, 0);
	return zh ? 0 : -(errno ? errno : EINVAL);
}

int zk_client_open(struct evloop *lp, const char *hosts, int timeout_ms, zk_event_fn fn, void *arg)
{
	int ret;

	loop = lp;
	event_fn = fn;
	event_arg = arg;
	want_timeout = timeout_ms;
	if (snprintf(hosts_copy, sizeof(hosts_copy), "%s", hosts) >= (int)sizeof(hosts_copy))
		return -ENAMETOOLONG;
	/* The library logs to stderr; sheep's log says what matters. */
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
		return -errno;
	ret = evloop_fd_add(loop, wake_fd, EPOLLIN, drain, NULL, &wake_h);
	if (ret)
		return ret;
	return session_open();
}

static void session_close(void)
{
	if (zh) {
		zookeeper_close(zh); /* pending completions are called (ZCLOSING) and queued */
		zh = NULL;
	}
	connected = false;
	drain(NULL, 0);
}

void zk_client_close(void)
{
	session_close();
	if (wake_h)
		evloop_fd_del(loop, wake_h);
	wake_h = NULL;
	if (wake_fd >= 0)
		close(wake_fd);
	wake_fd = -1;
}

int zk_client_reopen(void)
{
	session_close();
	return session_open();
}
