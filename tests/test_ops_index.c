/* test_ops_index.c - concat, slice, split, reshape, embedding: forward
 * values against index arithmetic written out here, gradient checks on
 * shapes from 1-D to 4-D (embedding: 2-D tables) and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

/* Flat index of a multi-index in a row-major shape. */
static size_t flat(int ndim, const int *shape, const int *idx)
{
    size_t f = 0;
    for (int d = 0; d < ndim; d++) f = f * (size_t)shape[d] + (size_t)idx[d];
    return f;
}

/* Steps a multi-index through a shape; 0 after the last one. */
static int next_index(int ndim, const int *shape, int *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

static void free_all(rc_var **v, int n)
{
    for (int i = 0; i < n; i++) rc_param_free(v[i]);
}

/* ---- concat ---- */

typedef struct concat_case {
    int ndim, axis, n;
    int len[4];            /* each input's size along the axis */
    int shape[RC_MAX_DIMS]; /* the other dimensions */
} concat_case;

static const concat_case concats[] = {
    {1, 0, 2, {3, 2}, {0}},                      /* 1-D */
    {2, 0, 3, {2, 1, 3}, {0, 3}},                /* first axis */
    {2, 1, 3, {1, 4, 2}, {2, 0}},                /* last axis */
    {3, 1, 4, {1, 2, 3, 1}, {2, 0, 3}},          /* middle axis */
    {3, 2, 2, {2, 1}, {2, 3, 0}},
    {4, 2, 3, {1, 2, 1}, {2, 1, 0, 2}},          /* middle of 4-D */
    {4, 3, 2, {1, 3}, {2, 1, 2, 0}},             /* last of 4-D */
    {4, 0, 2, {1, 2}, {0, 2, 1, 2}},
};

static rc_var *f_concat(rc_tape *t, rc_var **in, void *user)
{
    const concat_case *c = user;
    return rc_concat(t, in, c->n, c->axis);
}

static void test_concat(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof concats / sizeof concats[0]; k++) {
        const concat_case *c = &concats[k];
        rc_var *in[4];
        int total = 0;
        for (int i = 0; i < c->n; i++) {
            int s[RC_MAX_DIMS];
            memcpy(s, c->shape, sizeof s);
            s[c->axis] = c->len[i];
            in[i] = test_param("x", c->ndim, s, 300 + 10 * k + (size_t)i, -1, 1);
            total += c->len[i];
        }
        assert_gradcheck(f_concat, (void *)c, in, c->n);

        rc_tape_reset(t);
        rc_var *y = rc_concat(t, in, c->n, c->axis);
        assert_non_null(y);
        assert_int_equal(y->value.ndim, c->ndim);
        for (int d = 0; d < c->ndim; d++)
            assert_int_equal(y->value.shape[d], d == c->axis ? total : c->shape[d]);
        /* Each output element comes from the input whose range along the axis
         * holds its index, at the index less that range's start. */
        int idx[RC_MAX_DIMS] = {0};
        do {
            int a = idx[c->axis], i = 0;
            while (a >= c->len[i]) a -= c->len[i++];
            int src[RC_MAX_DIMS];
            memcpy(src, idx, sizeof src);
            src[c->axis] = a;
            float want = in[i]->value.data[flat(c->ndim, in[i]->value.shape, src)];
            assert_true(y->value.data[flat(c->ndim, y->value.shape, idx)] == want);
        } while (next_index(c->ndim, y->value.shape, idx));
        free_all(in, c->n);
    }
    rc_tape_free(t);
}

static void test_concat_mixed_grad(void **state)
{
    (void)state;
    /* Inputs without a gradient are skipped; the others get their part. */
    rc_tape *t = rc_tape_new();
    int s1[2] = {2, 2}, s2[2] = {2, 3};
    rc_var *w = test_param("w", 2, s1, 7, -1, 1);
    rc_var *c = rc_input(t, 2, s2, NULL);
    rc_var *xs[2] = {c, w};
    rc_var *y = rc_concat(t, xs, 2, 1);
    assert_non_null(y);
    float seed[10];
    for (int i = 0; i < 10; i++) seed[i] = (float)i;
    assert_int_equal(rc_backward_from(t, y, seed), RC_OK);
    assert_null(c->grad);
    assert_true(w->grad[0] == 3.0f && w->grad[1] == 4.0f);
    assert_true(w->grad[2] == 8.0f && w->grad[3] == 9.0f);
    rc_tape_free(t);
    rc_param_free(w);
}

