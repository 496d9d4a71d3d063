/*
 * hc_log: one-line diagnostics to stderr with a UTC timestamp. Any thread
 * (each line is written with a single fputs under stdio's lock).
 */
#ifndef HC_LOG_H
#define HC_LOG_H

/* Logs "2026-11-21T10:00:00.123Z hotconf: <message>\n". */
void hc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
