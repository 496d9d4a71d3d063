/*
 * cli.c: the hotconf command line: the command table, `hotconf --help`,
 * the flag parser, settings (flags, then HOTCONF_ADDR / HOTCONF_TOKEN, then
 * ~/.config/hotconf/config, then the token saved by `hotconf login`), and
 * requests mapped to exit codes. Commands live in cli_cmds.c, cli_diff.c,
 * cli_watch.c, cli_admin.c (gray, listeners, tokens) and cli_archive.c
 * (export, import). Single-threaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "hc_cli.h"
#include "pct.h"
#include "xmalloc.h"

#define DEFAULT_ADDR "http://127.0.0.1:8848"

static const cli_cmd commands[] = {
    {"get", cli_cmd_get, "NS/GROUP/DATAID", "print a config's content"},
    {"put", cli_cmd_put, "NS/GROUP/DATAID [FILE|-] [--format F] [--message M] [--if-match MD5]",
     "publish a config from a file or stdin"},
    {"rm", cli_cmd_rm, "NS/GROUP/DATAID [--if-match MD5]", "delete a config"},
    {"ls", cli_cmd_ls, "[--namespace NS] [--group G] [--search TEXT] [-q]", "list configs"},
    {"history", cli_cmd_history, "NS/GROUP/DATAID", "list a config's versions, newest first"},
    {"diff", cli_cmd_diff, "NS/GROUP/DATAID V1 [V2] [--color WHEN]",
     "unified diff from version V1 to V2 (default: the current content)"},
    {"rollback", cli_cmd_rollback, "NS/GROUP/DATAID VERSION [--message M]",
     "publish an old version's content as a new version"},
    {"login", cli_cmd_login, "[--username U] [--password-stdin]",
     "log in and save the token to ~/.config/hotconf/token"},
    {"watch", cli_cmd_watch,
     "NS/GROUP/DATAID... (--out FILE [--template TPL] | --out-dir DIR)\n"
     "                     | NS/GROUP/ --out-dir DIR (every config of the group)\n"
     "                     [--exec CMD | --signal SIG --pid-file F] [--wait MIN:MAX]\n"
     "                     [--check CMD]",
     "write configs to files as they change and reload a program"},
    {"gray", cli_cmd_gray, "ls|set|rm|promote NS/GROUP/DATAID [RULE] ...",
     "list, set, abort or promote a config's gray release rules"},
    {"listeners", cli_cmd_listeners, "NS/GROUP/DATAID [--latest true|false] [--gray RULE]",
     "who holds a config: instances, versions, rules and apply reports"},
    {"tokens", cli_cmd_tokens, "ls|create|rm ...", "list, create or revoke service tokens"},
    {"export", cli_cmd_export, "NS [--group G] [-o FILE]", "write a namespace's configs as a zip"},
    {"import", cli_cmd_import, "NS FILE|- [--policy abort|skip|overwrite] [--dry-run]",
     "publish the configs of an export zip (hotconf's or Nacos') into a namespace"},
};

static void main_help(FILE *to)
{
	size_t i;

	fprintf(to, "usage: hotconf <command> [flags]\n\nServer:\n"
		    "  serve       run the server (see hotconf serve --help)\n"
		    "  version     print the version\n\n"
		    "Configs (a config is NAMESPACE/GROUP/DATAID):\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(to, "  %-10s  %s\n", commands[i].name, commands[i].help);
	fprintf(
	    to,
	    "\nFlags every command takes (before or after its name):\n"
	    "  --addr URLS     servers, comma-separated, tried in order "
	    "(HOTCONF_ADDR; " DEFAULT_ADDR ")\n"
	    "  --token TOKEN   bearer token (HOTCONF_TOKEN; else the one `hotconf login` saved)\n"
	    "  --cacert FILE   CA certificates for https servers\n"
	    "  --timeout D     per request, e.g. 5s (10s)\n"
	    "  --json          machine-readable output, one JSON document\n"
	    "  -h, --help      help for a command: hotconf <command> --help\n"
	    "\nSettings: ~/.config/hotconf/config (or $XDG_CONFIG_HOME/hotconf/config) may hold\n"
	    "lines \"addr = URLS\" and \"token = TOKEN\"; flags and the environment win.\n"
	    "HOTCONF_DEBUG=1 prints the client's failover and retry messages on stderr.\n"
	    "\nExit codes:\n"
	    "  0  ok\n"
	    "  1  other error (the server's message is on stderr)\n"
	    "  2  usage: a bad flag, argument or name\n"
	    "  3  not found: no such config, version, rule, token or namespace\n"
	    "  4  conflict: a failed --if-match or a state that forbids it\n"
	    "  5  unavailable: no server answered\n");
}

static void cmd_help(const cli_cmd *cmd, const cli_opt *opts)
{
	const cli_opt *o;

	printf("usage: hotconf %s %s\n\n%s.\n", cmd->name, cmd->usage, cmd->help);
	if (opts && opts->name)
		printf("\nFlags:\n");
	for (o = opts; o && o->name; o++) {
		char left[64];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
		printf("  %-24s %s\n", left, o->help);
	}
	printf("\nAlso: --addr URLS, --token TOKEN, --cacert FILE, --timeout D, --json "
	       "(see hotconf --help).\n");
}

int cli_usage(cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hotconf %s: ", ctx->cmd ? ctx->cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see hotconf %s --help)\n", ctx->cmd ? ctx->cmd->name : "");
	return CLI_USAGE;
}

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("hotconf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* The flags of every command, bound to ctx. */
static void common_opts(cli_ctx *ctx, cli_opt out[6])
{
	cli_opt c[6] = {
	    {"addr", 0, "URLS", "servers", &ctx->addr_flag, NULL},
	    {"token", 0, "TOKEN", "bearer token", &ctx->token_flag, NULL},
	    {"cacert", 0, "FILE", "CA file", &ctx->cacert, NULL},
	    {"timeout", 0, "D", "request timeout", &ctx->timeout, NULL},
	    {"json", 0, NULL, "JSON output", NULL, &ctx->json},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};

	memcpy(out, c, sizeof(c));
}

