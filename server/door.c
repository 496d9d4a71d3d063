/*
 * door.c: see door.h.
 *
 * The door thread runs one epoll loop over the listening socket, an eventfd
 * (stop), and every pending connection (accepted, head not yet whole). A
 * pending connection is read with MSG_PEEK only, so the bytes stay in the
 * socket for libmicrohttpd to read once it is handed over; it is watched
 * edge-triggered, so unread bytes do not make epoll spin. Every pending
 * connection gets the same read deadline from its accept, so the pending
 * list, appended at accept, is also ordered by deadline. Once a second the
 * loop sweeps the connections libmicrohttpd serves for one whose next
 * request head is late, and shuts its socket down (libmicrohttpd then sees
 * the end of the stream and closes it; the door_conn lives until then, and
 * libmicrohttpd calls door_conn_closed before it closes the socket, so a
 * shutdown can never reach a reused descriptor).
 *
 * The HTTP workers are threads of ours too, one per libmicrohttpd daemon,
 * each running its daemon in libmicrohttpd's external-epoll mode: wait on
 * the daemon's epoll descriptor and the worker's eventfd, then MHD_run. Not
 * libmicrohttpd's own threads (MHD_USE_EPOLL_INTERNAL_THREAD), because
 * 0.9.75's MHD_epoll drains its epoll set in batches of MAX_EVENTS (128)
 * with `while (MAX_EVENTS == num_events) epoll_wait (..., timeout_ms)`,
 * where timeout_ms was computed before the first batch: when exactly 128
 * (or 256, ...) connections are ready, the call after the last full batch
 * blocks, up to the earliest connection timeout (30 s), while the requests
 * of those 128 sit fetched but unprocessed in its ready list. Heads handed
 * over together, or next requests of kept-alive connections that arrive
 * together (watchers re-arming after a wake), went unread until the sweep
 * below shut their sockets down. MHD_run passes 0 ms, so every batch call
 * returns at once and the loop ends; the worker waits in its own poll,
 * which sees the same epoll descriptor. libmicrohttpd is not thread-safe
 * in this mode, so a worker adds the connections handed to it itself (its
 * inbox), and MHD_resume_connection, defined below, wakes the connection's
 * worker: MHD_run looks for resumed connections only before its first
 * epoll_wait, which may clear libmicrohttpd's own wake-up (its ITC), so
 * that alone could leave a resumed connection waiting.
 *
 * Locks: lock guards the address counts, the served list, the counts of
 * connections and the workers' inboxes; it is taken alone.
 */
#include "door.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "hc_log.h"
#include "hmap.h"
#include "http_status.h"
#include "srv_internal.h"
#include "xmalloc.h"

/* The sweep visits at most SWEEP_BATCH served connections every SWEEP_MS,
 * from where it stopped: a late head is closed within the deadline plus one
 * round of the list, and no single sweep walks thousands of connections
 * while a wake-up of thousands of watchers is in progress. */
#define SWEEP_MS 100
#define SWEEP_BATCH 512
#define MAX_EVENTS 64

/* An accepted connection whose first head has not arrived whole. */
typedef struct pending {
	struct pending *prev, *next;
	int fd;
	struct sockaddr_storage addr;
	socklen_t alen;
	char ip[INET6_ADDRSTRLEN];
	uint64_t deadline;
} pending;

/* An HTTP worker: one libmicrohttpd daemon and the thread that runs it. */
typedef struct worker {
	door *dr;
	struct MHD_Daemon *d;
	pthread_t th;
	int started;
	int epfd;	      /* the daemon's; libmicrohttpd owns it */
	int evfd;	      /* a hand-over, a resume, or stop */
	pending *in, *in_end; /* under dr->lock: handed over, not yet added */
} worker;

struct door_conn {
	struct door_conn *prev, *next;
	worker *w; /* whose daemon serves it */
	int fd;
	char ip[INET6_ADDRSTRLEN];
	atomic_uint_fast64_t reading_since; /* ms; 0 while a request is in hand */
	int swept;			    /* shut down once already */
	size_t pool;			    /* its libmicrohttpd memory, bytes */
};

