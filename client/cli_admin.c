/*
 * cli_admin.c: the command line's release and access commands: `gray
 * ls|set|rm|promote` (a config's gray rules, routes_gray.c), `listeners` (who
 * holds a config, routes_listen.c) and `tokens ls|create|rm` (service tokens,
 * routes_access.c). Like cli_cmds.c, each makes its requests through
 * cli_call, so exit codes mean the same everywhere, and prints a table or a
 * line, or with --json one JSON document. Single-threaded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "utf8.h"
#include "xmalloc.h"

#define MD5_SHORT 8

/* Copies the first MD5_SHORT hex digits of an md5 into out[MD5_SHORT + 1], or "-". */
static const char *short_md5(const char *md5, char *out)
{
	snprintf(out, MD5_SHORT + 1, "%s", md5);
	return *out ? out : "-";
}

/* Splits "a,b , c" into a JSON array of strings; empty items are left out. */
static cJSON *csv_array(const char *list)
{
	cJSON *a = cJSON_CreateArray();
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ","), b = 0, e = n;
		while (b < e && (p[b] == ' ' || p[b] == '\t'))
			b++;
		while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e > b) {
			char *item = xmemdupz(p + b, e - b);
			cJSON_AddItemToArray(a, cJSON_CreateString(item));
			free(item);
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

/* GETs path into *doc (caller owns it; release r as well). */
static int get_json(cli_ctx *ctx, const char *path, hcl_resp *r, cJSON **doc)
{
	hcl_req rq = {0};

	rq.method = "GET";
	rq.path = path;
	return cli_call_json(ctx, &rq, r, doc);
}

/* Moves doc's array member name into o (an empty array when doc has none). */
static void move_array(cJSON *doc, const char *name, cJSON *o)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, name);

	cJSON_AddItemToObject(
	    o, name, cJSON_IsArray(a) ? cJSON_DetachItemViaPointer(doc, a) : cJSON_CreateArray());
}

/* A number argument (strtod); 0, or -1 when s is not one whole number. */
static int parse_number(const char *s, double *v)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	return errno || *end ? -1 : 0;
}

/* ------------------------------------------------------------------ gray */

/* Parses flags, NS/GROUP/DATAID and RULE (positionals 1 and 2 of min..max). */
static int parse_rule_args(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts, int max,
			   cli_cfg *k, const char **rule)
{
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos < 2)
		return cli_usage(ctx, "give NAMESPACE/GROUP/DATAID RULE");
	if (ctx->npos > max)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[max]);
	if ((rc = cli_key(ctx, ctx->pos[0], k->ns, k->group, k->id)))
		return rc;
	*rule = ctx->pos[1];
	if (!hcl_name_ok(*rule))
		return cli_usage(ctx,
				 "rule '%s': names are 1-128 characters of A-Z a-z 0-9 . _ : - "
				 "(not . or ..)",
				 *rule);
	return CLI_OK;
}

/* "ips=a,b labels=env=canary percent=5" from a rule's match object. */
static void match_text(const cJSON *m, sbuf *out)
{
	const cJSON *f, *e;

	cJSON_ArrayForEach(f, m)
	{
		if (out->len)
			sbuf_addch(out, ' ');
		sbuf_addf(out, "%s=", f->string);
		if (cJSON_IsArray(f)) {
			cJSON_ArrayForEach(e, f)
			{
				sbuf_addf(out, "%s%s", e == f->child ? "" : ",",
					  cJSON_IsString(e) ? e->valuestring : "?");
			}
		} else if (cJSON_IsNumber(f)) {
			sbuf_addf(out, "%g", f->valuedouble);
		} else if (cJSON_IsString(f)) {
			sbuf_addstr(out, f->valuestring);
		}
	}
	if (!out->len)
		sbuf_addch(out, '-');
}

/* "running 2/4 25%" from a rule's rollout, or "-". */
static void rollout_text(const cJSON *ro, sbuf *out)
{
	if (!cJSON_IsObject(ro)) {
		sbuf_addch(out, '-');
		return;
	}
	sbuf_addf(out, "%s %lld/%d", cli_jstr(ro, "state"), cli_jint(ro, "step"),
		  cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ro, "steps")));
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ro, "percent")))
		sbuf_addf(out, " %g%%",
			  cJSON_GetObjectItemCaseSensitive(ro, "percent")->valuedouble);
}

