/* asr.c - spoken digits: isolated words (CTC transcription or sequence
 * classification) and connected digit strings (CTC), on the Free Spoken
 * Digit Dataset.
 *
 * Pipeline (docs/speech.md):
 *
 *   samples (8 kHz) -> MFCC + deltas + delta-deltas, normalised per
 *   utterance (src/audio) -> 39 x T frames -> k frames stacked: x_s =
 *   [f_{ks}; ...; f_{ks+k-1}] (T/k steps of 39k) -> L stacked recurrent
 *   layers, two directions (rc_rnn) -> y_s [2H]
 *     CTC:       p(. | s) = softmax(W y_s + b) over blank + ten words;
 *                loss = -log sum over alignments (rc_ctc_loss)
 *     classify:  u = (1/S) sum_s y_s (mean over the utterance's steps);
 *                p(word) = softmax(W u + b); loss = cross-entropy
 *
 * Connected digits are made by joining real recordings of one speaker
 * with short pauses of faint noise; the sets are functions of a seed. */
#include "asr.h"

#include "../plot/plot.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[ASR_SYMBOLS] = {"zero", "one", "two",   "three", "four",
                                               "five", "six", "seven", "eight", "nine"};

const char *asr_word(int d) { return d >= 0 && d < ASR_SYMBOLS ? words[d] : NULL; }

/* ----------------------------------------------------------- metrics -- */

int asr_edit_distance(const int32_t *a, int na, const int32_t *b, int nb)
{
    /* One row of the dynamic programme: d[j] = distance(a[0..i), b[0..j)). */
    int stack[256], *d = nb + 1 <= 256 ? stack : malloc((size_t)(nb + 1) * sizeof *d);
    if (!d) return na > nb ? na : nb;
    for (int j = 0; j <= nb; j++) d[j] = j;
    for (int i = 1; i <= na; i++) {
        int diag = d[0];
        d[0] = i;
        for (int j = 1; j <= nb; j++) {
            int up = d[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (d[j - 1] + 1 < best) best = d[j - 1] + 1;
            d[j] = best;
            diag = up;
        }
    }
    int r = d[nb];
    if (d != stack) free(d);
    return r;
}

/* The characters of digits as words joined by spaces. */
static int spell(const int32_t *dg, int n, int32_t *out)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (i) out[k++] = ' ';
        for (const char *w = words[dg[i]]; *w; w++) out[k++] = (unsigned char)*w;
    }
    return k;
}

void asr_score_add(asr_score *s, const int32_t *ref, int nref, const int32_t *hyp, int nhyp)
{
    int32_t rc[ASR_MAX_DIGITS * 7 * 4], hc[sizeof rc / sizeof rc[0]];
    if (nhyp > (int)(sizeof rc / sizeof rc[0]) / 6) nhyp = (int)(sizeof rc / sizeof rc[0]) / 6;
    s->utterances++;
    s->correct += nref == nhyp && !memcmp(ref, hyp, (size_t)nref * sizeof *ref);
    s->word_errors += asr_edit_distance(ref, nref, hyp, nhyp);
    s->words += nref;
    int nr = spell(ref, nref, rc), nh = spell(hyp, nhyp, hc);
    s->char_errors += asr_edit_distance(rc, nr, hc, nh);
    s->chars += nr;
}

static double pct(int64_t a, int64_t b) { return b > 0 ? 100.0 * (double)a / (double)b : 0; }
double asr_score_accuracy(const asr_score *s) { return pct(s->correct, s->utterances); }
double asr_score_wer(const asr_score *s) { return pct(s->word_errors, s->words); }
double asr_score_cer(const asr_score *s) { return pct(s->char_errors, s->chars); }

/* -------------------------------------------------------- recordings -- */

int asr_parse_name(const char *path, int *digit, char *speaker, size_t n, int *index)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (!isdigit((unsigned char)b[0]) || b[1] != '_') return -1;
    const char *s = b + 2, *u = strchr(s, '_');
    if (!u || u == s || (size_t)(u - s) >= n) return -1;
    for (const char *p = s; p < u; p++)
        if (!isalnum((unsigned char)*p)) return -1;
    const char *q = u + 1;
    if (!isdigit((unsigned char)*q)) return -1;
    long idx = 0;
    while (isdigit((unsigned char)*q) && idx < 1000000) idx = idx * 10 + (*q++ - '0');
    if (strcmp(q, ".wav")) return -1;
    *digit = b[0] - '0';
    memcpy(speaker, s, (size_t)(u - s));
    speaker[u - s] = '\0';
    *index = (int)idx;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

int asr_corpus_speaker(const asr_corpus *c, const char *name)
{
    for (int i = 0; i < c->n_speakers; i++)
        if (!strcmp(c->speaker[i], name)) return i;
    return -1;
}

void asr_corpus_free(asr_corpus *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->rec[i].x);
    free(c->rec);
    memset(c, 0, sizeof *c);
}

int asr_corpus_read(const char *cmd, const char *dir, int rate, asr_corpus *c)
{
    memset(c, 0, sizeof *c);
    c->rate = rate;
    DIR *d = opendir(dir);
    if (!d) return cli_error(cmd, "%s: cannot open the directory of recordings", dir);
    char **names = NULL;
    int n = 0, cap = 0, ret = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        int dg, ix;
        char sp[32];
        if (asr_parse_name(e->d_name, &dg, sp, sizeof sp, &ix)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) goto oom;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) goto oom;
        n++;
    }
    closedir(d);
    d = NULL;
    if (n == 0) {
        cli_error(cmd, "%s: no recordings named DIGIT_SPEAKER_INDEX.wav", dir);
        goto done;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    /* Speakers, sorted by name. */
    for (int i = 0; i < n; i++) {
        int dg, ix;
        char sp[32];
        asr_parse_name(names[i], &dg, sp, sizeof sp, &ix);
        if (asr_corpus_speaker(c, sp) >= 0) continue;
        if (c->n_speakers == ASR_MAX_SPEAKERS) {
            cli_error(cmd, "%s: more than %d speakers", dir, ASR_MAX_SPEAKERS);
            goto done;
        }
        snprintf(c->speaker[c->n_speakers++], sizeof c->speaker[0], "%s", sp);
    }
    qsort(c->speaker, (size_t)c->n_speakers, sizeof c->speaker[0], cmp_name);
    if (!(c->rec = calloc((size_t)n, sizeof *c->rec))) goto oom;
    size_t plen = strlen(dir) + 2;
    for (int i = 0; i < n; i++) {
        char sp[32];
        asr_recording *r = &c->rec[i];
        asr_parse_name(names[i], &r->digit, sp, sizeof sp, &r->index);
        r->speaker = asr_corpus_speaker(c, sp);
        char *path = malloc(plen + strlen(names[i]));
        if (!path) goto oom;
        sprintf(path, "%s/%s", dir, names[i]);
        int got_rate;
        rc_status s = audio_read(path, rate, &r->x, &r->n, &got_rate);
        free(path);
        c->n = i + 1;
        if (s != RC_OK) {
            cli_error(cmd, "%s", audio_last_error());
            goto done;
        }
    }
    ret = 0;
    goto done;
oom:
    cli_error(cmd, "out of memory reading %s", dir);
done:
    if (d) closedir(d);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (ret) asr_corpus_free(c);
    return ret;
}

int asr_role(const asr_split *sp, const asr_recording *r)
{
    if (sp->hold_out == -2) return ASR_TEST; /* every recording (eval --split all) */
    if (sp->hold_out >= 0) {
        if (r->speaker == sp->hold_out) return ASR_TEST;
        return r->index <= 4 ? ASR_VALID : ASR_TRAIN;
    }
    if (r->index <= 4) return ASR_TEST;
    if (r->index >= sp->valid_lo && r->index <= sp->valid_hi) return ASR_VALID;
    return ASR_TRAIN;
}

/* --------------------------------------------------------- utterances -- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int draw_int(rc_rng *r, int lo, int hi) /* uniform in [lo, hi] */
{
    return hi <= lo ? lo : lo + (int)(rc_rng_u32(r) % (uint32_t)(hi - lo + 1));
}

