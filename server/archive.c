/*
 * archive.c: see archive.h. libzip reads and writes zips in memory buffers
 * (zip_source_buffer). manifest.json is parsed with cJSON; .metadata.yml goes
 * through conv_convert (yaml -> json, with its alias and depth caps) and then
 * cJSON. Reading is two passes: every header is checked before any byte is
 * inflated, then each entry is inflated under its declared size. No shared
 * state; any thread.
 */
#include "archive.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "cfgkey.h"
#include "convert.h"
#include "format.h"
#include "hc_log.h"
#include "hmap.h"
#include "md5.h"
#include "utf8.h"
#include "validate.h"
#include "xmalloc.h"

#define META_V1 ".meta.yml"
#define META_V2 ".metadata.yml"

/* ---- writing ---- */

struct arch_writer {
	zip_source_t *src; /* the zip's bytes; we hold a reference of our own */
	zip_t *za;	   /* NULL once finished */
	int spent;
};

arch_writer *arch_writer_new(void)
{
	arch_writer *w = xcalloc(1, sizeof(*w));
	zip_error_t ze;

	zip_error_init(&ze);
	w->src = zip_source_buffer_create(NULL, 0, 0, &ze);
	if (w->src) {
		zip_source_keep(w->src); /* zip_close() drops libzip's; we read it after */
		w->za = zip_open_from_source(w->src, ZIP_TRUNCATE, &ze);
	}
	if (!w->za) {
		/* Nothing but memory can fail for an empty buffer. */
		hc_log("archive: cannot start a zip in memory: %s", zip_error_strerror(&ze));
		abort();
	}
	zip_error_fini(&ze);
	return w;
}

hc_err arch_add(arch_writer *w, const char *path, const void *data, size_t len)
{
	zip_source_t *s;
	zip_int64_t idx;
	void *copy;

	if (w->spent)
		return HC_ERR_INTERNAL;
	if (!path || !*path || zip_name_locate(w->za, path, ZIP_FL_ENC_RAW) >= 0)
		return HC_ERR_INVALID;
	/* libzip frees the copy, but not one of length 0: pass no buffer then. */
	copy = len ? xmemdupz(data, len) : NULL;
	s = zip_source_buffer(w->za, copy, len, len > 0);
	if (!s) {
		free(copy);
		hc_log("archive: %s: %s", path, zip_strerror(w->za));
		return HC_ERR_INTERNAL;
	}
	idx = zip_file_add(w->za, path, s, ZIP_FL_ENC_UTF_8);
	if (idx < 0) {
		hc_log("archive: cannot add %s: %s", path, zip_strerror(w->za));
		zip_source_free(s);
		return HC_ERR_INTERNAL;
	}
	/* DOS time 00:00, date 1980-01-01: no clock, no time zone. */
	zip_file_set_dostime(w->za, (zip_uint64_t)idx, 0, (1 << 5) | 1, 0);
	return HC_OK;
}

hc_err arch_finish(arch_writer *w, sbuf *zip_out)
{
	/* The empty zip: its end-of-central-directory record alone. libzip
	 * writes nothing at all for an archive without entries. */
	static const char empty[22] = {'P', 'K', 5, 6};
	zip_stat_t st;
	zip_int64_t got;
	hc_err err;

	if (w->spent)
		return HC_ERR_INTERNAL;
	w->spent = 1;
	if (zip_get_num_entries(w->za, 0) == 0) {
		zip_discard(w->za);
		w->za = NULL;
		return sbuf_add(zip_out, empty, sizeof(empty));
	}
	if (zip_close(w->za) < 0) {
		hc_log("archive: cannot finish the zip: %s", zip_strerror(w->za));
		zip_discard(w->za);
		w->za = NULL;
		return HC_ERR_INTERNAL;
	}
	w->za = NULL;
	zip_stat_init(&st);
	if (zip_source_stat(w->src, &st) < 0 || zip_source_open(w->src) < 0) {
		hc_log("archive: cannot read the finished zip: %s",
		       zip_error_strerror(zip_source_error(w->src)));
		return HC_ERR_INTERNAL;
	}
	err = sbuf_grow(zip_out, (size_t)st.size);
	if (!err) {
		got = zip_source_read(w->src, zip_out->buf + zip_out->len, st.size);
		if (got != (zip_int64_t)st.size) {
			err = HC_ERR_INTERNAL;
		} else {
			zip_out->len += (size_t)got;
			zip_out->buf[zip_out->len] = '\0';
		}
	}
	zip_source_close(w->src);
	return err;
}

