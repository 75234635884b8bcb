/* test_attention.c - the attention ops (dot, general, additive) and the key
 * projection: forward against a direct computation in double, gradient
 * checks with respect to every input on several shapes and source lengths
 * (length 1 included), the mask (weights exactly 0 past a length, no
 * gradient into padded keys and values even when they hold NaN), grad
 * mode off, and bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

enum { DOT, GENERAL, ADDITIVE };
static const char *kind_name[] = {"dot", "general", "additive"};

/* One configuration: sizes, lengths and options. Dk is the keys' own
 * size; A the projected size (general: A = Dq; dot: no projection). */
typedef struct acase {
    int kind;
    int B, S, Dq, Dk, A, Dv;
    int32_t len[4];
    int values_are_keys; /* dot: values NULL; general: values = the keys */
    int no_wq;           /* additive: the query is already projected (Dq = A) */
    int no_bias;         /* additive: no bias in the key projection */
} acase;

/* The parameters of a case; NULL where the case has none. */
typedef struct aparams {
    rc_var *query, *keys, *values, *w, *b, *w_q, *v;
} aparams;

static aparams make_params(const acase *c, uint64_t seed)
{
    aparams p;
    memset(&p, 0, sizeof p);
    int sq[2] = {c->B, c->Dq}, sk[3] = {c->S, c->B, c->Dk}, sv[3] = {c->S, c->B, c->Dv};
    p.query = test_param("query", 2, sq, seed, -1, 1);
    p.keys = test_param("keys", 3, sk, seed + 1, -1, 1);
    if (!c->values_are_keys) p.values = test_param("values", 3, sv, seed + 2, -1, 1);
    if (c->kind == GENERAL) {
        int sw[2] = {c->Dq, c->Dk};
        p.w = test_param("W", 2, sw, seed + 3, -1, 1);
    } else if (c->kind == ADDITIVE) {
        int sw[2] = {c->A, c->Dk}, sa[1] = {c->A}, sq2[2] = {c->A, c->Dq};
        p.w = test_param("W_k", 2, sw, seed + 3, -1, 1);
        if (!c->no_bias) p.b = test_param("b", 1, sa, seed + 4, -0.5f, 0.5f);
        if (!c->no_wq) p.w_q = test_param("W_q", 2, sq2, seed + 5, -1, 1);
        p.v = test_param("v", 1, sa, seed + 6, -1.5f, 1.5f);
    }
    return p;
}

static void free_params(aparams *p)
{
    rc_var *all[7] = {p->query, p->keys, p->values, p->w, p->b, p->w_q, p->v};
    for (int i = 0; i < 7; i++) rc_param_free(all[i]);
    memset(p, 0, sizeof *p);
}

/* The parameters as a list, in a fixed order. */
static int param_list(const aparams *p, rc_var **out)
{
    rc_var *all[7] = {p->query, p->keys, p->values, p->w, p->b, p->w_q, p->v};
    int n = 0;
    for (int i = 0; i < 7; i++)
        if (all[i]) out[n++] = all[i];
    return n;
}

/* Runs the case's op on the tape. */
static rc_status run_case(rc_tape *t, const acase *c, const aparams *p, rc_var **ctx,
                          rc_var **wts)
{
    switch (c->kind) {
    case DOT:
        return rc_attention_dot(t, p->query, p->keys, p->values, c->len, ctx, wts);
    case GENERAL: {
        rc_var *kp = rc_attention_project(t, p->keys, p->w, NULL);
        return rc_attention_general(t, p->query, kp, c->values_are_keys ? p->keys : p->values,
                                    c->len, ctx, wts);
    }
    default: {
        rc_var *kp = rc_attention_project(t, p->keys, p->w, p->b);
        return rc_attention_additive(t, p->query, p->w_q, kp, p->v, p->values, c->len, ctx,
                                     wts);
    }
    }
}

/* gradcheck's function: both outputs side by side, [B x (Dv + S)], so
 * that the gradient of each reaches the node. The inputs are rebuilt from
 * the list (the checker perturbs them in place). */
