/*
 * store_change.c: see store_change.h. The bookkeeping statements run rarely
 * (an edit, a review), so they are prepared per call (st_prep) like the
 * account ones; the publish runs on the writer thread as one job whose items
 * are sub-jobs, each the ordinary body of its write (st_run_body), all in
 * one savepoint.
 */
#include "store_change.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "store_auth.h"
#include "store_int.h"
#include "xmalloc.h"

static const char *const state_names[] = {
    [STORE_CR_DRAFT] = "draft",		[STORE_CR_OPEN] = "open",
    [STORE_CR_APPROVED] = "approved",	[STORE_CR_REJECTED] = "rejected",
    [STORE_CR_SCHEDULED] = "scheduled", [STORE_CR_PUBLISHED] = "published",
    [STORE_CR_FAILED] = "failed",	[STORE_CR_CANCELLED] = "cancelled",
};

static const char *const op_names[] = {
    [STORE_CR_PUBLISH] = "publish",	      [STORE_CR_DELETE] = "delete",
    [STORE_CR_GRAY_SET] = "gray-set",	      [STORE_CR_GRAY_REMOVE] = "gray-remove",
    [STORE_CR_GRAY_PROMOTE] = "gray-promote",
};

#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))
#define NOPS (sizeof(op_names) / sizeof(op_names[0]))

const char *store_cr_state_name(store_cr_state s)
{
	return (size_t)s > 0 && (size_t)s < NSTATES ? state_names[s] : "";
}

store_cr_state store_cr_state_parse(const char *name)
{
	size_t i;

	for (i = 1; name && i < NSTATES; i++)
		if (!strcmp(name, state_names[i]))
			return (store_cr_state)i;
	return 0;
}

const char *store_cr_op_name(store_cr_op op)
{
	return (size_t)op > 0 && (size_t)op < NOPS ? op_names[op] : "";
}

store_cr_op store_cr_op_parse(const char *name)
{
	size_t i;

	for (i = 1; name && i < NOPS; i++)
		if (!strcmp(name, op_names[i]))
			return (store_cr_op)i;
	return 0;
}

static void item_release(store_cr_item *it)
{
	free(it->group);
	free(it->data_id);
	free(it->rule);
	free(it->content);
	free(it->format);
	free(it->spec);
}

void store_cr_release(store_cr *cr)
{
	size_t i;

	if (!cr)
		return;
	free(cr->ns);
	free(cr->title);
	free(cr->description);
	free(cr->author);
	free(cr->published_by);
	free(cr->reason);
	for (i = 0; i < cr->nitems; i++)
		item_release(&cr->items[i]);
	free(cr->items);
	for (i = 0; i < cr->nevents; i++) {
		free(cr->events[i].actor);
		free(cr->events[i].kind);
		free(cr->events[i].text);
	}
	free(cr->events);
	memset(cr, 0, sizeof(*cr));
}

void store_crs_free(store_cr *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		store_cr_release(&v[i]);
	free(v);
}

static void say(char *detail, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *detail, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!detail || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
}

/* ---- rows ---- */

#define CR_COLS                                                                                    \
	"r.id, r.namespace, r.title, r.description, r.state, r.rev, r.author, r.created_ms,"       \
	" r.updated_ms, r.scheduled_ms, r.published_ms, r.published_rev, r.published_by,"          \
	" r.reason, (SELECT n.review_required FROM namespaces n WHERE n.id = r.namespace)"

static void cr_from_row(sqlite3_stmt *s, store_cr *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->id = sqlite3_column_int64(s, 0);
	cr->ns = st_col_dup(s, 1);
	cr->title = st_col_dup(s, 2);
	cr->description = st_col_dup(s, 3);
	cr->state = store_cr_state_parse(st_col_text(s, 4));
	cr->rev = sqlite3_column_int64(s, 5);
	cr->author = st_col_dup(s, 6);
	cr->created_ms = sqlite3_column_int64(s, 7);
	cr->updated_ms = sqlite3_column_int64(s, 8);
	cr->scheduled_ms = sqlite3_column_int64(s, 9);
	cr->published_ms = sqlite3_column_int64(s, 10);
	cr->published_rev = sqlite3_column_int64(s, 11);
	cr->published_by = st_col_dup(s, 12);
	cr->reason = st_col_dup(s, 13);
	cr->review_required = sqlite3_column_int(s, 14);
}

/* Request id of ns into *out (no items, no events); *found 0 when absent.
 * Caller holds db_lock. */
static hc_err load_row(store *st, const char *ns, int64_t id, store_cr *out, int *found)
{
	sqlite3_stmt *s;
	hc_err err = st_prep(st, &s,
			     "SELECT " CR_COLS " FROM change_requests r"
			     " WHERE r.id = ?1 AND r.namespace = ?2",
			     "is", id, ns);

	*found = 0;
	if (err)
		return err;
	err = st_step(st, s, found);
	if (!err && *found)
		cr_from_row(s, out);
	sqlite3_finalize(s);
	return err;
}

/* Approvals of rev by others than author. Caller holds db_lock. */
static hc_err count_approvals(store *st, int64_t id, int64_t rev, const char *author, int *n)
{
	sqlite3_stmt *s;
	int row;
	hc_err err = st_prep(st, &s,
			     "SELECT COUNT(DISTINCT actor) FROM change_events WHERE change_id = ?1"
			     " AND kind = 'approve' AND rev = ?2 AND actor <> ?3",
			     "iis", id, rev, author);

	*n = 0;
	if (err)
		return err;
	err = st_step(st, s, &row);
	if (!err && row)
		*n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return err;
}

