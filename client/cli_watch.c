/*
 * cli_watch.c: `hotconf watch`: keeps files in step with configs and reloads
 * a program, like consul-template and confd.
 *
 * Threads: libhotconf's watch thread runs on_change, which only copies the
 * new content into the shared state (under mu), returns HOTCONF_DEFER and
 * wakes the main thread through a pipe. The main thread waits for quiet
 * (--wait MIN:MAX), renders, stages, checks, installs and runs the command,
 * then reports each config applied or rejected with hotconf_report. SIGTERM
 * and SIGINT reach only the main thread (blocked before the watch thread
 * starts), whose handler writes to the same pipe; the main thread then stops
 * the client and exits 0.
 *
 * NS/GROUP/ with --out-dir mirrors a whole group (hotconf_watch_group): the
 * configs are found as the library delivers them (on_member adds them to
 * cfgs under mu), a deleted one leaves the next directory, and a delivery
 * with cfg->more holds the burst open until the library's answer is all
 * delivered, so one server answer becomes one directory flip.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_render.h"
#include "xmalloc.h"

#define MSG_MAX 512

typedef struct wcfg {
	char ns[HCL_NAME_MAX + 1], group[HCL_NAME_MAX + 1], id[HCL_NAME_MAX + 1];
	char key[3 * HCL_NAME_MAX + 3];
	char *content; /* the latest delivered (under mu), or a snapshot's copy */
	size_t len;
	char md5[33];
	int64_t version;
	int have, deleted;
	int told; /* "waiting for" was said (main thread only) */
	struct wstate *ws;
} wcfg;

typedef struct wstate {
	const char *out, *out_dir, *exec, *check, *pid_file;
	int sig;
	long wait_min, wait_max;
	tpl *t;
	mode_t umask_bits;
	hotconf_client *c;

	/* NS/GROUP/: every config of one group; cfgs grows as they are found. */
	int pattern;
	char pat_ns[HCL_NAME_MAX + 1], pat_group[HCL_NAME_MAX + 1];

	pthread_mutex_t mu;
	wcfg *cfgs;
	size_t n;
	int dirty;
	int holding;		    /* the last delivery said more follow at once */
	uint64_t first_ms, last_ms; /* of the burst being waited out */
} wstate;

