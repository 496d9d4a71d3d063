/*
 * test_gray.c: gray-release matching: ips, label selectors, percent buckets
 * (pinned values, stickiness, monotonicity, spread), instances without an
 * id, and gray_pick's priority and tie order. Single-threaded, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gray.h"
#include "harness.h"

/* A rule from the fields given (ips as a NULL-terminated list, or NULL for
 * no ips field), or NULL when it does not compile. */
static gray_rule *rule(const char *const *ips, const char *sel, const char *pct)
{
	sbuf why = SBUF_INIT(1024);
	gray_rule *r = NULL;
	size_t n = 0;

	while (ips && ips[n])
		n++;
	if (gray_rule_compile(ips, n, ips != NULL, sel, pct, "salt", &r, &why))
		fprintf(stderr, "  (compile: %s)\n", why.buf);
	sbuf_release(&why);
	return r;
}

static gray_inst *inst(const char *id, const char *ip, const char *labels)
{
	sbuf why = SBUF_INIT(1024);
	gray_inst *i = NULL;

	if (gray_inst_new(id, ip, labels, &i, &why))
		fprintf(stderr, "  (instance: %s)\n", why.buf);
	sbuf_release(&why);
	return i;
}

/* 1 or 0 for a match, -1 when the rule or the instance is refused. */
static int m(const char *sel, const char *labels)
{
	gray_rule *r = rule(NULL, sel, NULL);
	gray_inst *i = inst("id", "10.0.0.1", labels);
	int got = r && i ? gray_rule_matches(r, i) : -1;

	gray_rule_free(r);
	gray_inst_free(i);
	return got;
}

/* The error for a match, "" when it compiles. */
static const char *compile_error(const char *const *ips, size_t nips, int has_ips, const char *sel,
				 const char *pct, sbuf *why)
{
	gray_rule *r = (gray_rule *)1;

	sbuf_reset(why);
	if (gray_rule_compile(ips, nips, has_ips, sel, pct, "s", &r, why) == HC_OK) {
		gray_rule_free(r);
		return "";
	}
	CHECK(r == NULL);
	CHECK(why->len > 0);
	return why->buf;
}

static int ip_matches(const char *entry, const char *ip)
{
	const char *ips[] = {entry, NULL};
	gray_rule *r = rule(ips, NULL, NULL);
	gray_inst *i = inst("", ip, "");
	int got = r && i ? gray_rule_matches(r, i) : -1;

	gray_rule_free(r);
	gray_inst_free(i);
	return got;
}

