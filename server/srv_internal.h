/*
 * srv_internal.h: what the server's files share: the server struct, the
 * route table's types, the per-request state, reply helpers and the route
 * handlers. Not for other modules.
 *
 * Threading: libmicrohttpd worker threads run handlers for different
 * requests at once. s->mu guards the watch hub, `stopping`, and every
 * suspend and resume of a held watch (libmicrohttpd 0.9.75 needs a suspend
 * and its resume serialised; see docs/architecture.md). A write is suspended
 * before it is queued to the store, so the store's callback always resumes a
 * suspended connection and needs no lock. The store, metrics and response
 * cache are safe from any thread on their own. Lock order: docs/architecture.md.
 */
#ifndef HC_SRV_INTERNAL_H
#define HC_SRV_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "auth.h"
#include "cfgkey.h"
#include "hmap.h"
#include "metrics.h"
#include "sbuf.h"
#include "srv.h"
#include "store.h"
#include "store_change.h"
#include "listeners.h"
#include "watch.h"
#include "watchbody.h"

#define SRV_SMALL_BODY (64 * 1024)
/* What SRV_WATCH_MAX_KEYS entries need with every name at its longest
 * (about 470 bytes each), with room for spacing: no more. */
#define SRV_WATCH_BODY (SRV_WATCH_MAX_KEYS * 512 + 64 * 1024)
/* The largest import: a zip (its contents are capped again as they are read). */
#define SRV_ARCHIVE_BODY (64u << 20)
#define SRV_WATCH_MAX_KEYS WB_MAX_ITEMS
/* Content up to this size is validated on the worker that received it. */
#define SRV_INLINE_CHECK (16 * 1024)

/* What a daemon's connection callbacks are told: the server, and the
 * memory each of the daemon's connections gets. */
typedef struct srv_pool {
	struct srv *s;
	size_t bytes;
} srv_pool;

struct srv {
	srv_config cfg;
	store *st;
	metrics *m;
	struct respcache *cache; /* shared 200 responses, one per config version */
	srv_pool pools[2];	 /* for the daemons' callbacks: every connection but those
				  * that come for a small long poll, and those (they park,
				  * so their pools are smaller; none under TLS). The daemons
				  * are the door's (door.c) */
	int listen_fd;

	pthread_mutex_t mu; /* guards the hub, held_fd, held_bytes */
	watch_hub *hub;
	hmap *held_fd;		 /* a held watch's socket (int bytes) -> its srv_req */
	hmap *held_bytes;	 /* client address -> what its held watches cost, in bytes */
	size_t held_total;	 /* the sum over held_bytes */
	atomic_int stopping;	 /* set once by srv_stop: nothing may suspend from then on */
	pthread_mutex_t anon_mu; /* guards anon, nanon; taken alone */
	struct srv_anon *anon;	 /* namespaces open to credential-less reads (routes_auth.c) */
	size_t nanon;
	pthread_mutex_t reg_mu;	      /* guards reg; taken alone */
	pthread_mutex_t nc_mu;	      /* guards nc_body, nc_resp; taken alone (nacos.c) */
	sbuf nc_body;		      /* the body of nc_resp */
	struct MHD_Response *nc_resp; /* the last changed-line answer of woken Nacos listeners */
	watch_reg *reg;		      /* who holds which config (NULL: --max-listeners 0) */
	struct ticker *rollout;	      /* the rollout thread (rollout.c) */
	struct ticker *schedule;      /* the change-request scheduler (schedule.c) */
	struct door *door;	      /* accepts connections (door.c) */
	struct auth *auth;	      /* accounts and credentials (auth.c) */
	struct gm *gm;		      /* the git mirror (gitmirror.c), NULL without --git-mirror */
	struct gs *gs;		      /* the git source (gitsource.c), NULL without --git-source */
	sbuf tls_cert, tls_key;	      /* PEM, when serving HTTPS */

