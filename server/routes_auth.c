/*
 * routes_auth.c: who is asking (srv_authorize, the one place a route's
 * scope and action are enforced), and the account endpoints: login, logout,
 * me, users and passwords. Worker threads; argon2 runs on the checker
 * thread (srv_offload), never on a worker.
 *
 * A credential comes from `Authorization: Bearer <secret>` or the console's
 * session cookie, and from nowhere else: no header, user agent or address
 * stands in for one. A cookie-authenticated write must also send the
 * session's CSRF token in X-Hotconf-CSRF.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "clock.h"
#include "srv_internal.h"
#include "xmalloc.h"

#define COOKIE "hotconf_session"
#define MIN_PASSWORD 8
#define MAX_PASSWORD 1024

/* ---- authorization ---- */

/* The secret the request carries, or NULL; *cookie says where from. */
static const char *credential(srv_req *r, int *cookie)
{
	const char *h = srv_header(r, "Authorization");

	*cookie = 0;
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		return h;
	}
	h = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE);
	if (h && *h) {
		*cookie = 1;
		return h;
	}
	return NULL;
}

/* Finds and verifies the caller's credential into r->id. On later calls of
 * the same request the identity is kept while it is current, so a held
 * watch whose token was revoked or whose grants changed is checked again. */
static hc_err identify(srv_req *r, sbuf *why)
{
	const char *secret = credential(r, &r->via_cookie);
	hc_err err;

	/* Called again (a held watch woken): the same header, so the same
	 * answer unless the identity was revoked, changed or expired since. */
	if (secret && auth_id_current(r->id, clock_wall_ms()))
		return HC_OK;
	auth_id_unref(r->id);
	r->id = NULL;
	if (!secret) {
		sbuf_addstr(why, "authentication required: send Authorization: Bearer <token> "
				 "(POST /api/v1/auth/login gives one)");
		return HC_ERR_UNAUTHORIZED;
	}
	err = auth_verify(r->s->auth, secret, clock_wall_ms(), &r->id);
	if (err == HC_ERR_UNAUTHORIZED)
		sbuf_addstr(why, "the credential is not valid: wrong, expired or revoked");
	else if (err)
		sbuf_addf(why, "cannot check the credential (%s)", hc_err_code(err));
	return err;
}

static int is_read_method(const srv_req *r)
{
	return r->method_bit == SRV_GET || r->method_bit == SRV_HEAD;
}

/* A cookie is sent by the browser on its own: a write that relies on one
 * must also show the CSRF token only the console's script knows. */
static hc_err csrf_check(srv_req *r, sbuf *why)
{
	const char *t = srv_header(r, "X-Hotconf-CSRF");
	const char *want = r->id->csrf;

	if (!r->via_cookie || is_read_method(r))
		return HC_OK;
	if (t && *want && strlen(t) == strlen(want) && !sodium_memcmp(t, want, strlen(want)))
		return HC_OK;
	sbuf_addstr(why, "a write authenticated by the session cookie needs the X-Hotconf-CSRF "
			 "header from the login");
	return HC_ERR_FORBIDDEN;
}

hc_err srv_identify(srv_req *r, const char *secret, sbuf *why)
{
	int cookie = 0;
	hc_err err;

	if (r->s->cfg.auth_off)
		return HC_OK;
	if (!secret) {
		if (!credential(r, &cookie)) {
			auth_id_unref(r->id);
			r->id = NULL;
			return HC_OK; /* anonymous: srv_allowed decides */
		}
		err = identify(r, why);
		return err ? err : csrf_check(r, why);
	}
	if (r->id && auth_id_current(r->id, clock_wall_ms()))
		return HC_OK;
	auth_id_unref(r->id);
	r->id = NULL;
	r->via_cookie = 0;
	err = auth_verify(r->s->auth, secret, clock_wall_ms(), &r->id);
	if (err == HC_ERR_UNAUTHORIZED)
		sbuf_addstr(why, "the credential is not valid: wrong, expired or revoked");
	else if (err)
		sbuf_addf(why, "cannot check the credential (%s)", hc_err_code(err));
	return err;
}

