/* test_treenet_ops.c - the level-batched tree composition ops: the batch
 * layout (levels, rows, children), each op's backward against the
 * gradient checker on several shapes and tree sets (binary, deep,
 * single-leaf, n-ary and unary for child-sum), batching many trees giving
 * the same states as one tree at a time, and bad calls. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Trees parsed from texts, one treebank each. */
typedef struct forest {
    int n;
    rc_treebank *tb[8];
    rc_tree t[8];
} forest;

static void forest_make(forest *f, const char *const *texts, int n)
{
    f->n = n;
    for (int i = 0; i < n; i++) {
        if (rc_tree_parse(texts[i], strlen(texts[i]), &f->tb[i]))
            fail_msg("parse %s: %s", texts[i], rc_last_error());
        assert_int_equal(rc_treebank_tree(f->tb[i], 0, &f->t[i]), RC_OK);
    }
}

static void forest_free(forest *f)
{
    for (int i = 0; i < f->n; i++) rc_treebank_free(f->tb[i]);
}

static const char *const binary_trees[] = {
    "(3 (2 (2 The) (2 Rock)) (4 (2 is) (4 great)))",
    "(1 (2 a) (3 b))",
    "(2 (2 (2 (2 a) (2 b)) (2 c)) (2 d))",
    "(4 good)",
};
static const char *const nary_trees[] = {
    "(2 (1 a) (2 b) (3 c))",
    "(2 (3 (2 a)))",
    "(1 (2 x) (3 (2 y) (1 z) (0 w)))",
    "(4 good)",
};

/* ------------------------------------------------------------- layout -- */

static void test_batch_layout(void **state)
{
    (void)state;
    forest f;
    forest_make(&f, binary_trees, 4);
    rc_tree_batch b;
    assert_int_equal(rc_tree_batch_build(f.t, 4, &b), RC_OK);
    assert_int_equal(b.n_trees, 4);
    assert_int_equal(b.n_nodes, 7 + 3 + 7 + 1);
    assert_int_equal(b.n_leaves, 4 + 2 + 4 + 1);
    assert_int_equal(b.n_levels, 4); /* the left-branching tree is 3 levels up */
    assert_int_equal(b.max_children, 2);
    assert_int_equal(b.level_start[0], 0);
    assert_int_equal(b.level_start[1], b.n_leaves);
    assert_int_equal(b.level_start[b.n_levels], b.n_nodes);
    /* Level 1: (The Rock), (is great), (a b) of tree 0, tree 1's root, (a b) of tree 2. */
    assert_int_equal(b.level_start[2] - b.level_start[1], 4);
    for (int r = 0; r < b.n_nodes; r++) {
        int i = b.tree_of[r], j = b.node_of[r];
        assert_int_equal(b.row_of[b.tree_row0[i] + j], r);
        assert_int_equal(b.label[r], f.t[i].label[j]);
        int k = b.child_start[r + 1] - b.child_start[r];
        assert_int_equal(k, f.t[i].n_children[j]);
        assert_int_equal(r < b.n_leaves, k == 0);
        for (int c = 0; c < k; c++) {
            int cr = b.child_row[b.child_start[r] + c];
            assert_true(cr < r);
            assert_int_equal(b.tree_of[cr], i);
            assert_int_equal(b.node_of[cr], f.t[i].children[f.t[i].first_child[j] + c]);
        }
    }
    for (int i = 0; i < 4; i++) {
        int r = b.root_row[i];
        assert_int_equal(b.tree_of[r], i);
        assert_int_equal(b.node_of[r], f.t[i].n_nodes - 1);
    }
    /* The single-leaf tree's root is a leaf row. */
    assert_true(b.root_row[3] < b.n_leaves);
    rc_tree_batch_free(&b);
    rc_tree_batch_free(&b); /* twice is harmless */
    assert_int_equal(rc_tree_batch_build(f.t, 0, &b), RC_ERR_ARG);
    assert_int_equal(rc_tree_batch_build(NULL, 1, &b), RC_ERR_ARG);
    forest_free(&f);
}

/* ------------------------------------------------------ gradient checks -- */

enum { K_RNN, K_RNTN, K_LSTM, K_CHILDSUM };

typedef struct gcase {
    int kind;
    const rc_tree_batch *b;
} gcase;

static rc_var *f_tree(rc_tape *t, rc_var **in, void *user)
{
    const gcase *c = user;
    switch (c->kind) {
    case K_RNN: return rc_tree_rnn(t, c->b, in[0], in[1], in[2], NULL);
    case K_RNTN: return rc_tree_rnn(t, c->b, in[0], in[1], in[2], in[3]);
    case K_LSTM: return rc_tree_lstm(t, c->b, in[0], in[1], in[2]);
    default: return rc_tree_childsum(t, c->b, in[0], in[1], in[2], in[3], in[4]);
    }
}

