/* test_lm.c - the language model's batching and carried state: the text is
 * read as parallel streams, cut into windows, and the hidden state flows
 * from one window to the next, so the cut must not change the result. */
#include "test.h"

#include "../src/tasks/lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *text =
    "to be, or not to be, that is the question:\n"
    "whether 'tis nobler in the mind to suffer\n"
    "the slings and arrows of outrageous fortune,\n"
    "or to take arms against a sea of troubles\n";

static void make_model(lm_model *m, rc_cell_kind cell, int32_t **ids, size_t *n)
{
    rc_vocab *v;
    assert_int_equal(rc_vocab_build(text, strlen(text), RC_TEXT_CHAR, 1, 0, &v), RC_OK);
    size_t unk;
    assert_int_equal(rc_vocab_encode(v, text, strlen(text), ids, n, &unk), RC_OK);
    lm_config c = {RC_TEXT_CHAR, cell, 6, 10, 2, 0.0f};
    assert_int_equal(lm_model_init(m, &c, v, 3), 0);
}

/* Windows of 3 steps with the state carried give the same loss as one
 * window over the whole stream: the state crosses window borders intact. */
static void test_carried_state_makes_windows_invisible(void **state)
{
    (void)state;
    rc_cell_kind cells[3] = {RC_CELL_LSTM, RC_CELL_GRU, RC_CELL_RNN_TANH};
    for (int k = 0; k < 3; k++) {
        lm_model m;
        int32_t *ids;
        size_t n;
        make_model(&m, cells[k], &ids, &n);
        size_t counted_a, counted_b;
        double whole = lm_evaluate(&m, ids, n, 4, 1000, &counted_a);
        double cut = lm_evaluate(&m, ids, n, 4, 3, &counted_b);
        /* Every position of the 4 streams is predicted once either way. */
        assert_int_equal(counted_a, counted_b);
        assert_int_equal(counted_a, 4 * (n / 4 - 1));
        assert_true(fabs(whole - cut) < 1e-5 * whole);
        /* A different number of streams sees other context: another loss. */
        double other = lm_evaluate(&m, ids, n, 2, 3, NULL);
        assert_true(fabs(other - whole) > 1e-6);
        free(ids);
        lm_model_free(&m);
    }
}

/* The loss of the streams equals the mean of per-stream losses computed one
 * stream at a time (batch 1): rows of a batch do not leak into each other. */
static void test_streams_are_independent(void **state)
{
    (void)state;
    lm_model m;
    int32_t *ids;
    size_t n;
    make_model(&m, RC_CELL_LSTM, &ids, &n);
    int B = 3;
    size_t L = n / (size_t)B;
    double batched = lm_evaluate(&m, ids, n, B, 7, NULL);
    double sum = 0;
    for (int b = 0; b < B; b++) sum += lm_evaluate(&m, ids + (size_t)b * L, L, 1, 7, NULL);
    assert_true(fabs(batched - sum / B) < 1e-5 * batched);
    free(ids);
    lm_model_free(&m);
}

TEST_GROUP(lm_tests, "lm",
           cmocka_unit_test(test_carried_state_makes_windows_invisible),
           cmocka_unit_test(test_streams_are_independent));
