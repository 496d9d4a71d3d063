/*
 * watch.c: libhotconf's watch thread. It long-polls POST /api/v1/watch with
 * every watched config and the md5 the client holds (plus the apply report
 * of the last delivery), fetches each config the answer lists with GET,
 * calls its callback, and re-arms. A pattern (a group or a namespace) rides
 * on the same request as a pattern item with the md5s of the configs found
 * under it ("known"); each config the server lists for it becomes an item of
 * its own (pat set), fetched, delivered and reported like a single watch's,
 * except that its report travels as a single item beside the pattern (a
 * pattern item carries none). Every transfer runs in the client's curl
 * multi handle and waits in curl_multi_poll, so hotconf_stop (and
 * hotconf_watch_add, which re-arms) interrupt it at once with
 * curl_multi_wakeup, whatever the server holds.
 *
 * Failover: a connection error, timeout or 5xx moves to the next server at
 * once; when a whole round of servers has failed, the thread offers each
 * config never delivered its snapshot (and each pattern never answered the
 * snapshots the cache holds under it) and backs off (full jitter, capped).
 *
 * Threads: only the watch thread runs this file. It takes c->mu to read and
 * update the items, never across a transfer or a callback; items are never
 * removed while the client lives, so a pointer to one stays valid unlocked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "hcl.h"

#define POLL_SLICE_MS 1000

enum run_result { RUN_DONE, RUN_INTERRUPTED };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int stopping(hotconf_client *c)
{
	return atomic_load(&c->stopping);
}

/*
 * Runs one request in the watch multi until it completes, or until stop (or,
 * with may_abort, a re-arm) interrupts it: the transfer is then abandoned
 * and its connection closed.
 */
static enum run_result run(hotconf_client *c, const char *base, const hcl_req *rq, hcl_resp *out,
			   int may_abort)
{
	struct curl_slist *hdrs = NULL;
	CURL *e = hcl_easy(c, base, rq, out, &hdrs);
	CURLcode rc = CURLE_OK;
	int done = 0, interrupted = 0;

	curl_multi_add_handle(c->multi, e);
	while (!done && !interrupted) {
		int running = 0, queued;
		CURLMsg *m;

		curl_multi_perform(c->multi, &running);
		while ((m = curl_multi_info_read(c->multi, &queued)))
			if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
				rc = m->data.result;
				done = 1;
			}
		if (done)
			break;
		if (stopping(c) || (may_abort && atomic_load(&c->rearm)))
			interrupted = 1;
		else
			curl_multi_poll(c->multi, NULL, 0, POLL_SLICE_MS, NULL);
	}
	curl_multi_remove_handle(c->multi, e);
	if (done)
		hcl_finish(e, rc, out);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	return done ? RUN_DONE : RUN_INTERRUPTED;
}

/* Sleeps up to ms, waking early only for stop. */
static void nap(hotconf_client *c, uint64_t ms)
{
	uint64_t end = now_ms() + ms, t;

	while (!stopping(c) && (t = now_ms()) < end) {
		uint64_t left = end - t;
		curl_multi_poll(c->multi, NULL, 0, left > POLL_SLICE_MS ? POLL_SLICE_MS : (int)left,
				NULL);
	}
}

static uint64_t rng_next(hotconf_client *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return c->rng = x;
}

/* Full jitter: a random time in [0, min(cap, base * 2^failures)]. */
static void backoff(hotconf_client *c, unsigned failures)
{
	uint64_t ceiling = (uint64_t)c->backoff_base_ms << (failures < 20 ? failures : 20);
	uint64_t ms;

	if (ceiling > (uint64_t)c->backoff_max_ms)
		ceiling = (uint64_t)c->backoff_max_ms;
	ms = rng_next(c) % (ceiling + 1);
	hcl_log(c, "watch: no server answered; retrying in %llu ms", (unsigned long long)ms);
	nap(c, ms);
}