struct door {
	door_config cfg;
	worker *w;		  /* nw for the main daemons, then nw for the watch ones */
	unsigned nw, nwd;	  /* main workers; watch workers (0 or nw) */
	unsigned next_w, next_wd; /* door thread only: round robin */
	atomic_int w_stop;
	int listen_fd, ep, evfd;
	pthread_t th;
	int started;
	atomic_int stop;
	pending *head, *tail; /* door thread only */
	char *buf;	      /* door thread only: a peek buffer of max_head + 1 */

	pthread_mutex_t lock;
	hmap *per_ip;  /* ip -> count (as a pointer-sized integer) */
	unsigned open; /* pending + served */
	door_conn *served;
	door_conn *cursor; /* where the sweep goes on from; NULL: the head */
};

/* ---- address counts (under lock) ---- */

static unsigned ip_count(door *dr, const char *ip)
{
	return (unsigned)(uintptr_t)hmap_get(dr->per_ip, ip, strlen(ip));
}

static void ip_add(door *dr, const char *ip, int delta)
{
	size_t n = strlen(ip);
	uintptr_t c = (uintptr_t)hmap_get(dr->per_ip, ip, n);

	c = (uintptr_t)((intptr_t)c + delta);
	if (c)
		hmap_put(dr->per_ip, ip, n, (void *)c);
	else
		hmap_del(dr->per_ip, ip, n);
}

/* Forgets one open connection from ip. */
static void release(door *dr, const char *ip)
{
	pthread_mutex_lock(&dr->lock);
	ip_add(dr, ip, -1);
	dr->open--;
	pthread_mutex_unlock(&dr->lock);
}

/* ---- answers given here ---- */

static void peer_ip(const struct sockaddr_storage *ss, char ip[INET6_ADDRSTRLEN])
{
	ip[0] = '\0';
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip,
			  INET6_ADDRSTRLEN);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip,
			  INET6_ADDRSTRLEN);
}

/* Answers err in JSON and closes fd. Best effort: the socket is fresh, so a
 * short answer fits its send buffer; a client that is gone just misses it. */
static void refuse(door *dr, int fd, hc_err err, const char *msg)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX), out = SBUF_INIT(SBUF_NOMAX);
	unsigned status = srv_http_status(err);
	ssize_t n;

	srv_error_body(&body, err, msg);
	sbuf_addf(&out,
		  "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nCache-Control: "
		  "no-store\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
		  status, MHD_get_reason_phrase_for(status),
		  err == HC_ERR_RATE_LIMIT || err == HC_ERR_UNAVAILABLE ? "Retry-After: 1\r\n" : "",
		  body.len);
	sbuf_add(&out, body.buf, body.len);
	n = send(fd, out.buf, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
	/* Read what the client sent so the close is a FIN, not a reset that
	 * could destroy the answer in flight. */
	shutdown(fd, SHUT_WR);
	while (recv(fd, dr->buf, dr->cfg.head.max_head + 1, MSG_DONTWAIT) > 0)
		;
	close(fd);
	metrics_response(dr->cfg.m, status, UINT64_MAX);
	sbuf_release(&body);
	sbuf_release(&out);
}

/* ---- pending connections (door thread) ---- */

static void pending_unlink(door *dr, pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		dr->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		dr->tail = p->prev;
	epoll_ctl(dr->ep, EPOLL_CTL_DEL, p->fd, NULL);
}

/* Drops p: answers err (unless err is HC_OK: the client left) and closes. */
static void pending_drop(door *dr, pending *p, hc_err err, const char *msg)
{
	pending_unlink(dr, p);
	if (err)
		refuse(dr, p->fd, err, msg);
	else
		close(p->fd);
	release(dr, p->ip);
	free(p);
}

static void worker_wake(worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->evfd, &one, sizeof(one));

	(void)n; /* EAGAIN: the counter is full, so the worker wakes anyway */
}

/* Queues p for a worker of the main daemons (watch: of the watch ones),
 * round robin; the worker adds it to its daemon. */
