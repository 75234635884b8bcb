/* music.h - polyphonic music: a model of the next piano-roll frame given
 * the past (the benchmarks of Boulanger-Lewandowski et al. 2012), its
 * frame-level negative log-likelihood, and composition to MIDI. */
#ifndef RECUR_TASK_MUSIC_H
#define RECUR_TASK_MUSIC_H

#include "trainer.h"

typedef struct mu_config {
    rc_cell_kind cell;
    int hidden, layers;
    float dropout;
    int steps_per_beat; /* how the frames of the training data are timed */
    float input_dropout; /* on the 88 input keys, in training only (0: none) */
} mu_config;

/* frames (88 binary inputs) -> [input dropout] -> recurrent layers -> dropout -> linear head
 * with 88 outputs, one independent sigmoid per key:
 *   p(x_{t+1,k} = 1 | x_1..x_t) = s(W h_t + b)_k */
typedef struct mu_model {
    mu_config cfg;
    rc_rnn *rnn;
    rc_linear head;
    rc_params params; /* rnn.*, head.weight, head.bias */
} mu_model;

int mu_model_init(mu_model *m, const mu_config *c, uint64_t seed);
void mu_model_free(mu_model *m);
/* 0, or 1 with the error printed. */
int mu_model_load(const char *cmd, const rc_safetensors *st, mu_model *m);

/* A batch of B pieces, time-major and padded to the longest: step t of
 * column b reads frame t of its piece (x [T x B x 88]) and is scored on
 * frame t+1 (y, the same shape), for t < lengths[b] = n_steps - 1; mask
 * [T x B] is 1 there and 0 on the padding (where x and y are 0). */
typedef struct mu_batch {
    int T, B, cap_T, cap_B;
    float *x, *y, *mask;
    int32_t *lengths;
} mu_batch;

/* Fills b from the pieces ids[0..B) of r (each at least 2 steps long),
 * growing its buffers as needed. 0, or -1 when out of memory. */
int mu_batch_fill(mu_batch *b, const rc_pianorolls *r, const int *ids, int B);
void mu_batch_free(mu_batch *b);

/* The mean loss of one batch (rc_bce_with_logits over the unmasked
 * steps), on tape t. drop NULL: no dropout. NULL on error. */
rc_var *mu_batch_loss(rc_tape *t, mu_model *m, const mu_batch *b, rc_rng *drop);

/* The frame-level NLL of the literature over every piece of r that has
 * at least 2 steps: -sum over the predicted frames (all but each piece's
 * first) of sum over the 88 keys of log p(x_tk), divided by the number of
 * predicted frames (*n_frames, may be NULL). Batches of `batch` pieces of
 * similar length; the result does not depend on the batch size. NAN on
 * error (rc_last_error() set, or "" when out of memory). */
double mu_evaluate(mu_model *m, const rc_pianorolls *r, int batch, size_t *n_frames);

/* Reads pieces: a .mid/.midi file (one piece, at steps_per_beat steps to
 * the beat), a directory of them (a piece each, in name order), a JSON
 * list of pieces, or a JSON object of splits (split names the key). 0, or
 * 1 with the error printed. */
int mu_read_rolls(const char *cmd, const char *path, const char *split, int steps_per_beat,
                  rc_pianorolls *out);

int cmd_train_music(int argc, char **argv);
/* `recur eval MODEL DATA`: the frame-level NLL of DATA's split. */
int music_eval(const char *cmd, const rc_safetensors *st, const char *data, const char *split,
               int batch, int json);
/* `recur compose MODEL --out FILE.mid [options]`. */
int cmd_compose(int argc, char **argv);

#endif
