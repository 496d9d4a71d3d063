/*
 * http.c: the little HTTP/1.1 hcload needs. It parses responses (Content-
 * Length, chunked as etcd's Go server sends while a watch is held, or ending
 * at close) and builds the requests of both targets: hotconf's API and etcd's
 * v2 keys API and v3 JSON gateway. Pure functions over buffers; any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base64.h"
#include "clock.h"
#include "hcload.h"
#include "xmalloc.h"

#define MAX_HEADERS (64u << 10)

/* Where "\r\n\r\n" starts in buf[0..len), or -1. */
static long find_blank_line(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n')
			return (long)i;
	return -1;
}

/* Where "\r\n" starts in buf[from..len), or -1. */
static long find_crlf(const char *buf, size_t from, size_t len)
{
	size_t i;

	for (i = from; i + 1 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n')
			return (long)i;
	return -1;
}

/* Does the header value v[0..n) contain token (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *token)
{
	size_t t = strlen(token), i;

	for (i = 0; i + t <= n; i++)
		if (!strncasecmp(v + i, token, t))
			return 1;
	return 0;
}

static void header(hl_resp *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
	if (nlen == 14 && !strncasecmp(name, "content-length", 14)) {
		char num[24];
		if (vlen >= sizeof(num))
			vlen = sizeof(num) - 1;
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		r->content_len = strtoll(num, NULL, 10);
	} else if (nlen == 17 && !strncasecmp(name, "transfer-encoding", 17)) {
		r->chunked = has_token(v, vlen, "chunked");
	} else if (nlen == 10 && !strncasecmp(name, "connection", 10)) {
		if (has_token(v, vlen, "close"))
			r->close = 1;
		else if (has_token(v, vlen, "keep-alive"))
			r->close = 0;
	} else if (nlen == 14 && !strncasecmp(name, "x-hotconf-gray", 14)) {
		if (vlen >= sizeof(r->gray))
			vlen = sizeof(r->gray) - 1;
		memcpy(r->gray, v, vlen);
		r->gray[vlen] = '\0';
	} else if (nlen == 4 && !strncasecmp(name, "etag", 4)) {
		while (vlen && (*v == '"' || *v == 'W' || *v == '/')) {
			v++;
			vlen--;
		}
		while (vlen && v[vlen - 1] == '"')
			vlen--;
		if (vlen >= sizeof(r->etag))
			vlen = sizeof(r->etag) - 1;
		memcpy(r->etag, v, vlen);
		r->etag[vlen] = '\0';
	}
}

/* Parses the status line and headers of buf[0..end), end at the blank line. */
static int parse_head(const char *buf, size_t end, hl_resp *r)
{
	long eol = find_crlf(buf, 0, end + 2);
	size_t pos;

	if (eol < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ' ||
	    !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]))
		return -1;
	r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	r->close = buf[7] == '0'; /* HTTP/1.0 closes unless it says keep-alive */
	pos = (size_t)eol + 2;
	while (pos < end) {
		long e = find_crlf(buf, pos, end + 2);
		const char *line = buf + pos, *colon;
		size_t len, nlen;

		if (e < 0)
			return -1;
		len = (size_t)e - pos;
		colon = memchr(line, ':', len);
		if (!colon)
			return -1;
		nlen = (size_t)(colon - line);
		colon++;
		while (colon < line + len && (*colon == ' ' || *colon == '\t'))
			colon++;
		header(r, line, nlen, colon, (size_t)(line + len - colon));
		pos = (size_t)e + 2;
	}
	return 0;
}

/* Walks the chunks of buf[0..len); returns 1 complete (r->body_used set), 0, or -1. */
static int parse_chunked(const char *buf, size_t len, hl_resp *r, sbuf *body)
{
	size_t pos = 0;

	for (;;) {
		long eol = find_crlf(buf, pos, len);
		char *end;
		unsigned long long size;

		if (eol < 0)
			return len - pos > 1024 ? -1 : 0;
		size = strtoull(buf + pos, &end, 16);
		if (end == buf + pos || size > HL_MAX_RESPONSE)
			return -1;
		pos = (size_t)eol + 2;
		if (size == 0) {
			/* Trailers, if any, end with an empty line. */
			for (;;) {
				long t = find_crlf(buf, pos, len);
				if (t < 0)
					return 0;
				if ((size_t)t == pos) {
					r->body_used = pos + 2;
					return 1;
				}
				pos = (size_t)t + 2;
			}
		}
		if (len < pos + size + 2)
			return 0;
		if (buf[pos + size] != '\r' || buf[pos + size + 1] != '\n')
			return -1;
		if (body && sbuf_add(body, buf + pos, size))
			return -1;
		pos += size + 2;
	}
}

