/* test_ops_dropout.c - inverted dropout: the fraction kept, the scaling,
 * reproducible masks from the rng, the identity cases, gradient checks
 * (with the rng re-made from the same seed on every call, so the mask does
 * not change while the checker perturbs the input) and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

typedef struct drop_case {
    int ndim;
    int shape[RC_MAX_DIMS];
    float p;
    uint64_t seed;
} drop_case;

static const drop_case drops[] = {
    {1, {9}, 0.3f, 11},
    {2, {3, 5}, 0.5f, 12},
    {3, {2, 3, 4}, 0.7f, 13},
    {4, {2, 2, 3, 2}, 0.2f, 14},
};

static rc_var *f_dropout(rc_tape *t, rc_var **in, void *user)
{
    const drop_case *c = user;
    rc_rng r;
    rc_rng_init(&r, c->seed); /* the same mask on every call */
    return rc_dropout(t, in[0], c->p, &r);
}

static void test_dropout_grad(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof drops / sizeof drops[0]; k++) {
        const drop_case *c = &drops[k];
        rc_var *x = test_param("x", c->ndim, c->shape, 800 + k, 0.5f, 1.5f);
        assert_gradcheck(f_dropout, (void *)c, &x, 1);
        /* Direct: dx = dy / (1 - p) where kept, 0 where dropped. */
        rc_tape_reset(t);
        rc_param_zero_grad(x);
        rc_var *y = f_dropout(t, &x, (void *)c);
        assert_non_null(y);
        assert_ptr_not_equal(y, x);
        float seed[64];
        for (size_t i = 0; i < y->value.size; i++) seed[i] = 1.0f + (float)i;
        assert_int_equal(rc_backward_from(t, y, seed), RC_OK);
        float scale = 1.0f / (1.0f - c->p);
        for (size_t i = 0; i < x->value.size; i++) {
            int kept = y->value.data[i] != 0.0f; /* x > 0, so 0 means dropped */
            assert_true(x->grad[i] == (kept ? scale * seed[i] : 0.0f));
        }
        rc_param_free(x);
    }
    rc_tape_free(t);
}

static void test_dropout_forward(void **state)
{
    (void)state;
    static const float ps[] = {0.1f, 0.5f, 0.8f};
    enum { N = 20000 };
    int s[2] = {100, N / 100};
    rc_tape *t = rc_tape_new();
    rc_var *x = test_param("x", 2, s, 900, 0.5f, 1.5f);
    for (size_t k = 0; k < 3; k++) {
        float p = ps[k];
        rc_rng r;
        rc_rng_init(&r, 42 + k);
        rc_var *y = rc_dropout(t, x, p, &r);
        assert_non_null(y);
        size_t kept = 0;
        for (size_t i = 0; i < N; i++) {
            if (y->value.data[i] == 0.0f) continue;
            kept++;
            double want = x->value.data[i] / (1.0 - p);
            assert_float_equal(y->value.data[i], want, 1e-6 * want);
        }
        /* About 1 - p kept: the standard deviation of the fraction is
         * sqrt(p (1 - p) / N) < 0.004, so 0.02 is five of them. */
        double frac = (double)kept / N;
        if (fabs(frac - (1.0 - p)) > 0.02)
            fail_msg("p = %g kept %.4f of the elements, expected about %.4f", (double)p, frac,
                     1.0 - p);
    }
    rc_param_free(x);
    rc_tape_free(t);
}

