/*
 * convert.c: see convert.h. Each reader builds one tree (cv), each writer walks
 * it. YAML aliases share subtrees (reference counts), so every node also
 * carries its expanded size and height: caps are checked on those, never by
 * expanding. The writers recurse at most CONV_MAX_DEPTH deep, which the
 * readers guarantee. No state; any thread.
 */
#include "convert.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hmap.h"
#include "utf8.h"
#include "xmalloc.h"

#define NPOS ((size_t)-1)
#define CONV_MAX_OUTPUT ((size_t)256 << 20)
#define INDEX_AT 8	      /* objects this big get a hash index */
#define MAX_INT_DIGITS 1024   /* 0x and 0o literals we turn into decimal */
#define MAX_LIST_INDEX 999999 /* a[N] in properties */

enum { CV_NULL, CV_BOOL, CV_NUM, CV_STR, CV_ARR, CV_OBJ };

typedef struct cv cv;
struct cv {
	int kind;
	unsigned char plist; /* properties reader: an object that becomes a list */
	unsigned refs;
	unsigned line;	 /* where the value starts, 1-based */
	unsigned height; /* levels of lists and objects: 0 for a scalar */
	char *s;	 /* CV_BOOL/CV_NUM/CV_STR text, NUL-terminated */
	size_t slen;
	cv **items;
	char **keys; /* CV_OBJ */
	size_t *klens;
	size_t n, cap;
	hmap *index;  /* CV_OBJ with INDEX_AT keys or more: key -> position + 1 */
	size_t nodes; /* once aliases are expanded */
	size_t bytes; /* keys and scalars, once aliases are expanded */
};

/* One step of a path: an object key or a list index. */
typedef struct pseg {
	const char *key;
	size_t klen;
	size_t idx;
	int is_idx;
} pseg;

typedef struct cpath {
	pseg v[CONV_MAX_DEPTH + 2];
	size_t n;
} cpath;

/* ---- messages ---- */

static hc_err failf(sbuf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hc_err failf(sbuf *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(why, fmt, ap);
	va_end(ap);
	return HC_ERR_UNPROCESSABLE;
}

/* Appends text for a message: quotes and controls escaped, at most 80 bytes. */
static void add_quoted(sbuf *sb, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 80; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			sbuf_addf(sb, "\\x%02x", c);
		else if (c == '\'' || c == '\\')
			sbuf_addf(sb, "\\%c", c);
		else
			sbuf_addch(sb, (char)c);
	}
	if (n > 80)
		sbuf_addstr(sb, "...");
}

