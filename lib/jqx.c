#include "jqx.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
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
	int dead;           /* 0, or the JQX_ status it always returns */
};

/*
 * The budget. libjq 1.6 has no way to interrupt jq_next, so a watchdog
 * thread notices an evaluation that has been running for longer than the
 * budget and signals the evaluating thread. Running is processor time of
 * the evaluating thread (an evaluation never waits on anything): on a busy
 * machine, time spent on other work would otherwise disable good rules. The handler jumps out only when
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
static clockid_t eval_clock;
static bool have_eval_clock;
static atomic_int watchdog_stop;
static bool watchdog_running;
static int64_t budget;
static uintptr_t jq_text[8][2];
static int n_jq_text;

/* Abandoned states: kept reachable, never freed (they may be torn). */
static jq_state **graveyard;
static size_t n_graveyard;

/*
 * The memory budget. libjq 1.6 allocates every value, frame and stack
 * through jv_mem_alloc, jv_mem_calloc, jv_mem_realloc and jv_mem_free,
 * exported functions that it calls through its PLT: the ones below, defined
 * in the executable, take their place. They sit on whatever malloc is in
 * use (glibc's, AddressSanitizer's, valgrind's), so the budget holds in
 * every build. libjq's nomem handler (jq_set_nomem_handler) would come too
 * late: it runs once malloc has failed, which with overcommit is once the
 * machine has run out of memory, after seconds spent in libc's memcpy
 * where the time budget cannot interrupt (a string doubled forty times).
 *
 * While an evaluation runs, the blocks it allocates are kept in a table and
 * their bytes counted; an allocation that would take the count past the
 * budget abandons the evaluation instead, and so does a malloc that fails
 * (libjq would abort). The blocks of an abandoned evaluation that are still
 * in the table are freed: only its buried jq_state points into them. What
 * an abandoned evaluation leaves is bounded: its jq_state and program, the
 * references it took on its input (which is then never freed), and a
 * regular expression's own allocations (bounded by oniguruma's limits, see
 * jqx_init). When an evaluation ends, the table is forgotten; its blocks
 * (the output, the jq_state's stack) are freed later like any other.
 *
 * A table beside the blocks rather than a header in front of them: libjq
 * 1.6 frees strdup's copies of symbol names with jv_mem_free. Outside an
 * evaluation the functions only pass through to malloc.
 */
struct mslot {
	void *p;            /* NULL: empty, TOMB: deleted */
	uint32_t gen;       /* a slot of another generation is empty */
};
#define TOMB ((void *)1)
/* each block's share of the table, counted with it */
#define SLOT_COST (3 * sizeof(struct mslot))
static struct mslot *tab;
static uint32_t tab_cap, tab_used, tab_gen = 1;   /* used: live and deleted */
static bool metering;
static size_t held, mem_budget;

/* libjq's allocator (its jv_alloc.h is not installed) */
void *jv_mem_alloc(size_t sz);
void *jv_mem_alloc_unguarded(size_t sz);
void *jv_mem_calloc(size_t nemb, size_t sz);
void *jv_mem_calloc_unguarded(size_t nemb, size_t sz);
char *jv_mem_strdup(const char *s);
char *jv_mem_strdup_unguarded(const char *s);
void jv_mem_free(void *p);
void *jv_mem_realloc(void *p, size_t sz);

enum { JUMP_TIME = 1, JUMP_MEMORY = 2 };

static _Noreturn void over_budget(void)
{
	in_eval = 0;
	siglongjmp(eval_jb, JUMP_MEMORY);
}

