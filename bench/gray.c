/*
 * gray.c: hcload's gray-release scenario (issue 9's performance target).
 *
 * --watchers instances, each with its own X-Hotconf-Instance id and label
 * set, hold a watch on config PREFIX0 (G); --ref-watchers more instances
 * hold one on PREFIX1 (R), the reference. Then, --rounds times:
 *
 *   ref       publish R: every R watcher is answered (the plain wake-up the
 *             rule is judged against, in the same run)
 *   gray      PUT a 10% rule on G: exactly its members are answered, with
 *             the rule's content and X-Hotconf-Gray
 *   abort     DELETE it: the members again, with G's main content
 *   recreate  the same rule again (same salt): the members, gray content
 *   promote   POST .../promote: every other G watcher, with the rule's
 *             content and no X-Hotconf-Gray; no member (it holds that
 *             content already)
 *
 * Who is a member is decided before the rule is sent and never from the
 * answers: hcload picks the rule's salt, sends it in the rule, and compiles
 * the same match with common/gray.h's public functions over each watcher's
 * id, address and labels. The server's preview of the rule over its current
 * listeners is asked as well; when it lists every G watcher its count must
 * agree. After each change hcload waits --grace-ms for answers nobody
 * should get, compares the server's hotconf_watch_wakeups_total with the
 * answers (a watcher woken by mistake and parked again shows there only),
 * and re-arms the answered watchers with their new md5 until the server
 * holds every watch again. Each phase's time runs from the request's first
 * byte to the last expected watcher's last byte; a round uses a fresh rule
 * name, salt and content, so each round changes a different ~10%.
 *
 * The connection and park machinery is watchers.c's (hl_wctx); this file
 * plugs in the answer handling and the instance headers. Single-threaded;
 * every wait is bounded by --timeout or --grace-ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gray.h"
#include "hcload.h"
#include "md5.h"
#include "xmalloc.h"

#define PERCENT "10" /* the rule's match.percent */
#define KEY_G 0	     /* PREFIX0: the config the rules are on */
#define KEY_R 1	     /* PREFIX1: the reference config */

enum phase { PH_IDLE, PH_REF, PH_GRAY, PH_ABORT, PH_RECREATE, PH_PROMOTE, PH_COUNT };

static const char *const phase_name[PH_COUNT] = {"idle",  "ref",      "gray",
						 "abort", "recreate", "promote"};

/* One kind of phase, summed over the rounds. */
typedef struct gphase {
	long expected, answered, wrong, missed, extra;
	uint64_t *last; /* us, one per round in which every expected watcher answered */
	size_t nlast;
} gphase;

typedef struct gray_ctx {
	const hl_opts *o;
	hl_opts wo; /* o with watchers + refs watchers on two keys */
	hl_wctx x;
	long n, nref, total; /* G watchers w[0..n), R watchers w[n..total) */
	enum phase ph;
	char *expect; /* per watcher: must be answered in this phase */
	char *got;    /* per watcher: answered in this phase */
	char *member; /* per watcher: taken by the current rule */
	char want_md5[33], want_gray[72];
	long answered, wrong, answers; /* this phase: right, wrong, any but 304 */
	uint64_t last_us, first_us;
	long stray, expired, req_fail, repark_fail, preview_bad;
	long long preview_matched, preview_listeners;
	char why[640]; /* the first wrong answer, described */
	gphase st[PH_COUNT];
	char main_md5[33]; /* G's main content */
	sbuf req;
} gray_ctx;

static double ms(uint64_t us)
{
	return us / 1000.0;
}

/* Watcher i's id and labels: distinct for every instance. */
static void ident(const gray_ctx *g, long i, char id[32], char labels[96])
{
	if (i < g->n) {
		snprintf(id, 32, "inst-%ld", i);
		snprintf(labels, 96, "app=bench,shard=%ld,host=h%ld", i % 16, i);
	} else {
		snprintf(id, 32, "ref-%ld", i - g->n);
		snprintf(labels, 96, "app=bench-ref,shard=%ld,host=r%ld", (i - g->n) % 16,
			 i - g->n);
	}
}

