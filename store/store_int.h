/*
 * store_int.h: what the files of store/ share. Private to
 * store/: nothing outside this folder includes it (it pulls in <sqlite3.h>).
 *
 * Locking: db_lock serialises every use of the connection, including the
 * prepared statements in stmts[]; index_lock guards index and revision and is
 * held only for a hash operation, never across SQL. Lock order: db_lock, then
 * index_lock. The index and revision change only while both are held, so a
 * thread holding db_lock may read them without index_lock. q_lock guards the
 * write queue; it is never held with the other two. feed_lock guards the
 * subscriber list and is taken alone.
 */
#ifndef HC_STORE_INT_H
#define HC_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "store.h"
#include "store_change.h"

/* Cached prepared statements, one per SQL text; see st_stmt(). */
typedef enum st_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_ROLLBACK_TO,
	ST_RELEASE,
	ST_PING,
	ST_NS_EXISTS,
	ST_NS_HAS_CONFIGS,
	ST_NS_LIST,
	ST_NS_INSERT,
	ST_NS_DELETE,
	ST_NEXT_VERSION,
	ST_CONFIG_GET,
	ST_REVISION_BUMP,
	ST_HIST_INSERT,
	ST_HIST_COUNT,
	ST_HIST_LIST,
	ST_HIST_GET,
	ST_CONFIG_UPSERT,
	ST_CONFIG_DESCRIBE,
	ST_CONFIG_DELETE,
	ST_PRUNE,
	ST_GRAY_LOAD,
	ST_GRAY_SALT,
	ST_GRAY_UPSERT,
	ST_GRAY_DELETE,
	ST_GRAY_MATCH,
	ST_LOG_SINCE,
	/* store_list: 8 filter combinations, each as a page query and a count */
	ST_LIST_FIRST,
	ST_LIST_LAST = ST_LIST_FIRST + 15,
	ST__COUNT
} st_id;

/* One write in progress: what the transaction saw and what the index gets
 * after COMMIT. */
typedef struct st_change {
	cfgkey key;
	store_config *cur;  /* the config's row (and rules) as the transaction read it, or NULL */
	store_config *next; /* installed after COMMIT; NULL removes the key */
	store_change_kind kind;
	store_op op;
	int64_t revision; /* the server revision after the change */
	int noop;	  /* nothing written: the index stays as it is */
	int gated;	  /* a direct write that a namespace requiring review refuses
			   * (st_job_begin decides, inside the transaction) */
} st_change;

typedef enum st_job_kind {
	JOB_PUBLISH,
	JOB_DELETE,
	JOB_ROLLBACK,
	JOB_GRAY_PUT,
	JOB_GRAY_DELETE,
	JOB_GRAY_PROMOTE,
	JOB_GRAY_ROLLOUT,
	JOB_CR_PUBLISH, /* a change request's items, all or none (store_change.c) */
} st_job_kind;

struct st_cr_job;

/* One queued write. A synchronous one lives on its caller's stack: the writer
 * thread fills in err and res and sets done under q_lock, after which it
 * never touches it. An asynchronous one is the store's, freed after its
 * callback. */
typedef struct st_job {
	st_job_kind kind;
	const store_write *w;
	int64_t version;	 /* rollback: the version to restore */
	store_gray_spec g;	 /* gray jobs: the rule (name only for delete, promote, rollout) */
	store_rollout_plan plan; /* put: the copy of *g.rollout that g.rollout points to */
	store_rollout_move move; /* rollout: the move (its strings borrowed) */
	store_result *res;
	st_change ch;
	store_history h; /* rollback: the entry restored */
	hc_err err;
	int done;	       /* synchronous jobs: set under q_lock when complete */
	store_done_fn done_fn; /* asynchronous jobs: called when complete */
	void *done_cls;
	int refused;	      /* failed before touching the database */
	store_write w_copy;   /* asynchronous jobs: w points here */
	store_result res_own; /* asynchronous jobs: res points here */
	struct st_cr_job *cr; /* JOB_CR_PUBLISH: the request and its items; owned */
	struct st_job *next;
} st_job;

