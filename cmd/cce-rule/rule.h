/*
 * rule: rule definitions, from JSON to compiled form.
 *
 * Promises: rules_load reads every rules file (a JSON array of rule
 * objects, or JSON lines of them), checks every field (unknown fields,
 * wrong types, bad durations, duplicate names) and compiles every jq
 * expression once. It reports every broken rule, one line each naming the
 * file, the rule and what is wrong (jq's own compile message for
 * expressions), and fails as a whole: a rule set is never half loaded.
 * rule_describe gives the compiled rule as one JSON line with defaults
 * filled in; its SHA-256 (rule->sig) identifies a definition, so that a
 * reload or a restart keeps the state of rules that did not change
 * (max_keys is not part of it: the state is cut to size instead).
 */
#ifndef CCE_RULE_RULE_H
#define CCE_RULE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fast.h"
#include "jqx.h"

struct expr {
	char *src;           /* NULL: not given */
	struct jqx *jq;
	struct fexpr *fe;    /* conditions in the fast subset */
	struct fpath *fp;    /* bare paths */
};

/*
 * The kinds of rule, one row each: window, count, absent, anomaly and
 * predict fields make a rule of their kind (they cannot be combined), and a rule
 * with none of them is a threshold rule. Adding a kind is its file
 * cmd/cce-rule/NAME.c (the operations of kind.h) plus its row here; rule.c
 * parses its fields and sets rule->kind.
 */
#define RULE_KINDS(X) \
	X(THRESHOLD, threshold) \
	X(COUNT, count) \
	X(WINDOW, window) \
	X(ANOMALY, anomaly) \
	X(DEADMAN, deadman) \
	X(PREDICT, predict)

enum rule_kind {
#define X(up, low) RK_##up,
	RULE_KINDS(X)
#undef X
	RK_NKINDS
};

enum win_kind { W_NONE, W_SLIDING, W_SESSION, W_COUNT };
enum agg_fn { A_COUNT, A_SUM, A_AVG, A_MIN, A_MAX, A_STDDEV, A_FIRST, A_LAST,
	      A_P50, A_P90, A_P95, A_P99, A_RATE };
enum anomaly_method { AN_NONE, AN_ZSCORE, AN_EWMA, AN_MAD, AN_CONTEXT, AN_SEASONAL, AN_ENTROPY };

struct agg {
	char *name;
	char *src;           /* "avg(.temp)" as written */
	enum agg_fn fn;
	int arg;             /* index into rule->args, -1 for count */
};

struct rule_rt;          /* engine's run-time part */

/* A predict rule's fields (cmd/cce-rule/predict.c says what they mean). */
enum predict_method { PM_NONE, PM_LINEAR, PM_HOLT_WINTERS };
enum {
	PREDICT_BUCKETS = 32,      /* linear: a window is kept as this many sums */
	PREDICT_MAX_STEPS = 2016,  /* holt_winters: steps per season (a week of 5m) */
	PREDICT_MAX_AHEAD = 10000, /* holt_winters: steps in a horizon */
};
struct predict_spec {
	enum predict_method method;
	struct expr value;
	int64_t window, horizon;       /* linear's window */
	int64_t season, step;          /* holt_winters' */
	double alpha, beta, gamma;     /* holt_winters' smoothing */
	char op[3];                    /* when_forecast: > >= < <= */
	double threshold;
};

struct rule {
	char *name;
	char *file;
	enum rule_kind kind;
	struct expr match, key, when, value, clear, message;
	int64_t for_ms, keep_ms, repeat_ms, absent_ms;
	uint32_t count_n;
	int64_t count_within;
	enum win_kind win;
	int64_t win_size, win_slide, win_gap;
	uint32_t win_count;
	struct agg *aggs;
	int naggs;
	struct expr *args;   /* distinct aggregate arguments */
	int nargs;
	uint32_t limit_max;
	int64_t limit_per;
	uint32_t max_keys;   /* the rule's own, or the default rules_load got */
	enum anomaly_method an;
	struct expr an_value;
	int64_t an_window;
	uint32_t an_n, an_warmup;
	double an_threshold, an_alpha;
	char *severity;      /* JSON text, or NULL */
	char *labels;        /* JSON text of an object */
	char *desc;          /* rule_describe's line */
	char sig[65];
	struct rule_rt *rt;
	struct predict_spec pr;
};

struct ruleset {
	struct rule **r;
	int n;
};

/* 0, or -1 after reporting every problem through diag. max_keys: the
 * default of rules without their own. */
int rules_load(char *const *files, int nfiles, uint32_t max_keys, struct ruleset *rs);
void ruleset_free(struct ruleset *rs);
void rule_free(struct rule *r);

void expr_free(struct expr *e);
/* compile src (fast forms when possible); -1 with err filled */
int expr_compile(struct expr *e, const char *src, bool cond, char *err, size_t errlen);

void fmt_duration(int64_t ms, struct buf *out);

#endif
