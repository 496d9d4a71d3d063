/*
 * srv.c: the server's life: open the store, bind, run libmicrohttpd with an
 * epoll thread pool and suspend/resume, route each request to its handler,
 * prune history in the background, and stop cleanly.
 *
 * Threading: srv_start/srv_stop run on the main thread. Requests run on the
 * libmicrohttpd pool; the watch thread (watchreq.c) and the pruner thread
 * here run beside them. See srv_internal.h for what s->mu guards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "door.h"
#include "gitmirror.h"
#include "gitsource.h"
#include "store_change.h"
#include "hc_log.h"
#include "respcache.h"
#include "srv_internal.h"
#include "xmalloc.h"

#include <sodium.h>

void srv_config_defaults(srv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8848";
	cfg->data_dir = "./hotconf-data";
	cfg->max_content = 1024 * 1024;
	cfg->max_wait_ms = 120000;
	cfg->retention_days = 30;
	cfg->audit_retention_days = 365;
	cfg->retention_versions = 50;
	cfg->prune_interval_ms = 10 * 60 * 1000;
	cfg->threads = 4;
	/* A browser's head with its cookies and a bearer token (8 KiB) must fit,
	 * with room left for the answer. */
	cfg->conn_memory = 20480;
	cfg->watch_conn_memory = 4096;
	cfg->max_head = 8192;
	cfg->read_deadline_ms = 30000;
	cfg->max_client_watch_memory = 256u << 20;
	cfg->session_ttl_ms = 12LL * 3600 * 1000;
	cfg->max_listeners = 100000;
	cfg->listener_grace_ms = 60000;
	cfg->max_pattern_configs = 1000;
	cfg->rollout_min_interval_ms = 1000;
	cfg->git_ref = "main";
	cfg->git_path = "";
	cfg->git_interval_ms = 30000;
}

/* ---- libmicrohttpd callbacks ---- */

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} methods[] = {{"GET", SRV_GET}, {"HEAD", SRV_HEAD},	 {"POST", SRV_POST},
		       {"PUT", SRV_PUT}, {"DELETE", SRV_DELETE}, {"PATCH", SRV_PATCH}};
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(m, methods[i].name))
			return methods[i].bit;
	return 0;
}

/*
 * The first callback of a request: libmicrohttpd's URI logger, which sees
 * the request target as the client sent it, before any decoding. The request
 * state is born here (libmicrohttpd hands what this returns to the access
 * handler as *req_cls, and to the completion callback whatever happens).
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	srv *s = cls;
	srv_req *r = xcalloc(1, sizeof(*r));

	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	r->s = s;
	r->conn = conn;
	r->dc = ci ? ci->socket_context : NULL;
	r->path = xmemdupz(uri, strcspn(uri, "?"));
	r->query = xstrdup(uri[strlen(r->path)] ? uri + strlen(r->path) + 1 : "");
	r->start_us = clock_mono_us();
	r->want_version = -1;
	r->held_fd = -1;
	sbuf_init(&r->labels, 4096);
	sbuf_init(&r->body, SRV_SMALL_BODY);
	atomic_fetch_add(&s->inflight, 1);
	return r;
}

static size_t body_cap(const srv_req *r)
{
	if (!r->route || r->route->body == SRV_BODY_SMALL)
		return SRV_SMALL_BODY;
	if (r->route->body == SRV_BODY_ARCHIVE)
		return SRV_ARCHIVE_BODY;
	return r->route->body == SRV_BODY_CONTENT ? r->s->cfg.max_content : SRV_WATCH_BODY;
}

/* What framing_check counts in a parsed head. */
typedef struct framing {
	unsigned cl, te, host;
	const char *first_cl;
	int cl_differ, te_other;
} framing;

static enum MHD_Result count_field(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	framing *f = cls;

	(void)kind;
	(void)value_size;
	if (key_size == 14 && !strcasecmp(key, "content-length")) {
		if (f->cl++ && strcmp(value ? value : "", f->first_cl))
			f->cl_differ = 1;
		else if (f->cl == 1)
			f->first_cl = value ? value : "";
	} else if (key_size == 17 && !strcasecmp(key, "transfer-encoding")) {
		f->te++;
		if (!value || strcasecmp(value, "chunked"))
			f->te_other = 1;
	} else if (key_size == 4 && !strcasecmp(key, "host")) {
		f->host++;
	}
	return MHD_YES;
}