/* The pattern item of p: its names and the md5 of each config held under it. */
static cJSON *pattern_item(hotconf_client *c, hcl_pattern *p)
{
	cJSON *o = cJSON_CreateObject(), *known;
	size_t i;

	cJSON_AddStringToObject(o, "namespace", p->ns);
	if (*p->group)
		cJSON_AddStringToObject(o, "group", p->group);
	known = cJSON_AddObjectToObject(o, "known");
	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		char key[2 * HCL_NAME_MAX + 2];

		/* A deleted config is held as nothing: left out, as one never seen. */
		if (it->pat != p || !it->md5[0])
			continue;
		if (*p->group)
			snprintf(key, sizeof(key), "%s", it->data_id);
		else
			snprintf(key, sizeof(key), "%s/%s", it->group, it->data_id);
		cJSON_AddStringToObject(known, key, it->md5);
	}
	p->in_flight = 1;
	return o;
}

/* The watch body for every item, with the pending apply reports. Under c->mu. */
static char *build_body(hotconf_client *c)
{
	cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "configs");
	size_t i;
	char *body;

	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		cJSON *o;

		it->sent = 0;
		/* A pattern's config is listed singly only to carry its report. */
		if (it->pat && !(it->report && !strcmp(it->report_md5, it->md5)))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "namespace", it->ns);
		cJSON_AddStringToObject(o, "group", it->group);
		cJSON_AddStringToObject(o, "dataId", it->data_id);
		cJSON_AddStringToObject(o, "md5", it->md5);
		it->sent = it->report && !strcmp(it->report_md5, it->md5);
		if (it->sent) {
			it->sent_seq = it->report_seq;
			cJSON_AddStringToObject(o, "status",
						it->report == 1 ? "applied" : "rejected");
			if (it->report == 2)
				cJSON_AddStringToObject(o, "message",
							it->report_msg ? it->report_msg : "");
		}
		cJSON_AddItemToArray(list, o);
	}
	for (i = 0; i < c->npats; i++)
		cJSON_AddItemToArray(list, pattern_item(c, c->pats[i]));
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!body)
		abort();
	return body;
}

/* A server took the watch request: the reports it carried are delivered. */
static void reports_sent(hotconf_client *c)
{
	size_t i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		if (it->sent && it->report_seq == it->sent_seq)
			it->report = 0;
		it->sent = 0;
	}
	for (i = 0; i < c->npats; i++) {
		c->pats[i]->answered |= c->pats[i]->in_flight;
		c->pats[i]->in_flight = 0;
	}
	pthread_mutex_unlock(&c->mu);
}

/*
 * Hands cfg (which this takes over) to the item's callback and records the
 * outcome. The item holds the new md5 before the callback runs, so a
 * hotconf_report from another thread during the callback already matches.
 */
