/*
 * test_task: cce-task's pure parts (cmd/cce-task/spec.c, linked from the
 * tool's parts):
 * placement lines into specs and their messages, unit names and their
 * inverse, the quoting systemd reads back, and the rendered unit file;
 * and the units' stop step, run by /bin/sh on cgroup files as cgroup v1,
 * v2 and the hybrid of both write them, read back as status reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../cmd/cce-task/task.h"
#include "../../cmd/cce-task/units.h"
#include "fsutil.h"

#include "t.h"

/* spec_parse of a JSON text: 0 or -1 with err */
static int parse(const char *text, struct task_spec *s, char *err, size_t errlen)
{
	struct json_doc d;
	struct json_error je;
	json_doc_init(&d);
	int r = json_parse(&d, text, strlen(text), &je);
	if (r == 0)
		r = spec_parse(&d, s, true, err, errlen);
	json_doc_free(&d);
	return r;
}

static void rejects(const char *text, const char *want)
{
	struct task_spec s;
	char err[256] = "";
	int r = parse(text, &s, err, sizeof err);
	ok(r < 0, "rejected: %s", t_show(text));
	is_str(err, want, "message for %s", t_show(text));
	spec_free(&s);
}

static void test_parse(void)
{
	struct task_spec s;
	char err[256] = "";
	int r = parse("{\"task\":\"web\",\"replica\":2,\"run\":[\"sleep\",\"5\"],\"env\":{\"A\":\"1\"},"
		      "\"cpu\":0.25,\"mem_mb\":64,\"pids\":10,\"restart\":\"always\",\"kind\":\"job\","
		      "\"timeout\":\"1m\",\"extra\":true}", &s, err, sizeof err);
	ok(r == 0, "a full placement parses (%s)", err);
	ok(s.replica == 2 && s.argc == 2 && !strcmp(s.argv[1], "5"), "task, replica and argv");
	ok(s.nenv == 1 && !strcmp(s.env[0], "A=1"), "env as K=V");
	ok(s.cpu_milli == 250 && s.mem_mb == 64 && s.pids == 10, "limits");
	ok(s.restart == RESTART_ALWAYS && s.kind == KIND_JOB && s.timeout_ms == 60000, "policy");
	is_str(s.dir, "/opt/web", "dir defaults to /opt/TASK");
	spec_free(&s);
	r = parse("{\"task\":\"t\",\"run\":\"echo $HOME\"}", &s, err, sizeof err);
	ok(r == 0 && s.argc == 3 && !strcmp(s.argv[0], "/bin/sh") && !strcmp(s.argv[2], "echo $HOME"),
	   "a string runs under /bin/sh -c");
	ok(s.replica == 0 && s.pids == TASK_PIDS_DEFAULT && s.restart == RESTART_ON_FAILURE &&
	   s.kind == KIND_SERVICE, "defaults");
	spec_free(&s);

	rejects("{\"task\":\"a\"}", "run: missing");
	rejects("{\"run\":\"x\"}", "task: missing");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"restart\":\"sometimes\"}",
		"restart: 'sometimes' is not always, on-failure or never");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"user\":\"no-such-user-cce\"}",
		"user: 'no-such-user-cce' does not exist");
	rejects("{\"task\":\"a\",\"run\":[]}", "run: empty");
	rejects("{\"task\":\"a\",\"run\":[\"ls\",1]}", "run[1]: expected a string, got number");
	rejects("{\"task\":\"a\",\"run\":[\"-ls\"]}", "run[0]: '-ls' is not a program name systemd can run");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"env\":{\"1A\":\"x\"}}", "env: '1A' is not a variable name");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"kind\":\"cron\"}", "kind: 'cron' is not service or job");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"dir\":\"rel\"}",
		"dir: 'rel' is not an absolute path without spaces, quotes or backslashes");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"mem_mb\":-1}",
		"mem_mb: expected a number of MiB from 0 to 1000000000");
	rejects("{\"task\":\"a\",\"run\":\"x\",\"replica\":1.5}",
		"replica: expected an integer from 0 to 999999999");
	rejects("{\"task\":\"a\\u0000b\",\"run\":\"x\"}", "task: " JSON_NUL_REASON);
}

static void test_names(void)
{
	char name[UNIT_NAME_MAX + 1], *task = NULL;
	int64_t rep = -1;
	ok(unit_name("web", 3, name, sizeof name) == 0, "a plain name");
	is_str(name, "cce-web@3.service", "cce-TASK@REPLICA.service");
	ok(unit_name("a b@c/\\é", 0, name, sizeof name) == 0, "an odd name");
	is_str(name, "cce-a\\x20b\\x40c\\x2f\\x5c\\xc3\\xa9@0.service", "escaped as \\xNN");
	ok(unit_parse_name(name, &task, &rep) == 0 && rep == 0, "read back");
	is_str(task, "a b@c/\\é", "the same task");
	free(task);
	char big[300];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	ok(unit_name(big, 0, name, sizeof name) < 0, "too long for systemd");
	static const char *const other[] = { "cce-web.service", "sshd.service", "cce-@1.service",
					     "cce-a@01.service", "cce-a@1x.service", "cce-\\x4@1.service",
					     "cce-run-job-5.service", NULL };
	for (int i = 0; other[i]; i++)
		ok(unit_parse_name(other[i], &task, &rep) < 0, "not ours: %s", other[i]);
}

