/*
 * format: the one list of config formats hotconf knows, with the
 * Content-Type each is served with. The store checks names against it, the
 * server validates and serves by it. Static data; any thread.
 */
#ifndef HC_FORMAT_H
#define HC_FORMAT_H

#define FMT_NAME_MAX 16

/* 1 for text, json, yaml, properties, xml. */
int fmt_ok(const char *name);
/* The Content-Type a config of this format is served with
 * ("application/octet-stream" for an unknown name). */
const char *fmt_mime(const char *name);
/* "text, json, yaml, properties or xml", for messages. */
const char *fmt_list(void);
/* The format a file name's suffix says (.yaml and .yml yaml, .json,
 * .properties, .xml), else "text": for files that come without one (a git
 * source). */
const char *fmt_of_name(const char *name);

#endif