int asr_make_connected(const asr_corpus *c, const asr_split *sp, int role, const asr_gen *g,
                       uint64_t seed, int64_t i, asr_example *out)
{
    memset(out, 0, sizeof *out);
    rc_rng r;
    rc_rng_init(&r, mix64(seed));
    r.counter = (uint64_t)i * 256;
    /* speakers with recordings in the role */
    int has[ASR_MAX_SPEAKERS] = {0}, ns = 0, which[ASR_MAX_SPEAKERS];
    for (int k = 0; k < c->n; k++)
        if (asr_role(sp, &c->rec[k]) == role) has[c->rec[k].speaker] = 1;
    for (int s = 0; s < c->n_speakers; s++)
        if (has[s]) which[ns++] = s;
    if (ns == 0) return -1;
    int spk = which[draw_int(&r, 0, ns - 1)];
    int n = draw_int(&r, g->min_digits, g->max_digits);
    int rate = c->rate;
    for (int j = 0; j < n; j++) {
        int cand[1024], nc = 0;
        for (int tries = 0; tries < 64 && nc == 0; tries++) {
            int dg = draw_int(&r, 0, ASR_SYMBOLS - 1);
            for (int k = 0; k < c->n && nc < 1024; k++) {
                const asr_recording *q = &c->rec[k];
                if (q->speaker == spk && q->digit == dg && asr_role(sp, q) == role) cand[nc++] = k;
            }
        }
        if (nc == 0) return -1;
        out->rec[j] = cand[draw_int(&r, 0, nc - 1)];
    }
    out->n = n;
    for (int j = 0; j <= n; j++) {
        int ms = (j == 0 || j == n) ? draw_int(&r, 0, g->edge_max_ms)
                                    : draw_int(&r, g->pause_min_ms, g->pause_max_ms);
        out->pause[j] = (int)((int64_t)ms * rate / 1000);
    }
    out->noise_seed = mix64(seed ^ (0x5bd1e995ULL + (uint64_t)i * 0x9E3779B97F4A7C15ULL));
    size_t total = 0;
    for (int j = 0; j < n; j++) total += c->rec[out->rec[j]].n + (size_t)out->pause[j];
    out->samples = total + (size_t)out->pause[n];
    return 0;
}

/* An isolated recording as an example, with pauses pre and post. */
static void make_isolated(const asr_corpus *c, int k, int pre, int post, asr_example *out)
{
    memset(out, 0, sizeof *out);
    out->n = 1;
    out->rec[0] = k;
    out->pause[0] = pre;
    out->pause[1] = post;
    out->noise_seed = mix64((uint64_t)k * 7919 + (uint64_t)pre * 31 + (uint64_t)post);
    out->samples = c->rec[k].n + (size_t)pre + (size_t)post;
}

/* The faint noise in pauses: about -66 dB below full scale. */
#define PAUSE_NOISE 5e-4f

float *asr_synthesize(const asr_corpus *c, const asr_example *ex, size_t *n)
{
    *n = 0;
    float *y = malloc((ex->samples ? ex->samples : 1) * sizeof *y);
    if (!y) return NULL;
    rc_rng r;
    rc_rng_init(&r, ex->noise_seed);
    size_t at = 0;
    for (int j = 0; j <= ex->n; j++) {
        for (int p = 0; p < ex->pause[j]; p++) y[at++] = PAUSE_NOISE * rc_rng_normal(&r);
        if (j == ex->n) break;
        const asr_recording *q = &c->rec[ex->rec[j]];
        memcpy(y + at, q->x, q->n * sizeof *y);
        at += q->n;
    }
    *n = at;
    if (ex->speed > 0 && ex->speed != 1) {
        float *z;
        size_t nz;
        rc_status st = audio_speed(y, at, ex->speed, &z, &nz);
        free(y);
        if (st != RC_OK) return NULL;
        if (nz == 0) { /* keep one sample: features of nothing are undefined */
            z[0] = 0;
            nz = 1;
        }
        y = z;
        *n = nz;
    }
    return y;
}

static void example_digits(const asr_corpus *c, const asr_example *ex, int32_t *dg)
{
    for (int j = 0; j < ex->n; j++) dg[j] = c->rec[ex->rec[j]].digit;
}

/* ------------------------------------------------------------- model -- */

int asr_classes(const asr_config *c) { return c->mode == ASR_CTC ? ASR_SYMBOLS + 1 : ASR_SYMBOLS; }

void asr_model_free(asr_model *m)
{
    if (!m) return;
    free(m->cfg.mean);
    free(m->cfg.sd);
    rc_rnn_free(m->rnn);
    rc_linear_free(&m->head);
    rc_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

int asr_model_init(asr_model *m, const asr_config *c, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->cfg.mean = m->cfg.sd = NULL;
    if (c->global_norm) {
        m->cfg.mean = calloc((size_t)c->feat_dims, sizeof(float));
        m->cfg.sd = malloc((size_t)c->feat_dims * sizeof(float));
        if (!m->cfg.mean || !m->cfg.sd) {
            asr_model_free(m);
            return -1;
        }
        for (int d = 0; d < c->feat_dims; d++) m->cfg.sd[d] = 1;
    }
    rc_rng rng;
    rc_rng_init(&rng, seed);
    rc_rnn_config rc = rc_rnn_defaults(c->cell, c->feat_dims * c->subsample, c->hidden);
    rc.num_layers = c->layers;
    rc.bidirectional = c->bidirectional;
    rc.dropout = c->dropout;
    rc_params_init(&m->params);
    rc_status s;
    if ((s = rc_rnn_new(&rc, seed + 1, &m->rnn)) ||
        (s = rc_linear_init(&m->head, "head", rc_rnn_output_size(m->rnn), asr_classes(c), 1,
                            &rng)))
        goto fail;
    if ((s = train_params_add_rnn_head(&m->params, m->rnn, &m->head))) goto fail;
    return 0;
fail:
    asr_model_free(m);
    return -1;
}

int asr_features(const asr_config *c, const float *x, size_t n, float **out, int *steps)
{
    float *f;
    int frames, dims;
    *out = NULL;
    if (audio_features(x, n, c->rate, &c->feat, &f, &frames, &dims) != RC_OK) return -1;
    if (dims != c->feat_dims) {
        free(f);
        audio_fail(RC_ERR_SHAPE, "asr: features have %d dims, the model %d", dims, c->feat_dims);
        return -1;
    }
    int k = c->subsample, S = (frames + k - 1) / k;
    /* Row-major frames of D floats, k of them in a row, are already the
     * stacked steps: only the padding of the last step is new. */
    float *y = calloc((size_t)S * (size_t)k * (size_t)dims, sizeof *y);
    if (!y) {
        free(f);
        audio_fail(RC_ERR_NOMEM, "asr: out of memory");
        return -1;
    }
    memcpy(y, f, (size_t)frames * (size_t)dims * sizeof *y);
    free(f);
    if (c->global_norm && c->mean)
        for (int t = 0; t < frames; t++)
            for (int d = 0; d < dims; d++) {
                float *v = y + (size_t)t * dims + d;
                *v = (*v - c->mean[d]) / c->sd[d];
            }
    *out = y;
    *steps = S;
    return 0;
}

rc_var *asr_forward(rc_tape *t, asr_model *m, rc_var *x, const int32_t *lengths, rc_rng *drop)
{
    const asr_config *c = &m->cfg;
    rc_var *y, *hn, *cn = NULL;
    if (!x || rc_rnn_forward(t, m->rnn, x, lengths, NULL, NULL, &y, &hn, &cn) != RC_OK)
        return NULL;
    int T = y->value.shape[0], B = y->value.shape[1], D = y->value.shape[2];
    if (c->mode == ASR_CTC) {
        if (c->dropout > 0 && drop) y = rc_dropout(t, y, c->dropout, drop);
        return rc_log_softmax(t, rc_linear_forward(t, &m->head, y));
    }
    /* Mean over each sequence's own steps: y * w with w[s][b][.] = 1/len_b
     * inside the sequence (outputs past the end are already 0), then a sum
     * over time as ones[1 x T] times y [T x (B D)]. */
    rc_var *w = rc_input(t, 3, (int[]){T, B, D}, NULL), *ones = rc_input(t, 2, (int[]){1, T}, NULL);
    if (!w || !ones) return NULL;
    for (int s = 0; s < T; s++)
        for (int b = 0; b < B; b++) {
            int len = lengths ? lengths[b] : T;
            float v = s < len ? 1.0f / (float)len : 0.0f;
            float *row = w->value.data + ((size_t)s * B + b) * D;
            for (int d = 0; d < D; d++) row[d] = v;
        }
    for (int s = 0; s < T; s++) ones->value.data[s] = 1;
    rc_var *yw = rc_reshape(t, rc_mul(t, y, w), 2, (int[]){T, B * D});
    rc_var *u = rc_reshape(t, rc_matmul(t, ones, yw, 0, 0), 2, (int[]){B, D});
    if (c->dropout > 0 && drop) u = rc_dropout(t, u, c->dropout, drop);
    return rc_linear_forward(t, &m->head, u);
}

/* ----------------------------------------------------- sets and batches -- */

/* A set of examples and, when cached, their features. */
typedef struct asr_set {
    int n;
    asr_example *ex;
    float **feat; /* NULL entries: computed when needed */
    int *steps;
} asr_set;

static void set_free(asr_set *s)
{
    if (s->feat)
        for (int i = 0; i < s->n; i++) free(s->feat[i]);
    free(s->feat);
    free(s->steps);
    free(s->ex);
    memset(s, 0, sizeof *s);
}

static int set_alloc(asr_set *s, int n)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->ex = calloc((size_t)(n ? n : 1), sizeof *s->ex);
    s->feat = calloc((size_t)(n ? n : 1), sizeof *s->feat);
    s->steps = calloc((size_t)(n ? n : 1), sizeof *s->steps);
    return s->ex && s->feat && s->steps ? 0 : -1;
}

/* The whole run's data setup (saved in the model file so that eval
 * rebuilds the same test set). */