static int wake_pipe[2] = {-1, -1};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("hotconf watch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_signal(int sig)
{
	char b = 's';
	int e = errno;

	(void)sig;
	if (write(wake_pipe[1], &b, 1) < 0) {
		/* The pipe is full: a wake-up is pending anyway. */
	}
	errno = e;
}

/* Keeps cfg in w and marks the burst; under ws->mu, then wakes the main thread. */
static void keep(wstate *ws, wcfg *w, const hotconf_config *cfg)
{
	uint64_t t = now_ms();
	char b = 'c';

	free(w->content);
	w->content = xmemdupz(cfg->content, cfg->len);
	w->len = cfg->len;
	memcpy(w->md5, cfg->md5, sizeof(w->md5));
	w->version = cfg->version;
	w->deleted = cfg->deleted;
	w->have = 1;
	if (!ws->dirty)
		ws->first_ms = t;
	ws->dirty = 1;
	ws->last_ms = t;
	ws->holding = cfg->more;
	pthread_mutex_unlock(&ws->mu);
	if (write(wake_pipe[1], &b, 1) < 0) {
		/* Full: the main thread has wake-ups to read already. */
	}
}

/* Runs on libhotconf's watch thread: keep the content, wake the main thread. */
static int on_change(hotconf_client *c, const hotconf_config *cfg, void *ud, char *msg,
		     size_t msg_size)
{
	wcfg *w = ud;

	(void)c;
	(void)msg;
	(void)msg_size;
	pthread_mutex_lock(&w->ws->mu);
	keep(w->ws, w, cfg);
	return HOTCONF_DEFER;
}

/* The same for a config of the watched group, added to cfgs when new. */
static int on_member(hotconf_client *c, const hotconf_config *cfg, void *ud, char *msg,
		     size_t msg_size)
{
	wstate *ws = ud;
	wcfg *w = NULL;
	size_t i;

	(void)c;
	(void)msg;
	(void)msg_size;
	pthread_mutex_lock(&ws->mu);
	for (i = 0; i < ws->n && !w; i++)
		if (!strcmp(ws->cfgs[i].id, cfg->data_id))
			w = &ws->cfgs[i];
	if (!w) {
		ws->cfgs = xrealloc(ws->cfgs, (ws->n + 1) * sizeof(*ws->cfgs));
		w = &ws->cfgs[ws->n++];
		memset(w, 0, sizeof(*w));
		snprintf(w->ns, sizeof(w->ns), "%s", cfg->ns);
		snprintf(w->group, sizeof(w->group), "%s", cfg->group);
		snprintf(w->id, sizeof(w->id), "%s", cfg->data_id);
		snprintf(w->key, sizeof(w->key), "%s/%s/%s", w->ns, w->group, w->id);
		w->ws = ws;
	}
	keep(ws, w, cfg);
	return HOTCONF_DEFER;
}

/* Runs cmd with /bin/sh -c; its exit status, 128+N for signal N, or -1. */
static int run_shell(const char *cmd)
{
	pid_t pid = fork(), r;
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* cmd with each {{file}} replaced by path in single quotes. */
static char *with_file(const char *cmd, const char *path)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX);
	const char *p = cmd, *hit;

	while ((hit = strstr(p, "{{file}}"))) {
		const char *q;
		sbuf_add(&out, p, (size_t)(hit - p));
		sbuf_addch(&out, '\'');
		for (q = path; *q; q++)
			if (*q == '\'')
				sbuf_addstr(&out, "'\\''");
			else
				sbuf_addch(&out, *q);
		sbuf_addch(&out, '\'');
		p = hit + 8;
	}
	sbuf_addstr(&out, p);
	return sbuf_detach(&out, NULL);
}

/* The reload: --exec's exit status, or the signal to --pid-file's process.
 * 0 or -1 with msg. */
static int reload(wstate *ws, char *msg, size_t n)
{
	if (ws->exec) {
		int st = run_shell(ws->exec);
		if (st == 0)
			return 0;
		snprintf(msg, n, "--exec command exited with status %d", st);
		say("%s", msg);
		return -1;
	}
	if (ws->sig) {
		sbuf pid = SBUF_INIT(64);
		char *end;
		long v = -1;

		if (!cli_read_file(ws->pid_file, &pid))
			v = strtol(pid.buf, &end, 10);
		sbuf_release(&pid);
		if (v <= 0 || kill((pid_t)v, ws->sig)) {
			snprintf(msg, n, "cannot signal the process in %s: %s", ws->pid_file,
				 v <= 0 ? "no pid in it" : strerror(errno));
			say("%s", msg);
			return -1;
		}
	}
	return 0;
}

/* Runs --check on the staged path; 0, or -1 with msg. */
static int check(wstate *ws, const char *staged, char *msg, size_t n)
{
	char *cmd;
	int st;

	if (!ws->check)
		return 0;
	cmd = with_file(ws->check, staged);
	st = run_shell(cmd);
	free(cmd);
	if (st == 0)
		return 0;
	snprintf(msg, n, "--check command exited with status %d; kept the previous content", st);
	say("%s", msg);
	return -1;
}

/* The configs a template renders from. */
typedef struct view {
	const wcfg *cfgs;
	size_t n;
} view;

static const char *lookup(void *ud, const char *key, size_t *len)
{
	const view *v = ud;
	size_t i;

	for (i = 0; i < v->n; i++)
		if (!strcmp(key, "content") || !strcmp(key, v->cfgs[i].key)) {
			*len = v->cfgs[i].len;
			return v->cfgs[i].content;
		}
	return NULL;
}

