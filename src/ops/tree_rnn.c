/* tree_rnn.c - the recursive neural network (Socher et al. 2011) and the
 * recursive neural tensor network (RNTN, Socher et al. 2013) over a batch
 * of binary trees, level by level:
 *
 *   leaf:   h = x                                   (the word vector)
 *   inner:  v = [h_l; h_r],  z = W v + b + q,  h = tanh(z)
 *           q_k = v^T V_k v,  V_k[i][j] = V[i,k,j]   (RNTN only)
 *
 * Forward, for each level k = 1, 2, ...: gather v for the level's m nodes
 * into X [m x 2D], Z = X W^T + b (one multiply), for the RNTN also
 * T = X Vflat (Vflat = V viewed as [2D x D*2D], one multiply) and
 * q[n,k] = sum_j T[n,k,j] X[n,j], then tanh into the level's rows of H.
 *
 * Backward, levels top-down: dZ = dH (1 - h^2); dW += dZ^T X; db += sum dZ;
 * dX = dZ W. With the tensor: dT[n,k,j] = dZ[n,k] X[n,j] (the left factor's
 * path), dX[n,j] += sum_k dZ[n,k] T[n,k,j] (the right factor's),
 * dX += dT Vflat^T, dV += X^T dT. dX is scattered to the children's rows of
 * dH, which are complete by the time their level is reached (every parent
 * sits in a higher level). X and T are kept from forward. */
#include "tree_common.h"

#include <math.h>

typedef struct tree_rnn_ctx {
    const rc_tree_batch *b;
    float *X; /* [n_inner x 2D] */
    float *T; /* RNTN: [n_inner x D*2D] */
} tree_rnn_ctx;

static void tree_rnn_backward(rc_tape *t, rc_var *y)
{
    tree_rnn_ctx *cx = y->ctx;
    const rc_tree_batch *b = cx->b;
    rc_var *leaves = y->in[0], *w = y->in[1], *bias = y->in[2];
    rc_var *v = y->n_in > 3 ? y->in[3] : NULL;
    int D = y->value.shape[1], D2 = 2 * D, DD = D * D2, nl = b->n_leaves;
    int max_m = 0;
    for (int k = 1; k < b->n_levels; k++) {
        int m = b->level_start[k + 1] - b->level_start[k];
        if (m > max_m) max_m = m;
    }
    size_t nH = (size_t)b->n_nodes * D;
    float *dH = rc_tape_alloc(t, nH * sizeof(float));
    float *dZ = rc_tape_alloc(t, ((size_t)max_m * D + 1) * sizeof(float));
    float *dX = rc_tape_alloc(t, ((size_t)max_m * D2 + 1) * sizeof(float));
    float *dT = v ? rc_tape_alloc(t, ((size_t)max_m * DD + 1) * sizeof(float)) : NULL;
    float *dW = rc_needs_grad(w) ? rc_grad_of(t, w) : NULL;
    float *db = rc_needs_grad(bias) ? rc_grad_of(t, bias) : NULL;
    float *dV = rc_needs_grad(v) ? rc_grad_of(t, v) : NULL;
    if (!dH || !dZ || !dX || (v && !dT) || rc_tape_status(t)) return;
    memcpy(dH, y->grad, nH * sizeof(float));
    const float *H = y->value.data, *W = w->value.data;
    for (int k = b->n_levels - 1; k >= 1; k--) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        const float *X = cx->X + (size_t)(r0 - nl) * D2;
        for (int n = 0; n < m; n++) {
            const float *h = H + (size_t)(r0 + n) * D, *g = dH + (size_t)(r0 + n) * D;
            float *dz = dZ + (size_t)n * D;
            for (int j = 0; j < D; j++) dz[j] = g[j] * (1.0f - h[j] * h[j]);
        }
        if (db) tree_sum_rows(db, dZ, m, D);
        if (dW) rc_gemm(1, 0, D, D2, m, 1.0f, dZ, D, X, D2, 1.0f, dW, D2);
        rc_gemm(0, 0, m, D2, D, 1.0f, dZ, D, W, D2, 0.0f, dX, D2);
        if (v) {
            const float *T = cx->T + (size_t)(r0 - nl) * DD;
            for (int n = 0; n < m; n++) {
                const float *x = X + (size_t)n * D2, *dz = dZ + (size_t)n * D;
                const float *Tn = T + (size_t)n * DD;
                float *dTn = dT + (size_t)n * DD, *dx = dX + (size_t)n * D2;
                for (int kk = 0; kk < D; kk++) {
                    float g = dz[kk];
                    const float *Tk = Tn + (size_t)kk * D2;
                    float *dTk = dTn + (size_t)kk * D2;
                    for (int j = 0; j < D2; j++) {
                        dTk[j] = g * x[j];
                        dx[j] += g * Tk[j];
                    }
                }
            }
            rc_gemm(0, 1, m, D2, DD, 1.0f, dT, DD, v->value.data, DD, 1.0f, dX, D2);
            if (dV) rc_gemm(1, 0, D2, DD, m, 1.0f, X, D2, dT, DD, 1.0f, dV, DD);
        }
        for (int n = 0; n < m; n++) {
            const int32_t *ch = b->child_row + b->child_start[r0 + n];
            tree_axpy(dH + (size_t)ch[0] * D, dX + (size_t)n * D2, D);
            tree_axpy(dH + (size_t)ch[1] * D, dX + (size_t)n * D2 + D, D);
        }
    }
    if (rc_needs_grad(leaves)) {
        float *dl = rc_grad_of(t, leaves);
        if (dl) tree_axpy(dl, dH, nl * D);
    }
}

