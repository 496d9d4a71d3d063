/*
 * utf8: validation of UTF-8 byte strings (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). Pure functions; any thread.
 */
#ifndef HC_UTF8_H
#define HC_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid sequence starting at s, reading at most n > 0
 * bytes, or 0 when the bytes there are not valid UTF-8. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* 1 when all n bytes of s are valid UTF-8, else 0. */
int utf8_valid(const char *s, size_t n);

#endif
