/*
 * cli_cmds.c: the command line's one-request commands: get, put, rm, ls,
 * history, rollback and login. Each parses its flags, makes its request
 * through cli_call (which maps failures to exit codes) and prints a human
 * line or table, or with --json one JSON document. Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base64.h"
#include "cli.h"
#include "utf8.h"
#include "xmalloc.h"

#define PAGE_SIZE 500
#define MAX_PAGES 200 /* ls and history stop after 100,000 entries */

int cli_parse_cfg(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts, int min, int max,
		  cli_cfg *k)
{
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos < min)
		return cli_usage(ctx, "which config? give NAMESPACE/GROUP/DATAID");
	if (ctx->npos > max)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[max]);
	return cli_key(ctx, ctx->pos[0], k->ns, k->group, k->id);
}

void cli_cfg_path(sbuf *p, const cli_cfg *k, const char *suffix)
{
	sbuf_addf(p, "/api/v1/configs/%s/%s/%s%s", k->ns, k->group, k->id, suffix);
}

void cli_add_names(cJSON *o, const cli_cfg *k)
{
	cJSON_AddStringToObject(o, "namespace", k->ns);
	cJSON_AddStringToObject(o, "group", k->group);
	cJSON_AddStringToObject(o, "dataId", k->id);
}

/* Adds "content", or "contentBase64" when the bytes are not UTF-8. */
static void add_content(cJSON *o, const char *data, size_t n)
{
	if (utf8_valid(data, n) && !memchr(data, '\0', n)) {
		cJSON_AddStringToObject(o, "content", data);
	} else {
		sbuf b = SBUF_INIT(SBUF_NOMAX);
		base64_encode(&b, data, n);
		cJSON_AddStringToObject(o, "contentBase64", b.buf);
		sbuf_release(&b);
	}
}

char *cli_if_match(const char *v)
{
	sbuf b = SBUF_INIT(256);

	if (!v)
		return NULL;
	if (!strcmp(v, "*") || v[0] == '"')
		sbuf_addstr(&b, v);
	else
		sbuf_addf(&b, "\"%s\"", v);
	return sbuf_detach(&b, NULL);
}

cJSON *cli_body_json(const hcl_resp *r)
{
	return cJSON_ParseWithLength(hcl_buf_str(&r->body), r->body.len);
}

const char *cli_write_result(const hcl_resp *r, const cJSON *doc, cJSON *o)
{
	int changed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "changed"));

	if (o) {
		cJSON_AddBoolToObject(o, "created", r->status == 201);
		cJSON_AddBoolToObject(o, "changed", changed);
	}
	return r->status == 201 ? "created" : changed ? "updated" : "unchanged";
}

int cli_call_json(cli_ctx *ctx, const hcl_req *rq, hcl_resp *r, cJSON **doc)
{
	int rc = cli_call(ctx, rq, r);

	*doc = rc ? NULL : cli_body_json(r);
	return rc;
}

int cli_cmd_get(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt opts[] = {{0}};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 1, &k);

	if (rc)
		return rc;
	cli_cfg_path(&p, &k, "");
	rq.method = "GET";
	rq.path = p.buf;
	rc = cli_call(ctx, &rq, &r);
	if (!rc && ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cli_add_names(o, &k);
		cJSON_AddNumberToObject(o, "version", (double)r.version);
		cJSON_AddStringToObject(o, "md5", r.md5);
		cJSON_AddStringToObject(o, "format", r.format);
		add_content(o, hcl_buf_str(&r.body), r.body.len);
		cli_print_json(o);
	} else if (!rc) {
		fwrite(hcl_buf_str(&r.body), 1, r.body.len, stdout);
	}
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

