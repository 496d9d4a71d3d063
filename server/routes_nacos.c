/*
 * routes_nacos.c: Nacos config reads (GET /nacos/v1/cs/configs and v2),
 * writes (POST, DELETE), beta and tag as gray rules, and the listener
 * (POST /nacos/v1/cs/configs/listener, a many-config watch through
 * srv_watch_run that only spells its answer in Nacos' encoding) with its
 * query (GET .../listener). nacos.h tells the whole of the Nacos API.
 *
 * Threading: worker threads (and the checker for a large content's check).
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "format.h"
#include "http_status.h"
#include "validate.h"
#include "xmalloc.h"
#include "nacos.h"
#include "pct.h"

#define NC_BETA_PRIORITY 1000
#define NC_TAG_PRIORITY 500

/* ---- reads ---- */

static enum MHD_Result reply_content(srv_req *r, store_config *c)
{
	store_effective e;
	struct MHD_Response *resp;
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	char lm[40];
	size_t len;
	char *data;
	int64_t at;

	srv_effective(r, c, &e);
	srv_listen_seen(r, &r->key, c, NULL, 0);
	if (nc(r)->v2) {
		sbuf_addstr(&body, "{\"code\":0,\"message\":\"success\",\"data\":");
		sbuf_add_json_str(&body, e.content, e.len);
		sbuf_addch(&body, '}');
	} else {
		sbuf_add(&body, e.content, e.len);
	}
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
				nc(r)->v2 ? "application/json;charset=UTF-8"
					  : "text/plain;charset=UTF-8");
	MHD_add_response_header(resp, "Content-MD5", e.md5);
	MHD_add_response_header(resp, "Config-Type", e.format);
	at = e.rule ? e.rule->updated_ms : c->updated_ms;
	clock_format_http(at, lm);
	MHD_add_response_header(resp, "Last-Modified", lm);
	if (e.rule && !strcmp(e.rule->name, "beta"))
		MHD_add_response_header(resp, "isBeta", "true");
	if (e.rule && !strncmp(e.rule->name, "tag_", 4))
		MHD_add_response_header(resp, "Vipserver-Tag", e.rule->name + 4);
	nc_no_cache(resp);
	return srv_queue(r, MHD_HTTP_OK, resp);
}

/* "a,b" of a rule's match ips (its canonical JSON). */
static void match_ips(const char *match, sbuf *out)
{
	cJSON *m = cJSON_Parse(match), *ips = cJSON_GetObjectItemCaseSensitive(m, "ips"), *ip;
	int first = 1;

	cJSON_ArrayForEach(ip, ips)
	{
		if (!cJSON_IsString(ip))
			continue;
		if (!first)
			sbuf_addch(out, ',');
		first = 0;
		sbuf_addstr(out, ip->valuestring);
	}
	cJSON_Delete(m);
}

static enum MHD_Result beta_get(srv_req *r)
{
	nacos_req *n = nc(r);
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	store_gray_rule *g = NULL;

	sbuf_addstr(&body, "{\"code\":200,\"message\":\"query beta ok\",\"data\":");
	if (store_gray_get(r->s->st, &r->key, "beta", &g)) {
		sbuf_addstr(&body, "null}");
		return nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
	}
	sbuf_addf(&body, "{\"id\":%" PRId64 ",\"dataId\":", g->revision);
	sbuf_add_json_str(&body, n->data_id, strlen(n->data_id));
	sbuf_addstr(&body, ",\"group\":");
	sbuf_add_json_str(&body, n->group, strlen(n->group));
	sbuf_addstr(&body, ",\"tenant\":");
	sbuf_add_json_str(&body, n->ns, strlen(n->ns));
	sbuf_addstr(&body, ",\"content\":");
	sbuf_add_json_str(&body, g->content, g->len);
	sbuf_addf(&body, ",\"md5\":\"%s\",\"type\":\"%s\",\"betaIps\":\"", g->md5, g->format);
	match_ips(g->match, &body);
	sbuf_addf(&body, "\",\"lastModified\":%" PRId64 "}}", g->updated_ms);
	store_gray_rule_unref(g);
	return nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
}

