/*
 * watch: held long polls. A waiter waits on one or more keys (opaque strings;
 * server/ uses a cfgkey's "ns/group/dataId") until one of them is notified,
 * its deadline passes, or the hub closes. Finding the waiters of a key is a hash lookup,
 * never a scan of all waiters; expiry uses a min-heap of deadlines.
 *
 * watch/ never reads the clock and knows nothing of SQL or HTTP: deadlines
 * and now_ms are arguments, so tests expire waiters with fake times.
 *
 * Callbacks follow libuv's rule: if watch_add() fails its callback never runs;
 * if it succeeds the callback runs exactly once, unless watch_cancel() removes
 * the waiter first. The waiter is unlinked and freed before its callback runs,
 * so the callback may add new waiters but must not touch the old handle.
 *
 * Threading: a hub is not thread-safe. Its owner (server/) serialises every
 * call with one mutex, and callbacks run on the calling thread under it.
 */
#ifndef HC_WATCH_H
#define HC_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "gray.h"
#include "hc_err.h"

typedef struct watch_hub watch_hub;
typedef struct watch_waiter watch_waiter;

typedef enum watch_event {
	WATCH_CHANGED, /* a key it waits on was notified */
	WATCH_EXPIRED, /* its deadline passed */
	WATCH_CLOSED,  /* the hub is closing (shutdown) */
} watch_event;

/* Called once per waiter; cls is what watch_add() was given. */
typedef void (*watch_cb)(void *cls, watch_event ev);

#define WATCH_NO_DEADLINE UINT64_MAX

/* Returns a new empty hub the caller owns. */
watch_hub *watch_hub_new(void);
/* Frees the hub. Waiters still held are freed without a callback, so call
 * watch_close_all() first. NULL is a no-op. */
void watch_hub_free(watch_hub *hub);

/* Adds a waiter on nkeys (>= 1) NUL-terminated keys, copied by the hub;
 * duplicate keys are allowed. It fires WATCH_EXPIRED at the first
 * watch_expire() with now_ms >= deadline_ms. *out (if not NULL) gets a handle
 * valid until the callback runs or watch_cancel(). HC_ERR_INVALID if nkeys
 * is 0 or cb is NULL. */
hc_err watch_add(watch_hub *hub, const char *const *keys, size_t nkeys, uint64_t deadline_ms,
		 watch_cb cb, void *cls, watch_waiter **out);
/* Removes a waiter without calling its callback. */
void watch_cancel(watch_hub *hub, watch_waiter *w);
/* Fires WATCH_CHANGED on every waiter of key; returns how many fired. */
size_t watch_notify(watch_hub *hub, const char *key);
/* Records what a waiter had seen when it was added (a change counter; 0
 * unless set): watch_notify_seq then passes it over for changes it saw. */
void watch_set_seq(watch_waiter *w, uint64_t seq);
/* Like watch_notify, but only for the waiters whose seq is below seq (the
 * change's own number): those added after the change took effect already
 * saw it, and stay. */
size_t watch_notify_seq(watch_hub *hub, const char *key, uint64_t seq);
/* Gray release. A waiter may carry its instance's match inputs (parsed
 * once, when its watch is parked), so a change to a config with gray rules
 * wakes only the waiters whose effective content differs, without a call
 * back into server/. inst is borrowed and must outlive the waiter; NULL is
 * an instance no rule matches. by_version: the waiter follows the config's
 * main version (a single watch by version number), which a rule change
 * leaves alone. */
void watch_set_instance(watch_waiter *w, const gray_inst *inst, int by_version);

/* A config as a change leaves it or finds it, for watch_notify_gray: its
 * main md5 and its rules (arrays of n, in creation order as gray_pick takes
 * them; md5s[k] is rules[k]'s content md5). set names the rule set: two
 * states with the same non-NULL set hold the same rules (a main publish
 * leaves the set as it was). All borrowed for the call. */
typedef struct watch_state {
	int exists; /* 0: absent (not yet created, or deleted) */
	const char *md5;
	const void *set;
	const gray_rule *const *rules;
	const int *priority;
	const char *const *md5s;
	size_t n;
} watch_state;

/* Like watch_notify_seq, but fires only the waiters the change concerns:
 * those whose effective md5 (gray_pick over the rules, else the main md5)
 * differs between prev and cur, every waiter when the config appeared or
 * went, and the by_version waiters when the main version moved
 * (!main_same). The others stay, as do waiters whose seq is at or above
 * seq. Returns how many fired. */
size_t watch_notify_gray(watch_hub *hub, const char *key, uint64_t seq, const watch_state *prev,
			 const watch_state *cur, int main_same);
/* Fires WATCH_EXPIRED on every waiter whose deadline is <= now_ms, earliest
 * first; returns how many fired. A waiter added by one of these callbacks
 * fires at the next call, never this one, so expiry always ends. */
size_t watch_expire(watch_hub *hub, uint64_t now_ms);
/* The earliest deadline held, or WATCH_NO_DEADLINE when there is none. */
uint64_t watch_next_deadline(const watch_hub *hub);
/* Fires WATCH_CLOSED on every waiter, including any its callbacks add, until
 * the hub is empty; a callback that re-adds on WATCH_CLOSED would never let it
 * end. Returns how many fired. Callbacks must never call watch_hub_free. */
size_t watch_close_all(watch_hub *hub);
/* Waiters held. */
size_t watch_count(const watch_hub *hub);
/* Waiters held on key. */
size_t watch_key_count(const watch_hub *hub, const char *key);
/* Calls fn(ctx, cls) for each waiter on key (for listener views); fn must not
 * call into the hub. */
void watch_foreach(const watch_hub *hub, const char *key, void (*fn)(void *ctx, void *cls),
		   void *ctx);

#endif
