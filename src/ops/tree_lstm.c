/* tree_lstm.c - Tree-LSTMs (Tai, Socher and Manning 2015) over a batch of
 * constituency trees, level by level: the binary (N-ary, N = 2) one and
 * the child-sum one. Words enter at the leaves only, as gate
 * pre-activations a = W_x x + b_x computed outside (one multiply over all
 * leaves):
 *
 *   leaf:    i = sigma(a_i), o = sigma(a_o), u = tanh(a_u)
 *            c = i u,  h = o tanh(c)
 *   binary:  [i o u f_l f_r] = act(W [h_l; h_r] + b)
 *            c = i u + f_l c_l + f_r c_r,  h = o tanh(c)
 *   childsum: s = sum_k h_k,  [i o u] = act(W_iou s + b_iou)
 *            f_k = sigma(W_f h_k + b_f)    (one forget gate per child)
 *            c = i u + sum_k f_k c_k,  h = o tanh(c)
 *
 * act is sigma for i, o and the f's, tanh for u. A level is one multiply
 * for the gates (binary), or one for i/o/u over the level's child sums and
 * one for the forget gates over all of the level's children (child-sum).
 * Backward walks the levels top-down with the usual LSTM derivatives:
 *   dc = dc_from_parent + dh o (1 - tanh^2 c),  do = dh tanh c,
 *   di = dc u,  du = dc i,  df_k = dc c_k,  dc_k += dc f_k,
 * times each activation's derivative, then the weight gradients (one
 * multiply each) and the children's dh (one multiply, scattered). */
#include "tree_common.h"

#include "fastmath.h"

#include <math.h>

static inline float dsig(float s) { return s * (1.0f - s); }

typedef struct tree_lstm_ctx {
    const rc_tree_batch *b;
    float *C;     /* [n_nodes x H] cells */
    float *AL;    /* [n_leaves x 3H] leaves' activated gates (i, o, u) */
    float *A;     /* [n_inner x G*H] inner nodes' activated gates */
    float *X;     /* binary: [n_inner x 2H] the children's h; child-sum: [n_inner x H] sums */
    float *HC;    /* child-sum: [n_edges x H] each child's h, in edge order */
    float *F;     /* child-sum: [n_edges x H] the forget gates */
} tree_lstm_ctx;

/* ---- leaves (shared) ---- */

static void leaves_forward(tree_lstm_ctx *cx, const float *a, float *Hout, int nl, int H)
{
    for (int r = 0; r < nl; r++) {
        const float *g = a + (size_t)r * 3 * H;
        float *al = cx->AL + (size_t)r * 3 * H, *c = cx->C + (size_t)r * H;
        float *h = Hout + (size_t)r * H;
        for (int j = 0; j < H; j++) {
            float i = rc_sigmoidf(g[j]), o = rc_sigmoidf(g[H + j]), u = rc_tanhf(g[2 * H + j]);
            al[j] = i, al[H + j] = o, al[2 * H + j] = u;
            c[j] = i * u;
            h[j] = o * rc_tanhf(c[j]);
        }
    }
}

static void leaves_backward(rc_tape *t, const tree_lstm_ctx *cx, rc_var *leaf_gates,
                            const float *dH, const float *dC, int nl, int H)
{
    if (!rc_needs_grad(leaf_gates)) return;
    float *da = rc_grad_of(t, leaf_gates);
    if (!da) return;
    for (int r = 0; r < nl; r++) {
        const float *al = cx->AL + (size_t)r * 3 * H, *c = cx->C + (size_t)r * H;
        const float *dh = dH + (size_t)r * H, *dcp = dC + (size_t)r * H;
        float *g = da + (size_t)r * 3 * H;
        for (int j = 0; j < H; j++) {
            float i = al[j], o = al[H + j], u = al[2 * H + j], tc = rc_tanhf(c[j]);
            float dc = dcp[j] + dh[j] * o * (1.0f - tc * tc);
            g[j] += dc * u * dsig(i);
            g[H + j] += dh[j] * tc * dsig(o);
            g[2 * H + j] += dc * i * (1.0f - u * u);
        }
    }
}

static int max_level_rows(const rc_tree_batch *b, int *max_edges)
{
    int mm = 0, me = 0;
    for (int k = 1; k < b->n_levels; k++) {
        int r0 = b->level_start[k], r1 = b->level_start[k + 1];
        int e = b->child_start[r1] - b->child_start[r0];
        if (r1 - r0 > mm) mm = r1 - r0;
        if (e > me) me = e;
    }
    if (max_edges) *max_edges = me;
    return mm;
}

