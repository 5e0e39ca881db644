/* The writer thread and the stdout follower (see gateway.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "fsutil.h"
#include "gateway.h"
#include "timeutil.h"

/* A committed group waiting for the syncer. */
struct synced {
	struct job *group;
	uint64_t records;
	int64_t upto;          /* the store's last id once it is durable */
	int status;            /* 0, or the error status its jobs were answered */
	struct synced *next;
};

struct writer {
	struct store *s;
	const struct gw_opts *o;
	pthread_t th, syncer;
	pthread_mutex_t mu;
	pthread_cond_t work, committed, to_sync;
	struct job *head, **tail;
	struct synced *sync_head, **sync_tail;
	bool stop, sync_stop;
	uint64_t records, commits;
	int64_t durable_id;    /* the records up to this id are durable */
	int64_t last_retain;
	bool retain_failed;
};

static void deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void answer_error(struct job *j, int status, const char *msg)
{
	j->status = status;
	buf_reset(&j->answer);
	buf_adds(&j->answer, "{\"error\":");
	buf_add_json_str(&j->answer, msg, strlen(msg));
	buf_adds(&j->answer, "}");
}

/* one request's records, counters and key; <0 only for store errors */
static int ingest(struct writer *w, struct job *j, char *err, size_t errlen)
{
	struct store *s = w->s;
	int rc;
	j->replayed = false;
	buf_reset(&j->answer);
	if (j->key && (rc = store_idem_claim(s, j->key, j->recv, &j->status, &j->answer, err,
					     errlen)) != 0) {
		j->replayed = rc > 0;
		return rc < 0 ? rc : 0;
	}
	if ((rc = store_connected(s, j->device, j->stream, err, errlen)) < 0)
		return rc;
	if (!rc && !j->auto_connect) {
		char m[600];
		snprintf(m, sizeof m, "stream '%s' of device '%s' is not connected", j->stream,
			 j->device);
		answer_error(j, 404, m);
		/* nothing stored: the key is not spent, a retry once connected stores */
		return j->key ? store_idem_drop(s, j->key, err, errlen) : 0;
	}
	if (!rc && (rc = store_connect(s, j->device, j->stream, true, err, errlen)) < 0)
		return rc;
	const struct body_result *b = j->body;
	for (uint32_t i = 0; i < b->nrec; i++)
		if ((rc = store_insert(s, j->device, j->stream, b->rec[i].ts, j->recv,
				       b->recs.data + b->rec[i].off, b->rec[i].len, err, errlen)) < 0)
			return rc;
	if (b->nrec && (rc = store_count(s, j->device, j->stream, b->nrec, b->recs.len, b->min_ts,
					 b->max_ts, err, errlen)) < 0)
		return rc;
	/* 200: all stored; 207: some refused, the rest stored; 400: none stored */
	j->status = !b->nrefused ? 200 : b->nrec ? 207 : 400;
	buf_reset(&j->answer);
	buf_addf(&j->answer, "{\"stored\":%u,\"refused\":[", b->nrec);
	buf_add(&j->answer, b->refused.data, b->refused.len);
	buf_adds(&j->answer, "]}");
	if (j->key && (rc = store_idem_put(s, j->key, j->status, j->answer.data, j->recv, err,
					   errlen)) < 0)
		return rc;
	return 0;
}

static int connect_job(struct writer *w, struct job *j, char *err, size_t errlen)
{
	int rc = store_connect(w->s, j->device, j->stream, j->kind == JOB_CONNECT, err, errlen);
	if (rc < 0)
		return rc;
	if (j->kind == JOB_DISCONNECT && rc == 0) {
		char m[600];
		snprintf(m, sizeof m, "stream '%s' of device '%s' is not connected", j->stream,
			 j->device);
		answer_error(j, 404, m);
		return 0;
	}
	j->status = 200;
	buf_reset(&j->answer);
	buf_adds(&j->answer, "{\"device\":");
	buf_add_json_str(&j->answer, j->device, strlen(j->device));
	buf_adds(&j->answer, ",\"stream\":");
	buf_add_json_str(&j->answer, j->stream, strlen(j->stream));
	buf_addf(&j->answer, ",\"connected\":%s}", j->kind == JOB_CONNECT ? "true" : "false");
	return 0;
}

