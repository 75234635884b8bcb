/* optim.c - optimizers: SGD, Adam, AdamW, RMSprop.
 *
 * Each update follows torch.optim's single-tensor code (torch 1.13) step by
 * step: the same operations in the same order, each rounded to float as a
 * float32 tensor op would be, with the scalar factors (lr, bias
 * corrections) computed in double and rounded to float where torch passes
 * them to a kernel. torch's CPU kernels (its AVX2 / AVX-512 builds, which
 * it picks on any recent x86) compute add(a, b, alpha) and
 * addcmul(s, a, b, value) as fused multiply-adds (a + alpha*b rounded once),
 * and addcdiv(s, a, b, value) as s + (value*a)/b; fmaf() does the same here
 * and is correctly rounded on every machine. With that, the results match
 * torch's bit for bit on the machine that made tests/fixtures/
 * optim_reference.h (the test allows 1e-6 relative). No code below
 * leaves a bare a*b + c for the compiler to contract, so -march and
 * -ffp-contract settings do not change the results.
 *
 * State: the step count, and up to three buffers per parameter ("slots"),
 * each an rc_tensor of the parameter's shape with a name such as
 * "adam.m.weight_ih_l0". A checkpoint saves the buffers and the step count;
 * loading them into a fresh optimizer over the same parameters continues
 * the run bit for bit. */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 3

struct rc_optim {
    rc_optim_config cfg;
    int n;              /* parameters */
    rc_var **params;
    int64_t steps;      /* optimizer steps taken */
    int n_slots;        /* buffers per parameter */
    const char *slot[MAX_SLOTS];
    rc_tensor *state;   /* [i * n_slots + s]: slot s of parameter i */
    char **names;       /* same indexing: "<kind>.<slot>.<param name>" */
};

const char *rc_optim_name(rc_optim_kind kind)
{
    switch (kind) {
    case RC_OPTIM_SGD: return "sgd";
    case RC_OPTIM_ADAM: return "adam";
    case RC_OPTIM_ADAMW: return "adamw";
    case RC_OPTIM_RMSPROP: return "rmsprop";
    }
    return "unknown";
}

rc_optim_config rc_optim_defaults(rc_optim_kind kind, double lr)
{
    rc_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.alpha = 0.99;
    if (kind == RC_OPTIM_ADAMW) c.weight_decay = 1e-2; /* torch.optim.AdamW's default */
    return c;
}

/* x >= 0 and not NaN (NaN fails every comparison). */
static int nonneg(double x) { return x >= 0.0 && x <= INFINITY; }

static rc_status check_config(const rc_optim_config *c)
{
    const char *k = rc_optim_name(c->kind);
    if (c->kind < RC_OPTIM_SGD || c->kind > RC_OPTIM_RMSPROP)
        return rc_error(RC_ERR_ARG, "optim_new: unknown optimizer kind %d", (int)c->kind);
    if (!(nonneg(c->lr) && isfinite(c->lr)))
        return rc_error(RC_ERR_ARG, "optim_new: %s: learning rate %g must be finite and >= 0",
                        k, c->lr);
    if (!(nonneg(c->weight_decay) && isfinite(c->weight_decay)))
        return rc_error(RC_ERR_ARG, "optim_new: %s: weight_decay %g must be finite and >= 0",
                        k, c->weight_decay);
    switch (c->kind) {
    case RC_OPTIM_SGD:
        if (!(nonneg(c->momentum) && isfinite(c->momentum)))
            return rc_error(RC_ERR_ARG, "optim_new: sgd: momentum %g must be finite and >= 0",
                            c->momentum);
        if (!isfinite(c->dampening))
            return rc_error(RC_ERR_ARG, "optim_new: sgd: dampening %g must be finite",
                            c->dampening);
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
            return rc_error(RC_ERR_ARG, "optim_new: sgd: nesterov needs momentum > 0 (got %g) "
                            "and dampening 0 (got %g)", c->momentum, c->dampening);
        break;
    case RC_OPTIM_ADAM:
    case RC_OPTIM_ADAMW:
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            return rc_error(RC_ERR_ARG, "optim_new: %s: beta1 %g must be in [0, 1)", k, c->beta1);
        if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return rc_error(RC_ERR_ARG, "optim_new: %s: beta2 %g must be in [0, 1)", k, c->beta2);
        if (!(nonneg(c->eps) && isfinite(c->eps)))
            return rc_error(RC_ERR_ARG, "optim_new: %s: eps %g must be finite and >= 0", k, c->eps);
        break;
    case RC_OPTIM_RMSPROP:
        if (!(nonneg(c->alpha) && isfinite(c->alpha)))
            return rc_error(RC_ERR_ARG, "optim_new: rmsprop: alpha %g must be finite and >= 0",
                            c->alpha);
        if (!(nonneg(c->eps) && isfinite(c->eps)))
            return rc_error(RC_ERR_ARG, "optim_new: rmsprop: eps %g must be finite and >= 0",
                            c->eps);
        if (!(nonneg(c->momentum) && isfinite(c->momentum)))
            return rc_error(RC_ERR_ARG, "optim_new: rmsprop: momentum %g must be finite and >= 0",
                            c->momentum);
        break;
    }
    return RC_OK;
}

