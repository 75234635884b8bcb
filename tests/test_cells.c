/* test_cells.c - the recurrent cells (src/ops/cell.c, rnn.c, lstm.c, gru.c):
 * forward against a plain implementation in double written here, gradient
 * checks of the sequence and step ops in every configuration, the step op
 * in a loop against the sequence op, padding and reverse semantics, and
 * bad calls. */
#include "test.h"
#include "internal.h"
#include "ops/cell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ a case -- */

/* The five cells the API can build. */
enum { V_RNN_TANH, V_RNN_RELU, V_LSTM, V_LSTM_PROJ, V_GRU, N_VARIANTS };
static const char *variant_name[N_VARIANTS] = {"RNN_TANH", "RNN_RELU", "LSTM", "LSTM_PROJ", "GRU"};

static rc_cell_kind variant_kind(int v)
{
    return v == V_RNN_TANH ? RC_CELL_RNN_TANH
           : v == V_RNN_RELU ? RC_CELL_RNN_RELU
           : v == V_GRU ? RC_CELL_GRU
                        : RC_CELL_LSTM;
}

typedef struct cfg {
    int variant;
    int bias, reverse, varlen, with_h0;
    int T, B, I, H, P_proj; /* 0: the defaults below */
} cfg;

enum { DEF_T = 5, DEF_B = 3, DEF_I = 3, DEF_H = 4, DEF_P = 2, MAX_B = 8 };

typedef struct cell_case {
    cfg c;
    rc_cell_kind kind;
    int T, B, I, H, P, G;
    rc_var *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh, *w_hr;
    int32_t lengths[MAX_B];
    rc_var *inputs[8];
    int n_inputs;
} cell_case;

static void case_make(cell_case *k, cfg c, uint64_t seed)
{
    memset(k, 0, sizeof *k);
    k->c = c;
    k->kind = variant_kind(c.variant);
    k->G = rc_cell_gates(k->kind);
    k->T = c.T ? c.T : DEF_T;
    k->B = c.B ? c.B : DEF_B;
    k->I = c.I ? c.I : DEF_I;
    k->H = c.H ? c.H : DEF_H;
    k->P = c.variant == V_LSTM_PROJ ? (c.P_proj ? c.P_proj : DEF_P) : k->H;
    assert_true(k->B <= MAX_B);
    int GH = k->G * k->H;
    int sx[3] = {k->T, k->B, k->I}, sih[2] = {GH, k->I}, shh[2] = {GH, k->P}, sb[1] = {GH};
    int shr[2] = {k->P, k->H}, sh[2] = {k->B, k->P}, sc[2] = {k->B, k->H};
    seed *= 100;
    k->x = test_param("x", 3, sx, seed + 1, -1.0f, 1.0f);
    k->w_ih = test_param("w_ih", 2, sih, seed + 2, -0.6f, 0.6f);
    k->w_hh = test_param("w_hh", 2, shh, seed + 3, -0.6f, 0.6f);
    if (c.bias) {
        k->b_ih = test_param("b_ih", 1, sb, seed + 4, -0.6f, 0.6f);
        k->b_hh = test_param("b_hh", 1, sb, seed + 5, -0.6f, 0.6f);
    }
    if (c.variant == V_LSTM_PROJ) k->w_hr = test_param("w_hr", 2, shr, seed + 6, -0.6f, 0.6f);
    if (c.with_h0) {
        k->h0 = test_param("h0", 2, sh, seed + 7, -0.5f, 0.5f);
        if (k->kind == RC_CELL_LSTM) k->c0 = test_param("c0", 2, sc, seed + 8, -0.5f, 0.5f);
    }
    /* All different, with 1 and T: T, 1, (T+1)/2, then others. */
    for (int b = 0; b < k->B; b++)
        k->lengths[b] = b == 0 ? k->T : b == 1 ? 1 : b == 2 ? (k->T + 1) / 2 : 1 + (7 * b) % k->T;
    rc_var *all[8] = {k->x, k->h0, k->c0, k->w_ih, k->w_hh, k->b_ih, k->b_hh, k->w_hr};
    for (int i = 0; i < 8; i++)
        if (all[i]) k->inputs[k->n_inputs++] = all[i];
}

static void case_free(cell_case *k)
{
    for (int i = 0; i < k->n_inputs; i++) rc_param_free(k->inputs[i]);
}

static rc_cell_weights case_weights(const cell_case *k)
{
    rc_cell_weights w = {k->w_ih, k->w_hh, k->b_ih, k->b_hh, k->w_hr};
    return w;
}

static const int32_t *case_lengths(const cell_case *k)
{
    return k->c.varlen ? k->lengths : NULL;
}

static int case_len(const cell_case *k, int b) { return k->c.varlen ? k->lengths[b] : k->T; }

static void case_describe(const cell_case *k, char *buf, size_t n)
{
    snprintf(buf, n, "%s bias=%d reverse=%d varlen=%d h0=%d T=%d B=%d H=%d P=%d",
             variant_name[k->c.variant], k->c.bias, k->c.reverse, k->c.varlen, k->c.with_h0,
             k->T, k->B, k->H, k->P);
}

static rc_status case_run(rc_tape *t, const cell_case *k, rc_var **y, rc_var **h_n, rc_var **c_n)
{
    rc_cell_weights w = case_weights(k);
    return rc_cell_sequence(t, k->kind, &w, k->x, k->h0, k->c0, case_lengths(k), k->c.reverse,
                            y, h_n, c_n);
}

/* -------------------------------------------- plain double reference -- */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* The sequence one row at a time, straight from the equations (PyTorch's
 * gate orders i f g o and r z n, reset after the hidden multiply). y is
 * [T x B x P] (zero where a row has no step), h_n [B x P], c_n [B x H].
 * *margin gets the smallest |pre-activation| of a relu cell. */
