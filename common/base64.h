/*
 * base64: RFC 4648 encoding (standard alphabet, padded), for binary content
 * inside JSON. Pure; any thread.
 */
#ifndef HC_BASE64_H
#define HC_BASE64_H

#include <stddef.h>

#include "sbuf.h"

/* Appends the encoding of data[0..n) to out. */
hc_err base64_encode(sbuf *out, const void *data, size_t n);

#endif
