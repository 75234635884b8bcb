/* test_optim.c - optimizers, gradient clipping and learning-rate schedules,
 * against PyTorch's numbers (tests/fixtures/optim_reference.h, made by
 * scripts/make_optim_reference.py) and hand-computed values; and resuming
 * from saved optimizer / schedule state, bit for bit. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/optim_reference.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Within 1e-6 relative (of the reference, or of 1e-2 for values near 0). */
static int close_rel(double got, double want, double rtol)
{
    double scale = fabs(want) > 1e-2 ? fabs(want) : 1e-2;
    return fabs(got - want) <= rtol * scale;
}

/* The fixture's three parameters, set to its starting values. */
static void make_ref_params(rc_var **p)
{
    static const char *names[OREF_NPARAMS] = {"w", "b", "s"};
    size_t k = 0;
    for (int i = 0; i < OREF_NPARAMS; i++) {
        p[i] = rc_param_new(names[i], oref_ndim[i], oref_shape[i]);
        assert_non_null(p[i]);
        memcpy(p[i]->value.data, oref_init + k, p[i]->value.size * sizeof(float));
        k += p[i]->value.size;
    }
    assert_int_equal(k, OREF_N);
}

static void set_grads(rc_var **p, int n, const float *flat)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(p[i]->grad, flat + k, p[i]->value.size * sizeof(float));
        k += p[i]->value.size;
    }
}

static void free_params(rc_var **p, int n)
{
    for (int i = 0; i < n; i++) rc_param_free(p[i]);
}

static rc_optim_kind kind_of(const char *s)
{
    if (!strcmp(s, "sgd")) return RC_OPTIM_SGD;
    if (!strcmp(s, "adam")) return RC_OPTIM_ADAM;
    if (!strcmp(s, "adamw")) return RC_OPTIM_ADAMW;
    assert_string_equal(s, "rmsprop");
    return RC_OPTIM_RMSPROP;
}

static rc_optim_config config_of(const oref_case *c)
{
    rc_optim_config cfg = rc_optim_defaults(kind_of(c->kind), c->lr);
    cfg.weight_decay = c->weight_decay;
    cfg.momentum = c->momentum;
    cfg.dampening = c->dampening;
    cfg.nesterov = c->nesterov;
    cfg.beta1 = c->beta1;
    cfg.beta2 = c->beta2;
    cfg.eps = c->eps;
    cfg.alpha = c->alpha;
    cfg.centered = c->centered;
    return cfg;
}

/* ---- optimizers against torch ---- */

static void test_optimizers_match_torch(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < NELEM(oref_cases); ci++) {
        const oref_case *c = &oref_cases[ci];
        rc_var *p[OREF_NPARAMS];
        make_ref_params(p);
        rc_optim_config cfg = config_of(c);
        rc_optim *o = NULL;
        if (rc_optim_new(&cfg, p, OREF_NPARAMS, &o) != RC_OK)
            fail_msg("%s: optim_new: %s", c->name, rc_last_error());
        for (int k = 0; k < OREF_STEPS; k++) {
            rc_optim_zero_grad(o);
            set_grads(p, OREF_NPARAMS, oref_grads[k]);
            assert_int_equal(rc_optim_set_lr(o, c->lr * (1.0 - 0.1 * k)), RC_OK);
            assert_int_equal(rc_optim_step(o), RC_OK);
            size_t j = 0;
            for (int i = 0; i < OREF_NPARAMS; i++)
                for (size_t e = 0; e < p[i]->value.size; e++, j++) {
                    float got = p[i]->value.data[e], want = c->after[k][j];
                    if (!close_rel(got, want, 1e-6))
                        fail_msg("%s: step %d, %s[%zu] = %.9g, torch %.9g (rel err %.3g)",
                                 c->name, k + 1, p[i]->name, e, (double)got, (double)want,
                                 fabs((double)got - want) / fabs((double)want));
                }
        }
        assert_int_equal(rc_optim_step_count(o), OREF_STEPS);
        rc_optim_free(o);
        free_params(p, OREF_NPARAMS);
    }
}