static void ref_sequence(const cell_case *k, double *y, double *h_n, double *c_n, double *margin)
{
    const int T = k->T, B = k->B, I = k->I, H = k->H, P = k->P, GH = k->G * k->H;
    const float *wih = k->w_ih->value.data, *whh = k->w_hh->value.data;
    const float *bih = k->b_ih ? k->b_ih->value.data : NULL;
    const float *bhh = k->b_hh ? k->b_hh->value.data : NULL;
    double a[64], ah[64], h[16], c[16], m[16];
    assert_true(GH <= 64 && H <= 16 && P <= 16);
    if (margin) *margin = 1e30;
    memset(y, 0, (size_t)T * B * P * sizeof *y);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < P; j++) h[j] = k->h0 ? k->h0->value.data[b * P + j] : 0.0;
        for (int j = 0; j < H; j++) c[j] = k->c0 ? k->c0->value.data[b * H + j] : 0.0;
        int L = case_len(k, b);
        for (int s = 0; s < L; s++) {
            int tt = k->c.reverse ? L - 1 - s : s;
            const float *xv = k->x->value.data + ((size_t)tt * B + b) * I;
            for (int r = 0; r < GH; r++) {
                double sx = bih ? bih[r] : 0.0, sh = bhh ? bhh[r] : 0.0;
                for (int i = 0; i < I; i++) sx += (double)wih[r * I + i] * xv[i];
                for (int p = 0; p < P; p++) sh += (double)whh[r * P + p] * h[p];
                a[r] = sx;
                ah[r] = sh;
            }
            switch (k->kind) {
            case RC_CELL_RNN_TANH:
                for (int j = 0; j < H; j++) h[j] = tanh(a[j] + ah[j]);
                break;
            case RC_CELL_RNN_RELU:
                for (int j = 0; j < H; j++) {
                    double v = a[j] + ah[j];
                    if (margin && fabs(v) < *margin) *margin = fabs(v);
                    h[j] = v > 0 ? v : 0;
                }
                break;
            case RC_CELL_LSTM:
                for (int j = 0; j < H; j++) {
                    double ig = sigm(a[j] + ah[j]), fg = sigm(a[H + j] + ah[H + j]);
                    double gg = tanh(a[2 * H + j] + ah[2 * H + j]);
                    double og = sigm(a[3 * H + j] + ah[3 * H + j]);
                    c[j] = fg * c[j] + ig * gg;
                    m[j] = og * tanh(c[j]);
                }
                if (k->w_hr)
                    for (int p = 0; p < P; p++) {
                        double v = 0;
                        for (int j = 0; j < H; j++) v += (double)k->w_hr->value.data[p * H + j] * m[j];
                        h[p] = v;
                    }
                else
                    for (int j = 0; j < H; j++) h[j] = m[j];
                break;
            case RC_CELL_GRU:
                for (int j = 0; j < H; j++) {
                    double r = sigm(a[j] + ah[j]), z = sigm(a[H + j] + ah[H + j]);
                    double n = tanh(a[2 * H + j] + r * ah[2 * H + j]);
                    h[j] = (1 - z) * n + z * h[j];
                }
                break;
            }
            for (int p = 0; p < P; p++) y[((size_t)tt * B + b) * P + p] = h[p];
        }
        for (int p = 0; p < P; p++) h_n[b * P + p] = h[p];
        if (c_n)
            for (int j = 0; j < H; j++) c_n[b * H + j] = c[j];
    }
}

static void assert_close(const float *got, const double *want, size_t n, double tol,
                         const char *what, const char *desc)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol))
            fail_msg("%s: %s[%zu] = %.9g, reference %.9g", desc, what, i, (double)got[i], want[i]);
}

/* Forward against the reference; y exactly zero where there is no step. */
static void check_forward(const cell_case *k, double tol)
{
    char desc[160];
    case_describe(k, desc, sizeof desc);
    const int T = k->T, B = k->B, P = k->P, H = k->H;
    double *y = malloc(sizeof(double) * T * B * P), hn[MAX_B * 16], cn[MAX_B * 16];
    assert_non_null(y);
    ref_sequence(k, y, hn, cn, NULL);
    rc_tape *t = rc_tape_new();
    rc_var *vy, *vh, *vc;
    if (case_run(t, k, &vy, &vh, &vc) != RC_OK) fail_msg("%s: %s", desc, rc_last_error());
    assert_int_equal(vy->value.ndim, 3);
    assert_int_equal(vy->value.shape[0], T);
    assert_int_equal(vy->value.shape[1], B);
    assert_int_equal(vy->value.shape[2], P);
    assert_int_equal(vh->value.shape[0], B);
    assert_int_equal(vh->value.shape[1], P);
    assert_close(vy->value.data, y, (size_t)T * B * P, tol, "y", desc);
    assert_close(vh->value.data, hn, (size_t)B * P, tol, "h_n", desc);
    if (k->kind == RC_CELL_LSTM) {
        assert_non_null(vc);
        assert_int_equal(vc->value.shape[1], H);
        assert_close(vc->value.data, cn, (size_t)B * H, tol, "c_n", desc);
    } else {
        assert_null(vc);
    }
    for (int tt = 0; tt < T; tt++)
        for (int b = 0; b < B; b++)
            if (tt >= case_len(k, b))
                for (int p = 0; p < P; p++)
                    if (vy->value.data[((size_t)tt * B + b) * P + p] != 0.0f)
                        fail_msg("%s: y[%d][%d] is not zero past length %d", desc, tt, b,
                                 case_len(k, b));
    rc_tape_free(t);
    free(y);
}

/* Every configuration: 5 cells x bias x reverse x lengths x h0. */
static void for_all_configs(void (*fn)(cfg c, void *user), int variant, void *user)
{
    for (int bias = 0; bias < 2; bias++)
        for (int reverse = 0; reverse < 2; reverse++)
            for (int varlen = 0; varlen < 2; varlen++)
                for (int h0 = 0; h0 < 2; h0++) {
                    cfg c = {variant, bias, reverse, varlen, h0, 0, 0, 0, 0, 0};
                    fn(c, user);
                }
}

static void forward_one(cfg c, void *user)
{
    (void)user;
    cell_case k;
    case_make(&k, c, 11);
    check_forward(&k, 2e-6);
    case_free(&k);
}