static uint32_t slot_of(const void *p)
{
	uint64_t h = ((uint64_t)(uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & (tab_cap - 1);
}

/* The slot holding p, or NULL. */
static struct mslot *tab_find(const void *p)
{
	if (!tab_cap)
		return NULL;
	for (uint32_t i = slot_of(p);; i = (i + 1) & (tab_cap - 1)) {
		struct mslot *s = &tab[i];
		if (s->gen != tab_gen || !s->p)
			return NULL;
		if (s->p == p)
			return s;
	}
}

static void tab_put(void *p)
{
	for (uint32_t i = slot_of(p);; i = (i + 1) & (tab_cap - 1)) {
		struct mslot *s = &tab[i];
		if (s->gen != tab_gen || !s->p) {
			s->p = p;
			s->gen = tab_gen;
			tab_used++;
			return;
		}
	}
}

/* Room for one more entry, the table's own memory taken from the budget
 * through SLOT_COST. A table that cannot grow ends the evaluation. */
static void tab_reserve(void)
{
	if ((tab_used + 1) * 4 <= tab_cap * 3)
		return;
	uint32_t live = 0;
	for (uint32_t i = 0; i < tab_cap; i++)
		if (tab[i].gen == tab_gen && tab[i].p && tab[i].p != TOMB)
			live++;
	uint32_t nc = 64;
	while (nc < (live + 1) * 2 && nc < UINT32_MAX / 2)
		nc *= 2;
	struct mslot *old = tab;
	uint32_t oc = tab_cap, og = tab_gen;
	tab = calloc(nc, sizeof *tab);
	if (!tab) {
		tab = old;
		over_budget();
	}
	tab_cap = nc;
	tab_used = 0;
	tab_gen = 1;
	for (uint32_t i = 0; i < oc; i++)
		if (old[i].gen == og && old[i].p && old[i].p != TOMB)
			tab_put(old[i].p);
	free(old);
}

static void hold(void *p)
{
	tab_reserve();
	tab_put(p);
	held += malloc_usable_size(p) + SLOT_COST;
}

/* The end of an evaluation: its blocks are freed (it was abandoned) or
 * left to their owners. */
static void release_held(bool free_them)
{
	if (free_them)
		for (uint32_t i = 0; i < tab_cap; i++)
			if (tab[i].gen == tab_gen && tab[i].p && tab[i].p != TOMB)
				free(tab[i].p);
	if (tab_cap > 4096) {
		/* a big evaluation's table is not kept for the small ones */
		free(tab);
		tab = NULL;
		tab_cap = 0;
	} else if (++tab_gen == 0) {
		if (tab)
			memset(tab, 0, tab_cap * sizeof *tab);
		tab_gen = 1;
	}
	tab_used = 0;
	held = 0;
	metering = false;
}

/* May sz more bytes be taken (freed of them coming back)? Abandons the
 * evaluation when not. */
static void budget_check(size_t sz, size_t freed)
{
	if (sz > SIZE_MAX / 2 || (mem_budget && sz + SLOT_COST > mem_budget - (held - freed)))
		over_budget();
}

static _Noreturn void out_of_memory(void)
{
	static const char m[] = ": out of memory in jq\n";
	const char *prog = diag_prog();
	diag_raw(prog, strlen(prog));
	diag_raw(m, sizeof m - 1);
	abort();
}

/* What malloc gave (NULL: it failed). Outside an evaluation a failure
 * aborts, as every other allocation of the tool does, unless the caller
 * copes (libjq's unguarded forms). */
static void *taken(void *p, bool guarded)
{
	if (!p) {
		if (metering)
			over_budget();
		if (guarded)
			out_of_memory();
		return NULL;
	}
	if (metering)
		hold(p);
	return p;
}

static void *mem_alloc(size_t sz, bool guarded)
{
	if (metering)
		budget_check(sz, 0);
	return taken(malloc(sz ? sz : 1), guarded);
}

static void *mem_calloc(size_t nemb, size_t sz, bool guarded)
{
	if (metering)
		budget_check(sz && nemb > SIZE_MAX / 2 / sz ? SIZE_MAX : nemb * sz, 0);
	return taken(calloc(nemb ? nemb : 1, sz ? sz : 1), guarded);
}

static char *mem_strdup(const char *s, bool guarded)
{
	size_t n = strlen(s) + 1;
	char *p = mem_alloc(n, guarded);
	if (p)
		memcpy(p, s, n);
	return p;
}

void *jv_mem_alloc(size_t sz) { return mem_alloc(sz, true); }
void *jv_mem_alloc_unguarded(size_t sz) { return mem_alloc(sz, false); }
void *jv_mem_calloc(size_t nemb, size_t sz) { return mem_calloc(nemb, sz, true); }
void *jv_mem_calloc_unguarded(size_t nemb, size_t sz) { return mem_calloc(nemb, sz, false); }
char *jv_mem_strdup(const char *s) { return mem_strdup(s, true); }
char *jv_mem_strdup_unguarded(const char *s) { return mem_strdup(s, false); }

/* p's entry is dropped and its bytes credited: true when it had one. */
static bool unhold(void *p)
{
	struct mslot *s = metering ? tab_find(p) : NULL;
	if (!s)
		return false;
	s->p = TOMB;
	held -= malloc_usable_size(p) + SLOT_COST;
	return true;
}

void jv_mem_free(void *p)
{
	if (p)
		unhold(p);
	free(p);
}

void *jv_mem_realloc(void *p, size_t sz)
{
	if (!metering)
		return taken(realloc(p, sz ? sz : 1), true);
	/* a block of the evaluation's or, growing, of its jq_state's: either
	 * way it goes with the evaluation if that is abandoned */
	size_t old = p && tab_find(p) ? malloc_usable_size(p) + SLOT_COST : 0;
	budget_check(sz, old);
	tab_reserve();  /* before realloc: a failure must leave p in the table */
	bool had = p && unhold(p);
	void *n = realloc(p, sz ? sz : 1);
	if (!n) {
		if (had)
			hold(p);
		over_budget();
	}
	return taken(n, true);
}

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
		siglongjmp(eval_jb, JUMP_TIME);
	}
}

