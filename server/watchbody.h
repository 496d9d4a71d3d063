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
#define WB_MAX_REPORTS 1000	  /* reports in one POST /api/v1/reports */
#define WB_REPORT_MESSAGE_MAX 512 /* bytes of a report's message */
#define WB_INSTANCE_MAX 256	  /* bytes of an instance id */

/* An apply report's status; the values are watch/listeners.h's
 * WATCH_REPORT_APPLIED and _REJECTED. */
enum { WB_STATUS_NONE = 0, WB_STATUS_APPLIED = 1, WB_STATUS_REJECTED = 2 };

/* A config a pattern's client holds: its name within the scope (the dataId
 * of a group's config, "group/dataId" in a namespace's) and its md5. */
typedef struct wb_known {
	char *name; /* owned */
	char md5[33];
} wb_known;

/* One watched config (a single GET watch has one), or a pattern: every
 * config of a group or namespace. A many-config watch may say what its
 * client did with the copy it holds: status and message. */
typedef struct srv_watch_item {
	cfgkey key;	 /* the config's, or a pattern's scope (cfgkey_is_scope) */
	char md5[33];	 /* the client's copy; "" when it has none (and for a pattern) */
	int status;	 /* WB_STATUS_*: an apply report of md5 rides along */
	char *message;	 /* owned; NULL for none */
	wb_known *known; /* a pattern's: what its client holds, sorted by name; owned */
	size_t nknown;
} srv_watch_item;

/* The md5 a pattern's client holds for name ("" when it holds none). */
const char *wb_known_md5(const srv_watch_item *it, const char *name);

/* One apply report: what an instance did with content it was served. */
typedef struct wb_report {
	cfgkey key;
	char md5[33];  /* 32 lower-case hex digits */
	int status;    /* WB_STATUS_APPLIED or _REJECTED */
	char *message; /* owned; NULL for none */
} wb_report;

/* body[0..len) parsed as JSON, or NULL when it is not JSON or holds a NUL
 * in a string (raw or \u0000: no name may, and cJSON would hand back a C
 * string cut short at it). The caller cJSON_Delete()s it. */
struct cJSON *wb_json_parse(const char *body, size_t len);

/* Parses {"configs":[{"namespace","group","dataId","md5"}, ...]} (namespace
 * and group default to public and DEFAULT_GROUP, md5 to "") into a new array.
 * An entry that names a namespace but no dataId is a pattern: a group's
 * configs ({"namespace","group"}) or a namespace's ({"namespace"}), with
 * "known":{"name":"md5",...} for the configs its client holds (names as in
 * wb_known; at most WB_MAX_ITEMS). The array goes to the caller, who frees
 * it with wb_items_free. On failure *items is NULL and why
 * says which entry and why. */
hc_err wb_parse(const char *body, size_t len, srv_watch_item **items, size_t *n, sbuf *why);
void wb_items_free(srv_watch_item *items, size_t n);

/* Parses {"instance":"...","reports":[{"namespace","group","dataId","md5",
 * "status":"applied"|"rejected","message"}, ...]} (1 to WB_MAX_REPORTS;
 * namespace and group default as for a watch). *instance gets the body's
 * instance (owned; NULL when it gave none). On failure nothing is returned
 * and why names the field. */
hc_err wb_parse_reports(const char *body, size_t len, char **instance, wb_report **reports,
			size_t *n, sbuf *why);
void wb_reports_free(wb_report *reports, size_t n);

#endif
