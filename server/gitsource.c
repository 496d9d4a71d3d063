/*
 * gitsource.c: a git repository as the source of some namespaces (see
 * gitsource.h): one thread that fetches, reads each new commit's tree with
 * libgit2 and publishes it through store_batch.
 *
 * Threading: the sync thread alone uses the repository and the applied
 * commit; it takes gs.mu only to read its orders and to publish its status,
 * never across git or store calls. gs_status_json and gs_sync_now take
 * gs.mu alone.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "gitsource.h"

#include <errno.h>
#include <stdarg.h>
#include <git2.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgkey.h"
#include "clock.h"
#include "format.h"
#include "hc_log.h"
#include "md5.h"
#include "store_auth.h"
#include "store_change.h"
#include "validate.h"
#include "xmalloc.h"

#define GS_FETCHED "refs/hotconf/fetched"
#define GS_ERR_MAX 512
#define GS_INVALID_MAX 100  /* invalid files kept for health; the rest are counted */
#define GS_MESSAGE_MAX 2000 /* bytes of a commit's summary in a version's message */

/* A file of the commit being applied that is a config. */
typedef struct gs_file {
	char *ns, *group, *data_id;
	git_oid id;		   /* its blob, read again only when it is published */
	char md5[MD5_HEX_LEN + 1]; /* of its content */
	const char *format;
} gs_file;

/* What one commit's tree holds under the path. */
typedef struct gs_tree {
	gs_file *files;
	size_t n, cap;
	char **nss; /* its namespaces, in tree order */
	size_t nns, nns_cap;
	sbuf invalid;	 /* JSON array items: {"path","error"} */
	size_t ninvalid; /* all of them, kept or not */
	char **bad;	 /* ns/group/dataId of invalid files: never deleted for it */
	size_t nbad, nbad_cap;
} gs_tree;

struct gs {
	store *st;
	char *url, *ref, *path, *data_dir, *source;
	uint64_t interval_ms;
	size_t max_content;
	git_repository *repo; /* the sync thread's alone */
	git_oid applied;      /* the sync thread's alone: the last commit published */
	int have_applied;
	pthread_t thread;
	int started;

	pthread_mutex_t mu; /* guards everything below; taken alone */
	pthread_cond_t cond;
	int stop, kick, syncing, failing;
	char commit[GIT_OID_HEXSZ + 1]; /* "" before the first sync */
	char *message;			/* its summary */
	int64_t synced_ms;		/* the last sync that worked (wall clock) */
	char err[GS_ERR_MAX];
	int64_t err_ms;
	char *nss_json;	    /* the namespaces of the commit, a JSON array */
	char *invalid_json; /* its invalid files, a JSON array */
};

/* ---- small helpers ---- */

