#include "local.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

void load_auto(struct buf *b, const char *dir)
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
	}
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
