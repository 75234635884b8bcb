/* lm.c - language modelling: predict the next character or word.
 *
 * Model: embedding -> dropout -> recurrent layers -> dropout -> linear head
 * -> softmax over the vocabulary. Training is truncated backpropagation
 * through time: the text is cut into `batch` parallel streams, each batch
 * is the next `bptt` steps of every stream, and the hidden state is carried
 * from one batch to the next (without gradient) within an epoch. */
#include "lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ model -- */

void lm_model_free(lm_model *m)
{
    if (!m) return;
    rc_embedding_free(&m->emb);
    rc_rnn_free(m->rnn);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    rc_vocab_free(m->vocab);
    free(m->h);
    memset(m, 0, sizeof *m);
}

int lm_model_init(lm_model *m, const lm_config *c, rc_vocab *vocab, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->vocab = vocab;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    int V = rc_vocab_size(vocab);
    rc_rnn_config rc = rc_rnn_defaults(c->cell, c->embed, c->hidden);
    rc.num_layers = c->layers;
    rc.dropout = c->dropout;
    rc_params_init(&m->params);
    rc_status s;
    if ((s = rc_embedding_init(&m->emb, "embedding", V, c->embed, &rng)) ||
        (s = rc_rnn_new(&rc, seed + 1, &m->rnn)) ||
        (s = rc_linear_init(&m->head, "head", c->hidden, V, 1, &rng)) ||
        (s = rc_params_add(&m->params, "", m->emb.weight)))
        goto fail;
    if ((s = train_params_add_rnn_head(&m->params, m->rnn, &m->head))) goto fail;
    return 0;
fail:
    m->vocab = NULL; /* the caller still owns it */
    lm_model_free(m);
    return -1;
}

/* The carried state: h then c, [layers x batch x hidden] each. */
static int state_resize(lm_model *m, int batch)
{
    size_t n = (size_t)m->cfg.layers * (size_t)batch * (size_t)m->cfg.hidden;
    if (m->state_batch != batch) {
        float *h = realloc(m->h, 2 * n * sizeof *h);
        if (!h) return -1;
        m->h = h;
        m->state_batch = batch;
    }
    memset(m->h, 0, 2 * n * sizeof *m->h);
    return 0;
}

/* One window: ids and targets are [T x B] time-major. Returns the mean
 * loss variable (on t), and copies the final state into m->h. */
static rc_var *lm_window(rc_tape *t, lm_model *m, const int32_t *ids, const int32_t *targets,
                         int T, int B, rc_rng *drop)
{
    const lm_config *c = &m->cfg;
    int sh[3] = {c->layers, B, c->hidden};
    size_t n = (size_t)c->layers * (size_t)B * (size_t)c->hidden;
    int is_lstm = c->cell == RC_CELL_LSTM;
    rc_var *h0 = rc_input(t, 3, sh, m->h), *c0 = is_lstm ? rc_input(t, 3, sh, m->h + n) : NULL;
    rc_var *x = rc_embedding(t, m->emb.weight, ids, T * B);
    int xs[3] = {T, B, c->embed};
    x = rc_reshape(t, x, 3, xs);
    if (c->dropout > 0) x = rc_dropout(t, x, c->dropout, drop);
    rc_var *y, *hn, *cn;
    if (!x || rc_rnn_forward(t, m->rnn, x, NULL, h0, c0, &y, &hn, &cn) != RC_OK) return NULL;
    if (c->dropout > 0) y = rc_dropout(t, y, c->dropout, drop);
    rc_var *logits = rc_linear_forward(t, &m->head, y);
    rc_var *loss = rc_cross_entropy(t, logits, targets, NULL);
    if (!loss) return NULL;
    memcpy(m->h, hn->value.data, n * sizeof(float));
    if (is_lstm) memcpy(m->h + n, cn->value.data, n * sizeof(float));
    return loss;
}

/* ----------------------------------------------------------- streams -- */

/* The text as B parallel streams of length L; window i covers positions
 * [i*bptt, i*bptt + T] of every stream (T+1 tokens: inputs and targets). */
typedef struct streams {
    const int32_t *ids;
    int64_t L;
    int B, bptt;
    int32_t *x, *y; /* [bptt x B] */
} streams;

