/*
 * store: durable, versioned config storage on SQLite, with an in-memory index
 * of every current config so reads and watch checks never run SQL.
 *
 * A config is identified by a cfgkey (namespace, group, dataId). Every change
 * (publish, delete, rollback, and the gray rule writes) is decided and
 * committed inside one SQLite
 * transaction (WAL, synchronous=FULL): the preconditions, the no-op check,
 * the next version and the server-wide revision are read from the database
 * there, never from memory. Only after the COMMIT does the change replace the
 * config's snapshot in the index, and then the store announces it on its
 * change feed (store_subscribe): whatever caused a change, its subscribers
 * hear of it. A function that returns HC_OK for a write has made it durable.
 *
 * Threading: a store handle may be used from any number of threads at once.
 * Writes run on the store's own writer thread, in batches that share one
 * commit; SQL reads share the one connection under an internal mutex; index
 * lookups take a separate short lock and never wait for a write's fsync.
 * Feed subscribers run on the writer thread (see store_subscribe).
 */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cfgkey.h"
#include "format.h"
#include "gray.h"
#include "hc_err.h"

typedef struct store store;

#define STORE_NAME_MAX CFGKEY_NAME_MAX
#define STORE_FORMAT_MAX FMT_NAME_MAX
#define STORE_DETAIL_MAX 512

/*
 * Rollout plans. A gray rule may carry a plan that walks its percent up
 * step by step; the server drives it (store_gray_rollout), the store keeps
 * the plan and where it stands durably, in the rule's row and snapshot.
 */
#define STORE_ROLLOUT_MAX_STEPS 16
#define STORE_ROLLOUT_REASON_MAX 512 /* bytes of an abort's reason; longer is cut */

typedef enum store_rollout_state {
	STORE_ROLLOUT_RUNNING = 1,
	STORE_ROLLOUT_PAUSED,
	STORE_ROLLOUT_ABORTED,
} store_rollout_state;

/* "running", "paused" or "aborted" ("" for anything else). */
const char *store_rollout_state_name(store_rollout_state s);

/* A plan as given. The server validates it; the store checks it again and
 * refuses it with HC_ERR_INVALID, detail naming the field ("rollout.steps[2]:
 * ...", "rollout.interval: ...", "rollout.maxRejected: ...",
 * "rollout.minReports: ..."). */
typedef struct store_rollout_plan {
	int nsteps;			    /* 1..STORE_ROLLOUT_MAX_STEPS */
	int steps[STORE_ROLLOUT_MAX_STEPS]; /* percents in hundredths (0..10000), strictly
					     * increasing */
	int64_t interval_ms;		    /* >= 1 (the server enforces its own minimum) */
	int max_rejected_is_pct; /* 1: max_rejected is in hundredths of a percent (0..10000);
				  * 0: a count */
	int64_t max_rejected;	 /* >= 0 */
	int64_t min_reports;	 /* >= 0 */
} store_rollout_plan;

/* A rule's rollout: its plan and where it stands; part of the immutable rule
 * snapshot, so read-only for everyone but store/. */
typedef struct store_rollout {
	store_rollout_plan plan;
	store_rollout_state state;
	int step;	 /* index into plan.steps of the current percent */
	int64_t step_ms; /* wall-clock ms when the current step began (or was resumed) */
	int64_t next_ms; /* step_ms + plan.interval_ms */
	char *reason;	 /* why it was aborted; "" otherwise (never NULL) */
} store_rollout;

/*
 * One gray rule of a config: an immutable, reference-counted snapshot, read-
 * only for everyone but store/. Instances its match selects get its content
 * in place of the config's main content (see store_gray_effective). Strings
 * are never NULL.
 */
typedef struct store_gray_rule {
	char *name;	     /* follows the config name rules (cfgkey_name_ok) */
	int priority;	     /* the highest priority among matching rules wins */
	int64_t created_rev; /* the revision that created it: the creation order, kept
			      * across replaces; the older rule wins a priority tie */
	int64_t revision;    /* the revision of its last change */
	char *content;	     /* len bytes followed by a NUL */
	size_t len;
	char md5[33];
	char format[STORE_FORMAT_MAX];
	char *match; /* canonical JSON of the match, the fields given only:
		      * {"ips":[..],"labels":"..","percent":5}, in that order */
	char *salt;  /* seeds the percent buckets; fixed when the rule was created */
	char *author, *message;
	int64_t created_ms, updated_ms;
	gray_rule *compiled; /* the match; NULL (matches no instance) when the stored
			      * match no longer compiles, which is logged at load, and
			      * while its rollout is aborted */
	/* The rule's rollout plan and state, NULL when it has none; owned by the
	 * rule. With a plan, match and compiled carry the percent of the current
	 * step (steps[step], as "percent":25 or 12.5 or 0.05), aborted or not. */
	store_rollout *rollout;
	int refs; /* private to store/ (atomic) */
} store_gray_rule;