static void watch_headers(const hl_wctx *x, const hl_conn *c, sbuf *out)
{
	const gray_ctx *g = x->user;
	char id[32], labels[96];

	ident(g, c->id, id, labels);
	sbuf_addf(out, "X-Hotconf-Instance: %s\r\nX-Hotconf-Labels: %s\r\n", id, labels);
}

/* Keeps a description of the first thing that went wrong. */
static void note(gray_ctx *g, const hl_conn *c, const char *what)
{
	if (g->why[0])
		return;
	snprintf(g->why, sizeof(g->why),
		 "%s: watcher %ld (%s) %s: status %d, ETag %s, X-Hotconf-Gray '%s' (it should "
		 "get %s; this phase answers ETag %s, X-Hotconf-Gray '%s')",
		 phase_name[g->ph], c->id, c->id < g->n ? "gray config" : "reference", what,
		 c->resp.status, c->resp.etag[0] ? c->resp.etag : "-", c->resp.gray,
		 g->expect[c->id] ? "an answer" : "no answer", g->want_md5, g->want_gray);
}

static void on_answer(hl_wctx *x, hl_conn *c, enum hl_ev_kind kind)
{
	gray_ctx *g = x->user;
	char body_md5[33];

	if (kind == HL_EV_CLOSED) {
		note(g, c, "lost its connection");
		hl_wctx_fail(x, c);
		return;
	}
	if (c->resp.status == 304) {
		g->expired++; /* its wait ran out: ask again */
		hl_wctx_arm(x, c);
		return;
	}
	if (c->resp.status == 200 && c->resp.etag[0])
		snprintf(c->md5, sizeof(c->md5), "%.32s", c->resp.etag);
	if (g->ph == PH_IDLE) {
		/* Nothing changed: this answer is wrong whatever it says. */
		g->stray++;
		note(g, c, "was answered between changes");
		hl_wctx_arm(x, c);
		return;
	}
	g->answers++;
	g->got[c->id] = 1;
	md5_hex(c->body.buf, c->body.len, body_md5);
	if (!g->expect[c->id] || c->resp.status != 200 || strcmp(c->resp.etag, g->want_md5) ||
	    strcmp(body_md5, g->want_md5) || strcmp(c->resp.gray, g->want_gray)) {
		g->wrong++;
		note(g, c,
		     strcmp(body_md5, c->resp.etag) ? "got a body not matching its ETag"
						    : "was answered wrongly");
		return;
	}
	g->answered++;
	if (c->t_done - x->t_pub > g->last_us)
		g->last_us = c->t_done - x->t_pub;
	if (!g->first_us || c->t_done - x->t_pub < g->first_us)
		g->first_us = c->t_done - x->t_pub;
}

/* Reads /metrics now (held watches, wakeups) without losing any watcher's
 * answer meanwhile. Returns 0, or -1 if the server did not answer. */
static int metric_now(gray_ctx *g)
{
	hl_wctx *x = &g->x;
	uint64_t until = hl_now_us() + 10000000;
	long polls;

	x->poll_ms = 0;
	while (x->ctl.busy && hl_now_us() < until)
		hl_wctx_pump(x, 5); /* an older poll's answer would be stale */
	polls = x->polls;
	x->poll_ms = 1;
	x->next_poll = 0;
	while (x->polls == polls && hl_now_us() < until)
		hl_wctx_pump(x, 5);
	x->poll_ms = 0;
	return x->polls > polls ? 0 : -1;
}

/* Re-arms the watchers answered in the last phase with the md5 they got and
 * waits until the server holds every live watch again. Returns 0 or -1. */
static int rearm(gray_ctx *g)
{
	hl_wctx *x = &g->x;
	uint64_t until = hl_now_us() + (uint64_t)(g->o->timeout * 1e6);
	long i, armed = 0;

	for (i = 0; i < g->total; i++)
		if (g->got[i] && !x->w[i].dead && !x->w[i].busy) {
			hl_wctx_arm(x, &x->w[i]);
			armed++;
		}
	if (!armed)
		return 0;
	x->poll_ms = 5;
	x->next_poll = hl_now_us();
	while (hl_wctx_parked(x) < g->total - x->dead && hl_now_us() < until)
		hl_wctx_pump(x, 5);
	x->poll_ms = 0;
	if (hl_wctx_parked(x) >= g->total - x->dead)
		return 0;
	fprintf(stderr, "hcload: only %ld of %ld watches held again after re-arming %ld\n",
		hl_wctx_parked(x), g->total - x->dead, armed);
	g->repark_fail++;
	return -1;
}

