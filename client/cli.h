/*
 * cli.h: what the command line's files share: the command table's shape,
 * the flag parser, settings (address, token), requests with exit codes, and
 * aligned tables. Prefix cli_. Single-threaded except where cli_watch.c
 * says otherwise.
 */
#ifndef HC_CLI_INTERNAL_H
#define HC_CLI_INTERNAL_H

#include <stdio.h>

#include "hcl.h"
#include "sbuf.h"

struct cJSON;

enum {
	CLI_OK = 0,
	CLI_ERR = 1,
	CLI_USAGE = 2,
	CLI_NOT_FOUND = 3,
	CLI_CONFLICT = 4,
	CLI_UNAVAILABLE = 5,
	CLI_HELP = -1, /* --help was shown: exit 0 */
};

/* One flag of a command: --name [ARG], or -s. Either value or flag is set. */
typedef struct cli_opt {
	const char *name;
	char short_name;
	const char *arg; /* "FILE" when it takes a value; NULL for a switch */
	const char *help;
	const char **value;
	int *flag;
} cli_opt;

typedef struct cli_ctx cli_ctx;

/* A subcommand, as in git's commands[]: name, function, usage, one-line help. */
typedef struct cli_cmd {
	const char *name;
	int (*fn)(cli_ctx *ctx, int argc, char **argv);
	const char *usage;
	const char *help;
} cli_cmd;

struct cli_ctx {
	const cli_cmd *cmd;
	const char *addr_flag, *token_flag, *cacert, *timeout;
	int json, color;    /* color: 1 when stdout gets ANSI colours */
	char *addr, *token; /* resolved settings (owned) */
	long timeout_ms;
	hotconf_client *client;
	char **pos; /* positionals of the last cli_parse (owned array) */
	int npos;
};

/*
 * Parses argv[1..argc) (argv[0] is the command's name) against opts (ended
 * by a zeroed entry) and the flags every command takes. Positionals land in
 * ctx->pos. Returns CLI_OK, CLI_USAGE after saying why on stderr, or
 * CLI_HELP after printing the command's help on stdout.
 */
int cli_parse(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts);
/* Says "hotconf <cmd>: <why>" on stderr and returns CLI_USAGE. */
int cli_usage(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Says "hotconf: <why>" on stderr and returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Splits NS/GROUP/DATAID into checked names (each out is 129 bytes). 0, or
 * CLI_USAGE after saying why. */
int cli_key(cli_ctx *ctx, const char *arg, char *ns, char *group, char *id);
/* A config's names, each checked by cli_key. */
typedef struct cli_cfg {
	char ns[HCL_NAME_MAX + 1], group[HCL_NAME_MAX + 1], id[HCL_NAME_MAX + 1];
} cli_cfg;

/* Parses the command's flags and its first positional as a config, wanting
 * between min and max positionals. CLI_OK, CLI_USAGE or CLI_HELP. */
int cli_parse_cfg(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts, int min, int max,
		  cli_cfg *k);
/* Appends /api/v1/configs/NS/GROUP/DATAID and suffix to p. */
void cli_cfg_path(sbuf *p, const cli_cfg *k, const char *suffix);

/* Parses 1500ms, 2s, 3m, 1h or a bare number of seconds; 0 or -1. */
int cli_duration(const char *s, long *ms);

/* The client for ctx's settings (created on first use; freed by main). NULL
 * after saying why. */
hotconf_client *cli_client(cli_ctx *ctx);
/* Builds the client with extra options (watch): the settings fill in the
 * servers, token, CA file and timeout. Caller owns the client. */
hotconf_client *cli_client_with(cli_ctx *ctx, hotconf_options *o);

/*
 * Sends rq; a 2xx (or 304) answer returns CLI_OK with *r filled (release it
 * either way). Otherwise it says why on stderr and returns the exit code:
 * CLI_UNAVAILABLE, CLI_NOT_FOUND, CLI_CONFLICT or CLI_ERR.
 */
int cli_call(cli_ctx *ctx, const hcl_req *rq, hcl_resp *r);
/*
 * GETs every page of a paged answer ({"total", field: [...]}, base ending in
 * '?' or '&') into *items, a cJSON array the caller owns (also on failure).
 * With first, *first receives the first page's document without field (the
 * caller owns it; NULL when no page came). Exit code as cli_call.
 */
int cli_get_pages(cli_ctx *ctx, const char *base, const char *field, struct cJSON **items,
		  struct cJSON **first);
/*
 * Runs a command made of subcommands (`gray set`, `tokens ls`): the first
 * argument after the flags every command takes names one of subs (their
 * names are "<command> <sub>"), which then runs with ctx->cmd set to it. No
 * subcommand, or --help, lists them.
 */
int cli_dispatch(cli_ctx *ctx, const cli_cmd *subs, size_t n, int argc, char **argv);
/* Appends s %-escaped for a query string. */
void cli_add_query(sbuf *sb, const char *s);

/* Aligned text tables: rows of ncols cells; the last column is not padded. */
typedef struct cli_table {
	size_t ncols, nrows, alloc;
	char **cells;
} cli_table;

void cli_table_init(cli_table *t, size_t ncols);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_release(cli_table *t);

/* Prints a cJSON value (taken over) as one line on stdout. */
void cli_print_json(struct cJSON *v);
/* The answer's body parsed as JSON (caller owns it), or NULL. */
struct cJSON *cli_body_json(const hcl_resp *r);
/* cli_call, then *doc = the answer's body as JSON (the caller owns it; NULL
 * on failure or when the body is not JSON). */
int cli_call_json(cli_ctx *ctx, const hcl_req *rq, hcl_resp *r, struct cJSON **doc);
/* A write's answer (201: created, else its "changed"): adds "created" and
 * "changed" to o when o is not NULL; returns created, updated or unchanged. */
const char *cli_write_result(const hcl_resp *r, const struct cJSON *doc, struct cJSON *o);
/* Adds "namespace", "group" and "dataId" to o. */
void cli_add_names(struct cJSON *o, const cli_cfg *k);
/* An If-Match value for --if-match v: "*" as it is, an md5 quoted; NULL for
 * NULL. Caller frees. */
char *cli_if_match(const char *v);
/* 1 when output should be coloured for --color when (NULL: auto, which
 * means stdout is a terminal, NO_COLOR is unset and TERM is not dumb). */
int cli_want_color(const char *when);
/* A JSON string member, or "". */
const char *cli_jstr(const struct cJSON *o, const char *name);
/* A JSON number member as an integer, or 0. */
long long cli_jint(const struct cJSON *o, const char *name);

/* The settings directory: $XDG_CONFIG_HOME/hotconf or ~/.config/hotconf
 * (into out[4096]); 0 or -1 when neither is set. */
int cli_config_dir(char *out, size_t n);

/* Commands (cli_cmds.c, cli_diff.c, cli_watch.c, cli_admin.c, cli_archive.c). */
int cli_cmd_get(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_put(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rm(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ls(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_history(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_rollback(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_login(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_diff(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_gray(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_listeners(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_tokens(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_export(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_import(cli_ctx *ctx, int argc, char **argv);

/* Reads a whole file ("-": stdin) into sb; 0 or -1 with errno. */
int cli_read_file(const char *path, sbuf *sb);

#endif
