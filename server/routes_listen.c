/*
 * routes_listen.c: who holds which config. Every GET of a config and every
 * watch records what its caller now holds in the listener registry
 * (watch/listeners.h, s->reg under s->reg_mu); the listeners view of a
 * config, the instance view and the gray preview (routes_gray.c) read it.
 * An instance is its X-Hotconf-Instance id, or its address when it sends
 * none, with the labels and address of its last request.
 *
 * "On latest" means: what it holds is what it would be served now (its
 * effective content: a gray rule's or main), decided here per instance from
 * the inputs it was last seen with.
 *
 * Threading: handlers run on libmicrohttpd worker threads. s->reg_mu is
 * taken alone and only for a registry call; listings copy out under it and
 * do the rest (matching, JSON) after it is released.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "srv_internal.h"
#include "xmalloc.h"

void srv_listen_seen(srv_req *r, const cfgkey *key, const store_config *c, const char *held_md5,
		     int parked)
{
	srv *s = r->s;
	watch_listener l;
	store_effective e = {0};
	int delta = parked && !r->listen_parked;

	if (!s->reg || r->method_bit == SRV_HEAD)
		return;
	memset(&l, 0, sizeof(l));
	l.instance = r->instance ? r->instance : "";
	l.ip = r->ip;
	l.labels = r->labels.buf ? r->labels.buf : "";
	l.seen_ms = clock_wall_ms();
	l.hold_ms = r->wait_ms;
	l.md5 = "";
	l.rule = "";
	if (c) {
		srv_effective(r, c, &e);
		l.md5 = e.md5;
		l.version = c->version;
		l.rule = e.rule ? e.rule->name : "";
	}
	if (held_md5 && strcmp(held_md5, l.md5)) {
		/* Told of a change it has not fetched yet: it holds what it had. */
		l.md5 = held_md5;
		l.version = -1;
		l.rule = NULL;
	}
	pthread_mutex_lock(&s->reg_mu);
	watch_reg_seen(s->reg, key->s, &l, delta);
	pthread_mutex_unlock(&s->reg_mu);
	if (delta)
		r->listen_parked = 1;
}

void srv_listen_items(srv_req *r, int parked)
{
	size_t i;

	if (!r->s->reg)
		return;
	for (i = 0; i < r->nitems; i++) {
		store_config *c = NULL;
		if (cfgkey_is_scope(&r->items[i].key))
			continue; /* a pattern is listed by the configs it fetches, not held */
		store_get_key(r->s->st, &r->items[i].key, &c);
		srv_listen_seen(r, &r->items[i].key, c, r->items[i].md5, parked);
		store_config_unref(c);
	}
}

void srv_listen_done(srv_req *r)
{
	watch_listener l;
	size_t i;

	if (!r->listen_parked)
		return;
	memset(&l, 0, sizeof(l));
	l.instance = r->instance;
	l.ip = r->ip;
	pthread_mutex_lock(&r->s->reg_mu);
	for (i = 0; i < r->nitems; i++)
		if (!cfgkey_is_scope(&r->items[i].key))
			watch_reg_unwatch(r->s->reg, r->items[i].key.s, watch_reg_identity(&l));
	pthread_mutex_unlock(&r->s->reg_mu);
	r->listen_parked = 0;
}

/* ---- copies out of the registry ---- */

typedef struct rows {
	srv_listener *v;
	size_t n, cap;
} rows;

static void copy_row(void *ctx, const watch_listener *l)
{
	rows *rs = ctx;
	srv_listener *o;

	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->v = xrealloc(rs->v, rs->cap * sizeof(*rs->v));
	}
	o = &rs->v[rs->n++];
	o->key = xstrdup(l->key);
	o->instance = xstrdup(l->instance);
	o->ip = xstrdup(l->ip);
	o->labels = xstrdup(l->labels);
	o->md5 = xstrdup(l->md5);
	o->rule = xstrdup(l->rule);
	o->version = l->version;
	o->seen_ms = l->seen_ms;
	o->watching = l->watching;
	o->report = l->report;
	snprintf(o->report_md5, sizeof(o->report_md5), "%s", l->report_md5 ? l->report_md5 : "");
	o->report_message = xstrdup(l->report_message ? l->report_message : "");
	o->report_ms = l->report_ms;
}

