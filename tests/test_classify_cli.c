/* test_classify_cli.c - the sequence-classification recipes through the
 * recur command, on small generated data sets with a clear signal: SST
 * trees (train, exact resume, eval, classify on words and trees), splice
 * junctions (k-fold cross-validation, the published table, classify on
 * sequences), skeletons (cross-subject, classify on files), and one-line
 * errors for bad flags and malformed input. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dir;

/* ---- generated data ---- */

/* A right-branching tree over the words with every inner node labelled
 * like the root and the leaves neutral: (L (2 w1) (L (2 w2) (2 w3))). */
static void write_tree(FILE *f, int label, const char **w, int n)
{
    for (int i = 0; i < n - 1; i++) fprintf(f, "(%d (2 %s) ", label, w[i]);
    fprintf(f, "(2 %s)", w[n - 1]);
    for (int i = 0; i < n - 1; i++) fputc(')', f);
    fputc('\n', f);
}

/* Sentences of filler words with one sentiment word; labels 0..4 by the
 * word (neutral sentences have none). */
static void write_sst(const char *name, int n, uint64_t seed)
{
    static const char *fill[] = {"the", "film", "is", "a", "story", "of", "it", "and", "plot"};
    static const char *senti[5][2] = {{"awful", "dreadful"}, {"bad", "dull"}, {"", ""},
                                      {"good", "nice"}, {"great", "superb"}};
    FILE *f = fopen(test_path(dir, name), "w");
    assert_non_null(f);
    rc_rng r;
    rc_rng_init(&r, seed);
    for (int i = 0; i < n; i++) {
        int label = (int)(rc_rng_u32(&r) % 5), len = 3 + (int)(rc_rng_u32(&r) % 8);
        const char *w[16];
        for (int k = 0; k < len; k++) w[k] = fill[rc_rng_u32(&r) % 9];
        if (label != 2) w[rc_rng_u32(&r) % len] = senti[label][rc_rng_u32(&r) % 2];
        write_tree(f, label, w, len);
    }
    fclose(f);
}

/* EI sequences have G at 25..34, IE have T there, N are random. */
static void write_splice(const char *name, int n)
{
    FILE *f = fopen(test_path(dir, name), "w");
    assert_non_null(f);
    rc_rng r;
    rc_rng_init(&r, 11);
    const char *cls[3] = {"EI", "IE", "N"};
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        char s[61];
        for (int j = 0; j < 60; j++) s[j] = "ACGT"[rc_rng_u32(&r) % 4];
        if (k < 2)
            for (int j = 25; j < 35; j++) s[j] = k == 0 ? 'G' : 'T';
        if (i % 17 == 0) s[3] = 'N'; /* an ambiguity code now and then */
        s[60] = '\0';
        fprintf(f, "%s, SEQ-%d,  %s\n", cls[k], i, s);
    }
    fclose(f);
}

/* Skeleton files of actions 1 and 2 for subjects 1..4: joint 11 moves up
 * (action 1) or sideways (action 2) over 8..14 frames. */
static void write_skeletons(void)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/skel", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    rc_rng r;
    rc_rng_init(&r, 5);
    float base[RC_SKEL_JOINTS][3];
    for (int j = 0; j < RC_SKEL_JOINTS; j++)
        for (int k = 0; k < 3; k++) base[j][k] = rc_rng_uniform(&r) - 0.5f;
    for (int a = 1; a <= 2; a++)
        for (int s = 1; s <= 4; s++)
            for (int e = 1; e <= 3; e++) {
                char name[600];
                snprintf(name, sizeof name, "%s/a%02d_s%02d_e%02d_skeleton3D.txt", sub, a, s, e);
                FILE *f = fopen(name, "w");
                assert_non_null(f);
                int frames = 8 + (int)(rc_rng_u32(&r) % 7);
                for (int t = 0; t < frames; t++)
                    for (int j = 0; j < RC_SKEL_JOINTS; j++) {
                        float p[3];
                        for (int k = 0; k < 3; k++)
                            p[k] = base[j][k] * (1 + 0.1f * s) + 0.02f * (rc_rng_uniform(&r) - 0.5f);
                        if (j == 11) p[a == 1 ? 1 : 0] += 0.1f * (float)t;
                        fprintf(f, "%.4f %.4f %.4f 1\n", p[0], p[1], p[2]);
                    }
                fclose(f);
            }
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("classify"))) return -1;
    char sst[512];
    snprintf(sst, sizeof sst, "%s/sst", dir);
    if (mkdir(sst, 0700)) return -1;
    write_sst("sst/train.txt", 400, 1);
    write_sst("sst/dev.txt", 60, 2);
    write_sst("sst/test.txt", 100, 3);
    write_splice("splice.data", 150);
    write_skeletons();
    return 0;
}

