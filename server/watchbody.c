/*
 * watchbody.c: see watchbody.h. Pure; any thread.
 */
#include "watchbody.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "validate.h"
#include "xmalloc.h"

/* 1 when a JSON text holds a NUL inside a string, raw or as \u0000: cJSON
 * would hand back a C string cut short at it. */
static int json_has_nul(const char *p, size_t n)
{
	size_t i;
	int in_str = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			return 1;
		if (!in_str) {
			in_str = p[i] == '"';
			continue;
		}
		if (p[i] == '"') {
			in_str = 0;
		} else if (p[i] == '\\' && i + 1 < n) {
			i++;
			if (p[i] == 'u' && i + 4 < n && !memcmp(p + i + 1, "0000", 4))
				return 1;
		}
	}
	return 0;
}

cJSON *wb_json_parse(const char *body, size_t len)
{
	if (json_has_nul(body, len))
		return NULL;
	return cJSON_ParseWithLength(body, len);
}

/* A string member of an entry, defaulted when absent; NULL when not a string. */
static const char *member(const cJSON *o, const char *name, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v || cJSON_IsNull(v))
		return def;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void wb_items_free(srv_watch_item *items, size_t n)
{
	size_t i;

	size_t j;

	for (i = 0; items && i < n; i++) {
		cfgkey_release(&items[i].key);
		free(items[i].message);
		for (j = 0; j < items[i].nknown; j++)
			free(items[i].known[j].name);
		free(items[i].known);
	}
	free(items);
}

static int known_cmp(const void *a, const void *b)
{
	return strcmp(((const wb_known *)a)->name, ((const wb_known *)b)->name);
}

const char *wb_known_md5(const srv_watch_item *it, const char *name)
{
	wb_known k = {(char *)name, ""};
	const wb_known *f =
	    it->nknown ? bsearch(&k, it->known, it->nknown, sizeof(k), known_cmp) : NULL;

	return f ? f->md5 : "";
}

void wb_reports_free(wb_report *reports, size_t n)
{
	size_t i;

	for (i = 0; reports && i < n; i++) {
		cfgkey_release(&reports[i].key);
		free(reports[i].message);
	}
	free(reports);
}

static int md5_hex_ok(const char *s)
{
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[32] == '\0';
}

/* An entry's "status" and "message" (where names it: "configs[3]"). With
 * need 1 the status is required. md5 is the entry's, already read. */
static hc_err report_fields(const cJSON *e, const char *where, const char *md5, int need,
			    int *status, char **message, sbuf *why)
{
	const char *st = member(e, "status", NULL), *msg = member(e, "message", NULL);
	const cJSON *sv = cJSON_GetObjectItemCaseSensitive(e, "status");
	const cJSON *mv = cJSON_GetObjectItemCaseSensitive(e, "message");

	*status = WB_STATUS_NONE;
	*message = NULL;
	if ((sv && !cJSON_IsNull(sv) && !st) || (mv && !cJSON_IsNull(mv) && !msg)) {
		sbuf_addf(why, "%s.%s must be a string", where, st || !sv ? "message" : "status");
		return HC_ERR_INVALID;
	}
	if (!st) {
		if (need) {
			sbuf_addf(why, "%s.status is required: applied or rejected", where);
			return HC_ERR_INVALID;
		}
		if (msg) {
			sbuf_addf(why, "%s.message needs a status (applied or rejected)", where);
			return HC_ERR_INVALID;
		}
		return HC_OK;
	}
	if (strcmp(st, "applied") && strcmp(st, "rejected")) {
		sbuf_addf(why, "%s.status '%.40s' is invalid: use applied or rejected", where, st);
		return HC_ERR_INVALID;
	}
	/* A watch item may report on "" (a config it saw deleted): the server
	 * then drops the report, as there is nothing to have applied. */
	if (!md5_hex_ok(md5) && (need || *md5)) {
		sbuf_addf(why, "%s.md5 must be the 32 hex digits of the content reported on",
			  where);
		return HC_ERR_INVALID;
	}
	if (msg && (strlen(msg) > WB_REPORT_MESSAGE_MAX || !utf8_valid(msg, strlen(msg)))) {
		sbuf_addf(why, "%s.message must be UTF-8 of at most %d bytes", where,
			  WB_REPORT_MESSAGE_MAX);
		return HC_ERR_INVALID;
	}
	*status = strcmp(st, "applied") ? WB_STATUS_REJECTED : WB_STATUS_APPLIED;
	*message = msg && *msg ? xstrdup(msg) : NULL;
	return HC_OK;
}

