#include "fast.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fpath {
	int n;
	char **key;
	size_t *klen;
	int slot;       /* in the per-record cache: paths with equal keys share it */
};

/*
 * Per-record cache: rules tend to read the same few fields (ten rules keyed
 * by .device look it up once), and numbers are converted once. Only the
 * document named by fast_begin is cached, so the same paths used on other
 * documents (window aggregates) stay correct.
 */
static double number(const struct json_doc *d, int t);

struct slot {
	uint32_t gen;
	int tok;
	bool have_num, have_hash;
	uint64_t hash;
	double num;
};
static struct { char *k; size_t n; char *field; size_t flen; int next; } *reg;
/* top-level fields by length and first byte: chains through reg[].next */
static int bucket[256];
static bool bucket_ready;

static unsigned bucket_of(const char *name, size_t len)
{
	return (unsigned)(len * 31u + (len ? (unsigned char)name[0] : 0u)) & 255u;
}
static int nreg;
static struct slot *cache;
static uint32_t cache_gen;
static const struct json_doc *cache_doc;

void fast_begin(const struct json_doc *d)
{
	cache_doc = d;
	if (++cache_gen == 0) {
		for (int i = 0; i < nreg; i++)
			cache[i].gen = 0;
		cache_gen = 1;
	}
	if (!bucket_ready) {
		memset(bucket, -1, sizeof bucket);
		for (int i = 0; i < nreg; i++)
			if (reg[i].field) {
				unsigned b = bucket_of(reg[i].field, reg[i].flen);
				reg[i].next = bucket[b];
				bucket[b] = i;
			}
		bucket_ready = true;
	}
	/* one pass over the record's members finds every top-level field
	 * the rules read (json_getn would scan them all once per field, to
	 * let the last of repeated keys win, as jq does) */
	if (json_type_of(d, 0) != JSON_OBJECT)
		return;
	for (int k = json_first(d, 0); k >= 0; k = json_next_member(d, 0, k)) {
		const struct json_tok *kt = &d->tok[k];
		if (kt->escaped) {
			/* leave it all to json_getn, which decodes keys */
			for (int i = 0; i < nreg; i++)
				cache[i].gen = 0;
			return;
		}
		const char *name = d->text + kt->start;
		for (int i = bucket[bucket_of(name, kt->len)]; i >= 0; i = reg[i].next)
			if (reg[i].flen == kt->len && memcmp(reg[i].field, name, kt->len) == 0) {
				cache[i].gen = cache_gen;
				cache[i].tok = k + 1;
				cache[i].have_num = cache[i].have_hash = false;
			}
	}
	for (int i = 0; i < nreg; i++)
		if (reg[i].field && cache[i].gen != cache_gen) {
			cache[i].gen = cache_gen;
			cache[i].tok = -2;
			cache[i].have_num = cache[i].have_hash = false;
		}
}

void fast_end(void) { cache_doc = NULL; }

void fast_shutdown(void)
{
	for (int i = 0; i < nreg; i++)
		free(reg[i].k);
	free(reg);
	free(cache);
	reg = NULL;
	cache = NULL;
	nreg = 0;
	bucket_ready = false;
}

static void path_slot(struct fpath *p)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < p->n; i++) {
		buf_add_u64(&b, p->klen[i]);
		buf_addc(&b, ':');
		buf_add(&b, p->key[i], p->klen[i]);
	}
	for (int i = 0; i < nreg; i++)
		if (reg[i].n == b.len && memcmp(reg[i].k, b.data, b.len) == 0) {
			p->slot = i;
			buf_free(&b);
			return;
		}
	reg = xrealloc(reg, (size_t)(nreg + 1) * sizeof *reg);
	cache = xrealloc(cache, (size_t)(nreg + 1) * sizeof *cache);
	memset(&cache[nreg], 0, sizeof *cache);
	bucket_ready = false;
	reg[nreg].n = b.len;
	reg[nreg].k = buf_detach(&b, NULL);
	reg[nreg].field = p->n == 1 ? reg[nreg].k + (strchr(reg[nreg].k, ':') - reg[nreg].k) + 1 : NULL;
	reg[nreg].flen = p->n == 1 ? p->klen[0] : 0;
	p->slot = nreg++;
}

/* The number at token t, as strtod would read it: Clinger's exact case
 * (at most 15 significant digits, a power of ten that is exact) without
 * strtod's cost, strtod otherwise. */
