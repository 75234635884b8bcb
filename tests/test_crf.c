/* test_crf.c - the linear-chain CRF: rc_crf_nll against brute-force
 * enumeration of all K^L paths (loss, and the gradients as expected minus
 * gold counts), gradient checks on several shapes with variable lengths,
 * masked positions, numerical stability, forbidden (-inf) moves, Viterbi
 * against enumeration including ties, and bad calls. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_T 6
#define MAX_B 4
#define MAX_K 5

/* A bad call's status and the words in its message (bad op calls use
 * TEST_EXPECT_FAIL from test.h). */
static void expect_words(const char *const *words, const char *what)
{
    const char *msg = rc_last_error();
    for (; *words; words++)
        if (!strstr(msg, *words)) fail_msg("%s: message \"%s\" lacks \"%s\"", what, msg, *words);
}
#define EXPECT_STATUS(expr, st, ...)                                                   \
    do {                                                                               \
        rc_clear_error();                                                              \
        rc_status s_ = (expr);                                                         \
        if (s_ != (st))                                                                \
            fail_msg("%s: status %s, expected %s (%s)", #expr, rc_status_name(s_),      \
                     rc_status_name(st), rc_last_error());                              \
        expect_words((const char *const[]){__VA_ARGS__, NULL}, #expr);                  \
    } while (0)

/* ---- brute force over all K^L paths, in double ---- */

typedef struct crf_data {
    int T, B, K;
    const float *e, *A, *s, *z; /* s, z may be NULL */
    const int32_t *len;         /* may be NULL */
} crf_data;

static int seq_len(const crf_data *d, int b) { return d->len ? d->len[b] : d->T; }

static double path_score(const crf_data *d, int b, const int *y, int L)
{
    double sc = (d->s ? d->s[y[0]] : 0.0) + (d->z ? d->z[y[L - 1]] : 0.0);
    for (int t = 0; t < L; t++) {
        sc += d->e[((size_t)t * d->B + b) * d->K + y[t]];
        if (t > 0) sc += d->A[y[t - 1] * d->K + y[t]];
    }
    return sc;
}

/* Advances y (base-K digits, y[0] fastest) to the next path; 0 after the last. */
static int next_path(int *y, int L, int K)
{
    for (int t = 0; t < L; t++) {
        if (++y[t] < K) return 1;
        y[t] = 0;
    }
    return 0;
}

/* log Z of sequence b, shifted by the largest path score (stable). */
static double brute_logz(const crf_data *d, int b)
{
    int L = seq_len(d, b), y[MAX_T] = {0};
    double mx = -INFINITY;
    do {
        double sc = path_score(d, b, y, L);
        if (sc > mx) mx = sc;
    } while (next_path(y, L, d->K));
    double s = 0.0;
    memset(y, 0, sizeof y);
    do {
        s += exp(path_score(d, b, y, L) - mx);
    } while (next_path(y, L, d->K));
    return mx + log(s);
}

/* mean_b (log Z_b - gold score_b). */
static double brute_nll(const crf_data *d, const int32_t *tags)
{
    double sum = 0.0;
    for (int b = 0; b < d->B; b++) {
        int L = seq_len(d, b), y[MAX_T];
        for (int t = 0; t < L; t++) y[t] = tags[t * d->B + b];
        sum += brute_logz(d, b) - path_score(d, b, y, L);
    }
    return sum / d->B;
}

/* Gradients of the mean loss: expected minus gold counts, over B. */
static void brute_grads(const crf_data *d, const int32_t *tags, double *ge, double *gA,
                        double *gs, double *gz)
{
    int T = d->T, B = d->B, K = d->K;
    memset(ge, 0, sizeof(double) * T * B * K);
    memset(gA, 0, sizeof(double) * K * K);
    memset(gs, 0, sizeof(double) * K);
    memset(gz, 0, sizeof(double) * K);
    for (int b = 0; b < B; b++) {
        int L = seq_len(d, b), y[MAX_T] = {0};
        double lz = brute_logz(d, b);
        do {
            double p = exp(path_score(d, b, y, L) - lz) / B;
            for (int t = 0; t < L; t++) {
                ge[(t * B + b) * K + y[t]] += p;
                if (t > 0) gA[y[t - 1] * K + y[t]] += p;
            }
            gs[y[0]] += p;
            gz[y[L - 1]] += p;
        } while (next_path(y, L, K));
        for (int t = 0; t < L; t++) {
            int g = tags[t * B + b];
            ge[(t * B + b) * K + g] -= 1.0 / B;
            if (t > 0) gA[tags[(t - 1) * B + b] * K + g] -= 1.0 / B;
        }
        gs[tags[b]] -= 1.0 / B;
        gz[tags[(L - 1) * B + b]] -= 1.0 / B;
    }
}

/* The documented tie rule: among the best paths, the one whose tags read
 * from the last to the first are smallest. */
static int reverse_less(const int *a, const int *b, int L)
{
    for (int t = L - 1; t >= 0; t--)
        if (a[t] != b[t]) return a[t] < b[t];
    return 0;
}

static double brute_viterbi(const crf_data *d, int b, int *best)
{
    int L = seq_len(d, b), y[MAX_T] = {0};
    double mx = -INFINITY;
    int any = 0;
    do {
        double sc = path_score(d, b, y, L);
        if (!any || sc > mx || (sc == mx && reverse_less(y, best, L))) {
            mx = sc;
            memcpy(best, y, sizeof(int) * L);
            any = 1;
        }
    } while (next_path(y, L, d->K));
    return mx;
}

/* ---- random cases ---- */

typedef struct crf_case {
    int T, B, K;
    int32_t len[MAX_B];
    int use_len, has_start, has_end;
} crf_case;

static const crf_case cases[] = {
    {4, 3, 3, {4, 1, 2}, 1, 1, 1},
    {1, 2, 4, {1, 1}, 0, 1, 1},      /* every sequence of length 1 */
    {5, 2, 2, {3, 5}, 1, 0, 0},
    {3, 1, 5, {3}, 1, 1, 0},
    {5, 4, 4, {1, 5, 3, 4}, 1, 0, 1},
    {2, 3, 1, {2, 1, 2}, 1, 1, 1},   /* one tag: log Z = gold score */
};
#define N_CASES (sizeof cases / sizeof cases[0])

typedef struct crf_user {
    const int32_t *tags;
    const int32_t *lengths;
    int has_start, has_end;
} crf_user;

static rc_var *f_crf(rc_tape *t, rc_var **in, void *user)
{
    const crf_user *u = user;
    int k = 2;
    rc_var *s = u->has_start ? in[k++] : NULL;
    rc_var *z = u->has_end ? in[k++] : NULL;
    return rc_crf_nll(t, in[0], in[1], s, z, u->tags, u->lengths);
}

/* Params for a case: in[0] emissions, in[1] transitions, then start / end;
 * returns how many. Tags are random within each length and junk past it. */
static int make_case(const crf_case *c, uint64_t seed, float lo, float hi, rc_var **in,
                     int32_t *tags)
{
    int se[3] = {c->T, c->B, c->K}, sa[2] = {c->K, c->K}, sk[1] = {c->K};
    int n = 0;
    in[n++] = test_param("emissions", 3, se, seed, lo, hi);
    in[n++] = test_param("transitions", 2, sa, seed + 1, lo, hi);
    if (c->has_start) in[n++] = test_param("start", 1, sk, seed + 2, lo, hi);
    if (c->has_end) in[n++] = test_param("end", 1, sk, seed + 3, lo, hi);
    rc_rng r;
    rc_rng_init(&r, seed + 4);
    for (int t = 0; t < c->T; t++)
        for (int b = 0; b < c->B; b++) {
            int L = c->use_len ? c->len[b] : c->T;
            tags[t * c->B + b] = t < L ? (int32_t)(rc_rng_u32(&r) % (uint32_t)c->K)
                                       : ((t + b) % 2 ? -7 : 99);
        }
    return n;
}

static crf_data data_of(const crf_case *c, rc_var **in)
{
    int k = 2;
    crf_data d = {c->T, c->B, c->K, in[0]->value.data, in[1]->value.data, NULL, NULL,
                  c->use_len ? c->len : NULL};
    if (c->has_start) d.s = in[k++]->value.data;
    if (c->has_end) d.z = in[k++]->value.data;
    return d;
}

static void free_all(rc_var **in, int n)
{
    for (int i = 0; i < n; i++) rc_param_free(in[i]);
}

/* ---- tests ---- */

static void test_crf_gradcheck(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const crf_case *c = &cases[ci];
        rc_var *in[4];
        int32_t tags[MAX_T * MAX_B];
        int n = make_case(c, 300 + 10 * ci, -1.5f, 1.5f, in, tags);
        crf_user u = {tags, c->use_len ? c->len : NULL, c->has_start, c->has_end};
        assert_gradcheck(f_crf, &u, in, n);
        free_all(in, n);
    }
}

