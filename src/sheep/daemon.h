/* Daemonizing with a status pipe: the parent exits only once the daemon is serving, or failed. */
#ifndef SD_DAEMON_H
#define SD_DAEMON_H

/* Forks. Returns in the child (the daemon); the parent waits for daemon_report and exits. */
int daemon_begin(void);
/* In the daemon: tells the parent to exit 0 (msg NULL) or print msg and exit 1. */
void daemon_report(const char *msg);

#endif
