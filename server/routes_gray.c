/*
 * routes_gray.c: a config's gray release rules over HTTP: list, get, create
 * or replace, abort (delete) and promote. A rule's body is JSON
 * {"priority","content","format","message","match":{"ips","labels","percent"}},
 * parsed here into a store_gray_spec; the store decides everything else
 * inside its transaction (If-Match, the cap of 16 rules, the match compiled,
 * the content validated again if its format changed) and announces the
 * change on its feed, which is how watchers and the response cache hear of
 * it. Serving a rule's content to the instances it selects is done where
 * configs are read (routes_config.c, watchreq.c: srv_effective).
 *
 * Threading: handlers run on libmicrohttpd worker threads; a write's
 * connection is suspended until the store's writer thread (or the checker,
 * for large content) resumes it, as for a publish.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "srv_internal.h"
#include "validate.h"
#include "xmalloc.h"

#define RULE(r) srv_param(r, "rule")
#define PRIORITY_MAX 1000000
#define SALT_HEX 32

/* A rule write's parsed body: the spec the store gets points into it, so it
 * lives until the request ends (the store copies only the spec itself). */
struct srv_gray {
	cJSON *doc;
	const char **ips;
	char percent[16];
	store_rollout_plan plan; /* spec.rollout points here when the body has one */
	store_gray_spec spec;
};

void srv_gray_free(struct srv_gray *g)
{
	if (!g)
		return;
	cJSON_Delete(g->doc);
	free(g->ips);
	free(g);
}

store_gray_spec *srv_gray_spec(struct srv_gray *g)
{
	return &g->spec;
}

/* Checks the path's names (the rule's too) and the caller's headers. */
static hc_err check_request(srv_req *r, sbuf *why)
{
	hc_err err = srv_check_names(r, why);

	if (!err && RULE(r))
		err = val_name("rule", RULE(r), why);
	if (!err)
		err = srv_caller(r, why);
	return err;
}

/*
 * percent as the store wants it: "0" to "100" with at most two decimals. A
 * JSON number arrives as a double, so it has two decimals exactly when
 * printing it with two and reading that back gives the same double (12.5
 * and 0.01 do, 1.234 does not).
 */
static hc_err percent_text(const cJSON *p, const char *what, char out[16], sbuf *why)
{
	double v = p->valuedouble;
	char *end;
	size_t n;

	if (!cJSON_IsNumber(p) || !(v >= 0 && v <= 100)) {
		sbuf_addf(why, "%s must be a number from 0 to 100", what);
		return HC_ERR_INVALID;
	}
	if (v == 0)
		v = 0; /* -0 prints a sign */
	snprintf(out, 16, "%.2f", v);
	if (strtod(out, &end) != v) {
		sbuf_addf(why, "%s %.17g has more than two decimals", what, v);
		return HC_ERR_INVALID;
	}
	n = strlen(out);
	while (out[n - 1] == '0')
		out[--n] = '\0';
	if (out[n - 1] == '.')
		out[--n] = '\0';
	return HC_OK;
}

/* match -> g->spec.match; every field is checked for its JSON type here, and
 * its grammar by the store (gray_rule_compile names the field and position). */
