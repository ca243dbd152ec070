/* Fork, setsid and the start-up status pipe. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_fd = -1;

int daemon_begin(void)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char buf[1024];
		ssize_t n, got = 0;

		close(p[1]);
		while ((n = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		buf[got] = '\0';
		if (got > 0 && buf[0] == '0')
			_exit(0);
		if (got > 1)
			fprintf(stderr, "%s\n", buf + 1);
		else
			fprintf(stderr, "sheep died during start-up; see sheep.log in its data "
					"directory\n");
		_exit(1);
	}
	close(p[0]);
	status_fd = p[1];
	if (setsid() < 0)
		return -errno;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	return 0;
}

void daemon_report(const char *msg)
{
	char buf[1024];
	int n;

	if (status_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%c%s", msg ? '1' : '0', msg ? msg : "");
	if (write(status_fd, buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1)) < 0)
		(void)0;
	close(status_fd);
	status_fd = -1;
}
