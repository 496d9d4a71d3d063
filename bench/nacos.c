/*
 * nacos.c: hcload's scenarios that set another kind of long poll against
 * the native watch of one config in the same run: the Nacos listener
 * (issue 13's performance target) and the pattern watch (issue 15).
 *
 * Two kinds of phase on one config, PREFIX0 in group hcload of namespace
 * public, each with --watchers fresh connections:
 *
 *   nacos   POST /nacos/v1/cs/configs/listener with Long-Pulling-Timeout:
 *           30000 and one record, Listening-Configs=PREFIX0^Bhcload^B<md5>
 *           ^Bpublic^A (form-encoded), as Nacos' v1 clients long-poll
 *           (hcload nacos)
 *   pattern POST /api/v1/watch?wait=30s of the whole group,
 *           {"configs":[{"namespace":"public","group":"hcload",
 *           "known":{"PREFIX0":"<md5>"}}]} (hcload pattern)
 *   native  hotconf's own watch of one config, GET ?wait= with If-None-Match
 *           (the park scenario's watch, watchers.c)
 *
 * A phase seeds the config (a native PUT), parks every listener (counted in
 * hotconf_watches_held), waits a moment for stray answers, publishes once
 * through the native PUT and times, per listener, the publish request's
 * first byte to the listener's last byte. A Nacos listener must get exactly
 * "PREFIX0%02hcload%02public%01\n", a pattern watch PREFIX0 with the new
 * md5 in its changed list, a native watch a 200 with the new content's ETag. Then every connection
 * is reset and the next phase starts from nothing. Per --rounds one phase of each kind, the order
 * alternating
 * (--first's kind first in odd rounds) so a drift of the box falls on both
 * alike; the ratio reported is the median over the rounds of the Nacos
 * listeners' last answer over the median of the native watches' last.
 *
 * The server's memory per listener is measured as park does (VmRSS after
 * parking minus VmRSS before, over the listeners), and only in the first
 * phase, the only one that runs on a server no listener has used yet: a
 * later phase reuses memory the allocator kept from the one before it.
 * run.sh runs this once with --first nacos and once with --first native on
 * fresh servers, so both kinds' memory comes from the same run.
 *
 * The connection and park machinery is watchers.c's (hl_wctx); this file
 * plugs in the Nacos request and the answer checks. Single-threaded; every
 * wait is bounded by --timeout (or SETTLE_US, PAUSE_US).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hcload.h"
#include "md5.h"
#include "xmalloc.h"

#define KEY 0		   /* PREFIX0: the one config */
#define LONG_PULL_MS 30000 /* Long-Pulling-Timeout, as the Nacos clients send */
#define PAUSE_US 200000	   /* after parking: stray answers show, then the RSS sample */
#define SETTLE_US 300000   /* between phases: the server closes the last one's sockets */
#define CPU_UNKNOWN -1.0   /* ms: a CPU time that could not be read */

/* K_OTHER is the scenario's own kind: a Nacos listener or a pattern watch. */
enum kind { K_OTHER, K_NATIVE, K_COUNT };

/* One kind of phase, summed over the rounds. */
typedef struct nphase {
	uint64_t *last, *median; /* us, one per round in which every listener answered */
	size_t nlast;
	double *srv_cpu, *cli_cpu; /* ms of CPU while they woke, one per such round */
	long expected, answered, wrong, early, lost, not_parked;
	long long rss_before, rss_parked; /* the first phase's, when it is this kind */
	long parked_first;		  /* listeners parked in its first phase */
} nphase;

typedef struct nacos_ctx {
	const hl_opts *o;
	int pattern;			/* K_OTHER is the pattern watch, not Nacos' */
	const char *kind_name[K_COUNT]; /* "nacos" or "pattern", "native" */
	enum kind kind;			/* of the phase running */
	int publishing;			/* the publish went out: answers now count */
	char want_md5[33];		/* the content the publish installs */
	char want_line[160];		/* a Nacos listener's answer to it; a pattern's entry */
	long answered, wrong;		/* this phase */
	uint64_t *lat;			/* this phase: us from the publish, one per right answer */
	size_t nlat;
	long early, req_fail;
	char why[512]; /* the first thing that went wrong, described */
	nphase st[K_COUNT];
	sbuf req;
} nacos_ctx;

