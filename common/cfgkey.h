/*
 * cfgkey: the identity of a config, (namespace, group, dataId), as one value.
 *
 * Every part of hotconf that names a config uses this type: the store's
 * index and change feed, the watch hub's keys, the response cache, the
 * watch requests. It is built in one place, cfgkey_init(), which checks the
 * name rules, and formatted in one place: its string "ns/group/dataId"
 * (names never contain '/', so the string is unambiguous). The parts are
 * read back through the accessors, never by splitting the string again.
 *
 * A cfgkey owns its string; copy with cfgkey_copy(), release with
 * cfgkey_release(). Pure functions; any thread, one owner per value.
 */
#ifndef HC_CFGKEY_H
#define HC_CFGKEY_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"

#define CFGKEY_NAME_MAX 128
/* The longest key string: three names and two separators. */
#define CFGKEY_MAX (3 * CFGKEY_NAME_MAX + 2)

typedef struct cfgkey {
	char *s;	   /* "ns/group/dataId", NUL-terminated; owned; NULL when empty */
	uint16_t len;	   /* strlen(s) */
	uint8_t ns_len;	   /* s[0..ns_len) is the namespace */
	uint8_t group_len; /* then '/', the group, '/', the dataId */
} cfgkey;

#define CFGKEY_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

/* 1 when c may appear in a name: [A-Za-z0-9._:-]. */
int cfgkey_name_char(unsigned char c);
/* 1 when s[0..n) is a valid namespace, group or dataId: 1-128 bytes of
 * [A-Za-z0-9._:-], not "." or "..", and so never a NUL or '/'. */
int cfgkey_name_ok(const char *s, size_t n);

/* Builds *k from three NUL-terminated names. HC_ERR_INVALID (and *k left
 * empty) when a name breaks the rules of cfgkey_name_ok. */
hc_err cfgkey_init(cfgkey *k, const char *ns, const char *group, const char *data_id);
/* Parses "ns/group/dataId" (len bytes) into *k; HC_ERR_INVALID when it is not
 * three valid names. */
hc_err cfgkey_parse(cfgkey *k, const char *s, size_t len);
/* Makes *dst an independent copy of src. */
void cfgkey_copy(cfgkey *dst, const cfgkey *src);
/* Frees the string; *k is left empty and reusable. */
void cfgkey_release(cfgkey *k);

/* The parts, as pointers into the key string with their lengths: not
 * NUL-terminated (but the dataId, which ends the string). */
static inline const char *cfgkey_ns(const cfgkey *k)
{
	return k->s;
}
static inline size_t cfgkey_ns_len(const cfgkey *k)
{
	return k->ns_len;
}
static inline const char *cfgkey_group(const cfgkey *k)
{
	return k->s + k->ns_len + 1;
}
static inline size_t cfgkey_group_len(const cfgkey *k)
{
	return k->group_len;
}
static inline const char *cfgkey_data_id(const cfgkey *k)
{
	return k->s + k->ns_len + 1 + k->group_len + 1;
}
static inline size_t cfgkey_data_id_len(const cfgkey *k)
{
	return (size_t)k->len - k->ns_len - k->group_len - 2;
}

/*
 * Scopes: every config of one group ("ns/group/": an empty dataId) or of a
 * whole namespace ("ns//": empty group and dataId), for pattern watches. A
 * scope is a cfgkey too (its string is the hub key of the watches on it),
 * never equal to a config's key, since names are never empty.
 */
/* Builds the scope of group in ns, or of ns alone when group is NULL;
 * HC_ERR_INVALID when a name breaks the rules. */
hc_err cfgkey_init_scope(cfgkey *k, const char *ns, const char *group);
static inline int cfgkey_is_scope(const cfgkey *k)
{
	return k->s && k->s[k->len - 1] == '/';
}
/* 1 when the config key string key[0..len) lies in scope. */
int cfgkey_in_scope(const cfgkey *scope, const char *key, size_t len);
/* The scope strings that hold the config key string key[0..len) ("ns/g/d"):
 * its group's ("ns/g/") and its namespace's ("ns//"), into buffers of
 * CFGKEY_MAX + 1. 0 when key is not a config's key. */
int cfgkey_scope_strings(const char *key, size_t len, char *group_scope, char *ns_scope);

/* Copies the three parts, NUL-terminated, into buffers of CFGKEY_NAME_MAX + 1. */
void cfgkey_split(const cfgkey *k, char *ns, char *group, char *data_id);
/* Appends "namespace":"..","group":"..","dataId":".." (no braces) to out. */
hc_err cfgkey_json(const cfgkey *k, sbuf *out);

#endif
