/*
 * routes_archive.c: a namespace as one zip (archive.h).
 *
 *   GET  /api/v1/namespaces/{ns}/export[?group=G]
 *   POST /api/v1/namespaces/{ns}/import?policy=abort|skip|overwrite[&dryRun=true][&message=M]
 *
 * An export is hotconf's layout (manifest.json, then group/dataId files) of
 * the current configs, read from the index at one instant per config. An
 * import reads hotconf's or Nacos' zip (archive.c refuses hostile ones),
 * validates every file as its format, and plans each config: created (not
 * there), changed (there with other content or format), unchanged (the
 * same) or conflict (there, different, and the policy is not overwrite).
 * policy=abort refuses the whole import when any config conflicts; skip
 * leaves those as they are. The plan is written as one store_batch: every
 * config lands or none does, each with a normal history entry, and their
 * watchers are woken after the COMMIT. dryRun=true answers the plan, with a
 * unified diff for each changed config, and writes nothing.
 *
 * Threading: handlers on worker threads; the planning (unzip, validation,
 * diffs) on the checker thread (srv_offload), so a large archive never
 * holds a worker; the write on the store's writer.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "clock.h"
#include "diff.h"
#include "format.h"
#include "srv_internal.h"
#include "store_change.h"
#include "validate.h"
#include "xmalloc.h"

#define NS(r) srv_param(r, "ns")
#define IMP_MESSAGE_MAX 1000 /* bytes of ?message= */

/* ---- export ---- */

enum MHD_Result srv_h_ns_export(srv_req *r)
{
	const char *group = srv_arg(r, "group");
	sbuf why = SBUF_INIT(1024), zip = SBUF_INIT(SBUF_NOMAX);
	store_config **list = NULL, **full = NULL;
	arch_export_item *items = NULL;
	size_t n = 0, i, nfull = 0;
	int64_t total = 0;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char disp[200];
	hc_err err;

