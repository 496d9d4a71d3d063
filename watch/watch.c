/*
 * watch.c: the hub behind held long polls; watch.h states the contract.
 *
 * Layout. keys maps each key to a watch_key: a doubly linked list of the links
 * of the waiters on that key, with a count. A waiter carries one link per
 * distinct key inline (a flexible array), so removing it unlinks each of its
 * keys in O(1) with no search, and a key's list is freed and leaves the map
 * when its last link goes, so idle keys cost nothing. Every waiter also sits in
 * a binary min-heap ordered by deadline, with its heap index stored in the
 * waiter so notify and cancel take it out in O(log n). Waiters with no deadline
 * sort last there: keeping them in the heap makes it the one list of every
 * waiter, which close_all and hub_free walk without touching the map.
 *
 * A single-key waiter is one allocation of 96 bytes on LP64 (64 of header, 32
 * for its link) plus an 8-byte heap slot. Per distinct key there is also a
 * watch_key and the map's own entry, shared by all the waiters on that key.
 *
 * Re-entrancy. A waiter is unlinked and freed before its callback runs, and a
 * callback may add or cancel waiters. watch_notify() takes the key's list out
 * of the map before firing, so waiters added on the same key start a fresh
 * list and wait for the next notify. watch_expire() parks waiters added by its
 * callbacks in a second heap (the nursery) until it returns, so a callback that
 * re-adds with a deadline already passed cannot keep one call looping forever.
 *
 * Gray release. A waiter may carry a borrowed gray_inst (its instance's match
 * inputs, parsed once by server/ when the watch is parked). watch_notify_gray
 * walks the key's list once and keeps every waiter whose effective md5 is the
 * same under the two states: one gray_pick per waiter when the rule set is the
 * one it was (a main publish), two when the rules changed. No SQL, no HTTP,
 * no callback into server/: the states are plain data.
 *
 * Threading: none. server/ holds one mutex around every call; callbacks run
 * under it, on the calling thread.
 */
#include "watch.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xmalloc.h"

typedef struct watch_key watch_key;

/* One waiter's place in one key's list. */
typedef struct watch_link {
	struct watch_link *prev, *next;
	watch_key *wk;
	watch_waiter *w;
} watch_link;

struct watch_key {
	watch_link *head, *tail;
	size_t count;
	size_t klen;
	int detached; /* out of the map: watch_notify() owns it and frees it */
	char key[];   /* needed to leave the map when the list empties */
};

struct watch_waiter {
	watch_cb cb;
	void *cls;
	uint64_t deadline;
	uint64_t seq;	       /* watch_set_seq: what the waiter had seen when it was added */
	const gray_inst *inst; /* watch_set_instance: borrowed; NULL matches no rule */
	int by_version;
	size_t heap_idx; /* index in its heap, ORed with that heap's tag */
	size_t nlinks;	 /* distinct keys; links[] has room for every key given */
	watch_link links[];
};

typedef struct wheap {
	watch_waiter **v;
	size_t len, cap;
	size_t tag; /* ORed into heap_idx to say which heap holds a waiter */
} wheap;

/* The top bit of heap_idx: an index can never reach it, as each slot is 8 bytes. */
#define NURSERY_TAG (SIZE_MAX / 2 + 1)

struct watch_hub {
	hmap *keys;	   /* key -> watch_key */
	wheap heap;	   /* every waiter, by deadline, but those in the nursery */
	wheap nursery;	   /* waiters added while watch_expire() runs */
	size_t count;	   /* waiters held, in both heaps */
	unsigned expiring; /* watch_expire() calls on the stack (callbacks may nest them) */
};

static void heap_set(wheap *h, size_t i, watch_waiter *w)
{
	h->v[i] = w;
	w->heap_idx = i | h->tag;
}

static void heap_sift_up(wheap *h, size_t i)
{
	watch_waiter *w = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->v[parent]->deadline <= w->deadline)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, w);
}

static void heap_sift_down(wheap *h, size_t i)
{
	watch_waiter *w = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->len)
			break;
		if (c + 1 < h->len && h->v[c + 1]->deadline < h->v[c]->deadline)
			c++;
		if (w->deadline <= h->v[c]->deadline)
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, w);
}

static void heap_push(wheap *h, watch_waiter *w)
{
	if (h->len == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->len++] = w;
	heap_sift_up(h, h->len - 1);
}