static void hand_over(door *dr, pending *p, int watch)
{
	worker *w =
	    watch ? &dr->w[dr->nw + dr->next_wd++ % dr->nwd] : &dr->w[dr->next_w++ % dr->nw];

	pending_unlink(dr, p);
	p->next = NULL;
	pthread_mutex_lock(&dr->lock);
	if (w->in_end)
		w->in_end->next = p;
	else
		w->in = p;
	w->in_end = p;
	pthread_mutex_unlock(&dr->lock);
	worker_wake(w);
}

/* Looks at what p has sent so far; hup: the client will send no more. */
static void pending_read(door *dr, pending *p, int hup)
{
	size_t cap = dr->cfg.head.max_head + 1, end;
	sbuf why = SBUF_INIT(1024);
	ssize_t n;
	hc_err err;

	n = recv(p->fd, dr->buf, cap, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		pending_drop(dr, p, HC_OK, NULL); /* gone before its request */
		return;
	}
	end = head_end(dr->buf, (size_t)n);
	if (!end && (size_t)n < cap) {
		if (hup) /* half a head, and the client is done sending */
			pending_drop(dr, p, HC_ERR_INVALID, "the request head ended early");
		return; /* wait for the rest */
	}
	if (!end && !memchr(dr->buf, '\n', (size_t)n)) {
		/* Not even the request line fits: say which part is too long. */
		sbuf_addf(&why, "the request target is longer than %zu bytes",
			  dr->cfg.head.max_target);
		pending_drop(dr, p, HC_ERR_URI_TOO_LONG, why.buf);
		sbuf_release(&why);
		return;
	}
	err = head_check(dr->buf, end ? end : (size_t)n, &dr->cfg.head, &why);
	if (err)
		pending_drop(dr, p, err, why.buf);
	else
		hand_over(dr, p,
			  dr->nwd && end <= dr->cfg.watch_head && head_is_watch(dr->buf, end));
	sbuf_release(&why);
}

/* Accepts everything waiting; refuses at once what is over a limit. */
static void accept_all(door *dr)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct epoll_event ev;
		char ip[INET6_ADDRSTRLEN], msg[160];
		hc_err err = HC_OK;
		pending *p;
		int fd = accept(dr->listen_fd, (struct sockaddr *)&ss, &sl);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				hc_log("accept: %s", strerror(errno));
			return; /* EAGAIN: all taken; else try at the next event */
		}
		/* accept4 is not POSIX; two fcntls are. */
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC)) {
			close(fd);
			continue;
		}
		peer_ip(&ss, ip);
		pthread_mutex_lock(&dr->lock);
		if (dr->open >= dr->cfg.max_conns) {
			err = HC_ERR_UNAVAILABLE;
			snprintf(msg, sizeof(msg), "the server holds its limit of %u connections",
				 dr->cfg.max_conns);
		} else if (dr->cfg.max_per_client && ip_count(dr, ip) >= dr->cfg.max_per_client) {
			err = HC_ERR_RATE_LIMIT;
			snprintf(msg, sizeof(msg),
				 "%s holds %u connections, the most one address may "
				 "(--max-client-connections)",
				 ip, dr->cfg.max_per_client);
		} else {
			ip_add(dr, ip, 1);
			dr->open++;
		}
		pthread_mutex_unlock(&dr->lock);
		if (err) {
			refuse(dr, fd, err, msg);
			continue;
		}
		p = xcalloc(1, sizeof(*p));
		p->fd = fd;
		p->addr = ss;
		p->alen = sl;
		memcpy(p->ip, ip, sizeof(ip));
		p->deadline = clock_mono_ms() + dr->cfg.read_deadline_ms;
		p->prev = dr->tail;
		if (dr->tail)
			dr->tail->next = p;
		else
			dr->head = p;
		dr->tail = p;
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = p;
		if (epoll_ctl(dr->ep, EPOLL_CTL_ADD, fd, &ev)) {
			pending_drop(dr, p, HC_ERR_UNAVAILABLE, "cannot watch the connection");
			continue;
		}
		if (dr->cfg.tls)
			hand_over(dr, p, 0); /* the head is inside TLS: libmicrohttpd reads it */
		else
			pending_read(dr, p, 0); /* the head may be there already */
	}
}

