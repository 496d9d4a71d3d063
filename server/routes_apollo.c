/*
 * routes_apollo.c: Apollo's config-service protocol over hotconf's configs,
 * so Apollo clients (the npm ctrip-apollo, Apollo's Java client) work
 * unchanged: GET /configs/{appId}/{cluster}/{namespace} (key/values and a
 * releaseKey), /configfiles/json/... (the key/values alone), /configfiles/...
 * (the raw content) and the long poll GET /notifications/v2.
 *
 * Names: appId is the namespace, cluster the group ("default" is
 * DEFAULT_GROUP), and an Apollo namespace the dataId: "application" is
 * application.properties, a name that ends in a format's suffix (.json,
 * .yaml, .yml, .xml, .txt, .properties) is the dataId as it is, and answers
 * name a properties namespace without ".properties", as Apollo does.
 *
 * A config served as properties (its format, or a text config whose dataId
 * ends in .properties) answers its key/values; any other as {"content"}.
 * The releaseKey is the caller's effective md5, so a gray rule's content has
 * its own. notificationId is the revision of what the caller is served (the
 * config's, or its gray rule's; -1 when absent): a poll
 * is answered at once when the revision differs from the client's id, else
 * held (60 s, capped by --max-wait) until the caller's effective content
 * changes; srv_watch_run does the holding, waking and expiring.
 *
 * Who is asking: an Apollo access key (Authorization: Apollo appId:signature
 * with Timestamp), a Bearer token or session as on /api/v1, or nobody, which
 * only reads where an admin opened the namespace to the caller's network
 * (srv_allowed decides). Gray rules see the caller's address: `ip` counts
 * only when it is that address or the peer is a --trusted-proxy (so no
 * instance takes another's gray slice by naming its IP), and each `label`
 * becomes a label with an empty value.
 *
 * Threading: libmicrohttpd worker threads; each request touches only its
 * own state.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "convert.h"
#include "format.h"
#include "hmap.h"
#include "srv_internal.h"
#include "xmalloc.h"

#define APOLLO_WAIT_MS 60000 /* how long Apollo's config service holds a poll */
#define APOLLO_SKEW_MS 60000 /* an access key's Timestamp may be this far off */
/* A client's id that is not the config's revision: never an md5, never "". */
#define STALE_MD5 "?"

/* ---- names ---- */

static const char *const kept_suffix[] = {".properties", ".json", ".yaml", ".yml",
					  ".xml",	 ".txt",  NULL};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* The config an Apollo (appId, cluster, namespace) names, into *out. */
static hc_err apollo_key(const char *app, const char *cluster, const char *name, cfgkey *out,
			 sbuf *why)
{
	sbuf data_id = SBUF_INIT(SBUF_NOMAX);
	hc_err err;
	size_t i;
	int kept = 0;

	if (!app || !cluster || !name) {
		sbuf_addstr(why, "appId, cluster and namespace are required");
		return HC_ERR_INVALID;
	}
	for (i = 0; kept_suffix[i] && !kept; i++)
		kept = ends_with(name, kept_suffix[i]);
	sbuf_addstr(&data_id, name);
	if (!kept)
		sbuf_addstr(&data_id, ".properties");
	err = val_name("appId", app, why);
	if (!err)
		err = val_name("cluster", cluster, why);
	if (!err)
		err = val_name("namespace", data_id.buf, why);
	if (!err && !out->s)
		err = cfgkey_init(out, app, strcmp(cluster, "default") ? cluster : "DEFAULT_GROUP",
				  data_id.buf);
	sbuf_release(&data_id);
	return err;
}

/* The namespace's name as Apollo answers it: ".properties" stripped. */
static void shown_name(const char *name, sbuf *out)
{
	size_t n = strlen(name);

	if (ends_with(name, ".properties"))
		n -= strlen(".properties");
	sbuf_add_json_str(out, name, n);
}

/* ---- who is asking ---- */

