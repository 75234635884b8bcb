/* translate.c - machine translation: parallel text in, an encoder-decoder
 * with attention (src/nn/seq2seq.c) trained on it, translations and BLEU
 * out.
 *
 * Data: two files, line i of --src translated by line i of --tgt. Every
 * line is lower-cased and tokenized (translate_tokenize), words seen fewer
 * than --min-freq times become <unk>, and each sentence ends with <eos>.
 * Training batches hold sentences of similar length (the pairs sorted by
 * source then target length and cut into batches, the batch order shuffled
 * every epoch from the seed), so that little of each batch is padding.
 * Validation after each epoch (or --eval-every steps) measures the
 * teacher-forced loss and the BLEU of greedy translations of the
 * validation set; the model kept is the one with the best BLEU, and
 * --patience counts validations without a better BLEU. */
#define _POSIX_C_SOURCE 200809L
#include "translate.h"

#include "../plot/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- tokenizing -- */

/* Lower case of ASCII and of the Latin-1 capitals U+00C0..U+00DE (but
 * U+00D7, the multiplication sign): in UTF-8 these are C3 80..C3 9E and
 * their small letters C3 A0..C3 BE. */
static void lowercase_utf8(char *s)
{
    unsigned char *p = (unsigned char *)s;
    for (; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') *p = (unsigned char)(*p + 32);
        else if (*p == 0xC3 && p[1] >= 0x80 && p[1] <= 0x9E && p[1] != 0x97) {
            p[1] = (unsigned char)(p[1] + 0x20);
            p++;
        }
    }
}

char *translate_tokenize(const char *line, int lowercase, int tok13a)
{
    char *out = NULL;
    if (rc_bleu_tokenize(line, tok13a ? RC_BLEU_TOK_13A : RC_BLEU_TOK_NONE, &out) != RC_OK)
        return NULL;
    if (lowercase) lowercase_utf8(out);
    return out;
}

/* ------------------------------------------------------------- data -- */

/* Lines of a text file (without their '\n'), pointers into *text. */
static int read_lines(const char *cmd, const char *path, char **text, char ***lines, int *n)
{
    size_t len;
    *lines = NULL;
    *n = 0;
    if (rc_text_read(path, text, &len) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += (*text)[i] == '\n';
    *lines = malloc((size_t)cap * sizeof **lines);
    if (!*lines) return cli_error(cmd, "out of memory");
    char *p = *text, *end = *text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl) *nl = '\0';
        (*lines)[(*n)++] = p;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Sentences as ids, each ending with <eos>: sentence i is
 * ids[off[i] .. off[i+1]). */
typedef struct corpus {
    int n;
    int32_t *ids;
    size_t *off;
    char **tok; /* the tokenized lines (kept for references and vocabularies) */
} corpus;

static void corpus_free(corpus *c)
{
    if (c->tok)
        for (int i = 0; i < c->n; i++) free(c->tok[i]);
    free(c->tok);
    free(c->ids);
    free(c->off);
    memset(c, 0, sizeof *c);
}

static int corpus_len(const corpus *c, int i) { return (int)(c->off[i + 1] - c->off[i]); }

/* Tokenizes the lines. */
static int corpus_tokenize(const char *cmd, const char *path, char **lines, int n, int lowercase,
                           int tok13a, corpus *c)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->tok = calloc((size_t)(n ? n : 1), sizeof *c->tok);
    if (!c->tok) return cli_error(cmd, "out of memory");
    for (int i = 0; i < n; i++)
        if (!(c->tok[i] = translate_tokenize(lines[i], lowercase, tok13a)))
            return cli_error(cmd, "%s:%d: %s", path, i + 1, rc_last_error());
    return 0;
}