static int teardown(void **state) { return test_tmpdir_remove(dir); }

/* The number after "key": in a JSON line. */
static double json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(s, k);
    if (!p) fail_msg("no %s in [%s]", key, s);
    return atof(p + strlen(k));
}

/* ---- tests ---- */

#define SST_ARGS                                                                            \
    "train classify --data-format sst --data sst --labels fine --hidden 16 --embed 12 "     \
    "--bidirectional --batch 16 --lr 0.01 --lowercase --word-dropout 0.1 --threads 1 --quiet"

static void expect_error(const char *args, const char *want);

static void test_sst_train_resume_eval_classify(void **state)
{
    (void)state;
    char err[4096];
    /* 400 sentences, batch 16: 25 steps an epoch. */
    if (test_run_recur(dir, SST_ARGS " --epochs 6 --out a.model --log a.csv --json", err,
                       sizeof err))
        fail_msg("training failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(out);
    double acc = json_num(out, "accuracy");
    free(out);
    /* Chance is 20%; the sentiment word gives the class away. */
    if (!(acc > 0.8)) fail_msg("SST test accuracy %.3f", acc);
    out = test_slurp(dir, "a.model.confusion.png");
    assert_non_null(out);
    free(out);

    /* Stopped after 3 epochs and resumed to 6: the same losses, step for
     * step (word dropout included). */
    if (test_run_recur(dir, SST_ARGS " --epochs 3 --out b.model --log b.csv", err, sizeof err) ||
        test_run_recur(dir, "train classify --resume b.model.ckpt --epochs 6 --quiet", err,
                       sizeof err))
        fail_msg("stopped/resumed run failed: %s", err);
    static char la[150][32], lb[150][32];
    assert_int_equal(test_read_losses(dir, "a.csv", la, 150), 150);
    assert_int_equal(test_read_losses(dir, "b.csv", lb, 150), 150);
    for (int i = 0; i < 150; i++)
        if (strcmp(la[i], lb[i])) fail_msg("step %d: %s vs %s after resume", i + 1, la[i], lb[i]);
    /* A resumed run keeps its checkpoint's model, inputs and classes: a
     * contradicting flag is refused by name, the same value is fine. */
    static const test_cli_error_case refused[] = {
        {"--hidden 8 --epochs 7",
         "--hidden 8 contradicts the checkpoint b.model.ckpt, which was trained with "
         "--hidden 16: a resumed run keeps its checkpoint's model; drop --hidden"},
        {"--embed 8", "--embed 8 contradicts"},
        {"--labels binary", "--labels binary contradicts"},
        {"--pool mean", "--pool mean contradicts"},
        {"--min-freq 2", "--min-freq 2 contradicts"},
        {"--data-format splice", "--data-format splice contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train classify --resume b.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train classify --resume b.model.ckpt --hidden 16 --embed 12 --labels fine "
                       "--bidirectional --lowercase --lr 0.005 --epochs 7 --quiet",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);

    /* eval on the test trees gives the training run's test numbers. */
    if (test_run_recur(dir, "eval a.model sst/test.txt --json", err, sizeof err))
        fail_msg("eval failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_float_equal(json_num(out, "accuracy"), acc, 1e-6);
    assert_true(strstr(out, "\"confusion\":[[") != NULL);
    free(out);
    /* Text output: the matrix printed, and drawn where --confusion says. */
    if (test_run_recur(dir, "eval a.model sst/test.txt --confusion ev.png", err, sizeof err))
        fail_msg("eval --confusion failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "confusion (rows: true class, columns: predicted"));
    assert_non_null(strstr(out, "   4 very-positive"));
    assert_non_null(strstr(out, "confusion matrix drawn in ev.png"));
    free(out);
    out = test_slurp(dir, "ev.png");
    assert_non_null(out);
    assert_true(memcmp(out, "\x89PNG", 4) == 0);
    free(out);
    test_expect_cli_error(dir, "eval a.model sst/test.txt --confusion nodir/ev.png", "recur ",
                          "nodir/ev.png");

    /* classify: plain words and a tree, one output line each. */
    /* The model lower-cases what it reads, as in training. */
    const char in[] = "THE Film is Superb\n\n(0 (2 it) (0 (2 is) (2 DREADFUL)))\nthe plot is bad\n";
    test_write_file(dir, "in.txt", in, sizeof in - 1);
    if (test_run_recur(dir, "classify a.model in.txt", err, sizeof err))
        fail_msg("classify failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_true(strncmp(out, "very-positive\t", 14) == 0);
    char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_true(strncmp(l2, "very-negative\t", 14) == 0);
    assert_true(strncmp(l3, "negative\t", 9) == 0);
    assert_true(strstr(l3, "\tthe plot is bad\n") != NULL);
    double p = atof(strchr(out, '\t') + 1);
    assert_true(p > 0.2 && p <= 1.0);
    free(out);
    if (test_run_recur(dir, "classify a.model in.txt --json", err, sizeof err))
        fail_msg("classify --json failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_true(strstr(out, "\"probabilities\":{\"very-negative\":") != NULL);
    free(out);
}

static void test_sst_binary_drops_neutral(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train classify --data-format sst --data sst --hidden 8 --embed 8 "
                       "--epochs 2 --pool last --threads 1 --quiet --out bin.model --json",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    /* The test file's non-neutral sentences only, two classes. */
    int neutral = 0, all = 0;
    FILE *f = fopen(test_path(dir, "sst/test.txt"), "r");
    char line[512];
    while (fgets(line, sizeof line, f)) all++, neutral += line[1] == '2';
    fclose(f);
    assert_int_equal((int)json_num(out, "sequences"), all - neutral);
    assert_true(strstr(out, "\"classes\":[\"negative\",\"positive\"]") != NULL);
    free(out);
}

/* The sd of the saved embedding table. */
static double embedding_sd(const char *model)
{
    rc_safetensors *st;
    rc_tensor w;
    assert_int_equal(rc_safetensors_open(test_path(dir, model), &st), RC_OK);
    assert_int_equal(rc_safetensors_get(st, "embedding.weight", &w), RC_OK);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < w.size; i++) s += w.data[i], s2 += (double)w.data[i] * w.data[i];
    double n = (double)w.size, sd = sqrt(s2 / n - (s / n) * (s / n));
    rc_tensor_free(&w);
    rc_safetensors_close(st);
    return sd;
}

static void test_sst_embed_init(void **state)
{
    (void)state;
    char err[4096];
    /* One step at a negligible learning rate: the table is still its start. */
    const char *args = "train classify --data-format sst --data sst --hidden 4 --embed 32 "
                       "--steps 1 --lr 1e-12 --threads 1 --quiet --out %s --embed-init %s";
    char a[512];
    snprintf(a, sizeof a, args, "e1.model", "1");
    if (test_run_recur(dir, a, err, sizeof err)) fail_msg("training failed: %s", err);
    snprintf(a, sizeof a, args, "e2.model", "0.1");
    if (test_run_recur(dir, a, err, sizeof err)) fail_msg("training failed: %s", err);
    double sd1 = embedding_sd("e1.model"), sd2 = embedding_sd("e2.model");
    if (!(fabs(sd1 - 1) < 0.05 && fabs(sd2 - 0.1) < 0.005))
        fail_msg("embedding sd %.4f (want 1) and %.4f (want 0.1)", sd1, sd2);
}

static void test_splice_cross_validation(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train classify --data-format splice --data splice.data --folds 3 "
                       "--hidden 12 --bidirectional --cell gru --epochs 25 --lr 0.01 --batch 16 "
                       "--position onehot --threads 1 --quiet --out s.model",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "3-fold cross-validation: mean test accuracy"));
    double acc = atof(strstr(out, "mean test accuracy") + 19);
    if (!(acc > 90)) fail_msg("splice mean accuracy %.2f%%:\n%s", acc, out);
    /* All 150 sequences were tested once; the published rates sit beside ours. */
    assert_non_null(strstr(out, "all test folds together: 150 sequences"));
    assert_non_null(strstr(out, "KBANN                     4.62    7.56    8.47"));
    assert_non_null(strstr(out, "models: each fold's in s.model.fold1 .. s.model.fold3 (tested on "
                               "its fold); in s.model the final model, trained on all 150 "
                               "sequences"));
    free(out);
    /* Each fold's model is kept and loads; the final model (trained on
     * everything) fits the whole set. */
    for (int f = 1; f <= 3; f++) {
        char a[64];
        snprintf(a, sizeof a, "eval s.model.fold%d splice.data --json", f);
        if (test_run_recur(dir, a, err, sizeof err)) fail_msg("eval of fold %d failed: %s", f, err);
    }
    /* The final model classifies bare sequences and splice lines. */
    const char in[] = "ACGTACGTACGTACGTACGTACGTAGGGGGGGGGGACGTACGTACGTACGTACGTACGTA\n"
                      "IE, X-1, ACGTACGTACGTACGTACGTACGTATTTTTTTTTTACGTACGTACGTACGTACGTACGTA\n";
    test_write_file(dir, "seqs.txt", in, sizeof in - 1);
    if (test_run_recur(dir, "classify s.model seqs.txt", err, sizeof err))
        fail_msg("classify failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_true(strncmp(out, "EI\t", 3) == 0);
    assert_true(strncmp(strchr(out, '\n') + 1, "IE\t", 3) == 0);
    free(out);
    if (test_run_recur(dir, "eval s.model splice.data --json", err, sizeof err))
        fail_msg("eval failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_int_equal((int)json_num(out, "sequences"), 150);
    double fin = json_num(out, "accuracy");
    if (!(fin > 0.9)) fail_msg("final splice model accuracy %.3f on all the data", fin);
    free(out);
}

static void test_skeleton_cross_subject(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train classify --data-format skeleton --data skel --valid-fraction 0 "
                       "--hidden 12 --cell gru --epochs 30 --lr 0.01 --batch 4 --velocity "
                       "--threads 1 --quiet --out k.model --json",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    /* Subjects 2 and 4: 12 test sequences, 20 classes. */
    assert_int_equal((int)json_num(out, "sequences"), 12);
    double acc = json_num(out, "accuracy");
    if (!(acc > 0.9)) fail_msg("skeleton test accuracy %.3f", acc);
    free(out);
    if (test_run_recur(dir, "classify k.model skel/a02_s02_e01_skeleton3D.txt "
                            "skel/a01_s04_e03_skeleton3D.txt",
                       err, sizeof err))
        fail_msg("classify failed: %s", err);
    out = test_slurp(dir, "out.txt");
    assert_true(strncmp(out, "horizontal-arm-wave\t", 20) == 0);
    assert_true(strncmp(strchr(out, '\n') + 1, "high-arm-wave\t", 14) == 0);
    free(out);
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

static void test_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    const char badtree[] = "(3 (2 a) (3 good))\n(3 (2 a) (3 good)\n";
    const char badsplice[] = "EI, A-1, ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n"
                             "XX, A-2, ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT\n";
    const char badskel[] = "1 2 3 1\n1 2 x 1\n";
    char d2[512];
    snprintf(d2, sizeof d2, "%s/badsst", dir);
    assert_int_equal(mkdir(d2, 0700), 0);
    test_write_file(dir, "badsst/train.txt", badtree, sizeof badtree - 1);
    test_write_file(dir, "badsplice.data", badsplice, sizeof badsplice - 1);
    test_write_file(dir, "a01_s01_e01_skeleton3D.txt", badskel, sizeof badskel - 1);
    const char *sp = "train classify --data-format splice --data ";
    expect_error("train classify --data sst --out x.model", "--data-format");
    expect_error("train classify --data-format text --data sst --out x.model", "'text'");
    expect_error("train classify --data-format sst --out x.model", "--data");
    expect_error("train classify --data-format sst --data sst --pool sum --out x.model", "--pool");
    expect_error("train classify --data-format sst --data sst --labels three --out x.model",
                 "--labels");
    expect_error("train classify --data-format sst --data badsst --out x.model",
                 "train.txt:2:");
    expect_error("train classify --data-format sst --data nodir --out x.model", "nodir/train.txt");
    expect_error("train classify --data-format sst --data sst --word-dropout 1 --out x.model",
                 "--word-dropout");
    expect_error("train classify --data-format splice --data splice.data --lowercase --out x.model",
                 "--lowercase");
    expect_error("train classify --data-format sst --data sst --embed-init 0 --out x.model",
                 "--embed-init");
    char a[256];
    snprintf(a, sizeof a, "%sbadsplice.data --out x.model", sp);
    expect_error(a, "badsplice.data:2");
    snprintf(a, sizeof a, "%ssplice.data --folds 1 --out x.model", sp);
    expect_error(a, "--folds");
    snprintf(a, sizeof a, "%ssplice.data --fold 4 --folds 3 --out x.model", sp);
    expect_error(a, "--fold");
    expect_error("train classify --data-format skeleton --data nodir --out x.model", "nodir");
    /* A skeleton directory whose file is malformed: the file and line. */
    char d3[512];
    snprintf(d3, sizeof d3, "%s/badskel", dir);
    assert_int_equal(mkdir(d3, 0700), 0);
    test_write_file(dir, "badskel/a01_s01_e01_skeleton3D.txt", badskel, sizeof badskel - 1);
    expect_error("train classify --data-format skeleton --data badskel --out x.model",
                 "a01_s01_e01_skeleton3D.txt:2");
    /* classify and eval with bad inputs and models. */
    expect_error("classify", "model");
    expect_error("classify missing.model", "missing.model");
    rc_rnn_config c = rc_rnn_defaults(RC_CELL_GRU, 3, 4);
    rc_rnn *m;
    assert_int_equal(rc_rnn_new(&c, 1, &m), RC_OK);
    assert_int_equal(rc_rnn_save(m, test_path(dir, "layer.safetensors")), RC_OK);
    rc_rnn_free(m);
    expect_error("classify layer.safetensors", "recurrent");
    if (test_run_recur(dir,
                       "train classify --data-format splice --data splice.data --folds 2 --fold 1 "
                       "--hidden 4 --epochs 1 --threads 1 --quiet --out tiny.model",
                       NULL, 0))
        fail_msg("tiny splice training failed");
    const char badseq[] = "ACGTXACGT\n";
    test_write_file(dir, "badseq.txt", badseq, sizeof badseq - 1);
    expect_error("classify tiny.model badseq.txt", "badseq.txt:1:5: 'X'");
    expect_error("classify tiny.model nofile.txt", "nofile.txt");
    expect_error("eval tiny.model badsplice.data", "badsplice.data:2");
    expect_error("eval tiny.model sst/test.txt", "sst/test.txt:1");
    expect_error("train classify --resume tiny.model", "no training position");
    expect_error("train classify --resume tiny.model.ckpt --fold 2", "--fold 2 contradicts");
    expect_error("train classify --resume tiny.model.ckpt --context 2", "--context 2 contradicts");
}

static const struct CMUnitTest classify_cli_list[] = {
    cmocka_unit_test_setup_teardown(test_sst_train_resume_eval_classify, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sst_binary_drops_neutral, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sst_embed_init, setup, teardown),
    cmocka_unit_test_setup_teardown(test_splice_cross_validation, setup, teardown),
    cmocka_unit_test_setup_teardown(test_skeleton_cross_subject, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_input_gives_one_line_errors, setup, teardown),
};
static const test_group classify_cli_tests = {
    "classify_cli", classify_cli_list, sizeof classify_cli_list / sizeof classify_cli_list[0]};
__attribute__((constructor)) static void classify_cli_register(void)
{
    test_register(&classify_cli_tests);
}
