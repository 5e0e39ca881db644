/*
 * engine: rules applied to a stream of records, with state per rule and key.
 *
 * Promises: records are taken in arrival order; time is event time (the
 * --time field, else arrival time) and never runs backwards for a key. The
 * watermark is the latest event time seen; windows close and deadmen fire
 * when it passes their end plus the allowed lateness. Alerts (and with
 * pass, the records) are written to the engine's output in a deterministic
 * order: rules in definition order, keys by their first appearance for
 * scans. A run-time error in one rule never stops the others; a rule whose
 * expression outruns its time or memory budget is disabled, and so is one
 * whose regular expressions run past their limits max_overruns times. A
 * rule keeps state for at most its max_keys keys: past it, and when a
 * restored state holds more, the longest idle keys are forgotten (counted,
 * warned once per rule). engine_save writes the whole
 * state crash-safely; engine_restore takes it back, dropping the state of
 * rules whose definition changed.
 */
#ifndef CCE_RULE_ENGINE_H
#define CCE_RULE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "jsonl.h"
#include "out.h"
#include "rule.h"

struct engine_opts {
	bool pass;
	bool anomaly_score;         /* with pass: records carry their anomaly score */
	bool emit_pending;
	int64_t lateness;
	const char *time_src;       /* jq path of the event time */
	int64_t eval_timeout;
	uint64_t eval_memory;       /* bytes */
	unsigned max_overruns;      /* regular expressions past their limits */
	struct out *out;
	struct jsonl_reader *in;    /* for rejecting records */
};

struct engine;

/* Takes the rules (rs is emptied); NULL with err when --time is bad. */
struct engine *engine_new(struct ruleset *rs, const struct engine_opts *o, char *err, size_t errlen);
void engine_free(struct engine *e);
void engine_set_input(struct engine *e, struct jsonl_reader *in);

/* One validated record. 0, or JSONL_FATAL when a rejection ends the run. */
int engine_record(struct engine *e, const struct jsonl_line *line, struct json_doc *doc);
/* Input is idle: advance event time by the wall time passed since the
 * last record, closing windows and firing deadmen that are due. */
void engine_idle(struct engine *e);
/* Replace the rules, keeping the state of rules whose definition is the
 * same (rs is emptied). */
void engine_reload(struct engine *e, struct ruleset *rs);
/* Status records, one line per rule, appended to out. */
void engine_status(struct engine *e, struct buf *out);
int engine_save(struct engine *e, const char *path, char *err, size_t errlen);
/* 0 (also when path does not exist), -1 with err when it is unreadable or
 * not a state file. */
int engine_restore(struct engine *e, const char *path, char *err, size_t errlen);
uint64_t engine_late(const struct engine *e);

#endif