static void heap_remove(wheap *h, size_t i)
{
	watch_waiter *last = h->v[--h->len];

	if (i == h->len)
		return;
	heap_set(h, i, last);
	/* The moved waiter came from the bottom, but from another subtree: it may
	 * belong above its new parent as well as below its new children. */
	if (i > 0 && h->v[(i - 1) / 2]->deadline > last->deadline)
		heap_sift_up(h, i);
	else
		heap_sift_down(h, i);
}

static void heap_release(wheap *h)
{
	size_t i;

	for (i = 0; i < h->len; i++)
		free(h->v[i]);
	free(h->v);
}

static watch_key *key_get_or_add(watch_hub *hub, const char *key, size_t klen)
{
	watch_key *wk = hmap_get(hub->keys, key, klen);

	if (wk)
		return wk;
	wk = xmalloc(offsetof(watch_key, key) + klen + 1);
	wk->head = wk->tail = NULL;
	wk->count = 0;
	wk->klen = klen;
	wk->detached = 0;
	memcpy(wk->key, key, klen + 1);
	hmap_put(hub->keys, wk->key, klen, wk);
	return wk;
}

static void link_append(watch_key *wk, watch_link *l, watch_waiter *w)
{
	l->wk = wk;
	l->w = w;
	l->next = NULL;
	l->prev = wk->tail;
	if (wk->tail)
		wk->tail->next = l;
	else
		wk->head = l;
	wk->tail = l;
	wk->count++;
}

static void link_remove(watch_hub *hub, watch_link *l)
{
	watch_key *wk = l->wk;

	if (l->prev)
		l->prev->next = l->next;
	else
		wk->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		wk->tail = l->prev;
	/* A detached list belongs to the notify walking it, which frees it when done. */
	if (--wk->count == 0 && !wk->detached) {
		hmap_del(hub->keys, wk->key, wk->klen);
		free(wk);
	}
}

/* Takes w out of every key and its heap; the caller frees it. */
static void waiter_remove(watch_hub *hub, watch_waiter *w)
{
	size_t i;

	for (i = 0; i < w->nlinks; i++)
		link_remove(hub, &w->links[i]);
	if (w->heap_idx & NURSERY_TAG)
		heap_remove(&hub->nursery, w->heap_idx & ~NURSERY_TAG);
	else
		heap_remove(&hub->heap, w->heap_idx);
	hub->count--;
}

static void waiter_fire(watch_hub *hub, watch_waiter *w, watch_event ev)
{
	watch_cb cb = w->cb;
	void *cls = w->cls;

	/* Unlink and free before calling back: the callback may add a new waiter,
	 * even on the same key, and must never see this one. */
	waiter_remove(hub, w);
	free(w);
	cb(cls, ev);
}

watch_hub *watch_hub_new(void)
{
	watch_hub *hub = xcalloc(1, sizeof(*hub));

	hub->keys = hmap_new();
	hub->nursery.tag = NURSERY_TAG;
	return hub;
}

static void free_key(void *ctx, const void *key, size_t klen, void *val)
{
	(void)ctx;
	(void)key;
	(void)klen;
	free(val);
}

void watch_hub_free(watch_hub *hub)
{
	if (!hub)
		return;
	/* The heaps hold every waiter and the map every list, so nothing needs
	 * unlinking one by one. */
	heap_release(&hub->heap);
	heap_release(&hub->nursery);
	hmap_foreach(hub->keys, free_key, NULL);
	hmap_free(hub->keys);
	free(hub);
}

hc_err watch_add(watch_hub *hub, const char *const *keys, size_t nkeys, uint64_t deadline_ms,
		 watch_cb cb, void *cls, watch_waiter **out)
{
	const size_t max_keys = (SIZE_MAX - offsetof(watch_waiter, links)) / sizeof(watch_link);
	watch_waiter *w;
	size_t i;

	if (out)
		*out = NULL;
	if (!hub || !keys || nkeys == 0 || nkeys > max_keys || !cb)
		return HC_ERR_INVALID;
	/* Check every key before linking any, so a failure leaves nothing behind. */
	for (i = 0; i < nkeys; i++)
		if (!keys[i])
			return HC_ERR_INVALID;

	w = xmalloc(offsetof(watch_waiter, links) + nkeys * sizeof(watch_link));
	w->cb = cb;
	w->cls = cls;
	w->deadline = deadline_ms;
	w->seq = 0;
	w->inst = NULL;
	w->by_version = 0;
	w->nlinks = 0;
	for (i = 0; i < nkeys; i++) {
		watch_key *wk = key_get_or_add(hub, keys[i], strlen(keys[i]));
		/* Links go on at the tail and nothing else runs meanwhile, so a key
		 * this waiter already has ends in its own link: a duplicate key is
		 * spotted in O(1) and linked (and fired) once. */
		if (wk->tail && wk->tail->w == w)
			continue;
		link_append(wk, &w->links[w->nlinks++], w);
	}
	heap_push(hub->expiring ? &hub->nursery : &hub->heap, w);
	hub->count++;
	if (out)
		*out = w;
	return HC_OK;
}

