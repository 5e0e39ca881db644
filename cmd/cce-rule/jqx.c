#include "jqx.h"

#include <ctype.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "buf.h"
#include "diag.h"

struct jqx {
	jq_state *jq;
	char *src;
	bool dead;
};

/*
 * The budget. libjq 1.6 has no way to interrupt jq_next, so a watchdog
 * thread notices an evaluation that has been running for longer than the
 * budget and signals the evaluating thread. The handler jumps out only when
 * the thread was interrupted inside libjq's own code: libjq takes no locks,
 * so leaving it half-way is safe as long as its jq_state is never used
 * again; inside libc (malloc holds a lock) or oniguruma the handler returns
 * and the watchdog tries again a tick later.
 */
static atomic_ulong eval_seq;
static volatile sig_atomic_t in_eval;
static volatile sig_atomic_t expired;
static sigjmp_buf eval_jb;
static pthread_t eval_thread, watchdog;
static atomic_int watchdog_stop;
static bool watchdog_running;
static int64_t budget;
static uintptr_t jq_text[8][2];
static int n_jq_text;

/* Abandoned states: kept reachable, never freed (they may be torn). */
static jq_state **graveyard;
static size_t n_graveyard;

static int find_libjq(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libjq"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && n_jq_text < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			jq_text[n_jq_text][0] = info->dlpi_addr + ph->p_vaddr;
			jq_text[n_jq_text][1] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			n_jq_text++;
		}
	}
	return 0;
}

static bool pc_in_libjq(void *uc)
{
	uintptr_t pc = 0;
#if defined(__x86_64__)
	pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.pc;
#else
	(void)uc;
	return false;
#endif
	for (int i = 0; i < n_jq_text; i++)
		if (pc >= jq_text[i][0] && pc < jq_text[i][1])
			return true;
	return false;
}

static void on_budget(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	if (!in_eval)
		return;
	expired = 1;
	if (pc_in_libjq(uc)) {
		in_eval = 0;
		siglongjmp(eval_jb, 1);
	}
}

static void *watch(void *arg)
{
	(void)arg;
	unsigned long last = 0;
	int64_t ran = 0;
	int64_t tick = budget / 4;
	if (tick < 1)
		tick = 1;
	if (tick > 25)
		tick = 25;
	struct timespec ts = { 0, (long)tick * 1000000L };
	while (!atomic_load(&watchdog_stop)) {
		nanosleep(&ts, NULL);
		unsigned long s = atomic_load(&eval_seq);
		if (!in_eval || s != last) {
			last = s;
			ran = 0;
			continue;
		}
		ran += tick;
		if (ran >= budget)
			pthread_kill(eval_thread, SIGRTMIN);
	}
	return NULL;
}

void jqx_init(int64_t budget_ms)
{
	budget = budget_ms;
	eval_thread = pthread_self();
	dl_iterate_phdr(find_libjq, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_budget;
	/* SA_NODEFER: the handler leaves by siglongjmp without restoring the
	 * mask (sigsetjmp(..., 0) costs no system call per evaluation) */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN, &sa, NULL);
	if (budget_ms > 0) {
		/* the watchdog must not take the tools' signals */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		watchdog_running = pthread_create(&watchdog, NULL, watch, NULL) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
}

void jqx_shutdown(void)
{
	if (watchdog_running) {
		atomic_store(&watchdog_stop, 1);
		pthread_join(watchdog, NULL);
		watchdog_running = false;
	}
}

static void on_error(void *data, jv msg)
{
	struct buf *b = data;
	if (!b) {
		jv_free(msg);
		return;
	}
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		const char *s = jv_string_value(msg);
		/* jq's trailer "jq: 1 compile error" adds nothing */
		if (strncmp(s, "jq: ", 4) == 0 && strstr(s, "compile error")) {
			jv_free(msg);
			return;
		}
		if (b->len)
			buf_adds(b, "; ");
		/* one line per message: jq's own spans several */
		size_t at = b->len;
		buf_adds(b, s);
		for (size_t i = at; i < b->len; i++)
			if (b->data[i] == '\n' || b->data[i] == '\t')
				b->data[i] = ' ';
		while (b->len > at && b->data[b->len - 1] == ' ')
			b->data[--b->len] = 0;
	}
	jv_free(msg);
}