/*
 * The checks the door makes on a connection's first head, made again on
 * the heads that follow on a kept-alive connection (libmicrohttpd has parsed
 * them by now): HC_OK, or the error with a sentence in why.
 */
static hc_err framing_check(srv_req *r, sbuf *why)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	const char *cl = srv_header(r, "Content-Length"), *version = r->version;
	framing f = {0, 0, 0, NULL, 0, 0};
	/* On a connection with a watch's smaller pool the head must leave the
	 * same room for the answer as anywhere. */
	size_t pool = r->dc ? door_conn_pool(r->dc) : r->s->cfg.conn_memory,
	       max = pool < r->s->cfg.max_head + 1024 ? pool - 1024 : r->s->cfg.max_head;
	int64_t len;

	if (ci && ci->header_size > max) {
		sbuf_addf(why, "the request head is larger than %zu bytes%s", max,
			  max < r->s->cfg.max_head ? " on a connection opened by a long poll" : "");
		return HC_ERR_HEADERS_TOO_BIG;
	}
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, count_field, &f);
	if (f.cl_differ) {
		sbuf_addstr(why, "two different Content-Length values");
		return HC_ERR_INVALID;
	}
	if (f.te > 1 || f.te_other) {
		sbuf_addstr(why, "the only Transfer-Encoding accepted is a single 'chunked'");
		return HC_ERR_INVALID;
	}
	if (f.cl && f.te) {
		sbuf_addstr(why, "Content-Length together with Transfer-Encoding is ambiguous");
		return HC_ERR_INVALID;
	}
	if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) && f.host != 1) {
		sbuf_addstr(why, "an HTTP/1.1 request needs exactly one Host header");
		return HC_ERR_INVALID;
	}
	/* Refused before a byte of the body is read. */
	if (cl && !val_int(cl, &len) && (uint64_t)len > body_cap(r)) {
		sbuf_addf(why, "the body (%s bytes) is larger than the limit of %zu bytes%s", cl,
			  body_cap(r),
			  r->route && r->route->body == SRV_BODY_CONTENT ? " (--max-content)" : "");
		return HC_ERR_TOO_BIG;
	}
	return HC_OK;
}

/* The access handler's first call: the method is known, so the route is;
 * the head is whole, so it is checked. Returns a refusal already queued, or
 * MHD_YES to go on reading. */
static enum MHD_Result req_start(srv_req *r, const char *method, const char *version)
{
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret = MHD_YES;
	hc_err err;

	door_conn_busy(r->dc);
	r->method = method;
	r->version = version;
	r->method_bit = method_bit(method);
	srv_route_request(r);
	sbuf_init(&r->body, body_cap(r));
	err = framing_check(r, &why);
	if (err) {
		/* Answered now, so libmicrohttpd discards the body and closes. */
		ret = srv_reply_why(r, err, &why);
		MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1);
	}
	sbuf_release(&why);
	return ret;
}

/* 1 when a query argument holds a NUL byte (a decoded %00): refused for
 * every route, so no name read from the query can be cut short. */