static void test_state_names(void **state)
{
    (void)state;
    rc_var *p[OREF_NPARAMS];
    make_ref_params(p);
    struct {
        rc_optim_config cfg;
        int count;
        const char *first, *last;
    } cases[5];
    cases[0].cfg = rc_optim_defaults(RC_OPTIM_SGD, 0.1);
    cases[0].count = 0, cases[0].first = NULL, cases[0].last = NULL;
    cases[1].cfg = rc_optim_defaults(RC_OPTIM_SGD, 0.1);
    cases[1].cfg.momentum = 0.9;
    cases[1].count = 3, cases[1].first = "sgd.momentum.w", cases[1].last = "sgd.momentum.s";
    cases[2].cfg = rc_optim_defaults(RC_OPTIM_ADAM, 0.1);
    cases[2].count = 6, cases[2].first = "adam.m.w", cases[2].last = "adam.v.s";
    cases[3].cfg = rc_optim_defaults(RC_OPTIM_ADAMW, 0.1);
    cases[3].count = 6, cases[3].first = "adamw.m.w", cases[3].last = "adamw.v.s";
    cases[4].cfg = rc_optim_defaults(RC_OPTIM_RMSPROP, 0.1);
    cases[4].cfg.centered = 1;
    cases[4].cfg.momentum = 0.5;
    cases[4].count = 9, cases[4].first = "rmsprop.square_avg.w";
    cases[4].last = "rmsprop.momentum.s";
    for (size_t ci = 0; ci < NELEM(cases); ci++) {
        rc_optim *o = NULL;
        assert_int_equal(rc_optim_new(&cases[ci].cfg, p, OREF_NPARAMS, &o), RC_OK);
        int n = rc_optim_state_count(o);
        assert_int_equal(n, cases[ci].count);
        if (n) {
            assert_string_equal(rc_optim_state_name(o, 0), cases[ci].first);
            assert_string_equal(rc_optim_state_name(o, n - 1), cases[ci].last);
            /* Every tensor has its parameter's shape and starts at zero. */
            for (int i = 0; i < n; i++) {
                rc_tensor *t = rc_optim_state_tensor(o, i);
                const rc_var *par = p[i / (n / OREF_NPARAMS)];
                assert_int_equal(t->ndim, par->value.ndim);
                assert_memory_equal(t->shape, par->value.shape, sizeof(int) * (size_t)t->ndim);
                for (size_t e = 0; e < t->size; e++) assert_true(t->data[e] == 0.0f);
                assert_ptr_equal(rc_optim_state_find(o, rc_optim_state_name(o, i)), t);
            }
        }
        assert_null(rc_optim_state_name(o, n));
        assert_null(rc_optim_state_tensor(o, -1));
        assert_null(rc_optim_state_find(o, "adam.m.nothing"));
        rc_optim_free(o);
    }
    free_params(p, OREF_NPARAMS);
}

/* ---- resuming from saved state ---- */

/* A gradient that depends on the parameters, so that a run that went
 * wrong anywhere stays wrong: g = 0.5 p + reference gradient of step k. */
static void grad_of_step(rc_var **p, int k)
{
    const float *g = oref_grads[k % OREF_STEPS];
    size_t j = 0;
    for (int i = 0; i < OREF_NPARAMS; i++)
        for (size_t e = 0; e < p[i]->value.size; e++, j++)
            p[i]->grad[e] = 0.5f * p[i]->value.data[e] + g[j];
}

static void run_steps(rc_optim *o, rc_var **p, const rc_schedule *s, int from, int to)
{
    for (int k = from; k < to; k++) {
        rc_optim_zero_grad(o);
        grad_of_step(p, k);
        assert_int_equal(rc_optim_set_lr(o, rc_schedule_lr(s, rc_optim_step_count(o))), RC_OK);
        assert_int_equal(rc_optim_step(o), RC_OK);
    }
}

typedef struct saved_state {
    int n;
    char names[16][64];
    float *data[16];
    size_t size[16];
    int64_t steps;
    float params[OREF_N];
} saved_state;

