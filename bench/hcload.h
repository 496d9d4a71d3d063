/*
 * hcload.h: the pieces of hcload, the benchmark load generator (bench/), that
 * its files share. hcload.c parses the command line and prints results,
 * http.c parses responses and builds requests for hotconf and etcd, net.c
 * runs the non-blocking sockets on one epoll set, proc.c reads the server's
 * memory and CPU from /proc, watchers.c holds the watch scenarios (park,
 * reconnect, soak) and the held-watch machinery they share with gray.c (the
 * gray-release scenario), reports.c (apply reports on re-armed watches) and
 * nacos.c (Nacos listeners against the native watch), and publish.c the
 * publish scenario.
 *
 * Threading: hcload is single-threaded; nothing here is thread-safe.
 * Everything talks to 127.0.0.0/8 only (the --addr parser in hcload.c refuses
 * any other address) and every loop is bounded in count and in time.
 */
#ifndef HCLOAD_H
#define HCLOAD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* ---- options (hcload.c) ---- */

typedef enum hl_target { HL_HOTCONF, HL_ETCD } hl_target;

typedef struct hl_opts {
	const char *cmd;  /* park, publish, reconnect, soak, gray, reports, nacos, seed, ping */
	const char *name; /* scenario name in RESULT lines (default: cmd) */
	hl_target target; /* --target */
	struct sockaddr_in addr; /* --addr, always inside 127.0.0.0/8 */
	char host[80];		 /* "127.0.0.1:PORT", for the Host header */
	long pid;		 /* --pid of the server, 0 when unknown */
	long watchers;		 /* --watchers */
	long keys;		 /* --keys */
	int publish;		 /* --publish: park, then publish to key 0 */
	long count;		 /* --count: publishes in all (0: use --seconds) */
	double seconds;		 /* --seconds: publish or soak duration */
	long concurrency;	 /* --concurrency */
	long size;		 /* --size of published content in bytes */
	int etcd_v3;		 /* --etcd-api v3: publish through the v3 gateway */
	long per_source;	 /* --per-source connections per source address */
	long window;		 /* --window: watches sent but not yet parked */
	double idle_seconds;	 /* --idle-seconds for the idle CPU sample */
	double timeout;		 /* --timeout: hard limit of every phase, seconds */
	long grace_ms;		 /* --grace-ms to wait for wrong wakes */
	long rounds;		 /* --rounds: gray's, reports' and nacos' rounds */
	int first_native;	 /* --first native: nacos starts with the native watch */
	long refs;		 /* --ref-watchers: gray's reference watchers (0: watchers/10) */
	double rate;		 /* --rate: soak publishes per second */
	const char *wait;	 /* --wait: hotconf long-poll wait, e.g. "120s" */
	const char *prefix;	 /* --prefix of key names ("k": k0, k1, ...) */
	int quiet;		 /* --quiet: RESULT lines only */
	char authz[200];	 /* --token: "Authorization: Bearer T\r\n", or "" */
} hl_opts;

/* ---- results (hcload.c) ---- */

/* Prints "RESULT scenario=.. target=.. metric=.. value=.. unit=.. better=..";
 * better is "low", "high" or "none". */
void hl_result(const hl_opts *o, const char *metric, double value, const char *unit,
	       const char *better);
