/*
 * hotconf.h: libhotconf, the C client of the hotconf configuration center.
 *
 * A service creates one client with the addresses of its hotconf servers,
 * reads configs with hotconf_get() and registers callbacks that run each time
 * a watched config changes. The client keeps the last good content of every
 * config in an optional snapshot directory, so a service still starts when no
 * server answers.
 *
 *   hotconf_options o;
 *   hotconf_options_init(&o);
 *   o.servers = "http://10.0.0.1:8848,http://10.0.0.2:8848";
 *   o.cache_dir = "/var/cache/myapp/hotconf";
 *   hotconf_client *c = hotconf_new(&o);
 *   hotconf_watch_add(c, "public", "DEFAULT_GROUP", "app.yaml", on_change, state);
 *   hotconf_start(c);
 *   ...
 *   hotconf_free(c);
 *
 * Ownership. Everything this library returns is owned by the caller and says
 * how to release it (hotconf_config_free, hotconf_free). Everything it is
 * given is copied before the call returns, except the user data pointers of
 * callbacks, which are handed back untouched.
 *
 * Threads. A client may be used from any thread. hotconf_get() and
 * hotconf_report() may be called concurrently from several threads, including
 * from inside a change callback. hotconf_watch_add(), hotconf_watch_group(),
 * hotconf_start(), hotconf_stop() and hotconf_free() are called by the thread that owns the
 * client, never concurrently with each other, and hotconf_stop() and
 * hotconf_free() never from a callback. The library has its own watch
 * thread, started by hotconf_start(); every change callback and the log
 * callback (from watches) run on it, one at a time. Callbacks should return
 * quickly: while one runs, no other change is delivered.
 *
 * HTTP. One dependency, libcurl; curl_global_init() is called once, the first
 * time a client is created (libcurl 7.84 and later make that thread-safe).
 * Out of memory aborts the process, as everywhere in hotconf.
 *
 * Stability. Functions are only ever added. hotconf_options is allocated by
 * the caller, so it carries its own size (set by hotconf_options_init) and
 * new fields are only appended; hotconf_config is allocated by the library
 * and may also gain fields at its end.
 */
#ifndef HOTCONF_H
#define HOTCONF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HOTCONF_API __attribute__((visibility("default")))
#else
#define HOTCONF_API
#endif

#define HOTCONF_VERSION_STRING "0.1.0"

/*
 * Return values. 0 is success; every error is negative, so a change callback's
 * rejection (any other non-zero) cannot be confused with them.
 */
enum {
	HOTCONF_OK = 0,
	HOTCONF_EINVAL = -1,	   /* a bad argument: name, option or URL */
	HOTCONF_ENOTFOUND = -2,	   /* the server says the config does not exist (404) */
	HOTCONF_ECONFLICT = -3,	   /* the server refused a write because of state (409, 412) */
	HOTCONF_EUNAVAILABLE = -4, /* no server answered (connection error, timeout or 5xx on
				      every one) and no snapshot could stand in */
	HOTCONF_EAUTH = -5,	   /* the server refused the credentials (401, 403) */
	HOTCONF_EPROTO = -6,	   /* an answer hotconf did not expect (another status, bad JSON,
				      content that does not match its md5) */
	HOTCONF_EIO = -7,	   /* the snapshot directory could not be read or written */
	HOTCONF_ESTATE = -8,	   /* not now: started twice, stop from a callback, a config
				      watched twice, a report for content no longer current */
};

/* A static English description of a return value ("no server answered"). */
HOTCONF_API const char *hotconf_strerror(int err);

/* The library's version, HOTCONF_VERSION_STRING of the build. Static. */
HOTCONF_API const char *hotconf_version(void);

typedef struct hotconf_client hotconf_client;

/*
 * Where a client connects and how. Call hotconf_options_init() first, then set
 * the fields you need; hotconf_new() copies every string.
 */
