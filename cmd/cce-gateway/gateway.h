/*
 * gateway: the parts of cce-gateway and what they share.
 *
 * writer: the one thread that writes the store. Requests are jobs handed to
 * writer_submit; the writer takes every job that arrived while it was busy
 * and runs them in one transaction (group commit), then hands the group to
 * the syncer thread and goes on with the next group while the disk syncs:
 * the syncer makes every group committed meanwhile durable with one
 * store_sync (one fsync) and only then calls each job's done callback, so
 * an answer is never sent before its records are durable. A failed commit
 * or sync fails every job of the group with 507 (disk full) or 503 (a
 * failed commit stores nothing of it). Between groups the
 * writer applies retention in bounded steps, so ingest never waits for a
 * whole retention pass.
 *
 * follower: writes every stored record to stdout in arrival order, once it
 * is durable, by reading the store, not a queue: a slow reader makes stdout lag behind
 * the store (blocked in write) while ingest goes on, and memory stays one
 * batch of rows. A record that retention deletes before the follower
 * reaches it is not written.
 *
 * filter: libjq behind one worker thread (lib/jqx.c, under
 * cce-rule's time and memory budget, is for one thread); callers from any
 * thread are served one at a time.
 *
 * nodes: --registry, the tokens cce-register issued to edge nodes; a
 * token for NODE may use the devices NODE and NODE:anything.
 *
 * server: the HTTP interface on libmicrohttpd.
 */
#ifndef CCE_GATEWAY_H
#define CCE_GATEWAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "body.h"
#include "buf.h"
#include "store.h"

struct gw_opts {
	const char *listen[16];
	int nlisten;
	const char *store_dir;
	const char *token_file;
	const char *registry, *registry_secret;   /* --registry: the file store */
	const char *cert, *key, *cacert;   /* TLS, client certificates */
	uint64_t max_body;
	unsigned max_conn;
	int64_t idle_timeout_ms, request_timeout_ms;
	double rate;                   /* records/s per token, 0: none */
	bool auto_connect;
	int64_t retain_ms;             /* 0: keep */
	uint64_t retain_size;          /* 0: no limit */
	int64_t idem_window_ms;
	int64_t eval_timeout_ms;
	uint64_t eval_memory;
	int64_t stdout_from;           /* -1: records stored from now on */
	bool unbuffered;
};

enum job_kind { JOB_INGEST, JOB_CONNECT, JOB_DISCONNECT };

struct job {
	enum job_kind kind;
	const char *device, *stream, *key;   /* key may be NULL */
	const struct body_result *body;
	int64_t recv;
	bool auto_connect;
	/* the outcome, set before done is called */
	int status;
	bool replayed;                       /* answered from the idempotency key */
	struct buf answer;
	void (*done)(struct job *j);
	void *arg;
	struct job *next;
};

struct writer;
struct writer *writer_start(struct store *s, const struct gw_opts *o);
void writer_submit(struct writer *w, struct job *j);
/* runs what is queued, stops the thread (the store stays open) */
void writer_stop(struct writer *w);
uint64_t writer_records(struct writer *w);     /* stored since start */
/* the follower waits on this for new records */
void writer_wait_commit(struct writer *w, uint64_t seen, int64_t timeout_ms);
uint64_t writer_commits(struct writer *w);     /* groups synced */
int64_t writer_durable_id(struct writer *w);   /* records up to it are durable */

struct follower;
/* 0 or -1 with err */
struct follower *follower_start(struct store *s, struct writer *w, int64_t from, bool unbuffered,
				char *err, size_t errlen);
/* writes what is stored, then stops; 0, or -1 when stdout failed */
int follower_stop(struct follower *f);
int64_t follower_id(struct follower *f);

struct jqx;
/* evaluations abandoned past their budget before filters are refused */
#define FILTER_MAX_BURIED 1000
int filter_start(int64_t budget_ms, uint64_t mem_budget);
void filter_stop(void);
struct jqx *filter_compile(const char *src, char *err, size_t errlen);
void filter_free(struct jqx *x);
/* Appends to out each of the n records (texts at recs + off[i], len[i])
 * that x selects ('\n' after each). 0, or -1 with err when the expression
 * ran past its budget (it is then dead). */
int filter_run(struct jqx *x, const char *recs, const size_t *off, const size_t *len, size_t n,
	       struct buf *out, char *err, size_t errlen);

struct nodes;
/* STORE: file:PATH or PATH; SECRET: the cluster secret. NULL with err. */
struct nodes *nodes_open(const char *store, const char *secret, char *err, size_t errlen);
void nodes_close(struct nodes *ns);
/* 0 when token is valid, unexpired and not revoked for the node of device
 * (its name up to a ':'); else -1 with why. Any thread. */
int nodes_check(struct nodes *ns, const char *device, const char *token, int64_t now,
		const char **why);

struct server;
struct sockaddr_storage;
/* ADDR:PORT, [V6]:PORT or :PORT: 0, or -1 with err */
int server_parse_listen(const char *spec, struct sockaddr_storage *sa, char *err, size_t errlen);
struct server *server_start(const struct gw_opts *o, struct store *s, struct writer *w,
			    struct follower *f, char *err, size_t errlen);
/* stops accepting, lets requests in flight finish (waits at most
 * grace_ms), stops */
void server_stop(struct server *sv, int64_t grace_ms);
/* the /status record, for SIGUSR1 too */
void server_status(struct server *sv, struct buf *out);

#endif
