/*
 * cache.c: the snapshot directory, the last good content of each config, so
 * a service starts while no server answers (Nacos' and Apollo's failover
 * cache).
 *
 *   <dir>/<ns>/<group>/<dataId>       the content, as served
 *   <dir>/<ns>/<group>/<dataId>@meta  "md5 <hex>\nversion <n>\nformat <f>\n"
 *
 * '@' is never part of a name, so no dataId collides with a meta or temp
 * file, and the names were validated ([A-Za-z0-9._:-], not "." or "..")
 * before they reach a path. Each file is replaced atomically: a temp file in
 * the same directory, fsync, rename, fsync of the directory. The content is
 * renamed first; a crash between the two renames leaves new content beside
 * old metadata, which hcl_cache_read notices by the md5 and trusts the
 * content. Files are 0600 (configs hold secrets). A pattern watch finds what
 * it held under a group by listing <dir>/<ns>/<group> (hcl_cache_list). Any thread: concurrent
 * writers of one config each rename a complete file, and the last one wins.
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

#include "hcl.h"

#define META_MAX 512

int hcl_mkdirs(const char *path, unsigned mode)
{
	char p[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, (mode_t)mode) && errno != EEXIST)
			return -1;
		p[i] = i == n ? '\0' : '/';
	}
	return 0;
}

/* dir/ns/group into out; 0, or -1 when it does not fit. */
static int group_dir(hotconf_client *c, const char *ns, const char *group, char *out, size_t n)
{
	int w = snprintf(out, n, "%s/%s/%s", c->cache_dir, ns, group);

	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* dir/ns/group/dataId plus suffix into out[PATH_MAX]; 0, or -1 when too long. */
static int file_path(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		     const char *suffix, char *out)
{
	int w = snprintf(out, PATH_MAX, "%s/%s/%s/%s%s", c->cache_dir, ns, group, data_id, suffix);

	return w < 0 || w >= PATH_MAX ? -1 : 0;
}

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

/* Replaces dir/name with data: temp file, fsync, rename. 0 or -1. */
static int replace_file(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, w1, w2;

	w1 = snprintf(tmp, sizeof(tmp), "%s/%s@tmp.XXXXXX", dir, name);
	w2 = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	if (w1 < 0 || (size_t)w1 >= sizeof(tmp) || w2 < 0 || (size_t)w2 >= sizeof(dst)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) || fsync(fd)) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) || rename(tmp, dst)) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int hcl_cache_write(hotconf_client *c, const hotconf_config *cfg)
{
	char dir[PATH_MAX], meta[META_MAX], mname[HCL_NAME_MAX + 8];

	if (!c->cache_dir)
		return HOTCONF_OK;
	if (group_dir(c, cfg->ns, cfg->group, dir, sizeof(dir)) || hcl_mkdirs(dir, 0700))
		goto fail;
	snprintf(meta, sizeof(meta), "md5 %s\nversion %lld\nformat %s\n", cfg->md5,
		 (long long)cfg->version, cfg->format);
	snprintf(mname, sizeof(mname), "%s@meta", cfg->data_id);
	if (replace_file(dir, cfg->data_id, cfg->content, cfg->len) ||
	    replace_file(dir, mname, meta, strlen(meta)))
		goto fail;
	fsync_dir(dir);
	return HOTCONF_OK;
fail:
	hcl_log(c, "snapshot %s/%s/%s: cannot write in %s: %s", cfg->ns, cfg->group, cfg->data_id,
		c->cache_dir, strerror(errno));
	return HOTCONF_EIO;
}

