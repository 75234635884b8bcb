/* test_asr.c - the speech task: file names, error rates, connected-digit
 * utterances (deterministic, one speaker, only their role's recordings),
 * feature stacking, the acoustic model's gradients and padding
 * invariance, and the commands (train, eval, transcribe, bad audio and
 * bad flags) on a small synthetic data set of tones. */
#include "test.h"

#include "tasks/asr.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ------------------------------------------------------ names, scores -- */

static void test_parse_name(void **state)
{
    (void)state;
    int d, i;
    char sp[32];
    assert_int_equal(asr_parse_name("a/b/7_jackson_32.wav", &d, sp, sizeof sp, &i), 0);
    assert_int_equal(d, 7);
    assert_string_equal(sp, "jackson");
    assert_int_equal(i, 32);
    assert_int_equal(asr_parse_name("0_x1_0.wav", &d, sp, sizeof sp, &i), 0);
    const char *bad[] = {"7_jackson_32.flac", "77_jackson_3.wav", "7__3.wav", "x_jackson_3.wav",
                         "7_jackson_.wav", "7_jack-son_3.wav", "7_jackson_3.wav.bak", "README"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(asr_parse_name(bad[k], &d, sp, sizeof sp, &i), -1);
    /* a speaker name longer than the buffer */
    assert_int_equal(asr_parse_name("1_abcdefgh_2.wav", &d, sp, 5, &i), -1);
}

static void test_edit_distance_and_scores(void **state)
{
    (void)state;
    int32_t a[] = {1, 2, 3, 4}, b[] = {1, 3, 4, 5}, e[1];
    assert_int_equal(asr_edit_distance(a, 4, a, 4), 0);
    assert_int_equal(asr_edit_distance(a, 4, b, 4), 2); /* delete 2, insert 5 */
    assert_int_equal(asr_edit_distance(a, 4, e, 0), 4);
    assert_int_equal(asr_edit_distance(e, 0, b, 3), 3);
    /* a long one (past the stack row) */
    static int32_t x[600], y[600];
    for (int i = 0; i < 600; i++) x[i] = i % 7, y[i] = i % 7;
    y[300] = 99;
    assert_int_equal(asr_edit_distance(x, 600, y, 599), 2);

    asr_score s = {0};
    int32_t r1[] = {3, 1, 4}, h1[] = {3, 1, 4};
    asr_score_add(&s, r1, 3, h1, 3);
    int32_t r2[] = {8}, h2[] = {6};
    asr_score_add(&s, r2, 1, h2, 1); /* "eight" vs "six" */
    int32_t r3[] = {2, 2}, h3[] = {2};
    asr_score_add(&s, r3, 2, h3, 1); /* a deletion: "two two" vs "two" = 4 chars */
    assert_int_equal(s.utterances, 3);
    assert_int_equal(s.correct, 1);
    assert_int_equal(s.words, 6);
    assert_int_equal(s.word_errors, 2);
    /* "eight" -> "six": e>s, i=i, g>x, delete h, delete t: 4 edits */
    assert_int_equal(s.chars, 14 + 5 + 7); /* "three one four", "eight", "two two" */
    assert_int_equal(s.char_errors, 4 + 4);
    assert_true(fabs(asr_score_accuracy(&s) - 100.0 / 3) < 1e-9);
    assert_true(fabs(asr_score_wer(&s) - 100.0 * 2 / 6) < 1e-9);
    assert_true(fabs(asr_score_cer(&s) - 100.0 * 8 / 26) < 1e-9);
    assert_string_equal(asr_word(0), "zero");
    assert_string_equal(asr_word(9), "nine");
    assert_null(asr_word(10));
}

/* ------------------------------------------------------- utterances -- */

/* A corpus in memory: 3 speakers x 10 digits x 8 indices, recording
 * (s, d, i) a run of n = 100 + 10 d + i samples all equal to a code of
 * (s, d, i), so that a synthesized utterance can be taken apart again. */
static float code(int s, int d, int i) { return 0.1f + 0.01f * (float)(s * 100 + d * 8 + i); }

static void fake_corpus(asr_corpus *c)
{
    memset(c, 0, sizeof *c);
    c->rate = 8000;
    c->n_speakers = 3;
    strcpy(c->speaker[0], "ann");
    strcpy(c->speaker[1], "bob");
    strcpy(c->speaker[2], "cid");
    c->rec = calloc(3 * 10 * 8, sizeof *c->rec);
    assert_non_null(c->rec);
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 10; d++)
            for (int i = 0; i < 8; i++) {
                asr_recording *r = &c->rec[c->n++];
                r->speaker = s, r->digit = d, r->index = i;
                r->n = (size_t)(100 + 10 * d + i);
                r->x = malloc(r->n * sizeof *r->x);
                assert_non_null(r->x);
                for (size_t k = 0; k < r->n; k++) r->x[k] = code(s, d, i);
            }
}

