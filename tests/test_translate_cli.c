/* test_translate_cli.c - the translation task through the recur command:
 * the tokenizer, training on a toy language pair with a reordering, BLEU
 * from `recur eval`, `recur translate` (greedy, beam, n-best, sampling,
 * stdin), the attention picture, exact resume, and one-line errors. */
#include "test.h"

#include "../src/tasks/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

/* A toy pair: "The big cat sees a dog." -> "die gross katze einen hund sieht ."
 * (adjectives and nouns word by word, the verb moved to the end). */
static const char *src_det[] = {"The", "A", "My"}, *tgt_det[] = {"die", "eine", "meine"};
static const char *src_adj[] = {"big", "small", "old", "red"},
                  *tgt_adj[] = {"gross", "klein", "alt", "rot"};
static const char *src_n[] = {"cat", "dog", "bird", "horse", "fish"},
                  *tgt_n[] = {"katze", "hund", "vogel", "pferd", "fisch"};
static const char *src_v[] = {"sees", "likes", "follows"}, *tgt_v[] = {"sieht", "mag", "folgt"};

static void write_pairs(const char *sname, const char *tname, int n, uint64_t seed)
{
    FILE *fs = fopen(test_path(dir, sname), "w"), *ft = fopen(test_path(dir, tname), "w");
    assert_non_null(fs);
    assert_non_null(ft);
    rc_rng r;
    rc_rng_init(&r, seed);
    for (int i = 0; i < n; i++) {
        int d = (int)(rc_rng_u32(&r) % 3), a = (int)(rc_rng_u32(&r) % 4),
            s = (int)(rc_rng_u32(&r) % 5), v = (int)(rc_rng_u32(&r) % 3),
            o = (int)(rc_rng_u32(&r) % 5);
        fprintf(fs, "%s %s %s %s the %s.\n", src_det[d], src_adj[a], src_n[s], src_v[v], src_n[o]);
        fprintf(ft, "%s %s %s die %s %s .\n", tgt_det[d], tgt_adj[a], tgt_n[s], tgt_n[o], tgt_v[v]);
    }
    fclose(fs);
    fclose(ft);
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("translate"))) return -1;
    write_pairs("train.en", "train.de", 800, 1);
    write_pairs("valid.en", "valid.de", 40, 2);
    return 0;
}

static int teardown(void **state) { return test_tmpdir_remove(dir); }

static void test_tokenize(void **state)
{
    (void)state;
    char *s = translate_tokenize("\xc3\x9c" "ber Br\xc3\xbc" "cken, \"sagt\" er.", 1, 1);
    assert_non_null(s);
    assert_string_equal(s, "\xc3\xbc" "ber br\xc3\xbc" "cken , \" sagt \" er .");
    free(s);
    s = translate_tokenize("A  Man's hat.", 0, 0);
    assert_string_equal(s, "A Man's hat.");
    free(s);
    s = translate_tokenize("A Man's hat.", 1, 1);
    assert_string_equal(s, "a man's hat ."); /* 13a keeps apostrophes */
    free(s);
    assert_null(translate_tokenize("caf\xe9", 1, 1));
}

#define TRAIN "train translate --src train.en --tgt train.de --valid-src valid.en " \
              "--valid-tgt valid.de --embed 16 --hidden 16 --dec-hidden 32 --batch 16 --quiet "

static double json_num(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) fail_msg("no %s in: %s", key, text);
    return atof(p + strlen(key));
}

static void test_train_eval_translate(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, TRAIN "--lr 0.01 --steps 250 --eval-every 50 --out m.model --json",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    assert_true(json_num(out, "\"best_valid_bleu\":") > 90);
    free(out);
    /* BLEU with beam search on the validation pairs */
    if (test_run_recur(dir, "eval m.model valid.en --ref valid.de --beam 3 --json", err, sizeof err))
        fail_msg("eval failed: %s", err);
    out = test_slurp(dir, "out.txt");
    double bleu = json_num(out, "\"bleu\":");
    free(out);
    if (bleu < 90) fail_msg("validation BLEU %g with beam 3", bleu);

    /* translate: from a file, greedy = beam 1, and the expected words */
    const char *in = "The old horse follows the cat.\nA red fish likes the bird.\n";
    test_write_file(dir, "in.txt", in, strlen(in));
    assert_int_equal(test_run_recur(dir, "translate m.model in.txt --beam 1", err, sizeof err), 0);
    char *greedy = test_slurp(dir, "out.txt");
    assert_string_equal(greedy, "die alt pferd die katze folgt .\neine rot fisch die vogel mag .\n");
    assert_int_equal(test_run_recur(dir, "translate m.model --input in.txt --beam 4 --n-best 2",
                                    err, sizeof err), 0);
    char *nb = test_slurp(dir, "out.txt");
    assert_non_null(strstr(nb, "1 ||| die alt pferd die katze folgt . ||| "));
    assert_int_equal(test_count_lines(dir, "out.txt"), 4);
    /* sampling: the same seed, the same words */
    assert_int_equal(test_run_recur(dir, "translate m.model in.txt --sample --temperature 2 --seed 3",
                                    err, sizeof err), 0);
    char *s1 = test_slurp(dir, "out.txt");
    assert_int_equal(test_run_recur(dir, "translate m.model in.txt --sample --temperature 2 --seed 3",
                                    err, sizeof err), 0);
    char *s2 = test_slurp(dir, "out.txt");
    assert_string_equal(s1, s2);
    /* the alignment picture */
    assert_int_equal(test_run_recur(dir, "translate m.model in.txt --show-attention a.png "
                                         "--sentence 2 --output t.txt", err, sizeof err), 0);
    char *png = test_slurp(dir, "a.png");
    assert_non_null(png);
    assert_memory_equal(png, "\x89PNG", 4);
    assert_int_equal(test_count_lines(dir, "t.txt"), 2);
    free(greedy), free(nb), free(s1), free(s2), free(png);

    /* the same model without attention trains and translates too */
    if (test_run_recur(dir, TRAIN "--lr 0.01 --steps 30 --attention none --cell lstm --out n.model",
                       err, sizeof err))
        fail_msg("training without attention failed: %s", err);
    assert_int_equal(test_run_recur(dir, "translate n.model in.txt", err, sizeof err), 0);
    assert_int_equal(test_count_lines(dir, "out.txt"), 2);
    test_expect_cli_error(dir, "translate n.model in.txt --show-attention b.png", "recur translate: ",
                          "no attention");
}

