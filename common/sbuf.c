/*
 * sbuf.c: the capped string buffer. See sbuf.h. One owner per sbuf.
 */
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "xmalloc.h"

char sbuf_empty[1];

void sbuf_init(sbuf *sb, size_t max)
{
	sb->buf = sbuf_empty;
	sb->len = 0;
	sb->alloc = 0;
	sb->max = max;
}

void sbuf_release(sbuf *sb)
{
	if (sb->alloc)
		free(sb->buf);
	sbuf_init(sb, sb->max);
}

char *sbuf_detach(sbuf *sb, size_t *len)
{
	char *p;

	if (len)
		*len = sb->len;
	p = sb->alloc ? sb->buf : xstrdup("");
	sbuf_init(sb, sb->max);
	return p;
}

void sbuf_reset(sbuf *sb)
{
	sb->len = 0;
	sb->buf[0] = '\0';
}

hc_err sbuf_grow(sbuf *sb, size_t n)
{
	size_t want, cap;

	if (n > sb->max || sb->len > sb->max - n)
		return HC_ERR_TOO_BIG;
	want = sb->len + n + 1;
	if (want <= sb->alloc)
		return HC_OK;
	cap = sb->alloc ? sb->alloc : 64;
	while (cap < want)
		cap = cap < ((size_t)-1) / 2 ? cap * 2 : want;
	if (!sb->alloc) {
		sb->buf = xmalloc(cap);
		sb->buf[0] = '\0';
	} else {
		sb->buf = xrealloc(sb->buf, cap);
	}
	sb->alloc = cap;
	return HC_OK;
}

hc_err sbuf_add(sbuf *sb, const void *data, size_t n)
{
	hc_err err = sbuf_grow(sb, n);

	if (err)
		return err;
	if (n)
		memcpy(sb->buf + sb->len, data, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return HC_OK;
}

hc_err sbuf_addstr(sbuf *sb, const char *s)
{
	return sbuf_add(sb, s, strlen(s));
}

hc_err sbuf_addch(sbuf *sb, char c)
{
	return sbuf_add(sb, &c, 1);
}

hc_err sbuf_vaddf(sbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	hc_err err;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return HC_ERR_INVALID;
	err = sbuf_grow(sb, (size_t)n);
	if (err)
		return err;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return HC_OK;
}

hc_err sbuf_addf(sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	hc_err err;

	va_start(ap, fmt);
	err = sbuf_vaddf(sb, fmt, ap);
	va_end(ap);
	return err;
}

hc_err sbuf_add_json_str(sbuf *sb, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t before = sb->len, i = 0, k;
	hc_err err = sbuf_addch(sb, '"');

	while (!err && i < n) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			err = sbuf_add(sb, esc, 2);
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			char esc[2] = {'\\', c == '\n' ? 'n' : c == '\r' ? 'r' : 't'};
			err = sbuf_add(sb, esc, 2);
			i++;
		} else if (c < 0x20) {
			err = sbuf_addf(sb, "\\u%04x", c);
			i++;
		} else if ((k = utf8_seq_len(p + i, n - i)) == 0) {
			err = sbuf_addstr(sb, "\xef\xbf\xbd");
			i++;
		} else {
			err = sbuf_add(sb, p + i, k);
			i += k;
		}
	}
	if (!err)
		err = sbuf_addch(sb, '"');
	if (err) {
		sb->len = before;
		sb->buf[before] = '\0';
	}
	return err;
}
