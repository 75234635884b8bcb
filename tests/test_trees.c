/* test_trees.c - labelled bracketed trees: parsing (post-order, labels,
 * parents, children, leaves, words; unary chains and n-ary nodes), every
 * error with its line and column, vocabularies over the leaves, and the
 * Stanford Sentiment Treebank files when ../shared/data/sentiment/sst is
 * there. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SST_DIR RC_SOURCE_DIR "/../shared/data/sentiment/sst"

static int make_dir(void **state) { return (*state = test_tmpdir_make("trees")) ? 0 : -1; }
static int remove_dir(void **state) { return test_tmpdir_remove(*state); }
#define FILE_TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

static rc_treebank *parse_ok(const char *text)
{
    rc_treebank *tb = NULL;
    rc_status s = rc_tree_parse(text, strlen(text), &tb);
    if (s) fail_msg("parse of \"%s\" failed: %s", text, rc_last_error());
    assert_int_equal(rc_treebank_count(tb), 1);
    return tb;
}

/* Every invariant of a tree: post-order, parent/children agree, leaves in
 * order, words only on leaves. */
static void check_tree(const rc_tree *t)
{
    assert_true(t->n_nodes >= 1);
    assert_int_equal(t->parent[t->n_nodes - 1], -1);
    int n_child_entries = 0, leaves = 0;
    for (int i = 0; i < t->n_nodes; i++) {
        assert_true(t->label[i] >= 0 && t->label[i] <= 4);
        if (i < t->n_nodes - 1) {
            assert_true(t->parent[i] > i); /* children before parents */
            int p = t->parent[i], found = 0;
            for (int k = 0; k < t->n_children[p]; k++)
                found += t->children[t->first_child[p] + k] == i;
            assert_int_equal(found, 1);
        }
        n_child_entries += t->n_children[i];
        if (t->n_children[i] == 0) {
            assert_non_null(t->word[i]);
            assert_int_equal(t->leaves[t->leaf_pos[i]], i);
            leaves++;
        } else {
            assert_null(t->word[i]);
            assert_int_equal(t->leaf_pos[i], -1);
            for (int k = 0; k < t->n_children[i]; k++)
                assert_int_equal(t->parent[t->children[t->first_child[i] + k]], i);
        }
    }
    assert_int_equal(n_child_entries, t->n_nodes - 1);
    assert_int_equal(leaves, t->n_leaves);
    for (int k = 1; k < t->n_leaves; k++) assert_true(t->leaves[k] > t->leaves[k - 1]);
}

/* ------------------------------------------------------------ parsing -- */

static void test_parse_binary(void **state)
{
    (void)state;
    rc_treebank *tb = parse_ok("(3 (2 (2 The) (2 Rock)) (4 (2 is) (4 great)))");
    rc_tree t;
    assert_int_equal(rc_treebank_tree(tb, 0, &t), RC_OK);
    check_tree(&t);
    assert_int_equal(t.n_nodes, 7);
    assert_int_equal(t.n_leaves, 4);
    assert_int_equal(t.line, 1);
    /* post-order: The Rock (The Rock) is great (is great) root */
    const int32_t labels[] = {2, 2, 2, 2, 4, 4, 3};
    const int32_t parents[] = {2, 2, 6, 5, 5, 6, -1};
    const int32_t nch[] = {0, 0, 2, 0, 0, 2, 2};
    const char *words[] = {"The", "Rock", NULL, "is", "great", NULL, NULL};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(t.label[i], labels[i]);
        assert_int_equal(t.parent[i], parents[i]);
        assert_int_equal(t.n_children[i], nch[i]);
        if (words[i]) assert_string_equal(t.word[i], words[i]);
        else assert_null(t.word[i]);
        assert_int_equal(t.word_id[i], -1);
    }
    assert_int_equal(t.children[t.first_child[6]], 2);
    assert_int_equal(t.children[t.first_child[6] + 1], 5);
    assert_int_equal(t.children[t.first_child[2]], 0);
    assert_int_equal(t.children[t.first_child[2] + 1], 1);
    const int32_t leaves[] = {0, 1, 3, 4};
    for (int k = 0; k < 4; k++) assert_int_equal(t.leaves[k], leaves[k]);
    char *sent = NULL;
    assert_int_equal(rc_treebank_sentence(tb, 0, &sent), RC_OK);
    assert_string_equal(sent, "The Rock is great");
    free(sent);
    assert_int_equal(rc_treebank_total_nodes(tb), 7);
    assert_int_equal(rc_treebank_tree(tb, 1, &t), RC_ERR_RANGE);
    assert_int_equal(rc_treebank_tree(tb, -1, &t), RC_ERR_RANGE);
    rc_treebank_free(tb);
}