	if (group && *group && (err = val_name("group", group, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	err = store_list(r->s->st, NS(r), group && *group ? group : NULL, NULL, 0,
			 STORE_BATCH_MAX_ITEMS + 1, &list, &n, &total);
	if (err) {
		ret = err == HC_ERR_NOT_FOUND
			  ? srv_reply_err(r, err, "namespace '%s' does not exist", NS(r))
			  : srv_reply_err(r, err, "cannot list the configs of '%s'", NS(r));
		goto out;
	}
	if (total > STORE_BATCH_MAX_ITEMS) {
		ret =
		    srv_reply_err(r, HC_ERR_TOO_BIG,
				  "namespace '%s' holds %" PRId64 " configs, more than one archive "
				  "may (%d): export it a group at a time",
				  NS(r), total, STORE_BATCH_MAX_ITEMS);
		goto out;
	}
	full = xcalloc(n ? n : 1, sizeof(*full));
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (i = 0; i < n; i++) {
		store_config *c = NULL;
		if (store_get(r->s->st, list[i]->ns, list[i]->group, list[i]->data_id, &c))
			continue; /* deleted since it was listed */
		full[nfull] = c;
		items[nfull].group = c->group;
		items[nfull].data_id = c->data_id;
		items[nfull].format = c->format;
		items[nfull].description = c->description;
		items[nfull].version = c->version;
		items[nfull].content = c->content;
		items[nfull].len = c->len;
		nfull++;
	}
	err = arch_export(items, nfull, NS(r), &zip);
	if (err) {
		ret = srv_reply_err(r, err, "cannot export namespace '%s'", NS(r));
		goto out;
	}
	{
		size_t len;
		char *data = sbuf_detach(&zip, &len);
		resp = srv_response(len, data, free, data);
	}
	if (!resp) {
		ret = MHD_NO;
		goto out;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s%s%s.zip\"", NS(r),
		 group && *group ? "-" : "", group && *group ? group : "");
	MHD_add_response_header(resp, "Content-Type", "application/zip");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	ret = srv_queue(r, MHD_HTTP_OK, resp);
out:
	for (i = 0; i < n; i++)
		store_config_unref(list[i]);
	for (i = 0; i < nfull; i++)
		store_config_unref(full[i]);
	free(list);
	free(full);
	free(items);
	sbuf_release(&zip);
	sbuf_release(&why);
	return ret;
}

/* ---- import ---- */

typedef enum imp_policy { IMP_ABORT, IMP_SKIP, IMP_OVERWRITE } imp_policy;
typedef enum imp_what { IMP_CREATED, IMP_CHANGED, IMP_UNCHANGED, IMP_CONFLICT } imp_what;

static const char *const policy_names[] = {"abort", "skip", "overwrite"};

/* One config of the archive and what the import does with it. */
typedef struct imp_item {
	const arch_entry *e;
	imp_what what;
	char base_md5[33]; /* what is there now; "" when absent */
	int64_t version;   /* there now; after the write, the new one */
	char *diff;	   /* dry run, changed: the unified diff; owned */
} imp_item;

/* The import's state, in r->proto across the suspends. */
typedef struct imp {
	imp_policy policy;
	int dry, planned;
	char *message;
	char ns[CFGKEY_NAME_MAX + 1];
	arch_entries e;
	imp_item *items;
	size_t n;
	store_cr_write *w; /* the batch's writes, in archive order */
	size_t nw;
	hc_err err; /* planning failed: why */
	sbuf why;
} imp;

static void imp_free(void *p)
{
	imp *im = p;
	size_t i;

	if (!im)
		return;
	for (i = 0; i < im->n; i++)
		free(im->items[i].diff);
	free(im->items);
	free(im->w);
	free(im->message);
	arch_entries_release(&im->e);
	sbuf_release(&im->why);
	free(im);
}

/* Sets im->err with a sentence. */
static void imp_fail(imp *im, hc_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void imp_fail(imp *im, hc_err err, const char *fmt, ...)
{
	va_list ap;

	im->err = err;
	sbuf_reset(&im->why);
	va_start(ap, fmt);
	sbuf_vaddf(&im->why, fmt, ap);
	va_end(ap);
}

/* Each file valid as its format (the archive's, else the config's now, else
 * text) and within --max-content; decides what happens to it. */
static void plan(srv *s, imp *im)
{
	sbuf why = SBUF_INIT(1024), conflicts = SBUF_INIT(1024);
	size_t i, nconf = 0;

	im->items = xcalloc(im->e.n ? im->e.n : 1, sizeof(*im->items));
	im->w = xcalloc(im->e.n ? im->e.n : 1, sizeof(*im->w));
	im->n = im->e.n;
	for (i = 0; i < im->e.n && !im->err; i++) {
		const arch_entry *e = &im->e.v[i];
		imp_item *it = &im->items[i];
		store_config *c = NULL;
		const char *format;

		it->e = e;
		store_get(s->st, im->ns, e->group, e->data_id, &c);
		format = e->format ? e->format : c ? c->format : "text";
		sbuf_reset(&why);
		if (e->len > s->cfg.max_content)
			imp_fail(im, HC_ERR_INVALID,
				 "%s/%s: %zu bytes, more than --max-content (%zu); nothing was "
				 "imported",
				 e->group, e->data_id, e->len, s->cfg.max_content);
		else if (val_content(format, e->content, e->len, &why))
			imp_fail(im, HC_ERR_INVALID,
				 "%s/%s is not valid %s: %s; nothing was imported", e->group,
				 e->data_id, format, why.buf ? why.buf : "");
		if (c) {
			snprintf(it->base_md5, sizeof(it->base_md5), "%s", c->md5);
			it->version = c->version;
		}
		if (!c) {
			it->what = IMP_CREATED;
		} else if (!strcmp(c->format, format) && c->len == e->len &&
			   !memcmp(c->content, e->content, e->len)) {
			it->what = IMP_UNCHANGED;
		} else if (im->policy == IMP_OVERWRITE) {
			it->what = IMP_CHANGED;
		} else {
			it->what = IMP_CONFLICT;
			if (nconf++ < 10)
				sbuf_addf(&conflicts, "%s%s/%s", nconf > 1 ? ", " : "", e->group,
					  e->data_id);
		}
		if (im->dry && it->what == IMP_CHANGED) {
			sbuf d = SBUF_INIT(SBUF_NOMAX);
			diff_unified(c->content, c->len, e->content, e->len, NULL, &d);
			it->diff = sbuf_detach(&d, NULL);
		}
		if (it->what == IMP_CREATED || it->what == IMP_CHANGED) {
			store_cr_write *w = &im->w[im->nw++];
			w->op = STORE_CR_PUBLISH;
			w->base_md5 = it->base_md5;
			w->w.ns = im->ns;
			w->w.group = e->group;
			w->w.data_id = e->data_id;
			w->w.content = e->content;
			w->w.len = e->len;
			w->w.format = format == e->format ? e->format : NULL;
			w->w.description = e->description;
			w->w.check = srv_check_in_tx;
		}
		store_config_unref(c);
	}
	if (!im->err && nconf && im->policy == IMP_ABORT)
		imp_fail(im, HC_ERR_CONFLICT,
			 "%zu config%s exist%s with other content: %s%s; nothing was imported (use "
			 "policy=skip to keep them or policy=overwrite to replace them)",
			 nconf, nconf == 1 ? "" : "s", nconf == 1 ? "s" : "", conflicts.buf,
			 nconf > 10 ? ", ..." : "");
	sbuf_release(&why);
	sbuf_release(&conflicts);
}

/* On the checker thread: unzip, validate, plan; then either the batch is
 * queued (its completion resumes r) or r is resumed here. */
static void imp_offloaded(srv_req *r)
{
	imp *im = r->proto;
	srv *s = r->s;
	arch_limits lim = ARCH_LIMITS_DEFAULT;
	store_batch_req b;
	hc_err err;

	sbuf_reset(&im->why);
	err = arch_read(r->body.buf, r->body.len, &lim, &im->e, &im->why);
	if (err)
		im->err = err;
	else
		plan(s, im);
	if (im->err || im->dry || !im->nw) {
		im->planned = 1;
		MHD_resume_connection(r->conn);
		atomic_fetch_sub(&s->writes, 1);
		return;
	}
	memset(&b, 0, sizeof(b));
	b.ns = im->ns;
	b.items = im->w;
	b.nitems = im->nw;
	b.message = im->message ? im->message : "import";
	b.audit_action = "namespace-import";
	b.audit_detail = policy_names[im->policy];
	b.actor = srv_author(r);
	b.role = srv_audit_role(r, im->ns);
	b.source_ip = r->ip;
	b.now_ms = clock_wall_ms();
	r->wr = xcalloc(1, sizeof(*r->wr));
	store_batch_async(s->st, &b, srv_on_write_done, r);
}

static void json_entry(sbuf *b, const imp_item *it, int with_version)
{
	sbuf_addstr(b, "{\"group\":");
	sbuf_add_json_str(b, it->e->group, strlen(it->e->group));
	sbuf_addstr(b, ",\"dataId\":");
	sbuf_add_json_str(b, it->e->data_id, strlen(it->e->data_id));
	if (with_version && it->version)
		sbuf_addf(b, ",\"version\":%" PRId64, it->version);
	if (it->what == IMP_UNCHANGED || it->what == IMP_CONFLICT)
		sbuf_addf(b, ",\"reason\":\"%s\"",
			  it->what == IMP_UNCHANGED ? "unchanged" : "exists with other content");
	if (it->diff) {
		sbuf_addstr(b, ",\"diff\":");
		sbuf_add_json_str(b, it->diff, strlen(it->diff));
	}
	sbuf_addch(b, '}');
}

/* {"namespace","policy","dryRun","created":[...],"changed":[...],"skipped":[...]}:
 * after a write, created and changed carry their new versions. */
static enum MHD_Result imp_answer(srv_req *r, imp *im)
{
	static const struct {
		const char *name;
		imp_what a, b;
	} lists[] = {{"created", IMP_CREATED, IMP_CREATED},
		     {"changed", IMP_CHANGED, IMP_CHANGED},
		     {"skipped", IMP_UNCHANGED, IMP_CONFLICT}};
	sbuf b = SBUF_INIT(SBUF_NOMAX);
	size_t i, k, n;

	if (!im->dry)
		for (i = 0; i < im->n; i++) {
			imp_item *it = &im->items[i];
			store_config *c = NULL;
			if ((it->what == IMP_CREATED || it->what == IMP_CHANGED) &&
			    !store_get(r->s->st, im->ns, it->e->group, it->e->data_id, &c))
				it->version = c->version;
			store_config_unref(c);
		}
	sbuf_addstr(&b, "{\"namespace\":");
	sbuf_add_json_str(&b, im->ns, strlen(im->ns));
	sbuf_addf(&b, ",\"policy\":\"%s\",\"dryRun\":%s", policy_names[im->policy],
		  im->dry ? "true" : "false");
	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		sbuf_addf(&b, ",\"%s\":[", lists[k].name);
		for (i = 0, n = 0; i < im->n; i++)
			if (im->items[i].what == lists[k].a || im->items[i].what == lists[k].b) {
				if (n++)
					sbuf_addch(&b, ',');
				json_entry(&b, &im->items[i],
					   !im->dry || lists[k].a != IMP_CREATED);
			}
		sbuf_addch(&b, ']');
	}
	sbuf_addstr(&b, "}\n");
	return srv_reply(r, MHD_HTTP_OK, "application/json", &b);
}

/* policy, dryRun and message, or a 400 queued into *ret. */
static int imp_args(srv_req *r, imp *im, enum MHD_Result *ret)
{
	const char *policy = srv_arg(r, "policy"), *dry = srv_arg(r, "dryRun");
	const char *msg = srv_arg(r, "message");
	size_t i;

	im->policy = IMP_ABORT;
	if (policy) {
		for (i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
			if (!strcmp(policy, policy_names[i]))
				break;
		if (i == sizeof(policy_names) / sizeof(policy_names[0])) {
			*ret = srv_reply_err(
			    r, HC_ERR_INVALID,
			    "policy '%.40s' is invalid: use abort, skip or overwrite", policy);
			return 0;
		}
		im->policy = (imp_policy)i;
	}
	if (dry && strcmp(dry, "true") && strcmp(dry, "false")) {
		*ret = srv_reply_err(r, HC_ERR_INVALID, "dryRun must be true or false");
		return 0;
	}
	im->dry = dry && !strcmp(dry, "true");
	if (msg && strlen(msg) > IMP_MESSAGE_MAX) {
		*ret = srv_reply_err(r, HC_ERR_INVALID, "message is longer than %d bytes",
				     IMP_MESSAGE_MAX);
		return 0;
	}
	im->message = msg ? xstrdup(msg) : NULL;
	return 1;
}

enum MHD_Result srv_h_ns_import(srv_req *r)
{
	imp *im = r->proto;
	enum MHD_Result ret;
	int review = 0;

	if (r->wr && r->wr->done) {
		if (r->wr->err)
			return srv_reply_err(r, r->wr->err, "%s; nothing was imported",
					     r->wr->res.detail[0] ? r->wr->res.detail
								  : hc_err_code(r->wr->err));
		return imp_answer(r, im);
	}
	if (im && im->planned)
		return im->err ? srv_reply_why(r, im->err, &im->why) : imp_answer(r, im);
	im = xcalloc(1, sizeof(*im));
	sbuf_init(&im->why, 1024);
	arch_entries_init(&im->e);
	snprintf(im->ns, sizeof(im->ns), "%s", NS(r));
	r->proto = im;
	r->proto_free = imp_free;
	if (!imp_args(r, im, &ret))
		return ret;
	if (store_namespace_review(r->s->st, im->ns, &review))
		return srv_reply_err(r, HC_ERR_NOT_FOUND, "namespace '%s' does not exist", im->ns);
	if (review && !im->dry)
		return srv_reply_err(
		    r, HC_ERR_CONFLICT,
		    "namespace '%s' requires review: every change goes through a "
		    "change request, so it cannot be imported into directly (a dry "
		    "run still shows what would change)",
		    im->ns);
	if (!r->body.len)
		return srv_reply_err(r, HC_ERR_INVALID,
				     "the body must be a zip: hotconf's export or Nacos'");
	if (!srv_write_begin(r))
		return srv_reply_err(r, HC_ERR_UNAVAILABLE,
				     "the server is shutting down; nothing was imported");
	MHD_suspend_connection(r->conn);
	srv_offload(r, imp_offloaded);
	return MHD_YES;
}
