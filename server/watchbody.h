/*
 * watchbody: the request bodies the server reads as JSON, parsed into plain
 * data before any handler state is touched: the many-config watch's list of
 * configs, and the NUL check every JSON body passes. Pure functions (no
 * libmicrohttpd), so they are unit-tested and fuzzed alone; any thread.
 */
#ifndef HC_WATCHBODY_H
#define HC_WATCHBODY_H

#include <stddef.h>

#include "cfgkey.h"
#include "hc_err.h"
#include "sbuf.h"

struct cJSON;

#define WB_MAX_ITEMS 10000

/* One watched config (a single GET watch has one). */
typedef struct srv_watch_item {
	cfgkey key;
	char md5[33]; /* the client's copy; "" when it has none */
} srv_watch_item;

/* body[0..len) parsed as JSON, or NULL when it is not JSON or holds a NUL
 * in a string (raw or \u0000: no name may, and cJSON would hand back a C
 * string cut short at it). The caller cJSON_Delete()s it. */
struct cJSON *wb_json_parse(const char *body, size_t len);

/* Parses {"configs":[{"namespace","group","dataId","md5"}, ...]} (namespace
 * and group default to public and DEFAULT_GROUP, md5 to "") into a new array
 * the caller frees with wb_items_free. On failure *items is NULL and why
 * says which entry and why. */
hc_err wb_parse(const char *body, size_t len, srv_watch_item **items, size_t *n, sbuf *why);
void wb_items_free(srv_watch_item *items, size_t n);

#endif