static const cli_opt *find_opt(const cli_opt *opts, const cli_opt *common, const char *name,
			       size_t n, char short_name)
{
	const cli_opt *lists[2] = {opts, common}, *o;
	int i;

	for (i = 0; i < 2; i++)
		for (o = lists[i]; o && o->name; o++)
			if (short_name ? o->short_name == short_name
				       : strlen(o->name) == n && !strncmp(o->name, name, n))
				return o;
	return NULL;
}

int cli_parse(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts)
{
	cli_opt common[6];
	int i, rest = 0;

	common_opts(ctx, common);
	free(ctx->pos);
	ctx->pos = xcalloc((size_t)argc + 1, sizeof(*ctx->pos));
	ctx->npos = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *name;
		const cli_opt *o;
		size_t n;

		if (rest || a[0] != '-' || !strcmp(a, "-")) {
			ctx->pos[ctx->npos++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			rest = 1;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cmd_help(ctx->cmd, opts);
			return CLI_HELP;
		}
		if (a[1] != '-') {
			if (a[2] || !(o = find_opt(opts, common, NULL, 0, a[1])))
				return cli_usage(ctx, "unknown flag %s", a);
			eq = NULL;
		} else {
			name = a + 2;
			eq = strchr(name, '=');
			n = eq ? (size_t)(eq - name) : strlen(name);
			if (!(o = find_opt(opts, common, name, n, 0)))
				return cli_usage(ctx, "unknown flag %s", a);
		}
		if (!o->arg) {
			if (eq)
				return cli_usage(ctx, "--%s takes no value", o->name);
			*o->flag = 1;
		} else if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			return cli_usage(ctx, "--%s needs a value (%s)", o->name, o->arg);
		}
	}
	return CLI_OK;
}

