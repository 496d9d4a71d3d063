/*
 * hc_err: the one error type every hotconf module returns.
 *
 * Functions return an hc_err (HC_OK is 0) and hand results back through
 * out-parameters. server/http_status.c maps each value to an HTTP status in a
 * switch with no default label, so adding a value here fails the build until
 * it has a status. hc_err_code() gives the stable machine-readable string used
 * in JSON error bodies. Thread-safe: pure functions over constants.
 */
#ifndef HC_ERR_H
#define HC_ERR_H

typedef enum hc_err {
	HC_OK = 0,
	HC_ERR_INVALID,		/* malformed input: bad name, bad JSON, bad flag */
	HC_ERR_UNAUTHORIZED,	/* no credential, or a wrong, expired or revoked one */
	HC_ERR_FORBIDDEN,	/* not allowed: never on this object, or not for this caller */
	HC_ERR_NOT_FOUND,	/* no such config, namespace, version or route */
	HC_ERR_METHOD,		/* the route exists but not for this method */
	HC_ERR_CONFLICT,	/* state forbids it: namespace not empty, rollback to a delete */
	HC_ERR_PRECONDITION,	/* If-Match / If-None-Match did not hold */
	HC_ERR_UNPROCESSABLE,	/* valid, but cannot be converted without loss or guessing */
	HC_ERR_TOO_BIG,		/* over a size cap (sbuf max, --max-content) */
	HC_ERR_URI_TOO_LONG,	/* the request target is over its cap */
	HC_ERR_HEADERS_TOO_BIG, /* the request head is over its cap */
	HC_ERR_TIMEOUT,		/* the request head did not arrive within the read deadline */
	HC_ERR_RATE_LIMIT,	/* a per-client limit is reached: try later */
	HC_ERR_HTTP_VERSION,	/* not HTTP/1.0 or HTTP/1.1 */
	HC_ERR_UNAVAILABLE,	/* shutting down, or the store cannot answer */
	HC_ERR_READ_ONLY,	/* the database cannot be written (read-only file or disk) */
	HC_ERR_NO_SPACE,	/* the disk is full */
	HC_ERR_SCHEMA,		/* the database is newer than this binary */
	HC_ERR_IO,		/* the disk or SQLite failed */
	HC_ERR_INTERNAL,	/* a bug: an invariant did not hold */
} hc_err;

/* The stable snake_case name of err ("not_found"), a static string. */
const char *hc_err_code(hc_err err);

#endif
