/*
 * rollout.c: the rollout thread, which walks the gray rules that carry a
 * rollout plan through their steps (issue 10).
 *
 * A plan's state lives in the store (store_rollout, in the rule's
 * snapshot): its step, when the step's interval ends, and whether it runs.
 * This thread only decides, from the listener registry, when to move it,
 * and moves it with store_gray_rollout, whose expect_step and expect_state
 * make every move a compare-and-set: an operator's pause, edit or abort
 * that lands first wins, and the thread's move fails and is forgotten.
 *
 * For a running rollout it counts the instances now in the rule (the live
 * listeners whose effective content is the rule's) and their reports on the
 * rule's md5. Too many rejections abort it at once; once the step's
 * interval has passed and enough members have reported (minReports, or all
 * of them when fewer), it goes to the next step, and after the last it
 * promotes. A restart loses the reports (they are in memory) but not the
 * plan: instances report again when they re-arm their watches.
 *
 * Threading: one thread, a ticker (ticker.h). It sleeps until the earliest
 * nextAt of the running rollouts (at most ROLLOUT_TICK_MS), a poke (reports
 * came in, a rule was written) or stop; the passes take reg_mu
 * (srv_listen_collect) and call the store's synchronous writes, never under
 * the ticker's lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hc_log.h"
#include "srv_internal.h"
#include "ticker.h"
#include "xmalloc.h"

#define ROLLOUT_TICK_MS 1000 /* the longest sleep: also what a missed poke costs */

/* A running rollout found by store_gray_rollouts, copied out. */
typedef struct due {
	char *key, *rule;
} due;

typedef struct dues {
	due *v;
	size_t n, cap;
} dues;

static void collect_due(void *ctx, const cfgkey *key, const store_gray_rule *r)
{
	dues *d = ctx;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n].key = xstrdup(key->s);
	d->v[d->n].rule = xstrdup(r->name);
	d->n++;
}

void srv_rollout_count(srv *s, const char *key, const store_config *c, const store_gray_rule *g,
		       srv_rollout_tally *out)
{
	srv_listener *ls = NULL;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	n = srv_listen_collect(s, key, NULL, &ls);
	for (i = 0; i < n; i++) {
		gray_inst *inst = srv_listener_inst(&ls[i]);
		store_effective e;
		store_gray_effective(c, inst, &e);
		gray_inst_free(inst);
		if (!e.rule || strcmp(e.rule->name, g->name))
			continue;
		out->members++;
		if (srv_listener_reported(&ls[i], g->md5, WATCH_REPORT_APPLIED)) {
			out->applied++;
		} else if (srv_listener_reported(&ls[i], g->md5, WATCH_REPORT_REJECTED)) {
			if (!out->rejected)
				snprintf(out->first_reason, sizeof(out->first_reason), "%s: %s",
					 *ls[i].instance ? ls[i].instance : ls[i].ip,
					 *ls[i].report_message ? ls[i].report_message
							       : "(no message)");
			out->rejected++;
		}
	}
	srv_listen_free(ls, n);
}

/* 1 when t's rejections are within the plan's maxRejected. */
static int within(const store_rollout_plan *p, const srv_rollout_tally *t)
{
	if (p->max_rejected_is_pct)
		return (int64_t)t->rejected * 10000 <= p->max_rejected * (int64_t)t->members;
	return (int64_t)t->rejected <= p->max_rejected;
}

static void max_text(const store_rollout_plan *p, char out[24])
{
	char pc[16];

	if (p->max_rejected_is_pct) {
		gray_percent_text((int)p->max_rejected, pc);
		snprintf(out, 24, "%s%%", pc);
	} else {
		snprintf(out, 24, "%" PRId64, p->max_rejected);
	}
}

/* The promote's history summary: a JSON object. */
static void summary_json(const store_rollout *ro, const srv_rollout_tally *t, sbuf *out)
{
	int i;

	sbuf_addstr(out, "{\"state\":\"promoted\",\"steps\":[");
	for (i = 0; i < ro->plan.nsteps; i++) {
		char pc[16];
		gray_percent_text(ro->plan.steps[i], pc);
		sbuf_addf(out, "%s%s", i ? "," : "", pc);
	}
	sbuf_addf(out, "],\"stepsTaken\":%d,\"members\":%zu,\"applied\":%zu,\"rejected\":%zu}",
		  ro->step + 1, t->members, t->applied, t->rejected);
}

void srv_rollout_next(const store_gray_rule *g, const srv_rollout_tally *t, store_rollout_move *m,
		      sbuf *summary, char *message, size_t cap)
{
	const store_rollout *ro = g->rollout;
	char pc[16];

	memset(m, 0, sizeof(*m));
	m->expect_step = ro->step;
	m->expect_state = (int)ro->state;
	if (ro->step + 1 < ro->plan.nsteps) {
		m->action = STORE_ROLLOUT_STEP;
		m->to_step = ro->step + 1;
		gray_percent_text(ro->plan.steps[m->to_step], pc);
		snprintf(message, cap, "rollout: step %d of %d, %s%% (%zu of %zu applied)",
			 m->to_step + 1, ro->plan.nsteps, pc, t->applied, t->members);
		return;
	}
	m->action = STORE_ROLLOUT_PROMOTE;
	summary_json(ro, t, summary);
	m->summary = summary->buf;
	snprintf(message, cap, "rollout: promoted after %d steps (%zu of %zu applied)",
		 ro->plan.nsteps, t->applied, t->members);
}

