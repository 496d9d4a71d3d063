/*
 * routes_config.c: one config: read (and watch), publish, delete, its history
 * and rollback; and the paged list of configs. Handlers run on libmicrohttpd
 * worker threads; reads come from the store's in-memory index, writes commit
 * on the store's writer thread before they answer. A handler only answers its
 * own request: the watchers of a changed config hear of it from the store's
 * change feed (srv_on_change), whatever made the change.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "format.h"
#include "clock.h"
#include "convert.h"
#include "http_status.h"
#include "md5.h"
#include "respcache.h"
#include "srv_internal.h"
#include "utf8.h"
#include "xmalloc.h"

#define NS(r) srv_param(r, "ns")
#define GROUP(r) srv_param(r, "group")
#define DATA_ID(r) srv_param(r, "dataId")

hc_err srv_check_names(srv_req *r, sbuf *why)
{
	hc_err err = val_name("namespace", NS(r), why);

	if (!err)
		err = val_name("group", GROUP(r), why);
	if (!err)
		err = val_name("dataId", DATA_ID(r), why);
	if (!err && !r->key.s)
		err = cfgkey_init(&r->key, NS(r), GROUP(r), DATA_ID(r));
	return err;
}

/* Checks the names and the caller's headers of a write; on a problem queues
 * the 400 into *ret and returns 1. */
static int refused(srv_req *r, enum MHD_Result *ret)
{
	sbuf why = SBUF_INIT(1024);
	hc_err err = srv_check_names(r, &why);

	if (!err)
		err = srv_caller(r, &why);
	if (err)
		*ret = srv_reply_why(r, err, &why);
	sbuf_release(&why);
	return err != HC_OK;
}

/* A config's effective content for one reader converted to r->as (?as=):
 * the converted bytes, their md5, and e describing them as an effective
 * content of the snapshot it was made from (rule and times from there). */
typedef struct conv_view {
	const store_config *from; /* the snapshot converted (not a reference) */
	sbuf out;
	char md5[33];
	char src_md5[33];
	store_effective e;
} conv_view;

/* What a conversion may grow to: four times the largest content, since a
 * properties file becomes indented JSON or YAML. */
static size_t conv_cap(const srv *s)
{
	return s->cfg.max_content < (SIZE_MAX / 4) ? 4 * s->cfg.max_content : SIZE_MAX / 2;
}

static hc_err convert_view(srv_req *r, const store_config *c, conv_view *v, sbuf *why)
{
	store_effective src;
	hc_err err;

	srv_effective(r, c, &src);
	sbuf_reset(&v->out);
	v->from = NULL;
	err = conv_convert(src.format, src.content, src.len, r->as, &v->out, why);
	if (err == HC_ERR_TOO_BIG) {
		sbuf_reset(why);
		sbuf_addf(why, "config %s as %s would be over %zu bytes", r->key.s, r->as,
			  v->out.max);
		err = HC_ERR_UNPROCESSABLE;
	}
	if (err)
		return err;
	md5_hex(v->out.buf, v->out.len, v->md5);
	snprintf(v->src_md5, sizeof(v->src_md5), "%s", src.md5);
	v->e = src;
	v->e.content = v->out.buf;
	v->e.len = v->out.len;
	v->e.md5 = v->md5;
	v->e.format = r->as;
	v->from = c;
	return HC_OK;
}

/* 200 with the content, or 304 with only the headers. The 200 is the
 * response shared by every reader of this version served the same content
 * (respcache: main, or one gray rule's); a converted one (v not NULL) is
 * this reader's own, with the source's md5 in X-Hotconf-Source-MD5 for a
 * many-config watch. Takes over c. */
static enum MHD_Result reply_config(srv_req *r, store_config *c, conv_view *v, int not_modified)
{
	struct MHD_Response *resp;
	store_effective e;
	enum MHD_Result ret;