int cli_key(cli_ctx *ctx, const char *arg, char *ns, char *group, char *id)
{
	const char *a = strchr(arg, '/'), *b = a ? strchr(a + 1, '/') : NULL;
	size_t n1, n2, n3;

	if (!a || !b || strchr(b + 1, '/'))
		return cli_usage(ctx, "'%s' is not NAMESPACE/GROUP/DATAID", arg);
	n1 = (size_t)(a - arg);
	n2 = (size_t)(b - a - 1);
	n3 = strlen(b + 1);
	if (n1 > HCL_NAME_MAX || n2 > HCL_NAME_MAX || n3 > HCL_NAME_MAX)
		return cli_usage(ctx, "'%s': each name is at most %d characters", arg,
				 HCL_NAME_MAX);
	memcpy(ns, arg, n1);
	ns[n1] = '\0';
	memcpy(group, a + 1, n2);
	group[n2] = '\0';
	memcpy(id, b + 1, n3 + 1);
	if (!hcl_name_ok(ns) || !hcl_name_ok(group) || !hcl_name_ok(id))
		return cli_usage(ctx,
				 "'%s': names are 1-128 characters of A-Z a-z 0-9 . _ : - "
				 "(not . or ..)",
				 arg);
	return CLI_OK;
}

int cli_duration(const char *s, long *ms)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v < 0 || v > 100000000)
		return -1;
	if (!strcmp(end, "ms"))
		*ms = v;
	else if (!strcmp(end, "s") || !*end)
		*ms = v * 1000;
	else if (!strcmp(end, "m"))
		*ms = v * 60000;
	else if (!strcmp(end, "h"))
		*ms = v * 3600000;
	else
		return -1;
	return 0;
}

int cli_config_dir(char *out, size_t n)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int w;

	if (x && *x)
		w = snprintf(out, n, "%s/hotconf", x);
	else if (home && *home)
		w = snprintf(out, n, "%s/.config/hotconf", home);
	else
		return -1;
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* Trims blanks and line ends off both sides of s, in place. */
static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Reads "key = value" lines of the settings file into *addr and *token. */
static void read_settings(const char *dir, char **addr, char **token)
{
	char path[4200], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *k, *v;
		if (line[0] == '#' || !eq)
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (!strcmp(k, "addr") && !*addr)
			*addr = xstrdup(v);
		else if (!strcmp(k, "token") && !*token)
			*token = xstrdup(v);
	}
	fclose(f);
}

/* Resolves the address and token once: flag, environment, file, login. */
static void settings(cli_ctx *ctx)
{
	const char *env_addr = getenv("HOTCONF_ADDR"), *env_token = getenv("HOTCONF_TOKEN");
	char dir[4096], path[4200];
	char *file_addr = NULL, *file_token = NULL;
	sbuf tok = SBUF_INIT(8192);

	if (ctx->addr)
		return;
	if (!cli_config_dir(dir, sizeof(dir)))
		read_settings(dir, &file_addr, &file_token);
	if (ctx->addr_flag)
		ctx->addr = xstrdup(ctx->addr_flag);
	else if (env_addr && *env_addr)
		ctx->addr = xstrdup(env_addr);
	else if (file_addr)
		ctx->addr = xstrdup(file_addr);
	else
		ctx->addr = xstrdup(DEFAULT_ADDR);
	if (ctx->token_flag)
		ctx->token = xstrdup(ctx->token_flag);
	else if (env_token && *env_token)
		ctx->token = xstrdup(env_token);
	else if (file_token)
		ctx->token = xstrdup(file_token);
	else if (!cli_config_dir(dir, sizeof(dir)) &&
		 snprintf(path, sizeof(path), "%s/token", dir) > 0 && !cli_read_file(path, &tok))
		ctx->token = xstrdup(trim(tok.buf));
	free(file_addr);
	free(file_token);
	sbuf_release(&tok);
}