static enum MHD_Result config_get(srv_req *r, int v2)
{
	nacos_req *n;
	sbuf why = SBUF_INIT(1024);
	store_config *c = NULL;
	const char *mode, *beta;
	enum MHD_Result ret;
	hc_err err;

	if (nc_begin(r, v2, &ret))
		goto out;
	n = nc(r);
	mode = v2 ? NULL : nc_param(r, "search");
	if (mode) {
		ret = nc_search(r, mode);
		goto out;
	}
	if ((err = nc_names(r, 1, &why))) {
		ret = nc_bad(r, &why);
		goto out;
	}
	if (nc_refused(r, n->ns, SRV_ACT_READ, &ret))
		goto out;
	beta = v2 ? NULL : nc_param(r, "beta");
	if (beta && !strcmp(beta, "true")) {
		ret = beta_get(r);
		goto out;
	}
	err = store_get_key(r->s->st, &r->key, &c);
	if (err) {
		srv_listen_seen(r, &r->key, NULL, NULL, 0);
		ret = nc_fail(r, MHD_HTTP_NOT_FOUND, 20004, "config data not exist\n");
		goto out;
	}
	ret = reply_content(r, c);
	store_config_unref(c);
out:
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_nacos_config_get(srv_req *r)
{
	return config_get(r, 0);
}

/* ---- writes ---- */

/* The answer to a write that completed. A delete of something absent is
 * `true`, as in Nacos (deletes are idempotent). */
static enum MHD_Result write_answer(srv_req *r)
{
	const srv_write *wr = r->wr;
	const char *d = wr->res.detail[0] ? wr->res.detail : hc_err_code(wr->err);
	char text[STORE_DETAIL_MAX + 64];

	switch (wr->err) {
	case HC_OK:
		return nc_true(r);
	case HC_ERR_NOT_FOUND:
		if (wr->kind == WRITE_DELETE)
			return nc_true(r);
		snprintf(text, sizeof(text), "caused: %s;", d);
		return nc_fail(r, MHD_HTTP_BAD_REQUEST, 10000, text);
	case HC_ERR_INVALID:
		snprintf(text, sizeof(text), "caused: %s;", d);
		return nc_fail(r, MHD_HTTP_BAD_REQUEST, 10000, text);
	case HC_ERR_CONFLICT:
		snprintf(text, sizeof(text), "publish refused: %s", d);
		return nc_fail(r, MHD_HTTP_FORBIDDEN, 403, text);
	case HC_ERR_PRECONDITION:
		return nc_fail(r, MHD_HTTP_CONFLICT, 409,
			       "cas publish failed: the config's md5 is not casMd5");
	default:
		snprintf(text, sizeof(text), "%s", d);
		return nc_fail(r, srv_http_status(wr->err), 30000, text);
	}
}

/* r->wr with what every Nacos write shares (names owned by nc(r)). */
static void write_init(srv_req *r)
{
	nacos_req *n = nc(r);
	store_write *w;

	r->wr = xcalloc(1, sizeof(*r->wr));
	w = &r->wr->w;
	w->ns = n->ns;
	w->group = n->group;
	w->data_id = n->data_id;
	w->author = srv_author(r);
	w->audit_role = srv_audit_role(r, n->ns);
	w->source_ip = r->ip;
	w->now_ms = clock_wall_ms();
}

/* The checker thread's part for large content: validate, then write. */
static void check_then_write(srv_req *r)
{
	sbuf why = SBUF_INIT(STORE_DETAIL_MAX - 1);
	hc_err err = val_content(r->wr->checked_format, r->wr->w.content, r->wr->w.len, &why);
	store_result res;

	if (err) {
		memset(&res, 0, sizeof(res));
		snprintf(res.detail, sizeof(res.detail), "%s", why.len ? why.buf : "invalid");
		srv_on_write_done(r, err, &res);
	} else if (r->wr->gray) {
		store_gray_put_async(r->s->st, &r->wr->w, srv_gray_spec(r->wr->gray),
				     srv_on_write_done, r);
	} else {
		store_publish_async(r->s->st, &r->wr->w, srv_on_write_done, r);
	}
	sbuf_release(&why);
}

/* Suspends and hands r->wr to the store; the handler answers when resumed. */
static enum MHD_Result queue(srv_req *r, srv_write_kind kind, int offload)
{
	nacos_req *n = nc(r);

