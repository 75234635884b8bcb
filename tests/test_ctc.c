/* test_ctc.c - the CTC loss and decoders.
 *
 * The loss against PyTorch (tests/fixtures/ctc_parity.safetensors, made by
 * scripts/make_ctc_parity.py, and fresh random cases when torch is
 * importable), against brute force (every alignment of a tiny case
 * enumerated, collapsed and summed), and through the gradient checker after
 * rc_log_softmax; torch's gradient convention checked by finite
 * differences on the log-probabilities themselves. The decoders on
 * hand-made distributions whose answers are known, and bad calls. */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RC_SOURCE_DIR
#define RC_SOURCE_DIR "."
#endif

#define PARITY_TOL 1e-4


/* A status-returning call that must fail with st and mention the words. */
static void expect_status_(rc_status got, rc_status st, const char *const *words,
                           const char *what)
{
    if (got != st)
        fail_msg("%s: status %s, expected %s (%s)", what, rc_status_name(got),
                 rc_status_name(st), rc_last_error());
    const char *msg = rc_last_error();
    for (; *words; words++)
        if (!strstr(msg, *words)) fail_msg("%s: message \"%s\" lacks \"%s\"", what, msg, *words);
}
#define EXPECT_STATUS(expr, st, ...)                                                     \
    do {                                                                                 \
        rc_clear_error();                                                                \
        expect_status_((expr), (st), (const char *const[]){__VA_ARGS__, NULL}, #expr); \
    } while (0)

/* ---------------------------------------------------------- references -- */

/* Collapses a path (repeats merged, blanks dropped) into out; returns its
 * length. */
static int collapse(const int *path, int T, int blank, int *out)
{
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        if (path[t] != blank && path[t] != prev) out[n++] = path[t];
        prev = path[t];
    }
    return n;
}

/* Calls visit(path, log prob) for each of the C^T paths of one sequence
 * whose frame t is lp + t*stride. */
typedef void (*path_visit)(const int *path, int T, double logp, void *user);
static void each_path(const float *lp, size_t stride, int T, int C, path_visit visit,
                      void *user)
{
    int path[16] = {0};
    assert_true(T <= 16);
    for (;;) {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += lp[(size_t)t * stride + path[t]];
        visit(path, T, s, user);
        int t = 0;
        while (t < T && ++path[t] == C) path[t++] = 0;
        if (t == T) break;
    }
}

typedef struct brute_target {
    const int32_t *target;
    int L, blank;
    double prob;
} brute_target;

static void visit_target(const int *path, int T, double logp, void *user)
{
    brute_target *b = user;
    int out[16];
    int n = collapse(path, T, b->blank, out);
    if (n != b->L) return;
    for (int i = 0; i < n; i++)
        if (out[i] != b->target[i]) return;
    b->prob += exp(logp);
}

/* P(target | lp) by summing every alignment. */
static double brute_prob(const float *lp, size_t stride, int T, int C, const int32_t *target,
                         int L, int blank)
{
    brute_target b = {target, L, blank, 0.0};
    each_path(lp, stride, T, C, visit_target, &b);
    return b.prob;
}

/* Every labelling's probability, keyed by its digits (label + 1) in base
 * C + 1, so that lengths are told apart. */
typedef struct brute_all {
    int C, blank;
    double *prob; /* (C + 1)^T entries */
} brute_all;

static size_t labelling_key(const int *lab, int n, int C)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) k = k * (size_t)(C + 1) + (size_t)(lab[i] + 1);
    return k;
}

static void visit_all(const int *path, int T, double logp, void *user)
{
    brute_all *b = user;
    int out[16];
    int n = collapse(path, T, b->blank, out);
    b->prob[labelling_key(out, n, b->C)] += exp(logp);
}

/* Random log_softmax rows [rows x C] from logits drawn with the given sd. */
static void random_log_probs(float *lp, size_t rows, int C, uint64_t seed, float sd)
{
    rc_rng r;
    rc_rng_init(&r, seed);
    for (size_t i = 0; i < rows; i++) {
        float *row = lp + i * (size_t)C;
        double m = -INFINITY, s = 0.0;
        for (int k = 0; k < C; k++) {
            row[k] = sd * rc_rng_normal(&r);
            if (row[k] > m) m = row[k];
        }
        for (int k = 0; k < C; k++) s += exp(row[k] - m);
        double lse = m + log(s);
        for (int k = 0; k < C; k++) row[k] = (float)(row[k] - lse);
    }
}

/* ----------------------------------------------------- torch parity -- */

/* Element by element: NaN where torch has NaN, the same infinity where it
 * has one, else |got - want| <= tol * max(|want|, 1e-3 * the tensor's
 * largest finite magnitude). Returns 1 when all are within. */