/* Takes another reference; returns r. */
store_gray_rule *store_gray_rule_ref(store_gray_rule *r);
/* Drops a reference; frees the rule with the last. NULL is a no-op. */
void store_gray_rule_unref(store_gray_rule *r);

/*
 * A config's gray rules: an immutable, reference-counted set of 1 to
 * GRAY_MAX_RULES rules in creation order (oldest first), as gray_pick wants
 * them; compiled[i] and priority[i] are rules[i]'s, ready for gray_pick.
 */
typedef struct store_gray_set {
	size_t n;
	store_gray_rule **rules;
	const gray_rule **compiled;
	int *priority;
	int refs; /* private to store/ (atomic) */
} store_gray_set;

/* Takes another reference; returns g. */
store_gray_set *store_gray_set_ref(store_gray_set *g);
/* Drops a reference; frees the set (and drops its rules) with the last.
 * NULL is a no-op. */
void store_gray_set_unref(store_gray_set *g);
/* The rule named name in g, borrowed from g, or NULL (g NULL included). */
const store_gray_rule *store_gray_find(const store_gray_set *g, const char *name);

/*
 * One config at one version: an immutable, reference-counted snapshot.
 * Every field is read-only for everyone but store/. In list results content
 * is NULL and len 0. Strings are never NULL (empty when unset).
 */
typedef struct store_config {
	char *ns, *group, *data_id;
	char *content; /* len bytes followed by a NUL, or NULL in lists */
	size_t len;
	char md5[33];			/* lowercase hex md5 of content */
	char format[STORE_FORMAT_MAX];	/* text, json, yaml, properties or xml */
	int64_t version;		/* 1, 2, 3... per config, continuing after a delete */
	int64_t revision;		/* server-wide change counter at this version */
	int64_t created_ms, updated_ms; /* Unix ms */
	char *author, *description;
	/* The config's gray rules, or NULL when it has none (always NULL in list
	 * results). Owned by the snapshot: a gray change installs a new snapshot
	 * with the same main version and a new set. */
	store_gray_set *gray;
	int refs; /* private to store/ (atomic) */
} store_config;

/* Takes another reference; returns c. */
store_config *store_config_ref(store_config *c);
/* Drops a reference; frees the snapshot with the last. NULL is a no-op. */
void store_config_unref(store_config *c);

typedef enum store_op {
	STORE_OP_PUBLISH,
	STORE_OP_DELETE,
	STORE_OP_ROLLBACK,
	STORE_OP_GRAY_PUBLISH, /* a gray rule created or replaced */
	STORE_OP_GRAY_PROMOTE, /* a rule's content became the next main version */
	STORE_OP_GRAY_ABORT,   /* a rule removed, or its rollout aborted (the rule stays,
				* matching no instance); its instances went back to main */
	STORE_OP_GRAY_STEP,    /* a rollout moved to another step (another percent) */
	STORE_OP_GRAY_PAUSE,   /* a rollout paused */
	STORE_OP_GRAY_RESUME,  /* a rollout resumed (from paused, or from aborted at step 0) */
} store_op;

/* "publish", "delete", "rollback", "gray-publish", "gray-promote",
 * "gray-abort", "gray-step", "gray-pause" or "gray-resume". */
const char *store_op_name(store_op op);

/*
 * One history entry. Owned by whoever received it; release with
 * store_history_release() (one) or store_history_free() (an array).
 *
 * Every change takes a history version of its own, gray changes included,
 * as deletes always did: a gray-publish, gray-abort, gray-step, gray-pause
 * or gray-resume entry takes the next history version (its content is the
 * rule's) while the config's main version stays, so main versions may skip
 * the numbers of gray entries.
 * A gray-promote entry is the new main version itself.
 */
