/*
 * store_auth: the store's accounts, grants, credentials and audit log (SQL
 * only: who may do what is decided in server/auth.c). Each function is one
 * short transaction on the store's connection, under its db_lock, durable
 * when it returns HC_OK. Strings handed back are the caller's (free them
 * with the matching _release/_free). Any thread.
 */
#ifndef HC_STORE_AUTH_H
#define HC_STORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct store_user {
	char *name, *pw_hash;
	int admin;
	int64_t created_ms, changed_ms;
} store_user;

void store_user_release(store_user *u);
void store_users_free(store_user *v, size_t n);

/* HC_ERR_CONFLICT when the name exists. */
hc_err store_user_create(store *st, const char *name, const char *pw_hash, int admin,
			 int64_t now_ms);
/* HC_ERR_NOT_FOUND when absent. */
hc_err store_user_get(store *st, const char *name, store_user *out);
/* Every user, by name. */
hc_err store_users(store *st, store_user **v, size_t *n);
hc_err store_user_count(store *st, int64_t *n);
/* Removes the user, its grants and its sessions. HC_ERR_NOT_FOUND. */
hc_err store_user_delete(store *st, const char *name);
/* HC_ERR_NOT_FOUND when absent. */
/* Sets name's password hash and ends every session of name but keep_session
 * (NULL: all), sessions first: an unanswered change never leaves the old
 * sessions alive with the new password. */
hc_err store_user_set_password(store *st, const char *name, const char *pw_hash,
			       const char *keep_session, int64_t now_ms);

typedef struct store_grant {
	char *ns, *user, *role;
} store_grant;

void store_grants_free(store_grant *v, size_t n);
/* Creates or replaces; HC_ERR_NOT_FOUND when the user or namespace does not
 * exist. */
hc_err store_grant_set(store *st, const char *ns, const char *user, const char *role,
		       int64_t now_ms);
/* HC_ERR_NOT_FOUND when there is no such grant. */
hc_err store_grant_delete(store *st, const char *ns, const char *user);
/* The grants of a namespace (ns set) or of a user (user set). */
hc_err store_grants(store *st, const char *ns, const char *user, store_grant **v, size_t *n);

/* A session or a service token; strings are never NULL when returned. */
typedef struct store_cred {
	char *id, *kind, *hash, *name, *user, *role, *namespaces, *csrf;
	int64_t created_ms, expires_ms, revoked_ms;
} store_cred;

void store_cred_release(store_cred *c);
void store_creds_free(store_cred *v, size_t n);
/* The pointers in c are borrowed for the call. */
hc_err store_cred_insert(store *st, const store_cred *c);
/* By hash; HC_ERR_NOT_FOUND when absent (revoked and expired ones are
 * returned: the caller decides). */
hc_err store_cred_find(store *st, const char *hash, store_cred *out);
/* By id; HC_ERR_NOT_FOUND when absent. */
hc_err store_cred_get(store *st, const char *id, store_cred *out);
/* Marks revoked at now_ms (a session is deleted outright). */
hc_err store_cred_revoke(store *st, const char *id, int64_t now_ms);
/* Deletes up to max audit entries older than before_ms, oldest first;
 * *deleted counts them (less than max: none are left). */
hc_err store_audit_prune(store *st, int64_t before_ms, int64_t max, int64_t *deleted);
/* Deletes sessions that have expired, and tokens expired or revoked before
 * keep_before_ms; *deleted counts them. */
hc_err store_creds_prune(store *st, int64_t now_ms, int64_t keep_before_ms, int64_t *deleted);
/* Credentials of a kind, newest first; user NULL for all. */
hc_err store_creds(store *st, const char *kind, const char *user, store_cred **v, size_t *n);

typedef struct store_audit {
	int64_t id, at_ms;
	char *actor, *role, *action, *ns, *target, *old_md5, *new_md5, *source_ip, *detail;
} store_audit;

void store_audits_free(store_audit *v, size_t n);
/* The pointers in a are borrowed; NULL means "". */
hc_err store_audit_add(store *st, const store_audit *a);

/* What store_audit_list filters on; NULL or 0 for any. nss, when nns > 0,
 * limits it to those namespaces. */
typedef struct store_audit_query {
	int64_t since_ms;
	const char *user, *action, *ns;
	const char *const *nss;
	size_t nns;
	int64_t offset, limit;
} store_audit_query;

/* Newest first; *total counts every match. */
hc_err store_audit_list(store *st, const store_audit_query *q, store_audit **v, size_t *n,
			int64_t *total);

#endif