static enum MHD_Result arg_has_nul(void *cls, enum MHD_ValueKind kind, const char *key,
				   size_t key_size, const char *value, size_t value_size)
{
	int *bad = cls;

	(void)kind;
	if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
		*bad = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* 413 for a body over its route's cap, whichever route: never a shape error. */
static enum MHD_Result reply_too_big(srv_req *r)
{
	switch (r->route->body) {
	case SRV_BODY_CONTENT:
		return srv_reply_err(
		    r, HC_ERR_TOO_BIG,
		    "content is larger than the limit of %zu bytes (--max-content)",
		    r->s->cfg.max_content);
	case SRV_BODY_WATCH:
		return srv_reply_err(r, HC_ERR_TOO_BIG, "watch body is larger than %d bytes",
				     SRV_WATCH_BODY);
	case SRV_BODY_ARCHIVE:
		return srv_reply_err(r, HC_ERR_TOO_BIG, "the archive is larger than %u bytes",
				     SRV_ARCHIVE_BODY);
	case SRV_BODY_SMALL:
		break;
	}
	return srv_reply_err(r, HC_ERR_TOO_BIG, "the request body is larger than %d bytes",
			     SRV_SMALL_BODY);
}

static enum MHD_Result dispatch(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret;
	int bad_arg = 0;
	hc_err err;

	MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, arg_has_nul, &bad_arg);
	if (r->path_err || bad_arg) {
		ret = srv_reply_err(
		    r, HC_ERR_INVALID,
		    "the request target %.200s has a malformed %%-escape or a NUL byte", r->path);
	} else if (!r->route && r->allowed) {
		ret = srv_reply_err(r, HC_ERR_METHOD, "%s is not allowed here", r->method);
	} else if (!r->route) {
		ret = srv_reply_err(r, HC_ERR_NOT_FOUND, "no route for %s %.200s", r->method,
				    r->path);
	} else if (!(r->wr && r->wr->done) && !r->job_done && (err = srv_authorize(r, &why))) {
		/* (A write already committed, or a login already made, is answered
		 * as it came out, whatever happened to the credential since.) */
		ret = srv_reply_why(r, err, &why);
	} else if (r->body_too_big) {
		ret = reply_too_big(r);
	} else {
		ret = r->route->handler(r);
	}
	sbuf_release(&why);
	return ret;
}

static void req_free(srv_req *r)
{
	srv_watch_free_items(r);
	if (r->proto_free)
		r->proto_free(r->proto);
	srv_params_free(r);
	cfgkey_release(&r->key);
	srv_body_release(r);
	sbuf_release(&r->labels);
	free(r->instance);
	gray_inst_free(r->inst);
	if (r->wr) {
		free(r->wr->message);
		free(r->wr->summary);
		srv_gray_free(r->wr->gray);
		srv_cr_pub_free(r->wr->cr);
	}
	free(r->wr);
	auth_id_unref(r->id);
	srv_authjob_free(r->job);
	free(r->path);
	free(r->query);
	free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	srv_req *r = *req_cls;

	if (!r) /* the URI logger always runs first; this is only a safety net */
		*req_cls = r = on_uri(cls, url, conn);
	if (!r->method)
		return req_start(r, method, version);
	if (r->gone)
		return MHD_NO; /* a held watch whose client left: close, unanswered */
	if (*upload_data_size) {
		/* Past the cap, keep reading but drop the bytes: the answer is a 413
		 * once the upload ends, and nothing is stored. */
		if (!r->body_too_big && sbuf_add(&r->body, upload_data, *upload_data_size))
			r->body_too_big = 1;
		else if (!r->body_too_big)
			atomic_fetch_add(&r->s->body_bytes, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->status)
		return MHD_YES; /* answered already; libmicrohttpd is finishing up */
	return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	srv *s = cls;
	srv_req *r = *req_cls;

	(void)conn;
	if (!r)
		return;
	if (r->was_held) {
		/* waiter is cleared under s->mu by the hub's callback; it is still
		 * set only if libmicrohttpd dropped a held connection itself. */
		pthread_mutex_lock(&s->mu);
		if (r->waiter)
			watch_cancel(s->hub, r->waiter);
		r->waiter = NULL;
		srv_watch_unhold(r);
		pthread_mutex_unlock(&s->mu);
	}
	srv_listen_done(r);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		door_conn_idle(r->dc, clock_mono_ms());
	if (r->status)
		metrics_response(s->m, r->status,
				 r->was_held ? UINT64_MAX : clock_mono_us() - r->start_us);
	req_free(r);
	*req_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
}

/* libmicrohttpd's connection notifications: the door keeps count. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	const srv_pool *p = cls; /* which daemon: its pools' size */

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = door_conn_started(p->s->door, conn, p->bytes);
	else
		door_conn_closed(p->s->door, *socket_context);
}

__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	sbuf line = SBUF_INIT(4096);

	(void)cls;
	sbuf_vaddf(&line, fmt, ap);
	while (line.len && line.buf[line.len - 1] == '\n')
		line.buf[--line.len] = '\0';
	hc_log("libmicrohttpd: %s", line.buf);
	sbuf_release(&line);
}

/* ---- the pruner ---- */