typedef struct store_history {
	int64_t version, revision;
	store_op op;
	char md5[33];
	char format[STORE_FORMAT_MAX];
	char *author, *message, *source_ip;
	char *gray_rule;  /* gray ops: the rule's name; else "" */
	char *gray_match; /* gray ops: the rule's match (canonical JSON); else "" */
	/* Rollout entries (gray-step, -pause, -resume, the gray-abort of a rollout,
	 * and the gray-publish of a rule with a plan): the rollout after the change,
	 * {"state":"running","step":1,"percent":12.5,"steps":[5,12.5,100],
	 * "reason":""}; a gray-promote by store_gray_rollout: its summary as given;
	 * else "". Never NULL. */
	char *rollout;
	int64_t change_id; /* the change request that published it; 0: a direct write */
	int64_t created_ms;
	char *content; /* NULL in lists; len bytes + NUL from store_history_get() */
	size_t len;
} store_history;

void store_history_release(store_history *h);
void store_history_free(store_history *items, size_t n);

typedef struct store_namespace {
	char *id, *name, *description;
	int64_t created_ms;
	int64_t config_count;
	int review_required;  /* approvals a change request needs; 0: not protected */
	char *anonymous_read; /* CIDRs (comma list) that may read without a credential; "" none */
	char *source; /* what feeds it ("git URL (ref R, path P)"); "" written through the API */
} store_namespace;

void store_namespaces_free(store_namespace *items, size_t n);

/*
 * Validates content as format inside the write's transaction; on failure it
 * returns an error and writes a sentence for the user into detail[cap].
 */
typedef hc_err (*store_check_fn)(const char *format, const char *content, size_t len, char *detail,
				 size_t cap);

/* A change to one config. Pointers are borrowed for the call only. */
typedef struct store_write {
	const char *ns, *group, *data_id;
	const char *content; /* publish only; len bytes */
	size_t len;
	const char *format; /* publish: NULL keeps the previous, "text" when new */
	/* publish: the format the caller validated content as (NULL: none). When
	 * the format resolved inside the transaction differs (format NULL and a
	 * concurrent write changed it), check runs there before anything is
	 * written, so what is committed is always valid for its committed format.
	 * check NULL means the content needs no validation. */
	const char *checked_format;
	store_check_fn check;
	const char *description; /* publish: NULL keeps the previous, "" when new */
	const char *author;	 /* NULL means "" */
	const char *message;	 /* NULL means "" */
	const char *source_ip;	 /* NULL means "" */
	const char *if_match;	 /* NULL, or the md5 the current version must have;
				  * "*": the config must exist, whatever its md5 */
	int create_only;	 /* publish: fail with HC_ERR_PRECONDITION if it exists */
	const char *audit_role;	 /* not NULL: the change is written to the audit log, in its
				  * own transaction, as done by author in this role */
	int64_t now_ms;		 /* the time recorded for the change */
	/* The change request this write is an item of (store_cr_publish sets it;
	 * 0: a direct write). A direct publish, delete, rollback, gray put or
	 * manual promote in a namespace that requires review fails with
	 * HC_ERR_CONFLICT, decided inside the write's transaction. */
	int64_t change_id;
	/* 1 only for the writes of the git source's sync: they may go to a
	 * namespace fed from a source, where every other publish, delete,
	 * rollback, gray put or promote fails with HC_ERR_CONFLICT naming the
	 * source, and are not gated by review (the review is the repository's). */
	int from_source;
} store_write;

/* What a write did. On an error, detail says why in words for the user. */
typedef struct store_result {
	int64_t version;  /* the config's version after the call */
	int64_t revision; /* the server revision of that version */
	char md5[33];
	int created; /* 1 when the config did not exist before (publish, rollback) */
	int changed; /* 0 when the call was a no-op (identical content and format) */
	char detail[STORE_DETAIL_MAX];
} store_result;

/* On success *out owns the handle; release it with store_close(). On failure
 * *out is NULL and the reason was logged. Creates the file if missing, applies
 * the embedded migrations in order, refuses (HC_ERR_SCHEMA) a database whose
 * schema is newer than this binary, and loads the index. */
hc_err store_open(const char *path, store **out);
/* Closes the database cleanly (checkpointing the WAL). NULL is a no-op. */
void store_close(store *st);

/*
 * The change feed. One entry per change installed in the index; see
 * store_subscribe for when and where subscribers hear of it.
 */
