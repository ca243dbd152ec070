/*
 * Messages between threads. Every thread of the mesh (the shards, then the control thread) has
 * an id; there is one lock-free single-producer single-consumer ck ring for every ordered pair of
 * threads. A message is a function to run on the destination thread and its argument (SPDK's
 * shape). The sd_msg itself belongs to the sender and is usually embedded in the request it
 * concerns; it must stay valid until the function has run. Nothing is allocated per message.
 *
 * A thread that finds no work sets `sleeping` and blocks on its eventfd (the shards through their
 * io_uring ring); a sender that sees the flag writes the eventfd.
 */
#ifndef SD_MSG_H
#define SD_MSG_H

#include <stdbool.h>

#define SD_MAX_THREADS	 65 /* 64 shards and the control thread */
#define SD_MSG_RING_SIZE 1024

struct sd_msg {
	void (*fn)(void *arg);
	void *arg;
};

struct sd_thread {
	int id;
	int efd;      /* eventfd: wakes the thread while it sleeps */
	int sleeping; /* accessed with ck_pr; set while the thread may block */
};

/* Sets up the rings for nr threads. Called once, before any thread starts. */
int msg_mesh_init(int nr_threads);
void msg_mesh_destroy(void);
int msg_mesh_size(void);
struct sd_thread *sd_thread_get(int id);

/* The calling thread's id in the mesh, or -1 for threads outside it. */
extern __thread int sd_self_id;
void sd_thread_bind(int id);

/*
 * Queues msg for thread dst. Never fails: when the ring is full it runs the caller's own inbound
 * messages while it waits, so two threads sending to each other cannot deadlock.
 */
void msg_send(int dst, struct sd_msg *msg);
/*
 * For threads with a loop: wake-ups of sleeping receivers are collected and done once per
 * receiver by msg_flush_wakes(), which the loop calls every pass before it sleeps. A pass that
 * sends many messages to one thread then costs one system call, not one per message.
 */
void msg_defer_wakes(void);
void msg_flush_wakes(void);

/* Runs up to budget inbound messages of the calling thread; returns how many ran. */
int msg_poll(int budget);
/* True if any message waits for the calling thread. */
bool msg_pending(void);

/*
 * Sleep protocol: msg_sleep_begin() returns false (and stays awake) if a message arrived;
 * otherwise the caller blocks on its eventfd and then calls msg_sleep_end().
 */
bool msg_sleep_begin(void);
void msg_sleep_end(void);
/* Whether thread id sleeps now (or is about to): a message to it would cost a wake-up. */
bool msg_thread_sleeping(int id);

/*
 * For threads without an io_uring ring (the control thread): runs messages until *done becomes
 * true, spinning briefly, then sleeping on the eventfd.
 */
void msg_wait_until(const bool *done);

#endif
