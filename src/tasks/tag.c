/* tag.c - sequence labelling: named entities on CoNLL-2003 (Lample et al.
 * 2016, "Neural Architectures for Named Entity Recognition").
 *
 * Model (docs/tagging.md has the picture):
 *   word w_t (lower-cased, digits read as 0)  -> e_t = E_word[w_t]        [word_dim]
 *   its characters c_1..c_n -> char BiLSTM:  f = ->h_n, b = <-h_1        [2 char_hidden]
 *   x_t = dropout([e_t ; f ; b])
 *   h_t = [->h_t ; <-h_t] of a BiLSTM over x_1..x_L                      [2 hidden]
 *   s_t = W dropout(h_t) + b                      emission scores          [K tags]
 * then either a linear-chain CRF (src/ops/crf.c)
 *   p(y | x) = exp(start[y_1] + sum_t s_t[y_t] + sum_t A[y_{t-1}, y_t] + end[y_L]) / Z
 * trained on -log p(gold) and decoded by Viterbi, or a softmax per token
 * (cross-entropy, argmax).
 *
 * Speed: a batch is sentences of about the same length (sorted by length,
 * cut into batches, the batches shuffled), time-major [T x B] with lengths;
 * each recurrent step is one matrix multiply for the whole batch. The
 * character BiLSTM runs over all the words of the batch at once, in a few
 * groups of similar length (sorted by length), so that a 40-letter word does
 * not make every other word run 40 steps.
 *
 * Tags are converted at load to the model's scheme (IOBES by default:
 * singletons S-, ends E-) and predictions back to the data's scheme; the
 * score is conlleval's entity-level F1 (src/io/conlleval.c). */
#include "tag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --------------------------------------------------------- the words -- */

/* The form a word is looked up by: ASCII lower-cased and digits as 0 when
 * asked (the characters keep the original form). buf holds strlen+1. */