typedef struct hotconf_options {
	size_t size; /* sizeof(hotconf_options) of the caller's build; set by _init */
	/* Required. Base URLs separated by commas ("http://a:8848,https://b:8848"),
	 * tried in order: on a connection error, a timeout or a 5xx the client moves
	 * to the next, and it stays on the one that answers. When every server has
	 * failed, a watch waits with exponential backoff and full jitter (a random
	 * time in [0, min(backoff_max_ms, backoff_base_ms * 2^failures)]) before the
	 * next round. hotconf_get() tries each server once, without waiting. */
	const char *servers;
	const char *token;     /* sent as "Authorization: Bearer <token>"; NULL: none */
	const char *instance;  /* sent as X-Hotconf-Instance; NULL: none */
	const char *labels;    /* sent as X-Hotconf-Labels, "k=v,k2=v2"; NULL: none */
	const char *ca_file;   /* PEM bundle to verify https servers with; NULL: system's */
	const char *cache_dir; /* snapshot directory (created, mode 0700); NULL: no cache */
	long timeout_ms;       /* one ordinary request, connect included (10000) */
	long wait_ms;	       /* how long the server may hold a watch request (30000) */
	long backoff_base_ms;  /* first backoff ceiling (200) */
	long backoff_max_ms;   /* backoff cap (10000) */
	/* Diagnostics, one line without a newline: failover, backoff, snapshot
	 * errors, why hotconf_new() refused the options. Runs on the thread that
	 * hit the event (the watch thread for watches); must not call back into the
	 * client. NULL: the library says nothing. */
	void (*log)(void *ud, const char *line);
	void *log_ud;
} hotconf_options;

/* Zeroes *opt, sets opt->size and the defaults above. */
HOTCONF_API void hotconf_options_init(hotconf_options *opt);

/*
 * Creates a client; the caller owns it and releases it with hotconf_free().
 * Returns NULL when the options are invalid (no server, a URL that is not
 * http:// or https://, a header value with a line break, a cache directory
 * that cannot be created); the reason goes to opt->log. Starts no thread.
 */
HOTCONF_API hotconf_client *hotconf_new(const hotconf_options *opt);

/*
 * Stops the watch thread if it runs (as hotconf_stop) and frees the client.
 * NULL is a no-op. Never from a callback.
 */
HOTCONF_API void hotconf_free(hotconf_client *client);

/*
 * One config as the server (or the snapshot cache) served it. Allocated by
 * the library. From hotconf_get() the caller owns it (hotconf_config_free);
 * in a change callback it is borrowed and valid only until the callback
 * returns. Every string is NUL-terminated; content also holds len bytes, which
 * may include NULs.
 */
typedef struct hotconf_config {
	const char *ns, *group, *data_id;
	const char *content;
	size_t len;
	char md5[33];	  /* lowercase hex md5 of content; "" when deleted */
	int64_t version;  /* the server's version number; 0 when deleted or unknown */
	char format[16];  /* text, json, yaml, properties or xml */
	const char *gray; /* the gray rule that served this content (X-Hotconf-Gray), or NULL
			     when the main content was served */
	int deleted;	  /* in a change callback: the config was deleted; content is "" */
	int from_cache;	  /* served from the snapshot directory: no server answered */
	/* In a change callback: more changes from the same server answer (or the
	 * same snapshot offer) follow at once, so a service that applies configs
	 * together may wait for the call with more = 0 before it applies. 0 from
	 * hotconf_get. */
	int more;
} hotconf_config;

/* Frees a config returned by hotconf_get(). NULL is a no-op. */
HOTCONF_API void hotconf_config_free(hotconf_config *cfg);

/*
 * Reads one config. Names are 1-128 characters of [A-Za-z0-9._:-] (not "."
 * or ".."). On HOTCONF_OK *out owns the config; on error *out is NULL.
 * Tries each server once, from the one that answered last. When a server
 * answers, the content is also written to the snapshot directory. When none
 * answers, the snapshot is served instead (from_cache = 1); without one the
 * result is HOTCONF_EUNAVAILABLE. A 404 is HOTCONF_ENOTFOUND: a live server's
 * answer, which no snapshot overrides. Blocks for at most about
 * timeout_ms per server. Any thread.
 */
HOTCONF_API int hotconf_get(hotconf_client *client, const char *ns, const char *group,
			    const char *data_id, hotconf_config **out);

/*
 * What a change callback returns.
 *   HOTCONF_APPLIED (0): the content is in use. It becomes the snapshot and
 *     the next watch request reports it "applied".
 *   HOTCONF_DEFER: the service applies it later and will call
 *     hotconf_report() with the outcome (for example after a debounce).
 *   Anything else: rejected. The snapshot keeps the previous content and the
 *     next watch request reports "rejected" with the message the callback may
 *     have written into message[message_size] (NUL-terminated, truncated to
 *     fit; it starts as "").
 * Either way the client now holds this md5 and is not called again for it.
 */
#define HOTCONF_APPLIED 0
#define HOTCONF_DEFER (-1000)