static void test_roles(void **state)
{
    (void)state;
    asr_split sp = {-1, 5, 5};
    asr_recording r = {3, 1, 0, NULL, 0};
    assert_int_equal(asr_role(&sp, &r), ASR_TEST);
    r.index = 4;
    assert_int_equal(asr_role(&sp, &r), ASR_TEST);
    r.index = 5;
    assert_int_equal(asr_role(&sp, &r), ASR_VALID);
    r.index = 6;
    assert_int_equal(asr_role(&sp, &r), ASR_TRAIN);
    sp.hold_out = 1; /* speaker 1 is the test set, whatever the index */
    assert_int_equal(asr_role(&sp, &r), ASR_TEST);
    r.speaker = 0;
    assert_int_equal(asr_role(&sp, &r), ASR_TRAIN);
    r.index = 2;
    assert_int_equal(asr_role(&sp, &r), ASR_VALID);
}

static void test_connected_utterances(void **state)
{
    (void)state;
    asr_corpus c;
    fake_corpus(&c);
    asr_split sp = {-1, 5, 5};
    asr_gen g = {2, 7, 50, 300, 150};
    int seen_n[8] = {0}, seen_spk[3] = {0};
    for (int role = ASR_TRAIN; role <= ASR_TEST; role++)
        for (int64_t i = 0; i < 300; i++) {
            asr_example a, b;
            assert_int_equal(asr_make_connected(&c, &sp, role, &g, 42, i, &a), 0);
            assert_int_equal(asr_make_connected(&c, &sp, role, &g, 42, i, &b), 0);
            assert_memory_equal(&a, &b, sizeof a); /* the same seed, the same utterance */
            assert_true(a.n >= 2 && a.n <= 7);
            seen_n[a.n]++;
            int spk = c.rec[a.rec[0]].speaker;
            seen_spk[spk]++;
            size_t total = 0;
            for (int j = 0; j < a.n; j++) {
                const asr_recording *r = &c.rec[a.rec[j]];
                assert_int_equal(r->speaker, spk);           /* one speaker */
                assert_int_equal(asr_role(&sp, r), role);    /* only the role's recordings */
                total += r->n;
            }
            for (int j = 0; j <= a.n; j++) {
                int ms = a.pause[j] * 1000 / 8000;
                if (j == 0 || j == a.n) assert_true(ms >= 0 && ms <= 150);
                else assert_true(ms >= 50 && ms <= 300);
                total += (size_t)a.pause[j];
            }
            assert_int_equal(a.samples, total);
            if (i == 7 && role == ASR_TEST) {
                /* the samples: pauses of faint noise, then each recording as is */
                size_t n;
                float *x = asr_synthesize(&c, &a, &n);
                assert_non_null(x);
                assert_int_equal(n, a.samples);
                size_t at = 0;
                for (int j = 0; j <= a.n; j++) {
                    double e = 0;
                    for (int k = 0; k < a.pause[j]; k++) e += (double)x[at + k] * x[at + k];
                    if (a.pause[j] > 100) {
                        double rms = sqrt(e / a.pause[j]);
                        assert_true(rms > 1e-4 && rms < 2e-3);
                    }
                    at += (size_t)a.pause[j];
                    if (j == a.n) break;
                    const asr_recording *r = &c.rec[a.rec[j]];
                    for (size_t k = 0; k < r->n; k++) assert_true(x[at + k] == r->x[0]);
                    at += r->n;
                }
                free(x);
            }
        }
    for (int n = 2; n <= 7; n++) assert_true(seen_n[n] > 50);
    for (int s = 0; s < 3; s++) assert_true(seen_spk[s] > 150);
    /* another utterance index or seed gives other utterances */
    asr_example a, b;
    int differ = 0;
    for (int i = 0; i < 20; i++) {
        asr_make_connected(&c, &sp, ASR_TRAIN, &g, 42, i, &a);
        asr_make_connected(&c, &sp, ASR_TRAIN, &g, 43, i, &b);
        differ += memcmp(&a, &b, sizeof a) != 0;
    }
    assert_true(differ >= 19);
    /* a speaker held out: the test set is that speaker's alone */
    sp.hold_out = 2;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(asr_make_connected(&c, &sp, ASR_TEST, &g, 1, i, &a), 0);
        for (int j = 0; j < a.n; j++) assert_int_equal(c.rec[a.rec[j]].speaker, 2);
        assert_int_equal(asr_make_connected(&c, &sp, ASR_TRAIN, &g, 1, i, &a), 0);
        for (int j = 0; j < a.n; j++) assert_int_not_equal(c.rec[a.rec[j]].speaker, 2);
    }
    /* speed: about samples / speed */
    a.speed = 1.25f;
    size_t n;
    float *x = asr_synthesize(&c, &a, &n);
    assert_non_null(x);
    assert_true(fabs((double)n - a.samples / 1.25) < 3);
    free(x);
    a.speed = 3; /* out of range */
    assert_null(asr_synthesize(&c, &a, &n));
    /* no recordings of a role: an error, not a crash */
    asr_split none = {-1, 50, 60};
    assert_int_equal(asr_make_connected(&c, &none, ASR_VALID, &g, 1, 0, &a), -1);
    asr_corpus_free(&c);
}