static int ident_ok(const char *k, size_t n)
{
	size_t i;

	if (!n || !((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
		return 0;
	for (i = 1; i < n; i++) {
		char c = k[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Deep paths are shown as their first and last steps. */
#define PATH_HEAD 8
#define PATH_TAIL 4

static int path_elide(sbuf *sb, size_t *i, size_t n)
{
	if (n > PATH_HEAD + PATH_TAIL + 1 && *i == PATH_HEAD) {
		sbuf_addstr(sb, "...");
		*i = n - PATH_TAIL;
		return 1;
	}
	return 0;
}

/* "$.servers[2].name", with $["odd key"] for keys that are not identifiers. */
static void path_json(sbuf *sb, const pseg *v, size_t n)
{
	size_t i;

	sbuf_addch(sb, '$');
	for (i = 0; i < n; i++) {
		path_elide(sb, &i, n);
		if (v[i].is_idx) {
			sbuf_addf(sb, "[%zu]", v[i].idx);
		} else if (ident_ok(v[i].key, v[i].klen)) {
			sbuf_addch(sb, '.');
			sbuf_add(sb, v[i].key, v[i].klen);
		} else {
			sbuf_addch(sb, '[');
			sbuf_add_json_str(sb, v[i].key, v[i].klen > 80 ? 80 : v[i].klen);
			sbuf_addch(sb, ']');
		}
	}
}

/* "a.b[0].c", the key a properties file would use. */
static void path_props(sbuf *sb, const pseg *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int cut = path_elide(sb, &i, n);
		if (v[i].is_idx) {
			sbuf_addf(sb, "[%zu]", v[i].idx);
		} else {
			if (i && !cut)
				sbuf_addch(sb, '.');
			add_quoted(sb, v[i].key, v[i].klen);
		}
	}
}

/* ---- the tree ---- */

static cv *cv_new(int kind, unsigned line)
{
	cv *v = xcalloc(1, sizeof(*v));

	v->kind = kind;
	v->refs = 1;
	v->line = line;
	v->height = kind == CV_ARR || kind == CV_OBJ; /* container levels */
	v->nodes = 1;
	return v;
}

static cv *cv_scalar(int kind, const char *s, size_t n, unsigned line)
{
	cv *v = cv_new(kind, line);

	v->s = xmemdupz(s, n);
	v->slen = n;
	v->bytes = n;
	return v;
}

static cv *cv_ref(cv *v)
{
	v->refs++;
	return v;
}

static void cv_unref(cv *v)
{
	size_t i;

	if (!v || --v->refs)
		return;
	for (i = 0; i < v->n; i++) {
		cv_unref(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->klens);
	free(v->s);
	hmap_free(v->index);
	free(v);
}

static void cv_grow(cv *v)
{
	if (v->n < v->cap)
		return;
	v->cap = v->cap ? v->cap * 2 : 4;
	v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
	if (v->kind == CV_OBJ) {
		v->keys = xrealloc(v->keys, v->cap * sizeof(*v->keys));
		v->klens = xrealloc(v->klens, v->cap * sizeof(*v->klens));
	}
}

/* Counts child (and its key) into v's expanded size and height. */
static void cv_account(cv *v, const cv *child, size_t klen)
{
	v->nodes += child->nodes;
	v->bytes += child->bytes + klen;
	if (child->height + 1 > v->height)
		v->height = child->height + 1;
}

/* Appends child to list a; a takes over the caller's reference. */
static void arr_push(cv *a, cv *child)
{
	cv_grow(a);
	a->items[a->n++] = child;
	cv_account(a, child, 0);
}

static size_t obj_find(const cv *o, const char *k, size_t kl)
{
	size_t i;

	if (o->index) {
		void *p = hmap_get(o->index, k, kl);
		return p ? (size_t)(uintptr_t)p - 1 : NPOS;
	}
	for (i = 0; i < o->n; i++)
		if (o->klens[i] == kl && !memcmp(o->keys[i], k, kl))
			return i;
	return NPOS;
}

/* Appends key -> child to object o (the key must be new); o copies the key
 * and takes over the caller's reference to child. */
static void obj_put(cv *o, const char *k, size_t kl, cv *child)
{
	size_t i;

	cv_grow(o);
	o->keys[o->n] = xmemdupz(k, kl);
	o->klens[o->n] = kl;
	o->items[o->n] = child;
	o->n++;
	cv_account(o, child, kl);
	if (o->index) {
		hmap_put(o->index, k, kl, (void *)(uintptr_t)o->n);
	} else if (o->n >= INDEX_AT) {
		o->index = hmap_new();
		for (i = 0; i < o->n; i++)
			hmap_put(o->index, o->keys[i], o->klens[i], (void *)(uintptr_t)(i + 1));
	}
}

/* The caps every reader checks as a node grows. */
static int over_caps(const cv *v)
{
	return v->nodes > CONV_MAX_NODES || v->bytes > CONV_MAX_EXPANDED_BYTES ||
	       v->height > CONV_MAX_DEPTH;
}

static hc_err caps_fail(sbuf *why, const cv *v, const pseg *path, size_t n)
{
	if (v->height > CONV_MAX_DEPTH)
		sbuf_addf(why, "nesting deeper than %d levels", CONV_MAX_DEPTH);
	else if (v->nodes > CONV_MAX_NODES)
		sbuf_addf(why, "it expands to more than %d values (an alias bomb?)",
			  CONV_MAX_NODES);
	else
		sbuf_addf(why, "it expands to more than %u bytes (an alias bomb?)",
			  CONV_MAX_EXPANDED_BYTES);
	sbuf_addstr(why, " at ");
	path_json(why, path, n);
	return HC_ERR_UNPROCESSABLE;
}

/* ---- core schema scalars ---- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(s, lit, n);
}

static int core_null(const char *s, size_t n)
{
	return n == 0 || eq(s, n, "~") || eq(s, n, "null") || eq(s, n, "Null") || eq(s, n, "NULL");
}

static int core_bool(const char *s, size_t n, int *val)
{
	*val = eq(s, n, "true") || eq(s, n, "True") || eq(s, n, "TRUE");
	return *val || eq(s, n, "false") || eq(s, n, "False") || eq(s, n, "FALSE");
}

/* [-+]?[0-9]+, or 0o[0-7]+ (base 8), or 0x[0-9a-fA-F]+ (base 16): *base. */
static int core_int(const char *s, size_t n, int *base)
{
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		*base = s[1] == 'o' ? 8 : 16;
		for (i = 2; i < n; i++)
			if (*base == 8 ? !(s[i] >= '0' && s[i] <= '7') : !is_hex(s[i]))
				return 0;
		return 1;
	}
	*base = 10;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i == n)
		return 0;
	for (; i < n; i++)
		if (!is_digit(s[i]))
			return 0;
	return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int core_float(const char *s, size_t n)
{
	size_t i = 0, d = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && is_digit(s[i]))
		i++, d++;
	if (i < n && s[i] == '.') {
		i++;
		if (!d && !(i < n && is_digit(s[i])))
			return 0;
		while (i < n && is_digit(s[i]))
			i++, d++;
	}
	if (!d)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (!(i < n && is_digit(s[i])))
			return 0;
		while (i < n && is_digit(s[i]))
			i++;
	}
	return i == n;
}

static int core_inf_nan(const char *s, size_t n)
{
	if (n && (s[0] == '-' || s[0] == '+'))
		s++, n--;
	return eq(s, n, ".inf") || eq(s, n, ".Inf") || eq(s, n, ".INF") || eq(s, n, ".nan") ||
	       eq(s, n, ".NaN") || eq(s, n, ".NAN");
}

/* A decimal int as JSON spells it: no '+', no leading zeros. */
static void norm_int10(sbuf *out, const char *s, size_t n)
{
	if (s[0] == '-' || s[0] == '+') {
		if (s[0] == '-')
			sbuf_addch(out, '-');
		s++, n--;
	}
	while (n > 1 && s[0] == '0')
		s++, n--;
	sbuf_add(out, s, n);
}

/* Base 8 or 16 digits to decimal (schoolbook, little-endian digits). */
static int norm_radix(sbuf *out, const char *s, size_t n, int base)
{
	unsigned char *dec;
	size_t nd = 1, i, j;

	if (n > MAX_INT_DIGITS)
		return -1;
	dec = xcalloc(n * 2 + 2, 1);
	for (i = 0; i < n; i++) {
		unsigned carry = (unsigned)(is_digit(s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
		for (j = 0; j < nd; j++) {
			unsigned x = dec[j] * (unsigned)base + carry;
			dec[j] = (unsigned char)(x % 10);
			carry = x / 10;
		}
		while (carry) {
			dec[nd++] = (unsigned char)(carry % 10);
			carry /= 10;
		}
	}
	while (nd > 1 && !dec[nd - 1])
		nd--;
	for (j = nd; j-- > 0;)
		sbuf_addch(out, (char)('0' + dec[j]));
	free(dec);
	return 0;
}

/* A core-schema float as a JSON number: "1." -> "1.0", ".5" -> "0.5". With
 * force_frac, "1" -> "1.0" (an explicit !!float). */
static void norm_float(sbuf *out, const char *s, size_t n, int force_frac)
{
	size_t i = 0, a, b;
	int frac = 0;

	if (s[0] == '-' || s[0] == '+') {
		if (s[0] == '-')
			sbuf_addch(out, '-');
		i++;
	}
	a = i;
	while (i < n && is_digit(s[i]))
		i++;
	b = i;
	while (b - a > 1 && s[a] == '0')
		a++;
	if (a == b)
		sbuf_addch(out, '0');
	else
		sbuf_add(out, s + a, b - a);
	if (i < n && s[i] == '.') {
		i++;
		a = i;
		while (i < n && is_digit(s[i]))
			i++;
		sbuf_addch(out, '.');
		if (a == i)
			sbuf_addch(out, '0');
		else
			sbuf_add(out, s + a, i - a);
		frac = 1;
	}
	if (force_frac && !frac && i == n)
		sbuf_addstr(out, ".0");
	sbuf_add(out, s + i, n - i);
}

/* ---- JSON reader ---- */

typedef struct jr {
	const char *p, *end, *line_at;
	unsigned line;
	sbuf *why;
	cpath *path;
} jr;

static hc_err jr_fail(jr *r, const char *what)
{
	sbuf_addf(r->why, "invalid json at line %u, column %zu: %s", r->line,
		  (size_t)(r->p - r->line_at) + 1, what);
	return HC_ERR_UNPROCESSABLE;
}

static void jr_ws(jr *r)
{
	while (r->p < r->end) {
		char c = *r->p;
		if (c == '\n') {
			r->line++;
			r->line_at = r->p + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		r->p++;
	}
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	int i;

	*out = 0;
	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if (!is_hex(p[i]))
			return -1;
		*out = (*out << 4) |
		       (unsigned)(is_digit(p[i]) ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
	}
	return 0;
}

static void add_utf8(sbuf *sb, unsigned cp)
{
	char b[4];

	if (cp < 0x80) {
		b[0] = (char)cp;
		sbuf_add(sb, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(sb, b, 4);
	}
}

/* Reads a string literal (r->p at the opening quote) into *s. */
static hc_err jr_string(jr *r, sbuf *s)
{
	unsigned cp, lo;

	r->p++;
	for (;;) {
		const char *run = r->p;
		while (r->p < r->end && *r->p != '"' && *r->p != '\\' &&
		       (unsigned char)*r->p >= 0x20)
			r->p++;
		sbuf_add(s, run, (size_t)(r->p - run));
		if (r->p == r->end)
			return jr_fail(r, "unterminated string");
		if (*r->p == '"')
			break;
		if ((unsigned char)*r->p < 0x20)
			return jr_fail(r, "control character in a string");
		if (++r->p == r->end)
			return jr_fail(r, "unterminated string");
		switch (*r->p) {
		case '"':
		case '\\':
		case '/':
			sbuf_addch(s, *r->p);
			break;
		case 'b':
			sbuf_addch(s, '\b');
			break;
		case 'f':
			sbuf_addch(s, '\f');
			break;
		case 'n':
			sbuf_addch(s, '\n');
			break;
		case 'r':
			sbuf_addch(s, '\r');
			break;
		case 't':
			sbuf_addch(s, '\t');
			break;
		case 'u':
			if (hex4(r->p + 1, r->end, &cp))
				return jr_fail(r, "bad \\u escape");
			r->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jr_fail(r, "a lone low surrogate cannot be UTF-8");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (r->end - r->p < 7 || r->p[1] != '\\' || r->p[2] != 'u' ||
				    hex4(r->p + 3, r->end, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return jr_fail(r, "a lone high surrogate cannot be UTF-8");
				r->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			add_utf8(s, cp);
			break;
		default:
			return jr_fail(r, "bad escape");
		}
		r->p++;
	}
	r->p++;
	return HC_OK;
}

static hc_err jr_number(jr *r, cv **out)
{
	const char *s = r->p;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0') {
		r->p++;
	} else if (r->p < r->end && *r->p >= '1' && *r->p <= '9') {
		while (r->p < r->end && is_digit(*r->p))
			r->p++;
	} else {
		return jr_fail(r, "expected a value");
	}
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (!(r->p < r->end && is_digit(*r->p)))
			return jr_fail(r, "expected a digit after '.'");
		while (r->p < r->end && is_digit(*r->p))
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!(r->p < r->end && is_digit(*r->p)))
			return jr_fail(r, "expected a digit in the exponent");
		while (r->p < r->end && is_digit(*r->p))
			r->p++;
	}
	*out = cv_scalar(CV_NUM, s, (size_t)(r->p - s), r->line);
	return HC_OK;
}

static hc_err jr_value(jr *r, cv **out);

static hc_err jr_object(jr *r, cv *o)
{
	sbuf key = SBUF_INIT(SBUF_NOMAX);
	pseg *seg = &r->path->v[r->path->n];
	hc_err err = HC_OK;
	cv *child;

	r->p++;
	jr_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return HC_OK;
	}
	for (;;) {
		unsigned kline;
		jr_ws(r);
		kline = r->line;
		if (r->p == r->end || *r->p != '"') {
			err = jr_fail(r, "expected a key");
			break;
		}
		sbuf_reset(&key);
		if ((err = jr_string(r, &key)))
			break;
		if (obj_find(o, key.buf, key.len) != NPOS) {
			sbuf_addstr(r->why, "duplicate key at ");
			*seg = (pseg){key.buf, key.len, 0, 0};
			path_json(r->why, r->path->v, r->path->n + 1);
			sbuf_addf(r->why, " (line %u): which one wins is a guess", kline);
			err = HC_ERR_UNPROCESSABLE;
			break;
		}
		jr_ws(r);
		if (r->p == r->end || *r->p != ':') {
			err = jr_fail(r, "expected ':'");
			break;
		}
		r->p++;
		*seg = (pseg){key.buf, key.len, 0, 0};
		r->path->n++;
		err = jr_value(r, &child);
		r->path->n--;
		if (err)
			break;
		obj_put(o, key.buf, key.len, child);
		jr_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			break;
		}
		err = jr_fail(r, "expected ',' or '}'");
		break;
	}
	sbuf_release(&key);
	return err;
}

static hc_err jr_array(jr *r, cv *a)
{
	hc_err err;
	cv *child;

	r->p++;
	jr_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return HC_OK;
	}
	for (;;) {
		r->path->v[r->path->n] = (pseg){NULL, 0, a->n, 1};
		r->path->n++;
		err = jr_value(r, &child);
		r->path->n--;
		if (err)
			return err;
		arr_push(a, child);
		jr_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return HC_OK;
		}
		return jr_fail(r, "expected ',' or ']'");
	}
}

static hc_err jr_value(jr *r, cv **out)
{
	sbuf s = SBUF_INIT(SBUF_NOMAX);
	hc_err err;
	cv *v;

	*out = NULL;
	jr_ws(r);
	if (r->p == r->end)
		return jr_fail(r, "expected a value");
	switch (*r->p) {
	case '{':
	case '[':
		if (r->path->n >= CONV_MAX_DEPTH) {
			sbuf_addf(r->why, "nesting deeper than %d levels at ", CONV_MAX_DEPTH);
			path_json(r->why, r->path->v, r->path->n);
			return HC_ERR_UNPROCESSABLE;
		}
		v = cv_new(*r->p == '{' ? CV_OBJ : CV_ARR, r->line);
		err = v->kind == CV_OBJ ? jr_object(r, v) : jr_array(r, v);
		if (err) {
			cv_unref(v);
			return err;
		}
		*out = v;
		return HC_OK;
	case '"':
		err = jr_string(r, &s);
		if (!err)
			*out = cv_scalar(CV_STR, s.buf, s.len, r->line);
		sbuf_release(&s);
		return err;
	case 't':
	case 'f':
	case 'n':
		if (r->end - r->p >= 4 && !memcmp(r->p, "true", 4)) {
			*out = cv_scalar(CV_BOOL, "true", 4, r->line);
			r->p += 4;
		} else if (r->end - r->p >= 5 && !memcmp(r->p, "false", 5)) {
			*out = cv_scalar(CV_BOOL, "false", 5, r->line);
			r->p += 5;
		} else if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
			*out = cv_new(CV_NULL, r->line);
			r->p += 4;
		} else {
			return jr_fail(r, "expected a value");
		}
		return HC_OK;
	default:
		return jr_number(r, out);
	}
}

static hc_err read_json(const char *data, size_t len, cpath *path, sbuf *why, cv **out)
{
	jr r = {data, data + len, data, 1, why, path};
	hc_err err = jr_value(&r, out);

	if (err)
		return err;
	jr_ws(&r);
	if (r.p != r.end) {
		cv_unref(*out);
		*out = NULL;
		return jr_fail(&r, "unexpected content after the value");
	}
	return HC_OK;
}

/* ---- YAML reader ---- */

#define TAG_PREFIX "tag:yaml.org,2002:"

/* A mapping entry before merge keys are resolved. */
typedef struct yent {
	char *key;
	size_t klen;
	cv *val;
	unsigned line;
	int merge;
} yent;

/* A collection being built. */
typedef struct yframe {
	cv *node;
	char *anchor; /* defined when the node completes: aliases inside it fail */
	yent *ents;   /* mappings */
	size_t nents, cap;
	int have_key, key_merge;
	char *key;
	size_t klen;
	unsigned kline;
} yframe;

typedef struct yr {
	yframe *fr;
	size_t nfr;
	hmap *anchors; /* name -> cv (one reference each) */
	cv *root;
	sbuf *why;
	cpath path;
} yr;

/* The path to where the next value goes, in r->path. */
static void yr_path(yr *r)
{
	size_t i;

	r->path.n = 0;
	for (i = 0; i < r->nfr; i++) {
		yframe *f = &r->fr[i];
		pseg *s = &r->path.v[r->path.n];
		if (f->node->kind == CV_ARR)
			*s = (pseg){NULL, 0, f->node->n, 1};
		else if (f->have_key)
			*s = (pseg){f->key, f->klen, 0, 0};
		else
			break;
		r->path.n++;
	}
}

static hc_err yr_fail_at(yr *r, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hc_err yr_fail_at(yr *r, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(r->why, fmt, ap);
	va_end(ap);
	sbuf_addstr(r->why, " at ");
	yr_path(r);
	path_json(r->why, r->path.v, r->path.n);
	sbuf_addf(r->why, " (line %u)", line);
	return HC_ERR_UNPROCESSABLE;
}

static void tag_name(sbuf *sb, const char *tag)
{
	if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX))) {
		sbuf_addstr(sb, "!!");
		tag += strlen(TAG_PREFIX);
	}
	add_quoted(sb, tag, strlen(tag));
}

