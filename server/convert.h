/*
 * convert: structured config content from one format to another (json, yaml,
 * properties), for `GET ...?as=` and for reading Nacos' YAML metadata.
 *
 * Everything goes through one tree of null, bool, number, string, list and
 * object values, keys in document order. What cannot be converted without
 * loss or guessing is refused with HC_ERR_UNPROCESSABLE (422) and a sentence in
 * *why that names the place: "at $.servers[2].name", "key 'a.b' ... (line 3)".
 *
 * Reading:
 * - json: RFC 8259, UTF-8. Duplicate keys are refused (which one wins is a
 *   guess). Numbers keep their lexical form.
 * - yaml: one document, YAML 1.2 core schema. Anchors, aliases and merge keys
 *   (`<<: *a`, `<<: [*a, *b]`; the mapping's own keys win, then earlier
 *   sources) are resolved. Plain scalars are typed by the core schema (null,
 *   true/false, ints incl. 0x/0o, floats); quoted and block scalars are always
 *   strings. Refused: a second document, tags outside the core schema,
 *   mapping keys that are not strings (a mapping, a list, null, a number),
 *   duplicate keys, .inf/.nan (not JSON), undefined or recursive aliases, and
 *   anything that expands past CONV_MAX_NODES nodes or CONV_MAX_EXPANDED_BYTES
 *   bytes of keys and scalars (the "billion laughs" alias bomb).
 * - properties: java.util.Properties.load() rules (`k=v`, `k: v`, `k v`,
 *   `#`/`!` comments, trailing-backslash continuation, \uXXXX and other
 *   escapes). `a.b.c=1` nests, `a[0]=x` makes lists; values stay strings.
 *   Refused, naming key and line: a key that is both a value and a parent,
 *   both a list and an object, list index gaps, malformed keys (empty
 *   segments, bad indexes), duplicate keys with different values.
 * - Input must be valid UTF-8; a leading BOM is skipped. Depth is bounded by
 *   CONV_MAX_DEPTH in every format.
 *
 * Writing:
 * - json: 2-space indentation, keys in document order, trailing newline.
 * - yaml: block style, keys in order, trailing newline; strings are quoted only
 *   when a YAML 1.2 (or 1.1) reader would take them for another type or they
 *   are not plain-safe; multi-line strings become `|` blocks when that is
 *   exact.
 * - properties: nesting flattened with dots, lists as `a[0]`, keys and values
 *   escaped as Properties.store() would; strings, numbers and booleans become
 *   their text. Refused: the document is not an object, keys that contain '.',
 *   '[' or ']' or are empty, empty objects and lists below the root, null.
 *
 * Round trips: properties -> json -> properties keeps the key/value set;
 * json -> yaml -> json keeps the JSON value (and its number spellings).
 *
 * No state; any thread.
 */
#ifndef HC_CONVERT_H
#define HC_CONVERT_H

#include <stddef.h>

#include "hc_err.h"
#include "sbuf.h"

#define CONV_MAX_DEPTH 512
/* Nodes in the tree once every alias is expanded. */
#define CONV_MAX_NODES 1000000
/* Bytes of keys and scalars once every alias is expanded. */
#define CONV_MAX_EXPANDED_BYTES (64u << 20)

/* Converts data[0..len) from format `from` to format `to` and appends the
 * result to *out (the caller owns both sbufs).
 * - from == to: the content is appended unchanged, whatever the format.
 * - from "text" or "xml": HC_ERR_UNPROCESSABLE, "cannot convert text to json".
 * - from or to not json, yaml or properties otherwise: HC_ERR_INVALID.
 * - what cannot be converted without loss: HC_ERR_UNPROCESSABLE.
 * - the result would pass out->max: HC_ERR_TOO_BIG.
 * On failure *out is left as it was and a sentence is appended to *why. */
hc_err conv_convert(const char *from, const char *data, size_t len, const char *to, sbuf *out,
		    sbuf *why);

/* One key and value of a properties document, unescaped (k[kl] and v[vl]
 * are NUL; either may hold other NULs from \u0000). Borrowed for the call. */
typedef void (*conv_pair_fn)(void *ctx, const char *k, size_t kl, const char *v, size_t vl);
/* Calls fn with each key/value line of properties data[0..len), in order,
 * flat: no nesting, so every document Properties.load() reads is read
 * (repeated keys are all passed on: the caller decides, Java keeps the
 * last). HC_ERR_UNPROCESSABLE, naming the line in *why, for a malformed
 * \uXXXX escape, the one thing Properties.load() refuses; fn may have been
 * called for earlier lines. For protocol servers (Apollo's configurations). */
hc_err conv_props_each(const char *data, size_t len, conv_pair_fn fn, void *ctx, sbuf *why);

#endif
