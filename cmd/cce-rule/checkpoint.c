/*
 * checkpoint: the engine's state in a file, and back.
 *
 * The file is one JSON document: {"format":"cce-rule-state","version":1,
 * "watermark":..,"rules":[..]}, a rule by its name and sig (the SHA-256 of
 * its definition) with its counters, its limit, when it is next due, its
 * keys in order of first appearance (each [key, state, since, last_ts,
 * last_true, last_emit, last_seen] and, when it has extras, [wstart, wlast,
 * head, em, ev, seen, cap, [ts..], n, [v..], peak]) and "lru", the keys by
 * recency. How many ts and v a key's extras hold is its kind's to say.
 * Restoring takes back the rules whose name and sig are the same, and
 * reads what it does not understand as "nothing": a damaged or foreign
 * key starts again rather than failing the run.
 */
#include "kind.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "timeutil.h"

#define STATE_MAGIC "cce-rule-state"

void kext_save_entries(const struct rule *r, const struct kext *x, uint32_t *nts, size_t *nv)
{
	*nts = x->n;
	*nv = (size_t)x->n * (size_t)r->nargs;
}

bool kext_restore_entries(const struct rule *r, struct kext *x, uint32_t cap, uint32_t nts,
			  uint32_t nv)
{
	x->cap = nts > 0 ? nts : 0;
	if (nts != x->n || (r->nargs && nv != x->n * (uint32_t)r->nargs))
		x->n = x->cap = 0;
	return true;
}

static void save_key(const struct rule *r, const struct kstate *k, struct buf *b)
{
	buf_addf(b, "\n[%s,%d,%lld,%lld,%lld,%lld,%lld", k->key, k->st, (long long)k->since,
		 (long long)k->last_ts, (long long)k->last_true, (long long)k->last_emit,
		 (long long)k->last_seen);
	const struct kext *x = k->x;
	if (x) {
		buf_addf(b, ",[%lld,%lld,%u,", (long long)x->wstart, (long long)x->wlast, x->head);
		buf_add_double(b, x->em);
		buf_addc(b, ',');
		buf_add_double(b, x->ev);
		buf_addf(b, ",%llu,%u,[", (unsigned long long)x->seen, x->cap);
		uint32_t m;
		size_t nv;
		kind_of(r)->save(r, x, &m, &nv);
		for (uint32_t q = 0; q < m && x->ts; q++) {
			if (q)
				buf_addc(b, ',');
			buf_add_i64(b, x->ts[q]);
		}
		buf_addf(b, "],%u,[", x->n);
		for (size_t q = 0; q < nv && x->v; q++) {
			if (q)
				buf_addc(b, ',');
			buf_add_double(b, x->v[q]);
		}
		buf_adds(b, "],");
		buf_add_double(b, x->peak);
		buf_addc(b, ']');
	}
	buf_addc(b, ']');
}

static void save_rule(const struct rule *r, struct buf *b)
{
	struct rule_rt *rt = r->rt;
	int64_t due = kmap_first_due(&rt->keys);
	buf_adds(b, "\n{\"name\":");
	buf_add_json_str(b, r->name, strlen(r->name));
	buf_addf(b, ",\"sig\":\"%s\",\"stats\":[%llu,%llu,%llu,%llu,%llu,%llu,%llu,%lld,%d,%llu],"
		    "\"limit\":[%lld,%u,%llu],\"due\":%lld,\"keys\":[",
		 r->sig, (unsigned long long)rt->evaluated, (unsigned long long)rt->matched,
		 (unsigned long long)rt->fired, (unsigned long long)rt->resolved,
		 (unsigned long long)rt->suppressed, (unsigned long long)rt->errors,
		 (unsigned long long)rt->late, (long long)rt->last_fired, rt->fired_once,
		 (unsigned long long)rt->evicted,
		 (long long)rt->lim_start, rt->lim_count, (unsigned long long)rt->lim_supp,
		 (long long)(due == INT64_MAX ? -1 : due));
	uint32_t n;
	struct kstate **ks = keys_sorted(&rt->keys, &n);
	for (uint32_t j = 0; j < n; j++) {
		ks[j]->save_at = j;
		if (j)
			buf_addc(b, ',');
		save_key(r, ks[j], b);
	}
	free(ks);
	/* the keys from the longest idle to the last seen */
	buf_adds(b, "],\"lru\":[");
	for (struct kstate *k = rt->keys.oldest; k; k = k->newer)
		buf_addf(b, k == rt->keys.oldest ? "%u" : ",%u", k->save_at);
	buf_adds(b, "]}");
}

