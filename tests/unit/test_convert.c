/*
 * test_convert.c: format conversion (json, yaml, properties) in every
 * direction, each refusal and its message, round trips over generated
 * documents (fixed seed), the alias bomb; and namespace archives: export ->
 * read, Nacos' layouts, hostile zips. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "archive.h"
#include "convert.h"
#include "harness.h"
#include "http_status.h"
#include "md5.h"

/* Converts and checks the result is exactly want. */
#define CHECK_CONV(from, in, to, want)                                                             \
	do {                                                                                       \
		sbuf o_ = SBUF_INIT(1 << 24), w_ = SBUF_INIT(4096);                                \
		hc_err e_ = conv_convert(from, in, strlen(in), to, &o_, &w_);                      \
		CHECK_EQ_INT(e_, HC_OK);                                                           \
		if (e_)                                                                            \
			fprintf(stderr, "  why: %s\n", w_.buf);                                    \
		CHECK_EQ_STR(o_.buf, want);                                                        \
		sbuf_release(&o_);                                                                 \
		sbuf_release(&w_);                                                                 \
	} while (0)

/* Converts and checks it is refused with code, *why containing msg, and the
 * output buffer left as it was. */
#define CHECK_REFUSE(from, in, to, code, msg)                                                      \
	do {                                                                                       \
		sbuf o_ = SBUF_INIT(1 << 24), w_ = SBUF_INIT(4096);                                \
		hc_err e_;                                                                         \
		sbuf_addstr(&o_, "kept");                                                          \
		e_ = conv_convert(from, in, strlen(in), to, &o_, &w_);                             \
		CHECK_EQ_INT(e_, code);                                                            \
		CHECK_EQ_STR(o_.buf, "kept");                                                      \
		if (!strstr(w_.buf, msg)) {                                                        \
			fprintf(stderr, "  why: %s\n  wanted: %s\n", w_.buf, msg);                 \
			CHECK(strstr(w_.buf, msg) != NULL);                                        \
		}                                                                                  \
		sbuf_release(&o_);                                                                 \
		sbuf_release(&w_);                                                                 \
	} while (0)

#define UNPROC HC_ERR_UNPROCESSABLE

static void test_status(void)
{
	CHECK_EQ_INT(srv_http_status(HC_ERR_UNPROCESSABLE), 422);
	CHECK_EQ_STR(hc_err_code(HC_ERR_UNPROCESSABLE), "unprocessable");
}

static void test_same_format(void)
{
	/* Unchanged, even when it would not parse. */
	CHECK_CONV("json", "{\"b\":1,\"a\":2", "json", "{\"b\":1,\"a\":2");
	CHECK_CONV("yaml", "a: &x 1\nb: *x\n", "yaml", "a: &x 1\nb: *x\n");
	CHECK_CONV("properties", "a.b = 1\n", "properties", "a.b = 1\n");
	CHECK_CONV("text", "hello", "text", "hello");
}

static void test_format_names(void)
{
	CHECK_REFUSE("text", "hello", "json", UNPROC, "cannot convert text to json");
	CHECK_REFUSE("xml", "<a/>", "yaml", UNPROC, "cannot convert xml to yaml");
	CHECK_REFUSE("toml", "a = 1", "json", HC_ERR_INVALID, "json, yaml and properties");
	CHECK_REFUSE("json", "{}", "text", HC_ERR_INVALID, "json, yaml and properties");
	CHECK_REFUSE("json", "{}", "csv", HC_ERR_INVALID, "json, yaml and properties");
	CHECK_REFUSE("json", "\"\xff\"", "yaml", UNPROC, "not valid UTF-8");
	/* A byte order mark is not content. */
	CHECK_CONV("json", "\xef\xbb\xbf{\"a\": 1}", "yaml", "a: 1\n");
	CHECK_CONV("properties",
		   "\xef\xbb\xbf"
		   "a=1\n",
		   "json", "{\n  \"a\": \"1\"\n}\n");
}

static void test_yaml_anchors(void)
{
	const char *in = "base: &base\n"
			 "  host: db\n"
			 "  port: 5432\n"
			 "tls: &tls {tls: true, port: 6432}\n"
			 "dev:\n"
			 "  <<: *base\n"
			 "  port: 1\n"
			 "prod:\n"
			 "  name: p\n"
			 "  <<: [*tls, *base]\n"
			 "list: &l [a, b]\n"
			 "copy: *l\n"
			 "&k key: v\n"
			 "ref: *k\n";

	CHECK_CONV("yaml", in, "json",
		   "{\n"
		   "  \"base\": {\n    \"host\": \"db\",\n    \"port\": 5432\n  },\n"
		   "  \"tls\": {\n    \"tls\": true,\n    \"port\": 6432\n  },\n"
		   /* The mapping's own keys win over merged ones, wherever they are. */
		   "  \"dev\": {\n    \"host\": \"db\",\n    \"port\": 1\n  },\n"
		   /* Earlier merge sources win over later ones. */
		   "  \"prod\": {\n    \"name\": \"p\",\n    \"tls\": true,\n    \"port\": 6432,\n"
		   "    \"host\": \"db\"\n  },\n"
		   "  \"list\": [\n    \"a\",\n    \"b\"\n  ],\n"
		   "  \"copy\": [\n    \"a\",\n    \"b\"\n  ],\n"
		   "  \"key\": \"v\",\n"
		   "  \"ref\": \"key\"\n"
		   "}\n");
	/* yaml -> json -> yaml: the aliases and merges come out expanded. */
	CHECK_CONV("yaml", in, "yaml", in); /* same format: untouched, anchors and all */
	CHECK_CONV("json", "{\"a\": {\"x\": 1}, \"b\": {\"x\": 1, \"z\": [{\"x\": 1}]}}", "yaml",
		   "a:\n  x: 1\nb:\n  x: 1\n  z:\n    - x: 1\n");
	CHECK_CONV("yaml", "a: &a {x: 1}\nb:\n  <<: *a\n  z: [*a]\n", "json",
		   "{\n  \"a\": {\n    \"x\": 1\n  },\n  \"b\": {\n    \"x\": 1,\n"
		   "    \"z\": [\n      {\n        \"x\": 1\n      }\n    ]\n  }\n}\n");
	CHECK_CONV("yaml", "a: &a {x: 1}\nb:\n  <<: *a\n", "properties", "a.x=1\nb.x=1\n");
	/* An explicit merge tag, and "<<" quoted is an ordinary key. */
	CHECK_CONV("yaml", "a: &a {x: 1}\nb: {!!merge <<: *a}\nc: {\"<<\": 2}\n", "json",
		   "{\n  \"a\": {\n    \"x\": 1\n  },\n  \"b\": {\n    \"x\": 1\n  },\n"
		   "  \"c\": {\n    \"<<\": 2\n  }\n}\n");
	/* An anchor may be redefined; an alias takes the latest. */
	CHECK_CONV("yaml", "a: &x 1\nb: &x 2\nc: *x\n", "json",
		   "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 2\n}\n");
}

static void test_yaml_scalars(void)
{
	static const char *const cases[][2] = {
	    {"~", "null"},
	    {"null", "null"},
	    {"NULL", "null"},
	    {"", "null"},
	    {"true", "true"},
	    {"False", "false"},
	    {"yes", "\"yes\""},
	    {"tRue", "\"tRue\""},
	    {"12", "12"},
	    {"+12", "12"},
	    {"-0", "-0"},
	    {"007", "7"},
	    {"0x1F", "31"},
	    {"0o17", "15"},
	    {"0o8", "\"0o8\""},
	    {"-0x10", "\"-0x10\""},
	    {"1_000", "\"1_000\""},
	    {"1.5", "1.5"},
	    {"1.50", "1.50"},
	    {"1.", "1.0"},
	    {".5", "0.5"},
	    {"-.5e3", "-0.5e3"},
	    {"1e3", "1e3"},
	    {"1.5E-3", "1.5E-3"},
	    {"00.5", "0.5"},
	    {"12:30", "\"12:30\""},
	    {"2001-12-14", "\"2001-12-14\""},
	    {"'12'", "\"12\""},
	    {"\"true\"", "\"true\""},
	    {"! 12", "\"12\""},
	    {"!!str 12", "\"12\""},
	    {"!!int \"12\"", "12"},
	    {"!!float 3", "3.0"},
	    {"!!null ''", "null"},
	    {"!!bool 'true'", "true"},
	    {"0x123456789abcdef0123456789", "90144042682896311822508713865"},
	    {"123456789012345678901234567890", "123456789012345678901234567890"},
	    {"|\n  x\n  y\n", "\"x\\ny\\n\""},
	    {">-\n  x\n  y\n", "\"x y\""},
	};
	sbuf in = SBUF_INIT(4096), want = SBUF_INIT(4096);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sbuf_reset(&in);
		sbuf_reset(&want);
		sbuf_addf(&in, "v: %s", cases[i][0]);
		sbuf_addf(&want, "{\n  \"v\": %s\n}\n", cases[i][1]);
		CHECK_CONV("yaml", in.buf, "json", want.buf);
	}
	sbuf_release(&in);
	sbuf_release(&want);
	/* A document that is a scalar, and an empty stream (null). */
	CHECK_CONV("yaml", "--- hello\n", "json", "\"hello\"\n");
	CHECK_CONV("yaml", "", "json", "null\n");
	CHECK_CONV("yaml", "# nothing\n", "json", "null\n");
}

