/*
 * xmalloc: allocation that never returns NULL. Out of memory aborts, as in
 * redis and git: a malloc-failure path in every handler would never be tested.
 * Thread-safe.
 */
#ifndef HC_XMALLOC_H
#define HC_XMALLOC_H

#include <stddef.h>

/* Each returns memory the caller owns and frees with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes and adds a NUL after them. */
char *xmemdupz(const void *p, size_t n);

#endif
