/* view.c - a window onto another variable's data (see rc_view). */
#include "../internal.h"

static void view_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    size_t off = *(const size_t *)y->ctx;
    for (size_t i = 0; i < y->value.size; i++) dx[off + i] += y->grad[i];
}

static const rc_op op_view = {"view", view_backward};

rc_var *rc_view(rc_tape *t, rc_var *x, size_t offset, int ndim, const int *shape)
{
    if (!rc_op_check_inputs(t, "view", 1, &x)) return NULL;
    if (ndim < 1 || ndim > RC_MAX_DIMS || !shape)
        return rc_tape_fail(t, RC_ERR_SHAPE, "view: need 1 to %d dimensions", RC_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return rc_tape_fail(t, RC_ERR_SHAPE, "view: dimension %d is negative (%d)", i, shape[i]);
    size_t n = rc_shape_size(ndim, shape);
    if (offset + n > x->value.size)
        return rc_tape_fail(t, RC_ERR_SHAPE, "view: elements [%zu, %zu) are outside %s",
                            offset, offset + n, rc_vshape(x));
    /* Made empty, then given the shape: the data is x's, not a copy. */
    int empty = 0;
    rc_var *y = rc_node_new(t, &op_view, 1, &empty, 1, &x);
    if (!y) return NULL;
    y->value.ndim = ndim;
    for (int i = 0; i < ndim; i++) y->value.shape[i] = shape[i];
    y->value.size = n;
    size_t *off = rc_tape_alloc(t, sizeof *off);
    if (!off) return NULL;
    *off = offset;
    y->ctx = off;
    y->value.data = x->value.data + offset;
    return y;
}