/* The loss and every gradient against enumeration of all paths. */
static void test_crf_brute_force(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    double ge[MAX_T * MAX_B * MAX_K], gA[MAX_K * MAX_K], gs[MAX_K], gz[MAX_K];
    for (size_t ci = 0; ci < N_CASES; ci++) {
        const crf_case *c = &cases[ci];
        for (int rep = 0; rep < 3; rep++) {
            rc_var *in[4];
            int32_t tags[MAX_T * MAX_B];
            int n = make_case(c, 400 + 10 * ci + 100 * rep, -2.0f, 2.0f, in, tags);
            crf_data d = data_of(c, in);
            rc_tape_reset(t);
            rc_var *loss = f_crf(t, in, &(crf_user){tags, d.len, c->has_start, c->has_end});
            assert_non_null(loss);
            assert_int_equal(loss->value.ndim, 1);
            assert_int_equal(loss->value.shape[0], 1);
            double want = brute_nll(&d, tags);
            assert_float_equal(loss->value.data[0], want, 1e-5 * fmax(1.0, fabs(want)));
            assert_true(loss->value.data[0] >= 0.0f || c->K == 1);
            if (c->K == 1) assert_float_equal(loss->value.data[0], 0.0, 1e-6);

            assert_int_equal(rc_backward(t, loss), RC_OK);
            brute_grads(&d, tags, ge, gA, gs, gz);
            for (size_t i = 0; i < in[0]->value.size; i++)
                assert_float_equal(in[0]->grad[i], ge[i], 1e-6);
            for (size_t i = 0; i < in[1]->value.size; i++)
                assert_float_equal(in[1]->grad[i], gA[i], 1e-6);
            int k = 2;
            if (c->has_start)
                for (int j = 0; j < c->K; j++) assert_float_equal(in[k]->grad[j], gs[j], 1e-6);
            if (c->has_start) k++;
            if (c->has_end)
                for (int j = 0; j < c->K; j++) assert_float_equal(in[k]->grad[j], gz[j], 1e-6);
            free_all(in, n);
        }
    }
    rc_tape_free(t);
}

