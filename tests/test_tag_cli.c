/* test_tag_cli.c - the named-entity tagger through the recur command:
 * it learns a small generated CoNLL data set (with the CRF and with a
 * softmax), `recur eval` agrees with conlleval counted from `recur tag
 * --conll`, tags plain text, resumes exactly, reads IOB1 and writes tags
 * back in the data's scheme, and malformed input gives one-line errors
 * that name the file and line. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

/* Sentences from templates with multi-word entities; IOB2 tags (or IOB1:
 * no two entities of one type touch, so IOB1 is every B- read as I-). */
static const char *first[] = {"John", "Mary", "Peter", "Anna", "Hans", "Maria"};
static const char *last[] = {"Smith", "Jones", "Miller", "Schmidt"};
static const char *city[] = {"Paris", "London", "Berlin", "Rome", "Tokyo"};
static const char *org1[] = {"Acme", "Globex", "Initech", "Umbrella"};
static const char *org2[] = {"Corp", "Inc", "Bank"};

static void w(FILE *f, const char *tok, const char *tag, int iob1)
{
    if (iob1 && tag[0] == 'B') fprintf(f, "%s NN I-%s\n", tok, tag + 2);
    else fprintf(f, "%s NN %s\n", tok, tag);
}

static void write_set(const char *name, int n, uint64_t seed, int iob1)
{
    FILE *f = fopen(test_path(dir, name), "w");
    assert_non_null(f);
    fprintf(f, "-DOCSTART- -X- O\n\n");
    rc_rng r;
    rc_rng_init(&r, seed);
    for (int i = 0; i < n; i++) {
        const char *fn = first[rc_rng_u32(&r) % 6], *ln = last[rc_rng_u32(&r) % 4];
        const char *c = city[rc_rng_u32(&r) % 5], *o1 = org1[rc_rng_u32(&r) % 4],
                   *o2 = org2[rc_rng_u32(&r) % 3];
        switch (rc_rng_u32(&r) % 3) {
        case 0:
            w(f, fn, "B-PER", iob1), w(f, ln, "I-PER", iob1), w(f, "visited", "O", iob1);
            w(f, c, "B-LOC", iob1), w(f, ".", "O", iob1);
            break;
        case 1:
            w(f, o1, "B-ORG", iob1), w(f, o2, "I-ORG", iob1), w(f, "opened", "O", iob1);
            w(f, "in", "O", iob1), w(f, c, "B-LOC", iob1), w(f, ".", "O", iob1);
            break;
        default:
            w(f, "the", "O", iob1), w(f, "man", "O", iob1), w(f, ln, "B-PER", iob1);
            w(f, "works", "O", iob1), w(f, "for", "O", iob1), w(f, o1, "B-ORG", iob1);
            w(f, o2, "I-ORG", iob1), w(f, ".", "O", iob1);
        }
        fputc('\n', f);
    }
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("tag"))) return -1;
    write_set("train.txt", 240, 1, 0);
    write_set("valid.txt", 60, 2, 0);
    write_set("train1.txt", 240, 1, 1);
    return 0;
}

static int teardown(void **state) { return test_tmpdir_remove(dir); }

#define SMALL                                                                                 \
    "--word-dim 16 --char-dim 8 --char-hidden 8 --hidden 16 --batch 8 --lr 0.01 --dropout 0.1 " \
    "--threads 1 --quiet"

static double json_number(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(text, k);
    if (!p) fail_msg("no %s in [%s]", key, text);
    return atof(p + strlen(k));
}

static void train(const char *args)
{
    char err[4096];
    if (test_run_recur(dir, args, err, sizeof err)) fail_msg("'%s' failed: %s", args, err);
}

static double eval_f1(const char *model, const char *data)
{
    char args[256], err[4096];
    snprintf(args, sizeof args, "eval %s %s --json", model, data);
    if (test_run_recur(dir, args, err, sizeof err)) fail_msg("'%s' failed: %s", args, err);
    char *out = test_slurp(dir, "out.txt");
    double f1 = json_number(out, "f1");
    free(out);
    return f1;
}

