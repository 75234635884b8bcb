/* tree_common.h - what the tree composition ops share (private to src/ops):
 * checking a batch against the inputs, and gathering / scattering rows. */
#ifndef RECUR_OPS_TREE_COMMON_H
#define RECUR_OPS_TREE_COMMON_H

#include "../internal.h"

#include <string.h>

/* The batch is usable and every inner node has `arity` children (0: any
 * number, at least one). 0 with the tape's error set otherwise. */
static inline int tree_batch_ok(rc_tape *t, const char *op, const rc_tree_batch *b, int arity)
{
    if (!b || !b->level_start || !b->child_start || b->n_nodes < 1) {
        rc_tape_fail(t, RC_ERR_ARG, "%s: the tree batch is NULL or empty", op);
        return 0;
    }
    for (int r = b->n_leaves; r < b->n_nodes; r++) {
        int k = b->child_start[r + 1] - b->child_start[r];
        if ((arity && k != arity) || k < 1) {
            rc_tape_fail(t, RC_ERR_ARG,
                         "%s: node %d of tree %d has %d children; this op needs exactly %d "
                         "(binarize the tree, or use the child-sum Tree-LSTM)",
                         op, b->node_of[r], b->tree_of[r], k, arity);
            return 0;
        }
    }
    return 1;
}

/* A [rows x cols] shape check with a message naming the op and input. */
static inline int tree_shape_ok(rc_tape *t, const char *op, const char *what, const rc_var *x,
                                int rows, int cols)
{
    if (x->value.ndim == 2 && x->value.shape[0] == rows && x->value.shape[1] == cols) return 1;
    rc_tape_fail(t, RC_ERR_SHAPE, "%s: %s is %s, expected [%dx%d]", op, what, rc_vshape(x),
                 rows, cols);
    return 0;
}

static inline int tree_vec_ok(rc_tape *t, const char *op, const char *what, const rc_var *x,
                              int n)
{
    if (x->value.ndim == 1 && x->value.shape[0] == n) return 1;
    rc_tape_fail(t, RC_ERR_SHAPE, "%s: %s is %s, expected [%d]", op, what, rc_vshape(x), n);
    return 0;
}

/* dst[i] += src[i] */
static inline void tree_axpy(float *dst, const float *src, int n)
{
    for (int i = 0; i < n; i++) dst[i] += src[i];
}

/* Each of the m rows of y starts as the bias. */
static inline void tree_fill_bias(float *y, const float *bias, int m, int n)
{
    for (int r = 0; r < m; r++) memcpy(y + (size_t)r * n, bias, (size_t)n * sizeof(float));
}

/* db += the column sums of dy [m x n]. */
static inline void tree_sum_rows(float *db, const float *dy, int m, int n)
{
    for (int r = 0; r < m; r++) tree_axpy(db, dy + (size_t)r * n, n);
}

#endif
