/* lm.h - the language-modelling task (character or word level). */
#ifndef RECUR_TASK_LM_H
#define RECUR_TASK_LM_H

#include "trainer.h"

typedef struct lm_config {
    rc_text_level level;
    rc_cell_kind cell;
    int embed, hidden, layers;
    float dropout;
} lm_config;

typedef struct lm_model {
    lm_config cfg;
    rc_vocab *vocab; /* owned */
    rc_embedding_table emb;
    rc_rnn *rnn;
    rc_linear head;
    rc_params params; /* embedding.weight, rnn.*, head.weight, head.bias */
    float *h;         /* carried state: h then c, [layers x batch x hidden] each */
    int state_batch;
} lm_model;

/* Takes ownership of vocab on success. */
int lm_model_init(lm_model *m, const lm_config *c, rc_vocab *vocab, uint64_t seed);
void lm_model_free(lm_model *m);
int lm_model_load(const char *cmd, const rc_safetensors *st, lm_model *m);
int lm_model_save(const lm_model *m, const char *path, int n_meta, const char *const *keys,
                  const char *const *vals);
/* Mean loss per token over ids, read as `batch` streams in windows of bptt. */
double lm_evaluate(lm_model *m, const int32_t *ids, size_t n, int batch, int bptt,
                   size_t *n_tokens);

int cmd_train_lm(int argc, char **argv);
/* Evaluates on data (its last `tail` fraction when tail > 0). */
int lm_eval(const char *cmd, const rc_safetensors *st, const char *data, float tail, int batch,
            int bptt, int json);
int lm_sample(const char *cmd, const rc_safetensors *st, const char *prime, int length,
              float temperature, int top_k, int seed);

#endif