static void test_parse_unary_nary(void **state)
{
    (void)state;
    /* a unary chain over a 3-ary node, multi-line input, odd words */
    rc_treebank *tb =
        parse_ok("  (1\n (0 (2 -LRB-) (3 caf\xc3\xa9) (4 1\\/2)\n)\t(2 (2 (2 ,))))\n\n");
    rc_tree t;
    assert_int_equal(rc_treebank_tree(tb, 0, &t), RC_OK);
    check_tree(&t);
    /* post-order: -LRB- café 1\/2 (0 ...) , (2 ,) (2 (2 ,)) root */
    assert_int_equal(t.n_nodes, 8);
    assert_int_equal(t.n_leaves, 4);
    assert_int_equal(t.n_children[3], 3);
    assert_int_equal(t.label[3], 0);
    assert_string_equal(t.word[1], "caf\xc3\xa9");
    assert_string_equal(t.word[2], "1\\/2");
    assert_int_equal(t.n_children[5], 1);
    assert_int_equal(t.n_children[6], 1);
    assert_int_equal(t.parent[4], 5);
    assert_int_equal(t.parent[5], 6);
    assert_int_equal(t.parent[6], 7);
    assert_int_equal(t.parent[3], 7);
    assert_int_equal(t.label[7], 1);
    char *sent = NULL;
    assert_int_equal(rc_treebank_sentence(tb, 0, &sent), RC_OK);
    assert_string_equal(sent, "-LRB- caf\xc3\xa9 1\\/2 ,");
    free(sent);
    rc_treebank_free(tb);

    /* a single leaf is a whole tree */
    tb = parse_ok("(4 wow)");
    assert_int_equal(rc_treebank_tree(tb, 0, &t), RC_OK);
    check_tree(&t);
    assert_int_equal(t.n_nodes, 1);
    assert_int_equal(t.n_leaves, 1);
    assert_int_equal(t.label[0], 4);
    assert_string_equal(t.word[0], "wow");
    rc_treebank_free(tb);

    /* a deep unary chain: the parser keeps its own stack */
    enum { DEPTH = 100000 };
    char *deep = malloc(4 * (size_t)DEPTH + 8);
    assert_non_null(deep);
    size_t o = 0;
    for (int i = 0; i < DEPTH; i++) memcpy(deep + o, "(1 ", 3), o += 3;
    memcpy(deep + o, "w", 1), o += 1;
    memset(deep + o, ')', DEPTH), o += DEPTH;
    assert_int_equal(rc_tree_parse(deep, o, &tb), RC_OK);
    assert_int_equal(rc_treebank_tree(tb, 0, &t), RC_OK);
    check_tree(&t);
    assert_int_equal(t.n_nodes, DEPTH);
    assert_int_equal(t.n_leaves, 1);
    assert_string_equal(t.word[0], "w");
    assert_int_equal(t.parent[DEPTH - 2], DEPTH - 1);
    rc_treebank_free(tb);
    free(deep);

    /* no spaces needed between ")" and "(" and after the label before "(" */
    tb = parse_ok("(2(1 a)(3 b))");
    assert_int_equal(rc_treebank_tree(tb, 0, &t), RC_OK);
    check_tree(&t);
    assert_int_equal(t.n_nodes, 3);
    rc_treebank_free(tb);
}

