/*
 * net.c: hcload's connections. Non-blocking TCP sockets on one level-
 * triggered epoll set; each connection sends one request at a time (keep-
 * alive, never pipelined) and hl_net_wait turns socket activity into events:
 * response headers in (how a held etcd watch shows it is parked), a whole
 * response in, or the connection gone.
 *
 * Watchers are spread over the source addresses 127.0.0.2, 127.0.0.3, ...,
 * --per-source each, so a single source never runs out of its ~28k
 * ephemeral ports. Single-threaded.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hcload.h"
#include "xmalloc.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* Linux 4.2 */
#endif

#define MAX_SOURCES 250 /* 127.0.0.2 .. 127.0.0.251 */
#define BATCH 1024	/* epoll events per wait */
#define SCRATCH (64u << 10)

struct hl_net {
	int ep;
	struct sockaddr_in addr;
	long per_source;
	long src_count[MAX_SOURCES];
	long open;
	struct epoll_event evs[BATCH];
	char scratch[SCRATCH];
};

hl_net *hl_net_new(const hl_opts *o)
{
	hl_net *net = xcalloc(1, sizeof(*net));

	net->addr = o->addr;
	net->per_source = o->per_source > 0 ? o->per_source : 10000;
	net->ep = epoll_create1(EPOLL_CLOEXEC);
	if (net->ep < 0) {
		free(net);
		return NULL;
	}
	return net;
}

void hl_net_free(hl_net *net)
{
	if (!net)
		return;
	close(net->ep);
	free(net);
}

long hl_net_open_count(const hl_net *net)
{
	return net->open;
}

void hl_conn_init(hl_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->src = -1;
	sbuf_init(&c->out, SBUF_NOMAX);
	sbuf_init(&c->in, HL_MAX_RESPONSE);
	sbuf_init(&c->body, HL_MAX_RESPONSE);
}

void hl_conn_release(hl_net *net, hl_conn *c)
{
	if (c->state != HL_CLOSED)
		hl_conn_close(net, c, 1);
	sbuf_release(&c->out);
	sbuf_release(&c->in);
	sbuf_release(&c->body);
}

static int pick_source(hl_net *net)
{
	int i;

	for (i = 0; i < MAX_SOURCES; i++)
		if (net->src_count[i] < net->per_source)
			return i;
	return -1;
}

/* Sets the epoll interest: out while connecting or while a request is
 * partly written. */
static int set_interest(hl_net *net, hl_conn *c, int op)
{
	struct epoll_event ev;
	int want_out = c->state == HL_CONNECTING || c->out_off < c->out.len;

	if (op == EPOLL_CTL_MOD && want_out == c->ev_out)
		return 0; /* unchanged: spare the syscall */
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(net->ep, op, c->fd, &ev))
		return -1;
	c->ev_out = want_out;
	return 0;
}

