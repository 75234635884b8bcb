/* schedule.c - learning-rate schedules.
 *
 * constant, step decay (torch StepLR), cosine with linear warm-up, and
 * reduce-on-plateau (torch ReduceLROnPlateau). The first three are pure
 * functions of the step; plateau has state (its current lr, the best
 * metric, the bad-epoch and cooldown counters), which a checkpoint saves
 * and restores as RC_SCHEDULE_STATE_N numbers. */
#include "../internal.h"

#include <math.h>
#include <string.h>

static int lr_ok(double lr) { return lr >= 0.0 && isfinite(lr); }

static void init(rc_schedule *s, rc_sched_kind kind, double base_lr)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->base_lr = base_lr;
    s->lr = base_lr;
}

rc_status rc_schedule_constant(rc_schedule *s, double lr)
{
    if (!s) return rc_error(RC_ERR_ARG, "schedule_constant: schedule is NULL");
    if (!lr_ok(lr))
        return rc_error(RC_ERR_ARG, "schedule_constant: learning rate %g must be finite and >= 0",
                        lr);
    init(s, RC_SCHED_CONSTANT, lr);
    return RC_OK;
}

rc_status rc_schedule_step_decay(rc_schedule *s, double base_lr, int64_t step_size, double gamma)
{
    if (!s) return rc_error(RC_ERR_ARG, "schedule_step_decay: schedule is NULL");
    if (!lr_ok(base_lr))
        return rc_error(RC_ERR_ARG, "schedule_step_decay: learning rate %g must be finite and "
                        ">= 0", base_lr);
    if (step_size < 1)
        return rc_error(RC_ERR_ARG, "schedule_step_decay: step_size %lld must be >= 1",
                        (long long)step_size);
    if (!(gamma >= 0.0 && isfinite(gamma)))
        return rc_error(RC_ERR_ARG, "schedule_step_decay: gamma %g must be finite and >= 0",
                        gamma);
    init(s, RC_SCHED_STEP, base_lr);
    s->step_size = step_size;
    s->gamma = gamma;
    return RC_OK;
}

rc_status rc_schedule_cosine(rc_schedule *s, double base_lr, double min_lr,
                             int64_t warmup_steps, int64_t total_steps)
{
    if (!s) return rc_error(RC_ERR_ARG, "schedule_cosine: schedule is NULL");
    if (!lr_ok(base_lr))
        return rc_error(RC_ERR_ARG, "schedule_cosine: learning rate %g must be finite and >= 0",
                        base_lr);
    if (!(min_lr >= 0.0 && min_lr <= base_lr))
        return rc_error(RC_ERR_ARG, "schedule_cosine: min_lr %g must be in [0, base lr %g]",
                        min_lr, base_lr);
    if (total_steps < 1 || warmup_steps < 0 || warmup_steps > total_steps)
        return rc_error(RC_ERR_ARG, "schedule_cosine: need 0 <= warmup_steps (%lld) <= "
                        "total_steps (%lld) and total_steps >= 1",
                        (long long)warmup_steps, (long long)total_steps);
    init(s, RC_SCHED_COSINE, base_lr);
    s->min_lr = min_lr;
    s->warmup_steps = warmup_steps;
    s->total_steps = total_steps;
    return RC_OK;
}

rc_status rc_schedule_plateau(rc_schedule *s, double base_lr, double factor, int64_t patience,
                              int64_t cooldown, double min_lr)
{
    if (!s) return rc_error(RC_ERR_ARG, "schedule_plateau: schedule is NULL");
    if (!lr_ok(base_lr))
        return rc_error(RC_ERR_ARG, "schedule_plateau: learning rate %g must be finite and >= 0",
                        base_lr);
    if (!(factor >= 0.0 && factor < 1.0))
        return rc_error(RC_ERR_ARG, "schedule_plateau: factor %g must be in [0, 1)", factor);
    if (patience < 0 || cooldown < 0)
        return rc_error(RC_ERR_ARG, "schedule_plateau: patience (%lld) and cooldown (%lld) "
                        "must be >= 0", (long long)patience, (long long)cooldown);
    if (!lr_ok(min_lr))
        return rc_error(RC_ERR_ARG, "schedule_plateau: min_lr %g must be finite and >= 0",
                        min_lr);
    init(s, RC_SCHED_PLATEAU, base_lr);
    s->factor = factor;
    s->patience = patience;
    s->cooldown = cooldown;
    s->min_lr = min_lr;
    s->threshold = 1e-4;
    s->eps = 1e-8;
    s->best = INFINITY;
    return RC_OK;
}