/* All tokenized lines, one a line (for building a vocabulary). */
static char *corpus_join(const corpus *c, size_t *len)
{
    size_t n = 1;
    for (int i = 0; i < c->n; i++) n += strlen(c->tok[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < c->n; i++) {
        size_t k = strlen(c->tok[i]);
        memcpy(p, c->tok[i], k);
        p += k;
        *p++ = '\n';
    }
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

/* Ids of every tokenized line; *n_unk counts the words not in v. */
static int corpus_encode(const char *cmd, corpus *c, const rc_vocab *v, size_t *n_unk)
{
    size_t cap = 1024, used = 0;
    c->ids = malloc(cap * sizeof *c->ids);
    c->off = malloc((size_t)(c->n + 1) * sizeof *c->off);
    if (!c->ids || !c->off) return cli_error(cmd, "out of memory");
    *n_unk = 0;
    for (int i = 0; i < c->n; i++) {
        c->off[i] = used;
        int32_t *ids = NULL;
        size_t n = 0, unk = 0;
        if (*c->tok[i] &&
            rc_vocab_encode(v, c->tok[i], strlen(c->tok[i]), &ids, &n, &unk) != RC_OK)
            return cli_error(cmd, "%s", rc_last_error());
        /* exactly one <eos>, at the end */
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (ids[j] != RC_VOCAB_EOS) ids[k++] = ids[j];
        if (used + k + 1 > cap) {
            while (used + k + 1 > cap) cap *= 2;
            int32_t *g = realloc(c->ids, cap * sizeof *g);
            if (!g) {
                free(ids);
                return cli_error(cmd, "out of memory");
            }
            c->ids = g;
        }
        if (k) memcpy(c->ids + used, ids, k * sizeof *ids);
        used += k;
        c->ids[used++] = RC_VOCAB_EOS;
        *n_unk += unk;
        free(ids);
    }
    c->off[c->n] = used;
    return 0;
}

/* ----------------------------------------------------------- batches -- */

typedef struct batch {
    int B, S, T;
    int32_t *src, *src_len, *tgt, *tgt_len; /* [S x B], [B], [T x B], [B] */
} batch;

static void batch_free(batch *b)
{
    free(b->src);
    free(b->src_len);
    free(b->tgt);
    free(b->tgt_len);
    memset(b, 0, sizeof *b);
}

/* Fills b with pairs idx[0..B) (tgt may be NULL: sources only). */
static int batch_fill(batch *b, const corpus *src, const corpus *tgt, const int *idx, int B)
{
    int S = 1, T = 1;
    for (int i = 0; i < B; i++) {
        int ls = corpus_len(src, idx[i]), lt = tgt ? corpus_len(tgt, idx[i]) : 1;
        S = ls > S ? ls : S;
        T = lt > T ? lt : T;
    }
    batch_free(b);
    b->B = B, b->S = S, b->T = T;
    b->src = calloc((size_t)S * B, sizeof *b->src);
    b->src_len = malloc((size_t)B * sizeof *b->src_len);
    b->tgt = malloc((size_t)T * B * sizeof *b->tgt);
    b->tgt_len = malloc((size_t)B * sizeof *b->tgt_len);
    if (!b->src || !b->src_len || !b->tgt || !b->tgt_len) return -1;
    for (int i = 0; i < B; i++) {
        int ls = corpus_len(src, idx[i]);
        b->src_len[i] = ls;
        for (int s = 0; s < ls; s++) b->src[s * B + i] = src->ids[src->off[idx[i]] + (size_t)s];
        int lt = tgt ? corpus_len(tgt, idx[i]) : 1;
        b->tgt_len[i] = lt;
        for (int s = 0; s < T; s++)
            b->tgt[s * B + i] = tgt && s < lt ? tgt->ids[tgt->off[idx[i]] + (size_t)s] : RC_VOCAB_EOS;
    }
    return 0;
}

/* Sorting pairs by length: the source's, then the target's, then the line. */
static const corpus *sort_src, *sort_tgt;
static int by_length(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int d = corpus_len(sort_src, i) - corpus_len(sort_src, j);
    if (!d && sort_tgt) d = corpus_len(sort_tgt, i) - corpus_len(sort_tgt, j);
    return d ? d : i - j;
}

static void sort_by_length(int *idx, int n, const corpus *src, const corpus *tgt)
{
    sort_src = src;
    sort_tgt = tgt;
    qsort(idx, (size_t)n, sizeof *idx, by_length);
}

/* ------------------------------------------------------ model files -- */

typedef struct tr_model {
    rc_seq2seq *net;
    rc_vocab *src_vocab, *tgt_vocab;
    int lowercase, tok13a;
} tr_model;

static void tr_model_free(tr_model *m)
{
    rc_seq2seq_free(m->net);
    rc_vocab_free(m->src_vocab);
    rc_vocab_free(m->tgt_vocab);
    memset(m, 0, sizeof *m);
}

static int model_meta(const tr_model *m, meta_list *ml, char **sj, char **tj)
{
    const rc_seq2seq_config *c = &m->net->cfg;
    if (rc_vocab_to_json(m->src_vocab, sj) != RC_OK || rc_vocab_to_json(m->tgt_vocab, tj) != RC_OK)
        return -1;
    meta_add_header(ml, "translate");
    meta_add(ml, "enc_cell", train_cell_name(c->enc_cell));
    meta_add(ml, "dec_cell", train_cell_name(c->dec_cell));
    meta_addf(ml, "embed", "%.9g", c->embed);
    meta_addf(ml, "enc_hidden", "%.9g", c->enc_hidden);
    meta_addf(ml, "enc_layers", "%.9g", c->enc_layers);
    meta_add(ml, "bidirectional", c->bidirectional ? "true" : "false");
    meta_addf(ml, "dec_hidden", "%.9g", c->dec_hidden);
    meta_addf(ml, "dec_layers", "%.9g", c->dec_layers);
    meta_add(ml, "attention", rc_attn_name(c->attention));
    meta_addf(ml, "attn_size", "%.9g", c->attn_size);
    meta_add(ml, "input_feeding", c->input_feeding ? "true" : "false");
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_add(ml, "lowercase", m->lowercase ? "true" : "false");
    meta_add(ml, "tokenize", m->tok13a ? "13a" : "none");
    meta_add(ml, "src_vocab", *sj);
    meta_add(ml, "tgt_vocab", *tj);
    return 0;
}

static int tr_model_save(const tr_model *m, const char *path)
{
    meta_list ml = {0};
    char *sj = NULL, *tj = NULL;
    int r = 0;
    if (model_meta(m, &ml, &sj, &tj) ||
        rc_checkpoint_save(path, &m->net->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v) != RC_OK)
        r = cli_error("train translate", "%s", rc_last_error());
    free(sj);
    free(tj);
    return r;
}

static int tr_model_load(const char *cmd, const rc_safetensors *st, tr_model *m)
{
    memset(m, 0, sizeof *m);
    if (train_model_check(cmd, st, "translate", "translation model")) return 1;
    const char *path = rc_safetensors_path(st);
    rc_seq2seq_config c;
    memset(&c, 0, sizeof c);
    const char *ec = rc_safetensors_meta(st, "enc_cell"), *dc = rc_safetensors_meta(st, "dec_cell");
    const char *at = rc_safetensors_meta(st, "attention"), *tk = rc_safetensors_meta(st, "tokenize");
    if (train_cell_kind(ec, &c.enc_cell) || train_cell_kind(dc, &c.dec_cell))
        return cli_error(cmd, "%s: metadata 'enc_cell'/'dec_cell' is %s/%s", path,
                         ec ? ec : "missing", dc ? dc : "missing");
    if (rc_attn_parse(at, &c.attention))
        return cli_error(cmd, "%s: metadata 'attention' is %s", path, at ? at : "missing");
    if (!tk || (strcmp(tk, "13a") && strcmp(tk, "none")))
        return cli_error(cmd, "%s: metadata 'tokenize' is %s", path, tk ? tk : "missing");
    m->tok13a = !strcmp(tk, "13a");
    if (rc_safetensors_meta_int(st, "embed", 1, 1 << 20, &c.embed) ||
        rc_safetensors_meta_int(st, "enc_hidden", 1, 1 << 20, &c.enc_hidden) ||
        rc_safetensors_meta_int(st, "enc_layers", 1, 100, &c.enc_layers) ||
        rc_safetensors_meta_int(st, "dec_hidden", 1, 1 << 20, &c.dec_hidden) ||
        rc_safetensors_meta_int(st, "dec_layers", 1, RC_S2S_MAX_LAYERS, &c.dec_layers) ||
        rc_safetensors_meta_int(st, "attn_size", 0, 1 << 20, &c.attn_size) ||
        rc_safetensors_meta_bool(st, "bidirectional", &c.bidirectional) ||
        rc_safetensors_meta_bool(st, "input_feeding", &c.input_feeding) ||
        rc_safetensors_meta_bool(st, "lowercase", &m->lowercase) ||
        rc_safetensors_meta_float(st, "dropout", &c.dropout))
        return cli_error(cmd, "%s", rc_last_error());
    const char *sj = rc_safetensors_meta(st, "src_vocab"), *tj = rc_safetensors_meta(st, "tgt_vocab");
    if (!sj || !tj) return cli_error(cmd, "%s: no vocabularies in the model file", path);
    if (rc_vocab_from_json(sj, &m->src_vocab) != RC_OK ||
        rc_vocab_from_json(tj, &m->tgt_vocab) != RC_OK) {
        tr_model_free(m);
        return cli_error(cmd, "%s: %s", path, rc_last_error());
    }
    c.src_vocab = rc_vocab_size(m->src_vocab);
    c.tgt_vocab = rc_vocab_size(m->tgt_vocab);
    c.eos = RC_VOCAB_EOS;
    if (rc_seq2seq_new(&c, 0, &m->net) != RC_OK ||
        rc_checkpoint_load_params(st, &m->net->params) != RC_OK) {
        tr_model_free(m);
        return cli_error(cmd, "%s: %s", path, rc_last_error());
    }
    return 0;
}

/* --------------------------------------------------------- decoding -- */

typedef struct decode_opts {
    int beam, n_best, batch, max_len, sample, seed;
    float alpha, temperature;
} decode_opts;

/* Translates every sentence of src (sorted by length into batches, the
 * results put back in order): hyps[i * n_best + j] is the j-th best of
 * sentence i as space-joined target words (malloc'd), scores likewise
 * (beam search; NaN otherwise). Returns 0, or 1 with an error printed. */
static int translate_corpus(const char *cmd, tr_model *m, const corpus *src, const decode_opts *d,
                            char **hyps, float *scores, int32_t **best_ids, int32_t *best_len)
{
    int n = src->n, nb = d->sample ? 1 : d->n_best, K = d->sample ? 1 : d->beam;
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    int ML = d->max_len, B = d->batch;
    int32_t *out = malloc((size_t)B * nb * ML * sizeof *out), *ol = malloc((size_t)B * nb * sizeof *ol);
    float *sc = malloc((size_t)B * nb * sizeof *sc);
    batch bt = {0};
    int ret = 1;
    if (!idx || !out || !ol || !sc) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_by_length(idx, n, src, NULL);
    for (int i0 = 0; i0 < n; i0 += B) {
        int b = n - i0 < B ? n - i0 : B;
        if (batch_fill(&bt, src, NULL, idx + i0, b)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        rc_status s;
        if (d->sample)
            s = rc_seq2seq_sample(m->net, bt.src, bt.src_len, bt.S, b, ML, d->temperature,
                                  (uint64_t)d->seed + (uint64_t)i0, out, ol);
        else if (K == 1)
            s = rc_seq2seq_greedy(m->net, bt.src, bt.src_len, bt.S, b, ML, out, ol);
        else
            s = rc_seq2seq_beam(m->net, bt.src, bt.src_len, bt.S, b, ML, K, nb, d->alpha, out, ol,
                                sc);
        if (s != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        for (int j = 0; j < b; j++)
            for (int k = 0; k < nb; k++) {
                int row = j * nb + k, sent = idx[i0 + j];
                const int32_t *ids = out + (size_t)row * ML;
                char *text = NULL;
                if (ol[row] == 0) {
                    text = calloc(1, 1);
                } else if (rc_vocab_decode(m->tgt_vocab, ids, (size_t)ol[row], &text) != RC_OK) {
                    cli_error(cmd, "%s", rc_last_error());
                    goto done;
                }
                if (!text) {
                    cli_error(cmd, "out of memory");
                    goto done;
                }
                hyps[(size_t)sent * nb + k] = text;
                if (scores) scores[(size_t)sent * nb + k] = (!d->sample && K > 1) ? sc[row] : NAN;
                if (k == 0 && best_ids) {
                    best_ids[sent] = malloc((size_t)(ol[row] + 1) * sizeof(int32_t));
                    if (!best_ids[sent]) {
                        cli_error(cmd, "out of memory");
                        goto done;
                    }
                    memcpy(best_ids[sent], ids, (size_t)ol[row] * sizeof(int32_t));
                    best_len[sent] = ol[row];
                }
            }
    }
    ret = 0;
done:
    batch_free(&bt);
    free(idx);
    free(out);
    free(ol);
    free(sc);
    return ret;
}

/* Corpus BLEU of hypotheses against tokenized references (both already in
 * the model's tokens, so the BLEU tokenizer is "none"). */
static int corpus_bleu(const char *cmd, char **hyps, int stride, char **refs, int n,
                       rc_bleu_score *out)
{
    const char **h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (!h) return cli_error(cmd, "out of memory");
    for (int i = 0; i < n; i++) h[i] = hyps[(size_t)i * stride];
    const char *const *r[1] = {(const char *const *)refs};
    rc_bleu_config bc = rc_bleu_defaults();
    bc.tokenize = RC_BLEU_TOK_NONE;
    rc_status s = rc_bleu_corpus(h, (size_t)n, r, 1, &bc, out);
    free(h);
    return s == RC_OK ? 0 : cli_error(cmd, "%s", rc_last_error());
}

static void free_strings(char **s, size_t n)
{
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Greedy BLEU and teacher-forced loss on a validation corpus. */
static int validate(const char *cmd, tr_model *m, const corpus *vs, const corpus *vt, int B,
                    double *loss, double *bleu)
{
    int n = vs->n;
    char **hyps = calloc((size_t)n, sizeof *hyps);
    int *idx = malloc((size_t)n * sizeof *idx);
    rc_tape *t = rc_tape_new();
    batch bt = {0};
    int ret = 1;
    if (!hyps || !idx || !t) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_by_length(idx, n, vs, vt);
    double sum = 0, count = 0;
    for (int i0 = 0; i0 < n; i0 += B) {
        int b = n - i0 < B ? n - i0 : B;
        if (batch_fill(&bt, vs, vt, idx + i0, b)) goto done;
        rc_tape_reset(t);
        rc_var *l = rc_seq2seq_loss(t, m->net, bt.src, bt.src_len, bt.S, bt.tgt, bt.tgt_len, bt.T,
                                    b, NULL);
        if (!l) {
            cli_error(cmd, "validation: %s", rc_last_error());
            goto done;
        }
        double words = 0;
        for (int j = 0; j < b; j++) words += bt.tgt_len[j];
        sum += l->value.data[0] * words;
        count += words;
    }
    *loss = sum / count;
    decode_opts d = {1, 1, B, 100, 0, 0, 0.0f, 1.0f};
    rc_bleu_score sc;
    if (translate_corpus(cmd, m, vs, &d, hyps, NULL, NULL, NULL) ||
        corpus_bleu(cmd, hyps, 1, vt->tok, n, &sc))
        goto done;
    *bleu = sc.score;
    ret = 0;
done:
    batch_free(&bt);
    rc_tape_free(t);
    free(idx);
    free_strings(hyps, (size_t)n);
    return ret;
}

/* ---------------------------------------------------------- training -- */

static int read_pairs(const char *cmd, const char *sp, const char *tp, int lowercase, int tok13a,
                      corpus *src, corpus *tgt)
{
    char *st = NULL, *tt = NULL, **sl = NULL, **tl = NULL;
    int ns, nt, r = 1;
    memset(src, 0, sizeof *src);
    memset(tgt, 0, sizeof *tgt);
    if (read_lines(cmd, sp, &st, &sl, &ns) || read_lines(cmd, tp, &tt, &tl, &nt)) goto done;
    if (ns != nt) {
        cli_error(cmd, "%s has %d lines but %s has %d: the files must be line-aligned", sp, ns,
                  tp, nt);
        goto done;
    }
    if (ns == 0) {
        cli_error(cmd, "%s: no sentences", sp);
        goto done;
    }
    if (corpus_tokenize(cmd, sp, sl, ns, lowercase, tok13a, src) ||
        corpus_tokenize(cmd, tp, tl, nt, lowercase, tok13a, tgt))
        goto done;
    r = 0;
done:
    free(st);
    free(tt);
    free(sl);
    free(tl);
    return r;
}

int cmd_train_translate(int argc, char **argv)
{
    const char *cmd = "train translate";
    train_opts o;
    train_opts_defaults(&o);
    o.cell = "gru";
    o.hidden = 256;
    o.bidirectional = 1;
    o.batch = 64;
    o.lr = 1e-3f;
    o.epochs = 10;
    const char *src_path = NULL, *tgt_path = NULL, *vsrc_path = NULL, *vtgt_path = NULL;
    const char *attention = "general", *dec_cell = NULL, *tokenize = "13a";
    int embed = 256, dec_hidden = 0, dec_layers = 1, attn_size = 0, min_freq = 2, max_len = 100;
    int no_feeding = 0, keep_case = 0, valid_batch = 64;
    cli_option opts[72] = {
        {"src", CLI_STRING, &src_path, "source sentences, one a line (UTF-8)"},
        {"tgt", CLI_STRING, &tgt_path, "their translations, line by line"},
        {"valid-src", CLI_STRING, &vsrc_path, "validation source sentences"},
        {"valid-tgt", CLI_STRING, &vtgt_path, "validation translations"},
        {"embed", CLI_INT, &embed, "embedding size (both languages; default 256)"},
        {"dec-cell", CLI_STRING, &dec_cell, "decoder cell (default: --cell)"},
        {"dec-hidden", CLI_INT, &dec_hidden, "decoder hidden size (default: --hidden)"},
        {"dec-layers", CLI_INT, &dec_layers, "decoder layers (default 1)"},
        {"attention", CLI_STRING, &attention, "none | dot | general | additive (default general)"},
        {"attn-size", CLI_INT, &attn_size, "additive attention's hidden size (default: decoder's)"},
        {"no-input-feeding", CLI_FLAG, &no_feeding, "do not feed ~h_{t-1} into the decoder"},
        {"min-freq", CLI_INT, &min_freq, "rarer words become <unk> (default 2)"},
        {"max-len", CLI_INT, &max_len, "leave out training pairs longer than this (default 100)"},
        {"tokenize", CLI_STRING, &tokenize, "13a (split punctuation) | none (pre-tokenized)"},
        {"keep-case", CLI_FLAG, &keep_case, "do not lower-case"},
        {"valid-batch", CLI_INT, &valid_batch, "sentences per validation batch (default 64)"},
    };
    int n_opts = train_opts_declare(&o, opts, 16);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train translate --src FILE --tgt FILE --valid-src FILE --valid-tgt FILE\n"
        "                             --out MODEL [options]\n"
        "\n"
        "Trains an encoder-decoder (--cell, --hidden, --layers, --bidirectional for the\n"
        "encoder; --dec-* for the decoder) with attention on line-aligned parallel text.\n"
        "Validation measures the loss and the BLEU of greedy translations; MODEL keeps\n"
        "the best BLEU, MODEL.ckpt everything needed to --resume, MODEL.loss.png the\n"
        "loss curves. Defaults: GRU 256, bidirectional encoder, general attention with\n"
        "input feeding, embeddings 256, batch 64, Adam 1e-3, 10 epochs.\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "translate", "translation", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    rc_cell_kind ecell, dcell;
    rc_attn_kind akind;
    corpus src = {0}, tgt = {0}, vsrc = {0}, vtgt = {0};
    tr_model m = {0};
    trainer tr;
    int *order = NULL, *perm = NULL;
    int64_t *bstart = NULL;
    char *ckpt = NULL;
    rc_tape *t = NULL;
    batch bt = {0};
    train_opts to; /* the trainer's copy: patience is ours (on BLEU) */

    if (train_opts_check(cmd, &o, &ecell)) goto done;
    /* What the checkpoint's weights and vocabularies were made with. */
    static const char *const fixed[] = {"cell",      "hidden",     "layers",
                                        "bidirectional", "embed", "dec-cell",
                                        "dec-hidden", "dec-layers", "attention",
                                        "attn-size", "no-input-feeding", "min-freq",
                                        "tokenize",  "keep-case",  NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!src_path || !tgt_path || !vsrc_path || !vtgt_path) {
        cli_error(cmd, "--src, --tgt, --valid-src and --valid-tgt are required");
        goto done;
    }
    dcell = ecell;
    if (dec_cell && train_cell_kind(dec_cell, &dcell)) {
        cli_error(cmd, "--dec-cell must be rnn, rnn_relu, lstm or gru, not '%s'", dec_cell);
        goto done;
    }
    if (rc_attn_parse(attention, &akind)) {
        cli_error(cmd, "--attention must be none, dot, general or additive, not '%s'", attention);
        goto done;
    }
    if (strcmp(tokenize, "13a") && strcmp(tokenize, "none")) {
        cli_error(cmd, "--tokenize must be 13a or none, not '%s'", tokenize);
        goto done;
    }
    if (embed < 1 || dec_hidden < 0 || dec_layers < 1 || dec_layers > RC_S2S_MAX_LAYERS ||
        attn_size < 0 || min_freq < 1 || max_len < 1 || valid_batch < 1) {
        cli_error(cmd, "--embed, --dec-layers (1..%d), --min-freq, --max-len and --valid-batch "
                  "must be at least 1; --dec-hidden and --attn-size at least 0", RC_S2S_MAX_LAYERS);
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;
    m.lowercase = !keep_case;
    m.tok13a = !strcmp(tokenize, "13a");
    if (read_pairs(cmd, src_path, tgt_path, m.lowercase, m.tok13a, &src, &tgt) ||
        read_pairs(cmd, vsrc_path, vtgt_path, m.lowercase, m.tok13a, &vsrc, &vtgt))
        goto done;
    if (ck) {
        const char *sj = rc_safetensors_meta(ck, "src_vocab"), *tj = rc_safetensors_meta(ck, "tgt_vocab");
        if (!sj || !tj || rc_vocab_from_json(sj, &m.src_vocab) != RC_OK ||
            rc_vocab_from_json(tj, &m.tgt_vocab) != RC_OK) {
            cli_error(cmd, "%s: %s", o.resume, sj && tj ? rc_last_error() : "no vocabularies");
            goto done;
        }
    } else {
        for (int side = 0; side < 2; side++) {
            size_t len;
            char *all = corpus_join(side ? &tgt : &src, &len);
            if (!all) {
                cli_error(cmd, "out of memory");
                goto done;
            }
            rc_status s = rc_vocab_build(all, len, RC_TEXT_WORD, min_freq, 0,
                                         side ? &m.tgt_vocab : &m.src_vocab);
            free(all);
            if (s != RC_OK) {
                cli_error(cmd, "%s: %s", side ? tgt_path : src_path, rc_last_error());
                goto done;
            }
        }
    }
    size_t unk[4];
    if (corpus_encode(cmd, &src, m.src_vocab, &unk[0]) ||
        corpus_encode(cmd, &tgt, m.tgt_vocab, &unk[1]) ||
        corpus_encode(cmd, &vsrc, m.src_vocab, &unk[2]) ||
        corpus_encode(cmd, &vtgt, m.tgt_vocab, &unk[3]))
        goto done;

    rc_seq2seq_config c = rc_seq2seq_defaults(rc_vocab_size(m.src_vocab),
                                              rc_vocab_size(m.tgt_vocab), embed, o.hidden);
    c.enc_cell = ecell;
    c.enc_layers = o.layers;
    c.bidirectional = o.bidirectional;
    c.dec_cell = dcell;
    c.dec_hidden = dec_hidden ? dec_hidden : o.hidden;
    c.dec_layers = dec_layers;
    c.attention = akind;
    c.attn_size = attn_size ? attn_size : c.dec_hidden;
    c.input_feeding = !no_feeding;
    c.dropout = o.dropout;
    c.eos = RC_VOCAB_EOS;
    if (rc_seq2seq_new(&c, (uint64_t)o.seed, &m.net) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    model_ok = 1;

    /* Batches: the kept pairs sorted by length, cut into runs of o.batch. */
    order = malloc((size_t)src.n * sizeof *order);
    bstart = malloc((size_t)(src.n / o.batch + 2) * sizeof *bstart);
    if (!order || !bstart) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    int kept = 0;
    for (int i = 0; i < src.n; i++)
        if (corpus_len(&src, i) <= max_len && corpus_len(&tgt, i) <= max_len) order[kept++] = i;
    if (kept == 0) {
        cli_error(cmd, "no training pair is within --max-len %d", max_len);
        goto done;
    }
    sort_by_length(order, kept, &src, &tgt);
    int n_batches = 0;
    for (int i = 0; i < kept; i += o.batch) bstart[n_batches++] = i;
    bstart[n_batches] = kept;
    if (!(perm = malloc((size_t)n_batches * sizeof *perm))) goto done;

    to = o;
    to.patience = 0;
    if (trainer_init(&tr, cmd, &to, &m.net->params, n_batches)) goto done;
    trainer_ok = 1;
    double best_bleu = -1, bad = 0;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck) || rc_checkpoint_load_params(ck, &m.net->params)) {
            cli_error(cmd, "%s: %s", o.resume, rc_last_error());
            goto done;
        }
        if (meta_get_double(cmd, ck, "translate/best_bleu", &best_bleu) ||
            meta_get_double(cmd, ck, "translate/bad_evals", &bad))
            goto done;
        rc_safetensors_close(ck);
        ck = NULL;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %d training pairs (%d kept, %d batches), %d validation; vocabularies %d / %d "
                "(unknown words: %zu / %zu training, %zu / %zu validation); %s %dx%d%s -> %s %dx%d, "
                "attention %s%s; %zu parameters; %lld steps%s\n",
                cmd, src.n, kept, n_batches, vsrc.n, rc_vocab_size(m.src_vocab),
                rc_vocab_size(m.tgt_vocab), unk[0], unk[1], unk[2], unk[3], o.cell, o.layers,
                o.hidden, o.bidirectional ? " bidirectional" : "", train_cell_name(dcell),
                dec_layers, c.dec_hidden, attention,
                c.input_feeding && akind != RC_ATTN_NONE ? " with input feeding" : "",
                rc_params_numel(&m.net->params), (long long)tr.total_steps,
                tr.step ? " (resumed)" : "");

    t = rc_tape_new();
    if (!t) goto done;
    int64_t perm_epoch = -1;
    while (tr.step < tr.total_steps && !tr.stop) {
        int64_t epoch = tr.step / n_batches, pos = tr.step % n_batches;
        if (epoch != perm_epoch) {
            /* This epoch's batch order: a Fisher-Yates shuffle from (seed, epoch). */
            rc_rng sh;
            rc_rng_init(&sh, (uint64_t)o.seed * 1000003ULL + (uint64_t)epoch);
            for (int i = 0; i < n_batches; i++) perm[i] = i;
            for (int i = n_batches - 1; i > 0; i--) {
                int j = (int)(rc_rng_u32(&sh) % (uint32_t)(i + 1)), x = perm[i];
                perm[i] = perm[j];
                perm[j] = x;
            }
            perm_epoch = epoch;
        }
        int bi = perm[pos];
        int b = (int)(bstart[bi + 1] - bstart[bi]);
        if (batch_fill(&bt, &src, &tgt, order + bstart[bi], b)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m.net->encoder);
        rc_tape_reset(t);
        rc_var *loss = rc_seq2seq_loss(t, m.net, bt.src, bt.src_len, bt.S, bt.tgt, bt.tgt_len,
                                       bt.T, b, &drop);
        double words = 0;
        for (int j = 0; j < b; j++) words += bt.tgt_len[j];
        if (trainer_backward_update(&tr, cmd, t, loss, words)) goto done;
        trainer_progress(&tr, "word", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "word", 1);
            double t0 = trainer_now(), vl = NAN, bleu = 0;
            if (validate(cmd, &m, &vsrc, &vtgt, valid_batch, &vl, &bleu)) goto done;
            trainer_record_eval(&tr, vl);
            int best = bleu > best_bleu;
            if (best) {
                best_bleu = bleu;
                bad = 0;
            } else if (++bad >= o.patience && o.patience > 0) {
                tr.stop = 1;
            }
            if (!o.quiet)
                fprintf(stderr, "  validation loss %.4f (perplexity %.2f), greedy BLEU %.2f%s  [%.1fs]\n",
                        vl, exp(vl), bleu, best ? "  best so far, saved" : "", trainer_now() - t0);
            if (best && tr_model_save(&m, o.out)) goto done;
            trainer_plot(&tr, o.out, "loss (nats per target word)");
        }
        if (trainer_should_checkpoint(&tr)) {
            meta_list ml = {0};
            char *sj = NULL, *tj = NULL;
            if (model_meta(&m, &ml, &sj, &tj)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            meta_addf(&ml, "translate/best_bleu", "%.17g", best_bleu);
            meta_addf(&ml, "translate/bad_evals", "%.17g", bad);
            int fail = trainer_save_checkpoint(&tr, ckpt, &ml, opts, 0, NULL, NULL);
            free(sj);
            free(tj);
            if (fail) goto done;
        }
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no better BLEU in %d validations\n", cmd, o.patience);
    double el = trainer_now() - tr.t_start;
    if (o.json)
        printf("{\"task\":\"translate\",\"steps\":%lld,\"best_valid_bleu\":%.4f,"
               "\"best_valid_loss\":%.6f,\"words_per_second\":%.1f,\"seconds\":%.1f}\n",
               (long long)tr.step, best_bleu, tr.best_valid, el > 0 ? tr.items_done / el : 0, el);
    else if (!o.quiet)
        fprintf(stderr, "%s: best validation BLEU %.2f (greedy); model in %s\n", cmd, best_bleu,
                o.out);
    ret = 0;
done:
    batch_free(&bt);
    rc_tape_free(t);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok || m.src_vocab || m.tgt_vocab) tr_model_free(&m);
    corpus_free(&src);
    corpus_free(&tgt);
    corpus_free(&vsrc);
    corpus_free(&vtgt);
    rc_safetensors_close(ck);
    free(meta_store);
    free(order);
    free(perm);
    free(bstart);
    free(ckpt);
    return ret;
}

/* ------------------------------------------------ translate and eval -- */

/* Source sentences from a file or stdin ("-" or NULL), tokenized and
 * encoded with the model's vocabulary. */
static int read_sources(const char *cmd, tr_model *m, const char *path, corpus *c)
{
    char *text = NULL, **lines = NULL;
    int n = 0, r = 1;
    if (!path || !strcmp(path, "-")) {
        size_t cap = 4096, len = 0;
        text = malloc(cap);
        if (!text) return cli_error(cmd, "out of memory");
        size_t k;
        while ((k = fread(text + len, 1, cap - len - 1, stdin)) > 0) {
            len += k;
            if (cap - len - 1 == 0) {
                char *g = realloc(text, cap *= 2);
                if (!g) {
                    free(text);
                    return cli_error(cmd, "out of memory");
                }
                text = g;
            }
        }
        text[len] = '\0';
        if (rc_text_validate(text, len, "stdin") != RC_OK) {
            free(text);
            return cli_error(cmd, "%s", rc_last_error());
        }
        int cap_l = 1;
        for (size_t i = 0; i < len; i++) cap_l += text[i] == '\n';
        lines = malloc((size_t)cap_l * sizeof *lines);
        if (!lines) goto done;
        char *p = text, *end = text + len;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl) *nl = '\0';
            size_t l = strlen(p);
            if (l && p[l - 1] == '\r') p[l - 1] = '\0';
            lines[n++] = p;
            p = nl ? nl + 1 : end;
        }
    } else if (read_lines(cmd, path, &text, &lines, &n)) {
        goto done;
    }
    if (n == 0) {
        cli_error(cmd, "%s: no sentences", path ? path : "stdin");
        goto done;
    }
    size_t unk;
    if (corpus_tokenize(cmd, path ? path : "stdin", lines, n, m->lowercase, m->tok13a, c) ||
        corpus_encode(cmd, c, m->src_vocab, &unk))
        goto done;
    r = 0;
done:
    free(text);
    free(lines);
    return r;
}

static int check_decode_opts(const char *cmd, const decode_opts *d)
{
    if (d->beam < 1 || d->n_best < 1 || d->n_best > d->beam)
        return cli_error(cmd, "--beam must be at least 1 and --n-best in 1..beam");
    if (d->batch < 1 || d->max_len < 1) return cli_error(cmd, "--batch and --max-len must be at least 1");
    if (!(d->alpha >= 0 && d->alpha < 100)) return cli_error(cmd, "--alpha must be in [0, 100)");
    if (d->sample && !(d->temperature > 0)) return cli_error(cmd, "--temperature must be positive");
    return 0;
}

/* The heatmap of sentence `which` (0-based): rows the translation's words
 * and <eos>, columns the source's. */
static int show_attention(const char *cmd, tr_model *m, const corpus *src, int which,
                          const int32_t *hyp, int hyp_len, const char *png)
{
    if (m->net->cfg.attention == RC_ATTN_NONE)
        return cli_error(cmd, "--show-attention: the model has no attention");
    int S = corpus_len(src, which), T = hyp_len + 1;
    int32_t *tg = malloc((size_t)T * sizeof *tg);
    float *w = malloc((size_t)T * S * sizeof *w);
    const char **rows = malloc((size_t)T * sizeof *rows), **cols = malloc((size_t)S * sizeof *cols);
    int r = 1;
    if (!tg || !w || !rows || !cols) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    memcpy(tg, hyp, (size_t)hyp_len * sizeof *tg);
    tg[hyp_len] = RC_VOCAB_EOS;
    const int32_t *sid = src->ids + src->off[which];
    if (rc_seq2seq_align(m->net, sid, S, tg, T, w) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    for (int i = 0; i < T; i++) rows[i] = rc_vocab_token(m->tgt_vocab, tg[i]);
    for (int i = 0; i < S; i++) cols[i] = rc_vocab_token(m->src_vocab, sid[i]);
    char title[96];
    snprintf(title, sizeof title, "attention of sentence %d (%s)", which + 1,
             rc_attn_name(m->net->cfg.attention));
    plot_heatmap_spec sp = {0};
    sp.title = title;
    sp.xlabel = "source";
    sp.ylabel = "translation";
    sp.row_labels = rows;
    sp.col_labels = cols;
    sp.v_fixed = 1;
    sp.v_min = 0;
    sp.v_max = 1;
    if (plot_heatmap_png(png, &sp, w, T, S) != RC_OK) {
        cli_error(cmd, "%s", plot_last_error());
        goto done;
    }
    r = 0;
done:
    free(tg);
    free(w);
    free(rows);
    free(cols);
    return r;
}

/* Opens a model file for `recur translate` / `recur eval`, after setting
 * the thread count the command was given. */
static int open_model(const char *cmd, const char *path, int threads, tr_model *m)
{
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(path, &st) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    int r = tr_model_load(cmd, st, m);
    rc_safetensors_close(st);
    return r;
}

/* Writes n sentences' translations to PATH (stdout when NULL): one a line,
 * or with n_best > 1 the n best of each as 'LINE ||| TEXT ||| SCORE'. */
static int write_translations(const char *cmd, const char *path, char **hyps, const float *scores,
                              int n, int n_best)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) return cli_error(cmd, "--output %s: cannot open for writing", path);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n_best; k++) {
            const char *h = hyps[(size_t)i * n_best + k];
            if (n_best > 1)
                fprintf(f, "%d ||| %s ||| %.4f\n", i + 1, h, scores[(size_t)i * n_best + k]);
            else
                fprintf(f, "%s\n", h);
        }
    if (f == stdout) return fflush(f) ? cli_error(cmd, "writing the translations failed") : 0;
    if (fclose(f)) return cli_error(cmd, "--output %s: write failed", path);
    return 0;
}

