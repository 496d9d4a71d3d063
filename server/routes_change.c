/*
 * routes_change.c: change requests over HTTP, and protected namespaces.
 *
 * A request is a draft of edits to configs of one namespace (publish,
 * delete, gray-set, gray-remove, gray-promote). Each item is validated when
 * it is added (names, content against its format, the gray rule's match and
 * rollout) and records the md5 it is based on; at publish the store checks
 * every base and runs every item in one transaction (store_cr_publish),
 * validating content again inside it. Who may do what: reading and
 * commenting need reader, drafting and publishing editor, approving and
 * rejecting approver (the route table says so); editing a draft is for its
 * author only (an approver who edited it could otherwise approve their own
 * words), cancelling for its author or an approver; a forced publish, with
 * no approvals, for an admin, and it is audited as such. The store decides
 * the rest inside its transactions: states, the author's own approval, the
 * approvals a protected namespace requires.
 *
 * Worker threads; a publish is queued to the store's writer like any write
 * and answers when it is durable. The scheduler thread (schedule.c)
 * publishes scheduled requests through srv_cr_prepare too.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diff.h"
#include "format.h"
#include "md5.h"
#include "srv_internal.h"
#include "store_change.h"
#include "utf8.h"
#include "validate.h"
#include "xmalloc.h"

#define NS(r) srv_param(r, "ns")
#define REVIEW_MAX 10
#define SCHEDULE_MAX_MS (366LL * 24 * 3600 * 1000)

/* What an item's JSON may hold besides a gray rule's own fields. */
static const char *const item_fields[] = {"op", "group", "dataId", "rule", "baseMd5", NULL};

/* ---- items ---- */

/* The md5 an item is based on now ("" when absent) and the config's version. */
static void current_base(srv *s, const char *ns, const store_cr_item *it, char md5[33],
			 int64_t *version)
{
	store_config *c = NULL;

	md5[0] = '\0';
	*version = 0;
	if (store_get(s->st, ns, it->group, it->data_id, &c))
		return;
	*version = c->version;
	if (it->op == STORE_CR_PUBLISH || it->op == STORE_CR_DELETE) {
		memcpy(md5, c->md5, 33);
	} else {
		const store_gray_rule *g = store_gray_find(c->gray, it->rule);
		if (g)
			memcpy(md5, g->md5, 33);
	}
	store_config_unref(c);
}

static int is_gray(store_cr_op op)
{
	return op == STORE_CR_GRAY_SET || op == STORE_CR_GRAY_REMOVE || op == STORE_CR_GRAY_PROMOTE;
}

/* The format a publish or gray-set item is stored as: its own, else the
 * rule's (gray-set) or the config's, else text. */
static void item_format(srv *s, const char *ns, const store_cr_item *it, const char *given,
			char out[STORE_FORMAT_MAX])
{
	store_config *c = NULL;

	if (given) {
		snprintf(out, STORE_FORMAT_MAX, "%s", given);
		return;
	}
	snprintf(out, STORE_FORMAT_MAX, "text");
	if (store_get(s->st, ns, it->group, it->data_id, &c))
		return;
	snprintf(out, STORE_FORMAT_MAX, "%s", c->format);
	if (it->op == STORE_CR_GRAY_SET) {
		const store_gray_rule *g = store_gray_find(c->gray, it->rule);
		if (g)
			snprintf(out, STORE_FORMAT_MAX, "%s", g->format);
	}
	store_config_unref(c);
}

/* Validates content as format; "items[i].content: ..." in why. */
static hc_err item_content_ok(size_t i, const char *format, const char *content, size_t len,
			      sbuf *why)
{
	sbuf v = SBUF_INIT(STORE_DETAIL_MAX - 32);
	hc_err err = val_content(format, content, len, &v);

	if (err)
		sbuf_addf(why, "items[%zu].content: %s", i, v.len ? v.buf : hc_err_code(err));
	sbuf_release(&v);
	return err;
}

/* A gray-set item's rule: checked with the rule parser, and its priority,
 * match and rollout kept as the spec's JSON. */
static hc_err item_gray(srv *s, size_t i, const cJSON *o, store_cr_item *it, sbuf *why)
{
	static const char *const spec_fields[] = {"priority", "match", "rollout"};
	struct srv_gray *g = NULL;
	cJSON *spec = cJSON_CreateObject();
	sbuf w = SBUF_INIT(STORE_DETAIL_MAX - 32);
	hc_err err;
	size_t k;

	err = srv_gray_parse(s, it->rule, cJSON_Duplicate(o, 1), item_fields, 1, &g, &w);
	srv_gray_free(g);
	if (err) {
		sbuf_addf(why, "items[%zu].%s", i, w.buf);
		goto out;
	}
	for (k = 0; k < sizeof(spec_fields) / sizeof(spec_fields[0]); k++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, spec_fields[k]);
		if (f && !cJSON_IsNull(f))
			cJSON_AddItemToObject(spec, spec_fields[k], cJSON_Duplicate(f, 1));
	}
	it->spec = cJSON_PrintUnformatted(spec);