	/* The watch thread's inbox. notice_mu is taken after mu, never before,
	 * and is never held across a hub call, so a publisher queueing a notice
	 * never waits for thousands of resumes in progress. The thread sleeps
	 * in epoll_wait on watch_ep: watch_evfd wakes it, held sockets tell it
	 * of clients that hung up. */
	pthread_mutex_t notice_mu;
	int watch_ep, watch_evfd;
	struct srv_notice *notices, **notices_tail; /* changes to wake watchers of */
	uint64_t timer_at; /* the watch thread wakes by then (monotonic ms) */
	int timer_stop;
	pthread_t timer_thread;
	int timer_started;

	atomic_int inflight;	  /* requests between first callback and completion */
	atomic_int writes;	  /* writes queued to the store and not yet resumed */
	atomic_size_t body_bytes; /* request bodies held in memory right now */

	/* The checker (checker.c): large content is validated there. */
	pthread_mutex_t check_mu;
	pthread_cond_t check_cond;
	struct srv_req *check_head, **check_tail;
	int check_stop, check_started, check_ok;
	pthread_t check_thread;

	pthread_mutex_t prune_mu;
	pthread_cond_t prune_cond;
	int prune_stop;
	pthread_t prune_thread;
	int prune_started;
};

/* HTTP methods, as bits, so one route can allow several. */
typedef enum srv_method {
	SRV_GET = 1 << 0,
	SRV_HEAD = 1 << 1,
	SRV_POST = 1 << 2,
	SRV_PUT = 1 << 3,
	SRV_DELETE = 1 << 4,
	SRV_PATCH = 1 << 5,
} srv_method;

/* How large a request body a route accepts. */
typedef enum srv_body_cap {
	SRV_BODY_SMALL,	  /* SRV_SMALL_BODY: JSON documents */
	SRV_BODY_CONTENT, /* --max-content: a config's content */
	SRV_BODY_WATCH,	  /* SRV_WATCH_BODY: a many-config watch */
	SRV_BODY_ARCHIVE, /* SRV_ARCHIVE_BODY: a namespace import's zip */
} srv_body_cap;

/*
 * Who may call a route: the object a permission is checked on, and the
 * action. srv_authorize() enforces it, in one place, before any handler runs;
 * a route cannot be added to the table without saying both.
 */
typedef enum srv_scope {
	SRV_SCOPE_OPEN = 1, /* anyone, without a credential (health) */
	SRV_SCOPE_METRICS,  /* metrics: open only when the operator says so */
	SRV_SCOPE_NS,	    /* the namespace named by the path's {ns} */
	SRV_SCOPE_NS_EACH,  /* namespaces named in the query or body: the handler asks
			     * srv_allowed() for each one */
	SRV_SCOPE_GLOBAL,   /* not tied to a namespace */
	SRV_SCOPE_SELF,	    /* any authenticated caller; the handler decides the rest
			     * (their own session, password, tokens they made) */
	SRV_SCOPE_PROTO,    /* another protocol's route (Nacos, Apollo): its credentials
			     * come in its own ways, so the handler calls srv_identify
			     * (or its own check) and srv_allowed per namespace */
} srv_scope;

typedef enum srv_action {
	SRV_ACT_READ = 1, /* read, watch, list, history */
	SRV_ACT_WRITE,	  /* publish, delete, rollback */
	SRV_ACT_APPROVE,  /* approve or reject others' change requests */
	SRV_ACT_OWN,	  /* change who may do what in a namespace */
	SRV_ACT_ADMIN,	  /* the whole server */
} srv_action;

typedef struct srv_req srv_req;
typedef enum MHD_Result (*srv_handler)(srv_req *r);

/* One row of the route table (router.c). */
typedef struct srv_route {
	const char *pattern; /* "/api/v1/configs/{ns}/{group}/{dataId}"; a last
			      * segment "{*name}" takes the rest of the path */
	unsigned methods;    /* srv_method bits; HEAD goes with GET */
	srv_handler handler;
	srv_body_cap body;
	srv_scope scope;
	srv_action action;
} srv_route;

/* The route table and its length, for tests and `hotconf routes`. */
const srv_route *srv_routes(size_t *n);
/* "GET, HEAD, PUT" for a set of method bits, into out[64]. */
void srv_methods_str(unsigned methods, char out[64]);

#define SRV_MAX_PARAMS 8

typedef enum srv_write_kind { WRITE_PUBLISH, WRITE_DELETE, WRITE_ROLLBACK } srv_write_kind;

