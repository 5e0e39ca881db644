/*
 * logs: the journal of a task's units through sd-journal, one JSON line
 * per entry: {"ts","task","replica","unit","priority","message"}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "diag.h"
#include "sig.h"
#include "task.h"
#include "timeutil.h"
#include "units.h"

static int field(sd_journal *j, const char *name, const char **v, size_t *n)
{
	const void *d;
	size_t len, k = strlen(name);
	if (sd_journal_get_data(j, name, &d, &len) < 0 || len <= k)
		return -1;
	*v = (const char *)d + k + 1;
	*n = len - k - 1;
	return 0;
}

static void entry(sd_journal *j, struct out *out, struct buf *b)
{
	const char *unit, *msg, *prio;
	size_t ulen, mlen, plen;
	uint64_t us = 0;
	/* systemd's lines about a unit name it in UNIT */
	if (field(j, "UNIT", &unit, &ulen) < 0 && field(j, "_SYSTEMD_UNIT", &unit, &ulen) < 0)
		return;
	char name[256];
	snprintf(name, sizeof name, "%.*s", (int)ulen, unit);
	buf_reset(b);
	sd_journal_get_realtime_usec(j, &us);
	units_head(b, name);
	buf_addf(b, ",\"ts\":%llu", (unsigned long long)(us / 1000));
	if (field(j, "PRIORITY", &prio, &plen) == 0 && plen == 1)
		buf_addf(b, ",\"priority\":%c", prio[0]);
	buf_adds(b, ",\"message\":");
	if (field(j, "MESSAGE", &msg, &mlen) == 0)
		buf_add_json_str(b, msg, mlen);
	else
		buf_adds(b, "null");
	buf_addc(b, '}');
	out_line(out, b->data, b->len);
}

int cmd_logs(struct out *out, const char *task, int64_t since_ms, bool follow)
{
	sd_journal *j;
	int r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		diag_error("cannot open the journal: %s", strerror(-r));
		return CCE_EX_UNAVAILABLE;
	}
	/* the units' own lines (_SYSTEMD_UNIT) and systemd's about them
	 * (UNIT), for every replica: the unique values name them */
	const void *d;
	size_t len;
	char name[512];
	static const char *const keys[] = { "_SYSTEMD_UNIT", "UNIT" };
	for (size_t k = 0; k < 2; k++) {
		if (sd_journal_query_unique(j, keys[k]) < 0)
			continue;
		SD_JOURNAL_FOREACH_UNIQUE(j, d, len) {
			char *t;
			int64_t rep;
			size_t kl = strlen(keys[k]) + 1;
			snprintf(name, sizeof name, "%.*s", (int)(len - kl), (const char *)d + kl);
			if (unit_parse_name(name, &t, &rep) < 0)
				continue;
			if (!strcmp(t, task))
				sd_journal_add_match(j, d, len);
			free(t);
		}
		sd_journal_add_disjunction(j);
	}
	if (since_ms)
		sd_journal_seek_realtime_usec(j, (uint64_t)(time_now_ms() - since_ms) * 1000);
	else
		sd_journal_seek_head(j);
	struct buf b;
	buf_init(&b);
	while (!out_done(out) && !sig_stop) {
		r = sd_journal_next(j);
		if (r > 0) {
			entry(j, out, &b);
			continue;
		}
		if (r < 0 || !follow)
			break;
		out_flush(out);
		sd_journal_wait(j, 1000000);
	}
	buf_free(&b);
	sd_journal_close(j);
	return r < 0 ? CCE_EX_IOERR : 0;
}
