/* trainer.h - what every task's training loop shares: the common flags,
 * the optimizer and schedule built from them, the update after backward
 * (NaN guard, clipping, learning rate, step), progress output, validation
 * history with early stopping, and saving/restoring all of it in a
 * checkpoint so that a resumed run continues exactly. */
#ifndef RECUR_TRAINER_H
#define RECUR_TRAINER_H

#include "recur.h"

#include <stdio.h>

#include "../cli/cli.h"

/* Flags named the same way across tasks. */
typedef struct train_opts {
    const char *cell;       /* rnn | rnn_relu | lstm | gru */
    int hidden, layers, bidirectional;
    float dropout;
    int batch;
    float lr;
    const char *optimizer;  /* sgd | adam | adamw | rmsprop */
    float momentum, weight_decay, clip;
    const char *schedule;   /* constant | step | cosine | plateau */
    int warmup, step_size;
    float gamma;
    int epochs, steps;      /* steps > 0 overrides epochs */
    int eval_every;         /* steps between validations (0: each epoch) */
    int patience;           /* evaluations without improvement before stopping (0: never) */
    int seed, threads, quiet, json;
    const char *out;        /* the model file; the checkpoint is OUT.ckpt */
    const char *resume;     /* a checkpoint to continue from */
    int checkpoint_every;   /* steps between checkpoints (0: at each validation) */
    const char *log;        /* append "step,loss,lr" for every step to this file */
} train_opts;

void train_opts_defaults(train_opts *o);
/* Appends the common options to opts[] (from *n on); returns the new count. */
int train_opts_declare(train_opts *o, cli_option *opts, int n);
/* Checks values and parses the cell name. */
int train_opts_check(const char *cmd, const train_opts *o, rc_cell_kind *cell);
/* Parses the command line `recur train TASK [options]` into opts. With
 * --resume, opens that checkpoint, which must be this task's (metadata
 * "kind"; `what` names it in the error) and hold a training position, sets
 * the options saved in it, then parses the command line again on top (so
 * --steps or --epochs can extend a run). *ck is the open checkpoint, NULL
 * without --resume; *store holds the option text taken from it: free it
 * when the options are no longer needed. Returns -1 to go on, or the exit
 * code to return now (0 after --help; else an error was printed and
 * nothing is left open). */
int train_opts_parse(const char *cmd, const char *usage, const cli_option *opts, int argc,
                     char **argv, const char *kind, const char *what, train_opts *o,
                     rc_safetensors **ck, char **store);
/* A resumed run goes on with its checkpoint's weights, so the options that
 * shaped them cannot change: each option named in `fixed` (NULL-terminated)
 * must have the value saved in the checkpoint ck (an option the checkpoint
 * does not hold is not checked). 0, or 1 with a one-line error naming the
 * flag, both values and the checkpoint. Call it after train_opts_parse. */
int train_resume_fixed(const char *cmd, const rc_safetensors *ck, const cli_option *opts,
                       const char *const *fixed);
/* The checkpoint of a run that writes the model to out: OUT.ckpt, malloc'd. */
char *train_checkpoint_path(const char *out);

/* Checks that a model file is recur's and of this task's kind (`what`
 * names it in the error); 0, or 1 with the error printed. */
int train_model_check(const char *cmd, const rc_safetensors *st, const char *kind,
                      const char *what);

/* The cell's name as the --cell flag and the model files spell it. */
const char *train_cell_name(rc_cell_kind k);
/* The kind of a cell name; 0, or -1 for a name that is none. */
int train_cell_kind(const char *name, rc_cell_kind *k);

/* Metadata of a model file or checkpoint, in the order added. The keys
 * and values are the caller's (they must outlive the list); numbers are
 * formatted into the list's own buffers. What does not fit is dropped. */
#define META_MAX 160
typedef struct meta_list {
    int n;
    const char *k[META_MAX];
    const char *v[META_MAX];
    char buf[24][40];
    int nb;
} meta_list;
void meta_add(meta_list *ml, const char *k, const char *v);
/* What every model file starts with: format "recur", the version, and the
 * task's kind (the keys train_model_check and recur eval read back). */
void meta_add_header(meta_list *ml, const char *kind);
/* A number, formatted with fmt ("%.9g", "%.17g" for a double read back
 * exactly). */
void meta_addf(meta_list *ml, const char *k, const char *fmt, double v);

/* Metadata read back from a model file or checkpoint. Each prints
 * "CMD: FILE: what is wrong" and returns 1 when the key is missing or its
 * value is not a number in [lo, hi] / not a finite double (written with
 * "%.17g", read back exactly) / not true or false; 0 otherwise. */
int meta_get_int(const char *cmd, const rc_safetensors *st, const char *key, int lo, int hi,
                 int *out);