void watch_cancel(watch_hub *hub, watch_waiter *w)
{
	if (!hub || !w)
		return;
	waiter_remove(hub, w);
	free(w);
}

void watch_set_seq(watch_waiter *w, uint64_t seq)
{
	if (w)
		w->seq = seq;
}

size_t watch_notify(watch_hub *hub, const char *key)
{
	return watch_notify_seq(hub, key, UINT64_MAX);
}

void watch_set_instance(watch_waiter *w, const gray_inst *inst, int by_version)
{
	if (!w)
		return;
	w->inst = inst;
	w->by_version = by_version;
}

/* Who a notify fires: every waiter that has not seen the change, or (gray)
 * only those it concerns as well. */
typedef struct notify_filter {
	uint64_t seq;
	const watch_state *prev, *cur; /* NULL: no gray filter */
	int main_same;
} notify_filter;

static const char *effective_md5(const watch_state *st, const gray_inst *inst)
{
	int k = inst && st->n ? gray_pick(st->rules, st->priority, st->n, inst) : -1;

	return k >= 0 ? st->md5s[k] : st->md5;
}

static int concerned(const notify_filter *f, const watch_waiter *w)
{
	const watch_state *a = f->prev, *b = f->cur;
	int k;

	if (w->seq >= f->seq)
		return 0; /* it checked against this change already */
	if (!a)
		return 1;
	if (w->by_version)
		return !f->main_same;
	if (!a->exists || !b->exists)
		return 1;
	if (a->set && a->set == b->set) {
		/* The same rules: one pick decides, and only main content moved. */
		k = w->inst ? gray_pick(b->rules, b->priority, b->n, w->inst) : -1;
		return k < 0 && strcmp(a->md5, b->md5) != 0;
	}
	return strcmp(effective_md5(a, w->inst), effective_md5(b, w->inst)) != 0;
}

/*
 * A walk over a long list of waiters misses the cache at every step: the
 * link, its waiter, the waiter's instance. prefetch_ahead keeps three
 * places ahead of the walk, each fetching one level more of what the step
 * after it needs: PF_LINK links ahead the link, PF_WAITER ahead its waiter
 * (the link is in cache by then), PF_INST ahead the instance. Prefetches
 * never fault, but the places are read, so after a callback (which may
 * free any waiter) they are dropped and found again from the walk.
 */
#define PF_LINK 6
#define PF_WAITER 4
#define PF_INST 2

typedef struct prefetcher {
	/* PF_LINK, PF_WAITER and PF_INST ahead; at[0] NULL: find them again
	 * (also within PF_LINK of the list's end, where that is cheap) */
	watch_link *at[3];
} prefetcher;

static watch_link *skip(watch_link *l, int n)
{
	while (l && n--)
		l = l->next;
	return l;
}

static void prefetch_ahead(prefetcher *pf, watch_link *l)
{
	int i;

	if (!pf->at[0]) {
		pf->at[0] = skip(l, PF_LINK);
		pf->at[1] = skip(l, PF_WAITER);
		pf->at[2] = skip(l, PF_INST);
	} else {
		for (i = 0; i < 3; i++)
			if (pf->at[i])
				pf->at[i] = pf->at[i]->next;
	}
	if (pf->at[0])
		__builtin_prefetch(pf->at[0]);
	if (pf->at[1])
		__builtin_prefetch(pf->at[1]->w);
	if (pf->at[2] && pf->at[2]->w->inst)
		__builtin_prefetch(pf->at[2]->w->inst);
}