out:
	cJSON_Delete(spec);
	sbuf_release(&w);
	return err;
}

/* Frees items made by parse_items (the store's release frees the same). */
static void items_free(store_cr_item *v, size_t n)
{
	store_cr cr;

	memset(&cr, 0, sizeof(cr));
	cr.items = v;
	cr.nitems = n;
	store_cr_release(&cr);
}

/* A string field of item i: required, or def when absent. */
static hc_err item_str(const cJSON *o, size_t i, const char *name, const char *def,
		       const char **out, sbuf *why)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = def;
	if (!f && def)
		return HC_OK;
	if (!cJSON_IsString(f)) {
		sbuf_addf(why, "items[%zu].%s %s", i, name, f ? "must be a string" : "is required");
		return HC_ERR_INVALID;
	}
	*out = f->valuestring;
	return HC_OK;
}

/* One item's JSON -> *it (owned strings). */
static hc_err parse_item(srv *s, const char *ns, size_t i, const cJSON *o, store_cr_item *it,
			 sbuf *why)
{
	const char *op = NULL, *group, *data_id, *rule = "", *content = "", *format = NULL,
		   *base = NULL;
	char where[48], fmt[STORE_FORMAT_MAX];
	const cJSON *f;
	hc_err err;

	memset(it, 0, sizeof(*it));
	if (!cJSON_IsObject(o)) {
		sbuf_addf(why, "items[%zu] must be an object {\"op\", \"group\", \"dataId\", ...}",
			  i);
		return HC_ERR_INVALID;
	}
	if ((err = item_str(o, i, "op", NULL, &op, why)))
		return err;
	it->op = store_cr_op_parse(op);
	if (!it->op) {
		sbuf_addf(why,
			  "items[%zu].op '%.40s' is not an op: use publish, delete, gray-set, "
			  "gray-remove or gray-promote",
			  i, op);
		return HC_ERR_INVALID;
	}
	if ((err = item_str(o, i, "group", NULL, &group, why)) ||
	    (err = item_str(o, i, "dataId", NULL, &data_id, why)))
		return err;
	snprintf(where, sizeof(where), "items[%zu].group", i);
	if ((err = val_name(where, group, why)))
		return err;
	snprintf(where, sizeof(where), "items[%zu].dataId", i);
	if ((err = val_name(where, data_id, why)))
		return err;
	if (is_gray(it->op)) {
		if ((err = item_str(o, i, "rule", NULL, &rule, why)))
			return err;
		snprintf(where, sizeof(where), "items[%zu].rule", i);
		if ((err = val_name(where, rule, why)))
			return err;
	}
	if (it->op == STORE_CR_PUBLISH || it->op == STORE_CR_GRAY_SET) {
		if ((err = item_str(o, i, "content", NULL, &content, why)))
			return err;
		f = cJSON_GetObjectItemCaseSensitive(o, "format");
		if (f && (!cJSON_IsString(f) || !fmt_ok(f->valuestring))) {
			sbuf_addf(why, "items[%zu].format is invalid: use %s", i, fmt_list());
			return HC_ERR_INVALID;
		}
		format = f ? f->valuestring : NULL;
	}
	if ((err = item_str(o, i, "baseMd5", "", &base, why)))
		return err;
	if (*base && (strlen(base) != 32 || strspn(base, "0123456789abcdef") != 32)) {
		sbuf_addf(why, "items[%zu].baseMd5 must be 32 lowercase hex digits", i);
		return HC_ERR_INVALID;
	}
	it->group = xstrdup(group);
	it->data_id = xstrdup(data_id);
	it->rule = xstrdup(rule);
	it->len = strlen(content);
	it->content = xstrdup(content);
	md5_hex(it->content, it->len, it->md5);
	fmt[0] = '\0';
	if (it->op == STORE_CR_PUBLISH || it->op == STORE_CR_GRAY_SET)
		item_format(s, ns, it, format, fmt);
	it->format = xstrdup(fmt);
	if (it->op == STORE_CR_GRAY_SET && (err = item_gray(s, i, o, it, why)))
		return err;
	if (!it->spec)
		it->spec = xstrdup("");
	if (fmt[0] && (err = item_content_ok(i, fmt, it->content, it->len, why)))
		return err;
	current_base(s, ns, it, it->base_md5, &it->base_version);
	if (*base) /* the client says what it based the edit on: that is checked */
		memcpy(it->base_md5, base, 33);
	return HC_OK;
}

/* Two items may not edit the same thing: a config's main version once, each
 * of its rules once. */
static hc_err check_unique(const store_cr_item *v, size_t n, sbuf *why)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++) {
			if (is_gray(v[i].op) != is_gray(v[j].op) ||
			    strcmp(v[i].group, v[j].group) || strcmp(v[i].data_id, v[j].data_id) ||
			    strcmp(v[i].rule, v[j].rule))
				continue;
			sbuf_addf(
			    why,
			    "items[%zu] edits %s/%s%s%s as items[%zu] does: give one edit each", i,
			    v[i].group, v[i].data_id, *v[i].rule ? " rule " : "", v[i].rule, j);
			return HC_ERR_INVALID;
		}
	return HC_OK;
}

