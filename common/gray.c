/*
 * gray.c: see gray.h. Compiling copies the selector once and keeps its
 * requirements as spans into that copy; parsing an instance does the same
 * for its labels, so matching compares bytes and hashes, and never
 * allocates. Pure functions over the handles; any thread.
 */
#include "gray.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "md5.h"
#include "siphash.h"
#include "xmalloc.h"

/* n bytes at off in the string the handle copied. */
typedef struct span {
	size_t off, len;
} span;

enum req_op { REQ_EQ, REQ_NE, REQ_IN, REQ_NOTIN, REQ_EXISTS, REQ_ABSENT };

/* One selector requirement; its values are vals[first..first+nvals). */
typedef struct req {
	enum req_op op;
	span key;
	size_t first, nvals;
} req;

struct gray_rule {
	int has_ips, has_percent;
	cidr *ips;
	size_t nips;
	char *sel; /* the selector's copy, or NULL; reqs and vals point into it */
	req *reqs;
	size_t nreqs, reqs_cap;
	span *vals;
	size_t nvals, vals_cap;
	unsigned percent; /* in hundredths: 0..GRAY_BUCKETS */
	uint64_t sip[2];  /* the salt's SipHash key (salt_key) */
};

/* One instance label: key and value spans into gray_inst.text. */
typedef struct label {
	span key, val;
} label;

struct gray_inst {
	char *key; /* what gray_bucket() hashes: the id, else the IP */
	size_t keylen;
	cidr addr;
	int has_addr;
	char *text; /* the labels' copy */
	label *labels;
	size_t nlabels;
};

/* arr, or a larger copy of it, with room for element n (of size bytes). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 4;
	return xrealloc(arr, *cap * size);
}

static int key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '/' || c == '-';
}

/* Appends s quoted for a message: at most max bytes, bytes outside printable
 * ASCII as \xHH, so the sentence stays one line of valid UTF-8. */
static void add_quoted(sbuf *why, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	sbuf_addch(why, '\'');
	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '\\') {
			char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			sbuf_add(why, e, sizeof(e));
		} else {
			sbuf_addch(why, (char)c);
		}
	}
	sbuf_addstr(why, s[i] ? "...'" : "'");
}

/* --- match.ips ----------------------------------------------------------- */

static hc_err compile_ips(gray_rule *r, const char *const *ips, size_t nips, sbuf *why)
{
	size_t k;

	if (nips == 0) {
		sbuf_addstr(why, "match.ips is empty: list at least one address or range, "
				 "or leave ips out to match every IP");
		return HC_ERR_INVALID;
	}
	if (nips > GRAY_MAX_IPS) {
		sbuf_addf(why, "match.ips has %zu entries: at most %d are allowed", nips,
			  GRAY_MAX_IPS);
		return HC_ERR_INVALID;
	}
	r->ips = xcalloc(nips, sizeof(*r->ips));
	for (k = 0; k < nips; k++) {
		if (!ips[k] || cidr_parse(ips[k], &r->ips[k])) {
			sbuf_addf(why, "match.ips[%zu] ", k);
			add_quoted(why, ips[k] ? ips[k] : "", 64);
			sbuf_addstr(why, " is invalid: use an IPv4 or IPv6 address or CIDR range, "
					 "e.g. 10.0.0.7, 10.1.0.0/16 or fd00::/8");
			return HC_ERR_INVALID;
		}
		cidr_unmap(&r->ips[k]);
	}
	r->nips = nips;
	r->has_ips = 1;
	return HC_OK;
}

/* --- match.labels -------------------------------------------------------- */

typedef struct selp {
	gray_rule *r;
	const char *s; /* r->sel */
	size_t p;
	sbuf *why;
} selp;

static void sel_ws(selp *sp)
{
	while (sp->s[sp->p] == ' ' || sp->s[sp->p] == '\t')
		sp->p++;
}

/* "match.labels at <at>: expected <what>, found <the byte at at>". */
static hc_err sel_fail(selp *sp, size_t at, const char *what)
{
	unsigned char c = (unsigned char)sp->s[at];

	sbuf_addf(sp->why, "match.labels at %zu: expected %s, found ", at, what);
	if (!c)
		sbuf_addstr(sp->why, "the end");
	else if (c >= 0x20 && c < 0x7f)
		sbuf_addf(sp->why, "'%c'", c);
	else
		sbuf_addf(sp->why, "the byte 0x%02x", c);
	return HC_ERR_INVALID;
}