static int close_to(const char *c, const char *name, const float *got, const rc_tensor *want)
{
    double scale = 1e-3;
    for (size_t i = 0; i < want->size; i++)
        if (isfinite(want->data[i]) && fabs(want->data[i]) > scale) scale = fabs(want->data[i]);
    for (size_t i = 0; i < want->size; i++) {
        double g = got[i], w = want->data[i];
        int ok;
        if (isnan(w))
            ok = isnan(g);
        else if (isinf(w))
            ok = g == w;
        else
            ok = isfinite(g) && fabs(g - w) <= PARITY_TOL * fmax(fabs(w), 1e-3 * scale);
        if (!ok) {
            print_error("case %s %s: element %zu is %.8g, torch says %.8g\n", c, name, i, g, w);
            return 0;
        }
    }
    return 1;
}

typedef struct parity_stats {
    int cases, inf_loss, nan_grad, zeroed, full_length, repeats;
} parity_stats;

static int meta_int(const rc_safetensors *st, const char *c, const char *key, int lo, int hi)
{
    char k[96];
    int v;
    snprintf(k, sizeof k, "%s/%s", c, key);
    if (rc_safetensors_meta_int(st, k, lo, hi, &v) != RC_OK) fail_msg("%s", rc_last_error());
    return v;
}

/* Runs one case; returns 1 if anything differs from torch. */
static int check_case(const rc_safetensors *st, const char *c, void *stats)
{
    parity_stats *ps = stats;
    rc_tensor lp = test_fixture_get(st, c, "log_probs"), il = test_fixture_get(st, c, "input_lengths"),
              tl = test_fixture_get(st, c, "target_lengths"), tg = test_fixture_get(st, c, "targets"),
              loss = test_fixture_get(st, c, "loss"), dloss = test_fixture_get(st, c, "dloss"), grad = test_fixture_get(st, c, "grad");
    if (!lp.data || !il.data || !tl.data || !loss.data || !dloss.data || !grad.data)
        fail_msg("case %s: a tensor is missing", c);
    assert_int_equal(lp.ndim, 3);
    int B = lp.shape[1], C = lp.shape[2];
    int blank = meta_int(st, c, "blank", 0, C - 1);
    int zi = meta_int(st, c, "zero_infinity", 0, 1);
    char k[96];
    snprintf(k, sizeof k, "%s/reduction", c);
    const char *rs = rc_safetensors_meta(st, k);
    assert_non_null(rs);
    rc_ctc_reduction red = !strcmp(rs, "mean") ? RC_CTC_MEAN
                           : !strcmp(rs, "sum") ? RC_CTC_SUM
                                                : RC_CTC_NONE;
    assert_string_equal(rc_ctc_reduction_name(red), rs);

    int32_t ilen[16], tlen[16], targets[256];
    assert_true(B <= 16 && tg.size <= 256);
    for (int b = 0; b < B; b++) ilen[b] = (int32_t)il.data[b], tlen[b] = (int32_t)tl.data[b];
    for (size_t i = 0; i < tg.size; i++) targets[i] = (int32_t)tg.data[i];

    /* What the case covers. */
    size_t off = 0;
    for (int b = 0; b < B; b++) {
        int need = tlen[b];
        for (int i = 1; i < tlen[b]; i++)
            if (targets[off + i] == targets[off + i - 1]) need++, ps->repeats++;
        if (need == ilen[b] && tlen[b] > 0) ps->full_length++;
        if (need > ilen[b] && zi) ps->zeroed++;
        off += (size_t)tlen[b];
    }
    ps->cases++;
    for (size_t i = 0; i < loss.size; i++) ps->inf_loss += isinf(loss.data[i]) != 0;
    for (size_t i = 0; i < grad.size; i++)
        if (isnan(grad.data[i])) {
            ps->nan_grad++;
            break;
        }

    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 3, lp.shape, lp.data);
    rc_var *y = rc_ctc_loss(t, x, tg.data ? targets : NULL, ilen, tlen, blank, red, zi);
    if (!y) fail_msg("case %s: %s", c, rc_last_error());
    assert_int_equal(y->value.size, red == RC_CTC_NONE ? (size_t)B : 1);
    int bad = !close_to(c, "loss", y->value.data, &loss);
    if (rc_backward_from(t, y, dloss.data) != RC_OK) fail_msg("case %s: %s", c, rc_last_error());
    bad += !close_to(c, "grad", x->grad, &grad);
    rc_tape_free(t);
    rc_tensor_free(&lp), rc_tensor_free(&il), rc_tensor_free(&tl), rc_tensor_free(&tg);
    rc_tensor_free(&loss), rc_tensor_free(&dloss), rc_tensor_free(&grad);
    return bad != 0;
}

static void test_parity_with_committed_torch_cases(void **state)
{
    (void)state;
    parity_stats ps = {0};
    test_fixture_cases(RC_SOURCE_DIR "/tests/fixtures/ctc_parity.safetensors", check_case, &ps);
    assert_true(ps.cases >= 30);
    /* The fixture holds what it claims to. */
    assert_true(ps.inf_loss >= 3);
    assert_true(ps.nan_grad >= 3);
    assert_true(ps.zeroed >= 3);
    assert_true(ps.full_length >= 10);
    assert_true(ps.repeats >= 10);
}

