/* main.c - runs every test group and prints one summary line. */
#include "test.h"

#include <stdio.h>

extern const test_group core_tests, autograd_tests, ops_tests;

static const test_group *const groups[] = {
    &core_tests,
    &autograd_tests,
    &ops_tests,
};

int main(void)
{
    size_t total = 0;
    int failed = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        failed += _cmocka_run_group_tests(groups[g]->name, groups[g]->tests, groups[g]->n,
                                          NULL, NULL);
        total += groups[g]->n;
    }
    printf("\ntests: %zu passed, %d failed\n", total - (size_t)failed, failed);
    return failed ? 1 : 0;
}
