/*
 * store_rollout.c: rollout plans on gray rules (store.h, "Gray release").
 * The plan and its state as values (checks, the steps' text in the
 * rollout_* columns, the JSON history shows), the body of the rollout moves
 * (store_gray_rollout: step, pause, resume, abort, promote), each decided
 * inside the batch's transaction from the rule's row like every gray write,
 * and the walk over the running rollouts. The rule rows and sets themselves
 * are store_gray.c's.
 *
 * Threading: as store_gray.c: the move body runs on the writer thread with
 * db_lock held; store_gray_rollouts takes index_lock for its walk.
 */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hc_log.h"
#include "md5.h"
#include "sbuf.h"
#include "xmalloc.h"

/* ---- rollouts ---- */

static const char *const state_names[] = {
    [STORE_ROLLOUT_RUNNING] = "running",
    [STORE_ROLLOUT_PAUSED] = "paused",
    [STORE_ROLLOUT_ABORTED] = "aborted",
};

const char *store_rollout_state_name(store_rollout_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) && state_names[s]
		   ? state_names[s]
		   : "";
}

/* The state named name, or 0. */
store_rollout_state st_rollout_state_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (state_names[i] && !strcmp(state_names[i], name))
			return (store_rollout_state)i;
	return 0;
}

void st_rollout_free(store_rollout *ro)
{
	if (!ro)
		return;
	free(ro->reason);
	free(ro);
}

/* A copy of ro whose reason is reason (copied; NULL keeps ro's). */
store_rollout *st_rollout_dup(const store_rollout *ro, const char *reason)
{
	store_rollout *c = xmalloc(sizeof(*c));

	*c = *ro;
	c->reason = xstrdup(reason ? reason : ro->reason);
	return c;
}

/* Starts the current step now (the wall clock, read inside the write). */
void st_rollout_restart(store_rollout *ro)
{
	ro->step_ms = clock_wall_ms();
	ro->next_ms = ro->step_ms + ro->plan.interval_ms;
}

