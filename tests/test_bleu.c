/* test_bleu.c - corpus BLEU as sacreBLEU computes it.
 *
 * sacreBLEU is not packaged by Debian (no python3-sacrebleu) and PyPI is
 * out of reach here, so the expected values are derived by hand from its
 * documented definition (the arithmetic is in the comments), and the 13a
 * tokenizer is checked on crafted strings against the mteval-v13a rules
 * listed at the top of src/io/bleu.c. On top of that, 40 random corpora are
 * scored against an independent implementation, NLTK's corpus_bleu
 * (tests/fixtures/bleu_nltk.txt, written by scripts/make_bleu_reference.py),
 * which computes the same formula when every n-gram order has a match. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the 13a tokenizer ---- */

typedef struct tok_case {
    const char *in, *want;
} tok_case;

static void test_tokenize_13a(void **state)
{
    (void)state;
    static const tok_case cases[] = {
        /* punctuation of the first class is set apart */
        {"Hello, world!", "Hello , world !"},
        {"(a)[b]{c}", "( a ) [ b ] { c }"},
        {"x/y@z#1", "x / y @ z # 1"},
        {"50% \"quoted\" a;b:c?", "50 % \" quoted \" a ; b : c ?"},
        {"a_b`c^d|e~f\\g*h+i=j", "a _ b ` c ^ d | e ~ f \\ g * h + i = j"},
        /* period and comma: split unless between digits */
        {"It costs $3.50, or 1,000 yen.", "It costs $ 3.50 , or 1,000 yen ."},
        {"U.S.A.", "U . S . A ."},
        {"3.5 .5 5. x.5", "3.5 . 5 5 . x . 5"},
        {"3,5. 3,x ,5", "3,5 . 3 , x , 5"},
        {"a.,b", "a . , b"},
        /* dash: only after a digit; apostrophes never */
        {"e-mail 5-7 don't", "e-mail 5 - 7 don't"},
        {"1-2-3 a-1 -a", "1 - 2 - 3 a-1 -a"},
        /* entities, one pass each in the order quot, amp, lt, gt */
        {"&quot;quoted&quot; &amp; &lt;tag&gt;", "\" quoted \" & < tag >"},
        {"&amp;lt;", "<"},
        {"&amp;quot;", "& quot ;"},
        /* <skipped> removed (one pass), "-\n" joins, "\n" separates */
        {"a<skipped>b", "ab"},
        {"<skip<skipped>ped>", "< skipped >"},
        {"line-\nbreak two\nlines", "linebreak two lines"},
        {"x-\n-\ny", "xy"},
        /* trailing whitespace goes first: this "-\n" is not removed */
        {"end-\n", "end-"},
        /* Python's whitespace: tab, \x1c, NBSP, U+3000, U+2028 split;
         * U+200B (zero-width space) does not */
        {"a\tb\x1c" "c\xc2\xa0" "d\xe3\x80\x80" "e\xe2\x80\xa8" "f\xe2\x80\x8bg",
         "a b c d e f\xe2\x80\x8bg"},
        {"  lots \t of\r\n  space  ", "lots of space"},
        /* non-ASCII letters and punctuation are left alone */
        {"\xc2\xab" "Gr\xc3\xbc\xc3\x9f" "e\xc2\xbb Z\xc3\xbcrich.", "\xc2\xab" "Gr\xc3\xbc\xc3\x9f" "e\xc2\xbb Z\xc3\xbcrich ."},
        {"", ""},
        {" \n\t", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        if (rc_bleu_tokenize(cases[i].in, RC_BLEU_TOK_13A, &out) != RC_OK)
            fail_msg("case %zu: %s", i, rc_last_error());
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: \"%s\" -> \"%s\", expected \"%s\"", i, cases[i].in, out,
                     cases[i].want);
        free(out);
    }
    /* tokenize 'none': whitespace only */
    char *out = NULL;
    assert_int_equal(rc_bleu_tokenize("  Hello,  world!\xe3\x80\x80x \n", RC_BLEU_TOK_NONE, &out),
                     RC_OK);
    assert_string_equal(out, "Hello, world! x");
    free(out);
    /* invalid UTF-8 and bad arguments */
    out = (char *)1;
    assert_int_equal(rc_bleu_tokenize("ab\xc3(", RC_BLEU_TOK_13A, &out), RC_ERR_FORMAT);
    assert_null(out);
    assert_non_null(strstr(rc_last_error(), "bleu_tokenize"));
    assert_int_equal(rc_bleu_tokenize(NULL, RC_BLEU_TOK_13A, &out), RC_ERR_ARG);
    assert_int_equal(rc_bleu_tokenize("a", (rc_bleu_tokenizer)7, &out), RC_ERR_ARG);
}

