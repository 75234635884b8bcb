/* test_ops_bce.c - bce_with_logits (independent sigmoids, summed over the
 * last dimension, masked mean over rows): values against a direct double
 * computation, gradient checks on random shapes with soft and hard
 * targets and masks, the analytic gradient, large logits, and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

typedef struct shape_case {
    int ndim;
    int shape[RC_MAX_DIMS];
} shape_case;

static const shape_case shapes[] = {
    {1, {7}}, {2, {4, 3}}, {3, {3, 2, 5}}, {4, {2, 2, 3, 4}}, {3, {2, 3, 88}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

typedef struct bce_case {
    const float *targets, *mask;
} bce_case;

static rc_var *f_bce(rc_tape *t, rc_var **in, void *user)
{
    const bce_case *c = user;
    return rc_bce_with_logits(t, in[0], c->targets, c->mask);
}

/* -sum_i m_i sum_k [y log s(x) + (1-y) log(1-s(x))] / sum_i m_i, in double
 * through the sigmoid itself (fine for moderate logits). */
static double ref_bce(const rc_var *x, const float *y, const float *mask)
{
    size_t K = (size_t)x->value.shape[x->value.ndim - 1], rows = x->value.size / K;
    double num = 0, den = 0;
    for (size_t r = 0; r < rows; r++) {
        double m = mask ? mask[r] : 1.0;
        if (m == 0) continue;
        double s = 0;
        for (size_t k = 0; k < K; k++) {
            double p = 1.0 / (1.0 + exp(-(double)x->value.data[r * K + k]));
            double t = y[r * K + k];
            s -= t * log(p) + (1 - t) * log(1 - p);
        }
        num += m * s;
        den += m;
    }
    return den > 0 ? num / den : 0;
}

static void test_bce_values_and_gradcheck(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t s = 0; s < N_SHAPES; s++) {
        const shape_case *sc = &shapes[s];
        rc_var *x = test_param("logits", sc->ndim, sc->shape, 300 + s, -3, 3);
        size_t K = (size_t)sc->shape[sc->ndim - 1], rows = x->value.size / K;
        float y[2 * 3 * 88], soft[2 * 3 * 88], mask[64];
        rc_rng r;
        rc_rng_init(&r, 310 + s);
        for (size_t i = 0; i < x->value.size; i++) {
            y[i] = (float)(rc_rng_u32(&r) % 2);
            soft[i] = rc_rng_uniform(&r);
        }
        for (size_t i = 0; i < rows; i++) mask[i] = (i % 3 == 1) ? 0.0f : (i % 3 == 2 ? 0.5f : 1.0f);
        /* masked rows may hold anything, even targets outside [0, 1] */
        for (size_t i = 0; i < rows; i++)
            if (mask[i] == 0.0f) y[i * K] = 7.0f;
        bce_case hard = {y, rows > 1 ? mask : NULL}, plain = {soft, NULL};
        assert_gradcheck(f_bce, &hard, &x, 1);
        assert_gradcheck(f_bce, &plain, &x, 1);

        rc_tape_reset(t);
        rc_var *l1 = rc_bce_with_logits(t, x, soft, NULL);
        assert_non_null(l1);
        assert_int_equal(l1->value.ndim, 1);
        assert_int_equal(l1->value.shape[0], 1);
        assert_float_equal(l1->value.data[0], ref_bce(x, soft, NULL), 1e-4);
        rc_var *l2 = rc_bce_with_logits(t, x, y, hard.mask);
        assert_non_null(l2);
        assert_float_equal(l2->value.data[0], ref_bce(x, y, hard.mask), 1e-4);
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* The backward is w_i (s(x) - y) exactly; masked rows get 0. */
static void test_bce_analytic_gradient(void **state)
{
    (void)state;
    int s[2] = {3, 4};
    rc_var *x = test_param("logits", 2, s, 320, -4, 4);
    float y[12] = {1, 0, 1, 0, 0.25f, 1, 0, 1, 9, 9, 9, 9};
    float mask[3] = {2, 0.5f, 0};
    rc_tape *t = rc_tape_new();
    rc_var *loss = rc_bce_with_logits(t, x, y, mask);
    assert_non_null(loss);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++) {
            double p = 1.0 / (1.0 + exp(-(double)x->value.data[4 * r + k]));
            double want = mask[r] == 0 ? 0.0 : mask[r] / 2.5 * (p - y[4 * r + k]);
            assert_float_equal(x->grad[4 * r + k], want, 1e-6);
        }
    rc_tape_free(t);
    rc_param_free(x);
}