int engine_save(struct engine *e, const char *path, char *err, size_t errlen)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"format\":\"" STATE_MAGIC "\",\"version\":1,\"watermark\":");
	if (e->have_wm)
		buf_add_i64(&b, e->watermark);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\"rules\":[");
	for (int i = 0; i < e->rs.n; i++) {
		if (i)
			buf_addc(&b, ',');
		save_rule(e->rs.r[i], &b);
	}
	buf_adds(&b, "]}\n");
	int r = fs_replace(path, b.data, b.len, 0600, err, errlen);
	buf_free(&b);
	return r;
}

static bool tok_i64(struct json_doc *d, int t, int64_t *v)
{
	double x;
	/* a number out of int64's range (or NaN) in a damaged file would make
	 * the conversion undefined: refused, as a missing one is */
	if (t < 0 || !json_num(d, t, &x) || !(x >= -9.2e18 && x <= 9.2e18))
		return false;
	*v = (int64_t)x;
	return true;
}

static int64_t at_i64(struct json_doc *d, int arr, uint32_t i)
{
	int64_t v = 0;
	tok_i64(d, json_index(d, arr, i), &v);
	return v;
}

static double at_double(struct json_doc *d, int arr, uint32_t i)
{
	double v = NAN;
	int t = json_index(d, arr, i);
	if (t >= 0)
		json_num(d, t, &v);
	return v;
}

/* The extras of a key, from [wstart, wlast, head, em, ev, seen, cap, [ts..], n, [v..],
 * peak]. */
static void restore_ext(struct rule *r, struct kstate *k, struct json_doc *d, int xt)
{
	struct kext *x = kstate_ext(k);
	x->wstart = at_i64(d, xt, 0);
	x->wlast = at_i64(d, xt, 1);
	x->head = (uint32_t)at_i64(d, xt, 2);
	x->em = at_double(d, xt, 3);
	x->ev = at_double(d, xt, 4);
	x->seen = (uint64_t)at_i64(d, xt, 5);
	uint32_t cap = (uint32_t)at_i64(d, xt, 6);
	int ts = json_index(d, xt, 7), vs = json_index(d, xt, 9);
	x->n = (uint32_t)at_i64(d, xt, 8);
	uint32_t nts = ts >= 0 ? d->tok[ts].count : 0;
	uint32_t nvs = vs >= 0 ? d->tok[vs].count : 0;
	double peak = at_double(d, xt, 10);
	x->peak = peak >= 0 && peak <= 1 ? peak : 0;
	if (!kind_of(r)->restore(r, x, cap, nts, nvs))
		return;
	/* a kind without times (predict) has cap but no ts */
	if (x->cap && nts) {
		x->ts = xmalloc(x->cap * sizeof *x->ts);
		for (uint32_t i = 0; i < x->cap && i < nts; i++)
			x->ts[i] = at_i64(d, ts, i);
	}
	/* values without times: context and seasonal anomaly state, and
	 * predict's (which has a cap) */
	if (nvs && (x->cap || !nts)) {
		x->v = xmalloc(nvs * sizeof *x->v);
		for (uint32_t i = 0; i < nvs; i++)
			x->v[i] = at_double(d, vs, i);
	}
}