typedef struct gc_user {
    const acase *c;
    aparams p;
} gc_user;

static rc_var *f_attention(rc_tape *t, rc_var **in, void *user)
{
    gc_user *u = user;
    (void)in;
    rc_var *ctx = NULL, *wts = NULL;
    if (run_case(t, u->c, &u->p, &ctx, &wts) != RC_OK) return NULL;
    rc_var *both[2] = {ctx, wts};
    return rc_concat(t, both, 2, 1);
}

/* ---- the reference, in double ---- */

static double at3(const rc_var *x, int s, int b, int j)
{
    return x->value.data[((size_t)s * x->value.shape[1] + b) * x->value.shape[2] + j];
}
static double at2(const rc_var *x, int i, int j)
{
    return x->value.data[(size_t)i * x->value.shape[1] + j];
}

/* ctx [B x Dv] and a [B x S] for the case. */
static void reference(const acase *c, const aparams *p, double *ctx, double *a)
{
    const rc_var *vals = p->values ? p->values : p->keys;
    int Dv = vals->value.shape[2];
    for (int b = 0; b < c->B; b++) {
        int L = c->len[b];
        double e[16], m = -INFINITY, sum = 0.0;
        for (int s = 0; s < L; s++) {
            double acc = 0.0;
            if (c->kind == DOT) {
                for (int j = 0; j < c->Dq; j++) acc += at2(p->query, b, j) * at3(p->keys, s, b, j);
            } else if (c->kind == GENERAL) { /* q^T W k */
                for (int i = 0; i < c->Dq; i++) {
                    double wk = 0.0;
                    for (int j = 0; j < c->Dk; j++) wk += at2(p->w, i, j) * at3(p->keys, s, b, j);
                    acc += at2(p->query, b, i) * wk;
                }
            } else { /* v . tanh(W_q q + W_k k + b) */
                for (int r = 0; r < c->A; r++) {
                    double z = p->b ? p->b->value.data[r] : 0.0;
                    for (int i = 0; i < c->Dq; i++)
                        z += (p->w_q ? at2(p->w_q, r, i) : (i == r)) * at2(p->query, b, i);
                    for (int j = 0; j < c->Dk; j++) z += at2(p->w, r, j) * at3(p->keys, s, b, j);
                    acc += p->v->value.data[r] * tanh(z);
                }
            }
            e[s] = acc;
            m = fmax(m, acc);
        }
        for (int s = 0; s < c->S; s++) a[b * c->S + s] = 0.0;
        for (int s = 0; s < L; s++) sum += exp(e[s] - m);
        for (int s = 0; s < L; s++) a[b * c->S + s] = exp(e[s] - m) / sum;
        for (int j = 0; j < Dv; j++) {
            double acc = 0.0;
            for (int s = 0; s < L; s++) acc += a[b * c->S + s] * at3(vals, s, b, j);
            ctx[b * Dv + j] = acc;
        }
    }
}

