/*
 * watchers.c: the watch scenarios of hcload.
 *
 *   park       N long polls on M keys, opened in a window so the server's
 *              accept queue never overflows; RSS and idle CPU of the server
 *              while they are held; then (--publish) one publish of key 0
 *              and, per watcher, the time from sending the publish to the
 *              watcher's whole response.
 *   reconnect  N watches sent at once (a restart's reconnect storm); time
 *              until every one is held.
 *   soak       N watchers that re-arm after every answer while publishes go
 *              out at --rate; at the end every watcher must hold its key's
 *              final content, and the server's RSS must not drift.
 *
 * "Parked" means held by the server: for hotconf, its hotconf_watches_held
 * metric (minus what was held before we started) polled on a control
 * connection; for etcd, the watch's response headers, which etcd's v2 API
 * flushes as soon as the watch is registered. Any answer before the publish
 * is an early answer. The machinery (hl_wctx in hcload.h: opening, parking,
 * arming, the event pump, the publish connection) is shared with gray.c
 * and reports.c, which plug in their own answer handling, watch headers or
 * whole watch requests. Single-threaded; every loop is bounded in count and
 * time (--timeout per phase).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "hcload.h"
#include "md5.h"
#include "xmalloc.h"

#define OPEN_BURST 500 /* connections opened between two event waits */
#define RSS_EVERY_US 5000
#define MAX_REOPEN 20 /* soak: reconnects per watcher before giving up on it */

int hl_wctx_init(hl_wctx *x, const hl_opts *o)
{
	long i;

	memset(x, 0, sizeof(*x));
	x->o = o;
	x->po = *o;
	x->po.etcd_v3 = 0;
	x->n = o->watchers;
	x->m = o->keys;
	x->net = hl_net_new(o);
	if (!x->net)
		return -1;
	x->w = xcalloc((size_t)x->n, sizeof(*x->w));
	x->md5 = xcalloc((size_t)x->m, sizeof(*x->md5));
	for (i = 0; i < x->n; i++) {
		hl_conn_init(&x->w[i]);
		x->w[i].id = i;
		x->w[i].key = i % x->m;
	}
	hl_conn_init(&x->ctl);
	x->ctl.keep_body = 1;
	hl_conn_init(&x->pub);
	x->pub.keep_body = 1;
	sbuf_init(&x->req, SBUF_NOMAX);
	sbuf_init(&x->hdrs, SBUF_NOMAX);
	x->wakeups = -1;
	return 0;
}

void hl_wctx_release(hl_wctx *x)
{
	long i;

	if (x->net) {
		/* Resets, not FINs: thousands of TIME_WAITs would linger otherwise. */
		for (i = 0; i < x->n; i++)
			hl_conn_release(x->net, &x->w[i]);
		hl_conn_release(x->net, &x->ctl);
		hl_conn_release(x->net, &x->pub);
	}
	hl_net_free(x->net);
	free(x->w);
	free(x->md5);
	free(x->lat);
	sbuf_release(&x->req);
	sbuf_release(&x->hdrs);
}

void hl_wctx_fail(hl_wctx *x, hl_conn *c)
{
	if (!x->first_err)
		x->first_err = c->err ? c->err : -1;
	if (!c->dead) {
		c->dead = 1;
		x->dead++;
	}
	hl_conn_close(x->net, c, 1);
}

void hl_wctx_arm(hl_wctx *x, hl_conn *c)
{
	char key[64];

	hl_key_name(x->o, c->key, key);
	sbuf_reset(&x->req);
	sbuf_reset(&x->hdrs);
	if (x->request) {
		x->request(x, c, &x->req);
	} else {
		if (x->headers)
			x->headers(x, c, &x->hdrs);
		hl_req_watch(x->o, &x->req, key, c->md5, x->hdrs.buf);
	}
	if (c->state == HL_CLOSED && hl_conn_open(x->net, c, 1)) {
		hl_wctx_fail(x, c);
		return;
	}
	if (hl_conn_send(x->net, c, x->req.buf, x->req.len))
		hl_wctx_fail(x, c);
}