/* "a:1,https://b" -> "http://a:1,https://b". */
static char *normalise_addr(const char *list)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX);
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		char *item = xmemdupz(p, n), *t = trim(item);
		if (*t) {
			if (out.len)
				sbuf_addch(&out, ',');
			if (!strstr(t, "://"))
				sbuf_addstr(&out, "http://");
			sbuf_addstr(&out, t);
		}
		free(item);
		p += n;
		if (*p == ',')
			p++;
	}
	return sbuf_detach(&out, NULL);
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	if (getenv("HOTCONF_DEBUG"))
		fprintf(stderr, "hotconf: %s\n", line);
}

hotconf_client *cli_client_with(cli_ctx *ctx, hotconf_options *o)
{
	hotconf_client *c;
	char *addr;

	settings(ctx);
	if (ctx->timeout &&
	    (cli_duration(ctx->timeout, &ctx->timeout_ms) || ctx->timeout_ms <= 0)) {
		cli_fail(CLI_USAGE, "--timeout '%s' is invalid: use e.g. 500ms or 5s",
			 ctx->timeout);
		return NULL;
	}
	addr = normalise_addr(ctx->addr);
	o->servers = addr;
	o->token = ctx->token;
	o->ca_file = ctx->cacert;
	o->timeout_ms = ctx->timeout_ms;
	if (!o->log)
		o->log = log_line;
	c = hotconf_new(o);
	if (!c)
		cli_fail(CLI_USAGE, "cannot use the servers '%s' (use http:// or https:// URLs)",
			 ctx->addr);
	free(addr);
	return c;
}

hotconf_client *cli_client(cli_ctx *ctx)
{
	hotconf_options o;

	if (ctx->client)
		return ctx->client;
	hotconf_options_init(&o);
	ctx->client = cli_client_with(ctx, &o);
	return ctx->client;
}

int cli_call(cli_ctx *ctx, const hcl_req *rq, hcl_resp *r)
{
	hotconf_client *c = cli_client(ctx);
	char why[1024];
	int rc;

	if (!c)
		return CLI_USAGE;
	if (hcl_request(c, rq, r) != HOTCONF_OK)
		return cli_fail(CLI_UNAVAILABLE, "no server answered (%s): %s", ctx->addr,
				r->error[0] ? r->error : "server error");
	rc = hcl_status_err(r->status);
	if (rc == HOTCONF_OK)
		return CLI_OK;
	hcl_error_message(r, why, sizeof(why));
	switch (rc) {
	case HOTCONF_ENOTFOUND:
		return cli_fail(CLI_NOT_FOUND, "%s", why);
	case HOTCONF_ECONFLICT:
		return cli_fail(CLI_CONFLICT, "%s", why);
	case HOTCONF_EAUTH:
		return cli_fail(CLI_ERR,
				"not allowed: %s (log in with hotconf login, or set "
				"HOTCONF_TOKEN)",
				why);
	default:
		return cli_fail(CLI_ERR, "%s", why);
	}
}

void cli_add_query(sbuf *sb, const char *s)
{
	pct_encode(sb, s, strlen(s), PCT_URI);
}