/* ---- slice ---- */

typedef struct slice_case {
    int ndim;
    int shape[RC_MAX_DIMS];
    int axis, start, len;
} slice_case;

static const slice_case slices[] = {
    {1, {7}, 0, 2, 4},
    {2, {4, 5}, 0, 1, 2},
    {2, {4, 5}, 1, 3, 2},
    {3, {2, 5, 3}, 1, 0, 3},
    {3, {2, 3, 4}, 2, 1, 3},
    {4, {2, 3, 2, 3}, 1, 2, 1},
    {4, {2, 2, 2, 5}, 3, 0, 5},
};

static rc_var *f_slice(rc_tape *t, rc_var **in, void *user)
{
    const slice_case *c = user;
    return rc_slice(t, in[0], c->axis, c->start, c->len);
}

static void check_slice_values(const rc_var *x, const rc_var *y, int axis, int start)
{
    int idx[RC_MAX_DIMS] = {0};
    if (y->value.size == 0) return;
    do {
        int src[RC_MAX_DIMS];
        memcpy(src, idx, sizeof src);
        src[axis] += start;
        assert_true(y->value.data[flat(y->value.ndim, y->value.shape, idx)] ==
                    x->value.data[flat(x->value.ndim, x->value.shape, src)]);
    } while (next_index(y->value.ndim, y->value.shape, idx));
}

static void test_slice(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof slices / sizeof slices[0]; k++) {
        const slice_case *c = &slices[k];
        rc_var *x = test_param("x", c->ndim, c->shape, 400 + k, -1, 1);
        assert_gradcheck(f_slice, (void *)c, &x, 1);
        rc_tape_reset(t);
        rc_var *y = rc_slice(t, x, c->axis, c->start, c->len);
        assert_non_null(y);
        for (int d = 0; d < c->ndim; d++)
            assert_int_equal(y->value.shape[d], d == c->axis ? c->len : c->shape[d]);
        check_slice_values(x, y, c->axis, c->start);
        /* Backward puts the gradient in the window and zeros elsewhere. */
        rc_param_zero_grad(x);
        rc_var *ones = rc_input(t, y->value.ndim, y->value.shape, NULL);
        for (size_t i = 0; i < ones->value.size; i++) ones->value.data[i] = 1.0f;
        assert_int_equal(rc_backward(t, rc_sum(t, rc_mul(t, y, ones))), RC_OK);
        int idx[RC_MAX_DIMS] = {0};
        do {
            int in_window = idx[c->axis] >= c->start && idx[c->axis] < c->start + c->len;
            assert_true(x->grad[flat(c->ndim, c->shape, idx)] == (in_window ? 1.0f : 0.0f));
        } while (next_index(c->ndim, c->shape, idx));
        rc_param_free(x);
    }
    /* An empty slice is allowed. */
    int s[2] = {3, 4};
    rc_var *x = test_param("x", 2, s, 1, -1, 1);
    rc_var *e = rc_slice(t, x, 1, 4, 0);
    assert_non_null(e);
    assert_int_equal(e->value.size, 0);
    assert_int_equal(e->value.shape[0], 3);
    rc_param_free(x);
    rc_tape_free(t);
}

/* ---- split ---- */

typedef struct split_case {
    int ndim;
    int shape[RC_MAX_DIMS];
    int axis, n;
} split_case;

static const split_case splits[] = {
    {1, {6}, 0, 3},
    {2, {2, 6}, 1, 2},
    {3, {2, 4, 3}, 1, 4},
    {4, {2, 1, 2, 4}, 3, 2},
    {3, {4, 2, 2}, 0, 1},
};

/* The parts joined again in reverse order, so every part's gradient is
 * exercised and none lands where it came from. */
