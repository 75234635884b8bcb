/* test_conlleval.c - chunk-level precision / recall / F1 and token accuracy
 * as the conlleval script computes them, on hand-made sentences whose
 * numbers are worked out in the comments from conlleval's rules; tag
 * scheme checks and conversions (IOB1, IOB2, IOBES); bad tags; and, when
 * the shared CoNLL-2003 data is there, its entity counts.
 *
 * conlleval's rules, as used in the comments (prev -> cur):
 *   a chunk starts at B-, at I- after O (or after a chunk of another type),
 *   at any tag whose type differs from the previous tag's;
 *   a chunk ends before O, before B-, and before a change of type;
 *   for IOBES: S- is a chunk by itself, E- ends one.
 * A predicted chunk is correct when a gold chunk starts at the same token
 * with the same type and both end at the same token. A sentence boundary
 * ends every chunk. P = correct / predicted, R = correct / gold, in %. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RC_SOURCE_DIR
#define RC_SOURCE_DIR "."
#endif

/* Tags from a space-separated string. */
typedef struct tag_list {
    char buf[1024];
    const char *v[128];
    size_t n;
} tag_list;

static void split(tag_list *t, const char *s)
{
    snprintf(t->buf, sizeof t->buf, "%s", s);
    t->n = 0;
    for (char *p = strtok(t->buf, " "); p; p = strtok(NULL, " ")) t->v[t->n++] = p;
}

static void add(rc_conlleval *ev, const char *gold, const char *pred)
{
    tag_list g, p;
    split(&g, gold);
    split(&p, pred);
    assert_int_equal(g.n, p.n);
    if (rc_conlleval_add(ev, g.v, p.v, g.n) != RC_OK) fail_msg("%s", rc_last_error());
}

static void expect_counts(const rc_conlleval *ev, int64_t tokens, int64_t correct_tags,
                          int64_t gold, int64_t pred, int64_t correct)
{
    assert_int_equal(ev->tokens, tokens);
    assert_int_equal(ev->correct_tags, correct_tags);
    assert_int_equal(ev->gold, gold);
    assert_int_equal(ev->predicted, pred);
    assert_int_equal(ev->correct, correct);
}

static void expect_type(const rc_conlleval *ev, const char *type, int64_t gold, int64_t pred,
                        int64_t correct)
{
    for (int i = 0; i < ev->n_types; i++)
        if (!strcmp(ev->types[i].type, type)) {
            assert_int_equal(ev->types[i].gold, gold);
            assert_int_equal(ev->types[i].predicted, pred);
            assert_int_equal(ev->types[i].correct, correct);
            return;
        }
    fail_msg("no type %s", type);
}

static void expect_prf(rc_prf r, double p, double rc, double f)
{
    assert_float_equal(r.precision, p, 1e-9);
    assert_float_equal(r.recall, rc, 1e-9);
    assert_float_equal(r.f1, f, 1e-9);
}

/* ---- IOB2 ---- */

/* gold B-PER I-PER O B-LOC   chunks PER[0-1] LOC[3]
 * pred B-PER I-PER O B-ORG   chunks PER[0-1] ORG[3]
 * PER matches; LOC/ORG share the span but not the type: wrong.
 * gold 2, predicted 2, correct 1: P = R = F1 = 50. Tokens 4, 3 tags right
 * (75%). Types: LOC 1/0/0, ORG 0/1/0, PER 1/1/1. */
static void test_type_mismatch(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-PER I-PER O B-LOC", "B-PER I-PER O B-ORG");
    expect_counts(&ev, 4, 3, 2, 2, 1);
    assert_int_equal(ev.n_types, 3);
    assert_string_equal(ev.types[0].type, "LOC"); /* sorted as conlleval lists them */
    assert_string_equal(ev.types[1].type, "ORG");
    assert_string_equal(ev.types[2].type, "PER");
    expect_type(&ev, "LOC", 1, 0, 0);
    expect_type(&ev, "ORG", 0, 1, 0);
    expect_type(&ev, "PER", 1, 1, 1);
    expect_prf(rc_conlleval_overall(&ev), 50, 50, 50);
    assert_float_equal(rc_conlleval_accuracy(&ev), 75, 1e-9);

    char *report;
    assert_int_equal(rc_conlleval_report(&ev, &report), RC_OK);
    assert_string_equal(report,
        "processed 4 tokens with 2 phrases; found: 2 phrases; correct: 1.\n"
        "accuracy:  75.00%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n");
    free(report);
    rc_conlleval_free(&ev);
}