double fast_number(const struct json_doc *d, int t)
{
	return number(d, t);
}

static double number(const struct json_doc *d, int t)
{
	static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
				      1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
				      1e20, 1e21, 1e22 };
	const char *s = d->text + d->tok[t].start, *e = s + d->tok[t].len;
	bool neg = *s == '-';
	if (neg)
		s++;
	uint64_t m = 0;
	int digits = 0, frac = 0;
	bool dot = false;
	for (; s < e; s++) {
		if (*s == '.') {
			dot = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			goto slow; /* an exponent */
		if (m || *s != '0')
			digits++;
		m = m * 10 + (uint64_t)(*s - '0');
		if (dot)
			frac++;
		if (digits > 15 || frac > 22)
			goto slow;
	}
	double v = (double)m / p10[frac];
	return neg ? -v : v;
slow:;
	double r;
	json_num(d, t, &r);
	return r;
}

enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { N_OR, N_AND, N_CMP, N_TRUTHY };

struct operand {
	struct fpath *path;  /* NULL: a literal */
	int type;            /* enum json_type of the literal */
	double num;
	char *str;
	size_t len;
};

struct fexpr {
	int kind;
	int op;
	struct fexpr *l, *r;        /* N_OR, N_AND */
	struct operand a, b;        /* N_CMP (a op b), N_TRUTHY (a) */
};

struct lex {
	const char *p;
	bool bad;
};

static void ws(struct lex *x)
{
	/* jq 1.6's lexer takes only these three as white space */
	while (*x->p == ' ' || *x->p == '\t' || *x->p == '\n')
		x->p++;
}

static bool word(struct lex *x, const char *w)
{
	ws(x);
	size_t n = strlen(w);
	if (strncmp(x->p, w, n) == 0 && !isalnum((unsigned char)x->p[n]) && x->p[n] != '_') {
		x->p += n;
		return true;
	}
	return false;
}

void fpath_free(struct fpath *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		free(p->key[i]);
	free(p->key);
	free(p->klen);
	free(p);
}

/* A JSON string literal at s: its end (after the quote), decoded into out,
 * or NULL when it is not plain JSON (jq interpolation, bad escapes). */
static const char *string_lit(const char *s, struct buf *out)
{
	const char *e = s + 1;
	while (*e && *e != '"') {
		if (*e == '\\') {
			if (e[1] == '(' || !e[1])
				return NULL;
			e++;
		}
		e++;
	}
	if (*e != '"')
		return NULL;
	e++;
	if (!json_valid(s, (size_t)(e - s), NULL))
		return NULL;
	json_unescape(s + 1, (size_t)(e - s - 2), out);
	return e;
}

static void path_add(struct fpath *p, const char *k, size_t n)
{
	p->key = xrealloc(p->key, (size_t)(p->n + 1) * sizeof *p->key);
	p->klen = xrealloc(p->klen, (size_t)(p->n + 1) * sizeof *p->klen);
	p->key[p->n] = xstrndup(k, n);
	p->klen[p->n] = n;
	p->n++;
}

/* jq's keywords: kept out of the subset, whatever jq makes of ".if" */
static bool keyword(const char *s, size_t n)
{
	static const char *const kw[] = { "as", "def", "module", "import", "include", "if",
					  "then", "elif", "else", "end", "and", "or", "not",
					  "reduce", "foreach", "try", "catch", "label", "__loc__",
					  NULL };
	for (int i = 0; kw[i]; i++)
		if (strlen(kw[i]) == n && memcmp(kw[i], s, n) == 0)
			return true;
	return false;
}

/* jq 1.6's lexer reads ".e5" as a number (its literals allow "." with no
 * digits before an exponent), so such names are no field for it */
