/*
 * mhd_errors.c: the answers libmicrohttpd composes itself, in JSON.
 *
 * libmicrohttpd 0.9.75 answers a few malformed requests on its own (a bad
 * chunk in a chunked body, a head that outgrows the connection's memory on
 * a kept-alive connection, which the door cannot see), with a built-in HTML
 * page and no hook to change it. It builds that page with
 * MHD_create_response_from_buffer through its PLT, so this definition,
 * in the executable, is the one it calls (ELF symbol interposition, as
 * malloc wrappers work): every body is passed on to the library's own
 * function, except libmicrohttpd's error pages, which are swapped for the
 * JSON error body every hotconf error has. The e2e tests send each such
 * request and check the JSON, so a libmicrohttpd built differently
 * (-Bsymbolic, no messages) would fail them rather than pass silently.
 *
 * Threading: any thread; the table is static and the real function is
 * looked up once.
 */
#include <dlfcn.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

#include "srv_internal.h"

typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);

static create_fn real_create;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
	/* POSIX leaves converting void * to a function pointer to the
	 * implementation; glibc defines it. */
	*(void **)&real_create = dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");
}

/* libmicrohttpd's page titles, and what each means in our words. */
static const struct {
	const char *title;
	hc_err err;
	const char *message;
} pages[] = {
    {"Request too big", HC_ERR_HEADERS_TOO_BIG,
     "the request head does not fit the connection's memory (--conn-memory)"},
    {"Request malformed", HC_ERR_INVALID,
     "the request is malformed (its request line, a header or the chunked body)"},
    {"Requested HTTP version is not supported", HC_ERR_HTTP_VERSION,
     "only HTTP/1.0 and HTTP/1.1 are supported"},
    {"&quot;Host:&quot; header required", HC_ERR_INVALID,
     "an HTTP/1.1 request needs a Host header"},
    {"Request content too large", HC_ERR_TOO_BIG,
     "the request body or one of its chunks is too large"},
    {"Internal server error", HC_ERR_INTERNAL, "the HTTP layer failed; see the server log"},
};

#define PAGE_PREFIX "<html><head><title>"

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	const char *b = buffer;
	size_t i, pl = strlen(PAGE_PREFIX);

	pthread_once(&real_once, find_real);
	if (!real_create)
		return NULL;
	if (b && size > pl && !memcmp(b, PAGE_PREFIX, pl)) {
		for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
			size_t tl = strlen(pages[i].title);
			struct MHD_Response *resp;
			sbuf body = SBUF_INIT(SBUF_NOMAX);
			if (size < pl + tl || memcmp(b + pl, pages[i].title, tl))
				continue;
			srv_error_body(&body, pages[i].err, pages[i].message);
			resp = real_create(body.len, body.buf, MHD_RESPMEM_MUST_COPY);
			sbuf_release(&body);
			if (resp)
				MHD_add_response_header(resp, "Content-Type", "application/json");
			return resp;
		}
	}
	return real_create(size, buffer, mode);
}
