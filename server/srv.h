/*
 * srv: the hotconf HTTP server. It owns the store (with its writer thread),
 * the watch hub, the libmicrohttpd daemon and two helper threads (the watch
 * thread, which wakes and expires held watches, and the history pruner).
 * main.c parses flags into an srv_config, starts a server, waits for a signal
 * and stops it. docs/architecture.md draws the whole.
 *
 * Threading: srv_start and srv_stop are called from one thread (main).
 */
#ifndef HC_SRV_H
#define HC_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "cidr.h"
#include "validate.h"

#define SRV_MAX_TRUSTED 16

typedef struct srv_config {
	const char *listen;	       /* "127.0.0.1:8848", "[::1]:0" */
	const char *data_dir;	       /* created if missing; holds hotconf.db */
	const char *port_file;	       /* NULL, or where to write the bound port */
	size_t max_content;	       /* bytes; larger content is a 413 */
	uint64_t max_wait_ms;	       /* cap on ?wait= */
	int64_t retention_days;	       /* history younger than this is kept */
	int64_t audit_retention_days;  /* audit entries younger than this are kept */
	int64_t retention_versions;    /* the newest N per config are always kept */
	uint64_t prune_interval_ms;    /* how often the pruner runs */
	unsigned threads;	       /* libmicrohttpd worker threads */
	size_t conn_memory;	       /* bytes of memory per connection */
	size_t watch_conn_memory;      /* ...per connection that came for a long poll */
	cidr trusted[SRV_MAX_TRUSTED]; /* peers whose X-Forwarded-For is believed */
	size_t ntrusted;
	int test_faults;		 /* POST /api/v1/debug/faults arms the store's fault hook */
	uint64_t read_deadline_ms;	 /* a request head must arrive whole within this */
	unsigned max_client_connections; /* per client address; 0: all but the last 256 */
	size_t max_client_watch_memory;	 /* bytes of held watches per client address */
	size_t max_head;		 /* bytes of a request head; 0: from conn_memory */
	int init;			 /* create a database even where one was before (--init) */
	int auth_off;			 /* --auth=off: everything open, for local experiments */
	int metrics_public;		 /* GET /metrics without a credential */
	int64_t session_ttl_ms;		 /* how long a login lasts */
	const char *tls_cert;		 /* PEM files: serve HTTPS */
	const char *tls_key;
	size_t max_listeners;		  /* entries of the listeners view; 0: none kept */
	uint64_t listener_grace_ms;	  /* an instance not seen for its wait and this is gone */
	size_t max_pattern_configs;	  /* configs one pattern watch may cover */
	uint64_t rollout_min_interval_ms; /* the shortest step interval a plan may ask */
	const char *git_mirror;		  /* NULL, or the bare repository to mirror into */
	const char *git_source;		  /* NULL, or the repository the namespaces come from */
	const char *git_ref;		  /* its branch or full ref (main) */
	const char *git_path;		  /* its folder holding the namespaces ("": the root) */
	uint64_t git_interval_ms;	  /* how often it is fetched (30 s) */
} srv_config;

typedef struct srv srv;

/* Fills cfg with the defaults. */
void srv_config_defaults(srv_config *cfg);

/* Opens the store, binds, starts serving and writes the port file. On
 * success *out owns the server; stop it with srv_stop(). cfg is copied (its
 * strings are borrowed and must outlive the server). */
hc_err srv_start(const srv_config *cfg, srv **out);
/* Stops accepting, answers every held watch (304), waits briefly for replies
 * in flight, stops the daemon and threads, closes the store and frees. NULL is
 * a no-op. */
void srv_stop(srv *s);

#endif