static void drop_anchor(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx, (void)key, (void)klen;
	cv_unref(val);
}

static void yr_define(yr *r, const char *anchor, cv *v)
{
	if (anchor)
		cv_unref(hmap_put(r->anchors, anchor, strlen(anchor), cv_ref(v)));
}

static hc_err yr_bad_scalar(yr *r, unsigned line, const char *s, size_t n, const char *what)
{
	sbuf_addch(r->why, '\'');
	add_quoted(r->why, s, n);
	return yr_fail_at(r, line, "' %s", what);
}

/* A plain scalar typed by the core schema, or a tagged one checked against
 * its tag. Quoted and block scalars are strings. */
static hc_err yr_scalar(yr *r, const yaml_event_t *ev, cv **out)
{
	const char *s = (const char *)ev->data.scalar.value,
		   *tag = (const char *)ev->data.scalar.tag;
	size_t n = ev->data.scalar.length;
	unsigned line = (unsigned)ev->start_mark.line + 1;
	int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, b, base;
	const char *t = NULL;
	sbuf norm = SBUF_INIT(SBUF_NOMAX);

	*out = NULL;
	if (tag && strcmp(tag, "!")) {
		if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)))
			goto bad_tag;
		t = tag + strlen(TAG_PREFIX);
		if (strcmp(t, "str") && strcmp(t, "null") && strcmp(t, "bool") &&
		    strcmp(t, "int") && strcmp(t, "float"))
			goto bad_tag;
	} else if (!tag && plain) {
		t = core_null(s, n)			     ? "null"
		    : core_bool(s, n, &b)		     ? "bool"
		    : core_int(s, n, &base)		     ? "int"
		    : core_float(s, n) || core_inf_nan(s, n) ? "float"
							     : "str";
	} else {
		t = "str";
	}
	if (!strcmp(t, "str")) {
		*out = cv_scalar(CV_STR, s, n, line);
	} else if (!strcmp(t, "null")) {
		if (!core_null(s, n))
			return yr_bad_scalar(r, line, s, n, "is not a !!null");
		*out = cv_new(CV_NULL, line);
	} else if (!strcmp(t, "bool")) {
		if (!core_bool(s, n, &b))
			return yr_bad_scalar(r, line, s, n, "is not a !!bool");
		*out =
		    b ? cv_scalar(CV_BOOL, "true", 4, line) : cv_scalar(CV_BOOL, "false", 5, line);
	} else if (!strcmp(t, "int")) {
		if (!core_int(s, n, &base))
			return yr_bad_scalar(r, line, s, n, "is not a !!int");
		if (base == 10)
			norm_int10(&norm, s, n);
		else if (norm_radix(&norm, s + 2, n - 2, base))
			return yr_fail_at(r, line, "an integer longer than %d digits",
					  MAX_INT_DIGITS);
		*out = cv_scalar(CV_NUM, norm.buf, norm.len, line);
	} else {
		if (core_inf_nan(s, n))
			return yr_bad_scalar(r, line, s, n, "has no JSON form");
		if (!core_float(s, n))
			return yr_bad_scalar(r, line, s, n, "is not a !!float");
		norm_float(&norm, s, n, tag != NULL);
		*out = cv_scalar(CV_NUM, norm.buf, norm.len, line);
	}
	sbuf_release(&norm);
	return HC_OK;

