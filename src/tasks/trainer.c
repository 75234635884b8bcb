/* trainer.c - the parts of a training loop that every task shares. */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include "../plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double trainer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_opts_defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cell = "lstm";
    o->hidden = 128;
    o->layers = 1;
    o->batch = 32;
    o->lr = 2e-3f;
    o->optimizer = "adam";
    o->momentum = 0.9f;
    o->clip = 5.0f;
    o->schedule = "constant";
    o->step_size = 1;
    o->gamma = 0.5f;
    o->epochs = 1;
    o->seed = 1;
}

int train_opts_declare(train_opts *o, cli_option *opts, int n)
{
    const cli_option common[] = {
        {"cell", CLI_STRING, &o->cell, "rnn | rnn_relu | lstm | gru (default lstm)"},
        {"hidden", CLI_INT, &o->hidden, "hidden units per layer"},
        {"layers", CLI_INT, &o->layers, "stacked recurrent layers"},
        {"bidirectional", CLI_FLAG, &o->bidirectional, "two directions"},
        {"dropout", CLI_FLOAT, &o->dropout, "dropout between layers and before the head"},
        {"batch", CLI_INT, &o->batch, "sequences per batch"},
        {"lr", CLI_FLOAT, &o->lr, "learning rate"},
        {"optimizer", CLI_STRING, &o->optimizer, "sgd | adam | adamw | rmsprop (default adam)"},
        {"momentum", CLI_FLOAT, &o->momentum, "momentum for sgd and rmsprop (default 0.9)"},
        {"weight-decay", CLI_FLOAT, &o->weight_decay, "weight decay"},
        {"clip", CLI_FLOAT, &o->clip, "clip gradients to this global norm (0: off; default 5)"},
        {"schedule", CLI_STRING, &o->schedule, "constant | step | cosine | plateau"},
        {"warmup", CLI_INT, &o->warmup, "warm-up steps (cosine)"},
        {"step-size", CLI_INT, &o->step_size, "evaluations between decays (step)"},
        {"gamma", CLI_FLOAT, &o->gamma, "decay factor (step, plateau; default 0.5)"},
        {"epochs", CLI_INT, &o->epochs, "passes over the training data"},
        {"steps", CLI_INT, &o->steps, "training steps (overrides --epochs)"},
        {"eval-every", CLI_INT, &o->eval_every, "steps between validations (default: each epoch)"},
        {"patience", CLI_INT, &o->patience, "stop after this many validations without improvement"},
        {"seed", CLI_INT, &o->seed, "random seed"},
        {"threads", CLI_INT, &o->threads, "threads (default: all cores)"},
        {"out", CLI_STRING, &o->out, "model file to write (checkpoint: OUT.ckpt)"},
        {"resume", CLI_STRING, &o->resume, "continue from this checkpoint"},
        {"checkpoint-every", CLI_INT, &o->checkpoint_every,
         "steps between checkpoints (default: at each validation)"},
        {"log", CLI_STRING, &o->log, "append each step's loss to this CSV file"},
        {"quiet", CLI_FLAG, &o->quiet, "no progress output"},
        {"json", CLI_FLAG, &o->json, "print the final metrics as one JSON line"},
    };
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) opts[n++] = common[i];
    return n;
}

static const char *const cell_names[] = {"rnn", "rnn_relu", "lstm", "gru"};
static const rc_cell_kind cell_kinds[] = {RC_CELL_RNN_TANH, RC_CELL_RNN_RELU, RC_CELL_LSTM,
                                          RC_CELL_GRU};

const char *train_cell_name(rc_cell_kind k)
{
    for (int i = 0; i < 4; i++)
        if (cell_kinds[i] == k) return cell_names[i];
    return "?";
}

int train_cell_kind(const char *name, rc_cell_kind *k)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, cell_names[i])) {
            *k = cell_kinds[i];
            return 0;
        }
    return -1;
}