static void restore_rule(struct rule *r, struct json_doc *d, int o)
{
	struct rule_rt *rt = r->rt;
	int st = json_get(d, o, "stats"), li = json_get(d, o, "limit");
	int keys = json_get(d, o, "keys"), due = json_get(d, o, "due");
	if (st < 0 || li < 0 || keys < 0 || json_type_of(d, keys) != JSON_ARRAY)
		return;
	rt->evaluated = (uint64_t)at_i64(d, st, 0);
	rt->matched = (uint64_t)at_i64(d, st, 1);
	rt->fired = (uint64_t)at_i64(d, st, 2);
	rt->resolved = (uint64_t)at_i64(d, st, 3);
	rt->suppressed = (uint64_t)at_i64(d, st, 4);
	rt->errors = (uint64_t)at_i64(d, st, 5);
	rt->late = (uint64_t)at_i64(d, st, 6);
	rt->last_fired = at_i64(d, st, 7);
	rt->fired_once = at_i64(d, st, 8) != 0;
	rt->evicted = (uint64_t)at_i64(d, st, 9);
	rt->lim_start = at_i64(d, li, 0);
	rt->lim_count = (uint32_t)at_i64(d, li, 1);
	rt->lim_supp = (uint64_t)at_i64(d, li, 2);
	/* the rule's first due time: each key is queued for it, and the scan
	 * at that time finds when each is really due */
	int64_t dv = -1;
	tok_i64(d, due, &dv);
	/* the keys by their place in the file, for the lru order */
	uint32_t nkeys = d->tok[keys].count, at = 0;
	struct kstate **by_at = xcalloc(nkeys + 1, sizeof *by_at);
	for (int kt = json_first(d, keys); kt >= 0; kt = json_next_elem(d, keys, kt), at++) {
		int kk = json_index(d, kt, 0);
		if (kk < 0)
			continue;
		size_t n;
		const char *raw = json_raw(d, kk, &n);
		struct kstate *k = kmap_get(&rt->keys, raw, n, true);
		by_at[at] = k;
		k->st = (uint8_t)at_i64(d, kt, 1);
		k->since = at_i64(d, kt, 2);
		k->last_ts = at_i64(d, kt, 3);
		k->last_true = at_i64(d, kt, 4);
		k->last_emit = at_i64(d, kt, 5);
		k->last_seen = at_i64(d, kt, 6);
		int xt = json_index(d, kt, 7);
		if (xt >= 0)
			restore_ext(r, k, d, xt);
		if (dv >= 0 && kind_of(r)->idle)
			kmap_due(&rt->keys, k, dv);
	}
	/* files without "lru" keep the keys' order of first appearance */
	int lru = json_get(d, o, "lru");
	if (lru >= 0 && json_type_of(d, lru) == JSON_ARRAY)
		for (int t = json_first(d, lru); t >= 0; t = json_next_elem(d, lru, t)) {
			int64_t i;
			if (tok_i64(d, t, &i) && i >= 0 && i < nkeys && by_at[i])
				kmap_touch(&rt->keys, by_at[i]);
		}
	free(by_at);
	rule_evict(r, "the state holds more than");
}

int engine_restore(struct engine *e, const char *path, char *err, size_t errlen)
{
	struct buf text;
	buf_init(&text);
	if (fs_read_file(path, (size_t)1 << 31, &text, err, errlen) < 0) {
		buf_free(&text);
		return errno == ENOENT ? 0 : -1;
	}
	struct json_doc d;
	json_doc_init(&d);
	struct json_error je;
	int rc = -1;
	if (json_parse(&d, text.data, text.len, &je) < 0) {
		snprintf(err, errlen, "'%s' is not a state file: invalid JSON at byte %zu: %s", path,
			 je.offset + 1, je.msg);
		goto out;
	}
	int f = json_type_of(&d, 0) == JSON_OBJECT ? json_get(&d, 0, "format") : -1;
	int rules = f >= 0 ? json_get(&d, 0, "rules") : -1;
	if (f < 0 || !json_str_eq(&d, f, STATE_MAGIC) || rules < 0 ||
	    json_type_of(&d, rules) != JSON_ARRAY) {
		snprintf(err, errlen, "'%s' is not a cce-rule state file", path);
		goto out;
	}
	int64_t wm;
	if (tok_i64(&d, json_get(&d, 0, "watermark"), &wm)) {
		e->watermark = wm;
		e->have_wm = true;
		e->wall_at_wm = time_now_ms();
	}
	for (int o = json_first(&d, rules); o >= 0; o = json_next_elem(&d, rules, o)) {
		int nm = json_get(&d, o, "name"), sg = json_get(&d, o, "sig");
		if (nm < 0 || sg < 0)
			continue;
		for (int i = 0; i < e->rs.n; i++) {
			struct rule *r = e->rs.r[i];
			if (json_str_eq(&d, nm, r->name) && json_str_eq(&d, sg, r->sig))
				restore_rule(r, &d, o);
		}
	}
	rc = 0;
out:
	json_doc_free(&d);
	buf_free(&text);
	return rc;
}
