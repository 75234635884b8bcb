/* music.c - polyphonic music: predict the next piano-roll frame.
 *
 * A piece is a sequence of frames x_1..x_T, each 88 bits (keys 21-108
 * sounding or not). The model reads x_1..x_t and gives each key of x_{t+1}
 * its own probability (independent sigmoids, a multi-label output):
 *
 *   h_t = cell(x_t, h_{t-1})                   (RNN, LSTM or GRU, stacked)
 *         (in training x_t may go through dropout first, --input-dropout:
 *          each sounding key of the input is hidden with probability q)
 *   p_{t+1,k} = s(W dropout(h_t) + b)_k         k = 1..88
 *
 * and is trained on the Bernoulli negative log-likelihood of the frames,
 * summed over the 88 keys and averaged over the frames it predicts (every
 * frame but each piece's first):
 *
 *   NLL = -1/N sum_{pieces} sum_{t=1}^{T-1} sum_k [x_{t+1,k} log p_{t+1,k}
 *                                + (1 - x_{t+1,k}) log(1 - p_{t+1,k})]
 *
 * the frame-level measure of Boulanger-Lewandowski et al. (2012) and Bai et
 * al. (2018). Whole pieces are one sequence each (no truncation); a batch
 * holds pieces of similar length, padded, the padding masked out of the
 * loss and skipped by the recurrent layer (per-sequence lengths).
 *
 * Composition samples frame by frame: each key of the next frame is drawn
 * on its own with probability s(logit / temperature), and the drawn frame
 * is the next input. */
#define _POSIX_C_SOURCE 200809L
#include "music.h"

#include "../plot/plot.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define K RC_PIANO_KEYS

extern char **environ;

/* ------------------------------------------------------------ model -- */