static bool exponent(const char *s, size_t n)
{
	if (n < 2 || (s[0] != 'e' && s[0] != 'E'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static struct fpath *path_parse(struct lex *x)
{
	ws(x);
	if (*x->p != '.')
		return NULL;
	struct fpath *p = xcalloc(1, sizeof *p);
	struct buf b;
	buf_init(&b);
	/* jq 1.6: .a .a.b ."a" .a."b" .["a"] .a["b"], but not .a.["b"] */
	for (bool first = true;; first = false) {
		const char *s;
		bool bracket;
		buf_reset(&b);
		if (*x->p == '.' && x->p[1] == '[' && first) {
			s = x->p + 1;
			bracket = true;
		} else if (*x->p == '[' && !first) {
			s = x->p;
			bracket = true;
		} else if (*x->p == '.' && x->p[1] != '[') {
			s = x->p + 1;
			bracket = false;
		} else {
			break;
		}
		if (bracket) {
			if (s[1] != '"')
				goto bad;
			const char *e = string_lit(s + 1, &b);
			if (!e || *e != ']')
				goto bad;
			path_add(p, b.data, b.len);
			x->p = e + 1;
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			const char *e = s;
			while (isalnum((unsigned char)*e) || *e == '_')
				e++;
			if (keyword(s, (size_t)(e - s)) || exponent(s, (size_t)(e - s)))
				goto bad;
			path_add(p, s, (size_t)(e - s));
			x->p = e;
		} else if (*s == '"') {
			const char *e = string_lit(s, &b);
			if (!e)
				goto bad;
			path_add(p, b.data, b.len);
			x->p = e;
		} else {
			goto bad;
		}
	}
	/* keys with NULs cannot be looked up by json_getn's callers here */
	for (int i = 0; i < p->n; i++)
		if (memchr(p->key[i], 0, p->klen[i]))
			goto bad;
	if (p->n == 0 || *x->p == '[' || *x->p == '?')
		goto bad;
	buf_free(&b);
	path_slot(p);
	return p;
bad:
	buf_free(&b);
	fpath_free(p);
	x->bad = true;
	return NULL;
}

struct fpath *fpath_compile(const char *src)
{
	struct lex x = { src, false };
	struct fpath *p = path_parse(&x);
	if (!p)
		return NULL;
	ws(&x);
	if (*x.p) {
		fpath_free(p);
		return NULL;
	}
	return p;
}

static int lookup(const struct fpath *p, const struct json_doc *d)
{
	int t = 0;
	for (int i = 0; i < p->n; i++) {
		enum json_type ty = json_type_of(d, t);
		if (ty == JSON_NULL)
			return -2;
		if (ty != JSON_OBJECT)
			return -1;
		t = json_getn(d, t, p->key[i], p->klen[i]);
		if (t < 0)
			return -2;
	}
	return t;
}

int fpath_get(const struct fpath *p, const struct json_doc *d)
{
	if (d != cache_doc)
		return lookup(p, d);
	struct slot *s = &cache[p->slot];
	if (s->gen != cache_gen) {
		s->gen = cache_gen;
		s->tok = lookup(p, d);
		s->have_num = s->have_hash = false;
	}
	return s->tok;
}

bool fpath_hash(const struct fpath *p, const struct json_doc *d, uint64_t *h)
{
	if (d != cache_doc || !cache[p->slot].have_hash || cache[p->slot].gen != cache_gen)
		return false;
	*h = cache[p->slot].hash;
	return true;
}

void fpath_set_hash(const struct fpath *p, const struct json_doc *d, uint64_t h)
{
	if (d != cache_doc || cache[p->slot].gen != cache_gen)
		return;
	cache[p->slot].hash = h;
	cache[p->slot].have_hash = true;
}

double fpath_number(const struct fpath *p, const struct json_doc *d, int t)
{
	if (d != cache_doc)
		return number(d, t);
	struct slot *s = &cache[p->slot];
	if (!s->have_num) {
		s->num = number(d, t);
		s->have_num = true;
	}
	return s->num;
}

static bool operand_parse(struct lex *x, struct operand *o)
{
	memset(o, 0, sizeof *o);
	ws(x);
	if (*x->p == '.') {
		o->path = path_parse(x);
		return o->path != NULL;
	}
	if (*x->p == '"') {
		struct buf b;
		buf_init(&b);
		const char *e = string_lit(x->p, &b);
		if (!e) {
			buf_free(&b);
			return false;
		}
		x->p = e;
		o->type = JSON_STRING;
		o->len = b.len;
		o->str = buf_detach(&b, NULL);
		return true;
	}
	if (word(x, "null")) { o->type = JSON_NULL; return true; }
	if (word(x, "true")) { o->type = JSON_TRUE; return true; }
	if (word(x, "false")) { o->type = JSON_FALSE; return true; }
	const char *s = x->p;
	bool neg = false;
	if (*s == '-') {
		neg = true;
		s++;
		while (*s == ' ')
			s++;
	}
	if (!isdigit((unsigned char)*s))
		return false;
	const char *e = s;
	while (isdigit((unsigned char)*e))
		e++;
	if (*e == '.') {
		e++;
		while (isdigit((unsigned char)*e))
			e++;
	}
	if (*e == 'e' || *e == 'E') {
		const char *f = e + 1;
		if (*f == '+' || *f == '-')
			f++;
		if (!isdigit((unsigned char)*f))
			return false;
		while (isdigit((unsigned char)*f))
			f++;
		e = f;
	}
	if (isalnum((unsigned char)*e) || *e == '_' || *e == '.')
		return false;
	char tmp[64];
	if ((size_t)(e - s) >= sizeof tmp)
		return false;
	memcpy(tmp, s, (size_t)(e - s));
	tmp[e - s] = 0;
	o->num = strtod(tmp, NULL);
	if (!isfinite(o->num))
		return false;
	if (neg)
		o->num = -o->num;
	o->type = JSON_NUMBER;
	x->p = e;
	return true;
}

static void operand_free(struct operand *o)
{
	fpath_free(o->path);
	free(o->str);
}

void fexpr_free(struct fexpr *e)
{
	if (!e)
		return;
	fexpr_free(e->l);
	fexpr_free(e->r);
	operand_free(&e->a);
	operand_free(&e->b);
	free(e);
}

static struct fexpr *parse_or(struct lex *x, int depth);

static struct fexpr *parse_unary(struct lex *x, int depth)
{
	ws(x);
	if (*x->p == '(') {
		x->p++;
		struct fexpr *e = parse_or(x, depth + 1);
		ws(x);
		if (!e || *x->p != ')') {
			fexpr_free(e);
			x->bad = true;
			return NULL;
		}
		x->p++;
		/* (a) == b is beyond this subset */
		ws(x);
		if (*x->p && strchr("=!<>", *x->p)) {
			fexpr_free(e);
			x->bad = true;
			return NULL;
		}
		return e;
	}
	struct fexpr *e = xcalloc(1, sizeof *e);
	if (!operand_parse(x, &e->a))
		goto bad;
	ws(x);
	static const struct { const char *s; int op; } ops[] = {
		{ "==", OP_EQ }, { "!=", OP_NE }, { "<=", OP_LE }, { ">=", OP_GE },
		{ "<", OP_LT }, { ">", OP_GT },
	};
	e->kind = N_TRUTHY;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t n = strlen(ops[i].s);
		if (strncmp(x->p, ops[i].s, n) == 0) {
			x->p += n;
			e->kind = N_CMP;
			e->op = ops[i].op;
			if (!operand_parse(x, &e->b))
				goto bad;
			break;
		}
	}
	return e;
bad:
	fexpr_free(e);
	x->bad = true;
	return NULL;
}

static struct fexpr *parse_and(struct lex *x, int depth)
{
	struct fexpr *l = parse_unary(x, depth);
	while (l && word(x, "and")) {
		struct fexpr *n = xcalloc(1, sizeof *n);
		n->kind = N_AND;
		n->l = l;
		n->r = parse_unary(x, depth);
		if (!n->r) {
			fexpr_free(n);
			return NULL;
		}
		l = n;
	}
	return l;
}

static struct fexpr *parse_or(struct lex *x, int depth)
{
	if (depth > 32)
		return NULL;
	struct fexpr *l = parse_and(x, depth);
	while (l && word(x, "or")) {
		struct fexpr *n = xcalloc(1, sizeof *n);
		n->kind = N_OR;
		n->l = l;
		n->r = parse_and(x, depth);
		if (!n->r) {
			fexpr_free(n);
			return NULL;
		}
		l = n;
	}
	return l;
}

struct fexpr *fexpr_compile(const char *src)
{
	struct lex x = { src, false };
	struct fexpr *e = parse_or(&x, 0);
	ws(&x);
	if (!e || x.bad || *x.p) {
		fexpr_free(e);
		return NULL;
	}
	return e;
}

/* A value seen through tokens: type, number, string bytes. */
struct view {
	int type;
	double num;
	const char *str;
	size_t len;
};

static int view_of(const struct operand *o, const struct json_doc *d, struct buf *scratch,
		   struct view *v)
{
	if (!o->path) {
		v->type = o->type;
		v->num = o->num;
		v->str = o->str;
		v->len = o->len;
		return 0;
	}
	int t = fpath_get(o->path, d);
	if (t == -1)
		return -1;
	if (t == -2) {
		v->type = JSON_NULL;
		return 0;
	}
	const struct json_tok *k = &d->tok[t];
	v->type = k->type;
	if (k->type == JSON_NUMBER) {
		v->num = fpath_number(o->path, d, t);
		/* jq 1.6 turns out-of-range numbers into the largest double;
		 * let libjq decide such records */
		if (!isfinite(v->num))
			return -1;
	} else if (k->type == JSON_STRING) {
		if (k->escaped) {
			size_t at = scratch->len;
			json_unescape(d->text + k->start, k->len, scratch);
			/* scratch may move on a later call: strings are compared
			 * right after both sides are read, see cmp() */
			v->str = (const char *)(uintptr_t)at;
			v->len = scratch->len - at;
			v->num = -1; /* marks an offset into scratch */
		} else {
			v->str = d->text + k->start;
			v->len = k->len;
			v->num = 0;
		}
	}
	return 0;
}

static const char *view_str(const struct view *v, const struct buf *scratch, bool from_doc)
{
	return from_doc && v->num < 0 ? scratch->data + (uintptr_t)v->str : v->str;
}

/* jq's jv_cmp for the kinds a view can hold */
static int cmp(const struct view *a, bool adoc, const struct view *b, bool bdoc,
	       const struct buf *scratch)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->type == JSON_NUMBER)
		return a->num < b->num ? -1 : a->num == b->num ? 0 : 1;
	if (a->type == JSON_STRING) {
		const char *sa = view_str(a, scratch, adoc), *sb = view_str(b, scratch, bdoc);
		size_t n = a->len < b->len ? a->len : b->len;
		int r = memcmp(sa, sb, n);
		if (r)
			return r < 0 ? -1 : 1;
		return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
	}
	return 0; /* null, booleans; arrays and objects never meet a literal here */
}

