/* pool.c - pooling a padded batch of sequences over time, as one op with a
 * hand-written backward: the step from a recurrent layer's outputs to one
 * vector per sequence (sequence classification).
 *
 * x [T x B x D] time-major, lengths L_b in 1..T (positions t >= L_b are
 * padding and are never read). Output y [B x D]:
 *   mean:  y_bd = (1 / L_b) sum_{t < L_b} x_tbd
 *   max:   y_bd = max_{t < L_b} x_tbd,   t*_bd = the first t reaching it
 * Backward from dy [B x D]:
 *   mean:  dx_tbd += dy_bd / L_b          for t < L_b
 *   max:   dx_{t*_bd, b, d} += dy_bd      (the subgradient at the arg max)
 * Padded positions get exactly no gradient, whatever they hold (NaN too). */
#include "../internal.h"

#include <math.h>
#include <string.h>

typedef struct pool_ctx {
    int T, B, D;
    int32_t *len;    /* [B] */
    int32_t *argmax; /* max: [B x D] */
} pool_ctx;

static void pool_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    pool_ctx *c = y->ctx;
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    const float *dy = y->grad;
    int B = c->B, D = c->D;
    for (int b = 0; b < B; b++) {
        const float *g = dy + (size_t)b * D;
        if (c->argmax) {
            const int32_t *am = c->argmax + (size_t)b * D;
            for (int d = 0; d < D; d++) dx[((size_t)am[d] * B + b) * D + d] += g[d];
        } else {
            float s = 1.0f / (float)c->len[b];
            for (int tt = 0; tt < c->len[b]; tt++) {
                float *row = dx + ((size_t)tt * B + b) * D;
                for (int d = 0; d < D; d++) row[d] += s * g[d];
            }
        }
    }
}

static const rc_op op_pool[] = {{"pool_mean", pool_backward}, {"pool_max", pool_backward}};

rc_var *rc_pool_time(rc_tape *t, rc_var *x, const int32_t *lengths, rc_pool_kind kind)
{
    if (kind != RC_POOL_MEAN && kind != RC_POOL_MAX) {
        if (t) return rc_tape_fail(t, RC_ERR_ARG, "pool_time: unknown pooling kind %d", (int)kind);
        rc_error(RC_ERR_ARG, "pool_time: unknown pooling kind %d", (int)kind);
        return NULL;
    }
    const char *name = op_pool[kind].name;
    if (!rc_op_check_inputs(t, name, 1, &x)) return NULL;
    if (x->value.ndim != 3 || x->value.size == 0)
        return rc_tape_fail(t, RC_ERR_SHAPE, "%s: x %s must be [T x B x D] and not empty", name,
                            rc_vshape(x));
    int T = x->value.shape[0], B = x->value.shape[1], D = x->value.shape[2];
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return rc_tape_fail(t, RC_ERR_RANGE, "%s: lengths[%d] = %d is outside 1..%d", name, b,
                                (int)lengths[b], T);
    int shape[2] = {B, D};
    rc_var *y = rc_node_new(t, &op_pool[kind], 2, shape, 1, &x);
    if (!y) return NULL;
    pool_ctx *c = rc_tape_alloc(t, sizeof *c);
    int32_t *len = c ? rc_tape_alloc(t, (size_t)B * sizeof *len) : NULL;
    int32_t *am = len && kind == RC_POOL_MAX && y->requires_grad
                      ? rc_tape_alloc(t, (size_t)B * D * sizeof *am)
                      : NULL;
    if (!len || (kind == RC_POOL_MAX && y->requires_grad && !am)) return NULL;
    for (int b = 0; b < B; b++) len[b] = lengths ? lengths[b] : T;
    c->T = T, c->B = B, c->D = D, c->len = len, c->argmax = am;
    y->ctx = c;
    const float *xv = x->value.data;
    float *out = y->value.data;
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * D;
        const float *first = xv + (size_t)b * D;
        memcpy(o, first, (size_t)D * sizeof *o);
        if (am) memset(am + (size_t)b * D, 0, (size_t)D * sizeof *am);
        for (int tt = 1; tt < len[b]; tt++) {
            const float *row = xv + ((size_t)tt * B + b) * D;
            if (kind == RC_POOL_MEAN) {
                for (int d = 0; d < D; d++) o[d] += row[d];
            } else {
                for (int d = 0; d < D; d++)
                    if (row[d] > o[d]) {
                        o[d] = row[d];
                        if (am) am[(size_t)b * D + d] = tt;
                    }
            }
        }
        if (kind == RC_POOL_MEAN) {
            float s = 1.0f / (float)len[b];
            for (int d = 0; d < D; d++) o[d] *= s;
        }
    }
    return y;
}
