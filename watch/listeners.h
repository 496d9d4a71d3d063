/*
 * watch listeners: which instance holds which config. server/ records every
 * read and watch of a config here (the instance's id, address and labels,
 * the md5 and version it now holds, the gray rule that served it, when it
 * was seen, for how long it asked to wait, and whether a watch of it is
 * held); the listeners view, the instance view and the gray preview read it.
 *
 * An instance is known by its id, or by its address when it sent none (its
 * identity, below). One entry per (config key, identity). An entry is live
 * while a watch of it is held, or until its last request's hold time plus
 * the registry's grace period has passed since it was seen; listings skip
 * the others, and they are freed as the registry goes on. At most max
 * entries are kept: a new one beyond that evicts the least recently seen.
 *
 * Like the hub, the registry never reads the clock: times are arguments
 * (wall-clock milliseconds, since they are shown to operators).
 *
 * Threading: not thread-safe. Its owner (server/) serialises every call with
 * one mutex of its own, taken alone.
 */
#ifndef HC_WATCH_LISTENERS_H
#define HC_WATCH_LISTENERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct watch_reg watch_reg;

/* What is known of one instance of one config. In watch_reg_seen every
 * string is borrowed for the call and copied; in listings every pointer is
 * borrowed from the registry for the callback only. */
typedef struct watch_listener {
	const char *key;      /* the config (listings only) */
	const char *instance; /* its id; "" when it sent none (then known by ip) */
	const char *ip;
	const char *labels; /* as it sent them, "" for none */
	const char *md5;    /* what it holds; "" for nothing (the config was absent) */
	int64_t version;    /* the main version it was served; 0 when unknown. In
			     * watch_reg_seen, -1: it holds md5 but was not served it now
			     * (a watch that told it of a change): the version and rule
			     * known for that md5 stay, else they become unknown */
	const char *rule;   /* the gray rule that served it, "" for main */
	int64_t seen_ms;    /* its last request */
	uint64_t hold_ms;   /* that request's wait, 0 for a plain read */
	int watching;	    /* watches of it held now (listings only) */
	/* Its last apply report (listings only): the md5 it was about ("" for
	 * none), WATCH_REPORT_APPLIED or _REJECTED (0: none), the message it
	 * sent ("" for none) and when. */
	const char *report_md5;
	int report;
	const char *report_message;
	int64_t report_ms;
} watch_listener;

/* Apply reports: what an instance did with the content it was served. */
enum { WATCH_REPORT_APPLIED = 1, WATCH_REPORT_REJECTED = 2 };
#define WATCH_REPORT_MESSAGE_MAX 512 /* bytes kept of a report's message */
/* Each entry takes a burst of WATCH_REPORT_BURST reports that change what it
 * says, then WATCH_REPORT_PER_SEC a second; a report that repeats the last
 * one costs nothing. */
#define WATCH_REPORT_BURST 10
#define WATCH_REPORT_PER_SEC 5

/* What watch_reg_report found. */
typedef enum watch_report_result {
	WATCH_REPORT_OK,
	WATCH_REPORT_UNKNOWN,	 /* the instance never read or watched the config here */
	WATCH_REPORT_NOT_SERVED, /* md5 is neither what it was served nor effective_md5 */
	WATCH_REPORT_LIMITED,	 /* over its rate: try again later */
} watch_report_result;

/* Returns a new empty registry of at most max (>= 1) entries, whose entries
 * stay grace_ms past their hold time. */
watch_reg *watch_reg_new(size_t max, uint64_t grace_ms);
/* Frees it and every entry. NULL is a no-op. */
void watch_reg_free(watch_reg *reg);

/* The identity l is known by: its instance id, else its ip. */
const char *watch_reg_identity(const watch_listener *l);

/* Records that l's instance read or watched key at l->seen_ms: creates or
 * updates its entry and makes it the most recently seen. watch_delta is +1
 * when a watch of it is now held, -1 when one ended, 0 otherwise. Frees a
 * few expired entries on the way, and evicts the least recently seen when
 * full. */
void watch_reg_seen(watch_reg *reg, const char *key, const watch_listener *l, int watch_delta);
/* A held watch of identity on key ended without an answer (its client left,
 * or the server stops): only the watch count changes. */
void watch_reg_unwatch(watch_reg *reg, const char *key, const char *identity);

/* An apply report of identity on key about md5 at now_ms: status is
 * WATCH_REPORT_APPLIED or _REJECTED, message NULL or text (cut to
 * WATCH_REPORT_MESSAGE_MAX bytes on a UTF-8 boundary by the caller). md5 must
 * be what the entry was last served, or effective_md5 (NULL: none), what the
 * instance would be served now. With apply 0 it only checks (and changes
 * nothing), so a caller can check many before applying any; with apply 1 it
 * records the report (and takes from the rate). */
watch_report_result watch_reg_report(watch_reg *reg, const char *key, const char *identity,
				     const char *md5, const char *effective_md5, int status,
				     const char *message, int64_t now_ms, int apply);

typedef void (*watch_reg_fn)(void *ctx, const watch_listener *l);
/* Calls fn for each live entry of key at now_ms, in no particular order;
 * returns how many. fn must not call into the registry. */
size_t watch_reg_config(const watch_reg *reg, const char *key, int64_t now_ms, watch_reg_fn fn,
			void *ctx);
/* Calls fn for each live entry of identity (every config it holds); returns
 * how many. A walk of every entry: for operators' views, not the hot path. */
size_t watch_reg_instance(const watch_reg *reg, const char *identity, int64_t now_ms,
			  watch_reg_fn fn, void *ctx);
/* Entries kept, live or not yet freed. */
size_t watch_reg_count(const watch_reg *reg);

#endif
