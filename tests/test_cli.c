/* test_cli.c - the recur command, end to end: `recur run` against PyTorch,
 * and one-line errors with a non-zero exit code for bad input. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RECUR RC_SOURCE_DIR "/bin/recur"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/recur-cli-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs a shell command; returns its exit code and its stderr in err. */
static int run(const char *cmd, char *err, size_t n)
{
    char full[2048], errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
    snprintf(full, sizeof full, "%s 2>%s >/dev/null", cmd, errpath);
    int rc = system(full);
    FILE *f = fopen(errpath, "r");
    size_t k = f ? fread(err, 1, n - 1, f) : 0;
    err[k] = '\0';
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *name, const void *data, size_t n)
{
    char p[256];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* Expects the command to fail with exit code != 0 and exactly one line
 * on stderr that starts with "recur run:" and contains `want`. */
static void expect_error(const char *args, const char *want)
{
    char cmd[1024], err[4096];
    snprintf(cmd, sizeof cmd, "cd %s && " RECUR " run %s", tmpdir, args);
    int rc = run(cmd, err, sizeof err);
    if (rc == 0) fail_msg("'%s' succeeded; expected an error", args);
    if (strncmp(err, "recur run: ", 11) != 0 || strchr(err, '\n') != err + strlen(err) - 1)
        fail_msg("'%s': stderr is not one 'recur run:' line: %s", args, err);
    if (!strstr(err, want)) fail_msg("'%s': error '%s' does not mention '%s'", args, err, want);
}

static void make_model(void)
{
    /* A small LSTM with 2 layers, written by the library itself. */
    rc_rnn_config c = rc_rnn_defaults(RC_CELL_LSTM, 3, 4);
    c.num_layers = 2;
    rc_rnn *m;
    assert_int_equal(rc_rnn_new(&c, 1, &m), RC_OK);
    char p[256];
    path_of(p, sizeof p, "lstm.safetensors");
    assert_int_equal(rc_rnn_save(m, p), RC_OK);
    rc_rnn_free(m);
    int xs[3] = {5, 2, 3};
    rc_tensor x;
    assert_int_equal(rc_tensor_alloc(&x, 3, xs), RC_OK);
    for (size_t i = 0; i < x.size; i++) x.data[i] = (float)i / 10.0f;
    path_of(p, sizeof p, "x.npy");
    assert_int_equal(rc_npy_write(p, &x), RC_OK);
    rc_tensor_free(&x);
}

static void test_run_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    make_model();
    /* A good run first, so the failures below are about the bad parts. */
    char cmd[512], err[4096];
    snprintf(cmd, sizeof cmd, "cd %s && " RECUR " run lstm.safetensors --input x.npy --output y.npy",
             tmpdir);
    if (run(cmd, err, sizeof err) != 0) fail_msg("good run failed: %s", err);

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
    char p[256];
    path_of(p, sizeof p, "wide.npy");
    assert_int_equal(rc_npy_write(p, &w), RC_OK);
    rc_tensor_free(&w);
    expect_error("lstm.safetensors --input wide.npy --output y.npy", "[5x2x7]");
    int32_t lens[3] = {1, 2, 3}, big[2] = {9, 1};
    int ls[1] = {3}, bs[1] = {2};
    path_of(p, sizeof p, "len3.npy");
    assert_int_equal(rc_npy_write_int(p, lens, 1, ls), RC_OK);
    expect_error("lstm.safetensors --input x.npy --output y.npy --lengths len3.npy", "batch 2");
    path_of(p, sizeof p, "len9.npy");
    assert_int_equal(rc_npy_write_int(p, big, 1, bs), RC_OK);
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
             "/usr/bin/python3 " RC_SOURCE_DIR "/scripts/check_recur_run.py " RECUR
             " --cases 16 --seed %d > %s/check.txt 2>&1", (int)getpid(), tmpdir);
    if (system(cmd) != 0) {
        char p[256], out[8192];
        path_of(p, sizeof p, "check.txt");
        FILE *f = fopen(p, "r");
        size_t k = f ? fread(out, 1, sizeof out - 1, f) : 0;
        out[k] = '\0';
        if (f) fclose(f);
        fail_msg("recur run differs from torch:\n%s", out);
    }
}

static const struct CMUnitTest cli_tests_list[] = {
    cmocka_unit_test_setup_teardown(test_run_bad_input_gives_one_line_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_run_matches_torch_for_converted_modules, setup, teardown),
};
static const test_group cli_tests = {"cli", cli_tests_list,
                                     sizeof cli_tests_list / sizeof cli_tests_list[0]};
__attribute__((constructor)) static void cli_tests_register(void) { test_register(&cli_tests); }
