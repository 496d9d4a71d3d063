/*
 * store.c: opening and closing the database, the embedded migrations, the
 * in-memory index of current configs and its snapshots (their gray rules are
 * loaded by store_gray.c), and the SQLite
 * helpers the other files share, including the one place a SQLite result code
 * becomes an hc_err. Writes are in store_write.c, SQL reads in store_read.c.
 *
 * Threading: see store.h and store_int.h. The connection is opened with
 * SQLITE_OPEN_NOMUTEX because db_lock already serialises it. store_get() and
 * store_peek() take only index_lock, so a read never waits for a write's
 * fsync.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "hc_log.h"
#include "sbuf.h"
#include "xmalloc.h"

/* Generated from migrations/NNNN_verb_noun.sql by cmake/embed.cmake, sorted by path. */
extern const hc_embedded hc_migrations[];

/* How long a statement waits for a lock held by another connection (another
 * process, or the sqlite3 shell) before failing with SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

hc_err st_sqlerr(store *st, int rc, const char *what)
{
	/* The connection's message belongs to this failure unless the fault
	 * hook made it up. */
	const char *msg = st && st->db && sqlite3_errcode(st->db) == rc ? sqlite3_errmsg(st->db)
									: sqlite3_errstr(rc);
	hc_err err;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return HC_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		err = HC_ERR_UNAVAILABLE;
		break;
	case SQLITE_CONSTRAINT:
		err = HC_ERR_CONFLICT;
		break;
	case SQLITE_TOOBIG:
		err = HC_ERR_TOO_BIG;
		break;
	case SQLITE_FULL:
		err = HC_ERR_NO_SPACE;
		break;
	case SQLITE_READONLY:
		err = HC_ERR_READ_ONLY;
		break;
	case SQLITE_ERROR:
	case SQLITE_INTERNAL:
	case SQLITE_MISUSE:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
	case SQLITE_SCHEMA:
		/* Bad SQL or API misuse: a bug in store/, not the disk. */
		err = HC_ERR_INTERNAL;
		break;
	default:
		/* IOERR, CORRUPT, NOTADB, CANTOPEN, PERM, NOMEM... */
		err = HC_ERR_IO;
		break;
	}
	hc_log("sqlite: %s: %s (code %d)", what, msg, rc);
	return err;
}

int st_name_ok(const char *name)
{
	return name && cfgkey_name_ok(name, strnlen(name, CFGKEY_NAME_MAX + 1));
}

/* ---- statements ---- */

hc_err st_stmt(store *st, st_id id, const char *sql, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	if (!st->stmts[id]) {
		rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id],
					NULL);
		if (rc != SQLITE_OK)
			return st_sqlerr(st, rc, sql);
	}
	*out = st->stmts[id];
	return HC_OK;
}

void st_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

hc_err st_step(store *st, sqlite3_stmt *s, int *row)
{
	int rc = st_fault_check(st, s);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);

	*row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return HC_OK;
	return st_sqlerr(st, rc, sqlite3_sql(s));
}

hc_err st_run(store *st, sqlite3_stmt *s)
{
	int rc = st_fault_check(st, s);
	hc_err err = HC_OK;

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);

	if (rc != SQLITE_DONE)
		err = st_sqlerr(st, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, sqlite3_sql(s));
	st_done(s);
	return err;
}

hc_err st_run_bound(store *st, sqlite3_stmt *s, int bind_rc)
{
	if (bind_rc != SQLITE_OK) {
		st_done(s);
		return st_sqlerr(st, bind_rc, "bind");
	}
	return st_run(st, s);
}

