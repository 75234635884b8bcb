/* test_music.c - the music task: batches (padding and masks), the
 * frame-level NLL against a piece-by-piece computation for every cell
 * and batch size, and through the recur command: training that learns a
 * chord progression, exact --resume, eval, compose (the MIDI file read
 * back by our reader and by python3-mido with the same notes as the
 * generated roll, the picture, same seed same piece), and one-line
 * errors for bad input. */
#include "test.h"

#include "../src/tasks/music.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K RC_PIANO_KEYS

static char *dir;

/* A tiny data set with something to learn: pieces that walk round the
 * progression C F G C (triads, each held 1-3 frames), some transposed up
 * a tone, with a bass note. */
static void write_piece(FILE *f, rc_rng *r)
{
    static const int roots[4] = {60, 65, 67, 60};
    int shift = rc_rng_u32(r) % 2 ? 2 : 0, bars = 2 + (int)(rc_rng_u32(r) % 4), first = 1;
    fputc('[', f);
    for (int b = 0; b < bars; b++)
        for (int c = 0; c < 4; c++) {
            int root = roots[c] + shift, hold = 1 + (int)(rc_rng_u32(r) % 3);
            for (int h = 0; h < hold; h++) {
                fprintf(f, "%s[%d,%d,%d,%d]", first ? "" : ",", root - 12, root, root + 4,
                        root + 7);
                first = 0;
            }
        }
    fputc(']', f);
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("music"))) return -1;
    FILE *f = fopen(test_path(dir, "chords.json"), "w");
    if (!f) return -1;
    rc_rng r;
    rc_rng_init(&r, 11);
    const char *splits[3] = {"train", "valid", "test"};
    const int counts[3] = {24, 6, 6};
    fputc('{', f);
    for (int s = 0; s < 3; s++) {
        fprintf(f, "%s\"%s\": [", s ? ", " : "", splits[s]);
        for (int i = 0; i < counts[s]; i++) {
            if (i) fputc(',', f);
            write_piece(f, &r);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove(dir);
}

/* ---- batches ---- */

static void test_batch_fill(void **state)
{
    (void)state;
    const char *text = "[[[60],[61]], [[21],[22],[23],[24],[108]], [[],[40,41],[]], [[50]]]";
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_parse(text, strlen(text), NULL, &r), RC_OK);
    mu_batch b = {0};
    int ids[3] = {1, 0, 2};
    assert_int_equal(mu_batch_fill(&b, &r, ids, 3), 0);
    assert_int_equal(b.T, 4);
    assert_int_equal(b.B, 3);
    assert_int_equal(b.lengths[0], 4);
    assert_int_equal(b.lengths[1], 1);
    assert_int_equal(b.lengths[2], 2);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 3; i++) {
            float want = t < b.lengths[i] ? 1.0f : 0.0f;
            assert_true(b.mask[t * 3 + i] == want);
            if (want == 0.0f) /* padding is silent */
                for (int k = 0; k < K; k++)
                    assert_true(b.x[(t * 3 + i) * K + k] == 0 && b.y[(t * 3 + i) * K + k] == 0);
        }
    /* piece 1, step 3: input frame 3 (note 24), target frame 4 (note 108) */
    for (int k = 0; k < K; k++) {
        assert_true(b.x[(3 * 3 + 0) * K + k] == (k == 24 - 21));
        assert_true(b.y[(3 * 3 + 0) * K + k] == (k == 108 - 21));
    }
    /* piece 0: 60 -> 61; piece 2: silence -> 40, 41 -> silence */
    assert_true(b.x[(0 * 3 + 1) * K + 39] == 1 && b.y[(0 * 3 + 1) * K + 40] == 1);
    float sum = 0;
    for (int k = 0; k < K; k++) sum += b.x[(0 * 3 + 2) * K + k] + b.y[(1 * 3 + 2) * K + k];
    assert_true(sum == 0);
    assert_true(b.y[(0 * 3 + 2) * K + 19] == 1 && b.y[(0 * 3 + 2) * K + 20] == 1);
    /* a smaller batch reuses the buffers */
    int one[1] = {0};
    assert_int_equal(mu_batch_fill(&b, &r, one, 1), 0);
    assert_int_equal(b.T, 1);
    mu_batch_free(&b);
    rc_pianorolls_free(&r);
}

