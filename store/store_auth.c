/*
 * store_auth.c: see store_auth.h. These statements run rarely (a login, a
 * grant, a token) next to the config path, so they are prepared per call
 * rather than cached; every value is a bound parameter. Each function holds
 * db_lock for its statements; one that writes twice does it in one
 * transaction.
 */
#include "store_auth.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "xmalloc.h"

/* Binds the arguments described by types ('s' a string, NULL as "", 'i' an
 * int64_t) to ?1, ?2, ...; returns the first failing code or SQLITE_OK. */
static int vbind(sqlite3_stmt *s, const char *types, va_list ap)
{
	int rc = SQLITE_OK, i;

	for (i = 0; types[i] && rc == SQLITE_OK; i++) {
		if (types[i] == 's')
			st_bind_text(s, i + 1, va_arg(ap, const char *), &rc);
		else
			st_bind_int(s, i + 1, va_arg(ap, int64_t), &rc);
	}
	return rc;
}

/* Prepares sql and binds; the caller finalizes *out. Caller holds db_lock. */
hc_err st_prep(store *st, sqlite3_stmt **out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);

	if (rc != SQLITE_OK) {
		*out = NULL;
		return st_sqlerr(st, rc, sql);
	}
	va_start(ap, types);
	rc = vbind(*out, types, ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*out);
		*out = NULL;
		return st_sqlerr(st, rc, "bind");
	}
	return HC_OK;
}

/* Runs one statement that returns no rows; *changes gets the rows changed.
 * Caller holds db_lock. */
hc_err st_exec(store *st, int64_t *changes, const char *sql, const char *types, ...)
{
	sqlite3_stmt *s = NULL;
	va_list ap;
	hc_err err = HC_OK;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK)
		return st_sqlerr(st, rc, sql);
	va_start(ap, types);
	rc = vbind(s, types, ap);
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		err = st_sqlerr(st, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, sql);
	if (!err && changes)
		*changes = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	return err;
}

char *st_col_dup(sqlite3_stmt *s, int i)
{
	return xstrdup(st_col_text(s, i));
}

/* Doubles *cap when n reaches it. */
void *st_grow(void *v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 16;
	return xrealloc(v, *cap * size);
}

/* ---- users ---- */

void store_user_release(store_user *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->pw_hash);
	memset(u, 0, sizeof(*u));
}

void store_users_free(store_user *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		store_user_release(&v[i]);
	free(v);
}

static void user_from_row(sqlite3_stmt *s, store_user *u)
{
	u->name = st_col_dup(s, 0);
	u->pw_hash = st_col_dup(s, 1);
	u->admin = sqlite3_column_int(s, 2);
	u->created_ms = sqlite3_column_int64(s, 3);
	u->changed_ms = sqlite3_column_int64(s, 4);
}

hc_err store_user_create(store *st, const char *name, const char *pw_hash, int admin,
			 int64_t now_ms)
{
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, NULL,
		      "INSERT INTO users (name, pw_hash, admin, created_ms, changed_ms)"
		      " VALUES (?1, ?2, ?3, ?4, ?4)",
		      "ssii", name, pw_hash, (int64_t)(admin != 0), now_ms);
	pthread_mutex_unlock(&st->db_lock);
	return err; /* a duplicate name is SQLITE_CONSTRAINT: HC_ERR_CONFLICT */
}

hc_err store_user_get(store *st, const char *name, store_user *out)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int row = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->db_lock);
	err = st_prep(
	    st, &s,
	    "SELECT name, pw_hash, admin, created_ms, changed_ms FROM users WHERE name = ?1", "s",
	    name);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		user_from_row(s, out);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	return err ? err : row ? HC_OK : HC_ERR_NOT_FOUND;
}

hc_err store_users(store *st, store_user **v, size_t *n)
{
	sqlite3_stmt *s = NULL;
	store_user *out = NULL;
	size_t cnt = 0, cap = 0;
	hc_err err;
	int row = 0;

	pthread_mutex_lock(&st->db_lock);
	err = st_prep(
	    st, &s, "SELECT name, pw_hash, admin, created_ms, changed_ms FROM users ORDER BY name",
	    "");
	while (!err && !(err = st_step(st, s, &row)) && row) {
		out = st_grow(out, cnt, &cap, sizeof(*out));
		user_from_row(s, &out[cnt++]);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_users_free(out, cnt);
		out = NULL;
		cnt = 0;
	}
	*v = out;
	*n = cnt;
	return err;
}