void st_bind_text(sqlite3_stmt *s, int i, const char *v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

void st_bind_blob(sqlite3_stmt *s, int i, const void *v, size_t n, int *rc)
{
	/* A NULL pointer would bind SQL NULL, which the NOT NULL columns refuse;
	 * empty content is a zero-length blob. */
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_blob64(s, i, v ? v : "", n, SQLITE_STATIC);
}

void st_bind_int(sqlite3_stmt *s, int i, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(s, i, v);
}

int st_bind_key(sqlite3_stmt *s, const cfgkey *key)
{
	int rc = sqlite3_bind_text(s, 1, cfgkey_ns(key), (int)cfgkey_ns_len(key), SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 2, cfgkey_group(key), (int)cfgkey_group_len(key),
				       SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 3, cfgkey_data_id(key), (int)cfgkey_data_id_len(key),
				       SQLITE_STATIC);
	return rc;
}

const char *st_col_text(sqlite3_stmt *s, int i)
{
	const char *p = (const char *)sqlite3_column_text(s, i);

	return p ? p : "";
}

void st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
	const char *p = st_col_text(s, i);
	size_t n = strlen(p);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

hc_err st_begin(store *st)
{
	sqlite3_stmt *s;
	hc_err err = st_stmt(st, ST_BEGIN, "BEGIN IMMEDIATE", &s);

	return err ? err : st_run(st, s);
}

hc_err st_commit(store *st)
{
	sqlite3_stmt *s;
	hc_err err = st_stmt(st, ST_COMMIT, "COMMIT", &s);

	return err ? err : st_run(st, s);
}

void st_rollback(store *st)
{
	sqlite3_stmt *s;

	/* A failed COMMIT may or may not have ended the transaction already. */
	if (sqlite3_get_autocommit(st->db))
		return;
	if (st_stmt(st, ST_ROLLBACK, "ROLLBACK", &s) == HC_OK)
		st_run(st, s);
}

/* ---- snapshots and the index ---- */

store_config *st_config_make(const store_config *t)
{
	size_t lns = strlen(t->ns) + 1, lg = strlen(t->group) + 1, ld = strlen(t->data_id) + 1;
	size_t la = strlen(t->author) + 1, lde = strlen(t->description) + 1;
	size_t lc = t->content ? t->len + 1 : 0;
	store_config *c = xmalloc(sizeof(*c) + lns + lg + ld + la + lde + lc);
	char *p = (char *)(c + 1);

	/* One allocation holds the struct and every string, so unref is one free(). */
	*c = *t;
	c->ns = memcpy(p, t->ns, lns);
	p += lns;
	c->group = memcpy(p, t->group, lg);
	p += lg;
	c->data_id = memcpy(p, t->data_id, ld);
	p += ld;
	c->author = memcpy(p, t->author, la);
	p += la;
	c->description = memcpy(p, t->description, lde);
	p += lde;
	if (t->content) {
		c->content = p;
		if (t->len)
			memcpy(p, t->content, t->len);
		p[t->len] = '\0';
	} else {
		c->len = 0;
	}
	c->md5[sizeof(c->md5) - 1] = '\0';
	c->format[sizeof(c->format) - 1] = '\0';
	if (c->gray)
		store_gray_set_ref(c->gray);
	c->refs = 1;
	return c;
}

store_config *st_config_from_row(sqlite3_stmt *s, int with_content)
{
	store_config t;

	memset(&t, 0, sizeof(t));
	t.ns = (char *)st_col_text(s, 0);
	t.group = (char *)st_col_text(s, 1);
	t.data_id = (char *)st_col_text(s, 2);
	st_col_copy(s, 3, t.md5, sizeof(t.md5));
	st_col_copy(s, 4, t.format, sizeof(t.format));
	t.version = sqlite3_column_int64(s, 5);
	t.revision = sqlite3_column_int64(s, 6);
	t.created_ms = sqlite3_column_int64(s, 7);
	t.updated_ms = sqlite3_column_int64(s, 8);
	t.author = (char *)st_col_text(s, 9);
	t.description = (char *)st_col_text(s, 10);
	if (with_content) {
		/* Blob then bytes, as SQLite asks; a zero-length blob comes back NULL. */
		const void *blob = sqlite3_column_blob(s, 11);
		t.len = (size_t)sqlite3_column_bytes(s, 11);
		t.content = blob ? (char *)blob : "";
	}
	return st_config_make(&t);
}

store_config *store_config_ref(store_config *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void store_config_unref(store_config *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		store_gray_set_unref(c->gray);
		free(c);
	}
}

const char *store_op_name(store_op op)
{
	static const char *const names[ST_OP_COUNT] = {
	    [STORE_OP_PUBLISH] = "publish",	      [STORE_OP_DELETE] = "delete",
	    [STORE_OP_ROLLBACK] = "rollback",	      [STORE_OP_GRAY_PUBLISH] = "gray-publish",
	    [STORE_OP_GRAY_PROMOTE] = "gray-promote", [STORE_OP_GRAY_ABORT] = "gray-abort",
	    [STORE_OP_GRAY_STEP] = "gray-step",	      [STORE_OP_GRAY_PAUSE] = "gray-pause",
	    [STORE_OP_GRAY_RESUME] = "gray-resume",
	};

	return (unsigned)op < ST_OP_COUNT && names[op] ? names[op] : "publish";
}

store_config *st_index_ref(store *st, const cfgkey *key)
{
	store_config *c;

	pthread_mutex_lock(&st->index_lock);
	c = hmap_get(st->index, key->s, key->len);
	if (c)
		store_config_ref(c);
	pthread_mutex_unlock(&st->index_lock);
	return c;
}

store_config *st_index_swap(store *st, const cfgkey *key, store_config *c, int64_t revision)
{
	store_config *old =
	    c ? hmap_put(st->index, key->s, key->len, c) : hmap_del(st->index, key->s, key->len);

	/* A metadata-only change keeps the revision it found. */
	if (revision > st->revision)
		st->revision = revision;
	return old;
}

void st_index_set(store *st, const cfgkey *key, store_config *c, int64_t revision)
{
	store_config *old;

	pthread_mutex_lock(&st->index_lock);
	old = st_index_swap(st, key, c, revision);
	pthread_mutex_unlock(&st->index_lock);
	/* Readers may still hold the old snapshot; the last of them frees it. */
	store_config_unref(old);
}

void store_get_keys(store *st, const cfgkey *const *keys, size_t n, store_config **out)
{
	size_t i;

	pthread_mutex_lock(&st->index_lock);
	for (i = 0; i < n; i++) {
		out[i] = hmap_get(st->index, keys[i]->s, keys[i]->len);
		if (out[i])
			store_config_ref(out[i]);
	}
	pthread_mutex_unlock(&st->index_lock);
}

typedef struct scope_walk {
	const cfgkey *scope;
	size_t max, n, cap;
	store_config **v;
	int over;
} scope_walk;

static void scope_one(void *ctx, const void *key, size_t klen, void *val)
{
	scope_walk *w = ctx;
	store_config *c = val;

	if (w->over || !cfgkey_in_scope(w->scope, key, klen))
		return;
	if (w->n == w->max) {
		w->over = 1;
		return;
	}
	w->v = st_grow(w->v, w->n, &w->cap, sizeof(*w->v));
	w->v[w->n++] = store_config_ref(c);
}

static int by_key(const void *a, const void *b)
{
	const store_config *x = *(store_config *const *)a, *y = *(store_config *const *)b;
	int d = strcmp(x->ns, y->ns);

	if (!d)
		d = strcmp(x->group, y->group);
	return d ? d : strcmp(x->data_id, y->data_id);
}

hc_err store_get_scope(store *st, const cfgkey *scope, size_t max, store_config ***out, size_t *n)
{
	scope_walk w = {scope, max, 0, 0, NULL, 0};
	size_t i;

	pthread_mutex_lock(&st->index_lock);
	hmap_foreach(st->index, scope_one, &w);
	pthread_mutex_unlock(&st->index_lock);
	if (w.over) {
		for (i = 0; i < w.n; i++)
			store_config_unref(w.v[i]);
		free(w.v);
		w.v = NULL;
		w.n = 0;
	} else if (w.n > 1) {
		qsort(w.v, w.n, sizeof(*w.v), by_key);
	}
	*out = w.v;
	*n = w.n;
	return w.over ? HC_ERR_TOO_BIG : HC_OK;
}

hc_err store_get_key(store *st, const cfgkey *key, store_config **out)
{
	*out = st_index_ref(st, key);
	return *out ? HC_OK : HC_ERR_NOT_FOUND;
}

hc_err store_get(store *st, const char *ns, const char *group, const char *data_id,
		 store_config **out)
{
	cfgkey k;
	hc_err err;

	*out = NULL;
	/* A name no config can have could alias another key: it finds nothing. */
	if (cfgkey_init(&k, ns, group, data_id))
		return HC_ERR_NOT_FOUND;
	err = store_get_key(st, &k, out);
	cfgkey_release(&k);
	return err;
}

hc_err store_peek(store *st, const cfgkey *key, char md5[33], int64_t *version)
{
	store_config *c;
	hc_err err = HC_ERR_NOT_FOUND;

	pthread_mutex_lock(&st->index_lock);
	c = hmap_get(st->index, key->s, key->len);
	if (c) {
		if (md5)
			memcpy(md5, c->md5, sizeof(c->md5));
		if (version)
			*version = c->version;
		err = HC_OK;
	}
	pthread_mutex_unlock(&st->index_lock);
	return err;
}

int64_t store_revision(store *st)
{
	int64_t r;

	pthread_mutex_lock(&st->index_lock);
	r = st->revision;
	pthread_mutex_unlock(&st->index_lock);
	return r;
}

hc_err store_ping(store *st)
{
	sqlite3_stmt *s;
	hc_err err;
	int row;

	pthread_mutex_lock(&st->db_lock);
	err = st_stmt(st, ST_PING, "SELECT 1", &s);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && !row)
		err = HC_ERR_INTERNAL;
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

/* ---- open, migrate, load, close ---- */

/* Runs one single-row, single-column query (a PRAGMA) and reads an integer. */
static hc_err query_int(store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, sql);
		goto fail;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		err = st_sqlerr(st, rc == SQLITE_DONE ? SQLITE_MISUSE : rc, sql);
		goto fail;
	}
	*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return HC_OK;