/* The NLL of each piece on its own, in double, from the model's logits:
 * the reference for mu_evaluate. */
static double nll_by_piece(mu_model *m, const rc_pianorolls *r, size_t *frames)
{
    rc_tape *t = rc_tape_new();
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    double sum = 0;
    *frames = 0;
    for (int p = 0; p < r->n_pieces; p++) {
        int L = r->n_steps[p];
        if (L < 2) continue;
        const uint8_t *f = r->frames + r->start[p] * K;
        float *x = malloc((size_t)(L - 1) * K * sizeof *x);
        for (int i = 0; i < (L - 1) * K; i++) x[i] = f[i];
        rc_tape_reset(t);
        int xs[3] = {L - 1, 1, K};
        rc_var *y, *hn, *cn = NULL;
        assert_int_equal(rc_rnn_forward(t, m->rnn, rc_input(t, 3, xs, x), NULL, NULL, NULL, &y,
                                        &hn, &cn),
                         RC_OK);
        rc_var *z = rc_linear_forward(t, &m->head, y);
        assert_non_null(z);
        for (int s = 0; s < L - 1; s++)
            for (int k = 0; k < K; k++) {
                double p1 = 1 / (1 + exp(-(double)z->value.data[s * K + k]));
                sum -= f[(size_t)(s + 1) * K + k] ? log(p1) : log(1 - p1);
            }
        *frames += (size_t)L - 1;
        free(x);
    }
    rc_tape_free(t);
    return sum / (double)*frames;
}

static void test_evaluate_matches_piece_by_piece(void **state)
{
    (void)state;
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_read(test_path(dir, "chords.json"), "train", &r), RC_OK);
    /* a piece of one step cannot be scored: make piece 3 one step long */
    r.n_steps[3] = 1;
    const rc_cell_kind cells[3] = {RC_CELL_RNN_TANH, RC_CELL_LSTM, RC_CELL_GRU};
    for (int c = 0; c < 3; c++) {
        mu_config cfg = {cells[c], 12, c == 1 ? 2 : 1, 0.0f, 1, 0.0f};
        mu_model m;
        assert_int_equal(mu_model_init(&m, &cfg, 40 + (uint64_t)c), 0);
        size_t want_frames, frames;
        double want = nll_by_piece(&m, &r, &want_frames);
        const int batches[4] = {1, 3, 7, 100};
        for (int i = 0; i < 4; i++) {
            double got = mu_evaluate(&m, &r, batches[i], &frames);
            assert_int_equal(frames, want_frames);
            if (fabs(got - want) > 1e-4 * want)
                fail_msg("cell %d batch %d: NLL %.6f, piece by piece %.6f", c, batches[i], got,
                         want);
        }
        /* an untrained model is near 88 log 2 = 61 nats a frame */
        assert_true(want > 40 && want < 80);
        mu_model_free(&m);
    }
    rc_pianorolls_free(&r);
}

/* --input-dropout hides input keys in training only: no rng (evaluation)
 * gives the loss of the same weights without it; with one the loss moves,
 * and the batch's frames are left as they were. */
static void test_input_dropout(void **state)
{
    (void)state;
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_read(test_path(dir, "chords.json"), "train", &r), RC_OK);
    mu_batch b = {0};
    int ids[3] = {0, 1, 2};
    assert_int_equal(mu_batch_fill(&b, &r, ids, 3), 0);
    size_t n = (size_t)b.T * (size_t)b.B * K;
    float *x0 = malloc(n * sizeof *x0);
    assert_non_null(x0);
    memcpy(x0, b.x, n * sizeof *x0);
    mu_config plain = {RC_CELL_LSTM, 12, 1, 0.0f, 1, 0.0f}, hidden = plain;
    hidden.input_dropout = 0.5f;
    mu_model a, m;
    assert_int_equal(mu_model_init(&a, &plain, 7), 0);
    assert_int_equal(mu_model_init(&m, &hidden, 7), 0);
    rc_tape *t = rc_tape_new();
    rc_var *l = mu_batch_loss(t, &a, &b, NULL);
    assert_non_null(l);
    float want = l->value.data[0];
    rc_tape_reset(t);
    l = mu_batch_loss(t, &m, &b, NULL);
    assert_non_null(l);
    assert_true(l->value.data[0] == want);
    rc_rng drop;
    rc_rng_init(&drop, 3);
    rc_tape_reset(t);
    l = mu_batch_loss(t, &m, &b, &drop);
    assert_non_null(l);
    if (!(fabsf(l->value.data[0] - want) > 1e-3f))
        fail_msg("input dropout left the loss at %g", (double)want);
    assert_memory_equal(b.x, x0, n * sizeof *x0);
    rc_tape_free(t);
    mu_model_free(&a);
    mu_model_free(&m);
    mu_batch_free(&b);
    free(x0);
    rc_pianorolls_free(&r);
}