/* 1 when the connection's peer (not a forwarded address) is a trusted proxy. */
static int peer_trusted(srv_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char ip[INET6_ADDRSTRLEN] = "";
	size_t i;

	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
	for (i = 0; *ip && i < r->s->cfg.ntrusted; i++)
		if (cidr_match(&r->s->cfg.trusted[i], ip))
			return 1;
	return 0;
}

static int is_address(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The caller's address, identity headers, and Apollo's ip and label
 * arguments, for gray rules and the listeners view. Once per request. */
static hc_err apollo_caller(srv_req *r, sbuf *why)
{
	const char *ip = srv_arg(r, "ip"), *label = srv_arg(r, "label");
	sbuf want = SBUF_INIT(4096), ignored = SBUF_INIT(256);
	hc_err err = srv_caller(r, why);
	const char *p;

	/* Apollo's own server believes ip; hotconf only where nobody can use
	 * it to be served another instance's gray content. */
	if (!err && ip && strcmp(ip, r->ip) && strlen(ip) < sizeof(r->ip) && is_address(ip) &&
	    peer_trusted(r))
		memcpy(r->ip, ip, strlen(ip) + 1);
	if (!err && label && *label) {
		sbuf_addstr(&want, r->labels.buf);
		for (p = label; *p;) {
			size_t n = strcspn(p, ",");
			while (n && *p == ' ')
				p++, n--;
			if (n && want.len)
				sbuf_addch(&want, ',');
			sbuf_add(&want, p, n);
			if (n && !memchr(p, '=', n))
				sbuf_addch(&want, '=');
			p += n + (p[n] == ',');
		}
		if (want.len > 4000 || val_labels(want.buf, &r->labels, &ignored)) {
			sbuf_addf(why,
				  "label '%.200s' is invalid: use labels of [A-Za-z0-9._/-] "
				  "separated by commas",
				  label);
			err = HC_ERR_INVALID;
		}
	}
	sbuf_release(&want);
	sbuf_release(&ignored);
	return err;
}

/* Checks an Apollo access key: Authorization "Apollo appId:signature" over
 * Timestamp "\n" path?query. A held poll woken later keeps the identity it
 * was checked with while it is current (its Timestamp is old by then). */
static hc_err access_key(srv_req *r, const char *cred, const char *app, sbuf *why)
{
	const char *ts = srv_header(r, "Timestamp"), *colon = strchr(cred, ':');
	int64_t now = clock_wall_ms(), t = 0;
	sbuf text = SBUF_INIT(SBUF_NOMAX);
	char *key_app = NULL;
	hc_err err;

	if (r->id) {
		if (auth_id_current(r->id, now))
			return HC_OK;
		sbuf_addstr(why, "the access key's token was revoked or has expired");
		return HC_ERR_UNAUTHORIZED;
	}
	if (!colon || colon == cred || !colon[1]) {
		sbuf_addstr(why, "Authorization must be 'Apollo <appId>:<signature>'");
		return HC_ERR_UNAUTHORIZED;
	}
	if (!ts || val_int(ts, &t) || t > now + APOLLO_SKEW_MS || t < now - APOLLO_SKEW_MS) {
		sbuf_addstr(why, "an access key needs a Timestamp header (Unix ms) within 60 s of "
				 "the server's clock");
		return HC_ERR_UNAUTHORIZED;
	}
	key_app = xmemdupz(cred, (size_t)(colon - cred));
	if (strcmp(key_app, app)) {
		sbuf_addf(why, "the access key is for app '%.128s', the request for '%.128s'",
			  key_app, app);
		free(key_app);
		return HC_ERR_UNAUTHORIZED;
	}
	sbuf_addf(&text, "%s\n%s%s%s", ts, r->path, *r->query ? "?" : "", r->query);
	err = auth_apollo_identity(r->s->auth, key_app, colon + 1, text.buf, now, &r->id);
	if (err == HC_ERR_UNAUTHORIZED)
		sbuf_addstr(why, "the access key's signature is wrong, or no live token reaches "
				 "this app");
	else if (err)
		sbuf_addf(why, "cannot check the access key (%s)", hc_err_code(err));
	sbuf_release(&text);
	free(key_app);
	return err;
}

/* 401 or 403 for a caller who may not read app. */
static enum MHD_Result refuse_read(srv_req *r, const char *app)
{
	if (!r->id)
		return srv_reply_err(r, HC_ERR_UNAUTHORIZED,
				     "app '%.128s' is not open to anonymous reads from %s: send an "
				     "access key (Authorization: Apollo) or a Bearer token",
				     app, r->ip);
	return srv_reply_err(r, HC_ERR_FORBIDDEN, "%s may not read in namespace '%.128s'",
			     r->id->name, app);
}

/* Identifies the caller (every call: a held poll whose credential went away
 * is answered 401) and checks it may read app; on a refusal queues the
 * answer into *ret and returns 1. */
static int gate(srv_req *r, const char *app, enum MHD_Result *ret)
{
	const char *h = srv_header(r, "Authorization");
	sbuf why = SBUF_INIT(1024);
	hc_err err = HC_OK;

	if (r->s->cfg.auth_off)
		goto pass;
	if (h && !strncasecmp(h, "Apollo ", 7))
		err = access_key(r, h + 7, app, &why);
	else
		err = srv_identify(r, NULL, &why);
	if (err) {
		*ret = srv_reply_why(r, err, &why);
		sbuf_release(&why);
		return 1;
	}
	if (!srv_allowed(r, app, SRV_ACT_READ)) {
		*ret = refuse_read(r, app);
		sbuf_release(&why);
		return 1;
	}
pass:
	sbuf_release(&why);
	return 0;
}

/* ---- key/values ---- */

/* A properties document's pairs, flat, the last of a repeated key winning
 * in the place of its first (Properties.load keeps the last). */
typedef struct pairs {
	char **k, **v;
	size_t *kl, *vl;
	size_t n, cap;
	hmap *at; /* key -> index + 1 */
} pairs;

static void pair_add(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
	pairs *p = ctx;
	size_t at = (size_t)(uintptr_t)hmap_get(p->at, k, kl);

	if (at) {
		free(p->v[at - 1]);
		p->v[at - 1] = xmemdupz(v, vl);
		p->vl[at - 1] = vl;
		return;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->k = xrealloc(p->k, p->cap * sizeof(*p->k));
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
		p->kl = xrealloc(p->kl, p->cap * sizeof(*p->kl));
		p->vl = xrealloc(p->vl, p->cap * sizeof(*p->vl));
	}
	p->k[p->n] = xmemdupz(k, kl);
	p->v[p->n] = xmemdupz(v, vl);
	p->kl[p->n] = kl;
	p->vl[p->n] = vl;
	p->n++;
	hmap_put(p->at, k, kl, (void *)(uintptr_t)p->n);
}

static void pairs_free(pairs *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	free(p->k);
	free(p->v);
	free(p->kl);
	free(p->vl);
	hmap_free(p->at);
}

/* Does this content answer as key/values? */
static int is_props(const store_config *c, const store_effective *e)
{
	return !strcmp(e->format, "properties") ||
	       (!strcmp(e->format, "text") && ends_with(c->data_id, ".properties"));
}

/* Appends Apollo's configurations object: the key/values of properties
 * content, else {"content": ...}. */
static hc_err configurations(const store_config *c, const store_effective *e, sbuf *out, sbuf *why)
{
	pairs p = {0};
	hc_err err;
	size_t i;

	if (!is_props(c, e)) {
		sbuf_addstr(out, "{\"content\":");
		sbuf_add_json_str(out, e->content, e->len);
		sbuf_addch(out, '}');
		return HC_OK;
	}
	p.at = hmap_new();
	err = conv_props_each(e->content, e->len, pair_add, &p, why);
	sbuf_addch(out, '{');
	for (i = 0; !err && i < p.n; i++) {
		if (i)
			sbuf_addch(out, ',');
		sbuf_add_json_str(out, p.k[i], p.kl[i]);
		sbuf_addch(out, ':');
		sbuf_add_json_str(out, p.v[i], p.vl[i]);
	}
	sbuf_addch(out, '}');
	pairs_free(&p);
	return err;
}

/* ---- one namespace ---- */

typedef enum apollo_read_kind {
	READ_CONFIG,  /* /configs: the envelope, releaseKey, 304 */
	READ_KEYVALS, /* /configfiles/json: configurations alone */
	READ_CONTENT, /* /configfiles: the content as stored */
} apollo_read_kind;

static enum MHD_Result reply_read(srv_req *r, apollo_read_kind kind, const store_config *c)
{
	const char *rk = srv_arg(r, "releaseKey");
	sbuf body = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);
	enum MHD_Result ret;
	store_effective e;
	hc_err err = HC_OK;

	srv_effective(r, c, &e);
	if (kind == READ_CONFIG && rk && !strcmp(rk, e.md5)) {
		ret = srv_queue(r, MHD_HTTP_NOT_MODIFIED, srv_response(0, NULL, NULL, NULL));
		goto out;
	}
	if (kind == READ_CONTENT) {
		sbuf_add(&body, e.content, e.len);
		ret = srv_reply(r, MHD_HTTP_OK, fmt_mime(e.format), &body);
		goto out;
	}
	if (kind == READ_CONFIG) {
		sbuf_addstr(&body, "{\"appId\":");
		sbuf_add_json_str(&body, srv_param(r, "appId"), strlen(srv_param(r, "appId")));
		sbuf_addstr(&body, ",\"cluster\":");
		sbuf_add_json_str(&body, srv_param(r, "cluster"), strlen(srv_param(r, "cluster")));
		sbuf_addstr(&body, ",\"namespaceName\":");
		shown_name(srv_param(r, "namespace"), &body);
		sbuf_addstr(&body, ",\"configurations\":");
	}
	err = configurations(c, &e, &body, &why);
	if (kind == READ_CONFIG)
		sbuf_addf(&body, ",\"releaseKey\":\"%s\"}", e.md5);
	sbuf_addch(&body, '\n');
	ret = err ? srv_reply_why(r, err, &why)
		  : srv_reply(r, MHD_HTTP_OK, "application/json", &body);
out:
	sbuf_release(&body);
	sbuf_release(&why);
	return ret;
}