/* ---- binary ---- */

static void tree_lstm_backward(rc_tape *t, rc_var *y)
{
    tree_lstm_ctx *cx = y->ctx;
    const rc_tree_batch *b = cx->b;
    rc_var *leaf_gates = y->in[0], *w = y->in[1], *bias = y->in[2];
    int H = y->value.shape[1], G = 5 * H, H2 = 2 * H, nl = b->n_leaves;
    int max_m = max_level_rows(b, NULL);
    size_t nH = (size_t)b->n_nodes * H;
    float *dH = rc_tape_alloc(t, nH * sizeof(float));
    float *dC = rc_arena_calloc(rc_tape_arena(t), nH * sizeof(float));
    float *dG = rc_tape_alloc(t, ((size_t)max_m * G + 1) * sizeof(float));
    float *dX = rc_tape_alloc(t, ((size_t)max_m * H2 + 1) * sizeof(float));
    float *dW = rc_needs_grad(w) ? rc_grad_of(t, w) : NULL;
    float *db = rc_needs_grad(bias) ? rc_grad_of(t, bias) : NULL;
    if (!dC) rc_tape_fail(t, RC_ERR_NOMEM, "tree_lstm: out of memory");
    if (!dH || !dC || !dG || !dX || rc_tape_status(t)) return;
    memcpy(dH, y->grad, nH * sizeof(float));
    for (int k = b->n_levels - 1; k >= 1; k--) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        const float *X = cx->X + (size_t)(r0 - nl) * H2;
        for (int n = 0; n < m; n++) {
            int r = r0 + n;
            const int32_t *ch = b->child_row + b->child_start[r];
            const float *a = cx->A + (size_t)(r - nl) * G, *c = cx->C + (size_t)r * H;
            const float *cl = cx->C + (size_t)ch[0] * H, *cr = cx->C + (size_t)ch[1] * H;
            const float *dh = dH + (size_t)r * H, *dcp = dC + (size_t)r * H;
            float *dcl = dC + (size_t)ch[0] * H, *dcr = dC + (size_t)ch[1] * H;
            float *g = dG + (size_t)n * G;
            for (int j = 0; j < H; j++) {
                float i = a[j], o = a[H + j], u = a[2 * H + j], fl = a[3 * H + j],
                      fr = a[4 * H + j], tc = rc_tanhf(c[j]);
                float dc = dcp[j] + dh[j] * o * (1.0f - tc * tc);
                g[j] = dc * u * dsig(i);
                g[H + j] = dh[j] * tc * dsig(o);
                g[2 * H + j] = dc * i * (1.0f - u * u);
                g[3 * H + j] = dc * cl[j] * dsig(fl);
                g[4 * H + j] = dc * cr[j] * dsig(fr);
                dcl[j] += dc * fl;
                dcr[j] += dc * fr;
            }
        }
        if (db) tree_sum_rows(db, dG, m, G);
        if (dW) rc_gemm(1, 0, G, H2, m, 1.0f, dG, G, X, H2, 1.0f, dW, H2);
        rc_gemm(0, 0, m, H2, G, 1.0f, dG, G, w->value.data, H2, 0.0f, dX, H2);
        for (int n = 0; n < m; n++) {
            const int32_t *ch = b->child_row + b->child_start[r0 + n];
            tree_axpy(dH + (size_t)ch[0] * H, dX + (size_t)n * H2, H);
            tree_axpy(dH + (size_t)ch[1] * H, dX + (size_t)n * H2 + H, H);
        }
    }
    leaves_backward(t, cx, leaf_gates, dH, dC, nl, H);
}

static const rc_op op_tree_lstm = {"tree_lstm", tree_lstm_backward};

/* Checks and the context both variants share; NULL on error. */
static tree_lstm_ctx *lstm_setup(rc_tape *t, const char *op, const rc_tree_batch *b,
                                 rc_var *leaf_gates, int arity, int *H)
{
    if (!tree_batch_ok(t, op, b, arity)) return NULL;
    if (leaf_gates->value.ndim != 2 || leaf_gates->value.shape[1] % 3 ||
        leaf_gates->value.shape[1] < 3) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: leaf_gates must be [n_leaves x 3H], got %s", op,
                     rc_vshape(leaf_gates));
        return NULL;
    }
    *H = leaf_gates->value.shape[1] / 3;
    if (!tree_shape_ok(t, op, "leaf_gates", leaf_gates, b->n_leaves, 3 * *H)) return NULL;
    tree_lstm_ctx *cx = rc_tape_alloc(t, sizeof *cx);
    if (!cx) return NULL;
    memset(cx, 0, sizeof *cx);
    cx->b = b;
    return cx;
}