/* Positions past a length: junk tags and NaN emissions change nothing, get
 * exactly zero gradient; the batch loss is the mean of the sequences'
 * losses computed one at a time. */
static void test_crf_masked(void **state)
{
    (void)state;
    const crf_case *c = &cases[4]; /* T 5, B 4, lengths 1, 5, 3, 4 */
    rc_var *in[4];
    int32_t tags[MAX_T * MAX_B];
    int n = make_case(c, 500, -1.0f, 1.0f, in, tags);
    float *e = in[0]->value.data;
    for (int t = 0; t < c->T; t++)
        for (int b = 0; b < c->B; b++)
            if (t >= c->len[b])
                for (int k = 0; k < c->K; k++) e[(t * c->B + b) * c->K + k] = NAN;
    rc_tape *t = rc_tape_new();
    rc_var *loss = f_crf(t, in, &(crf_user){tags, c->len, 0, 1});
    assert_non_null(loss);
    float batch_loss = loss->value.data[0];
    assert_true(isfinite(batch_loss));
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int tt = 0; tt < c->T; tt++)
        for (int b = 0; b < c->B; b++) {
            const float *g = in[0]->grad + (tt * c->B + b) * c->K;
            double sum = 0.0;
            for (int k = 0; k < c->K; k++) {
                if (tt >= c->len[b]) assert_true(g[k] == 0.0f);
                sum += g[k];
            }
            /* Within a length: marginals minus one-hot sum to zero. */
            assert_float_equal(sum, 0.0, 1e-6);
        }

    /* Each sequence alone, as a batch of one. */
    double mean = 0.0;
    for (int b = 0; b < c->B; b++) {
        int L = c->len[b], se[3] = {L, 1, c->K};
        float eb[MAX_T * MAX_K];
        int32_t tb[MAX_T];
        for (int tt = 0; tt < L; tt++) {
            memcpy(eb + tt * c->K, e + (tt * c->B + b) * c->K, sizeof(float) * c->K);
            tb[tt] = tags[tt * c->B + b];
        }
        rc_tape_reset(t);
        rc_var *x = rc_input(t, 3, se, eb);
        rc_var *l = rc_crf_nll(t, x, in[1], NULL, in[2], tb, NULL);
        assert_non_null(l);
        mean += l->value.data[0] / c->B;
    }
    assert_float_equal(batch_loss, mean, 1e-5);
    rc_tape_free(t);
    free_all(in, n);
}

