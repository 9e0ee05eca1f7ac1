/* A minimal C test harness whose summary line matches busted's, so
 * tests/run-all totals C and Lua suites the same way. */
#ifndef FERRY_UNIT_H
#define FERRY_UNIT_H

#include <stdio.h>
#include <string.h>
#include <time.h>

static int unit_successes, unit_failures;
static int unit_current_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            unit_current_failed = 1;                                                  \
        }                                                                             \
    } while (0)

#define CHECK_STR(actual, expected)                                                   \
    do {                                                                              \
        const char *a_ = (actual), *e_ = (expected);                                  \
        if (!a_ || strcmp(a_, e_) != 0) {                                             \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__,         \
                    __LINE__, e_, a_ ? a_ : "(null)");                                \
            unit_current_failed = 1;                                                  \
        }                                                                             \
    } while (0)

#define CHECK_CONTAINS(actual, needle)                                                \
    do {                                                                              \
        const char *a_ = (actual), *n_ = (needle);                                    \
        if (!a_ || !strstr(a_, n_)) {                                                 \
            fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, \
                    n_, a_ ? a_ : "(null)");                                          \
            unit_current_failed = 1;                                                  \
        }                                                                             \
    } while (0)

static void unit_run(const char *name, void (*test)(void))
{
    unit_current_failed = 0;
    test();
    if (unit_current_failed) {
        unit_failures++;
        fprintf(stderr, "FAIL %s\n", name);
    } else {
        unit_successes++;
    }
}

#define RUN(test) unit_run(#test, test)

static int unit_summary(clock_t started)
{
    printf("%d successes / %d failures / 0 errors / 0 pending : %.6f seconds\n",
           unit_successes, unit_failures, (double)(clock() - started) / CLOCKS_PER_SEC);
    return unit_failures ? 1 : 0;
}

#endif