/* Logits of +-100: the sigmoid saturates in float, the loss must not be
 * inf or NaN: a confident right guess costs ~0, a confident wrong one
 * ~100 nats, and the gradient stays within [-1, 1]. */
static void test_bce_large_logits(void **state)
{
    (void)state;
    int s[2] = {1, 4};
    float v[4] = {100, -100, 100, -100}, y[4] = {1, 0, 0, 1};
    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 2, s, v);
    rc_var *loss = rc_bce_with_logits(t, x, y, NULL);
    assert_non_null(loss);
    assert_float_equal(loss->value.data[0], 200.0, 1e-3);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    float want[4] = {0, 0, 1, -1};
    for (int i = 0; i < 4; i++) assert_float_equal(x->grad[i], want[i], 1e-6);
    /* all rows masked: 0 and a zero gradient */
    rc_tape_reset(t);
    x = rc_input_grad(t, 2, s, v);
    float none[1] = {0};
    loss = rc_bce_with_logits(t, x, y, none);
    assert_non_null(loss);
    assert_true(loss->value.data[0] == 0.0f);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int i = 0; i < 4; i++) assert_true(x->grad[i] == 0.0f);
    rc_tape_free(t);
}

static void test_bce_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s43[2] = {4, 3}, s40[2] = {4, 0};
    rc_var *x = test_param("x", 2, s43, 1, -1, 1), *x0 = test_param("x0", 2, s40, 2, -1, 1);
    float y[12] = {0}, bad[12] = {0}, mask[4] = {1, 1, 1, 1}, neg[4] = {1, -1, 1, 1},
          nan_mask[4] = {1, NAN, 1, 1};
    bad[7] = 1.5f;
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x, bad, NULL), RC_ERR_RANGE, "bce_with_logits",
                     "target 1 of row 2", "1.5", "[4x3]");
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x, y, neg), RC_ERR_ARG, "bce_with_logits",
                     "mask[1]");
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x, y, nan_mask), RC_ERR_ARG, "mask[1]");
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x, NULL, mask), RC_ERR_ARG, "targets", "[4x3]");
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x0, y, NULL), RC_ERR_SHAPE, "[4x0]");
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, NULL, y, NULL), RC_ERR_ARG, "bce_with_logits");
    TEST_EXPECT_FAIL(NULL, rc_bce_with_logits(NULL, x, y, NULL), RC_ERR_ARG, "tape");
    x->value.data[4] = NAN;
    TEST_EXPECT_FAIL(t, rc_bce_with_logits(t, x, y, NULL), RC_ERR_NUMERIC, "logit 1 of row 1");
    /* a masked row's NaN is not looked at */
    float m1[4] = {1, 0, 1, 1};
    rc_tape_reset(t);
    assert_non_null(rc_bce_with_logits(t, x, y, m1));
    rc_param_free(x);
    rc_param_free(x0);
    rc_tape_free(t);
}

TEST_GROUP(ops_bce, "ops_bce", cmocka_unit_test(test_bce_values_and_gradcheck),
           cmocka_unit_test(test_bce_analytic_gradient), cmocka_unit_test(test_bce_large_logits),
           cmocka_unit_test(test_bce_errors));
