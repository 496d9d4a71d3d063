/*
 * store_write.c: publish, delete and rollback, with group commit and the
 * change feed; the gray rule writes share all of it (their bodies are in
 * store_gray.c).
 *
 * A write becomes a job on a queue served by the store's writer thread. The
 * writer takes every job queued so far and runs them as one batch under
 * db_lock, in one BEGIN IMMEDIATE transaction with one SAVEPOINT per job, so a
 * job that fails on its own account (a precondition, a missing namespace,
 * invalid content) is rolled back alone while the others stand. A failure of
 * the database itself (I/O, a full disk, a lock held elsewhere) fails the whole
 * batch: SQLite may already have rolled the transaction back, and nothing of
 * a suspect transaction is kept. One COMMIT, so one fsync, makes the batch
 * durable; only then do the new snapshots replace the old ones in the index,
 * the feed announces each change, and the jobs complete: a synchronous caller
 * wakes up, an asynchronous one gets its callback. Writes that arrive during a
 * commit queue up for the next batch, so under load each fsync carries many
 * writes, and alone a write costs what it did before: a batch of one.
 *
 * Every decision is taken inside the transaction, from the database: the
 * current row (for If-Match, create-only and the no-op check), the next
 * version and the server revision. A job sees the jobs before it in its batch
 * because they wrote to the same transaction, and a second writer on the same
 * database (another process) could not make it decide on stale state. The
 * index is only ever the read path. Readers of the index are never blocked by
 * any of this except for the swaps.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_log.h"
#include "md5.h"
#include "store_auth.h"
#include "xmalloc.h"

void st_set_detail(store_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* 1 when err means the database failed, not the write: the batch cannot
 * commit any of its jobs. */
int st_db_failure(hc_err err)
{
	switch (err) {
	case HC_ERR_IO:
	case HC_ERR_INTERNAL:
	case HC_ERR_UNAVAILABLE:
	case HC_ERR_NO_SPACE:
	case HC_ERR_READ_ONLY:
		return 1;
	default:
		return 0;
	}
}

/* What a failed batch tells each of its writers. */
static const char *db_failure_words(hc_err err)
{
	switch (err) {
	case HC_ERR_UNAVAILABLE:
		return "the database is locked by another process";
	case HC_ERR_NO_SPACE:
		return "the disk is full";
	case HC_ERR_READ_ONLY:
		return "the database cannot be written (read-only file or file system)";
	case HC_ERR_IO:
		return "the disk failed (I/O error)";
	default:
		return "the database failed";
	}
}

static void result_from(store_result *res, const store_config *c, int changed)
{
	res->version = c->version;
	res->revision = c->revision;
	memcpy(res->md5, c->md5, sizeof(res->md5));
	res->changed = changed;
}

/* The config's row, as this transaction sees it: a new snapshot or NULL. */
static hc_err load_current(store *st, const cfgkey *key, store_config **out)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc, row = 0;

	*out = NULL;
	err = st_stmt(st, ST_CONFIG_GET,
		      "SELECT " ST_CONFIG_COLS ", content FROM configs"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, &row);
	if (!err && row)
		*out = st_config_from_row(s, 1);
	st_done(s);
	if (!err && *out)
		err = st_gray_load(st, key, &(*out)->gray);
	return err;
}

hc_err st_job_begin(store *st, const store_write *w, st_change *ch, store_result *res)
{
	char source[STORE_DETAIL_MAX / 2];
	hc_err err;
	int exists, review;

	err = st_namespace_exists(st, w->ns, &exists, &review, source, sizeof(source));
	if (err)
		return err;
	if (!exists) {
		st_set_detail(res, "namespace '%s' does not exist", w->ns);
		return HC_ERR_NOT_FOUND;
	}
	if (ch->gated && *source && !w->from_source) {
		st_set_detail(res,
			      "namespace '%s' is fed from %s and read-only here: change it there, "
			      "and hotconf publishes the commit",
			      w->ns, source);
		return HC_ERR_CONFLICT;
	}
	if (ch->gated && review > 0 && !w->change_id && !w->from_source) {
		st_set_detail(res,
			      "namespace '%s' requires review: every change there goes through a "
			      "change request approved by %d other than its author (POST "
			      "/api/v1/namespaces/%s/changes)",
			      w->ns, review, w->ns);
		return HC_ERR_CONFLICT;
	}
	return load_current(st, &ch->key, &ch->cur);
}

static void change_release(st_change *ch)
{
	store_config_unref(ch->cur);
	store_config_unref(ch->next);
	ch->cur = ch->next = NULL;
	cfgkey_release(&ch->key);
}

static hc_err check_if_match(const store_write *w, const st_change *ch, store_result *res)
{
	if (!w->if_match)
		return HC_OK;
	if (!ch->cur) {
		st_set_detail(res, "%s does not exist, so it cannot match md5 %.32s", ch->key.s,
			      w->if_match);
		return HC_ERR_PRECONDITION;
	}
	if (strcmp(w->if_match, "*") != 0 && strcmp(ch->cur->md5, w->if_match) != 0) {
		st_set_detail(res, "%s has md5 %s (version %lld), not %.32s", ch->key.s,
			      ch->cur->md5, (long long)ch->cur->version, w->if_match);
		return HC_ERR_PRECONDITION;
	}
	return HC_OK;
}