void arch_writer_free(arch_writer *w)
{
	if (!w)
		return;
	if (w->za)
		zip_discard(w->za);
	zip_source_free(w->src);
	free(w);
}

/* A valid hotconf name that is also a safe path segment. */
static int name_ok(const char *s)
{
	return s && cfgkey_name_ok(s, strlen(s));
}

static void json_field(sbuf *sb, const char *key, const char *val, int last)
{
	sbuf_addf(sb, "      \"%s\": ", key);
	sbuf_add_json_str(sb, val, strlen(val));
	sbuf_addstr(sb, last ? "\n" : ",\n");
}

hc_err arch_export(const arch_export_item *items, size_t n, const char *ns, sbuf *zip_out)
{
	sbuf man = SBUF_INIT(SBUF_NOMAX), path = SBUF_INIT(SBUF_NOMAX);
	arch_writer *w = arch_writer_new();
	char md5[MD5_HEX_LEN + 1];
	hc_err err = HC_OK;
	size_t i;

	ns = ns ? ns : "";
	sbuf_addstr(&man, "{\n  \"format\": \"" ARCH_FORMAT "\",\n  \"namespace\": ");
	sbuf_add_json_str(&man, ns, strlen(ns));
	sbuf_addstr(&man, ",\n  \"configs\": [");
	for (i = 0; i < n; i++) {
		const arch_export_item *it = &items[i];
		if (!name_ok(it->group) || !name_ok(it->data_id) || !it->format ||
		    !fmt_ok(it->format) || (!it->content && it->len)) {
			err = HC_ERR_INVALID;
			goto done;
		}
		md5_hex(it->content ? it->content : "", it->len, md5);
		sbuf_addstr(&man, i ? ",\n    {\n" : "\n    {\n");
		json_field(&man, "group", it->group, 0);
		json_field(&man, "dataId", it->data_id, 0);
		json_field(&man, "format", it->format, 0);
		json_field(&man, "description", it->description ? it->description : "", 0);
		sbuf_addf(&man, "      \"version\": %lld,\n", (long long)it->version);
		json_field(&man, "md5", md5, 1);
		sbuf_addstr(&man, "    }");
	}
	sbuf_addstr(&man, n ? "\n  ]\n}\n" : "]\n}\n");
	err = arch_add(w, ARCH_MANIFEST, man.buf, man.len);
	for (i = 0; i < n && !err; i++) {
		sbuf_reset(&path);
		sbuf_addf(&path, "%s/%s", items[i].group, items[i].data_id);
		err = arch_add(w, path.buf, items[i].content ? items[i].content : "", items[i].len);
	}
	if (!err)
		err = arch_finish(w, zip_out);
done:
	arch_writer_free(w);
	sbuf_release(&man);
	sbuf_release(&path);
	return err;
}

/* ---- reading ---- */

enum { K_DIR, K_FILE, K_MANIFEST, K_META_V1, K_META_V2 };

/* One zip entry, and what the metadata says about it. */
typedef struct ent {
	zip_uint64_t index;
	int kind;
	char *name; /* raw bytes from the archive, NUL-terminated */
	size_t nlen;
	zip_uint64_t size; /* declared, uncompressed */
	char *data;	   /* inflated, NUL-terminated */
	size_t len;
	/* From the manifest or .metadata.yml: */
	int listed;
	char *format;
	char *description;
	int64_t version;
} ent;

typedef struct rd {
	zip_t *za;
	const arch_limits *lim;
	sbuf *why;
	ent *v;
	size_t n;
	hmap *files; /* "group/dataId" -> ent, for K_FILE */
	ent *manifest, *meta1, *meta2;
} rd;

