/* index.c - ops that move elements without arithmetic: concat, slice,
 * split, reshape, embedding.
 *
 * Along an axis, a row-major tensor is `outer` blocks (the product of the
 * dimensions before the axis), each holding shape[axis] * inner contiguous
 * floats (inner: the product of the dimensions after it). Concat and slice
 * copy such blocks; their backwards add the same blocks back. */
#include "../internal.h"

#include <limits.h>
#include <string.h>

static size_t prod(const int *shape, int from, int to)
{
    size_t p = 1;
    for (int i = from; i < to; i++) p *= (size_t)shape[i];
    return p;
}

/* outer times: dst[len] (+)= src[len], then both advance by their stride. */
static void copy_blocks(float *dst, size_t dst_stride, const float *src, size_t src_stride,
                        size_t outer, size_t len, int add)
{
    if (len == 0) return;
    for (size_t o = 0; o < outer; o++) {
        float *d = dst + o * dst_stride;
        const float *s = src + o * src_stride;
        if (add)
            for (size_t j = 0; j < len; j++) d[j] += s[j];
        else
            memcpy(d, s, len * sizeof(float));
    }
}

static int axis_ok(rc_tape *t, const char *op, const rc_var *x, int axis)
{
    if (axis >= 0 && axis < x->value.ndim) return 1;
    rc_tape_fail(t, RC_ERR_ARG, "%s: axis %d is outside [0, %d) for %s", op, axis,
                 x->value.ndim, rc_vshape(x));
    return 0;
}

/* ---- concat ---- */

static void concat_backward(rc_tape *t, rc_var *y)
{
    int axis = y->iarg[0];
    const int *ys = y->value.shape;
    size_t outer = prod(ys, 0, axis), inner = prod(ys, axis + 1, y->value.ndim);
    size_t ystride = (size_t)ys[axis] * inner, off = 0;
    for (int k = 0; k < y->n_in; k++) {
        rc_var *x = y->in[k];
        size_t len = (size_t)x->value.shape[axis] * inner;
        if (rc_needs_grad(x)) {
            float *dx = rc_grad_of(t, x);
            if (!dx) return;
            copy_blocks(dx, len, y->grad + off, ystride, outer, len, 1);
        }
        off += len;
    }
}

static const rc_op op_concat = {"concat", concat_backward};

rc_var *rc_concat(rc_tape *t, rc_var **xs, int n, int axis)
{
    if (!rc_op_check_inputs(t, "concat", 0, NULL)) return NULL; /* the tape */
    if (!xs || n < 1)
        return rc_tape_fail(t, RC_ERR_ARG, "concat: need an array of at least one input, "
                            "got %s with n = %d", xs ? "an array" : "NULL", n);
    if (!rc_op_check_inputs(t, "concat", n, xs)) return NULL;
    const rc_var *x0 = xs[0];
    if (!axis_ok(t, "concat", x0, axis)) return NULL;
    long long total = 0;
    for (int k = 0; k < n; k++) {
        const rc_var *x = xs[k];
        int fits = x->value.ndim == x0->value.ndim;
        for (int d = 0; fits && d < x0->value.ndim; d++)
            if (d != axis && x->value.shape[d] != x0->value.shape[d]) fits = 0;
        if (!fits)
            return rc_tape_fail(t, RC_ERR_SHAPE, "concat: input %d is %s but input 0 is %s; "
                                "only dimension %d (the axis) may differ", k, rc_vshape(x),
                                rc_vshape(x0), axis);
        total += x->value.shape[axis];
    }
    if (total > INT_MAX)
        return rc_tape_fail(t, RC_ERR_SHAPE, "concat: %lld along axis %d is too large",
                            total, axis);
    int shape[RC_MAX_DIMS];
    memcpy(shape, x0->value.shape, sizeof shape);
    shape[axis] = (int)total;
    rc_var *y = rc_node_new(t, &op_concat, x0->value.ndim, shape, n, xs);
    if (!y) return NULL;
    y->iarg[0] = axis;
    size_t outer = prod(shape, 0, axis), inner = prod(shape, axis + 1, x0->value.ndim);
    size_t ystride = (size_t)total * inner, off = 0;
    for (int k = 0; k < n; k++) {
        size_t len = (size_t)xs[k]->value.shape[axis] * inner;
        copy_blocks(y->value.data + off, ystride, xs[k]->value.data, len, outer, len, 0);
        off += len;
    }
    return y;
}