typedef enum store_change_kind {
	STORE_CHANGE_CONTENT, /* a new version (publish, rollback, gray promote): main
			       * content may differ, and after a promote so does gray */
	STORE_CHANGE_DELETE,  /* the config is gone (its delete entry is in history) */
	STORE_CHANGE_META,    /* metadata only (description): same version and content, so
			       * no watcher's answer can change */
	STORE_CHANGE_GRAY,    /* the gray rule set changed (a rule created, replaced or
			       * aborted, or its rollout moved: op gray-step, gray-pause,
			       * gray-resume or gray-abort): same main version and content;
			       * an instance's effective content may differ (compare
			       * previous->gray and config->gray with store_gray_effective) */
} store_change_kind;

typedef struct store_change {
	store_change_kind kind;
	store_op op;		      /* the history op of the version (publish for META) */
	const cfgkey *key;	      /* the config */
	store_config *config;	      /* the new snapshot, NULL after a delete; borrowed:
				       * take a reference to keep it past the call */
	const store_config *previous; /* the snapshot replaced, NULL when it was created */
	int64_t revision;	      /* the server revision after the change */
	const char *message;	      /* the write's message, "" when none */
	const char *author;	      /* the write's author, "" when none */
	const char *gray_rule;	      /* GRAY changes and promotes: the rule's name; else NULL */
	int batch_end;		      /* 1 on the last change of one COMMIT */
} store_change;

/* Called once per change; ch and everything it points to is valid only
 * during the call. */
typedef void (*store_feed_fn)(void *ctx, const store_change *ch);
/* Called once after the writes of a commit that announced changes have all
 * completed (their callbacks run, their callers woken). */
typedef void (*store_feed_done_fn)(void *ctx);

/*
 * Adds fn to the subscribers of the change feed; they are never removed, and
 * should be added before writes begin (a write committed earlier is not
 * replayed). Every subscriber is called once for every change, on the
 * store's writer thread, after the COMMIT that made it durable and after the
 * index holds every change of that COMMIT (so a reader woken by the first
 * change of a batch already sees the last), without any store lock held,
 * strictly in revision order (META changes carry the revision they left in
 * place), and before the writes of that commit complete. done, when not
 * NULL, is called after they complete: a subscriber that wakes thousands of
 * watchers does it from there, so the writers' answers go out first. A subscriber must
 * be quick and must not call the synchronous write functions (the writer
 * thread would wait for itself); reads and the _async writes are fine.
 */
void store_subscribe(store *st, store_feed_fn fn, store_feed_done_fn done, void *ctx);

/* HC_OK when the database answers a query. */
hc_err store_ping(store *st);

typedef enum store_health_state {
	STORE_HEALTH_OK,
	STORE_HEALTH_FILE_GONE, /* the database file was deleted or replaced under us */
	STORE_HEALTH_DISK_FULL, /* the last write found the disk full */
	STORE_HEALTH_READ_ONLY, /* the last write found the database read-only */
	STORE_HEALTH_IO_ERROR,	/* the last write failed on I/O */
} store_health_state;

/*
 * The store's health: whether its file is still the one it opened (checked
 * now) and what its last write found. reason[cap] gets a sentence when it
 * is not OK. A write that commits clears a disk or I/O state. Any thread.
 *
 * When a write finds the disk full the store frees the space it keeps in
 * reserve (a file beside the database) and, until space is back, refuses
 * publishes and rollbacks at once (HC_ERR_NO_SPACE) so that deletes and
 * history pruning, which free space, can still commit. It leaves that
 * state, and makes its reserve again, once the disk has room for it twice.
 */
store_health_state store_health(store *st, char *reason, size_t cap);
/* The server revision: the number of changes ever committed. */
int64_t store_revision(store *st);

/* The current version of a config from memory, no SQL. *out gets a reference
 * the caller drops with store_config_unref(). HC_ERR_NOT_FOUND when absent. */
hc_err store_get_key(store *st, const cfgkey *key, store_config **out);
/* The current versions of every config in scope (a cfgkey_init_scope key),
 * at one instant and ordered by key: *out (free it; drop each with
 * store_config_unref) gets *n references. HC_ERR_TOO_BIG, and nothing
 * returned, when the scope holds more than max. No SQL; one hold of the
 * index lock, over a walk of the whole index. Any thread. */
hc_err store_get_scope(store *st, const cfgkey *scope, size_t max, store_config ***out, size_t *n);
/* The current versions of n configs at one instant: out[i] gets a
 * reference to keys[i]'s snapshot (drop each with store_config_unref), or
 * NULL when absent. Every change of one COMMIT is installed at one instant
 * too, so the answer never holds half of a commit (a change request's items
 * included). No SQL; one hold of the index lock. Any thread. */
