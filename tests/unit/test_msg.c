/* Message rings across real threads: delivery, per-sender order, wake-ups, a full ring. */
#include <ck_pr.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <unistd.h>

#include "shard/msg.h"

#define PER_SENDER 200000
#define NR_THREADS 3 /* two senders (0, 1), one receiver (2) */

struct item {
	struct sd_msg msg;
	int sender;
	int seq;
};

static int last_seq[2];
static long received;
static bool all_done;
static int order_errors;

static void on_item(void *arg)
{
	struct item *it = arg;

	if (it->seq != last_seq[it->sender] + 1)
		order_errors++;
	last_seq[it->sender] = it->seq;
	if (++received == 2L * PER_SENDER)
		all_done = true;
}

static void *sender(void *arg)
{
	int id = (int)(long)arg;
	struct item *items = calloc(PER_SENDER, sizeof(*items));

	sd_thread_bind(id);
	for (int i = 0; i < PER_SENDER; i++) {
		items[i].msg.fn = on_item;
		items[i].msg.arg = &items[i];
		items[i].sender = id;
		items[i].seq = i + 1;
		msg_send(2, &items[i].msg);
		if (i % 50000 == 0)
			usleep(2000); /* let the receiver fall asleep now and then */
	}
	/* items must outlive delivery: wait until the receiver has them all */
	while (!ck_pr_load_8((uint8_t *)&all_done))
		usleep(1000);
	free(items);
	return NULL;
}

static void *receiver(void *arg)
{
	(void)arg;
	sd_thread_bind(2);
	msg_wait_until(&all_done);
	return NULL;
}

Test(msg, two_senders_one_receiver_in_order, .timeout = 60)
{
	pthread_t t[3];

	cr_assert_eq(msg_mesh_init(NR_THREADS), 0);
	pthread_create(&t[2], NULL, receiver, NULL);
	pthread_create(&t[0], NULL, sender, (void *)0L);
	pthread_create(&t[1], NULL, sender, (void *)1L);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(received, 2L * PER_SENDER);
	cr_assert_eq(order_errors, 0, "messages from one sender arrived out of order");
	cr_assert_eq(last_seq[0], PER_SENDER);
	cr_assert_eq(last_seq[1], PER_SENDER);
	msg_mesh_destroy();
}

/* Ping-pong where both sides flood each other: a full ring must not deadlock. */
static int pongs;
static bool pong_done[2];

struct pp {
	struct sd_msg msg;
};

static void on_ping(void *arg)
{
	(void)arg;
	/* Both threads count here at once: a plain ++ loses counts and the test never ends. */
	if (__atomic_add_fetch(&pongs, 1, __ATOMIC_ACQ_REL) == 2 * 5000) {
		__atomic_store_n(&pong_done[0], true, __ATOMIC_RELEASE);
		__atomic_store_n(&pong_done[1], true, __ATOMIC_RELEASE);
	}
}

static void *flooder(void *arg)
{
	int id = (int)(long)arg;
	struct pp *m = calloc(5000, sizeof(*m));

	sd_thread_bind(id);
	for (int i = 0; i < 5000; i++) {
		m[i].msg.fn = on_ping;
		msg_send(1 - id, &m[i].msg);
	}
	/* Every message has been handled once the count is complete, so m may go. */
	msg_wait_until(&pong_done[id]);
	free(m);
	return NULL;
}

Test(msg, mutual_flood_beyond_ring_size, .timeout = 60)
{
	pthread_t t[2];

	cr_assert_eq(msg_mesh_init(2), 0);
	pthread_create(&t[0], NULL, flooder, (void *)0L);
	pthread_create(&t[1], NULL, flooder, (void *)1L);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	msg_mesh_destroy();
}

Test(msg, mesh_size_is_bounded)
{
	cr_assert_neq(msg_mesh_init(0), 0);
	cr_assert_neq(msg_mesh_init(SD_MAX_THREADS + 1), 0);
}
