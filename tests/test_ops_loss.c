/* test_ops_loss.c - softmax, log_softmax, cross_entropy and mse: forward
 * values against direct computations in double, gradient checks on random
 * shapes from 1-D to 4-D, numerical stability and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

typedef struct shape_case {
    int ndim;
    int shape[RC_MAX_DIMS];
} shape_case;

static const shape_case shapes[] = {
    {1, {5}}, {2, {4, 3}}, {3, {2, 3, 5}}, {4, {2, 2, 1, 4}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static size_t last_dim(const rc_var *x) { return (size_t)x->value.shape[x->value.ndim - 1]; }

/* Row r's softmax in double. */
static void ref_softmax_row(const float *x, size_t C, double *p)
{
    double m = x[0], s = 0.0;
    for (size_t j = 1; j < C; j++) m = fmax(m, x[j]);
    for (size_t j = 0; j < C; j++) s += exp((double)x[j] - m);
    for (size_t j = 0; j < C; j++) p[j] = exp((double)x[j] - m) / s;
}

/* ---- softmax / log_softmax ---- */

static rc_var *f_softmax(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_softmax(t, in[0]);
}

static rc_var *f_log_softmax(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_log_softmax(t, in[0]);
}

static void test_softmax(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    double p[16];
    for (size_t s = 0; s < N_SHAPES; s++) {
        rc_var *x = test_param("x", shapes[s].ndim, shapes[s].shape, 200 + s, -2, 2);
        assert_gradcheck(f_softmax, NULL, &x, 1);
        assert_gradcheck(f_log_softmax, NULL, &x, 1);
        rc_tape_reset(t);
        rc_var *y = rc_softmax(t, x), *ly = rc_log_softmax(t, x);
        assert_non_null(y);
        assert_non_null(ly);
        size_t C = last_dim(x), rows = x->value.size / C;
        for (size_t r = 0; r < rows; r++) {
            ref_softmax_row(x->value.data + r * C, C, p);
            double sum = 0.0;
            for (size_t j = 0; j < C; j++) {
                sum += y->value.data[r * C + j];
                assert_float_equal(y->value.data[r * C + j], p[j], 1e-6);
                assert_float_equal(ly->value.data[r * C + j], log(p[j]), 1e-5);
            }
            assert_float_equal(sum, 1.0, 1e-6);
        }
        rc_param_free(x);
    }
    rc_tape_free(t);
}

static void test_softmax_stability(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    /* Logits that overflow expf without the shift, and a masked -inf. */
    int s[2] = {3, 3};
    float xv[9] = {1000.0f, 1001.0f, 999.0f,
                   -1000.0f, -1001.0f, -1002.0f,
                   5.0f, -INFINITY, 5.0f};
    rc_var *x = rc_input_grad(t, 2, s, xv);
    rc_var *y = rc_softmax(t, x), *ly = rc_log_softmax(t, x);
    assert_non_null(y);
    assert_non_null(ly);
    double p[3];
    for (int r = 0; r < 2; r++) {
        ref_softmax_row(xv + 3 * r, 3, p);
        for (int j = 0; j < 3; j++) {
            assert_float_equal(y->value.data[3 * r + j], p[j], 1e-6);
            assert_float_equal(ly->value.data[3 * r + j], log(p[j]), 1e-5);
        }
    }
    assert_float_equal(y->value.data[6], 0.5, 1e-7);
    assert_true(y->value.data[7] == 0.0f);
    assert_float_equal(ly->value.data[6], -log(2.0), 1e-6);
    assert_true(isinf(ly->value.data[7]) && ly->value.data[7] < 0);
    /* Gradients stay finite; the masked position gets none through softmax. */
    float seed[9];
    for (int i = 0; i < 9; i++) seed[i] = (float)(i % 4) - 1.5f;
    assert_int_equal(rc_backward_from(t, y, seed), RC_OK);
    for (int i = 0; i < 9; i++) assert_true(isfinite(x->grad[i]));
    assert_true(x->grad[7] == 0.0f);
    rc_tape_free(t);
}

/* ---- cross_entropy ---- */

typedef struct ce_case {
    const int32_t *targets;
    const float *mask;
} ce_case;

static rc_var *f_ce(rc_tape *t, rc_var **in, void *user)
{
    const ce_case *c = user;
    return rc_cross_entropy(t, in[0], c->targets, c->mask);
}