static int streams_init(streams *s, const int32_t *ids, size_t n, int B, int bptt)
{
    s->ids = ids;
    s->B = B;
    s->bptt = bptt;
    s->L = (int64_t)(n / (size_t)B);
    s->x = malloc((size_t)bptt * (size_t)B * sizeof *s->x);
    s->y = malloc((size_t)bptt * (size_t)B * sizeof *s->y);
    return (s->x && s->y && s->L >= 2) ? 0 : -1;
}

static void streams_free(streams *s)
{
    free(s->x);
    free(s->y);
}

static int64_t streams_windows(const streams *s) { return (s->L - 2) / s->bptt + 1; }

/* Fills window i; returns its length T. */
static int streams_window(streams *s, int64_t i)
{
    int64_t p0 = i * s->bptt;
    int T = (int)((s->L - 1 - p0) < s->bptt ? (s->L - 1 - p0) : s->bptt);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < s->B; b++) {
            const int32_t *row = s->ids + (size_t)b * (size_t)s->L;
            s->x[t * s->B + b] = row[p0 + t];
            s->y[t * s->B + b] = row[p0 + t + 1];
        }
    return T;
}

double lm_evaluate(lm_model *m, const int32_t *ids, size_t n, int batch, int bptt,
                   size_t *n_tokens)
{
    if (n / (size_t)batch < 2) batch = 1;
    streams s;
    rc_tape *t = rc_tape_new();
    double sum = 0, count = 0;
    if (!t || streams_init(&s, ids, n, batch, bptt) || state_resize(m, batch)) {
        rc_tape_free(t);
        return NAN;
    }
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    for (int64_t i = 0; i < streams_windows(&s); i++) {
        int T = streams_window(&s, i);
        rc_tape_reset(t);
        rc_var *loss = lm_window(t, m, s.x, s.y, T, batch, NULL);
        if (!loss) {
            sum = NAN;
            break;
        }
        sum += (double)loss->value.data[0] * T * batch;
        count += (double)T * batch;
    }
    streams_free(&s);
    rc_tape_free(t);
    if (n_tokens) *n_tokens = (size_t)count;
    return count > 0 ? sum / count : NAN;
}

/* ------------------------------------------------------ model files -- */

/* Metadata describing the model (a checkpoint adds the run's). */
static int model_meta(const lm_model *m, meta_list *ml, char **vocab_json)
{
    const lm_config *c = &m->cfg;
    if (rc_vocab_to_json(m->vocab, vocab_json) != RC_OK) return -1;
    meta_add_header(ml, "lm");
    meta_add(ml, "level", c->level == RC_TEXT_CHAR ? "char" : "word");
    meta_add(ml, "cell", train_cell_name(c->cell));
    meta_addf(ml, "embed", "%.9g", c->embed);
    meta_addf(ml, "hidden", "%.9g", c->hidden);
    meta_addf(ml, "layers", "%.9g", c->layers);
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    meta_add(ml, "vocab", *vocab_json);
    return 0;
}

int lm_model_save(const lm_model *m, const char *path, int n_meta, const char *const *keys,
                  const char *const *vals)
{
    meta_list ml = {0};
    char *vj = NULL;
    if (model_meta(m, &ml, &vj)) return cli_error("train", "%s", rc_last_error());
    for (int i = 0; i < n_meta; i++) meta_add(&ml, keys[i], vals[i]);
    rc_status s = rc_checkpoint_save(path, &m->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v);
    free(vj);
    return s == RC_OK ? 0 : cli_error("train", "%s", rc_last_error());
}