/* The inputs of an op of this kind and hidden size: returns their count. */
static int make_inputs(int kind, int D, int n_leaves, uint64_t seed, rc_var **in)
{
    int n = 0;
    if (kind == K_RNN || kind == K_RNTN) {
        in[n++] = test_param("leaves", 2, (int[]){n_leaves, D}, seed, -1, 1);
        in[n++] = test_param("W", 2, (int[]){D, 2 * D}, seed + 1, -0.8f, 0.8f);
        in[n++] = test_param("b", 1, (int[]){D}, seed + 2, -0.3f, 0.3f);
        if (kind == K_RNTN) in[n++] = test_param("V", 3, (int[]){2 * D, D, 2 * D}, seed + 3, -0.4f, 0.4f);
    } else {
        in[n++] = test_param("leaf_gates", 2, (int[]){n_leaves, 3 * D}, seed, -1.5f, 1.5f);
        if (kind == K_LSTM) {
            in[n++] = test_param("W", 2, (int[]){5 * D, 2 * D}, seed + 1, -0.8f, 0.8f);
            in[n++] = test_param("b", 1, (int[]){5 * D}, seed + 2, -0.5f, 0.5f);
        } else {
            in[n++] = test_param("W_iou", 2, (int[]){3 * D, D}, seed + 1, -0.8f, 0.8f);
            in[n++] = test_param("b_iou", 1, (int[]){3 * D}, seed + 2, -0.5f, 0.5f);
            in[n++] = test_param("W_f", 2, (int[]){D, D}, seed + 3, -0.8f, 0.8f);
            in[n++] = test_param("b_f", 1, (int[]){D}, seed + 4, -0.5f, 0.5f);
        }
    }
    return n;
}

static void gradcheck_kind(int kind)
{
    forest f;
    forest_make(&f, kind == K_CHILDSUM ? nary_trees : binary_trees, 4);
    /* Several tree sets and sizes: all trees together, one tree, two. */
    const int sets[][3] = {{0, 4, 2}, {0, 1, 3}, {1, 2, 4}, {2, 2, 1}};
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        int from = sets[s][0], n = sets[s][1], D = sets[s][2];
        rc_tree_batch b;
        assert_int_equal(rc_tree_batch_build(f.t + from, n, &b), RC_OK);
        rc_var *in[5];
        int n_in = make_inputs(kind, D, b.n_leaves, 100 + 10 * s + (uint64_t)kind, in);
        gcase c = {kind, &b};
        assert_gradcheck(f_tree, &c, in, n_in);
        for (int i = 0; i < n_in; i++) rc_param_free(in[i]);
        rc_tree_batch_free(&b);
    }
    forest_free(&f);
}

static void test_gradcheck_rnn(void **state) { (void)state, gradcheck_kind(K_RNN); }
static void test_gradcheck_rntn(void **state) { (void)state, gradcheck_kind(K_RNTN); }
static void test_gradcheck_lstm(void **state) { (void)state, gradcheck_kind(K_LSTM); }
static void test_gradcheck_childsum(void **state) { (void)state, gradcheck_kind(K_CHILDSUM); }

/* ------------------------------------------- batched = one at a time -- */

/* The states of every node computed over all trees at once equal those
 * computed tree by tree (each its own batch), and a hand computation for
 * the recursive net's first inner node. */
static void batched_equals_single(int kind)
{
    forest f;
    forest_make(&f, kind == K_CHILDSUM ? nary_trees : binary_trees, 4);
    int D = 3;
    rc_tree_batch all;
    assert_int_equal(rc_tree_batch_build(f.t, 4, &all), RC_OK);
    rc_var *in[5];
    int n_in = make_inputs(kind, D, all.n_leaves, 7, in);
    rc_tape *t = rc_tape_new();
    gcase c = {kind, &all};
    rc_var *H = f_tree(t, in, &c);
    assert_non_null(H);
    int lw = in[0]->value.shape[1];
    for (int i = 0; i < 4; i++) {
        rc_tree_batch one;
        assert_int_equal(rc_tree_batch_build(f.t + i, 1, &one), RC_OK);
        rc_tape *t1 = rc_tape_new();
        /* This tree's leaves, in its own batch's row order. */
        rc_var *in1[5];
        memcpy(in1, in, sizeof in1);
        in1[0] = rc_input(t1, 2, (int[]){one.n_leaves, lw}, NULL);
        for (int r = 0; r < one.n_leaves; r++) {
            int ra = all.row_of[all.tree_row0[i] + one.node_of[r]];
            memcpy(in1[0]->value.data + (size_t)r * lw, in[0]->value.data + (size_t)ra * lw,
                   (size_t)lw * sizeof(float));
        }
        gcase c1 = {kind, &one};
        rc_var *H1 = f_tree(t1, in1, &c1);
        assert_non_null(H1);
        for (int r = 0; r < one.n_nodes; r++) {
            int ra = all.row_of[all.tree_row0[i] + one.node_of[r]];
            for (int j = 0; j < D; j++)
                assert_float_equal(H1->value.data[r * D + j], H->value.data[ra * D + j], 1e-5);
        }
        rc_tape_free(t1);
        rc_tree_batch_free(&one);
    }
    if (kind == K_RNN) {
        /* Tree 1 "(1 (2 a) (3 b))": h = tanh(W [a; b] + bias). */
        int ra = all.row_of[all.tree_row0[1] + 0], rb = all.row_of[all.tree_row0[1] + 1];
        int root = all.root_row[1];
        for (int k = 0; k < D; k++) {
            double z = in[2]->value.data[k];
            for (int j = 0; j < D; j++)
                z += in[1]->value.data[k * 2 * D + j] * in[0]->value.data[ra * D + j] +
                     in[1]->value.data[k * 2 * D + D + j] * in[0]->value.data[rb * D + j];
            assert_float_equal(H->value.data[root * D + k], tanh(z), 1e-5);
        }
    }
    rc_tape_free(t);
    for (int i = 0; i < n_in; i++) rc_param_free(in[i]);
    rc_tree_batch_free(&all);
    forest_free(&f);
}