	r->wr->kind = kind;
	if (!srv_write_begin(r))
		return nc_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, 30000,
			       "the server is shutting down; nothing was written");
	MHD_suspend_connection(r->conn);
	if (offload)
		srv_offload(r, check_then_write);
	else if (kind == WRITE_DELETE && n->rule)
		store_gray_delete_async(r->s->st, &r->wr->w, n->rule, srv_on_write_done, r);
	else if (kind == WRITE_DELETE)
		store_delete_async(r->s->st, &r->wr->w, srv_on_write_done, r);
	else if (r->wr->gray)
		store_gray_put_async(r->s->st, &r->wr->w, srv_gray_spec(r->wr->gray),
				     srv_on_write_done, r);
	else
		store_publish_async(r->s->st, &r->wr->w, srv_on_write_done, r);
	return MHD_YES;
}

/* The gray rule of a beta (betaIps) or tag publish: its name into n->rule,
 * the parsed rule into r->wr->gray. */
static hc_err nc_gray_rule(srv_req *r, const char *beta_ips, const char *tag, const char *content,
			   sbuf *why)
{
	nacos_req *n = nc(r);
	cJSON *doc = cJSON_CreateObject(), *match = cJSON_CreateObject();
	struct srv_gray *g = NULL;
	char name[160];
	hc_err err;

	if (beta_ips) {
		cJSON *ips = cJSON_AddArrayToObject(match, "ips");
		char *list = xstrdup(beta_ips), *save = NULL, *ip;
		for (ip = strtok_r(list, ",", &save); ip; ip = strtok_r(NULL, ",", &save)) {
			while (*ip == ' ')
				ip++;
			if (*ip)
				cJSON_AddItemToArray(ips, cJSON_CreateString(ip));
		}
		free(list);
		snprintf(name, sizeof(name), "beta");
		cJSON_AddNumberToObject(doc, "priority", NC_BETA_PRIORITY);
	} else {
		char labels[160];
		snprintf(labels, sizeof(labels), "tag=%.128s", tag);
		cJSON_AddStringToObject(match, "labels", labels);
		snprintf(name, sizeof(name), "tag_%.128s", tag);
		cJSON_AddNumberToObject(doc, "priority", NC_TAG_PRIORITY);
	}
	cJSON_AddStringToObject(doc, "content", content);
	if (n->format)
		cJSON_AddStringToObject(doc, "format", n->format);
	cJSON_AddItemToObject(doc, "match", match);
	free(n->rule);
	n->rule = xstrdup(name);
	err = srv_gray_parse(r->s, n->rule, doc, NULL, 1, &g, why);
	if (err) {
		srv_gray_free(g);
		return err;
	}
	r->wr->gray = g;
	return HC_OK;
}

/* The format content is checked as: the given type, else the rule's or the
 * config's current one, else text. */
static void check_format(srv_req *r, char out[STORE_FORMAT_MAX])
{
	nacos_req *n = nc(r);
	store_gray_rule *g = NULL;
	store_config *c = NULL;

	if (n->format)
		snprintf(out, STORE_FORMAT_MAX, "%s", n->format);
	else if (n->rule && !store_gray_get(r->s->st, &r->key, n->rule, &g))
		snprintf(out, STORE_FORMAT_MAX, "%s", g->format);
	else if (!store_get_key(r->s->st, &r->key, &c))
		snprintf(out, STORE_FORMAT_MAX, "%s", c->format);
	else
		snprintf(out, STORE_FORMAT_MAX, "text");
	store_gray_rule_unref(g);
	store_config_unref(c);
}