/* Appends an entry name for a message: controls (and, when the name is not
 * UTF-8, every byte above 0x7f) as \xNN, at most 100 bytes. */
static void add_name(sbuf *sb, const char *name, size_t n)
{
	int utf8 = utf8_valid(name, n);
	size_t i;

	sbuf_addch(sb, '\'');
	for (i = 0; i < n && i < 100; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8) || c == '\'')
			sbuf_addf(sb, "\\x%02x", c);
		else
			sbuf_addch(sb, (char)c);
	}
	sbuf_addstr(sb, n > 100 ? "...'" : "'");
}

static hc_err ent_fail(rd *r, const ent *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hc_err ent_fail(rd *r, const ent *e, const char *fmt, ...)
{
	va_list ap;

	sbuf_addstr(r->why, "archive entry ");
	add_name(r->why, e->name, e->nlen);
	sbuf_addch(r->why, ' ');
	va_start(ap, fmt);
	sbuf_vaddf(r->why, fmt, ap);
	va_end(ap);
	return HC_ERR_INVALID;
}

/* What kind of entry a name makes (K_*), or -1 with *bad saying why not. */
static int classify(const char *name, size_t n, const char **bad)
{
	const char *slash = memchr(name, '/', n);
	char group[130], data_id[130];
	size_t i, g;

	*bad = NULL;
	if (!n)
		*bad = "has an empty name";
	else if (!utf8_valid(name, n))
		*bad = "is not valid UTF-8";
	else if (memchr(name, '\\', n))
		*bad = "contains a backslash";
	else if (name[0] == '/')
		*bad = "is an absolute path";
	for (i = 0; !*bad && i < n; i++) {
		size_t end = i;
		while (end < n && name[end] != '/')
			end++;
		if (end - i == 2 && !memcmp(name + i, "..", 2))
			*bad = "climbs out with '..'";
		else if (end - i == 1 && name[i] == '.')
			*bad = "has a '.' segment";
		else if (end == i && end < n)
			*bad = "has an empty path segment";
		i = end;
	}
	if (*bad)
		return -1;
	if (!slash) {
		if (!strcmp(name, ARCH_MANIFEST))
			return K_MANIFEST;
		if (!strcmp(name, META_V2))
			return K_META_V2;
		if (!strcmp(name, META_V1))
			return K_META_V1;
		*bad = "is not group/dataId";
		return -1;
	}
	g = (size_t)(slash - name);
	if (memchr(slash + 1, '/', n - g - 1)) {
		*bad = "is not group/dataId";
		return -1;
	}
	/* Longer than a name may be: left empty, so invalid below. */
	group[0] = data_id[0] = '\0';
	if (g < sizeof(group)) {
		memcpy(group, name, g);
		group[g] = '\0';
	}
	if (n - g - 1 < sizeof(data_id)) {
		memcpy(data_id, slash + 1, n - g - 1);
		data_id[n - g - 1] = '\0';
	}
	if (!name_ok(group))
		*bad = "has a group that is not a valid name ([A-Za-z0-9._:-], 1-128)";
	else if (n == g + 1)
		return K_DIR;
	else if (!name_ok(data_id))
		*bad = "has a dataId that is not a valid name ([A-Za-z0-9._:-], 1-128)";
	return *bad ? -1 : K_FILE;
}

/* Checks one header: name, duplicates, encryption, method, links, sizes. */
static hc_err check_header(rd *r, zip_uint64_t i, zip_uint64_t *total)
{
	const arch_limits *lim = r->lim;
	ent *e = &r->v[r->n];
	const char *bad;
	zip_uint8_t opsys;
	zip_uint32_t attr;
	zip_stat_t st;

	zip_stat_init(&st);
	if (zip_stat_index(r->za, i, ZIP_FL_ENC_RAW, &st) < 0 || !(st.valid & ZIP_STAT_NAME)) {
		sbuf_addf(r->why, "the zip archive is corrupt: entry %llu: %s",
			  (unsigned long long)i, zip_strerror(r->za));
		return HC_ERR_INVALID;
	}
	memset(e, 0, sizeof(*e));
	e->index = i;
	e->nlen = strlen(st.name);
	e->name = xmemdupz(st.name, e->nlen);
	e->size = st.size;
	r->n++;
	e->kind = classify(e->name, e->nlen, &bad);
	if (bad)
		return ent_fail(r, e, "%s", bad);
	if (e->kind == K_FILE && hmap_put(r->files, e->name, e->nlen, e))
		return ent_fail(r, e, "appears twice");
	if ((e->kind == K_MANIFEST && r->manifest) || (e->kind == K_META_V1 && r->meta1) ||
	    (e->kind == K_META_V2 && r->meta2))
		return ent_fail(r, e, "appears twice");
	r->manifest = e->kind == K_MANIFEST ? e : r->manifest;
	r->meta1 = e->kind == K_META_V1 ? e : r->meta1;
	r->meta2 = e->kind == K_META_V2 ? e : r->meta2;
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
		return ent_fail(r, e, "is encrypted");
	if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE &&
	    st.comp_method != ZIP_CM_DEFLATE)
		return ent_fail(r, e, "uses compression method %d; only store and deflate are read",
				(int)st.comp_method);
	if (!zip_file_get_external_attributes(r->za, i, 0, &opsys, &attr) &&
	    opsys == ZIP_OPSYS_UNIX && ((attr >> 16) & 0170000) == 0120000)
		return ent_fail(r, e, "is a symbolic link");
	if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
		return ent_fail(r, e, "has no sizes in its header");
	if (e->kind == K_DIR && st.size)
		return ent_fail(r, e, "is a directory with content");
	if (st.size > lim->max_entry_bytes)
		return ent_fail(r, e, "would inflate to %llu bytes, over the %zu-byte cap",
				(unsigned long long)st.size, lim->max_entry_bytes);
	*total += st.size;
	if (*total > lim->max_total_bytes) {
		sbuf_addf(r->why, "the archive would inflate to more than %zu bytes",
			  lim->max_total_bytes);
		return HC_ERR_INVALID;
	}
	if (st.size > ARCH_RATIO_FLOOR &&
	    st.size / (st.comp_size ? st.comp_size : 1) > lim->max_ratio)
		return ent_fail(r, e, "compresses %llu:1, over the %u:1 cap (a zip bomb?)",
				(unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)),
				lim->max_ratio);
	return HC_OK;
}

