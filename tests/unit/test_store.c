/*
 * test_store.c: store/ against a real SQLite file, a fresh one per test in a
 * mkdtemp() directory that the test removes. Times are fake (now_ms), so
 * nothing sleeps. Single-threaded except test_threads, whose worker threads
 * count their own failures for the main thread to check.
 *
 * The test_gray_* tests cover gray rules: their writes, reads, feed
 * announcements, effective content, faults and reopening; the test_rollout_*
 * tests their rollout plans (store_gray_rollout and the plan of a put).
 *
 * <sqlite3.h> is included for one thing only: test_schema_too_new sets
 * PRAGMA user_version behind the store's back, as a newer hotconf would have.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"
#include "md5.h"
#include "store.h"
#include "store_auth.h"
#include "store_change.h"

#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define MD5_THEIRS "ce97a90ef59e9c768263754682f68bd6" /* md5("theirs") */

#define MD5_OURS "abdc793c700a0f9110566c092398985f" /* md5("ours") */

typedef struct fixture {
	char dir[64];
	char path[128];
	store *st;
} fixture;

/* Makes a fresh directory and opens a new database in it. */
static int fx_open(fixture *fx)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->dir, sizeof(fx->dir), "%s/hc-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fx->st = NULL;
	if (!mkdtemp(fx->dir)) {
		perror("mkdtemp");
		return 0;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/hotconf.db", fx->dir);
	return store_open(fx->path, &fx->st) == HC_OK && fx->st;
}

/* Closes the store and removes the database and its directory. */
static void fx_close(fixture *fx)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".reserve"};
	char p[160];
	size_t i;

	store_close(fx->st);
	fx->st = NULL;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
		unlink(p);
	}
	CHECK(rmdir(fx->dir) == 0);
}

/* store_peek by the key's string "ns/group/dataId". */
static hc_err peek(store *st, const char *key, char md5[33], int64_t *version)
{
	cfgkey k;
	hc_err err = cfgkey_parse(&k, key, strlen(key));

	if (!err)
		err = store_peek(st, &k, md5, version);
	cfgkey_release(&k);
	return err;
}

static store_write wr(const char *ns, const char *group, const char *data_id, const char *content,
		      int64_t now_ms)
{
	store_write w;

	memset(&w, 0, sizeof(w));
	w.ns = ns;
	w.group = group;
	w.data_id = data_id;
	w.content = content;
	w.len = content ? strlen(content) : 0;
	w.now_ms = now_ms;
	return w;
}

/* Publishes content to public/DEFAULT_GROUP/data_id. */
static hc_err put(store *st, const char *data_id, const char *content, const char *format,
		  int64_t now_ms, store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, content, now_ms);

	w.format = format;
	return store_publish(st, &w, res);
}

static hc_err del(store *st, const char *data_id, int64_t now_ms, store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, NULL, now_ms);

	return store_delete(st, &w, res);
}

static hc_err rollback(store *st, const char *data_id, int64_t version, int64_t now_ms,
		       store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, NULL, now_ms);

	return store_rollback(st, &w, version, res);
}

static int64_t history_total(store *st, const char *ns, const char *data_id)
{
	store_history *h = NULL;
	size_t n = 0;
	int64_t total = -1;

	if (store_history_list(st, ns, "DEFAULT_GROUP", data_id, 0, 0, &h, &n, &total) != HC_OK)
		return -1;
	store_history_free(h, n);
	return total;
}

/* The current content of public/DEFAULT_GROUP/data_id, or "(absent)". */
static void check_content(store *st, const char *data_id, const char *want, const char *format,
			  int64_t version)
{
	store_config *c = NULL;
	hc_err err = store_get(st, "public", "DEFAULT_GROUP", data_id, &c);

	CHECK_EQ_INT(err, HC_OK);
	if (!c)
		return;
	CHECK_EQ_INT(c->len, strlen(want));
	CHECK_EQ_STR(c->content, want);
	CHECK_EQ_STR(c->format, format);
	CHECK_EQ_INT(c->version, version);
	store_config_unref(c);
}

static void test_open_creates_schema(void)
{
	fixture fx;
	store_namespace *ns = NULL;
	store_config **items = NULL;
	size_t n = 0;
	int64_t total = -1;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_ping(fx.st), HC_OK);
	CHECK_EQ_INT(store_revision(fx.st), 0);
	CHECK_EQ_INT(store_namespaces(fx.st, &ns, &n), HC_OK);
	CHECK_EQ_INT(n, 1);
	if (n == 1) {
		CHECK_EQ_STR(ns[0].id, "public");
		CHECK_EQ_STR(ns[0].name, "public");
		CHECK_EQ_INT(ns[0].config_count, 0);
	}
	store_namespaces_free(ns, n);
	CHECK_EQ_INT(store_list(fx.st, NULL, NULL, NULL, 0, 20, &items, &n, &total), HC_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(total, 0);
	free(items);
	fx_close(&fx);
}

static void test_open_failure(void)
{
	store *st = (store *)&st; /* must be reset to NULL */

	CHECK_EQ_INT(store_open("/nonexistent-hc-dir/sub/hotconf.db", &st), HC_ERR_IO);
	CHECK(st == NULL);
	store_close(NULL);
}

static void test_publish(void)
{
	fixture fx;
	store_result r;
	store_config *c = NULL;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "hello", NULL, 1000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 1);
	CHECK_EQ_INT(r.revision, 1);
	CHECK_EQ_INT(r.created, 1);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_STR(r.md5, MD5_HELLO);
	check_content(fx.st, "app", "hello", "text", 1);

	CHECK_EQ_INT(put(fx.st, "app", "world", "text", 2000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 2);
	CHECK_EQ_INT(r.revision, 2);
	CHECK_EQ_INT(r.created, 0);
	CHECK_EQ_INT(r.changed, 1);

	/* The revision counts changes across all configs; versions are per config. */
	CHECK_EQ_INT(put(fx.st, "other", "x", NULL, 3000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 1);
	CHECK_EQ_INT(r.revision, 3);
	CHECK_EQ_INT(store_revision(fx.st), 3);

	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c), HC_OK);
	if (c) {
		CHECK_EQ_STR(c->ns, "public");
		CHECK_EQ_STR(c->group, "DEFAULT_GROUP");
		CHECK_EQ_STR(c->data_id, "app");
		CHECK_EQ_INT(c->revision, 2);
		CHECK_EQ_INT(c->created_ms, 1000);
		CHECK_EQ_INT(c->updated_ms, 2000);
		CHECK_EQ_STR(c->description, "");
		CHECK_EQ_STR(c->author, "");
	}
	store_config_unref(c);
	fx_close(&fx);
}

static void test_noop_publish(void)
{
	fixture fx;
	store_result r;
	store_write w;
	store_config *c = NULL;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "a=1", "properties", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "app", "a=1", NULL, 2000, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	CHECK_EQ_INT(r.created, 0);
	CHECK_EQ_INT(r.version, 1);
	CHECK_EQ_INT(r.revision, 1);
	CHECK_EQ_INT(store_revision(fx.st), 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 1);

	/* Same content in another format is a change. */
	CHECK_EQ_INT(put(fx.st, "app", "a=1", "text", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(r.version, 2);

	/* Only the description differs: updated in place, no new version. */
	w = wr("public", "DEFAULT_GROUP", "app", "a=1", 4000);
	w.description = "the app's settings";
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(r.version, 2);
	CHECK_EQ_INT(r.revision, 2);
	CHECK_EQ_INT(store_revision(fx.st), 2);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 2);
	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c), HC_OK);
	if (c) {
		CHECK_EQ_STR(c->description, "the app's settings");
		CHECK_EQ_INT(c->version, 2);
	}
	store_config_unref(c);

	/* Publishing again with the same description is a no-op again. */
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	fx_close(&fx);
}

static void test_format(void)
{
	fixture fx;
	store_result r;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "y", "a: 1", "yaml", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "y", "a: 2", NULL, 2000, &r), HC_OK);
	check_content(fx.st, "y", "a: 2", "yaml", 2);
	CHECK_EQ_INT(put(fx.st, "y", "{}", "json", 3000, &r), HC_OK);
	check_content(fx.st, "y", "{}", "json", 3);
	CHECK_EQ_INT(put(fx.st, "y", "x", "toml", 4000, &r), HC_ERR_INVALID);
	CHECK(r.detail[0] != '\0');
	check_content(fx.st, "y", "{}", "json", 3);
	fx_close(&fx);
}

static void test_if_match(void)
{
	fixture fx;
	store_result r;
	store_write w;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "hello", NULL, 1000, &r), HC_OK);

	w = wr("public", "DEFAULT_GROUP", "app", "v2", 2000);
	w.if_match = "00000000000000000000000000000000";
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_PRECONDITION);
	CHECK(strstr(r.detail, MD5_HELLO) != NULL);
	check_content(fx.st, "app", "hello", "text", 1);
	CHECK_EQ_INT(store_revision(fx.st), 1);

	w.if_match = MD5_HELLO;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.version, 2);
	check_content(fx.st, "app", "v2", "text", 2);

	/* "*" holds for any existing version. */
	w = wr("public", "DEFAULT_GROUP", "app", "v3", 2500);
	w.if_match = "*";
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);

	/* If-Match on a config that does not exist never holds, "*" included. */
	w = wr("public", "DEFAULT_GROUP", "absent", "x", 3000);
	w.if_match = MD5_HELLO;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_PRECONDITION);
	w.if_match = "*";
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/absent", NULL, NULL), HC_ERR_NOT_FOUND);
	fx_close(&fx);
}

static void test_create_only(void)
{
	fixture fx;
	store_result r;
	store_write w;

	REQUIRE(fx_open(&fx));
	w = wr("public", "DEFAULT_GROUP", "app", "first", 1000);
	w.create_only = 1;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.created, 1);
	w.content = "second";
	w.len = 6;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_PRECONDITION);
	CHECK(r.detail[0] != '\0');
	check_content(fx.st, "app", "first", "text", 1);
	fx_close(&fx);
}

static void test_missing_namespace(void)
{
	fixture fx;
	store_result r;
	store_write w;
	store_config *c = (store_config *)&c;

	REQUIRE(fx_open(&fx));
	w = wr("nope", "DEFAULT_GROUP", "app", "x", 1000);
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_NOT_FOUND);
	CHECK_EQ_STR(r.detail, "namespace 'nope' does not exist");
	CHECK_EQ_INT(store_revision(fx.st), 0);
	CHECK_EQ_INT(store_get(fx.st, "nope", "DEFAULT_GROUP", "app", &c), HC_ERR_NOT_FOUND);
	CHECK(c == NULL);
	fx_close(&fx);
}

static void test_get_peek(void)
{
	fixture fx;
	store_result r;
	store_config *old = NULL;
	char md5[33];
	int64_t version = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/app", md5, &version), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(put(fx.st, "app", "hello", NULL, 1000, &r), HC_OK);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/app", md5, &version), HC_OK);
	CHECK_EQ_STR(md5, MD5_HELLO);
	CHECK_EQ_INT(version, 1);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/app", NULL, NULL), HC_OK);

	/* A reader's snapshot stays intact while a writer replaces it. */
	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &old), HC_OK);
	CHECK_EQ_INT(put(fx.st, "app", "bye", NULL, 2000, &r), HC_OK);
	if (old) {
		CHECK_EQ_STR(old->content, "hello");
		CHECK_EQ_INT(old->version, 1);
	}
	store_config_unref(old);
	check_content(fx.st, "app", "bye", "text", 2);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/app", md5, &version), HC_OK);
	CHECK_EQ_INT(version, 2);
	fx_close(&fx);
}

static void test_delete(void)
{
	fixture fx;
	store_result r;
	store_write w;
	store_config *c = NULL;
	store_history *h = NULL;
	size_t n = 0;
	int64_t total = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "{\"a\":1}", "json", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "app", "{\"a\":2}", NULL, 2000, &r), HC_OK);

	w = wr("public", "DEFAULT_GROUP", "app", NULL, 3000);
	w.if_match = MD5_HELLO;
	CHECK_EQ_INT(store_delete(fx.st, &w, &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c), HC_OK);
	store_config_unref(c);

	CHECK_EQ_INT(del(fx.st, "app", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);
	CHECK_EQ_INT(r.revision, 3);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(store_revision(fx.st), 3);
	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/app", NULL, NULL), HC_ERR_NOT_FOUND);

	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 0, 10, &h, &n, &total),
	    HC_OK);
	CHECK_EQ_INT(total, 3);
	REQUIRE(n == 3);
	CHECK_EQ_INT(h[0].version, 3);
	CHECK_EQ_STR(store_op_name(h[0].op), "delete");
	CHECK_EQ_STR(h[0].md5, MD5_EMPTY);
	CHECK_EQ_STR(h[0].format, "json");
	CHECK_EQ_INT(h[0].created_ms, 3000);
	store_history_free(h, n);

	CHECK_EQ_INT(del(fx.st, "app", 4000, &r), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(del(fx.st, "never", 4000, &r), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(store_revision(fx.st), 3);

	/* Re-creating continues the version numbers. */
	CHECK_EQ_INT(put(fx.st, "app", "back", NULL, 5000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 4);
	CHECK_EQ_INT(r.created, 1);
	check_content(fx.st, "app", "back", "text", 4);
	fx_close(&fx);
}

static void test_rollback(void)
{
	fixture fx;
	store_result r;
	store_history h;
	store_history *items = NULL;
	size_t n = 0;
	int64_t total;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "a: 1", "yaml", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "app", "{\"a\":2}", "json", 2000, &r), HC_OK);

	CHECK_EQ_INT(rollback(fx.st, "app", 1, 3000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);
	CHECK_EQ_INT(r.revision, 3);
	CHECK_EQ_INT(r.created, 0);
	CHECK_EQ_INT(r.changed, 1);
	check_content(fx.st, "app", "a: 1", "yaml", 3);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 3, &h), HC_OK);
	CHECK_EQ_STR(store_op_name(h.op), "rollback");
	store_history_release(&h);

	/* Rolling back to what is already current changes nothing. */
	CHECK_EQ_INT(rollback(fx.st, "app", 1, 3500, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	CHECK_EQ_INT(r.version, 3);
	CHECK_EQ_INT(store_revision(fx.st), 3);

	CHECK_EQ_INT(rollback(fx.st, "app", 99, 4000, &r), HC_ERR_NOT_FOUND);
	CHECK_EQ_STR(r.detail, "version 99 of public/DEFAULT_GROUP/app not found");
	CHECK_EQ_INT(rollback(fx.st, "never", 1, 4000, &r), HC_ERR_NOT_FOUND);

	CHECK_EQ_INT(del(fx.st, "app", 5000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 4);
	CHECK_EQ_INT(rollback(fx.st, "app", 4, 6000, &r), HC_ERR_CONFLICT);
	CHECK(r.detail[0] != '\0');

	/* Rolling back a deleted config re-creates it. */
	CHECK_EQ_INT(rollback(fx.st, "app", 2, 7000, &r), HC_OK);
	CHECK_EQ_INT(r.created, 1);
	CHECK_EQ_INT(r.version, 5);
	CHECK_EQ_INT(r.revision, 5);
	check_content(fx.st, "app", "{\"a\":2}", "json", 5);

	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 0, 10, &items, &n, &total),
	    HC_OK);
	CHECK_EQ_INT(total, 5);
	REQUIRE(n == 5);
	CHECK_EQ_STR(store_op_name(items[0].op), "rollback");
	CHECK_EQ_STR(store_op_name(items[1].op), "delete");
	CHECK_EQ_STR(store_op_name(items[2].op), "rollback");
	CHECK_EQ_STR(store_op_name(items[3].op), "publish");
	store_history_free(items, n);
	fx_close(&fx);
}

static void test_history(void)
{
	fixture fx;
	store_result r;
	store_write w;
	store_history *h = NULL, one;
	size_t n = 0;
	int64_t total = 0, i;
	char content[32];

	REQUIRE(fx_open(&fx));
	for (i = 1; i <= 5; i++) {
		snprintf(content, sizeof(content), "v%lld", (long long)i);
		w = wr("public", "DEFAULT_GROUP", "app", content, i * 1000);
		w.author = "alice";
		w.message = "change";
		w.source_ip = "10.0.0.1";
		CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	}
	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 0, 2, &h, &n, &total),
	    HC_OK);
	CHECK_EQ_INT(total, 5);
	REQUIRE(n == 2);
	CHECK_EQ_INT(h[0].version, 5);
	CHECK_EQ_INT(h[1].version, 4);
	CHECK_EQ_INT(h[0].revision, 5);
	CHECK_EQ_STR(h[0].author, "alice");
	CHECK_EQ_STR(h[0].message, "change");
	CHECK_EQ_STR(h[0].source_ip, "10.0.0.1");
	CHECK_EQ_INT(h[0].created_ms, 5000);
	CHECK(h[0].content == NULL);
	store_history_free(h, n);

	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 4, 2, &h, &n, &total),
	    HC_OK);
	CHECK_EQ_INT(total, 5);
	REQUIRE(n == 1);
	CHECK_EQ_INT(h[0].version, 1);
	store_history_free(h, n);

	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 10, 2, &h, &n, &total),
	    HC_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(total, 5);
	store_history_free(h, n);

	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "never", 0, 2, &h, &n, &total),
	    HC_ERR_NOT_FOUND);
	CHECK(h == NULL);

	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 3, &one), HC_OK);
	CHECK_EQ_STR(one.content, "v3");
	CHECK_EQ_INT(one.len, 2);
	CHECK_EQ_INT(one.version, 3);
	CHECK_EQ_STR(store_op_name(one.op), "publish");
	CHECK_EQ_STR(one.format, "text");
	store_history_release(&one);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 99, &one),
		     HC_ERR_NOT_FOUND);
	store_history_release(&one);
	fx_close(&fx);
}

/* Publishes "x" to ns/group/data_id. */
static void put3(store *st, const char *ns, const char *group, const char *data_id)
{
	store_write w = wr(ns, group, data_id, "x", 1000);

	CHECK_EQ_INT(store_publish(st, &w, NULL), HC_OK);
}

/* Lists and checks the total and the keys, joined as "ns/g/d,ns/g/d". */
static void check_list(store *st, const char *ns, const char *group, const char *q, int64_t offset,
		       int64_t limit, int64_t want_total, const char *want_keys)
{
	store_config **items = NULL;
	size_t n = 0, i;
	int64_t total = -1;
	char keys[512] = "";
	size_t used = 0;

	CHECK_EQ_INT(store_list(st, ns, group, q, offset, limit, &items, &n, &total), HC_OK);
	CHECK_EQ_INT(total, want_total);
	for (i = 0; i < n; i++) {
		used +=
		    (size_t)snprintf(keys + used, sizeof(keys) - used, "%s%s/%s/%s", i ? "," : "",
				     items[i]->ns, items[i]->group, items[i]->data_id);
		CHECK(items[i]->content == NULL);
		CHECK_EQ_STR(items[i]->md5, "9dd4e461268c8034f5c8564e155c67a6"); /* md5("x") */
		store_config_unref(items[i]);
	}
	free(items);
	CHECK_EQ_STR(keys, want_keys);
}