static void test_quote(void)
{
	struct buf b;
	buf_init(&b);
	unit_quote(&b, "a \"b\" $HOME 100% \\ \n\x01", QUOTE_PCT | QUOTE_DOLLAR);
	is_str(b.data, "\"a \\\"b\\\" $$HOME 100%% \\\\ \\n\\x01\"", "ExecStart= quoting");
	buf_reset(&b);
	unit_quote(&b, "A=$x %y", QUOTE_PCT);
	is_str(b.data, "\"A=$x %%y\"", "Environment= keeps $");
	char *e = unit_dollar_escape("$a$$");
	is_str(e, "$$a$$$$", "transient units: $ doubled");
	free(e);
	buf_reset(&b);
	unit_cpu_quota(&b, 500);
	is_str(b.data, "50%", "0.5 CPU");
	buf_reset(&b);
	unit_cpu_quota(&b, 1234);
	is_str(b.data, "123.40%", "1.234 CPU");
	buf_free(&b);
}

static void test_render(void)
{
	struct task_spec s;
	char err[256] = "";
	struct buf b;
	buf_init(&b);
	parse("{\"task\":\"web\",\"replica\":1,\"run\":[\"/bin/echo\",\"$X\"],\"env\":{\"X\":\"1\"},"
	      "\"mem_mb\":100,\"cpu\":2}", &s, err, sizeof err);
	ok(unit_render(&s, "r7", &b, err, sizeof err) == 0, "renders");
	ok(strstr(b.data, "# release: r7\n") != NULL, "the release is in the file");
	ok(strstr(b.data, "\nExecStart=\"/bin/echo\" \"$$X\"\n") != NULL, "ExecStart=");
	ok(strstr(b.data, "\nEnvironment=\"X=1\"\n") != NULL, "Environment=");
	ok(strstr(b.data, "\nMemoryMax=100M\nMemoryHigh=92160K\n") != NULL, "memory limits");
	ok(strstr(b.data, "\nCPUQuota=200%\n") != NULL, "CPUQuota=");
	ok(strstr(b.data, "\nTasksMax=512\n") != NULL, "TasksMax=");
	ok(strstr(b.data, "\nNoNewPrivileges=yes\nProtectSystem=strict\nReadWritePaths=-/opt/web/data\n"
			  "PrivateTmp=yes\nProtectHome=yes\n") != NULL, "hardened");
	ok(strstr(b.data, "\nWorkingDirectory=-/opt/web/current\n") != NULL, "runs in current");
	ok(strstr(b.data, "\nWantedBy=multi-user.target\n") != NULL, "a service starts at boot");
	ok(strstr(b.data, "cce-task-stop %n\n") != NULL, "the stop step gets the unit's name");
	struct buf again;
	buf_init(&again);
	unit_render(&s, "r7", &again, err, sizeof err);
	ok(again.len == b.len && !memcmp(again.data, b.data, b.len), "rendering is deterministic");
	buf_free(&again);
	spec_free(&s);
	buf_reset(&b);
	parse("{\"task\":\"j\",\"run\":\"true\",\"kind\":\"job\",\"restart\":\"never\",\"timeout\":30}",
	      &s, err, sizeof err);
	unit_render(&s, "", &b, err, sizeof err);
	ok(strstr(b.data, "[Install]") == NULL, "a job does not start at boot");
	ok(strstr(b.data, "\nRestart=no\n") && strstr(b.data, "\nRuntimeMaxSec=30000ms\n"),
	   "never restarts, timeout");
	spec_free(&s);
	buf_reset(&b);
	/* a unit that would be over 64 KiB */
	struct buf big;
	buf_init(&big);
	buf_adds(&big, "{\"task\":\"b\",\"run\":\"");
	for (int i = 0; i < 70000; i++)
		buf_addc(&big, 'x');
	buf_adds(&big, "\"}");
	parse(big.data, &s, err, sizeof err);
	ok(unit_render(&s, "", &b, err, sizeof err) < 0, "a unit over 64 KiB is refused");
	is_str(err, "the unit file would be over 64 KiB", "and says why");
	spec_free(&s);
	buf_free(&big);
	buf_free(&b);
}

/* ---- the stop step on cgroup files ---- */

static char cg_root[64];

