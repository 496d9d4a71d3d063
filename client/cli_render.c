/*
 * cli_render.c: templates and atomic outputs for `hotconf watch` (see
 * cli_render.h). A file is replaced by a temp file in its directory, fsync,
 * rename and an fsync of the directory, keeping the old file's mode; a
 * directory is replaced by writing a new one and flipping a symlink.
 * Single-threaded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_render.h"
#include "xmalloc.h"

enum node_kind { N_TEXT, N_CONTENT, N_KEY, N_ENV };

typedef struct node {
	enum node_kind kind;
	char *s; /* text, key or variable name */
	size_t len;
} node;

struct tpl {
	node *v;
	size_t n, alloc;
	char **keys;
	size_t nkeys;
	int content;
};

static void add_node(tpl *t, enum node_kind kind, const char *s, size_t len)
{
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 16;
		t->v = xrealloc(t->v, t->alloc * sizeof(*t->v));
	}
	t->v[t->n].kind = kind;
	t->v[t->n].s = xmemdupz(s, len);
	t->v[t->n].len = len;
	t->n++;
}

static void add_key(tpl *t, const char *k)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		if (!strcmp(t->keys[i], k))
			return;
	t->keys = xrealloc(t->keys, (t->nkeys + 1) * sizeof(*t->keys));
	t->keys[t->nkeys++] = xstrdup(k);
}