static void test_forward_matches_reference(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++) for_all_configs(forward_one, v, NULL);
}

/* Sizes that are not multiples of any vector width, larger values. */
static void test_forward_odd_sizes(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int varlen = 0; varlen < 2; varlen++) {
            cfg c = {v, 1, varlen, varlen, 1, 7, 5, 6, 13, 5};
            cell_case k;
            case_make(&k, c, 23);
            check_forward(&k, 1e-5);
            case_free(&k);
        }
}

/* -------------------------------------------------- gradient checks -- */

/* The node that holds y, h_n and c_n: the checker compares every output. */
static rc_var *f_sequence(rc_tape *t, rc_var **in, void *user)
{
    (void)in;
    const cell_case *k = user;
    rc_var *y, *h_n, *c_n;
    if (case_run(t, k, &y, &h_n, &c_n) != RC_OK) return NULL;
    return y->in[0];
}

static void gradcheck_one(cfg c, void *user)
{
    (void)user;
    cell_case k;
    char desc[160];
    /* relu has a kink at 0: pick weights whose pre-activations all keep
     * clear of it by 0.03 (finite differences move a pre-activation by at
     * most about 0.015: a step of 1e-2 times an input or weight below 1),
     * so that relu is checked as tightly as the others, not loosened. */
    for (uint64_t seed = 1;; seed++) {
        case_make(&k, c, seed);
        if (k.kind != RC_CELL_RNN_RELU) break;
        double y[DEF_T * DEF_B * 16], hn[DEF_B * 16], margin;
        ref_sequence(&k, y, hn, NULL, &margin);
        if (margin > 0.03) break;
        case_free(&k);
        assert_true(seed < 2000);
    }
    case_describe(&k, desc, sizeof desc);
    rc_gradcheck_report rep;
    if (rc_gradcheck(f_sequence, &k, k.inputs, k.n_inputs, NULL, &rep) != RC_OK)
        fail_msg("%s: gradcheck could not run: %s", desc, rc_last_error());
    if (!rep.ok) fail_msg("%s: %s", desc, rep.message);
    assert_true(rep.checked > 0);
    case_free(&k);
}

static void test_gradcheck_rnn_tanh(void **state) { (void)state; for_all_configs(gradcheck_one, V_RNN_TANH, NULL); }
static void test_gradcheck_rnn_relu(void **state) { (void)state; for_all_configs(gradcheck_one, V_RNN_RELU, NULL); }
static void test_gradcheck_lstm(void **state) { (void)state; for_all_configs(gradcheck_one, V_LSTM, NULL); }
static void test_gradcheck_lstm_proj(void **state) { (void)state; for_all_configs(gradcheck_one, V_LSTM_PROJ, NULL); }
static void test_gradcheck_gru(void **state) { (void)state; for_all_configs(gradcheck_one, V_GRU, NULL); }

/* The step op: x [B x I] is step 0 of the case's x. */
typedef struct step_case {
    cell_case k;
    rc_var *x1;          /* [B x I] */
    const float *mask;
} step_case;

static rc_var *f_step(rc_tape *t, rc_var **in, void *user)
{
    (void)in;
    step_case *sc = user;
    rc_cell_weights w = case_weights(&sc->k);
    rc_var *h, *c;
    if (rc_cell_step(t, sc->k.kind, &w, sc->x1, sc->k.h0, sc->k.c0, sc->mask, &h, &c) != RC_OK)
        return NULL;
    return h->in[0];
}

static void test_gradcheck_step(void **state)
{
    (void)state;
    static const float mask[3] = {1.0f, 0.0f, 1.0f};
    for (int v = 0; v < N_VARIANTS; v++)
        for (int with_mask = 0; with_mask < 2; with_mask++)
            for (int with_h = 0; with_h < 2; with_h++) {
                step_case sc;
                cfg c = {v, 1, 0, 0, with_h, 0, 0, 0, 0, 0};
                for (uint64_t seed = 1;; seed++) {
                    case_make(&sc.k, c, seed + 40);
                    if (sc.k.kind != RC_CELL_RNN_RELU) break;
                    double y[DEF_T * DEF_B * 16], hn[DEF_B * 16], margin;
                    sc.k.T = 1; /* the margin of step 0 alone */
                    ref_sequence(&sc.k, y, hn, NULL, &margin);
                    sc.k.T = DEF_T;
                    if (margin > 0.03) break;
                    case_free(&sc.k);
                    assert_true(seed < 2000);
                }
                int sx[2] = {sc.k.B, sc.k.I};
                sc.x1 = test_param("x", 2, sx, 7, -1.0f, 1.0f);
                memcpy(sc.x1->value.data, sc.k.x->value.data, sc.x1->value.size * sizeof(float));
                sc.mask = with_mask ? mask : NULL;
                rc_var *in[8];
                int n = 0;
                in[n++] = sc.x1;
                for (int i = 1; i < sc.k.n_inputs; i++) in[n++] = sc.k.inputs[i];
                rc_gradcheck_report rep;
                assert_int_equal(rc_gradcheck(f_step, &sc, in, n, NULL, &rep), RC_OK);
                if (!rep.ok)
                    fail_msg("%s step mask=%d h=%d: %s", variant_name[v], with_mask, with_h,
                             rep.message);
                rc_param_free(sc.x1);
                case_free(&sc.k);
            }
}

/* Gradients through the views (a loss from y, h_n, c_n) equal backward
 * from the node seeded with the same numbers. */
