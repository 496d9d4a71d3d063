/*
 * md5: RFC 1321 digests, for config content fingerprints (ETag, watch
 * compare) and gray-release buckets. Not for security. Pure functions; an
 * md5_ctx belongs to one thread at a time.
 */
#ifndef HC_MD5_H
#define HC_MD5_H

#include <stddef.h>
#include <stdint.h>

#define MD5_HEX_LEN 32
#define MD5_LEN 16

/* An incremental digest: md5_init, any number of md5_update, md5_final. The
 * caller embeds it; it holds no heap memory. */
typedef struct md5_ctx {
	uint32_t st[4];
	uint64_t n; /* bytes hashed so far */
	unsigned char buf[64];
} md5_ctx;

/* Starts a digest of the empty message. */
void md5_init(md5_ctx *c);
/* Appends data[0..n) to the message. */
void md5_update(md5_ctx *c, const void *data, size_t n);
/* Writes the 16-byte digest (RFC 1321 byte order) to out; c is then spent:
 * md5_init it again before reuse. */
void md5_final(md5_ctx *c, unsigned char out[MD5_LEN]);

/* Writes the lowercase hex md5 of data[0..n) and a NUL into hex[33]. */
void md5_hex(const void *data, size_t n, char hex[MD5_HEX_LEN + 1]);

#endif