static int gray_ls(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt opts[] = {{0}};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	cJSON *doc = NULL, *e;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 1, &k);

	if (rc)
		return rc;
	cli_cfg_path(&p, &k, "/gray");
	if ((rc = get_json(ctx, p.buf, &r, &doc)))
		goto out;
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cli_add_names(o, &k);
		move_array(doc, "rules", o);
		cli_print_json(o);
	} else {
		cli_table t;
		const char *head[] = {"RULE", "PRIORITY", "MATCH",  "FORMAT",
				      "MD5",  "ROLLOUT",  "AUTHOR", "UPDATED"};
		cli_table_init(&t, 8);
		cli_table_add(&t, head);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "rules"))
		{
			sbuf m = SBUF_INIT(SBUF_NOMAX), ro = SBUF_INIT(SBUF_NOMAX);
			char prio[32], md5[MD5_SHORT + 1];
			const char *author = cli_jstr(e, "author");
			const char *row[8];
			snprintf(prio, sizeof(prio), "%lld", cli_jint(e, "priority"));
			match_text(cJSON_GetObjectItemCaseSensitive(e, "match"), &m);
			rollout_text(cJSON_GetObjectItemCaseSensitive(e, "rollout"), &ro);
			row[0] = cli_jstr(e, "name");
			row[1] = prio;
			row[2] = m.buf;
			row[3] = cli_jstr(e, "format");
			row[4] = short_md5(cli_jstr(e, "md5"), md5);
			row[5] = ro.buf;
			row[6] = *author ? author : "-";
			row[7] = cli_jstr(e, "updatedAt");
			cli_table_add(&t, row);
			sbuf_release(&m);
			sbuf_release(&ro);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
out:
	cJSON_Delete(doc);
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

/*
 * One write to a rule: method on .../gray/RULE[suffix][?message=M] with body
 * (NULL: none) and --if-match; *doc is the answer (caller owns it). *o, on
 * success with --json, starts the JSON output: names and rule.
 */
static int rule_write(cli_ctx *ctx, const cli_cfg *k, const char *rule, const char *method,
		      const char *suffix, const char *body, const char *match, const char *message,
		      hcl_resp *r, cJSON **doc, cJSON **o)
{
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_req rq = {0};
	char *im = cli_if_match(match);
	int rc;

	cli_cfg_path(&p, k, "/gray/");
	sbuf_addf(&p, "%s%s", rule, suffix);
	if (message) {
		sbuf_addstr(&p, "?message=");
		cli_add_query(&p, message);
	}
	rq.method = method;
	rq.path = p.buf;
	rq.body = body;
	rq.len = body ? strlen(body) : 0;
	rq.if_match = im;
	rc = cli_call_json(ctx, &rq, r, doc);
	*o = NULL;
	if (!rc && ctx->json) {
		*o = cJSON_CreateObject();
		cli_add_names(*o, k);
		cJSON_AddStringToObject(*o, "rule", rule);
	}
	free(im);
	sbuf_release(&p);
	return rc;
}

typedef struct gray_flags {
	const char *ips, *labels, *percent, *priority, *format, *message, *match, *salt;
	const char *steps, *interval, *max_rejected, *min_reports;
} gray_flags;

/* The rollout object of --steps, --interval, --max-rejected, --min-reports. */
static int rollout_body(cli_ctx *ctx, const gray_flags *f, cJSON *body)
{
	cJSON *ro, *steps, *list;
	const cJSON *e;
	double v;

	if (!f->steps) {
		if (f->interval || f->max_rejected || f->min_reports)
			return cli_usage(ctx, "--interval, --max-rejected and --min-reports "
					      "belong to a rollout: give --steps too");
		return CLI_OK;
	}
	if (f->percent)
		return cli_usage(ctx, "a rollout sets the percent itself: give --steps or "
				      "--percent, not both");
	ro = cJSON_AddObjectToObject(body, "rollout");
	list = csv_array(f->steps);
	steps = cJSON_CreateArray();
	cJSON_ArrayForEach(e, list)
	{
		if (parse_number(e->valuestring, &v)) {
			cJSON_Delete(list);
			cJSON_Delete(steps);
			return cli_usage(
			    ctx, "--steps '%s' is not a list of percents like 5,25,100", f->steps);
		}
		cJSON_AddItemToArray(steps, cJSON_CreateNumber(v));
	}
	cJSON_Delete(list);
	cJSON_AddItemToObject(ro, "steps", steps);
	if (f->interval)
		cJSON_AddStringToObject(ro, "interval", f->interval);
	if (f->max_rejected && !parse_number(f->max_rejected, &v))
		cJSON_AddNumberToObject(ro, "maxRejected", v);
	else if (f->max_rejected)
		cJSON_AddStringToObject(ro, "maxRejected", f->max_rejected);
	if (f->min_reports) {
		if (parse_number(f->min_reports, &v))
			return cli_usage(ctx, "--min-reports '%s' is not a number", f->min_reports);
		cJSON_AddNumberToObject(ro, "minReports", v);
	}
	return CLI_OK;
}

/* The body of a rule write from the flags and the content; NULL after
 * saying why (*rc holds the exit code). */
static cJSON *gray_body(cli_ctx *ctx, const gray_flags *f, const sbuf *content, int *rc)
{
	cJSON *body = cJSON_CreateObject(), *m;
	double v;

	*rc = CLI_OK;
	if (!utf8_valid(content->buf, content->len) || memchr(content->buf, '\0', content->len)) {
		*rc = cli_usage(ctx, "a gray rule's content must be UTF-8 text");
		goto fail;
	}
	cJSON_AddStringToObject(body, "content", content->buf);
	if (f->format)
		cJSON_AddStringToObject(body, "format", f->format);
	if (f->message)
		cJSON_AddStringToObject(body, "message", f->message);
	if (f->salt)
		cJSON_AddStringToObject(body, "salt", f->salt);
	if (f->priority) {
		if (parse_number(f->priority, &v)) {
			*rc = cli_usage(ctx, "--priority '%s' is not an integer", f->priority);
			goto fail;
		}
		cJSON_AddNumberToObject(body, "priority", v);
	}
	if ((*rc = rollout_body(ctx, f, body)))
		goto fail;
	if (!f->ips && !f->labels && !f->percent) {
		if (!f->steps) {
			*rc = cli_usage(ctx, "whom does the rule serve? give --ips, --labels, "
					     "--percent or a rollout (--steps)");
			goto fail;
		}
		return body;
	}
	m = cJSON_AddObjectToObject(body, "match");
	if (f->ips)
		cJSON_AddItemToObject(m, "ips", csv_array(f->ips));
	if (f->labels)
		cJSON_AddStringToObject(m, "labels", f->labels);
	if (f->percent) {
		if (parse_number(f->percent, &v)) {
			*rc = cli_usage(ctx, "--percent '%s' is not a number from 0 to 100",
					f->percent);
			goto fail;
		}
		cJSON_AddNumberToObject(m, "percent", v);
	}
	return body;
fail:
	cJSON_Delete(body);
	return NULL;
}

static int gray_set(cli_ctx *ctx, int argc, char **argv)
{
	gray_flags f = {0};
	const cli_opt opts[] = {
	    {"ips", 0, "LIST", "addresses or CIDRs, comma-separated (10.0.0.7,10.1.0.0/16)", &f.ips,
	     NULL},
	    {"labels", 'l', "SELECTOR", "label selector: k=v,k!=v,k in (a,b),k notin (a),k,!k",
	     &f.labels, NULL},
	    {"percent", 'p', "N", "this share of instances, 0-100 (two decimals at most)",
	     &f.percent, NULL},
	    {"priority", 0, "N", "the highest matching rule serves (default 0)", &f.priority, NULL},
	    {"format", 'f', "FMT", "text, json, yaml, properties or xml (default: the config's)",
	     &f.format, NULL},
	    {"message", 'm', "MSG", "why, kept in the history", &f.message, NULL},
	    {"if-match", 0, "MD5", "replace only if the rule's md5 is MD5", &f.match, NULL},
	    {"steps", 0, "LIST", "a rollout: percents to walk through, e.g. 5,25,50,100", &f.steps,
	     NULL},
	    {"interval", 0, "D", "a rollout's time per step, e.g. 10m", &f.interval, NULL},
	    {"max-rejected", 0, "N|P%", "abort the rollout past this many rejects", &f.max_rejected,
	     NULL},
	    {"min-reports", 0, "N", "apply reports a step waits for", &f.min_reports, NULL},
	    {"salt", 0, "HEX", "the salt a preview answered (select the same instances)", &f.salt,
	     NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf content = SBUF_INIT(HCL_MAX_BODY);
	hcl_resp r = {0};
	cJSON *body = NULL, *doc = NULL, *o;
	char *text = NULL;
	const char *rule, *file;
	cli_cfg k;
	int rc = parse_rule_args(ctx, argc, argv, opts, 3, &k, &rule);

	if (rc)
		return rc;
	file = ctx->npos > 2 ? ctx->pos[2] : "-";
	if (cli_read_file(file, &content)) {
		rc = cli_fail(CLI_ERR, "cannot read %s: %s", strcmp(file, "-") ? file : "stdin",
			      strerror(errno));
		goto out;
	}
	if (!(body = gray_body(ctx, &f, &content, &rc)))
		goto out;
	text = cJSON_PrintUnformatted(body);
	rc = rule_write(ctx, &k, rule, "PUT", "", text, f.match, NULL, &r, &doc, &o);
	if (rc)
		goto out;
	if (o) {
		cJSON_AddStringToObject(o, "md5", cli_jstr(doc, "md5"));
		cJSON_AddNumberToObject(o, "revision", (double)cli_jint(doc, "revision"));
		cli_write_result(&r, doc, o);
		cli_print_json(o);
	} else {
		const char *what = cli_write_result(&r, doc, NULL);
		printf("%s gray rule %s of %s/%s/%s: md5 %s\n", what, rule, k.ns, k.group, k.id,
		       cli_jstr(doc, "md5"));
	}
out:
	cJSON_Delete(doc);
	cJSON_Delete(body);
	free(text);
	hcl_resp_release(&r);
	sbuf_release(&content);
	return rc;
}

/* gray rm and gray promote: one write that ends the rule. */
static int gray_end(cli_ctx *ctx, int argc, char **argv, int promote)
{
	const char *match = NULL, *message = NULL;
	const cli_opt opts[] = {
	    {"message", 'm', "MSG", "why, kept in the history", &message, NULL},
	    {"if-match", 0, "MD5", "only if the rule's md5 is MD5", &match, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	hcl_resp r = {0};
	cJSON *doc = NULL, *o;
	const char *rule;
	cli_cfg k;
	int rc = parse_rule_args(ctx, argc, argv, opts, 2, &k, &rule);

	if (rc)
		return rc;
	rc = rule_write(ctx, &k, rule, promote ? "POST" : "DELETE", promote ? "/promote" : "", NULL,
			match, message, &r, &doc, &o);
	if (rc)
		goto out;
	if (o) {
		cJSON_AddBoolToObject(o, promote ? "promoted" : "removed", 1);
		cJSON_AddNumberToObject(o, "version", (double)cli_jint(doc, "version"));
		cJSON_AddStringToObject(o, "md5", cli_jstr(doc, "md5"));
		cli_print_json(o);
	} else if (promote) {
		printf("promoted gray rule %s of %s/%s/%s: now version %lld, md5 %s\n", rule, k.ns,
		       k.group, k.id, cli_jint(doc, "version"), cli_jstr(doc, "md5"));
	} else {
		printf("removed gray rule %s of %s/%s/%s: its instances get version %lld "
		       "(md5 %s) again\n",
		       rule, k.ns, k.group, k.id, cli_jint(doc, "version"), cli_jstr(doc, "md5"));
	}
out:
	cJSON_Delete(doc);
	hcl_resp_release(&r);
	return rc;
}

static int gray_rm(cli_ctx *ctx, int argc, char **argv)
{
	return gray_end(ctx, argc, argv, 0);
}

static int gray_promote(cli_ctx *ctx, int argc, char **argv)
{
	return gray_end(ctx, argc, argv, 1);
}

static const cli_cmd gray_cmds[] = {
    {"gray ls", gray_ls, "NS/GROUP/DATAID", "list a config's gray rules"},
    {"gray set", gray_set,
     "NS/GROUP/DATAID RULE [FILE|-] [--ips LIST] [--labels SEL] [--percent N]\n"
     "                     [--priority N] [--format F] [--message M] [--if-match MD5]\n"
     "                     [--steps LIST [--interval D] [--max-rejected N|P%] "
     "[--min-reports N]]",
     "create or replace a gray rule: content from a file or stdin, served to the instances "
     "it matches (all its conditions hold)"},
    {"gray rm", gray_rm, "NS/GROUP/DATAID RULE [--message M] [--if-match MD5]",
     "abort a gray rule: its instances get the main content again"},
    {"gray promote", gray_promote, "NS/GROUP/DATAID RULE [--message M] [--if-match MD5]",
     "make a gray rule's content the next main version and remove the rule"},
};

int cli_cmd_gray(cli_ctx *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, gray_cmds, sizeof(gray_cmds) / sizeof(gray_cmds[0]), argc, argv);
}

/* ------------------------------------------------------------- listeners */

/* "version 3", "rule canary" or "-": what a listener holds. */
static void holds_text(const cJSON *e, char *out, size_t n)
{
	const cJSON *gray = cJSON_GetObjectItemCaseSensitive(e, "gray");

	if (cJSON_IsString(gray))
		snprintf(out, n, "rule %s", gray->valuestring);
	else if (cli_jint(e, "version") > 0)
		snprintf(out, n, "version %lld", cli_jint(e, "version"));
	else
		snprintf(out, n, "-");
}

static void print_listeners(const cli_cfg *k, const cJSON *first, const cJSON *items)
{
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(first, "summary"), *e;
	const char *head[] = {"INSTANCE", "IP",	    "HOLDS",	 "LATEST",
			      "WATCHING", "REPORT", "LAST-SEEN", "MESSAGE"};
	cli_table t;

	if (cli_jint(first, "version") > 0)
		printf("%s/%s/%s: version %lld, md5 %s\n", k->ns, k->group, k->id,
		       cli_jint(first, "version"), cli_jstr(first, "md5"));
	else
		printf("%s/%s/%s: absent\n", k->ns, k->group, k->id);
	printf("%lld instance%s, %lld on latest, %lld watching, %lld applied, %lld rejected\n",
	       cli_jint(sum, "total"), cli_jint(sum, "total") == 1 ? "" : "s",
	       cli_jint(sum, "onLatest"), cli_jint(sum, "watching"), cli_jint(sum, "applied"),
	       cli_jint(sum, "rejected"));
	if (!cJSON_GetArraySize(items))
		return;
	putchar('\n');
	cli_table_init(&t, 8);
	cli_table_add(&t, head);
	cJSON_ArrayForEach(e, items)
	{
		char holds[HCL_NAME_MAX + 16];
		const char *inst = cli_jstr(e, "instance"), *row[8];
		const char *report =
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "applied"))    ? "applied"
		    : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rejected")) ? "rejected"
										    : "-";
		holds_text(e, holds, sizeof(holds));
		row[0] = *inst ? inst : "-";
		row[1] = cli_jstr(e, "ip");
		row[2] = holds;
		row[3] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "latest")) ? "yes" : "no";
		row[4] =
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "watching")) ? "yes" : "no";
		row[5] = report;
		row[6] = cli_jstr(e, "lastSeen");
		row[7] = cli_jstr(e, "message");
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
}

