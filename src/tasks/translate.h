/* translate.h - machine translation with a recurrent encoder-decoder
 * (src/nn/seq2seq.c): `recur train translate`, `recur translate`, and
 * BLEU for `recur eval`. */
#ifndef RECUR_TASK_TRANSLATE_H
#define RECUR_TASK_TRANSLATE_H

#include "trainer.h"

/* A sentence as the models see it: lower-cased (when lowercase is set:
 * ASCII and the Latin-1 letters, so "Ä" becomes "ä") and split into
 * tokens with sacreBLEU's 13a rules (punctuation apart, "&quot;" and
 * friends unescaped) when tok13a is set, else split at whitespace; tokens
 * joined by single spaces. malloc'd; NULL with rc_last_error() set. */
char *translate_tokenize(const char *line, int lowercase, int tok13a);

int cmd_train_translate(int argc, char **argv);
/* `recur translate MODEL [FILE]`. */
int cmd_translate(int argc, char **argv);
/* `recur eval MODEL SRC --ref REF`: BLEU of the model's translations. */
int translate_eval(int argc, char **argv);

#endif