/* An entry's names into *key (where names it). */
static hc_err entry_key(const cJSON *e, const char *where, cfgkey *key, sbuf *why)
{
	const char *ns = member(e, "namespace", "public");
	const char *group = member(e, "group", "DEFAULT_GROUP");
	const char *id = member(e, "dataId", NULL);
	hc_err err;

	if (!ns || !group || !id) {
		sbuf_addf(why,
			  "%s must have a string dataId and optional string namespace and group "
			  "(or, for a pattern, a namespace and no dataId)",
			  where);
		return HC_ERR_INVALID;
	}
	if ((err = val_name("namespace", ns, why)) || (err = val_name("group", group, why)) ||
	    (err = val_name("dataId", id, why)))
		return err;
	return cfgkey_init(key, ns, group, id);
}

hc_err wb_parse_reports(const char *body, size_t len, char **instance, wb_report **reports,
			size_t *count, sbuf *why)
{
	cJSON *doc = wb_json_parse(body, len), *list, *e;
	const char *inst;
	wb_report *v = NULL;
	hc_err err = HC_ERR_INVALID;
	size_t n, i = 0;
	char where[32];

	*instance = NULL;
	*reports = NULL;
	*count = 0;
	list = cJSON_GetObjectItemCaseSensitive(doc, "reports");
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(list)) {
		sbuf_addstr(why,
			    "body must be {\"instance\": \"...\", \"reports\": [{\"namespace\", "
			    "\"group\", \"dataId\", \"md5\", \"status\", \"message\"}, ...]}");
		goto fail;
	}
	inst = member(doc, "instance", "");
	if (!inst || strlen(inst) > WB_INSTANCE_MAX || !utf8_valid(inst, strlen(inst))) {
		sbuf_addf(why, "instance must be a string of at most %d bytes", WB_INSTANCE_MAX);
		goto fail;
	}
	n = (size_t)cJSON_GetArraySize(list);
	if (n < 1 || n > WB_MAX_REPORTS) {
		sbuf_addf(why, "reports must hold 1 to %d entries, not %zu", WB_MAX_REPORTS, n);
		goto fail;
	}
	v = xcalloc(n, sizeof(*v));
	cJSON_ArrayForEach(e, list)
	{
		const char *md5 = member(e, "md5", NULL);
		snprintf(where, sizeof(where), "reports[%zu]", i);
		if (!cJSON_IsObject(e)) {
			sbuf_addf(why, "%s must be an object", where);
			goto fail;
		}
		if ((err = entry_key(e, where, &v[i].key, why)))
			goto fail;
		i++; /* v[i - 1] holds a key from here: freed on failure */
		if (!md5) {
			sbuf_addf(why, "%s.md5 is required: the md5 of the content reported on",
				  where);
			err = HC_ERR_INVALID;
			goto fail;
		}
		if ((err =
			 report_fields(e, where, md5, 1, &v[i - 1].status, &v[i - 1].message, why)))
			goto fail;
		memcpy(v[i - 1].md5, md5, 33);
	}
	*instance = *inst ? xstrdup(inst) : NULL;
	cJSON_Delete(doc);
	*reports = v;
	*count = i;
	return HC_OK;
fail:
	cJSON_Delete(doc);
	wb_reports_free(v, i);
	return err ? err : HC_ERR_INVALID;
}

/* A name in a pattern's "known": a dataId in a group, "group/dataId" in a
 * namespace. */
static int known_name_ok(const char *name, int in_group)
{
	const char *slash = strchr(name, '/');

	if (in_group)
		return cfgkey_name_ok(name, strlen(name));
	return slash && cfgkey_name_ok(name, (size_t)(slash - name)) &&
	       cfgkey_name_ok(slash + 1, strlen(slash + 1));
}