static void test_batched_rnn(void **state) { (void)state, batched_equals_single(K_RNN); }
static void test_batched_rntn(void **state) { (void)state, batched_equals_single(K_RNTN); }
static void test_batched_lstm(void **state) { (void)state, batched_equals_single(K_LSTM); }
static void test_batched_childsum(void **state) { (void)state, batched_equals_single(K_CHILDSUM); }

/* ---------------------------------------------------------- bad calls -- */

static void test_bad_calls(void **state)
{
    (void)state;
    forest f;
    forest_make(&f, nary_trees, 4);
    rc_tree_batch b;
    assert_int_equal(rc_tree_batch_build(f.t, 1, &b), RC_OK); /* a 3-way node */
    rc_var *in[5];
    int n = make_inputs(K_RNN, 2, b.n_leaves, 1, in);
    rc_tape *t = rc_tape_new();
    TEST_EXPECT_FAIL(t, rc_tree_rnn(t, &b, in[0], in[1], in[2], NULL), RC_ERR_ARG, "tree_rnn",
                     "3 children", "child-sum");
    for (int i = 0; i < n; i++) rc_param_free(in[i]);
    rc_tree_batch_free(&b);
    /* Shapes: leaves of the wrong width, a weight of the wrong size. */
    assert_int_equal(rc_tree_batch_build(f.t + 3, 1, &b), RC_OK);
    n = make_inputs(K_LSTM, 2, b.n_leaves, 1, in);
    rc_var *w_bad = test_param("W", 2, (int[]){9, 4}, 1, -1, 1);
    TEST_EXPECT_FAIL(t, rc_tree_lstm(t, &b, in[0], w_bad, in[2]), RC_ERR_SHAPE, "tree_lstm", "w",
                     "[10x4]");
    TEST_EXPECT_FAIL(t, rc_tree_lstm(t, &b, in[1], in[1], in[2]), RC_ERR_SHAPE, "leaf_gates");
    TEST_EXPECT_FAIL(t, rc_tree_lstm(t, NULL, in[0], in[1], in[2]), RC_ERR_ARG, "batch");
    TEST_EXPECT_FAIL(t, rc_tree_childsum(t, &b, in[0], NULL, in[2], in[1], in[2]), RC_ERR_ARG,
                     "NULL");
    rc_param_free(w_bad);
    for (int i = 0; i < n; i++) rc_param_free(in[i]);
    n = make_inputs(K_RNTN, 2, b.n_leaves, 1, in);
    rc_var *v_bad = test_param("V", 3, (int[]){4, 4, 2}, 1, -1, 1);
    TEST_EXPECT_FAIL(t, rc_tree_rnn(t, &b, in[0], in[1], in[2], v_bad), RC_ERR_SHAPE, "tree_rntn",
                     "tensor");
    rc_param_free(v_bad);
    for (int i = 0; i < n; i++) rc_param_free(in[i]);
    rc_tape_free(t);
    rc_tree_batch_free(&b);
    forest_free(&f);
}

/* Lower-casing keeps non-ASCII bytes and changes only A-Z. */
static void test_lowercase(void **state)
{
    (void)state;
    const char *s = "(2 (2 ThE) (2 \xc3\x89t\xc3\xa9-OK))";
    rc_treebank *tb;
    assert_int_equal(rc_tree_parse(s, strlen(s), &tb), RC_OK);
    rc_treebank_lowercase(tb);
    char *sent;
    assert_int_equal(rc_treebank_sentence(tb, 0, &sent), RC_OK);
    assert_string_equal(sent, "the \xc3\x89t\xc3\xa9-ok");
    free(sent);
    rc_treebank_free(tb);
    rc_treebank_lowercase(NULL);
}

TEST_GROUP(treenet_ops_group, "treenet_ops", cmocka_unit_test(test_batch_layout),
           cmocka_unit_test(test_gradcheck_rnn), cmocka_unit_test(test_gradcheck_rntn),
           cmocka_unit_test(test_gradcheck_lstm), cmocka_unit_test(test_gradcheck_childsum),
           cmocka_unit_test(test_batched_rnn), cmocka_unit_test(test_batched_rntn),
           cmocka_unit_test(test_batched_lstm), cmocka_unit_test(test_batched_childsum),
           cmocka_unit_test(test_bad_calls), cmocka_unit_test(test_lowercase))