/* ---- corpus BLEU, by hand ---- */

static const char *const *one(const char *const *stream) { return stream; }

static rc_bleu_score corpus(const char *const *hyps, size_t n, const char *const *const *refs,
                            int n_refs, const rc_bleu_config *cfg)
{
    rc_bleu_score s;
    if (rc_bleu_corpus(hyps, n, refs, n_refs, cfg, &s) != RC_OK)
        fail_msg("bleu_corpus: %s", rc_last_error());
    return s;
}

static void assert_line(const rc_bleu_score *s, const char *want)
{
    char line[256];
    rc_bleu_format(s, line, sizeof line);
    if (strcmp(line, want) != 0) fail_msg("score line \"%s\", expected \"%s\"", line, want);
}

static void test_perfect(void **state)
{
    (void)state;
    /* Identical: every precision 100, BP 1, BLEU exp(4 ln 100 / 4) = 100. */
    const char *h[2] = {"The cat sat on the mat.", "It is 3.5 m long, isn't it?"};
    const char *const *r[1] = {one(h)};
    rc_bleu_score s = corpus(h, 2, r, 1, NULL);
    assert_float_equal(s.score, 100.0, 1e-9);
    for (int k = 0; k < 4; k++) assert_true(s.precisions[k] == 100.0);
    /* 13a: The cat sat on the mat . (7) and It is 3.5 m long , isn't it ? (9) */
    assert_int_equal(s.hyp_len, 16);
    assert_int_equal(s.ref_len, 16);
    assert_int_equal(s.totals[0], 16);
    assert_int_equal(s.totals[3], 4 + 6);
    assert_true(s.bp == 1.0 && s.ratio == 1.0);
    assert_int_equal(s.n_refs, 1);
    assert_line(&s, "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 "
                    "hyp_len = 16 ref_len = 16)");
}

static void test_clipping_and_exp_smoothing(void **state)
{
    (void)state;
    /* Papineni's example. hyp: "the" x 7; ref: the cat is on the mat (6).
     *   1-grams: "the" 7 times, clipped to its 2 in the ref: 2/7
     *   2-, 3-, 4-grams: "the the..." 6, 5, 4 of them, none in the ref
     * exp smoothing: the k-th order without a match gets 100/(2^k total):
     *   p = 100*2/7, 100/(2*6), 100/(4*5), 100/(8*4)
     *     = 28.571..., 8.333..., 5, 3.125
     * BP = 1 (7 >= 6), ratio 7/6; BLEU = (200/7 * 25/3 * 5 * 3.125)^(1/4)
     *   = (78125/21)^(1/4) = 7.80993... */
    const char *h[1] = {"the the the the the the the"};
    const char *rr[1] = {"the cat is on the mat"};
    const char *const *r[1] = {rr};
    rc_bleu_score s = corpus(h, 1, r, 1, NULL);
    assert_int_equal(s.counts[0], 2);
    assert_int_equal(s.totals[0], 7);
    for (int k = 1; k < 4; k++) {
        assert_int_equal(s.counts[k], 0);
        assert_int_equal(s.totals[k], 7 - k);
    }
    assert_float_equal(s.precisions[0], 200.0 / 7.0, 1e-12);
    assert_float_equal(s.precisions[1], 100.0 / 12.0, 1e-12);
    assert_true(s.precisions[2] == 5.0);
    assert_true(s.precisions[3] == 3.125);
    assert_float_equal(s.score, pow(78125.0 / 21.0, 0.25), 1e-12);
    assert_float_equal(s.ratio, 7.0 / 6.0, 1e-15);
    /* 3.125 prints as 3.1 (round half to even, as Python's format). */
    assert_line(&s, "BLEU = 7.81 28.6/8.3/5.0/3.1 (BP = 1.000 ratio = 1.167 hyp_len = 7 "
                    "ref_len = 6)");

    /* Without smoothing the orders without a match make BLEU 0 and keep
     * precision 0. */
    rc_bleu_config c = rc_bleu_defaults();
    c.smooth = RC_BLEU_SMOOTH_NONE;
    s = corpus(h, 1, r, 1, &c);
    assert_true(s.score == 0.0);
    assert_float_equal(s.precisions[0], 200.0 / 7.0, 1e-12);
    assert_true(s.precisions[1] == 0.0 && s.precisions[3] == 0.0);
}