/* A pattern entry (a namespace and no dataId) into *it. */
static hc_err pattern_entry(const cJSON *e, const char *where, srv_watch_item *it, sbuf *why)
{
	const char *ns = member(e, "namespace", NULL), *group = member(e, "group", NULL);
	const cJSON *known = cJSON_GetObjectItemCaseSensitive(e, "known"), *k;
	size_t n, i = 0;
	hc_err err;

	if (!ns || (cJSON_GetObjectItemCaseSensitive(e, "group") && !group)) {
		sbuf_addf(why, "%s: a pattern's namespace and group must be strings", where);
		return HC_ERR_INVALID;
	}
	if (cJSON_GetObjectItemCaseSensitive(e, "md5") ||
	    cJSON_GetObjectItemCaseSensitive(e, "status") ||
	    cJSON_GetObjectItemCaseSensitive(e, "message")) {
		sbuf_addf(why,
			  "%s is a pattern (no dataId): it takes \"known\" for the md5s its "
			  "client holds, not md5, status or message",
			  where);
		return HC_ERR_INVALID;
	}
	if ((err = val_name("namespace", ns, why)) ||
	    (group && (err = val_name("group", group, why))))
		return err;
	if (known && !cJSON_IsNull(known) && !cJSON_IsObject(known)) {
		sbuf_addf(why, "%s.known must be an object {\"%s\": \"md5\", ...}", where,
			  group ? "dataId" : "group/dataId");
		return HC_ERR_INVALID;
	}
	n = cJSON_IsObject(known) ? (size_t)cJSON_GetArraySize(known) : 0;
	if (n > WB_MAX_ITEMS) {
		sbuf_addf(why, "%s.known holds %zu entries, more than %d", where, n, WB_MAX_ITEMS);
		return HC_ERR_INVALID;
	}
	if (cfgkey_init_scope(&it->key, ns, group))
		return HC_ERR_INVALID; /* the names were checked above */
	it->known = n ? xcalloc(n, sizeof(*it->known)) : NULL;
	if (n)
		cJSON_ArrayForEach(k, known)
		{
			if (!known_name_ok(k->string, group != NULL) || !cJSON_IsString(k) ||
			    !md5_hex_ok(k->valuestring)) {
				sbuf_addf(why,
					  "%s.known: \"%.80s\" must be a %s holding the 32 hex "
					  "digits of its md5",
					  where, k->string, group ? "dataId" : "group/dataId");
				err = HC_ERR_INVALID;
				break;
			}
			it->known[i].name = xstrdup(k->string);
			memcpy(it->known[i].md5, k->valuestring, 33);
			it->nknown = ++i;
		}
	if (err)
		return err;
	if (it->nknown > 1)
		qsort(it->known, it->nknown, sizeof(*it->known), known_cmp);
	for (i = 1; i < it->nknown; i++)
		if (!strcmp(it->known[i - 1].name, it->known[i].name)) {
			sbuf_addf(why, "%s.known names \"%s\" twice", where, it->known[i].name);
			return HC_ERR_INVALID;
		}
	return HC_OK;
}

/* 1 when an entry is a pattern: it names a namespace and no dataId. */
static int is_pattern(const cJSON *e)
{
	return cJSON_IsObject(e) && !cJSON_GetObjectItemCaseSensitive(e, "dataId") &&
	       cJSON_GetObjectItemCaseSensitive(e, "namespace");
}

hc_err wb_parse(const char *body, size_t len, srv_watch_item **items, size_t *count, sbuf *why)
{
	cJSON *doc = wb_json_parse(body, len), *list, *e;
	srv_watch_item *v = NULL;
	hc_err err = HC_ERR_INVALID;
	size_t n, i = 0;
	char where[32];

	*items = NULL;
	*count = 0;
	list = cJSON_GetObjectItemCaseSensitive(doc, "configs");
	if (!cJSON_IsArray(list)) {
		sbuf_addstr(why,
			    "body must be {\"configs\": [{\"namespace\", \"group\", \"dataId\", "
			    "\"md5\"}, ...]}");
		goto fail;
	}
	n = (size_t)cJSON_GetArraySize(list);
	if (n < 1 || n > WB_MAX_ITEMS) {
		sbuf_addf(why, "configs must hold 1 to %d entries, not %zu", WB_MAX_ITEMS, n);
		goto fail;
	}
	v = xcalloc(n, sizeof(*v));
	cJSON_ArrayForEach(e, list)
	{
		const char *md5 = member(e, "md5", "");

		snprintf(where, sizeof(where), "configs[%zu]", i);
		if (is_pattern(e)) {
			err = pattern_entry(e, where, &v[i], why);
			i++; /* freed on failure, whatever it holds */
			if (err)
				goto fail;
			continue;
		}
		if (cJSON_IsObject(e) && cJSON_GetObjectItemCaseSensitive(e, "known")) {
			sbuf_addf(why, "%s.known is for a pattern (an entry with no dataId)",
				  where);
			err = HC_ERR_INVALID;
			goto fail;
		}
		if (!cJSON_IsObject(e) || !md5 || strlen(md5) > 32) {
			sbuf_addf(why,
				  "%s must be an object with an optional string md5 of at most 32 "
				  "characters",
				  where);
			err = HC_ERR_INVALID;
			goto fail;
		}
		if ((err = entry_key(e, where, &v[i].key, why)))
			goto fail;
		memcpy(v[i].md5, md5, strlen(md5) + 1);
		i++;
		if ((err =
			 report_fields(e, where, md5, 0, &v[i - 1].status, &v[i - 1].message, why)))
			goto fail;
	}
	cJSON_Delete(doc);
	*items = v;
	*count = i;
	return HC_OK;
fail:
	cJSON_Delete(doc);
	wb_items_free(v, i);
	return err;
}
