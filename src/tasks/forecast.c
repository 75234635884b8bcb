/* forecast.c - time-series forecasting: predict the next H values of a
 * series from its last W values.
 *
 * Data: one column of a CSV file. The last N points are held out as the
 * test set (--holdout N or --holdout-fraction F). Of the rest (the
 * training part), the last V points are the validation set used for
 * early stopping and for choosing the saved model (--valid V), so the test
 * points are never looked at while training. Values are normalised with
 * the mean and sd of the training part (after an optional log).
 *
 * Model: recurrent layers read the window one value per step (plus, with
 * --season-features, sin and cos of the position within the season); the
 * top layer's last output goes through dropout to a linear head with H
 * outputs: the next H values at once (the direct strategy), trained with
 * the mean squared error on shuffled minibatches of windows. By default
 * (--target change) the head gives each value's change from the window's
 * last value, which is added back: a skip connection that makes "no
 * change" the starting guess and lets a trending series leave the range
 * it was trained on (airline passengers 1960 are above every earlier
 * month). --target level predicts the values themselves.
 *
 * Evaluation on the holdout, in the original units: one-step-ahead
 * forecasts (each from the true preceding W values) and a multi-step
 * forecast of the whole holdout from the end of the training part (direct
 * when H covers it, else recursive in blocks of H), each beside the
 * seasonal-naive baseline y[t - S]. */
#include "forecast.h"

#include "../plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586

/* ----------------------------------------------------- normalisation -- */

int fc_norm_fit(fc_norm *nm, const float *y, size_t n, int log_, char *why, size_t whyn)
{
    nm->log = log_;
    nm->mean = 0;
    nm->sd = 1;
    if (n < 2) {
        snprintf(why, whyn, "%zu training values; need at least 2", n);
        return -1;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (log_ && !(y[i] > 0)) {
            snprintf(why, whyn, "value %g (point %zu) is not positive; --log-transform needs "
                     "positive values", (double)y[i], i + 1);
            return -1;
        }
        sum += log_ ? log(y[i]) : y[i];
    }
    double mean = sum / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (log_ ? log(y[i]) : y[i]) - mean;
        ss += d * d;
    }
    double sd = sqrt(ss / (double)n);
    if (!(sd > 1e-9 * (fabs(mean) + 1e-30))) {
        snprintf(why, whyn, "the training values are constant (%g)", (double)y[0]);
        return -1;
    }
    nm->mean = mean;
    nm->sd = sd;
    return 0;
}

double fc_norm_apply(const fc_norm *nm, double v)
{
    return ((nm->log ? log(v) : v) - nm->mean) / nm->sd;
}

double fc_norm_invert(const fc_norm *nm, double z)
{
    double v = z * nm->sd + nm->mean;
    return nm->log ? exp(v) : v;
}

/* ----------------------------------------------------------- windows -- */

int fc_features(const fc_config *c) { return c->season_features ? 3 : 1; }

void fc_make_inputs(const fc_config *c, const float *z, const int64_t *starts, int B, float *x)
{
    int W = c->window, F = fc_features(c);
    for (int t = 0; t < W; t++)
        for (int b = 0; b < B; b++) {
            int64_t pos = starts[b] - W + t;
            float *o = x + ((size_t)t * (size_t)B + (size_t)b) * (size_t)F;
            o[0] = z[pos];
            if (F == 3) {
                double ph = TWO_PI * (double)(pos % c->season) / (double)c->season;
                o[1] = (float)sin(ph);
                o[2] = (float)cos(ph);
            }
        }
}

void fc_make_targets(const fc_config *c, const float *z, const int64_t *starts, int B, float *y)
{
    for (int b = 0; b < B; b++) {
        float base = c->predict_change ? z[starts[b] - 1] : 0.0f;
        for (int k = 0; k < c->horizon; k++)
            y[(size_t)b * (size_t)c->horizon + (size_t)k] = z[starts[b] + k] - base;
    }
}

/* ----------------------------------------------------------- metrics -- */

double fc_rmse(const float *pred, const float *truth, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)truth[i];
        s += d * d;
    }
    return n ? sqrt(s / (double)n) : NAN;
}

double fc_mae(const float *pred, const float *truth, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)pred[i] - (double)truth[i]);
    return n ? s / (double)n : NAN;
}

void fc_naive_one_step(const float *y, size_t start, size_t count, int S, float *out)
{
    for (size_t i = 0; i < count; i++) out[i] = y[start + i - (size_t)S];
}

void fc_naive_multi_step(const float *y, size_t start, size_t count, int S, float *out)
{
    for (size_t i = 0; i < count; i++) out[i] = y[start - (size_t)S + i % (size_t)S];
}

/* ------------------------------------------------------------- model -- */

