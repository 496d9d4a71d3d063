/*
 * respcache: one shared 200 response per config version, and one per gray
 * rule of that version. libmicrohttpd responses are reference-counted and
 * may be queued on many connections, so every reader and every watcher woken
 * by one publish (or one rule change) is answered with the same response
 * object: its headers are built once and the content is the store's
 * snapshot itself, never copied. A rule's response carries nothing of the
 * instance it was built for (see respcache_config_headers), so sharing it
 * among the instances that rule serves gives none another's answer. Any thread: an internal mutex
 * guards the table, held across the queueing so an entry cannot be replaced between lookup and use.
 */
#ifndef HC_RESPCACHE_H
#define HC_RESPCACHE_H

#include <microhttpd.h>

#include "store.h"

typedef struct respcache respcache;

/* Returns an empty cache the caller owns; free with respcache_free (NULL ok). */
respcache *respcache_new(void);
void respcache_free(respcache *rc);

/* The 200 response for snapshot c of config key, of the effective content
 * e (store_gray_effective of c: main, or one of c's rules), queued on conn.
 * Builds and keeps it on first use; a snapshot older than the one kept gets
 * a response of its own that is not kept. c stays the caller's. Returns what
 * MHD_queue_response returned. */
enum MHD_Result respcache_queue(respcache *rc, const cfgkey *key, store_config *c,
				const store_effective *e, struct MHD_Connection *conn);
/* A subscriber of the store's change feed (ctx is the cache): forgets the
 * response of a config whose content changed or that was deleted, so the old
 * snapshot is released once its last answer is sent. */
void respcache_on_change(void *ctx, const store_change *ch);
/* Adds the headers every config response carries (ETag, X-Hotconf-*,
 * Last-Modified, Cache-Control) to resp: of c's main content, or when e
 * names a gray rule, of the rule's (its time and X-Hotconf-Gray). The ETag
 * and X-Hotconf-Format are e's md5 and format (a converted answer's, see
 * ?as=); e may be NULL, for c's main content. */
void respcache_config_headers(struct MHD_Response *resp, const store_config *c,
			      const store_effective *e);

#endif