static void test_yaml_refusals(void)
{
	CHECK_REFUSE("yaml", "a: 1\n---\nb: 2\n", "json", UNPROC,
		     "more than one document (the second starts at line 2)");
	CHECK_REFUSE("yaml", "a: !foo x\n", "json", UNPROC,
		     "tag !foo is not in the YAML core schema at $.a (line 1)");
	CHECK_REFUSE("yaml", "a:\n  b: !!binary aGk=\n", "json", UNPROC,
		     "tag !!binary is not in the YAML core schema at $.a.b (line 2)");
	CHECK_REFUSE("yaml", "a: !!set {x}\n", "json", UNPROC, "tag !!set");
	CHECK_REFUSE("yaml", "x: !!int abc\n", "json", UNPROC, "'abc' is not a !!int at $.x");
	CHECK_REFUSE("yaml", "s:\n  - {x: 1}: 2\n", "json", UNPROC,
		     "a mapping key is a mapping, not a string at $.s[0] (line 2)");
	CHECK_REFUSE("yaml", "? [a]\n: b\n", "json", UNPROC, "a mapping key is a list");
	CHECK_REFUSE("yaml", "a:\n  ~: 2\n", "json", UNPROC,
		     "a mapping key is null, not a string at $.a (line 2)");
	CHECK_REFUSE("yaml", "a:\n  ?\n  : 2\n", "json", UNPROC, "a mapping key is null");
	CHECK_REFUSE("yaml", "codes:\n  404: nf\n", "json", UNPROC,
		     "a mapping key is a number, not a string (quote it) at $.codes (line 2)");
	CHECK_REFUSE("yaml", "true: x\n", "json", UNPROC, "a mapping key is a boolean");
	CHECK_REFUSE("yaml", "m: &m {a: 1}\n*m : x\n", "json", UNPROC,
		     "a mapping key is a mapping");
	CHECK_REFUSE("yaml", "a: .inf\n", "json", UNPROC, "'.inf' has no JSON form at $.a");
	CHECK_REFUSE("yaml", "a: [1, -.INF]\n", "json", UNPROC,
		     "'-.INF' has no JSON form at $.a[1]");
	CHECK_REFUSE("yaml", "a: .NaN\n", "properties", UNPROC, "'.NaN' has no JSON form");
	CHECK_REFUSE("yaml", "a: 1\nb: 2\na: 3\n", "json", UNPROC, "duplicate key at $.a (line 3)");
	CHECK_REFUSE("yaml", "a: *nope\n", "json", UNPROC, "alias '*nope' has no anchor before it");
	CHECK_REFUSE("yaml", "a: &a [1, *a]\n", "json", UNPROC, "alias '*a' has no anchor");
	CHECK_REFUSE("yaml", "x: &x 1\ny:\n  <<: *x\n", "json", UNPROC,
		     "a merge key '<<' needs a mapping or a list of mappings at $.y");
	CHECK_REFUSE("yaml", "x: &x {a: 1}\ny:\n  <<: [*x, 2]\n", "json", UNPROC,
		     "a merge key '<<' needs a mapping");
	CHECK_REFUSE("yaml", "a: [1, 2\nb: 3\n", "json", UNPROC, "invalid yaml at line 2");
	CHECK_REFUSE("yaml", "a:\n\tb: 1\n", "json", UNPROC, "invalid yaml at line 2");
}

/* The classic "billion laughs": nine levels of nine aliases each. */
static void test_alias_bomb(void)
{
	sbuf in = SBUF_INIT(SBUF_NOMAX);
	const char *names = "abcdefghi";
	int i, j;

	sbuf_addstr(&in, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
			 "\"lol\"]\n");
	for (i = 1; i < 9; i++) {
		sbuf_addf(&in, "%c: &%c [", names[i], names[i]);
		for (j = 0; j < 9; j++)
			sbuf_addf(&in, "%s*%c", j ? "," : "", names[i - 1]);
		sbuf_addstr(&in, "]\n");
	}
	CHECK_REFUSE("yaml", in.buf, "json", UNPROC, "more than 1000000 values (an alias bomb?)");
	CHECK_REFUSE("yaml", in.buf, "properties", UNPROC, "alias bomb");
	/* Few nodes, but each alias repeats a big string. */
	sbuf_reset(&in);
	sbuf_addstr(&in, "s: &s \"");
	for (i = 0; i < 1 << 20; i++)
		sbuf_addch(&in, 'x');
	sbuf_addstr(&in, "\"\nl: [");
	for (i = 0; i < 70; i++)
		sbuf_addstr(&in, i ? ",*s" : "*s");
	sbuf_addstr(&in, "]\n");
	CHECK_REFUSE("yaml", in.buf, "json", UNPROC, "more than 67108864 bytes");
	/* Aliases under the caps are fine. */
	sbuf_reset(&in);
	sbuf_addstr(&in, "a: &a [1, 2]\nb: [*a, *a, *a]\n");
	CHECK_CONV("yaml", in.buf, "properties",
		   "a[0]=1\na[1]=2\nb[0][0]=1\nb[0][1]=2\nb[1][0]=1\nb[1][1]=2\nb[2][0]=1\n"
		   "b[2][1]=2\n");
	sbuf_release(&in);
}

static void nest(sbuf *sb, const char *open, int n, const char *mid, const char *close)
{
	int i;

	sbuf_reset(sb);
	for (i = 0; i < n; i++)
		sbuf_addstr(sb, open);
	sbuf_addstr(sb, mid);
	for (i = 0; i < n; i++)
		sbuf_addstr(sb, close);
}

static void check_depth(const char *from, const char *in, int ok)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(4096);
	hc_err err =
	    conv_convert(from, in, strlen(in), strcmp(from, "json") ? "json" : "yaml", &out, &why);

	CHECK_EQ_INT(err, ok ? HC_OK : UNPROC);
	if (!ok)
		CHECK(strstr(why.buf, "deeper than 512 levels") || strstr(why.buf, "too deep"));
	sbuf_release(&out);
	sbuf_release(&why);
}

static void test_depth(void)
{
	sbuf in = SBUF_INIT(SBUF_NOMAX), p = SBUF_INIT(SBUF_NOMAX);
	int i;

	nest(&in, "[", CONV_MAX_DEPTH, "", "]");
	check_depth("json", in.buf, 1);
	nest(&in, "[", CONV_MAX_DEPTH + 1, "", "]");
	check_depth("json", in.buf, 0);
	nest(&in, "[", CONV_MAX_DEPTH, "", "]");
	check_depth("yaml", in.buf, 1);
	nest(&in, "[", CONV_MAX_DEPTH + 1, "", "]");
	check_depth("yaml", in.buf, 0);
	/* Each alias is shallow, but together they nest too deep. */
	nest(&p, "[", 300, "", "]");
	sbuf_reset(&in);
	sbuf_addf(&in, "x: &x %s\ny: ", p.buf);
	nest(&p, "[", 300, "*x", "]");
	sbuf_addf(&in, "%s\n", p.buf);
	check_depth("yaml", in.buf, 0);
	/* properties: a.a.a...=1 with 512 parts nests 512 objects. */
	sbuf_reset(&in);
	for (i = 0; i < CONV_MAX_DEPTH; i++)
		sbuf_addstr(&in, i ? ".a" : "a");
	sbuf_addstr(&in, "=1\n");
	check_depth("properties", in.buf, 1);
	sbuf_reset(&in);
	for (i = 0; i <= CONV_MAX_DEPTH; i++)
		sbuf_addstr(&in, i ? ".a" : "a");
	sbuf_addstr(&in, "=1\n");
	check_depth("properties", in.buf, 0);
	sbuf_release(&in);
	sbuf_release(&p);
}

static void test_json_out(void)
{
	CHECK_CONV("yaml", "b: 1\na: [x, {}, []]\ne: {}\n", "json",
		   "{\n  \"b\": 1,\n  \"a\": [\n    \"x\",\n    {},\n    []\n  ],\n"
		   "  \"e\": {}\n}\n");
	/* Numbers keep their spelling when it is JSON. */
	CHECK_CONV("json", "[1.50, 1E+2, -0, 0.1e-7, 123456789012345678901234567890]", "yaml",
		   "- 1.50\n- 1E+2\n- -0\n- 0.1e-7\n- 123456789012345678901234567890\n");
	CHECK_CONV("yaml", "- 1.50\n- 1E+2\n- -0\n", "json", "[\n  1.50,\n  1E+2,\n  -0\n]\n");
	/* Escapes, control characters and non-ASCII. */
	CHECK_CONV("yaml", "s: \"tab\\there \\\"q\\\" back\\\\ nul\\0 \\u00e9 \\U0001F600\"\n",
		   "json",
		   "{\n  \"s\": \"tab\\there \\\"q\\\" back\\\\ nul\\u0000 \xc3\xa9 "
		   "\xf0\x9f\x98\x80\"\n}\n");
	CHECK_CONV("yaml", "42", "json", "42\n");
	CHECK_CONV("yaml", "[]", "json", "[]\n");
}

static void test_json_in(void)
{
	CHECK_CONV("json", " {\"a\" : [true, false, null, \"\\u00e9\\ud83d\\ude00\\/\"]} ", "yaml",
		   "a:\n  - true\n  - false\n  - null\n  - \xc3\xa9\xf0\x9f\x98\x80/\n");
	CHECK_REFUSE("json", "{\"a\": {\"b\": 1,\n \"b\": 2}}", "yaml", UNPROC,
		     "duplicate key at $.a.b (line 2)");
	CHECK_REFUSE("json", "{\"a\": 1}\n  x", "yaml", UNPROC,
		     "invalid json at line 2, column 3: unexpected content after the value");
	CHECK_REFUSE("json", "{\n  \"a\": tru\n}", "yaml", UNPROC, "invalid json at line 2");
	CHECK_REFUSE("json", "[\"\\ud800\"]", "yaml", UNPROC, "lone high surrogate");
	CHECK_REFUSE("json", "[\"\\udc00\"]", "yaml", UNPROC, "lone low surrogate");
	CHECK_REFUSE("json", "[01]", "yaml", UNPROC, "invalid json");
	CHECK_REFUSE("json", "[1.]", "yaml", UNPROC, "invalid json");
	CHECK_REFUSE("json", "[\"a\nb\"]", "yaml", UNPROC, "control character");
	CHECK_REFUSE("json", "", "yaml", UNPROC, "invalid json at line 1");
	CHECK_REFUSE("json", "[1,]", "yaml", UNPROC, "invalid json");
}

