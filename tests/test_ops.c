/* test_ops.c - every op's forward against a direct computation, its
 * backward against the gradient checker on several random shapes, and its
 * errors on bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

static rc_var *f_matmul(rc_tape *t, rc_var **in, void *user)
{
    const int *tr = user;
    return rc_matmul(t, in[0], in[1], tr[0], tr[1]);
}

static void test_matmul_grad(void **state)
{
    (void)state;
    static const int dims[][3] = {{1, 1, 1}, {3, 4, 5}, {1, 7, 3}, {6, 1, 2}, {5, 3, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                int sa[2] = {ta ? K : M, ta ? M : K}, sb[2] = {tb ? N : K, tb ? K : N};
                rc_var *in[2] = {test_param("a", 2, sa, 10 + d, -1, 1),
                                 test_param("b", 2, sb, 20 + d, -1, 1)};
                int tr[2] = {ta, tb};
                assert_gradcheck(f_matmul, tr, in, 2);
                rc_param_free(in[0]);
                rc_param_free(in[1]);
            }
}

static rc_var *f_add_bias(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_add(t, in[0], in[1]);
}

static void test_add_bias_grad(void **state)
{
    (void)state;
    int sa[3] = {2, 3, 4}, sb[1] = {4};
    rc_var *in[2] = {test_param("a", 3, sa, 1, -1, 1), test_param("b", 1, sb, 2, -1, 1)};
    assert_gradcheck(f_add_bias, NULL, in, 2);
    rc_param_free(in[0]);
    rc_param_free(in[1]);
}

/* ---- shared helpers ---- */

typedef struct shape_case {
    int ndim;
    int shape[RC_MAX_DIMS];
} shape_case;

/* 1-D to 4-D, small enough that the whole group stays fast. */
static const shape_case shapes[] = {
    {1, {7}}, {2, {3, 4}}, {3, {2, 3, 2}}, {4, {2, 1, 3, 2}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* A parameter whose elements have |x| in [lo, hi) and random signs: keeps
 * relu's inputs away from its kink at 0. */
static rc_var *param_away_from_zero(const char *name, int ndim, const int *shape,
                                    uint64_t seed, float lo, float hi)
{
    rc_var *p = test_param(name, ndim, shape, seed, lo, hi);
    rc_rng r;
    rc_rng_init(&r, seed + 1000);
    for (size_t i = 0; i < p->value.size; i++)
        if (rc_rng_uniform(&r) < 0.5f) p->value.data[i] = -p->value.data[i];
    return p;
}

/* ---- matmul forward ---- */

static void test_matmul_forward(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int M = 3, N = 5, K = 4;
            int sa[2] = {ta ? K : M, ta ? M : K}, sb[2] = {tb ? N : K, tb ? K : N};
            rc_var *a = test_param("a", 2, sa, 3, -1, 1), *b = test_param("b", 2, sb, 4, -1, 1);
            rc_var *y = rc_matmul(t, a, b, ta, tb);
            assert_non_null(y);
            assert_int_equal(y->value.shape[0], M);
            assert_int_equal(y->value.shape[1], N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int k = 0; k < K; k++) {
                        float av = ta ? a->value.data[k * M + i] : a->value.data[i * K + k];
                        float bv = tb ? b->value.data[j * K + k] : b->value.data[k * N + j];
                        s += (double)av * bv;
                    }
                    assert_float_equal(y->value.data[i * N + j], s, 1e-5);
                }
            rc_param_free(a);
            rc_param_free(b);
        }
    rc_tape_free(t);
}

/* ---- add / sub / mul, same shape and broadcast ---- */

typedef rc_var *(*binary_op)(rc_tape *, rc_var *, rc_var *);
typedef struct binary_case {
    const char *name;
    binary_op fn;
    int kind; /* 0 add, 1 sub, 2 mul */
} binary_case;

static const binary_case binaries[] = {
    {"add", rc_add, 0}, {"sub", rc_sub, 1}, {"mul", rc_mul, 2},
};

static rc_var *f_binary(rc_tape *t, rc_var **in, void *user)
{
    return ((const binary_case *)user)->fn(t, in[0], in[1]);
}

