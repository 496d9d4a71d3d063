/*
 * auth.c: see auth.h. libsodium does the cryptography: random secrets,
 * SHA-256 of secrets, argon2id of passwords, constant-time comparisons.
 * Nettle does the one thing libsodium has no primitive for: HMAC-SHA1,
 * which Apollo's access keys are defined by (see auth_apollo_identity).
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_log.h"
#include "hmap.h"
#include "xmalloc.h"

#define SECRET_BYTES 32
#define FAIL_LIMIT 5
#define FAIL_WINDOW_MS (5 * 60 * 1000)
#define CACHE_MAX 100000
#define THROTTLE_MAX 65536 /* (user, ip) pairs with recent failures */

typedef struct throttle {
	int fails;
	int64_t first_ms;
} throttle;

struct auth {
	store *st;
	auth_config cfg;
	char *initial_pw_path;
	char dummy_hash[crypto_pwhash_STRBYTES]; /* checked for unknown users */
	pthread_rwlock_t cache_lock;		 /* guards cache: read by every request */
	hmap *cache;				 /* secret hash (hex) -> auth_id * (a reference) */
	pthread_mutex_t mu;			 /* guards throttles */
	hmap *throttles;			 /* "user\nip" -> throttle * */
	/* Keys the password-identity cache (auth_password_identity). */
	unsigned char pw_key[crypto_generichash_KEYBYTES];
	atomic_uint_fast64_t pw_checks; /* argon2 verifications of a login or password */
};

static const char *const role_names[] = {NULL, "reader", "editor", "approver", "owner"};

const char *auth_role_name(auth_role r)
{
	return r > AUTH_NONE && r <= AUTH_OWNER ? role_names[r] : NULL;
}

auth_role auth_role_parse(const char *name)
{
	int i;

	for (i = AUTH_READER; name && i <= AUTH_OWNER; i++)
		if (!strcmp(name, role_names[i]))
			return (auth_role)i;
	return AUTH_NONE;
}

/* ---- identities ---- */

void auth_id_ref(auth_id *id)
{
	__atomic_add_fetch(&id->refs, 1, __ATOMIC_RELAXED);
}

void auth_id_unref(auth_id *id)
{
	size_t i;

	if (!id || __atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < id->nroles; i++)
		free(id->roles[i].ns);
	free(id->roles);
	free(id->name);
	free(id->user);
	free(id->cred_id);
	free(id->csrf);
	free(id);
}

auth_role auth_id_role(const auth_id *id, const char *ns)
{
	size_t i;

	if (id->admin)
		return AUTH_OWNER;
	for (i = 0; i < id->nroles; i++)
		if (!strcmp(id->roles[i].ns, ns))
			return id->roles[i].role;
	return AUTH_NONE;
}

static void add_role(auth_id *id, const char *ns, auth_role r)
{
	id->roles = xrealloc(id->roles, (id->nroles + 1) * sizeof(*id->roles));
	id->roles[id->nroles].ns = xstrdup(ns);
	id->roles[id->nroles].role = r;
	id->nroles++;
}

/* Builds the identity a credential stands for; HC_ERR_UNAUTHORIZED when it
 * is expired, revoked or its user is gone. */
static hc_err build_id(auth *a, const store_cred *c, int64_t now_ms, auth_id **out)
{
	auth_id *id;
	store_user u;
	hc_err err;

	*out = NULL;
	if (c->revoked_ms || c->expires_ms <= now_ms)
		return HC_ERR_UNAUTHORIZED;
	id = xcalloc(1, sizeof(*id));
	id->refs = 1;
	id->name = xstrdup(c->name);
	id->user = xstrdup(c->user);
	id->cred_id = xstrdup(c->id);
	id->csrf = xstrdup(c->csrf);
	id->expires_ms = c->expires_ms;
	if (!strcmp(c->kind, "token")) {
		char *list = xstrdup(c->namespaces), *save = NULL, *ns;
		auth_role r = auth_role_parse(c->role);
		id->kind = AUTH_KIND_TOKEN;
		for (ns = strtok_r(list, ",", &save); ns; ns = strtok_r(NULL, ",", &save))
			add_role(id, ns, r);
		free(list);
		*out = id;
		return HC_OK;
	}
	id->kind = AUTH_KIND_SESSION;
	err = store_user_get(a->st, c->name, &u);
	if (err) {
		auth_id_unref(id);
		return err == HC_ERR_NOT_FOUND ? HC_ERR_UNAUTHORIZED : err;
	}
	id->admin = u.admin;
	store_user_release(&u);
	{
		store_grant *g = NULL;
		size_t n = 0, i;
		err = store_grants(a->st, NULL, c->name, &g, &n);
		for (i = 0; !err && i < n; i++)
			add_role(id, g[i].ns, auth_role_parse(g[i].role));
		store_grants_free(g, n);
	}
	if (err) {
		auth_id_unref(id);
		return err;
	}
	*out = id;
	return HC_OK;
}