static void expire(door *dr, uint64_t now)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "the request head did not arrive within %llu ms",
		 (unsigned long long)dr->cfg.read_deadline_ms);
	while (dr->head && dr->head->deadline <= now)
		pending_drop(dr, dr->head, HC_ERR_TIMEOUT, msg);
}

/* Closes served connections whose next head is later than the deadline,
 * SWEEP_BATCH of them at a time. */
static void sweep(door *dr, uint64_t now)
{
	door_conn *c;
	int n;

	pthread_mutex_lock(&dr->lock);
	c = dr->cursor ? dr->cursor : dr->served;
	for (n = 0; c && n < SWEEP_BATCH; c = c->next, n++) {
		uint64_t since = atomic_load_explicit(&c->reading_since, memory_order_relaxed);
		if (since && !c->swept && now - since >= dr->cfg.read_deadline_ms) {
			c->swept = 1;
			shutdown(c->fd, SHUT_RDWR);
		}
	}
	dr->cursor = c;
	pthread_mutex_unlock(&dr->lock);
}

static void *door_main(void *arg)
{
	door *dr = arg;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_sweep = clock_mono_ms() + SWEEP_MS;

	while (!atomic_load(&dr->stop)) {
		uint64_t now = clock_mono_ms(), until = next_sweep;
		int i, n, timeout;

		if (dr->head && dr->head->deadline < until)
			until = dr->head->deadline;
		timeout = until > now ? (int)(until - now) : 0;
		n = epoll_wait(dr->ep, evs, MAX_EVENTS, timeout);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &dr->listen_fd)
				accept_all(dr);
			else if (evs[i].data.ptr != &dr->evfd)
				pending_read(
				    dr, evs[i].data.ptr,
				    !!(evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)));
		}
		now = clock_mono_ms();
		expire(dr, now);
		if (now >= next_sweep) {
			sweep(dr, now);
			next_sweep = now + SWEEP_MS;
		}
	}
	return NULL;
}

/* ---- HTTP workers ---- */

/* The worker running on this thread, for door_conn_started. */
static _Thread_local worker *this_worker;

/* Adds what was handed to w to its daemon. */
static void adopt(worker *w)
{
	pending *p, *next;

	pthread_mutex_lock(&w->dr->lock);
	p = w->in;
	w->in = w->in_end = NULL;
	pthread_mutex_unlock(&w->dr->lock);
	for (; p; p = next) {
		next = p->next;
		/* libmicrohttpd closes the socket itself when it cannot take it. */
		if (MHD_add_connection(w->d, p->fd, (const struct sockaddr *)&p->addr, p->alen) !=
		    MHD_YES)
			release(w->dr, p->ip);
		free(p);
	}
}

/*
 * The worker's loop. Its eventfd is read before the inbox is taken and
 * before MHD_run, so a hand-over or a resume that comes later writes it
 * again and the next poll returns at once.
 */
static void *worker_main(void *arg)
{
	worker *w = arg;
	struct pollfd pf[2];
	uint64_t v;
	ssize_t n;

	this_worker = w;
	pf[0].fd = w->epfd;
	pf[0].events = POLLIN;
	pf[1].fd = w->evfd;
	pf[1].events = POLLIN;
	while (!atomic_load(&w->dr->w_stop)) {
		MHD_UNSIGNED_LONG_LONG left;
		int ms = -1;

		if (MHD_get_timeout(w->d, &left) == MHD_YES)
			ms = left > INT_MAX ? INT_MAX : (int)left;
		if (poll(pf, 2, ms) < 0 && errno != EINTR && errno != ENOMEM) {
			/* A worker that stopped would leave its connections unread. */
			hc_log("HTTP worker: poll: %s", strerror(errno));
			abort();
		}
		if (pf[1].revents & POLLIN) {
			n = read(w->evfd, &v, sizeof(v));
			(void)n;
		}
		adopt(w);
		MHD_run(w->d);
	}
	return NULL;
}

