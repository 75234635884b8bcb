/* test_autograd.c - the tape, backward, and the gradient checker itself. */
#include "test.h"
#include "internal.h"

#include <math.h>
#include <string.h>

/* y = x^2 with a backward that is deliberately 10% off: the checker must
 * catch it and name the op. */
static void bad_square_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    for (size_t i = 0; i < y->value.size; i++)
        dx[i] += 2.2f * x->value.data[i] * y->grad[i];
}
static const rc_op op_bad_square = {"bad_square", bad_square_backward};

static rc_var *bad_square(rc_tape *t, rc_var *x)
{
    rc_var *y = rc_node_new(t, &op_bad_square, x->value.ndim, x->value.shape, 1, &x);
    for (size_t i = 0; i < x->value.size; i++)
        y->value.data[i] = x->value.data[i] * x->value.data[i];
    return y;
}

static rc_var *f_bad_square(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return bad_square(t, in[0]);
}

static void test_checker_catches_wrong_backward(void **state)
{
    (void)state;
    int s[2] = {3, 4};
    rc_var *x = test_param("x", 2, s, 1, 0.5f, 2.0f);
    rc_gradcheck_report rep;
    assert_int_equal(rc_gradcheck(f_bad_square, NULL, &x, 1, NULL, &rep), RC_OK);
    assert_false(rep.ok);
    assert_string_equal(rep.op, "bad_square");
    assert_string_equal(rep.worst_name, "x");
    assert_true(rep.rel_err > 0.05);
    assert_non_null(strstr(rep.message, "FAILED"));
    /* Its numeric value is the true derivative: 2 x R at the worst element. */
    assert_true(fabs(rep.analytic / rep.numeric - 1.1) < 1e-2);
    rc_param_free(x);
}

/* A backward that produces NaN must fail the check (NaN compares false). */
static void nan_backward(rc_tape *t, rc_var *y)
{
    float *dx = rc_grad_of(t, y->in[0]);
    for (size_t i = 0; i < y->value.size; i++) dx[i] += NAN;
}
static const rc_op op_nan_grad = {"nan_grad", nan_backward};

static rc_var *f_nan_grad(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    rc_var *y = rc_node_new(t, &op_nan_grad, in[0]->value.ndim, in[0]->value.shape, 1, in);
    for (size_t i = 0; i < y->value.size; i++) y->value.data[i] = 2 * in[0]->value.data[i];
    return y;
}

static void test_checker_fails_on_nan_gradient(void **state)
{
    (void)state;
    int s[1] = {5};
    rc_var *x = test_param("x", 1, s, 4, -1.0f, 1.0f);
    rc_gradcheck_report rep;
    assert_int_equal(rc_gradcheck(f_nan_grad, NULL, &x, 1, NULL, &rep), RC_OK);
    assert_false(rep.ok);
    assert_string_equal(rep.op, "nan_grad");
    assert_true(isnan(rep.analytic));
    rc_param_free(x);
}

static rc_var *f_tanh_matmul(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_tanh(t, rc_matmul(t, in[0], in[1], 0, 0));
}

static void test_checker_passes_correct_composite(void **state)
{
    (void)state;
    int sa[2] = {3, 5}, sb[2] = {5, 2};
    rc_var *in[2] = {test_param("a", 2, sa, 2, -1, 1), test_param("b", 2, sb, 3, -1, 1)};
    rc_gradcheck_report rep;
    assert_int_equal(rc_gradcheck(f_tanh_matmul, NULL, in, 2, NULL, &rep), RC_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.checked, 25);
    assert_string_equal(rep.op, "tanh");
    rc_param_free(in[0]);
    rc_param_free(in[1]);
}

