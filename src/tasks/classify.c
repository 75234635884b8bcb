/* classify.c - sequence classification (many-to-one).
 *
 * Model (docs/classification.md has the picture):
 *   x_1..x_L   tokens through an embedding, or feature vectors
 *              (standardised per feature with the training set's mean and sd)
 *   -> input dropout -> recurrent layers (any cell, stacked, one or two
 *      directions), reading each sequence to its own length L
 *   -> pool:  last       h = [h_fwd(L) ; h_bwd(1)]  (the final states)
 *             mean       h = (1/L) sum_{t<=L} y_t
 *             max        h_d = max_{t<=L} y_td
 *             attention  a_t = softmax_t(v . tanh(W y_t + b)),  h = sum_t a_t y_t
 *   -> dropout -> linear -> softmax over the K classes
 * Loss: mean cross-entropy over the batch. Padding never reaches a pool or
 * a final state: the recurrent layer stops each sequence at its length, and
 * the pools and the attention read only steps t <= L.
 *
 * Recipes (--data-format): SST sentences (fine-grained or binary), DNA
 * splice junctions (k-fold cross-validation), MSR Action3D skeletons
 * (cross-subject). Training batches are drawn from a permutation keyed by
 * (seed, epoch) and grouped by length, so a resumed run draws the same
 * batches from the step count alone. */
#include "classify.h"

#include "../plot/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- data -- */

void cls_data_free(cls_data *d)
{
    if (!d) return;
    free(d->label), free(d->len), free(d->off), free(d->tok), free(d->x);
    memset(d, 0, sizeof *d);
}

int cls_data_push(cls_data *d, int label, int len, const int32_t *tok, const float *x)
{
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 256;
        int32_t *l = realloc(d->label, (size_t)cap * sizeof *l);
        if (!l) return -1;
        d->label = l;
        int32_t *n = realloc(d->len, (size_t)cap * sizeof *n);
        if (!n) return -1;
        d->len = n;
        size_t *o = realloc(d->off, (size_t)cap * sizeof *o);
        if (!o) return -1;
        d->off = o;
        d->cap = cap;
    }
    if (d->steps + (size_t)len > d->cap_steps) {
        size_t cap = d->cap_steps ? 2 * d->cap_steps : 4096;
        while (cap < d->steps + (size_t)len) cap *= 2;
        if (d->feat) {
            float *p = realloc(d->x, cap * (size_t)d->feat * sizeof *p);
            if (!p) return -1;
            d->x = p;
        } else {
            int32_t *p = realloc(d->tok, cap * sizeof *p);
            if (!p) return -1;
            d->tok = p;
        }
        d->cap_steps = cap;
    }
    d->label[d->n] = label;
    d->len[d->n] = len;
    d->off[d->n] = d->steps;
    if (d->feat)
        memcpy(d->x + d->steps * (size_t)d->feat, x, (size_t)len * (size_t)d->feat * sizeof *x);
    else
        memcpy(d->tok + d->steps, tok, (size_t)len * sizeof *tok);
    d->steps += (size_t)len;
    d->n++;
    return 0;
}

/* Appends position features to every step: with np = 1 its relative
 * position in its sequence, 2t/(L-1) - 1 in [-1, 1] (0 for a sequence of
 * one step); with np > 1 a one-hot of t (sequences of at most np steps).
 * Returns 0, -1 out of memory, or the 1-based index of a sequence too long. */
static int data_add_position(cls_data *d, int np)
{
    int F = d->feat, G = F + np;
    for (int i = 0; np > 1 && i < d->n; i++)
        if (d->len[i] > np) return i + 1;
    float *x = calloc((d->steps ? d->steps : 1) * (size_t)G, sizeof *x);
    if (!x) return -1;
    for (int i = 0; i < d->n; i++)
        for (int t = 0; t < d->len[i]; t++) {
            size_t s = d->off[i] + (size_t)t;
            memcpy(x + s * G, d->x + s * F, (size_t)F * sizeof *x);
            if (np > 1) x[s * G + F + t] = 1.0f;
            else x[s * G + F] = d->len[i] > 1 ? 2.0f * t / (float)(d->len[i] - 1) - 1.0f : 0.0f;
        }
    free(d->x);
    d->x = x;
    d->feat = G;
    d->cap_steps = d->steps;
    return 0;
}

static const char *const position_names[] = {"none", "relative", "onehot"};

static int position_mode(int np) { return np == 0 ? 0 : np == 1 ? 1 : 2; }

