/* test_readers.c - the data-set readers: CoNLL columns, UCI splice
 * junctions, MSR Action3D skeletons. Counts on the real files are checked
 * when ../shared/data holds them (skipped otherwise). */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA RC_SOURCE_DIR "/../shared/data/"

static const char *write_s(const char *dir, const char *name, const char *s)
{
    return test_write_file(dir, name, s, strlen(s));
}

/* Expects the status and every word in the message. */
static void expect_err(rc_status got, rc_status want, const char *const *words)
{
    if (got != want)
        fail_msg("status %s, expected %s (%s)", rc_status_name(got), rc_status_name(want),
                 rc_last_error());
    for (; *words; words++)
        if (!strstr(rc_last_error(), *words))
            fail_msg("message \"%s\" lacks \"%s\"", rc_last_error(), *words);
}
#define EXPECT_ERR(expr, st, ...) expect_err((expr), (st), (const char *const[]){__VA_ARGS__, NULL})

/* ---------------------------------------------------------------- CoNLL -- */

static void conll_basic(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    const char *p = write_s(d, "a.txt",
                            "-DOCSTART- -X- -X- O\n\n"
                            "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman\tJJ B-NP  B-MISC\n\n\n"
                            "Peter NNP B-NP B-PER\r\nBlackburn NNP I-NP I-PER\n\n"
                            "-DOCSTART- -X- -X- O\n"
                            "Zürich NNP B-NP B-LOC"); /* no final newline */
    rc_conll c;
    rc_tag_scheme iob2 = RC_TAGS_IOB2;
    assert_int_equal(rc_conll_read(p, 0, -1, &iob2, &c), RC_OK);
    assert_int_equal(c.n_sentences, 3);
    assert_int_equal(c.n_tokens, 6);
    assert_int_equal(c.n_columns, 4);
    assert_int_equal(c.n_docs, 2);
    assert_int_equal(c.start[0], 0);
    assert_int_equal(c.start[1], 3);
    assert_int_equal(c.start[2], 5);
    assert_int_equal(c.start[3], 6);
    assert_int_equal(c.line[0], 3);
    assert_int_equal(c.line[1], 8);
    assert_int_equal(c.line[2], 12);
    assert_string_equal(c.tokens[2], "German");
    assert_string_equal(c.tags[2], "B-MISC");
    assert_string_equal(c.tokens[4], "Blackburn");
    assert_string_equal(c.tags[4], "I-PER");
    assert_string_equal(c.tokens[5], "Zürich");
    assert_string_equal(c.tags[5], "B-LOC");
    rc_conll_free(&c);
    /* Another column pair: the chunk column (2), positive index. */
    assert_int_equal(rc_conll_read(p, 1, 2, NULL, &c), RC_OK);
    assert_string_equal(c.tokens[0], "NNP");
    assert_string_equal(c.tags[4], "I-NP");
    rc_conll_free(&c);
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void conll_errors(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    rc_conll c;
    rc_tag_scheme iob2 = RC_TAGS_IOB2, iobes = RC_TAGS_IOBES;
    const char *p = write_s(d, "ragged.txt", "a B O\nb C O\n\nc D\n");
    EXPECT_ERR(rc_conll_read(p, 0, -1, NULL, &c), RC_ERR_FORMAT, "conll_read", "ragged.txt:4",
               "ragged", "2 columns", "has 3");
    assert_null(c.tokens);
    p = write_s(d, "col.txt", "a B O\n");
    EXPECT_ERR(rc_conll_read(p, 0, 3, NULL, &c), RC_ERR_FORMAT, "col.txt:1", "column 3",
               "missing", "3 columns");
    EXPECT_ERR(rc_conll_read(p, -4, 1, NULL, &c), RC_ERR_FORMAT, "col.txt:1", "column -4");
    p = write_s(d, "utf.txt", "a O\nb\xff O\n");
    EXPECT_ERR(rc_conll_read(p, 0, 1, NULL, &c), RC_ERR_FORMAT, "conll_read", "utf.txt:2:2",
               "UTF-8");
    p = write_s(d, "empty.txt", "");
    EXPECT_ERR(rc_conll_read(p, 0, 1, NULL, &c), RC_ERR_FORMAT, "empty.txt", "empty");
    p = write_s(d, "blank.txt", "\n\n-DOCSTART- O\n\n");
    EXPECT_ERR(rc_conll_read(p, 0, 1, NULL, &c), RC_ERR_FORMAT, "blank.txt:4", "no tokens");
    /* Tags: I-PER after O is bad IOB2 (line 3); fine unchecked. */
    p = write_s(d, "tags.txt", "x O\n\ny O\nz I-PER\n");
    EXPECT_ERR(rc_conll_read(p, 0, 1, &iob2, &c), RC_ERR_FORMAT, "tags.txt:4", "I-PER", "iob2");
    assert_int_equal(rc_conll_read(p, 0, 1, NULL, &c), RC_OK);
    assert_int_equal(c.n_sentences, 2);
    rc_conll_free(&c);
    /* IOBES: a B- chunk left open at the sentence end. */
    p = write_s(d, "open.txt", "x S-LOC\ny B-PER\n\nz O\n");
    EXPECT_ERR(rc_conll_read(p, 0, 1, &iobes, &c), RC_ERR_FORMAT, "open.txt:2", "B-PER");
    EXPECT_ERR(rc_conll_read(test_path(d, "none.txt"), 0, 1, NULL, &c), RC_ERR_IO, "none.txt");
    EXPECT_ERR(rc_conll_read(NULL, 0, 1, NULL, &c), RC_ERR_ARG, "conll_read");
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void conll_shared(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int docs, sentences, tokens, entities;
    } want[] = {{"train.txt", 946, 14041, 203621, 23499},
                {"valid.txt", 216, 3250, 51362, 5942},
                {"test.txt", 231, 3453, 46435, 5648}};
    if (access(DATA "ner/train.txt", R_OK) != 0) TEST_SKIP();
    rc_tag_scheme iob2 = RC_TAGS_IOB2;
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "ner/%s", want[i].name);
        rc_conll c;
        if (rc_conll_read(path, 0, 3, &iob2, &c) != RC_OK) fail_msg("%s", rc_last_error());
        assert_int_equal(c.n_docs, want[i].docs);
        assert_int_equal(c.n_sentences, want[i].sentences);
        assert_int_equal(c.n_tokens, want[i].tokens);
        int ent = 0, per = 0, loc = 0, org = 0, misc = 0;
        for (size_t t = 0; t < c.n_tokens; t++) {
            const char *g = c.tags[t];
            if (strncmp(g, "B-", 2)) continue;
            ent++;
            per += !strcmp(g + 2, "PER"), loc += !strcmp(g + 2, "LOC");
            org += !strcmp(g + 2, "ORG"), misc += !strcmp(g + 2, "MISC");
        }
        assert_int_equal(ent, want[i].entities);
        if (i == 0) {
            assert_int_equal(per, 6600);
            assert_int_equal(loc, 7140);
            assert_int_equal(org, 6321);
            assert_int_equal(misc, 3438);
            assert_string_equal(c.tokens[0], "EU");
            assert_string_equal(c.tags[0], "B-ORG");
        }
        rc_conll_free(&c);
    }
}