static void test_list(void)
{
	fixture fx;
	store_config **items = NULL;
	size_t n = 0;
	int64_t total = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_namespace_create(fx.st, "dev", NULL, NULL, 1), HC_OK);
	put3(fx.st, "public", "DEFAULT_GROUP", "db.yaml");
	put3(fx.st, "public", "DEFAULT_GROUP", "App_Main");
	put3(fx.st, "public", "payments", "gateway");
	put3(fx.st, "public", "100-pct", "rate");
	put3(fx.st, "dev", "DEFAULT_GROUP", "db.yaml");

	check_list(fx.st, NULL, NULL, NULL, 0, 20, 5,
		   "dev/DEFAULT_GROUP/db.yaml,public/100-pct/rate,public/DEFAULT_GROUP/App_Main,"
		   "public/DEFAULT_GROUP/db.yaml,public/payments/gateway");
	check_list(fx.st, "public", NULL, NULL, 0, 20, 4,
		   "public/100-pct/rate,public/DEFAULT_GROUP/App_Main,public/DEFAULT_GROUP/db.yaml,"
		   "public/payments/gateway");
	check_list(fx.st, "public", "DEFAULT_GROUP", NULL, 0, 20, 2,
		   "public/DEFAULT_GROUP/App_Main,public/DEFAULT_GROUP/db.yaml");
	check_list(fx.st, NULL, "DEFAULT_GROUP", NULL, 0, 20, 3,
		   "dev/DEFAULT_GROUP/db.yaml,public/DEFAULT_GROUP/App_Main,"
		   "public/DEFAULT_GROUP/db.yaml");
	/* q: case-insensitive substring of dataId or group. */
	check_list(fx.st, NULL, NULL, "app_", 0, 20, 1, "public/DEFAULT_GROUP/App_Main");
	check_list(fx.st, NULL, NULL, "PAY", 0, 20, 1, "public/payments/gateway");
	check_list(fx.st, "public", NULL, "DB.", 0, 20, 1, "public/DEFAULT_GROUP/db.yaml");
	/* '%' and '_' are literal, not wildcards: no name may hold a '%', so a
	 * LIKE wildcard would match all five and a literal matches none. */
	check_list(fx.st, NULL, NULL, "%", 0, 20, 0, "");
	check_list(fx.st, NULL, NULL, "-PCT", 0, 20, 1, "public/100-pct/rate");
	check_list(fx.st, NULL, NULL, "a_l", 0, 20, 0, ""); /* LIKE would match "DEFAULT" */
	check_list(fx.st, NULL, NULL, "zzz", 0, 20, 0, "");
	/* Paging: the total counts every match. */
	check_list(fx.st, NULL, NULL, NULL, 1, 2, 5,
		   "public/100-pct/rate,public/DEFAULT_GROUP/App_Main");
	check_list(fx.st, NULL, NULL, NULL, 4, 2, 5, "public/payments/gateway");
	check_list(fx.st, NULL, NULL, NULL, 5, 2, 5, "");

	CHECK_EQ_INT(store_list(fx.st, "nope", NULL, NULL, 0, 20, &items, &n, &total),
		     HC_ERR_NOT_FOUND);
	CHECK(items == NULL);
	CHECK_EQ_INT(n, 0);
	fx_close(&fx);
}

/* store_get_scope: a group's or a namespace's configs from the index, in
 * key order, with content; over max is HC_ERR_TOO_BIG with nothing. */
static void check_scope(store *st, const char *ns, const char *group, size_t max, hc_err want,
			const char *keys)
{
	cfgkey sc;
	store_config **v = NULL;
	size_t n = 9, i;
	sbuf got = SBUF_INIT(SBUF_NOMAX);

	REQUIRE(cfgkey_init_scope(&sc, ns, group) == HC_OK);
	CHECK_EQ_INT(store_get_scope(st, &sc, max, &v, &n), want);
	for (i = 0; i < n; i++) {
		sbuf_addf(&got, "%s%s/%s/%s", i ? "," : "", v[i]->ns, v[i]->group, v[i]->data_id);
		CHECK(v[i]->content != NULL);
		store_config_unref(v[i]);
	}
	CHECK_EQ_STR(got.buf ? got.buf : "", keys);
	free(v);
	sbuf_release(&got);
	cfgkey_release(&sc);
}

static void test_get_scope(void)
{
	fixture fx;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_namespace_create(fx.st, "dev", NULL, NULL, 1), HC_OK);
	put3(fx.st, "public", "DEFAULT_GROUP", "db.yaml");
	put3(fx.st, "public", "DEFAULT_GROUP", "App_Main");
	put3(fx.st, "public", "DEFAULT_GROUP-2", "x");
	put3(fx.st, "public", "payments", "gateway");
	put3(fx.st, "dev", "DEFAULT_GROUP", "db.yaml");
	check_scope(fx.st, "public", "DEFAULT_GROUP", 10, HC_OK,
		    "public/DEFAULT_GROUP/App_Main,public/DEFAULT_GROUP/db.yaml");
	check_scope(fx.st, "public", NULL, 10, HC_OK,
		    "public/DEFAULT_GROUP/App_Main,public/DEFAULT_GROUP/db.yaml,"
		    "public/DEFAULT_GROUP-2/x,public/payments/gateway");
	check_scope(fx.st, "dev", NULL, 1, HC_OK, "dev/DEFAULT_GROUP/db.yaml");
	check_scope(fx.st, "public", NULL, 3, HC_ERR_TOO_BIG, "");
	check_scope(fx.st, "public", "none", 10, HC_OK, "");
	check_scope(fx.st, "nope", NULL, 10, HC_OK, "");
	fx_close(&fx);
}

static void test_namespaces(void)
{
	fixture fx;
	store_namespace *ns = NULL;
	store_history *h = NULL;
	size_t n = 0;
	int64_t total = 0;
	store_result r;
	store_write w;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_namespace_create(fx.st, "dev", NULL, NULL, 1000), HC_OK);
	CHECK_EQ_INT(store_namespace_create(fx.st, "prod", "Production", "live", 2000), HC_OK);
	CHECK_EQ_INT(store_namespace_create(fx.st, "dev", "again", NULL, 3000), HC_ERR_CONFLICT);
	CHECK_EQ_INT(store_namespace_create(fx.st, "a/b", NULL, NULL, 3000), HC_ERR_INVALID);
	put3(fx.st, "dev", "DEFAULT_GROUP", "a");
	put3(fx.st, "dev", "DEFAULT_GROUP", "b");

	CHECK_EQ_INT(store_namespaces(fx.st, &ns, &n), HC_OK);
	REQUIRE(n == 3);
	CHECK_EQ_STR(ns[0].id, "dev");
	CHECK_EQ_STR(ns[0].name, "dev"); /* the name defaults to the id */
	CHECK_EQ_STR(ns[0].description, "");
	CHECK_EQ_INT(ns[0].created_ms, 1000);
	CHECK_EQ_INT(ns[0].config_count, 2);
	CHECK_EQ_STR(ns[1].id, "prod");
	CHECK_EQ_STR(ns[1].name, "Production");
	CHECK_EQ_STR(ns[1].description, "live");
	CHECK_EQ_INT(ns[1].config_count, 0);
	CHECK_EQ_STR(ns[2].id, "public");
	store_namespaces_free(ns, n);

	CHECK_EQ_INT(store_namespace_delete(fx.st, "public"), HC_ERR_FORBIDDEN);
	CHECK_EQ_INT(store_namespace_delete(fx.st, "nope"), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(store_namespace_delete(fx.st, "dev"), HC_ERR_CONFLICT);
	CHECK_EQ_INT(store_namespace_delete(fx.st, "prod"), HC_OK);

	w = wr("dev", "DEFAULT_GROUP", "a", NULL, 5000);
	CHECK_EQ_INT(store_delete(fx.st, &w, &r), HC_OK);
	w.data_id = "b";
	CHECK_EQ_INT(store_delete(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(store_namespace_delete(fx.st, "dev"), HC_OK);
	CHECK_EQ_INT(store_namespace_delete(fx.st, "dev"), HC_ERR_NOT_FOUND);

	CHECK_EQ_INT(store_namespaces(fx.st, &ns, &n), HC_OK);
	CHECK_EQ_INT(n, 1);
	store_namespaces_free(ns, n);

	/* The deleted namespace's history is still there. */
	CHECK_EQ_INT(store_history_list(fx.st, "dev", "DEFAULT_GROUP", "a", 0, 10, &h, &n, &total),
		     HC_OK);
	CHECK_EQ_INT(total, 2);
	store_history_free(h, n);
	fx_close(&fx);
}

/* Publishes versions "v<first>".."v<last>" of public/DEFAULT_GROUP/data_id at
 * times first*step .. last*step. */
static void put_versions(store *st, const char *data_id, int first, int last, int64_t step)
{
	char content[32];
	store_result r;
	int i;

	for (i = first; i <= last; i++) {
		snprintf(content, sizeof(content), "v%d", i);
		CHECK_EQ_INT(put(st, data_id, content, NULL, i * step, &r), HC_OK);
	}
}

static void test_prune(void)
{
	fixture fx;
	store_history h;
	store_result r;
	int64_t deleted = -1;

	REQUIRE(fx_open(&fx));
	put_versions(fx.st, "old5", 1, 5, 100);	   /* times 100..500 */
	put_versions(fx.st, "old2", 1, 2, 100);	   /* times 100, 200 */
	put_versions(fx.st, "young", 1, 3, 10000); /* times 10000..30000 */
	put_versions(fx.st, "gone", 1, 3, 100);	   /* then deleted at 400 */
	CHECK_EQ_INT(del(fx.st, "gone", 400, &r), HC_OK);

	/* Older than 1000 and beyond the newest 2 of their config. */
	CHECK_EQ_INT(store_prune(fx.st, 1000, 2, 100, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 3 + 0 + 0 + 2);
	CHECK_EQ_INT(history_total(fx.st, "public", "old5"), 2);
	CHECK_EQ_INT(history_total(fx.st, "public", "old2"), 2);
	CHECK_EQ_INT(history_total(fx.st, "public", "young"), 3);
	CHECK_EQ_INT(history_total(fx.st, "public", "gone"), 2);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "old5", 3, &h),
		     HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "old5", 4, &h), HC_OK);
	store_history_release(&h);
	CHECK_EQ_INT(rollback(fx.st, "old5", 1, 600, &r), HC_ERR_NOT_FOUND);

	/* keep_versions below 1 still keeps each config's newest entry. */
	CHECK_EQ_INT(store_prune(fx.st, 1000, 0, 100, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 1 + 1 + 0 + 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "old5"), 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "gone"), 1);
	check_content(fx.st, "old5", "v5", "text", 5);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "old5", 5, &h), HC_OK);
	CHECK_EQ_STR(h.content, "v5");
	store_history_release(&h);
	/* Versions still continue after pruning. */
	CHECK_EQ_INT(put(fx.st, "gone", "again", NULL, 700, &r), HC_OK);
	CHECK_EQ_INT(r.version, 5);

	/* max_rows caps each call; repeated calls finish the job. Candidates:
	 * many v1..v5 and gone's delete entry (v4), now that v5 is newer. */
	put_versions(fx.st, "many", 1, 6, 10);
	CHECK_EQ_INT(store_prune(fx.st, 1000, 1, 2, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 2);
	CHECK_EQ_INT(store_prune(fx.st, 1000, 1, 2, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 2);
	CHECK_EQ_INT(store_prune(fx.st, 1000, 1, 2, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 2);
	CHECK_EQ_INT(store_prune(fx.st, 1000, 1, 2, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 0);
	CHECK_EQ_INT(history_total(fx.st, "public", "many"), 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "gone"), 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "young"), 3);
	check_content(fx.st, "many", "v6", "text", 6);
	fx_close(&fx);
}

static void test_reopen(void)
{
	fixture fx;
	store_result r;
	store_namespace *ns = NULL;
	size_t n = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_namespace_create(fx.st, "dev", "Development", NULL, 1), HC_OK);
	put_versions(fx.st, "app", 1, 3, 100);
	put_versions(fx.st, "tmp", 1, 1, 100);
	CHECK_EQ_INT(del(fx.st, "tmp", 500, &r), HC_OK);
	put3(fx.st, "dev", "DEFAULT_GROUP", "x");
	CHECK_EQ_INT(store_revision(fx.st), 6);
	store_close(fx.st);
	fx.st = NULL;

	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(store_revision(fx.st), 6);
	check_content(fx.st, "app", "v3", "text", 3);
	CHECK_EQ_INT(peek(fx.st, "dev/DEFAULT_GROUP/x", NULL, NULL), HC_OK);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/tmp", NULL, NULL), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 3);
	CHECK_EQ_INT(history_total(fx.st, "public", "tmp"), 2);
	CHECK_EQ_INT(store_namespaces(fx.st, &ns, &n), HC_OK);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(ns[0].name, "Development");
		CHECK_EQ_INT(ns[0].config_count, 1);
	}
	store_namespaces_free(ns, n);

	/* Versions and the revision carry on where they were. */
	CHECK_EQ_INT(put(fx.st, "tmp", "again", NULL, 600, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);
	CHECK_EQ_INT(r.revision, 7);
	fx_close(&fx);
}

static void test_schema_too_new(void)
{
	fixture fx;
	sqlite3 *db = NULL;
	store *st = (store *)&st;

	REQUIRE(fx_open(&fx));
	store_close(fx.st);
	fx.st = NULL;
	/* What a newer hotconf would have left behind. */
	REQUIRE(sqlite3_open(fx.path, &db) == SQLITE_OK);
	CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	CHECK_EQ_INT(store_open(fx.path, &st), HC_ERR_SCHEMA);
	CHECK(st == NULL);
	fx_close(&fx);
}

static void test_binary_content(void)
{
	static const char bin[] = {'a', '\0', 'b', '\0', (char)0xff, '\n'};
	fixture fx;
	store_write w;
	store_result r;
	store_config *c = NULL;
	store_history h;
	char want[33];

	REQUIRE(fx_open(&fx));
	w = wr("public", "DEFAULT_GROUP", "bin", NULL, 1000);
	w.content = bin;
	w.len = sizeof(bin);
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	md5_hex(bin, sizeof(bin), want);
	CHECK_EQ_STR(r.md5, want);

	/* Same bytes: a no-op even though strlen() would see only "a". */
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);

	/* Empty content is a real, empty version. */
	CHECK_EQ_INT(put(fx.st, "empty", "", NULL, 1000, &r), HC_OK);
	CHECK_EQ_STR(r.md5, MD5_EMPTY);
	check_content(fx.st, "empty", "", "text", 1);

	store_close(fx.st);
	fx.st = NULL;
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(store_get(fx.st, "public", "DEFAULT_GROUP", "bin", &c), HC_OK);
	if (c) {
		CHECK_EQ_INT(c->len, sizeof(bin));
		CHECK(memcmp(c->content, bin, sizeof(bin)) == 0);
		CHECK(c->content[c->len] == '\0');
		CHECK_EQ_STR(c->md5, want);
	}
	store_config_unref(c);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "bin", 1, &h), HC_OK);
	CHECK_EQ_INT(h.len, sizeof(bin));
	CHECK(h.content && memcmp(h.content, bin, sizeof(bin)) == 0);
	store_history_release(&h);
	check_content(fx.st, "empty", "", "text", 1);
	fx_close(&fx);
}

/* ---- many threads at once ---- */

#define WRITERS 4
#define READERS 2
#define PUBLISHES 25

typedef struct thread_ctx {
	store *st;
	int id;
	int failures;
	int *stop;
} thread_ctx;

static void *writer(void *arg)
{
	thread_ctx *t = arg;
	char data_id[16], content[16];
	store_write w;
	store_result r;
	int i;

	snprintf(data_id, sizeof(data_id), "w%d", t->id);
	for (i = 1; i <= PUBLISHES; i++) {
		snprintf(content, sizeof(content), "v%d", i);
		w = wr("public", "DEFAULT_GROUP", data_id, content, i);
		if (store_publish(t->st, &w, &r) != HC_OK || r.version != i)
			t->failures++;
	}
	return NULL;
}

/* Every snapshot a reader sees must be whole: content "v<N>" at version N. */
static void *reader(void *arg)
{
	thread_ctx *t = arg;
	store_config *c;
	char want[16], key[32];
	int64_t last[WRITERS] = {0}, version;
	int i;

	while (!__atomic_load_n(t->stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < WRITERS; i++) {
			snprintf(key, sizeof(key), "w%d", i);
			if (store_get(t->st, "public", "DEFAULT_GROUP", key, &c) != HC_OK)
				continue;
			snprintf(want, sizeof(want), "v%lld", (long long)c->version);
			if (strcmp(c->content, want) != 0 || c->version < last[i])
				t->failures++;
			last[i] = c->version;
			store_config_unref(c);
			snprintf(key, sizeof(key), "public/DEFAULT_GROUP/w%d", i);
			if (peek(t->st, key, NULL, &version) == HC_OK && version < last[i])
				t->failures++;
		}
	}
	return NULL;
}

static void test_threads(void)
{
	fixture fx;
	pthread_t w[WRITERS], rd[READERS];
	thread_ctx wc[WRITERS], rc[READERS];
	int stop = 0, i;

	REQUIRE(fx_open(&fx));
	for (i = 0; i < READERS; i++) {
		rc[i] = (thread_ctx){fx.st, i, 0, &stop};
		CHECK(pthread_create(&rd[i], NULL, reader, &rc[i]) == 0);
	}
	for (i = 0; i < WRITERS; i++) {
		wc[i] = (thread_ctx){fx.st, i, 0, &stop};
		CHECK(pthread_create(&w[i], NULL, writer, &wc[i]) == 0);
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(w[i], NULL);
		CHECK_EQ_INT(wc[i].failures, 0);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < READERS; i++) {
		pthread_join(rd[i], NULL);
		CHECK_EQ_INT(rc[i].failures, 0);
	}
	CHECK_EQ_INT(store_revision(fx.st), WRITERS * PUBLISHES);
	check_content(fx.st, "w0", "v25", "text", PUBLISHES);
	fx_close(&fx);
}

/* ---- group commit: concurrent compare-and-set increments ---- */

#define CAS_THREADS 8
#define CAS_INCREMENTS 40

/* Adds one to the counter's content by compare-and-set, CAS_INCREMENTS times.
 * Writes that share a batch must see each other: if a later job in a batch
 * checked If-Match against the index instead of the batch's own earlier
 * write, two increments from the same value would both land. */