static rc_var *f_split(rc_tape *t, rc_var **in, void *user)
{
    const split_case *c = user;
    rc_var *parts[8], *rev[8];
    if (rc_split(t, in[0], c->axis, c->n, parts) != RC_OK) return NULL;
    for (int k = 0; k < c->n; k++) rev[k] = parts[c->n - 1 - k];
    return rc_concat(t, rev, c->n, c->axis);
}

static void test_split(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++) {
        const split_case *c = &splits[k];
        rc_var *x = test_param("x", c->ndim, c->shape, 500 + k, -1, 1);
        assert_gradcheck(f_split, (void *)c, &x, 1);
        rc_tape_reset(t);
        rc_var *parts[8];
        assert_int_equal(rc_split(t, x, c->axis, c->n, parts), RC_OK);
        int len = c->shape[c->axis] / c->n;
        for (int p = 0; p < c->n; p++) {
            assert_non_null(parts[p]);
            assert_int_equal(parts[p]->value.shape[c->axis], len);
            check_slice_values(x, parts[p], c->axis, p * len);
        }
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* ---- reshape ---- */

typedef struct reshape_case {
    int ndim_in, shape_in[RC_MAX_DIMS];
    int ndim_out, shape_out[RC_MAX_DIMS];
} reshape_case;

static const reshape_case reshapes[] = {
    {3, {2, 3, 4}, 2, {6, 4}},
    {2, {4, 6}, 1, {24}},
    {1, {24}, 4, {2, 3, 2, 2}},
    {4, {2, 3, 2, 2}, 3, {3, 1, 8}},
};

/* tanh after the reshape, so its gradient flows through a real op. */
static rc_var *f_reshape(rc_tape *t, rc_var **in, void *user)
{
    const reshape_case *c = user;
    return rc_tanh(t, rc_reshape(t, in[0], c->ndim_out, c->shape_out));
}

static rc_var *f_reshape_only(rc_tape *t, rc_var **in, void *user)
{
    const reshape_case *c = user;
    return rc_reshape(t, in[0], c->ndim_out, c->shape_out);
}

static void test_reshape(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof reshapes / sizeof reshapes[0]; k++) {
        const reshape_case *c = &reshapes[k];
        rc_var *x = test_param("x", c->ndim_in, c->shape_in, 600 + k, -1, 1);
        assert_gradcheck(f_reshape, (void *)c, &x, 1);
        assert_gradcheck(f_reshape_only, (void *)c, &x, 1);
        rc_tape_reset(t);
        rc_var *y = rc_reshape(t, x, c->ndim_out, c->shape_out);
        assert_non_null(y);
        assert_int_equal(y->value.ndim, c->ndim_out);
        for (int d = 0; d < c->ndim_out; d++)
            assert_int_equal(y->value.shape[d], c->shape_out[d]);
        assert_int_equal(y->value.size, x->value.size);
        /* Same elements in the same order. */
        for (size_t i = 0; i < x->value.size; i++)
            assert_true(y->value.data[i] == x->value.data[i]);
        rc_param_free(x);
    }
    rc_tape_free(t);
}

/* ---- embedding ---- */

typedef struct emb_case {
    int V, D, n;
    int32_t ids[8];
} emb_case;

static const emb_case embs[] = {
    {5, 3, 6, {0, 2, 2, 4, 0, 0}},  /* repeated ids; rows 1 and 3 unused */
    {7, 1, 3, {6, 6, 6}},
    {3, 4, 1, {1}},
    {6, 2, 8, {3, 0, 3, 1, 1, 2, 3, 0}},
};

static rc_var *f_emb(rc_tape *t, rc_var **in, void *user)
{
    const emb_case *c = user;
    return rc_embedding(t, in[0], c->ids, c->n);
}