static void test_yaml_out_quoting(void)
{
	static const char *const cases[][2] = {
	    {"plain", "plain"},
	    {"two words", "two words"},
	    {"a:b", "a:b"},
	    {"a#b", "a#b"},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	    {"", "\"\""},
	    {"true", "\"true\""},
	    {"Null", "\"Null\""},
	    {"~", "\"~\""},
	    {"12", "\"12\""},
	    {"1.5", "\"1.5\""},
	    {".inf", "\".inf\""},
	    {"0x1F", "\"0x1F\""},
	    {"yes", "\"yes\""},
	    {"Off", "\"Off\""},
	    {"y", "\"y\""},
	    {"0777", "\"0777\""},
	    {"1_000", "\"1_000\""},
	    {"12:30", "\"12:30\""},
	    {"2001-12-14", "\"2001-12-14\""},
	    {"-x", "\"-x\""},
	    {"- x", "\"- x\""},
	    {"---", "\"---\""},
	    {"...", "\"...\""},
	    {"a: b", "\"a: b\""},
	    {"a #b", "\"a #b\""},
	    {"end:", "\"end:\""},
	    {"#c", "\"#c\""},
	    {"&a", "\"&a\""},
	    {"*a", "\"*a\""},
	    {"!t", "\"!t\""},
	    {"|x", "\"|x\""},
	    {">x", "\">x\""},
	    {"%x", "\"%x\""},
	    {"@x", "\"@x\""},
	    {"`x", "\"`x\""},
	    {"[x", "\"[x\""},
	    {"{x", "\"{x\""},
	    {"'x", "\"'x\""},
	    {"\"x", "\"\\\"x\""},
	    {" lead", "\" lead\""},
	    {"trail ", "\"trail \""},
	    {"<<", "\"<<\""},
	    {"tab\there", "\"tab\\there\""},
	    {"back\\slash", "back\\slash"},
	    {"bell\x07", "\"bell\\x07\""},
	    {"nel\xc2\x85", "\"nel\\u0085\""},
	    {"ls\xe2\x80\xa8", "\"ls\\u2028\""},
	    {"bom\xef\xbb\xbf", "\"bom\\uFEFF\""},
	    {"cr\r\nlf", "\"cr\\x0D\\nlf\""},
	};
	sbuf in = SBUF_INIT(4096), want = SBUF_INIT(4096);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sbuf_reset(&in);
		sbuf_reset(&want);
		sbuf_addstr(&in, "{\"k\": ");
		sbuf_add_json_str(&in, cases[i][0], strlen(cases[i][0]));
		sbuf_addstr(&in, "}");
		sbuf_addf(&want, "k: %s\n", cases[i][1]);
		CHECK_CONV("json", in.buf, "yaml", want.buf);
	}
	/* Keys follow the same rules. */
	CHECK_CONV("json", "{\"true\": 1, \"a b\": 2, \"\": 3, \"x: y\": 4}", "yaml",
		   "\"true\": 1\na b: 2\n\"\": 3\n\"x: y\": 4\n");
	sbuf_release(&in);
	sbuf_release(&want);
}

static void test_yaml_out_blocks(void)
{
	/* Multi-line strings become | blocks with the right chomping. */
	CHECK_CONV("json", "{\"a\": \"x\\ny\\n\", \"b\": \"x\\ny\", \"c\": \"x\\n\\n\"}", "yaml",
		   "a: |\n  x\n  y\nb: |-\n  x\n  y\nc: |+\n  x\n\n");
	CHECK_CONV("json", "[\"x\\n  indented\\n\\ny\"]", "yaml",
		   "- |-\n  x\n    indented\n\n  y\n");
	CHECK_CONV("json", "{\"a\": {\"b\": [\"l1\\nl2\"]}}", "yaml",
		   "a:\n  b:\n    - |-\n      l1\n      l2\n");
	/* Not exact as a block: quoted instead. */
	CHECK_CONV("json", "{\"a\": \" lead\\nx\", \"b\": \"x\\n   \\ny\", \"c\": \"\\n\"}", "yaml",
		   "a: \" lead\\nx\"\nb: \"x\\n   \\ny\"\nc: \"\\n\"\n");
	CHECK_CONV("json", "\"l1\\nl2\"", "yaml", "|-\n  l1\n  l2\n");
	/* Nesting: lists under keys are indented, maps in lists start on the dash. */
	CHECK_CONV("json", "{\"s\": [{\"id\": 1, \"m\": [2, [3, 4]]}, [], {}], \"o\": {\"p\": {}}}",
		   "yaml",
		   "s:\n  - id: 1\n    m:\n      - 2\n      - - 3\n        - 4\n  - []\n  - {}\n"
		   "o:\n  p: {}\n");
}

static void test_yaml_out_long_key(void)
{
	sbuf in = SBUF_INIT(SBUF_NOMAX), yaml = SBUF_INIT(SBUF_NOMAX);
	sbuf back = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(4096);
	int i;

	sbuf_addstr(&in, "{\n  \"");
	for (i = 0; i < 1500; i++)
		sbuf_addch(&in, 'k');
	sbuf_addstr(&in, "\": {\n    \"x\": 1\n  }\n}\n");
	CHECK_EQ_INT(conv_convert("json", in.buf, in.len, "yaml", &yaml, &why), HC_OK);
	CHECK(!strncmp(yaml.buf, "? kkk", 5));
	CHECK_EQ_INT(conv_convert("yaml", yaml.buf, yaml.len, "json", &back, &why), HC_OK);
	CHECK_EQ_STR(back.buf, in.buf);
	sbuf_release(&in);
	sbuf_release(&yaml);
	sbuf_release(&back);
	sbuf_release(&why);
}

static void test_props_in(void)
{
	const char *in = "# comment\n"
			 "! another\n"
			 "\n"
			 "   server.port = 8080\n"
			 "server.host:db\n"
			 "server.name  main node\n"
			 "servers[0].name=a\n"
			 "servers[0].port=1\n"
			 "servers[1].name=b\n"
			 "matrix[0][0]=x\n"
			 "matrix[0][1]=y\n"
			 "list[1]=second\n"
			 "list[0]=first\n"
			 "long=one \\\n"
			 "      two \\\n"
			 "  three\n"
			 "esc\\=key\\:x\\ y=\\ lead\\ttab\\nnl \\u00e9\\uD83D\\uDE00 \\q\n"
			 "empty=\n"
			 "bare\n"
			 "eq==x\n"
			 "win=crlf\r\n"
			 "mac=cr\r"
			 "again=1\n"
			 "again=1\n"
			 "last\\\\\n"
			 "end=trailing\\";

	CHECK_CONV(
	    "properties", in, "json",
	    "{\n"
	    "  \"server\": {\n    \"port\": \"8080\",\n    \"host\": \"db\",\n"
	    "    \"name\": \"main node\"\n  },\n"
	    "  \"servers\": [\n    {\n      \"name\": \"a\",\n      \"port\": \"1\"\n    },\n"
	    "    {\n      \"name\": \"b\"\n    }\n  ],\n"
	    "  \"matrix\": [\n    [\n      \"x\",\n      \"y\"\n    ]\n  ],\n"
	    "  \"list\": [\n    \"first\",\n    \"second\"\n  ],\n"
	    "  \"long\": \"one two three\",\n"
	    "  \"esc=key:x y\": \" lead\\ttab\\nnl \xc3\xa9\xf0\x9f\x98\x80 q\",\n"
	    "  \"empty\": \"\",\n"
	    "  \"bare\": \"\",\n"
	    "  \"eq\": \"=x\",\n"
	    "  \"win\": \"crlf\",\n"
	    "  \"mac\": \"cr\",\n"
	    "  \"again\": \"1\",\n"
	    "  \"last\\\\\": \"\",\n"
	    "  \"end\": \"trailing\"\n"
	    "}\n");
	CHECK_CONV("properties", "a.b=1\na.c[0]=x\n", "yaml", "a:\n  b: \"1\"\n  c:\n    - x\n");
	CHECK_CONV("properties", "", "json", "{}\n");
	CHECK_CONV("properties", "# only\n", "yaml", "{}\n");
}

static void test_props_in_refusals(void)
{
	CHECK_REFUSE("properties", "a=1\na.b=2\n", "json", UNPROC,
		     "key 'a.b' (line 2) needs 'a' to be an object, but line 1 gives it a value");
	CHECK_REFUSE("properties", "a.b=2\n\na=1\n", "json", UNPROC,
		     "key 'a' (line 3) gives 'a' a value, but line 1 makes it an object");
	CHECK_REFUSE("properties", "a[0]=x\na.x=y\n", "json", UNPROC,
		     "key 'a.x' (line 2) needs 'a' to be an object, but line 1 makes it a list");
	CHECK_REFUSE("properties", "a.x=y\na[0]=x\n", "yaml", UNPROC,
		     "key 'a[0]' (line 2) needs 'a' to be a list, but line 1 makes it an object");
	CHECK_REFUSE("properties", "a[0]=x\na[2]=z\n", "json", UNPROC,
		     "key 'a[2]' (line 2) leaves a gap: there is no 'a[1]'");
	CHECK_REFUSE("properties", "s.l[1].n=x\n", "json", UNPROC,
		     "key 's.l[1]' (line 1) leaves a gap: there is no 's.l[0]'");
	CHECK_REFUSE("properties", "a=1\nb=2\na=3\n", "json", UNPROC,
		     "key 'a' (line 3) repeats line 1 with a different value");
	CHECK_REFUSE("properties", "a..b=1\n", "json", UNPROC,
		     "key 'a..b' (line 1) cannot nest: it has an empty part");
	CHECK_REFUSE("properties", "x=1\n.a=1\n", "json", UNPROC,
		     "key '.a' (line 2) cannot nest: it has an empty part");
	CHECK_REFUSE("properties", "a.=1\n", "json", UNPROC, "it has an empty part");
	CHECK_REFUSE("properties", "=v\n", "json", UNPROC,
		     "key '' (line 1) cannot nest: it is empty");
	CHECK_REFUSE("properties", "a[01]=1\n", "json", UNPROC, "it has a malformed [index]");
	CHECK_REFUSE("properties", "a[x]=1\n", "json", UNPROC, "it has a malformed [index]");
	CHECK_REFUSE("properties", "a[0]b=1\n", "json", UNPROC, "it has a malformed [index]");
	CHECK_REFUSE("properties", "a]=1\n", "json", UNPROC, "it has a malformed [index]");
	CHECK_REFUSE("properties", "a[]=1\n", "json", UNPROC, "it has a malformed [index]");
	CHECK_REFUSE("properties", "a[10000000]=1\n", "json", UNPROC, "malformed [index]");
	CHECK_REFUSE("properties", "a=\\u12\n", "json", UNPROC,
		     "a malformed \\uXXXX escape (line 1)");
	CHECK_REFUSE("properties", "\n\na=\\uD800x\n", "json", UNPROC,
		     "\\uD800 is half a surrogate pair (line 3)");
	CHECK_REFUSE("properties", "a=\\uDC00\n", "json", UNPROC, "half a surrogate pair");
	CHECK_REFUSE("properties", "a=\xc3\n", "json", UNPROC, "not valid UTF-8");
}