static void *cas_incrementer(void *arg)
{
	thread_ctx *t = arg;
	int done = 0, tries = 0;

	while (done < CAS_INCREMENTS && tries++ < 100000) {
		store_config *c = NULL;
		store_write w;
		store_result r;
		char next[32], md5[33];
		hc_err err;

		if (store_get(t->st, "public", "DEFAULT_GROUP", "counter", &c) != HC_OK) {
			t->failures++;
			return NULL;
		}
		snprintf(next, sizeof(next), "%lld", atoll(c->content) + 1);
		memcpy(md5, c->md5, sizeof(md5));
		store_config_unref(c);
		w = wr("public", "DEFAULT_GROUP", "counter", next, tries);
		w.if_match = md5;
		err = store_publish(t->st, &w, &r);
		if (err == HC_OK && r.changed)
			done++;
		else if (err != HC_ERR_PRECONDITION)
			t->failures++;
	}
	if (done != CAS_INCREMENTS)
		t->failures++;
	return NULL;
}

static void test_group_commit_cas(void)
{
	fixture fx;
	pthread_t th[CAS_THREADS];
	thread_ctx tc[CAS_THREADS];
	store_result r;
	int stop = 0, i;
	const int total = CAS_THREADS * CAS_INCREMENTS;
	char want[32];

	REQUIRE(fx_open(&fx));
	REQUIRE(put(fx.st, "counter", "0", NULL, 1, &r) == HC_OK);
	for (i = 0; i < CAS_THREADS; i++) {
		tc[i] = (thread_ctx){fx.st, i, 0, &stop};
		CHECK(pthread_create(&th[i], NULL, cas_incrementer, &tc[i]) == 0);
	}
	for (i = 0; i < CAS_THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(tc[i].failures, 0);
	}
	/* No increment lost, none doubled: one version and one revision each. */
	snprintf(want, sizeof(want), "%d", total);
	check_content(fx.st, "counter", want, "text", total + 1);
	CHECK_EQ_INT(store_revision(fx.st), total + 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "counter"), total + 1);
	/* And all of it is on disk, not only in the index. */
	store_close(fx.st);
	fx.st = NULL;
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	check_content(fx.st, "counter", want, "text", total + 1);
	CHECK_EQ_INT(store_revision(fx.st), total + 1);
	fx_close(&fx);
}

/* ---- asynchronous writes ---- */

#define ASYNC_WRITES 200

typedef struct async_seen {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int calls, failures;
	int64_t last_version, last_revision;
} async_seen;

static void on_async_done(void *cls, hc_err err, const store_result *res)
{
	async_seen *a = cls;

	pthread_mutex_lock(&a->mu);
	/* Completions come in queue order, each with the next version. */
	if (err != HC_OK || res->version != a->last_version + 1 ||
	    res->revision != a->last_revision + 1)
		a->failures++;
	a->last_version = res->version;
	a->last_revision = res->revision;
	a->calls++;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

static void on_refused(void *cls, hc_err err, const store_result *res)
{
	int *called = cls;

	*called = err == HC_ERR_INVALID && res->detail[0] ? 1 : -1;
}

static void test_async_writes(void)
{
	static char contents[ASYNC_WRITES][16];
	async_seen a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
	store_write ws[ASYNC_WRITES], bad;
	fixture fx;
	int i, refused = 0;

	REQUIRE(fx_open(&fx));
	/* Queue them all without waiting: the writer batches them. */
	for (i = 0; i < ASYNC_WRITES; i++) {
		snprintf(contents[i], sizeof(contents[i]), "v%d", i + 1);
		ws[i] = wr("public", "DEFAULT_GROUP", "async", contents[i], i + 1);
		store_publish_async(fx.st, &ws[i], on_async_done, &a);
	}
	pthread_mutex_lock(&a.mu);
	while (a.calls < ASYNC_WRITES)
		pthread_cond_wait(&a.cond, &a.mu);
	pthread_mutex_unlock(&a.mu);
	CHECK_EQ_INT(a.calls, ASYNC_WRITES);
	CHECK_EQ_INT(a.failures, 0);
	check_content(fx.st, "async", contents[ASYNC_WRITES - 1], "text", ASYNC_WRITES);
	CHECK_EQ_INT(history_total(fx.st, "public", "async"), ASYNC_WRITES);

	/* Refused before queueing: the callback runs at once, on this thread. */
	bad = wr("public", "DEFAULT_GROUP", "a/b", "x", 1);
	store_publish_async(fx.st, &bad, on_refused, &refused);
	CHECK_EQ_INT(refused, 1);

	/* Queued writes are finished, not dropped, when the store closes. */
	a.calls = 0;
	for (i = 0; i < 20; i++) {
		ws[i] = wr("public", "DEFAULT_GROUP", "async", contents[i], 1000 + i);
		store_publish_async(fx.st, &ws[i], on_async_done, &a);
	}
	store_close(fx.st);
	fx.st = NULL;
	CHECK_EQ_INT(a.calls, 20);
	CHECK_EQ_INT(a.failures, 0);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	check_content(fx.st, "async", contents[19], "text", ASYNC_WRITES + 20);
	fx_close(&fx);
}

/* ---- the change feed ---- */

#define FEED_MAX 32

typedef struct feed_seen {
	store *st;
	pthread_mutex_t mu;
	int n;
	store_change_kind kind[FEED_MAX];
	store_op op[FEED_MAX];
	char key[FEED_MAX][64];
	char md5[FEED_MAX][33];	     /* of the new snapshot, "" after a delete */
	char prev_md5[FEED_MAX][33]; /* of the one replaced, "" when created */
	int64_t revision[FEED_MAX];
	int batch_end[FEED_MAX];
	int64_t seen_version[FEED_MAX]; /* what the index held for that key during the call */
	int completed[FEED_MAX];	/* async writes completed when it was called */
	char message[FEED_MAX][16];
	int completions; /* async writes completed so far */
	int dones;	 /* done callbacks */
	int completed_at_done;
} feed_seen;

static void on_feed(void *ctx, const store_change *ch)
{
	feed_seen *f = ctx;
	int64_t version = -1;
	int i;

	pthread_mutex_lock(&f->mu);
	i = f->n++;
	if (i < FEED_MAX) {
		f->kind[i] = ch->kind;
		f->op[i] = ch->op;
		snprintf(f->key[i], sizeof(f->key[i]), "%s", ch->key->s);
		snprintf(f->md5[i], 33, "%s", ch->config ? ch->config->md5 : "");
		snprintf(f->prev_md5[i], 33, "%s", ch->previous ? ch->previous->md5 : "");
		f->revision[i] = ch->revision;
		f->batch_end[i] = ch->batch_end;
		if (store_peek(f->st, ch->key, NULL, &version))
			version = 0;
		f->seen_version[i] = version;
		f->completed[i] = f->completions;
		snprintf(f->message[i], sizeof(f->message[i]), "%s", ch->message);
	}
	pthread_mutex_unlock(&f->mu);
}

/* Half a millisecond, between polls of a condition with a bounded count. */
static void nap(void)
{
	struct timespec ts = {0, 500000};

	nanosleep(&ts, NULL);
}

/* After a commit's writes completed: counts, and what had completed. */
static void on_feed_done(void *ctx)
{
	feed_seen *f = ctx;

	pthread_mutex_lock(&f->mu);
	f->dones++;
	f->completed_at_done = f->completions;
	pthread_mutex_unlock(&f->mu);
}

static void feed_reset(feed_seen *f, store *st)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->st = st;
}

static void on_counted_done(void *cls, hc_err err, const store_result *res)
{
	feed_seen *f = cls;

	(void)err;
	(void)res;
	pthread_mutex_lock(&f->mu);
	f->completions++;
	pthread_mutex_unlock(&f->mu);
}

static int feed_completions(feed_seen *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->completions;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static int feed_dones(feed_seen *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->dones;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Waits (bounded) until n async writes have completed. */
static void wait_completions(feed_seen *f, int n)
{
	int i;

	for (i = 0; i < 20000 && feed_completions(f) < n; i++)
		nap();
	CHECK_EQ_INT(feed_completions(f), n);
}

static void test_feed(void)
{
	fixture fx;
	feed_seen f;
	store_result r;
	store_write w;
	int64_t rev;
	int i;

	REQUIRE(fx_open(&fx));
	feed_reset(&f, fx.st);
	store_subscribe(fx.st, on_feed, on_feed_done, &f);
	CHECK_EQ_INT(put(fx.st, "a", "one", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "b", "two", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "a", "one", "text", 1000, &r), HC_OK); /* a no-op: not announced */
	w = wr("public", "DEFAULT_GROUP", "a", "one", 2000);
	w.description = "only the description";
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	w = wr("public", "DEFAULT_GROUP", "b", NULL, 3000);
	w.message = "bye";
	CHECK_EQ_INT(store_delete(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(rollback(fx.st, "b", 1, 4000, &r), HC_OK);
	rev = store_revision(fx.st);

	REQUIRE(f.n == 5);
	CHECK_EQ_INT(f.kind[0], STORE_CHANGE_CONTENT);
	CHECK_EQ_STR(f.key[0], "public/DEFAULT_GROUP/a");
	CHECK_EQ_STR(f.prev_md5[0], "");
	CHECK_EQ_INT(f.kind[1], STORE_CHANGE_CONTENT);
	CHECK_EQ_STR(f.key[1], "public/DEFAULT_GROUP/b");
	/* A description-only edit: same content and revision, no new version. */
	CHECK_EQ_INT(f.kind[2], STORE_CHANGE_META);
	CHECK_EQ_STR(f.md5[2], f.md5[0]);
	CHECK_EQ_STR(f.prev_md5[2], f.md5[0]);
	CHECK_EQ_INT(f.revision[2], f.revision[0]);
	CHECK_EQ_INT(f.kind[3], STORE_CHANGE_DELETE);
	CHECK_EQ_INT(f.op[3], STORE_OP_DELETE);
	CHECK_EQ_STR(f.md5[3], "");
	CHECK_EQ_STR(f.prev_md5[3], f.md5[1]);
	CHECK_EQ_STR(f.message[3], "bye");
	CHECK_EQ_INT(f.seen_version[3], 0); /* the index no longer holds it */
	CHECK_EQ_INT(f.kind[4], STORE_CHANGE_CONTENT);
	CHECK_EQ_INT(f.op[4], STORE_OP_ROLLBACK);
	CHECK_EQ_STR(f.md5[4], f.md5[1]);
	CHECK_EQ_STR(f.prev_md5[4], "");
	/* Revision order, one revision per content change, the last is the store's. */
	CHECK_EQ_INT(f.revision[1], f.revision[0] + 1);
	CHECK_EQ_INT(f.revision[3], f.revision[1] + 1);
	CHECK_EQ_INT(f.revision[4], f.revision[3] + 1);
	CHECK_EQ_INT(f.revision[4], rev);
	/* One done per commit that announced something (the no-op did not); the
	 * last may come just after its synchronous writer returned. */
	for (i = 0; i < 20000 && feed_dones(&f) < 5; i++)
		nap();
	CHECK_EQ_INT(feed_dones(&f), 5);
	/* Synchronous writes are batches of one. */
	CHECK(f.batch_end[0] && f.batch_end[1] && f.batch_end[2] && f.batch_end[3] &&
	      f.batch_end[4]);
	fx_close(&fx);
}

/* Writes queued while the writer is held commit as one batch: the feed
 * hears of them in order, after the index holds all of them, before any of
 * them completes, with batch_end on the last. */
static void test_feed_batch(void)
{
	static const char *const ids[] = {"a", "b", "a"}, *const vals[] = {"a1", "b1", "a2"};
	store_write ws[3];
	fixture fx;
	feed_seen f;
	int i;

	REQUIRE(fx_open(&fx));
	feed_reset(&f, fx.st);
	store_subscribe(fx.st, on_feed, on_feed_done, &f);
	store_fault_hold(fx.st, 1);
	for (i = 0; i < 3; i++) {
		ws[i] = wr("public", "DEFAULT_GROUP", ids[i], vals[i], 1000 + i);
		store_publish_async(fx.st, &ws[i], on_counted_done, &f);
	}
	CHECK_EQ_INT(feed_completions(&f), 0); /* held: nothing committed yet */
	store_fault_hold(fx.st, 0);
	wait_completions(&f, 3);
	REQUIRE(f.n == 3);
	for (i = 0; i < 3; i++) {
		CHECK_EQ_INT(f.completed[i], 0);
		CHECK_EQ_INT(f.batch_end[i], i == 2);
		CHECK_EQ_INT(f.revision[i], i + 1);
	}
	CHECK_EQ_STR(f.key[0], "public/DEFAULT_GROUP/a");
	CHECK_EQ_STR(f.key[1], "public/DEFAULT_GROUP/b");
	CHECK_EQ_STR(f.prev_md5[2], f.md5[0]); /* the second write of a saw the first */
	/* One done for the commit, after all three had completed. */
	for (i = 0; i < 20000 && feed_dones(&f) < 1; i++)
		nap();
	CHECK_EQ_INT(feed_dones(&f), 1);
	CHECK_EQ_INT(f.completed_at_done, 3);
	/* Already at the batch's end when the first change is announced. */
	CHECK_EQ_INT(f.seen_version[0], 2);
	check_content(fx.st, "a", "a2", "text", 2);
	fx_close(&fx);
}

/* ---- faults ---- */

typedef struct fault_case {
	store_fault_kind kind;
	hc_err want;
} fault_case;

typedef struct outcomes {
	pthread_mutex_t mu;
	int n;
	hc_err err[8];
	char detail[8][STORE_DETAIL_MAX];
} outcomes;

static void on_outcome(void *cls, hc_err err, const store_result *res)
{
	outcomes *o = cls;

	pthread_mutex_lock(&o->mu);
	if (o->n < 8) {
		o->err[o->n] = err;
		snprintf(o->detail[o->n], STORE_DETAIL_MAX, "%s", res->detail);
	}
	o->n++;
	pthread_mutex_unlock(&o->mu);
}

static int outcome_count(outcomes *o)
{
	int n;

	pthread_mutex_lock(&o->mu);
	n = o->n;
	pthread_mutex_unlock(&o->mu);
	return n;
}

/* Waits (bounded) until n async writes have called back; 1 when they have. */
static int wait_outcomes(outcomes *o, int n)
{
	int i;

	for (i = 0; i < 20000 && outcome_count(o) < n; i++)
		nap();
	return outcome_count(o) == n;
}

/* Queues three writes as one batch (a=v2, b new, a delete of c), with the
 * fault armed at point, and checks that all three fail with want and that
 * nothing changed: contents, history, revision, the feed. */
static void check_failed_batch(store_fault_point point, int after, const fault_case *fc)
{
	store_write ws[3];
	outcomes o = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {{0}}};
	store_result r;
	fixture fx;
	feed_seen f;
	int64_t rev;
	int i;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "a", "v1", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "c", "c1", "text", 1000, &r), HC_OK);
	rev = store_revision(fx.st);
	feed_reset(&f, fx.st);
	store_subscribe(fx.st, on_feed, on_feed_done, &f);
	store_fault_hold(fx.st, 1);
	ws[0] = wr("public", "DEFAULT_GROUP", "a", "v2", 2000);
	ws[1] = wr("public", "DEFAULT_GROUP", "b", "new", 2000);
	ws[2] = wr("public", "DEFAULT_GROUP", "c", NULL, 2000);
	store_publish_async(fx.st, &ws[0], on_outcome, &o);
	store_publish_async(fx.st, &ws[1], on_outcome, &o);
	store_delete_async(fx.st, &ws[2], on_outcome, &o);
	store_fault_arm(fx.st, point, fc->kind, after, 1);
	store_fault_hold(fx.st, 0);
	REQUIRE(wait_outcomes(&o, 3));
	for (i = 0; i < 3; i++) {
		CHECK_EQ_INT(o.err[i], fc->want);
		CHECK(strstr(o.detail[i], "not committed") != NULL);
	}
	check_content(fx.st, "a", "v1", "text", 1);
	check_content(fx.st, "c", "c1", "text", 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "a"), 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "b"), -1);
	CHECK_EQ_INT(store_revision(fx.st), rev);
	CHECK_EQ_INT(f.n, 0);
	/* The fault fired once; the next batch commits. */
	CHECK_EQ_INT(put(fx.st, "a", "v2", "text", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 2);
	CHECK_EQ_INT(r.revision, rev + 1);
	CHECK_EQ_INT(f.n, 1);
	store_close(fx.st);
	/* And what did commit, is what a reopened store sees. */
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	check_content(fx.st, "a", "v2", "text", 2);
	check_content(fx.st, "c", "c1", "text", 1);
	fx_close(&fx);
}

static void test_fault_commit(void)
{
	static const fault_case cases[] = {
	    {STORE_FAULT_IO, HC_ERR_IO},
	    {STORE_FAULT_BUSY, HC_ERR_UNAVAILABLE},
	    {STORE_FAULT_FULL, HC_ERR_NO_SPACE},
	    {STORE_FAULT_READONLY, HC_ERR_READ_ONLY},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_failed_batch(STORE_FAULT_COMMIT, 0, &cases[i]);
}

/* A statement failing in the middle of the batch (the second job's first
 * write) fails the whole batch, the jobs before it included. */
static void test_fault_write(void)
{
	static const fault_case io = {STORE_FAULT_IO, HC_ERR_IO};
	static const fault_case full = {STORE_FAULT_FULL, HC_ERR_NO_SPACE};

	/* A publish writes three statements: revision, history, config row. */
	check_failed_batch(STORE_FAULT_WRITE, 3, &io);
	check_failed_batch(STORE_FAULT_WRITE, 4, &full);
	check_failed_batch(STORE_FAULT_WRITE, 0, &io);
}

/* ---- decisions inside the transaction ---- */

/* Another writer changes public/DEFAULT_GROUP/app behind the store's back,
 * through its own connection, as a second hotconf on the same database
 * would: version 2 with content "theirs". */
static void write_behind(const char *path, int64_t revision)
{
	sqlite3 *db = NULL;
	char sql[1024];

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	snprintf(
	    sql, sizeof(sql),
	    "BEGIN IMMEDIATE;"
	    "UPDATE meta SET value = %lld WHERE key = 'revision';"
	    "INSERT INTO history (namespace, grp, data_id, version, revision, op, content, md5,"
	    " format, created_ms) VALUES ('public', 'DEFAULT_GROUP', 'app', 2, %lld, 'publish',"
	    " 'theirs', '%s', 'text', 5);"
	    "UPDATE configs SET content = 'theirs', md5 = '%s', version = 2, revision = %lld"
	    " WHERE namespace = 'public' AND grp = 'DEFAULT_GROUP' AND data_id = 'app';"
	    "COMMIT;",
	    (long long)revision, (long long)revision, MD5_THEIRS, MD5_THEIRS, (long long)revision);
	CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_decisions_in_tx(void)
{
	fixture fx;
	store_result r;
	store_write w;
	int64_t rev;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "ours", "text", 1000, &r), HC_OK);
	rev = r.revision;
	write_behind(fx.path, rev + 10);
	/* The index still holds "ours"; every decision comes from the database. */
	check_content(fx.st, "app", "ours", "text", 1);
	w = wr("public", "DEFAULT_GROUP", "app", "mine", 2000);
	w.if_match = MD5_OURS;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_PRECONDITION);
	CHECK(strstr(r.detail, MD5_THEIRS) != NULL);
	/* Publishing what the database already holds is a no-op. */
	CHECK_EQ_INT(put(fx.st, "app", "theirs", "text", 2000, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	CHECK_EQ_INT(r.version, 2);
	w.if_match = MD5_THEIRS;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);	    /* after the other writer's version 2 */
	CHECK_EQ_INT(r.revision, rev + 11); /* after the other writer's revision */
	CHECK_EQ_INT(store_revision(fx.st), rev + 11);
	check_content(fx.st, "app", "mine", "text", 3);
	fx_close(&fx);
}