static void test_dropout_reproducible(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s[2] = {16, 16}, s2[1] = {3};
    float ones[256];
    for (int i = 0; i < 256; i++) ones[i] = 1.0f;
    rc_var *x = rc_input(t, 2, s, ones), *small = rc_input(t, 1, s2, ones);
    rc_rng a, b, c;
    rc_rng_init(&a, 7);
    rc_rng_init(&b, 7);
    rc_rng_init(&c, 8);
    rc_var *ya = rc_dropout(t, x, 0.5f, &a), *yb = rc_dropout(t, x, 0.5f, &b);
    rc_var *yc = rc_dropout(t, x, 0.5f, &c);
    assert_memory_equal(ya->value.data, yb->value.data, sizeof ones);
    assert_memory_not_equal(ya->value.data, yc->value.data, sizeof ones);
    /* The rng advances by exactly one block per call whatever the size... */
    assert_int_equal(a.counter, 1);
    assert_non_null(rc_dropout(t, small, 0.5f, &a));
    assert_int_equal(a.counter, 2);
    /* ...so a next call's mask differs from the first one and does not
     * depend on the size of the calls before it. */
    rc_var *a3 = rc_dropout(t, x, 0.5f, &a);
    assert_memory_not_equal(ya->value.data, a3->value.data, sizeof ones);
    assert_non_null(rc_dropout(t, x, 0.5f, &b)); /* b: a bigger second call */
    rc_var *b3 = rc_dropout(t, x, 0.5f, &b);
    assert_memory_equal(a3->value.data, b3->value.data, sizeof ones);
    rc_tape_free(t);
}

static void test_dropout_identity(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s[2] = {4, 5};
    rc_var *x = rc_input_grad(t, 2, s, NULL);
    rc_rng r;
    rc_rng_init(&r, 3);
    int n = rc_tape_size(t);
    /* p == 0: x itself, no node, the rng untouched (and not needed). */
    assert_ptr_equal(rc_dropout(t, x, 0.0f, &r), x);
    assert_ptr_equal(rc_dropout(t, x, 0.0f, NULL), x);
    assert_int_equal(rc_tape_size(t), n);
    assert_int_equal(r.counter, 0);
    /* Not training: x itself for any valid p. */
    rc_tape_set_training(t, 0);
    assert_ptr_equal(rc_dropout(t, x, 0.5f, &r), x);
    assert_ptr_equal(rc_dropout(t, x, 0.99f, NULL), x);
    assert_int_equal(rc_tape_size(t), n);
    assert_int_equal(r.counter, 0);
    rc_tape_set_training(t, 1);
    rc_var *y = rc_dropout(t, x, 0.5f, &r);
    assert_non_null(y);
    assert_ptr_not_equal(y, x);
    assert_int_equal(rc_tape_size(t), n + 1);
    assert_int_equal(rc_tape_status(t), RC_OK);
    rc_tape_free(t);
}

static void test_dropout_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s[2] = {2, 3};
    rc_var *x = test_param("x", 2, s, 1, -1, 1);
    rc_rng r;
    rc_rng_init(&r, 1);
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, 1.0f, &r), RC_ERR_ARG, "dropout", "p = 1", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, 1.5f, &r), RC_ERR_ARG, "dropout", "[0, 1)");
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, -0.1f, &r), RC_ERR_ARG, "dropout", "p = -0.1");
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, NAN, &r), RC_ERR_ARG, "dropout", "[2x3]");
    rc_tape_set_training(t, 0); /* a bad p is an error even when inactive */
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, 1.0f, &r), RC_ERR_ARG, "dropout", "p = 1");
    rc_tape_set_training(t, 1);
    TEST_EXPECT_FAIL(t, rc_dropout(t, x, 0.5f, NULL), RC_ERR_ARG, "dropout", "rng", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_dropout(t, NULL, 0.5f, &r), RC_ERR_ARG, "dropout", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_dropout(NULL, x, 0.5f, &r), RC_ERR_ARG, "dropout", "tape");
    assert_int_equal(r.counter, 0);
    rc_param_free(x);
    rc_tape_free(t);
}

TEST_GROUP(ops_dropout_tests, "ops_dropout",
           cmocka_unit_test(test_dropout_grad),
           cmocka_unit_test(test_dropout_forward),
           cmocka_unit_test(test_dropout_reproducible),
           cmocka_unit_test(test_dropout_identity),
           cmocka_unit_test(test_dropout_errors));
