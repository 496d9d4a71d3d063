/*
 * fuzz_watch_body.c: libFuzzer target for the many-config watch body parser
 * (watchbody.h). Any input is parsed; on success every item must be a valid
 * config key whose parts are valid names and whose md5 is at most 32 bytes,
 * and the count within 1..WB_MAX_ITEMS; on failure there is a message and no
 * items. Nothing may leak (ASan). Single-threaded, as libFuzzer runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watchbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sbuf why = SBUF_INIT(4096);
	srv_watch_item *items = NULL;
	size_t n = 0, i;
	hc_err err = wb_parse((const char *)data, size, &items, &n, &why);

	if (err) {
		FUZZ_ASSERT(items == NULL && n == 0);
		FUZZ_ASSERT(why.len > 0);
	} else {
		FUZZ_ASSERT(n >= 1 && n <= WB_MAX_ITEMS);
		for (i = 0; i < n; i++) {
			const cfgkey *k = &items[i].key;
			FUZZ_ASSERT(k->s && strlen(k->s) == k->len);
			FUZZ_ASSERT(cfgkey_name_ok(cfgkey_ns(k), cfgkey_ns_len(k)));
			FUZZ_ASSERT(cfgkey_name_ok(cfgkey_group(k), cfgkey_group_len(k)));
			FUZZ_ASSERT(cfgkey_name_ok(cfgkey_data_id(k), cfgkey_data_id_len(k)));
			FUZZ_ASSERT(strlen(items[i].md5) <= 32);
		}
	}
	wb_items_free(items, n);
	sbuf_release(&why);
	return 0;
}