static void deliver(hotconf_client *c, hcl_item *it, hotconf_config *cfg)
{
	char msg[512] = "";
	int r, from_cache = cfg->from_cache;

	pthread_mutex_lock(&c->mu);
	memcpy(it->md5, cfg->md5, sizeof(it->md5));
	it->delivered = 1;
	hotconf_config_free(it->deferred);
	it->deferred = hcl_config_dup(cfg);
	pthread_mutex_unlock(&c->mu);

	r = it->cb(c, cfg, it->ud, msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';

	if (r == HOTCONF_DEFER) {
		hotconf_config_free(cfg);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (!strcmp(it->md5, cfg->md5)) {
		hotconf_config_free(it->deferred);
		it->deferred = NULL;
		it->report = r == HOTCONF_APPLIED ? 1 : 2;
		free(it->report_msg);
		it->report_msg = r == HOTCONF_APPLIED ? NULL : hcl_xstrdup(msg);
		memcpy(it->report_md5, cfg->md5, sizeof(it->report_md5));
		it->report_seq++;
	}
	pthread_mutex_unlock(&c->mu);
	if (r == HOTCONF_APPLIED && !from_cache) {
		if (cfg->deleted)
			hcl_cache_remove(c, cfg->ns, cfg->group, cfg->data_id);
		else
			hcl_cache_write(c, cfg);
	}
	hotconf_config_free(cfg);
}

/* Delivers cfgs[0..n) in order, each with more set but the last. Takes them over. */
static void deliver_all(hotconf_client *c, hcl_item **its, hotconf_config **cfgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cfgs[i]->more = i + 1 < n;
		if (stopping(c))
			hotconf_config_free(cfgs[i]);
		else
			deliver(c, its[i], cfgs[i]);
	}
}

/* What one pattern's snapshot offer found: the items and their snapshots. */
typedef struct snap_offer {
	hotconf_client *c;
	hcl_pattern *p;
	hcl_item **its;
	hotconf_config **cfgs;
	size_t n, alloc;
} snap_offer;

static void offer_one(void *ud, const char *group, const char *data_id)
{
	snap_offer *o = ud;
	hotconf_config *cfg = NULL;
	hcl_item *it;
	int fresh;

	pthread_mutex_lock(&o->c->mu);
	it = hcl_member(o->c, o->p, group, data_id);
	fresh = !it->delivered;
	pthread_mutex_unlock(&o->c->mu);
	if (!fresh || hcl_cache_read(o->c, o->p->ns, group, data_id, &cfg) != HOTCONF_OK)
		return;
	if (o->n == o->alloc) {
		o->alloc = o->alloc ? o->alloc * 2 : 8;
		o->its = realloc(o->its, o->alloc * sizeof(*o->its));
		o->cfgs = realloc(o->cfgs, o->alloc * sizeof(*o->cfgs));
		if (!o->its || !o->cfgs)
			abort();
	}
	o->its[o->n] = it;
	o->cfgs[o->n++] = cfg;
}

/* Offers a pattern never answered what the snapshot directory holds under it. */
static void offer_pattern(hotconf_client *c, hcl_pattern *p)
{
	snap_offer o = {c, p, NULL, NULL, 0, 0};

	hcl_cache_list(c, p->ns, p->group, offer_one, &o);
	if (o.n)
		hcl_log(c, "watch: %s/%s/: no server answered; delivering %zu snapshot%s", p->ns,
			p->group, o.n, o.n == 1 ? "" : "s");
	deliver_all(c, o.its, o.cfgs, o.n);
	free(o.its);
	free(o.cfgs);
}

/* No server answered a whole round: offer snapshots to what was never delivered. */
static void deliver_snapshots(hotconf_client *c)
{
	size_t i, n;

	pthread_mutex_lock(&c->mu);
	n = c->nitems;
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n && !stopping(c); i++) {
		hotconf_config *cfg = NULL;
		hcl_item *it;
		int offer;

		pthread_mutex_lock(&c->mu);
		it = c->items[i];
		/* A pattern's configs are offered with their pattern, below. */
		offer = !it->pat && !it->delivered && !it->snap_tried;
		it->snap_tried = 1;
		pthread_mutex_unlock(&c->mu);
		if (offer &&
		    hcl_cache_read(c, it->ns, it->group, it->data_id, &cfg) == HOTCONF_OK) {
			hcl_log(c, "watch: %s/%s/%s: no server answered; delivering the snapshot",
				it->ns, it->group, it->data_id);
			deliver(c, it, cfg);
		}
	}
	pthread_mutex_lock(&c->mu);
	n = c->npats;
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n && !stopping(c); i++) {
		hcl_pattern *p;
		int offer;

		pthread_mutex_lock(&c->mu);
		p = c->pats[i];
		offer = !p->answered && !p->snap_tried;
		p->snap_tried = 1;
		pthread_mutex_unlock(&c->mu);
		if (offer)
			offer_pattern(c, p);
	}
}

static const char *str_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Fetches one changed config from server base into *out (caller owns it; NULL
 * when there is nothing to deliver: the client already holds that content).
 * Returns 0, or -1 when the server failed (the item keeps its md5, so the
 * next watch lists it again).
 */
