/*
 * The batching behind `apply` and the single-op subcommands: ops are
 * decided and made durable by the store a batch at a time, and only then
 * are their events printed (an event printed is an op acknowledged).
 */
#include "apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "timeutil.h"

#define BATCH_MAX 8192

void applier_item_free(struct item *it)
{
	op_free(&it->op);
	free(it->source);
	free(it->raw);
	memset(it, 0, sizeof *it);
}

/* An op the store refused: from an input line, it goes the way of any
 * rejected line (SOURCE:LINE on stderr, the rejects file, --strict) */
static void reject_op(struct applier *a, const struct item *it, bool from_input)
{
	a->rejected++;
	if (!from_input || !it->raw) {
		diag_error("%s: %s", it->op.name, it->why);
		return;
	}
	struct jsonl_line l = { .data = it->raw, .len = it->raw_len, .raw = it->raw,
				.raw_len = it->raw_len, .source = it->source, .lineno = it->lineno };
	if (jsonl_reject(a->t->in, &l, "%s: %s", it->op.name, it->why) == JSONL_FATAL &&
	    !a->stopped)
		a->stopped = tool_fatal(a->t->in);
}

/* Commits the pending items and prints their events (after they are
 * durable: an event printed is an op acknowledged). */
int applier_commit(struct applier *a, bool from_input)
{
	if (!a->nitems || a->status)
		return a->status;
	char err[512];
	int r = store_commit(a->store, a->items, a->nitems, a->verify, a->verify_arg, err,
			     sizeof err);
	if (r) {
		diag_error("%s", err);
		a->status = r;
		for (size_t i = 0; i < a->nitems; i++)
			applier_item_free(&a->items[i]);
		a->nitems = 0;
		return r;
	}
	int64_t now = time_now_ms();
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < a->nitems; i++) {
		struct item *it = &a->items[i];
		if (it->ev == EV_HEARTBEAT && from_input && !a->verbose) {
			applier_item_free(it);
			continue;
		}
		buf_reset(&b);
		const char *name = it->op.name[0] ? it->op.name : NULL;
		event_json(&b, ev_name(it->ev), name, name ? strlen(name) : 0, now,
			   it->ev == EV_REJECTED ? it->why : NULL);
		out_line(&a->t->out, b.data, b.len);
		if (it->ev == EV_REJECTED && !it->decided)
			reject_op(a, it, from_input);
		applier_item_free(it);
	}
	buf_free(&b);
	a->nitems = 0;
	return 0;
}

static void before_block(void *arg)
{
	struct applier *a = arg;
	applier_commit(a, true);
	out_flush(&a->t->out);
}

int applier_run(struct applier *a, char **files, int nfiles)
{
	struct jsonl_opts o = tool_jsonl_opts(a->t, true);
	o.before_block = before_block;
	o.arg = a;
	a->t->in = jsonl_open(files, nfiles, &o);
	a->items = xcalloc(BATCH_MAX, sizeof *a->items);
	struct json_doc doc;
	json_doc_init(&doc);
	struct jsonl_line line;
	int st = JSONL_EOF;
	while (!sig_stop && !out_done(&a->t->out) && !a->status && !a->stopped) {
		st = tool_next(a->t, &line, &doc, -1);
		if (st != JSONL_LINE)
			break;
		struct item *it = &a->items[a->nitems++];
		if (op_parse(&doc, line.len, &it->op, it->why, sizeof it->why) < 0) {
			/* the event still names the node when it can */
			int v = json_get(&doc, 0, "node");
			if (v >= 0 && json_type_of(&doc, v) == JSON_STRING &&
			    name_valid(doc.text + doc.tok[v].start, doc.tok[v].len) &&
			    !doc.tok[v].escaped) {
				memcpy(it->op.name, doc.text + doc.tok[v].start, doc.tok[v].len);
				it->op.name[doc.tok[v].len] = 0;
			}
			it->ev = EV_REJECTED;
			it->decided = true;
			if (jsonl_reject(a->t->in, &line, "%s", it->why) == JSONL_FATAL) {
				a->stopped = tool_fatal(a->t->in);
				break;
			}
		} else {
			it->source = xstrdup(line.source);
			it->lineno = line.lineno;
			it->raw = xstrndup(line.raw, line.raw_len);
			it->raw_len = line.raw_len;
		}
		/* --strict commits op by op, so that nothing after a rejected op
		 * is applied */
		if (a->nitems == BATCH_MAX || a->t->common.strict)
			applier_commit(a, true);
	}
	applier_commit(a, true);
	/* what a failed commit left unacknowledged */
	for (size_t i = 0; i < a->nitems; i++)
		applier_item_free(&a->items[i]);
	a->nitems = 0;
	json_doc_free(&doc);
	free(a->items);
	if (a->status)
		return a->status;
	if (a->stopped)
		return a->stopped;
	if (st == JSONL_FATAL)
		return jsonl_fatal_exit(a->t->in);
	if (sig_stop)
		return sig_exit_code();
	return a->rejected ? CCE_EX_DATAERR : 0;
}

