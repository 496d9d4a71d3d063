/*
 * gitmirror.c: the git mirror (see gitmirror.h): a feed subscriber that
 * notes revisions, and one thread that turns the store's revision log into
 * commits with libgit2.
 *
 * Threading: gm_on_change runs on the store's writer thread and only takes
 * gm.mu for a store and a signal. The mirror thread alone uses the
 * repository; it takes gm.mu to read its target and to publish what it
 * wrote, never across git or store calls. gm_status_json and gm_wait take
 * gm.mu alone.
 */
#include "gitmirror.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "gitmirror_int.h"
#include "hc_log.h"
#include "xmalloc.h"

#define GM_BATCH 16 /* entries per read of the log: a short hold of the store's connection */
#define GM_BACKOFF_MIN_MS 100	/* the first retry after a failed commit */
#define GM_BACKOFF_MAX_MS 10000 /* retries never wait longer */
#define GM_ERR_MAX 512

struct gm {
	store *st;
	char *dir;
	git_repository *repo; /* the mirror thread's alone once it runs */
	pthread_t thread;
	int started;

	pthread_mutex_t mu; /* guards everything below; taken alone */
	pthread_cond_t cond;
	int stop;
	int64_t target;		  /* the newest revision the feed announced */
	int64_t done;		  /* the revision of the last commit written */
	char err[GM_ERR_MAX];	  /* the last failure, "" when the last pass worked */
	int64_t err_ms;		  /* when it happened (wall clock) */
	int failing;		  /* the last attempt failed */
	int64_t gap_from, gap_to; /* revisions pruned before they were mirrored; 0: none */
};

/* ---- shared with gitrestore.c ---- */

static void path_part(sbuf *out, const char *name, int top)
{
	sbuf_addstr(out, name);
	if (!strcasecmp(name, ".git") || (top && !strcmp(name, GM_GRAY_DIR)))
		sbuf_addch(out, '~');
}

void gm_path(sbuf *out, const char *ns, const char *group, const char *data_id, const char *rule,
	     const char *leaf)
{
	if (rule)
		sbuf_addstr(out, GM_GRAY_DIR "/");
	path_part(out, ns, !rule);
	sbuf_addch(out, '/');
	path_part(out, group, 0);
	sbuf_addch(out, '/');
	path_part(out, data_id, 0);
	if (!rule)
		return;
	sbuf_addch(out, '/');
	path_part(out, rule, 0);
	if (leaf) {
		sbuf_addch(out, '/');
		sbuf_addstr(out, leaf);
	}
}

