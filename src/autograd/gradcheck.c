/* gradcheck.c - the generic gradient checker.
 *
 * For f(inputs) with output Y, take a fixed random R of Y's shape and the
 * scalar L = sum(Y * R). Backward seeded with R gives dL/dx for every input
 * element x; central differences (L(x+e) - L(x-e)) / 2e give the same
 * number independently. Every element of every input is compared. */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* L = sum(Y * R) in double, from a fresh forward pass. */
static int eval_projected(rc_tape *t, rc_gradcheck_fn f, void *user, rc_var **inputs,
                          const float *R, size_t n_out, double *L)
{
    rc_tape_reset(t);
    rc_var *y = f(t, inputs, user);
    if (!y || y->value.size != n_out) return 0;
    double s = 0.0;
    for (size_t i = 0; i < n_out; i++) s += (double)y->value.data[i] * R[i];
    *L = s;
    return 1;
}

rc_status rc_gradcheck(rc_gradcheck_fn f, void *user, rc_var **inputs, int n_inputs,
                       const rc_gradcheck_opts *opts, rc_gradcheck_report *rep)
{
    rc_gradcheck_opts o = {1e-2f, 1e-3f, 1e-2f, 1};
    if (opts) {
        if (opts->eps > 0) o.eps = opts->eps;
        if (opts->atol > 0) o.atol = opts->atol;
        if (opts->rtol > 0) o.rtol = opts->rtol;
        if (opts->seed) o.seed = opts->seed;
    }
    if (!f || !inputs || n_inputs < 1 || !rep)
        return rc_error(RC_ERR_ARG, "gradcheck: need a function, inputs and a report");
    memset(rep, 0, sizeof *rep);
    rep->ok = 1;
    for (int i = 0; i < n_inputs; i++)
        if (!inputs[i] || !inputs[i]->is_param)
            return rc_error(RC_ERR_ARG, "gradcheck: input %d must be a parameter "
                            "(rc_param_new)", i);

    rc_tape *t = rc_tape_new();
    if (!t) return RC_ERR_NOMEM;
    rc_status st = RC_OK;
    float *R = NULL, **analytic = NULL;

    rc_var *y = f(t, inputs, user);
    if (!y) {
        st = rc_error(rc_tape_status(t) ? rc_tape_status(t) : RC_ERR_STATE,
                      "gradcheck: the function failed: %s", rc_last_error());
        goto done;
    }
    snprintf(rep->op, sizeof rep->op, "%s", y->op ? y->op->name : "leaf");
    size_t n_out = y->value.size;
    R = malloc((n_out ? n_out : 1) * sizeof *R);
    analytic = calloc((size_t)n_inputs, sizeof *analytic);
    if (!R || !analytic) {
        st = rc_error(RC_ERR_NOMEM, "gradcheck: out of memory");
        goto done;
    }
    rc_rng rng;
    rc_rng_init(&rng, o.seed);
    rc_rng_fill_uniform(&rng, R, n_out, -1.0f, 1.0f);

    /* Analytic gradients. */
    for (int i = 0; i < n_inputs; i++) rc_param_zero_grad(inputs[i]);
    st = rc_backward_from(t, y, R);
    if (st != RC_OK) goto done;
    double scale = 1.0;
    for (int i = 0; i < n_inputs; i++) {
        size_t n = inputs[i]->value.size;
        analytic[i] = malloc((n ? n : 1) * sizeof(float));
        if (!analytic[i]) {
            st = rc_error(RC_ERR_NOMEM, "gradcheck: out of memory");
            goto done;
        }
        memcpy(analytic[i], inputs[i]->grad, n * sizeof(float));
        for (size_t j = 0; j < n; j++)
            if (fabs(analytic[i][j]) > scale) scale = fabs(analytic[i][j]);
    }

    /* Numeric gradients, element by element; keep the worst (relative to
     * its own allowance). */
    double worst_ratio = -1.0;
    for (int i = 0; i < n_inputs; i++) {
        float *x = inputs[i]->value.data;
        for (size_t j = 0; j < inputs[i]->value.size; j++) {
            float saved = x[j];
            double lp, lm;
            x[j] = saved + o.eps;
            int okp = eval_projected(t, f, user, inputs, R, n_out, &lp);
            x[j] = saved - o.eps;
            int okm = eval_projected(t, f, user, inputs, R, n_out, &lm);
            x[j] = saved;
            if (!okp || !okm) {
                st = rc_error(RC_ERR_STATE, "gradcheck: the function failed when input %d "
                              "element %zu was perturbed: %s", i, j, rc_last_error());
                goto done;
            }
            /* Divide by the step actually taken in float32. */
            double step = (double)(saved + o.eps) - (double)(saved - o.eps);
            double num = (lp - lm) / step;
            double ana = analytic[i][j];
            double err = fabs(ana - num);
            double big = fmax(fabs(ana), fabs(num));
            double allow = o.atol * scale + o.rtol * big;
            double ratio = err / allow;
            if (isnan(ratio)) ratio = INFINITY; /* a NaN gradient is a failure, the worst one */
            rep->checked++;
            if (ratio > worst_ratio) {
                worst_ratio = ratio;
                rep->worst_input = i;
                rep->worst_index = j;
                rep->analytic = ana;
                rep->numeric = num;
                rep->abs_err = err;
                rep->rel_err = big > 0 ? err / big : 0.0;
            }
            if (ratio > 1.0) rep->ok = 0;
        }
    }
    snprintf(rep->worst_name, sizeof rep->worst_name, "%s",
             inputs[rep->worst_input]->name ? inputs[rep->worst_input]->name : "");
    snprintf(rep->message, sizeof rep->message,
             "gradcheck %s of %s: worst at input %d (%s) element %zu: analytic %.6g, "
             "numeric %.6g, abs err %.3g, rel err %.3g (%zu elements)",
             rep->ok ? "passed" : "FAILED", rep->op, rep->worst_input, rep->worst_name,
             rep->worst_index, rep->analytic, rep->numeric, rep->abs_err, rep->rel_err,
             rep->checked);
done:
    if (analytic)
        for (int i = 0; i < n_inputs; i++) free(analytic[i]);
    free(analytic);
    free(R);
    rc_tape_free(t);
    return st;
}