static void test_ips(void)
{
	const char *two[] = {"10.0.0.7", "fd00::/8", NULL};
	gray_rule *r = rule(two, NULL, NULL);
	gray_inst *i;

	CHECK_EQ_INT(ip_matches("10.0.0.7", "10.0.0.7"), 1);
	CHECK_EQ_INT(ip_matches("10.0.0.7", "10.0.0.8"), 0);
	CHECK_EQ_INT(ip_matches("10.1.0.0/16", "10.1.255.3"), 1);
	CHECK_EQ_INT(ip_matches("10.1.0.0/16", "10.2.0.1"), 0);
	CHECK_EQ_INT(ip_matches("10.0.0.7/32", "10.0.0.7"), 1);
	CHECK_EQ_INT(ip_matches("10.0.0.7/32", "10.0.0.6"), 0);
	CHECK_EQ_INT(ip_matches("0.0.0.0/0", "203.0.113.9"), 1);
	CHECK_EQ_INT(ip_matches("0.0.0.0/0", "fd00::1"), 0);
	CHECK_EQ_INT(ip_matches("::/0", "fd00::1"), 1);
	CHECK_EQ_INT(ip_matches("::/0", "10.0.0.1"), 0); /* IPv6 ranges never take IPv4 */
	CHECK_EQ_INT(ip_matches("fd00::/8", "fd12:3456::1"), 1);
	CHECK_EQ_INT(ip_matches("fd00::/8", "fe80::1"), 0);
	CHECK_EQ_INT(ip_matches("2001:db8::1/128", "2001:DB8:0:0::1"), 1);
	CHECK_EQ_INT(ip_matches("2001:db8::1/128", "2001:db8::2"), 0);
	/* IPv4-mapped IPv6 is IPv4, on either side. */
	CHECK_EQ_INT(ip_matches("10.0.0.0/8", "::ffff:10.9.8.7"), 1);
	CHECK_EQ_INT(ip_matches("::ffff:10.0.0.0/104", "10.9.8.7"), 1);
	CHECK_EQ_INT(ip_matches("::ffff:10.0.0.0/104", "11.0.0.1"), 0);
	/* An instance IP that is not an address matches no entry. */
	CHECK_EQ_INT(ip_matches("0.0.0.0/0", ""), 0);
	CHECK_EQ_INT(ip_matches("0.0.0.0/0", "10.0.0.0/8"), 0);
	CHECK_EQ_INT(ip_matches("0.0.0.0/0", "unknown"), 0);
	REQUIRE(r != NULL);
	i = inst("x", "fd00::5", NULL);
	CHECK(gray_rule_matches(r, i));
	gray_inst_free(i);
	i = inst("x", "10.0.0.7", NULL);
	CHECK(gray_rule_matches(r, i));
	gray_inst_free(i);
	i = inst("x", "10.0.0.70", NULL);
	CHECK(!gray_rule_matches(r, i));
	gray_inst_free(i);
	gray_rule_free(r);
}

static void test_ips_refused(void)
{
	static const char *const bad[] = {
	    "",	  "10.0.0.0/33", "fd00::/129", "10.0.0.256",   "10.0.0",       "10.0.0.0/",
	    "/8", "10.0.0.0/-1", "10.0.0.1 ",  "fe80::1%eth0", "host.example", "1::2::3",
	};
	const char *ips[3] = {"10.0.0.1", "fd00::/8", NULL};
	static const char *many[GRAY_MAX_IPS + 1];
	sbuf why = SBUF_INIT(1024);
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ips[2] = bad[k];
		CHECK(!strncmp(compile_error(ips, 3, 1, NULL, NULL, &why), "match.ips[2] '", 14));
	}
	ips[2] = "10.0.0.0/33";
	CHECK_EQ_STR(compile_error(ips, 3, 1, NULL, NULL, &why),
		     "match.ips[2] '10.0.0.0/33' is invalid: use an IPv4 or IPv6 address or CIDR "
		     "range, e.g. 10.0.0.7, 10.1.0.0/16 or fd00::/8");
	ips[2] = NULL;
	CHECK(!strncmp(compile_error(ips, 3, 1, NULL, NULL, &why), "match.ips[2] ''", 15));
	CHECK(strstr(compile_error(ips, 0, 1, NULL, NULL, &why), "match.ips is empty") != NULL);
	for (k = 0; k < GRAY_MAX_IPS + 1; k++)
		many[k] = "10.0.0.1";
	CHECK_EQ_STR(compile_error(many, GRAY_MAX_IPS, 1, NULL, NULL, &why), "");
	CHECK_EQ_STR(compile_error(many, GRAY_MAX_IPS + 1, 1, NULL, NULL, &why),
		     "match.ips has 257 entries: at most 256 are allowed");
	sbuf_release(&why);
}

