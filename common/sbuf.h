/*
 * sbuf: a growable, capped byte buffer (git's strbuf plus curl's size cap).
 *
 * buf is never NULL and always NUL-terminated, so sbuf_init'd buffers can be
 * passed as C strings at once. Every sbuf has a max; an append that would pass
 * it returns HC_ERR_TOO_BIG and leaves the buffer unchanged. That is where the
 * 413 for an oversized body comes from. The sbuf owns buf until
 * sbuf_release() or sbuf_detach(). Not thread-safe: one owner at a time.
 */
#ifndef HC_SBUF_H
#define HC_SBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "hc_err.h"

typedef struct sbuf {
	char *buf;
	size_t len;   /* bytes in use, excluding the trailing NUL */
	size_t alloc; /* 0 while buf points at the shared empty string */
	size_t max;   /* len may never exceed this */
} sbuf;

extern char sbuf_empty[];
#define SBUF_INIT(cap)                                                                             \
	{                                                                                          \
		sbuf_empty, 0, 0, (cap)                                                            \
	}
#define SBUF_NOMAX ((size_t)-1 / 2)

/* Sets sb to an empty buffer capped at max bytes. */
void sbuf_init(sbuf *sb, size_t max);
/* Frees the memory; sb is left empty and reusable. */
void sbuf_release(sbuf *sb);
/* Hands buf to the caller (free() it); *len gets its length if not NULL. */
char *sbuf_detach(sbuf *sb, size_t *len);
/* Empties sb without freeing its memory. */
void sbuf_reset(sbuf *sb);
/* Makes room for n more bytes; HC_ERR_TOO_BIG if len + n > max. */
hc_err sbuf_grow(sbuf *sb, size_t n);
/* Appends n bytes (they may contain NULs). */
hc_err sbuf_add(sbuf *sb, const void *data, size_t n);
hc_err sbuf_addstr(sbuf *sb, const char *s);
hc_err sbuf_addch(sbuf *sb, char c);
/* printf-style append. */
hc_err sbuf_addf(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
hc_err sbuf_vaddf(sbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included. Invalid UTF-8 bytes are
 * written as U+FFFD so the result is always valid JSON. */
hc_err sbuf_add_json_str(sbuf *sb, const char *s, size_t n);

#endif