/* ---- validation inside the transaction ---- */

static int checks_run;

/* Accepts only content that starts with '{' (a stand-in for a JSON check). */
static hc_err fake_check(const char *format, const char *content, size_t len, char *detail,
			 size_t cap)
{
	checks_run++;
	if (strcmp(format, "json") || (len && content[0] == '{'))
		return HC_OK;
	snprintf(detail, cap, "invalid %s: does not start with {", format);
	return HC_ERR_INVALID;
}

static void test_check_in_tx(void)
{
	fixture fx;
	store_result r;
	store_write w;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "cfg", "{}", "json", 1000, &r), HC_OK);
	/* The caller validated as "text" (the format it read before a concurrent
	 * change to json): the store validates again, as json, and refuses. */
	checks_run = 0;
	w = wr("public", "DEFAULT_GROUP", "cfg", "plain words", 2000);
	w.checked_format = "text";
	w.check = fake_check;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_ERR_INVALID);
	CHECK_EQ_INT(checks_run, 1);
	CHECK_EQ_STR(r.detail, "invalid json: does not start with {");
	check_content(fx.st, "cfg", "{}", "json", 1);
	CHECK_EQ_INT(history_total(fx.st, "public", "cfg"), 1);
	/* Validated as the format it commits as: no second look. */
	checks_run = 0;
	w = wr("public", "DEFAULT_GROUP", "cfg", "{\"a\":1}", 3000);
	w.checked_format = "json";
	w.check = fake_check;
	CHECK_EQ_INT(store_publish(fx.st, &w, &r), HC_OK);
	CHECK_EQ_INT(checks_run, 0);
	check_content(fx.st, "cfg", "{\"a\":1}", "json", 2);
	fx_close(&fx);
}
/* ---- gray rules ---- */

static store_gray_spec gspec(const char *name, int priority, const char *labels,
			     const char *percent)
{
	store_gray_spec g;

	memset(&g, 0, sizeof(g));
	g.name = name;
	g.priority = priority;
	g.match.labels = labels;
	g.match.percent = percent;
	return g;
}

/* Puts rule name on public/DEFAULT_GROUP/data_id. */
static hc_err gput(store *st, const char *data_id, const store_gray_spec *g, const char *content,
		   int64_t now_ms, store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, content, now_ms);

	return store_gray_put(st, &w, g, res);
}

static hc_err gdel(store *st, const char *data_id, const char *rule, int64_t now_ms,
		   store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, NULL, now_ms);

	return store_gray_delete(st, &w, rule, res);
}

static hc_err gpromote(store *st, const char *data_id, const char *rule, int64_t now_ms,
		       store_result *res)
{
	store_write w = wr("public", "DEFAULT_GROUP", data_id, NULL, now_ms);

	return store_gray_promote(st, &w, rule, res);
}

static cfgkey gkey(const char *data_id)
{
	cfgkey k = CFGKEY_INIT;

	cfgkey_init(&k, "public", "DEFAULT_GROUP", data_id);
	return k;
}

/* How many rules public/DEFAULT_GROUP/data_id has in the index (-1: no config). */
static int grules(store *st, const char *data_id)
{
	cfgkey k = gkey(data_id);
	store_gray_set *g = NULL;
	int n = -1;

	if (store_gray_list(st, &k, &g) == HC_OK)
		n = g ? (int)g->n : 0;
	store_gray_set_unref(g);
	cfgkey_release(&k);
	return n;
}

/* A copy of one rule's fields, or found 0. */
typedef struct grule_seen {
	int found, priority;
	int64_t created_rev, revision;
	char content[64], md5[33], format[16], match[256], salt[64];
	int compiled;
} grule_seen;

static grule_seen gget(store *st, const char *data_id, const char *name)
{
	cfgkey k = gkey(data_id);
	store_gray_rule *r = NULL;
	grule_seen s;

	memset(&s, 0, sizeof(s));
	if (store_gray_get(st, &k, name, &r) == HC_OK) {
		s.found = 1;
		s.priority = r->priority;
		s.created_rev = r->created_rev;
		s.revision = r->revision;
		snprintf(s.content, sizeof(s.content), "%s", r->content);
		snprintf(s.md5, sizeof(s.md5), "%s", r->md5);
		snprintf(s.format, sizeof(s.format), "%s", r->format);
		snprintf(s.match, sizeof(s.match), "%s", r->match);
		snprintf(s.salt, sizeof(s.salt), "%s", r->salt);
		s.compiled = r->compiled != NULL;
	}
	store_gray_rule_unref(r);
	cfgkey_release(&k);
	return s;
}

static void test_gray_put_list_get(void)
{
	store_gray_spec g = gspec("canary", 10, "env=canary,zone in (a,b),!legacy", NULL);
	fixture fx;
	store_result r;
	grule_seen a, b;
	char md5[33];
	int64_t rev;

	REQUIRE(fx_open(&fx));
	/* A rule needs a main version first. */
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray", 500, &r), HC_ERR_NOT_FOUND);
	CHECK(strstr(r.detail, "publish the config first") != NULL);
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray", 2000, &r), HC_OK);
	CHECK_EQ_INT(r.created, 1);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(r.version, 1); /* the main version stays */
	CHECK_EQ_INT(r.revision, 2);
	md5_hex("gray", 4, md5);
	CHECK_EQ_STR(r.md5, md5);
	CHECK_EQ_INT(store_revision(fx.st), 2);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	check_content(fx.st, "app", "main", "text", 1);
	a = gget(fx.st, "app", "canary");
	REQUIRE(a.found);
	CHECK_EQ_INT(a.priority, 10);
	CHECK_EQ_INT(a.created_rev, 2);
	CHECK_EQ_STR(a.content, "gray");
	CHECK_EQ_STR(a.format, "text"); /* the config's when not given */
	CHECK_EQ_STR(a.match, "{\"labels\":\"env=canary,zone in (a,b),!legacy\"}");
	CHECK_EQ_INT(strlen(a.salt), 32);
	CHECK(a.compiled);
	CHECK(!gget(fx.st, "app", "nope").found);

	/* A replace: new content, priority and match; salt and order kept. */
	g = gspec("canary", 3, NULL, "007.50");
	g.match.has_ips = 1;
	g.match.ips = (const char *const[]){"10.0.0.0/8", "fd00::1"};
	g.match.nips = 2;
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray2", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.created, 0);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(r.revision, 3);
	b = gget(fx.st, "app", "canary");
	CHECK_EQ_STR(b.salt, a.salt);
	CHECK_EQ_INT(b.created_rev, a.created_rev);
	CHECK_EQ_INT(b.revision, 3);
	CHECK_EQ_INT(b.priority, 3);
	CHECK_EQ_STR(b.content, "gray2");
	CHECK_EQ_STR(b.match, "{\"ips\":[\"10.0.0.0/8\",\"fd00::1\"],\"percent\":7.5}");
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	/* The same again is a no-op. */
	rev = store_revision(fx.st);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray2", 4000, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	CHECK_EQ_INT(store_revision(fx.st), rev);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 3);
	/* A second rule, and names follow the config name rules. */
	g = gspec("second", 1, "env=prod", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "p", 5000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 2);
	g = gspec("bad/name", 1, "env=prod", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "p", 5000, &r), HC_ERR_INVALID);
	CHECK_EQ_INT(gdel(fx.st, "app", "bad/name", 5000, &r), HC_ERR_NOT_FOUND);
	fx_close(&fx);
}

static void test_gray_if_match(void)
{
	store_gray_spec g = gspec("r", 1, "env=canary", NULL);
	store_write w;
	fixture fx;
	store_result r;
	char md5[33];

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	w = wr("public", "DEFAULT_GROUP", "app", "one", 2000);
	w.if_match = "*"; /* the rule must exist */
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	w.if_match = NULL;
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_OK);
	snprintf(md5, sizeof(md5), "%s", r.md5);
	w.create_only = 1;
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_ERR_PRECONDITION);
	w.create_only = 0;
	w = wr("public", "DEFAULT_GROUP", "app", "two", 3000);
	w.if_match = MD5_HELLO; /* not the rule's md5 */
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_ERR_PRECONDITION);
	CHECK(strstr(r.detail, md5) != NULL);
	CHECK_EQ_STR(gget(fx.st, "app", "r").content, "one");
	w.if_match = md5;
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_OK);
	CHECK_EQ_STR(gget(fx.st, "app", "r").content, "two");
	/* Abort and promote check it too. */
	w = wr("public", "DEFAULT_GROUP", "app", NULL, 4000);
	w.if_match = md5; /* the old one now */
	CHECK_EQ_INT(store_gray_delete(fx.st, &w, "r", &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(store_gray_promote(fx.st, &w, "r", &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	check_content(fx.st, "app", "main", "text", 1);
	fx_close(&fx);
}

static void test_gray_cap(void)
{
	store_gray_spec g;
	fixture fx;
	store_result r;
	char name[16];
	int64_t rev;
	int i;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	for (i = 0; i < GRAY_MAX_RULES; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		g = gspec(name, i, "env=canary", NULL);
		CHECK_EQ_INT(gput(fx.st, "app", &g, name, 2000 + i, &r), HC_OK);
	}
	CHECK_EQ_INT(grules(fx.st, "app"), 16);
	rev = store_revision(fx.st);
	g = gspec("one-more", 1, "env=canary", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "x", 3000, &r), HC_ERR_INVALID);
	CHECK(strstr(r.detail, "16 gray rules") != NULL);
	CHECK_EQ_INT(grules(fx.st, "app"), 16);
	CHECK_EQ_INT(store_revision(fx.st), rev);
	/* Replacing one of the 16 is fine. */
	g = gspec("r3", 3, "env=other", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "r3b", 4000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 16);
	fx_close(&fx);
}

static void test_gray_invalid(void)
{
	const char *const bad_ips[] = {"10.0.0.0/8", "10.0.0.300"};
	store_gray_spec g;
	store_write w;
	fixture fx;
	store_result r;
	grule_seen before;
	int64_t rev, hist;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "{}", "json", 1000, &r), HC_OK);
	g = gspec("r", 1, "env=canary", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{\"a\":1}", 2000, &r), HC_OK);
	before = gget(fx.st, "app", "r");
	rev = store_revision(fx.st);
	hist = history_total(fx.st, "public", "app");

	g = gspec("r", 1, NULL, NULL);
	g.match.has_ips = 1;
	g.match.ips = bad_ips;
	g.match.nips = 2;
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{}", 3000, &r), HC_ERR_INVALID);
	CHECK(strstr(r.detail, "match.ips[1]") != NULL);
	g = gspec("r", 1, "env in (a,", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{}", 3000, &r), HC_ERR_INVALID);
	CHECK(strstr(r.detail, "match.labels") != NULL);
	g = gspec("r", 1, NULL, "100.5");
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{}", 3000, &r), HC_ERR_INVALID);
	CHECK(strstr(r.detail, "match.percent") != NULL);
	g = gspec("r", 1, NULL, NULL); /* an empty match */
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{}", 3000, &r), HC_ERR_INVALID);
	CHECK(strstr(r.detail, "match") != NULL);
	g = gspec("new", 1, NULL, NULL); /* nor does a new rule appear */
	CHECK_EQ_INT(gput(fx.st, "app", &g, "{}", 3000, &r), HC_ERR_INVALID);
	/* Content is validated as its format, like a publish. */
	g = gspec("r", 1, "env=canary", NULL);
	w = wr("public", "DEFAULT_GROUP", "app", "not json", 3000);
	w.check = fake_check;
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_ERR_INVALID);
	CHECK_EQ_STR(r.detail, "invalid json: does not start with {");
	w.format = "bogus";
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_ERR_INVALID);

	/* Nothing changed. */
	CHECK_EQ_INT(store_revision(fx.st), rev);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), hist);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	CHECK_EQ_STR(gget(fx.st, "app", "r").content, before.content);
	CHECK_EQ_STR(gget(fx.st, "app", "r").match, before.match);
	fx_close(&fx);
}

/* The newest history entry of public/DEFAULT_GROUP/data_id. */
static void check_newest_entry(store *st, const char *data_id, store_op op, const char *rule,
			       const char *match)
{
	store_history *h = NULL;
	size_t n = 0;
	int64_t total = 0;

	CHECK_EQ_INT(
	    store_history_list(st, "public", "DEFAULT_GROUP", data_id, 0, 1, &h, &n, &total),
	    HC_OK);
	REQUIRE(n == 1);
	CHECK_EQ_STR(store_op_name(h[0].op), store_op_name(op));
	CHECK_EQ_STR(h[0].gray_rule, rule);
	CHECK_EQ_STR(h[0].gray_match, match);
	store_history_free(h, n);
}

static void test_gray_promote(void)
{
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	store_write w = wr("public", "DEFAULT_GROUP", "app", "{\"g\":1}", 2000);
	store_history h;
	fixture fx;
	store_result r;
	int64_t rev;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	w.format = "json";
	CHECK_EQ_INT(store_gray_put(fx.st, &w, &g, &r), HC_OK);
	check_newest_entry(fx.st, "app", STORE_OP_GRAY_PUBLISH, "canary",
			   "{\"labels\":\"env=canary\"}");
	/* The gray entry took history version 2; main is still version 1. */
	check_content(fx.st, "app", "main", "text", 1);
	CHECK_EQ_INT(gpromote(fx.st, "app", "nope", 3000, &r), HC_ERR_NOT_FOUND);
	rev = store_revision(fx.st);
	CHECK_EQ_INT(gpromote(fx.st, "app", "canary", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.version, 3);
	CHECK_EQ_INT(r.revision, rev + 1); /* one revision for both */
	CHECK_EQ_INT(store_revision(fx.st), rev + 1);
	check_content(fx.st, "app", "{\"g\":1}", "json", 3);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	CHECK(!gget(fx.st, "app", "canary").found);
	check_newest_entry(fx.st, "app", STORE_OP_GRAY_PROMOTE, "canary",
			   "{\"labels\":\"env=canary\"}");
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 3);
	/* A gray entry is not a main version to roll back to; a promote is. */
	CHECK_EQ_INT(rollback(fx.st, "app", 2, 4000, &r), HC_ERR_CONFLICT);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 2, &h), HC_OK);
	CHECK_EQ_STR(h.content, "{\"g\":1}");
	CHECK_EQ_STR(h.gray_rule, "canary");
	store_history_release(&h);
	CHECK_EQ_INT(rollback(fx.st, "app", 1, 4000, &r), HC_OK);
	check_content(fx.st, "app", "main", "text", 4);
	store_close(fx.st);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	fx_close(&fx);
}

static void test_gray_abort(void)
{
	store_gray_spec g = gspec("canary", 1, NULL, "50");
	fixture fx;
	store_result r;
	char md5[33];
	int64_t rev;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray", 2000, &r), HC_OK);
	rev = store_revision(fx.st);
	CHECK_EQ_INT(gdel(fx.st, "app", "canary", 3000, &r), HC_OK);
	CHECK_EQ_INT(r.revision, rev + 1);
	CHECK_EQ_INT(r.version, 1);
	md5_hex("main", 4, md5);
	CHECK_EQ_STR(r.md5, md5); /* what its instances get again */
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	check_content(fx.st, "app", "main", "text", 1);
	check_newest_entry(fx.st, "app", STORE_OP_GRAY_ABORT, "canary", "{\"percent\":50}");
	CHECK_EQ_INT(gdel(fx.st, "app", "canary", 4000, &r), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(gdel(fx.st, "nothing", "canary", 4000, &r), HC_ERR_NOT_FOUND);
	store_close(fx.st);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);
	fx_close(&fx);
}