/* Sends the change req as phase ph, waits for every expected answer (and
 * --grace-ms more for wrong ones), counts, and re-arms. Returns 0, or -1
 * when the request or the server's metrics failed. */
static int run_phase(gray_ctx *g, enum phase ph, long round, const sbuf *req)
{
	hl_wctx *x = &g->x;
	gphase *p = &g->st[ph];
	uint64_t until;
	long long wake0, extra = 0;
	long expected = 0, i;
	int rc = 0, st;

	for (i = 0; i < g->total; i++)
		expected += g->expect[i];
	memset(g->got, 0, (size_t)g->total);
	g->answered = g->wrong = g->answers = 0;
	g->last_us = g->first_us = 0;
	if (metric_now(g))
		rc = -1;
	wake0 = x->wakeups;
	g->ph = ph;
	if (hl_wctx_send_pub(x, req->buf, req->len))
		x->pub_status = -1;
	until = hl_now_us() + (uint64_t)(g->o->timeout * 1e6);
	while (hl_now_us() < until &&
	       (!x->pub_status ||
		(x->pub_status >= 200 && x->pub_status <= 299 && g->answered < expected)))
		hl_wctx_pump(x, 5);
	hl_wctx_pump_for(x, (uint64_t)g->o->grace_ms * 1000);
	g->ph = PH_IDLE;
	st = x->pub_status;
	if (st < 200 || st > 299) {
		fprintf(stderr, "hcload: round %ld %s: the request failed (status %d): %.300s\n",
			round, phase_name[ph], st, x->pub.body.buf);
		g->req_fail++;
		rc = -1;
	}
	if (metric_now(g))
		rc = -1;
	else if (wake0 >= 0 && x->wakeups >= 0)
		extra = x->wakeups - wake0 - g->answers;
	for (i = 0; i < g->total && g->answered < expected && !g->why[0]; i++)
		if (g->expect[i] && !g->got[i]) {
			g->ph = ph;
			note(g, &x->w[i], "was never answered");
			g->ph = PH_IDLE;
		}
	p->expected += expected;
	p->answered += g->answered;
	p->wrong += g->wrong;
	p->missed += expected - g->answered;
	p->extra += extra > 0 ? extra : 0;
	if (expected && g->answered == expected)
		p->last[p->nlast++] = g->last_us;
	hl_say(
	    g->o,
	    "round %ld %s: request %d in %.2f ms; %ld/%ld expected answered, first %.2f ms, last "
	    "%.2f ms; "
	    "%ld wrong; %lld server wakeups beyond the answers",
	    round, phase_name[ph], st, st > 0 ? ms(x->t_ack - x->t_pub) : -1.0, g->answered,
	    expected, ms(g->first_us), ms(g->last_us), g->wrong, extra);
	if (rearm(g))
		rc = -1;
	return rc;
}

/* A request on config key's rule path: /api/v1/.../KEY/gray/RULE SUFFIX. */
static void rule_req(gray_ctx *g, const char *method, const char *rule, const char *suffix,
		     const char *json)
{
	const hl_opts *o = g->o;
	char key[64];
	size_t n = json ? strlen(json) : 0;

	hl_key_name(o, KEY_G, key);
	sbuf_reset(&g->req);
	sbuf_addf(&g->req, "%s ", method);
	hl_key_path(o, &g->req, key);
	sbuf_addf(&g->req,
		  "/gray/%s%s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\n"
		  "Content-Length: %zu\r\n\r\n%s",
		  rule, suffix, o->host, o->authz, n, json ? json : "");
}

/* member[] for the rule percent PERCENT under salt, from gray.h alone;
 * returns how many G watchers it takes, or -1. */