/* sum_i m_i (-log softmax(x_i)[t_i]) / sum_i m_i in double. */
static double ref_ce(const rc_var *x, const int32_t *tg, const float *mask)
{
    size_t C = last_dim(x), rows = x->value.size / C;
    double num = 0.0, den = 0.0, p[16];
    for (size_t r = 0; r < rows; r++) {
        double m = mask ? mask[r] : 1.0;
        if (m == 0.0) continue;
        ref_softmax_row(x->value.data + r * C, C, p);
        num += m * -log(p[tg[r]]);
        den += m;
    }
    return den > 0 ? num / den : 0.0;
}

static void test_cross_entropy(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t s = 0; s < N_SHAPES; s++) {
        const shape_case *sc = &shapes[s];
        rc_var *x = test_param("logits", sc->ndim, sc->shape, 220 + s, -2, 2);
        size_t C = last_dim(x), rows = x->value.size / C;
        int32_t tg[16];
        float mask[16];
        rc_rng r;
        rc_rng_init(&r, 230 + s);
        for (size_t i = 0; i < rows; i++) {
            tg[i] = (int32_t)(rc_rng_u32(&r) % C);
            mask[i] = (i % 3 == 1) ? 0.0f : 1.0f;
        }
        /* Masked rows carry an ignored id (-1), or one far out of range. */
        for (size_t i = 0; i < rows; i++)
            if (mask[i] == 0.0f) tg[i] = (i % 2) ? -1 : 1000;
        ce_case masked = {tg, mask};
        if (rows > 1) assert_gradcheck(f_ce, &masked, &x, 1);
        /* Without a mask every id must be valid. */
        int32_t tg_all[16];
        for (size_t i = 0; i < rows; i++) tg_all[i] = (int32_t)((i * 7 + s) % C);
        ce_case plain = {tg_all, NULL};
        assert_gradcheck(f_ce, &plain, &x, 1);

        rc_tape_reset(t);
        rc_var *l1 = rc_cross_entropy(t, x, tg_all, NULL);
        assert_non_null(l1);
        assert_int_equal(l1->value.ndim, 1);
        assert_int_equal(l1->value.shape[0], 1);
        assert_float_equal(l1->value.data[0], ref_ce(x, tg_all, NULL), 1e-5);
        if (rows > 1) {
            rc_var *l2 = rc_cross_entropy(t, x, tg, mask);
            assert_non_null(l2);
            assert_float_equal(l2->value.data[0], ref_ce(x, tg, mask), 1e-5);
        }
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* The fused backward: (softmax - onehot) * m / sum(m), also for
 * fractional weights; -log_softmax[t] through the generic ops agrees. */
static void test_cross_entropy_fused_backward(void **state)
{
    (void)state;
    int s[2] = {4, 5};
    rc_var *x = test_param("logits", 2, s, 240, -3, 3);
    int32_t tg[4] = {2, -1, 4, 0};
    float mask[4] = {0.5f, 0.0f, 2.0f, 1.0f};
    rc_tape *t = rc_tape_new();
    rc_var *loss = rc_cross_entropy(t, x, tg, mask);
    assert_non_null(loss);
    float loss_value = loss->value.data[0];
    assert_float_equal(loss_value, ref_ce(x, tg, mask), 1e-5);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    double p[5], msum = 3.5;
    for (int r = 0; r < 4; r++) {
        ref_softmax_row(x->value.data + 5 * r, 5, p);
        for (int j = 0; j < 5; j++) {
            double want = mask[r] == 0.0f ? 0.0 : (p[j] - (j == tg[r])) * mask[r] / msum;
            assert_float_equal(x->grad[5 * r + j], want, 1e-6);
        }
    }
    for (int j = 0; j < 5; j++) assert_true(x->grad[5 + j] == 0.0f);

    /* The same loss built from log_softmax, a one-hot weight and sum. */
    float w[20] = {0};
    for (int r = 0; r < 4; r++)
        if (mask[r] != 0.0f) w[5 * r + tg[r]] = (float)(-mask[r] / msum);
    rc_tape_reset(t);
    rc_var *wv = rc_input(t, 2, s, w);
    rc_var *l2 = rc_sum(t, rc_mul(t, rc_log_softmax(t, x), wv));
    assert_non_null(l2);
    assert_float_equal(l2->value.data[0], loss_value, 1e-5);
    rc_tape_free(t);
    rc_param_free(x);
}

/* Logits near +-1000 would overflow expf without the shift; the loss and
 * the gradient must still match the double-precision values. */
static void test_cross_entropy_large_logits(void **state)
{
    (void)state;
    int s[2] = {3, 4};
    rc_var *x = test_param("logits", 2, s, 245, -3, 3);
    for (int i = 0; i < 4; i++) x->value.data[i] += 1000.0f;
    for (int i = 4; i < 8; i++) x->value.data[i] -= 1000.0f;
    int32_t tg[3] = {1, 3, 0};
    rc_tape *t = rc_tape_new();
    rc_var *loss = rc_cross_entropy(t, x, tg, NULL);
    assert_non_null(loss);
    assert_true(isfinite(loss->value.data[0]));
    assert_float_equal(loss->value.data[0], ref_ce(x, tg, NULL), 1e-5);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    double p[4];
    for (int r = 0; r < 3; r++) {
        ref_softmax_row(x->value.data + 4 * r, 4, p);
        for (int j = 0; j < 4; j++)
            assert_float_equal(x->grad[4 * r + j], (p[j] - (j == tg[r])) / 3.0, 1e-6);
    }
    rc_tape_free(t);
    rc_param_free(x);
}

static void test_cross_entropy_all_masked(void **state)
{
    (void)state;
    int s[3] = {2, 3, 4};
    rc_var *x = test_param("logits", 3, s, 250, -2, 2);
    int32_t tg[6] = {-1, 7, -5, 0, 1, 100};
    float mask[6] = {0};
    rc_tape *t = rc_tape_new();
    rc_var *loss = rc_cross_entropy(t, x, tg, mask);
    assert_non_null(loss);
    assert_true(loss->value.data[0] == 0.0f);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (size_t i = 0; i < x->value.size; i++) assert_true(x->grad[i] == 0.0f);
    /* Grad mode off: the same value, nothing recorded for backward. */
    rc_tape_reset(t);
    rc_tape_set_grad(t, 0);
    int32_t ok[6] = {0, 1, 2, 3, 0, 1};
    rc_var *l = rc_cross_entropy(t, x, ok, NULL);
    assert_non_null(l);
    assert_false(l->requires_grad);
    assert_float_equal(l->value.data[0], ref_ce(x, ok, NULL), 1e-5);
    rc_tape_free(t);
    rc_param_free(x);
}

/* ---- mse ---- */

static rc_var *f_mse(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_mse(t, in[0], in[1]);
}

static void test_mse(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t s = 0; s < N_SHAPES; s++) {
        const shape_case *sc = &shapes[s];
        rc_var *in[2] = {test_param("a", sc->ndim, sc->shape, 260 + s, -1, 1),
                         test_param("b", sc->ndim, sc->shape, 270 + s, -1, 1)};
        assert_gradcheck(f_mse, NULL, in, 2);
        rc_tape_reset(t);
        rc_var *y = rc_mse(t, in[0], in[1]);
        assert_non_null(y);
        double want = 0.0;
        for (size_t i = 0; i < in[0]->value.size; i++) {
            double d = (double)in[0]->value.data[i] - in[1]->value.data[i];
            want += d * d;
        }
        assert_float_equal(y->value.data[0], want / (double)in[0]->value.size, 1e-6);
        /* Gradients: 2 (a - b) / n to a, its negative to b. */
        rc_param_zero_grad(in[0]);
        rc_param_zero_grad(in[1]);
        assert_int_equal(rc_backward(t, y), RC_OK);
        for (size_t i = 0; i < in[0]->value.size; i++) {
            double g = 2.0 * ((double)in[0]->value.data[i] - in[1]->value.data[i]) /
                       (double)in[0]->value.size;
            assert_float_equal(in[0]->grad[i], g, 1e-6);
            assert_float_equal(in[1]->grad[i], -g, 1e-6);
        }
        rc_param_free(in[0]);
        rc_param_free(in[1]);
    }
    rc_tape_free(t);
}

