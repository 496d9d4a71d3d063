/*
 * respcache.c: see respcache.h. Any thread; one mutex.
 */
#include "respcache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hmap.h"
#include "format.h"
#include "xmalloc.h"

struct respcache {
	pthread_mutex_t mu;
	hmap *map; /* key -> entry */
};

typedef struct entry {
	store_config *c; /* the version resp answers with (a reference) */
	struct MHD_Response *resp;
} entry;

respcache *respcache_new(void)
{
	respcache *rc = xcalloc(1, sizeof(*rc));

	pthread_mutex_init(&rc->mu, NULL);
	rc->map = hmap_new();
	return rc;
}

static void entry_free(entry *e)
{
	if (!e)
		return;
	/* The response may still be sending on some connection; libmicrohttpd
	 * frees it, and so drops the snapshot, after the last one. */
	MHD_destroy_response(e->resp);
	store_config_unref(e->c);
	free(e);
}

static void free_cb(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx;
	(void)key;
	(void)klen;
	entry_free(val);
}

void respcache_free(respcache *rc)
{
	if (!rc)
		return;
	hmap_foreach(rc->map, free_cb, NULL);
	hmap_free(rc->map);
	pthread_mutex_destroy(&rc->mu);
	free(rc);
}

void respcache_config_headers(struct MHD_Response *resp, const store_config *c,
			      const store_effective *e)
{
	const store_gray_rule *rule = e ? e->rule : NULL;
	char buf[64], date[40];

	snprintf(buf, sizeof(buf), "\"%s\"", rule ? e->md5 : c->md5);
	MHD_add_response_header(resp, "ETag", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, c->version);
	MHD_add_response_header(resp, "X-Hotconf-Version", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, c->revision);
	MHD_add_response_header(resp, "X-Hotconf-Revision", buf);
	MHD_add_response_header(resp, "X-Hotconf-Format", rule ? e->format : c->format);
	if (rule)
		MHD_add_response_header(resp, "X-Hotconf-Gray", rule->name);
	clock_format_http(rule ? rule->updated_ms : c->updated_ms, date);
	MHD_add_response_header(resp, "Last-Modified", date);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
}

static void unref_config(void *cls)
{
	store_config_unref(cls);
}

/* A new 200 response over c's content; it holds a reference to c. */
static struct MHD_Response *build(store_config *c)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    c->len, c->content, unref_config, store_config_ref(c));

	if (!resp) {
		store_config_unref(c);
		return NULL;
	}
	respcache_config_headers(resp, c, NULL);
	MHD_add_response_header(resp, "Content-Type", fmt_mime(c->format));
	return resp;
}

enum MHD_Result respcache_queue(respcache *rc, const cfgkey *key, store_config *c,
				struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	entry *e;

	pthread_mutex_lock(&rc->mu);
	e = hmap_get(rc->map, key->s, key->len);
	if (e && e->c != c && e->c->revision > c->revision) {
		/* A reader still holding an older snapshot: answer it alone. */
		pthread_mutex_unlock(&rc->mu);
		resp = build(c);
		if (!resp)
			return MHD_NO;
		ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (!e || e->c != c) {
		resp = build(c);
		if (!resp) {
			pthread_mutex_unlock(&rc->mu);
			return MHD_NO;
		}
		if (!e) {
			e = xcalloc(1, sizeof(*e));
			hmap_put(rc->map, key->s, key->len, e);
		} else {
			MHD_destroy_response(e->resp);
			store_config_unref(e->c);
		}
		e->c = store_config_ref(c);
		e->resp = resp;
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, e->resp);
	pthread_mutex_unlock(&rc->mu);
	return ret;
}

void respcache_on_change(void *ctx, const store_change *ch)
{
	respcache *rc = ctx;
	entry *e;

	if (ch->kind == STORE_CHANGE_META)
		return; /* the response carries nothing a metadata change touches */
	/* CONTENT and DELETE change the answer; a GRAY change (rules only) does
	 * not change the main answer cached here, but it is dropped all the same
	 * so that nothing cached outlives a change to what a config serves. */
	pthread_mutex_lock(&rc->mu);
	e = hmap_del(rc->map, ch->key->s, ch->key->len);
	pthread_mutex_unlock(&rc->mu);
	entry_free(e);
}