/* Line and column (1-based) of offset off in text. */
static void where(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Parses a "string" at *p (before end) into out; 0, or -1. */
static int parse_string(const char **p, const char *end, sbuf *out)
{
	const char *s = *p;

	if (s >= end || *s != '"')
		return -1;
	for (s++; s < end && *s != '"'; s++) {
		if (*s == '\\' && s + 1 < end && (s[1] == '"' || s[1] == '\\'))
			s++;
		else if (*s == '\\')
			return -1;
		sbuf_addch(out, *s);
	}
	if (s >= end)
		return -1;
	*p = s + 1;
	return 0;
}

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* One action between {{ and }}: [a, end). 0, or -1 with why. */
static int parse_action(tpl *t, const char *a, const char *end, sbuf *why)
{
	const char *p = skip_blank(a, end);
	sbuf arg = SBUF_INIT(SBUF_NOMAX);
	enum node_kind kind;
	int rc = -1;

	if (p < end && *p == '"') {
		if (parse_string(&p, end, &arg) || skip_blank(p, end) != end)
			goto bad;
		add_node(t, N_TEXT, arg.buf, arg.len);
		rc = 0;
		goto out;
	}
	if (end - p >= 7 && !memcmp(p, "content", 7) && skip_blank(p + 7, end) == end) {
		add_node(t, N_CONTENT, "", 0);
		t->content = 1;
		rc = 0;
		goto out;
	}
	if (end - p > 3 && !memcmp(p, "key", 3) && (p[3] == ' ' || p[3] == '\t'))
		kind = N_KEY;
	else if (end - p > 3 && !memcmp(p, "env", 3) && (p[3] == ' ' || p[3] == '\t'))
		kind = N_ENV;
	else
		goto bad;
	p = skip_blank(p + 3, end);
	if (parse_string(&p, end, &arg) || skip_blank(p, end) != end || !arg.len)
		goto bad;
	if (kind == N_KEY) {
		const char *s1 = strchr(arg.buf, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
		if (!s2 || strchr(s2 + 1, '/')) {
			sbuf_addf(why, "{{key \"%s\"}}: the key is NAMESPACE/GROUP/DATAID",
				  arg.buf);
			goto out;
		}
		add_key(t, arg.buf);
	}
	add_node(t, kind, arg.buf, arg.len);
	rc = 0;
	goto out;
bad:
	sbuf_addf(why,
		  "unknown action {{%.*s}}: use {{content}}, {{key \"NS/GROUP/DATAID\"}}, "
		  "{{env \"NAME\"}} or {{\"text\"}}",
		  (int)(end - a > 60 ? 60 : end - a), a);
out:
	sbuf_release(&arg);
	return rc;
}

tpl *tpl_parse(const char *text, size_t len, sbuf *why)
{
	tpl *t = xcalloc(1, sizeof(*t));
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *open = NULL, *close = NULL, *q;
		size_t line, col;
		sbuf msg = SBUF_INIT(1024);

		for (q = p; q + 1 < end; q++)
			if (q[0] == '{' && q[1] == '{') {
				open = q;
				break;
			}
		if (!open) {
			add_node(t, N_TEXT, p, (size_t)(end - p));
			break;
		}
		if (open > p)
			add_node(t, N_TEXT, p, (size_t)(open - p));
		for (q = open + 2; q + 1 < end; q++) {
			if (*q == '"') {
				/* Skip a string, so "}}" may appear inside one. */
				for (q++; q < end && *q != '"'; q++)
					if (*q == '\\' && q + 1 < end)
						q++;
				if (q + 1 >= end)
					break;
				continue;
			}
			if (q[0] == '}' && q[1] == '}') {
				close = q;
				break;
			}
		}
		where(text, (size_t)(open - text), &line, &col);
		if (!close) {
			sbuf_addf(why, "line %zu, column %zu: {{ without }}", line, col);
			sbuf_release(&msg);
			tpl_free(t);
			return NULL;
		}
		if (parse_action(t, open + 2, close, &msg)) {
			sbuf_addf(why, "line %zu, column %zu: %s", line, col, msg.buf);
			sbuf_release(&msg);
			tpl_free(t);
			return NULL;
		}
		sbuf_release(&msg);
		p = close + 2;
	}
	return t;
}

void tpl_free(tpl *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		free(t->v[i].s);
	for (i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	free(t->v);
	free(t->keys);
	free(t);
}

size_t tpl_nkeys(const tpl *t)
{
	return t->nkeys;
}

const char *tpl_key(const tpl *t, size_t i)
{
	return t->keys[i];
}

int tpl_uses_content(const tpl *t)
{
	return t->content;
}

void tpl_render(const tpl *t, const char *(*lookup)(void *ud, const char *key, size_t *len),
		void *ud, sbuf *out)
{
	size_t i, n;

	for (i = 0; i < t->n; i++) {
		const node *nd = &t->v[i];
		const char *s;
		switch (nd->kind) {
		case N_TEXT:
			sbuf_add(out, nd->s, nd->len);
			break;
		case N_CONTENT:
		case N_KEY:
			s = lookup(ud, nd->kind == N_CONTENT ? "content" : nd->s, &n);
			if (s)
				sbuf_add(out, s, n);
			break;
		case N_ENV:
			s = getenv(nd->s);
			if (s)
				sbuf_addstr(out, s);
			break;
		}
	}
}

/* ------------------------------------------------------------------ files */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Splits path into its directory (dir[PATH_MAX]) and base name. */
static const char *split_path(const char *path, char *dir)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, PATH_MAX, ".");
		return path;
	}
	if (slash == path)
		snprintf(dir, PATH_MAX, "/");
	else
		snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
	return slash + 1;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int out_same_file(const char *path, const char *data, size_t len)
{
	char buf[65536];
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), same = 1;
	ssize_t n;

	if (fd < 0)
		return 0;
	while (same && (n = read(fd, buf, sizeof(buf))) > 0) {
		if (off + (size_t)n > len || memcmp(buf, data + off, (size_t)n))
			same = 0;
		off += (size_t)n;
	}
	close(fd);
	return same && off == len;
}

/* Creates a temp file dir/.<base>.hotconf-XXXXXX holding data with mode. */
static int write_temp(const char *dir, const char *base, const char *data, size_t len, mode_t mode,
		      char *tmp)
{
	int fd, w = snprintf(tmp, PATH_MAX, "%s/.%s.hotconf-XXXXXX", dir, base);

	if (w < 0 || w >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) || write_all(fd, data, len) || fsync(fd)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd)) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int out_stage_file(const char *path, const char *data, size_t len, mode_t umask_bits, char *tmp)
{
	char dir[PATH_MAX];
	const char *base = split_path(path, dir);
	struct stat st;
	mode_t mode = 0666 & ~umask_bits;

	if (!stat(path, &st))
		mode = st.st_mode & 07777;
	return write_temp(dir, base, data, len, mode, tmp);
}