fail:
	sqlite3_finalize(s);
	return err;
}

static hc_err exec(store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? HC_OK : st_sqlerr(st, rc, what ? what : sql);
}

static hc_err configure(store *st, const char *path)
{
	sqlite3_stmt *s = NULL;
	hc_err err;
	int rc;

	rc = sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK)
		return st_sqlerr(st, rc, "busy_timeout");
	/* journal_mode answers with the mode it actually set: a file system
	 * without shared memory support keeps the rollback journal. */
	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		err = st_sqlerr(st, rc, "PRAGMA journal_mode = WAL");
		sqlite3_finalize(s);
		return err;
	}
	if (strcmp(st_col_text(s, 0), "wal") != 0)
		hc_log("%s: WAL unavailable, using journal_mode %s", path, st_col_text(s, 0));
	sqlite3_finalize(s);
	err = exec(st, "PRAGMA synchronous = FULL", NULL);
	if (!err)
		err = exec(st, "PRAGMA foreign_keys = ON", NULL);
	return err;
}

/* The schema version a migration brings: the NNNN of
 * "migrations/NNNN_verb_noun.sql", or -1 when the name has none. */
static int64_t migration_number(const char *name)
{
	const char *p = strrchr(name, '/');
	int64_t n = 0;

	p = p ? p + 1 : name;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > INT32_MAX) /* user_version is a 32-bit integer */
			return -1;
	}
	return *p == '_' ? n : -1;
}