/* The evaluating thread's processor time in ms, or -1. */
static int64_t eval_cpu_ms(void)
{
	struct timespec t;
	if (!have_eval_clock || clock_gettime(eval_clock, &t) < 0)
		return -1;
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *watch(void *arg)
{
	(void)arg;
	unsigned long last = 0;
	int64_t ran = 0, start = -1;
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
			start = eval_cpu_ms();
			continue;
		}
		/* without a thread clock, wall time */
		int64_t now = start >= 0 ? eval_cpu_ms() : -1;
		ran = now >= 0 ? now - start : ran + tick;
		if (ran >= budget)
			pthread_kill(eval_thread, SIGRTMIN);
	}
	return NULL;
}

/*
 * Regular expressions. The watchdog cannot interrupt oniguruma (it may be
 * inside malloc), and jq 1.6 compiles and runs a regex in one call, so a
 * backtracking pattern (^(a|a)*$ on forty a's and a b) would run for as
 * long as oniguruma lets it: 10 million steps per starting position by
 * default, seconds on a small machine. The search is bounded instead, as a
 * whole (JQX_REGEX_STEPS, about 10ms here and 100ms on a Raspberry Pi 3),
 * and its backtracking stack, which oniguruma allocates with plain malloc,
 * by the memory budget. Past a limit, jq reports "Regex failure: ... limit
 * over": JQX_REGEX. The setters are looked up in the libonig that libjq
 * loaded (its headers need not be installed); an older one without them
 * keeps its own defaults.
 */
static void regex_limits(size_t stack_bytes)
{
	int (*set_steps)(unsigned long);
	int (*set_stack)(unsigned int);
	*(void **)&set_steps = dlsym(RTLD_DEFAULT, "onig_set_retry_limit_in_match");
	if (set_steps)
		set_steps(JQX_REGEX_STEPS);
	*(void **)&set_steps = dlsym(RTLD_DEFAULT, "onig_set_retry_limit_in_search");
	if (set_steps)
		set_steps(JQX_REGEX_STEPS);
	*(void **)&set_stack = dlsym(RTLD_DEFAULT, "onig_set_match_stack_limit_size");
	if (set_stack && stack_bytes) {
		/* entries of 32 bytes (oniguruma 6.9 on 64 bits) */
		size_t n = stack_bytes / 32;
		set_stack(n > UINT_MAX ? UINT_MAX : (unsigned)n);
	}
}

static bool regex_limit_error(const char *msg)
{
	static const char *const over[] = { "retry-limit-in-match over", "retry-limit-in-search over",
					    "match-stack limit over",
					    "subexp-call-limit-in-search over", NULL };
	if (strncmp(msg, "Regex failure: ", 15) != 0)
		return false;
	for (int i = 0; over[i]; i++)
		if (strcmp(msg + 15, over[i]) == 0)
			return true;
	return false;
}

void jqx_init(int64_t budget_ms, size_t mem_budget_bytes)
{
	budget = budget_ms;
	mem_budget = mem_budget_bytes;
	regex_limits(mem_budget_bytes);
	eval_thread = pthread_self();
	have_eval_clock = pthread_getcpuclockid(eval_thread, &eval_clock) == 0;
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
bool jqx_dead(const struct jqx *x) { return x->dead != 0; }
size_t jqx_counted(void) { return held; }

/* An abandoned evaluation: what it allocated goes, its state is kept. */
static void bury(struct jqx *x, int why)
{
	in_eval = 0;
	expired = 0;
	release_held(true);
	graveyard = xrealloc(graveyard, (n_graveyard + 1) * sizeof *graveyard);
	graveyard[n_graveyard++] = x->jq;
	x->jq = NULL;
	x->dead = why;
}

int jqx_first(struct jqx *x, jv in, jv *out, char *err, size_t errlen)
{
	if (x->dead) {
		jv_free(in);
		snprintf(err, errlen, "disabled after running past the %s budget",
			 x->dead == JQX_MEMORY ? "memory" : "time");
		return x->dead;
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
	jv v;
	switch (sigsetjmp(eval_jb, 0)) {
	case 0:
		break;
	case JUMP_MEMORY:
		bury(x, JQX_MEMORY);
		snprintf(err, errlen, "evaluation ran past the memory budget");
		return JQX_MEMORY;
	default:
		bury(x, JQX_TIMEOUT);
		snprintf(err, errlen, "evaluation ran past the time budget");
		return JQX_TIMEOUT;
	}
	/* jq_start too: it may grow the jq_state's stack */
	metering = true;
	jq_start(x->jq, in, 0);
	expired = 0;
	atomic_fetch_add_explicit(&eval_seq, 1, memory_order_relaxed);
	in_eval = 1;
	v = jq_next(x->jq);
	in_eval = 0;
	release_held(false);
	if (expired) {
		/* it finished, but only after the budget: disable it all the same */
		expired = 0;
		jv_free(v);
		jq_teardown(&x->jq);
		x->dead = JQX_TIMEOUT;
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
			if (regex_limit_error(jv_string_value(m))) {
				jv_free(m);
				return JQX_REGEX;
			}
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