static void test_brevity_and_effective_order(void **state)
{
    (void)state;
    /* hyp: the cat sat (3); ref: the cat sat on the mat (6).
     *   1..3-grams all match: 3/3, 2/2, 1/1; no 4-gram at all (0/0)
     * An order with no n-grams stops the loop and keeps p4 = 0, so plain
     * BLEU is 0 (log 0 is -9999999999). With effective order the mean
     * runs over orders 1..3: BLEU = BP * 100, BP = exp(1 - 6/3) = e^-1. */
    const char *h[1] = {"the cat sat"};
    const char *rr[1] = {"the cat sat on the mat"};
    const char *const *r[1] = {rr};
    rc_bleu_score s = corpus(h, 1, r, 1, NULL);
    assert_true(s.score == 0.0);
    assert_float_equal(s.bp, exp(-1.0), 1e-15);
    assert_float_equal(s.ratio, 0.5, 1e-15);
    assert_true(s.precisions[0] == 100.0 && s.precisions[2] == 100.0 && s.precisions[3] == 0.0);
    rc_bleu_config c = rc_bleu_defaults();
    c.effective_order = 1;
    s = corpus(h, 1, r, 1, &c);
    assert_float_equal(s.score, 100.0 * exp(-1.0), 1e-12);
    assert_line(&s, "BLEU = 36.79 100.0/100.0/100.0/0.0 (BP = 0.368 ratio = 0.500 hyp_len = 3 "
                    "ref_len = 6)");
}

static void test_multiple_references(void **state)
{
    (void)state;
    /* hyp "a b a b" (4) against ref1 "a b c" (3) and ref2 "b b a b d" (5).
     * Each n-gram is clipped to its largest count in ONE reference:
     *   1-grams: a 2 (max ref count max(1,1) = 1), b 2 (max(1,3) = 3): 1+2 = 3/4
     *   2-grams: "a b" 2 (max(1,1) = 1; a sum over refs would allow 2),
     *            "b a" 1 (ref2 1): 1+1 = 2/3
     *   3-grams: "a b a" 0, "b a b" 1 (ref2): 1/2
     *   4-grams: "a b a b": 0/1 -> exp smoothing 100/(2*1) = 50
     * Lengths 3 and 5 are both 1 from 4: the shorter, 3, is used; BP = 1.
     * BLEU = (75 * 200/3 * 50 * 50)^(1/4) = 12500000^(1/4) = 59.4603... */
    const char *h[1] = {"a b a b"};
    const char *r1[1] = {"a b c"}, *r2[1] = {"b b a b d"};
    const char *const *r[2] = {r1, r2};
    rc_bleu_score s = corpus(h, 1, r, 2, NULL);
    int64_t want_c[4] = {3, 2, 1, 0}, want_t[4] = {4, 3, 2, 1};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(s.counts[k], want_c[k]);
        assert_int_equal(s.totals[k], want_t[k]);
    }
    assert_int_equal(s.ref_len, 3);
    assert_true(s.bp == 1.0);
    assert_float_equal(s.score, pow(12500000.0, 0.25), 1e-12);
    assert_int_equal(s.n_refs, 2);

    /* A NULL or empty reference is no reference: segment 1 has one only.
     * Segment 1: hyp "x y" ref "x y z": 2/2, 1/1, 0/0, 0/0; closest ref
     * length 3. Totals: 1: 5/6, 2: 3/4, 3: 1/2, 4: 0/1; lengths 6 and 6.
     * exp smoothing on order 4: 100/(2*1) = 50.
     * BLEU = (500/6 * 75 * 50 * 50)^(1/4) = 15625000^(1/4) */
    const char *h2[2] = {"a b a b", "x y"};
    const char *s1[2] = {"a b c", ""}, *s2[2] = {"b b a b d", NULL}, *s3[2] = {NULL, "x y z"};
    const char *const *rs[3] = {s1, s2, s3};
    s = corpus(h2, 2, rs, 3, NULL);
    assert_int_equal(s.counts[0], 5);
    assert_int_equal(s.totals[0], 6);
    assert_int_equal(s.counts[2], 1);
    assert_int_equal(s.totals[3], 1);
    assert_int_equal(s.hyp_len, 6);
    assert_int_equal(s.ref_len, 6);
    assert_float_equal(s.score, pow(15625000.0, 0.25), 1e-12);
    assert_int_equal(s.n_refs, -1);
    char sig[128];
    rc_bleu_signature(&s, NULL, sig, sizeof sig);
    assert_string_equal(sig, "nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:recur-"
                             RC_VERSION);
}