int train_opts_check(const char *cmd, const train_opts *o, rc_cell_kind *cell)
{
    if (train_cell_kind(o->cell, cell))
        return cli_error(cmd, "--cell must be rnn, rnn_relu, lstm or gru, not '%s'", o->cell);
    if (o->hidden < 1 || o->layers < 1 || o->batch < 1)
        return cli_error(cmd, "--hidden, --layers and --batch must be at least 1");
    if (!(o->dropout >= 0 && o->dropout < 1)) return cli_error(cmd, "--dropout must be in [0, 1)");
    if (!(o->lr > 0)) return cli_error(cmd, "--lr must be positive");
    if (o->epochs < 1 && o->steps < 1) return cli_error(cmd, "--epochs or --steps must be at least 1");
    if (o->clip < 0) return cli_error(cmd, "--clip must be >= 0");
    const char *sch[] = {"constant", "step", "cosine", "plateau"};
    int ok = 0;
    for (int i = 0; i < 4; i++) ok |= !strcmp(o->schedule, sch[i]);
    if (!ok) return cli_error(cmd, "--schedule must be constant, step, cosine or plateau");
    const char *opt[] = {"sgd", "adam", "adamw", "rmsprop"};
    ok = 0;
    for (int i = 0; i < 4; i++) ok |= !strcmp(o->optimizer, opt[i]);
    if (!ok) return cli_error(cmd, "--optimizer must be sgd, adam, adamw or rmsprop");
    if (!o->out && !o->resume) return cli_error(cmd, "--out MODEL is required");
    return 0;
}