void store_get_keys(store *st, const cfgkey *const *keys, size_t n, store_config **out);
/* store_get_key by names (HC_ERR_NOT_FOUND for a name no config can have). */
hc_err store_get(store *st, const char *ns, const char *group, const char *data_id,
		 store_config **out);
/* Like store_get_key but copies md5 and version out (either may be NULL).
 * HC_ERR_NOT_FOUND when absent. Cheap: for watch checks. */
hc_err store_peek(store *st, const cfgkey *key, char md5[33], int64_t *version);

/* Publishes content as the next version. Identical content and format (and no
 * new description) is a no-op that returns the current version with changed 0.
 * HC_ERR_NOT_FOUND: the namespace does not exist. HC_ERR_PRECONDITION: if_match
 * or create_only did not hold. */
hc_err store_publish(store *st, const store_write *w, store_result *res);
/* Deletes a config; history keeps a delete entry (a version of its own, with
 * empty content). HC_ERR_NOT_FOUND when absent. */
hc_err store_delete(store *st, const store_write *w, store_result *res);
/* Publishes the content and format of history version `version` as a new
 * version (op rollback), re-creating a deleted config. It never deletes.
 * HC_ERR_NOT_FOUND: no such version (or pruned). HC_ERR_CONFLICT: that version
 * is a delete entry. Rolling back to content equal to the current is a no-op. */
hc_err store_rollback(store *st, const store_write *w, int64_t version, store_result *res);

/* Called once when an asynchronous write is complete: committed (err HC_OK)
 * or failed. It runs on the store's writer thread (or, for arguments refused
 * before queueing, on the caller's) after the index holds the change and the
 * feed has announced it; res is valid only during the call. It must not call
 * the store's synchronous write functions. */
typedef void (*store_done_fn)(void *cls, hc_err err, const store_result *res);

/* Like store_publish, store_delete and store_rollback, but they return at
 * once and done(cls, ...) runs exactly once when the write is complete. The
 * store copies *w itself, but everything its pointers point to must stay
 * valid until done runs. Concurrent writes share one commit (group commit),
 * so a caller that does not wait lets many writes share each fsync. */
void store_publish_async(store *st, const store_write *w, store_done_fn done, void *cls);
void store_delete_async(store *st, const store_write *w, store_done_fn done, void *cls);
void store_rollback_async(store *st, const store_write *w, int64_t version, store_done_fn done,
			  void *cls);

/*
 * Gray release. A config may hold up to GRAY_MAX_RULES gray rules; each
 * names a match (ips, labels, percent: ANDed, at least one given) and the
 * content the instances it selects get in place of the main content. Rules
 * live in the config's snapshot (store_config.gray), loaded at open and
 * replaced, like content, by each change; the reads below never run SQL.
 * A rule needs a config: on a config that does not exist (no main version
 * yet, or deleted) the writes fail with HC_ERR_NOT_FOUND ("publish the
 * config first"), and deleting a config that holds rules fails with
 * HC_ERR_CONFLICT until they are promoted or aborted.
 *
 * The writes run like publish: queued to the writer thread, decided inside
 * the batch's transaction from the database, one revision and one history
 * entry each (op gray-publish, gray-abort or gray-promote, naming the rule
 * and its match), an audit entry in the same savepoint when w->audit_role is
 * set, and after the COMMIT a new snapshot and one change on the feed:
 * STORE_CHANGE_GRAY for a put or an abort, STORE_CHANGE_CONTENT (op
 * gray-promote) for a promote, whose new snapshot holds both the new main
 * version and the set without the rule. previous and config carry the old
 * and the new rule sets, so a subscriber can tell, per instance, whether its
 * effective content changed. A main publish or rollback keeps the rules.
 */

/* A match as given: a field is left out when has_ips is 0, labels NULL or
 * percent NULL. Pointers are borrowed for the call (the _async call: until
 * its done runs). See gray.h for each field's grammar. */
typedef struct store_gray_match {
	const char *const *ips; /* nips addresses or CIDR ranges */
	size_t nips;
	int has_ips;
	const char *labels;  /* a label selector */
	const char *percent; /* "0".."100", at most two decimals */
} store_gray_match;

