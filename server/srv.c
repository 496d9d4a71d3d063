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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hc_log.h"
#include "respcache.h"
#include "srv_internal.h"
#include "xmalloc.h"

void srv_config_defaults(srv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8848";
	cfg->data_dir = "./hotconf-data";
	cfg->max_content = 1024 * 1024;
	cfg->max_wait_ms = 120000;
	cfg->retention_days = 30;
	cfg->retention_versions = 50;
	cfg->prune_interval_ms = 10 * 60 * 1000;
	cfg->threads = 4;
	cfg->conn_memory = 4096;
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

	r->s = s;
	r->conn = conn;
	r->path = xmemdupz(uri, strcspn(uri, "?"));
	r->start_us = clock_mono_us();
	r->want_version = -1;
	sbuf_init(&r->labels, 4096);
	sbuf_init(&r->body, SRV_SMALL_BODY);
	atomic_fetch_add(&s->inflight, 1);
	return r;
}

/* The access handler's first call: the method is known, so the route is. */
static void req_start(srv_req *r, const char *method)
{
	r->method = method;
	r->method_bit = method_bit(method);
	srv_route_request(r);
	if (!r->route)
		return;
	if (r->route->body == SRV_BODY_CONTENT)
		sbuf_init(&r->body, r->s->cfg.max_content);
	else if (r->route->body == SRV_BODY_WATCH)
		sbuf_init(&r->body, SRV_WATCH_BODY);
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
	} else if ((err = srv_authorize(r, &why))) {
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
	srv_params_free(r);
	cfgkey_release(&r->key);
	sbuf_release(&r->body);
	sbuf_release(&r->labels);
	free(r->instance);
	if (r->wr)
		free(r->wr->message);
	free(r->wr);
	free(r->path);
	free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	srv_req *r = *req_cls;

	(void)version;
	if (!r) /* the URI logger always runs first; this is only a safety net */
		*req_cls = r = on_uri(cls, url, conn);
	if (!r->method) {
		req_start(r, method);
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* Past the cap, keep reading but drop the bytes: the answer is a 413
		 * once the upload ends, and nothing is stored. */
		if (!r->body_too_big && sbuf_add(&r->body, upload_data, *upload_data_size))
			r->body_too_big = 1;
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
	(void)toe;
	if (!r)
		return;
	if (r->was_held) {
		/* waiter is cleared under s->mu by the hub's callback; it is still
		 * set only if libmicrohttpd dropped a held connection itself. */
		pthread_mutex_lock(&s->mu);
		if (r->waiter)
			watch_cancel(s->hub, r->waiter);
		r->waiter = NULL;
		pthread_mutex_unlock(&s->mu);
	}
	if (r->status)
		metrics_response(s->m, r->status,
				 r->was_held ? UINT64_MAX : clock_mono_us() - r->start_us);
	req_free(r);
	*req_cls = NULL;
	atomic_fetch_sub(&s->inflight, 1);
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
	pthread_cond_init(&s->notice_cond, &ca);
	pthread_cond_init(&s->prune_cond, &ca);
	pthread_condattr_destroy(&ca);
	return HC_OK;
}

hc_err srv_start(const srv_config *cfg, srv **out)
{
	srv *s = xcalloc(1, sizeof(*s));
	sbuf dbpath = SBUF_INIT(SBUF_NOMAX);
	unsigned port = 0, limit;
	hc_err err;
	int rc;

	*out = NULL;
	s->cfg = *cfg;
	s->listen_fd = -1;
	s->timer_at = UINT64_MAX;
	s->notices_tail = &s->notices;
	init_sync(s);
	s->hub = watch_hub_new();
	s->m = metrics_new();
	s->cache = respcache_new();
	/* Bind first: a bad --listen should not leave a data directory behind. */
	if ((err = listen_socket(cfg->listen, &s->listen_fd, &port)))
		goto fail;
	if (mkdir(cfg->data_dir, 0750) && errno != EEXIST) {
		hc_log("cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
		err = HC_ERR_IO;
		goto fail;
	}
	sbuf_addf(&dbpath, "%s/hotconf.db", cfg->data_dir);
	if ((err = store_open(dbpath.buf, &s->st)))
		goto fail;
	/* The feed's subscribers: cached responses go stale first, then the
	 * watchers are woken; both hear of every change, whatever caused it. */
	store_subscribe(s->st, respcache_on_change, s->cache);
	store_subscribe(s->st, srv_on_change, s);
	if ((err = srv_timer_start(s)))
		goto fail;
	rc = pthread_create(&s->prune_thread, NULL, prune_main, s);
	if (rc) {
		hc_log("cannot start the pruner thread: %s", strerror(rc));
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	s->prune_started = 1;
	limit = connection_limit();
	/* The logger must come first, or earlier options log to stderr raw. */
	/* clang-format off */
	s->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
		MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->conn_memory,
		MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)1024,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	/* clang-format on */
	if (!s->d) {
		hc_log("cannot start the HTTP daemon on %s", cfg->listen);
		err = HC_ERR_IO;
		goto fail;
	}
	if (cfg->port_file && (err = write_port_file(cfg->port_file, port)))
		goto fail;
	hc_log("serving on %s (port %u), data in %s, up to %u connections", cfg->listen, port,
	       cfg->data_dir, limit);
	sbuf_release(&dbpath);
	*out = s;
	return HC_OK;
fail:
	sbuf_release(&dbpath);
	srv_stop(s);
	return err;
}

/* Waits up to ms for requests in flight (answers being sent) to finish. */
static void drain(srv *s, uint64_t ms)
{
	uint64_t until = clock_mono_ms() + ms;
	struct timespec pause = {0, 5 * 1000000L};

	while (atomic_load(&s->inflight) > 0 && clock_mono_ms() < until)
		nanosleep(&pause, NULL);
	/* A write still committing holds a suspended connection that its
	 * callback will resume: the daemon must outlive that, however slow the
	 * disk. The store finishes or fails every queued write. */
	while (atomic_load(&s->writes) > 0)
		nanosleep(&pause, NULL);
}

void srv_stop(srv *s)
{
	size_t closed;

	if (!s)
		return;
	if (s->d) {
		/* Once quiesced, the listening socket is ours again to close. */
		s->listen_fd = MHD_quiesce_daemon(s->d);
		/* Answer every held watch (304) before the daemon stops: a suspended
		 * connection must be resumed first, and clients deserve an answer. */
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		closed = watch_close_all(s->hub);
		pthread_mutex_unlock(&s->mu);
		if (closed)
			hc_log("answered %zu held watches", closed);
		drain(s, 5000);
		MHD_stop_daemon(s->d);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	srv_timer_stop(s);
	if (s->prune_started) {
		pthread_mutex_lock(&s->prune_mu);
		s->prune_stop = 1;
		pthread_cond_signal(&s->prune_cond);
		pthread_mutex_unlock(&s->prune_mu);
		pthread_join(s->prune_thread, NULL);
	}
	store_close(s->st);
	watch_hub_free(s->hub);
	respcache_free(s->cache);
	metrics_free(s->m);
	pthread_cond_destroy(&s->notice_cond);
	pthread_mutex_destroy(&s->notice_mu);
	pthread_cond_destroy(&s->prune_cond);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->prune_mu);
	free(s);
}