typedef struct asr_setup {
    int connected;
    asr_split split;
    asr_gen gen;
    int seed;
    int train_utts, valid_utts, test_utts;
    int pad_ms; /* isolated training: random pauses 0..pad_ms before and after */
    /* augmentation of the training set: speed drawn from [1 - speed,
     * 1 + speed] per utterance and epoch; masks (SpecAugment-like) of up
     * to time_mask steps and freq_mask cepstral coefficients, n_masks of
     * each, set to 0 (the normalised mean) */
    float speed;
    int time_mask, freq_mask, n_masks;
} asr_setup;

/* Set tags: what the seed is mixed with for each set. */
enum { TAG_TRAIN = 1, TAG_VALID = 2, TAG_TEST = 3 };

static uint64_t set_seed(const asr_setup *su, int tag, int64_t epoch)
{
    return mix64((uint64_t)su->seed * 1000003ULL + (uint64_t)tag * 7777ULL +
                 (uint64_t)epoch * 0x100000001B3ULL);
}

/* Speed perturbation of a training set. */
static void set_speeds(const asr_setup *su, int role, uint64_t seed, asr_set *s)
{
    if (role != ASR_TRAIN || !(su->speed > 0)) return;
    rc_rng r;
    rc_rng_init(&r, mix64(seed + 12345));
    for (int i = 0; i < s->n; i++)
        s->ex[i].speed = 1 + su->speed * (2 * rc_rng_uniform(&r) - 1);
}

/* The examples of a role: isolated recordings (all of the role; with
 * pad_ms > 0 and an epoch >= 0, random pauses drawn for that epoch), or
 * `count` connected utterances. role ASR_TEST + all: every recording. */
static int set_make(const asr_corpus *c, const asr_setup *su, int role, int all, int count,
                    int tag, int64_t epoch, int pad_ms, asr_set *s)
{
    if (su->connected) {
        if (set_alloc(s, count)) return -1;
        asr_split every = {-2, -1, -2}; /* hold_out -2: every recording is a test one */
        const asr_split *sp = all ? &every : &su->split;
        uint64_t seed = set_seed(su, tag, epoch);
        for (int i = 0; i < count; i++)
            if (asr_make_connected(c, sp, all ? ASR_TEST : role, &su->gen, seed, i, &s->ex[i]))
                return -2;
        set_speeds(su, role, seed, s);
        return 0;
    }
    int n = 0;
    for (int k = 0; k < c->n; k++) n += all || asr_role(&su->split, &c->rec[k]) == role;
    if (set_alloc(s, n)) return -1;
    if (n == 0) return -2;
    rc_rng r;
    rc_rng_init(&r, set_seed(su, tag, epoch));
    int pad = pad_ms * c->rate / 1000;
    n = 0;
    for (int k = 0; k < c->n; k++)
        if (all || asr_role(&su->split, &c->rec[k]) == role) {
            int pre = pad > 0 ? draw_int(&r, 0, pad) : 0, post = pad > 0 ? draw_int(&r, 0, pad) : 0;
            make_isolated(c, k, pre, post, &s->ex[n++]);
        }
    set_speeds(su, role, set_seed(su, tag + 50, epoch), s);
    return 0;
}

/* Features of example i, into the cache when keep. */
static int set_features(const asr_corpus *c, const asr_config *cfg, asr_set *s, int i, int keep,
                        float **f, int *steps)
{
    if (s->feat[i]) {
        *f = s->feat[i];
        *steps = s->steps[i];
        return 0;
    }
    size_t n;
    float *x = asr_synthesize(c, &s->ex[i], &n);
    if (!x) return -1;
    int r = asr_features(cfg, x, n, f, steps);
    free(x);
    if (r) return -1;
    if (keep) s->feat[i] = *f, s->steps[i] = *steps;
    return 0;
}

static int set_cache_all(const asr_corpus *c, const asr_config *cfg, asr_set *s)
{
    for (int i = 0; i < s->n; i++) {
        float *f;
        int st;
        if (set_features(c, cfg, s, i, 1, &f, &st)) return -1;
    }
    return 0;
}

/* A padded batch of the examples idx[0..B): x [T x B x D] time-major,
 * lengths, targets back to back (CTC ids d+1, or the class d), target
 * lengths. Buffers are the caller's, grown as needed. */
typedef struct batch_buf {
    float *x;
    size_t cap_x;
    int32_t lengths[1024], targets[1024 * ASR_MAX_DIGITS], tlen[1024];
    int T, B, D;
    float *tmp[1024];
    int tmp_steps[1024];
    int owned[1024];
} batch_buf;

/* Masks over one utterance's S steps of x (stride B*D between steps). */
static void apply_masks(const asr_config *cfg, const asr_setup *su, rc_rng *r, float *x, int S,
                        size_t stride)
{
    int k = cfg->subsample, nm = cfg->feat.n_mfcc, fd = cfg->feat_dims;
    for (int m = 0; m < su->n_masks; m++) {
        if (su->time_mask > 0 && S > 1) {
            int w = draw_int(r, 0, su->time_mask < S - 1 ? su->time_mask : S - 1);
            int a = draw_int(r, 0, S - w);
            for (int t = a; t < a + w; t++) memset(x + (size_t)t * stride, 0, (size_t)k * fd * sizeof *x);
        }
        if (su->freq_mask > 0) {
            int w = draw_int(r, 0, su->freq_mask < nm ? su->freq_mask : nm);
            int a = draw_int(r, 0, nm - w);
            for (int t = 0; t < S; t++)
                for (int j = 0; j < k; j++)
                    for (int q = 0; q < fd / nm; q++) /* the coefficient and its deltas */
                        for (int f = a; f < a + w; f++)
                            x[(size_t)t * stride + (size_t)j * fd + (size_t)q * nm + f] = 0;
        }
    }
}

static int batch_make(const asr_corpus *c, const asr_config *cfg, asr_set *s, const int *idx,
                      int B, batch_buf *bb, const asr_setup *aug, rc_rng *aug_rng)
{
    int D = cfg->feat_dims * cfg->subsample, T = 0, nt = 0;
    for (int b = 0; b < B; b++) {
        bb->owned[b] = !s->feat[idx[b]];
        if (set_features(c, cfg, s, idx[b], 0, &bb->tmp[b], &bb->tmp_steps[b])) {
            for (int j = 0; j < b; j++)
                if (bb->owned[j]) free(bb->tmp[j]);
            return -1;
        }
        if (bb->tmp_steps[b] > T) T = bb->tmp_steps[b];
    }
    size_t need = (size_t)T * B * D;
    if (need > bb->cap_x) {
        free(bb->x);
        bb->x = malloc(need * sizeof *bb->x);
        bb->cap_x = bb->x ? need : 0;
    }
    int ok = bb->x != NULL;
    if (ok) memset(bb->x, 0, need * sizeof *bb->x);
    for (int b = 0; b < B; b++) {
        int S = bb->tmp_steps[b];
        if (ok)
            for (int t = 0; t < S; t++)
                memcpy(bb->x + ((size_t)t * B + b) * D, bb->tmp[b] + (size_t)t * D, D * sizeof(float));
        if (ok && aug) apply_masks(cfg, aug, aug_rng, bb->x + (size_t)b * D, S, (size_t)B * D);
        if (bb->owned[b]) free(bb->tmp[b]);
        bb->lengths[b] = S;
        const asr_example *ex = &s->ex[idx[b]];
        int32_t dg[ASR_MAX_DIGITS];
        example_digits(c, ex, dg);
        bb->tlen[b] = cfg->mode == ASR_CTC ? ex->n : 1;
        for (int j = 0; j < bb->tlen[b]; j++) bb->targets[nt++] = dg[j] + (cfg->mode == ASR_CTC);
    }
    if (!ok) return -1;
    bb->T = T, bb->B = B, bb->D = D;
    return 0;
}

/* The hypotheses of a forward pass: hyp[b] holds up to ASR_MAX_DIGITS*4
 * digits, nhyp[b] their count. beam > 1: prefix beam search. */
static void decode(const asr_config *cfg, const rc_var *out, const int32_t *lengths, int beam,
                   int32_t (*hyp)[ASR_MAX_DIGITS * 4], int *nhyp)
{
    int C = asr_classes(cfg);
    if (cfg->mode == ASR_CLASSIFY) {
        int B = out->value.shape[0];
        for (int b = 0; b < B; b++) {
            const float *l = out->value.data + (size_t)b * C;
            int best = 0;
            for (int k = 1; k < C; k++)
                if (l[k] > l[best]) best = k;
            hyp[b][0] = best;
            nhyp[b] = 1;
        }
        return;
    }
    int T = out->value.shape[0], B = out->value.shape[1];
    int32_t *lab = malloc((size_t)T * (beam > 1 ? 1 : (size_t)B) * sizeof *lab);
    int32_t *len = malloc((size_t)B * sizeof *len);
    if (!lab || !len) {
        for (int b = 0; b < B; b++) nhyp[b] = 0;
        free(lab), free(len);
        return;
    }
    if (beam > 1) {
        for (int b = 0; b < B; b++) {
            float score;
            int found;
            int32_t n1;
            rc_ctc_beam_search(out->value.data + (size_t)b * C, lengths[b], C, (size_t)B * C, 0, beam,
                               1, lab, &n1, &score, &found);
            nhyp[b] = n1 < ASR_MAX_DIGITS * 4 ? n1 : ASR_MAX_DIGITS * 4;
            for (int j = 0; j < nhyp[b]; j++) hyp[b][j] = lab[j] - 1;
        }
    } else {
        rc_ctc_greedy_decode(out->value.data, T, B, C, lengths, 0, lab, len);
        for (int b = 0; b < B; b++) {
            nhyp[b] = len[b] < ASR_MAX_DIGITS * 4 ? len[b] : ASR_MAX_DIGITS * 4;
            for (int j = 0; j < nhyp[b]; j++) hyp[b][j] = lab[(size_t)b * T + j] - 1;
        }
    }
    free(lab);
    free(len);
}

