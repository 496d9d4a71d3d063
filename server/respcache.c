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
	store_config *c;	    /* the version resp answers with (a reference) */
	struct MHD_Response *resp;  /* main content; NULL until first asked */
	struct MHD_Response **gray; /* per rule of c->gray, by index; NULL until asked */
	size_t ngray;
} entry;

respcache *respcache_new(void)
{
	respcache *rc = xcalloc(1, sizeof(*rc));

	pthread_mutex_init(&rc->mu, NULL);
	rc->map = hmap_new();
	return rc;
}

/* Drops e's responses and snapshot, leaving it empty. */
static void entry_clear(entry *e)
{
	size_t i;

	/* A response may still be sending on some connection; libmicrohttpd
	 * frees it, and so drops the snapshot, after the last one. */
	if (e->resp)
		MHD_destroy_response(e->resp);
	for (i = 0; i < e->ngray; i++)
		if (e->gray[i])
			MHD_destroy_response(e->gray[i]);
	free(e->gray);
	store_config_unref(e->c);
	memset(e, 0, sizeof(*e));
}

static void entry_free(entry *e)
{
	if (!e)
		return;
	entry_clear(e);
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

	snprintf(buf, sizeof(buf), "\"%s\"", e ? e->md5 : c->md5);
	MHD_add_response_header(resp, "ETag", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, c->version);
	MHD_add_response_header(resp, "X-Hotconf-Version", buf);
	snprintf(buf, sizeof(buf), "%" PRId64, c->revision);
	MHD_add_response_header(resp, "X-Hotconf-Revision", buf);
	MHD_add_response_header(resp, "X-Hotconf-Format", e ? e->format : c->format);
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

/* A new 200 response over c's effective content e (main when e->rule is
 * NULL); it holds a reference to c, which owns that content. */
static struct MHD_Response *build(store_config *c, const store_effective *e)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
	    e->len, (void *)e->content, unref_config, store_config_ref(c));

	if (!resp) {
		store_config_unref(c);
		return NULL;
	}
	respcache_config_headers(resp, c, e);
	MHD_add_response_header(resp, "Content-Type", fmt_mime(e->format));
	return resp;
}

/* Where the response for e lives in e's entry (which holds c), or NULL for
 * a rule that is not c's. */
static struct MHD_Response **slot(entry *en, const store_config *c, const store_effective *e)
{
	size_t k;

	if (!e->rule)
		return &en->resp;
	for (k = 0; c->gray && k < c->gray->n; k++)
		if (c->gray->rules[k] == e->rule)
			break;
	if (!c->gray || k == c->gray->n)
		return NULL;
	if (!en->gray) {
		en->ngray = c->gray->n;
		en->gray = xcalloc(en->ngray, sizeof(*en->gray));
	}
	return &en->gray[k];
}

static enum MHD_Result queue_alone(store_config *c, const store_effective *e,
				   struct MHD_Connection *conn)
{
	struct MHD_Response *resp = build(c, e);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result respcache_queue(respcache *rc, const cfgkey *key, store_config *c,
				const store_effective *e, struct MHD_Connection *conn)
{
	struct MHD_Response **sp;
	enum MHD_Result ret;
	entry *en;

	pthread_mutex_lock(&rc->mu);
	en = hmap_get(rc->map, key->s, key->len);
	if (en && en->c != c && en->c->revision > c->revision) {
		/* A reader still holding an older snapshot: answer it alone. */
		pthread_mutex_unlock(&rc->mu);
		return queue_alone(c, e, conn);
	}
	if (!en) {
		en = xcalloc(1, sizeof(*en));
		hmap_put(rc->map, key->s, key->len, en);
	}
	if (en->c != c) {
		entry_clear(en);
		en->c = store_config_ref(c);
	}
	sp = slot(en, c, e);
	if (!sp) {
		pthread_mutex_unlock(&rc->mu);
		return queue_alone(c, e, conn);
	}
	if (!*sp && !(*sp = build(c, e))) {
		pthread_mutex_unlock(&rc->mu);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, *sp);
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
	 * not change the main answer, but the rules' answers go with the
	 * snapshot, and nothing cached outlives a change to what a config
	 * serves. */
	pthread_mutex_lock(&rc->mu);
	e = hmap_del(rc->map, ch->key->s, ch->key->len);
	pthread_mutex_unlock(&rc->mu);
	entry_free(e);
}
