/*
 * gitrestore.c: hotconf restore --from-git DIR --data DIR (see gm_restore in
 * gitmirror.h). Walks the mirror's commits oldest first and replays each
 * with the store's own write (publish, delete, rollback, the gray writes
 * and rollout moves), with the entry's author, message, format and time, so
 * versions and revisions come out as they were; each commit's trailers say
 * which, and a replay that lands elsewhere stops the restore.
 *
 * Threading: runs alone, on main, before any server starts.
 */
#include "gitmirror.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gitmirror_int.h"
#include "gray.h"
#include "hc_log.h"
#include "md5.h"
#include "xmalloc.h"

/* What one commit says of its change. */
typedef struct rs_commit {
	const git_commit *c;
	git_tree *tree;
	sbuf op, cfg, version, revision, format, rule, author, rollout, empty;
	sbuf message;
	char *ns, *group, *data_id; /* into cfg */
	store_op opv;
	int64_t ver, rev;
	cJSON *rule_doc; /* rule.json after the commit, NULL when the rule is gone */
	sbuf rule_content;
} rs_commit;

/* Every sbuf of k, for commit_init and commit_release. */
#define RS_SBUFS(k)                                                                                \
	{                                                                                          \
		&(k)->op, &(k)->cfg, &(k)->version, &(k)->revision, &(k)->format, &(k)->rule,      \
		    &(k)->author, &(k)->rollout, &(k)->empty, &(k)->message, &(k)->rule_content    \
	}

static void commit_init(rs_commit *k, const git_commit *c)
{
	sbuf *all[] = RS_SBUFS(k);
	size_t i;

	memset(k, 0, sizeof(*k));
	k->c = c;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sbuf_init(all[i], SBUF_NOMAX);
}

static void commit_release(rs_commit *k)
{
	sbuf *all[] = RS_SBUFS(k);
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sbuf_release(all[i]);
	git_tree_free(k->tree);
	cJSON_Delete(k->rule_doc);
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno || !*s || *end ? -1 : 0;
}

/* The file at path in tree into out; 1 found, 0 absent, -1 a git error. */
static int read_path(const git_tree *tree, const char *path, sbuf *out)
{
	git_tree_entry *e = NULL;
	git_blob *b = NULL;
	int rc = git_tree_entry_bypath(&e, tree, path);

	if (rc == GIT_ENOTFOUND)
		return 0;
	if (!rc)
		rc = git_blob_lookup(&b, git_tree_owner(tree), git_tree_entry_id(e));
	if (!rc)
		sbuf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	git_tree_entry_free(e);
	return rc ? -1 : 1;
}