static void test_parity_with_fresh_random_torch_cases(void **state)
{
    (void)state;
    unsigned seed;
    char *dir = test_torch_fresh_cases("make_ctc_parity.py", "ctc", &seed);
    if (!dir) {
        TEST_SKIP(); /* counted as skipped, not passed */
        return;
    }
    parity_stats ps = {0};
    test_fixture_cases(test_path(dir, "fresh.safetensors"), check_case, &ps);
    assert_int_equal(ps.cases, 8);
    test_tmpdir_remove(dir);
}

/* ------------------------------------------------------- brute force -- */

/* Tiny cases: T <= 5 frames over C = 3 or 4 classes, so that all C^T
 * paths can be listed. Each sequence's loss (reduction none) must be
 * -log of the summed probability of the paths that collapse to its
 * target; +inf when none does. Then mean and sum from the same numbers. */
static void test_loss_matches_brute_force(void **state)
{
    (void)state;
    static const struct {
        int T, C, blank;
        int32_t il[4], tl[4];
        int32_t targets[12];
    } cases[] = {
        /* repeats, a full-length target, an impossible one, an empty one */
        {5, 3, 0, {5, 5, 4, 3}, {3, 3, 3, 0}, {1, 1, 2, 1, 2, 1, 2, 2, 2}},
        {4, 3, 2, {4, 2, 3, 1}, {2, 1, 2, 1}, {0, 0, 1, 0, 1, 0}},
        {5, 4, 1, {3, 5, 5, 2}, {1, 4, 2, 3}, {3, 0, 2, 3, 2, 2, 2, 0, 3, 3}},
        {5, 3, 1, {5, 5, 5, 5}, {5, 1, 2, 0}, {0, 2, 0, 2, 0, 0, 0, 2}},
    };
    rc_tape *t = rc_tape_new();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int T = cases[ci].T, B = 4, C = cases[ci].C, blank = cases[ci].blank;
        float lp[5 * 4 * 4];
        random_log_probs(lp, (size_t)T * B, C, 300 + ci, 1.5f);
        int shape[3] = {T, B, C};
        rc_tape_reset(t);
        rc_var *x = rc_input(t, 3, shape, lp);
        rc_var *none = rc_ctc_loss(t, x, cases[ci].targets, cases[ci].il, cases[ci].tl, blank,
                                   RC_CTC_NONE, 0);
        rc_var *sum = rc_ctc_loss(t, x, cases[ci].targets, cases[ci].il, cases[ci].tl, blank,
                                  RC_CTC_SUM, 0);
        rc_var *mean0 = rc_ctc_loss(t, x, cases[ci].targets, cases[ci].il, cases[ci].tl, blank,
                                    RC_CTC_MEAN, 1);
        assert_non_null(none);
        assert_non_null(sum);
        assert_non_null(mean0);
        double want_sum = 0.0, want_mean0 = 0.0;
        size_t off = 0;
        for (int b = 0; b < B; b++) {
            int L = cases[ci].tl[b];
            double p = brute_prob(lp + (size_t)b * C, (size_t)B * C, cases[ci].il[b], C,
                                  cases[ci].targets + off, L, blank);
            double nll = -log(p);
            off += (size_t)L;
            if (p == 0.0) {
                assert_true(isinf(none->value.data[b]) && none->value.data[b] > 0);
            } else {
                assert_float_equal(none->value.data[b], nll, 1e-5 * fmax(1.0, nll));
                want_mean0 += nll / (L > 1 ? L : 1);
            }
            want_sum += nll;
        }
        want_mean0 /= B;
        if (isinf(want_sum))
            assert_true(isinf(sum->value.data[0]));
        else
            assert_float_equal(sum->value.data[0], want_sum, 1e-5 * want_sum);
        assert_float_equal(mean0->value.data[0], want_mean0, 1e-5 * fmax(1.0, want_mean0));
    }
    rc_tape_free(t);
}

/* An empty target is all blanks: -sum_t log p_t(blank); an empty input
 * with an empty target has probability 1 (loss 0), with a label none. */
static void test_loss_edge_lengths(void **state)
{
    (void)state;
    int T = 4, B = 3, C = 3;
    float lp[4 * 3 * 3];
    random_log_probs(lp, (size_t)T * B, C, 320, 1.0f);
    int shape[3] = {T, B, C};
    int32_t il[3] = {4, 0, 0}, tl[3] = {0, 0, 1}, tg[1] = {2};
    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 3, shape, lp);
    rc_var *y = rc_ctc_loss(t, x, tg, il, tl, 1, RC_CTC_NONE, 0);
    assert_non_null(y);
    double want = 0.0;
    for (int tt = 0; tt < 4; tt++) want -= lp[(size_t)tt * B * C + 1];
    assert_float_equal(y->value.data[0], want, 1e-5);
    assert_true(y->value.data[1] == 0.0f);
    assert_true(isinf(y->value.data[2]));
    float seed[3] = {1, 1, 0};
    assert_int_equal(rc_backward_from(t, y, seed), RC_OK);
    /* Sequence 0: torch's gradient is exp(lp) - [c == blank]. */
    for (int tt = 0; tt < T; tt++)
        for (int k = 0; k < C; k++) {
            size_t i = ((size_t)tt * B + 0) * C + k;
            assert_float_equal(x->grad[i], exp(lp[i]) - (k == 1), 1e-6);
            assert_true(x->grad[((size_t)tt * B + 1) * C + k] == 0.0f);
        }
    rc_tape_free(t);
}