static enum MHD_Result config_post(srv_req *r, int v2)
{
	nacos_req *n;
	sbuf why = SBUF_INIT(1024);
	const char *content, *type, *beta, *tag, *cas, *desc;
	enum MHD_Result ret;
	store_write *w;
	int offload;
	hc_err err;

	if (r->wr && r->wr->done)
		return write_answer(r);
	if (nc_begin(r, v2, &ret))
		goto out;
	n = nc(r);
	content = nc_param(r, "content");
	type = nc_param(r, "type");
	beta = srv_header(r, "betaIps");
	tag = nc_param(r, "tag");
	cas = srv_header(r, "casMd5");
	desc = nc_param(r, "desc");
	if ((err = nc_names(r, 1, &why))) {
		ret = nc_bad(r, &why);
		goto out;
	}
	if (!content || !*content) {
		sbuf_addstr(&why, "Required String parameter 'content' is not present");
		ret = nc_bad(r, &why);
		goto out;
	}
	if (type && *type && !fmt_ok(type)) {
		sbuf_addf(&why, "type '%.40s' is invalid: use %s", type, fmt_list());
		ret = nc_bad(r, &why);
		goto out;
	}
	if (nc_refused(r, n->ns, SRV_ACT_WRITE, &ret))
		goto out;
	n->format = type && *type ? xstrdup(type) : NULL;
	n->desc = desc ? xstrdup(desc) : NULL;
	write_init(r);
	w = &r->wr->w;
	if (beta && *beta)
		err = nc_gray_rule(r, beta, NULL, content, &why);
	else if (tag && *tag)
		err = nc_gray_rule(r, NULL, tag, content, &why);
	if (err) {
		ret = nc_bad(r, &why);
		goto out;
	}
	w->content = content;
	w->len = strlen(content);
	w->format = n->format;
	w->description = r->wr->gray ? NULL : n->desc;
	if (cas && *cas) {
		snprintf(r->wr->if_match, sizeof(r->wr->if_match), "%.32s", cas);
		w->if_match = r->wr->if_match;
	}
	check_format(r, r->wr->checked_format);
	w->checked_format = r->wr->checked_format;
	w->check = srv_check_in_tx;
	offload = w->len > SRV_INLINE_CHECK;
	if (!offload && (err = val_content(r->wr->checked_format, w->content, w->len, &why))) {
		ret = nc_bad(r, &why);
		goto out;
	}
	ret = queue(r, WRITE_PUBLISH, offload);
out:
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_nacos_config_post(srv_req *r)
{
	return config_post(r, 0);
}

static enum MHD_Result config_delete(srv_req *r, int v2)
{
	nacos_req *n;
	sbuf why = SBUF_INIT(1024);
	const char *beta, *tag;
	enum MHD_Result ret;
	hc_err err;

	if (r->wr && r->wr->done) {
		if (!v2 && r->wr->err == HC_OK && nc(r)->rule && !strcmp(nc(r)->rule, "beta")) {
			sbuf body = SBUF_INIT(SBUF_NOMAX);
			sbuf_addstr(&body,
				    "{\"code\":200,\"message\":\"stop beta ok\",\"data\":true}");
			return nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
		}
		return write_answer(r);
	}
	if (nc_open(r, v2, 1, SRV_ACT_WRITE, &ret))
		goto out;
	n = nc(r);
	beta = v2 ? NULL : nc_param(r, "beta");
	tag = nc_param(r, "tag");
	if (beta && !strcmp(beta, "true")) {
		n->rule = xstrdup("beta");
	} else if (tag && *tag) {
		n->rule = xmalloc(strlen(tag) + 5);
		memcpy(n->rule, "tag_", 4);
		memcpy(n->rule + 4, tag, strlen(tag) + 1);
		if ((err = val_name("tag", n->rule, &why))) {
			ret = nc_bad(r, &why);
			goto out;
		}
	}
	write_init(r);
	ret = queue(r, WRITE_DELETE, 0);
out:
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_nacos_config_delete(srv_req *r)
{
	return config_delete(r, 0);
}

enum MHD_Result srv_h_nacos_v2_config(srv_req *r)
{
	if (r->method_bit == SRV_POST)
		return config_post(r, 1);
	if (r->method_bit == SRV_DELETE)
		return config_delete(r, 1);
	return config_get(r, 1);
}

/* ---- the listener ---- */

static void listen_item(srv_req *r, const srv_watch_change *ch, size_t nb, sbuf *out)
{
	const cfgkey *k = ch->key;
	static const char sep = 2, end = 1;

	(void)nb;
	pct_encode(out, cfgkey_data_id(k), cfgkey_data_id_len(k), PCT_FORM);
	pct_encode(out, &sep, 1, PCT_FORM);
	pct_encode(out, cfgkey_group(k), cfgkey_group_len(k), PCT_FORM);
	if (nc(r)->with_tenant[ch->index]) {
		pct_encode(out, &sep, 1, PCT_FORM);
		pct_encode(out, cfgkey_ns(k), cfgkey_ns_len(k), PCT_FORM);
	}
	pct_encode(out, &end, 1, PCT_FORM);
}

static enum MHD_Result listen_changed(srv_req *r, sbuf *out, size_t nb)
{
	(void)nb;
	sbuf_addch(out, '\n');
	return nc_reply_shared(r, out);
}

static enum MHD_Result listen_timeout(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);

