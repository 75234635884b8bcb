/* treenet.c - sentiment over parse trees with recursive networks.
 *
 * Model: every leaf's word vector (embedding, dropout) enters the
 * composition (rc_tree_rnn for the recursive net and the RNTN, where the
 * word vector is the leaf's state; a linear map to the leaf gates, then
 * rc_tree_lstm or rc_tree_childsum for the Tree-LSTMs); every node's state
 * (dropout) goes through one linear head to its class scores, and the loss
 * is the mean cross-entropy over all nodes of all trees of the batch (SST
 * labels every phrase). A batch of trees is laid out by level
 * (rc_tree_batch_build) so that each level of all the batch's trees is one
 * matrix multiply.
 *
 * Binary models (--classes 2) train on the sentences whose root is not
 * neutral and on their non-neutral nodes, as Tai et al. do; 5-class models
 * are scored on the binary task too, by p(3)+p(4) against p(0)+p(1). */
#include "treenet.h"

#include "../plot/tree_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static const char *const kind_names[] = {"rnn", "rntn", "tree-lstm", "childsum-lstm"};

const char *tn_kind_name(tn_kind k) { return (unsigned)k < 4 ? kind_names[k] : "?"; }

int tn_kind_parse(const char *name, tn_kind *k)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, kind_names[i])) {
            *k = (tn_kind)i;
            return 0;
        }
    return -1;
}

int tn_target(int classes, int label)
{
    if (classes == 5) return label;
    return label < 2 ? 0 : label > 2 ? 1 : -1;
}

static const char *const label_names5[] = {"very negative", "negative", "neutral", "positive",
                                           "very positive"};
static const char *const label_names2[] = {"negative", "positive"};

/* ------------------------------------------------------------ model -- */

void tn_model_free(tn_model *m)
{
    if (!m) return;
    rc_param_free(m->emb);
    rc_linear_free(&m->leaf);
    rc_param_free(m->w);
    rc_param_free(m->b);
    rc_param_free(m->v);
    rc_param_free(m->wf);
    rc_param_free(m->bf);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    rc_vocab_free(m->vocab);
    memset(m, 0, sizeof *m);
}

static rc_var *param(const char *name, int ndim, const int *shape, rc_rng *rng, float lo, float hi)
{
    rc_var *p = rc_param_new(name, ndim, shape);
    if (p) rc_rng_fill_uniform(rng, p->value.data, p->value.size, lo, hi);
    return p;
}

int tn_model_init(tn_model *m, const tn_config *c, rc_vocab *vocab, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->vocab = vocab;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    int V = rc_vocab_size(vocab), E = c->embed, H = c->hidden;
    rc_status s = RC_ERR_NOMEM;
    rc_params_init(&m->params);
    /* Small random word vectors: nothing is pretrained. */
    if (!(m->emb = param("embedding.weight", 2, (int[]){V, E}, &rng, -0.1f, 0.1f))) goto fail;
    if (c->kind == TN_RNN || c->kind == TN_RNTN) {
        /* W = [I/2 I/2] + noise: a new phrase starts near the mean of its parts. */
        float k = 0.5f / sqrtf(2.0f * H);
        if (!(m->w = param("compose.weight", 2, (int[]){H, 2 * H}, &rng, -k, k)) ||
            !(m->b = param("compose.bias", 1, (int[]){H}, &rng, 0, 0)))
            goto fail;
        for (int i = 0; i < H; i++) {
            m->w->value.data[(size_t)i * 2 * H + i] += 0.5f;
            m->w->value.data[(size_t)i * 2 * H + H + i] += 0.5f;
        }
        if (c->kind == TN_RNTN) {
            /* The tensor is V = U / (2H) (tn_forward): U ~ U(-1/2, 1/2) is
             * Socher et al.'s V ~ U(-1/(4H), 1/(4H)). */
            if (!(m->v = param("compose.tensor_u", 3, (int[]){2 * H, H, 2 * H}, &rng, -0.5f, 0.5f)))
                goto fail;
        }
    } else {
        if ((s = rc_linear_init(&m->leaf, "leaf", E, 3 * H, 1, &rng))) goto fail;
        s = RC_ERR_NOMEM;
        int G = c->kind == TN_LSTM ? 5 : 3, in = c->kind == TN_LSTM ? 2 * H : H;
        float k = 1.0f / sqrtf((float)in);
        if (!(m->w = param("compose.weight", 2, (int[]){G * H, in}, &rng, -k, k)) ||
            !(m->b = param("compose.bias", 1, (int[]){G * H}, &rng, 0, 0)))
            goto fail;
        if (c->kind == TN_LSTM) /* forget gates start open */
            for (int i = 3 * H; i < 5 * H; i++) m->b->value.data[i] = 1.0f;
        else if (!(m->wf = param("compose.weight_f", 2, (int[]){H, H}, &rng, -k, k)) ||
                 !(m->bf = param("compose.bias_f", 1, (int[]){H}, &rng, 1, 1)))
            goto fail;
    }
    if ((s = rc_linear_init(&m->head, "head", H, c->classes, 1, &rng))) goto fail;
    rc_var *all[] = {m->emb, m->leaf.weight, m->leaf.bias, m->w, m->b, m->v, m->wf, m->bf,
                     m->head.weight, m->head.bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] && (s = rc_params_add(&m->params, "", all[i]))) goto fail;
    return 0;