/* The loss of a forward pass's output: CTC mean (each loss over its
 * target length, averaged; impossible alignments count 0), or mean
 * cross-entropy. */
static rc_var *batch_loss(rc_tape *t, const asr_config *cfg, rc_var *out, const batch_buf *bb)
{
    if (cfg->mode == ASR_CTC)
        return rc_ctc_loss(t, out, bb->targets, bb->lengths, bb->tlen, 0, RC_CTC_MEAN, 1);
    return rc_cross_entropy(t, out, bb->targets, NULL);
}

/* Loss and scores over a whole set, in batches of similar length. With
 * hyps_out, prints "index<TAB>reference<TAB>hypothesis" of each error. */
static int evaluate(const asr_corpus *c, asr_model *m, asr_set *s, int batch, int beam,
                    double *loss, asr_score *sc, FILE *errors)
{
    memset(sc, 0, sizeof *sc);
    rc_tape *t = rc_tape_new();
    batch_buf *bb = calloc(1, sizeof *bb);
    int *order = malloc((size_t)(s->n ? s->n : 1) * sizeof *order);
    int32_t(*hyp)[ASR_MAX_DIGITS * 4] = malloc(1024 * sizeof *hyp);
    int *nhyp = malloc(1024 * sizeof *nhyp);
    int ret = -1;
    double sum = 0;
    if (!t || !bb || !order || !hyp || !nhyp) goto done;
    if (batch > 1024) batch = 1024;
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    /* By length, so that batches pad little. */
    for (int i = 0; i < s->n; i++) order[i] = i;
    for (int i = 1; i < s->n; i++) {
        int v = order[i], j = i;
        while (j > 0 && s->ex[order[j - 1]].samples > s->ex[v].samples) order[j] = order[j - 1], j--;
        order[j] = v;
    }
    for (int i0 = 0; i0 < s->n; i0 += batch) {
        int B = s->n - i0 < batch ? s->n - i0 : batch;
        if (batch_make(c, &m->cfg, s, order + i0, B, bb, NULL, NULL)) goto done;
        rc_tape_reset(t);
        rc_var *x = rc_input(t, 3, (int[]){bb->T, B, bb->D}, bb->x);
        rc_var *out = asr_forward(t, m, x, bb->lengths, NULL);
        rc_var *l = out ? batch_loss(t, &m->cfg, out, bb) : NULL;
        if (!l) goto done;
        sum += (double)l->value.data[0] * B;
        decode(&m->cfg, out, bb->lengths, beam, hyp, nhyp);
        for (int b = 0; b < B; b++) {
            int32_t ref[ASR_MAX_DIGITS];
            const asr_example *ex = &s->ex[order[i0 + b]];
            example_digits(c, ex, ref);
            int64_t before = sc->word_errors;
            asr_score_add(sc, ref, ex->n, hyp[b], nhyp[b]);
            if (errors && sc->word_errors != before) {
                fprintf(errors, "  error: utterance %d (", order[i0 + b]);
                for (int j = 0; j < ex->n; j++) {
                    int k = ex->rec[j];
                    fprintf(errors, "%s%d_%s_%d", j ? " " : "", c->rec[k].digit,
                            c->speaker[c->rec[k].speaker], c->rec[k].index);
                }
                fprintf(errors, "): heard \"");
                for (int j = 0; j < nhyp[b]; j++)
                    fprintf(errors, "%s%s", j ? " " : "", asr_word(hyp[b][j]));
                fprintf(errors, "\"\n");
            }
        }
    }
    *loss = s->n ? sum / s->n : NAN;
    ret = 0;
done:
    free(nhyp);
    free(hyp);
    free(order);
    if (bb) free(bb->x);
    free(bb);
    rc_tape_free(t);
    return ret;
}

/* The global normalisation from the features of a set (frames pooled):
 * mean and population standard deviation of each dimension (at least
 * 1e-3). Returns 0, or -1 with audio_last_error() set. */
static int fit_norm(const asr_corpus *c, asr_model *m, asr_set *s, int max_examples)
{
    asr_config raw = m->cfg;
    raw.mean = raw.sd = NULL;
    raw.subsample = 1;
    int D = raw.feat_dims;
    double *sum = calloc((size_t)D, sizeof *sum), *sq = calloc((size_t)D, sizeof *sq), n = 0;
    if (!sum || !sq) {
        free(sum), free(sq);
        audio_fail(RC_ERR_NOMEM, "asr: out of memory");
        return -1;
    }
    for (int i = 0; i < s->n && i < max_examples; i++) {
        size_t ns;
        float *x = asr_synthesize(c, &s->ex[i], &ns), *f;
        int S;
        if (!x || asr_features(&raw, x, ns, &f, &S)) {
            free(x), free(sum), free(sq);
            return -1;
        }
        free(x);
        for (int t = 0; t < S; t++)
            for (int d = 0; d < D; d++) {
                double v = f[(size_t)t * D + d];
                sum[d] += v, sq[d] += v * v;
            }
        n += S;
        free(f);
    }
    for (int d = 0; d < D; d++) {
        double mu = n > 0 ? sum[d] / n : 0, var = n > 0 ? sq[d] / n - mu * mu : 1;
        m->cfg.mean[d] = (float)mu;
        m->cfg.sd[d] = (float)fmax(sqrt(fmax(var, 0)), 1e-3);
    }
    free(sum), free(sq);
    return 0;
}

/* ------------------------------------------------------ model files -- */

static const char *window_name(audio_window_kind w) { return w == AUDIO_HANN ? "hann" : "hamming"; }

static void model_meta(const asr_model *m, const asr_setup *su, const asr_corpus *c,
                       meta_list *ml)
{
    const asr_config *k = &m->cfg;
    meta_add_header(ml, "asr");
    meta_add(ml, "mode", k->mode == ASR_CTC ? "ctc" : "classify");
    meta_add(ml, "cell", train_cell_name(k->cell));
    meta_addf(ml, "hidden", "%.9g", k->hidden);
    meta_addf(ml, "layers", "%.9g", k->layers);
    meta_add(ml, "bidirectional", k->bidirectional ? "true" : "false");
    meta_addf(ml, "subsample", "%.9g", k->subsample);
    meta_addf(ml, "dropout", "%.9g", k->dropout);
    meta_addf(ml, "rate", "%.9g", k->rate);
    meta_addf(ml, "n_mels", "%.9g", k->feat.n_mels);
    meta_addf(ml, "n_mfcc", "%.9g", k->feat.n_mfcc);
    meta_add(ml, "window", window_name(k->feat.window));
    meta_add(ml, "norm", k->global_norm ? "global" : "utterance");
    meta_addf(ml, "feat_dims", "%.9g", k->feat_dims);
    meta_add(ml, "symbols", "zero,one,two,three,four,five,six,seven,eight,nine");
    /* the data setup */
    meta_add(ml, "task", su->connected ? "connected" : "isolated");
    meta_add(ml, "hold_out", su->split.hold_out >= 0 ? c->speaker[su->split.hold_out] : "");
    meta_addf(ml, "valid_lo", "%.9g", su->split.valid_lo);
    meta_addf(ml, "valid_hi", "%.9g", su->split.valid_hi);
    meta_addf(ml, "min_digits", "%.9g", su->gen.min_digits);
    meta_addf(ml, "max_digits", "%.9g", su->gen.max_digits);
    meta_addf(ml, "pause_min_ms", "%.9g", su->gen.pause_min_ms);
    meta_addf(ml, "pause_max_ms", "%.9g", su->gen.pause_max_ms);
    meta_addf(ml, "edge_max_ms", "%.9g", su->gen.edge_max_ms);
    meta_addf(ml, "data_seed", "%.9g", su->seed);
    meta_addf(ml, "valid_utts", "%.9g", su->valid_utts);
    meta_addf(ml, "test_utts", "%.9g", su->test_utts);
}

/* The normalisation's tensors (none for per-utterance). */
static int norm_tensors(const asr_model *m, rc_tensor *ts, const char **names,
                        const rc_tensor **ptrs)
{
    if (!m->cfg.global_norm) return 0;
    int D = m->cfg.feat_dims;
    ts[0] = (rc_tensor){m->cfg.mean, 1, {D}, (size_t)D};
    ts[1] = (rc_tensor){m->cfg.sd, 1, {D}, (size_t)D};
    names[0] = "norm.mean", names[1] = "norm.sd";
    ptrs[0] = &ts[0], ptrs[1] = &ts[1];
    return 2;
}