static enum MHD_Result apollo_read(srv_req *r, apollo_read_kind kind)
{
	const char *app = srv_param(r, "appId");
	sbuf why = SBUF_INIT(1024);
	store_config *c = NULL;
	enum MHD_Result ret;
	hc_err err;

	if ((err = apollo_key(app, srv_param(r, "cluster"), srv_param(r, "namespace"), &r->key,
			      &why)) ||
	    (err = apollo_caller(r, &why))) {
		ret = srv_reply_why(r, err, &why);
		goto out;
	}
	if (gate(r, app, &ret))
		goto out;
	err = store_get_key(r->s->st, &r->key, &c);
	srv_listen_seen(r, &r->key, c, NULL, 0);
	if (err)
		ret = srv_reply_err(r, err,
				    "namespace '%.128s' of app '%.128s' (cluster '%.128s') "
				    "has no config: %s",
				    srv_param(r, "namespace"), app, srv_param(r, "cluster"),
				    r->key.s);
	else
		ret = reply_read(r, kind, c);
out:
	store_config_unref(c);
	sbuf_release(&why);
	return ret;
}

enum MHD_Result srv_h_apollo_config(srv_req *r)
{
	return apollo_read(r, READ_CONFIG);
}

enum MHD_Result srv_h_apollo_file_json(srv_req *r)
{
	return apollo_read(r, READ_KEYVALS);
}