static void test_selector_forms(void)
{
	CHECK_EQ_INT(m("app=web", "app=web,zone=eu"), 1);
	CHECK_EQ_INT(m("app=web", "app=api"), 0);
	CHECK_EQ_INT(m("app=web", "zone=eu"), 0);
	CHECK_EQ_INT(m("app==web", "app=web"), 1);
	CHECK_EQ_INT(m("app==web", "app=webx"), 0);
	CHECK_EQ_INT(m("app!=web", "app=api"), 1);
	CHECK_EQ_INT(m("app!=web", "app=web"), 0);
	CHECK_EQ_INT(m("app!=web", "zone=eu"), 1); /* absent: true, as in Kubernetes */
	CHECK_EQ_INT(m("zone in (eu,us)", "zone=us"), 1);
	CHECK_EQ_INT(m("zone in (eu,us)", "zone=ap"), 0);
	CHECK_EQ_INT(m("zone in (eu,us)", "app=web"), 0);
	CHECK_EQ_INT(m("zone notin (eu,us)", "zone=ap"), 1);
	CHECK_EQ_INT(m("zone notin (eu,us)", "zone=eu"), 0);
	CHECK_EQ_INT(m("zone notin (eu,us)", "app=web"), 1); /* absent: true */
	CHECK_EQ_INT(m("canary", "canary=,app=web"), 1);     /* exists, even empty */
	CHECK_EQ_INT(m("canary", "app=web"), 0);
	CHECK_EQ_INT(m("!canary", "app=web"), 1);
	CHECK_EQ_INT(m("!canary", "canary=yes"), 0);
	CHECK_EQ_INT(m("canary=", "canary="), 1); /* the empty value */
	CHECK_EQ_INT(m("canary=", "canary=yes"), 0);
	CHECK_EQ_INT(m("canary=", ""), 0);
	CHECK_EQ_INT(m("canary!=", "canary=yes"), 1);
	CHECK_EQ_INT(m("canary!=", "canary="), 0);
	/* All requirements must hold. */
	CHECK_EQ_INT(m("app=web,zone in (eu),!canary", "app=web,zone=eu"), 1);
	CHECK_EQ_INT(m("app=web,zone in (eu),!canary", "app=web,zone=eu,canary=1"), 0);
	CHECK_EQ_INT(m("app=web,zone in (eu),!canary", "app=web,zone=us"), 0);
	/* Whitespace around tokens, and in/notin glued to their '('. */
	CHECK_EQ_INT(m("  app = web ,\tzone  in  ( eu , us )  , ! canary ", "app=web,zone=us"), 1);
	CHECK_EQ_INT(m("zone in(eu)", "zone=eu"), 1);
	CHECK_EQ_INT(m("zone notin(eu)", "zone=eu"), 0);
	/* Keys with a prefix, values with dots and dashes. */
	CHECK_EQ_INT(m("k8s.io/app-name=web.v1_2", "k8s.io/app-name=web.v1_2"), 1);
	/* "in" alone is a key. */
	CHECK_EQ_INT(m("in", "in=1"), 1);
	CHECK_EQ_INT(m("in=1", "in=1"), 1);
	/* Instance labels: spaces dropped as val_labels drops them, last key wins. */
	CHECK_EQ_INT(m("app=web", " app=web , zone=eu"), 1);
	CHECK_EQ_INT(m("app=web", "app=api,app=web"), 1);
	CHECK_EQ_INT(m("app=web", "app=web,app=api"), 0);
	/* Values are compared whole, not as prefixes. */
	CHECK_EQ_INT(m("app in (we,web2)", "app=web"), 0);
	CHECK_EQ_INT(m("app=we", "app=web"), 0);
}

