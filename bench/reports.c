/*
 * reports.c: hcload's apply-report scenario (issue 10's cost on the watch
 * path).
 *
 * --watchers instances, each with its own X-Hotconf-Instance id, hold a
 * many-config watch (POST /api/v1/watch) on config PREFIX0, one item each
 * with the md5 they hold. Then, --rounds times, two publishes of PREFIX0:
 *
 *   ref   every instance is woken and re-arms at once with the new md5 and
 *         no status: the reference, hotconf itself with reports off
 *   rep   the same, but each re-arm carries "status":"applied" next to the
 *         md5, so the server records a report before holding the watch
 *
 * The order alternates (ref, rep in odd rounds; rep, ref in even ones) so
 * that a drift of the box falls on both alike. Each phase is timed from the
 * publish request's first byte until a /metrics poll sent after the last
 * answer shows hotconf_watches_held back at every live watcher; that is the
 * "re-arm" time. Then hotconf_reports_total{result="recorded"} must have
 * risen by exactly the live watchers in a rep phase and by none in a ref
 * phase (the server counts a watch held before it records the report it
 * carried, so the counter is given SETTLE_US to catch up), and the
 * listeners view of the config (page size 1: only its summary is read) must
 * say applied = every watcher after a rep phase and 0 after a ref phase
 * (their reports are then about an md5 they no longer hold). The server's
 * RSS is sampled once all watches are parked, after the first ref phase
 * (one plain re-arm, no report yet: the reference), after the first rep
 * phase (every watcher with a recorded report) and at the end.
 *
 * The connection and park machinery is watchers.c's (hl_wctx); this file
 * plugs in the watch request, the answer handling and its own /metrics polls
 * (sent one at a time, so each poll's send time is known). Single-threaded;
 * every wait is bounded by --timeout or SETTLE_US.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcload.h"
#include "md5.h"
#include "xmalloc.h"

#define KEY 0		  /* PREFIX0: the one config */
#define SETTLE_US 2000000 /* us a phase's reports may lag its held watches */
#define RECORDED "hotconf_reports_total{result=\"recorded\"}"
#define DROPPED "hotconf_reports_total{result=\"dropped\"}"

enum phase { PH_IDLE, PH_REF, PH_REP, PH_COUNT };

static const char *const phase_name[PH_COUNT] = {"idle", "ref", "rep"};

/* One kind of phase, summed over the rounds. */
typedef struct rphase {
	uint64_t *rearm, *last; /* us, one per round in which every watch was held again */
	size_t nrearm, nlast;
	long expected, answered, wrong;
	long long recorded, missing, extra, dropped; /* the server's report counters */
	long long applied_min, applied_max;	     /* the listeners view's summary */
	long views;				     /* listeners views read */
} rphase;

typedef struct rep_ctx {
	const hl_opts *o;
	hl_wctx x;
	long n;
	enum phase ph;
	int arm_status; /* the watch being armed carries "status":"applied" */
	char want_md5[33];
	long answered, wrong;
	uint64_t last_us; /* the last right answer, from the publish's first byte */
	uint64_t t_last;  /* when it came */
	long stray, expired, req_fail, repark_fail, ctl_bad;
	long long rss_rearmed, rss_reported, rss_end; /* VmRSS after phases, see run_phase */
	char why[512]; /* the first thing that went wrong, described */
	rphase st[PH_COUNT];
	sbuf req, mreq;
} rep_ctx;

static double ms(uint64_t us)
{
	return us / 1000.0;
}

/* Keeps a description of the first thing that went wrong. */
static void note(rep_ctx *g, const hl_conn *c, const char *what)
{
	if (g->why[0])
		return;
	snprintf(g->why, sizeof(g->why), "%s: watcher %ld %s (status %d, body %.120s)",
		 phase_name[g->ph], c ? c->id : -1, what, c ? c->resp.status : 0,
		 c ? c->body.buf : "");
}

