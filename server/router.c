/*
 * router.c: the route table, git's commands[] style, and the matcher.
 *
 * Every endpoint is one row: pattern, methods, handler, body cap and who may
 * call it (scope + action; routes_auth.c's srv_authorize enforces them). Dispatch (srv.c), the
 * Allow header, the body cap chosen on a request's first callback and the permission check all read
 * this table and nothing else, so an endpoint cannot be added without
 * saying who may call it. Patterns are literal segments and "{name}"
 * parameters; a last "{*name}" takes the rest of the path (the console's
 * files). Paths are matched on the raw request target, cut at '/' first and
 * percent-decoded per segment after, so "%2F" inside a segment stays inside
 * it and a decoded NUL is refused.
 *
 * Threading: the table is static and read-only; srv_route_request touches
 * only its own request. Any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "pct.h"
#include "srv_internal.h"
#include "xmalloc.h"

#define CFG "/api/v1/configs/{ns}/{group}/{dataId}"
#define CHG "/api/v1/namespaces/{ns}/changes"

/* clang-format off */
static const srv_route routes[] = {
	{"/healthz", SRV_GET, srv_h_health, SRV_BODY_SMALL, SRV_SCOPE_OPEN, SRV_ACT_READ},
	{"/metrics", SRV_GET, srv_h_metrics, SRV_BODY_SMALL, SRV_SCOPE_METRICS, SRV_ACT_READ},
	{"/api/v1/namespaces", SRV_GET, srv_h_namespaces, SRV_BODY_SMALL, SRV_SCOPE_NS_EACH,
	 SRV_ACT_READ},
	{"/api/v1/namespaces", SRV_POST, srv_h_namespace_create, SRV_BODY_SMALL, SRV_SCOPE_GLOBAL,
	 SRV_ACT_ADMIN},
	{"/api/v1/namespaces/{ns}", SRV_DELETE, srv_h_namespace_delete, SRV_BODY_SMALL,
	 SRV_SCOPE_GLOBAL, SRV_ACT_ADMIN},
	{"/api/v1/namespaces/{ns}", SRV_PUT, srv_h_namespace_put, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_OWN},
	{"/api/v1/namespaces/{ns}/export", SRV_GET, srv_h_ns_export, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_READ},
	{"/api/v1/namespaces/{ns}/import", SRV_POST, srv_h_ns_import, SRV_BODY_ARCHIVE,
	 SRV_SCOPE_NS, SRV_ACT_WRITE},
	{CHG, SRV_GET, srv_h_changes_list, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CHG, SRV_POST, srv_h_change_create, SRV_BODY_CONTENT, SRV_SCOPE_NS, SRV_ACT_WRITE},
	{CHG "/{id}", SRV_GET, srv_h_change_get, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CHG "/{id}", SRV_PATCH, srv_h_change_patch, SRV_BODY_CONTENT, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CHG "/{id}/submit", SRV_POST, srv_h_change_submit, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CHG "/{id}/approve", SRV_POST, srv_h_change_approve, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_APPROVE},
	{CHG "/{id}/reject", SRV_POST, srv_h_change_reject, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_APPROVE},
	{CHG "/{id}/publish", SRV_POST, srv_h_change_publish, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CHG "/{id}/cancel", SRV_POST, srv_h_change_cancel, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CHG "/{id}/comments", SRV_POST, srv_h_change_comment, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_READ},
	{"/api/v1/configs", SRV_GET, srv_h_configs_list, SRV_BODY_SMALL, SRV_SCOPE_NS_EACH,
	 SRV_ACT_READ},
	{CFG, SRV_GET, srv_h_config_get, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CFG, SRV_PUT, srv_h_config_put, SRV_BODY_CONTENT, SRV_SCOPE_NS, SRV_ACT_WRITE},
	{CFG, SRV_DELETE, srv_h_config_delete, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_WRITE},
	{CFG "/history", SRV_GET, srv_h_history, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CFG "/history/{version}", SRV_GET, srv_h_history_one, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_READ},
	{CFG "/rollback", SRV_POST, srv_h_rollback, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_WRITE},
	{CFG "/gray", SRV_GET, srv_h_gray_list, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CFG "/gray/{rule}", SRV_GET, srv_h_gray_get, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{CFG "/gray/{rule}", SRV_PUT, srv_h_gray_put, SRV_BODY_CONTENT, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}", SRV_DELETE, srv_h_gray_delete, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}/promote", SRV_POST, srv_h_gray_promote, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}/pause", SRV_POST, srv_h_gray_pause, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}/resume", SRV_POST, srv_h_gray_resume, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}/advance", SRV_POST, srv_h_gray_advance, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_WRITE},
	{CFG "/gray/{rule}/preview", SRV_GET | SRV_POST, srv_h_gray_preview, SRV_BODY_SMALL,
	 SRV_SCOPE_NS, SRV_ACT_READ},
	{CFG "/listeners", SRV_GET, srv_h_listeners, SRV_BODY_SMALL, SRV_SCOPE_NS, SRV_ACT_READ},
	{"/api/v1/instances/{id}", SRV_GET, srv_h_instance, SRV_BODY_SMALL, SRV_SCOPE_NS_EACH,
	 SRV_ACT_READ},
	{"/api/v1/reports", SRV_POST, srv_h_reports, SRV_BODY_WATCH, SRV_SCOPE_NS_EACH,
	 SRV_ACT_READ},
	{"/api/v1/watch", SRV_POST, srv_h_watch, SRV_BODY_WATCH, SRV_SCOPE_NS_EACH, SRV_ACT_READ},
	{"/api/v1/debug/faults", SRV_POST, srv_h_debug_faults, SRV_BODY_SMALL, SRV_SCOPE_GLOBAL,
	 SRV_ACT_ADMIN},
	{"/api/v1/auth/login", SRV_POST, srv_h_login, SRV_BODY_SMALL, SRV_SCOPE_OPEN, SRV_ACT_READ},
	{"/api/v1/auth/logout", SRV_POST, srv_h_logout, SRV_BODY_SMALL, SRV_SCOPE_SELF, SRV_ACT_READ},
	{"/api/v1/auth/me", SRV_GET, srv_h_me, SRV_BODY_SMALL, SRV_SCOPE_SELF, SRV_ACT_READ},
	{"/api/v1/users", SRV_GET, srv_h_users, SRV_BODY_SMALL, SRV_SCOPE_GLOBAL, SRV_ACT_ADMIN},
	{"/api/v1/users", SRV_POST, srv_h_user_create, SRV_BODY_SMALL, SRV_SCOPE_GLOBAL,
	 SRV_ACT_ADMIN},
	{"/api/v1/users/{name}", SRV_DELETE, srv_h_user_delete, SRV_BODY_SMALL, SRV_SCOPE_GLOBAL,
	 SRV_ACT_ADMIN},
	{"/api/v1/users/{name}/password", SRV_PUT, srv_h_password, SRV_BODY_SMALL, SRV_SCOPE_SELF,
	 SRV_ACT_WRITE},
	{"/api/v1/namespaces/{ns}/grants", SRV_GET, srv_h_grants, SRV_BODY_SMALL, SRV_SCOPE_NS,
	 SRV_ACT_OWN},
	{"/api/v1/namespaces/{ns}/grants/{user}", SRV_GET, srv_h_grant_get, SRV_BODY_SMALL,
	 SRV_SCOPE_NS, SRV_ACT_OWN},
	{"/api/v1/namespaces/{ns}/grants/{user}", SRV_PUT, srv_h_grant_put, SRV_BODY_SMALL,
	 SRV_SCOPE_NS, SRV_ACT_OWN},
	{"/api/v1/namespaces/{ns}/grants/{user}", SRV_DELETE, srv_h_grant_delete, SRV_BODY_SMALL,
	 SRV_SCOPE_NS, SRV_ACT_OWN},
	{"/api/v1/tokens", SRV_GET, srv_h_tokens, SRV_BODY_SMALL, SRV_SCOPE_SELF, SRV_ACT_READ},
	{"/api/v1/tokens", SRV_POST, srv_h_token_create, SRV_BODY_SMALL, SRV_SCOPE_SELF,
	 SRV_ACT_OWN},
	{"/api/v1/tokens/{id}", SRV_DELETE, srv_h_token_delete, SRV_BODY_SMALL, SRV_SCOPE_SELF,
	 SRV_ACT_OWN},
	{"/api/v1/audit", SRV_GET, srv_h_audit, SRV_BODY_SMALL, SRV_SCOPE_SELF, SRV_ACT_OWN},
	/* Apollo's config service (routes_apollo.c): the handler identifies the
	 * caller (an access key, a token, or anonymous where a namespace allows). */
	{"/configs/{appId}/{cluster}/{namespace}", SRV_GET, srv_h_apollo_config, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/configfiles/json/{appId}/{cluster}/{namespace}", SRV_GET, srv_h_apollo_file_json,
	 SRV_BODY_SMALL, SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/configfiles/{appId}/{cluster}/{namespace}", SRV_GET, srv_h_apollo_file, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/notifications/v2", SRV_GET, srv_h_apollo_notifications, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	/* Nacos' open API, config side (routes_nacos.c): the handler identifies the
	 * caller (username+password, accessToken, a token, or anonymous where a
	 * namespace allows) and checks each namespace itself. */
	{"/nacos/v1/cs/configs", SRV_GET, srv_h_nacos_config_get, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/nacos/v1/cs/configs", SRV_POST, srv_h_nacos_config_post, SRV_BODY_CONTENT,
	 SRV_SCOPE_PROTO, SRV_ACT_WRITE},
	{"/nacos/v1/cs/configs", SRV_DELETE, srv_h_nacos_config_delete, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_WRITE},
	{"/nacos/v1/cs/configs/listener", SRV_POST, srv_h_nacos_listener, SRV_BODY_WATCH,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/nacos/v1/cs/configs/listener", SRV_GET, srv_h_nacos_listeners, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/nacos/v1/cs/history", SRV_GET, srv_h_nacos_history, SRV_BODY_SMALL, SRV_SCOPE_PROTO,
	 SRV_ACT_READ},
	{"/nacos/v1/cs/history/previous", SRV_GET, srv_h_nacos_history_previous, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/nacos/v1/cs/history/configs", SRV_GET, srv_h_nacos_history_configs, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_READ},
	{"/nacos/v1/auth/login", SRV_POST, srv_h_nacos_login, SRV_BODY_SMALL, SRV_SCOPE_OPEN,
	 SRV_ACT_READ},
	{"/nacos/v2/cs/config", SRV_GET, srv_h_nacos_v2_config, SRV_BODY_SMALL, SRV_SCOPE_PROTO,
	 SRV_ACT_READ},
	{"/nacos/v2/cs/config", SRV_POST, srv_h_nacos_v2_config, SRV_BODY_CONTENT,
	 SRV_SCOPE_PROTO, SRV_ACT_WRITE},
	{"/nacos/v2/cs/config", SRV_DELETE, srv_h_nacos_v2_config, SRV_BODY_SMALL,
	 SRV_SCOPE_PROTO, SRV_ACT_WRITE},
	/* The console (routes_web.c): last, and only for paths nothing above
	 * knows and that are not under /api/ (see srv_route_request). */
	{"/{*file}", SRV_GET, srv_h_web, SRV_BODY_SMALL, SRV_SCOPE_OPEN, SRV_ACT_READ},
};
/* clang-format on */

const srv_route *srv_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

void srv_methods_str(unsigned methods, char out[64])
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{SRV_GET, "GET"}, {SRV_HEAD, "HEAD"},     {SRV_POST, "POST"},
		     {SRV_PUT, "PUT"}, {SRV_DELETE, "DELETE"}, {SRV_PATCH, "PATCH"}};
	size_t i, used = 0;

	out[0] = '\0';
	if (methods & SRV_GET)
		methods |= SRV_HEAD;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i].name);
		if (!(methods & names[i].bit) || used + n + 3 > 64)
			continue;
		if (used) {
			memcpy(out + used, ", ", 2);
			used += 2;
		}
		memcpy(out + used, names[i].name, n + 1);
		used += n;
	}
}