static void open_watcher(hl_wctx *x, hl_conn *c)
{
	memcpy(c->md5, x->md5[c->key], sizeof(c->md5));
	hl_wctx_arm(x, c);
}

long hl_wctx_parked(const hl_wctx *x)
{
	long long v = x->held - x->held_base;

	if (x->o->target == HL_ETCD)
		return x->etcd_parked;
	return v < 0 ? 0 : (long)v;
}

/* Watchers that can still be parked: not failed, not answered early. */
static long alive(const hl_wctx *x)
{
	return x->n - x->dead - x->early;
}

static void soak_answer(hl_wctx *x, hl_conn *c)
{
	if (c->resp.status == 200 && c->resp.etag[0]) {
		x->wakes++;
		if (!strcmp(c->resp.etag, c->md5))
			x->spurious++; /* woken though nothing changed */
		snprintf(c->md5, sizeof(c->md5), "%.32s", c->resp.etag);
	} else if (c->resp.status == 304) {
		x->expired++; /* the wait ran out: ask again */
	} else {
		x->soak_errors++;
	}
	hl_wctx_arm(x, c);
}

static void on_watcher(hl_wctx *x, hl_conn *c, enum hl_ev_kind kind)
{
	if (kind == HL_EV_HEADERS) {
		if (x->o->target == HL_ETCD && c->resp.status == 200 && !c->parked) {
			c->parked = 1;
			x->etcd_parked++;
		}
		return;
	}
	if (c->parked && !c->answered)
		x->etcd_parked--;
	c->parked = 0;
	if (x->on_answer) {
		x->on_answer(x, c, kind);
		return;
	}
	if (kind == HL_EV_CLOSED) {
		if (x->soak && c->reopened < MAX_REOPEN) {
			c->reopened++;
			x->reconnects++;
			hl_wctx_arm(x, c);
		} else if (!c->answered || x->soak) {
			hl_wctx_fail(x, c);
		}
		return;
	}
	if (x->soak) {
		c->answered++;
		soak_answer(x, c);
		return;
	}
	if (c->answered++)
		return; /* one answer per watcher is all we ask for */
	if (!x->publishing) {
		x->early++;
	} else if (c->key != x->pub_key) {
		x->wrong++;
	} else if (c->resp.status == 200) {
		x->woken++;
		if (x->nlat < x->cap_lat)
			x->lat[x->nlat++] = c->t_done - x->t_pub;
	} else {
		x->bad++;
	}
}

static void on_ctl(hl_wctx *x, enum hl_ev_kind kind)
{
	long long v;

	if (kind != HL_EV_RESPONSE) {
		if (kind == HL_EV_CLOSED)
			x->ctl_fail++;
		return;
	}
	v = x->ctl.resp.status == 200 ? hl_metric(x->ctl.body.buf, "hotconf_watches_held") : -1;
	if (v >= 0)
		x->held = v;
	else
		x->ctl_fail++;
	if (v >= 0) {
		x->wakeups = hl_metric(x->ctl.body.buf, "hotconf_watch_wakeups_total");
		x->polls++;
	}
}

static void on_pub(hl_wctx *x, enum hl_ev_kind kind)
{
	if (kind == HL_EV_HEADERS || x->pub_status)
		return;
	if (kind == HL_EV_CLOSED) {
		x->pub_status = -1;
		return;
	}
	x->pub_status = x->pub.resp.status;
	x->t_ack = x->pub.t_done;
}

