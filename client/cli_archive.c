/*
 * cli_archive.c: `hotconf export NS` (GET /api/v1/namespaces/{ns}/export, a
 * zip written to -o FILE atomically, or to stdout but never to a terminal)
 * and `hotconf import NS FILE` (POST .../import?policy=&dryRun=, the zip as
 * the body; the answer lists what was, or in a dry run would be, created,
 * changed and skipped, with diffs in a dry run, coloured on a terminal).
 * Requests go through cli_call, so exit codes are those of every command.
 * Single-threaded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cli_render.h"

#define ZIP_MAX HCL_MAX_BODY

/* Checks NS (and GROUP) as names; CLI_OK or CLI_USAGE. */
static int check_names(cli_ctx *ctx, const char *ns, const char *group)
{
	if (!hcl_name_ok(ns) || (group && !hcl_name_ok(group)))
		return cli_usage(ctx, "names are 1-128 characters of A-Z a-z 0-9 . _ : - "
				      "(not . or ..)");
	return CLI_OK;
}

/* Writes data to path through a temp file and a rename (0666 less umask, or
 * the mode of the file it replaces); 0, or -1 with errno. */
static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	mode_t mask = umask(0);

	umask(mask);
	if (out_stage_file(path, data, len, mask, tmp))
		return -1;
	return out_install_file(tmp, path);
}

static int write_stdout(const char *data, size_t len)
{
	return fwrite(data, 1, len, stdout) != len || fflush(stdout) ? -1 : 0;
}

int cli_cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	const char *group = NULL, *out = NULL;
	const cli_opt opts[] = {
	    {"group", 'g', "GROUP", "only this group", &group, NULL},
	    {"output", 'o', "FILE", "write the zip to FILE (- or none: stdout, if not a terminal)",
	     &out, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	int to_stdout, rc = cli_parse(ctx, argc, argv, opts);
	const char *ns;

	if (rc)
		return rc;
	if (ctx->npos != 1)
		return cli_usage(ctx, ctx->npos ? "give one NAMESPACE" : "which namespace?");
	ns = ctx->pos[0];
	if ((rc = check_names(ctx, ns, group)))
		return rc;
	to_stdout = !out || !strcmp(out, "-");
	if (to_stdout && isatty(STDOUT_FILENO))
		return cli_usage(ctx,
				 "a zip is not for a terminal: give -o FILE or redirect stdout");
	if (to_stdout && ctx->json)
		return cli_usage(ctx, "--json describes the file written: give -o FILE too");
	sbuf_addf(&p, "/api/v1/namespaces/%s/export", ns);
	if (group)
		sbuf_addf(&p, "?group=%s", group);
	rq.method = "GET";
	rq.path = p.buf;
	rc = cli_call(ctx, &rq, &r);
	if (rc)
		goto out;
	if (r.too_big) {
		rc = cli_fail(CLI_ERR, "the export is over %u MiB", ZIP_MAX >> 20);
	} else if (to_stdout ? write_stdout(hcl_buf_str(&r.body), r.body.len)
			     : write_atomic(out, hcl_buf_str(&r.body), r.body.len)) {
		rc = cli_fail(CLI_ERR, "cannot write %s: %s", to_stdout ? "stdout" : out,
			      strerror(errno));
	} else if (ctx->json) {
		cJSON *o = cJSON_CreateObject();
		char md5[33];
		hcl_md5_hex(hcl_buf_str(&r.body), r.body.len, md5);
		cJSON_AddStringToObject(o, "namespace", ns);
		if (group)
			cJSON_AddStringToObject(o, "group", group);
		cJSON_AddStringToObject(o, "file", out);
		cJSON_AddNumberToObject(o, "bytes", (double)r.body.len);
		cJSON_AddStringToObject(o, "md5", md5);
		cli_print_json(o);
	} else if (!to_stdout) {
		printf("exported namespace %s%s%s to %s (%zu bytes)\n", ns, group ? ", group " : "",
		       group ? group : "", out, r.body.len);
	}
out:
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

/* Prints a diff's lines, coloured as `hotconf diff` colours them. */
static void print_diff(const char *text, int color)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n");
		const char *c = !color		       ? NULL
				: !strncmp(p, "@@", 2) ? "\033[36m"
				: *p == '-'	       ? "\033[31m"
				: *p == '+'	       ? "\033[32m"
						       : NULL;
		printf("%s%.*s%s\n", c ? c : "", (int)n, p, c ? "\033[m" : "");
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* An answer's item: {"group","dataId",...} or "group/dataId". */
static void item_names(const cJSON *e, char *group, char *id)
{
	const char *s = cJSON_IsString(e) ? e->valuestring : NULL, *slash;

	if (s && (slash = strchr(s, '/'))) {
		snprintf(group, HCL_NAME_MAX + 1, "%.*s", (int)(slash - s), s);
		snprintf(id, HCL_NAME_MAX + 1, "%s", slash + 1);
	} else {
		snprintf(group, HCL_NAME_MAX + 1, "%s", s ? s : cli_jstr(e, "group"));
		snprintf(id, HCL_NAME_MAX + 1, "%s", s ? "" : cli_jstr(e, "dataId"));
	}
}

static const char *const import_lists[] = {"created", "changed", "skipped"};

/* The table of what an import did (or would do), then a dry run's diffs. */
static void print_import(const char *ns, const cJSON *doc, int dry, int color)
{
	const char *head[] = {"STATUS", "GROUP", "DATAID", "VERSION", "NOTE"};
	char group[HCL_NAME_MAX + 1], id[HCL_NAME_MAX + 1];
	int counts[3] = {0, 0, 0}, i;
	const cJSON *e;
	cli_table t;

	cli_table_init(&t, 5);
	cli_table_add(&t, head);
	for (i = 0; i < 3; i++) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, import_lists[i]))
		{
			char v[32] = "-";
			const char *row[5];
			if (cli_jint(e, "version") > 0)
				snprintf(v, sizeof(v), "%lld", cli_jint(e, "version"));
			item_names(e, group, id);
			row[0] = import_lists[i];
			row[1] = group;
			row[2] = id;
			row[3] = v;
			row[4] =
			    *cli_jstr(e, "reason") ? cli_jstr(e, "reason") : cli_jstr(e, "message");
			cli_table_add(&t, row);
			counts[i]++;
		}
	}
	if (t.nrows > 1)
		cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("%s %s: %d %s, %d %s, %d skipped%s\n",
	       dry ? "dry run of an import into" : "imported into", ns, counts[0],
	       dry ? "to create" : "created", counts[1], dry ? "to change" : "changed", counts[2],
	       dry ? "; nothing was written" : "");
	for (i = 0; dry && i < 2; i++) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, import_lists[i]))
		{
			const char *d = cli_jstr(e, "diff");
			if (!*d)
				continue;
			item_names(e, group, id);
			printf("\n%s--- %s/%s/%s%s%s\n%s+++ %s/%s/%s (import)%s\n",
			       color ? "\033[1m" : "", ns, group, id, i ? "" : " (absent)",
			       color ? "\033[m" : "", color ? "\033[1m" : "", ns, group, id,
			       color ? "\033[m" : "");
			print_diff(d, color);
		}
	}
}

