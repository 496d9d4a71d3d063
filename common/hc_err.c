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
	case HC_ERR_UNAVAILABLE:
		return "unavailable";
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
