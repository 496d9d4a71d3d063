/*
 * client.c: the public face of libhotconf: options, the client handle,
 * hotconf_get with the snapshot fallback, the watch list (single configs and
 * group or namespace patterns, whose configs join the list as they are
 * found), starting and
 * stopping the watch thread (watch.c) and deferred apply reports. See
 * hotconf.h for who may call what from which thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hcl.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hotconf_options_init(hotconf_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->size = sizeof(*opt);
	opt->timeout_ms = 10000;
	opt->wait_ms = 30000;
	opt->backoff_base_ms = 200;
	opt->backoff_max_ms = 10000;
}

/* A header value must not break the request: no CR, LF or other controls. */
static int header_ok(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Splits "u1,u2" into c->servers without trailing slashes; 0 or -1. */
static int parse_servers(hotconf_client *c, const hotconf_options *o, const char *list)
{
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *u = p;
		char *url;

		p += n;
		if (*p == ',')
			p++;
		while (n && (*u == ' ' || *u == '\t')) {
			u++;
			n--;
		}
		while (n && (u[n - 1] == ' ' || u[n - 1] == '/'))
			n--;
		if (!n)
			continue;
		url = hcl_xmemdupz(u, n);
		if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
		    !header_ok(url)) {
			if (o->log)
				hcl_log(c, "server '%s' is not an http:// or https:// URL", url);
			free(url);
			return -1;
		}
		c->servers = realloc(c->servers, (c->nservers + 1) * sizeof(*c->servers));
		if (!c->servers)
			abort();
		c->servers[c->nservers++] = url;
	}
	if (!c->nservers)
		hcl_log(c, "no server address given (hotconf_options.servers)");
	return c->nservers ? 0 : -1;
}

