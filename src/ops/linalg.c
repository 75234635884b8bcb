/* linalg.c - matmul and the elementwise arithmetic ops (add, sub, mul with
 * bias-style broadcasting, scale). */
#include "../internal.h"

#include <string.h>

/* ---- matmul: Y = op(A) op(B) ----
 * dA = dY op(B)^T (or its transpose when A was transposed), likewise dB. */

static void matmul_backward(rc_tape *t, rc_var *y)
{
    rc_var *a = y->in[0], *b = y->in[1];
    int ta = y->iarg[0], tb = y->iarg[1];
    int M = y->value.shape[0], N = y->value.shape[1], K = y->iarg[2];
    const float *dy = y->grad;
    if (rc_needs_grad(a)) {
        float *da = rc_grad_of(t, a);
        if (!da) return;
        if (!ta) /* A [M x K]: dA += dY op(B)^T */
            rc_gemm(0, !tb, M, K, N, 1.0f, dy, N, b->value.data, b->value.shape[1], 1.0f, da, K);
        else     /* A [K x M]: dA += op(B) dY^T */
            rc_gemm(tb, 1, K, M, N, 1.0f, b->value.data, b->value.shape[1], dy, N, 1.0f, da, M);
    }
    if (rc_needs_grad(b)) {
        float *db = rc_grad_of(t, b);
        if (!db) return;
        if (!tb) /* B [K x N]: dB += op(A)^T dY */
            rc_gemm(!ta, 0, K, N, M, 1.0f, a->value.data, a->value.shape[1], dy, N, 1.0f, db, N);
        else     /* B [N x K]: dB += dY^T op(A) */
            rc_gemm(1, ta, N, K, M, 1.0f, dy, N, a->value.data, a->value.shape[1], 1.0f, db, K);
    }
}

static const rc_op op_matmul = {"matmul", matmul_backward};

rc_var *rc_matmul(rc_tape *t, rc_var *a, rc_var *b, int trans_a, int trans_b)
{
    rc_var *in[2] = {a, b};
    if (!rc_op_check_inputs(t, "matmul", 2, in)) return NULL;
    if (a->value.ndim != 2 || b->value.ndim != 2)
        return rc_tape_fail(t, RC_ERR_SHAPE, "matmul: needs 2-D operands, got %s and %s",
                            rc_vshape(a), rc_vshape(b));
    int M = trans_a ? a->value.shape[1] : a->value.shape[0];
    int K = trans_a ? a->value.shape[0] : a->value.shape[1];
    int Kb = trans_b ? b->value.shape[1] : b->value.shape[0];
    int N = trans_b ? b->value.shape[0] : b->value.shape[1];
    if (K != Kb)
        return rc_tape_fail(t, RC_ERR_SHAPE,
                            "matmul: %s%s times %s%s: inner dimensions %d and %d differ",
                            rc_vshape(a), trans_a ? "^T" : "", rc_vshape(b),
                            trans_b ? "^T" : "", K, Kb);
    int shape[2] = {M, N};
    rc_var *y = rc_node_new(t, &op_matmul, 2, shape, 2, in);
    if (!y) return NULL;
    y->iarg[0] = trans_a != 0;
    y->iarg[1] = trans_b != 0;
    y->iarg[2] = K;
    if (K == 0)
        memset(y->value.data, 0, y->value.size * sizeof(float));
    else
        rc_gemm(trans_a, trans_b, M, N, K, 1.0f, a->value.data, a->value.shape[1],
                b->value.data, b->value.shape[1], 0.0f, y->value.data, N);
    return y;
}

/* ---- add / sub / mul with broadcasting of b over a's leading dims ---- */

/* b fits a when shapes are equal or b's shape is a suffix of a's. Returns
 * the number of elements of b (the broadcast period), or 0 if it does not
 * fit. */