/* Asks for the metric again if it is time and none is in flight. */
static void poll_metric(hl_wctx *x, uint64_t now)
{
	if (!x->poll_ms || x->o->target != HL_HOTCONF || x->ctl.busy || now < x->next_poll)
		return;
	x->next_poll = now + (uint64_t)x->poll_ms * 1000;
	if (x->ctl_fail > 1000)
		return; /* the server does not answer; the phase will time out */
	if (x->ctl.state == HL_CLOSED && hl_conn_open(x->net, &x->ctl, 0)) {
		x->ctl_fail++;
		return;
	}
	sbuf_reset(&x->req);
	hl_req_get(x->o, &x->req, "/metrics");
	if (hl_conn_send(x->net, &x->ctl, x->req.buf, x->req.len))
		x->ctl_fail++;
}

/* One round of events, then the periodic work. */
void hl_wctx_pump(hl_wctx *x, int timeout_ms)
{
	hl_ev evs[512];
	uint64_t now = hl_now_us();
	int k, i;

	if (x->poll_ms && !x->ctl.busy && x->next_poll > now &&
	    (x->next_poll - now) / 1000 < (uint64_t)timeout_ms)
		timeout_ms = (int)((x->next_poll - now) / 1000);
	k = hl_net_wait(x->net, timeout_ms, evs, 512);
	for (i = 0; i < k; i++) {
		if (evs[i].c == &x->ctl)
			on_ctl(x, evs[i].kind);
		else if (evs[i].c == &x->pub)
			on_pub(x, evs[i].kind);
		else
			on_watcher(x, evs[i].c, evs[i].kind);
	}
	now = hl_now_us();
	poll_metric(x, now);
	if (x->sample_rss && x->o->pid && now >= x->next_rss) {
		long long rss = hl_proc_rss(x->o->pid);
		if (rss > x->rss_peak)
			x->rss_peak = rss;
		x->next_rss = now + RSS_EVERY_US;
	}
}

/* Publishes the keys and reads what the server holds before we start. */
int hl_wctx_prepare(hl_wctx *x)
{
	if (hl_seed(&x->po, x->net, &x->ctl, x->m, x->md5)) {
		fprintf(stderr, "hcload: could not publish the %ld keys\n", x->m);
		return -1;
	}
	if (x->o->target == HL_HOTCONF) {
		sbuf_reset(&x->req);
		hl_req_get(x->o, &x->req, "/metrics");
		if (hl_roundtrip(x->net, &x->ctl, x->req.buf, x->req.len, 10000) != 200 ||
		    (x->held_base = hl_metric(x->ctl.body.buf, "hotconf_watches_held")) < 0) {
			fprintf(stderr, "hcload: no hotconf_watches_held in /metrics\n");
			return -1;
		}
		x->held = x->held_base;
		x->wakeups = hl_metric(x->ctl.body.buf, "hotconf_watch_wakeups_total");
	}
	return 0;
}

/* Opens watchers, at most window - parked unanswered at a time (0: no
 * window), and waits until all are parked. Returns the time it took, in us. */
uint64_t hl_wctx_park_all(hl_wctx *x, long window, int poll_ms)
{
	uint64_t t0 = hl_now_us(), until = t0 + (uint64_t)(x->o->timeout * 1e6), done = 0;

	x->poll_ms = poll_ms;
	x->next_poll = t0;
	while (hl_now_us() < until) {
		long burst = 0;

		while (
		    x->next_open < x->n && burst < OPEN_BURST &&
		    (!window || x->next_open - hl_wctx_parked(x) - x->dead - x->early < window)) {
			open_watcher(x, &x->w[x->next_open++]);
			burst++;
		}
		if (x->next_open == x->n && hl_wctx_parked(x) >= alive(x)) {
			done = hl_now_us();
			break;
		}
		hl_wctx_pump(x, burst ? 0 : 10);
	}
	x->poll_ms = 0;
	return (done ? done : hl_now_us()) - t0;
}

static void report_park(hl_wctx *x, uint64_t park_us)
{
	hl_say(x->o, "%ld/%ld watchers on %ld keys parked in %.1f ms", hl_wctx_parked(x), x->n,
	       x->m, park_us / 1000.0);
	hl_result(x->o, "parked", (double)hl_wctx_parked(x), "count", "high");
	hl_result(x->o, "park_ms", park_us / 1000.0, "ms", "low");
}