static void test_gray_main_publish_keeps(void)
{
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	fixture fx;
	store_result r;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "v1", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "gray", 2000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "app", "v2", "text", 3000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	CHECK_EQ_STR(gget(fx.st, "app", "canary").content, "gray");
	CHECK_EQ_INT(rollback(fx.st, "app", 1, 4000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	check_content(fx.st, "app", "v1", "text", 4); /* history: v1, gray v2, v2 as 3, 4 */
	/* Deleting the config would drop its rules: refused until they go. */
	CHECK_EQ_INT(del(fx.st, "app", 5000, &r), HC_ERR_CONFLICT);
	CHECK(strstr(r.detail, "gray rule") != NULL);
	check_content(fx.st, "app", "v1", "text", 4);
	CHECK_EQ_INT(gdel(fx.st, "app", "canary", 6000, &r), HC_OK);
	CHECK_EQ_INT(del(fx.st, "app", 7000, &r), HC_OK);
	fx_close(&fx);
}

static gray_inst *inst(const char *id, const char *ip, const char *labels)
{
	sbuf why = SBUF_INIT(256);
	gray_inst *i = NULL;

	CHECK_EQ_INT(gray_inst_new(id, ip, labels, &i, &why), HC_OK);
	sbuf_release(&why);
	return i;
}

/* The effective content of public/DEFAULT_GROUP/data_id for an instance. */
static void check_effective(store *st, const char *data_id, const gray_inst *in, const char *want,
			    const char *rule)
{
	store_config *c = NULL;
	store_effective e;

	CHECK_EQ_INT(store_get(st, "public", "DEFAULT_GROUP", data_id, &c), HC_OK);
	if (!c)
		return;
	store_gray_effective(c, in, &e);
	CHECK_EQ_STR(e.content, want);
	CHECK_EQ_INT(e.len, strlen(want));
	CHECK_EQ_STR(e.rule ? e.rule->name : "(main)", rule);
	store_config_unref(c);
}

static void test_gray_effective(void)
{
	const char *const ten[] = {"10.0.0.0/8"};
	store_gray_spec g;
	fixture fx;
	store_result r;
	gray_inst *both, *canary, *prod, *anon;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	g = gspec("a", 5, "env=canary", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "A", 2000, &r), HC_OK);
	g = gspec("b", 10, NULL, NULL);
	g.match.has_ips = 1;
	g.match.ips = ten;
	g.match.nips = 1;
	CHECK_EQ_INT(gput(fx.st, "app", &g, "B", 3000, &r), HC_OK);
	g = gspec("c", 10, "env=canary", NULL); /* ties with b, but younger */
	CHECK_EQ_INT(gput(fx.st, "app", &g, "C", 4000, &r), HC_OK);

	both = inst("i1", "10.1.2.3", "env=canary");
	canary = inst("i2", "192.168.0.1", "env=canary");
	prod = inst("i3", "192.168.0.2", "env=prod");
	anon = inst(NULL, NULL, NULL);
	check_effective(fx.st, "app", both, "B", "b");
	check_effective(fx.st, "app", canary, "C", "c");
	check_effective(fx.st, "app", prod, "main", "(main)");
	check_effective(fx.st, "app", anon, "main", "(main)");
	check_effective(fx.st, "app", NULL, "main", "(main)");
	/* Replacing b keeps its place: it still wins the tie with c. */
	g = gspec("b", 10, NULL, NULL);
	g.match.has_ips = 1;
	g.match.ips = ten;
	g.match.nips = 1;
	CHECK_EQ_INT(gput(fx.st, "app", &g, "B2", 5000, &r), HC_OK);
	check_effective(fx.st, "app", both, "B2", "b");
	/* Raising a's priority makes it win for canaries. */
	g = gspec("a", 20, "env=canary", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "A", 6000, &r), HC_OK);
	check_effective(fx.st, "app", both, "A", "a");
	check_effective(fx.st, "app", canary, "A", "a");
	/* A percent rule is sticky across a replace: the same instances stay in. */
	g = gspec("half", 30, NULL, "50");
	CHECK_EQ_INT(gput(fx.st, "app", &g, "H", 7000, &r), HC_OK);
	{
		char id[16];
		int k, in1[64], same = 1, some = 0;
		gray_inst *v;
		store_config *c = NULL;
		store_effective e;

		for (k = 0; k < 64; k++) {
			snprintf(id, sizeof(id), "host-%d", k);
			v = inst(id, "192.168.9.9", "env=prod");
			REQUIRE(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c) == HC_OK);
			store_gray_effective(c, v, &e);
			in1[k] = e.rule != NULL;
			some += in1[k];
			store_config_unref(c);
			gray_inst_free(v);
		}
		CHECK(some > 0 && some < 64);
		CHECK_EQ_INT(gput(fx.st, "app", &g, "H2", 8000, &r), HC_OK);
		for (k = 0; k < 64; k++) {
			snprintf(id, sizeof(id), "host-%d", k);
			v = inst(id, "192.168.9.9", "env=prod");
			REQUIRE(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c) == HC_OK);
			store_gray_effective(c, v, &e);
			same &= in1[k] == (e.rule != NULL);
			store_config_unref(c);
			gray_inst_free(v);
		}
		CHECK(same);
	}
	gray_inst_free(both);
	gray_inst_free(canary);
	gray_inst_free(prod);
	gray_inst_free(anon);
	fx_close(&fx);
}

static void test_gray_reopen(void)
{
	const char *const ten[] = {"10.0.0.0/8"};
	store_gray_spec g;
	fixture fx;
	store_result r;
	grule_seen a, b;
	gray_inst *in;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(put(fx.st, "other", "o", "text", 1000, &r), HC_OK);
	g = gspec("a", 1, "env=canary", "25.5");
	CHECK_EQ_INT(gput(fx.st, "app", &g, "A", 2000, &r), HC_OK);
	g = gspec("b", 1, NULL, NULL);
	g.match.has_ips = 1;
	g.match.ips = ten;
	g.match.nips = 1;
	CHECK_EQ_INT(gput(fx.st, "app", &g, "B", 3000, &r), HC_OK);
	a = gget(fx.st, "app", "a");
	store_close(fx.st);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 2);
	CHECK_EQ_INT(grules(fx.st, "other"), 0);
	b = gget(fx.st, "app", "a");
	CHECK(b.found && b.compiled);
	CHECK_EQ_STR(b.salt, a.salt);
	CHECK_EQ_STR(b.match, a.match);
	CHECK_EQ_STR(b.match, "{\"labels\":\"env=canary\",\"percent\":25.5}");
	CHECK_EQ_INT(b.created_rev, a.created_rev);
	CHECK(gget(fx.st, "app", "b").compiled);
	{
		/* Creation order survives too: a before b. */
		cfgkey k = gkey("app");
		store_gray_set *set = NULL;

		CHECK_EQ_INT(store_gray_list(fx.st, &k, &set), HC_OK);
		REQUIRE(set && set->n == 2);
		CHECK_EQ_STR(set->rules[0]->name, "a");
		CHECK_EQ_STR(set->rules[1]->name, "b");
		store_gray_set_unref(set);
		cfgkey_release(&k);
	}
	in = inst("x", "10.9.9.9", NULL);
	check_effective(fx.st, "app", in, "B", "b");
	gray_inst_free(in);
	/* A write after reopening keeps both (read from the database). */
	CHECK_EQ_INT(put(fx.st, "app", "main2", "text", 4000, &r), HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 2);
	fx_close(&fx);
}

/* What the feed said about gray changes. */
typedef struct gray_feed {
	pthread_mutex_t mu;
	int n;
	store_change_kind kind[8];
	store_op op[8];
	char rule[8][16];
	int prev_rules[8], new_rules[8];
	char prev_eff[8][33], new_eff[8][33]; /* an env=canary instance's md5 */
	char new_md5[8][33];
	gray_inst *probe;
} gray_feed;

static int set_n(const store_config *c)
{
	return c && c->gray ? (int)c->gray->n : 0;
}

static void on_gray_feed(void *ctx, const store_change *ch)
{
	gray_feed *f = ctx;
	store_effective e;
	int i;

	pthread_mutex_lock(&f->mu);
	i = f->n++;
	if (i < 8) {
		f->kind[i] = ch->kind;
		f->op[i] = ch->op;
		snprintf(f->rule[i], sizeof(f->rule[i]), "%s", ch->gray_rule ? ch->gray_rule : "");
		f->prev_rules[i] = set_n(ch->previous);
		f->new_rules[i] = set_n(ch->config);
		f->prev_eff[i][0] = f->new_eff[i][0] = f->new_md5[i][0] = '\0';
		if (ch->previous) {
			store_gray_effective(ch->previous, f->probe, &e);
			snprintf(f->prev_eff[i], 33, "%s", e.md5);
		}
		if (ch->config) {
			store_gray_effective(ch->config, f->probe, &e);
			snprintf(f->new_eff[i], 33, "%s", e.md5);
			snprintf(f->new_md5[i], 33, "%s", ch->config->md5);
		}
	}
	pthread_mutex_unlock(&f->mu);
}

static void test_gray_feed(void)
{
	gray_feed f;
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	fixture fx;
	store_result r;
	char m_main[33], m_g1[33], m_g2[33];

	memset(&f, 0, sizeof(f));
	pthread_mutex_init(&f.mu, NULL);
	f.probe = inst("p", "1.2.3.4", "env=canary");
	md5_hex("main", 4, m_main);
	md5_hex("g1", 2, m_g1);
	md5_hex("g2", 2, m_g2);
	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	store_subscribe(fx.st, on_gray_feed, NULL, &f);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g1", 2000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g1", 2500, &r), HC_OK); /* a no-op: silent */
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g2", 3000, &r), HC_OK);
	CHECK_EQ_INT(gdel(fx.st, "app", "canary", 4000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g1", 5000, &r), HC_OK);
	CHECK_EQ_INT(gpromote(fx.st, "app", "canary", 6000, &r), HC_OK);
	pthread_mutex_lock(&f.mu);
	REQUIRE(f.n == 5);
	CHECK_EQ_INT(f.kind[0], STORE_CHANGE_GRAY);
	CHECK_EQ_INT(f.op[0], STORE_OP_GRAY_PUBLISH);
	CHECK_EQ_STR(f.rule[0], "canary");
	CHECK_EQ_INT(f.prev_rules[0], 0);
	CHECK_EQ_INT(f.new_rules[0], 1);
	CHECK_EQ_STR(f.prev_eff[0], m_main);
	CHECK_EQ_STR(f.new_eff[0], m_g1);
	CHECK_EQ_STR(f.new_md5[0], m_main); /* main unchanged */
	/* A replace: both sets hold the rule, with the old and new content. */
	CHECK_EQ_INT(f.kind[1], STORE_CHANGE_GRAY);
	CHECK_EQ_INT(f.prev_rules[1], 1);
	CHECK_EQ_INT(f.new_rules[1], 1);
	CHECK_EQ_STR(f.prev_eff[1], m_g1);
	CHECK_EQ_STR(f.new_eff[1], m_g2);
	CHECK_EQ_INT(f.kind[2], STORE_CHANGE_GRAY);
	CHECK_EQ_INT(f.op[2], STORE_OP_GRAY_ABORT);
	CHECK_EQ_INT(f.new_rules[2], 0);
	CHECK_EQ_STR(f.prev_eff[2], m_g2);
	CHECK_EQ_STR(f.new_eff[2], m_main);
	/* A promote: once, as a content change whose snapshot lacks the rule. */
	CHECK_EQ_INT(f.kind[4], STORE_CHANGE_CONTENT);
	CHECK_EQ_INT(f.op[4], STORE_OP_GRAY_PROMOTE);
	CHECK_EQ_STR(f.rule[4], "canary");
	CHECK_EQ_INT(f.prev_rules[4], 1);
	CHECK_EQ_INT(f.new_rules[4], 0);
	CHECK_EQ_STR(f.new_md5[4], m_g1);
	CHECK_EQ_STR(f.prev_eff[4], m_g1);
	CHECK_EQ_STR(f.new_eff[4], m_g1);
	pthread_mutex_unlock(&f.mu);
	fx_close(&fx);
	gray_inst_free(f.probe);
	pthread_mutex_destroy(&f.mu);
}

/* A failed COMMIT of a gray write leaves the rules, the index, the history
 * and the revision as they were, and so does a reopened store. */
static void test_gray_fault(void)
{
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	fixture fx;
	store_result r;
	grule_seen before;
	int64_t rev, hist;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g1", 2000, &r), HC_OK);
	before = gget(fx.st, "app", "canary");
	rev = store_revision(fx.st);
	hist = history_total(fx.st, "public", "app");

	store_fault_arm(fx.st, STORE_FAULT_COMMIT, STORE_FAULT_IO, 0, 1);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g2", 3000, &r), HC_ERR_IO);
	CHECK(strstr(r.detail, "not committed") != NULL);
	store_fault_arm(fx.st, STORE_FAULT_COMMIT, STORE_FAULT_FULL, 0, 1);
	g = gspec("second", 1, "env=x", NULL);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "s", 3000, &r), HC_ERR_NO_SPACE);
	store_fault_arm(fx.st, STORE_FAULT_WRITE, STORE_FAULT_IO, 1, 1);
	CHECK_EQ_INT(gpromote(fx.st, "app", "canary", 3000, &r), HC_ERR_IO);
	store_fault_arm(fx.st, STORE_FAULT_COMMIT, STORE_FAULT_IO, 0, 1);
	CHECK_EQ_INT(gdel(fx.st, "app", "canary", 3000, &r), HC_ERR_IO);

	CHECK_EQ_INT(store_revision(fx.st), rev);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), hist);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	CHECK_EQ_STR(gget(fx.st, "app", "canary").content, "g1");
	CHECK_EQ_STR(gget(fx.st, "app", "canary").salt, before.salt);
	check_content(fx.st, "app", "main", "text", 1);
	store_close(fx.st);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(grules(fx.st, "app"), 1);
	CHECK_EQ_STR(gget(fx.st, "app", "canary").content, "g1");
	check_content(fx.st, "app", "main", "text", 1);
	/* The next one commits. */
	CHECK_EQ_INT(gpromote(fx.st, "app", "canary", 4000, &r), HC_OK);
	check_content(fx.st, "app", "g1", "text", 3);
	fx_close(&fx);
}

/* The newest ten audit entries into *v (the caller frees them); their count. */
static size_t audit_newest(store *st, store_audit **v)
{
	store_audit_query q;
	int64_t total = 0;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	q.limit = 10;
	CHECK_EQ_INT(store_audit_list(st, &q, v, &n, &total), HC_OK);
	return n;
}

static void test_gray_async_audit(void)
{
	outcomes o = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {{0}}};
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	store_audit *v = NULL;
	store_write w1, w2, w3;
	fixture fx;
	store_result r;
	size_t n = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	w1 = wr("public", "DEFAULT_GROUP", "app", "g1", 2000);
	w1.author = "alice";
	w1.audit_role = "editor";
	w2 = wr("public", "DEFAULT_GROUP", "app", NULL, 2001);
	w2.author = "alice";
	w2.audit_role = "approver";
	w3 = w2;
	/* Queued as one batch: put, then promote, then an abort of the
	 * promoted (so gone) rule, which fails alone. */
	store_fault_hold(fx.st, 1);
	store_gray_put_async(fx.st, &w1, &g, on_outcome, &o);
	store_gray_promote_async(fx.st, &w2, "canary", on_outcome, &o);
	store_gray_delete_async(fx.st, &w3, "canary", on_outcome, &o);
	store_fault_hold(fx.st, 0);
	REQUIRE(wait_outcomes(&o, 3));
	CHECK_EQ_INT(o.err[0], HC_OK);
	CHECK_EQ_INT(o.err[1], HC_OK);
	CHECK_EQ_INT(o.err[2], HC_ERR_NOT_FOUND);
	check_content(fx.st, "app", "g1", "text", 3);
	CHECK_EQ_INT(grules(fx.st, "app"), 0);

	n = audit_newest(fx.st, &v);
	REQUIRE(n == 2);
	CHECK_EQ_STR(v[1].action, "gray-publish");
	CHECK_EQ_STR(v[1].target, "DEFAULT_GROUP/app/gray/canary");
	CHECK_EQ_STR(v[1].old_md5, "");
	CHECK_EQ_STR(v[0].action, "gray-promote");
	CHECK_EQ_STR(v[0].role, "approver");
	store_audits_free(v, n);
	fx_close(&fx);
}

/* Rule entries are pruned apart from main ones: a burst of rule changes
 * never prunes the entry of the current main version. */
static void test_gray_prune(void)
{
	store_gray_spec g = gspec("canary", 1, "env=canary", NULL);
	store_history h;
	fixture fx;
	store_result r;
	int64_t deleted = -1;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(put(fx.st, "app", "main", "text", 1000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g1", 2000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g2", 3000, &r), HC_OK);
	CHECK_EQ_INT(gput(fx.st, "app", &g, "g3", 4000, &r), HC_OK);
	CHECK_EQ_INT(store_prune(fx.st, 10000, 1, 100, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 2); /* g1 and g2 */
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 1, &h), HC_OK);
	CHECK_EQ_STR(h.content, "main");
	store_history_release(&h);
	CHECK_EQ_INT(history_total(fx.st, "public", "app"), 2);
	fx_close(&fx);
}

/* The revision log: every change once, in revision order, with its names,
 * content and (gray entries) the rule's priority and salt; and pruning
 * keeps what store_prune_hold holds. */