/* Items of id into cr (content when with_content). Caller holds db_lock. */
static hc_err load_items(store *st, store_cr *cr, int with_content)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int row;
	hc_err err = st_prep(st, &s,
			     "SELECT op, grp, data_id, rule, format, spec, base_md5, base_version,"
			     " length(content), CASE WHEN ?2 THEN content END, md5"
			     " FROM change_items WHERE change_id = ?1 ORDER BY idx",
			     "ii", cr->id, (int64_t)with_content);

	if (err)
		return err;
	for (;;) {
		store_cr_item *it;
		const void *blob;

		err = st_step(st, s, &row);
		if (err || !row)
			break;
		cr->items = st_grow(cr->items, cr->nitems, &cap, sizeof(*cr->items));
		it = &cr->items[cr->nitems++];
		memset(it, 0, sizeof(*it));
		it->op = store_cr_op_parse(st_col_text(s, 0));
		it->group = st_col_dup(s, 1);
		it->data_id = st_col_dup(s, 2);
		it->rule = st_col_dup(s, 3);
		it->format = st_col_dup(s, 4);
		it->spec = st_col_dup(s, 5);
		st_col_copy(s, 6, it->base_md5, sizeof(it->base_md5));
		it->base_version = sqlite3_column_int64(s, 7);
		it->len = with_content ? (size_t)sqlite3_column_int64(s, 8) : 0;
		blob = with_content ? sqlite3_column_blob(s, 9) : NULL;
		it->content = xmalloc(it->len + 1);
		if (it->len && blob)
			memcpy(it->content, blob, it->len);
		it->content[it->len] = '\0';
		st_col_copy(s, 10, it->md5, sizeof(it->md5));
	}
	sqlite3_finalize(s);
	return err;
}

static hc_err load_events(store *st, store_cr *cr)
{
	size_t cap = 0;
	sqlite3_stmt *s;
	int row;
	hc_err err = st_prep(st, &s,
			     "SELECT at_ms, rev, actor, kind, text FROM change_events"
			     " WHERE change_id = ?1 ORDER BY id",
			     "i", cr->id);

	if (err)
		return err;
	for (;;) {
		store_cr_event *e;

		err = st_step(st, s, &row);
		if (err || !row)
			break;
		cr->events = st_grow(cr->events, cr->nevents, &cap, sizeof(*cr->events));
		e = &cr->events[cr->nevents++];
		e->at_ms = sqlite3_column_int64(s, 0);
		e->rev = sqlite3_column_int64(s, 1);
		e->actor = st_col_dup(s, 2);
		e->kind = st_col_dup(s, 3);
		e->text = st_col_dup(s, 4);
	}
	sqlite3_finalize(s);
	return err;
}

/* ---- writes of the bookkeeping (caller holds db_lock, in a transaction) ---- */