rc_var *rc_tree_lstm(rc_tape *t, const rc_tree_batch *b, rc_var *leaf_gates, rc_var *w,
                     rc_var *bias)
{
    const char *op = "tree_lstm";
    rc_var *in[3] = {leaf_gates, w, bias};
    if (!rc_op_check_inputs(t, op, 3, in)) return NULL;
    int H;
    tree_lstm_ctx *cx = lstm_setup(t, op, b, leaf_gates, 2, &H);
    if (!cx) return NULL;
    int G = 5 * H, H2 = 2 * H, nl = b->n_leaves;
    if (!tree_shape_ok(t, op, "w", w, G, H2) || !tree_vec_ok(t, op, "bias", bias, G))
        return NULL;
    int shape[2] = {b->n_nodes, H};
    rc_var *y = rc_node_new(t, &op_tree_lstm, 2, shape, 3, in);
    if (!y) return NULL;
    size_t n_inner = (size_t)(b->n_nodes - nl);
    cx->C = rc_tape_alloc(t, (size_t)b->n_nodes * H * sizeof(float));
    cx->AL = rc_tape_alloc(t, ((size_t)nl * 3 * H + 1) * sizeof(float));
    cx->A = rc_tape_alloc(t, (n_inner * G + 1) * sizeof(float));
    cx->X = rc_tape_alloc(t, (n_inner * H2 + 1) * sizeof(float));
    if (!cx->C || !cx->AL || !cx->A || !cx->X) return NULL;
    y->ctx = cx;
    float *Hs = y->value.data;
    leaves_forward(cx, leaf_gates->value.data, Hs, nl, H);
    for (int k = 1; k < b->n_levels; k++) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        float *X = cx->X + (size_t)(r0 - nl) * H2, *A = cx->A + (size_t)(r0 - nl) * G;
        for (int n = 0; n < m; n++) {
            const int32_t *ch = b->child_row + b->child_start[r0 + n];
            memcpy(X + (size_t)n * H2, Hs + (size_t)ch[0] * H, (size_t)H * sizeof(float));
            memcpy(X + (size_t)n * H2 + H, Hs + (size_t)ch[1] * H, (size_t)H * sizeof(float));
        }
        tree_fill_bias(A, bias->value.data, m, G);
        rc_gemm(0, 1, m, G, H2, 1.0f, X, H2, w->value.data, H2, 1.0f, A, G);
        for (int n = 0; n < m; n++) {
            int r = r0 + n;
            const int32_t *ch = b->child_row + b->child_start[r];
            float *a = A + (size_t)n * G, *c = cx->C + (size_t)r * H, *h = Hs + (size_t)r * H;
            const float *cl = cx->C + (size_t)ch[0] * H, *cr = cx->C + (size_t)ch[1] * H;
            for (int j = 0; j < H; j++) {
                float i = rc_sigmoidf(a[j]), o = rc_sigmoidf(a[H + j]),
                      u = rc_tanhf(a[2 * H + j]), fl = rc_sigmoidf(a[3 * H + j]),
                      fr = rc_sigmoidf(a[4 * H + j]);
                a[j] = i, a[H + j] = o, a[2 * H + j] = u, a[3 * H + j] = fl, a[4 * H + j] = fr;
                c[j] = i * u + fl * cl[j] + fr * cr[j];
                h[j] = o * rc_tanhf(c[j]);
            }
        }
    }
    return y;
}

/* ---- child-sum ---- */

