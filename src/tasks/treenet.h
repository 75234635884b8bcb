/* treenet.h - sentiment over parse trees (the Stanford Sentiment Treebank)
 * with recursive networks: a softmax classifier at every node of a tree
 * whose node vectors are composed bottom-up (docs/recursive.md). */
#ifndef RECUR_TASK_TREENET_H
#define RECUR_TASK_TREENET_H

#include "trainer.h"

typedef enum tn_kind { TN_RNN, TN_RNTN, TN_LSTM, TN_CHILDSUM } tn_kind;

/* "rnn", "rntn", "tree-lstm", "childsum-lstm". */
const char *tn_kind_name(tn_kind k);
int tn_kind_parse(const char *name, tn_kind *k);

typedef struct tn_config {
    tn_kind kind;
    int embed, hidden;
    int classes;   /* 5 (fine-grained) or 2 (binary: neutral nodes are not trained on) */
    float dropout; /* on the word vectors and on the node vectors before the classifier */
    int lowercase; /* words are lower-cased before the vocabulary */
} tn_config;

typedef struct tn_model {
    tn_config cfg;
    rc_vocab *vocab;  /* owned */
    rc_var *emb;      /* embedding.weight [V x E] */
    rc_linear leaf;   /* Tree-LSTMs: leaf.weight [3H x E], leaf.bias */
    rc_var *w, *b;    /* compose.weight, compose.bias (the sizes of the op's w and b) */
    rc_var *v;        /* RNTN: compose.tensor_u [2H x H x 2H], U; the tensor is U / (2H) */
    rc_var *wf, *bf;  /* child-sum: compose.weight_f [H x H], compose.bias_f [H] */
    rc_linear head;   /* head.weight [C x H], head.bias */
    rc_params params;
} tn_model;

/* Takes ownership of vocab on success. */
int tn_model_init(tn_model *m, const tn_config *c, rc_vocab *vocab, uint64_t seed);
void tn_model_free(tn_model *m);
int tn_model_load(const char *cmd, const rc_safetensors *st, tn_model *m);

/* Logits [n_nodes x classes] of every node of the batch (its leaves'
 * word_id set from the model's vocabulary). drop NULL: no dropout. */
rc_var *tn_forward(rc_tape *t, tn_model *m, const rc_tree_batch *b, rc_rng *drop);

/* The class a 5-way label trains as: itself, or for a binary model 0
 * (labels 0, 1), 1 (3, 4) or -1 (2: not trained on). */
int tn_target(int classes, int label);

/* Accuracies over a treebank. Fine-grained needs a 5-class model (else
 * NaN). Binary: over nodes whose gold label is not neutral, negative
 * (0, 1) against positive (3, 4); a 5-class model predicts positive when
 * p3 + p4 > p0 + p1. */
typedef struct tn_metrics {
    int trees;
    size_t nodes;
    double root_fine, all_fine;   /* fractions */
    int root_binary_n;            /* non-neutral roots */
    size_t all_binary_n;          /* non-neutral nodes */
    double root_binary, all_binary;
    double loss;                  /* mean cross-entropy per trained node */
} tn_metrics;

int tn_evaluate(tn_model *m, rc_treebank *tb, int batch, tn_metrics *out);

int cmd_train_tree(int argc, char **argv);
int treenet_eval(const char *cmd, const rc_safetensors *st, const char *data, int batch,
                 int json);
/* `recur tree MODEL [FILE]`. */
int cmd_tree(int argc, char **argv);

#endif