static void test_read_file(void **state)
{
    const char *dir = *state;
    const char *text = "\xef\xbb\xbf(2 (1 a) (3 b))\r\n\n(4 c)\n  (0 (0 d) (1 (2 e) (2 f)))  \n";
    const char *path = test_write_file(dir, "t.txt", text, strlen(text));
    rc_treebank *tb = NULL;
    assert_int_equal(rc_trees_read(path, &tb), RC_OK);
    assert_int_equal(rc_treebank_count(tb), 3);
    assert_int_equal(rc_treebank_total_nodes(tb), 3 + 1 + 5);
    const int lines[] = {1, 3, 4};
    const char *sents[] = {"a b", "c", "d e f"};
    for (int i = 0; i < 3; i++) {
        rc_tree t;
        assert_int_equal(rc_treebank_tree(tb, i, &t), RC_OK);
        check_tree(&t);
        assert_int_equal(t.line, lines[i]);
        char *s = NULL;
        assert_int_equal(rc_treebank_sentence(tb, i, &s), RC_OK);
        assert_string_equal(s, sents[i]);
        free(s);
    }
    rc_tree t;
    assert_int_equal(rc_treebank_tree(tb, 2, &t), RC_OK);
    assert_int_equal(t.label[4], 0);
    assert_int_equal(t.parent[0], 4);
    assert_int_equal(t.parent[3], 4);
    assert_int_equal(t.children[t.first_child[3]], 1);
    rc_treebank_free(tb);
}

/* ------------------------------------------------------------- errors -- */

static void expect_parse_error(const char *text, size_t len, const char *where,
                               const char *what)
{
    rc_treebank *tb = (rc_treebank *)1;
    rc_status s = rc_tree_parse(text, len, &tb);
    if (s != RC_ERR_FORMAT)
        fail_msg("\"%s\": status %s, expected RC_ERR_FORMAT", text, rc_status_name(s));
    assert_null(tb);
    const char *m = rc_last_error();
    if (!strstr(m, "tree_parse: ") || !strstr(m, where) || !strstr(m, what))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\" or \"%s\"", text, m, where, what);
}
#define PARSE_ERROR(text, where, what) expect_parse_error(text, strlen(text), where, what)

static void test_parse_errors(void **state)
{
    (void)state;
    PARSE_ERROR("(2 (2 a) (2 b)", "text:1:15:", "unbalanced");
    PARSE_ERROR("(2 (2 a) (2 b)", "text:1:15:", "opened at 1:1");
    PARSE_ERROR("(2 (2 a)) (2 b))", "text:1:11:", "text after the tree");
    PARSE_ERROR("(2 (2 a)))", "text:1:10:", "')' without '('");
    PARSE_ERROR(")", "text:1:1:", "')' without '('");
    PARSE_ERROR("(2 (2 a) (x b))", "text:1:11:", "non-numeric label \"x\"");
    PARSE_ERROR("(2 (2 a) (-1 b))", "text:1:11:", "non-numeric label \"-1\"");
    PARSE_ERROR("(2 (2 a) (5 b))", "text:1:11:", "label \"5\" outside 0-4");
    PARSE_ERROR("(2 (2 a) (99999999999 b))", "text:1:11:", "outside 0-4");
    PARSE_ERROR("(2 (2 a) ((2 b)))", "text:1:11:", "missing label");
    PARSE_ERROR("(2 (2 a)\n ())", "text:2:2:", "empty node \"()\"");
    PARSE_ERROR("(2 (2 a) (3 ))", "text:1:13:", "a leaf needs a word");
    PARSE_ERROR("(2 (2 a) (3))", "text:1:12:", "a leaf needs a word");
    PARSE_ERROR("(2 (2 a b))", "text:1:9:", "a second word after \"a\"");
    PARSE_ERROR("(2 (2 a (2 b)))", "text:1:9:", "a subtree after the word \"a\"");
    PARSE_ERROR("(2 (2 a) b)", "text:1:10:", "a word \"b\" beside subtrees");
    PARSE_ERROR("word", "text:1:1:", "expected '('");
    PARSE_ERROR("(", "text:1:2:", "unbalanced");
    PARSE_ERROR("(2", "text:1:3:", "unbalanced");
    PARSE_ERROR("(2 a", "text:1:5:", "unbalanced");
    PARSE_ERROR("   \n ", "", "no trees");
    expect_parse_error("", 0, "text:1:1:", "empty");
    /* columns count characters, not bytes */
    PARSE_ERROR("(2 (2 \xc3\xa9\xc3\xa9) (7 b))", "text:1:12:", "outside 0-4");
    /* invalid UTF-8 and NUL bytes, with line and column */
    PARSE_ERROR("(2 (2 a)\n (2 \xff))", "text:2:5:", "invalid UTF-8");
    expect_parse_error("(2 a\0)", 6, "text:1:5:", "NUL byte");

    rc_treebank *tb = NULL;
    assert_int_equal(rc_tree_parse(NULL, 3, &tb), RC_ERR_ARG);
    assert_int_equal(rc_tree_parse("(2 a)", 5, NULL), RC_ERR_ARG);
}

