/*
 * validate.c: see validate.h. Pure functions; any thread. json content is
 * checked by the state machine below; libyaml parses yaml content, only to
 * find the first error and where it is. Nothing here allocates except
 * libyaml and the sbufs of messages.
 */
#include "validate.h"

#include "cfgkey.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "utf8.h"

/* Only dots, one or two of them: a path segment that means "here" or "up". */
static int is_dot_name(const char *s, size_t n)
{
	return (n == 1 || n == 2) && s[0] == '.' && s[n - 1] == '.';
}

/* Why the n bytes at s are not a name, or NULL when they are one. When one
 * byte is the reason, *at is its offset, else n. */
static const char *name_problem(const char *s, size_t n, size_t *at)
{
	size_t i;

	*at = n;
	if (n == 0)
		return "it is empty";
	if (n > CFGKEY_NAME_MAX)
		return "it is longer than 128 bytes";
	if (is_dot_name(s, n))
		return "'.' and '..' are not names";
	for (i = 0; i < n; i++) {
		if (!cfgkey_name_char((unsigned char)s[i])) {
			*at = i;
			return "it contains";
		}
	}
	return NULL;
}

int val_name_okn(const char *s, size_t n)
{
	return cfgkey_name_ok(s, n); /* the one rule; name_problem only explains it */
}

int val_name_ok(const char *s)
{
	return val_name_okn(s, strlen(s));
}

/* Appends the first bytes of s for a message: NUL as \0, backslash as \\,
 * anything else outside printable ASCII as \xHH, so the message stays one
 * line of valid UTF-8 and shows what was really sent. */
static void add_quoted_name(sbuf *why, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, shown = n > 140 ? 140 : n;

	for (i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0') {
			sbuf_addstr(why, "\\0");
		} else if (c == '\\') {
			sbuf_addstr(why, "\\\\");
		} else if (c < 0x20 || c >= 0x7f) {
			char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
			sbuf_add(why, e, sizeof(e));
		} else {
			sbuf_addch(why, (char)c);
		}
	}
	if (shown < n)
		sbuf_addstr(why, "...");
}

hc_err val_namen(const char *what, const char *s, size_t n, sbuf *why)
{
	size_t at;
	const char *problem = name_problem(s, n, &at);
	unsigned char c;

	if (!problem)
		return HC_OK;
	sbuf_addf(why, "%s '", what);
	add_quoted_name(why, s, n);
	sbuf_addf(why, "' is invalid: %s", problem);
	if (at < n) {
		c = (unsigned char)s[at];
		if (c == '\0')
			sbuf_addstr(why, " a NUL byte");
		else if (c >= 0x20 && c < 0x7f)
			sbuf_addf(why, " '%c'", c);
		else
			sbuf_addf(why, " the byte 0x%02x", c);
		sbuf_addf(why, " at position %zu", at + 1);
	}
	sbuf_addstr(why, "; use 1-128 characters of A-Z a-z 0-9 . _ : - (not . or ..)");
	return HC_ERR_INVALID;
}

hc_err val_name(const char *what, const char *s, sbuf *why)
{
	return val_namen(what, s, strlen(s), why);
}

hc_err val_int(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (!s || !*s)
		return HC_ERR_INVALID;
	for (; *s; s++) {
		int d = *s - '0';
		if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
			return HC_ERR_INVALID;
		v = v * 10 + d;
	}
	*out = v;
	return HC_OK;
}

hc_err val_duration(const char *s, uint64_t *ms, sbuf *why)
{
	const char *p = s;
	uint64_t v = 0, mul;

	for (; *p >= '0' && *p <= '9'; p++) {
		/* Stop growing once past the cap: v stays below 10 * cap + 9, far from
		 * 2^64, and the answer is the cap whatever digits follow. */
		if (v <= VAL_DURATION_MAX_MS)
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		goto fail;
	if (!strcmp(p, "ms"))
		mul = 1;
	else if (!strcmp(p, "s") || !*p)
		mul = 1000;
	else if (!strcmp(p, "m"))
		mul = 60000;
	else if (!strcmp(p, "h"))
		mul = 3600000;
	else
		goto fail;
	/* Compare by division first: v * mul itself may not fit. */
	*ms = v > VAL_DURATION_MAX_MS / mul ? VAL_DURATION_MAX_MS : v * mul;
	return HC_OK;
fail:
	sbuf_addf(why, "wait '%.40s' is invalid: use a number with ms, s, m or h (e.g. 30s)", s);
	return HC_ERR_INVALID;
}

uint64_t val_deadline(uint64_t now_ms, uint64_t wait_ms)
{
	return wait_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + wait_ms;
}

static int label_key_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
}

