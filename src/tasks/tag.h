/* tag.h - sequence labelling (named entities): a tag per word, from word
 * embeddings and a character-level BiLSTM per word, a BiLSTM over the
 * sentence, and a linear-chain CRF or a per-token softmax on top. */
#ifndef RECUR_TASK_TAG_H
#define RECUR_TASK_TAG_H

#include "trainer.h"

typedef struct tag_config {
    rc_cell_kind cell;
    int word_dim;    /* word embedding size */
    int char_dim;    /* character embedding size (0 with char_hidden 0) */
    int char_hidden; /* per direction; 0: no character features */
    int hidden;      /* word-level recurrent layer, per direction */
    int layers;
    float dropout;
    int crf;                    /* 1: CRF layer, 0: softmax per token */
    int lower;                  /* words lower-cased for the word embedding */
    int zeros;                  /* digits read as 0 for the word embedding */
    rc_tag_scheme scheme;       /* the tags the model predicts */
    rc_tag_scheme data_scheme;  /* the tags of the training file (output default) */
} tag_config;

typedef struct tag_model {
    tag_config cfg;
    rc_vocab *words, *chars; /* owned */
    int n_tags;
    char **tags;             /* owned: K tag strings in cfg.scheme, "O" first */
    rc_embedding_table wemb, cemb;
    rc_rnn *char_rnn, *word_rnn;
    rc_linear head;
    rc_var *trans, *start, *end; /* CRF scores (NULL without the CRF) */
    rc_params params;
} tag_model;

/* Sentences of a CoNLL file (or of plain text), encoded for a model. */
typedef struct tag_data {
    rc_conll c;             /* tokens, gold tags (when there are), sentences */
    rc_tag_scheme scheme;   /* the scheme of the gold tags */
    int has_tags;
    int32_t *word;          /* [n_tokens] word ids */
    int32_t *tag;           /* [n_tokens] tag ids in the model's scheme (-1: unknown) */
    int32_t *char_off;      /* [n_tokens + 1] token i's characters are */
    int32_t *chars;         /*   chars[char_off[i] .. char_off[i+1]) */
    int max_len;            /* longest sentence */
} tag_data;

void tag_model_free(tag_model *m);
int tag_model_load(const char *cmd, const rc_safetensors *st, tag_model *m);
void tag_data_free(tag_data *d);
/* Predicted tag ids (model scheme) of every token of d, in batches of
 * `batch` sentences; 0, or 1 with an error printed. */
int tag_predict(const char *cmd, tag_model *m, const tag_data *d, int batch, int32_t *pred);

int cmd_train_ner(int argc, char **argv);
/* `recur eval MODEL DATA` for a tagger: conlleval's report. */
int tag_eval(const char *cmd, const rc_safetensors *st, const char *data, int batch, int json);
/* `recur tag MODEL [FILE]`. */
int cmd_tag(int argc, char **argv);

#endif
