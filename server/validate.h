/*
 * validate: pure checks and parsers for what clients send: names, durations,
 * label lists, ETag lists, and json/yaml content. Each returns an
 * hc_err and, on failure, a sentence for the user in *why (an sbuf the caller
 * owns). No state; any thread.
 */
#ifndef HC_VALIDATE_H
#define HC_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"

/* The deepest nesting of arrays/objects (json) or sequences/mappings (yaml)
 * that val_content() accepts. */
#define VAL_MAX_DEPTH 512
/* What val_duration() gives for any longer duration: 100 years (of 365.25
 * days) in milliseconds. Callers cap it further (e.g. by --max-wait). */
#define VAL_DURATION_MAX_MS (36525ULL * 86400000ULL)

/* 1 when the n bytes at s are a name: 1-128 bytes of [A-Za-z0-9._:-], and
 * neither "." nor "..". An embedded NUL, '/' or any other byte makes it 0. */
int val_name_okn(const char *s, size_t n);
/* HC_ERR_INVALID with "<what> '<s>' is invalid: <why>; use ..." in *why when
 * !val_name_okn(s, n); the name is quoted with NUL shown as \0 and other
 * bytes outside printable ASCII as \xHH. */
hc_err val_namen(const char *what, const char *s, size_t n, sbuf *why);
/* val_name_okn() and val_namen() of the NUL-terminated string s. */
int val_name_ok(const char *s);
hc_err val_name(const char *what, const char *s, sbuf *why);

/* Parses "250ms", "30s", "2m", "1h" or "30" (seconds) into *ms: digits, then
 * an optional ms, s, m or h, nothing else. A duration longer than
 * VAL_DURATION_MAX_MS (however many digits) gives VAL_DURATION_MAX_MS: it
 * saturates, it never wraps. */
hc_err val_duration(const char *s, uint64_t *ms, sbuf *why);
/* now_ms + wait_ms, or UINT64_MAX when that does not fit: a deadline that
 * never wraps into the past. */
uint64_t val_deadline(uint64_t now_ms, uint64_t wait_ms);
/* Parses a non-negative decimal integer (digits only: no sign, no spaces)
 * into *out. Values above INT64_MAX are HC_ERR_INVALID, never wrapped. */
hc_err val_int(const char *s, int64_t *out);

/* Checks "k=v,k2=v2" (keys [A-Za-z0-9._/-]+, values without ',' or '=',
 * spaces around items ignored) and writes the normalised list to *out. */
hc_err val_labels(const char *s, sbuf *out, sbuf *why);

/* 1 when the If-None-Match / If-Match value lists md5 (quoted, weak W/ or
 * bare), or is "*" and any_ok is set. */
int val_etag_match(const char *header, const char *md5, int any_ok);
/* Copies the first md5 of an ETag list into out[33]; 0 when there is none. */
int val_etag_first(const char *header, char out[33]);

/* Validates json and yaml content; other formats always pass. On failure
 * HC_ERR_INVALID and *why says "invalid <format> at line L, column C: ..."
 * (both from 1, columns in characters), e.g. "nesting deeper than 512 levels",
 * "invalid UTF-8" or "control character U+0000 in a string". json is RFC 8259
 * checked in one pass; yaml is parsed by libyaml and stopped at the first
 * collection past VAL_MAX_DEPTH. Time is linear in len (for yaml, with a
 * factor up to the flow nesting depth, at most VAL_MAX_DEPTH). */
hc_err val_content(const char *format, const char *data, size_t len, sbuf *why);

#endif