/* Answers before the publish and failed watchers, counted up to now. */
static void report_failures(hl_wctx *x)
{
	hl_say(x->o, "%ld early answers, %ld watchers failed%s%s", x->early, x->dead,
	       x->first_err > 0 ? ": " : "", x->first_err > 0 ? strerror(x->first_err) : "");
	hl_result(x->o, "early", (double)x->early, "count", "low");
	hl_result(x->o, "errors", (double)x->dead, "count", "low");
}

/* Samples the server's CPU over --idle-seconds while the watchers are held;
 * answers that come meanwhile are early answers. */
static void idle_phase(hl_wctx *x, long long rss_before)
{
	const hl_opts *o = x->o;
	uint64_t t0 = hl_now_us(), span = (uint64_t)(o->idle_seconds * 1e6), t1;
	long long cpu0 = o->pid ? hl_proc_cpu_ns(o->pid) : -1, cpu1, rss;

	/* Without a CPU sample, still give a stray answer a moment to show. */
	if (span < 200000)
		span = 200000;
	while ((t1 = hl_now_us()) < t0 + span)
		hl_wctx_pump(x, (int)((t0 + span - t1) / 1000) + 1);
	if (!o->pid)
		return;
	cpu1 = hl_proc_cpu_ns(o->pid);
	rss = hl_proc_rss(o->pid);
	if (cpu0 >= 0 && cpu1 >= cpu0 && o->idle_seconds > 0) {
		double pct = (double)(cpu1 - cpu0) * 100.0 / ((double)(t1 - t0) * 1000.0);
		hl_say(o, "server idle CPU %.2f%% of one core over %.1f s", pct, (t1 - t0) / 1e6);
		hl_result(o, "idle_cpu", pct, "%", "low");
	}
	if (rss_before > 0 && rss > 0) {
		double per = (double)(rss - rss_before) / (double)x->n;
		hl_say(o, "server RSS %.1f MiB -> %.1f MiB: %.0f bytes per watcher",
		       rss_before / 1048576.0, rss / 1048576.0, per);
		hl_result(o, "rss_before", (double)rss_before, "B", "none");
		hl_result(o, "rss_parked", (double)rss, "B", "none");
		hl_result(o, "rss_per_watcher", per, "B", "low");
	}
}

/* Opens the publish connection and waits until it is connected, so the
 * publish's clock starts at its first byte, not at a handshake. */
static int pub_connect(hl_wctx *x)
{
	uint64_t until = hl_now_us() + 5000000;

	if (x->pub.state == HL_CLOSED && hl_conn_open(x->net, &x->pub, 0))
		return -1;
	while (x->pub.state == HL_CONNECTING && hl_now_us() < until)
		hl_wctx_pump(x, 5);
	return x->pub.state == HL_OPEN ? 0 : -1;
}

int hl_wctx_send_pub(hl_wctx *x, const char *req, size_t n)
{
	int rc;

	/* req may not live in x->req: a metric poll while connecting reuses it. */
	if (pub_connect(x))
		return -1;
	x->pub_status = 0;
	rc = hl_conn_send(x->net, &x->pub, req, n);
	x->t_pub = x->pub.t_sent;
	return rc;
}

int hl_wctx_call(hl_wctx *x, const char *req, size_t n)
{
	uint64_t until = hl_now_us() + (uint64_t)(x->o->timeout * 1e6);

	if (hl_wctx_send_pub(x, req, n))
		return -1;
	while (!x->pub_status && hl_now_us() < until)
		hl_wctx_pump(x, 5);
	return x->pub_status ? x->pub_status : -1;
}