/* the group in one transaction: 0 and the records stored, or <0 with err */
static int group_once(struct writer *w, struct job *group, uint64_t *n, char *err,
		      size_t errlen)
{
	*n = 0;
	int rc = store_begin(w->s, err, errlen);
	for (struct job *j = group; j && rc == 0; j = j->next) {
		rc = j->kind == JOB_INGEST ? ingest(w, j, err, errlen)
					   : connect_job(w, j, err, errlen);
		if (j->kind == JOB_INGEST && !j->replayed && j->status < 300)
			*n += j->body->nrec;
	}
	if (rc == 0)
		return store_commit(w->s, err, errlen);
	store_rollback(w->s);
	return rc;
}

static void fail_group(struct job *group, int rc, const char *err)
{
	diag_warn("%s", err);
	for (struct job *j = group; j; j = j->next)
		answer_error(j, rc == STORE_FULL ? 507 : 503, err);
}

/* one group: one transaction, run again (a few times) when the database
 * undid it for a conflict with another gateway; then to the syncer, while
 * this thread goes on with the next group */
static void run_group(struct writer *w, struct job *group)
{
	char err[512] = "";
	uint64_t n = 0;
	int rc;
	for (int tries = 0; (rc = group_once(w, group, &n, err, sizeof err)) == STORE_RETRY &&
			    tries < 5; tries++)
		diag_debug("%s; again", err);
	struct synced *c = xcalloc(1, sizeof *c);
	c->group = group;
	c->records = n;
	c->upto = store_inserted_id(w->s);
	if (rc < 0) {
		fail_group(group, rc, err);
		c->records = 0;
		c->status = rc;
	}
	pthread_mutex_lock(&w->mu);
	*w->sync_tail = c;
	w->sync_tail = &c->next;
	pthread_cond_signal(&w->to_sync);
	pthread_mutex_unlock(&w->mu);
}

/* The syncer: one store_sync makes every group committed before it
 * durable; then their jobs are answered. */
static void *syncer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->sync_head && !w->sync_stop)
			pthread_cond_wait(&w->to_sync, &w->mu);
		if (!w->sync_head)
			break;
		struct synced *list = w->sync_head;
		w->sync_head = NULL;
		w->sync_tail = &w->sync_head;
		pthread_mutex_unlock(&w->mu);
		char err[512];
		int rc = store_sync(w->s, err, sizeof err);
		pthread_mutex_lock(&w->mu);
		for (struct synced *c = list; c; c = c->next) {
			if (rc < 0 && !c->status)
				fail_group(c->group, rc, err);
			else
				w->records += c->records;
			if (rc == 0 && c->upto > w->durable_id)
				w->durable_id = c->upto;
			w->commits++;
		}
		pthread_cond_broadcast(&w->committed);
		pthread_mutex_unlock(&w->mu);
		for (struct synced *c = list, *cn; c; c = cn) {
			cn = c->next;
			for (struct job *j = c->group, *next; j; j = next) {
				next = j->next;
				j->done(j);
			}
			free(c);
		}
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* retention steps while nothing waits, at most once a second */
static void retain(struct writer *w)
{
	const struct gw_opts *o = w->o;
	int64_t now = time_now_ms();
	if (now - w->last_retain < 1000)
		return;
	w->last_retain = now;
	uint64_t deleted;
	char err[512];
	do {
		if (store_retain(w->s, o->retain_ms ? now - o->retain_ms : INT64_MIN, o->retain_size,
				 now - o->idem_window_ms, &deleted, err, sizeof err) < 0) {
			if (!w->retain_failed)
				diag_warn("retention: %s", err);
			w->retain_failed = true;
			return;
		}
		w->retain_failed = false;
	} while (deleted && !w->head && !w->stop);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop) {
			pthread_mutex_unlock(&w->mu);
			retain(w);
			pthread_mutex_lock(&w->mu);
			if (w->head || w->stop)
				break;
			struct timespec ts;
			deadline(&ts, 1000);
			pthread_cond_timedwait(&w->work, &w->mu, &ts);
		}
		if (!w->head && w->stop)
			break;
		struct job *group = w->head;
		w->head = NULL;
		w->tail = &w->head;
		pthread_mutex_unlock(&w->mu);
		run_group(w, group);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct writer *writer_start(struct store *s, const struct gw_opts *o)
{
	struct writer *w = xcalloc(1, sizeof *w);
	w->s = s;
	w->o = o;
	w->tail = &w->head;
	w->sync_tail = &w->sync_head;
	w->durable_id = store_inserted_id(s);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->committed, NULL);
	pthread_cond_init(&w->to_sync, NULL);
	if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
		free(w);
		return NULL;
	}
	if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
		pthread_mutex_lock(&w->mu);
		w->sync_stop = true;
		pthread_cond_signal(&w->to_sync);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->syncer, NULL);
		free(w);
		return NULL;
	}
	return w;
}