static size_t notify(watch_hub *hub, const char *key, const notify_filter *f)
{
	prefetcher pf = {{NULL, NULL, NULL}};
	watch_key *wk, *keep = NULL;
	int filtered = f->seq != UINT64_MAX || f->prev;
	watch_link *l;
	size_t n = 0, klen;

	if (!hub || !key)
		return 0;
	klen = strlen(key);
	wk = hmap_del(hub->keys, key, klen);
	if (!wk)
		return 0;
	/* Detach the list first: waiters that callbacks add on this key then go on
	 * a new list and wait for the next notify. */
	wk->detached = 1;
	/* One walk, always from the head: a waiter the change concerns fires at
	 * once, so its answer goes out while the walk goes on; one it does not
	 * concern moves to the key's new list and stays. A callback may cancel
	 * (or fire, by a nested call) waiters of either list, and may empty and
	 * free the new one, so keep is looked up again after each callback. */
	while ((l = wk->head)) {
		prefetch_ahead(&pf, l);
		if (!filtered || concerned(f, l->w)) {
			waiter_fire(hub, l->w, WATCH_CHANGED);
			keep = NULL;
			pf.at[0] = NULL; /* the callback may have freed what it points to */
			n++;
			continue;
		}
		link_remove(hub, l);
		if (!keep)
			keep = key_get_or_add(hub, key, klen);
		link_append(keep, l, l->w);
	}
	free(wk);
	return n;
}

size_t watch_notify_seq(watch_hub *hub, const char *key, uint64_t seq)
{
	notify_filter f = {seq, NULL, NULL, 0};

	return notify(hub, key, &f);
}

size_t watch_notify_gray(watch_hub *hub, const char *key, uint64_t seq, const watch_state *prev,
			 const watch_state *cur, int main_same)
{
	notify_filter f = {seq, prev, cur, main_same};

	if (!prev || !cur)
		return 0;
	return notify(hub, key, &f);
}

size_t watch_expire(watch_hub *hub, uint64_t now_ms)
{
	size_t n = 0;

	if (!hub)
		return 0;
	hub->expiring++;
	while (hub->heap.len) {
		watch_waiter *w = hub->heap.v[0];
		/* WATCH_NO_DEADLINE means never, even for now_ms == UINT64_MAX. */
		if (w->deadline == WATCH_NO_DEADLINE || w->deadline > now_ms)
			break;
		waiter_fire(hub, w, WATCH_EXPIRED);
		n++;
	}
	/* Only the outermost call hands the nursery over: a nested one is still
	 * inside the outer call's loop. Popping a heap's last slot keeps it a heap. */
	if (--hub->expiring == 0)
		while (hub->nursery.len)
			heap_push(&hub->heap, hub->nursery.v[--hub->nursery.len]);
	return n;
}

uint64_t watch_next_deadline(const watch_hub *hub)
{
	uint64_t next = WATCH_NO_DEADLINE;

	if (!hub)
		return next;
	if (hub->heap.len)
		next = hub->heap.v[0]->deadline;
	if (hub->nursery.len && hub->nursery.v[0]->deadline < next)
		next = hub->nursery.v[0]->deadline;
	return next;
}

size_t watch_close_all(watch_hub *hub)
{
	size_t n = 0;

	if (!hub)
		return 0;
	/* Loop until the hub is empty rather than over a snapshot: a waiter that a
	 * callback adds during shutdown is closed too, so no connection is left
	 * suspended at MHD_stop_daemon(). A callback that re-adds on every
	 * WATCH_CLOSED would loop forever; server/ must not do that. */
	while (hub->count) {
		wheap *h = hub->heap.len ? &hub->heap : &hub->nursery;
		waiter_fire(hub, h->v[0], WATCH_CLOSED);
		n++;
	}
	return n;
}

size_t watch_count(const watch_hub *hub)
{
	return hub ? hub->count : 0;
}

size_t watch_key_count(const watch_hub *hub, const char *key)
{
	const watch_key *wk;

	if (!hub || !key)
		return 0;
	wk = hmap_get(hub->keys, key, strlen(key));
	return wk ? wk->count : 0;
}

void watch_foreach(const watch_hub *hub, const char *key, void (*fn)(void *ctx, void *cls),
		   void *ctx)
{
	const watch_key *wk;
	const watch_link *l;

	if (!hub || !key || !fn)
		return;
	wk = hmap_get(hub->keys, key, strlen(key));
	for (l = wk ? wk->head : NULL; l; l = l->next)
		fn(ctx, l->w->cls);
}
