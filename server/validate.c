/*
 * validate.c: see validate.h. Pure functions; any thread. cJSON and libyaml
 * are used only to find the first syntax error and where it is.
 */
#include "validate.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Only dots, one or two of them: a path segment that means "here" or "up". */
static int is_dot_name(const char *s, size_t n)
{
	return (n == 1 || n == 2) && s[0] == '.' && s[n - 1] == '.';
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

/* Why the n bytes at s are not a name, or NULL when they are one. When one
 * byte is the reason, *at is its offset, else n. */
static const char *name_problem(const char *s, size_t n, size_t *at)
{
	size_t i;

	*at = n;
	if (n == 0)
		return "it is empty";
	if (n > 128)
		return "it is longer than 128 bytes";
	if (is_dot_name(s, n))
		return "'.' and '..' are not names";
	for (i = 0; i < n; i++) {
		if (!name_char((unsigned char)s[i])) {
			*at = i;
			return "it contains";
		}
	}
	return NULL;
}

int val_name_okn(const char *s, size_t n)
{
	size_t at;

	return name_problem(s, n, &at) == NULL;
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
	else
		goto fail;
	/* Compare by division first: v * mul itself may not fit. */
	*ms = v > VAL_DURATION_MAX_MS / mul ? VAL_DURATION_MAX_MS : v * mul;
	return HC_OK;
fail:
	sbuf_addf(why, "wait '%.40s' is invalid: use a number with ms, s or m (e.g. 30s)", s);
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

hc_err val_cidr_parse(const char *s, val_cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int64_t bits;

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
	if (slash) {
		if (val_int(slash + 1, &bits) || bits > (int64_t)out->bits)
			return HC_ERR_INVALID;
		out->bits = (unsigned)bits;
	}
	return HC_OK;
}

int val_cidr_match(const val_cidr *c, const char *ip)
{
	unsigned char a[16];
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (inet_pton(c->family, ip, a) != 1)
		return 0;
	if (memcmp(a, c->addr, full))
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (c->addr[full] & mask))
			return 0;
	}
	return 1;
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

static const char *const formats[][2] = {
    {"text", "text/plain; charset=utf-8"},
    {"json", "application/json"},
    {"yaml", "application/yaml"},
    {"properties", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
};

int val_format_ok(const char *format)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(format, formats[i][0]))
			return 1;
	return 0;
}

const char *val_format_mime(const char *format)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(format, formats[i][0]))
			return formats[i][1];
	return "application/octet-stream";
}

/* 1-based line and column of offset off in data. */
static void line_col(const char *data, size_t off, unsigned long *line, unsigned long *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (data[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static hc_err check_json(const char *data, size_t len, sbuf *why)
{
	const char *end = NULL;
	cJSON *doc;
	unsigned long line, col;

	/* The return_parse_end out-parameter, not cJSON_GetErrorPtr(): that one is
	 * a global shared by every thread. */
	doc = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (doc) {
		size_t off = (size_t)(end - data);
		while (off < len && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' ||
				     data[off] == '\r'))
			off++;
		cJSON_Delete(doc);
		if (off == len)
			return HC_OK;
		line_col(data, off, &line, &col);
		sbuf_addf(
		    why, "invalid json at line %lu, column %lu: unexpected content after the value",
		    line, col);
		return HC_ERR_INVALID;
	}
	line_col(data, end && end >= data && end <= data + len ? (size_t)(end - data) : len, &line,
		 &col);
	sbuf_addf(why, "invalid json at line %lu, column %lu: syntax error", line, col);
	return HC_ERR_INVALID;
}

static hc_err check_yaml(const char *data, size_t len, sbuf *why)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	hc_err err = HC_OK;
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
		done = ev.type == YAML_STREAM_END_EVENT;
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