/* The buffers each parameter carries, by the options that need them. */
static int slots_of(const rc_optim_config *c, const char **slot)
{
    int n = 0;
    switch (c->kind) {
    case RC_OPTIM_SGD:
        if (c->momentum != 0.0) slot[n++] = "momentum";
        break;
    case RC_OPTIM_ADAM:
    case RC_OPTIM_ADAMW:
        slot[n++] = "m"; /* exp_avg */
        slot[n++] = "v"; /* exp_avg_sq */
        break;
    case RC_OPTIM_RMSPROP:
        slot[n++] = "square_avg";
        if (c->centered) slot[n++] = "grad_avg";
        if (c->momentum > 0.0) slot[n++] = "momentum";
        break;
    }
    return n;
}

void rc_optim_free(rc_optim *o)
{
    if (!o) return;
    int total = o->n * o->n_slots;
    if (o->state)
        for (int i = 0; i < total; i++) rc_tensor_free(&o->state[i]);
    if (o->names)
        for (int i = 0; i < total; i++) free(o->names[i]);
    free(o->state);
    free(o->names);
    free(o->params);
    free(o);
}

rc_status rc_optim_new(const rc_optim_config *cfg, rc_var *const *params, int n_params,
                       rc_optim **out)
{
    if (out) *out = NULL;
    if (!cfg || !params || !out)
        return rc_error(RC_ERR_ARG, "optim_new: %s is NULL",
                        !cfg ? "config" : !params ? "the parameter list" : "out");
    if (n_params < 1)
        return rc_error(RC_ERR_ARG, "optim_new: need at least one parameter, got %d", n_params);
    rc_status st = check_config(cfg);
    if (st != RC_OK) return st;
    for (int i = 0; i < n_params; i++) {
        const rc_var *p = params[i];
        if (!p) return rc_error(RC_ERR_ARG, "optim_new: parameter %d is NULL", i);
        if (!p->is_param || !p->value.data)
            return rc_error(RC_ERR_ARG, "optim_new: parameter %d is not a parameter made "
                            "with rc_param_new", i);
        if (!p->name || !p->name[0])
            return rc_error(RC_ERR_ARG, "optim_new: parameter %d has no name (state tensors "
                            "are named after their parameter)", i);
        for (int j = 0; j < i; j++) {
            if (params[j] == p)
                return rc_error(RC_ERR_ARG, "optim_new: parameter '%s' is listed twice "
                                "(%d and %d)", p->name, j, i);
            if (!strcmp(params[j]->name, p->name))
                return rc_error(RC_ERR_ARG, "optim_new: parameters %d and %d are both named "
                                "'%s'; state tensors need unique names", j, i, p->name);
        }
    }

    rc_optim *o = calloc(1, sizeof *o);
    if (!o) return rc_error(RC_ERR_NOMEM, "optim_new: out of memory");
    o->cfg = *cfg;
    o->n = n_params;
    o->n_slots = slots_of(cfg, o->slot);
    o->params = malloc((size_t)n_params * sizeof *o->params);
    int total = n_params * o->n_slots;
    if (total > 0) {
        o->state = calloc((size_t)total, sizeof *o->state);
        o->names = calloc((size_t)total, sizeof *o->names);
    }
    if (!o->params || (total > 0 && (!o->state || !o->names))) {
        rc_optim_free(o);
        return rc_error(RC_ERR_NOMEM, "optim_new: out of memory");
    }
    memcpy(o->params, params, (size_t)n_params * sizeof *o->params);
    const char *kind = rc_optim_name(cfg->kind);
    for (int i = 0; i < n_params; i++) {
        const rc_tensor *v = &params[i]->value;
        for (int s = 0; s < o->n_slots; s++) {
            int k = i * o->n_slots + s;
            size_t len = strlen(kind) + strlen(o->slot[s]) + strlen(params[i]->name) + 3;
            o->names[k] = malloc(len);
            if (!o->names[k] || rc_tensor_alloc(&o->state[k], v->ndim, v->shape) != RC_OK) {
                rc_optim_free(o);
                return rc_error(RC_ERR_NOMEM, "optim_new: out of memory");
            }
            snprintf(o->names[k], len, "%s.%s.%s", kind, o->slot[s], params[i]->name);
        }
    }
    *out = o;
    return RC_OK;
}