/* One past the highest version in the config's history, so versions keep
 * counting after a delete and a re-create. */
hc_err st_next_version(store *st, const cfgkey *key, int64_t *version)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc, row;

	err = st_stmt(st, ST_NEXT_VERSION,
		      "SELECT COALESCE(MAX(version), 0) + 1 FROM history"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, &row);
	if (!err)
		*version = sqlite3_column_int64(s, 0);
	st_done(s);
	return err;
}

hc_err st_bump_revision(store *st, int64_t *revision)
{
	sqlite3_stmt *s;
	hc_err err;
	int row = 0;

	err =
	    st_stmt(st, ST_REVISION_BUMP,
		    "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value", &s);
	if (err)
		return err;
	err = st_step(st, s, &row);
	if (!err && !row) {
		hc_log("the meta table has no revision row");
		err = HC_ERR_INTERNAL;
	}
	if (!err)
		*revision = sqlite3_column_int64(s, 0);
	st_done(s);
	return err;
}

hc_err st_insert_history(store *st, const store_write *w, const cfgkey *key, store_op op,
			 const store_config *t, const st_gray_note *gn)
{
	static const st_gray_note none = {NULL, NULL, NULL, 0, NULL, NULL};
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	err = st_stmt(
	    st, ST_HIST_INSERT,
	    "INSERT INTO history (namespace, grp, data_id, version, revision, op, content,"
	    " md5, format, author, message, source_ip, created_ms, gray_rule, gray_match,"
	    " rollout, change_id, gray_priority, gray_salt, gray_plan)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	    " ?18, ?19, ?20)",
	    &s);
	if (err)
		return err;
	if (!gn)
		gn = &none;
	rc = st_bind_key(s, key);
	st_bind_int(s, 4, t->version, &rc);
	st_bind_int(s, 5, t->revision, &rc);
	st_bind_text(s, 6, store_op_name(op), &rc);
	st_bind_blob(s, 7, t->content, t->len, &rc);
	st_bind_text(s, 8, t->md5, &rc);
	st_bind_text(s, 9, t->format, &rc);
	st_bind_text(s, 10, w->author, &rc);
	st_bind_text(s, 11, w->message, &rc);
	st_bind_text(s, 12, w->source_ip, &rc);
	st_bind_int(s, 13, w->now_ms, &rc);
	st_bind_text(s, 14, gn->rule, &rc);
	st_bind_text(s, 15, gn->match, &rc);
	st_bind_text(s, 16, gn->rollout, &rc);
	st_bind_int(s, 17, w->change_id, &rc);
	st_bind_int(s, 18, gn->priority, &rc);
	st_bind_text(s, 19, gn->salt, &rc);
	st_bind_text(s, 20, gn->plan, &rc);
	return st_run_bound(st, s, rc);
}

/* Inserts or replaces the configs row with t; an existing row keeps its
 * created_ms. */
static hc_err upsert_config(store *st, const cfgkey *key, const store_config *t)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	err = st_stmt(st, ST_CONFIG_UPSERT,
		      "INSERT INTO configs (namespace, grp, data_id, content, md5, format, version,"
		      " revision, created_ms, updated_ms, author, description)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
		      " ON CONFLICT (namespace, grp, data_id) DO UPDATE SET"
		      " content = excluded.content, md5 = excluded.md5, format = excluded.format,"
		      " version = excluded.version, revision = excluded.revision,"
		      " updated_ms = excluded.updated_ms, author = excluded.author,"
		      " description = excluded.description",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	st_bind_blob(s, 4, t->content, t->len, &rc);
	st_bind_text(s, 5, t->md5, &rc);
	st_bind_text(s, 6, t->format, &rc);
	st_bind_int(s, 7, t->version, &rc);
	st_bind_int(s, 8, t->revision, &rc);
	st_bind_int(s, 9, t->created_ms, &rc);
	st_bind_int(s, 10, t->updated_ms, &rc);
	st_bind_text(s, 11, t->author, &rc);
	st_bind_text(s, 12, t->description, &rc);
	return st_run_bound(st, s, rc);
}

/* Runs a statement whose parameters are ?1..?3 = the config's key and, when
 * extra is not NULL, ?4 = extra. */
static hc_err run_keyed(store *st, st_id id, const char *sql, const cfgkey *key, const char *extra)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	err = st_stmt(st, id, sql, &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	if (extra)
		st_bind_text(s, 4, extra, &rc);
	return st_run_bound(st, s, rc);
}

/* Validates content inside the transaction when the format resolved here is
 * not the one the caller validated it as. */
hc_err st_check_content(const store_write *w, const char *format, const char *content, size_t len,
			store_result *res)
{
	if (!w->check || (w->checked_format && !strcmp(w->checked_format, format)))
		return HC_OK;
	return w->check(format, content, len, res->detail, sizeof(res->detail));
}