static void test_log(void)
{
	store_gray_spec g = gspec("canary", 7, "env=canary", NULL);
	store_log_entry *v = NULL;
	fixture fx;
	store_result r;
	int64_t deleted = -1;
	size_t n = 0;

	REQUIRE(fx_open(&fx));
	CHECK_EQ_INT(store_log_since(fx.st, 0, 10, &v, &n), HC_OK);
	CHECK_EQ_INT(n, 0);
	put_versions(fx.st, "a", 1, 3, 100);			     /* revisions 1..3 */
	CHECK_EQ_INT(gput(fx.st, "a", &g, "g1", 400, &r), HC_OK);    /* 4 */
	CHECK_EQ_INT(put(fx.st, "b", "{}", "json", 500, &r), HC_OK); /* 5 */
	CHECK_EQ_INT(store_log_since(fx.st, 1, 3, &v, &n), HC_OK);
	REQUIRE(n == 3);
	CHECK_EQ_INT(v[0].h.revision, 2);
	CHECK_EQ_INT(v[2].h.revision, 4);
	CHECK_EQ_STR(v[0].data_id, "a");
	CHECK_EQ_STR(v[0].h.content, "v2");
	CHECK_EQ_INT(v[2].h.op, STORE_OP_GRAY_PUBLISH);
	CHECK_EQ_STR(v[2].h.gray_rule, "canary");
	CHECK_EQ_INT(v[2].gray_priority, 7);
	CHECK(strlen(v[2].gray_salt) > 0);
	CHECK_EQ_STR(v[2].gray_plan, "");
	store_log_free(v, n);
	CHECK_EQ_INT(store_log_since(fx.st, 4, 10, &v, &n), HC_OK);
	REQUIRE(n == 1);
	CHECK_EQ_STR(v[0].ns, "public");
	CHECK_EQ_STR(v[0].group, "DEFAULT_GROUP");
	CHECK_EQ_STR(v[0].data_id, "b");
	CHECK_EQ_STR(v[0].h.format, "json");
	store_log_free(v, n);

	/* Held at 1: a's v2 (revision 2) and later survive pruning... */
	store_prune_hold(fx.st, 1);
	CHECK_EQ_INT(store_prune(fx.st, 10000, 1, 100, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 1); /* a's v1 only */
	CHECK_EQ_INT(history_total(fx.st, "public", "a"), 3);
	/* ...until the hold moves on. */
	store_prune_hold(fx.st, INT64_MAX);
	CHECK_EQ_INT(store_prune(fx.st, 10000, 1, 100, &deleted), HC_OK);
	CHECK_EQ_INT(deleted, 1); /* a's v2 */
	CHECK_EQ_INT(store_log_since(fx.st, 0, 10, &v, &n), HC_OK);
	REQUIRE(n == 3);
	CHECK_EQ_INT(v[0].h.revision, 3); /* the gap a reader sees */
	store_log_free(v, n);
	fx_close(&fx);
}

static void cred(store *st, const char *id, const char *kind, int64_t expires)
{
	store_cred c;

	memset(&c, 0, sizeof(c));
	c.id = (char *)id;
	c.kind = (char *)kind;
	c.hash = (char *)id; /* unique, as a real hash is */
	c.name = c.user = "ana";
	c.role = "reader";
	c.namespaces = "public";
	c.csrf = "";
	c.created_ms = 1000;
	c.expires_ms = expires;
	CHECK_EQ_INT(store_cred_insert(st, &c), HC_OK);
}

static int cred_exists(store *st, const char *id)
{
	store_cred c;
	hc_err err = store_cred_get(st, id, &c);

	store_cred_release(&c);
	return err == HC_OK;
}

/* Expired sessions go at once; dead tokens once past the kept period. */
static void test_creds_prune(void)
{
	fixture fx;
	int64_t n = -1;

	CHECK(fx_open(&fx));
	CHECK_EQ_INT(store_user_create(fx.st, "ana", "hash", 0, 1000), HC_OK);
	cred(fx.st, "ses_old", "session", 5000);
	cred(fx.st, "ses_live", "session", 50000);
	cred(fx.st, "tok_expired_long_ago", "token", 2000);
	cred(fx.st, "tok_expired_lately", "token", 9000);
	cred(fx.st, "tok_live", "token", 90000);
	cred(fx.st, "tok_revoked_long_ago", "token", 90000);
	cred(fx.st, "tok_revoked_lately", "token", 90000);
	CHECK_EQ_INT(store_cred_revoke(fx.st, "tok_revoked_long_ago", 2500), HC_OK);
	CHECK_EQ_INT(store_cred_revoke(fx.st, "tok_revoked_lately", 9500), HC_OK);
	/* now 10000; tokens dead before 3000 go */
	CHECK_EQ_INT(store_creds_prune(fx.st, 10000, 3000, &n), HC_OK);
	CHECK_EQ_INT(n, 3);
	CHECK(!cred_exists(fx.st, "ses_old"));
	CHECK(cred_exists(fx.st, "ses_live"));
	CHECK(!cred_exists(fx.st, "tok_expired_long_ago"));
	CHECK(cred_exists(fx.st, "tok_expired_lately"));
	CHECK(cred_exists(fx.st, "tok_live"));
	CHECK(!cred_exists(fx.st, "tok_revoked_long_ago"));
	CHECK(cred_exists(fx.st, "tok_revoked_lately"));
	CHECK_EQ_INT(store_creds_prune(fx.st, 10000, 3000, &n), HC_OK);
	CHECK_EQ_INT(n, 0);
	fx_close(&fx);
}

/* Old audit entries go in batches, oldest first; younger ones stay. */
static void test_audit_prune(void)
{
	fixture fx;
	store_audit a;
	store_audit_query q;
	store_audit *v = NULL;
	size_t got = 0;
	int64_t n = -1, i, total = 0;

	CHECK(fx_open(&fx));
	memset(&a, 0, sizeof(a));
	a.actor = "ana";
	a.action = "login";
	for (i = 0; i < 7; i++) {
		a.at_ms = 1000 + i * 1000; /* 1000 .. 7000 */
		CHECK_EQ_INT(store_audit_add(fx.st, &a), HC_OK);
	}
	CHECK_EQ_INT(store_audit_prune(fx.st, 5500, 3, &n), HC_OK);
	CHECK_EQ_INT(n, 3); /* 1000, 2000, 3000 */
	CHECK_EQ_INT(store_audit_prune(fx.st, 5500, 3, &n), HC_OK);
	CHECK_EQ_INT(n, 2); /* 4000, 5000: fewer than asked, so none are left */
	CHECK_EQ_INT(store_audit_prune(fx.st, 5500, 3, &n), HC_OK);
	CHECK_EQ_INT(n, 0);
	memset(&q, 0, sizeof(q));
	q.limit = 100;
	CHECK_EQ_INT(store_audit_list(fx.st, &q, &v, &got, &total), HC_OK);
	CHECK_EQ_INT(total, 2); /* 6000 and 7000 */
	CHECK_EQ_INT(got, 2);
	CHECK(got == 2 && v[0].at_ms >= 6000 && v[1].at_ms >= 6000);
	store_audits_free(v, got);
	fx_close(&fx);
}

/* ---- rollout plans on gray rules (issue 10) ----
 *
 * Percents 0 and 100 make the instances' side certain: at 0 no instance is
 * in a rule, at 100 every one is. For 50 the test computes each instance's
 * bucket with gray_bucket() and the rule's salt, as the store must.
 */

#define RO_NINST 64

/* Instances "i0".."i63", labelled env=canary, made by ro_open. */
static gray_inst *ro_inst[RO_NINST];

static int ro_open(fixture *fx)
{
	char id[16];
	int i;

	for (i = 0; i < RO_NINST; i++) {
		snprintf(id, sizeof(id), "i%d", i);
		ro_inst[i] = inst(id, "10.0.0.1", "env=canary");
	}
	return fx_open(fx);
}

static void ro_close(fixture *fx)
{
	int i;

	fx_close(fx);
	for (i = 0; i < RO_NINST; i++) {
		gray_inst_free(ro_inst[i]);
		ro_inst[i] = NULL;
	}
}

static void ro_reopen(fixture *fx)
{
	store_close(fx->st);
	fx->st = NULL;
	CHECK_EQ_INT(store_open(fx->path, &fx->st), HC_OK);
}

static store_write ro_wr(const char *data_id, const char *content)
{
	store_write w;

	memset(&w, 0, sizeof(w));
	w.ns = "public";
	w.group = "DEFAULT_GROUP";
	w.data_id = data_id;
	w.content = content;
	w.len = content ? strlen(content) : 0;
	w.now_ms = 1000;
	return w;
}

static hc_err ro_publish(store *st, const char *data_id, const char *content)
{
	store_write w = ro_wr(data_id, content);
	store_result r;

	return store_publish(st, &w, &r);
}

/* A plan of n steps (hundredths), a minute apart, at most 2% rejected. */
static store_rollout_plan ro_plan(int n, const int *steps)
{
	store_rollout_plan p;

	memset(&p, 0, sizeof(p));
	p.nsteps = n;
	memcpy(p.steps, steps, (size_t)n * sizeof(*steps));
	p.interval_ms = 60000;
	p.max_rejected_is_pct = 1;
	p.max_rejected = 200;
	p.min_reports = 3;
	return p;
}

/* Puts rule name with plan p (NULL: none) and labels (NULL: none). */
static hc_err ro_gput(store *st, const char *data_id, const char *name, const char *content,
		      const char *labels, const store_rollout_plan *p, store_result *res)
{
	store_write w = ro_wr(data_id, content);
	store_gray_spec g;

	memset(&g, 0, sizeof(g));
	g.name = name;
	g.priority = 1;
	g.match.labels = labels;
	g.rollout = p;
	return store_gray_put(st, &w, &g, res);
}

/* Opens a store (ro_open) with config app ("main") and its rule canary
 * ("gray", no other match) on a plan of steps[0..n). */
static int ro_start(fixture *fx, int n, const int *steps)
{
	store_rollout_plan p = ro_plan(n, steps);
	store_result r;

	return ro_open(fx) && ro_publish(fx->st, "app", "main") == HC_OK &&
	       ro_gput(fx->st, "app", "canary", "gray", NULL, &p, &r) == HC_OK;
}

static const int ro_steps3[] = {0, 5000, 10000}, ro_steps2[] = {0, 10000};

static store_rollout_move ro_mv(store_rollout_action action)
{
	store_rollout_move m;

	memset(&m, 0, sizeof(m));
	m.action = action;
	m.expect_step = -1;
	return m;
}

static hc_err ro_move(store *st, const char *data_id, const char *rule, const store_rollout_move *m,
		      store_result *res)
{
	store_write w = ro_wr(data_id, NULL);

	return store_gray_rollout(st, &w, rule, m, res);
}

static hc_err ro_step(store *st, const char *data_id, const char *rule, int to)
{
	store_rollout_move m = ro_mv(STORE_ROLLOUT_STEP);
	store_result r;

	m.to_step = to;
	return ro_move(st, data_id, rule, &m, &r);
}

static hc_err ro_simple(store *st, const char *data_id, const char *rule, store_rollout_action a)
{
	store_rollout_move m = ro_mv(a);
	store_result r;

	m.reason = "too many rejections";
	return ro_move(st, data_id, rule, &m, &r);
}

/* A copy of a rule's fields, its rollout's included, or found 0. */
typedef struct ro_seen {
	int found, has_rollout, compiled;
	char content[32], md5[33], match[128], salt[64];
	int64_t revision;
	store_rollout ro;
	char reason[600];
} ro_seen;

static ro_seen ro_get(store *st, const char *data_id, const char *name)
{
	cfgkey k = CFGKEY_INIT;
	store_gray_rule *r = NULL;
	ro_seen s;

	memset(&s, 0, sizeof(s));
	cfgkey_init(&k, "public", "DEFAULT_GROUP", data_id);
	if (store_gray_get(st, &k, name, &r) == HC_OK) {
		s.found = 1;
		s.compiled = r->compiled != NULL;
		snprintf(s.content, sizeof(s.content), "%s", r->content);
		snprintf(s.md5, sizeof(s.md5), "%s", r->md5);
		snprintf(s.match, sizeof(s.match), "%s", r->match);
		snprintf(s.salt, sizeof(s.salt), "%s", r->salt);
		s.revision = r->revision;
		if (r->rollout) {
			s.has_rollout = 1;
			s.ro = *r->rollout;
			snprintf(s.reason, sizeof(s.reason), "%s", r->rollout->reason);
			s.ro.reason = NULL;
		}
	}
	store_gray_rule_unref(r);
	cfgkey_release(&k);
	return s;
}

/* How many of the fixture's instances get rule content (not main). */
static int ro_in_rule(fixture *fx, const char *data_id)
{
	store_config *c = NULL;
	store_effective e;
	int i, n = 0;

	if (store_get(fx->st, "public", "DEFAULT_GROUP", data_id, &c) != HC_OK)
		return -1;
	for (i = 0; i < RO_NINST; i++) {
		store_gray_effective(c, ro_inst[i], &e);
		n += e.rule != NULL;
	}
	store_config_unref(c);
	return n;
}

/* The newest history entry's op, rollout column and message. */
typedef struct ro_entry {
	char op[16], rollout[256], message[64], rule[32], match[128];
} ro_entry;

static ro_entry ro_newest(store *st, const char *data_id)
{
	store_history *h = NULL;
	size_t n = 0;
	int64_t total = 0;
	ro_entry e;

	memset(&e, 0, sizeof(e));
	if (store_history_list(st, "public", "DEFAULT_GROUP", data_id, 0, 1, &h, &n, &total) ==
		HC_OK &&
	    n == 1) {
		snprintf(e.op, sizeof(e.op), "%s", store_op_name(h[0].op));
		snprintf(e.rollout, sizeof(e.rollout), "%s", h[0].rollout);
		snprintf(e.message, sizeof(e.message), "%s", h[0].message);
		snprintf(e.rule, sizeof(e.rule), "%s", h[0].gray_rule);
		snprintf(e.match, sizeof(e.match), "%s", h[0].gray_match);
	}
	store_history_free(h, n);
	return e;
}

static void test_rollout_put(void)
{
	static const int steps[] = {5, 1250, 2500, 10000};
	store_rollout_plan p = ro_plan(4, steps);
	fixture fx;
	store_result r;
	int64_t before, after;
	ro_seen s;
	ro_entry e;

	REQUIRE(ro_open(&fx));
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	before = clock_wall_ms();
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "gray", NULL, &p, &r), HC_OK);
	after = clock_wall_ms();
	CHECK_EQ_INT(r.created, 1);
	CHECK_EQ_INT(r.changed, 1);
	s = ro_get(fx.st, "app", "canary");
	REQUIRE(s.has_rollout);
	CHECK_EQ_INT(s.ro.state, STORE_ROLLOUT_RUNNING);
	CHECK_EQ_INT(s.ro.step, 0);
	CHECK(s.ro.step_ms >= before && s.ro.step_ms <= after);
	CHECK_EQ_INT(s.ro.next_ms - s.ro.step_ms, 60000);
	CHECK_EQ_INT(s.ro.plan.nsteps, 4);
	CHECK_EQ_INT(s.ro.plan.steps[3], 10000);
	CHECK_EQ_INT(s.ro.plan.max_rejected, 200);
	CHECK_EQ_INT(s.ro.plan.min_reports, 3);
	CHECK_EQ_STR(s.reason, "");
	CHECK(s.compiled);
	CHECK_EQ_STR(s.match, "{\"percent\":0.05}");
	e = ro_newest(fx.st, "app");
	CHECK_EQ_STR(e.op, "gray-publish");
	CHECK_EQ_STR(e.match, "{\"percent\":0.05}");
	CHECK_EQ_STR(e.rollout, "{\"state\":\"running\",\"step\":1,\"percent\":0.05,"
				"\"steps\":[0.05,12.5,25,100],\"reason\":\"\"}");
	/* Other match fields stay, the percent goes last. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "labelled", "gray", "env=canary", &p, &r), HC_OK);
	CHECK_EQ_STR(ro_get(fx.st, "app", "labelled").match,
		     "{\"labels\":\"env=canary\",\"percent\":0.05}");
	/* A rule without a plan has none, and its entry no rollout. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "plain", "gray", "env=canary", NULL, &r), HC_OK);
	CHECK(!ro_get(fx.st, "app", "plain").has_rollout);
	CHECK_EQ_STR(ro_newest(fx.st, "app").rollout, "");
	ro_close(&fx);
}

static void ro_check_refused(store *st, const store_rollout_plan *p, const char *percent,
			     const char *field)
{
	store_write w = ro_wr("app", "gray");
	store_gray_spec g;
	store_result r;
	int64_t rev = store_revision(st);

	memset(&g, 0, sizeof(g));
	g.name = "canary";
	g.match.percent = percent;
	g.rollout = p;
	CHECK_EQ_INT(store_gray_put(st, &w, &g, &r), HC_ERR_INVALID);
	if (strncmp(r.detail, field, strlen(field)) != 0)
		fprintf(stderr, "detail '%s' does not start with '%s'\n", r.detail, field);
	CHECK(!strncmp(r.detail, field, strlen(field)));
	CHECK_EQ_INT(store_revision(st), rev);
}

static void test_rollout_put_invalid(void)
{
	static const int ok[] = {100, 500}, down[] = {100, 500, 500}, big[] = {10001};
	static const int neg[] = {-1, 5};
	store_rollout_plan p;
	fixture fx;
	int i;

	REQUIRE(ro_open(&fx));
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	p = ro_plan(2, ok);
	ro_check_refused(fx.st, &p, "5", "match.percent: a rule with a rollout");
	p = ro_plan(3, down);
	ro_check_refused(fx.st, &p, NULL, "rollout.steps[2]");
	p = ro_plan(1, big);
	ro_check_refused(fx.st, &p, NULL, "rollout.steps[0]");
	p = ro_plan(2, neg);
	ro_check_refused(fx.st, &p, NULL, "rollout.steps[0]");
	p = ro_plan(0, ok);
	ro_check_refused(fx.st, &p, NULL, "rollout.steps:");
	p = ro_plan(2, ok);
	p.nsteps = STORE_ROLLOUT_MAX_STEPS + 1;
	ro_check_refused(fx.st, &p, NULL, "rollout.steps:");
	p = ro_plan(2, ok);
	p.interval_ms = 0;
	ro_check_refused(fx.st, &p, NULL, "rollout.interval");
	p = ro_plan(2, ok);
	p.max_rejected = 10001;
	ro_check_refused(fx.st, &p, NULL, "rollout.maxRejected");
	p.max_rejected_is_pct = 0; /* a count may be any size */
	p.min_reports = -1;
	ro_check_refused(fx.st, &p, NULL, "rollout.minReports");
	CHECK(!ro_get(fx.st, "app", "canary").found);
	/* 16 steps is the most, and fine. */
	memset(&p, 0, sizeof(p));
	p.nsteps = STORE_ROLLOUT_MAX_STEPS;
	p.interval_ms = 1;
	for (i = 0; i < p.nsteps; i++)
		p.steps[i] = i * 100;
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "gray", NULL, &p, NULL), HC_OK);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.plan.nsteps, STORE_ROLLOUT_MAX_STEPS);
	ro_close(&fx);
}

static void test_rollout_step(void)
{
	store_rollout_move m;
	fixture fx;
	store_result r;
	ro_seen a, b;
	int64_t rev;
	int i, want;

	REQUIRE(ro_start(&fx, 3, ro_steps3));
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), 0);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	b = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(b.ro.step, 1);
	CHECK_EQ_INT(b.ro.state, STORE_ROLLOUT_RUNNING);
	CHECK(b.ro.step_ms >= a.ro.step_ms);
	CHECK_EQ_INT(b.ro.next_ms - b.ro.step_ms, 60000);
	CHECK_EQ_STR(b.match, "{\"percent\":50}");
	CHECK_EQ_STR(b.md5, a.md5);
	CHECK_EQ_STR(b.content, "gray");
	CHECK_EQ_STR(b.salt, a.salt);
	for (i = 0, want = 0; i < RO_NINST; i++) {
		char id[16];
		snprintf(id, sizeof(id), "i%d", i);
		want += gray_bucket(b.salt, id) < 5000;
	}
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), want);
	CHECK_EQ_STR(ro_newest(fx.st, "app").op, "gray-step");
	CHECK_EQ_STR(ro_newest(fx.st, "app").match, "{\"percent\":50}");
	CHECK_EQ_STR(ro_newest(fx.st, "app").rollout,
		     "{\"state\":\"running\",\"step\":2,\"percent\":50,\"steps\":[0,50,100],"
		     "\"reason\":\"\"}");

	/* Not back, not to where it is, not past the plan. */
	rev = store_revision(fx.st);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 0), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 3), HC_ERR_CONFLICT);
	/* A stale expectation changes nothing. */
	m = ro_mv(STORE_ROLLOUT_STEP);
	m.to_step = 2;
	m.expect_step = 0;
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_ERR_PRECONDITION);
	CHECK(strstr(r.detail, "at step 1, not 0") != NULL);
	m.expect_step = 1;
	m.expect_state = STORE_ROLLOUT_PAUSED;
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(store_revision(fx.st), rev);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.step, 1);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").revision, b.revision);
	CHECK_EQ_STR(ro_newest(fx.st, "app").op, "gray-step");

	/* If-Match is the rule's md5. */
	{
		store_write w = ro_wr("app", NULL);
		m.expect_state = STORE_ROLLOUT_RUNNING;
		w.if_match = "0123456789abcdef0123456789abcdef";
		CHECK_EQ_INT(store_gray_rollout(fx.st, &w, "canary", &m, &r), HC_ERR_PRECONDITION);
		w.if_match = a.md5;
		CHECK_EQ_INT(store_gray_rollout(fx.st, &w, "canary", &m, &r), HC_OK);
		CHECK_EQ_INT(r.revision, rev + 1);
		CHECK_EQ_INT(r.version, 1);
		CHECK_EQ_STR(r.md5, a.md5);
		CHECK_EQ_INT(r.changed, 1);
	}
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);

	/* Missing things. */
	CHECK_EQ_INT(ro_step(fx.st, "app", "nope", 1), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(ro_step(fx.st, "absent", "canary", 1), HC_ERR_NOT_FOUND);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "plain", "gray", "env=x", NULL, &r), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "app", "plain", 1), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", NULL, &r), HC_ERR_INVALID);
	ro_close(&fx);
}