hc_err st_rollout_plan_check(const store_rollout_plan *p, store_result *res)
{
	int i;

	if (p->nsteps < 1 || p->nsteps > STORE_ROLLOUT_MAX_STEPS) {
		st_set_detail(res, "rollout.steps: a plan has 1 to %d steps, not %d",
			      STORE_ROLLOUT_MAX_STEPS, p->nsteps);
		return HC_ERR_INVALID;
	}
	for (i = 0; i < p->nsteps; i++) {
		if (p->steps[i] < 0 || p->steps[i] > GRAY_BUCKETS) {
			st_set_detail(res, "rollout.steps[%d]: a step is a percent from 0 to 100",
				      i);
			return HC_ERR_INVALID;
		}
		if (i && p->steps[i] <= p->steps[i - 1]) {
			st_set_detail(res,
				      "rollout.steps[%d]: steps must be strictly increasing, and "
				      "this one is not above the one before it",
				      i);
			return HC_ERR_INVALID;
		}
	}
	if (p->interval_ms < 1) {
		st_set_detail(res, "rollout.interval: must be at least 1 ms");
		return HC_ERR_INVALID;
	}
	if (p->max_rejected_is_pct != 0 && p->max_rejected_is_pct != 1) {
		st_set_detail(res, "rollout.maxRejected: must be a percent or a count");
		return HC_ERR_INVALID;
	}
	if (p->max_rejected < 0 || (p->max_rejected_is_pct && p->max_rejected > GRAY_BUCKETS)) {
		st_set_detail(res, "rollout.maxRejected: must be %s",
			      p->max_rejected_is_pct ? "a percent from 0 to 100"
						     : "a count of 0 or more");
		return HC_ERR_INVALID;
	}
	if (p->min_reports < 0) {
		st_set_detail(res, "rollout.minReports: must be 0 or more");
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

int st_rollout_same_plan(const store_rollout_plan *a, const store_rollout_plan *b)
{
	return a->nsteps == b->nsteps &&
	       !memcmp(a->steps, b->steps, (size_t)a->nsteps * sizeof(a->steps[0])) &&
	       a->interval_ms == b->interval_ms &&
	       a->max_rejected_is_pct == b->max_rejected_is_pct &&
	       a->max_rejected == b->max_rejected && a->min_reports == b->min_reports;
}

/* The steps column: "100,500,2500". */
void st_rollout_steps_text(const store_rollout_plan *p, sbuf *out)
{
	int i;

	for (i = 0; i < p->nsteps; i++)
		sbuf_addf(out, "%s%d", i ? "," : "", p->steps[i]);
}

/* Parses the steps column into p; 0 on success, -1 when it is not 1 to
 * STORE_ROLLOUT_MAX_STEPS comma-separated numbers. */
int st_rollout_steps_parse(const char *text, store_rollout_plan *p)
{
	const char *q = text;
	char *end;
	long v;

	p->nsteps = 0;
	for (;;) {
		if (p->nsteps == STORE_ROLLOUT_MAX_STEPS || *q < '0' || *q > '9')
			return -1;
		v = strtol(q, &end, 10);
		if (v > GRAY_BUCKETS)
			return -1;
		p->steps[p->nsteps++] = (int)v;
		if (!*end)
			return 0;
		if (*end != ',')
			return -1;
		q = end + 1;
	}
}

/* The JSON of a history entry's rollout column:
 * {"state":"running","step":1,"percent":12.5,"steps":[5,12.5,100],"reason":""} */
void st_rollout_json(const store_rollout *ro, sbuf *out)
{
	char pct[16];
	int i;

	gray_percent_text(ro->plan.steps[ro->step], pct);
	/* step counts from 1, as the API shows it */
	sbuf_addf(out, "{\"state\":\"%s\",\"step\":%d,\"percent\":%s,\"steps\":[",
		  store_rollout_state_name(ro->state), ro->step + 1, pct);
	for (i = 0; i < ro->plan.nsteps; i++) {
		gray_percent_text(ro->plan.steps[i], pct);
		sbuf_addf(out, "%s%s", i ? "," : "", pct);
	}
	sbuf_addstr(out, "],\"reason\":");
	sbuf_add_json_str(out, ro->reason, strlen(ro->reason));
	sbuf_addch(out, '}');
}

void st_rollout_plan_json(const store_rollout_plan *p, sbuf *out)
{
	int i;

	sbuf_addstr(out, "{\"steps\":[");
	for (i = 0; i < p->nsteps; i++)
		sbuf_addf(out, "%s%d", i ? "," : "", p->steps[i]);
	sbuf_addf(out,
		  "],\"intervalMs\":%" PRId64 ",\"maxRejected\":%" PRId64
		  ",\"maxRejectedPct\":%d,\"minReports\":%" PRId64 "}",
		  p->interval_ms, p->max_rejected, p->max_rejected_is_pct, p->min_reports);
}

/* ---- rollout moves ---- */

/* HC_OK when move m of job j applies to rule r's rollout, else the error
 * with the reason in res. */
static hc_err move_check(const st_job *j, const store_gray_rule *r)
{
	const store_rollout_move *m = &j->move;
	const store_rollout *ro = r->rollout;
	const char *name = r->name, *key = j->ch.key.s, *state;

	if (!ro) {
		st_set_detail(j->res, "gray rule '%s' of %s has no rollout plan", name, key);
		return HC_ERR_CONFLICT;
	}
	state = store_rollout_state_name(ro->state);
	if (m->expect_state && m->expect_state != (int)ro->state) {
		st_set_detail(j->res, "the rollout of gray rule '%s' of %s is %s, not %s", name,
			      key, state, store_rollout_state_name(m->expect_state));
		return HC_ERR_PRECONDITION;
	}
	if (m->expect_step >= 0 && m->expect_step != ro->step) {
		st_set_detail(j->res, "the rollout of gray rule '%s' of %s is at step %d, not %d",
			      name, key, ro->step, m->expect_step);
		return HC_ERR_PRECONDITION;
	}
	switch (m->action) {
	case STORE_ROLLOUT_STEP:
	case STORE_ROLLOUT_PROMOTE:
	case STORE_ROLLOUT_ABORT:
		if (ro->state == STORE_ROLLOUT_ABORTED) {
			st_set_detail(j->res, "the rollout of gray rule '%s' of %s is %saborted%s",
				      name, key, m->action == STORE_ROLLOUT_ABORT ? "already " : "",
				      m->action == STORE_ROLLOUT_ABORT ? "" : "; resume it first");
			return HC_ERR_CONFLICT;
		}
		if (m->action == STORE_ROLLOUT_STEP &&
		    (m->to_step <= ro->step || m->to_step >= ro->plan.nsteps)) {
			st_set_detail(
			    j->res,
			    "the rollout of gray rule '%s' of %s is at step %d of 0-%d, so "
			    "it cannot step to %d",
			    name, key, ro->step, ro->plan.nsteps - 1, m->to_step);
			return HC_ERR_CONFLICT;
		}
		if (m->action == STORE_ROLLOUT_ABORT && (!m->reason || !*m->reason)) {
			st_set_detail(j->res, "reason: an abort needs a reason");
			return HC_ERR_INVALID;
		}
		return HC_OK;
	case STORE_ROLLOUT_PAUSE:
		if (ro->state == STORE_ROLLOUT_RUNNING)
			return HC_OK;
		st_set_detail(j->res,
			      "the rollout of gray rule '%s' of %s is %s; only a running one can "
			      "be paused",
			      name, key, state);
		return HC_ERR_CONFLICT;
	case STORE_ROLLOUT_RESUME:
		if (ro->state != STORE_ROLLOUT_RUNNING)
			return HC_OK;
		st_set_detail(j->res, "the rollout of gray rule '%s' of %s is already running",
			      name, key);
		return HC_ERR_CONFLICT;
	}
	st_set_detail(j->res, "unknown rollout action %d", (int)m->action);
	return HC_ERR_INVALID;
}

/* reason cut to STORE_ROLLOUT_REASON_MAX bytes, never inside a UTF-8
 * character. */
static void reason_cut(const char *reason, char out[STORE_ROLLOUT_REASON_MAX + 1])
{
	size_t n = strlen(reason);

	if (n > STORE_ROLLOUT_REASON_MAX) {
		n = STORE_ROLLOUT_REASON_MAX;
		while (n && ((unsigned char)reason[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, reason, n);
	out[n] = '\0';
}

/* The rollout after move m (not a promote), which move_check passed; *op
 * gets the history op. */
static store_rollout *rollout_moved(const store_rollout *ro, const store_rollout_move *m,
				    store_op *op)
{
	char reason[STORE_ROLLOUT_REASON_MAX + 1];
	store_rollout *n;

	if (m->action == STORE_ROLLOUT_ABORT) {
		reason_cut(m->reason, reason);
		n = st_rollout_dup(ro, reason);
		n->state = STORE_ROLLOUT_ABORTED;
		*op = STORE_OP_GRAY_ABORT;
		return n;
	}
	/* From aborted, a resume starts over: step 0, no reason. */
	n = st_rollout_dup(ro, ro->state == STORE_ROLLOUT_ABORTED ? "" : NULL);
	if (m->action == STORE_ROLLOUT_PAUSE) {
		n->state = STORE_ROLLOUT_PAUSED;
		*op = STORE_OP_GRAY_PAUSE;
		return n;
	}
	if (m->action == STORE_ROLLOUT_STEP) {
		n->step = m->to_step;
		*op = STORE_OP_GRAY_STEP;
	} else {
		if (ro->state == STORE_ROLLOUT_ABORTED)
			n->step = 0;
		n->state = STORE_ROLLOUT_RUNNING;
		*op = STORE_OP_GRAY_RESUME;
	}
	st_rollout_restart(n);
	return n;
}

/* The match_ips and match_labels columns of rule name (NULL when SQL NULL);
 * the caller frees both. */
static hc_err match_columns(store *st, const cfgkey *key, const char *name, char **ips,
			    char **labels)
{
	sqlite3_stmt *s;
	hc_err err;
	int row = 0;

	*ips = *labels = NULL;
	err = st_gray_rule_stmt(st, ST_GRAY_MATCH,
				"SELECT match_ips, match_labels FROM gray_rules"
				" WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3 AND name = ?4",
				key, name, &s);
	if (err)
		return err;
	err = st_step(st, s, &row);
	if (!err && !row) {
		hc_log("gray rule '%s' of %s is in its snapshot but has no row", name, key->s);
		err = HC_ERR_INTERNAL;
	}
	if (!err && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*ips = xstrdup(st_col_text(s, 0));
	if (!err && sqlite3_column_type(s, 1) != SQLITE_NULL)
		*labels = xstrdup(st_col_text(s, 1));
	st_done(s);
	return err;
}

/* A copy of rule old (refs 1) with rollout ro (handed over), its match
 * compiled again from ips and labels (its columns) with the percent of
 * ro's step, which pct gets; none of it when ro is aborted. */
static hc_err rule_moved(const st_job *j, const store_gray_rule *old, store_rollout *ro,
			 const char *ips, const char *labels, char pct[16], store_gray_rule **out)
{
	store_gray_rule *r = xcalloc(1, sizeof(*r));
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX), json = SBUF_INIT(SBUF_NOMAX);
	hc_err err;

	r->refs = 1;
	r->rollout = ro;
	r->salt = xstrdup(old->salt);
	gray_percent_text(ro->plan.steps[ro->step], pct);
	err = st_gray_compile(ips, labels, pct, r->salt, &r->compiled, &json, &why);
	if (err) {
		st_set_detail(j->res, "gray rule '%s' of %s no longer compiles (%s); replace it",
			      old->name, j->ch.key.s, why.buf);
		err = HC_ERR_CONFLICT;
		store_gray_rule_unref(r);
		r = NULL;
		goto out;
	}
	if (ro->state == STORE_ROLLOUT_ABORTED) {
		gray_rule_free(r->compiled);
		r->compiled = NULL;
	}
	r->match = sbuf_detach(&json, NULL);
	r->name = xstrdup(old->name);
	r->priority = old->priority;
	r->created_rev = old->created_rev;
	r->content = xmemdupz(old->content, old->len);
	r->len = old->len;
	memcpy(r->md5, old->md5, sizeof(r->md5));
	memcpy(r->format, old->format, sizeof(r->format));
	r->author = xstrdup(old->author);
	r->message = xstrdup(old->message);
	r->created_ms = old->created_ms;
	r->updated_ms = j->w->now_ms;
out:
	sbuf_release(&why);
	sbuf_release(&json);
	*out = r;
	return err;
}

hc_err st_gray_rollout_body(store *st, st_job *j)
{
	const store_rollout_move *m = &j->move;
	sbuf json = SBUF_INIT(SBUF_NOMAX);
	const store_gray_rule *old;
	store_gray_rule *r = NULL;
	store_write w = *j->w;
	st_change *ch = &j->ch;
	char *ips = NULL, *labels = NULL, pct[16];
	store_op op = STORE_OP_GRAY_STEP;
	int64_t revision;
	hc_err err;

	err = st_gray_named(st, j, &old);
	if (!err)
		err = move_check(j, old);
	if (err)
		goto out;
	if (m->action == STORE_ROLLOUT_PROMOTE) {
		err = st_gray_promote_rule(st, j, old, m->summary);
		goto out;
	}
	err = match_columns(st, &ch->key, old->name, &ips, &labels);
	if (!err)
		err = rule_moved(j, old, rollout_moved(old->rollout, m, &op), ips, labels, pct, &r);
	if (!err)
		err = st_bump_revision(st, &revision);
	if (err)
		goto out;
	r->revision = revision;
	st_rollout_json(r->rollout, &json);
	if (op == STORE_OP_GRAY_ABORT && (!w.message || !*w.message))
		w.message = r->rollout->reason; /* the entry says why */
	err = st_gray_upsert(st, &ch->key, r, ips, labels, pct);
	if (!err)
		err = st_gray_history(st, &w, ch, op, r, revision, json.buf);
	if (err)
		goto out;
	st_gray_result(j, r, revision);
	st_gray_changed(ch, st_gray_set_with(ch->cur->gray, r), op, revision);
	r = NULL; /* the set holds it */
out:
	store_gray_rule_unref(r);
	free(ips);
	free(labels);
	sbuf_release(&json);
	return err;
}

typedef struct rollouts_walk {
	void (*fn)(void *ctx, const cfgkey *key, const store_gray_rule *r);
	void *ctx;
} rollouts_walk;

static void walk_config(void *ctx, const void *key, size_t klen, void *val)
{
	const rollouts_walk *wk = ctx;
	const store_config *c = val;
	char text[CFGKEY_MAX + 1];
	cfgkey k;
	size_t i;

	if (!c->gray || klen > CFGKEY_MAX)
		return;
	/* The index's key is the cfgkey string, without its NUL: a key on the
	 * stack, so the walk allocates nothing under the lock. */
	memcpy(text, key, klen);
	text[klen] = '\0';
	k.s = text;
	k.len = (uint16_t)klen;
	k.ns_len = (uint8_t)strlen(c->ns);
	k.group_len = (uint8_t)strlen(c->group);
	for (i = 0; i < c->gray->n; i++) {
		const store_gray_rule *r = c->gray->rules[i];
		if (r->rollout && r->rollout->state == STORE_ROLLOUT_RUNNING)
			wk->fn(wk->ctx, &k, r);
	}
}

void store_gray_rollouts(store *st,
			 void (*fn)(void *ctx, const cfgkey *key, const store_gray_rule *r),
			 void *ctx)
{
	rollouts_walk wk = {fn, ctx};

	pthread_mutex_lock(&st->index_lock);
	hmap_foreach(st->index, walk_config, &wk);
	pthread_mutex_unlock(&st->index_lock);
}