int srv_listener_reported(const srv_listener *l, const char *md5, int status)
{
	return l->report == status && *md5 && !strcmp(l->report_md5, md5);
}

/* Sorted by the identity they are known by, then by config. */
static int row_cmp(const void *a, const void *b)
{
	const srv_listener *x = a, *y = b;
	int d = strcmp(*x->instance ? x->instance : x->ip, *y->instance ? y->instance : y->ip);

	return d ? d : strcmp(x->key, y->key);
}

size_t srv_listen_collect(srv *s, const char *key, const char *identity, srv_listener **out)
{
	rows rs = {NULL, 0, 0};
	int64_t now = clock_wall_ms();

	if (s->reg) {
		pthread_mutex_lock(&s->reg_mu);
		if (key)
			watch_reg_config(s->reg, key, now, copy_row, &rs);
		else
			watch_reg_instance(s->reg, identity, now, copy_row, &rs);
		pthread_mutex_unlock(&s->reg_mu);
	}
	if (rs.n)
		qsort(rs.v, rs.n, sizeof(*rs.v), row_cmp);
	*out = rs.v;
	return rs.n;
}

void srv_listen_free(srv_listener *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].instance);
		free(v[i].ip);
		free(v[i].labels);
		free(v[i].md5);
		free(v[i].rule);
		free(v[i].report_message);
	}
	free(v);
}

gray_inst *srv_listener_inst(const srv_listener *l)
{
	sbuf why = SBUF_INIT(256);
	gray_inst *i = NULL;

	if (gray_inst_new(l->instance, l->ip, l->labels, &i, &why))
		i = NULL; /* its labels passed val_labels when it sent them */
	sbuf_release(&why);
	return i;
}

void srv_listen_json(sbuf *out, const srv_listener *l)
{
	sbuf_addstr(out, "\"instance\":");
	sbuf_add_json_str(out, l->instance, strlen(l->instance));
	sbuf_addstr(out, ",\"ip\":");
	sbuf_add_json_str(out, l->ip, strlen(l->ip));
	sbuf_addstr(out, ",\"labels\":");
	sbuf_add_json_str(out, l->labels, strlen(l->labels));
}

/* Does l hold what c (NULL: absent) would serve it now? */
static int on_latest(const srv_listener *l, const store_config *c)
{
	store_effective e;
	gray_inst *inst;

	if (!c)
		return !*l->md5;
	inst = c->gray ? srv_listener_inst(l) : NULL;
	store_gray_effective(c, inst, &e);
	gray_inst_free(inst);
	return !strcmp(e.md5, l->md5);
}

/* What it holds: md5, version, rule, when seen, whether held, latest. */
static void json_holding(sbuf *out, const srv_listener *l, int latest)
{
	sbuf_addf(out, ",\"md5\":\"%s\",\"version\":", l->md5);
	if (l->version > 0)
		sbuf_addf(out, "%" PRId64, l->version);
	else
		sbuf_addstr(out, "null");
	sbuf_addstr(out, ",\"gray\":");
	if (*l->rule)
		sbuf_add_json_str(out, l->rule, strlen(l->rule));
	else
		sbuf_addstr(out, "null");
	sbuf_addch(out, ',');
	srv_json_time(out, "lastSeen", l->seen_ms);
	sbuf_addf(out, ",\"watching\":%s,\"latest\":%s", l->watching ? "true" : "false",
		  latest ? "true" : "false");
	/* applied / rejected: what its last report says of what it holds now. */
	sbuf_addf(out, ",\"applied\":%s,\"rejected\":%s,\"message\":",
		  srv_listener_reported(l, l->md5, WATCH_REPORT_APPLIED) ? "true" : "false",
		  srv_listener_reported(l, l->md5, WATCH_REPORT_REJECTED) ? "true" : "false");
	sbuf_add_json_str(out, l->report_message, strlen(l->report_message));
	sbuf_addstr(out, ",\"report\":");
	if (!l->report) {
		sbuf_addstr(out, "null");
		return;
	}
	sbuf_addf(out, "{\"md5\":\"%s\",\"status\":\"%s\",", l->report_md5,
		  l->report == WATCH_REPORT_APPLIED ? "applied" : "rejected");
	srv_json_time(out, "at", l->report_ms);
	sbuf_addch(out, '}');
}