/* What store_gray_put writes besides *w. */
typedef struct store_gray_spec {
	const char *name; /* the rule: follows the config name rules */
	int priority;
	store_gray_match match;
	const char *salt; /* a new rule's salt (what a preview used); NULL: a fresh
			   * one. A replace takes NULL or the rule's own. */
	/* The rule's rollout plan, NULL for none (copied by the _async form). With
	 * a plan, match.percent must be NULL (the percent is the current step's)
	 * and the other match fields may all be left out. */
	const store_rollout_plan *rollout;
} store_gray_spec;

/*
 * Creates or replaces rule g->name of the config w names, with w's content
 * and format (format NULL: the rule's own when it is replaced, else the
 * config's). w->if_match is the rule's md5 ("*": the rule must exist) and
 * w->create_only says it must not; w->check and w->checked_format validate
 * content as for a publish. A replace keeps the rule's salt (so its percent
 * buckets) and its place in the creation order. Identical content, format,
 * priority and match is a no-op (changed 0). res: md5 is the rule's, version
 * the config's main version (unchanged), revision that of the change,
 * created 1 for a new rule. HC_ERR_INVALID (nothing changes, detail names
 * the field): a bad name, match, format or content, or a 17th rule.
 * HC_ERR_NOT_FOUND: no such namespace or config. HC_ERR_PRECONDITION.
 */
hc_err store_gray_put(store *st, const store_write *w, const store_gray_spec *g, store_result *res);
/*
 * Rollouts (g->rollout not NULL) in store_gray_put: a new rule starts
 * RUNNING at step 0 with step_ms = now and next_ms = now + interval, "now"
 * being the wall clock (clock_wall_ms) when the write runs. A replace with
 * identical content, format, priority, match and plan is a no-op, whatever
 * step the rollout is at; any other replace with a plan starts again at
 * step 0 from now, RUNNING if it was running or had no plan, PAUSED if it
 * was paused, ABORTED (matching nothing, its reason kept) if it was aborted.
 * A replace without a plan drops the rule's plan. The rule's gray-publish
 * history entry carries the rollout's JSON (store_history.rollout).
 */

/* Aborts rule `rule`: it is removed and its instances get the main content
 * again (history op gray-abort, with the rule's content). w->if_match is
 * the rule's md5. res: md5 and version are the main version's.
 * HC_ERR_NOT_FOUND: no such config or rule. */
hc_err store_gray_delete(store *st, const store_write *w, const char *rule, store_result *res);
/* Promotes rule `rule`: in one transaction its content and format become
 * the config's next main version (history op gray-promote; always a new
 * version, even when the content equals the main one) and the rule is
 * removed; w->description NULL keeps the description. The content is not
 * validated again: it was when the rule was put. w->if_match is the rule's
 * md5. res describes the new main version. HC_ERR_NOT_FOUND: no such
 * config or rule. */
hc_err store_gray_promote(store *st, const store_write *w, const char *rule, store_result *res);
/* The asynchronous forms, as store_publish_async; *g and rule are copied
 * (the strings and arrays they point to are not). */
void store_gray_put_async(store *st, const store_write *w, const store_gray_spec *g,
			  store_done_fn done, void *cls);
void store_gray_delete_async(store *st, const store_write *w, const char *rule, store_done_fn done,
			     void *cls);
void store_gray_promote_async(store *st, const store_write *w, const char *rule, store_done_fn done,
			      void *cls);

typedef enum store_rollout_action {
	STORE_ROLLOUT_STEP,    /* to step to_step (current < to_step < nsteps): the percent
				* becomes steps[to_step], step_ms now; op gray-step */
	STORE_ROLLOUT_PAUSE,   /* RUNNING -> PAUSED; op gray-pause */
	STORE_ROLLOUT_RESUME,  /* PAUSED -> RUNNING at the same step, step_ms now; ABORTED ->
				* RUNNING at step 0 (reason cleared, matching again); op
				* gray-resume */
	STORE_ROLLOUT_ABORT,   /* RUNNING or PAUSED -> ABORTED with reason; the rule stays,
				* matching no instance; op gray-abort */
	STORE_ROLLOUT_PROMOTE, /* as store_gray_promote (the rule removed, its content the
				* next main version, op gray-promote); the entry's rollout
				* column gets summary */
} store_rollout_action;

/* One move of a rollout. Strings are borrowed for the call (the _async
 * call: until its done runs); *m itself is copied. */