/* The run of key characters at the cursor (maybe empty); moves past it. */
static span sel_word(selp *sp)
{
	span w = {sp->p, 0};

	while (key_char((unsigned char)sp->s[sp->p]))
		sp->p++;
	w.len = sp->p - w.off;
	return w;
}

static int word_is(const selp *sp, span w, const char *lit)
{
	return w.len == strlen(lit) && !memcmp(sp->s + w.off, lit, w.len);
}

static void add_val(gray_rule *r, span v)
{
	r->vals = grow(r->vals, &r->vals_cap, r->nvals, sizeof(*r->vals));
	r->vals[r->nvals++] = v;
}

/* "(a, b)" after in/notin, at the cursor. */
static hc_err sel_set(selp *sp)
{
	span v;

	if (sp->s[sp->p] != '(')
		return sel_fail(sp, sp->p, "'(' to open the set of values");
	sp->p++;
	for (;;) {
		sel_ws(sp);
		v = sel_word(sp);
		if (!v.len)
			return sel_fail(sp, sp->p, "a value");
		add_val(sp->r, v);
		sel_ws(sp);
		if (sp->s[sp->p] == ')')
			break;
		if (sp->s[sp->p] != ',')
			return sel_fail(sp, sp->p, "',' or ')'");
		sp->p++;
	}
	sp->p++;
	return HC_OK;
}

/* What follows a key: an operator and its values, or nothing (exists). */
static hc_err sel_operator(selp *sp, req *q)
{
	const char *s = sp->s;
	size_t at = sp->p;
	span w;

	if (s[at] == '=' || (s[at] == '!' && s[at + 1] == '=')) {
		q->op = s[at] == '=' ? REQ_EQ : REQ_NE;
		sp->p += s[at] == '!' || s[at + 1] == '=' ? 2 : 1;
		sel_ws(sp);
		add_val(sp->r, sel_word(sp)); /* may be empty: k= tests the empty value */
		return HC_OK;
	}
	if (!s[at] || s[at] == ',') {
		q->op = REQ_EXISTS;
		return HC_OK;
	}
	w = sel_word(sp);
	if (word_is(sp, w, "in") || word_is(sp, w, "notin")) {
		q->op = w.len == 2 ? REQ_IN : REQ_NOTIN;
		sel_ws(sp);
		return sel_set(sp);
	}
	return sel_fail(sp, at, "'=', '==', '!=', 'in', 'notin', ',' or the end");
}

/* One requirement at the cursor, appended to r->reqs. */
static hc_err sel_requirement(selp *sp)
{
	gray_rule *r = sp->r;
	req q = {REQ_EXISTS, {0, 0}, r->nvals, 0};
	int negated = 0;
	hc_err err;

	sel_ws(sp);
	if (sp->s[sp->p] == '!') {
		negated = 1;
		sp->p++;
		sel_ws(sp);
	}
	q.key = sel_word(sp);
	if (!q.key.len)
		return sel_fail(sp, sp->p, negated ? "a label key" : "a label key or '!'");
	sel_ws(sp);
	if (negated) {
		q.op = REQ_ABSENT;
	} else {
		err = sel_operator(sp, &q);
		if (err)
			return err;
		sel_ws(sp);
	}
	if (sp->s[sp->p] && sp->s[sp->p] != ',')
		return sel_fail(sp, sp->p, "',' or the end");
	q.nvals = r->nvals - q.first;
	r->reqs = grow(r->reqs, &r->reqs_cap, r->nreqs, sizeof(*r->reqs));
	r->reqs[r->nreqs++] = q;
	return HC_OK;
}

static hc_err compile_selector(gray_rule *r, const char *selector, sbuf *why)
{
	selp sp = {r, NULL, 0, why};
	hc_err err;

	if (strnlen(selector, GRAY_SELECTOR_MAX + 1) > GRAY_SELECTOR_MAX) {
		sbuf_addf(why, "match.labels is longer than %d bytes", GRAY_SELECTOR_MAX);
		return HC_ERR_INVALID;
	}
	r->sel = xstrdup(selector);
	sp.s = r->sel;
	sel_ws(&sp);
	if (!sp.s[sp.p]) {
		sbuf_addstr(why, "match.labels is empty: give at least one requirement "
				 "(e.g. app=web), or leave labels out to match every instance");
		return HC_ERR_INVALID;
	}
	for (;;) {
		err = sel_requirement(&sp);
		if (err)
			return err;
		if (!sp.s[sp.p])
			return HC_OK;
		sp.p++; /* the ',' */
	}
}

/* --- match.percent ------------------------------------------------------- */

