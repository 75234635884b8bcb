/* clip.c - gradient clipping by global L2 norm, and a check that every
 * gradient is finite (the training loop's NaN guard).
 *
 * rc_clip_grad_norm follows torch.nn.utils.clip_grad_norm_ (norm_type 2):
 * the L2 norm of all gradients together, then every gradient is multiplied
 * by max_norm / (norm + 1e-6) when that factor is below 1 (torch multiplies
 * by the factor clamped to 1, the same thing). The sum of squares is
 * accumulated in double; torch accumulates in float in SIMD lanes, so its
 * norm can differ from this one in the last bit of a float. The factor is
 * then computed from the norm in float as torch does. */
#include "../internal.h"

#include <math.h>

static rc_status check_list(const char *fn, rc_var *const *params, int n)
{
    if (!params) return rc_error(RC_ERR_ARG, "%s: the parameter list is NULL", fn);
    if (n < 1) return rc_error(RC_ERR_ARG, "%s: need at least one parameter, got %d", fn, n);
    for (int i = 0; i < n; i++)
        if (!params[i]) return rc_error(RC_ERR_ARG, "%s: parameter %d is NULL", fn, i);
    return RC_OK;
}

rc_status rc_clip_grad_norm(rc_var *const *params, int n_params, double max_norm,
                            double *total_norm)
{
    if (total_norm) *total_norm = 0.0;
    rc_status st = check_list("clip_grad_norm", params, n_params);
    if (st != RC_OK) return st;
    if (!(max_norm > 0.0))
        return rc_error(RC_ERR_ARG, "clip_grad_norm: max_norm %g must be > 0", max_norm);

    double sum_sq = 0.0;
    for (int i = 0; i < n_params; i++) {
        const rc_var *p = params[i];
        if (!p->grad) continue; /* torch skips parameters without a gradient */
        for (size_t j = 0; j < p->value.size; j++) sum_sq += (double)p->grad[j] * p->grad[j];
    }
    double norm = sqrt(sum_sq);
    if (total_norm) *total_norm = norm;
    /* A NaN or Inf norm leaves the gradients alone (torch would scale them
     * by NaN); the caller sees the norm and skips the step. */
    if (!isfinite(norm)) return RC_OK;

    /* torch: max_norm / (norm + 1e-6) on a float tensor, which it computes
     * as reciprocal(norm + 1e-6) * max_norm. (A norm past float's range,
     * where torch's norm is Inf, is scaled in double instead.) */
    float total = (float)norm;
    float coef = isfinite(total) ? (1.0f / (total + 1e-6f)) * (float)max_norm
                                 : (float)(max_norm / norm);
    if (coef < 1.0f) {
        for (int i = 0; i < n_params; i++) {
            rc_var *p = params[i];
            if (!p->grad) continue;
            for (size_t j = 0; j < p->value.size; j++) p->grad[j] *= coef;
        }
    }
    return RC_OK;
}

rc_status rc_grads_check_finite(rc_var *const *params, int n_params)
{
    rc_status st = check_list("grads_check_finite", params, n_params);
    if (st != RC_OK) return st;
    for (int i = 0; i < n_params; i++) {
        const rc_var *p = params[i];
        if (!p->grad) continue;
        for (size_t j = 0; j < p->value.size; j++)
            if (!isfinite(p->grad[j]))
                return rc_error(RC_ERR_NUMERIC, "grads_check_finite: the gradient of '%s' is "
                                "%g at element %zu", p->name ? p->name : "?",
                                (double)p->grad[j], j);
    }
    return RC_OK;
}