/* ---- secrets ---- */

static void hash_hex(const char *secret, char hex[2 * crypto_hash_sha256_BYTES + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
	sodium_bin2hex(hex, 2 * crypto_hash_sha256_BYTES + 1, h, sizeof(h));
}

/* A new secret "<prefix><base64url of 32 random bytes>" into out. */
static void new_secret(const char *prefix, sbuf *out)
{
	unsigned char raw[SECRET_BYTES];
	char b64[sodium_base64_ENCODED_LEN(SECRET_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	sbuf_reset(out);
	sbuf_addstr(out, prefix);
	sbuf_addstr(out, b64);
}

static void new_id(const char *prefix, char out[40])
{
	unsigned char raw[8];
	char hex[17];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	snprintf(out, 40, "%s%s", prefix, hex);
}

int auth_id_current(auth_id *id, int64_t now_ms)
{
	return id && !atomic_load(&id->stale) && id->expires_ms > now_ms;
}

/* ---- the cache ---- */

static void unref_val(void *ctx, const void *k, size_t kl, void *v)
{
	(void)ctx;
	(void)k;
	(void)kl;
	auth_id_unref(v);
}

static void free_val(void *ctx, const void *k, size_t kl, void *v)
{
	(void)ctx;
	(void)k;
	(void)kl;
	free(v);
}

/* Drops every cached identity (under mu): grants changed, the cache is full. */
static void cache_clear(auth *a)
{
	hmap_foreach(a->cache, unref_val, NULL);
	hmap_free(a->cache);
	a->cache = hmap_new();
}

hc_err auth_verify(auth *a, const char *secret, int64_t now_ms, auth_id **out)
{
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	store_cred c;
	auth_id *id;
	hc_err err;

	*out = NULL;
	if (!secret || strlen(secret) < 8 || strlen(secret) > 256)
		return HC_ERR_UNAUTHORIZED;
	hash_hex(secret, hex);
	pthread_rwlock_rdlock(&a->cache_lock);
	id = hmap_get(a->cache, hex, strlen(hex));
	if (id && id->expires_ms > now_ms)
		auth_id_ref(id);
	else
		id = NULL;
	pthread_rwlock_unlock(&a->cache_lock);
	if (id) {
		*out = id;
		return HC_OK;
	}
	/* A hash found by value is compared by the database; the secret itself
	 * is 256 random bits, so there is nothing to learn from timing. */
	err = store_cred_find(a->st, hex, &c);
	if (err) {
		store_cred_release(&c);
		return err == HC_ERR_NOT_FOUND ? HC_ERR_UNAUTHORIZED : err;
	}
	err = build_id(a, &c, now_ms, &id);
	store_cred_release(&c);
	if (err)
		return err;
	pthread_rwlock_wrlock(&a->cache_lock);
	if (hmap_count(a->cache) >= CACHE_MAX)
		cache_clear(a);
	auth_id_ref(id);
	auth_id_unref(hmap_put(a->cache, hex, strlen(hex), id));
	pthread_rwlock_unlock(&a->cache_lock);
	*out = id;
	return HC_OK;
}

typedef struct forget_ctx {
	const char *user, *cred_id;
	hmap *cache;
	char **keys;
	size_t n, cap;
} forget_ctx;

static void collect(void *ctx, const void *k, size_t kl, void *v)
{
	forget_ctx *f = ctx;
	const auth_id *id = v;

	if ((f->user && (!strcmp(id->user, f->user) || !strcmp(id->name, f->user))) ||
	    (f->cred_id && !strcmp(id->cred_id, f->cred_id))) {
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 8;
			f->keys = xrealloc(f->keys, f->cap * sizeof(*f->keys));
		}
		f->keys[f->n++] = xmemdupz(k, kl);
	}
}

/* Drops the cached identities that match (under mu). */
static void cache_forget(auth *a, const char *user, const char *cred_id)
{
	forget_ctx f = {user, cred_id, a->cache, NULL, 0, 0};
	size_t i;

	hmap_foreach(a->cache, collect, &f);
	for (i = 0; i < f.n; i++) {
		auth_id *id = hmap_del(a->cache, f.keys[i], strlen(f.keys[i]));
		if (id) /* requests holding it check again */
			atomic_store(&id->stale, 1);
		auth_id_unref(id);
		free(f.keys[i]);
	}
	free(f.keys);
}

void auth_forget_user(auth *a, const char *user)
{
	pthread_rwlock_wrlock(&a->cache_lock);
	cache_forget(a, user, NULL);
	pthread_rwlock_unlock(&a->cache_lock);
}

hc_err auth_revoke(auth *a, const char *cred_id, int64_t now_ms)
{
	hc_err err = store_cred_revoke(a->st, cred_id, now_ms);

	pthread_rwlock_wrlock(&a->cache_lock);
	cache_forget(a, NULL, cred_id);
	pthread_rwlock_unlock(&a->cache_lock);
	return err;
}

/* ---- Apollo access keys ---- */

/* 1 when the comma list nss names ns. */
static int list_has(const char *nss, const char *ns)
{
	size_t n = strlen(ns);
	const char *p = nss;

	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == n && !memcmp(p, ns, n))
			return 1;
		p += l + (p[l] == ',');
	}
	return 0;
}