/* A write's state: the connection is suspended from queue_write() until the
 * store's callback has filled in the outcome and resumed it. */
typedef struct srv_write {
	store_write w; /* what was queued; its pointers live as long as the request */
	char if_match[33];
	char checked_format[STORE_FORMAT_MAX];
	int check_first;	 /* validate on the checker thread before writing */
	char *message;		 /* owned copy, when the body held it */
	struct srv_gray *gray;	 /* a gray rule write's parsed body (routes_gray.c) */
	store_rollout_move move; /* a rollout write (pause, resume, advance) */
	char *summary;		 /* owned: move.summary, for a promote by /advance */
	struct srv_cr_pub *cr;	 /* a change request's publish (routes_change.c) */
	srv_write_kind kind;
	int done;
	hc_err err;
	store_result res;
} srv_write;

/*
 * Per-request state, in *req_cls: allocated by the first callback
 * libmicrohttpd makes for a request (the URI logger, which sees the raw
 * request target), freed in the completion callback and nowhere else.
 */
struct srv_req {
	srv *s;
	struct MHD_Connection *conn;
	const char *method;  /* borrowed from libmicrohttpd; NULL until the access handler */
	const char *version; /* "HTTP/1.1", borrowed likewise */
	unsigned method_bit;
	char *path;		/* the raw (still percent-encoded) path, for messages and logs */
	char *query;		/* the raw query after '?' ("" for none): what an Apollo
				 * access key signs (routes_apollo.c) */
	const srv_route *route; /* NULL: no route matched */
	int listing;		/* a list or search inside a config read's route (Nacos'
				 * ?search=): never for a credential-less caller */
	unsigned allowed;	/* methods the path's routes allow (for 405 and Allow) */
	hc_err path_err;	/* a malformed path: answered 400 */
	size_t nparams;
	const char *param_name[SRV_MAX_PARAMS]; /* borrowed from the route table */
	char *param[SRV_MAX_PARAMS];		/* decoded, owned */
	cfgkey key; /* the config of a /configs/{ns}/{group}/{dataId}... route */
	sbuf body;
	int body_too_big;
	uint64_t start_us;
	unsigned status; /* of the queued response, 0 until then */
	int was_held;
	int gone;		 /* the client of a held watch hung up: close, do not answer */
	int held_fd;		 /* the socket while held, -1 otherwise (under s->mu) */
	size_t held_cost;	 /* what this hold adds to held_bytes (under s->mu) */
	struct door_conn *dc;	 /* the connection as the door knows it */
	auth_id *id;		 /* who is asking, once srv_authorize has seen a credential */
	int via_cookie;		 /* the credential came in the session cookie */
	struct srv_authjob *job; /* a login or password change on the checker thread */
	int job_done;
	const char *retry_after; /* Retry-After for a 429, when not "1" */

	/* Who is asking: peer or forwarded address, and what it says of itself
	 * (parsed and checked now; gray rules and the listeners view read them). */
	char ip[64];
	char *instance;
	sbuf labels;
	gray_inst *inst; /* the above parsed for gray matching; see srv_instance */
	int inst_ready;

	/* Watch state, kept across suspend and resume. */
	int watch_ready;      /* items, wait and deadline are parsed */
	uint64_t deadline_ms; /* monotonic; 0 when the request may not block */
	uint64_t wait_ms;     /* the wait it asked for (capped), 0 for a plain read */
	int listen_parked;    /* counted as watching in s->reg (listeners.c) */
	srv_watch_item *items;
	size_t nitems;
	int64_t want_version; /* single watch: ?version=N, -1 when absent */
	const char *as;	      /* single read: ?as=, the format to convert to, or NULL */
	watch_waiter *waiter; /* non-NULL while held (under s->mu) */
	int64_t seen_rev;     /* the store revision read before the last check */
	int woken;	      /* set by the hub callback, cleared on re-entry */
	watch_event ev;

	/* A protocol route's own state (routes_nacos.c, routes_apollo.c), kept
	 * across suspend and resume; proto_free(proto) runs at the request's end. */
	void *proto;
	void (*proto_free)(void *proto);