/* Scores around +-1000 would overflow exp without the shifts. */
static void test_crf_large_scores(void **state)
{
    (void)state;
    const crf_case *c = &cases[0];
    rc_var *in[4];
    int32_t tags[MAX_T * MAX_B];
    int n = make_case(c, 600, -3.0f, 3.0f, in, tags);
    for (size_t i = 0; i < in[0]->value.size; i++)
        in[0]->value.data[i] += (i % 3 == 0) ? 1000.0f : -800.0f;
    for (size_t i = 0; i < in[1]->value.size; i++) in[1]->value.data[i] *= 100.0f;
    crf_data d = data_of(c, in);
    rc_tape *t = rc_tape_new();
    rc_var *loss = f_crf(t, in, &(crf_user){tags, c->len, 1, 1});
    assert_non_null(loss);
    double want = brute_nll(&d, tags);
    assert_true(isfinite(loss->value.data[0]));
    assert_float_equal(loss->value.data[0], want, 1e-5 * fmax(1.0, fabs(want)));
    assert_int_equal(rc_backward(t, loss), RC_OK);
    double ge[MAX_T * MAX_B * MAX_K], gA[MAX_K * MAX_K], gs[MAX_K], gz[MAX_K];
    brute_grads(&d, tags, ge, gA, gs, gz);
    for (size_t i = 0; i < in[0]->value.size; i++) {
        assert_true(isfinite(in[0]->grad[i]));
        assert_float_equal(in[0]->grad[i], ge[i], 1e-5);
    }
    for (size_t i = 0; i < in[1]->value.size; i++)
        assert_float_equal(in[1]->grad[i], gA[i], 1e-5);
    rc_tape_free(t);
    free_all(in, n);
}

/* -inf transitions and start scores forbid moves: those paths drop out of
 * Z, Viterbi never takes them, their entries get zero gradient. */