void cli_table_init(cli_table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
	size_t i;

	if (t->nrows == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 16;
		t->cells = xrealloc(t->cells, t->alloc * t->ncols * sizeof(*t->cells));
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

/* Display width of UTF-8 text: one column per code point. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void cli_table_print(const cli_table *t, FILE *out)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w)), r, i;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			size_t n = width(t->cells[r * t->ncols + i]);
			if (n > w[i])
				w[i] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * t->ncols + i];
			int last = i + 1 == t->ncols;
			fputs(cell, out);
			if (!last) {
				size_t pad = w[i] - width(cell) + 2;
				while (pad--)
					fputc(' ', out);
			}
		}
		fputc('\n', out);
	}
	free(w);
}

void cli_table_release(cli_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void cli_print_json(cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
	}
	free(s);
	cJSON_Delete(v);
}

const char *cli_jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}

long long cli_jint(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

int cli_read_file(const char *path, sbuf *sb)
{
	char chunk[65536];
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t n;
	int err = 0;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (sbuf_add(sb, chunk, n)) {
			errno = EFBIG;
			err = -1;
			break;
		}
	if (!err && ferror(f))
		err = -1;
	if (f != stdin)
		fclose(f);
	return err;
}

/* Takes the flags every command knows from before the command's name. */
static int leading_flags(cli_ctx *ctx, int argc, char **argv, int *i)
{
	cli_opt common[6];

	common_opts(ctx, common);
	for (*i = 1; *i < argc && argv[*i][0] == '-'; (*i)++) {
		const char *a = argv[*i];
		const cli_opt *o;
		const char *eq = strchr(a, '=');
		size_t n;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return CLI_HELP;
		if (strncmp(a, "--", 2))
			return cli_fail(CLI_USAGE, "unknown flag %s (see hotconf --help)", a);
		n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		o = find_opt(NULL, common, a + 2, n, 0);
		if (!o)
			return cli_fail(CLI_USAGE, "unknown flag %s (see hotconf --help)", a);
		if (!o->arg)
			*o->flag = 1;
		else if (eq)
			*o->value = eq + 1;
		else if (*i + 1 < argc)
			*o->value = argv[++*i];
		else
			return cli_fail(CLI_USAGE, "--%s needs a value", o->name);
	}
	return CLI_OK;
}

int cli_dispatch(cli_ctx *ctx, const cli_cmd *subs, size_t n, int argc, char **argv)
{
	const cli_cmd *group = ctx->cmd;
	size_t k, len = strlen(group->name);
	int i, rc = leading_flags(ctx, argc, argv, &i);
	FILE *to = rc == CLI_HELP ? stdout : stderr;

	for (k = 0; rc == CLI_OK && i < argc && k < n; k++)
		if (!strcmp(subs[k].name + len + 1, argv[i])) {
			ctx->cmd = &subs[k];
			return subs[k].fn(ctx, argc - i, argv + i);
		}
	if (rc != CLI_OK && rc != CLI_HELP)
		return rc;
	if (rc == CLI_OK && i >= argc)
		fprintf(stderr, "hotconf %s: which subcommand?\n\n", group->name);
	else if (rc == CLI_OK)
		fprintf(stderr, "hotconf %s: '%s' is not a subcommand\n\n", group->name, argv[i]);
	fprintf(to, "usage: hotconf %s %s\n\n%s.\n\nSubcommands:\n", group->name, group->usage,
		group->help);
	for (k = 0; k < n; k++)
		fprintf(to, "  %-9s %s\n", subs[k].name + len + 1, subs[k].help);
	fprintf(to, "\nhotconf %s <subcommand> --help tells the rest.\n", group->name);
	return rc == CLI_HELP ? CLI_HELP : CLI_USAGE;
}

int hc_cli_main(int argc, char **argv)
{
	cli_ctx ctx;
	size_t k;
	int i, rc, help = 0;

	memset(&ctx, 0, sizeof(ctx));
	rc = leading_flags(&ctx, argc, argv, &i);
	if (rc == CLI_HELP || (rc == CLI_OK && i >= argc)) {
		main_help(stdout);
		return 0;
	}
	if (rc)
		return rc;
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			main_help(stdout);
			return 0;
		}
		help = 1;
		i++;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name))
			ctx.cmd = &commands[k];
	if (!ctx.cmd) {
		fprintf(stderr, "hotconf: '%s' is not a command\n\n", argv[i]);
		main_help(stderr);
		return CLI_USAGE;
	}
	if (help) {
		char *help_argv[] = {argv[i], "--help", NULL};
		rc = ctx.cmd->fn(&ctx, 2, help_argv);
	} else {
		rc = ctx.cmd->fn(&ctx, argc - i, argv + i);
	}
	if (rc == CLI_HELP)
		rc = CLI_OK;
	hotconf_free(ctx.client);
	free(ctx.addr);
	free(ctx.token);
	free(ctx.pos);
	return rc;
}