hc_err store_user_count(store *st, int64_t *n)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int row = 0;

	*n = 0;
	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s, "SELECT COUNT(*) FROM users", "");
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		*n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

hc_err store_user_delete(store *st, const char *name)
{
	int64_t changed = 0;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err = st_exec(st, NULL, "DELETE FROM grants WHERE user = ?1", "s", name);
	if (!err)
		err = st_exec(st, NULL,
			      "DELETE FROM credentials WHERE kind = 'session' AND user = ?1", "s",
			      name);
	if (!err)
		err = st_exec(st, &changed, "DELETE FROM users WHERE name = ?1", "s", name);
	if (!err && !changed)
		err = HC_ERR_NOT_FOUND;
	if (!err)
		err = st_commit(st);
	if (err)
		st_rollback(st);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

hc_err store_user_set_password(store *st, const char *name, const char *pw_hash,
			       const char *keep_session, int64_t now_ms)
{
	int64_t changed = 0;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, NULL,
		      "DELETE FROM credentials WHERE kind = 'session' AND user = ?1 AND id != ?2",
		      "ss", name, keep_session ? keep_session : "");
	if (!err)
		err = st_exec(st, &changed,
			      "UPDATE users SET pw_hash = ?2, changed_ms = ?3 WHERE name = ?1",
			      "ssi", name, pw_hash, now_ms);
	pthread_mutex_unlock(&st->db_lock);
	return !err && !changed ? HC_ERR_NOT_FOUND : err;
}

/* ---- grants ---- */

void store_grants_free(store_grant *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].ns);
		free(v[i].user);
		free(v[i].role);
	}
	free(v);
}

hc_err store_grant_set(store *st, const char *ns, const char *user, const char *role,
		       int64_t now_ms)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int ok = 0, row = 0;

	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s,
		      "SELECT (SELECT COUNT(*) FROM users WHERE name = ?1)"
		      " + (SELECT COUNT(*) FROM namespaces WHERE id = ?2)",
		      "ss", user, ns);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		ok = sqlite3_column_int(s, 0) == 2;
	sqlite3_finalize(s);
	if (!err && !ok)
		err = HC_ERR_NOT_FOUND;
	if (!err)
		err = st_exec(
		    st, NULL,
		    "INSERT INTO grants (namespace, user, role, created_ms) VALUES (?1, ?2, ?3, ?4)"
		    " ON CONFLICT (namespace, user) DO UPDATE SET role = excluded.role",
		    "sssi", ns, user, role, now_ms);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

hc_err store_grant_delete(store *st, const char *ns, const char *user)
{
	int64_t changed = 0;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, &changed, "DELETE FROM grants WHERE namespace = ?1 AND user = ?2", "ss",
		      ns, user);
	pthread_mutex_unlock(&st->db_lock);
	return !err && !changed ? HC_ERR_NOT_FOUND : err;
}

hc_err store_grants(store *st, const char *ns, const char *user, store_grant **v, size_t *n)
{
	sqlite3_stmt *s = NULL;
	store_grant *out = NULL;
	size_t cnt = 0, cap = 0;
	hc_err err;
	int row = 0;

	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s,
		      "SELECT namespace, user, role FROM grants WHERE (?1 = '' OR namespace = ?1)"
		      " AND (?2 = '' OR user = ?2) ORDER BY namespace, user",
		      "ss", ns, user);
	while (!err && !(err = st_step(st, s, &row)) && row) {
		out = st_grow(out, cnt, &cap, sizeof(*out));
		out[cnt].ns = st_col_dup(s, 0);
		out[cnt].user = st_col_dup(s, 1);
		out[cnt].role = st_col_dup(s, 2);
		cnt++;
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_grants_free(out, cnt);
		out = NULL;
		cnt = 0;
	}
	*v = out;
	*n = cnt;
	return err;
}

/* ---- credentials ---- */

#define CRED_COLS                                                                                  \
	"id, kind, hash, name, user, role, namespaces, csrf, created_ms, expires_ms, revoked_ms"

void store_cred_release(store_cred *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->kind);
	free(c->hash);
	free(c->name);
	free(c->user);
	free(c->role);
	free(c->namespaces);
	free(c->csrf);
	memset(c, 0, sizeof(*c));
}

