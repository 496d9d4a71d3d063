/*
 * store_write.c: publish, delete and rollback, with group commit.
 *
 * A write becomes a job on a queue served by the store's writer thread. The
 * writer takes every job queued so far and runs them as one batch under
 * db_lock, in one BEGIN IMMEDIATE transaction with one SAVEPOINT per job, so a
 * job that fails (a precondition, a missing namespace) is rolled back alone
 * while the others stand. One COMMIT, so one fsync, makes the whole batch
 * durable; only then do the new snapshots replace the old ones in the index
 * and the jobs complete: a synchronous caller wakes up, an asynchronous one
 * gets its callback. Writes that arrive during a commit queue up for the next
 * batch, so under load each fsync carries many writes, and alone a write
 * costs what it did before: a batch of one. Nothing completes before its
 * COMMIT has succeeded; if the COMMIT fails, every job of the batch fails.
 *
 * Inside a batch, a job must see the jobs before it: the batch keeps an
 * overlay of the snapshots it has written (st->pending) and its running
 * revision (st->pending_revision), consulted before the index. Readers of
 * the index are never blocked by any of this except for the swaps.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md5.h"
#include "xmalloc.h"

/* One write in progress: what the transaction saw and what the index gets
 * after COMMIT. */
typedef struct change {
	st_key key;
	store_config *cur;  /* a reference to the current snapshot, or NULL */
	store_config *next; /* installed after COMMIT; NULL removes the key */
	int64_t revision;   /* the server revision after the change */
	int noop;	    /* nothing written: the index stays as it is */
} change;

typedef enum job_kind { JOB_PUBLISH, JOB_DELETE, JOB_ROLLBACK } job_kind;

/* One queued write. A synchronous one lives on its caller's stack: the writer
 * thread fills in err and res and sets done under q_lock, after which it
 * never touches it. An asynchronous one is the store's, freed after its
 * callback. */
struct st_job {
	job_kind kind;
	const store_write *w;
	int64_t version; /* rollback: the version to restore */
	store_result *res;
	change ch;
	store_history h; /* rollback: the entry restored */
	hc_err err;
	int done;	       /* synchronous jobs: set under q_lock when complete */
	store_done_fn done_fn; /* asynchronous jobs: called when complete */
	void *done_cls;
	store_write w_copy;   /* asynchronous jobs: w points here */
	store_result res_own; /* asynchronous jobs: res points here */
	struct st_job *next;
};

/* Marks a key the batch has deleted, in st->pending. */
static char deleted_mark;

static const char *const formats[] = {"text", "json", "yaml", "properties", "xml"};

static void set_detail(store_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_detail(store_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

static int format_ok(const char *format)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(format, formats[i]))
			return 1;
	return 0;
}

static hc_err check_write(const store_write *w, store_result *res)
{
	if (!st_name_ok(w->ns) || !st_name_ok(w->group) || !st_name_ok(w->data_id)) {
		set_detail(res, "namespace, group and dataId must be 1-%d characters without '/'",
			   STORE_NAME_MAX);
		return HC_ERR_INVALID;
	}
	if (!w->content && w->len) {
		set_detail(res, "content is NULL but its length is %zu", w->len);
		return HC_ERR_INVALID;
	}
	if (w->format && !format_ok(w->format)) {
		set_detail(res, "unknown format '%.20s'", w->format);
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

static void result_from(store_result *res, const store_config *c, int changed)
{
	res->version = c->version;
	res->revision = c->revision;
	memcpy(res->md5, c->md5, sizeof(res->md5));
	res->changed = changed;
}

/* The snapshot a job sees: the batch's own latest write of key, else the
 * index's. A new reference, or NULL when absent or deleted. */
static store_config *current(store *st, const st_key *key)
{
	store_config *c = hmap_get(st->pending, key->s, key->len);

	if (c == (store_config *)&deleted_mark)
		return NULL;
	return c ? store_config_ref(c) : st_index_ref(st, key->s, key->len);
}

/* Inside the batch: the namespace must exist; ch->cur gets the snapshot. */
static hc_err job_begin(store *st, const store_write *w, change *ch, store_result *res)
{
	hc_err err;
	int exists;

	err = st_namespace_exists(st, w->ns, &exists);
	if (err)
		return err;
	if (!exists) {
		set_detail(res, "namespace '%s' does not exist", w->ns);
		return HC_ERR_NOT_FOUND;
	}
	ch->cur = current(st, &ch->key);
	return HC_OK;
}

static void change_release(change *ch)
{
	store_config_unref(ch->cur);
	store_config_unref(ch->next);
	st_key_release(&ch->key);
}

static hc_err check_if_match(const store_write *w, const change *ch, store_result *res)
{
	if (!w->if_match)
		return HC_OK;
	if (!ch->cur) {
		set_detail(res, "%s does not exist, so it cannot match md5 %.32s", ch->key.s,
			   w->if_match);
		return HC_ERR_PRECONDITION;
	}
	if (strcmp(w->if_match, "*") != 0 && strcmp(ch->cur->md5, w->if_match) != 0) {
		set_detail(res, "%s has md5 %s (version %lld), not %.32s", ch->key.s, ch->cur->md5,
			   (long long)ch->cur->version, w->if_match);
		return HC_ERR_PRECONDITION;
	}
	return HC_OK;
}

/* The config's next version: one past the highest in its history, so
 * versions keep counting after a delete and a re-create. */
static hc_err next_version(store *st, const store_write *w, int64_t *version)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK, row;

	err = st_stmt(st, ST_NEXT_VERSION,
		      "SELECT COALESCE(MAX(version), 0) + 1 FROM history"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, w->ns, w->group, w->data_id);
	if (rc != SQLITE_OK)
		err = st_sqlerr(st, rc, "bind");
	else
		err = st_step(st, s, &row);
	if (!err)
		*version = sqlite3_column_int64(s, 0);
	st_done(s);
	return err;
}

static hc_err insert_history(store *st, const store_write *w, store_op op, const store_config *t)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK;

	err =
	    st_stmt(st, ST_HIST_INSERT,
		    "INSERT INTO history (namespace, grp, data_id, version, revision, op, content,"
		    " md5, format, author, message, source_ip, created_ms)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
		    &s);
	if (err)
		return err;
	rc = st_bind_key(s, w->ns, w->group, w->data_id);
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
	return st_run_bound(st, s, rc);
}

