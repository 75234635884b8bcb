/* loss.c - the scalar losses: masked cross-entropy of class ids, mean
 * squared error, and masked binary cross-entropy of independent sigmoids. */
#include "../internal.h"
#include "fastmath.h"

#include <math.h>
#include <string.h>

/* ---- cross_entropy ----
 * Rows i of logits [.. x C], nll_i = lse(x_i) - x_i[t_i], weights
 * w_i = m_i / sum(m), loss = sum_i w_i nll_i. The softmax is fused in:
 * d loss / d x_ij = w_i (softmax(x_i)_j - [j == t_i]), which is cheaper and
 * better conditioned than going through log_softmax. */

typedef struct ce_ctx {
    float *max;       /* per row: the largest logit */
    float *logs;      /* per row: log(sum(exp(x - max))), so softmax is
                       * exp((x - max) - logs) without a rounded lse */
    float *w;         /* per row: m_i / sum(m), 0 for ignored rows */
    int32_t *targets; /* copied: the caller's array need not outlive forward */
    size_t rows, cols;
} ce_ctx;

/* sum_j e^(x_j - mx) over a row, with mx its largest value. Eight partial
 * sums, so that the loop vectorizes (a single float sum would have to be
 * added in order); a softmax row is short enough for float partials. */
static double rc_sum_exp_shifted(const float *x, size_t n, float mx)
{
    float acc[8] = {0};
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int k = 0; k < 8; k++) acc[k] += rc_exp_nonpos(x[j + k] - mx);
    double s = 0.0;
    for (; j < n; j++) s += rc_exp_nonpos(x[j] - mx);
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

static void ce_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    const ce_ctx *c = y->ctx;
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    float g = y->grad[0];
    for (size_t r = 0; r < c->rows; r++) {
        if (c->w[r] == 0.0f) continue; /* its target may be anything */
        const float *xr = x->value.data + r * c->cols;
        float *dr = dx + r * c->cols;
        float gw = g * c->w[r], m = c->max[r], ls = c->logs[r];
        for (size_t j = 0; j < c->cols; j++) dr[j] += gw * rc_exp_nonpos((xr[j] - m) - ls);
        dr[c->targets[r]] -= gw;
    }
}

static const rc_op op_cross_entropy = {"cross_entropy", ce_backward};

rc_var *rc_cross_entropy(rc_tape *t, rc_var *logits, const int32_t *targets,
                         const float *mask)
{
    if (!rc_op_check_inputs(t, "cross_entropy", 1, &logits)) return NULL;
    size_t cols = (size_t)logits->value.shape[logits->value.ndim - 1];
    if (cols == 0)
        return rc_tape_fail(t, RC_ERR_SHAPE, "cross_entropy: logits %s have no classes "
                            "(last dimension 0)", rc_vshape(logits));
    size_t rows = logits->value.size / cols;
    if (!targets && rows > 0)
        return rc_tape_fail(t, RC_ERR_ARG, "cross_entropy: targets is NULL (logits %s)",
                            rc_vshape(logits));
    /* Validate everything before making the node. */
    double msum = 0.0;
    for (size_t r = 0; r < rows; r++) {
        float m = mask ? mask[r] : 1.0f;
        if (!(m >= 0.0f) || isinf(m))
            return rc_tape_fail(t, RC_ERR_ARG, "cross_entropy: mask[%zu] is %g (must be "
                                "finite and >= 0) for logits %s", r, (double)m,
                                rc_vshape(logits));
        if (m == 0.0f) continue;
        if (targets[r] < 0 || (size_t)targets[r] >= cols)
            return rc_tape_fail(t, RC_ERR_RANGE, "cross_entropy: row %zu has target id %d, "
                                "outside [0, %zu) for logits %s", r, (int)targets[r], cols,
                                rc_vshape(logits));
        const float *xr = logits->value.data + r * cols;
        for (size_t j = 0; j < cols; j++)
            if (!isfinite(xr[j]))
                return rc_tape_fail(t, RC_ERR_NUMERIC, "cross_entropy: logit %zu of row %zu "
                                    "of %s is %g", j, r, rc_vshape(logits), (double)xr[j]);
        msum += m;
    }

    int one = 1;
    rc_var *y = rc_node_new(t, &op_cross_entropy, 1, &one, 1, &logits);
    if (!y) return NULL;
    /* Saved for backward only when there will be one (grad mode on). */
    ce_ctx *c = NULL;
    if (y->requires_grad) {
        size_t nr = rows ? rows : 1;
        c = rc_tape_alloc(t, sizeof *c);
        if (!c) return NULL;
        c->rows = rows;
        c->cols = cols;
        c->max = rc_tape_alloc(t, nr * sizeof *c->max);
        c->logs = rc_tape_alloc(t, nr * sizeof *c->logs);
        c->w = rc_tape_alloc(t, nr * sizeof *c->w);
        c->targets = rc_tape_alloc(t, nr * sizeof *c->targets);
        if (!c->max || !c->logs || !c->w || !c->targets) return NULL;
        y->ctx = c;
    }

    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) {
        float m = mask ? mask[r] : 1.0f;
        if (c) {
            /* An all-zero mask: zero weights, so a zero gradient. */
            c->w[r] = msum > 0.0 ? (float)(m / msum) : 0.0f;
            c->targets[r] = m != 0.0f ? targets[r] : 0;
            c->max[r] = c->logs[r] = 0.0f;
        }
        if (m == 0.0f) continue;
        const float *xr = logits->value.data + r * cols;
        float mx = xr[0];
        for (size_t j = 1; j < cols; j++)
            if (xr[j] > mx) mx = xr[j];
        double logs = log(rc_sum_exp_shifted(xr, cols, mx));
        if (c) {
            c->max[r] = mx;
            c->logs[r] = (float)logs;
        }
        /* nll = lse - x_t = logs - (x_t - max) */
        loss += (double)m * (logs - ((double)xr[targets[r]] - (double)mx));
    }
    y->value.data[0] = msum > 0.0 ? (float)(loss / msum) : 0.0f;
    return y;
}