static void test_selector_errors(void)
{
	static const char *const v[][2] = {
	    {"app=web,", "match.labels at 8: expected a label key or '!', found the end"},
	    {",app=web", "match.labels at 0: expected a label key or '!', found ','"},
	    {"app=web,,x", "match.labels at 8: expected a label key or '!', found ','"},
	    {"app=web zone=eu", "match.labels at 8: expected ',' or the end, found 'z'"},
	    {"app==", ""},
	    {"app===web", "match.labels at 5: expected ',' or the end, found '='"},
	    {"app=!web", "match.labels at 4: expected ',' or the end, found '!'"},
	    {"app!web", "match.labels at 3: expected '=', '==', '!=', 'in', 'notin', ',' or the "
			"end, found '!'"},
	    {"app in eu", "match.labels at 7: expected '(' to open the set of values, found 'e'"},
	    {"app in", "match.labels at 6: expected '(' to open the set of values, found the end"},
	    {"app in ()", "match.labels at 8: expected a value, found ')'"},
	    {"app in (a,)", "match.labels at 10: expected a value, found ')'"},
	    {"app in (a b)", "match.labels at 10: expected ',' or ')', found 'b'"},
	    {"app in (a", "match.labels at 9: expected ',' or ')', found the end"},
	    {"app notin (a) x", "match.labels at 14: expected ',' or the end, found 'x'"},
	    {"app within (a)", "match.labels at 4: expected '=', '==', '!=', 'in', 'notin', ',' "
			       "or the end, found 'w'"},
	    {"!", "match.labels at 1: expected a label key, found the end"},
	    {"!app=web", "match.labels at 4: expected ',' or the end, found '='"},
	    {"app=w\xc3\xa9", "match.labels at 5: expected ',' or the end, found the byte 0xc3"},
	    {"app=web;", "match.labels at 7: expected ',' or the end, found ';'"},
	    {"=web", "match.labels at 0: expected a label key or '!', found '='"},
	    {"", "match.labels is empty: give at least one requirement (e.g. app=web), or leave "
		 "labels out to match every instance"},
	    {" \t ", "match.labels is empty: give at least one requirement (e.g. app=web), or "
		     "leave labels out to match every instance"},
	};
	sbuf why = SBUF_INIT(1024);
	char *longsel;
	size_t k;

	for (k = 0; k < sizeof(v) / sizeof(v[0]); k++)
		CHECK_EQ_STR(compile_error(NULL, 0, 0, v[k][0], NULL, &why), v[k][1]);
	longsel = malloc(GRAY_SELECTOR_MAX + 2);
	REQUIRE(longsel != NULL);
	memset(longsel, 'a', GRAY_SELECTOR_MAX + 1);
	longsel[GRAY_SELECTOR_MAX + 1] = '\0';
	CHECK_EQ_STR(compile_error(NULL, 0, 0, longsel, NULL, &why),
		     "match.labels is longer than 4096 bytes");
	longsel[GRAY_SELECTOR_MAX] = '\0';
	CHECK_EQ_STR(compile_error(NULL, 0, 0, longsel, NULL, &why), "");
	free(longsel);
	sbuf_release(&why);
}

static void test_instance_labels(void)
{
	static const char *const bad[] = {"novalue", "=v", "a=b=c", "a=b, ", " ", "a=1,,b=2"};
	sbuf why = SBUF_INIT(1024);
	gray_inst *i = (gray_inst *)1;
	size_t k;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		i = (gray_inst *)1;
		sbuf_reset(&why);
		CHECK_EQ_INT(gray_inst_new("id", "10.0.0.1", bad[k], &i, &why), HC_ERR_INVALID);
		CHECK(i == NULL);
		CHECK(!strncmp(why.buf, "labels are invalid at ", 22));
	}
	CHECK_EQ_INT(gray_inst_new(NULL, NULL, NULL, &i, &why), HC_OK);
	gray_inst_free(i);
	CHECK_EQ_INT(gray_inst_new("id", "10.0.0.1", "a=b,", &i, &why), HC_OK);
	gray_inst_free(i);
	gray_inst_free(NULL);
	gray_rule_free(NULL);
	sbuf_release(&why);
}