/* Inflates one entry, never past the size its header declares: a header
 * that lies about it is caught here, one byte over. */
static hc_err inflate_ent(rd *r, ent *e)
{
	zip_file_t *zf = zip_fopen_index(r->za, e->index, 0);
	size_t got = 0;
	zip_int64_t k;
	hc_err err = HC_OK;

	if (!zf)
		return ent_fail(r, e, "cannot be read: %s", zip_strerror(r->za));
	e->data = xmalloc((size_t)e->size + 2);
	for (;;) {
		k = zip_fread(zf, e->data + got, (size_t)e->size + 1 - got);
		if (k < 0) {
			err = ent_fail(r, e, "is corrupt: %s", zip_file_strerror(zf));
			break;
		}
		if (k == 0)
			break;
		got += (size_t)k;
		if (got > e->size) {
			err = ent_fail(r, e,
				       "inflates past the %llu bytes its header declares (a zip "
				       "bomb?)",
				       (unsigned long long)e->size);
			break;
		}
	}
	if (!err && got < e->size)
		err = ent_fail(r, e, "is truncated: %zu of %llu bytes", got,
			       (unsigned long long)e->size);
	zip_fclose(zf);
	e->len = got;
	e->data[got] = '\0';
	return err;
}

static const char *str_item(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* The file a metadata item names, claimed once. */
static ent *claim(rd *r, const char *meta, const char *group, const char *data_id, size_t k)
{
	sbuf key = SBUF_INIT(SBUF_NOMAX);
	ent *e = NULL;

	if (!name_ok(group) || !name_ok(data_id)) {
		sbuf_addf(r->why, "%s: item %zu has no valid group and dataId", meta, k + 1);
		return NULL;
	}
	sbuf_addf(&key, "%s/%s", group, data_id);
	e = hmap_get(r->files, key.buf, key.len);
	if (!e)
		sbuf_addf(r->why, "%s lists '%s', which is not in the archive", meta, key.buf);
	else if (e->listed)
		sbuf_addf(r->why, "%s lists '%s' twice", meta, key.buf);
	sbuf_release(&key);
	if (!e || e->listed)
		return NULL;
	e->listed = 1;
	return e;
}

static hc_err all_listed(rd *r, const char *meta)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].kind == K_FILE && !r->v[i].listed)
			return ent_fail(r, &r->v[i], "is not listed in %s", meta);
	return HC_OK;
}

