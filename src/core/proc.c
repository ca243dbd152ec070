/* Process states from /proc/PID/status (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether a hexadecimal signal mask line ("SigPnd:\t0000000000000100") has SIGKILL. */
static int has_sigkill(const char *mask)
{
	unsigned long long m = strtoull(mask, NULL, 16);

	return (m >> (SIGKILL - 1)) & 1;
}

enum proc_state proc_state(pid_t pid)
{
	char path[40], line[256];
	enum proc_state st = PROC_RUNNING;
	FILE *f;

	if (pid <= 0)
		return PROC_GONE;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f) /* gone, or no /proc: the signal probe still tells gone from present */
		return kill(pid, 0) == 0 || errno == EPERM ? PROC_RUNNING : PROC_GONE;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6)) {
			const char *s = line + 6 + strspn(line + 6, " \t");

			if (*s == 'Z' || *s == 'X')
				st = PROC_DYING;
		} else if (!strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7)) {
			if (has_sigkill(line + 7))
				st = PROC_DYING;
		}
	}
	fclose(f);
	return st;
}