static hc_err parse_match(struct srv_gray *g, const cJSON *m, int with_rollout, sbuf *why)
{
	store_gray_match *out = &g->spec.match;
	const cJSON *f;
	size_t i, n;

	if (!cJSON_IsObject(m)) {
		sbuf_addstr(why, "match must be an object with ips, labels and/or percent");
		return HC_ERR_INVALID;
	}
	if (!m->child && !with_rollout) {
		sbuf_addstr(why, "match is empty: give at least one of ips, labels, percent");
		return HC_ERR_INVALID;
	}
	cJSON_ArrayForEach(f, m)
	{
		if (!strcmp(f->string, "ips")) {
			if (!cJSON_IsArray(f)) {
				sbuf_addstr(why, "match.ips must be an array of strings");
				return HC_ERR_INVALID;
			}
			n = (size_t)cJSON_GetArraySize(f);
			if (n > GRAY_MAX_IPS) {
				sbuf_addf(why, "match.ips has %zu entries, more than %d", n,
					  GRAY_MAX_IPS);
				return HC_ERR_INVALID;
			}
			g->ips = xcalloc(n ? n : 1, sizeof(*g->ips));
			for (i = 0; i < n; i++) {
				const cJSON *ip = cJSON_GetArrayItem(f, (int)i);
				if (!cJSON_IsString(ip)) {
					sbuf_addf(why, "match.ips[%zu] must be a string", i);
					return HC_ERR_INVALID;
				}
				g->ips[i] = ip->valuestring;
			}
			out->ips = g->ips;
			out->nips = n;
			out->has_ips = 1;
		} else if (!strcmp(f->string, "labels")) {
			if (!cJSON_IsString(f)) {
				sbuf_addstr(why,
					    "match.labels must be a string (a label selector)");
				return HC_ERR_INVALID;
			}
			out->labels = f->valuestring;
		} else if (!strcmp(f->string, "percent")) {
			if (with_rollout) {
				sbuf_addstr(why, "match.percent: a rule with a rollout takes its "
						 "percent from rollout.steps");
				return HC_ERR_INVALID;
			}
			if (percent_text(f, "match.percent", g->percent, why))
				return HC_ERR_INVALID;
			out->percent = g->percent;
		} else {
			sbuf_addf(why, "match.%.64s is not a field: use ips, labels or percent",
				  f->string);
			return HC_ERR_INVALID;
		}
	}
	return HC_OK;
}

/* "2%" (hundredths of a percent) or "3" / 3 (a count) -> the plan. */
static hc_err parse_max_rejected(const cJSON *f, store_rollout_plan *p, sbuf *why)
{
	const char *t = cJSON_IsString(f) ? f->valuestring : NULL;
	char num[32], pc[16];
	cJSON *n;
	size_t len;
	hc_err err;
	int64_t v;

	if (cJSON_IsNumber(f) && f->valuedouble >= 0 && f->valuedouble <= 1e9 &&
	    f->valuedouble == (double)(int64_t)f->valuedouble) {
		p->max_rejected_is_pct = 0;
		p->max_rejected = (int64_t)f->valuedouble;
		return HC_OK;
	}
	len = t ? strlen(t) : 0;
	if (len && len < sizeof(num) && t[len - 1] == '%') {
		memcpy(num, t, len - 1);
		num[len - 1] = '\0';
		n = cJSON_Parse(num);
		err = n && cJSON_IsNumber(n) && strspn(num, "0123456789.") == len - 1
			  ? percent_text(n, "rollout.maxRejected", pc, why)
			  : HC_ERR_INVALID;
		if (!err) {
			p->max_rejected_is_pct = 1;
			p->max_rejected = (int64_t)(n->valuedouble * 100 + 0.5);
		}
		cJSON_Delete(n);
		if (!err)
			return HC_OK;
		if (why->len)
			return err;
	} else if (t && *t && strspn(t, "0123456789") == len && len < 10 && !val_int(t, &v)) {
		p->max_rejected_is_pct = 0;
		p->max_rejected = v;
		return HC_OK;
	}
	sbuf_addstr(why, "rollout.maxRejected must be a percent (\"2%\") or a count of "
			 "instances (3)");
	return HC_ERR_INVALID;
}

