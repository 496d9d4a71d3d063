/*
 * routes_access.c: who may do what in a namespace (grants), service tokens,
 * and the audit log. Worker threads; each change here is audited and makes
 * the identities it concerns be checked again at once.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "srv_internal.h"
#include "xmalloc.h"

#define TOKEN_TTL_DEFAULT (90LL * 86400000)
#define TOKEN_TTL_MAX (3650LL * 86400000)
#define TOKEN_MAX_NAMESPACES 64

static enum MHD_Result no_accounts(srv_req *r)
{
	return srv_reply_err(r, HC_ERR_CONFLICT,
			     "authentication is off (--auth=off): there are "
			     "no grants or tokens");
}

/* ---- grants ---- */

static void json_grant(sbuf *out, const char *user, const char *role)
{
	sbuf_addstr(out, "{\"user\":");
	sbuf_add_json_str(out, user, strlen(user));
	sbuf_addstr(out, ",\"role\":");
	sbuf_add_json_str(out, role, strlen(role));
	sbuf_addch(out, '}');
}

enum MHD_Result srv_h_grants(srv_req *r)
{
	const char *ns = srv_param(r, "ns");
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_grant *g = NULL;
	size_t n = 0, i;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	err = store_grants(r->s->st, ns, NULL, &g, &n);
	if (err)
		return srv_reply_err(r, err, "cannot list the grants of '%s'", ns);
	sbuf_addstr(&body, "{\"namespace\":");
	sbuf_add_json_str(&body, ns, strlen(ns));
	sbuf_addstr(&body, ",\"grants\":[");
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_grant(&body, g[i].user, g[i].role);
	}
	sbuf_addstr(&body, "]}\n");
	store_grants_free(g, n);
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

