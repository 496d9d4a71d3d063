/*
 * store_gray.c: gray release rules. Their snapshots (a refcounted rule set
 * per config, hung on the config's snapshot), the gray_rules table, the
 * bodies of the gray writes (put, abort, promote; the rollout moves are
 * store_rollout.c's, on the helpers store_int.h shares), and the reads.
 *
 * A rule with a rollout plan keeps the plan and where it stands in the
 * rollout_* columns of its row (no JSON: the steps are comma separated
 * hundredths), and its match_percent is the current step's percent, so it
 * compiles back exactly as it was, with the same salt.
 *
 * A rule is compiled (gray_rule_compile) once: when it is put, or when it is
 * read back from the database with its salt. The transaction of every write
 * to a config reads the config's rules from the database (decisions inside
 * the transaction, like publish); a rule whose row is unchanged since the
 * index's snapshot is shared with it rather than compiled again.
 *
 * Threading: the write bodies and st_gray_load run on the writer thread with
 * db_lock held (so they may read the index without index_lock: it changes
 * only with both held); st_gray_load_all runs in store_open; the reads take
 * index_lock for one lookup. Rules and sets are immutable once built.
 */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hc_log.h"
#include "md5.h"
#include "sbuf.h"
#include "xmalloc.h"

/* The columns rule_from_row() reads, in order, from its base column. */
#define GRAY_COLS                                                                                  \
	"name, priority, created_rev, revision, content, md5, format, match_json, match_ips, "     \
	"match_labels, match_percent, salt, author, message, created_ms, updated_ms, "             \
	"rollout_steps, rollout_interval_ms, rollout_max_rejected, rollout_max_rejected_pct, "     \
	"rollout_min_reports, rollout_state, rollout_step, rollout_step_ms, rollout_next_ms, "     \
	"rollout_reason"

/* ---- rules and sets ---- */

store_gray_rule *store_gray_rule_ref(store_gray_rule *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

void store_gray_rule_unref(store_gray_rule *r)
{
	if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(r->name);
	free(r->content);
	free(r->match);
	free(r->salt);
	free(r->author);
	free(r->message);
	gray_rule_free(r->compiled);
	st_rollout_free(r->rollout);
	free(r);
}

store_gray_set *store_gray_set_ref(store_gray_set *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	return g;
}

void store_gray_set_unref(store_gray_set *g)
{
	size_t i;

	if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < g->n; i++)
		store_gray_rule_unref(g->rules[i]);
	free(g->rules);
	free(g->compiled);
	free(g->priority);
	free(g);
}

const store_gray_rule *store_gray_find(const store_gray_set *g, const char *name)
{
	size_t i;

	for (i = 0; g && name && i < g->n; i++)
		if (!strcmp(g->rules[i]->name, name))
			return g->rules[i];
	return NULL;
}

/* A set of n rules taking over the references in rules[0..n), which must be
 * in creation order; NULL when n is 0. */
static store_gray_set *set_make(store_gray_rule **rules, size_t n)
{
	store_gray_set *g;
	size_t i;

	if (!n)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->n = n;
	g->rules = xcalloc(n, sizeof(*g->rules));
	g->compiled = xcalloc(n, sizeof(*g->compiled));
	g->priority = xcalloc(n, sizeof(*g->priority));
	for (i = 0; i < n; i++) {
		g->rules[i] = rules[i];
		g->compiled[i] = rules[i]->compiled;
		g->priority[i] = rules[i]->priority;
	}
	g->refs = 1;
	return g;
}

/* old with rule r (its reference is handed over) in place of the rule of
 * the same name, or after the others when it is new: a new set. */
store_gray_set *st_gray_set_with(const store_gray_set *old, store_gray_rule *r)
{
	store_gray_rule **v = xcalloc((old ? old->n : 0) + 1, sizeof(*v));
	store_gray_set *g;
	size_t i, n = 0;
	int placed = 0;

	for (i = 0; old && i < old->n; i++) {
		if (!strcmp(old->rules[i]->name, r->name)) {
			v[n++] = r;
			placed = 1;
		} else {
			v[n++] = store_gray_rule_ref(old->rules[i]);
		}
	}
	if (!placed)
		v[n++] = r;
	g = set_make(v, n);
	free(v);
	return g;
}

/* old without the rule named name: a new set, NULL when none is left. */
static store_gray_set *set_without(const store_gray_set *old, const char *name)
{
	store_gray_rule **v = xcalloc(old->n, sizeof(*v));
	store_gray_set *g;
	size_t i, n = 0;

	for (i = 0; i < old->n; i++)
		if (strcmp(old->rules[i]->name, name) != 0)
			v[n++] = store_gray_rule_ref(old->rules[i]);
	g = set_make(v, n);
	free(v);
	return g;
}

/* ---- the match: canonical text and compiling ---- */

/* percent as a JSON number: no leading zeros, no trailing zeros after the
 * point ("007.50" is 7.5). p has already passed gray_rule_compile. */
