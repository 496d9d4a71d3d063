/*
 * test_common.c: sbuf, md5, siphash, cidr, hmap, utf8, base64, pct and diff.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "clock.h"
#include "cfgkey.h"
#include "cidr.h"
#include "diff.h"
#include "format.h"
#include "harness.h"
#include "hmap.h"
#include "md5.h"
#include "pct.h"
#include "sbuf.h"
#include "siphash.h"
#include "utf8.h"

static void test_sbuf_cap(void)
{
	sbuf sb = SBUF_INIT(8);

	CHECK_EQ_STR(sb.buf, "");
	CHECK_EQ_INT(sbuf_addstr(&sb, "hello"), HC_OK);
	CHECK_EQ_INT(sbuf_addstr(&sb, "world"), HC_ERR_TOO_BIG);
	CHECK_EQ_STR(sb.buf, "hello"); /* unchanged by the refused append */
	CHECK_EQ_INT(sbuf_addstr(&sb, "abc"), HC_OK);
	CHECK_EQ_INT(sb.len, 8);
	CHECK_EQ_INT(sbuf_addch(&sb, 'x'), HC_ERR_TOO_BIG);
	CHECK_EQ_INT(sbuf_addf(&sb, "%d", 1), HC_ERR_TOO_BIG);
	sbuf_reset(&sb);
	CHECK_EQ_INT(sbuf_addf(&sb, "%d-%s", 42, "ab"), HC_OK);
	CHECK_EQ_STR(sb.buf, "42-ab");
	sbuf_release(&sb);
	CHECK_EQ_STR(sb.buf, "");
	CHECK_EQ_INT(sb.len, 0);
}

static void test_sbuf_grow_detach(void)
{
	sbuf sb = SBUF_INIT(SBUF_NOMAX);
	size_t len, i;
	char *p;

	for (i = 0; i < 10000; i++)
		sbuf_addch(&sb, (char)('a' + i % 26));
	CHECK_EQ_INT(sb.len, 10000);
	CHECK_EQ_INT(sb.buf[10000], 0);
	p = sbuf_detach(&sb, &len);
	CHECK_EQ_INT(len, 10000);
	CHECK_EQ_INT(p[25], 'z');
	CHECK_EQ_STR(sb.buf, "");
	free(p);
	p = sbuf_detach(&sb, &len); /* an empty sbuf still hands out heap memory */
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_STR(p, "");
	free(p);
}

static void test_sbuf_json(void)
{
	sbuf sb = SBUF_INIT(SBUF_NOMAX);

	sbuf_add_json_str(&sb, "a\"b\\c\n\x01", 7);
	CHECK_EQ_STR(sb.buf, "\"a\\\"b\\\\c\\n\\u0001\"");
	sbuf_reset(&sb);
	sbuf_add_json_str(&sb, "caf\xc3\xa9 \xff", 7);
	CHECK_EQ_STR(sb.buf, "\"caf\xc3\xa9 \xef\xbf\xbd\"");
	sbuf_release(&sb);
}

static void test_md5(void)
{
	/* RFC 1321, appendix A.5 */
	static const char *const v[][2] = {
	    {"", "d41d8cd98f00b204e9800998ecf8427e"},
	    {"a", "0cc175b9c0f1b6a831c399e269772661"},
	    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
	    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
	    {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
	    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	     "d174ab98d277d9f5a5611c2c9f419d9f"},
	    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
	     "57edf4a22be3c955ac49da2e2107b67a"},
	};
	char hex[33];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		md5_hex(v[i][0], strlen(v[i][0]), hex);
		CHECK_EQ_STR(hex, v[i][1]);
	}
	/* 56 bytes: the length no longer fits the first padding block. */
	md5_hex("0123456789012345678901234567890123456789012345678901234", 55, hex);
	CHECK_EQ_STR(hex, "6e7a4fc92eb1c3f6e652425bcc8d44b5");
	md5_hex("01234567890123456789012345678901234567890123456789012345", 56, hex);
	CHECK_EQ_STR(hex, "8af270b2847610e742b0791b53648c09");
}

