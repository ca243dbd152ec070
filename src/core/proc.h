/*
 * What other processes are doing, from /proc: start-up uses it to tell a sheep that is still
 * running from one that was just killed and whose resources (a directory lock, listeners held by
 * its io_uring rings) the kernel is about to release.
 */
#ifndef SD_PROC_H
#define SD_PROC_H

#include <sys/types.h>

enum proc_state {
	PROC_RUNNING, /* alive, and no SIGKILL pending */
	PROC_DYING,   /* SIGKILL pending, exiting, or a zombie waiting to be reaped */
	PROC_GONE,    /* no such process */
};

enum proc_state proc_state(pid_t pid);

#endif
