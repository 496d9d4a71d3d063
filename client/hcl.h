/*
 * hcl.h: libhotconf's insides, shared by its files and by the CLI (which
 * links the static library and speaks the whole HTTP API through
 * hcl_request). Not installed. Prefix hcl_.
 *
 * Threads: the client's immutable settings are read by any thread; cur (the
 * server that answered last) is atomic; mu guards the watch list and the
 * watch thread's state. A request, a buffer or a response has one owner.
 */
#ifndef HCL_H
#define HCL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "hotconf.h"

#define HCL_NAME_MAX 128
#define HCL_MAX_WATCH 10000
#define HCL_MAX_BODY (64u << 20) /* largest answer body we accept */

/* A growable byte buffer: buf is NULL until the first append, else
 * NUL-terminated. Out of memory aborts. */
typedef struct hcl_buf {
	char *buf;
	size_t len, alloc;
} hcl_buf;

void hcl_buf_add(hcl_buf *b, const void *data, size_t n);
void hcl_buf_adds(hcl_buf *b, const char *s);
void hcl_buf_addf(hcl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hcl_buf_release(hcl_buf *b);
/* buf, or "" while empty; never NULL. */
const char *hcl_buf_str(const hcl_buf *b);

void *hcl_xmalloc(size_t n);
void *hcl_xcalloc(size_t n, size_t size);
char *hcl_xstrdup(const char *s); /* NULL stays NULL */
char *hcl_xmemdupz(const void *p, size_t n);

/* 1 when s is a valid config name: 1-128 of [A-Za-z0-9._:-], not "." or "..". */
int hcl_name_ok(const char *s);
/* Writes the lowercase hex md5 of data[0..n) and a NUL into hex[33]. */
void hcl_md5_hex(const void *data, size_t n, char hex[33]);

/* A pattern watch: every config of a group, or of a namespace when group is
 * "". Names and cb are set once; the flags under c->mu. Its configs are
 * hcl_items whose pat points here. */
typedef struct hcl_pattern {
	char *ns, *group;
	hotconf_change_cb cb;
	void *ud;
	int in_flight;	/* carried by the watch request in flight */
	int answered;	/* a server answered a watch request that carried it */
	int snap_tried; /* the snapshots under it were offered while no server answered */
} hcl_pattern;

/* One watched config, or one config found under a pattern (pat). The names,
 * cb and pat are set once; the rest under c->mu. */
typedef struct hcl_item {
	char *ns, *group, *data_id;
	hcl_pattern *pat; /* NULL: watched by hotconf_watch_add */
	hotconf_change_cb cb;
	void *ud;
	char md5[33];  /* what the client holds; "" = nothing yet */
	int delivered; /* the callback ran at least once */
	int report;    /* 0 none, 1 applied, 2 rejected: to send with md5 */
	char *report_msg;
	char report_md5[33];
	unsigned report_seq;	  /* bumped on every new report */
	unsigned sent_seq;	  /* report_seq of the report in the watch request in flight */
	int sent;		  /* a report rides on the watch request in flight */
	int snap_tried;		  /* the snapshot was offered while no server answered */
	hotconf_config *deferred; /* content of a HOTCONF_DEFER, until reported */
} hcl_item;

struct hotconf_client {
	char **servers;
	size_t nservers;
	char *token, *instance, *labels, *ca_file, *cache_dir;
	long timeout_ms, wait_ms, backoff_base_ms, backoff_max_ms;
	void (*log)(void *ud, const char *line);
	void *log_ud;
	atomic_size_t cur; /* index of the server to try first */

	pthread_mutex_t mu;
	hcl_item **items; /* single watches and the configs found under patterns */
	size_t nitems, items_alloc;
	size_t nsingle; /* items with no pattern */
	hcl_pattern **pats;
	size_t npats, pats_alloc;
	pthread_t thread;
	int started;
	CURLM *multi;	     /* the watch thread's, while started */
	atomic_int stopping; /* hotconf_stop asked the thread to end */
	atomic_int rearm;    /* the watch list changed: re-send the watch */
	uint64_t rng;	     /* xorshift state for jitter, watch thread only */
};

/* Logs one line through the client's log callback, if any. */
void hcl_log(hotconf_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One HTTP answer. Release with hcl_resp_release. */
typedef struct hcl_resp {
	long status;	 /* 0 when no server answered */
	hcl_buf body;	 /* the body, capped at HCL_MAX_BODY */
	char md5[33];	 /* from ETag, "" when absent */
	int64_t version; /* X-Hotconf-Version, 0 when absent */
	char format[16]; /* X-Hotconf-Format */
	char *gray;	 /* X-Hotconf-Gray, or NULL */
	int too_big;
	char error[CURL_ERROR_SIZE]; /* curl's reason when status is 0 */
} hcl_resp;

void hcl_resp_release(hcl_resp *r);

/* A request: method, path with query (starting with '/'), optional body. */
typedef struct hcl_req {
	const char *method;
	const char *path;
	const void *body;
	size_t len;
	const char *content_type; /* with a body; NULL: application/json */
	const char *if_match;	  /* value of If-Match, or NULL */
	long timeout_ms;	  /* 0: the client's */
} hcl_req;

/*
 * Prepares an easy handle for rq against base, answering into out (which the
 * caller zeroed). *hdrs receives the header list to free with
 * curl_slist_free_all after the transfer. Caller owns the handle.
 */
CURL *hcl_easy(hotconf_client *c, const char *base, const hcl_req *rq, hcl_resp *out,
	       struct curl_slist **hdrs);
/* Fills out->status (0 on a transport error, with out->error) after a transfer. */
void hcl_finish(CURL *e, CURLcode rc, hcl_resp *out);
/* 1 when the answer means "try the next server": no answer, or a 5xx. */
int hcl_failed(const hcl_resp *r);

/*
 * Sends rq to each server once, from c->cur, until one answers without a
 * connection error or 5xx, and makes that one c->cur. HOTCONF_OK when some
 * server answered (see out->status), else HOTCONF_EUNAVAILABLE. Blocking; any
 * thread.
 */
int hcl_request(hotconf_client *c, const hcl_req *rq, hcl_resp *out);
/* The error for a status that is not 2xx/304; HOTCONF_OK for those. */
int hcl_status_err(long status);
/* The "message" of a JSON error body, or the status line; static or in r. */
const char *hcl_error_message(const hcl_resp *r, char *buf, size_t n);

/* Builds a config (caller owns it) from names and an answered GET. */
hotconf_config *hcl_config_new(const char *ns, const char *group, const char *data_id,
			       const char *content, size_t len, const char *md5, int64_t version,
			       const char *format, const char *gray);
hotconf_config *hcl_config_dup(const hotconf_config *cfg);

/*
 * Snapshot directory: <dir>/<ns>/<group>/<dataId> holds the content,
 * <dataId>@meta its md5, version and format; both replaced atomically (temp
 * file, fsync, rename, fsync of the directory). Names must be valid.
 */
int hcl_cache_write(hotconf_client *c, const hotconf_config *cfg);
/* On HOTCONF_OK *out owns the snapshot (from_cache set); else HOTCONF_ENOTFOUND or _EIO. */
int hcl_cache_read(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		   hotconf_config **out);
void hcl_cache_remove(hotconf_client *c, const char *ns, const char *group, const char *data_id);
/*
 * Calls fn for each config whose snapshot the directory holds under ns and
 * group (group "": every group of ns), by valid names only; no lock is held
 * while fn runs. Nothing without a cache directory.
 */
void hcl_cache_list(hotconf_client *c, const char *ns, const char *group,
		    void (*fn)(void *ud, const char *group, const char *data_id), void *ud);
/* 1 when pattern p covers the config's namespace and group. */
int hcl_pattern_covers(const hcl_pattern *p, const char *ns, const char *group);
/* The item of p for group/data_id, created (delivered nothing yet) if new. Under c->mu. */
hcl_item *hcl_member(hotconf_client *c, hcl_pattern *p, const char *group, const char *data_id);
/* mkdir -p of path with mode; 0 or -1 with errno. */
int hcl_mkdirs(const char *path, unsigned mode);

/* The watch thread's body (watch.c). */
void *hcl_watch_main(void *arg);

#endif