/* Any split of a message into md5_update calls gives md5_hex's digest. */
static void test_md5_stream(void)
{
	unsigned char msg[200], d[MD5_LEN];
	char hex[33], whole[33], got[33];
	size_t n, cut, i;
	md5_ctx c;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n <= sizeof(msg); n += 13) {
		md5_hex(msg, n, whole);
		for (cut = 0; cut <= n; cut += 5) {
			md5_init(&c);
			md5_update(&c, msg, cut);
			md5_update(&c, msg + cut, 0);
			md5_update(&c, msg + cut, n - cut);
			md5_final(&c, d);
			for (i = 0; i < MD5_LEN; i++)
				snprintf(got + 2 * i, 3, "%02x", d[i]);
			CHECK_EQ_STR(got, whole);
		}
	}
	md5_init(&c);
	md5_update(&c, "a", 1);
	md5_update(&c, "bc", 2);
	md5_final(&c, d);
	for (i = 0; i < MD5_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	CHECK_EQ_STR(hex, "900150983cd24fb0d6963f7d28e17f72");
}

/* The paper's test vectors (appendix A): key 00 01 .. 0f, messages 00 01 ..
 * of each length. */
static void test_siphash(void)
{
	unsigned char in[15];
	uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	int i;

	for (i = 0; i < 15; i++)
		in[i] = (unsigned char)i;
	CHECK(siphash24(k0, k1, in, 0) == 0x726fdb47dd0e0e31ULL);
	CHECK(siphash24(k0, k1, in, 8) == 0x93f5f5799a932462ULL);
	CHECK(siphash24(k0, k1, in, 15) == 0xa129ca6149be45e5ULL);
}