static void test_props_out(void)
{
	CHECK_CONV("json",
		   "{\"server\": {\"port\": 8080, \"tls\": true, \"hosts\": [\"a\", \"b\"]},"
		   " \"m\": [[1, 2], [{\"x\": 1.5e3}]], \"s\": \"x\"}",
		   "properties",
		   "server.port=8080\nserver.tls=true\nserver.hosts[0]=a\nserver.hosts[1]=b\n"
		   "m[0][0]=1\nm[0][1]=2\nm[1][0].x=1.5e3\ns=x\n");
	/* Escaping: separators, blanks and # ! in keys; leading blank, controls
	 * and backslashes in values. */
	CHECK_CONV("json",
		   "{\"a=b:c d#e!f\": \" v=1:2 #x !y\", \"t\": \"tab\\tnl\\ncr\\rff\\fbs\\\\\","
		   " \"c\": \"\\u0001\\u007f\", \"u\": \"\xc3\xa9\", \"#k\": \"\"}",
		   "properties",
		   "a\\=b\\:c\\ d\\#e\\!f=\\ v=1:2 #x !y\nt=tab\\tnl\\ncr\\rff\\fbs\\\\\n"
		   "c=\\u0001\\u007F\nu=\xc3\xa9\n\\#k=\n");
	CHECK_CONV("json", "{}", "properties", "");
	CHECK_CONV("yaml", "a:\n  b: 1\n", "properties", "a.b=1\n");
}

static void test_props_out_refusals(void)
{
	CHECK_REFUSE("json", "{\n  \"a\": {\n    \"b\": {}\n  }\n}", "properties", UNPROC,
		     "cannot convert to properties: key 'a.b' holds an empty object (line 3)");
	CHECK_REFUSE("yaml", "a:\n  - x\n  - []\n", "properties", UNPROC,
		     "cannot convert to properties: key 'a[1]' holds an empty list (line 3)");
	CHECK_REFUSE("yaml", "a:\n  b: ~\n", "properties", UNPROC,
		     "cannot convert to properties: key 'a.b' holds null, which properties cannot "
		     "express (line 2)");
	CHECK_REFUSE("json", "{\"servers\": [{\"x\": 1}, {\"y\": 2}, {\"a.b\": 1}]}", "properties",
		     UNPROC,
		     "key 'a.b' at $.servers[2] contains '.', which properties would read as "
		     "nesting (line 1)");
	CHECK_REFUSE("json", "{\"x[0]\": 1}", "properties", UNPROC, "key 'x[0]' at $ contains '['");
	CHECK_REFUSE("json", "{\"x]\": 1}", "properties", UNPROC, "contains ']'");
	CHECK_REFUSE("json", "{\"a\": {\"\": 1}}", "properties", UNPROC,
		     "cannot convert to properties: an empty key at $.a (line 1)");
	CHECK_REFUSE("json", "[1]", "properties", UNPROC,
		     "cannot convert to properties: the document is a list, not an object");
	CHECK_REFUSE("json", "\"s\"", "properties", UNPROC, "the document is a string");
	CHECK_REFUSE("yaml", "", "properties", UNPROC, "the document is null");
}

static void test_out_cap(void)
{
	sbuf out = SBUF_INIT(20), why = SBUF_INIT(4096);

	sbuf_addstr(&out, "0123456789");
	CHECK_EQ_INT(conv_convert("json", "{\"a\": \"bbbbbbbbbb\"}", 19, "yaml", &out, &why),
		     HC_ERR_TOO_BIG);
	CHECK_EQ_STR(out.buf, "0123456789");
	CHECK(strstr(why.buf, "would pass 10 bytes") != NULL);
	sbuf_reset(&why);
	CHECK_EQ_INT(conv_convert("json", "[1]", 3, "yaml", &out, &why), HC_OK);
	CHECK_EQ_STR(out.buf, "0123456789- 1\n");
	sbuf_release(&out);
	sbuf_release(&why);
}

/* ---- generated round trips ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Strings made of pieces that trip quoting and escaping up. */
static void gen_text(sbuf *sb, int props_key)
{
	static const char *const pieces[] = {"a",
					     "Z",
					     "word",
					     " ",
					     ":",
					     ": ",
					     "#",
					     " #",
					     "-",
					     "- ",
					     "'",
					     "\"",
					     "\\",
					     "\n",
					     "\t",
					     "0",
					     "12",
					     "1.5",
					     "yes",
					     "null",
					     "true",
					     "~",
					     "<<",
					     "&a",
					     "*a",
					     "!",
					     "|",
					     ">",
					     "%",
					     "@",
					     "`",
					     "[",
					     "{",
					     ",",
					     "\xc3\xa9",
					     "\xf0\x9f\x98\x80",
					     "\xe2\x80\xa8",
					     "\xc2\x85",
					     "=",
					     "!x",
					     "\r",
					     "\x01",
					     "---",
					     "...",
					     "0x1F",
					     ".inf",
					     "\\u0041",
					     "\xef\xbb\xbf"};
	unsigned i, n = rnd(5);

	if (!rnd(8))
		return; /* the empty string */
	for (i = 0; i <= n; i++) {
		const char *p = pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))];
		if (props_key && strpbrk(p, ".[]"))
			p = "k";
		sbuf_addstr(sb, p);
	}
}

static void gen_indent(sbuf *sb, unsigned n)
{
	while (n--)
		sbuf_addch(sb, ' ');
}

/* Writes a random value as the JSON writer would lay it out. In props mode
 * only what properties can hold: string leaves, no empty containers, keys
 * without '.', '[' or ']' and not empty. */
static void gen_value(sbuf *sb, int depth, unsigned ind, int props)
{
	static const char *const nums[] = {"0",
					   "-0",
					   "12",
					   "-7",
					   "1.5",
					   "1.50",
					   "2e10",
					   "1E+2",
					   "-0.0e-3",
					   "3.25E-7",
					   "123456789012345678901234567890"};
	sbuf key = SBUF_INIT(SBUF_NOMAX);
	char *keys[6] = {NULL};
	unsigned kind = depth >= 5 ? 0 : rnd(props ? 5 : 6), n, i, j;

	if (props && depth == 0)
		kind = 3;
	if (props && kind < 2)
		kind = 2;
	switch (kind) {
	case 0:
		sbuf_addstr(sb, rnd(3) ? (rnd(2) ? "true" : "false") : "null");
		break;
	case 1:
		sbuf_addstr(sb, nums[rnd(sizeof(nums) / sizeof(nums[0]))]);
		break;
	case 2:
		gen_text(&key, 0);
		sbuf_add_json_str(sb, key.buf, key.len);
		break;
	default:
		n = rnd(5) + (props ? 1 : 0);
		if (!n) {
			sbuf_addstr(sb, kind == 3 ? "{}" : "[]");
			break;
		}
		sbuf_addstr(sb, kind == 3 ? "{\n" : "[\n");
		for (i = 0; i < n; i++) {
			gen_indent(sb, ind + 2);
			if (kind == 3) {
				/* Unique keys: a duplicate gets a suffix. */
				sbuf_reset(&key);
				gen_text(&key, props);
				if (props && !key.len)
					sbuf_addch(&key, 'e');
				for (j = 0; j < i; j++)
					if (!strcmp(keys[j], key.buf))
						break;
				if (j < i)
					sbuf_addf(&key, "_%u", i);
				keys[i] = strdup(key.buf);
				sbuf_add_json_str(sb, key.buf, key.len);
				sbuf_addstr(sb, ": ");
			}
			gen_value(sb, depth + 1, ind + 2, props);
			sbuf_addstr(sb, i + 1 < n ? ",\n" : "\n");
		}
		gen_indent(sb, ind);
		sbuf_addstr(sb, kind == 3 ? "}" : "]");
	}
	for (i = 0; i < 6; i++)
		free(keys[i]);
	sbuf_release(&key);
}