/* --------------------------------------------------------------- splice -- */

#define SEQ60 "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"

static void splice_basic(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    const char *p = write_s(d, "s.data",
                            "EI,    ATRINS-DONOR-521,               " SEQ60 "\n"
                            "\n"
                            "N ,HUMX,acgtDNSR" "ATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG\r\n"
                            "IE,X," SEQ60);
    rc_splice s;
    assert_int_equal(rc_splice_read(p, &s), RC_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.label[0], RC_SPLICE_EI);
    assert_int_equal(s.label[1], RC_SPLICE_N);
    assert_int_equal(s.label[2], RC_SPLICE_IE);
    assert_string_equal(s.name[0], "ATRINS-DONOR-521");
    assert_string_equal(s.name[1], "HUMX");
    assert_string_equal(s.name[2], "X");
    /* CCAG -> 1 1 0 2; acgtDNSR -> 0..7 */
    assert_int_equal(s.seq[0], 1);
    assert_int_equal(s.seq[2], 0);
    assert_int_equal(s.seq[3], 2);
    assert_int_equal(s.seq[59], 2);
    for (int k = 0; k < 8; k++) assert_int_equal(s.seq[RC_SPLICE_LEN + k], k);
    assert_int_equal(s.seq[2 * RC_SPLICE_LEN + 59], 2);
    char back[61];
    for (int k = 0; k < 60; k++) back[k] = rc_splice_token_char(s.seq[k]);
    back[60] = '\0';
    assert_string_equal(back, SEQ60);
    rc_splice_free(&s);
    assert_null(s.label);
    assert_string_equal(rc_splice_class_name(RC_SPLICE_IE), "IE");
    assert_null(rc_splice_class_name(3));
    float pr[4];
    assert_int_equal(rc_splice_token_probs(4, pr), RC_OK); /* D: A, G, T */
    assert_true(fabsf(pr[0] - 1.0f / 3) < 1e-7f && pr[1] == 0.0f);
    assert_true(fabsf(pr[2] - 1.0f / 3) < 1e-7f && fabsf(pr[3] - 1.0f / 3) < 1e-7f);
    assert_int_equal(rc_splice_token_probs(6, pr), RC_OK); /* S: C, G */
    assert_true(pr[0] == 0.0f && pr[1] == 0.5f && pr[2] == 0.5f && pr[3] == 0.0f);
    assert_int_equal(rc_splice_token_probs(3, pr), RC_OK);
    assert_true(pr[3] == 1.0f && pr[0] == 0.0f);
    EXPECT_ERR(rc_splice_token_probs(8, pr), RC_ERR_RANGE, "8");
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void splice_errors(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    rc_splice s;
    const char *p = write_s(d, "cls.data", "EI,A," SEQ60 "\n  XX, B, " SEQ60 "\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "splice_read", "cls.data:2:3", "\"XX\"");
    assert_null(s.label);
    p = write_s(d, "len.data", "EI,A," SEQ60 "A\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "len.data:1:6", "61", "60");
    p = write_s(d, "short.data", "EI,A,ACGT\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "short.data:1:6", "4 nucleotides");
    p = write_s(d, "chr.data", "N,A,  ACGX" SEQ60 "\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "chr.data:1:10", "'X'");
    p = write_s(d, "nf.data", "N, A\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "nf.data:1", "2 fields");
    p = write_s(d, "more.data", "N,A,B,C\n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "more.data:1", "more than 3");
    p = write_s(d, "empty.data", "\n \n");
    EXPECT_ERR(rc_splice_read(p, &s), RC_ERR_FORMAT, "empty.data", "empty");
    EXPECT_ERR(rc_splice_read(test_path(d, "none"), &s), RC_ERR_IO, "none");
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void splice_shared(void **state)
{
    (void)state;
    const char *path = DATA "dna/splice/splice.data";
    if (access(path, R_OK) != 0) TEST_SKIP();
    rc_splice s;
    if (rc_splice_read(path, &s) != RC_OK) fail_msg("%s", rc_last_error());
    assert_int_equal(s.n, 3190);
    int per[3] = {0, 0, 0}, amb_seqs = 0, tok[RC_SPLICE_TOKENS] = {0};
    for (int i = 0; i < s.n; i++) {
        per[s.label[i]]++;
        int amb = 0;
        for (int k = 0; k < RC_SPLICE_LEN; k++) {
            int t = s.seq[i * RC_SPLICE_LEN + k];
            tok[t]++;
            amb |= t >= 4;
        }
        amb_seqs += amb;
    }
    assert_int_equal(per[RC_SPLICE_EI], 767);
    assert_int_equal(per[RC_SPLICE_IE], 768);
    assert_int_equal(per[RC_SPLICE_N], 1655);
    assert_int_equal(amb_seqs, 15);
    /* Letter counts of the whole file (D 2, N 56, S 1, R 1). */
    assert_int_equal(tok[4], 2);
    assert_int_equal(tok[5], 56);
    assert_int_equal(tok[6], 1);
    assert_int_equal(tok[7], 1);
    assert_int_equal(tok[0] + tok[1] + tok[2] + tok[3], 3190 * 60 - 60);
    assert_string_equal(s.name[0], "ATRINS-DONOR-521");
    rc_splice_free(&s);
}

/* ------------------------------------------------------------ skeletons -- */

/* Frames of 20 joints: joint j of frame f at (f + j, 2j, -j), confidence 1. */
static char *skel_text(int frames)
{
    char *t = malloc((size_t)frames * 20 * 64 + 1), *p = t;
    for (int f = 0; f < frames; f++)
        for (int j = 0; j < 20; j++) p += sprintf(p, "%d.5 %d %d 1.000000\n", f + j, 2 * j, -j);
    return t;
}

static void skeleton_read_file(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    char *t = skel_text(3);
    const char *p = write_s(d, "a07_s04_e02_skeleton3D.txt", t);
    free(t);
    rc_skeleton s;
    assert_int_equal(rc_skeleton_read(p, &s), RC_OK);
    assert_int_equal(s.frames, 3);
    assert_int_equal(s.action, 7);
    assert_int_equal(s.subject, 4);
    assert_int_equal(s.instance, 2);
    assert_true(s.xyz[2 * RC_SKEL_DIM + 3 * 5 + 0] == 7.5f); /* frame 2, joint 5, x */
    assert_true(s.xyz[2 * RC_SKEL_DIM + 3 * 5 + 1] == 10.0f);
    assert_true(s.xyz[2 * RC_SKEL_DIM + 3 * 5 + 2] == -5.0f);
    /* Normalise about joint 0: frame f's joint j is (j, 2j, -j) - size
     * = mean over frames of sqrt(mean_j 6 j^2) = sqrt(6 * 123.5). */
    assert_int_equal(rc_skeleton_normalize(s.xyz, s.frames, 0), RC_OK);
    double size = sqrt(6.0 * (19.0 * 20.0 * 39.0 / 6.0) / 20.0);
    for (int f = 0; f < 3; f++)
        for (int j = 0; j < 20; j++) {
            const float *v = s.xyz + f * RC_SKEL_DIM + 3 * j;
            assert_true(fabs(v[0] - j / size) < 1e-6 && fabs(v[1] - 2 * j / size) < 1e-6 &&
                        fabs(v[2] + j / size) < 1e-6);
        }
    rc_skeleton_free(&s);
    /* A name outside the pattern reads, without labels. */
    p = write_s(d, "other.txt", "1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n"
                                "1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n"
                                "1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n"
                                "1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4\n1 2 3 4");
    assert_int_equal(rc_skeleton_read(p, &s), RC_OK);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.action, 0);
    /* Every joint at one point: no body size; xyz unchanged. */
    EXPECT_ERR(rc_skeleton_normalize(s.xyz, 1, -1), RC_ERR_NUMERIC, "body size");
    assert_true(s.xyz[0] == 1.0f && s.xyz[59] == 3.0f);
    EXPECT_ERR(rc_skeleton_normalize(s.xyz, 1, 20), RC_ERR_RANGE, "20");
    rc_skeleton_free(&s);
    int a, sub, e;
    assert_int_equal(rc_skeleton_parse_name("x/a20_s10_e03_skeleton3D.txt", &a, &sub, &e), RC_OK);
    assert_true(a == 20 && sub == 10 && e == 3);
    EXPECT_ERR(rc_skeleton_parse_name("a21_s01_e01_skeleton3D.txt", &a, &sub, &e),
               RC_ERR_FORMAT, "a21_s01_e01");
    EXPECT_ERR(rc_skeleton_parse_name("a01_s00_e01_skeleton3D.txt", &a, &sub, &e),
               RC_ERR_FORMAT, "s00");
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void skeleton_errors(void **state)
{
    (void)state;
    char *d = test_tmpdir_make("readers");
    rc_skeleton s;
    const char *p = write_s(d, "three.txt", "1 2 3 4\n1 2 3\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "skeleton_read", "three.txt:2",
               "3 values");
    assert_null(s.xyz);
    p = write_s(d, "five.txt", "1 2 3 4 5\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "five.txt:1", "more than 4");
    p = write_s(d, "nan.txt", "1 2 3 4\n1 abc 3 4\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "nan.txt:2", "value 2", "\"abc\"");
    p = write_s(d, "inf.txt", "1 2 inf 4\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "inf.txt:1", "\"inf\"");
    p = write_s(d, "hex.txt", "1 0x10 3 4\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "hex.txt:1", "\"0x10\"");
    p = write_s(d, "part.txt", "1 2 3 4\n1 2 3 4\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "part.txt", "2 joint lines",
               "multiple of 20");
    p = write_s(d, "empty.txt", "");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "empty.txt", "empty");
    p = write_s(d, "blank.txt", "1 2 3 4\n\n1 2 3 4\n");
    EXPECT_ERR(rc_skeleton_read(p, &s), RC_ERR_FORMAT, "blank.txt:2", "blank");
    EXPECT_ERR(rc_skeleton_read(test_path(d, "none.txt"), &s), RC_ERR_IO, "none.txt");
    rc_skeleton_entry *e;
    int n;
    EXPECT_ERR(rc_skeleton_list(d, 1, &e, &n, NULL), RC_ERR_FORMAT, "no aAA");
    EXPECT_ERR(rc_skeleton_list(test_path(d, "nodir"), 1, &e, &n, NULL), RC_ERR_IO, "nodir");
    assert_int_equal(test_tmpdir_remove(d), 0);
}

static void skeleton_shared(void **state)
{
    (void)state;
    const char *dir = DATA "activity/msr_action3d/MSRAction3DSkeletonReal3D";
    if (access(dir, R_OK) != 0) TEST_SKIP();
    rc_skeleton_entry *e;
    int n, dropped;
    if (rc_skeleton_list(dir, 0, &e, &n, &dropped) != RC_OK) fail_msg("%s", rc_last_error());
    assert_int_equal(n, 567);
    assert_int_equal(dropped, 0);
    int train = 0, min_f = 1 << 30, max_f = 0, zero_files = 0;
    long total = 0;
    for (int i = 0; i < n; i++) {
        train += e[i].train;
        rc_skeleton s;
        if (rc_skeleton_read(e[i].path, &s) != RC_OK) fail_msg("%s", rc_last_error());
        assert_int_equal(s.action, e[i].action);
        assert_int_equal(s.subject, e[i].subject);
        total += s.frames;
        if (s.frames < min_f) min_f = s.frames;
        if (s.frames > max_f) max_f = s.frames;
        if (rc_skeleton_normalize(s.xyz, s.frames, 6) != RC_OK) {
            zero_files++;
            assert_non_null(strstr(e[i].path, "a13_s09_e02"));
        }
        rc_skeleton_free(&s);
    }
    assert_int_equal(train, 292);
    assert_int_equal(min_f, 13);
    assert_int_equal(max_f, 936);
    assert_int_equal((int)lround((double)total / n), 41);
    assert_int_equal(zero_files, 1);
    assert_string_equal(strrchr(e[0].path, '/') + 1, "a01_s01_e01_skeleton3D.txt");
    rc_skeleton_list_free(e, n);
    if (rc_skeleton_list(dir, 1, &e, &n, &dropped) != RC_OK) fail_msg("%s", rc_last_error());
    assert_int_equal(n, 566);
    assert_int_equal(dropped, 1);
    train = 0;
    for (int i = 0; i < n; i++) train += e[i].train;
    assert_int_equal(train, 291); /* the dropped file is subject 9's (train) */
    rc_skeleton_list_free(e, n);
}

TEST_GROUP(readers, "readers", cmocka_unit_test(conll_basic), cmocka_unit_test(conll_errors),
           cmocka_unit_test(conll_shared),
           cmocka_unit_test(splice_basic), cmocka_unit_test(splice_errors),
           cmocka_unit_test(splice_shared),
           cmocka_unit_test(skeleton_read_file), cmocka_unit_test(skeleton_errors),
           cmocka_unit_test(skeleton_shared));
