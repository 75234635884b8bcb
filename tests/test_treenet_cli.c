/* test_treenet_cli.c - the tree task through the recur command: each of
 * the four models learns a toy sentiment language (negation and
 * intensifiers over positive and negative words), eval's metrics, exact
 * resume from a checkpoint, the binary setting, `recur tree` on sentences
 * and trees (with the picture), and one-line errors for bad input. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

/* One toy tree: "the NOUN is [not] [very] ADJ" with SST-style labels at
 * every node: adjectives 1 or 3, "very" pushes one further out, "not"
 * flips the side; the sentence takes its predicate's label. */
static void toy_tree(FILE *f, rc_rng *r)
{
    const char *pos[] = {"good", "great", "fun", "moving"}, *neg[] = {"bad", "dull", "awful", "flat"};
    const char *nouns[] = {"movie", "film", "plot", "story"};
    int positive = rc_rng_u32(r) % 2, very = rc_rng_u32(r) % 2, not_ = rc_rng_u32(r) % 3 == 0;
    const char *adj = positive ? pos[rc_rng_u32(r) % 4] : neg[rc_rng_u32(r) % 4];
    int la = positive ? 3 : 1, lv = positive ? 4 : 0, ln = positive ? 1 : 3;
    int lp = not_ ? ln : very ? lv : la;
    const char *noun = nouns[rc_rng_u32(r) % 4];
    fprintf(f, "(%d (2 (2 the) (2 %s)) (%d (2 is) ", lp, noun, lp);
    if (not_) fprintf(f, "(%d (2 not) ", ln);
    if (very) fprintf(f, "(%d (2 very) ", lv);
    fprintf(f, "(%d %s)%s%s))\n", la, adj, very ? ")" : "", not_ ? ")" : "");
}

static int write_toy(const char *name, int n, uint64_t seed)
{
    FILE *f = fopen(test_path(dir, name), "w");
    if (!f) return -1;
    rc_rng r;
    rc_rng_init(&r, seed);
    for (int i = 0; i < n; i++) toy_tree(f, &r);
    return fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("treenet"))) return -1;
    return write_toy("train.txt", 400, 1) || write_toy("dev.txt", 100, 2);
}

static int teardown(void **state) { return test_tmpdir_remove(dir); }

/* A number after "key": in out.txt. */
static double json_num(const char *key)
{
    char *out = test_slurp(dir, "out.txt");
    assert_non_null(out);
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(out, k);
    if (!p) fail_msg("no %s in [%s]", key, out);
    double v = atof(p + strlen(k));
    free(out);
    return v;
}

static void train_and_eval(const char *model, const char *extra, double want_fine)
{
    char args[512], err[4096];
    snprintf(args, sizeof args,
             "train tree --data train.txt --valid dev.txt --model %s --hidden 16 --batch 10 "
             "--lr 0.02 --epochs 6 --quiet --threads 1 --out %s.model %s",
             model, model, extra);
    if (test_run_recur(dir, args, err, sizeof err)) fail_msg("%s: %s", args, err);
    snprintf(args, sizeof args, "eval %s.model dev.txt --json", model);
    if (test_run_recur(dir, args, err, sizeof err)) fail_msg("%s: %s", args, err);
    double fine = json_num("root_accuracy_5"), all = json_num("all_accuracy_5"),
           bin = json_num("root_accuracy_2");
    assert_int_equal((int)json_num("trees"), 100);
    if (fine < want_fine || bin < 0.95 || all < 0.8)
        fail_msg("%s: root %.3f (want >= %.2f), all nodes %.3f, binary %.3f", model, fine,
                 want_fine, all, bin);
}

static void test_rnn_learns(void **state) { (void)state, train_and_eval("rnn", "", 0.8); }
static void test_rntn_learns(void **state) { (void)state, train_and_eval("rntn", "", 0.8); }
static void test_lstm_learns(void **state)
{
    (void)state;
    train_and_eval("tree-lstm", "", 0.8);
    /* A 5-class model is also kept at its best binary validation score. */
    char err[4096];
    assert_int_equal(test_run_recur(dir, "eval tree-lstm.model.binary dev.txt --json", err, sizeof err), 0);
    assert_true(json_num("root_accuracy_2") >= 0.95);
}
static void test_childsum_learns(void **state)
{
    (void)state, train_and_eval("childsum-lstm", "--embed 8 --dropout 0.1", 0.8);
}