/* The items array of a body -> *out (the caller frees it with items_free). */
static hc_err parse_items(srv *s, const char *ns, const cJSON *items, store_cr_item **out,
			  size_t *n, sbuf *why)
{
	int cnt = cJSON_GetArraySize(items);
	const cJSON *o;
	size_t i = 0;
	hc_err err = HC_OK;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(items) || cnt < 1 || cnt > STORE_CR_MAX_ITEMS) {
		sbuf_addf(why, "items must be an array of 1 to %d edits", STORE_CR_MAX_ITEMS);
		return HC_ERR_INVALID;
	}
	*out = xcalloc((size_t)cnt, sizeof(**out));
	cJSON_ArrayForEach(o, items)
	{
		err = parse_item(s, ns, i, o, &(*out)[i], why);
		*n = ++i;
		if (err)
			return err;
	}
	return check_unique(*out, *n, why);
}

/* ---- publish ---- */

void srv_cr_pub_free(srv_cr_pub *pp)
{
	size_t i;

	if (!pp)
		return;
	for (i = 0; i < pp->n; i++)
		srv_gray_free(pp->gray[i]);
	free(pp->gray);
	free(pp->w);
	store_cr_release(&pp->cr);
	free(pp);
}

hc_err srv_cr_prepare(srv *s, const char *ns, int64_t id, srv_cr_pub **out, sbuf *why)
{
	srv_cr_pub *pp = xcalloc(1, sizeof(*pp));
	hc_err err;
	size_t i;

	*out = pp;
	err = store_cr_get(s->st, ns, id, &pp->cr);
	if (err) {
		sbuf_addf(why, "namespace '%s' has no change request %" PRId64, ns, id);
		return err;
	}
	pp->n = pp->cr.nitems;
	pp->w = xcalloc(pp->n ? pp->n : 1, sizeof(*pp->w));
	pp->gray = xcalloc(pp->n ? pp->n : 1, sizeof(*pp->gray));
	for (i = 0; i < pp->n; i++) {
		const store_cr_item *it = &pp->cr.items[i];
		store_cr_write *w = &pp->w[i];

		w->op = it->op;
		w->base_md5 = it->base_md5;
		w->w.ns = pp->cr.ns;
		w->w.group = it->group;
		w->w.data_id = it->data_id;
		w->w.content = it->content;
		w->w.len = it->len;
		w->w.format = *it->format ? it->format : NULL;
		/* No format was checked here: the store validates every item's content
		 * inside the publish's transaction, against the format it commits. */
		w->w.check = srv_check_in_tx;
		w->g.name = it->rule;
		if (it->op != STORE_CR_GRAY_SET)
			continue;
		err =
		    srv_gray_parse(s, it->rule, cJSON_Parse(it->spec), NULL, 0, &pp->gray[i], why);
		if (err) {
			sbuf_addf(why, " (items[%zu] of change request %" PRId64 ")", i, id);
			return err;
		}
		w->g = *srv_gray_spec(pp->gray[i]);
	}
	pp->p.ns = pp->cr.ns;
	pp->p.id = id;
	pp->p.expect_rev = pp->cr.rev;
	pp->p.items = pp->w;
	pp->p.nitems = pp->n;
	return HC_OK;
}

/* ---- JSON ---- */

static void json_str(sbuf *b, const char *key, const char *v)
{
	sbuf_addf(b, "\"%s\":", key);
	sbuf_add_json_str(b, v, strlen(v));
}

/* What an item changes, as a unified diff from what is there now; and
 * whether its base moved since it was added. */
static void json_item_now(srv *s, const store_cr *cr, const store_cr_item *it, sbuf *b)
{
	store_config *c = NULL;
	const store_gray_rule *g = NULL;
	const char *from = "", *to = "";
	size_t nfrom = 0, nto = 0;
	sbuf d = SBUF_INIT(SBUF_NOMAX);
	char md5[33];
	int64_t version;

	current_base(s, cr->ns, it, md5, &version);
	sbuf_addf(b, ",\"stale\":%s", strcmp(md5, it->base_md5) ? "true" : "false");
	sbuf_addf(b, ",\"current\":{\"md5\":\"%s\",\"version\":%" PRId64 "}", md5, version);
	if (!store_get(s->st, cr->ns, it->group, it->data_id, &c)) {
		from = c->content;
		nfrom = c->len;
		g = is_gray(it->op) ? store_gray_find(c->gray, it->rule) : NULL;
	}
	switch (it->op) {
	case STORE_CR_PUBLISH:
		to = it->content, nto = it->len;
		break;
	case STORE_CR_DELETE:
		break;
	case STORE_CR_GRAY_SET: /* the rule's instances: from what they get now */
		if (g)
			from = g->content, nfrom = g->len;
		to = it->content, nto = it->len;
		break;
	case STORE_CR_GRAY_REMOVE: /* its instances go back to main */
		to = from, nto = nfrom;
		if (g)
			from = g->content, nfrom = g->len;
		break;
	case STORE_CR_GRAY_PROMOTE: /* main becomes the rule's */
		to = g ? g->content : from, nto = g ? g->len : nfrom;
		break;
	}
	if (utf8_valid(from, nfrom) && utf8_valid(to, nto)) {
		diff_unified(from, nfrom, to, nto, NULL, &d);
		sbuf_addstr(b, ",\"diff\":");
		sbuf_add_json_str(b, d.buf ? d.buf : "", d.len);
	}
	sbuf_release(&d);
	store_config_unref(c);
}

