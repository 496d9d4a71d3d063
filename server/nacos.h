/*
 * nacos.h: the Nacos open API, config side (v1 and /nacos/v2/cs/config),
 * so Nacos clients (the npm nacos-config, the Java client's HTTP mode) work
 * against hotconf unchanged. Nacos' names map one to one: tenant (or
 * namespaceId) -> namespace ("" and "public" -> public), group -> group,
 * dataId -> dataId, type -> format. Reads come from the index, writes are
 * the native writes (history, audit, review rules, the change feed wakes
 * watchers), the listener is a many-config watch (srv_watch_run) that only
 * spells its answer in Nacos' encoding. Beta and tag map to gray rules:
 * `beta` (match ips, priority NC_BETA_PRIORITY) and `tag_<v>` (match labels
 * tag=<v>, NC_TAG_PRIORITY); a reader sending tag / Vipserver-Tag is an
 * instance with the label tag=<v>.
 *
 * Every answer on these routes is Nacos' own shape: plain text for v1
 * errors, {"code","message","data"} on v2. Credentials: accessToken (a
 * hotconf token or session), username+password (argon2 once per user and
 * password, on the checker thread while the request is suspended, cached
 * for the session TTL after: auth_password_cached on the worker, then
 * auth_password_identity in pw_slow), Authorization: Bearer, or none (reads
 * only where an admin opened the namespace to the caller's network). A
 * `User-Agent: Nacos-Server` is nothing special.
 *
 * History ids (id, nid, lastId) are store revisions: one per change, unique
 * server-wide. A lookup by nid or id also needs dataId and group (and
 * tenant), as Nacos 2.x asks.
 *
 * Files: nacos.c holds what every Nacos route shares (the request state,
 * form bodies, answers, the caller's credential, names); routes_nacos.c the
 * config reads, writes, beta and tag, and the listener; routes_nacos_history.c
 * search, history and login. The handlers (srv_h_nacos_*) are declared in
 * srv_internal.h with the other routes.
 *
 * Threading: libmicrohttpd worker threads, and the checker thread for an
 * argon2 (nc_identify, login) or a large content's check; per-request state
 * in r->proto (nacos_req).
 */
#ifndef HC_NACOS_H
#define HC_NACOS_H

#include "srv_internal.h"

typedef struct nc_kv {
	char *k, *v;
} nc_kv;

/* What a Nacos request keeps across its callbacks (suspend and resume). */
typedef struct nacos_req {
	nc_kv *form; /* the decoded form body */
	size_t nform;
	int form_done;
	int v2; /* answers in the v2 envelope */
	/* Kept for a held listener, whose identity is checked again when woken. */
	char *user, *password, *token;
	unsigned char *with_tenant; /* per listener item: its record named a tenant */
	char *ns, *group, *data_id, *rule, *format, *desc;
	char **ips;
	size_t nips;
	/* A login on the checker thread. */
	int login_done;
	hc_err login_err;
	sbuf login_token;
	auth_id *login_id;
	int64_t retry_s;
	/* A username+password check on the checker thread (pw_slow). */
	int pw_done;
	hc_err pw_err;
	auth_id *pw_id;
	char *pw_user, *pw_pass;
} nacos_req;

/* The request's Nacos state, made on first use (freed with the request). */
nacos_req *nc(srv_req *r);
/* A form field, else a query parameter, else (for Nacos' own header names) a
 * header; NULL when absent. */
const char *nc_param(srv_req *r, const char *name);

/* Answers in Nacos' shapes; body is taken over. */
void nc_no_cache(struct MHD_Response *resp);
enum MHD_Result nc_reply(srv_req *r, unsigned status, const char *ctype, sbuf *body);
/* A 200 of body shared by every request answered with the same bytes (the
 * listeners of one config woken by one publish): built once, queued on each
 * connection under s->nc_mu, as respcache does for config reads. The caller
 * still releases body (its bytes may have been taken over). */
enum MHD_Result nc_reply_shared(srv_req *r, sbuf *body);
/* v1: text as a plain-text body; v2: {"code":v2code,"message":text,"data":null}. */
enum MHD_Result nc_fail(srv_req *r, unsigned status, int v2code, const char *text);
enum MHD_Result nc_bad(srv_req *r, const sbuf *why);
enum MHD_Result nc_true(srv_req *r);

/* The form and the caller (address, instance, labels, tag): 1 with *ret
 * queued on bad input. */
int nc_begin(srv_req *r, int v2, enum MHD_Result *ret);
/* Who is asking: 0 when known (or anonymous) and the handler goes on; 1
 * with *ret to return (a refusal, or MHD_YES while the request is suspended
 * for an argon2 on the checker thread; the handler then runs again). */
int nc_identify(srv_req *r, enum MHD_Result *ret);
/* nc_identify, then may it do action in ns: 1 with *ret on a refusal. */
int nc_refused(srv_req *r, const char *ns, srv_action action, enum MHD_Result *ret);

/* tenant -> namespace ("" and NULL -> public). */
const char *nc_ns_of(const char *tenant);
/* dataId, group and tenant (namespaceId on v2) into n and r->key. */
hc_err nc_names(srv_req *r, int need_data_id, sbuf *why);

/* The start of most routes: nc_begin, nc_names, nc_refused; 1 with *ret. */
int nc_open(srv_req *r, int v2, int need_data_id, srv_action action, enum MHD_Result *ret);

/* GET /nacos/v1/cs/configs?search=accurate|blur (routes_nacos_history.c). */
enum MHD_Result nc_search(srv_req *r, const char *mode);

/* How long a listener with Long-Pulling-Timeout timeout_ms is held: max(10 s,
 * timeout_ms - 500 ms), capped by max_wait_ms; 0 (answer now) with
 * Long-Pulling-Timeout-No-Hangup: true. Pure. */
#define NC_MIN_HOLD_MS 10000
uint64_t nc_hold(int64_t timeout_ms, int no_hangup, uint64_t max_wait_ms);

#endif