/* The many-config watch of c: one item, c's md5, and the report if due. */
static void watch_request(const hl_wctx *x, const hl_conn *c, sbuf *out)
{
	const rep_ctx *g = x->user;
	const hl_opts *o = x->o;
	char key[64], body[256];
	int n;

	hl_key_name(o, c->key, key);
	n = snprintf(body, sizeof(body),
		     "{\"configs\":[{\"namespace\":\"public\",\"group\":\"hcload\",\"dataId\":"
		     "\"%s\",\"md5\":\"%s\"%s}]}",
		     key, c->md5, g->arm_status ? ",\"status\":\"applied\"" : "");
	sbuf_addf(out,
		  "POST /api/v1/watch?wait=%s HTTP/1.1\r\nHost: %s\r\n%sX-Hotconf-Instance: "
		  "rep-%ld\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		  o->wait, o->host, o->authz, c->id, n, body);
}

/* The first "md5":"..." of a watch answer into out; 0, or -1 if none. */
static int answer_md5(const char *body, char out[33])
{
	const char *p = strstr(body, "\"md5\":\"");

	if (!p || strlen(p + 7) < 33 || p[7 + 32] != '"')
		return -1;
	memcpy(out, p + 7, 32);
	out[32] = '\0';
	return 0;
}

static void on_answer(hl_wctx *x, hl_conn *c, enum hl_ev_kind kind)
{
	rep_ctx *g = x->user;
	char md5[33];

	if (kind == HL_EV_CLOSED) {
		char what[160];

		/* Whether its request had gone out tells a server that never read
		 * it from a client that never sent it. */
		snprintf(what, sizeof(what),
			 "lost its connection %.0f ms after its request (%zu of %zu bytes "
			 "written, %s)",
			 ms(hl_now_us() - c->t_sent), c->out_off, c->out.len, strerror(c->err));
		note(g, c, what);
		hl_wctx_fail(x, c);
		return;
	}
	if (c->resp.status == 304) {
		g->expired++; /* its wait ran out: ask again, reporting nothing */
		hl_wctx_arm(x, c);
		return;
	}
	if (c->resp.status != 200 || answer_md5(c->body.buf, md5)) {
		g->wrong++;
		note(g, c, "got an answer that is not a change");
		hl_wctx_fail(x, c); /* asking again would get the same */
		return;
	}
	memcpy(c->md5, md5, sizeof(md5));
	if (g->ph == PH_IDLE || strcmp(md5, g->want_md5)) {
		if (g->ph == PH_IDLE)
			g->stray++;
		else
			g->wrong++;
		note(g, c, g->ph == PH_IDLE ? "was answered between publishes" : "got another md5");
		hl_wctx_arm(x, c);
		return;
	}
	g->answered++;
	if (c->t_done - x->t_pub > g->last_us)
		g->last_us = c->t_done - x->t_pub;
	if (c->t_done > g->t_last)
		g->t_last = c->t_done;
	/* Re-arm at once, as a client that applied what it got would. */
	g->arm_status = g->ph == PH_REP;
	hl_wctx_arm(x, c);
	g->arm_status = 0;
}

/* Sends one /metrics poll now on the control connection and waits for its
 * answer while the watchers are served. Returns 0 (x->held and x->ctl.body
 * are from it; x->ctl.t_done is when it came) or -1. */
static int poll_now(rep_ctx *g, uint64_t until)
{
	hl_wctx *x = &g->x;
	long polls;

	while (x->ctl.busy && hl_now_us() < until)
		hl_wctx_pump(x, 5); /* an older poll's answer would be stale */
	if (x->ctl.busy)
		return -1;
	if (x->ctl.state == HL_CLOSED && hl_conn_open(x->net, &x->ctl, 0))
		return -1;
	sbuf_reset(&g->mreq);
	hl_req_get(g->o, &g->mreq, "/metrics");
	polls = x->polls;
	if (hl_conn_send(x->net, &x->ctl, g->mreq.buf, g->mreq.len))
		return -1;
	while (x->polls == polls && x->ctl.busy && hl_now_us() < until)
		hl_wctx_pump(x, 5);
	return x->polls > polls ? 0 : -1;
}

/* The listeners view's summary.applied for the config; -1 on failure. */
static long long view_applied(rep_ctx *g)
{
	const hl_opts *o = g->o;
	sbuf path = SBUF_INIT(SBUF_NOMAX);
	const char *p;
	char key[64];
	long long v = -1;

	hl_key_name(o, KEY, key);
	hl_key_path(o, &path, key);
	sbuf_addstr(&path, "/listeners?size=1");
	sbuf_reset(&g->req);
	hl_req_get(o, &g->req, path.buf);
	if (hl_wctx_call(&g->x, g->req.buf, g->req.len) == 200 &&
	    (p = strstr(g->x.pub.body.buf, "\"summary\":{")) && (p = strstr(p, "\"applied\":")))
		v = strtoll(p + 10, NULL, 10);
	else
		fprintf(stderr, "hcload: the listeners view failed (status %d): %.300s\n",
			g->x.pub_status, g->x.pub.body.buf);
	sbuf_release(&path);
	return v;
}

/* Polls /metrics back to back until every live watch is held again. Returns
 * when the poll that showed it came, or 0 if none did by until. */
static uint64_t wait_held(rep_ctx *g, uint64_t until)
{
	hl_wctx *x = &g->x;

	while (hl_now_us() < until) {
		if (poll_now(g, until)) {
			g->ctl_bad++;
			return 0;
		}
		if (hl_wctx_parked(x) >= g->n - x->dead)
			return x->ctl.t_done;
		hl_wctx_pump(x, 1);
	}
	return 0;
}

/* Reads the report counters now into *rec and *drop; 0 or -1. */
static int counters(rep_ctx *g, long long *rec, long long *drop)
{
	if (poll_now(g, hl_now_us() + 10000000)) {
		g->ctl_bad++;
		return -1;
	}
	*rec = hl_metric(g->x.ctl.body.buf, RECORDED);
	*drop = hl_metric(g->x.ctl.body.buf, DROPPED);
	if (*rec < 0 || *drop < 0) {
		fprintf(stderr, "hcload: no %s in /metrics\n", RECORDED);
		g->ctl_bad++;
		return -1;
	}
	return 0;
}

/* After a phase: the reports it recorded (want of them), polled until they
 * are all counted or SETTLE_US passed. Returns 0 or -1. */
static int count_reports(rep_ctx *g, rphase *p, long want, long long rec0, long long drop0)
{
	uint64_t until = hl_now_us() + SETTLE_US;
	long long rec, drop;

	for (;;) {
		if (counters(g, &rec, &drop))
			return -1;
		if (rec - rec0 >= want || hl_now_us() >= until)
			break;
		hl_wctx_pump(&g->x, 10);
	}
	p->recorded += rec - rec0;
	p->dropped += drop - drop0;
	if (rec - rec0 < want)
		p->missing += want - (rec - rec0);
	else
		p->extra += rec - rec0 - want;
	return 0;
}

/* One publish as phase ph: every live watcher answered with its md5 and
 * re-armed, every watch held again, the reports counted, the view read.
 * Returns 0, or -1 when a request or the server's metrics failed. */
static int run_phase(rep_ctx *g, enum phase ph, long round)
{
	const hl_opts *o = g->o;
	hl_wctx *x = &g->x;
	rphase *p = &g->st[ph];
	sbuf content = SBUF_INIT(SBUF_NOMAX);
	long long rec0, drop0, applied;
	uint64_t until, held = 0, t_pub, t_ack;
	char key[64];
	long live = g->n - x->dead;
	int rc = -1, st;

	if (counters(g, &rec0, &drop0))
		goto out;
	hl_content(&content, (size_t)o->size, phase_name[ph], (uint64_t)round);
	md5_hex(content.buf, content.len, g->want_md5);
	hl_key_name(o, KEY, key);
	sbuf_reset(&g->req);
	hl_req_put(o, &g->req, key, content.buf, content.len);
	g->answered = g->wrong = 0;
	g->last_us = g->t_last = 0;
	g->ph = ph;
	if (hl_wctx_send_pub(x, g->req.buf, g->req.len))
		x->pub_status = -1;
	until = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	while (hl_now_us() < until &&
	       (!x->pub_status || (x->pub_status >= 200 && x->pub_status <= 299 &&
				   g->answered + g->wrong < g->n - x->dead)))
		hl_wctx_pump(x, 5);
	st = x->pub_status;
	if (st >= 200 && st <= 299 && g->answered + g->wrong >= g->n - x->dead)
		held = wait_held(g, until);
	g->ph = PH_IDLE;
	t_pub = x->t_pub; /* the view's request below starts its own clock */
	t_ack = x->t_ack;
	p->expected += live;
	p->answered += g->answered;
	p->wrong += g->wrong;
	if (st < 200 || st > 299) {
		fprintf(stderr, "hcload: round %ld %s: the publish failed (status %d): %.300s\n",
			round, phase_name[ph], st, x->pub.body.buf);
		g->req_fail++;
		goto out;
	}
	if (!held) {
		fprintf(stderr,
			"hcload: round %ld %s: %ld of %ld answered, %ld of them held again in "
			"--timeout\n",
			round, phase_name[ph], g->answered, live, hl_wctx_parked(x));
		g->repark_fail++;
		goto out;
	}
	p->rearm[p->nrearm++] = held - t_pub;
	p->last[p->nlast++] = g->last_us;
	if (count_reports(g, p, ph == PH_REP ? g->n - x->dead : 0, rec0, drop0))
		goto out;
	applied = view_applied(g);
	if (applied < 0) {
		g->req_fail++;
		goto out;
	}
	if (!p->views++ || applied < p->applied_min)
		p->applied_min = applied;
	if (applied > p->applied_max)
		p->applied_max = applied;
	if (o->pid) {
		long long rss = hl_proc_rss(o->pid);
		/* The first of each kind: one re-arm apart, no report yet before the
		 * first rep phase's. */
		if (ph == PH_REF && !g->rss_rearmed && !g->st[PH_REP].nrearm)
			g->rss_rearmed = rss;
		if (ph == PH_REP && !g->rss_reported)
			g->rss_reported = rss;
		g->rss_end = rss;
	}
	hl_say(o,
	       "round %ld %s: publish %d in %.2f ms; %ld/%ld answered (last %.2f ms), all held "
	       "again at %.2f ms; listeners view applied %lld",
	       round, phase_name[ph], st, ms(t_ack - t_pub), g->answered, live, ms(g->last_us),
	       ms(held - t_pub), applied);
	rc = 0;
out:
	sbuf_release(&content);
	return rc;
}

static void report(rep_ctx *g)
{
	const hl_opts *o = g->o;
	double rearm[PH_COUNT];
	char m[64];
	int ph;

	for (ph = PH_REF; ph < PH_COUNT; ph++) {
		rphase *p = &g->st[ph];
		double last = hl_median_ms(p->last, p->nlast);

		rearm[ph] = hl_median_ms(p->rearm, p->nrearm);
		hl_say(o,
		       "%s: %ld/%ld answered over %ld rounds, %ld wrong; median last answer %.2f "
		       "ms, all held again %.2f ms; reports recorded %lld (%lld missing, %lld "
		       "extra, %lld dropped); view applied %lld..%lld",
		       phase_name[ph], p->answered, p->expected, o->rounds, p->wrong, last,
		       rearm[ph], p->recorded, p->missing, p->extra, p->dropped, p->applied_min,
		       p->applied_max);
		if (rearm[ph] >= 0) {
			snprintf(m, sizeof(m), "%s_rearm_ms", phase_name[ph]);
			hl_result(o, m, rearm[ph], "ms", "low");
			snprintf(m, sizeof(m), "%s_last_ms", phase_name[ph]);
			hl_result(o, m, last, "ms", "low");
		}
		snprintf(m, sizeof(m), "%s_recorded", phase_name[ph]);
		hl_result(o, m, (double)p->recorded, "count", "none");
		snprintf(m, sizeof(m), "%s_missing", phase_name[ph]);
		hl_result(o, m, (double)p->missing, "count", "low");
		snprintf(m, sizeof(m), "%s_extra", phase_name[ph]);
		hl_result(o, m, (double)p->extra, "count", "low");
		snprintf(m, sizeof(m), "%s_dropped", phase_name[ph]);
		hl_result(o, m, (double)p->dropped, "count", "low");
		if (p->views) {
			snprintf(m, sizeof(m), "%s_applied_min", phase_name[ph]);
			hl_result(o, m, (double)p->applied_min, "count", "none");
			snprintf(m, sizeof(m), "%s_applied_max", phase_name[ph]);
			hl_result(o, m, (double)p->applied_max, "count", "none");
		}
	}
	if (g->st[PH_REP].nrearm)
		hl_result(o, "rep_recorded_per_phase",
			  (double)g->st[PH_REP].recorded / (double)g->st[PH_REP].nrearm, "count",
			  "high");
	if (rearm[PH_REP] > 0 && rearm[PH_REF] > 0) {
		hl_say(o, "re-arming with reports took %.2fx the time of re-arming without",
		       rearm[PH_REP] / rearm[PH_REF]);
		hl_result(o, "rep_vs_ref", rearm[PH_REP] / rearm[PH_REF], "x", "low");
	}
	hl_say(o,
	       "%ld answers between publishes, %ld expired waits, %ld failed requests, %ld "
	       "watchers failed, %ld re-arms not held, %ld failed metric polls%s%s",
	       g->stray, g->expired, g->req_fail, g->x.dead, g->repark_fail, g->ctl_bad,
	       g->why[0] ? "; first: " : "", g->why);
	hl_result(o, "early", (double)g->stray, "count", "low");
	hl_result(o, "errors",
		  (double)(g->req_fail + g->x.dead + g->repark_fail + g->ctl_bad +
			   g->st[PH_REF].wrong + g->st[PH_REP].wrong),
		  "count", "low");
}

/* RSS per watcher over rss_before, as metric; nothing without both. */
static void rss_row(rep_ctx *g, const char *metric, long long rss_before, long long rss)
{
	double per;

	if (rss_before <= 0 || rss <= 0)
		return;
	per = (double)(rss - rss_before) / (double)g->n;
	hl_say(g->o, "%s: server RSS %.1f MiB -> %.1f MiB: %.0f bytes per watcher", metric,
	       rss_before / 1048576.0, rss / 1048576.0, per);
	hl_result(g->o, metric, per, "B", "low");
}

static int rep_init(rep_ctx *g, const hl_opts *o)
{
	long i;
	int ph;

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->n = o->watchers;
	sbuf_init(&g->req, SBUF_NOMAX);
	sbuf_init(&g->mreq, SBUF_NOMAX);
	for (ph = 0; ph < PH_COUNT; ph++) {
		g->st[ph].rearm = xcalloc((size_t)o->rounds, sizeof(uint64_t));
		g->st[ph].last = xcalloc((size_t)o->rounds, sizeof(uint64_t));
	}
	if (hl_wctx_init(&g->x, o))
		return -1;
	g->x.user = g;
	g->x.on_answer = on_answer;
	g->x.request = watch_request;
	for (i = 0; i < g->n; i++) {
		g->x.w[i].key = KEY;
		g->x.w[i].keep_body = 1; /* the answer names the new md5 */
	}
	return 0;
}

static void rep_release(rep_ctx *g)
{
	int ph;

	hl_wctx_release(&g->x);
	for (ph = 0; ph < PH_COUNT; ph++) {
		free(g->st[ph].rearm);
		free(g->st[ph].last);
	}
	sbuf_release(&g->req);
	sbuf_release(&g->mreq);
}

/* Anything in the counts that says the scenario did not work. */
static int broken(const rep_ctx *g)
{
	const rphase *ref = &g->st[PH_REF], *rep = &g->st[PH_REP];

	return g->stray || g->req_fail || g->x.dead || g->repark_fail || g->ctl_bad || ref->wrong ||
	       rep->wrong || rep->missing || rep->extra || ref->extra || rep->dropped ||
	       ref->dropped || rep->applied_min != g->n || rep->applied_max != g->n ||
	       ref->applied_max != 0;
}

int hl_reports(const hl_opts *o)
{
	rep_ctx g;
	long long rss_before, rss_parked;
	uint64_t park_us;
	long r;
	int failed = 1;

	if (o->target != HL_HOTCONF) {
		fprintf(stderr, "hcload: apply reports are hotconf's; it runs on hotconf only\n");
		return 2;
	}
	if (rep_init(&g, o) || hl_wctx_prepare(&g.x))
		goto out;
	rss_before = o->pid ? hl_proc_rss(o->pid) : -1;
	park_us = hl_wctx_park_all(&g.x, o->window, 20);
	hl_say(o, "%ld/%ld watchers parked in %.1f ms", hl_wctx_parked(&g.x), g.n, ms(park_us));
	hl_result(o, "parked", (double)hl_wctx_parked(&g.x), "count", "high");
	hl_result(o, "park_ms", ms(park_us), "ms", "low");
	if (hl_wctx_parked(&g.x) < g.n) {
		fprintf(stderr, "hcload: only %ld of %ld watchers parked\n", hl_wctx_parked(&g.x),
			g.n);
		goto out;
	}
	/* A moment for stray answers to show before the RSS sample. */
	hl_wctx_pump_for(&g.x, 200000);
	rss_parked = o->pid ? hl_proc_rss(o->pid) : -1;
	rss_row(&g, "rss_per_watcher", rss_before, rss_parked);
	for (r = 1; r <= o->rounds; r++) {
		enum phase first = r % 2 ? PH_REF : PH_REP;

		if (run_phase(&g, first, r) || run_phase(&g, first == PH_REF ? PH_REP : PH_REF, r))
			break;
	}
	rss_row(&g, "rss_per_watcher_rearmed", rss_before, g.rss_rearmed);
	rss_row(&g, "rss_per_watcher_reported", rss_before, g.rss_reported);
	rss_row(&g, "rss_per_watcher_end", rss_before, g.rss_end);
	report(&g);
	failed = r <= o->rounds || broken(&g);
out:
	rep_release(&g);
	return failed;
}