int hl_http_head(const char *buf, size_t len, hl_resp *r)
{
	long blank = find_blank_line(buf, len);

	memset(r, 0, sizeof(*r));
	r->content_len = -1;
	if (blank < 0)
		return len > MAX_HEADERS ? -1 : 0;
	if (parse_head(buf, (size_t)blank, r))
		return -1;
	r->hdr_len = (size_t)blank + 4;
	return 1;
}

int hl_http_body(const char *buf, size_t len, int eof, hl_resp *r, sbuf *body)
{
	size_t before = body ? body->len : 0;
	int rc;

	if ((r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304) {
		r->body_used = 0;
		return 1;
	}
	if (r->chunked) {
		rc = parse_chunked(buf, len, r, body);
		if (rc != 1 && body && body->len > before) {
			/* Drop the chunks of an incomplete body: the next call
			 * parses it again from its start. */
			body->len = before;
			body->buf[before] = '\0';
		}
		return rc;
	}
	if (r->content_len >= 0) {
		if ((unsigned long long)r->content_len > HL_MAX_RESPONSE)
			return -1;
		if (len < (size_t)r->content_len)
			return 0;
		r->body_used = (size_t)r->content_len;
		if (body && sbuf_add(body, buf, r->body_used))
			return -1;
		return 1;
	}
	/* No length: the body ends when the server closes. */
	r->close = 1;
	if (!eof)
		return len > HL_MAX_RESPONSE ? -1 : 0;
	r->body_used = len;
	if (body && sbuf_add(body, buf, len))
		return -1;
	return 1;
}

void hl_content(sbuf *out, size_t size, const char *tag, uint64_t seq)
{
	/* The wall clock and pid make content unique across runs on one server:
	 * hotconf treats a publish of identical content as a no-op. */
	static uint64_t nonce;
	size_t start = out->len;

	if (!nonce)
		nonce = ((uint64_t)clock_wall_ms() << 16) ^ (uint64_t)getpid();
	sbuf_addf(out, "hcload-%s-%llu-%llx-", tag, (unsigned long long)seq,
		  (unsigned long long)nonce);
	if (out->len - start < size && !sbuf_grow(out, size - (out->len - start))) {
		memset(out->buf + out->len, 'x', size - (out->len - start));
		out->len = start + size;
		out->buf[out->len] = '\0';
	}
}

void hl_key_path(const hl_opts *o, sbuf *out, const char *key)
{
	if (o->target == HL_HOTCONF)
		sbuf_addf(out, "/api/v1/configs/public/hcload/%s", key);
	else
		sbuf_addf(out, "/v2/keys/hcload/%s", key);
}

void hl_req_watch(const hl_opts *o, sbuf *out, const char *key, const char *md5, const char *extra)
{
	sbuf_addstr(out, "GET ");
	hl_key_path(o, out, key);
	if (o->target == HL_HOTCONF)
		sbuf_addf(out, "?wait=%s HTTP/1.1\r\nHost: %s\r\n%s%sIf-None-Match: \"%s\"\r\n\r\n",
			  o->wait, o->host, o->authz, extra ? extra : "", md5);
	else
		sbuf_addf(out, "?wait=true HTTP/1.1\r\nHost: %s\r\n\r\n", o->host);
}

void hl_req_put(const hl_opts *o, sbuf *out, const char *key, const char *content, size_t n)
{
	sbuf payload = SBUF_INIT(SBUF_NOMAX), k = SBUF_INIT(SBUF_NOMAX);
	const char *ctype = "text/plain";

	if (o->target == HL_HOTCONF) {
		sbuf_addstr(out, "PUT ");
		hl_key_path(o, out, key);
		sbuf_add(&payload, content, n);
	} else if (!o->etcd_v3) {
		sbuf_addstr(out, "PUT ");
		hl_key_path(o, out, key);
		/* hl_content is URL-safe, so the value needs no escaping. */
		sbuf_addstr(&payload, "value=");
		sbuf_add(&payload, content, n);
		ctype = "application/x-www-form-urlencoded";
	} else {
		sbuf_addstr(out, "POST /v3/kv/put");
		sbuf_addf(&k, "hcload/%s", key);
		sbuf_addstr(&payload, "{\"key\":\"");
		base64_encode(&payload, k.buf, k.len);
		sbuf_addstr(&payload, "\",\"value\":\"");
		base64_encode(&payload, content, n);
		sbuf_addstr(&payload, "\"}");
		ctype = "application/json";
	}
	sbuf_addf(out, " HTTP/1.1\r\nHost: %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		  o->host, o->target == HL_HOTCONF ? o->authz : "", ctype, payload.len);
	sbuf_add(out, payload.buf, payload.len);
	sbuf_release(&payload);
	sbuf_release(&k);
}

void hl_req_get(const hl_opts *o, sbuf *out, const char *path)
{
	sbuf_addf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, o->host,
		  o->target == HL_HOTCONF ? o->authz : "");
}

long long hl_metric(const char *body, const char *name)
{
	size_t n = strlen(name);
	const char *p = body;

	while ((p = strstr(p, name))) {
		/* Only a whole metric name at the start of a line, followed by a space. */
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p += n;
	}
	return -1;
}

/* Head and body of buf[0..len) at once; returns like hl_http_body. */
static int parse_whole(const char *buf, size_t len, int eof, hl_resp *r, sbuf *body)
{
	int rc = hl_http_head(buf, len, r);

	if (rc <= 0)
		return rc;
	rc = hl_http_body(buf + r->hdr_len, len - r->hdr_len, eof, r, body);
	return rc;
}

int hl_http_selftest(void)
{
	static const struct {
		const char *wire, *body;
		int status, eof;
	} cases[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n\r\nhello", "hello", 200, 0},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "4\r\nwiki\r\n6;ext=1\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n",
	     "wikipedia ", 200, 0},
	    {"HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\n\r\n", "", 304, 0},
	    {"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", "until close", 200,
	     1},
	};
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	hl_resp r;
	size_t i, cut;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].wire);

		/* Every strict prefix is incomplete, as when a response comes in
		 * pieces; the whole is complete with the right body. */
		for (cut = 0; cut < len; cut++) {
			/* An exact-size copy with no NUL: a sanitizer build
			 * catches any read past the bytes received. */
			char *piece = xmalloc(cut ? cut : 1);
			int rc;

			memcpy(piece, cases[i].wire, cut);
			sbuf_reset(&body);
			rc = parse_whole(piece, cut, 0, &r, &body);
			free(piece);
			if (rc != 0) {
				fprintf(stderr, "hcload selftest: case %zu complete at %zu\n", i,
					cut);
				bad++;
			}
		}
		sbuf_reset(&body);
		if (parse_whole(cases[i].wire, len, cases[i].eof, &r, &body) != 1 ||
		    r.status != cases[i].status || strcmp(body.buf, cases[i].body) ||
		    r.hdr_len + r.body_used != len) {
			fprintf(stderr, "hcload selftest: case %zu parsed wrong\n", i);
			bad++;
		}
	}
	sbuf_reset(&body);
	if (parse_whole("HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 0\r\n\r\n", 51, 0, &r,
			&body) != 1 ||
	    strcmp(r.etag, "abc")) {
		fprintf(stderr, "hcload selftest: ETag not read\n");
		bad++;
	}
	sbuf_reset(&body);
	if (parse_whole("HTTP/1.1 200 OK\r\nX-Hotconf-Gray: canary\r\nContent-Length: 0\r\n\r\n",
			62, 0, &r, &body) != 1 ||
	    strcmp(r.gray, "canary")) {
		fprintf(stderr, "hcload selftest: X-Hotconf-Gray not read\n");
		bad++;
	}
	if (parse_whole("HTTX/1.1 200 OK\r\n\r\n", 19, 0, &r, &body) != -1) {
		fprintf(stderr, "hcload selftest: a bad status line was accepted\n");
		bad++;
	}
	if (hl_metric("# HELP x\nhotconf_watches_held_x 1\nhotconf_watches_held 42\n",
		      "hotconf_watches_held") != 42) {
		fprintf(stderr, "hcload selftest: metric not read\n");
		bad++;
	}
	sbuf_release(&body);
	return bad ? 1 : 0;
}