/* Expired sessions go at once; dead tokens stay listed (as expired or
 * revoked) for the history retention, then go too; audit entries go after
 * --audit-retention-days, in small batches like history. */
static void prune_accounts(srv *s)
{
	int64_t now = clock_wall_ms(), creds = 0, deleted = 0, total = 0;

	if (!store_creds_prune(s->st, now, now - s->cfg.retention_days * 86400000LL, &creds) &&
	    creds)
		hc_log("removed %lld expired or revoked credentials", (long long)creds);
	do {
		if (store_audit_prune(s->st, now - s->cfg.audit_retention_days * 86400000LL, 500,
				      &deleted))
			break;
		total += deleted;
	} while (deleted == 500);
	if (total)
		hc_log("removed %lld audit entries older than %lld days", (long long)total,
		       (long long)s->cfg.audit_retention_days);
	total = 0;
	do { /* ended change requests are review records: kept as long as the audit log */
		if (store_cr_prune(s->st, now - s->cfg.audit_retention_days * 86400000LL, 500,
				   &deleted))
			break;
		total += deleted;
	} while (deleted == 500);
	if (total)
		hc_log("removed %lld ended change requests older than %lld days", (long long)total,
		       (long long)s->cfg.audit_retention_days);
}

static void *prune_main(void *arg)
{
	srv *s = arg;

	pthread_mutex_lock(&s->prune_mu);
	while (!s->prune_stop) {
		uint64_t at = clock_mono_ms() + s->cfg.prune_interval_ms;
		struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
		int64_t deleted = 0, total = 0;

		while (!s->prune_stop && clock_mono_ms() < at)
			pthread_cond_timedwait(&s->prune_cond, &s->prune_mu, &ts);
		if (s->prune_stop)
			break;
		/* Small transactions, with the pruner's lock dropped, so publishes
		 * wait for at most one batch. */
		pthread_mutex_unlock(&s->prune_mu);
		do {
			int64_t cutoff = clock_wall_ms() - s->cfg.retention_days * 86400000LL;
			if (store_prune(s->st, cutoff, s->cfg.retention_versions, 500, &deleted))
				break;
			total += deleted;
		} while (deleted == 500);
		metrics_prune(s->m, (uint64_t)total);
		if (total)
			hc_log("pruned %lld history entries", (long long)total);
		prune_accounts(s);
		pthread_mutex_lock(&s->prune_mu);
	}
	pthread_mutex_unlock(&s->prune_mu);
	return NULL;
}

/* ---- start and stop ---- */

static hc_err listen_socket(const char *spec, int *fd_out, unsigned *port_out)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	size_t hl;
	int fd = -1, one = 1, rc;
	hc_err err = HC_ERR_INVALID;

	*fd_out = -1;
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host)) {
		hc_log("--listen '%s' is invalid: use HOST:PORT, e.g. 127.0.0.1:8848", spec);
		return HC_ERR_INVALID;
	}
	hl = (size_t)(colon - spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc) {
		hc_log("--listen '%s': %s", spec, gai_strerror(rc));
		goto fail;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		hc_log("cannot listen on %s: %s", spec, strerror(errno));
		err = HC_ERR_IO;
		goto fail;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	freeaddrinfo(ai);
	return HC_OK;
fail:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	return err;
}

/* Reads a PEM file whole into out. */
static hc_err read_pem(const char *path, sbuf *out)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;
	hc_err err = HC_OK;

	if (!f) {
		hc_log("cannot read %s: %s", path, strerror(errno));
		return HC_ERR_INVALID;
	}
	while (!err && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		err = sbuf_add(out, buf, n);
	fclose(f);
	if (err || !out->len)
		hc_log("%s is empty or larger than 1 MiB", path);
	return err || !out->len ? HC_ERR_INVALID : HC_OK;
}

/* --tls-cert and --tls-key, into libmicrohttpd's options (GnuTLS); the
 * options end where TLS is off. Warns about plain HTTP beyond loopback. */