/* A request that ended has nothing left to compare with what is there now. */
static int ended(const store_cr *cr)
{
	return cr->state == STORE_CR_PUBLISHED || cr->state == STORE_CR_FAILED ||
	       cr->state == STORE_CR_CANCELLED;
}

static void json_item(srv *s, const store_cr *cr, const store_cr_item *it, int full, sbuf *b)
{
	sbuf_addch(b, '{');
	json_str(b, "op", store_cr_op_name(it->op));
	sbuf_addch(b, ',');
	json_str(b, "group", it->group);
	sbuf_addch(b, ',');
	json_str(b, "dataId", it->data_id);
	if (*it->rule) {
		sbuf_addch(b, ',');
		json_str(b, "rule", it->rule);
	}
	if (*it->format) {
		sbuf_addch(b, ',');
		json_str(b, "format", it->format);
		sbuf_addf(b, ",\"md5\":\"%s\"", it->md5);
	}
	if (strlen(it->spec) > 2) { /* its priority, match and rollout, as given */
		sbuf_addch(b, ',');
		sbuf_add(b, it->spec + 1, strlen(it->spec) - 2);
	}
	sbuf_addf(b, ",\"baseMd5\":\"%s\",\"baseVersion\":%" PRId64, it->base_md5,
		  it->base_version);
	if (full) {
		if (*it->format) {
			sbuf_addstr(b, ",\"content\":");
			sbuf_add_json_str(b, it->content, it->len);
		}
		if (!ended(cr))
			json_item_now(s, cr, it, b);
	}
	sbuf_addch(b, '}');
}

static void json_cr(srv *s, const store_cr *cr, int full, sbuf *b)
{
	size_t i;

	sbuf_addf(b, "{\"id\":%" PRId64 ",", cr->id);
	json_str(b, "namespace", cr->ns);
	sbuf_addch(b, ',');
	json_str(b, "title", cr->title);
	sbuf_addch(b, ',');
	json_str(b, "description", cr->description);
	sbuf_addch(b, ',');
	json_str(b, "state", store_cr_state_name(cr->state));
	sbuf_addf(b, ",\"rev\":%" PRId64 ",", cr->rev);
	json_str(b, "author", cr->author);
	sbuf_addch(b, ',');
	srv_json_time(b, "createdAt", cr->created_ms);
	sbuf_addch(b, ',');
	srv_json_time(b, "updatedAt", cr->updated_ms);
	if (cr->scheduled_ms) {
		sbuf_addch(b, ',');
		srv_json_time(b, "scheduledAt", cr->scheduled_ms);
	}
	if (cr->state == STORE_CR_PUBLISHED) {
		sbuf_addch(b, ',');
		srv_json_time(b, "publishedAt", cr->published_ms);
		sbuf_addf(b, ",\"publishedRevision\":%" PRId64 ",", cr->published_rev);
		json_str(b, "publishedBy", cr->published_by);
	}
	if (*cr->reason) {
		sbuf_addch(b, ',');
		json_str(b, "reason", cr->reason);
	}
	sbuf_addf(b, ",\"review\":{\"required\":%d,\"approvals\":%d},\"items\":[",
		  cr->review_required, cr->approvals);
	for (i = 0; i < cr->nitems; i++) {
		if (i)
			sbuf_addch(b, ',');
		json_item(s, cr, &cr->items[i], full, b);
	}
	sbuf_addch(b, ']');
	if (full) {
		sbuf_addstr(b, ",\"events\":[");
		for (i = 0; i < cr->nevents; i++) {
			const store_cr_event *e = &cr->events[i];
			if (i)
				sbuf_addch(b, ',');
			sbuf_addch(b, '{');
			srv_json_time(b, "at", e->at_ms);
			sbuf_addch(b, ',');
			json_str(b, "actor", e->actor);
			sbuf_addch(b, ',');
			json_str(b, "kind", e->kind);
			sbuf_addch(b, ',');
			json_str(b, "text", e->text);
			sbuf_addf(b, ",\"rev\":%" PRId64 "}", e->rev);
		}
		sbuf_addch(b, ']');
	}
	sbuf_addch(b, '}');
}