int meta_get_double(const char *cmd, const rc_safetensors *st, const char *key, double *out);
int meta_get_bool(const char *cmd, const rc_safetensors *st, const char *key, int *out);

/* Registers a recurrent layer's parameters (as "rnn.NAME") and then a
 * linear head's weight and bias: the model file layout of every task with
 * an rc_rnn and a head. */
rc_status train_params_add_rnn_head(rc_params *p, const rc_rnn *rnn, const rc_linear *head);

/* The running state of a training loop. */
typedef struct trainer {
    const train_opts *o;
    rc_params *params;
    rc_optim *opt;
    rc_schedule sched;
    int64_t step, total_steps, steps_per_epoch;
    /* validation history (one entry per evaluation) and training loss
     * averaged over the steps since the previous evaluation */
    int n_hist, cap_hist;
    float *hist_step, *hist_train, *hist_valid;
    double train_sum;
    int64_t train_count;
    double best_valid;
    int64_t best_step, bad_evals;
    int stop; /* set by early stopping */
    /* progress */
    double t_start, t_last_log;
    int64_t step_at_start; /* the step this process started from */
    double items_done; /* tokens (or examples) since start of this process */
    int tty;
    double last_loss;  /* the latest step's loss, for the progress line */
    FILE *log;
    /* The running average of the weights (trainer_ema_init; ema NULL:
     * none): a copy of each parameter, its checkpoint name "ema/NAME", and
     * the decay. */
    double ema_decay;
    float **ema;
    char **ema_names;
} trainer;

int trainer_init(trainer *tr, const char *cmd, const train_opts *o, rc_params *ps,
                 int64_t steps_per_epoch);
void trainer_free(trainer *tr);
/* The coming step's dropout masks from (seed, step), so that a resumed run
 * draws the same ones: *drop for the task's own dropout, and the rng of
 * rnn's dropout between layers. */
void trainer_dropout_rng(const trainer *tr, rc_rng *drop, rc_rnn *rnn);
/* After backward: NaN guard, clip, lr, optimizer step, zero grads. Returns
 * 0, or 1 with an error printed (the run must stop without saving). */
int trainer_update(trainer *tr, const char *cmd, double loss, double items);
/* Backward from the step's loss (NULL when building it failed), then
 * trainer_update. Returns 0, or 1 with an error printed. */
int trainer_backward_update(trainer *tr, const char *cmd, rc_tape *t, rc_var *loss,
                            double items);
/* Is it time to validate (or to write a checkpoint) after this step? */
int trainer_should_eval(const trainer *tr);
int trainer_should_checkpoint(const trainer *tr);
/* Records a validation loss; returns 1 when it is the best so far. */
int trainer_record_eval(trainer *tr, double valid_loss);
/* Prints progress (a bar on a terminal, a log line now and then off one). */
void trainer_progress(trainer *tr, const char *unit, int force_line);
/* An exponential moving average of the weights (Polyak averaging): after
 * every step each weight's average moves towards it by
 *   avg = d avg + (1 - d) w,   d = min(decay, (1 + step) / (10 + step))
 * (the smaller d of the first steps keeps the average from lingering on the
 * initial weights). The averaged weights are what validation measures and
 * what the model file keeps; training goes on from the raw ones. Call
 * after trainer_restore (the average starts from the weights as they are,
 * or from the checkpoint's own average: trainer_ema_restore). decay in
 * (0, 1). Returns 0, or 1 with an error printed. */
int trainer_ema_init(trainer *tr, const char *cmd, double decay);
/* Takes the average saved in checkpoint st ("ema/NAME" tensors), where it
 * has one; 0, or 1 with an error printed. */
int trainer_ema_restore(trainer *tr, const char *cmd, const rc_safetensors *st);
/* Exchanges the parameters' values with the average: call before
 * validating and saving the model, and again after (no-op without one). */
void trainer_ema_swap(trainer *tr);

/* Checkpoint metadata/tensors: the training position and history. */
int trainer_save(trainer *tr, const char *path, int n_extra, const char *const *extra_names,
                 const rc_tensor *const *extra, int n_meta, const char *const *keys,
                 const char *const *vals);
/* A task's checkpoint: trainer_save with the task's metadata ml (to which
 * the run's options are added as "opt/NAME", so that --resume continues
 * with the same ones), its extra tensors, and the weights' average
 * ("ema/NAME" tensors) when there is one. */
int trainer_save_checkpoint(trainer *tr, const char *path, meta_list *ml, const cli_option *opts,
                            int n_extra, const char *const *extra_names,
                            const rc_tensor *const *extra);
int trainer_restore(trainer *tr, const char *cmd, const rc_safetensors *st);
/* Draws the loss curves next to the model: OUT.loss.png. */
void trainer_plot(const trainer *tr, const char *out, const char *ylabel);
double trainer_now(void);

#endif
