/*
 * store_change: change requests, the store's side (SQL only: who may submit,
 * approve or publish is decided in server/). A change request groups edits
 * to one or more configs of one namespace; it is drafted, reviewed and then
 * published in one transaction (store_cr_publish), now or at a time.
 *
 * Every decision that depends on what is stored is made inside the
 * transaction that acts on it: a transition checks the request's state and
 * rev there, an approval counts the approvals and reads the namespace's
 * review setting there, a publish checks every item's base there and marks
 * the request published (or failed) in the same COMMIT as its configs, so a
 * request publishes at most once, whoever asks and however often.
 *
 * The bookkeeping functions (create, update, move, get, list, due) are one
 * short transaction each on the store's connection, under db_lock, durable
 * when they return HC_OK; each writes its audit entry in that transaction.
 * store_cr_publish is a write like store_publish: queued to the writer
 * thread, one revision per changed config, the changes announced on the feed
 * after the COMMIT. Any thread.
 */
#ifndef HC_STORE_CHANGE_H
#define HC_STORE_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_CR_MAX_ITEMS 100
#define STORE_BATCH_MAX_ITEMS 10000 /* the writes of one store_batch (an import) */
#define STORE_CR_TITLE_MAX 200
#define STORE_CR_TEXT_MAX 4000 /* a description, a comment, a reason */

typedef enum store_cr_state {
	STORE_CR_DRAFT = 1,
	STORE_CR_OPEN,	    /* submitted: in review */
	STORE_CR_APPROVED,  /* has the approvals its namespace requires */
	STORE_CR_REJECTED,  /* an edit makes it a draft again */
	STORE_CR_SCHEDULED, /* publishes at scheduled_ms */
	STORE_CR_PUBLISHED, /* final */
	STORE_CR_FAILED,    /* final: its scheduled publish could not be made */
	STORE_CR_CANCELLED, /* final */
} store_cr_state;

/* "draft", "open", ...; "" for anything else. */
const char *store_cr_state_name(store_cr_state s);
/* The state named name, or 0. */
store_cr_state store_cr_state_parse(const char *name);

typedef enum store_cr_op {
	STORE_CR_PUBLISH = 1, /* content (and format) as the config's next version */
	STORE_CR_DELETE,      /* the config */
	STORE_CR_GRAY_SET,    /* create or replace gray rule `rule` (spec + content) */
	STORE_CR_GRAY_REMOVE, /* abort gray rule `rule` */
	STORE_CR_GRAY_PROMOTE /* promote gray rule `rule` to the main version */
} store_cr_op;

/* "publish", "delete", "gray-set", "gray-remove", "gray-promote"; "" else. */
const char *store_cr_op_name(store_cr_op op);
store_cr_op store_cr_op_parse(const char *name);

/* One edit. Strings are never NULL in what the store returns. */
typedef struct store_cr_item {
	store_cr_op op;
	char *group, *data_id;
	char *rule;    /* gray ops: the rule's name; else "" */
	char *content; /* publish, gray-set: len bytes + NUL; else "" */
	size_t len;
	char *format;	      /* publish, gray-set: the format, "" to keep the current */
	char *spec;	      /* gray-set: the rule's priority, match and rollout as JSON */
	char md5[33];	      /* publish, gray-set: md5 of content */
	char base_md5[33];    /* what it was based on (the config's or the rule's md5), ""
			       * when that did not exist */
	int64_t base_version; /* the config's version then (0: it did not exist) */
} store_cr_item;

/* One event of a request's life, oldest first. */
typedef struct store_cr_event {
	int64_t at_ms, rev;
	char *actor, *kind, *text;
} store_cr_event;

typedef struct store_cr {
	int64_t id;
	char *ns, *title, *description, *author;
	store_cr_state state;
	int64_t rev; /* counts its changes: 1 when created */
	int64_t created_ms, updated_ms;
	int64_t scheduled_ms; /* 0: not scheduled */
	int64_t published_ms, published_rev;
	char *published_by, *reason;
	int review_required;  /* the namespace's, when the request was read */
	int approvals;	      /* approvals of its current rev by others than its author */
	store_cr_item *items; /* store_cr_list: without content */
	size_t nitems;
	store_cr_event *events; /* store_cr_get only */
	size_t nevents;
} store_cr;