/* Only the description differs: it is updated in place, with no new version,
 * history entry, revision or updated_ms (the content did not change, so
 * watchers have nothing to see), but changed is 1. */
static hc_err describe_tx(store *st, const char *description, st_change *ch, store_result *res)
{
	store_config t = *ch->cur;
	hc_err err;

	err = run_keyed(st, ST_CONFIG_DESCRIBE,
			"UPDATE configs SET description = ?4"
			" WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
			&ch->key, description);
	if (err)
		return err;
	t.description = (char *)description;
	ch->next = st_config_make(&t);
	ch->kind = STORE_CHANGE_META;
	ch->op = STORE_OP_PUBLISH;
	ch->revision = ch->cur->revision;
	result_from(res, ch->next, 1);
	return HC_OK;
}

hc_err st_new_version(store *st, const store_write *w, store_op op, const char *content, size_t len,
		      const char *format, const char *description, const st_gray_note *gn,
		      st_change *ch, store_result *res)
{
	const store_config *cur = ch->cur;
	store_config t;
	hc_err err;

	if (!content)
		content = ""; /* len is 0: bind wants a real pointer */
	if (!format)
		format = cur ? cur->format : "text";
	memset(&t, 0, sizeof(t));
	t.ns = (char *)w->ns;
	t.group = (char *)w->group;
	t.data_id = (char *)w->data_id;
	t.content = (char *)content;
	t.len = len;
	md5_hex(content, len, t.md5);
	snprintf(t.format, sizeof(t.format), "%s", format);
	t.created_ms = cur ? cur->created_ms : w->now_ms;
	t.updated_ms = w->now_ms;
	t.author = (char *)(w->author ? w->author : "");
	t.description = (char *)(description ? description : cur ? cur->description : "");
	t.gray = cur ? cur->gray : NULL; /* a main version leaves the rules in place */
	err = st_next_version(st, &ch->key, &t.version);
	if (!err)
		err = st_bump_revision(st, &t.revision);
	if (!err)
		err = st_insert_history(st, w, &ch->key, op, &t, gn);
	if (!err)
		err = upsert_config(st, &ch->key, &t);
	if (err)
		return err;
	/* Built before COMMIT so nothing after a durable COMMIT can fail; it
	 * reaches the index only if the COMMIT succeeds. */
	ch->next = st_config_make(&t);
	ch->kind = STORE_CHANGE_CONTENT;
	ch->op = op;
	ch->revision = t.revision;
	result_from(res, ch->next, 1);
	res->created = !cur;
	return HC_OK;
}

/*
 * The body of publish and rollback, inside the transaction: content becomes
 * the next version (op), unless it is a no-op. format NULL keeps the current
 * one ("text" for a new config); description NULL keeps the current one (""
 * for a new config).
 */
static hc_err publish_tx(store *st, const store_write *w, store_op op, const char *content,
			 size_t len, const char *format, const char *description, st_change *ch,
			 store_result *res)
{
	const store_config *cur = ch->cur;
	hc_err err;

	if (!content)
		content = ""; /* len is 0: memcmp and bind want a real pointer */
	if (!format)
		format = cur ? cur->format : "text";
	if (cur && cur->len == len && !memcmp(cur->content, content, len) &&
	    !strcmp(cur->format, format)) {
		if (!description || !strcmp(description, cur->description)) {
			ch->noop = 1;
			result_from(res, cur, 0);
			return HC_OK;
		}
		return describe_tx(st, description, ch, res);
	}
	err = st_check_content(w, format, content, len, res);
	if (err)
		return err;
	return st_new_version(st, w, op, content, len, format, description, NULL, ch, res);
}

static hc_err publish_body(store *st, st_job *j)
{
	const store_write *w = j->w;
	hc_err err = st_job_begin(st, w, &j->ch, j->res);

	if (err)
		return err;
	if (w->create_only && j->ch.cur) {
		st_set_detail(j->res, "%s already exists (version %lld)", j->ch.key.s,
			      (long long)j->ch.cur->version);
		return HC_ERR_PRECONDITION;
	}
	err = check_if_match(w, &j->ch, j->res);
	if (err)
		return err;
	return publish_tx(st, w, STORE_OP_PUBLISH, w->content, w->len, w->format, w->description,
			  &j->ch, j->res);
}

/*
 * The delete entry has empty content (so the md5 of ""), keeps the format of
 * the last version, and takes a version and revision of its own; res gets
 * those three.
 */