/* "0".."100" with at most two decimals, into hundredths. */
static int parse_percent(const char *s, unsigned *out)
{
	unsigned whole = 0, frac = 0, scale = 10;
	size_t i = 0;

	if (!(s[i] >= '0' && s[i] <= '9'))
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		whole = whole * 10 + (unsigned)(s[i] - '0');
		if (whole > 100)
			return -1; /* also keeps a long run of digits from overflowing */
	}
	if (s[i] == '.') {
		if (!(s[++i] >= '0' && s[i] <= '9'))
			return -1;
		for (; s[i] >= '0' && s[i] <= '9'; i++, scale /= 10) {
			if (!scale)
				return -1; /* a third decimal */
			frac += scale * (unsigned)(s[i] - '0');
		}
	}
	if (s[i] || whole * 100 + frac > GRAY_BUCKETS)
		return -1;
	*out = whole * 100 + frac;
	return 0;
}

/* The SipHash key of a salt: MD5(salt) as two little-endian words. */
static void salt_key(const char *salt, uint64_t k[2])
{
	unsigned char d[MD5_LEN];
	md5_ctx c;
	int b;

	md5_init(&c);
	md5_update(&c, salt, strlen(salt));
	md5_final(&c, d);
	k[0] = k[1] = 0;
	for (b = 7; b >= 0; b--) {
		k[0] = k[0] << 8 | d[b];
		k[1] = k[1] << 8 | d[8 + b];
	}
}

static unsigned bucket_of(const uint64_t k[2], const char *key, size_t len)
{
	return (unsigned)(siphash24(k[0], k[1], key, len) % GRAY_BUCKETS);
}

static hc_err compile_percent(gray_rule *r, const char *percent, const char *salt, sbuf *why)
{
	if (parse_percent(percent, &r->percent)) {
		sbuf_addstr(why, "match.percent ");
		add_quoted(why, percent, 40);
		sbuf_addstr(why, " is invalid: use a number from 0 to 100 with at most two "
				 "decimals, e.g. 5 or 12.5");
		return HC_ERR_INVALID;
	}
	salt_key(salt ? salt : "", r->sip);
	r->has_percent = 1;
	return HC_OK;
}

hc_err gray_rule_compile(const char *const *ips, size_t nips, int has_ips, const char *selector,
			 const char *percent, const char *salt, gray_rule **out, sbuf *why)
{
	gray_rule *r = xcalloc(1, sizeof(*r));
	hc_err err = HC_ERR_INVALID;

	*out = NULL;
	if (!has_ips && !selector && !percent) {
		sbuf_addstr(why, "match needs at least one of ips, labels and percent");
		goto fail;
	}
	if (has_ips && (err = compile_ips(r, ips, nips, why)))
		goto fail;
	if (selector && (err = compile_selector(r, selector, why)))
		goto fail;
	if (percent && (err = compile_percent(r, percent, salt, why)))
		goto fail;
	*out = r;
	return HC_OK;

fail:
	gray_rule_free(r);
	return err;
}

void gray_rule_free(gray_rule *r)
{
	if (!r)
		return;
	free(r->ips);
	free(r->sel);
	free(r->reqs);
	free(r->vals);
	free(r);
}

/* --- instances ----------------------------------------------------------- */

/* The labels "k=v,k2=v2" by val_labels()'s grammar, byte for byte: keys of
 * key_char right after optional spaces, values up to ',' or the end with
 * trailing spaces dropped; '=' in a value and an empty key are errors. */
static hc_err inst_labels(gray_inst *i, sbuf *why)
{
	const char *t = i->text;
	size_t p = 0;

	while (t[p]) {
		label l;
		while (t[p] == ' ')
			p++;
		for (l.key.off = p; key_char((unsigned char)t[p]); p++)
			;
		l.key.len = p - l.key.off;
		if (!l.key.len || t[p] != '=')
			goto fail;
		for (l.val.off = ++p; t[p] && t[p] != ',' && t[p] != '='; p++)
			;
		if (t[p] == '=')
			goto fail;
		l.val.len = p - l.val.off;
		while (l.val.len && t[l.val.off + l.val.len - 1] == ' ')
			l.val.len--;
		i->labels[i->nlabels++] = l; /* room for one per ',' and one more */
		if (t[p] == ',')
			p++;
	}
	return HC_OK;

fail:
	sbuf_addf(why, "labels are invalid at %zu: use k=v,k2=v2", p);
	return HC_ERR_INVALID;
}

