/*
 * cidr: IPv4 and IPv6 addresses and address ranges ("10.0.0.0/8",
 * "fd00::/8", or a bare address, which is a range of one). Used by server/
 * for --trusted-proxy and by gray/ for match.ips. A cidr is a plain value the
 * caller embeds: no heap memory, no state; any thread.
 */
#ifndef HC_CIDR_H
#define HC_CIDR_H

#include <netinet/in.h>

#include "hc_err.h"

/* Room for the longest text cidr_addr_text() writes, NUL included. */
#define CIDR_TEXT_MAX 46

/* An address range, IPv4 or IPv6; an address is a range of 32 or 128 bits. */
typedef struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits; /* 0-32 or 0-128 */
} cidr;

/* Parses "10.0.0.0/8", "::1/128" or a bare address (inet_pton's forms: four
 * dotted decimals, RFC 4291 IPv6, no zone). The prefix length is decimal
 * digits only (no sign or spaces), at most 32 or 128. Host bits past the prefix are allowed and
 * ignored when matching. */
hc_err cidr_parse(const char *s, cidr *out);
/* 1 when the textual address ip, of c's own family, lies in c. */
int cidr_match(const cidr *c, const char *ip);
/* 1 when the address a (its bits are not looked at) has range's family and
 * lies in range. */
int cidr_contains(const cidr *range, const cidr *a);
/* Rewrites an IPv4-mapped IPv6 range (::ffff:0:0/96 and narrower) as the IPv4
 * range it stands for: ::ffff:10.0.0.0/104 becomes 10.0.0.0/8. Anything else
 * is left as it is. */
void cidr_unmap(cidr *c);
/* Writes c's address (not its prefix) as text into out: dotted decimal for
 * IPv4, RFC 5952 for IPv6 (lowercase, no leading zeros, the longest run of
 * two or more zero groups, the first of equal runs, written "::"). */
void cidr_addr_text(const cidr *c, char out[CIDR_TEXT_MAX]);

#endif