static void expect_file_error(const char *dir, const char *text, size_t len, const char *where,
                              const char *what)
{
    const char *path = test_write_file(dir, "bad.txt", text, len);
    rc_treebank *tb = (rc_treebank *)1;
    rc_status s = rc_trees_read(path, &tb);
    if (s != RC_ERR_FORMAT)
        fail_msg("\"%s\": status %s, expected RC_ERR_FORMAT", text, rc_status_name(s));
    assert_null(tb);
    const char *m = rc_last_error();
    char want[512];
    snprintf(want, sizeof want, "trees_read: %s%s", path, where);
    if (!strstr(m, want) || !strstr(m, what))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\" or \"%s\"", text, m, want, what);
}
#define FILE_ERROR(text, where, what) expect_file_error(dir, text, strlen(text), where, what)

static void test_file_errors(void **state)
{
    const char *dir = *state;
    FILE_ERROR("", ": empty", "");
    FILE_ERROR("\n\n  \n", ": no trees", "");
    /* a tree must end on its line */
    FILE_ERROR("(2 (1 a) (3 b))\n(2 (1 a)\n(3 b))\n", ":2:9:", "the line ends with 1 '(' not closed");
    FILE_ERROR("(2 (1 a) (3 b))\n(2 (1 a) (3 b)) (2 c)\n", ":2:17:", "one tree per line");
    FILE_ERROR("(2 (1 a) (3 b))\n(2 (1 a) (3 b)))\n", ":2:16:", "')' without '('");
    FILE_ERROR("(2 (1 a) (3 b))\r\n(2 (1 a) (9 b))\r\n", ":2:11:", "label \"9\" outside 0-4");
    FILE_ERROR("(2 (1 a) (3 b))\n\n(2 (1 \xe2\x82) (3 b))\n", ":3:7:", "invalid UTF-8");
    FILE_ERROR("(2 (1 a) (3 b))\n(2 (1 a) (3 b)", ":2:15:", "the text ends");

    rc_treebank *tb = (rc_treebank *)1;
    assert_int_equal(rc_trees_read(test_path(dir, "missing.txt"), &tb), RC_ERR_IO);
    assert_null(tb);
    assert_non_null(strstr(rc_last_error(), "missing.txt"));
}

/* ------------------------------------------------------------- vocab -- */

static void test_vocab(void **state)
{
    const char *dir = *state;
    const char *text = "(2 (2 the) (2 film))\n(3 (2 the) (3 (2 film) (4 rocks)))\n(1 (2 a) "
                       "(1 dud))\n";
    const char *path = test_write_file(dir, "v.txt", text, strlen(text));
    rc_treebank *tb = NULL;
    assert_int_equal(rc_trees_read(path, &tb), RC_OK);
    rc_vocab *v = NULL;
    assert_int_equal(rc_treebank_build_vocab(tb, 2, 0, &v), RC_OK);
    /* <unk>, <eos>, then "film" and "the" (count 2, byte order) */
    assert_int_equal(rc_vocab_size(v), 4);
    assert_string_equal(rc_vocab_token(v, 0), "<unk>");
    assert_string_equal(rc_vocab_token(v, 2), "film");
    assert_string_equal(rc_vocab_token(v, 3), "the");
    size_t n_unk = 99;
    assert_int_equal(rc_treebank_index(tb, v, &n_unk), RC_OK);
    assert_int_equal(n_unk, 3); /* rocks, a, dud */
    rc_tree t;
    assert_int_equal(rc_treebank_tree(tb, 1, &t), RC_OK);
    /* post-order: the film rocks (film rocks) root */
    assert_int_equal(t.word_id[0], 3);
    assert_int_equal(t.word_id[1], 2);
    assert_int_equal(t.word_id[2], RC_VOCAB_UNK);
    assert_int_equal(t.word_id[3], -1);
    assert_int_equal(t.word_id[4], -1);
    rc_vocab_free(v);

    assert_int_equal(rc_treebank_build_vocab(tb, 1, 0, &v), RC_OK);
    assert_int_equal(rc_vocab_size(v), 2 + 5);
    assert_int_equal(rc_treebank_index(tb, v, &n_unk), RC_OK);
    assert_int_equal(n_unk, 0);
    assert_int_equal(rc_treebank_tree(tb, 2, &t), RC_OK);
    assert_string_equal(rc_vocab_token(v, t.word_id[0]), "a");
    assert_string_equal(rc_vocab_token(v, t.word_id[1]), "dud");
    rc_vocab_free(v);

    assert_int_equal(rc_vocab_build("ab", 2, RC_TEXT_CHAR, 0, 0, &v), RC_OK);
    assert_int_equal(rc_treebank_index(tb, v, NULL), RC_ERR_ARG);
    rc_vocab_free(v);
    rc_treebank_free(tb);
}

