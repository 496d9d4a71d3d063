/*
 * hmap: a hash map from byte-string keys to borrowed void * values.
 *
 * Keys are copied into the map; values are not owned: the map never frees
 * them, so hmap_free() on a non-empty map leaks whatever the caller did not
 * take out first (use hmap_foreach to release them). Hashing is SipHash-2-4
 * with a per-map random key, so names chosen by clients cannot flood a chain.
 * Not thread-safe: the owner serialises access.
 */
#ifndef HC_HMAP_H
#define HC_HMAP_H

#include <stddef.h>

typedef struct hmap hmap;

/* Returns a new empty map the caller owns. */
hmap *hmap_new(void);
/* Frees the map and its key copies, not the values. NULL is a no-op. */
void hmap_free(hmap *m);
/* The value stored under key, or NULL. */
void *hmap_get(const hmap *m, const void *key, size_t klen);
/* Stores val (not NULL) under key and returns the value it replaced, or NULL. */
void *hmap_put(hmap *m, const void *key, size_t klen, void *val);
/* Removes key and returns its value, or NULL when absent. */
void *hmap_del(hmap *m, const void *key, size_t klen);
/* Number of keys. */
size_t hmap_count(const hmap *m);
/* Calls fn for every entry, in no particular order. fn must not change m. */
void hmap_foreach(const hmap *m, void (*fn)(void *ctx, const void *key, size_t klen, void *val),
		  void *ctx);

#endif
