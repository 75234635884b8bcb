/* reduce.c - sum and mean of all elements. */
#include "../internal.h"

static void reduce_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    float g = y->grad[0] * y->farg[0]; /* farg[0]: 1 for sum, 1/n for mean */
    for (size_t i = 0; i < x->value.size; i++) dx[i] += g;
}

static const rc_op op_sum = {"sum", reduce_backward};
static const rc_op op_mean = {"mean", reduce_backward};

static rc_var *reduce(rc_tape *t, const rc_op *op, rc_var *x, int mean)
{
    if (!rc_op_check_inputs(t, op->name, 1, &x)) return NULL;
    if (mean && x->value.size == 0)
        return rc_tape_fail(t, RC_ERR_SHAPE, "mean: input %s is empty", rc_vshape(x));
    int one = 1;
    rc_var *y = rc_node_new(t, op, 1, &one, 1, &x);
    if (!y) return NULL;
    double s = 0.0;
    for (size_t i = 0; i < x->value.size; i++) s += x->value.data[i];
    y->farg[0] = mean ? 1.0f / (float)x->value.size : 1.0f;
    y->value.data[0] = (float)(mean ? s / (double)x->value.size : s);
    return y;
}

rc_var *rc_sum(rc_tape *t, rc_var *x) { return reduce(t, &op_sum, x, 0); }
rc_var *rc_mean(rc_tape *t, rc_var *x) { return reduce(t, &op_mean, x, 1); }