void fc_model_free(fc_model *m)
{
    if (!m) return;
    rc_rnn_free(m->rnn);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

int fc_model_init(fc_model *m, const fc_config *c, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    rc_rnn_config rc = rc_rnn_defaults(c->cell, fc_features(c), c->hidden);
    rc.num_layers = c->layers;
    rc.dropout = c->dropout;
    rc_params_init(&m->params);
    if (rc_rnn_new(&rc, seed + 1, &m->rnn) != RC_OK ||
        rc_linear_init(&m->head, "head", c->hidden, c->horizon, 1, &rng) != RC_OK)
        goto fail;
    if (train_params_add_rnn_head(&m->params, m->rnn, &m->head) != RC_OK) goto fail;
    return 0;
fail:
    fc_model_free(m);
    return -1;
}

/* The forward pass of B windows whose inputs x [W x B x F] are built:
 * the predictions [B x H] (normalised units). */
static rc_var *fc_forward(rc_tape *t, fc_model *m, const float *x, int B, rc_rng *drop)
{
    const fc_config *c = &m->cfg;
    int xs[3] = {c->window, B, fc_features(c)};
    rc_var *in = rc_input(t, 3, xs, x), *y;
    if (!in || rc_rnn_forward(t, m->rnn, in, NULL, NULL, NULL, &y, NULL, NULL) != RC_OK)
        return NULL;
    int ls[2] = {B, c->hidden};
    rc_var *last = rc_reshape(t, rc_slice(t, y, 0, c->window - 1, 1), 2, ls);
    if (c->dropout > 0 && rc_tape_training(t)) last = rc_dropout(t, last, c->dropout, drop);
    return rc_linear_forward(t, &m->head, last);
}

/* Windows per inference batch (bounds the memory of a long holdout). */
#define PREDICT_CHUNK 1024

int fc_predict(fc_model *m, const float *z, const int64_t *starts, int B, float *out)
{
    const fc_config *c = &m->cfg;
    int F = fc_features(c), chunk = B < PREDICT_CHUNK ? B : PREDICT_CHUNK;
    float *x = malloc((size_t)c->window * (size_t)chunk * (size_t)F * sizeof *x);
    rc_tape *t = rc_tape_new();
    int ret = -1;
    if (!x || !t) goto done;
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        fc_make_inputs(c, z, starts + b0, nb, x);
        rc_tape_reset(t);
        rc_var *p = fc_forward(t, m, x, nb, NULL);
        if (!p) goto done;
        for (int b = 0; b < nb; b++) {
            float base = c->predict_change ? z[starts[b0 + b] - 1] : 0.0f;
            for (int k = 0; k < c->horizon; k++)
                out[(size_t)(b0 + b) * (size_t)c->horizon + (size_t)k] =
                    p->value.data[(size_t)b * (size_t)c->horizon + (size_t)k] + base;
        }
    }
    ret = 0;
done:
    free(x);
    rc_tape_free(t);
    return ret;
}

/* Normalised values of y[0..n) (the caller frees). */
static float *normalise(const fc_norm *nm, const float *y, size_t n, size_t extra)
{
    float *z = malloc((n + extra + 1) * sizeof *z);
    if (z)
        for (size_t i = 0; i < n; i++) z[i] = (float)fc_norm_apply(nm, y[i]);
    return z;
}

int fc_forecast_holdout(fc_model *m, const float *y, size_t n, size_t start, float *one,
                        float *multi)
{
    const fc_config *c = &m->cfg;
    int H = c->horizon;
    size_t N = n - start;
    float *z = normalise(&c->norm, y, n, (size_t)H);
    int64_t *starts = malloc((N + 1) * sizeof *starts);
    float *out = malloc((N + 1) * (size_t)H * sizeof *out);
    int ret = -1;
    if (!z || !starts || !out) goto done;
    /* One step ahead: window s reads the true z[s-W .. s). */
    for (size_t i = 0; i < N; i++) starts[i] = (int64_t)(start + i);
    if (fc_predict(m, z, starts, (int)N, out)) goto done;
    for (size_t i = 0; i < N; i++) one[i] = (float)fc_norm_invert(&c->norm, out[i * (size_t)H]);
    /* Multi-step: the holdout's values are replaced by forecasts, H at a
     * time, each block read from the values before it. */
    for (size_t s = start; s < n; s += (size_t)H) {
        int64_t s64 = (int64_t)s;
        if (fc_predict(m, z, &s64, 1, out)) goto done;
        for (int k = 0; k < H; k++) z[s + (size_t)k] = out[k];
    }
    for (size_t i = 0; i < N; i++) multi[i] = (float)fc_norm_invert(&c->norm, z[start + i]);
    ret = 0;
done:
    free(z);
    free(starts);
    free(out);
    return ret;
}

/* The mean squared error (normalised units) of the windows starting in
 * [lo, hi), counting only targets before hi. */