static int model_save(const asr_model *m, const asr_setup *su, const asr_corpus *c,
                      const char *path)
{
    meta_list ml = {0};
    model_meta(m, su, c, &ml);
    rc_tensor ts[2];
    const char *names[2];
    const rc_tensor *ptrs[2];
    int ne = norm_tensors(m, ts, names, ptrs);
    rc_status s = rc_checkpoint_save(path, &m->params, NULL, ne, names, ptrs, ml.n, ml.k, ml.v);
    return s == RC_OK ? 0 : cli_error("train", "%s", rc_last_error());
}

static int load_norm(const char *cmd, const rc_safetensors *st, asr_model *m)
{
    const char *names[2] = {"norm.mean", "norm.sd"};
    float *dst[2] = {m->cfg.mean, m->cfg.sd};
    for (int i = 0; i < 2; i++) {
        rc_tensor t;
        if (rc_safetensors_get_expect(st, names[i], 1, (int[]){m->cfg.feat_dims}, &t) != RC_OK)
            return cli_error(cmd, "%s", rc_last_error());
        memcpy(dst[i], t.data, t.size * sizeof(float));
        rc_tensor_free(&t);
    }
    for (int d = 0; d < m->cfg.feat_dims; d++)
        if (!isfinite(m->cfg.mean[d]) || !(m->cfg.sd[d] > 0) || !isfinite(m->cfg.sd[d]))
            return cli_error(cmd, "%s: norm.sd[%d] is %g (must be positive and finite)",
                             rc_safetensors_path(st), d, m->cfg.sd[d]);
    return 0;
}

/* The model and the data setup from a model file; hold_out is the held-out
 * speaker's name (into the file's metadata; "" for none). */
static int model_load(const char *cmd, const rc_safetensors *st, asr_model *m, asr_setup *su,
                      const char **hold_out)
{
    if (train_model_check(cmd, st, "asr", "speech model")) return 1;
    const char *path = rc_safetensors_path(st);
    asr_config c;
    memset(&c, 0, sizeof c);
    memset(su, 0, sizeof *su);
    const char *mode = rc_safetensors_meta(st, "mode"), *cell = rc_safetensors_meta(st, "cell");
    const char *win = rc_safetensors_meta(st, "window"), *task = rc_safetensors_meta(st, "task");
    if (!mode || (strcmp(mode, "ctc") && strcmp(mode, "classify")))
        return cli_error(cmd, "%s: metadata 'mode' must be ctc or classify", path);
    c.mode = strcmp(mode, "ctc") ? ASR_CLASSIFY : ASR_CTC;
    if (train_cell_kind(cell, &c.cell))
        return cli_error(cmd, "%s: metadata 'cell' is %s", path, cell ? cell : "missing");
    if (!win || (strcmp(win, "hann") && strcmp(win, "hamming")))
        return cli_error(cmd, "%s: metadata 'window' must be hann or hamming", path);
    c.feat.window = strcmp(win, "hann") ? AUDIO_HAMMING : AUDIO_HANN;
    if (!task || (strcmp(task, "isolated") && strcmp(task, "connected")))
        return cli_error(cmd, "%s: metadata 'task' must be isolated or connected", path);
    su->connected = !strcmp(task, "connected");
    if (rc_safetensors_meta_bool(st, "bidirectional", &c.bidirectional) != RC_OK ||
        rc_safetensors_meta_float(st, "dropout", &c.dropout) != RC_OK)
        return cli_error(cmd, "%s", rc_last_error());
    if (meta_get_int(cmd, st, "hidden", 1, 1 << 16, &c.hidden) ||
        meta_get_int(cmd, st, "layers", 1, 100, &c.layers) ||
        meta_get_int(cmd, st, "subsample", 1, 64, &c.subsample) ||
        meta_get_int(cmd, st, "rate", 1000, 192000, &c.rate) ||
        meta_get_int(cmd, st, "n_mels", 1, 512, &c.feat.n_mels) ||
        meta_get_int(cmd, st, "n_mfcc", 1, 512, &c.feat.n_mfcc) ||
        meta_get_int(cmd, st, "feat_dims", 1, 4096, &c.feat_dims) ||
        meta_get_int(cmd, st, "valid_lo", -1, 1000000, &su->split.valid_lo) ||
        meta_get_int(cmd, st, "valid_hi", -2, 1000000, &su->split.valid_hi) ||
        meta_get_int(cmd, st, "min_digits", 1, ASR_MAX_DIGITS, &su->gen.min_digits) ||
        meta_get_int(cmd, st, "max_digits", 1, ASR_MAX_DIGITS, &su->gen.max_digits) ||
        meta_get_int(cmd, st, "pause_min_ms", 0, 10000, &su->gen.pause_min_ms) ||
        meta_get_int(cmd, st, "pause_max_ms", 0, 10000, &su->gen.pause_max_ms) ||
        meta_get_int(cmd, st, "edge_max_ms", 0, 10000, &su->gen.edge_max_ms) ||
        meta_get_int(cmd, st, "data_seed", -2147483647, 2147483647, &su->seed) ||
        meta_get_int(cmd, st, "valid_utts", 0, 1 << 24, &su->valid_utts) ||
        meta_get_int(cmd, st, "test_utts", 0, 1 << 24, &su->test_utts))
        return 1;
    c.feat.no_deltas = c.feat_dims == c.feat.n_mfcc;
    const char *norm = rc_safetensors_meta(st, "norm");
    if (!norm || (strcmp(norm, "global") && strcmp(norm, "utterance")))
        return cli_error(cmd, "%s: metadata 'norm' must be global or utterance", path);
    c.global_norm = c.feat.no_cmvn = !strcmp(norm, "global");
    *hold_out = rc_safetensors_meta(st, "hold_out");
    if (!*hold_out) *hold_out = "";
    su->split.hold_out = -1;
    if (asr_model_init(m, &c, 0)) return cli_error(cmd, "%s", rc_last_error());
    if (rc_checkpoint_load_params(st, &m->params) != RC_OK) {
        asr_model_free(m);
        return cli_error(cmd, "%s", rc_last_error());
    }
    if (c.global_norm && load_norm(cmd, st, m)) {
        asr_model_free(m);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------- training -- */

/* The order of an epoch: shuffled, then sorted by length within blocks of
 * 16 batches (little padding), the batches themselves shuffled. A
 * function of (seed, epoch), so a resumed run sees the same order. */
static void epoch_order(const asr_set *s, int batch, uint64_t seed, int *order, int *border)
{
    int n = s->n, nb = (n + batch - 1) / batch;
    rc_rng r;
    rc_rng_init(&r, seed);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(&r) % (uint32_t)(i + 1)), v = order[i];
        order[i] = order[j], order[j] = v;
    }
    int block = 16 * batch;
    for (int b0 = 0; b0 < n; b0 += block) {
        int e = b0 + block < n ? b0 + block : n;
        for (int i = b0 + 1; i < e; i++) {
            int v = order[i], j = i;
            while (j > b0 && s->ex[order[j - 1]].samples > s->ex[v].samples)
                order[j] = order[j - 1], j--;
            order[j] = v;
        }
    }
    for (int i = 0; i < nb; i++) border[i] = i;
    for (int i = nb - 1; i > 0; i--) {
        int j = (int)(rc_rng_u32(&r) % (uint32_t)(i + 1)), v = border[i];
        border[i] = border[j], border[j] = v;
    }
}

static int parse_range(const char *s, int *lo, int *hi)
{
    char *e;
    long a = strtol(s, &e, 10);
    if (e == s || *e != '-') return -1;
    const char *s2 = e + 1;
    long b = strtol(s2, &e, 10);
    if (e == s2 || *e || a < 5 || b < a || b > 1000000) return -1;
    *lo = (int)a, *hi = (int)b;
    return 0;
}

static int set_error(const char *cmd, int r, const char *what)
{
    if (r == -2) return cli_error(cmd, "no recordings for the %s set (check --hold-out and "
                                  "--valid-index against the data)", what);
    return cli_error(cmd, "out of memory making the %s set", what);
}