void mu_model_free(mu_model *m)
{
    if (!m) return;
    rc_rnn_free(m->rnn);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

int mu_model_init(mu_model *m, const mu_config *c, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    rc_rng rng;
    rc_rng_init(&rng, seed);
    rc_rnn_config rc = rc_rnn_defaults(c->cell, K, c->hidden);
    rc.num_layers = c->layers;
    rc.dropout = c->dropout;
    rc_params_init(&m->params);
    rc_status s;
    if ((s = rc_rnn_new(&rc, seed + 1, &m->rnn)) ||
        (s = rc_linear_init(&m->head, "head", c->hidden, K, 1, &rng)))
        goto fail;
    if ((s = train_params_add_rnn_head(&m->params, m->rnn, &m->head))) goto fail;
    return 0;
fail:
    mu_model_free(m);
    return -1;
}

static void model_meta(const mu_model *m, meta_list *ml)
{
    const mu_config *c = &m->cfg;
    meta_add_header(ml, "music");
    meta_add(ml, "cell", train_cell_name(c->cell));
    meta_addf(ml, "hidden", "%.9g", c->hidden);
    meta_addf(ml, "layers", "%.9g", c->layers);
    meta_addf(ml, "dropout", "%.9g", c->dropout);
    if (c->input_dropout > 0) meta_addf(ml, "input_dropout", "%.9g", c->input_dropout);
    meta_addf(ml, "keys", "%.9g", K);
    meta_addf(ml, "lowest_note", "%.9g", RC_PIANO_LOW);
    meta_addf(ml, "steps_per_beat", "%.9g", c->steps_per_beat);
}

static int model_save(const mu_model *m, const char *path)
{
    meta_list ml = {0};
    model_meta(m, &ml);
    if (rc_checkpoint_save(path, &m->params, NULL, 0, NULL, NULL, ml.n, ml.k, ml.v) != RC_OK)
        return cli_error("train", "%s", rc_last_error());
    return 0;
}

int mu_model_load(const char *cmd, const rc_safetensors *st, mu_model *m)
{
    if (train_model_check(cmd, st, "music", "music model")) return 1;
    const char *path = rc_safetensors_path(st), *cell = rc_safetensors_meta(st, "cell");
    mu_config c;
    memset(&c, 0, sizeof c);
    int keys, low;
    if (train_cell_kind(cell, &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is %s", path, cell ? cell : "missing");
    if (rc_safetensors_meta_int(st, "hidden", 1, 1 << 20, &c.hidden) != RC_OK ||
        rc_safetensors_meta_int(st, "layers", 1, 100, &c.layers) != RC_OK ||
        rc_safetensors_meta_int(st, "keys", K, K, &keys) != RC_OK ||
        rc_safetensors_meta_int(st, "lowest_note", RC_PIANO_LOW, RC_PIANO_LOW, &low) != RC_OK ||
        rc_safetensors_meta_int(st, "steps_per_beat", 1, 64, &c.steps_per_beat) != RC_OK ||
        rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    if (mu_model_init(m, &c, 0)) return cli_error(cmd, "%s", rc_last_error());
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        mu_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    return 0;
}

/* ---------------------------------------------------------- batches -- */

void mu_batch_free(mu_batch *b)
{
    free(b->x);
    free(b->y);
    free(b->mask);
    free(b->lengths);
    memset(b, 0, sizeof *b);
}

int mu_batch_fill(mu_batch *b, const rc_pianorolls *r, const int *ids, int B)
{
    int T = 0;
    for (int i = 0; i < B; i++)
        if (r->n_steps[ids[i]] - 1 > T) T = r->n_steps[ids[i]] - 1;
    if (T > b->cap_T || B > b->cap_B) {
        int cT = T > b->cap_T ? T : b->cap_T, cB = B > b->cap_B ? B : b->cap_B;
        size_t n = (size_t)cT * (size_t)cB;
        float *x = realloc(b->x, n * K * sizeof *x);
        if (x) b->x = x;
        float *y = x ? realloc(b->y, n * K * sizeof *y) : NULL;
        if (y) b->y = y;
        float *m = y ? realloc(b->mask, n * sizeof *m) : NULL;
        if (m) b->mask = m;
        int32_t *l = m ? realloc(b->lengths, (size_t)cB * sizeof *l) : NULL;
        if (!l) return -1;
        b->lengths = l;
        b->cap_T = cT;
        b->cap_B = cB;
    }
    b->T = T;
    b->B = B;
    memset(b->x, 0, (size_t)T * B * K * sizeof *b->x);
    memset(b->y, 0, (size_t)T * B * K * sizeof *b->y);
    for (int i = 0; i < B; i++) {
        const uint8_t *f = r->frames + r->start[ids[i]] * K;
        int L = r->n_steps[ids[i]] - 1;
        b->lengths[i] = L;
        for (int t = 0; t < T; t++) {
            b->mask[t * B + i] = t < L ? 1.0f : 0.0f;
            if (t >= L) continue;
            float *x = b->x + ((size_t)t * B + i) * K, *y = b->y + ((size_t)t * B + i) * K;
            for (int k = 0; k < K; k++) {
                x[k] = f[(size_t)t * K + k] ? 1.0f : 0.0f;
                y[k] = f[(size_t)(t + 1) * K + k] ? 1.0f : 0.0f;
            }
        }
    }
    return 0;
}

rc_var *mu_batch_loss(rc_tape *t, mu_model *m, const mu_batch *b, rc_rng *drop)
{
    int xs[3] = {b->T, b->B, K};
    rc_var *x = rc_input(t, 3, xs, b->x), *y, *hn, *cn = NULL;
    /* Hiding some of the keys that sound makes the model lean less on
     * copying the current frame (inverted dropout: the kept keys are scaled
     * by 1 / (1 - q), so the input has the same mean as at test time). */
    if (x && m->cfg.input_dropout > 0 && drop) x = rc_dropout(t, x, m->cfg.input_dropout, drop);
    if (!x || rc_rnn_forward(t, m->rnn, x, b->lengths, NULL, NULL, &y, &hn, &cn) != RC_OK)
        return NULL;
    if (m->cfg.dropout > 0 && drop) y = rc_dropout(t, y, m->cfg.dropout, drop);
    rc_var *logits = rc_linear_forward(t, &m->head, y);
    return logits ? rc_bce_with_logits(t, logits, b->y, b->mask) : NULL;
}

/* The pieces that can be scored (2 steps or more), sorted by length so
 * that a batch wastes little on padding. Returns their count. */
static int usable_pieces(const rc_pianorolls *r, int *ids)
{
    int n = 0;
    for (int i = 0; i < r->n_pieces; i++)
        if (r->n_steps[i] >= 2) ids[n++] = i;
    /* insertion sort by length (stable; a few hundred pieces) */
    for (int i = 1; i < n; i++) {
        int v = ids[i], j = i;
        while (j > 0 && r->n_steps[ids[j - 1]] > r->n_steps[v]) ids[j] = ids[j - 1], j--;
        ids[j] = v;
    }
    return n;
}

double mu_evaluate(mu_model *m, const rc_pianorolls *r, int batch, size_t *n_frames)
{
    int *ids = malloc((size_t)(r->n_pieces > 0 ? r->n_pieces : 1) * sizeof *ids);
    rc_tape *t = rc_tape_new();
    mu_batch b = {0};
    double sum = 0, count = 0;
    rc_clear_error();
    if (!ids || !t) {
        sum = NAN;
        goto done;
    }
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    int n = usable_pieces(r, ids);
    for (int i = 0; i < n; i += batch) {
        int B = n - i < batch ? n - i : batch;
        if (mu_batch_fill(&b, r, ids + i, B)) {
            sum = NAN; /* rc_last_error() stays "" */
            break;
        }
        rc_tape_reset(t);
        rc_var *loss = mu_batch_loss(t, m, &b, NULL);
        if (!loss) {
            sum = NAN;
            break;
        }
        double frames = 0;
        for (int j = 0; j < B; j++) frames += b.lengths[j];
        sum += (double)loss->value.data[0] * frames;
        count += frames;
    }
done:
    if (n_frames) *n_frames = (size_t)count;
    mu_batch_free(&b);
    rc_tape_free(t);
    free(ids);
    return count > 0 ? sum / count : NAN;
}

/* Why mu_evaluate gave NAN. */
static const char *eval_error(void)
{
    return rc_last_error()[0] ? rc_last_error() : "out of memory";
}

/* An epoch's batches: the usable pieces shuffled (from seed and epoch),
 * sorted by length within groups of 8 batches (little padding, yet a
 * different mix each epoch), cut into batches of B, and the batches
 * shuffled. Batch j is order[bstart[j] .. bstart[j] + bsize[j]). */
typedef struct plan {
    int n, B, n_batches;
    int *ids;   /* usable pieces */
    int *order; /* this epoch's piece order */
    int *perm;  /* batch order */
    int64_t epoch;
} plan;

static void shuffle(int *a, int n, rc_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(rng) % (uint32_t)(i + 1)), v = a[i];
        a[i] = a[j];
        a[j] = v;
    }
}

static void plan_epoch(plan *p, const rc_pianorolls *r, uint64_t seed, int64_t epoch)
{
    rc_rng rng;
    rc_rng_init(&rng, seed * 0x2545F4914F6CDD1DULL + 7919);
    rng.counter = (uint64_t)epoch << 24;
    memcpy(p->order, p->ids, (size_t)p->n * sizeof *p->order);
    shuffle(p->order, p->n, &rng);
    int group = 8 * p->B;
    for (int g = 0; g < p->n; g += group) {
        int e = g + group < p->n ? g + group : p->n;
        for (int i = g + 1; i < e; i++) {
            int v = p->order[i], j = i;
            while (j > g && r->n_steps[p->order[j - 1]] > r->n_steps[v])
                p->order[j] = p->order[j - 1], j--;
            p->order[j] = v;
        }
    }
    for (int j = 0; j < p->n_batches; j++) p->perm[j] = j;
    shuffle(p->perm, p->n_batches, &rng);
    p->epoch = epoch;
}

/* ------------------------------------------------------------- data -- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != suffix[i]) return 0;
    return 1;
}

/* Appends the pieces of b to a (a may be empty); frees b. */
static int append_rolls(rc_pianorolls *a, rc_pianorolls *b)
{
    if (a->n_pieces == 0) {
        *a = *b;
        memset(b, 0, sizeof *b);
        return 0;
    }
    int n = a->n_pieces + b->n_pieces;
    int32_t *ns = realloc(a->n_steps, (size_t)n * sizeof *ns);
    if (ns) a->n_steps = ns;
    size_t *st = ns ? realloc(a->start, (size_t)n * sizeof *st) : NULL;
    if (st) a->start = st;
    uint8_t *f = st ? realloc(a->frames, (a->total_steps + b->total_steps) * K) : NULL;
    if (!f) {
        rc_pianorolls_free(b);
        return -1;
    }
    a->frames = f;
    memcpy(a->frames + a->total_steps * K, b->frames, b->total_steps * K);
    for (int i = 0; i < b->n_pieces; i++) {
        a->n_steps[a->n_pieces + i] = b->n_steps[i];
        a->start[a->n_pieces + i] = a->total_steps + b->start[i];
    }
    a->n_pieces = n;
    a->total_steps += b->total_steps;
    rc_pianorolls_free(b);
    return 0;
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every .mid/.midi file in dir (sorted by name), a piece each. */
static int read_midi_dir(const char *cmd, const char *dir, int steps_per_beat, rc_pianorolls *out)
{
    DIR *d = opendir(dir);
    if (!d) return cli_error(cmd, "%s: cannot read the directory: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, ret = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".mid") && !ends_with(e->d_name, ".midi")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **q = realloc(names, (size_t)cap * sizeof *q);
            if (!q) break;
            names = q;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) break;
        snprintf(names[n++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n == 0) ret = cli_error(cmd, "%s: no .mid or .midi file in the directory", dir);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n && !ret; i++) {
        rc_pianorolls one;
        if (rc_midi_read(names[i], steps_per_beat, &one, NULL, NULL) != RC_OK)
            ret = cli_error(cmd, "%s", rc_last_error());
        else if (append_rolls(out, &one))
            ret = cli_error(cmd, "out of memory reading %s", names[i]);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (ret) rc_pianorolls_free(out);
    return ret;
}

int mu_read_rolls(const char *cmd, const char *path, const char *split, int steps_per_beat,
                  rc_pianorolls *out)
{
    rc_status s;
    struct stat sb;
    memset(out, 0, sizeof *out);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return read_midi_dir(cmd, path, steps_per_beat, out);
    if (ends_with(path, ".mid") || ends_with(path, ".midi")) {
        s = rc_midi_read(path, steps_per_beat, out, NULL, NULL);
    } else {
        /* A document that is itself a list of pieces has no splits. */
        FILE *f = fopen(path, "rb");
        int c = ' ';
        if (f) {
            while ((c = fgetc(f)) != EOF && isspace(c)) {}
            fclose(f);
        }
        s = rc_pianoroll_read(path, c == '[' ? NULL : split, out);
    }
    return s == RC_OK ? 0 : cli_error(cmd, "%s", rc_last_error());
}

/* ---------------------------------------------------------- training -- */

int cmd_train_music(int argc, char **argv)
{
    const char *cmd = "train music";
    train_opts o;
    train_opts_defaults(&o);
    o.epochs = 50;
    o.batch = 16;
    o.lr = 1e-3f;
    o.clip = 1.0f;
    const char *data = NULL, *valid = NULL, *train_split = "train", *valid_split = "valid";
    int steps_per_beat = 1;
    float input_dropout = 0, ema = 0;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data,
         "piano-roll JSON ({\"train\": [...], \"valid\": [...]} or a list of pieces), a MIDI "
         "file, or a directory of MIDI files"},
        {"valid", CLI_STRING, &valid, "validation pieces (default: --data's --valid-split)"},
        {"train-split", CLI_STRING, &train_split, "the key of the training pieces (default train)"},
        {"valid-split", CLI_STRING, &valid_split, "the key of the validation pieces (default valid)"},
        {"steps-per-beat", CLI_INT, &steps_per_beat,
         "frames per quarter note (MIDI input, and compose's default; default 1)"},
        {"input-dropout", CLI_FLOAT, &input_dropout,
         "dropout on the input frames' keys, in training (default 0)"},
        {"ema", CLI_FLOAT, &ema,
         "validate and keep the weights' moving average with this decay, e.g. 0.999 (default "
         "0: off)"},
    };
    int n_opts = train_opts_declare(&o, opts, 7);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train music --data FILE --out MODEL [options]\n"
        "\n"
        "Trains a model of the next piano-roll frame (88 keys, one sigmoid each)\n"
        "on whole pieces, with the frame-level negative log-likelihood (nats per\n"
        "frame, summed over the keys). Writes MODEL (the weights with the best\n"
        "validation NLL), MODEL.ckpt (everything needed to --resume) and\n"
        "MODEL.loss.png (the loss curves). --batch counts pieces.\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "music", "music", &o, &ck, &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    rc_pianorolls tr_rolls = {0}, va_rolls = {0};
    mu_model m;
    trainer tr;
    plan p = {0};
    mu_batch b = {0};
    rc_tape *t = NULL;
    char *ckpt = NULL;

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights and frames were made with. */
    static const char *const fixed[] = {"cell", "hidden", "layers", "steps-per-beat", NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data) {
        cli_error(cmd, "--data FILE is required");
        goto done;
    }
    if (o.bidirectional) {
        cli_error(cmd, "--bidirectional would see the frame it predicts; not for music");
        goto done;
    }
    if (steps_per_beat < 1 || steps_per_beat > 64) {
        cli_error(cmd, "--steps-per-beat must be in 1-64");
        goto done;
    }
    if (!(input_dropout >= 0 && input_dropout < 1)) {
        cli_error(cmd, "--input-dropout must be in [0, 1)");
        goto done;
    }
    if (!(ema == 0 || (ema > 0 && ema < 1))) {
        cli_error(cmd, "--ema must be 0 (off) or in (0, 1), e.g. 0.999");
        goto done;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;
    struct stat sb;
    if (!valid && (ends_with(data, ".mid") || ends_with(data, ".midi") ||
                   (stat(data, &sb) == 0 && S_ISDIR(sb.st_mode)))) {
        cli_error(cmd, "MIDI --data has no validation split: give --valid (a MIDI file, a "
                       "directory of them, or piano-roll JSON)");
        goto done;
    }
    if (mu_read_rolls(cmd, data, train_split, steps_per_beat, &tr_rolls) ||
        mu_read_rolls(cmd, valid ? valid : data, valid_split, steps_per_beat, &va_rolls))
        goto done;

    p.B = o.batch;
    p.ids = malloc((size_t)tr_rolls.n_pieces * sizeof *p.ids);
    p.order = malloc((size_t)tr_rolls.n_pieces * sizeof *p.order);
    p.perm = malloc((size_t)tr_rolls.n_pieces * sizeof *p.perm);
    if (!p.ids || !p.order || !p.perm) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    p.n = usable_pieces(&tr_rolls, p.ids);
    if (p.n == 0) {
        cli_error(cmd, "%s: no training piece has 2 steps or more", data);
        goto done;
    }
    p.n_batches = (p.n + p.B - 1) / p.B;
    p.epoch = -1;
    size_t v_frames = 0;
    for (int i = 0; i < va_rolls.n_pieces; i++)
        if (va_rolls.n_steps[i] >= 2) v_frames += (size_t)va_rolls.n_steps[i] - 1;
    if (v_frames == 0) {
        cli_error(cmd, "%s: no validation piece has 2 steps or more", valid ? valid : data);
        goto done;
    }

    mu_config c = {cell, o.hidden, o.layers, o.dropout, steps_per_beat, input_dropout};
    if (mu_model_init(&m, &c, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    model_ok = 1;
    if (trainer_init(&tr, cmd, &o, &m.params, p.n_batches)) goto done;
    trainer_ok = 1;
    if (ck && trainer_restore(&tr, cmd, ck)) goto done;
    /* The average starts from the weights as they are now, or from the
     * checkpoint's own. */
    if (ema > 0 && (trainer_ema_init(&tr, cmd, ema) || (ck && trainer_ema_restore(&tr, cmd, ck))))
        goto done;
    rc_safetensors_close(ck);
    ck = NULL;
    size_t t_frames = 0;
    for (int i = 0; i < p.n; i++) t_frames += (size_t)tr_rolls.n_steps[p.ids[i]] - 1;
    if (!o.quiet)
        fprintf(stderr,
                "%s: %d pieces (%zu predicted frames) for training, %d (%zu) for validation; "
                "%s %dx%d, %zu parameters; %lld steps of %d pieces%s\n",
                cmd, p.n, t_frames, va_rolls.n_pieces, v_frames, o.cell, o.layers, o.hidden,
                rc_params_numel(&m.params), (long long)tr.total_steps, o.batch,
                tr.step ? " (resumed)" : "");

    t = rc_tape_new();
    if (!t) goto done;
    double frames_per_s = 0;
    while (tr.step < tr.total_steps && !tr.stop) {
        /* The position comes from the step alone, so --resume needs no more. */
        int64_t epoch = tr.step / p.n_batches, j = tr.step % p.n_batches;
        if (epoch != p.epoch) plan_epoch(&p, &tr_rolls, (uint64_t)o.seed, epoch);
        int bj = p.perm[j], first = bj * p.B, B = p.n - first < p.B ? p.n - first : p.B;
        if (mu_batch_fill(&b, &tr_rolls, p.order + first, B)) {
            cli_error(cmd, "out of memory for a batch");
            goto done;
        }
        double frames = 0;
        for (int i = 0; i < B; i++) frames += b.lengths[i];
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m.rnn);
        rc_tape_reset(t);
        rc_var *loss = mu_batch_loss(t, &m, &b, &drop);
        if (trainer_backward_update(&tr, cmd, t, loss, frames)) goto done;
        trainer_progress(&tr, "frames", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "frames", 1);
            double t0 = trainer_now();
            trainer_ema_swap(&tr); /* with --ema: validate and save the average */
            double vl = mu_evaluate(&m, &va_rolls, o.batch, NULL);
            if (!isfinite(vl)) {
                cli_error(cmd, "validation: %s", eval_error());
                goto done;
            }
            int best = trainer_record_eval(&tr, vl);
            if (!o.quiet)
                fprintf(stderr, "  validation NLL %.4f nats per frame%s%s  [%.1fs]\n", vl,
                        ema > 0 ? " (weights' average)" : "",
                        best ? "  best so far, saved" : "", trainer_now() - t0);
            if (best && model_save(&m, o.out)) goto done;
            trainer_ema_swap(&tr);
            trainer_plot(&tr, o.out, "NLL (nats per frame)");
        }
        if (trainer_should_checkpoint(&tr)) {
            meta_list ml = {0};
            model_meta(&m, &ml);
            if (trainer_save_checkpoint(&tr, ckpt, &ml, opts, 0, NULL, NULL)) goto done;
        }
        double el = trainer_now() - tr.t_start;
        frames_per_s = el > 0 ? tr.items_done / el : 0;
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    if (o.json)
        printf("{\"task\":\"music\",\"steps\":%lld,\"best_valid_nll\":%.6f,\"best_step\":%lld,"
               "\"frames_per_second\":%.1f,\"seconds\":%.1f}\n",
               (long long)tr.step, tr.best_valid, (long long)tr.best_step, frames_per_s,
               trainer_now() - tr.t_start);
    else if (!o.quiet)
        fprintf(stderr, "%s: best validation NLL %.4f at step %lld; model in %s\n", cmd,
                tr.best_valid, (long long)tr.best_step, o.out);
    ret = 0;
done:
    rc_tape_free(t);
    mu_batch_free(&b);
    free(p.ids);
    free(p.order);
    free(p.perm);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) mu_model_free(&m);
    rc_pianorolls_free(&tr_rolls);
    rc_pianorolls_free(&va_rolls);
    rc_safetensors_close(ck);
    free(meta_store);
    free(ckpt);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

int music_eval(const char *cmd, const rc_safetensors *st, const char *data, const char *split,
               int batch, int json)
{
    mu_model m;
    if (mu_model_load(cmd, st, &m)) return 1;
    rc_pianorolls r = {0};
    int ret = 1;
    if (mu_read_rolls(cmd, data, split ? split : "test", m.cfg.steps_per_beat, &r)) goto done;
    size_t frames = 0;
    double t0 = trainer_now();
    double nll = mu_evaluate(&m, &r, batch, &frames);
    double el = trainer_now() - t0;
    if (frames == 0) {
        cli_error(cmd, "%s: no piece has 2 steps or more", data);
        goto done;
    }
    if (!isfinite(nll)) {
        cli_error(cmd, "%s", eval_error());
        goto done;
    }
    if (json)
        printf("{\"task\":\"music\",\"data\":\"%s\",\"split\":\"%s\",\"pieces\":%d,"
               "\"frames\":%zu,\"nll\":%.6f,\"seconds\":%.2f}\n",
               data, split ? split : "test", r.n_pieces, frames, nll, el);
    else
        printf("%s (%s): %d pieces, %zu predicted frames: NLL %.4f nats per frame (%.4f bits)\n",
               data, split ? split : "test", r.n_pieces, frames, nll, nll / log(2.0));
    ret = 0;
done:
    rc_pianorolls_free(&r);
    mu_model_free(&m);
    return ret;
}

/* -------------------------------------------------------- composition -- */

/* Runs argv (argv[0] looked up on PATH); 0 when it ran and exited 0, else
 * 1 with an error printed. */
static int run_program(const char *cmd, char *const *argv)
{
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (e) return cli_error(cmd, "cannot run %s: %s", argv[0], strerror(e));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return cli_error(cmd, "waiting for %s: %s", argv[0], strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cli_error(cmd, "%s failed (exit status %d)", argv[0],
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

/* Is name an executable on PATH? */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char buf[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + strlen(name) + 2 < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name);
            if (access(buf, X_OK) == 0) return 1;
        }
        path += n;
        if (*path == ':') path++;
    }
    return 0;
}

static const char *const note_names[12] = {"C", "C#", "D", "D#", "E", "F",
                                           "F#", "G", "G#", "A", "A#", "B"};

/* The piano roll as a picture: keys up, time across; the priming frames
 * lighter than the generated ones. */
static void draw_roll(const char *cmd, const char *path, const uint8_t *frames, int n, int prime,
                      const char *title, int quiet)
{
    float *v = malloc((size_t)n * K * sizeof *v);
    char(*names)[16] = malloc(K * sizeof *names);
    const char *labels[K];
    if (!v || !names) {
        free(v);
        free(names);
        return;
    }
    /* the rows the piece uses, with a little room */
    int lo = K, hi = -1;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < K; k++)
            if (frames[(size_t)s * K + k]) lo = k < lo ? k : lo, hi = k > hi ? k : hi;
    if (hi < 0) lo = 39 - 12, hi = 39 + 12; /* silence: around middle C */
    lo = lo - 3 < 0 ? 0 : lo - 3;
    /* start the rows at a C: the plot labels every k-th row (k as the font
     * needs, 1 or 2 at 8 pixels a row), so the C rows must be rows 0, 12, ... */
    lo -= (lo + RC_PIANO_LOW) % 12;
    if (lo < 0) lo = 0;
    hi = hi + 3 >= K ? K - 1 : hi + 3;
    int rows = hi - lo + 1;
    for (int k = lo; k <= hi; k++) {
        int note = k + RC_PIANO_LOW;
        /* every C by name; the others unlabelled */
        if (note % 12 == 0) snprintf(names[k], sizeof names[k], "C%d", note / 12 - 1);
        else names[k][0] = '\0';
        labels[k - lo] = names[k];
    }
    for (int k = lo; k <= hi; k++)
        for (int s = 0; s < n; s++)
            v[(size_t)(k - lo) * n + s] = frames[(size_t)s * K + k] ? (s < prime ? 0.5f : 1.0f) : 0.0f;
    plot_heatmap_spec spec = {0};
    spec.title = title;
    spec.xlabel = "time step";
    spec.ylabel = "note";
    spec.row_labels = labels;
    spec.rows_up = 1;
    spec.v_fixed = 1;
    spec.v_min = 0;
    spec.v_max = 1;
    spec.no_colorbar = 1;
    spec.width = n * 6 + 160 < 800 ? 800 : (n * 6 + 160 > 4000 ? 4000 : n * 6 + 160);
    spec.height = rows * 8 + 140 < 400 ? 400 : rows * 8 + 140;
    if (plot_heatmap_png(path, &spec, v, rows, n) != RC_OK)
        fprintf(stderr, "recur %s: warning: %s\n", cmd, plot_last_error());
    else if (!quiet)
        fprintf(stderr, "%s: piano roll in %s\n", cmd, path);
    free(v);
    free(names);
}

/* The frames as piano-roll JSON: a list holding one piece. */
static int write_roll_json(const char *cmd, const char *path, const uint8_t *frames, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return cli_error(cmd, "%s: cannot open for writing: %s", path, strerror(errno));
    fputs("[[", f);
    for (int s = 0; s < n; s++) {
        fputs(s ? ",\n [" : "[", f);
        int first = 1;
        for (int k = 0; k < K; k++)
            if (frames[(size_t)s * K + k]) {
                fprintf(f, first ? "%d" : ",%d", k + RC_PIANO_LOW);
                first = 0;
            }
        fputc(']', f);
    }
    fputs("]]\n", f);
    if (fclose(f) != 0) return cli_error(cmd, "%s: write failed", path);
    return 0;
}

static char *with_suffix(const char *path, const char *old, const char *suffix)
{
    size_t n = strlen(path), m = strlen(old);
    if (n >= m && ends_with(path, old)) n -= m;
    char *p = malloc(n + strlen(suffix) + 1);
    if (p) {
        memcpy(p, path, n);
        strcpy(p + n, suffix);
    }
    return p;
}

#define DEFAULT_SOUNDFONT "/usr/share/sounds/sf2/FluidR3_GM.sf2"

int cmd_compose(int argc, char **argv)
{
    const char *cmd = "compose";
    const char *out = NULL, *prime = NULL, *prime_split = "test", *png = NULL, *wav = NULL,
               *roll = NULL, *soundfont = DEFAULT_SOUNDFONT;
    int length = 128, seed = 1, threads = 0, prime_piece = 1, prime_steps = 16, spb = 0, quiet = 0;
    float temperature = 1.0f, tempo = 100.0f;
    cli_option opts[] = {
        {"out", CLI_STRING, &out, "the MIDI file to write"},
        {"length", CLI_INT, &length, "frames to generate after the prime (default 128)"},
        {"temperature", CLI_FLOAT, &temperature,
         "each key sounds with probability s(logit / T): below 1 safer, above 1 wilder"},
        {"seed", CLI_INT, &seed, "random seed (the same seed gives the same piece)"},
        {"prime", CLI_STRING, &prime, "start from a piece: piano-roll JSON or a MIDI file"},
        {"prime-split", CLI_STRING, &prime_split, "the JSON key to take it from (default test)"},
        {"prime-piece", CLI_INT, &prime_piece, "which piece of the split, from 1 (default 1)"},
        {"prime-steps", CLI_INT, &prime_steps, "how many of its first frames (default 16)"},
        {"tempo", CLI_FLOAT, &tempo, "beats (quarter notes) per minute (default 100)"},
        {"steps-per-beat", CLI_INT, &spb, "frames per beat (default: the model's training data)"},
        {"png", CLI_STRING, &png, "the piano-roll picture (default: OUT with .png)"},
        {"roll", CLI_STRING, &roll, "also write the piece as piano-roll JSON"},
        {"wav", CLI_STRING, &wav, "also render it to WAV with fluidsynth"},
        {"soundfont", CLI_STRING, &soundfont, "General MIDI soundfont for --wav (default "
                                              DEFAULT_SOUNDFONT ")"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"quiet", CLI_FLAG, &quiet, "no messages"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[1];
    int n_pos;
    int r = cli_parse(cmd, "usage: recur compose MODEL --out FILE.mid [options]\n\n"
                           "Generates a piece from a music model, frame by frame, and writes\n"
                           "it as a Standard MIDI File with a piano-roll picture beside it.\n",
                      opts, argc, argv, 2, pos, 1, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos != 1) return cli_error(cmd, "give one model file (see recur compose --help)");
    if (!out) return cli_error(cmd, "--out FILE.mid is required");
    if (length < 1 || length > 1000000) return cli_error(cmd, "--length must be in 1-1000000");
    if (!(temperature > 0) || isinf(temperature))
        return cli_error(cmd, "--temperature must be positive");
    if (!(tempo >= 4 && tempo <= 1000)) return cli_error(cmd, "--tempo must be in 4-1000 BPM");
    if (spb < 0 || spb > 64) return cli_error(cmd, "--steps-per-beat must be in 1-64");
    if (prime && (prime_piece < 1 || prime_steps < 1))
        return cli_error(cmd, "--prime-piece and --prime-steps must be at least 1");
    /* Say what is missing for --wav before spending time on the piece. */
    if (wav && !on_path("fluidsynth"))
        return cli_error(cmd, "--wav needs fluidsynth, which is not installed "
                              "(apt-get install fluidsynth fluid-soundfont-gm)");
    if (wav && access(soundfont, R_OK) != 0)
        return cli_error(cmd, "--wav: soundfont %s cannot be read (apt-get install "
                              "fluid-soundfont-gm, or give --soundfont FILE.sf2)", soundfont);
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(pos[0], &st) != RC_OK) return cli_error(cmd, "%s", rc_last_error());
    mu_model m;
    if (mu_model_load(cmd, st, &m)) {
        rc_safetensors_close(st);
        return 1;
    }
    rc_safetensors_close(st);
    if (spb == 0) spb = m.cfg.steps_per_beat;

    int ret = 1, P = 0;
    rc_pianorolls pr = {0};
    uint8_t *frames = NULL;
    float *state = NULL, *in = NULL;
    char *png_path = NULL;
    rc_tape *t = rc_tape_new();
    if (!t) goto done;
    if (prime) {
        if (mu_read_rolls(cmd, prime, prime_split, spb, &pr)) goto done;
        if (prime_piece > pr.n_pieces) {
            cli_error(cmd, "--prime-piece %d: %s has %d pieces", prime_piece, prime, pr.n_pieces);
            goto done;
        }
        int have = pr.n_steps[prime_piece - 1];
        P = prime_steps < have ? prime_steps : have;
    }
    int N = P + length;
    const mu_config *c = &m.cfg;
    size_t sn = (size_t)c->layers * (size_t)c->hidden;
    frames = calloc((size_t)N, K);
    state = calloc(2 * sn, sizeof *state);
    in = calloc((size_t)(P > 0 ? P : 1) * K, sizeof *in);
    if (!frames || !state || !in) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (P > 0) memcpy(frames, pr.frames + pr.start[prime_piece - 1] * K, (size_t)P * K);
    /* The input of the first step: the prime, or one silent frame. */
    int T = P > 0 ? P : 1;
    for (int s = 0; s < P; s++)
        for (int k = 0; k < K; k++) in[(size_t)s * K + k] = frames[(size_t)s * K + k];
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    rc_rng rng;
    rc_rng_init(&rng, (uint64_t)seed);
    int hs[3] = {c->layers, 1, c->hidden};
    for (int s = P; s < N; s++) {
        rc_tape_reset(t);
        int xs[3] = {T, 1, K};
        rc_var *x = rc_input(t, 3, xs, in), *h0 = rc_input(t, 3, hs, state);
        rc_var *c0 = c->cell == RC_CELL_LSTM ? rc_input(t, 3, hs, state + sn) : NULL;
        rc_var *y, *hn, *cn = NULL, *logits = NULL;
        if (x && h0 && rc_rnn_forward(t, m.rnn, x, NULL, h0, c0, &y, &hn, &cn) == RC_OK)
            logits = rc_linear_forward(t, &m.head, rc_slice(t, y, 0, T - 1, 1));
        if (!logits) {
            cli_error(cmd, "%s", rc_last_error());
            goto done;
        }
        memcpy(state, hn->value.data, sn * sizeof *state);
        if (cn) memcpy(state + sn, cn->value.data, sn * sizeof *state);
        /* Each key on its own: on with probability s(logit / temperature). */
        uint8_t *f = frames + (size_t)s * K;
        for (int k = 0; k < K; k++) {
            double z = logits->value.data[k] / temperature;
            double p = 1.0 / (1.0 + exp(-z));
            f[k] = rc_rng_uniform(&rng) < p;
            in[k] = f[k];
        }
        T = 1;
    }
    if (rc_midi_write(out, frames, N, tempo, spb) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    size_t notes = 0, onsets = 0;
    int lo = 200, hi = 0;
    for (int s = 0; s < N; s++)
        for (int k = 0; k < K; k++)
            if (frames[(size_t)s * K + k]) {
                notes++;
                onsets += s == 0 || !frames[(size_t)(s - 1) * K + k];
                lo = k + RC_PIANO_LOW < lo ? k + RC_PIANO_LOW : lo;
                hi = k + RC_PIANO_LOW > hi ? k + RC_PIANO_LOW : hi;
            }
    if (!quiet) {
        fprintf(stderr, "%s: %d frames (%d primed from %s, %d generated at temperature %g), "
                        "%zu notes, %.2f keys per frame", cmd, N, P, prime ? prime : "-", length,
                (double)temperature, onsets, (double)notes / N);
        if (hi > 0) fprintf(stderr, ", range %s%d-%s%d", note_names[lo % 12], lo / 12 - 1,
                            note_names[hi % 12], hi / 12 - 1);
        fprintf(stderr, "; %s at %g BPM, %d frames per beat\n", out, (double)tempo, spb);
    }
    if (roll && write_roll_json(cmd, roll, frames, N)) goto done;
    png_path = png ? NULL : with_suffix(out, ".mid", ".png");
    char title[256];
    const char *base = strrchr(pos[0], '/');
    snprintf(title, sizeof title, "%s: %d frames, temperature %g%s", base ? base + 1 : pos[0], N,
             (double)temperature, P ? " (the lighter start is the prime)" : "");
    if (png || png_path) draw_roll(cmd, png ? png : png_path, frames, N, P, title, quiet);
    if (wav) {
        char *args[] = {"fluidsynth", "-ni", "-q", "-F", (char *)wav, "-r", "44100",
                        (char *)soundfont, (char *)out, NULL};
        if (run_program(cmd, args)) goto done;
        if (!quiet) fprintf(stderr, "%s: audio in %s\n", cmd, wav);
    }
    ret = 0;
done:
    free(png_path);
    free(frames);
    free(state);
    free(in);
    rc_pianorolls_free(&pr);
    rc_tape_free(t);
    mu_model_free(&m);
    return ret;
}
