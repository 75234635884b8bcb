/* test_tree_parity.c - the four tree models against PyTorch, number for
 * number, on deep trees.
 *
 * tests/fixtures/tree_parity.safetensors (made by scripts/make_tree_parity.py
 * with torch: a node-by-node reference, scripts/tree_reference.py) holds one
 * case per model: its weights, a batch of random trees (many sizes, chains
 * of depth 30 and 24, one word; up to 4 children for the child-sum model)
 * and torch's loss (mean cross-entropy over all nodes) and gradient for
 * every parameter. Each case is rebuilt with the training code's own model
 * (tn_model_init, tn_forward: embedding, composition by level, node
 * classifier), so the level layout, which child is left, the tensor term
 * and every backward pass are checked on trees as deep as SST's deepest,
 * where the gradient checker's small trees are shallow. When torch is
 * importable, fresh random cases are made and checked too. */
#include "test.h"

#include "../src/tasks/treenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* float32 here against float64 in torch, through 30 levels. */
#define TOL 2e-5

#define MAX_TREES 16

/* Runs one case; returns the number of tensors that differ. */
static int check_case(const rc_safetensors *st, const char *c, void *unused)
{
    char k[160];
    snprintf(k, sizeof k, "%s/model", c);
    const char *kind_name = rc_safetensors_meta(st, k);
    snprintf(k, sizeof k, "%s/hidden", c);
    const char *hidden = rc_safetensors_meta(st, k);
    snprintf(k, sizeof k, "%s/trees", c);
    const char *texts = rc_safetensors_meta(st, k);
    if (!kind_name || !hidden || !texts) fail_msg("case %s: metadata missing", c);
    tn_config cfg = {0};
    if (tn_kind_parse(kind_name, &cfg.kind)) fail_msg("case %s: model %s", c, kind_name);
    cfg.embed = cfg.hidden = atoi(hidden);
    cfg.classes = 5;

    /* Words w2..w24 are ids 2..24. */
    rc_tensor emb = test_fixture_get(st, c, "param/embedding.weight");
    if (!emb.data) fail_msg("case %s: no embedding", c);
    char json[2048];
    int o = snprintf(json, sizeof json, "{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\"");
    for (int i = 2; i < emb.shape[0]; i++) o += snprintf(json + o, sizeof json - (size_t)o, ",\"w%d\"", i);
    snprintf(json + o, sizeof json - (size_t)o, "]}");
    rc_tensor_free(&emb);
    rc_vocab *vocab;
    if (rc_vocab_from_json(json, &vocab) != RC_OK) fail_msg("vocab: %s", rc_last_error());
    tn_model m;
    if (tn_model_init(&m, &cfg, vocab, 1)) fail_msg("case %s: %s", c, rc_last_error());
    for (int i = 0; i < m.params.n; i++) {
        rc_var *p = m.params.vars[i];
        snprintf(k, sizeof k, "param/%s", m.params.names[i]);
        rc_tensor w = test_fixture_get(st, c, k);
        if (!w.data) fail_msg("case %s: fixture lacks %s", c, k);
        assert_int_equal(w.size, p->value.size);
        memcpy(p->value.data, w.data, w.size * sizeof(float));
        rc_tensor_free(&w);
    }

    /* The trees, one treebank each, as one batch. */
    rc_treebank *tb[MAX_TREES];
    rc_tree trees[MAX_TREES];
    int n = 0;
    for (const char *s = texts; *s && n < MAX_TREES;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (rc_tree_parse(s, len, &tb[n]) != RC_OK) fail_msg("case %s: %s", c, rc_last_error());
        if (rc_treebank_index(tb[n], m.vocab, NULL) != RC_OK) fail_msg("%s", rc_last_error());
        rc_treebank_tree(tb[n], 0, &trees[n]);
        n++;
        s += len + (e != NULL);
    }
    assert_true(n >= 5);
    rc_tree_batch b;
    if (rc_tree_batch_build(trees, n, &b) != RC_OK) fail_msg("case %s: %s", c, rc_last_error());

    rc_tape *t = rc_tape_new();
    assert_non_null(t);
    rc_params_zero_grad(&m.params);
    rc_var *logits = tn_forward(t, &m, &b, NULL);
    if (!logits) fail_msg("case %s: forward: %s", c, rc_last_error());
    rc_var *loss = rc_cross_entropy(t, logits, b.label, NULL);
    if (!loss || rc_backward(t, loss) != RC_OK) fail_msg("case %s: %s", c, rc_last_error());

    int bad = 0;
    rc_tensor want = test_fixture_get(st, c, "loss");
    if (fabs(loss->value.data[0] - want.data[0]) > 1e-5 * fabs(want.data[0])) {
        print_error("%s loss: %.8g, torch says %.8g\n", c, (double)loss->value.data[0],
                    (double)want.data[0]);
        bad++;
    }
    rc_tensor_free(&want);
    for (int i = 0; i < m.params.n; i++) {
        rc_var *p = m.params.vars[i];
        snprintf(k, sizeof k, "grad/%s", m.params.names[i]);
        want = test_fixture_get(st, c, k);
        if (!want.data) fail_msg("case %s: fixture lacks %s", c, k);
        bad += !test_close_to_fixture(c, k, p->grad, &want, TOL);
        rc_tensor_free(&want);
    }
    rc_tape_free(t);
    rc_tree_batch_free(&b);
    for (int i = 0; i < n; i++) rc_treebank_free(tb[i]);
    tn_model_free(&m);
    return bad;
}

static void test_tree_models_match_torch_on_deep_trees(void **state)
{
    (void)state;
    assert_int_equal(
        test_fixture_cases(RC_SOURCE_DIR "/tests/fixtures/tree_parity.safetensors", check_case, NULL),
        4);
}

static void test_tree_models_match_fresh_random_torch_cases(void **state)
{
    (void)state;
    unsigned seed;
    char *dir = test_torch_fresh_cases("make_tree_parity.py", "treepar", &seed);
    if (!dir) {
        TEST_SKIP(); /* counted as skipped, not passed */
        return;
    }
    assert_int_equal(test_fixture_cases(test_path(dir, "fresh.safetensors"), check_case, NULL), 4);
    test_tmpdir_remove(dir);
}

TEST_GROUP(tree_parity_tests, "tree_parity",
           cmocka_unit_test(test_tree_models_match_torch_on_deep_trees),
           cmocka_unit_test(test_tree_models_match_fresh_random_torch_cases));
