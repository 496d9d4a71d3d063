/*
 * embedded: files compiled into the binary at build time by
 * cmake/embed.cmake (migrations/NNNN_*.sql and web/ assets). Static, read-only data;
 * any thread.
 */
#ifndef HC_EMBEDDED_H
#define HC_EMBEDDED_H

#include <stddef.h>

typedef struct hc_embedded {
	const char *name; /* path relative to the source root, e.g. "migrations/0001_x.sql" */
	const unsigned char *data; /* len bytes followed by a NUL */
	size_t len;
} hc_embedded;

#endif