/* Examples idx[0..n) of src into a new set. */
static int data_subset(const cls_data *src, const int *idx, int n, cls_data *out)
{
    memset(out, 0, sizeof *out);
    out->feat = src->feat;
    for (int i = 0; i < n; i++) {
        int j = idx[i];
        if (cls_data_push(out, src->label[j], src->len[j],
                          src->feat ? NULL : src->tok + src->off[j],
                          src->feat ? src->x + src->off[j] * (size_t)src->feat : NULL))
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- classes -- */

static const char *const sst_fine_names[] = {"very-negative", "negative", "neutral", "positive",
                                             "very-positive"};
static const char *const sst_binary_names[] = {"negative", "positive"};
static const char *const action_names[] = {
    "high-arm-wave", "horizontal-arm-wave", "hammer", "hand-catch", "forward-punch",
    "high-throw", "draw-x", "draw-tick", "draw-circle", "hand-clap", "two-hand-wave",
    "side-boxing", "bend", "forward-kick", "side-kick", "jogging", "tennis-swing",
    "tennis-serve", "golf-swing", "pick-up-and-throw"};

const char *cls_class_name(const cls_config *c, int k)
{
    if (k < 0 || k >= c->n_classes) return "?";
    switch (c->format) {
    case CLS_FMT_SST: return c->fine ? sst_fine_names[k] : sst_binary_names[k];
    case CLS_FMT_SPLICE: return rc_splice_class_name(k);
    default: return action_names[k];
    }
}

static const char *const format_names[] = {"sst", "splice", "skeleton"};
static const char *const pool_names[] = {"last", "mean", "max", "attention"};

static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* ------------------------------------------------------------ model -- */

void cls_model_free(cls_model *m)
{
    if (!m) return;
    rc_embedding_free(&m->emb);
    rc_rnn_free(m->rnn);
    rc_linear_free(&m->attn_proj);
    rc_param_free(m->attn_v);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    rc_vocab_free(m->vocab);
    free(m->norm_mean);
    free(m->norm_sd);
    memset(m, 0, sizeof *m);
}

int cls_model_init(cls_model *m, const cls_config *c, rc_vocab *vocab, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->vocab = vocab;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    int in = c->input_dim > 0 ? c->input_dim : c->embed;
    rc_rnn_config rc = rc_rnn_defaults(c->cell, in, c->hidden);
    rc.num_layers = c->layers;
    rc.bidirectional = c->bidirectional;
    rc.dropout = c->dropout;
    rc_params_init(&m->params);
    rc_status s = RC_OK;
    if (c->input_dim <= 0) {
        if (!vocab) goto fail; /* a token model needs one: callers always pass it */
        if ((s = rc_embedding_init(&m->emb, "embedding", rc_vocab_size(vocab), c->embed, &rng)) ||
            (s = rc_params_add(&m->params, "", m->emb.weight)))
            goto fail;
        /* A smaller start lets Adam's steps (about lr each) move the
         * vectors a meaningful distance from where they began. */
        if (c->embed_sd > 0 && c->embed_sd != 1)
            for (size_t i = 0; i < m->emb.weight->value.size; i++)
                m->emb.weight->value.data[i] *= c->embed_sd;
    }
    if ((s = rc_rnn_new(&rc, seed + 1, &m->rnn))) goto fail;
    for (int i = 0; i < m->rnn->n_params; i++)
        if ((s = rc_params_add(&m->params, "rnn.", m->rnn->params[i]))) goto fail;
    int D = rc_rnn_output_size(m->rnn);
    if (c->pool == CLS_POOL_ATTENTION) {
        int sv[1] = {c->attn};
        if ((s = rc_linear_init(&m->attn_proj, "attention", D, c->attn, 1, &rng)) ||
            !(m->attn_v = rc_param_new("attention.v", 1, sv)))
            goto fail;
        float r = 1.0f / sqrtf((float)c->attn);
        rc_rng_fill_uniform(&rng, m->attn_v->value.data, (size_t)c->attn, -r, r);
        if ((s = rc_params_add(&m->params, "", m->attn_proj.weight)) ||
            (s = rc_params_add(&m->params, "", m->attn_proj.bias)) ||
            (s = rc_params_add(&m->params, "", m->attn_v)))
            goto fail;
    }
    if ((s = rc_linear_init(&m->head, "head", D, c->n_classes, 1, &rng)) ||
        (s = rc_params_add(&m->params, "", m->head.weight)) ||
        (s = rc_params_add(&m->params, "", m->head.bias)))
        goto fail;
    return 0;
fail:
    m->vocab = NULL; /* the caller still owns it */
    cls_model_free(m);
    return -1;
}

static int max_len(const cls_data *d, const int *idx, int B)
{
    int T = 1;
    for (int i = 0; i < B; i++)
        if (d->len[idx[i]] > T) T = d->len[idx[i]];
    return T;
}

/* The batch's inputs, time-major and padded: ids [T x B] (pad 0) or
 * x [T x B x F] (pad 0, standardised with norm when given). */
static rc_var *batch_input(rc_tape *t, cls_model *m, const cls_data *d, const int *idx, int B,
                           int T, int32_t *lengths, rc_rng *drop)
{
    rc_arena *a = rc_tape_arena(t);
    for (int b = 0; b < B; b++) lengths[b] = d->len[idx[b]];
    if (!d->feat) {
        int32_t *ids = rc_arena_calloc(a, (size_t)T * B * sizeof *ids);
        if (!ids) return NULL;
        /* Word dropout (training): a word becomes <unk> with probability
         * p, so the model cannot lean on any one word. */
        float p = drop && rc_tape_training(t) ? m->cfg.word_dropout : 0;
        for (int b = 0; b < B; b++) {
            const int32_t *src = d->tok + d->off[idx[b]];
            for (int s = 0; s < lengths[b]; s++)
                ids[(size_t)s * B + b] = p > 0 && rc_rng_uniform(drop) < p ? RC_VOCAB_UNK : src[s];
        }
        rc_var *e = rc_embedding(t, m->emb.weight, ids, T * B);
        int sh[3] = {T, B, m->cfg.embed};
        return rc_reshape(t, e, 3, sh);
    }
    int F = d->feat;
    float *x = rc_arena_calloc(a, (size_t)T * B * F * sizeof *x);
    if (!x) return NULL;
    for (int b = 0; b < B; b++) {
        const float *src = d->x + d->off[idx[b]] * (size_t)F;
        for (int s = 0; s < lengths[b]; s++) {
            float *dst = x + ((size_t)s * B + b) * F;
            const float *row = src + (size_t)s * F;
            for (int f = 0; f < F; f++)
                dst[f] = m->norm_mean ? (row[f] - m->norm_mean[f]) / m->norm_sd[f] : row[f];
        }
    }
    int sh[3] = {T, B, F};
    return rc_input(t, 3, sh, x);
}

/* The final states of the top layer: [B x P], or [B x 2P] with both
 * directions (forward after each sequence's last step, backward after its
 * first). */
static rc_var *last_states(rc_tape *t, cls_model *m, rc_var *h_n, int B)
{
    int dirs = m->cfg.bidirectional ? 2 : 1, P = h_n->value.shape[2];
    int top = (m->cfg.layers - 1) * dirs;
    int sh[2] = {B, P};
    rc_var *f = rc_reshape(t, rc_slice(t, h_n, 0, top, 1), 2, sh);
    if (dirs == 1) return f;
    rc_var *both[2] = {f, rc_reshape(t, rc_slice(t, h_n, 0, top + 1, 1), 2, sh)};
    return rc_concat(t, both, 2, 1);
}

rc_var *cls_forward(rc_tape *t, cls_model *m, const cls_data *d, const int *idx, int B,
                    rc_rng *drop, rc_var **attn)
{
    const cls_config *c = &m->cfg;
    int T = max_len(d, idx, B);
    int32_t *lengths = rc_arena_alloc(rc_tape_arena(t), (size_t)B * sizeof *lengths);
    if (!lengths) return NULL;
    rc_var *x = batch_input(t, m, d, idx, B, T, lengths, drop);
    if (x && c->input_dropout > 0) x = rc_dropout(t, x, c->input_dropout, drop);
    rc_var *y = NULL, *hn = NULL, *cn = NULL, *h = NULL;
    if (!x || rc_rnn_forward(t, m->rnn, x, lengths, NULL, NULL, &y, &hn, &cn) != RC_OK)
        return NULL;
    switch (c->pool) {
    case CLS_POOL_LAST: h = last_states(t, m, hn, B); break;
    case CLS_POOL_MEAN: h = rc_pool_time(t, y, lengths, RC_POOL_MEAN); break;
    case CLS_POOL_MAX: h = rc_pool_time(t, y, lengths, RC_POOL_MAX); break;
    case CLS_POOL_ATTENTION: {
        /* Additive attention with a constant zero query: the scores are
         * v . tanh(W y_t + b), the context the pooled vector. */
        rc_var *kp = rc_attention_project(t, y, m->attn_proj.weight, m->attn_proj.bias);
        int sq[2] = {B, c->attn};
        rc_var *q = rc_input(t, 2, sq, NULL), *w = NULL;
        if (!kp || !q ||
            rc_attention_additive(t, q, NULL, kp, m->attn_v, y, lengths, &h, &w) != RC_OK)
            return NULL;
        if (attn) *attn = w;
        break;
    }
    }
    if (h && c->dropout > 0) h = rc_dropout(t, h, c->dropout, drop);
    return rc_linear_forward(t, &m->head, h);
}

/* ---------------------------------------------------------- metrics -- */

void cls_metrics_finish(cls_metrics *r)
{
    int K = r->K;
    int64_t right = 0;
    double f1 = 0;
    for (int k = 0; k < K; k++) {
        int64_t tp = r->conf[k * K + k], gold = 0, pred = 0;
        for (int j = 0; j < K; j++) gold += r->conf[k * K + j], pred += r->conf[j * K + k];
        right += tp;
        f1 += gold + pred > 0 ? 2.0 * (double)tp / (double)(gold + pred) : 0.0;
    }
    r->accuracy = r->n ? (double)right / (double)r->n : 0;
    r->macro_f1 = K ? f1 / K : 0;
}

/* Order of indices by length (longest first), for evaluation batches. */
static int cmp_len_desc(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

#define EVAL_BATCH 64

int cls_evaluate(cls_model *m, const cls_data *d, float *probs, cls_metrics *out)
{
    int K = m->cfg.n_classes;
    memset(out, 0, sizeof *out);
    out->K = K;
    if (d->n == 0) return 0;
    int64_t *key = malloc((size_t)d->n * sizeof *key);
    int *idx = malloc((size_t)d->n * sizeof *idx);
    rc_tape *t = rc_tape_new();
    int ret = -1;
    if (!key || !idx || !t) {
        goto done;
    }
    for (int i = 0; i < d->n; i++) key[i] = ((int64_t)d->len[i] << 32) | (int64_t)(d->n - 1 - i);
    qsort(key, (size_t)d->n, sizeof *key, cmp_len_desc);
    for (int i = 0; i < d->n; i++) idx[i] = d->n - 1 - (int)(key[i] & 0xffffffff);
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    double loss = 0;
    for (int i0 = 0; i0 < d->n; i0 += EVAL_BATCH) {
        int B = d->n - i0 < EVAL_BATCH ? d->n - i0 : EVAL_BATCH;
        rc_tape_reset(t);
        rc_var *lg = cls_forward(t, m, d, idx + i0, B, NULL, NULL);
        if (!lg) goto done;
        for (int b = 0; b < B; b++) {
            const float *z = lg->value.data + (size_t)b * K;
            float mx = z[0];
            int best = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > mx) mx = z[k], best = k;
            double s = 0;
            for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
            int i = idx[i0 + b], g = d->label[i];
            if (probs)
                for (int k = 0; k < K; k++)
                    probs[(size_t)i * K + k] = (float)(exp((double)z[k] - mx) / s);
            if (g >= 0 && g < K) {
                loss += log(s) - ((double)z[g] - mx);
                out->conf[g * K + best]++;
                out->n++;
            }
        }
    }
    out->loss = out->n ? loss / (double)out->n : NAN;
    cls_metrics_finish(out);
    ret = 0;
done:
    free(key);
    free(idx);
    rc_tape_free(t);
    return ret;
}

/* Per class: gold count, precision, recall, F1 and error rate (percent). */
static void class_scores(const cls_metrics *r, int k, int64_t *gold, double *p, double *rc,
                         double *f1)
{
    int K = r->K;
    int64_t tp = r->conf[k * K + k], g = 0, pr = 0;
    for (int j = 0; j < K; j++) g += r->conf[k * K + j], pr += r->conf[j * K + k];
    *gold = g;
    *p = pr ? 100.0 * (double)tp / (double)pr : 0;
    *rc = g ? 100.0 * (double)tp / (double)g : 0;
    *f1 = g + pr ? 200.0 * (double)tp / (double)(g + pr) : 0;
}

static void print_metrics(FILE *f, const cls_config *c, const cls_metrics *r, const char *what)
{
    int K = r->K;
    fprintf(f, "%s: %lld sequences: accuracy %.2f%%, macro F1 %.2f%%", what, (long long)r->n,
            100 * r->accuracy, 100 * r->macro_f1);
    if (!isnan(r->loss)) fprintf(f, ", loss %.4f", r->loss);
    fputc('\n', f);
    /* The confusion matrix: rows gold, columns predicted. */
    int w = 6;
    for (int k = 0; k < K; k++) {
        int l = (int)strlen(cls_class_name(c, k));
        if (l + 1 > w) w = l + 1;
    }
    if (w > 22) w = 22;
    fprintf(f, "confusion (rows: true class, columns: predicted; classes in this order):\n");
    for (int k = 0; k < K; k++) {
        fprintf(f, "  %2d %-*.*s", k, w, w - 1, cls_class_name(c, k));
        for (int j = 0; j < K; j++) fprintf(f, " %5lld", (long long)r->conf[k * K + j]);
        fputc('\n', f);
    }
    fprintf(f, "  %-*s %8s %9s %7s %6s %7s\n", w + 3, "class", "count", "precision", "recall",
            "F1", "error");
    for (int k = 0; k < K; k++) {
        int64_t g;
        double p, rc, f1;
        class_scores(r, k, &g, &p, &rc, &f1);
        fprintf(f, "  %-*.*s %8lld %8.2f%% %6.2f%% %6.2f %6.2f%%\n", w + 3, w + 2,
                cls_class_name(c, k), (long long)g, p, rc, f1, g ? 100 - rc : 0.0);
    }
}

/* The confusion matrix as an image (rows true, columns predicted).
 * Returns 0, or -1 with the reason in plot_last_error(). */
static int draw_confusion(const cls_config *c, const cls_metrics *r, const char *path,
                          const char *title)
{
    int K = r->K;
    float *v = malloc((size_t)K * K * sizeof *v);
    const char *names[64];
    if (!v) return -1;
    for (int i = 0; i < K * K; i++) v[i] = (float)r->conf[i];
    for (int k = 0; k < K; k++) names[k] = cls_class_name(c, k);
    plot_heatmap_spec sp = {0};
    sp.title = title;
    sp.xlabel = "predicted class";
    sp.ylabel = "true class";
    sp.row_labels = names;
    sp.col_labels = names;
    sp.annotate = 1;
    if (K <= 6) sp.width = 560, sp.height = 480; /* the automatic size is tiny for few classes */
    int bad = plot_heatmap_png(path, &sp, v, K, K) != RC_OK ? -1 : 0;
    free(v);
    return bad;
}

static char *path_with(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", base, suffix);
    return p;
}

/* ------------------------------------------------------ data readers -- */

/* SST trees: the root label of each tree (fine: 0..4; binary: 0,1 -> 0,
 * 3,4 -> 1, neutral left out) over its words (lower-cased first with
 * lowercase); with phrases, every node's span with that node's label as
 * well (training only). */
static int read_sst(const char *cmd, const char *path, int fine, int lowercase, int phrases,
                    int min_freq, rc_vocab **vocab, cls_data *out)
{
    rc_treebank *tb = NULL;
    int ret = 1;
    int32_t *lo = NULL, *hi = NULL, *ids = NULL;
    memset(out, 0, sizeof *out);
    if (rc_trees_read(path, &tb) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    if (lowercase) rc_treebank_lowercase(tb);
    if (!*vocab && rc_treebank_build_vocab(tb, min_freq, 0, vocab) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    if (rc_treebank_index(tb, *vocab, NULL) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    size_t nodes = rc_treebank_total_nodes(tb);
    lo = malloc(nodes * sizeof *lo), hi = malloc(nodes * sizeof *hi);
    ids = malloc(nodes * sizeof *ids);
    if (!lo || !hi || !ids) goto oom;
    for (int i = 0; i < rc_treebank_count(tb); i++) {
        rc_tree tr;
        rc_treebank_tree(tb, i, &tr);
        for (int l = 0; l < tr.n_leaves; l++) ids[l] = tr.word_id[tr.leaves[l]];
        /* Each node's span of leaves: children come before parents. */
        for (int v = 0; v < tr.n_nodes; v++) {
            if (tr.n_children[v] == 0) {
                lo[v] = hi[v] = tr.leaf_pos[v];
                continue;
            }
            lo[v] = INT32_MAX, hi[v] = -1;
            for (int k = 0; k < tr.n_children[v]; k++) {
                int ch = tr.children[tr.first_child[v] + k];
                if (lo[ch] < lo[v]) lo[v] = lo[ch];
                if (hi[ch] > hi[v]) hi[v] = hi[ch];
            }
        }
        int first = phrases ? 0 : tr.n_nodes - 1;
        for (int v = first; v < tr.n_nodes; v++) {
            int y = tr.label[v];
            if (!fine) {
                if (y == 2) continue;
                y = y > 2;
            }
            if (cls_data_push(out, y, hi[v] - lo[v] + 1, ids + lo[v], NULL)) goto oom;
        }
    }
    if (out->n == 0) {
        cli_error(cmd, "%s: no sentence with a %s label", path, fine ? "" : "non-neutral");
        goto done;
    }
    ret = 0;
    goto done;
oom:
    cli_error(cmd, "out of memory");
done:
    if (ret) cls_data_free(out);
    free(lo), free(hi), free(ids);
    rc_treebank_free(tb);
    return ret;
}

/* Splice junctions: a step per nucleotide, its features the nucleotide
 * (or ambiguity code) as a distribution over A, C, G, T, and with context
 * K those of the K bases before and after it too (zeros past the ends):
 * 4 (2K + 1) features. */
static int splice_push(cls_data *d, int label, const int32_t *seq, int len, int context)
{
    int F = 4 * (2 * context + 1);
    float *x = calloc((size_t)len * F, sizeof *x);
    if (!x) return -1;
    for (int s = 0; s < len; s++)
        for (int k = -context; k <= context; k++)
            if (s + k >= 0 && s + k < len)
                rc_splice_token_probs(seq[s + k], x + (size_t)s * F + 4 * (k + context));
    int r = cls_data_push(d, label, len, NULL, x);
    free(x);
    return r;
}

static int read_splice(const char *cmd, const char *path, int context, cls_data *out)
{
    rc_splice sp;
    memset(out, 0, sizeof *out);
    out->feat = 4 * (2 * context + 1);
    if (rc_splice_read(path, &sp) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    for (int i = 0; i < sp.n; i++)
        if (splice_push(out, sp.label[i], sp.seq + (size_t)i * RC_SPLICE_LEN, RC_SPLICE_LEN,
                        context)) {
            rc_splice_free(&sp);
            cls_data_free(out);
            return cli_error(cmd, "out of memory");
        }
    rc_splice_free(&sp);
    return 0;
}

/* One skeleton sequence as model input: the joints normalised (hip centre
 * at the origin, body size 1), and with velocity the change from the
 * previous frame appended (zero at the first frame). */
static int skeleton_features(const char *cmd, rc_skeleton *s, int velocity, float **out)
{
    if (rc_skeleton_normalize(s->xyz, s->frames, 6) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    int F = velocity ? 2 * RC_SKEL_DIM : RC_SKEL_DIM;
    float *x = malloc((size_t)s->frames * F * sizeof *x);
    if (!x) return cli_error(cmd, "out of memory");
    for (int t = 0; t < s->frames; t++) {
        const float *p = s->xyz + (size_t)t * RC_SKEL_DIM;
        float *r = x + (size_t)t * F;
        memcpy(r, p, RC_SKEL_DIM * sizeof *r);
        if (velocity)
            for (int j = 0; j < RC_SKEL_DIM; j++)
                r[RC_SKEL_DIM + j] = t ? p[j] - p[j - RC_SKEL_DIM] : 0.0f;
    }
    *out = x;
    return 0;
}

/* The cross-subject halves of a skeleton directory: which = 1 train (odd
 * subjects), 0 test (even), -1 all. The known all-zero file is left out. */
static int read_skeletons(const char *cmd, const char *dir, int which, int velocity,
                          cls_data *out)
{
    rc_skeleton_entry *e = NULL;
    int n = 0, ret = 1;
    memset(out, 0, sizeof *out);
    out->feat = velocity ? 2 * RC_SKEL_DIM : RC_SKEL_DIM;
    if (rc_skeleton_list(dir, 1, &e, &n, NULL) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    for (int i = 0; i < n; i++) {
        if (which >= 0 && e[i].train != which) continue;
        rc_skeleton s;
        float *x = NULL;
        if (rc_skeleton_read(e[i].path, &s) != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        int bad = skeleton_features(cmd, &s, velocity, &x);
        if (!bad && cls_data_push(out, e[i].action - 1, s.frames, NULL, x))
            bad = cli_error(cmd, "out of memory");
        free(x);
        rc_skeleton_free(&s);
        if (bad) goto done;
    }
    if (out->n == 0) {
        cli_error(cmd, "%s: no sequence of the %s subjects", dir, which ? "odd" : "even");
        goto done;
    }
    ret = 0;
done:
    if (ret) cls_data_free(out);
    rc_skeleton_list_free(e, n);
    return ret;
}

/* ------------------------------------------------------ model files -- */

static char *classes_csv(const cls_config *c)
{
    size_t n = 1;
    for (int k = 0; k < c->n_classes; k++) n += strlen(cls_class_name(c, k)) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = '\0';
    for (int k = 0; k < c->n_classes; k++) {
        if (k) strcat(s, ",");
        strcat(s, cls_class_name(c, k));
    }
    return s;
}

/* Metadata describing the model; *owned collects strings to free. */
static int model_meta(const cls_model *m, meta_list *ml, char **vocab_json, char **classes)
{
    const cls_config *c = &m->cfg;
    *vocab_json = NULL;
    if (m->vocab && rc_vocab_to_json(m->vocab, vocab_json) != RC_OK) return -1;
    if (!(*classes = classes_csv(c))) return -1;
    meta_add_header(ml, "classify");
    meta_add(ml, "data_format", format_names[c->format]);
    if (c->format == CLS_FMT_SST) meta_add(ml, "labels", c->fine ? "fine" : "binary");
    meta_add(ml, "classes", *classes);
    meta_addf(ml, "n_classes", "%.9g", c->n_classes);
    meta_addf(ml, "input_dim", "%.9g", c->input_dim);
    meta_addf(ml, "embed", "%.9g", c->embed);
    meta_add(ml, "cell", train_cell_name(c->cell));
    meta_addf(ml, "hidden", "%.9g", c->hidden);
    meta_addf(ml, "layers", "%.9g", c->layers);
    meta_add(ml, "bidirectional", c->bidirectional ? "true" : "false");
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_addf(ml, "input_dropout", "%.9g", c->input_dropout);
    meta_add(ml, "pool", pool_names[c->pool]);
    meta_addf(ml, "attention", "%.9g", c->attn);
    meta_add(ml, "velocity", c->velocity ? "true" : "false");
    meta_add(ml, "position", position_names[position_mode(c->position)]);
    meta_addf(ml, "context", "%.9g", c->context);
    meta_add(ml, "lowercase", c->lowercase ? "true" : "false");
    meta_addf(ml, "word_dropout", "%.9g", c->word_dropout);
    if (*vocab_json) meta_add(ml, "vocab", *vocab_json);
    return 0;
}

/* The standardisation as extra tensors "norm.mean" and "norm.sd". */
static int norm_tensors(const cls_model *m, const char **names, rc_tensor *ts,
                        const rc_tensor **tp)
{
    if (!m->norm_mean) return 0;
    int F = m->cfg.input_dim;
    ts[0] = (rc_tensor){m->norm_mean, 1, {F}, (size_t)F};
    ts[1] = (rc_tensor){m->norm_sd, 1, {F}, (size_t)F};
    names[0] = "norm.mean", names[1] = "norm.sd";
    tp[0] = &ts[0], tp[1] = &ts[1];
    return 2;
}

static int model_save(const cls_model *m, const char *path)
{
    meta_list ml = {0};
    char *vj = NULL, *cl = NULL;
    int r = 0;
    if (model_meta(m, &ml, &vj, &cl)) {
        r = cli_error("train", "%s", rc_last_error());
    } else {
        const char *names[2];
        rc_tensor ts[2];
        const rc_tensor *tp[2];
        int ne = norm_tensors(m, names, ts, tp);
        if (rc_checkpoint_save(path, &m->params, NULL, ne, names, tp, ml.n, ml.k, ml.v) != RC_OK)
            r = cli_error("train", "%s", rc_last_error());
    }
    free(vj);
    free(cl);
    return r;
}

static int meta_int(const char *cmd, const rc_safetensors *st, const char *key, int lo, int hi,
                    int *out)
{
    if (rc_safetensors_meta_int(st, key, lo, hi, out) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    return 0;
}

static int meta_choice(const char *cmd, const rc_safetensors *st, const char *key,
                       const char *const *names, int n, int *out)
{
    const char *v = rc_safetensors_meta(st, key);
    if ((*out = name_index(v, names, n)) < 0)
        return cli_error(cmd, "%s: metadata '%s' is %s%s%s", rc_safetensors_path(st), key,
                         v ? "'" : "missing", v ? v : "", v ? "'" : "");
    return 0;
}

static int model_load(const char *cmd, const rc_safetensors *st, cls_model *m)
{
    if (train_model_check(cmd, st, "classify", "classifier")) return 1;
    const char *path = rc_safetensors_path(st);
    cls_config c;
    memset(&c, 0, sizeof c);
    int fmt, pool, bi, vel, pos;
    static const char *const labels[] = {"binary", "fine"};
    if (meta_choice(cmd, st, "data_format", format_names, 3, &fmt) ||
        meta_choice(cmd, st, "pool", pool_names, 4, &pool))
        return 1;
    c.format = (cls_format)fmt;
    c.pool = (cls_pool)pool;
    if (c.format == CLS_FMT_SST && meta_choice(cmd, st, "labels", labels, 2, &c.fine)) return 1;
    if (meta_choice(cmd, st, "position", position_names, 3, &pos)) return 1;
    if (pos == 2 && c.format != CLS_FMT_SPLICE)
        return cli_error(cmd, "%s: one-hot positions are for splice models", path);
    if (train_cell_kind(rc_safetensors_meta(st, "cell"), &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is not a cell name", path);
    if (meta_int(cmd, st, "n_classes", 2, 64, &c.n_classes) ||
        meta_int(cmd, st, "input_dim", 0, 1 << 20, &c.input_dim) ||
        meta_int(cmd, st, "embed", 0, 1 << 20, &c.embed) ||
        meta_int(cmd, st, "hidden", 1, 1 << 20, &c.hidden) ||
        meta_int(cmd, st, "layers", 1, 100, &c.layers) ||
        meta_int(cmd, st, "attention", 0, 1 << 20, &c.attn) ||
        meta_int(cmd, st, "context", 0, 29, &c.context))
        return 1;
    if (rc_safetensors_meta_bool(st, "bidirectional", &bi) != RC_OK ||
        rc_safetensors_meta_bool(st, "velocity", &vel) != RC_OK ||
        rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK ||
        rc_safetensors_meta_float(st, "input_dropout", &c.input_dropout) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    c.bidirectional = bi, c.velocity = vel;
    /* Models written before these keys existed: cased words, no word dropout. */
    if ((rc_safetensors_meta(st, "lowercase") &&
         rc_safetensors_meta_bool(st, "lowercase", &c.lowercase) != RC_OK) ||
        (rc_safetensors_meta(st, "word_dropout") &&
         rc_safetensors_meta_float(st, "word_dropout", &c.word_dropout) != RC_OK))
        return cli_error(cmd, "%s", rc_last_error());
    if (c.lowercase && c.format != CLS_FMT_SST)
        return cli_error(cmd, "%s: lower-casing is for SST models", path);
    c.position = pos == 2 ? RC_SPLICE_LEN : pos;
    int want_k = c.format == CLS_FMT_SST ? (c.fine ? 5 : 2)
                 : c.format == CLS_FMT_SPLICE ? RC_SPLICE_CLASSES : 20;
    if (c.n_classes != want_k)
        return cli_error(cmd, "%s: %d classes, but %s data has %d", path, c.n_classes,
                         format_names[c.format], want_k);
    if ((c.input_dim == 0) != (c.format == CLS_FMT_SST) || (c.input_dim == 0 && c.embed < 1) ||
        (c.pool == CLS_POOL_ATTENTION && c.attn < 1))
        return cli_error(cmd, "%s: inconsistent input_dim/embed/attention metadata", path);
    rc_vocab *v = NULL;
    if (c.input_dim == 0) {
        const char *vj = rc_safetensors_meta(st, "vocab");
        if (!vj) return cli_error(cmd, "%s: no vocabulary in the model file", path);
        if (rc_vocab_from_json(vj, &v) != RC_OK)
            return cli_error(cmd, "%s: %s", path, rc_last_error());
    }
    if (cls_model_init(m, &c, v, 0)) {
        rc_vocab_free(v);
        return cli_error(cmd, "%s", rc_last_error());
    }
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        cls_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    if (rc_safetensors_find(st, "norm.mean") >= 0) {
        rc_tensor a, b;
        int sh[1] = {c.input_dim};
        if (rc_safetensors_get_expect(st, "norm.mean", 1, sh, &a) != RC_OK) {
            cls_model_free(m);
            return cli_error(cmd, "%s", rc_last_error());
        }
        if (rc_safetensors_get_expect(st, "norm.sd", 1, sh, &b) != RC_OK) {
            rc_tensor_free(&a);
            cls_model_free(m);
            return cli_error(cmd, "%s", rc_last_error());
        }
        m->norm_mean = a.data, m->norm_sd = b.data;
        for (int f = 0; f < c.input_dim; f++)
            if (!(m->norm_sd[f] > 0) || !isfinite(m->norm_mean[f])) {
                cls_model_free(m);
                return cli_error(cmd, "%s: norm.sd[%d] is not positive", path, f);
            }
    }
    return 0;
}

/* The model's standardisation: mean and sd of every feature over all
 * steps of d (sd at least 1e-3). */
static int norm_fit(const cls_data *d, cls_model *m)
{
    int F = d->feat;
    double *s = calloc((size_t)2 * F, sizeof *s);
    float *mean = malloc((size_t)F * sizeof *mean), *sd = malloc((size_t)F * sizeof *sd);
    if (!s || !mean || !sd) {
        free(s), free(mean), free(sd);
        return -1;
    }
    for (size_t i = 0; i < d->steps; i++)
        for (int f = 0; f < F; f++) {
            double v = d->x[i * F + f];
            s[f] += v, s[F + f] += v * v;
        }
    for (int f = 0; f < F; f++) {
        double mu = s[f] / (double)d->steps, var = s[F + f] / (double)d->steps - mu * mu;
        mean[f] = (float)mu;
        sd[f] = (float)(var > 1e-6 ? sqrt(var) : 1e-3);
    }
    free(s);
    free(m->norm_mean), free(m->norm_sd);
    m->norm_mean = mean, m->norm_sd = sd;
    return 0;
}

/* ---------------------------------------------------------- batching -- */

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The batches of one epoch: the examples shuffled by (seed, epoch), then
 * sorted by length within runs of 50 batches (less padding), cut into
 * batches, and the batches shuffled. order[] holds the example indices,
 * batch k is order[bstart[k] .. bstart[k] + bsize[k]). */
typedef struct epoch_plan {
    int64_t epoch;
    int n, B, nb;
    int *order, *bstart, *bsize, *tmp;
    int64_t *key;
} epoch_plan;

static int plan_init(epoch_plan *p, int n, int B)
{
    memset(p, 0, sizeof *p);
    p->epoch = -1, p->n = n, p->B = B, p->nb = (n + B - 1) / B;
    p->order = malloc((size_t)n * sizeof *p->order);
    p->tmp = malloc((size_t)n * sizeof *p->tmp);
    p->key = malloc((size_t)n * sizeof *p->key);
    p->bstart = malloc((size_t)p->nb * sizeof *p->bstart);
    p->bsize = malloc((size_t)p->nb * sizeof *p->bsize);
    return p->order && p->tmp && p->key && p->bstart && p->bsize ? 0 : -1;
}

static void plan_free(epoch_plan *p)
{
    free(p->order), free(p->tmp), free(p->key), free(p->bstart), free(p->bsize);
    memset(p, 0, sizeof *p);
}

static void plan_epoch(epoch_plan *p, const cls_data *d, uint64_t seed, int64_t epoch)
{
    if (p->epoch == epoch) return;
    rc_rng r;
    rc_rng_init(&r, seed * 0x9E3779B97F4A7C15ULL + 0xC1A55);
    r.counter = (uint64_t)epoch << 24;
    int n = p->n, B = p->B;
    for (int i = 0; i < n; i++) p->tmp[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(&r) % (uint32_t)(i + 1)), t = p->tmp[i];
        p->tmp[i] = p->tmp[j], p->tmp[j] = t;
    }
    int run = 50 * B;
    for (int s = 0; s < n; s += run) {
        int e = s + run < n ? s + run : n;
        for (int i = s; i < e; i++) p->key[i] = ((int64_t)d->len[p->tmp[i]] << 32) | i;
        qsort(p->key + s, (size_t)(e - s), sizeof *p->key, cmp_i64);
        for (int i = s; i < e; i++) p->order[i] = p->tmp[p->key[i] & 0xffffffff];
    }
    for (int k = 0; k < p->nb; k++) {
        p->bstart[k] = k * B;
        p->bsize[k] = n - k * B < B ? n - k * B : B;
    }
    for (int k = p->nb - 1; k > 0; k--) {
        int j = (int)(rc_rng_u32(&r) % (uint32_t)(k + 1)), a = p->bstart[k], b = p->bsize[k];
        p->bstart[k] = p->bstart[j], p->bsize[k] = p->bsize[j];
        p->bstart[j] = a, p->bsize[j] = b;
    }
    p->epoch = epoch;
}

/* ---------------------------------------------------------- training -- */

/* One training run: the model (initialised) fits train, validating on
 * valid (or, without one, on train) after every epoch (or --eval-every
 * steps). The saved model is the one with the best validation accuracy
 * (ties: lower loss); without a validation set, the latest. At the end m
 * holds the saved weights. */
typedef struct run_spec {
    const char *cmd;
    const train_opts *o;
    const cli_option *opts;
    const cls_data *train, *valid;
    rc_safetensors *ck; /* resume from it (NULL: fresh) */
    const char *ckpt;
    /* cross-validation (folds > 1): the position and what the folds done
     * so far found, saved in the checkpoint */
    int fold, folds;
    const int64_t *cv_conf;
    const float *cv_acc;
} run_spec;

static int save_checkpoint(trainer *tr, const run_spec *rs, const cls_model *m, double best_acc,
                           double best_loss, int64_t best_step)
{
    meta_list ml = {0};
    char *vj = NULL, *cl = NULL;
    int r = 1;
    const char *names[4];
    rc_tensor ts[4];
    const rc_tensor *tp[4];
    float *conf = NULL;
    if (model_meta(m, &ml, &vj, &cl)) {
        cli_error(rs->cmd, "%s", rc_last_error());
        goto done;
    }
    meta_addf(&ml, "cls/best_acc", "%.17g", best_acc);
    meta_addf(&ml, "cls/best_loss", "%.17g", best_loss);
    meta_addf(&ml, "cls/best_step", "%.17g", (double)best_step);
    int ne = norm_tensors(m, names, ts, tp);
    if (rs->folds > 1) {
        int K = m->cfg.n_classes;
        meta_addf(&ml, "cv/fold", "%.9g", rs->fold);
        if (!(conf = malloc((size_t)K * K * sizeof *conf))) goto done;
        for (int i = 0; i < K * K; i++) conf[i] = (float)rs->cv_conf[i];
        ts[ne] = (rc_tensor){conf, 2, {K, K}, (size_t)K * K};
        names[ne] = "cv/confusion", tp[ne] = &ts[ne], ne++;
        ts[ne] = (rc_tensor){(float *)rs->cv_acc, 1, {rs->folds}, (size_t)rs->folds};
        names[ne] = "cv/accuracy", tp[ne] = &ts[ne], ne++;
    }
    r = trainer_save_checkpoint(tr, rs->ckpt, &ml, rs->opts, ne, names, tp);
done:
    free(vj), free(cl), free(conf);
    return r;
}

static int run_training(const run_spec *rs, cls_model *m)
{
    const char *cmd = rs->cmd;
    const train_opts *o = rs->o;
    const cls_data *tr_d = rs->train;
    int B = o->batch < tr_d->n ? o->batch : tr_d->n;
    int ret = 1, trainer_ok = 0;
    epoch_plan plan;
    trainer tr;
    rc_tape *t = NULL;
    rc_safetensors *best = NULL;
    int32_t *labels = malloc((size_t)B * sizeof *labels);
    if (plan_init(&plan, tr_d->n, B) || !labels) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (trainer_init(&tr, cmd, o, &m->params, plan.nb)) goto done;
    trainer_ok = 1;
    double best_acc = -1, best_loss = INFINITY;
    int64_t best_step = -1;
    if (rs->ck) {
        double v[3];
        const char *keys[3] = {"cls/best_acc", "cls/best_loss", "cls/best_step"};
        if (trainer_restore(&tr, cmd, rs->ck)) goto done;
        for (int i = 0; i < 3; i++) {
            const char *s = rc_safetensors_meta(rs->ck, keys[i]);
            if (!s || sscanf(s, "%lf", &v[i]) != 1) {
                cli_error(cmd, "%s: no %s", rc_safetensors_path(rs->ck), keys[i]);
                goto done;
            }
        }
        best_acc = v[0], best_loss = v[1], best_step = (int64_t)v[2];
    }
    if (!o->quiet)
        fprintf(stderr, "%s: %d training sequences (%zu steps), %d validation; %zu parameters; "
                "%lld steps of %d%s\n",
                cmd, tr_d->n, tr_d->steps, rs->valid ? rs->valid->n : 0,
                rc_params_numel(&m->params), (long long)tr.total_steps, B,
                tr.step ? " (resumed)" : "");
    t = rc_tape_new();
    if (!t) goto done;
    const char *unit = tr_d->feat ? "step" : "tok";
    while (tr.step < tr.total_steps && !tr.stop) {
        plan_epoch(&plan, tr_d, (uint64_t)o->seed, tr.step / plan.nb);
        int k = (int)(tr.step % plan.nb), nb = plan.bsize[k];
        const int *idx = plan.order + plan.bstart[k];
        double items = 0;
        for (int b = 0; b < nb; b++) labels[b] = tr_d->label[idx[b]], items += tr_d->len[idx[b]];
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m->rnn);
        rc_tape_reset(t);
        rc_var *logits = cls_forward(t, m, tr_d, idx, nb, &drop, NULL);
        rc_var *loss = rc_cross_entropy(t, logits, labels, NULL);
        if (trainer_backward_update(&tr, cmd, t, loss, items)) goto done;
        trainer_progress(&tr, unit, 0);
        if (trainer_should_eval(&tr)) {
            const cls_data *vd = rs->valid && rs->valid->n ? rs->valid : tr_d;
            cls_metrics vm;
            double t0 = trainer_now();
            if (cls_evaluate(m, vd, NULL, &vm)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            trainer_record_eval(&tr, vm.loss);
            /* The model kept: best validation accuracy, ties to the lower
             * loss; without validation data, the latest. */
            int is_best = vd == tr_d || vm.accuracy > best_acc ||
                          (vm.accuracy == best_acc && vm.loss < best_loss);
            if (is_best) best_acc = vm.accuracy, best_loss = vm.loss, best_step = tr.step;
            if (!o->quiet) {
                trainer_progress(&tr, unit, 1);
                fprintf(stderr, "  %s loss %.4f, accuracy %.2f%%, macro F1 %.2f%%%s  [%.1fs]\n",
                        vd == tr_d ? "training-set" : "validation", vm.loss, 100 * vm.accuracy,
                        100 * vm.macro_f1, is_best && vd != tr_d ? "  best so far, saved" : "",
                        trainer_now() - t0);
            }
            if (is_best && model_save(m, o->out)) goto done;
            trainer_plot(&tr, o->out, "cross-entropy");
        }
        if (trainer_should_checkpoint(&tr) &&
            save_checkpoint(&tr, rs, m, best_acc, best_loss, best_step))
            goto done;
    }
    if (tr.stop && !o->quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o->patience);
    if (!o->quiet && rs->valid && rs->valid->n)
        fprintf(stderr, "%s: best validation accuracy %.2f%% at step %lld; model in %s\n", cmd,
                100 * best_acc, (long long)best_step, o->out);
    if (rc_safetensors_open(o->out, &best) != RC_OK ||
        rc_checkpoint_load_params(best, &m->params) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    ret = 0;
done:
    rc_safetensors_close(best);
    rc_tape_free(t);
    if (trainer_ok) trainer_free(&tr);
    plan_free(&plan);
    free(labels);
    return ret;
}

/* Published 10-fold error rates (percent) per class N, EI, IE on 1,000
 * examples (Noordewier, Towell & Shavlik 1991; splice.names). */
static const struct {
    const char *name;
    double n, ei, ie;
} splice_published[] = {
    {"KBANN", 4.62, 7.56, 8.47},      {"BACKPROP", 5.29, 5.74, 10.75},
    {"PEBLS", 6.86, 8.18, 7.55},      {"PERCEPTRON", 3.99, 16.32, 17.41},
    {"ID3", 8.84, 10.58, 13.99},      {"nearest neighbour", 31.11, 11.65, 9.09},
};

static void print_splice_table(FILE *f, const cls_metrics *r, int folds, const char *ours)
{
    double err[3];
    for (int k = 0; k < 3; k++) {
        int64_t g;
        double p, rc, f1;
        class_scores(r, k, &g, &p, &rc, &f1);
        err[k] = 100 - rc;
    }
    fprintf(f, "per-class error rates (%%), %d-fold cross-validation:\n", folds);
    fprintf(f, "  %-22s %7s %7s %7s\n", "system", "N", "EI", "IE");
    fprintf(f, "  %-22s %7.2f %7.2f %7.2f\n", ours, err[RC_SPLICE_N], err[RC_SPLICE_EI],
            err[RC_SPLICE_IE]);
    for (size_t i = 0; i < sizeof splice_published / sizeof splice_published[0]; i++)
        fprintf(f, "  %-22s %7.2f %7.2f %7.2f\n", splice_published[i].name, splice_published[i].n,
                splice_published[i].ei, splice_published[i].ie);
    fprintf(f, "  (published: Noordewier, Towell & Shavlik 1991, on 1,000 of the examples)\n");
}

static int parse_config(const char *cmd, const train_opts *o, const char *format,
                        const char *labels, const char *pool, int embed, int attn,
                        float input_dropout, int velocity, const char *position, int context,
                        int lowercase, float word_dropout, float embed_sd, cls_config *c)
{
    memset(c, 0, sizeof *c);
    int f = name_index(format, format_names, 3), p = name_index(pool, pool_names, 4);
    if (f < 0) return cli_error(cmd, "--data-format must be sst, splice or skeleton, not '%s'",
                                format ? format : "");
    if (p < 0) return cli_error(cmd, "--pool must be last, mean, max or attention, not '%s'", pool);
    if (strcmp(labels, "fine") && strcmp(labels, "binary"))
        return cli_error(cmd, "--labels must be fine or binary, not '%s'", labels);
    if (embed < 1 || attn < 1) return cli_error(cmd, "--embed and --attention must be at least 1");
    if (context < 0 || context > 29) return cli_error(cmd, "--context must be 0..29");
    int pm = name_index(position, position_names, 3);
    if (pm < 0 || (pm == 2 && f != CLS_FMT_SPLICE))
        return cli_error(cmd, "--position must be none, relative or (splice) onehot, not '%s'",
                         position);
    if (!(input_dropout >= 0 && input_dropout < 1))
        return cli_error(cmd, "--input-dropout must be in [0, 1)");
    if (!(word_dropout >= 0 && word_dropout < 1))
        return cli_error(cmd, "--word-dropout must be in [0, 1)");
    if (!(embed_sd > 0 && embed_sd <= 10))
        return cli_error(cmd, "--embed-init must be in (0, 10]");
    if ((lowercase || word_dropout > 0 || embed_sd != 1) && f != CLS_FMT_SST)
        return cli_error(cmd, "--lowercase, --word-dropout and --embed-init are for --data-format sst");
    if (train_cell_kind(o->cell, &c->cell)) return 1;
    c->format = (cls_format)f;
    c->pool = (cls_pool)p;
    c->fine = !strcmp(labels, "fine");
    c->n_classes = c->format == CLS_FMT_SST ? (c->fine ? 5 : 2)
                   : c->format == CLS_FMT_SPLICE ? RC_SPLICE_CLASSES : 20;
    c->input_dim = c->format == CLS_FMT_SST ? 0
                   : c->format == CLS_FMT_SPLICE ? 4 * (2 * context + 1)
                                                 : (velocity ? 2 : 1) * RC_SKEL_DIM;
    c->context = c->format == CLS_FMT_SPLICE ? context : 0;
    c->position = c->format == CLS_FMT_SST ? 0 : pm == 2 ? RC_SPLICE_LEN : pm;
    c->input_dim += c->position;
    c->embed = c->format == CLS_FMT_SST ? embed : 0;
    c->hidden = o->hidden, c->layers = o->layers, c->bidirectional = o->bidirectional;
    c->dropout = o->dropout, c->input_dropout = input_dropout;
    c->attn = c->pool == CLS_POOL_ATTENTION ? attn : 0;
    c->velocity = c->format == CLS_FMT_SKELETON && velocity;
    c->lowercase = lowercase, c->word_dropout = word_dropout, c->embed_sd = embed_sd;
    return 0;
}

static void json_metrics(FILE *f, const cls_config *c, const cls_metrics *r)
{
    int K = r->K;
    fprintf(f, "\"sequences\":%lld,\"accuracy\":%.6f,\"macro_f1\":%.6f,", (long long)r->n,
            r->accuracy, r->macro_f1);
    if (isnan(r->loss)) fprintf(f, "\"loss\":null,\"classes\":[");
    else fprintf(f, "\"loss\":%.6f,\"classes\":[", r->loss);
    for (int k = 0; k < K; k++) fprintf(f, "%s\"%s\"", k ? "," : "", cls_class_name(c, k));
    fprintf(f, "],\"confusion\":[");
    for (int k = 0; k < K; k++) {
        fprintf(f, "%s[", k ? "," : "");
        for (int j = 0; j < K; j++) fprintf(f, "%s%lld", j ? "," : "", (long long)r->conf[k * K + j]);
        fputc(']', f);
    }
    fputc(']', f);
}

int cmd_train_classify(int argc, char **argv)
{
    const char *cmd = "train classify";
    train_opts o;
    train_opts_defaults(&o);
    o.epochs = 10;
    o.batch = 32;
    o.lr = 1e-3f;
    const char *format = NULL, *data = NULL, *labels = "binary", *pool = "max";
    int embed = 128, attn = 64, folds = 10, only_fold = 0, phrases = 0, min_freq = 1;
    int velocity = 0, context = 0, lowercase = 0;
    const char *position = "none";
    float input_dropout = 0, valid_fraction = 0.1f, word_dropout = 0, embed_sd = 1;
    cli_option opts[64] = {
        {"data-format", CLI_STRING, &format, "sst | splice | skeleton"},
        {"data", CLI_STRING, &data,
         "sst: a directory with train.txt, dev.txt, test.txt; splice: splice.data; "
         "skeleton: the directory of MSR Action3D skeleton files"},
        {"labels", CLI_STRING, &labels, "sst: fine (5 classes) or binary (neutral dropped; default)"},
        {"phrases", CLI_FLAG, &phrases,
         "sst: also train on every phrase of the training trees (its node's label)"},
        {"min-freq", CLI_INT, &min_freq, "sst: rarer training words become <unk> (default 1)"},
        {"pool", CLI_STRING, &pool, "last | mean | max | attention (default max)"},
        {"embed", CLI_INT, &embed, "sst: embedding size (default 128)"},
        {"embed-init", CLI_FLOAT, &embed_sd, "sst: embeddings start as N(0, SD^2) (default 1)"},
        {"attention", CLI_INT, &attn, "attention size, with --pool attention (default 64)"},
        {"input-dropout", CLI_FLOAT, &input_dropout, "dropout on the inputs (embeddings)"},
        {"lowercase", CLI_FLAG, &lowercase, "sst: lower-case the words (A-Z) before anything else"},
        {"word-dropout", CLI_FLOAT, &word_dropout,
         "sst: each training word becomes <unk> with this probability"},
        {"folds", CLI_INT, &folds, "splice: k-fold cross-validation (default 10)"},
        {"fold", CLI_INT, &only_fold, "splice: run only this fold (1..k)"},
        {"valid-fraction", CLI_FLOAT, &valid_fraction,
         "splice, skeleton: validation share of the training part (default 0.1; skeleton: 0 = "
         "none, keep the last model)"},
        {"velocity", CLI_FLAG, &velocity, "skeleton: frame-to-frame joint motion as more features"},
        {"position", CLI_STRING, &position,
         "splice, skeleton: none | relative (2t/(L-1) - 1 as one more feature) | onehot "
         "(splice: t one-hot, 60 more)"},
        {"context", CLI_INT, &context,
         "splice: each step also sees the K nucleotides on either side (default 0)"},
    };
    int n_opts = train_opts_declare(&o, opts, 18);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train classify --data-format sst|splice|skeleton --data PATH --out MODEL\n"
        "       [options]\n"
        "\n"
        "Trains a sequence classifier: recurrent layers over the sequence, pooled\n"
        "over time (--pool), then a linear layer and a softmax. Keeps the weights\n"
        "with the best validation accuracy in MODEL, writes MODEL.ckpt (to --resume)\n"
        "and MODEL.loss.png, then prints test accuracy, macro F1 and the confusion\n"
        "matrix, and draws it as MODEL.confusion.png.\n"
        "  sst       SST sentences (root labels; train/dev/test as shipped)\n"
        "  splice    DNA splice junctions, k-fold cross-validation: fold K's model in\n"
        "            MODEL.foldK, then a final model trained on all the data in MODEL\n"
        "            (with --fold K: that fold's model in MODEL)\n"
        "  skeleton  MSR Action3D, cross-subject (odd subjects train, even test)\n"
        "Defaults here: --epochs 10 --batch 32 --lr 0.001 --pool max.\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "classify", "classifier", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1, model_ok = 0;
    cls_config c;
    cls_model m;
    cls_data all = {0}, train = {0}, valid = {0}, test = {0};
    rc_vocab *vocab = NULL;
    char *ckpt = NULL, *conf_png = NULL, *fold_path = NULL;
    int *perm = NULL, *idx = NULL;
    int64_t *cv_conf = NULL;
    float *cv_acc = NULL;
    double t_start = trainer_now();
    cls_metrics tm;
    memset(&tm, 0, sizeof tm);

    /* What the checkpoint's weights, inputs and classes were made with. */
    static const char *const fixed[] = {
        "cell",    "hidden",    "layers",    "bidirectional", "data-format", "labels",
        "min-freq", "pool",     "embed",     "attention",     "lowercase",   "velocity",
        "position", "context",  "folds",     "fold",          NULL};
    if (train_opts_check(cmd, &o, &cell) || (ck && train_resume_fixed(cmd, ck, opts, fixed)) ||
        parse_config(cmd, &o, format, labels, pool, embed, attn, input_dropout, velocity, position,
                     context, lowercase, word_dropout, embed_sd, &c))
        goto done;
    if (!data) {
        cli_error(cmd, "--data PATH is required");
        goto done;
    }
    if (c.format == CLS_FMT_SPLICE && (folds < 2 || folds > 100 || only_fold < 0 ||
                                       only_fold > folds)) {
        cli_error(cmd, "--folds must be 2..100 and --fold 1..folds");
        goto done;
    }
    if (!(valid_fraction >= 0 && valid_fraction < 0.9)) {
        cli_error(cmd, "--valid-fraction must be in [0, 0.9)");
        goto done;
    }
    if (min_freq < 1) {
        cli_error(cmd, "--min-freq must be at least 1");
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out)) || !(conf_png = path_with(o.out, ".confusion.png")))
        goto done;
    int K = c.n_classes;
    run_spec rs = {cmd, &o, opts, &train, &valid, ck, ckpt, 0, 0, NULL, NULL};

    if (c.format == CLS_FMT_SPLICE) {
        /* k-fold cross-validation: a fixed random partition of the examples
         * (from --seed); for each fold, the other folds train (their first
         * --valid-fraction validates) and the fold is the test set. */
        if (read_splice(cmd, data, c.context, &all)) goto done;
        if (c.position && data_add_position(&all, c.position)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        if (all.n < 2 * folds) {
            cli_error(cmd, "%s: %d sequences are too few for %d folds", data, all.n, folds);
            goto done;
        }
        perm = malloc((size_t)all.n * sizeof *perm);
        idx = malloc((size_t)all.n * sizeof *idx);
        cv_conf = calloc((size_t)K * K, sizeof *cv_conf);
        cv_acc = calloc((size_t)folds, sizeof *cv_acc);
        if (!perm || !idx || !cv_conf || !cv_acc) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        rc_rng pr;
        rc_rng_init(&pr, (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL + 0xF01D5);
        for (int i = 0; i < all.n; i++) perm[i] = i;
        for (int i = all.n - 1; i > 0; i--) {
            int j = (int)(rc_rng_u32(&pr) % (uint32_t)(i + 1)), tt = perm[i];
            perm[i] = perm[j], perm[j] = tt;
        }
        int first = only_fold ? only_fold - 1 : 0, last = only_fold ? only_fold - 1 : folds - 1;
        if (ck) {
            int f;
            rc_tensor a, b;
            int sc[2] = {K, K}, sa[1] = {folds};
            /* fold index `folds`: the final model on all the data */
            if (meta_int(cmd, ck, "cv/fold", first, only_fold ? last : folds, &f)) goto done;
            if (rc_safetensors_get_expect(ck, "cv/confusion", 2, sc, &a) != RC_OK) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            if (rc_safetensors_get_expect(ck, "cv/accuracy", 1, sa, &b) != RC_OK) {
                rc_tensor_free(&a);
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            for (int i = 0; i < K * K; i++) cv_conf[i] = (int64_t)a.data[i];
            memcpy(cv_acc, b.data, (size_t)folds * sizeof *cv_acc);
            rc_tensor_free(&a), rc_tensor_free(&b);
            first = f;
        }
        rs.folds = folds, rs.cv_conf = cv_conf, rs.cv_acc = cv_acc;
        for (int f = first; f <= last; f++) {
            int nt = 0, ntest = 0;
            for (int i = 0; i < all.n; i++)
                if (i % folds != f) idx[nt++] = perm[i];
            int nv = (int)(valid_fraction * nt + 0.5);
            for (int i = 0; i < all.n; i++)
                if (i % folds == f) idx[nt + ntest++] = perm[i];
            cls_data_free(&train), cls_data_free(&valid), cls_data_free(&test);
            if (data_subset(&all, idx, nv, &valid) || data_subset(&all, idx + nv, nt - nv, &train) ||
                data_subset(&all, idx + nt, ntest, &test)) {
                cli_error(cmd, "out of memory");
                goto done;
            }
            if (cls_model_init(&m, &c, NULL, (uint64_t)o.seed + 1000u * (uint64_t)f)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            model_ok = 1;
            if (!o.quiet) fprintf(stderr, "%s: fold %d of %d\n", cmd, f + 1, folds);
            rs.fold = f;
            if (run_training(&rs, &m)) goto done;
            rs.ck = NULL;
            if (ck) rc_safetensors_close(ck), ck = NULL;
            cls_metrics fm;
            if (cls_evaluate(&m, &test, NULL, &fm)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            cv_acc[f] = (float)fm.accuracy;
            for (int i = 0; i < K * K; i++) cv_conf[i] += fm.conf[i];
            /* A full cross-validation keeps each fold's model as MODEL.foldK
             * (MODEL itself gets the final model below); --fold K leaves
             * that fold's model in MODEL. */
            if (!only_fold) {
                char sfx[32];
                snprintf(sfx, sizeof sfx, ".fold%d", f + 1);
                free(fold_path);
                if (!(fold_path = path_with(o.out, sfx))) goto done;
                if (rename(o.out, fold_path)) {
                    cli_error(cmd, "cannot rename %s to %s", o.out, fold_path);
                    goto done;
                }
            }
            fprintf(stderr, "%s: fold %d: test accuracy %.2f%% (%lld sequences), model in %s\n",
                    cmd, f + 1, 100 * fm.accuracy, (long long)fm.n, only_fold ? o.out : fold_path);
            cls_model_free(&m);
            model_ok = 0;
        }
        /* After a full cross-validation, the model to use: the same recipe
         * on all the sequences (the first --valid-fraction of the same
         * permutation validates), into MODEL. Its accuracy is the
         * cross-validation's estimate: it has no test fold of its own. */
        int n_final = 0;
        if (!only_fold) {
            int nv = (int)(valid_fraction * all.n + 0.5);
            cls_data_free(&train), cls_data_free(&valid);
            if (data_subset(&all, perm, nv, &valid) ||
                data_subset(&all, perm + nv, all.n - nv, &train)) {
                cli_error(cmd, "out of memory");
                goto done;
            }
            if (cls_model_init(&m, &c, NULL, (uint64_t)o.seed + 1000u * (uint64_t)folds)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            model_ok = 1;
            if (!o.quiet)
                fprintf(stderr, "%s: final model on all %d sequences (%d of them validate)\n", cmd,
                        all.n, nv);
            rs.fold = folds;
            if (run_training(&rs, &m)) goto done;
            rs.ck = NULL;
            if (ck) rc_safetensors_close(ck), ck = NULL;
            cls_model_free(&m);
            model_ok = 0;
            n_final = all.n;
        }
        /* The pooled confusion of the folds run; the mean and sd of their
         * accuracies. */
        tm.K = K;
        for (int i = 0; i < K * K; i++) tm.conf[i] = cv_conf[i], tm.n += cv_conf[i];
        cls_metrics_finish(&tm);
        tm.loss = NAN;
        int nf = last - first + 1 + (only_fold ? 0 : first);
        double mean = 0, sd = 0;
        int from = only_fold ? only_fold - 1 : 0;
        for (int f = from; f < from + nf; f++) mean += cv_acc[f];
        mean /= nf;
        for (int f = from; f < from + nf; f++) sd += (cv_acc[f] - mean) * (cv_acc[f] - mean);
        sd = nf > 1 ? sqrt(sd / (nf - 1)) : 0;
        if (draw_confusion(&c, &tm, conf_png, "splice junctions: confusion over the test folds") &&
            !o.quiet)
            fprintf(stderr, "warning: %s\n", plot_last_error());
        if (o.json) {
            printf("{\"task\":\"classify\",\"data_format\":\"splice\",\"folds\":%d,"
                   "\"mean_accuracy\":%.6f,\"sd_accuracy\":%.6f,\"fold_accuracy\":[",
                   nf, mean, sd);
            for (int f = from; f < from + nf; f++) printf("%s%.6f", f > from ? "," : "", cv_acc[f]);
            printf("],\"final_model_sequences\":%d,\"seconds\":%.1f,", n_final,
                   trainer_now() - t_start);
            json_metrics(stdout, &c, &tm);
            printf("}\n");
        } else {
            printf("%d-fold cross-validation: mean test accuracy %.2f%% (sd %.2f over %d fold%s)\n",
                   folds, 100 * mean, 100 * sd, nf, nf > 1 ? "s" : "");
            print_metrics(stdout, &c, &tm, "all test folds together");
            print_splice_table(stdout, &tm, folds, "recur (this run)");
            if (n_final)
                printf("models: each fold's in %s.fold1 .. %s.fold%d (tested on its fold); in %s "
                       "the final model, trained on all %d sequences\n",
                       o.out, o.out, folds, o.out, n_final);
            else
                printf("model: fold %d's in %s\n", only_fold, o.out);
            printf("confusion matrix drawn in %s; training took %.1f s\n", conf_png,
                   trainer_now() - t_start);
        }
        ret = 0;
        goto done;
    }

    /* SST and skeletons: fixed train / validation / test parts. */
    if (c.format == CLS_FMT_SST) {
        char *p[3] = {path_with(data, "/train.txt"), path_with(data, "/dev.txt"),
                      path_with(data, "/test.txt")};
        int bad = !p[0] || !p[1] || !p[2];
        if (ck) {
            const char *vj = rc_safetensors_meta(ck, "vocab");
            if (!vj || rc_vocab_from_json(vj, &vocab) != RC_OK)
                bad = cli_error(cmd, "%s: %s", o.resume, vj ? rc_last_error() : "no vocabulary");
        }
        bad = bad || read_sst(cmd, p[0], c.fine, c.lowercase, phrases, min_freq, &vocab, &train) ||
              read_sst(cmd, p[1], c.fine, c.lowercase, 0, min_freq, &vocab, &valid) ||
              read_sst(cmd, p[2], c.fine, c.lowercase, 0, min_freq, &vocab, &test);
        free(p[0]), free(p[1]), free(p[2]);
        if (bad) goto done;
    } else {
        if (read_skeletons(cmd, data, 1, c.velocity, &all) ||
            read_skeletons(cmd, data, 0, c.velocity, &test))
            goto done;
        if (c.position && (data_add_position(&all, 1) || data_add_position(&test, 1))) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        /* Validation: every k-th training sequence, k = 1 / fraction. */
        int nv = 0, nt = 0;
        if (!(idx = malloc((size_t)all.n * sizeof *idx))) goto done;
        int every = valid_fraction > 0 ? (int)(1 / valid_fraction + 0.5) : 0;
        for (int i = 0; i < all.n; i++)
            if (every && i % every == every - 1) idx[nv++] = i;
        for (int i = 0; i < all.n; i++)
            if (!every || i % every != every - 1) idx[nv + nt++] = i;
        if (data_subset(&all, idx, nv, &valid) || data_subset(&all, idx + nv, nt, &train)) {
            cli_error(cmd, "out of memory");
            goto done;
        }
    }
    if (cls_model_init(&m, &c, vocab, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    vocab = NULL;
    model_ok = 1;
    if (c.format == CLS_FMT_SKELETON && norm_fit(&train, &m)) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (!o.quiet && c.format == CLS_FMT_SST)
        fprintf(stderr, "%s: SST %s, vocabulary %d words%s\n", cmd, c.fine ? "fine-grained" : "binary",
                rc_vocab_size(m.vocab), phrases ? ", training on all phrases" : "");
    if (run_training(&rs, &m)) goto done;
    if (cls_evaluate(&m, &test, NULL, &tm)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    if (draw_confusion(&c, &tm, conf_png, "test set: confusion") && !o.quiet)
        fprintf(stderr, "warning: %s\n", plot_last_error());
    if (o.json) {
        printf("{\"task\":\"classify\",\"data_format\":\"%s\",\"seconds\":%.1f,",
               format_names[c.format], trainer_now() - t_start);
        json_metrics(stdout, &c, &tm);
        printf("}\n");
    } else {
        print_metrics(stdout, &c, &tm, "test");
        printf("confusion matrix drawn in %s; training took %.1f s\n", conf_png,
               trainer_now() - t_start);
    }
    ret = 0;
done:
    if (model_ok) cls_model_free(&m);
    rc_vocab_free(vocab);
    rc_safetensors_close(ck);
    free(meta_store);
    cls_data_free(&all), cls_data_free(&train), cls_data_free(&valid), cls_data_free(&test);
    free(ckpt), free(conf_png), free(fold_path), free(perm), free(idx), free(cv_conf), free(cv_acc);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

/* The labelled data of a model's format at path: SST trees, splice lines,
 * or a skeleton directory (its even-subject test half) or one file. */
static int read_labelled(const char *cmd, const cls_model *m, const char *path, cls_data *d)
{
    const cls_config *c = &m->cfg;
    if (c->format == CLS_FMT_SST) {
        rc_vocab *v = m->vocab;
        return read_sst(cmd, path, c->fine, c->lowercase, 0, 1, &v, d);
    }
    int r = c->format == CLS_FMT_SPLICE ? read_splice(cmd, path, c->context, d)
                                        : read_skeletons(cmd, path, 0, c->velocity, d);
    int e = !r && c->position ? data_add_position(d, c->position) : 0;
    if (e) {
        cls_data_free(d);
        r = e < 0 ? cli_error(cmd, "out of memory")
                  : cli_error(cmd, "%s: sequence %d is longer than the model's %d positions", path,
                              e, c->position);
    }
    return r;
}

int classify_eval(const char *cmd, const rc_safetensors *st, const char *data, int json,
                  const char *confusion_png)
{
    cls_model m;
    if (model_load(cmd, st, &m)) return 1;
    cls_data d;
    cls_metrics r;
    int ret = 1;
    if (read_labelled(cmd, &m, data, &d)) goto done;
    double t0 = trainer_now();
    if (cls_evaluate(&m, &d, NULL, &r)) {
        cli_error(cmd, "%s", rc_last_error());
        cls_data_free(&d);
        goto done;
    }
    if (json) {
        printf("{\"task\":\"classify\",\"data_format\":\"%s\",\"seconds\":%.2f,",
               format_names[m.cfg.format], trainer_now() - t0);
        json_metrics(stdout, &m.cfg, &r);
        printf("}\n");
    } else {
        print_metrics(stdout, &m.cfg, &r, data);
    }
    if (confusion_png) {
        /* The same picture as training draws for its test set. */
        char title[256];
        const char *base = strrchr(data, '/');
        snprintf(title, sizeof title, "%s: confusion", base && base[1] ? base + 1 : data);
        if (draw_confusion(&m.cfg, &r, confusion_png, title)) {
            cli_error(cmd, "%s", plot_last_error());
            cls_data_free(&d);
            goto done;
        }
        if (!json) printf("confusion matrix drawn in %s\n", confusion_png);
    }
    cls_data_free(&d);
    ret = 0;
done:
    cls_model_free(&m);
    return ret;
}

/* ---------------------------------------------------- recur classify -- */

/* One input line as an unlabelled example (label -1): an SST line is a
 * bracketed tree (its words) or plain words; a splice line is a sequence
 * of A C G T D N S R, alone or as the last field of "CLASS, NAME, SEQ".
 * Returns 0, 1 for a line to skip (blank), or -1 with an error printed. */
static int parse_line(const char *cmd, const cls_model *m, const char *src, int lineno,
                      char *line, cls_data *d)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                   line[len - 1] == '\t'))
        line[--len] = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 1;
    if (m->cfg.format == CLS_FMT_SPLICE) {
        char *comma = strrchr(s, ',');
        if (comma) s = comma + 1;
        while (*s == ' ' || *s == '\t') s++;
        int32_t seq[4096];
        int n = 0;
        for (char *p = s; *p; p++) {
            if (*p == ' ' || *p == '\t') continue;
            int id = -1;
            for (int k = 0; k < RC_SPLICE_TOKENS; k++)
                if (rc_splice_token_char(k) == (*p & ~0x20)) id = k;
            if (id < 0) {
                cli_error(cmd, "%s:%d:%d: '%c' is not a nucleotide code (A C G T D N S R)", src,
                          lineno, (int)(p - line) + 1, *p);
                return -1;
            }
            if (n == 4096) {
                cli_error(cmd, "%s:%d: a sequence longer than 4096", src, lineno);
                return -1;
            }
            seq[n++] = id;
        }
        if (n == 0) {
            cli_error(cmd, "%s:%d: no sequence", src, lineno);
            return -1;
        }
        return splice_push(d, -1, seq, n, m->cfg.context) ? (cli_error(cmd, "out of memory"), -1)
                                                          : 0;
    }
    /* SST: a tree, or words separated by spaces (lower-cased as in training). */
    if (m->cfg.lowercase)
        for (char *p = s; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    int32_t *ids = NULL;
    int n = 0, cap = 0, r = 0;
    if (*s == '(') {
        rc_treebank *tb;
        if (rc_tree_parse(s, strlen(s), &tb) != RC_OK) {
            cli_error(cmd, "%s:%d: %s", src, lineno, rc_last_error());
            return -1;
        }
        rc_tree tr;
        rc_treebank_tree(tb, 0, &tr);
        ids = malloc((size_t)tr.n_leaves * sizeof *ids);
        for (int l = 0; ids && l < tr.n_leaves; l++) {
            const char *w = tr.word[tr.leaves[l]];
            ids[n++] = rc_vocab_id(m->vocab, w, strlen(w));
        }
        rc_treebank_free(tb);
    } else {
        for (char *p = s; *p;) {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
            char *e = p;
            while (*e && *e != ' ' && *e != '\t') e++;
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                int32_t *t = realloc(ids, (size_t)cap * sizeof *t);
                if (!t) break;
                ids = t;
            }
            ids[n++] = rc_vocab_id(m->vocab, p, (size_t)(e - p));
            p = e;
        }
    }
    if (!ids || cls_data_push(d, -1, n, ids, NULL)) r = (cli_error(cmd, "out of memory"), -1);
    free(ids);
    return r;
}

int cmd_classify(int argc, char **argv)
{
    const char *cmd = "classify";
    int threads = 0, json = 0;
    cli_option opts[] = {
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"json", CLI_FLAG, &json, "one JSON object a line, with every class's probability"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[4096];
    int n_pos;
    int r = cli_parse(cmd,
                      "usage: recur classify MODEL [INPUT ...]\n\n"
                      "Prints the most probable class and its probability for every input:\n"
                      "  SST models      each line of the INPUT files (or of stdin): words\n"
                      "                  separated by spaces, or a bracketed tree\n"
                      "  splice models   each line: a nucleotide sequence, alone or as the\n"
                      "                  last field of a splice.data line\n"
                      "  skeleton models each INPUT is a skeleton file (aAA_sSS_eEE_skeleton3D.txt)\n"
                      "One output line per input: CLASS<TAB>PROBABILITY<TAB>the input.\n",
                      opts, argc, argv, 2, pos, 4096, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos < 1) return cli_error(cmd, "give a model file (see recur classify --help)");
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(pos[0], &st) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    cls_model m;
    if (model_load(cmd, st, &m)) {
        rc_safetensors_close(st);
        return 1;
    }
    rc_safetensors_close(st);
    int ret = 1, K = m.cfg.n_classes;
    cls_data d = {0};
    char **what = NULL;
    int n_what = 0, cap_what = 0;
    float *probs = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    d.feat = m.cfg.input_dim - m.cfg.position;
    if (m.cfg.format == CLS_FMT_SKELETON) {
        if (n_pos < 2) {
            cli_error(cmd, "give skeleton files to classify");
            goto done;
        }
        for (int i = 1; i < n_pos; i++) {
            rc_skeleton s;
            float *x = NULL;
            if (rc_skeleton_read(pos[i], &s) != RC_OK) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            int bad = skeleton_features(cmd, &s, m.cfg.velocity, &x);
            if (!bad && cls_data_push(&d, -1, s.frames, NULL, x)) bad = cli_error(cmd, "out of memory");
            free(x);
            rc_skeleton_free(&s);
            if (bad) goto done;
        }
    } else {
        /* Lines of the files, or of stdin. */
        int n_src = n_pos > 1 ? n_pos - 1 : 1;
        for (int i = 0; i < n_src; i++) {
            const char *name = n_pos > 1 ? pos[i + 1] : "stdin";
            FILE *f = n_pos > 1 ? fopen(name, "r") : stdin;
            if (!f) {
                cli_error(cmd, "%s: cannot open", name);
                goto done;
            }
            ssize_t got;
            int lineno = 0, bad = 0;
            while (!bad && (got = getline(&line, &line_cap, f)) >= 0) {
                lineno++;
                if ((size_t)got != strlen(line)) {
                    bad = cli_error(cmd, "%s:%d: a NUL byte", name, lineno);
                    break;
                }
                char *copy = strdup(line);
                int pr = copy ? parse_line(cmd, &m, name, lineno, line, &d) : -1;
                if (pr == 0) {
                    if (n_what == cap_what) {
                        cap_what = cap_what ? 2 * cap_what : 64;
                        char **w = realloc(what, (size_t)cap_what * sizeof *w);
                        if (!w) pr = -1;
                        else what = w;
                    }
                    if (pr == 0) {
                        size_t l = strlen(copy);
                        while (l && (copy[l - 1] == '\n' || copy[l - 1] == '\r')) copy[--l] = '\0';
                        what[n_what++] = copy;
                        copy = NULL;
                    }
                }
                free(copy);
                if (pr < 0) bad = 1;
            }
            if (f != stdin) fclose(f);
            if (bad) goto done;
        }
    }
    int pe = m.cfg.position ? data_add_position(&d, m.cfg.position) : 0;
    if (pe) {
        if (pe < 0) cli_error(cmd, "out of memory");
        else cli_error(cmd, "input %d is longer than the model's %d positions", pe, m.cfg.position);
        goto done;
    }
    if (d.n == 0) {
        cli_error(cmd, "nothing to classify");
        goto done;
    }
    if (!(probs = malloc((size_t)d.n * K * sizeof *probs))) goto done;
    cls_metrics unused;
    if (cls_evaluate(&m, &d, probs, &unused)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    for (int i = 0; i < d.n; i++) {
        const float *p = probs + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        const char *in = m.cfg.format == CLS_FMT_SKELETON ? pos[i + 1] : what[i];
        if (json) {
            printf("{\"class\":\"%s\",\"probability\":%.6f,\"probabilities\":{",
                   cls_class_name(&m.cfg, best), p[best]);
            for (int k = 0; k < K; k++)
                printf("%s\"%s\":%.6f", k ? "," : "", cls_class_name(&m.cfg, k), p[k]);
            printf("},\"input\":\"");
            for (const char *q = in; *q; q++) {
                if (*q == '"' || *q == '\\') printf("\\%c", *q);
                else if ((unsigned char)*q < 0x20) printf("\\u%04x", *q);
                else putchar(*q);
            }
            printf("\"}\n");
        } else {
            printf("%s\t%.4f\t%s\n", cls_class_name(&m.cfg, best), p[best], in);
        }
    }
    ret = 0;
done:
    for (int i = 0; i < n_what; i++) free(what[i]);
    free(what);
    free(line);
    free(probs);
    cls_data_free(&d);
    cls_model_free(&m);
    return ret;
}