int cli_cmd_import(cli_ctx *ctx, int argc, char **argv)
{
	const char *policy = NULL, *when = NULL;
	int dry = 0;
	const cli_opt opts[] = {
	    {"policy", 0, "P",
	     "for configs that exist: abort (refuse the whole import; the default), skip or "
	     "overwrite",
	     &policy, NULL},
	    {"dry-run", 'n', NULL, "say what would change, with diffs, and write nothing", NULL,
	     &dry},
	    {"color", 0, "WHEN",
	     "diff colours: auto (on a terminal, unless NO_COLOR is set), "
	     "always or never",
	     &when, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf p = SBUF_INIT(SBUF_NOMAX), zip = SBUF_INIT(ZIP_MAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *doc = NULL;
	const char *ns, *file;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos != 2)
		return cli_usage(ctx, "give NAMESPACE and FILE (- for stdin)");
	ns = ctx->pos[0];
	file = ctx->pos[1];
	if ((rc = check_names(ctx, ns, NULL)))
		return rc;
	if (!policy)
		policy = "abort";
	if (strcmp(policy, "abort") && strcmp(policy, "skip") && strcmp(policy, "overwrite"))
		return cli_usage(ctx, "--policy is abort, skip or overwrite");
	if (when && strcmp(when, "auto") && strcmp(when, "always") && strcmp(when, "never"))
		return cli_usage(ctx, "--color is auto, always or never");
	if (cli_read_file(file, &zip)) {
		rc = cli_fail(CLI_ERR, "cannot read %s: %s", strcmp(file, "-") ? file : "stdin",
			      strerror(errno));
		goto out;
	}
	sbuf_addf(&p, "/api/v1/namespaces/%s/import?policy=%s%s", ns, policy,
		  dry ? "&dryRun=true" : "");
	rq.method = "POST";
	rq.path = p.buf;
	rq.body = zip.buf;
	rq.len = zip.len;
	rq.content_type = "application/zip";
	rc = cli_call_json(ctx, &rq, &r, &doc);
	if (rc)
		goto out;
	if (!cJSON_IsObject(doc)) {
		rc = cli_fail(CLI_ERR, "the server's answer is not a JSON object");
	} else if (ctx->json) {
		if (!cJSON_GetObjectItemCaseSensitive(doc, "namespace"))
			cJSON_AddStringToObject(doc, "namespace", ns);
		if (!cJSON_GetObjectItemCaseSensitive(doc, "dryRun"))
			cJSON_AddBoolToObject(doc, "dryRun", dry);
		cli_print_json(doc);
		doc = NULL;
	} else {
		print_import(ns, doc, dry, cli_want_color(when));
	}
out:
	cJSON_Delete(doc);
	hcl_resp_release(&r);
	sbuf_release(&p);
	sbuf_release(&zip);
	return rc;
}