int cmd_train_asr(int argc, char **argv)
{
    const char *cmd = "train asr";
    train_opts o;
    train_opts_defaults(&o);
    o.cell = "gru";
    o.layers = 2;
    o.hidden = 128;
    o.epochs = 30;
    const char *data = NULL, *mode = "ctc", *hold = NULL, *valid_index = "5-9", *window = "hamming";
    const char *norm = "global";
    int connected = 0, subsample = 3, one_dir = 0, rate = 8000, n_mels = 40, n_mfcc = 13;
    int train_utts = 3000, valid_utts = 300, test_utts = 500, min_d = 2, max_d = 7;
    int pause_min = 50, pause_max = 300, edge_max = 150, pad_ms = 0, data_seed = 1;
    float speed = 0;
    int time_mask = 0, freq_mask = 0, n_masks = 2;
    cli_option opts[64] = {
        {"data", CLI_STRING, &data, "directory of recordings DIGIT_SPEAKER_INDEX.wav (FSDD)"},
        {"mode", CLI_STRING, &mode, "ctc (transcription) | classify (one word per utterance)"},
        {"connected", CLI_FLAG, &connected, "connected digit strings made from the recordings"},
        {"hold-out", CLI_STRING, &hold, "test on this speaker only, train on the others"},
        {"valid-index", CLI_STRING, &valid_index,
         "recording indices A-B that validate (default 5-9; 0-4 are the test split)"},
        {"subsample", CLI_INT, &subsample, "feature frames stacked into one step (default 3)"},
        {"one-direction", CLI_FLAG, &one_dir, "forward layers only (default: bidirectional)"},
        {"rate", CLI_INT, &rate, "sample rate of the features (default 8000)"},
        {"n-mels", CLI_INT, &n_mels, "mel filters (default 40)"},
        {"n-mfcc", CLI_INT, &n_mfcc, "cepstral coefficients (default 13; x3 with deltas)"},
        {"window", CLI_STRING, &window, "hamming | hann"},
        {"norm", CLI_STRING, &norm, "global (training-set statistics; default) | utterance"},
        {"train-utts", CLI_INT, &train_utts, "connected: utterances per epoch (new each epoch)"},
        {"valid-utts", CLI_INT, &valid_utts, "connected: validation utterances (default 300)"},
        {"test-utts", CLI_INT, &test_utts, "connected: test utterances (default 500)"},
        {"min-digits", CLI_INT, &min_d, "connected: fewest digits (default 2)"},
        {"max-digits", CLI_INT, &max_d, "connected: most digits (default 7)"},
        {"pause-min-ms", CLI_INT, &pause_min, "connected: shortest pause (default 50)"},
        {"pause-max-ms", CLI_INT, &pause_max, "connected: longest pause (default 300)"},
        {"edge-max-ms", CLI_INT, &edge_max, "connected: longest lead-in / tail (default 150)"},
        {"pad-ms", CLI_INT, &pad_ms, "isolated: random pauses up to this before and after "
                                     "each training recording (default 0)"},
        {"data-seed", CLI_INT, &data_seed, "seed of the connected sets (default 1)"},
        {"speed", CLI_FLOAT, &speed, "augment: training speed drawn from [1-S, 1+S] (e.g. 0.1)"},
        {"time-mask", CLI_INT, &time_mask, "augment: mask up to this many steps (default 0)"},
        {"freq-mask", CLI_INT, &freq_mask, "augment: mask up to this many coefficients (default 0)"},
        {"masks", CLI_INT, &n_masks, "augment: time and coefficient masks each (default 2)"},
    };
    int n_opts = train_opts_declare(&o, opts, 26);
    opts[n_opts] = (cli_option){NULL, CLI_FLAG, NULL, NULL};
    const char *usage =
        "usage: recur train asr --data DIR --out MODEL [options]\n"
        "\n"
        "Trains a spoken-digit recogniser on recordings named DIGIT_SPEAKER_INDEX.wav\n"
        "(the Free Spoken Digit Dataset): MFCC features, stacked recurrent layers\n"
        "(bidirectional GRU by default) and CTC (--mode ctc) or a pooled classifier\n"
        "(--mode classify). Index 0-4 of every speaker and digit is the test split;\n"
        "--connected joins recordings of one speaker into digit strings. Writes\n"
        "MODEL, MODEL.ckpt and MODEL.loss.png.\n";
    rc_safetensors *ck;
    char *meta_store;
    int r = train_opts_parse(cmd, usage, opts, argc, argv, "asr", "speech", &o, &ck, &meta_store);
    if (r >= 0) return r;
    rc_cell_kind cell;
    int ret = 1, model_ok = 0, trainer_ok = 0;
    char *ckpt = NULL;
    asr_corpus corpus = {0};
    asr_model m;
    trainer tr;
    asr_set train = {0}, valid = {0};
    int *order = NULL, *border = NULL, *idx = NULL;
    batch_buf *bb = NULL;
    rc_tape *t = NULL;
    asr_setup su;
    memset(&su, 0, sizeof su);

    if (train_opts_check(cmd, &o, &cell)) goto done;
    /* What the checkpoint's weights, features, symbols and data sets were made with. */
    static const char *const fixed[] = {
        "cell",        "hidden",     "layers",     "one-direction", "mode",         "connected",
        "hold-out",    "valid-index", "subsample", "rate",          "n-mels",       "n-mfcc",
        "window",      "norm",       "data-seed",  "min-digits",    "max-digits",   "pause-min-ms",
        "pause-max-ms", "edge-max-ms", "valid-utts", "test-utts",   NULL};
    if (ck && train_resume_fixed(cmd, ck, opts, fixed)) goto done;
    if (!data) {
        cli_error(cmd, "--data DIR is required");
        goto done;
    }
    asr_config c;
    memset(&c, 0, sizeof c);
    if (!strcmp(mode, "ctc")) c.mode = ASR_CTC;
    else if (!strcmp(mode, "classify")) c.mode = ASR_CLASSIFY;
    else {
        cli_error(cmd, "--mode must be ctc or classify, not '%s'", mode);
        goto done;
    }
    if (connected && c.mode != ASR_CTC) {
        cli_error(cmd, "--connected needs --mode ctc (a string of digits is no single class)");
        goto done;
    }
    if (strcmp(window, "hamming") && strcmp(window, "hann")) {
        cli_error(cmd, "--window must be hamming or hann, not '%s'", window);
        goto done;
    }
    if (strcmp(norm, "global") && strcmp(norm, "utterance")) {
        cli_error(cmd, "--norm must be global or utterance, not '%s'", norm);
        goto done;
    }
    if (subsample < 1 || subsample > 16) {
        cli_error(cmd, "--subsample must be 1..16");
        goto done;
    }
    if (rate < 1000 || rate > 192000 || n_mels < 1 || n_mels > 512 || n_mfcc < 1 || n_mfcc > n_mels) {
        cli_error(cmd, "--rate must be 1000..192000, --n-mels 1..512 and --n-mfcc 1..n-mels");
        goto done;
    }
    if (min_d < 1 || max_d < min_d || max_d > ASR_MAX_DIGITS || pause_min < 0 ||
        pause_max < pause_min || pause_max > 10000 || edge_max < 0 || edge_max > 10000 ||
        pad_ms < 0 || pad_ms > 10000) {
        cli_error(cmd, "need 1 <= --min-digits <= --max-digits <= %d, 0 <= --pause-min-ms <= "
                  "--pause-max-ms <= 10000, --edge-max-ms and --pad-ms in 0..10000", ASR_MAX_DIGITS);
        goto done;
    }
    if (train_utts < 1 || valid_utts < 1 || test_utts < 1 || o.batch > 1024) {
        cli_error(cmd, "--train-utts, --valid-utts and --test-utts must be at least 1, --batch at "
                  "most 1024");
        goto done;
    }
    su.connected = connected;
    su.split.hold_out = -1;
    if (parse_range(valid_index, &su.split.valid_lo, &su.split.valid_hi)) {
        cli_error(cmd, "--valid-index must be A-B with 5 <= A <= B (0-4 are the test split), not '%s'",
                  valid_index);
        goto done;
    }
    su.gen = (asr_gen){min_d, max_d, pause_min, pause_max, edge_max};
    su.seed = data_seed;
    su.train_utts = train_utts, su.valid_utts = valid_utts, su.test_utts = test_utts;
    su.pad_ms = pad_ms;
    if (!(speed >= 0 && speed <= 0.5) || time_mask < 0 || freq_mask < 0 || n_masks < 0 ||
        n_masks > 10) {
        cli_error(cmd, "--speed must be in [0, 0.5], --time-mask and --freq-mask >= 0, --masks 0..10");
        goto done;
    }
    su.speed = speed, su.time_mask = time_mask, su.freq_mask = freq_mask, su.n_masks = n_masks;
    c.cell = cell;
    c.hidden = o.hidden, c.layers = o.layers, c.bidirectional = !one_dir;
    c.subsample = subsample, c.dropout = o.dropout, c.rate = rate;
    c.feat.n_mels = n_mels, c.feat.n_mfcc = n_mfcc;
    c.feat.window = strcmp(window, "hann") ? AUDIO_HAMMING : AUDIO_HANN;
    c.feat_dims = 3 * n_mfcc;
    c.global_norm = c.feat.no_cmvn = !strcmp(norm, "global");
    if (o.threads > 0) rc_set_threads(o.threads);
    if (!(ckpt = train_checkpoint_path(o.out))) goto done;

    double t0 = trainer_now();
    if (asr_corpus_read(cmd, data, rate, &corpus)) goto done;
    if (hold && (su.split.hold_out = asr_corpus_speaker(&corpus, hold)) < 0) {
        cli_error(cmd, "--hold-out %s: no such speaker in %s", hold, data);
        goto done;
    }
    int e;
    if ((e = set_make(&corpus, &su, ASR_VALID, 0, valid_utts, TAG_VALID, 0, 0, &valid))) {
        set_error(cmd, e, "validation");
        goto done;
    }
    /* The training set: fixed (and cached) for isolated digits without
     * augmentation; drawn anew each epoch otherwise. */
    int fresh = connected || pad_ms > 0 || speed > 0;
    if ((e = set_make(&corpus, &su, ASR_TRAIN, 0, train_utts, TAG_TRAIN, 0, pad_ms, &train))) {
        set_error(cmd, e, "training");
        goto done;
    }
    int64_t per_epoch = (train.n + o.batch - 1) / o.batch;
    if (asr_model_init(&m, &c, (uint64_t)o.seed)) {
        cli_error(cmd, "%s", rc_last_error());
        goto done;
    }
    model_ok = 1;
    /* Global normalisation: the statistics of (up to 1000 utterances of)
     * the first epoch's training set, or the checkpoint's. */
    if (c.global_norm && (ck ? load_norm(cmd, ck, &m) : fit_norm(&corpus, &m, &train, 1000))) {
        if (!ck) cli_error(cmd, "%s", audio_last_error());
        goto done;
    }
    if (set_cache_all(&corpus, &m.cfg, &valid) || (!fresh && set_cache_all(&corpus, &m.cfg, &train))) {
        cli_error(cmd, "%s", audio_last_error());
        goto done;
    }
    if (trainer_init(&tr, cmd, &o, &m.params, per_epoch)) goto done;
    trainer_ok = 1;
    if (ck) {
        if (trainer_restore(&tr, cmd, ck)) goto done;
        rc_safetensors_close(ck);
        ck = NULL;
    }
    order = malloc((size_t)train.n * sizeof *order);
    border = malloc((size_t)per_epoch * sizeof *border);
    idx = malloc((size_t)o.batch * sizeof *idx);
    bb = calloc(1, sizeof *bb);
    t = rc_tape_new();
    if (!order || !border || !idx || !bb || !t) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (!o.quiet)
        fprintf(stderr,
                "%s: %d recordings, %d speakers (read in %.1fs); %s %s, %d training and %d "
                "validation utterances%s; %s%s %dx%d, %d frames a step, %zu parameters; "
                "%lld steps of %d%s\n",
                cmd, corpus.n, corpus.n_speakers, trainer_now() - t0,
                connected ? "connected digits" : "isolated digits", mode, train.n, valid.n,
                hold ? " (speaker held out)" : "", c.bidirectional ? "bidirectional " : "", o.cell,
                o.layers, o.hidden, subsample, rc_params_numel(&m.params),
                (long long)tr.total_steps, o.batch, tr.step ? " (resumed)" : "");

    int64_t cur_epoch = -1;
    while (tr.step < tr.total_steps && !tr.stop) {
        int64_t epoch = tr.step / per_epoch, pos = tr.step % per_epoch;
        if (epoch != cur_epoch) {
            if (fresh && epoch > 0) {
                set_free(&train);
                if ((e = set_make(&corpus, &su, ASR_TRAIN, 0, train_utts, TAG_TRAIN, epoch, pad_ms,
                                  &train))) {
                    set_error(cmd, e, "training");
                    goto done;
                }
            }
            epoch_order(&train, o.batch, set_seed(&su, 99, epoch) ^ (uint64_t)o.seed, order, border);
            cur_epoch = epoch;
        }
        int64_t first = (int64_t)border[pos] * o.batch;
        int B = (int)(train.n - first < o.batch ? train.n - first : o.batch);
        for (int b = 0; b < B; b++) idx[b] = order[first + b];
        rc_rng aug;
        rc_rng_init(&aug, mix64((uint64_t)o.seed * 7919 + (uint64_t)tr.step));
        int masks = su.n_masks > 0 && (su.time_mask > 0 || su.freq_mask > 0);
        if (batch_make(&corpus, &m.cfg, &train, idx, B, bb, masks ? &su : NULL, &aug)) {
            cli_error(cmd, "%s", audio_last_error());
            goto done;
        }
        rc_rng drop;
        trainer_dropout_rng(&tr, &drop, m.rnn);
        rc_tape_reset(t);
        rc_var *x = rc_input(t, 3, (int[]){bb->T, B, bb->D}, bb->x);
        rc_var *out = asr_forward(t, &m, x, bb->lengths, &drop);
        rc_var *loss = out ? batch_loss(t, &m.cfg, out, bb) : NULL;
        if (trainer_backward_update(&tr, cmd, t, loss, (double)B)) goto done;
        trainer_progress(&tr, "utt", 0);
        if (trainer_should_eval(&tr)) {
            trainer_progress(&tr, "utt", 1);
            double te = trainer_now(), vl;
            asr_score sc;
            if (evaluate(&corpus, &m, &valid, 64, 1, &vl, &sc, NULL)) {
                cli_error(cmd, "validation: %s", rc_last_error());
                goto done;
            }
            int best = trainer_record_eval(&tr, vl);
            if (!o.quiet)
                fprintf(stderr, "  validation loss %.4f, accuracy %.2f%%, WER %.2f%%, CER %.2f%%%s  "
                        "[%.1fs]\n", vl, asr_score_accuracy(&sc), asr_score_wer(&sc),
                        asr_score_cer(&sc), best ? "  best so far, saved" : "", trainer_now() - te);
            if (best && model_save(&m, &su, &corpus, o.out)) goto done;
            trainer_plot(&tr, o.out, c.mode == ASR_CTC ? "CTC loss per word" : "cross-entropy");
        }
        if (trainer_should_checkpoint(&tr)) {
            meta_list ml = {0};
            model_meta(&m, &su, &corpus, &ml);
            rc_tensor ts[2];
            const char *names[2];
            const rc_tensor *ptrs[2];
            int ne = norm_tensors(&m, ts, names, ptrs);
            if (trainer_save_checkpoint(&tr, ckpt, &ml, opts, ne, names, ptrs)) goto done;
        }
    }
    if (tr.stop && !o.quiet)
        fprintf(stderr, "%s: stopped early: no improvement in %d validations\n", cmd, o.patience);
    double secs = trainer_now() - tr.t_start;
    if (o.json)
        printf("{\"task\":\"asr\",\"steps\":%lld,\"best_valid_loss\":%.6f,\"best_step\":%lld,"
               "\"seconds\":%.1f}\n",
               (long long)tr.step, tr.best_valid, (long long)tr.best_step, secs);
    else if (!o.quiet)
        fprintf(stderr, "%s: best validation loss %.4f at step %lld (%.0fs); model in %s\n", cmd,
                tr.best_valid, (long long)tr.best_step, secs, o.out);
    ret = 0;
done:
    rc_tape_free(t);
    if (bb) free(bb->x);
    free(bb);
    free(order);
    free(border);
    free(idx);
    set_free(&train);
    set_free(&valid);
    if (trainer_ok) trainer_free(&tr);
    if (model_ok) asr_model_free(&m);
    asr_corpus_free(&corpus);
    rc_safetensors_close(ck);
    free(meta_store);
    free(ckpt);
    return ret;
}