static void test_views_carry_gradients(void **state)
{
    (void)state;
    cfg c = {V_LSTM_PROJ, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    cell_case k;
    case_make(&k, c, 3);
    rc_tape *t = rc_tape_new();
    rc_var *y, *h_n, *c_n;
    assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
    size_t ny = y->value.size, nh = h_n->value.size, nc = c_n->value.size;
    float *R = malloc((ny + nh + nc) * sizeof *R);
    rc_rng rng;
    rc_rng_init(&rng, 5);
    rc_rng_fill_uniform(&rng, R, ny + nh + nc, -1, 1);
    rc_var *ry = rc_input(t, 3, y->value.shape, R), *rh = rc_input(t, 2, h_n->value.shape, R + ny);
    rc_var *rcv = rc_input(t, 2, c_n->value.shape, R + ny + nh);
    rc_var *loss = rc_add(t, rc_add(t, rc_sum(t, rc_mul(t, y, ry)), rc_sum(t, rc_mul(t, h_n, rh))),
                          rc_sum(t, rc_mul(t, c_n, rcv)));
    assert_non_null(loss);
    assert_int_equal(rc_backward(t, loss), RC_OK);
    float *g1[8];
    for (int i = 0; i < k.n_inputs; i++) {
        g1[i] = malloc(k.inputs[i]->value.size * sizeof(float));
        memcpy(g1[i], k.inputs[i]->grad, k.inputs[i]->value.size * sizeof(float));
        rc_param_zero_grad(k.inputs[i]);
    }
    rc_tape_reset(t);
    assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
    assert_int_equal(rc_backward_from(t, y->in[0], R), RC_OK);
    for (int i = 0; i < k.n_inputs; i++) {
        for (size_t j = 0; j < k.inputs[i]->value.size; j++)
            assert_float_equal(g1[i][j], k.inputs[i]->grad[j], 1e-5);
        free(g1[i]);
    }
    /* Only h_n used: y's and c_n's gradients are zero, backward still runs. */
    for (int i = 0; i < k.n_inputs; i++) rc_param_zero_grad(k.inputs[i]);
    rc_tape_reset(t);
    assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
    assert_int_equal(rc_backward(t, rc_sum(t, h_n)), RC_OK);
    double s = 0;
    for (size_t j = 0; j < k.w_hh->value.size; j++) s += fabs(k.w_hh->grad[j]);
    assert_true(s > 0);
    free(R);
    rc_tape_free(t);
    case_free(&k);
}

/* ------------------------------------- the step op against the sequence -- */

/* Runs the case once as a sequence and once as T steps (mask = row still
 * running), each followed by backward of the same loss
 *   sum(y * Ry) + sum(h_n * Rh) + sum(c_n * Rc)
 * and compares outputs and the gradients of every input. Forward only, so
 * that x can be fed step by step as views. */
static void check_steps_match_sequence(cell_case *k)
{
    char desc[160];
    case_describe(k, desc, sizeof desc);
    const int T = k->T, B = k->B, I = k->I, P = k->P, H = k->H;
    size_t ny = (size_t)T * B * P;
    float *R = malloc((ny + (size_t)B * (P + H)) * sizeof *R);
    rc_rng rng;
    rc_rng_init(&rng, 77);
    rc_rng_fill_uniform(&rng, R, ny + (size_t)B * (P + H), -1, 1);
    int is_lstm = k->kind == RC_CELL_LSTM;
    rc_tape *t = rc_tape_new();

    /* The sequence op. */
    rc_var *y, *h_n, *c_n;
    assert_int_equal(case_run(t, k, &y, &h_n, &c_n), RC_OK);
    rc_var *loss = rc_add(t, rc_sum(t, rc_mul(t, y, rc_input(t, 3, y->value.shape, R))),
                          rc_sum(t, rc_mul(t, h_n, rc_input(t, 2, h_n->value.shape, R + ny))));
    if (is_lstm)
        loss = rc_add(t, loss, rc_sum(t, rc_mul(t, c_n, rc_input(t, 2, c_n->value.shape,
                                                                    R + ny + (size_t)B * P))));
    assert_int_equal(rc_backward(t, loss), RC_OK);
    float *yv = malloc(ny * sizeof *yv), hv[MAX_B * 16], cv[MAX_B * 16];
    memcpy(yv, y->value.data, ny * sizeof *yv);
    memcpy(hv, h_n->value.data, (size_t)B * P * sizeof *hv);
    if (is_lstm) memcpy(cv, c_n->value.data, (size_t)B * H * sizeof *cv);
    float *g1[8];
    for (int i = 0; i < k->n_inputs; i++) {
        g1[i] = malloc(k->inputs[i]->value.size * sizeof(float));
        memcpy(g1[i], k->inputs[i]->grad, k->inputs[i]->value.size * sizeof(float));
        rc_param_zero_grad(k->inputs[i]);
    }

    /* T steps; y_t is h where the row is running, else 0 (mask the loss). */
    rc_tape_reset(t);
    rc_cell_weights w = case_weights(k);
    rc_var *h = k->h0, *c = k->c0;
    loss = NULL;
    float mask[MAX_B];
    int sbx[2] = {B, I}, sbp[2] = {B, P};
    for (int s = 0; s < T; s++) {
        for (int b = 0; b < B; b++) mask[b] = s < case_len(k, b) ? 1.0f : 0.0f;
        rc_var *xs = rc_view(t, k->x, (size_t)s * B * I, 2, sbx);
        assert_int_equal(rc_cell_step(t, k->kind, &w, xs, h, c, k->c.varlen ? mask : NULL, &h,
                                      is_lstm ? &c : NULL), RC_OK);
        float *ry = malloc((size_t)B * P * sizeof *ry);
        for (int b = 0; b < B; b++)
            for (int p = 0; p < P; p++) {
                size_t at = ((size_t)s * B + b) * P + p;
                ry[b * P + p] = mask[b] * R[at];
                if (mask[b] != 0.0f && fabs(h->value.data[b * P + p] - yv[at]) > 1e-5)
                    fail_msg("%s: step %d row %d: y %g vs sequence %g", desc, s, b,
                             (double)h->value.data[b * P + p], (double)yv[at]);
            }
        rc_var *term = rc_sum(t, rc_mul(t, h, rc_input(t, 2, sbp, ry)));
        free(ry);
        loss = loss ? rc_add(t, loss, term) : term;
    }
    for (int j = 0; j < B * P; j++) assert_float_equal(h->value.data[j], hv[j], 1e-5);
    loss = rc_add(t, loss, rc_sum(t, rc_mul(t, h, rc_input(t, 2, h->value.shape, R + ny))));
    if (is_lstm) {
        for (int j = 0; j < B * H; j++) assert_float_equal(c->value.data[j], cv[j], 1e-5);
        loss = rc_add(t, loss, rc_sum(t, rc_mul(t, c, rc_input(t, 2, c->value.shape,
                                                                R + ny + (size_t)B * P))));
    }
    assert_int_equal(rc_backward(t, loss), RC_OK);
    for (int i = 0; i < k->n_inputs; i++) {
        for (size_t j = 0; j < k->inputs[i]->value.size; j++)
            if (fabs(g1[i][j] - k->inputs[i]->grad[j]) > 1e-4 * (1 + fabs(g1[i][j])))
                fail_msg("%s: gradient of %s[%zu]: sequence %g, steps %g", desc,
                         k->inputs[i]->name, j, (double)g1[i][j], (double)k->inputs[i]->grad[j]);
        free(g1[i]);
        rc_param_zero_grad(k->inputs[i]);
    }
    free(yv);
    free(R);
    rc_tape_free(t);
}

static void test_steps_match_sequence(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int varlen = 0; varlen < 2; varlen++)
            for (int h0 = 0; h0 < 2; h0++) {
                cfg c = {v, 1, 0, varlen, h0, 0, 0, 0, 0, 0};
                cell_case k;
                case_make(&k, c, 31);
                check_steps_match_sequence(&k);
                case_free(&k);
            }
}

