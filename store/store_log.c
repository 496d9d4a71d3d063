/*
 * store_log.c: the history as a revision log, for readers that follow every
 * change in order (a git mirror): every committed change is one history
 * entry with a revision of its own, so the entries with revision > R are
 * exactly what a reader that has seen R has missed, unless store_prune
 * removed them, which store_prune_hold prevents.
 *
 * Threading: any thread; reads share the connection under db_lock.
 */
#include "store_int.h"

#include <stdlib.h>

#include "xmalloc.h"

void store_log_free(store_log_entry *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(items[i].ns);
		free(items[i].group);
		free(items[i].data_id);
		free(items[i].gray_salt);
		free(items[i].gray_plan);
		store_history_release(&items[i].h);
	}
	free(items);
}

hc_err store_log_since(store *st, int64_t after, size_t limit, store_log_entry **items, size_t *n)
{
	store_log_entry *v = NULL, *e;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	hc_err err;
	int row, rc = SQLITE_OK;

	*items = NULL;
	*n = 0;
	pthread_mutex_lock(&st->db_lock);
	err = st_stmt(st, ST_LOG_SINCE,
		      "SELECT " ST_HISTORY_COLS ", content, namespace, grp, data_id, gray_priority,"
		      " gray_salt, gray_plan FROM history WHERE revision > ?1"
		      " ORDER BY revision LIMIT ?2",
		      &s);
	if (err)
		goto fail;
	st_bind_int(s, 1, after, &rc);
	st_bind_int(s, 2, (int64_t)limit, &rc);
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
		e = &v[cnt++];
		st_history_from_row(s, 1, &e->h);
		e->ns = xstrdup(st_col_text(s, 14));
		e->group = xstrdup(st_col_text(s, 15));
		e->data_id = xstrdup(st_col_text(s, 16));
		e->gray_priority = sqlite3_column_int(s, 17);
		e->gray_salt = xstrdup(st_col_text(s, 18));
		e->gray_plan = xstrdup(st_col_text(s, 19));
	}
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	*items = v;
	*n = cnt;
	return HC_OK;

fail:
	st_done(s);
	pthread_mutex_unlock(&st->db_lock);
	store_log_free(v, cnt);
	return err;
}

void store_prune_hold(store *st, int64_t rev)
{
	__atomic_store_n(&st->prune_hold, rev, __ATOMIC_RELEASE);
}
