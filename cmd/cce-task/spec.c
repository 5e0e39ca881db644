/*
 * spec: placement lines into task specs, and specs into unit files.
 *
 * Everything systemd would read differently from what the placement says
 * is escaped here, once: ExecStart= expands $NAME and specifiers (%n), so
 * '$' and '%' are doubled; arguments are double-quoted with C escapes so
 * that spaces, quotes and newlines survive; names systemd refuses in unit
 * names are \xNN-escaped. Fields that cannot be written safely (a relative
 * dir, a program name systemd would read as a prefix) are refused instead.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "task.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *tname(const struct json_doc *d, int i)
{
	enum json_type t = json_type_of(d, i);
	return t == JSON_TRUE || t == JSON_FALSE ? "boolean" : json_type_name(t);
}

/* a string field into *out (NULL when absent and not required) */
static int get_str(const struct json_doc *d, const char *key, bool required, char **out,
		   char *err, size_t errlen)
{
	*out = NULL;
	int i = json_get(d, 0, key);
	if (i < 0)
		return required ? fail(err, errlen, "%s: missing", key) : 0;
	if (json_type_of(d, i) != JSON_STRING)
		return fail(err, errlen, "%s: expected a string, got %s", key, tname(d, i));
	bool nul;
	*out = json_cstr(d, i, &nul);
	if (!*out)
		return fail(err, errlen, "%s: %s", key, JSON_NUL_REASON);
	if (!**out)
		return fail(err, errlen, "%s: empty", key);
	return 0;
}

static int get_int(const struct json_doc *d, const char *key, int64_t min, int64_t max,
		   int64_t *out, char *err, size_t errlen)
{
	int i = json_get(d, 0, key);
	if (i < 0)
		return 0;
	if (!json_int(d, i, out) || *out < min || *out > max)
		return fail(err, errlen, "%s: expected an integer from %lld to %lld", key,
			    (long long)min, (long long)max);
	return 0;
}

/* run: an array of strings (argv) or a string for /bin/sh -c */
static int get_run(const struct json_doc *d, struct task_spec *s, char *err, size_t errlen)
{
	int r = json_get(d, 0, "run");
	if (r < 0)
		return fail(err, errlen, "run: missing");
	bool nul = false;
	if (json_type_of(d, r) == JSON_STRING) {
		s->argv = xcalloc(4, sizeof *s->argv);
		s->argv[0] = xstrdup("/bin/sh");
		s->argv[1] = xstrdup("-c");
		s->argv[2] = json_cstr(d, r, &nul);
		s->argc = 3;
		if (!s->argv[2])
			return fail(err, errlen, "run: %s", JSON_NUL_REASON);
		return s->argv[2][0] ? 0 : fail(err, errlen, "run: empty");
	}
	if (json_type_of(d, r) != JSON_ARRAY)
		return fail(err, errlen, "run: expected an array of strings or a string, got %s",
			    tname(d, r));
	uint32_t n = d->tok[r].count;
	if (n == 0)
		return fail(err, errlen, "run: empty");
	s->argv = xcalloc(n + 1, sizeof *s->argv);
	for (int e = json_first(d, r); e >= 0; e = json_next_elem(d, r, e)) {
		if (json_type_of(d, e) != JSON_STRING)
			return fail(err, errlen, "run[%zu]: expected a string, got %s", s->argc,
				    tname(d, e));
		if (!(s->argv[s->argc] = json_cstr(d, e, &nul)))
			return fail(err, errlen, "run[%zu]: %s", s->argc, JSON_NUL_REASON);
		s->argc++;
	}
	/* systemd reads a leading - @ + ! : of the program as a prefix */
	if (!s->argv[0][0] || strchr("-@+!:", s->argv[0][0]))
		return fail(err, errlen, "run[0]: '%s' is not a program name systemd can run",
			    s->argv[0]);
	return 0;
}