static void test_corpus_sums(void **state)
{
    (void)state;
    /* The corpus score is computed from the summed counts, not as a mean
     * of sentence scores.
     *   seg 0: "a b c d" / "a b c d": 4/4, 3/3, 2/2, 1/1, lengths 4 and 4
     *   seg 1: "x y" / "z y w":       1/2, 0/1, 0/0, 0/0, lengths 2 and 3
     *   sums: 5/6, 3/4, 2/2, 1/1; hyp_len 6, ref_len 7
     *   BP = exp(1 - 7/6); BLEU = BP * (500/6 * 75 * 100 * 100)^(1/4)
     *      = exp(-1/6) * 62500000^(1/4) = 75.264... */
    const char *h[2] = {"a b c d", "x y"};
    const char *rr[2] = {"a b c d", "z y w"};
    const char *const *r[1] = {rr};
    rc_bleu_score s = corpus(h, 2, r, 1, NULL);
    assert_float_equal(s.bp, exp(1.0 - 7.0 / 6.0), 1e-15);
    assert_float_equal(s.score, exp(1.0 - 7.0 / 6.0) * pow(62500000.0, 0.25), 1e-12);
    assert_line(&s, "BLEU = 75.26 83.3/75.0/100.0/100.0 (BP = 0.846 ratio = 0.857 hyp_len = 6 "
                    "ref_len = 7)");

    /* No match of any order: 0 at once, precisions 0 even with exp. */
    const char *hx[1] = {"x y z"}, *rx[1] = {"a b c"};
    const char *const *rxs[1] = {rx};
    s = corpus(hx, 1, rxs, 1, NULL);
    assert_true(s.score == 0.0 && s.precisions[0] == 0.0 && s.precisions[3] == 0.0);
    assert_true(s.bp == 1.0);

    /* An empty hypothesis: length 0, BP 0, ratio 0/2. */
    const char *he[1] = {""}, *re_[1] = {"a b"};
    const char *const *res[1] = {re_};
    s = corpus(he, 1, res, 1, NULL);
    assert_true(s.score == 0.0 && s.bp == 0.0 && s.ratio == 0.0);
    assert_int_equal(s.hyp_len, 0);
    assert_int_equal(s.ref_len, 2);
}

static void test_tokenizer_matters(void **state)
{
    (void)state;
    /* 13a splits "Hello," and "world!": the same 4 tokens as the ref. */
    const char *h[1] = {"Hello, world!"};
    const char *rr[1] = {"Hello , world !"};
    const char *const *r[1] = {rr};
    rc_bleu_score s = corpus(h, 1, r, 1, NULL);
    assert_float_equal(s.score, 100.0, 1e-9);
    /* Whitespace only: "Hello," "world!" (2) match none of 4: BLEU 0,
     * BP = exp(1 - 4/2). */
    rc_bleu_config c = rc_bleu_defaults();
    c.tokenize = RC_BLEU_TOK_NONE;
    s = corpus(h, 1, r, 1, &c);
    assert_true(s.score == 0.0);
    assert_int_equal(s.hyp_len, 2);
    assert_int_equal(s.ref_len, 4);
    assert_float_equal(s.bp, exp(-1.0), 1e-15);
    char sig[128];
    rc_bleu_signature(&s, &c, sig, sizeof sig);
    assert_string_equal(sig, "nrefs:1|case:mixed|eff:no|tok:none|smooth:exp|version:recur-"
                             RC_VERSION);
}