/* A label that has probability 0 (-inf) everywhere cannot be emitted: the
 * loss is +inf although the lengths allow it, and zero_infinity makes it 0
 * with a zero gradient; the other sequence is unaffected. */
static void test_loss_impossible_by_probability(void **state)
{
    (void)state;
    int T = 3, B = 2, C = 3, shape[3] = {T, B, C};
    float lp[3 * 2 * 3];
    random_log_probs(lp, (size_t)T * B, C, 330, 1.0f);
    for (int tt = 0; tt < T; tt++) lp[((size_t)tt * B + 0) * C + 2] = -INFINITY;
    int32_t il[2] = {3, 3}, tl[2] = {1, 1}, tg[2] = {2, 2};
    rc_tape *t = rc_tape_new();
    for (int zi = 0; zi <= 1; zi++) {
        rc_tape_reset(t);
        rc_var *x = rc_input_grad(t, 3, shape, lp);
        rc_var *y = rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_SUM, zi);
        assert_non_null(y);
        double p1 = brute_prob(lp + C, (size_t)B * C, T, C, tg + 1, 1, 0);
        if (zi)
            assert_float_equal(y->value.data[0], -log(p1), 1e-5);
        else
            assert_true(isinf(y->value.data[0]));
        assert_int_equal(rc_backward(t, y), RC_OK);
        for (int tt = 0; tt < T; tt++)
            for (int k = 0; k < C; k++) {
                float g0 = x->grad[((size_t)tt * B + 0) * C + k];
                float g1 = x->grad[((size_t)tt * B + 1) * C + k];
                if (zi)
                    assert_true(g0 == 0.0f);
                else
                    assert_true(isnan(g0));
                assert_true(isfinite(g1));
            }
    }
    rc_tape_free(t);
}

/* ------------------------------------------------------ gradients -- */

typedef struct gc_case {
    int T, B, C, blank;
    int32_t il[4], tl[4], targets[16];
    int zero_infinity;
    rc_ctc_reduction red;
} gc_case;

static rc_var *f_ctc(rc_tape *t, rc_var **in, void *user)
{
    const gc_case *g = user;
    return rc_ctc_loss(t, rc_log_softmax(t, in[0]), g->targets, g->il, g->tl, g->blank, g->red,
                       g->zero_infinity);
}

/* Logits -> log_softmax -> ctc_loss: the composite's gradient is exact,
 * whatever the reduction, blank position and lengths. */
static void test_gradcheck_after_log_softmax(void **state)
{
    (void)state;
    gc_case cases[] = {
        {1, 1, 2, 0, {1}, {1}, {1}, 0, RC_CTC_MEAN},
        {1, 2, 3, 2, {1, 1}, {0, 1}, {1}, 0, RC_CTC_MEAN},
        {3, 2, 3, 0, {3, 2}, {2, 1}, {1, 2, 2}, 0, RC_CTC_MEAN},
        {6, 3, 5, 4, {6, 4, 5}, {3, 2, 3}, {0, 0, 1, 3, 3, 2, 2, 2}, 0, RC_CTC_MEAN},
        {5, 4, 3, 1, {5, 5, 3, 2}, {3, 2, 1, 0}, {0, 2, 0, 2, 2, 0}, 0, RC_CTC_MEAN},
        /* sequence 1 cannot be aligned (2 2 needs 3 frames): zeroed */
        {4, 3, 4, 2, {4, 2, 4}, {2, 2, 1}, {0, 1, 3, 3, 1}, 1, RC_CTC_MEAN},
        {7, 2, 6, 3, {7, 6}, {4, 3}, {1, 1, 5, 0, 2, 4, 2}, 0, RC_CTC_MEAN},
    };
    const rc_ctc_reduction reds[3] = {RC_CTC_MEAN, RC_CTC_SUM, RC_CTC_NONE};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int shape[3] = {cases[ci].T, cases[ci].B, cases[ci].C};
        rc_var *x = test_param("logits", 3, shape, 400 + ci, -2, 2);
        for (int r = 0; r < 3; r++) {
            cases[ci].red = reds[r];
            /* Finite first: an infinite loss would make every difference
             * NaN, which no tolerance catches. */
            rc_tape *t = rc_tape_new();
            rc_var *y = f_ctc(t, &x, &cases[ci]);
            assert_non_null(y);
            for (size_t i = 0; i < y->value.size; i++) assert_true(isfinite(y->value.data[i]));
            rc_tape_free(t);
            assert_gradcheck(f_ctc, &cases[ci], &x, 1);
        }
        rc_param_free(x);
    }
}

/* torch's gradient with respect to log_probs is exp(log_probs) plus the
 * derivative of the loss with the log-probabilities taken as free inputs
 * (the log_softmax's share, folded in). Check the second part by central
 * differences on unnormalised log-probabilities, in double. */