/* ---- tallies for the summary ---- */

typedef struct tally {
	char *name;
	size_t n;
	int64_t version; /* byVersion: for the order */
} tally;

typedef struct tallies {
	hmap *map; /* name -> index + 1 in v */
	tally *v;
	size_t n, cap;
} tallies;

static void tally_add(tallies *t, const char *name, int64_t version)
{
	size_t k = (size_t)(uintptr_t)hmap_get(t->map, name, strlen(name));

	if (!k) {
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 8;
			t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
		}
		t->v[t->n].name = xstrdup(name);
		t->v[t->n].n = 0;
		t->v[t->n].version = version;
		k = ++t->n;
		hmap_put(t->map, name, strlen(name), (void *)(uintptr_t)k);
	}
	t->v[k - 1].n++;
}

static int by_version_desc(const void *a, const void *b)
{
	const tally *x = a, *y = b;

	return x->version < y->version ? 1 : x->version > y->version ? -1 : 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const tally *)a)->name, ((const tally *)b)->name);
}

/* "name":{"k":n,...}, in order. */
static void tally_json(sbuf *out, const char *name, tallies *t, int by_ver)
{
	size_t i;

	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), by_ver ? by_version_desc : by_name);
	sbuf_addf(out, "\"%s\":{", name);
	for (i = 0; i < t->n; i++) {
		if (i)
			sbuf_addch(out, ',');
		sbuf_add_json_str(out, t->v[i].name, strlen(t->v[i].name));
		sbuf_addf(out, ":%zu", t->v[i].n);
	}
	sbuf_addch(out, '}');
}

static void tally_release(tallies *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	hmap_free(t->map);
}

static hc_err bool_arg(srv_req *r, const char *name, int *out, sbuf *why)
{
	const char *v = srv_arg(r, name);

	*out = -1;
	if (!v)
		return HC_OK;
	if (!strcmp(v, "true") || !strcmp(v, "false")) {
		*out = !strcmp(v, "true");
		return HC_OK;
	}
	sbuf_addf(why, "%s '%.40s' is invalid: use true or false", name, v);
	return HC_ERR_INVALID;
}

/* 409 when the server keeps no listeners at all. */
static int refuse_off(srv_req *r, enum MHD_Result *ret)
{
	if (r->s->reg)
		return 0;
	*ret = srv_reply_err(r, HC_ERR_CONFLICT,
			     "this server keeps no listeners (it runs with --max-listeners 0)");
	return 1;
}

