/* linear.c - the fully connected layer and the embedding table. */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

rc_status rc_linear_init(rc_linear *l, const char *name, int in, int out, int bias, rc_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1)
        return rc_error(RC_ERR_ARG, "linear %s: sizes in %d and out %d must be at least 1",
                        name, in, out);
    char n[96];
    int ws[2] = {out, in}, bs[1] = {out};
    snprintf(n, sizeof n, "%s.weight", name);
    if (!(l->weight = rc_param_new(n, 2, ws))) return RC_ERR_NOMEM;
    float k = 1.0f / sqrtf((float)in);
    rc_rng_fill_uniform(rng, l->weight->value.data, l->weight->value.size, -k, k);
    if (bias) {
        snprintf(n, sizeof n, "%s.bias", name);
        if (!(l->bias = rc_param_new(n, 1, bs))) {
            rc_linear_free(l);
            return RC_ERR_NOMEM;
        }
        rc_rng_fill_uniform(rng, l->bias->value.data, (size_t)out, -k, k);
    }
    return RC_OK;
}

void rc_linear_free(rc_linear *l)
{
    if (!l) return;
    rc_param_free(l->weight);
    rc_param_free(l->bias);
    l->weight = l->bias = NULL;
}

rc_var *rc_linear_forward(rc_tape *t, const rc_linear *l, rc_var *x)
{
    if (!rc_op_check_inputs(t, "linear", 1, &x)) return NULL;
    int in = l->weight->value.shape[1], out = l->weight->value.shape[0];
    int nd = x->value.ndim;
    if (x->value.shape[nd - 1] != in)
        return rc_tape_fail(t, RC_ERR_SHAPE, "linear %s: input %s, expected last dimension %d",
                            l->weight->name, rc_vshape(x), in);
    rc_var *x2 = x;
    if (nd != 2) {
        int s2[2] = {(int)(x->value.size / (size_t)in), in};
        x2 = rc_reshape(t, x, 2, s2);
    }
    rc_var *y = rc_matmul(t, x2, l->weight, 0, 1);
    if (l->bias) y = rc_add(t, y, l->bias);
    if (y && nd != 2) {
        int s[RC_MAX_DIMS];
        memcpy(s, x->value.shape, sizeof s);
        s[nd - 1] = out;
        y = rc_reshape(t, y, nd, s);
    }
    return y;
}

rc_status rc_embedding_init(rc_embedding_table *e, const char *name, int n, int dim, rc_rng *rng)
{
    memset(e, 0, sizeof *e);
    if (n < 1 || dim < 1)
        return rc_error(RC_ERR_ARG, "embedding %s: %d rows of %d: both must be at least 1",
                        name, n, dim);
    char nm[96];
    int s[2] = {n, dim};
    snprintf(nm, sizeof nm, "%s.weight", name);
    if (!(e->weight = rc_param_new(nm, 2, s))) return RC_ERR_NOMEM;
    rc_rng_fill_normal(rng, e->weight->value.data, e->weight->value.size, 0.0f, 1.0f);
    return RC_OK;
}

void rc_embedding_free(rc_embedding_table *e)
{
    if (!e) return;
    rc_param_free(e->weight);
    e->weight = NULL;
}
