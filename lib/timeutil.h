/*
 * timeutil: clocks and the contract's time formats.
 *
 * Promises: times are int64 milliseconds since the Unix epoch (UTC).
 * time_parse_rfc3339 accepts "2024-05-01T12:00:00Z", with optional
 * fraction and a Z or +hh:mm offset ('t' and a space are also taken for
 * 'T'); anything else fails with -1. Nothing allocates.
 */
#ifndef CCE_TIMEUTIL_H
#define CCE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);       /* wall clock */
int64_t time_mono_ms(void);      /* monotonic, for timeouts */
int time_parse_rfc3339(const char *s, size_t n, int64_t *ms);
/* "2024-05-01T12:00:00.250Z"; out needs 32 bytes */
void time_format_rfc3339(int64_t ms, char out[32]);

#endif