hc_err gm_git_err(const char *what, char *buf, size_t cap)
{
	const git_error *e = git_error_last();

	snprintf(buf, cap, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	return HC_ERR_IO;
}

hc_err gm_open(const char *dir, int create, git_repository **out)
{
	git_repository_init_options o;
	git_config *cfg = NULL;
	char why[GM_ERR_MAX];
	int rc;

	*out = NULL;
	rc = git_repository_open_ext(
	    out, dir, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	if (rc == GIT_ENOTFOUND && create) {
		git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
			  GIT_REPOSITORY_INIT_NO_REINIT;
		o.initial_head = "main";
		rc = git_repository_init_ext(out, dir, &o);
	}
	if (rc == 0 && !git_repository_is_bare(*out)) {
		hc_log("%s is a git work tree, not a bare repository", dir);
		goto fail;
	}
	/* Names like "app." are fine here: no checkout on Windows or macOS
	 * will ever see this tree, so git's NTFS and HFS guards stay off. */
	if (rc == 0 && create && !git_repository_config(&cfg, *out)) {
		git_config_set_bool(cfg, "core.protectNTFS", 0);
		git_config_set_bool(cfg, "core.protectHFS", 0);
		git_config_free(cfg);
	}
	if (rc == 0)
		return HC_OK;
	gm_git_err(dir, why, sizeof(why));
	hc_log("%s is not a git repository hotconf can use (%s)", dir, why);
fail:
	git_repository_free(*out);
	*out = NULL;
	return HC_ERR_INVALID;
}

int gm_trailer(const char *msg, const char *key, sbuf *out)
{
	git_message_trailer_array a = {0};
	size_t i;
	int found = -1;

	if (git_message_trailers(&a, msg))
		return -1;
	for (i = 0; i < a.count && found < 0; i++)
		if (!strcmp(a.trailers[i].key, key)) {
			sbuf_addstr(out, a.trailers[i].value);
			found = 0;
		}
	git_message_trailer_array_free(&a);
	return found;
}

/* ---- the tree of one commit ---- */

/*
 * Sets path comps[0..n) under base (NULL: an empty tree) to blob (NULL:
 * removes it, folders included, and every folder it leaves empty); *out gets
 * the new tree, *empty 1 when it holds nothing.
 */
static int tree_set(git_repository *repo, const git_tree *base, char **comps, size_t n,
		    const git_oid *blob, git_oid *out, int *empty)
{
	git_treebuilder *tb = NULL;
	git_tree *sub = NULL;
	const git_tree_entry *e;
	git_oid sub_oid;
	int sub_empty = 0, rc;

	rc = git_treebuilder_new(&tb, repo, base);
	if (rc)
		goto out;
	e = git_treebuilder_get(tb, comps[0]);
	if (n == 1) {
		if (blob)
			rc = git_treebuilder_insert(NULL, tb, comps[0], blob, GIT_FILEMODE_BLOB);
		else if (e)
			rc = git_treebuilder_remove(tb, comps[0]);
	} else if (blob || (e && git_tree_entry_type(e) == GIT_OBJECT_TREE)) {
		if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = git_tree_lookup(&sub, repo, git_tree_entry_id(e));
		if (!rc)
			rc = tree_set(repo, sub, comps + 1, n - 1, blob, &sub_oid, &sub_empty);
		if (!rc && sub_empty)
			rc = e ? git_treebuilder_remove(tb, comps[0]) : 0;
		else if (!rc)
			rc =
			    git_treebuilder_insert(NULL, tb, comps[0], &sub_oid, GIT_FILEMODE_TREE);
	}
	if (!rc) {
		*empty = git_treebuilder_entrycount(tb) == 0;
		rc = git_treebuilder_write(out, tb);
	}
out:
	git_tree_free(sub);
	git_treebuilder_free(tb);
	return rc;
}

/* Sets path (a/b/c) in *tree to data[0..n) (data NULL: removes it); *tree
 * becomes the new tree. */
static int tree_edit(git_repository *repo, git_tree **tree, const char *path, const char *data,
		     size_t n)
{
	char *copy = xstrdup(path), *comps[8], *p, *save = NULL;
	git_oid blob, root;
	git_tree *next = NULL;
	size_t nc = 0;
	int empty, rc = 0;

	for (p = strtok_r(copy, "/", &save); p && nc < 8; p = strtok_r(NULL, "/", &save))
		comps[nc++] = p;
	if (data)
		rc = git_blob_create_from_buffer(&blob, repo, data, n);
	if (!rc)
		rc = tree_set(repo, *tree, comps, nc, data ? &blob : NULL, &root, &empty);
	if (!rc)
		rc = git_tree_lookup(&next, repo, &root);
	if (!rc) {
		git_tree_free(*tree);
		*tree = next;
	}
	free(copy);
	return rc;
}

/* A gray rule's rule.json: one field a line, so a diff shows what moved. */
static void rule_json(const store_log_entry *e, sbuf *out)
{
	const store_history *h = &e->h;

	sbuf_addstr(out, "{\n  \"name\": ");
	sbuf_add_json_str(out, h->gray_rule, strlen(h->gray_rule));
	sbuf_addf(out, ",\n  \"priority\": %d,\n  \"format\": ", e->gray_priority);
	sbuf_add_json_str(out, h->format, strlen(h->format));
	sbuf_addf(out, ",\n  \"match\": %s,\n  \"salt\": ", *h->gray_match ? h->gray_match : "{}");
	sbuf_add_json_str(out, e->gray_salt, strlen(e->gray_salt));
	sbuf_addf(out, ",\n  \"plan\": %s,\n  \"rollout\": %s\n}\n",
		  *e->gray_plan ? e->gray_plan : "null", *h->rollout ? h->rollout : "null");
}

/* The rule stays after this op (a rollout's abort keeps it, matching
 * nobody); a plain abort and a promote remove it. */
static int rule_stays(const store_history *h)
{
	switch (h->op) {
	case STORE_OP_GRAY_PUBLISH:
	case STORE_OP_GRAY_STEP:
	case STORE_OP_GRAY_PAUSE:
	case STORE_OP_GRAY_RESUME:
		return 1;
	case STORE_OP_GRAY_ABORT:
		return *h->rollout != '\0';
	case STORE_OP_PUBLISH:
	case STORE_OP_DELETE:
	case STORE_OP_ROLLBACK:
	case STORE_OP_GRAY_PROMOTE:
		return 0;
	}
	return 0;
}

/* Applies entry e to *tree. */
static int apply_entry(git_repository *repo, git_tree **tree, const store_log_entry *e)
{
	const store_history *h = &e->h;
	sbuf path = SBUF_INIT(SBUF_NOMAX), json = SBUF_INIT(SBUF_NOMAX);
	int rc = 0;

	if (h->op == STORE_OP_PUBLISH || h->op == STORE_OP_ROLLBACK ||
	    h->op == STORE_OP_GRAY_PROMOTE || h->op == STORE_OP_DELETE) {
		gm_path(&path, e->ns, e->group, e->data_id, NULL, NULL);
		rc = tree_edit(repo, tree, path.buf, h->op == STORE_OP_DELETE ? NULL : h->content,
			       h->len);
	}
	if (!rc && *h->gray_rule) {
		sbuf_reset(&path);
		if (rule_stays(h)) {
			gm_path(&path, e->ns, e->group, e->data_id, h->gray_rule, GM_RULE_CONTENT);
			rc = tree_edit(repo, tree, path.buf, h->content, h->len);
			sbuf_reset(&path);
			gm_path(&path, e->ns, e->group, e->data_id, h->gray_rule, GM_RULE_JSON);
			rule_json(e, &json);
			if (!rc)
				rc = tree_edit(repo, tree, path.buf, json.buf, json.len);
		} else {
			gm_path(&path, e->ns, e->group, e->data_id, h->gray_rule, NULL);
			rc = tree_edit(repo, tree, path.buf, NULL, 0);
		}
	}
	sbuf_release(&path);
	sbuf_release(&json);
	return rc;
}

/* A name git takes in a signature: no angle brackets or line breaks. */
static void sig_name(const char *author, sbuf *out)
{
	const char *p;

	for (p = author; *p; p++)
		sbuf_addch(out, strchr("<>\n\r", *p) ? '_' : *p);
	if (!out->len)
		sbuf_addstr(out, "hotconf");
}

/* The commit message: the write's message, then the trailers. */
static void commit_message(const store_log_entry *e, const char *sig, sbuf *out)
{
	const store_history *h = &e->h;
	sbuf cfg = SBUF_INIT(SBUF_NOMAX);

	gm_path(&cfg, e->ns, e->group, e->data_id, NULL, NULL);
	if (*h->message)
		sbuf_addstr(out, h->message);
	else
		sbuf_addf(out, "%s %s", store_op_name(h->op), cfg.buf);
	sbuf_addf(out,
		  "\n\nHotconf-Op: %s\nHotconf-Config: %s/%s/%s\nHotconf-Version: %" PRId64
		  "\nHotconf-Revision: %" PRId64 "\nHotconf-Format: %s\n",
		  store_op_name(h->op), e->ns, e->group, e->data_id, h->version, h->revision,
		  h->format);
	if (*h->gray_rule)
		sbuf_addf(out, "Hotconf-Gray-Rule: %s\n", h->gray_rule);
	if (h->op == STORE_OP_GRAY_PROMOTE && *h->rollout)
		sbuf_addf(out, "Hotconf-Rollout: %s\n", h->rollout);
	if (h->change_id)
		sbuf_addf(out, "Hotconf-Change-Id: %" PRId64 "\n", h->change_id);
	/* The signature could not say it exactly (a trailer's value is never
	 * empty: the parser would take the next line for it). */
	if (*h->author && strcmp(sig, h->author))
		sbuf_addf(out, "Hotconf-Author: %s\n", h->author);
	if (!*h->author || !*h->message)
		sbuf_addf(out, "Hotconf-Empty: %s\n",
			  !*h->author && !*h->message ? "author, message"
			  : *h->author		      ? "message"
						      : "author");
	sbuf_release(&cfg);
}

/* Writes entry e as one commit on GM_REF; why gets the reason on failure. */
static hc_err write_commit(gm *m, const store_log_entry *e, char *why, size_t cap)
{
	git_reference *ref = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_signature *author = NULL, *committer = NULL;
	sbuf name = SBUF_INIT(SBUF_NOMAX), msg = SBUF_INIT(SBUF_NOMAX);
	git_oid id;
	hc_err err = HC_ERR_IO;
	int rc;

	rc = git_reference_lookup(&ref, m->repo, GM_REF);
	if (rc == 0)
		rc = git_commit_lookup(&parent, m->repo, git_reference_target(ref));
	if (rc == 0)
		rc = git_commit_tree(&tree, parent);
	if (rc && rc != GIT_ENOTFOUND) {
		gm_git_err("reading " GM_REF, why, cap);
		goto out;
	}
	/* Every entry edits at least one path, so tree is set after it. */
	if (apply_entry(m->repo, &tree, e) || !tree) {
		gm_git_err("writing the tree", why, cap);
		goto out;
	}
	sig_name(e->h.author, &name);
	commit_message(e, name.buf, &msg);
	if (git_signature_new(&author, name.buf, "hotconf", e->h.created_ms / 1000, 0) ||
	    git_signature_now(&committer, "hotconf mirror", "hotconf")) {
		gm_git_err("making the signature", why, cap);
		goto out;
	}
	if (git_commit_create(&id, m->repo, GM_REF, author, committer, NULL, msg.buf, tree,
			      parent ? 1 : 0, (const git_commit **)&parent)) {
		gm_git_err("writing the commit", why, cap);
		goto out;
	}
	err = HC_OK;
out:
	git_signature_free(author);
	git_signature_free(committer);
	git_tree_free(tree);
	git_commit_free(parent);
	git_reference_free(ref);
	sbuf_release(&name);
	sbuf_release(&msg);
	return err;
}

/* The revision in the newest commit's trailer (0: no commit yet). */
static hc_err head_revision(git_repository *repo, const char *dir, int64_t *rev)
{
	git_reference *ref = NULL;
	git_commit *c = NULL;
	sbuf v = SBUF_INIT(64);
	hc_err err = HC_OK;
	char *end;
	int rc;

	*rev = 0;
	rc = git_reference_lookup(&ref, repo, GM_REF);
	if (rc == GIT_ENOTFOUND)
		return HC_OK;
	if (rc || git_commit_lookup(&c, repo, git_reference_target(ref)) ||
	    gm_trailer(git_commit_message(c), "Hotconf-Revision", &v)) {
		hc_log("%s: the last commit of " GM_REF " is not a hotconf mirror's (it has no "
		       "Hotconf-Revision trailer)",
		       dir);
		err = HC_ERR_INVALID;
	} else {
		errno = 0;
		*rev = strtoll(v.buf, &end, 10);
		if (errno || *end || *rev < 0) {
			hc_log("%s: bad Hotconf-Revision trailer '%s'", dir, v.buf);
			err = HC_ERR_INVALID;
		}
	}
	git_commit_free(c);
	git_reference_free(ref);
	sbuf_release(&v);
	return err;
}

/* ---- the mirror thread ---- */

static void note_failure(gm *m, const char *why)
{
	pthread_mutex_lock(&m->mu);
	if (!m->failing || strcmp(m->err, why))
		hc_log("git mirror %s: %s (retrying)", m->dir, why);
	snprintf(m->err, sizeof(m->err), "%s", why);
	m->err_ms = clock_wall_ms();
	m->failing = 1;
	pthread_mutex_unlock(&m->mu);
}

/* Writes what the log holds after done, at most one batch; HC_OK when every
 * entry of it was committed. */
static hc_err mirror_pass(gm *m, int64_t done)
{
	store_log_entry *v = NULL;
	size_t n = 0, i;
	char why[GM_ERR_MAX];
	hc_err err;

	err = store_log_since(m->st, done, GM_BATCH, &v, &n);
	if (err) {
		snprintf(why, sizeof(why), "reading the store's revision log: %s",
			 hc_err_code(err));
		note_failure(m, why);
		return err;
	}
	for (i = 0; i < n; i++) {
		if ((err = write_commit(m, &v[i], why, sizeof(why)))) {
			note_failure(m, why);
			break;
		}
		pthread_mutex_lock(&m->mu);
		if (v[i].h.revision > m->done + 1) {
			m->gap_from = m->done + 1;
			m->gap_to = v[i].h.revision - 1;
			hc_log("git mirror %s: revisions %" PRId64 "-%" PRId64
			       " were pruned before "
			       "they were mirrored",
			       m->dir, m->gap_from, m->gap_to);
		}
		m->done = v[i].h.revision;
		m->failing = 0;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->mu);
		store_prune_hold(m->st, v[i].h.revision);
	}
	pthread_mutex_lock(&m->mu);
	if (!err && n == 0 && m->target > m->done)
		m->target = m->done; /* announced but pruned away: nothing left to write */
	pthread_mutex_unlock(&m->mu);
	store_log_free(v, n);
	return err;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *mirror_main(void *arg)
{
	gm *m = arg;
	uint64_t backoff = 0, retry_at = 0;
	struct timespec ts;
	int64_t done;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		if (retry_at && clock_mono_ms() < retry_at) {
			deadline_in(&ts, retry_at - clock_mono_ms());
			pthread_cond_timedwait(&m->cond, &m->mu, &ts);
			continue;
		}
		if (!retry_at && m->done >= m->target) {
			pthread_cond_wait(&m->cond, &m->mu);
			continue;
		}
		done = m->done;
		pthread_mutex_unlock(&m->mu);
		if (mirror_pass(m, done)) {
			backoff = backoff ? backoff * 2 : GM_BACKOFF_MIN_MS;
			if (backoff > GM_BACKOFF_MAX_MS)
				backoff = GM_BACKOFF_MAX_MS;
			retry_at = clock_mono_ms() + backoff;
		} else {
			backoff = retry_at = 0;
		}
		pthread_mutex_lock(&m->mu);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* The feed subscriber, on the writer thread: note and signal, nothing more. */
static void gm_on_change(void *ctx, const store_change *ch)
{
	gm *m = ctx;

	pthread_mutex_lock(&m->mu);
	if (ch->revision > m->target)
		m->target = ch->revision;
	if (ch->batch_end)
		pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->mu);
}

hc_err gm_start(store *st, const char *dir, gm **out)
{
	gm *m = xcalloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int64_t rev, have;
	hc_err err;
	int rc;

	*out = NULL;
	git_libgit2_init();
	m->st = st;
	m->dir = xstrdup(dir);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((err = gm_open(dir, 1, &m->repo)) || (err = head_revision(m->repo, dir, &rev)))
		goto fail;
	have = store_revision(st);
	if (rev > have) {
		hc_log("git mirror %s is at revision %" PRId64 " but the store only at %" PRId64
		       ": it mirrors another store (use a new directory, or restore from it)",
		       dir, rev, have);
		err = HC_ERR_INVALID;
		goto fail;
	}
	m->done = rev;
	m->target = have;
	store_prune_hold(st, rev);
	store_subscribe(st, gm_on_change, NULL, m);
	rc = pthread_create(&m->thread, NULL, mirror_main, m);
	if (rc) {
		hc_log("cannot start the git mirror thread: %s", strerror(rc));
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	m->started = 1;
	hc_log("git mirror %s: at revision %" PRId64 ", the store at %" PRId64, dir, rev, have);
	*out = m;
	return HC_OK;

fail:
	gm_stop(m);
	return err;
}

void gm_stop(gm *m)
{
	if (!m)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->stop = 1;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	store_prune_hold(m->st, INT64_MAX);
	git_repository_free(m->repo);
	git_libgit2_shutdown();
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->mu);
	free(m->dir);
	free(m);
}

void gm_status_json(gm *m, sbuf *out)
{
	int64_t have = store_revision(m->st);
	char at[32];

	pthread_mutex_lock(&m->mu);
	sbuf_addf(out,
		  "{\"revision\":%" PRId64 ",\"storeRevision\":%" PRId64 ",\"lag\":%" PRId64
		  ",\"state\":\"%s\",\"lastError\":",
		  m->done, have, have > m->done ? have - m->done : 0,
		  m->failing	   ? "failing"
		  : have > m->done ? "behind"
				   : "ok");
	if (*m->err) {
		clock_format_iso(m->err_ms, at);
		sbuf_add_json_str(out, m->err, strlen(m->err));
		sbuf_addf(out, ",\"lastErrorAt\":\"%s\"", at);
	} else {
		sbuf_addstr(out, "null,\"lastErrorAt\":null");
	}
	if (m->gap_to)
		sbuf_addf(out, ",\"gap\":\"%" PRId64 "-%" PRId64 "\"}", m->gap_from, m->gap_to);
	else
		sbuf_addstr(out, ",\"gap\":null}");
	pthread_mutex_unlock(&m->mu);
}

int64_t gm_revision(gm *m)
{
	int64_t r;

	pthread_mutex_lock(&m->mu);
	r = m->done;
	pthread_mutex_unlock(&m->mu);
	return r;
}

int gm_wait(gm *m, int64_t rev, uint64_t timeout_ms)
{
	struct timespec ts;
	int ok;

	deadline_in(&ts, timeout_ms);
	pthread_mutex_lock(&m->mu);
	while (m->done < rev && pthread_cond_timedwait(&m->cond, &m->mu, &ts) != ETIMEDOUT)
		;
	ok = m->done >= rev;
	pthread_mutex_unlock(&m->mu);
	return ok;
}