void store_cr_release(store_cr *cr);
void store_crs_free(store_cr *v, size_t n);

/* What a new request or an edit gives. Pointers are borrowed for the call;
 * the items' md5 fields must be filled in. */
typedef struct store_cr_input {
	const char *ns, *title, *description; /* description NULL: "" (edit: keep) */
	const store_cr_item *items;	      /* edit: NULL keeps the items */
	size_t nitems;
	const char *actor, *role, *source_ip; /* for the audit entry and the event */
	int64_t now_ms;
} store_cr_input;

/* A new draft; *id gets its id. HC_ERR_NOT_FOUND: no such namespace.
 * HC_ERR_INVALID (detail): no items, too many, or a title out of bounds. */
hc_err store_cr_create(store *st, const store_cr_input *in, int64_t *id, char *detail, size_t cap);
/* Edits a draft or a rejected request (which becomes a draft again; its
 * approvals lapse with its rev). expect_rev -1: any. HC_ERR_NOT_FOUND,
 * HC_ERR_CONFLICT (not editable in its state), HC_ERR_PRECONDITION (rev). */
hc_err store_cr_update(store *st, int64_t id, int64_t expect_rev, const store_cr_input *in,
		       char *detail, size_t cap);

typedef enum store_cr_action {
	STORE_CR_SUBMIT = 1, /* draft -> open */
	STORE_CR_APPROVE,    /* open: one more approval; -> approved when there are enough */
	STORE_CR_REJECT,     /* open or approved -> rejected (text: why) */
	STORE_CR_CANCEL,     /* any state but the final ones -> cancelled */
	STORE_CR_SCHEDULE,   /* approved (or, unprotected, draft or open) -> scheduled at_ms */
	STORE_CR_COMMENT,    /* any state: text added */
} store_cr_action;

typedef struct store_cr_move {
	store_cr_action action;
	int64_t expect_rev; /* -1: any */
	const char *text;   /* a comment, a reason; NULL: "" */
	int64_t at_ms;	    /* SCHEDULE: when */
	const char *actor, *role, *source_ip;
	int64_t now_ms;
} store_cr_move;

/* One move of request id of namespace ns; on success *state_out (when not
 * NULL) gets its state after. An approval by the request's author, or a
 * second one by the same actor for the same rev, is HC_ERR_CONFLICT; so is a
 * move its state does not allow, and scheduling a request of a protected
 * namespace that is not approved. HC_ERR_NOT_FOUND, HC_ERR_PRECONDITION
 * (rev), HC_ERR_INVALID (a comment or reason missing or too long). */
hc_err store_cr_move_to(store *st, const char *ns, int64_t id, const store_cr_move *m,
			store_cr_state *state_out, char *detail, size_t cap);

/* One request with its items (content included) and events.
 * HC_ERR_NOT_FOUND when ns holds no request id. */
hc_err store_cr_get(store *st, const char *ns, int64_t id, store_cr *out);
/* The requests of ns, newest first, items without content and no events;
 * state 0: any. *total counts every match. */
hc_err store_cr_list(store *st, const char *ns, store_cr_state state, int64_t offset, int64_t limit,
		     store_cr **v, size_t *n, int64_t *total);
/* Scheduled requests due at now_ms (scheduled_ms <= now_ms), oldest first,
 * at most max, without items or events; *next_ms gets the earliest
 * scheduled_ms still ahead, 0 when none. */
hc_err store_cr_due(store *st, int64_t now_ms, size_t max, store_cr **v, size_t *n,
		    int64_t *next_ms);

/* Deletes up to max requests that ended (published, failed, cancelled)
 * before before_ms, with their items and events, oldest first; *deleted
 * counts them (less than max: none are left). */
hc_err store_cr_prune(store *st, int64_t before_ms, int64_t max, int64_t *deleted);

/* A namespace's review setting: how many approvals by others than the
 * author a request needs (0: not protected). HC_ERR_NOT_FOUND. */
hc_err store_namespace_review(store *st, const char *ns, int *required);
hc_err store_namespace_set_review(store *st, const char *ns, int required, const char *actor,
				  const char *role, const char *source_ip, int64_t now_ms);
