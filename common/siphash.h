/*
 * siphash: SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
 * PRF", 2012), a keyed 64-bit hash. hmap seeds it at random against hash
 * flooding; gray keys it with a rule's salt for percent buckets, where its
 * output is part of a stored contract (see gray.h), so it must never change.
 * A pure function.
 */
#ifndef HC_SIPHASH_H
#define HC_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of in[0..n) under the 128-bit key (k0, k1), k0 being the
 * key's first 8 bytes read little-endian, as the paper's test vectors do. */
uint64_t siphash24(uint64_t k0, uint64_t k1, const void *in, size_t n);

#endif