typedef struct store_rollout_move {
	store_rollout_action action;
	int to_step;	     /* STEP only */
	int expect_step;     /* -1: any; else the rollout must be at this step */
	int expect_state;    /* 0: any; else the rollout must be in this state */
	const char *reason;  /* ABORT: why (required; cut to STORE_ROLLOUT_REASON_MAX bytes) */
	const char *summary; /* PROMOTE: a JSON object as text, stored verbatim in
			      * history.rollout; NULL: "" */
} store_rollout_move;

/*
 * Moves the rollout of rule `rule`, decided inside the batch transaction
 * like the other gray writes. STEP and PROMOTE apply to a RUNNING or PAUSED
 * rollout (a paused one stays paused after a STEP); STEP, PAUSE, RESUME and
 * ABORT never change the rule's content or md5. Every move is one revision,
 * one history entry (the rule's name, its match after the move, its content
 * and md5, w->message or, for an ABORT without one, the reason, and the
 * rollout's JSON), an audit entry when w->audit_role is set, and one change
 * on the feed: STORE_CHANGE_GRAY with op gray-step, gray-pause, gray-resume
 * or gray-abort and previous/config holding the old and new rule sets, or
 * for PROMOTE STORE_CHANGE_CONTENT with op gray-promote. res: md5 the
 * rule's (PROMOTE: the new main version's), version the config's main
 * version, revision that of the move.
 * HC_ERR_NOT_FOUND: no such config or rule. HC_ERR_CONFLICT (detail says
 * why): the rule has no rollout, or the move does not apply to its state
 * (pause when not running, resume when running, step, pause or promote
 * when aborted, abort when aborted, to_step out of range).
 * HC_ERR_PRECONDITION: expect_step, expect_state or w->if_match (the rule's
 * md5) does not hold. HC_ERR_INVALID: an ABORT without a reason, an
 * unknown action. Nothing changes on an error.
 */
hc_err store_gray_rollout(store *st, const store_write *w, const char *rule,
			  const store_rollout_move *m, store_result *res);
/* The asynchronous form, as store_publish_async; *m is copied, its strings
 * are not. */
void store_gray_rollout_async(store *st, const store_write *w, const char *rule,
			      const store_rollout_move *m, store_done_fn done, void *cls);
/* Calls fn for every rule (of every config) whose rollout is RUNNING, from
 * memory (no SQL), under the index lock: fn must be quick and must not call
 * into the store. key and r are borrowed for the call (take a reference to
 * keep r). Any thread. */
void store_gray_rollouts(store *st,
			 void (*fn)(void *ctx, const cfgkey *key, const store_gray_rule *r),
			 void *ctx);

/* The config's rule set from memory, no SQL: *out gets a reference (drop it
 * with store_gray_set_unref), NULL when the config has no rules.
 * HC_ERR_NOT_FOUND when the config is absent. */
hc_err store_gray_list(store *st, const cfgkey *key, store_gray_set **out);
/* One rule from memory: *out gets a reference (store_gray_rule_unref).
 * HC_ERR_NOT_FOUND when the config or the rule is absent. */
hc_err store_gray_get(store *st, const cfgkey *key, const char *name, store_gray_rule **out);

/* What one instance is served: the config's main content, or a rule's. */
typedef struct store_effective {
	const char *content; /* len bytes followed by a NUL */
	size_t len;
	const char *md5, *format;
	const store_gray_rule *rule; /* the deciding rule, or NULL for main */
} store_effective;

/* The effective content of c for instance inst (NULL: an instance no
 * rule's match can select, so main): the highest-priority rule whose match
 * selects it, the older of equal priorities, else main (gray_pick). Every
 * pointer in *out is borrowed from c and valid while the caller holds c.
 * c must be a snapshot with content (not a list entry). Any thread. */
void store_gray_effective(const store_config *c, const gray_inst *inst, store_effective *out);

/* Lists current configs, metadata only, ordered by namespace, group, dataId.
 * ns and group filter exactly when not NULL; q, when not NULL, is a
 * case-insensitive substring of dataId or group. *items (caller frees each
 * with store_config_unref and the array with free) gets at most limit entries
 * starting at offset; *total counts every match. */
hc_err store_list(store *st, const char *ns, const char *group, const char *q, int64_t offset,
		  int64_t limit, store_config ***items, size_t *n, int64_t *total);
/* store_list within the nallow namespaces of allow (nallow 0: no limit);
 * what a caller who may read only some namespaces sees. */
hc_err store_list_in(store *st, const char *const *allow, size_t nallow, const char *ns,
		     const char *group, const char *q, int64_t offset, int64_t limit,
		     store_config ***items, size_t *n, int64_t *total);