hotconf_client *hotconf_new(const hotconf_options *opt)
{
	hotconf_options o;
	hotconf_client *c;
	struct timespec ts;

	hotconf_options_init(&o);
	if (!opt)
		return NULL;
	/* Read only the fields the caller's build knows about. */
	memcpy(&o, opt, opt->size && opt->size < sizeof(o) ? opt->size : sizeof(o));
	o.size = sizeof(o);
	pthread_once(&curl_once, curl_init);
	c = hcl_xcalloc(1, sizeof(*c));
	c->log = o.log;
	c->log_ud = o.log_ud;
	pthread_mutex_init(&c->mu, NULL);
	if (curl_init_rc != CURLE_OK) {
		hcl_log(c, "curl_global_init failed: %s", curl_easy_strerror(curl_init_rc));
		goto fail;
	}
	if (!o.servers || parse_servers(c, &o, o.servers))
		goto fail;
	if (!header_ok(o.token) || !header_ok(o.instance) || !header_ok(o.labels)) {
		hcl_log(c, "token, instance and labels must not hold control characters");
		goto fail;
	}
	c->token = o.token && *o.token ? hcl_xstrdup(o.token) : NULL;
	c->instance = o.instance && *o.instance ? hcl_xstrdup(o.instance) : NULL;
	c->labels = o.labels && *o.labels ? hcl_xstrdup(o.labels) : NULL;
	c->ca_file = o.ca_file && *o.ca_file ? hcl_xstrdup(o.ca_file) : NULL;
	c->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 10000;
	c->wait_ms = o.wait_ms > 0 ? o.wait_ms : 30000;
	c->backoff_base_ms = o.backoff_base_ms > 0 ? o.backoff_base_ms : 200;
	c->backoff_max_ms = o.backoff_max_ms > 0 ? o.backoff_max_ms : 10000;
	if (c->backoff_max_ms < c->backoff_base_ms)
		c->backoff_max_ms = c->backoff_base_ms;
	if (o.cache_dir && *o.cache_dir) {
		c->cache_dir = hcl_xstrdup(o.cache_dir);
		if (hcl_mkdirs(c->cache_dir, 0700)) {
			hcl_log(c, "snapshot directory %s: %s", c->cache_dir, strerror(errno));
			goto fail;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)c;
	if (!c->rng)
		c->rng = 88172645463325252ull;
	return c;
fail:
	hotconf_free(c);
	return NULL;
}

static void item_free(hcl_item *it)
{
	if (!it)
		return;
	free(it->ns);
	free(it->group);
	free(it->data_id);
	free(it->report_msg);
	hotconf_config_free(it->deferred);
	free(it);
}

void hotconf_free(hotconf_client *c)
{
	size_t i;

	if (!c)
		return;
	hotconf_stop(c);
	for (i = 0; i < c->nitems; i++)
		item_free(c->items[i]);
	free(c->items);
	for (i = 0; i < c->npats; i++) {
		free(c->pats[i]->ns);
		free(c->pats[i]->group);
		free(c->pats[i]);
	}
	free(c->pats);
	for (i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	free(c->servers);
	free(c->token);
	free(c->instance);
	free(c->labels);
	free(c->ca_file);
	free(c->cache_dir);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int names_ok(const char *ns, const char *group, const char *data_id)
{
	return hcl_name_ok(ns) && hcl_name_ok(group) && hcl_name_ok(data_id);
}

int hotconf_get(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		hotconf_config **out)
{
	hcl_resp r = {0};
	hcl_buf path = {0};
	hcl_req rq = {0};
	char md5[33];
	int rc;

	*out = NULL;
	if (!c || !names_ok(ns, group, data_id))
		return HOTCONF_EINVAL;
	hcl_buf_addf(&path, "/api/v1/configs/%s/%s/%s", ns, group, data_id);
	rq.method = "GET";
	rq.path = path.buf;
	rc = hcl_request(c, &rq, &r);
	if (rc == HOTCONF_EUNAVAILABLE) {
		rc = hcl_cache_read(c, ns, group, data_id, out);
		if (rc == HOTCONF_OK)
			hcl_log(c, "%s/%s/%s: no server answered; serving the snapshot", ns, group,
				data_id);
		else
			rc = HOTCONF_EUNAVAILABLE;
		goto out;
	}
	rc = r.status == 200 ? HOTCONF_OK : hcl_status_err(r.status);
	if (r.status == 304)
		rc = HOTCONF_EPROTO;
	if (rc)
		goto out;
	hcl_md5_hex(hcl_buf_str(&r.body), r.body.len, md5);
	if (r.md5[0] && strcmp(md5, r.md5)) {
		hcl_log(c, "%s/%s/%s: content does not match its ETag", ns, group, data_id);
		rc = HOTCONF_EPROTO;
		goto out;
	}
	*out = hcl_config_new(ns, group, data_id, hcl_buf_str(&r.body), r.body.len, md5, r.version,
			      r.format, r.gray);
	hcl_cache_write(c, *out);
out:
	hcl_resp_release(&r);
	hcl_buf_release(&path);
	return rc;
}

/* The item of (pat, names): pat NULL for a single watch. Under c->mu. */
static hcl_item *find_item(hotconf_client *c, const hcl_pattern *pat, const char *ns,
			   const char *group, const char *data_id)
{
	size_t i;

	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		if (it->pat == pat && !strcmp(it->ns, ns) && !strcmp(it->group, group) &&
		    !strcmp(it->data_id, data_id))
			return it;
	}
	return NULL;
}

/* Appends a new item (caller fills it) to the list. Under c->mu. */
static hcl_item *append_item(hotconf_client *c, const char *ns, const char *group,
			     const char *data_id)
{
	hcl_item *it = hcl_xcalloc(1, sizeof(*it));

	if (c->nitems == c->items_alloc) {
		c->items_alloc = c->items_alloc ? c->items_alloc * 2 : 8;
		c->items = realloc(c->items, c->items_alloc * sizeof(*c->items));
		if (!c->items)
			abort();
	}
	it->ns = hcl_xstrdup(ns);
	it->group = hcl_xstrdup(group);
	it->data_id = hcl_xstrdup(data_id);
	c->items[c->nitems++] = it;
	return it;
}

int hcl_pattern_covers(const hcl_pattern *p, const char *ns, const char *group)
{
	return !strcmp(p->ns, ns) && (!*p->group || !strcmp(p->group, group));
}

hcl_item *hcl_member(hotconf_client *c, hcl_pattern *p, const char *group, const char *data_id)
{
	hcl_item *it = find_item(c, p, p->ns, group, data_id);

	if (it)
		return it;
	it = append_item(c, p->ns, group, data_id);
	it->pat = p;
	it->cb = p->cb;
	it->ud = p->ud;
	return it;
}

int hotconf_watch_add(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		      hotconf_change_cb cb, void *ud)
{
	hcl_item *it;
	int rc = HOTCONF_OK;

	if (!c || !cb || !names_ok(ns, group, data_id))
		return HOTCONF_EINVAL;
	pthread_mutex_lock(&c->mu);
	if (find_item(c, NULL, ns, group, data_id) || c->nsingle >= HCL_MAX_WATCH) {
		rc = HOTCONF_ESTATE;
		goto out;
	}
	it = append_item(c, ns, group, data_id);
	it->cb = cb;
	it->ud = ud;
	c->nsingle++;
	if (c->started) {
		atomic_store(&c->rearm, 1);
		curl_multi_wakeup(c->multi);
	}
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int hotconf_watch_group(hotconf_client *c, const char *ns, const char *group, hotconf_change_cb cb,
			void *ud)
{
	hcl_pattern *p;
	size_t i;
	int rc = HOTCONF_OK;

	if (!group)
		group = "";
	if (!c || !cb || !hcl_name_ok(ns) || (*group && !hcl_name_ok(group)))
		return HOTCONF_EINVAL;
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->npats; i++)
		if (!strcmp(c->pats[i]->ns, ns) && !strcmp(c->pats[i]->group, group))
			rc = HOTCONF_ESTATE;
	if (rc || c->npats >= HCL_MAX_WATCH) {
		rc = HOTCONF_ESTATE;
		goto out;
	}
	if (c->npats == c->pats_alloc) {
		c->pats_alloc = c->pats_alloc ? c->pats_alloc * 2 : 4;
		c->pats = realloc(c->pats, c->pats_alloc * sizeof(*c->pats));
		if (!c->pats)
			abort();
	}
	p = hcl_xcalloc(1, sizeof(*p));
	p->ns = hcl_xstrdup(ns);
	p->group = hcl_xstrdup(group);
	p->cb = cb;
	p->ud = ud;
	c->pats[c->npats++] = p;
	if (c->started) {
		atomic_store(&c->rearm, 1);
		curl_multi_wakeup(c->multi);
	}
out:
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int hotconf_start(hotconf_client *c)
{
	int err;

	if (!c)
		return HOTCONF_EINVAL;
	pthread_mutex_lock(&c->mu);
	if (c->started) {
		pthread_mutex_unlock(&c->mu);
		return HOTCONF_ESTATE;
	}
	c->multi = curl_multi_init();
	if (!c->multi)
		abort();
	atomic_store(&c->stopping, 0);
	atomic_store(&c->rearm, 0);
	err = pthread_create(&c->thread, NULL, hcl_watch_main, c);
	if (err) {
		hcl_log(c, "cannot start the watch thread: %s", strerror(err));
		curl_multi_cleanup(c->multi);
		c->multi = NULL;
		pthread_mutex_unlock(&c->mu);
		return HOTCONF_ESTATE;
	}
	c->started = 1;
	pthread_mutex_unlock(&c->mu);
	return HOTCONF_OK;
}

int hotconf_stop(hotconf_client *c)
{
	if (!c)
		return HOTCONF_EINVAL;
	pthread_mutex_lock(&c->mu);
	if (!c->started) {
		pthread_mutex_unlock(&c->mu);
		return HOTCONF_OK;
	}
	if (pthread_equal(pthread_self(), c->thread)) {
		pthread_mutex_unlock(&c->mu);
		return HOTCONF_ESTATE;
	}
	atomic_store(&c->stopping, 1);
	curl_multi_wakeup(c->multi);
	pthread_mutex_unlock(&c->mu);
	/* Join without the lock: the thread takes it between callbacks. */
	pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->mu);
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	c->started = 0;
	pthread_mutex_unlock(&c->mu);
	return HOTCONF_OK;
}

/* Records a report on one item holding md5; returns its deferred content
 * when that becomes the snapshot (caller owns it). Under c->mu. */
static hotconf_config *report_item(hcl_item *it, const char *md5, int rejected, const char *message)
{
	hotconf_config *snap = NULL;

	it->report = rejected ? 2 : 1;
	free(it->report_msg);
	it->report_msg = rejected && message ? hcl_xstrdup(message) : NULL;
	memcpy(it->report_md5, it->md5, sizeof(it->md5));
	it->report_seq++;
	if (!rejected && it->deferred && !strcmp(it->deferred->md5, md5)) {
		snap = it->deferred;
		it->deferred = NULL;
	}
	return snap;
}

int hotconf_report(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		   const char *md5, int rejected, const char *message)
{
	hotconf_config *snap = NULL;
	size_t i;
	int rc = HOTCONF_EINVAL, deleted = 0;

	if (!c || !md5 || !names_ok(ns, group, data_id))
		return HOTCONF_EINVAL;
	pthread_mutex_lock(&c->mu);
	/* The single watch and every pattern that delivered this config. */
	for (i = 0; i < c->nitems; i++) {
		hcl_item *it = c->items[i];
		hotconf_config *s;

		if (strcmp(it->ns, ns) || strcmp(it->group, group) || strcmp(it->data_id, data_id))
			continue;
		if (strcmp(it->md5, md5)) {
			if (rc == HOTCONF_EINVAL)
				rc = HOTCONF_ESTATE;
			continue;
		}
		rc = HOTCONF_OK;
		s = report_item(it, md5, rejected, message);
		if (s && !snap)
			snap = s;
		else
			hotconf_config_free(s);
		deleted = !rejected && !md5[0];
	}
	/* The report goes out now, on a watch request made again, not when the
	 * one held (up to its wait) is answered: a rollout's --max-rejected
	 * counts it at once. */
	if (rc == HOTCONF_OK && c->started) {
		atomic_store(&c->rearm, 1);
		curl_multi_wakeup(c->multi);
	}
	pthread_mutex_unlock(&c->mu);
	/* The snapshot is written outside the lock: it fsyncs. */
	if (snap && !snap->deleted)
		hcl_cache_write(c, snap);
	if (deleted)
		hcl_cache_remove(c, ns, group, data_id);
	hotconf_config_free(snap);
	return rc;
}
