/*
 * routes_admin.c: namespaces, /healthz and /metrics. Worker threads; the
 * store serialises its own SQL.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "gitmirror.h"
#include "gitsource.h"
#include "srv_internal.h"

static void json_namespace(sbuf *out, const store_namespace *n)
{
	sbuf_addstr(out, "{\"id\":");
	sbuf_add_json_str(out, n->id, strlen(n->id));
	sbuf_addstr(out, ",\"name\":");
	sbuf_add_json_str(out, n->name, strlen(n->name));
	sbuf_addstr(out, ",\"description\":");
	sbuf_add_json_str(out, n->description, strlen(n->description));
	sbuf_addf(out, ",\"configCount\":%" PRId64 ",\"review\":{\"required\":%d},",
		  n->config_count, n->review_required);
	sbuf_addstr(out, "\"anonymousRead\":{\"cidrs\":[");
	if (n->anonymous_read && *n->anonymous_read) {
		const char *p = n->anonymous_read;
		for (;;) {
			const char *e = strchr(p, ',');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			sbuf_add_json_str(out, p, len);
			if (!e)
				break;
			sbuf_addch(out, ',');
			p = e + 1;
		}
	}
	sbuf_addstr(out, "]},\"source\":");
	if (n->source && *n->source)
		sbuf_add_json_str(out, n->source, strlen(n->source));
	else
		sbuf_addstr(out, "null");
	sbuf_addch(out, ',');
	srv_json_time(out, "createdAt", n->created_ms);
	sbuf_addch(out, '}');
}

enum MHD_Result srv_h_namespaces(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_namespace *items = NULL;
	size_t n = 0, i, shown;
	enum MHD_Result ret;
	hc_err err = store_namespaces(r->s->st, &items, &n);

	if (err)
		return srv_reply_err(r, err, "cannot list namespaces");
	sbuf_addstr(&body, "{\"namespaces\":[");
	for (i = 0, shown = 0; i < n; i++) {
		if (!srv_allowed(r, items[i].id, SRV_ACT_READ))
			continue; /* only what the caller may read */
		if (shown++)
			sbuf_addch(&body, ',');
		json_namespace(&body, &items[i]);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
	store_namespaces_free(items, n);
	return ret;
}

enum MHD_Result srv_namespace_reply(srv_req *r, const char *ns)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_namespace *items = NULL;
	size_t n = 0, i;
	enum MHD_Result ret;
	hc_err err = store_namespaces(r->s->st, &items, &n);

	for (i = 0; !err && i < n && strcmp(items[i].id, ns); i++)
		;
	if (err || i == n)
		ret =
		    srv_reply_err(r, err ? err : HC_ERR_NOT_FOUND, "namespace '%s' not found", ns);
	else {
		json_namespace(&body, &items[i]);
		sbuf_addch(&body, '\n');
		ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
	}
	store_namespaces_free(items, n);
	sbuf_release(&body);
	return ret;
}

