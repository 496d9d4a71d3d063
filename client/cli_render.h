/*
 * cli_render.h: what `hotconf watch` writes and how: the minimal template
 * language, and files and directories replaced atomically. Prefix tpl_ for
 * templates, out_ for outputs. Single-threaded (the watch command's main
 * thread).
 */
#ifndef HC_CLI_RENDER_H
#define HC_CLI_RENDER_H

#include <stddef.h>
#include <sys/types.h>

#include "sbuf.h"

/*
 * A template is text with actions in {{ }} (blanks inside are ignored):
 *   {{content}}                 the content of the one watched config
 *   {{key "NS/GROUP/DATAID"}}   the content of that config (watched for you)
 *   {{env "NAME"}}              the environment variable NAME, "" when unset
 *   {{"text"}}                  text as it is; {{"{{"}} writes two braces
 * Strings are in double quotes with \" and \\ escapes. Nothing else: no
 * conditions, loops, pipes or trimming; anything else is an error at start.
 */
typedef struct tpl tpl;

/* Parses text; NULL with a "line L, column C: why" message in *why. */
tpl *tpl_parse(const char *text, size_t len, sbuf *why);
void tpl_free(tpl *t);
/* The distinct keys the template names with {{key}}, in order of first use. */
size_t tpl_nkeys(const tpl *t);
const char *tpl_key(const tpl *t, size_t i);
/* 1 when the template uses {{content}}. */
int tpl_uses_content(const tpl *t);
/* Renders into out; lookup gives the content of a key ("content" for {{content}}). */
void tpl_render(const tpl *t, const char *(*lookup)(void *ud, const char *key, size_t *len),
		void *ud, sbuf *out);

/* 1 when path holds exactly data[0..len). */
int out_same_file(const char *path, const char *data, size_t len);
/*
 * Writes data to a new temp file beside path (same directory, so the rename
 * is atomic) with the mode of the file it replaces (else 0666 less umask),
 * fsynced. tmp[4096] receives its name. 0, or -1 with errno.
 */
int out_stage_file(const char *path, const char *data, size_t len, mode_t umask_bits, char *tmp);
/* Renames tmp over path and fsyncs the directory; 0 or -1 with errno. */
int out_install_file(const char *tmp, const char *path);

/*
 * --out-dir DIR is a symlink to a sibling directory .hotconf-<base>-<n>. A
 * new version is written whole into .hotconf-<base>-<n+1> (staged[4096]),
 * then one rename flips the link, so a program opening DIR/x never sees a
 * mix of old and new files. out_check_dir refuses a DIR that exists and is
 * not such a link.
 */
int out_check_dir(const char *dir, sbuf *why);
/* 1 when DIR's current files are exactly these, and no others. */
int out_same_dir(const char *dir, char *const *names, char *const *data, const size_t *lens,
		 size_t n);
int out_stage_dir(const char *dir, char *const *names, char *const *data, const size_t *lens,
		  size_t n, mode_t umask_bits, char *staged);
/* Flips DIR to staged and removes the directory it pointed to. */
int out_install_dir(const char *dir, const char *staged);
/* Removes a staged directory that will not be installed. */
void out_discard_dir(const char *staged);

#endif