static char *git_why(const char *what, char *buf, size_t cap)
{
	const git_error *e = git_error_last();

	snprintf(buf, cap, "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	return buf;
}

static void push_str(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(s);
}

static int has_str(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static void free_strs(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void tree_free(gs_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->files[i].ns);
		free(t->files[i].group);
		free(t->files[i].data_id);
	}
	free(t->files);
	free_strs(t->nss, t->nns);
	free_strs(t->bad, t->nbad);
	sbuf_release(&t->invalid);
}

/* Files git keeps for itself in any folder (.gitkeep, .gitignore...): not
 * configs, never reported. */
static int git_own(const char *name)
{
	return !strncmp(name, ".git", 4);
}

/* A file of the tree that is not published: noted for health, the log and
 * the audit log. key (ns/group/dataId, or NULL) keeps the config it would
 * have been from being deleted. */
static void invalid(gs *g, gs_tree *t, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void invalid(gs *g, gs_tree *t, const char *path, const char *key, const char *fmt, ...)
{
	char why[GS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	hc_log("git source: %s%s is not published: %s", g->path, path, why);
	if (t->ninvalid++ < GS_INVALID_MAX) {
		sbuf_addstr(&t->invalid, t->invalid.len > 1 ? ",{\"path\":" : "{\"path\":");
		sbuf_add_json_str(&t->invalid, path, strlen(path));
		sbuf_addstr(&t->invalid, ",\"error\":");
		sbuf_add_json_str(&t->invalid, why, strlen(why));
		sbuf_addch(&t->invalid, '}');
	}
	if (key)
		push_str(&t->bad, &t->nbad, &t->nbad_cap, key);
}

/* ---- reading a commit ---- */

static int file_cmp(const void *pa, const void *pb)
{
	const gs_file *a = pa, *b = pb;
	int d = strcmp(a->ns, b->ns);

	if (!d)
		d = strcmp(a->group, b->group);
	return d ? d : strcmp(a->data_id, b->data_id);
}

/* A file of t (sorted by file_cmp once read), or NULL. */
static const gs_file *find_file(const gs_tree *t, const char *ns, const char *group,
				const char *data_id)
{
	gs_file key;

	key.ns = (char *)ns;
	key.group = (char *)group;
	key.data_id = (char *)data_id;
	return t->n ? bsearch(&key, t->files, t->n, sizeof(*t->files), file_cmp) : NULL;
}

/* One file at ns/group/name: a config, or invalid. */
static void read_file(gs *g, gs_tree *t, const char *ns, const char *group, const git_tree_entry *e)
{
	const char *name = git_tree_entry_name(e);
	sbuf path = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(GS_ERR_MAX - 1);
	git_filemode_t mode = git_tree_entry_filemode(e);
	git_blob *blob = NULL;
	const char *format = fmt_of_name(name);
	gs_file *f;
	size_t len;

	sbuf_addf(&path, "%s/%s/%s", ns, group, name);
	if (mode == GIT_FILEMODE_TREE) {
		invalid(g, t, path.buf, NULL,
			"a folder inside a group: configs are files at namespace/group/dataId");
		goto out;
	}
	if (!val_name_ok(name)) {
		val_name("dataId", name, &why);
		invalid(g, t, path.buf, NULL, "%s", why.buf);
		goto out;
	}
	if (mode == GIT_FILEMODE_LINK || mode == GIT_FILEMODE_COMMIT) {
		invalid(g, t, path.buf, path.buf, "a %s, not a file",
			mode == GIT_FILEMODE_LINK ? "symbolic link" : "submodule");
		goto out;
	}
	if (git_blob_lookup(&blob, g->repo, git_tree_entry_id(e))) {
		char buf[GS_ERR_MAX];
		invalid(g, t, path.buf, path.buf, "%s",
			git_why("cannot read it", buf, sizeof(buf)));
		goto out;
	}
	len = (size_t)git_blob_rawsize(blob);
	if (len > g->max_content) {
		invalid(g, t, path.buf, path.buf, "%zu bytes, more than --max-content (%zu)", len,
			g->max_content);
		goto out;
	}
	if (val_content(format, git_blob_rawcontent(blob), len, &why)) {
		invalid(g, t, path.buf, path.buf, "not valid %s: %s", format, why.buf);
		goto out;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->files = xrealloc(t->files, t->cap * sizeof(*t->files));
	}
	f = &t->files[t->n++];
	f->ns = xstrdup(ns);
	f->group = xstrdup(group);
	f->data_id = xstrdup(name);
	f->format = format;
	git_oid_cpy(&f->id, git_blob_id(blob));
	md5_hex(git_blob_rawcontent(blob), len, f->md5);
out:
	git_blob_free(blob);
	sbuf_release(&path);
	sbuf_release(&why);
}

/* Everything under one namespace folder. */
static void read_ns(gs *g, gs_tree *t, const char *ns, const git_tree *tree)
{
	size_t i, j, n = git_tree_entrycount(tree);
	sbuf why = SBUF_INIT(GS_ERR_MAX - 1), path = SBUF_INIT(SBUF_NOMAX);

	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *group = git_tree_entry_name(e);
		git_tree *sub = NULL;

		if (git_own(group))
			continue;
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", ns, group);
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
			invalid(g, t, path.buf, NULL,
				"a file directly in a namespace: configs are files at "
				"namespace/group/dataId");
			continue;
		}
		sbuf_reset(&why);
		if (!val_name_ok(group)) {
			val_name("group", group, &why);
			invalid(g, t, path.buf, NULL, "%s", why.buf);
			continue;
		}
		if (git_tree_lookup(&sub, g->repo, git_tree_entry_id(e))) {
			char buf[GS_ERR_MAX];
			invalid(g, t, path.buf, NULL, "%s",
				git_why("cannot read it", buf, sizeof(buf)));
			continue;
		}
		for (j = 0; j < git_tree_entrycount(sub); j++) {
			const git_tree_entry *f = git_tree_entry_byindex(sub, j);
			if (!git_own(git_tree_entry_name(f)))
				read_file(g, t, ns, group, f);
		}
		git_tree_free(sub);
	}
	sbuf_release(&why);
	sbuf_release(&path);
}

/* The tree of commit c under the path into t. HC_ERR_NOT_FOUND (err says
 * why): the path is not a folder of the commit, which publishes nothing
 * (a mistyped --git-path must not delete every config). */
static hc_err read_commit(gs *g, git_commit *c, gs_tree *t, char *err, size_t cap)
{
	git_tree *root = NULL, *tree = NULL;
	git_tree_entry *at = NULL;
	sbuf why = SBUF_INIT(GS_ERR_MAX - 1);
	size_t i, n;
	hc_err rc = HC_OK;

	memset(t, 0, sizeof(*t));
	sbuf_init(&t->invalid, SBUF_NOMAX);
	sbuf_addch(&t->invalid, '['); /* closed by apply_commit once every report is in */
	if (git_commit_tree(&root, c)) {
		git_why("cannot read the commit's tree", err, cap);
		rc = HC_ERR_IO;
		goto out;
	}
	if (*g->path) {
		if (git_tree_entry_bypath(&at, root, g->path) ||
		    git_tree_entry_type(at) != GIT_OBJECT_TREE ||
		    git_tree_lookup(&tree, g->repo, git_tree_entry_id(at))) {
			snprintf(err, cap,
				 "--git-path %s is not a folder of commit %.12s: nothing "
				 "was published from it",
				 g->path, git_oid_tostr_s(git_commit_id(c)));
			rc = HC_ERR_NOT_FOUND;
			goto out;
		}
	} else {
		tree = root;
		root = NULL;
	}
	n = git_tree_entrycount(tree);
	for (i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *ns = git_tree_entry_name(e);
		git_tree *sub = NULL;

		/* .github, a mirror's .gray, and files beside the namespaces (a
		 * README) are not configs. */
		if (*ns == '.' || git_tree_entry_type(e) != GIT_OBJECT_TREE)
			continue;
		sbuf_reset(&why);
		if (!val_name_ok(ns)) {
			val_name("namespace", ns, &why);
			invalid(g, t, ns, NULL, "%s", why.buf);
			continue;
		}
		if (git_tree_lookup(&sub, g->repo, git_tree_entry_id(e))) {
			char buf[GS_ERR_MAX];
			invalid(g, t, ns, NULL, "%s", git_why("cannot read it", buf, sizeof(buf)));
			continue;
		}
		push_str(&t->nss, &t->nns, &t->nns_cap, ns);
		read_ns(g, t, ns, sub);
		git_tree_free(sub);
	}
	if (t->n)
		qsort(t->files, t->n, sizeof(*t->files), file_cmp);
out:
	git_tree_entry_free(at);
	git_tree_free(tree);
	git_tree_free(root);
	sbuf_release(&why);
	return rc;
}

/* ---- publishing a commit ---- */

/* The config group/data_id of cs (n configs of one namespace, sorted by
 * group and dataId, as store_get_scope gives them), or NULL. */
static store_config *scope_find(store_config *const *cs, size_t n, const char *group,
				const char *data_id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(cs[mid]->group, group);
		if (!d)
			d = strcmp(cs[mid]->data_id, data_id);
		if (!d)
			return cs[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The batches that make namespace ns what the commit says: every file
 * published, every config the commit lacks deleted (but those whose file is
 * invalid, and those with gray rules, reported). */
static hc_err apply_ns(gs *g, gs_tree *t, const char *ns, const char *message, const char *author,
		       const char *detail, char *err, size_t cap)
{
	store_config **cur = NULL;
	store_cr_write *w = NULL;
	git_blob **blobs = NULL; /* the contents published, until the batches are written */
	size_t ncur = 0, nw = 0, nblobs = 0, i, from;
	sbuf key = SBUF_INIT(SBUF_NOMAX);
	store_batch_req b;
	store_result res;
	cfgkey scope;
	hc_err rc;

	memset(&scope, 0, sizeof(scope));
	rc = cfgkey_init_scope(&scope, ns, NULL);
	if (!rc)
		rc = store_get_scope(g->st, &scope, STORE_BATCH_MAX_ITEMS * 4, &cur, &ncur);
	if (rc) {
		snprintf(err, cap, "cannot read namespace '%s': %s", ns, hc_err_code(rc));
		goto out;
	}
	w = xcalloc(t->n + ncur + 1, sizeof(*w));
	blobs = xcalloc(t->n + 1, sizeof(*blobs));
	for (i = 0; i < t->n; i++) {
		const gs_file *f = &t->files[i];
		store_config *c;

		if (strcmp(f->ns, ns))
			continue;
		c = scope_find(cur, ncur, f->group, f->data_id);
		if (c && !strcmp(c->format, f->format) && !strcmp(c->md5, f->md5))
			continue;
		if (git_blob_lookup(&blobs[nblobs], g->repo, &f->id)) {
			git_why("cannot read a file of the commit", err, cap);
			rc = HC_ERR_IO;
			goto out;
		}
		w[nw].op = STORE_CR_PUBLISH;
		w[nw].base_md5 = c ? c->md5 : "";
		w[nw].w.group = f->group;
		w[nw].w.data_id = f->data_id;
		w[nw].w.content = git_blob_rawcontent(blobs[nblobs]);
		w[nw].w.len = (size_t)git_blob_rawsize(blobs[nblobs]);
		nblobs++;
		w[nw].w.format = f->format;
		w[nw].w.from_source = 1;
		nw++;
	}
	for (i = 0; i < ncur; i++) {
		store_config *c = cur[i];

		if (find_file(t, ns, c->group, c->data_id))
			continue;
		sbuf_reset(&key);
		sbuf_addf(&key, "%s/%s/%s", ns, c->group, c->data_id);
		if (has_str(t->bad, t->nbad, key.buf))
			continue; /* its file is there but invalid: the last good version stays */
		if (c->gray && c->gray->n) {
			invalid(g, t, key.buf, NULL,
				"deleted in git but kept: it has %zu gray rule(s); they were made "
				"before the namespace was fed from git, abort or promote them",
				c->gray->n);
			continue;
		}
		w[nw].op = STORE_CR_DELETE;
		w[nw].base_md5 = c->md5;
		w[nw].w.group = c->group;
		w[nw].w.data_id = c->data_id;
		w[nw].w.from_source = 1;
		nw++;
	}
	for (from = 0; from < nw; from += STORE_BATCH_MAX_ITEMS) {
		memset(&b, 0, sizeof(b));
		b.ns = ns;
		b.items = w + from;
		b.nitems = nw - from < STORE_BATCH_MAX_ITEMS ? nw - from : STORE_BATCH_MAX_ITEMS;
		b.message = message;
		b.audit_action = "git-sync";
		b.audit_detail = detail;
		b.actor = author;
		b.role = "git-source";
		b.source_ip = "";
		b.now_ms = clock_wall_ms();
		rc = store_batch(g->st, &b, &res);
		if (rc) {
			snprintf(err, cap, "cannot publish namespace '%s': %.400s", ns,
				 res.detail[0] ? res.detail : hc_err_code(rc));
			break;
		}
	}
out:
	for (i = 0; i < ncur; i++)
		store_config_unref(cur[i]);
	for (i = 0; i < nblobs; i++)
		git_blob_free(blobs[i]);
	free(blobs);
	free(cur);
	free(w);
	cfgkey_release(&scope);
	sbuf_release(&key);
	return rc;
}

/* The namespaces some source feeds now, into *v. */
static hc_err sourced(gs *g, char ***v, size_t *n, size_t *cap)
{
	store_namespace *ns = NULL;
	size_t k, i;
	hc_err rc = store_namespaces(g->st, &ns, &k);

	for (i = 0; !rc && i < k; i++)
		if (*ns[i].source)
			push_str(v, n, cap, ns[i].id);
	if (!rc)
		store_namespaces_free(ns, k);
	return rc;
}

/* Audit entries for a commit's invalid files. */
static void audit_invalid(gs *g, const gs_tree *t, const char *oid)
{
	store_audit a;
	sbuf d = SBUF_INIT(SBUF_NOMAX);

	if (!t->ninvalid)
		return;
	sbuf_addf(&d, "commit %s: %zu file(s) not published: %s", oid, t->ninvalid, t->invalid.buf);
	memset(&a, 0, sizeof(a));
	a.at_ms = clock_wall_ms();
	a.actor = "git";
	a.role = "git-source";
	a.action = "git-source-invalid";
	a.target = g->source;
	a.detail = d.buf;
	store_audit_add(g->st, &a);
	sbuf_release(&d);
}

/* Publishes commit c: HC_OK once every namespace is as it says. */
static hc_err apply_commit(gs *g, git_commit *c, char *err, size_t cap)
{
	char oid[GIT_OID_HEXSZ + 1], **all = NULL;
	size_t nall = 0, all_cap = 0, i;
	const git_signature *who = git_commit_author(c);
	const char *summary = git_commit_summary(c);
	sbuf msg = SBUF_INIT(SBUF_NOMAX), detail = SBUF_INIT(SBUF_NOMAX),
	     nss = SBUF_INIT(SBUF_NOMAX);
	gs_tree t;
	hc_err rc;

	git_oid_tostr(oid, sizeof(oid), git_commit_id(c));
	rc = read_commit(g, c, &t, err, cap);
	if (rc)
		goto out;
	sbuf_addf(&msg, "%.*s\n\nGit-Commit: %s", GS_MESSAGE_MAX, summary ? summary : "", oid);
	sbuf_addf(&detail, "commit %s of %s", oid, g->source);
	/* Every namespace the commit holds or a source fed until now: the
	 * namespaces that leave the tree are emptied, then writable again. */
	rc = sourced(g, &all, &nall, &all_cap);
	for (i = 0; !rc && i < t.nns; i++)
		if (!has_str(all, nall, t.nss[i]))
			push_str(&all, &nall, &all_cap, t.nss[i]);
	if (!rc)
		rc = store_namespace_set_sources(g->st, (const char *const *)all, nall, g->source,
						 clock_wall_ms());
	if (rc) {
		snprintf(err, cap, "cannot mark the namespaces fed from git: %s", hc_err_code(rc));
		goto out;
	}
	for (i = 0; !rc && i < nall; i++)
		rc = apply_ns(g, &t, all[i], msg.buf,
			      who && who->name && *who->name ? who->name : "git", detail.buf, err,
			      cap);
	if (!rc)
		rc = store_namespace_set_sources(g->st, (const char *const *)t.nss, t.nns,
						 g->source, clock_wall_ms());
	if (rc) {
		if (!*err)
			snprintf(err, cap, "cannot mark the namespaces fed from git: %s",
				 hc_err_code(rc));
		goto out;
	}
	sbuf_addch(&t.invalid, ']');
	audit_invalid(g, &t, oid);
	sbuf_addch(&nss, '[');
	for (i = 0; i < t.nns; i++) {
		if (i)
			sbuf_addch(&nss, ',');
		sbuf_add_json_str(&nss, t.nss[i], strlen(t.nss[i]));
	}
	sbuf_addch(&nss, ']');
	pthread_mutex_lock(&g->mu);
	memcpy(g->commit, oid, sizeof(g->commit));
	free(g->message);
	g->message = xstrdup(summary ? summary : "");
	free(g->nss_json);
	g->nss_json = sbuf_detach(&nss, NULL);
	free(g->invalid_json);
	g->invalid_json = sbuf_detach(&t.invalid, NULL);
	pthread_mutex_unlock(&g->mu);
	hc_log("git source: published commit %.12s (%s)", oid, summary ? summary : "");
out:
	tree_free(&t);
	free_strs(all, nall);
	sbuf_release(&msg);
	sbuf_release(&detail);
	sbuf_release(&nss);
	return rc;
}

/* ---- fetching ---- */

typedef struct gs_cred_state {
	int tries;
} gs_cred_state;

/* HOTCONF_GIT_TOKEN as the password when the remote asks for one, once. */
static int cred_cb(git_credential **out, const char *url, const char *user, unsigned int allowed,
		   void *payload)
{
	gs_cred_state *cs = payload;
	const char *token = getenv("HOTCONF_GIT_TOKEN");

	(void)url;
	if (!token || !*token || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) || cs->tries++)
		return GIT_PASSTHROUGH;
	return git_credential_userpass_plaintext_new(out, user && *user ? user : "x-access-token",
						     token);
}

/* Fetches the ref into GS_FETCHED; *head gets its commit. */
static hc_err fetch(gs *g, git_oid *head, char *err, size_t cap)
{
	git_fetch_options o;
	git_remote_create_options ro;
	git_remote *remote = NULL;
	gs_cred_state cs = {0};
	sbuf spec = SBUF_INIT(SBUF_NOMAX);
	char *specs[1];
	git_strarray refspecs = {specs, 1};
	git_object *obj = NULL;
	hc_err rc = HC_OK;

	if (!strncmp(g->ref, "refs/", 5))
		sbuf_addf(&spec, "+%s:" GS_FETCHED, g->ref);
	else
		sbuf_addf(&spec, "+refs/heads/%s:" GS_FETCHED, g->ref);
	specs[0] = spec.buf;
	git_fetch_options_init(&o, GIT_FETCH_OPTIONS_VERSION);
	o.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	o.callbacks.credentials = cred_cb;
	o.callbacks.payload = &cs;
	/* No url.*.insteadOf rewriting: the URL is the operator's as given (and
	 * libgit2 1.5 leaks the match data of every config key its insteadOf
	 * lookup does not match, on every fetch). */
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = g->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, g->url, &ro) ||
	    git_remote_fetch(remote, &refspecs, &o, NULL)) {
		git_why("cannot fetch", err, cap);
		rc = HC_ERR_UNAVAILABLE;
		goto out;
	}
	if (git_revparse_single(&obj, g->repo, GS_FETCHED "^{commit}")) {
		snprintf(err, cap, "the remote has no ref %s", g->ref);
		rc = HC_ERR_NOT_FOUND;
		goto out;
	}
	git_oid_cpy(head, git_object_id(obj));
out:
	git_object_free(obj);
	git_remote_free(remote);
	sbuf_release(&spec);
	return rc;
}

