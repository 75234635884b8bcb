/* dropout.c - inverted dropout.
 *
 * While training, each element is kept with probability 1 - p and scaled by
 * 1 / (1 - p), so the expected value is unchanged and inference needs no
 * rescaling. The mask is reproducible: each masking call takes exactly one
 * block from the caller's rng (counter += 1, whatever the size of x) and
 * turns it into the key of a private Philox stream whose block i/4, word
 * i%4, decides element i. So the same seed gives the same masks, and a
 * change in one call's size does not shift the masks of later calls. When
 * dropout is the identity (p == 0 or not training) the rng is not touched. */
#include "../internal.h"


static void dropout_backward(rc_tape *t, rc_var *y)
{
    float *dx = rc_grad_of(t, y->in[0]);
    if (!dx) return;
    const unsigned char *keep = y->ctx;
    float scale = y->farg[0];
    for (size_t i = 0; i < y->value.size; i++)
        if (keep[i]) dx[i] += scale * y->grad[i];
}

static const rc_op op_dropout = {"dropout", dropout_backward};

rc_var *rc_dropout(rc_tape *t, rc_var *x, float p, rc_rng *rng)
{
    if (!rc_op_check_inputs(t, "dropout", 1, &x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) /* also catches NaN */
        return rc_tape_fail(t, RC_ERR_ARG, "dropout: p = %g is outside [0, 1) (input %s)",
                            (double)p, rc_vshape(x));
    if (p == 0.0f || !rc_tape_training(t)) return x;
    if (!rng)
        return rc_tape_fail(t, RC_ERR_ARG, "dropout: rng is NULL (input %s, p = %g)",
                            rc_vshape(x), (double)p);

    uint32_t w[4];
    rc_philox(rng->seed, rng->counter++, w);
    uint64_t key = ((uint64_t)w[1] << 32) | w[0];

    rc_var *y = rc_node_new(t, &op_dropout, x->value.ndim, x->value.shape, 1, &x);
    if (!y) return NULL;
    size_t n = x->value.size;
    unsigned char *keep = NULL;
    if (y->requires_grad) {
        keep = rc_tape_alloc(t, n ? n : 1);
        if (!keep) return NULL;
        y->ctx = keep;
    }
    /* Keep when the 24-bit uniform u = word >> 8 (as in rc_rng_uniform)
     * satisfies u / 2^24 >= p; the threshold is p * 2^24 rounded up. */
    uint32_t threshold = (uint32_t)(p * 16777216.0f);
    if ((float)threshold < p * 16777216.0f) threshold++;
    float scale = 1.0f / (1.0f - p);
    y->farg[0] = scale;
    const float *xv = x->value.data;
    float *yv = y->value.data;
    for (size_t b = 0; b * 4 < n; b++) {
        uint32_t r[4];
        rc_philox(key, (uint64_t)b, r);
        for (size_t k = 0; k < 4 && b * 4 + k < n; k++) {
            size_t i = b * 4 + k;
            int kept = (r[k] >> 8) >= threshold;
            yv[i] = kept ? scale * xv[i] : 0.0f;
            if (keep) keep[i] = (unsigned char)kept;
        }
    }
    return y;
}
