/*
 * base64.c: see base64.h.
 */
#include "base64.h"

hc_err base64_encode(sbuf *out, const void *data, size_t n)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i;
	hc_err err = sbuf_grow(out, (n + 2) / 3 * 4);

	if (err)
		return err;
	for (i = 0; i + 2 < n; i += 3) {
		char q[4] = {abc[p[i] >> 2], abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			     abc[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], abc[p[i + 2] & 63]};
		sbuf_add(out, q, 4);
	}
	if (i < n) {
		char q[4] = {abc[p[i] >> 2], '=', '=', '='};
		if (i + 1 < n) {
			q[1] = abc[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			q[2] = abc[(p[i + 1] & 15) << 2];
		} else {
			q[1] = abc[(p[i] & 3) << 4];
		}
		sbuf_add(out, q, 4);
	}
	return HC_OK;
}