static const acase cases[] = {
    /* kind     B  S  Dq Dk A  Dv  lengths     v=k no_wq no_bias */
    {DOT,       1, 1, 3, 3, 0, 2, {1},          0, 0, 0},
    {DOT,       3, 4, 3, 3, 0, 2, {4, 1, 2},    0, 0, 0},
    {DOT,       2, 5, 4, 4, 0, 4, {3, 5},       1, 0, 0},
    {GENERAL,   1, 1, 2, 3, 2, 3, {1},          0, 0, 0},
    {GENERAL,   3, 4, 3, 2, 3, 2, {2, 4, 1},    0, 0, 0},
    {GENERAL,   2, 3, 2, 3, 2, 3, {3, 2},       1, 0, 0},
    {ADDITIVE,  1, 1, 2, 3, 4, 2, {1},          0, 0, 0},
    {ADDITIVE,  3, 4, 3, 2, 4, 3, {4, 1, 3},    0, 0, 0},
    {ADDITIVE,  2, 5, 3, 3, 3, 2, {2, 5},       0, 1, 1},
    {ADDITIVE,  4, 3, 2, 2, 3, 2, {3, 3, 1, 2}, 0, 0, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_forward(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    for (size_t k = 0; k < N_CASES; k++) {
        const acase *c = &cases[k];
        aparams p = make_params(c, 100 + 10 * k);
        rc_var *ctx = NULL, *wts = NULL;
        rc_tape_reset(t);
        if (run_case(t, c, &p, &ctx, &wts) != RC_OK)
            fail_msg("case %zu (%s): %s", k, kind_name[c->kind], rc_last_error());
        int Dv = c->values_are_keys ? c->Dk : c->Dv;
        assert_int_equal(ctx->value.ndim, 2);
        assert_int_equal(ctx->value.shape[0], c->B);
        assert_int_equal(ctx->value.shape[1], Dv);
        assert_int_equal(wts->value.ndim, 2);
        assert_int_equal(wts->value.shape[0], c->B);
        assert_int_equal(wts->value.shape[1], c->S);
        double rc[64], ra[64];
        reference(c, &p, rc, ra);
        for (int b = 0; b < c->B; b++) {
            double sum = 0.0;
            for (int s = 0; s < c->S; s++) {
                float a = wts->value.data[b * c->S + s];
                if (s >= c->len[b]) {
                    if (a != 0.0f) fail_msg("case %zu: weight [%d,%d] past length %d is %g", k,
                                            b, s, c->len[b], (double)a);
                    continue;
                }
                assert_true(a > 0.0f);
                assert_float_equal(a, ra[b * c->S + s], 1e-6);
                sum += a;
            }
            assert_float_equal(sum, 1.0, 1e-6);
            if (c->len[b] == 1) assert_true(wts->value.data[b * c->S] == 1.0f);
            for (int j = 0; j < Dv; j++)
                assert_float_equal(ctx->value.data[b * Dv + j], rc[b * Dv + j], 1e-5);
        }
        /* Without lengths every position counts: the same as lengths all S. */
        if (c->kind == DOT) {
            acase full = *c;
            for (int b = 0; b < c->B; b++) full.len[b] = c->S;
            rc_var *c2 = NULL, *w2 = NULL;
            assert_int_equal(rc_attention_dot(t, p.query, p.keys, p.values, NULL, &c2, &w2), RC_OK);
            reference(&full, &p, rc, ra);
            for (int i = 0; i < c->B * c->S; i++) assert_float_equal(w2->value.data[i], ra[i], 1e-6);
        }
        free_params(&p);
    }
    rc_tape_free(t);
}

static void test_gradcheck(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_CASES; k++) {
        gc_user u = {&cases[k], make_params(&cases[k], 300 + 10 * k)};
        rc_var *in[7];
        int n = param_list(&u.p, in);
        assert_gradcheck(f_attention, &u, in, n);
        free_params(&u.p);
    }
}

/* A large score range: the softmax must stay exact (shifted by the max). */
static void test_large_scores(void **state)
{
    (void)state;
    acase c = {DOT, 2, 3, 2, 2, 0, 2, {3, 2}, 0, 0, 0};
    aparams p = make_params(&c, 500);
    for (size_t i = 0; i < p.query->value.size; i++) p.query->value.data[i] *= 300.0f;
    rc_tape *t = rc_tape_new();
    rc_var *ctx, *wts;
    assert_int_equal(run_case(t, &c, &p, &ctx, &wts), RC_OK);
    double rc[8], ra[8];
    reference(&c, &p, rc, ra);
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(wts->value.data[i]));
        assert_float_equal(wts->value.data[i], ra[i], 1e-6);
    }
    for (int i = 0; i < 4; i++) assert_float_equal(ctx->value.data[i], rc[i], 1e-5);
    rc_tape_free(t);
    free_params(&p);
}

/* Padded keys and values get exactly no gradient and do not matter at all:
 * NaN there changes nothing. keys_proj is given directly here (a NaN key
 * would reach W_k's gradient through the projection, as in any matmul). */
