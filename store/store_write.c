/*
 * store_write.c: publish, delete and rollback.
 *
 * Each write holds db_lock for its whole life and runs in one BEGIN IMMEDIATE
 * transaction: check the namespace, read the config's current state from the
 * index (authoritative here: only writers change it, and they hold db_lock),
 * check the preconditions, append a history entry with the next version and
 * revision, change the configs row, bump meta's revision, COMMIT. Any failure
 * rolls back and leaves the index as it was; only after COMMIT succeeds does
 * the new snapshot replace the old one in the index. Readers of the index are
 * never blocked by any of this except for the swap itself.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "md5.h"

/* One write in progress: what the transaction saw and what the index gets
 * after COMMIT. */
typedef struct change {
	st_key key;
	store_config *cur;  /* a reference to the current snapshot, or NULL */
	store_config *next; /* installed after COMMIT; NULL removes the key */
	int64_t revision;   /* the server revision after the change */
	int noop;	    /* nothing written: the index stays as it is */
} change;

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

/* With db_lock held: opens the transaction; then the namespace must exist and
 * ch->cur gets the current snapshot. finish() ends what this started, even
 * when it fails. */
static hc_err begin_write(store *st, const store_write *w, change *ch, store_result *res)
{
	hc_err err;
	int exists;

	err = st_begin(st);
	if (err)
		return err;
	err = st_namespace_exists(st, w->ns, &exists);
	if (err)
		return err;
	if (!exists) {
		set_detail(res, "namespace '%s' does not exist", w->ns);
		return HC_ERR_NOT_FOUND;
	}
	ch->cur = st_index_ref(st, ch->key.s, ch->key.len);
	return HC_OK;
}

/* With db_lock held: commits (or on err rolls back) and installs the change
 * in the index. Returns the final error. */
static hc_err finish(store *st, change *ch, hc_err err, store_result *res)
{
	if (!err)
		err = st_commit(st);
	if (err) {
		st_rollback(st);
		if (!res->detail[0])
			set_detail(res, "the database failed (%s); see the server log",
				   hc_err_code(err));
	} else if (!ch->noop) {
		st_index_set(st, ch->key.s, ch->key.len, ch->next, ch->revision);
		ch->next = NULL; /* the index owns it now */
	}
	return err;
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
	if (strcmp(ch->cur->md5, w->if_match) != 0) {
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
	st_bind_text(s, 1, w->ns, &rc);
	st_bind_text(s, 2, w->group, &rc);
	st_bind_text(s, 3, w->data_id, &rc);
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
	st_bind_text(s, 1, w->ns, &rc);
	st_bind_text(s, 2, w->group, &rc);
	st_bind_text(s, 3, w->data_id, &rc);
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
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind history");
	}
	return st_run(st, s);
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
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind config");
	}
	return st_run(st, s);
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
	st_bind_text(s, 1, w->ns, &rc);
	st_bind_text(s, 2, w->group, &rc);
	st_bind_text(s, 3, w->data_id, &rc);
	if (extra)
		st_bind_text(s, 4, extra, &rc);
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind");
	}
	return st_run(st, s);
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
	if (rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, rc, "bind");
	}
	return st_run(st, s);
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
		ch->revision = st->revision;
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
	t.revision = st->revision + 1;
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

hc_err store_publish(store *st, const store_write *w, store_result *res)
{
	store_result ignored;
	change ch = {0};
	hc_err err;

	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	err = check_write(w, res);
	if (err)
		return err;
	st_key_init(&ch.key, w->ns, w->group, w->data_id);
	pthread_mutex_lock(&st->db_lock);
	err = begin_write(st, w, &ch, res);
	if (err)
		goto out;
	if (w->create_only && ch.cur) {
		set_detail(res, "%s already exists (version %lld)", ch.key.s,
			   (long long)ch.cur->version);
		err = HC_ERR_PRECONDITION;
		goto out;
	}
	err = check_if_match(w, &ch, res);
	if (err)
		goto out;
	err = publish_tx(st, w, STORE_OP_PUBLISH, w->content, w->len, w->format, w->description,
			 &ch, res);
out:
	err = finish(st, &ch, err, res);
	pthread_mutex_unlock(&st->db_lock);
	change_release(&ch);
	return err;
}

/*
 * The delete entry has empty content (so the md5 of ""), keeps the format of
 * the last version, and takes a version and revision of its own; res gets
 * those three.
 */
hc_err store_delete(store *st, const store_write *w, store_result *res)
{
	store_result ignored;
	change ch = {0};
	store_config t;
	hc_err err;

	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	if (!st_name_ok(w->ns) || !st_name_ok(w->group) || !st_name_ok(w->data_id)) {
		set_detail(res, "no such config");
		return HC_ERR_NOT_FOUND;
	}
	st_key_init(&ch.key, w->ns, w->group, w->data_id);
	pthread_mutex_lock(&st->db_lock);
	err = begin_write(st, w, &ch, res);
	if (err)
		goto out;
	if (!ch.cur) {
		set_detail(res, "%s does not exist", ch.key.s);
		err = HC_ERR_NOT_FOUND;
		goto out;
	}
	err = check_if_match(w, &ch, res);
	if (err)
		goto out;
	t = *ch.cur;
	t.content = "";
	t.len = 0;
	md5_hex("", 0, t.md5);
	t.revision = st->revision + 1;
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
		goto out;
	ch.next = NULL;
	ch.revision = t.revision;
	res->version = t.version;
	res->revision = t.revision;
	memcpy(res->md5, t.md5, sizeof(res->md5));
	res->changed = 1;
out:
	err = finish(st, &ch, err, res);
	pthread_mutex_unlock(&st->db_lock);
	change_release(&ch);
	return err;
}

hc_err store_rollback(store *st, const store_write *w, int64_t version, store_result *res)
{
	store_result ignored;
	store_history h = {0};
	change ch = {0};
	hc_err err;
	int found;

	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	if (!st_name_ok(w->ns) || !st_name_ok(w->group) || !st_name_ok(w->data_id)) {
		set_detail(res, "no such config");
		return HC_ERR_NOT_FOUND;
	}
	st_key_init(&ch.key, w->ns, w->group, w->data_id);
	pthread_mutex_lock(&st->db_lock);
	err = begin_write(st, w, &ch, res);
	if (err)
		goto out;
	err = st_history_load(st, w->ns, w->group, w->data_id, version, &h, &found);
	if (err)
		goto out;
	if (!found) {
		set_detail(res, "version %lld of %s not found", (long long)version, ch.key.s);
		err = HC_ERR_NOT_FOUND;
		goto out;
	}
	if (h.op == STORE_OP_DELETE) {
		set_detail(res, "version %lld of %s is a delete entry; there is nothing to restore",
			   (long long)version, ch.key.s);
		err = HC_ERR_CONFLICT;
		goto out;
	}
	err = check_if_match(w, &ch, res);
	if (err)
		goto out;
	err = publish_tx(st, w, STORE_OP_ROLLBACK, h.content, h.len, h.format, NULL, &ch, res);
out:
	err = finish(st, &ch, err, res);
	pthread_mutex_unlock(&st->db_lock);
	change_release(&ch);
	store_history_release(&h);
	return err;
}