/* Entities at the sentence start and end, one token long, and a sentence
 * boundary between an entity and an I- that must not continue it:
 *   1: gold B-LOC O O B-PER       pred B-LOC O O B-PER      LOC[0] PER[3] both right
 *   2: gold O B-PER               pred O B-PER              PER[1]
 *   3: gold I-PER O               pred B-PER O              I- at the start opens a chunk:
 *                                                           PER[0] on both sides, right
 * (read as one stream without boundaries, gold would join 2's PER with
 * 3's I-PER and pred would not: 0 correct there). gold 4, pred 4, correct 4;
 * tokens 8, tags right 7 (I-PER vs B-PER). */
static void test_sentence_edges(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-LOC O O B-PER", "B-LOC O O B-PER");
    add(&ev, "O B-PER", "O B-PER");
    add(&ev, "I-PER O", "B-PER O");
    expect_counts(&ev, 8, 7, 4, 4, 4);
    assert_int_equal(ev.sentences, 3);
    expect_type(&ev, "LOC", 1, 1, 1);
    expect_type(&ev, "PER", 3, 3, 3);
    expect_prf(rc_conlleval_overall(&ev), 100, 100, 100);
    assert_float_equal(rc_conlleval_accuracy(&ev), 87.5, 1e-9);
    /* An empty sentence adds nothing but itself. */
    assert_int_equal(rc_conlleval_add(&ev, NULL, NULL, 0), RC_OK);
    assert_int_equal(ev.sentences, 4);
    expect_counts(&ev, 8, 7, 4, 4, 4);
    rc_conlleval_free(&ev);
}

/* Stray I- tags: I- after O starts a chunk.
 *   gold B-ORG I-ORG O B-MISC   ORG[0-1] MISC[3]
 *   pred I-ORG I-ORG O I-MISC   ORG[0-1] MISC[3]: same chunks, all right
 * gold 2, pred 2, correct 2 (P = R = F1 = 100), but only 2 of 4 tags equal. */
static void test_stray_inside(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-ORG I-ORG O B-MISC", "I-ORG I-ORG O I-MISC");
    expect_counts(&ev, 4, 2, 2, 2, 2);
    expect_prf(rc_conlleval_overall(&ev), 100, 100, 100);
    assert_float_equal(rc_conlleval_accuracy(&ev), 50, 1e-9);
    rc_conlleval_free(&ev);
}

/* B- followed by I- of another type: the change of type ends the first
 * chunk and starts a second.
 *   gold B-PER I-PER O   PER[0-1]
 *   pred B-PER I-LOC O   PER[0] LOC[1]
 * Both start PER at 0, but at 1 pred's chunk ends and gold's does not:
 * wrong. gold 1, pred 2, correct 0: P = R = F1 = 0. Types: PER 1/1/0,
 * LOC 0/1/0. Tags right 2 of 3. */
static void test_b_then_other_i(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-PER I-PER O", "B-PER I-LOC O");
    expect_counts(&ev, 3, 2, 1, 2, 0);
    expect_type(&ev, "PER", 1, 1, 0);
    expect_type(&ev, "LOC", 0, 1, 0);
    expect_prf(rc_conlleval_overall(&ev), 0, 0, 0);
    rc_conlleval_free(&ev);
}

/* Adjacent chunks of the same type and of different types.
 *   gold B-PER B-PER I-PER B-LOC O   PER[0] PER[1-2] LOC[3]
 *   pred B-PER I-PER I-PER B-LOC O   PER[0-2] LOC[3]
 * Token 1: gold ends PER[0] and starts PER[1-]; pred goes on: PER[0] and
 * PER[0-2] differ, PER[1-2] has no partner. Token 3: both start LOC, and
 * both end at the boundary after token 4's O... at token 4: right.
 * gold 3 (PER 2, LOC 1), pred 2 (PER 1, LOC 1), correct 1 (LOC).
 * P = 50, R = 100/3, F1 = 2 * 50 * 33.33 / 83.33 = 40. Tags right 4 of 5. */