static void test_from_stats_smoothing(void **state)
{
    (void)state;
    /* counts 3,1,0,0 of totals 4,3,2,1; hyp_len 4, ref_len 5:
     * BP = exp(1 - 5/4) = exp(-1/4) for all of these. */
    int64_t c[4] = {3, 1, 0, 0}, t[4] = {4, 3, 2, 1};
    double bp = exp(-0.25);
    rc_bleu_config cfg = rc_bleu_defaults();
    rc_bleu_score s;
    /* exp: p = 75, 100/3, 100/(2*2) = 25, 100/(4*1) = 25 */
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_true(s.precisions[2] == 25.0 && s.precisions[3] == 25.0);
    assert_float_equal(s.score, bp * pow(75.0 * 100.0 / 3.0 * 25.0 * 25.0, 0.25), 1e-12);
    /* floor 0.1: p3 = 100*0.1/2 = 5, p4 = 100*0.1/1 = 10 */
    cfg.smooth = RC_BLEU_SMOOTH_FLOOR;
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_float_equal(s.precisions[2], 5.0, 1e-12);
    assert_float_equal(s.precisions[3], 10.0, 1e-12);
    assert_float_equal(s.score, bp * pow(75.0 * 100.0 / 3.0 * 5.0 * 10.0, 0.25), 1e-12);
    char sig[128];
    rc_bleu_signature(&s, &cfg, sig, sizeof sig);
    assert_non_null(strstr(sig, "|smooth:floor[0.10]|"));
    /* floor 0.5: p3 = 25, p4 = 50 */
    cfg.smooth_value = 0.5;
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_float_equal(s.score, bp * pow(75.0 * 100.0 / 3.0 * 25.0 * 50.0, 0.25), 1e-12);
    /* add-k 1 (orders >= 2): 3/4, 2/4, 1/3, 1/2 -> 75, 50, 33.3, 50 */
    cfg.smooth = RC_BLEU_SMOOTH_ADD_K;
    cfg.smooth_value = 0.0;
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_float_equal(s.precisions[1], 50.0, 1e-12);
    assert_float_equal(s.precisions[2], 100.0 / 3.0, 1e-12);
    assert_float_equal(s.score, bp * pow(75.0 * 50.0 * 100.0 / 3.0 * 50.0, 0.25), 1e-12);
    rc_bleu_signature(&s, &cfg, sig, sizeof sig);
    assert_non_null(strstr(sig, "|smooth:add-k[1.00]|"));
    /* none: 0 */
    cfg.smooth = RC_BLEU_SMOOTH_NONE;
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_true(s.score == 0.0);
    /* max order 2 (BLEU-2): BP * sqrt(75 * 100/3) = 50 BP */
    cfg.max_order = 2;
    assert_int_equal(rc_bleu_from_stats(c, t, 4, 5, &cfg, &s), RC_OK);
    assert_float_equal(s.score, 50.0 * bp, 1e-12);
    assert_line(&s, "BLEU = 38.94 75.0/33.3 (BP = 0.779 ratio = 0.800 hyp_len = 4 ref_len = 5)");
}