static void percent_canon(const char *p, sbuf *out)
{
	const char *dot = strchr(p, '.');
	size_t ilen = dot ? (size_t)(dot - p) : strlen(p), flen;

	while (ilen > 1 && *p == '0') {
		p++;
		ilen--;
	}
	sbuf_add(out, p, ilen);
	if (!dot)
		return;
	flen = strlen(dot + 1);
	while (flen && dot[flen] == '0')
		flen--;
	if (flen) {
		sbuf_addch(out, '.');
		sbuf_add(out, dot + 1, flen);
	}
}

/* {"ips":[..],"labels":"..","percent":N}, the fields given only, in that
 * order; percent_text gets the canonical percent, ips_text the ips one per
 * line (the columns the rule is compiled from again). */
static void match_text(const store_gray_match *m, sbuf *json, sbuf *ips_text, sbuf *percent_text)
{
	const char *sep = "";
	size_t i;

	sbuf_addch(json, '{');
	if (m->has_ips) {
		sbuf_addstr(json, "\"ips\":[");
		for (i = 0; i < m->nips; i++) {
			if (i) {
				sbuf_addch(json, ',');
				sbuf_addch(ips_text, '\n');
			}
			sbuf_add_json_str(json, m->ips[i], strlen(m->ips[i]));
			sbuf_addstr(ips_text, m->ips[i]);
		}
		sbuf_addch(json, ']');
		sep = ",";
	}
	if (m->labels) {
		sbuf_addf(json, "%s\"labels\":", sep);
		sbuf_add_json_str(json, m->labels, strlen(m->labels));
		sep = ",";
	}
	if (m->percent) {
		percent_canon(m->percent, percent_text);
		sbuf_addf(json, "%s\"percent\":%s", sep, percent_text->buf);
	}
	sbuf_addch(json, '}');
}

/*
 * Compiles a stored match: ips_text one address or range per line (NULL:
 * ips left out). json, when not NULL, gets its canonical JSON (match_text).
 */
hc_err st_gray_compile(const char *ips_text, const char *labels, const char *percent,
		       const char *salt, gray_rule **out, sbuf *json, sbuf *why)
{
	sbuf ips_again = SBUF_INIT(SBUF_NOMAX), pct_again = SBUF_INIT(SBUF_NOMAX);
	store_gray_match m;
	const char **ips = NULL;
	char *copy = NULL, *p;
	size_t n = 0, cap = 1;
	hc_err err;

	if (ips_text) {
		copy = xstrdup(ips_text);
		for (p = copy; *p; p++)
			cap += *p == '\n';
		ips = xcalloc(cap, sizeof(*ips));
		ips[n++] = copy;
		for (p = copy; *p; p++) {
			if (*p == '\n') {
				*p = '\0';
				ips[n++] = p + 1;
			}
		}
	}
	err = gray_rule_compile(ips, n, ips_text != NULL, labels, percent, salt, out, why);
	if (!err && json) {
		m.ips = ips;
		m.nips = n;
		m.has_ips = ips_text != NULL;
		m.labels = labels;
		m.percent = percent;
		match_text(&m, json, &ips_again, &pct_again);
	}
	free(ips);
	free(copy);
	sbuf_release(&ips_again);
	sbuf_release(&pct_again);
	return err;
}

/* The column as text, or NULL when it is SQL NULL. */
static const char *col_text_or_null(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NULL : st_col_text(s, i);
}

/* 1 when the row from column b (GRAY_COLS) is rule r, unchanged. */
static int row_is(sqlite3_stmt *s, int b, const store_gray_rule *r)
{
	const void *blob = sqlite3_column_blob(s, b + 4);
	size_t len = (size_t)sqlite3_column_bytes(s, b + 4);

	return !strcmp(st_col_text(s, b), r->name) &&
	       sqlite3_column_int64(s, b + 1) == r->priority &&
	       sqlite3_column_int64(s, b + 2) == r->created_rev &&
	       sqlite3_column_int64(s, b + 3) == r->revision && len == r->len &&
	       (!len || !memcmp(blob, r->content, len)) &&
	       !strcmp(st_col_text(s, b + 6), r->format) &&
	       !strcmp(st_col_text(s, b + 7), r->match) && !strcmp(st_col_text(s, b + 11), r->salt);
}

/* The rollout of the row from column b (GRAY_COLS), NULL when it has none;
 * *bad gets 1 when its columns do not make a valid rollout (key and name, of
 * the rule, for the log). */