static double ms(uint64_t us)
{
	return us / 1000.0;
}

/* Keeps a description of the first thing that went wrong. */
static void note(nacos_ctx *g, const hl_conn *c, const char *what)
{
	if (g->why[0])
		return;
	snprintf(g->why, sizeof(g->why), "%s: listener %ld %s (status %d, ETag %s, body '%.80s')",
		 g->kind_name[g->kind], c ? c->id : -1, what, c ? c->resp.status : 0,
		 c && c->resp.etag[0] ? c->resp.etag : "-", c ? c->body.buf : "");
}

/* "PREFIX0^Bhcload^B<md5>^Bpublic^A", form-encoded, into out. */
static void listening_configs(const hl_opts *o, const char *md5, sbuf *out)
{
	char key[64];

	hl_key_name(o, KEY, key);
	/* Key names are [A-Za-z0-9] and md5s hex: only the separators need escapes. */
	sbuf_addf(out, "Listening-Configs=%s%%02hcload%%02%s%%02public%%01", key, md5);
}

static void nacos_request(const hl_wctx *x, const hl_conn *c, sbuf *out)
{
	const hl_opts *o = x->o;
	sbuf body = SBUF_INIT(SBUF_NOMAX);

	listening_configs(o, c->md5, &body);
	sbuf_addf(out,
		  "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: %s\r\n%s"
		  "Long-Pulling-Timeout: %d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		  "Content-Length: %zu\r\n\r\n%s",
		  o->host, o->authz, LONG_PULL_MS, body.len, body.buf);
	sbuf_release(&body);
}

static void pattern_request(const hl_wctx *x, const hl_conn *c, sbuf *out)
{
	const hl_opts *o = x->o;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	char key[64];

	hl_key_name(o, KEY, key);
	sbuf_addf(&body,
		  "{\"configs\":[{\"namespace\":\"public\",\"group\":\"hcload\","
		  "\"known\":{\"%s\":\"%s\"}}]}",
		  key, c->md5);
	sbuf_addf(out,
		  "POST /api/v1/watch?wait=%ds HTTP/1.1\r\nHost: %s\r\n%s"
		  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		  LONG_PULL_MS / 1000, o->host, o->authz, body.len, body.buf);
	sbuf_release(&body);
}

/* Is c's answer the right one for the publish? A pattern's lists exactly
 * PREFIX0 with the new md5 (the group holds nothing else). */
static int answer_ok(const nacos_ctx *g, const hl_conn *c)
{
	if (c->resp.status != 200)
		return 0;
	if (g->kind == K_NATIVE)
		return !strcmp(c->resp.etag, g->want_md5);
	if (g->pattern)
		return !strncmp(c->body.buf, "{\"changed\":[{", 13) &&
		       strstr(c->body.buf, g->want_line) && !strstr(c->body.buf, "},{");
	return !strcmp(c->body.buf, g->want_line);
}

static void on_answer(hl_wctx *x, hl_conn *c, enum hl_ev_kind kind)
{
	nacos_ctx *g = x->user;

	if (kind == HL_EV_CLOSED) {
		if (!c->answered) {
			note(g, c, "lost its connection");
			hl_wctx_fail(x, c);
		}
		return;
	}
	if (c->answered++) {
		g->wrong++; /* it asked once: a second answer cannot be */
		note(g, c, "was answered twice");
		return;
	}
	if (!g->publishing) {
		/* Nothing changed yet: a 304, an empty 200 (a timeout) or a change
		 * are all wrong here. */
		g->early++;
		x->early++; /* not parked any more: park_all stops waiting for it */
		note(g, c, "was answered before the publish");
		return;
	}
	if (!answer_ok(g, c)) {
		g->wrong++;
		note(g, c, "got a wrong answer to the publish");
		return;
	}
	g->answered++;
	g->lat[g->nlat++] = c->t_done - x->t_pub;
}