static hc_err delete_body(store *st, st_job *j)
{
	const store_write *w = j->w;
	st_change *ch = &j->ch;
	store_config t;
	hc_err err = st_job_begin(st, w, ch, j->res);

	if (err)
		return err;
	if (!ch->cur) {
		st_set_detail(j->res, "%s does not exist", ch->key.s);
		return HC_ERR_NOT_FOUND;
	}
	err = check_if_match(w, ch, j->res);
	if (err)
		return err;
	if (ch->cur->gray) {
		/* Deleting would drop rules nobody asked to remove. */
		st_set_detail(j->res,
			      "%s has %zu gray rule(s); promote or abort them before deleting it",
			      ch->key.s, ch->cur->gray->n);
		return HC_ERR_CONFLICT;
	}
	t = *ch->cur;
	t.content = "";
	t.len = 0;
	md5_hex("", 0, t.md5);
	err = st_next_version(st, &ch->key, &t.version);
	if (!err)
		err = st_bump_revision(st, &t.revision);
	if (!err)
		err = st_insert_history(st, w, &ch->key, STORE_OP_DELETE, &t, NULL);
	if (!err)
		err = run_keyed(
		    st, ST_CONFIG_DELETE,
		    "DELETE FROM configs WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
		    &ch->key, NULL);
	if (err)
		return err;
	ch->next = NULL;
	ch->kind = STORE_CHANGE_DELETE;
	ch->op = STORE_OP_DELETE;
	ch->revision = t.revision;
	j->res->version = t.version;
	j->res->revision = t.revision;
	memcpy(j->res->md5, t.md5, sizeof(j->res->md5));
	j->res->changed = 1;
	return HC_OK;
}

static hc_err rollback_body(store *st, st_job *j)
{
	const store_write *w = j->w;
	hc_err err = st_job_begin(st, w, &j->ch, j->res);
	int found;

	if (err)
		return err;
	err = st_history_load(st, &j->ch.key, j->version, &j->h, &found);
	if (err)
		return err;
	if (!found) {
		st_set_detail(j->res, "version %lld of %s not found", (long long)j->version,
			      j->ch.key.s);
		return HC_ERR_NOT_FOUND;
	}
	if (j->h.op == STORE_OP_DELETE) {
		st_set_detail(j->res,
			      "version %lld of %s is a delete entry; there is nothing to restore",
			      (long long)j->version, j->ch.key.s);
		return HC_ERR_CONFLICT;
	}
	if (j->h.op != STORE_OP_PUBLISH && j->h.op != STORE_OP_ROLLBACK &&
	    j->h.op != STORE_OP_GRAY_PROMOTE) {
		/* Its content was a rule's, never a main version. */
		st_set_detail(j->res,
			      "version %lld of %s is a gray rule entry (%s of rule '%s'), not a "
			      "main version; publish its content to restore it",
			      (long long)j->version, j->ch.key.s, store_op_name(j->h.op),
			      j->h.gray_rule);
		return HC_ERR_CONFLICT;
	}
	err = check_if_match(w, &j->ch, j->res);
	if (err)
		return err;
	return publish_tx(st, w, STORE_OP_ROLLBACK, j->h.content, j->h.len, j->h.format, NULL,
			  &j->ch, j->res);
}

/* The audit entry of a change, in the change's own savepoint. */
static hc_err audit_change(store *st, const st_job *j)
{
	const store_write *w = j->w;
	char target[3 * CFGKEY_NAME_MAX + 8];
	store_audit a;

	memset(&a, 0, sizeof(a));
	if (j->g.name)
		snprintf(target, sizeof(target), "%s/%s/gray/%s", w->group, w->data_id, j->g.name);
	else
		snprintf(target, sizeof(target), "%s/%s", w->group, w->data_id);
	a.at_ms = w->now_ms;
	a.actor = (char *)(w->author ? w->author : "");
	a.role = (char *)w->audit_role;
	a.action = (char *)(j->ch.kind == STORE_CHANGE_META ? "describe" : store_op_name(j->ch.op));
	a.ns = (char *)w->ns;
	a.target = target;
	a.old_md5 = j->ch.cur ? j->ch.cur->md5 : "";
	a.new_md5 = j->ch.next ? j->ch.next->md5 : "";
	if (j->kind == JOB_GRAY_PUT || j->kind == JOB_GRAY_DELETE ||
	    (j->kind == JOB_GRAY_ROLLOUT && j->ch.kind == STORE_CHANGE_GRAY)) {
		/* The rule's content is what changed, not the main one. */
		const store_gray_rule *o = store_gray_find(j->ch.cur->gray, j->g.name);
		const store_gray_rule *n =
		    j->ch.next ? store_gray_find(j->ch.next->gray, j->g.name) : NULL;
		a.old_md5 = (char *)(o ? o->md5 : "");
		a.new_md5 = (char *)(n ? n->md5 : "");
	}
	a.source_ip = (char *)(w->source_ip ? w->source_ip : "");
	a.detail = (char *)(w->message ? w->message : "");
	if (j->kind == JOB_GRAY_ROLLOUT && j->move.action == STORE_ROLLOUT_ABORT && !*a.detail)
		a.detail = (char *)j->move.reason;
	return st_audit_insert(st, &a);
}

static hc_err exec_cached(store *st, st_id id, const char *sql)
{
	sqlite3_stmt *s;
	hc_err err = st_stmt(st, id, sql, &s);

	return err ? err : st_run(st, s);
}

/* 1 for the writes that go through while the disk is full: those that free
 * space, and those that stop a rollout (they take little, and an operator
 * stopping a bad config must not wait for space). */
static int runs_when_full(const st_job *j)
{
	return j->kind == JOB_DELETE || j->kind == JOB_GRAY_DELETE ||
	       (j->kind == JOB_GRAY_ROLLOUT &&
		(j->move.action == STORE_ROLLOUT_ABORT || j->move.action == STORE_ROLLOUT_PAUSE));
}