/* --------------------------------------------------------- features -- */

static void test_feature_stacking(void **state)
{
    (void)state;
    enum { N = 3000 };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = 0.3f * sinf(0.05f * i) + 0.1f * sinf(0.31f * i * (1 + i / 3000.0f));
    asr_config c;
    memset(&c, 0, sizeof c);
    c.rate = 8000;
    c.feat_dims = 39;
    float *f;
    int frames, dims;
    assert_int_equal(audio_features(x, N, 8000, &c.feat, &f, &frames, &dims), RC_OK);
    assert_int_equal(frames, 1 + (N - 200) / 80); /* 36 */
    for (int k = 1; k <= 5; k++) {
        c.subsample = k;
        float *s;
        int S;
        assert_int_equal(asr_features(&c, x, N, &s, &S), 0);
        assert_int_equal(S, (frames + k - 1) / k);
        /* step t holds frames kt .. kt+k-1 side by side; past the end: 0 */
        for (int t = 0; t < S; t++)
            for (int j = 0; j < k; j++)
                for (int d = 0; d < dims; d++) {
                    int fr = t * k + j;
                    float want = fr < frames ? f[(size_t)fr * dims + d] : 0.0f;
                    assert_true(s[((size_t)t * k + j) * dims + d] == want);
                }
        free(s);
    }
    /* global normalisation: (x - mean) / sd per dimension */
    float mean[39], sd[39];
    for (int d = 0; d < 39; d++) mean[d] = 0.1f * d, sd[d] = 1 + 0.05f * d;
    c.subsample = 1;
    c.global_norm = 1;
    c.mean = mean, c.sd = sd;
    float *g;
    int S;
    assert_int_equal(asr_features(&c, x, N, &g, &S), 0);
    for (int t = 0; t < S; t++)
        for (int d = 0; d < dims; d++)
            assert_true(fabsf(g[(size_t)t * dims + d] - (f[(size_t)t * dims + d] - mean[d]) / sd[d]) < 1e-5f);
    free(g);
    free(f);
}

/* ------------------------------------------------------------ model -- */

static asr_config tiny_config(asr_mode mode)
{
    asr_config c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.cell = RC_CELL_GRU;
    c.hidden = 3;
    c.layers = 2;
    c.bidirectional = 1;
    c.subsample = 1;
    c.rate = 8000;
    c.feat_dims = 2;
    return c;
}

typedef struct fwd_case {
    asr_model *m;
    const int32_t *lengths, *targets, *tlen;
    int T, B;
} fwd_case;

/* The model's loss on x (inputs[0]) with every parameter an input too. */
static rc_var *model_loss(rc_tape *t, rc_var **in, void *user)
{
    fwd_case *fc = user;
    rc_var *out = asr_forward(t, fc->m, in[0], fc->lengths, NULL);
    if (fc->m->cfg.mode == ASR_CTC)
        return rc_ctc_loss(t, out, fc->targets, fc->lengths, fc->tlen, 0, RC_CTC_MEAN, 1);
    return rc_cross_entropy(t, out, fc->targets, NULL);
}