	/* A write in progress; NULL for other requests (it is large). */
	struct srv_write *wr;
	struct srv_req *check_next;	       /* in the checker's queue */
	void (*offload_fn)(struct srv_req *r); /* what the checker runs for it */
};

/* Matches r->path and r->method_bit against the table: fills r->route (or
 * leaves it NULL), r->allowed and the params; a malformed path sets
 * r->path_err. */
void srv_route_request(srv_req *r);
/* The decoded path parameter called name, or NULL. */
const char *srv_param(const srv_req *r, const char *name);
/* Frees the parameters (at the end of a request). */
void srv_params_free(srv_req *r);
/* HC_OK when the caller may use r->route; else the error to answer with and
 * a message in why. The one place permissions are enforced. */
hc_err srv_authorize(srv_req *r, sbuf *why);
/* For SRV_SCOPE_NS_EACH routes: may the caller do action in namespace ns?
 * A caller with no credential (r->id NULL) may read only in a namespace
 * an admin opened to its address (anonymousRead). */
int srv_allowed(srv_req *r, const char *ns, srv_action action);
/* For SRV_SCOPE_PROTO handlers: identifies the caller by secret (a token
 * found elsewhere than the Authorization header), or, secret NULL, by the
 * Authorization header or session cookie as srv_authorize does. HC_OK with
 * r->id NULL when there is no credential at all (an anonymous caller);
 * HC_ERR_UNAUTHORIZED for a wrong, expired or revoked one. */
hc_err srv_identify(srv_req *r, const char *secret, sbuf *why);
/* The namespaces open to credential-less reads, read again from the store
 * (at start, and after one changes). */
hc_err srv_anon_load(srv *s);
void srv_anon_free(srv *s); /* at the server's end */
/* {"anonymousRead":{"cidrs":[...]}}'s cidrs checked into a comma list. */
hc_err srv_anon_parse(const struct cJSON *cidrs, sbuf *list, sbuf *why);

/* Appends {"error":{"code","message"}} and a newline: every error hotconf
 * answers has this body, whoever builds the response. */
void srv_error_body(sbuf *out, hc_err err, const char *msg);

/* Replies; each queues a response, records its status and returns the
 * result for the access handler. body is taken over (left empty). */
enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *ctype, sbuf *body);
/* {"error":{"code","message"}} with the status of err. */
enum MHD_Result srv_reply_err(srv_req *r, hc_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like srv_reply_err, with the message taken from why. */
enum MHD_Result srv_reply_why(srv_req *r, hc_err err, const sbuf *why);
/* A response over len bytes of data with our common headers. free_fn(cls)
 * runs once the response is destroyed (also at once on failure, so data is
 * always handed over); NULL free_fn means data is static. NULL on failure. */
struct MHD_Response *srv_response(size_t len, void *data, void (*free_fn)(void *), void *cls);
/* Queues resp (NULL answers MHD_NO) and drops the caller's reference. */
enum MHD_Result srv_queue(srv_req *r, unsigned status, struct MHD_Response *resp);
/* Queues resp; the caller keeps its reference (a response shared by many). */
enum MHD_Result srv_queue_shared(srv_req *r, unsigned status, struct MHD_Response *resp);

/* A query argument or header, or NULL. Valid for the request. */
const char *srv_arg(srv_req *r, const char *name);
const char *srv_header(srv_req *r, const char *name);
/* Parses ?page= and ?size= into offset and limit (400 on bad values). */
hc_err srv_paging(srv_req *r, int64_t *page, int64_t *size, sbuf *why);
/* The client's address (as srv_caller finds it), found now if not yet. */
const char *srv_client_ip(srv_req *r);
/* Reads the caller's identity headers into r (400 on malformed labels). */
hc_err srv_caller(srv_req *r, sbuf *why);

/* The caller as gray rules see it (from srv_caller's results), parsed once
 * per request and owned by r; NULL when it cannot be parsed (main content). */
const gray_inst *srv_instance(srv_req *r);

/* The request body parsed as JSON, or NULL when it is too big, is not JSON,
 * or holds a NUL in a string (raw or \u0000: no name may, and a C string
 * would be cut short at it). The caller cJSON_Delete()s it. */
struct cJSON *srv_json_body(srv_req *r);

/* Opens a paged answer: {"total","page","size","items":[ ... closed by "]}". */
void srv_page_open(sbuf *body, int64_t total, int64_t page, int64_t size);
/* A string member of a JSON object: def when absent or null, NULL when not a
 * string. */
const char *srv_json_string(const struct cJSON *o, const char *name, const char *def);

/* The namespaces the caller may read, for a listing: 0 (and *out NULL)
 * when it may read all, (size_t)-1 when none, else how many (*out, the
 * caller frees the array, not the names: they are r->id's). */
size_t srv_readable(srv_req *r, const char ***out);
/* Who made a change: the authenticated name (X-Hotconf-Author only with
 * --auth=off). */
const char *srv_author(srv_req *r);
/* The caller's role in ns for the audit log ("admin", "editor", ...). */
const char *srv_audit_role(srv_req *r, const char *ns);
/* Records an action of the caller in the audit log. */
void srv_audit(srv_req *r, const char *action, const char *ns, const char *target,
	       const char *detail);
void srv_authjob_free(struct srv_authjob *j);
/* Answers, now, the held watches made with credential cred_id, or by user
 * (who then meet srv_authorize again). */
void srv_wake_credential(srv *s, const char *cred_id);
void srv_wake_user(srv *s, const char *user);
/* ...and those held without a credential (a namespace's anonymousRead changed). */
void srv_wake_anonymous(srv *s);

/* JSON pieces shared by handlers. */
void srv_json_time(sbuf *out, const char *key, int64_t ms);
void srv_json_config_meta(sbuf *out, const store_config *c);

/* The store's change feed, as the server hears it: queues the wake-up of the
 * config's watchers for the watch thread (watchreq.c). Writer thread. */
void srv_on_change(void *ctx, const store_change *ch);
/* ...and, once the commit's writes are answered, wakes the watch thread. */
void srv_on_commit_done(void *ctx);

/* Shared by the config and gray rule handlers (routes_config.c). */
/* Checks the path's names ({ns}, {group}, {dataId}) and builds r->key. */
hc_err srv_check_names(srv_req *r, sbuf *why);
/* Allocates r->wr and fills what every change shares (names, author, audit
 * role, source IP, time, If-Match). */
void srv_write_init(srv_req *r);
/* store_check_fn: validates content again inside the write's transaction. */
hc_err srv_check_in_tx(const char *format, const char *content, size_t len, char *detail,
		       size_t cap);
/* Frees a gray write's parsed body; NULL is a no-op (routes_gray.c). */
void srv_gray_free(struct srv_gray *g);
/* A gray rule's JSON {"priority","content","format","message","match",
 * "rollout","salt"} -> a new srv_gray in *out, which takes doc over (the
 * caller frees *out, also on failure; doc may be NULL: not an object).
 * Fields named in skip (NULL-terminated, or NULL) are the caller's and are
 * passed over. The spec points into doc; name is borrowed. */
hc_err srv_gray_parse(srv *s, const char *name, struct cJSON *doc, const char *const *skip,
		      int need_content, struct srv_gray **out, sbuf *why);
/* The store's spec of a parsed rule, borrowed from g. */
store_gray_spec *srv_gray_spec(struct srv_gray *g);

/* A change request's publish, ready for the store (routes_change.c): owns
 * the request as read, one write per item and their parsed gray rules; p
 * points into them. */
typedef struct srv_cr_pub {
	store_cr cr;
	store_cr_write *w;
	struct srv_gray **gray;
	size_t n;
	store_cr_publish_req p;
} srv_cr_pub;
/* Reads request id of ns and builds its writes into a new *out (freed by
 * the caller with srv_cr_pub_free, also on failure); p's actor, role,
 * source_ip, now_ms, force and scheduled are left for the caller. */
hc_err srv_cr_prepare(srv *s, const char *ns, int64_t id, srv_cr_pub **out, sbuf *why);
void srv_cr_pub_free(srv_cr_pub *pp);
/* The scheduler thread (schedule.c): publishes scheduled change requests
 * when they are due. poke: a schedule changed, look again now. */
hc_err srv_schedule_start(srv *s);
void srv_schedule_stop(srv *s);
void srv_schedule_poke(srv *s);
/* Answers 200 with namespace ns as GET /api/v1/namespaces lists it
 * (routes_admin.c). */
enum MHD_Result srv_namespace_reply(srv_req *r, const char *ns);
/* The config's effective content for the caller (srv_instance): the rule
 * that serves it, or main. Borrowed from c. */
void srv_effective(srv_req *r, const store_config *c, store_effective *out);

/* The listeners view's records (routes_listen.c). What the caller of r now
 * holds of key: c's effective content for it (c NULL: the config is absent),
 * or, when held_md5 is not NULL and differs from that, held_md5 (a watch
 * that tells it of a change). parked: a watch of it is now held. */
void srv_listen_seen(srv_req *r, const cfgkey *key, const store_config *c, const char *held_md5,
		     int parked);
/* srv_listen_seen for every item of a many-config watch. */
void srv_listen_items(srv_req *r, int parked);
/* At the end of a request: its held watch, if any, no longer is. */
void srv_listen_done(srv_req *r);

/* One listener, copied out of the registry (all strings owned). */
typedef struct srv_listener {
	char *key, *instance, *ip, *labels, *md5, *rule; /* instance and rule "" for none */
	int64_t version, seen_ms;			 /* version 0: unknown */
	int watching;
	/* Its last apply report: WATCH_REPORT_* (0: none), about report_md5. */
	int report;
	char report_md5[33];
	char *report_message; /* "" for none */
	int64_t report_ms;
} srv_listener;
/* 1 when l's last report says it applied (status WATCH_REPORT_APPLIED) or
 * rejected (_REJECTED) md5. */
int srv_listener_reported(const srv_listener *l, const char *md5, int status);
/* The apply reports of a many-config watch's items: each one that the
 * registry can verify is recorded; the others are dropped (counted in
 * hotconf_reports_total{result="dropped"}). */
void srv_listen_item_reports(srv_req *r);
/* ---- rollout.c: the thread that walks rollout plans ---- */

hc_err srv_rollout_start(srv *s);
/* Stops and joins the thread (before the store closes). NULL-safe. */
void srv_rollout_stop(srv *s);
/* New apply reports or a rule write: the rollout thread looks again. */
void srv_rollout_poke(srv *s);
/* Where a rollout stands among the live listeners of key. */
typedef struct srv_rollout_tally {
	size_t members;		/* instances whose effective content is the rule's */
	size_t applied;		/* of them, those that reported applied on its md5 */
	size_t rejected;	/* ...and rejected */
	char first_reason[600]; /* "instance: message" of a rejection */
} srv_rollout_tally;
void srv_rollout_count(srv *s, const char *key, const store_config *c, const store_gray_rule *g,
		       srv_rollout_tally *out);
/* The move that takes g's rollout on: its next step, or a promote after
 * the last (summary gets the history's JSON, m->summary points into it).
 * message[cap] gets the history message. */
void srv_rollout_next(const store_gray_rule *g, const srv_rollout_tally *t, store_rollout_move *m,
		      sbuf *summary, char *message, size_t cap);
/* "rollout":... of a rule (null without a plan), with the live counts. */
void srv_rollout_json(srv *s, const char *key, const store_config *c, const store_gray_rule *g,
		      sbuf *out);
/* The live listeners of key, or (key NULL) every config identity holds,
 * sorted by identity then config; *out is the caller's (srv_listen_free). */
size_t srv_listen_collect(srv *s, const char *key, const char *identity, srv_listener **out);
void srv_listen_free(srv_listener *v, size_t n);
/* Its match inputs, parsed (the caller frees); NULL when they do not parse. */
gray_inst *srv_listener_inst(const srv_listener *l);
/* "instance":..,"ip":..,"labels":.. (no braces). */
void srv_listen_json(sbuf *out, const srv_listener *l);

/* Handlers, one per route; called on the final callback of a request. */
enum MHD_Result srv_h_config_get(srv_req *r);
enum MHD_Result srv_h_config_put(srv_req *r);
enum MHD_Result srv_h_config_delete(srv_req *r);
enum MHD_Result srv_h_configs_list(srv_req *r);
enum MHD_Result srv_h_history(srv_req *r);
enum MHD_Result srv_h_history_one(srv_req *r);
enum MHD_Result srv_h_rollback(srv_req *r);
enum MHD_Result srv_h_watch(srv_req *r);
enum MHD_Result srv_h_namespaces(srv_req *r);
enum MHD_Result srv_h_namespace_create(srv_req *r);
enum MHD_Result srv_h_namespace_delete(srv_req *r);
enum MHD_Result srv_h_health(srv_req *r);
enum MHD_Result srv_h_web(srv_req *r); /* the console's files (routes_web.c) */
enum MHD_Result srv_h_metrics(srv_req *r);
enum MHD_Result srv_h_debug_faults(srv_req *r);
enum MHD_Result srv_h_login(srv_req *r);
enum MHD_Result srv_h_logout(srv_req *r);
enum MHD_Result srv_h_me(srv_req *r);
enum MHD_Result srv_h_users(srv_req *r);
enum MHD_Result srv_h_user_create(srv_req *r);
enum MHD_Result srv_h_user_delete(srv_req *r);
enum MHD_Result srv_h_password(srv_req *r);
enum MHD_Result srv_h_grants(srv_req *r);
enum MHD_Result srv_h_grant_get(srv_req *r);
enum MHD_Result srv_h_grant_put(srv_req *r);
enum MHD_Result srv_h_grant_delete(srv_req *r);
enum MHD_Result srv_h_tokens(srv_req *r);
enum MHD_Result srv_h_token_create(srv_req *r);
enum MHD_Result srv_h_token_delete(srv_req *r);
enum MHD_Result srv_h_audit(srv_req *r);
enum MHD_Result srv_h_gray_list(srv_req *r);
enum MHD_Result srv_h_gray_get(srv_req *r);
enum MHD_Result srv_h_gray_put(srv_req *r);
enum MHD_Result srv_h_gray_delete(srv_req *r);
enum MHD_Result srv_h_gray_promote(srv_req *r);
enum MHD_Result srv_h_gray_preview(srv_req *r);
enum MHD_Result srv_h_gray_pause(srv_req *r);
enum MHD_Result srv_h_gray_resume(srv_req *r);
enum MHD_Result srv_h_gray_advance(srv_req *r);
enum MHD_Result srv_h_listeners(srv_req *r);
enum MHD_Result srv_h_instance(srv_req *r);
enum MHD_Result srv_h_reports(srv_req *r);
enum MHD_Result srv_h_namespace_put(srv_req *r);
enum MHD_Result srv_h_ns_export(srv_req *r);
enum MHD_Result srv_h_ns_import(srv_req *r);
enum MHD_Result srv_h_changes_list(srv_req *r);
enum MHD_Result srv_h_change_create(srv_req *r);
enum MHD_Result srv_h_change_get(srv_req *r);
enum MHD_Result srv_h_change_patch(srv_req *r);
enum MHD_Result srv_h_change_submit(srv_req *r);
enum MHD_Result srv_h_change_approve(srv_req *r);
enum MHD_Result srv_h_change_reject(srv_req *r);
enum MHD_Result srv_h_change_publish(srv_req *r);
enum MHD_Result srv_h_change_cancel(srv_req *r);
enum MHD_Result srv_h_change_comment(srv_req *r);
/* Apollo's config service (routes_apollo.c): the protocol the ctrip-apollo
 * and Apollo Java clients speak, over the same configs. */
enum MHD_Result srv_h_apollo_config(srv_req *r);
enum MHD_Result srv_h_apollo_file_json(srv_req *r);
enum MHD_Result srv_h_apollo_file(srv_req *r);
enum MHD_Result srv_h_apollo_notifications(srv_req *r);
/* Nacos' open API, config side (routes_nacos.c): v1 configs, the listener,
 * history, login, and /nacos/v2/cs/config, for Nacos clients unchanged. */
enum MHD_Result srv_h_nacos_config_get(srv_req *r);
enum MHD_Result srv_h_nacos_config_post(srv_req *r);
enum MHD_Result srv_h_nacos_config_delete(srv_req *r);
enum MHD_Result srv_h_nacos_listener(srv_req *r);
enum MHD_Result srv_h_nacos_listeners(srv_req *r);
enum MHD_Result srv_h_nacos_history(srv_req *r);
enum MHD_Result srv_h_nacos_history_previous(srv_req *r);
enum MHD_Result srv_h_nacos_history_configs(srv_req *r);
enum MHD_Result srv_h_nacos_login(srv_req *r);
enum MHD_Result srv_h_nacos_v2_config(srv_req *r);

/* A store write's completion: records the outcome in r->wr and resumes the
 * connection (store_done_fn; the writer or the checker thread). */
void srv_on_write_done(void *cls, hc_err err, const store_result *res);
/* The checker: queues r (suspended, counted in s->writes) to have its
 * content validated and then written. */
void srv_check_queue(srv_req *r);
/* Runs fn(r) on the checker thread; r is suspended and counted in s->writes
 * (srv_write_begin) by the caller, and fn must resume it and end with
 * atomic_fetch_sub(&s->writes, 1), as srv_on_write_done does. */
void srv_offload(srv_req *r, void (*fn)(srv_req *r));
hc_err srv_check_start(srv *s);
void srv_check_stop(srv *s);

/* Frees the request's body (and takes it off hotconf_request_body_bytes). */
void srv_body_release(srv_req *r);

/* Before a write suspends its connection: counts it in s->writes and
 * returns 1, or returns 0 (counting nothing) when the server is stopping
 * and nothing may suspend any more. */
int srv_write_begin(srv_req *r);

/* Watch plumbing (watchreq.c). srv_watch_hold runs with s->mu held when the
 * request may block: it either holds the request (returns 1) or leaves it. */
void srv_watch_free_items(srv_req *r);

/* One config of a many-config watch whose content differs from the
 * client's copy: the effective md5 now ("" when absent), the main version,
 * the config's revision (0 when absent) and the rule that serves it. */
typedef struct srv_watch_change {
	const srv_watch_item *item;
	size_t index;	   /* in r->items */
	const cfgkey *key; /* the config (item's, or one in a pattern's scope) */
	const char *md5;
	int64_t version, revision;
	const char *rule; /* NULL: main */
} srv_watch_change;

/* How a many-config watch answers: the native POST /api/v1/watch, Nacos'
 * listener, Apollo's notifications. The holding, waking and expiring are
 * srv_watch_run's alone; a style only spells the answer. */
typedef struct srv_watch_style {
	/* Appends one changed config to out (n: how many came before it). */
	void (*item)(srv_req *r, const srv_watch_change *ch, size_t n, sbuf *out);
	/* Answers with out, which holds n >= 1 items (out is taken over). */
	enum MHD_Result (*changed)(srv_req *r, sbuf *out, size_t n);
	/* Answers a wait that ended (or a request that may not wait) with
	 * nothing changed. */
	enum MHD_Result (*timeout)(srv_req *r);
	/* Answers when the caller may not read items[i]'s namespace ns; NULL:
	 * the native 403. */
	enum MHD_Result (*forbidden)(srv_req *r, const char *ns, size_t i);
} srv_watch_style;

/* Runs a many-config watch whose r->items, r->nitems, r->wait_ms and
 * r->deadline_ms are set (and r->watch_ready, so a woken request is not
 * parsed again): checks read access per item on every call, answers at once
 * what changed, or holds the request until a change, the deadline, or the
 * server stops. The route's handler calls it on each entry. */
enum MHD_Result srv_watch_run(srv_req *r, const srv_watch_style *style);
int srv_watch_hold(srv_req *r);
/* Answers 429 for a watch srv_watch_hold refused for its client's memory. */
enum MHD_Result srv_watch_refuse(srv_req *r);
/* Forgets a held request's socket and cost (under s->mu), when
 * libmicrohttpd drops a held connection itself. */
void srv_watch_unhold(srv_req *r);
/* 1 when the request may still block: it has a deadline in the future, was
 * not expired or closed, and the server is not stopping. Clears r->woken. */
int srv_watch_may_hold(srv_req *r, uint64_t now_ms);
/* Starts and stops the watch thread, which wakes watchers after changes
 * (srv_notify) and at their deadlines. */
hc_err srv_timer_start(srv *s);
void srv_timer_stop(srv *s);

#endif