/* Answers request id of the path's namespace as it is now. */
static enum MHD_Result reply_cr(srv_req *r, int64_t id, unsigned status)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_cr cr;
	hc_err err = store_cr_get(r->s->st, NS(r), id, &cr);

	if (err)
		return srv_reply_err(r, err, "namespace '%s' has no change request %" PRId64, NS(r),
				     id);
	json_cr(r->s, &cr, 1, &body);
	sbuf_addch(&body, '\n');
	store_cr_release(&cr);
	return srv_reply(r, status, "application/json", &body);
}

/* ---- handlers ---- */

/* Reads the caller's address and headers (the source the audit log and
 * the history record); 0 after answering 400 for malformed ones. */
static int caller_ok(srv_req *r, enum MHD_Result *ret)
{
	sbuf why = SBUF_INIT(1024);
	hc_err err = srv_caller(r, &why);

	if (err)
		*ret = srv_reply_why(r, err, &why);
	sbuf_release(&why);
	return err == HC_OK;
}

/* The path's {id} (after caller_ok); 0 after answering when it is not one. */
static int64_t path_id(srv_req *r, enum MHD_Result *ret)
{
	int64_t id = 0;

	if (!caller_ok(r, ret))
		return 0;

	if (val_int(srv_param(r, "id"), &id) || id < 1) {
		*ret = srv_reply_err(r, HC_ERR_NOT_FOUND,
				     "namespace '%.128s' has no change request '%.40s'", NS(r),
				     srv_param(r, "id"));
		return 0;
	}
	return id;
}

/* The body as a JSON object (an empty body is {}); NULL after answering. */
static cJSON *body_object(srv_req *r, const char *shape, enum MHD_Result *ret)
{
	cJSON *doc = r->body.len ? srv_json_body(r) : cJSON_CreateObject();

	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		*ret = srv_reply_err(r, HC_ERR_INVALID, "body must be a JSON object %s", shape);
		return NULL;
	}
	return doc;
}

/* A string field: NULL when absent; *bad when present but not a string. */
static const char *opt_str(const cJSON *doc, const char *name, int *bad)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(doc, name);

	if (!f || cJSON_IsNull(f))
		return NULL;
	if (!cJSON_IsString(f)) {
		*bad = 1;
		return NULL;
	}
	return f->valuestring;
}

/* body.rev: -1 when absent; -2 when not a whole number. */
static int64_t opt_rev(const cJSON *doc)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(doc, "rev");

	if (!f || cJSON_IsNull(f))
		return -1;
	if (!cJSON_IsNumber(f) || f->valuedouble < 1 || f->valuedouble > 9e15 ||
	    f->valuedouble != (double)(int64_t)f->valuedouble)
		return -2;
	return (int64_t)f->valuedouble;
}

static void input_init(srv_req *r, store_cr_input *in)
{
	memset(in, 0, sizeof(*in));
	in->ns = NS(r);
	in->actor = srv_author(r);
	in->role = srv_audit_role(r, NS(r));
	in->source_ip = r->ip;
	in->now_ms = clock_wall_ms();
}

enum MHD_Result srv_h_changes_list(srv_req *r)
{
	const char *state = srv_arg(r, "state");
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_cr_state want = 0;
	store_cr *v = NULL;
	int64_t page, size, total = 0;
	size_t n = 0, i;
	enum MHD_Result ret = MHD_NO;
	hc_err err = srv_paging(r, &page, &size, &why);

	if (!err && state && !(want = store_cr_state_parse(state))) {
		sbuf_addf(&why,
			  "state '%.40s' is not a state: use draft, open, approved, rejected, "
			  "scheduled, published, failed or cancelled",
			  state);
		err = HC_ERR_INVALID;
	}
	if (!err &&
	    (err = store_cr_list(r->s->st, NS(r), want, (page - 1) * size, size, &v, &n, &total)))
		sbuf_addstr(&why, "cannot list change requests");
	if (err) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	srv_page_open(&body, total, page, size);
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_cr(r->s, &v[i], 0, &body);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_crs_free(v, n);
	sbuf_release(&why);
	sbuf_release(&body);
	return ret;
}

/* POST (create) and PATCH (edit) share the parsing of title, description
 * and items. */
static enum MHD_Result write_cr(srv_req *r, int64_t id)
{
	static const char shape[] = "{\"title\", \"description\", \"items\": [...]}";
	sbuf why = SBUF_INIT(1024);
	char detail[STORE_DETAIL_MAX];
	store_cr_item *items = NULL;
	size_t nitems = 0;
	store_cr_input in;
	enum MHD_Result ret = MHD_NO;
	const cJSON *f, *list;
	int bad = 0;
	int64_t rev = -1;
	hc_err err = HC_OK;
	cJSON *doc = body_object(r, shape, &ret);