static void test_percent_parse(void)
{
	static const char *const good[][2] = {
	    {"0", "0"},	      {"5", "500"},	   {"12.5", "1250"},  {"0.01", "1"},
	    {"100", "10000"}, {"100.00", "10000"}, {"99.99", "9999"}, {"007", "700"},
	};
	static const char *const bad[] = {
	    "101", "-1", "1.234", "abc", "",	"100.01", "1.",	 ".5",
	    "+5",  " 5", "5 ",	  "5%",	 "1e2", "0x10",	  "1,5", "99999999999999999999"};
	sbuf why = SBUF_INIT(1024);
	gray_rule *r;
	gray_inst *i;
	size_t k;
	unsigned n, want;
	char id[32];

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		CHECK(
		    !strncmp(compile_error(NULL, 0, 0, NULL, bad[k], &why), "match.percent '", 15));
	CHECK_EQ_STR(compile_error(NULL, 0, 0, NULL, "1.234", &why),
		     "match.percent '1.234' is invalid: use a number from 0 to 100 with at most "
		     "two decimals, e.g. 5 or 12.5");
	/* Each accepted value takes exactly the instances whose bucket is below it. */
	for (k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		sbuf_reset(&why);
		REQUIRE(gray_rule_compile(NULL, 0, 0, NULL, good[k][0], "p", &r, &why) == HC_OK);
		want = (unsigned)atoi(good[k][1]);
		for (n = 0; n < 2000; n++) {
			snprintf(id, sizeof(id), "inst-%u", n);
			i = inst(id, "", "");
			CHECK_EQ_INT(gray_rule_matches(r, i), gray_bucket("p", id) < want);
			gray_inst_free(i);
		}
		gray_rule_free(r);
	}
	sbuf_release(&why);
}

static void test_bucket_pinned(void)
{
	/* SipHash-2-4 of the key under MD5(salt) (two little-endian words), mod
	 * 10000: computed apart from this code. These must never change. */
	CHECK_EQ_INT(gray_bucket("rule-1", "inst-42"), 2182);
	CHECK_EQ_INT(gray_bucket("", ""), 6541);
	CHECK_EQ_INT(gray_bucket("r", "10.0.0.7"), 1262);
	CHECK_EQ_INT(gray_bucket("r", "fd00::1"), 4357);
	CHECK_EQ_INT(gray_bucket("salt", "a"), 9980);
	/* The salt keys the hash; it is never part of the message. */
	CHECK(gray_bucket("ab", "c") != gray_bucket("a", "bc"));
}

#define NIDS 10000

/* For each percent in a rising ladder, which of NIDS ids match: raising the
 * percent never drops one, lowering never adds one, and the share is close
 * to the percent. */
static void test_percent_sticky_monotonic(void)
{
	static const char *const ladder[] = {"0",  "0.01", "1",	 "5",	  "10", "12.5",
					     "20", "50",   "75", "99.99", "100"};
	enum { NL = sizeof(ladder) / sizeof(ladder[0]) };
	static unsigned char in[NL][NIDS];
	gray_rule *r[NL];
	gray_inst *i;
	char id[32];
	size_t k, n, count[NL];
	sbuf why = SBUF_INIT(1024);

	for (k = 0; k < NL; k++) {
		r[k] = NULL;
		CHECK_EQ_INT(gray_rule_compile(NULL, 0, 0, NULL, ladder[k], "rule-7", &r[k], &why),
			     HC_OK);
		REQUIRE(r[k] != NULL);
		count[k] = 0;
	}
	for (n = 0; n < NIDS; n++) {
		snprintf(id, sizeof(id), "host-%zu.example", n);
		i = inst(id, "10.0.0.1", "app=web");
		for (k = 0; k < NL; k++) {
			in[k][n] = (unsigned char)gray_rule_matches(r[k], i);
			count[k] += in[k][n];
			/* Sticky: the same answer every time. */
			CHECK_EQ_INT(gray_rule_matches(r[k], i), in[k][n]);
		}
		gray_inst_free(i);
	}
	for (k = 1; k < NL; k++)
		for (n = 0; n < NIDS; n++)
			if (in[k - 1][n] && !in[k][n]) {
				CHECK(!"raising the percent dropped an instance");
				break;
			}
	CHECK_EQ_INT(count[0], 0);
	CHECK_EQ_INT(count[NL - 1], NIDS);
	CHECK(count[4] >= 850 && count[4] <= 1150);  /* 10% */
	CHECK(count[7] >= 4800 && count[7] <= 5200); /* 50% */
	CHECK(count[3] >= 400 && count[3] <= 600);   /* 5% */
	fprintf(stderr, "  10%% took %zu, 50%% took %zu of %d\n", count[4], count[7], NIDS);
	/* Another salt picks other instances: the rules are independent. */
	{
		gray_rule *other = NULL;
		size_t same = 0;
		CHECK_EQ_INT(gray_rule_compile(NULL, 0, 0, NULL, "10", "rule-8", &other, &why),
			     HC_OK);
		REQUIRE(other != NULL);
		for (n = 0; n < NIDS; n++) {
			snprintf(id, sizeof(id), "host-%zu.example", n);
			i = inst(id, "", "");
			same += in[4][n] && gray_rule_matches(other, i);
			gray_inst_free(i);
		}
		CHECK(same < 200); /* ~100 expected by chance, 1000 if salts were ignored */
		gray_rule_free(other);
	}
	for (k = 0; k < NL; k++)
		gray_rule_free(r[k]);
	sbuf_release(&why);
}