void store_creds_free(store_cred *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		store_cred_release(&v[i]);
	free(v);
}

static void cred_from_row(sqlite3_stmt *s, store_cred *c)
{
	c->id = st_col_dup(s, 0);
	c->kind = st_col_dup(s, 1);
	c->hash = st_col_dup(s, 2);
	c->name = st_col_dup(s, 3);
	c->user = st_col_dup(s, 4);
	c->role = st_col_dup(s, 5);
	c->namespaces = st_col_dup(s, 6);
	c->csrf = st_col_dup(s, 7);
	c->created_ms = sqlite3_column_int64(s, 8);
	c->expires_ms = sqlite3_column_int64(s, 9);
	c->revoked_ms = sqlite3_column_int64(s, 10);
}

hc_err store_cred_insert(store *st, const store_cred *c)
{
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, NULL,
		      "INSERT INTO credentials (" CRED_COLS ")"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0)",
		      "ssssssssii", c->id, c->kind, c->hash, c->name, c->user, c->role,
		      c->namespaces, c->csrf, c->created_ms, c->expires_ms);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

static hc_err cred_one(store *st, const char *where, const char *arg, store_cred *out)
{
	sqlite3_stmt *s = NULL;
	sbuf sql = SBUF_INIT(SBUF_NOMAX);
	hc_err err;
	int row = 0;

	memset(out, 0, sizeof(*out));
	sbuf_addf(&sql, "SELECT " CRED_COLS " FROM credentials WHERE %s = ?1", where);
	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s, sql.buf, "s", arg);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		cred_from_row(s, out);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	sbuf_release(&sql);
	return err ? err : row ? HC_OK : HC_ERR_NOT_FOUND;
}

hc_err store_cred_find(store *st, const char *hash, store_cred *out)
{
	return cred_one(st, "hash", hash, out);
}

hc_err store_cred_get(store *st, const char *id, store_cred *out)
{
	return cred_one(st, "id", id, out);
}

hc_err store_cred_revoke(store *st, const char *id, int64_t now_ms)
{
	int64_t a = 0, b = 0;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err =
	    st_exec(st, &a, "DELETE FROM credentials WHERE id = ?1 AND kind = 'session'", "s", id);
	if (!err)
		err = st_exec(
		    st, &b,
		    "UPDATE credentials SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0", "si",
		    id, now_ms);
	pthread_mutex_unlock(&st->db_lock);
	return !err && !a && !b ? HC_ERR_NOT_FOUND : err;
}

hc_err store_creds_prune(store *st, int64_t now_ms, int64_t keep_before_ms, int64_t *deleted)
{
	int64_t a = 0, b = 0;
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, &a, "DELETE FROM credentials WHERE kind = 'session' AND expires_ms <= ?1",
		      "i", now_ms);
	if (!err)
		err =
		    st_exec(st, &b,
			    "DELETE FROM credentials WHERE kind = 'token' AND (expires_ms <= ?1 OR"
			    " (revoked_ms != 0 AND revoked_ms <= ?1))",
			    "i", keep_before_ms);
	pthread_mutex_unlock(&st->db_lock);
	*deleted = a + b;
	return err;
}

hc_err store_creds(store *st, const char *kind, const char *user, store_cred **v, size_t *n)
{
	sqlite3_stmt *s = NULL;
	store_cred *out = NULL;
	size_t cnt = 0, cap = 0;
	hc_err err;
	int row = 0;

	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s,
		      "SELECT " CRED_COLS
		      " FROM credentials WHERE kind = ?1 AND (?2 = '' OR user = ?2)"
		      " ORDER BY created_ms DESC, id",
		      "ss", kind, user);
	while (!err && !(err = st_step(st, s, &row)) && row) {
		out = st_grow(out, cnt, &cap, sizeof(*out));
		cred_from_row(s, &out[cnt++]);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_creds_free(out, cnt);
		out = NULL;
		cnt = 0;
	}
	*v = out;
	*n = cnt;
	return err;
}

/* ---- audit ---- */

hc_err store_audit_prune(store *st, int64_t before_ms, int64_t max, int64_t *deleted)
{
	hc_err err;

	*deleted = 0;
	pthread_mutex_lock(&st->db_lock);
	err = st_exec(st, deleted,
		      "DELETE FROM audit WHERE id IN"
		      " (SELECT id FROM audit WHERE at_ms < ?1 ORDER BY id LIMIT ?2)",
		      "ii", before_ms, max);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

void store_audits_free(store_audit *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].actor);
		free(v[i].role);
		free(v[i].action);
		free(v[i].ns);
		free(v[i].target);
		free(v[i].old_md5);
		free(v[i].new_md5);
		free(v[i].source_ip);
		free(v[i].detail);
	}
	free(v);
}