/* ---- the command ---- */

static double json_number(const char *file, const char *key)
{
    char *out = test_slurp(dir, file);
    assert_non_null(out);
    const char *p = strstr(out, key);
    if (!p) fail_msg("no %s in [%s]", key, out);
    double v = atof(p + strlen(key));
    free(out);
    return v;
}

#define TRAIN "train music --data chords.json --hidden 24 --batch 4 --lr 0.01 --quiet "

static void test_train_eval_resume(void **state)
{
    (void)state;
    char err[4096];
    const char *cells[3] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++) {
        char args[512];
        snprintf(args, sizeof args, TRAIN "--cell %s --steps 60 --eval-every 30 --out %s.model",
                 cells[c], cells[c]);
        if (test_run_recur(dir, args, err, sizeof err)) fail_msg("%s: %s", args, err);
        snprintf(args, sizeof args, "eval %s.model chords.json --json", cells[c]);
        if (test_run_recur(dir, args, err, sizeof err)) fail_msg("%s: %s", args, err);
        double nll = json_number("out.txt", "\"nll\":");
        /* from ~61 nats (88 coin flips) to far less: the progression is learnt */
        if (!(nll > 0 && nll < 12)) fail_msg("%s: test NLL %g", cells[c], nll);
        assert_true(json_number("out.txt", "\"frames\":") > 100);
    }
    /* the plain report names the split and the unit */
    assert_int_equal(test_run_recur(dir, "eval gru.model chords.json --split valid", err,
                                    sizeof err), 0);
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "(valid): 6 pieces"));
    assert_non_null(strstr(out, "nats per frame"));
    free(out);
    assert_int_equal(access(test_path(dir, "gru.model.loss.png"), R_OK), 0);

    /* 16 steps straight, or 8 then --resume to 16: the same losses */
    if (test_run_recur(dir, TRAIN "--cell lstm --dropout 0.2 --input-dropout 0.2 --steps 16 "
                                  "--eval-every 4 --out a.model --log a.csv", err, sizeof err))
        fail_msg("%s", err);
    if (test_run_recur(dir, TRAIN "--cell lstm --dropout 0.2 --input-dropout 0.2 --steps 8 "
                                  "--eval-every 4 --out b.model --log b.csv", err, sizeof err))
        fail_msg("%s", err);
    if (test_run_recur(dir, "train music --resume b.model.ckpt --steps 16 --quiet", err,
                       sizeof err))
        fail_msg("resume: %s", err);
    static char a[16][32], b[16][32];
    assert_int_equal(test_read_losses(dir, "a.csv", a, 16), 16);
    assert_int_equal(test_read_losses(dir, "b.csv", b, 16), 16);
    for (int i = 0; i < 16; i++)
        if (strcmp(a[i], b[i])) fail_msg("step %d: %s straight, %s resumed", i + 1, a[i], b[i]);
    /* A resumed run keeps its checkpoint's model: a contradicting flag is
     * refused by name, the same value (or a new --lr, --steps) is fine. */
    static const test_cli_error_case refused[] = {
        {"--hidden 12 --steps 18",
         "--hidden 12 contradicts the checkpoint b.model.ckpt, which was trained with "
         "--hidden 24: a resumed run keeps its checkpoint's model; drop --hidden"},
        {"--cell gru", "--cell gru contradicts"},
        {"--layers 2", "--layers 2 contradicts"},
        {"--steps-per-beat 2", "--steps-per-beat 2 contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train music --resume b.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train music --resume b.model.ckpt --hidden 24 --cell lstm --lr 0.005 "
                       "--steps 18 --quiet",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

/* File f in dir, opened (the test fails if it cannot be read). */
static rc_safetensors *open_file(const char *f)
{
    rc_safetensors *st;
    if (rc_safetensors_open(test_path(dir, f), &st) != RC_OK) fail_msg("%s", rc_last_error());
    return st;
}

/* Tensor `name` of st, or tensor "ema/name" when ema (the test fails if
 * it is missing). */
static rc_tensor file_tensor(const rc_safetensors *st, const char *name, int ema)
{
    char k[64];
    snprintf(k, sizeof k, "%s%s", ema ? "ema/" : "", name);
    rc_tensor t;
    if (rc_safetensors_get(st, k, &t) != RC_OK)
        fail_msg("%s: %s", rc_safetensors_path(st), rc_last_error());
    return t;
}

/* --ema: the model file holds the weights' moving average, which follows
 * avg = d avg + (1 - d) w after each step (d = min(decay, (1 + s) / (10 + s))
 * at step s from 0); the checkpoint keeps it, so that --resume continues
 * it exactly. */
static void test_ema(void **state)
{
    (void)state;
    char err[4096];
    /* w0: the initial weights (an lr of 1e-30 leaves them as they are) */
    if (test_run_recur(dir, TRAIN "--steps 1 --lr 1e-30 --out w0.model", err, sizeof err))
        fail_msg("%s", err);
    if (test_run_recur(dir, TRAIN "--steps 1 --ema 0.9 --out m1.model", err, sizeof err))
        fail_msg("%s", err);
    const char *names[] = {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_hh_l0",
                           "head.weight", "head.bias"};
    rc_safetensors *w0f = open_file("w0.model.ckpt"), *m1f = open_file("m1.model.ckpt"),
                   *m1model = open_file("m1.model");
    for (int i = 0; i < 5; i++) {
        rc_tensor w0 = file_tensor(w0f, names[i], 0);
        rc_tensor w1 = file_tensor(m1f, names[i], 0);
        rc_tensor avg = file_tensor(m1f, names[i], 1);
        rc_tensor saved = file_tensor(m1model, names[i], 0);
        assert_int_equal(w0.size, w1.size);
        assert_int_equal(avg.size, w1.size);
        assert_int_equal(saved.size, w1.size);
        int moved = 0;
        for (size_t j = 0; j < w1.size; j++) {
            /* step 0: d = 1/10 */
            float want = 0.1f * w0.data[j] + 0.9f * w1.data[j];
            if (fabsf(avg.data[j] - want) > 1e-6f)
                fail_msg("%s[%zu]: average %g, want %g", names[i], j, (double)avg.data[j],
                         (double)want);
            if (saved.data[j] != avg.data[j])
                fail_msg("%s[%zu]: the model file has %g, the average is %g", names[i], j,
                         (double)saved.data[j], (double)avg.data[j]);
            moved |= w1.data[j] != w0.data[j] && avg.data[j] != w1.data[j];
        }
        assert_true(moved);
        rc_tensor_free(&w0), rc_tensor_free(&w1), rc_tensor_free(&avg), rc_tensor_free(&saved);
    }
    rc_safetensors_close(w0f), rc_safetensors_close(m1f), rc_safetensors_close(m1model);
    /* 12 steps straight, or 6 and --resume to 12: the same average. */
    if (test_run_recur(dir, TRAIN "--steps 12 --eval-every 3 --ema 0.8 --dropout 0.2 "
                                  "--out e1.model", err, sizeof err) ||
        test_run_recur(dir, TRAIN "--steps 6 --eval-every 3 --ema 0.8 --dropout 0.2 "
                                  "--out e2.model", err, sizeof err) ||
        test_run_recur(dir, "train music --resume e2.model.ckpt --steps 12 --quiet", err,
                       sizeof err))
        fail_msg("%s", err);
    rc_safetensors *e1f = open_file("e1.model.ckpt"), *e2f = open_file("e2.model.ckpt");
    for (int i = 0; i < 5; i++) {
        rc_tensor a = file_tensor(e1f, names[i], 1);
        rc_tensor b = file_tensor(e2f, names[i], 1);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(a.data, b.data, a.size * sizeof(float));
        rc_tensor_free(&a), rc_tensor_free(&b);
    }
    rc_safetensors_close(e1f), rc_safetensors_close(e2f);
    test_expect_cli_error(dir, TRAIN "--steps 1 --ema 1 --out x.model", "recur ",
                          "--ema must be 0 (off) or in (0, 1)");
    test_expect_cli_error(dir, TRAIN "--steps 1 --ema -0.5 --out x.model", "recur ",
                          "--ema must be 0 (off) or in (0, 1)");
}

/* The notes of a roll, one "step key" pair a line, for comparisons. */
static void compare_rolls(const rc_pianorolls *x, const rc_pianorolls *y)
{
    assert_int_equal(x->n_pieces, 1);
    assert_int_equal(y->n_pieces, 1);
    /* a MIDI file ends with its last note: trailing silence is not kept */
    int n = x->n_steps[0] < y->n_steps[0] ? x->n_steps[0] : y->n_steps[0];
    assert_memory_equal(x->frames, y->frames, (size_t)n * K);
    const rc_pianorolls *longer = x->n_steps[0] > y->n_steps[0] ? x : y;
    for (size_t i = (size_t)n * K; i < (size_t)longer->n_steps[0] * K; i++)
        assert_int_equal(longer->frames[i], 0);
}

static void test_compose(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, TRAIN "--cell gru --hidden 32 --steps 200 --eval-every 100 "
                                  "--out c.model", err, sizeof err))
        fail_msg("%s", err);
    const char *args = "compose c.model --out a.mid --length 40 --temperature 0.5 --seed 3 "
                       "--prime chords.json --prime-piece 2 --prime-steps 6 --roll a.json "
                       "--tempo 90 --steps-per-beat 2";
    if (test_run_recur(dir, args, err, sizeof err)) fail_msg("%s: %s", args, err);
    assert_non_null(strstr(err, "46 frames (6 primed"));
    assert_int_equal(access(test_path(dir, "a.png"), R_OK), 0);

    /* the roll, the MIDI file read back, and the prime */
    rc_pianorolls roll, mid, src;
    assert_int_equal(rc_pianoroll_read(test_path(dir, "a.json"), NULL, &roll), RC_OK);
    assert_int_equal(roll.n_steps[0], 46);
    double bpm = 0;
    if (rc_midi_read(test_path(dir, "a.mid"), 2, &mid, &bpm, NULL)) fail_msg("%s", rc_last_error());
    assert_true(fabs(bpm - 90) < 1e-3);
    compare_rolls(&roll, &mid);
    assert_int_equal(rc_pianoroll_read(test_path(dir, "chords.json"), "test", &src), RC_OK);
    assert_memory_equal(roll.frames, src.frames + src.start[1] * K, 6 * K);
    /* the model learnt the chords: most generated frames hold 3-5 notes
     * (an untrained one sounds ~44 keys a frame) */
    int chordal = 0;
    for (int s = 6; s < 46; s++) {
        int c = 0;
        for (int k = 0; k < K; k++) c += roll.frames[s * K + k];
        chordal += c >= 3 && c <= 5;
    }
    if (chordal < 25) fail_msg("%d of 40 generated frames hold 3-5 notes", chordal);
    rc_pianorolls_free(&src);
    rc_pianorolls_free(&mid);

    /* the same seed: the same file; another seed: another piece */
    char *m1 = test_slurp(dir, "a.json");
    assert_int_equal(test_run_recur(dir, args, err, sizeof err), 0);
    char *m2 = test_slurp(dir, "a.json");
    assert_string_equal(m1, m2);
    assert_int_equal(test_run_recur(dir, "compose c.model --out b.mid --length 40 --seed 4 "
                                         "--roll b.json --png b-roll.png --quiet",
                                    err, sizeof err),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(access(test_path(dir, "b-roll.png"), R_OK), 0);
    rc_pianorolls other;
    assert_int_equal(rc_pianoroll_read(test_path(dir, "b.json"), NULL, &other), RC_OK);
    assert_int_equal(other.n_steps[0], 40);
    char *m3 = test_slurp(dir, "b.json");
    assert_string_not_equal(m1, m3);
    free(m3);
    free(m1);
    free(m2);
    rc_pianorolls_free(&other);

    /* mido, when installed, reads the same notes: every (step, key) that
     * sounds, from its note-on and note-off times */
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import mido' >/dev/null 2>&1") != 0) {
        rc_pianorolls_free(&roll);
        TEST_SKIP();
    }
    const char *py =
        "import mido,sys\n"
        "f=mido.MidiFile(sys.argv[1])\n"
        "step=f.ticks_per_beat//2\n"
        "on={};out=set();t=0\n"
        "for m in mido.merge_tracks(f.tracks):\n"
        "    t+=m.time\n"
        "    if m.type=='note_on' and m.velocity>0: on[m.note]=t\n"
        "    elif m.type in('note_on','note_off'):\n"
        "        for s in range(on.pop(m.note)//step,t//step): out.add((s,m.note))\n"
        "assert not on\n"
        "for s,n in sorted(out): print(s,n)\n";
    test_write_file(dir, "notes.py", py, strlen(py));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' > '%s'", test_path(dir, "notes.py"),
             test_path(dir, "a.mid"), test_path(dir, "mido.txt"));
    assert_int_equal(system(cmd), 0);
    char want[65536] = "", line[32];
    size_t used = 0;
    for (int s = 0; s < 46; s++)
        for (int k = 0; k < K; k++)
            if (roll.frames[s * K + k]) {
                snprintf(line, sizeof line, "%d %d\n", s, k + RC_PIANO_LOW);
                memcpy(want + used, line, strlen(line) + 1);
                used += strlen(line);
            }
    char *got = test_slurp(dir, "mido.txt");
    assert_non_null(got);
    assert_true(used > 100);
    assert_string_equal(got, want);
    free(got);
    rc_pianorolls_free(&roll);
}