/* Looks at one running rollout; *next_ms gets when to look again. */
static void look(srv *s, const char *key, const char *rule, int64_t now, int64_t *next_ms)
{
	sbuf summary = SBUF_INIT(1024), reason = SBUF_INIT(1024);
	store_config *c = NULL;
	const store_gray_rule *g;
	const store_rollout *ro;
	store_rollout_move m;
	srv_rollout_tally t;
	store_write w;
	store_result res;
	cfgkey k = {0};
	char message[256], maxt[24];
	size_t need;
	hc_err err;

	if (cfgkey_parse(&k, key, strlen(key)) || store_get_key(s->st, &k, &c))
		goto out;
	g = store_gray_find(c->gray, rule);
	ro = g ? g->rollout : NULL;
	if (!ro || ro->state != STORE_ROLLOUT_RUNNING)
		goto out;
	srv_rollout_count(s, key, c, g, &t);
	need = (size_t)ro->plan.min_reports < t.members ? (size_t)ro->plan.min_reports : t.members;
	memset(&m, 0, sizeof(m));
	if (!within(&ro->plan, &t)) {
		char pc[16];
		max_text(&ro->plan, maxt);
		gray_percent_text(ro->plan.steps[ro->step], pc);
		sbuf_addf(&reason,
			  "%zu of %zu instances rejected it at step %d (%s%%), more than "
			  "maxRejected %s; first: %s",
			  t.rejected, t.members, ro->step + 1, pc, maxt, t.first_reason);
		m.action = STORE_ROLLOUT_ABORT;
		m.expect_step = ro->step;
		m.expect_state = STORE_ROLLOUT_RUNNING;
		m.reason = reason.buf;
		snprintf(message, sizeof(message), "rollout aborted: %.200s", reason.buf);
	} else if (now >= ro->next_ms && t.applied + t.rejected >= need) {
		srv_rollout_next(g, &t, &m, &summary, message, sizeof(message));
	} else {
		/* Not yet: at its interval's end, or (waiting for reports) a tick. */
		*next_ms = now < ro->next_ms ? ro->next_ms : now + ROLLOUT_TICK_MS;
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.ns = c->ns;
	w.group = c->group;
	w.data_id = c->data_id;
	w.author = "rollout";
	w.message = message;
	w.audit_role = "system";
	w.now_ms = clock_wall_ms();
	memset(&res, 0, sizeof(res));
	err = store_gray_rollout(s->st, &w, rule, &m, &res);
	if (err && err != HC_ERR_PRECONDITION && err != HC_ERR_NOT_FOUND)
		hc_log("rollout of %s rule %s: %s: %s", key, rule, hc_err_code(err), res.detail);
	*next_ms = now; /* look again at once: the next step's wait starts now */
out:
	cfgkey_release(&k);
	store_config_unref(c);
	sbuf_release(&summary);
	sbuf_release(&reason);
}

/* One pass over every running rollout; returns when to pass again. */
static int64_t pass(srv *s)
{
	dues d = {NULL, 0, 0};
	int64_t now = clock_wall_ms(), next = now + ROLLOUT_TICK_MS, at;
	size_t i;

	store_gray_rollouts(s->st, collect_due, &d);
	for (i = 0; i < d.n; i++) {
		at = next;
		look(s, d.v[i].key, d.v[i].rule, now, &at);
		if (at < next)
			next = at;
		free(d.v[i].key);
		free(d.v[i].rule);
	}
	free(d.v);
	return next;
}

static int64_t rollout_pass(void *ctx)
{
	return pass(ctx);
}

hc_err srv_rollout_start(srv *s)
{
	return ticker_start("rollout", rollout_pass, s, ROLLOUT_TICK_MS, &s->rollout);
}

void srv_rollout_stop(srv *s)
{
	ticker_stop(s->rollout);
	s->rollout = NULL;
}

void srv_rollout_poke(srv *s)
{
	ticker_poke(s->rollout);
}

void srv_rollout_json(srv *s, const char *key, const store_config *c, const store_gray_rule *g,
		      sbuf *out)
{
	const store_rollout *ro = g->rollout;
	srv_rollout_tally t;
	char pc[16], maxt[24];
	int i;

	if (!ro) {
		sbuf_addstr(out, "null");
		return;
	}
	srv_rollout_count(s, key, c, g, &t);
	gray_percent_text(ro->plan.steps[ro->step], pc);
	max_text(&ro->plan, maxt);
	sbuf_addf(out, "{\"state\":\"%s\",\"step\":%d,\"percent\":%s,\"steps\":[",
		  store_rollout_state_name(ro->state), ro->step + 1, pc);
	for (i = 0; i < ro->plan.nsteps; i++) {
		gray_percent_text(ro->plan.steps[i], pc);
		sbuf_addf(out, "%s%s", i ? "," : "", pc);
	}
	sbuf_addf(out,
		  "],\"intervalMs\":%" PRId64 ",\"maxRejected\":\"%s\",\"minReports\":%" PRId64 ",",
		  ro->plan.interval_ms, maxt, ro->plan.min_reports);
	srv_json_time(out, "stepAt", ro->step_ms);
	sbuf_addch(out, ',');
	if (ro->state == STORE_ROLLOUT_RUNNING)
		srv_json_time(out, "nextAt", ro->next_ms);
	else
		sbuf_addstr(out, "\"nextAt\":null");
	sbuf_addstr(out, ",\"reason\":");
	sbuf_add_json_str(out, ro->reason, strlen(ro->reason));
	sbuf_addf(out, ",\"members\":%zu,\"applied\":%zu,\"rejected\":%zu}", t.members, t.applied,
		  t.rejected);
}