/* rollout {"steps","interval","maxRejected","minReports"} -> g->plan. */
static hc_err parse_rollout(srv *s, struct srv_gray *g, const cJSON *ro, sbuf *why)
{
	store_rollout_plan *p = &g->plan;
	const cJSON *f, *st;
	uint64_t ms = 300000;
	char pc[16], where[32];
	int i = 0;

	memset(p, 0, sizeof(*p));
	p->min_reports = 1;
	if (!cJSON_IsObject(ro)) {
		sbuf_addstr(why, "rollout must be an object {\"steps\", \"interval\", "
				 "\"maxRejected\", \"minReports\"}");
		return HC_ERR_INVALID;
	}
	cJSON_ArrayForEach(f, ro)
	{
		if (!strcmp(f->string, "steps")) {
			if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) < 1 ||
			    cJSON_GetArraySize(f) > STORE_ROLLOUT_MAX_STEPS) {
				sbuf_addf(why, "rollout.steps must be an array of 1 to %d percents",
					  STORE_ROLLOUT_MAX_STEPS);
				return HC_ERR_INVALID;
			}
			i = 0;
			cJSON_ArrayForEach(st, f)
			{
				snprintf(where, sizeof(where), "rollout.steps[%d]", i);
				if (percent_text(st, where, pc, why))
					return HC_ERR_INVALID;
				p->steps[i] = (int)(st->valuedouble * 100 + 0.5);
				if (i && p->steps[i] <= p->steps[i - 1]) {
					sbuf_addf(
					    why,
					    "rollout.steps must increase: %s is not above the "
					    "step before it",
					    where);
					return HC_ERR_INVALID;
				}
				i++;
			}
			p->nsteps = i;
		} else if (!strcmp(f->string, "interval")) {
			if (!cJSON_IsString(f) || val_duration(f->valuestring, &ms, why)) {
				sbuf_reset(why);
				sbuf_addstr(why,
					    "rollout.interval must be a duration like \"10m\", "
					    "\"30s\" or \"500ms\"");
				return HC_ERR_INVALID;
			}
		} else if (!strcmp(f->string, "maxRejected")) {
			if (parse_max_rejected(f, p, why))
				return HC_ERR_INVALID;
		} else if (!strcmp(f->string, "minReports")) {
			if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > 1e9 ||
			    f->valuedouble != (double)(int64_t)f->valuedouble) {
				sbuf_addstr(why, "rollout.minReports must be a whole number >= 0");
				return HC_ERR_INVALID;
			}
			p->min_reports = (int64_t)f->valuedouble;
		} else {
			sbuf_addf(why,
				  "rollout.%.64s is not a field: use steps, interval, maxRejected "
				  "or minReports",
				  f->string);
			return HC_ERR_INVALID;
		}
	}
	if (!p->nsteps) {
		sbuf_addstr(why, "rollout.steps is required: the percents to go through");
		return HC_ERR_INVALID;
	}
	if (ms < s->cfg.rollout_min_interval_ms) {
		sbuf_addf(why, "rollout.interval must be at least %" PRIu64 " ms",
			  s->cfg.rollout_min_interval_ms);
		return HC_ERR_INVALID;
	}
	p->interval_ms = (int64_t)ms;
	g->spec.rollout = p;
	return HC_OK;
}

/* A salt as the store makes them: 32 lowercase hex digits. */
static int salt_ok(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == SALT_HEX && !s[n];
}