static void test_round_trip_json_yaml(void)
{
	sbuf doc = SBUF_INIT(SBUF_NOMAX), yaml = SBUF_INIT(SBUF_NOMAX);
	sbuf back = SBUF_INIT(SBUF_NOMAX), why = SBUF_INIT(4096);
	int i, bad = 0;

	for (i = 0; i < 400 && bad < 3; i++) {
		sbuf_reset(&doc);
		sbuf_reset(&yaml);
		sbuf_reset(&back);
		sbuf_reset(&why);
		gen_value(&doc, 0, 0, 0);
		sbuf_addch(&doc, '\n');
		if (conv_convert("json", doc.buf, doc.len, "yaml", &yaml, &why) ||
		    conv_convert("yaml", yaml.buf, yaml.len, "json", &back, &why) ||
		    strcmp(doc.buf, back.buf)) {
			bad++;
			fprintf(stderr,
				"round trip %d failed: %s\n--- json\n%s--- yaml\n%s--- back\n%s", i,
				why.buf, doc.buf, yaml.buf, back.buf);
		}
	}
	CHECK_EQ_INT(bad, 0);
	sbuf_release(&doc);
	sbuf_release(&yaml);
	sbuf_release(&back);
	sbuf_release(&why);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of a properties file, sorted: its key/value set. */
static void sorted_lines(const char *s, sbuf *out)
{
	char *copy = strdup(s), *p, **v = NULL;
	size_t n = 0, i;

	for (p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) {
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = p;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	sbuf_reset(out);
	for (i = 0; i < n; i++)
		sbuf_addf(out, "%s\n", v[i]);
	free(v);
	free(copy);
}

/* Rewrites canonical properties lines the way people write them: shuffled,
 * with other separators, comments, blank lines and continuations. */
static void props_variant(const char *canon, sbuf *out)
{
	static const char *const seps[] = {"=", " = ", ":", " : ", " ", "\t", "  =\t"};
	sbuf lines = SBUF_INIT(SBUF_NOMAX);
	char *copy = strdup(canon), *p, **v = NULL;
	size_t n = 0, i, j;

	for (p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) {
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = p;
	}
	for (i = n; i > 1; i--) {
		char *t;
		j = rnd((unsigned)i);
		t = v[i - 1], v[i - 1] = v[j], v[j] = t;
	}
	sbuf_reset(out);
	for (i = 0; i < n; i++) {
		const char *l = v[i];
		size_t k = 0, bs = 0;
		/* The key ends at the first '=' not escaped. */
		while (l[k] && !(l[k] == '=' && !(bs & 1))) {
			bs = l[k] == '\\' ? bs + 1 : 0;
			k++;
		}
		if (!rnd(4))
			sbuf_addstr(out, rnd(2) ? "# a comment\n" : "\n  ! another\n");
		sbuf_addstr(out, rnd(3) ? "" : "   ");
		sbuf_add(out, l, k);
		/* After a blank separator, a leading '=' or ':' would be taken for
		 * the separator (as Java does); the canonical form uses '='. */
		sbuf_addstr(out, l[k + 1] == '=' || l[k + 1] == ':'
				     ? "="
				     : seps[rnd(sizeof(seps) / sizeof(seps[0]))]);
		for (j = k + 1, bs = 0; l[j]; j++) {
			/* Continue the line where a break cannot change the value. */
			if (!(bs & 1) && l[j] != ' ' && l[j] != '\\' && (l[j] & 0xc0) != 0x80 &&
			    j > k + 1 && !rnd(6))
				sbuf_addstr(out, rnd(2) ? "\\\n    " : "\\\r\n\t");
			bs = l[j] == '\\' ? bs + 1 : 0;
			sbuf_addch(out, l[j]);
		}
		sbuf_addstr(out, rnd(2) ? "\n" : "\r\n");
	}
	free(v);
	free(copy);
	sbuf_release(&lines);
}

static void test_round_trip_props(void)
{
	sbuf doc = SBUF_INIT(SBUF_NOMAX), props = SBUF_INIT(SBUF_NOMAX);
	sbuf back = SBUF_INIT(SBUF_NOMAX), again = SBUF_INIT(SBUF_NOMAX);
	sbuf var = SBUF_INIT(SBUF_NOMAX), a = SBUF_INIT(SBUF_NOMAX), b = SBUF_INIT(SBUF_NOMAX);
	sbuf why = SBUF_INIT(4096);
	int i, bad = 0;

	for (i = 0; i < 300 && bad < 3; i++) {
		sbuf_reset(&doc);
		sbuf_reset(&props);
		sbuf_reset(&back);
		sbuf_reset(&again);
		sbuf_reset(&var);
		sbuf_reset(&why);
		gen_value(&doc, 0, 0, 1);
		sbuf_addch(&doc, '\n');
		/* json -> properties -> json is exact for what properties can hold. */
		if (conv_convert("json", doc.buf, doc.len, "properties", &props, &why) ||
		    conv_convert("properties", props.buf, props.len, "json", &back, &why) ||
		    strcmp(doc.buf, back.buf)) {
			bad++;
			fprintf(stderr,
				"props round trip %d: %s\n--- json\n%s--- props\n%s--- back\n%s", i,
				why.buf, doc.buf, props.buf, back.buf);
			continue;
		}
		/* properties (as people write them) -> json -> properties keeps the
		 * key/value set. */
		props_variant(props.buf, &var);
		sbuf_reset(&back);
		if (conv_convert("properties", var.buf, var.len, "json", &back, &why) ||
		    conv_convert("json", back.buf, back.len, "properties", &again, &why)) {
			bad++;
			fprintf(stderr, "variant %d: %s\n--- variant\n%s", i, why.buf, var.buf);
			continue;
		}
		sorted_lines(props.buf, &a);
		sorted_lines(again.buf, &b);
		if (strcmp(a.buf, b.buf)) {
			bad++;
			fprintf(stderr,
				"variant %d differs\n--- variant\n%s--- want\n%s--- got\n%s", i,
				var.buf, a.buf, b.buf);
		}
	}
	CHECK_EQ_INT(bad, 0);
	sbuf_release(&doc);
	sbuf_release(&props);
	sbuf_release(&back);
	sbuf_release(&again);
	sbuf_release(&var);
	sbuf_release(&a);
	sbuf_release(&b);
	sbuf_release(&why);
}

/* ---- archives ---- */

/* Zips written by java.util.zip.ZipOutputStream the way Nacos' ZipUtils.zip
 * writes its exports (deflate, data descriptors, no directories), made once
 * with a few lines of Java and kept as bytes:
 *   nacos_v2:      DEFAULT_GROUP/app.yaml, G2/b.json, .metadata.yml (export v2)
 *   nacos_v1:      the same two files and .meta.yml "G2.b~json.app=svc\r\n"
 *   nacos_v1plain: DEFAULT_GROUP/app.properties alone (v1 without appNames) */
static const unsigned char nacos_v2[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x44, 0x45,
    0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52, 0x4f, 0x55, 0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e,
    0x79, 0x61, 0x6d, 0x6c, 0x2b, 0x4e, 0x2d, 0x2a, 0x4b, 0x2d, 0xb2, 0xe2, 0x52, 0x50, 0x28, 0xc8,
    0x2f, 0x2a, 0xb1, 0x52, 0xb0, 0x30, 0xb0, 0x30, 0xe0, 0x02, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x32,
    0xcf, 0xc5, 0x87, 0x17, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x03, 0x04, 0x14,
    0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x47, 0x32, 0x2f, 0x62, 0x2e, 0x6a, 0x73,
    0x6f, 0x6e, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x52, 0x30, 0xac, 0x05, 0x00, 0x50, 0x4b, 0x07, 0x08,
    0x97, 0x8e, 0xa1, 0xfb, 0x0a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x03, 0x04,
    0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x2e, 0x6d, 0x65, 0x74, 0x61, 0x64,
    0x61, 0x74, 0x61, 0x2e, 0x79, 0x6d, 0x6c, 0xcb, 0x4d, 0x2d, 0x49, 0x4c, 0x49, 0x2c, 0x49, 0xb4,
    0xe2, 0xd2, 0x55, 0x48, 0x2c, 0x28, 0xf0, 0x4b, 0xcc, 0x4d, 0xb5, 0x52, 0x50, 0x57, 0xe7, 0x52,
    0x50, 0x00, 0x89, 0x7a, 0xa6, 0x58, 0x81, 0x44, 0xf5, 0x2a, 0x13, 0x73, 0x73, 0x40, 0x42, 0xa9,
    0xc5, 0xc9, 0x56, 0x0a, 0x25, 0x19, 0xa9, 0x20, 0x41, 0x20, 0x3f, 0xbd, 0x28, 0xbf, 0xb4, 0xc0,
    0x4a, 0xc1, 0xc5, 0xd5, 0xcd, 0x31, 0xd4, 0x27, 0x24, 0xde, 0x3d, 0xc8, 0x3f, 0x34, 0x00, 0x28,
    0x5c, 0x52, 0x59, 0x00, 0x34, 0x04, 0xac, 0x47, 0x57, 0xa1, 0x1a, 0x6e, 0x6a, 0x71, 0x59, 0xb2,
    0x0e, 0xdc, 0xd4, 0x24, 0xbd, 0xac, 0xe2, 0xfc, 0x3c, 0x1d, 0x98, 0x11, 0xee, 0x46, 0x3a, 0x50,
    0x6d, 0x20, 0xe1, 0x5a, 0x2e, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x68, 0x49, 0x4d, 0x87, 0x6f, 0x00,
    0x00, 0x00, 0x97, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x00, 0x14, 0x00, 0x08, 0x08,
    0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x32, 0xcf, 0xc5, 0x87, 0x17, 0x00, 0x00, 0x00, 0x15, 0x00,
    0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x44, 0x45, 0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52, 0x4f, 0x55,
    0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e, 0x79, 0x61, 0x6d, 0x6c, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x00,
    0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x97, 0x8e, 0xa1, 0xfb, 0x0a, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x47, 0x32, 0x2f, 0x62, 0x2e, 0x6a, 0x73, 0x6f,
    0x6e, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x00, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82,
    0x5d, 0x68, 0x49, 0x4d, 0x87, 0x6f, 0x00, 0x00, 0x00, 0x97, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x00, 0x00, 0x00, 0x2e,
    0x6d, 0x65, 0x74, 0x61, 0x64, 0x61, 0x74, 0x61, 0x2e, 0x79, 0x6d, 0x6c, 0x50, 0x4b, 0x05, 0x06,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x00, 0xb6, 0x00, 0x00, 0x00, 0x46, 0x01, 0x00, 0x00,
    0x00, 0x00};

static const unsigned char nacos_v1[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x44, 0x45,
    0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52, 0x4f, 0x55, 0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e,
    0x79, 0x61, 0x6d, 0x6c, 0x2b, 0x4e, 0x2d, 0x2a, 0x4b, 0x2d, 0xb2, 0xe2, 0x52, 0x50, 0x28, 0xc8,
    0x2f, 0x2a, 0xb1, 0x52, 0xb0, 0x30, 0xb0, 0x30, 0xe0, 0x02, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x32,
    0xcf, 0xc5, 0x87, 0x17, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x03, 0x04, 0x14,
    0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x47, 0x32, 0x2f, 0x62, 0x2e, 0x6a, 0x73,
    0x6f, 0x6e, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x52, 0x30, 0xac, 0x05, 0x00, 0x50, 0x4b, 0x07, 0x08,
    0x97, 0x8e, 0xa1, 0xfb, 0x0a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x03, 0x04,
    0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x2e, 0x6d, 0x65, 0x74, 0x61, 0x2e,
    0x79, 0x6d, 0x6c, 0x73, 0x37, 0xd2, 0x4b, 0xaa, 0xcb, 0x2a, 0xce, 0xcf, 0xd3, 0x4b, 0x2c, 0x28,
    0xb0, 0x2d, 0x2e, 0x4b, 0xe6, 0xe5, 0x02, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x70, 0xfe, 0x6a, 0x9d,
    0x15, 0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x00, 0x14, 0x00,
    0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x32, 0xcf, 0xc5, 0x87, 0x17, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x45, 0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52,
    0x4f, 0x55, 0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e, 0x79, 0x61, 0x6d, 0x6c, 0x50, 0x4b, 0x01, 0x02,
    0x14, 0x00, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x97, 0x8e, 0xa1, 0xfb,
    0x0a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x47, 0x32, 0x2f, 0x62, 0x2e, 0x6a,
    0x73, 0x6f, 0x6e, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x00, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d,
    0x42, 0x82, 0x5d, 0x70, 0xfe, 0x6a, 0x9d, 0x15, 0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x09,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x00, 0x00,
    0x00, 0x2e, 0x6d, 0x65, 0x74, 0x61, 0x2e, 0x79, 0x6d, 0x6c, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x00, 0x03, 0x00, 0xb2, 0x00, 0x00, 0x00, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00};

static const unsigned char nacos_v1plain[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x44, 0x45,
    0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52, 0x4f, 0x55, 0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e,
    0x70, 0x72, 0x6f, 0x70, 0x65, 0x72, 0x74, 0x69, 0x65, 0x73, 0x4b, 0xb4, 0x35, 0xe4, 0x02, 0x00,
    0x50, 0x4b, 0x07, 0x08, 0x15, 0xd7, 0xe5, 0xa8, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
    0x50, 0x4b, 0x01, 0x02, 0x14, 0x00, 0x14, 0x00, 0x08, 0x08, 0x08, 0x00, 0x0d, 0x42, 0x82, 0x5d,
    0x15, 0xd7, 0xe5, 0xa8, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x45,
    0x46, 0x41, 0x55, 0x4c, 0x54, 0x5f, 0x47, 0x52, 0x4f, 0x55, 0x50, 0x2f, 0x61, 0x70, 0x70, 0x2e,
    0x70, 0x72, 0x6f, 0x70, 0x65, 0x72, 0x74, 0x69, 0x65, 0x73, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x4a, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00};

static const arch_limits lim_default = ARCH_LIMITS_DEFAULT;

/* One entry for mkzip(): a raw name, data, and how to store it. */
typedef struct zent {
	const char *name;
	const char *data;
	size_t len;
	int store; /* 1: ZIP_CM_STORE, else deflate */
} zent;

/* A zip being built in memory with libzip itself. */
static zip_t *zip_start(zip_source_t **src)
{
	zip_error_t ze;
	zip_t *za;

	zip_error_init(&ze);
	*src = zip_source_buffer_create(NULL, 0, 0, &ze);
	zip_source_keep(*src);
	za = zip_open_from_source(*src, ZIP_TRUNCATE, &ze);
	zip_error_fini(&ze);
	return za;
}

static void zip_end(zip_t *za, zip_source_t *src, sbuf *out)
{
	zip_stat_t st;

	zip_close(za);
	zip_stat_init(&st);
	zip_source_stat(src, &st);
	sbuf_reset(out);
	sbuf_grow(out, (size_t)st.size);
	zip_source_open(src);
	out->len = (size_t)zip_source_read(src, out->buf, st.size);
	out->buf[out->len] = '\0';
	zip_source_close(src);
	zip_source_free(src);
}

/* Builds a zip of z[0..n); names are taken as raw bytes. */
static void mkzip(const zent *z, size_t n, sbuf *out)
{
	zip_source_t *src;
	zip_t *za = zip_start(&src);
	size_t i;

	for (i = 0; i < n; i++) {
		zip_source_t *s = zip_source_buffer(za, z[i].data, z[i].len, 0);
		zip_int64_t idx = zip_file_add(za, z[i].name, s, ZIP_FL_ENC_RAW);
		zip_set_file_compression(za, (zip_uint64_t)idx,
					 z[i].store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
	}
	zip_end(za, src, out);
}

/* Replaces every occurrence of from with to (both n bytes): a hand edit. */
static int patch(sbuf *z, const char *from, const char *to, size_t n)
{
	size_t i;
	int hits = 0;

	for (i = 0; i + n <= z->len; i++)
		if (!memcmp(z->buf + i, from, n)) {
			memcpy(z->buf + i, to, n);
			hits++;
		}
	return hits;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

/* The offsets of the first local header and first central header. */
static size_t central_at(const sbuf *z)
{
	size_t i;

	for (i = 0; i + 4 <= z->len; i++)
		if (!memcmp(z->buf + i, "PK\1\2", 4))
			return i;
	return 0;
}

#define CHECK_ARCH_REFUSE(zbuf, zlen, lim, msg)                                                    \
	do {                                                                                       \
		arch_entries e_;                                                                   \
		sbuf w_ = SBUF_INIT(4096);                                                         \
		arch_entries_init(&e_);                                                            \
		CHECK_EQ_INT(arch_read(zbuf, zlen, lim, &e_, &w_), HC_ERR_INVALID);                \
		CHECK_EQ_INT(e_.n, 0);                                                             \
		CHECK(e_.v == NULL);                                                               \
		if (!strstr(w_.buf, msg)) {                                                        \
			fprintf(stderr, "  why: %s\n  wanted: %s\n", w_.buf, msg);                 \
			CHECK(strstr(w_.buf, msg) != NULL);                                        \
		}                                                                                  \
		arch_entries_release(&e_);                                                         \
		sbuf_release(&w_);                                                                 \
	} while (0)

static void test_archive_round_trip(void)
{
	static const char want_manifest[] =
	    "{\n  \"format\": \"hotconf-export/1\",\n  \"namespace\": \"team-a\",\n"
	    "  \"configs\": [\n    {\n      \"group\": \"DEFAULT_GROUP\",\n"
	    "      \"dataId\": \"app.yaml\",\n      \"format\": \"yaml\",\n"
	    "      \"description\": \"the app \xc3\xa9\",\n      \"version\": 3,\n"
	    "      \"md5\": \"";
	static const char bin[] = "nul\0inside";
	const arch_export_item items[] = {
	    {"DEFAULT_GROUP", "app.yaml", "yaml", "the app \xc3\xa9", 3, "a: 1\n", 5},
	    {"DEFAULT_GROUP", "empty.txt", "text", NULL, 1, "", 0},
	    {"g:2", "bin.v1", "text", "\"quoted\"", 12, bin, sizeof(bin) - 1},
	    {"G3", "p.properties", "properties", "", 9007199254740991LL, "x=1\n", 4},
	};
	sbuf z = SBUF_INIT(1 << 20), z2 = SBUF_INIT(1 << 20), why = SBUF_INIT(4096);
	arch_entries e;
	size_t i;

	arch_entries_init(&e);
	REQUIRE(arch_export(items, 4, "team-a", &z) == HC_OK);
	REQUIRE(arch_export(items, 4, "team-a", &z2) == HC_OK);
	/* Same input, same bytes: no clock in the zip. */
	CHECK_EQ_INT(z.len, z2.len);
	CHECK(!memcmp(z.buf, z2.buf, z.len));
	REQUIRE(arch_read(z.buf, z.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.layout, ARCH_HOTCONF);
	CHECK_EQ_STR(e.ns, "team-a");
	REQUIRE(e.n == 4);
	for (i = 0; i < 4; i++) {
		CHECK_EQ_STR(e.v[i].group, items[i].group);
		CHECK_EQ_STR(e.v[i].data_id, items[i].data_id);
		CHECK_EQ_STR(e.v[i].format, items[i].format);
		CHECK_EQ_STR(e.v[i].description, items[i].description ? items[i].description : "");
		CHECK_EQ_INT(e.v[i].version, items[i].version);
		CHECK_EQ_INT(e.v[i].len, items[i].len);
		CHECK(!memcmp(e.v[i].content, items[i].content, items[i].len));
	}
	arch_entries_release(&e);
	/* The manifest as a person reads it. */
	{
		zip_error_t ze;
		zip_source_t *src;
		zip_t *za;
		zip_file_t *zf;
		char buf[2048];
		zip_int64_t n;
		zip_error_init(&ze);
		src = zip_source_buffer_create(z.buf, z.len, 0, &ze);
		za = zip_open_from_source(src, ZIP_RDONLY, &ze);
		REQUIRE(za != NULL);
		CHECK_EQ_STR(zip_get_name(za, 0, 0), "manifest.json");
		CHECK_EQ_STR(zip_get_name(za, 3, 0), "g:2/bin.v1");
		zf = zip_fopen_index(za, 0, 0);
		n = zip_fread(zf, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		zip_fclose(zf);
		zip_discard(za);
		zip_error_fini(&ze);
		CHECK(!strncmp(buf, want_manifest, strlen(want_manifest)));
	}
	/* An empty namespace still exports its manifest, and reads back empty. */
	sbuf_reset(&z);
	REQUIRE(arch_export(NULL, 0, "empty", &z) == HC_OK);
	REQUIRE(arch_read(z.buf, z.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.n, 0);
	CHECK_EQ_STR(e.ns, "empty");
	arch_entries_release(&e);
	sbuf_release(&z);
	sbuf_release(&z2);
	sbuf_release(&why);
}

static void test_archive_export_invalid(void)
{
	arch_export_item it = {"DEFAULT_GROUP", "a.yaml", "yaml", "", 1, "a: 1", 4};
	arch_export_item two[2];
	sbuf z = SBUF_INIT(1 << 20);

	it.group = "..";
	CHECK_EQ_INT(arch_export(&it, 1, "ns", &z), HC_ERR_INVALID);
	it.group = "a/b";
	CHECK_EQ_INT(arch_export(&it, 1, "ns", &z), HC_ERR_INVALID);
	it.group = "G";
	it.data_id = "";
	CHECK_EQ_INT(arch_export(&it, 1, "ns", &z), HC_ERR_INVALID);
	it.data_id = "a.yaml";
	it.format = "toml";
	CHECK_EQ_INT(arch_export(&it, 1, "ns", &z), HC_ERR_INVALID);
	it.format = "yaml";
	two[0] = two[1] = it;
	CHECK_EQ_INT(arch_export(two, 2, "ns", &z), HC_ERR_INVALID);
	CHECK_EQ_INT(z.len, 0);
	/* Over the output's cap: 413, output untouched. */
	z.max = 100;
	CHECK_EQ_INT(arch_export(&it, 1, "ns", &z), HC_ERR_TOO_BIG);
	CHECK_EQ_INT(z.len, 0);
	sbuf_release(&z);
}

static void test_archive_writer(void)
{
	arch_writer *w = arch_writer_new();
	sbuf z = SBUF_INIT(1 << 20), why = SBUF_INIT(4096);
	arch_entries e;

	arch_entries_init(&e);
	CHECK_EQ_INT(arch_add(w, "", "x", 1), HC_ERR_INVALID);
	CHECK_EQ_INT(arch_add(w, "G/a", "x", 1), HC_OK);
	CHECK_EQ_INT(arch_add(w, "G/a", "y", 1), HC_ERR_INVALID);
	CHECK_EQ_INT(arch_finish(w, &z), HC_OK);
	CHECK_EQ_INT(arch_add(w, "G/b", "y", 1), HC_ERR_INTERNAL); /* spent */
	CHECK_EQ_INT(arch_finish(w, &z), HC_ERR_INTERNAL);
	arch_writer_free(w);
	/* A plain zip of group/dataId files reads as Nacos v1 without metadata. */
	REQUIRE(arch_read(z.buf, z.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.layout, ARCH_NACOS_V1);
	REQUIRE(e.n == 1);
	CHECK_EQ_STR(e.v[0].content, "x");
	CHECK(e.v[0].format == NULL);
	CHECK(e.v[0].description == NULL);
	CHECK(e.ns == NULL);
	arch_entries_release(&e);
	/* An empty writer makes a valid empty zip, which holds no configs. */
	sbuf_reset(&z);
	w = arch_writer_new();
	CHECK_EQ_INT(arch_finish(w, &z), HC_OK);
	arch_writer_free(w);
	CHECK_EQ_INT(z.len, 22);
	CHECK_ARCH_REFUSE(z.buf, z.len, &lim_default, "the archive holds no configs");
	arch_writer_free(NULL);
	sbuf_release(&z);
	sbuf_release(&why);
}

static void test_archive_nacos(void)
{
	sbuf why = SBUF_INIT(4096);
	arch_entries e;

	arch_entries_init(&e);
	REQUIRE(arch_read(nacos_v2, sizeof(nacos_v2), &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.layout, ARCH_NACOS_V2);
	REQUIRE(e.n == 2);
	CHECK_EQ_STR(e.v[0].group, "DEFAULT_GROUP");
	CHECK_EQ_STR(e.v[0].data_id, "app.yaml");
	CHECK_EQ_STR(e.v[0].content, "server:\n  port: 8080\n");
	CHECK_EQ_STR(e.v[0].format, "yaml");
	CHECK_EQ_STR(e.v[0].description, "the app");
	CHECK_EQ_STR(e.v[1].group, "G2");
	CHECK_EQ_STR(e.v[1].data_id, "b.json");
	CHECK_EQ_STR(e.v[1].content, "{\"a\": 1}");
	CHECK_EQ_STR(e.v[1].format, "json");
	CHECK(e.v[1].description == NULL);
	CHECK(e.ns == NULL);
	arch_entries_release(&e);
	REQUIRE(arch_read(nacos_v1, sizeof(nacos_v1), &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.layout, ARCH_NACOS_V1);
	REQUIRE(e.n == 2);
	CHECK_EQ_STR(e.v[1].data_id, "b.json");
	CHECK(e.v[1].format == NULL);
	arch_entries_release(&e);
	REQUIRE(arch_read(nacos_v1plain, sizeof(nacos_v1plain), &lim_default, &e, &why) == HC_OK);
	REQUIRE(e.n == 1);
	CHECK_EQ_STR(e.v[0].data_id, "app.properties");
	CHECK_EQ_STR(e.v[0].content, "a=1\n");
	arch_entries_release(&e);
	sbuf_release(&why);
}

/* Nacos v2 metadata and the files must match one to one. */
static void test_archive_nacos_mismatch(void)
{
	static const char meta_ok[] = "metadata:\n- dataId: a.yaml\n  group: G\n  type: yaml\n";
	static const char meta_extra[] = "metadata:\n- {dataId: a.yaml, group: G, type: yaml}\n"
					 "- {dataId: gone.yaml, group: G, type: yaml}\n";
	static const char meta_twice[] = "metadata:\n- {dataId: a.yaml, group: G, type: yaml}\n"
					 "- {dataId: a.yaml, group: G, type: json}\n";
	static const char meta_notype[] = "metadata:\n- {dataId: a.yaml, group: G}\n";
	static const char meta_bad[] = "metadata: [\n";
	static const char meta_bomb[] = "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,"
					"*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d "
					"[*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,"
					"*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
	static const char meta_html[] = "metadata:\n- {dataId: a.yaml, group: G, type: HTML}\n";
	zent z[3] = {{"G/a.yaml", "a: 1\n", 5, 0},
		     {".metadata.yml", meta_ok, sizeof(meta_ok) - 1, 0},
		     {"G/b.yaml", "b: 1\n", 5, 0}};
	sbuf zip = SBUF_INIT(1 << 20), why = SBUF_INIT(4096);
	arch_entries e;

	arch_entries_init(&e);
	mkzip(z, 3, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "archive entry 'G/b.yaml' is not listed in .metadata.yml");
	z[1].data = meta_extra, z[1].len = sizeof(meta_extra) - 1;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  ".metadata.yml lists 'G/gone.yaml', which is not in the archive");
	z[1].data = meta_twice, z[1].len = sizeof(meta_twice) - 1;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, ".metadata.yml lists 'G/a.yaml' twice");
	z[1].data = meta_notype, z[1].len = sizeof(meta_notype) - 1;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "item 1 needs dataId, group and type");
	z[1].data = meta_bad, z[1].len = sizeof(meta_bad) - 1;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, ".metadata.yml does not parse");
	z[1].data = meta_bomb, z[1].len = sizeof(meta_bomb) - 1;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "alias bomb");
	/* A type hotconf has no format for is text. */
	z[1].data = meta_html, z[1].len = sizeof(meta_html) - 1;
	mkzip(z, 2, &zip);
	REQUIRE(arch_read(zip.buf, zip.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_STR(e.v[0].format, "text");
	arch_entries_release(&e);
	/* Both metadata files, or hotconf's and Nacos' together. */
	z[1].name = ".meta.yml", z[1].data = "G.a~yaml.app=x\r\n", z[1].len = 16;
	z[2].name = ".metadata.yml", z[2].data = meta_ok, z[2].len = sizeof(meta_ok) - 1;
	mkzip(z, 3, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "both .meta.yml and .metadata.yml");
	z[2].name = "manifest.json";
	mkzip(z, 3, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "both manifest.json and Nacos metadata");
	/* v1 metadata lines must be key=value, as Nacos requires. */
	z[1].data = "G.a~yaml.app\r\n", z[1].len = 14;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  ".meta.yml: 'G.a~yaml.app' is not group.dataId.app=appName");
	sbuf_release(&zip);
	sbuf_release(&why);
}

static void test_archive_manifest_errors(void)
{
	const arch_export_item it = {"G", "a.yaml", "yaml", "", 1, "a: 1\n", 5};
	zent z[3] = {
	    {"manifest.json", NULL, 0, 0}, {"G/a.yaml", "a: 2\n", 5, 0}, {"G/b.yaml", "b", 1, 0}};
	sbuf zip = SBUF_INIT(1 << 20), man = SBUF_INIT(1 << 20);
	arch_entries e;

	arch_entries_init(&e);
	/* Take hotconf's own manifest and pair it with other files. */
	REQUIRE(arch_export(&it, 1, "ns", &zip) == HC_OK);
	{
		arch_entries tmp;
		sbuf why = SBUF_INIT(4096);
		arch_entries_init(&tmp);
		REQUIRE(arch_read(zip.buf, zip.len, &lim_default, &tmp, &why) == HC_OK);
		arch_entries_release(&tmp);
		sbuf_release(&why);
	}
	sbuf_addstr(&man, "{\n  \"format\": \"hotconf-export/1\",\n  \"namespace\": \"ns\",\n"
			  "  \"configs\": [{\"group\": \"G\", \"dataId\": \"a.yaml\", \"format\": "
			  "\"yaml\", \"description\": \"\", \"version\": 1, \"md5\": "
			  "\"b7b5b1a8c0d1ad8b0a0a4b1a6b1a1b2b\"}]\n}\n");
	z[0].data = man.buf, z[0].len = man.len;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "archive entry 'G/a.yaml' has md5 ");
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "but manifest.json says b7b5b1a8c0d1ad8b0a0a4b1a6b1a1b2b");
	z[1].data = "a: 1\n";
	mkzip(z, 3, &zip);
	/* md5("a: 1\n") is not that one either; fix the manifest's md5. */
	{
		char sum[33];
		md5_hex("a: 1\n", 5, sum);
		patch(&man, "b7b5b1a8c0d1ad8b0a0a4b1a6b1a1b2b", sum, 32);
		z[0].data = man.buf;
	}
	mkzip(z, 2, &zip);
	{
		sbuf why = SBUF_INIT(4096);
		REQUIRE(arch_read(zip.buf, zip.len, &lim_default, &e, &why) == HC_OK);
		CHECK_EQ_INT(e.n, 1);
		arch_entries_release(&e);
		sbuf_release(&why);
	}
	mkzip(z, 3, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "archive entry 'G/b.yaml' is not listed in manifest.json");
	z[1].name = "G/c.yaml";
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "manifest.json lists 'G/a.yaml', which is not in the archive");
	z[1].name = "G/a.yaml";
	patch(&man, "hotconf-export/1", "hotconf-export/9", 16);
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "manifest.json has format 'hotconf-export/9'; this hotconf reads "
			  "hotconf-export/1");
	patch(&man, "hotconf-export/9", "hotconf-export/1", 16);
	patch(&man, "\"version\": 1", "\"version\": x", 12);
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "manifest.json is not a JSON object");
	patch(&man, "\"version\": x", "\"version\": -", 12);
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "manifest.json");
	patch(&man, "\"version\": -", "\"vers1on\": 1", 12);
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "manifest.json: configs[0] needs group, dataId, format");
	sbuf_release(&zip);
	sbuf_release(&man);
}