/* Inserts or replaces the configs row with t; an existing row keeps its
 * created_ms. */
static hc_err upsert_config(store *st, const store_config *t)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK;

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
	st_bind_text(s, 1, t->ns, &rc);
	st_bind_text(s, 2, t->group, &rc);
	st_bind_text(s, 3, t->data_id, &rc);
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
static hc_err run_keyed(store *st, st_id id, const char *sql, const store_write *w,
			const char *extra)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK;

	err = st_stmt(st, id, sql, &s);
	if (err)
		return err;
	rc = st_bind_key(s, w->ns, w->group, w->data_id);
	if (extra)
		st_bind_text(s, 4, extra, &rc);
	return st_run_bound(st, s, rc);
}

static hc_err set_revision(store *st, int64_t revision)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK;

	err =
	    st_stmt(st, ST_META_REVISION, "UPDATE meta SET value = ?1 WHERE key = 'revision'", &s);
	if (err)
		return err;
	st_bind_int(s, 1, revision, &rc);
	return st_run_bound(st, s, rc);
}

/*
 * The body of publish and rollback, inside the transaction: content becomes
 * the next version (op), unless it is a no-op. format NULL keeps the current
 * one ("text" for a new config); description NULL keeps the current one (""
 * for a new config).
 *
 * When only the description differs, it is updated in place: no new version,
 * no history entry, no new revision and the same updated_ms (the content did
 * not change, so watchers have nothing to see), but changed is 1.
 */
static hc_err publish_tx(store *st, const store_write *w, store_op op, const char *content,
			 size_t len, const char *format, const char *description, change *ch,
			 store_result *res)
{
	const store_config *cur = ch->cur;
	store_config t;
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
		err = run_keyed(st, ST_CONFIG_DESCRIBE,
				"UPDATE configs SET description = ?4"
				" WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3",
				w, description);
		if (err)
			return err;
		t = *cur;
		t.description = (char *)description;
		ch->next = st_config_make(&t);
		ch->revision = st->pending_revision;
		result_from(res, ch->next, 1);
		return HC_OK;
	}

	memset(&t, 0, sizeof(t));
	t.ns = (char *)w->ns;
	t.group = (char *)w->group;
	t.data_id = (char *)w->data_id;
	t.content = (char *)content;
	t.len = len;
	md5_hex(content, len, t.md5);
	snprintf(t.format, sizeof(t.format), "%s", format);
	t.revision = st->pending_revision + 1;
	t.created_ms = cur ? cur->created_ms : w->now_ms;
	t.updated_ms = w->now_ms;
	t.author = (char *)(w->author ? w->author : "");
	t.description = (char *)(description ? description : cur ? cur->description : "");
	err = next_version(st, w, &t.version);
	if (!err)
		err = insert_history(st, w, op, &t);
	if (!err)
		err = upsert_config(st, &t);
	if (!err)
		err = set_revision(st, t.revision);
	if (err)
		return err;
	/* Built before COMMIT so nothing after a durable COMMIT can fail; it
	 * reaches the index only if the COMMIT succeeds. */
	ch->next = st_config_make(&t);
	ch->revision = t.revision;
	result_from(res, ch->next, 1);
	res->created = !cur;
	return HC_OK;
}