static hc_err add_event(store *st, int64_t id, int64_t at_ms, const char *actor, const char *kind,
			const char *text, int64_t rev)
{
	return st_exec(st, NULL,
		       "INSERT INTO change_events (change_id, at_ms, actor, kind, text, rev)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		       "iisssi", id, at_ms, actor, kind, text, rev);
}

static hc_err audit(store *st, const char *ns, int64_t id, const char *action, const char *actor,
		    const char *role, const char *source_ip, const char *detail, int64_t now_ms)
{
	char target[40];
	store_audit a;

	memset(&a, 0, sizeof(a));
	snprintf(target, sizeof(target), "changes/%lld", (long long)id);
	a.at_ms = now_ms;
	a.actor = (char *)(actor ? actor : "");
	a.role = (char *)(role ? role : "");
	a.action = (char *)action;
	a.ns = (char *)ns;
	a.target = target;
	a.source_ip = (char *)(source_ip ? source_ip : "");
	a.detail = (char *)(detail ? detail : "");
	return st_audit_insert(st, &a);
}

static hc_err insert_items(store *st, int64_t id, const store_cr_item *items, size_t n)
{
	hc_err err = HC_OK;
	size_t i;

	for (i = 0; i < n && !err; i++) {
		const store_cr_item *it = &items[i];
		sqlite3_stmt *s;
		int rc = SQLITE_OK;

		err = st_prep(st, &s,
			      "INSERT INTO change_items (change_id, idx, op, grp, data_id, rule,"
			      " format, spec, base_md5, base_version, md5, content)"
			      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			      "iisssssssis", id, (int64_t)i, store_cr_op_name(it->op), it->group,
			      it->data_id, it->rule, it->format, it->spec, it->base_md5,
			      it->base_version, it->md5);
		if (err)
			break;
		st_bind_blob(s, 12, it->content ? it->content : "", it->content ? it->len : 0, &rc);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			err = st_sqlerr(st, rc, "insert change item");
		sqlite3_finalize(s);
	}
	return err;
}

static hc_err check_input(const store_cr_input *in, int edit, char *detail, size_t cap)
{
	size_t tl = in->title ? strlen(in->title) : 0;

	if ((!edit || in->title) && (tl < 1 || tl > STORE_CR_TITLE_MAX)) {
		say(detail, cap, "title: give 1 to %d bytes", STORE_CR_TITLE_MAX);
		return HC_ERR_INVALID;
	}
	if (in->description && strlen(in->description) > STORE_CR_TEXT_MAX) {
		say(detail, cap, "description: at most %d bytes", STORE_CR_TEXT_MAX);
		return HC_ERR_INVALID;
	}
	if ((!edit || in->items) && (in->nitems < 1 || in->nitems > STORE_CR_MAX_ITEMS)) {
		say(detail, cap, "items: give 1 to %d edits", STORE_CR_MAX_ITEMS);
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

/* Commits (err HC_OK) or rolls back, and unlocks. */
static hc_err finish(store *st, hc_err err)
{
	if (!err)
		err = st_commit(st);
	if (err)
		st_rollback(st);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

hc_err store_cr_create(store *st, const store_cr_input *in, int64_t *id, char *detail, size_t cap)
{
	hc_err err;
	int exists;

	*id = 0;
	err = check_input(in, 0, detail, cap);
	if (err)
		return err;
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err = st_namespace_exists(st, in->ns, &exists, NULL, NULL, 0);
	if (!err && !exists) {
		say(detail, cap, "namespace '%s' does not exist", in->ns);
		err = HC_ERR_NOT_FOUND;
	}
	if (!err)
		err =
		    st_exec(st, NULL,
			    "INSERT INTO change_requests (namespace, title, description, state,"
			    " rev, author, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'draft', 1,"
			    " ?4, ?5, ?5)",
			    "ssssi", in->ns, in->title, in->description, in->actor, in->now_ms);
	if (!err) {
		*id = sqlite3_last_insert_rowid(st->db);
		err = insert_items(st, *id, in->items, in->nitems);
	}
	if (!err)
		err = add_event(st, *id, in->now_ms, in->actor, "create", "", 1);
	if (!err)
		err = audit(st, in->ns, *id, "change-create", in->actor, in->role, in->source_ip,
			    in->title, in->now_ms);
	err = finish(st, err);
	if (err)
		*id = 0;
	return err;
}

hc_err store_cr_update(store *st, int64_t id, int64_t expect_rev, const store_cr_input *in,
		       char *detail, size_t cap)
{
	store_cr cur;
	hc_err err;
	int found;

	err = check_input(in, 1, detail, cap);
	if (err)
		return err;
	memset(&cur, 0, sizeof(cur));
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err = load_row(st, in->ns, id, &cur, &found);
	if (!err && !found) {
		say(detail, cap, "namespace '%s' has no change request %lld", in->ns,
		    (long long)id);
		err = HC_ERR_NOT_FOUND;
	}
	if (!err && cur.state != STORE_CR_DRAFT && cur.state != STORE_CR_REJECTED) {
		say(detail, cap,
		    "change request %lld is %s: only a draft or a rejected request can be edited",
		    (long long)id, store_cr_state_name(cur.state));
		err = HC_ERR_CONFLICT;
	}
	if (!err && expect_rev >= 0 && expect_rev != cur.rev) {
		say(detail, cap, "change request %lld is at rev %lld, not %lld: read it again",
		    (long long)id, (long long)cur.rev, (long long)expect_rev);
		err = HC_ERR_PRECONDITION;
	}
	if (!err)
		err = st_exec(st, NULL,
			      "UPDATE change_requests SET title = ?2, description = ?3,"
			      " state = 'draft', rev = rev + 1, updated_ms = ?4, reason = ''"
			      " WHERE id = ?1",
			      "issi", id, in->title ? in->title : cur.title,
			      in->description ? in->description : cur.description, in->now_ms);
	if (!err && in->items) {
		err = st_exec(st, NULL, "DELETE FROM change_items WHERE change_id = ?1", "i", id);
		if (!err)
			err = insert_items(st, id, in->items, in->nitems);
	}
	if (!err)
		err = add_event(st, id, in->now_ms, in->actor, "edit", "", cur.rev + 1);
	if (!err)
		err = audit(st, in->ns, id, "change-edit", in->actor, in->role, in->source_ip,
			    in->title ? in->title : cur.title, in->now_ms);
	err = finish(st, err);
	store_cr_release(&cur);
	return err;
}

/* The state a move leads to from cur, or 0 with detail when it does not
 * apply. *approvals: for APPROVE, the count before this one. */
static store_cr_state move_target(const store_cr *cur, const store_cr_move *m, int approvals,
				  char *detail, size_t cap)
{
	store_cr_state s = cur->state;
	int needed = cur->review_required > 0 ? cur->review_required : 1;

	switch (m->action) {
	case STORE_CR_SUBMIT:
		if (s == STORE_CR_DRAFT)
			return STORE_CR_OPEN;
		break;
	case STORE_CR_APPROVE:
		if (s == STORE_CR_OPEN)
			return approvals + 1 >= needed ? STORE_CR_APPROVED : STORE_CR_OPEN;
		break;
	case STORE_CR_REJECT:
		if (s == STORE_CR_OPEN || s == STORE_CR_APPROVED)
			return STORE_CR_REJECTED;
		break;
	case STORE_CR_CANCEL:
		if (s != STORE_CR_PUBLISHED && s != STORE_CR_FAILED && s != STORE_CR_CANCELLED)
			return STORE_CR_CANCELLED;
		break;
	case STORE_CR_SCHEDULE:
		if (s == STORE_CR_APPROVED || s == STORE_CR_SCHEDULED)
			return STORE_CR_SCHEDULED;
		if (!cur->review_required && (s == STORE_CR_DRAFT || s == STORE_CR_OPEN))
			return STORE_CR_SCHEDULED;
		if (s == STORE_CR_DRAFT || s == STORE_CR_OPEN) {
			say(detail, cap,
			    "change request %lld is %s: namespace '%s' requires %d approval%s "
			    "before a request may be scheduled",
			    (long long)cur->id, store_cr_state_name(s), cur->ns,
			    cur->review_required, cur->review_required == 1 ? "" : "s");
			return 0;
		}
		break;
	case STORE_CR_COMMENT:
		return s;
	}
	say(detail, cap, "change request %lld is %s: it cannot be %s", (long long)cur->id,
	    store_cr_state_name(s),
	    m->action == STORE_CR_SUBMIT    ? "submitted (only a draft can)"
	    : m->action == STORE_CR_APPROVE ? "approved (only an open request can)"
	    : m->action == STORE_CR_REJECT  ? "rejected (only an open or approved request can)"
	    : m->action == STORE_CR_CANCEL  ? "cancelled any more"
					    : "scheduled");
	return 0;
}

static const char *move_kind(store_cr_action a)
{
	static const char *const kinds[] = {
	    [STORE_CR_SUBMIT] = "submit",     [STORE_CR_APPROVE] = "approve",
	    [STORE_CR_REJECT] = "reject",     [STORE_CR_CANCEL] = "cancel",
	    [STORE_CR_SCHEDULE] = "schedule", [STORE_CR_COMMENT] = "comment",
	};

	return (size_t)a > 0 && (size_t)a < sizeof(kinds) / sizeof(kinds[0]) ? kinds[a] : NULL;
}

/* Checks an approval: not by the author, not twice for the same rev. */
static hc_err approval_ok(store *st, const store_cr *cur, const store_cr_move *m, char *detail,
			  size_t cap)
{
	sqlite3_stmt *s;
	int row = 0;
	hc_err err;

	if (!strcmp(m->actor ? m->actor : "", cur->author)) {
		say(detail, cap,
		    "%s wrote change request %lld and cannot approve it: another approver must",
		    cur->author, (long long)cur->id);
		return HC_ERR_CONFLICT;
	}
	err = st_prep(st, &s,
		      "SELECT 1 FROM change_events WHERE change_id = ?1 AND kind = 'approve'"
		      " AND rev = ?2 AND actor = ?3",
		      "iis", cur->id, cur->rev, m->actor);
	if (!err)
		err = st_step(st, s, &row);
	sqlite3_finalize(s);
	if (!err && row) {
		say(detail, cap, "%s already approved change request %lld at rev %lld", m->actor,
		    (long long)cur->id, (long long)cur->rev);
		err = HC_ERR_CONFLICT;
	}
	return err;
}

hc_err store_cr_move_to(store *st, const char *ns, int64_t id, const store_cr_move *m,
			store_cr_state *state_out, char *detail, size_t cap)
{
	const char *kind = move_kind(m->action), *text = m->text ? m->text : "";
	store_cr_state to = 0;
	char audit_action[32];
	store_cr cur;
	int found, approvals = 0;
	hc_err err;

	if (!kind) {
		say(detail, cap, "unknown action");
		return HC_ERR_INVALID;
	}
	if (strlen(text) > STORE_CR_TEXT_MAX || (m->action == STORE_CR_COMMENT && !*text)) {
		say(detail, cap, "%s: give 1 to %d bytes",
		    m->action == STORE_CR_COMMENT ? "comment" : "reason", STORE_CR_TEXT_MAX);
		return HC_ERR_INVALID;
	}
	memset(&cur, 0, sizeof(cur));
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err = load_row(st, ns, id, &cur, &found);
	if (!err && !found) {
		say(detail, cap, "namespace '%s' has no change request %lld", ns, (long long)id);
		err = HC_ERR_NOT_FOUND;
	}
	if (!err && m->expect_rev >= 0 && m->expect_rev != cur.rev) {
		say(detail, cap,
		    "change request %lld is at rev %lld, not %lld: it was edited since; read it "
		    "again",
		    (long long)id, (long long)cur.rev, (long long)m->expect_rev);
		err = HC_ERR_PRECONDITION;
	}
	if (!err && m->action == STORE_CR_APPROVE && cur.state == STORE_CR_OPEN)
		err = approval_ok(st, &cur, m, detail, cap);
	if (!err && m->action == STORE_CR_APPROVE)
		err = count_approvals(st, id, cur.rev, cur.author, &approvals);
	if (!err && !(to = move_target(&cur, m, approvals, detail, cap)))
		err = HC_ERR_CONFLICT;
	if (!err && m->action != STORE_CR_COMMENT)
		err = st_exec(st, NULL,
			      "UPDATE change_requests SET state = ?2, updated_ms = ?3,"
			      " scheduled_ms = ?4, reason = ?5, published_by = ?6 WHERE id = ?1",
			      "isiiss", id, store_cr_state_name(to), m->now_ms,
			      to == STORE_CR_SCHEDULED ? m->at_ms : (int64_t)0,
			      m->action == STORE_CR_REJECT || m->action == STORE_CR_CANCEL
				  ? text
				  : cur.reason,
			      to == STORE_CR_SCHEDULED ? m->actor : cur.published_by);
	if (!err)
		err = add_event(st, id, m->now_ms, m->actor, kind, text, cur.rev);
	snprintf(audit_action, sizeof(audit_action), "change-%s", kind);
	if (!err)
		err = audit(st, ns, id, audit_action, m->actor, m->role, m->source_ip, text,
			    m->now_ms);
	err = finish(st, err);
	if (!err && state_out)
		*state_out = to;
	store_cr_release(&cur);
	return err;
}

hc_err store_cr_get(store *st, const char *ns, int64_t id, store_cr *out)
{
	hc_err err;
	int found;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->db_lock);
	err = load_row(st, ns, id, out, &found);
	if (!err && !found)
		err = HC_ERR_NOT_FOUND;
	if (!err)
		err = load_items(st, out, 1);
	if (!err)
		err = load_events(st, out);
	if (!err)
		err = count_approvals(st, id, out->rev, out->author, &out->approvals);
	pthread_mutex_unlock(&st->db_lock);
	if (err)
		store_cr_release(out);
	return err;
}

/* Rows of s (CR_COLS) into *v, with their items (no content). */
static hc_err collect(store *st, sqlite3_stmt *s, store_cr **v, size_t *n)
{
	size_t cap = 0, i;
	hc_err err;
	int row;

	for (;;) {
		err = st_step(st, s, &row);
		if (err || !row)
			break;
		*v = st_grow(*v, *n, &cap, sizeof(**v));
		cr_from_row(s, &(*v)[(*n)++]);
	}
	for (i = 0; !err && i < *n; i++) {
		err = load_items(st, &(*v)[i], 0);
		if (!err)
			err = count_approvals(st, (*v)[i].id, (*v)[i].rev, (*v)[i].author,
					      &(*v)[i].approvals);
	}
	return err;
}

hc_err store_cr_list(store *st, const char *ns, store_cr_state state, int64_t offset, int64_t limit,
		     store_cr **v, size_t *n, int64_t *total)
{
	const char *sn = state ? store_cr_state_name(state) : "";
	sqlite3_stmt *s = NULL;
	hc_err err;
	int row;

	*v = NULL;
	*n = 0;
	*total = 0;
	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s,
		      "SELECT COUNT(*) FROM change_requests WHERE namespace = ?1"
		      " AND (?2 = '' OR state = ?2)",
		      "ss", ns, sn);
	if (!err)
		err = st_step(st, s, &row);
	if (!err && row)
		*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (!err)
		err =
		    st_prep(st, &s,
			    "SELECT " CR_COLS " FROM change_requests r WHERE r.namespace = ?1"
			    " AND (?2 = '' OR r.state = ?2) ORDER BY r.id DESC LIMIT ?3 OFFSET ?4",
			    "ssii", ns, sn, limit < 0 ? (int64_t)-1 : limit,
			    offset < 0 ? (int64_t)0 : offset);
	if (!err) {
		err = collect(st, s, v, n);
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_crs_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return err;
}

hc_err store_cr_due(store *st, int64_t now_ms, size_t max, store_cr **v, size_t *n,
		    int64_t *next_ms)
{
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	hc_err err;
	int row;

	*v = NULL;
	*n = 0;
	*next_ms = 0;
	pthread_mutex_lock(&st->db_lock);
	err = st_prep(st, &s,
		      "SELECT " CR_COLS " FROM change_requests r WHERE r.state = 'scheduled'"
		      " AND r.scheduled_ms <= ?1 ORDER BY r.scheduled_ms, r.id LIMIT ?2",
		      "ii", now_ms, (int64_t)max);
	for (; !err;) {
		err = st_step(st, s, &row);
		if (err || !row)
			break;
		*v = st_grow(*v, *n, &cap, sizeof(**v));
		cr_from_row(s, &(*v)[(*n)++]);
	}
	sqlite3_finalize(s);
	if (!err)
		err = st_prep(st, &s,
			      "SELECT MIN(scheduled_ms) FROM change_requests WHERE state ="
			      " 'scheduled' AND scheduled_ms > ?1",
			      "i", now_ms);
	if (!err) {
		err = st_step(st, s, &row);
		if (!err && row)
			*next_ms = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->db_lock);
	if (err) {
		store_crs_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return err;
}

hc_err store_cr_prune(store *st, int64_t before_ms, int64_t max, int64_t *deleted)
{
	hc_err err;

	*deleted = 0;
	pthread_mutex_lock(&st->db_lock);
	/* The items and events go with their request (ON DELETE CASCADE). */
	err = st_exec(st, deleted,
		      "DELETE FROM change_requests WHERE id IN (SELECT id FROM change_requests"
		      " WHERE state IN ('published', 'failed', 'cancelled') AND updated_ms < ?1"
		      " ORDER BY id LIMIT ?2)",
		      "ii", before_ms, max);
	pthread_mutex_unlock(&st->db_lock);
	return err;
}

hc_err store_namespace_review(store *st, const char *ns, int *required)
{
	hc_err err;
	int exists;

	pthread_mutex_lock(&st->db_lock);
	err = st_namespace_exists(st, ns, &exists, required, NULL, 0);
	pthread_mutex_unlock(&st->db_lock);
	return err ? err : exists ? HC_OK : HC_ERR_NOT_FOUND;
}

hc_err store_namespace_set_review(store *st, const char *ns, int required, const char *actor,
				  const char *role, const char *source_ip, int64_t now_ms)
{
	char detail[64];
	store_audit a;
	int64_t changed = 0;
	hc_err err;

	memset(&a, 0, sizeof(a));
	snprintf(detail, sizeof(detail), "review.required=%d", required);
	a.at_ms = now_ms;
	a.actor = (char *)(actor ? actor : "");
	a.role = (char *)(role ? role : "");
	a.action = "namespace-review";
	a.ns = (char *)ns;
	a.target = (char *)ns;
	a.source_ip = (char *)(source_ip ? source_ip : "");
	a.detail = detail;
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err = st_exec(st, &changed,
			      "UPDATE namespaces SET review_required = ?2 WHERE id = ?1", "si", ns,
			      (int64_t)required);
	if (!err && !changed)
		err = HC_ERR_NOT_FOUND;
	if (!err)
		err = st_audit_insert(st, &a);
	return finish(st, err);
}

hc_err store_namespace_set_anonymous(store *st, const char *ns, const char *cidrs,
				     const char *actor, const char *role, const char *source_ip,
				     int64_t now_ms)
{
	sbuf detail = SBUF_INIT(SBUF_NOMAX);
	store_audit a;
	int64_t changed = 0;
	hc_err err;

	sbuf_addf(&detail, "anonymousRead.cidrs=%s", *cidrs ? cidrs : "(none)");
	memset(&a, 0, sizeof(a));
	a.at_ms = now_ms;
	a.actor = (char *)(actor ? actor : "");
	a.role = (char *)(role ? role : "");
	a.action = "namespace-anonymous-read";
	a.ns = (char *)ns;
	a.target = (char *)ns;
	a.source_ip = (char *)(source_ip ? source_ip : "");
	a.detail = detail.buf;
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	if (!err)
		err =
		    st_exec(st, &changed, "UPDATE namespaces SET anonymous_read = ?2 WHERE id = ?1",
			    "ss", ns, cidrs);
	if (!err && !changed)
		err = HC_ERR_NOT_FOUND;
	if (!err)
		err = st_audit_insert(st, &a);
	err = finish(st, err);
	sbuf_release(&detail);
	return err;
}

/* One namespace's source changed, as an audit entry by "git". */
static hc_err source_audit(store *st, const char *ns, const char *source, int64_t now_ms)
{
	sbuf detail = SBUF_INIT(SBUF_NOMAX);
	store_audit a;
	hc_err err;

	sbuf_addf(&detail, "source=%s", *source ? source : "(none)");
	memset(&a, 0, sizeof(a));
	a.at_ms = now_ms;
	a.actor = "git";
	a.role = "source";
	a.action = "namespace-source";
	a.ns = (char *)ns;
	a.target = (char *)ns;
	a.source_ip = "";
	a.detail = detail.buf;
	err = st_audit_insert(st, &a);
	sbuf_release(&detail);
	return err;
}

static int listed(const char *id, const char *const *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(ids[i], id))
			return 1;
	return 0;
}

hc_err store_namespace_set_sources(store *st, const char *const *ids, size_t n, const char *source,
				   int64_t now_ms)
{
	char cur[STORE_DETAIL_MAX / 2];
	sqlite3_stmt *s = NULL;
	char **stale = NULL;
	size_t nstale = 0, cap = 0, i;
	hc_err err;
	int exists, rc;

	for (i = 0; i < n; i++)
		if (!st_name_ok(ids[i]))
			return HC_ERR_INVALID;
	pthread_mutex_lock(&st->db_lock);
	err = st_begin(st);
	for (i = 0; !err && i < n; i++) {
		err = st_namespace_exists(st, ids[i], &exists, NULL, cur, sizeof(cur));
		if (!err && !exists)
			err = st_exec(
			    st, NULL,
			    "INSERT INTO namespaces (id, name, description, created_ms, source)"
			    " VALUES (?1, ?1, 'fed from git', ?2, ?3)",
			    "sis", ids[i], now_ms, source);
		else if (!err && strcmp(cur, source))
			err = st_exec(st, NULL, "UPDATE namespaces SET source = ?2 WHERE id = ?1",
				      "ss", ids[i], source);
		if (!err && (!exists || strcmp(cur, source)))
			err = source_audit(st, ids[i], source, now_ms);
	}
	if (!err) {
		rc = sqlite3_prepare_v2(st->db, "SELECT id FROM namespaces WHERE source != ''", -1,
					&s, NULL);
		if (rc != SQLITE_OK)
			err = st_sqlerr(st, rc, "prepare");
		while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			const char *id = st_col_text(s, 0);
			if (listed(id, ids, n))
				continue;
			stale = st_grow(stale, nstale, &cap, sizeof(*stale));
			stale[nstale++] = xstrdup(id);
		}
		if (!err && rc != SQLITE_DONE)
			err = st_sqlerr(st, rc, "step");
		sqlite3_finalize(s);
	}
	for (i = 0; !err && i < nstale; i++) {
		err = st_exec(st, NULL, "UPDATE namespaces SET source = '' WHERE id = ?1", "s",
			      stale[i]);
		if (!err)
			err = source_audit(st, stale[i], "", now_ms);
	}
	for (i = 0; i < nstale; i++)
		free(stale[i]);
	free(stale);
	return finish(st, err);
}

/* ---- publish (writer thread) ---- */

/* The md5 an item's base is now, "" when absent. */
static hc_err current_base(store *st, const st_job *sub, const store_cr_write *it, char md5[33])
{
	const store_write *w = sub->w;
	sqlite3_stmt *s;
	int row = 0;
	hc_err err;

	md5[0] = '\0';
	if (it->op == STORE_CR_PUBLISH || it->op == STORE_CR_DELETE)
		err = st_prep(st, &s,
			      "SELECT md5 FROM configs WHERE namespace = ?1 AND grp = ?2 AND"
			      " data_id = ?3",
			      "sss", w->ns, w->group, w->data_id);
	else
		err = st_prep(st, &s,
			      "SELECT md5 FROM gray_rules WHERE namespace = ?1 AND grp = ?2 AND"
			      " data_id = ?3 AND name = ?4",
			      "ssss", w->ns, w->group, w->data_id, it->g.name);
	if (err)
		return err;
	err = st_step(st, s, &row);
	if (!err && row)
		st_col_copy(s, 0, md5, 33);
	sqlite3_finalize(s);
	return err;
}

/* Names the items whose base changed into *why; *stale counts them. */
static hc_err check_bases(store *st, st_cr_job *cr, sbuf *why, int *stale)
{
	hc_err err = HC_OK;
	size_t i;

	*stale = 0;
	for (i = 0; i < cr->nsubs && !err; i++) {
		const store_cr_write *it = &cr->p.items[i];
		const char *base = it->base_md5 ? it->base_md5 : "";
		char now[33];

		err = current_base(st, &cr->subs[i], it, now);
		if (err || !strcmp(now, base))
			continue;
		sbuf_addf(why, "%s%s/%s", (*stale)++ ? ", " : "", it->w.group, it->w.data_id);
		if (it->op != STORE_CR_PUBLISH && it->op != STORE_CR_DELETE)
			sbuf_addf(why, " rule %s", it->g.name);
		sbuf_addf(why, " (based on %s, now %s)", *base ? base : "none",
			  *now ? now : "absent");
	}
	return err;
}

/* Marks the request failed with why (a scheduled publish that could not be
 * made), committed with the batch. */
static hc_err mark_failed(store *st, st_cr_job *cr, const char *why)
{
	const store_cr_publish_req *p = &cr->p;
	hc_err err = st_exec(st, NULL,
			     "UPDATE change_requests SET state = 'failed', reason = ?2,"
			     " updated_ms = ?3 WHERE id = ?1",
			     "isi", p->id, why, p->now_ms);

	if (!err)
		err = add_event(st, p->id, p->now_ms, p->actor, "fail", why, 0);
	if (!err)
		err = audit(st, p->ns, p->id, "change-fail", p->actor, p->role, p->source_ip, why,
			    p->now_ms);
	if (!err)
		cr->keep = 1;
	return err;
}

/* May the request publish now, as cur stands? */
static hc_err may_publish(store *st, const st_cr_job *cr, const store_cr *cur, store_result *res)
{
	const store_cr_publish_req *p = &cr->p;
	store_cr_state s = cur->state;
	int approvals;
	hc_err err;

	if (p->scheduled) {
		if (s == STORE_CR_SCHEDULED)
			return HC_OK;
		st_set_detail(res, "change request %lld is %s, no longer scheduled",
			      (long long)cur->id, store_cr_state_name(s));
		return HC_ERR_CONFLICT;
	}
	if (p->expect_rev >= 0 && p->expect_rev != cur->rev) {
		st_set_detail(res, "change request %lld was edited meanwhile (rev %lld, not %lld)",
			      (long long)cur->id, (long long)cur->rev, (long long)p->expect_rev);
		return HC_ERR_PRECONDITION;
	}
	if (s != STORE_CR_DRAFT && s != STORE_CR_OPEN && s != STORE_CR_APPROVED &&
	    s != STORE_CR_SCHEDULED) {
		st_set_detail(res, "change request %lld is %s: it cannot publish",
			      (long long)cur->id, store_cr_state_name(s));
		return HC_ERR_CONFLICT;
	}
	if (!cur->review_required || p->force)
		return HC_OK;
	err = count_approvals(st, cur->id, cur->rev, cur->author, &approvals);
	if (err)
		return err;
	if (approvals >= cur->review_required)
		return HC_OK;
	st_set_detail(res,
		      "change request %lld has %d of the %d approval%s namespace '%s' requires; "
		      "an approver other than %s must approve it first",
		      (long long)cur->id, approvals, cur->review_required,
		      cur->review_required == 1 ? "" : "s", cur->ns, cur->author);
	return HC_ERR_CONFLICT;
}

/* Runs the items in a savepoint of their own; on an item's failure rolls
 * them all back and says which in res. */
static hc_err run_items(store *st, st_job *j)
{
	st_cr_job *cr = j->cr;
	hc_err err = st_exec(st, NULL, "SAVEPOINT hc_items", "");
	size_t i;

	if (err)
		return err;
	for (i = 0; i < cr->nsubs; i++) {
		st_job *sub = &cr->subs[i];

		sub->w_copy.message = cr->title;
		if (!st_run_body(st, sub))
			continue;
		if (st_db_failure(sub->err))
			return sub->err;
		st_set_detail(j->res, "items[%zu] (%s/%s): %s", i, sub->w->group, sub->w->data_id,
			      sub->res->detail[0] ? sub->res->detail : hc_err_code(sub->err));
		err = sub->err;
		break;
	}
	if (err) {
		hc_err e2 = st_exec(st, NULL, "ROLLBACK TO hc_items", "");
		if (!e2)
			e2 = st_exec(st, NULL, "RELEASE hc_items", "");
		return e2 ? e2 : err;
	}
	return st_exec(st, NULL, "RELEASE hc_items", "");
}

/* What the items changed into res: the last change's revision, version and
 * md5; changed 0 when none changed anything. */
static void items_result(store *st, const st_cr_job *cr, store_result *res)
{
	size_t i;

	res->changed = 0;
	for (i = 0; i < cr->nsubs; i++) {
		const store_result *r = cr->subs[i].res;
		if (cr->subs[i].ch.noop)
			continue;
		res->changed = 1;
		res->revision = r->revision;
		res->version = r->version;
		memcpy(res->md5, r->md5, sizeof(res->md5));
	}
	if (!res->changed)
		res->revision = st->revision;
}

/* A store_batch: the bases, the items, one audit entry. */
static hc_err batch_body(store *st, st_job *j)
{
	st_cr_job *cr = j->cr;
	const store_batch_req *b = &cr->b;
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX - 1);
	store_audit a;
	int stale;
	hc_err err;

	cr->title = xstrdup(b->message ? b->message : "");
	err = check_bases(st, cr, &why, &stale);
	if (!err && stale) {
		st_set_detail(j->res, "changed since the import was read: %s; nothing was written",
			      why.buf);
		err = HC_ERR_CONFLICT;
	}
	if (!err)
		err = run_items(st, j);
	if (!err) {
		items_result(st, cr, j->res);
		memset(&a, 0, sizeof(a));
		a.at_ms = b->now_ms;
		a.actor = (char *)(b->actor ? b->actor : "");
		a.role = (char *)(b->role ? b->role : "");
		a.action = (char *)b->audit_action;
		a.ns = (char *)b->ns;
		a.target = (char *)b->ns;
		a.source_ip = (char *)(b->source_ip ? b->source_ip : "");
		a.detail = (char *)(b->audit_detail ? b->audit_detail : "");
		err = st_audit_insert(st, &a);
	}
	sbuf_release(&why);
	return err;
}

hc_err st_cr_publish_body(store *st, st_job *j)
{
	st_cr_job *cr = j->cr;
	const store_cr_publish_req *p = &cr->p;
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX - 1);
	store_cr cur;
	int found, stale;
	hc_err err;

	memset(&cur, 0, sizeof(cur));
	if (!p->id)
		return batch_body(st, j);
	err = load_row(st, p->ns, p->id, &cur, &found);
	if (!err && !found) {
		st_set_detail(j->res, "namespace '%s' has no change request %lld", p->ns,
			      (long long)p->id);
		err = HC_ERR_NOT_FOUND;
	}
	if (!err)
		err = may_publish(st, cr, &cur, j->res);
	if (err)
		goto out;
	cr->title = xstrdup(cur.title);
	err = check_bases(st, cr, &why, &stale);
	if (!err && stale) {
		st_set_detail(j->res,
			      "the base of %d item%s changed since %s added: %s; edit the request "
			      "to re-base %s",
			      stale, stale == 1 ? "" : "s", stale == 1 ? "it was" : "they were",
			      why.buf, stale == 1 ? "it" : "them");
		err = HC_ERR_CONFLICT;
	}
	if (!err)
		err = run_items(st, j);
	if (err) {
		if (p->scheduled && !st_db_failure(err)) {
			hc_err e2 = mark_failed(st, cr, j->res->detail);
			if (e2)
				err = e2;
		}
		goto out;
	}
	items_result(st, cr, j->res);
	err = st_exec(st, NULL,
		      "UPDATE change_requests SET state = 'published', published_ms = ?2,"
		      " published_rev = ?3, published_by = ?4, updated_ms = ?2, scheduled_ms = 0"
		      " WHERE id = ?1",
		      "iiis", p->id, p->now_ms, j->res->revision, p->actor);
	if (!err)
		err = add_event(st, p->id, p->now_ms, p->actor,
				p->force ? "force-publish" : "publish", "", cur.rev);
	if (!err)
		err = audit(st, p->ns, p->id, p->force ? "change-force-publish" : "change-publish",
			    p->actor, p->role, p->source_ip, cur.title, p->now_ms);
out:
	sbuf_release(&why);
	store_cr_release(&cur);
	return err;
}