static int fetch_one(hotconf_client *c, const char *base, hcl_item *it, const char *md5,
		     hotconf_config **out)
{
	hcl_resp r = {0};
	hcl_buf path = {0};
	hcl_req rq = {0};
	char got[33], have[33];
	int rc = 0;

	*out = NULL;
	if (!*md5) {
		*out = hcl_config_new(it->ns, it->group, it->data_id, "", 0, "", 0, "text", NULL);
		(*out)->deleted = 1;
		return 0;
	}
	hcl_buf_addf(&path, "/api/v1/configs/%s/%s/%s", it->ns, it->group, it->data_id);
	rq.method = "GET";
	rq.path = path.buf;
	if (run(c, base, &rq, &r, 0) == RUN_INTERRUPTED || hcl_failed(&r)) {
		rc = -1;
		goto out;
	}
	if (r.status == 404) {
		rc = fetch_one(c, base, it, "", out);
		goto out;
	}
	if (r.status != 200) {
		char why[256];
		hcl_log(c, "watch: GET %s: %s", path.buf, hcl_error_message(&r, why, sizeof(why)));
		goto out;
	}
	hcl_md5_hex(hcl_buf_str(&r.body), r.body.len, got);
	if (r.md5[0] && strcmp(got, r.md5)) {
		hcl_log(c, "watch: GET %s: content does not match its ETag", path.buf);
		rc = -1;
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	memcpy(have, it->md5, sizeof(have));
	pthread_mutex_unlock(&c->mu);
	if (strcmp(have, got))
		*out = hcl_config_new(it->ns, it->group, it->data_id, hcl_buf_str(&r.body),
				      r.body.len, got, r.version, r.format, r.gray);
out:
	hcl_resp_release(&r);
	hcl_buf_release(&path);
	return rc;
}

/* The items one answer asks to fetch, with the md5 the server listed. */
typedef struct batch {
	hcl_item **its;
	char (*md5)[33];
	size_t n, alloc;
} batch;

static void batch_add(batch *b, hcl_item *it, const char *md5)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->its[i] == it)
			return; /* listed twice: once for a single item, once for a pattern */
	if (b->n == b->alloc) {
		b->alloc = b->alloc ? b->alloc * 2 : 8;
		b->its = realloc(b->its, b->alloc * sizeof(*b->its));
		b->md5 = realloc(b->md5, b->alloc * sizeof(*b->md5));
		if (!b->its || !b->md5)
			abort();
	}
	b->its[b->n] = it;
	snprintf(b->md5[b->n++], 33, "%s", md5);
}

/*
 * Every item one changed entry concerns: the single watch of the config and
 * each pattern covering it (its item created when new), unless it already
 * holds that md5. Under c->mu.
 */
static void collect(hotconf_client *c, batch *b, const char *ns, const char *group, const char *id,
		    const char *md5)
{
	size_t i, n;

	for (i = 0; i < c->npats; i++)
		if (hcl_pattern_covers(c->pats[i], ns, group))
			hcl_member(c, c->pats[i], group, id);
	n = c->nitems;
	for (i = 0; i < n; i++) {
		hcl_item *it = c->items[i];

		if (strcmp(it->ns, ns) || strcmp(it->group, group) || strcmp(it->data_id, id))
			continue;
		if (it->delivered ? !strcmp(it->md5, md5) : !*md5)
			continue;
		batch_add(b, it, md5);
	}
}

/*
 * Fetches every item of b, then delivers what changed, in the answer's order
 * and with more set on all but the last, so a service sees one answer as one
 * burst. 0, or -1 when the server failed meanwhile (what was fetched before
 * is still delivered).
 */
static int fetch_batch(hotconf_client *c, const char *base, const batch *b)
{
	hotconf_config **cfgs = hcl_xcalloc(b->n ? b->n : 1, sizeof(*cfgs));
	hcl_item **its = hcl_xcalloc(b->n ? b->n : 1, sizeof(*its));
	size_t i, j, n = 0;
	int rc = 0;

	for (i = 0; i < b->n && !stopping(c); i++) {
		hotconf_config *cfg = NULL;
		hcl_item *it = b->its[i];

		/* A config watched twice is fetched once. */
		for (j = 0; j < n && !cfg; j++)
			if (!strcmp(cfgs[j]->ns, it->ns) && !strcmp(cfgs[j]->group, it->group) &&
			    !strcmp(cfgs[j]->data_id, it->data_id))
				cfg = hcl_config_dup(cfgs[j]);
		if (!cfg && fetch_one(c, base, it, b->md5[i], &cfg)) {
			rc = -1;
			break;
		}
		if (!cfg)
			continue;
		its[n] = it;
		cfgs[n++] = cfg;
	}
	deliver_all(c, its, cfgs, n);
	free(cfgs);
	free(its);
	return rc;
}

