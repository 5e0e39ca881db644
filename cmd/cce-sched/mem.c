/* mem: the sched's big arrays, on huge pages (see sched.h) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sched.h"

/* A streaming run touches tens of MiB once (a task, a replica and a name
 * per line), and faulting them in 4 KiB at a time was a fifth of its
 * time. Arrays of BIG bytes or more are mappings of their own, aligned
 * to HUGE and asking for huge pages (a hint: where it is refused they
 * are plain pages); smaller ones stay with malloc. Which is which follows
 * from the size alone, so sched_release needs nothing else. */
#define HUGE ((size_t)2 << 20)
#define BIG HUGE

static size_t mapped_size(size_t n)
{
	return (n + HUGE - 1) & ~(HUGE - 1);
}

static void *map_huge(size_t n)
{
	size_t len = n + HUGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		xalloc_fail();
	char *a = (char *)(((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + n < p + len)
		munmap(a + n, (size_t)(p + len - (a + n)));
	(void)madvise(a, n, MADV_HUGEPAGE);
	return a;
}

void *sched_grow(void *p, int *cap, size_t elem, int first)
{
	size_t old = (size_t)*cap * elem;
	*cap = *cap ? *cap * 2 : first;
	size_t n = (size_t)*cap * elem;
	if (n < BIG)
		return xrealloc(p, n);
	/* (doubling: what is copied is at most what is kept) */
	void *q = map_huge(mapped_size(n));
	if (old)
		memcpy(q, p, old);
	sched_release(p, old);
	return q;
}

void sched_release(void *p, size_t n)
{
	if (n < BIG)
		free(p);
	else
		munmap(p, mapped_size(n));
}