static const rc_op op_tree_rnn = {"tree_rnn", tree_rnn_backward};

rc_var *rc_tree_rnn(rc_tape *t, const rc_tree_batch *b, rc_var *leaves, rc_var *w,
                    rc_var *bias, rc_var *v)
{
    const char *op = v ? "tree_rntn" : "tree_rnn";
    rc_var *in[4] = {leaves, w, bias, v};
    int n_in = v ? 4 : 3;
    if (!rc_op_check_inputs(t, op, 3, in) || !tree_batch_ok(t, op, b, 2)) return NULL;
    if (leaves->value.ndim != 2)
        return rc_tape_fail(t, RC_ERR_SHAPE, "%s: leaves must be [n_leaves x D], got %s", op,
                            rc_vshape(leaves));
    int D = leaves->value.shape[1], D2 = 2 * D, DD = D * D2, nl = b->n_leaves;
    if (!tree_shape_ok(t, op, "leaves", leaves, nl, D) || !tree_shape_ok(t, op, "w", w, D, D2) ||
        !tree_vec_ok(t, op, "bias", bias, D))
        return NULL;
    if (v && (v->value.ndim != 3 || v->value.shape[0] != D2 || v->value.shape[1] != D ||
              v->value.shape[2] != D2))
        return rc_tape_fail(t, RC_ERR_SHAPE, "%s: the tensor v is %s, expected [%dx%dx%d]", op,
                            rc_vshape(v), D2, D, D2);
    int shape[2] = {b->n_nodes, D};
    rc_var *y = rc_node_new(t, &op_tree_rnn, 2, shape, n_in, in);
    if (!y) return NULL;
    size_t n_inner = (size_t)(b->n_nodes - nl);
    tree_rnn_ctx *cx = rc_tape_alloc(t, sizeof *cx);
    if (!cx) return NULL;
    cx->b = b;
    cx->X = rc_tape_alloc(t, (n_inner * D2 + 1) * sizeof(float));
    cx->T = v ? rc_tape_alloc(t, (n_inner * DD + 1) * sizeof(float)) : NULL;
    if (!cx->X || (v && !cx->T)) return NULL;
    y->ctx = cx;
    float *H = y->value.data;
    memcpy(H, leaves->value.data, (size_t)nl * D * sizeof(float));
    for (int k = 1; k < b->n_levels; k++) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        float *X = cx->X + (size_t)(r0 - nl) * D2, *Z = H + (size_t)r0 * D;
        for (int n = 0; n < m; n++) {
            const int32_t *ch = b->child_row + b->child_start[r0 + n];
            memcpy(X + (size_t)n * D2, H + (size_t)ch[0] * D, (size_t)D * sizeof(float));
            memcpy(X + (size_t)n * D2 + D, H + (size_t)ch[1] * D, (size_t)D * sizeof(float));
        }
        tree_fill_bias(Z, bias->value.data, m, D);
        rc_gemm(0, 1, m, D, D2, 1.0f, X, D2, w->value.data, D2, 1.0f, Z, D);
        if (v) {
            float *T = cx->T + (size_t)(r0 - nl) * DD;
            rc_gemm(0, 0, m, DD, D2, 1.0f, X, D2, v->value.data, DD, 0.0f, T, DD);
            for (int n = 0; n < m; n++) {
                const float *x = X + (size_t)n * D2, *Tn = T + (size_t)n * DD;
                float *z = Z + (size_t)n * D;
                for (int kk = 0; kk < D; kk++) {
                    const float *Tk = Tn + (size_t)kk * D2;
                    float q = 0;
                    for (int j = 0; j < D2; j++) q += Tk[j] * x[j];
                    z[kk] += q;
                }
            }
        }
        for (size_t i = 0; i < (size_t)m * D; i++) Z[i] = tanhf(Z[i]);
    }
    return y;
}
