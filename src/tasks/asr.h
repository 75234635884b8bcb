/* asr.h - speech recognition of spoken digits (the Free Spoken Digit
 * Dataset): MFCC features -> frame stacking -> stacked (bidirectional)
 * recurrent layers -> a per-frame softmax over blank + the ten digit words
 * trained with CTC, or a pooled encoder + classifier for isolated digits.
 * See docs/speech.md. */
#ifndef RECUR_TASK_ASR_H
#define RECUR_TASK_ASR_H

#include "trainer.h"

#include "../audio/audio.h"

#define ASR_SYMBOLS 10      /* the digit words zero .. nine */
#define ASR_MAX_DIGITS 16   /* digits in one utterance */
#define ASR_MAX_SPEAKERS 32

typedef enum asr_mode {
    ASR_CTC = 0,  /* transcription: per-frame blank + words, CTC loss */
    ASR_CLASSIFY  /* one word per utterance: mean-pooled encoder -> classifier */
} asr_mode;

/* The English word of a digit 0..9 ("zero" ...), NULL outside. */
const char *asr_word(int digit);

/* ---------------------------------------------------------- metrics -- */

/* Levenshtein distance between two sequences of ints (substitutions,
 * insertions and deletions cost 1). */
int asr_edit_distance(const int32_t *a, int na, const int32_t *b, int nb);

/* Word and character error counts of one hypothesis against its
 * reference (digit sequences; the characters are those of the words
 * joined by single spaces, "three one"). */
typedef struct asr_score {
    int64_t utterances, correct;   /* exact matches */
    int64_t word_errors, words;    /* edit distance over words, reference words */
    int64_t char_errors, chars;    /* the same over characters */
} asr_score;
void asr_score_add(asr_score *s, const int32_t *ref, int nref, const int32_t *hyp, int nhyp);
double asr_score_accuracy(const asr_score *s); /* percent */
double asr_score_wer(const asr_score *s);      /* percent */
double asr_score_cer(const asr_score *s);      /* percent */

/* -------------------------------------------------------- recordings -- */

/* A recording of the data set, named "{digit}_{speaker}_{index}.wav". */
typedef struct asr_recording {
    int digit, speaker, index;
    float *x; /* samples at the corpus rate */
    size_t n;
} asr_recording;

typedef struct asr_corpus {
    int n;
    asr_recording *rec;  /* sorted by file name */
    int n_speakers;
    char speaker[ASR_MAX_SPEAKERS][32]; /* sorted by name */
    int rate;
} asr_corpus;

/* Parses "D_SPEAKER_I.wav" (any directory part ignored): 0, or -1 when
 * the name is not in that pattern. speaker gets at most n-1 bytes. */
int asr_parse_name(const char *path, int *digit, char *speaker, size_t n, int *index);
/* Reads every file in dir named in the pattern, resampled to rate.
 * Returns 0, or 1 with an error printed (naming the file). */
int asr_corpus_read(const char *cmd, const char *dir, int rate, asr_corpus *c);
void asr_corpus_free(asr_corpus *c);
/* The speaker's id, or -1. */
int asr_corpus_speaker(const asr_corpus *c, const char *name);

/* Where a recording goes: the official split puts index 0-4 of every
 * speaker and digit in the test set; validation takes indices
 * valid_lo..valid_hi; the rest trains. With a held-out speaker, all of
 * that speaker's recordings are the test set, the others' index 0-4
 * validate and the rest train. */
enum { ASR_TRAIN = 0, ASR_VALID, ASR_TEST };
typedef struct asr_split {
    int hold_out;          /* speaker id, or -1 */
    int valid_lo, valid_hi;
} asr_split;
int asr_role(const asr_split *sp, const asr_recording *r);

/* --------------------------------------------------------- utterances -- */

/* An utterance: recordings of one speaker joined with pauses (in samples)
 * before the first, between, and after the last; pauses hold faint
 * Gaussian noise drawn from noise_seed. One recording without pauses is
 * an isolated digit exactly as recorded. */
typedef struct asr_example {
    int n;
    int rec[ASR_MAX_DIGITS];
    int pause[ASR_MAX_DIGITS + 1];
    uint64_t noise_seed;
    float speed;    /* played this much faster (speed perturbation); 0 or 1: as recorded */
    size_t samples; /* total length (before any change of speed) */
} asr_example;

/* How connected utterances are drawn. */
typedef struct asr_gen {
    int min_digits, max_digits;   /* 2 .. 7 */
    int pause_min_ms, pause_max_ms; /* between digits */
    int edge_max_ms;              /* before the first and after the last: 0 .. this */
} asr_gen;

/* Utterance i (0-based) of a set: a speaker drawn among those with
 * recordings of the role, n digits, each a random recording of that
 * speaker and digit in the role, random pauses; a function of (seed, i)
 * only, so the same seed makes the same set. Returns 0, or -1 when the
 * role has no recordings. */
int asr_make_connected(const asr_corpus *c, const asr_split *sp, int role, const asr_gen *g,
                       uint64_t seed, int64_t i, asr_example *out);
/* The utterance's samples (malloc'd; *n of them: ex->samples, or about
 * ex->samples / ex->speed with a change of speed); NULL when out of
 * memory or the speed is out of range. */
float *asr_synthesize(const asr_corpus *c, const asr_example *ex, size_t *n);

/* ------------------------------------------------------------- model -- */

typedef struct asr_config {
    asr_mode mode;
    rc_cell_kind cell;
    int hidden, layers, bidirectional;
    int subsample;        /* k: k consecutive feature frames are one model step */
    float dropout;
    int rate;             /* samples per second the features are computed at */
    audio_feature_config feat;
    int feat_dims;        /* per frame, before stacking */
    /* Normalisation: per utterance (feat.no_cmvn 0), or global (no_cmvn
     * 1 and these set): x_d <- (x_d - mean_d) / sd_d with the training
     * set's statistics (per-utterance normalisation of a single short word
     * removes its average spectrum, which tells words apart). */
    int global_norm;
    float *mean, *sd;     /* feat_dims each; owned by the model */
} asr_config;

typedef struct asr_model {
    asr_config cfg;
    rc_rnn *rnn;
    rc_linear head;
    rc_params params;
} asr_model;

/* Outputs of the head: blank + 10 words (CTC; the blank is id 0, digit d
 * is d + 1), or 10 classes. */
int asr_classes(const asr_config *c);
int asr_model_init(asr_model *m, const asr_config *c, uint64_t seed);
void asr_model_free(asr_model *m);

/* Features of samples: MFCC (+ deltas, normalised) with k frames stacked
 * into one step: *out is steps x (k * feat_dims), zero-padded at the end.
 * Returns 0, or -1 with audio_last_error() set. */
int asr_features(const asr_config *c, const float *x, size_t n, float **out, int *steps);

/* Log-probabilities (CTC: [T x B x C]) or class logits ([B x C]) of a
 * padded batch x [T x B x D] with lengths; NULL on error. */
rc_var *asr_forward(rc_tape *t, asr_model *m, rc_var *x, const int32_t *lengths, rc_rng *drop);

/* ------------------------------------------------------------ commands -- */

int cmd_train_asr(int argc, char **argv);
/* `recur eval MODEL DIR`: the model's test set drawn from DIR (split
 * "test", "valid", or "all": every recording). */
int asr_eval(const char *cmd, const rc_safetensors *st, const char *data, const char *split,
             int batch, int json);
/* `recur transcribe MODEL FILE...`. */
int cmd_transcribe(int argc, char **argv);

#endif