static void test_model_gradients(void **state)
{
    (void)state;
    for (int mode = ASR_CTC; mode <= ASR_CLASSIFY; mode++) {
        asr_config c = tiny_config((asr_mode)mode);
        asr_model m;
        assert_int_equal(asr_model_init(&m, &c, 7), 0);
        assert_int_equal(asr_classes(&c), mode == ASR_CTC ? 11 : 10);
        int T = 5, B = 3;
        int32_t lengths[3] = {5, 3, 4};
        int32_t tctc[] = {1, 2, 3, 3, 10, 4}, tlctc[3] = {2, 1, 3}; /* ids 1..10 */
        int32_t tcls[] = {0, 9, 4}, tlcls[3] = {1, 1, 1};
        fwd_case fc = {&m, lengths, mode == ASR_CTC ? tctc : tcls, mode == ASR_CTC ? tlctc : tlcls,
                       T, B};
        rc_var *inputs[32];
        inputs[0] = test_param("x", 3, (int[]){T, B, 2}, 11, -1, 1);
        int n = 1;
        for (int i = 0; i < m.params.n; i++) inputs[n++] = m.params.vars[i];
        /* the gradient checker perturbs x past the lengths too: those
         * entries must get gradient 0, which it checks as well */
        assert_gradcheck(model_loss, &fc, inputs, n);
        rc_param_free(inputs[0]);
        asr_model_free(&m);
    }
}

/* Padding changes nothing: a sequence alone, and the same sequence in a
 * batch beside a longer one, give the same outputs. */
static void test_padding_invariance(void **state)
{
    (void)state;
    for (int mode = ASR_CTC; mode <= ASR_CLASSIFY; mode++) {
        asr_config c = tiny_config((asr_mode)mode);
        c.hidden = 5;
        asr_model m;
        assert_int_equal(asr_model_init(&m, &c, 3), 0);
        rc_tape *t = rc_tape_new();
        rc_tape_set_grad(t, 0);
        rc_tape_set_training(t, 0);
        float a[4 * 2], ab[7 * 2 * 2];
        rc_rng r;
        rc_rng_init(&r, 5);
        rc_rng_fill_uniform(&r, a, 8, -1, 1);
        rc_rng_fill_uniform(&r, ab, 28, -1, 1);
        for (int s = 0; s < 4; s++) /* sequence 0 of the batch is a; 1 is 7 steps long */
            ab[(s * 2 + 0) * 2] = a[s * 2], ab[(s * 2 + 0) * 2 + 1] = a[s * 2 + 1];
        for (int s = 4; s < 7; s++) ab[(s * 2) * 2] = 9, ab[(s * 2) * 2 + 1] = -9; /* padding junk */
        int32_t l1[1] = {4}, l2[2] = {4, 7};
        rc_var *o1 = asr_forward(t, &m, rc_input(t, 3, (int[]){4, 1, 2}, a), l1, NULL);
        rc_var *o2 = asr_forward(t, &m, rc_input(t, 3, (int[]){7, 2, 2}, ab), l2, NULL);
        assert_non_null(o1);
        assert_non_null(o2);
        int C = asr_classes(&c);
        if (mode == ASR_CTC) {
            for (int s = 0; s < 4; s++)
                for (int k = 0; k < C; k++)
                    assert_true(fabsf(o1->value.data[s * C + k] - o2->value.data[(s * 2) * C + k]) < 1e-5f);
        } else {
            for (int k = 0; k < C; k++) assert_true(fabsf(o1->value.data[k] - o2->value.data[k]) < 1e-5f);
        }
        rc_tape_free(t);
        asr_model_free(&m);
    }
}

/* --------------------------------------------------------- commands -- */

static char *dir;