static hc_err tls_load(srv *s, struct MHD_OptionItem opts[3])
{
	const srv_config *cfg = &s->cfg;
	int loopback = !strncmp(cfg->listen, "127.", 4) || !strncmp(cfg->listen, "[::1]", 5) ||
		       !strncmp(cfg->listen, "localhost:", 10);

	opts[0].option = MHD_OPTION_END;
	if (!cfg->tls_cert && !cfg->tls_key) {
		if (!loopback)
			hc_log(
			    "WARNING: serving plain HTTP on %s: credentials and configs cross the "
			    "network in the clear (use --tls-cert and --tls-key)",
			    cfg->listen);
		return HC_OK;
	}
	if (!cfg->tls_cert || !cfg->tls_key) {
		hc_log("--tls-cert and --tls-key go together");
		return HC_ERR_INVALID;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		hc_log("this libmicrohttpd was built without TLS");
		return HC_ERR_INVALID;
	}
	sbuf_init(&s->tls_cert, 1 << 20);
	sbuf_init(&s->tls_key, 1 << 20);
	if (read_pem(cfg->tls_cert, &s->tls_cert) || read_pem(cfg->tls_key, &s->tls_key))
		return HC_ERR_INVALID;
	opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert.buf};
	opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key.buf};
	opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return HC_OK;
}

/* Accounts: with auth on (the default) the first start creates admin. */
static hc_err auth_start(srv *s)
{
	auth_config ac;

	ac.data_dir = s->cfg.data_dir;
	ac.session_ttl_ms = s->cfg.session_ttl_ms;
	s->auth = auth_new(s->st, &ac);
	if (!s->auth)
		return HC_ERR_INTERNAL;
	if (s->cfg.auth_off) {
		hc_log("WARNING: --auth=off: every endpoint is open to anyone who can connect, and "
		       "authors are whatever X-Hotconf-Author says; for local experiments only");
		return HC_OK;
	}
	return auth_bootstrap(s->auth);
}

/* The marker that says a data dir holds (or held) a database. */
#define MARKER "hotconf.install"

static int exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/*
 * Makes the data dir (0700, whatever the umask or a dir made before) and
 * refuses to create a fresh database where one was: a data dir with the
 * marker but no hotconf.db lost its database (deleted, a wrong mount), and
 * starting empty there would hide that from every client.
 */
static hc_err data_dir_open(const srv_config *cfg, sbuf *dbpath)
{
	sbuf marker = SBUF_INIT(SBUF_NOMAX);
	hc_err err = HC_OK;

	if (mkdir(cfg->data_dir, 0700) && errno != EEXIST) {
		hc_log("cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
		return HC_ERR_IO;
	}
	if (chmod(cfg->data_dir, 0700))
		hc_log("cannot make %s private (0700): %s", cfg->data_dir, strerror(errno));
	sbuf_addf(dbpath, "%s/hotconf.db", cfg->data_dir);
	sbuf_addf(&marker, "%s/" MARKER, cfg->data_dir);
	if (exists(marker.buf) && !exists(dbpath->buf) && !cfg->init) {
		hc_log("%s held a hotconf database (%s is there) but %s is missing: restore it, or "
		       "start with --init to begin with an empty one",
		       cfg->data_dir, MARKER, dbpath->buf);
		err = HC_ERR_CONFLICT;
	}
	sbuf_release(&marker);
	return err;
}

/* After the store opened: the marker exists, and the database files are
 * private (0600) even if they were made before with another umask. */
static hc_err data_dir_mark(const srv_config *cfg, const char *dbpath)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", ".reserve"};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	size_t i;
	hc_err err = HC_OK;
	int fd;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		sbuf_reset(&p);
		sbuf_addf(&p, "%s%s", dbpath, suffixes[i]);
		if (exists(p.buf) && chmod(p.buf, 0600))
			hc_log("cannot make %s private (0600): %s", p.buf, strerror(errno));
	}
	sbuf_reset(&p);
	sbuf_addf(&p, "%s/" MARKER, cfg->data_dir);
	if (!exists(p.buf)) {
		fd = open(p.buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || fsync(fd)) {
			hc_log("cannot write %s: %s", p.buf, strerror(errno));
			err = HC_ERR_IO;
		}
		if (fd >= 0)
			close(fd);
	}
	sbuf_release(&p);
	return err;
}

/* Writes the port to a temporary file and renames it, so a reader never sees
 * a half-written number. */
