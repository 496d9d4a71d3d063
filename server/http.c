/*
 * http.c: building and queueing responses, reading arguments and the
 * caller's identity, and JSON pieces the handlers share. Runs on
 * libmicrohttpd worker threads; touches only its own request.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hc_log.h"
#include "http_status.h"
#include "srv_internal.h"
#include "xmalloc.h"

struct MHD_Response *srv_response(size_t len, void *data, void (*free_fn)(void *), void *cls)
{
	struct MHD_Response *resp;

	if (free_fn)
		resp =
		    MHD_create_response_from_buffer_with_free_callback_cls(len, data, free_fn, cls);
	else
		resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (free_fn)
			free_fn(cls);
		return NULL;
	}
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return resp;
}

enum MHD_Result srv_queue_shared(srv_req *r, unsigned status, struct MHD_Response *resp)
{
	if (!resp)
		return MHD_NO;
	r->status = status;
	return MHD_queue_response(r->conn, status, resp);
}

enum MHD_Result srv_queue(srv_req *r, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret = srv_queue_shared(r, status, resp);

	if (resp)
		MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result srv_reply(srv_req *r, unsigned status, const char *ctype, sbuf *body)
{
	size_t len;
	char *data = sbuf_detach(body, &len);
	struct MHD_Response *resp = srv_response(len, data, free, data);

	if (resp && ctype)
		MHD_add_response_header(resp, "Content-Type", ctype);
	return srv_queue(r, status, resp);
}

void srv_error_body(sbuf *out, hc_err err, const char *msg)
{
	sbuf_addstr(out, "{\"error\":{\"code\":");
	sbuf_add_json_str(out, hc_err_code(err), strlen(hc_err_code(err)));
	sbuf_addstr(out, ",\"message\":");
	sbuf_add_json_str(out, msg, strlen(msg));
	sbuf_addstr(out, "}}\n");
}

static enum MHD_Result reply_errmsg(srv_req *r, hc_err err, const char *msg)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	unsigned status = srv_http_status(err);
	struct MHD_Response *resp;
	size_t len;
	char *data;

	srv_error_body(&body, err, msg);
	if (status >= 500)
		hc_log("%s %s: %u %s", r->method, r->path, status, msg);
	data = sbuf_detach(&body, &len);
	resp = srv_response(len, data, free, data);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (err == HC_ERR_UNAUTHORIZED)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"hotconf\"");
	if (err == HC_ERR_RATE_LIMIT || r->retry_after)
		MHD_add_response_header(resp, "Retry-After", r->retry_after ? r->retry_after : "1");
	if (err == HC_ERR_METHOD) {
		char allow[64];
		srv_methods_str(r->allowed, allow);
		MHD_add_response_header(resp, "Allow", allow);
	}
	return srv_queue(r, status, resp);
}

enum MHD_Result srv_reply_err(srv_req *r, hc_err err, const char *fmt, ...)
{
	sbuf msg = SBUF_INIT(4096);
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	sbuf_vaddf(&msg, fmt, ap);
	va_end(ap);
	ret = reply_errmsg(r, err, msg.buf);
	sbuf_release(&msg);
	return ret;
}

enum MHD_Result srv_reply_why(srv_req *r, hc_err err, const sbuf *why)
{
	return reply_errmsg(r, err, why->len ? why->buf : hc_err_code(err));
}

const char *srv_arg(srv_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_header(srv_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static hc_err int_arg(srv_req *r, const char *name, int64_t def, int64_t max, int64_t *out,
		      sbuf *why)
{
	const char *v = srv_arg(r, name);

	*out = def;
	if (!v)
		return HC_OK;
	if (val_int(v, out) || *out < 1 || *out > max) {
		sbuf_addf(why, "%s '%.40s' is invalid: use an integer from 1 to %lld", name, v,
			  (long long)max);
		return HC_ERR_INVALID;
	}
	return HC_OK;
}

hc_err srv_paging(srv_req *r, int64_t *page, int64_t *size, sbuf *why)
{
	hc_err err = int_arg(r, "page", 1, 1000000000, page, why);

	if (!err)
		err = int_arg(r, "size", 20, 500, size, why);
	return err;
}

/* The client's address: the peer, or with a trusted peer the rightmost
 * X-Forwarded-For address that is not itself a trusted proxy. */