static bool env_key_ok(const char *k, size_t n)
{
	if (n == 0 || isdigit((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return false;
	return true;
}

static int get_env(const struct json_doc *d, struct task_spec *s, char *err, size_t errlen)
{
	int o = json_get(d, 0, "env");
	if (o < 0)
		return 0;
	if (json_type_of(d, o) != JSON_OBJECT)
		return fail(err, errlen, "env: expected an object, got %s", tname(d, o));
	s->env = xcalloc(d->tok[o].count + 1, sizeof *s->env);
	struct buf b;
	buf_init(&b);
	for (int k = json_first(d, o); k >= 0; k = json_next_member(d, o, k)) {
		buf_reset(&b);
		json_str(d, k, &b);
		if (!env_key_ok(b.data, b.len)) {
			fail(err, errlen, "env: '%s' is not a variable name", b.data);
			buf_free(&b);
			return -1;
		}
		if (json_type_of(d, k + 1) != JSON_STRING) {
			fail(err, errlen, "env.%s: expected a string, got %s", b.data, tname(d, k + 1));
			buf_free(&b);
			return -1;
		}
		buf_addc(&b, '=');
		size_t keylen = b.len;
		json_str(d, k + 1, &b);
		if (strlen(b.data) != b.len) {
			b.data[keylen - 1] = 0;
			fail(err, errlen, "env.%s: %s", b.data, JSON_NUL_REASON);
			buf_free(&b);
			return -1;
		}
		s->env[s->nenv++] = xstrdup(b.data);
	}
	buf_free(&b);
	return 0;
}

/* what WorkingDirectory= and ReadWritePaths= take without quoting */
static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\'' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

static int get_enums(const struct json_doc *d, struct task_spec *s, char *err, size_t errlen)
{
	char *v = NULL;
	if (get_str(d, "restart", false, &v, err, errlen) < 0)
		goto bad;
	if (v && !strcmp(v, "always"))
		s->restart = RESTART_ALWAYS;
	else if (v && !strcmp(v, "never"))
		s->restart = RESTART_NEVER;
	else if (v && strcmp(v, "on-failure")) {
		fail(err, errlen, "restart: '%s' is not always, on-failure or never", v);
		goto bad;
	}
	free(v);
	if (get_str(d, "kind", false, &v, err, errlen) < 0)
		goto bad;
	if (v && !strcmp(v, "job"))
		s->kind = KIND_JOB;
	else if (v && strcmp(v, "service")) {
		fail(err, errlen, "kind: '%s' is not service or job", v);
		goto bad;
	}
	free(v);
	return 0;
bad:
	free(v);
	return -1;
}

static int get_limits(const struct json_doc *d, struct task_spec *s, char *err, size_t errlen)
{
	int i = json_get(d, 0, "cpu");
	double cpu;
	if (i >= 0 && (!json_num(d, i, &cpu) || !(cpu >= 0 && cpu <= 1e6)))
		return fail(err, errlen, "cpu: expected a number of CPUs from 0 to 1000000");
	if (i >= 0)
		s->cpu_milli = (int64_t)(cpu * 1000 + 0.5);
	i = json_get(d, 0, "mem_mb");
	double mem;
	if (i >= 0 && (!json_num(d, i, &mem) || !(mem >= 0 && mem <= 1e9)))
		return fail(err, errlen, "mem_mb: expected a number of MiB from 0 to 1000000000");
	if (i >= 0)
		s->mem_mb = (int64_t)(mem + 0.999);
	if (get_int(d, "pids", 1, 4194304, &s->pids, err, errlen) < 0)
		return -1;
	i = json_get(d, 0, "timeout");
	if (i >= 0) {
		char *t = NULL;
		if (json_type_of(d, i) == JSON_NUMBER) {
			double sec;
			json_num(d, i, &sec);
			if (!(sec >= 0 && sec < 1e9))
				return fail(err, errlen, "timeout: expected a duration");
			s->timeout_ms = (int64_t)(sec * 1000);
		} else if (get_str(d, "timeout", true, &t, err, errlen) < 0 ||
			   parse_duration(t, &s->timeout_ms) < 0) {
			if (t)
				fail(err, errlen, "timeout: invalid duration '%s'", t);
			free(t);
			return -1;
		}
		free(t);
	}
	return 0;
}

int spec_parse(const struct json_doc *d, struct task_spec *s, bool check_user, char *err,
	       size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->pids = TASK_PIDS_DEFAULT;
	if (json_type_of(d, 0) != JSON_OBJECT)
		return fail(err, errlen, "expected an object");
	if (get_str(d, "task", true, &s->task, err, errlen) < 0)
		return -1;
	int r = json_get(d, 0, "replica");
	if (r < 0)
		s->replica = 0;
	else if (get_int(d, "replica", 0, 999999999, &s->replica, err, errlen) < 0)
		return -1;
	char name[UNIT_NAME_MAX + 1];
	if (unit_name(s->task, s->replica, name, sizeof name) < 0)
		return fail(err, errlen, "task: name too long for a unit name");
	if (get_run(d, s, err, errlen) < 0 || get_env(d, s, err, errlen) < 0 ||
	    get_enums(d, s, err, errlen) < 0 || get_limits(d, s, err, errlen) < 0 ||
	    get_str(d, "dir", false, &s->dir, err, errlen) < 0 ||
	    get_str(d, "user", false, &s->user, err, errlen) < 0)
		return -1;
	if (!s->dir) {
		struct buf b;
		buf_init(&b);
		buf_addf(&b, "/opt/%s", s->task);
		s->dir = buf_detach(&b, NULL);
	}
	if (!path_ok(s->dir))
		return fail(err, errlen, "dir: '%s' is not an absolute path without spaces, quotes "
			    "or backslashes", s->dir);
	if (s->user && (strchr(s->user, '%') || strpbrk(s->user, " \t\n\"'\\/")))
		return fail(err, errlen, "user: '%s' is not a user name", s->user);
	if (s->user && check_user && !getpwnam(s->user))
		return fail(err, errlen, "user: '%s' does not exist", s->user);
	return 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void spec_free(struct task_spec *s)
{
	free(s->task);
	strv_free(s->argv);
	strv_free(s->env);
	free(s->dir);
	free(s->user);
	memset(s, 0, sizeof *s);
}

/* ---- names ---- */

static bool unit_char_ok(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
}

int unit_name(const char *task, int64_t replica, char *out, size_t outlen)
{
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "cce-");
	for (const unsigned char *p = (const unsigned char *)task; *p; p++)
		if (unit_char_ok(*p))
			buf_addc(&b, (char)*p);
		else
			buf_addf(&b, "\\x%02x", *p);
	buf_addf(&b, "@%lld.service", (long long)replica);
	int ok = b.len <= UNIT_NAME_MAX && b.len < outlen;
	if (ok)
		memcpy(out, b.data, b.len + 1);
	buf_free(&b);
	return ok ? 0 : -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int unit_parse_name(const char *unit, char **task, int64_t *replica)
{
	size_t n = strlen(unit);
	const char *at = strrchr(unit, '@');
	if (strncmp(unit, "cce-", 4) || n < 13 || strcmp(unit + n - 8, ".service") || !at ||
	    at == unit + 4)
		return -1;
	char *end;
	if (!isdigit((unsigned char)at[1]))
		return -1;
	long long r = strtoll(at + 1, &end, 10);
	if (end != unit + n - 8 || (at[1] == '0' && at + 2 != end))
		return -1;
	struct buf b;
	buf_init(&b);
	for (const char *p = unit + 4; p < at; p++) {
		if (*p == '\\') {
			int h, l;
			if (p[1] != 'x' || p + 3 >= at || (h = hexval(p[2])) < 0 || (l = hexval(p[3])) < 0) {
				buf_free(&b);
				return -1;
			}
			buf_addc(&b, (char)(h * 16 + l));
			p += 3;
		} else {
			buf_addc(&b, *p);
		}
	}
	*task = buf_detach(&b, NULL);
	*replica = r;
	return 0;
}

/* ---- unit files ---- */

void unit_quote(struct buf *b, const char *s, unsigned how)
{
	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\t': buf_adds(b, "\\t"); break;
		case '$': buf_adds(b, how & QUOTE_DOLLAR ? "$$" : "$"); break;
		case '%': buf_adds(b, how & QUOTE_PCT ? "%%" : "%"); break;
		default:
			if (*p < ' ' || *p == 0x7f)
				buf_addf(b, "\\x%02x", *p);
			else
				buf_addc(b, (char)*p);
		}
	}
	buf_addc(b, '"');
}

char *unit_dollar_escape(const char *s)
{
	struct buf b;
	buf_init(&b);
	for (; *s; s++)
		buf_adds(&b, *s == '$' ? "$$" : (char[]){ *s, 0 });
	return buf_detach(&b, NULL);
}

/* On cgroup v1 systemd 252 reports a MemoryMax= kill as Result=signal, so
 * the stop step reads the memory cgroup's oom_kill counter (v1
 * memory.oom_control, v2 memory.events) before systemd removes the cgroup.
 * The memory controller is on v1 when /proc/self/cgroup has a memory line;
 * otherwise it is on the unified hierarchy, at /sys/fs/cgroup (v2) or
 * /sys/fs/cgroup/unified (hybrid). (On v2 systemd also says oom-kill.)
 * The CPU time comes from the v2 (or hybrid's unified) cpu.stat: systemd
 * cannot account CPU on a v1 host whose cpu and cpuacct are apart.
 * The counter lives as long as the cgroup, which outlives automatic
 * restarts: the stop was an OOM kill when it grew since the last stop.
 * $2, $3 and $4 (the cgroup mount, the process's cgroup file, the record's
 * directory) are for the unit tests, which run it on files of their own.
 * No '%' in it: run.c hands it to a transient unit escaping only '$'. */
static const char stoppost[] =
	"r=${2:-/sys/fs/cgroup}; s=${3:-/proc/self/cgroup}; w=${4:-" TASK_RUN_DIR "}; f=$w/$1.stop; "
	"c=$(sed -n 's/^[0-9]*:memory://p' $s); u=$(sed -n 's/^0:://p' $s); "
	"if [ -n \"$c\" ]; then d=$r/memory$c; "
	"n=$(sed -n 's/^oom_kill //p' $d/memory.oom_control); p=$(cat $d/memory.max_usage_in_bytes); "
	"else d=$r$u; [ -e $d/memory.events ] || d=$r/unified$u; "
	"n=$(sed -n 's/^oom_kill //p' $d/memory.events); p=$(cat $d/memory.peak); fi 2>/dev/null; "
	"t=$(sed -n 's/^usage_usec //p' $r/unified$u/cpu.stat $r$u/cpu.stat 2>/dev/null); "
	"o=$(sed -n 's/.*oom_kill=\\([0-9]*\\).*/\\1/p' $f 2>/dev/null); "
	"[ \"${n:-0}\" -lt \"${o:-0}\" ] && o=0; "
	"[ \"${n:-0}\" -gt \"${o:-0}\" ] && k=1 || k=0; "
	"mkdir -p $w && echo \"oom=$k oom_kill=${n:-0} peak=${p:-0} cpu_us=${t:-0}\" >$f.tmp && mv $f.tmp $f";

const char *unit_stoppost_script(void)
{
	return stoppost;
}

void unit_cpu_quota(struct buf *b, int64_t cpu_milli)
{
	/* CPUQuota= takes a percentage with up to two decimals */
	int64_t hundredths = cpu_milli * 10;
	buf_addf(b, "%lld", (long long)(hundredths / 100));
	if (hundredths % 100)
		buf_addf(b, ".%02lld", (long long)(hundredths % 100));
	buf_addc(b, '%');
}

static const char *const restart_word[] = { "on-failure", "always", "no" };

static void render_service(const struct task_spec *s, struct buf *out)
{
	buf_adds(out, "[Service]\nType=exec\nExecStart=");
	for (size_t i = 0; i < s->argc; i++) {
		if (i)
			buf_addc(out, ' ');
		unit_quote(out, s->argv[i], QUOTE_PCT | QUOTE_DOLLAR);
	}
	buf_addf(out, "\nWorkingDirectory=-%s/current\n", s->dir);
	for (size_t i = 0; i < s->nenv; i++) {
		buf_adds(out, "Environment=");
		unit_quote(out, s->env[i], QUOTE_PCT); /* no $ expansion there */
		buf_addc(out, '\n');
	}
	if (s->user)
		buf_addf(out, "User=%s\n", s->user);
	buf_addf(out, "Restart=%s\nRestartSec=1\n", restart_word[s->restart]);
	if (s->timeout_ms)
		buf_addf(out, "RuntimeMaxSec=%lldms\n", (long long)s->timeout_ms);
	buf_addf(out, "NoNewPrivileges=yes\nProtectSystem=strict\nReadWritePaths=-%s/data\n"
		      "PrivateTmp=yes\nProtectHome=yes\n", s->dir);
	buf_adds(out, "CPUAccounting=yes\nMemoryAccounting=yes\nTasksAccounting=yes\n");
	if (s->cpu_milli) {
		buf_adds(out, "CPUQuota=");
		unit_cpu_quota(out, s->cpu_milli);
		buf_addc(out, '\n');
	}
	if (s->mem_mb)
		buf_addf(out, "MemoryMax=%lldM\nMemoryHigh=%lldK\n", (long long)s->mem_mb,
			 (long long)(s->mem_mb * 1024 * 9 / 10));
	buf_addf(out, "TasksMax=%lld\nExecStopPost=-+/bin/sh -c ", (long long)s->pids);
	unit_quote(out, stoppost, QUOTE_PCT | QUOTE_DOLLAR);
	buf_adds(out, " cce-task-stop %n\n");
}

int unit_render(const struct task_spec *s, const char *release, struct buf *out, char *err,
		size_t errlen)
{
	buf_adds(out, "# written by cce-task apply: edits are overwritten by the next apply\n"
		      "# release: ");
	for (const char *p = release; *p; p++)
		buf_addc(out, (unsigned char)*p < ' ' ? '?' : *p);
	buf_adds(out, "\n[Unit]\nDescription=cce task ");
	for (const char *p = s->task; *p; p++)
		buf_adds(out, *p == '%' ? "%%" : (unsigned char)*p < ' ' ? "?" : (char[]){ *p, 0 });
	buf_addf(out, " replica %lld\nAfter=network.target\n"
		      "StartLimitIntervalSec=30\nStartLimitBurst=5\n\n",
		 (long long)s->replica);
	render_service(s, out);
	if (s->kind == KIND_SERVICE)
		buf_adds(out, "\n[Install]\nWantedBy=multi-user.target\n");
	if (out->len > UNIT_MAX_BYTES)
		return fail(err, errlen, "the unit file would be over %d KiB", UNIT_MAX_BYTES / 1024);
	return 0;
}
