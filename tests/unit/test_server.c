/*
 * test_server.c: the server's pure parts: input validation and parsers, and
 * the error map (every hc_err has a status a user can act on). The *_property
 * tests run the validators over generated inputs (deep nesting, huge numbers,
 * NULs and bad UTF-8 at random places) and check each answer against what the
 * generator knows it made.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gray.h"
#include "harness.h"
#include "http_status.h"
#include "httphead.h"
#include "nacos.h"
#include "srv_internal.h"
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
	CHECK_EQ_INT(val_duration("2h", &ms, &why), HC_OK);
	CHECK_EQ_INT(ms, 7200000);
	CHECK_EQ_INT(val_duration("10d", &ms, &why), HC_ERR_INVALID);
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

/* gray/ parses instance labels by val_labels' grammar, on its own: both
 * must accept and refuse the same lists, and keep the same pairs. */
static void test_labels_gray_agrees(void)
{
	static const char *const v[] = {
	    "",
	    "a=1",
	    "app=web, zone=eu-1",
	    " a=1 ,b= 2 ",
	    "a=",
	    "a=b,",
	    "a=b, ",
	    " ",
	    "novalue",
	    "=v",
	    "a=b=c",
	    "a=1,,b=2",
	    "k8s.io/pod=x-1",
	    "a b=1",
	    "a=x y",
	    "a=\xc3\xa9",
	    "a=1,a=2",
	    "a:b=1",
	    "a=1;b=2",
	};
	sbuf out = SBUF_INIT(4096), why = SBUF_INIT(1024);
	gray_inst *i;
	gray_rule *r;
	size_t k;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		hc_err a = val_labels(v[k], &out, &why), b = gray_inst_new("x", "", v[k], &i, &why);
		CHECK_EQ_INT(a, b);
		if (!a && !b && out.len) {
			/* The normal form's first pair is a label gray/ sees. */
			size_t eq = strcspn(out.buf, "=");
			char sel[256];
			snprintf(sel, sizeof(sel), "%.*s", (int)eq, out.buf);
			REQUIRE(gray_rule_compile(NULL, 0, 0, sel, NULL, "", &r, &why) == HC_OK);
			CHECK(gray_rule_matches(r, i));
			gray_rule_free(r);
		}
		gray_inst_free(i);
	}
	sbuf_release(&out);
	sbuf_release(&why);
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

/*
 * Property tests. rnd() is xorshift64 from a fixed seed per test, so every
 * run generates the same inputs and a failure reproduces; each failure prints
 * the iteration and what was generated.
 */
static uint64_t rng = 1;