	if (v)
		e = v->e;
	else
		srv_effective(r, c, &e);
	if (not_modified || v) {
		if (not_modified) {
			resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		} else {
			size_t n;
			char *body = sbuf_detach(&v->out, &n);

			resp = MHD_create_response_from_buffer_with_free_callback(n, body, free);
			if (!resp)
				free(body);
		}
		if (resp) {
			respcache_config_headers(resp, c, &e);
			if (v) {
				MHD_add_response_header(resp, "X-Hotconf-Source-MD5", v->src_md5);
				MHD_add_response_header(resp, "Content-Type", fmt_mime(r->as));
			}
		}
		store_config_unref(c);
		return srv_queue(r, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
	}
	r->status = MHD_HTTP_OK;
	ret = respcache_queue(r->s->cache, &r->key, c, &e, r->conn);
	store_config_unref(c);
	return ret;
}

/* The formats ?as= converts to. */
static const char *const conv_targets[] = {"json", "yaml", "properties"};

/* Parses what a single-config GET needs once: names, caller, wait, version,
 * as. */
static hc_err prepare_get(srv_req *r, sbuf *why)
{
	const char *wait = srv_arg(r, "wait"), *version = srv_arg(r, "version");
	const char *as = srv_arg(r, "as");
	uint64_t wait_ms = 0;
	hc_err err = srv_check_names(r, why);
	size_t i;

	if (!err)
		err = srv_caller(r, why);
	if (err)
		return err;
	r->want_version = -1;
	if (version && val_int(version, &r->want_version)) {
		sbuf_addf(why, "version '%.40s' is invalid: use a non-negative integer", version);
		return HC_ERR_INVALID;
	}
	if (wait && (err = val_duration(wait, &wait_ms, why)))
		return err;
	for (i = 0; as && i < sizeof(conv_targets) / sizeof(*conv_targets); i++)
		if (!strcmp(as, conv_targets[i]))
			r->as = conv_targets[i];
	if (as && !r->as) {
		sbuf_addf(why, "as '%.40s' is invalid: use json, yaml or properties", as);
		return HC_ERR_INVALID;
	}
	if (wait_ms > r->s->cfg.max_wait_ms)
		wait_ms = r->s->cfg.max_wait_ms;
	r->wait_ms = wait_ms;
	r->items = xcalloc(1, sizeof(*r->items));
	r->nitems = 1;
	cfgkey_copy(&r->items[0].key, &r->key);
	r->deadline_ms = wait_ms ? val_deadline(clock_mono_ms(), wait_ms) : 0;
	r->watch_ready = 1;
	return HC_OK;
}

/* Does the client already hold what c serves it? By ETag (of its effective
 * content, or of its conversion v) first, else by ?version= (the main
 * version). */
static int client_current(srv_req *r, const store_config *c, const conv_view *v)
{
	const char *inm = srv_header(r, "If-None-Match");
	store_effective e;

	if (inm && v)
		return val_etag_match(inm, v->md5, 1);
	if (inm) {
		srv_effective(r, c, &e);
		return val_etag_match(inm, e.md5, 1);
	}
	return r->want_version >= 0 && r->want_version == c->version;
}

/* Tries at most this many times to find a config unchanged between its
 * conversion and the check under s->mu before answering without holding. */
#define CONV_TRIES 4

enum MHD_Result srv_h_config_get(srv_req *r)
{
	srv *s = r->s;
	sbuf why = SBUF_INIT(1024);
	conv_view view = {.out = SBUF_INIT(0)}, *v = NULL;
	store_config *c = NULL;
	enum MHD_Result ret;
	int current, held = 0, watching, tries = 0;
	hc_err err;