static auth_role needed(srv_action a)
{
	switch (a) {
	case SRV_ACT_READ:
		return AUTH_READER;
	case SRV_ACT_WRITE:
		return AUTH_EDITOR;
	case SRV_ACT_APPROVE:
		return AUTH_APPROVER;
	case SRV_ACT_OWN:
		return AUTH_OWNER;
	case SRV_ACT_ADMIN:
		break;
	}
	return AUTH_OWNER + 1; /* more than any role: admins only */
}

/* ---- anonymous reads ---- */

/* A namespace open to credential-less reads from these ranges. */
typedef struct srv_anon {
	char *ns;
	cidr *ranges;
	size_t n;
} srv_anon;

static void anon_free(srv_anon *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(a[i].ns);
		free(a[i].ranges);
	}
	free(a);
}

void srv_anon_free(srv *s)
{
	anon_free(s->anon, s->nanon);
	s->anon = NULL;
	s->nanon = 0;
}

hc_err srv_anon_load(srv *s)
{
	store_namespace *ns = NULL;
	srv_anon *a = NULL, *old;
	size_t n = 0, i, k = 0, nold;
	hc_err err = store_namespaces(s->st, &ns, &n);

	if (err)
		return err;
	for (i = 0; i < n; i++) {
		char *list = ns[i].anonymous_read, *save = NULL, *tok;
		if (!list || !*list)
			continue;
		a = xrealloc(a, (k + 1) * sizeof(*a));
		a[k].ns = xstrdup(ns[i].id);
		a[k].ranges = NULL;
		a[k].n = 0;
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			cidr c;
			if (cidr_parse(tok, &c))
				continue; /* checked when set; never widen on a bad entry */
			cidr_unmap(&c);
			a[k].ranges = xrealloc(a[k].ranges, (a[k].n + 1) * sizeof(c));
			a[k].ranges[a[k].n++] = c;
		}
		k++;
	}
	store_namespaces_free(ns, n);
	pthread_mutex_lock(&s->anon_mu);
	old = s->anon;
	nold = s->nanon;
	s->anon = a;
	s->nanon = k;
	pthread_mutex_unlock(&s->anon_mu);
	anon_free(old, nold);
	return HC_OK;
}

/* May r's caller, by its address, read ns without a credential? ns NULL:
 * any namespace. */
static int anon_reads(srv_req *r, const char *ns)
{
	srv *s = r->s;
	const char *ip = srv_client_ip(r);
	cidr who;
	size_t i, k;
	int ok = 0;

	if (!ip || !*ip || cidr_parse(ip, &who))
		return 0;
	cidr_unmap(&who);
	pthread_mutex_lock(&s->anon_mu);
	for (i = 0; i < s->nanon && !ok; i++) {
		if (ns && strcmp(s->anon[i].ns, ns))
			continue;
		for (k = 0; k < s->anon[i].n && !ok; k++)
			ok = cidr_contains(&s->anon[i].ranges[k], &who);
	}
	pthread_mutex_unlock(&s->anon_mu);
	return ok;
}

hc_err srv_anon_parse(const cJSON *cidrs, sbuf *list, sbuf *why)
{
	const cJSON *c;
	int i = 0;

	if (!cJSON_IsArray(cidrs) || cJSON_GetArraySize(cidrs) > 64) {
		sbuf_addstr(why, "anonymousRead.cidrs must be an array of at most 64 CIDRs "
				 "([] closes the namespace)");
		return HC_ERR_INVALID;
	}
	cJSON_ArrayForEach(c, cidrs)
	{
		cidr r;
		if (!cJSON_IsString(c) || strchr(c->valuestring, ',') ||
		    cidr_parse(c->valuestring, &r)) {
			sbuf_addf(why, "anonymousRead.cidrs[%d]: not an address or CIDR", i);
			return HC_ERR_INVALID;
		}
		if (i++)
			sbuf_addch(list, ',');
		sbuf_addstr(list, c->valuestring);
	}
	return HC_OK;
}

/* The handlers a credential-less caller may reach where an admin allowed
 * it, in every protocol: reads and watches of configs, and the apply
 * reports of what they read. History, lists, searches and the listeners
 * view never. */
static const srv_handler anon_handlers[] = {
    srv_h_config_get,
    srv_h_watch,
    srv_h_reports,
    srv_h_apollo_config,
    srv_h_apollo_file_json,
    srv_h_apollo_file,
    srv_h_apollo_notifications,
    srv_h_nacos_config_get,
    srv_h_nacos_listener,
    srv_h_nacos_v2_config,
};

