/*
 * nacos.c: what every Nacos route shares: the request state, form bodies,
 * answers in Nacos' shapes, the caller's credential and names (nacos.h).
 *
 * Threading: worker threads, and pw_slow on the checker thread.
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
#include "pct.h"

static void nc_free(void *p)
{
	nacos_req *n = p;
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->nform; i++) {
		free(n->form[i].k);
		free(n->form[i].v);
	}
	free(n->form);
	free(n->user);
	free(n->password);
	free(n->token);
	free(n->with_tenant);
	free(n->ns);
	free(n->group);
	free(n->data_id);
	free(n->rule);
	free(n->format);
	free(n->desc);
	for (i = 0; i < n->nips; i++)
		free(n->ips[i]);
	free(n->ips);
	sbuf_release(&n->login_token);
	auth_id_unref(n->login_id);
	auth_id_unref(n->pw_id);
	free(n->pw_user);
	free(n->pw_pass);
	free(n);
}

nacos_req *nc(srv_req *r)
{
	if (!r->proto) {
		nacos_req *n = xcalloc(1, sizeof(*n));
		sbuf_init(&n->login_token, 256);
		r->proto = n;
		r->proto_free = nc_free;
	}
	return r->proto;
}

/* ---- form bodies ---- */

/* Parses the body as a form when it is one; HC_ERR_INVALID on a bad escape. */
static hc_err form_parse(srv_req *r, sbuf *why)
{
	nacos_req *n = nc(r);
	const char *ct = srv_header(r, "Content-Type");
	const char *p = r->body.buf, *end = r->body.buf + r->body.len;

	if (n->form_done)
		return HC_OK;
	n->form_done = 1;
	if (!r->body.len || !ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
		return HC_OK;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		const char *fe = amp ? amp : end;
		char *k, *v;
		if (fe == p) {
			p = fe + 1;
			continue;
		}
		eq = memchr(p, '=', (size_t)(fe - p));
		k = pct_decode(p, (size_t)((eq ? eq : fe) - p), PCT_FORM);
		v = eq ? pct_decode(eq + 1, (size_t)(fe - eq - 1), PCT_FORM) : xstrdup("");
		if (!k || !v) {
			free(k);
			free(v);
			sbuf_addstr(why, "the form body has a malformed %-escape");
			return HC_ERR_INVALID;
		}
		n->form = xrealloc(n->form, (n->nform + 1) * sizeof(*n->form));
		n->form[n->nform].k = k;
		n->form[n->nform++].v = v;
		p = fe + 1;
	}
	return HC_OK;
}

/* A parameter from the query or the form body, or NULL. */
const char *nc_param(srv_req *r, const char *name)
{
	nacos_req *n = nc(r);
	const char *v = srv_arg(r, name);
	size_t i;

	if (v)
		return v;
	for (i = 0; i < n->nform; i++)
		if (!strcmp(n->form[i].k, name))
			return n->form[i].v;
	return NULL;
}

/* ---- answers ---- */

void nc_no_cache(struct MHD_Response *resp)
{
	MHD_del_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Cache-Control", "no-cache,no-store");
	MHD_add_response_header(resp, "Pragma", "no-cache");
	MHD_add_response_header(resp, "Expires", "0");
}

/* A response of body (taken over) with its type and Nacos' no-cache headers. */
static struct MHD_Response *plain_response(sbuf *body, const char *ctype)
{
	size_t len;
	char *data = sbuf_detach(body, &len);
	struct MHD_Response *resp = srv_response(len, data, free, data);

	if (resp) {
		MHD_add_response_header(resp, "Content-Type", ctype);
		nc_no_cache(resp);
	}
	return resp;
}

enum MHD_Result nc_reply_shared(srv_req *r, sbuf *body)
{
	srv *s = r->s;
	enum MHD_Result ret = MHD_NO;

	pthread_mutex_lock(&s->nc_mu);
	if (!s->nc_resp || s->nc_body.len != body->len ||
	    memcmp(s->nc_body.buf, body->buf, body->len)) {
		struct MHD_Response *resp;
		sbuf_reset(&s->nc_body);
		sbuf_add(&s->nc_body, body->buf, body->len);
		resp = plain_response(body, "text/plain;charset=UTF-8");
		if (!resp) {
			sbuf_reset(&s->nc_body);
			goto out;
		}
		if (s->nc_resp) /* others may still send it: MHD counts references */
			MHD_destroy_response(s->nc_resp);
		s->nc_resp = resp;
	}
	ret = srv_queue_shared(r, MHD_HTTP_OK, s->nc_resp);
out:
	pthread_mutex_unlock(&s->nc_mu);
	return ret;
}