static void test_errors(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, TRAIN "--steps 2 --out e.model", err, sizeof err)) fail_msg("%s", err);
    test_write_file(dir, "bad.json", "{\"train\": [[[60, 64]], [[61],]]}", 32);
    test_expect_cli_error(dir, TRAIN "--steps 2 --data bad.json --out x.model",
                          "recur train music: ", "bad.json: byte 29");
    test_write_file(dir, "range.json", "{\"train\": [[[60], [120]]], \"valid\": [[[60]]]}", 45);
    test_expect_cli_error(dir, TRAIN "--steps 2 --data range.json --out x.model",
                          "recur train music: ", "piece 1 of train, step 2: note 120 out of range");
    test_expect_cli_error(dir, TRAIN "--steps 2 --data chords.json --valid-split dev --out x.model",
                          "recur train music: ", "no key \"dev\"");
    test_write_file(dir, "short.json", "{\"train\": [[[60]]], \"valid\": [[[60],[62]]]}", 43);
    test_expect_cli_error(dir, TRAIN "--steps 2 --data short.json --out x.model",
                          "recur train music: ", "no training piece has 2 steps");
    test_expect_cli_error(dir, TRAIN "--steps 2 --bidirectional --out x.model",
                          "recur train music: ", "--bidirectional");
    test_expect_cli_error(dir, TRAIN "--steps 2 --input-dropout 1 --out x.model",
                          "recur train music: ", "--input-dropout");
    test_expect_cli_error(dir, TRAIN "--steps 2 --steps-per-beat 0 --out x.model",
                          "recur train music: ", "--steps-per-beat");

    /* eval: bad data, a truncated MIDI file, a MIDI file without notes */
    test_expect_cli_error(dir, "eval e.model bad.json --split train", "recur eval: ", "byte 29");
    const unsigned char cut[] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96,
                                 'M', 'T', 'r', 'k', 0, 0, 0, 20, 0, 0x90, 60};
    test_write_file(dir, "cut.mid", cut, sizeof cut);
    test_expect_cli_error(dir, "eval e.model cut.mid", "recur eval: ", "cut.mid: byte 18");
    const unsigned char silent[] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96,
                                    'M', 'T', 'r', 'k', 0, 0, 0, 4, 0, 0xff, 0x2f, 0};
    test_write_file(dir, "silent.mid", silent, sizeof silent);
    test_expect_cli_error(dir, "eval e.model silent.mid", "recur eval: ", "no notes in 21-108");
    test_expect_cli_error(dir, "eval e.model short.json --split train", "recur eval: ",
                          "no piece has 2 steps");
    test_expect_cli_error(dir, "eval missing.model chords.json", "recur eval: ", "missing.model");

    /* compose */
    test_expect_cli_error(dir, "compose e.model", "recur compose: ", "--out");
    test_expect_cli_error(dir, "compose e.model --out x.mid --temperature 0", "recur compose: ",
                          "--temperature");
    test_expect_cli_error(dir, "compose e.model --out x.mid --length 0", "recur compose: ",
                          "--length");
    test_expect_cli_error(dir, "compose e.model --out x.mid --tempo 2000", "recur compose: ",
                          "--tempo");
    test_expect_cli_error(dir, "compose e.model --out x.mid --prime cut.mid", "recur compose: ",
                          "runs past the end");
    test_expect_cli_error(dir, "compose e.model --out x.mid --prime silent.mid",
                          "recur compose: ", "no notes");
    test_expect_cli_error(dir, "compose e.model --out x.mid --prime chords.json --prime-piece 99",
                          "recur compose: ", "has 6 pieces");
    test_expect_cli_error(dir, "compose e.model.ckpt.missing --out x.mid", "recur compose: ",
                          "missing");
    /* --wav: fluidsynth missing, or the soundfont missing, said up front */
    test_expect_cli_error(dir, "compose e.model --out x.mid --wav x.wav --soundfont none.sf2",
                          "recur compose: ", "apt-get install");
    assert_int_equal(access(test_path(dir, "x.mid"), F_OK), -1);
}