/* ---- mse: mean((a - b)^2); da = 2 (a - b) / n, db = -da ---- */

static void mse_backward(rc_tape *t, rc_var *y)
{
    rc_var *a = y->in[0], *b = y->in[1];
    size_t n = a->value.size;
    float k = 2.0f * y->grad[0] / (float)n;
    float *da = rc_needs_grad(a) ? rc_grad_of(t, a) : NULL;
    if (rc_needs_grad(a) && !da) return;
    float *db = rc_needs_grad(b) ? rc_grad_of(t, b) : NULL;
    if (rc_needs_grad(b) && !db) return;
    for (size_t i = 0; i < n; i++) {
        float d = k * (a->value.data[i] - b->value.data[i]);
        if (da) da[i] += d;
        if (db) db[i] -= d;
    }
}

static const rc_op op_mse = {"mse", mse_backward};

static int same_shape(const rc_var *a, const rc_var *b)
{
    if (a->value.ndim != b->value.ndim) return 0;
    for (int i = 0; i < a->value.ndim; i++)
        if (a->value.shape[i] != b->value.shape[i]) return 0;
    return 1;
}

rc_var *rc_mse(rc_tape *t, rc_var *a, rc_var *b)
{
    rc_var *in[2] = {a, b};
    if (!rc_op_check_inputs(t, "mse", 2, in)) return NULL;
    if (!same_shape(a, b))
        return rc_tape_fail(t, RC_ERR_SHAPE, "mse: shapes %s and %s differ", rc_vshape(a),
                            rc_vshape(b));
    if (a->value.size == 0)
        return rc_tape_fail(t, RC_ERR_SHAPE, "mse: inputs %s are empty", rc_vshape(a));
    int one = 1;
    rc_var *y = rc_node_new(t, &op_mse, 1, &one, 2, in);
    if (!y) return NULL;
    double s = 0.0;
    for (size_t i = 0; i < a->value.size; i++) {
        double d = (double)a->value.data[i] - (double)b->value.data[i];
        s += d * d;
    }
    y->value.data[0] = (float)(s / (double)a->value.size);
    return y;
}

/* ---- bce_with_logits: independent sigmoids, one per column ----
 * Rows i of logits [.. x K], targets y in [0, 1] of the same shape:
 *   nll_i = sum_k softplus(x_ik) - y_ik x_ik
 *         = sum_k max(x, 0) - x y + log(1 + e^-|x|)      (no overflow)
 * which is -sum_k [y log s(x) + (1 - y) log(1 - s(x))], s the sigmoid;
 * loss = sum_i w_i nll_i with w_i = m_i / sum(m) (the Bernoulli NLL of a
 * frame, summed over its K keys, averaged over the unmasked frames).
 * d loss / d x_ik = w_i (s(x_ik) - y_ik). */

