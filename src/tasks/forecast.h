/* forecast.h - time-series forecasting from one column of a CSV file. */
#ifndef RECUR_TASK_FORECAST_H
#define RECUR_TASK_FORECAST_H

#include "trainer.h"

/* Values become model inputs as z = (f(v) - mean) / sd, with f = log
 * (with --log-transform) or the identity, and the mean and sd (population)
 * of f over the training part only. */
typedef struct fc_norm {
    int log;
    double mean, sd;
} fc_norm;

/* Fits the normalisation to y[0..n). Returns 0, or -1 with the reason in
 * why (fewer than 2 values, a value <= 0 with log, a constant series). */
int fc_norm_fit(fc_norm *nm, const float *y, size_t n, int log, char *why, size_t whyn);
double fc_norm_apply(const fc_norm *nm, double v);
double fc_norm_invert(const fc_norm *nm, double z);

typedef struct fc_config {
    rc_cell_kind cell;
    int hidden, layers;
    float dropout;
    int window;          /* W past values in */
    int horizon;         /* H future values out, all at once (direct) */
    int season;          /* S: the seasonal-naive baseline's lag and the phase period */
    int season_features; /* sin and cos of 2 pi (t mod S) / S as two more inputs */
    int predict_change;  /* the head gives z[s+k] - z[s-1] (change from the window's
                            last value, a skip connection), not z[s+k] itself */
    fc_norm norm;
} fc_config;

/* Inputs per time step: 1, or 3 with season features. */
int fc_features(const fc_config *c);

/* Windows. Window s (s >= W) reads z[s-W .. s) and predicts z[s .. s+H).
 * fc_make_inputs fills x [W x B x F] (time-major) for the B windows
 * starts[0..B): x[(t*B + b)*F] = z[starts[b] - W + t], then the season
 * features of that position (phase (starts[b] - W + t) mod S).
 * fc_make_targets fills y [B x H] with what the head is trained to give:
 * z[starts[b] + k], minus z[starts[b] - 1] with predict_change (every
 * target must lie inside z). */
void fc_make_inputs(const fc_config *c, const float *z, const int64_t *starts, int B, float *x);
void fc_make_targets(const fc_config *c, const float *z, const int64_t *starts, int B, float *y);

/* Error measures over n pairs. */
double fc_rmse(const float *pred, const float *truth, size_t n);
double fc_mae(const float *pred, const float *truth, size_t n);

/* The seasonal-naive forecasts of y[start .. start+count) (start >= S).
 * One step ahead, from the true values: out[i] = y[start + i - S].
 * Multi-step from the end of y[0..start): the last season repeated,
 * out[i] = y[start - S + i mod S]. */
void fc_naive_one_step(const float *y, size_t start, size_t count, int S, float *out);
void fc_naive_multi_step(const float *y, size_t start, size_t count, int S, float *out);

/* The network: recurrent layers over the window, the last step's top
 * output -> dropout -> linear head with H outputs. */
typedef struct fc_model {
    fc_config cfg;
    rc_rnn *rnn;
    rc_linear head;
    rc_params params; /* rnn.*, head.weight, head.bias */
} fc_model;

int fc_model_init(fc_model *m, const fc_config *c, uint64_t seed);
void fc_model_free(fc_model *m);

/* Predictions of the values z[s .. s+H) (normalised units, the window's
 * last value added back with predict_change) of the B windows
 * starts[0..B) of z: out [B x H]. Inference mode, no gradient. Returns 0,
 * or -1 with rc_last_error() set. */
int fc_predict(fc_model *m, const float *z, const int64_t *starts, int B, float *out);

/* Forecasts of y[start .. n) in original units, the model's inputs being
 * y's normalised values:
 *   one[i]:   one step ahead, from the true y[start+i-W .. start+i)
 *   multi[i]: from the end of y[0..start) only: direct when H covers the
 *             whole holdout, else recursive in blocks of H (each block's
 *             forecasts become the next block's inputs).
 * Needs start >= W. Returns 0 or -1 (rc_last_error() set). */
int fc_forecast_holdout(fc_model *m, const float *y, size_t n, size_t start, float *one,
                        float *multi);

int cmd_train_forecast(int argc, char **argv);
/* `recur eval MODEL DATA.csv`: the holdout metrics on DATA's column (the
 * model's), its holdout cut as in training, or its last `last_fraction`
 * when that is > 0. */
int forecast_eval(const char *cmd, const rc_safetensors *st, const char *data,
                  float last_fraction, int json);

#endif
