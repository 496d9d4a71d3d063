/*
 * hmap.c: separate chaining with power-of-two buckets, grown at load 1.
 * Entries carry their key inline. See hmap.h for ownership and threads.
 */
#include "hmap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "siphash.h"
#include "xmalloc.h"

typedef struct hmap_entry {
	struct hmap_entry *next;
	uint64_t hash;
	void *val;
	size_t klen;
	char key[];
} hmap_entry;

struct hmap {
	hmap_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	uint64_t k0, k1;
};

hmap *hmap_new(void)
{
	hmap *m = xcalloc(1, sizeof(*m));
	uint64_t seed[2];

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		/* No entropy yet (early boot): a fixed key still hashes correctly. */
		seed[0] = (uint64_t)time(NULL);
		seed[1] = (uint64_t)(uintptr_t)m;
	}
	m->k0 = seed[0];
	m->k1 = seed[1];
	m->nbuckets = 16;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	return m;
}

void hmap_free(hmap *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		hmap_entry *e = m->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

static hmap_entry **find(const hmap *m, const void *key, size_t klen, uint64_t h)
{
	hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && !memcmp((*pp)->key, key, klen))
			return pp;
	return pp;
}

static void grow(hmap *m)
{
	size_t n = m->nbuckets * 2, i;
	hmap_entry **nb = xcalloc(n, sizeof(*nb));

	for (i = 0; i < m->nbuckets; i++) {
		hmap_entry *e = m->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

void *hmap_get(const hmap *m, const void *key, size_t klen)
{
	hmap_entry **pp = find(m, key, klen, siphash24(m->k0, m->k1, key, klen));

	return *pp ? (*pp)->val : NULL;
}

void *hmap_put(hmap *m, const void *key, size_t klen, void *val)
{
	uint64_t h = siphash24(m->k0, m->k1, key, klen);
	hmap_entry **pp = find(m, key, klen, h), *e;
	void *old;

	if (*pp) {
		old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	e = xmalloc(sizeof(*e) + klen);
	e->next = NULL;
	e->hash = h;
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen);
	*pp = e;
	if (++m->count > m->nbuckets)
		grow(m);
	return NULL;
}

void *hmap_del(hmap *m, const void *key, size_t klen)
{
	hmap_entry **pp = find(m, key, klen, siphash24(m->k0, m->k1, key, klen)), *e = *pp;
	void *val;

	if (!e)
		return NULL;
	*pp = e->next;
	val = e->val;
	free(e);
	m->count--;
	return val;
}

size_t hmap_count(const hmap *m)
{
	return m->count;
}

void hmap_foreach(const hmap *m, void (*fn)(void *ctx, const void *key, size_t klen, void *val),
		  void *ctx)
{
	size_t i;

	for (i = 0; i < m->nbuckets; i++) {
		hmap_entry *e;
		for (e = m->buckets[i]; e; e = e->next)
			fn(ctx, e->key, e->klen, e->val);
	}
}