static void test_gradient_is_torch_convention(void **state)
{
    (void)state;
    int T = 5, B = 2, C = 4, shape[3] = {T, B, C};
    float lp[5 * 2 * 4];
    rc_rng r;
    rc_rng_init(&r, 500);
    rc_rng_fill_uniform(&r, lp, (size_t)T * B * C, -3.0f, -0.2f); /* not normalised */
    int32_t il[2] = {5, 4}, tl[2] = {3, 2}, tg[5] = {1, 1, 3, 2, 1};
    float dl[2] = {0.7f, -1.3f};
    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 3, shape, lp);
    rc_var *y = rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_NONE, 0);
    assert_non_null(y);
    assert_int_equal(rc_backward_from(t, y, dl), RC_OK);
    float grad[5 * 2 * 4];
    memcpy(grad, x->grad, sizeof grad);
    const double eps = 1e-3;
    for (size_t i = 0; i < (size_t)T * B * C; i++) {
        int b = (int)((i / C) % B), tt = (int)(i / ((size_t)B * C));
        /* -log P in double by brute force, at lp[i] +- eps. */
        float saved = lp[i], up = (float)(saved + eps), down = (float)(saved - eps);
        double f[2];
        for (int side = 0; side < 2; side++) {
            lp[i] = side ? down : up;
            f[side] = -log(brute_prob(lp + (size_t)b * C, (size_t)B * C, il[b], C,
                                      tg + (b ? 3 : 0), tl[b], 0));
        }
        lp[i] = saved;
        double numeric = dl[b] * (f[0] - f[1]) / ((double)up - (double)down);
        double want = tt < il[b] ? numeric + dl[b] * exp(lp[i]) : 0.0;
        assert_float_equal(grad[i], want, 2e-4);
    }
    rc_tape_free(t);
}

/* Grad mode off gives the same value and records nothing for backward. */
static void test_no_grad_mode(void **state)
{
    (void)state;
    int T = 6, B = 2, C = 4, shape[3] = {T, B, C};
    float lp[6 * 2 * 4];
    random_log_probs(lp, (size_t)T * B, C, 510, 2.0f);
    int32_t il[2] = {6, 5}, tl[2] = {3, 2}, tg[5] = {1, 2, 2, 3, 3};
    rc_tape *t = rc_tape_new();
    rc_var *x = rc_input_grad(t, 3, shape, lp);
    rc_var *a = rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_MEAN, 0);
    assert_non_null(a);
    assert_true(a->requires_grad);
    rc_tape_set_grad(t, 0);
    rc_var *b = rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_MEAN, 0);
    assert_non_null(b);
    assert_false(b->requires_grad);
    assert_null(b->ctx);
    assert_true(a->value.data[0] == b->value.data[0]);
    rc_tape_free(t);
}

/* ------------------------------------------------------- decoding -- */

/* log_probs rows [T x C] that put probability hi on class path[t] and
 * share the rest evenly. */
static void peaked(float *lp, const int *path, int T, int C, double hi)
{
    for (int t = 0; t < T; t++)
        for (int k = 0; k < C; k++)
            lp[(size_t)t * C + k] = (float)log(k == path[t] ? hi : (1.0 - hi) / (C - 1));
}

static void test_greedy_decode(void **state)
{
    (void)state;
    /* Two sequences, time-major; the second is shorter and uses blank 3
     * differently: the blank is fixed per call, so two calls. */
    enum { T = 10, B = 2, C = 4 };
    const int p0[T] = {1, 1, 0, 1, 2, 2, 0, 0, 3, 3};
    const int p1[T] = {0, 2, 0, 2, 2, 1, 0, 1, 3, 3}; /* only 6 frames read */
    float a[T * C], b[T * C], lp[T * B * C];
    peaked(a, p0, T, C, 0.7);
    peaked(b, p1, T, C, 0.4);
    for (int t = 0; t < T; t++) {
        memcpy(lp + ((size_t)t * B + 0) * C, a + (size_t)t * C, C * sizeof(float));
        memcpy(lp + ((size_t)t * B + 1) * C, b + (size_t)t * C, C * sizeof(float));
    }
    int32_t il[B] = {T, 6}, labels[B * T], lengths[B];
    assert_int_equal(rc_ctc_greedy_decode(lp, T, B, C, il, 0, labels, lengths), RC_OK);
    const int32_t want0[] = {1, 1, 2, 3}, want1[] = {2, 2, 1};
    assert_int_equal(lengths[0], 4);
    assert_memory_equal(labels, want0, sizeof want0);
    assert_int_equal(lengths[1], 3);
    assert_memory_equal(labels + T, want1, sizeof want1);

    /* Blank 3 (the last class): 0 is now a label. */
    assert_int_equal(rc_ctc_greedy_decode(lp, T, B, C, il, 3, labels, lengths), RC_OK);
    const int32_t want0b[] = {1, 0, 1, 2, 0}, want1b[] = {0, 2, 0, 2, 1};
    assert_int_equal(lengths[0], 5);
    assert_memory_equal(labels, want0b, sizeof want0b);
    assert_int_equal(lengths[1], 5);
    assert_memory_equal(labels + T, want1b, sizeof want1b);

    /* NULL lengths: every sequence all T frames; a tie goes to the lower id. */
    float tie[2 * 1 * 3] = {-1.0f, -0.5f, -0.5f, -0.5f, -0.5f, -2.0f};
    int32_t l1[2], n1;
    assert_int_equal(rc_ctc_greedy_decode(tie, 2, 1, 3, NULL, 0, l1, &n1), RC_OK);
    assert_int_equal(n1, 1); /* frame 0 -> 1 (not 2), frame 1 -> 0 (the blank, not 1) */
    assert_int_equal(l1[0], 1);
    /* An empty input decodes to nothing. */
    int32_t il0[1] = {0};
    assert_int_equal(rc_ctc_greedy_decode(tie, 2, 1, 3, il0, 0, l1, &n1), RC_OK);
    assert_int_equal(n1, 0);
}

