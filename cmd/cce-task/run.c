/*
 * run: a job in a transient unit with the limits and hardening of a task's
 * unit, waited for, reported as one line:
 * {"task","exit","signal","duration_ms","cpu_ms","mem_peak_mb","oom","output"}.
 * The job's stdout and stderr are a pipe of ours (passed to systemd as
 * file descriptors) of which the last --output-max bytes are kept; the
 * unit stays after it ends (RemainAfterExit=, or failed) until its result
 * is read, then it is stopped (its stop step records the memory peak and
 * OOM kill) and reset.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "bus.h"
#include "diag.h"
#include "task.h"
#include "timeutil.h"
#include "units.h"

#define APPEND(m, name, sig, ...) \
	(r >= 0 ? (r = sd_bus_message_append(m, "(sv)", name, sig, __VA_ARGS__)) : r)

/* the program as systemd needs it: an absolute path */
static char *which(const char *prog)
{
	if (strchr(prog, '/'))
		return xstrdup(prog);
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	struct buf b;
	buf_init(&b);
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		buf_reset(&b);
		buf_addf(&b, "%.*s/%s", (int)n, p, prog);
		if (access(b.data, X_OK) == 0)
			return buf_detach(&b, NULL);
		p += n + (p[n] == ':');
	}
	buf_free(&b);
	return xstrdup(prog);
}

static int append_exec(sd_bus_message *m, const char *name, const char *path, char **argv,
		       const char *const *flags)
{
	int r = sd_bus_message_open_container(m, 'r', "sv");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", name);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', flags ? "a(sasas)" : "a(sasb)");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', flags ? "(sasas)" : "(sasb)");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'r', flags ? "sasas" : "sasb");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", path);
	if (r >= 0)
		r = sd_bus_message_append_strv(m, argv);
	if (r >= 0)
		r = flags ? sd_bus_message_append_strv(m, (char **)flags)
			  : sd_bus_message_append(m, "b", 0);
	for (int i = 0; i < 4 && r >= 0; i++)
		r = sd_bus_message_close_container(m);
	return r;
}

static int append_props(sd_bus_message *m, const struct task_spec *s, const char *unit, int fd)
{
	int r = 0;
	char *path = which(s->argv[0]);
	char **argv = xcalloc(s->argc + 1, sizeof *argv);
	for (size_t i = 0; i < s->argc; i++)
		argv[i] = unit_dollar_escape(s->argv[i]);
	APPEND(m, "Description", "s", "cce-task run");
	APPEND(m, "Type", "s", "exec");
	if (r >= 0)
		r = append_exec(m, "ExecStart", path, argv, NULL);
	char *script = unit_dollar_escape(unit_stoppost_script());
	char *post[] = { "/bin/sh", "-c", script, "cce-task-stop", (char *)unit, NULL };
	static const char *const flags[] = { "privileged", "ignore-failure", NULL };
	if (r >= 0)
		r = append_exec(m, "ExecStopPostEx", "/bin/sh", post, flags);
	free(script);
	if (r >= 0 && s->nenv) {
		r = sd_bus_message_open_container(m, 'r', "sv");
		if (r >= 0)
			r = sd_bus_message_append(m, "s", "Environment");
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'v', "as");
		if (r >= 0)
			r = sd_bus_message_append_strv(m, s->env);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
	}
	if (s->dir) {
		struct buf wd;
		buf_init(&wd);
		buf_addf(&wd, "%s/current", s->dir);
		if (access(wd.data, F_OK) == 0)
			APPEND(m, "WorkingDirectory", "s", wd.data);
		buf_free(&wd);
	}
	if (s->user)
		APPEND(m, "User", "s", s->user);
	if (s->cpu_milli)
		APPEND(m, "CPUQuotaPerSecUSec", "t", (uint64_t)s->cpu_milli * 1000);
	if (s->mem_mb) {
		APPEND(m, "MemoryMax", "t", (uint64_t)s->mem_mb << 20);
		APPEND(m, "MemoryHigh", "t", ((uint64_t)s->mem_mb << 20) / 10 * 9);
	}
	if (s->timeout_ms)
		APPEND(m, "RuntimeMaxUSec", "t", (uint64_t)s->timeout_ms * 1000);
	APPEND(m, "TasksMax", "t", (uint64_t)s->pids);
	APPEND(m, "CPUAccounting", "b", 1);
	APPEND(m, "MemoryAccounting", "b", 1);
	APPEND(m, "NoNewPrivileges", "b", 1);
	APPEND(m, "ProtectSystem", "s", "strict");
	APPEND(m, "ProtectHome", "s", "yes");
	APPEND(m, "PrivateTmp", "b", 1);
	APPEND(m, "StandardOutputFileDescriptor", "h", fd);
	APPEND(m, "StandardErrorFileDescriptor", "h", fd);
	/* the unit stays after a clean exit until its result is read (AddRef
	 * would need a bus name, which PID 1's private socket has not) */
	APPEND(m, "RemainAfterExit", "b", 1);
	for (size_t i = 0; i < s->argc; i++)
		free(argv[i]);
	free(argv);
	free(path);
	return r;
}

