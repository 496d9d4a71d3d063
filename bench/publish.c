/*
 * publish.c: the durable publish scenario. --concurrency clients, each on
 * its own keep-alive connection and its own key (pub0, pub1, ...), send one
 * publish at a time of --size bytes, every one with content never published
 * before (hotconf answers identical content without writing it), until
 * --count publishes in all or for --seconds. Latency is from a request's
 * first byte out to its response's last byte in; the rate is acknowledged
 * publishes over the time from the first send to the last answer.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcload.h"
#include "xmalloc.h"

#define MAX_SAMPLES (50u << 20)
#define MAX_ERRORS 100 /* give up after this many failed requests */

typedef struct pctx {
	const hl_opts *o;
	hl_net *net;
	hl_conn *cl;
	char *inflight; /* per client: a request is out */
	sbuf content, req;
	uint64_t *lat;
	size_t nlat, cap;
	long issued, errors;
	uint64_t t0, end, last_done;
} pctx;

static int may_issue(const pctx *p, uint64_t now)
{
	if (p->errors >= MAX_ERRORS)
		return 0;
	return p->o->count ? p->issued < p->o->count : now < p->end;
}

static void send_next(pctx *p, hl_conn *c)
{
	char key[64];

	hl_key_name(p->o, c->id, key);
	sbuf_reset(&p->content);
	sbuf_reset(&p->req);
	hl_content(&p->content, (size_t)p->o->size, "pub", (uint64_t)p->issued);
	hl_req_put(p->o, &p->req, key, p->content.buf, p->content.len);
	p->issued++;
	if ((c->state == HL_CLOSED && hl_conn_open(p->net, c, 0)) ||
	    hl_conn_send(p->net, c, p->req.buf, p->req.len)) {
		p->errors++;
		p->inflight[c->id] = 0;
		return;
	}
	p->inflight[c->id] = 1;
}

static void on_event(pctx *p, hl_conn *c, enum hl_ev_kind kind)
{
	uint64_t now = hl_now_us();

	if (kind == HL_EV_HEADERS)
		return;
	if (kind == HL_EV_RESPONSE && c->resp.status >= 200 && c->resp.status <= 299) {
		if (p->nlat < p->cap)
			p->lat[p->nlat++] = c->t_done - c->t_sent;
		p->last_done = c->t_done;
	} else {
		if (!p->errors)
			fprintf(stderr, "hcload: publish failed: %s %.200s\n",
				kind == HL_EV_CLOSED ? "connection closed:" : "status",
				kind == HL_EV_CLOSED ? strerror(c->err) : c->body.buf);
		p->errors++;
		if (kind == HL_EV_CLOSED && !p->inflight[c->id])
			return; /* an idle connection closed; reopened when needed */
	}
	p->inflight[c->id] = 0;
	if (may_issue(p, now))
		send_next(p, c);
}

static long count_inflight(const pctx *p)
{
	long j, n = 0;

	for (j = 0; j < p->o->concurrency; j++)
		n += p->inflight[j];
	return n;
}

/* Connects every client before the clock starts. */
static int connect_all(pctx *p)
{
	uint64_t until = hl_now_us() + 10000000;
	long j, pending;

	for (j = 0; j < p->o->concurrency; j++)
		if (hl_conn_open(p->net, &p->cl[j], 0)) {
			fprintf(stderr, "hcload: cannot connect: %s\n", strerror(p->cl[j].err));
			return -1;
		}
	do {
		hl_ev evs[256];
		hl_net_wait(p->net, 5, evs, 256);
		for (pending = 0, j = 0; j < p->o->concurrency; j++)
			pending += p->cl[j].state == HL_CONNECTING;
	} while (pending && hl_now_us() < until);
	return pending ? -1 : 0;
}

static void report(pctx *p)
{
	const hl_opts *o = p->o;
	double secs = p->last_done > p->t0 ? (p->last_done - p->t0) / 1e6 : 0;
	double rate = secs > 0 ? (double)p->nlat / secs : 0;

	hl_sort_u64(p->lat, p->nlat);
	hl_say(o,
	       "%zu publishes of %ld bytes by %ld clients in %.2f s: %.0f/s; p50 %.2f ms, p99 "
	       "%.2f ms, max %.2f ms; %ld failed",
	       p->nlat, o->size, o->concurrency, secs, rate, hl_pct(p->lat, p->nlat, 50) / 1e3,
	       hl_pct(p->lat, p->nlat, 99) / 1e3, hl_pct(p->lat, p->nlat, 100) / 1e3, p->errors);
	hl_result(o, "rate", rate, "/s", "high");
	hl_result(o, "p50_ms", hl_pct(p->lat, p->nlat, 50) / 1e3, "ms", "low");
	hl_result(o, "p99_ms", hl_pct(p->lat, p->nlat, 99) / 1e3, "ms", "low");
	hl_result(o, "max_ms", hl_pct(p->lat, p->nlat, 100) / 1e3, "ms", "low");
	hl_result(o, "publishes", (double)p->nlat, "count", "high");
	hl_result(o, "errors", (double)p->errors, "count", "low");
}

int hl_publish(const hl_opts *o)
{
	pctx p;
	uint64_t hard;
	long j;
	int failed = 1;

	memset(&p, 0, sizeof(p));
	p.o = o;
	p.net = hl_net_new(o);
	p.cl = xcalloc((size_t)o->concurrency, sizeof(*p.cl));
	p.inflight = xcalloc((size_t)o->concurrency, 1);
	sbuf_init(&p.content, SBUF_NOMAX);
	sbuf_init(&p.req, SBUF_NOMAX);
	p.cap = o->count ? (size_t)o->count : (size_t)(o->seconds * 200000) + 1000;
	if (p.cap > MAX_SAMPLES)
		p.cap = MAX_SAMPLES;
	p.lat = xmalloc(p.cap * sizeof(*p.lat));
	for (j = 0; j < o->concurrency; j++) {
		hl_conn_init(&p.cl[j]);
		p.cl[j].id = j;
		p.cl[j].keep_body = 1;
	}
	if (!p.net || connect_all(&p))
		goto out;
	p.t0 = hl_now_us();
	p.end = p.t0 + (uint64_t)(o->seconds * 1e6);
	/* Count mode gets --timeout in all; time mode --seconds plus --timeout to
	 * drain what is in flight. */
	hard = p.t0 + (uint64_t)(((o->count ? 0 : o->seconds) + o->timeout) * 1e6);
	for (j = 0; j < o->concurrency && may_issue(&p, p.t0); j++)
		send_next(&p, &p.cl[j]);
	while (count_inflight(&p) && hl_now_us() < hard) {
		hl_ev evs[512];
		int k = hl_net_wait(p.net, 50, evs, 512), i;

		for (i = 0; i < k; i++)
			on_event(&p, evs[i].c, evs[i].kind);
	}
	report(&p);
	failed = p.errors || count_inflight(&p) || (o->count && (long)p.nlat < o->count);
out:
	if (p.net)
		for (j = 0; j < o->concurrency; j++)
			hl_conn_release(p.net, &p.cl[j]);
	hl_net_free(p.net);
	free(p.cl);
	free(p.inflight);
	free(p.lat);
	sbuf_release(&p.content);
	sbuf_release(&p.req);
	return failed;
}