/* Reads trailers, message and (for gray ops) the rule's files of k->c. */
static hc_err commit_read(rs_commit *k, char *why, size_t cap)
{
	struct {
		const char *key;
		sbuf *to;
	} t[] = {{"Hotconf-Op", &k->op},	   {"Hotconf-Config", &k->cfg},
		 {"Hotconf-Version", &k->version}, {"Hotconf-Revision", &k->revision},
		 {"Hotconf-Format", &k->format},   {"Hotconf-Gray-Rule", &k->rule},
		 {"Hotconf-Author", &k->author},   {"Hotconf-Rollout", &k->rollout},
		 {"Hotconf-Empty", &k->empty}};
	const char *msg = git_commit_message(k->c), *cut, *p;
	git_message_trailer_array a = {0};
	sbuf path = SBUF_INIT(SBUF_NOMAX);
	size_t i, j;
	int op, found;

	if (git_message_trailers(&a, msg))
		return gm_git_err("reading the trailers", why, cap);
	for (i = 0; i < a.count; i++)
		for (j = 0; j < sizeof(t) / sizeof(t[0]); j++)
			if (!strcmp(a.trailers[i].key, t[j].key) && !t[j].to->len) {
				sbuf_addstr(t[j].to, a.trailers[i].value);
			}
	git_message_trailer_array_free(&a);
	k->opv = (store_op)-1;
	for (op = STORE_OP_PUBLISH; op <= STORE_OP_GRAY_RESUME; op++)
		if (!strcmp(k->op.buf, store_op_name((store_op)op)))
			k->opv = (store_op)op;
	k->ns = k->cfg.buf;
	k->group = strchr(k->ns, '/');
	k->data_id = k->group ? strchr(k->group + 1, '/') : NULL;
	if ((int)k->opv < 0 || !k->data_id || parse_i64(k->version.buf, &k->ver) ||
	    parse_i64(k->revision.buf, &k->rev)) {
		snprintf(why, cap,
			 "its trailers do not name an op, a config, a version and a "
			 "revision");
		return HC_ERR_INVALID;
	}
	*k->group++ = '\0';
	*k->data_id++ = '\0';
	/* The message is what stands before the trailers. */
	for (cut = NULL, p = msg; (p = strstr(p, "\n\nHotconf-Op: ")); p++)
		cut = p;
	if (!strstr(k->empty.buf, "message") && cut)
		sbuf_add(&k->message, msg, (size_t)(cut - msg));
	if (git_commit_tree(&k->tree, k->c))
		return gm_git_err("reading the tree", why, cap);
	if (!k->rule.len)
		return HC_OK;
	gm_path(&path, k->ns, k->group, k->data_id, k->rule.buf, GM_RULE_JSON);
	found = read_path(k->tree, path.buf, &k->rule_content);
	if (found == 1) {
		k->rule_doc = cJSON_Parse(k->rule_content.buf);
		sbuf_reset(&k->rule_content);
		sbuf_reset(&path);
		gm_path(&path, k->ns, k->group, k->data_id, k->rule.buf, GM_RULE_CONTENT);
		found = read_path(k->tree, path.buf, &k->rule_content) == 1 && k->rule_doc ? 1 : -1;
	}
	sbuf_release(&path);
	if (found < 0) {
		snprintf(why, cap, "its gray rule's files are unreadable");
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

static const cJSON *field(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* rule.json's plan (steps in hundredths) into *p; 0 when it has none. */
static int rule_plan(const cJSON *doc, store_rollout_plan *p)
{
	const cJSON *plan = field(doc, "plan"), *s;

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(plan))
		return 0;
	cJSON_ArrayForEach(s, field(plan, "steps")) if (p->nsteps < STORE_ROLLOUT_MAX_STEPS)
	    p->steps[p->nsteps++] = (int)cJSON_GetNumberValue(s);
	p->interval_ms = (int64_t)cJSON_GetNumberValue(field(plan, "intervalMs"));
	p->max_rejected = (int64_t)cJSON_GetNumberValue(field(plan, "maxRejected"));
	p->max_rejected_is_pct = (int)cJSON_GetNumberValue(field(plan, "maxRejectedPct"));
	p->min_reports = (int64_t)cJSON_GetNumberValue(field(plan, "minReports"));
	return 1;
}

/* Replays a gray-publish: the rule as rule.json has it. */
static hc_err replay_gray_put(store *st, store_write *w, const rs_commit *k, store_result *res)
{
	const cJSON *doc = k->rule_doc, *match, *ip;
	const char **ips = NULL;
	store_rollout_plan plan;
	store_gray_spec g = {0};
	char pct[16];
	size_t n = 0;
	hc_err err;

	match = doc ? field(doc, "match") : NULL;
	if (!cJSON_IsObject(match)) {
		snprintf(res->detail, sizeof(res->detail), "the commit has no rule.json for '%s'",
			 k->rule.buf);
		return HC_ERR_INVALID;
	}
	g.name = k->rule.buf;
	g.priority = (int)cJSON_GetNumberValue(field(doc, "priority"));
	g.salt = cJSON_GetStringValue(field(doc, "salt"));
	if (g.salt && !*g.salt)
		g.salt = NULL;
	if (field(match, "ips")) {
		ips = xcalloc((size_t)cJSON_GetArraySize(field(match, "ips")) + 1, sizeof(*ips));
		cJSON_ArrayForEach(ip, field(match, "ips")) ips[n++] = cJSON_GetStringValue(ip);
		g.match.ips = ips;
		g.match.nips = n;
		g.match.has_ips = 1;
	}
	g.match.labels = cJSON_GetStringValue(field(match, "labels"));
	if (rule_plan(doc, &plan)) {
		g.rollout = &plan;
	} else if (cJSON_IsNumber(field(match, "percent"))) {
		gray_percent_text((int)(cJSON_GetNumberValue(field(match, "percent")) * 100 + 0.5),
				  pct);
		g.match.percent = pct;
	}
	w->format = cJSON_GetStringValue(field(doc, "format"));
	w->content = k->rule_content.buf;
	w->len = k->rule_content.len;
	err = store_gray_put(st, w, &g, res);
	free(ips);
	return err;
}

/* The newest version of the config with this content and format: what a
 * rollback restored. 0 when none is left. */
static int64_t rollback_source(store *st, const rs_commit *k, const sbuf *content)
{
	store_history *v = NULL;
	size_t n = 0, i;
	int64_t total, found = 0;
	char md5[33];

	md5_hex(content->buf, content->len, md5);
	if (store_history_list(st, k->ns, k->group, k->data_id, 0, 100000, &v, &n, &total))
		return 0;
	for (i = 0; i < n && !found; i++)
		if (v[i].op != STORE_OP_DELETE && !strcmp(v[i].md5, md5) &&
		    !strcmp(v[i].format, k->format.buf))
			found = v[i].version;
	store_history_free(v, n);
	return found;
}

/* A rollout move of the commit's rule. */
static hc_err replay_move(store *st, const store_write *w, const rs_commit *k,
			  store_rollout_action a, store_result *res)
{
	const cJSON *ro = field(k->rule_doc, "rollout");
	store_rollout_move m = {.action = a, .expect_step = -1};

	m.to_step = (int)cJSON_GetNumberValue(field(ro, "step")) - 1; /* it counts from 1 */
	m.reason = cJSON_GetStringValue(field(ro, "reason"));
	if (a == STORE_ROLLOUT_ABORT && (!m.reason || !*m.reason))
		m.reason = w->message && *w->message ? w->message : "restored";
	m.summary = k->rollout.len ? k->rollout.buf : NULL;
	return store_gray_rollout(st, w, k->rule.buf, &m, res);
}

/* Replays commit k on st; res says what the store made of it. */
static hc_err replay(store *st, const rs_commit *k, store_result *res)
{
	const git_signature *sig = git_commit_author(k->c);
	store_write w = {0};
	sbuf path = SBUF_INIT(SBUF_NOMAX), content = SBUF_INIT(SBUF_NOMAX);
	int64_t version;
	hc_err err = HC_ERR_INVALID;

	w.ns = k->ns;
	w.group = k->group;
	w.data_id = k->data_id;
	w.author = strstr(k->empty.buf, "author") ? "" : k->author.len ? k->author.buf : sig->name;
	w.message = k->message.buf;
	w.now_ms = (int64_t)sig->when.time * 1000;
	w.format = k->format.buf;
	gm_path(&path, k->ns, k->group, k->data_id, NULL, NULL);
	if ((k->opv == STORE_OP_PUBLISH || k->opv == STORE_OP_ROLLBACK) &&
	    read_path(k->tree, path.buf, &content) != 1) {
		snprintf(res->detail, sizeof(res->detail), "%s is not in the commit's tree",
			 path.buf);
		goto out;
	}
	w.content = content.buf;
	w.len = content.len;
	switch (k->opv) {
	case STORE_OP_PUBLISH:
		err = store_publish(st, &w, res);
		break;
	case STORE_OP_DELETE:
		err = store_delete(st, &w, res);
		break;
	case STORE_OP_ROLLBACK:
		version = rollback_source(st, k, &content);
		err = version ? store_rollback(st, &w, version, res) : store_publish(st, &w, res);
		break;
	case STORE_OP_GRAY_PUBLISH:
		err = replay_gray_put(st, &w, k, res);
		break;
	case STORE_OP_GRAY_ABORT:
		err = k->rule_doc ? replay_move(st, &w, k, STORE_ROLLOUT_ABORT, res)
				  : store_gray_delete(st, &w, k->rule.buf, res);
		break;
	case STORE_OP_GRAY_PROMOTE:
		w.format = NULL;
		err = k->rollout.len ? replay_move(st, &w, k, STORE_ROLLOUT_PROMOTE, res)
				     : store_gray_promote(st, &w, k->rule.buf, res);
		break;
	case STORE_OP_GRAY_STEP:
		err = replay_move(st, &w, k, STORE_ROLLOUT_STEP, res);
		break;
	case STORE_OP_GRAY_PAUSE:
		err = replay_move(st, &w, k, STORE_ROLLOUT_PAUSE, res);
		break;
	case STORE_OP_GRAY_RESUME:
		err = replay_move(st, &w, k, STORE_ROLLOUT_RESUME, res);
		break;
	}
out:
	sbuf_release(&path);
	sbuf_release(&content);
	return err;
}

/* The main ops make the entry's version the config's; gray ops keep the
 * main version, so only their revision can be compared. */
static int landed(const rs_commit *k, const store_result *res)
{
	int main_op = k->opv == STORE_OP_PUBLISH || k->opv == STORE_OP_DELETE ||
		      k->opv == STORE_OP_ROLLBACK || k->opv == STORE_OP_GRAY_PROMOTE;

	return res->revision == k->rev && (!main_op || res->version == k->ver);
}

/* Opens data_dir's store; HC_ERR_CONFLICT when it holds any change. */
static hc_err open_empty(const char *data_dir, store **st)
{
	sbuf db = SBUF_INIT(SBUF_NOMAX);
	hc_err err;

	*st = NULL;
	if (mkdir(data_dir, 0700) && errno != EEXIST) {
		hc_log("cannot create data directory %s: %s", data_dir, strerror(errno));
		return HC_ERR_IO;
	}
	sbuf_addf(&db, "%s/hotconf.db", data_dir);
	err = store_open(db.buf, st);
	if (!err && store_revision(*st) > 0) {
		hc_log("%s already holds %" PRId64 " changes: restore needs a new data directory "
		       "(or one whose store never saw a change)",
		       db.buf, store_revision(*st));
		store_close(*st);
		*st = NULL;
		err = HC_ERR_CONFLICT;
	}
	sbuf_release(&db);
	return err;
}

/* Replays every commit that walk yields, oldest first. */
static hc_err replay_all(store *st, git_repository *repo, git_revwalk *walk, size_t *count)
{
	git_commit *c = NULL;
	rs_commit k;
	store_result res;
	char why[1024], oid[GIT_OID_HEXSZ + 1];
	git_oid id;
	hc_err err = HC_OK;

	while (!err && !git_revwalk_next(&id, walk)) {
		memset(&res, 0, sizeof(res));
		*why = '\0';
		git_oid_tostr(oid, sizeof(oid), &id);
		if (git_commit_lookup(&c, repo, &id))
			err = gm_git_err("reading a commit", why, sizeof(why));
		commit_init(&k, c);
		if (!err)
			err = commit_read(&k, why, sizeof(why));
		if (!err) {
			store_namespace_create(st, k.ns, k.ns, "",
					       (int64_t)git_commit_time(c) * 1000);
			err = replay(st, &k, &res);
			if (err)
				snprintf(why, sizeof(why), "%.20s %.130s/%.130s/%.130s: %.300s",
					 k.op.buf, k.ns, k.group, k.data_id,
					 *res.detail ? res.detail : hc_err_code(err));
		}
		if (!err && !landed(&k, &res)) {
			snprintf(why, sizeof(why),
				 "it replays as version %" PRId64 " at revision %" PRId64
				 " but names version %" PRId64 " at revision %" PRId64
				 " (the mirror misses revisions before it)",
				 res.version, res.revision, k.ver, k.rev);
			err = HC_ERR_INVALID;
		}
		if (err)
			hc_log("restore: commit %.12s: %s", oid, why);
		else
			(*count)++;
		commit_release(&k);
		git_commit_free(c);
		c = NULL;
	}
	return err;
}

hc_err gm_restore(const char *git_dir, const char *data_dir)
{
	git_repository *repo = NULL;
	git_revwalk *walk = NULL;
	store *st = NULL;
	size_t count = 0;
	char why[512];
	hc_err err;

	git_libgit2_init();
	if ((err = gm_open(git_dir, 0, &repo)))
		goto out;
	if (git_revwalk_new(&walk, repo) ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) ||
	    git_revwalk_push_ref(walk, GM_REF)) {
		err = gm_git_err(git_dir, why, sizeof(why));
		hc_log("restore: %s has no " GM_REF " to restore from (%s)", git_dir, why);
		err = HC_ERR_INVALID;
		goto out;
	}
	if ((err = open_empty(data_dir, &st)))
		goto out;
	err = replay_all(st, repo, walk, &count);
	if (err)
		hc_log("restore: stopped after %zu commits; remove %s/hotconf.db before trying "
		       "again",
		       count, data_dir);
	else
		hc_log("restore: replayed %zu commits from %s into %s: revision %" PRId64, count,
		       git_dir, data_dir, store_revision(st));
out:
	store_close(st);
	git_revwalk_free(walk);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return err;
}