enum MHD_Result srv_h_apollo_file(srv_req *r)
{
	return apollo_read(r, READ_CONTENT);
}

/* ---- notifications ---- */

/* A poll's own state: the names to answer with, per item. */
typedef struct apollo_poll {
	char *app, *cluster;
	char **names; /* the namespaceName each item came as */
	size_t n;
} apollo_poll;

static void poll_free(void *p)
{
	apollo_poll *ap = p;
	size_t i;

	if (!ap)
		return;
	for (i = 0; i < ap->n; i++)
		free(ap->names[i]);
	free(ap->names);
	free(ap->app);
	free(ap->cluster);
	free(ap);
}

/* The notificationId of what c serves the caller: the config's revision, or
 * its rule's when a gray rule serves it and changed later (a rule change
 * keeps the main snapshot's revision). It can go down (a rule aborted): an
 * id is compared for equality only, as clients do. */
static int64_t served_id(srv_req *r, const store_config *c)
{
	store_effective e;

	srv_effective(r, c, &e);
	return e.rule && e.rule->revision > c->revision ? e.rule->revision : c->revision;
}

/* The client's copy of item it, by the id it sent: the md5 it is served now
 * when id is the config's revision (or, for an absent config, it knows of
 * none: id <= 0), else STALE_MD5, which differs from every md5 so
 * srv_watch_run answers at once. After that first look srv_watch_run
 * compares md5s alone: a change that leaves this caller's content as it was
 * (a gray rule for others) does not answer its poll. */