/* Opens namespace ns to credential-less reads from cidrs (a comma list of
 * checked CIDRs; "" closes it), audited as namespace-anonymous-read.
 * HC_ERR_NOT_FOUND. */
hc_err store_namespace_set_anonymous(store *st, const char *ns, const char *cidrs,
				     const char *actor, const char *role, const char *source_ip,
				     int64_t now_ms);

/* Marks the n namespaces of ids as fed from source ("git URL (ref R,
 * path P)"), creating those that do not exist (named as their id), and every other
 * namespace with a source as written through the API again: one
 * transaction, each change audited (namespace-source, by "git"). With n 0
 * it clears every namespace's source (a server started without one). A
 * namespace with a source refuses writes other than the sync's
 * (store_write.from_source). HC_ERR_INVALID: an id that is no valid name. */
hc_err store_namespace_set_sources(store *st, const char *const *ids, size_t n, const char *source,
				   int64_t now_ms);

/* One item of a publish, ready for the writer: what store_gray_put and the
 * others take. w's change_id, message, author and audit_role are the
 * publish's (store_cr_publish sets them); if_match and create_only are
 * ignored: every item's base is checked against its base_md5. */
typedef struct store_cr_write {
	store_cr_op op;
	store_write w;
	store_gray_spec g; /* gray ops: g.name the rule; gray-set: the whole rule */
	const char *base_md5;
} store_cr_write;

typedef struct store_cr_publish_req {
	const char *ns;
	int64_t id;
	int64_t expect_rev;	     /* the rev the items were built from (-1: any) */
	const store_cr_write *items; /* in order; borrowed (async: until done runs) */
	size_t nitems;
	int scheduled; /* the scheduler: the request must be scheduled; a stale base
			* or a failed item marks it failed (committed) and says why */
	int force;     /* an admin's: the approvals are not required */
	const char *actor, *role, *source_ip;
	int64_t now_ms;
} store_cr_publish_req;

/*
 * Publishes request p->id: every item commits in one savepoint of one
 * transaction, or none does. Its history entries carry the request's id
 * (store_history.change_id) and its title as their message; the request
 * becomes published in the same transaction, with an event and an audit
 * entry. res: revision the last change's, version and md5 those of the last
 * item's config, changed 0 when no item changed anything.
 * HC_ERR_CONFLICT (detail names the configs): a base changed since an item
 * was added ("re-base by editing"), the request is not in a state that may
 * publish, or it needs more approvals. HC_ERR_PRECONDITION: its rev is not
 * p->expect_rev. An item that fails (invalid content, a rule over the cap...)
 * fails the publish with its error, detail "items[i] (group/dataId): ...".
 * With p->scheduled a stale base or a failed item leaves the request failed
 * with that reason, committed (and still returns the error).
 */
hc_err store_cr_publish(store *st, const store_cr_publish_req *p, store_result *res);
/* The asynchronous form: *p is copied, everything it points to is not. */
void store_cr_publish_async(store *st, const store_cr_publish_req *p, store_done_fn done,
			    void *cls);

/* Writes to one namespace that are not a change request (a namespace
 * import): 1 to STORE_BATCH_MAX_ITEMS publishes and deletes. */
typedef struct store_batch_req {
	const char *ns;
	const store_cr_write *items; /* base_md5 each: "" when it must be absent */
	size_t nitems;
	const char *message;			 /* every history entry's */
	const char *audit_action, *audit_detail; /* one audit entry for the batch */
	const char *actor, *role, *source_ip;
	int64_t now_ms;
} store_batch_req;

/*
 * As store_cr_publish without a request: every base is checked and every
 * item commits in one savepoint of one transaction, or none does, each with
 * a normal history entry (change_id 0) and its watchers woken after the
 * COMMIT. A namespace that requires review refuses it (its first item fails:
 * a direct write). HC_ERR_CONFLICT (detail names the configs): a base
 * changed since the caller looked.
 */
void store_batch_async(store *st, const store_batch_req *b, store_done_fn done, void *cls);
hc_err store_batch(store *st, const store_batch_req *b, store_result *res);

#endif