static void on_debug(void *data, jv msg)
{
	(void)data;
	jv_free(msg);
}

static void on_nomem(void *data)
{
	(void)data;
	static const char m[] = "cce-rule: out of memory in jq\n";
	diag_raw(m, sizeof m - 1);
}

static jv no_input(jq_state *jq, void *data)
{
	(void)jq;
	(void)data;
	return jv_invalid();
}

/* Identifiers outside string literals (interpolations included) that are
 * refused: halt leaves a freed pointer for the next jq_start in 1.6, the
 * module system aborts without a library path, inputs have no meaning. */
static const char *forbidden(const char *s, char *word, size_t wlen)
{
	static const char *const bad[] = { "halt", "halt_error", "input", "inputs",
					   "import", "include", "modulemeta",
					   "get_search_list", "input_filename",
					   "$__prog_args", NULL };
	int depth[64];
	int nd = 0;     /* interpolation nesting: depth of parens at entry */
	int paren = 0;
	bool in_str = false;
	for (const char *p = s; *p;) {
		if (in_str) {
			if (*p == '\\' && p[1] == '(') {
				if (nd < 64)
					depth[nd++] = paren;
				paren++;
				in_str = false;
				p += 2;
			} else if (*p == '\\' && p[1]) {
				p += 2;
			} else {
				if (*p == '"')
					in_str = false;
				p++;
			}
			continue;
		}
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == '"') {
			in_str = true;
			p++;
			continue;
		}
		if (*p == '(') {
			paren++;
			p++;
			continue;
		}
		if (*p == ')') {
			paren--;
			p++;
			if (nd && paren == depth[nd - 1]) {
				nd--;
				in_str = true;
			}
			continue;
		}
		if (isalpha((unsigned char)*p) || *p == '_' || *p == '$') {
			const char *st = p;
			p++;
			while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
				p++;
			/* a field name after '.' is data, not a call */
			if (st > s && st[-1] == '.')
				continue;
			size_t n = (size_t)(p - st);
			for (int i = 0; bad[i]; i++)
				if (strlen(bad[i]) == n && memcmp(bad[i], st, n) == 0) {
					snprintf(word, wlen, "%.*s", (int)n, st);
					return word;
				}
			continue;
		}
		p++;
	}
	return NULL;
}

static jq_state *compile(const char *src, char *err, size_t errlen);

struct jqx *jqx_compile(const char *src, char *err, size_t errlen)
{
	jq_state *jq = compile(src, err, errlen);
	if (!jq)
		return NULL;
	struct jqx *x = xcalloc(1, sizeof *x);
	x->jq = jq;
	x->src = xstrdup(src);
	return x;
}

struct jqx *jqx_lazy(const char *src)
{
	struct jqx *x = xcalloc(1, sizeof *x);
	x->src = xstrdup(src);
	return x;
}

static jq_state *compile(const char *src, char *err, size_t errlen)
{
	char word[64];
	if (forbidden(src, word, sizeof word)) {
		snprintf(err, errlen, "'%s' is not allowed in rules", word);
		return NULL;
	}
	jq_state *jq = jq_init();
	if (!jq) {
		snprintf(err, errlen, "cannot initialize jq");
		return NULL;
	}
	struct buf msg;
	buf_init(&msg);
	jq_set_error_cb(jq, on_error, &msg);
	jq_set_debug_cb(jq, on_debug, NULL);
	jq_set_nomem_handler(jq, on_nomem, NULL);
	jq_set_input_cb(jq, no_input, NULL);
	jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
	jq_set_attr(jq, jv_string("JQ_ORIGIN"), jv_string("/nonexistent"));
	jq_set_attr(jq, jv_string("PROGRAM_ORIGIN"), jv_string("/nonexistent"));
	if (!jq_compile_args(jq, src, jv_object())) {
		snprintf(err, errlen, "%s", msg.len ? msg.data : "does not compile");
		buf_free(&msg);
		jq_teardown(&jq);
		return NULL;
	}
	buf_free(&msg);
	jq_set_error_cb(jq, on_error, NULL);
	return jq;
}