enum MHD_Result nc_reply(srv_req *r, unsigned status, const char *ctype, sbuf *body)
{
	struct MHD_Response *resp = plain_response(body, ctype);

	return resp ? srv_queue(r, status, resp) : MHD_NO;
}

/* v1: status and text; v2: {"code","message","data":text}. */
enum MHD_Result nc_fail(srv_req *r, unsigned status, int v2code, const char *text)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);

	if (!nc(r)->v2) {
		sbuf_addstr(&body, text);
		return nc_reply(r, status, "text/plain;charset=UTF-8", &body);
	}
	sbuf_addf(&body, "{\"code\":%d,\"message\":", v2code);
	sbuf_add_json_str(&body,
			  status == 404	  ? "resource not found"
			  : status == 400 ? "parameter validate error"
			  : status == 403 ? "authorization failed"
					  : "server error",
			  strlen(status == 404	 ? "resource not found"
				 : status == 400 ? "parameter validate error"
				 : status == 403 ? "authorization failed"
						 : "server error"));
	sbuf_addstr(&body, ",\"data\":");
	sbuf_add_json_str(&body, text, strlen(text));
	sbuf_addstr(&body, "}");
	return nc_reply(r, status, "application/json;charset=UTF-8", &body);
}

enum MHD_Result nc_bad(srv_req *r, const sbuf *why)
{
	char text[1200];

	snprintf(text, sizeof(text), "caused: %s;", why->len ? why->buf : "invalid parameter");
	return nc_fail(r, MHD_HTTP_BAD_REQUEST, 10000, text);
}

/* v1 `true`, v2 {"code":0,"message":"success","data":true}. */
enum MHD_Result nc_true(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);

	if (!nc(r)->v2) {
		sbuf_addstr(&body, "true");
		return nc_reply(r, MHD_HTTP_OK, "text/plain;charset=UTF-8", &body);
	}
	sbuf_addstr(&body, "{\"code\":0,\"message\":\"success\",\"data\":true}");
	return nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
}

/* ---- who is asking ---- */

/* The argon2 of a username+password the cache did not know, on the checker
 * thread: a worker never runs it, so callers sending random names cannot
 * tie up the workers (the checker serves them one at a time, as it does
 * logins). The request is counted (srv_write_begin) while suspended. */
static void pw_slow(srv_req *r)
{
	nacos_req *n = nc(r);
	srv *s = r->s;

	n->pw_err = auth_password_identity(s->auth, n->pw_user, n->pw_pass, r->ip, clock_wall_ms(),
					   &n->pw_id);
	n->pw_done = 1;
	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&s->writes, 1);
}

/* Identifies the caller (once per request, and again when its identity went
 * stale while held). On a refusal queues the answer into *ret, returns 1; a
 * password the cache does not know suspends the request for pw_slow and
 * returns 1 with *ret = MHD_YES: the handler runs again once it is checked. */
int nc_identify(srv_req *r, enum MHD_Result *ret)
{
	nacos_req *n = nc(r);
	sbuf why = SBUF_INIT(1024);
	const char *tok = n->token ? n->token : nc_param(r, "accessToken");
	const char *user = n->user ? n->user : nc_param(r, "username");
	const char *pw = n->password ? n->password : nc_param(r, "password");
	auth_id *id = NULL;
	hc_err err = HC_OK;

	if (r->s->cfg.auth_off || (r->id && auth_id_current(r->id, clock_wall_ms())))
		return 0;
	if (tok && *tok) {
		err = srv_identify(r, tok, &why);
	} else if (user && *user && pw) {
		if (n->pw_done) { /* back from pw_slow */
			n->pw_done = 0;
			err = n->pw_err;
			id = n->pw_id;
			n->pw_id = NULL;
		} else {
			err = auth_password_cached(r->s->auth, user, pw, clock_wall_ms(), &id);
		}
		if (err == HC_ERR_NOT_FOUND) {
			if (!srv_write_begin(r)) {
				*ret = nc_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, 30000,
					       "the server is shutting down");
				return 1;
			}
			free(n->pw_user);
			free(n->pw_pass);
			n->pw_user = xstrdup(user);
			n->pw_pass = xstrdup(pw);
			MHD_suspend_connection(r->conn);
			srv_offload(r, pw_slow);
			*ret = MHD_YES;
			return 1;
		}
		auth_id_unref(r->id);
		r->id = id;
		r->via_cookie = 0;
	} else {
		err = srv_identify(r, NULL, &why);
	}
	sbuf_release(&why);
	if (!err)
		return 0;
	if (err == HC_ERR_RATE_LIMIT) {
		r->retry_after = "300";
		*ret = nc_fail(r, 429, 429, "too many failed logins: try again later");
	} else if (err == HC_ERR_UNAUTHORIZED || err == HC_ERR_FORBIDDEN) {
		*ret = nc_fail(r, MHD_HTTP_FORBIDDEN, 403,
			       tok && *tok ? "token invalid!" : "user not found!");
	} else {
		*ret = nc_fail(r, srv_http_status(err), 30000, "cannot check the credential");
	}
	return 1;
}