int cli_cmd_listeners(cli_ctx *ctx, int argc, char **argv)
{
	const char *latest = NULL, *gray = NULL;
	const cli_opt opts[] = {
	    {"latest", 0, "true|false", "only instances that hold (or not) what they would get now",
	     &latest, NULL},
	    {"gray", 0, "RULE", "only instances the rule RULE serves", &gray, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	sbuf base = SBUF_INIT(SBUF_NOMAX);
	cJSON *items = NULL, *first = NULL;
	cli_cfg k;
	int rc = cli_parse_cfg(ctx, argc, argv, opts, 1, 1, &k);

	if (rc)
		return rc;
	if (latest && strcmp(latest, "true") && strcmp(latest, "false"))
		return cli_usage(ctx, "--latest is true or false");
	if (gray && !hcl_name_ok(gray))
		return cli_usage(ctx, "--gray '%s' is not a rule name", gray);
	cli_cfg_path(&base, &k, "/listeners?");
	if (latest)
		sbuf_addf(&base, "latest=%s&", latest);
	if (gray)
		sbuf_addf(&base, "gray=%s&", gray);
	rc = cli_get_pages(ctx, base.buf, "instances", &items, &first);
	if (!rc && ctx->json) {
		cJSON_DeleteItemFromObjectCaseSensitive(first, "page");
		cJSON_DeleteItemFromObjectCaseSensitive(first, "size");
		cJSON_AddItemToObject(first, "instances", items);
		items = NULL;
		cli_print_json(first);
		first = NULL;
	} else if (!rc) {
		print_listeners(&k, first, items);
	}
	cJSON_Delete(first);
	cJSON_Delete(items);
	sbuf_release(&base);
	return rc;
}

/* ---------------------------------------------------------------- tokens */

/* "revoked", "expired" or "active" (ISO-8601 UTC times compare as text). */
static const char *token_state(const cJSON *tk, const char *now)
{
	const char *exp = cli_jstr(tk, "expiresAt");

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tk, "revoked")))
		return "revoked";
	return *exp && strncmp(exp, now, strlen(now)) < 0 ? "expired" : "active";
}

