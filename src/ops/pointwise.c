/* pointwise.c - elementwise nonlinearities. Each backward uses the saved
 * output where the derivative is a function of it (tanh, sigmoid, exp,
 * relu) and the input otherwise (log). */
#include "../internal.h"

#include <math.h>

typedef enum { PW_TANH, PW_SIGMOID, PW_RELU, PW_EXP, PW_LOG } pw_kind;

static void pointwise_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    const float *dy = y->grad, *yv = y->value.data, *xv = x->value.data;
    size_t n = y->value.size;
    switch ((pw_kind)y->iarg[0]) {
    case PW_TANH: /* d tanh = 1 - y^2 */
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - yv[i] * yv[i]);
        break;
    case PW_SIGMOID: /* d sigma = y (1 - y) */
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * yv[i] * (1.0f - yv[i]);
        break;
    case PW_RELU:
        for (size_t i = 0; i < n; i++) dx[i] += yv[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case PW_EXP:
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * yv[i];
        break;
    case PW_LOG:
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] / xv[i];
        break;
    }
}

static const rc_op op_tanh = {"tanh", pointwise_backward};
static const rc_op op_sigmoid = {"sigmoid", pointwise_backward};
static const rc_op op_relu = {"relu", pointwise_backward};
static const rc_op op_exp = {"exp", pointwise_backward};
static const rc_op op_log = {"log", pointwise_backward};

static rc_var *pointwise(rc_tape *t, const rc_op *op, pw_kind kind, rc_var *x)
{
    if (!rc_op_check_inputs(t, op->name, 1, &x)) return NULL;
    rc_var *y = rc_node_new(t, op, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    y->iarg[0] = kind;
    const float *xv = x->value.data;
    float *yv = y->value.data;
    size_t n = x->value.size;
    switch (kind) {
    case PW_TANH:
        for (size_t i = 0; i < n; i++) yv[i] = tanhf(xv[i]);
        break;
    case PW_SIGMOID:
        for (size_t i = 0; i < n; i++) yv[i] = 1.0f / (1.0f + expf(-xv[i]));
        break;
    case PW_RELU:
        for (size_t i = 0; i < n; i++) yv[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
        break;
    case PW_EXP:
        for (size_t i = 0; i < n; i++) yv[i] = expf(xv[i]);
        break;
    case PW_LOG:
        for (size_t i = 0; i < n; i++) {
            if (!(xv[i] > 0.0f))
                return rc_tape_fail(t, RC_ERR_NUMERIC,
                                    "log: element %zu of %s is %g (must be > 0)", i,
                                    rc_vshape(x), (double)xv[i]);
            yv[i] = logf(xv[i]);
        }
        break;
    }
    return y;
}

rc_var *rc_tanh(rc_tape *t, rc_var *x) { return pointwise(t, &op_tanh, PW_TANH, x); }
rc_var *rc_sigmoid(rc_tape *t, rc_var *x) { return pointwise(t, &op_sigmoid, PW_SIGMOID, x); }
rc_var *rc_relu(rc_tape *t, rc_var *x) { return pointwise(t, &op_relu, PW_RELU, x); }
rc_var *rc_exp(rc_tape *t, rc_var *x) { return pointwise(t, &op_exp, PW_EXP, x); }
rc_var *rc_log(rc_tape *t, rc_var *x) { return pointwise(t, &op_log, PW_LOG, x); }
