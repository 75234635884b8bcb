/* test_classify.c - the sequence classifier's model code: padding never
 * leaks (a sequence gets the same logits alone as beside longer ones, for
 * every pooling, one or two directions, tokens or features), gradients
 * reach every parameter, and accuracy / macro F1 from a confusion
 * matrix. The command-line recipes are in test_classify_cli.c. */
#include "test.h"

#include "tasks/classify.h"

#include <math.h>
#include <string.h>

/* Three sequences of lengths 2, 5, 1: tokens 0..5 or 3 features. */
static void make_data(cls_data *d, int feat)
{
    memset(d, 0, sizeof *d);
    d->feat = feat;
    const int lens[3] = {2, 5, 1};
    rc_rng r;
    rc_rng_init(&r, 3);
    for (int i = 0; i < 3; i++) {
        int32_t tok[5];
        float x[15];
        for (int t = 0; t < lens[i]; t++) tok[t] = (int32_t)(rc_rng_u32(&r) % 6);
        rc_rng_fill_uniform(&r, x, 15, -1, 1);
        assert_int_equal(cls_data_push(d, i % 2, lens[i], tok, x), 0);
    }
}

static rc_vocab *tiny_vocab(void)
{
    const char text[] = "a b c d\n";
    rc_vocab *v;
    assert_int_equal(rc_vocab_build(text, sizeof text - 1, RC_TEXT_WORD, 1, 0, &v), RC_OK);
    return v; /* <unk> <eos> a b c d: 6 ids */
}

static void test_padding_does_not_leak(void **state)
{
    (void)state;
    for (int feat = 0; feat <= 3; feat += 3)
        for (int pool = CLS_POOL_LAST; pool <= CLS_POOL_ATTENTION; pool++)
            for (int bi = 0; bi < 2; bi++)
                for (int cell = 0; cell < 3; cell++) {
                    const rc_cell_kind cells[3] = {RC_CELL_RNN_TANH, RC_CELL_LSTM, RC_CELL_GRU};
                    cls_config c = {0};
                    c.format = feat ? CLS_FMT_SPLICE : CLS_FMT_SST;
                    c.n_classes = 3;
                    c.input_dim = feat;
                    c.embed = feat ? 0 : 4;
                    c.cell = cells[cell];
                    c.hidden = 5;
                    c.layers = 2;
                    c.bidirectional = bi;
                    c.pool = (cls_pool)pool;
                    c.attn = 4;
                    cls_model m;
                    assert_int_equal(cls_model_init(&m, &c, feat ? NULL : tiny_vocab(), 7), 0);
                    cls_data d;
                    make_data(&d, feat);
                    rc_tape *t = rc_tape_new();
                    rc_tape_set_training(t, 0);
                    /* Sequences 0 and 2 alone, then beside the longest (1). */
                    const int one0[1] = {0}, one2[1] = {2}, all[3] = {0, 1, 2};
                    rc_var *a = cls_forward(t, &m, &d, one0, 1, NULL, NULL);
                    rc_var *b = cls_forward(t, &m, &d, one2, 1, NULL, NULL);
                    rc_var *w = NULL;
                    rc_var *z = cls_forward(t, &m, &d, all, 3, NULL,
                                            pool == CLS_POOL_ATTENTION ? &w : NULL);
                    if (!a || !b || !z) fail_msg("forward failed: %s", rc_last_error());
                    for (int k = 0; k < 3; k++) {
                        if (fabsf(a->value.data[k] - z->value.data[k]) > 1e-5f ||
                            fabsf(b->value.data[k] - z->value.data[6 + k]) > 1e-5f)
                            fail_msg("pool %d, bi %d, cell %d, feat %d: logit %d differs with "
                                     "padding: %g vs %g, %g vs %g",
                                     pool, bi, cell, feat, k, a->value.data[k], z->value.data[k],
                                     b->value.data[k], z->value.data[6 + k]);
                    }
                    if (w) {
                        /* Attention weights: [3 x 5], zero past each length. */
                        assert_int_equal(w->value.shape[1], 5);
                        const int lens[3] = {2, 5, 1};
                        for (int i = 0; i < 3; i++) {
                            float s = 0;
                            for (int tt = 0; tt < 5; tt++) {
                                float v = w->value.data[i * 5 + tt];
                                if (tt >= lens[i]) assert_true(v == 0.0f);
                                s += v;
                            }
                            assert_float_equal(s, 1.0, 1e-5);
                        }
                    }
                    rc_tape_free(t);
                    cls_data_free(&d);
                    cls_model_free(&m);
                }
}

static void test_every_parameter_gets_a_gradient(void **state)
{
    (void)state;
    for (int pool = CLS_POOL_LAST; pool <= CLS_POOL_ATTENTION; pool++) {
        cls_config c = {0};
        c.format = CLS_FMT_SST;
        c.n_classes = 2;
        c.embed = 3;
        c.cell = RC_CELL_LSTM;
        c.hidden = 4;
        c.layers = 1;
        c.bidirectional = 1;
        c.pool = (cls_pool)pool;
        c.attn = 3;
        c.dropout = 0.2f;
        c.input_dropout = 0.1f;
        cls_model m;
        assert_int_equal(cls_model_init(&m, &c, tiny_vocab(), 9), 0);
        cls_data d;
        make_data(&d, 0);
        rc_tape *t = rc_tape_new();
        rc_rng drop;
        rc_rng_init(&drop, 1);
        const int all[3] = {0, 1, 2};
        int32_t y[3] = {0, 1, 1};
        rc_var *loss = rc_cross_entropy(t, cls_forward(t, &m, &d, all, 3, &drop, NULL), y, NULL);
        assert_non_null(loss);
        assert_int_equal(rc_backward(t, loss), RC_OK);
        for (int i = 0; i < m.params.n; i++) {
            const rc_var *p = m.params.vars[i];
            double s = 0;
            for (size_t k = 0; p->grad && k < p->value.size; k++) s += fabs(p->grad[k]);
            if (!(s > 0)) fail_msg("pool %d: %s has no gradient", pool, m.params.names[i]);
        }
        rc_tape_free(t);
        cls_data_free(&d);
        cls_model_free(&m);
    }
}

static void test_metrics_from_confusion(void **state)
{
    (void)state;
    cls_metrics r;
    memset(&r, 0, sizeof r);
    r.K = 3;
    /* rows gold, columns predicted */
    const int64_t conf[9] = {5, 1, 0, 2, 3, 0, 0, 0, 0};
    memcpy(r.conf, conf, sizeof conf);
    r.n = 11;
    cls_metrics_finish(&r);
    assert_float_equal(r.accuracy, 8.0 / 11.0, 1e-12);
    /* F1: class 0 2*5/(6+7), class 1 2*3/(5+4), class 2 (no gold, none
     * predicted) 0; macro: their mean. */
    assert_float_equal(r.macro_f1, (10.0 / 13.0 + 6.0 / 9.0 + 0.0) / 3.0, 1e-12);
}

TEST_GROUP(classify_group, "classify", cmocka_unit_test(test_padding_does_not_leak),
           cmocka_unit_test(test_every_parameter_gets_a_gradient),
           cmocka_unit_test(test_metrics_from_confusion))
