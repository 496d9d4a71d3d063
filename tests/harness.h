/*
 * harness.h: the whole unit-test framework. CHECK* report and count a failure
 * and carry on; REQUIRE stops the current test function. RUN(fn) runs one
 * test; main returns hc_test_report(). Single-threaded.
 */
#ifndef HC_HARNESS_H
#define HC_HARNESS_H

#include <stdio.h>
#include <string.h>

static int hc_test_failures;
static int hc_test_checks;
static int hc_test_run;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		hc_test_checks++;                                                                  \
		if (!(cond)) {                                                                     \
			hc_test_failures++;                                                        \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);  \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long hc_a_ = (long long)(a), hc_b_ = (long long)(b);                          \
		hc_test_checks++;                                                                  \
		if (hc_a_ != hc_b_) {                                                              \
			hc_test_failures++;                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,        \
				__LINE__, #a, #b, hc_a_, hc_b_);                                   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
	do {                                                                                       \
		const char *hc_a_ = (a), *hc_b_ = (b);                                             \
		hc_test_checks++;                                                                  \
		if (!hc_a_ || !hc_b_ || strcmp(hc_a_, hc_b_) != 0) {                               \
			hc_test_failures++;                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,    \
				__LINE__, #a, #b, hc_a_ ? hc_a_ : "(null)",                        \
				hc_b_ ? hc_b_ : "(null)");                                         \
		}                                                                                  \
	} while (0)

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		hc_test_checks++;                                                                  \
		if (!(cond)) {                                                                     \
			hc_test_failures++;                                                        \
			fprintf(stderr, "%s:%d: REQUIRE(%s) failed; test stopped\n", __FILE__,     \
				__LINE__, #cond);                                                  \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		int hc_before_ = hc_test_failures;                                                 \
		hc_test_run++;                                                                     \
		fn();                                                                              \
		fprintf(stderr, "%s %s\n", hc_test_failures == hc_before_ ? "ok  " : "FAIL", #fn); \
	} while (0)

static inline int hc_test_report(void)
{
	fprintf(stderr, "%d tests, %d checks, %d failed\n", hc_test_run, hc_test_checks,
		hc_test_failures);
	return hc_test_failures ? 1 : 0;
}

#endif