int train_opts_parse(const char *cmd, const char *usage, const cli_option *opts, int argc,
                     char **argv, const char *kind, const char *what, train_opts *o,
                     rc_safetensors **ck, char **store)
{
    /* A task's options start after `recur train TASK`; none is positional. */
    const char *pos[1];
    int n_pos;
    *ck = NULL;
    *store = NULL;
    int r = cli_parse(cmd, usage, opts, argc, argv, 3, pos, 0, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (!o->resume) return -1;
    if (rc_safetensors_open(o->resume, ck) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    const char *resume = o->resume, *got = rc_safetensors_meta(*ck, "kind");
    int fail = 0;
    if (!got || strcmp(got, kind) || !rc_safetensors_meta(*ck, "train/step")) {
        /* A model file of the right kind is the likely mix-up: say which file to give. */
        fail = cli_error(cmd, "%s: not a %s checkpoint (kind %s%s)", o->resume, what,
                         got ? got : "missing",
                         got && !strcmp(got, kind)
                             ? ", no training position: resume from MODEL.ckpt"
                             : "");
    } else {
        fail = cli_options_from_meta(cmd, *ck, "opt/", opts, store);
    }
    if (fail) {
        rc_safetensors_close(*ck);
        *ck = NULL;
        free(*store);
        *store = NULL;
        return 1;
    }
    /* The command line again, on top of the checkpoint's options (it parsed
     * once already, so it parses again). */
    cli_parse(cmd, usage, opts, argc, argv, 3, pos, 0, &n_pos);
    o->resume = resume;
    return -1;
}

int train_resume_fixed(const char *cmd, const rc_safetensors *ck, const cli_option *opts,
                       const char *const *fixed)
{
    for (; *fixed; fixed++) {
        const cli_option *o = opts;
        while (o->name && strcmp(o->name, *fixed)) o++;
        char key[96], now[256];
        snprintf(key, sizeof key, "opt/%s", *fixed);
        const char *saved = rc_safetensors_meta(ck, key);
        if (!o->name || !saved) continue;
        cli_option_format(o, now, sizeof now);
        if (!strcmp(now, saved)) continue;
        const char *path = rc_safetensors_path(ck);
        if (o->kind == CLI_FLAG)
            return cli_error(cmd, "--%s contradicts the checkpoint %s, which was trained %s it: a "
                             "resumed run keeps its checkpoint's model; drop --%s, or train a new "
                             "model (another --out) without --resume",
                             *fixed, path, strcmp(saved, "true") ? "without" : "with", *fixed);
        return cli_error(cmd, "--%s %s contradicts the checkpoint %s, which was trained with --%s %s: "
                         "a resumed run keeps its checkpoint's model; drop --%s, or train a new "
                         "model (another --out) without --resume",
                         *fixed, now, path, *fixed, saved, *fixed);
    }
    return 0;
}

int train_model_check(const char *cmd, const rc_safetensors *st, const char *kind,
                      const char *what)
{
    const char *fmt = rc_safetensors_meta(st, "format"), *got = rc_safetensors_meta(st, "kind");
    if (!fmt || strcmp(fmt, "recur") || !got || strcmp(got, kind))
        return cli_error(cmd, "%s: not a recur %s (format %s, kind %s)", rc_safetensors_path(st),
                         what, fmt ? fmt : "missing", got ? got : "missing");
    return 0;
}

char *train_checkpoint_path(const char *out)
{
    size_t n = strlen(out) + 6;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.ckpt", out);
    return p;
}

void meta_add(meta_list *ml, const char *k, const char *v)
{
    if (ml->n < META_MAX) ml->k[ml->n] = k, ml->v[ml->n++] = v;
}

void meta_add_header(meta_list *ml, const char *kind)
{
    meta_add(ml, "format", "recur");
    meta_add(ml, "recur_version", RC_VERSION);
    meta_add(ml, "kind", kind);
}

void meta_addf(meta_list *ml, const char *k, const char *fmt, double v)
{
    int nbuf = (int)(sizeof ml->buf / sizeof ml->buf[0]);
    if (ml->nb >= nbuf) return;
    snprintf(ml->buf[ml->nb], sizeof ml->buf[0], fmt, v);
    meta_add(ml, k, ml->buf[ml->nb++]);
}

int trainer_init(trainer *tr, const char *cmd, const train_opts *o, rc_params *ps,
                 int64_t steps_per_epoch)
{
    memset(tr, 0, sizeof *tr);
    tr->o = o;
    tr->params = ps;
    tr->steps_per_epoch = steps_per_epoch < 1 ? 1 : steps_per_epoch;
    tr->total_steps = o->steps > 0 ? o->steps : (int64_t)o->epochs * tr->steps_per_epoch;
    tr->best_valid = INFINITY;
    tr->best_step = -1;
    rc_optim_kind k = !strcmp(o->optimizer, "sgd")     ? RC_OPTIM_SGD
                      : !strcmp(o->optimizer, "adamw") ? RC_OPTIM_ADAMW
                      : !strcmp(o->optimizer, "rmsprop") ? RC_OPTIM_RMSPROP
                                                         : RC_OPTIM_ADAM;
    rc_optim_config oc = rc_optim_defaults(k, o->lr);
    oc.weight_decay = o->weight_decay;
    if (k == RC_OPTIM_SGD || k == RC_OPTIM_RMSPROP) oc.momentum = o->momentum;
    rc_status s = rc_optim_new(&oc, ps->vars, ps->n, &tr->opt);
    if (s == RC_OK) {
        if (!strcmp(o->schedule, "step"))
            s = rc_schedule_step_decay(&tr->sched, o->lr, o->step_size, o->gamma);
        else if (!strcmp(o->schedule, "cosine"))
            s = rc_schedule_cosine(&tr->sched, o->lr, o->lr * 0.01, o->warmup, tr->total_steps);
        else if (!strcmp(o->schedule, "plateau"))
            s = rc_schedule_plateau(&tr->sched, o->lr, o->gamma, 0, 0, o->lr * 1e-3);
        else
            s = rc_schedule_constant(&tr->sched, o->lr);
    }
    if (s != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    tr->tty = isatty(2) && !o->quiet;
    if (o->log && !(tr->log = fopen(o->log, "a")))
        return cli_error(cmd, "--log %s: cannot open for appending", o->log);
    tr->t_start = tr->t_last_log = trainer_now();
    return 0;
}

void trainer_free(trainer *tr)
{
    if (tr->log) fclose(tr->log);
    for (int i = 0; tr->ema && i < tr->params->n; i++) free(tr->ema[i]), free(tr->ema_names[i]);
    free(tr->ema);
    free(tr->ema_names);
    rc_optim_free(tr->opt);
    free(tr->hist_step);
    free(tr->hist_train);
    free(tr->hist_valid);
    memset(tr, 0, sizeof *tr);
}

/* The lr for the coming step: cosine follows steps; step decay follows
 * evaluations (its t is the number of evaluations so far); plateau holds
 * its own. */
static double current_lr(const trainer *tr)
{
    switch (tr->sched.kind) {
    case RC_SCHED_COSINE: return rc_schedule_lr(&tr->sched, tr->step);
    case RC_SCHED_STEP: return rc_schedule_lr(&tr->sched, tr->n_hist);
    default: return rc_schedule_lr(&tr->sched, 0);
    }
}

void trainer_dropout_rng(const trainer *tr, rc_rng *drop, rc_rnn *rnn)
{
    rc_rng_init(drop, (uint64_t)tr->o->seed * 0x9E3779B97F4A7C15ULL + 17);
    drop->counter = (uint64_t)tr->step << 20;
    rnn->dropout_rng.seed = drop->seed + 1;
    rnn->dropout_rng.counter = drop->counter;
}

int trainer_update(trainer *tr, const char *cmd, double loss, double items)
{
    if (!isfinite(loss))
        return cli_error(cmd, "the loss became %g at step %lld; stopping without saving "
                         "(try a lower --lr or --clip)", loss, (long long)tr->step + 1);
    if (rc_grads_check_finite(tr->params->vars, tr->params->n) != RC_OK)
        return cli_error(cmd, "step %lld: %s; stopping without saving (try a lower --lr or --clip)",
                         (long long)tr->step + 1, rc_last_error());
    if (tr->o->clip > 0) rc_clip_grad_norm(tr->params->vars, tr->params->n, tr->o->clip, NULL);
    double lr = current_lr(tr);
    rc_optim_set_lr(tr->opt, lr);
    rc_optim_step(tr->opt);
    if (tr->ema) {
        double d = (1.0 + (double)tr->step) / (10.0 + (double)tr->step);
        float a = (float)(d < tr->ema_decay ? d : tr->ema_decay), b = 1.0f - a;
        for (int i = 0; i < tr->params->n; i++) {
            const rc_tensor *w = &tr->params->vars[i]->value;
            float *avg = tr->ema[i];
            for (size_t j = 0; j < w->size; j++) avg[j] = a * avg[j] + b * w->data[j];
        }
    }
    if (tr->log) {
        fprintf(tr->log, "%lld,%.9g,%.9g\n", (long long)tr->step + 1, loss, lr);
        fflush(tr->log);
    }
    tr->last_loss = loss;
    rc_optim_zero_grad(tr->opt);
    tr->step++;
    tr->train_sum += loss;
    tr->train_count++;
    tr->items_done += items;
    return 0;
}

int trainer_backward_update(trainer *tr, const char *cmd, rc_tape *t, rc_var *loss,
                            double items)
{
    if (!loss || rc_backward(t, loss) != RC_OK)
        return cli_error(cmd, "step %lld: %s", (long long)tr->step + 1, rc_last_error());
    return trainer_update(tr, cmd, loss->value.data[0], items);
}

int trainer_should_eval(const trainer *tr)
{
    int64_t every = tr->o->eval_every > 0 ? tr->o->eval_every : tr->steps_per_epoch;
    return tr->step % every == 0 || tr->step == tr->total_steps;
}

int trainer_should_checkpoint(const trainer *tr)
{
    if (tr->o->checkpoint_every > 0)
        return tr->step % tr->o->checkpoint_every == 0 || tr->step == tr->total_steps;
    return trainer_should_eval(tr);
}

int trainer_record_eval(trainer *tr, double valid_loss)
{
    if (tr->n_hist == tr->cap_hist) {
        int cap = tr->cap_hist ? 2 * tr->cap_hist : 64;
        float *a = realloc(tr->hist_step, (size_t)cap * sizeof *a);
        if (a) tr->hist_step = a;
        float *b = a ? realloc(tr->hist_train, (size_t)cap * sizeof *b) : NULL;
        if (b) tr->hist_train = b;
        float *c = b ? realloc(tr->hist_valid, (size_t)cap * sizeof *c) : NULL;
        if (!c) return 0; /* history is lost, training goes on */
        tr->hist_valid = c;
        tr->cap_hist = cap;
    }
    tr->hist_step[tr->n_hist] = (float)tr->step;
    tr->hist_train[tr->n_hist] = tr->train_count ? (float)(tr->train_sum / (double)tr->train_count) : NAN;
    tr->hist_valid[tr->n_hist] = (float)valid_loss;
    tr->n_hist++;
    tr->train_sum = 0;
    tr->train_count = 0;
    if (tr->sched.kind == RC_SCHED_PLATEAU) rc_schedule_observe(&tr->sched, valid_loss, NULL);
    int best = valid_loss < tr->best_valid;
    if (best) {
        tr->best_valid = valid_loss;
        tr->best_step = tr->step;
        tr->bad_evals = 0;
    } else if (++tr->bad_evals >= tr->o->patience && tr->o->patience > 0) {
        tr->stop = 1;
    }
    return best;
}

int trainer_ema_init(trainer *tr, const char *cmd, double decay)
{
    if (!(decay > 0 && decay < 1)) return cli_error(cmd, "--ema must be in (0, 1), e.g. 0.999");
    int n = tr->params->n;
    tr->ema_decay = decay;
    tr->ema = calloc((size_t)(n > 0 ? n : 1), sizeof *tr->ema);
    tr->ema_names = calloc((size_t)(n > 0 ? n : 1), sizeof *tr->ema_names);
    if (!tr->ema || !tr->ema_names)
        return cli_error(cmd, "out of memory for the weights' average");
    for (int i = 0; i < n; i++) {
        const rc_tensor *w = &tr->params->vars[i]->value;
        size_t len = strlen(tr->params->names[i]) + 5;
        if (!(tr->ema[i] = malloc((w->size ? w->size : 1) * sizeof(float))) ||
            !(tr->ema_names[i] = malloc(len)))
            return cli_error(cmd, "out of memory for the weights' average");
        memcpy(tr->ema[i], w->data, w->size * sizeof(float));
        snprintf(tr->ema_names[i], len, "ema/%s", tr->params->names[i]);
    }
    return 0;
}

int trainer_ema_restore(trainer *tr, const char *cmd, const rc_safetensors *st)
{
    for (int i = 0; tr->ema && i < tr->params->n; i++) {
        const rc_tensor *w = &tr->params->vars[i]->value;
        const char *name = tr->ema_names[i];
        if (rc_safetensors_find(st, name) < 0) continue;
        rc_tensor t;
        if (rc_safetensors_get_expect(st, name, w->ndim, w->shape, &t) != RC_OK)
            return cli_error(cmd, "%s", rc_last_error());
        memcpy(tr->ema[i], t.data, w->size * sizeof(float));
        rc_tensor_free(&t);
    }
    return 0;
}

void trainer_ema_swap(trainer *tr)
{
    for (int i = 0; tr->ema && i < tr->params->n; i++) {
        rc_tensor *w = &tr->params->vars[i]->value;
        float *avg = tr->ema[i];
        for (size_t j = 0; j < w->size; j++) {
            float v = w->data[j];
            w->data[j] = avg[j];
            avg[j] = v;
        }
    }
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "--");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void trainer_progress(trainer *tr, const char *unit, int force_line)
{
    if (tr->o->quiet) return;
    double now = trainer_now(), el = now - tr->t_start;
    double rate = el > 0 ? tr->items_done / el : 0;
    /* Training loss averaged since the last validation (the latest step's
     * right after one). */
    double loss = tr->train_count ? tr->train_sum / (double)tr->train_count : tr->last_loss;
    /* Time left from the pace of the steps done in this process. */
    int64_t done = tr->step - tr->step_at_start;
    double left = done > 0 ? el / (double)done * (double)(tr->total_steps - tr->step) : NAN;
    char eta[32], spent[32];
    fmt_time(eta, sizeof eta, left);
    fmt_time(spent, sizeof spent, el);
    double epoch = (double)tr->step / (double)tr->steps_per_epoch;
    if (tr->tty && !force_line) {
        if (now - tr->t_last_log < 0.2 && tr->step != tr->total_steps) return;
        tr->t_last_log = now;
        int width = 24, fill = (int)((double)width * (double)tr->step / (double)tr->total_steps);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] step %lld/%lld  epoch %.2f  loss %.4f  %.1fk %s/s  %s left   ",
                bar, (long long)tr->step, (long long)tr->total_steps, epoch, loss, rate / 1e3,
                unit, eta);
        fflush(stderr);
    } else {
        if (!force_line && now - tr->t_last_log < 10.0) return;
        tr->t_last_log = now;
        if (tr->tty) fputc('\r', stderr);
        fprintf(stderr, "step %lld/%lld  epoch %.2f  loss %.4f  %.1fk %s/s  elapsed %s  left %s\n",
                (long long)tr->step, (long long)tr->total_steps, epoch, loss, rate / 1e3, unit,
                spent, eta);
    }
}

#define MAX_META 160

static const char *num(char *buf, double v)
{
    snprintf(buf, 32, "%.17g", v);
    return buf;
}

int trainer_save(trainer *tr, const char *path, int n_extra, const char *const *extra_names,
                 const rc_tensor *const *extra, int n_meta, const char *const *keys,
                 const char *const *vals)
{
    const char *k[MAX_META], *v[MAX_META];
    char nums[16][32];
    int m = 0, u = 0;
    for (int i = 0; i < n_meta && m < MAX_META - 16; i++) k[m] = keys[i], v[m++] = vals[i];
    k[m] = "train/step", v[m++] = num(nums[u++], (double)tr->step);
    k[m] = "train/best_valid", v[m++] = num(nums[u++], tr->best_valid);
    k[m] = "train/best_step", v[m++] = num(nums[u++], (double)tr->best_step);
    k[m] = "train/bad_evals", v[m++] = num(nums[u++], (double)tr->bad_evals);
    k[m] = "train/train_sum", v[m++] = num(nums[u++], tr->train_sum);
    k[m] = "train/train_count", v[m++] = num(nums[u++], (double)tr->train_count);
    double ss[RC_SCHEDULE_STATE_N];
    char skeys[RC_SCHEDULE_STATE_N][48];
    rc_schedule_get_state(&tr->sched, ss);
    for (int i = 0; i < RC_SCHEDULE_STATE_N; i++) {
        snprintf(skeys[i], sizeof skeys[i], "sched/%s", rc_schedule_state_name(i));
        k[m] = skeys[i], v[m++] = num(nums[u++], ss[i]);
    }
    /* History as tensors (at least one element each). */
    int hn = tr->n_hist > 0 ? tr->n_hist : 1;
    float zero = NAN;
    rc_tensor h[3] = {{tr->n_hist ? tr->hist_step : &zero, 1, {hn}, (size_t)hn},
                      {tr->n_hist ? tr->hist_train : &zero, 1, {hn}, (size_t)hn},
                      {tr->n_hist ? tr->hist_valid : &zero, 1, {hn}, (size_t)hn}};
    /* The task's tensors, the weights' average ("ema/NAME"), the history. */
    int n_ema = tr->ema ? tr->params->n : 0;
    const char **names = malloc((size_t)(n_extra + n_ema + 3) * sizeof *names);
    const rc_tensor **ts = malloc((size_t)(n_extra + n_ema + 3) * sizeof *ts);
    rc_tensor *ema = malloc((size_t)(n_ema + 1) * sizeof *ema);
    if (!names || !ts || !ema) {
        free(names);
        free(ts);
        free(ema);
        return cli_error("train", "out of memory");
    }
    int n = 0;
    for (int i = 0; i < n_extra; i++) names[n] = extra_names[i], ts[n++] = extra[i];
    for (int i = 0; i < n_ema; i++) {
        ema[i] = tr->params->vars[i]->value;
        ema[i].data = tr->ema[i];
        names[n] = tr->ema_names[i], ts[n++] = &ema[i];
    }
    char hcount[32];
    k[m] = "train/history", v[m++] = num(hcount, (double)tr->n_hist);
    names[n] = "history/step", ts[n++] = &h[0];
    names[n] = "history/train", ts[n++] = &h[1];
    names[n] = "history/valid", ts[n++] = &h[2];
    rc_status st = rc_checkpoint_save(path, tr->params, tr->opt, n, names, ts, m, k, v);
    free(names);
    free(ts);
    free(ema);
    if (st != RC_OK) return cli_error("train", "%s", rc_last_error());
    return 0;
}

int trainer_save_checkpoint(trainer *tr, const char *path, meta_list *ml, const cli_option *opts,
                            int n_extra, const char *const *extra_names,
                            const rc_tensor *const *extra)
{
    /* Long enough for any path an option holds (--data, --log). */
    enum { N_OPT = 64, OPT_LEN = 1024 };
    char(*val)[OPT_LEN] = malloc(N_OPT * sizeof *val);
    char(*key)[48] = malloc(N_OPT * sizeof *key);
    if (!val || !key) {
        free(val);
        free(key);
        return cli_error("train", "out of memory");
    }
    int no = 0;
    for (const cli_option *o = opts; o->name && no < N_OPT; o++, no++) {
        snprintf(key[no], sizeof key[no], "opt/%s", o->name);
        cli_option_format(o, val[no], sizeof val[no]);
        meta_add(ml, key[no], val[no]);
    }
    int r = trainer_save(tr, path, n_extra, extra_names, extra, ml->n, ml->k, ml->v);
    free(val);
    free(key);
    return r;
}

static int meta_num(const char *cmd, const rc_safetensors *st, const char *key, double *out)
{
    const char *s = rc_safetensors_meta(st, key);
    char *end;
    if (!s) return cli_error(cmd, "%s: not a checkpoint (no %s)", rc_safetensors_path(st), key);
    *out = strtod(s, &end);
    if (*end) return cli_error(cmd, "%s: %s is '%s', not a number", rc_safetensors_path(st), key, s);
    return 0;
}

int trainer_restore(trainer *tr, const char *cmd, const rc_safetensors *st)
{
    double v[7];
    const char *keys[] = {"train/step", "train/best_valid", "train/best_step", "train/bad_evals",
                          "train/train_sum", "train/train_count", "train/history"};
    for (int i = 0; i < 7; i++)
        if (meta_num(cmd, st, keys[i], &v[i])) return 1;
    tr->step = tr->step_at_start = (int64_t)v[0];
    tr->best_valid = v[1];
    tr->best_step = (int64_t)v[2];
    tr->bad_evals = (int64_t)v[3];
    tr->train_sum = v[4];
    tr->train_count = (int64_t)v[5];
    double ss[RC_SCHEDULE_STATE_N];
    for (int i = 0; i < RC_SCHEDULE_STATE_N; i++) {
        char key[48];
        snprintf(key, sizeof key, "sched/%s", rc_schedule_state_name(i));
        if (meta_num(cmd, st, key, &ss[i])) return 1;
    }
    if (rc_schedule_set_state(&tr->sched, ss) != RC_OK ||
        rc_checkpoint_load_params(st, tr->params) != RC_OK ||
        rc_checkpoint_load_optim(st, tr->opt) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    int n = (int)v[6];
    if (n > 0) {
        rc_tensor h[3];
        const char *names[3] = {"history/step", "history/train", "history/valid"};
        for (int i = 0; i < 3; i++) {
            int s[1] = {n};
            if (rc_safetensors_get_expect(st, names[i], 1, s, &h[i]) != RC_OK) {
                for (int j = 0; j < i; j++) rc_tensor_free(&h[j]);
                return cli_error(cmd, "%s", rc_last_error());
            }
        }
        tr->hist_step = h[0].data, tr->hist_train = h[1].data, tr->hist_valid = h[2].data;
        tr->n_hist = tr->cap_hist = n;
    }
    return 0;
}

void trainer_plot(const trainer *tr, const char *out, const char *ylabel)
{
    if (tr->n_hist < 1) return;
    size_t n = strlen(out) + 16;
    char *path = malloc(n);
    if (!path) return;
    snprintf(path, n, "%s.loss.png", out);
    plot_series s[2] = {
        {"training", tr->hist_step, tr->hist_train, tr->n_hist, PLOT_AUTO, PLOT_LINE, 0},
        {"validation", tr->hist_step, tr->hist_valid, tr->n_hist, PLOT_AUTO, PLOT_LINE, 0},
    };
    plot_spec spec = {0};
    spec.title = "loss curves";
    spec.xlabel = "training step";
    spec.ylabel = ylabel;
    /* A picture is a by-product: failing to draw it does not stop training. */
    if (plot_lines_png(path, &spec, s, 2) != RC_OK && !tr->o->quiet)
        fprintf(stderr, "warning: %s\n", plot_last_error());
    free(path);
}

/* ------------------------------------------------- metadata read back -- */

int meta_get_int(const char *cmd, const rc_safetensors *st, const char *key, int lo, int hi,
                 int *out)
{
    if (rc_safetensors_meta_int(st, key, lo, hi, out) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    return 0;
}

int meta_get_bool(const char *cmd, const rc_safetensors *st, const char *key, int *out)
{
    if (rc_safetensors_meta_bool(st, key, out) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    return 0;
}

int meta_get_double(const char *cmd, const rc_safetensors *st, const char *key, double *out)
{
    const char *s = rc_safetensors_meta(st, key);
    char *end;
    if (!s) return cli_error(cmd, "%s: no metadata '%s'", rc_safetensors_path(st), key);
    errno = 0;
    *out = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(*out))
        return cli_error(cmd, "%s: metadata '%s' is '%s', not a number", rc_safetensors_path(st),
                         key, s);
    return 0;
}

rc_status train_params_add_rnn_head(rc_params *p, const rc_rnn *rnn, const rc_linear *head)
{
    rc_status s;
    for (int i = 0; i < rnn->n_params; i++)
        if ((s = rc_params_add(p, "rnn.", rnn->params[i]))) return s;
    if ((s = rc_params_add(p, "", head->weight))) return s;
    return rc_params_add(p, "", head->bias);
}
