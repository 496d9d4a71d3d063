/*
 * httphead.c: see httphead.h. RFC 9112 sections 2-6, read strictly. Pure;
 * any thread; linear in the head.
 */
#include "httphead.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: tchar. */
static int tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

size_t head_end(const char *data, size_t n)
{
	size_t i;

	/* An empty line ends the head: CRLF CRLF, or bare LFs as lenient
	 * parsers (libmicrohttpd among them) accept. */
	for (i = 0; i + 1 < n; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (data[i + 1] == '\r' && i + 2 < n && data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* The next line of data[*pos..n) without its CRLF or LF; returns its length
 * and moves *pos past it, or returns (size_t)-1 at the end. */
static size_t next_line(const char *data, size_t n, size_t *pos, const char **line)
{
	const char *p = data + *pos, *nl;
	size_t len;

	if (*pos >= n)
		return (size_t)-1;
	nl = memchr(p, '\n', n - *pos);
	len = nl ? (size_t)(nl - p) : n - *pos;
	*pos += len + (nl ? 1 : 0);
	if (len && p[len - 1] == '\r')
		len--;
	*line = p;
	return len;
}

typedef struct fields {
	int host, te, cl;
	int te_chunked;
	uint64_t cl_value;
	int cl_conflict;
	int cl_bad;
	int cl_huge;
} fields;

static int ows(char c)
{
	return c == ' ' || c == '\t';
}

static void field(fields *f, const char *name, size_t nl, const char *v, size_t vl)
{
	size_t i;

	if (nl == 4 && !strncasecmp(name, "host", 4)) {
		f->host++;
	} else if (nl == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
		f->te++;
		f->te_chunked = vl == 7 && !strncasecmp(v, "chunked", 7);
	} else if (nl == 14 && !strncasecmp(name, "content-length", 14)) {
		uint64_t x = 0;
		int huge = 0;
		if (vl == 0)
			f->cl_bad = 1;
		for (i = 0; i < vl; i++) {
			if (v[i] < '0' || v[i] > '9') {
				f->cl_bad = 1;
				break;
			}
			if (x > (UINT64_MAX - 9) / 10)
				huge = 1;
			else
				x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (huge)
			f->cl_huge = 1;
		if (f->cl && (x != f->cl_value || huge))
			f->cl_conflict = 1;
		f->cl_value = x;
		f->cl++;
	}
}

static hc_err bad(sbuf *why, hc_err status, const char *msg)
{
	sbuf_addstr(why, msg);
	return status;
}

/* Checks the request line; sets *http11. */
static hc_err request_line(const char *l, size_t len, const head_limits *lim, int *http11,
			   sbuf *why)
{
	size_t i = 0, t0, tl;
	const char *v;

	while (i < len && tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i >= len || l[i] != ' ')
		return bad(why, HC_ERR_INVALID,
			   "malformed request line: expected METHOD SP target SP HTTP/1.x");
	t0 = ++i;
	while (i < len && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
		i++;
	tl = i - t0;
	if (tl == 0 || i >= len || l[i] != ' ')
		return bad(why, HC_ERR_INVALID,
			   "malformed request line: expected METHOD SP target SP HTTP/1.x");
	if (tl > lim->max_target) {
		sbuf_addf(why, "the request target is longer than %zu bytes", lim->max_target);
		return HC_ERR_URI_TOO_LONG;
	}
	v = l + i + 1;
	if (len - i - 1 != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return bad(why, HC_ERR_INVALID,
			   "malformed request line: expected METHOD SP target SP HTTP/1.x");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return bad(why, HC_ERR_HTTP_VERSION, "only HTTP/1.0 and HTTP/1.1 are supported");
	*http11 = v[7] == '1';
	return HC_OK;
}

/* Checks one field line into f. */
static hc_err field_line(const char *l, size_t len, fields *f, sbuf *why)
{
	size_t i = 0, nl, vs, ve;

	if (ows(l[0]))
		return bad(why, HC_ERR_INVALID, "folded header lines (obs-fold) are not accepted");
	while (i < len && tchar((unsigned char)l[i]))
		i++;
	if (i == 0 || i >= len || l[i] != ':')
		return bad(why, HC_ERR_INVALID,
			   "malformed header line: expected name:value with no space before ':'");
	nl = i;
	for (vs = i + 1; vs < len && ows(l[vs]); vs++)
		;
	for (ve = len; ve > vs && ows(l[ve - 1]); ve--)
		;
	for (i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)l[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad(why, HC_ERR_INVALID, "a header value holds a control character");
	}
	field(f, l, nl, l + vs, ve - vs);
	return HC_OK;
}

hc_err head_check(const char *data, size_t n, const head_limits *lim, sbuf *why)
{
	fields f = {0};
	const char *line;
	size_t pos = 0, len;
	hc_err st;
	int http11 = 0;

	if (n > lim->max_head) {
		sbuf_addf(why, "the request head is larger than %zu bytes", lim->max_head);
		return HC_ERR_HEADERS_TOO_BIG;
	}
	if (memchr(data, '\0', n))
		return bad(why, HC_ERR_INVALID, "the request head holds a NUL byte");
	/* Empty lines before the request line are ignored (RFC 9112 2.2). */
	do {
		len = next_line(data, n, &pos, &line);
	} while (len == 0);
	if (len == (size_t)-1)
		return bad(why, HC_ERR_INVALID, "no request line");
	st = request_line(line, len, lim, &http11, why);
	if (st)
		return st;
	while ((len = next_line(data, n, &pos, &line)) != (size_t)-1 && len > 0) {
		st = field_line(line, len, &f, why);
		if (st)
			return st;
	}
	if (f.cl_bad)
		return bad(why, HC_ERR_INVALID, "Content-Length must be a decimal number");
	if (f.cl_conflict)
		return bad(why, HC_ERR_INVALID, "two different Content-Length values");
	if (f.cl_huge || (f.cl && f.cl_value > lim->max_body))
		return bad(why, HC_ERR_TOO_BIG,
			   "Content-Length is larger than any body hotconf accepts");
	if (f.te && f.cl)
		return bad(why, HC_ERR_INVALID,
			   "Content-Length together with Transfer-Encoding is ambiguous");
	if (f.te > 1 || (f.te && !f.te_chunked))
		return bad(why, HC_ERR_INVALID,
			   "the only Transfer-Encoding accepted is a single 'chunked'");
	if (f.host > 1)
		return bad(why, HC_ERR_INVALID, "more than one Host header");
	if (http11 && !f.host)
		return bad(why, HC_ERR_INVALID, "an HTTP/1.1 request needs a Host header");
	return HC_OK;
}

/* The long polls, by method and path prefix; wait: needs "wait=" in the query. */
static const struct {
	const char *method, *prefix;
	int wait;
} watch_routes[] = {
    {"POST", "/api/v1/watch", 0},
    {"GET", "/api/v1/configs/", 1},
    {"POST", "/nacos/v1/cs/configs/listener", 0},
    {"GET", "/notifications/v2", 0},
};

int head_is_watch(const char *data, size_t n)
{
	const char *sp = memchr(data, ' ', n), *eol, *target, *tend, *q;
	size_t i, ml, pl, tl;

	if (!sp)
		return 0;
	eol = memchr(data, '\n', n);
	target = sp + 1;
	if (!eol || target >= eol)
		return 0;
	tend = memchr(target, ' ', (size_t)(eol - target));
	if (!tend)
		return 0;
	ml = (size_t)(sp - data);
	tl = (size_t)(tend - target);
	for (i = 0; i < sizeof(watch_routes) / sizeof(watch_routes[0]); i++) {
		pl = strlen(watch_routes[i].prefix);
		if (ml != strlen(watch_routes[i].method) ||
		    memcmp(data, watch_routes[i].method, ml) || tl < pl ||
		    memcmp(target, watch_routes[i].prefix, pl))
			continue;
		q = memchr(target, '?', tl);
		if (!watch_routes[i].wait) {
			if (tl == pl || target[pl] == '?')
				return 1;
			continue;
		}
		for (; q && q < tend; q = memchr(q + 1, '&', (size_t)(tend - q - 1)))
			if ((size_t)(tend - q) > 6 && !memcmp(q + 1, "wait=", 5))
				return 1;
	}
	return 0;
}