static void test_rollout_pause_resume(void)
{
	fixture fx;
	ro_seen a, b;

	REQUIRE(ro_start(&fx, 3, ro_steps3));
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_PAUSED);
	CHECK(a.compiled);
	CHECK_EQ_STR(ro_newest(fx.st, "app").op, "gray-pause");
	CHECK(strstr(ro_newest(fx.st, "app").rollout, "\"state\":\"paused\"") != NULL);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_ERR_CONFLICT);
	/* /advance may step a paused rollout; it stays paused. */
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 2), HC_OK);
	b = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(b.ro.state, STORE_ROLLOUT_PAUSED);
	CHECK_EQ_INT(b.ro.step, 2);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_RUNNING);
	CHECK_EQ_INT(a.ro.step, 2);
	CHECK(a.ro.step_ms >= b.ro.step_ms);
	CHECK_EQ_INT(a.ro.next_ms - a.ro.step_ms, 60000);
	CHECK_EQ_STR(a.md5, b.md5);
	CHECK_EQ_STR(ro_newest(fx.st, "app").op, "gray-resume");
	ro_close(&fx);
}

static void test_rollout_abort_resume(void)
{
	store_rollout_move m;
	char longer[700];
	fixture fx;
	store_result r;
	store_gray_set *set = NULL;
	cfgkey k = CFGKEY_INIT;
	ro_seen a;
	ro_entry e;

	REQUIRE(ro_start(&fx, 2, ro_steps2));
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);
	m = ro_mv(STORE_ROLLOUT_ABORT);
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_ERR_INVALID); /* no reason */
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);
	m.reason = "3 of 40 instances rejected it (7.5% > 2%)";
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_OK);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), 0);
	a = ro_get(fx.st, "app", "canary");
	CHECK(a.found);
	CHECK(!a.compiled);
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_ABORTED);
	CHECK_EQ_INT(a.ro.step, 1);
	CHECK_EQ_STR(a.reason, m.reason);
	CHECK_EQ_STR(a.content, "gray");
	/* Still listed, with the others. */
	cfgkey_init(&k, "public", "DEFAULT_GROUP", "app");
	CHECK_EQ_INT(store_gray_list(fx.st, &k, &set), HC_OK);
	CHECK(set && set->n == 1 && set->compiled[0] == NULL);
	store_gray_set_unref(set);
	cfgkey_release(&k);
	e = ro_newest(fx.st, "app");
	CHECK_EQ_STR(e.op, "gray-abort");
	CHECK_EQ_STR(e.message, m.reason); /* no message: the reason */
	CHECK_EQ_STR(e.rule, "canary");
	CHECK_EQ_STR(e.rollout, "{\"state\":\"aborted\",\"step\":2,\"percent\":100,"
				"\"steps\":[0,100],\"reason\":\"3 of 40 instances rejected it "
				"(7.5% > 2%)\"}");
	/* Nothing but a resume (or a replace, or a delete) moves it now. */
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_ABORT), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PROMOTE), HC_ERR_CONFLICT);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_RUNNING);
	CHECK_EQ_INT(a.ro.step, 0);
	CHECK_EQ_STR(a.reason, "");
	CHECK(a.compiled);
	CHECK_EQ_STR(a.match, "{\"percent\":0}");
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);

	/* A long reason is cut at 512 bytes, never inside a character. */
	memset(longer, 'x', sizeof(longer));
	memcpy(longer + 511, "\xc3\xa9", 2); /* é across the cut */
	longer[sizeof(longer) - 1] = '\0';
	m.reason = longer;
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_OK);
	CHECK_EQ_INT(strlen(ro_get(fx.st, "app", "canary").reason), 511);
	ro_close(&fx);
}

static void test_rollout_replace(void)
{
	static const int steps[] = {0, 5000, 10000}, other[] = {0, 10000};
	store_rollout_plan p = ro_plan(3, steps), q = ro_plan(2, other);
	fixture fx;
	store_result r;
	ro_seen a;

	REQUIRE(ro_open(&fx));
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g1", "env=canary", &p, &r), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	/* The same rule and plan: a no-op, wherever the rollout is. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g1", "env=canary", &p, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 0);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.step, 1);
	/* Another plan, or another match, starts over. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g1", "env=canary", &q, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.step, 0);
	CHECK_EQ_INT(a.ro.plan.nsteps, 2);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g1", "env=other", &q, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.step, 0);
	/* New content while paused: step 0, still paused. */
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g2", "env=other", &q, &r), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_PAUSED);
	CHECK_EQ_INT(a.ro.step, 0);
	CHECK_EQ_STR(a.content, "g2");
	/* New content while aborted: still aborted, matching nothing, reason kept. */
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_ABORT), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g3", "env=other", &q, &r), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK_EQ_INT(a.ro.state, STORE_ROLLOUT_ABORTED);
	CHECK_EQ_INT(a.ro.step, 0);
	CHECK_EQ_STR(a.reason, "too many rejections");
	CHECK(!a.compiled);
	CHECK_EQ_STR(a.content, "g3");
	CHECK(strstr(ro_newest(fx.st, "app").rollout, "\"state\":\"aborted\"") != NULL);
	/* A replace without a plan drops it; the match is as given. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g3", "env=canary", NULL, &r), HC_OK);
	a = ro_get(fx.st, "app", "canary");
	CHECK(!a.has_rollout);
	CHECK(a.compiled);
	CHECK_EQ_STR(a.match, "{\"labels\":\"env=canary\"}");
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);
	/* And a plan on a rule that had none starts it running. */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g3", "env=canary", &q, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.state, STORE_ROLLOUT_RUNNING);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), 0);
	ro_close(&fx);
}

static void test_rollout_promote(void)
{
	static const int steps[] = {1000, 10000};
	static const char summary[] = "{\"steps\":2,\"applied\":40,\"rejected\":0}";
	store_rollout_plan p = ro_plan(2, steps);
	store_rollout_move m = ro_mv(STORE_ROLLOUT_PROMOTE);
	store_config *c = NULL;
	store_history h;
	fixture fx;
	store_result r;
	char md5[33];
	ro_entry e;

	REQUIRE(ro_start(&fx, 2, steps));
	m.expect_step = 1; /* the server promotes after the last step */
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_ERR_PRECONDITION);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	m.summary = summary;
	CHECK_EQ_INT(ro_move(fx.st, "app", "canary", &m, &r), HC_OK);
	md5_hex("gray", 4, md5);
	CHECK_EQ_STR(r.md5, md5);
	CHECK_EQ_INT(r.version, 4); /* main 1, gray-publish 2, gray-step 3 */
	CHECK(!ro_get(fx.st, "app", "canary").found);
	REQUIRE(store_get(fx.st, "public", "DEFAULT_GROUP", "app", &c) == HC_OK);
	CHECK_EQ_STR(c->content, "gray");
	CHECK_EQ_INT(c->version, 4);
	CHECK(c->gray == NULL);
	store_config_unref(c);
	e = ro_newest(fx.st, "app");
	CHECK_EQ_STR(e.op, "gray-promote");
	CHECK_EQ_STR(e.rule, "canary");
	CHECK_EQ_STR(e.rollout, summary);
	CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 4, &h), HC_OK);
	CHECK_EQ_STR(h.rollout, summary);
	CHECK_EQ_STR(h.content, "gray");
	store_history_release(&h);
	/* A rollout entry is no main version to roll back to. */
	{
		store_write w = ro_wr("app", NULL);
		CHECK_EQ_INT(store_rollback(fx.st, &w, 3, &r), HC_ERR_CONFLICT);
		CHECK_EQ_INT(store_history_get(fx.st, "public", "DEFAULT_GROUP", "app", 3, &h),
			     HC_OK);
		CHECK(strstr(h.rollout, "\"step\":2") != NULL);
		store_history_release(&h);
	}
	/* A plain promote of a rule with a plan works too, summary "". */
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "g2", NULL, &p, &r), HC_OK);
	{
		store_write w = ro_wr("app", NULL);
		CHECK_EQ_INT(store_gray_promote(fx.st, &w, "canary", &r), HC_OK);
	}
	CHECK_EQ_STR(ro_newest(fx.st, "app").rollout, "");
	ro_close(&fx);
}

static void test_rollout_history(void)
{
	static const char *const want[] = {"gray-resume", "gray-abort", "gray-resume",
					   "gray-pause",  "gray-step",	"gray-publish",
					   "publish"};
	store_history *h = NULL;
	fixture fx;
	size_t n = 0, i;
	int64_t total = 0;

	REQUIRE(ro_start(&fx, 3, ro_steps3));
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_ABORT), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "app", 0, 20, &h, &n, &total),
	    HC_OK);
	REQUIRE(n == sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		CHECK_EQ_STR(store_op_name(h[i].op), want[i]);
		CHECK_EQ_STR(h[i].gray_rule, i + 1 < n ? "canary" : "");
	}
	CHECK_EQ_STR(h[0].rollout, "{\"state\":\"running\",\"step\":1,\"percent\":0,"
				   "\"steps\":[0,50,100],\"reason\":\"\"}");
	CHECK_EQ_STR(h[0].gray_match, "{\"percent\":0}");
	CHECK(strstr(h[1].rollout, "\"state\":\"aborted\",\"step\":2,\"percent\":50") != NULL);
	CHECK(strstr(h[2].rollout, "\"state\":\"running\",\"step\":2") != NULL);
	CHECK(strstr(h[3].rollout, "\"state\":\"paused\",\"step\":2") != NULL);
	CHECK_EQ_STR(h[4].gray_match, "{\"percent\":50}");
	CHECK_EQ_STR(h[6].rollout, "");
	for (i = 0; i < n; i++)
		CHECK(h[i].rollout != NULL);
	store_history_free(h, n);
	ro_close(&fx);
}

/* ---- the feed ---- */

/* The feed of rollout moves: gray changes with the new ops, whose snapshots
 * tell which instances' content changed; a promote as a content change. */
static void test_rollout_feed(void)
{
	static const store_op ops[] = {STORE_OP_GRAY_STEP,   STORE_OP_GRAY_PAUSE,
				       STORE_OP_GRAY_RESUME, STORE_OP_GRAY_ABORT,
				       STORE_OP_GRAY_RESUME, STORE_OP_GRAY_PROMOTE};
	static const char prev_gray[] = "011100", new_gray[] = "111001"; /* '1': "gray" */
	char m_main[33], m_gray[33];
	gray_feed f;
	fixture fx;
	int i;

	memset(&f, 0, sizeof(f));
	pthread_mutex_init(&f.mu, NULL);
	md5_hex("main", 4, m_main);
	md5_hex("gray", 4, m_gray);
	REQUIRE(ro_start(&fx, 2, ro_steps2));
	f.probe = ro_inst[7];
	store_subscribe(fx.st, on_gray_feed, NULL, &f);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_ERR_CONFLICT); /* silent */
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_ABORT), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PROMOTE), HC_OK);
	pthread_mutex_lock(&f.mu);
	CHECK_EQ_INT(f.n, 6);
	for (i = 0; i < 6 && i < f.n; i++) {
		CHECK_EQ_INT(f.kind[i], i == 5 ? STORE_CHANGE_CONTENT : STORE_CHANGE_GRAY);
		CHECK_EQ_STR(store_op_name(f.op[i]), store_op_name(ops[i]));
		CHECK_EQ_STR(f.rule[i], "canary");
		CHECK_EQ_INT(f.prev_rules[i], 1);
		CHECK_EQ_INT(f.new_rules[i], i == 5 ? 0 : 1);
		CHECK_EQ_STR(f.prev_eff[i], prev_gray[i] == '1' ? m_gray : m_main);
		CHECK_EQ_STR(f.new_eff[i], new_gray[i] == '1' ? m_gray : m_main);
	}
	pthread_mutex_unlock(&f.mu);
	ro_close(&fx);
	pthread_mutex_destroy(&f.mu);
}

/* ---- durability, the running list, async and audit ---- */

static void test_rollout_reopen(void)
{
	static const int steps[] = {0, 5000, 10000};
	store_rollout_plan p = ro_plan(3, steps);
	fixture fx;
	store_result r;
	ro_seen a1, b1, c1, a2, b2, c2;
	int in1;

	REQUIRE(ro_open(&fx));
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	CHECK_EQ_INT(ro_publish(fx.st, "b", "main"), HC_OK);
	CHECK_EQ_INT(ro_publish(fx.st, "c", "main"), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "canary", "gray", "env=canary", &p, &r), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 1), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "b", "paused", "gray", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "b", "paused", 2), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "b", "paused", STORE_ROLLOUT_PAUSE), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "c", "aborted", "gray", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "c", "aborted", 2), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "c", "aborted", STORE_ROLLOUT_ABORT), HC_OK);
	a1 = ro_get(fx.st, "app", "canary");
	b1 = ro_get(fx.st, "b", "paused");
	c1 = ro_get(fx.st, "c", "aborted");
	in1 = ro_in_rule(&fx, "app");
	CHECK(in1 > 0 && in1 < RO_NINST); /* 50%, of 64: none or all would be odd */
	ro_reopen(&fx);
	REQUIRE(fx.st);
	a2 = ro_get(fx.st, "app", "canary");
	b2 = ro_get(fx.st, "b", "paused");
	c2 = ro_get(fx.st, "c", "aborted");
	CHECK(a2.has_rollout && b2.has_rollout && c2.has_rollout);
	CHECK_EQ_INT(a2.ro.state, STORE_ROLLOUT_RUNNING);
	CHECK_EQ_INT(a2.ro.step, 1);
	CHECK_EQ_INT(a2.ro.step_ms, a1.ro.step_ms);
	CHECK_EQ_INT(a2.ro.next_ms, a1.ro.next_ms);
	CHECK_EQ_INT(a2.ro.plan.interval_ms, 60000);
	CHECK_EQ_INT(a2.ro.plan.max_rejected_is_pct, 1);
	CHECK_EQ_INT(a2.ro.plan.max_rejected, 200);
	CHECK_EQ_INT(a2.ro.plan.min_reports, 3);
	CHECK_EQ_INT(a2.ro.plan.nsteps, 3);
	CHECK_EQ_INT(a2.ro.plan.steps[1], 5000);
	CHECK_EQ_STR(a2.salt, a1.salt);
	CHECK_EQ_STR(a2.match, "{\"labels\":\"env=canary\",\"percent\":50}");
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), in1); /* the same instances */
	CHECK_EQ_INT(b2.ro.state, STORE_ROLLOUT_PAUSED);
	CHECK_EQ_INT(b2.ro.step, 2);
	CHECK_EQ_INT(b2.ro.next_ms, b1.ro.next_ms);
	CHECK_EQ_INT(ro_in_rule(&fx, "b"), RO_NINST);
	CHECK_EQ_INT(c2.ro.state, STORE_ROLLOUT_ABORTED);
	CHECK_EQ_INT(c2.ro.step, 2);
	CHECK_EQ_STR(c2.reason, c1.reason);
	CHECK_EQ_STR(c2.reason, "too many rejections");
	CHECK(!c2.compiled);
	CHECK_EQ_INT(ro_in_rule(&fx, "c"), 0);
	/* It goes on from there, and a write reloads the same state. */
	CHECK_EQ_INT(ro_step(fx.st, "app", "canary", 2), HC_OK);
	CHECK_EQ_INT(ro_in_rule(&fx, "app"), RO_NINST);
	CHECK_EQ_INT(ro_simple(fx.st, "c", "aborted", STORE_ROLLOUT_RESUME), HC_OK);
	CHECK_EQ_INT(ro_get(fx.st, "c", "aborted").ro.step, 0);
	ro_close(&fx);
}

typedef struct ro_listed {
	int n;
	char what[8][96];
} ro_listed;

static void ro_on_rollout(void *ctx, const cfgkey *key, const store_gray_rule *r)
{
	ro_listed *l = ctx;

	if (l->n < 8)
		snprintf(l->what[l->n], sizeof(l->what[0]), "%s %s %d", key->s, r->name,
			 r->rollout->step);
	l->n++;
}

static int ro_listed_has(const ro_listed *l, const char *what)
{
	int i;

	for (i = 0; i < l->n && i < 8; i++)
		if (!strcmp(l->what[i], what))
			return 1;
	return 0;
}

static void test_rollout_list(void)
{
	static const int steps[] = {0, 5000, 10000};
	store_rollout_plan p = ro_plan(3, steps);
	fixture fx;
	store_result r;
	ro_listed l;

	REQUIRE(ro_open(&fx));
	memset(&l, 0, sizeof(l));
	store_gray_rollouts(fx.st, ro_on_rollout, &l);
	CHECK_EQ_INT(l.n, 0);
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	CHECK_EQ_INT(ro_publish(fx.st, "other", "main"), HC_OK);
	CHECK_EQ_INT(ro_publish(fx.st, "none", "main"), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "run1", "g", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "paused", "g", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "aborted", "g", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "app", "plain", "g", "env=x", NULL, &r), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "other", "run2", "g", NULL, &p, &r), HC_OK);
	CHECK_EQ_INT(ro_gput(fx.st, "none", "plain", "g", "env=x", NULL, &r), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "paused", STORE_ROLLOUT_PAUSE), HC_OK);
	CHECK_EQ_INT(ro_simple(fx.st, "app", "aborted", STORE_ROLLOUT_ABORT), HC_OK);
	CHECK_EQ_INT(ro_step(fx.st, "other", "run2", 2), HC_OK);
	store_gray_rollouts(fx.st, ro_on_rollout, &l);
	CHECK_EQ_INT(l.n, 2);
	CHECK(ro_listed_has(&l, "public/DEFAULT_GROUP/app run1 0"));
	CHECK(ro_listed_has(&l, "public/DEFAULT_GROUP/other run2 2"));
	/* Resumed, it is listed again; after a reopen too. */
	CHECK_EQ_INT(ro_simple(fx.st, "app", "paused", STORE_ROLLOUT_RESUME), HC_OK);
	ro_reopen(&fx);
	REQUIRE(fx.st);
	memset(&l, 0, sizeof(l));
	store_gray_rollouts(fx.st, ro_on_rollout, &l);
	CHECK_EQ_INT(l.n, 3);
	CHECK(ro_listed_has(&l, "public/DEFAULT_GROUP/app paused 0"));
	ro_close(&fx);
}