/* Training on the user's own MIDI files: a directory of them. */
static void test_train_on_midi_files(void **state)
{
    (void)state;
    char err[4096];
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/midi", dir);
    char mk[1100];
    snprintf(mk, sizeof mk, "mkdir -p '%s' '%s/empty'", sub, dir);
    assert_int_equal(system(mk), 0);
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_read(test_path(dir, "chords.json"), "train", &r), RC_OK);
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "midi/p%d.mid", i);
        assert_int_equal(rc_midi_write(test_path(dir, name), r.frames + r.start[i] * K,
                                       r.n_steps[i], 120, 2),
                         RC_OK);
    }
    test_write_file(sub, "notes.txt", "not midi", 8); /* ignored: not .mid */
    if (test_run_recur(dir, "train music --data midi --valid midi/p0.mid --steps-per-beat 2 "
                            "--hidden 8 --batch 2 --steps 3 --json --quiet --out d.model",
                       err, sizeof err))
        fail_msg("%s", err);
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "\"steps\":3"));
    free(out);
    /* eval on the directory: its 5 pieces, quantised at the model's 2 steps a beat */
    assert_int_equal(test_run_recur(dir, "eval d.model midi --json", err, sizeof err), 0);
    size_t frames = 0;
    for (int i = 0; i < 5; i++) frames += (size_t)r.n_steps[i] - 1;
    assert_int_equal((size_t)json_number("out.txt", "\"frames\":"), frames);
    assert_int_equal((int)json_number("out.txt", "\"pieces\":"), 5);
    rc_pianorolls_free(&r);
    test_expect_cli_error(dir, "train music --data midi --steps 2 --out x.model",
                          "recur train music: ", "give --valid");
    test_expect_cli_error(dir, "train music --data empty --valid midi --steps 2 --out x.model",
                          "recur train music: ", "no .mid or .midi file");
}