static void rnd_seed(uint64_t seed)
{
	rng = seed ? seed : 1;
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Uniform enough in [lo, hi]. */
static size_t rnd_in(size_t lo, size_t hi)
{
	return lo + (size_t)(rnd() % (hi - lo + 1));
}

/* A nesting depth on either side of the limit, often right at it. */
static size_t rnd_depth(size_t most)
{
	switch (rnd() % 3) {
	case 0:
		return rnd_in(VAL_MAX_DEPTH - 3, VAL_MAX_DEPTH + 3);
	case 1:
		return rnd_in(1, VAL_MAX_DEPTH);
	default:
		return rnd_in(VAL_MAX_DEPTH + 1, most);
	}
}

/* A generated document, and the line and column (from 1, in characters) of
 * the next character appended: the test's own count, not the validator's. */
typedef struct gen {
	sbuf b;
	unsigned long line, col;
	unsigned long deep_line, deep_col; /* where level VAL_MAX_DEPTH + 1 opens */
	size_t level;			   /* collections opened so far */
} gen;

static void gen_init(gen *g)
{
	sbuf_init(&g->b, SBUF_NOMAX);
	g->line = g->col = 1;
	g->deep_line = g->deep_col = 0;
	g->level = 0;
}

/* Appends ASCII text. */
static void gen_put(gen *g, const char *s)
{
	for (; *s; s++) {
		sbuf_addch(&g->b, *s);
		if (*s == '\n') {
			g->line++;
			g->col = 1;
		} else {
			g->col++;
		}
	}
}

/* Appends one character of n bytes. */
static void gen_char(gen *g, const char *bytes, size_t n)
{
	sbuf_add(&g->b, bytes, n);
	g->col++;
}

/* Appends the opening bracket (or key) of one more level, noting where the
 * first level past the limit opens. */
static void gen_open(gen *g, const char *s)
{
	if (++g->level == VAL_MAX_DEPTH + 1) {
		g->deep_line = g->line;
		g->deep_col = g->col;
	}
	gen_put(g, s);
}

/* What val_content() must answer for a document of `depth` levels, complete
 * or cut short: OK, or the depth error at the opener of level 513, or (cut
 * short within the limit) any error but that one. */
static int depth_answer_ok(const char *format, gen *g, size_t depth, int complete, int iter)
{
	sbuf why = SBUF_INIT(1024), want = SBUF_INIT(1024);
	hc_err err = val_content(format, g->b.buf, g->b.len, &why);
	int ok;

	if (depth > VAL_MAX_DEPTH) {
		sbuf_addf(&want,
			  "invalid %s at line %lu, column %lu: nesting deeper than %d levels",
			  format, g->deep_line, g->deep_col, VAL_MAX_DEPTH);
		ok = err == HC_ERR_INVALID && !strcmp(why.buf, want.buf);
	} else if (complete) {
		ok = err == HC_OK;
	} else {
		ok = err == HC_ERR_INVALID && !strstr(why.buf, "nesting");
	}
	if (!ok)
		fprintf(stderr,
			"%s iteration %d: depth %zu, %s, %zu bytes starting \"%.80s\": got %d "
			"\"%s\", want \"%s\"\n",
			format, iter, depth, complete ? "complete" : "cut short", g->b.len,
			g->b.buf, err, why.buf, want.buf);
	sbuf_release(&why);
	sbuf_release(&want);
	return ok;
}

/* json whitespace, often none. */
static void json_gap(gen *g)
{
	static const char *const gaps[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

	gen_put(g, gaps[rnd() % 7]);
}

static void test_json_depth_property(void)
{
	static const char *const leaves[] = {"1", "-2.5e3", "\"s\"", "true", "null", "\"\""};
	char kinds[3000];
	int iter;

	rnd_seed(0x6a736f6e64657074);
	for (iter = 0; iter < 300; iter++) {
		size_t depth = rnd_depth(sizeof(kinds)), i;
		int complete = rnd() % 4 != 0;
		gen g;

		gen_init(&g);
		for (i = 0; i < depth; i++) {
			kinds[i] = rnd() % 2 ? '[' : '{';
			if (kinds[i] == '[') {
				gen_open(&g, "[");
				json_gap(&g);
				if (rnd() % 4 == 0)
					gen_put(&g, "0, ");
			} else {
				gen_open(&g, "{");
				json_gap(&g);
				if (rnd() % 4 == 0)
					gen_put(&g, "\"x\": true, ");
				gen_put(&g, "\"k\"");
				json_gap(&g);
				gen_put(&g, ":");
			}
			json_gap(&g);
		}
		gen_put(&g, leaves[rnd() % 6]);
		for (i = depth; complete && i-- > 0;) {
			json_gap(&g);
			if (rnd() % 4 == 0)
				gen_put(&g, kinds[i] == '[' ? ", 2" : ", \"y\": null");
			gen_put(&g, kinds[i] == '[' ? "]" : "}");
		}
		CHECK(depth_answer_ok("json", &g, depth, complete, iter));
		sbuf_release(&g.b);
	}
}

/* Appends n spaces. */
static void gen_indent(gen *g, size_t n)
{
	while (n--)
		gen_put(g, " ");
}

/* yaml flow collections, levels deep, on one line or broken onto lines
 * indented by `indent` (more than the enclosing block). */
static void yaml_flow(gen *g, size_t levels, size_t indent, int complete)
{
	char kinds[3000];
	size_t i;

	for (i = 0; i < levels; i++) {
		kinds[i] = "[{{"[rnd() % 3];
		gen_open(g, kinds[i] == '[' ? "[" : "{");
		if (rnd() % 4 == 0)
			gen_put(g, kinds[i] == '[' ? "0, " : "x: 1, ");
		if (kinds[i] == '{')
			gen_put(g, rnd() % 2 ? "a: " : "\"k\": ");
		if (rnd() % 16 == 0) {
			gen_put(g, "\n");
			gen_indent(g, indent);
		}
	}
	gen_put(g, "v");
	for (i = levels; complete && i-- > 0;)
		gen_put(g,
			kinds[i] == '[' ? (rnd() % 2 ? "]" : " ]") : (rnd() % 2 ? "}" : ", y: 2}"));
}

static void test_yaml_depth_property(void)
{
	int iter;

	rnd_seed(0x79616d6c64657074);
	for (iter = 0; iter < 120; iter++) {
		size_t depth = rnd_depth(1500), block = 0, i;
		int style = (int)(rnd() % 3), complete = rnd() % 4 != 0;
		gen g;

		gen_init(&g);
		if (style == 1) {
			/* One level per line, each indented one more: "a:" or "-". Bytes grow
			 * with the square of the depth, so keep this part under 700. */
			block = rnd_in(0, depth < 700 ? depth : 700);
			for (i = 0; i < block; i++) {
				int map = rnd() % 2;
				gen_indent(&g, i);
				/* A collection starts at its first key or dash. */
				gen_open(&g, "");
				if (rnd() % 4 == 0) {
					gen_put(&g, map ? "b: 1\n" : "- 1\n");
					gen_indent(&g, i);
				}
				gen_put(&g, map ? "a:\n" : "-\n");
			}
			gen_indent(&g, block);
		} else if (style == 2) {
			/* Compact block sequences on one line: "- - - v". */
			block = rnd_in(0, depth);
			for (i = 0; i < block; i++)
				gen_open(&g, "- ");
		}
		yaml_flow(&g, depth - block, style == 2 ? 2 * block + 1 : block + 1, complete);
		gen_put(&g, "\n");
		CHECK(depth_answer_ok("yaml", &g, depth, complete || depth == block, iter));
		sbuf_release(&g.b);
	}
}

/* Appends the UTF-8 encoding of code point cp (the test's own encoder). */
static void gen_codepoint(gen *g, unsigned long cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	gen_char(g, b, n);
}

/* A place in a generated json document where bytes can be inserted. */
typedef struct spot {
	size_t off;
	unsigned long line, col;
	int in_string;
} spot;

#define MAX_SPOTS 4096

typedef struct spots {
	spot at[MAX_SPOTS];
	size_t n;
} spots;

static void note_spot(spots *sp, const gen *g, int in_string)
{
	if (sp->n < MAX_SPOTS)
		sp->at[sp->n++] = (spot){g->b.len, g->line, g->col, in_string};
}

/* A random code point that is a character: no surrogates, no controls. */
static unsigned long rnd_codepoint(void)
{
	unsigned long cp;

	switch (rnd() % 4) {
	case 0:
		return rnd_in(0x20, 0x7e);
	case 1:
		return rnd_in(0x80, 0x7ff);
	case 2:
		cp = rnd_in(0x800, 0xfffd);
		return cp >= 0xd800 && cp <= 0xdfff ? 0xe9 : cp;
	default:
		return rnd_in(0x10000, 0x10ffff);
	}
}

/* A json string of random characters and escapes, noting each place
 * between two characters. */
static void gen_json_string(gen *g, spots *sp)
{
	static const char *const escapes[] = {"\\n",	 "\\\"",	   "\\\\", "\\/",
					      "\\u00e9", "\\uD83D\\uDE00", "\\t"};
	size_t n = rnd_in(0, 12), i;

	gen_put(g, "\"");
	for (i = 0; i < n; i++) {
		unsigned long cp = rnd_codepoint();
		note_spot(sp, g, 1);
		if (rnd() % 8 == 0)
			gen_put(g, escapes[rnd() % 7]);
		else if (cp == '"' || cp == '\\')
			gen_put(g, "q");
		else
			gen_codepoint(g, cp);
	}
	note_spot(sp, g, 1);
	gen_put(g, "\"");
}

/* A valid json object of strings, numbers and arrays of strings. */
static void gen_json_doc(gen *g, spots *sp)
{
	size_t members = rnd_in(1, 8), i, j;

	sp->n = 0;
	note_spot(sp, g, 0);
	gen_put(g, "{");
	for (i = 0; i < members; i++) {
		json_gap(g);
		note_spot(sp, g, 0);
		gen_json_string(g, sp);
		gen_put(g, ": ");
		note_spot(sp, g, 0);
		if (rnd() % 3 == 0) {
			gen_put(g, "[");
			for (j = rnd_in(1, 3); j-- > 0;) {
				gen_json_string(g, sp);
				if (j)
					gen_put(g, ",\n  ");
			}
			gen_put(g, "]");
		} else if (rnd() % 2) {
			gen_json_string(g, sp);
		} else {
			gen_put(g, "-12.5e+3");
		}
		note_spot(sp, g, 0);
		if (i + 1 < members)
			gen_put(g, ",\n");
	}
	gen_put(g, "}");
	note_spot(sp, g, 0);
}

/* A byte sequence that is not UTF-8 whatever follows it: the n = 1-3 bytes
 * are a stray continuation, an overlong form, a surrogate, a code point past
 * U+10FFFF, a byte that never occurs, or a sequence cut short. */
static size_t rnd_bad_utf8(unsigned char *b)
{
	switch (rnd() % 7) {
	case 0:
		b[0] = (unsigned char)rnd_in(0x80, 0xbf);
		return 1;
	case 1:
		b[0] = (unsigned char)rnd_in(0xc0, 0xc1);
		b[1] = (unsigned char)rnd_in(0x80, 0xbf);
		return 2;
	case 2:
		b[0] = 0xe0;
		b[1] = (unsigned char)rnd_in(0x80, 0x9f);
		b[2] = (unsigned char)rnd_in(0x80, 0xbf);
		return 3;
	case 3:
		b[0] = 0xed;
		b[1] = (unsigned char)rnd_in(0xa0, 0xbf);
		b[2] = (unsigned char)rnd_in(0x80, 0xbf);
		return 3;
	case 4:
		b[0] = 0xf4;
		b[1] = (unsigned char)rnd_in(0x90, 0xbf);
		b[2] = (unsigned char)rnd_in(0x80, 0xbf);
		return 3;
	case 5:
		b[0] = (unsigned char)rnd_in(0xf5, 0xff);
		return 1;
	default:
		/* A lead byte, then what follows in the document: never a continuation. */
		b[0] = (unsigned char)rnd_in(0xc2, 0xf4);
		return 1;
	}
}

static void test_json_utf8_property(void)
{
	static spots sp;
	int iter;

	rnd_seed(0x7574663862797465);
	for (iter = 0; iter < 400; iter++) {
		sbuf bad = SBUF_INIT(SBUF_NOMAX), want = SBUF_INIT(1024);
		unsigned char ins[3];
		size_t n;
		spot at;
		gen g;

		gen_init(&g);
		gen_json_doc(&g, &sp);
		{
			sbuf why = SBUF_INIT(1024);
			CHECK_EQ_INT(val_content("json", g.b.buf, g.b.len, &why), HC_OK);
			if (why.len)
				fprintf(stderr, "iteration %d: %s in \"%s\"\n", iter, why.buf,
					g.b.buf);
			sbuf_release(&why);
		}
		at = sp.at[rnd() % sp.n];
		if (at.in_string && rnd() % 3 == 0) {
			ins[0] = (unsigned char)rnd_in(0, 0x1f);
			n = 1;
			sbuf_addf(&want,
				  "invalid json at line %lu, column %lu: control character "
				  "U+%04X in a string",
				  at.line, at.col, ins[0]);
		} else {
			n = rnd_bad_utf8(ins);
			sbuf_addf(&want, "invalid json at line %lu, column %lu: invalid UTF-8",
				  at.line, at.col);
		}
		sbuf_add(&bad, g.b.buf, at.off);
		sbuf_add(&bad, ins, n);
		sbuf_add(&bad, g.b.buf + at.off, g.b.len - at.off);
		if (!content_error_is("json", bad.buf, bad.len, want.buf)) {
			CHECK(0);
			fprintf(stderr,
				"iteration %d: inserted %zu bytes (0x%02x...) at offset %zu\n",
				iter, n, ins[0], at.off);
		}
		sbuf_release(&bad);
		sbuf_release(&want);
		sbuf_release(&g.b);
	}
}

/* s without leading zeros ("0" for zero): the decimal reference. */
static void dec_strip(const char *s, char *out, size_t outsz)
{
	while (*s == '0' && s[1])
		s++;
	snprintf(out, outsz, "%s", s);
}

/* -1, 0 or 1 as the numbers written a and b (no leading zeros) compare. */
static int dec_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0;
}

/* s = s * m for a one-digit m, digit by digit (s has room for one more). */
static void dec_mul(char *s, unsigned m)
{
	size_t n = strlen(s), i;
	unsigned carry = 0;

	for (i = n; i-- > 0;) {
		unsigned d = (unsigned)(s[i] - '0') * m + carry;
		s[i] = (char)('0' + d % 10);
		carry = d / 10;
	}
	while (carry) {
		memmove(s + 1, s, strlen(s) + 1);
		s[0] = (char)('0' + carry % 10);
		carry /= 10;
	}
}

/* Appends k zeros to s (room for them is the caller's), unless s is "0". */
static void dec_shift(char *s, size_t k)
{
	size_t n = strlen(s);

	if (strcmp(s, "0")) {
		memset(s + n, '0', k);
		s[n + k] = '\0';
	}
}

static void test_duration_property(void)
{
	static const char *const units[] = {"", "ms", "s", "m"};
	int iter;

	rnd_seed(0x6475726174696f6e);
	for (iter = 0; iter < 2000; iter++) {
		char in[64], digits[48], want[64], got[32];
		size_t n = rnd_in(1, 40), i;
		const char *unit = units[rnd() % 4];
		sbuf why = SBUF_INIT(1024);
		uint64_t ms = 0;

		/* Leading zeros now and then, and lengths around 19-20 digits. */
		for (i = 0; i < n; i++)
			digits[i] = (char)('0' + (i < 3 && rnd() % 4 == 0 ? 0 : rnd() % 10));
		digits[n] = '\0';
		snprintf(in, sizeof(in), "%s%s", digits, unit);
		dec_strip(digits, want, sizeof(want));
		if (!strcmp(unit, "") || !strcmp(unit, "s")) {
			dec_shift(want, 3);
		} else if (!strcmp(unit, "m")) {
			dec_mul(want, 6);
			dec_shift(want, 4);
		}
		if (dec_cmp(want, "3155760000000") > 0)
			snprintf(want, sizeof(want), "3155760000000");
		CHECK_EQ_INT(val_duration(in, &ms, &why), HC_OK);
		snprintf(got, sizeof(got), "%" PRIu64, ms);
		if (strcmp(got, want)) {
			CHECK_EQ_STR(got, want);
			fprintf(stderr, "iteration %d: val_duration(\"%s\")\n", iter, in);
		}
		/* Anything else around the digits is invalid. */
		snprintf(in, sizeof(in), "%.*s%c%s", (int)rnd_in(0, n), digits,
			 " +-.hxS"[rnd() % 7], digits);
		CHECK_EQ_INT(val_duration(in, &ms, &why), HC_ERR_INVALID);
		sbuf_release(&why);
	}
}

static void test_int_property(void)
{
	int iter;

	rnd_seed(0x696e743634626967);
	for (iter = 0; iter < 2000; iter++) {
		char in[40], want[40], got[32];
		size_t n = rnd_in(1, 22), i;
		int64_t v = -1;
		int fits, ok;
		hc_err err;

		for (i = 0; i < n; i++)
			in[i] = (char)('0' + (i < 3 && rnd() % 4 == 0 ? 0 : rnd() % 10));
		in[n] = '\0';
		/* Often within a digit of INT64_MAX. */
		if (rnd() % 4 == 0) {
			snprintf(in, sizeof(in), "922337203685477580%c", (char)('0' + rnd() % 10));
			n = strlen(in);
		}
		dec_strip(in, want, sizeof(want));
		fits = dec_cmp(want, "9223372036854775807") <= 0;
		err = val_int(in, &v);
		snprintf(got, sizeof(got), "%" PRId64, v);
		ok = fits ? err == HC_OK && !strcmp(got, want) : err == HC_ERR_INVALID;
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "iteration %d: val_int(\"%s\") gave %d, %s\n", iter, in,
				err, got);
		in[rnd_in(0, n - 1)] = " -+x"[rnd() % 4];
		CHECK_EQ_INT(val_int(in, &v), HC_ERR_INVALID);
	}
}

