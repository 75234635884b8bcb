/* test_tag.c - the tagger's graph, end to end, under the gradient checker:
 * character embeddings -> a bidirectional LSTM over words of several
 * lengths -> its final states [->h ; <-h] per word (h_n transposed) -> a
 * table with a zero row -> rows gathered into sentence order (repeats and
 * padding) -> concatenated with word embeddings -> a BiLSTM over the
 * sentences -> emissions -> the CRF loss, as src/tasks/tag.c builds it.
 * Each op is checked alone elsewhere; this checks that they compose (a
 * gather from a computed table, a view of h_n, lengths in both layers). */
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { V = 7, CD = 3, CH = 2, WV = 5, WD = 2, H = 3, K = 4 };

typedef struct net {
    rc_rnn *chars, *words;
    int crf;
} net;

/* 4 distinct words of 1..3 characters, in 2 sentences of lengths 3 and 2
 * (time-major [3 x 2]; the pad position gathers the zero row 4). */
static const int32_t char_ids[3 * 4] = {1, 2, 3, 4, /* step 0 of words 0..3 */
                                        5, 6, 0, 1, /* step 1 */
                                        2, 0, 0, 3}; /* step 2 */
static const int32_t char_len[4] = {3, 2, 1, 3};
static const int32_t gather[3 * 2] = {0, 3, 1, 0, 2, 4}; /* word 0 appears twice */
static const int32_t word_ids[3 * 2] = {1, 4, 2, 0, 3, 0};
static const int32_t sent_len[2] = {3, 2};
static const int32_t tags[3 * 2] = {1, 0, 2, 3, 0, 0};

static rc_var *f_tagger(rc_tape *t, rc_var **in, void *user)
{
    net *n = user;
    rc_var *cemb = in[0], *wemb = in[1], *head_w = in[2], *head_b = in[3];
    int cs[3] = {3, 4, CD};
    rc_var *x = rc_reshape(t, rc_embedding(t, cemb, char_ids, 12), 3, cs);
    rc_var *y, *hn, *cn;
    if (rc_rnn_forward(t, n->chars, x, char_len, NULL, NULL, &y, &hn, &cn) != RC_OK) return NULL;
    int fs[2] = {4, 2 * CH}, zs[2] = {1, 2 * CH};
    rc_var *parts[2] = {rc_reshape(t, rc_transpose(t, hn, 0, 1), 2, fs), rc_input(t, 2, zs, NULL)};
    rc_var *table = rc_concat(t, parts, 2, 0);
    rc_var *xs[2] = {rc_embedding(t, wemb, word_ids, 6), rc_embedding(t, table, gather, 6)};
    int s3[3] = {3, 2, WD + 2 * CH};
    rc_var *w = rc_reshape(t, rc_concat(t, xs, 2, 1), 3, s3);
    if (rc_rnn_forward(t, n->words, w, sent_len, NULL, NULL, &y, &hn, &cn) != RC_OK) return NULL;
    rc_var *em = rc_add(t, rc_matmul(t, rc_reshape(t, y, 2, (int[]){6, 2 * H}), head_w, 0, 1),
                        head_b);
    em = rc_reshape(t, em, 3, (int[]){3, 2, K});
    if (n->crf) return rc_crf_nll(t, em, in[4], in[5], in[6], tags, sent_len);
    return em;
}

static void check(int crf, uint64_t seed)
{
    net n = {NULL, NULL, crf};
    rc_rnn_config cc = rc_rnn_defaults(RC_CELL_LSTM, CD, CH);
    cc.bidirectional = 1;
    rc_rnn_config wc = rc_rnn_defaults(RC_CELL_LSTM, WD + 2 * CH, H);
    wc.bidirectional = 1;
    assert_int_equal(rc_rnn_new(&cc, seed, &n.chars), RC_OK);
    assert_int_equal(rc_rnn_new(&wc, seed + 1, &n.words), RC_OK);
    rc_var *in[64];
    int m = 0;
    in[m++] = test_param("cemb", 2, (int[]){V, CD}, seed + 2, -1, 1);
    in[m++] = test_param("wemb", 2, (int[]){WV, WD}, seed + 3, -1, 1);
    in[m++] = test_param("head_w", 2, (int[]){K, 2 * H}, seed + 4, -1, 1);
    in[m++] = test_param("head_b", 1, (int[]){K}, seed + 5, -0.5f, 0.5f);
    int own = m;
    if (crf) {
        in[m++] = test_param("trans", 2, (int[]){K, K}, seed + 6, -1, 1);
        in[m++] = test_param("start", 1, (int[]){K}, seed + 7, -1, 1);
        in[m++] = test_param("end", 1, (int[]){K}, seed + 8, -1, 1);
        own = m;
    }
    for (int i = 0; i < n.chars->n_params; i++) in[m++] = n.chars->params[i];
    for (int i = 0; i < n.words->n_params; i++) in[m++] = n.words->params[i];
    assert_gradcheck(f_tagger, &n, in, m);
    /* ... and it compared every element of every input. */
    rc_gradcheck_report rep;
    assert_int_equal(rc_gradcheck(f_tagger, &n, in, m, NULL, &rep), RC_OK);
    size_t total = 0;
    for (int i = 0; i < m; i++) total += in[i]->value.size;
    assert_true(rep.ok);
    assert_int_equal(rep.checked, total);
    for (int i = 0; i < own; i++) rc_param_free(in[i]);
    rc_rnn_free(n.chars);
    rc_rnn_free(n.words);
}

static void test_tagger_graph_gradcheck(void **state)
{
    (void)state;
    check(1, 11);
    check(1, 23);
    check(0, 37);
}

TEST_GROUP(tag_tests, "tag", cmocka_unit_test(test_tagger_graph_gradcheck));