/* The writes a namespace that requires review refuses unless they are a
 * change request's items. A gray rule's abort, and the moves of a rollout
 * (whose plan was part of the rule when it was put), stay open: they stop or
 * steer a change already made. */
static int gated(const st_job *j)
{
	return j->kind == JOB_PUBLISH || j->kind == JOB_DELETE || j->kind == JOB_ROLLBACK ||
	       j->kind == JOB_GRAY_PUT || j->kind == JOB_GRAY_PROMOTE;
}

hc_err st_run_body(store *st, st_job *j)
{
	j->ch.gated = gated(j);
	switch (j->kind) {
	case JOB_PUBLISH:
		j->err = publish_body(st, j);
		break;
	case JOB_DELETE:
		j->err = delete_body(st, j);
		break;
	case JOB_ROLLBACK:
		j->err = rollback_body(st, j);
		break;
	case JOB_GRAY_PUT:
		j->err = st_gray_put_body(st, j);
		break;
	case JOB_GRAY_DELETE:
		j->err = st_gray_delete_body(st, j);
		break;
	case JOB_GRAY_PROMOTE:
		j->err = st_gray_promote_body(st, j);
		break;
	case JOB_GRAY_ROLLOUT:
		j->err = st_gray_rollout_body(st, j);
		break;
	case JOB_CR_PUBLISH:
		j->err = HC_ERR_INTERNAL; /* not a body: run_job runs it */
		break;
	}
	if (!j->err && !j->ch.noop && j->w->audit_role)
		j->err = audit_change(st, j);
	return j->err;
}

/* Runs one job inside the batch's transaction, in a savepoint of its own.
 * Returns an error only when the batch itself can no longer commit. */
static hc_err run_job(store *st, st_job *j)
{
	hc_err err;

	if (!runs_when_full(j) && st_health_full(st, j->res->detail)) {
		/* Refused on its own account: the space left is for deletes. */
		j->err = HC_ERR_NO_SPACE;
		j->refused = 1;
		return HC_OK;
	}
	err = exec_cached(st, ST_SAVEPOINT, "SAVEPOINT hc_job");
	if (err)
		return err;
	if (j->kind == JOB_CR_PUBLISH)
		j->err = st_cr_publish_body(st, j);
	else
		st_run_body(st, j);
	if (st_db_failure(j->err))
		return j->err; /* the whole transaction is suspect */
	if (j->err && !(j->cr && j->cr->keep)) {
		/* Undo this job alone; the jobs before it stand. */
		err = exec_cached(st, ST_ROLLBACK_TO, "ROLLBACK TO hc_job");
		if (!err)
			err = exec_cached(st, ST_RELEASE, "RELEASE hc_job");
		return err;
	}
	return exec_cached(st, ST_RELEASE, "RELEASE hc_job");
}

static int announced(const st_job *j)
{
	return !j->err && !j->ch.noop && j->kind != JOB_CR_PUBLISH;
}

/* The changes of a batch in order: its jobs, a change request's items in
 * place of the request. Returns the change after j (NULL: the first), or
 * NULL after the last; *top tracks the job being walked. */
static st_job *next_change(st_job *batch, st_job *j, st_job **top, size_t *sub)
{
	for (;;) {
		if (!j) {
			*top = batch;
			*sub = 0;
		} else if ((*top)->cr && *sub < (*top)->cr->nsubs) {
			(*sub)++;
		} else {
			*top = (*top)->next;
			*sub = 0;
		}
		if (!*top)
			return NULL;
		if ((*top)->cr) {
			/* A request that failed announces none of its items. */
			if ((*top)->err || *sub >= (*top)->cr->nsubs) {
				*sub = (*top)->cr->nsubs;
				j = *top;
				continue;
			}
			j = &(*top)->cr->subs[*sub];
		} else {
			j = *top;
		}
		if (announced(j))
			return j;
	}
}

/* After a COMMIT: each change to the index, in order, then to the feed.
 * Returns 1 when there was any. */
static int install(store *st, st_job *batch)
{
	const st_job *last = NULL;
	st_job *j, *top;
	size_t sub;

	store_config **old = NULL;
	size_t n = 0, cap = 0, i;

	/* One hold of index_lock for the whole commit: a reader of several
	 * configs (store_get_keys) sees all of it or none. */
	pthread_mutex_lock(&st->index_lock);
	for (j = next_change(batch, NULL, &top, &sub); j; j = next_change(batch, j, &top, &sub)) {
		old = st_grow(old, n, &cap, sizeof(*old));
		old[n++] =
		    st_index_swap(st, &j->ch.key, j->ch.next ? store_config_ref(j->ch.next) : NULL,
				  j->ch.revision);
		last = j;
	}
	pthread_mutex_unlock(&st->index_lock);
	for (i = 0; i < n; i++) /* readers may still hold them; the last frees each */
		store_config_unref(old[i]);
	free(old);
	pthread_mutex_unlock(&st->db_lock);
	for (j = next_change(batch, NULL, &top, &sub); j; j = next_change(batch, j, &top, &sub)) {
		store_change c;

		c.kind = j->ch.kind;
		c.op = j->ch.op;
		c.key = &j->ch.key;
		c.config = j->ch.next;
		c.previous = j->ch.cur;
		c.revision = j->ch.revision;
		c.message = j->w->message ? j->w->message : "";
		c.author = j->w->author ? j->w->author : "";
		c.gray_rule = j->g.name;
		c.batch_end = j == last;
		st_feed(st, &c);
	}
	return last != NULL;
}

