/*
 * pct: percent-encoding, both flavours hotconf meets: URIs (RFC 3986: path
 * segments and query values) and HTML forms (x-www-form-urlencoded, where a
 * space is '+', as Java's URLEncoder writes it). Pure; any thread.
 */
#ifndef HC_PCT_H
#define HC_PCT_H

#include <stddef.h>

#include "sbuf.h"

typedef enum pct_flavour {
	PCT_URI, /* unreserved kept: letters, digits, "-._~"; '+' is a '+' */
	PCT_FORM /* letters, digits, ".-*_" kept; ' ' <-> '+' */
} pct_flavour;

/* s[0..n) decoded into a new string (the caller frees it); NULL when an
 * escape is malformed or decodes to a NUL (a name cut short by one could
 * alias another). */
char *pct_decode(const char *s, size_t n, pct_flavour f);
/* Appends s[0..n) encoded to out (upper-case hex). */
void pct_encode(sbuf *out, const char *s, size_t n, pct_flavour f);

#endif