static void test_binary_model(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train tree --data train.txt --valid dev.txt --classes 2 --hidden 12 "
                       "--batch 10 --lr 0.02 --epochs 4 --quiet --out bin.model",
                       err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(test_run_recur(dir, "eval bin.model dev.txt --json", err, sizeof err), 0);
    char *out = test_slurp(dir, "out.txt");
    assert_null(strstr(out, "root_accuracy_5")); /* no fine-grained score for a binary model */
    free(out);
    out = test_slurp(dir, "bin.model.binary");
    assert_null(out); /* only 5-class models keep a binary-selected copy */
    assert_true(json_num("root_accuracy_2") >= 0.95);
    assert_int_equal(test_run_recur(dir, "eval bin.model dev.txt", err, sizeof err), 0);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "binary (100 non-neutral roots"));
    free(out);
}

#define RESUME_ARGS                                                                            \
    "train tree --data train.txt --valid dev.txt --model tree-lstm --hidden 10 --batch 16 " \
    "--dropout 0.2 --eval-every 7 --checkpoint-every 5 --quiet "

static void test_resume_matches_uninterrupted_run(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, RESUME_ARGS "--steps 40 --out a.model --log a.csv", err, sizeof err))
        fail_msg("%s", err);
    /* Stop at 20 (a checkpoint), then resume to 40: past an epoch's end (25 steps). */
    if (test_run_recur(dir, RESUME_ARGS "--steps 20 --out b.model --log b.csv", err, sizeof err))
        fail_msg("%s", err);
    if (test_run_recur(dir, "train tree --resume b.model.ckpt --steps 40 --quiet", err, sizeof err))
        fail_msg("resume: %s", err);
    static char a[40][32], b[40][32];
    assert_int_equal(test_read_losses(dir, "a.csv", a, 40), 40);
    assert_int_equal(test_read_losses(dir, "b.csv", b, 40), 40);
    for (int i = 0; i < 40; i++)
        if (strcmp(a[i], b[i])) fail_msg("step %d: uninterrupted %s, resumed %s", i + 1, a[i], b[i]);
    assert_true(atof(a[39]) < atof(a[0]));
    /* Flags that would change the checkpoint's model are refused by name;
     * the same values, or other flags, are fine. */
    static const test_cli_error_case refused[] = {
        {"--model rnn --steps 45",
         "--model rnn contradicts the checkpoint b.model.ckpt, which was trained with "
         "--model tree-lstm"},
        {"--hidden 12 --steps 45",
         "--hidden 12 contradicts the checkpoint b.model.ckpt, which was trained with "
         "--hidden 10"},
        {"--classes 2", "--classes 2 contradicts the checkpoint b.model.ckpt"},
        {"--min-freq 2",
         "--min-freq 2 contradicts the checkpoint b.model.ckpt, which was trained with "
         "--min-freq 1"},
        {"--keep-case",
         "--keep-case contradicts the checkpoint b.model.ckpt, which was trained without it"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train tree --resume b.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train tree --resume b.model.ckpt --model tree-lstm --hidden 10 --lr 0.01 "
                       "--steps 42 --quiet",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

static void test_tree_command(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train tree --data train.txt --valid dev.txt --hidden 16 --batch 10 "
                       "--lr 0.02 --epochs 6 --quiet --out m.model",
                       err, sizeof err))
        fail_msg("%s", err);
    const char in[] = "the film is very awful\n\n"
                      "(3 (2 (2 the) (2 plot)) (3 (2 is) (3 (2 not) (1 bad))))\n"
                      "The story is not good.\n";
    test_write_file(dir, "in.txt", in, sizeof in - 1);
    if (test_run_recur(dir, "tree m.model in.txt --png trees.png --gold --nodes", err, sizeof err))
        fail_msg("%s", err);
    char *out = test_slurp(dir, "out.txt");
    /* A plain sentence becomes a right-branching tree; labels come from the model. */
    assert_non_null(strstr(out, "(2 the) ("));
    assert_non_null(strstr(out, "(2 film) ("));
    assert_non_null(strstr(out, "(0 (2 very) (1 awful)))))\n"));
    /* The given tree keeps its shape: "not bad" is positive. */
    assert_non_null(strstr(out, "(2 (2 the) (2 plot)) (3 (2 is) (3 (2 not) (1 bad))))"));
    /* Punctuation is split off and words lower-cased as in training. */
    assert_non_null(strstr(out, "(2 story) (1 (2 is) (1 (2 not) (3 (3 good) (2 .))))))\n  root: negative"));
    assert_non_null(strstr(out, "gold labels: 9 of 9 nodes right"));
    /* --nodes: one line per node with its words. */
    assert_non_null(strstr(out, "  not bad\n"));
    free(out);
    char *png = test_slurp(dir, "trees.png");
    assert_non_null(png);
    assert_int_equal(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    free(png);
    /* Standard input works too. */
    assert_int_equal(test_run_recur(dir, "tree m.model < in.txt", err, sizeof err), 0);
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

static void test_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    const char bad[] = "(2 (2 a) (2 b))\n(2 (2 a) (2 b)\n";
    test_write_file(dir, "bad.txt", bad, sizeof bad - 1);
    const char badlabel[] = "(2 (2 a) (7 b))\n";
    test_write_file(dir, "badlabel.txt", badlabel, sizeof badlabel - 1);
    const char *base = "train tree --valid dev.txt --out x.model --quiet --steps 1 ";
    char args[512];
    snprintf(args, sizeof args, "%s--data bad.txt", base);
    expect_error(args, "bad.txt:2:");
    snprintf(args, sizeof args, "%s--data badlabel.txt", base);
    expect_error(args, "badlabel.txt:1:11: label \"7\" outside 0-4");
    snprintf(args, sizeof args, "%s--data train.txt --model gru", base);
    expect_error(args, "--model must be rnn, rntn, tree-lstm or childsum-lstm");
    snprintf(args, sizeof args, "%s--data train.txt --model rntn --embed 8 --hidden 12", base);
    expect_error(args, "--embed (8) must equal --hidden (12)");
    snprintf(args, sizeof args, "%s--data train.txt --classes 3", base);
    expect_error(args, "--classes must be 5 or 2");
    expect_error("train tree --data train.txt --out x.model", "--valid DEV are required");
    expect_error("train tree --data missing.txt --valid dev.txt --out x.model", "missing.txt");
    /* eval and tree with a model */
    char err[4096];
    if (test_run_recur(dir,
                       "train tree --data train.txt --valid dev.txt --hidden 6 --steps 2 --quiet "
                       "--out s.model",
                       err, sizeof err))
        fail_msg("%s", err);
    expect_error("eval s.model bad.txt", "bad.txt:2:");
    expect_error("tree s.model bad.txt", "bad.txt line 2: tree_parse: text:1:15: unbalanced");
    expect_error("tree s.model nothere.txt", "nothere.txt: cannot open");
    expect_error("tree", "give a model file");
    expect_error("tree dev.txt", "dev.txt");
    /* A binary model cannot read a tree with a 3-way node. */
    const char nary[] = "(2 (2 a) (2 b) (2 c))\n";
    test_write_file(dir, "nary.txt", nary, sizeof nary - 1);
    expect_error("tree s.model nary.txt", "3 children");
}

TEST_GROUP(treenet_cli_group, "treenet_cli",
           cmocka_unit_test_setup_teardown(test_rnn_learns, setup, teardown),
           cmocka_unit_test_setup_teardown(test_rntn_learns, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lstm_learns, setup, teardown),
           cmocka_unit_test_setup_teardown(test_childsum_learns, setup, teardown),
           cmocka_unit_test_setup_teardown(test_binary_model, setup, teardown),
           cmocka_unit_test_setup_teardown(test_resume_matches_uninterrupted_run, setup, teardown),
           cmocka_unit_test_setup_teardown(test_tree_command, setup, teardown),
           cmocka_unit_test_setup_teardown(test_bad_input_gives_one_line_errors, setup, teardown))
