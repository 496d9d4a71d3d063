/*
 * http_status: the one place where hc_err becomes an HTTP status. Pure; any
 * thread.
 */
#ifndef HC_HTTP_STATUS_H
#define HC_HTTP_STATUS_H

#include "hc_err.h"

/* The HTTP status for err (200 for HC_OK). */
unsigned srv_http_status(hc_err err);

#endif