fail:
    m->vocab = NULL; /* the caller still owns it */
    tn_model_free(m);
    return -1;
}

rc_var *tn_forward(rc_tape *t, tn_model *m, const rc_tree_batch *b, rc_rng *drop)
{
    const tn_config *c = &m->cfg;
    int32_t *ids = rc_arena_alloc(rc_tape_arena(t), ((size_t)b->n_leaves + 1) * sizeof *ids);
    if (!ids) return NULL;
    for (int r = 0; r < b->n_leaves; r++) ids[r] = b->word_id[r] < 0 ? RC_VOCAB_UNK : b->word_id[r];
    rc_var *x = rc_embedding(t, m->emb, ids, b->n_leaves);
    if (c->dropout > 0 && drop) x = rc_dropout(t, x, c->dropout, drop);
    rc_var *h;
    switch (c->kind) {
    case TN_RNN: h = rc_tree_rnn(t, b, x, m->w, m->b, NULL); break;
    case TN_RNTN:
        /* V = U / (2H): Adam moves every weight by about lr a step whatever
         * its gradient, and q sums (2H)^2 products v_i v_j where W v sums
         * 2H, so with V itself the parameter one step moved q ~2H times as
         * far as W v; the tensor term grew until tanh saturated all the way
         * up SST's deep trees and the roots stopped learning (docs/
         * recursive.md). Through U a step moves both terms alike. */
        h = rc_tree_rnn(t, b, x, m->w, m->b, rc_scale(t, m->v, 1.0f / (2.0f * c->hidden)));
        break;
    case TN_LSTM: h = rc_tree_lstm(t, b, rc_linear_forward(t, &m->leaf, x), m->w, m->b); break;
    default:
        h = rc_tree_childsum(t, b, rc_linear_forward(t, &m->leaf, x), m->w, m->b, m->wf, m->bf);
    }
    if (c->dropout > 0 && drop) h = rc_dropout(t, h, c->dropout, drop);
    return rc_linear_forward(t, &m->head, h);
}

/* Targets and mask of every row of the batch (arena memory). */
static int batch_targets(rc_tape *t, const tn_model *m, const rc_tree_batch *b, int32_t **tg,
                         float **mask, int *n_trained)
{
    *tg = rc_arena_alloc(rc_tape_arena(t), (size_t)b->n_nodes * sizeof **tg);
    *mask = rc_arena_alloc(rc_tape_arena(t), (size_t)b->n_nodes * sizeof **mask);
    if (!*tg || !*mask) return -1;
    int n = 0;
    for (int r = 0; r < b->n_nodes; r++) {
        int y = tn_target(m->cfg.classes, b->label[r]);
        (*tg)[r] = y < 0 ? 0 : y;
        (*mask)[r] = y < 0 ? 0.0f : 1.0f;
        n += y >= 0;
    }
    *n_trained = n;
    return 0;
}

/* --------------------------------------------------------- evaluation -- */

