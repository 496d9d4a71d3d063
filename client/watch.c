/*
 * watch.c: libhotconf's watch thread. It long-polls POST /api/v1/watch with
 * every watched config and the md5 the client holds (plus the apply report
 * of the last delivery), fetches each config the answer lists with GET,
 * calls its callback, and re-arms. Every transfer runs in the client's curl
 * multi handle and waits in curl_multi_poll, so hotconf_stop (and
 * hotconf_watch_add, which re-arms) interrupt it at once with
 * curl_multi_wakeup, whatever the server holds.
 *
 * Failover: a connection error, timeout or 5xx moves to the next server at
 * once; when a whole round of servers has failed, the thread offers each
 * config never delivered its snapshot and backs off (full jitter, capped).
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

/* The watch body for every item, with the pending apply reports. Under c->mu. */
static char *build_body(hotconf_client *c)
{
	cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "configs");
	size_t i;
	char *body;

	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		cJSON *o = cJSON_CreateObject();

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
		offer = !it->delivered && !it->snap_tried;
		it->snap_tried = 1;
		pthread_mutex_unlock(&c->mu);
		if (offer &&
		    hcl_cache_read(c, it->ns, it->group, it->data_id, &cfg) == HOTCONF_OK) {
			hcl_log(c, "watch: %s/%s/%s: no server answered; delivering the snapshot",
				it->ns, it->group, it->data_id);
			deliver(c, it, cfg);
		}
	}
}

static hcl_item *find(hotconf_client *c, const char *ns, const char *group, const char *id)
{
	size_t i;

	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		if (!strcmp(it->ns, ns) && !strcmp(it->group, group) && !strcmp(it->data_id, id))
			return it;
	}
	return NULL;
}

static const char *str_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Fetches one changed config from server base and delivers it. Returns 0, or
 * -1 when the server failed (the item keeps its md5, so the next watch lists
 * it again).
 */
static int fetch_one(hotconf_client *c, const char *base, hcl_item *it, const char *md5)
{
	hcl_resp r = {0};
	hcl_buf path = {0};
	hcl_req rq = {0};
	char got[33], have[33];
	int rc = 0;

	if (!*md5) {
		hotconf_config *cfg =
		    hcl_config_new(it->ns, it->group, it->data_id, "", 0, "", 0, "text", NULL);
		cfg->deleted = 1;
		deliver(c, it, cfg);
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
		rc = fetch_one(c, base, it, "");
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
		deliver(c, it,
			hcl_config_new(it->ns, it->group, it->data_id, hcl_buf_str(&r.body),
				       r.body.len, got, r.version, r.format, r.gray));
out:
	hcl_resp_release(&r);
	hcl_buf_release(&path);
	return rc;
}

/* Handles a 200 {"changed":[...]}: 0, or -1 when the server failed meanwhile. */
static int handle_changed(hotconf_client *c, const char *base, const hcl_resp *r)
{
	cJSON *doc = cJSON_ParseWithLength(hcl_buf_str(&r->body), r->body.len), *e;
	cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "changed");
	int rc = 0;

	if (!cJSON_IsArray(list)) {
		hcl_log(c, "watch: the answer has no \"changed\" list");
		list = NULL;
	}
	cJSON_ArrayForEach(e, list)
	{
		const char *ns = str_member(e, "namespace"), *group = str_member(e, "group");
		const char *id = str_member(e, "dataId"), *md5 = str_member(e, "md5");
		hcl_item *it;
		int same;

		if (!ns || !group || !id || !md5 || stopping(c))
			continue;
		pthread_mutex_lock(&c->mu);
		it = find(c, ns, group, id);
		same = it && it->delivered && !strcmp(it->md5, md5);
		pthread_mutex_unlock(&c->mu);
		if (!it || same)
			continue;
		if (fetch_one(c, base, it, md5)) {
			rc = -1;
			break;
		}
	}
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
		if (c->nitems)
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