static void test_embedding(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < sizeof embs / sizeof embs[0]; k++) {
        const emb_case *c = &embs[k];
        int s[2] = {c->V, c->D};
        rc_var *table = test_param("table", 2, s, 700 + k, -1, 1);
        assert_gradcheck(f_emb, (void *)c, &table, 1);

        rc_tape_reset(t);
        rc_param_zero_grad(table);
        rc_var *y = rc_embedding(t, table, c->ids, c->n);
        assert_non_null(y);
        assert_int_equal(y->value.ndim, 2);
        assert_int_equal(y->value.shape[0], c->n);
        assert_int_equal(y->value.shape[1], c->D);
        for (int i = 0; i < c->n; i++)
            assert_memory_equal(y->value.data + i * c->D, table->value.data + c->ids[i] * c->D,
                                (size_t)c->D * sizeof(float));
        /* Backward: each row gets the sum of its positions' gradients;
         * rows never looked up stay exactly zero. */
        float seed[64];
        for (int i = 0; i < c->n * c->D; i++) seed[i] = 0.25f * (float)(i + 1);
        assert_int_equal(rc_backward_from(t, y, seed), RC_OK);
        for (int v = 0; v < c->V; v++)
            for (int j = 0; j < c->D; j++) {
                float want = 0.0f;
                for (int i = 0; i < c->n; i++)
                    if (c->ids[i] == v) want += seed[i * c->D + j];
                assert_true(table->grad[v * c->D + j] == want);
            }
        rc_param_free(table);
    }
    /* n = 0 gives an empty [0 x D]. */
    int s[2] = {4, 3};
    rc_var *table = test_param("table", 2, s, 1, -1, 1);
    rc_var *e = rc_embedding(t, table, NULL, 0);
    assert_non_null(e);
    assert_int_equal(e->value.shape[0], 0);
    assert_int_equal(e->value.shape[1], 3);
    rc_param_free(table);
    rc_tape_free(t);
}

/* ---- bad calls ---- */

