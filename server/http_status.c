/*
 * http_status.c: hc_err -> HTTP status, in one switch with no default label so
 * that -Wswitch (fatal under -Werror) fails the build until a new code has a
 * status. Pure; any thread.
 */
#include "http_status.h"

#include <microhttpd.h>

unsigned srv_http_status(hc_err err)
{
	switch (err) {
	case HC_OK:
		return MHD_HTTP_OK;
	case HC_ERR_INVALID:
		return MHD_HTTP_BAD_REQUEST;
	case HC_ERR_UNAUTHORIZED:
		return MHD_HTTP_UNAUTHORIZED;
	case HC_ERR_FORBIDDEN:
		return MHD_HTTP_FORBIDDEN;
	case HC_ERR_NOT_FOUND:
		return MHD_HTTP_NOT_FOUND;
	case HC_ERR_METHOD:
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	case HC_ERR_CONFLICT:
		return MHD_HTTP_CONFLICT;
	case HC_ERR_PRECONDITION:
		return MHD_HTTP_PRECONDITION_FAILED;
	case HC_ERR_TOO_BIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case HC_ERR_URI_TOO_LONG:
		return MHD_HTTP_URI_TOO_LONG;
	case HC_ERR_HEADERS_TOO_BIG:
		return MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE;
	case HC_ERR_TIMEOUT:
		return MHD_HTTP_REQUEST_TIMEOUT;
	case HC_ERR_RATE_LIMIT:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case HC_ERR_HTTP_VERSION:
		return MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED;
	case HC_ERR_UNAVAILABLE:
	case HC_ERR_READ_ONLY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case HC_ERR_NO_SPACE:
		return MHD_HTTP_INSUFFICIENT_STORAGE;
	case HC_ERR_UNPROCESSABLE:
		return MHD_HTTP_UNPROCESSABLE_CONTENT;
	case HC_ERR_SCHEMA:
	case HC_ERR_IO:
	case HC_ERR_INTERNAL:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}