static const st_job_kind item_kinds[] = {
    [STORE_CR_PUBLISH] = JOB_PUBLISH,		[STORE_CR_DELETE] = JOB_DELETE,
    [STORE_CR_GRAY_SET] = JOB_GRAY_PUT,		[STORE_CR_GRAY_REMOVE] = JOB_GRAY_DELETE,
    [STORE_CR_GRAY_PROMOTE] = JOB_GRAY_PROMOTE,
};

/* The job of a publish, or NULL with res filled when an item is refused
 * before it is queued. */
static st_job *cr_job(const store_cr_publish_req *p, store_result *res)
{
	st_job *j = xcalloc(1, sizeof(*j));
	st_cr_job *cr = xcalloc(1, sizeof(*cr));
	size_t i;

	j->kind = JOB_CR_PUBLISH;
	j->cr = cr;
	cr->p = *p;
	cr->subs = xcalloc(p->nitems ? p->nitems : 1, sizeof(*cr->subs));
	cr->nsubs = p->nitems;
	j->w_copy.ns = p->ns;
	j->w_copy.author = p->actor;
	j->w = &j->w_copy;
	if (!p->nitems || p->nitems > (p->id ? STORE_CR_MAX_ITEMS : STORE_BATCH_MAX_ITEMS)) {
		st_set_detail(res, "a %s holds 1 to %d items", p->id ? "change request" : "batch",
			      p->id ? STORE_CR_MAX_ITEMS : STORE_BATCH_MAX_ITEMS);
		goto fail;
	}
	for (i = 0; i < p->nitems; i++) {
		const store_cr_write *it = &p->items[i];
		st_job *sub = &cr->subs[i];
		int gray = it->op != STORE_CR_PUBLISH && it->op != STORE_CR_DELETE;

		if ((size_t)it->op < 1 || (size_t)it->op >= NOPS) {
			st_set_detail(res, "items[%zu]: unknown op", i);
			goto fail;
		}
		sub->kind = item_kinds[it->op];
		sub->w_copy = it->w;
		sub->w_copy.ns = p->ns;
		sub->w_copy.change_id = p->id;
		sub->w_copy.author = p->actor;
		sub->w_copy.audit_role = p->role;
		sub->w_copy.source_ip = p->source_ip;
		sub->w_copy.now_ms = p->now_ms;
		sub->w_copy.if_match = NULL;
		sub->w_copy.create_only = 0;
		sub->w = &sub->w_copy;
		sub->res = &sub->res_own;
		if (st_precheck(sub->kind, sub->w, gray ? &it->g : NULL, NULL, &sub->ch.key,
				sub->res)) {
			st_set_detail(res, "items[%zu] (%s/%s): %s", i, it->w.group, it->w.data_id,
				      sub->res->detail);
			goto fail;
		}
		if (gray)
			st_job_gray(sub, &it->g, NULL);
	}
	return j;
fail:
	st_job_release(j);
	free(j);
	return NULL;
}