static void save_state(rc_optim *o, rc_var **p, saved_state *sv)
{
    sv->n = rc_optim_state_count(o);
    assert_true(sv->n <= 16);
    for (int i = 0; i < sv->n; i++) {
        const rc_tensor *t = rc_optim_state_tensor(o, i);
        snprintf(sv->names[i], sizeof sv->names[i], "%s", rc_optim_state_name(o, i));
        sv->size[i] = t->size;
        sv->data[i] = malloc(t->size * sizeof(float));
        assert_non_null(sv->data[i]);
        memcpy(sv->data[i], t->data, t->size * sizeof(float));
    }
    sv->steps = rc_optim_step_count(o);
    size_t j = 0;
    for (int i = 0; i < OREF_NPARAMS; i++) {
        memcpy(sv->params + j, p[i]->value.data, p[i]->value.size * sizeof(float));
        j += p[i]->value.size;
    }
}

static void free_saved(saved_state *sv)
{
    for (int i = 0; i < sv->n; i++) free(sv->data[i]);
}

static void test_resume_is_bit_identical(void **state)
{
    (void)state;
    enum { TOTAL = 12, CUT = 5 };
    rc_optim_config cfgs[6];
    cfgs[0] = rc_optim_defaults(RC_OPTIM_SGD, 0.05);
    cfgs[0].momentum = 0.9, cfgs[0].nesterov = 1, cfgs[0].weight_decay = 0.01;
    cfgs[1] = rc_optim_defaults(RC_OPTIM_SGD, 0.05);
    cfgs[1].momentum = 0.9, cfgs[1].dampening = 0.2;
    cfgs[2] = rc_optim_defaults(RC_OPTIM_ADAM, 0.01);
    cfgs[2].weight_decay = 0.1;
    cfgs[3] = rc_optim_defaults(RC_OPTIM_ADAMW, 0.01);
    cfgs[4] = rc_optim_defaults(RC_OPTIM_RMSPROP, 0.01);
    cfgs[4].centered = 1, cfgs[4].momentum = 0.5, cfgs[4].weight_decay = 0.1;
    cfgs[5] = rc_optim_defaults(RC_OPTIM_RMSPROP, 0.01);

    rc_schedule sched;
    assert_int_equal(rc_schedule_cosine(&sched, 0.02, 0.001, 3, TOTAL), RC_OK);

    for (size_t ci = 0; ci < NELEM(cfgs); ci++) {
        /* Uninterrupted. */
        rc_var *a[OREF_NPARAMS];
        make_ref_params(a);
        rc_optim *oa = NULL;
        assert_int_equal(rc_optim_new(&cfgs[ci], a, OREF_NPARAMS, &oa), RC_OK);
        run_steps(oa, a, &sched, 0, TOTAL);

        /* Interrupted at CUT: save, throw everything away, rebuild, load. */
        rc_var *b[OREF_NPARAMS];
        make_ref_params(b);
        rc_optim *ob = NULL;
        assert_int_equal(rc_optim_new(&cfgs[ci], b, OREF_NPARAMS, &ob), RC_OK);
        run_steps(ob, b, &sched, 0, CUT);
        saved_state sv;
        save_state(ob, b, &sv);
        rc_optim_free(ob);
        free_params(b, OREF_NPARAMS);

        rc_var *c[OREF_NPARAMS];
        make_ref_params(c);
        set_grads(c, OREF_NPARAMS, oref_grads[0]); /* stale gradients: overwritten */
        size_t j = 0;
        for (int i = 0; i < OREF_NPARAMS; i++) {
            memcpy(c[i]->value.data, sv.params + j, c[i]->value.size * sizeof(float));
            j += c[i]->value.size;
        }
        rc_optim *oc = NULL;
        assert_int_equal(rc_optim_new(&cfgs[ci], c, OREF_NPARAMS, &oc), RC_OK);
        assert_int_equal(rc_optim_state_count(oc), sv.n);
        for (int i = 0; i < sv.n; i++)
            assert_int_equal(rc_optim_load_state(oc, sv.names[i], sv.data[i], sv.size[i]),
                             RC_OK);
        assert_int_equal(rc_optim_set_step_count(oc, sv.steps), RC_OK);
        run_steps(oc, c, &sched, CUT, TOTAL);

        for (int i = 0; i < OREF_NPARAMS; i++)
            if (memcmp(a[i]->value.data, c[i]->value.data, a[i]->value.size * sizeof(float)))
                fail_msg("%s config %zu: resumed '%s' differs from the uninterrupted run",
                         rc_optim_name(cfgs[ci].kind), ci, a[i]->name);
        for (int i = 0; i < sv.n; i++)
            assert_memory_equal(rc_optim_state_tensor(oa, i)->data,
                                rc_optim_state_tensor(oc, i)->data, sv.size[i] * sizeof(float));

        /* Without the saved state the run differs (the state matters). */
        if (sv.n > 0) {
            rc_var *d[OREF_NPARAMS];
            make_ref_params(d);
            j = 0;
            for (int i = 0; i < OREF_NPARAMS; i++) {
                memcpy(d[i]->value.data, sv.params + j, d[i]->value.size * sizeof(float));
                j += d[i]->value.size;
            }
            rc_optim *od = NULL;
            assert_int_equal(rc_optim_new(&cfgs[ci], d, OREF_NPARAMS, &od), RC_OK);
            run_steps(od, d, &sched, CUT, TOTAL);
            assert_true(memcmp(a[0]->value.data, d[0]->value.data,
                               a[0]->value.size * sizeof(float)) != 0);
            rc_optim_free(od);
            free_params(d, OREF_NPARAMS);
        }

        free_saved(&sv);
        rc_optim_free(oa);
        rc_optim_free(oc);
        free_params(a, OREF_NPARAMS);
        free_params(c, OREF_NPARAMS);
    }
}

