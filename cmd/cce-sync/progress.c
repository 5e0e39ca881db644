/* --progress: files, bytes and rate on stderr when it is a terminal */
#include "sync.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

void progress_init(struct progress *p, bool want)
{
	memset(p, 0, sizeof *p);
	p->on = want && isatty(2);
	p->start = p->last = time_mono_ms();
}

void progress_tick(struct progress *p, uint64_t files, uint64_t bytes)
{
	p->files += files;
	p->bytes += bytes;
	if (!p->on)
		return;
	int64_t now = time_mono_ms();
	if (now - p->last < 250)
		return;
	p->last = now;
	double s = (double)(now - p->start) / 1000.0;
	fprintf(stderr, "\r%ju files, %.1f MiB, %.1f MiB/s   ", (uintmax_t)p->files,
		(double)p->bytes / 1048576.0, s > 0 ? (double)p->bytes / 1048576.0 / s : 0.0);
}

void progress_end(struct progress *p)
{
	if (!p->on)
		return;
	p->last = 0;
	progress_tick(p, 0, 0);
	fputc('\n', stderr);
}