/* Identifies and checks action in ns; 1 with *ret queued on a refusal. */
int nc_refused(srv_req *r, const char *ns, srv_action action, enum MHD_Result *ret)
{
	char text[300];

	if (nc_identify(r, ret))
		return 1;
	if (srv_allowed(r, ns, action))
		return 0;
	snprintf(text, sizeof(text), "authorization failed!: %s may not %s in namespace '%s'",
		 r->id ? r->id->name : "an anonymous caller",
		 action == SRV_ACT_READ ? "read" : "write", ns);
	*ret = nc_fail(r, MHD_HTTP_FORBIDDEN, 403, text);
	return 1;
}

uint64_t nc_hold(int64_t timeout_ms, int no_hangup, uint64_t max_wait_ms)
{
	uint64_t ms;

	if (no_hangup)
		return 0;
	ms = timeout_ms - 500 > NC_MIN_HOLD_MS ? (uint64_t)(timeout_ms - 500) : NC_MIN_HOLD_MS;
	return ms < max_wait_ms ? ms : max_wait_ms;
}

/* ---- names ---- */

const char *nc_ns_of(const char *tenant)
{
	return !tenant || !*tenant ? "public" : tenant;
}

/* Reads dataId, group and tenant (namespaceId on v2) into n and r->key.
 * group defaults to DEFAULT_GROUP. */
hc_err nc_names(srv_req *r, int need_data_id, sbuf *why)
{
	nacos_req *n = nc(r);
	const char *d = nc_param(r, "dataId"), *g = nc_param(r, "group");
	const char *t = nc_param(r, n->v2 ? "namespaceId" : "tenant");
	hc_err err;

	if (!t && n->v2)
		t = nc_param(r, "tenant");
	if (need_data_id && (!d || !*d)) {
		sbuf_addstr(why, "Required String parameter 'dataId' is not present");
		return HC_ERR_INVALID;
	}
	if (!g || !*g)
		g = "DEFAULT_GROUP";
	free(n->ns);
	free(n->group);
	free(n->data_id);
	n->ns = xstrdup(nc_ns_of(t));
	n->group = xstrdup(g);
	n->data_id = xstrdup(d ? d : "");
	if ((err = val_name("tenant", n->ns, why)) || (err = val_name("group", g, why)))
		return err;
	if (!need_data_id && !*n->data_id)
		return HC_OK;
	if ((err = val_name("dataId", n->data_id, why)))
		return err;
	cfgkey_release(&r->key);
	return cfgkey_init(&r->key, n->ns, n->group, n->data_id);
}

/* The tag a reader or writer gives: ?tag= or Vipserver-Tag. */
static const char *nc_tag(srv_req *r)
{
	const char *t = nc_param(r, "tag");

	if (!t || !*t)
		t = srv_header(r, "Vipserver-Tag");
	return t && *t ? t : NULL;
}

/* The caller's address and, for a tag, its label tag=<value>, before
 * anything calls srv_instance. */
static hc_err nc_caller(srv_req *r, sbuf *why)
{
	const char *tag = nc_tag(r);
	sbuf spec = SBUF_INIT(1024);
	hc_err err = srv_caller(r, why);

	if (!err && tag) {
		sbuf_addf(&spec, "tag=%s", tag);
		sbuf_reset(&r->labels);
		err = val_labels(spec.buf, &r->labels, why);
	}
	sbuf_release(&spec);
	return err;
}

/* Common start: the form, the caller. */
int nc_begin(srv_req *r, int v2, enum MHD_Result *ret)
{
	sbuf why = SBUF_INIT(1024);
	hc_err err;

	nc(r)->v2 = v2;
	err = form_parse(r, &why);
	if (!err)
		err = nc_caller(r, &why);
	if (err)
		*ret = nc_bad(r, &why);
	sbuf_release(&why);
	return err != HC_OK;
}

int nc_open(srv_req *r, int v2, int need_data_id, srv_action action, enum MHD_Result *ret)
{
	sbuf why = SBUF_INIT(1024);
	hc_err err;

	if (nc_begin(r, v2, ret))
		return 1;
	err = nc_names(r, need_data_id, &why);
	if (err)
		*ret = nc_bad(r, &why);
	sbuf_release(&why);
	return err || nc_refused(r, nc(r)->ns, action, ret);
}
