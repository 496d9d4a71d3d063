/*
 * store_read.c: the SQL reads (config lists, history, namespaces) and the
 * small maintenance writes that never touch the index (namespace create and
 * delete, history pruning).
 *
 * Threading: every function here holds db_lock for its SQL, so it waits for a
 * write in progress; none of them takes index_lock. Everything handed back is
 * copied out of SQLite before the statement is reset.
 */
#include "store_int.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "hc_log.h"
#include "sbuf.h"
#include "xmalloc.h"

void store_history_release(store_history *h)
{
	if (!h)
		return;
	free(h->author);
	free(h->message);
	free(h->source_ip);
	free(h->gray_rule);
	free(h->gray_match);
	free(h->rollout);
	free(h->content);
	memset(h, 0, sizeof(*h));
}

void store_history_free(store_history *items, size_t n)
{
	size_t i;

	if (!items)
		return;
	for (i = 0; i < n; i++)
		store_history_release(&items[i]);
	free(items);
}

void store_namespaces_free(store_namespace *items, size_t n)
{
	size_t i;

	if (!items)
		return;
	for (i = 0; i < n; i++) {
		free(items[i].id);
		free(items[i].name);
		free(items[i].description);
		free(items[i].anonymous_read);
		free(items[i].source);
	}
	free(items);
}

/* Negative offsets start at 0; a negative limit means no limit (SQLite's rule). */
static void bind_page(sqlite3_stmt *s, int i, int64_t offset, int64_t limit, int *rc)
{
	st_bind_int(s, i, limit < 0 ? -1 : limit, rc);
	st_bind_int(s, i + 1, offset < 0 ? 0 : offset, rc);
}

/* ---- namespaces ---- */

hc_err st_namespace_exists(store *st, const char *id, int *exists, int *review, char *source,
			   size_t cap)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc = SQLITE_OK;

	*exists = 0;
	if (review)
		*review = 0;
	if (source && cap)
		*source = 0;
	err = st_stmt(st, ST_NS_EXISTS,
		      "SELECT review_required, source FROM namespaces WHERE id = ?1", &s);
	if (err)
		return err;
	st_bind_text(s, 1, id, &rc);
	if (rc != SQLITE_OK)
		err = st_sqlerr(st, rc, "bind");
	else
		err = st_step(st, s, exists);
	if (!err && *exists && review)
		*review = sqlite3_column_int(s, 0);
	if (!err && *exists && source && cap)
		snprintf(source, cap, "%s", st_col_text(s, 1));
	st_done(s);
	return err;
}

hc_err store_namespaces(store *st, store_namespace **items, size_t *n)
{
	store_namespace *v = NULL, *ns;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *s;
	hc_err err;
	int row;

	*items = NULL;
	*n = 0;
	pthread_mutex_lock(&st->db_lock);
	err =
	    st_stmt(st, ST_NS_LIST,
		    "SELECT n.id, n.name, n.description, n.created_ms,"
		    " (SELECT COUNT(*) FROM configs c WHERE c.namespace = n.id), n.review_required,"
		    " n.anonymous_read, n.source FROM namespaces n ORDER BY n.id",
		    &s);
	if (err)
		goto fail;
	for (;;) {
		err = st_step(st, s, &row);
		if (err)
			goto fail;
		if (!row)
			break;
		v = st_grow(v, cnt, &cap, sizeof(*v));
		ns = &v[cnt++];
		ns->id = xstrdup(st_col_text(s, 0));
		ns->name = xstrdup(st_col_text(s, 1));
		ns->description = xstrdup(st_col_text(s, 2));
		ns->created_ms = sqlite3_column_int64(s, 3);
		ns->config_count = sqlite3_column_int64(s, 4);
		ns->review_required = sqlite3_column_int(s, 5);
		ns->anonymous_read = xstrdup(st_col_text(s, 6));
		ns->source = xstrdup(st_col_text(s, 7));
	}
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	*items = v;
	*n = cnt;
	return HC_OK;

fail:
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	store_namespaces_free(v, cnt);
	return err;
}