/* put TEXT in cg_root/REL, making its directories */
static void put(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", cg_root, rel);
	*strrchr(path, '/') = 0;
	fs_mkdirs(path, 0755);
	path[strlen(path)] = '/';
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* run the stop step of UNIT as systemd would, on cg_root's files: the
 * cgroup mount is cg_root/fs, the process's cgroup file cg_root/self, the
 * record goes in cg_root/run; then read the record back */
static void stop_step(const char *unit, bool *oom, uint64_t *peak, uint64_t *cpu_us)
{
	char fs[128], self[128], run[128];
	snprintf(fs, sizeof fs, "%s/fs", cg_root);
	snprintf(self, sizeof self, "%s/self", cg_root);
	snprintf(run, sizeof run, "%s/run", cg_root);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", unit_stoppost_script(), "cce-task-stop", unit, fs, self,
		      run, (char *)NULL);
		_exit(127);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the stop step of %s ran", unit);
	units_stop_record_in(run, unit, oom, peak, cpu_us);
}

/* memory.events as Linux 6.1 (Debian 12) writes it, with oom_kill N */
static void v2_events(const char *rel, int kills)
{
	char text[256];
	snprintf(text, sizeof text, "low 0\nhigh 1721\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n",
		 kills * 40, kills, kills);
	put(rel, text);
}

static void test_stop_step(void)
{
	bool oom;
	uint64_t peak, cpu;
	snprintf(cg_root, sizeof cg_root, "/tmp/test_task.XXXXXX");
	ok(mkdtemp(cg_root) != NULL, "temp dir");

	/* cgroup v2: one hierarchy, the memory controller on it */
	put("self", "0::/system.slice/cce-hog@0.service\n");
	v2_events("fs/system.slice/cce-hog@0.service/memory.events", 1);
	put("fs/system.slice/cce-hog@0.service/memory.peak", "33554432\n");
	put("fs/system.slice/cce-hog@0.service/cpu.stat",
	    "usage_usec 81234\nuser_usec 1234\nsystem_usec 80000\nnr_periods 0\nnr_throttled 0\n"
	    "throttled_usec 0\nnr_bursts 0\nburst_usec 0\n");
	stop_step("cce-hog@0.service", &oom, &peak, &cpu);
	ok(oom && peak == 33554432 && cpu == 81234, "v2: an OOM kill, the peak and the CPU time");
	stop_step("cce-hog@0.service", &oom, &peak, &cpu);
	ok(!oom, "v2: the next stop of the same cgroup without a new kill is not one");
	v2_events("fs/system.slice/cce-hog@0.service/memory.events", 2);
	stop_step("cce-hog@0.service", &oom, &peak, &cpu);
	ok(oom, "v2: a second kill in the same cgroup is one");
	v2_events("fs/system.slice/cce-hog@0.service/memory.events", 0);
	stop_step("cce-hog@0.service", &oom, &peak, &cpu);
	ok(!oom, "v2: a new cgroup (the counter back at 0) is not one");
	v2_events("fs/system.slice/cce-hog@0.service/memory.events", 1);
	stop_step("cce-hog@0.service", &oom, &peak, &cpu);
	ok(oom, "v2: and its first kill is one");

	/* hybrid: memory on v1 (memory.oom_control as this kernel writes it),
	 * CPU time from the unified hierarchy */
	put("self", "9:name=systemd:/system.slice/cce-v1@0.service\n"
		    "4:memory:/system.slice/cce-v1@0.service\n0::/system.slice/cce-v1@0.service\n");
	put("fs/memory/system.slice/cce-v1@0.service/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	put("fs/memory/system.slice/cce-v1@0.service/memory.max_usage_in_bytes", "33558528\n");
	put("fs/unified/system.slice/cce-v1@0.service/cpu.stat",
	    "usage_usec 5000\nuser_usec 1000\nsystem_usec 4000\n");
	stop_step("cce-v1@0.service", &oom, &peak, &cpu);
	ok(oom && peak == 33558528 && cpu == 5000, "v1: an OOM kill, the peak and the CPU time");
	put("fs/memory/system.slice/cce-v1@0.service/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
	stop_step("cce-v1@0.service", &oom, &peak, &cpu);
	ok(!oom, "v1: no kill, no OOM");

	/* hybrid with the memory controller on the unified hierarchy */
	put("self", "9:name=systemd:/system.slice/cce-hy@0.service\n0::/system.slice/cce-hy@0.service\n");
	v2_events("fs/unified/system.slice/cce-hy@0.service/memory.events", 1);
	put("fs/unified/system.slice/cce-hy@0.service/memory.peak", "4096\n");
	stop_step("cce-hy@0.service", &oom, &peak, &cpu);
	ok(oom && peak == 4096, "hybrid, memory on the unified hierarchy: an OOM kill and the peak");

	/* nothing readable (the cgroup already gone): a record saying so */
	put("self", "0::/system.slice/gone.service\n");
	stop_step("gone.service", &oom, &peak, &cpu);
	ok(!oom && peak == 0 && cpu == UINT64_MAX, "no cgroup files: no OOM, no peak, no CPU time");

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", cg_root);
	ok(system(cmd) == 0, "cleaned up");
}

int main(void)
{
	test_parse();
	test_names();
	test_quote();
	test_render();
	test_stop_step();
	return done_testing();
}