static void normalize(const char *w, char *buf, int lower, int zeros)
{
    size_t i = 0;
    for (; w[i]; i++) {
        char ch = w[i];
        if (lower && ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (zeros && ch >= '0' && ch <= '9') ch = '0';
        buf[i] = ch;
    }
    buf[i] = '\0';
}

/* Bytes of the UTF-8 character starting at p (valid UTF-8: checked at
 * read). */
static int utf8_len(const char *p)
{
    unsigned char b = (unsigned char)*p;
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

static int tag_index(const tag_model *m, const char *tag)
{
    for (int k = 0; k < m->n_tags; k++)
        if (!strcmp(m->tags[k], tag)) return k;
    return -1;
}

/* ---------------------------------------------------------- the data -- */

void tag_data_free(tag_data *d)
{
    if (!d) return;
    rc_conll_free(&d->c);
    free(d->word);
    free(d->tag);
    free(d->char_off);
    free(d->chars);
    memset(d, 0, sizeof *d);
}

/* The scheme the gold tags are written in: IOBES when any tag is E- or S-,
 * IOB2 when every sentence is well-formed IOB2, else IOB1. */
static rc_tag_scheme detect_scheme(const rc_conll *c)
{
    for (size_t i = 0; i < c->n_tokens; i++)
        if (!strncmp(c->tags[i], "E-", 2) || !strncmp(c->tags[i], "S-", 2)) return RC_TAGS_IOBES;
    for (int s = 0; s < c->n_sentences; s++)
        if (rc_tags_check(c->tags + c->start[s], c->start[s + 1] - c->start[s], RC_TAGS_IOB2) !=
            RC_OK)
            return RC_TAGS_IOB1;
    return RC_TAGS_IOB2;
}

/* Reads a CoNLL file: tokens in the first column, tags in the last. With
 * need_tags the file must have a tag column whose every sentence is
 * well-formed in its scheme (IOB1, IOB2 or IOBES, detected); the error
 * names the file and line. */
static int data_read(const char *cmd, const char *path, int need_tags, tag_data *d)
{
    memset(d, 0, sizeof *d);
    if (rc_conll_read(path, 0, -1, NULL, &d->c) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    d->has_tags = d->c.n_columns >= 2;
    if (!need_tags) return 0;
    if (!d->has_tags) {
        cli_error(cmd, "%s:%zu: one column; a tagged file has the token first and the tag last",
                  path, d->c.line[0]);
        rc_conll_free(&d->c);
        return 1;
    }
    /* Every tag must be O or PREFIX-TYPE: then the scheme, and the file
     * again with that scheme so that a bad tag is reported at its line. */
    for (int s = 0; s < d->c.n_sentences; s++)
        for (size_t i = d->c.start[s]; i < d->c.start[s + 1]; i++) {
            const char *g = d->c.tags[i];
            int ok = !strcmp(g, "O") || ((g[0] == 'B' || g[0] == 'I' || g[0] == 'E' ||
                                          g[0] == 'S') && g[1] == '-' && g[2]);
            if (!ok) {
                cli_error(cmd, "%s:%zu: tag \"%s\" is neither O nor B-, I-, E- or S- and a type",
                          path, d->c.line[s] + (i - d->c.start[s]), g);
                rc_conll_free(&d->c);
                return 1;
            }
        }
    d->scheme = detect_scheme(&d->c);
    rc_conll_free(&d->c);
    if (rc_conll_read(path, 0, -1, &d->scheme, &d->c) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    d->has_tags = 1;
    return 0;
}

/* Plain text, one sentence a line, tokens split at spaces and tabs, as a
 * rc_conll without tags (sentence i from line c.line[i]; blank lines hold
 * no sentence). */
static int text_read(const char *cmd, const char *path, char *text, size_t len, tag_data *d)
{
    memset(d, 0, sizeof *d);
    rc_conll *c = &d->c;
    if (rc_text_validate(text, len, path) != RC_OK) {
        free(text);
        return cli_error(cmd, "%s", rc_last_error());
    }
    c->pool_ = text;
    size_t cap = 0, scap = 0, lineno = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        lineno++;
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        size_t first = c->n_tokens;
        while (p < eol) {
            while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r')) *p++ = '\0';
            if (p >= eol) break;
            if (c->n_tokens == cap) {
                cap = cap ? 2 * cap : 1024;
                const char **tk = realloc((void *)c->tokens, cap * sizeof *tk);
                if (!tk) goto nomem;
                c->tokens = tk;
            }
            c->tokens[c->n_tokens++] = p;
            while (p < eol && *p != ' ' && *p != '\t' && *p != '\r') p++;
        }
        if (eol < end) *eol = '\0';
        if (c->n_tokens > first) {
            if ((size_t)c->n_sentences + 2 > scap) {
                scap = scap ? 2 * scap : 256;
                size_t *st = realloc(c->start, scap * sizeof *st);
                if (!st) goto nomem;
                c->start = st;
                size_t *ln = realloc(c->line, scap * sizeof *ln);
                if (!ln) goto nomem;
                c->line = ln;
            }
            c->start[c->n_sentences] = first;
            c->line[c->n_sentences] = lineno;
            c->n_sentences++;
            c->start[c->n_sentences] = c->n_tokens;
        }
        p = eol + 1;
    }
    c->n_columns = 1;
    return 0;
nomem:
    rc_conll_free(c);
    return cli_error(cmd, "out of memory");
}

/* Word ids, character ids and (with tags) tag ids in the model's scheme. */
static int data_encode(const char *cmd, const tag_model *m, tag_data *d)
{
    const rc_conll *c = &d->c;
    size_t n = c->n_tokens, nch = 0, longest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(c->tokens[i]);
        if (l > longest) longest = l;
        for (const char *p = c->tokens[i]; *p; p += utf8_len(p)) nch++;
    }
    d->word = malloc(n * sizeof *d->word);
    d->tag = malloc(n * sizeof *d->tag);
    d->char_off = malloc((n + 1) * sizeof *d->char_off);
    d->chars = malloc((nch ? nch : 1) * sizeof *d->chars);
    char *buf = malloc(longest + 1);
    if (!d->word || !d->tag || !d->char_off || !d->chars || !buf) {
        free(buf);
        return cli_error(cmd, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        normalize(c->tokens[i], buf, m->cfg.lower, m->cfg.zeros);
        d->word[i] = rc_vocab_id(m->words, buf, strlen(buf));
        d->char_off[i] = (int32_t)k;
        for (const char *p = c->tokens[i]; *p; p += utf8_len(p))
            d->chars[k++] = rc_vocab_id(m->chars, p, (size_t)utf8_len(p));
        d->tag[i] = -1;
    }
    d->char_off[n] = (int32_t)k;
    free(buf);
    d->max_len = 0;
    for (int s = 0; s < c->n_sentences; s++) {
        int L = (int)(c->start[s + 1] - c->start[s]);
        if (L > d->max_len) d->max_len = L;
        if (!d->has_tags || !c->tags) continue;
        const char **conv;
        if (rc_tags_convert(c->tags + c->start[s], (size_t)L, m->cfg.scheme, &conv) != RC_OK)
            return cli_error(cmd, "line %zu: %s", c->line[s], rc_last_error());
        for (int i = 0; i < L; i++) d->tag[c->start[s] + i] = tag_index(m, conv[i]);
        free((void *)conv);
    }
    return 0;
}

/* --------------------------------------------------------- the model -- */

void tag_model_free(tag_model *m)
{
    if (!m) return;
    rc_embedding_free(&m->wemb);
    rc_embedding_free(&m->cemb);
    rc_rnn_free(m->char_rnn);
    rc_rnn_free(m->word_rnn);
    rc_linear_free(&m->head);
    rc_param_free(m->trans);
    rc_param_free(m->start);
    rc_param_free(m->end);
    rc_params_free(&m->params);
    rc_vocab_free(m->words);
    rc_vocab_free(m->chars);
    for (int k = 0; k < m->n_tags; k++) free(m->tags[k]);
    free(m->tags);
    memset(m, 0, sizeof *m);
}

/* Adds a recurrent layer's parameters named PREFIX + their name: two
 * layers both have a weight_ih_l0, and the optimizer names its state after
 * the parameter. */
static rc_status add_rnn_params(rc_params *ps, rc_rnn *rnn, const char *prefix)
{
    for (int i = 0; i < rnn->n_params; i++) {
        rc_var *p = rnn->params[i];
        size_t n = strlen(prefix) + strlen(p->name) + 1;
        char *nm = malloc(n);
        if (!nm) return RC_ERR_NOMEM;
        snprintf(nm, n, "%s%s", prefix, p->name);
        free((char *)p->name);
        p->name = nm;
        rc_status s = rc_params_add(ps, "", p);
        if (s) return s;
    }
    return RC_OK;
}

static rc_var *zero_param(const char *name, int ndim, const int *shape)
{
    rc_var *p = rc_param_new(name, ndim, shape);
    if (p) memset(p->value.data, 0, p->value.size * sizeof(float));
    return p;
}

/* Builds the layers. Takes ownership of words, chars and tags (also on
 * failure, when it frees them). */
static int model_init(tag_model *m, const tag_config *c, rc_vocab *words, rc_vocab *chars,
                      char **tags, int n_tags, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->words = words;
    m->chars = chars;
    m->tags = tags;
    m->n_tags = n_tags;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    rc_params_init(&m->params);
    int ch = c->char_hidden, D = c->word_dim + 2 * ch, K = n_tags;
    rc_status s;
    if ((s = rc_embedding_init(&m->wemb, "word_embedding", rc_vocab_size(words), c->word_dim,
                               &rng)))
        goto fail;
    /* Embeddings from U(-sqrt(3/d), sqrt(3/d)): variance 1/d, so that an
     * input vector has about unit length whatever its size. */
    float r = sqrtf(3.0f / (float)c->word_dim);
    rc_rng_fill_uniform(&rng, m->wemb.weight->value.data, m->wemb.weight->value.size, -r, r);
    if ((s = rc_params_add(&m->params, "", m->wemb.weight))) goto fail;
    if (ch > 0) {
        if ((s = rc_embedding_init(&m->cemb, "char_embedding", rc_vocab_size(chars), c->char_dim,
                                   &rng)))
            goto fail;
        r = sqrtf(3.0f / (float)c->char_dim);
        rc_rng_fill_uniform(&rng, m->cemb.weight->value.data, m->cemb.weight->value.size, -r, r);
        rc_rnn_config cc = rc_rnn_defaults(c->cell, c->char_dim, ch);
        cc.bidirectional = 1;
        if ((s = rc_params_add(&m->params, "", m->cemb.weight)) ||
            (s = rc_rnn_new(&cc, seed + 1, &m->char_rnn)) ||
            (s = add_rnn_params(&m->params, m->char_rnn, "char_rnn.")))
            goto fail;
    }
    rc_rnn_config wc = rc_rnn_defaults(c->cell, D, c->hidden);
    wc.bidirectional = 1;
    wc.num_layers = c->layers;
    wc.dropout = c->dropout;
    if ((s = rc_rnn_new(&wc, seed + 2, &m->word_rnn)) ||
        (s = add_rnn_params(&m->params, m->word_rnn, "word_rnn.")))
        goto fail;
    if ((s = rc_linear_init(&m->head, "head", 2 * c->hidden, K, 1, &rng)) ||
        (s = rc_params_add(&m->params, "", m->head.weight)) ||
        (s = rc_params_add(&m->params, "", m->head.bias)))
        goto fail;
    if (c->crf) {
        int kk[2] = {K, K}, k1[1] = {K};
        if (!(m->trans = zero_param("crf.transitions", 2, kk)) ||
            !(m->start = zero_param("crf.start", 1, k1)) ||
            !(m->end = zero_param("crf.end", 1, k1)) ||
            (s = rc_params_add(&m->params, "", m->trans)) ||
            (s = rc_params_add(&m->params, "", m->start)) ||
            (s = rc_params_add(&m->params, "", m->end)))
            goto fail;
    }
    return 0;
fail:
    tag_model_free(m);
    return -1;
}

/* ----------------------------------------------------------- batches -- */

/* One batch of B sentences, time-major [T x B], and the character groups. */
typedef struct batch {
    int B, T, N;       /* sentences, longest, tokens */
    int32_t *len;      /* [B] */
    int32_t *wid;      /* [T*B] word ids (0 past a sentence's end) */
    int32_t *tags;     /* [T*B] gold tag ids (0 past the end) */
    float *mask;       /* [T*B] 1 within a sentence */
    int32_t *gather;   /* [T*B] row of the char-feature table (N: the zero row) */
    int32_t *sorted;   /* [N] the batch's tokens (data indices) by character count */
    int32_t *cids;     /* one group's character ids, [Tc x n] */
    int32_t *clen;     /* [N] one group's lengths */
} batch;

static void batch_free(batch *b)
{
    free(b->len);
    free(b->wid);
    free(b->tags);
    free(b->mask);
    free(b->gather);
    free(b->sorted);
    free(b->cids);
    free(b->clen);
    memset(b, 0, sizeof *b);
}

typedef struct key_index {
    int64_t key;
    int32_t i;
} key_index;

static int by_key(const void *a, const void *b)
{
    const key_index *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int n_chars(const tag_data *d, int32_t tok) { return d->char_off[tok + 1] - d->char_off[tok]; }

/* Fills b for sentences sent[0..B). During training (unk_p > 0) a word
 * seen once in training (singleton[w]) becomes <unk> with probability
 * unk_p, so that <unk> is learned (Lample et al.). */
static int batch_build(batch *b, const tag_data *d, const int32_t *sent, int B,
                       const uint8_t *singleton, float unk_p, rc_rng *unk)
{
    memset(b, 0, sizeof *b);
    b->B = B;
    int T = 0, N = 0, maxc = 1;
    for (int i = 0; i < B; i++) {
        int L = (int)(d->c.start[sent[i] + 1] - d->c.start[sent[i]]);
        if (L > T) T = L;
        N += L;
    }
    b->T = T;
    b->N = N;
    size_t TB = (size_t)T * (size_t)B;
    b->len = malloc((size_t)B * sizeof *b->len);
    b->wid = calloc(TB, sizeof *b->wid);
    b->tags = calloc(TB, sizeof *b->tags);
    b->mask = calloc(TB, sizeof *b->mask);
    b->gather = malloc(TB * sizeof *b->gather);
    b->sorted = malloc((size_t)N * sizeof *b->sorted);
    b->clen = malloc((size_t)N * sizeof *b->clen);
    key_index *ki = malloc((size_t)N * sizeof *ki);
    if (!b->len || !b->wid || !b->tags || !b->mask || !b->gather || !b->sorted || !b->clen || !ki) {
        free(ki);
        batch_free(b);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < B; i++) {
        size_t s0 = d->c.start[sent[i]];
        int L = (int)(d->c.start[sent[i] + 1] - s0);
        b->len[i] = L;
        for (int t = 0; t < L; t++) {
            int32_t tok = (int32_t)(s0 + (size_t)t), w = d->word[tok];
            if (singleton && singleton[w] && rc_rng_uniform(unk) < unk_p) w = 0;
            size_t at = (size_t)t * (size_t)B + (size_t)i;
            b->wid[at] = w;
            b->tags[at] = d->tag[tok] < 0 ? 0 : d->tag[tok];
            b->mask[at] = 1.0f;
            ki[k].key = n_chars(d, tok);
            ki[k].i = k;
            if (ki[k].key > maxc) maxc = (int)ki[k].key;
            k++;
        }
    }
    /* Tokens by character count; gather[t*B + i] is a token's rank. */
    qsort(ki, (size_t)N, sizeof *ki, by_key);
    int32_t *rank = malloc((size_t)N * sizeof *rank);
    if (!rank) {
        free(ki);
        batch_free(b);
        return -1;
    }
    for (int r = 0; r < N; r++) rank[ki[r].i] = r;
    k = 0;
    for (size_t j = 0; j < TB; j++) b->gather[j] = N;
    for (int i = 0; i < B; i++) {
        size_t s0 = d->c.start[sent[i]];
        for (int t = 0; t < b->len[i]; t++, k++) {
            b->gather[(size_t)t * (size_t)B + (size_t)i] = rank[k];
            b->sorted[rank[k]] = (int32_t)(s0 + (size_t)t);
        }
    }
    free(rank);
    free(ki);
    b->cids = malloc((size_t)N * (size_t)maxc * sizeof *b->cids);
    if (!b->cids) {
        batch_free(b);
        return -1;
    }
    return 0;
}

/* Character features of the batch's tokens: [N+1 x 2ch], row r the final
 * states [->h ; <-h] of the r-th token by length, row N zeros (padding).
 * Tokens are run in groups of similar length: a group starting at
 * length L0 takes tokens up to 1.5 L0 + 1 characters. */
static rc_var *char_features(rc_tape *t, tag_model *m, const tag_data *d, batch *b)
{
    int ch = m->cfg.char_hidden, cd = m->cfg.char_dim, N = b->N;
    rc_var **parts = malloc(((size_t)N + 1) * sizeof *parts);
    if (!parts) return NULL;
    int np = 0;
    rc_var *out = NULL;
    for (int g0 = 0; g0 < N;) {
        int L0 = n_chars(d, b->sorted[g0]), g1 = g0;
        while (g1 < N && n_chars(d, b->sorted[g1]) <= L0 + L0 / 2 + 1) g1++;
        int n = g1 - g0, Tc = n_chars(d, b->sorted[g1 - 1]);
        for (int i = 0; i < n; i++) {
            int32_t tok = b->sorted[g0 + i];
            const int32_t *cs = d->chars + d->char_off[tok];
            int l = n_chars(d, tok);
            b->clen[i] = l;
            for (int s = 0; s < Tc; s++) b->cids[(size_t)s * (size_t)n + (size_t)i] = s < l ? cs[s] : 0;
        }
        int xs[3] = {Tc, n, cd};
        rc_var *x = rc_reshape(t, rc_embedding(t, m->cemb.weight, b->cids, Tc * n), 3, xs);
        rc_var *y, *hn, *cn;
        if (!x || rc_rnn_forward(t, m->char_rnn, x, b->clen, NULL, NULL, &y, &hn, &cn) != RC_OK)
            goto done;
        /* h_n [2 x n x ch] (forward, backward) -> [n x 2ch] */
        int fs[2] = {n, 2 * ch};
        parts[np++] = rc_reshape(t, rc_transpose(t, hn, 0, 1), 2, fs);
        g0 = g1;
    }
    int zs[2] = {1, 2 * ch};
    parts[np++] = rc_input(t, 2, zs, NULL);
    out = np == 1 ? parts[0] : rc_concat(t, parts, np, 0);
done:
    free(parts);
    return out;
}

/* Emission scores [T x B x K] of a batch. drop: the dropout masks (NULL
 * when not training). */
static rc_var *emissions(rc_tape *t, tag_model *m, const tag_data *d, batch *b, rc_rng *drop)
{
    const tag_config *c = &m->cfg;
    int TB = b->T * b->B, D = c->word_dim + 2 * c->char_hidden;
    rc_var *x = rc_embedding(t, m->wemb.weight, b->wid, TB);
    if (c->char_hidden > 0) {
        rc_var *table = char_features(t, m, d, b);
        rc_var *xs[2] = {x, rc_embedding(t, table, b->gather, TB)};
        x = rc_concat(t, xs, 2, 1);
    }
    int s3[3] = {b->T, b->B, D};
    x = rc_reshape(t, x, 3, s3);
    if (c->dropout > 0 && drop) x = rc_dropout(t, x, c->dropout, drop);
    rc_var *y, *hn, *cn;
    if (!x || rc_rnn_forward(t, m->word_rnn, x, b->len, NULL, NULL, &y, &hn, &cn) != RC_OK)
        return NULL;
    if (c->dropout > 0 && drop) y = rc_dropout(t, y, c->dropout, drop);
    return rc_linear_forward(t, &m->head, y);
}

static rc_var *batch_loss(rc_tape *t, tag_model *m, rc_var *em, const batch *b)
{
    if (m->cfg.crf) return rc_crf_nll(t, em, m->trans, m->start, m->end, b->tags, b->len);
    return rc_cross_entropy(t, em, b->tags, b->mask);
}

/* Sentence indices sorted by length (ties in index order). */
static int32_t *by_length(const tag_data *d)
{
    int n = d->c.n_sentences;
    key_index *ki = malloc((size_t)n * sizeof *ki);
    int32_t *order = malloc((size_t)n * sizeof *order);
    if (!ki || !order) {
        free(ki);
        free(order);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        ki[i].key = (int64_t)(d->c.start[i + 1] - d->c.start[i]);
        ki[i].i = i;
    }
    qsort(ki, (size_t)n, sizeof *ki, by_key);
    for (int i = 0; i < n; i++) order[i] = ki[i].i;
    free(ki);
    return order;
}

int tag_predict(const char *cmd, tag_model *m, const tag_data *d, int batch_size, int32_t *pred)
{
    int n = d->c.n_sentences, K = m->n_tags, ret = 1;
    int32_t *order = by_length(d), *best = NULL;
    rc_tape *t = rc_tape_new();
    best = malloc((size_t)d->max_len * (size_t)batch_size * sizeof *best);
    if (!order || !t || !best) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    for (int i0 = 0; i0 < n; i0 += batch_size) {
        int B = n - i0 < batch_size ? n - i0 : batch_size;
        batch b;
        if (batch_build(&b, d, order + i0, B, NULL, 0, NULL)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        rc_tape_reset(t);
        rc_var *em = emissions(t, m, d, &b, NULL);
        int T = b.T;
        if (!em) {
            cli_error(cmd, "%s", rc_last_error());
            batch_free(&b);
            goto done;
        }
        if (m->cfg.crf) {
            if (rc_crf_viterbi(em->value.data, m->trans->value.data, m->start->value.data,
                               m->end->value.data, T, B, K, b.len, best, NULL) != RC_OK) {
                cli_error(cmd, "%s", rc_last_error());
                batch_free(&b);
                goto done;
            }
        } else {
            for (size_t j = 0; j < (size_t)T * (size_t)B; j++) {
                const float *s = em->value.data + j * (size_t)K;
                int a = 0;
                for (int k = 1; k < K; k++)
                    if (s[k] > s[a]) a = k;
                best[j] = a;
            }
        }
        for (int i = 0; i < B; i++) {
            size_t s0 = d->c.start[order[i0 + i]];
            for (int tt = 0; tt < b.len[i]; tt++)
                pred[s0 + (size_t)tt] = best[(size_t)tt * (size_t)B + (size_t)i];
        }
        batch_free(&b);
    }
    ret = 0;
done:
    rc_tape_free(t);
    free(order);
    free(best);
    return ret;
}

/* Predicted tags as strings in the data's scheme (one malloc'd block per
 * sentence, as rc_tags_convert gives). */
static const char **sentence_tags(const tag_model *m, const int32_t *pred, size_t n,
                                  rc_tag_scheme to)
{
    const char **raw = malloc((n ? n : 1) * sizeof *raw), **conv = NULL;
    if (!raw) return NULL;
    for (size_t i = 0; i < n; i++) raw[i] = m->tags[pred[i]];
    if (rc_tags_convert(raw, n, to, &conv) != RC_OK) conv = NULL;
    free(raw);
    return conv;
}

/* conlleval over the whole data set. */
static int score(const char *cmd, tag_model *m, const tag_data *d, int batch_size,
                 rc_conlleval *ev)
{
    rc_conlleval_init(ev);
    int32_t *pred = malloc((d->c.n_tokens ? d->c.n_tokens : 1) * sizeof *pred);
    if (!pred) return cli_error(cmd, "out of memory");
    if (tag_predict(cmd, m, d, batch_size, pred)) {
        free(pred);
        return 1;
    }
    for (int s = 0; s < d->c.n_sentences; s++) {
        size_t s0 = d->c.start[s], L = d->c.start[s + 1] - s0;
        const char **p = sentence_tags(m, pred + s0, L, d->scheme);
        rc_status st = p ? rc_conlleval_add(ev, d->c.tags + s0, p, L) : RC_ERR_NOMEM;
        free((void *)p);
        if (st != RC_OK) {
            free(pred);
            return cli_error(cmd, "%s", rc_last_error());
        }
    }
    free(pred);
    return 0;
}

/* ------------------------------------------------------ model files -- */

static int model_meta(const tag_model *m, meta_list *ml, char **wj, char **cj, char **tj)
{
    const tag_config *c = &m->cfg;
    *wj = *cj = *tj = NULL;
    if (rc_vocab_to_json(m->words, wj) != RC_OK || rc_vocab_to_json(m->chars, cj) != RC_OK)
        return -1;
    size_t n = 1;
    for (int k = 0; k < m->n_tags; k++) n += strlen(m->tags[k]) + 1;
    if (!(*tj = malloc(n))) return -1;
    (*tj)[0] = '\0';
    for (int k = 0; k < m->n_tags; k++) {
        if (k) strcat(*tj, " ");
        strcat(*tj, m->tags[k]);
    }
    meta_add_header(ml, "tagger");
    meta_add(ml, "cell", train_cell_name(c->cell));
    meta_addf(ml, "word_dim", "%.9g", c->word_dim);
    meta_addf(ml, "char_dim", "%.9g", c->char_dim);
    meta_addf(ml, "char_hidden", "%.9g", c->char_hidden);
    meta_addf(ml, "hidden", "%.9g", c->hidden);
    meta_addf(ml, "layers", "%.9g", c->layers);
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_add(ml, "crf", c->crf ? "true" : "false");
    meta_add(ml, "lower", c->lower ? "true" : "false");
    meta_add(ml, "zeros", c->zeros ? "true" : "false");
    meta_add(ml, "scheme", rc_tag_scheme_name(c->scheme));
    meta_add(ml, "data_scheme", rc_tag_scheme_name(c->data_scheme));
    meta_add(ml, "tags", *tj);
    meta_add(ml, "words", *wj);
    meta_add(ml, "chars", *cj);
    return 0;
}

static int model_save(const tag_model *m, const char *path)
{
    meta_list ml = {0};
    char *wj, *cj, *tj;
    int r = 0;
    if (model_meta(m, &ml, &wj, &cj, &tj) ||
        rc_checkpoint_save(path, &m->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v) != RC_OK)
        r = cli_error("train ner", "%s", rc_last_error());
    free(wj);
    free(cj);
    free(tj);
    return r;
}

/* The tag list "O B-LOC ..." of a model file. */
static int parse_tags(const char *s, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    int cap = 0;
    while (s && *s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ' ') e++;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **q = realloc(*out, (size_t)cap * sizeof *q);
            if (!q) return -1;
            *out = q;
        }
        char *tg = malloc((size_t)(e - s) + 1);
        if (!tg) return -1;
        memcpy(tg, s, (size_t)(e - s));
        tg[e - s] = '\0';
        (*out)[(*n)++] = tg;
        s = e;
    }
    return 0;
}

static void free_tags(char **tags, int n)
{
    for (int i = 0; i < n; i++) free(tags[i]);
    free(tags);
}

int tag_model_load(const char *cmd, const rc_safetensors *st, tag_model *m)
{
    memset(m, 0, sizeof *m);
    if (train_model_check(cmd, st, "tagger", "tagger")) return 1;
    const char *path = rc_safetensors_path(st);
    tag_config c;
    memset(&c, 0, sizeof c);
    const char *cell = rc_safetensors_meta(st, "cell"), *sch = rc_safetensors_meta(st, "scheme"),
               *dsch = rc_safetensors_meta(st, "data_scheme");
    if (train_cell_kind(cell, &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is %s", path, cell ? cell : "missing");
    if (!sch || rc_tag_scheme_parse(sch, &c.scheme) != RC_OK || !dsch ||
        rc_tag_scheme_parse(dsch, &c.data_scheme) != RC_OK)
        return cli_error(cmd, "%s: metadata 'scheme' and 'data_scheme' must be iob1, iob2 or iobes",
                         path);
    if (rc_safetensors_meta_int(st, "word_dim", 1, 1 << 16, &c.word_dim) != RC_OK ||
        rc_safetensors_meta_int(st, "char_dim", 0, 1 << 16, &c.char_dim) != RC_OK ||
        rc_safetensors_meta_int(st, "char_hidden", 0, 1 << 16, &c.char_hidden) != RC_OK ||
        rc_safetensors_meta_int(st, "hidden", 1, 1 << 16, &c.hidden) != RC_OK ||
        rc_safetensors_meta_int(st, "layers", 1, 100, &c.layers) != RC_OK ||
        rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    if (meta_get_bool(cmd, st, "crf", &c.crf) || meta_get_bool(cmd, st, "lower", &c.lower) ||
        meta_get_bool(cmd, st, "zeros", &c.zeros))
        return 1;
    const char *wj = rc_safetensors_meta(st, "words"), *cj = rc_safetensors_meta(st, "chars");
    char **tags = NULL;
    int n_tags = 0;
    if (!wj || !cj) return cli_error(cmd, "%s: no vocabularies in the model file", path);
    if (parse_tags(rc_safetensors_meta(st, "tags"), &tags, &n_tags) || n_tags < 1) {
        free_tags(tags, n_tags);
        return cli_error(cmd, "%s: metadata 'tags' is missing or empty", path);
    }
    rc_vocab *w = NULL, *ch = NULL;
    if (rc_vocab_from_json(wj, &w) != RC_OK || rc_vocab_from_json(cj, &ch) != RC_OK) {
        rc_vocab_free(w);
        free_tags(tags, n_tags);
        return cli_error(cmd, "%s: %s", path, rc_last_error());
    }
    if (model_init(m, &c, w, ch, tags, n_tags, 0)) return cli_error(cmd, "%s", rc_last_error());
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        tag_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* ---------------------------------------------------------- training -- */

/* The training tags in the model's scheme: "O" first, then by byte order. */
static int by_string(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    if (!strcmp(x, "O")) return strcmp(y, "O") ? -1 : 0;
    if (!strcmp(y, "O")) return 1;
    return strcmp(x, y);
}

static int collect_tags(const char *cmd, const tag_data *d, rc_tag_scheme to, char ***out, int *n)
{
    char **tags = NULL;
    int nt = 0, cap = 0;
    for (int s = 0; s < d->c.n_sentences; s++) {
        size_t s0 = d->c.start[s], L = d->c.start[s + 1] - s0;
        const char **conv;
        if (rc_tags_convert(d->c.tags + s0, L, to, &conv) != RC_OK) {
            free_tags(tags, nt);
            return cli_error(cmd, "line %zu: %s", d->c.line[s], rc_last_error());
        }
        for (size_t i = 0; i < L; i++) {
            int seen = 0;
            for (int k = 0; k < nt && !seen; k++) seen = !strcmp(tags[k], conv[i]);
            if (seen) continue;
            if (nt == cap) {
                cap = cap ? 2 * cap : 16;
                char **q = realloc(tags, (size_t)cap * sizeof *q);
                if (!q) break;
                tags = q;
            }
            if (!(tags[nt] = malloc(strlen(conv[i]) + 1))) break;
            strcpy(tags[nt++], conv[i]);
        }
        free((void *)conv);
    }
    qsort(tags, (size_t)nt, sizeof *tags, by_string);
    *out = tags;
    *n = nt;
    return 0;
}

/* The vocabularies of the training file: normalized words and characters
 * (every one seen; <unk> for the rest). */
static int build_vocabs(const char *cmd, const tag_data *d, const tag_config *c, rc_vocab **words,
                        rc_vocab **chars)
{
    size_t len = 0;
    for (size_t i = 0; i < d->c.n_tokens; i++) len += strlen(d->c.tokens[i]) + 1;
    char *text = malloc(len + 1), *p = text;
    if (!text) return cli_error(cmd, "out of memory");
    for (int s = 0; s < d->c.n_sentences; s++)
        for (size_t i = d->c.start[s]; i < d->c.start[s + 1]; i++) {
            normalize(d->c.tokens[i], p, c->lower, c->zeros);
            p += strlen(p);
            *p++ = i + 1 < d->c.start[s + 1] ? ' ' : '\n';
        }
    *p = '\0';
    rc_status st = rc_vocab_build(text, (size_t)(p - text), RC_TEXT_WORD, 1, 0, words);
    if (st == RC_OK) {
        p = text;
        for (size_t i = 0; i < d->c.n_tokens; i++) {
            size_t l = strlen(d->c.tokens[i]);
            memcpy(p, d->c.tokens[i], l);
            p += l;
            *p++ = ' ';
        }
        st = rc_vocab_build(text, (size_t)(p - text), RC_TEXT_CHAR, 1, 0, chars);
    }
    free(text);
    if (st != RC_OK) {
        rc_vocab_free(*words);
        *words = NULL;
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* Epoch e's batches: sentences sorted by length with ties broken at random,
 * cut into batches (of --batch), the batches in random order; all from (seed,
 * e), so that a resumed run sees the same batches. */
static void epoch_plan(const tag_data *d, uint64_t seed, int64_t e, int32_t *order, int32_t *perm,
                       int n_batches)
{
    int n = d->c.n_sentences;
    rc_rng rng;
    rc_rng_init(&rng, seed * 0x9E3779B97F4A7C15ULL + 7919 + (uint64_t)e);
    key_index *ki = malloc((size_t)n * sizeof *ki);
    if (!ki) { /* fall back to the plain order */
        for (int i = 0; i < n; i++) order[i] = i;
    } else {
        for (int i = 0; i < n; i++) {
            ki[i].key = ((int64_t)(d->c.start[i + 1] - d->c.start[i]) << 32) | rc_rng_u32(&rng);
            ki[i].i = i;
        }
        qsort(ki, (size_t)n, sizeof *ki, by_key);
        for (int i = 0; i < n; i++) order[i] = ki[i].i;
        free(ki);
    }
    for (int i = 0; i < n_batches; i++) perm[i] = i;
    for (int i = n_batches - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(&rng) % (uint32_t)(i + 1));
        int32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
}

static void print_prf(const char *what, const rc_conlleval *ev, double seconds, const char *tail)
{
    rc_prf p = rc_conlleval_overall(ev);
    fprintf(stderr, "  %s: precision %.2f  recall %.2f  F1 %.2f  (token accuracy %.2f)%s  [%.1fs]\n",
            what, p.precision, p.recall, p.f1, rc_conlleval_accuracy(ev), tail, seconds);
}

int cmd_train_ner(int argc, char **argv)
{
    const char *cmd = "train ner";
    train_opts o;
    train_opts_defaults(&o);
    o.hidden = 100;
    o.dropout = 0.5f;
    o.batch = 16;
    o.lr = 1e-3f;
    o.epochs = 30;
    const char *data = NULL, *valid = NULL, *test = NULL, *scheme_name = "iobes";
    int word_dim = 100, char_dim = 25, char_hidden = 25, no_crf = 0, keep_case = 0,
        keep_digits = 0, eval_batch = 64;
    float unk_p = 0.5f;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data, "training file (CoNLL columns: token first, tag last)"},
        {"valid", CLI_STRING, &valid, "validation file (model selection, early stopping)"},
        {"test", CLI_STRING, &test, "test file, scored with the best model at the end"},
        {"word-dim", CLI_INT, &word_dim, "word embedding size (default 100)"},
        {"char-dim", CLI_INT, &char_dim, "character embedding size (default 25)"},
        {"char-hidden", CLI_INT, &char_hidden,
         "character BiLSTM size per direction (default 25; 0: no character features)"},
        {"no-crf", CLI_FLAG, &no_crf, "a softmax per token instead of the CRF layer"},
        {"scheme", CLI_STRING, &scheme_name, "tags the model predicts: iob1 | iob2 | iobes (default)"},
        {"keep-case", CLI_FLAG, &keep_case, "do not lower-case words for the word embedding"},
        {"keep-digits", CLI_FLAG, &keep_digits, "do not read digits as 0 for the word embedding"},
        {"unk-replace", CLI_FLOAT, &unk_p,
         "probability that a word seen once in training is read as <unk> (default 0.5)"},
        {"eval-batch", CLI_INT, &eval_batch, "sentences per batch when evaluating (default 64)"},
    };
    int n_opts = train_opts_declare(&o, opts, 12);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train ner --data FILE --valid FILE --out MODEL [options]\n"
        "\n"
        "Trains a named-entity tagger (Lample et al. 2016): word embeddings and a\n"
        "character-level BiLSTM per word, a BiLSTM over the sentence (--hidden per\n"
        "direction, --layers), and a CRF layer (or a softmax per token with --no-crf).\n"
        "Validates by conlleval's entity F1; writes MODEL (the best validation F1),\n"
        "MODEL.ckpt (to --resume) and MODEL.loss.png (training loss, 100 - F1).\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "tagger", "tagger", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    tag_data tr_d = {0}, va_d = {0}, te_d = {0};
    tag_model m;
    trainer tr;
    rc_vocab *words = NULL, *chars = NULL;
    char **tags = NULL;
    int n_tags = 0;
    char *ckpt = NULL;
    uint8_t *singleton = NULL;
    int32_t *order = NULL, *perm = NULL;
    rc_tape *t = NULL;
    rc_tag_scheme scheme;

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights, vocabularies and tags were made with. */
    static const char *const fixed[] = {"cell",        "hidden", "layers", "word-dim",
                                        "char-dim",    "char-hidden", "no-crf", "scheme",
                                        "keep-case",   "keep-digits", NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data || !valid) {
        cli_error(cmd, "--data FILE and --valid FILE are required");
        goto done;
    }
    if (rc_tag_scheme_parse(scheme_name, &scheme) != RC_OK) {
        cli_error(cmd, "--scheme must be iob1, iob2 or iobes, not '%s'", scheme_name);
        goto done;
    }
    if (word_dim < 1 || char_hidden < 0 || (char_hidden > 0 && char_dim < 1) || eval_batch < 1) {
        cli_error(cmd, "--word-dim, --char-dim and --eval-batch must be at least 1, "
                       "--char-hidden at least 0");
        goto done;
    }
    if (!(unk_p >= 0 && unk_p <= 1)) {
        cli_error(cmd, "--unk-replace must be in [0, 1]");
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;
    if (data_read(cmd, data, 1, &tr_d) || data_read(cmd, valid, 1, &va_d) ||
        (test && data_read(cmd, test, 1, &te_d)))
        goto done;

    tag_config c = {cell, word_dim, char_hidden > 0 ? char_dim : 0, char_hidden, o.hidden,
                    o.layers, o.dropout, !no_crf, !keep_case, !keep_digits, scheme, tr_d.scheme};
    if (ck) {
        /* The vocabularies and tags are the checkpoint's. */
        tag_model tmp;
        if (tag_model_load(cmd, ck, &tmp)) goto done;
        /* The options that shape the model must be the checkpoint's. */
        const tag_config *k = &tmp.cfg;
        const char *changed = k->cell != c.cell                ? "--cell"
                              : k->word_dim != c.word_dim       ? "--word-dim"
                              : k->char_hidden != c.char_hidden ? "--char-hidden"
                              : k->char_dim != c.char_dim       ? "--char-dim"
                              : k->hidden != c.hidden           ? "--hidden"
                              : k->layers != c.layers           ? "--layers"
                              : k->crf != c.crf                 ? "--no-crf"
                              : k->lower != c.lower             ? "--keep-case"
                              : k->zeros != c.zeros             ? "--keep-digits"
                              : k->scheme != c.scheme           ? "--scheme"
                                                                : NULL;
        if (changed) {
            cli_error(cmd, "%s: %s differs from the checkpoint's model; a resumed run keeps "
                      "the model's shape", o.resume, changed);
            tag_model_free(&tmp);
            goto done;
        }
        words = tmp.words, chars = tmp.chars, tags = tmp.tags, n_tags = tmp.n_tags;
        c.data_scheme = tmp.cfg.data_scheme;
        tmp.words = tmp.chars = NULL, tmp.tags = NULL, tmp.n_tags = 0;
        tag_model_free(&tmp);
    } else if (build_vocabs(cmd, &tr_d, &c, &words, &chars) ||
               collect_tags(cmd, &tr_d, scheme, &tags, &n_tags)) {
        goto done;
    }
    int mi = model_init(&m, &c, words, chars, tags, n_tags, (uint64_t)o.seed);
    words = chars = NULL, tags = NULL;
    if (mi) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    model_ok = 1;
    if (data_encode(cmd, &m, &tr_d) || data_encode(cmd, &m, &va_d) ||
        (test && data_encode(cmd, &m, &te_d)))
        goto done;
    /* Words seen once in training, for the <unk> replacement. */
    int V = rc_vocab_size(m.words);
    int32_t *count = calloc((size_t)V, sizeof *count);
    singleton = calloc((size_t)V, 1);
    if (!count || !singleton) {
        free(count);
        cli_error(cmd, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < tr_d.c.n_tokens; i++) count[tr_d.word[i]]++;
    int n_single = 0;
    for (int w = 1; w < V; w++) n_single += singleton[w] = count[w] == 1;
    free(count);

    int n_sent = tr_d.c.n_sentences;
    int64_t per_epoch = (n_sent + o.batch - 1) / o.batch;
    order = malloc((size_t)n_sent * sizeof *order);
    perm = malloc((size_t)per_epoch * sizeof *perm);
    if (!order || !perm) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (trainer_init(&tr, cmd, &o, &m.params, per_epoch)) goto done;
    trainer_ok = 1;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck)) goto done;
        rc_safetensors_close(ck);
        ck = NULL;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %d sentences (%zu tokens) for training, %d for validation; %d words "
                "(%d seen once), %d characters, %d tags (%s); %s: word %d + chars 2x%d -> "
                "2x%d x %d layer(s) -> %s; %zu parameters; %lld steps of %d sentences%s\n",
                cmd, n_sent, tr_d.c.n_tokens, va_d.c.n_sentences, V, n_single,
                rc_vocab_size(m.chars), n_tags, rc_tag_scheme_name(scheme), o.cell, word_dim,
                char_hidden, o.hidden, o.layers, no_crf ? "softmax" : "CRF",
                rc_params_numel(&m.params), (long long)tr.total_steps, o.batch,
                tr.step ? " (resumed)" : "");

    t = rc_tape_new();
    if (!t) goto done;
    int64_t plan_epoch = -1;
    double best_f1 = tr.best_valid < INFINITY ? 100.0 - tr.best_valid : 0;
    while (tr.step < tr.total_steps && !tr.stop) {
        int64_t e = tr.step / per_epoch, j = tr.step % per_epoch;
        if (e != plan_epoch) {
            epoch_plan(&tr_d, (uint64_t)o.seed, e, order, perm, (int)per_epoch);
            plan_epoch = e;
        }
        int i0 = perm[j] * o.batch, B = n_sent - i0 < o.batch ? n_sent - i0 : o.batch;
        rc_rng drop, unk;
        trainer_dropout_rng(&tr, &drop, m.word_rnn);
        rc_rng_init(&unk, (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL + 31);
        unk.counter = (uint64_t)tr.step << 20;
        batch b;
        if (batch_build(&b, &tr_d, order + i0, B, singleton, unk_p, &unk)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        rc_tape_reset(t);
        rc_var *em = emissions(t, &m, &tr_d, &b, &drop);
        rc_var *loss = em ? batch_loss(t, &m, em, &b) : NULL;
        int fail = trainer_backward_update(&tr, cmd, t, loss, (double)b.N);
        batch_free(&b);
        if (fail) goto done;
        trainer_progress(&tr, "tok", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "tok", 1);
            double t0 = trainer_now();
            rc_conlleval ev;
            if (score(cmd, &m, &va_d, eval_batch, &ev)) {
                rc_conlleval_free(&ev);
                goto done;
            }
            double f1 = rc_conlleval_overall(&ev).f1;
            /* The trainer keeps the lowest: 100 - F1. */
            int best = trainer_record_eval(&tr, 100.0 - f1);
            if (best) best_f1 = f1;
            if (!o.quiet) print_prf("validation", &ev, trainer_now() - t0,
                                    best ? "  best so far, saved" : "");
            rc_conlleval_free(&ev);
            if (best && model_save(&m, o.out)) goto done;
            trainer_plot(&tr, o.out, "training loss / validation 100 - F1");
        }
        if (trainer_should_checkpoint(&tr)) {
            meta_list ml = {0};
            char *wj, *cj, *tj;
            int fail2 = model_meta(&m, &ml, &wj, &cj, &tj) ||
                        trainer_save_checkpoint(&tr, ckpt, &ml, opts, 0, NULL, NULL);
            free(wj);
            free(cj);
            free(tj);
            if (fail2) goto done;
        }
    }
    double seconds = trainer_now() - tr.t_start;
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    double test_f1 = NAN;
    rc_conlleval tev;
    rc_conlleval_init(&tev);
    if (test) {
        /* The test set, scored with the best model. */
        rc_safetensors *st;
        tag_model best;
        if (rc_safetensors_open(o.out, &st) != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        int lf = tag_model_load(cmd, st, &best);
        rc_safetensors_close(st);
        if (lf) goto done;
        int sf = score(cmd, &best, &te_d, eval_batch, &tev);
        tag_model_free(&best);
        if (sf) {
            rc_conlleval_free(&tev);
            goto done;
        }
        test_f1 = rc_conlleval_overall(&tev).f1;
        if (!o.quiet) print_prf("test (best model)", &tev, 0, "");
    }
    if (o.json) {
        printf("{\"task\":\"ner\",\"steps\":%lld,\"best_valid_f1\":%.4f,\"best_step\":%lld",
               (long long)tr.step, best_f1, (long long)tr.best_step);
        if (test) {
            rc_prf p = rc_conlleval_overall(&tev);
            printf(",\"test_precision\":%.4f,\"test_recall\":%.4f,\"test_f1\":%.4f", p.precision,
                   p.recall, p.f1);
        }
        printf(",\"seconds\":%.1f}\n", seconds);
    } else if (!o.quiet) {
        fprintf(stderr, "%s: best validation F1 %.2f at step %lld", cmd, best_f1,
                (long long)tr.best_step);
        if (test) fprintf(stderr, ", test F1 %.2f", test_f1);
        fprintf(stderr, "; model in %s\n", o.out);
    }
    rc_conlleval_free(&tev);
    ret = 0;
done:
    rc_tape_free(t);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) tag_model_free(&m);
    rc_vocab_free(words);
    rc_vocab_free(chars);
    free_tags(tags, n_tags * (tags != NULL));
    tag_data_free(&tr_d);
    tag_data_free(&va_d);
    tag_data_free(&te_d);
    rc_safetensors_close(ck);
    free(meta_store);
    free(singleton);
    free(order);
    free(perm);
    free(ckpt);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

int tag_eval(const char *cmd, const rc_safetensors *st, const char *data, int batch_size, int json)
{
    tag_model m;
    if (tag_model_load(cmd, st, &m)) return 1;
    tag_data d;
    int ret = 1;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    if (data_read(cmd, data, 1, &d)) goto done_model;
    if (data_encode(cmd, &m, &d)) goto done;
    double t0 = trainer_now();
    if (score(cmd, &m, &d, batch_size, &ev)) goto done;
    double el = trainer_now() - t0;
    rc_prf p = rc_conlleval_overall(&ev);
    if (json) {
        printf("{\"task\":\"ner\",\"data\":\"%s\",\"sentences\":%lld,\"tokens\":%lld,"
               "\"entities\":%lld,\"found\":%lld,\"correct\":%lld,\"accuracy\":%.4f,"
               "\"precision\":%.4f,\"recall\":%.4f,\"f1\":%.4f,\"seconds\":%.2f}\n",
               data, (long long)ev.sentences, (long long)ev.tokens, (long long)ev.gold,
               (long long)ev.predicted, (long long)ev.correct, rc_conlleval_accuracy(&ev),
               p.precision, p.recall, p.f1, el);
    } else {
        char *rep;
        if (rc_conlleval_report(&ev, &rep) != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        fputs(rep, stdout);
        free(rep);
    }
    ret = 0;
done:
    tag_data_free(&d);
done_model:
    rc_conlleval_free(&ev);
    tag_model_free(&m);
    return ret;
}

/* --------------------------------------------------------- recur tag -- */

/* All of a stream (stdin), malloc'd and NUL-terminated. */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            char *q = realloc(buf, cap * 2);
            if (!q) {
                free(buf);
                return NULL;
            }
            buf = q;
            cap *= 2;
        }
    }
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

int cmd_tag(int argc, char **argv)
{
    const char *cmd = "tag", *scheme_name = NULL;
    int conll = 0, batch_size = 64, threads = 0;
    cli_option opts[] = {
        {"conll", CLI_FLAG, &conll,
         "input in CoNLL columns (token first; a last column is printed as the gold tag)"},
        {"scheme", CLI_STRING, &scheme_name,
         "write tags as iob1 | iob2 | iobes (default: the training data's)"},
        {"batch", CLI_INT, &batch_size, "sentences tagged side by side (default 64)"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[2];
    int n_pos;
    int r = cli_parse(cmd, "usage: recur tag MODEL [FILE] [options]\n\n"
                           "Tags text (FILE, or standard input) with a trained tagger. Plain\n"
                           "text is one sentence a line, tokens split at spaces; it prints\n"
                           "TOKEN/TAG for each token, one sentence a line. With --conll it\n"
                           "prints \"TOKEN [GOLD] TAG\" lines, a blank line between\n"
                           "sentences: the input of the conlleval script.\n",
                      opts, argc, argv, 2, pos, 2, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos < 1) return cli_error(cmd, "give a model file (see recur tag --help)");
    if (batch_size < 1) return cli_error(cmd, "--batch must be at least 1");
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(pos[0], &st) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    tag_model m;
    int lf = tag_model_load(cmd, st, &m);
    rc_safetensors_close(st);
    if (lf) return 1;
    rc_tag_scheme out_scheme = m.cfg.data_scheme;
    int ret = 1;
    tag_data d = {0};
    int32_t *pred = NULL;
    char tmp[64] = "";
    const char *file = n_pos > 1 ? pos[1] : "-";
    if (scheme_name && rc_tag_scheme_parse(scheme_name, &out_scheme) != RC_OK) {
        cli_error(cmd, "--scheme must be iob1, iob2 or iobes, not '%s'", scheme_name);
        goto done;
    }
    if (conll) {
        if (!strcmp(file, "-")) {
            /* The reader takes a file: standard input goes through one. */
            size_t len;
            char *text = slurp(stdin, &len);
            snprintf(tmp, sizeof tmp, "/tmp/recur-tag-XXXXXX");
            int fd = text ? mkstemp(tmp) : -1;
            FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
            int ok = f && fwrite(text, 1, len, f) == len;
            if (f) fclose(f);
            free(text);
            if (!ok) {
                cli_error(cmd, "cannot copy standard input to a temporary file");
                goto done;
            }
            file = tmp;
        }
        if (data_read(cmd, file, 0, &d)) goto done;
    } else {
        size_t len;
        char *text = NULL;
        if (!strcmp(file, "-")) {
            text = slurp(stdin, &len);
            if (!text) {
                cli_error(cmd, "out of memory");
                goto done;
            }
        } else if (rc_text_read(file, &text, &len) != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        if (text_read(cmd, !strcmp(file, "-") ? "standard input" : file, text, len, &d)) goto done;
        if (d.c.n_sentences == 0) { /* only blank lines: nothing to tag */
            ret = 0;
            goto done;
        }
    }
    d.has_tags = 0;
    if (data_encode(cmd, &m, &d)) goto done;
    pred = malloc((d.c.n_tokens ? d.c.n_tokens : 1) * sizeof *pred);
    if (!pred) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (tag_predict(cmd, &m, &d, batch_size, pred)) goto done;
    size_t line = 1;
    for (int s = 0; s < d.c.n_sentences; s++) {
        size_t s0 = d.c.start[s], L = d.c.start[s + 1] - s0;
        const char **p = sentence_tags(&m, pred + s0, L, out_scheme);
        if (!p) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        if (conll) {
            if (s) putchar('\n');
            for (size_t i = 0; i < L; i++) {
                if (d.c.n_columns >= 2)
                    printf("%s %s %s\n", d.c.tokens[s0 + i], d.c.tags[s0 + i], p[i]);
                else
                    printf("%s %s\n", d.c.tokens[s0 + i], p[i]);
            }
        } else {
            for (; line < d.c.line[s]; line++) putchar('\n');
            for (size_t i = 0; i < L; i++)
                printf("%s%s/%s", i ? " " : "", d.c.tokens[s0 + i], p[i]);
            putchar('\n');
            line++;
        }
        free((void *)p);
    }
    ret = 0;
done:
    if (tmp[0]) unlink(tmp);
    free(pred);
    tag_data_free(&d);
    tag_model_free(&m);
    return ret;
}