/* name NULL or "" means the id is the name too; description NULL means "". */
hc_err store_namespace_create(store *st, const char *id, const char *name, const char *description,
			      int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int exists, rc = SQLITE_OK;

	if (!st_name_ok(id))
		return HC_ERR_INVALID;
	if (!name || !*name)
		name = id;
	pthread_mutex_lock(&st->db_lock);
	err = st_namespace_exists(st, id, &exists, NULL, NULL, 0);
	if (err)
		goto out;
	if (exists) {
		err = HC_ERR_CONFLICT;
		goto out;
	}
	err = st_stmt(st, ST_NS_INSERT,
		      "INSERT INTO namespaces (id, name, description, created_ms)"
		      " VALUES (?1, ?2, ?3, ?4)",
		      &s);
	if (err)
		goto out;
	st_bind_text(s, 1, id, &rc);
	st_bind_text(s, 2, name, &rc);
	st_bind_text(s, 3, description, &rc);
	st_bind_int(s, 4, now_ms, &rc);
	err = st_run_bound(st, s, rc);
out:
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

/* The namespace's history stays: it is readable, and rolls back again once
 * the namespace is re-created. */
hc_err store_namespace_delete(store *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int exists, busy, rc = SQLITE_OK;

	if (!st_name_ok(id))
		return HC_ERR_NOT_FOUND;
	if (!strcmp(id, "public"))
		return HC_ERR_FORBIDDEN;
	pthread_mutex_lock(&st->db_lock);
	err = st_namespace_exists(st, id, &exists, NULL, NULL, 0);
	if (err)
		goto out;
	if (!exists) {
		err = HC_ERR_NOT_FOUND;
		goto out;
	}
	err = st_stmt(st, ST_NS_HAS_CONFIGS, "SELECT 1 FROM configs WHERE namespace = ?1 LIMIT 1",
		      &s);
	if (err)
		goto out;
	st_bind_text(s, 1, id, &rc);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, &busy);
	st_done(s);
	if (err)
		goto out;
	if (busy) {
		err = HC_ERR_CONFLICT;
		goto out;
	}
	err = st_stmt(st, ST_NS_DELETE, "DELETE FROM namespaces WHERE id = ?1", &s);
	if (err)
		goto out;
	st_bind_text(s, 1, id, &rc);
	err = st_run_bound(st, s, rc);
out:
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

/* ---- configs ---- */

enum { LIST_NS = 1, LIST_GROUP = 2, LIST_Q = 4 };

/*
 * One cached statement per filter combination (and page or count), so the
 * planner sees plain equalities and can use the primary key. q matches with
 * instr() rather than LIKE, so '%' and '_' in it are literal. lower() folds
 * ASCII only, which is all a name may contain.
 */
/* With an allowlist (nallow > 0) the statement is made for this call (the
 * caller finalizes it; *own says so); without, it is cached. */
static hc_err list_stmt(store *st, unsigned mask, int count, size_t nallow, sqlite3_stmt **out,
			int *own)
{
	st_id id = (st_id)(ST_LIST_FIRST + mask * 2 + (count ? 1 : 0));
	sbuf sql = SBUF_INIT(SBUF_NOMAX);
	hc_err err;
	size_t i;
	int rc;

	*own = nallow > 0;
	if (!nallow && st->stmts[id]) {
		*out = st->stmts[id];
		return HC_OK;
	}
	sbuf_addstr(&sql, count ? "SELECT COUNT(*)" : "SELECT " ST_CONFIG_COLS);
	sbuf_addstr(&sql, " FROM configs WHERE 1");
	if (mask & LIST_NS)
		sbuf_addstr(&sql, " AND namespace = ?1");
	if (mask & LIST_GROUP)
		sbuf_addstr(&sql, " AND grp = ?2");
	if (mask & LIST_Q)
		sbuf_addstr(&sql, " AND (instr(lower(data_id), lower(?3)) > 0"
				  " OR instr(lower(grp), lower(?3)) > 0)");
	if (nallow) {
		sbuf_addstr(&sql, " AND namespace IN (");
		for (i = 0; i < nallow; i++)
			sbuf_addf(&sql, "%s?%zu", i ? "," : "", i + 6);
		sbuf_addch(&sql, ')');
	}
	if (!count)
		sbuf_addstr(&sql, " ORDER BY namespace, grp, data_id LIMIT ?4 OFFSET ?5");
	if (nallow) {
		rc = sqlite3_prepare_v2(st->db, sql.buf, -1, out, NULL);
		err = rc == SQLITE_OK ? HC_OK : st_sqlerr(st, rc, sql.buf);
	} else {
		err = st_stmt(st, id, sql.buf, out);
	}
	sbuf_release(&sql);
	return err;
}

static void bind_allow(sqlite3_stmt *s, const char *const *allow, size_t n, int *rc)
{
	size_t i;

	for (i = 0; i < n; i++)
		st_bind_text(s, (int)i + 6, allow[i], rc);
}

/* Resets a cached statement, finalizes one made for the call. */
static void list_done(sqlite3_stmt *s, int own)
{
	if (own)
		sqlite3_finalize(s);
	else
		st_done(s);
}

static int bind_filters(sqlite3_stmt *s, const char *ns, const char *group, const char *q)
{
	int rc = SQLITE_OK;

	if (ns)
		st_bind_text(s, 1, ns, &rc);
	if (group)
		st_bind_text(s, 2, group, &rc);
	if (q)
		st_bind_text(s, 3, q, &rc);
	return rc;
}

hc_err store_list(store *st, const char *ns, const char *group, const char *q, int64_t offset,
		  int64_t limit, store_config ***items, size_t *n, int64_t *total)
{
	return store_list_in(st, NULL, 0, ns, group, q, offset, limit, items, n, total);
}

hc_err store_list_in(store *st, const char *const *allow, size_t nallow, const char *ns,
		     const char *group, const char *q, int64_t offset, int64_t limit,
		     store_config ***items, size_t *n, int64_t *total)
{
	unsigned mask = (ns ? LIST_NS : 0) | (group ? LIST_GROUP : 0) | (q ? LIST_Q : 0);
	store_config **v = NULL;
	size_t cnt = 0, cap = 0, i;
	sqlite3_stmt *s = NULL;
	hc_err err;
	int exists, row, rc, own = 0;

	*items = NULL;
	*n = 0;
	*total = 0;
	pthread_mutex_lock(&st->db_lock);
	if (ns) {
		err = st_namespace_exists(st, ns, &exists, NULL, NULL, 0);
		if (err)
			goto fail;
		if (!exists) {
			err = HC_ERR_NOT_FOUND;
			goto fail;
		}
	}
	err = list_stmt(st, mask, 1, nallow, &s, &own);
	if (err)
		goto fail;
	rc = bind_filters(s, ns, group, q);
	bind_allow(s, allow, nallow, &rc);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, &row);
	if (err)
		goto fail;
	*total = sqlite3_column_int64(s, 0);
	list_done(s, own);
	s = NULL;

	err = list_stmt(st, mask, 0, nallow, &s, &own);
	if (err)
		goto fail;
	rc = bind_filters(s, ns, group, q);
	bind_page(s, 4, offset, limit, &rc);
	bind_allow(s, allow, nallow, &rc);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, "bind");
		goto fail;
	}
	for (;;) {
		err = st_step(st, s, &row);
		if (err)
			goto fail;
		if (!row)
			break;
		v = st_grow(v, cnt, &cap, sizeof(*v));
		v[cnt++] = st_config_from_row(s, 0);
	}
	list_done(s, own);
	pthread_mutex_unlock(&st->db_lock);
	*items = v;
	*n = cnt;
	return HC_OK;