/* ---- bad calls ---- */

static void test_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s43[2] = {4, 3}, s34[2] = {3, 4}, s40[2] = {4, 0}, s12[1] = {12};
    rc_var *x = test_param("x", 2, s43, 1, -1, 1), *xt = test_param("xt", 2, s34, 2, -1, 1);
    rc_var *x0 = test_param("x0", 2, s40, 3, -1, 1), *flat = test_param("f", 1, s12, 4, -1, 1);
    int32_t tg[4] = {0, 2, 7, 1}, tg_neg[4] = {0, -1, 1, 1}, ok[4] = {0, 1, 2, 0};
    float mask[4] = {1, 1, 1, 1}, bad_mask[4] = {1, -1, 1, 1}, nan_mask[4] = {1, NAN, 1, 1};

    /* cross_entropy: ids out of range where the mask is not 0. */
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, tg, NULL), RC_ERR_RANGE, "cross_entropy", "row 2",
                     "id 7", "[4x3]");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, tg, mask), RC_ERR_RANGE, "cross_entropy", "row 2",
                     "id 7");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, tg_neg, NULL), RC_ERR_RANGE, "cross_entropy",
                     "row 1", "id -1");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, ok, bad_mask), RC_ERR_ARG, "cross_entropy",
                     "mask[1]");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, ok, nan_mask), RC_ERR_ARG, "cross_entropy",
                     "mask[1]");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, NULL, NULL), RC_ERR_ARG, "cross_entropy", "targets",
                     "[4x3]");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x0, ok, NULL), RC_ERR_SHAPE, "cross_entropy", "[4x0]");
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, NULL, ok, NULL), RC_ERR_ARG, "cross_entropy", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_cross_entropy(NULL, x, ok, NULL), RC_ERR_ARG, "cross_entropy",
                     "tape");
    x->value.data[5] = NAN;
    TEST_EXPECT_FAIL(t, rc_cross_entropy(t, x, ok, NULL), RC_ERR_NUMERIC, "cross_entropy", "row 1");
    TEST_EXPECT_FAIL(t, rc_softmax(t, x), RC_ERR_NUMERIC, "softmax", "[4x3]");
    TEST_EXPECT_FAIL(t, rc_log_softmax(t, x), RC_ERR_NUMERIC, "log_softmax", "[4x3]");
    x->value.data[5] = INFINITY;
    TEST_EXPECT_FAIL(t, rc_softmax(t, x), RC_ERR_NUMERIC, "softmax", "element 5");
    for (int j = 3; j < 6; j++) x->value.data[j] = -INFINITY;
    TEST_EXPECT_FAIL(t, rc_softmax(t, x), RC_ERR_NUMERIC, "softmax", "row 1", "-inf");
    TEST_EXPECT_FAIL(t, rc_log_softmax(t, x), RC_ERR_NUMERIC, "log_softmax", "row 1");

    TEST_EXPECT_FAIL(t, rc_softmax(t, NULL), RC_ERR_ARG, "softmax", "NULL");
    TEST_EXPECT_FAIL(t, rc_log_softmax(t, NULL), RC_ERR_ARG, "log_softmax", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_softmax(NULL, xt), RC_ERR_ARG, "softmax", "tape");
    TEST_EXPECT_FAIL(NULL, rc_log_softmax(NULL, xt), RC_ERR_ARG, "log_softmax", "tape");

    /* mse: shapes must be equal, not just the same size; not empty. */
    TEST_EXPECT_FAIL(t, rc_mse(t, xt, x), RC_ERR_SHAPE, "mse", "[3x4]", "[4x3]");
    TEST_EXPECT_FAIL(t, rc_mse(t, flat, xt), RC_ERR_SHAPE, "mse", "[12]", "[3x4]");
    TEST_EXPECT_FAIL(t, rc_mse(t, x0, x0), RC_ERR_SHAPE, "mse", "[4x0]");
    TEST_EXPECT_FAIL(t, rc_mse(t, NULL, xt), RC_ERR_ARG, "mse", "NULL");
    TEST_EXPECT_FAIL(t, rc_mse(t, xt, NULL), RC_ERR_ARG, "mse", "input 1");
    TEST_EXPECT_FAIL(NULL, rc_mse(NULL, xt, xt), RC_ERR_ARG, "mse", "tape");

    rc_param_free(x);
    rc_param_free(xt);
    rc_param_free(x0);
    rc_param_free(flat);
    rc_tape_free(t);
}

TEST_GROUP(ops_loss_tests, "ops_loss",
           cmocka_unit_test(test_softmax),
           cmocka_unit_test(test_softmax_stability),
           cmocka_unit_test(test_cross_entropy),
           cmocka_unit_test(test_cross_entropy_fused_backward),
           cmocka_unit_test(test_cross_entropy_large_logits),
           cmocka_unit_test(test_cross_entropy_all_masked),
           cmocka_unit_test(test_mse),
           cmocka_unit_test(test_errors));