static hc_err write_port_file(const char *path, unsigned port)
{
	sbuf tmp = SBUF_INIT(SBUF_NOMAX);
	FILE *f;
	hc_err err = HC_ERR_IO;

	sbuf_addf(&tmp, "%s.tmp", path);
	f = fopen(tmp.buf, "w");
	if (f && fprintf(f, "%u\n", port) > 0 && fclose(f) == 0) {
		f = NULL;
		if (rename(tmp.buf, path) == 0)
			err = HC_OK;
	}
	if (f)
		fclose(f);
	if (err)
		hc_log("cannot write --port-file %s: %s", path, strerror(errno));
	sbuf_release(&tmp);
	return err;
}

/* Raises the soft open-file limit to the hard one and sizes the connection
 * limit from it, keeping room for the database, epoll and pipes. */
static unsigned connection_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1000;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		return 1000000;
	return rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;
}

static hc_err init_sync(srv *s)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->prune_mu, NULL);
	pthread_condattr_init(&ca);
	/* Deadlines are monotonic; so are the waits for them. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->notice_mu, NULL);
	pthread_mutex_init(&s->reg_mu, NULL);
	pthread_mutex_init(&s->anon_mu, NULL);
	pthread_mutex_init(&s->nc_mu, NULL);
	sbuf_init(&s->nc_body, SBUF_NOMAX);
	pthread_cond_init(&s->prune_cond, &ca);
	pthread_condattr_destroy(&ca);
	return HC_OK;
}

/*
 * Starts one libmicrohttpd daemon whose connections get pool->bytes each.
 * libmicrohttpd never accepts (the door does) and runs no thread of its
 * own: a door worker runs it. Not MHD_USE_EPOLL_INTERNAL_THREAD with a
 * thread pool, as before: 0.9.75's own epoll loop can leave exactly 128
 * ready connections unread (door.c has the details).
 */
static hc_err start_daemon(srv *s, unsigned limit, srv_pool *pool, struct MHD_OptionItem *tls_opts,
			   struct MHD_Daemon **out)
{
	unsigned timeout_s = (unsigned)((s->cfg.read_deadline_ms + 999) / 1000);

	/* The logger must come first, or earlier options log to stderr raw. */
	/* clang-format off */
	*out = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
		MHD_USE_ERROR_LOG | (s->tls_cert.len ? MHD_USE_TLS : 0), 0,
		NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool->bytes,
		MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)1024,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, pool,
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_END);
	/* clang-format on */
	if (!*out) {
		hc_log("cannot start the HTTP daemon on %s", s->cfg.listen);
		return HC_ERR_IO;
	}
	return HC_OK;
}

/* Stops and frees what srv_start started of d[0..n) before the door took
 * them over; NULL is a no-op. */
static void stop_daemons(struct MHD_Daemon **d, unsigned n)
{
	unsigned i;

	for (i = 0; d && i < n; i++)
		if (d[i])
			MHD_stop_daemon(d[i]);
	free(d);
}

/* Starts the git source (--git-source), or, without one, makes every
 * namespace an earlier run fed from git writable again. */
static hc_err git_source_start(srv *s)
{
	gs_config g;

	if (!s->cfg.git_source)
		return store_namespace_set_sources(s->st, NULL, 0, "", clock_wall_ms());
	memset(&g, 0, sizeof(g));
	g.url = s->cfg.git_source;
	g.ref = s->cfg.git_ref;
	g.path = s->cfg.git_path;
	g.interval_ms = s->cfg.git_interval_ms;
	g.data_dir = s->cfg.data_dir;
	g.max_content = s->cfg.max_content;
	return gs_start(s->st, &g, &s->gs);
}