static int anon_route(const srv_route *rt)
{
	size_t i;

	if (!rt || rt->action != SRV_ACT_READ)
		return 0;
	for (i = 0; i < sizeof(anon_handlers) / sizeof(anon_handlers[0]); i++)
		if (rt->handler == anon_handlers[i])
			return 1;
	return 0;
}

int srv_allowed(srv_req *r, const char *ns, srv_action action)
{
	if (r->s->cfg.auth_off)
		return 1;
	if (!r->id)
		return action == SRV_ACT_READ && ns && anon_route(r->route) && !r->listing &&
		       anon_reads(r, ns);
	if (action == SRV_ACT_ADMIN)
		return r->id->admin;
	return auth_id_role(r->id, ns) >= needed(action);
}

hc_err srv_authorize(srv_req *r, sbuf *why)
{
	const srv_route *rt = r->route;
	int cookie;
	hc_err err;

	if (!rt || !rt->scope || !rt->action)
		return HC_ERR_INTERNAL;
	if (r->s->cfg.auth_off || rt->scope == SRV_SCOPE_OPEN)
		return HC_OK;
	if (rt->scope == SRV_SCOPE_METRICS && r->s->cfg.metrics_public)
		return HC_OK;
	if (rt->scope == SRV_SCOPE_PROTO)
		return HC_OK; /* the handler identifies (srv_identify) and checks */
	if ((err = identify(r, why)) == HC_ERR_UNAUTHORIZED && !credential(r, &cookie) &&
	    anon_route(rt) &&
	    anon_reads(r, rt->scope == SRV_SCOPE_NS ? srv_param(r, "ns") : NULL)) {
		/* No credential at all, from a network an admin opened: the
		 * handler's srv_allowed checks each namespace. */
		sbuf_reset(why);
		return HC_OK;
	}
	if (err || (err = csrf_check(r, why)))
		return err;
	switch (rt->scope) {
	case SRV_SCOPE_OPEN:
	case SRV_SCOPE_METRICS:
	case SRV_SCOPE_PROTO:
	case SRV_SCOPE_SELF:
	case SRV_SCOPE_NS_EACH:
		return HC_OK; /* any caller who is someone; the handler narrows it */
	case SRV_SCOPE_NS:
		if (srv_allowed(r, srv_param(r, "ns"), rt->action))
			return HC_OK;
		sbuf_addf(why, "%s may not %s in namespace '%.128s'", r->id->name,
			  rt->action == SRV_ACT_READ	  ? "read"
			  : rt->action == SRV_ACT_WRITE	  ? "write"
			  : rt->action == SRV_ACT_APPROVE ? "approve or reject change requests"
							  : "manage access",
			  srv_param(r, "ns"));
		return HC_ERR_FORBIDDEN;
	case SRV_SCOPE_GLOBAL:
		if (srv_allowed(r, "", rt->action))
			return HC_OK;
		sbuf_addf(why, "%s is not an admin", r->id->name);
		return HC_ERR_FORBIDDEN;
	}
	return HC_ERR_INTERNAL;
}

size_t srv_readable(srv_req *r, const char ***out)
{
	size_t i, n = 0;

	*out = NULL;
	if (r->s->cfg.auth_off || (r->id && r->id->admin))
		return 0;
	if (!r->id)
		return (size_t)-1; /* lists show nothing to an anonymous caller */
	*out = xcalloc(r->id->nroles + 1, sizeof(**out));
	for (i = 0; i < r->id->nroles; i++)
		if (r->id->roles[i].role >= AUTH_READER)
			(*out)[n++] = r->id->roles[i].ns;
	return n ? n : (size_t)-1;
}

const char *srv_author(srv_req *r)
{
	if (r->s->cfg.auth_off)
		return srv_header(r, "X-Hotconf-Author");
	return r->id ? r->id->name : "";
}

const char *srv_audit_role(srv_req *r, const char *ns)
{
	if (r->s->cfg.auth_off)
		return "open";
	if (!r->id)
		return "";
	if (r->id->admin)
		return "admin";
	return auth_role_name(auth_id_role(r->id, ns)) ? auth_role_name(auth_id_role(r->id, ns))
						       : "";
}