/*
 * Apollo signs with the secret itself, and the store knows a token only by
 * its SHA-256, so the Apollo secret is that hash (hex): the server can
 * recompute the HMAC, and the raw token stays unknown to it. The trade-off:
 * a copy of the database holds every token's Apollo secret (not the token,
 * so nothing but Apollo's read routes accepts it). HMAC-SHA1 comes from
 * Nettle: libsodium has no SHA-1, and Nettle is already in the process under
 * libmicrohttpd's GnuTLS, with a plain function API and no global state.
 */
hc_err auth_apollo_identity(auth *a, const char *app_id, const char *signature_b64,
			    const char *signed_text, int64_t now_ms, auth_id **out)
{
	char want[sodium_base64_ENCODED_LEN(SHA1_DIGEST_SIZE, sodium_base64_VARIANT_ORIGINAL)];
	uint8_t mac[SHA1_DIGEST_SIZE];
	struct hmac_sha1_ctx ctx;
	store_cred *v = NULL;
	auth_id *had;
	size_t n = 0, i, slen = strlen(signature_b64);
	hc_err err;

	*out = NULL;
	err = store_creds(a->st, "token", NULL, &v, &n);
	for (i = 0; !err && i < n; i++) {
		const store_cred *c = &v[i];
		if (c->revoked_ms || c->expires_ms <= now_ms || !list_has(c->namespaces, app_id) ||
		    auth_role_parse(c->role) < AUTH_READER)
			continue;
		hmac_sha1_set_key(&ctx, strlen(c->hash), (const uint8_t *)c->hash);
		hmac_sha1_update(&ctx, strlen(signed_text), (const uint8_t *)signed_text);
		hmac_sha1_digest(&ctx, SHA1_DIGEST_SIZE, mac);
		sodium_bin2base64(want, sizeof(want), mac, sizeof(mac),
				  sodium_base64_VARIANT_ORIGINAL);
		if (slen == strlen(want) && !sodium_memcmp(want, signature_b64, slen)) {
			err = build_id(a, c, now_ms, out);
			if (err)
				break;
			/* Cached under the token's hash, as auth_verify would: a
			 * revoke then marks it stale, which ends a held poll. */
			pthread_rwlock_wrlock(&a->cache_lock);
			had = hmap_get(a->cache, c->hash, strlen(c->hash));
			if (had) { /* one identity per token, so a revoke finds it */
				auth_id_unref(*out);
				auth_id_ref(had); /* the caller's */
				*out = had;
			} else {
				if (hmap_count(a->cache) >= CACHE_MAX)
					cache_clear(a);
				auth_id_ref(*out); /* the cache's */
				hmap_put(a->cache, c->hash, strlen(c->hash), *out);
			}
			pthread_rwlock_unlock(&a->cache_lock);
			break;
		}
	}
	sodium_memzero(&ctx, sizeof(ctx));
	sodium_memzero(mac, sizeof(mac));
	store_creds_free(v, n);
	if (!err && !*out)
		err = HC_ERR_UNAUTHORIZED;
	return err;
}

/* ---- passwords and logins ---- */

hc_err auth_hash_password(const char *password, sbuf *out)
{
	char h[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str(h, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE)) {
		hc_log("argon2id: out of memory");
		return HC_ERR_INTERNAL;
	}
	sbuf_reset(out);
	sbuf_addstr(out, h);
	return HC_OK;
}