bad_tag:
	sbuf_addstr(r->why, "tag ");
	tag_name(r->why, tag);
	return yr_fail_at(r, line, " is not in the YAML core schema");
}

static void frame_release(yframe *f)
{
	size_t i;

	cv_unref(f->node);
	for (i = 0; i < f->nents; i++) {
		free(f->ents[i].key);
		cv_unref(f->ents[i].val);
	}
	free(f->ents);
	free(f->anchor);
	free(f->key);
	memset(f, 0, sizeof(*f));
}

/* Puts a completed value where it belongs: the root, a list item, a mapping
 * key or a mapping value. Takes over the caller's reference. */
static hc_err yr_place(yr *r, cv *v, unsigned line)
{
	yframe *f;

	if (!r->nfr) {
		r->root = v;
		return HC_OK;
	}
	f = &r->fr[r->nfr - 1];
	if (f->node->kind == CV_ARR) {
		arr_push(f->node, v);
		if (over_caps(f->node)) {
			yr_path(r);
			return caps_fail(r->why, f->node, r->path.v, r->nfr - 1);
		}
		return HC_OK;
	}
	if (!f->have_key) {
		if (v->kind != CV_STR) {
			static const char *const kinds[] = {"null",	"a boolean", "a number",
							    "a string", "a list",    "a mapping"};
			hc_err err = yr_fail_at(
			    r, line, "a mapping key is %s, not a string%s", kinds[v->kind],
			    v->kind == CV_BOOL || v->kind == CV_NUM ? " (quote it)" : "");
			cv_unref(v);
			return err;
		}
		f->key = xmemdupz(v->s, v->slen);
		f->klen = v->slen;
		f->kline = line;
		f->have_key = 1;
		cv_unref(v);
		return HC_OK;
	}
	if (f->nents == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 4;
		f->ents = xrealloc(f->ents, f->cap * sizeof(*f->ents));
	}
	f->ents[f->nents++] = (yent){f->key, f->klen, v, f->kline, f->key_merge};
	f->key = NULL;
	f->have_key = f->key_merge = 0;
	return HC_OK;
}

/* Resolves merge keys into the mapping node: its own keys first claim their
 * names, then each merge source in order adds the keys still missing. */
static hc_err yr_close_map(yr *r, yframe *f)
{
	hmap *own = hmap_new();
	hc_err err = HC_OK;
	size_t i, j, k;

	for (i = 0; i < f->nents && !err; i++) {
		yent *e = &f->ents[i];
		if (e->merge)
			continue;
		if (hmap_put(own, e->key, e->klen, e)) {
			f->have_key = 1, f->key = e->key, f->klen = e->klen;
			err = yr_fail_at(r, e->line, "duplicate key");
			f->have_key = 0, f->key = NULL;
		}
	}
	for (i = 0; i < f->nents && !err; i++) {
		yent *e = &f->ents[i];
		cv *src = e->val;
		size_t nsrc = src->kind == CV_ARR ? src->n : 1;
		if (!e->merge) {
			obj_put(f->node, e->key, e->klen, cv_ref(e->val));
		} else if (src->kind != CV_OBJ && src->kind != CV_ARR) {
			err = yr_fail_at(r, e->line,
					 "a merge key '<<' needs a mapping or a list of "
					 "mappings");
		}
		for (j = 0; e->merge && !err && j < nsrc; j++) {
			cv *m = src->kind == CV_ARR ? src->items[j] : src;
			if (m->kind != CV_OBJ) {
				err = yr_fail_at(r, e->line,
						 "a merge key '<<' needs a mapping or a "
						 "list of mappings");
				break;
			}
			for (k = 0; k < m->n; k++)
				if (!hmap_get(own, m->keys[k], m->klens[k]) &&
				    obj_find(f->node, m->keys[k], m->klens[k]) == NPOS)
					obj_put(f->node, m->keys[k], m->klens[k],
						cv_ref(m->items[k]));
		}
		if (!err && over_caps(f->node)) {
			yr_path(r);
			err = caps_fail(r->why, f->node, r->path.v, r->nfr - 1);
		}
	}
	hmap_free(own);
	return err;
}

static hc_err yr_open(yr *r, const yaml_event_t *ev, int kind)
{
	const char *tag = (const char *)(kind == CV_OBJ ? ev->data.mapping_start.tag
							: ev->data.sequence_start.tag);
	const char *anchor = (const char *)(kind == CV_OBJ ? ev->data.mapping_start.anchor
							   : ev->data.sequence_start.anchor);
	unsigned line = (unsigned)ev->start_mark.line + 1;
	yframe *top = r->nfr ? &r->fr[r->nfr - 1] : NULL;

	if (tag && strcmp(tag, "!") &&
	    strcmp(tag, kind == CV_OBJ ? TAG_PREFIX "map" : TAG_PREFIX "seq")) {
		sbuf_addstr(r->why, "tag ");
		tag_name(r->why, tag);
		return yr_fail_at(r, line, " is not in the YAML core schema");
	}
	if (top && top->node->kind == CV_OBJ && !top->have_key)
		return yr_fail_at(r, line, "a mapping key is a %s, not a string",
				  kind == CV_OBJ ? "mapping" : "list");
	if (r->nfr >= CONV_MAX_DEPTH)
		return yr_fail_at(r, line, "nesting deeper than %d levels", CONV_MAX_DEPTH);
	r->fr[r->nfr] = (yframe){0};
	r->fr[r->nfr].node = cv_new(kind, line);
	r->fr[r->nfr].anchor = anchor ? xstrdup(anchor) : NULL;
	r->nfr++;
	return HC_OK;
}

static hc_err yr_close(yr *r)
{
	yframe *f = &r->fr[r->nfr - 1];
	hc_err err = HC_OK;
	cv *node;

	if (f->node->kind == CV_OBJ)
		err = yr_close_map(r, f);
	if (err)
		return err;
	node = cv_ref(f->node);
	yr_define(r, f->anchor, node);
	frame_release(f);
	r->nfr--;
	return yr_place(r, node, node->line);
}

