/* softmax.c - softmax and log-softmax over the last dimension.
 *
 * Every row (the last dimension; a 1-D input is one row) is shifted by its
 * maximum before exponentiating, so large logits cannot overflow and the
 * largest term of each row's sum is exactly 1, so the sum cannot underflow
 * to 0 either. Both backwards use only the saved output. */
#include "../internal.h"

#include <math.h>

/* Rows and columns of x seen as [rows x last dim]. */
static void rows_cols(const rc_var *x, size_t *rows, size_t *cols)
{
    *cols = (size_t)x->value.shape[x->value.ndim - 1];
    *rows = *cols ? x->value.size / *cols : 0;
}

/* log(sum(exp(x - max))) + max for one row of n > 0 elements; also
 * returns the maximum. The sum is taken in double. */
static float row_logsumexp(const float *x, size_t n, float *max_out)
{
    float m = x[0];
    for (size_t j = 1; j < n; j++)
        if (x[j] > m) m = x[j];
    double s = 0.0;
    for (size_t j = 0; j < n; j++) s += exp((double)x[j] - (double)m);
    *max_out = m;
    return (float)((double)m + log(s));
}

static int check_finite_rows(rc_tape *t, const char *op, const rc_var *x)
{
    /* A NaN or Inf would make the maximum meaningless; say where it is. */
    for (size_t i = 0; i < x->value.size; i++)
        if (!isfinite(x->value.data[i])) {
            rc_tape_fail(t, RC_ERR_NUMERIC, "%s: element %zu of %s is %g", op, i,
                         rc_vshape(x), (double)x->value.data[i]);
            return 0;
        }
    return 1;
}

/* ---- softmax: y = exp(x - lse(x)); dx = y * (dy - sum(dy * y)) ---- */

static void softmax_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    size_t rows, cols;
    rows_cols(y, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y->value.data + r * cols, *gr = y->grad + r * cols;
        float *dr = dx + r * cols;
        double dot = 0.0;
        for (size_t j = 0; j < cols; j++) dot += (double)gr[j] * yr[j];
        for (size_t j = 0; j < cols; j++) dr[j] += yr[j] * (gr[j] - (float)dot);
    }
}

static const rc_op op_softmax = {"softmax", softmax_backward};

rc_var *rc_softmax(rc_tape *t, rc_var *x)
{
    if (!rc_op_check_inputs(t, "softmax", 1, &x)) return NULL;
    if (!check_finite_rows(t, "softmax", x)) return NULL;
    rc_var *y = rc_node_new(t, &op_softmax, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    size_t rows, cols;
    rows_cols(x, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->value.data + r * cols;
        float *yr = y->value.data + r * cols;
        float m;
        float lse = row_logsumexp(xr, cols, &m);
        for (size_t j = 0; j < cols; j++) yr[j] = expf(xr[j] - lse);
    }
    return y;
}

/* ---- log_softmax: y = x - lse(x); dx = dy - exp(y) * sum(dy) ---- */

static void log_softmax_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    size_t rows, cols;
    rows_cols(y, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *yr = y->value.data + r * cols, *gr = y->grad + r * cols;
        float *dr = dx + r * cols;
        double s = 0.0;
        for (size_t j = 0; j < cols; j++) s += gr[j];
        for (size_t j = 0; j < cols; j++) dr[j] += gr[j] - expf(yr[j]) * (float)s;
    }
}

static const rc_op op_log_softmax = {"log_softmax", log_softmax_backward};

rc_var *rc_log_softmax(rc_tape *t, rc_var *x)
{
    if (!rc_op_check_inputs(t, "log_softmax", 1, &x)) return NULL;
    if (!check_finite_rows(t, "log_softmax", x)) return NULL;
    rc_var *y = rc_node_new(t, &op_log_softmax, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    size_t rows, cols;
    rows_cols(x, &rows, &cols);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->value.data + r * cols;
        float *yr = y->value.data + r * cols;
        float m;
        float lse = row_logsumexp(xr, cols, &m);
        /* x - m first, then the small log term: exact for the row's max. */
        float logs = lse - m;
        for (size_t j = 0; j < cols; j++) yr[j] = (xr[j] - m) - logs;
    }
    return y;
}