hc_err gray_inst_new(const char *id, const char *ip, const char *labels, gray_inst **out, sbuf *why)
{
	char text[CIDR_TEXT_MAX];
	const char *key, *c;
	size_t nmax = 1, tlen;
	gray_inst head = {0}, *i;
	char *p;
	hc_err err;

	*out = NULL;
	ip = ip ? ip : "";
	labels = labels ? labels : "";
	head.has_addr = !strchr(ip, '/') && !cidr_parse(ip, &head.addr);
	if (head.has_addr)
		cidr_unmap(&head.addr);
	if (id && *id) {
		key = id;
	} else if (head.has_addr) {
		cidr_addr_text(&head.addr, text);
		key = text;
	} else {
		key = ip;
	}
	for (c = labels; *c; c++)
		nmax += *c == ',';
	/* Parked with every held watch: one allocation holding the struct, the
	 * labels' spans, the key and the labels' text. */
	head.keylen = strlen(key);
	tlen = strlen(labels);
	i = xmalloc(sizeof(*i) + nmax * sizeof(label) + head.keylen + 1 + tlen + 1);
	*i = head;
	i->labels = (label *)(i + 1);
	p = (char *)(i->labels + nmax);
	i->key = memcpy(p, key, head.keylen + 1);
	i->text = memcpy(p + head.keylen + 1, labels, tlen + 1);
	err = inst_labels(i, why);
	if (err)
		goto fail;
	*out = i;
	return HC_OK;

fail:
	gray_inst_free(i);
	return err;
}

void gray_inst_free(gray_inst *i)
{
	free(i);
}

/* --- matching ------------------------------------------------------------ */

void gray_percent_text(int h, char out[16])
{
	if (h % 100 == 0)
		snprintf(out, 16, "%d", h / 100);
	else if (h % 10 == 0)
		snprintf(out, 16, "%d.%d", h / 100, h % 100 / 10);
	else
		snprintf(out, 16, "%d.%02d", h / 100, h % 100);
}

unsigned gray_bucket(const char *salt, const char *key)
{
	uint64_t k[2];

	salt_key(salt, k);
	return bucket_of(k, key, strlen(key));
}

static int ips_match(const gray_rule *r, const gray_inst *i)
{
	size_t k;

	if (!i->has_addr)
		return 0;
	for (k = 0; k < r->nips; k++)
		if (cidr_contains(&r->ips[k], &i->addr))
			return 1;
	return 0;
}

/* The value of the instance label named by the rule's span, or NULL when
 * the instance has no such label. The last of repeated keys counts. */
static const label *inst_label(const gray_inst *i, const char *sel, span key)
{
	size_t k;

	for (k = i->nlabels; k-- > 0;) {
		const label *l = &i->labels[k];
		if (l->key.len == key.len && !memcmp(i->text + l->key.off, sel + key.off, key.len))
			return l;
	}
	return NULL;
}

/* 1 when the label's value is one of q's values. */
static int value_in(const gray_rule *r, const req *q, const gray_inst *i, const label *l)
{
	size_t k;

	for (k = q->first; k < q->first + q->nvals; k++) {
		span v = r->vals[k];
		if (v.len == l->val.len && !memcmp(r->sel + v.off, i->text + l->val.off, v.len))
			return 1;
	}
	return 0;
}

static int req_holds(const gray_rule *r, const req *q, const gray_inst *i)
{
	const label *l = inst_label(i, r->sel, q->key);

	switch (q->op) {
	case REQ_EQ:
	case REQ_IN:
		return l && value_in(r, q, i, l);
	case REQ_NE:
	case REQ_NOTIN:
		return !l || !value_in(r, q, i, l);
	case REQ_EXISTS:
		return l != NULL;
	case REQ_ABSENT:
		return l == NULL;
	}
	return 0;
}

int gray_rule_matches(const gray_rule *r, const gray_inst *i)
{
	size_t k;

	if (r->has_ips && !ips_match(r, i))
		return 0;
	for (k = 0; k < r->nreqs; k++)
		if (!req_holds(r, &r->reqs[k], i))
			return 0;
	/* Last: the only test that hashes. */
	if (r->has_percent && r->percent < GRAY_BUCKETS)
		return bucket_of(r->sip, i->key, i->keylen) < r->percent;
	return 1;
}

int gray_pick(const gray_rule *const *rules, const int *priority, size_t n, const gray_inst *i)
{
	size_t k;
	int best = -1;

	for (k = 0; k < n; k++) {
		if (!rules[k] || (best >= 0 && priority[k] <= priority[best]))
			continue; /* a later rule must beat the best so far outright */
		if (gray_rule_matches(rules[k], i))
			best = (int)k;
	}
	return best;
}