static store_rollout *rollout_from_row(sqlite3_stmt *s, int b, const char *key, const char *name,
				       int *bad)
{
	store_rollout ro;
	store_result res;

	*bad = 0;
	if (sqlite3_column_type(s, b + 16) == SQLITE_NULL)
		return NULL;
	memset(&ro, 0, sizeof(ro));
	memset(&res, 0, sizeof(res));
	ro.plan.interval_ms = sqlite3_column_int64(s, b + 17);
	ro.plan.max_rejected = sqlite3_column_int64(s, b + 18);
	ro.plan.max_rejected_is_pct = (int)sqlite3_column_int64(s, b + 19);
	ro.plan.min_reports = sqlite3_column_int64(s, b + 20);
	ro.state = st_rollout_state_parse(st_col_text(s, b + 21));
	ro.step = (int)sqlite3_column_int64(s, b + 22);
	ro.step_ms = sqlite3_column_int64(s, b + 23);
	ro.next_ms = sqlite3_column_int64(s, b + 24);
	if (st_rollout_steps_parse(st_col_text(s, b + 16), &ro.plan))
		st_set_detail(&res, "rollout_steps '%.64s' is not a list of steps",
			      st_col_text(s, b + 16));
	if (!res.detail[0])
		st_rollout_plan_check(&ro.plan, &res); /* res.detail says why, if it fails */
	if (!res.detail[0] && !ro.state)
		st_set_detail(&res, "rollout_state '%.16s' is unknown", st_col_text(s, b + 21));
	if (!res.detail[0] && (ro.step < 0 || ro.step >= ro.plan.nsteps))
		st_set_detail(&res, "rollout_step %d is not a step of the plan", ro.step);
	if (res.detail[0]) {
		hc_log("gray rule '%s' of %s has a bad rollout (%s); it matches no instance "
		       "until it is replaced",
		       name, key, res.detail);
		*bad = 1;
		return NULL;
	}
	return st_rollout_dup(&ro, st_col_text(s, b + 25));
}

/* A new rule (refs 1) from the row's columns b.. (GRAY_COLS); key names its
 * config in the log should the stored match no longer compile. */
static store_gray_rule *rule_from_row(sqlite3_stmt *s, int b, const char *key)
{
	store_gray_rule *r = xcalloc(1, sizeof(*r));
	sbuf why = SBUF_INIT(1024);
	const void *blob;
	int bad;

	r->name = xstrdup(st_col_text(s, b));
	r->priority = (int)sqlite3_column_int64(s, b + 1);
	r->created_rev = sqlite3_column_int64(s, b + 2);
	r->revision = sqlite3_column_int64(s, b + 3);
	/* Blob then bytes, as SQLite asks; a zero-length blob comes back NULL. */
	blob = sqlite3_column_blob(s, b + 4);
	r->len = (size_t)sqlite3_column_bytes(s, b + 4);
	r->content = xmemdupz(blob ? blob : "", r->len);
	st_col_copy(s, b + 5, r->md5, sizeof(r->md5));
	st_col_copy(s, b + 6, r->format, sizeof(r->format));
	r->match = xstrdup(st_col_text(s, b + 7));
	r->salt = xstrdup(st_col_text(s, b + 11));
	r->author = xstrdup(st_col_text(s, b + 12));
	r->message = xstrdup(st_col_text(s, b + 13));
	r->created_ms = sqlite3_column_int64(s, b + 14);
	r->updated_ms = sqlite3_column_int64(s, b + 15);
	r->rollout = rollout_from_row(s, b, key, r->name, &bad);
	if (st_gray_compile(col_text_or_null(s, b + 8), col_text_or_null(s, b + 9),
			    col_text_or_null(s, b + 10), r->salt, &r->compiled, NULL, &why))
		/* Kept, listed and removable, but it selects nobody: its
		 * instances get what they would without it. */
		hc_log("gray rule '%s' of %s no longer compiles (%s); it matches no instance "
		       "until it is replaced",
		       r->name, key, why.buf);
	if (bad || (r->rollout && r->rollout->state == STORE_ROLLOUT_ABORTED)) {
		gray_rule_free(r->compiled);
		r->compiled = NULL;
	}
	sbuf_release(&why);
	r->refs = 1;
	return r;
}

/* ---- loading ---- */

hc_err st_gray_load(store *st, const cfgkey *key, store_gray_set **out)
{
	store_gray_rule *v[GRAY_MAX_RULES * 4];
	const store_config *known = hmap_get(st->index, key->s, key->len);
	const store_gray_rule *same;
	sqlite3_stmt *s;
	size_t n = 0, i;
	hc_err err;
	int rc, row;

	*out = NULL;
	err = st_stmt(st, ST_GRAY_LOAD,
		      "SELECT " GRAY_COLS " FROM gray_rules"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3"
		      " ORDER BY created_rev, name",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind");
	}
	for (;;) {
		err = st_step(st, s, &row);
		if (err || !row)
			break;
		if (n == sizeof(v) / sizeof(v[0])) {
			/* Only a writer that ignored the cap gets here. */
			hc_log("%s has more than %zu gray rules; the rest are ignored", key->s, n);
			break;
		}
		same = known ? store_gray_find(known->gray, st_col_text(s, 0)) : NULL;
		if (same && row_is(s, 0, same))
			v[n++] = store_gray_rule_ref((store_gray_rule *)same);
		else
			v[n++] = rule_from_row(s, 0, key->s);
	}
	st_done(s);
	if (err) {
		for (i = 0; i < n; i++)
			store_gray_rule_unref(v[i]);
		return err;
	}
	*out = set_make(v, n);
	return HC_OK;
}