/* manifest.json: every field checked, every md5 compared. */
static hc_err read_manifest(rd *r, arch_entries *out)
{
	cJSON *root = cJSON_ParseWithLength(r->manifest->data, r->manifest->len);
	const cJSON *configs = cJSON_GetObjectItemCaseSensitive(root, "configs"), *c;
	const char *format = str_item(root, "format"), *ns = str_item(root, "namespace");
	char md5[MD5_HEX_LEN + 1];
	hc_err err = HC_ERR_INVALID;
	size_t k = 0;

	if (!cJSON_IsObject(root) || !format || !ns || !cJSON_IsArray(configs)) {
		sbuf_addstr(r->why, "manifest.json is not a JSON object with format, namespace "
				    "and configs");
		goto done;
	}
	if (strcmp(format, ARCH_FORMAT)) {
		sbuf_addf(r->why,
			  "manifest.json has format '%.40s'; this hotconf reads " ARCH_FORMAT,
			  format);
		goto done;
	}
	cJSON_ArrayForEach(c, configs)
	{
		const char *f = str_item(c, "format"), *sum = str_item(c, "md5");
		const cJSON *ver = cJSON_GetObjectItemCaseSensitive(c, "version");
		const cJSON *desc = cJSON_GetObjectItemCaseSensitive(c, "description");
		ent *e;
		if (!cJSON_IsObject(c) || !f || !fmt_ok(f) || !sum || strlen(sum) != MD5_HEX_LEN ||
		    !cJSON_IsNumber(ver) || ver->valuedouble < 0 ||
		    ver->valuedouble > 9007199254740992.0 ||
		    ver->valuedouble != (double)(int64_t)ver->valuedouble ||
		    (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))) {
			sbuf_addf(r->why,
				  "manifest.json: configs[%zu] needs group, dataId, format (text, "
				  "json, yaml, properties or xml), description, version and md5",
				  k);
			goto done;
		}
		if (!(e = claim(r, "manifest.json", str_item(c, "group"), str_item(c, "dataId"),
				k)))
			goto done;
		md5_hex(e->data, e->len, md5);
		if (strcasecmp(md5, sum)) {
			ent_fail(r, e, "has md5 %s, but manifest.json says %.32s", md5, sum);
			goto done;
		}
		e->format = xstrdup(f);
		e->description = xstrdup(cJSON_IsString(desc) ? desc->valuestring : "");
		e->version = (int64_t)ver->valuedouble;
		k++;
	}
	if (!(err = all_listed(r, "manifest.json")))
		out->ns = xstrdup(ns);
done:
	cJSON_Delete(root);
	return err;
}

/* Nacos' types, as hotconf formats: what hotconf has no format for is text. */
static const char *nacos_format(const char *type)
{
	static const char *const known[] = {"json", "yaml", "properties", "xml", "text"};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(type, known[i]))
			return known[i];
	return "text";
}

