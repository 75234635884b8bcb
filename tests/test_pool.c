/* test_pool.c - pooling over time (rc_pool_time): forward against a
 * direct computation, gradient checks on several shapes and lengths
 * (length 1 included), padding that is never read (NaN there changes
 * nothing and gets no gradient), and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

typedef struct pcase {
    int T, B, D;
    int32_t len[4];
    rc_pool_kind kind;
} pcase;

static rc_var *f_pool(rc_tape *t, rc_var **in, void *user)
{
    const pcase *c = user;
    return rc_pool_time(t, in[0], c->len, c->kind);
}

static void test_pool_gradcheck(void **state)
{
    (void)state;
    const pcase cases[] = {
        {3, 2, 4, {3, 1}, RC_POOL_MEAN}, {5, 3, 2, {2, 5, 4}, RC_POOL_MEAN},
        {1, 1, 3, {1}, RC_POOL_MEAN},    {4, 2, 3, {4, 2}, RC_POOL_MAX},
        {6, 4, 2, {1, 6, 3, 5}, RC_POOL_MAX}, {2, 3, 5, {2, 1, 2}, RC_POOL_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pcase *c = &cases[i];
        int sh[3] = {c->T, c->B, c->D};
        /* Well-separated values keep the max away from ties under the
         * checker's finite differences. */
        rc_var *x = test_param("x", 3, sh, 40 + i, -1, 1);
        for (size_t k = 0; k < x->value.size; k++) x->value.data[k] += 0.25f * (float)(k % 7);
        rc_var *in[1] = {x};
        assert_gradcheck(f_pool, (void *)c, in, 1);
        rc_param_free(x);
    }
}

static void test_pool_forward_and_padding(void **state)
{
    (void)state;
    int T = 4, B = 3, D = 2, sh[3] = {T, B, D};
    int32_t len[3] = {4, 1, 2};
    rc_var *x = test_param("x", 3, sh, 7, -2, 2);
    /* Padding holds NaN: never read, never given a gradient. */
    for (int b = 0; b < B; b++)
        for (int t = len[b]; t < T; t++)
            for (int d = 0; d < D; d++) x->value.data[((size_t)t * B + b) * D + d] = NAN;
    for (int kind = 0; kind < 2; kind++) {
        rc_tape *tp = rc_tape_new();
        rc_var *y = rc_pool_time(tp, x, len, (rc_pool_kind)kind);
        assert_non_null(y);
        assert_int_equal(y->value.ndim, 2);
        assert_int_equal(y->value.shape[0], B);
        assert_int_equal(y->value.shape[1], D);
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                double want = kind == RC_POOL_MEAN ? 0 : -INFINITY;
                for (int t = 0; t < len[b]; t++) {
                    double v = x->value.data[((size_t)t * B + b) * D + d];
                    if (kind == RC_POOL_MEAN) want += v / len[b];
                    else if (v > want) want = v;
                }
                assert_float_equal(y->value.data[b * D + d], want, 1e-6);
            }
        assert_int_equal(rc_backward(tp, rc_sum(tp, y)), RC_OK);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    float g = x->grad[((size_t)t * B + b) * D + d];
                    if (t >= len[b]) assert_true(g == 0.0f);
                    else if (kind == RC_POOL_MEAN) assert_float_equal(g, 1.0 / len[b], 1e-6);
                }
        if (kind == RC_POOL_MAX) {
            /* Each (b, d) sends its gradient to exactly one step. */
            for (int b = 0; b < B; b++)
                for (int d = 0; d < D; d++) {
                    float s = 0;
                    for (int t = 0; t < T; t++) s += x->grad[((size_t)t * B + b) * D + d];
                    assert_float_equal(s, 1.0, 1e-6);
                }
        }
        rc_param_zero_grad(x);
        rc_tape_free(tp);
    }
    /* Without lengths every step counts. */
    rc_tape *tp = rc_tape_new();
    int sh2[3] = {2, 1, 1};
    float v[2] = {1, 3};
    rc_var *x2 = rc_input(tp, 3, sh2, v);
    assert_float_equal(rc_pool_time(tp, x2, NULL, RC_POOL_MEAN)->value.data[0], 2.0, 1e-6);
    assert_float_equal(rc_pool_time(tp, x2, NULL, RC_POOL_MAX)->value.data[0], 3.0, 1e-6);
    rc_tape_free(tp);
    rc_param_free(x);
}

static void test_pool_bad_calls(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s2[2] = {3, 4}, s3[3] = {3, 2, 4};
    rc_var *x2 = rc_input(t, 2, s2, NULL), *x3 = rc_input(t, 3, s3, NULL);
    int32_t bad[2] = {1, 4}, zero[2] = {0, 2};
    TEST_EXPECT_FAIL(t, rc_pool_time(t, x2, NULL, RC_POOL_MEAN), RC_ERR_SHAPE, "pool_mean",
                     "[3x4]");
    x3 = rc_input(t, 3, s3, NULL);
    TEST_EXPECT_FAIL(t, rc_pool_time(t, x3, bad, RC_POOL_MAX), RC_ERR_RANGE, "pool_max",
                     "lengths[1] = 4", "1..3");
    x3 = rc_input(t, 3, s3, NULL);
    TEST_EXPECT_FAIL(t, rc_pool_time(t, x3, zero, RC_POOL_MEAN), RC_ERR_RANGE, "lengths[0] = 0");
    x3 = rc_input(t, 3, s3, NULL);
    TEST_EXPECT_FAIL(t, rc_pool_time(t, x3, NULL, (rc_pool_kind)7), RC_ERR_ARG, "kind 7");
    TEST_EXPECT_FAIL(t, rc_pool_time(t, NULL, NULL, RC_POOL_MEAN), RC_ERR_ARG, "pool_mean");
    rc_tape_free(t);
}

TEST_GROUP(pool_group, "pool", cmocka_unit_test(test_pool_gradcheck),
           cmocka_unit_test(test_pool_forward_and_padding), cmocka_unit_test(test_pool_bad_calls))