/* A tone "word" per digit: two partials that glide, 0.25-0.35 s. */
static void write_tone(const char *path, int digit, int speaker, int index, double extra_silence)
{
    int n = 2000 + 80 * ((digit * 7 + index) % 10), pad = (int)(extra_silence * 8000);
    float *x = calloc((size_t)(n + 2 * pad), sizeof *x);
    assert_non_null(x);
    double f0 = 300 + 170 * digit + 15 * speaker, f1 = 2600 - 150 * digit;
    rc_rng r;
    rc_rng_init(&r, (uint64_t)(digit * 1000 + speaker * 100 + index));
    for (int i = 0; i < n; i++) {
        double tt = (double)i / 8000, env = sin(M_PI * i / n);
        double glide = (digit % 2 ? 1 : -1) * 80 * tt;
        x[pad + i] = (float)(env * (0.4 * sin(2 * M_PI * (f0 + glide) * tt) + 0.2 * sin(2 * M_PI * f1 * tt)) +
                             0.01 * rc_rng_normal(&r));
    }
    SF_INFO info = {0};
    info.samplerate = 8000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    sf_writef_float(sf, x, n + 2 * pad);
    sf_close(sf);
    free(x);
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("asr"))) return -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/rec' '%s/other'", dir, dir);
    if (system(cmd) != 0) return -1;
    const char *spk[] = {"amy", "ben"};
    char name[256];
    for (int s = 0; s < 2; s++)
        for (int d = 0; d < 10; d++)
            for (int i = 0; i < 8; i++) { /* 0-4 test, 5 valid, 6-7 train */
                snprintf(name, sizeof name, "%s/rec/%d_%s_%d.wav", dir, d, spk[s], i);
                write_tone(name, d, s, i, 0);
            }
    /* files for transcribe --score: a name with the digits, with silence around */
    snprintf(name, sizeof name, "%s/other/4_x_0.wav", dir);
    write_tone(name, 4, 0, 9, 0.2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove(dir);
}

#define ISO "train asr --data rec --valid-index 5-5 --hidden 12 --layers 1 --batch 8 --subsample 2 --quiet --threads 1 "

static void test_train_eval_transcribe(void **state)
{
    (void)state;
    char err[4096];
    /* classification: the tones are easy, 60 steps learn them */
    if (test_run_recur(dir, ISO "--mode classify --steps 60 --lr 0.02 --out cls.model", err, sizeof err))
        fail_msg("train classify: %s", err);
    if (test_run_recur(dir, "eval cls.model rec --json", err, sizeof err)) fail_msg("eval: %s", err);
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(out);
    double acc, wer, cer;
    int utts;
    const char *p = strstr(out, "\"utterances\":");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\"utterances\":%d", &utts), 1);
    assert_int_equal(utts, 100); /* index 0-4 of 2 speakers x 10 digits */
    assert_int_equal(sscanf(strstr(out, "\"accuracy\":"), "\"accuracy\":%lf", &acc), 1);
    assert_int_equal(sscanf(strstr(out, "\"wer\":"), "\"wer\":%lf", &wer), 1);
    assert_int_equal(sscanf(strstr(out, "\"cer\":"), "\"cer\":%lf", &cer), 1);
    free(out);
    assert_true(acc >= 90);
    assert_true(fabs(wer - (100 - acc)) < 1e-6); /* one word each: a miss is one word error */
    assert_true((cer > 0) == (wer > 0)); /* a character wrong exactly when a word is */

    /* CTC: isolated digits, transcription */
    if (test_run_recur(dir, ISO "--steps 300 --lr 0.01 --out ctc.model", err, sizeof err))
        fail_msg("train ctc: %s", err);
    if (test_run_recur(dir, "eval ctc.model rec --split valid --json", err, sizeof err))
        fail_msg("eval ctc: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_int_equal(sscanf(strstr(out, "\"utterances\":"), "\"utterances\":%d", &utts), 1);
    assert_int_equal(utts, 20); /* index 5 */
    assert_int_equal(sscanf(strstr(out, "\"accuracy\":"), "\"accuracy\":%lf", &acc), 1);
    free(out);
    if (acc < 70) fail_msg("CTC valid accuracy %.1f%%", acc);

    /* transcribe: a line per file, the score from the names, and the picture */
    if (test_run_recur(dir, "transcribe ctc.model rec/3_amy_0.wav rec/7_ben_1.wav other/4_x_0.wav "
                            "--score --plot align.png", err, sizeof err))
        fail_msg("transcribe: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "rec/3_amy_0.wav\t"));
    assert_non_null(strstr(out, "rec/7_ben_1.wav\t"));
    assert_non_null(strstr(out, "scored 3 of 3 files: accuracy"));
    free(out);
    char *png = test_slurp(dir, "align.png");
    assert_non_null(png);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
    /* a classifier transcribes too (one word), but draws no alignment */
    if (test_run_recur(dir, "transcribe cls.model rec/3_amy_0.wav --json", err, sizeof err))
        fail_msg("transcribe cls: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "{\"file\":\"rec/3_amy_0.wav\",\"transcript\":\""));
    free(out);
    test_expect_cli_error(dir, "transcribe cls.model rec/3_amy_0.wav --plot x.png", "recur transcribe:",
                          "classifier");
}