/* .metadata.yml (Nacos export v2): {metadata: [{dataId, group, type, desc}]}. */
static hc_err read_meta_v2(rd *r)
{
	sbuf json = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);
	const cJSON *list, *it;
	cJSON *root = NULL;
	hc_err err = HC_ERR_INVALID;
	size_t k = 0;

	if (conv_convert("yaml", r->meta2->data, r->meta2->len, "json", &json, &why)) {
		sbuf_addf(r->why, META_V2 " does not parse: %s", why.buf);
		goto done;
	}
	root = cJSON_ParseWithLength(json.buf, json.len);
	list = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list)) {
		sbuf_addstr(r->why, META_V2 " has no metadata list");
		goto done;
	}
	cJSON_ArrayForEach(it, list)
	{
		const char *type = str_item(it, "type");
		const cJSON *desc = cJSON_GetObjectItemCaseSensitive(it, "desc");
		ent *e;
		if (!type || !*type || (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))) {
			sbuf_addf(r->why, META_V2 ": item %zu needs dataId, group and type", k + 1);
			goto done;
		}
		if (!(e = claim(r, META_V2, str_item(it, "group"), str_item(it, "dataId"), k)))
			goto done;
		e->format = xstrdup(nacos_format(type));
		e->description = cJSON_IsString(desc) ? xstrdup(desc->valuestring) : NULL;
		k++;
	}
	err = all_listed(r, META_V2);
done:
	cJSON_Delete(root);
	sbuf_release(&json);
	sbuf_release(&why);
	return err;
}

/* .meta.yml (Nacos export v1): "group.dataId.app=appName" lines. hotconf has
 * no appName, so only the shape is checked, as Nacos checks it. */
static hc_err read_meta_v1(rd *r)
{
	const char *p = r->meta1->data, *end = p + r->meta1->len;

	if (!utf8_valid(p, r->meta1->len)) {
		sbuf_addstr(r->why, META_V1 " is not valid UTF-8");
		return HC_ERR_INVALID;
	}
	while (p < end) {
		const char *eol = p, *eq;
		while (eol < end && *eol != '\r' && *eol != '\n')
			eol++;
		eq = memchr(p, '=', (size_t)(eol - p));
		if (eol > p && (!eq || memchr(eq + 1, '=', (size_t)(eol - eq - 1)))) {
			sbuf_addf(r->why, META_V1 ": '%.*s' is not group.dataId.app=appName",
				  (int)(eol - p > 60 ? 60 : eol - p), p);
			return HC_ERR_INVALID;
		}
		p = eol + (eol < end);
	}
	return HC_OK;
}

static void free_ents(rd *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].data);
		free(r->v[i].description);
		free(r->v[i].format);
	}
	free(r->v);
}

/* Appends ": 'name'" for the first name in the zip that appears twice.
 * Opened without ZIP_CHECKCONS, libzip keeps duplicates instead of failing. */
static void add_dup_name(const void *zip, size_t len, sbuf *why)
{
	zip_source_t *src;
	zip_t *za;
	zip_error_t ze;
	zip_int64_t i, n;
	hmap *seen;

	zip_error_init(&ze);
	src = zip_source_buffer_create(zip, len, 0, &ze);
	if (!src)
		abort(); /* out of memory, as xmalloc would */
	za = zip_open_from_source(src, ZIP_RDONLY, &ze);
	zip_error_fini(&ze);
	if (!za) {
		zip_source_free(src);
		return;
	}
	seen = hmap_new(); /* a set: the value only needs to be non-NULL */
	n = zip_get_num_entries(za, 0);
	for (i = 0; i < n; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		if (name && hmap_put(seen, name, strlen(name), za)) {
			sbuf_addstr(why, ": ");
			add_name(why, name, strlen(name));
			break;
		}
	}
	hmap_free(seen);
	zip_discard(za);
}

/* Opens the zip; a duplicate name (libzip refuses those under
 * ZIP_CHECKCONS) is looked for again without it, to name it. */
