/*
 * writer: a second thread creates and writes the received files,
 * so that decompressing and hashing the stream (the main thread) overlap
 * with the kernel's work of allocating, copying and writing them back,
 * the larger part. (Two writers were measured on 2 cores: no faster.)
 * Nothing changes for safety: every file is still hashed (from the very
 * buffer that is written) and checked before the switch, and the stream
 * is done only once the writer has finished and reported no error.
 */
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

bool writer_failed(struct writer *w)
{
	return __atomic_load_n(&w->failed, __ATOMIC_ACQUIRE);
}

/* The next free slot, waiting for the writer when all are taken. The slot
 * is the caller's until writer_put. */
struct wslot *writer_slot(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->head - w->tail == SLOTS)
		pthread_cond_wait(&w->room, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return &w->slot[w->head % SLOTS];
}

void writer_put(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->head++;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
}

/* the first failure only: later slots are consumed and ignored */
static void writer_error(struct writer *w, const char *what, const char *name, int err)
{
	if (writer_failed(w))
		return;
	snprintf(w->why, sizeof w->why, "cannot %s '%s' in staging: %s", what, name, strerror(err));
	__atomic_store_n(&w->failed, 1, __ATOMIC_RELEASE);
}

static void writer_do(struct writer *w, struct wslot *s)
{
	struct unpack *u = w->u;
	if (s->op == W_STOP)
		return;
	const char *name = u->m.e[s->idx].path;
	switch (s->op) {
	case W_OPEN:
		w->fd = -1;
		if (writer_failed(w))
			break;
		if (u->fs[s->idx].kind == F_FULL) {
			const char *leaf;
			int pfd = parent_open(&w->par, u->treefd, name, &leaf);
			w->fd = pfd < 0 ? -1 : openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		} else {
			char tail[32];
			snprintf(tail, sizeof tail, "%zu", s->idx);
			w->fd = openat(u->tailfd, tail, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		}
		if (w->fd < 0)
			writer_error(w, "create", name, errno);
		break;
	case W_DATA:
		if (w->fd >= 0 && !writer_failed(w) && fs_write_all(w->fd, s->data, s->len) < 0)
			writer_error(w, "write", name, errno);
		break;
	case W_CLOSE:
		if (w->fd < 0)
			break;
		/* start writeback now, so that the syncfs before the switch waits less */
		if (s->ok && !writer_failed(w))
			sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		if (close(w->fd) < 0)
			writer_error(w, "write", name, errno);
		w->fd = -1;
		break;
	case W_STOP:
		break;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->tail == w->head)
			pthread_cond_wait(&w->more, &w->lock);
		pthread_mutex_unlock(&w->lock);
		struct wslot *s = &w->slot[w->tail % SLOTS];
		writer_do(w, s);
		bool stop = s->op == W_STOP;
		pthread_mutex_lock(&w->lock);
		w->tail++;
		pthread_cond_signal(&w->room);
		pthread_mutex_unlock(&w->lock);
		if (stop)
			return NULL;
	}
}

int writer_start(struct unpack *u)
{
	struct writer *w = &u->w;
	w->u = u;
	w->fd = -1;
	w->par.fd = -1;
	buf_init(&w->par.dir);
	for (size_t i = 0; i < SLOTS; i++)
		w->slot[i].data = xmalloc(SLOT_BYTES);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->more, NULL);
	pthread_cond_init(&w->room, NULL);
	/* signals go to the main thread, whose blocking read they must
	 * interrupt */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	w->running = e == 0;
	if (e)
		return fail(u, CCE_EX_FAIL, "cannot start a thread: %s", strerror(e));
	return 0;
}

/* Waits for everything queued; -1 when the writer failed. */
int writer_stop(struct unpack *u)
{
	struct writer *w = &u->w;
	if (w->running) {
		struct wslot *s = writer_slot(w);
		s->op = W_STOP;
		writer_put(w);
		pthread_join(w->thread, NULL);
		w->running = false;
	}
	if (w->u) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->more);
		pthread_cond_destroy(&w->room);
		for (size_t i = 0; i < SLOTS; i++)
			free(w->slot[i].data);
		parent_free(&w->par, u->treefd);
		w->u = NULL;
	}
	return writer_failed(w) ? -1 : 0;
}