/* A beam of width 1 follows the single best extension: on peaked
 * distributions that is the best path, the greedy answer. */
static void test_beam_width_one_is_greedy(void **state)
{
    (void)state;
    enum { T = 12, C = 5 };
    rc_rng r;
    rc_rng_init(&r, 600);
    for (int trial = 0; trial < 20; trial++) {
        int path[T];
        for (int t = 0; t < T; t++) path[t] = (int)(rc_rng_u32(&r) % C);
        float lp[T * C];
        peaked(lp, path, T, C, 0.9);
        int blank = trial % C;
        int32_t g[T], gl, bl[T], blen, n;
        float score;
        assert_int_equal(rc_ctc_greedy_decode(lp, T, 1, C, NULL, blank, g, &gl), RC_OK);
        assert_int_equal(rc_ctc_beam_search(lp, T, C, 0, blank, 1, 1, bl, &blen, &score, &n),
                         RC_OK);
        assert_int_equal(n, 1);
        assert_int_equal(blen, gl);
        assert_memory_equal(bl, g, (size_t)gl * sizeof *g);
        assert_true(score <= 0.0f);
    }
}

/* Two frames, blank 0.6 and "a" 0.4 each. The best path is blank blank,
 * so greedy says "" (probability 0.36); but "a" has three alignments
 * (a a, a -, - a) worth 0.16 + 0.24 + 0.24 = 0.64. Beam search finds it. */
