/* test_rnn_parity.c - the recurrent layer against PyTorch, number for number.
 *
 * tests/fixtures/rnn_parity.safetensors (made by scripts/make_rnn_parity.py
 * with torch) holds many cases: a layer's configuration, weights, input,
 * optional lengths and initial states, torch's outputs, and torch's
 * gradients of sum(y*dy) + sum(h_n*dh) + sum(c_n*dc). Each case is rebuilt
 * here and every tensor compared within 1e-5 of the tensor's largest
 * magnitude. When torch is importable, fresh random cases are made and
 * checked too. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-5

#ifndef RC_SOURCE_DIR
#define RC_SOURCE_DIR "."
#endif

/* Runs one case; returns the number of tensors that differ. */
static int check_case(const rc_safetensors *st, const char *c, void *unused)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s/", c);
    rc_rnn_config cfg;
    rc_rnn *m = NULL;
    if (rc_rnn_config_read(st, prefix, &cfg) != RC_OK || rc_rnn_new(&cfg, 1, &m) != RC_OK)
        fail_msg("case %s: %s", c, rc_last_error());
    char pprefix[64];
    snprintf(pprefix, sizeof pprefix, "%s/param/", c);
    if (rc_rnn_params_read(m, st, pprefix) != RC_OK) fail_msg("case %s: %s", c, rc_last_error());

    rc_tensor x = test_fixture_get(st, c, "x"), h0 = test_fixture_get(st, c, "h0"), c0 = test_fixture_get(st, c, "c0"),
              len = test_fixture_get(st, c, "lengths");
    int32_t lengths[64];
    for (size_t i = 0; i < len.size && i < 64; i++) lengths[i] = (int32_t)len.data[i];

    rc_tape *t = rc_tape_new();
    rc_var *vx = rc_input_grad(t, x.ndim, x.shape, x.data);
    rc_var *vh0 = h0.data ? rc_input_grad(t, h0.ndim, h0.shape, h0.data) : NULL;
    rc_var *vc0 = c0.data ? rc_input_grad(t, c0.ndim, c0.shape, c0.data) : NULL;
    rc_var *y, *hn, *cn;
    rc_rnn_zero_grad(m);
    if (rc_rnn_forward(t, m, vx, len.data ? lengths : NULL, vh0, vc0, &y, &hn, &cn) != RC_OK)
        fail_msg("case %s: forward: %s", c, rc_last_error());

    int bad = 0;
    rc_tensor want = test_fixture_get(st, c, "y");
    bad += !test_close_to_fixture(c, "y", y->value.data, &want, TOL);
    rc_tensor_free(&want);
    want = test_fixture_get(st, c, "h_n");
    bad += !test_close_to_fixture(c, "h_n", hn->value.data, &want, TOL);
    rc_tensor_free(&want);
    if (cfg.mode == RC_CELL_LSTM) {
        want = test_fixture_get(st, c, "c_n");
        bad += !test_close_to_fixture(c, "c_n", cn->value.data, &want, TOL);
        rc_tensor_free(&want);
    }

    /* loss = sum(y*dy) + sum(h_n*dh) (+ sum(c_n*dc)) */
    rc_tensor dy = test_fixture_get(st, c, "dy"), dh = test_fixture_get(st, c, "dh_n"), dc = test_fixture_get(st, c, "dc_n");
    rc_var *loss = rc_add(t, rc_sum(t, rc_mul(t, y, rc_input(t, dy.ndim, dy.shape, dy.data))),
                          rc_sum(t, rc_mul(t, hn, rc_input(t, dh.ndim, dh.shape, dh.data))));
    if (cn) loss = rc_add(t, loss, rc_sum(t, rc_mul(t, cn, rc_input(t, dc.ndim, dc.shape, dc.data))));
    if (rc_backward(t, loss) != RC_OK) fail_msg("case %s: backward: %s", c, rc_last_error());

    want = test_fixture_get(st, c, "grad/x");
    bad += !test_close_to_fixture(c, "grad x", vx->grad, &want, TOL);
    rc_tensor_free(&want);
    if (vh0) {
        want = test_fixture_get(st, c, "grad/h0");
        bad += !test_close_to_fixture(c, "grad h0", vh0->grad, &want, TOL);
        rc_tensor_free(&want);
    }
    if (vc0) {
        want = test_fixture_get(st, c, "grad/c0");
        bad += !test_close_to_fixture(c, "grad c0", vc0->grad, &want, TOL);
        rc_tensor_free(&want);
    }
    for (int i = 0; i < m->n_params; i++) {
        char k[96];
        snprintf(k, sizeof k, "grad/%s", m->params[i]->name);
        want = test_fixture_get(st, c, k);
        if (!want.data) fail_msg("case %s: fixture lacks %s", c, k);
        bad += !test_close_to_fixture(c, k, m->params[i]->grad, &want, TOL);
        rc_tensor_free(&want);
    }
    rc_tensor_free(&dy), rc_tensor_free(&dh), rc_tensor_free(&dc);
    rc_tensor_free(&x), rc_tensor_free(&h0), rc_tensor_free(&c0), rc_tensor_free(&len);
    rc_tape_free(t);
    rc_rnn_free(m);
    return bad;
}

static void test_parity_with_committed_torch_cases(void **state)
{
    (void)state;
    int n = test_fixture_cases(RC_SOURCE_DIR "/tests/fixtures/rnn_parity.safetensors",
                               check_case, NULL);
    assert_true(n >= 50);
}

static void test_parity_with_fresh_random_torch_cases(void **state)
{
    (void)state;
    unsigned seed;
    char *dir = test_torch_fresh_cases("make_rnn_parity.py", "parity", &seed);
    if (!dir) {
        TEST_SKIP(); /* counted as skipped, not passed */
        return;
    }
    assert_true(test_fixture_cases(test_path(dir, "fresh.safetensors"), check_case, NULL) >= 10);
    test_tmpdir_remove(dir);
}

TEST_GROUP(rnn_parity_tests, "rnn_parity",
           cmocka_unit_test(test_parity_with_committed_torch_cases),
           cmocka_unit_test(test_parity_with_fresh_random_torch_cases));