static void item_md5(srv_req *r, srv_watch_item *it, int64_t id)
{
	store_config *c = NULL;
	store_effective e;

	if (store_get_key(r->s->st, &it->key, &c)) {
		snprintf(it->md5, sizeof(it->md5), "%s", id <= 0 ? "" : STALE_MD5);
		return;
	}
	srv_effective(r, c, &e);
	snprintf(it->md5, sizeof(it->md5), "%s", id == served_id(r, c) ? e.md5 : STALE_MD5);
	store_config_unref(c);
}

/* Parses notifications=[{"namespaceName","notificationId"}] into r->items
 * and ap; a namespace named twice is watched once, from the larger id. */
static hc_err parse_notifications(srv_req *r, apollo_poll *ap, const char *arg, sbuf *why)
{
	cJSON *doc = arg ? cJSON_Parse(arg) : NULL, *e;
	int64_t *ids = NULL;
	size_t n, i, j;
	hc_err err = HC_OK;

	n = cJSON_IsArray(doc) ? (size_t)cJSON_GetArraySize(doc) : 0;
	if (!n || n > SRV_WATCH_MAX_KEYS) {
		sbuf_addf(why,
			  "notifications must be a JSON array of 1 to %d "
			  "{\"namespaceName\": <name>, \"notificationId\": <integer>}",
			  SRV_WATCH_MAX_KEYS);
		err = HC_ERR_INVALID;
		goto out;
	}
	r->items = xcalloc(n, sizeof(*r->items));
	ap->names = xcalloc(n, sizeof(*ap->names));
	ids = xcalloc(n, sizeof(*ids));
	i = 0;
	cJSON_ArrayForEach(e, doc)
	{
		const char *name = srv_json_string(e, "namespaceName", NULL);
		cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "notificationId");
		cfgkey k = {0};
		int64_t v;
		if (!cJSON_IsObject(e) || !name || !cJSON_IsNumber(id) || id->valuedouble < -1 ||
		    id->valuedouble > 9e15 || id->valuedouble != (double)(int64_t)id->valuedouble) {
			sbuf_addf(why,
				  "notifications[%zu] must be {\"namespaceName\": <name>, "
				  "\"notificationId\": <integer from -1>}",
				  i);
			err = HC_ERR_INVALID;
			goto out;
		}
		if ((err = apollo_key(ap->app, ap->cluster, name, &k, why)))
			goto out;
		v = (int64_t)id->valuedouble;
		for (j = 0; j < r->nitems && strcmp(r->items[j].key.s, k.s); j++)
			;
		if (j < r->nitems) {
			cfgkey_release(&k);
			if (v > ids[j])
				ids[j] = v;
		} else {
			r->items[j].key = k;
			ap->names[j] = xstrdup(name);
			ids[j] = v;
			r->nitems++;
			ap->n++;
		}
		i++;
	}
	for (i = 0; i < r->nitems; i++)
		item_md5(r, &r->items[i], ids[i]);