/* Queued in one batch: a put with a plan whose struct is gone by then (the
 * store copies it), a step, and a stale step that fails alone; and each
 * move audited. */
static void test_rollout_async_audit(void)
{
	static const int steps[] = {0, 5000, 10000};
	outcomes o = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, {{0}}};
	store_rollout_move m1 = ro_mv(STORE_ROLLOUT_STEP), m2;
	store_write w1 = ro_wr("app", "gray"), w2 = ro_wr("app", NULL);
	store_audit *v = NULL;
	store_gray_spec g;
	fixture fx;
	size_t n = 0;
	int64_t rev;

	REQUIRE(ro_open(&fx));
	CHECK_EQ_INT(ro_publish(fx.st, "app", "main"), HC_OK);
	memset(&g, 0, sizeof(g));
	g.name = "canary";
	w1.author = w2.author = "rollout";
	w1.audit_role = w2.audit_role = "system";
	rev = store_revision(fx.st);
	store_fault_hold(fx.st, 1);
	{
		store_rollout_plan p = ro_plan(3, steps);
		g.rollout = &p;
		store_gray_put_async(fx.st, &w1, &g, on_outcome, &o);
		memset(&p, 0xff, sizeof(p)); /* what the store copied is what counts */
	}
	m1.to_step = 1;
	m1.expect_step = 0;
	m2 = m1;
	store_gray_rollout_async(fx.st, &w2, "canary", &m1, on_outcome, &o);
	store_gray_rollout_async(fx.st, &w2, "canary", &m2, on_outcome, &o);
	store_fault_hold(fx.st, 0);
	REQUIRE(wait_outcomes(&o, 3));
	CHECK_EQ_INT(o.err[0], HC_OK);
	CHECK_EQ_INT(o.err[1], HC_OK);
	CHECK_EQ_INT(o.err[2], HC_ERR_PRECONDITION);
	CHECK_EQ_INT(store_revision(fx.st), rev + 2);
	CHECK(strstr(o.detail[2], "at step 1, not 0") != NULL);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.step, 1);
	CHECK_EQ_INT(ro_get(fx.st, "app", "canary").ro.plan.nsteps, 3);

	CHECK_EQ_INT(ro_simple(fx.st, "app", "canary", STORE_ROLLOUT_PAUSE), HC_OK); /* no role */
	w2.message = NULL;
	m1 = ro_mv(STORE_ROLLOUT_ABORT);
	m1.reason = "5 rejected";
	{
		store_result r;
		CHECK_EQ_INT(store_gray_rollout(fx.st, &w2, "canary", &m1, &r), HC_OK);
	}
	n = audit_newest(fx.st, &v);
	REQUIRE(n == 3);
	CHECK_EQ_STR(v[0].action, "gray-abort");
	CHECK_EQ_STR(v[0].detail, "5 rejected");
	CHECK_EQ_STR(v[0].target, "DEFAULT_GROUP/app/gray/canary");
	CHECK_EQ_STR(v[0].old_md5, v[0].new_md5); /* the content did not change */
	CHECK_EQ_STR(v[1].action, "gray-step");
	CHECK_EQ_STR(v[1].role, "system");
	CHECK_EQ_STR(v[2].action, "gray-publish");
	store_audits_free(v, n);
	ro_close(&fx);
}

/* ---- change requests (store_change.h) ---- */

/* A publish item of config data_id with content, based on base ("" new). */
static store_cr_item cr_item(const char *data_id, const char *content, const char *base)
{
	store_cr_item it;

	memset(&it, 0, sizeof(it));
	it.op = STORE_CR_PUBLISH;
	it.group = "DEFAULT_GROUP";
	it.data_id = (char *)data_id;
	it.rule = "";
	it.content = (char *)content;
	it.len = strlen(content);
	it.format = "text";
	it.spec = "";
	md5_hex(content, it.len, it.md5);
	snprintf(it.base_md5, sizeof(it.base_md5), "%s", base);
	return it;
}

static int64_t cr_new(store *st, const store_cr_item *items, size_t n, const char *author)
{
	store_cr_input in;
	char detail[256];
	int64_t id = 0;

	memset(&in, 0, sizeof(in));
	in.ns = "public";
	in.title = "five at once";
	in.items = items;
	in.nitems = n;
	in.actor = author;
	in.now_ms = 5000;
	CHECK_EQ_INT(store_cr_create(st, &in, &id, detail, sizeof(detail)), HC_OK);
	return id;
}

/* The publish request of cr as the server builds it: one write per item. */
static hc_err cr_publish(store *st, const store_cr *cr, int scheduled, store_cr_write *w,
			 store_result *res)
{
	store_cr_publish_req p;
	size_t i;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < cr->nitems; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].op = cr->items[i].op;
		w[i].w.ns = "public";
		w[i].w.group = cr->items[i].group;
		w[i].w.data_id = cr->items[i].data_id;
		w[i].w.content = cr->items[i].content;
		w[i].w.len = cr->items[i].len;
		w[i].w.format = cr->items[i].format;
		w[i].base_md5 = cr->items[i].base_md5;
	}
	p.ns = "public";
	p.id = cr->id;
	p.expect_rev = scheduled ? -1 : cr->rev;
	p.items = w;
	p.nitems = cr->nitems;
	p.scheduled = scheduled;
	p.actor = "bob";
	p.now_ms = 9000;
	return store_cr_publish(st, &p, res);
}

static hc_err cr_do(store *st, int64_t id, store_cr_action a, const char *actor)
{
	store_cr_move m;
	char detail[256];

	memset(&m, 0, sizeof(m));
	m.action = a;
	m.expect_rev = -1;
	m.actor = actor;
	m.at_ms = 8000;
	m.now_ms = 6000;
	return store_cr_move_to(st, "public", id, &m, NULL, detail, sizeof(detail));
}

/* Five configs publish in one transaction or not at all: a fault on a
 * write in the middle of the items leaves all five as they were; without
 * it all five move, their history entries carry the request's id and
 * title, and the request is published once. */
static void test_cr_atomic(void)
{
	static const char *const ids[] = {"a", "b", "c", "d", "e"};
	store_cr_item items[5];
	store_cr_write w[5];
	store_history *h = NULL;
	store_result r;
	store_cr cr;
	fixture fx;
	size_t i, n;
	int64_t id, total, ver;
	char md5[33];

	REQUIRE(fx_open(&fx));
	for (i = 0; i < 5; i++) {
		REQUIRE(put(fx.st, ids[i], "old", NULL, 1000, &r) == HC_OK);
		items[i] = cr_item(ids[i], "new", r.md5);
	}
	id = cr_new(fx.st, items, 5, "alice");
	REQUIRE(id > 0);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_DRAFT);
	CHECK_EQ_INT(cr.nitems, 5);
	CHECK_EQ_STR(cr.items[2].content, "new");

	/* Each item writes configs, history and the revision: the 8th write
	 * statement is inside the third item. */
	store_fault_arm(fx.st, STORE_FAULT_WRITE, STORE_FAULT_IO, 8, 1);
	CHECK(cr_publish(fx.st, &cr, 0, w, &r) != HC_OK);
	for (i = 0; i < 5; i++) {
		char key[64];
		snprintf(key, sizeof(key), "public/DEFAULT_GROUP/%s", ids[i]);
		CHECK_EQ_INT(peek(fx.st, key, md5, &ver), HC_OK);
		CHECK_EQ_INT(ver, 1);
	}
	store_cr_release(&cr);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_DRAFT);

	CHECK_EQ_INT(cr_publish(fx.st, &cr, 0, w, &r), HC_OK);
	CHECK_EQ_INT(r.changed, 1);
	CHECK_EQ_INT(r.revision, 10);
	for (i = 0; i < 5; i++) {
		char key[64];
		snprintf(key, sizeof(key), "public/DEFAULT_GROUP/%s", ids[i]);
		CHECK_EQ_INT(peek(fx.st, key, md5, &ver), HC_OK);
		CHECK_EQ_INT(ver, 2);
	}
	CHECK_EQ_INT(
	    store_history_list(fx.st, "public", "DEFAULT_GROUP", "c", 0, 10, &h, &n, &total),
	    HC_OK);
	REQUIRE(n == 2);
	CHECK_EQ_INT(h[0].change_id, id);
	CHECK_EQ_STR(h[0].message, "five at once");
	CHECK_EQ_STR(h[0].author, "bob");
	CHECK_EQ_INT(h[1].change_id, 0);
	store_history_free(h, n);
	store_cr_release(&cr);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_PUBLISHED);
	CHECK_EQ_INT(cr.published_rev, 10);
	CHECK_EQ_STR(cr.published_by, "bob");
	/* At most once. */
	CHECK_EQ_INT(cr_publish(fx.st, &cr, 0, w, &r), HC_ERR_CONFLICT);
	store_cr_release(&cr);
	fx_close(&fx);
}

/* A base that changed after the item was added fails the publish with a
 * conflict naming the config; nothing is written. */
static void test_cr_stale(void)
{
	store_cr_item items[2];
	store_cr_write w[2];
	store_result r;
	store_cr cr;
	fixture fx;
	int64_t id, ver;
	char md5[33];

	REQUIRE(fx_open(&fx));
	REQUIRE(put(fx.st, "a", "old", NULL, 1000, &r) == HC_OK);
	items[0] = cr_item("a", "new", r.md5);
	items[1] = cr_item("fresh", "new", "");
	id = cr_new(fx.st, items, 2, "alice");
	REQUIRE(put(fx.st, "a", "meanwhile", NULL, 2000, &r) == HC_OK);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr_publish(fx.st, &cr, 0, w, &r), HC_ERR_CONFLICT);
	CHECK(strstr(r.detail, "DEFAULT_GROUP/a") != NULL);
	CHECK(strstr(r.detail, "fresh") == NULL);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/fresh", md5, &ver), HC_ERR_NOT_FOUND);
	store_cr_release(&cr);

	/* A scheduled one that finds its base changed fails, and says so. */
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_SCHEDULE, "alice"), HC_OK);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_SCHEDULED);
	CHECK_EQ_INT(cr.scheduled_ms, 8000);
	CHECK_EQ_INT(cr_publish(fx.st, &cr, 1, w, &r), HC_ERR_CONFLICT);
	store_cr_release(&cr);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_FAILED);
	CHECK(strstr(cr.reason, "DEFAULT_GROUP/a") != NULL);
	CHECK_EQ_INT(peek(fx.st, "public/DEFAULT_GROUP/fresh", md5, &ver), HC_ERR_NOT_FOUND);
	store_cr_release(&cr);
	fx_close(&fx);
}

/* In a namespace that requires review a direct write is refused, a
 * request needs an approval by someone other than its author, and then
 * publishes. */
static void test_cr_review(void)
{
	store_cr_item items[1];
	store_cr_write w[1];
	store_result r;
	store_cr cr;
	store_cr_state state = 0;
	store_cr_move m;
	char detail[256];
	fixture fx;
	int64_t id;
	int req = -1;

	REQUIRE(fx_open(&fx));
	REQUIRE(put(fx.st, "a", "old", NULL, 1000, &r) == HC_OK);
	CHECK_EQ_INT(store_namespace_set_review(fx.st, "public", 1, "root", "admin", "", 1500),
		     HC_OK);
	CHECK_EQ_INT(store_namespace_review(fx.st, "public", &req), HC_OK);
	CHECK_EQ_INT(req, 1);
	CHECK_EQ_INT(put(fx.st, "a", "direct", NULL, 2000, &r), HC_ERR_CONFLICT);
	CHECK(strstr(r.detail, "requires review") != NULL);
	CHECK_EQ_INT(del(fx.st, "a", 2000, &r), HC_ERR_CONFLICT);

	items[0] = cr_item("a", "reviewed", "");
	md5_hex("old", 3, items[0].base_md5);
	id = cr_new(fx.st, items, 1, "alice");
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr_publish(fx.st, &cr, 0, w, &r), HC_ERR_CONFLICT);
	CHECK(strstr(r.detail, "approval") != NULL);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_SCHEDULE, "alice"), HC_ERR_CONFLICT);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_APPROVE, "carol"), HC_ERR_CONFLICT); /* a draft */
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_SUBMIT, "alice"), HC_OK);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_APPROVE, "alice"), HC_ERR_CONFLICT); /* author */
	memset(&m, 0, sizeof(m));
	m.action = STORE_CR_APPROVE;
	m.expect_rev = -1;
	m.actor = "carol";
	m.now_ms = 7000;
	CHECK_EQ_INT(store_cr_move_to(fx.st, "public", id, &m, &state, detail, sizeof(detail)),
		     HC_OK);
	CHECK_EQ_INT(state, STORE_CR_APPROVED);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_APPROVE, "carol"), HC_ERR_CONFLICT); /* approved */
	store_cr_release(&cr);
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.approvals, 1);
	CHECK_EQ_INT(cr_publish(fx.st, &cr, 0, w, &r), HC_OK);
	check_content(fx.st, "a", "reviewed", "text", 2);
	store_cr_release(&cr);

	/* An edit makes a rejected request a draft again, at the next rev, and its
	 * earlier approvals lapse. */
	items[0] = cr_item("a", "third", "");
	md5_hex("reviewed", 8, items[0].base_md5);
	id = cr_new(fx.st, items, 1, "alice");
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_SUBMIT, "alice"), HC_OK);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_REJECT, "carol"), HC_OK);
	{
		store_cr_input in;
		memset(&in, 0, sizeof(in));
		in.ns = "public";
		in.title = "third, again";
		in.actor = "alice";
		in.now_ms = 8000;
		CHECK_EQ_INT(store_cr_update(fx.st, id, 1, &in, detail, sizeof(detail)), HC_OK);
		CHECK_EQ_INT(store_cr_update(fx.st, id, 1, &in, detail, sizeof(detail)),
			     HC_ERR_PRECONDITION);
	}
	REQUIRE(store_cr_get(fx.st, "public", id, &cr) == HC_OK);
	CHECK_EQ_INT(cr.state, STORE_CR_DRAFT);
	CHECK_EQ_INT(cr.rev, 2);
	CHECK_EQ_STR(cr.title, "third, again");
	CHECK(cr.nevents >= 4);
	store_cr_release(&cr);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_CANCEL, "alice"), HC_OK);
	CHECK_EQ_INT(cr_do(fx.st, id, STORE_CR_SUBMIT, "alice"), HC_ERR_CONFLICT);
	fx_close(&fx);
}

/* Scheduled requests come back from store_cr_due once due, across a
 * reopen; a cancelled one does not. */
static void test_cr_due(void)
{
	store_cr_item items[1];
	store_result r;
	store_cr *v = NULL;
	size_t n = 0;
	int64_t id1, id2, next = -1;
	fixture fx;

	REQUIRE(fx_open(&fx));
	REQUIRE(put(fx.st, "a", "old", NULL, 1000, &r) == HC_OK);
	items[0] = cr_item("a", "new", r.md5);
	id1 = cr_new(fx.st, items, 1, "alice");
	id2 = cr_new(fx.st, items, 1, "alice");
	CHECK_EQ_INT(cr_do(fx.st, id1, STORE_CR_SCHEDULE, "alice"), HC_OK);
	CHECK_EQ_INT(cr_do(fx.st, id2, STORE_CR_SCHEDULE, "alice"), HC_OK);
	CHECK_EQ_INT(cr_do(fx.st, id2, STORE_CR_CANCEL, "alice"), HC_OK);
	store_close(fx.st);
	REQUIRE(store_open(fx.path, &fx.st) == HC_OK);
	CHECK_EQ_INT(store_cr_due(fx.st, 7999, 10, &v, &n, &next), HC_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(next, 8000);
	store_crs_free(v, n);
	CHECK_EQ_INT(store_cr_due(fx.st, 8000, 10, &v, &n, &next), HC_OK);
	REQUIRE(n == 1);
	CHECK_EQ_INT(v[0].id, id1);
	CHECK_EQ_STR(v[0].published_by, "alice");
	CHECK_EQ_INT(next, 0);
	store_crs_free(v, n);

	/* Pruning takes the ended (cancelled) one only, and only once old enough. */
	{
		store_cr cr;
		int64_t deleted = -1;
		CHECK_EQ_INT(store_cr_prune(fx.st, 6000, 10, &deleted), HC_OK);
		CHECK_EQ_INT(deleted, 0);
		CHECK_EQ_INT(store_cr_prune(fx.st, 6001, 10, &deleted), HC_OK);
		CHECK_EQ_INT(deleted, 1);
		CHECK_EQ_INT(store_cr_get(fx.st, "public", id2, &cr), HC_ERR_NOT_FOUND);
		CHECK_EQ_INT(store_cr_get(fx.st, "public", id1, &cr), HC_OK);
		store_cr_release(&cr);
	}
	fx_close(&fx);
}

int main(void)
{
	RUN(test_open_creates_schema);
	RUN(test_creds_prune);
	RUN(test_audit_prune);
	RUN(test_open_failure);
	RUN(test_publish);
	RUN(test_noop_publish);
	RUN(test_format);
	RUN(test_if_match);
	RUN(test_create_only);
	RUN(test_missing_namespace);
	RUN(test_get_peek);
	RUN(test_delete);
	RUN(test_rollback);
	RUN(test_history);
	RUN(test_list);
	RUN(test_get_scope);
	RUN(test_namespaces);
	RUN(test_prune);
	RUN(test_log);
	RUN(test_reopen);
	RUN(test_schema_too_new);
	RUN(test_binary_content);
	RUN(test_threads);
	RUN(test_group_commit_cas);
	RUN(test_async_writes);
	RUN(test_feed);
	RUN(test_feed_batch);
	RUN(test_fault_commit);
	RUN(test_fault_write);
	RUN(test_decisions_in_tx);
	RUN(test_check_in_tx);
	RUN(test_gray_put_list_get);
	RUN(test_gray_if_match);
	RUN(test_gray_cap);
	RUN(test_gray_invalid);
	RUN(test_gray_promote);
	RUN(test_gray_abort);
	RUN(test_gray_main_publish_keeps);
	RUN(test_gray_effective);
	RUN(test_gray_reopen);
	RUN(test_gray_feed);
	RUN(test_gray_fault);
	RUN(test_gray_async_audit);
	RUN(test_gray_prune);
	RUN(test_rollout_put);
	RUN(test_rollout_put_invalid);
	RUN(test_rollout_step);
	RUN(test_rollout_pause_resume);
	RUN(test_rollout_abort_resume);
	RUN(test_rollout_replace);
	RUN(test_rollout_promote);
	RUN(test_rollout_history);
	RUN(test_rollout_feed);
	RUN(test_rollout_reopen);
	RUN(test_rollout_list);
	RUN(test_rollout_async_audit);
	RUN(test_cr_atomic);
	RUN(test_cr_stale);
	RUN(test_cr_review);
	RUN(test_cr_due);
	return hc_test_report();
}