hc_err srv_gray_parse(srv *s, const char *name, cJSON *doc, const char *const *skip,
		      int need_content, struct srv_gray **out, sbuf *why)
{
	struct srv_gray *g = xcalloc(1, sizeof(*g));
	const cJSON *f, *ro;
	int has_content = 0, has_match = 0;
	size_t k;

	*out = g;
	g->spec.name = name;
	g->doc = doc;
	if (!cJSON_IsObject(doc)) {
		sbuf_addstr(why,
			    "body must be a JSON object {\"priority\", \"content\", \"format\", "
			    "\"message\", \"match\"}");
		return HC_ERR_INVALID;
	}
	ro = cJSON_GetObjectItemCaseSensitive(doc, "rollout");
	if (ro && !cJSON_IsNull(ro) && parse_rollout(s, g, ro, why))
		return HC_ERR_INVALID;
	cJSON_ArrayForEach(f, doc)
	{
		for (k = 0; skip && skip[k] && strcmp(f->string, skip[k]); k++)
			;
		if (skip && skip[k]) {
			continue; /* the caller's own field */
		} else if (!strcmp(f->string, "rollout")) {
			continue; /* parsed above: match depends on it */
		} else if (!strcmp(f->string, "priority")) {
			if (!cJSON_IsNumber(f) || f->valuedouble < -PRIORITY_MAX ||
			    f->valuedouble > PRIORITY_MAX ||
			    f->valuedouble != (double)(int)f->valuedouble) {
				sbuf_addf(why, "priority must be an integer from %d to %d",
					  -PRIORITY_MAX, PRIORITY_MAX);
				return HC_ERR_INVALID;
			}
			g->spec.priority = (int)f->valuedouble;
		} else if (!strcmp(f->string, "content")) {
			if (!cJSON_IsString(f)) {
				sbuf_addstr(why, "content must be a string");
				return HC_ERR_INVALID;
			}
			has_content = 1;
		} else if (!strcmp(f->string, "format")) {
			if (!cJSON_IsString(f) || !fmt_ok(f->valuestring)) {
				sbuf_addf(why, "format is invalid: use %s", fmt_list());
				return HC_ERR_INVALID;
			}
		} else if (!strcmp(f->string, "message")) {
			if (!cJSON_IsString(f)) {
				sbuf_addstr(why, "message must be a string");
				return HC_ERR_INVALID;
			}
		} else if (!strcmp(f->string, "match")) {
			if (parse_match(g, f, g->spec.rollout != NULL, why))
				return HC_ERR_INVALID;
			has_match = 1;
		} else if (!strcmp(f->string, "salt")) {
			if (!cJSON_IsString(f) || !salt_ok(f->valuestring)) {
				sbuf_addf(why,
					  "salt must be %d lowercase hex digits (as a preview "
					  "answers it)",
					  SALT_HEX);
				return HC_ERR_INVALID;
			}
			g->spec.salt = f->valuestring;
		} else {
			sbuf_addf(why,
				  "%.64s is not a field of a gray rule: use priority, content, "
				  "format, message, match, rollout or salt",
				  f->string);
			return HC_ERR_INVALID;
		}
	}
	if (g->spec.rollout)
		has_match = 1; /* the rollout's percent is its match */
	if ((need_content && !has_content) || !has_match) {
		sbuf_addf(why, "%s is required", has_match ? "content" : "match");
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

/* The rule body of r -> a new srv_gray in *out (the caller frees it, also on
 * failure). A preview needs no content. */
static hc_err parse_rule(srv_req *r, int need_content, struct srv_gray **out, sbuf *why)
{
	return srv_gray_parse(r->s, RULE(r), srv_json_body(r), NULL, need_content, out, why);
}

/* The format the content will be stored as: the body's, else the rule's
 * when it is replaced, else the config's ("text" when there is none; the
 * store then answers 404). The store checks again inside its transaction
 * when a concurrent write makes this guess wrong. */
static void guess_format(srv_req *r, const char *format, char out[STORE_FORMAT_MAX])
{
	store_gray_rule *old = NULL;
	store_config *c = NULL;

	if (format)
		snprintf(out, STORE_FORMAT_MAX, "%s", format);
	else if (!store_gray_get(r->s->st, &r->key, RULE(r), &old))
		snprintf(out, STORE_FORMAT_MAX, "%s", old->format);
	else if (!store_get_key(r->s->st, &r->key, &c))
		snprintf(out, STORE_FORMAT_MAX, "%s", c->format);
	else
		snprintf(out, STORE_FORMAT_MAX, "text");
	store_gray_rule_unref(old);
	store_config_unref(c);
}

/* Validates content as checked_format; "content: ..." in why on failure. */
static hc_err check_content(const store_write *w, sbuf *why)
{
	sbuf v = SBUF_INIT(STORE_DETAIL_MAX - 16);
	hc_err err = val_content(w->checked_format, w->content, w->len, &v);

	if (err)
		sbuf_addf(why, "content: %s", v.len ? v.buf : hc_err_code(err));
	sbuf_release(&v);
	return err;
}

/* The checker thread's part for large content: validate, then write. */
static void check_then_put(srv_req *r)
{
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX - 1);
	hc_err err = check_content(&r->wr->w, &why);
	store_result res;

	if (!err) {
		store_gray_put_async(r->s->st, &r->wr->w, &r->wr->gray->spec, srv_on_write_done, r);
	} else {
		memset(&res, 0, sizeof(res));
		memcpy(res.detail, why.buf, why.len + 1);
		srv_on_write_done(r, err, &res);
	}
	sbuf_release(&why);
}

typedef enum gray_write {
	GRAY_PUT,
	GRAY_PUT_CHECKED,
	GRAY_DELETE,
	GRAY_PROMOTE,
	GRAY_ROLLOUT
} gray_write;

/* Suspends the connection and hands the write to the store (or the
 * checker); srv_on_write_done resumes it, and the handler then answers from
 * r->wr (reply_done). */
static enum MHD_Result queue_gray(srv_req *r, gray_write kind)
{
	srv *s = r->s;

	if (!srv_write_begin(r))
		return srv_reply_err(r, HC_ERR_UNAVAILABLE,
				     "the server is shutting down; nothing was written");
	MHD_suspend_connection(r->conn);
	switch (kind) {
	case GRAY_PUT:
		srv_offload(r, check_then_put);
		break;
	case GRAY_PUT_CHECKED:
		store_gray_put_async(s->st, &r->wr->w, &r->wr->gray->spec, srv_on_write_done, r);
		break;
	case GRAY_DELETE:
		store_gray_delete_async(s->st, &r->wr->w, RULE(r), srv_on_write_done, r);
		break;
	case GRAY_PROMOTE:
		store_gray_promote_async(s->st, &r->wr->w, RULE(r), srv_on_write_done, r);
		break;
	case GRAY_ROLLOUT:
		store_gray_rollout_async(s->st, &r->wr->w, RULE(r), &r->wr->move, srv_on_write_done,
					 r);
		break;
	}
	return MHD_YES;
}

/* Answers a completed rule write: {"rule","version","md5","revision",
 * "changed"} (md5 and ETag the rule's for a put, the main version's after
 * an abort or a promote); 201 when a put created the rule. */
static enum MHD_Result reply_done(srv_req *r)
{
	const store_result *res = &r->wr->res;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	struct MHD_Response *resp;
	char etag[40];
	size_t len;
	char *data;

	if (r->wr->err)
		return srv_reply_err(r, r->wr->err, "%s",
				     res->detail[0] ? res->detail : hc_err_code(r->wr->err));
	srv_rollout_poke(r->s); /* a plan may have started, moved or stopped */
	sbuf_addstr(&body, "{\"rule\":");
	sbuf_add_json_str(&body, RULE(r), strlen(RULE(r)));
	sbuf_addf(&body,
		  ",\"version\":%" PRId64 ",\"md5\":\"%s\",\"revision\":%" PRId64
		  ",\"changed\":%s}\n",
		  res->version, res->md5, res->revision, res->changed ? "true" : "false");
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	snprintf(etag, sizeof(etag), "\"%s\"", res->md5);
	MHD_add_response_header(resp, "ETag", etag);
	return srv_queue(r, r->wr->gray && res->created ? MHD_HTTP_CREATED : MHD_HTTP_OK, resp);
}

enum MHD_Result srv_h_gray_put(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);
	const char *inm = srv_header(r, "If-None-Match");
	struct srv_gray *g = NULL;
	const cJSON *content, *format, *message;
	enum MHD_Result ret;
	store_write *w;
	int offload;
	hc_err err;

	if (r->wr && r->wr->done)
		return reply_done(r);
	if ((err = check_request(r, &why)) || (err = parse_rule(r, 1, &g, &why))) {
		srv_gray_free(g);
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	content = cJSON_GetObjectItemCaseSensitive(g->doc, "content");
	format = cJSON_GetObjectItemCaseSensitive(g->doc, "format");
	message = cJSON_GetObjectItemCaseSensitive(g->doc, "message");
	srv_write_init(r);
	r->wr->gray = g;
	w = &r->wr->w;
	w->content = content->valuestring;
	w->len = strlen(content->valuestring);
	w->format = format ? format->valuestring : NULL;
	w->message = message ? message->valuestring : NULL;
	w->create_only = inm && val_etag_match(inm, "", 1);
	guess_format(r, w->format, r->wr->checked_format);
	w->checked_format = r->wr->checked_format;
	w->check = srv_check_in_tx;
	/* The body is parsed; the write keeps only g. */
	srv_body_release(r);
	offload = w->len > SRV_INLINE_CHECK;
	if (!offload && (err = check_content(w, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	ret = queue_gray(r, offload ? GRAY_PUT : GRAY_PUT_CHECKED);
out:
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_gray_delete(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret;
	hc_err err;

	if (r->wr && r->wr->done)
		return reply_done(r);
	if ((err = check_request(r, &why))) {
		ret = srv_reply_why(r, err, &why);
	} else {
		srv_write_init(r);
		r->wr->w.message = srv_arg(r, "message");
		ret = queue_gray(r, GRAY_DELETE);
	}
	sbuf_release(&why);
	return ret;
}

/* The optional body {"message"} of a promote or a rollout move (?message=
 * does as well) into r->wr; it must outlive the body, as the write completes
 * later. On a bad body queues the 400 into *ret and returns -1. */
static int take_message(srv_req *r, enum MHD_Result *ret)
{
	cJSON *doc = NULL, *msg = NULL;

	if (r->body.len) {
		doc = srv_json_body(r);
		msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
		if (!cJSON_IsObject(doc) || (msg && !cJSON_IsString(msg))) {
			cJSON_Delete(doc);
			*ret = srv_reply_err(r, HC_ERR_INVALID,
					     "body must be empty or {\"message\": <string>}");
			return -1;
		}
	}
	if (msg)
		r->wr->message = xstrdup(msg->valuestring);
	else if (srv_arg(r, "message"))
		r->wr->message = xstrdup(srv_arg(r, "message"));
	r->wr->w.message = r->wr->message;
	cJSON_Delete(doc);
	return 0;
}

enum MHD_Result srv_h_gray_promote(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret;
	hc_err err;

	if (r->wr && r->wr->done)
		return reply_done(r);
	if ((err = check_request(r, &why))) {
		ret = srv_reply_why(r, err, &why);
	} else {
		srv_write_init(r);
		if (!take_message(r, &ret))
			ret = queue_gray(r, GRAY_PROMOTE);
	}
	sbuf_release(&why);
	return ret;
}

/* One rule as JSON; with_content adds its content. c is the config's
 * snapshot, for a rollout's live counts. */
static void json_rule(srv_req *r, const store_config *c, sbuf *out, const store_gray_rule *g,
		      int with_content)
{
	sbuf_addstr(out, "{\"name\":");
	sbuf_add_json_str(out, g->name, strlen(g->name));
	sbuf_addf(out,
		  ",\"priority\":%d,\"md5\":\"%s\",\"format\":\"%s\",\"revision\":%" PRId64
		  ",\"match\":%s,\"author\":",
		  g->priority, g->md5, g->format, g->revision, g->match);
	sbuf_add_json_str(out, g->author, strlen(g->author));
	sbuf_addstr(out, ",\"message\":");
	sbuf_add_json_str(out, g->message, strlen(g->message));
	sbuf_addch(out, ',');
	srv_json_time(out, "createdAt", g->created_ms);
	sbuf_addch(out, ',');
	srv_json_time(out, "updatedAt", g->updated_ms);
	sbuf_addstr(out, ",\"rollout\":");
	if (c)
		srv_rollout_json(r->s, r->key.s, c, g, out);
	else
		sbuf_addstr(out, "null");
	if (with_content) {
		sbuf_addstr(out, ",\"content\":");
		sbuf_add_json_str(out, g->content, g->len);
	}
	sbuf_addch(out, '}');
}

enum MHD_Result srv_h_gray_list(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_gray_set *set = NULL;
	store_config *c = NULL;
	enum MHD_Result ret;
	size_t i;
	hc_err err;

	if ((err = check_request(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if ((err = store_gray_list(r->s->st, &r->key, &set))) {
		ret = srv_reply_err(r, err, "config %s not found", r->key.s);
		goto out;
	}
	store_get_key(r->s->st, &r->key, &c);
	sbuf_addstr(&body, "{\"rules\":[");
	for (i = 0; set && i < set->n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_rule(r, c, &body, set->rules[i], 0);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_config_unref(c);
	store_gray_set_unref(set);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_gray_get(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_gray_rule *g = NULL;
	store_config *c = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char etag[40];
	size_t len;
	char *data;
	hc_err err;

	if ((err = check_request(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if ((err = store_gray_get(r->s->st, &r->key, RULE(r), &g))) {
		ret = srv_reply_err(r, err, "%s has no gray rule '%s'", r->key.s, RULE(r));
		goto out;
	}
	store_get_key(r->s->st, &r->key, &c);
	json_rule(r, c, &body, g, 1);
	sbuf_addch(&body, '\n');
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (resp) {
		MHD_add_response_header(resp, "Content-Type", "application/json");
		snprintf(etag, sizeof(etag), "\"%s\"", g->md5);
		MHD_add_response_header(resp, "ETag", etag);
	}
	ret = srv_queue(r, MHD_HTTP_OK, resp);
out:
	store_config_unref(c);
	store_gray_rule_unref(g);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

/* ---- a rollout's operator moves: pause, resume, advance ---- */

/* Queues action on the rule's rollout; /advance decides its move from the
 * rollout as it stands (a step, or a promote after the last). */
static enum MHD_Result rollout_move(srv_req *r, store_rollout_action action)
{
	sbuf why = SBUF_INIT(1024), summary = SBUF_INIT(1024);
	store_config *c = NULL;
	const store_gray_rule *g;
	enum MHD_Result ret;
	char message[256];
	hc_err err;

	if (r->wr && r->wr->done)
		return reply_done(r);
	if ((err = check_request(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	srv_write_init(r);
	if (take_message(r, &ret))
		goto out;
	r->wr->move.action = action;
	r->wr->move.expect_step = -1;
	if (action == STORE_ROLLOUT_STEP) {
		srv_rollout_tally t;
		if (store_get_key(r->s->st, &r->key, &c) ||
		    !(g = store_gray_find(c->gray, RULE(r)))) {
			ret = srv_reply_err(r, HC_ERR_NOT_FOUND, "%s has no gray rule '%s'",
					    r->key.s, RULE(r));
			goto out;
		}
		if (!g->rollout || g->rollout->state == STORE_ROLLOUT_ABORTED) {
			ret = srv_reply_err(r, HC_ERR_CONFLICT,
					    g->rollout
						? "rule '%s' has an aborted rollout: resume it "
						  "first"
						: "rule '%s' has no rollout plan",
					    RULE(r));
			goto out;
		}
		srv_rollout_count(r->s, r->key.s, c, g, &t);
		srv_rollout_next(g, &t, &r->wr->move, &summary, message, sizeof(message));
		if (summary.len)
			r->wr->summary = sbuf_detach(&summary, NULL);
		r->wr->move.summary = r->wr->summary;
		if (!r->wr->message) {
			r->wr->message = xstrdup(message);
			r->wr->w.message = r->wr->message;
		}
	}
	ret = queue_gray(r, GRAY_ROLLOUT);
out:
	store_config_unref(c);
	sbuf_release(&summary);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_gray_pause(srv_req *r)
{
	return rollout_move(r, STORE_ROLLOUT_PAUSE);
}

enum MHD_Result srv_h_gray_resume(srv_req *r)
{
	return rollout_move(r, STORE_ROLLOUT_RESUME);
}

enum MHD_Result srv_h_gray_advance(srv_req *r)
{
	return rollout_move(r, STORE_ROLLOUT_STEP);
}

/* ---- preview: which current listeners a rule takes ---- */

/* The rules of c with cand in the place of rule name (or after the others,
 * the newest, when c has no such rule), for gray_pick; *at gets cand's
 * index. The arrays are the caller's to free. */
static size_t preview_set(const store_config *c, const char *name, const gray_rule *cand,
			  int priority, const gray_rule ***rules, int **prio, size_t *at)
{
	const store_gray_set *set = c->gray;
	size_t i, n = set ? set->n : 0;

	*rules = xcalloc(n + 1, sizeof(**rules));
	*prio = xcalloc(n + 1, sizeof(**prio));
	*at = n;
	for (i = 0; i < n; i++) {
		(*rules)[i] = set->compiled[i];
		(*prio)[i] = set->priority[i];
		if (!strcmp(set->rules[i]->name, name))
			*at = i;
	}
	(*rules)[*at] = cand;
	(*prio)[*at] = priority;
	return *at == n ? n + 1 : n;
}

/* A fresh salt, as the store would make one, so that a rule saved with it
 * selects exactly the instances its preview showed. */
static void fresh_salt(char out[SALT_HEX + 1])
{
	unsigned char b[SALT_HEX / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, SALT_HEX + 1, b, sizeof(b));
}

enum MHD_Result srv_h_gray_preview(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	struct srv_gray *g = NULL;
	store_config *c = NULL;
	const store_gray_rule *old;
	gray_rule *compiled = NULL;
	const gray_rule *cand, **rules = NULL;
	srv_listener *ls = NULL;
	size_t n = 0, nrules, at, i, matched = 0, served = 0, shown = 0;
	int64_t page, size;
	int *prio = NULL, priority;
	char salt[SALT_HEX + 1];
	enum MHD_Result ret;
	hc_err err;

	if ((err = check_request(r, &why)) || (err = srv_paging(r, &page, &size, &why)) ||
	    (r->method_bit == SRV_POST && (err = parse_rule(r, 0, &g, &why)))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if ((err = store_get_key(r->s->st, &r->key, &c))) {
		ret = srv_reply_err(r, err, "config %s not found", r->key.s);
		goto out;
	}
	old = store_gray_find(c->gray, RULE(r));
	if (!g && !old) {
		ret = srv_reply_err(r, HC_ERR_NOT_FOUND,
				    "%s has no gray rule '%s': POST its match here to preview it "
				    "before it is saved",
				    r->key.s, RULE(r));
		goto out;
	}
	if (g) {
		const store_gray_match *m = &g->spec.match;
		if (old && g->spec.salt && strcmp(g->spec.salt, old->salt)) {
			ret = srv_reply_err(
			    r, HC_ERR_INVALID,
			    "salt: gray rule '%s' keeps the salt it was created with; "
			    "leave salt out",
			    RULE(r));
			goto out;
		}
		if (old)
			snprintf(salt, sizeof(salt), "%s", old->salt);
		else if (g->spec.salt)
			snprintf(salt, sizeof(salt), "%s", g->spec.salt);
		else
			fresh_salt(salt);
		if ((err = gray_rule_compile(m->ips, m->nips, m->has_ips, m->labels, m->percent,
					     salt, &compiled, &why))) {
			ret = srv_reply_why(r, err, &why);
			goto out;
		}
		cand = compiled;
		priority = g->spec.priority;
	} else {
		snprintf(salt, sizeof(salt), "%s", old->salt);
		cand = old->compiled;
		priority = old->priority;
	}
	nrules = preview_set(c, RULE(r), cand, priority, &rules, &prio, &at);
	n = srv_listen_collect(r->s, r->key.s, NULL, &ls);
	sbuf_addstr(&body, "{\"rule\":");
	sbuf_add_json_str(&body, RULE(r), strlen(RULE(r)));
	sbuf_addf(&body, ",\"saved\":%s,\"salt\":\"%s\",\"instances\":[", old ? "true" : "false",
		  salt);
	for (i = 0; i < n; i++) {
		gray_inst *inst = srv_listener_inst(&ls[i]);
		int hit = inst && cand && gray_rule_matches(cand, inst);
		int serves = hit && gray_pick(rules, prio, nrules, inst) == (int)at;
		gray_inst_free(inst);
		if (!hit)
			continue;
		served += (size_t)serves;
		if (matched++ < (size_t)((page - 1) * size) || shown == (size_t)size)
			continue;
		sbuf_addstr(&body, shown++ ? ",{" : "{");
		srv_listen_json(&body, &ls[i]);
		sbuf_addf(&body, ",\"served\":%s}", serves ? "true" : "false");
	}
	sbuf_addf(&body,
		  "],\"listeners\":%zu,\"matched\":%zu,\"served\":%zu,\"page\":%" PRId64
		  ",\"size\":%" PRId64 "}\n",
		  n, matched, served, page, size);
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	srv_listen_free(ls, n);
	free(rules);
	free(prio);
	gray_rule_free(compiled);
	srv_gray_free(g);
	store_config_unref(c);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}
