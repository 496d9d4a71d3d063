/*
 * gray: the matching core of gray releases. A gray rule's match says which
 * instances get a config's gray content instead of its main content; this
 * module compiles a match, parses an instance's inputs once, and decides.
 * No HTTP, JSON or SQL: server/ parses request bodies and hands over C
 * strings; watch/ keeps a gray_inst per parked watcher and re-runs
 * gray_pick() when a rule changes.
 *
 * A match has up to three fields, ANDed; a field left out matches every
 * instance, and at least one is required:
 *
 *   ips      addresses or CIDR ranges, IPv4 or IPv6 (at most GRAY_MAX_IPS);
 *            true when the instance's IP lies in any of them. IPv4-mapped
 *            IPv6 (::ffff:a.b.c.d, on either side) counts as IPv4; other
 *            IPv6 ranges (::/0 included) never match an IPv4 address.
 *   labels   a Kubernetes-style selector: requirements separated by ',', all
 *            of which must hold, with spaces or tabs around any token:
 *              k=v  k==v   k has value v
 *              k!=v        k is absent or has another value
 *              k in (a,b)  k has one of the values
 *              k notin (a,b)  k is absent or has none of them
 *              k           k is present (with any value, "" included)
 *              !k          k is absent
 *            Keys are 1 or more of [A-Za-z0-9._/-]; values are 0 or more of
 *            the same (so "k=" and "k!=" test the empty value), except that
 *            the values of in/notin are never empty and a set has at least
 *            one. "in" and "notin" after a key are operators, never keys.
 *            The whole selector is at most GRAY_SELECTOR_MAX bytes.
 *   percent  "0" to "100" with at most two decimals ("5", "12.5", "0.01");
 *            no sign, spaces or exponent, a digit on both sides of '.'
 *            (leading zeros are allowed: "007" is 7).
 *            The instance matches when gray_bucket(salt, key) < percent*100,
 *            key being its id, or its IP when it sent no id (see below).
 *            Buckets never move, so raising a rule's percent only adds
 *            instances and lowering it only removes them.
 *
 * The bucket formula, fixed forever once shipped (changing it would move
 * instances between gray and main):
 *
 *   d      = MD5(salt)                            (RFC 1321, bytes as given)
 *   k0, k1 = d[0..8) and d[8..16), each read little-endian
 *   bucket = SipHash-2-4(k0, k1; key) mod 10000    (siphash.h)
 *
 * where key is the instance id when it is not empty; otherwise the instance
 * IP in canonical text (cidr_addr_text: dotted decimal for IPv4 and for
 * IPv4-mapped IPv6, RFC 5952 for IPv6) when it parses as an address, else
 * the IP text exactly as given (so "" for an instance with neither).
 *
 * Errors are HC_ERR_INVALID with one sentence in *why naming the field:
 * "match.ips[2] ...", "match.labels at 14: expected ...", "match.percent ...".
 * Selector positions are 0-based byte offsets into the selector (it is ASCII
 * up to any error, so they are also character offsets).
 *
 * Ownership: compiled rules and parsed instances are heap handles the caller
 * owns; both copy what they need, so inputs may die right after the call.
 * Threading: nothing is shared; a handle may be read from any number of
 * threads at once (matching never writes), freed by one.
 */
#ifndef HC_GRAY_H
#define HC_GRAY_H

#include <stddef.h>

#include "hc_err.h"
#include "sbuf.h"

#define GRAY_MAX_IPS 256       /* entries in match.ips */
#define GRAY_MAX_RULES 16      /* gray rules per config; callers enforce it */
#define GRAY_SELECTOR_MAX 4096 /* bytes in match.labels */
#define GRAY_BUCKETS 10000     /* gray_bucket() is in 0..GRAY_BUCKETS-1 */

/* A compiled match, opaque. */
typedef struct gray_rule gray_rule;
/* An instance's match inputs, parsed once, opaque. */
typedef struct gray_inst gray_inst;

/* Compiles a match. ips[0..nips) is the ips field when has_ips is set (an
 * empty list is refused: leave the field out instead); selector and percent
 * are the labels and percent fields, NULL when left out. salt seeds the
 * percent buckets (the rule's stable id, say); it is copied and only used
 * when percent is given. On success *out owns the rule (gray_rule_free); on
 * failure *out is NULL and *why has the reason. */
hc_err gray_rule_compile(const char *const *ips, size_t nips, int has_ips, const char *selector,
			 const char *percent, const char *salt, gray_rule **out, sbuf *why);
/* Frees a rule; NULL is a no-op. */
void gray_rule_free(gray_rule *r);

/* Parses an instance: id (NULL or "" when it sent none), ip (text, NULL or
 * "" when unknown; text that is not an address matches no ips entry but is
 * still a percent key) and labels ("k=v,k2=v2", the format val_labels()
 * accepts; NULL or "" for none; when a key repeats, the last value counts).
 * On success *out owns the instance (gray_inst_free); on failure *out is
 * NULL and *why says what is wrong with labels. */
hc_err gray_inst_new(const char *id, const char *ip, const char *labels, gray_inst **out,
		     sbuf *why);
/* Frees an instance; NULL is a no-op. */
void gray_inst_free(gray_inst *i);

/* 1 when the instance satisfies every field of the rule's match, else 0.
 * Allocates nothing. */
int gray_rule_matches(const gray_rule *r, const gray_inst *i);
/* The bucket of key under salt, 0..GRAY_BUCKETS-1, by the formula above. */
unsigned gray_bucket(const char *salt, const char *key);
/* A percent given in hundredths (0..GRAY_BUCKETS) as the grammar above
 * writes it, shortest form: 2500 "25", 1250 "12.5", 5 "0.05". */
void gray_percent_text(int hundredths, char out[16]);
/* The index of the rule that decides for the instance, or -1 for main:
 * among the rules that match, the highest priority[k]; among equal
 * priorities, the lowest index. rules[0..n) must be in creation order,
 * oldest first, so the older rule wins a tie; NULL entries are skipped. */
int gray_pick(const gray_rule *const *rules, const int *priority, size_t n, const gray_inst *i);

#endif