/* Stopping and resuming gives the same losses as one run. */
static void test_resume_is_exact(void **state)
{
    (void)state;
    char err[4096];
    const char *args = TRAIN "--dropout 0.3 --attention additive --eval-every 10 "
                             "--checkpoint-every 10";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --steps 30 --out a.model --log a.csv", args);
    if (test_run_recur(dir, cmd, err, sizeof err)) fail_msg("run failed: %s", err);
    snprintf(cmd, sizeof cmd, "%s --steps 20 --out b.model --log b.csv", args);
    if (test_run_recur(dir, cmd, err, sizeof err)) fail_msg("run failed: %s", err);
    if (test_run_recur(dir, "train translate --resume b.model.ckpt --steps 30", err, sizeof err))
        fail_msg("resume failed: %s", err);
    static char a[30][32], b[30][32];
    assert_int_equal(test_read_losses(dir, "a.csv", a, 30), 30);
    assert_int_equal(test_read_losses(dir, "b.csv", b, 30), 30);
    for (int i = 0; i < 30; i++)
        if (strcmp(a[i], b[i])) fail_msg("step %d: one run %s, resumed %s", i + 1, a[i], b[i]);
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[4096];
    test_write_file(dir, "short.de", "ein hund .\n", 11);
    const char latin1[] = "a dog\ncaf\xe9\n";
    test_write_file(dir, "latin1.en", latin1, sizeof latin1 - 1);
    test_write_file(dir, "two.de", "a\nb\n", 4);
    const char *v = " --valid-src valid.en --valid-tgt valid.de --out x.model";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "train translate --src train.en --tgt short.de%s", v);
    expect_error(cmd, "short.de has 1");
    snprintf(cmd, sizeof cmd, "train translate --src latin1.en --tgt two.de%s", v);
    expect_error(cmd, "latin1.en:2:4");
    expect_error("train translate --src train.en --tgt train.de --out x.model", "--valid-src");
    snprintf(cmd, sizeof cmd, "train translate --src train.en --tgt train.de%s --attention foo", v);
    expect_error(cmd, "--attention");
    snprintf(cmd, sizeof cmd, "train translate --src train.en --tgt train.de%s --dec-cell x", v);
    expect_error(cmd, "--dec-cell");
    snprintf(cmd, sizeof cmd,
             "train translate --src train.en --tgt train.de%s --attention dot --hidden 8", v);
    expect_error(cmd, "dot attention");
    if (test_run_recur(dir, TRAIN "--steps 2 --out m2.model", err, sizeof err))
        fail_msg("training failed: %s", err);
    expect_error("eval m2.model valid.en", "--ref");
    expect_error("eval m2.model valid.en --ref short.de", "short.de has 1");
    expect_error("translate m2.model valid.en --beam 0", "--beam");
    expect_error("translate m2.model valid.en --beam 2 --n-best 3", "--n-best");
    expect_error("translate m2.model valid.en --show-attention a.png --sentence 99", "--sentence");
    expect_error("translate m2.model missing.en", "missing.en");
    expect_error("translate valid.en", "valid.en");
    expect_error("train translate --resume m2.model", "resume from MODEL.ckpt");
    /* A resumed run keeps its checkpoint's model and vocabularies: a
     * contradicting flag is refused by name, the same value is fine. */
    static const test_cli_error_case refused[] = {
        {"--dec-hidden 16 --steps 3",
         "--dec-hidden 16 contradicts the checkpoint m2.model.ckpt, which was trained with "
         "--dec-hidden 32: a resumed run keeps its checkpoint's model; drop --dec-hidden"},
        {"--embed 8", "--embed 8 contradicts"},
        {"--hidden 8", "--hidden 8 contradicts"},
        {"--attention dot", "--attention dot contradicts"},
        {"--min-freq 1", "--min-freq 1 contradicts"},
        {"--no-input-feeding",
         "--no-input-feeding contradicts the checkpoint m2.model.ckpt, which was trained "
         "without it"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train translate --resume m2.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train translate --resume m2.model.ckpt --embed 16 --hidden 16 --dec-hidden 32 "
                       "--attention general --lr 0.002 --steps 3",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

TEST_GROUP(translate_cli_group, "translate_cli", cmocka_unit_test(test_tokenize),
           cmocka_unit_test_setup_teardown(test_train_eval_translate, setup, teardown),
           cmocka_unit_test_setup_teardown(test_resume_is_exact, setup, teardown),
           cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown))
