/*
 * gitmirror: every change of the store as one commit of a bare git
 * repository (hotconf serve --git-mirror DIR), and a fresh store rebuilt
 * from such a repository (hotconf restore --from-git DIR). libgit2 does all
 * git work.
 *
 * A commit per history entry, on refs/heads/main, in revision order: the
 * config's content at ns/group/dataId, a gray rule's content and its rule
 * at .gray/ns/group/dataId/<rule>/content and .../rule.json; author the
 * entry's author, time its creation; message the write's message, then
 * trailers (Hotconf-Op, -Config, -Version, -Revision, -Format, ...).
 * README "Git mirror" shows one.
 *
 * The mirror never blocks or fails a write: its feed subscriber only notes
 * the newest revision and signals the mirror thread, which reads the
 * entries it has not written from the store's revision log
 * (store_log_since) and commits them. A commit that fails (disk full, a
 * lock file, an unwritable directory) is retried with backoff, so the
 * mirror catches up once the cause is gone; meanwhile store_prune keeps
 * every entry it has not written (store_prune_hold). On restart it resumes
 * after the revision in its last commit's Hotconf-Revision trailer.
 *
 * Threading: gm_start and gm_stop from one thread (srv_start, srv_stop);
 * gm_status_json and gm_wait from any thread.
 */
#ifndef HC_GITMIRROR_H
#define HC_GITMIRROR_H

#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"
#include "store.h"

typedef struct gm gm;

/*
 * Opens the bare repository at dir (created, with its parents, when missing
 * or empty), reads the revision of its last commit, holds the store's
 * pruning there, subscribes to st's change feed and starts the mirror
 * thread, which catches up at once with what the store has beyond it.
 * Call before writes begin. On success *out owns the mirror (gm_stop);
 * st must outlive it. HC_ERR_INVALID (logged): dir is not a bare
 * repository, its last commit is not a mirror's, or it is ahead of the
 * store (the mirror of another store).
 */
hc_err gm_start(store *st, const char *dir, gm **out);
/* Stops the mirror thread once the commit in progress is written, and
 * frees. The store must see no write after this (its feed would call a
 * freed mirror): stop the writers first. NULL is a no-op. */
void gm_stop(gm *m);

/* Appends the mirror's state as a JSON object:
 * {"revision","storeRevision","lag","state":"ok|behind|failing",
 *  "lastError","lastErrorAt","gap"} (lastError, lastErrorAt, gap null when
 * none; gap: "a-b", revisions pruned before the mirror wrote them). */
void gm_status_json(gm *m, sbuf *out);
/* The revision of the mirror's last commit. */
int64_t gm_revision(gm *m);
/* Waits until the mirror has written revision rev, or timeout_ms passes;
 * 1 when it has. For tests. */
int gm_wait(gm *m, int64_t rev, uint64_t timeout_ms);

/*
 * Rebuilds the store in data_dir (created when missing; its database must
 * be new or without any change) from the mirror at git_dir by replaying
 * its commits in order with the store's own writes: the same configs with
 * the same versions, revisions, authors, messages and formats, gray rules
 * with their match, priority, salt and rollout plan. Namespaces are
 * created as needed. Progress and errors go to stderr. HC_ERR_CONFLICT: the
 * store is not empty. HC_ERR_INVALID: git_dir is no mirror, or a commit
 * does not replay to the version and revision its trailers name (the
 * mirror misses revisions).
 */
hc_err gm_restore(const char *git_dir, const char *data_dir);

#endif