/* --out FILE: render, compare, stage, check, install, reload. */
static int apply_file(wstate *ws, const wcfg *snap, size_t count, char *msg, size_t n)
{
	sbuf body = SBUF_INIT(SBUF_NOMAX);
	char tmp[PATH_MAX];
	view v = {snap, count};
	int rc = 0;

	if (ws->t)
		tpl_render(ws->t, lookup, &v, &body);
	else
		sbuf_add(&body, snap[0].content, snap[0].len);
	if (out_same_file(ws->out, body.buf, body.len))
		goto out; /* already in place: nothing to reload */
	if (out_stage_file(ws->out, body.buf, body.len, ws->umask_bits, tmp)) {
		snprintf(msg, n, "cannot write beside %s: %s", ws->out, strerror(errno));
		say("%s", msg);
		rc = -1;
		goto out;
	}
	if (check(ws, tmp, msg, n)) {
		unlink(tmp);
		rc = -1;
		goto out;
	}
	if (out_install_file(tmp, ws->out)) {
		snprintf(msg, n, "cannot replace %s: %s", ws->out, strerror(errno));
		say("%s", msg);
		rc = -1;
		goto out;
	}
	say("wrote %s", ws->out);
	rc = reload(ws, msg, n);
out:
	sbuf_release(&body);
	return rc;
}

/* --out-dir DIR: one file per config (deleted ones of a group left out),
 * swapped in all at once. */
static int apply_dir(wstate *ws, const wcfg *snap, size_t count, char *msg, size_t n)
{
	char **names = xcalloc(count + 1, sizeof(*names)),
	     **data = xcalloc(count + 1, sizeof(*data));
	size_t *lens = xcalloc(count + 1, sizeof(*lens)), i, k = 0;
	char staged[PATH_MAX];
	int rc = 0;

	for (i = 0; i < count; i++) {
		if (snap[i].deleted)
			continue;
		names[k] = (char *)snap[i].id;
		data[k] = snap[i].content;
		lens[k++] = snap[i].len;
	}
	if (out_same_dir(ws->out_dir, names, data, lens, k))
		goto out;
	if (out_stage_dir(ws->out_dir, names, data, lens, k, ws->umask_bits, staged)) {
		snprintf(msg, n, "cannot write a new directory beside %s: %s", ws->out_dir,
			 strerror(errno));
		say("%s", msg);
		rc = -1;
		goto out;
	}
	if (check(ws, staged, msg, n)) {
		out_discard_dir(staged);
		rc = -1;
		goto out;
	}
	if (out_install_dir(ws->out_dir, staged)) {
		snprintf(msg, n, "cannot flip %s: %s", ws->out_dir, strerror(errno));
		say("%s", msg);
		out_discard_dir(staged);
		rc = -1;
		goto out;
	}
	say("wrote %s (%zu file%s)", ws->out_dir, k, k == 1 ? "" : "s");
	rc = reload(ws, msg, n);
out:
	free(names);
	free(data);
	free(lens);
	return rc;
}

/* Renders what the burst left and reports the outcome for every config. */
static void apply(wstate *ws)
{
	wcfg *snap;
	char msg[MSG_MAX] = "";
	size_t i, n;
	int ready = 1, deleted = 0, rc;

	pthread_mutex_lock(&ws->mu);
	/* A group's configs grow on the watch thread: this burst's are these n. */
	n = ws->n;
	snap = xcalloc(n ? n : 1, sizeof(*snap));
	for (i = 0; i < n; i++) {
		snap[i] = ws->cfgs[i];
		snap[i].content =
		    ws->cfgs[i].content ? xmemdupz(ws->cfgs[i].content, ws->cfgs[i].len) : NULL;
		ready &= snap[i].have;
		deleted |= snap[i].have && snap[i].deleted;
	}
	ws->dirty = 0;
	pthread_mutex_unlock(&ws->mu);
	if (!ready) {
		for (i = 0; i < n; i++)
			if (!snap[i].have && !ws->cfgs[i].told) {
				ws->cfgs[i].told = 1; /* only this thread reads or writes told */
				say("waiting for %s (not written until every config exists)",
				    snap[i].key);
			}
		goto out;
	}
	if (deleted && !ws->pattern) {
		snprintf(msg, sizeof(msg), "a config was deleted; kept the last %s",
			 ws->out ? "file" : "files");
		say("%s", msg);
		rc = -1;
	} else {
		rc = ws->out ? apply_file(ws, snap, n, msg, sizeof(msg))
			     : apply_dir(ws, snap, n, msg, sizeof(msg));
	}
	for (i = 0; i < n; i++)
		hotconf_report(ws->c, snap[i].ns, snap[i].group, snap[i].id, snap[i].md5, rc != 0,
			       rc ? msg : NULL);
out:
	for (i = 0; i < n; i++)
		free(snap[i].content);
	free(snap);
}

