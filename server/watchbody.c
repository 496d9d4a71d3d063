/*
 * watchbody.c: see watchbody.h. Pure; any thread.
 */
#include "watchbody.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

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

	for (i = 0; items && i < n; i++)
		cfgkey_release(&items[i].key);
	free(items);
}

hc_err wb_parse(const char *body, size_t len, srv_watch_item **items, size_t *count, sbuf *why)
{
	cJSON *doc = wb_json_parse(body, len), *list, *e;
	srv_watch_item *v = NULL;
	hc_err err = HC_ERR_INVALID;
	size_t n, i = 0;

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
		const char *ns = member(e, "namespace", "public");
		const char *group = member(e, "group", "DEFAULT_GROUP");
		const char *id = member(e, "dataId", NULL), *md5 = member(e, "md5", "");

		if (!cJSON_IsObject(e) || !ns || !group || !id || !md5 || strlen(md5) > 32) {
			sbuf_addf(why,
				  "configs[%zu] must have a string dataId and optional string "
				  "namespace, group and md5",
				  i);
			err = HC_ERR_INVALID;
			goto fail;
		}
		if ((err = val_name("namespace", ns, why)) ||
		    (err = val_name("group", group, why)) || (err = val_name("dataId", id, why)) ||
		    (err = cfgkey_init(&v[i].key, ns, group, id)))
			goto fail;
		memcpy(v[i].md5, md5, strlen(md5) + 1);
		i++;
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
