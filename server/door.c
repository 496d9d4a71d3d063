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
 * Locks: lock guards the address counts, the served list and the counts of
 * connections; it is taken alone.
 */
#include "door.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

struct door_conn {
	struct door_conn *prev, *next;
	int fd;
	char ip[INET6_ADDRSTRLEN];
	atomic_uint_fast64_t reading_since; /* ms; 0 while a request is in hand */
	int swept;			    /* shut down once already */
	size_t pool;			    /* its libmicrohttpd memory, bytes */
};

struct door {
	door_config cfg;
	struct MHD_Daemon *d, *watch_d; /* watch_d: long polls, smaller pools */
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

static void hand_over(door *dr, pending *p, struct MHD_Daemon *d)
{
	pending_unlink(dr, p);
	/* libmicrohttpd closes the socket itself when it cannot take it. */
	if (MHD_add_connection(d, p->fd, (const struct sockaddr *)&p->addr, p->alen) != MHD_YES)
		release(dr, p->ip);
	free(p);
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
	else if (dr->watch_d && end <= dr->cfg.watch_head && head_is_watch(dr->buf, end))
		hand_over(dr, p, dr->watch_d);
	else
		hand_over(dr, p, dr->d);
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
			hand_over(dr, p,
				  dr->d); /* the head is inside TLS: libmicrohttpd reads it */
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

hc_err door_start(const door_config *cfg, int listen_fd, struct MHD_Daemon *d,
		  struct MHD_Daemon *watch_d, door **out)
{
	door *dr = xcalloc(1, sizeof(*dr));
	struct epoll_event ev;
	int rc;

	*out = NULL;
	dr->cfg = *cfg;
	dr->d = d;
	dr->watch_d = watch_d;
	dr->listen_fd = listen_fd;
	dr->evfd = -1;
	dr->buf = xmalloc(cfg->head.max_head + 1);
	dr->per_ip = hmap_new();
	pthread_mutex_init(&dr->lock, NULL);
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
	if (!dr)
		return;
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