const rc_optim_config *rc_optim_get_config(const rc_optim *o) { return o ? &o->cfg : NULL; }
double rc_optim_lr(const rc_optim *o) { return o ? o->cfg.lr : 0.0; }

rc_status rc_optim_set_lr(rc_optim *o, double lr)
{
    if (!o) return rc_error(RC_ERR_ARG, "optim_set_lr: optimizer is NULL");
    if (!(nonneg(lr) && isfinite(lr)))
        return rc_error(RC_ERR_ARG, "optim_set_lr: learning rate %g must be finite and >= 0", lr);
    o->cfg.lr = lr;
    return RC_OK;
}

void rc_optim_zero_grad(rc_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) rc_param_zero_grad(o->params[i]);
}

/* ---- the updates ----
 * The scalar factors of one step, computed once (in double, then rounded
 * to float as torch rounds a Python number passed to a float kernel). */
typedef struct coefs {
    rc_optim_kind kind;
    int weight_decay, momentum, nesterov, first, centered; /* options in use */
    float wd, mom, keep, neg_lr;         /* SGD, RMSprop */
    float b1, k1, b2, k2, eps, neg_step, bc2_sqrt, shrink; /* Adam(W) */
    float a, ka;                         /* RMSprop */
} coefs;

static coefs coefs_of(const rc_optim_config *c, int64_t step_no)
{
    coefs k;
    memset(&k, 0, sizeof k);
    k.kind = c->kind;
    k.weight_decay = c->weight_decay != 0.0;
    k.wd = (float)c->weight_decay;
    k.momentum = c->kind == RC_OPTIM_SGD ? c->momentum != 0.0 : c->momentum > 0.0;
    k.mom = (float)c->momentum;
    k.nesterov = c->nesterov;
    k.first = step_no == 1; /* SGD: the buffer starts as a copy of the first gradient */
    k.centered = c->centered;
    k.keep = (float)(1.0 - c->dampening);
    k.neg_lr = (float)(-c->lr);
    if (c->kind == RC_OPTIM_ADAM || c->kind == RC_OPTIM_ADAMW) {
        double bc1 = 1.0 - pow(c->beta1, (double)step_no);
        double bc2 = 1.0 - pow(c->beta2, (double)step_no);
        k.neg_step = (float)(-(c->lr / bc1));
        k.bc2_sqrt = (float)sqrt(bc2);
        k.b1 = (float)c->beta1, k.k1 = (float)(1.0 - c->beta1);
        k.b2 = (float)c->beta2, k.k2 = (float)(1.0 - c->beta2);
        k.shrink = (float)(1.0 - c->lr * c->weight_decay);
    }
    k.eps = (float)c->eps;
    k.a = (float)c->alpha, k.ka = (float)(1.0 - c->alpha);
    return k;
}