out:
	free(ids);
	cJSON_Delete(doc);
	return err;
}

/* [{"namespaceName","notificationId","messages":{"details":{"app+cluster+ns":id}}}] */
static void poll_item(srv_req *r, const srv_watch_change *ch, size_t n, sbuf *out)
{
	const apollo_poll *ap = r->proto;
	const char *name = ap->names[ch->index];
	store_config *c = NULL;
	int64_t id = -1;

	/* Read again for the rule's revision; a change since then only makes
	 * the id newer, and the client reads the content afresh anyway. */
	if (ch->revision && !store_get_key(r->s->st, ch->key, &c))
		id = served_id(r, c);
	store_config_unref(c);

	sbuf_addstr(out, n ? ",{\"namespaceName\":" : "[{\"namespaceName\":");
	sbuf_add_json_str(out, name, strlen(name));
	sbuf_addf(out, ",\"notificationId\":%" PRId64 ",\"messages\":{\"details\":{", id);
	{
		sbuf k = SBUF_INIT(SBUF_NOMAX);
		sbuf_addf(&k, "%s+%s+%s", ap->app, ap->cluster, name);
		sbuf_add_json_str(out, k.buf, k.len);
		sbuf_release(&k);
	}
	sbuf_addf(out, ":%" PRId64 "}}}", id);
}

static enum MHD_Result poll_changed(srv_req *r, sbuf *out, size_t n)
{
	(void)n;
	sbuf_addstr(out, "]\n");
	return srv_reply(r, MHD_HTTP_OK, "application/json", out);
}

static enum MHD_Result poll_timeout(srv_req *r)
{
	return srv_queue(r, MHD_HTTP_NOT_MODIFIED, srv_response(0, NULL, NULL, NULL));
}

static enum MHD_Result poll_forbidden(srv_req *r, const char *ns, size_t i)
{
	(void)i;
	return refuse_read(r, ns);
}

static const srv_watch_style apollo_style = {.item = poll_item,
					     .changed = poll_changed,
					     .timeout = poll_timeout,
					     .forbidden = poll_forbidden};

enum MHD_Result srv_h_apollo_notifications(srv_req *r)
{
	const char *app = srv_arg(r, "appId"), *cluster = srv_arg(r, "cluster");
	sbuf why = SBUF_INIT(1024);
	enum MHD_Result ret;
	apollo_poll *ap;
	uint64_t wait_ms = APOLLO_WAIT_MS;
	hc_err err;

	if (!r->watch_ready) {
		if (!app || !*app) {
			sbuf_addstr(&why, "appId is required");
			err = HC_ERR_INVALID;
			goto bad;
		}
		ap = xcalloc(1, sizeof(*ap));
		ap->app = xstrdup(app);
		ap->cluster = xstrdup(cluster && *cluster ? cluster : "default");
		r->proto = ap;
		r->proto_free = poll_free;
		if ((err = apollo_caller(r, &why)) ||
		    (err = parse_notifications(r, ap, srv_arg(r, "notifications"), &why)))
			goto bad;
		if (wait_ms > r->s->cfg.max_wait_ms)
			wait_ms = r->s->cfg.max_wait_ms;
		r->wait_ms = wait_ms;
		r->deadline_ms = wait_ms ? val_deadline(clock_mono_ms(), wait_ms) : 0;
		r->watch_ready = 1;
		srv_body_release(r);
	}
	if (gate(r, ((apollo_poll *)r->proto)->app, &ret))
		goto out;
	ret = srv_watch_run(r, &apollo_style);
	goto out;
bad:
	/* Nothing is held for a poll that cannot be read. */
	srv_watch_free_items(r);
	ret = srv_reply_why(r, err, &why);
out:
	sbuf_release(&why);
	return ret;
}