int auth_password_ok(const char *pw_hash, const char *password)
{
	return crypto_pwhash_str_verify(pw_hash, password, strlen(password)) == 0;
}

typedef struct sweep {
	int64_t now;
	sbuf keys; /* expired keys, each followed by '\0' */
} sweep;

static void sweep_one(void *ctx, const void *key, size_t klen, void *val)
{
	sweep *w = ctx;
	const throttle *t = val;

	if (w->now - t->first_ms >= FAIL_WINDOW_MS) {
		sbuf_add(&w->keys, key, klen);
		sbuf_addch(&w->keys, '\0');
	}
}

/* Drops the failure records whose window has passed. Under a->mu. */
static void throttle_sweep(auth *a, int64_t now)
{
	sweep w = {now, SBUF_INIT(SBUF_NOMAX)};
	size_t off = 0, len;

	hmap_foreach(a->throttles, sweep_one, &w);
	while (off < w.keys.len) {
		len = strlen(w.keys.buf + off);
		free(hmap_del(a->throttles, w.keys.buf + off, len));
		off += len + 1;
	}
	sbuf_release(&w.keys);
}

/* Counts a failure (ok 0) or clears the record (ok 1) of user from ip;
 * returns the seconds to wait when the limit is reached, else 0. */
static int64_t throttle_note(auth *a, const char *user, const char *ip, int64_t now, int ok,
			     int check_only)
{
	sbuf key = SBUF_INIT(SBUF_NOMAX);
	throttle *t;
	int64_t wait = 0;

	sbuf_addf(&key, "%s\n%s", user, ip);
	pthread_mutex_lock(&a->mu);
	t = hmap_get(a->throttles, key.buf, key.len);
	if (t && now - t->first_ms >= FAIL_WINDOW_MS) {
		free(hmap_del(a->throttles, key.buf, key.len));
		t = NULL;
	}
	if (!t && hmap_count(a->throttles) >= THROTTLE_MAX)
		throttle_sweep(a, now);
	if (check_only) {
		if (t && t->fails >= FAIL_LIMIT)
			wait = (t->first_ms + FAIL_WINDOW_MS - now + 999) / 1000;
		/* Full of fresh failures (a spray of names): nobody new is tried
		 * until some expire, rather than forgetting who failed. */
		else if (!t && hmap_count(a->throttles) >= THROTTLE_MAX)
			wait = FAIL_WINDOW_MS / 1000;
	} else if (ok) {
		free(hmap_del(a->throttles, key.buf, key.len));
	} else {
		if (!t) {
			t = xcalloc(1, sizeof(*t));
			t->first_ms = now;
			hmap_put(a->throttles, key.buf, key.len, t);
		}
		t->fails++;
	}
	pthread_mutex_unlock(&a->mu);
	sbuf_release(&key);
	return wait;
}

static void audit(auth *a, const char *actor, const char *action, const char *ip,
		  const char *detail, int64_t now)
{
	store_audit e;

	memset(&e, 0, sizeof(e));
	e.at_ms = now;
	e.actor = (char *)actor;
	e.action = (char *)action;
	e.source_ip = (char *)ip;
	e.detail = (char *)detail;
	store_audit_add(a->st, &e);
}

/* The argon2 check of a login, throttled per user and ip and audited with
 * detail: HC_OK, HC_ERR_RATE_LIMIT (*retry_s the seconds to wait),
 * HC_ERR_UNAUTHORIZED or the store's error. */
static hc_err check_password(auth *a, const char *user, const char *password, const char *ip,
			     const char *detail, int64_t now_ms, int64_t *retry_s)
{
	store_user u;
	hc_err err;
	int ok;

	*retry_s = throttle_note(a, user, ip, now_ms, 0, 1);
	if (*retry_s) {
		audit(a, user, "login-throttled", ip, detail, now_ms);
		return HC_ERR_RATE_LIMIT;
	}
	err = store_user_get(a->st, user, &u);
	if (err && err != HC_ERR_NOT_FOUND)
		return err;
	/* An unknown user costs an argon2 too, so timing tells nothing. */
	ok = auth_password_ok(err ? a->dummy_hash : u.pw_hash, password) && !err;
	atomic_fetch_add(&a->pw_checks, 1);
	store_user_release(&u);
	throttle_note(a, user, ip, now_ms, ok, 0);
	if (!ok) {
		audit(a, user, "login-failed", ip, detail, now_ms);
		return HC_ERR_UNAUTHORIZED;
	}
	return HC_OK;
}