void jqx_free(struct jqx *x)
{
	if (!x)
		return;
	if (x->jq)
		jq_teardown(&x->jq);
	free(x->src);
	free(x);
}

const char *jqx_source(const struct jqx *x) { return x->src; }
bool jqx_dead(const struct jqx *x) { return x->dead; }

static void bury(struct jqx *x)
{
	graveyard = xrealloc(graveyard, (n_graveyard + 1) * sizeof *graveyard);
	graveyard[n_graveyard++] = x->jq;
	x->jq = NULL;
	x->dead = true;
}

int jqx_first(struct jqx *x, jv in, jv *out, char *err, size_t errlen)
{
	if (x->dead) {
		jv_free(in);
		snprintf(err, errlen, "disabled after running past the time budget");
		return JQX_TIMEOUT;
	}
	if (!jv_is_valid(in)) {
		/* a record libjq's parser refused (its own depth limit) */
		jv m = jv_invalid_get_msg(in);
		snprintf(err, errlen, "libjq cannot read the record: %s",
			 jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "invalid");
		jv_free(m);
		return JQX_ERROR;
	}
	if (!x->jq && !(x->jq = compile(x->src, err, errlen))) {
		jv_free(in);
		return JQX_ERROR;
	}
	jq_start(x->jq, in, 0);
	jv v;
	if (sigsetjmp(eval_jb, 0)) {
		in_eval = 0;
		expired = 0;
		bury(x);
		snprintf(err, errlen, "evaluation ran past the time budget");
		return JQX_TIMEOUT;
	}
	expired = 0;
	atomic_fetch_add_explicit(&eval_seq, 1, memory_order_relaxed);
	in_eval = 1;
	v = jq_next(x->jq);
	in_eval = 0;
	if (expired) {
		/* it finished, but only after the budget: disable it all the same */
		expired = 0;
		jv_free(v);
		jq_teardown(&x->jq);
		x->dead = true;
		snprintf(err, errlen, "evaluation ran past the time budget");
		return JQX_TIMEOUT;
	}
	if (jv_is_valid(v)) {
		*out = v;
		return JQX_OK;
	}
	if (jv_invalid_has_msg(jv_copy(v))) {
		jv m = jv_invalid_get_msg(v);
		if (jv_get_kind(m) == JV_KIND_STRING) {
			snprintf(err, errlen, "%s", jv_string_value(m));
		} else {
			jv d = jv_dump_string(m, 0);
			snprintf(err, errlen, "%s (not a string)", jv_string_value(d));
			jv_free(d);
			m = jv_invalid();
		}
		jv_free(m);
		return JQX_ERROR;
	}
	jv_free(v);
	return JQX_EMPTY;
}

int jqx_truth(struct jqx *x, jv in, bool *truth, char *err, size_t errlen)
{
	jv v;
	int st = jqx_first(x, in, &v, err, errlen);
	*truth = false;
	if (st == JQX_OK) {
		jv_kind k = jv_get_kind(v);
		*truth = k != JV_KIND_NULL && k != JV_KIND_FALSE;
		jv_free(v);
	}
	return st == JQX_EMPTY ? JQX_OK : st;
}

void jqx_dump(jv v, struct buf *out)
{
	jv s = jv_dump_string(v, 0);
	buf_add(out, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}