static void test_backward_accumulates_into_params(void **state)
{
    (void)state;
    /* loss = sum(x * w) used twice: d/dw = 2x. */
    int s[1] = {4};
    rc_var *w = test_param("w", 1, s, 5, -1, 1);
    rc_tape *t = rc_tape_new();
    float xv[4] = {1, 2, 3, 4};
    rc_var *x = rc_input(t, 1, s, xv);
    rc_var *p = rc_mul(t, x, w);
    rc_var *loss = rc_sum(t, rc_add(t, p, p));
    assert_non_null(loss);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(w->grad[i], 2 * xv[i], 1e-6);
    assert_null(x->grad); /* inputs without requires_grad get none */
    /* A second batch accumulates until zero_grad. */
    rc_tape_reset(t);
    x = rc_input(t, 1, s, xv);
    loss = rc_sum(t, rc_mul(t, x, w));
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(w->grad[i], 3 * xv[i], 1e-6);
    rc_param_zero_grad(w);
    for (int i = 0; i < 4; i++) assert_true(w->grad[i] == 0.0f);
    rc_tape_free(t);
    rc_param_free(w);
}

static void test_errors_are_sticky_and_named(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int sa[2] = {2, 3}, sb[2] = {4, 5};
    rc_var *a = rc_input(t, 2, sa, NULL), *b = rc_input(t, 2, sb, NULL);
    rc_var *y = rc_matmul(t, a, b, 0, 0);
    assert_null(y);
    assert_int_equal(rc_tape_status(t), RC_ERR_SHAPE);
    const char *msg = rc_last_error();
    assert_non_null(strstr(msg, "matmul"));
    assert_non_null(strstr(msg, "[2x3]"));
    assert_non_null(strstr(msg, "[4x5]"));
    /* Later ops on the NULL keep the first message. */
    assert_null(rc_tanh(t, y));
    assert_non_null(strstr(rc_last_error(), "matmul"));
    assert_int_not_equal(rc_backward(t, y), RC_OK);
    rc_tape_reset(t);
    assert_int_equal(rc_tape_status(t), RC_OK);
    assert_null(rc_tanh(t, NULL));
    assert_non_null(strstr(rc_last_error(), "tanh"));
    assert_null(rc_tanh(NULL, a));
    rc_tape_free(t);
}

static void test_backward_needs_scalar_and_grad(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s[2] = {2, 2};
    rc_var *x = rc_input_grad(t, 2, s, NULL);
    rc_var *y = rc_tanh(t, x);
    assert_int_equal(rc_backward(t, y), RC_ERR_SHAPE);
    assert_non_null(strstr(rc_last_error(), "scalar"));
    rc_var *c = rc_input(t, 2, s, NULL);
    assert_int_equal(rc_backward(t, rc_sum(t, c)), RC_ERR_STATE);
    /* Grad mode off: nothing requires a gradient. */
    rc_tape_set_grad(t, 0);
    rc_var *z = rc_sum(t, rc_tanh(t, x));
    assert_false(z->requires_grad);
    rc_tape_free(t);
}

static void test_no_malloc_growth_after_first_batch(void **state)
{
    (void)state;
    int s[2] = {64, 64};
    rc_var *w = test_param("w", 2, s, 9, -0.1f, 0.1f);
    rc_tape *t = rc_tape_new();
    size_t cap = 0;
    for (int batch = 0; batch < 3; batch++) {
        rc_tape_reset(t);
        rc_var *h = rc_input(t, 2, s, NULL);
        for (int step = 0; step < 50; step++) h = rc_tanh(t, rc_matmul(t, h, w, 0, 0));
        assert_int_equal(rc_backward(t, rc_sum(t, h)), RC_OK);
        if (batch == 1) cap = rc_tape_arena(t)->capacity;
        if (batch == 2) assert_int_equal(rc_tape_arena(t)->capacity, cap);
    }
    rc_tape_free(t);
    rc_param_free(w);
}

TEST_GROUP(autograd_tests, "autograd",
           cmocka_unit_test(test_checker_catches_wrong_backward),
           cmocka_unit_test(test_checker_fails_on_nan_gradient),
           cmocka_unit_test(test_checker_passes_correct_composite),
           cmocka_unit_test(test_backward_accumulates_into_params),
           cmocka_unit_test(test_errors_are_sticky_and_named),
           cmocka_unit_test(test_backward_needs_scalar_and_grad),
           cmocka_unit_test(test_no_malloc_growth_after_first_batch));