static double window_loss(fc_model *m, const float *z, size_t lo, size_t hi)
{
    int H = m->cfg.horizon;
    size_t B = hi > lo ? hi - lo : 0;
    int64_t *starts = malloc((B + 1) * sizeof *starts);
    float *out = malloc((B + 1) * (size_t)H * sizeof *out);
    double sum = 0, count = 0;
    if (B > 0 && starts && out) {
        for (size_t i = 0; i < B; i++) starts[i] = (int64_t)(lo + i);
        if (fc_predict(m, z, starts, (int)B, out) == 0)
            for (size_t i = 0; i < B; i++)
                for (int k = 0; k < H && lo + i + (size_t)k < hi; k++) {
                    double d = out[i * (size_t)H + (size_t)k] - z[lo + i + (size_t)k];
                    sum += d * d;
                    count++;
                }
    }
    free(starts);
    free(out);
    return count > 0 ? sum / count : NAN;
}

/* -------------------------------------------------------- evaluation -- */

typedef struct fc_metrics {
    size_t n;              /* holdout points */
    double rmse1, mae1;    /* one step ahead */
    double nrmse1, nmae1;  /* seasonal naive, one step */
    double rmsem, maem;    /* multi-step */
    double nrmsem, nmaem;  /* seasonal naive, multi-step */
    int direct;            /* multi-step in one go (H >= n) */
} fc_metrics;

/* The forecasts of the holdout y[start..n) and their errors. The arrays
 * (each n - start long) may be NULL when not wanted. */
static int evaluate(const char *cmd, fc_model *m, const float *y, size_t n, size_t start,
                    fc_metrics *r, float *one, float *multi, float *naive1, float *naivem)
{
    size_t N = n - start;
    float *buf = malloc(4 * N * sizeof *buf);
    if (!buf) return cli_error(cmd, "out of memory");
    float *o = one ? one : buf, *mu = multi ? multi : buf + N;
    float *n1 = naive1 ? naive1 : buf + 2 * N, *nm = naivem ? naivem : buf + 3 * N;
    if (fc_forecast_holdout(m, y, n, start, o, mu)) {
        free(buf);
        return cli_error(cmd, "%s", rc_last_error());
    }
    int S = m->cfg.season;
    fc_naive_one_step(y, start, N, S, n1);
    fc_naive_multi_step(y, start, N, S, nm);
    const float *truth = y + start;
    r->n = N;
    r->rmse1 = fc_rmse(o, truth, N), r->mae1 = fc_mae(o, truth, N);
    r->nrmse1 = fc_rmse(n1, truth, N), r->nmae1 = fc_mae(n1, truth, N);
    r->rmsem = fc_rmse(mu, truth, N), r->maem = fc_mae(mu, truth, N);
    r->nrmsem = fc_rmse(nm, truth, N), r->nmaem = fc_mae(nm, truth, N);
    r->direct = (size_t)m->cfg.horizon >= N;
    free(buf);
    return 0;
}

static void print_metrics(FILE *f, const fc_model *m, const fc_metrics *r, const char *data,
                          const char *column, size_t start)
{
    int S = m->cfg.season, H = m->cfg.horizon;
    char strat[64];
    if (r->direct) snprintf(strat, sizeof strat, "direct, %d at once", H);
    else snprintf(strat, sizeof strat, "recursive, %d per block", H);
    fprintf(f, "%s, column %s: holdout of the last %zu points (from point %zu)\n", data, column,
            r->n, start + 1);
    fprintf(f, "                                        RMSE          MAE\n");
    fprintf(f, "  one-step    model                %12.4f %12.4f%s\n", r->rmse1, r->mae1,
            r->rmse1 < r->nrmse1 ? "   beats the baseline" : "");
    fprintf(f, "              seasonal naive S=%-3d %12.4f %12.4f\n", S, r->nrmse1, r->nmae1);
    fprintf(f, "  multi-step  model                %12.4f %12.4f%s  (%s)\n", r->rmsem, r->maem,
            r->rmsem < r->nrmsem ? "   beats the baseline" : "", strat);
    fprintf(f, "              seasonal naive S=%-3d %12.4f %12.4f  (last season repeated)\n", S,
            r->nrmsem, r->nmaem);
}

/* The metrics as JSON members (no braces) into buf. */
static void json_metrics(char *buf, size_t n, const fc_model *m, const fc_metrics *r)
{
    snprintf(buf, n,
             "\"holdout\":%zu,\"season\":%d,\"horizon\":%d,"
             "\"one_step\":{\"rmse\":%.6g,\"mae\":%.6g,\"naive_rmse\":%.6g,\"naive_mae\":%.6g},"
             "\"multi_step\":{\"strategy\":\"%s\",\"rmse\":%.6g,\"mae\":%.6g,"
             "\"naive_rmse\":%.6g,\"naive_mae\":%.6g}",
             r->n, m->cfg.season, m->cfg.horizon, r->rmse1, r->mae1, r->nrmse1, r->nmae1,
             r->direct ? "direct" : "recursive", r->rmsem, r->maem, r->nrmsem, r->nmaem);
}