/* ---------------------------------------------- padding and reverse -- */

/* Each row of a padded batch, run alone over just its own steps, gives
 * the same outputs: y at its positions, zero after, and h_n (the state
 * after its last real step; reversed, after t = 0). */
static void test_padding_and_reverse_rows(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int reverse = 0; reverse < 2; reverse++) {
            cfg c = {v, 1, reverse, 1, 1, 6, 4, 0, 0, 0};
            cell_case k;
            case_make(&k, c, 57);
            const int T = k.T, B = k.B, I = k.I, P = k.P, H = k.H;
            rc_tape *t = rc_tape_new();
            rc_var *y, *h_n, *c_n;
            assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
            rc_cell_weights w = case_weights(&k);
            for (int b = 0; b < B; b++) {
                int L = k.lengths[b];
                float xb[64];
                for (int s = 0; s < L; s++)
                    memcpy(xb + s * I, k.x->value.data + ((size_t)s * B + b) * I, (size_t)I * sizeof(float));
                int sx[3] = {L, 1, I}, sh[2] = {1, P}, sc[2] = {1, H};
                rc_var *x1 = rc_input(t, 3, sx, xb);
                rc_var *h1 = rc_input(t, 2, sh, k.h0->value.data + b * P);
                rc_var *c1 = k.c0 ? rc_input(t, 2, sc, k.c0->value.data + b * H) : NULL;
                rc_var *y1, *hn1, *cn1;
                assert_int_equal(rc_cell_sequence(t, k.kind, &w, x1, h1, c1, NULL, reverse, &y1,
                                                  &hn1, &cn1), RC_OK);
                for (int tt = 0; tt < T; tt++)
                    for (int p = 0; p < P; p++) {
                        float got = y->value.data[((size_t)tt * B + b) * P + p];
                        if (tt >= L)
                            assert_true(got == 0.0f); /* exactly */
                        else
                            assert_float_equal(got, y1->value.data[tt * P + p], 1e-6);
                    }
                for (int p = 0; p < P; p++) {
                    assert_float_equal(h_n->value.data[b * P + p], hn1->value.data[p], 1e-6);
                    /* h_n is y at the row's last real step */
                    int last = reverse ? 0 : L - 1;
                    assert_true(h_n->value.data[b * P + p] ==
                                y->value.data[((size_t)last * B + b) * P + p]);
                }
                if (k.kind == RC_CELL_LSTM)
                    for (int j = 0; j < H; j++)
                        assert_float_equal(c_n->value.data[b * H + j], cn1->value.data[j], 1e-6);
            }
            rc_tape_free(t);
            case_free(&k);
        }
}

/* Reverse with lengths, as T steps over inputs gathered per row from its
 * own last element back (the step op's masks): same y, h_n, and the same
 * weight and state gradients. */
static void test_reverse_steps_match_sequence(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++) {
        cfg c = {v, 1, 1, 1, 1, 0, 0, 0, 0, 0};
        cell_case k;
        case_make(&k, c, 91);
        const int T = k.T, B = k.B, I = k.I, P = k.P;
        int is_lstm = k.kind == RC_CELL_LSTM;
        rc_tape *t = rc_tape_new();
        rc_var *y, *h_n, *c_n;
        assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
        assert_int_equal(rc_backward(t, rc_add(t, rc_sum(t, y), rc_sum(t, is_lstm ? c_n : h_n))), RC_OK);
        float yv[DEF_T * DEF_B * 16], hv[DEF_B * 16], g1[8][64];
        memcpy(yv, y->value.data, y->value.size * sizeof(float));
        memcpy(hv, h_n->value.data, h_n->value.size * sizeof(float));
        for (int i = 1; i < k.n_inputs; i++) { /* all but x */
            assert_true(k.inputs[i]->value.size <= 64);
            memcpy(g1[i], k.inputs[i]->grad, k.inputs[i]->value.size * sizeof(float));
            rc_param_zero_grad(k.inputs[i]);
        }
        rc_tape_reset(t);
        rc_cell_weights w = case_weights(&k);
        rc_var *h = k.h0, *cs = k.c0, *loss = NULL;
        int sbx[2] = {B, I};
        for (int s = 0; s < T; s++) {
            float xs[DEF_B * DEF_I], mask[DEF_B];
            for (int b = 0; b < B; b++) {
                int L = k.lengths[b];
                mask[b] = s < L;
                int tt = s < L ? L - 1 - s : 0;
                memcpy(xs + b * I, k.x->value.data + ((size_t)tt * B + b) * I, (size_t)I * sizeof(float));
            }
            assert_int_equal(rc_cell_step(t, k.kind, &w, rc_input(t, 2, sbx, xs), h, cs, mask, &h,
                                          is_lstm ? &cs : NULL), RC_OK);
            float m[DEF_B * 16];
            for (int b = 0; b < B; b++)
                for (int p = 0; p < P; p++) {
                    m[b * P + p] = mask[b];
                    if (mask[b] != 0.0f) {
                        int tt = k.lengths[b] - 1 - s;
                        assert_float_equal(h->value.data[b * P + p], yv[((size_t)tt * B + b) * P + p], 1e-5);
                    }
                }
            rc_var *term = rc_sum(t, rc_mul(t, h, rc_input(t, 2, h->value.shape, m)));
            loss = loss ? rc_add(t, loss, term) : term;
        }
        for (int j = 0; j < B * P; j++) assert_float_equal(h->value.data[j], hv[j], 1e-5);
        assert_int_equal(rc_backward(t, rc_add(t, loss, rc_sum(t, is_lstm ? cs : h))), RC_OK);
        for (int i = 1; i < k.n_inputs; i++)
            for (size_t j = 0; j < k.inputs[i]->value.size; j++)
                if (fabs(g1[i][j] - k.inputs[i]->grad[j]) > 1e-4 * (1 + fabs(g1[i][j])))
                    fail_msg("%s reverse: gradient of %s[%zu]: sequence %g, steps %g",
                             variant_name[v], k.inputs[i]->name, j, (double)g1[i][j],
                             (double)k.inputs[i]->grad[j]);
        rc_tape_free(t);
        case_free(&k);
    }
}