/* Reads a whole file into b; 0, or -1 with errno (ENOENT when absent). */
static int read_file(const char *path, hcl_buf *b, size_t max)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b->len + (size_t)n > max) {
			n = -1;
			errno = EFBIG;
			break;
		}
		hcl_buf_add(b, chunk, (size_t)n);
	}
	if (n < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* Parses the meta file; fields it lacks stay as they are. */
static void parse_meta(const char *s, char md5[33], long long *version, char format[16])
{
	char key[16], val[64];
	int used;

	while (*s && sscanf(s, "%15s %63s%n", key, val, &used) == 2) {
		if (!strcmp(key, "md5") && strlen(val) == 32)
			memcpy(md5, val, 33);
		else if (!strcmp(key, "version"))
			*version = strtoll(val, NULL, 10);
		else if (!strcmp(key, "format"))
			snprintf(format, 16, "%.15s", val);
		s += used;
		while (*s == '\n' || *s == ' ')
			s++;
	}
}

int hcl_cache_read(hotconf_client *c, const char *ns, const char *group, const char *data_id,
		   hotconf_config **out)
{
	char path[PATH_MAX], md5[33] = "", want[33] = "", format[16] = "text";
	hcl_buf content = {0}, meta = {0};
	long long version = 0;
	int rc = HOTCONF_ENOTFOUND;

	*out = NULL;
	if (!c->cache_dir || file_path(c, ns, group, data_id, "", path))
		return HOTCONF_ENOTFOUND;
	if (read_file(path, &content, HCL_MAX_BODY)) {
		if (errno != ENOENT) {
			hcl_log(c, "snapshot %s: %s", path, strerror(errno));
			rc = HOTCONF_EIO;
		}
		goto out;
	}
	if (!file_path(c, ns, group, data_id, "@meta", path) && !read_file(path, &meta, META_MAX))
		parse_meta(hcl_buf_str(&meta), want, &version, format);
	hcl_md5_hex(hcl_buf_str(&content), content.len, md5);
	if (strcmp(md5, want)) {
		/* Content newer than its metadata (a crash between the renames), or
		 * metadata lost: the content is whole, its version unknown. */
		hcl_log(c,
			"snapshot %s/%s/%s: metadata does not match the content; version unknown",
			ns, group, data_id);
		version = 0;
	}
	*out = hcl_config_new(ns, group, data_id, hcl_buf_str(&content), content.len, md5, version,
			      format, NULL);
	(*out)->from_cache = 1;
	rc = HOTCONF_OK;
out:
	hcl_buf_release(&content);
	hcl_buf_release(&meta);
	return rc;
}

void hcl_cache_remove(hotconf_client *c, const char *ns, const char *group, const char *data_id)
{
	char dir[PATH_MAX], path[PATH_MAX];

	if (!c->cache_dir || group_dir(c, ns, group, dir, sizeof(dir)))
		return;
	if (!file_path(c, ns, group, data_id, "@meta", path))
		unlink(path);
	if (!file_path(c, ns, group, data_id, "", path))
		unlink(path);
	fsync_dir(dir);
}

/* Lists the snapshots in dir (one group's directory) through fn. */
static void list_group(const char *dir, const char *group,
		       void (*fn)(void *ud, const char *group, const char *data_id), void *ud)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	/* Bounded: a pattern covers at most what a server caps it at, and a
	 * hostile directory must not keep the watch thread here forever. */
	while (d && (e = readdir(d)) && n++ < 4 * HCL_MAX_WATCH) {
		char path[PATH_MAX];
		struct stat st;
		int w;

		/* '@' marks meta and temp files; names are validated as in requests. */
		if (strchr(e->d_name, '@') || !hcl_name_ok(e->d_name))
			continue;
		w = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (w < 0 || (size_t)w >= sizeof(path) || stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		fn(ud, group, e->d_name);
	}
	if (d)
		closedir(d);
}

void hcl_cache_list(hotconf_client *c, const char *ns, const char *group,
		    void (*fn)(void *ud, const char *group, const char *data_id), void *ud)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	if (!c->cache_dir)
		return;
	if (*group) {
		if (!group_dir(c, ns, group, dir, sizeof(dir)))
			list_group(dir, group, fn, ud);
		return;
	}
	if (group_dir(c, ns, "", dir, sizeof(dir)))
		return;
	d = opendir(dir);
	while (d && (e = readdir(d)) && n++ < HCL_MAX_WATCH) {
		char sub[PATH_MAX];

		if (!hcl_name_ok(e->d_name) || group_dir(c, ns, e->d_name, sub, sizeof(sub)))
			continue;
		list_group(sub, e->d_name, fn, ud);
	}
	if (d)
		closedir(d);
}