/* A string member, "" when absent; NULL when present but not a string. */
static const char *opt_string(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return "";
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

enum MHD_Result srv_h_namespace_create(srv_req *r)
{
	cJSON *doc = srv_json_body(r);
	const char *id = opt_string(doc, "id"), *name = opt_string(doc, "name"),
		   *desc = opt_string(doc, "description");
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_namespace ns = {0};
	enum MHD_Result ret;
	hc_err err;

	if (!cJSON_IsObject(doc) || !id || !name || !desc || strlen(name) > 256 ||
	    strlen(desc) > 4096) {
		ret =
		    srv_reply_err(r, HC_ERR_INVALID,
				  "body must be {\"id\": <name>, \"name\": <string, at most 256>, "
				  "\"description\": <string, at most 4096>}");
		goto out;
	}
	if ((err = val_name("namespace id", id, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	ns.id = (char *)id;
	ns.name = (char *)(*name ? name : id);
	ns.description = (char *)desc;
	ns.created_ms = clock_wall_ms();
	err = store_namespace_create(r->s->st, ns.id, ns.name, ns.description, ns.created_ms);
	if (err) {
		ret =
		    srv_reply_err(r, err, "namespace '%s' %s", id,
				  err == HC_ERR_CONFLICT ? "already exists" : "cannot be created");
		goto out;
	}
	srv_audit(r, "namespace-create", id, "", "");
	json_namespace(&body, &ns);
	sbuf_addch(&body, '\n');
	ret = srv_reply(r, MHD_HTTP_CREATED, "application/json", &body);
out:
	cJSON_Delete(doc);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_namespace_delete(srv_req *r)
{
	const char *id = srv_param(r, "ns");
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	enum MHD_Result ret;
	hc_err err = val_name("namespace id", id, &why);

	if (err) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	err = store_namespace_delete(r->s->st, id);
	switch (err) {
	case HC_OK:
		srv_audit(r, "namespace-delete", id, "", "");
		sbuf_addstr(&body, "{\"id\":");
		sbuf_add_json_str(&body, id, strlen(id));
		sbuf_addstr(&body, ",\"deleted\":true}\n");
		ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
		break;
	case HC_ERR_FORBIDDEN:
		ret = srv_reply_err(r, err, "namespace '%s' cannot be deleted", id);
		break;
	case HC_ERR_NOT_FOUND:
		ret = srv_reply_err(r, err, "namespace '%s' does not exist", id);
		break;
	case HC_ERR_CONFLICT:
		ret = srv_reply_err(r, err, "namespace '%s' still holds configs; delete them first",
				    id);
		break;
	default:
		ret = srv_reply_err(r, err, "namespace '%s' cannot be deleted", id);
		break;
	}
out:
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

/* The error a degraded store answers writes with, for /healthz's body. */
static hc_err health_err(store_health_state h)
{
	switch (h) {
	case STORE_HEALTH_OK:
		return HC_OK;
	case STORE_HEALTH_DISK_FULL:
		return HC_ERR_NO_SPACE;
	case STORE_HEALTH_READ_ONLY:
		return HC_ERR_READ_ONLY;
	case STORE_HEALTH_IO_ERROR:
		return HC_ERR_IO;
	case STORE_HEALTH_FILE_GONE:
		return HC_ERR_UNAVAILABLE;
	}
	return HC_ERR_INTERNAL;
}

/* Closes a /healthz body, with "mirror" when the server mirrors to git. A
 * mirror that lags or fails never makes the server unhealthy: it catches
 * up by itself, and writes go on meanwhile. */
static void add_mirror(srv *s, sbuf *body)
{
	if (s->gm) {
		sbuf_addstr(body, ",\"mirror\":");
		gm_status_json(s->gm, body);
	}
	if (s->gs) {
		sbuf_addstr(body, ",\"gitSource\":");
		gs_status_json(s->gs, body);
	}
	sbuf_addstr(body, "}\n");
}

/* 200 {"status":"ok","revision"} while the store keeps what it acknowledges;
 * else 503 {"status":"degraded","reason","revision","error":{...}}, so a
 * load balancer takes the node out and a person reads why. */
enum MHD_Result srv_h_health(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	char reason[STORE_DETAIL_MAX];
	store_health_state h = store_health(r->s->st, reason, sizeof(reason));
	hc_err err = store_ping(r->s->st);

	if (err && h == STORE_HEALTH_OK)
		snprintf(reason, sizeof(reason), "the store does not answer (%s)",
			 hc_err_code(err));
	if (!err && h == STORE_HEALTH_OK) {
		sbuf_addf(&body, "{\"status\":\"ok\",\"revision\":%" PRId64,
			  store_revision(r->s->st));
		add_mirror(r->s, &body);
		return srv_reply(r, MHD_HTTP_OK, "application/json", &body);
	}
	sbuf_addstr(&body, "{\"status\":\"degraded\",\"reason\":");
	sbuf_add_json_str(&body, reason, strlen(reason));
	sbuf_addf(&body, ",\"revision\":%" PRId64 ",\"error\":{\"code\":\"%s\",\"message\":",
		  store_revision(r->s->st), hc_err_code(h ? health_err(h) : HC_ERR_UNAVAILABLE));
	sbuf_add_json_str(&body, reason, strlen(reason));
	sbuf_addch(&body, '}');
	add_mirror(r->s, &body);
	return srv_reply(r, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", &body);
}

enum MHD_Result srv_h_metrics(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	metrics_gauges g;

	pthread_mutex_lock(&r->s->mu);
	g.held = watch_count(r->s->hub);
	g.held_bytes = r->s->held_total;
	pthread_mutex_unlock(&r->s->mu);
	g.revision = store_revision(r->s->st);
	g.writes_queued = (uint64_t)atomic_load(&r->s->writes);
	g.body_bytes = (uint64_t)atomic_load(&r->s->body_bytes);
	g.password_checks = r->s->auth ? auth_password_checks(r->s->auth) : 0;
	metrics_render(r->s->m, &g, &body);
	return srv_reply(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", &body);
}

/* One of the names a fault request may use; -1 when it is not among them. */
static int pick(const cJSON *o, const char *field, const char *const *names, size_t n, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
	size_t i;

	if (!v)
		return def;
	for (i = 0; cJSON_IsString(v) && i < n; i++)
		if (!strcmp(v->valuestring, names[i]))
			return (int)i;
	return -1;
}

/* A non-negative integer member below 1e6, def when absent; -1 when bad. */
static int small_int(const cJSON *o, const char *field, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);

	if (!v)
		return def;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return -1;
	return (int)v->valuedouble;
}

/*
 * POST /api/v1/debug/faults, for tests, only with --test-faults:
 * {"point":"commit|write","error":"io|busy|full|readonly","after":N,"count":N}
 * arms the store's fault hook; {"hold":true|false} holds the writer so the
 * writes queued meanwhile commit as one batch.
 */
enum MHD_Result srv_h_debug_faults(srv_req *r)
{
	static const char *const points[] = {"commit", "write"};
	static const char *const kinds[] = {"io", "busy", "full", "readonly"};
	cJSON *doc = NULL;
	const cJSON *hold;
	enum MHD_Result ret;
	int point, kind, after, count;

	if (!r->s->cfg.test_faults)
		return srv_reply_err(r, HC_ERR_NOT_FOUND,
				     "fault injection is off (it exists for tests: --test-faults)");
	doc = srv_json_body(r);
	hold = cJSON_GetObjectItemCaseSensitive(doc, "hold");
	point = pick(doc, "point", points, 2, 0);
	kind = pick(doc, "error", kinds, 4, 0);
	after = small_int(doc, "after", 0);
	count = small_int(doc, "count", 1);
	if (!cJSON_IsObject(doc) || point < 0 || kind < 0 || after < 0 || count < 0 ||
	    (hold && !cJSON_IsBool(hold))) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"point\": \"commit|write\", \"error\": "
				    "\"io|busy|full|readonly\", \"after\": N, \"count\": N} or "
				    "{\"hold\": true|false}");
		goto out;
	}
	if (hold)
		store_fault_hold(r->s->st, cJSON_IsTrue(hold));
	else
		store_fault_arm(r->s->st, (store_fault_point)point, (store_fault_kind)kind, after,
				count);
	{
		sbuf body = SBUF_INIT(SBUF_NOMAX);
		sbuf_addstr(&body, "{\"ok\":true}\n");
		ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
	}
out:
	cJSON_Delete(doc);
	return ret;
}