void srv_audit(srv_req *r, const char *action, const char *ns, const char *target,
	       const char *detail)
{
	store_audit a;

	memset(&a, 0, sizeof(a));
	a.at_ms = clock_wall_ms();
	a.actor = (char *)(r->id ? r->id->name : "");
	a.role = (char *)srv_audit_role(r, ns ? ns : "");
	a.action = (char *)action;
	a.ns = (char *)ns;
	a.target = (char *)target;
	a.source_ip = r->ip;
	a.detail = (char *)detail;
	store_audit_add(r->s->st, &a);
}

/* ---- shared pieces ---- */

/* A string member, def when absent or null; NULL when it is not a string. */
const char *srv_json_string(const cJSON *o, const char *name, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return def;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "roles":{"ns":"role",...} of an identity. */
static void json_roles(sbuf *out, const auth_id *id)
{
	size_t i;

	sbuf_addstr(out, "\"roles\":{");
	for (i = 0; id && i < id->nroles; i++) {
		if (i)
			sbuf_addch(out, ',');
		sbuf_add_json_str(out, id->roles[i].ns, strlen(id->roles[i].ns));
		sbuf_addf(out, ":\"%s\"", auth_role_name(id->roles[i].role));
	}
	sbuf_addch(out, '}');
}

/* Who id is (with csrf when not NULL); "initialPassword":true while the first admin still has the
 * password the server made up at the first start (the console then asks
 * for a new one). */
static void json_me(srv *s, sbuf *out, const auth_id *id, const char *csrf)
{
	int initial = id->kind == AUTH_KIND_SESSION && !strcmp(id->name, "admin") &&
		      auth_initial_password_pending(s->auth);

	sbuf_addstr(out, "{\"name\":");
	sbuf_add_json_str(out, id->name, strlen(id->name));
	sbuf_addf(out, ",\"kind\":\"%s\",\"admin\":%s,%s",
		  id->kind == AUTH_KIND_TOKEN ? "token" : "user", id->admin ? "true" : "false",
		  initial ? "\"initialPassword\":true," : "");
	json_roles(out, id);
	sbuf_addch(out, ',');
	srv_json_time(out, "expiresAt", id->expires_ms);
	if (csrf && *csrf) {
		sbuf_addstr(out, ",\"csrf\":");
		sbuf_add_json_str(out, csrf, strlen(csrf));
	}
	sbuf_addch(out, '}');
}

static hc_err check_password(const char *pw, sbuf *why)
{
	size_t n = pw ? strlen(pw) : 0;

	if (n >= MIN_PASSWORD && n <= MAX_PASSWORD)
		return HC_OK;
	sbuf_addf(why, "a password must be %d to %d characters", MIN_PASSWORD, MAX_PASSWORD);
	return HC_ERR_INVALID;
}

static enum MHD_Result auth_is_off(srv_req *r)
{
	return srv_reply_err(r, HC_ERR_CONFLICT,
			     "authentication is off (--auth=off): there are "
			     "no accounts to use");
}

/* ---- slow work, on the checker thread ---- */

/* What a login or a password change computed off the worker. */
typedef struct srv_authjob {
	char *user, *password, *old;
	int admin, self;
	hc_err err;
	sbuf why, token;
	auth_id *id;
	int64_t retry_s;
} srv_authjob;

void srv_authjob_free(srv_authjob *j)
{
	if (!j)
		return;
	free(j->user);
	if (j->password)
		sodium_memzero(j->password, strlen(j->password));
	free(j->password);
	if (j->old)
		sodium_memzero(j->old, strlen(j->old));
	free(j->old);
	sbuf_release(&j->why);
	sbuf_release(&j->token);
	auth_id_unref(j->id);
	free(j);
}

static srv_authjob *job_new(const char *user, const char *password, const char *old)
{
	srv_authjob *j = xcalloc(1, sizeof(*j));

	j->user = xstrdup(user);
	j->password = xstrdup(password ? password : "");
	j->old = old ? xstrdup(old) : NULL;
	sbuf_init(&j->why, 1024);
	sbuf_init(&j->token, 256);
	return j;
}

/* Ends an offloaded job: the worker answers on its next call. */
static void job_done(srv_req *r)
{
	srv *s = r->s;

	r->job_done = 1;
	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&s->writes, 1);
}