	return nc_reply(r, MHD_HTTP_OK, "text/plain;charset=UTF-8", &body);
}

static enum MHD_Result listen_forbidden(srv_req *r, const char *ns, size_t i)
{
	char text[300];

	(void)i;
	snprintf(text, sizeof(text), "authorization failed!: %s may not read in namespace '%s'",
		 r->id ? r->id->name : "an anonymous caller", ns);
	return nc_fail(r, MHD_HTTP_FORBIDDEN, 403, text);
}

static const srv_watch_style nacos_style = {.item = listen_item,
					    .changed = listen_changed,
					    .timeout = listen_timeout,
					    .forbidden = listen_forbidden};

/* Listening-Configs: records "dataId^Bgroup^Bmd5[^Btenant]^A" into r->items
 * (nothing kept on failure). */
static hc_err parse_listening(srv_req *r, const char *lc, sbuf *why)
{
	nacos_req *n = nc(r);
	const char *p = lc, *rec;
	size_t count = 0, i = 0;
	hc_err err = HC_OK;

	for (rec = lc; *rec; rec++)
		count += *rec == 1;
	if (!count || count > WB_MAX_ITEMS || lc[strlen(lc) - 1] != 1) {
		sbuf_addf(why, "Listening-Configs must hold 1 to %d records, each ending in \\x01",
			  WB_MAX_ITEMS);
		return HC_ERR_INVALID;
	}
	r->items = xcalloc(count, sizeof(*r->items));
	n->with_tenant = xcalloc(count, 1);
	while (*p && !err) {
		const char *e = strchr(p, 1), *f[5];
		char part[4][CFGKEY_NAME_MAX + 1];
		size_t nf = 0, k;
		f[nf++] = p;
		for (rec = p; rec < e && nf < 5; rec++)
			if (*rec == 2)
				f[nf++] = rec + 1;
		if (nf < 3 || nf > 4) {
			sbuf_addf(why, "Listening-Configs record %zu has %zu fields: use 3 or 4", i,
				  nf);
			err = HC_ERR_INVALID;
			break;
		}
		for (k = 0; k < nf; k++) {
			const char *fe = k + 1 < nf ? f[k + 1] - 1 : e;
			size_t len = (size_t)(fe - f[k]);
			if (len > CFGKEY_NAME_MAX) {
				sbuf_addf(why, "Listening-Configs record %zu: a field is too long",
					  i);
				err = HC_ERR_INVALID;
				break;
			}
			memcpy(part[k], f[k], len);
			part[k][len] = '\0';
		}
		if (err)
			break;
		if (nf == 3)
			part[3][0] = '\0';
		n->with_tenant[i] = nf == 4 && part[3][0];
		if ((strlen(part[2]) != 0 && strlen(part[2]) != 32) ||
		    cfgkey_init(&r->items[i].key, nc_ns_of(part[3]), part[1], part[0])) {
			sbuf_addf(why,
				  "Listening-Configs record %zu: invalid dataId, group, md5 "
				  "or tenant",
				  i);
			err = HC_ERR_INVALID;
			break;
		}
		memcpy(r->items[i].md5, part[2], strlen(part[2]) + 1);
		i++;
		r->nitems = i;
		p = e + 1;
	}
	if (err)
		srv_watch_free_items(r);
	return err;
}

/* How long to hold: max(10 s, Long-Pulling-Timeout - 500 ms), capped by
 * --max-wait; 0 (answer now) without the header or with No-Hangup. */
static hc_err hold_ms(srv_req *r, uint64_t *out, sbuf *why)
{
	const char *t = srv_header(r, "Long-Pulling-Timeout");
	const char *nh = srv_header(r, "Long-Pulling-Timeout-No-Hangup");
	int64_t v;

	*out = 0;
	if (!t)
		return HC_OK;
	if (val_int(t, &v)) {
		sbuf_addstr(why, "Long-Pulling-Timeout must be a number of milliseconds");
		return HC_ERR_INVALID;
	}
	*out = nc_hold(v, nh && !strcasecmp(nh, "true"), r->s->cfg.max_wait_ms);
	return HC_OK;
}

enum MHD_Result srv_h_nacos_listener(srv_req *r)
{
	nacos_req *n;
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret;
	const char *lc, *v;
	uint64_t wait = 0;
	hc_err err;

