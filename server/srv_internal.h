/*
 * srv_internal.h: what the server's files share: the server struct, the
 * per-request state, reply helpers and the route handlers. Not for other
 * modules.
 *
 * Threading: libmicrohttpd worker threads run handlers for different
 * requests at once. s->mu guards the watch hub, `stopping`, and every
 * suspend and resume of a held watch, as ../shared/README.md requires. A
 * write is suspended before it is queued to the store, so the store's
 * callback always resumes a suspended connection and needs no lock. The
 * store, metrics and response cache are safe from any thread on their own.
 */
#ifndef HC_SRV_INTERNAL_H
#define HC_SRV_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "metrics.h"
#include "sbuf.h"
#include "srv.h"
#include "store.h"
#include "watch.h"

#define SRV_MAX_SEGS 10
#define SRV_SMALL_BODY (64 * 1024)
#define SRV_WATCH_BODY (8 * 1024 * 1024)
#define SRV_WATCH_MAX_KEYS 10000

struct srv {
	srv_config cfg;
	store *st;
	metrics *m;
	struct respcache *cache; /* shared 200 responses, one per config version */
	struct MHD_Daemon *d;
	int listen_fd;

	pthread_mutex_t mu; /* guards the hub and stopping */
	watch_hub *hub;
	int stopping;

	/* The watch thread's inbox. notice_mu is taken after mu, never before,
	 * and is never held across a hub call, so a publisher queueing a notice
	 * never waits for thousands of resumes in progress. */
	pthread_mutex_t notice_mu;
	pthread_cond_t notice_cond;
	struct srv_notice *notices, **notices_tail; /* changes to wake watchers of */
	uint64_t timer_at; /* the watch thread wakes by then (monotonic ms) */
	int timer_stop;
	pthread_t timer_thread;
	int timer_started;

	atomic_int inflight; /* requests between first callback and completion */
	atomic_int writes;   /* writes queued to the store and not yet resumed */

	pthread_mutex_t prune_mu;
	pthread_cond_t prune_cond;
	int prune_stop;
	pthread_t prune_thread;
	int prune_started;
};

typedef enum srv_route {
	ROUTE_NONE,
	ROUTE_HEALTH,
	ROUTE_METRICS,
	ROUTE_NAMESPACES,
	ROUTE_NAMESPACE,
	ROUTE_CONFIGS,
	ROUTE_CONFIG,
	ROUTE_HISTORY,
	ROUTE_HISTORY_ONE,
	ROUTE_ROLLBACK,
	ROUTE_WATCH,
} srv_route;

/* One watched config of a request (a single GET watch has one). */
typedef struct srv_watch_item {
	char *key;	  /* "ns/group/dataId", owned */
	char md5[33];	  /* the client's copy; "" when it has none */
	size_t ns_len;	  /* key[0..ns_len) is the namespace */
	size_t group_len; /* then '/', the group, '/', the dataId */
} srv_watch_item;

typedef enum srv_write_kind { WRITE_PUBLISH, WRITE_DELETE, WRITE_ROLLBACK } srv_write_kind;

/* A write's state: the connection is suspended from queue_write() until the
 * store's callback has filled in the outcome and resumed it. */
typedef struct srv_write {
	store_write w; /* what was queued; its pointers live as long as the request */
	char if_match[33];
	char *message; /* owned copy, when the body held it */
	srv_write_kind kind;
	int done;
	hc_err err;
	store_result res;
} srv_write;

/*
 * Per-request state, in *req_cls: allocated on the first callback, freed in
 * the completion callback and nowhere else.
 */
typedef struct srv_req {
	srv *s;
	struct MHD_Connection *conn;
	const char *method; /* borrowed from libmicrohttpd for the request */
	char *path;	    /* the URL path, for messages and logs */
	char *path_cut;	    /* a copy cut into seg[] */
	char *seg[SRV_MAX_SEGS];
	size_t nseg;
	srv_route route;
	sbuf body;
	int body_too_big;
	uint64_t start_us;
	unsigned status; /* of the queued response, 0 until then */
	int was_held;

	/* Who is asking: peer or forwarded address, and what it says of itself. */
	char ip[64];
	char *instance;
	sbuf labels;

	/* Watch state, kept across suspend and resume. */
	int watch_ready;      /* items, wait and deadline are parsed */
	uint64_t deadline_ms; /* monotonic; 0 when the request may not block */
	srv_watch_item *items;
	size_t nitems;
	int64_t want_version; /* single watch: ?version=N, -1 when absent */
	watch_waiter *waiter; /* non-NULL while held (under s->mu) */
	int woken;	      /* set by the hub callback, cleared on re-entry */
	watch_event ev;

	/* A write in progress; NULL for other requests (it is large). */
	struct srv_write *wr;
} srv_req;

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
/* Reads the caller's identity headers into r (400 on malformed labels). */
hc_err srv_caller(srv_req *r, sbuf *why);

/* JSON pieces shared by handlers. */
void srv_json_time(sbuf *out, const char *key, int64_t ms);
void srv_json_config_meta(sbuf *out, const store_config *c);

/* Wakes the watchers of a config ("ns/group/dataId") after a committed
 * change (deleted: the change removed it, so its cached response goes too). */
void srv_notify_key(srv *s, const char *key, int deleted);

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
enum MHD_Result srv_h_metrics(srv_req *r);

/* Watch plumbing (watchreq.c). srv_watch_decide runs with s->mu held when the
 * request may block: it either holds the request (returns 1) or leaves it. */
void srv_watch_free_items(srv_req *r);
int srv_watch_hold(srv_req *r);
/* 1 when the request may still block: it has a deadline in the future, was
 * not expired or closed, and the server is not stopping. Clears r->woken. */
int srv_watch_may_hold(srv_req *r, uint64_t now_ms);
/* Starts and stops the watch thread, which wakes watchers after changes
 * (srv_notify) and at their deadlines. */
hc_err srv_timer_start(srv *s);
void srv_timer_stop(srv *s);

#endif