static void test_connected_and_held_out(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, ISO "--connected --train-utts 40 --valid-utts 10 --test-utts 12 --steps 10 "
                            "--speed 0.1 --time-mask 2 --freq-mask 2 --out con.model", err, sizeof err))
        fail_msg("train connected: %s", err);
    if (test_run_recur(dir, "eval con.model rec --json", err, sizeof err)) fail_msg("eval: %s", err);
    char *out = test_slurp(dir, "out.txt");
    int utts, words;
    assert_int_equal(sscanf(strstr(out, "\"utterances\":"), "\"utterances\":%d", &utts), 1);
    assert_int_equal(sscanf(strstr(out, "\"words\":"), "\"words\":%d", &words), 1);
    free(out);
    assert_int_equal(utts, 12);
    assert_true(words >= 24 && words <= 84);
    /* the same seed, the same test set: eval twice gives the same numbers */
    if (test_run_recur(dir, "eval con.model rec --json", err, sizeof err)) fail_msg("eval: %s", err);
    char *a = test_slurp(dir, "out.txt");
    if (test_run_recur(dir, "eval con.model rec --json", err, sizeof err)) fail_msg("eval: %s", err);
    char *b = test_slurp(dir, "out.txt");
    char *sa = strstr(a, "\"seconds\""), *sb = strstr(b, "\"seconds\"");
    *sa = *sb = '\0';
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* a speaker held out */
    if (test_run_recur(dir, ISO "--connected --hold-out ben --train-utts 20 --valid-utts 5 "
                            "--test-utts 7 --steps 4 --out held.model", err, sizeof err))
        fail_msg("train held out: %s", err);
    if (test_run_recur(dir, "eval held.model rec", err, sizeof err)) fail_msg("eval: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "held out ben"));
    assert_non_null(strstr(out, "7 utterances"));
    free(out);
}

/* Bad audio gives one line naming the file and what is wrong. */
static void test_bad_audio(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, ISO "--steps 2 --out bad.model", err, sizeof err)) fail_msg("train: %s", err);
    unsigned char h[44 + 400];
    memset(h, 0, sizeof h);
    /* a canonical header; fields patched below */
    memcpy(h, "RIFF", 4);
    uint32_t v = 36 + 400;
    memcpy(h + 4, &v, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    uint32_t fl = 16, rate = 8000, br = 16000, data = 400;
    uint16_t fmt = 1, ch = 1, ba = 2, bits = 16;
    memcpy(h + 16, &fl, 4), memcpy(h + 20, &fmt, 2), memcpy(h + 22, &ch, 2);
    memcpy(h + 24, &rate, 4), memcpy(h + 28, &br, 4), memcpy(h + 32, &ba, 2), memcpy(h + 34, &bits, 2);
    memcpy(h + 36, "data", 4), memcpy(h + 40, &data, 4);
    test_write_file(dir, "ok.wav", h, sizeof h);
    if (test_run_recur(dir, "transcribe bad.model ok.wav", err, sizeof err)) fail_msg("ok.wav: %s", err);

    test_write_file(dir, "empty.wav", "", 0);
    test_expect_cli_error(dir, "transcribe bad.model empty.wav", "recur transcribe:", "empty.wav: empty");
    test_write_file(dir, "text.wav", "just words, no sound\n", 21);
    test_expect_cli_error(dir, "transcribe bad.model text.wav", "recur transcribe:", "not a sound file");
    test_write_file(dir, "trunc.wav", h, 44 + 100); /* declares 400 bytes, holds 100 */
    test_expect_cli_error(dir, "transcribe bad.model trunc.wav", "recur transcribe:", "trunc.wav: truncated");
    uint16_t zero = 0;
    memcpy(h + 22, &zero, 2);
    test_write_file(dir, "nochan.wav", h, sizeof h);
    test_expect_cli_error(dir, "transcribe bad.model nochan.wav", "recur transcribe:", "hannel");
    memcpy(h + 22, &ch, 2);
    uint32_t huge = 0x7ffffff0u;
    memcpy(h + 40, &huge, 4);
    test_write_file(dir, "huge.wav", h, 44);
    test_expect_cli_error(dir, "transcribe bad.model huge.wav", "recur transcribe:", "huge.wav");
    test_expect_cli_error(dir, "transcribe bad.model missing.wav", "recur transcribe:", "missing.wav");
    /* a directory of recordings with one bad file stops training with its name */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/badrec' && cp '%s'/rec/*_amy_* '%s/badrec/' && "
             "cp '%s/trunc.wav' '%s/badrec/3_amy_9.wav'", dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    test_expect_cli_error(dir, "train asr --data badrec --steps 1 --out x.model", "recur train asr:",
                          "3_amy_9.wav");
}