/* b's shape is a's trailing `keep` dimensions. */
static void check_binary(const binary_case *bc, const shape_case *sc, int keep, uint64_t seed)
{
    const int *sb = sc->shape + (sc->ndim - keep);
    rc_var *in[2] = {test_param("a", sc->ndim, sc->shape, seed, -1, 1),
                     test_param("b", keep, sb, seed + 1, -1, 1)};
    assert_gradcheck(f_binary, (void *)bc, in, 2);

    rc_tape *t = rc_tape_new();
    rc_var *y = bc->fn(t, in[0], in[1]);
    assert_non_null(y);
    assert_int_equal(y->value.size, in[0]->value.size);
    size_t p = in[1]->value.size;
    for (size_t i = 0; i < y->value.size; i++) {
        float a = in[0]->value.data[i], b = in[1]->value.data[i % p];
        float want = bc->kind == 0 ? a + b : bc->kind == 1 ? a - b : a * b;
        assert_true(y->value.data[i] == want);
    }
    rc_tape_free(t);
    rc_param_free(in[0]);
    rc_param_free(in[1]);
}

static void test_binary_same_shape(void **state)
{
    (void)state;
    for (size_t k = 0; k < 3; k++)
        for (size_t s = 0; s < N_SHAPES; s++)
            check_binary(&binaries[k], &shapes[s], shapes[s].ndim, 40 + s);
}

static void test_binary_broadcast(void **state)
{
    (void)state;
    /* A bias over the last dimension, and over the last two. */
    for (size_t k = 0; k < 3; k++)
        for (size_t s = 1; s < N_SHAPES; s++) {
            check_binary(&binaries[k], &shapes[s], 1, 60 + s);
            if (shapes[s].ndim > 2) check_binary(&binaries[k], &shapes[s], 2, 70 + s);
        }
}

static void test_binary_same_input_twice(void **state)
{
    (void)state;
    /* mul(x, x): both gradients land in the same buffer. */
    int s[2] = {2, 3};
    rc_var *x = test_param("x", 2, s, 5, -1, 1);
    rc_tape *t = rc_tape_new();
    assert_int_equal(rc_backward(t, rc_sum(t, rc_mul(t, x, x))), RC_OK);
    for (size_t i = 0; i < x->value.size; i++)
        assert_float_equal(x->grad[i], 2 * x->value.data[i], 1e-6);
    rc_tape_free(t);
    rc_param_free(x);
}

/* ---- scale ---- */

static rc_var *f_scale(rc_tape *t, rc_var **in, void *user)
{
    return rc_scale(t, in[0], *(const float *)user);
}