/* ---- clipping ---- */

static void test_clip_matches_torch(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < NELEM(oref_clips); ci++) {
        const oref_clip *c = &oref_clips[ci];
        rc_var *p[OREF_NPARAMS];
        make_ref_params(p);
        set_grads(p, OREF_NPARAMS, oref_grads[0]);
        double norm = -1;
        assert_int_equal(rc_clip_grad_norm(p, OREF_NPARAMS, c->max_norm, &norm), RC_OK);
        if (!close_rel(norm, c->total_norm, 1e-6))
            fail_msg("max_norm %g: norm %.9g, torch %.9g", c->max_norm, norm,
                     (double)c->total_norm);
        size_t j = 0;
        for (int i = 0; i < OREF_NPARAMS; i++)
            for (size_t e = 0; e < p[i]->value.size; e++, j++)
                if (!close_rel(p[i]->grad[e], c->grads[j], 1e-6))
                    fail_msg("max_norm %g: grad %s[%zu] = %.9g, torch %.9g", c->max_norm,
                             p[i]->name, e, (double)p[i]->grad[e], (double)c->grads[j]);
        free_params(p, OREF_NPARAMS);
    }
}

static void test_clip_hand_values(void **state)
{
    (void)state;
    int s2[1] = {2}, s1[1] = {1};
    rc_var *p[2] = {rc_param_new("a", 1, s2), rc_param_new("b", 1, s1)};
    /* |(3, 4, 12)| = 13. */
    const float g[3] = {3, 4, 12};
    double norm;

    /* Clipped to 6.5: c = 6.5 / (13 + 1e-6). */
    memcpy(p[0]->grad, g, 2 * sizeof(float));
    p[1]->grad[0] = g[2];
    assert_int_equal(rc_clip_grad_norm(p, 2, 6.5, &norm), RC_OK);
    assert_true(norm == 13.0);
    double c = 6.5 / (13.0 + 1e-6);
    assert_true(close_rel(p[0]->grad[0], 3 * c, 1e-6));
    assert_true(close_rel(p[0]->grad[1], 4 * c, 1e-6));
    assert_true(close_rel(p[1]->grad[0], 12 * c, 1e-6));

    /* Not clipped: max_norm above the norm leaves every bit alone. */
    memcpy(p[0]->grad, g, 2 * sizeof(float));
    p[1]->grad[0] = g[2];
    assert_int_equal(rc_clip_grad_norm(p, 2, 20.0, &norm), RC_OK);
    assert_true(norm == 13.0);
    assert_memory_equal(p[0]->grad, g, 2 * sizeof(float));
    assert_true(p[1]->grad[0] == 12.0f);
    /* INFINITY only measures; NULL total_norm is fine. */
    assert_int_equal(rc_clip_grad_norm(p, 2, INFINITY, NULL), RC_OK);
    assert_memory_equal(p[0]->grad, g, 2 * sizeof(float));

    /* All-zero gradients: norm 0, nothing changes. */
    rc_param_zero_grad(p[0]);
    rc_param_zero_grad(p[1]);
    assert_int_equal(rc_clip_grad_norm(p, 2, 1.0, &norm), RC_OK);
    assert_true(norm == 0.0);
    assert_true(p[0]->grad[0] == 0.0f && p[1]->grad[0] == 0.0f);

    rc_param_free(p[0]);
    rc_param_free(p[1]);
}