/* -------------------------------------------------------- evaluation -- */

int asr_eval(const char *cmd, const rc_safetensors *st, const char *data, const char *split,
             int batch, int json)
{
    asr_model m;
    asr_setup su;
    const char *hold;
    if (model_load(cmd, st, &m, &su, &hold)) return 1;
    asr_corpus corpus = {0};
    asr_set s = {0};
    int ret = 1, role, all = 0;
    if (!split || !strcmp(split, "test")) role = ASR_TEST;
    else if (!strcmp(split, "valid")) role = ASR_VALID;
    else if (!strcmp(split, "all")) role = ASR_TEST, all = 1;
    else {
        cli_error(cmd, "--split must be test, valid or all, not '%s'", split);
        goto done;
    }
    double t0 = trainer_now();
    if (asr_corpus_read(cmd, data, m.cfg.rate, &corpus)) goto done;
    if (*hold && !all && (su.split.hold_out = asr_corpus_speaker(&corpus, hold)) < 0) {
        cli_error(cmd, "%s: the model's held-out speaker %s has no recordings here", data, hold);
        goto done;
    }
    int count = role == ASR_VALID ? su.valid_utts : su.test_utts;
    int e = set_make(&corpus, &su, role, all, count, role == ASR_VALID ? TAG_VALID : TAG_TEST, 0, 0,
                     &s);
    if (e) {
        set_error(cmd, e, split ? split : "test");
        goto done;
    }
    double loss;
    asr_score sc;
    if (evaluate(&corpus, &m, &s, batch, 1, &loss, &sc, json ? NULL : stderr)) {
        cli_error(cmd, "%s", rc_last_error()[0] ? rc_last_error() : audio_last_error());
        goto done;
    }
    double el = trainer_now() - t0;
    const char *sp = split ? split : "test";
    if (json)
        printf("{\"task\":\"asr\",\"data\":\"%s\",\"split\":\"%s\",\"utterances\":%lld,"
               "\"words\":%lld,\"loss\":%.6f,\"accuracy\":%.4f,\"wer\":%.4f,\"cer\":%.4f,"
               "\"seconds\":%.2f}\n",
               data, sp, (long long)sc.utterances, (long long)sc.words, loss,
               asr_score_accuracy(&sc), asr_score_wer(&sc), asr_score_cer(&sc), el);
    else
        printf("%s (%s%s%s, %s split): %lld utterances, %lld words: accuracy %.2f%% (%lld/%lld), "
               "WER %.2f%%, CER %.2f%%, loss %.4f\n",
               data, su.connected ? "connected digits" : "isolated digits", *hold ? ", held out " : "",
               hold, sp, (long long)sc.utterances, (long long)sc.words, asr_score_accuracy(&sc),
               (long long)sc.correct, (long long)sc.utterances, asr_score_wer(&sc),
               asr_score_cer(&sc), loss);
    ret = 0;
done:
    set_free(&s);
    asr_corpus_free(&corpus);
    asr_model_free(&m);
    return ret;
}