/* Writes a JSON string (escaped) into buf. */
static const char *json_str(char *buf, size_t n, const char *s)
{
    size_t k = 0;
    if (n < 3) return "\"\"";
    buf[k++] = '"';
    for (; *s && k + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') buf[k++] = '\\', buf[k++] = (char)ch;
        else if (ch < 0x20) k += (size_t)snprintf(buf + k, n - k, "\\u%04x", ch);
        else buf[k++] = (char)ch;
    }
    buf[k++] = '"';
    buf[k] = '\0';
    return buf;
}

/* -------------------------------------------------------------- plot -- */

/* The whole series with the holdout's forecasts over it: OUT.forecast.png. */
static void forecast_plot(const char *cmd, const char *out, const char *data, const char *column,
                          const float *y, size_t n, size_t start, const float *one,
                          const float *multi, const float *naive, const fc_metrics *r, int quiet)
{
    size_t len = strlen(out) + 16;
    char *path = malloc(len);
    float *a = malloc(3 * n * sizeof *a);
    if (!path || !a) {
        free(path);
        free(a);
        return;
    }
    snprintf(path, len, "%s.forecast.png", out);
    float *p1 = a, *pm = a + n, *pn = a + 2 * n;
    for (size_t i = 0; i < n; i++) {
        int in = i >= start;
        p1[i] = in ? one[i - start] : NAN;
        pm[i] = in ? multi[i - start] : NAN;
        pn[i] = in ? naive[i - start] : NAN;
    }
    /* Forecasts start from the last known point, so the lines join. */
    if (start > 0) p1[start - 1] = pm[start - 1] = pn[start - 1] = y[start - 1];
    const char *base = strrchr(data, '/');
    char title[256];
    snprintf(title, sizeof title,
             "%s: %s. Holdout %zu: multi-step RMSE %.4g, seasonal naive %.4g",
             base ? base + 1 : data, column, n - start, r->rmsem, r->nrmsem);
    plot_series s[4] = {
        {"actual", NULL, y, (int)n, PLOT_RGB(40, 40, 40), PLOT_LINE, 1.5f},
        {"one-step forecast", NULL, p1, (int)n, PLOT_RGB(31, 119, 180), PLOT_LINE, 2},
        {r->direct ? "multi-step forecast (direct)" : "multi-step forecast (recursive)", NULL, pm,
         (int)n, PLOT_RGB(214, 39, 40), PLOT_DASHED, 2},
        {"seasonal naive (multi-step)", NULL, pn, (int)n, PLOT_RGB(150, 150, 150), PLOT_DASHED, 1.5f},
    };
    plot_spec spec = {0};
    spec.title = title;
    spec.xlabel = "time step";
    spec.ylabel = column;
    spec.marker = 1;
    spec.marker_x = (float)start - 0.5f;
    spec.marker_label = "holdout";
    if (plot_lines_png(path, &spec, s, 4) != RC_OK)
        fprintf(stderr, "recur %s: warning: %s\n", cmd, plot_last_error());
    else if (!quiet)
        fprintf(stderr, "%s: forecast plot in %s\n", cmd, path);
    free(path);
    free(a);
}

/* ------------------------------------------------------ model files -- */

/* What the model file says beyond the network: where its data came from
 * and how the holdout was cut. */
typedef struct fc_source {
    const char *data;      /* the training CSV */
    const char *column;    /* as given: a name or a 1-based number */
    int holdout;           /* points held out, or 0 for the fraction */
    float holdout_fraction;
} fc_source;

static void model_meta(const fc_model *m, const fc_source *src, meta_list *ml)
{
    const fc_config *c = &m->cfg;
    meta_add_header(ml, "forecast");
    meta_add(ml, "cell", train_cell_name(c->cell));
    meta_addf(ml, "hidden", "%.0f", c->hidden);
    meta_addf(ml, "layers", "%.0f", c->layers);
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_addf(ml, "window", "%.0f", c->window);
    meta_addf(ml, "horizon", "%.0f", c->horizon);
    meta_addf(ml, "season", "%.0f", c->season);
    meta_add(ml, "season_features", c->season_features ? "true" : "false");
    meta_add(ml, "target", c->predict_change ? "change" : "level");
    meta_add(ml, "log_transform", c->norm.log ? "true" : "false");
    meta_addf(ml, "norm_mean", "%.17g", c->norm.mean);
    meta_addf(ml, "norm_sd", "%.17g", c->norm.sd);
    meta_add(ml, "data", src->data);
    meta_add(ml, "column", src->column);
    meta_addf(ml, "holdout", "%.0f", src->holdout);
    meta_addf(ml, "holdout_fraction", "%.9g", src->holdout_fraction);
}