static void test_adjacent(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-PER B-PER I-PER B-LOC O", "B-PER I-PER I-PER B-LOC O");
    expect_counts(&ev, 5, 4, 3, 2, 1);
    expect_type(&ev, "PER", 2, 1, 0);
    expect_type(&ev, "LOC", 1, 1, 1);
    expect_prf(rc_conlleval_overall(&ev), 50, 100.0 / 3, 40);
    assert_float_equal(rc_conlleval_accuracy(&ev), 80, 1e-9);
    /* Per-type scores from the counts: PER P 0 R 0, LOC 100 100. */
    expect_prf(rc_prf_from_counts(2, 1, 0), 0, 0, 0);
    expect_prf(rc_prf_from_counts(1, 1, 1), 100, 100, 100);
    rc_conlleval_free(&ev);
}

/* ---- IOB1 ----
 *   gold I-PER I-PER B-PER O I-LOC I-ORG   (IOB1: B- only between two PER)
 *        PER[0-1] PER[2] LOC[4] ORG[5] (I-ORG after I-LOC: type change)
 *   pred B-PER I-PER B-PER O B-LOC B-ORG   (the same chunks in IOB2)
 * gold 4, pred 4, correct 4; tags right: 1, 2, 3 only (3 of 6). */
static void test_iob1(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "I-PER I-PER B-PER O I-LOC I-ORG", "B-PER I-PER B-PER O B-LOC B-ORG");
    expect_counts(&ev, 6, 3, 4, 4, 4);
    expect_type(&ev, "PER", 2, 2, 2);
    expect_type(&ev, "LOC", 1, 1, 1);
    expect_type(&ev, "ORG", 1, 1, 1);
    expect_prf(rc_conlleval_overall(&ev), 100, 100, 100);
    /* Types may hold hyphens: split at the first. */
    add(&ev, "I-foo-bar I-foo-bar O", "I-foo-bar B-foo-bar O");
    /* gold foo-bar[0-1]; pred foo-bar[0] foo-bar[1]: gold 1, pred 2, 0 right. */
    expect_type(&ev, "foo-bar", 1, 2, 0);
    expect_counts(&ev, 9, 5, 5, 6, 4);
    rc_conlleval_free(&ev);
}

/* ---- IOBES ----
 *   gold S-PER B-LOC E-LOC S-LOC O B-ORG I-ORG E-ORG
 *        PER[0] LOC[1-2] LOC[3] ORG[5-7]
 *   pred S-PER B-LOC I-LOC E-LOC O B-ORG E-ORG S-ORG
 *        PER[0] LOC[1-3] ORG[5-6] ORG[7]
 * Token 1: S- ended PER[0] on both sides: right. Token 3: gold's E- ended
 * LOC[1-2] and S- starts LOC[3]; pred goes on: wrong. Token 7: pred's E-
 * ended ORG[5-6], S- starts ORG[7]; gold goes on: wrong.
 * gold 4, pred 4, correct 1: P = R = F1 = 25. Tags right 4 of 8.
 * (conlleval.pl itself knows no S-: it would join pred's E-ORG S-ORG into
 * one chunk ORG[5-7] and count it right.) */
static void test_iobes(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "S-PER B-LOC E-LOC S-LOC O B-ORG I-ORG E-ORG",
        "S-PER B-LOC I-LOC E-LOC O B-ORG E-ORG S-ORG");
    expect_counts(&ev, 8, 4, 4, 4, 1);
    expect_type(&ev, "PER", 1, 1, 1);
    expect_type(&ev, "LOC", 2, 1, 0);
    expect_type(&ev, "ORG", 1, 2, 0);
    expect_prf(rc_conlleval_overall(&ev), 25, 25, 25);
    rc_conlleval_free(&ev);

    /* Adjacent same-type chunks: S-PER S-PER is two chunks, so is
     * E-PER B-PER.
     *   gold B-PER E-PER B-PER E-PER   PER[0-1] PER[2-3]
     *   pred B-PER E-PER S-PER S-PER   PER[0-1] PER[2] PER[3]
     * gold 2, pred 3, correct 1: P = 100/3, R = 50, F1 = 40. */
    rc_conlleval_init(&ev);
    add(&ev, "B-PER E-PER B-PER E-PER", "B-PER E-PER S-PER S-PER");
    expect_counts(&ev, 4, 2, 2, 3, 1);
    expect_prf(rc_conlleval_overall(&ev), 100.0 / 3, 50, 40);
    rc_conlleval_free(&ev);
}