int cli_cmd_put(cli_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL, *message = NULL, *match = NULL, *description = NULL;
	const cli_opt opts[] = {
	    {"format", 'f', "FMT", "text, json, yaml, properties or xml (kept when omitted)",
	     &format, NULL},
	    {"message", 'm', "MSG", "why, kept in the history", &message, NULL},
	    {"description", 0, "TEXT", "the config's description", &description, NULL},
	    {"if-match", 0, "MD5", "publish only if the current md5 is MD5 (* = it exists)", &match,
	     NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf p = SBUF_INIT(SBUF_NOMAX), content = SBUF_INIT(HCL_MAX_BODY);
	hcl_resp r = {0};
	hcl_req rq = {0};
	char *im = NULL;
	const char *file;
	cJSON *doc = NULL;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 2, &k);

	if (rc)
		return rc;
	file = ctx->npos > 1 ? ctx->pos[1] : "-";
	if (cli_read_file(file, &content)) {
		rc = cli_fail(CLI_ERR, "cannot read %s: %s", strcmp(file, "-") ? file : "stdin",
			      strerror(errno));
		goto out;
	}
	cli_cfg_path(&p, &k, "?");
	if (format) {
		sbuf_addstr(&p, "format=");
		cli_add_query(&p, format);
		sbuf_addch(&p, '&');
	}
	if (message) {
		sbuf_addstr(&p, "message=");
		cli_add_query(&p, message);
		sbuf_addch(&p, '&');
	}
	if (description) {
		sbuf_addstr(&p, "description=");
		cli_add_query(&p, description);
	}
	im = cli_if_match(match);
	rq.method = "PUT";
	rq.path = p.buf;
	rq.body = content.buf;
	rq.len = content.len;
	rq.content_type = "application/octet-stream";
	rq.if_match = im;
	rc = cli_call_json(ctx, &rq, &r, &doc);
	if (rc)
		goto out;
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cli_add_names(o, &k);
		cJSON_AddNumberToObject(o, "version", (double)cli_jint(doc, "version"));
		cJSON_AddStringToObject(o, "md5", cli_jstr(doc, "md5"));
		cli_write_result(&r, doc, o);
		cli_print_json(o);
	} else {
		const char *what = cli_write_result(&r, doc, NULL);
		printf("%s %s/%s/%s: version %lld, md5 %s\n", what, k.ns, k.group, k.id,
		       cli_jint(doc, "version"), cli_jstr(doc, "md5"));
	}
out:
	cJSON_Delete(doc);
	free(im);
	hcl_resp_release(&r);
	sbuf_release(&p);
	sbuf_release(&content);
	return rc;
}