static void caller_ip(srv_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const srv_config *cfg = &r->s->cfg;
	const char *xff;
	char *list, *tok;
	size_t i;
	int trusted = 0;

	r->ip[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip,
			  sizeof(r->ip));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->ip,
			  sizeof(r->ip));
	for (i = 0; i < cfg->ntrusted && !trusted; i++)
		trusted = cidr_match(&cfg->trusted[i], r->ip);
	xff = srv_header(r, "X-Forwarded-For");
	if (!trusted || !xff)
		return;
	list = xstrdup(xff);
	for (;;) {
		char *comma = strrchr(list, ',');
		size_t n;
		tok = comma ? comma + 1 : list;
		while (*tok == ' ')
			tok++;
		n = strcspn(tok, " ");
		tok[n] = '\0';
		trusted = 0;
		for (i = 0; i < cfg->ntrusted && !trusted; i++)
			trusted = cidr_match(&cfg->trusted[i], tok);
		if (!trusted || !comma) {
			if (*tok && n < sizeof(r->ip))
				memcpy(r->ip, tok, n + 1);
			break;
		}
		*comma = '\0';
	}
	free(list);
}

const char *srv_client_ip(srv_req *r)
{
	if (!r->ip[0])
		caller_ip(r);
	return r->ip;
}

hc_err srv_caller(srv_req *r, sbuf *why)
{
	const char *inst = srv_header(r, "X-Hotconf-Instance");
	const char *labels = srv_header(r, "X-Hotconf-Labels");

	caller_ip(r);
	if (inst && !r->instance)
		r->instance = xmemdupz(inst, strnlen(inst, 256));
	if (labels)
		return val_labels(labels, &r->labels, why);
	return HC_OK;
}

const gray_inst *srv_instance(srv_req *r)
{
	sbuf why = SBUF_INIT(1024);

	/* The labels passed val_labels in srv_caller, so this only fails for
	 * input no rule could match anyway: such a caller gets main content. */
	if (!r->inst_ready && gray_inst_new(r->instance, r->ip, r->labels.buf, &r->inst, &why))
		r->inst = NULL;
	r->inst_ready = 1;
	sbuf_release(&why);
	return r->inst;
}

void srv_effective(srv_req *r, const store_config *c, store_effective *out)
{
	store_gray_effective(c, c->gray ? srv_instance(r) : NULL, out);
}

cJSON *srv_json_body(srv_req *r)
{
	return r->body_too_big ? NULL : wb_json_parse(r->body.buf, r->body.len);
}

void srv_page_open(sbuf *body, int64_t total, int64_t page, int64_t size)
{
	sbuf_addf(body,
		  "{\"total\":%" PRId64 ",\"page\":%" PRId64 ",\"size\":%" PRId64 ",\"items\":[",
		  total, page, size);
}

void srv_json_time(sbuf *out, const char *key, int64_t ms)
{
	char ts[32];

	clock_format_iso(ms, ts);
	sbuf_addf(out, "\"%s\":\"%s\"", key, ts);
}

void srv_json_config_meta(sbuf *out, const store_config *c)
{
	sbuf_addstr(out, "{\"namespace\":");
	sbuf_add_json_str(out, c->ns, strlen(c->ns));
	sbuf_addstr(out, ",\"group\":");
	sbuf_add_json_str(out, c->group, strlen(c->group));
	sbuf_addstr(out, ",\"dataId\":");
	sbuf_add_json_str(out, c->data_id, strlen(c->data_id));
	sbuf_addf(out, ",\"format\":\"%s\",\"version\":%lld,\"md5\":\"%s\",\"revision\":%lld,",
		  c->format, (long long)c->version, c->md5, (long long)c->revision);
	srv_json_time(out, "createdAt", c->created_ms);
	sbuf_addch(out, ',');
	srv_json_time(out, "updatedAt", c->updated_ms);
	sbuf_addstr(out, ",\"author\":");
	sbuf_add_json_str(out, c->author, strlen(c->author));
	sbuf_addstr(out, ",\"description\":");
	sbuf_add_json_str(out, c->description, strlen(c->description));
	sbuf_addch(out, '}');
}