static void test_nonfinite_gradients(void **state)
{
    (void)state;
    int s[1] = {4};
    rc_var *p[2] = {rc_param_new("weight", 1, s), rc_param_new("bias", 1, s)};
    for (int i = 0; i < 4; i++) p[0]->grad[i] = p[1]->grad[i] = 0.25f * (float)i;
    assert_int_equal(rc_grads_check_finite(p, 2), RC_OK);

    p[1]->grad[2] = NAN;
    assert_int_equal(rc_grads_check_finite(p, 2), RC_ERR_NUMERIC);
    assert_non_null(strstr(rc_last_error(), "'bias'"));
    assert_non_null(strstr(rc_last_error(), "element 2"));
    /* Clipping reports the NaN norm and leaves the gradients alone. */
    double norm = 0;
    assert_int_equal(rc_clip_grad_norm(p, 2, 1.0, &norm), RC_OK);
    assert_true(isnan(norm));
    assert_true(p[0]->grad[3] == 0.75f);

    p[1]->grad[2] = 1.0f;
    p[0]->grad[1] = -INFINITY;
    assert_int_equal(rc_grads_check_finite(p, 2), RC_ERR_NUMERIC);
    assert_non_null(strstr(rc_last_error(), "'weight'"));
    assert_non_null(strstr(rc_last_error(), "inf"));
    assert_int_equal(rc_clip_grad_norm(p, 2, 1.0, &norm), RC_OK);
    assert_true(isinf(norm));
    assert_true(p[0]->grad[3] == 0.75f);

    rc_param_free(p[0]);
    rc_param_free(p[1]);
}

/* ---- schedules ---- */

static void test_schedules_hand_values(void **state)
{
    (void)state;
    rc_schedule s;
    assert_int_equal(rc_schedule_constant(&s, 0.003), RC_OK);
    assert_true(rc_schedule_lr(&s, 0) == 0.003);
    assert_true(rc_schedule_lr(&s, 123456) == 0.003);

    /* Step decay: 1.0, halved every 4 steps. */
    assert_int_equal(rc_schedule_step_decay(&s, 1.0, 4, 0.5), RC_OK);
    const int64_t ts[] = {0, 3, 4, 7, 8, 12, 41};
    const double want_step[] = {1.0, 1.0, 0.5, 0.5, 0.25, 0.125, 0.0009765625};
    for (size_t i = 0; i < NELEM(ts); i++)
        assert_true(close_rel(rc_schedule_lr(&s, ts[i]), want_step[i], 1e-12));

    /* Cosine: base 1, min 0.1, 4 warm-up steps, 14 in all. */
    assert_int_equal(rc_schedule_cosine(&s, 1.0, 0.1, 4, 14), RC_OK);
    const int64_t tc[] = {0, 1, 3, 4, 6, 9, 13, 14, 1000};
    const double want_cos[] = {
        0.25, 0.5, 1.0, 1.0,
        0.1 + 0.45 * (1.0 + 0.80901699437494742), /* cos(0.2 pi) */
        0.55,                                     /* half way */
        0.1 + 0.45 * (1.0 - 0.95105651629515357), /* cos(0.9 pi) */
        0.1, 0.1};
    for (size_t i = 0; i < NELEM(tc); i++)
        if (!close_rel(rc_schedule_lr(&s, tc[i]), want_cos[i], 1e-12))
            fail_msg("cosine at %lld: %.17g, want %.17g", (long long)tc[i],
                     rc_schedule_lr(&s, tc[i]), want_cos[i]);
    /* No warm-up: starts at the base. */
    assert_int_equal(rc_schedule_cosine(&s, 2.0, 0.0, 0, 10), RC_OK);
    assert_true(rc_schedule_lr(&s, 0) == 2.0);
    assert_true(close_rel(rc_schedule_lr(&s, 5), 1.0, 1e-12));
    assert_true(rc_schedule_lr(&s, 10) == 0.0);

    /* Plateau, by hand: patience 1, factor 0.5, min 0.3. */
    assert_int_equal(rc_schedule_plateau(&s, 1.0, 0.5, 1, 0, 0.3), RC_OK);
    int reduced = -1;
    const double metric[] = {5, 4, 4, 4, 3, 3.9, 3.8, 3.7, 3.6};
    const double want_pl[] = {1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3};
    const int want_red[] = {0, 0, 0, 1, 0, 0, 1, 0, 0};
    for (size_t i = 0; i < NELEM(metric); i++) {
        assert_int_equal(rc_schedule_observe(&s, metric[i], &reduced), RC_OK);
        if (rc_schedule_lr(&s, 0) != want_pl[i] || reduced != want_red[i])
            fail_msg("plateau after metric %zu: lr %g (want %g), reduced %d (want %d)", i,
                     rc_schedule_lr(&s, 0), want_pl[i], reduced, want_red[i]);
    }
    /* Other kinds ignore metrics. */
    assert_int_equal(rc_schedule_constant(&s, 0.1), RC_OK);
    assert_int_equal(rc_schedule_observe(&s, 1e9, &reduced), RC_OK);
    assert_int_equal(reduced, 0);
    assert_true(rc_schedule_lr(&s, 7) == 0.1);
}