	if (!r->watch_ready && (err = prepare_get(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	watching = r->deadline_ms != 0;
	if (r->as) {
		view.out.max = conv_cap(s);
		v = &view;
	}
again:
	err = store_get_key(s->st, &r->key, &c);
	if (c && v && (err = convert_view(r, c, v, &why))) {
		store_config_unref(c);
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	current = c ? client_current(r, c, v) : r->want_version == 0;
	if (current && watching) {
		/* Check again and hold under s->mu, the lock the watch thread takes
		 * to wake watchers: a change lands either before this check or after
		 * the hold. The check above, without the lock, answers a stale copy
		 * (every woken watcher) without waiting for a wake-up in progress.
		 * A conversion is not made under the lock: a config that changed
		 * since its conversion is converted again. */
		store_config *was = c;

		pthread_mutex_lock(&s->mu);
		r->seen_rev = store_revision(s->st); /* before the check; see srv_watch_hold */
		err = store_get_key(s->st, &r->key, &c);
		if (v && c != was) {
			pthread_mutex_unlock(&s->mu);
			store_config_unref(was);
			store_config_unref(c);
			c = NULL;
			if (++tries >= CONV_TRIES)
				watching = 0;
			goto again;
		}
		store_config_unref(was);
		current = c ? client_current(r, c, v) : r->want_version == 0;
		if (current && srv_watch_may_hold(r, clock_mono_ms()))
			held = srv_watch_hold(r);
		pthread_mutex_unlock(&s->mu);
	}
	if (held >= 0) /* what it holds now (and whether it waits), for the listeners view */
		srv_listen_seen(r, &r->key, c, NULL, held > 0);
	if (held > 0) {
		store_config_unref(c);
		ret = MHD_YES;
	} else if (held < 0) {
		store_config_unref(c);
		ret = srv_watch_refuse(r);
	} else if (c) {
		ret = reply_config(r, c, v, current);
	} else if (current && watching) {
		/* It was absent, the client knew, and the wait ended. */
		ret = srv_queue(r, MHD_HTTP_NOT_MODIFIED, srv_response(0, NULL, NULL, NULL));
	} else {
		ret = srv_reply_err(r, err, "config %s not found", r->key.s);
	}
out:
	sbuf_release(&view.out);
	sbuf_release(&why);
	return ret;
}

static enum MHD_Result reply_write(srv_req *r, unsigned status, const store_result *res,
				   int with_md5)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	struct MHD_Response *resp;
	char etag[40];
	size_t len;
	char *data;

	sbuf_addf(&body, "{\"version\":%" PRId64, res->version);
	if (with_md5)
		sbuf_addf(&body, ",\"md5\":\"%s\"", res->md5);
	sbuf_addf(&body, ",\"revision\":%" PRId64 ",\"changed\":%s}\n", res->revision,
		  res->changed ? "true" : "false");
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (with_md5) {
		snprintf(etag, sizeof(etag), "\"%s\"", res->md5);
		MHD_add_response_header(resp, "ETag", etag);
	}
	return srv_queue(r, status, resp);
}

void srv_write_init(srv_req *r)
{
	const char *im = srv_header(r, "If-Match");
	store_write *w;

	r->wr = xcalloc(1, sizeof(*r->wr));
	w = &r->wr->w;
	w->ns = NS(r);
	w->group = GROUP(r);
	w->data_id = DATA_ID(r);
	w->author = srv_author(r);
	w->audit_role = srv_audit_role(r, NS(r));
	w->source_ip = r->ip;
	w->now_ms = clock_wall_ms();
	if (im) {
		/* An If-Match that names no tag can match nothing: "" is never an md5. */
		val_etag_first(im, r->wr->if_match);
		w->if_match = r->wr->if_match;
	}
}

/* Runs on the store's writer thread once the write is durable (or failed),
 * after the feed has announced it: keeps the outcome, resumes the
 * connection. */
void srv_on_write_done(void *cls, hc_err err, const store_result *res)
{
	srv_req *r = cls;
	srv *s = r->s;

	r->wr->err = err;
	r->wr->res = *res;
	r->wr->done = 1;
	/* r may be answered and freed once resumed, so nothing below touches it. */
	MHD_resume_connection(r->conn);
	/* Last: srv_stop waits for this count before it stops the daemon and
	 * the watch thread. */
	atomic_fetch_sub(&s->writes, 1);
}

/* The store's second look at content, inside the write's transaction, when a
 * concurrent write changed the format it is to be committed as. */
hc_err srv_check_in_tx(const char *format, const char *content, size_t len, char *detail,
		       size_t cap)
{
	sbuf why = SBUF_INIT(cap > 0 ? cap - 1 : 0);
	hc_err err = val_content(format, content, len, &why);

	if (err && cap)
		snprintf(detail, cap, "%s", why.len ? why.buf : hc_err_code(err));
	sbuf_release(&why);
	return err;
}

/*
 * Hands r->wr->w to the store and suspends the connection until the write is
 * durable: the worker thread goes on serving other connections meanwhile, and
 * concurrent writes share one commit. Suspend comes first, so the resume in
 * on_write_done always finds the connection suspended.
 */
static enum MHD_Result queue_write(srv_req *r, srv_write_kind kind, int64_t version)
{
	r->wr->kind = kind;
	if (!srv_write_begin(r))
		return srv_reply_err(r, HC_ERR_UNAVAILABLE,
				     "the server is shutting down; nothing was written");
	MHD_suspend_connection(r->conn);
	switch (kind) {
	case WRITE_PUBLISH:
		if (r->wr->check_first)
			srv_check_queue(r); /* it validates, then writes */
		else
			store_publish_async(r->s->st, &r->wr->w, srv_on_write_done, r);
		break;
	case WRITE_DELETE:
		store_delete_async(r->s->st, &r->wr->w, srv_on_write_done, r);
		break;
	case WRITE_ROLLBACK:
		store_rollback_async(r->s->st, &r->wr->w, version, srv_on_write_done, r);
		break;
	}
	return MHD_YES;
}

/* Answers a completed write: 201 when it created the config, else 200. */
static enum MHD_Result reply_written(srv_req *r)
{
	const store_result *res = &r->wr->res;

	if (r->wr->err)
		return srv_reply_err(r, r->wr->err, "%s",
				     res->detail[0] ? res->detail : hc_err_code(r->wr->err));
	return reply_write(r, res->created ? MHD_HTTP_CREATED : MHD_HTTP_OK, res,
			   r->wr->kind != WRITE_DELETE);
}

enum MHD_Result srv_h_config_put(srv_req *r)
{
	srv *s = r->s;
	sbuf why = SBUF_INIT(1024);
	const char *format = srv_arg(r, "format"), *inm = srv_header(r, "If-None-Match");
	char check_format[STORE_FORMAT_MAX];
	store_config *cur = NULL;
	enum MHD_Result ret;
	int offload;
	hc_err err;

	if (r->wr && r->wr->done)
		return reply_written(r);
	if (refused(r, &ret))
		goto out;
	if (format && !fmt_ok(format)) {
		ret = srv_reply_err(r, HC_ERR_INVALID, "format '%.40s' is invalid: use %s", format,
				    fmt_list());
		goto out;
	}
	/* An omitted format keeps the current one, so validate against that; if
	 * a concurrent write changes it before this one commits, the store
	 * validates again inside the transaction (srv_check_in_tx). */
	if (!format && !store_get_key(s->st, &r->key, &cur))
		snprintf(check_format, sizeof(check_format), "%s", cur->format);
	else
		snprintf(check_format, sizeof(check_format), "%s", format ? format : "text");
	store_config_unref(cur);
	offload = r->body.len > SRV_INLINE_CHECK;
	if (!offload && (err = val_content(check_format, r->body.buf, r->body.len, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	srv_write_init(r);
	r->wr->check_first = offload;
	memcpy(r->wr->checked_format, check_format, sizeof(check_format));
	r->wr->w.checked_format = r->wr->checked_format;
	r->wr->w.check = srv_check_in_tx;
	r->wr->w.content = r->body.buf;
	r->wr->w.len = r->body.len;
	r->wr->w.format = format;
	r->wr->w.description = srv_arg(r, "description");
	r->wr->w.message = srv_arg(r, "message");
	r->wr->w.create_only = inm && val_etag_match(inm, "", 1);
	ret = queue_write(r, WRITE_PUBLISH, 0);
out:
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_config_delete(srv_req *r)
{
	enum MHD_Result ret;

	if (r->wr && r->wr->done)
		return reply_written(r);
	if (refused(r, &ret))
		return ret;
	srv_write_init(r);
	r->wr->w.message = srv_arg(r, "message");
	return queue_write(r, WRITE_DELETE, 0);
}

enum MHD_Result srv_h_rollback(srv_req *r)
{
	cJSON *doc = NULL, *ver, *msg;
	enum MHD_Result ret;

	if (r->wr && r->wr->done)
		return reply_written(r);
	if (refused(r, &ret))
		return ret;
	doc = srv_json_body(r);
	ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
	if (!cJSON_IsObject(doc) || !cJSON_IsNumber(ver) || ver->valuedouble < 1 ||
	    ver->valuedouble > 9e15 || ver->valuedouble != (double)(int64_t)ver->valuedouble ||
	    (msg && !cJSON_IsString(msg))) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "body must be {\"version\": <positive integer>, \"message\": "
				    "<string, optional>}");
		goto out;
	}
	srv_write_init(r);
	/* The message must outlive the parsed body: the write completes later. */
	r->wr->message = msg ? xstrdup(msg->valuestring) : NULL;
	r->wr->w.message = r->wr->message;
	ret = queue_write(r, WRITE_ROLLBACK, (int64_t)ver->valuedouble);
out:
	cJSON_Delete(doc);
	return ret;
}

static void json_history(sbuf *out, const store_history *h)
{
	sbuf_addf(out,
		  "{\"version\":%" PRId64 ",\"op\":\"%s\",\"md5\":\"%s\",\"format\":\"%s\","
		  "\"revision\":%" PRId64 ",\"author\":",
		  h->version, store_op_name(h->op), h->md5, h->format, h->revision);
	sbuf_add_json_str(out, h->author, strlen(h->author));
	sbuf_addstr(out, ",\"message\":");
	sbuf_add_json_str(out, h->message, strlen(h->message));
	sbuf_addstr(out, ",\"sourceIp\":");
	sbuf_add_json_str(out, h->source_ip, strlen(h->source_ip));
	if (h->gray_rule[0]) {
		sbuf_addstr(out, ",\"grayRule\":");
		sbuf_add_json_str(out, h->gray_rule, strlen(h->gray_rule));
		/* The store's canonical JSON of the match, as an object. */
		sbuf_addf(out, ",\"grayMatch\":%s", h->gray_match[0] ? h->gray_match : "null");
	}
	/* A rollout's state after the change (a step, pause, resume, abort), or
	 * a promote's summary: the store's JSON, as an object. */
	if (h->rollout && h->rollout[0])
		sbuf_addf(out, ",\"rollout\":%s", h->rollout);
	if (h->change_id) /* published by a change request: the entries it made share it */
		sbuf_addf(out, ",\"changeId\":%" PRId64, h->change_id);
	sbuf_addch(out, ',');
	srv_json_time(out, "createdAt", h->created_ms);
	if (h->content) {
		if (utf8_valid(h->content, h->len)) {
			sbuf_addstr(out, ",\"content\":");
			sbuf_add_json_str(out, h->content, h->len);
		} else {
			sbuf_addstr(out, ",\"contentBase64\":\"");
			base64_encode(out, h->content, h->len);
			sbuf_addch(out, '"');
		}
	}
	sbuf_addch(out, '}');
}

enum MHD_Result srv_h_history(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_history *items = NULL;
	int64_t page, size, total = 0;
	enum MHD_Result ret;
	size_t n = 0, i;
	hc_err err;

	if ((err = srv_check_names(r, &why)) || (err = srv_paging(r, &page, &size, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	err = store_history_list(r->s->st, NS(r), GROUP(r), DATA_ID(r), (page - 1) * size, size,
				 &items, &n, &total);
	if (err) {
		ret = srv_reply_err(r, err, "config %s has no history", r->key.s);
		goto out;
	}
	srv_page_open(&body, total, page, size);
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		json_history(&body, &items[i]);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_history_free(items, n);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_history_one(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_history h = {0};
	enum MHD_Result ret;
	int64_t version;
	hc_err err;

	if ((err = srv_check_names(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if (val_int(srv_param(r, "version"), &version) || version < 1) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "version '%.40s' is invalid: use a positive integer",
				    srv_param(r, "version"));
		goto out;
	}
	err = store_history_get(r->s->st, NS(r), GROUP(r), DATA_ID(r), version, &h);
	if (err) {
		ret =
		    srv_reply_err(r, err, "version %" PRId64 " of %s not found", version, r->key.s);
		goto out;
	}
	json_history(&body, &h);
	sbuf_addch(&body, '\n');
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	store_history_release(&h);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_configs_list(srv_req *r)
{
	const char *ns = srv_arg(r, "namespace"), *group = srv_arg(r, "group"),
		   *q = srv_arg(r, "q");
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	store_config **items = NULL;
	const char **allow = NULL;
	int64_t page, size, total = 0;
	enum MHD_Result ret;
	size_t n = 0, i, nallow;
	hc_err err = HC_OK;

	if (ns && *ns)
		err = val_name("namespace", ns, &why);
	if (!err && group && *group)
		err = val_name("group", group, &why);
	if (!err)
		err = srv_paging(r, &page, &size, &why);
	if (!err && q && strlen(q) > 256) {
		sbuf_addstr(&why, "q is longer than 256 characters");
		err = HC_ERR_INVALID;
	}
	if (err) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if (ns && *ns && !srv_allowed(r, ns, SRV_ACT_READ)) {
		ret = srv_reply_err(r, HC_ERR_FORBIDDEN, "%s may not read in namespace '%s'",
				    r->id ? r->id->name : "", ns);
		goto out;
	}
	nallow = srv_readable(r, &allow);
	if (nallow == (size_t)-1) /* nothing to read: an empty page */
		err = HC_OK;
	else
		err = store_list_in(r->s->st, allow, nallow, ns && *ns ? ns : NULL,
				    group && *group ? group : NULL, q && *q ? q : NULL,
				    (page - 1) * size, size, &items, &n, &total);
	if (err) {
		ret = err == HC_ERR_NOT_FOUND
			  ? srv_reply_err(r, err, "namespace '%s' does not exist", ns ? ns : "")
			  : srv_reply_err(r, err, "cannot list configs");
		goto out;
	}
	srv_page_open(&body, total, page, size);
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		srv_json_config_meta(&body, items[i]);
	}
	sbuf_addstr(&body, "]}\n");
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	for (i = 0; i < n; i++)
		store_config_unref(items[i]);
	free(items);
	free(allow);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}
