/*
 * hc_err.c: stable names for error codes. No state; any thread.
 */
#include "hc_err.h"

const char *hc_err_code(hc_err err)
{
	switch (err) {
	case HC_OK:
		return "ok";
	case HC_ERR_INVALID:
		return "invalid_argument";
	case HC_ERR_UNAUTHORIZED:
		return "unauthenticated";
	case HC_ERR_FORBIDDEN:
		return "forbidden";
	case HC_ERR_NOT_FOUND:
		return "not_found";
	case HC_ERR_METHOD:
		return "method_not_allowed";
	case HC_ERR_CONFLICT:
		return "conflict";
	case HC_ERR_PRECONDITION:
		return "precondition_failed";
	case HC_ERR_TOO_BIG:
		return "too_large";
	case HC_ERR_URI_TOO_LONG:
		return "uri_too_long";
	case HC_ERR_HEADERS_TOO_BIG:
		return "headers_too_large";
	case HC_ERR_TIMEOUT:
		return "request_timeout";
	case HC_ERR_RATE_LIMIT:
		return "too_many_requests";
	case HC_ERR_HTTP_VERSION:
		return "http_version_not_supported";
	case HC_ERR_UNAVAILABLE:
		return "unavailable";
	case HC_ERR_READ_ONLY:
		return "read_only";
	case HC_ERR_NO_SPACE:
		return "insufficient_storage";
	case HC_ERR_SCHEMA:
		return "schema_too_new";
	case HC_ERR_IO:
		return "io_error";
	case HC_ERR_INTERNAL:
		return "internal";
	case HC_ERR_UNPROCESSABLE:
		return "unprocessable";
	}
	return "internal";
}