int cli_cmd_rm(cli_ctx *ctx, int argc, char **argv)
{
	const char *match = NULL, *message = NULL;
	const cli_opt opts[] = {
	    {"if-match", 0, "MD5", "delete only if the current md5 is MD5", &match, NULL},
	    {"message", 'm', "MSG", "why, kept in the history", &message, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *doc = NULL;
	char *im = NULL;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 1, &k);

	if (rc)
		return rc;
	cli_cfg_path(&p, &k, "");
	if (message) {
		sbuf_addstr(&p, "?message=");
		cli_add_query(&p, message);
	}
	im = cli_if_match(match);
	rq.method = "DELETE";
	rq.path = p.buf;
	rq.if_match = im;
	rc = cli_call(ctx, &rq, &r);
	if (!rc) {
		doc = cli_body_json(&r);
		if (ctx->json) {
			cJSON *o = cJSON_CreateObject();
			cli_add_names(o, &k);
			cJSON_AddBoolToObject(o, "deleted", 1);
			cJSON_AddNumberToObject(o, "version", (double)cli_jint(doc, "version"));
			cli_print_json(o);
		} else {
			printf("deleted %s/%s/%s (history version %lld)\n", k.ns, k.group, k.id,
			       cli_jint(doc, "version"));
		}
	}
	cJSON_Delete(doc);
	free(im);
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

int cli_get_pages(cli_ctx *ctx, const char *base, const char *field, cJSON **items, cJSON **first)
{
	int page, rc = CLI_OK;

	*items = cJSON_CreateArray();
	if (first)
		*first = NULL;
	for (page = 1; page <= MAX_PAGES; page++) {
		sbuf p = SBUF_INIT(SBUF_NOMAX);
		hcl_resp r = {0};
		hcl_req rq = {0};
		cJSON *doc, *list, *e, *next;
		long long total;
		int got = 0;

		sbuf_addf(&p, "%spage=%d&size=%d", base, page, PAGE_SIZE);
		rq.method = "GET";
		rq.path = p.buf;
		rc = cli_call(ctx, &rq, &r);
		sbuf_release(&p);
		if (rc) {
			hcl_resp_release(&r);
			break;
		}
		doc = cli_body_json(&r);
		hcl_resp_release(&r);
		total = cli_jint(doc, "total");
		list = cJSON_GetObjectItemCaseSensitive(doc, field);
		for (e = cJSON_IsArray(list) ? list->child : NULL; e; e = next, got++) {
			next = e->next;
			cJSON_AddItemToArray(*items, cJSON_DetachItemViaPointer(list, e));
		}
		if (first && !*first) {
			cJSON_DeleteItemFromObjectCaseSensitive(doc, field);
			*first = doc;
		} else {
			cJSON_Delete(doc);
		}
		if (!got || cJSON_GetArraySize(*items) >= total)
			break;
	}
	return rc;
}

int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv)
{
	const char *ns = NULL, *group = NULL, *search = NULL;
	int quiet = 0;
	const cli_opt opts[] = {
	    {"namespace", 'n', "NS", "only this namespace", &ns, NULL},
	    {"group", 'g', "GROUP", "only this group", &group, NULL},
	    {"search", 's', "TEXT", "dataId or group contains TEXT", &search, NULL},
	    {"quiet", 'q', NULL, "print only NAMESPACE/GROUP/DATAID, one a line", NULL, &quiet},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf base = SBUF_INIT(SBUF_NOMAX);
	cJSON *items = NULL, *e;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[0]);
	if ((ns && !hcl_name_ok(ns)) || (group && !hcl_name_ok(group)))
		return cli_usage(ctx, "names are 1-128 characters of A-Z a-z 0-9 . _ : -");
	sbuf_addstr(&base, "/api/v1/configs?");
	if (ns)
		sbuf_addf(&base, "namespace=%s&", ns);
	if (group)
		sbuf_addf(&base, "group=%s&", group);
	if (search) {
		sbuf_addstr(&base, "q=");
		cli_add_query(&base, search);
		sbuf_addch(&base, '&');
	}
	rc = cli_get_pages(ctx, base.buf, "items", &items, NULL);
	if (!rc && ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "items", items);
		items = NULL;
		cli_print_json(o);
	} else if (!rc) {
		cli_table t;
		const char *head[] = {"NAMESPACE", "GROUP",   "DATAID",
				      "FORMAT",	   "VERSION", "UPDATED"};
		cli_table_init(&t, quiet ? 1 : 6);
		if (!quiet)
			cli_table_add(&t, head);
		cJSON_ArrayForEach(e, items)
		{
			char v[32], keyb[3 * HCL_NAME_MAX + 3];
			const char *row[6];
			snprintf(v, sizeof(v), "%lld", cli_jint(e, "version"));
			snprintf(keyb, sizeof(keyb), "%s/%s/%s", cli_jstr(e, "namespace"),
				 cli_jstr(e, "group"), cli_jstr(e, "dataId"));
			row[0] = quiet ? keyb : cli_jstr(e, "namespace");
			row[1] = cli_jstr(e, "group");
			row[2] = cli_jstr(e, "dataId");
			row[3] = cli_jstr(e, "format");
			row[4] = v;
			row[5] = cli_jstr(e, "updatedAt");
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
	cJSON_Delete(items);
	sbuf_release(&base);
	return rc;
}

int cli_cmd_history(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt opts[] = {{0}};
	sbuf base = SBUF_INIT(SBUF_NOMAX);
	cJSON *items = NULL, *e;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 1, &k);

	if (rc)
		return rc;
	cli_cfg_path(&base, &k, "/history?");
	rc = cli_get_pages(ctx, base.buf, "items", &items, NULL);
	if (!rc && ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cli_add_names(o, &k);
		cJSON_AddItemToObject(o, "items", items);
		items = NULL;
		cli_print_json(o);
	} else if (!rc) {
		cli_table t;
		const char *head[] = {"VERSION", "OP",	    "FORMAT", "MD5",
				      "AUTHOR",	 "CREATED", "MESSAGE"};
		cli_table_init(&t, 7);
		cli_table_add(&t, head);
		cJSON_ArrayForEach(e, items)
		{
			char v[32], m[9];
			const char *author = cli_jstr(e, "author");
			const char *row[7];
			snprintf(v, sizeof(v), "%lld", cli_jint(e, "version"));
			snprintf(m, sizeof(m), "%s", cli_jstr(e, "md5"));
			row[0] = v;
			row[1] = cli_jstr(e, "op");
			row[2] = cli_jstr(e, "format");
			row[3] = *m ? m : "-";
			row[4] = *author ? author : "-";
			row[5] = cli_jstr(e, "createdAt");
			row[6] = cli_jstr(e, "message");
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
	cJSON_Delete(items);
	sbuf_release(&base);
	return rc;
}

/* A positive version number argument; 0 or -1. */
static int parse_version(const char *s, long long *v)
{
	char *end;

	if (!s || *s < '1' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || *end ? -1 : 0;
}

int cli_cmd_rollback(cli_ctx *ctx, int argc, char **argv)
{
	const char *message = NULL;
	const cli_opt opts[] = {
	    {"message", 'm', "MSG", "why, kept in the history", &message, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *body = NULL, *doc = NULL;
	char *text = NULL;
	long long version;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 2, 2, &k);

	if (rc)
		return rc;
	if (parse_version(ctx->pos[1], &version))
		return cli_usage(ctx, "VERSION '%s' is not a positive integer", ctx->pos[1]);
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "version", (double)version);
	if (message)
		cJSON_AddStringToObject(body, "message", message);
	text = cJSON_PrintUnformatted(body);
	cli_cfg_path(&p, &k, "/rollback");
	rq.method = "POST";
	rq.path = p.buf;
	rq.body = text;
	rq.len = strlen(text);
	rc = cli_call(ctx, &rq, &r);
	if (!rc) {
		doc = cli_body_json(&r);
		if (ctx->json) {
			cJSON *o = cJSON_CreateObject();
			cli_add_names(o, &k);
			cJSON_AddNumberToObject(o, "from", (double)version);
			cJSON_AddNumberToObject(o, "version", (double)cli_jint(doc, "version"));
			cJSON_AddStringToObject(o, "md5", cli_jstr(doc, "md5"));
			cJSON_AddBoolToObject(
			    o, "changed",
			    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "changed")));
			cli_print_json(o);
		} else {
			printf("rolled back %s/%s/%s to version %lld: now version %lld, md5 %s\n",
			       k.ns, k.group, k.id, version, cli_jint(doc, "version"),
			       cli_jstr(doc, "md5"));
		}
	}
	cJSON_Delete(doc);
	cJSON_Delete(body);
	free(text);
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

/* Reads one line (without its newline) from f into out[n]; 0 or -1. */
static int read_line(FILE *f, char *out, size_t n)
{
	if (!fgets(out, (int)n, f))
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/* Asks on the terminal without echo; 0 or -1 without a terminal. */
static int ask_secret(const char *prompt, char *out, size_t n)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int rc;

	if (!tty)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old)) {
		fclose(tty);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	rc = read_line(tty, out, n);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return rc;
}

/* Writes the token to <config dir>/token, mode 0600, atomically. */
static int save_token(const char *token, char *path, size_t n)
{
	char dir[4096], tmp[4200];
	size_t len = strlen(token);
	int fd, ok;

	if (cli_config_dir(dir, sizeof(dir)) || hcl_mkdirs(dir, 0700))
		return -1;
	snprintf(path, n, "%s/token", dir);
	snprintf(tmp, sizeof(tmp), "%s/.token.XXXXXX", dir);
	fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return -1;
	ok = write(fd, token, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && !fsync(fd);
	ok = !close(fd) && ok && !rename(tmp, path);
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

int cli_cmd_login(cli_ctx *ctx, int argc, char **argv)
{
	const char *username = NULL;
	int from_stdin = 0;
	const cli_opt opts[] = {
	    {"username", 'u', "NAME", "the account (asked for when omitted)", &username, NULL},
	    {"password-stdin", 0, NULL, "read the password from the first line of stdin", NULL,
	     &from_stdin},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	char user[256], pass[1024], path[4200];
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *body, *doc = NULL;
	char *text;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[0]);
	if (username) {
		snprintf(user, sizeof(user), "%s", username);
	} else {
		fputs("username: ", stderr);
		if (read_line(stdin, user, sizeof(user)))
			return cli_usage(ctx, "no username given");
	}
	if (from_stdin ? read_line(stdin, pass, sizeof(pass))
		       : ask_secret("password: ", pass, sizeof(pass)))
		return cli_usage(ctx, "no password: use a terminal or --password-stdin");
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "username", user);
	cJSON_AddStringToObject(body, "password", pass);
	text = cJSON_PrintUnformatted(body);
	memset(pass, 0, sizeof(pass));
	rq.method = "POST";
	rq.path = "/api/v1/auth/login";
	rq.body = text;
	rq.len = strlen(text);
	rc = cli_call(ctx, &rq, &r);
	memset(text, 0, strlen(text));
	if (rc)
		goto out;
	doc = cli_body_json(&r);
	if (!*cli_jstr(doc, "token")) {
		rc = cli_fail(CLI_ERR, "the server's answer holds no token");
	} else if (save_token(cli_jstr(doc, "token"), path, sizeof(path))) {
		rc = cli_fail(CLI_ERR, "cannot save the token: %s", strerror(errno));
	} else if (ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "user", user);
		cJSON_AddStringToObject(o, "tokenFile", path);
		cli_print_json(o);
	} else {
		printf("logged in as %s; token saved to %s\n", user, path);
	}
out:
	cJSON_Delete(doc);
	cJSON_Delete(body);
	free(text);
	hcl_resp_release(&r);
	return rc;
}