/* A batch as the request of a publish with id 0 (st_cr_publish_body then
 * runs batch_body); NULL with res filled when an item is refused. */
static st_job *batch_job(const store_batch_req *b, store_result *res)
{
	store_cr_publish_req p;
	size_t i;
	st_job *j;

	memset(&p, 0, sizeof(p));
	p.ns = b->ns;
	p.expect_rev = -1;
	p.items = b->items;
	p.nitems = b->nitems;
	p.actor = b->actor;
	p.role = b->role;
	p.source_ip = b->source_ip;
	p.now_ms = b->now_ms;
	for (i = 0; i < b->nitems; i++)
		if (b->items[i].op != STORE_CR_PUBLISH && b->items[i].op != STORE_CR_DELETE) {
			st_set_detail(res, "items[%zu]: a batch holds publishes and deletes", i);
			return NULL;
		}
	j = cr_job(&p, res);
	if (j)
		j->cr->b = *b;
	return j;
}

/* Runs job j (or answers done with res when it is NULL): the synchronous
 * and the asynchronous forms of every publish-like job. */
static hc_err submit_job(store *st, st_job *j, store_result *res, store_done_fn done, void *cls)
{
	hc_err err;

	if (done) {
		if (!j) {
			done(cls, HC_ERR_INVALID, res);
			return HC_ERR_INVALID;
		}
		j->res = &j->res_own;
		j->done_fn = done;
		j->done_cls = cls;
		st_enqueue(st, j);
		pthread_mutex_unlock(&st->q_lock);
		return HC_OK;
	}
	if (!j)
		return HC_ERR_INVALID;
	j->res = res;
	st_enqueue(st, j); /* returns holding q_lock */
	st_wait(st, j);
	err = j->err;
	st_job_release(j);
	free(j);
	return err;
}

hc_err store_batch(store *st, const store_batch_req *b, store_result *res)
{
	store_result ignored;

	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	return submit_job(st, batch_job(b, res), res, NULL, NULL);
}

void store_batch_async(store *st, const store_batch_req *b, store_done_fn done, void *cls)
{
	store_result res;

	memset(&res, 0, sizeof(res));
	submit_job(st, batch_job(b, &res), &res, done, cls);
}

hc_err store_cr_publish(store *st, const store_cr_publish_req *p, store_result *res)
{
	store_result ignored;

	if (!res)
		res = &ignored;
	memset(res, 0, sizeof(*res));
	return submit_job(st, cr_job(p, res), res, NULL, NULL);
}

void store_cr_publish_async(store *st, const store_cr_publish_req *p, store_done_fn done, void *cls)
{
	store_result res;

	memset(&res, 0, sizeof(res));
	submit_job(st, cr_job(p, &res), &res, done, cls);
}