	if (!doc)
		return ret;
	input_init(r, &in);
	detail[0] = '\0';
	in.title = opt_str(doc, "title", &bad);
	in.description = opt_str(doc, "description", &bad);
	cJSON_ArrayForEach(f, doc)
	{
		if (strcmp(f->string, "title") && strcmp(f->string, "description") &&
		    strcmp(f->string, "items") && strcmp(f->string, "rev")) {
			sbuf_addf(&why,
				  "%.64s is not a field of a change request: use title, "
				  "description, items (and rev to edit)",
				  f->string);
			err = HC_ERR_INVALID;
		}
	}
	if (!err && bad) {
		sbuf_addf(&why, "title and description must be strings: %s", shape);
		err = HC_ERR_INVALID;
	}
	if (!err && id && (rev = opt_rev(doc)) == -2) {
		sbuf_addstr(&why, "rev must be the request's rev, a whole number");
		err = HC_ERR_INVALID;
	}
	list = cJSON_GetObjectItemCaseSensitive(doc, "items");
	if (!err && (list || !id)) {
		err = parse_items(r->s, NS(r), list, &items, &nitems, &why);
		in.items = items;
		in.nitems = nitems;
	}
	if (!err && id) {
		store_cr cur;
		/* Only its author edits a draft: an approver who rewrote it could
		 * otherwise approve their own words. */
		err = store_cr_get(r->s->st, NS(r), id, &cur);
		if (err)
			sbuf_addf(&why, "namespace '%s' has no change request %" PRId64, NS(r), id);
		else if (strcmp(cur.author, in.actor)) {
			sbuf_addf(&why,
				  "only %s, who wrote change request %" PRId64 ", may edit it",
				  cur.author, id);
			err = HC_ERR_FORBIDDEN;
		}
		store_cr_release(&cur); /* zeroed by store_cr_get on failure */
		if (!err)
			err = store_cr_update(r->s->st, id, rev, &in, detail, sizeof(detail));
	} else if (!err) {
		err = store_cr_create(r->s->st, &in, &id, detail, sizeof(detail));
	}
	if (err && !why.len)
		sbuf_addstr(&why, detail[0] ? detail : hc_err_code(err));
	ret = err ? srv_reply_why(r, err, &why)
		  : reply_cr(r, id, r->method_bit == SRV_POST ? MHD_HTTP_CREATED : MHD_HTTP_OK);
	items_free(items, nitems);
	cJSON_Delete(doc);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_change_create(srv_req *r)
{
	enum MHD_Result ret = MHD_NO;

	return caller_ok(r, &ret) ? write_cr(r, 0) : ret;
}

enum MHD_Result srv_h_change_get(srv_req *r)
{
	enum MHD_Result ret = MHD_NO;
	int64_t id = path_id(r, &ret);

	return id ? reply_cr(r, id, MHD_HTTP_OK) : ret;
}

enum MHD_Result srv_h_change_patch(srv_req *r)
{
	enum MHD_Result ret = MHD_NO;
	int64_t id = path_id(r, &ret);

	return id ? write_cr(r, id) : ret;
}

/* Validates a request's items again, as a submit requires. */
static hc_err items_still_valid(srv_req *r, int64_t id, sbuf *why)
{
	store_cr cr;
	hc_err err = store_cr_get(r->s->st, NS(r), id, &cr);
	size_t i;

	if (err) {
		sbuf_addf(why, "namespace '%s' has no change request %" PRId64, NS(r), id);
		return err;
	}
	for (i = 0; i < cr.nitems && !err; i++)
		if (*cr.items[i].format)
			err = item_content_ok(i, cr.items[i].format, cr.items[i].content,
					      cr.items[i].len, why);
	store_cr_release(&cr);
	return err;
}

/* A move of the request: submit, approve, reject, cancel, comment. */
static enum MHD_Result move(srv_req *r, store_cr_action action, const char *text_field)
{
	char detail[STORE_DETAIL_MAX], shape[96];
	sbuf why = SBUF_INIT(1024);
	store_cr_move m;
	enum MHD_Result ret = MHD_NO;
	int bad = 0;
	hc_err err = HC_OK;
	int64_t id = path_id(r, &ret);
	cJSON *doc;