/* How long the main thread may sleep: -1 forever, else ms until the burst fires. */
static int next_timeout(wstate *ws)
{
	uint64_t t = now_ms(), due;
	int ms = -1;

	pthread_mutex_lock(&ws->mu);
	/* While the library says more of the same answer follow, the burst is
	 * not over: the next delivery wakes this thread. */
	if (ws->dirty && !ws->holding) {
		due = ws->last_ms + (uint64_t)ws->wait_min;
		if (ws->first_ms + (uint64_t)ws->wait_max < due)
			due = ws->first_ms + (uint64_t)ws->wait_max;
		ms = due <= t ? 0 : (int)(due - t);
	}
	pthread_mutex_unlock(&ws->mu);
	return ms;
}

/* Waits for changes and signals until SIGTERM or SIGINT. */
static void loop(wstate *ws)
{
	for (;;) {
		struct pollfd p = {wake_pipe[0], POLLIN, 0};
		int timeout = next_timeout(ws), stop = 0;

		if (timeout != 0 && poll(&p, 1, timeout) > 0) {
			char buf[256];
			ssize_t n = read(wake_pipe[0], buf, sizeof(buf)), i;
			for (i = 0; i < n; i++)
				stop |= buf[i] == 's';
		}
		if (stop)
			return;
		if (next_timeout(ws) == 0)
			apply(ws);
	}
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"TERM", SIGTERM},
		    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"KILL", SIGKILL}};
	size_t i;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(s, sigs[i].name))
			return sigs[i].sig;
	if (*s >= '1' && *s <= '9') {
		char *end;
		long v = strtol(s, &end, 10);
		if (!*end && v > 0 && v < 65)
			return (int)v;
	}
	return 0;
}

