/* Progress bar rendering. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "../../core/size.h"

#define BAR_WIDTH 40

void progress_start(struct progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->last_permille = -1;
	p->enabled = isatty(2) && total > 0;
	progress_update(p, 0);
}

void progress_update(struct progress *p, uint64_t done)
{
	char bar[BAR_WIDTH + 1], a[32], b[32];
	int permille, fill;

	if (!p->enabled)
		return;
	permille = (int)(done * 1000 / p->total);
	if (permille == p->last_permille)
		return;
	p->last_permille = permille;
	fill = permille * BAR_WIDTH / 1000;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	bar[BAR_WIDTH] = '\0';
	size_format(done, a, sizeof(a));
	size_format(p->total, b, sizeof(b));
	fprintf(stderr, "\r%s [%s] %5.1f%% %s / %s ", p->label, bar, permille / 10.0, a, b);
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (!p->enabled)
		return;
	p->last_permille = -1;
	progress_update(p, p->total);
	fputc('\n', stderr);
}
