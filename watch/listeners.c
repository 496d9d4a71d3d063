/*
 * listeners.c: the registry of who holds which config; listeners.h states
 * the contract.
 *
 * Layout. entries maps "key\0identity" to its entry; each entry is one
 * allocation with that key inline, and sits in two doubly linked lists: its
 * config's (cfgs maps a key to the head, so a config's listeners are found
 * without a scan) and the recency list (most recently seen first), which
 * eviction takes from the tail. Each call of watch_reg_seen looks at a few
 * entries at the tail: an expired one is freed; a live one (a watch held,
 * or within its hold time) goes back to the head, as an instance still
 * connected is in use; a fresh one ends the look, since all before it are
 * fresher. So expired entries go at the pace of traffic, at O(1) a call,
 * and never past the cap.
 *
 * An entry is about 200 bytes plus its key and labels, and the map's own
 * entry of about 40 bytes plus the key again.
 */
#include "listeners.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xmalloc.h"

#define TIDY_STEPS 4

typedef struct reg_entry reg_entry;

struct reg_entry {
	reg_entry *lru_prev, *lru_next; /* recency: prev is more recent */
	reg_entry *cfg_prev, *cfg_next; /* the config's list */
	char *labels, *rule;		/* owned; "" is a static empty string */
	char *report_msg;		/* owned, same rule */
	int64_t version, seen_ms, report_ms;
	int64_t tokens_ms; /* the rate's clock: when it was last full, in the past */
	int report;	   /* WATCH_REPORT_*, 0 for none */
	char report_md5[33];
	uint64_t hold_ms;
	int watching;
	int has_id; /* known by an id it sent, not by its address */
	char md5[33];
	char ip[64];
	size_t keylen; /* strlen of the config key; the identity follows its NUL */
	size_t mlen;   /* bytes of mkey: key, NUL, identity */
	char mkey[];
};

struct watch_reg {
	hmap *entries; /* "key\0identity" -> reg_entry */
	hmap *cfgs;    /* key -> its first reg_entry */
	reg_entry *lru_head, *lru_tail;
	size_t count, max;
	uint64_t grace_ms;
};

static char empty[1];

static char *dup_or_empty(const char *s)
{
	return s && *s ? xstrdup(s) : empty;
}

static void free_str(char *s)
{
	if (s != empty)
		free(s);
}

static void set_str(char **dst, const char *src)
{
	if (!strcmp(*dst, src ? src : ""))
		return;
	free_str(*dst);
	*dst = dup_or_empty(src);
}

watch_reg *watch_reg_new(size_t max, uint64_t grace_ms)
{
	watch_reg *reg = xcalloc(1, sizeof(*reg));

	reg->entries = hmap_new();
	reg->cfgs = hmap_new();
	reg->max = max ? max : 1;
	reg->grace_ms = grace_ms;
	return reg;
}

static void entry_free(reg_entry *e)
{
	free_str(e->labels);
	free_str(e->rule);
	free_str(e->report_msg);
	free(e);
}

static void free_one(void *ctx, const void *k, size_t kl, void *val)
{
	(void)ctx;
	(void)k;
	(void)kl;
	entry_free(val);
}

void watch_reg_free(watch_reg *reg)
{
	if (!reg)
		return;
	hmap_foreach(reg->entries, free_one, NULL);
	hmap_free(reg->entries);
	hmap_free(reg->cfgs);
	free(reg);
}

const char *watch_reg_identity(const watch_listener *l)
{
	return l->instance && *l->instance ? l->instance : l->ip ? l->ip : "";
}

static const char *identity_of(const reg_entry *e)
{
	return e->mkey + e->keylen + 1;
}

static int live(const watch_reg *reg, const reg_entry *e, int64_t now_ms)
{
	return e->watching > 0 || now_ms < e->seen_ms + (int64_t)(e->hold_ms + reg->grace_ms);
}