/* --wav through fluidsynth and a General MIDI soundfont, when installed. */
static void test_compose_wav(void **state)
{
    (void)state;
    if (system("command -v fluidsynth >/dev/null 2>&1") != 0 ||
        access("/usr/share/sounds/sf2/FluidR3_GM.sf2", R_OK) != 0)
        TEST_SKIP();
    char err[4096];
    if (test_run_recur(dir, TRAIN "--steps 2 --out w.model", err, sizeof err)) fail_msg("%s", err);
    if (test_run_recur(dir, "compose w.model --out w.mid --length 8 --wav w.wav --quiet", err,
                       sizeof err))
        fail_msg("%s", err);
    char *wav = test_slurp(dir, "w.wav");
    assert_non_null(wav);
    assert_memory_equal(wav, "RIFF", 4);
    free(wav);
}

TEST_GROUP(music, "music", cmocka_unit_test(test_batch_fill),
           cmocka_unit_test_setup_teardown(test_evaluate_matches_piece_by_piece, setup, teardown),
           cmocka_unit_test_setup_teardown(test_input_dropout, setup, teardown),
           cmocka_unit_test_setup_teardown(test_train_eval_resume, setup, teardown),
           cmocka_unit_test_setup_teardown(test_ema, setup, teardown),
           cmocka_unit_test_setup_teardown(test_compose, setup, teardown),
           cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
           cmocka_unit_test_setup_teardown(test_train_on_midi_files, setup, teardown),
           cmocka_unit_test_setup_teardown(test_compose_wav, setup, teardown));
