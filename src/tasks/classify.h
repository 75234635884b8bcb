/* classify.h - sequence classification (many-to-one): a recurrent encoder
 * over tokens or feature vectors, pooled over time into one vector, then a
 * linear classifier. Recipes for SST sentence sentiment, DNA splice
 * junctions (with k-fold cross-validation) and MSR Action3D skeletons.
 * See docs/classification.md. */
#ifndef RECUR_TASK_CLASSIFY_H
#define RECUR_TASK_CLASSIFY_H

#include "trainer.h"

/* How the encoder's outputs become one vector per sequence. */
typedef enum cls_pool {
    CLS_POOL_LAST,     /* the final state (both directions' when bidirectional) */
    CLS_POOL_MEAN,     /* mean over the valid steps */
    CLS_POOL_MAX,      /* maximum over the valid steps, per feature */
    CLS_POOL_ATTENTION /* attention weights a_t = softmax_t(v . tanh(W y_t + b)) */
} cls_pool;

/* Where the examples come from (and so how `recur classify` reads input). */
typedef enum cls_format { CLS_FMT_SST, CLS_FMT_SPLICE, CLS_FMT_SKELETON } cls_format;

/* A labelled set of variable-length sequences, stored back to back:
 * example i has len[i] steps starting at step off[i], each step a token id
 * (tok) or `feat` floats (x). */
typedef struct cls_data {
    int n, cap;
    int feat;          /* 0: token ids; else floats per step */
    int32_t *label, *len;
    size_t *off;
    size_t steps, cap_steps;
    int32_t *tok;
    float *x;
} cls_data;

void cls_data_free(cls_data *d);
/* Appends one example (tok or x holds len steps). Returns 0 or -1 (out of memory). */
int cls_data_push(cls_data *d, int label, int len, const int32_t *tok, const float *x);

typedef struct cls_config {
    cls_format format;
    int fine;          /* SST: 5 classes (else binary, neutral dropped) */
    int n_classes;
    int input_dim;     /* features per step; 0 for tokens */
    int embed;         /* tokens: embedding size */
    rc_cell_kind cell;
    int hidden, layers, bidirectional;
    float dropout;     /* between layers and before the classifier */
    float input_dropout;
    cls_pool pool;
    int attn;          /* attention size */
    int velocity;      /* skeleton: frame-to-frame differences as more features */
    int position;      /* features added for the step's position: 0; 1 the relative
                          position 2t/(L-1) - 1; RC_SPLICE_LEN (splice) one-hot of t */
    int context;       /* splice: each step also sees the `context` bases on either side */
    int lowercase;     /* SST: words lower-cased (A-Z) before the vocabulary sees them */
    float word_dropout; /* SST, training only: each word becomes <unk> with this probability */
    float embed_sd;    /* SST: embeddings start as N(0, embed_sd^2) (0 or 1: N(0, 1)) */
} cls_config;

typedef struct cls_model {
    cls_config cfg;
    rc_vocab *vocab;   /* tokens (owned) */
    rc_embedding_table emb;
    rc_rnn *rnn;
    rc_linear attn_proj; /* attention: W [A x D], b [A] */
    rc_var *attn_v;      /* attention: v [A] */
    rc_linear head;
    rc_params params;
    /* features: standardised as (x - norm_mean) / norm_sd before the
     * encoder when set (input_dim floats each, owned); NULL: as they are */
    float *norm_mean, *norm_sd;
} cls_model;

/* Takes ownership of vocab on success. */
int cls_model_init(cls_model *m, const cls_config *c, rc_vocab *vocab, uint64_t seed);
void cls_model_free(cls_model *m);
/* The class names of a configuration ("EI", "IE", "N" ...). */
const char *cls_class_name(const cls_config *c, int k);

/* Logits [B x K] of examples idx[0..B) of d on tape t (training mode and
 * dropout as the tape says; drop may be NULL when not training). *attn
 * (may be NULL) gets the attention weights [B x T] with attention pooling. */
rc_var *cls_forward(rc_tape *t, cls_model *m, const cls_data *d, const int *idx, int B,
                    rc_rng *drop, rc_var **attn);

/* Metrics over a set. conf[g * K + p] counts gold class g predicted as p. */
typedef struct cls_metrics {
    int K;
    int64_t n;
    double loss, accuracy, macro_f1;
    int64_t conf[64 * 64];
} cls_metrics;

/* Class probabilities of every example (probs [n x K], may be NULL) and
 * the metrics against the labels. Returns 0, or -1 with rc_last_error(). */
int cls_evaluate(cls_model *m, const cls_data *d, float *probs, cls_metrics *out);
/* Accuracy, macro F1 from a confusion matrix (n, K, conf set). */
void cls_metrics_finish(cls_metrics *r);

int cmd_train_classify(int argc, char **argv);
/* `recur eval` on a classifier: metrics and the confusion matrix on stdout,
 * the matrix drawn into confusion_png when it is not NULL. */
int classify_eval(const char *cmd, const rc_safetensors *st, const char *data, int json,
                  const char *confusion_png);
/* `recur classify MODEL [INPUT...]` */
int cmd_classify(int argc, char **argv);

#endif