static void test_crf_forbidden(void **state)
{
    (void)state;
    crf_case c = {4, 2, 3, {4, 3}, 1, 1, 1};
    rc_var *in[4];
    int32_t tags[MAX_T * MAX_B];
    int n = make_case(&c, 700, -1.0f, 1.0f, in, tags);
    /* Tag 2 may not follow tag 0, tag 1 may not follow itself, nothing
     * starts with tag 2; gold paths avoid all three. */
    float *A = in[1]->value.data;
    A[0 * 3 + 2] = -INFINITY;
    A[1 * 3 + 1] = -INFINITY;
    in[2]->value.data[2] = -INFINITY;
    const int32_t gold[2][4] = {{0, 0, 1, 2}, {1, 2, 2, -1}};
    for (int t = 0; t < 4; t++)
        for (int b = 0; b < 2; b++) tags[t * 2 + b] = gold[b][t];
    crf_data d = data_of(&c, in);
    rc_tape *t = rc_tape_new();
    rc_var *loss = f_crf(t, in, &(crf_user){tags, c.len, 1, 1});
    assert_non_null(loss);
    double want = brute_nll(&d, tags);
    assert_float_equal(loss->value.data[0], want, 1e-5);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    double ge[MAX_T * MAX_B * MAX_K], gA[MAX_K * MAX_K], gs[MAX_K], gz[MAX_K];
    brute_grads(&d, tags, ge, gA, gs, gz);
    for (int i = 0; i < 9; i++) {
        assert_true(isfinite(in[1]->grad[i]));
        assert_float_equal(in[1]->grad[i], gA[i], 1e-6);
    }
    assert_true(in[1]->grad[2] == 0.0f && in[1]->grad[4] == 0.0f);
    assert_true(in[2]->grad[2] == 0.0f);
    for (size_t i = 0; i < in[0]->value.size; i++)
        assert_float_equal(in[0]->grad[i], ge[i], 1e-6);

    /* Viterbi never takes a forbidden move, even where emissions push. */
    in[0]->value.data[(0 * 2 + 0) * 3 + 2] = 50.0f; /* tag 2 first */
    int32_t best[8];
    float score[2];
    assert_int_equal(rc_crf_viterbi(in[0]->value.data, A, in[2]->value.data, in[3]->value.data,
                                    4, 2, 3, c.len, best, score),
                     RC_OK);
    for (int b = 0; b < 2; b++) {
        int want_path[MAX_T];
        double ws = brute_viterbi(&d, b, want_path);
        assert_true(isfinite(ws));
        assert_float_equal(score[b], ws, 1e-5);
        assert_true(best[b] != 2);
        for (int tt = 0; tt < c.len[b]; tt++) {
            assert_int_equal(best[tt * 2 + b], want_path[tt]);
            if (tt > 0) {
                int from = best[(tt - 1) * 2 + b], to = best[tt * 2 + b];
                assert_true(isfinite(A[from * 3 + to]));
            }
        }
    }
    rc_tape_free(t);
    free_all(in, n);
}

/* Viterbi against enumeration: random real scores (one best path), then
 * scores from {-1, 0, 1} (many exact ties, settled by the documented rule:
 * the smallest last tag, then the smallest tag before it, ...). */
static void test_crf_viterbi(void **state)
{
    (void)state;
    for (int integer = 0; integer <= 1; integer++)
        for (size_t ci = 0; ci < N_CASES; ci++) {
            const crf_case *c = &cases[ci];
            for (int rep = 0; rep < 4; rep++) {
                rc_var *in[4];
                int32_t tags[MAX_T * MAX_B];
                int n = make_case(c, 800 + 10 * ci + 100 * rep, -2.0f, 2.0f, in, tags);
                if (integer)
                    for (int i = 0; i < n; i++)
                        for (size_t j = 0; j < in[i]->value.size; j++)
                            in[i]->value.data[j] = roundf(in[i]->value.data[j] / 2.0f);
                crf_data d = data_of(c, in);
                int32_t best[MAX_T * MAX_B];
                float score[MAX_B];
                memset(best, 0x55, sizeof best);
                assert_int_equal(rc_crf_viterbi(d.e, d.A, d.s, d.z, c->T, c->B, c->K, d.len,
                                                best, score),
                                 RC_OK);
                for (int b = 0; b < c->B; b++) {
                    int want[MAX_T], L = seq_len(&d, b);
                    double ws = brute_viterbi(&d, b, want);
                    assert_float_equal(score[b], ws, 1e-5);
                    for (int tt = 0; tt < c->T; tt++)
                        assert_int_equal(best[tt * c->B + b], tt < L ? want[tt] : -1);
                }
                /* Without best_scores the same paths. */
                int32_t best2[MAX_T * MAX_B];
                assert_int_equal(rc_crf_viterbi(d.e, d.A, d.s, d.z, c->T, c->B, c->K, d.len,
                                                best2, NULL),
                                 RC_OK);
                assert_memory_equal(best, best2, sizeof(int32_t) * c->T * c->B);
                free_all(in, n);
            }
        }
}