/* Hangs rules v[0..n) on the index's snapshot of key (refs 1 at open). */
static void attach(store *st, const char *key, store_gray_rule **v, size_t n)
{
	store_config *c = hmap_get(st->index, key, strlen(key));
	size_t i;

	if (c) {
		c->gray = set_make(v, n);
		return;
	}
	hc_log("%zu gray rule(s) of %s, which has no current version, are ignored", n, key);
	for (i = 0; i < n; i++)
		store_gray_rule_unref(v[i]);
}

hc_err st_gray_load_all(store *st)
{
	static const char sql[] = "SELECT namespace, grp, data_id, " GRAY_COLS " FROM gray_rules"
				  " ORDER BY namespace, grp, data_id, created_rev, name";
	store_gray_rule *v[GRAY_MAX_RULES * 4];
	sbuf key = SBUF_INIT(SBUF_NOMAX), prev = SBUF_INIT(SBUF_NOMAX);
	sqlite3_stmt *s = NULL;
	size_t n = 0;
	hc_err err = HC_OK;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, sql);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sbuf_reset(&key);
		sbuf_addf(&key, "%s/%s/%s", st_col_text(s, 0), st_col_text(s, 1),
			  st_col_text(s, 2));
		if (n && strcmp(key.buf, prev.buf) != 0) {
			attach(st, prev.buf, v, n);
			n = 0;
		}
		if (n == sizeof(v) / sizeof(v[0]))
			continue; /* logged by st_gray_load at the next write */
		v[n++] = rule_from_row(s, 3, key.buf);
		sbuf_reset(&prev);
		sbuf_addstr(&prev, key.buf);
	}
	if (n)
		attach(st, prev.buf, v, n);
	if (rc != SQLITE_DONE)
		err = st_sqlerr(st, rc, sql);
out:
	sqlite3_finalize(s);
	sbuf_release(&key);
	sbuf_release(&prev);
	return err;
}

/* ---- the write bodies ---- */

static hc_err config_needed(const st_change *ch, store_result *res)
{
	if (ch->cur)
		return HC_OK;
	st_set_detail(res, "%s does not exist: publish the config first, then its gray rules",
		      ch->key.s);
	return HC_ERR_NOT_FOUND;
}

static hc_err rule_if_match(const store_write *w, const st_change *ch, const char *name,
			    const store_gray_rule *old, store_result *res)
{
	if (!w->if_match)
		return HC_OK;
	if (!old) {
		st_set_detail(res,
			      "gray rule '%s' of %s does not exist, so it cannot match md5 %.32s",
			      name, ch->key.s, w->if_match);
		return HC_ERR_PRECONDITION;
	}
	if (strcmp(w->if_match, "*") != 0 && strcmp(old->md5, w->if_match) != 0) {
		st_set_detail(res, "gray rule '%s' of %s has md5 %s, not %.32s", name, ch->key.s,
			      old->md5, w->if_match);
		return HC_ERR_PRECONDITION;
	}
	return HC_OK;
}

/* A fresh salt for a new rule: 128 random bits from SQLite's generator
 * (seeded by the OS), as 32 hex digits. */