/* --wait MIN[:MAX]; MAX defaults to 4 x MIN, as in consul-template. */
static int parse_wait(const char *s, long *min, long *max)
{
	char buf[64];
	const char *colon;

	if (strlen(s) >= sizeof(buf))
		return -1;
	colon = strchr(s, ':');
	snprintf(buf, sizeof(buf), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	if (cli_duration(buf, min))
		return -1;
	if (colon)
		return cli_duration(colon + 1, max) || *max < *min ? -1 : 0;
	*max = *min * 4;
	return 0;
}

/* Adds key (NS/GROUP/DATAID) to ws->cfgs unless present; 0 or CLI_USAGE. */
static int add_cfg(cli_ctx *ctx, wstate *ws, const char *key)
{
	wcfg *w;
	size_t i;
	int rc;

	for (i = 0; i < ws->n; i++)
		if (!strcmp(ws->cfgs[i].key, key))
			return CLI_OK;
	ws->cfgs = xrealloc(ws->cfgs, (ws->n + 1) * sizeof(*ws->cfgs));
	w = &ws->cfgs[ws->n];
	memset(w, 0, sizeof(*w));
	if ((rc = cli_key(ctx, key, w->ns, w->group, w->id)))
		return rc;
	snprintf(w->key, sizeof(w->key), "%s/%s/%s", w->ns, w->group, w->id);
	ws->n++;
	return CLI_OK;
}

/*
 * Takes a pattern argument: NS/GROUP/ into ws. 1 when arg is one (0 not a
 * pattern, -1 a usage error already said).
 */
static int parse_pattern(cli_ctx *ctx, wstate *ws, const char *arg)
{
	const char *a = strchr(arg, '/'), *b = a ? strchr(a + 1, '/') : NULL;
	size_t n1, n2;

	if (!b || b[1])
		return 0;
	n1 = (size_t)(a - arg);
	n2 = (size_t)(b - a - 1);
	if (!n2) {
		cli_usage(ctx,
			  "'%s' is a whole namespace, whose groups may hold the same dataId: "
			  "--out-dir is one flat directory, so watch NS/GROUP/ for each group",
			  arg);
		return -1;
	}
	if (n1 > HCL_NAME_MAX || n2 > HCL_NAME_MAX) {
		cli_usage(ctx, "'%s': each name is at most %d characters", arg, HCL_NAME_MAX);
		return -1;
	}
	memcpy(ws->pat_ns, arg, n1);
	ws->pat_ns[n1] = '\0';
	memcpy(ws->pat_group, a + 1, n2);
	ws->pat_group[n2] = '\0';
	if (!hcl_name_ok(ws->pat_ns) || !hcl_name_ok(ws->pat_group)) {
		cli_usage(ctx,
			  "'%s': names are 1-128 characters of A-Z a-z 0-9 . _ : - (not . or ..)",
			  arg);
		return -1;
	}
	return 1;
}

/* The checks of NS/GROUP/: alone, into --out-dir. CLI_OK or CLI_USAGE. */
static int setup_pattern(cli_ctx *ctx, const char *out_dir, wstate *ws)
{
	sbuf why = SBUF_INIT(1024);
	int rc = CLI_USAGE;

	if (ctx->npos != 1) {
		cli_usage(ctx, "NS/GROUP/ mirrors one group into --out-dir: give it alone");
		goto out;
	}
	if (!out_dir) {
		cli_usage(ctx, "NS/GROUP/ writes one file per config of the group: use --out-dir");
		goto out;
	}
	if (out_check_dir(out_dir, &why)) {
		cli_usage(ctx, "%s", why.buf);
		goto out;
	}
	ws->pattern = 1;
	rc = CLI_OK;
out:
	sbuf_release(&why);
	return rc;
}

typedef struct wflags {
	const char *out, *out_dir, *tpl, *exec, *sig, *pid_file, *wait, *check, *cache, *poll,
	    *instance, *labels;
} wflags;

/* Checks the flags and fills ws; CLI_OK or CLI_USAGE. */
static int setup(cli_ctx *ctx, const wflags *f, wstate *ws)
{
	sbuf why = SBUF_INIT(1024), text = SBUF_INIT(HCL_MAX_BODY);
	size_t i, j;
	int rc = CLI_USAGE;

	if (!f->out == !f->out_dir) {
		cli_usage(ctx, "give one of --out FILE or --out-dir DIR");
		goto out;
	}
	if (f->tpl && f->out_dir) {
		cli_usage(ctx, "--template writes one file: use it with --out");
		goto out;
	}
	if (f->exec && f->sig) {
		cli_usage(ctx, "give --exec or --signal, not both");
		goto out;
	}
	if (!f->sig != !f->pid_file) {
		cli_usage(ctx, "--signal and --pid-file go together");
		goto out;
	}
	if (f->sig && !(ws->sig = parse_signal(f->sig))) {
		cli_usage(ctx, "--signal '%s' is not a signal name (HUP, USR1, ...) or number",
			  f->sig);
		goto out;
	}
	if (f->wait && parse_wait(f->wait, &ws->wait_min, &ws->wait_max)) {
		cli_usage(ctx, "--wait '%s' is invalid: use MIN or MIN:MAX, e.g. 2s:10s", f->wait);
		goto out;
	}
	for (i = 0; i < (size_t)ctx->npos; i++) {
		int pat = parse_pattern(ctx, ws, ctx->pos[i]);

		if (pat < 0)
			goto out;
		if (pat) {
			if (f->tpl || (rc = setup_pattern(ctx, f->out_dir, ws))) {
				if (f->tpl)
					cli_usage(ctx,
						  "--template names its configs; NS/GROUP/ goes "
						  "with --out-dir");
				rc = CLI_USAGE;
				goto out;
			}
			break;
		}
		if ((rc = add_cfg(ctx, ws, ctx->pos[i])))
			goto out;
	}
	rc = CLI_USAGE;
	if (f->tpl) {
		if (cli_read_file(f->tpl, &text)) {
			rc = cli_fail(CLI_ERR, "cannot read the template %s: %s", f->tpl,
				      strerror(errno));
			goto out;
		}
		if (!(ws->t = tpl_parse(text.buf, text.len, &why))) {
			cli_usage(ctx, "template %s: %s", f->tpl, why.buf);
			goto out;
		}
		for (i = 0; i < tpl_nkeys(ws->t); i++)
			if ((rc = add_cfg(ctx, ws, tpl_key(ws->t, i))))
				goto out;
		rc = CLI_USAGE;
		if (tpl_uses_content(ws->t) && ws->n != 1) {
			cli_usage(ctx, "{{content}} needs exactly one config; with several use "
				       "{{key \"NS/GROUP/DATAID\"}}");
			goto out;
		}
	}
	if (!ws->n && !ws->pattern) {
		cli_usage(ctx, "which configs? give NAMESPACE/GROUP/DATAID... or NAMESPACE/GROUP/");
		goto out;
	}
	if (f->out && !ws->t && ws->n > 1) {
		cli_usage(ctx, "several configs go to one --out file only through --template; or "
			       "use --out-dir");
		goto out;
	}
	if (f->out_dir) {
		for (i = 0; i < ws->n; i++)
			for (j = 0; j < i; j++)
				if (!strcmp(ws->cfgs[i].id, ws->cfgs[j].id)) {
					cli_usage(ctx, "%s and %s would both be %s/%s",
						  ws->cfgs[j].key, ws->cfgs[i].key, f->out_dir,
						  ws->cfgs[i].id);
					goto out;
				}
		if (out_check_dir(f->out_dir, &why)) {
			cli_usage(ctx, "%s", why.buf);
			goto out;
		}
	}
	ws->out = f->out;
	ws->out_dir = f->out_dir;
	ws->exec = f->exec;
	ws->check = f->check;
	ws->pid_file = f->pid_file;
	rc = CLI_OK;
out:
	sbuf_release(&why);
	sbuf_release(&text);
	return rc;
}

/* Creates the client and registers every config. */
static int start(cli_ctx *ctx, const wflags *f, wstate *ws)
{
	hotconf_options o;
	long poll_ms = 30000;
	size_t i;

	if (f->poll && (cli_duration(f->poll, &poll_ms) || poll_ms <= 0))
		return cli_usage(ctx, "--poll '%s' is invalid: use e.g. 30s", f->poll);
	hotconf_options_init(&o);
	o.wait_ms = poll_ms;
	o.cache_dir = f->cache;
	o.instance = f->instance;
	o.labels = f->labels;
	o.backoff_max_ms = 5000;
	ws->c = cli_client_with(ctx, &o);
	if (!ws->c)
		return CLI_USAGE;
	if (ws->pattern && hotconf_watch_group(ws->c, ws->pat_ns, ws->pat_group, on_member, ws))
		return cli_fail(CLI_ERR, "cannot watch %s/%s/", ws->pat_ns, ws->pat_group);
	for (i = 0; i < ws->n; i++) {
		ws->cfgs[i].ws = ws;
		if (hotconf_watch_add(ws->c, ws->cfgs[i].ns, ws->cfgs[i].group, ws->cfgs[i].id,
				      on_change, &ws->cfgs[i]))
			return cli_fail(CLI_ERR, "cannot watch %s", ws->cfgs[i].key);
	}
	return CLI_OK;
}

static int make_pipe(void)
{
	int i;

	if (pipe(wake_pipe))
		return -1;
	for (i = 0; i < 2; i++) {
		fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
		fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv)
{
	wflags f = {0};
	const cli_opt opts[] = {
	    {"out", 'o', "FILE", "write the content (or the rendered template) here", &f.out, NULL},
	    {"out-dir", 0, "DIR",
	     "one file per config (named by dataId); DIR is a symlink flipped "
	     "to a new directory at each change. With NS/GROUP/ every config of "
	     "the group: created ones appear, deleted ones disappear (NS// is refused)",
	     &f.out_dir, NULL},
	    {"template", 't', "TPL",
	     "render TPL: {{content}}, {{key \"NS/GROUP/DATAID\"}}, "
	     "{{env \"NAME\"}}, {{\"text\"}}",
	     &f.tpl, NULL},
	    {"exec", 'e', "CMD", "run CMD with /bin/sh -c after each new file; exit 0 = applied",
	     &f.exec, NULL},
	    {"signal", 0, "SIG", "instead, send SIG (HUP, USR1, ...) to the process in --pid-file",
	     &f.sig, NULL},
	    {"pid-file", 0, "FILE", "where the process to signal writes its pid", &f.pid_file,
	     NULL},
	    {"wait", 'w', "MIN:MAX", "fire after MIN of quiet, or MAX after a burst began (0s)",
	     &f.wait, NULL},
	    {"check", 0, "CMD",
	     "validate the staged file first: CMD with {{file}}; failure keeps "
	     "the old file",
	     &f.check, NULL},
	    {"cache", 0, "DIR", "snapshot directory, to start while no server answers", &f.cache,
	     NULL},
	    {"poll", 0, "D", "how long the server may hold each watch request (30s)", &f.poll,
	     NULL},
	    {"instance", 0, "ID", "this instance's id for the server (X-Hotconf-Instance)",
	     &f.instance, NULL},
	    {"labels", 0, "K=V,...", "this instance's labels (X-Hotconf-Labels)", &f.labels, NULL},
	    {NULL, 0, NULL, NULL, NULL, NULL},
	};
	struct sigaction sa;
	sigset_t stops, old;
	wstate ws;
	size_t i;
	int rc;

	memset(&ws, 0, sizeof(ws));
	pthread_mutex_init(&ws.mu, NULL);
	rc = cli_parse(ctx, argc, argv, opts);
	if (!rc)
		rc = setup(ctx, &f, &ws);
	if (!rc)
		rc = start(ctx, &f, &ws);
	if (!rc && make_pipe())
		rc = cli_fail(CLI_ERR, "pipe: %s", strerror(errno));
	if (rc)
		goto out;
	ws.umask_bits = umask(022);
	umask(ws.umask_bits);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* The watch thread inherits a mask without the stop signals, so only
	 * this thread runs on_signal. */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, &old);
	rc = hotconf_start(ws.c) ? cli_fail(CLI_ERR, "cannot start watching") : CLI_OK;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!rc) {
		if (ws.pattern)
			say("watching every config of %s/%s/", ws.pat_ns, ws.pat_group);
		else
			say("watching %zu config%s", ws.n, ws.n == 1 ? "" : "s");
		loop(&ws);
		say("stopping");
	}
out:
	hotconf_free(ws.c);
	for (i = 0; i < ws.n; i++)
		free(ws.cfgs[i].content);
	free(ws.cfgs);
	tpl_free(ws.t);
	pthread_mutex_destroy(&ws.mu);
	for (i = 0; i < 2; i++)
		if (wake_pipe[i] >= 0)
			close(wake_pipe[i]);
	return rc;
}