static void test_cidr(void)
{
	cidr c;

	CHECK_EQ_INT(cidr_parse("10.0.0.0/8", &c), HC_OK);
	CHECK(cidr_match(&c, "10.1.2.3"));
	CHECK(!cidr_match(&c, "11.0.0.1"));
	CHECK(!cidr_match(&c, "::1"));
	CHECK_EQ_INT(cidr_parse("127.0.0.1", &c), HC_OK);
	CHECK(cidr_match(&c, "127.0.0.1"));
	CHECK(!cidr_match(&c, "127.0.0.2"));
	CHECK_EQ_INT(cidr_parse("192.168.1.0/23", &c), HC_OK);
	CHECK(cidr_match(&c, "192.168.0.9"));
	CHECK(!cidr_match(&c, "192.168.2.1"));
	CHECK_EQ_INT(cidr_parse("fd00::/8", &c), HC_OK);
	CHECK(cidr_match(&c, "fd12::1"));
	CHECK(!cidr_match(&c, "fe00::1"));
	CHECK(!cidr_match(&c, "10.0.0.1"));
	CHECK_EQ_INT(cidr_parse("0.0.0.0/0", &c), HC_OK);
	CHECK(cidr_match(&c, "255.255.255.255"));
	CHECK(!cidr_match(&c, "::"));
	CHECK_EQ_INT(cidr_parse("::/0", &c), HC_OK);
	CHECK(cidr_match(&c, "ffff::1"));
	CHECK_EQ_INT(cidr_parse("10.0.0.7/032", &c), HC_OK); /* leading zeros, as ever */
	CHECK_EQ_INT(c.bits, 32);
	CHECK_EQ_INT(cidr_parse("2001:db8::1/128", &c), HC_OK);
	CHECK(cidr_match(&c, "2001:DB8:0::1"));
	CHECK(!cidr_match(&c, "2001:db8::2"));
	CHECK_EQ_INT(cidr_parse("10.0.0.0/33", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("fd00::/129", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("nope/8", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("/8", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0.0/", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0.0/-1", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0.0/8/8", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0.0/ 8", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0.256", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("10.0.0", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse(" 10.0.0.1", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("fe80::1%eth0", &c), HC_ERR_INVALID);
	CHECK_EQ_INT(cidr_parse("1::2::3", &c), HC_ERR_INVALID);
}

static void test_cidr_unmap_text(void)
{
	static const char *const v[][2] = {
	    {"10.0.0.7", "10.0.0.7"},
	    {"::", "::"},
	    {"::1", "::1"},
	    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
	    {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"},      /* the longer run wins */
	    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},    /* the first of equal runs */
	    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}, /* one zero group stays */
	    {"::1.2.3.4", "::102:304"}, /* no dotted tail: one form on every libc */
	    {"fd00::", "fd00::"},
	    {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	};
	char text[CIDR_TEXT_MAX];
	cidr c, a;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		REQUIRE(cidr_parse(v[i][0], &c) == HC_OK);
		cidr_addr_text(&c, text);
		CHECK_EQ_STR(text, v[i][1]);
	}
	CHECK_EQ_INT(cidr_parse("::ffff:10.0.0.7", &c), HC_OK);
	cidr_unmap(&c);
	CHECK_EQ_INT(c.family, AF_INET);
	CHECK_EQ_INT(c.bits, 32);
	cidr_addr_text(&c, text);
	CHECK_EQ_STR(text, "10.0.0.7");
	CHECK_EQ_INT(cidr_parse("::ffff:10.0.0.0/104", &c), HC_OK);
	cidr_unmap(&c);
	CHECK_EQ_INT(c.family, AF_INET);
	CHECK_EQ_INT(c.bits, 8);
	CHECK_EQ_INT(cidr_parse("10.200.0.1", &a), HC_OK);
	CHECK(cidr_contains(&c, &a));
	CHECK_EQ_INT(cidr_parse("::ffff:0:0/95", &c), HC_OK); /* wider than the mapped block */
	cidr_unmap(&c);
	CHECK_EQ_INT(c.family, AF_INET6);
	CHECK_EQ_INT(cidr_parse("64:ff9b::10.0.0.7", &c), HC_OK); /* not mapped: stays IPv6 */
	cidr_unmap(&c);
	CHECK_EQ_INT(c.family, AF_INET6);
}

static void count_cb(void *ctx, const void *key, size_t klen, void *val)
{
	(void)key;
	(void)klen;
	*(size_t *)ctx += (size_t)(uintptr_t)val;
}

static void test_hmap(void)
{
	hmap *m = hmap_new();
	char key[32];
	size_t i, sum = 0;

	for (i = 1; i <= 5000; i++) {
		int n = snprintf(key, sizeof(key), "k%zu", i);
		CHECK(hmap_put(m, key, (size_t)n, (void *)(uintptr_t)i) == NULL);
	}
	CHECK_EQ_INT(hmap_count(m), 5000);
	CHECK_EQ_INT((uintptr_t)hmap_get(m, "k77", 3), 77);
	CHECK(hmap_get(m, "k0", 2) == NULL);
	CHECK_EQ_INT((uintptr_t)hmap_put(m, "k77", 3, (void *)(uintptr_t)7), 77);
	CHECK_EQ_INT((uintptr_t)hmap_del(m, "k77", 3), 7);
	CHECK(hmap_del(m, "k77", 3) == NULL);
	CHECK_EQ_INT(hmap_count(m), 4999);
	/* Keys are byte strings: an embedded NUL is part of the key. */
	CHECK(hmap_put(m, "a\0b", 3, (void *)(uintptr_t)1) == NULL);
	CHECK(hmap_get(m, "a", 1) == NULL);
	hmap_foreach(m, count_cb, &sum);
	CHECK_EQ_INT(sum, 5000u * 5001u / 2 - 77 + 1);
	hmap_free(m);
}

static void test_utf8(void)
{
	CHECK(utf8_valid("plain", 5));
	CHECK(utf8_valid("caf\xc3\xa9", 5));
	CHECK(utf8_valid("\xf0\x9f\x98\x80", 4));
	CHECK(!utf8_valid("\xc3", 1));	       /* truncated */
	CHECK(!utf8_valid("\xc0\xaf", 2));     /* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!utf8_valid("\xff", 1));
}

static void test_base64(void)
{
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg=="},
					   {"fo", "Zm8="},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg=="},
					   {"fooba", "Zm9vYmE="},
					   {"foobar", "Zm9vYmFy"}};
	sbuf sb = SBUF_INIT(SBUF_NOMAX);
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sbuf_reset(&sb);
		base64_encode(&sb, v[i][0], strlen(v[i][0]));
		CHECK_EQ_STR(sb.buf, v[i][1]);
	}
	sbuf_release(&sb);
}

static void test_pct(void)
{
	/* Nacos' listener answer, as Java's URLEncoder spells it. */
	static const char nacos[] = "a b\x02g*.-_~/\x01";
	sbuf sb = SBUF_INIT(SBUF_NOMAX);
	char *d;

	pct_encode(&sb, nacos, sizeof(nacos) - 1, PCT_FORM);
	CHECK_EQ_STR(sb.buf, "a+b%02g*.-_%7E%2F%01");
	sbuf_reset(&sb);
	pct_encode(&sb, "a b~*\xc3\xa9", 7, PCT_URI);
	CHECK_EQ_STR(sb.buf, "a%20b~%2A%C3%A9");
	sbuf_release(&sb);
	d = pct_decode("a+b%2f%C3%A9", 12, PCT_FORM);
	CHECK_EQ_STR(d, "a b/\xc3\xa9");
	free(d);
	d = pct_decode("a+b", 3, PCT_URI);
	CHECK_EQ_STR(d, "a+b");
	free(d);
	CHECK(!pct_decode("a%00b", 5, PCT_URI)); /* a NUL would cut a name short */
	CHECK(!pct_decode("a%4", 3, PCT_URI));
	CHECK(!pct_decode("%g1", 3, PCT_FORM));
}

static void test_clock_format(void)
{
	char iso[32], http[40];

	clock_format_iso(1795300000123LL, iso);
	CHECK_EQ_STR(iso, "2026-11-21T22:26:40.123Z");
	clock_format_http(1795300000123LL, http);
	CHECK_EQ_STR(http, "Sat, 21 Nov 2026 22:26:40 GMT");
}

static void test_formats(void)
{
	static const char *const all[] = {"text", "json", "yaml", "properties", "xml"};
	size_t i;

	CHECK(fmt_ok("yaml"));
	CHECK(fmt_ok("properties"));
	CHECK(!fmt_ok("toml"));
	CHECK(!fmt_ok(""));
	CHECK(!fmt_ok(NULL));
	CHECK_EQ_STR(fmt_mime("json"), "application/json");
	CHECK_EQ_STR(fmt_mime("text"), "text/plain; charset=utf-8");
	CHECK_EQ_STR(fmt_mime("toml"), "application/octet-stream");
	/* The list in messages names every format, and only formats. */
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		CHECK(fmt_ok(all[i]));
		CHECK(strstr(fmt_list(), all[i]) != NULL);
	}
}

static void test_cfgkey(void)
{
	cfgkey k = CFGKEY_INIT, c = CFGKEY_INIT;
	char ns[CFGKEY_NAME_MAX + 1], g[CFGKEY_NAME_MAX + 1], d[CFGKEY_NAME_MAX + 1];
	sbuf json = SBUF_INIT(SBUF_NOMAX);

	CHECK_EQ_INT(cfgkey_init(&k, "public", "DEFAULT_GROUP", "app.yaml"), HC_OK);
	CHECK_EQ_STR(k.s, "public/DEFAULT_GROUP/app.yaml");
	CHECK_EQ_INT(k.len, strlen(k.s));
	CHECK(!memcmp(cfgkey_ns(&k), "public", cfgkey_ns_len(&k)) && cfgkey_ns_len(&k) == 6);
	CHECK(!memcmp(cfgkey_group(&k), "DEFAULT_GROUP", 13) && cfgkey_group_len(&k) == 13);
	CHECK_EQ_STR(cfgkey_data_id(&k), "app.yaml");
	CHECK_EQ_INT(cfgkey_data_id_len(&k), 8);
	cfgkey_split(&k, ns, g, d);
	CHECK_EQ_STR(ns, "public");
	CHECK_EQ_STR(g, "DEFAULT_GROUP");
	CHECK_EQ_STR(d, "app.yaml");
	CHECK_EQ_INT(cfgkey_json(&k, &json), HC_OK);
	CHECK_EQ_STR(
	    json.buf,
	    "\"namespace\":\"public\",\"group\":\"DEFAULT_GROUP\",\"dataId\":\"app.yaml\"");
	cfgkey_copy(&c, &k);
	CHECK(c.s != k.s);
	CHECK_EQ_STR(c.s, k.s);
	cfgkey_release(&k);
	CHECK(k.s == NULL);
	CHECK_EQ_INT(cfgkey_parse(&k, c.s, c.len), HC_OK);
	CHECK_EQ_STR(k.s, c.s);
	CHECK_EQ_INT(k.ns_len, 6);
	CHECK_EQ_INT(k.group_len, 13);
	cfgkey_release(&k);
	cfgkey_release(&c);
	CHECK_EQ_INT(cfgkey_parse(&k, "a/b", 3), HC_ERR_INVALID);
	CHECK_EQ_INT(cfgkey_parse(&k, "a/b/c/d", 7), HC_ERR_INVALID); /* '/' is no name char */
	CHECK_EQ_INT(cfgkey_parse(&k, "a//c", 4), HC_ERR_INVALID);
	CHECK(k.s == NULL);
	sbuf_release(&json);
}

/* Scopes: a group's and a namespace's, what lies in them, and the scope
 * strings a change notifies. */
static void test_cfgkey_scope(void)
{
	cfgkey g, n, c;
	char gs[CFGKEY_MAX + 1], ns[CFGKEY_MAX + 1];

	CHECK_EQ_INT(cfgkey_init_scope(&g, "public", "app"), HC_OK);
	CHECK_EQ_STR(g.s, "public/app/");
	CHECK(cfgkey_is_scope(&g));
	CHECK_EQ_INT(cfgkey_data_id_len(&g), 0);
	CHECK_EQ_INT(cfgkey_init_scope(&n, "public", NULL), HC_OK);
	CHECK_EQ_STR(n.s, "public//");
	CHECK(cfgkey_is_scope(&n));
	CHECK_EQ_INT(cfgkey_group_len(&n), 0);
	CHECK_EQ_INT(cfgkey_init(&c, "public", "app", "a.yaml"), HC_OK);
	CHECK(!cfgkey_is_scope(&c));
	CHECK(cfgkey_in_scope(&g, "public/app/a.yaml", 17));
	CHECK(cfgkey_in_scope(&n, "public/app/a.yaml", 17));
	CHECK(cfgkey_in_scope(&n, "public/other/x", 14));
	CHECK(!cfgkey_in_scope(&g, "public/app2/a", 13)); /* a longer group */
	CHECK(!cfgkey_in_scope(&g, "public/other/a", 14));
	CHECK(!cfgkey_in_scope(&n, "public2/app/a", 13)); /* a longer namespace */
	CHECK(!cfgkey_in_scope(&g, "public/app/", 11));	  /* the scope itself */
	CHECK(cfgkey_scope_strings(c.s, c.len, gs, ns));
	CHECK_EQ_STR(gs, "public/app/");
	CHECK_EQ_STR(ns, "public//");
	CHECK(!cfgkey_scope_strings("public", 6, gs, ns));
	cfgkey_release(&c);
	CHECK_EQ_INT(cfgkey_init_scope(&c, "public", ""), HC_ERR_INVALID);
	CHECK_EQ_INT(cfgkey_init_scope(&c, "a/b", NULL), HC_ERR_INVALID);
	CHECK(c.s == NULL);
	cfgkey_release(&g);
	cfgkey_release(&n);
}

/* Every name rule, at both ends of each limit. */
static void test_cfgkey_names(void)
{
	char name[CFGKEY_NAME_MAX + 2];
	cfgkey k = CFGKEY_INIT;

	memset(name, 'n', sizeof(name));
	CHECK(cfgkey_name_ok(name, 1));
	CHECK(cfgkey_name_ok(name, CFGKEY_NAME_MAX));
	CHECK(!cfgkey_name_ok(name, CFGKEY_NAME_MAX + 1));
	CHECK(!cfgkey_name_ok(name, 0));
	CHECK(cfgkey_name_ok("A.b_c:d-9", 9));
	CHECK(!cfgkey_name_ok(".", 1));
	CHECK(!cfgkey_name_ok("..", 2));
	CHECK(cfgkey_name_ok("...", 3));
	CHECK(cfgkey_name_ok(".hidden", 7));
	CHECK(!cfgkey_name_ok("a\0b", 3)); /* a NUL inside is never cut short */
	CHECK(!cfgkey_name_ok("a/b", 3));
	CHECK(!cfgkey_name_ok("a b", 3));
	CHECK(!cfgkey_name_ok("caf\xc3\xa9", 5));
	CHECK(!cfgkey_name_ok("100%", 4));
	name[CFGKEY_NAME_MAX] = '\0';
	CHECK_EQ_INT(cfgkey_init(&k, "public", "g", name), HC_OK);
	cfgkey_release(&k);
	name[CFGKEY_NAME_MAX] = 'n';
	name[CFGKEY_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(cfgkey_init(&k, "public", "g", name), HC_ERR_INVALID);
	CHECK_EQ_INT(cfgkey_init(&k, "public", "..", "x"), HC_ERR_INVALID);
	CHECK_EQ_INT(cfgkey_init(&k, NULL, "g", "x"), HC_ERR_INVALID);
	CHECK(k.s == NULL);
}

/* diff_unified of two strings into a fresh buffer; returns the count. */
static size_t udiff(const char *a, const char *b, sbuf *out)
{
	sbuf_reset(out);
	return diff_unified(a, strlen(a), b, strlen(b), NULL, out);
}

static const char ten[] = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";

static void test_diff_hunks(void)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX);

	CHECK_EQ_INT(udiff(ten, ten, &out), 0);
	CHECK_EQ_INT(out.len, 0);
	CHECK_EQ_INT(diff_unified(NULL, 0, NULL, 0, NULL, &out), 0);
	CHECK_EQ_INT(out.len, 0);
	/* One changed line in the middle: three lines of context each side. */
	CHECK_EQ_INT(udiff(ten, "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
	/* Insertion at the start, deletion at the end (a count of 1 is left out). */
	CHECK_EQ_INT(udiff(ten, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", &out), 1);
	CHECK_EQ_STR(out.buf, "@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n");
	CHECK_EQ_INT(udiff("b\n", "a\nb\n", &out), 1);
	CHECK_EQ_STR(out.buf, "@@ -1 +1,2 @@\n+a\n b\n");
	CHECK_EQ_INT(udiff(ten, "1\n2\n3\n4\n5\n6\n7\n8\n9\n", &out), 1);
	CHECK_EQ_STR(out.buf, "@@ -7,4 +7,3 @@\n 7\n 8\n 9\n-10\n");
	CHECK_EQ_INT(udiff("a\nb\n", "a\n", &out), 1);
	CHECK_EQ_STR(out.buf, "@@ -1,2 +1 @@\n a\n-b\n");
	/* Empty against non-empty, both ways. */
	CHECK_EQ_INT(udiff("", "a\n", &out), 1);
	CHECK_EQ_STR(out.buf, "@@ -0,0 +1 @@\n+a\n");
	CHECK_EQ_INT(udiff("a\nb\n", "", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -1,2 +0,0 @@\n-a\n-b\n");
	sbuf_release(&out);
}

static void test_diff_no_eol(void)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX);

	/* A missing newline makes the line differ, and is marked after it. */
	CHECK_EQ_INT(udiff("x: 1", "x: 1\n", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -1 +1 @@\n-x: 1\n\\ No newline at end of file\n+x: 1\n");
	CHECK_EQ_INT(udiff("x: 1\n", "x: 1", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -1 +1 @@\n-x: 1\n+x: 1\n\\ No newline at end of file\n");
	CHECK_EQ_INT(udiff("a\nb", "a\nc", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
			      "\\ No newline at end of file\n");
	/* As context too. */
	CHECK_EQ_INT(udiff("a\nz", "b\nz", &out), 2);
	CHECK_EQ_STR(out.buf, "@@ -1,2 +1,2 @@\n-a\n+b\n z\n\\ No newline at end of file\n");
	CHECK_EQ_INT(udiff("a", "a", &out), 0);
	CHECK_EQ_INT(out.len, 0);
	sbuf_release(&out);
}

static void test_diff_merge(void)
{
	const char *fourteen = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n";
	sbuf out = SBUF_INIT(SBUF_NOMAX);

	/* Changes far apart make two hunks; close ones share one. */
	CHECK_EQ_INT(udiff(ten, "one\n2\n3\n4\n5\n6\n7\n8\n9\nten\n", &out), 4);
	CHECK_EQ_STR(
	    out.buf,
	    "@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n");
	CHECK_EQ_INT(udiff(ten, "1\n2\nthree\n4\n5\n6\nseven\n8\n9\n10\n", &out), 4);
	CHECK_EQ_STR(out.buf, "@@ -1,10 +1,10 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n-7\n+seven\n"
			      " 8\n 9\n 10\n");
	/* The edge: six equal lines between (2 * context) still merge, seven split. */
	CHECK_EQ_INT(udiff(fourteen, "x\n2\n3\n4\n5\n6\n7\ny\n9\n10\n11\n12\n13\n14\n", &out), 4);
	CHECK_EQ_STR(out.buf, "@@ -1,11 +1,11 @@\n-1\n+x\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+y\n 9\n"
			      " 10\n 11\n");
	CHECK_EQ_INT(udiff(fourteen, "x\n2\n3\n4\n5\n6\n7\n8\ny\n10\n11\n12\n13\n14\n", &out), 4);
	CHECK_EQ_STR(out.buf, "@@ -1,4 +1,4 @@\n-1\n+x\n 2\n 3\n 4\n@@ -6,7 +6,7 @@\n 6\n 7\n"
			      " 8\n-9\n+y\n 10\n 11\n 12\n");
	sbuf_release(&out);
}

static void test_diff_out(void)
{
	static const diff_colors c = {"<D>", "<I>", "<F>", "</>"};
	sbuf out = SBUF_INIT(SBUF_NOMAX), full = SBUF_INIT(SBUF_NOMAX);
	const char *b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n";
	size_t cap;

	/* Colours wrap the @@ line and the changed lines, not the context. */
	CHECK_EQ_INT(diff_unified("a\nb", 3, "c\nb", 3, &c, &out), 2);
	CHECK_EQ_STR(out.buf, "<F>@@ -1,2 +1,2 @@</>\n<D>-a</>\n<I>+c</>\n b\n"
			      "\\ No newline at end of file\n");
	/* Appends to what out holds. */
	sbuf_reset(&out);
	sbuf_addstr(&out, "head\n");
	CHECK_EQ_INT(diff_unified("a\n", 2, "b\n", 2, NULL, &out), 2);
	CHECK_EQ_STR(out.buf, "head\n@@ -1 +1 @@\n-a\n+b\n");
	CHECK_EQ_INT(diff_unified("a\n", 2, "a\n", 2, NULL, &out), 0);
	CHECK_EQ_STR(out.buf, "head\n@@ -1 +1 @@\n-a\n+b\n");
	/* A capped out: writing stops at the first refused append, so what is
	 * there is a prefix of the whole, and the count is still whole. */
	CHECK_EQ_INT(udiff(ten, b, &full), 2);
	for (cap = 0; cap <= full.len; cap++) {
		sbuf capped = SBUF_INIT(cap);
		CHECK_EQ_INT(diff_unified(ten, strlen(ten), b, strlen(b), NULL, &capped), 2);
		CHECK(capped.len <= cap && !memcmp(full.buf, capped.buf, capped.len));
		CHECK(cap < full.len || capped.len == full.len);
		sbuf_release(&capped);
	}
	sbuf_release(&out);
	sbuf_release(&full);
}

/* Counts the lines of out that start with ch. */
static size_t count_lines(const sbuf *out, char ch)
{
	size_t i, n = 0;

	for (i = 0; i < out->len; i++)
		n += (i == 0 || out->buf[i - 1] == '\n') && out->buf[i] == ch;
	return n;
}

static void test_diff_large(void)
{
	sbuf out = SBUF_INIT(SBUF_NOMAX), a = SBUF_INIT(SBUF_NOMAX), b = SBUF_INIT(SBUF_NOMAX);
	size_t i;

	/* 5000 lines all different: past the edit bound the middle is replaced
	 * whole, one hunk, exactly 10000 lines changed. */
	for (i = 0; i < 5000; i++) {
		sbuf_addf(&a, "a%zu\n", i);
		sbuf_addf(&b, "b%zu\n", i);
	}
	CHECK_EQ_INT(diff_unified(a.buf, a.len, b.buf, b.len, NULL, &out), 10000);
	CHECK(strstr(out.buf, "@@ -1,5000 +1,5000 @@\n-a0\n-a1\n") == out.buf);
	CHECK(strstr(out.buf, "\n-a4999\n+b0\n") != NULL);
	CHECK_EQ_INT(count_lines(&out, '@'), 1);
	CHECK_EQ_INT(count_lines(&out, '-'), 5000);
	CHECK_EQ_INT(count_lines(&out, '+'), 5000);
	CHECK(out.len >= 11 && !strcmp(out.buf + out.len - 7, "+b4999\n"));

	/* The same with one shared line in the middle: the shortest script
	 * (10000 edits) is past the bound, so the shared line is replaced too,
	 * which shows the search stopped rather than ran to the end. */
	sbuf_reset(&a);
	sbuf_reset(&b);
	sbuf_reset(&out);
	for (i = 0; i < 5000; i++) {
		sbuf_addf(&a, "%s%zu\n", i == 2500 ? "s" : "a", i);
		sbuf_addf(&b, "%s%zu\n", i == 2500 ? "s" : "b", i);
	}
	CHECK_EQ_INT(diff_unified(a.buf, a.len, b.buf, b.len, NULL, &out), 10000);
	CHECK_EQ_INT(count_lines(&out, ' '), 0);

	/* Within the bound, the shortest script: 5000 lines, every tenth changed
	 * (1000 edits), with the common head and tail kept as context. */
	sbuf_reset(&a);
	sbuf_reset(&b);
	sbuf_reset(&out);
	for (i = 0; i < 5000; i++) {
		sbuf_addf(&a, "l%zu\n", i);
		sbuf_addf(&b, i % 10 == 5 ? "m%zu\n" : "l%zu\n", i);
	}
	CHECK_EQ_INT(diff_unified(a.buf, a.len, b.buf, b.len, NULL, &out), 1000);
	CHECK_EQ_INT(count_lines(&out, '-'), 500);
	CHECK_EQ_INT(count_lines(&out, '+'), 500);
	CHECK_EQ_INT(count_lines(&out, '@'), 500); /* nine equal lines apart: each its own hunk */
	CHECK(strstr(out.buf, "@@ -3,7 +3,7 @@\n l2\n l3\n l4\n-l5\n+m5\n l6\n l7\n l8\n") ==
	      out.buf);
	sbuf_release(&out);
	sbuf_release(&a);
	sbuf_release(&b);
}

int main(void)
{
	RUN(test_sbuf_cap);
	RUN(test_sbuf_grow_detach);
	RUN(test_sbuf_json);
	RUN(test_md5);
	RUN(test_md5_stream);
	RUN(test_siphash);
	RUN(test_cidr);
	RUN(test_cidr_unmap_text);
	RUN(test_hmap);
	RUN(test_utf8);
	RUN(test_base64);
	RUN(test_pct);
	RUN(test_clock_format);
	RUN(test_formats);
	RUN(test_cfgkey);
	RUN(test_cfgkey_scope);
	RUN(test_cfgkey_names);
	RUN(test_diff_hunks);
	RUN(test_diff_no_eol);
	RUN(test_diff_merge);
	RUN(test_diff_out);
	RUN(test_diff_large);
	return hc_test_report();
}