static void test_mask(void **state)
{
    (void)state;
    enum { B = 3, S = 4, D = 3, Dv = 2 };
    int32_t len[B] = {2, 4, 1};
    int sq[2] = {B, D}, sk[3] = {S, B, D}, sv[3] = {S, B, Dv}, sa[1] = {D};
    rc_var *q = test_param("query", 2, sq, 600, -1, 1);
    rc_var *k = test_param("keys", 3, sk, 601, -1, 1);
    rc_var *val = test_param("values", 3, sv, 602, -1, 1);
    rc_var *v = test_param("v", 1, sa, 603, -1, 1);
    rc_var *wq = test_param("W_q", 2, (int[2]){D, D}, 604, -1, 1);
    rc_tape *t = rc_tape_new();
    float seed[B * Dv + B * S];
    for (int i = 0; i < B * Dv + B * S; i++) seed[i] = 0.25f * (float)(i % 7) - 0.7f;
    for (int kind = DOT; kind <= ADDITIVE; kind++) {
        float clean[B * Dv + B * S], grad_q[B * D];
        for (int pass = 0; pass < 2; pass++) {
            /* pass 1: NaN in every padded key and value */
            for (int s = 0; s < S; s++)
                for (int b = 0; b < B; b++)
                    if (s >= len[b]) {
                        for (int j = 0; j < D; j++)
                            k->value.data[(s * B + b) * D + j] = pass ? NAN : 0.5f;
                        for (int j = 0; j < Dv; j++)
                            val->value.data[(s * B + b) * Dv + j] = pass ? NAN : -0.5f;
                    }
            rc_param_zero_grad(q);
            rc_param_zero_grad(k);
            rc_param_zero_grad(val);
            rc_param_zero_grad(v);
            rc_param_zero_grad(wq);
            rc_tape_reset(t);
            rc_var *ctx, *wts;
            rc_status st = kind == DOT ? rc_attention_dot(t, q, k, val, len, &ctx, &wts)
                           : kind == GENERAL
                               ? rc_attention_general(t, q, k, val, len, &ctx, &wts)
                               : rc_attention_additive(t, q, wq, k, v, val, len, &ctx, &wts);
            if (st != RC_OK) fail_msg("%s: %s", kind_name[kind], rc_last_error());
            /* The node holds context then weights: seed both through it. */
            rc_var *node = rc_tape_node_at(t, rc_tape_size(t) - 3);
            assert_ptr_equal(ctx->value.data, node->value.data);
            assert_ptr_equal(wts->value.data, node->value.data + B * Dv);
            assert_int_equal(rc_backward_from(t, node, seed), RC_OK);
            for (int i = 0; i < B * Dv + B * S; i++) {
                float x = node->value.data[i];
                assert_true(isfinite(x));
                if (pass == 0) clean[i] = x;
                else assert_true(x == clean[i]);
            }
            for (int i = 0; i < B * D; i++) {
                assert_true(isfinite(q->grad[i]));
                if (pass == 0) grad_q[i] = q->grad[i];
                else assert_true(q->grad[i] == grad_q[i]);
            }
            for (int s = 0; s < S; s++)
                for (int b = 0; b < B; b++) {
                    int padded = s >= len[b];
                    for (int j = 0; j < D; j++) {
                        float g = k->grad[(s * B + b) * D + j];
                        if (padded) assert_true(g == 0.0f);
                        else assert_true(isfinite(g));
                    }
                    for (int j = 0; j < Dv; j++) {
                        float g = val->grad[(s * B + b) * Dv + j];
                        if (padded) assert_true(g == 0.0f);
                        else assert_true(isfinite(g) && g != 0.0f);
                    }
                    if (padded) assert_true(wts->value.data[b * S + s] == 0.0f);
                }
            if (kind == ADDITIVE)
                for (int j = 0; j < D; j++) assert_true(isfinite(v->grad[j]) && isfinite(wq->grad[j]));
        }
        /* A row of length 1: weight exactly 1, so no gradient reaches its
         * query or its one key through the scores. */
        for (int j = 0; j < D; j++) {
            assert_true(q->grad[2 * D + j] == 0.0f);
            assert_true(k->grad[2 * D + j] == 0.0f);
        }
    }
    rc_tape_free(t);
    rc_param_free(q);
    rc_param_free(k);
    rc_param_free(val);
    rc_param_free(v);
    rc_param_free(wq);
}