int lm_model_load(const char *cmd, const rc_safetensors *st, lm_model *m)
{
    if (train_model_check(cmd, st, "lm", "language model")) return 1;
    const char *path = rc_safetensors_path(st);
    lm_config c;
    memset(&c, 0, sizeof c);
    const char *level = rc_safetensors_meta(st, "level"), *cell = rc_safetensors_meta(st, "cell");
    if (!level || (strcmp(level, "char") && strcmp(level, "word")))
        return cli_error(cmd, "%s: metadata 'level' must be char or word", path);
    c.level = strcmp(level, "char") ? RC_TEXT_WORD : RC_TEXT_CHAR;
    if (train_cell_kind(cell, &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is %s", path, cell ? cell : "missing");
    if (meta_get_int(cmd, st, "embed", 1, 1 << 20, &c.embed) ||
        meta_get_int(cmd, st, "hidden", 1, 1 << 20, &c.hidden) ||
        meta_get_int(cmd, st, "layers", 1, 100, &c.layers))
        return 1;
    if (rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    const char *vj = rc_safetensors_meta(st, "vocab");
    rc_vocab *v = NULL;
    if (!vj) return cli_error(cmd, "%s: no vocabulary in the model file", path);
    if (rc_vocab_from_json(vj, &v) != RC_OK) return cli_error(cmd, "%s: %s", path, rc_last_error());
    if (lm_model_init(m, &c, v, 0)) {
        rc_vocab_free(v);
        return cli_error(cmd, "%s", rc_last_error());
    }
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        lm_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* ---------------------------------------------------------- training -- */

/* Beyond the trainer's part and the options, a checkpoint holds the
 * position in the epoch and the carried state. */
static int save_checkpoint(trainer *tr, lm_model *m, const char *path, int64_t window,
                           const cli_option *opts)
{
    meta_list ml = {0};
    char *vj = NULL;
    if (model_meta(m, &ml, &vj)) return cli_error("train", "%s", rc_last_error());
    meta_addf(&ml, "train/window", "%.9g", (double)window);
    int sh[1] = {2 * m->cfg.layers * m->state_batch * m->cfg.hidden};
    rc_tensor st = {m->h, 1, {sh[0]}, (size_t)sh[0]};
    const rc_tensor *ex[1] = {&st};
    const char *exn[1] = {"state/carried"};
    int r = trainer_save_checkpoint(tr, path, &ml, opts, 1, exn, ex);
    free(vj);
    return r;
}

/* Where the last `fraction` of a text starts, at a character boundary (the
 * held-out part when there is no separate validation file). */
static size_t tail_start(const char *text, size_t len, float fraction)
{
    size_t cut = len - (size_t)((double)len * fraction);
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80) cut--;
    return cut;
}

/* Reads the training text (and validation text or the tail fraction). */
static int read_corpus(const char *cmd, const char *path, char **text, size_t *len)
{
    if (rc_text_read(path, text, len) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    return 0;
}

int cmd_train_lm(int argc, char **argv)
{
    const char *cmd = "train lm";
    train_opts o;
    train_opts_defaults(&o);
    const char *data = NULL, *valid = NULL, *level = "char";
    float valid_fraction = 0.1f;
    int min_freq = 1, embed = 64, bptt = 64;
    float init_range = 0;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data, "training text (UTF-8)"},
        {"valid", CLI_STRING, &valid, "validation text (default: the end of --data)"},
        {"valid-fraction", CLI_FLOAT, &valid_fraction, "fraction of --data held out (default 0.1)"},
        {"level", CLI_STRING, &level, "char | word"},
        {"min-freq", CLI_INT, &min_freq, "rarer words become <unk> (word level)"},
        {"embed", CLI_INT, &embed, "embedding size"},
        {"bptt", CLI_INT, &bptt, "steps of backpropagation through time per batch"},
        {"init-range", CLI_FLOAT, &init_range,
         "draw every weight from U(-R, R) (Zaremba et al.; default: PyTorch's init)"},
    };
    int n_opts = train_opts_declare(&o, opts, 8);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train lm --data FILE --out MODEL [options]\n"
        "\n"
        "Trains a character- or word-level language model with truncated\n"
        "backpropagation through time. Writes MODEL (the weights with the best\n"
        "validation loss), MODEL.ckpt (everything needed to --resume) and\n"
        "MODEL.loss.png (the loss curves).\n";
    /* With --resume, the checkpoint's options and the command line on top. */
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "lm", "language-model", &o, &ck,
                             &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1;
    char *text = NULL, *vtext = NULL, *ckpt = NULL;
    int32_t *ids = NULL, *vids = NULL;
    size_t n_ids = 0, n_vids = 0, len = 0, vlen = 0;
    rc_vocab *vocab = NULL;
    lm_model m;
    int model_ok = 0;
    trainer tr;
    int trainer_ok = 0;
    streams s = {0};
    rc_tape *t = NULL;

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights and vocabulary were made with. */
    static const char *const fixed[] = {"cell",  "hidden", "layers", "embed",
                                        "level", "min-freq", NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data) {
        cli_error(cmd, "--data FILE is required");
        goto done;
    }
    if (strcmp(level, "char") && strcmp(level, "word")) {
        cli_error(cmd, "--level must be char or word, not '%s'", level);
        goto done;
    }
    if (embed < 1 || bptt < 1 || min_freq < 1) {
        cli_error(cmd, "--embed, --bptt and --min-freq must be at least 1");
        goto done;
    }
    if (!valid && !(valid_fraction > 0 && valid_fraction < 1)) {
        cli_error(cmd, "--valid-fraction must be between 0 and 1");
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;

    if (read_corpus(cmd, data, &text, &len)) goto done;
    if (valid) {
        if (read_corpus(cmd, valid, &vtext, &vlen)) goto done;
    } else {
        size_t cut = tail_start(text, len, valid_fraction);
        vtext = text + cut;
        vlen = len - cut;
        len = cut;
    }
    rc_text_level lv = strcmp(level, "char") ? RC_TEXT_WORD : RC_TEXT_CHAR;
    if (ck) {
        const char *vj = rc_safetensors_meta(ck, "vocab");
        if (!vj || rc_vocab_from_json(vj, &vocab) != RC_OK) {
            cli_error(cmd, "%s: %s", o.resume, vj ? rc_last_error() : "no vocabulary");
            goto done;
        }
    } else if (rc_vocab_build(text, len, lv, min_freq, 0, &vocab) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    size_t unk = 0, vunk = 0;
    if (rc_vocab_encode(vocab, text, len, &ids, &n_ids, &unk) != RC_OK ||
        rc_vocab_encode(vocab, vtext, vlen, &vids, &n_vids, &vunk) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    if (n_ids < (size_t)o.batch * 2 + 1) {
        cli_error(cmd, "%s: %zu tokens are too few for --batch %d", data, n_ids, o.batch);
        goto done;
    }
    if (n_vids < 2) {
        cli_error(cmd, "the validation text has %zu tokens; it needs at least 2", n_vids);
        goto done;
    }

    lm_config c = {lv, cell, embed, o.hidden, o.layers, o.dropout};
    if (lm_model_init(&m, &c, vocab, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    vocab = NULL; /* the model owns it now */
    model_ok = 1;
    if (init_range > 0) {
        rc_rng init;
        rc_rng_init(&init, (uint64_t)o.seed + 101);
        for (int i = 0; i < m.params.n; i++)
            rc_rng_fill_uniform(&init, m.params.vars[i]->value.data, m.params.vars[i]->value.size,
                                -init_range, init_range);
    }
    if (streams_init(&s, ids, n_ids, o.batch, bptt) || state_resize(&m, o.batch)) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    int64_t per_epoch = streams_windows(&s);
    if (trainer_init(&tr, cmd, &o, &m.params, per_epoch)) goto done;
    trainer_ok = 1;
    int64_t window = 0;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck)) goto done;
        double w;
        const char *ws = rc_safetensors_meta(ck, "train/window");
        rc_tensor carried;
        int cs[1] = {2 * o.layers * o.batch * o.hidden};
        if (!ws || sscanf(ws, "%lf", &w) != 1 ||
            rc_safetensors_get_expect(ck, "state/carried", 1, cs, &carried) != RC_OK) {
            cli_error(cmd, "%s: %s", o.resume, ws ? rc_last_error() : "no training position");
            goto done;
        }
        memcpy(m.h, carried.data, carried.size * sizeof(float));
        rc_tensor_free(&carried);
        window = (int64_t)w;
        rc_safetensors_close(ck);
        ck = NULL;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %zu %s tokens for training, %zu for validation, vocabulary %d "
                "(%zu / %zu unknown); %s %dx%d, %zu parameters; %lld steps of %d x %d%s\n",
                cmd, n_ids, level, n_vids, rc_vocab_size(m.vocab), unk, vunk, o.cell, o.layers,
                o.hidden, rc_params_numel(&m.params), (long long)tr.total_steps, o.batch, bptt,
                tr.step ? " (resumed)" : "");

    t = rc_tape_new();
    if (!t) goto done;
    double tokens_per_s = 0;
    while (tr.step < tr.total_steps && !tr.stop) {
        if (window == per_epoch) window = 0;
        if (window == 0) memset(m.h, 0, 2 * (size_t)o.layers * o.batch * o.hidden * sizeof(float));
        int T = streams_window(&s, window);
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m.rnn);
        rc_tape_reset(t);
        rc_var *loss = lm_window(t, &m, s.x, s.y, T, o.batch, &drop);
        if (trainer_backward_update(&tr, cmd, t, loss, (double)T * o.batch)) goto done;
        window++;
        trainer_progress(&tr, "tok", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "tok", 1);
            /* Validation uses its own state; training's carried state is kept. */
            size_t sn = 2 * (size_t)o.layers * o.batch * o.hidden;
            float *keep = malloc(sn * sizeof *keep);
            if (!keep) goto done;
            memcpy(keep, m.h, sn * sizeof *keep);
            double t0 = trainer_now();
            double vl = lm_evaluate(&m, vids, n_vids, o.batch, bptt, NULL);
            state_resize(&m, o.batch);
            memcpy(m.h, keep, sn * sizeof *keep);
            free(keep);
            int best = trainer_record_eval(&tr, vl);
            if (!o.quiet)
                fprintf(stderr, "  validation loss %.4f (perplexity %.2f)%s  [%.1fs]\n", vl, exp(vl),
                        best ? "  best so far, saved" : "", trainer_now() - t0);
            if (best && lm_model_save(&m, o.out, 0, NULL, NULL)) goto done;
            trainer_plot(&tr, o.out, "loss (nats per token)");
        }
        if (trainer_should_checkpoint(&tr) && save_checkpoint(&tr, &m, ckpt, window, opts))
            goto done;
        double el = trainer_now() - tr.t_start;
        tokens_per_s = el > 0 ? tr.items_done / el : 0;
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    if (o.json)
        printf("{\"task\":\"lm\",\"steps\":%lld,\"best_valid_loss\":%.6f,\"best_valid_perplexity\":%.4f,"
               "\"best_step\":%lld,\"tokens_per_second\":%.1f,\"seconds\":%.1f}\n",
               (long long)tr.step, tr.best_valid, exp(tr.best_valid), (long long)tr.best_step,
               tokens_per_s, trainer_now() - tr.t_start);
    else if (!o.quiet)
        fprintf(stderr, "%s: best validation loss %.4f (perplexity %.2f) at step %lld; model in %s\n",
                cmd, tr.best_valid, exp(tr.best_valid), (long long)tr.best_step, o.out);
    ret = 0;
done:
    rc_tape_free(t);
    streams_free(&s);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) lm_model_free(&m);
    rc_vocab_free(vocab);
    rc_safetensors_close(ck);
    free(meta_store);
    free(ids);
    free(vids);
    free(text);
    if (valid) free(vtext);
    free(ckpt);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

int lm_eval(const char *cmd, const rc_safetensors *st, const char *data, float tail, int batch,
            int bptt, int json)
{
    lm_model m;
    if (lm_model_load(cmd, st, &m)) return 1;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t len, n, unk;
    int ret = 1;
    if (read_corpus(cmd, data, &text, &len)) goto done;
    size_t from = tail > 0 ? tail_start(text, len, tail) : 0;
    if (rc_vocab_encode(m.vocab, text + from, len - from, &ids, &n, &unk) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    if (n < 2) {
        cli_error(cmd, "%s: %zu tokens; need at least 2", data, n);
        goto done;
    }
    size_t counted;
    double t0 = trainer_now();
    double loss = lm_evaluate(&m, ids, n, batch, bptt, &counted);
    double el = trainer_now() - t0;
    double bpc = loss / log(2.0);
    if (json)
        printf("{\"task\":\"lm\",\"data\":\"%s\",\"tokens\":%zu,\"unknown\":%zu,\"loss\":%.6f,"
               "\"perplexity\":%.4f,\"bits_per_token\":%.6f,\"seconds\":%.2f}\n",
               data, counted, unk, loss, exp(loss), bpc, el);
    else
        printf("%s: %zu tokens (%zu unknown): loss %.4f nats/token, perplexity %.2f, %.4f bits per "
               "%s\n",
               data, counted, unk, loss, exp(loss), bpc,
               m.cfg.level == RC_TEXT_CHAR ? "character" : "word");
    ret = 0;
done:
    free(ids);
    free(text);
    lm_model_free(&m);
    return ret;
}

/* ---------------------------------------------------------- sampling -- */

/* Draws an id from logits with temperature and top-k. */
static int32_t draw(const float *logits, int V, float temperature, int top_k, rc_rng *rng,
                    float *p)
{
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    float kth = -INFINITY;
    if (top_k > 0 && top_k < V) {
        /* The k-th largest logit: a cut-off, found by partial selection. */
        for (int i = 0; i < V; i++) p[i] = logits[i];
        for (int k = 0; k < top_k; k++) {
            int best = -1;
            for (int i = 0; i < V; i++)
                if (p[i] != -INFINITY && (best < 0 || p[i] > p[best])) best = i;
            kth = p[best];
            p[best] = -INFINITY;
        }
    }
    double sum = 0;
    for (int i = 0; i < V; i++) {
        p[i] = logits[i] < kth ? 0.0f : expf((logits[i] - mx) / temperature);
        sum += p[i];
    }
    double u = rc_rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < V; i++) {
        acc += p[i];
        if (u < acc) return i;
    }
    return V - 1;
}

int lm_sample(const char *cmd, const rc_safetensors *st, const char *prime, int length,
              float temperature, int top_k, int seed)
{
    lm_model m;
    if (lm_model_load(cmd, st, &m)) return 1;
    int ret = 1, V = rc_vocab_size(m.vocab);
    int32_t *ids = NULL;
    size_t n = 0, unk;
    rc_tape *t = rc_tape_new();
    float *p = malloc((size_t)V * sizeof *p);
    char *out = NULL;
    if (!t || !p || state_resize(&m, 1)) goto done;
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    if (!prime || !*prime) prime = m.cfg.level == RC_TEXT_CHAR ? "\n" : "";
    if (*prime && rc_vocab_encode(m.vocab, prime, strlen(prime), &ids, &n, &unk) != RC_OK) {
        cli_error(cmd, "--prime: %s", rc_last_error());
        goto done;
    }
    if (m.cfg.level == RC_TEXT_WORD && n > 0) n--; /* the <eos> encode adds at the end */
    if (n == 0) {
        /* Start from the end of a line: <eos> for words. */
        free(ids);
        ids = malloc(sizeof *ids);
        if (!ids) goto done;
        ids[0] = m.cfg.level == RC_TEXT_WORD ? rc_vocab_id(m.vocab, "<eos>", 5) : 0;
        n = 1;
    } else {
        fputs(prime, stdout);
        if (m.cfg.level == RC_TEXT_WORD) fputc(' ', stdout);
    }
    rc_rng rng;
    rc_rng_init(&rng, (uint64_t)seed);
    /* Feed the prime, then one token at a time. */
    rc_var *logits = NULL;
    int32_t next = 0;
    for (int step = 0; step < length; step++) {
        rc_tape_reset(t);
        const int32_t *in = step == 0 ? ids : &next;
        int T = step == 0 ? (int)n : 1;
        rc_var *h0 = rc_input(t, 3, (int[]){m.cfg.layers, 1, m.cfg.hidden}, m.h);
        size_t sn = (size_t)m.cfg.layers * m.cfg.hidden;
        rc_var *c0 = m.cfg.cell == RC_CELL_LSTM
                         ? rc_input(t, 3, (int[]){m.cfg.layers, 1, m.cfg.hidden}, m.h + sn)
                         : NULL;
        rc_var *x = rc_reshape(t, rc_embedding(t, m.emb.weight, in, T), 3,
                               (int[]){T, 1, m.cfg.embed});
        rc_var *y, *hn, *cn;
        if (!x || rc_rnn_forward(t, m.rnn, x, NULL, h0, c0, &y, &hn, &cn) != RC_OK) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        memcpy(m.h, hn->value.data, sn * sizeof(float));
        if (cn) memcpy(m.h + sn, cn->value.data, sn * sizeof(float));
        rc_var *last = rc_slice(t, y, 0, T - 1, 1);
        logits = rc_linear_forward(t, &m.head, last);
        if (!logits) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        next = draw(logits->value.data, V, temperature, top_k, &rng, p);
        free(out);
        out = NULL;
        if (rc_vocab_decode(m.vocab, &next, 1, &out) != RC_OK) goto done;
        fputs(out, stdout);
        if (m.cfg.level == RC_TEXT_WORD && strcmp(out, "\n")) fputc(' ', stdout);
        fflush(stdout);
    }
    fputc('\n', stdout);
    ret = 0;
done:
    free(out);
    free(p);
    free(ids);
    rc_tape_free(t);
    lm_model_free(&m);
    return ret;
}