/* Does pattern match the raw path? With capture set, decodes and keeps the
 * parameters in r. Returns 1 on a match, 0 on none, -1 on a malformed
 * segment (only with capture). */
static int match(srv_req *r, const char *pattern, const char *path, int capture)
{
	const char *p = pattern, *u = path;

	if (*u != '/')
		return 0;
	while (*p && *u) {
		const char *pe, *ue;
		size_t pl, ul;
		p++;
		u++;
		pe = strchr(p, '/');
		ue = strchr(u, '/');
		pl = pe ? (size_t)(pe - p) : strlen(p);
		ul = ue ? (size_t)(ue - u) : strlen(u);
		if (pl >= 3 && p[0] == '{' && p[1] == '*') {
			/* The rest of the path, as it came (the handler decodes). */
			if (capture && r->nparams < SRV_MAX_PARAMS) {
				r->param_name[r->nparams] = p + 2;
				r->param[r->nparams++] = xstrdup(u);
			}
			return 1;
		}
		if (pl >= 2 && p[0] == '{') {
			if (ul == 0)
				return 0; /* an empty segment is no name */
			if (capture) {
				char *v = pct_decode(u, ul, PCT_URI);
				if (!v)
					return -1;
				if (r->nparams == SRV_MAX_PARAMS) {
					free(v);
					return -1;
				}
				r->param_name[r->nparams] = p + 1;
				r->param[r->nparams++] = v;
			}
		} else if (pl != ul || memcmp(p, u, pl)) {
			return 0;
		}
		p += pl;
		u += ul;
	}
	return !*p && !*u;
}