void hl_wctx_pump_for(hl_wctx *x, uint64_t us)
{
	uint64_t until = hl_now_us() + us, t;

	while ((t = hl_now_us()) < until)
		hl_wctx_pump(x, (int)((until - t) / 1000) + 1);
}

/* Sends content to key as the publish that answers count against. */
static int send_publish(hl_wctx *x, long key, const char *tag, uint64_t seq, char md5[33])
{
	sbuf content = SBUF_INIT(SBUF_NOMAX), req = SBUF_INIT(SBUF_NOMAX);
	char name[64];
	int rc;

	hl_content(&content, (size_t)x->o->size, tag, seq);
	md5_hex(content.buf, content.len, md5);
	hl_key_name(x->o, key, name);
	hl_req_put(&x->po, &req, name, content.buf, content.len);
	rc = hl_wctx_send_pub(x, req.buf, req.len);
	sbuf_release(&content);
	sbuf_release(&req);
	return rc;
}

static double ms(uint64_t us)
{
	return us / 1000.0;
}

/* hcload's own CPU time so far, in us: tells whether the client kept up. */
static uint64_t self_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Publishes key 0 and waits for its watchers, then --grace-ms for others. */
static void wake_phase(hl_wctx *x, long long rss_before)
{
	const hl_opts *o = x->o;
	uint64_t until, t, cpu0 = self_cpu_us(), cpu_us;
	long expected = 0, i;
	char md5[33];

	for (i = 0; i < x->n; i++)
		expected += x->w[i].key == 0 && !x->w[i].dead && !x->w[i].answered;
	x->cap_lat = (size_t)expected;
	x->lat = xcalloc(x->cap_lat + 1, sizeof(*x->lat));
	x->sample_rss = 1;
	x->rss_peak = o->pid ? hl_proc_rss(o->pid) : -1;
	x->publishing = 1;
	x->pub_key = 0;
	if (send_publish(x, 0, "wake", 1, md5)) {
		fprintf(stderr, "hcload: cannot send the publish\n");
		x->pub_status = -1;
	}
	until = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	while (hl_now_us() < until && x->pub_status >= 0 &&
	       (x->woken + x->bad < expected || !x->pub_status))
		hl_wctx_pump(x, 5);
	cpu_us = self_cpu_us() - cpu0;
	until = hl_now_us() + (uint64_t)o->grace_ms * 1000;
	while ((t = hl_now_us()) < until)
		hl_wctx_pump(x, (int)((until - t) / 1000) + 1);
	x->sample_rss = 0;
	hl_sort_u64(x->lat, x->nlat);
	hl_say(o,
	       "publish answered %d in %.2f ms; %ld/%ld watchers of key 0 woken (%ld non-200), "
	       "%ld wrong wakes; wake first %.2f, median %.2f, p99 %.2f, last %.2f ms",
	       x->pub_status, x->pub_status > 0 ? ms(x->t_ack - x->t_pub) : -1.0, x->woken,
	       expected, x->bad, x->wrong, ms(hl_pct(x->lat, x->nlat, 0)),
	       ms(hl_pct(x->lat, x->nlat, 50)), ms(hl_pct(x->lat, x->nlat, 99)),
	       ms(hl_pct(x->lat, x->nlat, 100)));
	if (x->pub_status > 0)
		hl_result(o, "publish_ack_ms", ms(x->t_ack - x->t_pub), "ms", "low");
	hl_result(o, "woken", (double)x->woken, "count", "high");
	hl_result(o, "expected", (double)expected, "count", "none");
	hl_result(o, "wrong_wakes", (double)x->wrong, "count", "low");
	hl_say(o, "hcload itself used %.1f ms of CPU while they woke", ms(cpu_us));
	hl_result(o, "client_cpu_ms", ms(cpu_us), "ms", "none");
	if (x->nlat) {
		hl_result(o, "wake_first_ms", ms(hl_pct(x->lat, x->nlat, 0)), "ms", "low");
		hl_result(o, "wake_median_ms", ms(hl_pct(x->lat, x->nlat, 50)), "ms", "low");
		hl_result(o, "wake_p99_ms", ms(hl_pct(x->lat, x->nlat, 99)), "ms", "low");
		hl_result(o, "wake_last_ms", ms(hl_pct(x->lat, x->nlat, 100)), "ms", "low");
	}
	if (rss_before > 0 && x->rss_peak > 0) {
		double per = (double)(x->rss_peak - rss_before) / (double)x->n;
		hl_say(o, "server RSS peak while waking %.1f MiB: %.0f bytes per watcher",
		       x->rss_peak / 1048576.0, per);
		hl_result(o, "rss_peak", (double)x->rss_peak, "B", "none");
		hl_result(o, "rss_wake_per_watcher", per, "B", "low");
	}
}