/* hcload's own CPU time so far, in us. */
static uint64_t self_cpu_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Parks the phase's listeners; the RSS too if first. Returns 0 or -1. */
static int park(nacos_ctx *g, hl_wctx *x, nphase *p, int first)
{
	const hl_opts *o = g->o;
	long long rss_before = first && o->pid ? hl_proc_rss(o->pid) : -1;
	uint64_t park_us = hl_wctx_park_all(x, o->window, 20);
	long parked = hl_wctx_parked(x);

	if (!p->parked_first && !p->not_parked)
		p->parked_first = parked;
	hl_say(o, "%s: %ld/%ld listeners parked in %.1f ms", g->kind_name[g->kind], parked, x->n,
	       ms(park_us));
	if (parked < x->n || x->dead || g->early) {
		fprintf(stderr, "hcload: %s: %ld of %ld listeners parked, %ld failed, %ld early\n",
			g->kind_name[g->kind], parked, x->n, x->dead, g->early);
		p->not_parked += x->n - parked;
		return -1;
	}
	hl_wctx_pump_for(x, PAUSE_US);
	if (g->early)
		return -1;
	if (rss_before > 0) {
		p->rss_before = rss_before;
		p->rss_parked = hl_proc_rss(o->pid);
	}
	return 0;
}

/* Publishes once and waits (up to --timeout) until every listener answered. */
static int wake(nacos_ctx *g, hl_wctx *x, nphase *p, long round)
{
	const hl_opts *o = g->o;
	sbuf content = SBUF_INIT(SBUF_NOMAX);
	uint64_t until, cpu0 = self_cpu_us(), cli_us;
	long long srv0 = o->pid ? hl_proc_cpu_ns(o->pid) : -1, srv1;
	long live = x->n - x->dead;
	char key[64];
	int rc = -1;

	hl_content(&content, (size_t)o->size, g->kind_name[g->kind], (uint64_t)round);
	md5_hex(content.buf, content.len, g->want_md5);
	hl_key_name(o, KEY, key);
	if (g->pattern)
		snprintf(g->want_line, sizeof(g->want_line), "\"dataId\":\"%s\",\"md5\":\"%s\"",
			 key, g->want_md5);
	else
		snprintf(g->want_line, sizeof(g->want_line), "%s%%02hcload%%02public%%01\n", key);
	sbuf_reset(&g->req);
	hl_req_put(o, &g->req, key, content.buf, content.len);
	g->answered = g->wrong = 0;
	g->nlat = 0;
	g->publishing = 1;
	if (hl_wctx_send_pub(x, g->req.buf, g->req.len))
		x->pub_status = -1;
	until = hl_now_us() + (uint64_t)(o->timeout * 1e6);
	while (hl_now_us() < until && x->pub_status >= 0 &&
	       (!x->pub_status || g->answered + g->wrong < x->n - x->dead))
		hl_wctx_pump(x, 5);
	cli_us = self_cpu_us() - cpu0;
	srv1 = o->pid ? hl_proc_cpu_ns(o->pid) : -1;
	g->publishing = 0;
	p->expected += live;
	p->answered += g->answered;
	p->wrong += g->wrong;
	p->lost += live - (x->n - x->dead);
	if (x->pub_status < 200 || x->pub_status > 299) {
		fprintf(stderr, "hcload: round %ld %s: the publish failed (status %d): %.300s\n",
			round, g->kind_name[g->kind], x->pub_status, x->pub.body.buf);
		g->req_fail++;
		goto out;
	}
	if (g->answered < live) {
		fprintf(stderr, "hcload: round %ld %s: %ld of %ld listeners answered right\n",
			round, g->kind_name[g->kind], g->answered, live);
		goto out;
	}
	hl_sort_u64(g->lat, g->nlat);
	p->last[p->nlast] = hl_pct(g->lat, g->nlat, 100);
	p->median[p->nlast] = hl_pct(g->lat, g->nlat, 50);
	p->srv_cpu[p->nlast] = srv0 >= 0 && srv1 >= srv0 ? (srv1 - srv0) / 1e6 : CPU_UNKNOWN;
	p->cli_cpu[p->nlast] = ms(cli_us);
	hl_say(o,
	       "round %ld %s: publish %d in %.2f ms; %ld/%ld answered, median %.2f ms, last %.2f "
	       "ms; server CPU %.1f ms, hcload CPU %.1f ms",
	       round, g->kind_name[g->kind], x->pub_status, ms(x->t_ack - x->t_pub), g->answered,
	       live, ms(p->median[p->nlast]), ms(p->last[p->nlast]), p->srv_cpu[p->nlast],
	       p->cli_cpu[p->nlast]);
	p->nlast++;
	rc = 0;
out:
	sbuf_release(&content);
	return rc;
}