rc_status rc_schedule_plateau_mode(rc_schedule *s, int mode_max, double threshold,
                                   int threshold_abs)
{
    if (!s || s->kind != RC_SCHED_PLATEAU)
        return rc_error(RC_ERR_ARG, "schedule_plateau_mode: %s", !s ? "schedule is NULL" :
                        "not a plateau schedule (make it with rc_schedule_plateau)");
    if (!(threshold >= 0.0 && isfinite(threshold)))
        return rc_error(RC_ERR_ARG, "schedule_plateau_mode: threshold %g must be finite and "
                        ">= 0", threshold);
    s->mode_max = mode_max != 0;
    s->threshold = threshold;
    s->threshold_abs = threshold_abs != 0;
    s->best = s->mode_max ? -INFINITY : INFINITY; /* the worst value for the mode */
    return RC_OK;
}

double rc_schedule_lr(const rc_schedule *s, int64_t t)
{
    if (!s) return 0.0;
    if (t < 0) t = 0;
    switch (s->kind) {
    case RC_SCHED_CONSTANT:
        return s->base_lr;
    case RC_SCHED_STEP:
        return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case RC_SCHED_COSINE: {
        if (t < s->warmup_steps) return s->base_lr * (double)(t + 1) / (double)s->warmup_steps;
        if (t >= s->total_steps) return s->min_lr;
        double progress = (double)(t - s->warmup_steps) /
                          (double)(s->total_steps - s->warmup_steps);
        const double pi = 3.14159265358979323846;
        return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(pi * progress));
    }
    case RC_SCHED_PLATEAU:
        return s->lr;
    }
    return 0.0;
}

static int is_better(const rc_schedule *s, double a)
{
    if (!s->mode_max)
        return s->threshold_abs ? a < s->best - s->threshold : a < s->best * (1.0 - s->threshold);
    return s->threshold_abs ? a > s->best + s->threshold : a > s->best * (1.0 + s->threshold);
}

rc_status rc_schedule_observe(rc_schedule *s, double metric, int *reduced)
{
    if (reduced) *reduced = 0;
    if (!s) return rc_error(RC_ERR_ARG, "schedule_observe: schedule is NULL");
    if (s->kind != RC_SCHED_PLATEAU) return RC_OK;

    s->last_epoch++;
    if (is_better(s, metric)) { /* NaN is never better */
        s->best = metric;
        s->num_bad_epochs = 0;
    } else {
        s->num_bad_epochs++;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->num_bad_epochs = 0; /* bad epochs in cooldown do not count */
    }
    if (s->num_bad_epochs > s->patience) {
        double old = s->lr;
        double lr = fmax(old * s->factor, s->min_lr);
        if (old - lr > s->eps) {
            s->lr = lr;
            if (reduced) *reduced = 1;
        }
        s->cooldown_counter = s->cooldown;
        s->num_bad_epochs = 0;
    }
    return RC_OK;
}

static const char *const state_names[RC_SCHEDULE_STATE_N] = {
    "lr", "best", "num_bad_epochs", "cooldown_counter", "last_epoch"};

const char *rc_schedule_state_name(int i)
{
    return (i >= 0 && i < RC_SCHEDULE_STATE_N) ? state_names[i] : NULL;
}

void rc_schedule_get_state(const rc_schedule *s, double out[RC_SCHEDULE_STATE_N])
{
    if (!s || !out) return;
    out[0] = s->lr;
    out[1] = s->best;
    out[2] = (double)s->num_bad_epochs;
    out[3] = (double)s->cooldown_counter;
    out[4] = (double)s->last_epoch;
}

static int count_ok(double x) { return x >= 0.0 && x <= 9007199254740992.0 && x == floor(x); }

rc_status rc_schedule_set_state(rc_schedule *s, const double in[RC_SCHEDULE_STATE_N])
{
    if (!s || !in)
        return rc_error(RC_ERR_ARG, "schedule_set_state: %s is NULL", !s ? "schedule" : "state");
    if (!lr_ok(in[0]))
        return rc_error(RC_ERR_ARG, "schedule_set_state: lr %g must be finite and >= 0", in[0]);
    if (isnan(in[1]))
        return rc_error(RC_ERR_ARG, "schedule_set_state: best is NaN");
    for (int i = 2; i < RC_SCHEDULE_STATE_N; i++)
        if (!count_ok(in[i]))
            return rc_error(RC_ERR_ARG, "schedule_set_state: %s %g must be a whole number >= 0",
                            state_names[i], in[i]);
    s->lr = in[0];
    s->best = in[1];
    s->num_bad_epochs = (int64_t)in[2];
    s->cooldown_counter = (int64_t)in[3];
    s->last_epoch = (int64_t)in[4];
    return RC_OK;
}
