/*
 * routes_web.c: the console's files (web/), embedded in the binary at build
 * time (hc_embed in server/CMakeLists.txt) and served at "/".
 *
 * The console is a client like any other: it calls only /api/v1. Its files
 * are static, so each answer carries an ETag (the md5 of the file, computed
 * once) and a matching If-None-Match gets 304; browsers revalidate on each
 * load (no-cache), so a new binary's files are seen at once. Every answer
 * carries a strict Content-Security-Policy: scripts and styles only from this
 * origin, no inline script, no framing.
 *
 * Threading: the table and the ETags are read-only once computed (under
 * pthread_once); any worker.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "embedded.h"
#include "md5.h"
#include "srv_internal.h"

extern const hc_embedded hc_web[];

#define WEB_MAX_FILES 64

static char etags[WEB_MAX_FILES][36]; /* "\"<md5>\"" per hc_web entry */
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void etags_init(void)
{
	size_t i;
	char hex[33];

	for (i = 0; hc_web[i].name && i < WEB_MAX_FILES; i++) {
		md5_hex(hc_web[i].data, hc_web[i].len, hex);
		snprintf(etags[i], sizeof(etags[i]), "\"%s\"", hex);
	}
}

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".txt", "text/plain; charset=utf-8"},
    {"LICENSE", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t k = strlen(types[i].ext);
		if (n >= k && !strcmp(name + n - k, types[i].ext))
			return types[i].type;
	}
	return NULL;
}

static int lookup(const char *file)
{
	char name[256];
	size_t i;

	if (snprintf(name, sizeof(name), "web/%s", file) >= (int)sizeof(name))
		return -1;
	for (i = 0; hc_web[i].name && i < WEB_MAX_FILES; i++)
		if (!strcmp(hc_web[i].name, name))
			return content_type(name) ? (int)i : -1;
	return -1;
}

/* The embedded file for a request path ("" is the index), or -1. The
 * console's pages are hash routes ("/#/configs"), so no other path is a page. */
static int find_file(const char *file)
{
	return lookup(*file ? file : "index.html");
}

static void web_headers(struct MHD_Response *resp, const char *etag)
{
	MHD_del_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; style-src 'self'; "
				"img-src 'self' data:; connect-src 'self'; font-src 'self'; "
				"base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

enum MHD_Result srv_h_web(srv_req *r)
{
	const char *file = srv_param(r, "file");
	const char *inm = srv_header(r, "If-None-Match");
	struct MHD_Response *resp;
	int i;

	pthread_once(&etags_once, etags_init);
	i = find_file(file ? file : "");
	if (i < 0)
		return srv_reply_err(r, HC_ERR_NOT_FOUND, "no such page or file: %s", r->path);
	if (inm && strstr(inm, etags[i])) {
		resp = srv_response(0, (void *)"", NULL, NULL);
		if (resp)
			web_headers(resp, etags[i]);
		return srv_queue(r, MHD_HTTP_NOT_MODIFIED, resp);
	}
	resp = srv_response(hc_web[i].len, (void *)hc_web[i].data, NULL, NULL);
	if (resp) {
		web_headers(resp, etags[i]);
		MHD_add_response_header(resp, "Content-Type", content_type(hc_web[i].name));
	}
	return srv_queue(r, MHD_HTTP_OK, resp);
}