/* One phase of kind k on fresh connections. Returns 0, or -1 when it did
 * not work (the caller stops there). */
static int run_phase(nacos_ctx *g, enum kind k, long round, int first)
{
	const hl_opts *o = g->o;
	nphase *p = &g->st[k];
	struct timespec settle = {0, SETTLE_US * 1000L};
	hl_wctx x;
	long i;
	int rc = -1;

	g->kind = k;
	g->early = 0;
	if (hl_wctx_init(&x, o))
		goto out;
	x.user = g;
	x.on_answer = on_answer;
	if (k == K_OTHER)
		x.request = g->pattern ? pattern_request : nacos_request;
	for (i = 0; i < x.n; i++) {
		x.w[i].key = KEY;
		x.w[i].keep_body = k == K_OTHER; /* the answer lists what changed */
	}
	if (hl_wctx_prepare(&x)) {
		g->req_fail++;
		goto out;
	}
	if (park(g, &x, p, first)) {
		p->early += g->early;
		goto out;
	}
	rc = wake(g, &x, p, round);
	p->early += g->early;
out:
	if (g->early && !rc)
		rc = -1;
	hl_wctx_release(&x);
	/* Give the server a moment to close what we reset before the next phase. */
	nanosleep(&settle, NULL);
	return rc;
}