static hc_err yr_event(yr *r, const yaml_event_t *ev, int *docs)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	const char *anchor;
	yframe *top = r->nfr ? &r->fr[r->nfr - 1] : NULL;
	hc_err err;
	cv *v;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			sbuf_addf(r->why,
				  "the stream holds more than one document (the second starts at "
				  "line %u); convert one at a time",
				  line);
			return HC_ERR_UNPROCESSABLE;
		}
		return HC_OK;
	case YAML_SCALAR_EVENT:
		if (top && top->node->kind == CV_OBJ && !top->have_key &&
		    ((ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
		      eq((const char *)ev->data.scalar.value, ev->data.scalar.length, "<<")) ||
		     (ev->data.scalar.tag &&
		      !strcmp((const char *)ev->data.scalar.tag, TAG_PREFIX "merge")))) {
			top->key = xstrdup("<<");
			top->klen = 2;
			top->kline = line;
			top->have_key = top->key_merge = 1;
			return HC_OK;
		}
		if ((err = yr_scalar(r, ev, &v)))
			return err;
		yr_define(r, (const char *)ev->data.scalar.anchor, v);
		return yr_place(r, v, line);
	case YAML_ALIAS_EVENT:
		anchor = (const char *)ev->data.alias.anchor;
		v = hmap_get(r->anchors, anchor, strlen(anchor));
		if (!v)
			return yr_fail_at(r, line,
					  "alias '*%s' has no anchor before it (or refers to a "
					  "node that contains it)",
					  anchor);
		return yr_place(r, cv_ref(v), line);
	case YAML_SEQUENCE_START_EVENT:
		return yr_open(r, ev, CV_ARR);
	case YAML_MAPPING_START_EVENT:
		return yr_open(r, ev, CV_OBJ);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return yr_close(r);
	default:
		return HC_OK;
	}
}