/* Prints a human line unless --quiet. */
void hl_say(const hl_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "hotconf" or "etcd", a static string. */
const char *hl_target_name(hl_target t);

/* Sorts v[0..n) in place; later calls of hl_pct read it. */
void hl_sort_u64(uint64_t *v, size_t n);
/* The p-th percentile (0..100, nearest rank) of sorted v[0..n); 0 when n is 0. */
uint64_t hl_pct(const uint64_t *v, size_t n, double p);
/* The median of v[0..n) (sorted in place), us in, ms out; -1 when n is 0. */
double hl_median_ms(uint64_t *v, size_t n);

/* ---- HTTP (http.c) ---- */

#define HL_MAX_RESPONSE (16u << 20) /* bytes; a bigger response is an error */

typedef struct hl_resp {
	int status;	       /* from the status line */
	size_t hdr_len;	       /* status line and headers, blank line included */
	long long content_len; /* -1 when absent */
	int chunked;
	int close;	  /* the server will close after this response */
	size_t body_used; /* bytes of the body on the wire, once complete */
	char etag[40];	  /* ETag without quotes, "" when absent */
	char gray[72];	  /* X-Hotconf-Gray (the rule that served it), "" when absent */
} hl_resp;

/* Parses a response's status line and headers at the start of buf[0..len)
 * into r. Returns 1 when they are complete (r->hdr_len is their length), 0
 * when more bytes are needed, -1 if malformed. */
int hl_http_head(const char *buf, size_t len, hl_resp *r);
/* Parses the body of the response whose head is in r from buf[0..len), the
 * bytes after the head (Content-Length, chunked, or ending at close). eof:
 * the peer has closed. Returns 1 when complete (r->body_used is its length
 * on the wire; the decoded body is appended to body unless NULL), 0 when
 * more bytes are needed (body is left as it was), -1 if malformed. */
int hl_http_body(const char *buf, size_t len, int eof, hl_resp *r, sbuf *body);

/* Content of exactly size bytes (at least 48) that no other call in any run
 * produces: "hcload-<tag>-<seq>-<nonce>-xxxx". Only [a-z0-9-], so it is safe
 * in a URL form as well. */
void hl_content(sbuf *out, size_t size, const char *tag, uint64_t seq);
/* The path of key i (prefix + i) for the target: hotconf
 * /api/v1/configs/public/hcload/<key>, etcd /v2/keys/hcload/<key>. */
void hl_key_path(const hl_opts *o, sbuf *out, const char *key);
/* A watch of key name: hotconf GET ?wait= with If-None-Match of md5 and the
 * extra headers ("Name: value\r\n" each; NULL for none); etcd GET ?wait=true. */
void hl_req_watch(const hl_opts *o, sbuf *out, const char *key, const char *md5, const char *extra);
/* A durable publish of content to key: hotconf PUT, etcd v2 PUT (form) or v3
 * POST /v3/kv/put (JSON, base64), per o->etcd_v3. */
void hl_req_put(const hl_opts *o, sbuf *out, const char *key, const char *content, size_t n);
/* A plain GET of path. */
void hl_req_get(const hl_opts *o, sbuf *out, const char *path);
/* Checks the parser on fixed responses, cut at every byte; 0 when all pass. */
int hl_http_selftest(void);
/* Reads "name value" from a Prometheus text body; -1 when absent. */
long long hl_metric(const char *body, const char *name);

/* ---- connections (net.c) ---- */

enum hl_state { HL_CLOSED, HL_CONNECTING, HL_OPEN };
enum hl_ev_kind { HL_EV_HEADERS, HL_EV_RESPONSE, HL_EV_CLOSED };

typedef struct hl_conn {
	int fd;
	enum hl_state state;
	int src;	 /* source address index, -1 for the kernel's choice */
	int keep_body;	 /* decode response bodies into body */
	long id;	 /* the caller's: watcher number, client number */
	long key;	 /* the caller's: which key this connection is about */
	sbuf out;	 /* the request being written */
	size_t out_off;	 /* bytes of out already written */
	sbuf in;	 /* received bytes not yet a complete response */
	sbuf body;	 /* the last response's decoded body, if keep_body */
	hl_resp resp;	 /* the last (or the in-progress) response */
	int in_body;	 /* resp holds the head of the response in progress */
	int busy;	 /* a request was sent and its response has not come */
	int err;	 /* errno of the last failure, for HL_EV_CLOSED */
	int ev_out;	 /* EPOLLOUT is in the registered interest */
	uint64_t t_sent; /* us: the request's first byte went out */
	uint64_t t_done; /* us: the response's last byte came in */
	/* Scenario state, kept here so a watcher is one allocation. */
	int parked;   /* etcd: headers came, the watch is held */
	int answered; /* responses received */
	int dead;     /* failed and given up on */
	int reopened; /* soak: reconnects so far */
	char md5[33]; /* hotconf: the content this watcher has */
} hl_conn;

typedef struct hl_ev {
	hl_conn *c;
	enum hl_ev_kind kind;
} hl_ev;

typedef struct hl_net hl_net;

/* A new engine for connections to o->addr; per_source connections go on
 * each source address 127.0.0.2, 127.0.0.3, ... Caller owns; hl_net_free. */
hl_net *hl_net_new(const hl_opts *o);
void hl_net_free(hl_net *net); /* NULL is a no-op */
/* Sets c to a closed connection with empty buffers. */
void hl_conn_init(hl_conn *c);
/* Closes c if open and frees its buffers. */
void hl_conn_release(hl_net *net, hl_conn *c);
/* Starts a non-blocking connect; use_src spreads it over the source
 * addresses. Returns 0, or -1 with c->err set (c stays closed). */
int hl_conn_open(hl_net *net, hl_conn *c, int use_src);
/* Queues a request (copied) and writes what the socket takes now. The
 * response comes as an HL_EV_RESPONSE from hl_net_wait. Returns 0, or -1 if
 * c is closed or the write failed (then c is closed, c->err set). */
int hl_conn_send(hl_net *net, hl_conn *c, const char *req, size_t n);
/* Closes c; rst sends a reset instead of a FIN (no TIME_WAIT left behind). */
void hl_conn_close(hl_net *net, hl_conn *c, int rst);
/* Waits up to timeout_ms for socket activity and handles it. Fills evs with
 * at most max events, at most one per connection, and returns how many. An
 * event's connection stays valid until the caller closes or reuses it. */
int hl_net_wait(hl_net *net, int timeout_ms, hl_ev *evs, int max);
/* Connections currently open or connecting. */
long hl_net_open_count(const hl_net *net);

/* Sends req on c (opening it if closed) and waits up to timeout_ms for the
 * response; for control requests when no other connection is active (events
 * of other connections are dropped). Returns the status, or -1. */
int hl_roundtrip(hl_net *net, hl_conn *c, const char *req, size_t n, int timeout_ms);

/* ---- the server process (proc.c) ---- */

/* VmRSS of pid in bytes; -1 if unreadable. */
long long hl_proc_rss(long pid);
/* CPU time of pid (all threads) in nanoseconds; -1 if unreadable. */
long long hl_proc_cpu_ns(long pid);

/* ---- clock and limits (hcload.c) ---- */

uint64_t hl_now_us(void);
/* Raises RLIMIT_NOFILE's soft limit to the hard one; returns the soft limit. */
long hl_raise_nofile(void);

/* ---- held watches (watchers.c): what park, reconnect, soak and gray share ---- */

typedef struct hl_wctx hl_wctx;

/* A scenario's handling of a watcher's answer (HL_EV_RESPONSE) or loss
 * (HL_EV_CLOSED), instead of park's and soak's. */
typedef void (*hl_answer_fn)(hl_wctx *x, hl_conn *c, enum hl_ev_kind kind);
/* Appends the extra headers of c's watch ("Name: value\r\n" each) to out. */
typedef void (*hl_headers_fn)(const hl_wctx *x, const hl_conn *c, sbuf *out);
/* Appends c's whole watch request for the content c->md5 to out, instead of
 * hl_req_watch's single-config GET (reports.c: a many-config POST). */
typedef void (*hl_request_fn)(const hl_wctx *x, const hl_conn *c, sbuf *out);

/* n watchers w[0..n) on m keys, a control connection for seeding and metric
 * polls, a publish connection, and the counts the scenarios keep. Embedded
 * by the caller: hl_wctx_init, hl_wctx_release. */
struct hl_wctx {
	const hl_opts *o;
	hl_opts po; /* o, publishing through etcd's v2 API: v2 watches see only v2 keys */
	hl_net *net;
	hl_conn *w; /* the watchers; w[i].key is i % m unless the scenario moves it */
	long n, m;
	char (*md5)[33]; /* per key: the content a watcher should end with */
	hl_conn ctl;	 /* seeding and metric polls */
	hl_conn pub;	 /* the publishes (and gray's rule writes) */
	sbuf req, hdrs;
	long next_open;		   /* watchers opened so far */
	long etcd_parked;	   /* etcd: watchers held right now */
	long long held, held_base; /* hotconf: the metric, and its value before us */
	long long wakeups;	   /* hotconf_watch_wakeups_total at the last poll, or -1 */
	long polls;		   /* metric polls answered so far */
	int poll_ms;		   /* metric poll period; 0: no polling */
	uint64_t next_poll;
	long ctl_fail;
	long early, dead, wrong, woken, bad; /* counts of answers and failures */
	int first_err;
	int publishing;
	long pub_key;
	uint64_t t_pub; /* us: the publish's (or rule write's) first byte went out */
	int pub_status; /* 0 until the publish is answered, -1 if it failed */
	uint64_t t_ack;
	int sample_rss;
	uint64_t next_rss;
	long long rss_peak;
	uint64_t *lat;
	size_t nlat, cap_lat;
	int soak;
	long wakes, spurious, expired, reconnects, soak_errors;
	hl_answer_fn on_answer; /* NULL: park's and soak's handling */
	hl_headers_fn headers;	/* NULL: no extra headers on watches */
	hl_request_fn request;	/* NULL: hl_req_watch with headers */
	void *user;		/* the scenario's own state */
};

/* o->watchers watchers on o->keys keys; o must outlive x. Returns 0 or -1
 * (then release x all the same). */
int hl_wctx_init(hl_wctx *x, const hl_opts *o);
/* Resets every connection and frees what x holds. */
void hl_wctx_release(hl_wctx *x);
/* Publishes the keys (x->md5 gets their md5s) and reads what the server
 * holds before us. Returns 0 or -1. */
int hl_wctx_prepare(hl_wctx *x);
/* Opens the watchers not yet opened, at most window sent but not parked at a
 * time (0: no window), polling the held metric every poll_ms, and waits (up
 * to --timeout) until every live one is parked. Returns the time taken, us. */
uint64_t hl_wctx_park_all(hl_wctx *x, long window, int poll_ms);
/* Watchers held by the server right now, as far as the last poll knows. */
long hl_wctx_parked(const hl_wctx *x);
/* Sends c's watch for the content c->md5, connecting first if needed. */
void hl_wctx_arm(hl_wctx *x, hl_conn *c);
/* Counts c as failed (once) and resets it. */
void hl_wctx_fail(hl_wctx *x, hl_conn *c);
/* Waits up to timeout_ms for one round of events, handles them, then polls
 * the metric and samples the RSS when they are due. */
void hl_wctx_pump(hl_wctx *x, int timeout_ms);
/* Sends req[0..n) on the publish connection (connected first, so its clock
 * starts at the first byte, not at a handshake); x->pub_status and x->t_ack
 * are set when it is answered. Returns 0 or -1. */
int hl_wctx_send_pub(hl_wctx *x, const char *req, size_t n);
/* Sends req[0..n) on the publish connection and waits (up to --timeout) for
 * its answer, serving the watchers meanwhile. Returns the status, or -1. */
int hl_wctx_call(hl_wctx *x, const char *req, size_t n);
/* Serves the watchers for us microseconds, whatever comes. */
void hl_wctx_pump_for(hl_wctx *x, uint64_t us);

/* ---- scenarios ---- */

/* Each returns 0, or 1 on a functional failure (not parked, not woken,
 * wrong wakes, failed requests). Times are reported, never judged. */
int hl_park(const hl_opts *o);
int hl_reconnect(const hl_opts *o);
int hl_soak(const hl_opts *o);
int hl_publish(const hl_opts *o);
/* Gray release (gray.c): --watchers instances on one config and --ref-watchers
 * on another; per round a plain publish (the reference), a 10% rule, its
 * abort, and its promote, each checked against the instances predicted to
 * change. */
int hl_gray(const hl_opts *o);
/* Apply reports (reports.c): --watchers instances hold a many-config watch on
 * PREFIX0; per --rounds two publishes, one re-armed plainly (the reference)
 * and one re-armed with "status":"applied", each timed until every watch is
 * held again and checked against hotconf_reports_total and the listeners
 * view. */
int hl_reports(const hl_opts *o);
/* Nacos listeners (nacos.c): per --rounds, --watchers Nacos v1 listeners
 * (POST /nacos/v1/cs/configs/listener) and then as many native watches of
 * one config (GET ?wait=) on fresh connections, each kind parked on PREFIX0
 * and woken by one native publish and timed to its last answer (the order
 * alternating, --first's kind first); the server's RSS per listener is
 * measured in the first phase only. */
int hl_nacos(const hl_opts *o);
/* Publishes keys prefix0..prefix(keys-1) with content of o->size bytes. */
int hl_seed_cmd(const hl_opts *o);
/* Waits (up to --timeout) until the server answers its health URL. */
int hl_ping(const hl_opts *o);

/* Publishes keys[0..nkeys) on c, one after another, and writes each key's
 * md5 (hotconf's ETag) into md5s[i] if md5s is not NULL. Returns 0 or -1. */
int hl_seed(const hl_opts *o, hl_net *net, hl_conn *c, long nkeys, char (*md5s)[33]);
/* The name of key i: prefix + i. */
void hl_key_name(const hl_opts *o, long i, char out[64]);

#endif