/* -------------------------------------------------------- bad calls -- */

/* The call failed with status `want`, the message names the op and
 * contains `needle`, and the outputs are NULL. */
static void expect_error(rc_tape *t, rc_status got, rc_status want, rc_var *o1, rc_var *o2,
                         const char *op, const char *needle)
{
    const char *msg = rc_last_error();
    if (got != want)
        fail_msg("expected %s, got %s (%s)", rc_status_name(want), rc_status_name(got), msg);
    assert_int_equal(rc_tape_status(t), want);
    if (!strstr(msg, op) || !strstr(msg, needle))
        fail_msg("message \"%s\" should name \"%s\" and \"%s\"", msg, op, needle);
    assert_null(o1);
    assert_null(o2);
    rc_tape_reset(t);
}

static void test_bad_calls(void **state)
{
    (void)state;
    rc_tape *t = rc_tape_new();
    rc_var *y = NULL, *hn = NULL, *cn = NULL;
    int s342[3] = {3, 4, 2}, s16x3[2] = {16, 3}, s16x4[2] = {16, 4}, s16x2[2] = {16, 2};
    int s15x3[2] = {15, 3}, s16x5[2] = {16, 5}, s16[1] = {16}, s12[1] = {12}, s2x4[2] = {2, 4};
    int s4x4[2] = {4, 4}, s3x4[2] = {3, 4}, s4x3[2] = {4, 3}, s12x3[2] = {12, 3};
    int s12x4[2] = {12, 4}, s4x5[2] = {4, 5};
    rc_var *x = test_param("x", 3, s342, 1, -1, 1); /* T=3, B=4, I=2: wrong I for w_ih [16x3] */
    int s343[3] = {3, 4, 3};
    rc_var *x3 = test_param("x", 3, s343, 2, -1, 1);
    rc_var *w_ih = test_param("w_ih", 2, s16x3, 3, -1, 1), *w_hh = test_param("w_hh", 2, s16x4, 4, -1, 1);
    rc_var *w_hh_p = test_param("w_hh", 2, s16x2, 5, -1, 1), *w_hr = test_param("w_hr", 2, s2x4, 6, -1, 1);
    rc_var *w_ih_bad = test_param("w_ih", 2, s15x3, 7, -1, 1), *w_hh_bad = test_param("w_hh", 2, s16x5, 8, -1, 1);
    rc_var *b16 = test_param("b", 1, s16, 9, -1, 1), *b12 = test_param("b", 1, s12, 10, -1, 1);
    rc_var *h44 = test_param("h", 2, s4x4, 11, -1, 1), *h34 = test_param("h", 2, s3x4, 12, -1, 1);
    rc_var *h43 = test_param("h", 2, s4x3, 13, -1, 1);
    rc_var *g_ih = test_param("w_ih", 2, s12x3, 14, -1, 1), *g_hh = test_param("w_hh", 2, s12x4, 15, -1, 1);
    rc_var *h45 = test_param("h", 2, s4x5, 16, -1, 1);
    rc_cell_weights lstm = {w_ih, w_hh, b16, b16, NULL};
    rc_cell_weights gru = {g_ih, g_hh, NULL, NULL, NULL};
    rc_status st;

    /* x not 3-D */
    st = rc_cell_sequence(t, RC_CELL_LSTM, &lstm, h44, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[4x4]");
    /* x's input size differs from w_ih's */
    st = rc_cell_sequence(t, RC_CELL_LSTM, &lstm, x, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[3x4x2]");
    /* w_ih rows not a multiple of the gates */
    rc_cell_weights bad = lstm;
    bad.w_ih = w_ih_bad;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[15x3]");
    /* w_hh wrong */
    bad = lstm;
    bad.w_hh = w_hh_bad;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[16x5]");
    /* w_hh [16x4] with a projection of 2 needs [16x2] */
    bad = lstm;
    bad.w_hr = w_hr;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[16x4]");
    /* w_hr of the wrong width */
    bad = lstm;
    bad.w_hh = w_hh_p;
    bad.w_hr = h43;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "w_hr is [4x3]");
    /* biases */
    bad = lstm;
    bad.b_hh = b12;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "b_hh is [12]");
    bad = lstm;
    bad.b_ih = b12;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "b_ih is [12]");
    /* missing weights */
    bad = lstm;
    bad.w_hh = NULL;
    st = rc_cell_sequence(t, RC_CELL_LSTM, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "lstm_sequence", "w_hh");
    st = rc_cell_sequence(t, RC_CELL_LSTM, NULL, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "lstm_sequence", "weights");
    /* h0 / c0 shapes */
    st = rc_cell_sequence(t, RC_CELL_LSTM, &lstm, x3, h34, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[3x4]");
    st = rc_cell_sequence(t, RC_CELL_LSTM, &lstm, x3, h44, h45, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "lstm_sequence", "[4x5]");
    /* c0 for a GRU; a projection for a GRU */
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, x3, h44, h44, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "gru_sequence", "only an LSTM");
    bad = gru;
    bad.w_hr = w_hr;
    st = rc_cell_sequence(t, RC_CELL_GRU, &bad, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "gru_sequence", "w_hr");
    /* LSTM weights given to a GRU: 16 rows are not 3 gates */
    st = rc_cell_sequence(t, RC_CELL_GRU, &lstm, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_SHAPE, y, hn, "gru_sequence", "[16x3]");
    /* lengths out of range: 0, > T, negative */
    int32_t len0[4] = {3, 0, 2, 1}, len4[4] = {3, 1, 4, 1}, lenm[4] = {3, 1, 2, -2};
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, x3, NULL, NULL, len0, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_RANGE, y, hn, "gru_sequence", "lengths[1] = 0");
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, x3, NULL, NULL, len4, 1, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_RANGE, y, hn, "gru_sequence", "lengths[2] = 4");
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, x3, NULL, NULL, lenm, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_RANGE, y, hn, "gru_sequence", "lengths[3] = -2");
    /* an unknown kind */
    st = rc_cell_sequence(t, (rc_cell_kind)9, &gru, x3, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "cell_sequence", "kind 9");
    /* a NULL x after an earlier failure keeps that failure */
    assert_null(rc_tanh(t, NULL));
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, NULL, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "tanh", "NULL");
    st = rc_cell_sequence(t, RC_CELL_GRU, &gru, NULL, NULL, NULL, NULL, 0, &y, &hn, &cn);
    expect_error(t, st, RC_ERR_ARG, y, hn, "gru_sequence", "NULL");
    /* no tape */
    assert_int_equal(rc_cell_sequence(NULL, RC_CELL_GRU, &gru, x3, NULL, NULL, NULL, 0, &y, &hn, &cn),
                     RC_ERR_ARG);

    /* The step op: x must be [B x I]; h [B x P]; c only for an LSTM. */
    rc_var *x2 = h43; /* [4x3]: B = 4, I = 3 */
    rc_var *ho = NULL, *co = NULL;
    st = rc_cell_step(t, RC_CELL_LSTM, &lstm, x3, h44, h44, NULL, &ho, &co);
    expect_error(t, st, RC_ERR_SHAPE, ho, co, "lstm_step", "[3x4x3]");
    st = rc_cell_step(t, RC_CELL_LSTM, &lstm, x2, h34, h44, NULL, &ho, &co);
    expect_error(t, st, RC_ERR_SHAPE, ho, co, "lstm_step", "[3x4]");
    st = rc_cell_step(t, RC_CELL_RNN_TANH, &gru, x2, h44, NULL, NULL, &ho, &co);
    expect_error(t, st, RC_ERR_SHAPE, ho, co, "rnn_tanh_step", "[12x4]");
    st = rc_cell_step(t, RC_CELL_GRU, &gru, x2, h44, h44, NULL, &ho, &co);
    expect_error(t, st, RC_ERR_ARG, ho, co, "gru_step", "only an LSTM");
    bad = lstm;
    bad.w_ih = NULL;
    st = rc_cell_step(t, RC_CELL_LSTM, &bad, x2, h44, h44, NULL, &ho, &co);
    expect_error(t, st, RC_ERR_ARG, ho, co, "lstm_step", "w_ih");
    /* and a good call still works afterwards */
    assert_int_equal(rc_cell_step(t, RC_CELL_LSTM, &lstm, x2, h44, h44, NULL, &ho, &co), RC_OK);
    assert_non_null(ho);
    assert_non_null(co);

    rc_var *all[] = {x, x3, w_ih, w_hh, w_hh_p, w_hr, w_ih_bad, w_hh_bad, b16, b12, h44, h34, h43,
                     g_ih, g_hh, h45};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rc_param_free(all[i]);
    rc_tape_free(t);
}

