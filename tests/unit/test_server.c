/*
 * test_server.c: the server's pure parts: input validation and parsers, and
 * the error map (every hc_err has a status a user can act on).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "http_status.h"
#include "validate.h"

static void test_names(void)
{
	char long_name[130];

	CHECK(val_name_ok("app.yaml"));
	CHECK(val_name_ok("DEFAULT_GROUP"));
	CHECK(val_name_ok("a:b-c.d_e"));
	CHECK(!val_name_ok(""));
	CHECK(!val_name_ok("a b"));
	CHECK(!val_name_ok("a/b"));
	CHECK(!val_name_ok("caf\xc3\xa9"));
	memset(long_name, 'x', 128);
	long_name[128] = '\0';
	CHECK(val_name_ok(long_name));
	long_name[128] = 'x';
	long_name[129] = '\0';
	CHECK(!val_name_ok(long_name));
	/* "." and ".." would be path segments, not names; other dots are fine. */
	CHECK(!val_name_ok("."));
	CHECK(!val_name_ok(".."));
	CHECK(val_name_ok("..."));
	CHECK(val_name_ok(".a"));
	CHECK(val_name_ok("a.."));
	/* With a length, an embedded NUL is seen instead of ending the name. */
	CHECK(val_name_okn("victim", 6));
	CHECK(val_name_ok("victim\0.x"));
	CHECK(!val_name_okn("victim\0.x", 9));
	CHECK(!val_name_okn("a\0", 2));
	CHECK(!val_name_okn("a/b", 3));
	CHECK(!val_name_okn("", 0));
	CHECK(!val_name_okn("..", 2));
	CHECK(!val_name_okn(long_name, 129));
	CHECK(val_name_okn(long_name, 128));
}

static void test_name_message(void)
{
	sbuf why = SBUF_INIT(1024);

	CHECK_EQ_INT(val_name("dataId", "a b", &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "dataId 'a b' is invalid") != NULL);
	CHECK(strstr(why.buf, "' ' at position 2") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_namen("dataId", "victim\0.x", 9, &why), HC_ERR_INVALID);
	CHECK_EQ_STR(why.buf,
		     "dataId 'victim\\0.x' is invalid: it contains a NUL byte at position 7; "
		     "use 1-128 characters of A-Z a-z 0-9 . _ : - (not . or ..)");
	sbuf_reset(&why);
	CHECK_EQ_INT(val_namen("group", "..", 2, &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "group '..' is invalid: '.' and '..' are not names") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_name("namespace", "caf\xc3\xa9", &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf,
		     "'caf\\xc3\\xa9' is invalid: it contains the byte 0xc3 at position 4") !=
	      NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_namen("dataId", "a/b", 3, &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "'a/b' is invalid: it contains '/' at position 2") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_namen("dataId", "a", 1, &why), HC_OK);
	CHECK_EQ_STR(why.buf, "");
	sbuf_release(&why);
}

