/*
 * auth: who is asking, and what they may do.
 *
 * Credentials are opaque random secrets (256 bits): a session, made by a
 * login, or a service token. The store keeps only their SHA-256; a secret is
 * verified by hashing it and finding the hash, first in an in-memory cache
 * (so the read and watch paths never run SQL or argon2 per request), then in
 * the store. Passwords are argon2id (libsodium's crypto_pwhash_str): slow on
 * purpose, so auth_login and auth_hash_password belong on the checker
 * thread, never on a worker that answers reads. There is no signing key and
 * no built-in password: the first admin's password is HOTCONF_ADMIN_PASSWORD
 * or random, printed once and kept in <data>/initial-admin-password (0600)
 * until it is changed.
 *
 * An identity (auth_id) is an immutable, reference-counted snapshot: the
 * cache holds one reference, each request that uses it another. Revoking a
 * credential, deleting a user or changing grants drops the cached snapshots
 * concerned; requests in flight keep theirs to their end, and a held watch,
 * which re-checks its credential when it is woken, then finds it gone.
 *
 * Threading: any thread; one internal mutex guards the cache and the login
 * throttle, held only for a hash operation.
 */
#ifndef HC_AUTH_H
#define HC_AUTH_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"
#include "store_auth.h"

typedef struct auth auth;

/* Roles in a namespace, in order of power; an admin has every role in every
 * namespace. */
typedef enum auth_role {
	AUTH_NONE = 0,
	AUTH_READER = 1,   /* read, watch, list, history, diff */
	AUTH_EDITOR = 2,   /* + publish, delete, rollback, gray rules */
	AUTH_APPROVER = 3, /* + approve others' change requests */
	AUTH_OWNER = 4,	   /* + grants on the namespace */
} auth_role;

/* "reader", ...; NULL for AUTH_NONE. */
const char *auth_role_name(auth_role r);
/* The role named name, or AUTH_NONE. */
auth_role auth_role_parse(const char *name);

typedef enum auth_kind { AUTH_KIND_SESSION, AUTH_KIND_TOKEN } auth_kind;

typedef struct auth_ns_role {
	char *ns;
	auth_role role;
} auth_ns_role;

/* One identity. Read-only for everyone but auth.c. */
typedef struct auth_id {
	auth_kind kind;
	char *name;    /* the user (session) or the token's name */
	char *user;    /* the user behind it (a token's creator) */
	char *cred_id; /* the credential's id */
	char *csrf;    /* sessions: what cookie-authenticated writes must send */
	int admin;     /* sessions of an admin */
	int64_t expires_ms;
	auth_ns_role *roles; /* sessions: the user's grants; tokens: its namespaces */
	size_t nroles;
	int refs;
	atomic_int stale; /* set once revoked or its user's grants changed */
} auth_id;

void auth_id_ref(auth_id *id);
void auth_id_unref(auth_id *id); /* NULL is a no-op */
/* 1 while id may still be used without asking again: not stale, not
 * expired. A request checked once keeps its identity while this holds. */
int auth_id_current(auth_id *id, int64_t now_ms);
/* id's role in ns. */
auth_role auth_id_role(const auth_id *id, const char *ns);

typedef struct auth_config {
	const char *data_dir;
	int64_t session_ttl_ms;
} auth_config;

/* A new auth over st (borrowed); NULL if libsodium cannot start. */
auth *auth_new(store *st, const auth_config *cfg);
void auth_free(auth *a);

/* At start: with no user yet, creates admin (see above). */
hc_err auth_bootstrap(auth *a);

/* Verifies a secret at now_ms: HC_OK and *out a reference the caller drops,
 * or HC_ERR_UNAUTHORIZED (missing, wrong, expired, revoked). */
hc_err auth_verify(auth *a, const char *secret, int64_t now_ms, auth_id **out);

/* A new session for user/password from ip (slow: argon2). HC_OK with the
 * secret in token_out and *out the identity; HC_ERR_UNAUTHORIZED for a wrong
 * user or password; HC_ERR_RATE_LIMIT after 5 failures of that user from
 * that ip within 5 minutes (*retry_s gets the seconds to wait). Audited. */
hc_err auth_login(auth *a, const char *user, const char *password, const char *ip, int64_t now_ms,
		  sbuf *token_out, auth_id **out, int64_t *retry_s);
/* A user name and password sent with a request (Nacos' username and
 * password parameters), in two steps. auth_password_cached is fast (one
 * keyed hash and a lookup) and safe on a worker: HC_OK and *out a reference
 * the caller drops when that user and password were verified within the
 * session TTL, HC_ERR_NOT_FOUND when they must be verified, and
 * HC_ERR_UNAUTHORIZED for what can never match (a password over 1024
 * bytes). auth_password_identity verifies them (slow: argon2 on a miss, so
 * run it on the checker thread), throttled and audited like auth_login, and
 * caches the identity; auth_forget_user drops it. It answers HC_OK with *out,
 * HC_ERR_UNAUTHORIZED for a wrong user or password, HC_ERR_RATE_LIMIT after
 * 5 failures of that user from that ip within 5 minutes. */
hc_err auth_password_cached(auth *a, const char *user, const char *password, int64_t now_ms,
			    auth_id **out);
hc_err auth_password_identity(auth *a, const char *user, const char *password, const char *ip,
			      int64_t now_ms, auth_id **out);
/* Ends a session or revokes a token at once (the cache forgets it). */
hc_err auth_revoke(auth *a, const char *cred_id, int64_t now_ms);
/* Forgets cached identities of user (grants or password changed, user gone). */
void auth_forget_user(auth *a, const char *user);

/* argon2id of password into out (slow). */
hc_err auth_hash_password(const char *password, sbuf *out);
/* Checks a password against a stored hash (slow); 1 when it matches. */
int auth_password_ok(const char *pw_hash, const char *password);

/* A new service token: the secret, shown once, in secret_out; its id in
 * id_out[40]. role is reader or editor; nss the namespaces (comma list). */
hc_err auth_token_create(auth *a, const char *creator, const char *name, auth_role role,
			 const char *nss, int64_t ttl_ms, int64_t now_ms, sbuf *secret_out,
			 char id_out[40]);

/* An Apollo access key's request (Authorization: Apollo app_id:signature):
 * HC_OK and *out a reference the caller drops when a live service token that
 * reaches namespace app_id signed it, i.e. signature_b64 is
 * base64(HMAC-SHA1(key, signed_text)) with key the token's Apollo secret, the
 * lower-case hex SHA-256 of the token (what the store keeps; shown once
 * beside the token when it is made). HC_ERR_UNAUTHORIZED when none did; the
 * caller checks the timestamp inside signed_text. One read of the store's
 * tokens per call, so call it once per request; the identity is cached as
 * auth_verify's is (by the token's hash), so a revoke marks it stale. */
hc_err auth_apollo_identity(auth *a, const char *app_id, const char *signature_b64,
			    const char *signed_text, int64_t now_ms, auth_id **out);

/* The initial admin password file, removed once that password changes. */
void auth_initial_password_done(auth *a);
/* 1 while that file is there: the first admin's password is the one the
 * server made up and printed. */
int auth_initial_password_pending(auth *a);
/* How many user-and-password checks ran argon2 so far (logins and Nacos'
 * username+password; not those answered from the identity cache). */
uint64_t auth_password_checks(auth *a);

#endif