/* A change request's publish: the request as given, one sub-job per item
 * (each with its own w_copy, res_own and change), and what the transaction
 * read of the request. */
typedef struct st_cr_job {
	store_cr_publish_req p; /* p.id 0: a batch (store_batch), with b */
	store_batch_req b;
	st_job *subs;
	size_t nsubs;
	char *title; /* the request's, read in the transaction: the items' message */
	int keep;    /* failed, but what the body wrote stands (a scheduled request
		      * marked failed): the savepoint is released, not rolled back */
} st_cr_job;

typedef struct st_subscriber {
	store_feed_fn fn;
	store_feed_done_fn done;
	void *ctx;
} st_subscriber;

/* The fault hook's state (store_fault_arm); under fault_lock but armed,
 * which is read without it first. */
typedef struct st_fault {
	int point; /* store_fault_point, or -1 when disarmed */
	int rc;	   /* the SQLite code to answer with */
	int skip;  /* matching executions still to let through */
	int count; /* matching executions still to fail */
	int armed; /* atomic: count > 0 */
} st_fault;

struct store {
	sqlite3 *db;
	pthread_mutex_t db_lock;
	pthread_mutex_t index_lock;
	int db_lock_ok, index_lock_ok; /* initialised, so store_close may destroy them */
	hmap *index;		       /* cfgkey string -> store_config *, one reference each */
	int64_t revision;	       /* meta's revision as of the last COMMIT */
	sqlite3_stmt *stmts[ST__COUNT];

	/* Group commit (store_write.c). q_lock guards the queue, q_stop and
	 * q_hold; the writer thread waits on q_work, synchronous writers on
	 * q_done. */
	pthread_mutex_t q_lock;
	pthread_cond_t q_work, q_done;
	int q_ok; /* q_lock, q_work and q_done initialised */
	st_job *q_head, **q_tail;
	int q_stop;
	int q_hold; /* store_fault_hold */
	pthread_t writer;
	int writer_started;

	pthread_mutex_t feed_lock;
	st_subscriber *subs;
	size_t nsubs;
	int feed_ok;

	pthread_mutex_t fault_lock;
	st_fault fault;

	/* Health (store_health.c): the file the store opened, and what the last
	 * write found. Under health_lock, taken alone or after db_lock. */
	pthread_mutex_t health_lock;
	int health_ok; /* health_lock initialised */
	char *path, *reserve_path;
	unsigned long long dev, ino; /* of the database file at open */
	store_health_state health;
	char reason[STORE_DETAIL_MAX];
	int full; /* the disk filled up: only deletes run until space is back */

	/* store_prune keeps every history entry with a revision above this
	 * (store_prune_hold); atomic. */
	int64_t prune_hold;
};

/* The number of store_op values: store_op_name() knows each below it. */
#define ST_OP_COUNT (STORE_OP_GRAY_RESUME + 1)

/* The columns st_config_from_row() reads, in order; content, when wanted, follows. */
#define ST_CONFIG_COLS                                                                             \
	"namespace, grp, data_id, md5, format, version, revision, created_ms, updated_ms, "        \
	"author, description"

/* 1 when name can be a namespace, group or dataId (cfgkey_name_ok). */
int st_name_ok(const char *name);

/*
 * The one translation of a SQLite result code to an hc_err. Logs what failed
 * with sqlite3_errmsg(). The caller holds db_lock (or owns st alone, in
 * store_open), so the message belongs to this failure.
 */
hc_err st_sqlerr(store *st, int rc, const char *what);

/* The statement for id, prepared from sql on first use and kept until
 * store_close(). The caller holds db_lock and calls st_done() when finished. */