static hc_err apply_migration(store *st, const hc_embedded *m, int64_t number)
{
	sbuf sql = SBUF_INIT(64);
	hc_err err;

	err = exec(st, "BEGIN IMMEDIATE", NULL);
	if (err)
		goto fail;
	err = exec(st, (const char *)m->data, m->name);
	if (err)
		goto fail;
	/* PRAGMA takes no bound parameters; number is ours, not user input. */
	sbuf_addf(&sql, "PRAGMA user_version = %lld", (long long)number);
	err = exec(st, sql.buf, NULL);
	if (err)
		goto fail;
	err = exec(st, "COMMIT", NULL);
	if (err)
		goto fail;
	hc_log("applied migration %s", m->name);
	sbuf_release(&sql);
	return HC_OK;

fail:
	st_rollback(st);
	sbuf_release(&sql);
	return err;
}

static hc_err migrate(store *st, const char *path)
{
	const hc_embedded *m;
	int64_t have, newest = 0, n;
	hc_err err;

	for (m = hc_migrations; m->name; m++) {
		n = migration_number(m->name);
		if (n <= newest) {
			hc_log("embedded migration %s is misnamed or out of order", m->name);
			return HC_ERR_INTERNAL;
		}
		newest = n;
	}
	err = query_int(st, "PRAGMA user_version", &have);
	if (err)
		return err;
	if (have > newest) {
		hc_log(
		    "%s: database schema version %lld is newer than this hotconf (supports up to "
		    "%lld); upgrade hotconf",
		    path, (long long)have, (long long)newest);
		return HC_ERR_SCHEMA;
	}
	for (m = hc_migrations; m->name; m++) {
		n = migration_number(m->name);
		if (n <= have)
			continue;
		err = apply_migration(st, m, n);
		if (err)
			return err;
	}
	return HC_OK;
}