static void token_namespaces(const cJSON *tk, sbuf *out)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(tk, "namespaces"))
	{
		sbuf_addf(out, "%s%s", out->len ? "," : "",
			  cJSON_IsString(e) ? e->valuestring : "");
	}
}

static int tokens_ls(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt opts[] = {{0}};
	hcl_resp r = {0};
	cJSON *doc = NULL, *e;
	char now[32];
	time_t t0 = time(NULL);
	struct tm tm;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (ctx->npos)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[0]);
	if ((rc = get_json(ctx, "/api/v1/tokens", &r, &doc)))
		goto out;
	if (ctx->json) {
		cJSON *o = cJSON_CreateObject();
		move_array(doc, "tokens", o);
		cli_print_json(o);
	} else {
		cli_table t;
		const char *head[] = {"ID",	    "NAME",    "ROLE",	  "NAMESPACES",
				      "CREATED-BY", "CREATED", "EXPIRES", "STATE"};
		gmtime_r(&t0, &tm);
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
		cli_table_init(&t, 8);
		cli_table_add(&t, head);
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "tokens"))
		{
			sbuf ns = SBUF_INIT(SBUF_NOMAX);
			const char *row[8];
			token_namespaces(e, &ns);
			row[0] = cli_jstr(e, "id");
			row[1] = cli_jstr(e, "name");
			row[2] = cli_jstr(e, "role");
			row[3] = ns.buf;
			row[4] = cli_jstr(e, "createdBy");
			row[5] = cli_jstr(e, "createdAt");
			row[6] = cli_jstr(e, "expiresAt");
			row[7] = token_state(e, now);
			cli_table_add(&t, row);
			sbuf_release(&ns);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
	}