static hc_err publish_body(store *st, st_job *j)
{
	const store_write *w = j->w;
	hc_err err = job_begin(st, w, &j->ch, j->res);

	if (err)
		return err;
	if (w->create_only && j->ch.cur) {
		set_detail(j->res, "%s already exists (version %lld)", j->ch.key.s,
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
	change *ch = &j->ch;
	store_config t;
	hc_err err = job_begin(st, w, ch, j->res);

	if (err)
		return err;
	if (!ch->cur) {
		set_detail(j->res, "%s does not exist", ch->key.s);
		return HC_ERR_NOT_FOUND;
	}
	err = check_if_match(w, ch, j->res);
	if (err)
		return err;
	t = *ch->cur;
	t.content = "";
	t.len = 0;
	md5_hex("", 0, t.md5);
	t.revision = st->pending_revision + 1;
	err = next_version(st, w, &t.version);
	if (!err)
		err = insert_history(st, w, STORE_OP_DELETE, &t);
	if (!err)
		err = run_keyed(
		    st, ST_CONFIG_DELETE,
		    "DELETE FROM configs WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3", w,
		    NULL);
	if (!err)
		err = set_revision(st, t.revision);
	if (err)
		return err;
	ch->next = NULL;
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
	hc_err err = job_begin(st, w, &j->ch, j->res);
	int found;

	if (err)
		return err;
	err = st_history_load(st, w->ns, w->group, w->data_id, j->version, &j->h, &found);
	if (err)
		return err;
	if (!found) {
		set_detail(j->res, "version %lld of %s not found", (long long)j->version,
			   j->ch.key.s);
		return HC_ERR_NOT_FOUND;
	}
	if (j->h.op == STORE_OP_DELETE) {
		set_detail(j->res,
			   "version %lld of %s is a delete entry; there is nothing to restore",
			   (long long)j->version, j->ch.key.s);
		return HC_ERR_CONFLICT;
	}
	err = check_if_match(w, &j->ch, j->res);
	if (err)
		return err;
	return publish_tx(st, w, STORE_OP_ROLLBACK, j->h.content, j->h.len, j->h.format, NULL,
			  &j->ch, j->res);
}

static hc_err exec_cached(store *st, st_id id, const char *sql)
{
	sqlite3_stmt *s;
	hc_err err = st_stmt(st, id, sql, &s);

	return err ? err : st_run(st, s);
}

/* Runs one job inside the batch's transaction, in a savepoint of its own.
 * Returns an error only when the batch itself can no longer commit. */
static hc_err run_job(store *st, st_job *j)
{
	hc_err err = exec_cached(st, ST_SAVEPOINT, "SAVEPOINT hc_job");

	if (err)
		return err;
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
	}
	if (j->err) {
		/* Undo this job alone; the jobs before it stand. */
		err = exec_cached(st, ST_ROLLBACK_TO, "ROLLBACK TO hc_job");
		if (!err)
			err = exec_cached(st, ST_RELEASE, "RELEASE hc_job");
		return err;
	}
	err = exec_cached(st, ST_RELEASE, "RELEASE hc_job");
	if (err || j->ch.noop)
		return err;
	/* Later jobs of the batch see this one's result. */
	store_config_unref(
	    hmap_put(st->pending, j->ch.key.s, j->ch.key.len,
		     j->ch.next ? store_config_ref(j->ch.next) : (store_config *)&deleted_mark));
	st->pending_revision = j->ch.revision;
	return HC_OK;
}

static void unref_pending(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx;
	(void)key;
	(void)klen;
	if (val != &deleted_mark)
		store_config_unref(val);
}

/* Runs a batch of jobs in one transaction and, after its COMMIT, installs
 * their snapshots in the index in order. */
static void run_batch(store *st, st_job *batch)
{
	st_job *j;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	st->pending_revision = st->revision;
	err = st_begin(st);
	for (j = batch; j && !err; j = j->next)
		err = run_job(st, j);
	if (!err)
		err = st_commit(st);
	if (err) {
		st_rollback(st);
		for (j = batch; j; j = j->next) {
			if (j->err && j->err != HC_ERR_IO && j->err != HC_ERR_INTERNAL)
				continue; /* it failed on its own account; keep that answer */
			j->err = err;
			memset(j->res, 0, sizeof(*j->res));
			set_detail(j->res, "the database failed (%s); see the server log",
				   hc_err_code(err));
		}
	} else {
		for (j = batch; j; j = j->next) {
			if (j->err || j->ch.noop)
				continue;
			st_index_set(st, j->ch.key.s, j->ch.key.len, j->ch.next, j->ch.revision);
			j->ch.next = NULL; /* the index owns it now */
		}
	}
	hmap_foreach(st->pending, unref_pending, NULL);
	hmap_free(st->pending);
	st->pending = hmap_new();
	pthread_mutex_unlock(&st->db_lock);
}

static void job_release(st_job *j)
{
	change_release(&j->ch);
	store_history_release(&j->h);
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
		job_release(j);
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

	pthread_mutex_lock(&st->q_lock);
	for (;;) {
		while (!st->q_head && !st->q_stop)
			pthread_cond_wait(&st->q_work, &st->q_lock);
		if (!st->q_head)
			break; /* stopping, and nothing is left to write */
		batch = st->q_head;
		st->q_head = NULL;
		st->q_tail = &st->q_head;
		pthread_mutex_unlock(&st->q_lock);
		run_batch(st, batch);
		complete(st, batch);
		pthread_mutex_lock(&st->q_lock);
	}
	pthread_mutex_unlock(&st->q_lock);
	return NULL;
}

static void enqueue(store *st, st_job *j)
{
	pthread_mutex_lock(&st->q_lock);
	*st->q_tail = j;
	st->q_tail = &j->next;
	pthread_cond_signal(&st->q_work);
}

/* Checks what can be checked before queueing; fills res on failure. */
static hc_err precheck(job_kind kind, const store_write *w, store_result *res)
{
	if (kind == JOB_PUBLISH)
		return check_write(w, res);
	if (!st_name_ok(w->ns) || !st_name_ok(w->group) || !st_name_ok(w->data_id)) {
		set_detail(res, "no such config");
		return HC_ERR_NOT_FOUND;
	}
	return HC_OK;
}

static hc_err write_job(store *st, job_kind kind, const store_write *w, int64_t version,
			store_result *res)
{
	store_result ignored;
	st_job j;
	hc_err err;

	memset(&j, 0, sizeof(j));
	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	err = precheck(kind, w, res);
	if (err)
		return err;
	j.kind = kind;
	j.w = w;
	j.version = version;
	j.res = res;
	st_key_init(&j.ch.key, w->ns, w->group, w->data_id);
	enqueue(st, &j); /* returns holding q_lock */
	while (!j.done)
		pthread_cond_wait(&st->q_done, &st->q_lock);
	pthread_mutex_unlock(&st->q_lock);
	job_release(&j);
	return j.err;
}

static void write_async(store *st, job_kind kind, const store_write *w, int64_t version,
			store_done_fn done, void *cls)
{
	st_job *j = xcalloc(1, sizeof(*j));
	hc_err err;

	err = precheck(kind, w, &j->res_own);
	if (err) {
		done(cls, err, &j->res_own);
		free(j);
		return;
	}
	j->kind = kind;
	j->w_copy = *w;
	j->w = &j->w_copy;
	j->version = version;
	j->res = &j->res_own;
	j->done_fn = done;
	j->done_cls = cls;
	st_key_init(&j->ch.key, w->ns, w->group, w->data_id);
	enqueue(st, j);
	pthread_mutex_unlock(&st->q_lock);
}

hc_err store_publish(store *st, const store_write *w, store_result *res)
{
	return write_job(st, JOB_PUBLISH, w, 0, res);
}

hc_err store_delete(store *st, const store_write *w, store_result *res)
{
	return write_job(st, JOB_DELETE, w, 0, res);
}

hc_err store_rollback(store *st, const store_write *w, int64_t version, store_result *res)
{
	return write_job(st, JOB_ROLLBACK, w, version, res);
}

void store_publish_async(store *st, const store_write *w, store_done_fn done, void *cls)
{
	write_async(st, JOB_PUBLISH, w, 0, done, cls);
}

void store_delete_async(store *st, const store_write *w, store_done_fn done, void *cls)
{
	write_async(st, JOB_DELETE, w, 0, done, cls);
}

void store_rollback_async(store *st, const store_write *w, int64_t version, store_done_fn done,
			  void *cls)
{
	write_async(st, JOB_ROLLBACK, w, version, done, cls);
}
