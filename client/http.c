/*
 * http.c: every HTTP request libhotconf and the CLI make, on libcurl. An easy
 * handle per request, with the client's headers (token, instance, labels);
 * failover over the server list for blocking requests; the watch thread runs
 * the same handles in its multi handle (watch.c). Any thread: a request and
 * its response have one owner, and c->cur is atomic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "hcl.h"

void hcl_resp_release(hcl_resp *r)
{
	hcl_buf_release(&r->body);
	free(r->gray);
	r->gray = NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	hcl_resp *r = ud;
	size_t n = size * nmemb;

	if (r->body.len + n > HCL_MAX_BODY) {
		r->too_big = 1;
		return 0; /* aborts the transfer */
	}
	hcl_buf_add(&r->body, data, n);
	return n;
}

/* Copies a header's value, without surrounding blanks, into out[cap]. */
static void header_value(const char *v, size_t n, char *out, size_t cap)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* Takes the ETag, X-Hotconf-Version, -Format and -Gray of the final answer. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	hcl_resp *r = ud;
	size_t n = size * nmemb;
	const char *colon = memchr(data, ':', n);
	char val[256];
	size_t klen;

	if (n >= 5 && !memcmp(data, "HTTP/", 5)) {
		/* A new status line: an interim answer's headers do not count. */
		r->md5[0] = r->format[0] = '\0';
		r->version = 0;
		free(r->gray);
		r->gray = NULL;
		return n;
	}
	if (!colon)
		return n;
	klen = (size_t)(colon - data);
	header_value(colon + 1, n - klen - 1, val, sizeof(val));
	if (klen == 4 && !strncasecmp(data, "ETag", 4)) {
		size_t vl = strlen(val);
		if (vl == 34 && val[0] == '"' && val[33] == '"') {
			memcpy(r->md5, val + 1, 32);
			r->md5[32] = '\0';
		}
	} else if (klen == 17 && !strncasecmp(data, "X-Hotconf-Version", klen)) {
		r->version = strtoll(val, NULL, 10);
	} else if (klen == 16 && !strncasecmp(data, "X-Hotconf-Format", klen)) {
		header_value(colon + 1, n - klen - 1, r->format, sizeof(r->format));
	} else if (klen == 14 && !strncasecmp(data, "X-Hotconf-Gray", klen) && *val) {
		free(r->gray);
		r->gray = hcl_xstrdup(val);
	}
	return n;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
	hcl_buf h = {0};
	struct curl_slist *n;

	hcl_buf_addf(&h, "%s: %s", name, value);
	n = curl_slist_append(l, h.buf);
	hcl_buf_release(&h);
	if (!n) {
		fprintf(stderr, "libhotconf: out of memory\n");
		abort();
	}
	return n;
}

CURL *hcl_easy(hotconf_client *c, const char *base, const hcl_req *rq, hcl_resp *out,
	       struct curl_slist **hdrs)
{
	long timeout = rq->timeout_ms ? rq->timeout_ms : c->timeout_ms;
	struct curl_slist *h = NULL;
	hcl_buf url = {0};
	CURL *e = curl_easy_init();

	if (!e) {
		fprintf(stderr, "libhotconf: curl_easy_init failed\n");
		abort();
	}
	hcl_buf_addf(&url, "%s%s", base, rq->path);
	curl_easy_setopt(e, CURLOPT_URL, url.buf);
	hcl_buf_release(&url); /* libcurl copies it */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 c->timeout_ms < timeout ? c->timeout_ms : timeout);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, out->error);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "libhotconf/" HOTCONF_VERSION_STRING);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (!strcmp(rq->method, "GET")) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(rq->method, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
		if (rq->body || strcmp(rq->method, "DELETE")) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
			h = add_header(h, "Content-Type",
				       rq->content_type ? rq->content_type : "application/json");
		}
	}
	/* No "Expect: 100-continue" round trip before a body. */
	h = curl_slist_append(h, "Expect:");
	if (c->token) {
		hcl_buf auth = {0};
		hcl_buf_addf(&auth, "Bearer %s", c->token);
		h = add_header(h, "Authorization", auth.buf);
		hcl_buf_release(&auth);
	}
	if (c->instance)
		h = add_header(h, "X-Hotconf-Instance", c->instance);
	if (c->labels)
		h = add_header(h, "X-Hotconf-Labels", c->labels);
	if (rq->if_match)
		h = add_header(h, "If-Match", rq->if_match);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	*hdrs = h;
	return e;
}

void hcl_finish(CURL *e, CURLcode rc, hcl_resp *out)
{
	long status = 0;

	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	else if (!out->error[0])
		snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
	if (out->too_big) {
		snprintf(out->error, sizeof(out->error), "answer larger than %u bytes",
			 HCL_MAX_BODY);
		status = 0;
	}
	out->status = status;
}

int hcl_failed(const hcl_resp *r)
{
	return r->status == 0 || r->status >= 500;
}

int hcl_request(hotconf_client *c, const hcl_req *rq, hcl_resp *out)
{
	size_t first = atomic_load(&c->cur) % c->nservers, i;

	for (i = 0; i < c->nservers; i++) {
		size_t k = (first + i) % c->nservers;
		struct curl_slist *hdrs = NULL;
		CURL *e;
		CURLcode rc;

		hcl_resp_release(out);
		memset(out, 0, sizeof(*out));
		e = hcl_easy(c, c->servers[k], rq, out, &hdrs);
		rc = curl_easy_perform(e);
		hcl_finish(e, rc, out);
		curl_easy_cleanup(e);
		curl_slist_free_all(hdrs);
		if (!hcl_failed(out)) {
			atomic_store(&c->cur, k);
			return HOTCONF_OK;
		}
		if (out->status)
			hcl_log(c, "%s %s%s: status %ld, trying the next server", rq->method,
				c->servers[k], rq->path, out->status);
		else
			hcl_log(c, "%s %s%s: %s, trying the next server", rq->method, c->servers[k],
				rq->path, out->error);
	}
	return HOTCONF_EUNAVAILABLE;
}

int hcl_status_err(long status)
{
	if ((status >= 200 && status < 300) || status == 304)
		return HOTCONF_OK;
	if (status == 404)
		return HOTCONF_ENOTFOUND;
	if (status == 409 || status == 412)
		return HOTCONF_ECONFLICT;
	if (status == 401 || status == 403)
		return HOTCONF_EAUTH;
	if (status == 0 || status >= 500)
		return HOTCONF_EUNAVAILABLE;
	if (status == 400)
		return HOTCONF_EINVAL;
	return HOTCONF_EPROTO;
}

const char *hcl_error_message(const hcl_resp *r, char *buf, size_t n)
{
	cJSON *doc, *err, *msg;

	if (!r->status) {
		snprintf(buf, n, "%s", r->error[0] ? r->error : "no answer");
		return buf;
	}
	doc = cJSON_ParseWithLength(hcl_buf_str(&r->body), r->body.len);
	err = cJSON_GetObjectItemCaseSensitive(doc, "error");
	msg = cJSON_GetObjectItemCaseSensitive(err, "message");
	if (cJSON_IsString(msg))
		snprintf(buf, n, "%s", msg->valuestring);
	else
		snprintf(buf, n, "the server answered %ld", r->status);
	cJSON_Delete(doc);
	return buf;
}