/* Fails every job of a batch whose transaction did not commit; why, when
 * not NULL, says why in place of the words for err. */
static void fail_batch(st_job *batch, hc_err err, const char *why)
{
	st_job *j;

	for (j = batch; j; j = j->next) {
		if (j->refused || (j->err && !st_db_failure(j->err)))
			continue; /* it failed on its own account; keep that answer */
		j->err = err;
		memset(j->res, 0, sizeof(*j->res));
		if (why)
			st_set_detail(j->res, "the write was not committed: %s", why);
		else
			st_set_detail(
			    j->res,
			    "the write was not committed and nothing changed: %s (%s; see "
			    "the server log)",
			    db_failure_words(err), hc_err_code(err));
	}
}

/* Runs a batch of jobs in one transaction and, after its COMMIT, installs
 * their snapshots in the index and announces them, in order. Returns 1
 * when it announced any change. */
static int run_batch(store *st, st_job *batch)
{
	char why[STORE_DETAIL_MAX];
	st_job *j;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_health_before(st, why);
	if (err) {
		pthread_mutex_unlock(&st->db_lock);
		fail_batch(batch, err, why);
		return 0;
	}
	err = st_begin(st);
	for (j = batch; j && !err; j = j->next)
		err = run_job(st, j);
	if (!err)
		err = st_commit(st);
	st_health_after(st, err);
	if (!err)
		return install(st, batch); /* unlocks db_lock */
	st_rollback(st);
	pthread_mutex_unlock(&st->db_lock);
	fail_batch(batch, err, NULL);
	return 0;
}

void st_job_release(st_job *j)
{
	size_t i;

	change_release(&j->ch);
	store_history_release(&j->h);
	if (!j->cr)
		return;
	for (i = 0; i < j->cr->nsubs; i++)
		st_job_release(&j->cr->subs[i]);
	free(j->cr->subs);
	free(j->cr->title);
	free(j->cr);
	j->cr = NULL;
}

/* Completes a batch: asynchronous jobs get their callbacks (without q_lock,
 * so callbacks may take locks of their own), synchronous ones are marked
 * done and their waiters woken. */
static void complete(store *st, st_job *batch)
{
	st_job *j, *next;
	int any_sync = 0;

	for (j = batch; j; j = next) {
		next = j->next;
		if (!j->done_fn) {
			any_sync = 1;
			continue;
		}
		j->done_fn(j->done_cls, j->err, j->res);
		st_job_release(j);
		free(j);
	}
	if (!any_sync)
		return;
	pthread_mutex_lock(&st->q_lock);
	for (j = batch; j; j = next) {
		next = j->next;
		if (!j->done_fn)
			j->done = 1; /* its writer may return and reuse the memory now */
	}
	pthread_cond_broadcast(&st->q_done);
	pthread_mutex_unlock(&st->q_lock);
}

void *st_writer_main(void *arg)
{
	store *st = arg;
	st_job *batch;
	int announced;

	pthread_mutex_lock(&st->q_lock);
	for (;;) {
		/* A held writer (store_fault_hold) lets the queue grow into one
		 * batch; stopping overrides it, so nothing queued is left behind. */
		while (!st->q_stop && (!st->q_head || st->q_hold))
			pthread_cond_wait(&st->q_work, &st->q_lock);
		if (!st->q_head)
			break; /* stopping, and nothing is left to write */
		batch = st->q_head;
		st->q_head = NULL;
		st->q_tail = &st->q_head;
		pthread_mutex_unlock(&st->q_lock);
		announced = run_batch(st, batch);
		complete(st, batch);
		if (announced)
			st_feed(st, NULL);
		pthread_mutex_lock(&st->q_lock);
	}
	pthread_mutex_unlock(&st->q_lock);
	return NULL;
}

void st_enqueue(store *st, st_job *j)
{
	pthread_mutex_lock(&st->q_lock);
	*st->q_tail = j;
	st->q_tail = &j->next;
	pthread_cond_signal(&st->q_work);
}

/* Checks what can be checked before queueing and builds the job's key;
 * fills res on failure. */