static double median_d(double *v, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		double t = v[i];
		for (j = i; j > 0 && v[j - 1] > t; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	if (!n)
		return -1;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(nacos_ctx *g)
{
	const hl_opts *o = g->o;
	double last[K_COUNT];
	char m[64];
	int k;

	for (k = 0; k < K_COUNT; k++) {
		nphase *p = &g->st[k];
		double med = hl_median_ms(p->median, p->nlast);
		double srv = median_d(p->srv_cpu, p->nlast), cli = median_d(p->cli_cpu, p->nlast);

		last[k] = hl_median_ms(p->last, p->nlast);
		hl_say(
		    o,
		    "%s: %ld/%ld answered right over %zu rounds, %ld wrong, %ld early, %ld lost; "
		    "median of the rounds' last answer %.2f ms, of their median %.2f ms",
		    g->kind_name[k], p->answered, p->expected, p->nlast, p->wrong, p->early,
		    p->lost, last[k], med);
		snprintf(m, sizeof(m), "%s_parked", g->kind_name[k]);
		hl_result(o, m, (double)p->parked_first, "count", "high");
		snprintf(m, sizeof(m), "%s_answered", g->kind_name[k]);
		hl_result(o, m, (double)p->answered, "count", "high");
		snprintf(m, sizeof(m), "%s_missed", g->kind_name[k]);
		hl_result(o, m, (double)(p->expected - p->answered), "count", "low");
		snprintf(m, sizeof(m), "%s_wrong", g->kind_name[k]);
		hl_result(o, m, (double)(p->wrong + p->early), "count", "low");
		snprintf(m, sizeof(m), "%s_lost", g->kind_name[k]);
		hl_result(o, m, (double)(p->lost + p->not_parked), "count", "low");
		if (last[k] >= 0) {
			snprintf(m, sizeof(m), "%s_last_ms", g->kind_name[k]);
			hl_result(o, m, last[k], "ms", "low");
			snprintf(m, sizeof(m), "%s_median_ms", g->kind_name[k]);
			hl_result(o, m, med, "ms", "low");
			snprintf(m, sizeof(m), "%s_server_cpu_ms", g->kind_name[k]);
			hl_result(o, m, srv, "ms", "low");
			snprintf(m, sizeof(m), "%s_client_cpu_ms", g->kind_name[k]);
			hl_result(o, m, cli, "ms", "none");
		}
		if (p->rss_before > 0 && p->rss_parked > 0) {
			double per = (double)(p->rss_parked - p->rss_before) / (double)o->watchers;
			hl_say(o, "%s: server RSS %.1f MiB -> %.1f MiB: %.0f bytes per listener",
			       g->kind_name[k], p->rss_before / 1048576.0,
			       p->rss_parked / 1048576.0, per);
			snprintf(m, sizeof(m), "%s_rss_per_watcher", g->kind_name[k]);
			hl_result(o, m, per, "B", "low");
		}
	}
	if (last[K_OTHER] > 0 && last[K_NATIVE] > 0) {
		hl_say(o, "the last %s answered in %.2fx the native watch's time",
		       g->pattern ? "pattern watch" : "Nacos listener",
		       last[K_OTHER] / last[K_NATIVE]);
		snprintf(m, sizeof(m), "%s_vs_native", g->kind_name[K_OTHER]);
		hl_result(o, m, last[K_OTHER] / last[K_NATIVE], "x", "low");
	}
	hl_say(o, "%ld failed requests%s%s", g->req_fail, g->why[0] ? "; first: " : "", g->why);
	hl_result(o, "early", (double)(g->st[K_OTHER].early + g->st[K_NATIVE].early), "count",
		  "low");
	hl_result(o, "errors",
		  (double)(g->req_fail + g->st[K_OTHER].wrong + g->st[K_NATIVE].wrong +
			   g->st[K_OTHER].lost + g->st[K_NATIVE].lost + g->st[K_OTHER].not_parked +
			   g->st[K_NATIVE].not_parked),
		  "count", "low");
}

static void nacos_init(nacos_ctx *g, const hl_opts *o)
{
	int k;

	memset(g, 0, sizeof(*g));
	g->o = o;
	g->pattern = !strcmp(o->cmd, "pattern");
	g->kind_name[K_OTHER] = g->pattern ? "pattern" : "nacos";
	g->kind_name[K_NATIVE] = "native";
	sbuf_init(&g->req, SBUF_NOMAX);
	g->lat = xcalloc((size_t)o->watchers + 1, sizeof(*g->lat));
	for (k = 0; k < K_COUNT; k++) {
		g->st[k].last = xcalloc((size_t)o->rounds, sizeof(uint64_t));
		g->st[k].median = xcalloc((size_t)o->rounds, sizeof(uint64_t));
		g->st[k].srv_cpu = xcalloc((size_t)o->rounds, sizeof(double));
		g->st[k].cli_cpu = xcalloc((size_t)o->rounds, sizeof(double));
	}
}

static void nacos_release(nacos_ctx *g)
{
	int k;

	for (k = 0; k < K_COUNT; k++) {
		free(g->st[k].last);
		free(g->st[k].median);
		free(g->st[k].srv_cpu);
		free(g->st[k].cli_cpu);
	}
	free(g->lat);
	sbuf_release(&g->req);
}

int hl_nacos(const hl_opts *o)
{
	enum kind first = o->first_native ? K_NATIVE : K_OTHER;
	nacos_ctx g;
	long r;
	int failed = 0;

	if (o->target != HL_HOTCONF) {
		fprintf(stderr, "hcload: %s is hotconf's; it runs on hotconf only\n", o->cmd);
		return 2;
	}
	nacos_init(&g, o);
	for (r = 1; r <= o->rounds && !failed; r++) {
		enum kind a = r % 2 ? first : (enum kind)(K_COUNT - 1 - first);

		failed = run_phase(&g, a, r, r == 1) ||
			 run_phase(&g, (enum kind)(K_COUNT - 1 - a), r, 0);
	}
	report(&g);
	failed |= g.req_fail || g.st[K_OTHER].wrong || g.st[K_NATIVE].wrong ||
		  g.st[K_OTHER].early || g.st[K_NATIVE].early;
	nacos_release(&g);
	return failed;
}