static void test_scale(void **state)
{
    (void)state;
    static const float factors[] = {-1.7f, 0.5f, 3.0f};
    rc_tape *t = rc_tape_new();
    for (size_t s = 0; s < N_SHAPES; s++) {
        const float *f = &factors[s % 3];
        rc_var *x = test_param("x", shapes[s].ndim, shapes[s].shape, 80 + s, -1, 1);
        assert_gradcheck(f_scale, (void *)f, &x, 1);
        rc_var *y = rc_scale(t, x, *f);
        assert_non_null(y);
        for (size_t i = 0; i < x->value.size; i++)
            assert_true(y->value.data[i] == *f * x->value.data[i]);
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* ---- tanh, sigmoid, relu, exp, log ---- */

typedef rc_var *(*unary_op)(rc_tape *, rc_var *);
typedef struct unary_case {
    const char *name;
    unary_op fn;
    double (*ref)(double);
    float lo, hi;     /* input range (|x| for relu) */
    int away_from_0;  /* random signs, |x| >= lo */
} unary_case;

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_relu(double x) { return x > 0 ? x : 0.0; }

static const unary_case unaries[] = {
    {"tanh", rc_tanh, tanh, -2.0f, 2.0f, 0},
    {"sigmoid", rc_sigmoid, ref_sigmoid, -3.0f, 3.0f, 0},
    {"relu", rc_relu, ref_relu, 0.1f, 1.5f, 1},
    {"exp", rc_exp, exp, -1.5f, 1.5f, 0},
    {"log", rc_log, log, 0.5f, 2.0f, 0},
};

static rc_var *f_unary(rc_tape *t, rc_var **in, void *user)
{
    return ((const unary_case *)user)->fn(t, in[0]);
}

static void test_unary(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof unaries / sizeof unaries[0]; k++) {
        const unary_case *uc = &unaries[k];
        for (size_t s = 0; s < N_SHAPES; s++) {
            const shape_case *sc = &shapes[s];
            rc_var *x = uc->away_from_0
                            ? param_away_from_zero("x", sc->ndim, sc->shape, 90 + s, uc->lo, uc->hi)
                            : test_param("x", sc->ndim, sc->shape, 90 + s, uc->lo, uc->hi);
            assert_gradcheck(f_unary, (void *)uc, &x, 1);
            rc_tape_reset(t);
            rc_var *y = uc->fn(t, x);
            assert_non_null(y);
            assert_string_equal(y->op->name, uc->name);
            for (size_t i = 0; i < x->value.size; i++) {
                double want = uc->ref(x->value.data[i]);
                if (fabs(y->value.data[i] - want) > 1e-6 * fmax(1.0, fabs(want)))
                    fail_msg("%s(%g) = %g, want %g", uc->name, (double)x->value.data[i],
                             (double)y->value.data[i], want);
            }
            rc_param_free(x);
        }
    }
    rc_tape_free(t);
}

static void test_relu_gradient_is_a_mask(void **state)
{
    (void)state;
    int s[1] = {6};
    float xv[6] = {-2.0f, -0.5f, 0.25f, 1.0f, -0.1f, 3.0f};
    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 1, s, xv);
    assert_int_equal(rc_backward(t, rc_sum(t, rc_relu(t, x))), RC_OK);
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == (xv[i] > 0 ? 1.0f : 0.0f));
    rc_tape_free(t);
}

/* ---- sum, mean ---- */

static rc_var *f_sum(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_sum(t, in[0]);
}

static rc_var *f_mean(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_mean(t, in[0]);
}

