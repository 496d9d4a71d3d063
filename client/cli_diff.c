/*
 * cli_diff.c: `hotconf diff NS/GROUP/DATAID V1 [V2]`: a unified diff (three
 * lines of context) between two versions of a config, or a version and the
 * current content, coloured on a terminal. The diff itself is common/diff.c
 * (the server's change requests show the same). Single-threaded.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "diff.h"

static int b64_val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes standard base64 into out, stopping at '=' or a bad byte. */
static void b64_decode(const char *s, sbuf *out)
{
	unsigned acc = 0;
	int bits = 0, v;

	for (; *s && (v = b64_val((unsigned char)*s)) >= 0; s++) {
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			sbuf_addch(out, (char)((acc >> bits) & 0xff));
		}
	}
}

/* The content of one version (history entry) into out. */
static int fetch_version(cli_ctx *ctx, const char *cfg_path, long long v, sbuf *out)
{
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *doc, *content;
	int rc;

	sbuf_addf(&p, "%s/history/%lld", cfg_path, v);
	rq.method = "GET";
	rq.path = p.buf;
	rc = cli_call(ctx, &rq, &r);
	if (!rc) {
		doc = cJSON_ParseWithLength(hcl_buf_str(&r.body), r.body.len);
		content = cJSON_GetObjectItemCaseSensitive(doc, "content");
		if (cJSON_IsString(content))
			sbuf_addstr(out, content->valuestring);
		else
			b64_decode(cli_jstr(doc, "contentBase64"), out);
		cJSON_Delete(doc);
	}
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

static int parse_version(const char *s, long long *v)
{
	char *end;

	if (!s || *s < '1' || *s > '9')
		return -1;
	*v = strtoll(s, &end, 10);
	return *end ? -1 : 0;
}

int cli_want_color(const char *when)
{
	const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

	if (!when || !strcmp(when, "auto"))
		return isatty(STDOUT_FILENO) && !(no && *no) && !(term && !strcmp(term, "dumb"));
	return !strcmp(when, "always") ? 1 : 0;
}

int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
	const char *when = NULL;
	const cli_opt opts[] = {
	    {"color", 0, "WHEN", "auto (on a terminal, unless NO_COLOR is set), always or never",
	     &when, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	static const diff_colors plain = {"", "", "", ""};
	static const diff_colors ansi = {"\033[31m", "\033[32m", "\033[36m", "\033[m"};
	const char *meta;
	char ns[HCL_NAME_MAX + 1], group[HCL_NAME_MAX + 1], id[HCL_NAME_MAX + 1];
	sbuf cp = SBUF_INIT(SBUF_NOMAX), a = SBUF_INIT(HCL_MAX_BODY), b = SBUF_INIT(HCL_MAX_BODY);
	sbuf out = SBUF_INIT(SBUF_NOMAX), to_label = SBUF_INIT(SBUF_NOMAX);
	sbuf hunks = SBUF_INIT(SBUF_NOMAX);
	long long v1, v2 = 0;
	const diff_colors *c;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (when && strcmp(when, "auto") && strcmp(when, "always") && strcmp(when, "never"))
		return cli_usage(ctx, "--color is auto, always or never");
	if (ctx->npos < 2 || ctx->npos > 3)
		return cli_usage(ctx, "give NAMESPACE/GROUP/DATAID V1 [V2]");
	if ((rc = cli_key(ctx, ctx->pos[0], ns, group, id)))
		return rc;
	if (parse_version(ctx->pos[1], &v1) || (ctx->npos == 3 && parse_version(ctx->pos[2], &v2)))
		return cli_usage(ctx, "versions are positive integers");
	c = cli_want_color(when) && !ctx->json ? &ansi : &plain;
	meta = c == &ansi ? "\033[1m" : "";
	sbuf_addf(&cp, "/api/v1/configs/%s/%s/%s", ns, group, id);
	rc = fetch_version(ctx, cp.buf, v1, &a);
	if (!rc && v2) {
		rc = fetch_version(ctx, cp.buf, v2, &b);
		sbuf_addf(&to_label, "%s/%s/%s@%lld", ns, group, id, v2);
	} else if (!rc) {
		hcl_resp r = {0};
		hcl_req rq = {0};
		rq.method = "GET";
		rq.path = cp.buf;
		rc = cli_call(ctx, &rq, &r);
		if (!rc) {
			sbuf_add(&b, hcl_buf_str(&r.body), r.body.len);
			v2 = r.version;
			sbuf_addf(&to_label, "%s/%s/%s@%lld (current)", ns, group, id, v2);
		}
		hcl_resp_release(&r);
	}
	if (rc)
		goto out;
	if (diff_unified(a.buf, a.len, b.buf, b.len, c, &hunks)) {
		sbuf_addf(&out, "%s--- %s/%s/%s@%lld%s\n", meta, ns, group, id, v1, c->reset);
		sbuf_addf(&out, "%s+++ %s%s\n", meta, to_label.buf, c->reset);
		sbuf_add(&out, hunks.buf, hunks.len);
	}
	if (ctx->json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "namespace", ns);
		cJSON_AddStringToObject(j, "group", group);
		cJSON_AddStringToObject(j, "dataId", id);
		cJSON_AddNumberToObject(j, "from", (double)v1);
		cJSON_AddNumberToObject(j, "to", (double)v2);
		cJSON_AddBoolToObject(j, "same", out.len == 0);
		cJSON_AddStringToObject(j, "diff", out.buf);
		cli_print_json(j);
	} else {
		fwrite(out.buf, 1, out.len, stdout);
	}
out:
	sbuf_release(&hunks);
	sbuf_release(&cp);
	sbuf_release(&a);
	sbuf_release(&b);
	sbuf_release(&out);
	sbuf_release(&to_label);
	return rc;
}