#if defined(__GNUC__)
#define RC_INLINE static inline __attribute__((always_inline))
#else
#define RC_INLINE static inline
#endif

/* p: the value, g: the gradient, n elements; buffers as named. */
RC_INLINE void sgd_body(const coefs *k, float *restrict p, const float *restrict g,
                        float *restrict buf, size_t n)
{
    const int use_wd = k->weight_decay, use_mom = k->momentum, first = k->first;
    const int nesterov = k->nesterov;
    const float wd = k->wd, mom = k->mom, keep = k->keep, neg_lr = k->neg_lr;
    for (size_t j = 0; j < n; j++) {
        float d = g[j];
        if (use_wd) d = fmaf(wd, p[j], d);
        if (use_mom) {
            float b = first ? d : fmaf(keep, d, buf[j] * mom);
            buf[j] = b;
            d = nesterov ? fmaf(mom, b, d) : b;
        }
        p[j] = fmaf(neg_lr, d, p[j]);
    }
}

RC_INLINE void adam_body(const coefs *k, float *restrict p, const float *restrict g,
                         float *restrict m, float *restrict v, size_t n)
{
    const int decoupled = k->kind == RC_OPTIM_ADAMW, use_wd = k->weight_decay;
    const float wd = k->wd, shrink = k->shrink, b1 = k->b1, k1 = k->k1, b2 = k->b2;
    const float k2 = k->k2, bc2_sqrt = k->bc2_sqrt, eps = k->eps, neg_step = k->neg_step;
    for (size_t j = 0; j < n; j++) {
        float gj = g[j], pj = p[j];
        if (decoupled)
            pj = pj * shrink;
        else if (use_wd)
            gj = fmaf(wd, pj, gj);
        float mj = fmaf(k1, gj, m[j] * b1);
        float vj = fmaf(k2 * gj, gj, v[j] * b2);
        float denom = sqrtf(vj) / bc2_sqrt + eps;
        m[j] = mj;
        v[j] = vj;
        p[j] = pj + neg_step * mj / denom;
    }
}

RC_INLINE void rmsprop_body(const coefs *k, float *restrict p, const float *restrict g,
                            float *restrict sq, float *restrict ga, float *restrict buf,
                            size_t n)
{
    const int use_wd = k->weight_decay, centered = k->centered, use_mom = k->momentum;
    const float wd = k->wd, a = k->a, ka = k->ka, eps = k->eps, mom = k->mom;
    const float neg_lr = k->neg_lr;
    for (size_t j = 0; j < n; j++) {
        float gj = g[j];
        if (use_wd) gj = fmaf(wd, p[j], gj);
        float sj = fmaf(ka * gj, gj, sq[j] * a);
        sq[j] = sj;
        float avg;
        if (centered) {
            float gaj = fmaf(ka, gj, ga[j] * a);
            ga[j] = gaj;
            avg = sqrtf(fmaf(-gaj, gaj, sj));
        } else {
            avg = sqrtf(sj);
        }
        avg = avg + eps;
        if (use_mom) {
            /* torch: mul_, then addcdiv_. The product is rounded on its
             * own (fmaf with 0 adds nothing) so that a compiler allowed to
             * contract across statements cannot fuse it with the add. */
            float decayed = fmaf(buf[j], mom, 0.0f);
            float bj = decayed + gj / avg;
            buf[j] = bj;
            p[j] = fmaf(neg_lr, bj, p[j]);
        } else {
            p[j] = p[j] + neg_lr * gj / avg;
        }
    }
}

/* One parameter: s holds its buffers in slot order. */
RC_INLINE void update_body(const coefs *k, float *p, const float *g, rc_tensor *s, size_t n)
{
    switch (k->kind) {
    case RC_OPTIM_SGD:
        sgd_body(k, p, g, k->momentum ? s[0].data : NULL, n);
        break;
    case RC_OPTIM_ADAM:
    case RC_OPTIM_ADAMW:
        adam_body(k, p, g, s[0].data, s[1].data, n);
        break;
    case RC_OPTIM_RMSPROP: {
        int i = 1;
        float *ga = k->centered ? s[i++].data : NULL;
        float *buf = k->momentum ? s[i++].data : NULL;
        rmsprop_body(k, p, g, s[0].data, ga, buf, n);
        break;
    }
    }
}