static void test_beam_beats_greedy(void **state)
{
    (void)state;
    float lp[2 * 2] = {logf(0.6f), logf(0.4f), logf(0.6f), logf(0.4f)};
    int32_t g[2], gl;
    assert_int_equal(rc_ctc_greedy_decode(lp, 2, 1, 2, NULL, 0, g, &gl), RC_OK);
    assert_int_equal(gl, 0);
    int32_t labels[2 * 2], lengths[2], n;
    float scores[2];
    assert_int_equal(rc_ctc_beam_search(lp, 2, 2, 0, 0, 2, 2, labels, lengths, scores, &n),
                     RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(lengths[0], 1);
    assert_int_equal(labels[0], 1);
    assert_float_equal(scores[0], log(0.64), 1e-6);
    assert_int_equal(lengths[1], 0);
    assert_float_equal(scores[1], log(0.36), 1e-6);

    /* The same with 3 frames, blank last, a two-label answer: frames favour
     * the blank (0.5) over a (0.3) and b (0.2) everywhere, yet "a" wins:
     * P("") = 0.125, P("a") = P(aaa) + P(aa-, -aa) + P(a--, -a-, --a)
     * = 0.027 + 2 * 0.045 + 3 * 0.075 = 0.342, next best "b" with 0.198. */
    float lp3[3 * 3];
    for (int t = 0; t < 3; t++) {
        lp3[t * 3 + 0] = logf(0.3f);
        lp3[t * 3 + 1] = logf(0.2f);
        lp3[t * 3 + 2] = logf(0.5f);
    }
    int32_t lab3[4 * 3], len3[4], n3;
    float sc3[4];
    assert_int_equal(rc_ctc_greedy_decode(lp3, 3, 1, 3, NULL, 2, g, &gl), RC_OK);
    assert_int_equal(gl, 0);
    assert_int_equal(rc_ctc_beam_search(lp3, 3, 3, 0, 2, 4, 4, lab3, len3, sc3, &n3), RC_OK);
    assert_int_equal(n3, 4);
    assert_int_equal(len3[0], 1);
    assert_int_equal(lab3[0], 0);
    double pa = 0.027 + 2 * 0.09 * 0.5 + 3 * 0.3 * 0.25;
    assert_float_equal(sc3[0], log(pa), 1e-5);
    for (int j = 1; j < n3; j++) assert_true(sc3[j] <= sc3[j - 1]);
}

/* With a beam wider than the number of labellings nothing is pruned: the
 * n-best list is every labelling of nonzero probability, in order, each
 * scored by its exact log-probability (brute force), which is also -ctc_loss. */
static void test_beam_search_exact_when_wide(void **state)
{
    (void)state;
    enum { T = 5, C = 3, KEYS = 1024 }; /* (C+1)^T */
    for (int blank = 0; blank < C; blank++) {
        float lp[T * 2 * C];
        random_log_probs(lp, (size_t)T * 2, C, 700 + blank, 1.2f);
        /* Sequence 1 of a [T x 2 x C] batch, through the stride. */
        const float *seq = lp + C;
        size_t stride = 2 * C;
        double *prob = calloc(KEYS, sizeof *prob);
        assert_non_null(prob);
        brute_all all = {C, blank, prob};
        each_path(seq, stride, T, C, visit_all, &all);
        /* Labellings over 2 labels that fit in 5 frames (a blank between
         * equal neighbours): fewer than the 63 of length <= 5. */
        int nonzero = 0;
        for (int k = 0; k < KEYS; k++) nonzero += prob[k] > 0;
        assert_true(nonzero > 20 && nonzero < 63);
        int32_t labels[64 * T], lengths[64], n;
        float scores[64];
        assert_int_equal(rc_ctc_beam_search(seq, T, C, stride, blank, 64, 64, labels, lengths,
                                            scores, &n),
                         RC_OK);
        assert_int_equal(n, nonzero);
        rc_tape *t = rc_tape_new();
        int shape[3] = {T, 1, C};
        float contiguous[T * C];
        for (int tt = 0; tt < T; tt++)
            memcpy(contiguous + tt * C, seq + (size_t)tt * stride, C * sizeof(float));
        for (int j = 0; j < n; j++) {
            int lab[T];
            for (int q = 0; q < lengths[j]; q++) lab[q] = labels[j * T + q];
            double p = prob[labelling_key(lab, lengths[j], C)];
            assert_true(p > 0);
            assert_float_equal(scores[j], log(p), 1e-5);
            if (j) assert_true(scores[j] <= scores[j - 1]);
            prob[labelling_key(lab, lengths[j], C)] = 0; /* each labelling once */
            /* -ctc_loss of the labelling is the same number. */
            rc_tape_reset(t);
            int32_t il = T, tl = lengths[j];
            rc_var *y = rc_ctc_loss(t, rc_input(t, 3, shape, contiguous), labels + j * T, &il,
                                    &tl, blank, RC_CTC_SUM, 0);
            assert_non_null(y);
            assert_float_equal(-y->value.data[0], scores[j], 1e-5);
        }
        rc_tape_free(t);
        free(prob);
    }
    /* No frames: the empty labelling, probability 1. */
    int32_t lab[1], len, n;
    float sc;
    assert_int_equal(rc_ctc_beam_search(NULL, 0, 3, 0, 0, 4, 2, lab, &len, &sc, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(len, 0);
    assert_true(sc == 0.0f);
}

/* -------------------------------------------------------- bad calls -- */

static void test_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int s3[3] = {4, 2, 3}, s2[2] = {4, 3}, s0[3] = {4, 0, 3};
    float lp[4 * 2 * 3];
    random_log_probs(lp, 8, 3, 800, 1.0f);
    rc_var *x = rc_input_grad(t, 3, s3, lp);
    rc_var *x2 = rc_input(t, 2, s2, lp);
    rc_var *x0 = rc_input(t, 3, s0, NULL);
    int32_t il[2] = {4, 3}, tl[2] = {2, 1}, tg[3] = {1, 2, 2};
    int32_t il_big[2] = {4, 5}, il_neg[2] = {-1, 3}, tl_neg[2] = {2, -2};
    int32_t tg_blank[3] = {1, 2, 0}, tg_big[3] = {1, 3, 2}, tg_neg[3] = {-4, 1, 2};

    TEST_EXPECT_FAIL(NULL, rc_ctc_loss(NULL, x, tg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_ARG,
                "ctc_loss", "tape");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, NULL, tg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_ARG, "ctc_loss",
                "NULL");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x2, tg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_SHAPE, "ctc_loss",
                "[4x3]", "T x B x C");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x0, tg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_SHAPE, "ctc_loss",
                "[4x0x3]", "empty");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl, 3, RC_CTC_MEAN, 0), RC_ERR_RANGE, "ctc_loss",
                "blank 3", "[0, 3)");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl, -1, RC_CTC_MEAN, 0), RC_ERR_RANGE, "blank -1");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl, 0, (rc_ctc_reduction)7, 0), RC_ERR_ARG,
                "ctc_loss", "reduction 7");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, NULL, tl, 0, RC_CTC_MEAN, 0), RC_ERR_ARG,
                "input_lengths");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, NULL, 0, RC_CTC_MEAN, 0), RC_ERR_ARG,
                "target_lengths");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, NULL, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_ARG, "targets",
                "NULL", "3");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il_big, tl, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 1", "input length 5", "[0, 4]");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il_neg, tl, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 0", "input length -1");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl_neg, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 1", "target length -2");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg_blank, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 1", "label 0", "targets[2]", "blank 0");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl, 2, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 0", "label 1", "blank 2");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg_big, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 0", "label 1", "id 3", "[0, 3)");
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg_neg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_RANGE,
                "sequence 0", "label 0", "id -4");
    /* A NaN inside a sequence is an error; past its length it is ignored. */
    x = rc_input_grad(t, 3, s3, lp);
    x->value.data[(3 * 2 + 1) * 3 + 1] = NAN; /* step 3 of sequence 1, whose length is 3 */
    assert_non_null(rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_MEAN, 0));
    x->value.data[(1 * 2 + 1) * 3 + 2] = INFINITY;
    TEST_EXPECT_FAIL(t, rc_ctc_loss(t, x, tg, il, tl, 0, RC_CTC_MEAN, 0), RC_ERR_NUMERIC,
                "ctc_loss", "step 1 of sequence 1", "inf");
    /* An earlier failure passes through: a NULL input keeps its message. */
    rc_tape_reset(t);
    x = rc_input_grad(t, 3, s3, lp);
    assert_null(rc_ctc_loss(t, x, tg, il, tl, 9, RC_CTC_MEAN, 0));
    assert_null(rc_ctc_loss(t, NULL, tg, il, tl, 0, RC_CTC_MEAN, 0));
    assert_non_null(strstr(rc_last_error(), "blank 9"));
    rc_tape_free(t);

    /* Decoders. */
    int32_t labels[16], lengths[4], n;
    float scores[4];
    EXPECT_STATUS(rc_ctc_greedy_decode(NULL, 4, 2, 3, il, 0, labels, lengths), RC_ERR_ARG,
                  "ctc_greedy_decode", "log_probs");
    EXPECT_STATUS(rc_ctc_greedy_decode(lp, 4, 2, 3, il, 3, labels, lengths), RC_ERR_RANGE,
                  "ctc_greedy_decode", "blank 3");
    EXPECT_STATUS(rc_ctc_greedy_decode(lp, 4, 0, 3, il, 0, labels, lengths), RC_ERR_ARG,
                  "B is 0");
    EXPECT_STATUS(rc_ctc_greedy_decode(lp, 4, 2, 0, il, 0, labels, lengths), RC_ERR_ARG,
                  "C is 0");
    EXPECT_STATUS(rc_ctc_greedy_decode(lp, 4, 2, 3, il_big, 0, labels, lengths), RC_ERR_RANGE,
                  "sequence 1", "input length 5");
    EXPECT_STATUS(rc_ctc_greedy_decode(lp, 4, 2, 3, il, 0, NULL, lengths), RC_ERR_ARG,
                  "labels");
    float bad[4 * 2 * 3];
    memcpy(bad, lp, sizeof bad);
    bad[(2 * 2 + 0) * 3 + 1] = NAN;
    EXPECT_STATUS(rc_ctc_greedy_decode(bad, 4, 2, 3, il, 0, labels, lengths), RC_ERR_NUMERIC,
                  "sequence 0 step 2 class 1");
    EXPECT_STATUS(rc_ctc_beam_search(lp, 4, 3, 0, 0, 0, 1, labels, lengths, scores, &n),
                  RC_ERR_ARG, "ctc_beam_search", "beam width 0");
    EXPECT_STATUS(rc_ctc_beam_search(lp, 4, 3, 0, 0, 2, 3, labels, lengths, scores, &n),
                  RC_ERR_ARG, "n_best 3");
    EXPECT_STATUS(rc_ctc_beam_search(lp, 4, 3, 0, 5, 2, 1, labels, lengths, scores, &n),
                  RC_ERR_RANGE, "blank 5");
    EXPECT_STATUS(rc_ctc_beam_search(lp, 4, 3, 2, 0, 2, 1, labels, lengths, scores, &n),
                  RC_ERR_ARG, "stride 2");
    EXPECT_STATUS(rc_ctc_beam_search(lp, 4, 3, 0, 0, 2, 1, labels, lengths, NULL, &n),
                  RC_ERR_ARG, "scores");
    EXPECT_STATUS(rc_ctc_beam_search(lp, -1, 3, 0, 0, 2, 1, labels, lengths, scores, &n),
                  RC_ERR_ARG, "T is -1");
    EXPECT_STATUS(rc_ctc_beam_search(bad, 4, 3, 6, 0, 2, 1, labels, lengths, scores, &n),
                  RC_ERR_NUMERIC, "step 2 class 1");
}

TEST_GROUP(ctc_tests, "ctc",
           cmocka_unit_test(test_parity_with_committed_torch_cases),
           cmocka_unit_test(test_parity_with_fresh_random_torch_cases),
           cmocka_unit_test(test_loss_matches_brute_force),
           cmocka_unit_test(test_loss_edge_lengths),
           cmocka_unit_test(test_loss_impossible_by_probability),
           cmocka_unit_test(test_gradcheck_after_log_softmax),
           cmocka_unit_test(test_gradient_is_torch_convention),
           cmocka_unit_test(test_no_grad_mode),
           cmocka_unit_test(test_greedy_decode),
           cmocka_unit_test(test_beam_width_one_is_greedy),
           cmocka_unit_test(test_beam_beats_greedy),
           cmocka_unit_test(test_beam_search_exact_when_wide),
           cmocka_unit_test(test_errors));