static void test_steplr_matches_torch(void **state)
{
    (void)state;
    rc_schedule s;
    assert_int_equal(rc_schedule_step_decay(&s, OREF_STEPLR_LR, OREF_STEPLR_SIZE,
                                            OREF_STEPLR_GAMMA), RC_OK);
    for (size_t t = 0; t < NELEM(oref_steplr); t++)
        if (!close_rel(rc_schedule_lr(&s, (int64_t)t), oref_steplr[t], 1e-12))
            fail_msg("StepLR at %zu: %.17g, torch %.17g", t, rc_schedule_lr(&s, (int64_t)t),
                     oref_steplr[t]);
}

static void make_plateau(rc_schedule *s, const oref_plateau *c)
{
    assert_int_equal(rc_schedule_plateau(s, c->lr, c->factor, c->patience, c->cooldown,
                                         c->min_lr), RC_OK);
    assert_int_equal(rc_schedule_plateau_mode(s, c->mode_max, c->threshold, c->threshold_abs),
                     RC_OK);
}

static void check_plateau_step(const rc_schedule *s, const oref_plateau *c, int i)
{
    double st[RC_SCHEDULE_STATE_N];
    rc_schedule_get_state(s, st);
    int best_ok = st[1] == c->best_after[i] || (isnan(st[1]) && isnan(c->best_after[i]));
    if (!close_rel(st[0], c->lr_after[i], 1e-12) || !best_ok || st[2] != c->bad_after[i] ||
        st[3] != c->cooldown_after[i] || st[4] != i + 1)
        fail_msg("%s after metric %d: lr %.17g best %g bad %g cooldown %g epoch %g; torch lr "
                 "%.17g best %g bad %d cooldown %d", c->name, i, st[0], st[1], st[2], st[3],
                 st[4], c->lr_after[i], c->best_after[i], c->bad_after[i],
                 c->cooldown_after[i]);
}

static void test_plateau_matches_torch_and_resumes(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < NELEM(oref_plateaus); ci++) {
        const oref_plateau *c = &oref_plateaus[ci];
        rc_schedule s, r;
        make_plateau(&s, c);
        double saved[RC_SCHEDULE_STATE_N];
        const int cut = OREF_N_METRICS / 2 - 1;
        for (int i = 0; i < OREF_N_METRICS; i++) {
            assert_int_equal(rc_schedule_observe(&s, c->sign * oref_metrics[i], NULL), RC_OK);
            check_plateau_step(&s, c, i);
            if (i == cut) rc_schedule_get_state(&s, saved);
        }
        /* A fresh schedule given the state saved half way goes on the same. */
        make_plateau(&r, c);
        assert_int_equal(rc_schedule_set_state(&r, saved), RC_OK);
        for (int i = cut + 1; i < OREF_N_METRICS; i++) {
            assert_int_equal(rc_schedule_observe(&r, c->sign * oref_metrics[i], NULL), RC_OK);
            check_plateau_step(&r, c, i);
        }
    }
    for (int i = 0; i < RC_SCHEDULE_STATE_N; i++) assert_non_null(rc_schedule_state_name(i));
    assert_string_equal(rc_schedule_state_name(1), "best");
    assert_null(rc_schedule_state_name(RC_SCHEDULE_STATE_N));
}