/* Only one output asked for; grad mode off gives the same numbers and
 * records nothing to differentiate. */
static void test_outputs_and_grad_off(void **state)
{
    (void)state;
    acase c = cases[7]; /* additive, B 3, S 4 */
    aparams p = make_params(&c, 700);
    rc_tape *t = rc_tape_new();
    rc_var *ctx, *wts, *ctx2 = NULL, *wts2 = NULL;
    assert_int_equal(run_case(t, &c, &p, &ctx, &wts), RC_OK);
    assert_true(ctx->requires_grad && wts->requires_grad);
    assert_int_equal(run_case(t, &c, &p, &ctx2, NULL), RC_OK);
    assert_int_equal(run_case(t, &c, &p, NULL, &wts2), RC_OK);
    assert_memory_equal(ctx->value.data, ctx2->value.data, ctx->value.size * sizeof(float));
    assert_memory_equal(wts->value.data, wts2->value.data, wts->value.size * sizeof(float));
    /* A loss on the weights alone: only the scores' inputs get gradients. */
    rc_var *l = rc_sum(t, rc_mul(t, wts2, wts2));
    assert_int_equal(rc_backward(t, l), RC_OK);
    for (size_t i = 0; i < p.values->value.size; i++) assert_true(p.values->grad[i] == 0.0f);
    float gsum = 0.0f;
    for (size_t i = 0; i < p.v->value.size; i++) gsum += fabsf(p.v->grad[i]);
    assert_true(gsum > 0.0f);

    rc_tape_reset(t);
    rc_tape_set_grad(t, 0);
    rc_var *ctx3, *wts3;
    assert_int_equal(run_case(t, &c, &p, &ctx3, &wts3), RC_OK);
    assert_false(ctx3->requires_grad);
    assert_false(wts3->requires_grad);
    double rc[64], ra[64];
    reference(&c, &p, rc, ra);
    for (size_t i = 0; i < ctx3->value.size; i++) assert_float_equal(ctx3->value.data[i], rc[i], 1e-5);
    for (size_t i = 0; i < wts3->value.size; i++) assert_float_equal(wts3->value.data[i], ra[i], 1e-6);
    rc_tape_free(t);
    free_params(&p);
}

/* The projection is keys W^T + b at every position. */
static void test_project(void **state)
{
    (void)state;
    int sk[3] = {3, 2, 4}, sw[2] = {5, 4}, sb[1] = {5};
    rc_var *k = test_param("keys", 3, sk, 800, -1, 1), *w = test_param("W", 2, sw, 801, -1, 1);
    rc_var *b = test_param("b", 1, sb, 802, -1, 1);
    rc_tape *t = rc_tape_new();
    rc_var *y = rc_attention_project(t, k, w, b);
    assert_non_null(y);
    assert_int_equal(y->value.ndim, 3);
    assert_int_equal(y->value.shape[0], 3);
    assert_int_equal(y->value.shape[1], 2);
    assert_int_equal(y->value.shape[2], 5);
    for (int r = 0; r < 6; r++)
        for (int a = 0; a < 5; a++) {
            double z = b->value.data[a];
            for (int j = 0; j < 4; j++) z += (double)w->value.data[a * 4 + j] * k->value.data[r * 4 + j];
            assert_float_equal(y->value.data[r * 5 + a], z, 1e-5);
        }
    rc_tape_free(t);
    rc_param_free(k);
    rc_param_free(w);
    rc_param_free(b);
}

/* ---- bad calls ---- */