hc_err auth_login(auth *a, const char *user, const char *password, const char *ip, int64_t now_ms,
		  sbuf *token_out, auth_id **out, int64_t *retry_s)
{
	char hex[2 * crypto_hash_sha256_BYTES + 1], id[40], csrf[40];
	store_cred c;
	hc_err err;

	*out = NULL;
	err = check_password(a, user, password, ip, "", now_ms, retry_s);
	if (err)
		return err;
	new_secret("hcs_", token_out);
	new_id("ses_", id);
	new_id("", csrf);
	hash_hex(token_out->buf, hex);
	memset(&c, 0, sizeof(c));
	c.id = id;
	c.kind = "session";
	c.hash = hex;
	c.name = (char *)user;
	c.user = (char *)user;
	c.csrf = csrf;
	c.created_ms = now_ms;
	c.expires_ms = now_ms + a->cfg.session_ttl_ms;
	err = store_cred_insert(a->st, &c);
	if (!err)
		err = build_id(a, &c, now_ms, out);
	if (!err)
		audit(a, user, "login", ip, "", now_ms);
	return err;
}

/*
 * Protocols whose clients send a user name and password on every request
 * (Nacos): argon2 runs once, on a cache miss (auth_password_identity, which
 * the caller runs off its worker: the checker thread); the identity is then
 * cached under "pw\n" + the keyed BLAKE2b of user and password (a random key
 * per process, so the cache never holds anything a copy of memory could test
 * passwords against offline without the key), and a repeat costs one hash
 * and one lookup (auth_password_cached). auth_forget_user drops the entries
 * of a user like any of its sessions. Throttled and audited like auth_login.
 */
#define PW_KEY_SIZE (3 + 2 * crypto_generichash_BYTES + 1)

static void pw_cache_key(auth *a, const char *user, const char *password, char key[PW_KEY_SIZE])
{
	unsigned char h[crypto_generichash_BYTES];
	crypto_generichash_state gs;

	crypto_generichash_init(&gs, a->pw_key, sizeof(a->pw_key), sizeof(h));
	crypto_generichash_update(&gs, (const unsigned char *)user, strlen(user) + 1);
	crypto_generichash_update(&gs, (const unsigned char *)password, strlen(password));
	crypto_generichash_final(&gs, h, sizeof(h));
	memcpy(key, "pw\n", 3);
	sodium_bin2hex(key + 3, PW_KEY_SIZE - 3, h, sizeof(h));
}

hc_err auth_password_cached(auth *a, const char *user, const char *password, int64_t now_ms,
			    auth_id **out)
{
	char key[PW_KEY_SIZE];
	auth_id *got;

	*out = NULL;
	if (!user || !password || strlen(password) > 1024)
		return HC_ERR_UNAUTHORIZED;
	pw_cache_key(a, user, password, key);
	pthread_rwlock_rdlock(&a->cache_lock);
	got = hmap_get(a->cache, key, strlen(key));
	if (got && got->expires_ms > now_ms && !atomic_load(&got->stale))
		auth_id_ref(got);
	else
		got = NULL;
	pthread_rwlock_unlock(&a->cache_lock);
	*out = got;
	return got ? HC_OK : HC_ERR_NOT_FOUND;
}

hc_err auth_password_identity(auth *a, const char *user, const char *password, const char *ip,
			      int64_t now_ms, auth_id **out)
{
	char key[PW_KEY_SIZE], id[40];
	store_cred c;
	auth_id *got;
	int64_t retry_s;
	hc_err err;

	err = auth_password_cached(a, user, password, now_ms, out);
	if (err != HC_ERR_NOT_FOUND)
		return err;
	err = check_password(a, user, password, ip, "password parameter", now_ms, &retry_s);
	if (err)
		return err;
	pw_cache_key(a, user, password, key);
	snprintf(id, sizeof(id), "pw_%.16s", key + 3);
	memset(&c, 0, sizeof(c));
	c.id = id;
	c.kind = "session";
	c.name = (char *)user;
	c.user = (char *)user;
	c.csrf = "";
	c.created_ms = now_ms;
	c.expires_ms = now_ms + a->cfg.session_ttl_ms;
	err = build_id(a, &c, now_ms, &got);
	if (err)
		return err;
	audit(a, user, "login", ip, "password parameter", now_ms);
	pthread_rwlock_wrlock(&a->cache_lock);
	if (hmap_count(a->cache) >= CACHE_MAX)
		cache_clear(a);
	auth_id_ref(got);
	auth_id_unref(hmap_put(a->cache, key, strlen(key), got));
	pthread_rwlock_unlock(&a->cache_lock);
	*out = got;
	return HC_OK;
}