/*
 * Runs on the watch thread once when its watch starts, with the current
 * content (from a server, or from the snapshot when no server answers at
 * start; an absent config is not delivered until it is created), then once
 * per change: a new md5, or the config deleted (cfg->deleted). cfg is
 * borrowed for the duration of the call. The callback may call hotconf_get()
 * and hotconf_report(), and hotconf_watch_add() for another config; it must
 * not call hotconf_stop() or hotconf_free().
 */
typedef int (*hotconf_change_cb)(hotconf_client *client, const hotconf_config *cfg, void *ud,
				 char *message, size_t message_size);

/*
 * Adds a config to the watch, with its callback and user data (borrowed
 * until hotconf_free). Before or after hotconf_start(); after, the watch
 * thread re-arms at once with the new config (or once the backoff in
 * progress ends, when no server answers). If it fails the callback never
 * runs: HOTCONF_EINVAL for a bad name or NULL cb, HOTCONF_ESTATE when the
 * config is already watched or 10,000 are.
 */
HOTCONF_API int hotconf_watch_add(hotconf_client *client, const char *ns, const char *group,
				  const char *data_id, hotconf_change_cb cb, void *ud);

/*
 * Watches every config of a group (group NULL or "": of the whole namespace),
 * those that exist now and those created later, with one callback and user
 * data (borrowed until hotconf_free). The callback (hotconf_change_cb, same
 * thread and rules as for hotconf_watch_add) runs once per config of the
 * pattern at start, with cfg->ns, cfg->group and cfg->data_id naming it,
 * then once per config created, changed (a new md5) or deleted (cfg->deleted
 * = 1, content "" and md5 "", as for a single watch). A group with no config
 * is not delivered anything until one is created.
 *
 * The pattern rides on the same many-config watch request as the single
 * watches, carrying the md5 of each config the client holds under it, and
 * each config it delivers is fetched with GET, reported (applied, rejected or
 * deferred to hotconf_report, by its own names) and kept in the snapshot
 * directory as a single watch's is. When no server answers at start, every
 * config the snapshot directory holds under the namespace and group is
 * delivered from it (from_cache = 1): that includes snapshots written by
 * hotconf_get or a single watch of a config there. A config watched both
 * singly and under a pattern (or under two patterns) is delivered to each
 * callback. Servers cap a pattern at --max-pattern-configs configs (1000):
 * over that the server refuses the whole watch request, which the client
 * logs and retries with backoff.
 *
 * Before or after hotconf_start(), as hotconf_watch_add. If it fails the
 * callback never runs: HOTCONF_EINVAL for a bad name or NULL cb,
 * HOTCONF_ESTATE when this pattern is already watched or 10,000 are.
 */
HOTCONF_API int hotconf_watch_group(hotconf_client *client, const char *ns, const char *group,
				    hotconf_change_cb cb, void *ud);

/*
 * Starts the watch thread. It long-polls POST /api/v1/watch?wait=<wait_ms>
 * with every watched config and the md5 the client holds, fetches each
 * changed config with GET, calls its callback and re-arms.
 *
 * Apply reports: after a callback (or hotconf_report) the next watch request
 * carries "status":"applied", or "rejected" with "message", next to that
 * config's md5, once. Servers before hotconf's apply-report feature ignore
 * those fields; later ones show them in the listeners view. A deferred report
 * (hotconf_report) goes out at once: the watch thread drops the request it
 * holds and makes it again with the report.
 *
 * HOTCONF_ESTATE if already started.
 */
HOTCONF_API int hotconf_start(hotconf_client *client);

/*
 * Ends the watch thread and returns once it has ended: promptly, without
 * waiting for a held watch request (it is abandoned), but after a callback
 * that is running returns. After it returns no callback runs; hotconf_start()
 * may start watching again. HOTCONF_ESTATE from the watch thread itself; a
 * client that is not started is a no-op.
 */
HOTCONF_API int hotconf_stop(hotconf_client *client);

/*
 * Reports the outcome of a change whose callback returned HOTCONF_DEFER (or
 * corrects an earlier report): md5 is the cfg->md5 the callback was given,
 * rejected 0 for applied, else rejected with message (may be NULL). Applied
 * content becomes the snapshot. HOTCONF_ESTATE when that md5 is no longer the
 * one the client holds (a newer change was delivered since: report that one),
 * HOTCONF_EINVAL when the config is not watched, singly or under a pattern
 * that delivered it. A config watched both ways gets the report wherever it
 * holds that md5. Any thread.
 */
HOTCONF_API int hotconf_report(hotconf_client *client, const char *ns, const char *group,
			       const char *data_id, const char *md5, int rejected,
			       const char *message);

#ifdef __cplusplus
}
#endif

#endif
