/* main.c - runs every registered test group (all of them, or those named
 * on the command line) and prints one summary line. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 128
static const test_group *groups[MAX_GROUPS];
static int n_groups;
int test_skipped;

void test_register(const test_group *g)
{
    if (n_groups < MAX_GROUPS) groups[n_groups++] = g;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const test_group *const *)a)->name, (*(const test_group *const *)b)->name);
}

static int wanted(const char *name, int argc, char **argv)
{
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name)) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    qsort(groups, (size_t)n_groups, sizeof groups[0], by_name);
    size_t total = 0;
    int failed = 0;
    for (int g = 0; g < n_groups; g++) {
        if (!wanted(groups[g]->name, argc, argv)) continue;
        failed += _cmocka_run_group_tests(groups[g]->name, groups[g]->tests, groups[g]->n,
                                          NULL, NULL);
        total += groups[g]->n;
    }
    printf("\ntests: %zu passed, %d failed, %d skipped\n",
           total - (size_t)failed - (size_t)test_skipped, failed, test_skipped);
    return failed ? 1 : 0;
}