/* No predictions, no gold, neither: the 0/0 ratios are 0, as conlleval
 * prints them. */
static void test_empty_sides(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-PER O", "O O");
    /* gold 1, pred 0: P = 0 (nothing found), R = 0, F1 = 0. */
    expect_counts(&ev, 2, 1, 1, 0, 0);
    expect_prf(rc_conlleval_overall(&ev), 0, 0, 0);
    char *report;
    assert_int_equal(rc_conlleval_report(&ev, &report), RC_OK);
    assert_string_equal(report,
        "processed 2 tokens with 1 phrases; found: 0 phrases; correct: 0.\n"
        "accuracy:  50.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
        "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n");
    free(report);
    rc_conlleval_free(&ev);

    rc_conlleval_init(&ev);
    add(&ev, "O O", "O B-LOC");
    /* gold 0, pred 1: P = 0, R = 0 (no gold), F1 = 0. */
    expect_counts(&ev, 2, 1, 0, 1, 0);
    expect_prf(rc_conlleval_overall(&ev), 0, 0, 0);
    rc_conlleval_free(&ev);

    rc_conlleval_init(&ev);
    add(&ev, "O O O", "O O O");
    expect_counts(&ev, 3, 3, 0, 0, 0);
    expect_prf(rc_conlleval_overall(&ev), 0, 0, 0);
    assert_float_equal(rc_conlleval_accuracy(&ev), 100, 1e-9);
    assert_int_equal(ev.n_types, 0);
    rc_conlleval_free(&ev);

    /* Nothing at all: no accuracy line. */
    rc_conlleval_init(&ev);
    assert_float_equal(rc_conlleval_accuracy(&ev), 0, 0);
    assert_int_equal(rc_conlleval_report(&ev, &report), RC_OK);
    assert_string_equal(report, "processed 0 tokens with 0 phrases; found: 0 phrases; "
                                "correct: 0.\n");
    free(report);
    rc_conlleval_free(&ev);

    /* P 60 R 75: F1 = 2 * 60 * 75 / 135 = 66.67. */
    expect_prf(rc_prf_from_counts(4, 5, 3), 60, 75, 2.0 * 60 * 75 / 135);
    expect_prf(rc_prf_from_counts(0, 0, 0), 0, 0, 0);
}

/* Bad tags: RC_ERR_FORMAT naming the sentence, side and position; the
 * counts stay as they were. */