static void test_crf_learns_and_tags(void **state)
{
    (void)state;
    train("train ner --data train.txt --valid valid.txt --epochs 12 --out crf.model " SMALL);
    double f1 = eval_f1("crf.model", "valid.txt");
    if (f1 < 97) fail_msg("validation F1 %.2f after training; expected at least 97", f1);

    /* `recur tag --conll` writes token, gold and predicted tag: conlleval
     * counted from it gives what `recur eval` printed. */
    char err[4096];
    assert_int_equal(test_run_recur(dir, "tag crf.model valid.txt --conll", err, sizeof err), 0);
    char *out = test_slurp(dir, "out.txt");
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    const char *gold[16], *pred[16];
    char tok[16][32], g[16][32], p[16][32];
    size_t n = 0;
    int lines = 0;
    for (char *s = out; *s;) {
        char *e = strchr(s, '\n');
        assert_non_null(e);
        *e = '\0';
        int blank = !*s;
        if (!blank) { /* a token line */
            assert_true(n < 16);
            assert_int_equal(sscanf(s, "%31s %31s %31s", tok[n], g[n], p[n]), 3);
            gold[n] = g[n], pred[n] = p[n], n++, lines++;
        }
        s = e + 1;
        if (n && (blank || !*s)) { /* a blank line or the end closes a sentence */
            assert_int_equal(rc_conlleval_add(&ev, gold, pred, n), RC_OK);
            n = 0;
        }
    }
    free(out);
    assert_int_equal(ev.sentences, 60);
    assert_int_equal(lines, (int)ev.tokens);
    assert_float_equal(rc_conlleval_overall(&ev).f1, f1, 1e-3);
    rc_conlleval_free(&ev);

    /* Plain text: one sentence a line (blank lines kept), TOKEN/TAG. */
    const char text[] = "Mary Jones visited Rome .\n\nthe man Smith works for Globex Bank .\n";
    test_write_file(dir, "in.txt", text, sizeof text - 1);
    assert_int_equal(test_run_recur(dir, "tag crf.model in.txt", err, sizeof err), 0);
    out = test_slurp(dir, "out.txt");
    assert_string_equal(out, "Mary/B-PER Jones/I-PER visited/O Rome/B-LOC ./O\n\n"
                             "the/O man/O Smith/B-PER works/O for/O Globex/B-ORG Bank/I-ORG ./O\n");
    free(out);
    /* --scheme iobes: singletons S-, ends E-. */
    assert_int_equal(test_run_recur(dir, "tag crf.model in.txt --scheme iobes", err, sizeof err), 0);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "Mary/B-PER Jones/E-PER visited/O Rome/S-LOC"));
    free(out);
    /* The report is conlleval's. */
    assert_int_equal(test_run_recur(dir, "eval crf.model valid.txt", err, sizeof err), 0);
    out = test_slurp(dir, "out.txt");
    assert_non_null(strstr(out, "processed "));
    assert_non_null(strstr(out, " phrases; found: "));
    assert_non_null(strstr(out, "              LOC: precision: "));
    free(out);
}

static void test_softmax_learns(void **state)
{
    (void)state;
    train("train ner --data train.txt --valid valid.txt --epochs 12 --no-crf --out sm.model "
          SMALL);
    double f1 = eval_f1("sm.model", "valid.txt");
    if (f1 < 95) fail_msg("validation F1 %.2f without the CRF; expected at least 95", f1);
}

/* IOB1 in, IOB1 out (the tags a model writes by default are its training
 * data's scheme); the score does not depend on the scheme of the gold file. */
static void test_iob1_data(void **state)
{
    (void)state;
    train("train ner --data train1.txt --valid valid.txt --epochs 12 --scheme iob2 --out b.model "
          SMALL);
    char err[4096];
    const char text[] = "Mary Jones visited Rome .\n";
    test_write_file(dir, "in.txt", text, sizeof text - 1);
    assert_int_equal(test_run_recur(dir, "tag b.model in.txt", err, sizeof err), 0);
    char *out = test_slurp(dir, "out.txt");
    assert_string_equal(out, "Mary/I-PER Jones/I-PER visited/O Rome/I-LOC ./O\n");
    free(out);
    double f1 = eval_f1("b.model", "valid.txt");
    assert_true(f1 >= 95);
}

static void test_resume_is_exact(void **state)
{
    (void)state;
    train("train ner --data train.txt --valid valid.txt --epochs 2 --out a.model --log a.csv "
          SMALL);
    train("train ner --data train.txt --valid valid.txt --epochs 1 --out r.model --log r.csv "
          SMALL);
    train("train ner --resume r.model.ckpt --epochs 2");
    static char a[64][32], r[64][32];
    int na = test_read_losses(dir, "a.csv", a, 64), nr = test_read_losses(dir, "r.csv", r, 64);
    assert_int_equal(na, 60); /* 240 sentences in batches of 8, twice */
    assert_int_equal(nr, 60);
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], r[i])) fail_msg("step %d: loss %s straight, %s resumed", i + 1, a[i], r[i]);
    char *m1 = test_slurp(dir, "a.model"), *m2 = test_slurp(dir, "r.model");
    assert_non_null(m1);
    assert_non_null(m2);
    free(m1);
    free(m2);
    assert_float_equal(eval_f1("a.model", "valid.txt"), eval_f1("r.model", "valid.txt"), 1e-9);
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