/* ---- slice ---- */

static void slice_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    int axis = y->iarg[0], start = y->iarg[1];
    const int *xs = x->value.shape;
    size_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, x->value.ndim);
    size_t len = (size_t)y->value.shape[axis] * inner;
    copy_blocks(dx + (size_t)start * inner, (size_t)xs[axis] * inner, y->grad, len, outer,
                len, 1);
}

static const rc_op op_slice = {"slice", slice_backward};

/* The checks of slice, under the name of the op that asked. */
static int slice_ok(rc_tape *t, const char *op, rc_var *x, int axis, int start, int len)
{
    if (!axis_ok(t, op, x, axis)) return 0;
    long long end = (long long)start + len;
    if (start < 0 || len < 0 || end > x->value.shape[axis]) {
        rc_tape_fail(t, RC_ERR_RANGE, "%s: [%d, %lld) along axis %d is outside [0, %d) "
                     "of %s", op, start, end, axis, x->value.shape[axis], rc_vshape(x));
        return 0;
    }
    return 1;
}

static rc_var *slice_unchecked(rc_tape *t, rc_var *x, int axis, int start, int len)
{
    int shape[RC_MAX_DIMS];
    memcpy(shape, x->value.shape, sizeof shape);
    shape[axis] = len;
    rc_var *y = rc_node_new(t, &op_slice, x->value.ndim, shape, 1, &x);
    if (!y) return NULL;
    y->iarg[0] = axis;
    y->iarg[1] = start;
    const int *xs = x->value.shape;
    size_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, x->value.ndim);
    size_t ylen = (size_t)len * inner;
    copy_blocks(y->value.data, ylen, x->value.data + (size_t)start * inner,
                (size_t)xs[axis] * inner, outer, ylen, 0);
    return y;
}

rc_var *rc_slice(rc_tape *t, rc_var *x, int axis, int start, int len)
{
    if (!rc_op_check_inputs(t, "slice", 1, &x)) return NULL;
    if (!slice_ok(t, "slice", x, axis, start, len)) return NULL;
    return slice_unchecked(t, x, axis, start, len);
}

/* ---- split: n slices of equal length ---- */

rc_status rc_split(rc_tape *t, rc_var *x, int axis, int n, rc_var **out)
{
    if (out)
        for (int k = 0; k < n; k++) out[k] = NULL;
    if (!rc_op_check_inputs(t, "split", 1, &x))
        return t && rc_tape_status(t) != RC_OK ? rc_tape_status(t) : RC_ERR_ARG;
    if (!out || n < 1) {
        rc_tape_fail(t, RC_ERR_ARG, "split: need n >= 1 parts and an output array, got "
                     "n = %d and %s (input %s)", n, out ? "an array" : "NULL", rc_vshape(x));
        return rc_tape_status(t) ? rc_tape_status(t) : RC_ERR_ARG;
    }
    if (!axis_ok(t, "split", x, axis)) return rc_tape_status(t);
    if (x->value.shape[axis] % n != 0) {
        rc_tape_fail(t, RC_ERR_SHAPE, "split: dimension %d of %s (%d) is not divisible "
                     "into %d parts", axis, rc_vshape(x), x->value.shape[axis], n);
        return rc_tape_status(t);
    }
    int len = x->value.shape[axis] / n;
    for (int k = 0; k < n; k++) {
        out[k] = slice_unchecked(t, x, axis, k * len, len);
        if (!out[k]) {
            for (int j = 0; j < k; j++) out[j] = NULL;
            return rc_tape_status(t) ? rc_tape_status(t) : RC_ERR_NOMEM;
        }
    }
    return RC_OK;
}

/* ---- reshape: the same memory under another shape (no copy) ---- */