static enum MHD_Result offload(srv_req *r, srv_authjob *j, void (*fn)(srv_req *r))
{
	r->job = j;
	if (!srv_write_begin(r))
		return srv_reply_err(r, HC_ERR_UNAVAILABLE, "the server is shutting down");
	MHD_suspend_connection(r->conn);
	srv_offload(r, fn);
	return MHD_YES;
}

static void login_slow(srv_req *r)
{
	srv_authjob *j = r->job;

	j->err = auth_login(r->s->auth, j->user, j->password, r->ip, clock_wall_ms(), &j->token,
			    &j->id, &j->retry_s);
	job_done(r);
}

static enum MHD_Result login_answer(srv_req *r)
{
	srv_authjob *j = r->job;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	struct MHD_Response *resp;
	char cookie[512], retry[32];
	size_t len;
	char *data;

	if (j->err == HC_ERR_RATE_LIMIT) {
		snprintf(retry, sizeof(retry), "%" PRId64, j->retry_s);
		r->retry_after = retry;
		return srv_reply_err(
		    r, j->err, "too many failed logins for %s from %s: try again in %" PRId64 " s",
		    j->user, r->ip, j->retry_s);
	}
	if (j->err == HC_ERR_UNAUTHORIZED)
		return srv_reply_err(r, j->err, "wrong user name or password");
	if (j->err)
		return srv_reply_err(r, j->err, "cannot log in (%s)", hc_err_code(j->err));
	sbuf_addstr(&body, "{\"token\":");
	sbuf_add_json_str(&body, j->token.buf, j->token.len);
	sbuf_addstr(&body, ",\"csrf\":");
	sbuf_add_json_str(&body, j->id->csrf, strlen(j->id->csrf));
	sbuf_addch(&body, ',');
	srv_json_time(&body, "expiresAt", j->id->expires_ms);
	sbuf_addstr(&body, ",\"user\":");
	json_me(r->s, &body, j->id, NULL);
	sbuf_addstr(&body, "}\n");
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	snprintf(cookie, sizeof(cookie),
		 COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s", j->token.buf,
		 (long long)(r->s->cfg.session_ttl_ms / 1000),
		 r->s->cfg.tls_cert ? "; Secure" : "");
	MHD_add_response_header(resp, "Set-Cookie", cookie);
	return srv_queue(r, MHD_HTTP_OK, resp);
}

enum MHD_Result srv_h_login(srv_req *r)
{
	cJSON *doc;
	const char *user, *pw;
	enum MHD_Result ret;

	if (r->job_done)
		return login_answer(r);
	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	{
		sbuf ignored = SBUF_INIT(1024);
		srv_caller(r, &ignored); /* the address, for the throttle and the log */
		sbuf_release(&ignored);
	}
	doc = srv_json_body(r);
	user = srv_json_string(doc, "username", NULL);
	pw = srv_json_string(doc, "password", NULL);
	if (!cJSON_IsObject(doc) || !user || !pw || !val_name_ok(user) || strlen(pw) > MAX_PASSWORD)
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"username\": <name>, \"password\": <string>}");
	else
		ret = offload(r, job_new(user, pw, NULL), login_slow);
	cJSON_Delete(doc);
	return ret;
}

enum MHD_Result srv_h_logout(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	struct MHD_Response *resp;
	size_t len;
	char *data;
	hc_err err;

	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	if (r->id->kind != AUTH_KIND_SESSION)
		return srv_reply_err(r, HC_ERR_INVALID,
				     "a service token is revoked with DELETE /api/v1/tokens/{id}");
	err = auth_revoke(r->s->auth, r->id->cred_id, clock_wall_ms());
	if (err && err != HC_ERR_NOT_FOUND)
		return srv_reply_err(r, err, "cannot end the session");
	srv_wake_credential(r->s, r->id->cred_id);
	srv_audit(r, "logout", "", r->id->name, "");
	sbuf_addstr(&body, "{\"loggedOut\":true}\n");
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Set-Cookie",
				COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
	return srv_queue(r, MHD_HTTP_OK, resp);
}

