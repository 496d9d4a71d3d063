/* pct.c: percent-encoding (pct.h). */
#include "pct.h"

#include <stdlib.h>

#include "xmalloc.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *pct_decode(const char *s, size_t n, pct_flavour f)
{
	char *out = xmalloc(n + 1), *o = out;
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+' && f == PCT_FORM) {
			*o++ = ' ';
			continue;
		}
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n)
			goto fail;
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto fail;
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

void pct_encode(sbuf *out, const char *s, size_t n, pct_flavour f)
{
	static const char hex[] = "0123456789ABCDEF";
	/* Kept as they are, beyond letters and digits. */
	const char *keep = f == PCT_FORM ? ".-*_" : "-._~";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *k;
		for (k = keep; *k && *k != (char)c; k++)
			;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    *k) {
			sbuf_addch(out, (char)c);
		} else if (c == ' ' && f == PCT_FORM) {
			sbuf_addch(out, '+');
		} else {
			sbuf_addch(out, '%');
			sbuf_addch(out, hex[c >> 4]);
			sbuf_addch(out, hex[c & 15]);
		}
	}
}