static void update_generic(const coefs *k, float *p, const float *g, rc_tensor *s, size_t n)
{
    update_body(k, p, g, s, n);
}

/* On x86 built for the baseline ISA, fmaf() is a library call per element;
 * a copy of the loops compiled for FMA (chosen when the CPU has it) turns
 * it into one instruction. fmaf is correctly rounded either way, so both
 * copies give the same bits. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__FMA__)
#define RC_FMA_DISPATCH 1
__attribute__((target("fma"))) static void update_fma(const coefs *k, float *p, const float *g,
                                                       rc_tensor *s, size_t n)
{
    update_body(k, p, g, s, n);
}
#endif

rc_status rc_optim_step(rc_optim *o)
{
    if (!o) return rc_error(RC_ERR_ARG, "optim_step: optimizer is NULL");
    for (int i = 0; i < o->n; i++)
        if (!o->params[i]->grad)
            return rc_error(RC_ERR_STATE, "optim_step: parameter '%s' has no gradient buffer",
                            o->params[i]->name);
    int64_t step_no = o->steps + 1;
    coefs k = coefs_of(&o->cfg, step_no);
    void (*update)(const coefs *, float *, const float *, rc_tensor *, size_t) = update_generic;
#ifdef RC_FMA_DISPATCH
    if (__builtin_cpu_supports("fma")) update = update_fma;
#endif
    for (int i = 0; i < o->n; i++) {
        rc_var *p = o->params[i];
        rc_tensor *s = o->n_slots ? &o->state[i * o->n_slots] : NULL;
        update(&k, p->value.data, p->grad, s, p->value.size);
    }
    o->steps = step_no;
    return RC_OK;
}

/* ---- state, for checkpoints ---- */

int64_t rc_optim_step_count(const rc_optim *o) { return o ? o->steps : 0; }

rc_status rc_optim_set_step_count(rc_optim *o, int64_t steps)
{
    if (!o) return rc_error(RC_ERR_ARG, "optim_set_step_count: optimizer is NULL");
    if (steps < 0)
        return rc_error(RC_ERR_ARG, "optim_set_step_count: step count %lld is negative",
                        (long long)steps);
    o->steps = steps;
    return RC_OK;
}

int rc_optim_state_count(const rc_optim *o) { return o ? o->n * o->n_slots : 0; }

const char *rc_optim_state_name(const rc_optim *o, int i)
{
    return (o && i >= 0 && i < o->n * o->n_slots) ? o->names[i] : NULL;
}

rc_tensor *rc_optim_state_tensor(rc_optim *o, int i)
{
    return (o && i >= 0 && i < o->n * o->n_slots) ? &o->state[i] : NULL;
}

rc_tensor *rc_optim_state_find(rc_optim *o, const char *name)
{
    if (!o || !name) return NULL;
    for (int i = 0; i < o->n * o->n_slots; i++)
        if (!strcmp(o->names[i], name)) return &o->state[i];
    return NULL;
}

rc_status rc_optim_load_state(rc_optim *o, const char *name, const float *data, size_t n)
{
    if (!o || !name || (!data && n))
        return rc_error(RC_ERR_ARG, "optim_load_state: %s is NULL",
                        !o ? "optimizer" : !name ? "name" : "data");
    rc_tensor *t = rc_optim_state_find(o, name);
    if (!t)
        return rc_error(RC_ERR_RANGE, "optim_load_state: this %s optimizer has no state "
                        "tensor '%s'", rc_optim_name(o->cfg.kind), name);
    if (n != t->size) {
        char buf[48];
        return rc_error(RC_ERR_SHAPE, "optim_load_state: '%s' is %s (%zu floats), got %zu",
                        name, rc_shape_str(t->ndim, t->shape, buf, sizeof buf), t->size, n);
    }
    if (n) memcpy(t->data, data, n * sizeof(float));
    return RC_OK;
}