/* what fd has now (it is non-blocking), of which the last max bytes are
 * kept in b; false at EOF */
static bool read_tail(int fd, struct buf *b, size_t max)
{
	char chunk[16384];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0)
			return errno == EINTR || errno == EAGAIN;
		buf_add(b, chunk, (size_t)n);
		if (b->len > 2 * max + sizeof chunk) {
			memmove(b->data, b->data + b->len - max, max);
			b->len = max;
		}
	}
	return false;
}

static bool ended(const struct unit_props *p)
{
	return !strcmp(p->active, "inactive") || !strcmp(p->active, "failed") ||
	       !strcmp(p->sub, "exited");
}

/* The output until the unit ended (systemd keeps its end of the pipe
 * while the unit remains, so EOF alone does not say it) or the wait ran
 * out; 0 with p filled, or -1 with err. */
static int wait_unit(sd_bus *bus, const char *unit, int fd, struct buf *out, size_t max,
		     int64_t wait_ms, struct unit_props *p, char *err, size_t errlen)
{
	bool open = true;
	int64_t deadline = time_mono_ms() + wait_ms;
	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		if (open && poll(&pf, 1, 50) > 0)
			open = read_tail(fd, out, max);
		else if (!open)
			usleep(20000);
		if (bus_unit_props(bus, unit, p, err, errlen) < 0)
			return -1;
		if (ended(p) || time_mono_ms() >= deadline)
			break;
	}
	if (open)
		read_tail(fd, out, max);
	if (out->len > max) {
		memmove(out->data, out->data + out->len - max, max);
		out->len = max;
	}
	out->data[out->len] = 0;
	return 0;
}

/* as a JSON string, bytes that are not UTF-8 (a cut character) as U+FFFD */
static void add_text(struct buf *b, const char *s, size_t n)
{
	struct buf clean;
	buf_init(&clean);
	mbstate_t st = { 0 };
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	for (size_t i = 0; i < n;) {
		wchar_t wc;
		size_t k = s[i] ? mbrtowc(&wc, s + i, n - i, &st) : 1;
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			buf_adds(&clean, "\xef\xbf\xbd");
			memset(&st, 0, sizeof st);
			k = 1;
		} else {
			buf_add(&clean, s + i, k);
		}
		i += k;
	}
	if (loc) {
		uselocale(old);
		freelocale(loc);
	}
	buf_add_json_str(b, clean.data, clean.len);
	buf_free(&clean);
}

static int start(sd_bus *bus, const struct task_spec *s, const char *unit, int fd,
		 struct bus_job *j)
{
	sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1",
					       "/org/freedesktop/systemd1",
					       "org.freedesktop.systemd1.Manager", "StartTransientUnit");
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", unit, "fail");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = append_props(m, s, unit, fd);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "a(sa(sv))", 0);
	if (r < 0)
		diag_debug("cannot build StartTransientUnit: %s", strerror(-r));
	if (r >= 0)
		r = sd_bus_call(bus, m, 0, &e, &reply);
	const char *path;
	if (r >= 0 && sd_bus_message_read(reply, "o", &path) >= 0)
		j->path = xstrdup(path);
	if (r < 0)
		snprintf(j->err, sizeof j->err, "%s (%s)", e.message ? e.message : strerror(-r), e.name ? e.name : "");
	sd_bus_error_free(&e);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	return r < 0 ? -1 : 0;
}

