/*
 * gitsource: a git repository as the source of truth for some namespaces
 * (hotconf serve --git-source URL|PATH --git-ref main --git-interval 30s
 * [--git-path configs/]). libgit2 does all git work.
 *
 * Layout: under the path, every top-level directory is a namespace (names
 * beginning with '.' are skipped: .github, a mirror's .gray), every
 * directory in it a group, every file in that a config (format by suffix:
 * .yaml/.yml, .json, .properties, .xml, else text). Those namespaces are
 * the source's: created when missing, marked with the source
 * (store_namespace_set_sources), and read-only for everyone else (409
 * naming the source), so the two never silently overwrite each other.
 *
 * Every interval the sync thread fetches the ref into a bare clone in the
 * data dir (<data>/git-source) and publishes each new commit, oldest first
 * (first parent; at most GS_MAX_WALK, else straight to the newest): a
 * namespace's configs become the commit's files (created, changed,
 * deleted), one store_batch per namespace, each version with the commit's
 * author and message (and a Git-Commit trailer). A file that fails
 * validation (format, size, name, depth, a symlink or submodule) is
 * reported in health (gs_status_json), the log and the audit log
 * (git-source-invalid) and not published; the rest of the commit is. A
 * namespace that leaves the tree has its configs deleted and is writable
 * again. The first sync after a start reconciles with the newest commit.
 *
 * https with a token: the token in HOTCONF_GIT_TOKEN (sent as the password
 * of the URL's user, or "x-access-token") when the remote asks for one.
 *
 * Threading: gs_start and gs_stop from one thread (srv_start, srv_stop);
 * gs_status_json and gs_sync_now from any thread.
 */
#ifndef HC_GITSOURCE_H
#define HC_GITSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"
#include "store.h"

#define GS_MAX_WALK 100 /* commits published one by one in one sync */

typedef struct gs gs;

typedef struct gs_config {
	const char *url;      /* a URL libgit2 fetches from, or a local path */
	const char *ref;      /* a branch name or a full ref ("refs/tags/v1") */
	const char *path;     /* the folder of the tree that holds the namespaces; "" the root */
	uint64_t interval_ms; /* between fetches */
	const char *data_dir; /* where the bare clone lives */
	size_t max_content;   /* larger files are invalid */
} gs_config;

/* Checks cfg and starts the sync thread, which syncs at once and then
 * every interval. *out owns it (gs_stop); st must outlive it. Strings in
 * cfg are copied. HC_ERR_INVALID (with a line on stderr): a bad ref or path. */
hc_err gs_start(store *st, const gs_config *cfg, gs **out);
/* Stops the sync thread once the sync in progress ends, and frees. NULL is
 * a no-op. */
void gs_stop(gs *g);
/* Appends {"url","ref","path","commit","message","syncedAt","state":"ok|
 * syncing|failing","lastError","lastErrorAt","namespaces":[...],"invalid":
 * [{"path","error"}]} (commit and the times null before the first sync). */
void gs_status_json(gs *g, sbuf *out);
/* Asks for a sync now, without waiting for the interval. */
void gs_sync_now(gs *g);
/* What a namespace fed from cfg is marked with, into out. */
void gs_describe(const gs_config *cfg, sbuf *out);

#endif