static int model_save(const fc_model *m, const fc_source *src, const char *path)
{
    meta_list ml = {0};
    model_meta(m, src, &ml);
    if (rc_checkpoint_save(path, &m->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v) != RC_OK)
        return cli_error("train forecast", "%s", rc_last_error());
    return 0;
}

/* The model of a forecast model file; src points into the file's metadata. */
static int model_load(const char *cmd, const rc_safetensors *st, fc_model *m, fc_source *src)
{
    if (train_model_check(cmd, st, "forecast", "forecast model")) return 1;
    const char *path = rc_safetensors_path(st);
    fc_config c;
    memset(&c, 0, sizeof c);
    const char *cell = rc_safetensors_meta(st, "cell");
    if (train_cell_kind(cell, &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is %s", path, cell ? cell : "missing");
    const char *target = rc_safetensors_meta(st, "target");
    if (!target || (strcmp(target, "change") && strcmp(target, "level")))
        return cli_error(cmd, "%s: metadata 'target' is %s, not change or level", path,
                         target ? target : "missing");
    c.predict_change = !strcmp(target, "change");
    if (meta_get_int(cmd, st, "hidden", 1, 1 << 20, &c.hidden) ||
        meta_get_int(cmd, st, "layers", 1, 100, &c.layers) ||
        meta_get_int(cmd, st, "window", 1, 1 << 24, &c.window) ||
        meta_get_int(cmd, st, "horizon", 1, 1 << 20, &c.horizon) ||
        meta_get_int(cmd, st, "season", 1, 1 << 24, &c.season) ||
        meta_get_bool(cmd, st, "season_features", &c.season_features) ||
        meta_get_bool(cmd, st, "log_transform", &c.norm.log) ||
        meta_get_double(cmd, st, "norm_mean", &c.norm.mean) ||
        meta_get_double(cmd, st, "norm_sd", &c.norm.sd) ||
        meta_get_int(cmd, st, "holdout", 0, 1 << 30, &src->holdout))
        return 1;
    if (rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK ||
        rc_safetensors_meta_float(st, "holdout_fraction", &src->holdout_fraction) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    if (!(c.norm.sd > 0)) return cli_error(cmd, "%s: metadata 'norm_sd' must be positive", path);
    src->data = rc_safetensors_meta(st, "data");
    src->column = rc_safetensors_meta(st, "column");
    if (!src->column || !*src->column) return cli_error(cmd, "%s: no metadata 'column'", path);
    if (fc_model_init(m, &c, 0)) return cli_error(cmd, "%s", rc_last_error());
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        fc_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* ------------------------------------------------------------ splits -- */

/* Reads the column; returns 0 or 1 with the error printed. */
static int read_series(const char *cmd, const char *path, const char *column, rc_csv_column *col)
{
    if (rc_csv_read_column(path, column, RC_CSV_HEADER_AUTO, col) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    return 0;
}

/* Where the holdout starts: n - N with N from --holdout or the fraction. */
static int holdout_start(const char *cmd, const char *data, size_t n, int holdout, float frac,
                         size_t *start)
{
    size_t N = holdout > 0 ? (size_t)holdout : (size_t)llround((double)frac * (double)n);
    if (N < 1 || N >= n)
        return cli_error(cmd, "%s: a holdout of %zu of %zu points leaves %s", data, N, n,
                         N < 1 ? "nothing to test on (raise --holdout-fraction)"
                               : "nothing to train on");
    *start = n - N;
    return 0;
}

/* The holdout's forecasts need W values before it and the baseline S. */
static int check_history(const char *cmd, const char *data, size_t start, const fc_config *c)
{
    if (start < (size_t)c->window || start < (size_t)c->season)
        return cli_error(cmd,
                         "%s: %zu points before the holdout; the forecasts need at least "
                         "--window %d and --season %d of them",
                         data, start, c->window, c->season);
    return 0;
}

/* ---------------------------------------------------------- training -- */

/* A checkpoint: the trainer's state, the model's metadata and the run's
 * options. The position in the data follows from the step alone (see
 * batch_starts). */
static int save_checkpoint(trainer *tr, const fc_model *m, const fc_source *src, const char *path,
                           const cli_option *opts)
{
    meta_list ml = {0};
    model_meta(m, src, &ml);
    return trainer_save_checkpoint(tr, path, &ml, opts, 0, NULL, NULL);
}

/* The windows of training step `step`: the windows (first targets
 * lo .. lo+n_win-1) are shuffled once per epoch by a generator keyed by
 * (seed, epoch), and step k of an epoch takes the k-th batch of them. A
 * resumed run thus draws the same batches from the step count alone. */
static int batch_starts(int64_t step, int64_t per_epoch, int64_t lo, int64_t n_win, int batch,
                        uint64_t seed, int64_t *perm, int64_t *perm_epoch, int64_t *starts)
{
    int64_t epoch = step / per_epoch, k = step % per_epoch;
    if (*perm_epoch != epoch) {
        rc_rng r;
        rc_rng_init(&r, seed * 0x9E3779B97F4A7C15ULL + 0xF0CA57);
        r.counter = (uint64_t)epoch << 24;
        for (int64_t i = 0; i < n_win; i++) perm[i] = lo + i;
        for (int64_t i = n_win - 1; i > 0; i--) {
            int64_t j = (int64_t)(rc_rng_u32(&r) % (uint32_t)(i + 1));
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        *perm_epoch = epoch;
    }
    int64_t b0 = k * batch;
    int B = (int)(n_win - b0 < batch ? n_win - b0 : batch);
    memcpy(starts, perm + b0, (size_t)B * sizeof *starts);
    return B;
}

int cmd_train_forecast(int argc, char **argv)
{
    const char *cmd = "train forecast";
    train_opts o;
    train_opts_defaults(&o);
    /* Defaults for short series: a small network, many passes. */
    o.hidden = 32;
    o.batch = 16;
    o.epochs = 200;
    o.lr = 5e-3f;
    o.cell = "gru";
    const char *data = NULL, *column = NULL;
    int holdout = 0, valid = -1, window = 24, horizon = 12, season = 12;
    int season_features = 0, log_transform = 0;
    const char *target = "change";
    float holdout_fraction = -1;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data, "CSV file holding the series"},
        {"column", CLI_STRING, &column, "the column: its header name or 1-based number"},
        {"holdout", CLI_INT, &holdout, "hold out the last N points as the test set"},
        {"holdout-fraction", CLI_FLOAT, &holdout_fraction,
         "hold out this last fraction instead (default 0.2)"},
        {"valid", CLI_INT, &valid,
         "validation points at the end of the training part (default: max(H, 10%))"},
        {"window", CLI_INT, &window, "past values the model reads (default 24)"},
        {"horizon", CLI_INT, &horizon, "values predicted at once (default 12)"},
        {"season", CLI_INT, &season, "season length S for the seasonal-naive baseline (default 12)"},
        {"season-features", CLI_FLAG, &season_features,
         "also input sin/cos of the position within the season"},
        {"target", CLI_STRING, &target,
         "change: predict each value's change from the window's last one (default); level"},
        {"log-transform", CLI_FLAG, &log_transform, "model the log of the values (positive series)"},
    };
    int n_opts = train_opts_declare(&o, opts, 11);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train forecast --data FILE.csv --column NAME|N --out MODEL [options]\n"
        "\n"
        "Trains a recurrent network to forecast the next --horizon values of a\n"
        "series from its last --window values. The last points (--holdout N or\n"
        "--holdout-fraction F) are the test set; early stopping and the choice of\n"
        "the saved model use the end of the training part (--valid). Prints RMSE\n"
        "and MAE on the holdout beside the seasonal-naive baseline, and writes\n"
        "MODEL, MODEL.ckpt (to --resume) and MODEL.forecast.png.\n"
        "For a seasonal series add --season-features (and --log-transform when\n"
        "the seasonal swings grow with the level, as airline passengers do).\n"
        "Defaults here: --cell gru --hidden 32 --batch 16 --epochs 200 --lr 0.005.\n";
    /* With --resume, the checkpoint's options and the command line on top. */
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "forecast", "forecast", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;

    rc_cell_kind cell;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    rc_csv_column col = {0};
    float *z = NULL, *x = NULL, *tgt = NULL, *one = NULL, *multi = NULL, *naive1 = NULL,
          *naivem = NULL;
    int64_t *perm = NULL, *starts = NULL;
    char *ckpt = NULL;
    fc_model m;
    trainer tr;
    rc_tape *t = NULL;
    rc_safetensors *best = NULL;

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights, inputs and normalisation were made with. */
    static const char *const fixed[] = {"cell",   "hidden",          "layers",  "window",
                                        "horizon", "season",         "season-features",
                                        "target", "log-transform",   "column",  "holdout",
                                        "holdout-fraction",          NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data || !column) {
        cli_error(cmd, "--data FILE.csv and --column NAME|N are required");
        goto done;
    }
    if (o.bidirectional) {
        cli_error(cmd, "--bidirectional does not fit forecasting (the future is not an input)");
        goto done;
    }
    if (window < 1 || horizon < 1 || season < 1) {
        cli_error(cmd, "--window, --horizon and --season must be at least 1");
        goto done;
    }
    if (holdout < 0 || (holdout > 0 && holdout_fraction >= 0)) {
        cli_error(cmd, "give --holdout N or --holdout-fraction F, not both (N >= 1)");
        goto done;
    }
    if (holdout == 0 && holdout_fraction < 0) holdout_fraction = 0.2f;
    if (holdout == 0 && !(holdout_fraction > 0 && holdout_fraction < 1)) {
        cli_error(cmd, "--holdout-fraction must be between 0 and 1");
        goto done;
    }
    if (strcmp(target, "change") && strcmp(target, "level")) {
        cli_error(cmd, "--target must be change or level, not '%s'", target);
        goto done;
    }
    if (valid < -1) {
        cli_error(cmd, "--valid must be >= 0");
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;

    /* The series and its parts: [0, n_fit) fits the weights, [n_fit,
     * n_train) validates, [n_train, n) is the test set. */
    if (read_series(cmd, data, column, &col)) goto done;
    size_t n = col.n, n_train = 0;
    if (holdout_start(cmd, data, n, holdout, holdout_fraction, &n_train)) goto done;
    size_t n_valid = valid >= 0 ? (size_t)valid
                                : (size_t)horizon > n_train / 10 ? (size_t)horizon : n_train / 10;
    if (n_valid >= n_train) {
        cli_error(cmd, "--valid %zu leaves no training points (%zu before the holdout)", n_valid,
                  n_train);
        goto done;
    }
    size_t n_fit = n_train - n_valid;
    if (n_fit < (size_t)window + (size_t)horizon) {
        cli_error(cmd,
                  "%s: %zu points to fit (%zu before the holdout, %zu for validation) are fewer "
                  "than --window %d + --horizon %d",
                  data, n_fit, n_train, n_valid, window, horizon);
        goto done;
    }
    int64_t n_win = (int64_t)(n_fit - (size_t)window - (size_t)horizon + 1);
    fc_config c = {cell, o.hidden, o.layers, o.dropout, window, horizon, season,
                   season_features, !strcmp(target, "change"), {0, 0, 1}};
    char why[256];
    if (fc_norm_fit(&c.norm, col.values, n_train, log_transform, why, sizeof why)) {
        cli_error(cmd, "%s, column %s: %s", data, col.name, why);
        goto done;
    }
    if (log_transform)
        for (size_t i = n_train; i < n; i++)
            if (!(col.values[i] > 0)) {
                cli_error(cmd, "%s: value %g (point %zu) is not positive; --log-transform needs "
                          "positive values", data, (double)col.values[i], i + 1);
                goto done;
            }
    if (check_history(cmd, data, n_train, &c)) goto done;
    fc_source src = {data, column, holdout, holdout > 0 ? 0.0f : holdout_fraction};
    if (fc_model_init(&m, &c, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    model_ok = 1;

    int B = o.batch < n_win ? o.batch : (int)n_win, F = fc_features(&c);
    z = normalise(&c.norm, col.values, n_train, 0);
    x = malloc((size_t)window * (size_t)B * (size_t)F * sizeof *x);
    tgt = malloc((size_t)B * (size_t)horizon * sizeof *tgt);
    perm = malloc((size_t)n_win * sizeof *perm);
    starts = malloc((size_t)B * sizeof *starts);
    if (!z || !x || !tgt || !perm || !starts) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    int64_t per_epoch = (n_win + B - 1) / B;
    if (trainer_init(&tr, cmd, &o, &m.params, per_epoch)) goto done;
    trainer_ok = 1;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck)) goto done;
        rc_safetensors_close(ck);
        ck = NULL;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %s, column %s: %zu points: %zu to fit, %zu to validate, %zu held out; "
                "%lld windows of %d -> %d; %s %dx%d, %zu parameters; %lld steps of %d%s\n",
                cmd, data, col.name, n, n_fit, n_valid, n - n_train, (long long)n_win, window,
                horizon, o.cell, o.layers, o.hidden, rc_params_numel(&m.params),
                (long long)tr.total_steps, B, tr.step ? " (resumed)" : "");

    t = rc_tape_new();
    if (!t) goto done;
    int64_t perm_epoch = -1;
    double t_print = trainer_now();
    while (tr.step < tr.total_steps && !tr.stop) {
        int nb = batch_starts(tr.step, per_epoch, window, n_win, B, (uint64_t)o.seed, perm,
                              &perm_epoch, starts);
        fc_make_inputs(&c, z, starts, nb, x);
        fc_make_targets(&c, z, starts, nb, tgt);
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m.rnn);
        rc_tape_reset(t);
        int ts[2] = {nb, horizon};
        rc_var *pred = fc_forward(t, &m, x, nb, &drop);
        rc_var *loss = rc_mse(t, pred, rc_input(t, 2, ts, tgt));
        if (trainer_backward_update(&tr, cmd, t, loss, nb)) goto done;
        trainer_progress(&tr, "win", 0);
        if (trainer_should_eval(&tr)) {
            /* Without a validation part the training windows stand in. */
            double vl = n_valid ? window_loss(&m, z, n_fit, n_train)
                                : window_loss(&m, z, (size_t)window, n_fit);
            int is_best = trainer_record_eval(&tr, vl);
            /* Short runs validate often: a line every few seconds is enough. */
            if (!o.quiet && (trainer_now() - t_print >= 3.0 || tr.step == tr.total_steps ||
                             tr.stop)) {
                trainer_progress(&tr, "win", 1);
                fprintf(stderr, "  %s loss %.5f (best %.5f at step %lld)\n",
                        n_valid ? "validation" : "training", vl, tr.best_valid,
                        (long long)tr.best_step);
                t_print = trainer_now();
            }
            if (is_best && model_save(&m, &src, o.out)) goto done;
        }
        if (trainer_should_checkpoint(&tr) && save_checkpoint(&tr, &m, &src, ckpt, opts))
            goto done;
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    trainer_plot(&tr, o.out, "mean squared error (normalised)");

    /* The test set, with the chosen (best validation) weights. */
    if (rc_safetensors_open(o.out, &best) != RC_OK ||
        rc_checkpoint_load_params(best, &m.params) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    size_t N = n - n_train;
    one = malloc(N * sizeof *one), multi = malloc(N * sizeof *multi);
    naive1 = malloc(N * sizeof *naive1), naivem = malloc(N * sizeof *naivem);
    if (!one || !multi || !naive1 || !naivem) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    fc_metrics met;
    if (evaluate(cmd, &m, col.values, n, n_train, &met, one, multi, naive1, naivem)) goto done;
    forecast_plot(cmd, o.out, data, col.name, col.values, n, n_train, one, multi, naivem,
                  &met, o.quiet);
    if (o.json) {
        char js[1024], ds[512], cs[256];
        json_metrics(js, sizeof js, &m, &met);
        printf("{\"task\":\"forecast\",\"data\":%s,\"column\":%s,\"steps\":%lld,"
               "\"best_valid_loss\":%.6g,\"best_step\":%lld,\"seconds\":%.2f,%s}\n",
               json_str(ds, sizeof ds, data), json_str(cs, sizeof cs, col.name),
               (long long)tr.step, tr.best_valid, (long long)tr.best_step,
               trainer_now() - tr.t_start, js);
    } else {
        if (!o.quiet)
            fprintf(stderr, "%s: best %s loss %.5f at step %lld; model in %s\n", cmd,
                    n_valid ? "validation" : "training", tr.best_valid, (long long)tr.best_step,
                    o.out);
        print_metrics(stdout, &m, &met, data, col.name, n_train);
    }
    ret = 0;
done:
    rc_tape_free(t);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) fc_model_free(&m);
    rc_safetensors_close(ck);
    rc_safetensors_close(best);
    rc_csv_column_free(&col);
    free(meta_store);
    free(z), free(x), free(tgt), free(perm), free(starts);
    free(one), free(multi), free(naive1), free(naivem);
    free(ckpt);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

int forecast_eval(const char *cmd, const rc_safetensors *st, const char *data,
                  float last_fraction, int json)
{
    fc_model m;
    fc_source src;
    memset(&src, 0, sizeof src);
    if (model_load(cmd, st, &m, &src)) return 1;
    rc_csv_column col = {0};
    int ret = 1;
    size_t start = 0;
    if (read_series(cmd, data, src.column, &col) ||
        holdout_start(cmd, data, col.n, last_fraction > 0 ? 0 : src.holdout,
                      last_fraction > 0 ? last_fraction : src.holdout_fraction, &start) ||
        check_history(cmd, data, start, &m.cfg))
        goto done;
    if (m.cfg.norm.log)
        for (size_t i = 0; i < col.n; i++)
            if (!(col.values[i] > 0)) {
                cli_error(cmd, "%s: value %g (point %zu) is not positive; the model reads the "
                          "log of the values", data, (double)col.values[i], i + 1);
                goto done;
            }
    fc_metrics met;
    if (evaluate(cmd, &m, col.values, col.n, start, &met, NULL, NULL, NULL, NULL)) goto done;
    if (json) {
        char js[1024], ds[512], cs[256];
        json_metrics(js, sizeof js, &m, &met);
        printf("{\"task\":\"forecast\",\"data\":%s,\"column\":%s,\"points\":%zu,%s}\n",
               json_str(ds, sizeof ds, data), json_str(cs, sizeof cs, col.name), col.n, js);
    } else {
        print_metrics(stdout, &m, &met, data, col.name, start);
    }
    ret = 0;
done:
    rc_csv_column_free(&col);
    fc_model_free(&m);
    return ret;
}