void writer_submit(struct writer *w, struct job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->mu);
	*w->tail = j;
	w->tail = &j->next;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	/* the groups committed last are synced and answered */
	pthread_mutex_lock(&w->mu);
	w->sync_stop = true;
	pthread_cond_signal(&w->to_sync);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->syncer, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->committed);
	pthread_cond_destroy(&w->to_sync);
	free(w);
}

uint64_t writer_records(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->records;
	pthread_mutex_unlock(&w->mu);
	return n;
}

uint64_t writer_commits(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->commits;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int64_t writer_durable_id(struct writer *w)
{
	pthread_mutex_lock(&w->mu);
	int64_t id = w->durable_id;
	pthread_mutex_unlock(&w->mu);
	return id;
}

void writer_wait_commit(struct writer *w, uint64_t seen, int64_t timeout_ms)
{
	struct timespec ts;
	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&w->mu);
	while (w->commits == seen && !w->stop)
		if (pthread_cond_timedwait(&w->committed, &w->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->mu);
}

struct follower {
	struct store_reader *r;
	struct writer *w;
	pthread_t th;
	_Atomic int64_t id;
	_Atomic bool stop;
	bool unbuffered;
	int result;
};

/* writes the records after f->id: how many, or -1 when stdout failed */
static int follow_batch(struct follower *f, struct buf *b)
{
	char err[512];
	int64_t id = f->id, rid, upto = writer_durable_id(f->w);
	const char *body;
	size_t len;
	int n = 0, rc;
	/* a record committed but not yet durable waits until it is */
	if (store_follow(f->r, id, upto, 1000, err, sizeof err) < 0) {
		diag_warn("stdout: %s", err);
		return 0;
	}
	buf_reset(b);
	while ((rc = store_next(f->r, &rid, &body, &len, err, sizeof err)) == 1 ||
	       rc == STORE_DAMAGED) {
		if (rc == STORE_DAMAGED) {
			/* unreadable, for ever: said once, and output goes on */
			diag_warn("stdout: %s; skipped the records up to id %lld", err,
				  (long long)rid);
			id = rid;
			continue;
		}
		buf_add(b, body, len);
		buf_addc(b, '\n');
		id = rid;
		n++;
		if (f->unbuffered || b->len >= 65536) {
			if (fs_write_all(1, b->data, b->len) < 0)
				return -1;
			buf_reset(b);
		}
	}
	if (rc < 0)
		diag_warn("stdout: %s", err);
	if (b->len && fs_write_all(1, b->data, b->len) < 0)
		return -1;
	f->id = id;
	return n;
}

static void *follower_main(void *arg)
{
	struct follower *f = arg;
	struct buf b = BUF_INIT;
	buf_init(&b);
	for (;;) {
		uint64_t seen = writer_commits(f->w);
		int n = follow_batch(f, &b);
		if (n < 0) {
			/* a reader that went away ends stdout, not the gateway */
			if (errno != EPIPE) {
				diag_error("cannot write to stdout: %s", strerror(errno));
				f->result = -1;
			}
			break;
		}
		if (n == 0 && f->stop)
			break;
		if (n == 0)
			writer_wait_commit(f->w, seen, 500);
	}
	buf_free(&b);
	return NULL;
}

struct follower *follower_start(struct store *s, struct writer *w, int64_t from, bool unbuffered,
				char *err, size_t errlen)
{
	struct follower *f = xcalloc(1, sizeof *f);
	f->r = store_reader_open(s, err, errlen);
	if (!f->r) {
		free(f);
		return NULL;
	}
	f->w = w;
	f->unbuffered = unbuffered;
	f->id = from >= 0 ? from : store_last_id(f->r);
	if (pthread_create(&f->th, NULL, follower_main, f) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		store_reader_close(f->r);
		free(f);
		return NULL;
	}
	return f;
}

int follower_stop(struct follower *f)
{
	f->stop = true;
	pthread_join(f->th, NULL);
	int rc = f->result;
	store_reader_close(f->r);
	free(f);
	return rc;
}

int64_t follower_id(struct follower *f) { return f->id; }