/* ------------------------------------------------------------ misc -- */

static void test_names_and_gates(void **state)
{
    (void)state;
    assert_int_equal(rc_cell_gates(RC_CELL_RNN_TANH), 1);
    assert_int_equal(rc_cell_gates(RC_CELL_RNN_RELU), 1);
    assert_int_equal(rc_cell_gates(RC_CELL_LSTM), 4);
    assert_int_equal(rc_cell_gates(RC_CELL_GRU), 3);
    assert_int_equal(rc_cell_gates((rc_cell_kind)7), 0);
    assert_string_equal(rc_cell_name(RC_CELL_RNN_TANH), "RNN_TANH");
    assert_string_equal(rc_cell_name(RC_CELL_RNN_RELU), "RNN_RELU");
    assert_string_equal(rc_cell_name(RC_CELL_LSTM), "LSTM");
    assert_string_equal(rc_cell_name(RC_CELL_GRU), "GRU");
    assert_string_equal(rc_cell_name((rc_cell_kind)7), "unknown");
}

/* The kernels' sigmoid and tanh against libm in double: a few units in
 * the last place everywhere, and the special values. */
static void test_sigmoid_tanh_accuracy(void **state)
{
    (void)state;
    double worst_s = 0, worst_t = 0;
    for (uint32_t u = 0; u < 0xff800000u; u += 4093) {
        float x;
        memcpy(&x, &u, sizeof x);
        if (isnan(x)) continue;
        double s = 1.0 / (1.0 + exp(-(double)x)), th = tanh((double)x);
        float gs = rc_sigmoidf(x), gt = rc_tanhf(x);
        /* error in units of float's spacing at the true value */
        if (s > 1e-37) {
            double e = fabs(gs - s) / (nextafterf((float)s, INFINITY) - (float)s);
            if (e > worst_s) worst_s = e;
        } else {
            assert_true(gs >= 0.0f && gs < 1e-37f);
        }
        if (fabs(th) > 1e-37) {
            float a = (float)fabs(th);
            double e = fabs(fabs((double)gt) - fabs(th)) / (nextafterf(a, INFINITY) - a);
            if (e > worst_t) worst_t = e;
            assert_true((gt < 0) == (th < 0));
        }
    }
    if (worst_s > 4 || worst_t > 4) fail_msg("sigmoid %.2f ulp, tanh %.2f ulp", worst_s, worst_t);
    assert_true(rc_sigmoidf(INFINITY) == 1.0f);
    assert_true(rc_sigmoidf(0.0f) == 0.5f);
    assert_true(rc_tanhf(INFINITY) == 1.0f);
    assert_true(rc_tanhf(-INFINITY) == -1.0f);
    assert_true(rc_tanhf(0.0f) == 0.0f);
    assert_true(isnan(rc_tanhf(NAN)) && isnan(rc_sigmoidf(NAN)));
}