/* Starts a worker for each daemon of d[0..n) (their own now). */
static int workers_start(door *dr, struct MHD_Daemon *const *d, unsigned n, unsigned from)
{
	unsigned i;
	int rc;

	for (i = 0; i < n; i++) {
		worker *w = &dr->w[from + i];

		w->dr = dr;
		w->d = d[i];
	}
	for (i = 0; i < n; i++) {
		worker *w = &dr->w[from + i];
		const union MHD_DaemonInfo *ei =
		    MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);

		if (!ei || ei->epoll_fd < 0) {
			errno = EINVAL; /* not an MHD_USE_EPOLL daemon */
			return -1;
		}
		w->epfd = ei->epoll_fd;
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->evfd < 0)
			return -1;
		rc = pthread_create(&w->th, NULL, worker_main, w);
		if (rc) {
			errno = rc;
			return -1;
		}
		w->started = 1;
	}
	return 0;
}

void door_http_stop(door *dr)
{
	unsigned i;

	if (!dr)
		return;
	atomic_store(&dr->w_stop, 1);
	for (i = 0; i < dr->nw + dr->nwd; i++)
		if (dr->w[i].started)
			worker_wake(&dr->w[i]);
	for (i = 0; i < dr->nw + dr->nwd; i++) {
		worker *w = &dr->w[i];

		if (w->started)
			pthread_join(w->th, NULL);
		w->started = 0;
		/* Handed over as the server stopped: nobody will answer them. */
		while (w->in) {
			pending *p = w->in;

			w->in = p->next;
			close(p->fd);
			release(dr, p->ip);
			free(p);
		}
		w->in_end = NULL;
		/* With the worker gone this thread may run it: held watches were
		 * answered and writes drained before (srv_stop). */
		if (w->d)
			MHD_stop_daemon(w->d);
		w->d = NULL;
	}
}

/* Every connection's socket context is its door_conn (srv.c's
 * NOTIFY_CONNECTION), which names its worker. */
typedef void (*resume_fn)(struct MHD_Connection *);

static resume_fn real_resume;
static pthread_once_t resume_once = PTHREAD_ONCE_INIT;

static void find_resume(void)
{
	/* As in mhd_errors.c: glibc defines the conversion. */
	*(void **)&real_resume = dlsym(RTLD_NEXT, "MHD_resume_connection");
}

/*
 * libmicrohttpd's MHD_resume_connection, then a wake-up of the connection's
 * worker (see the top of this file). This definition, in the executable,
 * is the one every caller of ours links to (ELF symbol interposition, as in
 * mhd_errors.c). The worker is read before the resume: once resumed, the
 * connection may be answered and closed, and its door_conn freed, at once.
 */
void MHD_resume_connection(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const door_conn *dc = ci ? ci->socket_context : NULL;
	worker *w = dc ? dc->w : NULL;

	pthread_once(&resume_once, find_resume);
	real_resume(c);
	if (w)
		worker_wake(w);
}

hc_err door_start(const door_config *cfg, int listen_fd, struct MHD_Daemon *const *d,
		  struct MHD_Daemon *const *watch_d, unsigned n, door **out)
{
	door *dr = xcalloc(1, sizeof(*dr));
	struct epoll_event ev;
	unsigned i;
	int rc;

	*out = NULL;
	dr->cfg = *cfg;
	dr->nw = n;
	dr->nwd = watch_d ? n : 0;
	dr->w = xcalloc(dr->nw + dr->nwd, sizeof(*dr->w));
	for (i = 0; i < dr->nw + dr->nwd; i++)
		dr->w[i].evfd = -1;
	dr->listen_fd = listen_fd;
	dr->ep = dr->evfd = -1;
	dr->buf = xmalloc(cfg->head.max_head + 1);
	dr->per_ip = hmap_new();
	pthread_mutex_init(&dr->lock, NULL);
	if (workers_start(dr, d, n, 0) || (watch_d && workers_start(dr, watch_d, n, n)))
		goto fail;
	dr->ep = epoll_create1(EPOLL_CLOEXEC);
	dr->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dr->ep < 0 || dr->evfd < 0)
		goto fail;
	if (fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK))
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &dr->listen_fd;
	if (epoll_ctl(dr->ep, EPOLL_CTL_ADD, listen_fd, &ev))
		goto fail;
	ev.data.ptr = &dr->evfd;
	if (epoll_ctl(dr->ep, EPOLL_CTL_ADD, dr->evfd, &ev))
		goto fail;
	rc = pthread_create(&dr->th, NULL, door_main, dr);
	if (rc) {
		errno = rc;
		goto fail;
	}
	dr->started = 1;
	*out = dr;
	return HC_OK;