fail:
	list_done(s, own);
	pthread_mutex_unlock(&st->db_lock);
	for (i = 0; i < cnt; i++)
		store_config_unref(v[i]);
	free(v);
	*total = 0;
	return err;
}

/* ---- history ---- */

static store_op op_from_name(const char *name)
{
	int op;

	for (op = 0; op < ST_OP_COUNT; op++)
		if (!strcmp(name, store_op_name((store_op)op)))
			return (store_op)op;
	hc_log("history entry with unknown op '%s' read as publish", name);
	return STORE_OP_PUBLISH;
}

void st_history_from_row(sqlite3_stmt *s, int with_content, store_history *h)
{
	h->version = sqlite3_column_int64(s, 0);
	h->revision = sqlite3_column_int64(s, 1);
	h->op = op_from_name(st_col_text(s, 2));
	st_col_copy(s, 3, h->md5, sizeof(h->md5));
	st_col_copy(s, 4, h->format, sizeof(h->format));
	h->author = xstrdup(st_col_text(s, 5));
	h->message = xstrdup(st_col_text(s, 6));
	h->source_ip = xstrdup(st_col_text(s, 7));
	h->created_ms = sqlite3_column_int64(s, 8);
	h->gray_rule = xstrdup(st_col_text(s, 9));
	h->gray_match = xstrdup(st_col_text(s, 10));
	h->rollout = xstrdup(st_col_text(s, 11));
	h->change_id = sqlite3_column_int64(s, 12);
	h->content = NULL;
	h->len = 0;
	if (with_content) {
		/* Blob then bytes, as SQLite asks; a zero-length blob comes back NULL. */
		const void *blob = sqlite3_column_blob(s, 13);
		h->len = (size_t)sqlite3_column_bytes(s, 13);
		h->content = xmemdupz(blob ? blob : "", h->len);
	}
}

hc_err st_history_load(store *st, const cfgkey *key, int64_t version, store_history *out,
		       int *found)
{
	sqlite3_stmt *s;
	hc_err err;
	int rc;

	memset(out, 0, sizeof(*out));
	*found = 0;
	err = st_stmt(st, ST_HIST_GET,
		      "SELECT " ST_HISTORY_COLS ", content FROM history"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3 AND version = ?4",
		      &s);
	if (err)
		return err;
	rc = st_bind_key(s, key);
	st_bind_int(s, 4, version, &rc);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, found);
	if (!err && *found)
		st_history_from_row(s, 1, out);
	st_done(s);
	return err;
}