static hc_err read_yaml(const char *data, size_t len, sbuf *why, cv **out)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	yr *r = xcalloc(1, sizeof(*r));
	hc_err err = HC_OK;
	int docs = 0, done = 0;

	*out = NULL;
	r->fr = xcalloc(CONV_MAX_DEPTH, sizeof(*r->fr));
	r->anchors = hmap_new();
	r->why = why;
	if (!yaml_parser_initialize(&parser))
		abort(); /* out of memory, as xmalloc would */
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && !err) {
		if (!yaml_parser_parse(&parser, &ev)) {
			sbuf_addf(why, "invalid yaml at line %lu, column %lu: %s",
				  (unsigned long)parser.problem_mark.line + 1,
				  (unsigned long)parser.problem_mark.column + 1,
				  parser.problem ? parser.problem : "syntax error");
			err = HC_ERR_UNPROCESSABLE;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		err = yr_event(r, &ev, &docs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (r->nfr)
		frame_release(&r->fr[--r->nfr]);
	hmap_foreach(r->anchors, drop_anchor, NULL);
	hmap_free(r->anchors);
	if (!err)
		*out = r->root ? r->root : cv_new(CV_NULL, 1); /* an empty stream is null */
	else
		cv_unref(r->root);
	free(r->fr);
	free(r);
	return err;
}

/* ---- properties reader ---- */

typedef struct pr {
	const char *p, *end;
	unsigned line;
} pr;

static int pr_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

static void pr_eol(pr *r)
{
	if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')
		r->p++;
	r->p++;
	r->line++;
}

/* The next logical line into *out (comments and blank lines skipped, lines
 * ending in an odd number of backslashes joined), and where it starts.
 * 0 at the end of the input. */
static int pr_line(pr *r, sbuf *out, unsigned *line)
{
	sbuf_reset(out);
	for (;;) {
		while (r->p < r->end && pr_ws(*r->p))
			r->p++;
		if (r->p == r->end)
			return 0;
		if (*r->p == '#' || *r->p == '!')
			while (r->p < r->end && *r->p != '\n' && *r->p != '\r')
				r->p++;
		if (r->p == r->end)
			return 0;
		if (*r->p != '\n' && *r->p != '\r')
			break;
		pr_eol(r);
	}
	*line = r->line;
	for (;;) {
		const char *s = r->p, *q;
		size_t bs = 0;
		while (r->p < r->end && *r->p != '\n' && *r->p != '\r')
			r->p++;
		sbuf_add(out, s, (size_t)(r->p - s));
		for (q = r->p; q > s && q[-1] == '\\'; q--)
			bs++;
		if (r->p < r->end)
			pr_eol(r);
		if (!(bs & 1))
			return 1;
		out->buf[--out->len] = '\0'; /* the continuation backslash */
		while (r->p < r->end && pr_ws(*r->p))
			r->p++;
		if (r->p == r->end)
			return 1;
	}
}

/* Undoes Properties escapes: \t \n \r \f, \uXXXX (surrogate pairs joined),
 * and \c for any other c. */
static hc_err pr_unescape(const char *s, size_t n, sbuf *out, unsigned line, sbuf *msg)
{
	size_t i = 0;
	unsigned cp, lo;

	sbuf_reset(out);
	while (i < n) {
		if (s[i] != '\\') {
			sbuf_addch(out, s[i++]);
			continue;
		}
		if (++i == n)
			break;
		switch (s[i]) {
		case 't':
			sbuf_addch(out, '\t');
			break;
		case 'n':
			sbuf_addch(out, '\n');
			break;
		case 'r':
			sbuf_addch(out, '\r');
			break;
		case 'f':
			sbuf_addch(out, '\f');
			break;
		case 'u':
			if (hex4(s + i + 1, s + n, &cp))
				return failf(msg, "a malformed \\uXXXX escape (line %u)", line);
			i += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return failf(msg, "\\u%04X is half a surrogate pair (line %u)", cp,
					     line);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (n - i < 7 || s[i + 1] != '\\' || s[i + 2] != 'u' ||
				    hex4(s + i + 3, s + n, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return failf(msg,
						     "\\u%04X is half a surrogate pair (line %u)",
						     cp, line);
				i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			add_utf8(out, cp);
			break;
		default:
			sbuf_addch(out, s[i]);
		}
		i++;
	}
	return HC_OK;
}

/* Splits a key into steps: names separated by '.', each followed by any
 * number of [N]. NULL when it parses, else what is wrong. */
static const char *pr_steps(const char *k, size_t n, cpath *steps)
{
	size_t i = 0, j;

	steps->n = 0;
	if (!n)
		return "it is empty";
	for (;;) {
		j = i;
		while (i < n && k[i] != '.' && k[i] != '[' && k[i] != ']')
			i++;
		if (i == j)
			return "it has an empty part";
		if (steps->n >= CONV_MAX_DEPTH)
			return "it nests too deep";
		steps->v[steps->n++] = (pseg){k + j, i - j, 0, 0};
		while (i < n && k[i] == '[') {
			size_t idx = 0;
			j = ++i;
			while (i < n && is_digit(k[i]) && i - j < 7)
				idx = idx * 10 + (size_t)(k[i++] - '0');
			if (i == j || i == n || k[i] != ']' || (k[j] == '0' && i - j > 1) ||
			    idx > MAX_LIST_INDEX)
				return "it has a malformed [index]";
			i++;
			if (steps->n >= CONV_MAX_DEPTH)
				return "it nests too deep";
			steps->v[steps->n++] = (pseg){k + j, i - 1 - j, idx, 1};
		}
		if (i == n)
			return NULL;
		if (k[i] != '.')
			return "it has a malformed [index]";
		i++;
	}
}

/* "key 'a.b' (line 2) needs 'a' to be an object, but line 1 gives it a value":
 * want is "an object", "a list", or NULL for a key that wants a value. */
static hc_err pr_conflict(sbuf *msg, const cpath *steps, size_t upto, unsigned line,
			  const char *want, const cv *old)
{
	sbuf_addstr(msg, "key '");
	path_props(msg, steps->v, steps->n);
	sbuf_addf(msg, "' (line %u) %s '", line, want ? "needs" : "gives");
	path_props(msg, steps->v, upto);
	sbuf_addf(msg, "' %s%s, but line %u %s", want ? "to be " : "a value", want ? want : "",
		  old->line,
		  old->kind == CV_STR ? "gives it a value"
		  : old->plist	      ? "makes it a list"
				      : "makes it an object");
	return HC_ERR_UNPROCESSABLE;
}

/* Puts value at the place its key's steps name, creating parents. */
static hc_err pr_insert(cv *root, const cpath *steps, const sbuf *val, unsigned line, sbuf *msg)
{
	cv *cur = root, *child;
	size_t s, at;

	for (s = 0; s < steps->n; s++) {
		const pseg *st = &steps->v[s];
		int last = s + 1 == steps->n;
		at = obj_find(cur, st->key, st->klen);
		if (at == NPOS) {
			if (last) {
				child = cv_scalar(CV_STR, val->buf, val->len, line);
			} else {
				child = cv_new(CV_OBJ, line);
				child->plist = (unsigned char)steps->v[s + 1].is_idx;
			}
			obj_put(cur, st->key, st->klen, child);
		} else {
			child = cur->items[at];
			if (last && child->kind == CV_STR) {
				if (child->slen != val->len ||
				    memcmp(child->s, val->buf, val->len)) {
					sbuf_addstr(msg, "key '");
					path_props(msg, steps->v, steps->n);
					sbuf_addf(msg,
						  "' (line %u) repeats line %u with a different "
						  "value",
						  line, child->line);
					return HC_ERR_UNPROCESSABLE;
				}
			} else if (last) {
				return pr_conflict(msg, steps, s + 1, line, NULL, child);
			} else if (child->kind == CV_STR ||
				   child->plist != steps->v[s + 1].is_idx) {
				return pr_conflict(msg, steps, s + 1, line,
						   steps->v[s + 1].is_idx ? "a list" : "an object",
						   child);
			}
		}
		cur = child;
	}
	return HC_OK;
}

/* Turns an object whose keys are list indexes into a list, refusing gaps. */
static hc_err pr_to_list(cv *v, cpath *path, sbuf *msg)
{
	cv **slots = xcalloc(v->n ? v->n : 1, sizeof(*slots));
	size_t i, m, idx, best = NPOS;
	unsigned best_line = 0;

	for (i = 0; i < v->n; i++) {
		idx = (size_t)strtoul(v->keys[i], NULL, 10);
		if (idx < v->n)
			slots[idx] = v->items[i];
	}
	for (m = 0; m < v->n && slots[m]; m++)
		;
	if (m < v->n) {
		for (i = 0; i < v->n; i++) {
			idx = (size_t)strtoul(v->keys[i], NULL, 10);
			if (idx > m && idx < best)
				best = idx, best_line = v->items[i]->line;
		}
		free(slots);
		sbuf_addstr(msg, "key '");
		path_props(msg, path->v, path->n);
		sbuf_addf(msg, "[%zu]' (line %u) leaves a gap: there is no '", best, best_line);
		path_props(msg, path->v, path->n);
		sbuf_addf(msg, "[%zu]'", m);
		return HC_ERR_UNPROCESSABLE;
	}
	for (i = 0; i < v->n; i++)
		free(v->keys[i]);
	free(v->keys);
	free(v->klens);
	free(v->items);
	hmap_free(v->index);
	v->keys = NULL;
	v->klens = NULL;
	v->index = NULL;
	v->items = slots;
	v->cap = v->n;
	v->kind = CV_ARR;
	v->plist = 0;
	return HC_OK;
}

/* Makes lists of the index objects and recounts sizes, bottom up. */
static hc_err pr_finish(cv *v, cpath *path, sbuf *msg)
{
	hc_err err;
	size_t i;

	v->nodes = 1;
	v->bytes = v->slen;
	v->height = v->kind == CV_OBJ;
	if (v->kind != CV_OBJ)
		return HC_OK;
	if (v->plist && (err = pr_to_list(v, path, msg)))
		return err;
	for (i = 0; i < v->n; i++) {
		path->v[path->n] = v->kind == CV_ARR ? (pseg){NULL, 0, i, 1}
						     : (pseg){v->keys[i], v->klens[i], 0, 0};
		path->n++;
		err = pr_finish(v->items[i], path, msg);
		path->n--;
		if (err)
			return err;
		cv_account(v, v->items[i], v->kind == CV_OBJ ? v->klens[i] : 0);
	}
	return HC_OK;
}

/* Where a logical line's key ends (*klen, still escaped) and its value
 * starts (*vstart), by Properties.load(): the first unescaped '=', ':' or
 * white space ends the key, and white space with at most one '=' or ':'
 * around it separates the value. */
static void pr_split(const sbuf *line, size_t *klen_out, size_t *vstart_out)
{
	size_t klen = 0, vstart = line->len;
	int sep = 0, bs = 0;

	while (klen < line->len) {
		char c = line->buf[klen];
		if ((c == '=' || c == ':') && !bs) {
			vstart = klen + 1;
			sep = 1;
			break;
		}
		if (pr_ws(c) && !bs) {
			vstart = klen + 1;
			break;
		}
		bs = c == '\\' ? !bs : 0;
		klen++;
	}
	while (vstart < line->len) {
		char c = line->buf[vstart];
		if (!pr_ws(c)) {
			if (sep || (c != '=' && c != ':'))
				break;
			sep = 1;
		}
		vstart++;
	}
	*klen_out = klen;
	*vstart_out = vstart;
}

hc_err conv_props_each(const char *data, size_t len, conv_pair_fn fn, void *ctx, sbuf *why)
{
	pr r = {data, data + len, 1};
	sbuf line = SBUF_INIT(SBUF_NOMAX), key = SBUF_INIT(SBUF_NOMAX);
	sbuf val = SBUF_INIT(SBUF_NOMAX);
	hc_err err = HC_OK;
	unsigned at;

	if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
		r.p += 3; /* a BOM, as the tree reader skips it */
	while (!err && pr_line(&r, &line, &at)) {
		size_t klen, vstart;
		pr_split(&line, &klen, &vstart);
		err = pr_unescape(line.buf, klen, &key, at, why);
		if (!err)
			err = pr_unescape(line.buf + vstart, line.len - vstart, &val, at, why);
		if (!err)
			fn(ctx, key.buf, key.len, val.buf, val.len);
	}
	sbuf_release(&line);
	sbuf_release(&key);
	sbuf_release(&val);
	return err;
}

static hc_err read_props(const char *data, size_t len, cpath *path, sbuf *msg, cv **out)
{
	pr r = {data, data + len, 1};
	sbuf line = SBUF_INIT(SBUF_NOMAX), key = SBUF_INIT(SBUF_NOMAX);
	sbuf val = SBUF_INIT(SBUF_NOMAX);
	cv *root = cv_new(CV_OBJ, 1);
	cpath *steps = xmalloc(sizeof(*steps));
	hc_err err = HC_OK;
	unsigned at;

	*out = NULL;
	while (!err && pr_line(&r, &line, &at)) {
		size_t klen, vstart;
		const char *bad;
		pr_split(&line, &klen, &vstart);
		err = pr_unescape(line.buf, klen, &key, at, msg);
		if (!err)
			err = pr_unescape(line.buf + vstart, line.len - vstart, &val, at, msg);
		if (err)
			break;
		if ((bad = pr_steps(key.buf, key.len, steps))) {
			sbuf_addstr(msg, "key '");
			add_quoted(msg, key.buf, key.len);
			sbuf_addf(msg, "' (line %u) cannot nest: %s", at, bad);
			err = HC_ERR_UNPROCESSABLE;
			break;
		}
		err = pr_insert(root, steps, &val, at, msg);
	}
	path->n = 0;
	if (!err)
		err = pr_finish(root, path, msg);
	sbuf_release(&line);
	sbuf_release(&key);
	sbuf_release(&val);
	free(steps);
	if (err)
		cv_unref(root);
	else
		*out = root;
	return err;
}

/* ---- writers ---- */

typedef struct wr {
	sbuf *out;
	hc_err err; /* sticky: the first failure */
	sbuf *why;  /* properties writer's refusals */
	sbuf scratch;
	cpath *path; /* properties writer */
} wr;

static void w_add(wr *w, const void *p, size_t n)
{
	if (!w->err)
		w->err = sbuf_add(w->out, p, n);
}

static void w_str(wr *w, const char *s)
{
	w_add(w, s, strlen(s));
}

static void w_spaces(wr *w, size_t n)
{
	static const char sp[] = "                                ";

	while (n) {
		size_t k = n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;
		w_add(w, sp, k);
		n -= k;
	}
}

static void jw_value(wr *w, const cv *v, size_t ind)
{
	size_t i;

	switch (v->kind) {
	case CV_NULL:
		w_str(w, "null");
		return;
	case CV_BOOL:
	case CV_NUM:
		w_add(w, v->s, v->slen);
		return;
	case CV_STR:
		if (!w->err)
			w->err = sbuf_add_json_str(w->out, v->s, v->slen);
		return;
	}
	if (!v->n) {
		w_str(w, v->kind == CV_OBJ ? "{}" : "[]");
		return;
	}
	w_str(w, v->kind == CV_OBJ ? "{\n" : "[\n");
	for (i = 0; i < v->n && !w->err; i++) {
		w_spaces(w, ind + 2);
		if (v->kind == CV_OBJ) {
			if (!w->err)
				w->err = sbuf_add_json_str(w->out, v->keys[i], v->klens[i]);
			w_str(w, ": ");
		}
		jw_value(w, v->items[i], ind + 2);
		w_str(w, i + 1 < v->n ? ",\n" : "\n");
	}
	w_spaces(w, ind);
	w_str(w, v->kind == CV_OBJ ? "}" : "]");
}

/* The code point of the k-byte UTF-8 sequence at p. */
static unsigned u8_cp(const unsigned char *p, size_t k)
{
	unsigned cp = k == 2 ? p[0] & 0x1fu : k == 3 ? p[0] & 0x0fu : p[0] & 0x07u;
	size_t i;

	for (i = 1; i < k; i++)
		cp = (cp << 6) | (p[i] & 0x3fu);
	return cp;
}

/* Printable for YAML and not a line break to it: C1 controls, NEL, LS, PS,
 * BOM and the noncharacters U+FFFE/F need escapes. */
static int yaml_special(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
	       cp == 0xfffe || cp == 0xffff;
}

/* 1 when s can be written plain and read back as this string, by YAML 1.2
 * and by 1.1 readers (yes/no/on/off, 0777, 12:30, 2001-12-14) alike. */
static int yaml_plain_ok(const char *s, size_t n)
{
	static const char *const words[] = {"y",   "Y",	  "yes", "Yes", "YES", "n",  "N",
					    "no",  "No",  "NO",	 "on",	"On",  "ON", "off",
					    "Off", "OFF", "<<",	 "=",	NULL};
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k;
	int b, base;

	if (!n || core_null(s, n) || core_bool(s, n, &b) || core_int(s, n, &base) ||
	    core_float(s, n) || core_inf_nan(s, n))
		return 0;
	for (i = 0; words[i]; i++)
		if (eq(s, n, words[i]))
			return 0;
	if (strchr("-?:,[]{}#&*!|>'\"%@`+. ", s[0]) || is_digit(s[0]) || s[n - 1] == ' ' ||
	    s[n - 1] == ':')
		return 0;
	for (i = 0; i < n; i += k) {
		k = 1;
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if ((p[i] == ':' && i + 1 < n && p[i + 1] == ' ') ||
		    (p[i] == '#' && p[i - 1] == ' '))
			return 0;
		if (p[i] >= 0x80) {
			k = utf8_seq_len(p + i, n - i);
			if (!k || yaml_special(u8_cp(p + i, k)))
				return 0;
		}
	}
	return 1;
}

/* 1 when a `|` block gives back exactly s: it has a line break, only
 * printable characters, no lines of blanks, and its first line with text does
 * not start with a space (that would need an indentation indicator). */
static int yaml_literal_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k, ls = 0;
	int text = 0, blanks = 1;

	if (!memchr(s, '\n', n))
		return 0;
	for (i = 0; i <= n; i += k) {
		k = 1;
		if (i == n || p[i] == '\n') {
			if (i > ls && blanks)
				return 0;
			ls = i + 1;
			blanks = 1;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if (p[i] >= 0x80) {
			k = utf8_seq_len(p + i, n - i);
			if (!k || yaml_special(u8_cp(p + i, k)))
				return 0;
		}
		if (p[i] != ' ')
			blanks = 0;
		if (!text && i == ls && p[i] == ' ')
			return 0;
		text = 1;
	}
	return text;
}

static void yw_dquoted(wr *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k, run = 0;
	char esc[12];

	w_str(w, "\"");
	for (i = 0; i < n; i += k) {
		k = 1;
		esc[0] = '\0';
		if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)p[i], esc[2] = '\0';
		} else if (p[i] == '\n') {
			memcpy(esc, "\\n", 3);
		} else if (p[i] == '\t') {
			memcpy(esc, "\\t", 3);
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02X", p[i]);
		} else if (p[i] >= 0x80) {
			unsigned cp;
			k = utf8_seq_len(p + i, n - i);
			if (!k) /* not reached: input is checked UTF-8 */
				k = 1;
			cp = u8_cp(p + i, k);
			if (yaml_special(cp))
				snprintf(esc, sizeof(esc), "\\u%04X", cp);
		}
		if (esc[0]) {
			w_add(w, s + run, i - run);
			w_str(w, esc);
			run = i + k;
		}
	}
	w_add(w, s + run, n - run);
	w_str(w, "\"");
}

static void yw_literal(wr *w, const char *s, size_t n, size_t ind)
{
	size_t end = n, k = 0, i, ls = 0;

	while (end && s[end - 1] == '\n')
		end--, k++;
	w_str(w, k == 0 ? "|-\n" : k == 1 ? "|\n" : "|+\n");
	for (i = 0; i <= end; i++) {
		if (i < end && s[i] != '\n')
			continue;
		if (i > ls) {
			w_spaces(w, ind);
			w_add(w, s + ls, i - ls);
		}
		w_str(w, "\n");
		ls = i + 1;
	}
	for (i = 1; i < k; i++)
		w_str(w, "\n");
}

/* A scalar and the end of its line; a block's text goes at ind + 2. */
static void yw_scalar(wr *w, const cv *v, size_t ind)
{
	if (v->kind == CV_NULL) {
		w_str(w, "null\n");
		return;
	}
	if (v->kind == CV_STR && !yaml_plain_ok(v->s, v->slen)) {
		if (yaml_literal_ok(v->s, v->slen)) {
			yw_literal(w, v->s, v->slen, ind + 2);
			return;
		}
		yw_dquoted(w, v->s, v->slen);
	} else {
		w_add(w, v->s, v->slen);
	}
	w_str(w, "\n");
}

static void yw_map(wr *w, const cv *o, size_t ind, int inline_first);
static void yw_seq(wr *w, const cv *a, size_t ind, int inline_first);

/* What follows "key:" or "-": the value, inline or on the next lines. */
static void yw_after(wr *w, const cv *v, size_t ind, int nest_inline)
{
	if (v->kind != CV_OBJ && v->kind != CV_ARR) {
		w_str(w, " ");
		yw_scalar(w, v, ind);
	} else if (!v->n) {
		w_str(w, v->kind == CV_OBJ ? " {}\n" : " []\n");
	} else if (nest_inline) {
		w_str(w, " ");
		if (v->kind == CV_OBJ)
			yw_map(w, v, ind + 2, 1);
		else
			yw_seq(w, v, ind + 2, 1);
	} else {
		w_str(w, "\n");
		if (v->kind == CV_OBJ)
			yw_map(w, v, ind + 2, 0);
		else
			yw_seq(w, v, ind + 2, 0);
	}
}

static void yw_map(wr *w, const cv *o, size_t ind, int inline_first)
{
	sbuf *saved = w->out;
	size_t i;

	for (i = 0; i < o->n && !w->err; i++) {
		if (i || !inline_first)
			w_spaces(w, ind);
		sbuf_reset(&w->scratch);
		w->out = &w->scratch;
		if (yaml_plain_ok(o->keys[i], o->klens[i]))
			w_add(w, o->keys[i], o->klens[i]);
		else
			yw_dquoted(w, o->keys[i], o->klens[i]);
		w->out = saved;
		/* Readers stop looking for the ':' of an implicit key after 1024
		 * characters; longer keys take the explicit "? key" form. */
		if (w->scratch.len > 1000) {
			w_str(w, "? ");
			w_add(w, w->scratch.buf, w->scratch.len);
			w_str(w, "\n");
			w_spaces(w, ind);
		} else {
			w_add(w, w->scratch.buf, w->scratch.len);
		}
		w_str(w, ":");
		yw_after(w, o->items[i], ind, 0);
	}
}

static void yw_seq(wr *w, const cv *a, size_t ind, int inline_first)
{
	size_t i;

	for (i = 0; i < a->n && !w->err; i++) {
		if (i || !inline_first)
			w_spaces(w, ind);
		w_str(w, "-");
		yw_after(w, a->items[i], ind, 1);
	}
}

static void write_yaml(wr *w, const cv *root)
{
	if (root->kind == CV_OBJ && root->n)
		yw_map(w, root, 0, 0);
	else if (root->kind == CV_ARR && root->n)
		yw_seq(w, root, 0, 0);
	else if (root->kind == CV_OBJ || root->kind == CV_ARR)
		w_str(w, root->kind == CV_OBJ ? "{}\n" : "[]\n");
	else
		yw_scalar(w, root, 0);
}

/* The escape Properties.store() would write at s[i] (in keys also blanks,
 * separators and comment marks), or NULL; *k gets the bytes it replaces. */
static const char *pw_escape(const char *s, size_t n, size_t i, int is_key, char buf[8], size_t *k)
{
	unsigned char c = (unsigned char)s[i];

	*k = 1;
	switch (c) {
	case '\\':
		return "\\\\";
	case '\t':
		return "\\t";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\f':
		return "\\f";
	case ' ':
		return is_key || i == 0 ? "\\ " : NULL;
	case '=':
		return is_key ? "\\=" : NULL;
	case ':':
		return is_key ? "\\:" : NULL;
	case '#':
		return is_key ? "\\#" : NULL;
	case '!':
		return is_key ? "\\!" : NULL;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(buf, 8, "\\u%04X", c);
		return buf;
	}
	if (c == 0xef && n - i >= 3 && !memcmp(s + i, "\xef\xbb\xbf", 3)) {
		*k = 3;
		return "\\uFEFF"; /* a reader would skip it as a byte order mark */
	}
	return NULL;
}

static void pw_escaped(wr *w, const char *s, size_t n, int is_key)
{
	size_t i = 0, run = 0, k;
	const char *esc;
	char buf[8];

	while (i < n) {
		esc = pw_escape(s, n, i, is_key, buf, &k);
		if (esc) {
			w_add(w, s + run, i - run);
			w_str(w, esc);
			run = i + k;
		}
		i += k;
	}
	w_add(w, s + run, n - run);
}

static hc_err pw_fail(wr *w, const cv *v, const char *fmt)
{
	sbuf_addstr(w->why, "cannot convert to properties: key '");
	path_props(w->why, w->path->v, w->path->n);
	sbuf_addf(w->why, "' %s (line %u)", fmt, v->line);
	return w->err = HC_ERR_UNPROCESSABLE;
}

static void pw_node(wr *w, const cv *v)
{
	cpath *p = w->path;
	size_t i;

	if (w->err)
		return;
	if (v->kind == CV_NULL) {
		pw_fail(w, v, "holds null, which properties cannot express");
		return;
	}
	if ((v->kind == CV_OBJ || v->kind == CV_ARR) && !v->n) {
		pw_fail(w, v, v->kind == CV_OBJ ? "holds an empty object" : "holds an empty list");
		return;
	}
	if (v->kind == CV_ARR || v->kind == CV_OBJ) {
		for (i = 0; i < v->n && !w->err; i++) {
			p->v[p->n] = v->kind == CV_ARR ? (pseg){NULL, 0, i, 1}
						       : (pseg){v->keys[i], v->klens[i], 0, 0};
			p->n++;
			if (v->kind == CV_OBJ && !v->klens[i]) {
				sbuf_addstr(w->why,
					    "cannot convert to properties: an empty key at ");
				path_json(w->why, p->v, p->n - 1);
				sbuf_addf(w->why, " (line %u)", v->items[i]->line);
				w->err = HC_ERR_UNPROCESSABLE;
			} else if (v->kind == CV_OBJ && strpbrk(v->keys[i], ".[]") != NULL) {
				char c = *strpbrk(v->keys[i], ".[]");
				sbuf_addstr(w->why, "cannot convert to properties: key '");
				add_quoted(w->why, v->keys[i], v->klens[i]);
				sbuf_addstr(w->why, "' at ");
				path_json(w->why, p->v, p->n - 1);
				sbuf_addf(w->why,
					  " contains '%c', which properties would read as %s "
					  "(line %u)",
					  c, c == '.' ? "nesting" : "a list index",
					  v->items[i]->line);
				w->err = HC_ERR_UNPROCESSABLE;
			} else {
				pw_node(w, v->items[i]);
			}
			p->n--;
		}
		return;
	}
	for (i = 0; i < p->n; i++) {
		if (p->v[i].is_idx) {
			char b[32];
			snprintf(b, sizeof(b), "[%zu]", p->v[i].idx);
			w_str(w, b);
		} else {
			if (i)
				w_str(w, ".");
			pw_escaped(w, p->v[i].key, p->v[i].klen, 1);
		}
	}
	w_str(w, "=");
	pw_escaped(w, v->s, v->slen, 0);
	w_str(w, "\n");
}

static void write_props(wr *w, const cv *root)
{
	static const char *const kinds[] = {"null", "a boolean", "a number", "a string", "a list"};

	if (root->kind != CV_OBJ) {
		sbuf_addf(w->why, "cannot convert to properties: the document is %s, not an object",
			  kinds[root->kind]);
		w->err = HC_ERR_UNPROCESSABLE;
		return;
	}
	w->path->n = 0;
	if (root->n) /* an empty file is the empty object */
		pw_node(w, root);
}

/* ---- entry point ---- */

/* 0 json, 1 yaml, 2 properties, 3 text or xml, -1 unknown. */
static int fmt_kind(const char *f)
{
	static const char *const names[] = {"json", "yaml", "properties", "text", "xml"};
	int i;

	for (i = 0; f && i < 5; i++)
		if (!strcmp(f, names[i]))
			return i < 3 ? i : 3;
	return -1;
}

hc_err conv_convert(const char *from, const char *data, size_t len, const char *to, sbuf *out,
		    sbuf *why)
{
	int fk = fmt_kind(from), tk = fmt_kind(to);
	sbuf msg = SBUF_INIT(SBUF_NOMAX), res;
	size_t room = out->max > out->len ? out->max - out->len : 0;
	cpath *path = NULL;
	cv *root = NULL;
	wr w = {0};
	hc_err err;

	if (fk >= 0 && tk >= 0 && !strcmp(from, to)) {
		err = sbuf_add(out, data, len);
		if (err)
			sbuf_addf(why, "the content is over the %zu-byte cap", out->max);
		return err;
	}
	if (fk == 3) {
		sbuf_addf(why, "cannot convert %s to %s", from, to ? to : "(null)");
		return HC_ERR_UNPROCESSABLE;
	}
	if (fk < 0 || tk < 0 || tk == 3) {
		sbuf_addf(why, "cannot convert %s to %s: formats are json, yaml and properties",
			  from ? from : "(null)", to ? to : "(null)");
		return HC_ERR_INVALID;
	}
	if (!utf8_valid(data, len)) {
		sbuf_addf(why, "cannot convert %s to %s: the content is not valid UTF-8", from, to);
		return HC_ERR_UNPROCESSABLE;
	}
	if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		data += 3, len -= 3;
	path = xmalloc(sizeof(*path));
	path->n = 0;
	err = fk == 0	? read_json(data, len, path, &msg, &root)
	      : fk == 1 ? read_yaml(data, len, &msg, &root)
			: read_props(data, len, path, &msg, &root);
	if (err) {
		sbuf_addf(why, "cannot convert %s to %s: %s", from, to, msg.buf);
		goto done;
	}
	sbuf_init(&res, room < CONV_MAX_OUTPUT ? room : CONV_MAX_OUTPUT);
	sbuf_init(&w.scratch, SBUF_NOMAX);
	w.out = &res;
	w.why = why;
	w.path = path;
	if (tk == 0) {
		jw_value(&w, root, 0);
		w_str(&w, "\n");
	} else if (tk == 1) {
		write_yaml(&w, root);
	} else {
		write_props(&w, root);
	}
	err = w.err;
	if (err == HC_ERR_TOO_BIG)
		sbuf_addf(why, "cannot convert %s to %s: the result would pass %zu bytes", from, to,
			  res.max);
	if (!err)
		sbuf_add(out, res.buf, res.len);
	sbuf_release(&res);
	sbuf_release(&w.scratch);
done:
	cv_unref(root);
	sbuf_release(&msg);
	free(path);
	return err;
}