out:
	cJSON_Delete(doc);
	hcl_resp_release(&r);
	return rc;
}

static int tokens_create(cli_ctx *ctx, int argc, char **argv)
{
	const char *role = NULL, *namespaces = NULL, *expires = NULL;
	const cli_opt opts[] = {
	    {"namespaces", 'n', "LIST", "the namespaces it may use, comma-separated (required)",
	     &namespaces, NULL},
	    {"role", 'r', "ROLE", "reader (read and watch; the default) or editor (+ publish)",
	     &role, NULL},
	    {"expires-in", 0, "D", "lifetime: 45s, 30m, 12h or 90d (the server's default: 90d)",
	     &expires, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	hcl_resp r = {0};
	hcl_req rq = {0};
	cJSON *body = NULL, *doc = NULL;
	char *text = NULL;
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (!ctx->npos)
		return cli_usage(ctx, "give the token a NAME");
	if (ctx->npos > 1)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[1]);
	if (!hcl_name_ok(ctx->pos[0]))
		return cli_usage(ctx, "NAME '%s': 1-128 characters of A-Z a-z 0-9 . _ : -",
				 ctx->pos[0]);
	if (!namespaces)
		return cli_usage(ctx, "which namespaces? give --namespaces NS[,NS...]");
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", ctx->pos[0]);
	cJSON_AddStringToObject(body, "role", role ? role : "reader");
	cJSON_AddItemToObject(body, "namespaces", csv_array(namespaces));
	if (expires)
		cJSON_AddStringToObject(body, "expiresIn", expires);
	text = cJSON_PrintUnformatted(body);
	rq.method = "POST";
	rq.path = "/api/v1/tokens";
	rq.body = text;
	rq.len = strlen(text);
	rc = cli_call_json(ctx, &rq, &r, &doc);
	if (rc)
		goto out;
	if (ctx->json) {
		cli_print_json(doc);
		doc = NULL;
	} else {
		sbuf ns = SBUF_INIT(SBUF_NOMAX);
		token_namespaces(doc, &ns);
		printf("created token %s (id %s): %s of %s, expires %s\n", cli_jstr(doc, "name"),
		       cli_jstr(doc, "id"), cli_jstr(doc, "role"), ns.buf,
		       cli_jstr(doc, "expiresAt"));
		printf("token: %s\n", cli_jstr(doc, "token"));
		if (*cli_jstr(doc, "apolloSecret"))
			printf("apollo secret: %s\n", cli_jstr(doc, "apolloSecret"));
		fputs("hotconf: the secret is shown only now; keep it somewhere safe\n", stderr);
		sbuf_release(&ns);
	}
out:
	if (text)
		memset(text, 0, strlen(text));
	cJSON_Delete(doc);
	cJSON_Delete(body);
	free(text);
	hcl_resp_release(&r);
	return rc;
}

static int tokens_rm(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_opt opts[] = {{0}};
	sbuf p = SBUF_INIT(SBUF_NOMAX);
	hcl_resp r = {0};
	hcl_req rq = {0};
	int rc = cli_parse(ctx, argc, argv, opts);

	if (rc)
		return rc;
	if (!ctx->npos || !*ctx->pos[0])
		return cli_usage(ctx, "which token? give its ID (hotconf tokens ls)");
	if (ctx->npos > 1)
		return cli_usage(ctx, "unexpected argument '%s'", ctx->pos[1]);
	sbuf_addstr(&p, "/api/v1/tokens/");
	cli_add_query(&p, ctx->pos[0]);
	rq.method = "DELETE";
	rq.path = p.buf;
	rc = cli_call(ctx, &rq, &r);
	if (!rc && ctx->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", ctx->pos[0]);
		cJSON_AddBoolToObject(o, "revoked", 1);
		cli_print_json(o);
	} else if (!rc) {
		printf("revoked token %s\n", ctx->pos[0]);
	}
	hcl_resp_release(&r);
	sbuf_release(&p);
	return rc;
}

static const cli_cmd token_cmds[] = {
    {"tokens ls", tokens_ls, "", "list the service tokens you may manage (an admin: all)"},
    {"tokens create", tokens_create,
     "NAME --namespaces NS[,NS...] [--role reader|editor] [--expires-in D]",
     "create a service token and print its secret, once"},
    {"tokens rm", tokens_rm, "ID", "revoke a service token at once"},
};

int cli_cmd_tokens(cli_ctx *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, token_cmds, sizeof(token_cmds) / sizeof(token_cmds[0]), argc,
			    argv);
}