/* One sync: fetch, then publish each commit since the last published one
 * (first parent, oldest first), or only the newest after a start, a force
 * push or more than GS_MAX_WALK. */
static hc_err sync_once(gs *g, char *err, size_t cap)
{
	git_oid head, walk[GS_MAX_WALK];
	git_commit *c = NULL, *next;
	size_t n = 0, i;
	int found = 0;
	hc_err rc;

	rc = fetch(g, &head, err, cap);
	if (rc || (g->have_applied && git_oid_equal(&head, &g->applied)))
		return rc;
	if (git_commit_lookup(&c, g->repo, &head)) {
		git_why("cannot read the fetched commit", err, cap);
		return HC_ERR_IO;
	}
	while (g->have_applied && n < GS_MAX_WALK) {
		if (git_oid_equal(git_commit_id(c), &g->applied)) {
			found = 1;
			break;
		}
		git_oid_cpy(&walk[n++], git_commit_id(c));
		if (git_commit_parentcount(c) == 0 || git_commit_parent(&next, c, 0))
			break;
		git_commit_free(c);
		c = next;
	}
	git_commit_free(c);
	c = NULL;
	if (!found) {
		git_oid_cpy(&walk[0], &head);
		n = 1;
	}
	for (i = n; !rc && i-- > 0;) {
		if (git_commit_lookup(&c, g->repo, &walk[i])) {
			git_why("cannot read a fetched commit", err, cap);
			return HC_ERR_IO;
		}
		rc = apply_commit(g, c, err, cap);
		if (!rc) {
			git_oid_cpy(&g->applied, &walk[i]);
			g->have_applied = 1;
		}
		git_commit_free(c);
		c = NULL;
	}
	return rc;
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

static void *sync_main(void *arg)
{
	gs *g = arg;
	char err[GS_ERR_MAX];
	struct timespec ts;
	hc_err rc;

	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		g->kick = 0;
		g->syncing = 1;
		pthread_mutex_unlock(&g->mu);
		*err = 0;
		rc = sync_once(g, err, sizeof(err));
		if (rc)
			hc_log("git source %s: %s", g->source, err);
		pthread_mutex_lock(&g->mu);
		g->syncing = 0;
		g->failing = rc != HC_OK;
		if (rc) {
			snprintf(g->err, sizeof(g->err), "%s", err);
			g->err_ms = clock_wall_ms();
		} else {
			g->synced_ms = clock_wall_ms();
			*g->err = 0;
		}
		pthread_cond_broadcast(&g->cond);
		deadline_in(&ts, g->interval_ms);
		while (!g->stop && !g->kick &&
		       pthread_cond_timedwait(&g->cond, &g->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* ---- the interface ---- */

/* url without a user or password in it ("https://tok@host/x" -> "https://host/x"). */
static void url_public(const char *url, sbuf *out)
{
	const char *scheme = strstr(url, "://"), *at, *slash;

	if (!scheme) {
		sbuf_addstr(out, url);
		return;
	}
	scheme += 3;
	slash = strchr(scheme, '/');
	at = strchr(scheme, '@');
	if (at && (!slash || at < slash)) {
		sbuf_add(out, url, (size_t)(scheme - url));
		sbuf_addstr(out, at + 1);
	} else {
		sbuf_addstr(out, url);
	}
}

void gs_describe(const gs_config *cfg, sbuf *out)
{
	sbuf_addstr(out, "git ");
	url_public(cfg->url, out);
	sbuf_addf(out, " (ref %s", cfg->ref && *cfg->ref ? cfg->ref : "main");
	if (cfg->path && *cfg->path)
		sbuf_addf(out, ", path %s", cfg->path);
	sbuf_addch(out, ')');
}

/* "configs", "configs/", "/configs/" -> "configs/"; "" stays; "..", a
 * component no name can be: HC_ERR_INVALID. */
static hc_err norm_path(const char *in, sbuf *out)
{
	char *copy = xstrdup(in ? in : ""), *p, *save = NULL;
	hc_err rc = HC_OK;

	for (p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, ".") || !strcmp(p, "..")) {
			rc = HC_ERR_INVALID;
			break;
		}
		sbuf_addf(out, "%s/", p);
	}
	free(copy);
	return rc;
}

hc_err gs_start(store *st, const gs_config *cfg, gs **out)
{
	gs *g = xcalloc(1, sizeof(*g));
	pthread_condattr_t ca;
	sbuf s = SBUF_INIT(SBUF_NOMAX), dir = SBUF_INIT(SBUF_NOMAX);
	char resolved[PATH_MAX], why[GS_ERR_MAX];
	const char *ref = cfg->ref && *cfg->ref ? cfg->ref : "main";
	git_repository_init_options o;
	hc_err err = HC_OK;
	int rc;

	*out = NULL;
	git_libgit2_init();
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	g->st = st;
	g->interval_ms = cfg->interval_ms ? cfg->interval_ms : 30000;
	g->max_content = cfg->max_content;
	g->nss_json = xstrdup("[]");
	g->invalid_json = xstrdup("[]");
	if (!git_reference_is_valid_name(
		!strncmp(ref, "refs/", 5) ? ref : (sbuf_addf(&s, "refs/heads/%s", ref), s.buf))) {
		fprintf(stderr, "hotconf: --git-ref '%s' is not a valid git ref\n", ref);
		err = HC_ERR_INVALID;
		goto fail;
	}
	g->ref = xstrdup(ref);
	sbuf_reset(&s);
	if (norm_path(cfg->path, &s)) {
		fprintf(stderr, "hotconf: --git-path '%s' is invalid: use a folder like configs/\n",
			cfg->path);
		err = HC_ERR_INVALID;
		goto fail;
	}
	g->path = xstrdup(s.buf ? s.buf : "");
	/* A local path is made absolute: the clone lives elsewhere. */
	g->url =
	    xstrdup(!strstr(cfg->url, "://") && realpath(cfg->url, resolved) ? resolved : cfg->url);
	sbuf_reset(&s);
	{
		gs_config c = *cfg;
		c.url = g->url;
		c.ref = g->ref;
		c.path = g->path;
		gs_describe(&c, &s);
	}
	g->source = sbuf_detach(&s, NULL);
	sbuf_addf(&dir, "%s/git-source", cfg->data_dir);
	g->data_dir = xstrdup(dir.buf);
	rc = git_repository_open_ext(
	    &g->repo, dir.buf, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	if (rc == GIT_ENOTFOUND) {
		git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		rc = git_repository_init_ext(&g->repo, dir.buf, &o);
	}
	if (rc) {
		hc_log("git source: %s", git_why(dir.buf, why, sizeof(why)));
		err = HC_ERR_IO;
		goto fail;
	}
	rc = pthread_create(&g->thread, NULL, sync_main, g);
	if (rc) {
		hc_log("cannot start the git source thread: %s", strerror(rc));
		err = HC_ERR_INTERNAL;
		goto fail;
	}
	g->started = 1;
	hc_log("git source: %s, every %" PRIu64 " ms, cloned into %s", g->source, g->interval_ms,
	       dir.buf);
	sbuf_release(&dir);
	*out = g;
	return HC_OK;

fail:
	sbuf_release(&s);
	sbuf_release(&dir);
	gs_stop(g);
	return err;
}

void gs_stop(gs *g)
{
	if (!g)
		return;
	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stop = 1;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->thread, NULL);
	}
	git_repository_free(g->repo);
	git_libgit2_shutdown();
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mu);
	free(g->url);
	free(g->ref);
	free(g->path);
	free(g->data_dir);
	free(g->source);
	free(g->message);
	free(g->nss_json);
	free(g->invalid_json);
	free(g);
}