/* --------------------------------------------------------------- SST -- */

static void test_sst(void **state)
{
    (void)state;
    const char *names[] = {"train.txt", "dev.txt", "test.txt"};
    const int counts[] = {8544, 1101, 2210};
    /* root labels 0..4 per file, from SOURCE.txt */
    const int roots[3][5] = {{1092, 2218, 1624, 2322, 1288},
                             {139, 289, 229, 279, 165},
                             {279, 633, 389, 510, 399}};
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SST_DIR, names[0]);
    if (access(path, R_OK) != 0) TEST_SKIP();
    rc_vocab *v = NULL;
    for (int f = 0; f < 3; f++) {
        snprintf(path, sizeof path, "%s/%s", SST_DIR, names[f]);
        rc_treebank *tb = NULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        rc_status s = rc_trees_read(path, &tb);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (s) fail_msg("%s", rc_last_error());
        double sec = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        assert_int_equal(rc_treebank_count(tb), counts[f]);
        int root[5] = {0};
        for (int i = 0; i < counts[f]; i++) {
            rc_tree t;
            assert_int_equal(rc_treebank_tree(tb, i, &t), RC_OK);
            check_tree(&t);
            assert_int_equal(t.line, i + 1);
            assert_int_equal(t.n_nodes, 2 * t.n_leaves - 1); /* binary */
            for (int k = 0; k < t.n_nodes; k++)
                assert_true(t.n_children[k] == 0 || t.n_children[k] == 2);
            root[t.label[t.n_nodes - 1]]++;
        }
        for (int c = 0; c < 5; c++) assert_int_equal(root[c], roots[f][c]);
        if (f == 0) {
            print_message("      SST train: %d trees, %zu nodes read in %.3f s\n", counts[f],
                          rc_treebank_total_nodes(tb), sec);
            /* The time is printed for information only: speed is measured
             * in bench/, never asserted in the suite. */
            char *sent = NULL;
            assert_int_equal(rc_treebank_sentence(tb, 0, &sent), RC_OK);
            assert_true(!strncmp(sent, "The Rock is destined to be the 21st Century 's new `` "
                                       "Conan '' and that he 's going to make a splash",
                                 100));
            free(sent);
            assert_int_equal(rc_treebank_build_vocab(tb, 1, 0, &v), RC_OK);
            size_t n_unk = 1;
            assert_int_equal(rc_treebank_index(tb, v, &n_unk), RC_OK);
            assert_int_equal(n_unk, 0);
            assert_true(rc_vocab_size(v) > 10000);
        } else {
            size_t n_unk = 0;
            assert_int_equal(rc_treebank_index(tb, v, &n_unk), RC_OK);
            assert_true(n_unk > 0);
        }
        rc_treebank_free(tb);
    }
    rc_vocab_free(v);
}

TEST_GROUP(trees_group, "trees", cmocka_unit_test(test_parse_binary),
           cmocka_unit_test(test_parse_unary_nary), FILE_TEST(test_read_file),
           cmocka_unit_test(test_parse_errors), FILE_TEST(test_file_errors),
           FILE_TEST(test_vocab), cmocka_unit_test(test_sst))