enum MHD_Result srv_h_me(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);

	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	/* The console, reloaded, gets its cookie session's CSRF token back:
	 * only a script of this origin can read this answer. */
	json_me(r->s, &body, r->id, r->via_cookie ? r->id->csrf : NULL);
	sbuf_addch(&body, '\n');
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

/* ---- users ---- */

enum MHD_Result srv_h_users(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_user *u = NULL;
	store_grant *g = NULL;
	size_t n = 0, ng = 0, i, k;
	hc_err err = store_users(r->s->st, &u, &n);

	if (!err)
		err = store_grants(r->s->st, NULL, NULL, &g, &ng);
	if (err) {
		store_users_free(u, n);
		return srv_reply_err(r, err, "cannot list users");
	}
	sbuf_addstr(&body, "{\"users\":[");
	for (i = 0; i < n; i++) {
		int first = 1;
		sbuf_addstr(&body, i ? ",{\"name\":" : "{\"name\":");
		sbuf_add_json_str(&body, u[i].name, strlen(u[i].name));
		sbuf_addf(&body, ",\"admin\":%s,", u[i].admin ? "true" : "false");
		srv_json_time(&body, "createdAt", u[i].created_ms);
		sbuf_addstr(&body, ",\"roles\":{");
		for (k = 0; k < ng; k++) {
			if (strcmp(g[k].user, u[i].name))
				continue;
			sbuf_addstr(&body, first ? "" : ",");
			first = 0;
			sbuf_add_json_str(&body, g[k].ns, strlen(g[k].ns));
			sbuf_addch(&body, ':');
			sbuf_add_json_str(&body, g[k].role, strlen(g[k].role));
		}
		sbuf_addstr(&body, "}}");
	}
	sbuf_addstr(&body, "]}\n");
	store_users_free(u, n);
	store_grants_free(g, ng);
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

static void hash_slow(srv_req *r)
{
	srv_authjob *j = r->job;
	store_user u;

	if (j->old) {
		/* A user changing their own password proves they know it. */
		j->err = store_user_get(r->s->st, j->user, &u);
		if (!j->err && !auth_password_ok(u.pw_hash, j->old)) {
			j->err = HC_ERR_FORBIDDEN;
			sbuf_addstr(&j->why, "the old password is wrong");
		}
		store_user_release(&u);
	}
	if (!j->err)
		j->err = auth_hash_password(j->password, &j->token);
	job_done(r);
}

static enum MHD_Result user_created(srv_req *r)
{
	srv_authjob *j = r->job;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	hc_err err = j->err;

	if (!err)
		err = store_user_create(r->s->st, j->user, j->token.buf, j->admin, clock_wall_ms());
	if (err == HC_ERR_CONFLICT)
		return srv_reply_err(r, err, "user '%s' exists", j->user);
	if (err)
		return srv_reply_err(r, err, "cannot create user '%s'", j->user);
	srv_audit(r, "user-create", "", j->user, j->admin ? "admin" : "");
	sbuf_addstr(&body, "{\"name\":");
	sbuf_add_json_str(&body, j->user, strlen(j->user));
	sbuf_addf(&body, ",\"admin\":%s,\"roles\":{}}\n", j->admin ? "true" : "false");
	return srv_reply(r, MHD_HTTP_CREATED, "application/json", &body);
}

enum MHD_Result srv_h_user_create(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);
	cJSON *doc, *admin;
	const char *name, *pw;
	enum MHD_Result ret;
	srv_authjob *j;

	if (r->job_done)
		return user_created(r);
	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	doc = srv_json_body(r);
	name = srv_json_string(doc, "name", NULL);
	pw = srv_json_string(doc, "password", NULL);
	admin = cJSON_GetObjectItemCaseSensitive(doc, "admin");
	if (!cJSON_IsObject(doc) || !name || !pw || (admin && !cJSON_IsBool(admin))) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"name\": <name>, \"password\": <string>, "
				    "\"admin\": <bool, optional>}");
	} else if (val_name("user name", name, &why) || check_password(pw, &why)) {
		ret = srv_reply_why(r, HC_ERR_INVALID, &why);
	} else {
		j = job_new(name, pw, NULL);
		j->admin = cJSON_IsTrue(admin);
		ret = offload(r, j, hash_slow);
	}
	cJSON_Delete(doc);
	sbuf_release(&why);
	return ret;
}