enum MHD_Result srv_h_listeners(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(SBUF_NOMAX);
	tallies by_rule = {hmap_new(), NULL, 0, 0}, by_ver = {hmap_new(), NULL, 0, 0};
	/* [0] applied, [1] rejected */
	tallies rep_rule[2] = {{hmap_new(), NULL, 0, 0}, {hmap_new(), NULL, 0, 0}};
	tallies rep_ver[2] = {{hmap_new(), NULL, 0, 0}, {hmap_new(), NULL, 0, 0}};
	size_t rep_n[2] = {0, 0};
	int k;
	const char *gray = srv_arg(r, "gray");
	store_config *c = NULL;
	srv_listener *ls = NULL;
	size_t n = 0, i, latest_n = 0, watching = 0, total = 0, shown = 0;
	int64_t page, size, skip;
	enum MHD_Result ret;
	char *latest = NULL;
	int want_latest;
	hc_err err;

	if (refuse_off(r, &ret))
		goto out;
	if ((err = srv_check_names(r, &why)) || (err = srv_paging(r, &page, &size, &why)) ||
	    (err = bool_arg(r, "latest", &want_latest, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	store_get_key(r->s->st, &r->key, &c);
	n = srv_listen_collect(r->s, r->key.s, NULL, &ls);
	if (!c && !n) {
		ret = srv_reply_err(r, HC_ERR_NOT_FOUND, "config %s not found", r->key.s);
		goto out;
	}
	latest = xcalloc(n ? n : 1, 1);
	for (i = 0; i < n; i++) {
		latest[i] = (char)on_latest(&ls[i], c);
		latest_n += (size_t)latest[i];
		watching += ls[i].watching > 0;
		for (k = 0; k < 2; k++) {
			int said = srv_listener_reported(
			    &ls[i], ls[i].md5, k ? WATCH_REPORT_REJECTED : WATCH_REPORT_APPLIED);
			char v[24];
			rep_n[k] += (size_t)said;
			if (!said)
				continue;
			if (*ls[i].rule) {
				tally_add(&rep_rule[k], ls[i].rule, 0);
			} else if (ls[i].version > 0) {
				snprintf(v, sizeof(v), "%" PRId64, ls[i].version);
				tally_add(&rep_ver[k], v, ls[i].version);
			}
		}
		if (*ls[i].rule)
			tally_add(&by_rule, ls[i].rule, 0);
		else if (ls[i].version > 0) {
			char v[24];
			snprintf(v, sizeof(v), "%" PRId64, ls[i].version);
			tally_add(&by_ver, v, ls[i].version);
		}
	}
	sbuf_addch(&body, '{');
	cfgkey_json(&r->key, &body);
	if (c)
		sbuf_addf(&body, ",\"version\":%" PRId64 ",\"md5\":\"%s\"", c->version, c->md5);
	else
		sbuf_addstr(&body, ",\"version\":null,\"md5\":null");
	sbuf_addf(&body,
		  ",\"summary\":{\"total\":%zu,\"onLatest\":%zu,\"watching\":%zu,\"applied\":%zu,"
		  "\"rejected\":%zu,",
		  n, latest_n, watching, rep_n[0], rep_n[1]);
	tally_json(&body, "byRule", &by_rule, 0);
	sbuf_addch(&body, ',');
	tally_json(&body, "byVersion", &by_ver, 1);
	sbuf_addch(&body, ',');
	tally_json(&body, "appliedByRule", &rep_rule[0], 0);
	sbuf_addch(&body, ',');
	tally_json(&body, "rejectedByRule", &rep_rule[1], 0);
	sbuf_addch(&body, ',');
	tally_json(&body, "appliedByVersion", &rep_ver[0], 1);
	sbuf_addch(&body, ',');
	tally_json(&body, "rejectedByVersion", &rep_ver[1], 1);
	sbuf_addstr(&body, "},\"instances\":[");
	skip = (page - 1) * size;
	for (i = 0; i < n; i++) {
		if ((want_latest >= 0 && latest[i] != want_latest) ||
		    (gray && strcmp(gray, ls[i].rule)))
			continue;
		if (total++ < (size_t)skip || shown == (size_t)size)
			continue;
		sbuf_addstr(&body, shown++ ? ",{" : "{");
		srv_listen_json(&body, &ls[i]);
		json_holding(&body, &ls[i], latest[i]);
		sbuf_addch(&body, '}');
	}
	sbuf_addf(&body, "],\"total\":%zu,\"page\":%" PRId64 ",\"size\":%" PRId64 "}\n", total,
		  page, size);
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	tally_release(&by_rule);
	tally_release(&by_ver);
	for (k = 0; k < 2; k++) {
		tally_release(&rep_rule[k]);
		tally_release(&rep_ver[k]);
	}
	store_config_unref(c);
	srv_listen_free(ls, n);
	free(latest);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_instance(srv_req *r)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	const char *id = srv_param(r, "id");
	srv_listener *ls = NULL;
	size_t n = 0, i, shown = 0;
	enum MHD_Result ret;

	if (refuse_off(r, &ret))
		goto out;
	if (!*id || strlen(id) > 256) {
		ret =
		    srv_reply_err(r, HC_ERR_INVALID,
				  "instance id must be 1 to 256 bytes (its X-Hotconf-Instance, or "
				  "its address when it sends none)");
		goto out;
	}
	n = srv_listen_collect(r->s, NULL, id, &ls);
	sbuf_addstr(&body, "{\"instance\":");
	sbuf_add_json_str(&body, id, strlen(id));
	sbuf_addstr(&body, ",\"configs\":[");
	for (i = 0; i < n; i++) {
		store_config *c = NULL;
		cfgkey k = {0};
		char ns[CFGKEY_NAME_MAX + 1];
		if (cfgkey_parse(&k, ls[i].key, strlen(ls[i].key)))
			continue;
		memcpy(ns, cfgkey_ns(&k), cfgkey_ns_len(&k));
		ns[cfgkey_ns_len(&k)] = '\0';
		if (srv_allowed(r, ns, SRV_ACT_READ)) {
			store_get_key(r->s->st, &k, &c);
			sbuf_addstr(&body, shown++ ? ",{" : "{");
			cfgkey_json(&k, &body);
			sbuf_addch(&body, ',');
			srv_listen_json(&body, &ls[i]);
			json_holding(&body, &ls[i], on_latest(&ls[i], c));
			sbuf_addch(&body, '}');
			store_config_unref(c);
		}
		cfgkey_release(&k);
	}
	sbuf_addstr(&body, "]}\n");
	/* Not found, too, when it holds only configs the caller may not read:
	 * the answer never tells what is elsewhere. */
	if (!shown)
		ret = srv_reply_err(r, HC_ERR_NOT_FOUND,
				    "no instance '%.256s' holds a config you may read", id);
	else
		ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	srv_listen_free(ls, n);
	sbuf_release(&body);
	return ret;
}

/* ---- apply reports ---- */

/* One report to check or record: key's effective md5 for the reporter now
 * (NULL: the config is absent), with the registry's identity. */
typedef struct report_in {
	const cfgkey *key;
	const char *md5, *message;
	int status;
	char effective[33];
	int has_effective;
} report_in;

/* The reporter's effective md5 of key now, into *in. */
static void report_effective(srv_req *r, report_in *in)
{
	store_config *c = NULL;
	store_effective e;

	in->has_effective = 0;
	if (store_get_key(r->s->st, in->key, &c))
		return;
	srv_effective(r, c, &e);
	snprintf(in->effective, sizeof(in->effective), "%s", e.md5);
	in->has_effective = 1;
	store_config_unref(c);
}

/* Checks (apply 0) or records (apply 1) v[0..n) for identity, under one
 * hold of reg_mu. With all 1 nothing is recorded unless every report
 * passes: *bad gets the first that does not and its result is returned. */
static watch_report_result reports_apply(srv *s, const char *identity, const report_in *v, size_t n,
					 int all, size_t *bad, size_t *recorded)
{
	watch_report_result res, first = WATCH_REPORT_OK;
	int64_t now = clock_wall_ms();
	size_t i;
	int pass;

	*recorded = 0;
	pthread_mutex_lock(&s->reg_mu);
	for (pass = all ? 0 : 1; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			res = watch_reg_report(s->reg, v[i].key->s, identity, v[i].md5,
					       v[i].has_effective ? v[i].effective : NULL,
					       v[i].status, v[i].message, now, pass);
			if (res == WATCH_REPORT_OK) {
				*recorded += (size_t)pass;
				continue;
			}
			if (first == WATCH_REPORT_OK) {
				first = res;
				*bad = i;
			}
			if (all)
				break;
		}
		if (all && first != WATCH_REPORT_OK)
			break;
	}
	pthread_mutex_unlock(&s->reg_mu);
	return first;
}

static const char *identity_of_req(const srv_req *r)
{
	return r->instance && *r->instance ? r->instance : r->ip;
}

void srv_listen_item_reports(srv_req *r)
{
	report_in *v;
	size_t i, n = 0, bad = 0, recorded = 0;

	if (!r->s->reg)
		return;
	for (i = 0; i < r->nitems; i++)
		n += r->items[i].status != WB_STATUS_NONE;
	if (!n)
		return;
	v = xcalloc(n, sizeof(*v));
	for (i = 0, n = 0; i < r->nitems; i++) {
		srv_watch_item *it = &r->items[i];
		if (it->status == WB_STATUS_NONE)
			continue;
		v[n].key = &it->key;
		v[n].md5 = it->md5;
		v[n].status = it->status;
		v[n].message = it->message;
		report_effective(r, &v[n]);
		n++;
	}
	reports_apply(r->s, identity_of_req(r), v, n, 0, &bad, &recorded);
	metrics_reports(r->s->m, METRICS_REPORT_RECORDED, recorded);
	metrics_reports(r->s->m, METRICS_REPORT_DROPPED, n - recorded);
	if (recorded)
		srv_rollout_poke(r->s);
	/* A re-check of a held watch must not report again. */
	for (i = 0; i < r->nitems; i++) {
		r->items[i].status = WB_STATUS_NONE;
		free(r->items[i].message);
		r->items[i].message = NULL;
	}
	free(v);
}

/* POST /api/v1/reports: every report passes, or none is recorded. */
enum MHD_Result srv_h_reports(srv_req *r)
{
	sbuf why = SBUF_INIT(1024), body = SBUF_INIT(256);
	wb_report *reps = NULL;
	report_in *v = NULL;
	hmap *seen = NULL;
	char *instance = NULL;
	size_t n = 0, i, bad = 0, recorded = 0;
	watch_report_result res;
	enum MHD_Result ret;
	hc_err err;

	if (refuse_off(r, &ret))
		goto out;
	if ((err = srv_caller(r, &why)) ||
	    (err = wb_parse_reports(r->body.buf, r->body.len, &instance, &reps, &n, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if (instance && r->instance && strcmp(instance, r->instance)) {
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "instance '%.256s' differs from X-Hotconf-Instance '%.256s'",
				    instance, r->instance);
		goto out;
	}
	if (instance && !r->instance) {
		r->instance = instance; /* before srv_instance() is first asked */
		instance = NULL;
	}
	seen = hmap_new();
	for (i = 0; i < n; i++) {
		size_t prev = (size_t)(uintptr_t)hmap_get(seen, reps[i].key.s, reps[i].key.len);
		if (prev) {
			ret = srv_reply_err(
			    r, HC_ERR_INVALID,
			    "reports[%zu] is on %s again (reports[%zu]): one report per "
			    "config",
			    i, reps[i].key.s, prev - 1);
			goto out;
		}
		hmap_put(seen, reps[i].key.s, reps[i].key.len, (void *)(uintptr_t)(i + 1));
	}
	v = xcalloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		char ns[CFGKEY_NAME_MAX + 1];
		memcpy(ns, cfgkey_ns(&reps[i].key), cfgkey_ns_len(&reps[i].key));
		ns[cfgkey_ns_len(&reps[i].key)] = '\0';
		if (!srv_allowed(r, ns, SRV_ACT_READ)) {
			ret = srv_reply_err(r, HC_ERR_FORBIDDEN,
					    "%s may not read in namespace '%s' (reports[%zu])",
					    r->id ? r->id->name : "", ns, i);
			goto out;
		}
		v[i].key = &reps[i].key;
		v[i].md5 = reps[i].md5;
		v[i].status = reps[i].status;
		v[i].message = reps[i].message;
		report_effective(r, &v[i]);
	}
	res = reports_apply(r->s, identity_of_req(r), v, n, 1, &bad, &recorded);
	switch (res) {
	case WATCH_REPORT_OK:
		break;
	case WATCH_REPORT_UNKNOWN:
		ret = srv_reply_err(r, HC_ERR_INVALID,
				    "reports[%zu]: instance '%.256s' has not read or watched %s on "
				    "this server: read it first, then report on what it got",
				    bad, identity_of_req(r), reps[bad].key.s);
		goto refused;
	case WATCH_REPORT_NOT_SERVED:
		ret = srv_reply_err(
		    r, HC_ERR_INVALID,
		    "reports[%zu].md5: instance '%.256s' was never served md5 %s of %s", bad,
		    identity_of_req(r), reps[bad].md5, reps[bad].key.s);
		goto refused;
	case WATCH_REPORT_LIMITED:
		ret =
		    srv_reply_err(r, HC_ERR_RATE_LIMIT,
				  "reports[%zu]: instance '%.256s' reports on %s too often (bursts "
				  "of %d, then %d a second); nothing was recorded",
				  bad, identity_of_req(r), reps[bad].key.s, WATCH_REPORT_BURST,
				  WATCH_REPORT_PER_SEC);
		goto refused;
	}
	metrics_reports(r->s->m, METRICS_REPORT_RECORDED, recorded);
	srv_rollout_poke(r->s);
	sbuf_addf(&body, "{\"recorded\":%zu}\n", recorded);
	ret = srv_reply(r, MHD_HTTP_OK, "application/json", &body);
	goto out;
refused:
	metrics_reports(r->s->m, METRICS_REPORT_REFUSED, n);
out:
	hmap_free(seen);
	free(instance);
	free(v);
	wb_reports_free(reps, n);
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}