/* ------------------------------------------------------- transcribe -- */

/* The digits a file name says were spoken: "3_..." or "3-1-4_..."; -1
 * when it says none. */
static int digits_from_name(const char *path, int32_t *dg)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    int n = 0;
    while (isdigit((unsigned char)*b) && n < ASR_MAX_DIGITS) {
        dg[n++] = *b++ - '0';
        if (*b == '-') b++;
        else break;
    }
    return n > 0 && *b == '_' ? n : -1;
}

/* The picture: the MFCCs of each step (its first frame's 13) over the
 * step's posteriors of blank and each word; the best path's words below. */
static int plot_alignment(const char *cmd, const asr_model *m, const float *f, int S,
                          const rc_var *logp, const char *path, const char *title)
{
    const asr_config *c = &m->cfg;
    int C = asr_classes(c), nf = c->feat.n_mfcc ? c->feat.n_mfcc : 13, D = c->feat_dims * c->subsample;
    int rows = nf + 1 + C;
    float *v = malloc((size_t)rows * S * sizeof *v);
    const char **rl = malloc((size_t)rows * sizeof *rl), **cl = calloc((size_t)S, sizeof *cl);
    char(*names)[16] = malloc((size_t)nf * sizeof *names);
    if (!v || !rl || !cl || !names) {
        free(v), free(rl), free(cl), free(names);
        return cli_error(cmd, "out of memory");
    }
    for (int r = 0; r < nf; r++) {
        snprintf(names[r], sizeof names[r], "c%d", r);
        rl[r] = names[r];
        for (int s = 0; s < S; s++) {
            float x = f[(size_t)s * D + r];
            v[(size_t)r * S + s] = x > 3 ? 3 : x < -3 ? -3 : x;
        }
    }
    rl[nf] = "";
    for (int s = 0; s < S; s++) v[(size_t)nf * S + s] = NAN;
    int prev = 0;
    for (int k = 0; k < C; k++) {
        rl[nf + 1 + k] = k == 0 ? "blank" : words[k - 1];
        for (int s = 0; s < S; s++) v[(size_t)(nf + 1 + k) * S + s] = 3 * expf(logp->value.data[(size_t)s * C + k]);
    }
    for (int s = 0; s < S; s++) {
        const float *l = logp->value.data + (size_t)s * C;
        int best = 0;
        for (int k = 1; k < C; k++)
            if (l[k] > l[best]) best = k;
        cl[s] = best != 0 && best != prev ? words[best - 1] : "";
        prev = best;
    }
    plot_heatmap_spec sp = {0};
    sp.title = title;
    sp.xlabel = "step (30 ms): the best path's words";
    sp.ylabel = "MFCC (normalised)  |  posterior x 3";
    sp.row_labels = rl;
    sp.col_labels = cl;
    sp.scale = PLOT_DIVERGING;
    sp.v_fixed = 1, sp.v_min = -3, sp.v_max = 3;
    /* wide enough that every column gets its label (one text line a column) */
    sp.width = 300 + 20 * S;
    if (sp.width < 600) sp.width = 600;
    sp.height = 120 + 16 * rows + 60;
    rc_status st = plot_heatmap_png(path, &sp, v, rows, S);
    free(v), free(rl), free(cl), free(names);
    if (st != RC_OK) return cli_error(cmd, "%s", plot_last_error());
    return 0;
}

int cmd_transcribe(int argc, char **argv)
{
    const char *cmd = "transcribe", *plot = NULL;
    int beam = 1, score = 0, json = 0, threads = 0;
    cli_option opts[] = {
        {"beam", CLI_INT, &beam, "CTC prefix beam search of this width (default 1: best path)"},
        {"plot", CLI_STRING, &plot, "draw the first file's features and CTC alignment to this PNG"},
        {"score", CLI_FLAG, &score, "score against the digits the file names start with "
                                    "(\"3_x.wav\", \"3-1-4_x.wav\")"},
        {"json", CLI_FLAG, &json, "one JSON line per file (and the score)"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    enum { MAX_FILES = 100000 };
    const char **pos = malloc(MAX_FILES * sizeof *pos);
    if (!pos) return cli_error(cmd, "out of memory");
    int n_pos;
    int r = cli_parse(cmd, "usage: recur transcribe MODEL FILE... [options]\n\n"
                           "Prints the digits heard in each sound file (any format libsndfile\n"
                           "reads, resampled to the model's rate): FILE<TAB>words.\n",
                      opts, argc, argv, 2, pos, MAX_FILES, &n_pos);
    if (r) {
        free(pos);
        return r == 1 ? 0 : r;
    }
    if (n_pos < 2) {
        free(pos);
        return cli_error(cmd, "give a model and at least one sound file (see recur transcribe --help)");
    }
    if (beam < 1 || beam > 1000) {
        free(pos);
        return cli_error(cmd, "--beam must be 1..1000");
    }
    if (threads > 0) rc_set_threads(threads);
    rc_safetensors *st;
    if (rc_safetensors_open(pos[0], &st) != RC_OK) {
        free(pos);
        return cli_error(cmd, "%s", rc_last_error());
    }
    asr_model m;
    asr_setup su;
    const char *hold;
    int ret = 1;
    if (model_load(cmd, st, &m, &su, &hold)) {
        rc_safetensors_close(st);
        free(pos);
        return 1;
    }
    rc_tape *t = rc_tape_new();
    asr_score sc = {0};
    int scored = 0;
    if (!t) goto done;
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    for (int i = 1; i < n_pos; i++) {
        const char *file = pos[i];
        float *x, *f;
        size_t n;
        int rate, S;
        if (audio_read(file, m.cfg.rate, &x, &n, &rate) != RC_OK) {
            cli_error(cmd, "%s", audio_last_error());
            goto done;
        }
        int fr = asr_features(&m.cfg, x, n, &f, &S);
        free(x);
        if (fr) {
            cli_error(cmd, "%s: %s", file, audio_last_error());
            goto done;
        }
        rc_tape_reset(t);
        int32_t len = S;
        rc_var *in = rc_input(t, 3, (int[]){S, 1, m.cfg.feat_dims * m.cfg.subsample}, f);
        rc_var *out = asr_forward(t, &m, in, &len, NULL);
        if (!out) {
            free(f);
            cli_error(cmd, "%s: %s", file, rc_last_error());
            goto done;
        }
        int32_t hyp[1][ASR_MAX_DIGITS * 4];
        int nh;
        decode(&m.cfg, out, &len, beam, hyp, &nh);
        if (i == 1 && plot) {
            if (m.cfg.mode != ASR_CTC) {
                free(f);
                cli_error(cmd, "--plot draws a CTC alignment; %s is a classifier", pos[0]);
                goto done;
            }
            const char *base = strrchr(file, '/');
            if (plot_alignment(cmd, &m, f, S, out, plot, base ? base + 1 : file)) {
                free(f);
                goto done;
            }
        }
        free(f);
        int32_t ref[ASR_MAX_DIGITS];
        int nr = score ? digits_from_name(file, ref) : -1;
        if (nr > 0) {
            asr_score_add(&sc, ref, nr, hyp[0], nh);
            scored++;
        }
        if (json) {
            printf("{\"file\":\"%s\",\"transcript\":\"", file);
            for (int j = 0; j < nh; j++) printf("%s%s", j ? " " : "", words[hyp[0][j]]);
            printf("\"}\n");
        } else {
            printf("%s\t", file);
            for (int j = 0; j < nh; j++) printf("%s%s", j ? " " : "", words[hyp[0][j]]);
            printf("\n");
        }
    }
    if (score) {
        if (json)
            printf("{\"scored\":%d,\"accuracy\":%.4f,\"wer\":%.4f,\"cer\":%.4f}\n", scored,
                   asr_score_accuracy(&sc), asr_score_wer(&sc), asr_score_cer(&sc));
        else
            printf("scored %d of %d files: accuracy %.2f%% (%lld/%lld), WER %.2f%%, CER %.2f%%\n",
                   scored, n_pos - 1, asr_score_accuracy(&sc), (long long)sc.correct,
                   (long long)sc.utterances, asr_score_wer(&sc), asr_score_cer(&sc));
    }
    ret = 0;
done:
    rc_tape_free(t);
    asr_model_free(&m);
    rc_safetensors_close(st);
    free(pos);
    return ret;
}
