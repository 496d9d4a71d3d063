/*
 * test_gitmirror.c: the git mirror against a real store and a real bare
 * repository in a mkdtemp() directory, read back with libgit2: names git
 * refuses are escaped one to one, both ways (mirror, then restore), and a
 * restore refuses a store that already holds changes. Waits on the
 * mirror's condition (gm_wait) with a deadline; never sleeps.
 * tests/e2e/mirror.test.js covers the trailers, gray rules, failures and
 * the HTTP side.
 */
#include <dirent.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gitmirror.h"
#include "harness.h"
#include "store.h"

/* Removes path and everything below it. */
static void rm_rf(const char *path)
{
	struct stat sb;
	struct dirent *e;
	char sub[1024];
	DIR *d;

	if (lstat(path, &sb))
		return;
	if (S_ISDIR(sb.st_mode) && (d = opendir(path))) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
				rm_rf(sub);
			}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/* A fresh directory in dir[64]; 0 when none could be made. */
static int tmp_dir(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 64, "%s/hc-gm-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) != NULL;
}

static hc_err publish(store *st, const char *ns, const char *group, const char *data_id,
		      const char *content)
{
	store_write w = {0};
	store_result r;

	w.ns = ns;
	w.group = group;
	w.data_id = data_id;
	w.content = content;
	w.len = strlen(content);
	w.author = "ana";
	w.message = "m";
	w.now_ms = 1700000000000LL;
	return store_publish(st, &w, &r);
}

/* The blob at spec ("main:path") in the repository at dir, or "(absent)". */
static void check_blob(const char *dir, const char *spec, const char *want)
{
	git_repository *repo = NULL;
	git_object *o = NULL;
	const char *got = "(absent)";
	size_t n = strlen(got);

	REQUIRE(git_repository_open_bare(&repo, dir) == 0);
	if (git_revparse_single(&o, repo, spec) == 0 && git_object_type(o) == GIT_OBJECT_BLOB) {
		got = git_blob_rawcontent((git_blob *)o);
		n = (size_t)git_blob_rawsize((git_blob *)o);
	}
	CHECK_EQ_INT(n, strlen(want));
	CHECK(n == strlen(want) && !memcmp(got, want, n));
	git_object_free(o);
	git_repository_free(repo);
}

static void check_config(store *st, const char *ns, const char *group, const char *data_id,
			 const char *want)
{
	store_config *c = NULL;

	CHECK_EQ_INT(store_get(st, ns, group, data_id, &c), HC_OK);
	if (c) {
		CHECK_EQ_STR(c->content, want);
		CHECK_EQ_INT(c->version, 1);
		CHECK_EQ_STR(c->author, "ana");
	}
	store_config_unref(c);
}

static void test_escape_round_trip(void)
{
	char dir[64], db[256], mirror[128], data[128];
	sbuf status = SBUF_INIT(SBUF_NOMAX);
	store *st = NULL;
	gm *m = NULL;

	REQUIRE(tmp_dir(dir));
	snprintf(db, sizeof(db), "%s/hotconf.db", dir);
	snprintf(mirror, sizeof(mirror), "%s/sub/m.git", dir); /* parents made too */
	snprintf(data, sizeof(data), "%s/restored", dir);
	REQUIRE(store_open(db, &st) == HC_OK);
	REQUIRE(gm_start(st, mirror, &m) == HC_OK);
	CHECK_EQ_INT(store_namespace_create(st, ".gray", ".gray", "", 1), HC_OK);
	CHECK_EQ_INT(publish(st, ".gray", "g", "d", "in .gray"), HC_OK);
	CHECK_EQ_INT(publish(st, "public", ".git", "x", "in .git"), HC_OK);
	CHECK_EQ_INT(publish(st, "public", "g", ".Git", "named .Git"), HC_OK);
	REQUIRE(gm_wait(m, 3, 20000));
	CHECK_EQ_INT(gm_revision(m), 3);
	gm_status_json(m, &status);
	CHECK(strstr(status.buf, "\"lag\":0,\"state\":\"ok\"") != NULL);
	gm_stop(m); /* no write after this */
	store_close(st);

	git_libgit2_init();
	check_blob(mirror, "main:.gray~/g/d", "in .gray");
	check_blob(mirror, "main:public/.git~/x", "in .git");
	check_blob(mirror, "main:public/g/.Git~", "named .Git");
	check_blob(mirror, "main:.gray/g/d", "(absent)"); /* .gray/ is the rules' alone */

	CHECK_EQ_INT(gm_restore(mirror, data), HC_OK);
	snprintf(db, sizeof(db), "%s/hotconf.db", data);
	REQUIRE(store_open(db, &st) == HC_OK);
	CHECK_EQ_INT(store_revision(st), 3);
	check_config(st, ".gray", "g", "d", "in .gray");
	check_config(st, "public", ".git", "x", "in .git");
	check_config(st, "public", "g", ".Git", "named .Git");
	store_close(st);
	CHECK_EQ_INT(gm_restore(mirror, data), HC_ERR_CONFLICT);
	git_libgit2_shutdown();
	sbuf_release(&status);
	rm_rf(dir);
}

/* A mirror that is ahead of the store (another store's) is refused. */
static void test_refuses_other_store(void)
{
	char dir[64], db[128], db2[128], mirror[128];
	store *st = NULL;
	gm *m = NULL;

	REQUIRE(tmp_dir(dir));
	snprintf(db, sizeof(db), "%s/a.db", dir);
	snprintf(db2, sizeof(db2), "%s/b.db", dir);
	snprintf(mirror, sizeof(mirror), "%s/m.git", dir);
	REQUIRE(store_open(db, &st) == HC_OK);
	REQUIRE(gm_start(st, mirror, &m) == HC_OK);
	CHECK_EQ_INT(publish(st, "public", "g", "a", "1"), HC_OK);
	REQUIRE(gm_wait(m, 1, 20000));
	gm_stop(m);
	store_close(st);
	REQUIRE(store_open(db2, &st) == HC_OK);
	m = NULL;
	CHECK_EQ_INT(gm_start(st, mirror, &m), HC_ERR_INVALID);
	CHECK(m == NULL);
	store_close(st);
	rm_rf(dir);
}

int main(void)
{
	RUN(test_escape_round_trip);
	RUN(test_refuses_other_store);
	return hc_test_report();
}