static void test_malformed_input(void **state)
{
    (void)state;
    const char bad_tag[] = "EU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\nsaid VBD X-PER\n";
    test_write_file(dir, "bad_tag.txt", bad_tag, sizeof bad_tag - 1);
    expect_error("train ner --data bad_tag.txt --valid valid.txt --out x.model",
                 "bad_tag.txt:5: tag \"X-PER\"");
    const char ragged[] = "EU NNP B-ORG\nrejects O\n";
    test_write_file(dir, "ragged.txt", ragged, sizeof ragged - 1);
    expect_error("train ner --data ragged.txt --valid valid.txt --out x.model", "ragged.txt:2");
    /* IOB2 at line 1, IOB1 at line 4 (I- after O): no scheme fits. */
    const char mixed[] = "EU NNP B-ORG\nrejects VBZ O\n\nsaid VBD O\nPeter NNP I-PER\n";
    test_write_file(dir, "mixed.txt", mixed, sizeof mixed - 1);
    expect_error("train ner --data mixed.txt --valid valid.txt --out x.model", "mixed.txt:1");
    const char one_col[] = "EU\nrejects\n";
    test_write_file(dir, "one.txt", one_col, sizeof one_col - 1);
    expect_error("train ner --data one.txt --valid valid.txt --out x.model", "one.txt:1");
    const char blank[] = "\n\n-DOCSTART- -X- O\n\n";
    test_write_file(dir, "blank.txt", blank, sizeof blank - 1);
    expect_error("train ner --data blank.txt --valid valid.txt --out x.model", "blank.txt");
    const char latin1[] = "caf\xe9 NN O\n";
    test_write_file(dir, "latin1.txt", latin1, sizeof latin1 - 1);
    expect_error("train ner --data latin1.txt --valid valid.txt --out x.model", "latin1.txt:1");
    expect_error("train ner --data train.txt --out x.model", "--valid");
    expect_error("train ner --data train.txt --valid valid.txt --out x.model --scheme bio3",
                 "--scheme");
    expect_error("train ner --data train.txt --valid valid.txt --out x.model --char-hidden -1",
                 "--char-hidden");
    expect_error("train ner --data missing.txt --valid valid.txt --out x.model", "missing.txt");

    /* With a model: eval and tag. */
    train("train ner --data train.txt --valid valid.txt --steps 2 --out m.model " SMALL);
    expect_error("eval m.model one.txt", "one.txt:1");
    expect_error("eval m.model bad_tag.txt", "bad_tag.txt:5");
    expect_error("tag m.model latin1.txt", "latin1.txt:1");
    expect_error("tag m.model ragged.txt --conll", "ragged.txt:2");
    expect_error("tag m.model valid.txt --scheme xyz", "--scheme");
    expect_error("tag valid.txt", "valid.txt");
    expect_error("tag", "model");
    expect_error("train ner --resume m.model", "resume from MODEL.ckpt");
    /* A resumed run keeps its checkpoint's model: a contradicting flag is
     * refused by name, the same value is fine. */
    static const test_cli_error_case refused[] = {
        {"--steps 4 --no-crf",
         "--no-crf contradicts the checkpoint m.model.ckpt, which was trained without it"},
        {"--steps 4 --hidden 32",
         "--hidden 32 contradicts the checkpoint m.model.ckpt, which was trained with "
         "--hidden 16: a resumed run keeps its checkpoint's model; drop --hidden"},
        {"--word-dim 8", "--word-dim 8 contradicts"},
        {"--char-hidden 0", "--char-hidden 0 contradicts"},
        {"--scheme iob2", "--scheme iob2 contradicts"},
        {"--keep-case", "--keep-case contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train ner --resume m.model.ckpt", "recur ", refused);
    train("train ner --resume m.model.ckpt --steps 3 --hidden 16 --word-dim 16 --scheme iobes "
          "--lr 0.02");
    /* A language model is not a tagger. */
    const char lm_text[] = "a b c a b c a b c a b c\n";
    test_write_file(dir, "lm.txt", lm_text, sizeof lm_text - 1);
    train("train lm --data lm.txt --hidden 4 --embed 4 --batch 2 --bptt 4 --steps 1 --quiet "
          "--out lm.model");
    expect_error("tag lm.model valid.txt", "tagger");
}

TEST_GROUP(tag_cli_tests, "tag_cli",
           cmocka_unit_test_setup_teardown(test_crf_learns_and_tags, setup, teardown),
           cmocka_unit_test_setup_teardown(test_softmax_learns, setup, teardown),
           cmocka_unit_test_setup_teardown(test_iob1_data, setup, teardown),
           cmocka_unit_test_setup_teardown(test_resume_is_exact, setup, teardown),
           cmocka_unit_test_setup_teardown(test_malformed_input, setup, teardown));
