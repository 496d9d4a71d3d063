/*
 * httphead: a strict check of an HTTP/1.x request head (the request line
 * and the header fields, up to the empty line), before libmicrohttpd sees
 * it. It refuses what a proxy in front of hotconf could read differently
 * (request smuggling: two Content-Length values, Content-Length with
 * Transfer-Encoding, folded or space-padded field names), what HTTP/1.1
 * forbids (no Host), and what does not fit the server's limits, each with
 * the status to answer and a sentence for the user. Pure; any thread.
 */
#ifndef HC_HTTPHEAD_H
#define HC_HTTPHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "hc_err.h"
#include "sbuf.h"

typedef struct head_limits {
	size_t max_head;   /* bytes, request line and fields together */
	size_t max_target; /* bytes of the request target */
	uint64_t max_body; /* the largest body any route accepts */
} head_limits;

/* Where the head ends: the offset just past its empty line, or 0 when
 * data[0..n) does not hold a whole head yet. */
size_t head_end(const char *data, size_t n);

/*
 * Checks a whole head (data[0..n), as found by head_end). HC_OK when it is
 * acceptable, else the error to answer (HC_ERR_INVALID, HC_ERR_URI_TOO_LONG,
 * HC_ERR_HEADERS_TOO_BIG, HC_ERR_TOO_BIG for a Content-Length over
 * max_body, HC_ERR_HTTP_VERSION) with the reason in why.
 */
hc_err head_check(const char *data, size_t n, const head_limits *lim, sbuf *why);

/*
 * 1 when the head (whole, checked) asks for a long poll: POST /api/v1/watch,
 * or a GET under /api/v1/configs/ with a wait parameter. Such connections
 * spend their life parked, so they are served with less memory each.
 */
int head_is_watch(const char *data, size_t n);

#endif
