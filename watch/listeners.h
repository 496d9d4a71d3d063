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
} watch_listener;

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