/* the result line of the ended unit */
static void result_line(struct buf *b, const struct task_spec *s, const char *unit,
			const struct unit_props *p, int64_t ms, const struct buf *output)
{
	bool oom;
	uint64_t peak, cpu_us, cpu_ns = p->cpu_ns;
	units_stop_record(unit, &oom, &peak, &cpu_us);
	if (cpu_ns == UINT64_MAX && cpu_us != UINT64_MAX)
		cpu_ns = cpu_us * 1000;
	buf_adds(b, "{\"task\":");
	buf_add_json_str(b, s->task, strlen(s->task));
	if (p->exec_code == 1)
		buf_addf(b, ",\"exit\":%d,\"signal\":null", p->exec_status);
	else if (p->exec_code == 2 || p->exec_code == 3)
		buf_addf(b, ",\"exit\":null,\"signal\":\"%s\"",
			 sigabbrev_np(p->exec_status) ? sigabbrev_np(p->exec_status) : "?");
	else
		buf_adds(b, ",\"exit\":null,\"signal\":null");
	buf_addf(b, ",\"duration_ms\":%lld", (long long)ms);
	if (cpu_ns == UINT64_MAX)
		buf_adds(b, ",\"cpu_ms\":null");
	else
		buf_addf(b, ",\"cpu_ms\":%llu", (unsigned long long)(cpu_ns / 1000000));
	buf_addf(b, ",\"mem_peak_mb\":%.1f,\"oom\":%s,\"result\":\"%s\",\"output\":",
		 (double)peak / (1 << 20), oom || !strcmp(p->result, "oom-kill") ? "true" : "false",
		 p->result);
	add_text(b, output->data, output->len);
	buf_addc(b, '}');
}

int cmd_run(struct out *out, const struct task_opts *o, struct run_opts *ro)
{
	struct task_spec *s = &ro->spec;
	char err[512], unit[UNIT_NAME_MAX + 1];
	if (s->user && !getpwnam(s->user))
		return diag_usage("--user: '%s' does not exist", s->user);
	sd_bus *bus;
	int r = task_bus(&bus);
	if (r)
		return r;
	/* cce-run-TASK-PID.service: not a name of apply's (no '@') */
	if (unit_name(s->task, getpid(), unit + 4, sizeof unit - 4) < 0) {
		sd_bus_flush_close_unref(bus);
		return diag_usage("--task: name too long");
	}
	memcpy(unit, "cce-run-", 8);
	*strrchr(unit, '@') = '-';
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0 || fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0) {
		diag_error("cannot make a pipe: %s", strerror(errno));
		sd_bus_flush_close_unref(bus);
		return CCE_EX_FAIL;
	}
	struct bus_job j = { 0 };
	snprintf(j.unit, sizeof j.unit, "%s", unit);
	int64_t t0 = time_mono_ms();
	r = start(bus, s, unit, pfd[1], &j);
	close(pfd[1]);
	int st = 0;
	if (r < 0) {
		diag_error("cannot start %s: %s", unit, j.err);
		close(pfd[0]);
		sd_bus_flush_close_unref(bus);
		return CCE_EX_FAIL;
	}
	struct buf output;
	buf_init(&output);
	struct unit_props p;
	int64_t wait = s->timeout_ms ? s->timeout_ms + o->wait_ms : INT64_MAX / 2;
	r = wait_unit(bus, unit, pfd[0], &output, ro->output_max, wait, &p, err, sizeof err);
	close(pfd[0]);
	int64_t ms = time_mono_ms() - t0;
	if (r == 0 && !strcmp(p.sub, "exited")) {
		bus_job_free(&j);
		bus_job(bus, "StopUnit", &j);
		bus_jobs_wait(bus, &j, 1, o->wait_ms);
	}
	if (r < 0) {
		diag_error("%s: %s", unit, err);
		st = CCE_EX_FAIL;
	} else {
		struct buf b;
		buf_init(&b);
		result_line(&b, s, unit, &p, ms, &output);
		out_line(out, b.data, b.len);
		buf_free(&b);
		if (!(p.exec_code == 1 && p.exec_status == 0))
			st = CCE_EX_FAIL;
	}
	bus_job_free(&j);
	buf_free(&output);
	char path[512];
	snprintf(path, sizeof path, TASK_RUN_DIR "/%s.stop", unit);
	unlink(path);
	/* a failed transient unit stays until reset */
	sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
			   "org.freedesktop.systemd1.Manager", "ResetFailedUnit", NULL, NULL, "s", unit);
	sd_bus_flush_close_unref(bus);
	return st;
}