	if (!id)
		return ret;
	snprintf(shape, sizeof(shape), "{\"%s\", \"rev\"}", text_field ? text_field : "rev");
	doc = body_object(r, shape, &ret);
	if (!doc)
		return ret;
	memset(&m, 0, sizeof(m));
	detail[0] = '\0';
	m.action = action;
	m.expect_rev = opt_rev(doc);
	m.text = text_field ? opt_str(doc, text_field, &bad) : NULL;
	m.actor = srv_author(r);
	m.role = srv_audit_role(r, NS(r));
	m.source_ip = r->ip;
	m.now_ms = clock_wall_ms();
	if (bad || m.expect_rev == -2) {
		sbuf_addf(&why, "body must be %s: %s a string, rev a whole number", shape,
			  text_field ? text_field : "");
		err = HC_ERR_INVALID;
	}
	if (!err && action == STORE_CR_SUBMIT)
		err = items_still_valid(r, id, &why);
	if (!err && action == STORE_CR_CANCEL && !srv_allowed(r, NS(r), SRV_ACT_APPROVE)) {
		store_cr cur;
		err = store_cr_get(r->s->st, NS(r), id, &cur);
		if (!err && strcmp(cur.author, m.actor)) {
			sbuf_addf(&why,
				  "only %s, who wrote change request %" PRId64
				  ", or an approver may cancel it",
				  cur.author, id);
			err = HC_ERR_FORBIDDEN;
		}
		if (err == HC_ERR_NOT_FOUND)
			sbuf_addf(&why, "namespace '%s' has no change request %" PRId64, NS(r), id);
		store_cr_release(&cur);
	}
	if (!err && (err = store_cr_move_to(r->s->st, NS(r), id, &m, NULL, detail, sizeof(detail))))
		sbuf_addstr(&why, detail[0] ? detail : hc_err_code(err));
	if (!err && action == STORE_CR_CANCEL)
		srv_schedule_poke(r->s);
	ret = err ? srv_reply_why(r, err, &why) : reply_cr(r, id, MHD_HTTP_OK);
	cJSON_Delete(doc);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_change_submit(srv_req *r)
{
	return move(r, STORE_CR_SUBMIT, NULL);
}

enum MHD_Result srv_h_change_approve(srv_req *r)
{
	return move(r, STORE_CR_APPROVE, "comment");
}

enum MHD_Result srv_h_change_reject(srv_req *r)
{
	return move(r, STORE_CR_REJECT, "reason");
}

enum MHD_Result srv_h_change_cancel(srv_req *r)
{
	return move(r, STORE_CR_CANCEL, "reason");
}

enum MHD_Result srv_h_change_comment(srv_req *r)
{
	return move(r, STORE_CR_COMMENT, "text");
}

/* Answers a completed publish: the request as it now stands. */
static enum MHD_Result reply_published(srv_req *r)
{
	const store_result *res = &r->wr->res;

	if (r->wr->err)
		return srv_reply_err(r, r->wr->err, "%s",
				     res->detail[0] ? res->detail : hc_err_code(r->wr->err));
	srv_rollout_poke(r->s); /* a gray item may have started a plan */
	return reply_cr(r, r->wr->cr->p.id, MHD_HTTP_OK);
}

/* {"at"}: schedules the request instead of publishing it now. */
static enum MHD_Result schedule(srv_req *r, int64_t id, const char *at, int64_t rev)
{
	char detail[STORE_DETAIL_MAX];
	int64_t at_ms = 0, now = clock_wall_ms();
	store_cr_move m;
	hc_err err;

	if (clock_parse_iso(at, &at_ms) || at_ms <= now || at_ms > now + SCHEDULE_MAX_MS)
		return srv_reply_err(r, HC_ERR_INVALID,
				     "at '%.40s' must be a time within a year from now, like "
				     "2026-12-24T03:00:00Z",
				     at);
	memset(&m, 0, sizeof(m));
	detail[0] = '\0';
	m.action = STORE_CR_SCHEDULE;
	m.expect_rev = rev;
	m.at_ms = at_ms;
	m.actor = srv_author(r);
	m.role = srv_audit_role(r, NS(r));
	m.source_ip = r->ip;
	m.now_ms = now;
	m.text = at;
	err = store_cr_move_to(r->s->st, NS(r), id, &m, NULL, detail, sizeof(detail));
	if (err)
		return srv_reply_err(r, err, "%s", detail[0] ? detail : hc_err_code(err));
	srv_schedule_poke(r->s);
	return reply_cr(r, id, MHD_HTTP_OK);
}

enum MHD_Result srv_h_change_publish(srv_req *r)
{
	static const char shape[] = "{\"at\", \"force\", \"rev\"}";
	sbuf why = SBUF_INIT(1024);
	srv_cr_pub *pp = NULL;
	enum MHD_Result ret = MHD_NO;
	const cJSON *force;
	const char *at;
	int bad = 0;
	int64_t id, rev;
	hc_err err;
	cJSON *doc;

	if (r->wr && r->wr->done)
		return reply_published(r);
	if (!(id = path_id(r, &ret)))
		return ret;
	if (!(doc = body_object(r, shape, &ret)))
		return ret;
	at = opt_str(doc, "at", &bad);
	force = cJSON_GetObjectItemCaseSensitive(doc, "force");
	rev = opt_rev(doc);
	if (bad || rev == -2 || (force && !cJSON_IsBool(force))) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be %s: at a time, force true or false, rev a whole "
				    "number",
				    shape);
		goto out;
	}
	if (at) {
		ret = schedule(r, id, at, rev);
		goto out;
	}
	if (cJSON_IsTrue(force) && !srv_allowed(r, "", SRV_ACT_ADMIN)) {
		ret = srv_reply_err(r, HC_ERR_FORBIDDEN,
				    "only an admin may force a publish past its review");
		goto out;
	}
	err = srv_cr_prepare(r->s, NS(r), id, &pp, &why);
	if (!err && rev >= 0 && rev != pp->cr.rev) {
		sbuf_addf(&why, "change request %" PRId64 " is at rev %" PRId64 ", not %" PRId64,
			  id, pp->cr.rev, rev);
		err = HC_ERR_PRECONDITION;
	}
	if (err) {
		srv_cr_pub_free(pp);
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	pp->p.force = cJSON_IsTrue(force);
	pp->p.actor = srv_author(r);
	pp->p.role = srv_audit_role(r, NS(r));
	pp->p.source_ip = r->ip;
	pp->p.now_ms = clock_wall_ms();
	r->wr = xcalloc(1, sizeof(*r->wr));
	r->wr->cr = pp;
	if (!srv_write_begin(r)) {
		ret = srv_reply_err(r, HC_ERR_UNAVAILABLE,
				    "the server is shutting down; nothing was written");
		goto out;
	}
	MHD_suspend_connection(r->conn);
	store_cr_publish_async(r->s->st, &pp->p, srv_on_write_done, r);
	ret = MHD_YES;
out:
	cJSON_Delete(doc);
	sbuf_release(&why);
	return ret;
}

/* {"review":{"required":N}}: an owner may raise the approvals a namespace
 * requires; lowering them (0 unprotects it) is an admin's call, so an owner
 * cannot lift the review their own changes need. */
static enum MHD_Result set_review(srv_req *r, const cJSON *review)
{
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(review, "required");
	int cur = 0, want;
	hc_err err;

