/*
 * util.c: libhotconf's small helpers: allocation that aborts on out of
 * memory, the growable buffer, name checks, config objects, logging and
 * the error strings. Pure apart from the log callback; any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcl.h"

static void oom(size_t n)
{
	fprintf(stderr, "libhotconf: out of memory allocating %zu bytes\n", n);
	abort();
}

void *hcl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *hcl_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

char *hcl_xmemdupz(const void *p, size_t n)
{
	char *s = hcl_xmalloc(n + 1);

	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *hcl_xstrdup(const char *s)
{
	return s ? hcl_xmemdupz(s, strlen(s)) : NULL;
}

static void buf_grow(hcl_buf *b, size_t n)
{
	size_t want = b->len + n + 1;
	char *p;

	if (want <= b->alloc)
		return;
	if (want < b->alloc * 2)
		want = b->alloc * 2;
	if (want < 64)
		want = 64;
	p = realloc(b->buf, want);
	if (!p)
		oom(want);
	b->buf = p;
	b->alloc = want;
}

void hcl_buf_add(hcl_buf *b, const void *data, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void hcl_buf_adds(hcl_buf *b, const char *s)
{
	hcl_buf_add(b, s, strlen(s));
}

void hcl_buf_addf(hcl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void hcl_buf_release(hcl_buf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->alloc = 0;
}

const char *hcl_buf_str(const hcl_buf *b)
{
	return b->buf ? b->buf : "";
}

int hcl_name_ok(const char *s)
{
	size_t n = 0;

	if (!s || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; s[n]; n++) {
		unsigned char ch = (unsigned char)s[n];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
			 ch == '-';
		if (!ok || n >= HCL_NAME_MAX)
			return 0;
	}
	return n > 0;
}

void hcl_log(hotconf_client *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->log(c->log_ud, line);
}

/* One allocation holds the struct, the names, the gray rule and the content,
 * so hotconf_config_free is a single free(). */
hotconf_config *hcl_config_new(const char *ns, const char *group, const char *data_id,
			       const char *content, size_t len, const char *md5, int64_t version,
			       const char *format, const char *gray)
{
	size_t lns = strlen(ns) + 1, lg = strlen(group) + 1, ld = strlen(data_id) + 1;
	size_t lgray = gray ? strlen(gray) + 1 : 0;
	hotconf_config *cfg = hcl_xcalloc(1, sizeof(*cfg) + lns + lg + ld + lgray + len + 1);
	char *p = (char *)(cfg + 1);

	cfg->ns = memcpy(p, ns, lns);
	p += lns;
	cfg->group = memcpy(p, group, lg);
	p += lg;
	cfg->data_id = memcpy(p, data_id, ld);
	p += ld;
	if (gray) {
		cfg->gray = memcpy(p, gray, lgray);
		p += lgray;
	}
	if (len)
		memcpy(p, content, len);
	p[len] = '\0';
	cfg->content = p;
	cfg->len = len;
	snprintf(cfg->md5, sizeof(cfg->md5), "%s", md5 ? md5 : "");
	cfg->version = version;
	snprintf(cfg->format, sizeof(cfg->format), "%s", format && *format ? format : "text");
	return cfg;
}

hotconf_config *hcl_config_dup(const hotconf_config *cfg)
{
	hotconf_config *d =
	    hcl_config_new(cfg->ns, cfg->group, cfg->data_id, cfg->content, cfg->len, cfg->md5,
			   cfg->version, cfg->format, cfg->gray);

	d->deleted = cfg->deleted;
	d->from_cache = cfg->from_cache;
	return d;
}

void hotconf_config_free(hotconf_config *cfg)
{
	free(cfg);
}

const char *hotconf_version(void)
{
	return HOTCONF_VERSION_STRING;
}

const char *hotconf_strerror(int err)
{
	switch (err) {
	case HOTCONF_OK:
		return "ok";
	case HOTCONF_EINVAL:
		return "invalid argument";
	case HOTCONF_ENOTFOUND:
		return "config not found";
	case HOTCONF_ECONFLICT:
		return "conflict: the server's state does not allow it";
	case HOTCONF_EUNAVAILABLE:
		return "no server answered";
	case HOTCONF_EAUTH:
		return "the server refused the credentials";
	case HOTCONF_EPROTO:
		return "unexpected answer from the server";
	case HOTCONF_EIO:
		return "snapshot directory error";
	case HOTCONF_ESTATE:
		return "not allowed in the client's current state";
	}
	return "unknown error";
}