static void test_duration(void)
{
	sbuf why = SBUF_INIT(1024);
	uint64_t ms = 0;

	CHECK_EQ_INT(val_duration("250ms", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 250);
	CHECK_EQ_INT(val_duration("30s", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 30000);
	CHECK_EQ_INT(val_duration("2m", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 120000);
	CHECK_EQ_INT(val_duration("45", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 45000);
	CHECK_EQ_INT(val_duration("abc", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("-1s", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("10h", &ms, &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "wait") != NULL);
	CHECK_EQ_INT(val_duration("1.5s", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration(" 1s", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("1s ", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("+1s", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("ms", &ms, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_duration("1sm", &ms, &why), HC_ERR_INVALID);
	/* Too long saturates at 100 years instead of wrapping (it used to be an
	 * error; callers then cap it by --max-wait). */
	CHECK_EQ_INT(VAL_DURATION_MAX_MS, 3155760000000LL);
	ms = 0;
	CHECK_EQ_INT(val_duration("99999999999999999999s", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS);
	/* 307445734561826 * 60000 is 2^64 + 8384: the old parser answered 8384 ms. */
	ms = 0;
	CHECK_EQ_INT(val_duration("307445734561826m", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS);
	ms = 0;
	CHECK_EQ_INT(val_duration("184467440737095516m", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS);
	ms = 0;
	CHECK_EQ_INT(val_duration("18446744073709551616ms", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS);
	CHECK_EQ_INT(val_duration("3155760000000ms", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS);
	CHECK_EQ_INT(val_duration("3155759999999ms", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, VAL_DURATION_MAX_MS - 1);
	CHECK_EQ_INT(val_duration("0", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 0);
	sbuf_release(&why);
}

static void test_int(void)
{
	int64_t v = -1;

	CHECK_EQ_INT(val_int("0", &v), HC_OK);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(val_int("007", &v), HC_OK);
	CHECK_EQ_INT(v, 7);
	CHECK_EQ_INT(val_int("9223372036854775807", &v), HC_OK);
	CHECK(v == INT64_MAX);
	CHECK_EQ_INT(val_int("9223372036854775808", &v), HC_ERR_INVALID);
	CHECK_EQ_INT(val_int("18446744073709551617", &v), HC_ERR_INVALID);
	CHECK_EQ_INT(val_int("", &v), HC_ERR_INVALID);
	CHECK_EQ_INT(val_int("-1", &v), HC_ERR_INVALID);
	CHECK_EQ_INT(val_int("1 ", &v), HC_ERR_INVALID);
}

static void test_deadline(void)
{
	CHECK(val_deadline(1000, 250) == 1250);
	CHECK(val_deadline(0, 0) == 0);
	CHECK(val_deadline(UINT64_MAX - 5, 5) == UINT64_MAX);
	CHECK(val_deadline(UINT64_MAX - 5, 6) == UINT64_MAX);
	CHECK(val_deadline(123456, UINT64_MAX) == UINT64_MAX);
	CHECK(val_deadline(UINT64_MAX, UINT64_MAX) == UINT64_MAX);
}

static void test_labels(void)
{
	sbuf out = SBUF_INIT(4096), why = SBUF_INIT(1024);

	CHECK_EQ_INT(val_labels("app=web, zone=eu-1", &out, &why), HC_OK);
	CHECK_EQ_STR(out.buf, "app=web,zone=eu-1");
	CHECK_EQ_INT(val_labels("k8s.io/pod=x-1", &out, &why), HC_OK);
	CHECK_EQ_INT(val_labels("", &out, &why), HC_OK);
	CHECK_EQ_STR(out.buf, "");
	CHECK_EQ_INT(val_labels("novalue", &out, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_labels("=v", &out, &why), HC_ERR_INVALID);
	CHECK_EQ_INT(val_labels("a=b=c", &out, &why), HC_ERR_INVALID);
	CHECK_EQ_STR(out.buf, "");
	sbuf_release(&out);
	sbuf_release(&why);
}

static void test_cidr(void)
{
	val_cidr c;

	CHECK_EQ_INT(val_cidr_parse("10.0.0.0/8", &c), HC_OK);
	CHECK(val_cidr_match(&c, "10.1.2.3"));
	CHECK(!val_cidr_match(&c, "11.0.0.1"));
	CHECK(!val_cidr_match(&c, "::1"));
	CHECK_EQ_INT(val_cidr_parse("127.0.0.1", &c), HC_OK);
	CHECK(val_cidr_match(&c, "127.0.0.1"));
	CHECK(!val_cidr_match(&c, "127.0.0.2"));
	CHECK_EQ_INT(val_cidr_parse("192.168.1.0/23", &c), HC_OK);
	CHECK(val_cidr_match(&c, "192.168.0.9"));
	CHECK(!val_cidr_match(&c, "192.168.2.1"));
	CHECK_EQ_INT(val_cidr_parse("fd00::/8", &c), HC_OK);
	CHECK(val_cidr_match(&c, "fd12::1"));
	CHECK_EQ_INT(val_cidr_parse("10.0.0.0/33", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(val_cidr_parse("nope/8", &c), HC_ERR_INVALID);
}

static void test_etags(void)
{
	char md5[33];

	CHECK(val_etag_match("\"abc\"", "abc", 0));
	CHECK(val_etag_match("W/\"abc\"", "abc", 0));
	CHECK(val_etag_match("abc", "abc", 0));
	CHECK(val_etag_match("\"x\", \"abc\"", "abc", 0));
	CHECK(!val_etag_match("\"abcd\"", "abc", 0));
	CHECK(val_etag_match("*", "abc", 1));
	CHECK(!val_etag_match("*", "abc", 0));
	CHECK(!val_etag_match("\"\"", "", 0)); /* an empty tag names nothing */
	CHECK(val_etag_first("\"d41d8cd98f00b204e9800998ecf8427e\", \"x\"", md5));
	CHECK_EQ_STR(md5, "d41d8cd98f00b204e9800998ecf8427e");
	CHECK(!val_etag_first("  ", md5));
}

static void test_formats(void)
{
	CHECK(val_format_ok("yaml"));
	CHECK(val_format_ok("properties"));
	CHECK(!val_format_ok("toml"));
	CHECK_EQ_STR(val_format_mime("json"), "application/json");
	CHECK_EQ_STR(val_format_mime("text"), "text/plain; charset=utf-8");
}

static void test_content_json(void)
{
	sbuf why = SBUF_INIT(1024);
	const char *bad = "{\n  \"a\": 1,\n  \"b\": tru\n}";
	const char *trailing = "{\"a\":1}\n  x";

	CHECK_EQ_INT(val_content("json", "{\"a\": [1, 2]}\n", 14, &why), HC_OK);
	CHECK_EQ_INT(val_content("json", bad, strlen(bad), &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "line 3") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_content("json", trailing, strlen(trailing), &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "line 2, column 3") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_content("json", "", 0, &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "line 1") != NULL);
	sbuf_release(&why);
}

/* val_content(format, s) answers HC_ERR_INVALID with exactly want. */
static int content_error_is(const char *format, const char *s, size_t n, const char *want)
{
	sbuf why = SBUF_INIT(1024);
	hc_err err = val_content(format, s, n, &why);
	int ok = err == HC_ERR_INVALID && !strcmp(why.buf, want);

	if (!ok)
		fprintf(stderr, "%s %.60s...: got %d \"%s\", want \"%s\"\n", format, s, err,
			why.buf, want);
	sbuf_release(&why);
	return ok;
}

/* RFC 8259 as a user would trip over it, and where each error is reported. */
static void test_content_json_strict(void)
{
	static const struct {
		const char *doc, *want;
	} bad[] = {
	    {"[1,]", "line 1, column 4: expected a value, found ']'"},
	    {"{\"a\":1,}", "line 1, column 8: expected a string key, found '}'"},
	    {"{'a': 1}", "line 1, column 2: expected a string key or '}', found '''"},
	    {"[01]", "line 1, column 2: invalid number: no leading zeros"},
	    {"[1.]", "line 1, column 4: expected a digit after '.', found ']'"},
	    {"[-]", "line 1, column 3: expected a digit, found ']'"},
	    {"[1e]", "line 1, column 4: expected a digit in the exponent, found ']'"},
	    {"[NaN]", "line 1, column 2: expected a value, found 'N'"},
	    {"{\"a\": tru}", "line 1, column 7: invalid literal: expected true"},
	    {"\"abc", "line 1, column 1: unterminated string"},
	    {"\"a\\x\"",
	     "line 1, column 4: expected an escape (\" \\ / b f n r t or u), found 'x'"},
	    {"\"\\u12g4\"", "line 1, column 2: invalid \\u escape: use \\u and 4 hex digits"},
	    {"\"\\ud800\"", "line 1, column 2: invalid \\u escape: \\uD800 is a lone surrogate"},
	    {"\"\\udc00\\ud800\"",
	     "line 1, column 2: invalid \\u escape: \\uDC00 is a lone surrogate"},
	    {"[\"\ta\"]", "line 1, column 3: control character U+0009 in a string"},
	    {"{\"k\":\n \"caf\xc3\xa9\xff\"}", "line 2, column 7: invalid UTF-8"},
	    {"\"\xe2\x82\"", "line 1, column 2: invalid UTF-8"},
	    {"\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8"},
	    {"\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8"},
	    {"[\"\xc3\xa9\", \xc3\xa9]", "line 1, column 7: expected a value, found U+00E9"},
	    {"{} \xff", "line 1, column 4: invalid UTF-8"},
	    {"[1] x", "line 1, column 5: unexpected content after the value"},
	    {"\xef\xbb\xbf[", "line 1, column 2: expected a value, found the end of the input"},
	};
	static const char *const good[] = {
	    "0",
	    "-0.5e-3",
	    "1E+2",
	    "\"\"",
	    "[]",
	    "{}",
	    " [ 1 , { \"a\" : [ null , true , false ] } ] \r\n",
	    "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"",
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\"",
	    "\xef\xbb\xbf{\"bom\": 1}",
	    "123456789012345678901234567890123456789012345678901234567890123456789.5",
	};
	sbuf why = SBUF_INIT(1024), want = SBUF_INIT(1024);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sbuf_reset(&want);
		sbuf_addf(&want, "invalid json at %s", bad[i].want);
		CHECK(content_error_is("json", bad[i].doc, strlen(bad[i].doc), want.buf));
	}
	/* A NUL in a string, and outside one. */
	CHECK(content_error_is("json", "{\"a\": \"x\0\"}", 11,
			       "invalid json at line 1, column 9: control character U+0000 in a "
			       "string"));
	CHECK(content_error_is("json", "[1,\0]", 5,
			       "invalid json at line 1, column 4: expected a value, found U+0000"));
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		sbuf_reset(&why);
		CHECK_EQ_INT(val_content("json", good[i], strlen(good[i]), &why), HC_OK);
		CHECK_EQ_STR(why.buf, "");
	}
	sbuf_release(&why);
	sbuf_release(&want);
}

/* n copies of unit into out (reset first). */
static void repeat(sbuf *out, const char *unit, size_t n)
{
	while (n--)
		sbuf_addstr(out, unit);
}

static void test_content_depth(void)
{
	sbuf doc = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(1024);

	repeat(&doc, "[", VAL_MAX_DEPTH);
	repeat(&doc, "]", VAL_MAX_DEPTH);
	CHECK_EQ_INT(val_content("json", doc.buf, doc.len, &why), HC_OK);
	CHECK_EQ_INT(val_content("yaml", doc.buf, doc.len, &why), HC_OK);
	sbuf_reset(&doc);
	repeat(&doc, "[", VAL_MAX_DEPTH + 1);
	repeat(&doc, "]", VAL_MAX_DEPTH + 1);
	CHECK(
	    content_error_is("json", doc.buf, doc.len,
			     "invalid json at line 1, column 513: nesting deeper than 512 levels"));
	CHECK(
	    content_error_is("yaml", doc.buf, doc.len,
			     "invalid yaml at line 1, column 513: nesting deeper than 512 levels"));
	/* 1 MiB of '[' (libyaml alone would take hours) stops at the 513th. */
	sbuf_reset(&doc);
	repeat(&doc, "[", 1 << 20);
	CHECK(
	    content_error_is("json", doc.buf, doc.len,
			     "invalid json at line 1, column 513: nesting deeper than 512 levels"));
	CHECK(
	    content_error_is("yaml", doc.buf, doc.len,
			     "invalid yaml at line 1, column 513: nesting deeper than 512 levels"));
	sbuf_reset(&doc);
	repeat(&doc, "{a: ", 1 << 18);
	CHECK(content_error_is(
	    "yaml", doc.buf, doc.len,
	    "invalid yaml at line 1, column 2049: nesting deeper than 512 levels"));
	sbuf_release(&doc);
	sbuf_release(&why);
}

static void test_content_yaml(void)
{
	sbuf why = SBUF_INIT(1024);
	const char *good = "a: 1\nb:\n  - x\n  - y\n";
	const char *bad = "a: 1\nb: [1, 2\nc: 3\n";
	const char *tabs = "a:\n\tb: 1\n";

	CHECK_EQ_INT(val_content("yaml", good, strlen(good), &why), HC_OK);
	CHECK_EQ_INT(val_content("yaml", bad, strlen(bad), &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "invalid yaml at line") != NULL);
	CHECK(strstr(why.buf, "line 3") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(val_content("yaml", tabs, strlen(tabs), &why), HC_ERR_INVALID);
	CHECK(strstr(why.buf, "line 2") != NULL);
	/* Other formats are not parsed. */
	CHECK_EQ_INT(val_content("text", "{{{", 3, &why), HC_OK);
	CHECK_EQ_INT(val_content("properties", "a=", 2, &why), HC_OK);
	sbuf_release(&why);
}

static void test_status_map(void)
{
	CHECK_EQ_INT(srv_http_status(HC_OK), 200);
	CHECK_EQ_INT(srv_http_status(HC_ERR_INVALID), 400);
	CHECK_EQ_INT(srv_http_status(HC_ERR_FORBIDDEN), 403);
	CHECK_EQ_INT(srv_http_status(HC_ERR_NOT_FOUND), 404);
	CHECK_EQ_INT(srv_http_status(HC_ERR_METHOD), 405);
	CHECK_EQ_INT(srv_http_status(HC_ERR_CONFLICT), 409);
	CHECK_EQ_INT(srv_http_status(HC_ERR_PRECONDITION), 412);
	CHECK_EQ_INT(srv_http_status(HC_ERR_TOO_BIG), 413);
	CHECK_EQ_INT(srv_http_status(HC_ERR_UNAVAILABLE), 503);
	CHECK_EQ_INT(srv_http_status(HC_ERR_IO), 500);
	CHECK_EQ_STR(hc_err_code(HC_ERR_PRECONDITION), "precondition_failed");
	CHECK_EQ_STR(hc_err_code(HC_ERR_NOT_FOUND), "not_found");
}

int main(void)
{
	RUN(test_names);
	RUN(test_name_message);
	RUN(test_duration);
	RUN(test_int);
	RUN(test_deadline);
	RUN(test_labels);
	RUN(test_cidr);
	RUN(test_etags);
	RUN(test_formats);
	RUN(test_content_json);
	RUN(test_content_json_strict);
	RUN(test_content_yaml);
	RUN(test_content_depth);
	RUN(test_status_map);
	return hc_test_report();
}