hc_err srv_start(const srv_config *cfg, srv **out)
{
	srv *s = xcalloc(1, sizeof(*s));
	sbuf dbpath = SBUF_INIT(SBUF_NOMAX);
	unsigned port = 0, limit, i;
	struct MHD_Daemon **d = NULL, **watch_d = NULL; /* the door's once started */
	struct MHD_OptionItem tls_opts[3];
	door_config dcfg;
	int rc;
	hc_err err;

	*out = NULL;
	s->cfg = *cfg;
	/* A head must fit a connection's memory with room left for the answer,
	 * so a write that commits can always be answered. */
	if (!s->cfg.max_head || s->cfg.max_head + 1024 > s->cfg.conn_memory)
		s->cfg.max_head = s->cfg.conn_memory > 2048 ? s->cfg.conn_memory - 1024 : 1024;
	s->listen_fd = -1;
	s->watch_ep = s->watch_evfd = -1;
	s->held_fd = hmap_new();
	s->held_bytes = hmap_new();
	s->timer_at = UINT64_MAX;
	s->notices_tail = &s->notices;
	init_sync(s);
	s->hub = watch_hub_new();
	if (s->cfg.max_listeners)
		s->reg = watch_reg_new(s->cfg.max_listeners, s->cfg.listener_grace_ms);
	s->m = metrics_new();
	s->cache = respcache_new();
	/* Bind first: a bad --listen should not leave a data directory behind. */
	if ((err = listen_socket(cfg->listen, &s->listen_fd, &port)))
		goto fail;
	if ((err = data_dir_open(cfg, &dbpath)))
		goto fail;
	if ((err = store_open(dbpath.buf, &s->st)))
		goto fail;
	if ((err = data_dir_mark(cfg, dbpath.buf)))
		goto fail;
	/* The feed's subscribers: cached responses go stale first, then the
	 * watchers are woken; both hear of every change, whatever caused it. */
	if ((err = auth_start(s)) || (err = srv_anon_load(s)))
		goto fail;
	store_subscribe(s->st, respcache_on_change, NULL, s->cache);
	store_subscribe(s->st, srv_on_change, srv_on_commit_done, s);
	if (cfg->git_mirror && (err = gm_start(s->st, cfg->git_mirror, &s->gm)))
		goto fail;
	if ((err = git_source_start(s)))
		goto fail;
	if ((err = srv_timer_start(s)) || (err = srv_check_start(s)) ||
	    (err = srv_rollout_start(s)) || (err = srv_schedule_start(s)))
		goto fail;
	rc = pthread_create(&s->prune_thread, NULL, prune_main, s);
	if (rc) {
		hc_log("cannot start the pruner thread: %s", strerror(rc));
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	s->prune_started = 1;
	limit = connection_limit();
	if ((err = tls_load(s, tls_opts)))
		goto fail;
	s->pools[0] = (srv_pool){s, s->cfg.conn_memory};
	s->pools[1] = (srv_pool){s, s->cfg.watch_conn_memory};
	/* One daemon per worker thread, --threads of each kind (no watch daemons
	 * under TLS). Each may hold every connection; the door keeps the limit. */
	d = xcalloc(s->cfg.threads, sizeof(*d));
	if (!s->tls_cert.len)
		watch_d = xcalloc(s->cfg.threads, sizeof(*watch_d));
	for (i = 0; i < s->cfg.threads; i++)
		if ((err = start_daemon(s, limit, &s->pools[0], tls_opts, &d[i])) ||
		    (watch_d &&
		     (err = start_daemon(s, limit, &s->pools[1], tls_opts, &watch_d[i]))))
			goto fail;
	dcfg.max_conns = limit;
	dcfg.max_per_client = cfg->max_client_connections;
	if (!dcfg.max_per_client)
		/* One address can never take the last slots. */
		dcfg.max_per_client = limit > 512 ? limit - 256 : limit / 2 + 1;
	dcfg.read_deadline_ms = cfg->read_deadline_ms;
	dcfg.head.max_head = s->cfg.max_head;
	dcfg.head.max_target = s->cfg.max_head / 2;
	dcfg.head.max_body = cfg->max_content > SRV_WATCH_BODY ? cfg->max_content : SRV_WATCH_BODY;
	dcfg.m = s->m;
	dcfg.tls = s->tls_cert.len > 0;
	dcfg.watch_head = s->cfg.watch_conn_memory > 2048 ? s->cfg.watch_conn_memory - 1024 : 0;
	err = door_start(&dcfg, s->listen_fd, d, watch_d, s->cfg.threads, &s->door);
	s->listen_fd = -1; /* the door's now, and so are the daemons */
	free(d);
	free(watch_d);
	d = watch_d = NULL;
	if (err)
		goto fail;
	if (cfg->port_file && (err = write_port_file(cfg->port_file, port)))
		goto fail;
	hc_log("serving on %s (port %u), data in %s, up to %u connections (%u per client)",
	       cfg->listen, port, cfg->data_dir, limit, dcfg.max_per_client);
	sbuf_release(&dbpath);
	*out = s;
	return HC_OK;
fail:
	sbuf_release(&dbpath);
	stop_daemons(d, s->cfg.threads);
	stop_daemons(watch_d, s->cfg.threads);
	srv_stop(s);
	return err;
}

/* Waits up to ms for requests in flight (answers being sent) to finish,
 * then for every write handed to the store, however long: each holds a
 * suspended connection its completion will resume, so the daemon must
 * outlive it, and the store finishes or fails every queued write. */
static void drain(srv *s, uint64_t ms)
{
	uint64_t until = clock_mono_ms() + ms;
	struct timespec pause = {0, 5 * 1000000L};

	while (atomic_load(&s->inflight) > 0 && clock_mono_ms() < until)
		nanosleep(&pause, NULL);
	while (atomic_load(&s->writes) > 0)
		nanosleep(&pause, NULL);
}

void srv_body_release(srv_req *r)
{
	atomic_fetch_sub(&r->s->body_bytes, r->body.len);
	sbuf_release(&r->body);
}

int srv_write_begin(srv_req *r)
{
	atomic_fetch_add(&r->s->writes, 1);
	if (!atomic_load(&r->s->stopping))
		return 1;
	atomic_fetch_sub(&r->s->writes, 1);
	return 0;
}

/*
 * Stopping never lets a connection be suspended inside MHD_stop_daemon
 * (libmicrohttpd aborts the process if one is): `stopping` is set first,
 * and every suspend checks it after announcing itself: a held watch under
 * s->mu (srv_watch_may_hold), a write by counting itself in s->writes
 * before it reads the flag (srv_write_begin). So each suspend either
 * happens before the flag, and is resumed by the close_all below or
 * waited for in drain, or does not happen at all.
 */
void srv_stop(srv *s)
{
	size_t closed;

	if (!s)
		return;
	door_stop(s->door); /* no new connections */
	if (s->door) {
		atomic_store(&s->stopping, 1);
		/* Answer every held watch (304) before the daemon stops: a suspended
		 * connection must be resumed first, and clients deserve an answer. */
		pthread_mutex_lock(&s->mu);
		closed = watch_close_all(s->hub);
		pthread_mutex_unlock(&s->mu);
		if (closed)
			hc_log("answered %zu held watches", closed);
		drain(s, 5000);
		door_http_stop(s->door); /* the workers, then every daemon */
	}
	door_free(s->door); /* after the daemons: they report every close to it */
	srv_check_stop(s);  /* idle: every write was waited for */
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	srv_rollout_stop(s); /* its writes wake watchers: before the watch thread stops */
	srv_schedule_stop(s);
	srv_timer_stop(s);
	if (s->prune_started) {
		pthread_mutex_lock(&s->prune_mu);
		s->prune_stop = 1;
		pthread_cond_signal(&s->prune_cond);
		pthread_mutex_unlock(&s->prune_mu);
		pthread_join(s->prune_thread, NULL);
	}
	gs_stop(s->gs); /* its sync writes: before the store's feed loses the mirror */
	auth_free(s->auth);
	gm_stop(s->gm); /* every writer stopped: the feed calls it no more */
	store_close(s->st);
	watch_hub_free(s->hub);
	watch_reg_free(s->reg);
	sbuf_release(&s->tls_cert);
	sodium_memzero(s->tls_key.buf, s->tls_key.len);
	sbuf_release(&s->tls_key);
	hmap_free(s->held_fd); /* empty: every hold is gone */
	hmap_free(s->held_bytes);
	respcache_free(s->cache);
	metrics_free(s->m);
	pthread_mutex_destroy(&s->notice_mu);
	pthread_mutex_destroy(&s->reg_mu);
	srv_anon_free(s);
	pthread_mutex_destroy(&s->anon_mu);
	if (s->nc_resp)
		MHD_destroy_response(s->nc_resp);
	sbuf_release(&s->nc_body);
	pthread_mutex_destroy(&s->nc_mu);
	pthread_cond_destroy(&s->prune_cond);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->prune_mu);
	free(s);
}