static void test_archive_hostile_names(void)
{
	static const struct {
		const char *name, *msg;
	} cases[] = {
	    {"../etc/passwd", "'../etc/passwd' climbs out with '..'"},
	    {"G/../x", "climbs out with '..'"},
	    {"G/..", "climbs out with '..'"},
	    {"./G/a", "has a '.' segment"},
	    {"G/.", "has a '.' segment"},
	    {"/etc/passwd", "'/etc/passwd' is an absolute path"},
	    {"G\\a", "contains a backslash"},
	    {"G//a", "has an empty path segment"},
	    {"G/a/b", "'G/a/b' is not group/dataId"},
	    {"G/a/", "is not group/dataId"},
	    {"lonely.yaml", "'lonely.yaml' is not group/dataId"},
	    {".meta", "'.meta' is not group/dataId"},
	    {"G/a b", "has a dataId that is not a valid name"},
	    {"G G/a", "has a group that is not a valid name"},
	    {"G/\xff\xfe", "'G/\\xff\\xfe' is not valid UTF-8"},
	    {"G/caf\xc3\xa9", "has a dataId that is not a valid name"},
	    {"G/"
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	     "not a valid name"},
	};
	zent z[2] = {{"G/ok", "ok", 2, 0}, {NULL, "x", 1, 0}};
	sbuf zip = SBUF_INIT(1 << 20), why = SBUF_INIT(4096);
	arch_entries e;
	size_t i;

	arch_entries_init(&e);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		z[1].name = cases[i].name;
		mkzip(z, 2, &zip);
		CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, cases[i].msg);
	}
	/* A directory entry "G/" (zip -r makes them) is skipped. */
	z[1].name = "G/", z[1].len = 0;
	mkzip(z, 2, &zip);
	REQUIRE(arch_read(zip.buf, zip.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.n, 1);
	arch_entries_release(&e);
	/* Exact duplicates, made by renaming G/b to G/a in both headers. */
	z[1].name = "G/ob", z[1].len = 1;
	z[0].name = "G/oa";
	mkzip(z, 2, &zip);
	CHECK_EQ_INT(patch(&zip, "G/ob", "G/oa", 4), 2);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "two archive entries have the same name");
	/* A NUL inside a name cannot cut it short (libzip reads it as a blank). */
	z[1].name = "G/ok\x01../../x";
	mkzip(z, 2, &zip);
	CHECK_EQ_INT(patch(&zip, "ok\x01", "ok\0", 3), 2);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "'G/ok ../../x'");
	/* Names are case-sensitive: G/oa and G/OA are two configs. */
	z[1].name = "G/OA";
	mkzip(z, 2, &zip);
	REQUIRE(arch_read(zip.buf, zip.len, &lim_default, &e, &why) == HC_OK);
	CHECK_EQ_INT(e.n, 2);
	arch_entries_release(&e);
	sbuf_release(&zip);
	sbuf_release(&why);
}

