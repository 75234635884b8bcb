/* test.h - what the test files share: cmocka, the group registry,
 * helpers for gradient checks and bad calls, temporary files, and running
 * the recur command. */
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

/* The checks of a bad op call: NULL, the tape's status (then reset, so the
 * next bad call's message is its own) and a message holding every one of
 * the words: TEST_EXPECT_FAIL(t, rc_add(t, a, b), RC_ERR_SHAPE, "add"). */
void test_expect_fail(rc_tape *t, const void *result, rc_status st, const char *const *words,
                      const char *what);
#define TEST_EXPECT_FAIL(t, expr, st, ...)                                               \
    do {                                                                                 \
        rc_clear_error();                                                                \
        const void *r_ = (expr);                                                         \
        test_expect_fail((t), r_, (st), (const char *const[]){__VA_ARGS__, NULL}, #expr); \
    } while (0)

/* ---- files: a temporary directory per test ---- */

/* Makes $TMPDIR/recur-TAG-XXXXXX (/tmp when TMPDIR is unset or too long
 * for the name); returns the malloc'd name, or NULL. */
char *test_tmpdir_make(const char *tag);
/* Removes dir and everything below it, then frees the name; 0 when all
 * of it went. NULL is a no-op. */
int test_tmpdir_remove(char *dir);

/* Fresh random parity cases from torch: runs scripts/SCRIPT with --quick and
 * a seed (the pid, printed) into DIR/fresh.safetensors, DIR a new temporary
 * directory (remove it with test_tmpdir_remove). NULL when torch is not
 * importable: the caller then calls TEST_SKIP(). */
char *test_torch_fresh_cases(const char *script, const char *tag, unsigned *seed);
/* Tensor "CASE/NAME" of a parity fixture (data NULL when absent; a file
 * error fails the test). Free it with rc_tensor_free. */
rc_tensor test_fixture_get(const rc_safetensors *st, const char *c, const char *name);
/* Runs check_case on every case of a parity fixture file (its "cases"
 * metadata: comma-separated names; check_case returns non-zero for a case
 * that differs, having printed why) and fails the test naming the file and
 * how many differ. Returns the number of cases. */
int test_fixture_cases(const char *path,
                       int (*check_case)(const rc_safetensors *st, const char *c, void *user),
                       void *user);
/* Parity: got[i] against a fixture tensor, |got - want| <= rtol * max|want|
 * (max at least 1e-3, so an all-zero tensor must be near zero, not exactly;
 * got NULL stands for zeros, a gradient never written). Returns 1 when
 * every element is within; otherwise prints the worst one, naming case c,
 * tensor name and index, and returns 0 (the caller counts and fails). */
int test_close_to_fixture(const char *c, const char *name, const float *got,
                          const rc_tensor *want, double rtol);
/* dir/name in one of 8 rotating buffers (a test holds a few at a time). */
const char *test_path(const char *dir, const char *name);
/* Writes n bytes to path, failing the test when it cannot. */
void test_write_bytes(const char *path, const void *bytes, size_t n);
/* The same to dir/name; returns the path (as test_path). */
const char *test_write_file(const char *dir, const char *name, const void *bytes, size_t n);
/* The contents of dir/name, malloc'd and NUL-terminated; NULL when it
 * cannot be read. */
char *test_slurp(const char *dir, const char *name);
/* Lines in dir/name (0 when it cannot be read). */
int test_count_lines(const char *dir, const char *name);
/* From a training log dir/name ("step,loss,lr" lines), each step's loss
 * as written, the last one logged for it (a resumed run logs the redone
 * steps again); returns the highest step up to max. */
int test_read_losses(const char *dir, const char *name, char losses[][32], int max);

/* ---- the recur command ---- */

/* The recur command the CLI tests run: the Makefile passes the one built
 * with the tests (bin/recur, or BUILD/bin/recur for another build, so the
 * sanitizer run tests a sanitized recur). */
#ifndef TEST_RECUR
#define TEST_RECUR RC_SOURCE_DIR "/bin/recur"
#endif

/* Runs `recur ARGS` in dir, stdout to dir/out.txt and stderr to
 * dir/err.txt; returns the exit code (-1 when it did not exit) and, when
 * err is not NULL, the start of stderr in err[n]. */
int test_run_recur(const char *dir, const char *args, char *err, size_t n);
/* Expects `recur ARGS` in dir to fail with exactly one line on stderr,
 * starting with prefix ("recur ", "recur run: ") and mentioning want. */
void test_expect_cli_error(const char *dir, const char *args, const char *prefix,
                           const char *want);
/* A table of such calls, all starting with the same words (the resumed
 * runs a checkpoint refuses): for each case, test_expect_cli_error on
 * `recur CMD ARGS`, CMD as "train lm --resume r.model.ckpt". */
typedef struct test_cli_error_case {
    const char *args, *want;
} test_cli_error_case;
void test_expect_cli_errors(const char *dir, const char *cmd, const char *prefix,
                            const test_cli_error_case *cases, size_t n);
#define TEST_EXPECT_CLI_ERRORS(dir, cmd, prefix, table) \
    test_expect_cli_errors((dir), (cmd), (prefix), (table), sizeof(table) / sizeof((table)[0]))

#endif