	if (!r->watch_ready) {
		if (nc_begin(r, 0, &ret))
			goto out;
		n = nc(r);
		lc = nc_param(r, "Listening-Configs");
		if (!lc) {
			sbuf_addstr(&why, "invalid probeModify: Listening-Configs is missing");
			ret = nc_bad(r, &why);
			goto out;
		}
		if ((err = hold_ms(r, &wait, &why)) || (err = parse_listening(r, lc, &why))) {
			ret = nc_bad(r, &why);
			goto out;
		}
		/* Kept for the hold: a stale identity is checked again when woken. */
		if ((v = nc_param(r, "accessToken")))
			n->token = xstrdup(v);
		if ((v = nc_param(r, "username")))
			n->user = xstrdup(v);
		if ((v = nc_param(r, "password")))
			n->password = xstrdup(v);
		r->wait_ms = wait;
		r->deadline_ms = wait ? val_deadline(clock_mono_ms(), wait) : 0;
		r->watch_ready = 1;
		/* A held listener keeps its items, never the body they came in. */
		{
			size_t i;
			for (i = 0; i < n->nform; i++) {
				free(n->form[i].k);
				free(n->form[i].v);
			}
			free(n->form);
			n->form = NULL;
			n->nform = 0;
		}
		srv_body_release(r);
	}
	if (nc_identify(r, &ret))
		goto out;
	ret = srv_watch_run(r, &nacos_style);
out:
	sbuf_release(&why);
	return ret;
}

/* GET /nacos/v1/cs/configs/listener: who holds which md5, by address. */
enum MHD_Result srv_h_nacos_listeners(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	srv_listener *v = NULL;
	enum MHD_Result ret;
	size_t n = 0, i;

	if (nc_open(r, 0, 1, SRV_ACT_READ, &ret))
		goto out;
	n = srv_listen_collect(r->s, r->key.s, NULL, &v);
	sbuf_addstr(&body, "{\"collectStatus\":200,\"lisentersGroupkeyStatus\":{");
	for (i = 0; i < n; i++) {
		if (i)
			sbuf_addch(&body, ',');
		sbuf_add_json_str(&body, v[i].ip, strlen(v[i].ip));
		sbuf_addch(&body, ':');
		sbuf_add_json_str(&body, v[i].md5, strlen(v[i].md5));
	}
	sbuf_addstr(&body, "}}");
	ret = nc_reply(r, MHD_HTTP_OK, "application/json;charset=UTF-8", &body);
out:
	srv_listen_free(v, n);
	sbuf_release(&body);
	return ret;
}