hc_err store_history_get(store *st, const char *ns, const char *group, const char *data_id,
			 int64_t version, store_history *out)
{
	cfgkey key;
	hc_err err;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (cfgkey_init(&key, ns, group, data_id))
		return HC_ERR_NOT_FOUND;
	pthread_mutex_lock(&st->db_lock);
	err = st_history_load(st, &key, version, out, &found);
	pthread_mutex_unlock(&st->db_lock);
	cfgkey_release(&key);
	if (!err && !found)
		err = HC_ERR_NOT_FOUND;
	return err;
}

hc_err store_history_list(store *st, const char *ns, const char *group, const char *data_id,
			  int64_t offset, int64_t limit, store_history **items, size_t *n,
			  int64_t *total)
{
	store_history *v = NULL;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	cfgkey key;
	hc_err err;
	int row, rc;

	*items = NULL;
	*n = 0;
	*total = 0;
	if (cfgkey_init(&key, ns, group, data_id))
		return HC_ERR_NOT_FOUND;
	pthread_mutex_lock(&st->db_lock);
	err = st_stmt(
	    st, ST_HIST_COUNT,
	    "SELECT COUNT(*) FROM history WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3", &s);
	if (err)
		goto fail;
	rc = st_bind_key(s, &key);
	err = rc != SQLITE_OK ? st_sqlerr(st, rc, "bind") : st_step(st, s, &row);
	if (err)
		goto fail;
	*total = sqlite3_column_int64(s, 0);
	st_done(s);
	if (*total == 0) {
		err = HC_ERR_NOT_FOUND;
		goto fail;
	}

	err = st_stmt(st, ST_HIST_LIST,
		      "SELECT " ST_HISTORY_COLS " FROM history"
		      " WHERE namespace = ?1 AND grp = ?2 AND data_id = ?3"
		      " ORDER BY version DESC LIMIT ?4 OFFSET ?5",
		      &s);
	if (err)
		goto fail;
	rc = st_bind_key(s, &key);
	bind_page(s, 4, offset, limit, &rc);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, "bind");
		goto fail;
	}
	for (;;) {
		err = st_step(st, s, &row);
		if (err)
			goto fail;
		if (!row)
			break;
		v = st_grow(v, cnt, &cap, sizeof(*v));
		st_history_from_row(s, 0, &v[cnt++]);
	}
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	cfgkey_release(&key);
	*items = v;
	*n = cnt;
	return HC_OK;

fail:
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	cfgkey_release(&key);
	store_history_free(v, cnt);
	*total = 0;
	return err;
}

/*
 * Ranks each config's entries newest first and deletes old ones past
 * keep_versions, oldest id first. Main entries and gray rule entries
 * (gray-publish, gray-abort and the rollout moves) are ranked apart, so a burst of rule changes
 * never prunes the entry of the current main version. Only configs with an entry older than the
 * cutoff are ranked (found through the created_ms index), so a call on a big
 * history that has little to prune stays cheap. One DELETE statement is one
 * short transaction.
 */
hc_err store_prune(store *st, int64_t older_than_ms, int64_t keep_versions, int64_t max_rows,
		   int64_t *deleted)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int rc = SQLITE_OK;

	*deleted = 0;
	if (keep_versions < 1)
		keep_versions = 1; /* the newest entry of a config is never pruned */
	if (max_rows <= 0)
		return HC_OK;
	pthread_mutex_lock(&st->db_lock);
	err = st_stmt(st, ST_PRUNE,
		      "DELETE FROM history WHERE id IN ("
		      " SELECT id FROM ("
		      "  SELECT id, created_ms, ROW_NUMBER() OVER ("
		      "   PARTITION BY namespace, grp, data_id,"
		      "    op IN ('gray-publish', 'gray-abort', 'gray-step', 'gray-pause',"
		      "     'gray-resume') ORDER BY version DESC) AS rn"
		      "  FROM history WHERE (namespace, grp, data_id) IN ("
		      "   SELECT namespace, grp, data_id FROM history WHERE created_ms < ?1))"
		      " WHERE rn > ?2 AND created_ms < ?1 AND revision <= ?4 ORDER BY id LIMIT ?3)",
		      &s);
	if (err)
		goto out;
	st_bind_int(s, 1, older_than_ms, &rc);
	st_bind_int(s, 2, keep_versions, &rc);
	st_bind_int(s, 3, max_rows, &rc);
	st_bind_int(s, 4, __atomic_load_n(&st->prune_hold, __ATOMIC_ACQUIRE), &rc);
	err = st_run_bound(st, s, rc);
	if (!err)
		*deleted = sqlite3_changes(st->db);
out:
	pthread_mutex_unlock(&st->db_lock);
	return err;
}