int hl_conn_open(hl_net *net, hl_conn *c, int use_src)
{
	struct sockaddr_in src;
	int fd, one = 1, rc, s = -1;

	if (c->state != HL_CLOSED)
		hl_conn_close(net, c, 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (use_src) {
		s = pick_source(net);
		if (s < 0) {
			errno = EADDRNOTAVAIL;
			goto fail;
		}
		/* Choose the port at connect(), not bind(): then a port only has to
		 * be unique per (source, destination), not per source. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)s);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
			goto fail;
	}
	rc = connect(fd, (struct sockaddr *)&net->addr, sizeof(net->addr));
	if (rc && errno != EINPROGRESS)
		goto fail;
	c->fd = fd;
	c->state = rc ? HL_CONNECTING : HL_OPEN;
	c->out_off = c->out.len = 0;
	c->busy = 0;
	c->in_body = 0;
	sbuf_reset(&c->in);
	if (set_interest(net, c, EPOLL_CTL_ADD))
		goto fail;
	c->src = s;
	if (s >= 0)
		net->src_count[s]++;
	net->open++;
	return 0;
fail:
	c->err = errno;
	if (fd >= 0)
		close(fd);
	c->fd = -1;
	c->state = HL_CLOSED;
	return -1;
}

void hl_conn_close(hl_net *net, hl_conn *c, int rst)
{
	if (c->state == HL_CLOSED)
		return;
	if (rst) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd); /* also leaves the epoll set: the fd is never shared */
	if (c->src >= 0)
		net->src_count[c->src]--;
	net->open--;
	c->fd = -1;
	c->src = -1;
	c->state = HL_CLOSED;
	c->busy = 0;
	c->in_body = 0;
	sbuf_reset(&c->in);
}

/* Writes what the socket takes; -1 (and c closed) on failure. */
static int flush(hl_net *net, hl_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n;

		if (c->out_off == 0)
			c->t_sent = hl_now_us();
		n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->err = n < 0 ? errno : EPIPE;
		hl_conn_close(net, c, 1);
		return -1;
	}
	if (set_interest(net, c, EPOLL_CTL_MOD)) {
		c->err = errno;
		hl_conn_close(net, c, 1);
		return -1;
	}
	return 0;
}

int hl_conn_send(hl_net *net, hl_conn *c, const char *req, size_t n)
{
	if (c->state == HL_CLOSED) {
		c->err = ENOTCONN;
		return -1;
	}
	sbuf_reset(&c->out);
	sbuf_add(&c->out, req, n);
	c->out_off = 0;
	c->busy = 1;
	c->in_body = 0;
	memset(&c->resp, 0, sizeof(c->resp));
	c->t_sent = hl_now_us();
	if (c->state == HL_CONNECTING)
		return 0; /* written once connected */
	return flush(net, c);
}

/* Parses what has come of the response in progress. Returns 1 complete, 0
 * incomplete, -1 malformed; *used is how many bytes of buf it consumed: the
 * head once parsed (it lives on in c->resp), and the body once complete. An
 * incomplete body is parsed again from its start when more bytes come. */
static int parse(hl_conn *c, const char *buf, size_t len, int eof, size_t *used, int *new_head)
{
	int rc;

	*used = 0;
	*new_head = 0;
	if (!c->in_body) {
		rc = hl_http_head(buf, len, &c->resp);
		if (rc <= 0)
			return rc;
		c->in_body = 1;
		*new_head = 1;
		*used = c->resp.hdr_len;
	}
	sbuf_reset(&c->body);
	rc = hl_http_body(buf + *used, len - *used, eof, &c->resp, c->keep_body ? &c->body : NULL);
	if (rc == 1)
		*used += c->resp.body_used;
	return rc;
}

/* Reads once; returns 1 and sets *kind when there is an event. */
static int on_readable(hl_net *net, hl_conn *c, enum hl_ev_kind *kind)
{
	ssize_t n = recv(c->fd, net->scratch, SCRATCH, 0);
	const char *data = net->scratch;
	size_t len, used;
	int eof = n == 0, rc, new_head;

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		c->err = errno;
		goto closed;
	}
	/* Most responses arrive in one read, and a held etcd watch's body comes
	 * in one read after its head: parse straight from the scratch buffer
	 * and keep only the bytes of an incomplete body (or head). */
	if (c->in.len) {
		if (sbuf_add(&c->in, net->scratch, (size_t)n)) {
			c->err = EMSGSIZE;
			goto closed;
		}
		data = c->in.buf;
	}
	len = c->in.len ? c->in.len : (size_t)n;
	if (len == 0 && (!eof || !c->in_body)) {
		c->err = c->busy ? ECONNRESET : 0;
		goto closed;
	}
	rc = parse(c, data, len, eof, &used, &new_head);
	if (rc < 0) {
		c->err = EPROTO;
		goto closed;
	}
	/* Keep what was not consumed. Bytes past a complete response (never
	 * expected: we do not pipeline) wait for the next request. */
	if (data == net->scratch) {
		sbuf_add(&c->in, data + used, len - used);
	} else if (used) {
		memmove(c->in.buf, c->in.buf + used, len - used);
		c->in.len = len - used;
		c->in.buf[c->in.len] = '\0';
	}
	if (rc == 0) {
		if (eof) {
			c->err = ECONNRESET;
			goto closed;
		}
		if (new_head) {
			*kind = HL_EV_HEADERS;
			return 1;
		}
		return 0;
	}
	c->t_done = hl_now_us();
	c->busy = 0;
	c->in_body = 0;
	if (c->resp.close || eof)
		hl_conn_close(net, c, 0);
	*kind = HL_EV_RESPONSE;
	return 1;
closed:
	hl_conn_close(net, c, c->err != 0);
	*kind = HL_EV_CLOSED;
	return 1;
}

/* Handles one epoll event; returns 1 and sets *kind when there is an event. */
static int on_event(hl_net *net, hl_conn *c, uint32_t events, enum hl_ev_kind *kind)
{
	if (c->state == HL_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t sl = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
			c->err = err ? err : errno;
			hl_conn_close(net, c, 1);
			*kind = HL_EV_CLOSED;
			return 1;
		}
		c->state = HL_OPEN;
		if (flush(net, c)) {
			*kind = HL_EV_CLOSED;
			return 1;
		}
	} else if ((events & EPOLLOUT) && c->out_off < c->out.len) {
		if (flush(net, c)) {
			*kind = HL_EV_CLOSED;
			return 1;
		}
	}
	if (c->state == HL_OPEN && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return on_readable(net, c, kind);
	return 0;
}

int hl_net_wait(hl_net *net, int timeout_ms, hl_ev *evs, int max)
{
	int n, i, out = 0;

	if (max > BATCH)
		max = BATCH;
	n = epoll_wait(net->ep, net->evs, max, timeout_ms);
	for (i = 0; i < n; i++) {
		hl_conn *c = net->evs[i].data.ptr;
		enum hl_ev_kind kind;

		if (on_event(net, c, net->evs[i].events, &kind)) {
			evs[out].c = c;
			evs[out].kind = kind;
			out++;
		}
	}
	return out;
}

int hl_roundtrip(hl_net *net, hl_conn *c, const char *req, size_t n, int timeout_ms)
{
	uint64_t until = hl_now_us() + (uint64_t)timeout_ms * 1000;
	int tries;

	/* A kept-alive connection may have been closed by the server while idle;
	 * then the request fails at once and is sent once more on a new one. */
	for (tries = 0; tries < 2; tries++) {
		int reused = c->state != HL_CLOSED;

		if (!reused && hl_conn_open(net, c, 0))
			return -1;
		if (hl_conn_send(net, c, req, n))
			goto retry;
		while (c->busy && hl_now_us() < until) {
			hl_ev evs[64];
			uint64_t left = (until - hl_now_us()) / 1000;
			int k = hl_net_wait(net, left > 100 ? 100 : (int)left + 1, evs, 64), i;

			for (i = 0; i < k; i++)
				if (evs[i].c == c && evs[i].kind == HL_EV_RESPONSE)
					return c->resp.status;
		}
		if (c->busy || c->state != HL_CLOSED)
			return -1; /* timed out */
	retry:
		if (!reused)
			return -1;
	}
	return -1;
}