static void tree_childsum_backward(rc_tape *t, rc_var *y)
{
    tree_lstm_ctx *cx = y->ctx;
    const rc_tree_batch *b = cx->b;
    rc_var *leaf_gates = y->in[0], *w_iou = y->in[1], *b_iou = y->in[2], *w_f = y->in[3],
           *b_f = y->in[4];
    int H = y->value.shape[1], G = 3 * H, nl = b->n_leaves, max_e;
    int max_m = max_level_rows(b, &max_e);
    size_t nH = (size_t)b->n_nodes * H;
    float *dH = rc_tape_alloc(t, nH * sizeof(float));
    float *dC = rc_arena_calloc(rc_tape_arena(t), nH * sizeof(float));
    float *dG = rc_tape_alloc(t, ((size_t)max_m * G + 1) * sizeof(float));
    float *dS = rc_tape_alloc(t, ((size_t)max_m * H + 1) * sizeof(float));
    float *dF = rc_tape_alloc(t, ((size_t)max_e * H + 1) * sizeof(float));
    float *dHC = rc_tape_alloc(t, ((size_t)max_e * H + 1) * sizeof(float));
    float *dWiou = rc_needs_grad(w_iou) ? rc_grad_of(t, w_iou) : NULL;
    float *dbiou = rc_needs_grad(b_iou) ? rc_grad_of(t, b_iou) : NULL;
    float *dWf = rc_needs_grad(w_f) ? rc_grad_of(t, w_f) : NULL;
    float *dbf = rc_needs_grad(b_f) ? rc_grad_of(t, b_f) : NULL;
    if (!dC) rc_tape_fail(t, RC_ERR_NOMEM, "tree_childsum: out of memory");
    if (!dH || !dC || !dG || !dS || !dF || !dHC || rc_tape_status(t)) return;
    memcpy(dH, y->grad, nH * sizeof(float));
    for (int k = b->n_levels - 1; k >= 1; k--) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        int e0 = b->child_start[r0], ne = b->child_start[r0 + m] - e0;
        const float *S = cx->X + (size_t)(r0 - nl) * H;
        const float *HC = cx->HC + (size_t)e0 * H, *F = cx->F + (size_t)e0 * H;
        for (int n = 0; n < m; n++) {
            int r = r0 + n;
            const float *a = cx->A + (size_t)(r - nl) * G, *c = cx->C + (size_t)r * H;
            const float *dh = dH + (size_t)r * H;
            float *dc = dC + (size_t)r * H; /* complete now: becomes this node's dc */
            float *g = dG + (size_t)n * G;
            for (int j = 0; j < H; j++) {
                float i = a[j], o = a[H + j], u = a[2 * H + j], tc = rc_tanhf(c[j]);
                dc[j] += dh[j] * o * (1.0f - tc * tc);
                g[j] = dc[j] * u * dsig(i);
                g[H + j] = dh[j] * tc * dsig(o);
                g[2 * H + j] = dc[j] * i * (1.0f - u * u);
            }
            for (int e = b->child_start[r]; e < b->child_start[r + 1]; e++) {
                int cr = b->child_row[e];
                const float *f = F + (size_t)(e - e0) * H, *cc = cx->C + (size_t)cr * H;
                float *df = dF + (size_t)(e - e0) * H, *dcc = dC + (size_t)cr * H;
                for (int j = 0; j < H; j++) {
                    df[j] = dc[j] * cc[j] * dsig(f[j]);
                    dcc[j] += dc[j] * f[j];
                }
            }
        }
        if (dbiou) tree_sum_rows(dbiou, dG, m, G);
        if (dWiou) rc_gemm(1, 0, G, H, m, 1.0f, dG, G, S, H, 1.0f, dWiou, H);
        rc_gemm(0, 0, m, H, G, 1.0f, dG, G, w_iou->value.data, H, 0.0f, dS, H);
        if (dbf) tree_sum_rows(dbf, dF, ne, H);
        if (dWf) rc_gemm(1, 0, H, H, ne, 1.0f, dF, H, HC, H, 1.0f, dWf, H);
        rc_gemm(0, 0, ne, H, H, 1.0f, dF, H, w_f->value.data, H, 0.0f, dHC, H);
        for (int n = 0; n < m; n++)
            for (int e = b->child_start[r0 + n]; e < b->child_start[r0 + n + 1]; e++) {
                float *dch = dH + (size_t)b->child_row[e] * H;
                tree_axpy(dch, dS + (size_t)n * H, H);
                tree_axpy(dch, dHC + (size_t)(e - e0) * H, H);
            }
    }
    leaves_backward(t, cx, leaf_gates, dH, dC, nl, H);
}

static const rc_op op_tree_childsum = {"tree_childsum", tree_childsum_backward};