static void test_deadline_property(void)
{
	int iter;

	rnd_seed(0x646561646c696e65);
	for (iter = 0; iter < 2000; iter++) {
		uint64_t now = rnd() >> (rnd() % 64), wait = rnd() >> (rnd() % 64);
		uint64_t d = val_deadline(now, wait);

		/* Never before either: a wrap would land before now. */
		CHECK(d >= now && d >= wait);
		CHECK(d == UINT64_MAX || d - now == wait);
	}
}

static void test_name_property(void)
{
	static const char alphabet[] = "abcXYZ019._:-";
	int iter;

	rnd_seed(0x6e616d65736e756c);
	for (iter = 0; iter < 2000; iter++) {
		char name[140];
		size_t n = rnd_in(1, 128), at, i;
		sbuf why = SBUF_INIT(4096), want = SBUF_INIT(64);
		char bad;

		for (i = 0; i < n; i++)
			name[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		name[n] = '\0';
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			CHECK(!val_name_okn(name, n));
		else
			CHECK_EQ_INT(val_namen("dataId", name, n, &why), HC_OK);
		/* A NUL, '/' or other byte at a random place, the name one longer. */
		at = rnd_in(0, n);
		bad = rnd() % 3 == 0 ? '\0' : rnd() % 2 ? '/' : (char)rnd_in(0x80, 0xff);
		memmove(name + at + 1, name + at, n - at + 1);
		name[at] = bad;
		CHECK(!val_name_okn(name, n + 1));
		CHECK_EQ_INT(val_namen("dataId", name, n + 1, &why), HC_ERR_INVALID);
		if (n + 1 <= 128) {
			sbuf_addf(&want, "at position %zu", at + 1);
			CHECK(strstr(why.buf, want.buf) != NULL);
			CHECK(strstr(why.buf, bad == '\0'  ? "\\0"
					      : bad == '/' ? "'/'"
							   : "\\x") != NULL);
			if (bad == '\0')
				CHECK(strstr(why.buf, "NUL") != NULL);
		}
		sbuf_release(&why);
		sbuf_release(&want);
	}
	/* Long names of valid characters: 128 is the most. */
	for (iter = 0; iter < 50; iter++) {
		char name[300];
		size_t n = rnd_in(129, sizeof(name));
		memset(name, 'a', n);
		CHECK(!val_name_okn(name, n));
		CHECK(val_name_okn(name, 128));
	}
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
	CHECK_EQ_INT(srv_http_status(HC_ERR_READ_ONLY), 503);
	CHECK_EQ_INT(srv_http_status(HC_ERR_NO_SPACE), 507);
	CHECK_EQ_INT(srv_http_status(HC_ERR_IO), 500);
	CHECK_EQ_STR(hc_err_code(HC_ERR_READ_ONLY), "read_only");
	CHECK_EQ_STR(hc_err_code(HC_ERR_NO_SPACE), "insufficient_storage");
	CHECK_EQ_STR(hc_err_code(HC_ERR_PRECONDITION), "precondition_failed");
	CHECK_EQ_STR(hc_err_code(HC_ERR_NOT_FOUND), "not_found");
}

/* ---- the route table ---- */

/* Routes r->path for method; returns the route matched or NULL. */
static const srv_route *route_of(srv_req *r, const char *path, unsigned method)
{
	srv_params_free(r);
	memset(r, 0, sizeof(*r));
	r->path = (char *)path;
	r->method_bit = method;
	srv_route_request(r);
	return r->route;
}

static void test_route_table(void)
{
	size_t n, i, j;
	const srv_route *t = srv_routes(&n);

	CHECK(n > 10);
	for (i = 0; i < n; i++) {
		/* Nobody adds an endpoint without saying who may call it. */
		CHECK(t[i].scope != 0);
		CHECK(t[i].action != 0);
		CHECK(t[i].handler != NULL);
		CHECK(t[i].methods != 0);
		CHECK(t[i].pattern[0] == '/');
		for (j = 0; j < i; j++)
			CHECK(strcmp(t[i].pattern, t[j].pattern) || !(t[i].methods & t[j].methods));
	}
}

/* Nacos' hold rule: max(10 s, Long-Pulling-Timeout - 500 ms), capped by
 * --max-wait; No-Hangup answers at once. */
static void test_nacos_hold(void)
{
	static const struct {
		int64_t timeout;
		int no_hangup;
		uint64_t max_wait, want;
	} cases[] = {
	    {30000, 0, 120000, 29500}, /* what the Java and Node clients send */
	    {10500, 0, 120000, 10000},	    {10501, 0, 120000, 10001},
	    {2000, 0, 120000, 10000},				    /* never under 10 s */
	    {0, 0, 120000, 10000},	    {30000, 0, 1000, 1000}, /* --max-wait caps it */
	    {5000, 0, 3000, 3000},	    {30000, 1, 120000, 0},  /* No-Hangup: at once */
	    {INT64_MAX, 0, 120000, 120000},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = nc_hold(cases[i].timeout, cases[i].no_hangup, cases[i].max_wait);
		if (got != cases[i].want)
			fprintf(stderr,
				"  case %zu: timeout %" PRId64 " gives %" PRIu64 ", want %" PRIu64
				"\n",
				i, cases[i].timeout, got, cases[i].want);
		CHECK(got == cases[i].want);
	}
}

static void test_route_match(void)
{
	srv_req r;
	const srv_route *rt;
	char allow[64];

	memset(&r, 0, sizeof(r));
	rt = route_of(&r, "/api/v1/configs/public/DEFAULT_GROUP/app.yaml", SRV_PUT);
	REQUIRE(rt != NULL);
	CHECK(rt->handler == srv_h_config_put);
	CHECK(rt->body == SRV_BODY_CONTENT);
	CHECK_EQ_STR(srv_param(&r, "ns"), "public");
	CHECK_EQ_STR(srv_param(&r, "group"), "DEFAULT_GROUP");
	CHECK_EQ_STR(srv_param(&r, "dataId"), "app.yaml");
	CHECK(srv_param(&r, "data") == NULL);
	rt = route_of(&r, "/api/v1/configs/public/DEFAULT_GROUP/app.yaml", SRV_HEAD);
	CHECK(rt != NULL && rt->handler == srv_h_config_get); /* HEAD goes with GET */
	rt = route_of(&r, "/api/v1/configs/a/b/c/history/7", SRV_GET);
	CHECK(rt != NULL && rt->handler == srv_h_history_one);
	CHECK_EQ_STR(srv_param(&r, "version"), "7");
	/* Decoded per segment, after the cut: %2F stays inside its segment. */
	rt = route_of(&r, "/api/v1/configs/a/b/x%2Fy", SRV_GET);
	CHECK(rt != NULL);
	CHECK_EQ_STR(srv_param(&r, "dataId"), "x/y");
	rt = route_of(&r, "/api/v1/configs/a/b/x%2d", SRV_GET);
	CHECK_EQ_STR(srv_param(&r, "dataId"), "x-");
	/* A decoded NUL or a malformed escape is a 400, not a route. */
	CHECK(route_of(&r, "/api/v1/configs/a/b/x%00y", SRV_GET) == NULL);
	CHECK_EQ_INT(r.path_err, HC_ERR_INVALID);
	CHECK(route_of(&r, "/api/v1/configs/a/b/x%zz", SRV_GET) == NULL);
	CHECK_EQ_INT(r.path_err, HC_ERR_INVALID);
	CHECK(route_of(&r, "/api/v1/configs/a/b/x%4", SRV_GET) == NULL);
	CHECK_EQ_INT(r.path_err, HC_ERR_INVALID);
	/* Wrong method: no route, but the methods that would do. */
	CHECK(route_of(&r, "/api/v1/configs/a/b/c", SRV_POST) == NULL);
	CHECK_EQ_INT(r.path_err, HC_OK);
	srv_methods_str(r.allowed, allow);
	CHECK_EQ_STR(allow, "GET, HEAD, PUT, DELETE");
	CHECK(route_of(&r, "/api/v1/namespaces", SRV_DELETE) == NULL);
	srv_methods_str(r.allowed, allow);
	CHECK_EQ_STR(allow, "GET, HEAD, POST");
	/* No such path: nothing allowed. Empty segments match nothing. */
	CHECK(route_of(&r, "/api/v1/nope", SRV_GET) == NULL);
	CHECK_EQ_INT(r.allowed, 0);
	CHECK(route_of(&r, "/api/v1/configs/a//c", SRV_GET) == NULL);
	CHECK(route_of(&r, "/api/v1/configs/", SRV_GET) == NULL);
	CHECK(route_of(&r, "healthz", SRV_GET) == NULL);
	/* The console's catch-all takes what no route knows outside /api/ (its
	 * handler answers 404 for what is not one of its files), never an API
	 * path, and never changes what an API path allows. */
	rt = route_of(&r, "/healthz/", SRV_GET);
	CHECK(rt && rt->handler == srv_h_web);
	rt = route_of(&r, "/", SRV_GET);
	CHECK(rt && rt->handler == srv_h_web);
	CHECK_EQ_STR(srv_param(&r, "file"), "");
	rt = route_of(&r, "/vendor/x/y.js", SRV_GET);
	CHECK(rt && rt->handler == srv_h_web);
	CHECK_EQ_STR(srv_param(&r, "file"), "vendor/x/y.js");
	CHECK(route_of(&r, "/api/v1/nope", SRV_GET) == NULL);
	CHECK(route_of(&r, "/api", SRV_GET) == NULL);
	CHECK(route_of(&r, "/healthz", SRV_POST) == NULL);
	srv_methods_str(r.allowed, allow);
	CHECK_EQ_STR(allow, "GET, HEAD");
	CHECK(route_of(&r, "/healthz", SRV_GET) != NULL);
	srv_params_free(&r);
}

/* ---- request heads (httphead) ---- */

static hc_err head(const char *h)
{
	head_limits lim = {2048, 1024, 1 << 20};
	sbuf why = SBUF_INIT(1024);
	size_t end = head_end(h, strlen(h));
	hc_err err = end ? head_check(h, end, &lim, &why) : HC_ERR_INTERNAL;

	if (err && err != HC_ERR_INTERNAL)
		CHECK(why.len > 0);
	sbuf_release(&why);
	return err;
}

static void test_http_heads(void)
{
	char big[4096];

	CHECK_EQ_INT(head("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), HC_OK);
	CHECK_EQ_INT(head("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), HC_OK); /* a stray CRLF */
	CHECK_EQ_INT(head("GET / HTTP/1.0\r\n\r\n"), HC_OK);		    /* 1.0 needs no Host */
	CHECK_EQ_INT(head("GET / HTTP/1.1\nHost: x\n\n"), HC_OK);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"), HC_OK);
	CHECK_EQ_INT(
	    head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
	    HC_OK); /* the same value twice says one thing */
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
		     HC_OK);
	CHECK_EQ_INT(head("GET / HTTP/1.1\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(
	    head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
	    HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3,3\r\n\r\n"),
		     HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
		     HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n"),
		     HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
			  "chunked\r\n\r\n"),
		     HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
		     HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/1.1\r\nHost: x\x01y\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), HC_ERR_HTTP_VERSION);
	CHECK_EQ_INT(head("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), HC_ERR_HTTP_VERSION);
	CHECK_EQ_INT(head("GET / HTTX/1.1\r\nHost: x\r\n\r\n"), HC_ERR_INVALID);
	CHECK_EQ_INT(head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"),
		     HC_ERR_TOO_BIG);
	CHECK_EQ_INT(
	    head("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
	    HC_ERR_TOO_BIG);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	memcpy(big + 1100, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
	big[1123] = '\0';
	CHECK_EQ_INT(head(big), HC_ERR_URI_TOO_LONG);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memcpy(big + 3000, "\r\n\r\n", 5);
	CHECK_EQ_INT(head(big), HC_ERR_HEADERS_TOO_BIG);
	CHECK_EQ_INT(head_end("GET / HTTP/1.1\r\nHost: x\r\n", 25), 0);
}

static int is_watch(const char *h)
{
	return head_is_watch(h, strlen(h));
}

/* Which first requests are served from the smaller watch pools. */
static void test_watch_heads(void)
{
	CHECK(is_watch("POST /api/v1/watch HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(is_watch("POST /api/v1/watch?wait=30s HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(is_watch("GET /api/v1/configs/public/g/a?wait=30s HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(is_watch("GET /api/v1/configs/p/g/a?as=json&wait=5 HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("GET /api/v1/configs/p/g/a HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("GET /api/v1/configs/p/g/a?nowait=5 HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("GET /api/v1/configs/p/g/a?wait= HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("GET /api/v1/configs/p/g/a?x=1 HTTP/1.1\r\nX: ?wait=1\r\n\r\n"));
	CHECK(!is_watch("PUT /api/v1/configs/p/g/a?wait=5 HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("POST /api/v1/watchers HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(!is_watch("GET /api/v1/watch HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(is_watch("POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: x\r\n\r\n"));
	CHECK(is_watch("POST /nacos/v1/cs/configs/listener?username=u HTTP/1.1\r\n\r\n"));
	CHECK(!is_watch("GET /nacos/v1/cs/configs/listener?dataId=a HTTP/1.1\r\n\r\n"));
	CHECK(is_watch("GET /notifications/v2?appId=a&cluster=default HTTP/1.1\r\n\r\n"));
	CHECK(!is_watch("GET /notifications/v2x HTTP/1.1\r\n\r\n"));
	CHECK(!is_watch("POST"));
	CHECK(!is_watch("POST /api/v1/watch"));
}

int main(void)
{
	RUN(test_names);
	RUN(test_name_message);
	RUN(test_duration);
	RUN(test_int);
	RUN(test_deadline);
	RUN(test_labels);
	RUN(test_labels_gray_agrees);
	RUN(test_etags);
	RUN(test_content_json);
	RUN(test_content_json_strict);
	RUN(test_content_yaml);
	RUN(test_content_depth);
	RUN(test_json_depth_property);
	RUN(test_yaml_depth_property);
	RUN(test_json_utf8_property);
	RUN(test_duration_property);
	RUN(test_int_property);
	RUN(test_deadline_property);
	RUN(test_name_property);
	RUN(test_status_map);
	RUN(test_route_table);
	RUN(test_http_heads);
	RUN(test_watch_heads);
	RUN(test_route_match);
	RUN(test_nacos_hold);
	return hc_test_report();
}