static hc_err open_zip(const void *zip, size_t len, zip_t **za, sbuf *why)
{
	zip_source_t *src;
	zip_error_t ze;
	int code;

	*za = NULL;
	if (!len) {
		sbuf_addstr(why, "the archive is empty, not a zip");
		return HC_ERR_INVALID;
	}
	zip_error_init(&ze);
	src = zip_source_buffer_create(zip, len, 0, &ze);
	if (!src)
		abort(); /* out of memory, as xmalloc would */
	*za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (*za) {
		zip_error_fini(&ze);
		return HC_OK;
	}
	zip_source_free(src);
	code = zip_error_code_zip(&ze);
	if (code == ZIP_ER_EXISTS) {
		sbuf_addstr(why, "two archive entries have the same name");
		add_dup_name(zip, len, why);
	} else if (code == ZIP_ER_NOZIP) {
		sbuf_addstr(why, "not a zip archive (or a truncated or damaged one)");
	} else {
		sbuf_addf(why, "the zip archive is corrupt or truncated: %s",
			  zip_error_strerror(&ze));
	}
	zip_error_fini(&ze);
	return HC_ERR_INVALID;
}

static hc_err read_all(rd *r, arch_entries *out)
{
	zip_int64_t n = zip_get_num_entries(r->za, 0);
	zip_uint64_t total = 0;
	hc_err err = HC_OK;
	size_t i, files = 0;

	if (n < 0 || (zip_uint64_t)n > r->lim->max_entries) {
		sbuf_addf(r->why, "the archive has %lld entries, over the cap of %zu", (long long)n,
			  r->lim->max_entries);
		return HC_ERR_INVALID;
	}
	r->v = xcalloc((size_t)n + 1, sizeof(*r->v));
	for (i = 0; i < (size_t)n && !err; i++)
		err = check_header(r, i, &total);
	for (i = 0; i < r->n && !err; i++) {
		files += r->v[i].kind == K_FILE;
		if (r->v[i].kind != K_DIR)
			err = inflate_ent(r, &r->v[i]);
	}
	if (err)
		return err;
	if (r->manifest && (r->meta1 || r->meta2)) {
		sbuf_addstr(r->why, "the archive has both manifest.json and Nacos metadata");
		return HC_ERR_INVALID;
	}
	if (r->meta1 && r->meta2) {
		sbuf_addstr(r->why, "the archive has both " META_V1 " and " META_V2);
		return HC_ERR_INVALID;
	}
	if (!r->manifest && !files) {
		sbuf_addstr(r->why, "the archive holds no configs");
		return HC_ERR_INVALID;
	}
	out->layout = r->manifest ? ARCH_HOTCONF : r->meta2 ? ARCH_NACOS_V2 : ARCH_NACOS_V1;
	if (r->manifest)
		return read_manifest(r, out);
	if (r->meta2)
		return read_meta_v2(r);
	return r->meta1 ? read_meta_v1(r) : HC_OK;
}

/* Moves each file's config into out, in the archive's order. */
static void take_entries(rd *r, arch_entries *out)
{
	size_t i;

	out->v = xcalloc(r->n + 1, sizeof(*out->v));
	for (i = 0; i < r->n; i++) {
		ent *e = &r->v[i];
		arch_entry *a;
		const char *slash;
		if (e->kind != K_FILE)
			continue;
		a = &out->v[out->n++];
		slash = strchr(e->name, '/');
		a->group = xmemdupz(e->name, (size_t)(slash - e->name));
		a->data_id = xstrdup(slash + 1);
		a->content = e->data;
		a->len = e->len;
		a->format = e->format;
		a->description = e->description;
		a->version = e->version;
		e->data = e->format = e->description = NULL;
	}
}

hc_err arch_read(const void *zip, size_t len, const arch_limits *lim, arch_entries *out, sbuf *why)
{
	rd r = {0};
	hc_err err;

	r.lim = lim;
	r.why = why;
	err = open_zip(zip, len, &r.za, why);
	if (err)
		return err;
	r.files = hmap_new();
	err = read_all(&r, out);
	if (!err)
		take_entries(&r, out);
	else
		arch_entries_release(out);
	free_ents(&r);
	hmap_free(r.files);
	zip_discard(r.za);
	return err;
}

void arch_entries_init(arch_entries *e)
{
	memset(e, 0, sizeof(*e));
}

void arch_entries_release(arch_entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].group);
		free(e->v[i].data_id);
		free(e->v[i].content);
		free(e->v[i].format);
		free(e->v[i].description);
	}
	free(e->v);
	free(e->ns);
	arch_entries_init(e);
}