/* 1 when deleting or demoting name would leave no admin. */
static int last_admin(srv_req *r, const char *name)
{
	store_user *u = NULL;
	size_t n = 0, i;
	int admins = 0, is = 0;

	if (store_users(r->s->st, &u, &n))
		return 1;
	for (i = 0; i < n; i++) {
		admins += u[i].admin;
		is |= u[i].admin && !strcmp(u[i].name, name);
	}
	store_users_free(u, n);
	return is && admins == 1;
}

enum MHD_Result srv_h_user_delete(srv_req *r)
{
	const char *name = srv_param(r, "name");
	sbuf body = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);
	enum MHD_Result ret;
	hc_err err;

	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	if (val_name("user name", name, &why)) {
		ret = srv_reply_why(r, HC_ERR_INVALID, &why);
		goto out;
	}
	if (last_admin(r, name)) {
		ret = srv_reply_err(r, HC_ERR_CONFLICT, "'%s' is the last admin", name);
		goto out;
	}
	err = store_user_delete(r->s->st, name);
	if (err) {
		ret =
		    srv_reply_err(r, err, "user '%s' %s", name,
				  err == HC_ERR_NOT_FOUND ? "does not exist" : "cannot be deleted");
		goto out;
	}
	auth_forget_user(r->s->auth, name);
	srv_wake_user(r->s, name);
	srv_audit(r, "user-delete", "", name, "");
	sbuf_addstr(&body, "{\"name\":");
	sbuf_add_json_str(&body, name, strlen(name));
	sbuf_addstr(&body, ",\"deleted\":true}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

static enum MHD_Result password_set(srv_req *r)
{
	srv_authjob *j = r->job;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	hc_err err = j->err;

	if (err == HC_ERR_FORBIDDEN)
		return srv_reply_why(r, err, &j->why);
	/* The user's other sessions end: whoever knew the old password is out.
	 * The session that made the change goes on. */
	if (!err)
		err = store_user_set_password(r->s->st, j->user, j->token.buf,
					      j->self ? r->id->cred_id : NULL, clock_wall_ms());
	if (!err) {
		auth_forget_user(r->s->auth, j->user);
		srv_wake_user(r->s, j->user);
	}
	if (err)
		return srv_reply_err(r, err, "user '%s' %s", j->user,
				     err == HC_ERR_NOT_FOUND ? "does not exist"
							     : "cannot have its password changed");
	if (!strcmp(j->user, "admin"))
		auth_initial_password_done(r->s->auth);
	srv_audit(r, "password-change", "", j->user, "");
	sbuf_addstr(&body, "{\"name\":");
	sbuf_add_json_str(&body, j->user, strlen(j->user));
	sbuf_addstr(&body, ",\"changed\":true}\n");
	return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
}

enum MHD_Result srv_h_password(srv_req *r)
{
	const char *name = srv_param(r, "name");
	sbuf why = SBUF_INIT(1024);
	const char *pw, *old;
	enum MHD_Result ret;
	cJSON *doc;
	int self;

	if (r->job_done)
		return password_set(r);
	if (r->s->cfg.auth_off)
		return auth_is_off(r);
	self = r->id->kind == AUTH_KIND_SESSION && !strcmp(r->id->name, name);
	if (!self && !r->id->admin)
		return srv_reply_err(r, HC_ERR_FORBIDDEN,
				     "only %s or an admin may change this password", name);
	doc = srv_json_body(r);
	pw = srv_json_string(doc, "password", NULL);
	old = srv_json_string(doc, "oldPassword", NULL);
	if (!cJSON_IsObject(doc) || !pw || (!old && self) || (old && strlen(old) > MAX_PASSWORD)) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"password\": <new>, \"oldPassword\": <current, "
				    "when changing your own>}");
	} else if (check_password(pw, &why)) {
		ret = srv_reply_why(r, HC_ERR_INVALID, &why);
	} else {
		srv_authjob *j = job_new(name, pw, self ? old : NULL);
		j->self = self;
		ret = offload(r, j, hash_slow);
	}
	cJSON_Delete(doc);
	sbuf_release(&why);
	return ret;
}