static void test_archive_hostile_sizes(void)
{
	arch_limits lim = {4, 1 << 20, 3 << 19, 100};
	char *zeros = calloc(1, 2 << 20), *noise = malloc(700 << 10);
	zent z[5] = {{"G/a", "a", 1, 0},
		     {"G/b", "b", 1, 0},
		     {"G/c", "c", 1, 0},
		     {"G/d", "d", 1, 0},
		     {"G/e", "e", 1, 0}};
	sbuf zip = SBUF_INIT(8 << 20);
	unsigned x = 1;
	size_t i, cd;

	for (i = 0; i < (700u << 10); i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (char)(x >> 16);
	}
	/* More entries than the cap. */
	mkzip(z, 5, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim, "the archive has 5 entries, over the cap of 4");
	/* One entry over the size cap, by its header. */
	z[0].data = zeros, z[0].len = 2 << 20;
	mkzip(z, 1, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim,
			  "archive entry 'G/a' would inflate to 2097152 bytes, over the "
			  "1048576-byte cap");
	/* Each under the cap, together over it. */
	for (i = 0; i < 3; i++)
		z[i].data = noise, z[i].len = 700 << 10;
	mkzip(z, 3, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim,
			  "the archive would inflate to more than 1572864 bytes");
	/* A ratio no config has: 1 MiB of zeros deflates to about 1 KiB. */
	z[0].data = zeros, z[0].len = 1 << 20;
	mkzip(z, 1, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim, "over the 100:1 cap (a zip bomb?)");
	/* A bomb whose headers lie: they say 100 bytes, it inflates to 1 MiB. */
	cd = central_at(&zip);
	REQUIRE(cd > 0);
	put32((unsigned char *)zip.buf + 22, 100);
	put32((unsigned char *)zip.buf + cd + 24, 100);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "archive entry 'G/a' inflates past the 100 bytes its header declares");
	/* And one that says more than it has. */
	z[0].data = "short", z[0].len = 5, z[0].store = 1;
	mkzip(z, 1, &zip);
	cd = central_at(&zip);
	put32((unsigned char *)zip.buf + 22, 50);
	put32((unsigned char *)zip.buf + cd + 24, 50);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "archive entry 'G/a' is corrupt");
	/* A flipped byte: the CRC no longer matches. */
	mkzip(z, 1, &zip);
	CHECK_EQ_INT(patch(&zip, "short", "shorT", 5), 1);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "archive entry 'G/a' is corrupt");
	/* Truncated, garbage, empty. */
	z[0].data = "content", z[0].len = 7, z[0].store = 0;
	z[1].data = "more", z[1].len = 4;
	mkzip(z, 2, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len - 30, &lim_default, "not a zip archive");
	CHECK_ARCH_REFUSE(zip.buf, 40, &lim_default, "not a zip archive");
	CHECK_ARCH_REFUSE("PK\3\4 this is not really a zip at all", 37, &lim_default,
			  "not a zip archive");
	CHECK_ARCH_REFUSE("", 0, &lim_default, "the archive is empty, not a zip");
	/* Central directory says one offset, the data is not there. */
	cd = central_at(&zip);
	put32((unsigned char *)zip.buf + cd + 42, 7);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "zip archive");
	free(zeros);
	free(noise);
	sbuf_release(&zip);
}