static void test_bad_tags(void **state)
{
    (void)state;
    rc_conlleval ev;
    rc_conlleval_init(&ev);
    add(&ev, "B-PER O", "B-PER O");
    const char *good[3] = {"B-LOC", "I-LOC", "O"};
    const char *bad[][3] = {
        {"B-LOC", "B_LOC", "O"}, {"B-LOC", "X-LOC", "O"}, {"B-LOC", "B-", "O"},
        {"B-LOC", "", "O"},      {"B-LOC", "o", "O"},     {"B-LOC", NULL, "O"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc_clear_error();
        assert_int_equal(rc_conlleval_add(&ev, good, bad[i], 3), RC_ERR_FORMAT);
        assert_non_null(strstr(rc_last_error(), "sentence 1: predicted tag 1"));
        assert_int_equal(rc_conlleval_add(&ev, bad[i], good, 3), RC_ERR_FORMAT);
        assert_non_null(strstr(rc_last_error(), "sentence 1: gold tag 1"));
    }
    assert_non_null(strstr(rc_last_error(), "NULL"));
    assert_int_equal(rc_conlleval_add(&ev, good, NULL, 3), RC_ERR_ARG);
    assert_int_equal(rc_conlleval_add(NULL, good, good, 3), RC_ERR_ARG);
    expect_counts(&ev, 2, 2, 1, 1, 1);
    assert_int_equal(ev.sentences, 1);
    assert_int_equal(ev.n_types, 1);
    /* A good call still works afterwards. */
    assert_int_equal(rc_conlleval_add(&ev, good, good, 3), RC_OK);
    expect_counts(&ev, 5, 5, 2, 2, 2);
    rc_conlleval_free(&ev);
}

/* ---- schemes ---- */

static void expect_convert(const char *in, rc_tag_scheme to, const char *want)
{
    tag_list a, w;
    split(&a, in);
    split(&w, want);
    const char **out;
    if (rc_tags_convert(a.v, a.n, to, &out) != RC_OK) fail_msg("%s", rc_last_error());
    assert_int_equal(a.n, w.n);
    for (size_t i = 0; i < a.n; i++)
        if (strcmp(out[i], w.v[i]))
            fail_msg("%s to %s: tag %zu is %s, want %s", in, rc_tag_scheme_name(to), i, out[i],
                     w.v[i]);
    free(out);
}

static void test_convert(void **state)
{
    (void)state;
    /* One sentence in all three schemes: PER[0-1] PER[2] LOC[4-6] ORG[7] ORG[8]. */
    const char *iob1 = "I-PER I-PER B-PER O I-LOC I-LOC I-LOC I-ORG B-ORG";
    const char *iob2 = "B-PER I-PER B-PER O B-LOC I-LOC I-LOC B-ORG B-ORG";
    const char *iobes = "B-PER E-PER S-PER O B-LOC I-LOC E-LOC S-ORG S-ORG";
    const char *all[3] = {iob1, iob2, iobes};
    rc_tag_scheme sch[3] = {RC_TAGS_IOB1, RC_TAGS_IOB2, RC_TAGS_IOBES};
    for (int from = 0; from < 3; from++)
        for (int to = 0; to < 3; to++) expect_convert(all[from], sch[to], all[to]);
    /* Ill-formed input is read as conlleval reads it: stray I- opens a
     * chunk, a change of type starts one, B- E- of other types... */
    expect_convert("I-PER O I-LOC B-PER I-LOC", RC_TAGS_IOB2, "B-PER O B-LOC B-PER B-LOC");
    expect_convert("I-PER O I-LOC B-PER I-LOC", RC_TAGS_IOBES, "S-PER O S-LOC S-PER S-LOC");
    expect_convert("B-PER I-PER", RC_TAGS_IOBES, "B-PER E-PER");
    expect_convert("B-PER", RC_TAGS_IOB1, "I-PER");
    expect_convert("E-PER I-PER E-PER O", RC_TAGS_IOB2, "B-PER B-PER I-PER O");
    expect_convert("O", RC_TAGS_IOBES, "O");
    const char **out = (const char **)1;
    assert_int_equal(rc_tags_convert(NULL, 0, RC_TAGS_IOBES, &out), RC_OK);
    free(out);
    const char *bad[2] = {"B-PER", "BPER"};
    assert_int_equal(rc_tags_convert(bad, 2, RC_TAGS_IOB2, &out), RC_ERR_FORMAT);
    assert_null(out);
    assert_non_null(strstr(rc_last_error(), "tag 1 is \"BPER\""));
    assert_int_equal(rc_tags_convert(bad, 1, (rc_tag_scheme)7, &out), RC_ERR_ARG);
}

/* Random sentences over two types and all prefixes: the conversion into
 * each scheme is well-formed there and has the same chunks (conlleval
 * finds every chunk right, and the same number), and converting back and
 * forth between well-formed forms is the identity. */
static void test_convert_random(void **state)
{
    (void)state;
    static const char *pool[9] = {"O",     "B-PER", "I-PER", "E-PER", "S-PER",
                                  "B-LOC", "I-LOC", "E-LOC", "S-LOC"};
    rc_tag_scheme sch[3] = {RC_TAGS_IOB1, RC_TAGS_IOB2, RC_TAGS_IOBES};
    rc_rng r;
    rc_rng_init(&r, 77);
    for (int rep = 0; rep < 300; rep++) {
        size_t n = 1 + rc_rng_u32(&r) % 12;
        const char *tags[12];
        for (size_t i = 0; i < n; i++) tags[i] = pool[rc_rng_u32(&r) % 9];
        rc_conlleval self;
        rc_conlleval_init(&self);
        assert_int_equal(rc_conlleval_add(&self, tags, tags, n), RC_OK);
        const char **conv[3];
        for (int s = 0; s < 3; s++) {
            assert_int_equal(rc_tags_convert(tags, n, sch[s], &conv[s]), RC_OK);
            if (rc_tags_check(conv[s], n, sch[s]) != RC_OK) fail_msg("%s", rc_last_error());
            rc_conlleval ev;
            rc_conlleval_init(&ev);
            assert_int_equal(rc_conlleval_add(&ev, tags, conv[s], n), RC_OK);
            assert_int_equal(ev.gold, self.gold);
            assert_int_equal(ev.predicted, self.gold);
            assert_int_equal(ev.correct, self.gold);
            rc_conlleval_free(&ev);
        }
        for (int s = 0; s < 3; s++)
            for (int u = 0; u < 3; u++) {
                const char **back;
                assert_int_equal(rc_tags_convert(conv[s], n, sch[u], &back), RC_OK);
                for (size_t i = 0; i < n; i++) assert_string_equal(back[i], conv[u][i]);
                free(back);
            }
        for (int s = 0; s < 3; s++) free(conv[s]);
        rc_conlleval_free(&self);
    }
}

static void want_check(const char *tags, rc_tag_scheme s, rc_status want, const char *word)
{
    tag_list t;
    split(&t, tags);
    rc_clear_error();
    rc_status got = rc_tags_check(t.v, t.n, s);
    if (got != want)
        fail_msg("%s as %s: %s, want %s (%s)", tags, rc_tag_scheme_name(s), rc_status_name(got),
                 rc_status_name(want), rc_last_error());
    if (word && !strstr(rc_last_error(), word))
        fail_msg("%s as %s: message \"%s\" lacks \"%s\"", tags, rc_tag_scheme_name(s),
                 rc_last_error(), word);
}

static void test_check(void **state)
{
    (void)state;
    want_check("B-PER I-PER O B-LOC B-LOC", RC_TAGS_IOB2, RC_OK, NULL);
    want_check("O I-PER", RC_TAGS_IOB2, RC_ERR_FORMAT, "tag 1 \"I-PER\" after \"O\"");
    want_check("I-PER", RC_TAGS_IOB2, RC_ERR_FORMAT, "the sentence start");
    want_check("B-PER I-LOC", RC_TAGS_IOB2, RC_ERR_FORMAT, "tag 1");
    want_check("S-PER", RC_TAGS_IOB2, RC_ERR_FORMAT, "E- or S-");
    want_check("I-PER I-PER B-PER O I-LOC", RC_TAGS_IOB1, RC_OK, NULL);
    want_check("B-PER", RC_TAGS_IOB1, RC_ERR_FORMAT, "tag 0");
    want_check("I-LOC B-PER", RC_TAGS_IOB1, RC_ERR_FORMAT, "tag 1");
    want_check("O B-PER", RC_TAGS_IOB1, RC_ERR_FORMAT, "tag 1");
    want_check("E-PER", RC_TAGS_IOB1, RC_ERR_FORMAT, "E- or S-");
    want_check("S-PER B-PER I-PER E-PER S-LOC O", RC_TAGS_IOBES, RC_OK, NULL);
    want_check("B-PER O", RC_TAGS_IOBES, RC_ERR_FORMAT, "tag 1 \"O\" after \"B-PER\"");
    want_check("B-PER", RC_TAGS_IOBES, RC_ERR_FORMAT, "ends after tag 0");
    want_check("O E-PER", RC_TAGS_IOBES, RC_ERR_FORMAT, "tag 1");
    want_check("B-PER E-LOC", RC_TAGS_IOBES, RC_ERR_FORMAT, "tag 1");
    want_check("B-PER S-PER", RC_TAGS_IOBES, RC_ERR_FORMAT, "tag 1");
    want_check("O B_PER", RC_TAGS_IOB2, RC_ERR_FORMAT, "tag 1 is \"B_PER\"");
    want_check("", RC_TAGS_IOBES, RC_OK, NULL);
    assert_int_equal(rc_tags_check(NULL, 1, RC_TAGS_IOB2), RC_ERR_ARG);
    assert_int_equal(rc_tags_check(NULL, 0, (rc_tag_scheme)9), RC_ERR_ARG);

    rc_tag_scheme s;
    assert_int_equal(rc_tag_scheme_parse("iob1", &s), RC_OK);
    assert_int_equal(s, RC_TAGS_IOB1);
    assert_int_equal(rc_tag_scheme_parse("bio", &s), RC_OK);
    assert_int_equal(s, RC_TAGS_IOB2);
    assert_int_equal(rc_tag_scheme_parse("iob2", &s), RC_OK);
    assert_int_equal(s, RC_TAGS_IOB2);
    assert_int_equal(rc_tag_scheme_parse("iobes", &s), RC_OK);
    assert_int_equal(s, RC_TAGS_IOBES);
    assert_int_equal(rc_tag_scheme_parse("bilou", &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "bilou"));
    assert_string_equal(rc_tag_scheme_name(RC_TAGS_IOBES), "iobes");
}

/* ---- the shared CoNLL-2003 training file ----
 * SOURCE.txt: 14,041 sentences, 203,621 tokens, 23,499 entities
 * (PER 6,600 / LOC 7,140 / ORG 6,321 / MISC 3,438), in IOB2. The tags are
 * well-formed IOB2, and their IOB1 and IOBES forms have the same chunks. */
static void test_conll2003_counts(void **state)
{
    (void)state;
    const char *path = RC_SOURCE_DIR "/../shared/data/ner/train.txt";
    if (access(path, R_OK)) TEST_SKIP();
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    rc_conlleval ev, conv[2];
    rc_conlleval_init(&ev);
    rc_conlleval_init(&conv[0]);
    rc_conlleval_init(&conv[1]);
    static char tagbuf[256][16];
    const char *tags[256];
    size_t n = 0;
    char line[512];
    int bad_scheme = 0;
    for (int more = 1; more;) {
        more = fgets(line, sizeof line, f) != NULL;
        if (more && !strncmp(line, "-DOCSTART-", 10)) continue;
        char *last = NULL;
        if (more)
            for (char *p = strtok(line, " \r\n"); p; p = strtok(NULL, " \r\n")) last = p;
        if (last) {
            assert_true(n < 256 && strlen(last) < 16);
            strcpy(tagbuf[n], last);
            tags[n] = tagbuf[n];
            n++;
            continue;
        }
        if (n == 0) continue;
        assert_int_equal(rc_conlleval_add(&ev, tags, tags, n), RC_OK);
        if (rc_tags_check(tags, n, RC_TAGS_IOB2) != RC_OK) bad_scheme++;
        rc_tag_scheme to[2] = {RC_TAGS_IOB1, RC_TAGS_IOBES};
        for (int s = 0; s < 2; s++) {
            const char **c;
            assert_int_equal(rc_tags_convert(tags, n, to[s], &c), RC_OK);
            assert_int_equal(rc_conlleval_add(&conv[s], tags, c, n), RC_OK);
            free(c);
        }
        n = 0;
    }
    fclose(f);
    assert_int_equal(bad_scheme, 0);
    assert_int_equal(ev.sentences, 14041);
    assert_int_equal(ev.tokens, 203621);
    assert_int_equal(ev.gold, 23499);
    expect_type(&ev, "PER", 6600, 6600, 6600);
    expect_type(&ev, "LOC", 7140, 7140, 7140);
    expect_type(&ev, "ORG", 6321, 6321, 6321);
    expect_type(&ev, "MISC", 3438, 3438, 3438);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(conv[s].gold, 23499);
        assert_int_equal(conv[s].predicted, 23499);
        assert_int_equal(conv[s].correct, 23499);
        expect_prf(rc_conlleval_overall(&conv[s]), 100, 100, 100);
    }
    /* IOB1 differs from IOB2 at every chunk's first tag but those that
     * follow a chunk of their type. */
    assert_true(conv[0].correct_tags < conv[0].tokens);
    rc_conlleval_free(&ev);
    rc_conlleval_free(&conv[0]);
    rc_conlleval_free(&conv[1]);
}

TEST_GROUP(conlleval_tests, "conlleval",
           cmocka_unit_test(test_type_mismatch),
           cmocka_unit_test(test_sentence_edges),
           cmocka_unit_test(test_stray_inside),
           cmocka_unit_test(test_b_then_other_i),
           cmocka_unit_test(test_adjacent),
           cmocka_unit_test(test_iob1),
           cmocka_unit_test(test_iobes),
           cmocka_unit_test(test_empty_sides),
           cmocka_unit_test(test_bad_tags),
           cmocka_unit_test(test_convert),
           cmocka_unit_test(test_convert_random),
           cmocka_unit_test(test_check),
           cmocka_unit_test(test_conll2003_counts));