hc_err st_precheck(st_job_kind kind, const store_write *w, const store_gray_spec *g,
		   const store_rollout_move *m, cfgkey *key, store_result *res)
{
	int puts = kind == JOB_PUBLISH || kind == JOB_GRAY_PUT;

	if (cfgkey_init(key, w->ns, w->group, w->data_id)) {
		if (kind != JOB_PUBLISH) {
			st_set_detail(res, "no such config");
			return HC_ERR_NOT_FOUND;
		}
		st_set_detail(
		    res,
		    "namespace, group and dataId must be 1-%d characters of A-Z a-z 0-9 . _ "
		    ": - (and not . or ..)",
		    CFGKEY_NAME_MAX);
		return HC_ERR_INVALID;
	}
	if (g && !st_name_ok(g->name)) {
		if (kind != JOB_GRAY_PUT) {
			st_set_detail(res, "no such gray rule");
			return HC_ERR_NOT_FOUND;
		}
		st_set_detail(res,
			      "the gray rule's name must be 1-%d characters of A-Z a-z 0-9 . _ : - "
			      "(and not . or ..)",
			      CFGKEY_NAME_MAX);
		return HC_ERR_INVALID;
	}
	if (kind == JOB_GRAY_ROLLOUT && !m) {
		st_set_detail(res, "no rollout move given");
		return HC_ERR_INVALID;
	}
	if (!puts)
		return HC_OK;
	if (!w->content && w->len) {
		st_set_detail(res, "content is NULL but its length is %zu", w->len);
		return HC_ERR_INVALID;
	}
	if (w->format && !fmt_ok(w->format)) {
		st_set_detail(res, "unknown format '%.20s'", w->format);
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

/* Copies the gray parts of a job in: the spec (and the plan it points to,
 * which the job then owns a copy of) and the rollout move. */
void st_job_gray(st_job *j, const store_gray_spec *g, const store_rollout_move *m)
{
	if (g)
		j->g = *g;
	if (g && g->rollout) {
		j->plan = *g->rollout;
		j->g.rollout = &j->plan;
	}
	if (m)
		j->move = *m;
}

/* g: gray jobs' rule, else NULL; m: a rollout job's move, else NULL. */
static hc_err write_job(store *st, st_job_kind kind, const store_write *w, int64_t version,
			const store_gray_spec *g, const store_rollout_move *m, store_result *res)
{
	store_result ignored;
	st_job j;
	hc_err err;

	memset(&j, 0, sizeof(j));
	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	err = st_precheck(kind, w, g, m, &j.ch.key, res);
	if (err) {
		st_job_release(&j);
		return err;
	}
	j.kind = kind;
	j.w = w;
	j.version = version;
	st_job_gray(&j, g, m);
	j.res = res;
	st_enqueue(st, &j); /* returns holding q_lock */
	st_wait(st, &j);
	st_job_release(&j);
	return j.err;
}

static void write_async(store *st, st_job_kind kind, const store_write *w, int64_t version,
			const store_gray_spec *g, const store_rollout_move *m, store_done_fn done,
			void *cls)
{
	st_job *j = xcalloc(1, sizeof(*j));
	hc_err err;

	err = st_precheck(kind, w, g, m, &j->ch.key, &j->res_own);
	if (err) {
		done(cls, err, &j->res_own);
		st_job_release(j);
		free(j);
		return;
	}
	j->kind = kind;
	j->w_copy = *w;
	j->w = &j->w_copy;
	j->version = version;
	st_job_gray(j, g, m);
	j->res = &j->res_own;
	j->done_fn = done;
	j->done_cls = cls;
	st_enqueue(st, j);
	pthread_mutex_unlock(&st->q_lock);
}

void st_wait(store *st, st_job *j)
{
	while (!j->done)
		pthread_cond_wait(&st->q_done, &st->q_lock);
	pthread_mutex_unlock(&st->q_lock);
}

hc_err store_publish(store *st, const store_write *w, store_result *res)
{
	return write_job(st, JOB_PUBLISH, w, 0, NULL, NULL, res);
}

hc_err store_delete(store *st, const store_write *w, store_result *res)
{
	return write_job(st, JOB_DELETE, w, 0, NULL, NULL, res);
}

hc_err store_rollback(store *st, const store_write *w, int64_t version, store_result *res)
{
	return write_job(st, JOB_ROLLBACK, w, version, NULL, NULL, res);
}

void store_publish_async(store *st, const store_write *w, store_done_fn done, void *cls)
{
	write_async(st, JOB_PUBLISH, w, 0, NULL, NULL, done, cls);
}

void store_delete_async(store *st, const store_write *w, store_done_fn done, void *cls)
{
	write_async(st, JOB_DELETE, w, 0, NULL, NULL, done, cls);
}

void store_rollback_async(store *st, const store_write *w, int64_t version, store_done_fn done,
			  void *cls)
{
	write_async(st, JOB_ROLLBACK, w, version, NULL, NULL, done, cls);
}

static store_gray_spec named(const char *rule)
{
	store_gray_spec g;

	memset(&g, 0, sizeof(g));
	g.name = rule;
	return g;
}

hc_err store_gray_put(store *st, const store_write *w, const store_gray_spec *g, store_result *res)
{
	return write_job(st, JOB_GRAY_PUT, w, 0, g, NULL, res);
}

hc_err store_gray_delete(store *st, const store_write *w, const char *rule, store_result *res)
{
	store_gray_spec g = named(rule);

	return write_job(st, JOB_GRAY_DELETE, w, 0, &g, NULL, res);
}

hc_err store_gray_promote(store *st, const store_write *w, const char *rule, store_result *res)
{
	store_gray_spec g = named(rule);

	return write_job(st, JOB_GRAY_PROMOTE, w, 0, &g, NULL, res);
}

void store_gray_put_async(store *st, const store_write *w, const store_gray_spec *g,
			  store_done_fn done, void *cls)
{
	write_async(st, JOB_GRAY_PUT, w, 0, g, NULL, done, cls);
}

void store_gray_delete_async(store *st, const store_write *w, const char *rule, store_done_fn done,
			     void *cls)
{
	store_gray_spec g = named(rule);

	write_async(st, JOB_GRAY_DELETE, w, 0, &g, NULL, done, cls);
}

void store_gray_promote_async(store *st, const store_write *w, const char *rule, store_done_fn done,
			      void *cls)
{
	store_gray_spec g = named(rule);

	write_async(st, JOB_GRAY_PROMOTE, w, 0, &g, NULL, done, cls);
}

hc_err store_gray_rollout(store *st, const store_write *w, const char *rule,
			  const store_rollout_move *m, store_result *res)
{
	store_gray_spec g = named(rule);

	return write_job(st, JOB_GRAY_ROLLOUT, w, 0, &g, m, res);
}

void store_gray_rollout_async(store *st, const store_write *w, const char *rule,
			      const store_rollout_move *m, store_done_fn done, void *cls)
{
	store_gray_spec g = named(rule);

	write_async(st, JOB_GRAY_ROLLOUT, w, 0, &g, m, done, cls);
}

/* ---- the change feed ---- */

void store_subscribe(store *st, store_feed_fn fn, store_feed_done_fn done, void *ctx)
{
	pthread_mutex_lock(&st->feed_lock);
	st->subs = xrealloc(st->subs, (st->nsubs + 1) * sizeof(*st->subs));
	st->subs[st->nsubs].fn = fn;
	st->subs[st->nsubs].done = done;
	st->subs[st->nsubs].ctx = ctx;
	st->nsubs++;
	pthread_mutex_unlock(&st->feed_lock);
}

void st_feed(store *st, const store_change *ch)
{
	size_t i, n;

	/* Subscribers are only ever added, and only the writer thread calls
	 * them, so the list can be walked without the lock once its length is
	 * read: a subscriber added meanwhile hears from the next change on. */
	pthread_mutex_lock(&st->feed_lock);
	n = st->nsubs;
	pthread_mutex_unlock(&st->feed_lock);
	for (i = 0; i < n; i++) {
		st_subscriber sub;
		pthread_mutex_lock(&st->feed_lock);
		sub = st->subs[i];
		pthread_mutex_unlock(&st->feed_lock);
		if (ch)
			sub.fn(sub.ctx, ch);
		else if (sub.done)
			sub.done(sub.ctx);
	}
}

/* ---- fault injection ---- */

void store_fault_arm(store *st, store_fault_point point, store_fault_kind kind, int after,
		     int count)
{
	static const int codes[] = {
	    [STORE_FAULT_IO] = SQLITE_IOERR,
	    [STORE_FAULT_BUSY] = SQLITE_BUSY,
	    [STORE_FAULT_FULL] = SQLITE_FULL,
	    [STORE_FAULT_READONLY] = SQLITE_READONLY,
	};

	pthread_mutex_lock(&st->fault_lock);
	st->fault.point = count > 0 ? (int)point : -1;
	st->fault.rc = codes[kind];
	st->fault.skip = after > 0 ? after : 0;
	st->fault.count = count > 0 ? count : 0;
	__atomic_store_n(&st->fault.armed, count > 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&st->fault_lock);
}

void store_fault_hold(store *st, int hold)
{
	pthread_mutex_lock(&st->q_lock);
	st->q_hold = hold != 0;
	pthread_cond_signal(&st->q_work);
	pthread_mutex_unlock(&st->q_lock);
}

int st_fault_check(store *st, sqlite3_stmt *s)
{
	int rc = SQLITE_OK, match = 0;

	if (!__atomic_load_n(&st->fault.armed, __ATOMIC_ACQUIRE))
		return SQLITE_OK;
	pthread_mutex_lock(&st->fault_lock);
	if (st->fault.point == STORE_FAULT_COMMIT)
		match = s == st->stmts[ST_COMMIT];
	else if (st->fault.point == STORE_FAULT_WRITE)
		/* Only the writer's batches: namespace changes and pruning run on
		 * other threads and are not what the tests aim at. */
		match = st->writer_started && pthread_equal(pthread_self(), st->writer) &&
			!sqlite3_stmt_readonly(s);
	if (match && st->fault.skip > 0) {
		st->fault.skip--;
	} else if (match && st->fault.count > 0) {
		rc = st->fault.rc;
		if (--st->fault.count == 0) {
			st->fault.point = -1;
			__atomic_store_n(&st->fault.armed, 0, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&st->fault_lock);
	if (rc != SQLITE_OK)
		hc_log("fault hook: failing '%.60s' with %s", sqlite3_sql(s), sqlite3_errstr(rc));
	return rc;
}