static int eval(const struct fexpr *e, const struct json_doc *d, struct buf *scratch)
{
	switch (e->kind) {
	case N_OR: {
		int l = eval(e->l, d, scratch);
		if (l != 0)
			return l;
		return eval(e->r, d, scratch);
	}
	case N_AND: {
		int l = eval(e->l, d, scratch);
		if (l != 1)
			return l;
		return eval(e->r, d, scratch);
	}
	case N_TRUTHY: {
		struct view v;
		if (view_of(&e->a, d, scratch, &v) < 0)
			return -1;
		return v.type != JSON_NULL && v.type != JSON_FALSE;
	}
	default: {
		struct view a, b;
		buf_reset(scratch);
		if (view_of(&e->a, d, scratch, &a) < 0 || view_of(&e->b, d, scratch, &b) < 0)
			return -1;
		/* two paths holding arrays or objects need a deep comparison */
		if (a.type >= JSON_ARRAY && a.type == b.type)
			return -1;
		int c = cmp(&a, e->a.path != NULL, &b, e->b.path != NULL, scratch);
		switch (e->op) {
		case OP_EQ: return c == 0;
		case OP_NE: return c != 0;
		case OP_LT: return c < 0;
		case OP_LE: return c <= 0;
		case OP_GT: return c > 0;
		default: return c >= 0;
		}
	}
	}
}