/* The tie rule by hand. All scores 0: every path ties, the answer is all
 * zeros. With A = [[0,1],[1,0]] and zero emissions, [0,1] and [1,0] both
 * score 1: the smaller last tag wins, so [1,0] (not the lexicographically
 * smaller [0,1]). With A[0][1] = A[1][0] = 1 and A[1][1] = 2 on three steps,
 * 1 1 1 scores 4, 0 1 1 and 1 1 0 score 3: 1 1 1. */
static void test_crf_viterbi_ties(void **state)
{
    (void)state;
    float e0[3 * 1 * 2] = {0}, A0[4] = {0}, A1[4] = {0, 1, 1, 0}, A2[4] = {0, 1, 1, 2};
    int32_t best[3];
    float sc;
    assert_int_equal(rc_crf_viterbi(e0, A0, NULL, NULL, 3, 1, 2, NULL, best, &sc), RC_OK);
    assert_int_equal(best[0], 0);
    assert_int_equal(best[1], 0);
    assert_int_equal(best[2], 0);
    assert_true(sc == 0.0f);
    assert_int_equal(rc_crf_viterbi(e0, A1, NULL, NULL, 2, 1, 2, NULL, best, &sc), RC_OK);
    assert_int_equal(best[0], 1);
    assert_int_equal(best[1], 0);
    assert_true(sc == 1.0f);
    /* An end score for tag 1 flips it: [0,1] now scores 2. */
    float z[2] = {0, 1};
    assert_int_equal(rc_crf_viterbi(e0, A1, NULL, z, 2, 1, 2, NULL, best, &sc), RC_OK);
    assert_int_equal(best[0], 0);
    assert_int_equal(best[1], 1);
    assert_true(sc == 2.0f);
    assert_int_equal(rc_crf_viterbi(e0, A2, NULL, NULL, 3, 1, 2, NULL, best, &sc), RC_OK);
    assert_int_equal(best[0], 1);
    assert_int_equal(best[1], 1);
    assert_int_equal(best[2], 1);
    assert_true(sc == 4.0f);
    /* Emissions decide alone with zero transitions: the argmax per step,
     * ties to the smaller tag. */
    float e1[3 * 1 * 3] = {0, 2, 2, 5, 1, 5, -1, -1, 0};
    float A3[9] = {0};
    assert_int_equal(rc_crf_viterbi(e1, A3, NULL, NULL, 3, 1, 3, NULL, best, &sc), RC_OK);
    assert_int_equal(best[0], 1);
    assert_int_equal(best[1], 0);
    assert_int_equal(best[2], 2);
    assert_true(sc == 7.0f);
}

/* Grad mode off: the same value, nothing to go backward through. */
static void test_crf_no_grad(void **state)
{
    (void)state;
    const crf_case *c = &cases[0];
    rc_var *in[4];
    int32_t tags[MAX_T * MAX_B];
    int n = make_case(c, 900, -1.0f, 1.0f, in, tags);
    crf_data d = data_of(c, in);
    rc_tape *t = rc_tape_new();
    rc_tape_set_grad(t, 0);
    rc_var *loss = f_crf(t, in, &(crf_user){tags, c->len, 1, 1});
    assert_non_null(loss);
    assert_false(loss->requires_grad);
    assert_float_equal(loss->value.data[0], brute_nll(&d, tags), 1e-5);
    rc_tape_free(t);
    free_all(in, n);
}