static void reshape_backward(rc_tape *t, rc_var *y)
{
    float *dx = rc_grad_of(t, y->in[0]);
    if (!dx) return;
    for (size_t i = 0; i < y->value.size; i++) dx[i] += y->grad[i];
}

static const rc_op op_reshape = {"reshape", reshape_backward};

rc_var *rc_reshape(rc_tape *t, rc_var *x, int ndim, const int *shape)
{
    if (!rc_op_check_inputs(t, "reshape", 1, &x)) return NULL;
    if (!shape || ndim < 1 || ndim > RC_MAX_DIMS)
        return rc_tape_fail(t, RC_ERR_SHAPE, "reshape: need 1 to %d dimensions%s, got %d "
                            "(input %s)", RC_MAX_DIMS, shape ? "" : " and a shape", ndim,
                            rc_vshape(x));
    char buf[64];
    rc_shape_str(ndim, shape, buf, sizeof buf);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return rc_tape_fail(t, RC_ERR_SHAPE, "reshape: %s to %s: dimension %d is "
                                "negative", rc_vshape(x), buf, i);
    size_t n = rc_shape_size(ndim, shape);
    if (n != x->value.size)
        return rc_tape_fail(t, RC_ERR_SHAPE, "reshape: %s (%zu elements) to %s (%zu "
                            "elements)", rc_vshape(x), x->value.size, buf, n);
    /* Made with one dimension of 0 so no value is allocated, then pointed at
     * x's data: values are never written in place, so sharing is safe. */
    int empty = 0;
    rc_var *y = rc_node_new(t, &op_reshape, 1, &empty, 1, &x);
    if (!y) return NULL;
    y->value.ndim = ndim;
    memset(y->value.shape, 0, sizeof y->value.shape);
    memcpy(y->value.shape, shape, (size_t)ndim * sizeof *shape);
    y->value.size = n;
    y->value.data = x->value.data;
    return y;
}

/* ---- embedding: y[i] = table[ids[i]] ---- */

static void embedding_backward(rc_tape *t, rc_var *y)
{
    rc_var *table = y->in[0];
    float *dt = rc_grad_of(t, table);
    if (!dt) return;
    const int32_t *ids = y->ctx;
    size_t n = (size_t)y->value.shape[0], D = (size_t)y->value.shape[1];
    for (size_t i = 0; i < n; i++) {
        float *d = dt + (size_t)ids[i] * D;
        const float *g = y->grad + i * D;
        for (size_t j = 0; j < D; j++) d[j] += g[j];
    }
}

static const rc_op op_embedding = {"embedding", embedding_backward};

rc_var *rc_embedding(rc_tape *t, rc_var *table, const int32_t *ids, int n)
{
    if (!rc_op_check_inputs(t, "embedding", 1, &table)) return NULL;
    if (table->value.ndim != 2)
        return rc_tape_fail(t, RC_ERR_SHAPE, "embedding: table must be 2-D [V x D], got %s",
                            rc_vshape(table));
    if (n < 0 || (!ids && n > 0))
        return rc_tape_fail(t, RC_ERR_ARG, "embedding: need n >= 0 ids, got n = %d and %s "
                            "(table %s)", n, ids ? "an array" : "NULL", rc_vshape(table));
    int V = table->value.shape[0], D = table->value.shape[1];
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return rc_tape_fail(t, RC_ERR_RANGE, "embedding: id %d at position %d is "
                                "outside [0, %d) of table %s", (int)ids[i], i, V,
                                rc_vshape(table));
    int shape[2] = {n, D};
    rc_var *y = rc_node_new(t, &op_embedding, 2, shape, 1, &table);
    if (!y) return NULL;
    if (y->requires_grad && n > 0) {
        /* The caller's ids need not outlive this call. */
        int32_t *saved = rc_tape_alloc(t, (size_t)n * sizeof *saved);
        if (!saved) return NULL;
        memcpy(saved, ids, (size_t)n * sizeof *saved);
        y->ctx = saved;
    }
    for (int i = 0; i < n; i++)
        memcpy(y->value.data + (size_t)i * D, table->value.data + (size_t)ids[i] * D,
               (size_t)D * sizeof(float));
    return y;
}
