/* Unit tests of lib/fsutil, lib/timeutil, lib/hash, lib/out. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "out.h"
#include "timeutil.h"
#include "t.h"

int main(void)
{
	char dir[] = "/tmp/cce-unit-XXXXXX";
	ok(mkdtemp(dir) != NULL, "temp dir");
	char path[256], err[512];
	snprintf(path, sizeof path, "%s/a/b/c", dir);
	ok(fs_mkdirs(path, 0700) == 0, "mkdirs");
	ok(fs_mkdirs(path, 0700) == 0, "mkdirs again");
	snprintf(path, sizeof path, "%s/a/state.json", dir);
	ok(fs_replace(path, "one", 3, 0600, err, sizeof err) == 0, "replace creates");
	ok(fs_replace(path, "two!", 4, 0600, err, sizeof err) == 0, "replace overwrites");
	struct buf b = BUF_INIT;
	ok(fs_read_file(path, 1 << 20, &b, err, sizeof err) == 0 && strcmp(b.data, "two!") == 0, "read back");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	buf_reset(&b);
	ok(fs_read_file(path, 2, &b, err, sizeof err) < 0, "size limit");
	ok(fs_read_file("/nonexistent/x", 10, &b, err, sizeof err) < 0, "missing file");
	is_str(err, "cannot open '/nonexistent/x': No such file or directory", "open message");
	ok(fs_replace("/nonexistent/dir/f", "x", 1, 0600, err, sizeof err) < 0, "replace in missing dir fails");
	snprintf(path, sizeof path, "%s/log", dir);
	ok(fs_append(path, "a\n", 2, 0644, true, err, sizeof err) == 0 &&
	   fs_append(path, "b\n", 2, 0644, false, err, sizeof err) == 0, "append");
	buf_reset(&b);
	fs_read_file(path, 100, &b, err, sizeof err);
	is_str(b.data, "a\nb\n", "appended content");

	snprintf(path, sizeof path, "%s/lock", dir);
	int fd = fs_lock(path, false, err, sizeof err);
	ok(fd >= 0, "lock taken");
	pid_t child = fork();
	if (child == 0) {
		char e2[512];
		int f2 = fs_lock(path, false, e2, sizeof e2);
		char want[512];
		snprintf(want, sizeof want, "'%s' is locked by pid %ld", path, (long)getppid());
		_exit(f2 < 0 && strcmp(e2, want) == 0 ? 0 : 1);
	}
	int ws;
	waitpid(child, &ws, 0);
	ok(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "second lock refused naming the holder pid");
	fs_unlock(fd);
	fd = fs_lock(path, false, err, sizeof err);
	ok(fd >= 0, "lock again after release");
	fs_unlock(fd);

	char home[512];
	setenv("CCE_HOME", "/x/y", 1);
	ok(cce_home(home, sizeof home) == 0 && strcmp(home, "/x/y") == 0, "CCE_HOME");
	unsetenv("CCE_HOME");
	setenv("XDG_STATE_HOME", "/s", 1);
	ok(cce_home(home, sizeof home) == 0 && strcmp(home, "/s/cce") == 0, "XDG_STATE_HOME");
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", "/h", 1);
	ok(cce_home(home, sizeof home) == 0 && strcmp(home, "/h/.local/state/cce") == 0, "HOME fallback");

	/* cce_home_ready: a named directory only below what exists, HOME never */
	char want[1024], sub[300];
	snprintf(sub, sizeof sub, "%s/miss/zz", dir);
	setenv("CCE_HOME", sub, 1);
	ok(cce_home_ready(home, sizeof home, err, sizeof err) < 0 && errno == ENOENT,
	   "CCE_HOME below a missing parent: refused");
	snprintf(want, sizeof want, "cannot create CCE_HOME '%s/miss/zz': '%s/miss' does not exist", dir, dir);
	is_str(err, want, "naming the missing parent");
	snprintf(sub, sizeof sub, "%s/miss", dir);
	ok(access(sub, F_OK) < 0, "and making nothing");
	snprintf(sub, sizeof sub, "%s/made/", dir);
	setenv("CCE_HOME", sub, 1);
	ok(cce_home_ready(home, sizeof home, err, sizeof err) == 0 && !strcmp(home, sub) &&
	   stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	   "CCE_HOME below an existing parent: made 0700");
	ok(cce_home_ready(home, sizeof home, err, sizeof err) == 0, "and used as is the next time");
	snprintf(sub, sizeof sub, "%s/log", dir);
	setenv("CCE_HOME", sub, 1);
	ok(cce_home_ready(home, sizeof home, err, sizeof err) < 0 && errno == ENOTDIR, "a file: refused");
	unsetenv("CCE_HOME");
	snprintf(sub, sizeof sub, "%s/nohome", dir);
	setenv("HOME", sub, 1);
	ok(cce_home_ready(home, sizeof home, err, sizeof err) < 0 && errno == ENOENT &&
	   access(sub, F_OK) < 0, "a missing HOME is not made");
	snprintf(sub, sizeof sub, "%s/a", dir);
	setenv("HOME", sub, 1);
	snprintf(want, sizeof want, "%s/a/.local/state/cce", dir);
	ok(cce_home_ready(home, sizeof home, err, sizeof err) == 0 && !strcmp(home, want) &&
	   stat(want, &st) == 0 && (st.st_mode & 0777) == 0700, "the default is made below HOME, 0700");
	unsetenv("HOME");
	ok(cce_home_ready(home, sizeof home, err, sizeof err) < 0 && errno == ENOENT, "no home at all");
	is_str(err, "cannot find a state directory: set CCE_HOME or HOME", "says what to set");

	int64_t ms;
	ok(time_parse_rfc3339("2023-11-14T22:13:20Z", 20, &ms) == 0 && ms == 1700000000000LL, "rfc3339 Z");
	ok(time_parse_rfc3339("2023-11-14T23:13:20.5+01:00", 27, &ms) == 0 && ms == 1700000000500LL, "rfc3339 offset");
	ok(time_parse_rfc3339("2023-02-29T00:00:00Z", 20, &ms) < 0, "not a leap year");
	ok(time_parse_rfc3339("2024-02-29T00:00:00Z", 20, &ms) == 0, "leap year");
	ok(time_parse_rfc3339("2023-11-14 22:13:20", 19, &ms) < 0, "offset required");
	char t[32];
	time_format_rfc3339(1700000000250LL, t);
	is_str(t, "2023-11-14T22:13:20.250Z", "format");

	unsigned char dg[SHA256_LEN];
	char hex[SHA256_HEX_LEN];
	sha256("abc", 3, dg);
	hex_encode(dg, SHA256_LEN, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, "a", 1);
	sha256_update(&c, "bc", 2);
	unsigned char dg2[SHA256_LEN];
	sha256_final(&c, dg2);
	ok(hash_equal(dg, dg2, SHA256_LEN), "incremental sha256");
	hmac_sha256("key", 3, "The quick brown fox jumps over the lazy dog", 43, dg);
	hex_encode(dg, SHA256_LEN, hex);
	is_str(hex, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8", "hmac-sha256");
	unsigned char back[SHA256_LEN];
	ok(hex_decode(hex, 64, back, SHA256_LEN) == 0 && hash_equal(back, dg, SHA256_LEN), "hex round trip");
	ok(hex_decode("zz", 2, back, 1) < 0, "bad hex");

	/* out: EPIPE is a quiet stop, not an error */
	signal(SIGPIPE, SIG_IGN);
	int p[2];
	ok(pipe(p) == 0, "pipe");
	close(p[0]);
	struct out o;
	out_init(&o, p[1], true);
	out_line(&o, "{}", 2);
	ok(o.closed && !o.err, "EPIPE sets closed, not err");
	out_free(&o);
	close(p[1]);
	int full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		out_init(&o, full, false);
		out_line(&o, "{}", 2);
		ok(out_flush(&o) < 0 && o.err == ENOSPC, "ENOSPC is an error");
		out_free(&o);
		close(full);
	}
	buf_free(&b);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ok(system(cmd) == 0, "cleanup");
	return done_testing();
}