hc_err val_labels(const char *s, sbuf *out, sbuf *why)
{
	const char *p = s;

	sbuf_reset(out);
	while (*p) {
		const char *k, *v;
		size_t kl, vl;
		while (*p == ' ')
			p++;
		for (k = p; label_key_char((unsigned char)*p); p++)
			;
		kl = (size_t)(p - k);
		if (!kl || *p != '=')
			goto fail;
		for (v = ++p; *p && *p != ',' && *p != '='; p++)
			;
		vl = (size_t)(p - v);
		while (vl && v[vl - 1] == ' ')
			vl--;
		if (*p == '=')
			goto fail;
		if (out->len && sbuf_addch(out, ','))
			goto fail;
		if (sbuf_add(out, k, kl) || sbuf_addch(out, '=') || sbuf_add(out, v, vl))
			goto fail;
		if (*p == ',')
			p++;
	}
	return HC_OK;
fail:
	sbuf_reset(out);
	sbuf_addf(why, "X-Hotconf-Labels '%.200s' is invalid: use k=v,k2=v2", s);
	return HC_ERR_INVALID;
}

/* Calls back with each entity tag of a list, quotes and W/ removed. */
static int etag_each(const char *h, int (*fn)(void *ctx, const char *tag, size_t n), void *ctx)
{
	const char *p = h;

	while (*p) {
		const char *t;
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p == '"') {
			t = ++p;
			while (*p && *p != '"')
				p++;
			n = (size_t)(p - t);
			if (*p)
				p++;
		} else {
			t = p;
			while (*p && *p != ',' && *p != ' ')
				p++;
			n = (size_t)(p - t);
		}
		if (n && fn(ctx, t, n))
			return 1;
	}
	return 0;
}

static int etag_is(void *ctx, const char *tag, size_t n)
{
	const char *md5 = ctx;

	return strlen(md5) == n && !memcmp(md5, tag, n);
}

int val_etag_match(const char *header, const char *md5, int any_ok)
{
	const char *p = header;

	while (*p == ' ')
		p++;
	if (p[0] == '*')
		return any_ok;
	return etag_each(header, etag_is, (void *)md5);
}

static int etag_copy(void *ctx, const char *tag, size_t n)
{
	char *out = ctx;

	if (n > 32)
		n = 32;
	memcpy(out, tag, n);
	out[n] = '\0';
	return 1;
}

int val_etag_first(const char *header, char out[33])
{
	out[0] = '\0';
	return etag_each(header, etag_copy, out);
}

/*
 * json: RFC 8259, checked by a state machine of our own rather than by
 * cJSON. One pass with O(1) work per byte and no recursion; an explicit stack
 * of at most VAL_MAX_DEPTH container kinds; strings must be valid UTF-8 with
 * no raw control characters; and the first error is reported at the byte that
 * causes it. Nothing is built: no allocation at all.
 */
typedef struct jscan {
	const unsigned char *p;
	size_t len;
	sbuf *why;
	size_t depth;
	unsigned char open[VAL_MAX_DEPTH]; /* '[' or '{' of each enclosing container */
} jscan;

enum jstate {
	J_VALUE,       /* a value must come: at the start, after ':' or after ',' in an array */
	J_FIRST_VALUE, /* a value or ']' right after '[' */
	J_KEY,	       /* a key after ',' in an object */
	J_FIRST_KEY,   /* a key or '}' right after '{' */
	J_COLON,       /* ':' after a key */
	J_AFTER,       /* after a value: ',' or the closing bracket, or the end at depth 0 */
};

static const unsigned char utf8_bom[3] = {0xef, 0xbb, 0xbf};

static int has_bom(const unsigned char *p, size_t len)
{
	return len >= 3 && !memcmp(p, utf8_bom, 3);
}

/* 1-based line and column (in characters) of offset off; the bytes before off
 * are valid UTF-8, and a leading byte-order mark takes no column. */