static void test_errors(void **state)
{
    (void)state;
    const char *h[2] = {"a b", "c"};
    const char *rr[2] = {"a b", ""};
    const char *ok[2] = {"a b", "c"};
    const char *const *r[1] = {rr};
    const char *const *rok[1] = {ok};
    rc_bleu_score s;
    assert_int_equal(rc_bleu_corpus(h, 2, r, 1, NULL, &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "segment 1 has no reference"));
    assert_int_equal(rc_bleu_corpus(h, 0, rok, 1, NULL, &s), RC_ERR_ARG);
    assert_int_equal(rc_bleu_corpus(NULL, 2, rok, 1, NULL, &s), RC_ERR_ARG);
    assert_int_equal(rc_bleu_corpus(h, 2, NULL, 1, NULL, &s), RC_ERR_ARG);
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 0, NULL, &s), RC_ERR_ARG);
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 1, NULL, NULL), RC_ERR_ARG);
    const char *const *rnull[2] = {ok, NULL};
    assert_int_equal(rc_bleu_corpus(h, 2, rnull, 2, NULL, &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "stream 1"));
    const char *hn[2] = {"a", NULL};
    assert_int_equal(rc_bleu_corpus(hn, 2, rok, 1, NULL, &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "hypothesis 1 is NULL"));
    const char *bad[2] = {"a b", "c \xff"};
    const char *const *rbad[1] = {bad};
    assert_int_equal(rc_bleu_corpus(h, 2, rbad, 1, NULL, &s), RC_ERR_FORMAT);
    assert_non_null(strstr(rc_last_error(), "reference 0 of segment 1"));
    rc_bleu_config c = rc_bleu_defaults();
    c.max_order = 5;
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 1, &c, &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "max_order 5"));
    c = rc_bleu_defaults();
    c.smooth = (rc_bleu_smooth)9;
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 1, &c, &s), RC_ERR_ARG);
    int64_t cc[4] = {3, 0, 0, 0}, tt[4] = {2, 1, 0, 0};
    assert_int_equal(rc_bleu_from_stats(cc, tt, 2, 2, NULL, &s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "order 1 has 3 matches of 2"));
    /* and a good call after all that */
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 1, NULL, &s), RC_OK);
    assert_true(s.score == 0.0); /* 3/3, 1/1, then no 3-gram at all: 0 */
    c = rc_bleu_defaults();
    c.effective_order = 1;
    assert_int_equal(rc_bleu_corpus(h, 2, rok, 1, &c, &s), RC_OK);
    assert_float_equal(s.score, 100.0, 1e-9); /* (100 * 100)^(1/2) */
}

/* ---- against NLTK on random corpora ---- */

#define NLTK_FIXTURE RC_SOURCE_DIR "/tests/fixtures/bleu_nltk.txt"
#define MAX_SEG 64

/* The text after "H " or "R " of a fixture line, without its newline. */
static char *line_text(char *line)
{
    line[strcspn(line, "\n")] = 0;
    return line[1] ? line + 2 : line + 1;
}

static void test_against_nltk(void **state)
{
    (void)state;
    FILE *f = fopen(NLTK_FIXTURE, "r");
    if (!f) fail_msg("cannot open %s", NLTK_FIXTURE);
    char line[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        int n_seg, n_refs;
        double want;
        if (line[0] == '#') continue;
        if (sscanf(line, "case %d %d %lf", &n_seg, &n_refs, &want) != 3 || n_seg > MAX_SEG ||
            n_refs < 1 || n_refs > 3)
            fail_msg("%s: bad case line \"%s\"", NLTK_FIXTURE, line);
        static char text[MAX_SEG * 4][4096];
        const char *hyp[MAX_SEG], *ref[3][MAX_SEG];
        int t = 0;
        for (int i = 0; i < n_seg; i++)
            for (int k = -1; k < n_refs; k++) {
                if (!fgets(text[t], sizeof text[t], f) || text[t][0] != (k < 0 ? 'H' : 'R'))
                    fail_msg("%s: case %d is cut short", NLTK_FIXTURE, cases + 1);
                const char *s = line_text(text[t++]);
                if (k < 0)
                    hyp[i] = s;
                else
                    ref[k][i] = s;
            }
        const char *const *refs[3] = {ref[0], ref[1], ref[2]};
        rc_bleu_config c = rc_bleu_defaults();
        c.tokenize = RC_BLEU_TOK_NONE;
        rc_bleu_score sc = corpus(hyp, (size_t)n_seg, refs, n_refs, &c);
        if (fabs(sc.score - want) > 1e-9 * (1 + want))
            fail_msg("case %d: recur %.12f, NLTK %.12f", cases + 1, sc.score, want);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 40);
}

TEST_GROUP(bleu_tests, "bleu",
           cmocka_unit_test(test_tokenize_13a),
           cmocka_unit_test(test_perfect),
           cmocka_unit_test(test_clipping_and_exp_smoothing),
           cmocka_unit_test(test_brevity_and_effective_order),
           cmocka_unit_test(test_multiple_references),
           cmocka_unit_test(test_corpus_sums),
           cmocka_unit_test(test_tokenizer_matters),
           cmocka_unit_test(test_from_stats_smoothing),
           cmocka_unit_test(test_against_nltk),
           cmocka_unit_test(test_errors));