int out_install_file(const char *tmp, const char *path)
{
	char dir[PATH_MAX];

	split_path(path, dir);
	if (rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	fsync_dir(dir);
	return 0;
}

/* ------------------------------------------------------------ directories */

/* The generation n of DIR's link target ".hotconf-<base>-<n>", or 0. */
static long current_gen(const char *dir, const char *base)
{
	char target[PATH_MAX], prefix[PATH_MAX];
	ssize_t n = readlink(dir, target, sizeof(target) - 1);
	size_t pl;

	if (n <= 0)
		return 0;
	target[n] = '\0';
	snprintf(prefix, sizeof(prefix), ".hotconf-%s-", base);
	pl = strlen(prefix);
	if (strncmp(target, prefix, pl))
		return 0;
	return strtol(target + pl, NULL, 10);
}

int out_check_dir(const char *dir, sbuf *why)
{
	char parent[PATH_MAX];
	const char *base = split_path(dir, parent);
	struct stat st;

	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		sbuf_addf(why, "--out-dir '%s' must name a directory link, not end in / or .", dir);
		return -1;
	}
	if (lstat(dir, &st)) {
		if (errno == ENOENT)
			return 0;
		sbuf_addf(why, "--out-dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISLNK(st.st_mode) || !current_gen(dir, base)) {
		sbuf_addf(why,
			  "--out-dir %s exists and is not a link that hotconf watch made; move it "
			  "away or name another",
			  dir);
		return -1;
	}
	return 0;
}

int out_same_dir(const char *dir, char *const *names, char *const *data, const size_t *lens,
		 size_t n)
{
	char path[PATH_MAX];
	size_t i, have = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	/* Exactly these files: a config deleted from a group must leave DIR. */
	while (d && (e = readdir(d)) && have <= n)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			have++;
	if (d)
		closedir(d);
	if (!d || have != n)
		return 0;

	for (i = 0; i < n; i++) {
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (w < 0 || w >= (int)sizeof(path) || !out_same_file(path, data[i], lens[i]))
			return 0;
	}
	return 1;
}

int out_stage_dir(const char *dir, char *const *names, char *const *data, const size_t *lens,
		  size_t n, mode_t umask_bits, char *staged)
{
	char parent[PATH_MAX], tmp[PATH_MAX], dst[PATH_MAX];
	const char *base = split_path(dir, parent);
	long gen = current_gen(dir, base);
	size_t i;
	int w;

	/* The next free generation: a crash may have left one behind. */
	for (;;) {
		gen++;
		w = snprintf(staged, PATH_MAX, "%s/.hotconf-%s-%ld", parent, base, gen);
		if (w < 0 || w >= PATH_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (!mkdir(staged, 0777 & ~umask_bits))
			break;
		if (errno != EEXIST)
			return -1;
	}
	for (i = 0; i < n; i++) {
		if (write_temp(staged, names[i], data[i], lens[i], 0666 & ~umask_bits, tmp))
			goto fail;
		w = snprintf(dst, sizeof(dst), "%s/%s", staged, names[i]);
		if (w < 0 || w >= (int)sizeof(dst) || rename(tmp, dst)) {
			unlink(tmp);
			goto fail;
		}
	}
	fsync_dir(staged);
	return 0;
fail:
	out_discard_dir(staged);
	return -1;
}

void out_discard_dir(const char *staged)
{
	char path[PATH_MAX];
	DIR *d = opendir(staged);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", staged, e->d_name) < (int)sizeof(path))
			unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(staged);
}

int out_install_dir(const char *dir, const char *staged)
{
	char parent[PATH_MAX], link_tmp[PATH_MAX], old[PATH_MAX], target[PATH_MAX];
	const char *base = split_path(dir, parent), *name = strrchr(staged, '/');
	ssize_t n = readlink(dir, target, sizeof(target) - 1);
	int w;

	old[0] = '\0';
	if (n > 0) {
		target[n] = '\0';
		if (snprintf(old, sizeof(old), "%s/%s", parent, target) >= (int)sizeof(old))
			old[0] = '\0';
	}
	w = snprintf(link_tmp, sizeof(link_tmp), "%s/.hotconf-%s.link", parent, base);
	if (w < 0 || w >= (int)sizeof(link_tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	unlink(link_tmp);
	/* A relative target: the pair can be moved or mounted elsewhere together. */
	if (symlink(name ? name + 1 : staged, link_tmp) || rename(link_tmp, dir)) {
		int e = errno;
		unlink(link_tmp);
		errno = e;
		return -1;
	}
	fsync_dir(parent);
	if (old[0] && strcmp(old, staged))
		out_discard_dir(old);
	return 0;
}