typedef struct bce_ctx {
    float *w;       /* per row: m_i / sum(m), 0 for ignored rows */
    float *targets; /* copied (0 in ignored rows) */
    size_t rows, cols;
} bce_ctx;

static void bce_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    const bce_ctx *c = y->ctx;
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    float g = y->grad[0];
    for (size_t r = 0; r < c->rows; r++) {
        if (c->w[r] == 0.0f) continue;
        const float *xr = x->value.data + r * c->cols, *yr = c->targets + r * c->cols;
        float *dr = dx + r * c->cols, gw = g * c->w[r];
        for (size_t j = 0; j < c->cols; j++) {
            /* s(x) without overflow: e^-|x| is in (0, 1] */
            float e = expf(-fabsf(xr[j]));
            float s = xr[j] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
            dr[j] += gw * (s - yr[j]);
        }
    }
}

static const rc_op op_bce_with_logits = {"bce_with_logits", bce_backward};

rc_var *rc_bce_with_logits(rc_tape *t, rc_var *logits, const float *targets, const float *mask)
{
    if (!rc_op_check_inputs(t, "bce_with_logits", 1, &logits)) return NULL;
    size_t cols = (size_t)logits->value.shape[logits->value.ndim - 1];
    if (cols == 0 || logits->value.size == 0)
        return rc_tape_fail(t, RC_ERR_SHAPE, "bce_with_logits: logits %s are empty",
                            rc_vshape(logits));
    size_t rows = logits->value.size / cols;
    if (!targets)
        return rc_tape_fail(t, RC_ERR_ARG, "bce_with_logits: targets is NULL (logits %s)",
                            rc_vshape(logits));
    double msum = 0.0;
    for (size_t r = 0; r < rows; r++) {
        float m = mask ? mask[r] : 1.0f;
        if (!(m >= 0.0f) || isinf(m))
            return rc_tape_fail(t, RC_ERR_ARG, "bce_with_logits: mask[%zu] is %g (must be "
                                "finite and >= 0) for logits %s", r, (double)m,
                                rc_vshape(logits));
        if (m == 0.0f) continue;
        const float *xr = logits->value.data + r * cols, *yr = targets + r * cols;
        for (size_t j = 0; j < cols; j++) {
            if (!(yr[j] >= 0.0f && yr[j] <= 1.0f))
                return rc_tape_fail(t, RC_ERR_RANGE, "bce_with_logits: target %zu of row %zu "
                                    "is %g, outside [0, 1] for logits %s", j, r,
                                    (double)yr[j], rc_vshape(logits));
            if (!isfinite(xr[j]))
                return rc_tape_fail(t, RC_ERR_NUMERIC, "bce_with_logits: logit %zu of row %zu "
                                    "of %s is %g", j, r, rc_vshape(logits), (double)xr[j]);
        }
        msum += m;
    }

    int one = 1;
    rc_var *y = rc_node_new(t, &op_bce_with_logits, 1, &one, 1, &logits);
    if (!y) return NULL;
    bce_ctx *c = NULL;
    if (y->requires_grad) {
        c = rc_tape_alloc(t, sizeof *c);
        if (!c) return NULL;
        c->rows = rows;
        c->cols = cols;
        c->w = rc_tape_alloc(t, rows * sizeof *c->w);
        c->targets = rc_tape_alloc(t, rows * cols * sizeof *c->targets);
        if (!c->w || !c->targets) return NULL;
        y->ctx = c;
    }
    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) {
        float m = mask ? mask[r] : 1.0f;
        const float *xr = logits->value.data + r * cols, *yr = targets + r * cols;
        if (c) {
            c->w[r] = msum > 0.0 && m != 0.0f ? (float)(m / msum) : 0.0f;
            if (m != 0.0f) memcpy(c->targets + r * cols, yr, cols * sizeof *yr);
            else memset(c->targets + r * cols, 0, cols * sizeof *yr);
        }
        if (m == 0.0f) continue;
        double s = 0.0;
        for (size_t j = 0; j < cols; j++) {
            float x = xr[j];
            s += (double)((x > 0.0f ? x : 0.0f) - x * yr[j] + log1pf(expf(-fabsf(x))));
        }
        loss += (double)m * s;
    }
    y->value.data[0] = msum > 0.0 ? (float)(loss / msum) : 0.0f;
    return y;
}
