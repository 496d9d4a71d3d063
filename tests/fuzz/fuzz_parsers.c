/*
 * fuzz_parsers.c: libFuzzer target for the small parsers of validate.h and
 * cidr.h: names, durations, integers, label lists, CIDR ranges and ETag lists. Each
 * input goes to every parser, as raw bytes with its length (val_namen) and as
 * a NUL-terminated copy of exactly size + 1 bytes, so a read past the end is
 * an ASan error. Each answer is checked against a plain description of what
 * the parser accepts, written here without the parser's own code.
 * Single-threaded, as libFuzzer runs it.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const char name_set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";

static void fuzz_names(const char *raw, size_t size, const char *s)
{
	sbuf why = SBUF_INIT(4096);
	size_t n = strlen(s);
	int want = size >= 1 && size <= 128 && memchr(raw, '\0', size) == NULL &&
		   strspn(s, name_set) == size && strcmp(s, ".") && strcmp(s, "..");
	hc_err err = val_namen("dataId", raw, size, &why);

	FUZZ_ASSERT(val_name_okn(raw, size) == want);
	FUZZ_ASSERT((err == HC_OK) == want);
	FUZZ_ASSERT(want ? why.len == 0 : !strncmp(why.buf, "dataId '", 8));
	/* The message quotes at most 140 bytes, 4 characters each. */
	FUZZ_ASSERT(why.len < 8 + 4 * 140 + 200);
	/* The NUL-terminated form checks the bytes up to the first NUL. */
	FUZZ_ASSERT(val_name_ok(s) == val_name_okn(s, n));
	sbuf_release(&why);
}

/* s without leading zeros ("0" for zero). */
static const char *strip_zeros(const char *s)
{
	while (s[0] == '0' && s[1])
		s++;
	return s;
}

/* -1, 0 or 1 as the decimal numbers a and b (no leading zeros) compare. */
static int dec_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int c = strcmp(a, b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return c < 0 ? -1 : c > 0;
}

static void fuzz_numbers(const char *s)
{
	sbuf why = SBUF_INIT(4096);
	size_t digits = strspn(s, "0123456789");
	const char *unit = s + digits;
	int dur_form = digits > 0 && (!*unit || !strcmp(unit, "ms") || !strcmp(unit, "s") ||
				      !strcmp(unit, "m") || !strcmp(unit, "h"));
	uint64_t ms = 0;
	int64_t v = -1;
	char got[32];

	if (val_duration(s, &ms, &why) == HC_OK) {
		FUZZ_ASSERT(dur_form);
		FUZZ_ASSERT(ms <= VAL_DURATION_MAX_MS);
		FUZZ_ASSERT(why.len == 0);
	} else {
		FUZZ_ASSERT(!dur_form);
		FUZZ_ASSERT(!strncmp(why.buf, "wait '", 6));
	}
	if (val_int(s, &v) == HC_OK) {
		FUZZ_ASSERT(digits > 0 && !*unit);
		FUZZ_ASSERT(dec_cmp(strip_zeros(s), "9223372036854775807") <= 0);
		snprintf(got, sizeof(got), "%" PRId64, v);
		FUZZ_ASSERT(!strcmp(got, strip_zeros(s)));
	} else {
		FUZZ_ASSERT(digits == 0 || *unit ||
			    dec_cmp(strip_zeros(s), "9223372036854775807") > 0);
	}
	sbuf_release(&why);
}

static void fuzz_labels(const char *s)
{
	sbuf out = SBUF_INIT(8192), again = SBUF_INIT(8192), why = SBUF_INIT(4096);

	if (val_labels(s, &out, &why) == HC_OK) {
		/* The normal form is a fixed point. */
		FUZZ_ASSERT(val_labels(out.buf, &again, &why) == HC_OK);
		FUZZ_ASSERT(!strcmp(out.buf, again.buf));
	} else {
		FUZZ_ASSERT(out.len == 0);
	}
	sbuf_release(&out);
	sbuf_release(&again);
	sbuf_release(&why);
}

static void fuzz_cidr(const char *s)
{
	char text[INET6_ADDRSTRLEN];
	cidr c;

	if (cidr_parse(s, &c) != HC_OK)
		return;
	FUZZ_ASSERT(c.family == AF_INET || c.family == AF_INET6);
	FUZZ_ASSERT(c.bits <= (c.family == AF_INET ? 32u : 128u));
	/* The address a range is written with lies in it. */
	FUZZ_ASSERT(inet_ntop(c.family, c.addr, text, sizeof(text)) != NULL);
	FUZZ_ASSERT(cidr_match(&c, text));
	cidr_match(&c, s);
}

static void fuzz_etags(const char *s)
{
	char first[33];
	const char *p = s + strspn(s, " ");

	val_etag_match(s, "d41d8cd98f00b204e9800998ecf8427e", 0);
	val_etag_match(s, "", 1);
	if (!val_etag_first(s, first)) {
		FUZZ_ASSERT(first[0] == '\0');
		return;
	}
	FUZZ_ASSERT(strlen(first) >= 1 && strlen(first) <= 32);
	/* A tag short enough to be copied whole is found in the list again. */
	if (*p != '*' && strlen(first) < 32)
		FUZZ_ASSERT(val_etag_match(s, first, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = malloc(size ? size : 1), *s = malloc(size + 1);

	if (!raw || !s)
		abort();
	memcpy(raw, data, size);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_names(raw, size, s);
	fuzz_numbers(s);
	fuzz_labels(s);
	fuzz_cidr(s);
	fuzz_etags(s);
	free(raw);
	free(s);
	return 0;
}