static hc_err load_index(store *st)
{
	static const char sql[] = "SELECT " ST_CONFIG_COLS ", content FROM configs";
	sqlite3_stmt *s = NULL;
	store_config *c;
	cfgkey k;
	hc_err err;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, sql);
		goto fail;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		c = st_config_from_row(s, 1);
		if (cfgkey_init(&k, c->ns, c->group, c->data_id)) {
			/* Written by a hotconf whose name rules were looser: keep
			 * it in the database, readable by SQL, but out of reach. */
			hc_log("config %s/%s/%s has a name hotconf no longer accepts; skipped",
			       c->ns, c->group, c->data_id);
			store_config_unref(c);
			continue;
		}
		/* The primary key makes keys unique, so nothing is replaced. */
		store_config_unref(hmap_put(st->index, k.s, k.len, c));
		cfgkey_release(&k);
	}
	if (rc != SQLITE_DONE) {
		err = st_sqlerr(st, rc, sql);
		goto fail;
	}
	sqlite3_finalize(s);
	err = st_gray_load_all(st);
	if (err)
		return err;
	return query_int(st, "SELECT value FROM meta WHERE key = 'revision'", &st->revision);

fail:
	sqlite3_finalize(s);
	return err;
}

hc_err store_open(const char *path, store **out)
{
	store *st = xcalloc(1, sizeof(*st));
	hc_err err;
	int rc;

	*out = NULL;
	st->index = hmap_new();
	st->prune_hold = INT64_MAX; /* nothing held until a mirror says so */
	if (pthread_mutex_init(&st->db_lock, NULL) != 0) {
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	st->db_lock_ok = 1;
	if (pthread_mutex_init(&st->index_lock, NULL) != 0) {
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	st->index_lock_ok = 1;
	if (pthread_mutex_init(&st->q_lock, NULL) != 0) {
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	pthread_cond_init(&st->q_work, NULL);
	pthread_cond_init(&st->q_done, NULL);
	st->q_ok = 1;
	st->q_tail = &st->q_head;
	pthread_mutex_init(&st->feed_lock, NULL);
	pthread_mutex_init(&st->fault_lock, NULL);
	st->feed_ok = 1;
	st->fault.point = -1;
	rc = sqlite3_open_v2(
	    path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = st_sqlerr(st, rc, path);
		goto fail;
	}
	err = configure(st, path);
	if (err)
		goto fail;
	st_health_open(st, path);
	err = migrate(st, path);
	if (err)
		goto fail;
	err = load_index(st);
	if (err)
		goto fail;
	if (pthread_create(&st->writer, NULL, st_writer_main, st) != 0) {
		hc_log("cannot start the store's writer thread");
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	st->writer_started = 1;
	*out = st;
	return HC_OK;

fail:
	store_close(st); /* safe on a half-built handle */
	return err;
}

static void unref_entry(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx;
	(void)key;
	(void)klen;
	store_config_unref(val);
}

void store_close(store *st)
{
	size_t i;
	int rc;

	if (!st)
		return;
	if (st->writer_started) {
		/* The writer finishes what is queued, then stops. */
		pthread_mutex_lock(&st->q_lock);
		st->q_stop = 1;
		pthread_cond_signal(&st->q_work);
		pthread_mutex_unlock(&st->q_lock);
		pthread_join(st->writer, NULL);
	}
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db) {
		/* The last connection to close checkpoints the WAL into the file. */
		rc = sqlite3_close(st->db);
		if (rc != SQLITE_OK)
			st_sqlerr(st, rc, "close");
	}
	if (st->index) {
		hmap_foreach(st->index, unref_entry, NULL);
		hmap_free(st->index);
	}
	st_health_close(st);
	if (st->feed_ok) {
		free(st->subs);
		pthread_mutex_destroy(&st->feed_lock);
		pthread_mutex_destroy(&st->fault_lock);
	}
	if (st->q_ok) {
		pthread_cond_destroy(&st->q_work);
		pthread_cond_destroy(&st->q_done);
		pthread_mutex_destroy(&st->q_lock);
	}
	if (st->index_lock_ok)
		pthread_mutex_destroy(&st->index_lock);
	if (st->db_lock_ok)
		pthread_mutex_destroy(&st->db_lock);
	free(st);
}
