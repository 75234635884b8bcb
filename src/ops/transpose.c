/* transpose.c - swap two axes of a tensor (a copy). Backward swaps the
 * same axes of the gradient back. */
#include "../internal.h"

/* Copies src (shape `shape`, swapped axes a and b) into dst, or adds into
 * it when accumulate is set. Works on 4-D index space (missing dims = 1). */
static void swap_copy(const float *src, float *dst, const int *shape, int ndim, int a, int b,
                      int accumulate)
{
    int d[4] = {1, 1, 1, 1};
    for (int i = 0; i < ndim; i++) d[i] = shape[i];
    /* Strides of the source and of the destination, indexed by source axis. */
    size_t ss[4], ds[4];
    int od[4] = {d[0], d[1], d[2], d[3]};
    od[a] = d[b];
    od[b] = d[a];
    size_t s = 1, o = 1, ostride[4];
    for (int i = 3; i >= 0; i--) {
        ss[i] = s;
        s *= (size_t)d[i];
        ostride[i] = o;
        o *= (size_t)od[i];
    }
    for (int i = 0; i < 4; i++) ds[i] = ostride[i];
    ds[a] = ostride[b];
    ds[b] = ostride[a];
    for (int i0 = 0; i0 < d[0]; i0++)
        for (int i1 = 0; i1 < d[1]; i1++)
            for (int i2 = 0; i2 < d[2]; i2++) {
                const float *sp = src + i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
                float *dp = dst + i0 * ds[0] + i1 * ds[1] + i2 * ds[2];
                if (accumulate)
                    for (int i3 = 0; i3 < d[3]; i3++) dp[i3 * ds[3]] += sp[i3];
                else
                    for (int i3 = 0; i3 < d[3]; i3++) dp[i3 * ds[3]] = sp[i3];
            }
}

static void transpose_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    swap_copy(y->grad, dx, y->value.shape, y->value.ndim, y->iarg[0], y->iarg[1], 1);
}

static const rc_op op_transpose = {"transpose", transpose_backward};

rc_var *rc_transpose(rc_tape *t, rc_var *x, int axis_a, int axis_b)
{
    if (!rc_op_check_inputs(t, "transpose", 1, &x)) return NULL;
    int nd = x->value.ndim;
    if (axis_a < 0 || axis_a >= nd || axis_b < 0 || axis_b >= nd)
        return rc_tape_fail(t, RC_ERR_ARG, "transpose: axes %d and %d for %s (has %d axes)",
                            axis_a, axis_b, rc_vshape(x), nd);
    int shape[RC_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = x->value.shape[i];
    shape[axis_a] = x->value.shape[axis_b];
    shape[axis_b] = x->value.shape[axis_a];
    rc_var *y = rc_node_new(t, &op_transpose, nd, shape, 1, &x);
    if (!y) return NULL;
    y->iarg[0] = axis_a;
    y->iarg[1] = axis_b;
    swap_copy(x->value.data, y->value.data, x->value.shape, nd, axis_a, axis_b, 0);
    return y;
}
