/*
 * fuzz_content.c: libFuzzer target for val_content() on json and yaml. Every
 * input is checked as both formats. Besides never crashing, leaking or
 * hanging (libFuzzer and the sanitizers watch that), each answer must keep
 * the promises of validate.h, checked here independently:
 * - an error is HC_ERR_INVALID with "invalid <format> at line L, column C: "
 *   and a position inside the input;
 * - json that passes is valid UTF-8 with no control characters but
 *   whitespace, and cJSON (a different parser) accepts it too.
 * Single-threaded, as libFuzzer runs it.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond, why)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s failed: %s (message \"%s\")\n", __FILE__,       \
				__LINE__, #cond, format, (why)->buf);                              \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Lines in the input, counted as both checkers count them: each '\n' starts
 * one, and libyaml also counts a lone '\r' (and some Unicode breaks; those
 * are at least 2 bytes, so size + 1 bounds every count). */
static size_t most_lines(const uint8_t *data, size_t size, int yaml)
{
	size_t i, n = 1;

	if (yaml)
		return size + 1;
	for (i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

/* The error message names a position inside the input. */
static void check_error(const char *format, const uint8_t *data, size_t size, sbuf *why)
{
	char prefix[32];
	unsigned long line = 0, col = 0;
	int used = 0;

	snprintf(prefix, sizeof(prefix), "invalid %s at line ", format);
	FUZZ_ASSERT(!strncmp(why->buf, prefix, strlen(prefix)), why);
	FUZZ_ASSERT(sscanf(why->buf + strlen(prefix), "%lu, column %lu: %n", &line, &col, &used) ==
			    2 &&
			used > 0,
		    why);
	FUZZ_ASSERT(line >= 1 && line <= most_lines(data, size, !strcmp(format, "yaml")), why);
	FUZZ_ASSERT(col >= 1 && col <= size + 1, why);
	FUZZ_ASSERT(why->buf[strlen(prefix) + (size_t)used] != '\0', why);
}

/* What a json document that passed must be. */
static void check_json_ok(const uint8_t *data, size_t size, sbuf *why)
{
	const char *format = "json";
	cJSON *doc;
	size_t i;

	FUZZ_ASSERT(utf8_valid((const char *)data, size), why);
	for (i = 0; i < size; i++)
		FUZZ_ASSERT(
		    data[i] >= 0x20 || data[i] == '\t' || data[i] == '\n' || data[i] == '\r', why);
	/* cJSON skips a byte-order mark too, but then misreads a number that
	 * ends the input ("\xef\xbb\xbf3"); give it the document without one. */
	if (size >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) {
		data += 3;
		size -= 3;
	}
	doc = cJSON_ParseWithLength((const char *)data, size);
	FUZZ_ASSERT(doc != NULL, why);
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = {"json", "yaml"};
	size_t i;

	for (i = 0; i < 2; i++) {
		const char *format = formats[i];
		sbuf why = SBUF_INIT(4096);
		hc_err err = val_content(format, (const char *)data, size, &why);

		if (err == HC_OK) {
			FUZZ_ASSERT(why.len == 0, &why);
			if (i == 0)
				check_json_ok(data, size, &why);
		} else {
			FUZZ_ASSERT(err == HC_ERR_INVALID, &why);
			check_error(format, data, size, &why);
		}
		sbuf_release(&why);
	}
	return 0;
}