static void lru_unlink(watch_reg *reg, reg_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		reg->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		reg->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(watch_reg *reg, reg_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = reg->lru_head;
	if (reg->lru_head)
		reg->lru_head->lru_prev = e;
	else
		reg->lru_tail = e;
	reg->lru_head = e;
}

/* Takes e out of the registry and frees it. */
static void entry_drop(watch_reg *reg, reg_entry *e)
{
	lru_unlink(reg, e);
	if (e->cfg_prev) {
		e->cfg_prev->cfg_next = e->cfg_next;
	} else if (e->cfg_next) {
		hmap_put(reg->cfgs, e->mkey, e->keylen, e->cfg_next);
	} else {
		hmap_del(reg->cfgs, e->mkey, e->keylen);
	}
	if (e->cfg_next)
		e->cfg_next->cfg_prev = e->cfg_prev;
	hmap_del(reg->entries, e->mkey, e->mlen);
	reg->count--;
	entry_free(e);
}

/* Frees expired entries at the tail and moves live old ones to the head. */
static void tidy(watch_reg *reg, int64_t now_ms)
{
	int i;

	for (i = 0; i < TIDY_STEPS && reg->lru_tail; i++) {
		reg_entry *e = reg->lru_tail;
		if (!live(reg, e, now_ms)) {
			entry_drop(reg, e);
		} else if (e->watching > 0 || now_ms >= e->seen_ms + (int64_t)reg->grace_ms) {
			lru_unlink(reg, e);
			lru_push(reg, e);
		} else {
			break; /* fresh: so is everything before it */
		}
	}
}

static reg_entry *entry_find(const watch_reg *reg, const char *key, const char *id, char **mkey,
			     size_t *mlen)
{
	size_t kl = strlen(key), il = strlen(id);

	*mlen = kl + 1 + il;
	*mkey = xmalloc(*mlen + 1);
	memcpy(*mkey, key, kl + 1);
	memcpy(*mkey + kl + 1, id, il + 1);
	return hmap_get(reg->entries, *mkey, *mlen);
}

static reg_entry *entry_new(watch_reg *reg, const char *key, const char *mkey, size_t mlen)
{
	reg_entry *e = xcalloc(1, sizeof(*e) + mlen + 1), *head;

	e->keylen = strlen(key);
	e->mlen = mlen;
	memcpy(e->mkey, mkey, mlen + 1);
	e->labels = empty;
	e->rule = empty;
	e->report_msg = empty;
	hmap_put(reg->entries, e->mkey, mlen, e);
	head = hmap_get(reg->cfgs, key, e->keylen);
	e->cfg_next = head;
	if (head)
		head->cfg_prev = e;
	hmap_put(reg->cfgs, key, e->keylen, e);
	lru_push(reg, e);
	reg->count++;
	return e;
}

static void copy_capped(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

void watch_reg_seen(watch_reg *reg, const char *key, const watch_listener *l, int watch_delta)
{
	const char *md5 = l->md5 ? l->md5 : "";
	size_t mlen;
	char *mkey;
	reg_entry *e;

	tidy(reg, l->seen_ms);
	e = entry_find(reg, key, watch_reg_identity(l), &mkey, &mlen);
	if (!e) {
		while (reg->count >= reg->max && reg->lru_tail)
			entry_drop(reg, reg->lru_tail);
		e = entry_new(reg, key, mkey, mlen);
	} else {
		lru_unlink(reg, e);
		lru_push(reg, e);
	}
	free(mkey);
	if (l->version >= 0 || strcmp(e->md5, md5)) {
		e->version = l->version > 0 ? l->version : 0;
		set_str(&e->rule, l->version >= 0 ? l->rule : NULL);
	}
	copy_capped(e->md5, sizeof(e->md5), md5);
	copy_capped(e->ip, sizeof(e->ip), l->ip);
	set_str(&e->labels, l->labels);
	e->has_id = l->instance && *l->instance;
	e->seen_ms = l->seen_ms;
	e->hold_ms = l->hold_ms;
	e->watching += watch_delta;
	if (e->watching < 0)
		e->watching = 0; /* it was evicted while held, and made again */
}

void watch_reg_unwatch(watch_reg *reg, const char *key, const char *identity)
{
	size_t mlen;
	char *mkey;
	reg_entry *e = entry_find(reg, key, identity, &mkey, &mlen);

	free(mkey);
	if (e && e->watching > 0)
		e->watching--;
}

/* The rate is a token bucket kept as one time: tokens_ms is when the
 * bucket would have been full, each report moves it 1/PER_SEC later, and a
 * report is refused when that would pass now + BURST/PER_SEC. */
static int rate_take(reg_entry *e, int64_t now_ms, int apply)
{
	const int64_t step = 1000 / WATCH_REPORT_PER_SEC;
	int64_t t = e->tokens_ms < now_ms - WATCH_REPORT_BURST * step
			? now_ms - WATCH_REPORT_BURST * step
			: e->tokens_ms;

	if (t + step > now_ms)
		return 0;
	if (apply)
		e->tokens_ms = t + step;
	return 1;
}

watch_report_result watch_reg_report(watch_reg *reg, const char *key, const char *identity,
				     const char *md5, const char *effective_md5, int status,
				     const char *message, int64_t now_ms, int apply)
{
	size_t mlen;
	char *mkey;
	reg_entry *e = entry_find(reg, key, identity, &mkey, &mlen);
	const char *msg = message ? message : "";

	free(mkey);
	if (!e || !live(reg, e, now_ms))
		return WATCH_REPORT_UNKNOWN;
	if (!(e->version > 0 && !strcmp(md5, e->md5)) &&
	    !(effective_md5 && !strcmp(md5, effective_md5)))
		return WATCH_REPORT_NOT_SERVED;
	if (e->report == status && !strcmp(e->report_md5, md5) && !strcmp(e->report_msg, msg)) {
		if (apply)
			e->report_ms = now_ms;
		return WATCH_REPORT_OK; /* the same again: free */
	}
	if (!rate_take(e, now_ms, apply))
		return WATCH_REPORT_LIMITED;
	if (!apply)
		return WATCH_REPORT_OK;
	e->report = status;
	copy_capped(e->report_md5, sizeof(e->report_md5), md5);
	set_str(&e->report_msg, msg);
	e->report_ms = now_ms;
	return WATCH_REPORT_OK;
}

static void report(const reg_entry *e, watch_reg_fn fn, void *ctx)
{
	watch_listener l;

	l.key = e->mkey;
	l.instance = e->mkey + e->keylen + 1;
	l.ip = e->ip;
	if (!e->has_id)
		l.instance = ""; /* known by its address: it sent no id */
	l.labels = e->labels;
	l.md5 = e->md5;
	l.version = e->version;
	l.rule = e->rule;
	l.seen_ms = e->seen_ms;
	l.hold_ms = e->hold_ms;
	l.watching = e->watching;
	l.report_md5 = e->report_md5;
	l.report = e->report;
	l.report_message = e->report_msg;
	l.report_ms = e->report_ms;
	fn(ctx, &l);
}

size_t watch_reg_config(const watch_reg *reg, const char *key, int64_t now_ms, watch_reg_fn fn,
			void *ctx)
{
	const reg_entry *e = hmap_get(reg->cfgs, key, strlen(key));
	size_t n = 0;

	for (; e; e = e->cfg_next) {
		if (!live(reg, e, now_ms))
			continue;
		report(e, fn, ctx);
		n++;
	}
	return n;
}

size_t watch_reg_instance(const watch_reg *reg, const char *identity, int64_t now_ms,
			  watch_reg_fn fn, void *ctx)
{
	const reg_entry *e;
	size_t n = 0;

	for (e = reg->lru_head; e; e = e->lru_next) {
		if (!live(reg, e, now_ms) || strcmp(identity_of(e), identity))
			continue;
		report(e, fn, ctx);
		n++;
	}
	return n;
}

size_t watch_reg_count(const watch_reg *reg)
{
	return reg->count;
}