/* ---- bad arguments ---- */

#define EXPECT_ERR(call, status, text)                                          \
    do {                                                                        \
        rc_clear_error();                                                       \
        assert_int_equal((call), (status));                                     \
        if (!strstr(rc_last_error(), (text)))                                   \
            fail_msg("message \"%s\" lacks \"%s\"", rc_last_error(), (text));  \
    } while (0)

static void test_bad_arguments(void **state)
{
    (void)state;
    rc_var *p[OREF_NPARAMS];
    make_ref_params(p);
    rc_optim *o = (rc_optim *)p; /* must be set to NULL on failure */
    rc_optim_config c = rc_optim_defaults(RC_OPTIM_ADAM, -0.1);
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "learning rate -0.1");
    assert_null(o);
    c.lr = NAN;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "learning rate");
    c.lr = 0.1;
    c.beta1 = 1.0;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "beta1 1 must be in [0, 1)");
    c.beta1 = 0.9;
    c.beta2 = -0.5;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "beta2 -0.5");
    c.beta2 = 0.999;
    c.eps = -1;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "eps");
    c.eps = 1e-8;
    c.weight_decay = -0.01;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "weight_decay");
    c.weight_decay = 0;
    EXPECT_ERR(rc_optim_new(&c, NULL, 3, &o), RC_ERR_ARG, "parameter list is NULL");
    EXPECT_ERR(rc_optim_new(NULL, p, 3, &o), RC_ERR_ARG, "config is NULL");
    EXPECT_ERR(rc_optim_new(&c, p, 0, &o), RC_ERR_ARG, "at least one parameter");
    rc_var *with_null[2] = {p[0], NULL};
    EXPECT_ERR(rc_optim_new(&c, with_null, 2, &o), RC_ERR_ARG, "parameter 1 is NULL");
    rc_var *twice[2] = {p[1], p[1]};
    EXPECT_ERR(rc_optim_new(&c, twice, 2, &o), RC_ERR_ARG, "listed twice");
    int s1[1] = {1};
    rc_var *same_name = rc_param_new("w", 1, s1);
    rc_var *clash[2] = {p[0], same_name};
    EXPECT_ERR(rc_optim_new(&c, clash, 2, &o), RC_ERR_ARG, "both named 'w'");
    rc_param_free(same_name);
    c.kind = (rc_optim_kind)42;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "unknown optimizer kind 42");

    c = rc_optim_defaults(RC_OPTIM_SGD, 0.1);
    c.nesterov = 1;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "nesterov needs momentum");
    c.momentum = 0.9;
    c.dampening = 0.1;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "dampening 0");
    c.dampening = 0;
    c.momentum = -0.9;
    c.nesterov = 0;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "momentum -0.9");
    c = rc_optim_defaults(RC_OPTIM_RMSPROP, 0.1);
    c.alpha = -0.5;
    EXPECT_ERR(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_ERR_ARG, "alpha -0.5");

    /* A good optimizer: bad lr changes and state loads are refused. */
    c = rc_optim_defaults(RC_OPTIM_ADAM, 0.1);
    assert_int_equal(rc_optim_new(&c, p, OREF_NPARAMS, &o), RC_OK);
    EXPECT_ERR(rc_optim_set_lr(o, -1.0), RC_ERR_ARG, "learning rate -1");
    assert_true(rc_optim_lr(o) == 0.1);
    EXPECT_ERR(rc_optim_set_lr(o, INFINITY), RC_ERR_ARG, "learning rate");
    float buf[15] = {0};
    EXPECT_ERR(rc_optim_load_state(o, "sgd.momentum.w", buf, 15), RC_ERR_RANGE,
               "no state tensor 'sgd.momentum.w'");
    EXPECT_ERR(rc_optim_load_state(o, "adam.m.w", buf, 4), RC_ERR_SHAPE, "[3x5] (15 floats)");
    assert_int_equal(rc_optim_load_state(o, "adam.m.w", buf, 15), RC_OK);
    EXPECT_ERR(rc_optim_set_step_count(o, -2), RC_ERR_ARG, "negative");
    EXPECT_ERR(rc_optim_step(NULL), RC_ERR_ARG, "NULL");
    rc_optim_free(o);
    rc_optim_free(NULL);

    /* Clipping and the finite check. */
    EXPECT_ERR(rc_clip_grad_norm(p, OREF_NPARAMS, 0.0, NULL), RC_ERR_ARG, "max_norm 0");
    EXPECT_ERR(rc_clip_grad_norm(p, OREF_NPARAMS, NAN, NULL), RC_ERR_ARG, "max_norm");
    EXPECT_ERR(rc_clip_grad_norm(NULL, 1, 1.0, NULL), RC_ERR_ARG, "NULL");
    EXPECT_ERR(rc_clip_grad_norm(p, 0, 1.0, NULL), RC_ERR_ARG, "at least one");
    EXPECT_ERR(rc_grads_check_finite(with_null, 2), RC_ERR_ARG, "parameter 1 is NULL");

    /* Schedules. */
    rc_schedule s;
    EXPECT_ERR(rc_schedule_constant(&s, -1), RC_ERR_ARG, "learning rate -1");
    EXPECT_ERR(rc_schedule_step_decay(&s, 0.1, 0, 0.5), RC_ERR_ARG, "step_size 0");
    EXPECT_ERR(rc_schedule_step_decay(&s, 0.1, 2, -0.5), RC_ERR_ARG, "gamma -0.5");
    EXPECT_ERR(rc_schedule_cosine(&s, 0.1, 0.2, 0, 10), RC_ERR_ARG, "min_lr 0.2");
    EXPECT_ERR(rc_schedule_cosine(&s, 0.1, 0.0, 11, 10), RC_ERR_ARG, "warmup_steps (11)");
    EXPECT_ERR(rc_schedule_plateau(&s, 0.1, 1.0, 2, 0, 0), RC_ERR_ARG, "factor 1");
    EXPECT_ERR(rc_schedule_plateau(&s, 0.1, 0.5, -1, 0, 0), RC_ERR_ARG, "patience (-1)");
    EXPECT_ERR(rc_schedule_plateau(&s, 0.1, 0.5, 1, 0, -1), RC_ERR_ARG, "min_lr -1");
    assert_int_equal(rc_schedule_constant(&s, 0.1), RC_OK);
    EXPECT_ERR(rc_schedule_plateau_mode(&s, 1, 0.1, 0), RC_ERR_ARG, "not a plateau");
    assert_int_equal(rc_schedule_plateau(&s, 0.1, 0.5, 1, 0, 0), RC_OK);
    EXPECT_ERR(rc_schedule_plateau_mode(&s, 1, -0.1, 0), RC_ERR_ARG, "threshold -0.1");
    double st[RC_SCHEDULE_STATE_N] = {0.1, INFINITY, 1.5, 0, 0};
    EXPECT_ERR(rc_schedule_set_state(&s, st), RC_ERR_ARG, "num_bad_epochs 1.5");
    st[2] = 1;
    st[1] = NAN;
    EXPECT_ERR(rc_schedule_set_state(&s, st), RC_ERR_ARG, "best is NaN");
    st[1] = INFINITY;
    st[0] = -0.1;
    EXPECT_ERR(rc_schedule_set_state(&s, st), RC_ERR_ARG, "lr -0.1");
    EXPECT_ERR(rc_schedule_observe(NULL, 1.0, NULL), RC_ERR_ARG, "NULL");

    free_params(p, OREF_NPARAMS);
}

TEST_GROUP(optim_group, "optim",
           cmocka_unit_test(test_optimizers_match_torch),
           cmocka_unit_test(test_state_names),
           cmocka_unit_test(test_resume_is_bit_identical),
           cmocka_unit_test(test_clip_matches_torch),
           cmocka_unit_test(test_clip_hand_values),
           cmocka_unit_test(test_nonfinite_gradients),
           cmocka_unit_test(test_schedules_hand_values),
           cmocka_unit_test(test_steplr_matches_torch),
           cmocka_unit_test(test_plateau_matches_torch_and_resumes),
           cmocka_unit_test(test_bad_arguments));