enum MHD_Result srv_h_grant_get(srv_req *r)
{
	const char *ns = srv_param(r, "ns"), *user = srv_param(r, "user");
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_grant *g = NULL;
	size_t n = 0;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	err = store_grants(r->s->st, ns, user, &g, &n);
	if (!err && !n)
		err = HC_ERR_NOT_FOUND;
	if (err) {
		store_grants_free(g, n);
		return srv_reply_err(r, err, "%s has no role in '%s'", user, ns);
	}
	json_grant(&body, g[0].user, g[0].role);
	sbuf_addch(&body, '\n');
	store_grants_free(g, n);
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

enum MHD_Result srv_h_grant_put(srv_req *r)
{
	const char *ns = srv_param(r, "ns"), *user = srv_param(r, "user");
	sbuf body = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);
	cJSON *doc = NULL;
	const char *role;
	enum MHD_Result ret;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	doc = srv_json_body(r);
	role = srv_json_string(doc, "role", NULL);
	if (val_name("user", user, &why)) {
		ret = srv_reply_why(r, HC_ERR_INVALID, &why);
		goto out;
	}
	if (!cJSON_IsObject(doc) || auth_role_parse(role) == AUTH_NONE) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"role\": \"reader|editor|approver|owner\"}");
		goto out;
	}
	err = store_grant_set(r->s->st, ns, user, role, clock_wall_ms());
	if (err) {
		ret = srv_reply_err(r, err, "cannot grant %s in '%s'%s", user, ns,
				    err == HC_ERR_NOT_FOUND ? ": no such user or namespace" : "");
		goto out;
	}
	auth_forget_user(r->s->auth, user);
	srv_audit(r, "grant", ns, user, role);
	json_grant(&body, user, role);
	sbuf_addch(&body, '\n');
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	cJSON_Delete(doc);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_grant_delete(srv_req *r)
{
	const char *ns = srv_param(r, "ns"), *user = srv_param(r, "user");
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	err = store_grant_delete(r->s->st, ns, user);
	if (err)
		return srv_reply_err(r, err, "%s has no role in '%s'", user, ns);
	auth_forget_user(r->s->auth, user);
	srv_wake_user(r->s, user);
	srv_audit(r, "revoke-grant", ns, user, "");
	sbuf_addstr(&body, "{\"user\":");
	sbuf_add_json_str(&body, user, strlen(user));
	sbuf_addstr(&body, ",\"deleted\":true}\n");
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

/* ---- tokens ---- */

/* "90d", "12h", "30m", "45s" into ms, within 1 s .. TOKEN_TTL_MAX. */
static hc_err parse_ttl(const char *s, int64_t *ms)
{
	int64_t v = 0, mul;
	const char *p = s;

	for (; *p >= '0' && *p <= '9' && v < 1000000000; p++)
		v = v * 10 + (*p - '0');
	if (p == s || p[0] == '\0' || p[1] != '\0')
		return HC_ERR_INVALID;
	mul = *p == 'd' ? 86400000 : *p == 'h' ? 3600000 : *p == 'm' ? 60000 : *p == 's' ? 1000 : 0;
	if (!mul || v == 0 || v > TOKEN_TTL_MAX / mul)
		return HC_ERR_INVALID;
	*ms = v * mul;
	return HC_OK;
}

static void json_token(sbuf *out, const store_cred *c)
{
	sbuf_addstr(out, "{\"id\":");
	sbuf_add_json_str(out, c->id, strlen(c->id));
	sbuf_addstr(out, ",\"name\":");
	sbuf_add_json_str(out, c->name, strlen(c->name));
	sbuf_addstr(out, ",\"role\":");
	sbuf_add_json_str(out, c->role, strlen(c->role));
	sbuf_addstr(out, ",\"namespaces\":[");
	{
		char *list = xstrdup(c->namespaces), *save = NULL, *ns;
		int i = 0;
		for (ns = strtok_r(list, ",", &save); ns; ns = strtok_r(NULL, ",", &save)) {
			sbuf_addstr(out, i++ ? "," : "");
			sbuf_add_json_str(out, ns, strlen(ns));
		}
		free(list);
	}
	sbuf_addstr(out, "],\"createdBy\":");
	sbuf_add_json_str(out, c->user, strlen(c->user));
	sbuf_addch(out, ',');
	srv_json_time(out, "createdAt", c->created_ms);
	sbuf_addch(out, ',');
	srv_json_time(out, "expiresAt", c->expires_ms);
	sbuf_addf(out, ",\"revoked\":%s}", c->revoked_ms ? "true" : "false");
}

/* Reads "namespaces": every one must exist and be owned by the caller (an
 * admin owns all). Fills list (comma-joined) or answers. */
static hc_err token_namespaces(srv_req *r, const cJSON *arr, sbuf *list, sbuf *why)
{
	const cJSON *e;
	int n = 0;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
	    cJSON_GetArraySize(arr) > TOKEN_MAX_NAMESPACES) {
		sbuf_addf(why, "namespaces must list 1 to %d namespaces", TOKEN_MAX_NAMESPACES);
		return HC_ERR_INVALID;
	}
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsString(e) || val_name("namespace", e->valuestring, why))
			return HC_ERR_INVALID;
		if (!srv_allowed(r, e->valuestring, SRV_ACT_OWN)) {
			sbuf_addf(why, "%s does not own namespace '%s'", r->id->name,
				  e->valuestring);
			return HC_ERR_FORBIDDEN;
		}
		sbuf_addstr(list, n++ ? "," : "");
		sbuf_addstr(list, e->valuestring);
	}
	return HC_OK;
}