static size_t broadcast_period(const rc_var *a, const rc_var *b)
{
    int na = a->value.ndim, nb = b->value.ndim;
    if (nb > na) return 0;
    for (int i = 0; i < nb; i++)
        if (b->value.shape[nb - 1 - i] != a->value.shape[na - 1 - i]) return 0;
    return b->value.size ? b->value.size : 1;
}

enum { EW_ADD, EW_SUB, EW_MUL };

static void elementwise_backward(rc_tape *t, rc_var *y)
{
    rc_var *a = y->in[0], *b = y->in[1];
    int kind = y->iarg[0];
    size_t n = y->value.size, p = b->value.size;
    const float *dy = y->grad;
    if (rc_needs_grad(a)) {
        float *da = rc_grad_of(t, a);
        if (!da) return;
        if (kind == EW_MUL)
            for (size_t i = 0; i < n; i++) da[i] += dy[i] * b->value.data[i % p];
        else
            for (size_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (rc_needs_grad(b)) {
        float *db = rc_grad_of(t, b);
        if (!db) return;
        /* Sum over the broadcast rows. */
        for (size_t r = 0; r < n; r += p) {
            const float *g = dy + r;
            if (kind == EW_ADD)
                for (size_t j = 0; j < p; j++) db[j] += g[j];
            else if (kind == EW_SUB)
                for (size_t j = 0; j < p; j++) db[j] -= g[j];
            else
                for (size_t j = 0; j < p; j++) db[j] += g[j] * a->value.data[r + j];
        }
    }
}

static const rc_op op_add = {"add", elementwise_backward};
static const rc_op op_sub = {"sub", elementwise_backward};
static const rc_op op_mul = {"mul", elementwise_backward};

static rc_var *elementwise(rc_tape *t, const rc_op *op, int kind, rc_var *a, rc_var *b)
{
    rc_var *in[2] = {a, b};
    if (!rc_op_check_inputs(t, op->name, 2, in)) return NULL;
    size_t p = broadcast_period(a, b);
    if (!p)
        return rc_tape_fail(t, RC_ERR_SHAPE,
                            "%s: shapes %s and %s do not fit (b must equal a's shape or "
                            "its trailing dimensions)", op->name, rc_vshape(a), rc_vshape(b));
    rc_var *y = rc_node_new(t, op, a->value.ndim, a->value.shape, 2, in);
    if (!y) return NULL;
    y->iarg[0] = kind;
    size_t n = a->value.size;
    const float *x = a->value.data, *z = b->value.data;
    float *out = y->value.data;
    for (size_t r = 0; r < n; r += p) {
        if (kind == EW_ADD)
            for (size_t j = 0; j < p; j++) out[r + j] = x[r + j] + z[j];
        else if (kind == EW_SUB)
            for (size_t j = 0; j < p; j++) out[r + j] = x[r + j] - z[j];
        else
            for (size_t j = 0; j < p; j++) out[r + j] = x[r + j] * z[j];
    }
    return y;
}

rc_var *rc_add(rc_tape *t, rc_var *a, rc_var *b) { return elementwise(t, &op_add, EW_ADD, a, b); }
rc_var *rc_sub(rc_tape *t, rc_var *a, rc_var *b) { return elementwise(t, &op_sub, EW_SUB, a, b); }
rc_var *rc_mul(rc_tape *t, rc_var *a, rc_var *b) { return elementwise(t, &op_mul, EW_MUL, a, b); }

/* ---- scale: y = s x ---- */

static void scale_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    float s = y->farg[0];
    for (size_t i = 0; i < y->value.size; i++) dx[i] += s * y->grad[i];
}

static const rc_op op_scale = {"scale", scale_backward};

rc_var *rc_scale(rc_tape *t, rc_var *x, float s)
{
    if (!rc_op_check_inputs(t, "scale", 1, &x)) return NULL;
    rc_var *y = rc_node_new(t, &op_scale, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    y->farg[0] = s;
    for (size_t i = 0; i < x->value.size; i++) y->value.data[i] = s * x->value.data[i];
    return y;
}