static void clear_params(srv_req *r)
{
	size_t i;

	for (i = 0; i < r->nparams; i++)
		free(r->param[i]);
	r->nparams = 0;
}

void srv_route_request(srv_req *r)
{
	size_t i, n;
	const srv_route *t = srv_routes(&n);
	unsigned want = r->method_bit == SRV_HEAD ? SRV_GET : r->method_bit;

	r->route = NULL;
	r->allowed = 0;
	for (i = 0; i < n; i++) {
		/* The console's catch-all never shadows an API path: a wrong
		 * method there is still 405, an unknown one still a JSON 404. */
		if (!strncmp(t[i].pattern, "/{*", 3) &&
		    (r->allowed || !strncmp(r->path, "/api/", 5) || !strcmp(r->path, "/api")))
			continue;
		if (!match(r, t[i].pattern, r->path, 0))
			continue;
		r->allowed |= t[i].methods;
		if (!r->route && (t[i].methods & want))
			r->route = &t[i];
	}
	if (!r->route)
		return;
	if (match(r, r->route->pattern, r->path, 1) < 0) {
		clear_params(r);
		r->route = NULL;
		r->path_err = HC_ERR_INVALID;
	}
}

const char *srv_param(const srv_req *r, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < r->nparams; i++) {
		const char *pn = r->param_name[i];
		/* param_name points into the pattern, just past "{" or "{*". */
		if (!strncmp(pn, name, n) && pn[n] == '}')
			return r->param[i];
	}
	return NULL;
}

void srv_params_free(srv_req *r)
{
	clear_params(r);
}