int hl_park(const hl_opts *o)
{
	hl_wctx x;
	long long rss_before;
	uint64_t park_us;
	int failed = 1;

	if (hl_wctx_init(&x, o))
		goto out;
	if (hl_wctx_prepare(&x))
		goto out;
	rss_before = o->pid ? hl_proc_rss(o->pid) : -1;
	park_us = hl_wctx_park_all(&x, o->window, 20);
	report_park(&x, park_us);
	idle_phase(&x, rss_before);
	report_failures(&x);
	failed = hl_wctx_parked(&x) < x.n || x.early || x.dead;
	if (o->publish) {
		long woken_ok;
		wake_phase(&x, rss_before);
		woken_ok = x.pub_status >= 200 && x.pub_status <= 299 && !x.wrong && !x.bad &&
			   x.woken == (long)x.cap_lat;
		failed |= !woken_ok;
	}
out:
	hl_wctx_release(&x);
	return failed;
}

int hl_reconnect(const hl_opts *o)
{
	hl_wctx x;
	uint64_t us;
	int failed = 1;

	if (hl_wctx_init(&x, o))
		goto out;
	if (hl_wctx_prepare(&x))
		goto out;
	/* No window: every client at once, as after a restart. */
	us = hl_wctx_park_all(&x, 0, 10);
	hl_say(o, "%ld/%ld watchers parked %.1f ms after the first connect; %ld failed%s%s",
	       hl_wctx_parked(&x), x.n, us / 1000.0, x.dead, x.first_err > 0 ? ": " : "",
	       x.first_err > 0 ? strerror(x.first_err) : "");
	hl_result(o, "reconnect_ms", us / 1000.0, "ms", "low");
	hl_result(o, "parked", (double)hl_wctx_parked(&x), "count", "high");
	hl_result(o, "errors", (double)(x.dead + x.early), "count", "low");
	failed = hl_wctx_parked(&x) < x.n || x.dead || x.early;
out:
	hl_wctx_release(&x);
	return failed;
}

/* Watchers whose content is not their key's latest. */
static long count_stale(const hl_wctx *x)
{
	long i, stale = 0;

	for (i = 0; i < x->n; i++)
		stale += strcmp(x->w[i].md5, x->md5[x->w[i].key]) != 0;
	return stale;
}