enum MHD_Result srv_h_token_create(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), list = SBUF_INIT(SBUF_NOMAX), secret = SBUF_INIT(256),
	     body = SBUF_INIT(SBUF_NOMAX);
	const char *name, *role, *ttl;
	enum MHD_Result ret;
	int64_t ttl_ms = TOKEN_TTL_DEFAULT, now = clock_wall_ms();
	auth_role rl;
	store_cred c;
	char id[40];
	cJSON *doc = NULL;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	if (r->id->kind != AUTH_KIND_SESSION) {
		ret = srv_reply_err(r, HC_ERR_FORBIDDEN, "a service token cannot make tokens");
		goto out;
	}
	doc = srv_json_body(r);
	name = srv_json_string(doc, "name", NULL);
	role = srv_json_string(doc, "role", "reader");
	ttl = srv_json_string(doc, "expiresIn", NULL);
	rl = auth_role_parse(role);
	if (!cJSON_IsObject(doc) || !name || (rl != AUTH_READER && rl != AUTH_EDITOR) ||
	    (ttl && parse_ttl(ttl, &ttl_ms))) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"name\": <name>, \"role\": \"reader|editor\", "
				    "\"namespaces\": [...], \"expiresIn\": \"90d\" (s, m, h or d, "
				    "at most 3650d)}");
		goto out;
	}
	if ((err = val_name("token name", name, &why)) ||
	    (err = token_namespaces(r, cJSON_GetObjectItemCaseSensitive(doc, "namespaces"), &list,
				    &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	err = auth_token_create(r->s->auth, r->id->name, name, rl, list.buf, ttl_ms, now, &secret,
				id);
	if (err) {
		ret = srv_reply_err(r, err, "cannot create the token");
		goto out;
	}
	srv_audit(r, "token-create", "", id, list.buf);
	memset(&c, 0, sizeof(c));
	c.id = id;
	c.name = (char *)name;
	c.role = (char *)role;
	c.namespaces = list.buf;
	c.user = r->id->name;
	c.created_ms = now;
	c.expires_ms = now + ttl_ms;
	json_token(&body, &c);
	/* The only time the secret is shown. */
	body.len--;
	body.buf[body.len] = '\0';
	sbuf_addstr(&body, ",\"token\":");
	sbuf_add_json_str(&body, secret.buf, secret.len);
	{
		/* What an Apollo client signs with (auth_apollo_identity): the
		 * token's SHA-256 in hex, shown once like the token itself. */
		unsigned char h[crypto_hash_sha256_BYTES];
		char hex[2 * crypto_hash_sha256_BYTES + 1];
		crypto_hash_sha256(h, (const unsigned char *)secret.buf, secret.len);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		sbuf_addf(&body, ",\"apolloSecret\":\"%s\"", hex);
	}
	sbuf_addstr(&body, "}\n");
	ret = srv_reply(r, MHD_HTTP_CREATED, "application/json", &body);
out:
	cJSON_Delete(doc);
	sbuf_release(&why);
	sbuf_release(&list);
	sbuf_release(&secret);
	sbuf_release(&body);
	return ret;
}

/* May the caller see or revoke token c: admin, its maker, or an owner of
 * every namespace it reaches? */
static int may_manage(srv_req *r, const store_cred *c)
{
	char *list, *save = NULL, *ns;
	int ok = 1;

	if (r->id->admin || !strcmp(c->user, r->id->name))
		return 1;
	if (r->id->kind != AUTH_KIND_SESSION)
		return 0;
	list = xstrdup(c->namespaces);
	for (ns = strtok_r(list, ",", &save); ns && ok; ns = strtok_r(NULL, ",", &save))
		ok = srv_allowed(r, ns, SRV_ACT_OWN);
	free(list);
	return ok;
}

enum MHD_Result srv_h_tokens(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_cred *c = NULL;
	size_t n = 0, i;
	int first = 1;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	err = store_creds(r->s->st, "token", NULL, &c, &n);
	if (err)
		return srv_reply_err(r, err, "cannot list tokens");
	sbuf_addstr(&body, "{\"tokens\":[");
	for (i = 0; i < n; i++) {
		if (!may_manage(r, &c[i]))
			continue;
		sbuf_addstr(&body, first ? "" : ",");
		first = 0;
		json_token(&body, &c[i]);
	}
	sbuf_addstr(&body, "]}\n");
	store_creds_free(c, n);
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

enum MHD_Result srv_h_token_delete(srv_req *r)
{
	const char *id = srv_param(r, "id");
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	enum MHD_Result ret;
	store_cred c;
	hc_err err;

	if (r->s->cfg.auth_off)
		return no_accounts(r);
	err = store_cred_get(r->s->st, id, &c);
	if (!err && strcmp(c.kind, "token"))
		err = HC_ERR_NOT_FOUND;
	if (err) {
		ret = srv_reply_err(r, err, "no token '%.64s'", id);
		goto out;
	}
	if (!may_manage(r, &c)) {
		ret = srv_reply_err(r, HC_ERR_FORBIDDEN, "%s may not revoke token '%s'",
				    r->id->name, id);
		goto out;
	}
	err = auth_revoke(r->s->auth, id, clock_wall_ms());
	if (err && err != HC_ERR_NOT_FOUND) {
		ret = srv_reply_err(r, err, "cannot revoke token '%s'", id);
		goto out;
	}
	/* Its held watches are answered now, not at their deadlines. */
	srv_wake_credential(r->s, id);
	srv_audit(r, "token-revoke", "", id, c.name);
	sbuf_addstr(&body, "{\"id\":");
	sbuf_add_json_str(&body, id, strlen(id));
	sbuf_addstr(&body, ",\"revoked\":true}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_cred_release(&c);
	sbuf_release(&body);
	return ret;
}

/* ---- audit ---- */

static void json_audit(sbuf *out, const store_audit *a)
{
	const char *const f[][2] = {
	    {"actor", a->actor},    {"role", a->role},		{"action", a->action},
	    {"namespace", a->ns},   {"target", a->target},	{"oldMd5", a->old_md5},
	    {"newMd5", a->new_md5}, {"sourceIp", a->source_ip}, {"detail", a->detail}};
	size_t i;

	sbuf_addf(out, "{\"id\":%" PRId64 ",", a->id);
	srv_json_time(out, "at", a->at_ms);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sbuf_addf(out, ",\"%s\":", f[i][0]);
		sbuf_add_json_str(out, f[i][1], strlen(f[i][1]));
	}
	sbuf_addch(out, '}');
}

/* The namespaces a non-admin owns, for an owner's view of the log. */
static size_t owned(srv_req *r, const char ***nss)
{
	size_t i, n = 0;

	*nss = xcalloc(r->id->nroles + 1, sizeof(**nss));
	for (i = 0; i < r->id->nroles; i++)
		if (r->id->roles[i].role >= AUTH_OWNER)
			(*nss)[n++] = r->id->roles[i].ns;
	return n;
}

enum MHD_Result srv_h_audit(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	const char *since = srv_arg(r, "since"), **nss = NULL;
	store_audit_query q;
	store_audit *v = NULL;
	int64_t page, size, total = 0;
	size_t n = 0, i;
	enum MHD_Result ret;
	hc_err err;

	memset(&q, 0, sizeof(q));
	if ((err = srv_paging(r, &page, &size, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if (since && clock_parse_iso(since, &q.since_ms)) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "since '%.40s' is invalid: use 2026-12-02T10:00:00Z", since);
		goto out;
	}
	q.user = srv_arg(r, "user");
	q.action = srv_arg(r, "action");
	q.ns = srv_arg(r, "namespace");
	if (!r->s->cfg.auth_off && !r->id->admin) {
		q.nns = owned(r, &nss);
		q.nss = nss;
		if (!q.nns) {
			ret = srv_reply_err(r, HC_ERR_FORBIDDEN,
					    "the audit log is for admins and namespace owners");
			goto out;
		}
	}
	q.offset = (page - 1) * size;
	q.limit = size;
	err = store_audit_list(r->s->st, &q, &v, &n, &total);
	if (err) {
		ret = srv_reply_err(r, err, "cannot read the audit log");
		goto out;
	}
	srv_page_open(&body, total, page, size);
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_audit(&body, &v[i]);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_audits_free(v, n);
	free(nss);
	sbuf_release(&why);
	sbuf_release(&body);
	return ret;
}
