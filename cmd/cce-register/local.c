#include "local.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/statvfs.h>

#include "fsutil.h"
#include "json.h"
#include "registry.h"
#include "timeutil.h"

/* The bytes received and sent by every interface but the loopback, summed
 * (the node's traffic, whichever link carries it): -1 when
 * /proc/net/dev cannot be read. */
static int net_counters(unsigned long long *rx, unsigned long long *tx)
{
	FILE *f = fopen("/proc/net/dev", "r");
	if (!f)
		return -1;
	char line[512];
	*rx = *tx = 0;
	while (fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':'), *name = line;
		unsigned long long r, t;
		if (!colon)
			continue;       /* the two header lines */
		*colon = '\0';
		name += strspn(name, " ");
		if (strcmp(name, "lo") != 0 &&
		    sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) == 2) {
			*rx += r;
			*tx += t;
		}
	}
	fclose(f);
	return 0;
}

/* Network use since the last call: the counters now against those the last
 * call left in state ("MS RX TX"), which are then replaced. Nothing is
 * reported on the first call, after a reboot or a wrap (counters that went
 * down) or when the state cannot be read; a state that cannot be written
 * only costs the next call its figures. */
static void load_net(struct buf *b, const char *state, const char **sep)
{
	unsigned long long rx, tx, prx, ptx;
	long long pms;
	int64_t now = time_now_ms();
	if (!state || net_counters(&rx, &tx) < 0)
		return;
	FILE *f = fopen(state, "r");
	if (f) {
		if (fscanf(f, "%lld %llu %llu", &pms, &prx, &ptx) == 3 && now > pms && rx >= prx &&
		    tx >= ptx) {
			double dt = (double)(now - pms) / 1000;
			buf_addf(b, "%s\"rx_bps\":%.0f,\"tx_bps\":%.0f", *sep, (double)(rx - prx) / dt,
				 (double)(tx - ptx) / dt);
			*sep = ",";
		}
		fclose(f);
	}
	char text[96], err[256];
	int n = snprintf(text, sizeof text, "%lld %llu %llu\n", (long long)now, rx, tx);
	fs_replace(state, text, (size_t)n, 0644, err, sizeof err);
}

void load_auto(struct buf *b, const char *dir, const char *net_state)
{
	buf_addc(b, '{');
	const char *sep = "";
	FILE *f = fopen("/proc/loadavg", "r");
	double la;
	if (f) {
		if (fscanf(f, "%lf", &la) == 1) {
			buf_adds(b, "\"cpu\":");
			buf_add_double(b, la);
			sep = ",";
		}
		fclose(f);
	}
	f = fopen("/proc/meminfo", "r");
	if (f) {
		char line[256];
		long long total = -1, avail = -1, v;
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "MemTotal: %lld kB", &v) == 1)
				total = v;
			else if (sscanf(line, "MemAvailable: %lld kB", &v) == 1)
				avail = v;
		}
		fclose(f);
		if (total >= 0 && avail >= 0) {
			buf_addf(b, "%s\"mem_mb\":%lld", sep, (total - avail) / 1024);
			sep = ",";
		}
	}
	struct statvfs vs;
	if (dir && statvfs(dir, &vs) == 0) {
		unsigned long long used = (unsigned long long)(vs.f_blocks - vs.f_bfree) * vs.f_frsize;
		buf_addf(b, "%s\"disk_mb\":%llu", sep, used >> 20);
		sep = ",";
	}
	load_net(b, net_state, &sep);
	buf_addc(b, '}');
}

int load_pairs(struct buf *b, const char *spec, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		abort();
	size_t start = b->len;
	buf_addc(b, '{');
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end;
		double v = 0;
		if (eq)
			v = strtod(eq + 1, &end);
		if (!eq || eq == kv || eq[1] == 0 || *end || !isfinite(v)) {
			snprintf(err, errlen, "--load: expected auto or k=NUMBER,... not '%s'", kv);
			free(copy);
			b->len = start;
			return -1;
		}
		if (b->len > start + 1)
			buf_addc(b, ',');
		buf_add_json_str(b, kv, (size_t)(eq - kv));
		buf_addc(b, ':');
		buf_add_double(b, v);
	}
	buf_addc(b, '}');
	free(copy);
	return 0;
}

/* one status line's summary members, raw, into b */
static void task_members(struct buf *b, const struct json_doc *d)
{
	static const char *const keys[] = { "task", "replica", "state", "restarts", "oom" };
	buf_addc(b, '{');
	for (size_t i = 0, n = 0; i < sizeof keys / sizeof *keys; i++) {
		int v = json_get(d, 0, keys[i]);
		if (v < 0)
			continue;
		size_t len;
		const char *raw = json_raw(d, v, &len);
		buf_addf(b, "%s\"%s\":", n++ ? "," : "", keys[i]);
		buf_add(b, raw, len);
	}
	buf_addc(b, '}');
}

int tasks_read(struct buf *b, const char *path, char *err, size_t errlen)
{
	bool in = !strcmp(path, "-");
	const char *src = in ? "stdin" : path;
	FILE *f = in ? stdin : fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "--tasks: cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	struct json_doc d;
	json_doc_init(&d);
	char *line = NULL;
	size_t cap = 0, n = 0, start = b->len;
	ssize_t len;
	long lineno = 0;
	int r = 0;
	buf_addc(b, '[');
	while (b->len - start <= OP_MAX_RECORD && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (!len)
			continue;
		struct json_error je;
		bool json = json_parse(&d, line, (size_t)len, &je) == 0;
		if (!json || json_type_of(&d, 0) != JSON_OBJECT) {
			snprintf(err, errlen, "--tasks: %s:%ld: %s", src, lineno,
				 json ? "not a JSON object" : je.msg);
			r = -2;
			break;
		}
		if (n++)
			buf_addc(b, ',');
		task_members(b, &d);
	}
	buf_addc(b, ']');
	if (!r && ferror(f)) {
		snprintf(err, errlen, "--tasks: cannot read '%s': %s", path, strerror(errno));
		r = -1;
	}
	free(line);
	json_doc_free(&d);
	if (!in)
		fclose(f);
	if (r)
		b->len = start;
	return r;
}
