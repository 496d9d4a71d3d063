/*
 * clock: the only place that reads the time. watch/ never calls it: server/
 * passes times in, so tests can use fake ones. Any thread.
 */
#ifndef HC_CLOCK_H
#define HC_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (for timestamps users see). */
int64_t clock_wall_ms(void);
/* Milliseconds on a monotonic clock (for deadlines and latency). */
uint64_t clock_mono_ms(void);
/* Microseconds on the monotonic clock (for latency histograms). */
uint64_t clock_mono_us(void);
/* Writes ms as "2026-11-21T10:00:00.123Z" (24 chars + NUL) into out[32]. */
void clock_format_iso(int64_t ms, char out[32]);
/* Parses "2026-11-21T10:00:00Z" (optionally with .mmm) into ms since the
 * epoch; HC_ERR_INVALID otherwise. */
int clock_parse_iso(const char *s, int64_t *ms);
/* Writes ms as an HTTP date, "Sat, 21 Nov 2026 10:00:00 GMT", into out[40]. */
void clock_format_http(int64_t ms, char out[40]);

#endif