hc_err auth_token_create(auth *a, const char *creator, const char *name, auth_role role,
			 const char *nss, int64_t ttl_ms, int64_t now_ms, sbuf *secret_out,
			 char id_out[40])
{
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	store_cred c;

	new_secret("hct_", secret_out);
	new_id("tok_", id_out);
	hash_hex(secret_out->buf, hex);
	memset(&c, 0, sizeof(c));
	c.id = id_out;
	c.kind = "token";
	c.hash = hex;
	c.name = (char *)name;
	c.user = (char *)creator;
	c.role = (char *)auth_role_name(role);
	c.namespaces = (char *)nss;
	c.created_ms = now_ms;
	c.expires_ms = now_ms + ttl_ms;
	return store_cred_insert(a->st, &c);
}

/* ---- life ---- */

auth *auth_new(store *st, const auth_config *cfg)
{
	auth *a;
	sbuf p = SBUF_INIT(SBUF_NOMAX);

	if (sodium_init() < 0) {
		hc_log("libsodium cannot start");
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	{
		char pw[33];
		randombytes_buf(pw, 32);
		pw[32] = '\0';
		if (crypto_pwhash_str(a->dummy_hash, pw, 32, crypto_pwhash_OPSLIMIT_INTERACTIVE,
				      crypto_pwhash_MEMLIMIT_INTERACTIVE)) {
			free(a);
			return NULL;
		}
	}
	a->st = st;
	a->cfg = *cfg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_rwlock_init(&a->cache_lock, NULL);
	a->cache = hmap_new();
	a->throttles = hmap_new();
	randombytes_buf(a->pw_key, sizeof(a->pw_key));
	sbuf_addf(&p, "%s/initial-admin-password", cfg->data_dir);
	a->initial_pw_path = sbuf_detach(&p, NULL);
	return a;
}

void auth_free(auth *a)
{
	if (!a)
		return;
	hmap_foreach(a->cache, unref_val, NULL);
	hmap_free(a->cache);
	hmap_foreach(a->throttles, free_val, NULL);
	hmap_free(a->throttles);
	pthread_mutex_destroy(&a->mu);
	pthread_rwlock_destroy(&a->cache_lock);
	free(a->initial_pw_path);
	free(a);
}

void auth_initial_password_done(auth *a)
{
	if (unlink(a->initial_pw_path) == 0)
		hc_log("the initial admin password was changed: %s removed", a->initial_pw_path);
}

uint64_t auth_password_checks(auth *a)
{
	return (uint64_t)atomic_load(&a->pw_checks);
}

int auth_initial_password_pending(auth *a)
{
	return access(a->initial_pw_path, F_OK) == 0;
}

hc_err auth_bootstrap(auth *a)
{
	const char *env = getenv("HOTCONF_ADMIN_PASSWORD");
	sbuf pw = SBUF_INIT(SBUF_NOMAX), h = SBUF_INIT(SBUF_NOMAX);
	int64_t users = 0;
	hc_err err = store_user_count(a->st, &users);
	int fd;

	if (err || users > 0)
		return err;
	if (env && *env) {
		sbuf_addstr(&pw, env);
	} else {
		new_secret("", &pw);
		pw.buf[24] = '\0'; /* 144 random bits are plenty to type */
		pw.len = 24;
	}
	err = auth_hash_password(pw.buf, &h);
	if (!err)
		err = store_user_create(a->st, "admin", h.buf, 1, 0);
	if (!err && !(env && *env)) {
		fd = open(a->initial_pw_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, pw.buf, pw.len) != (ssize_t)pw.len ||
		    write(fd, "\n", 1) != 1 || fsync(fd)) {
			hc_log("cannot write %s: %s", a->initial_pw_path, strerror(errno));
			err = HC_ERR_IO;
		}
		if (fd >= 0)
			close(fd);
		if (!err)
			fprintf(stderr,
				"hotconf: created user admin with password %s\n"
				"hotconf: (also in %s until it is changed)\n",
				pw.buf, a->initial_pw_path);
	} else if (!err) {
		hc_log("created user admin with the password in HOTCONF_ADMIN_PASSWORD");
	}
	sodium_memzero(pw.buf, pw.len);
	sbuf_release(&pw);
	sbuf_release(&h);
	return err;
}
