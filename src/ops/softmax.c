/* softmax.c - softmax and log-softmax over the last dimension.
 *
 * Each row (the last dimension; a 1-D input is one row) is shifted by its
 * maximum before exponentiating: large logits cannot overflow, and the
 * row's largest term is exactly 1, so its sum cannot underflow to 0 either.
 * Both backwards need only the saved output. */
#include "../internal.h"
#include "fastmath.h"

#include <math.h>

/* x seen as [rows x last dim]. */
static void rows_cols(const rc_var *x, size_t *rows, size_t *cols)
{
    *cols = (size_t)x->value.shape[x->value.ndim - 1];
    *rows = *cols ? x->value.size / *cols : 0;
}

/* One row of n > 0 elements: writes e_j = exp(x_j - max) into e (which may
 * be the output row) and returns their sum, >= 1, taken in double; the
 * maximum goes to *max_out. */
static double row_shifted_exp(const float *x, size_t n, float *e, float *max_out)
{
    float m = x[0];
    for (size_t j = 1; j < n; j++)
        if (x[j] > m) m = x[j];
    /* The exponentials first (a loop that vectorizes), then their sum. */
    for (size_t j = 0; j < n; j++) e[j] = rc_exp_nonpos(x[j] - m);
    double s = 0.0;
    for (size_t j = 0; j < n; j++) s += e[j];
    *max_out = m;
    return s;
}

/* NaN or +Inf makes a row's maximum meaningless and a row of nothing but
 * -Inf has no distribution; -Inf among finite values is allowed (a masked
 * position simply gets probability 0). */
static int check_rows(rc_tape *t, const char *op, const rc_var *x)
{
    size_t rows, cols;
    rows_cols(x, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->value.data + r * cols;
        int any_finite = 0;
        for (size_t j = 0; j < cols; j++) {
            if (isnan(xr[j]) || (isinf(xr[j]) && xr[j] > 0)) {
                rc_tape_fail(t, RC_ERR_NUMERIC, "%s: element %zu of %s is %g", op,
                             r * cols + j, rc_vshape(x), (double)xr[j]);
                return 0;
            }
            if (isfinite(xr[j])) any_finite = 1;
        }
        if (!any_finite) {
            rc_tape_fail(t, RC_ERR_NUMERIC, "%s: row %zu of %s is all -inf", op, r,
                         rc_vshape(x));
            return 0;
        }
    }
    return 1;
}

/* ---- softmax: y = exp(x - max) / sum; dx = y * (dy - sum(dy * y)) ---- */

static void softmax_backward(rc_tape *t, rc_var *y)
{
    float *dx = rc_grad_of(t, y->in[0]);
    if (!dx) return;
    size_t rows, cols;
    rows_cols(y, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y->value.data + r * cols, *gr = y->grad + r * cols;
        float *dr = dx + r * cols;
        double dot = 0.0;
        for (size_t j = 0; j < cols; j++) dot += (double)gr[j] * yr[j];
        float d = (float)dot;
        for (size_t j = 0; j < cols; j++) dr[j] += yr[j] * (gr[j] - d);
    }
}

static const rc_op op_softmax = {"softmax", softmax_backward};

rc_var *rc_softmax(rc_tape *t, rc_var *x)
{
    if (!rc_op_check_inputs(t, "softmax", 1, &x)) return NULL;
    if (!check_rows(t, "softmax", x)) return NULL;
    rc_var *y = rc_node_new(t, &op_softmax, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    size_t rows, cols;
    rows_cols(x, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        float *yr = y->value.data + r * cols, m;
        float inv = (float)(1.0 / row_shifted_exp(x->value.data + r * cols, cols, yr, &m));
        for (size_t j = 0; j < cols; j++) yr[j] *= inv;
    }
    return y;
}

/* ---- log_softmax: y = (x - max) - log(sum); dx = dy - exp(y) sum(dy) ---- */

static void log_softmax_backward(rc_tape *t, rc_var *y)
{
    float *dx = rc_grad_of(t, y->in[0]);
    if (!dx) return;
    size_t rows, cols;
    rows_cols(y, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y->value.data + r * cols, *gr = y->grad + r * cols;
        float *dr = dx + r * cols;
        double s = 0.0;
        for (size_t j = 0; j < cols; j++) s += gr[j];
        float sf = (float)s;
        for (size_t j = 0; j < cols; j++) dr[j] += gr[j] - rc_exp_nonpos(yr[j]) * sf;
    }
}

static const rc_op op_log_softmax = {"log_softmax", log_softmax_backward};

rc_var *rc_log_softmax(rc_tape *t, rc_var *x)
{
    if (!rc_op_check_inputs(t, "log_softmax", 1, &x)) return NULL;
    if (!check_rows(t, "log_softmax", x)) return NULL;
    rc_var *y = rc_node_new(t, &op_log_softmax, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    size_t rows, cols;
    rows_cols(x, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->value.data + r * cols;
        float *yr = y->value.data + r * cols, m;
        /* yr holds the exponentials only until the log of their sum is known;
         * subtracting m first keeps the row's maximum at exactly -log(sum). */
        float logs = (float)log(row_shifted_exp(xr, cols, yr, &m));
        for (size_t j = 0; j < cols; j++) yr[j] = (xr[j] - m) - logs;
    }
    return y;
}