hc_err st_audit_insert(store *st, const store_audit *a)
{
	return st_exec(
	    st, NULL,
	    "INSERT INTO audit (at_ms, actor, role, action, namespace, target, old_md5,"
	    " new_md5, source_ip, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	    "isssssssss", a->at_ms, a->actor, a->role, a->action, a->ns, a->target, a->old_md5,
	    a->new_md5, a->source_ip, a->detail);
}

hc_err store_audit_add(store *st, const store_audit *a)
{
	hc_err err;

	pthread_mutex_lock(&st->db_lock);
	err = st_audit_insert(st, a);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

/* WHERE for a query; binds are ?1 since, ?2 user, ?3 action, ?4 ns, then
 * the namespaces list from ?5. */
static void audit_where(const store_audit_query *q, sbuf *sql)
{
	size_t i;

	sbuf_addstr(sql, " FROM audit WHERE at_ms >= ?1 AND (?2 = '' OR actor = ?2)"
			 " AND (?3 = '' OR action = ?3) AND (?4 = '' OR namespace = ?4)");
	if (!q->nns)
		return;
	sbuf_addstr(sql, " AND namespace IN (");
	for (i = 0; i < q->nns; i++)
		sbuf_addf(sql, "%s?%zu", i ? "," : "", i + 5);
	sbuf_addch(sql, ')');
}

static hc_err audit_prep(store *st, const store_audit_query *q, const char *what, int page,
			 sqlite3_stmt **s)
{
	sbuf sql = SBUF_INIT(SBUF_NOMAX);
	int rc = SQLITE_OK;
	size_t i;
	hc_err err;

	sbuf_addstr(&sql, what);
	audit_where(q, &sql);
	if (page)
		sbuf_addf(&sql, " ORDER BY id DESC LIMIT ?%zu OFFSET ?%zu", q->nns + 5, q->nns + 6);
	err = st_prep(st, s, sql.buf, "isss", q->since_ms, q->user, q->action, q->ns);
	sbuf_release(&sql);
	if (err)
		return err;
	for (i = 0; i < q->nns; i++)
		st_bind_text(*s, (int)i + 5, q->nss[i], &rc);
	if (page) {
		st_bind_int(*s, (int)q->nns + 5, q->limit, &rc);
		st_bind_int(*s, (int)q->nns + 6, q->offset, &rc);
	}
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*s);
		*s = NULL;
		return st_sqlerr(st, rc, "bind");
	}
	return HC_OK;
}

hc_err store_audit_list(store *st, const store_audit_query *q, store_audit **v, size_t *n,
			int64_t *total)
{
	sqlite3_stmt *s = NULL;
	store_audit *out = NULL;
	size_t cnt = 0, cap = 0;
	hc_err err;
	int row = 0;

	*total = 0;
	pthread_mutex_lock(&st->db_lock);
	err = audit_prep(st, q, "SELECT COUNT(*)", 0, &s);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	if (!err)
		err =
		    audit_prep(st, q,
			       "SELECT id, at_ms, actor, role, action, namespace, target, old_md5,"
			       " new_md5, source_ip, detail",
			       1, &s);
	while (!err && !(err = st_step(st, s, &row)) && row) {
		store_audit *a;
		out = st_grow(out, cnt, &cap, sizeof(*out));
		a = &out[cnt++];
		a->id = sqlite3_column_int64(s, 0);
		a->at_ms = sqlite3_column_int64(s, 1);
		a->actor = st_col_dup(s, 2);
		a->role = st_col_dup(s, 3);
		a->action = st_col_dup(s, 4);
		a->ns = st_col_dup(s, 5);
		a->target = st_col_dup(s, 6);
		a->old_md5 = st_col_dup(s, 7);
		a->new_md5 = st_col_dup(s, 8);
		a->source_ip = st_col_dup(s, 9);
		a->detail = st_col_dup(s, 10);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_audits_free(out, cnt);
		out = NULL;
		cnt = 0;
		*total = 0;
	}
	*v = out;
	*n = cnt;
	return err;
}