static void test_bad_flags(void **state)
{
    (void)state;
    const char *p = "recur train asr:";
    test_expect_cli_error(dir, "train asr --out x.model", p, "--data");
    test_expect_cli_error(dir, "train asr --data rec --mode tree --out x.model", p, "--mode");
    test_expect_cli_error(dir, "train asr --data rec --mode classify --connected --out x.model", p,
                          "--connected");
    test_expect_cli_error(dir, "train asr --data rec --hold-out zed --out x.model", p, "zed");
    test_expect_cli_error(dir, "train asr --data rec --valid-index 2-3 --out x.model", p, "--valid-index");
    test_expect_cli_error(dir, "train asr --data rec --valid-index 50-60 --out x.model", p, "validation");
    test_expect_cli_error(dir, "train asr --data rec --subsample 0 --out x.model", p, "--subsample");
    test_expect_cli_error(dir, "train asr --data rec --min-digits 5 --max-digits 3 --out x.model", p,
                          "--min-digits");
    test_expect_cli_error(dir, "train asr --data rec --speed 0.9 --out x.model", p, "--speed");
    test_expect_cli_error(dir, "train asr --data rec --norm none --out x.model", p, "--norm");
    test_expect_cli_error(dir, "train asr --data other/nothing --out x.model", p, "nothing");
    test_expect_cli_error(dir, "train asr --data . --out x.model", p, "no recordings");
    test_expect_cli_error(dir, "transcribe", "recur transcribe:", "model");
    test_expect_cli_error(dir, "transcribe rec/3_amy_0.wav rec/3_amy_1.wav", "recur transcribe:",
                          "3_amy_0.wav");
    /* A resumed run keeps its checkpoint's model, features and data sets: a
     * contradicting flag is refused by name, the same value is fine. */
    char err[4096];
    if (test_run_recur(dir, ISO "--mode classify --steps 2 --out r.model", err, sizeof err))
        fail_msg("train: %s", err);
    static const test_cli_error_case refused[] = {
        {"--hidden 8 --steps 3",
         "--hidden 8 contradicts the checkpoint r.model.ckpt, which was trained with "
         "--hidden 12: a resumed run keeps its checkpoint's model; drop --hidden"},
        {"--mode ctc", "--mode ctc contradicts"},
        {"--one-direction",
         "--one-direction contradicts the checkpoint r.model.ckpt, which was trained without it"},
        {"--subsample 3", "--subsample 3 contradicts"},
        {"--n-mfcc 12", "--n-mfcc 12 contradicts"},
        {"--valid-index 4-4", "--valid-index 4-4 contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train asr --resume r.model.ckpt", p, refused);
    if (test_run_recur(dir,
                       "train asr --resume r.model.ckpt --hidden 12 --cell gru --mode classify "
                       "--subsample 2 --lr 0.005 --steps 3",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

TEST_GROUP(asr_group, "asr", cmocka_unit_test(test_parse_name),
           cmocka_unit_test(test_edit_distance_and_scores), cmocka_unit_test(test_roles),
           cmocka_unit_test(test_connected_utterances), cmocka_unit_test(test_feature_stacking),
           cmocka_unit_test(test_model_gradients), cmocka_unit_test(test_padding_invariance),
           cmocka_unit_test_setup_teardown(test_train_eval_transcribe, setup, teardown),
           cmocka_unit_test_setup_teardown(test_connected_and_held_out, setup, teardown),
           cmocka_unit_test_setup_teardown(test_bad_audio, setup, teardown),
           cmocka_unit_test_setup_teardown(test_bad_flags, setup, teardown));