hc_err st_stmt(store *st, st_id id, const char *sql, sqlite3_stmt **out);
/* Resets s and clears its bindings, so no borrowed SQLITE_STATIC pointer
 * outlives the call that bound it. NULL is a no-op. */
void st_done(sqlite3_stmt *s);
/* Steps s: HC_OK with *row 1 when a row is ready, 0 when done. */
hc_err st_step(store *st, sqlite3_stmt *s, int *row);
/* Steps a statement that returns no rows to completion, then st_done()s it. */
hc_err st_run(store *st, sqlite3_stmt *s);
/* st_run() after binds that left bind_rc (see the bind helpers): a failed
 * bind is reported and s is reset without running. */
hc_err st_run_bound(store *st, sqlite3_stmt *s, int bind_rc);

/* Bind helpers: each keeps the first failing code in *rc and skips the rest.
 * Text and blobs are bound SQLITE_STATIC: they must live until st_done(). */
void st_bind_text(sqlite3_stmt *s, int i, const char *v, int *rc); /* NULL binds "" */
void st_bind_blob(sqlite3_stmt *s, int i, const void *v, size_t n, int *rc);
void st_bind_int(sqlite3_stmt *s, int i, int64_t v, int *rc);
/* Binds ?1..?3 to a config's key; returns the first failing code or SQLITE_OK.
 * The key's string must live until st_done(). */
int st_bind_key(sqlite3_stmt *s, const cfgkey *key);

/* Column helpers: the text is SQLite's, valid until the next step or reset. */
const char *st_col_text(sqlite3_stmt *s, int i); /* never NULL */
/* Copies column i into dst[cap], truncating; always NUL-terminates. */
void st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap);

/* One-off statements, for what runs rarely (accounts, change requests):
 * st_prep prepares sql and binds the arguments types describes ('s' a
 * string, NULL as "", 'i' an int64_t) to ?1, ?2, ...; the caller finalizes
 * *out. st_exec runs one that returns no rows; *changes (when not NULL)
 * gets the rows changed. Caller holds db_lock. */
hc_err st_prep(store *st, sqlite3_stmt **out, const char *sql, const char *types, ...);
hc_err st_exec(store *st, int64_t *changes, const char *sql, const char *types, ...);
/* A copy of text column i (never NULL). */
char *st_col_dup(sqlite3_stmt *s, int i);
/* Doubles *cap (16 at first) when n reaches it; returns v, moved. */
void *st_grow(void *v, size_t n, size_t *cap, size_t size);

/* BEGIN IMMEDIATE / COMMIT; st_rollback() is a no-op outside a transaction. */
hc_err st_begin(store *st);
hc_err st_commit(store *st);
void st_rollback(store *st);

/* A new snapshot (refs 1, one allocation) copying every field of t; the
 * pointers in t are borrowed. t->content NULL makes a list entry. */
store_config *st_config_make(const store_config *t);
/* A new snapshot from the current row of a statement selecting
 * ST_CONFIG_COLS (and content after them when with_content). */
store_config *st_config_from_row(sqlite3_stmt *s, int with_content);

/* A new reference to the index's snapshot under key, or NULL. */
store_config *st_index_ref(store *st, const cfgkey *key);
/* After a COMMIT: makes c (its reference is handed over) the snapshot under
 * key, or removes the key when c is NULL, and records the revision. Called
 * with db_lock held. */
void st_index_set(store *st, const cfgkey *key, store_config *c, int64_t revision);
/* st_index_set's swap alone: the caller holds index_lock (to install a
 * whole commit at one instant) and drops the returned snapshot after
 * releasing it. */
store_config *st_index_swap(store *st, const cfgkey *key, store_config *c, int64_t revision);

/* Announces ch to every subscriber (ch NULL: the commit's writes have
 * completed, for the done callbacks); see store_subscribe. */
void st_feed(store *st, const store_change *ch);

/* The fault hook: the SQLite code a step of s should fail with, or
 * SQLITE_OK. Cheap when nothing is armed. */