static long predict(gray_ctx *g, const char *salt)
{
	sbuf why = SBUF_INIT(1024);
	gray_rule *rule = NULL;
	long i, count = 0;

	memset(g->member, 0, (size_t)g->total);
	if (gray_rule_compile(NULL, 0, 0, NULL, PERCENT, salt, &rule, &why)) {
		fprintf(stderr, "hcload: cannot compile the rule: %s\n", why.buf);
		count = -1;
		goto out;
	}
	for (i = 0; i < g->n; i++) {
		const hl_conn *c = &g->x.w[i];
		char id[32], labels[96], ip[20];
		gray_inst *inst = NULL;

		ident(g, i, id, labels);
		snprintf(ip, sizeof(ip), "127.0.0.%d", c->src >= 0 ? c->src + 2 : 1);
		sbuf_reset(&why);
		if (gray_inst_new(id, ip, labels, &inst, &why)) {
			fprintf(stderr, "hcload: instance %s: %s\n", id, why.buf);
			count = -1;
			goto out;
		}
		g->member[i] = (char)gray_rule_matches(rule, inst);
		count += g->member[i];
		gray_inst_free(inst);
	}
out:
	gray_rule_free(rule);
	sbuf_release(&why);
	return count;
}

/* "key":NUMBER in a JSON body; -1 when absent. */
static long long json_num(const char *body, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(body, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The server's preview of the rule over G's current listeners. When it
 * lists every G watcher, its count must be ours. Returns 0 or -1. */
static int preview(gray_ctx *g, const char *rule, const char *salt, long predicted)
{
	char json[160];
	int st;

	snprintf(json, sizeof(json), "{\"salt\":\"%s\",\"match\":{\"percent\":%s}}", salt, PERCENT);
	rule_req(g, "POST", rule, "/preview", json);
	st = hl_wctx_call(&g->x, g->req.buf, g->req.len);
	if (st != 200) {
		fprintf(stderr, "hcload: the preview failed (status %d): %.300s\n", st,
			g->x.pub.body.buf);
		g->req_fail++;
		return -1;
	}
	g->preview_listeners = json_num(g->x.pub.body.buf, "listeners");
	g->preview_matched = json_num(g->x.pub.body.buf, "matched");
	if (g->preview_listeners == g->n && g->preview_matched != predicted) {
		fprintf(stderr,
			"hcload: the preview matches %lld of %lld listeners, we predict %ld\n",
			g->preview_matched, g->preview_listeners, predicted);
		g->preview_bad++;
	}
	return 0;
}

/* Sets expect[] to the watchers in [from, to) with member[i] == want
 * (want < 0: all of them), and the answer they must get. */
static void expect(gray_ctx *g, long from, long to, int want, const char *md5, const char *rule)
{
	long i;

	memset(g->expect, 0, (size_t)g->total);
	for (i = from; i < to; i++)
		g->expect[i] = (char)(want < 0 || g->member[i] == want);
	snprintf(g->want_md5, sizeof(g->want_md5), "%s", md5);
	snprintf(g->want_gray, sizeof(g->want_gray), "%s", rule);
}

static int one_round(gray_ctx *g, long r)
{
	const hl_opts *o = g->o;
	sbuf content = SBUF_INIT(SBUF_NOMAX), json = SBUF_INIT(SBUF_NOMAX);
	char key[64], rule[64], salt[33], md5[33];
	long members;
	int rc = -1;

	/* (a) the reference: a plain publish waking the R watchers */
	hl_content(&content, (size_t)o->size, "ref", (uint64_t)r);
	md5_hex(content.buf, content.len, md5);
	expect(g, g->n, g->total, -1, md5, "");
	hl_key_name(o, KEY_R, key);
	sbuf_reset(&g->req);
	hl_req_put(o, &g->req, key, content.buf, content.len);
	if (run_phase(g, PH_REF, r, &g->req))
		goto out;

	/* (b) a 10% rule with our salt, its members predicted first */
	snprintf(rule, sizeof(rule), "hcload-%ld", r);
	sbuf_reset(&content);
	hl_content(&content, 48, "salt", (uint64_t)r);
	md5_hex(content.buf, content.len, salt);
	if ((members = predict(g, salt)) < 0 || preview(g, rule, salt, members))
		goto out;
	sbuf_reset(&content);
	hl_content(&content, (size_t)o->size, "gray", (uint64_t)r);
	md5_hex(content.buf, content.len, md5);
	/* hl_content is [a-z0-9-] only: it needs no JSON escaping. */
	sbuf_addf(&json,
		  "{\"priority\":10,\"content\":\"%s\",\"salt\":\"%s\",\"message\":\"hcload round "
		  "%ld\",\"match\":{\"percent\":%s}}",
		  content.buf, salt, r, PERCENT);
	hl_say(o, "round %ld: rule %s takes %ld of %ld instances (preview: %lld of %lld)", r, rule,
	       members, g->n, g->preview_matched, g->preview_listeners);
	expect(g, 0, g->n, 1, md5, rule);
	rule_req(g, "PUT", rule, "", json.buf);
	if (run_phase(g, PH_GRAY, r, &g->req))
		goto out;

	/* (c) abort: the members go back to main */
	expect(g, 0, g->n, 1, g->main_md5, "");
	rule_req(g, "DELETE", rule, "", NULL);
	if (run_phase(g, PH_ABORT, r, &g->req))
		goto out;

	/* (d) the rule again, then promote: everyone else gets its content */
	expect(g, 0, g->n, 1, md5, rule);
	rule_req(g, "PUT", rule, "", json.buf);
	if (run_phase(g, PH_RECREATE, r, &g->req))
		goto out;
	expect(g, 0, g->n, 0, md5, "");
	rule_req(g, "POST", rule, "/promote", "{\"message\":\"hcload\"}");
	if (run_phase(g, PH_PROMOTE, r, &g->req))
		goto out;
	memcpy(g->main_md5, md5, sizeof(md5));
	rc = 0;
out:
	sbuf_release(&content);
	sbuf_release(&json);
	return rc;
}

static void report(gray_ctx *g)
{
	const hl_opts *o = g->o;
	double med[PH_COUNT];
	int ph;

	for (ph = PH_REF; ph < PH_COUNT; ph++) {
		gphase *p = &g->st[ph];
		char m[64];

		med[ph] = hl_median_ms(p->last, p->nlast);
		hl_say(o,
		       "%s: %ld/%ld expected answers over %ld rounds, %ld missed, %ld wrong, %ld "
		       "extra server wakeups; last watcher median %.2f ms",
		       phase_name[ph], p->answered, p->expected, o->rounds, p->missed, p->wrong,
		       p->extra, med[ph]);
		if (med[ph] >= 0) {
			snprintf(m, sizeof(m), "%s_last_ms", phase_name[ph]);
			hl_result(o, m, med[ph], "ms", "low");
		}
		snprintf(m, sizeof(m), "%s_answered", phase_name[ph]);
		hl_result(o, m, (double)p->answered, "count", "high");
		snprintf(m, sizeof(m), "%s_expected", phase_name[ph]);
		hl_result(o, m, (double)p->expected, "count", "none");
		snprintf(m, sizeof(m), "%s_wrong", phase_name[ph]);
		hl_result(o, m, (double)(p->wrong + p->extra), "count", "low");
		snprintf(m, sizeof(m), "%s_missed", phase_name[ph]);
		hl_result(o, m, (double)p->missed, "count", "low");
	}
	if (med[PH_GRAY] > 0 && med[PH_REF] > 0) {
		hl_say(o, "the rule's last member answered in %.2fx the time of the reference",
		       med[PH_GRAY] / med[PH_REF]);
		hl_result(o, "gray_vs_ref", med[PH_GRAY] / med[PH_REF], "x", "low");
	}
	hl_say(o,
	       "%ld answers between changes, %ld expired waits, %ld failed requests, %ld "
	       "watchers failed, %ld re-arms not held, %ld preview disagreements%s%s",
	       g->stray, g->expired, g->req_fail, g->x.dead, g->repark_fail, g->preview_bad,
	       g->why[0] ? "; first: " : "", g->why);
	hl_result(o, "early", (double)g->stray, "count", "low");
	hl_result(o, "errors", (double)(g->req_fail + g->x.dead + g->repark_fail + g->preview_bad),
		  "count", "low");
}

/* Samples RSS with every watch held; answers meanwhile are strays. */
static void rss_phase(gray_ctx *g, long long rss_before)
{
	const hl_opts *o = g->o;
	long long rss;

	hl_wctx_pump_for(&g->x, 200000);
	rss = o->pid ? hl_proc_rss(o->pid) : -1;
	if (rss_before > 0 && rss > 0) {
		double per = (double)(rss - rss_before) / (double)g->total;
		hl_say(o, "server RSS %.1f MiB -> %.1f MiB: %.0f bytes per watcher",
		       rss_before / 1048576.0, rss / 1048576.0, per);
		hl_result(o, "rss_before", (double)rss_before, "B", "none");
		hl_result(o, "rss_parked", (double)rss, "B", "none");
		hl_result(o, "rss_per_watcher", per, "B", "low");
	}
}

static int gray_init(gray_ctx *g, const hl_opts *o)
{
	long i;
	int ph;

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->n = o->watchers;
	g->nref = o->refs;
	g->total = g->n + g->nref;
	g->wo = *o;
	g->wo.watchers = g->total;
	g->wo.keys = 2;
	sbuf_init(&g->req, SBUF_NOMAX);
	g->expect = xcalloc((size_t)g->total, 1);
	g->got = xcalloc((size_t)g->total, 1);
	g->member = xcalloc((size_t)g->total, 1);
	for (ph = 0; ph < PH_COUNT; ph++)
		g->st[ph].last = xcalloc((size_t)o->rounds, sizeof(uint64_t));
	if (hl_wctx_init(&g->x, &g->wo))
		return -1;
	g->x.user = g;
	g->x.on_answer = on_answer;
	g->x.headers = watch_headers;
	for (i = 0; i < g->total; i++) {
		g->x.w[i].key = i < g->n ? KEY_G : KEY_R;
		g->x.w[i].keep_body = 1; /* the body's md5 must be the ETag's */
	}
	return 0;
}

static void gray_release(gray_ctx *g)
{
	int ph;

	hl_wctx_release(&g->x);
	for (ph = 0; ph < PH_COUNT; ph++)
		free(g->st[ph].last);
	free(g->expect);
	free(g->got);
	free(g->member);
	sbuf_release(&g->req);
}

int hl_gray(const hl_opts *o)
{
	gray_ctx g;
	long long rss_before;
	uint64_t park_us;
	long r;
	int failed = 1, ph;

	if (o->target != HL_HOTCONF) {
		fprintf(stderr, "hcload: gray release is hotconf's; it runs on hotconf only\n");
		return 2;
	}
	if (gray_init(&g, o) || hl_wctx_prepare(&g.x))
		goto out;
	memcpy(g.main_md5, g.x.md5[KEY_G], sizeof(g.main_md5));
	rss_before = o->pid ? hl_proc_rss(o->pid) : -1;
	park_us = hl_wctx_park_all(&g.x, o->window, 20);
	hl_say(o, "%ld/%ld watchers parked in %.1f ms (%ld on the gray config, %ld reference)",
	       hl_wctx_parked(&g.x), g.total, ms(park_us), g.n, g.nref);
	hl_result(o, "parked", (double)hl_wctx_parked(&g.x), "count", "high");
	hl_result(o, "park_ms", ms(park_us), "ms", "low");
	if (hl_wctx_parked(&g.x) < g.total) {
		fprintf(stderr, "hcload: only %ld of %ld watchers parked\n", hl_wctx_parked(&g.x),
			g.total);
		goto out;
	}
	rss_phase(&g, rss_before);
	for (r = 1; r <= o->rounds; r++)
		if (one_round(&g, r))
			break;
	report(&g);
	failed =
	    r <= o->rounds || g.stray || g.req_fail || g.x.dead || g.repark_fail || g.preview_bad;
	for (ph = PH_REF; ph < PH_COUNT; ph++)
		failed |= g.st[ph].wrong || g.st[ph].missed || g.st[ph].extra;
out:
	gray_release(&g);
	return failed;
}
