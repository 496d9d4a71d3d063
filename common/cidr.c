/*
 * cidr.c: see cidr.h. Parsing is inet_pton's; the text form is written here
 * rather than by inet_ntop, whose IPv6 output differs between C libraries
 * (and gray/ hashes it). Pure functions; any thread.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The prefix length after the '/': decimal digits (leading zeros allowed, as
 * server/ always took them), at most max. */
static int parse_bits(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= max) /* past max the answer is "no" whatever follows: stop growing */
			v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

hc_err cidr_parse(const char *s, cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n == 0 || n >= sizeof(addr))
		return HC_ERR_INVALID;
	memcpy(addr, s, n);
	addr[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else {
		return HC_ERR_INVALID;
	}
	if (slash && parse_bits(slash + 1, out->bits, &out->bits))
		return HC_ERR_INVALID;
	return HC_OK;
}

int cidr_contains(const cidr *range, const cidr *a)
{
	unsigned full = range->bits / 8, rest = range->bits % 8;
	unsigned char mask;

	if (a->family != range->family)
		return 0;
	if (memcmp(a->addr, range->addr, full))
		return 0;
	if (!rest)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a->addr[full] & mask) == (range->addr[full] & mask);
}

int cidr_match(const cidr *c, const char *ip)
{
	cidr a;

	memset(&a, 0, sizeof(a));
	a.family = c->family;
	if (inet_pton(c->family, ip, a.addr) != 1)
		return 0;
	return cidr_contains(c, &a);
}

void cidr_unmap(cidr *c)
{
	if (c->family != AF_INET6 || c->bits < 96 || memcmp(c->addr, v4_mapped, 12))
		return;
	memmove(c->addr, c->addr + 12, 4);
	memset(c->addr + 4, 0, 12);
	c->family = AF_INET;
	c->bits -= 96;
}

void cidr_addr_text(const cidr *c, char out[CIDR_TEXT_MAX])
{
	unsigned g[8];
	int i, best = -1, best_len = 1, run = 0;
	size_t n = 0;

	if (c->family == AF_INET) {
		snprintf(out, CIDR_TEXT_MAX, "%u.%u.%u.%u", c->addr[0], c->addr[1], c->addr[2],
			 c->addr[3]);
		return;
	}
	for (i = 0; i < 8; i++) {
		g[i] = (unsigned)c->addr[2 * i] << 8 | c->addr[2 * i + 1];
		run = g[i] ? 0 : run + 1;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	out[0] = '\0';
	for (i = 0; i < 8; i++) {
		if (i == best) {
			n += (size_t)snprintf(out + n, CIDR_TEXT_MAX - n, "::");
			i += best_len - 1;
			continue;
		}
		n += (size_t)snprintf(out + n, CIDR_TEXT_MAX - n, "%s%x",
				      i && i != best + best_len ? ":" : "", g[i]);
	}
}