int cmd_translate(int argc, char **argv)
{
    const char *cmd = "translate", *input = NULL, *output = NULL, *attn_png = NULL;
    decode_opts d = {5, 1, 64, 100, 0, 1, 0.6f, 1.0f};
    int threads = 0, sentence = 1;
    cli_option opts[] = {
        {"input", CLI_STRING, &input, "source sentences, one a line (default: the FILE argument, "
                                      "else stdin)"},
        {"output", CLI_STRING, &output, "write the translations here (default: stdout)"},
        {"beam", CLI_INT, &d.beam, "beam width (default 5; 1: greedy)"},
        {"n-best", CLI_INT, &d.n_best, "write the n best of each sentence as 'LINE ||| TEXT ||| SCORE'"},
        {"alpha", CLI_FLOAT, &d.alpha, "length penalty ((5+|y|)/6)^alpha (default 0.6)"},
        {"sample", CLI_FLAG, &d.sample, "draw each word instead of searching"},
        {"temperature", CLI_FLOAT, &d.temperature, "sampling temperature (default 1)"},
        {"seed", CLI_INT, &d.seed, "sampling seed (default 1)"},
        {"batch", CLI_INT, &d.batch, "sentences translated side by side (default 64)"},
        {"max-len", CLI_INT, &d.max_len, "longest translation in words (default 100)"},
        {"show-attention", CLI_STRING, &attn_png, "draw the alignment of one sentence as a PNG"},
        {"sentence", CLI_INT, &sentence, "which sentence --show-attention draws (1-based; default 1)"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[2];
    int n_pos;
    int r = cli_parse(cmd, "usage: recur translate MODEL [FILE] [options]\n\n"
                           "Translates sentences (one a line, from FILE or stdin) with a model\n"
                           "from `recur train translate`, writing one translation a line\n"
                           "(lower-cased, tokenized, as the model was trained).\n",
                      opts, argc, argv, 2, pos, 2, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos < 1) return cli_error(cmd, "give a model file (see recur translate --help)");
    if (n_pos == 2) {
        if (input) return cli_error(cmd, "give the sentences as FILE or --input, not both");
        input = pos[1];
    }
    if (check_decode_opts(cmd, &d)) return 1;
    if (d.sample) d.beam = d.n_best = 1;
    tr_model m;
    if (open_model(cmd, pos[0], threads, &m)) return 1;
    corpus src = {0};
    char **hyps = NULL;
    float *scores = NULL;
    int32_t **best = NULL, *best_len = NULL;
    int ret = 1;
    if (read_sources(cmd, &m, input, &src)) goto done;
    if (attn_png && (sentence < 1 || sentence > src.n)) {
        cli_error(cmd, "--sentence %d: the input has %d sentences", sentence, src.n);
        goto done;
    }
    size_t nh = (size_t)src.n * d.n_best;
    hyps = calloc(nh, sizeof *hyps);
    scores = malloc(nh * sizeof *scores);
    best = calloc((size_t)src.n, sizeof *best);
    best_len = calloc((size_t)src.n, sizeof *best_len);
    if (!hyps || !scores || !best || !best_len) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (translate_corpus(cmd, &m, &src, &d, hyps, scores, best, best_len) ||
        write_translations(cmd, output, hyps, scores, src.n, d.n_best))
        goto done;
    if (attn_png &&
        show_attention(cmd, &m, &src, sentence - 1, best[sentence - 1], best_len[sentence - 1],
                       attn_png))
        goto done;
    ret = 0;
done:
    free_strings(hyps, hyps ? (size_t)src.n * d.n_best : 0);
    if (best)
        for (int i = 0; i < src.n; i++) free(best[i]);
    free(best);
    free(best_len);
    free(scores);
    corpus_free(&src);
    tr_model_free(&m);
    return ret;
}

int translate_eval(int argc, char **argv)
{
    const char *cmd = "eval", *ref = NULL, *output = NULL;
    decode_opts d = {5, 1, 64, 100, 0, 1, 0.6f, 1.0f};
    int threads = 0, json = 0;
    cli_option opts[] = {
        {"ref", CLI_STRING, &ref, "reference translations, line by line (required)"},
        {"beam", CLI_INT, &d.beam, "beam width (default 5; 1: greedy)"},
        {"alpha", CLI_FLOAT, &d.alpha, "length penalty ((5+|y|)/6)^alpha (default 0.6)"},
        {"batch", CLI_INT, &d.batch, "sentences translated side by side (default 64)"},
        {"max-len", CLI_INT, &d.max_len, "longest translation in words (default 100)"},
        {"output", CLI_STRING, &output, "also write the translations to this file"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"json", CLI_FLAG, &json, "print the metrics as one JSON line"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[2];
    int n_pos;
    int r = cli_parse(cmd, "usage: recur eval MODEL SRC --ref REF [options]\n\n"
                           "Translates SRC with a translation model and prints the corpus BLEU\n"
                           "against REF as sacreBLEU does, both sides lower-cased and tokenized\n"
                           "as the model was trained (13a).\n",
                      opts, argc, argv, 2, pos, 2, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos != 2) return cli_error(cmd, "give a model and a source file (see recur eval --help)");
    if (!ref) return cli_error(cmd, "a translation model needs --ref FILE (the reference translations)");
    if (check_decode_opts(cmd, &d)) return 1;
    tr_model m;
    if (open_model(cmd, pos[0], threads, &m)) return 1;
    corpus src = {0}, refs = {0};
    char *rtext = NULL, **rlines = NULL, **hyps = NULL;
    int nr = 0, ret = 1;
    if (read_sources(cmd, &m, pos[1], &src) || read_lines(cmd, ref, &rtext, &rlines, &nr)) goto done;
    if (nr != src.n) {
        cli_error(cmd, "%s has %d lines but %s has %d: the files must be line-aligned", pos[1],
                  src.n, ref, nr);
        goto done;
    }
    if (corpus_tokenize(cmd, ref, rlines, nr, m.lowercase, m.tok13a, &refs)) goto done;
    hyps = calloc((size_t)src.n, sizeof *hyps);
    if (!hyps) goto done;
    double t0 = trainer_now();
    if (translate_corpus(cmd, &m, &src, &d, hyps, NULL, NULL, NULL)) goto done;
    double el = trainer_now() - t0;
    if (output && write_translations(cmd, output, hyps, NULL, src.n, 1)) goto done;
    rc_bleu_score sc;
    if (corpus_bleu(cmd, hyps, 1, refs.tok, src.n, &sc)) goto done;
    char line[256];
    rc_bleu_format(&sc, line, sizeof line);
    if (json)
        printf("{\"task\":\"translate\",\"data\":\"%s\",\"sentences\":%d,\"bleu\":%.4f,"
               "\"bp\":%.4f,\"hyp_len\":%lld,\"ref_len\":%lld,\"beam\":%d,\"alpha\":%g,"
               "\"seconds\":%.2f}\n",
               pos[1], src.n, sc.score, sc.bp, (long long)sc.hyp_len, (long long)sc.ref_len, d.beam,
               (double)d.alpha, el);
    else
        printf("%s: %d sentences, beam %d, alpha %g: %s  [lowercased, 13a; %.1fs]\n", pos[1],
               src.n, d.beam, (double)d.alpha, line, el);
    ret = 0;
done:
    free_strings(hyps, hyps ? (size_t)src.n : 0);
    free(rtext);
    free(rlines);
    corpus_free(&src);
    corpus_free(&refs);
    tr_model_free(&m);
    return ret;
}