/* Handles a 200 {"changed":[...]}: 0, or -1 when the server failed meanwhile. */
static int handle_changed(hotconf_client *c, const char *base, const hcl_resp *r)
{
	cJSON *doc = cJSON_ParseWithLength(hcl_buf_str(&r->body), r->body.len), *e;
	cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "changed");
	batch b = {0};
	int rc;

	if (!cJSON_IsArray(list)) {
		hcl_log(c, "watch: the answer has no \"changed\" list");
		list = NULL;
	}
	pthread_mutex_lock(&c->mu);
	cJSON_ArrayForEach(e, list)
	{
		const char *ns = str_member(e, "namespace"), *group = str_member(e, "group");
		const char *id = str_member(e, "dataId"), *md5 = str_member(e, "md5");

		/* Names the server sends become file names in the snapshot directory. */
		if (!ns || !group || !id || !md5 || !hcl_name_ok(ns) || !hcl_name_ok(group) ||
		    !hcl_name_ok(id))
			continue;
		collect(c, &b, ns, group, id, md5);
	}
	pthread_mutex_unlock(&c->mu);
	rc = fetch_batch(c, base, &b);
	free(b.its);
	free(b.md5);
	cJSON_Delete(doc);
	return rc;
}

/* Waits while nothing is watched, until watch_add or stop. */
static void idle(hotconf_client *c)
{
	while (!stopping(c) && !atomic_load(&c->rearm))
		curl_multi_poll(c->multi, NULL, 0, POLL_SLICE_MS, NULL);
}

void *hcl_watch_main(void *arg)
{
	hotconf_client *c = arg;
	unsigned failures = 0;
	size_t tried = 0;
	hcl_buf path = {0};

	hcl_buf_addf(&path, "/api/v1/watch?wait=%ldms", c->wait_ms);
	while (!stopping(c)) {
		size_t k = atomic_load(&c->cur) % c->nservers;
		hcl_resp r = {0};
		hcl_req rq = {0};
		char *body = NULL, why[256];
		int failed;

		atomic_store(&c->rearm, 0);
		pthread_mutex_lock(&c->mu);
		if (c->nitems || c->npats)
			body = build_body(c);
		pthread_mutex_unlock(&c->mu);
		if (!body) {
			idle(c);
			continue;
		}
		rq.method = "POST";
		rq.path = path.buf;
		rq.body = body;
		rq.len = strlen(body);
		rq.timeout_ms = c->wait_ms + c->timeout_ms;
		if (run(c, c->servers[k], &rq, &r, 1) == RUN_INTERRUPTED) {
			free(body);
			hcl_resp_release(&r);
			continue;
		}
		free(body);
		failed = hcl_failed(&r);
		if (!failed && (r.status == 200 || r.status == 304)) {
			reports_sent(c);
			failures = 0;
			tried = 0;
			if (r.status == 200 && handle_changed(c, c->servers[k], &r))
				failed = 1;
		} else if (!failed) {
			/* 4xx: our request or credentials; retrying at once would spin. */
			hcl_log(c, "watch: %s refused the watch: %s", c->servers[k],
				hcl_error_message(&r, why, sizeof(why)));
			backoff(c, failures++);
		}
		if (failed) {
			hcl_log(c, "watch: %s: %s", c->servers[k],
				r.status ? "server error" : r.error);
			atomic_store(&c->cur, (k + 1) % c->nservers);
			if (++tried >= c->nservers) {
				tried = 0;
				deliver_snapshots(c);
				backoff(c, failures++);
			}
		}
		hcl_resp_release(&r);
	}
	hcl_buf_release(&path);
	return NULL;
}