int fexpr_eval(const struct fexpr *e, const struct json_doc *d, struct buf *scratch)
{
	return eval(e, d, scratch);
}

jv fast_jv(const struct json_doc *d, int t, struct buf *tmp)
{
	const struct json_tok *k = &d->tok[t];
	switch (k->type) {
	case JSON_NULL: return jv_null();
	case JSON_FALSE: return jv_false();
	case JSON_TRUE: return jv_true();
	case JSON_NUMBER: return jv_number(number(d, t));
	case JSON_STRING:
		if (!k->escaped)
			return jv_string_sized(d->text + k->start, (int)k->len);
		buf_reset(tmp);
		json_str(d, t, tmp);
		return jv_string_sized(tmp->data, (int)tmp->len);
	case JSON_ARRAY: {
		jv a = jv_array_sized((int)k->count);
		for (int e = json_first(d, t); e >= 0; e = json_next_elem(d, t, e))
			a = jv_array_append(a, fast_jv(d, e, tmp));
		return a;
	}
	default: {
		jv o = jv_object();
		for (int m = json_first(d, t); m >= 0; m = json_next_member(d, t, m)) {
			jv key = fast_jv(d, m, tmp);
			o = jv_object_set(o, key, fast_jv(d, m + 1, tmp));
		}
		return o;
	}
	}
}