rc_var *rc_tree_childsum(rc_tape *t, const rc_tree_batch *b, rc_var *leaf_gates,
                         rc_var *w_iou, rc_var *b_iou, rc_var *w_f, rc_var *b_f)
{
    const char *op = "tree_childsum";
    rc_var *in[5] = {leaf_gates, w_iou, b_iou, w_f, b_f};
    if (!rc_op_check_inputs(t, op, 5, in)) return NULL;
    int H;
    tree_lstm_ctx *cx = lstm_setup(t, op, b, leaf_gates, 0, &H);
    if (!cx) return NULL;
    int G = 3 * H, nl = b->n_leaves;
    if (!tree_shape_ok(t, op, "w_iou", w_iou, G, H) || !tree_vec_ok(t, op, "b_iou", b_iou, G) ||
        !tree_shape_ok(t, op, "w_f", w_f, H, H) || !tree_vec_ok(t, op, "b_f", b_f, H))
        return NULL;
    int shape[2] = {b->n_nodes, H};
    rc_var *y = rc_node_new(t, &op_tree_childsum, 2, shape, 5, in);
    if (!y) return NULL;
    size_t n_inner = (size_t)(b->n_nodes - nl), ne = (size_t)b->n_edges;
    cx->C = rc_tape_alloc(t, (size_t)b->n_nodes * H * sizeof(float));
    cx->AL = rc_tape_alloc(t, ((size_t)nl * 3 * H + 1) * sizeof(float));
    cx->A = rc_tape_alloc(t, (n_inner * G + 1) * sizeof(float));
    cx->X = rc_tape_alloc(t, (n_inner * H + 1) * sizeof(float));
    cx->HC = rc_tape_alloc(t, (ne * H + 1) * sizeof(float));
    cx->F = rc_tape_alloc(t, (ne * H + 1) * sizeof(float));
    if (!cx->C || !cx->AL || !cx->A || !cx->X || !cx->HC || !cx->F) return NULL;
    y->ctx = cx;
    float *Hs = y->value.data;
    leaves_forward(cx, leaf_gates->value.data, Hs, nl, H);
    for (int k = 1; k < b->n_levels; k++) {
        int r0 = b->level_start[k], m = b->level_start[k + 1] - r0;
        int e0 = b->child_start[r0], nek = b->child_start[r0 + m] - e0;
        float *S = cx->X + (size_t)(r0 - nl) * H, *A = cx->A + (size_t)(r0 - nl) * G;
        float *HC = cx->HC + (size_t)e0 * H, *F = cx->F + (size_t)e0 * H;
        memset(S, 0, (size_t)m * H * sizeof(float));
        for (int n = 0; n < m; n++)
            for (int e = b->child_start[r0 + n]; e < b->child_start[r0 + n + 1]; e++) {
                const float *hc = Hs + (size_t)b->child_row[e] * H;
                memcpy(HC + (size_t)(e - e0) * H, hc, (size_t)H * sizeof(float));
                tree_axpy(S + (size_t)n * H, hc, H);
            }
        tree_fill_bias(A, b_iou->value.data, m, G);
        rc_gemm(0, 1, m, G, H, 1.0f, S, H, w_iou->value.data, H, 1.0f, A, G);
        tree_fill_bias(F, b_f->value.data, nek, H);
        rc_gemm(0, 1, nek, H, H, 1.0f, HC, H, w_f->value.data, H, 1.0f, F, H);
        for (size_t q = 0; q < (size_t)nek * H; q++) F[q] = rc_sigmoidf(F[q]);
        for (int n = 0; n < m; n++) {
            int r = r0 + n;
            float *a = A + (size_t)n * G, *c = cx->C + (size_t)r * H, *h = Hs + (size_t)r * H;
            for (int j = 0; j < H; j++) {
                float i = rc_sigmoidf(a[j]), o = rc_sigmoidf(a[H + j]), u = rc_tanhf(a[2 * H + j]);
                a[j] = i, a[H + j] = o, a[2 * H + j] = u;
                c[j] = i * u;
            }
            for (int e = b->child_start[r]; e < b->child_start[r + 1]; e++) {
                const float *f = F + (size_t)(e - e0) * H, *cc = cx->C + (size_t)b->child_row[e] * H;
                for (int j = 0; j < H; j++) c[j] += f[j] * cc[j];
            }
            for (int j = 0; j < H; j++) h[j] = a[H + j] * rc_tanhf(c[j]);
        }
    }
    return y;
}