/* Grad mode off: the same numbers, nothing requires a gradient. */
static void test_inference_mode(void **state)
{
    (void)state;
    cfg c = {V_GRU, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    cell_case k;
    case_make(&k, c, 8);
    rc_tape *t = rc_tape_new();
    rc_var *y, *h_n, *c_n;
    assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
    assert_true(y->requires_grad);
    float first = y->value.data[1];
    rc_tape_reset(t);
    rc_tape_set_grad(t, 0);
    assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
    assert_false(y->requires_grad);
    assert_false(y->in[0]->requires_grad);
    assert_true(y->value.data[1] == first);
    rc_tape_free(t);
    case_free(&k);
}

/* Arena memory is reused uninitialised: with NaNs left in it by an
 * earlier batch, every output and gradient is still exactly what a fresh
 * tape gives (nothing reads memory that forward or backward did not
 * write, even times zero). */
static void test_stale_arena_memory(void **state)
{
    (void)state;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int reverse = 0; reverse < 2; reverse++) {
            cfg c = {v, 1, reverse, 1, 1, 0, 0, 0, 0, 0};
            cell_case k;
            case_make(&k, c, 12);
            float out[2][DEF_T * DEF_B * 16 + 2 * DEF_B * 16], grads[2][8][64];
            for (int pass = 0; pass < 2; pass++) {
                rc_tape *t = rc_tape_new();
                if (pass == 1) { /* fill the first chunk with NaNs, then reuse it */
                    size_t n = (size_t)1 << 20;
                    void *p = rc_arena_alloc(rc_tape_arena(t), n);
                    assert_non_null(p);
                    memset(p, 0xff, n);
                    rc_tape_reset(t);
                }
                rc_var *y, *h_n, *c_n;
                assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
                rc_var *node = y->in[0];
                memcpy(out[pass], node->value.data, node->value.size * sizeof(float));
                float seed[DEF_T * DEF_B * 16 + 2 * DEF_B * 16];
                for (size_t j = 0; j < node->value.size; j++) seed[j] = 0.25f + 0.01f * (float)(j % 7);
                assert_int_equal(rc_backward_from(t, node, seed), RC_OK);
                for (int i = 0; i < k.n_inputs; i++) {
                    assert_true(k.inputs[i]->value.size <= 64);
                    memcpy(grads[pass][i], k.inputs[i]->grad, k.inputs[i]->value.size * sizeof(float));
                    rc_param_zero_grad(k.inputs[i]);
                }
                if (pass == 1) {
                    for (size_t j = 0; j < node->value.size; j++)
                        assert_true(out[1][j] == out[0][j]);
                    for (int i = 0; i < k.n_inputs; i++)
                        for (size_t j = 0; j < k.inputs[i]->value.size; j++)
                            if (!(grads[1][i][j] == grads[0][i][j]))
                                fail_msg("%s reverse=%d: gradient of %s[%zu] is %g, fresh %g",
                                         variant_name[v], reverse, k.inputs[i]->name, j,
                                         (double)grads[1][i][j], (double)grads[0][i][j]);
                }
                rc_tape_free(t);
            }
            case_free(&k);
        }
}

/* After the first batch, more batches of the same sizes need no memory. */
static void test_no_arena_growth(void **state)
{
    (void)state;
    cfg c = {V_LSTM_PROJ, 1, 1, 1, 1, 12, 6, 5, 16, 7};
    cell_case k;
    case_make(&k, c, 4);
    rc_tape *t = rc_tape_new();
    size_t cap = 0;
    for (int batch = 0; batch < 3; batch++) {
        rc_tape_reset(t);
        rc_var *y, *h_n, *c_n;
        assert_int_equal(case_run(t, &k, &y, &h_n, &c_n), RC_OK);
        assert_int_equal(rc_backward(t, rc_add(t, rc_sum(t, y), rc_sum(t, c_n))), RC_OK);
        if (batch == 1) cap = rc_tape_arena(t)->capacity;
        if (batch == 2) assert_int_equal(rc_tape_arena(t)->capacity, cap);
    }
    rc_tape_free(t);
    case_free(&k);
}

TEST_GROUP(cells_tests, "cells",
           cmocka_unit_test(test_names_and_gates),
           cmocka_unit_test(test_sigmoid_tanh_accuracy),
           cmocka_unit_test(test_forward_matches_reference),
           cmocka_unit_test(test_forward_odd_sizes),
           cmocka_unit_test(test_gradcheck_rnn_tanh),
           cmocka_unit_test(test_gradcheck_rnn_relu),
           cmocka_unit_test(test_gradcheck_lstm),
           cmocka_unit_test(test_gradcheck_lstm_proj),
           cmocka_unit_test(test_gradcheck_gru),
           cmocka_unit_test(test_gradcheck_step),
           cmocka_unit_test(test_views_carry_gradients),
           cmocka_unit_test(test_steps_match_sequence),
           cmocka_unit_test(test_reverse_steps_match_sequence),
           cmocka_unit_test(test_padding_and_reverse_rows),
           cmocka_unit_test(test_bad_calls),
           cmocka_unit_test(test_inference_mode),
           cmocka_unit_test(test_stale_arena_memory),
           cmocka_unit_test(test_no_arena_growth));