	if (!cJSON_IsObject(review) || cJSON_GetArraySize(review) != 1 || !cJSON_IsNumber(req) ||
	    req->valuedouble < 0 || req->valuedouble > REVIEW_MAX ||
	    req->valuedouble != (double)(int)req->valuedouble)
		return srv_reply_err(r, HC_ERR_INVALID, "review must be {\"required\": 0..%d}",
				     REVIEW_MAX);
	want = (int)req->valuedouble;
	err = store_namespace_review(r->s->st, NS(r), &cur);
	if (err)
		return srv_reply_err(r, err, "namespace '%s' does not exist", NS(r));
	if (want < cur && !srv_allowed(r, "", SRV_ACT_ADMIN))
		return srv_reply_err(r, HC_ERR_FORBIDDEN,
				     "namespace '%s' requires %d approval%s; only an admin may "
				     "lower that",
				     NS(r), cur, cur == 1 ? "" : "s");
	err = store_namespace_set_review(r->s->st, NS(r), want, srv_author(r),
					 srv_audit_role(r, NS(r)), r->ip, clock_wall_ms());
	if (err)
		return srv_reply_err(r, err, "cannot change namespace '%s'", NS(r));
	return srv_namespace_reply(r, NS(r));
}

/* {"anonymousRead":{"cidrs":[...]}}: reads and watches from those networks
 * need no credential (for clients that cannot send one); [] closes it.
 * Admins only: it opens a namespace to callers nobody can name. */
static enum MHD_Result set_anonymous(srv_req *r, const cJSON *anon)
{
	const cJSON *cidrs = cJSON_GetObjectItemCaseSensitive(anon, "cidrs");
	sbuf list = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);
	enum MHD_Result ret;
	hc_err err;

	if (!srv_allowed(r, "", SRV_ACT_ADMIN)) {
		ret = srv_reply_err(r, HC_ERR_FORBIDDEN,
				    "only an admin may open namespace '%s' to anonymous reads",
				    NS(r));
		goto out;
	}
	if (!cJSON_IsObject(anon) || cJSON_GetArraySize(anon) != 1) {
		ret = srv_reply_err(r, HC_ERR_INVALID, "anonymousRead must be {\"cidrs\": [...]}");
		goto out;
	}
	if ((err = srv_anon_parse(cidrs, &list, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	err = store_namespace_set_anonymous(r->s->st, NS(r), list.buf, srv_author(r),
					    srv_audit_role(r, NS(r)), r->ip, clock_wall_ms());
	if (!err)
		err = srv_anon_load(r->s);
	if (err) {
		ret = srv_reply_err(r, err, "cannot change namespace '%s'", NS(r));
		goto out;
	}
	srv_wake_anonymous(r->s); /* a narrowed list ends the watches it no longer covers */
	ret = srv_namespace_reply(r, NS(r));
out:
	sbuf_release(&list);
	sbuf_release(&why);
	return ret;
}

/* PUT /api/v1/namespaces/{ns} with one setting: {"review":{...}} or
 * {"anonymousRead":{...}}. */
enum MHD_Result srv_h_namespace_put(srv_req *r)
{
	cJSON *doc = srv_json_body(r);
	const cJSON *review = cJSON_GetObjectItemCaseSensitive(doc, "review");
	const cJSON *anon = cJSON_GetObjectItemCaseSensitive(doc, "anonymousRead");
	enum MHD_Result ret = MHD_NO;

	if (!cJSON_IsObject(doc) || cJSON_GetArraySize(doc) != 1 || (!review && !anon)) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"review\": {\"required\": 0..%d}} or "
				    "{\"anonymousRead\": {\"cidrs\": [...]}}",
				    REVIEW_MAX);
		goto out;
	}
	if (!caller_ok(r, &ret))
		goto out;
	ret = review ? set_review(r, review) : set_anonymous(r, anon);
out:
	cJSON_Delete(doc);
	return ret;
}