int st_fault_check(store *st, sqlite3_stmt *s);

/* Records the file's identity and makes the space reserve; at open. */
void st_health_open(store *st, const char *path);
void st_health_close(store *st);
/* Before a batch: HC_OK, or the error every write of the batch fails with
 * (the file is gone) and the reason in detail[STORE_DETAIL_MAX]. Writer
 * thread, db_lock held. */
hc_err st_health_before(store *st, char *detail);
/* After a batch: records its outcome (err HC_OK: committed). */
void st_health_after(store *st, hc_err err);
/* 1 while the disk is full: a publish or rollback is refused at once,
 * with the reason in detail, so the space left goes to deletes. */
int st_health_full(store *st, char *detail);

struct store_audit;
/* Inserts an audit entry; caller holds db_lock (inside a transaction or
 * not). */
hc_err st_audit_insert(store *st, const struct store_audit *a);

/* The writer thread: runs queued writes in batches until q_stop and the
 * queue is empty. */
void *st_writer_main(void *arg);

/* ---- shared by the write bodies (store_write.c, store_gray.c); all run on
 * the writer thread inside the batch's transaction, db_lock held ---- */

/* Writes a sentence for the user into res->detail. */
void st_set_detail(store_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The namespace must exist; ch->cur gets the config's row and rules. */
hc_err st_job_begin(store *st, const store_write *w, st_change *ch, store_result *res);
/* The config's next history version. */
hc_err st_next_version(store *st, const cfgkey *key, int64_t *version);
/* Counts one more change in the database and reads back the new revision. */
hc_err st_bump_revision(store *st, int64_t *revision);
/* The gray columns of a history entry: the rule's name, its match and the
 * rollout's JSON (or a promote's summary); NULL fields (or a NULL note)
 * are "". */
typedef struct st_gray_note {
	const char *rule, *match, *rollout;
	int priority;	  /* the rule's, after the change */
	const char *salt; /* the rule's */
	const char *plan; /* its rollout plan as JSON (st_rollout_plan_json), or "" */
} st_gray_note;
/* Inserts a history entry for t; gn is a gray entry's note, NULL for none. */
hc_err st_insert_history(store *st, const store_write *w, const cfgkey *key, store_op op,
			 const store_config *t, const st_gray_note *gn);
/* Validates content as format when the caller did not (see store_write). */
hc_err st_check_content(const store_write *w, const char *format, const char *content, size_t len,
			store_result *res);
/* content becomes the config's next main version (op), with no no-op check;
 * format NULL keeps the current one, description NULL too; gn (NULL: none)
 * goes to the history entry. The new snapshot keeps the current rules,
 * which the caller may replace before it is installed. */
hc_err st_new_version(store *st, const store_write *w, store_op op, const char *content, size_t len,
		      const char *format, const char *description, const st_gray_note *gn,
		      st_change *ch, store_result *res);

/* Runs job j's body (not a JOB_CR_PUBLISH) and its audit entry, inside the
 * caller's savepoint; returns j->err. */
hc_err st_run_body(store *st, st_job *j);
/* 1 when err means the transaction itself failed (not the write's own
 * precondition or content). */
int st_db_failure(hc_err err);
/* Frees what a job owns (not the job). */
void st_job_release(st_job *j);
/* Checks a job's arguments before it is queued and builds its key; fills
 * res on failure. g: gray jobs' rule; m: a rollout job's move. */
hc_err st_precheck(st_job_kind kind, const store_write *w, const store_gray_spec *g,
		   const store_rollout_move *m, cfgkey *key, store_result *res);
/* Copies the gray parts of a job in (the plan g points to included). */
void st_job_gray(st_job *j, const store_gray_spec *g, const store_rollout_move *m);
/* Queues j (the store's from now on when j->done_fn is set; else the caller
 * waits for j->done). Returns holding q_lock. */
void st_enqueue(store *st, st_job *j);
/* Waits for the synchronous job j; the caller holds q_lock (from
 * st_enqueue) and no longer does on return. */
void st_wait(store *st, st_job *j);

/* The change-request publish body (store_change.c). */
hc_err st_cr_publish_body(store *st, st_job *j);

/* The gray write bodies (store_gray.c). */
hc_err st_gray_put_body(store *st, st_job *j);
hc_err st_gray_delete_body(store *st, st_job *j);
hc_err st_gray_promote_body(store *st, st_job *j);
hc_err st_gray_rollout_body(store *st, st_job *j);
/* The rules of key as the transaction sees them (*out NULL when none),
 * reusing the compiled rules of the index's snapshot that did not change.
 * Caller holds db_lock. */
hc_err st_gray_load(store *st, const cfgkey *key, store_gray_set **out);
/* At open: attaches to each snapshot in the index the rules of its config. */
hc_err st_gray_load_all(store *st);

/* store_gray.c's rule rows and sets, shared with store_rollout.c (writer
 * thread, db_lock held, as the gray write bodies). */
hc_err st_gray_compile(const char *ips_text, const char *labels, const char *percent,
		       const char *salt, gray_rule **out, sbuf *json, sbuf *why);
store_gray_set *st_gray_set_with(const store_gray_set *old, store_gray_rule *r);
hc_err st_gray_upsert(store *st, const cfgkey *key, const store_gray_rule *r, const char *ips,
		      const char *labels, const char *percent);
hc_err st_gray_rule_stmt(store *st, st_id id, const char *sql, const cfgkey *key, const char *name,
			 sqlite3_stmt **out);
hc_err st_gray_history(store *st, const store_write *w, const st_change *ch, store_op op,
		       const store_gray_rule *r, int64_t revision, const char *rollout);
void st_gray_changed(st_change *ch, store_gray_set *gray, store_op op, int64_t revision);
void st_gray_result(st_job *j, const store_gray_rule *r, int64_t revision);
hc_err st_gray_named(store *st, st_job *j, const store_gray_rule **out);
hc_err st_gray_promote_rule(store *st, st_job *j, const store_gray_rule *r, const char *summary);

/* store_rollout.c: a rollout as a value (see there for each). */
store_rollout_state st_rollout_state_parse(const char *name);
void st_rollout_free(store_rollout *ro);
store_rollout *st_rollout_dup(const store_rollout *ro, const char *reason);
void st_rollout_restart(store_rollout *ro);
hc_err st_rollout_plan_check(const store_rollout_plan *p, store_result *res);
int st_rollout_same_plan(const store_rollout_plan *a, const store_rollout_plan *b);
void st_rollout_steps_text(const store_rollout_plan *p, sbuf *out);
int st_rollout_steps_parse(const char *text, store_rollout_plan *p);
void st_rollout_json(const store_rollout *ro, sbuf *out);
void st_rollout_plan_json(const store_rollout_plan *p, sbuf *out);

/* *exists gets 1 when namespace id exists; *review (when not NULL) its
 * review_required, source (when not NULL) its source, capped at cap bytes
 * ("" for none). Caller holds db_lock. */
hc_err st_namespace_exists(store *st, const char *id, int *exists, int *review, char *source,
			   size_t cap);
/* The history columns st_history_from_row() reads, in order; content, when
 * wanted, follows. */
#define ST_HISTORY_COLS                                                                            \
	"version, revision, op, md5, format, author, message, source_ip, created_ms, gray_rule, "  \
	"gray_match, rollout, change_id"
/* Copies the current row (ST_HISTORY_COLS, then content when with_content). */
void st_history_from_row(sqlite3_stmt *s, int with_content, store_history *h);
/* Loads one history entry with its content into *out, which the caller
 * releases; *found gets 0 when there is none. Caller holds db_lock. */
hc_err st_history_load(store *st, const cfgkey *key, int64_t version, store_history *out,
		       int *found);

#endif
