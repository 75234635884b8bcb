/* test_cli.c - the recur command, end to end: `recur run` against PyTorch,
 * and one-line errors with a non-zero exit code for bad input. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The running test's temporary directory. */
static char *tmpdir;
static int setup(void **state) { return (tmpdir = test_tmpdir_make("cli")) ? 0 : -1; }
static int teardown(void **state) { return test_tmpdir_remove(tmpdir); }

static void write_bytes(const char *name, const void *data, size_t n)
{
    test_write_file(tmpdir, name, data, n);
}

/* Expects `recur run ARGS` to fail with exit code != 0 and exactly one
 * line on stderr that starts with "recur run:" and contains `want`. */
static void expect_error(const char *args, const char *want)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "run %s", args);
    test_expect_cli_error(tmpdir, cmd, "recur run: ", want);
}

static void make_model(void)
{
    /* A small LSTM with 2 layers, written by the library itself. */
    rc_rnn_config c = rc_rnn_defaults(RC_CELL_LSTM, 3, 4);
    c.num_layers = 2;
    rc_rnn *m;
    assert_int_equal(rc_rnn_new(&c, 1, &m), RC_OK);
    assert_int_equal(rc_rnn_save(m, test_path(tmpdir, "lstm.safetensors")), RC_OK);
    rc_rnn_free(m);
    int xs[3] = {5, 2, 3};
    rc_tensor x;
    assert_int_equal(rc_tensor_alloc(&x, 3, xs), RC_OK);
    for (size_t i = 0; i < x.size; i++) x.data[i] = (float)i / 10.0f;
    assert_int_equal(rc_npy_write(test_path(tmpdir, "x.npy"), &x), RC_OK);
    rc_tensor_free(&x);
}

static void test_run_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    make_model();
    /* A good run first, so the failures below are about the bad parts. */
    char err[4096];
    if (test_run_recur(tmpdir, "run lstm.safetensors --input x.npy --output y.npy", err,
                       sizeof err) != 0)
        fail_msg("good run failed: %s", err);

    expect_error("lstm.safetensors --output y.npy", "--input");
    expect_error("missing.safetensors --input x.npy --output y.npy", "missing.safetensors");
    expect_error("lstm.safetensors --input nope.npy --output y.npy", "nope.npy");
    expect_error("lstm.safetensors --input x.npy --output y.npy --bogus 1", "--bogus");

    /* Truncated model file. */
    write_bytes("trunc.safetensors", "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13);
    expect_error("trunc.safetensors --input x.npy --output y.npy", "trunc.safetensors");
    /* A safetensors file of another kind. */
    write_bytes("other.safetensors",
                "\x28\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"format\":\"pt\"}}        ", 48);
    expect_error("other.safetensors --input x.npy --output y.npy", "not a recur model");
    /* Not an npy file, and an npy of an unknown dtype. */
    write_bytes("junk.npy", "hello world", 11);
    expect_error("lstm.safetensors --input junk.npy --output y.npy", "junk.npy");
    const char hdr[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<c8', 'fortran_order': False, "
                       "'shape': (5, 2, 3), }";
    char buf[128 + 10];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, hdr, sizeof hdr - 1);
    buf[10 + 118 - 1] = '\n';
    write_bytes("complex.npy", buf, 128);
    expect_error("lstm.safetensors --input complex.npy --output y.npy", "complex.npy");
    /* Shapes that do not fit the model. */
    rc_tensor w;
    int ws[3] = {5, 2, 7};
    assert_int_equal(rc_tensor_alloc(&w, 3, ws), RC_OK);
    assert_int_equal(rc_npy_write(test_path(tmpdir, "wide.npy"), &w), RC_OK);
    rc_tensor_free(&w);
    expect_error("lstm.safetensors --input wide.npy --output y.npy", "[5x2x7]");
    int32_t lens[3] = {1, 2, 3}, big[2] = {9, 1};
    int ls[1] = {3}, bs[1] = {2};
    assert_int_equal(rc_npy_write_int(test_path(tmpdir, "len3.npy"), lens, 1, ls), RC_OK);
    expect_error("lstm.safetensors --input x.npy --output y.npy --lengths len3.npy", "batch 2");
    assert_int_equal(rc_npy_write_int(test_path(tmpdir, "len9.npy"), big, 1, bs), RC_OK);
    expect_error("lstm.safetensors --input x.npy --output y.npy --lengths len9.npy", "outside 1..5");
    expect_error("lstm.safetensors --input x.npy --output y.npy --h0 x.npy", "h0");
}

static void test_run_matches_torch_for_converted_modules(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        TEST_SKIP();
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 " RC_SOURCE_DIR "/scripts/check_recur_run.py " TEST_RECUR
             " --cases 16 --seed %d > %s/check.txt 2>&1", (int)getpid(), tmpdir);
    if (system(cmd) != 0) {
        char *out = test_slurp(tmpdir, "check.txt");
        fail_msg("recur run differs from torch:\n%s", out ? out : "");
    }
}

static const struct CMUnitTest cli_tests_list[] = {
    cmocka_unit_test_setup_teardown(test_run_bad_input_gives_one_line_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_run_matches_torch_for_converted_modules, setup, teardown),
};
static const test_group cli_tests = {"cli", cli_tests_list,
                                     sizeof cli_tests_list / sizeof cli_tests_list[0]};
__attribute__((constructor)) static void cli_tests_register(void) { test_register(&cli_tests); }