static void test_sum_mean(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t s = 0; s < N_SHAPES; s++) {
        rc_var *x = test_param("x", shapes[s].ndim, shapes[s].shape, 110 + s, -1, 1);
        assert_gradcheck(f_sum, NULL, &x, 1);
        assert_gradcheck(f_mean, NULL, &x, 1);
        double want = 0.0;
        for (size_t i = 0; i < x->value.size; i++) want += x->value.data[i];
        rc_var *ys = rc_sum(t, x), *ym = rc_mean(t, x);
        assert_int_equal(ys->value.ndim, 1);
        assert_int_equal(ys->value.shape[0], 1);
        assert_float_equal(ys->value.data[0], want, 1e-5);
        assert_float_equal(ym->value.data[0], want / (double)x->value.size, 1e-6);
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* ---- bad calls ---- */

static void test_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s23[2] = {2, 3}, s34[2] = {3, 4}, s2[1] = {2}, s0[1] = {0}, s234[3] = {2, 3, 4};
    /* Parameters, not tape inputs: each failure resets the tape. */
    rc_var *a = test_param("a", 2, s23, 1, -1, 1), *b = test_param("b", 2, s34, 2, -1, 1);
    rc_var *v = test_param("v", 1, s2, 3, -1, 1), *e = test_param("e", 1, s0, 4, -1, 1);
    rc_var *c = test_param("c", 3, s234, 5, -1, 1);

    /* matmul: inner dimensions, 1-D and 3-D operands. */
    TEST_EXPECT_FAIL(t, rc_matmul(t, a, a, 0, 0), RC_ERR_SHAPE, "matmul", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_matmul(t, b, a, 0, 0), RC_ERR_SHAPE, "matmul", "[3x4]", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_matmul(t, a, b, 1, 0), RC_ERR_SHAPE, "matmul", "[2x3]^T");
    TEST_EXPECT_FAIL(t, rc_matmul(t, a, v, 0, 0), RC_ERR_SHAPE, "matmul", "[2]");
    TEST_EXPECT_FAIL(t, rc_matmul(t, c, b, 0, 0), RC_ERR_SHAPE, "matmul", "[2x3x4]");
    assert_non_null(rc_matmul(t, a, b, 0, 0));

    /* add/sub/mul: b must equal a's shape or its trailing dimensions. */
    TEST_EXPECT_FAIL(t, rc_add(t, a, b), RC_ERR_SHAPE, "add", "[2x3]", "[3x4]");
    TEST_EXPECT_FAIL(t, rc_sub(t, a, v), RC_ERR_SHAPE, "sub", "[2x3]", "[2]");
    TEST_EXPECT_FAIL(t, rc_mul(t, v, a), RC_ERR_SHAPE, "mul", "[2]", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_add(t, c, a), RC_ERR_SHAPE, "add", "[2x3x4]", "[2x3]");

    /* log of x <= 0; mean of nothing. */
    a->value.data[4] = -0.5f;
    TEST_EXPECT_FAIL(t, rc_log(t, a), RC_ERR_NUMERIC, "log", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_mean(t, e), RC_ERR_SHAPE, "mean", "[0]");
    rc_var *z = rc_sum(t, e);
    assert_non_null(z);
    assert_true(z->value.data[0] == 0.0f);

    /* NULL inputs name the op; a NULL tape too. */
    TEST_EXPECT_FAIL(t, rc_matmul(t, NULL, b, 0, 0), RC_ERR_ARG, "matmul", "NULL");
    TEST_EXPECT_FAIL(t, rc_matmul(t, a, NULL, 0, 0), RC_ERR_ARG, "matmul", "input 1");
    TEST_EXPECT_FAIL(t, rc_add(t, NULL, a), RC_ERR_ARG, "add");
    TEST_EXPECT_FAIL(t, rc_sub(t, a, NULL), RC_ERR_ARG, "sub");
    TEST_EXPECT_FAIL(t, rc_mul(t, NULL, NULL), RC_ERR_ARG, "mul");
    TEST_EXPECT_FAIL(t, rc_scale(t, NULL, 2.0f), RC_ERR_ARG, "scale");
    for (size_t k = 0; k < sizeof unaries / sizeof unaries[0]; k++) {
        TEST_EXPECT_FAIL(t, unaries[k].fn(t, NULL), RC_ERR_ARG, unaries[k].name, "NULL");
        TEST_EXPECT_FAIL(NULL, unaries[k].fn(NULL, a), RC_ERR_ARG, unaries[k].name, "tape");
    }
    TEST_EXPECT_FAIL(t, rc_sum(t, NULL), RC_ERR_ARG, "sum");
    TEST_EXPECT_FAIL(t, rc_mean(t, NULL), RC_ERR_ARG, "mean");
    TEST_EXPECT_FAIL(NULL, rc_matmul(NULL, a, b, 0, 0), RC_ERR_ARG, "matmul", "tape");
    TEST_EXPECT_FAIL(NULL, rc_add(NULL, a, a), RC_ERR_ARG, "add", "tape");
    TEST_EXPECT_FAIL(NULL, rc_sub(NULL, a, a), RC_ERR_ARG, "sub", "tape");
    TEST_EXPECT_FAIL(NULL, rc_mul(NULL, a, a), RC_ERR_ARG, "mul", "tape");
    TEST_EXPECT_FAIL(NULL, rc_scale(NULL, a, 1.0f), RC_ERR_ARG, "scale", "tape");
    TEST_EXPECT_FAIL(NULL, rc_sum(NULL, a), RC_ERR_ARG, "sum", "tape");
    TEST_EXPECT_FAIL(NULL, rc_mean(NULL, a), RC_ERR_ARG, "mean", "tape");
    rc_var *all[] = {a, b, v, e, c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rc_param_free(all[i]);
    rc_tape_free(t);
}

TEST_GROUP(ops_tests, "ops",
           cmocka_unit_test(test_matmul_grad),
           cmocka_unit_test(test_matmul_forward),
           cmocka_unit_test(test_add_bias_grad),
           cmocka_unit_test(test_binary_same_shape),
           cmocka_unit_test(test_binary_broadcast),
           cmocka_unit_test(test_binary_same_input_twice),
           cmocka_unit_test(test_scale),
           cmocka_unit_test(test_unary),
           cmocka_unit_test(test_relu_gradient_is_a_mask),
           cmocka_unit_test(test_sum_mean),
           cmocka_unit_test(test_errors));
