/*
 * routes_nacos_history.c: Nacos search (?search=accurate|blur with paging),
 * history (/nacos/v1/cs/history list, ?nid=, /previous, /configs) and
 * /nacos/v1/auth/login (see nacos.h).
 *
 * History ids (id, nid, lastId) are store revisions: one per change, unique
 * server-wide. A lookup by nid or id also needs dataId and group (and
 * tenant), as Nacos 2.x asks.
 *
 * Threading: worker threads; a login's argon2 on the checker thread.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "format.h"
#include "http_status.h"
#include "validate.h"
#include "xmalloc.h"
#include "nacos.h"

#define NC_SEARCH_MAX 10000 /* configs a search or a list looks through */
#define NC_HISTORY_SCAN 100000

/* ---- search ---- */

/* '*' matches any run of characters; a pattern without one is a substring. */
static int glob_ok(const char *pat, const char *s)
{
	const char *star = NULL, *ss = s;

	if (!pat || !*pat)
		return 1;
	if (!strchr(pat, '*'))
		return strstr(s, pat) != NULL;
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			ss = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++ss;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

static hc_err page_args(srv_req *r, int64_t *page, int64_t *size, sbuf *why)
{
	const char *p = nc_param(r, "pageNo"), *s = nc_param(r, "pageSize");

	*page = 1;
	*size = 100;
	if ((p && *p && (val_int(p, page) || *page < 1)) ||
	    (s && *s && (val_int(s, size) || *size < 1))) {
		sbuf_addstr(why, "pageNo and pageSize must be positive integers");
		return HC_ERR_INVALID;
	}
	if (*size > 500)
		*size = 500;
	return HC_OK;
}

static void page_open(sbuf *body, int64_t total, int64_t page, int64_t size)
{
	sbuf_addf(body,
		  "{\"totalCount\":%" PRId64 ",\"pageNumber\":%" PRId64
		  ",\"pagesAvailable\":%" PRId64 ",\"pageItems\":[",
		  total, page, (total + size - 1) / size);
}

/* GET ?search=accurate|blur: a page of the namespace's configs. */
enum MHD_Result nc_search(srv_req *r, const char *mode)
{
	nacos_req *n = nc(r);
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	const char *d = nc_param(r, "dataId"), *g = nc_param(r, "group");
	int blur = !strcmp(mode, "blur");
	store_config **items = NULL;
	int64_t page, size, total = 0, k = 0, match = 0;
	enum MHD_Result ret;
	size_t nn = 0, i;
	hc_err err;

	if (strcmp(mode, "accurate") && !blur) {
		sbuf_addstr(&why, "search must be accurate or blur");
		ret = nc_bad(r, &why);
		goto out;
	}
	/* dataId and group are patterns here, not names: only the tenant is one. */
	free(n->ns);
	n->ns = xstrdup(nc_ns_of(nc_param(r, "tenant")));
	if ((err = val_name("tenant", n->ns, &why)) || (err = page_args(r, &page, &size, &why))) {
		ret = nc_bad(r, &why);
		goto out;
	}
	r->listing = 1; /* every config's content: not an anonymous read */
	if (nc_refused(r, n->ns, SRV_ACT_READ, &ret))
		goto out;
	err = store_list(r->s->st, n->ns, !blur && g && *g ? g : NULL, NULL, 0, NC_SEARCH_MAX,
			 &items, &nn, &total);
	if (err && err != HC_ERR_NOT_FOUND) {
		ret = nc_fail(r, srv_http_status(err), 30000, "cannot list configs");
		goto out;
	}
	for (i = 0; i < nn; i++) {
		store_config *c = items[i], *full = NULL;
		int ok = blur ? glob_ok(d, c->data_id) && glob_ok(g, c->group)
			      : (!d || !*d || !strcmp(d, c->data_id));
		if (!ok)
			continue;
		match++;
		if (match <= (page - 1) * size || match > page * size)
			continue;
		if (store_get(r->s->st, c->ns, c->group, c->data_id, &full))
			continue;
		sbuf_addstr(&body, k++ ? ",{" : "{");
		sbuf_addf(&body, "\"id\":%" PRId64 ",\"dataId\":", full->revision);
		sbuf_add_json_str(&body, full->data_id, strlen(full->data_id));
		sbuf_addstr(&body, ",\"group\":");
		sbuf_add_json_str(&body, full->group, strlen(full->group));
		sbuf_addstr(&body, ",\"content\":");
		sbuf_add_json_str(&body, full->content, full->len);
		sbuf_addf(&body, ",\"md5\":\"%s\",\"tenant\":", full->md5);
		sbuf_add_json_str(&body, full->ns, strlen(full->ns));
		sbuf_addf(&body, ",\"appName\":\"\",\"type\":\"%s\"}", full->format);
		store_config_unref(full);
	}
	{
		sbuf head = SBUF_INIT(SBUF_NOMAX);
		page_open(&head, match, page, size);
		sbuf_add(&head, body.buf, body.len);
		sbuf_addstr(&head, "]}");
		ret = nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &head);
		sbuf_release(&head);
	}
out:
	for (i = 0; i < nn; i++)
		store_config_unref(items[i]);
	free(items);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

/* ---- history ---- */

static const char *op_type(const store_history *h)
{
	switch (h->op) {
	case STORE_OP_DELETE:
		return "D";
	case STORE_OP_PUBLISH:
		return h->version == 1 ? "I" : "U";
	default:
		return "U";
	}
}

static void json_history(sbuf *out, const nacos_req *n, const store_history *h, int64_t last_id)
{
	char ts[32];

	clock_format_iso(h->created_ms, ts);
	sbuf_addf(out, "{\"id\":%" PRId64 ",\"lastId\":%" PRId64 ",\"dataId\":", h->revision,
		  last_id);
	sbuf_add_json_str(out, n->data_id, strlen(n->data_id));
	sbuf_addstr(out, ",\"group\":");
	sbuf_add_json_str(out, n->group, strlen(n->group));
	sbuf_addstr(out, ",\"tenant\":");
	sbuf_add_json_str(out, n->ns, strlen(n->ns));
	sbuf_addstr(out, ",\"appName\":\"\",\"srcIp\":");
	sbuf_add_json_str(out, h->source_ip, strlen(h->source_ip));
	sbuf_addstr(out, ",\"srcUser\":");
	sbuf_add_json_str(out, h->author, strlen(h->author));
	sbuf_addf(out, ",\"opType\":\"%s\",\"publishType\":\"%s\",\"grayName\":", op_type(h),
		  h->gray_rule[0] ? "gray" : "formal");
	sbuf_add_json_str(out, h->gray_rule, strlen(h->gray_rule));
	sbuf_addf(out, ",\"md5\":\"%s\",\"type\":\"%s\",\"version\":%" PRId64, h->md5, h->format,
		  h->version);
	if (h->content) {
		sbuf_addstr(out, ",\"content\":");
		sbuf_add_json_str(out, h->content, h->len);
	}
	sbuf_addf(out, ",\"createdTime\":\"%s\",\"lastModifiedTime\":\"%s\"}", ts, ts);
}

/* The version of the entry whose revision is rev (previous: of the entry
 * before it); 0 when there is none. */
static int64_t find_revision(srv_req *r, int64_t rev, int previous)
{
	nacos_req *n = nc(r);
	store_history *items = NULL;
	int64_t total = 0, off, found = 0;
	size_t cnt = 0, i;
	int hit = 0;

	for (off = 0; off < NC_HISTORY_SCAN && !found; off += 500) {
		if (store_history_list(r->s->st, n->ns, n->group, n->data_id, off, 500, &items,
				       &cnt, &total))
			break;
		for (i = 0; i < cnt && !found; i++) {
			if (hit)
				found = items[i].version; /* newest first: the next is older */
			else if (items[i].revision == rev)
				hit = 1, found = previous ? 0 : items[i].version;
		}
		store_history_free(items, cnt);
		items = NULL;
		if (off + 500 >= total)
			break;
	}
	return found;
}

static enum MHD_Result history_one(srv_req *r, const char *idtext, int previous)
{
	nacos_req *n = nc(r);
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_history h = {0};
	enum MHD_Result ret;
	int64_t rev, ver;

	if (val_int(idtext, &rev) || !*n->data_id) {
		sbuf_addstr(&why, "an id (a history entry's id) and dataId and group are required");
		ret = nc_bad(r, &why);
		goto out;
	}
	ver = find_revision(r, rev, previous);
	if (!ver || store_history_get(r->s->st, n->ns, n->group, n->data_id, ver, &h)) {
		ret = nc_fail(r, MHD_HTTP_NOT_FOUND, 20004, "history config not exist");
		goto out;
	}
	json_history(&body, n, &h, -1);
	ret = nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
out:
	store_history_release(&h);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_nacos_history(srv_req *r)
{
	nacos_req *n;
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_history *items = NULL;
	int64_t page, size, total = 0;
	const char *nid;
	enum MHD_Result ret;
	size_t cnt = 0, i;
	hc_err err;

	if (nc_begin(r, 0, &ret))
		goto out;
	n = nc(r);
	if ((err = nc_names(r, 0, &why)) || (err = page_args(r, &page, &size, &why))) {
		ret = nc_bad(r, &why);
		goto out;
	}
	if (nc_refused(r, n->ns, SRV_ACT_READ, &ret))
		goto out;
	if ((nid = nc_param(r, "nid"))) {
		ret = history_one(r, nid, 0);
		goto out;
	}
	if (!*n->data_id) {
		sbuf_addstr(&why, "Required String parameter 'dataId' is not present");
		ret = nc_bad(r, &why);
		goto out;
	}
	err = store_history_list(r->s->st, n->ns, n->group, n->data_id, (page - 1) * size, size,
				 &items, &cnt, &total);
	if (err && err != HC_ERR_NOT_FOUND) {
		ret = nc_fail(r, srv_http_status(err), 30000, "cannot read history");
		goto out;
	}
	page_open(&body, total, page, size);
	for (i = 0; i < cnt; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_history(&body, n, &items[i], i + 1 < cnt ? items[i + 1].revision : -1);
	}
	sbuf_addstr(&body, "]}");
	ret = nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
out:
	store_history_free(items, cnt);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_nacos_history_previous(srv_req *r)
{
	enum MHD_Result ret;
	const char *id;

	if (nc_open(r, 0, 0, SRV_ACT_READ, &ret))
		goto out;
	id = nc_param(r, "id");
	ret = history_one(r, id ? id : "", 1);
out:
	return ret;
}

/* GET /nacos/v1/cs/history/configs?tenant=: the namespace's configs. */
enum MHD_Result srv_h_nacos_history_configs(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_config **items = NULL;
	enum MHD_Result ret;
	int64_t total = 0;
	size_t cnt = 0, i;
	hc_err err;

	if (nc_open(r, 0, 0, SRV_ACT_READ, &ret))
		goto out;
	err = store_list(r->s->st, nc(r)->ns, NULL, NULL, 0, NC_SEARCH_MAX, &items, &cnt, &total);
	if (err && err != HC_ERR_NOT_FOUND) {
		ret = nc_fail(r, srv_http_status(err), 30000, "cannot list configs");
		goto out;
	}
	sbuf_addch(&body, '[');
	for (i = 0; i < cnt; i++) {
		sbuf_addf(&body, "%s{\"id\":%" PRId64 ",\"dataId\":", i ? "," : "",
			  items[i]->revision);
		sbuf_add_json_str(&body, items[i]->data_id, strlen(items[i]->data_id));
		sbuf_addstr(&body, ",\"group\":");
		sbuf_add_json_str(&body, items[i]->group, strlen(items[i]->group));
		sbuf_addstr(&body, ",\"tenant\":");
		sbuf_add_json_str(&body, items[i]->ns, strlen(items[i]->ns));
		sbuf_addf(&body, ",\"md5\":\"%s\",\"type\":\"%s\",\"appName\":\"\"}", items[i]->md5,
			  items[i]->format);
	}
	sbuf_addch(&body, ']');
	ret = nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
out:
	for (i = 0; i < cnt; i++)
		store_config_unref(items[i]);
	free(items);
	sbuf_release(&body);
	return ret;
}

/* ---- login ---- */

static void login_slow(srv_req *r)
{
	nacos_req *n = nc(r);
	srv *s = r->s;

	n->login_err = auth_login(s->auth, n->user, n->password, r->ip, clock_wall_ms(),
				  &n->login_token, &n->login_id, &n->retry_s);
	n->login_done = 1;
	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&s->writes, 1);
}

enum MHD_Result srv_h_nacos_login(srv_req *r)
{
	nacos_req *n = nc(r);
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	const char *u, *p;
	enum MHD_Result ret;

	if (n->login_done) {
		if (n->login_err == HC_ERR_RATE_LIMIT)
			return nc_fail(r, 429, 429, "too many failed logins: try again later");
		if (n->login_err)
			return nc_fail(r, MHD_HTTP_FORBIDDEN, 403, "unknown user!");
		sbuf_addstr(&body, "{\"accessToken\":");
		sbuf_add_json_str(&body, n->login_token.buf, n->login_token.len);
		sbuf_addf(&body, ",\"tokenTtl\":%" PRId64 ",\"globalAdmin\":%s,\"username\":",
			  r->s->cfg.session_ttl_ms / 1000, n->login_id->admin ? "true" : "false");
		sbuf_add_json_str(&body, n->user, strlen(n->user));
		sbuf_addch(&body, '}');
		return nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
	}
	if (nc_begin(r, 0, &ret))
		return ret;
	if (r->s->cfg.auth_off)
		return nc_fail(r, MHD_HTTP_CONFLICT, 409,
			       "authentication is off (--auth=off): there are no accounts");
	u = nc_param(r, "username");
	p = nc_param(r, "password");
	if (!u || !*u || !p || !val_name_ok(u) || strlen(p) > 1024)
		return nc_fail(r, MHD_HTTP_BAD_REQUEST, 10000,
			       "caused: username and password are required;");
	n->user = xstrdup(u);
	n->password = xstrdup(p);
	if (!srv_write_begin(r))
		return nc_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, 30000,
			       "the server is shutting down");
	MHD_suspend_connection(r->conn);
	srv_offload(r, login_slow);
	return MHD_YES;
}