static void expect_fail(rc_tape *t, rc_status got, rc_status want, const char *const *words,
                        const char *what)
{
    if (got != want)
        fail_msg("%s: status %s, expected %s (%s)", what, rc_status_name(got),
                 rc_status_name(want), rc_last_error());
    if (t) {
        assert_int_equal(rc_tape_status(t), want);
        rc_tape_reset(t);
    }
    for (; *words; words++)
        if (!strstr(rc_last_error(), *words))
            fail_msg("%s: message \"%s\" lacks \"%s\"", what, rc_last_error(), *words);
}
#define EXPECT_FAIL(t, expr, st, ...)                                                   \
    do {                                                                                \
        rc_clear_error();                                                               \
        ctx = wts = (rc_var *)1;                                                        \
        rc_status s_ = (expr);                                                          \
        expect_fail((t), s_, (st), (const char *const[]){__VA_ARGS__, NULL}, #expr);    \
        assert_null(ctx);                                                               \
        assert_null(wts);                                                               \
    } while (0)

static void test_errors(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    int sq[2] = {2, 3}, sk[3] = {4, 2, 3}, sv[3] = {4, 2, 5};
    rc_var *q = test_param("q", 2, sq, 1, -1, 1), *k = test_param("k", 3, sk, 2, -1, 1);
    rc_var *val = test_param("val", 3, sv, 3, -1, 1);
    rc_var *q1 = test_param("q1", 1, (int[1]){3}, 4, -1, 1);
    rc_var *q3b = test_param("q3b", 2, (int[2]){3, 3}, 5, -1, 1);
    rc_var *q4 = test_param("q4", 2, (int[2]){2, 4}, 6, -1, 1);
    rc_var *k2d = test_param("k2d", 2, (int[2]){4, 3}, 7, -1, 1);
    rc_var *val_s = test_param("val_s", 3, (int[3]){3, 2, 5}, 8, -1, 1);
    rc_var *val_b = test_param("val_b", 3, (int[3]){4, 3, 5}, 9, -1, 1);
    rc_var *v3 = test_param("v3", 1, (int[1]){3}, 10, -1, 1);
    rc_var *v4 = test_param("v4", 1, (int[1]){4}, 11, -1, 1);
    rc_var *wq = test_param("wq", 2, (int[2]){3, 3}, 12, -1, 1);
    rc_var *wq_bad = test_param("wq_bad", 2, (int[2]){3, 4}, 13, -1, 1);
    rc_var *wk_bad = test_param("wk_bad", 2, (int[2]){5, 2}, 14, -1, 1);
    rc_var *b_bad = test_param("b_bad", 1, (int[1]){4}, 15, -1, 1);
    rc_var *wk = test_param("wk", 2, (int[2]){5, 3}, 16, -1, 1);
    int32_t ok[2] = {4, 1}, zero[2] = {2, 0}, big[2] = {5, 1}, neg[2] = {-1, 2};
    rc_var *ctx, *wts;

    /* shapes */
    EXPECT_FAIL(t, rc_attention_dot(t, q1, k, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "query", "[3]");
    EXPECT_FAIL(t, rc_attention_dot(t, q3b, k, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "[4x2x3]", "[3x3]");
    EXPECT_FAIL(t, rc_attention_dot(t, q, k2d, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "keys", "[4x3]");
    EXPECT_FAIL(t, rc_attention_dot(t, q4, k, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "[2x4]", "[4x2x3]", "differ");
    EXPECT_FAIL(t, rc_attention_dot(t, q, k, val_s, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "values", "[3x2x5]");
    EXPECT_FAIL(t, rc_attention_dot(t, q, k, val_b, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_dot", "values", "[4x3x5]");
    EXPECT_FAIL(t, rc_attention_general(t, q4, k, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_general", "keys_proj", "[2x4]");
    EXPECT_FAIL(t, rc_attention_additive(t, q, wq, k, v4, val, ok, &ctx, &wts), RC_ERR_SHAPE,
                "attention_additive", "v", "[4]");
    EXPECT_FAIL(t, rc_attention_additive(t, q, wq_bad, k, v3, val, ok, &ctx, &wts),
                RC_ERR_SHAPE, "attention_additive", "w_q", "[3x4]");
    EXPECT_FAIL(t, rc_attention_additive(t, q4, NULL, k, v3, val, ok, &ctx, &wts),
                RC_ERR_SHAPE, "attention_additive", "without w_q", "[2x4]");
    EXPECT_FAIL(t, rc_attention_additive(t, q, wq, k, v3, val_s, ok, &ctx, &wts),
                RC_ERR_SHAPE, "attention_additive", "values");
    /* lengths */
    EXPECT_FAIL(t, rc_attention_dot(t, q, k, val, zero, &ctx, &wts), RC_ERR_RANGE,
                "attention_dot", "lengths[1] = 0", "1..4");
    EXPECT_FAIL(t, rc_attention_general(t, q, k, val, big, &ctx, &wts), RC_ERR_RANGE,
                "attention_general", "lengths[0] = 5", "1..4");
    EXPECT_FAIL(t, rc_attention_additive(t, q, wq, k, v3, val, neg, &ctx, &wts), RC_ERR_RANGE,
                "attention_additive", "lengths[0] = -1");
    /* NULL inputs, no outputs, no tape */
    EXPECT_FAIL(t, rc_attention_general(t, q, k, NULL, ok, &ctx, &wts), RC_ERR_ARG,
                "attention_general", "input 2 is NULL");
    EXPECT_FAIL(t, rc_attention_additive(t, q, wq, k, NULL, val, ok, &ctx, &wts), RC_ERR_ARG,
                "attention_additive", "input 3 is NULL");
    EXPECT_FAIL(t, rc_attention_dot(t, NULL, k, val, ok, &ctx, &wts), RC_ERR_ARG,
                "attention_dot", "input 0 is NULL");
    rc_clear_error();
    assert_int_equal(rc_attention_dot(t, q, k, val, ok, NULL, NULL), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "neither"));
    rc_tape_reset(t);
    EXPECT_FAIL(NULL, rc_attention_dot(NULL, q, k, val, ok, &ctx, &wts), RC_ERR_ARG,
                "attention_dot", "tape");
    /* A NaN score. */
    q->value.data[4] = NAN;
    EXPECT_FAIL(t, rc_attention_dot(t, q, k, val, ok, &ctx, &wts), RC_ERR_NUMERIC,
                "attention_dot", "batch row 1", "nan");
    q->value.data[4] = 0.5f;
    /* An earlier failure is kept: the op returns it, with its message. */
    rc_var *kp = rc_attention_project(t, k, wk_bad, NULL);
    assert_null(kp);
    assert_int_equal(rc_tape_status(t), RC_ERR_SHAPE);
    assert_non_null(strstr(rc_last_error(), "attention_project"));
    assert_non_null(strstr(rc_last_error(), "[5x2]"));
    ctx = wts = (rc_var *)1;
    assert_int_equal(rc_attention_general(t, q, kp, val, ok, &ctx, &wts), RC_ERR_SHAPE);
    assert_null(ctx);
    assert_null(wts);
    assert_non_null(strstr(rc_last_error(), "attention_project"));
    rc_tape_reset(t);
    /* the projection's own checks */
    assert_null(rc_attention_project(t, k2d, wk, NULL));
    assert_non_null(strstr(rc_last_error(), "keys is [4x3]"));
    rc_tape_reset(t);
    assert_null(rc_attention_project(t, k, wk, b_bad));
    assert_non_null(strstr(rc_last_error(), "b is [4]"));
    rc_tape_reset(t);
    assert_null(rc_attention_project(t, k, NULL, NULL));
    assert_int_equal(rc_tape_status(t), RC_ERR_ARG);
    rc_tape_reset(t);
    /* and a good call on the same tape afterwards */
    assert_int_equal(rc_attention_dot(t, q, k, val, ok, &ctx, &wts), RC_OK);

    rc_var *all[] = {q, k, val, q1, q3b, q4, k2d, val_s, val_b, v3, v4, wq, wq_bad, wk_bad,
                     b_bad, wk};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rc_param_free(all[i]);
    rc_tape_free(t);
}

TEST_GROUP(attention_tests, "attention",
           cmocka_unit_test(test_forward),
           cmocka_unit_test(test_gradcheck),
           cmocka_unit_test(test_large_scores),
           cmocka_unit_test(test_mask),
           cmocka_unit_test(test_outputs_and_grad_off),
           cmocka_unit_test(test_project),
           cmocka_unit_test(test_errors));
