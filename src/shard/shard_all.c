/* Running a function on every shard and waiting for all of them: for rare control operations. */
#include <stdlib.h>

#include "shard.h"
#include "shard_all.h"

struct on_shard {
	struct sd_msg msg, reply;
	void (*fn)(void *arg);
	void *arg;
	int origin;
	int *pending;
	bool *done;
};

static void reply_fn(void *arg)
{
	struct on_shard *o = arg;

	if (--*o->pending == 0)
		*o->done = true;
}

static void run_fn(void *arg)
{
	struct on_shard *o = arg;

	o->fn(o->arg);
	o->reply.fn = reply_fn;
	o->reply.arg = o;
	msg_send(o->origin, &o->reply);
}

int shard_run_on_all(void (*fn)(void *arg), void *arg)
{
	int n = shard_count(), pending = n;
	bool done = n == 0;
	struct on_shard *o = calloc((size_t)n, sizeof(*o));

	if (!o)
		return -1;
	for (int i = 0; i < n; i++) {
		o[i] = (struct on_shard){ .fn = fn,
					  .arg = arg,
					  .origin = sd_self_id,
					  .pending = &pending,
					  .done = &done };
		o[i].msg.fn = run_fn;
		o[i].msg.arg = &o[i];
		msg_send(i, &o[i].msg);
	}
	msg_wait_until(&done);
	free(o);
	return 0;
}