static hc_err new_salt(store *st, char **out)
{
	sqlite3_stmt *s;
	hc_err err;
	int row = 0;

	*out = NULL;
	err = st_stmt(st, ST_GRAY_SALT, "SELECT lower(hex(randomblob(16)))", &s);
	if (err)
		return err;
	err = st_step(st, s, &row);
	if (!err && row)
		*out = xstrdup(st_col_text(s, 0));
	else if (!err)
		err = HC_ERR_INTERNAL;
	st_done(s);
	return err;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static void bind_int_or_null(sqlite3_stmt *s, int i, int has, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = has ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

/* Binds ?i..?i+9 to the rollout_* columns of ro (all NULL when ro is);
 * steps holds the steps text, and must live until st_done(). */
static void bind_rollout(sqlite3_stmt *s, int i, const store_rollout *ro, sbuf *steps, int *rc)
{
	const store_rollout_plan *p = ro ? &ro->plan : NULL;

	if (ro)
		st_rollout_steps_text(p, steps);
	bind_text_or_null(s, i, ro ? steps->buf : NULL, rc);
	bind_int_or_null(s, i + 1, ro != NULL, p ? p->interval_ms : 0, rc);
	bind_int_or_null(s, i + 2, ro != NULL, p ? p->max_rejected : 0, rc);
	bind_int_or_null(s, i + 3, ro != NULL, p ? p->max_rejected_is_pct : 0, rc);
	bind_int_or_null(s, i + 4, ro != NULL, p ? p->min_reports : 0, rc);
	bind_text_or_null(s, i + 5, ro ? store_rollout_state_name(ro->state) : NULL, rc);
	bind_int_or_null(s, i + 6, ro != NULL, ro ? ro->step : 0, rc);
	bind_int_or_null(s, i + 7, ro != NULL, ro ? ro->step_ms : 0, rc);
	bind_int_or_null(s, i + 8, ro != NULL, ro ? ro->next_ms : 0, rc);
	bind_text_or_null(s, i + 9, ro ? ro->reason : NULL, rc);
}

/* The row of rule r; ips, labels and percent are the columns it compiles
 * from (NULL: left out). A replace keeps salt, created_rev and created_ms. */
hc_err st_gray_upsert(store *st, const cfgkey *key, const store_gray_rule *r, const char *ips,
		      const char *labels, const char *percent)
{
	sbuf steps = SBUF_INIT(SBUF_NOMAX);
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	err =
	    st_stmt(st, ST_GRAY_UPSERT,
		    "INSERT INTO gray_rules (namespace, grp, data_id, name, priority, content,"
		    " format, md5, match_json, match_ips, match_labels, match_percent, salt,"
		    " created_rev, revision, created_ms, updated_ms, author, message,"
		    " rollout_steps, rollout_interval_ms, rollout_max_rejected,"
		    " rollout_max_rejected_pct, rollout_min_reports, rollout_state, rollout_step,"
		    " rollout_step_ms, rollout_next_ms, rollout_reason)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
		    " ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)"
		    " ON CONFLICT (namespace, grp, data_id, name) DO UPDATE SET"
		    " priority = excluded.priority, content = excluded.content,"
		    " format = excluded.format, md5 = excluded.md5,"
		    " match_json = excluded.match_json, match_ips = excluded.match_ips,"
		    " match_labels = excluded.match_labels,"
		    " match_percent = excluded.match_percent, revision = excluded.revision,"
		    " updated_ms = excluded.updated_ms, author = excluded.author,"
		    " message = excluded.message, rollout_steps = excluded.rollout_steps,"
		    " rollout_interval_ms = excluded.rollout_interval_ms,"
		    " rollout_max_rejected = excluded.rollout_max_rejected,"
		    " rollout_max_rejected_pct = excluded.rollout_max_rejected_pct,"
		    " rollout_min_reports = excluded.rollout_min_reports,"
		    " rollout_state = excluded.rollout_state, rollout_step = excluded.rollout_step,"
		    " rollout_step_ms = excluded.rollout_step_ms,"
		    " rollout_next_ms = excluded.rollout_next_ms,"
		    " rollout_reason = excluded.rollout_reason",
		    &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	st_bind_text(s, 4, r->name, &rc);
	st_bind_int(s, 5, r->priority, &rc);
	st_bind_blob(s, 6, r->content, r->len, &rc);
	st_bind_text(s, 7, r->format, &rc);
	st_bind_text(s, 8, r->md5, &rc);
	st_bind_text(s, 9, r->match, &rc);
	bind_text_or_null(s, 10, ips, &rc);
	bind_text_or_null(s, 11, labels, &rc);
	bind_text_or_null(s, 12, percent, &rc);
	st_bind_text(s, 13, r->salt, &rc);
	st_bind_int(s, 14, r->created_rev, &rc);
	st_bind_int(s, 15, r->revision, &rc);
	st_bind_int(s, 16, r->created_ms, &rc);
	st_bind_int(s, 17, r->updated_ms, &rc);
	st_bind_text(s, 18, r->author, &rc);
	st_bind_text(s, 19, r->message, &rc);
	bind_rollout(s, 20, r->rollout, &steps, &rc);
	err = st_run_bound(st, s, rc);
	sbuf_release(&steps);
	return err;
}

/* Statement id (sql) with ?1..?3 bound to key and ?4 to the rule's name,
 * ready to step (the caller st_done()s it); *out NULL on failure. */
hc_err st_gray_rule_stmt(store *st, st_id id, const char *sql, const cfgkey *key, const char *name,
			 sqlite3_stmt **out)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	*out = NULL;
	err = st_stmt(st, id, sql, &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	st_bind_text(s, 4, name, &rc);
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind");
	}
	*out = s;
	return HC_OK;
}

static hc_err delete_rule(store *st, const cfgkey *key, const char *name)
{
	sqlite3_stmt *s;
	hc_err err;

	err = st_gray_rule_stmt(st, ST_GRAY_DELETE,
				"DELETE FROM gray_rules"
				" WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3 AND name = ?4",
				key, name, &s);
	return err ? err : st_run(st, s);
}

/* The history entry of a rule change: a history version of its own, the
 * rule's content, name and match, and rollout (NULL: "") in its column. */
/* The history note of rule r after a change: what a replay needs of it
 * (plan gets the rule's plan as JSON; gn borrows it and r). */
static void gray_note(const store_gray_rule *r, const char *rollout, sbuf *plan, st_gray_note *gn)
{
	if (r->rollout)
		st_rollout_plan_json(&r->rollout->plan, plan);
	*gn = (st_gray_note){r->name, r->match, rollout, r->priority, r->salt, plan->buf};
}

hc_err st_gray_history(store *st, const store_write *w, const st_change *ch, store_op op,
		       const store_gray_rule *r, int64_t revision, const char *rollout)
{
	sbuf plan = SBUF_INIT(SBUF_NOMAX);
	st_gray_note gn;
	store_config t = *ch->cur;
	hc_err err;

	gray_note(r, rollout, &plan, &gn);
	t.content = r->content;
	t.len = r->len;
	memcpy(t.md5, r->md5, sizeof(t.md5));
	snprintf(t.format, sizeof(t.format), "%s", r->format);
	t.revision = revision;
	err = st_next_version(st, &ch->key, &t.version);
	if (!err)
		err = st_insert_history(st, w, &ch->key, op, &t, &gn);
	sbuf_release(&plan);
	return err;
}

/* After a rule change: the next snapshot is the current main version with
 * gray (its reference is handed over) as its rules. */
void st_gray_changed(st_change *ch, store_gray_set *gray, store_op op, int64_t revision)
{
	store_config t = *ch->cur;

	t.gray = gray;
	ch->next = st_config_make(&t); /* takes its own reference */
	store_gray_set_unref(gray);
	ch->kind = STORE_CHANGE_GRAY;
	ch->op = op;
	ch->revision = revision;
}

/* The result of a rule change that leaves main as it is. */
void st_gray_result(st_job *j, const store_gray_rule *r, int64_t revision)
{
	j->res->version = j->ch.cur->version;
	j->res->revision = revision;
	memcpy(j->res->md5, r->md5, sizeof(j->res->md5));
	j->res->changed = 1;
}

/* A new rule (refs 1) from the spec with match m, compiled with salt, and
 * rollout ro (both handed over; ro NULL for none, and an aborted one leaves
 * the rule matching nothing); HC_ERR_INVALID with the reason in res. ips
 * and percent get the columns to store (the caller releases them). */
static hc_err rule_build(const store_write *w, const store_gray_spec *g, const store_gray_match *m,
			 const char *format, char *salt, store_rollout *ro, store_gray_rule **out,
			 sbuf *ips, sbuf *percent, store_result *res)
{
	store_gray_rule *r = xcalloc(1, sizeof(*r));
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX), json = SBUF_INIT(SBUF_NOMAX);
	hc_err err;

	r->refs = 1;
	r->salt = salt;
	r->rollout = ro;
	err = gray_rule_compile(m->ips, m->nips, m->has_ips, m->labels, m->percent, salt,
				&r->compiled, &why);
	if (err) {
		st_set_detail(res, "%s", why.buf);
		goto fail;
	}
	if (ro && ro->state == STORE_ROLLOUT_ABORTED) {
		gray_rule_free(r->compiled); /* compiled all the same: the match is checked */
		r->compiled = NULL;
	}
	match_text(m, &json, ips, percent);
	r->match = sbuf_detach(&json, NULL);
	r->name = xstrdup(g->name);
	r->priority = g->priority;
	r->content = xmemdupz(w->content ? w->content : "", w->len);
	r->len = w->len;
	md5_hex(r->content, r->len, r->md5);
	snprintf(r->format, sizeof(r->format), "%s", format);
	r->author = xstrdup(w->author ? w->author : "");
	r->message = xstrdup(w->message ? w->message : "");
	r->created_ms = r->updated_ms = w->now_ms;
	*out = r;
	sbuf_release(&why);
	return HC_OK;

fail:
	store_gray_rule_unref(r);
	sbuf_release(&why);
	sbuf_release(&json);
	*out = NULL;
	return err;
}

static int same_body(const store_gray_rule *a, const store_gray_rule *b)
{
	return a->len == b->len && !memcmp(a->content, b->content, a->len) &&
	       !strcmp(a->format, b->format) && a->priority == b->priority;
}

/* 1 when putting r (built from match m) over old changes nothing. With a
 * plan, the step the rollout is at is no part of it: the match is compared
 * at old's step. */
static int put_is_noop(const store_gray_rule *old, const store_gray_rule *r,
		       const store_gray_match *m)
{
	sbuf json = SBUF_INIT(SBUF_NOMAX), ips = SBUF_INIT(SBUF_NOMAX), pct = SBUF_INIT(SBUF_NOMAX);
	store_gray_match at = *m;
	char text[16];
	int same;

	if (!old || !same_body(old, r) || !old->rollout != !r->rollout)
		return 0;
	if (!r->rollout)
		return !strcmp(old->match, r->match);
	if (!st_rollout_same_plan(&old->rollout->plan, &r->rollout->plan))
		return 0;
	gray_percent_text(old->rollout->plan.steps[old->rollout->step], text);
	at.percent = text;
	match_text(&at, &json, &ips, &pct);
	same = !strcmp(json.buf, old->match);
	sbuf_release(&json);
	sbuf_release(&ips);
	sbuf_release(&pct);
	return same;
}

/* The rollout a put gives its rule (*out NULL: none), from the spec's plan
 * and old's rollout. */
static hc_err put_rollout(const st_job *j, const store_gray_rule *old, store_rollout **out)
{
	const store_rollout *was = old ? old->rollout : NULL;
	store_rollout ro;
	hc_err err;

	*out = NULL;
	if (!j->g.rollout)
		return HC_OK;
	if (j->g.match.percent) {
		st_set_detail(j->res, "match.percent: a rule with a rollout takes its percent "
				      "from rollout.steps");
		return HC_ERR_INVALID;
	}
	err = st_rollout_plan_check(j->g.rollout, j->res);
	if (err)
		return err;
	memset(&ro, 0, sizeof(ro));
	ro.plan = *j->g.rollout;
	/* A paused or aborted rollout stays so: a new content is no go-ahead. */
	ro.state = was ? was->state : STORE_ROLLOUT_RUNNING;
	st_rollout_restart(&ro);
	*out = st_rollout_dup(&ro, was && was->state == STORE_ROLLOUT_ABORTED ? was->reason : "");
	return HC_OK;
}

/* Checks and builds the rule of a put; *out gets it, or stays NULL. */
static hc_err put_rule(store *st, st_job *j, const store_gray_rule *old, store_gray_rule **out,
		       sbuf *ips, sbuf *percent)
{
	const store_write *w = j->w;
	const store_gray_set *rules = j->ch.cur->gray;
	const char *format = w->format ? w->format : old ? old->format : j->ch.cur->format;
	store_gray_match m = j->g.match;
	store_rollout *ro = NULL;
	char *salt = NULL, pct[16];
	hc_err err;

	*out = NULL;
	if (w->create_only && old) {
		st_set_detail(j->res, "gray rule '%s' of %s already exists", old->name,
			      j->ch.key.s);
		return HC_ERR_PRECONDITION;
	}
	err = rule_if_match(w, &j->ch, j->g.name, old, j->res);
	if (err)
		return err;
	if (old && j->g.salt && strcmp(j->g.salt, old->salt)) {
		st_set_detail(j->res,
			      "salt: gray rule '%s' of %s keeps the salt it was created with; "
			      "leave salt out to replace it",
			      old->name, j->ch.key.s);
		return HC_ERR_INVALID;
	}
	err = put_rollout(j, old, &ro);
	if (err)
		return err;
	if (ro) {
		gray_percent_text(ro->plan.steps[ro->step], pct);
		m.percent = pct;
	}
	if (old)
		salt = xstrdup(old->salt); /* sticky: the same instances stay in */
	else if (j->g.salt)
		salt = xstrdup(j->g.salt);
	else if ((err = new_salt(st, &salt))) {
		st_rollout_free(ro);
		return err;
	}
	err = rule_build(w, &j->g, &m, format, salt, ro, out, ips, percent, j->res);
	if (err)
		return err;
	if (!old && rules && rules->n >= GRAY_MAX_RULES) {
		st_set_detail(j->res,
			      "%s already has %zu gray rules, the most a config may have; promote "
			      "or abort one first",
			      j->ch.key.s, rules->n);
		return HC_ERR_INVALID;
	}
	return st_check_content(w, format, (*out)->content, (*out)->len, j->res);
}

hc_err st_gray_put_body(store *st, st_job *j)
{
	sbuf ips = SBUF_INIT(SBUF_NOMAX), percent = SBUF_INIT(SBUF_NOMAX);
	sbuf json = SBUF_INIT(SBUF_NOMAX);
	const store_gray_match *m = &j->g.match;
	const store_gray_rule *old;
	st_change *ch = &j->ch;
	store_gray_rule *r = NULL;
	int64_t revision;
	hc_err err;

	err = st_job_begin(st, j->w, ch, j->res);
	if (!err)
		err = config_needed(ch, j->res);
	if (err)
		goto out;
	old = store_gray_find(ch->cur->gray, j->g.name);
	err = put_rule(st, j, old, &r, &ips, &percent);
	if (err)
		goto out;
	if (put_is_noop(old, r, m)) {
		ch->noop = 1;
		j->res->version = ch->cur->version;
		j->res->revision = old->revision;
		memcpy(j->res->md5, old->md5, sizeof(j->res->md5));
		goto out;
	}
	err = st_bump_revision(st, &revision);
	if (err)
		goto out;
	r->revision = revision;
	r->created_rev = old ? old->created_rev : revision;
	r->created_ms = old ? old->created_ms : j->w->now_ms;
	if (r->rollout)
		st_rollout_json(r->rollout, &json);
	err = st_gray_upsert(st, &ch->key, r, m->has_ips ? ips.buf : NULL, m->labels,
			     m->percent || r->rollout ? percent.buf : NULL);
	if (!err)
		err = st_gray_history(st, j->w, ch, STORE_OP_GRAY_PUBLISH, r, revision,
				      r->rollout ? json.buf : NULL);
	if (err)
		goto out;
	st_gray_result(j, r, revision);
	j->res->created = !old;
	st_gray_changed(ch, st_gray_set_with(ch->cur->gray, r), STORE_OP_GRAY_PUBLISH, revision);
	r = NULL; /* the set holds it */
out:
	store_gray_rule_unref(r);
	sbuf_release(&ips);
	sbuf_release(&percent);
	sbuf_release(&json);
	return err;
}

/* The rule a delete, promote or rollout names, checked; *out borrows it
 * from cur. */
hc_err st_gray_named(store *st, st_job *j, const store_gray_rule **out)
{
	hc_err err = st_job_begin(st, j->w, &j->ch, j->res);

	*out = NULL;
	if (!err)
		err = config_needed(&j->ch, j->res);
	if (err)
		return err;
	*out = store_gray_find(j->ch.cur->gray, j->g.name);
	if (!*out) {
		st_set_detail(j->res, "%s has no gray rule '%s'", j->ch.key.s, j->g.name);
		return HC_ERR_NOT_FOUND;
	}
	return rule_if_match(j->w, &j->ch, j->g.name, *out, j->res);
}

hc_err st_gray_delete_body(store *st, st_job *j)
{
	const store_gray_rule *r;
	st_change *ch = &j->ch;
	int64_t revision;
	hc_err err;

	err = st_gray_named(st, j, &r);
	if (!err)
		err = st_bump_revision(st, &revision);
	if (!err)
		err = delete_rule(st, &ch->key, r->name);
	if (!err)
		err = st_gray_history(st, j->w, ch, STORE_OP_GRAY_ABORT, r, revision, NULL);
	if (err)
		return err;
	j->res->version = ch->cur->version;
	j->res->revision = revision;
	memcpy(j->res->md5, ch->cur->md5, sizeof(j->res->md5));
	j->res->changed = 1;
	st_gray_changed(ch, set_without(ch->cur->gray, r->name), STORE_OP_GRAY_ABORT, revision);
	return HC_OK;
}

/* Rule r's content becomes the next main version and r goes; summary (NULL:
 * "") goes to the history entry's rollout column. */
hc_err st_gray_promote_rule(store *st, st_job *j, const store_gray_rule *r, const char *summary)
{
	sbuf plan = SBUF_INIT(SBUF_NOMAX);
	st_gray_note gn;
	st_change *ch = &j->ch;
	hc_err err;

	gray_note(r, summary, &plan, &gn);
	err = delete_rule(st, &ch->key, r->name);
	if (!err)
		err = st_new_version(st, j->w, STORE_OP_GRAY_PROMOTE, r->content, r->len, r->format,
				     j->w->description, &gn, ch, j->res);
	sbuf_release(&plan);
	if (err)
		return err;
	/* One snapshot, one announcement: the new main version without the
	 * rule. ch->next is not shared yet, so its rules can still change. */
	store_gray_set_unref(ch->next->gray);
	ch->next->gray = set_without(ch->cur->gray, r->name);
	return HC_OK;
}

hc_err st_gray_promote_body(store *st, st_job *j)
{
	const store_gray_rule *r;
	hc_err err = st_gray_named(st, j, &r);

	return err ? err : st_gray_promote_rule(st, j, r, NULL);
}

/* ---- reads ---- */

hc_err store_gray_list(store *st, const cfgkey *key, store_gray_set **out)
{
	store_config *c = st_index_ref(st, key);

	*out = NULL;
	if (!c)
		return HC_ERR_NOT_FOUND;
	if (c->gray)
		*out = store_gray_set_ref(c->gray);
	store_config_unref(c);
	return HC_OK;
}

hc_err store_gray_get(store *st, const cfgkey *key, const char *name, store_gray_rule **out)
{
	store_config *c = st_index_ref(st, key);
	const store_gray_rule *r = c ? store_gray_find(c->gray, name) : NULL;

	*out = r ? store_gray_rule_ref((store_gray_rule *)r) : NULL;
	store_config_unref(c);
	return *out ? HC_OK : HC_ERR_NOT_FOUND;
}

void store_gray_effective(const store_config *c, const gray_inst *inst, store_effective *out)
{
	const store_gray_set *g = c->gray;
	int k = g && inst ? gray_pick(g->compiled, g->priority, g->n, inst) : -1;

	if (k >= 0) {
		const store_gray_rule *r = g->rules[k];
		out->content = r->content;
		out->len = r->len;
		out->md5 = r->md5;
		out->format = r->format;
		out->rule = r;
		return;
	}
	out->content = c->content ? c->content : "";
	out->len = c->len;
	out->md5 = c->md5;
	out->format = c->format;
	out->rule = NULL;
}