/* With no id the key is the IP in canonical text, so spellings of one
 * address share a bucket. */
static void test_bucket_by_ip(void)
{
	gray_rule *r = rule(NULL, NULL, "50");
	gray_inst *a, *b;
	char ip[32];
	unsigned n, hits = 0;
	const char *same[][2] = {
	    {"10.0.0.7", "::ffff:10.0.0.7"},
	    {"fd00::1", "FD00:0:0::0001"},
	    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
	};

	REQUIRE(r != NULL);
	for (n = 0; n < 1000; n++) {
		snprintf(ip, sizeof(ip), "10.0.%u.%u", n / 250, n % 250);
		a = inst("", ip, "");
		b = inst(NULL, ip, "");
		CHECK_EQ_INT(gray_rule_matches(r, a), gray_bucket("salt", ip) < 5000);
		CHECK_EQ_INT(gray_rule_matches(r, a), gray_rule_matches(r, b));
		hits += (unsigned)gray_rule_matches(r, a);
		gray_inst_free(a);
		gray_inst_free(b);
	}
	CHECK(hits > 400 && hits < 600);
	for (n = 0; n < sizeof(same) / sizeof(same[0]); n++) {
		a = inst("", same[n][0], "");
		b = inst("", same[n][1], "");
		CHECK_EQ_INT(gray_rule_matches(r, a), gray_rule_matches(r, b));
		gray_inst_free(a);
		gray_inst_free(b);
	}
	/* An id, when there is one, is the key, whatever the IP. */
	for (n = 0; n < 200; n++) {
		snprintf(ip, sizeof(ip), "10.1.0.%u", n);
		a = inst("fixed-id", ip, "");
		CHECK_EQ_INT(gray_rule_matches(r, a), gray_bucket("salt", "fixed-id") < 5000);
		gray_inst_free(a);
	}
	/* Not an address: the text as given. */
	a = inst("", "unknown", "");
	CHECK_EQ_INT(gray_rule_matches(r, a), gray_bucket("salt", "unknown") < 5000);
	gray_inst_free(a);
	gray_rule_free(r);
}

static void test_fields_and(void)
{
	const char *ips[] = {"10.0.0.0/8", NULL};
	gray_rule *r = rule(ips, "app=web", "100");
	gray_rule *none = rule(ips, "app=web", "0");
	gray_inst *i;

	REQUIRE(r != NULL && none != NULL);
	i = inst("a", "10.1.1.1", "app=web");
	CHECK(gray_rule_matches(r, i));
	CHECK(!gray_rule_matches(none, i));
	gray_inst_free(i);
	i = inst("a", "11.1.1.1", "app=web");
	CHECK(!gray_rule_matches(r, i));
	gray_inst_free(i);
	i = inst("a", "10.1.1.1", "app=api");
	CHECK(!gray_rule_matches(r, i));
	gray_inst_free(i);
	gray_rule_free(r);
	gray_rule_free(none);
}

