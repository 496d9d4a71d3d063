/*
 * cfgkey.c: see cfgkey.h. Pure; any thread.
 */
#include "cfgkey.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

int cfgkey_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '-';
}

int cfgkey_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!s || n == 0 || n > CFGKEY_NAME_MAX)
		return 0;
	/* "." and ".." would be read as path steps by anything that maps names
	 * to files (an export, a git mirror). */
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (!cfgkey_name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

static hc_err build(cfgkey *k, const char *ns, size_t a, const char *group, size_t b,
		    const char *data_id, size_t c)
{
	char *p;

	k->s = NULL;
	k->len = k->ns_len = k->group_len = 0;
	if (!cfgkey_name_ok(ns, a) || !cfgkey_name_ok(group, b) || !cfgkey_name_ok(data_id, c))
		return HC_ERR_INVALID;
	p = xmalloc(a + b + c + 3);
	memcpy(p, ns, a);
	p[a] = '/';
	memcpy(p + a + 1, group, b);
	p[a + 1 + b] = '/';
	memcpy(p + a + b + 2, data_id, c);
	p[a + b + c + 2] = '\0';
	k->s = p;
	k->len = (uint16_t)(a + b + c + 2);
	k->ns_len = (uint8_t)a;
	k->group_len = (uint8_t)b;
	return HC_OK;
}

hc_err cfgkey_init(cfgkey *k, const char *ns, const char *group, const char *data_id)
{
	/* strnlen: a name longer than the limit is refused without reading on. */
	return build(k, ns, ns ? strnlen(ns, CFGKEY_NAME_MAX + 1) : 0, group,
		     group ? strnlen(group, CFGKEY_NAME_MAX + 1) : 0, data_id,
		     data_id ? strnlen(data_id, CFGKEY_NAME_MAX + 1) : 0);
}

hc_err cfgkey_init_scope(cfgkey *k, const char *ns, const char *group)
{
	size_t a = ns ? strnlen(ns, CFGKEY_NAME_MAX + 1) : 0;
	size_t b = group ? strnlen(group, CFGKEY_NAME_MAX + 1) : 0;
	char *p;

	k->s = NULL;
	k->len = k->ns_len = k->group_len = 0;
	if (!cfgkey_name_ok(ns, a) || (group && !cfgkey_name_ok(group, b)))
		return HC_ERR_INVALID;
	p = xmalloc(a + b + 3);
	memcpy(p, ns, a);
	p[a] = '/';
	memcpy(p + a + 1, group ? group : "", b);
	p[a + 1 + b] = '/';
	p[a + b + 2] = '\0';
	k->s = p;
	k->len = (uint16_t)(a + b + 2);
	k->ns_len = (uint8_t)a;
	k->group_len = (uint8_t)b;
	return HC_OK;
}

int cfgkey_in_scope(const cfgkey *scope, const char *key, size_t len)
{
	/* "ns/g/" is a prefix of its configs' keys; "ns//" is matched on "ns/". */
	size_t n = scope->ns_len + 1u + (scope->group_len ? scope->group_len + 1u : 0);

	return len > n && !memcmp(scope->s, key, n);
}

int cfgkey_scope_strings(const char *key, size_t len, char *group_scope, char *ns_scope)
{
	const char *g = memchr(key, '/', len), *d;

	if (!g || len > CFGKEY_MAX)
		return 0;
	d = memchr(g + 1, '/', len - (size_t)(g - key) - 1);
	if (!d)
		return 0;
	memcpy(group_scope, key, (size_t)(d - key) + 1);
	group_scope[d - key + 1] = '\0';
	memcpy(ns_scope, key, (size_t)(g - key) + 1);
	ns_scope[g - key + 1] = '/';
	ns_scope[g - key + 2] = '\0';
	return 1;
}

hc_err cfgkey_parse(cfgkey *k, const char *s, size_t len)
{
	const char *end = s + len, *g, *d;

	k->s = NULL;
	k->len = k->ns_len = k->group_len = 0;
	g = memchr(s, '/', len);
	if (!g)
		return HC_ERR_INVALID;
	d = memchr(g + 1, '/', (size_t)(end - g - 1));
	if (!d)
		return HC_ERR_INVALID;
	return build(k, s, (size_t)(g - s), g + 1, (size_t)(d - g - 1), d + 1,
		     (size_t)(end - d - 1));
}

void cfgkey_copy(cfgkey *dst, const cfgkey *src)
{
	*dst = *src;
	dst->s = src->s ? xmemdupz(src->s, src->len) : NULL;
}

void cfgkey_release(cfgkey *k)
{
	free(k->s);
	k->s = NULL;
	k->len = k->ns_len = k->group_len = 0;
}

void cfgkey_split(const cfgkey *k, char *ns, char *group, char *data_id)
{
	memcpy(ns, cfgkey_ns(k), cfgkey_ns_len(k));
	ns[cfgkey_ns_len(k)] = '\0';
	memcpy(group, cfgkey_group(k), cfgkey_group_len(k));
	group[cfgkey_group_len(k)] = '\0';
	memcpy(data_id, cfgkey_data_id(k), cfgkey_data_id_len(k) + 1);
}

hc_err cfgkey_json(const cfgkey *k, sbuf *out)
{
	hc_err err = sbuf_addstr(out, "\"namespace\":");

	if (!err)
		err = sbuf_add_json_str(out, cfgkey_ns(k), cfgkey_ns_len(k));
	if (!err)
		err = sbuf_addstr(out, ",\"group\":");
	if (!err)
		err = sbuf_add_json_str(out, cfgkey_group(k), cfgkey_group_len(k));
	if (!err)
		err = sbuf_addstr(out, ",\"dataId\":");
	if (!err)
		err = sbuf_add_json_str(out, cfgkey_data_id(k), cfgkey_data_id_len(k));
	return err;
}