static void test_archive_hostile_kinds(void)
{
	zent z[1] = {{"G/a", "secret", 6, 1}};
	sbuf zip = SBUF_INIT(1 << 20);
	zip_source_t *src;
	zip_t *za;
	size_t cd;

	/* Traditional PKWARE encryption flag (bit 0) set by hand. */
	mkzip(z, 1, &zip);
	cd = central_at(&zip);
	zip.buf[6] |= 1;
	zip.buf[cd + 8] |= 1;
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "archive entry 'G/a' is encrypted");
	/* Real AES encryption from libzip. */
	if (zip_encryption_method_supported(ZIP_EM_AES_256, 1)) {
		za = zip_start(&src);
		zip_file_add(za, "G/aes", zip_source_buffer(za, "secret", 6, 0), 0);
		zip_file_set_encryption(za, 0, ZIP_EM_AES_256, "password");
		zip_end(za, src, &zip);
		CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
				  "archive entry 'G/aes' is encrypted");
	}
	/* A symbolic link: its "content" would be a path. */
	za = zip_start(&src);
	zip_file_add(za, "G/link", zip_source_buffer(za, "/etc/passwd", 11, 0), 0);
	zip_file_set_external_attributes(za, 0, 0, ZIP_OPSYS_UNIX, 0120777u << 16);
	zip_end(za, src, &zip);
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default, "'G/link' is a symbolic link");
	/* Compression method 12 (bzip2) in both headers. */
	mkzip(z, 1, &zip);
	cd = central_at(&zip);
	zip.buf[8] = 12;
	zip.buf[cd + 10] = 12;
	CHECK_ARCH_REFUSE(zip.buf, zip.len, &lim_default,
			  "uses compression method 12; only store and deflate are read");
	sbuf_release(&zip);
}

int main(void)
{
	RUN(test_status);
	RUN(test_same_format);
	RUN(test_format_names);
	RUN(test_yaml_anchors);
	RUN(test_yaml_scalars);
	RUN(test_yaml_refusals);
	RUN(test_alias_bomb);
	RUN(test_depth);
	RUN(test_json_out);
	RUN(test_json_in);
	RUN(test_yaml_out_quoting);
	RUN(test_yaml_out_blocks);
	RUN(test_yaml_out_long_key);
	RUN(test_props_in);
	RUN(test_props_in_refusals);
	RUN(test_props_out);
	RUN(test_props_out_refusals);
	RUN(test_out_cap);
	RUN(test_round_trip_json_yaml);
	RUN(test_round_trip_props);
	RUN(test_archive_round_trip);
	RUN(test_archive_export_invalid);
	RUN(test_archive_writer);
	RUN(test_archive_nacos);
	RUN(test_archive_nacos_mismatch);
	RUN(test_archive_manifest_errors);
	RUN(test_archive_hostile_names);
	RUN(test_archive_hostile_sizes);
	RUN(test_archive_hostile_kinds);
	return hc_test_report();
}
