/*
 * md5.c: MD5 as specified by RFC 1321, written from the RFC's description
 * (sine-derived constants, four rounds of sixteen steps). No state.
 */
#include "md5.h"

#include <stdint.h>
#include <string.h>

/* Per-step left rotations, RFC 1321 section 3.4. */
static const unsigned md5_shift[64] = {
    7,	12, 17, 22, 7,	12, 17, 22, 7,	12, 17, 22, 7,	12, 17, 22, 5,	9,  14, 20, 5,	9,
    14, 20, 5,	9,  14, 20, 5,	9,  14, 20, 4,	11, 16, 23, 4,	11, 16, 23, 4,	11, 16, 23,
    4,	11, 16, 23, 6,	10, 15, 21, 6,	10, 15, 21, 6,	10, 15, 21, 6,	10, 15, 21,
};

/* T[i] = floor(2^32 * abs(sin(i + 1))), the RFC's table. */
static const uint32_t md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static uint32_t rotl(uint32_t x, unsigned c)
{
	return (x << c) | (x >> (32 - c));
}

static void md5_block(uint32_t st[4], const unsigned char *blk)
{
	uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];
	unsigned i;

	for (i = 0; i < 16; i++)
		m[i] = (uint32_t)blk[i * 4] | (uint32_t)blk[i * 4 + 1] << 8 |
		       (uint32_t)blk[i * 4 + 2] << 16 | (uint32_t)blk[i * 4 + 3] << 24;
	for (i = 0; i < 64; i++) {
		uint32_t f, tmp;
		unsigned g;
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		tmp = d;
		d = c;
		c = b;
		b = b + rotl(a + f + md5_t[i] + m[g], md5_shift[i]);
		a = tmp;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
}

void md5_init(md5_ctx *c)
{
	static const uint32_t iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

	memcpy(c->st, iv, sizeof(iv));
	c->n = 0;
}

void md5_update(md5_ctx *c, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t used = (size_t)(c->n % 64), take;

	c->n += n;
	if (used) {
		take = n < 64 - used ? n : 64 - used;
		memcpy(c->buf + used, p, take);
		p += take;
		n -= take;
		if (used + take < 64)
			return;
		md5_block(c->st, c->buf);
	}
	for (; n >= 64; n -= 64, p += 64)
		md5_block(c->st, p);
	if (n)
		memcpy(c->buf, p, n);
}

void md5_final(md5_ctx *c, unsigned char out[MD5_LEN])
{
	static const unsigned char pad[64] = {0x80};
	unsigned char len[8];
	uint64_t bits = c->n * 8;
	size_t used = (size_t)(c->n % 64), i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (8 * i));
	/* Pad to 56 bytes past a block boundary, then the length fills the block. */
	md5_update(c, pad, used < 56 ? 56 - used : 120 - used);
	md5_update(c, len, 8);
	for (i = 0; i < MD5_LEN; i++)
		out[i] = (unsigned char)(c->st[i / 4] >> (8 * (i % 4)));
}

void md5_hex(const void *data, size_t n, char hex[MD5_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char d[MD5_LEN];
	md5_ctx c;
	size_t i;

	md5_init(&c);
	md5_update(&c, data, n);
	md5_final(&c, d);
	for (i = 0; i < MD5_LEN; i++) {
		hex[i * 2] = digits[d[i] >> 4];
		hex[i * 2 + 1] = digits[d[i] & 15];
	}
	hex[MD5_HEX_LEN] = '\0';
}
