/*
 * md5: RFC 1321 digests, for config content fingerprints (ETag, watch
 * compare). Not for security. Pure functions; any thread.
 */
#ifndef HC_MD5_H
#define HC_MD5_H

#include <stddef.h>

#define MD5_HEX_LEN 32

/* Writes the lowercase hex md5 of data[0..n) and a NUL into hex[33]. */
void md5_hex(const void *data, size_t n, char hex[MD5_HEX_LEN + 1]);

#endif