static void add_time(sbuf *out, const char *key, int64_t ms)
{
	char at[32];

	if (!ms) {
		sbuf_addf(out, ",\"%s\":null", key);
		return;
	}
	clock_format_iso(ms, at);
	sbuf_addf(out, ",\"%s\":\"%s\"", key, at);
}

void gs_status_json(gs *g, sbuf *out)
{
	pthread_mutex_lock(&g->mu);
	sbuf_addstr(out, "{\"url\":");
	{
		sbuf u = SBUF_INIT(SBUF_NOMAX);
		url_public(g->url, &u);
		sbuf_add_json_str(out, u.buf, u.len);
		sbuf_release(&u);
	}
	sbuf_addstr(out, ",\"ref\":");
	sbuf_add_json_str(out, g->ref, strlen(g->ref));
	sbuf_addstr(out, ",\"path\":");
	sbuf_add_json_str(out, g->path, strlen(g->path));
	if (*g->commit) {
		sbuf_addf(out, ",\"commit\":\"%s\",\"message\":", g->commit);
		sbuf_add_json_str(out, g->message, strlen(g->message));
	} else {
		sbuf_addstr(out, ",\"commit\":null,\"message\":null");
	}
	add_time(out, "syncedAt", g->synced_ms);
	sbuf_addf(out, ",\"state\":\"%s\",\"lastError\":",
		  g->failing   ? "failing"
		  : g->syncing ? "syncing"
			       : "ok");
	if (*g->err)
		sbuf_add_json_str(out, g->err, strlen(g->err));
	else
		sbuf_addstr(out, "null");
	add_time(out, "lastErrorAt", *g->err ? g->err_ms : 0);
	sbuf_addf(out, ",\"namespaces\":%s,\"invalid\":%s}", g->nss_json, g->invalid_json);
	pthread_mutex_unlock(&g->mu);
}

void gs_sync_now(gs *g)
{
	pthread_mutex_lock(&g->mu);
	g->kick = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}