/* Publishes at --rate for --seconds while the watchers re-arm. */
static void soak_publish(hl_wctx *x, long long *rss_start, uint64_t **acks, size_t *nacks)
{
	const hl_opts *o = x->o;
	uint64_t t0 = hl_now_us(), end = t0 + (uint64_t)(o->seconds * 1e6), next = t0, now;
	uint64_t warm = (uint64_t)(o->seconds * 1e5), gap = (uint64_t)(1e6 / o->rate);
	size_t cap = (size_t)(o->seconds * o->rate) + 2;
	long pending_key = -1, seq = 0;
	char pending[33];

	*acks = xcalloc(cap, sizeof(**acks));
	if (warm < 1000000)
		warm = 1000000;
	while ((now = hl_now_us()) < end) {
		if (pending_key >= 0 && x->pub_status) {
			if (x->pub_status >= 200 && x->pub_status <= 299) {
				memcpy(x->md5[pending_key], pending, sizeof(pending));
				if (*nacks < cap)
					(*acks)[(*nacks)++] = x->t_ack - x->t_pub;
			} else {
				x->soak_errors++;
			}
			pending_key = -1;
		}
		if (pending_key < 0 && now >= next) {
			pending_key = seq % x->m;
			if (send_publish(x, pending_key, "soak", (uint64_t)seq, pending)) {
				x->soak_errors++;
				pending_key = -1;
			}
			seq++;
			next += gap;
			if (next < now)
				next = now + gap; /* fell behind: do not burst */
		}
		if (*rss_start < 0 && now >= t0 + warm && o->pid)
			*rss_start = hl_proc_rss(o->pid);
		hl_wctx_pump(x, 10);
	}
	/* The last publish, if still in flight, gets --timeout to finish. */
	end = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	while (pending_key >= 0 && !x->pub_status && hl_now_us() < end)
		hl_wctx_pump(x, 10);
	if (pending_key >= 0 && x->pub_status >= 200 && x->pub_status <= 299)
		memcpy(x->md5[pending_key], pending, sizeof(pending));
}

int hl_soak(const hl_opts *o)
{
	hl_wctx x;
	long long rss_start = -1, rss_end;
	uint64_t *acks = NULL, until, park_us;
	size_t nacks = 0;
	long stale = -1;
	int failed = 1;

	if (o->target != HL_HOTCONF) {
		fprintf(stderr, "hcload: soak compares hotconf ETags; it runs on hotconf only\n");
		return 2;
	}
	if (hl_wctx_init(&x, o))
		goto out;
	if (hl_wctx_prepare(&x))
		goto out;
	park_us = hl_wctx_park_all(&x, o->window, 20);
	report_park(&x, park_us);
	report_failures(&x);
	if (hl_wctx_parked(&x) < x.n)
		goto out;
	x.soak = 1;
	x.publishing = 1;
	soak_publish(&x, &rss_start, &acks, &nacks);
	rss_end = o->pid ? hl_proc_rss(o->pid) : -1;
	/* Every watcher must reach its key's final content: give them --timeout. */
	until = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	while ((stale = count_stale(&x)) > 0 && hl_now_us() < until)
		hl_wctx_pump(&x, 20);
	hl_sort_u64(acks, nacks);
	hl_say(o,
	       "%zu publishes (ack p99 %.2f ms), %ld wakes, %ld expired waits, %ld spurious, "
	       "%ld reconnects, %ld errors, %ld watchers gave up; %ld missed the final version",
	       nacks, ms(hl_pct(acks, nacks, 99)), x.wakes, x.expired, x.spurious, x.reconnects,
	       x.soak_errors, x.dead, stale);
	hl_result(o, "publishes", (double)nacks, "count", "high");
	hl_result(o, "publish_ack_p99_ms", ms(hl_pct(acks, nacks, 99)), "ms", "low");
	hl_result(o, "wakes", (double)x.wakes, "count", "none");
	hl_result(o, "spurious_wakes", (double)x.spurious, "count", "low");
	hl_result(o, "errors", (double)(x.soak_errors + x.dead), "count", "low");
	hl_result(o, "missed_final", (double)stale, "count", "low");
	if (rss_start > 0 && rss_end > 0) {
		double drift = (double)(rss_end - rss_start) * 100.0 / (double)rss_start;
		hl_say(o, "server RSS %.1f MiB after warm-up, %.1f MiB at the end: drift %+.2f%%",
		       rss_start / 1048576.0, rss_end / 1048576.0, drift);
		hl_result(o, "rss_drift_pct", drift, "%", "low");
	}
	failed = stale != 0 || x.spurious || x.soak_errors || x.dead || !nacks;
out:
	free(acks);
	hl_wctx_release(&x);
	return failed;
}
