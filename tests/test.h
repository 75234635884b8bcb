/* test.h - what the test files share: cmocka, the group registry, and
 * helpers for gradient checks. */
#ifndef RECUR_TEST_H
#define RECUR_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "recur.h"

/* Each test file defines one group: a name and its tests. */
typedef struct test_group {
    const char *name;
    const struct CMUnitTest *tests;
    size_t n;
} test_group;

/* Registers the group at start-up, so a new test file needs no edit
 * elsewhere: TEST_GROUP(lstm_tests, "lstm", cmocka_unit_test(a), ...); */
void test_register(const test_group *g);
#define TEST_GROUP(var, label, ...)                                         \
    static const struct CMUnitTest var##_tests[] = {__VA_ARGS__};           \
    static const test_group var = {label, var##_tests,                      \
                                   sizeof var##_tests / sizeof var##_tests[0]}; \
    __attribute__((constructor)) static void var##_register(void)           \
    {                                                                       \
        test_register(&var);                                                \
    }

/* Skips the running test and counts it as skipped in the summary line
 * (cmocka's own skip() would leave it counted as passed there). */
extern int test_skipped;
#define TEST_SKIP()          \
    do {                     \
        test_skipped++;      \
        skip();              \
    } while (0)

/* A parameter of the given shape filled with uniform numbers in [lo, hi). */
rc_var *test_param(const char *name, int ndim, const int *shape, uint64_t seed,
                   float lo, float hi);

/* Runs the gradient checker and fails the test (printing the report) when
 * any element is off. */
void assert_gradcheck(rc_gradcheck_fn f, void *user, rc_var **inputs, int n);

#endif