fail:
	hc_log("cannot start the front door: %s", strerror(errno));
	door_stop(dr);
	door_http_stop(dr);
	door_free(dr);
	return HC_ERR_INTERNAL;
}

void door_stop(door *dr)
{
	uint64_t one = 1;
	ssize_t n;

	if (!dr)
		return;
	if (dr->started) {
		atomic_store(&dr->stop, 1);
		n = write(dr->evfd, &one, sizeof(one));
		(void)n;
		pthread_join(dr->th, NULL);
		dr->started = 0;
	}
	/* Connections that never sent a whole head get no answer: the server
	 * is going away. */
	while (dr->head)
		pending_drop(dr, dr->head, HC_OK, NULL);
	if (dr->listen_fd >= 0)
		close(dr->listen_fd);
	dr->listen_fd = -1;
}

static void free_nothing(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx;
	(void)key;
	(void)klen;
	(void)val;
}

void door_free(door *dr)
{
	unsigned i;

	if (!dr)
		return;
	for (i = 0; i < dr->nw + dr->nwd; i++)
		if (dr->w[i].evfd >= 0)
			close(dr->w[i].evfd);
	free(dr->w);
	if (dr->ep >= 0)
		close(dr->ep);
	if (dr->evfd >= 0)
		close(dr->evfd);
	hmap_foreach(dr->per_ip, free_nothing, NULL); /* the values are counts */
	hmap_free(dr->per_ip);
	pthread_mutex_destroy(&dr->lock);
	free(dr->buf);
	free(dr);
}

/* ---- connections libmicrohttpd serves ---- */

size_t door_conn_pool(const door_conn *dc)
{
	return dc->pool;
}

door_conn *door_conn_started(door *dr, struct MHD_Connection *c, size_t pool)
{
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	door_conn *dc = xcalloc(1, sizeof(*dc));
	struct sockaddr_storage ss;

	dc->fd = fi ? fi->connect_fd : -1;
	dc->w = this_worker; /* it is adding c (adopt) */
	dc->pool = pool;
	memset(&ss, 0, sizeof(ss));
	if (ai && ai->client_addr)
		memcpy(&ss, ai->client_addr,
		       ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							      : sizeof(struct sockaddr_in));
	peer_ip(&ss, dc->ip);
	/* Its head is whole already (the door checked it before handing over),
	 * but under TLS it is yet to come. */
	atomic_init(&dc->reading_since, dr->cfg.tls ? clock_mono_ms() : 0);
	pthread_mutex_lock(&dr->lock);
	dc->next = dr->served;
	if (dr->served)
		dr->served->prev = dc;
	dr->served = dc;
	pthread_mutex_unlock(&dr->lock);
	return dc;
}

void door_conn_closed(door *dr, door_conn *dc)
{
	if (!dc)
		return;
	pthread_mutex_lock(&dr->lock);
	if (dr->cursor == dc)
		dr->cursor = dc->next;
	if (dc->prev)
		dc->prev->next = dc->next;
	else
		dr->served = dc->next;
	if (dc->next)
		dc->next->prev = dc->prev;
	ip_add(dr, dc->ip, -1);
	dr->open--;
	pthread_mutex_unlock(&dr->lock);
	free(dc);
}

/* Relaxed: the sweep only needs to see the value eventually, and the
 * request path should not pay for a fence. */
void door_conn_busy(door_conn *dc)
{
	if (dc)
		atomic_store_explicit(&dc->reading_since, 0, memory_order_relaxed);
}

void door_conn_idle(door_conn *dc, uint64_t now_ms)
{
	if (dc)
		atomic_store_explicit(&dc->reading_since, now_ms ? now_ms : 1,
				      memory_order_relaxed);
}