int tn_evaluate(tn_model *m, rc_treebank *tb, int batch, tn_metrics *out)
{
    memset(out, 0, sizeof *out);
    int n = rc_treebank_count(tb), C = m->cfg.classes;
    rc_tape *t = rc_tape_new();
    rc_tree *trees = malloc((size_t)(batch > n ? n : batch) * sizeof *trees);
    if (!t || !trees) {
        rc_tape_free(t);
        free(trees);
        return -1;
    }
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    size_t fine_ok = 0, bin_ok = 0, bin_n = 0, trained = 0;
    int root_fine_ok = 0, root_bin_ok = 0, root_bin_n = 0;
    double loss = 0;
    int ret = 0;
    for (int i0 = 0; i0 < n && !ret; i0 += batch) {
        int k = n - i0 < batch ? n - i0 : batch;
        for (int i = 0; i < k; i++) rc_treebank_tree(tb, i0 + i, &trees[i]);
        rc_tree_batch b;
        if (rc_tree_batch_build(trees, k, &b)) {
            ret = -1;
            break;
        }
        rc_tape_reset(t);
        rc_var *logits = tn_forward(t, m, &b, NULL);
        if (!logits) ret = -1;
        for (int r = 0; !ret && r < b.n_nodes; r++) {
            const float *z = logits->value.data + (size_t)r * C;
            float mx = z[0];
            for (int j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
            double p[5], sum = 0;
            for (int j = 0; j < C; j++) sum += p[j] = exp((double)(z[j] - mx));
            for (int j = 0; j < C; j++) p[j] /= sum;
            int gold = b.label[r], is_root = b.node_of[r] == trees[b.tree_of[r]].n_nodes - 1;
            int best = 0;
            for (int j = 1; j < C; j++) best = p[j] > p[best] ? j : best;
            int y = tn_target(C, gold);
            if (y >= 0) {
                loss -= log(p[y] > 1e-30 ? p[y] : 1e-30);
                trained++;
            }
            if (C == 5) {
                fine_ok += best == gold;
                if (is_root) root_fine_ok += best == gold;
            }
            if (gold != 2) {
                int pos = C == 5 ? p[3] + p[4] > p[0] + p[1] : best == 1;
                int ok = pos == (gold > 2);
                bin_ok += ok;
                bin_n++;
                if (is_root) root_bin_ok += ok, root_bin_n++;
            }
        }
        out->nodes += (size_t)b.n_nodes;
        rc_tree_batch_free(&b);
    }
    rc_tape_free(t);
    free(trees);
    if (ret) return ret;
    out->trees = n;
    out->root_fine = C == 5 ? (double)root_fine_ok / n : NAN;
    out->all_fine = C == 5 ? (double)fine_ok / (double)out->nodes : NAN;
    out->root_binary_n = root_bin_n;
    out->all_binary_n = bin_n;
    out->root_binary = root_bin_n ? (double)root_bin_ok / root_bin_n : NAN;
    out->all_binary = bin_n ? (double)bin_ok / (double)bin_n : NAN;
    out->loss = trained ? loss / (double)trained : NAN;
    return 0;
}

/* What model selection maximises: root accuracy of the model's own task. */
static double selection_accuracy(const tn_model *m, const tn_metrics *e)
{
    return m->cfg.classes == 5 ? e->root_fine : e->root_binary;
}

/* ------------------------------------------------------ model files -- */

static int model_meta(const tn_model *m, meta_list *ml, char **vocab_json)
{
    const tn_config *c = &m->cfg;
    if (rc_vocab_to_json(m->vocab, vocab_json) != RC_OK) return -1;
    meta_add_header(ml, "tree");
    meta_add(ml, "model", tn_kind_name(c->kind));
    meta_addf(ml, "embed", "%.9g", c->embed);
    meta_addf(ml, "hidden", "%.9g", c->hidden);
    meta_addf(ml, "classes", "%.9g", c->classes);
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_add(ml, "lowercase", c->lowercase ? "true" : "false");
    meta_add(ml, "vocab", *vocab_json);
    return 0;
}

static int model_save(const tn_model *m, const char *path)
{
    meta_list ml = {0};
    char *vj = NULL;
    if (model_meta(m, &ml, &vj)) return cli_error("train", "%s", rc_last_error());
    rc_status s = rc_checkpoint_save(path, &m->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v);
    free(vj);
    return s == RC_OK ? 0 : cli_error("train", "%s", rc_last_error());
}

/* The configuration from a model file or checkpoint (not the vocabulary). */
static int config_read(const char *cmd, const rc_safetensors *st, tn_config *c)
{
    const char *path = rc_safetensors_path(st), *kind = rc_safetensors_meta(st, "model");
    memset(c, 0, sizeof *c);
    if (tn_kind_parse(kind, &c->kind))
        return cli_error(cmd, "%s: metadata 'model' is %s (rnn, rntn, tree-lstm or childsum-lstm)",
                         path, kind ? kind : "missing");
    if (rc_safetensors_meta_int(st, "embed", 1, 1 << 16, &c->embed) ||
        rc_safetensors_meta_int(st, "hidden", 1, 1 << 16, &c->hidden) ||
        rc_safetensors_meta_int(st, "classes", 2, 5, &c->classes) ||
        rc_safetensors_meta_float(st, "dropout", &c->dropout) ||
        rc_safetensors_meta_bool(st, "lowercase", &c->lowercase))
        return cli_error(cmd, "%s", rc_last_error());
    if (c->classes != 2 && c->classes != 5)
        return cli_error(cmd, "%s: metadata 'classes' must be 2 or 5, not %d", path, c->classes);
    return 0;
}

int tn_model_load(const char *cmd, const rc_safetensors *st, tn_model *m)
{
    if (train_model_check(cmd, st, "tree", "tree model")) return 1;
    tn_config c;
    if (config_read(cmd, st, &c)) return 1;
    const char *vj = rc_safetensors_meta(st, "vocab");
    rc_vocab *v = NULL;
    if (!vj) return cli_error(cmd, "%s: no vocabulary in the model file", rc_safetensors_path(st));
    if (rc_vocab_from_json(vj, &v) != RC_OK)
        return cli_error(cmd, "%s: %s", rc_safetensors_path(st), rc_last_error());
    if (tn_model_init(m, &c, v, 0)) {
        rc_vocab_free(v);
        return cli_error(cmd, "%s", rc_last_error());
    }
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        tn_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* Reads a treebank and sets its words' ids from the vocabulary. */
static int read_trees(const char *cmd, const char *path, const tn_model *m, rc_treebank **tb,
                      size_t *n_unk)
{
    if (rc_trees_read(path, tb) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    if (m->cfg.lowercase) rc_treebank_lowercase(*tb);
    if (rc_treebank_index(*tb, m->vocab, n_unk) != RC_OK) {
        rc_treebank_free(*tb);
        *tb = NULL;
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* ---------------------------------------------------------- training -- */

/* The order of epoch e: a permutation of 0..n-1 from (seed, e), so that a
 * resumed run sees the same batches. */
static void epoch_order(int32_t *perm, int n, int seed, int64_t epoch)
{
    rc_rng r;
    rc_rng_init(&r, (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 0x51ED + (uint64_t)epoch * 7919);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(&r) % (uint32_t)(i + 1));
        int32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
}

static void print_metrics(FILE *f, const char *what, const tn_metrics *e)
{
    if (!isnan(e->root_fine))
        fprintf(f, "%s: root %.2f%% / all nodes %.2f%% (5-class); root %.2f%% / all %.2f%% (binary)",
                what, 100 * e->root_fine, 100 * e->all_fine, 100 * e->root_binary,
                100 * e->all_binary);
    else
        fprintf(f, "%s: root %.2f%% / all %.2f%% (binary)", what, 100 * e->root_binary,
                100 * e->all_binary);
}

int cmd_train_tree(int argc, char **argv)
{
    const char *cmd = "train tree";
    train_opts o;
    train_opts_defaults(&o);
    o.hidden = 150;
    o.batch = 25;
    o.epochs = 5;
    const char *data = NULL, *valid = NULL, *model = "tree-lstm";
    int embed = 0, min_freq = 1, classes = 5, keep_case = 0;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data, "training trees (SST train.txt: one labelled tree a line)"},
        {"valid", CLI_STRING, &valid, "validation trees (SST dev.txt)"},
        {"model", CLI_STRING, &model, "rnn | rntn | tree-lstm | childsum-lstm (default tree-lstm)"},
        {"embed", CLI_INT, &embed,
         "word vector size (default: --hidden; rnn and rntn need it equal to --hidden)"},
        {"min-freq", CLI_INT, &min_freq, "rarer training words become <unk> (default 1)"},
        {"classes", CLI_INT, &classes,
         "5 (fine-grained) or 2 (binary: non-neutral sentences and nodes only)"},
        {"keep-case", CLI_FLAG, &keep_case, "do not lower-case the words"},
    };
    int n_opts = train_opts_declare(&o, opts, 7);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train tree --data TRAIN --valid DEV --out MODEL [options]\n"
        "\n"
        "Trains a recursive network with a sentiment classifier at every node of\n"
        "labelled parse trees (the Stanford Sentiment Treebank). --model picks the\n"
        "composition: rnn (tanh(W[l;r]+b)), rntn (with a bilinear tensor), tree-lstm\n"
        "(binary Tree-LSTM) or childsum-lstm (child-sum Tree-LSTM); --cell, --layers\n"
        "and --bidirectional do not apply. Word vectors start random. Writes MODEL\n"
        "(the weights with the best validation root accuracy), MODEL.ckpt (to\n"
        "--resume) and MODEL.loss.png; a 5-class model is also kept at its best\n"
        "validation binary root accuracy as MODEL.binary.\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "tree", "tree-model", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    char *ckpt = NULL, *bin_path = NULL;
    rc_treebank *train = NULL, *dev = NULL;
    rc_vocab *vocab = NULL;
    int32_t *perm = NULL, *keep = NULL;
    rc_tree *trees = NULL;
    rc_tape *t = NULL;
    tn_model m;
    trainer tr;
    tn_kind kind;

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights and vocabulary were made with. */
    static const char *const fixed[] = {"model", "hidden", "embed", "classes", "min-freq",
                                        "keep-case", NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data || !valid) {
        cli_error(cmd, "--data TRAIN and --valid DEV are required");
        goto done;
    }
    if (tn_kind_parse(model, &kind)) {
        cli_error(cmd, "--model must be rnn, rntn, tree-lstm or childsum-lstm, not '%s'", model);
        goto done;
    }
    if (embed == 0) embed = o.hidden;
    if (embed < 1 || min_freq < 1) {
        cli_error(cmd, "--embed and --min-freq must be at least 1");
        goto done;
    }
    if ((kind == TN_RNN || kind == TN_RNTN) && embed != o.hidden) {
        cli_error(cmd, "--model %s uses the word vectors as the leaves' states: --embed (%d) must "
                  "equal --hidden (%d)", model, embed, o.hidden);
        goto done;
    }
    if (classes != 5 && classes != 2) {
        cli_error(cmd, "--classes must be 5 or 2, not %d", classes);
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;
    if (rc_trees_read(data, &train) || rc_trees_read(valid, &dev)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    if (!keep_case) {
        rc_treebank_lowercase(train);
        rc_treebank_lowercase(dev);
    }
    if (ck) {
        const char *vj = rc_safetensors_meta(ck, "vocab");
        if (!vj || rc_vocab_from_json(vj, &vocab) != RC_OK) {
            cli_error(cmd, "%s: %s", o.resume, vj ? rc_last_error() : "no vocabulary");
            goto done;
        }
    } else if (rc_treebank_build_vocab(train, min_freq, 0, &vocab) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    size_t unk = 0, vunk = 0;
    if (rc_treebank_index(train, vocab, &unk) || rc_treebank_index(dev, vocab, &vunk)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    tn_config c = {kind, embed, o.hidden, classes, o.dropout, !keep_case};
    if (tn_model_init(&m, &c, vocab, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    vocab = NULL;
    model_ok = 1;
    /* The training trees: all, or the non-neutral sentences for a binary model. */
    int n_all = rc_treebank_count(train), n = 0;
    if (!(keep = malloc((size_t)n_all * sizeof *keep))) goto done;
    size_t n_nodes = 0;
    for (int i = 0; i < n_all; i++) {
        rc_tree tt;
        rc_treebank_tree(train, i, &tt);
        if (tn_target(classes, tt.label[tt.n_nodes - 1]) >= 0) keep[n++] = i, n_nodes += (size_t)tt.n_nodes;
    }
    if (n == 0) {
        cli_error(cmd, "%s: no tree to train on", data);
        goto done;
    }
    int B = o.batch < n ? o.batch : n;
    if (!(perm = malloc((size_t)n * sizeof *perm)) || !(trees = malloc((size_t)B * sizeof *trees)))
        goto done;
    int64_t per_epoch = (n + B - 1) / B;
    if (trainer_init(&tr, cmd, &o, &m.params, per_epoch)) goto done;
    trainer_ok = 1;
    int resume_best_binary = 0;
    double resume_best_binary_v = -1;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck)) goto done;
        const char *bb = rc_safetensors_meta(ck, "tree/best_binary");
        if (bb) resume_best_binary = 1, resume_best_binary_v = atof(bb);
        rc_safetensors_close(ck);
        ck = NULL;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %d training trees (%zu nodes), %d validation; vocabulary %d (%zu / %zu "
                "unknown leaves); %s, embed %d, hidden %d, %d classes, %zu parameters; %lld steps "
                "of %d trees%s\n",
                cmd, n, n_nodes, rc_treebank_count(dev),
                rc_vocab_size(m.vocab), unk, vunk, model, embed, o.hidden, classes,
                rc_params_numel(&m.params), (long long)tr.total_steps, B,
                tr.step ? " (resumed)" : "");
    if (!(t = rc_tape_new())) goto done;
    int64_t order_epoch = -1;
    double best_acc = -1;
    /* A 5-class model is also kept at its best validation binary root
     * accuracy, as MODEL.binary (the binary task's model selection). The
     * best so far is in the checkpoint, so a resumed run keeps it. */
    double best_binary = -1;
    if (classes == 5) {
        size_t bn = strlen(o.out) + 8;
        if (!(bin_path = malloc(bn))) goto done;
        snprintf(bin_path, bn, "%s.binary", o.out);
        if (resume_best_binary) best_binary = resume_best_binary_v;
    }
    while (tr.step < tr.total_steps && !tr.stop) {
        int64_t epoch = tr.step / per_epoch, pos = tr.step % per_epoch;
        if (epoch != order_epoch) {
            epoch_order(perm, n, o.seed, epoch);
            order_epoch = epoch;
        }
        int i0 = (int)(pos * B), k = n - i0 < B ? n - i0 : B;
        for (int i = 0; i < k; i++) rc_treebank_tree(train, keep[perm[i0 + i]], &trees[i]);
        rc_tree_batch b;
        if (rc_tree_batch_build(trees, k, &b)) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        rc_rng drop;
        rc_rnn dummy;
        trainer_dropout_rng(&tr, &drop, &dummy);
        rc_tape_reset(t);
        int32_t *tg;
        float *mask;
        int n_trained;
        rc_var *logits = tn_forward(t, &m, &b, &drop), *loss = NULL;
        if (logits && !batch_targets(t, &m, &b, &tg, &mask, &n_trained))
            loss = rc_cross_entropy(t, logits, tg, mask);
        int fail = trainer_backward_update(&tr, cmd, t, loss, (double)b.n_nodes);
        rc_tree_batch_free(&b);
        if (fail) goto done;
        trainer_progress(&tr, "node", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "node", 1);
            double t0 = trainer_now();
            tn_metrics e;
            if (tn_evaluate(&m, dev, 64, &e)) {
                cli_error(cmd, "validation: %s", rc_last_error());
                goto done;
            }
            double acc = selection_accuracy(&m, &e);
            int best = trainer_record_eval(&tr, 1.0 - acc);
            if (best) best_acc = acc;
            int best_bin = bin_path && e.root_binary > best_binary;
            if (!o.quiet) {
                fprintf(stderr, "  ");
                print_metrics(stderr, "validation", &e);
                fprintf(stderr, "; loss %.4f%s%s  [%.1fs]\n", e.loss, best ? "  best so far, saved" : "",
                        best_bin ? "  (best binary, saved as .binary)" : "", trainer_now() - t0);
            }
            if (best && model_save(&m, o.out)) goto done;
            if (best_bin) {
                best_binary = e.root_binary;
                if (model_save(&m, bin_path)) goto done;
            }
            trainer_plot(&tr, o.out, "training loss / validation root error");
        }
        if (trainer_should_checkpoint(&tr)) {
            meta_list ml = {0};
            char *vj = NULL;
            if (model_meta(&m, &ml, &vj)) {
                cli_error(cmd, "%s", rc_last_error());
                goto done;
            }
            meta_addf(&ml, "tree/best_binary", "%.17g", best_binary);
            int f2 = trainer_save_checkpoint(&tr, ckpt, &ml, opts, 0, NULL, NULL);
            free(vj);
            if (f2) goto done;
        }
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    double secs = trainer_now() - tr.t_start;
    if (o.json)
        printf("{\"task\":\"tree\",\"model\":\"%s\",\"steps\":%lld,\"best_step\":%lld,"
               "\"best_valid_root_accuracy\":%.6f,\"seconds\":%.1f}\n",
               model, (long long)tr.step, (long long)tr.best_step,
               best_acc >= 0 ? best_acc : 1.0 - tr.best_valid, secs);
    else if (!o.quiet)
        fprintf(stderr, "%s: best validation root accuracy %.2f%% at step %lld (this run: %.0fs); "
                "model in %s\n", cmd, 100 * (1.0 - tr.best_valid), (long long)tr.best_step, secs,
                o.out);
    ret = 0;
done:
    rc_tape_free(t);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) tn_model_free(&m);
    rc_vocab_free(vocab);
    rc_safetensors_close(ck);
    rc_treebank_free(train);
    rc_treebank_free(dev);
    free(meta_store);
    free(keep);
    free(perm);
    free(trees);
    free(ckpt);
    free(bin_path);
    return ret;
}

/* --------------------------------------------------------- recur eval -- */

int treenet_eval(const char *cmd, const rc_safetensors *st, const char *data, int batch, int json)
{
    tn_model m;
    if (tn_model_load(cmd, st, &m)) return 1;
    rc_treebank *tb = NULL;
    size_t unk = 0;
    int ret = 1;
    if (read_trees(cmd, data, &m, &tb, &unk)) goto done;
    double t0 = trainer_now();
    tn_metrics e;
    if (tn_evaluate(&m, tb, batch, &e)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    double el = trainer_now() - t0;
    if (json) {
        printf("{\"task\":\"tree\",\"model\":\"%s\",\"data\":\"%s\",\"trees\":%d,\"nodes\":%zu,"
               "\"unknown_leaves\":%zu,",
               tn_kind_name(m.cfg.kind), data, e.trees, e.nodes, unk);
        if (m.cfg.classes == 5)
            printf("\"root_accuracy_5\":%.6f,\"all_accuracy_5\":%.6f,", e.root_fine, e.all_fine);
        printf("\"root_accuracy_2\":%.6f,\"all_accuracy_2\":%.6f,\"binary_roots\":%d,"
               "\"binary_nodes\":%zu,\"loss\":%.6f,\"seconds\":%.2f}\n",
               e.root_binary, e.all_binary, e.root_binary_n, e.all_binary_n, e.loss, el);
    } else {
        printf("%s: %d trees, %zu nodes (%zu unknown leaves); %s model, %d classes\n", data, e.trees,
               e.nodes, unk, tn_kind_name(m.cfg.kind), m.cfg.classes);
        if (m.cfg.classes == 5)
            printf("  fine-grained (5 classes): root %.2f%%  all nodes %.2f%%\n", 100 * e.root_fine,
                   100 * e.all_fine);
        printf("  binary (%d non-neutral roots, %zu nodes): root %.2f%%  all nodes %.2f%%\n",
               e.root_binary_n, e.all_binary_n, 100 * e.root_binary, 100 * e.all_binary);
        printf("  loss %.4f nats per node\n", e.loss);
    }
    ret = 0;
done:
    rc_treebank_free(tb);
    tn_model_free(&m);
    return ret;
}

/* --------------------------------------------------------- recur tree -- */

/* A plain sentence as a right-branching tree text with neutral labels:
 * "a b c" -> "(2 (2 a) (2 (2 b) (2 c)))". Tokens are split at whitespace,
 * with . , ; : ! ? peeled off the ends of words as SST's tokens are, and
 * parentheses written as SST writes them (-LRB-, -RRB-). NULL when out of
 * memory or there is no token. */
static char *right_branching(const char *line)
{
    size_t n = strlen(line);
    /* Tokens into a list: each at most the line's bytes, -LRB- at most 5 a byte. */
    char *buf = malloc(6 * n + 2);
    const char **tok = malloc((2 * n + 1) * sizeof *tok);
    if (!buf || !tok) {
        free(buf);
        free(tok);
        return NULL;
    }
    size_t o = 0;
    int nt = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && strchr(" \t\r\n\v\f", line[i])) i++;
        size_t s = i;
        while (i < n && !strchr(" \t\r\n\v\f", line[i])) i++;
        size_t e = i;
        if (s == e) continue;
        /* leading and trailing punctuation as tokens of their own */
        const char *punct = ".,;:!?\"()";
        size_t ls = s, te = e;
        while (ls < te && strchr(punct, line[ls])) ls++;
        while (te > ls && strchr(punct, line[te - 1])) te--;
        for (size_t k = s; k < e; k++) {
            int single = k < ls || k >= te;
            if (k == ls && ls < te) { /* the word itself */
                tok[nt++] = buf + o;
                for (size_t q = ls; q < te; q++) {
                    if (line[q] == '(') o += (size_t)sprintf(buf + o, "-LRB-");
                    else if (line[q] == ')') o += (size_t)sprintf(buf + o, "-RRB-");
                    else buf[o++] = line[q];
                }
                buf[o++] = '\0';
                k = te - 1;
                continue;
            }
            if (single) {
                tok[nt++] = buf + o;
                if (line[k] == '(') o += (size_t)sprintf(buf + o, "-LRB-");
                else if (line[k] == ')') o += (size_t)sprintf(buf + o, "-RRB-");
                else buf[o++] = line[k];
                buf[o++] = '\0';
            }
        }
    }
    char *out = NULL;
    if (nt > 0) {
        size_t len = o + 8 * (size_t)nt + 8;
        out = malloc(len);
        if (out) {
            size_t p = 0;
            for (int i = 0; i < nt; i++)
                p += (size_t)snprintf(out + p, len - p, i < nt - 1 ? "(2 (2 %s) " : "(2 %s)", tok[i]);
            for (int i = 0; i < nt - 1; i++) out[p++] = ')';
            out[p] = '\0';
        }
    }
    free(buf);
    free(tok);
    return out;
}

/* Tree i's node j as bracketed text with predicted labels, into f. */
static void print_bracketed(FILE *f, const rc_tree *t, const int32_t *pred, int j)
{
    if (t->n_children[j] == 0) {
        fprintf(f, "(%d %s)", pred[j], t->word[j]);
        return;
    }
    /* Iterative would need a stack; trees from one line are shallow enough
     * for the depth of recursion a parse gives (SST: under 60). */
    fprintf(f, "(%d", pred[j]);
    for (int c = 0; c < t->n_children[j]; c++) {
        fputc(' ', f);
        print_bracketed(f, t, pred, t->children[t->first_child[j] + c]);
    }
    fputc(')', f);
}

int cmd_tree(int argc, char **argv)
{
    const char *png = NULL;
    int nodes = 0, threads = 0, max_png = 6, show_gold = 0;
    cli_option opts[] = {
        {"png", CLI_STRING, &png, "draw the trees coloured by predicted sentiment into this PNG"},
        {"png-trees", CLI_INT, &max_png, "at most this many trees in the picture (default 6)"},
        {"gold", CLI_FLAG, &show_gold, "input trees' own labels: draw them as rings, count hits"},
        {"nodes", CLI_FLAG, &nodes, "print every node's words, label and probabilities"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[2];
    int n_pos;
    int r = cli_parse(
        "tree",
        "usage: recur tree MODEL [FILE] [options]\n\n"
        "Reads sentences or trees, one a line, from FILE (default: standard input)\n"
        "and prints each tree with the sentiment the model predicts at every node,\n"
        "as SST writes trees: (LABEL ...), 0 very negative .. 4 very positive (a\n"
        "binary model: 0 negative, 1 positive). A line starting with '(' is a\n"
        "bracketed tree (its labels are ignored unless --gold); any other line is\n"
        "a plain sentence, split at spaces (punctuation split off) and parsed as a\n"
        "right-branching binary tree: recur has no parser, so phrases are not the\n"
        "linguistic constituents; give parsed trees for that.\n",
        opts, argc, argv, 2, pos, 2, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos < 1) return cli_error("tree", "give a model file (see recur tree --help)");
    if (max_png < 1) return cli_error("tree", "--png-trees must be at least 1");
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(pos[0], &st) != RC_OK) return cli_error("tree", "%s", rc_last_error());
    tn_model m;
    int lm = tn_model_load("tree", st, &m);
    rc_safetensors_close(st);
    if (lm) return 1;
    const char *in_path = n_pos > 1 ? pos[1] : NULL;
    FILE *in = in_path ? fopen(in_path, "r") : stdin;
    int ret = 1, C = m.cfg.classes, n_drawn = 0, lineno = 0, gold_ok = 0, gold_n = 0;
    char *line = NULL;
    size_t cap = 0;
    rc_tape *t = rc_tape_new();
    rc_treebank *keep_tb[64];
    int32_t *keep_pred[64];
    int keep_is_tree[64];
    if (!in) {
        cli_error("tree", "%s: cannot open for reading", in_path);
        goto done;
    }
    if (!t) goto done;
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    ssize_t len;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t s = 0;
        while (s < (size_t)len && strchr(" \t\r\n", line[s])) s++;
        if (s == (size_t)len) continue;
        while (len > 0 && strchr(" \t\r\n", line[len - 1])) line[--len] = '\0';
        int is_tree = line[s] == '(';
        char *text = is_tree ? NULL : right_branching(line + s);
        if (!is_tree && !text) {
            cli_error("tree", "out of memory");
            goto done;
        }
        rc_treebank *tb = NULL;
        const char *src = is_tree ? line + s : text;
        if (rc_tree_parse(src, strlen(src), &tb) != RC_OK) {
            /* tree_parse counts lines and columns within the text: name the input line. */
            cli_error("tree", "%s line %d: %s", in_path ? in_path : "stdin", lineno,
                      rc_last_error());
            free(text);
            goto done;
        }
        free(text);
        if (m.cfg.lowercase) rc_treebank_lowercase(tb);
        rc_treebank_index(tb, m.vocab, NULL);
        rc_tree tt;
        rc_treebank_tree(tb, 0, &tt);
        rc_tree_batch b;
        if (rc_tree_batch_build(&tt, 1, &b)) {
            rc_treebank_free(tb);
            cli_error("tree", "%s", rc_last_error());
            goto done;
        }
        rc_tape_reset(t);
        rc_var *logits = tn_forward(t, &m, &b, NULL);
        if (!logits) {
            cli_error("tree", "%s line %d: %s", in_path ? in_path : "stdin", lineno, rc_last_error());
            rc_tree_batch_free(&b);
            rc_treebank_free(tb);
            goto done;
        }
        int32_t *pred = malloc((size_t)tt.n_nodes * sizeof *pred);
        float *prob = malloc((size_t)tt.n_nodes * C * sizeof *prob);
        if (!pred || !prob) {
            free(pred), free(prob);
            rc_tree_batch_free(&b);
            rc_treebank_free(tb);
            goto done;
        }
        for (int j = 0; j < tt.n_nodes; j++) {
            const float *z = logits->value.data + (size_t)b.row_of[j] * C;
            float mx = z[0], sum = 0;
            for (int k = 1; k < C; k++) mx = z[k] > mx ? z[k] : mx;
            for (int k = 0; k < C; k++) sum += prob[j * C + k] = expf(z[k] - mx);
            int best = 0;
            for (int k = 0; k < C; k++) {
                prob[j * C + k] /= sum;
                if (prob[j * C + k] > prob[j * C + best]) best = k;
            }
            pred[j] = best;
            if (show_gold && is_tree) {
                int y = tn_target(C, tt.label[j]);
                if (y >= 0) gold_ok += y == best, gold_n++;
            }
        }
        rc_tree_batch_free(&b);
        print_bracketed(stdout, &tt, pred, tt.n_nodes - 1);
        int root = tt.n_nodes - 1;
        printf("\n  root: %s (p = %.2f)\n", C == 5 ? label_names5[pred[root]] : label_names2[pred[root]],
               prob[root * C + pred[root]]);
        if (nodes)
            for (int j = 0; j < tt.n_nodes; j++) {
                /* The node's words: its leaves are a contiguous run. */
                int lo = tt.n_leaves, hi = -1, stack[256], sp = 0;
                stack[sp++] = j;
                while (sp) {
                    int q = stack[--sp];
                    if (tt.n_children[q] == 0) {
                        if (tt.leaf_pos[q] < lo) lo = tt.leaf_pos[q];
                        if (tt.leaf_pos[q] > hi) hi = tt.leaf_pos[q];
                    } else
                        for (int c2 = 0; c2 < tt.n_children[q] && sp < 256; c2++)
                            stack[sp++] = tt.children[tt.first_child[q] + c2];
                }
                printf("  %-14s", C == 5 ? label_names5[pred[j]] : label_names2[pred[j]]);
                for (int k = 0; k < C; k++) printf(" %.2f", prob[j * C + k]);
                printf("  ");
                for (int w = lo; w <= hi; w++) printf("%s%s", w > lo ? " " : "", tt.word[tt.leaves[w]]);
                printf("\n");
            }
        free(prob);
        if (png && n_drawn < max_png && n_drawn < 64) {
            keep_tb[n_drawn] = tb;
            keep_is_tree[n_drawn] = is_tree;
            keep_pred[n_drawn++] = pred;
        } else {
            free(pred);
            rc_treebank_free(tb);
        }
    }
    if (show_gold && gold_n)
        printf("gold labels: %d of %d nodes right (%.2f%%)\n", gold_ok, gold_n,
               100.0 * gold_ok / gold_n);
    if (png && n_drawn) {
        tree_plot_item items[64];
        rc_tree views[64];
        for (int i = 0; i < n_drawn; i++) {
            rc_treebank_tree(keep_tb[i], 0, &views[i]);
            items[i] = (tree_plot_item){&views[i], keep_pred[i],
                                        show_gold && keep_is_tree[i] ? views[i].label : NULL};
        }
        if (tree_plot_png(png, items, n_drawn, C) != RC_OK) {
            cli_error("tree", "%s", tree_plot_last_error());
            goto done;
        }
        fprintf(stderr, "tree: %d tree%s drawn in %s\n", n_drawn, n_drawn > 1 ? "s" : "", png);
    }
    ret = 0;
done:
    for (int i = 0; i < n_drawn; i++) {
        rc_treebank_free(keep_tb[i]);
        free(keep_pred[i]);
    }
    free(line);
    if (in && in != stdin) fclose(in);
    rc_tape_free(t);
    tn_model_free(&m);
    return ret;
}