static void line_col(const unsigned char *p, size_t len, size_t off, unsigned long *line,
		     unsigned long *col)
{
	size_t i = has_bom(p, len) && off >= 3 ? 3 : 0;

	*line = 1;
	*col = 1;
	for (; i < off; i++) {
		if (p[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if ((p[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* Writes "invalid json at line L, column C: <fmt...>" for offset off;
 * returns -1 so callers can `return jfail(...)`. */
__attribute__((format(printf, 3, 4))) static int jfail(jscan *j, size_t off, const char *fmt, ...)
{
	unsigned long line, col;
	va_list ap;

	line_col(j->p, j->len, off, &line, &col);
	sbuf_addf(j->why, "invalid json at line %lu, column %lu: ", line, col);
	va_start(ap, fmt);
	sbuf_vaddf(j->why, fmt, ap);
	va_end(ap);
	return -1;
}

/* The code point of the valid UTF-8 sequence of k bytes at s. */
static unsigned long utf8_decode(const unsigned char *s, size_t k)
{
	static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	unsigned long cp = s[0] & lead_mask[k];
	size_t i;

	for (i = 1; i < k; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/* The error for finding something other than `what` at off. */
static int jexpected(jscan *j, size_t off, const char *what)
{
	unsigned char c;
	size_t k;

	if (off >= j->len)
		return jfail(j, off, "expected %s, found the end of the input", what);
	c = j->p[off];
	if (c >= 0x20 && c < 0x7f)
		return jfail(j, off, "expected %s, found '%c'", what, c);
	if (c < 0x80)
		return jfail(j, off, "expected %s, found U+%04X", what, c);
	k = utf8_seq_len(j->p + off, j->len - off);
	if (!k)
		return jfail(j, off, "invalid UTF-8");
	return jfail(j, off, "expected %s, found U+%04lX", what, utf8_decode(j->p + off, k));
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* The value of the 4 hex digits at s, or -1. */
static long hex4(const unsigned char *s)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char c = s[i];
		int d = is_digit(c)		 ? c - '0'
			: (c >= 'a' && c <= 'f') ? c - 'a' + 10
			: (c >= 'A' && c <= 'F') ? c - 'A' + 10
						 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The escape at *i (a backslash inside a string); moves *i past it. */
static int json_escape(jscan *j, size_t *i)
{
	const unsigned char *p = j->p;
	size_t at = *i;
	long cp, lo;

	if (at + 1 >= j->len)
		return jfail(j, at, "unterminated escape at the end of the input");
	if (p[at + 1] && strchr("\"\\/bfnrt", p[at + 1])) {
		*i = at + 2;
		return 0;
	}
	if (p[at + 1] != 'u')
		return jexpected(j, at + 1, "an escape (\" \\ / b f n r t or u)");
	cp = j->len - at >= 6 ? hex4(p + at + 2) : -1;
	if (cp < 0)
		return jfail(j, at, "invalid \\u escape: use \\u and 4 hex digits");
	*i = at + 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return jfail(j, at, "invalid \\u escape: \\u%04lX is a lone surrogate", cp);
	if (cp < 0xd800 || cp > 0xdbff)
		return 0;
	/* A high surrogate counts only as the first half of a pair. */
	lo = j->len - *i >= 6 && p[*i] == '\\' && p[*i + 1] == 'u' ? hex4(p + *i + 2) : -1;
	if (lo < 0xdc00 || lo > 0xdfff)
		return jfail(j, at, "invalid \\u escape: \\u%04lX is a lone surrogate", cp);
	*i += 6;
	return 0;
}

/* The string whose opening quote is at *off; moves *off past the closing one. */
static int json_string(jscan *j, size_t *off)
{
	const unsigned char *p = j->p;
	size_t i = *off + 1, k;

	while (i < j->len) {
		unsigned char c = p[i];
		if (c == '"') {
			*off = i + 1;
			return 0;
		}
		if (c == '\\') {
			if (json_escape(j, &i))
				return -1;
		} else if (c < 0x20) {
			return jfail(j, i, "control character U+%04X in a string", c);
		} else if (c < 0x80) {
			i++;
		} else {
			k = utf8_seq_len(p + i, j->len - i);
			if (!k)
				return jfail(j, i, "invalid UTF-8");
			i += k;
		}
	}
	return jfail(j, *off, "unterminated string");
}

/* The number at *off (a '-' or a digit); moves *off past it. */
static int json_number(jscan *j, size_t *off)
{
	const unsigned char *p = j->p;
	size_t i = *off, n = j->len;

	if (p[i] == '-')
		i++;
	if (i >= n || !is_digit(p[i]))
		return jexpected(j, i, "a digit");
	if (p[i] == '0') {
		if (++i < n && is_digit(p[i]))
			return jfail(j, *off, "invalid number: no leading zeros");
	}
	while (i < n && is_digit(p[i]))
		i++;
	if (i < n && p[i] == '.') {
		if (++i >= n || !is_digit(p[i]))
			return jexpected(j, i, "a digit after '.'");
		while (i < n && is_digit(p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		if (++i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit(p[i]))
			return jexpected(j, i, "a digit in the exponent");
		while (i < n && is_digit(p[i]))
			i++;
	}
	*off = i;
	return 0;
}

/* A scalar value at *off; moves *off past it. */
static int json_scalar(jscan *j, size_t *off)
{
	static const char *const literals[] = {"true", "false", "null"};
	unsigned char c = j->p[*off];
	size_t i, n;

	if (c == '"')
		return json_string(j, off);
	if (c == '-' || is_digit(c))
		return json_number(j, off);
	for (i = 0; i < 3; i++) {
		if (c != (unsigned char)literals[i][0])
			continue;
		n = strlen(literals[i]);
		if (j->len - *off < n || memcmp(j->p + *off, literals[i], n))
			return jfail(j, *off, "invalid literal: expected %s", literals[i]);
		*off += n;
		return 0;
	}
	return jexpected(j, *off, "a value");
}

static size_t json_ws(const jscan *j, size_t off)
{
	while (off < j->len &&
	       (j->p[off] == ' ' || j->p[off] == '\t' || j->p[off] == '\n' || j->p[off] == '\r'))
		off++;
	return off;
}

/* One step of the state machine at off (after whitespace): consumes a token,
 * or the whole scalar, and returns the next state, or -1 after an error. */
static int json_step(jscan *j, int st, size_t *off)
{
	/* 0 at the end: no test below accepts it there. */
	unsigned char c = *off < j->len ? j->p[*off] : 0;
	int in_array = j->depth && j->open[j->depth - 1] == '[';

	switch (st) {
	case J_FIRST_VALUE:
	case J_VALUE:
		if (*off >= j->len)
			return jexpected(j, *off, "a value");
		if (c == ']' && st == J_FIRST_VALUE)
			break;
		if (c == '[' || c == '{') {
			if (j->depth == VAL_MAX_DEPTH)
				return jfail(j, *off, "nesting deeper than %d levels",
					     VAL_MAX_DEPTH);
			j->open[j->depth++] = c;
			++*off;
			return c == '[' ? J_FIRST_VALUE : J_FIRST_KEY;
		}
		return json_scalar(j, off) ? -1 : J_AFTER;
	case J_FIRST_KEY:
	case J_KEY:
		if (c == '}' && st == J_FIRST_KEY)
			break;
		if (c != '"')
			return jexpected(j, *off,
					 st == J_KEY ? "a string key" : "a string key or '}'");
		return json_string(j, off) ? -1 : J_COLON;
	case J_COLON:
		if (c != ':')
			return jexpected(j, *off, "':'");
		++*off;
		return J_VALUE;
	case J_AFTER:
		if (c == ',' && j->depth) {
			++*off;
			return in_array ? J_VALUE : J_KEY;
		}
		if (c == (in_array ? ']' : '}') && j->depth)
			break;
		if (j->depth)
			return jexpected(j, *off, in_array ? "',' or ']'" : "',' or '}'");
		if (c >= 0x80 && !utf8_seq_len(j->p + *off, j->len - *off))
			return jfail(j, *off, "invalid UTF-8");
		return jfail(j, *off, "unexpected content after the value");
	}
	/* A closing bracket: the container is a value of its parent. */
	j->depth--;
	++*off;
	return J_AFTER;
}

static hc_err check_json(const char *data, size_t len, sbuf *why)
{
	jscan j = {(const unsigned char *)data, len, why, 0, {0}};
	size_t off = has_bom(j.p, len) ? 3 : 0;
	int st = J_VALUE;

	/* Each step consumes at least one byte, so this runs at most len + 1 times. */
	for (;;) {
		off = json_ws(&j, off);
		if (st == J_AFTER && j.depth == 0 && off == len)
			return HC_OK;
		st = json_step(&j, st, &off);
		if (st < 0)
			return HC_ERR_INVALID;
	}
}

/* yaml: libyaml's parser, stopped at the first collection past VAL_MAX_DEPTH.
 * libyaml spends time proportional to the flow depth on every token, so an
 * unbounded depth is quadratic; its scanner reads at most about 1024 characters
 * past the event we stop at, so the deepest it ever gets is bounded too. */
static hc_err check_yaml(const char *data, size_t len, sbuf *why)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	hc_err err = HC_OK;
	size_t depth = 0;
	int done = 0;

	if (!yaml_parser_initialize(&parser))
		return HC_ERR_INTERNAL;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			sbuf_addf(why, "invalid yaml at line %lu, column %lu: %s%s%s",
				  (unsigned long)parser.problem_mark.line + 1,
				  (unsigned long)parser.problem_mark.column + 1,
				  parser.problem ? parser.problem : "syntax error",
				  parser.context ? " " : "", parser.context ? parser.context : "");
			err = HC_ERR_INVALID;
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
			if (++depth > VAL_MAX_DEPTH) {
				sbuf_addf(
				    why,
				    "invalid yaml at line %lu, column %lu: nesting deeper than "
				    "%d levels",
				    (unsigned long)ev.start_mark.line + 1,
				    (unsigned long)ev.start_mark.column + 1, VAL_MAX_DEPTH);
				err = HC_ERR_INVALID;
				done = 1;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
			   ev.type == YAML_MAPPING_END_EVENT) {
			depth--;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = 1;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return err;
}

hc_err val_content(const char *format, const char *data, size_t len, sbuf *why)
{
	if (!strcmp(format, "json"))
		return check_json(data, len, why);
	if (!strcmp(format, "yaml"))
		return check_yaml(data, len, why);
	return HC_OK;
}