/* History of a config, newest first, without content; readable after delete.
 * HC_ERR_NOT_FOUND when the config never existed (no entries at all). */
hc_err store_history_list(store *st, const char *ns, const char *group, const char *data_id,
			  int64_t offset, int64_t limit, store_history **items, size_t *n,
			  int64_t *total);
/* One history entry with its content. HC_ERR_NOT_FOUND when absent. */
hc_err store_history_get(store *st, const char *ns, const char *group, const char *data_id,
			 int64_t version, store_history *out);

/* Every namespace with its number of current configs, ordered by id. */
hc_err store_namespaces(store *st, store_namespace **items, size_t *n);
/* HC_ERR_CONFLICT when the id exists. */
hc_err store_namespace_create(store *st, const char *id, const char *name, const char *description,
			      int64_t now_ms);
/* HC_ERR_FORBIDDEN for "public", HC_ERR_NOT_FOUND when absent, HC_ERR_CONFLICT
 * while it holds configs. */
hc_err store_namespace_delete(store *st, const char *id);

/* Deletes history entries created before older_than_ms that are not among the
 * newest keep_versions (>= 1) entries of their config, at most max_rows per
 * call, so a caller can prune in small transactions. The newest entry of a
 * config (its current version, or its delete) is never pruned. Gray rule
 * entries (gray-publish, gray-abort and the rollout moves) count apart: the
 * newest keep_versions of those are kept too, and never push a main entry
 * out. Entries above the store_prune_hold revision are kept whatever their
 * age. *deleted gets the number removed. */
hc_err store_prune(store *st, int64_t older_than_ms, int64_t keep_versions, int64_t max_rows,
		   int64_t *deleted);

/*
 * The revision log: every committed change is one history entry with a
 * revision of its own (1, 2, 3, ... server-wide), so a reader that has seen
 * revision R catches up with the entries above R (a git mirror does).
 */
typedef struct store_log_entry {
	char *ns, *group, *data_id;
	store_history h; /* with its content */
	/* Gray entries (every op but publish, delete, rollback): the rule after
	 * the change, its priority, salt and rollout plan as JSON
	 * ({"steps":[500,10000],"intervalMs":..,"maxRejected":..,"maxRejectedPct":0|1,
	 * "minReports":..}, steps in hundredths; "" without a plan). Entries
	 * written before schema 7 have 0 and "". */
	int gray_priority;
	char *gray_salt, *gray_plan;
} store_log_entry;

/* Frees n entries and the array. NULL is a no-op. */
void store_log_free(store_log_entry *items, size_t n);
/* At most limit entries with a revision above after, in revision order;
 * *items (caller frees with store_log_free) gets them, *n their number (0:
 * nothing newer). Entries store_prune removed are missing: a reader sees a
 * gap in the revisions. Any thread. */
hc_err store_log_since(store *st, int64_t after, size_t limit, store_log_entry **items, size_t *n);
/* From now on store_prune keeps every entry with a revision above rev (a
 * reader has not seen them yet); INT64_MAX, as at open, holds nothing.
 * Only in memory: a store opened without a reader prunes as before. Any
 * thread. */
void store_prune_hold(store *st, int64_t rev);

/*
 * Fault injection, for tests (as SQLite's test VFS does for its own): the
 * store answers as if SQLite had failed, so tests can show every error path
 * and that a failed batch changes nothing. Harmless when never armed.
 */
typedef enum store_fault_point {
	STORE_FAULT_COMMIT, /* the COMMIT of a write batch */
	STORE_FAULT_WRITE,  /* any statement that changes the database inside a batch */
} store_fault_point;

typedef enum store_fault_kind {
	STORE_FAULT_IO,	      /* SQLITE_IOERR: the disk failed */
	STORE_FAULT_BUSY,     /* SQLITE_BUSY: another connection holds the lock */
	STORE_FAULT_FULL,     /* SQLITE_FULL: no space left */
	STORE_FAULT_READONLY, /* SQLITE_READONLY: the database cannot be written */
} store_fault_kind;

/* Makes the executions of point number after+1 .. after+count fail with
 * kind; count 0 disarms. Any thread. */
void store_fault_arm(store *st, store_fault_point point, store_fault_kind kind, int after,
		     int count);
/* While held, the writer thread takes no new batch: writes queued meanwhile
 * all run as one batch after store_fault_hold(st, 0). Any thread. */
void store_fault_hold(store *st, int hold);

#endif