static void test_empty_match_refused(void)
{
	sbuf why = SBUF_INIT(1024);

	CHECK_EQ_STR(compile_error(NULL, 0, 0, NULL, NULL, &why),
		     "match needs at least one of ips, labels and percent");
	/* Errors are reported in field order, for the first bad field. */
	CHECK(!strncmp(compile_error(NULL, 0, 0, "x=", "abc", &why), "match.percent", 13));
	sbuf_release(&why);
}

static void test_pick(void)
{
	const char *ten[] = {"10.0.0.0/8", NULL};
	gray_rule *rs[5];
	const gray_rule *const *crs = (const gray_rule *const *)rs;
	int prio[5] = {0, 5, 5, 1, 9};
	gray_inst *web = inst("a", "10.0.0.1", "app=web");
	gray_inst *api = inst("b", "10.0.0.1", "app=api");
	gray_inst *far = inst("c", "192.0.2.1", "app=db");

	rs[0] = rule(ten, NULL, NULL);		      /* every 10/8 instance */
	rs[1] = rule(NULL, "app=web", NULL);	      /* priority 5, older */
	rs[2] = rule(NULL, "app in (web,api)", NULL); /* priority 5, newer */
	rs[3] = rule(NULL, "app=api", NULL);
	rs[4] = rule(NULL, "app=none", NULL); /* highest priority, matches no one */
	REQUIRE(rs[0] && rs[1] && rs[2] && rs[3] && rs[4] && web && api && far);
	CHECK_EQ_INT(gray_pick(crs, prio, 5, web), 1); /* tie at 5: the older wins */
	CHECK_EQ_INT(gray_pick(crs, prio, 5, api), 2); /* 5 beats 1 and 0 */
	CHECK_EQ_INT(gray_pick(crs, prio, 5, far), -1);
	CHECK_EQ_INT(gray_pick(crs, prio, 0, web), -1);
	prio[2] = 6;
	CHECK_EQ_INT(gray_pick(crs, prio, 5, web), 2); /* higher wins over older */
	prio[0] = 7;
	CHECK_EQ_INT(gray_pick(crs, prio, 5, web), 0);
	CHECK_EQ_INT(gray_pick(crs, prio, 5, far), -1);
	prio[0] = -3;
	prio[1] = -3;
	prio[2] = -3;
	prio[3] = -3;
	CHECK_EQ_INT(gray_pick(crs, prio, 4, api), 0); /* all equal: the oldest matching */
	CHECK_EQ_INT(gray_pick(crs + 1, prio + 1, 3, api), 1);
	/* NULL entries are skipped. */
	gray_rule_free(rs[0]);
	rs[0] = NULL;
	CHECK_EQ_INT(gray_pick(crs, prio, 4, api), 2);
	for (size_t k = 1; k < 5; k++)
		gray_rule_free(rs[k]);
	gray_inst_free(web);
	gray_inst_free(api);
	gray_inst_free(far);
}

/* Hundredths back to the grammar's shortest text. */
static void test_percent_text(void)
{
	static const struct {
		int h;
		const char *text;
	} cases[] = {{0, "0"},	      {5, "0.05"},  {10, "0.1"},   {1250, "12.5"},
		     {1234, "12.34"}, {2500, "25"}, {10000, "100"}};
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gray_percent_text(cases[i].h, out);
		CHECK_EQ_STR(out, cases[i].text);
	}
}

int main(void)
{
	RUN(test_ips);
	RUN(test_ips_refused);
	RUN(test_selector_forms);
	RUN(test_selector_errors);
	RUN(test_instance_labels);
	RUN(test_percent_parse);
	RUN(test_bucket_pinned);
	RUN(test_percent_sticky_monotonic);
	RUN(test_bucket_by_ip);
	RUN(test_fields_and);
	RUN(test_empty_match_refused);
	RUN(test_pick);
	RUN(test_percent_text);
	return hc_test_report();
}
