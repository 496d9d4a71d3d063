/*
 * fuzz_watch_body.c: libFuzzer target for the bodies watchbody.h parses: the
 * many-config watch and the apply reports. Any input is parsed as both; on
 * success every item must be a valid config key whose parts are valid names
 * (or, for a watch, a pattern's scope: a valid namespace, a valid or empty
 * group, no dataId, and its known configs sorted, named and bounded) and
 * whose md5 is at most 32 bytes (a report's, or a watch item's with a
 * status: exactly 32 hex digits), a status one of the known ones, and the
 * count within its bounds; on failure there is a message and nothing else.
 * Nothing may leak (ASan). Single-threaded, as libFuzzer runs it.
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

static void key_ok(const cfgkey *k)
{
	FUZZ_ASSERT(k->s && strlen(k->s) == k->len);
	FUZZ_ASSERT(cfgkey_name_ok(cfgkey_ns(k), cfgkey_ns_len(k)));
	FUZZ_ASSERT(cfgkey_name_ok(cfgkey_group(k), cfgkey_group_len(k)));
	FUZZ_ASSERT(cfgkey_name_ok(cfgkey_data_id(k), cfgkey_data_id_len(k)));
}

/* A pattern's scope ("ns/g/" or "ns//") and what its client says it holds. */
static void scope_ok(const srv_watch_item *it)
{
	const cfgkey *k = &it->key;
	size_t i;

	FUZZ_ASSERT(k->s && strlen(k->s) == k->len);
	FUZZ_ASSERT(cfgkey_name_ok(cfgkey_ns(k), cfgkey_ns_len(k)));
	FUZZ_ASSERT(cfgkey_group_len(k) == 0 ||
		    cfgkey_name_ok(cfgkey_group(k), cfgkey_group_len(k)));
	FUZZ_ASSERT(cfgkey_data_id_len(k) == 0);
	FUZZ_ASSERT(!*it->md5 && it->nknown <= WB_MAX_ITEMS && (it->known || !it->nknown));
	for (i = 0; i < it->nknown; i++) {
		FUZZ_ASSERT(it->known[i].name && *it->known[i].name);
		FUZZ_ASSERT(strlen(it->known[i].md5) <= 32);
		FUZZ_ASSERT(!i || strcmp(it->known[i - 1].name, it->known[i].name) < 0);
		FUZZ_ASSERT(!strcmp(wb_known_md5(it, it->known[i].name), it->known[i].md5));
	}
}

static void reports(const uint8_t *data, size_t size)
{
	sbuf why = SBUF_INIT(4096);
	wb_report *v = NULL;
	char *inst = NULL;
	size_t n = 0, i;
	hc_err err = wb_parse_reports((const char *)data, size, &inst, &v, &n, &why);

	if (err) {
		FUZZ_ASSERT(v == NULL && n == 0 && inst == NULL);
		FUZZ_ASSERT(why.len > 0);
	} else {
		FUZZ_ASSERT(n >= 1 && n <= WB_MAX_REPORTS);
		FUZZ_ASSERT(!inst || (*inst && strlen(inst) <= WB_INSTANCE_MAX));
		for (i = 0; i < n; i++) {
			key_ok(&v[i].key);
			FUZZ_ASSERT(strlen(v[i].md5) == 32 &&
				    strspn(v[i].md5, "0123456789abcdef") == 32);
			FUZZ_ASSERT(v[i].status == WB_STATUS_APPLIED ||
				    v[i].status == WB_STATUS_REJECTED);
			FUZZ_ASSERT(!v[i].message || strlen(v[i].message) <= WB_REPORT_MESSAGE_MAX);
		}
	}
	free(inst);
	wb_reports_free(v, n);
	sbuf_release(&why);
}

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
			if (cfgkey_is_scope(&items[i].key))
				scope_ok(&items[i]);
			else
				key_ok(&items[i].key);
			FUZZ_ASSERT(strlen(items[i].md5) <= 32);
			FUZZ_ASSERT(items[i].status >= WB_STATUS_NONE &&
				    items[i].status <= WB_STATUS_REJECTED);
			FUZZ_ASSERT(items[i].status || !items[i].message);
			FUZZ_ASSERT(!items[i].status || strlen(items[i].md5) == 32 ||
				    !*items[i].md5);
		}
	}
	wb_items_free(items, n);
	sbuf_release(&why);
	reports(data, size);
	return 0;
}