static void test_crf_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int se[3] = {3, 2, 3}, s2[2] = {6, 3}, sa[2] = {3, 3}, sa2[2] = {3, 2}, sk[1] = {3},
        sk4[1] = {4};
    rc_var *e = test_param("e", 3, se, 1, -1, 1), *A = test_param("A", 2, sa, 2, -1, 1);
    rc_var *e2 = test_param("e2", 2, s2, 3, -1, 1), *Ab = test_param("Ab", 2, sa2, 4, -1, 1);
    rc_var *s = test_param("s", 1, sk, 5, -1, 1), *s4 = test_param("s4", 1, sk4, 6, -1, 1);
    int32_t tags[6] = {0, 1, 2, 0, 1, 2}, bad[6] = {0, 1, 2, 3, 1, 2}, neg[6] = {0, 1, -1, 0, 1, 2};
    int32_t len0[2] = {2, 0}, len4[2] = {4, 1}, len_ok[2] = {1, 3};

    /* The good call works; a bad tag past its length is fine. */
    int32_t late[6] = {0, 1, 99, 0, -5, 2};
    rc_var *ok = rc_crf_nll(t, e, A, s, s, late, len_ok);
    assert_non_null(ok);
    rc_tape_reset(t);

    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, bad, NULL), RC_ERR_RANGE, "crf_nll",
                     "tag 3", "position 1", "sequence 1", "[0, 3)");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, neg, NULL), RC_ERR_RANGE, "crf_nll",
                     "tag -1", "position 1", "sequence 0");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, tags, len0), RC_ERR_RANGE, "crf_nll",
                     "sequence 1", "length 0", "1..3");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, tags, len4), RC_ERR_RANGE, "crf_nll",
                     "sequence 0", "length 4");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e2, A, NULL, NULL, tags, NULL), RC_ERR_SHAPE, "crf_nll",
                     "[6x3]", "[T x B x K]");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, Ab, NULL, NULL, tags, NULL), RC_ERR_SHAPE, "crf_nll",
                     "transitions", "[3x2]", "[3 x 3]");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, s4, NULL, tags, NULL), RC_ERR_SHAPE, "crf_nll", "start",
                     "[4]");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, s4, tags, NULL), RC_ERR_SHAPE, "crf_nll", "end",
                     "[4]");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, NULL, NULL), RC_ERR_ARG, "crf_nll", "tags");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, NULL, A, NULL, NULL, tags, NULL), RC_ERR_ARG, "crf_nll",
                     "input 0");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, NULL, NULL, NULL, tags, NULL), RC_ERR_ARG, "crf_nll",
                     "input 1");
    TEST_EXPECT_FAIL(NULL, rc_crf_nll(NULL, e, A, NULL, NULL, tags, NULL), RC_ERR_ARG, "crf_nll",
                     "tape");

    /* Numbers: NaN emission inside a length, NaN transition, +inf start,
     * a gold path through a -inf transition or end. */
    e->value.data[(2 * 2 + 1) * 3 + 1] = NAN;
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "tag 1", "position 2", "sequence 1");
    EXPECT_STATUS(rc_crf_viterbi(e->value.data, A->value.data, NULL, NULL, 3, 2, 3, NULL,
                                 tags, NULL),
                  RC_ERR_NUMERIC, "crf_viterbi", "position 2", "sequence 1");
    /* ... ignored past the length. */
    int32_t len_short[2] = {3, 2}, out[6];
    assert_non_null(rc_crf_nll(t, e, A, NULL, NULL, tags, len_short));
    rc_tape_reset(t);
    assert_int_equal(rc_crf_viterbi(e->value.data, A->value.data, NULL, NULL, 3, 2, 3,
                                    len_short, out, NULL),
                     RC_OK);
    assert_int_equal(out[2 * 2 + 1], -1);
    e->value.data[(2 * 2 + 1) * 3 + 1] = 0.5f;
    A->value.data[4] = NAN;
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "transition element 4");
    A->value.data[4] = 0.0f;
    s->value.data[1] = INFINITY;
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, s, NULL, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "start element 1");
    EXPECT_STATUS(rc_crf_viterbi(e->value.data, A->value.data, NULL, s->value.data, 3, 2, 3,
                                 NULL, out, NULL),
                  RC_ERR_NUMERIC, "crf_viterbi", "end element 1");
    s->value.data[1] = -INFINITY;
    /* tags: sequence 0 is 0 2 1, sequence 1 is 1 0 2. */
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, s, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "sequence 0", "ends with tag 1");
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, s, NULL, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "sequence 1", "starts with tag 1");
    A->value.data[2 * 3 + 1] = -INFINITY;
    TEST_EXPECT_FAIL(t, rc_crf_nll(t, e, A, NULL, NULL, tags, NULL), RC_ERR_NUMERIC, "crf_nll",
                     "sequence 0", "from tag 2 to 1", "position 2");

    /* Viterbi: NULL arrays, sizes, lengths, no finite path. */
    const float *ev = e->value.data, *Av = A->value.data;
    EXPECT_STATUS(rc_crf_viterbi(NULL, Av, NULL, NULL, 3, 2, 3, NULL, out, NULL), RC_ERR_ARG,
                  "crf_viterbi", "emissions");
    EXPECT_STATUS(rc_crf_viterbi(ev, NULL, NULL, NULL, 3, 2, 3, NULL, out, NULL), RC_ERR_ARG,
                  "crf_viterbi", "transitions");
    EXPECT_STATUS(rc_crf_viterbi(ev, Av, NULL, NULL, 3, 2, 3, NULL, NULL, NULL), RC_ERR_ARG,
                  "crf_viterbi", "best_tags");
    EXPECT_STATUS(rc_crf_viterbi(ev, Av, NULL, NULL, 0, 2, 3, NULL, out, NULL), RC_ERR_SHAPE,
                  "crf_viterbi", "T=0");
    EXPECT_STATUS(rc_crf_viterbi(ev, Av, NULL, NULL, 3, 2, 0, NULL, out, NULL), RC_ERR_SHAPE,
                  "crf_viterbi", "K=0");
    EXPECT_STATUS(rc_crf_viterbi(ev, Av, NULL, NULL, 3, 2, 3, len0, out, NULL), RC_ERR_RANGE,
                  "crf_viterbi", "sequence 1", "length 0");
    float all_forbidden[3] = {-INFINITY, -INFINITY, -INFINITY};
    EXPECT_STATUS(rc_crf_viterbi(ev, Av, all_forbidden, NULL, 3, 2, 3, NULL, out, NULL),
                  RC_ERR_NUMERIC, "crf_viterbi", "sequence 0", "-inf");

    rc_param_free(e);
    rc_param_free(A);
    rc_param_free(e2);
    rc_param_free(Ab);
    rc_param_free(s);
    rc_param_free(s4);
    rc_tape_free(t);
}

TEST_GROUP(crf_tests, "crf",
           cmocka_unit_test(test_crf_gradcheck),
           cmocka_unit_test(test_crf_brute_force),
           cmocka_unit_test(test_crf_masked),
           cmocka_unit_test(test_crf_large_scores),
           cmocka_unit_test(test_crf_forbidden),
           cmocka_unit_test(test_crf_viterbi),
           cmocka_unit_test(test_crf_viterbi_ties),
           cmocka_unit_test(test_crf_no_grad),
           cmocka_unit_test(test_crf_errors));
