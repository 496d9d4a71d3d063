/*
 * gitmirror_int.h: what the mirror (gitmirror.c) and the restore
 * (gitrestore.c) share: the repository's layout and how it is opened.
 * Private to those two files.
 */
#ifndef HC_GITMIRROR_INT_H
#define HC_GITMIRROR_INT_H

#include <git2.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"

#define GM_REF "refs/heads/main"
#define GM_GRAY_DIR ".gray"
#define GM_RULE_CONTENT "content"
#define GM_RULE_JSON "rule.json"

/*
 * The path of a config (rule NULL) or of a file of one of its gray rules
 * (leaf GM_RULE_CONTENT or GM_RULE_JSON; leaf NULL: the rule's folder):
 * ns/group/dataId, .gray/ns/group/dataId/rule/leaf. A name git refuses
 * (".git" in any case) or the namespace ".gray" gets a "~", which no
 * hotconf name holds, so the mapping stays one to one.
 */
void gm_path(sbuf *out, const char *ns, const char *group, const char *data_id, const char *rule,
	     const char *leaf);

/* Writes "what: libgit2's last error" into buf[cap] and returns HC_ERR_IO. */
hc_err gm_git_err(const char *what, char *buf, size_t cap);

/* Opens the bare repository at dir; with create, makes it (HEAD on main)
 * when dir is missing or empty. Logs and returns HC_ERR_INVALID when dir is
 * something else. Caller frees *out with git_repository_free. */
hc_err gm_open(const char *dir, int create, git_repository **out);

/* The value of trailer key in a commit message (copied into out), or -1
 * when it has none. */
int gm_trailer(const char *msg, const char *key, sbuf *out);

#endif