static void test_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s23[2] = {2, 3}, s24[2] = {2, 4}, s33[2] = {3, 3}, s6[1] = {6}, s234[3] = {2, 3, 4};
    rc_var *a = test_param("a", 2, s23, 1, -1, 1), *b = test_param("b", 2, s24, 2, -1, 1);
    rc_var *c = test_param("c", 2, s33, 3, -1, 1), *v = test_param("v", 1, s6, 4, -1, 1);
    rc_var *d = test_param("d", 3, s234, 5, -1, 1);

    /* concat */
    rc_var *ab[2] = {a, b}, *ac[2] = {a, c}, *av[2] = {a, v}, *an[3] = {a, NULL, b};
    TEST_EXPECT_FAIL(t, rc_concat(t, ab, 2, 0), RC_ERR_SHAPE, "concat", "[2x4]", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_concat(t, ac, 2, 1), RC_ERR_SHAPE, "concat", "[3x3]", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_concat(t, av, 2, 0), RC_ERR_SHAPE, "concat", "[6]", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_concat(t, ab, 2, 2), RC_ERR_ARG, "concat", "axis 2", "[2x3]");
    TEST_EXPECT_FAIL(t, rc_concat(t, ab, 2, -1), RC_ERR_ARG, "concat", "axis -1");
    TEST_EXPECT_FAIL(t, rc_concat(t, ab, 0, 0), RC_ERR_ARG, "concat", "n = 0");
    TEST_EXPECT_FAIL(t, rc_concat(t, NULL, 2, 0), RC_ERR_ARG, "concat", "NULL");
    TEST_EXPECT_FAIL(t, rc_concat(t, an, 3, 1), RC_ERR_ARG, "concat", "input 1");
    TEST_EXPECT_FAIL(NULL, rc_concat(NULL, ab, 2, 1), RC_ERR_ARG, "concat", "tape");
    assert_non_null(rc_concat(t, ab, 2, 1));

    /* slice */
    TEST_EXPECT_FAIL(t, rc_slice(t, d, 3, 0, 1), RC_ERR_ARG, "slice", "axis 3", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_slice(t, d, -1, 0, 1), RC_ERR_ARG, "slice", "axis -1");
    TEST_EXPECT_FAIL(t, rc_slice(t, d, 2, 2, 3), RC_ERR_RANGE, "slice", "[2, 5)", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_slice(t, d, 1, -1, 2), RC_ERR_RANGE, "slice", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_slice(t, d, 1, 1, -1), RC_ERR_RANGE, "slice", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_slice(t, d, 1, 2147483647, 2147483647), RC_ERR_RANGE, "slice");
    TEST_EXPECT_FAIL(t, rc_slice(t, NULL, 0, 0, 1), RC_ERR_ARG, "slice", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_slice(NULL, d, 0, 0, 1), RC_ERR_ARG, "slice", "tape");

    /* split: returns a status and leaves every part NULL */
    rc_var *parts[4] = {a, a, a, a};
    rc_clear_error();
    assert_int_equal(rc_split(t, d, 2, 3, parts), RC_ERR_SHAPE);
    assert_int_equal(rc_tape_status(t), RC_ERR_SHAPE);
    assert_non_null(strstr(rc_last_error(), "split"));
    assert_non_null(strstr(rc_last_error(), "[2x3x4]"));
    for (int i = 0; i < 3; i++) assert_null(parts[i]);
    rc_tape_reset(t);
    assert_int_equal(rc_split(t, d, 3, 2, parts), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "axis 3"));
    rc_tape_reset(t);
    assert_int_equal(rc_split(t, d, 0, 0, parts), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "n = 0"));
    rc_tape_reset(t);
    assert_int_equal(rc_split(t, d, 0, 2, NULL), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "split"));
    rc_tape_reset(t);
    assert_int_equal(rc_split(t, NULL, 0, 2, parts), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "split"));
    assert_null(parts[0]);
    rc_tape_reset(t);
    assert_int_equal(rc_split(NULL, d, 0, 2, parts), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "tape"));

    /* reshape */
    int s5x5[2] = {5, 5}, s5d[5] = {1, 1, 2, 3, 4}, sneg[2] = {-2, -12};
    TEST_EXPECT_FAIL(t, rc_reshape(t, d, 2, s5x5), RC_ERR_SHAPE, "reshape", "[2x3x4]", "[5x5]");
    TEST_EXPECT_FAIL(t, rc_reshape(t, d, 5, s5d), RC_ERR_SHAPE, "reshape", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_reshape(t, d, 0, s5d), RC_ERR_SHAPE, "reshape");
    TEST_EXPECT_FAIL(t, rc_reshape(t, d, 2, sneg), RC_ERR_SHAPE, "reshape", "negative");
    TEST_EXPECT_FAIL(t, rc_reshape(t, d, 2, NULL), RC_ERR_SHAPE, "reshape");
    TEST_EXPECT_FAIL(t, rc_reshape(t, NULL, 2, s5x5), RC_ERR_ARG, "reshape", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_reshape(NULL, d, 2, s5x5), RC_ERR_ARG, "reshape", "tape");

    /* embedding */
    int32_t ids[4] = {0, 1, 3, 2}, neg[3] = {1, -4, 0};
    TEST_EXPECT_FAIL(t, rc_embedding(t, c, ids, 4), RC_ERR_RANGE, "embedding", "id 3", "position 2",
                     "[3x3]");
    TEST_EXPECT_FAIL(t, rc_embedding(t, c, neg, 3), RC_ERR_RANGE, "embedding", "id -4",
                     "position 1");
    TEST_EXPECT_FAIL(t, rc_embedding(t, v, ids, 2), RC_ERR_SHAPE, "embedding", "[6]");
    TEST_EXPECT_FAIL(t, rc_embedding(t, d, ids, 2), RC_ERR_SHAPE, "embedding", "[2x3x4]");
    TEST_EXPECT_FAIL(t, rc_embedding(t, c, NULL, 2), RC_ERR_ARG, "embedding", "NULL");
    TEST_EXPECT_FAIL(t, rc_embedding(t, c, ids, -1), RC_ERR_ARG, "embedding", "n = -1");
    TEST_EXPECT_FAIL(t, rc_embedding(t, NULL, ids, 2), RC_ERR_ARG, "embedding", "NULL");
    TEST_EXPECT_FAIL(NULL, rc_embedding(NULL, c, ids, 2), RC_ERR_ARG, "embedding", "tape");

    rc_var *all[] = {a, b, c, v, d};
    free_all(all, 5);
    rc_tape_free(t);
}

TEST_GROUP(ops_index_tests, "ops_index",
           cmocka_unit_test(test_concat),
           cmocka_unit_test(test_concat_mixed_grad),
           cmocka_unit_test(test_slice),
           cmocka_unit_test(test_split),
           cmocka_unit_test(test_reshape),
           cmocka_unit_test(test_embedding),
           cmocka_unit_test(test_errors));
