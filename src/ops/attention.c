/* attention.c - attention over a batch of padded source sequences, as fused
 * ops: scores, a masked softmax and the context vector in one node, with a
 * hand-written backward.
 *
 * Shapes: B rows in the batch, S source positions, lengths L_b in 1..S
 * (positions s >= L_b are padding). Query q [B x Dq]; keys k and values
 * val [S x B x D] time-major, as the recurrent layer's outputs.
 *
 * Scores, only at s < L_b:
 *   dot      (Luong)    e_bs = q_b . k_sb
 *   general  (Luong)    e_bs = q_b . (W k_sb)       = q_b . kp_sb
 *   additive (Bahdanau) e_bs = v . tanh(W_q q_b + kp_sb),  kp_sb = W_k k_sb (+ b)
 * The key projections kp do not depend on the decoder step: they are made
 * once per source batch with rc_attention_project and passed in.
 *
 * Masked softmax over the valid positions (shifted by the row maximum m_b):
 *   a_bs = exp(e_bs - m_b) / sum_{s' < L_b} exp(e_bs' - m_b)   for s < L_b
 *   a_bs = 0                                                   for s >= L_b
 * Context:
 *   c_b = sum_{s < L_b} a_bs val_sb
 *
 * Backward, from dc [B x Dv] and da [B x S] (the gradient that reached the
 * weights output, when the caller used them):
 *   dval_sb += a_bs dc_b
 *   g_bs     = da_bs + dc_b . val_sb
 *   de_bs    = a_bs (g_bs - sum_s' a_bs' g_bs')              (softmax)
 *   dot, general:  dq_b += sum_s de_bs kp_sb,   dkp_sb += de_bs q_b
 *   additive, with u_sb = tanh(W_q q_b + kp_sb) saved in forward:
 *       dz_sb  = de_bs v * (1 - u_sb^2)
 *       dv    += sum_bs de_bs u_sb,   dkp_sb += dz_sb
 *       dqp_b  = sum_s dz_sb,  dq += dqp W_q,  dW_q += dqp^T q
 * Nothing is read or written at a padded position: its weight is exactly 0
 * and its key and value get exactly no gradient, whatever they hold.
 *
 * One node holds both outputs back to back (context [B x Dv], then the
 * weights [B x S]); they are returned as rc_view's of it, so gradients that
 * reach either meet in the node's gradient. Per row, the score, weight and
 * gradient sums are products over that row's valid rows of k and val,
 * which are strided by B in the time-major layout: rc_gemm with a leading
 * dimension of B * D does them without copying. */
#include "../internal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

enum { ATTN_DOT, ATTN_GENERAL, ATTN_ADDITIVE };

typedef struct attn_ctx {
    int kind;
    int B, S, Dq, Dk, Dv; /* Dk: last dimension of keys (A for additive) */
    int32_t *len;         /* [B] */
    rc_var *query, *keys, *values, *v, *w_q;
    const float *qp;      /* additive: [B x A] W_q q (q itself without W_q) */
    float *u;             /* additive: [S x B x A] tanh(qp_b + kp_sb), valid positions */
} attn_ctx;

static void attn_backward(rc_tape *t, rc_var *y);
static const rc_op op_attn[] = {
    {"attention_dot", attn_backward},
    {"attention_general", attn_backward},
    {"attention_additive", attn_backward},
};

/* ---- forward ---- */

/* e[0..L) for row b: the scores at the valid positions. */
static void scores_row(attn_ctx *c, int b, int L, float *e, float *u_scratch)
{
    int B = c->B, D = c->Dk;
    const float *k = c->keys->value.data + (size_t)b * D; /* row b at s = 0; stride B*D */
    if (c->kind != ATTN_ADDITIVE) {
        /* e [1 x L] = q_b [1 x D] K_b^T */
        rc_gemm(0, 1, 1, L, D, 1.0f, c->query->value.data + (size_t)b * D, D, k, B * D, 0.0f,
                e, L);
        return;
    }
    const float *qp = c->qp + (size_t)b * D, *v = c->v->value.data;
    for (int s = 0; s < L; s++) {
        const float *ks = k + (size_t)s * B * D;
        float *u = c->u ? c->u + ((size_t)s * B + b) * D : u_scratch;
        float acc = 0.0f;
        for (int j = 0; j < D; j++) {
            u[j] = tanhf(qp[j] + ks[j]);
            acc += v[j] * u[j];
        }
        e[s] = acc;
    }
}

/* Turns the L (finite) scores in a into weights in place. */
static void softmax_row(float *a, int L)
{
    float m = a[0];
    for (int s = 1; s < L; s++)
        if (a[s] > m) m = a[s];
    double sum = 0.0;
    for (int s = 0; s < L; s++) {
        a[s] = expf(a[s] - m);
        sum += a[s];
    }
    float inv = (float)(1.0 / sum); /* sum >= 1: the maximum's term is 1 */
    for (int s = 0; s < L; s++) a[s] *= inv;
}

static int attn_forward(rc_tape *t, attn_ctx *c, float *out)
{
    int B = c->B, S = c->S, Dv = c->Dv;
    float *ctxv = out, *w = out + (size_t)B * Dv;
    float *u_scratch = NULL;
    /* Zeroed first: padded weights are exactly 0, and no BLAS ever sees
     * uninitialised memory as an output (some treat beta = 0 as a multiply). */
    memset(out, 0, ((size_t)B * Dv + (size_t)B * S) * sizeof(float));
    if (c->kind == ATTN_ADDITIVE && !c->u) {
        u_scratch = rc_tape_alloc(t, (size_t)c->Dk * sizeof(float));
        if (!u_scratch) return 0;
    }
    for (int b = 0; b < B; b++) {
        int L = c->len[b];
        float *a = w + (size_t)b * S;
        scores_row(c, b, L, a, u_scratch);
        for (int s = 0; s < L; s++)
            if (!isfinite(a[s])) {
                rc_tape_fail(t, RC_ERR_NUMERIC, "%s: the score of batch row %d at source "
                             "position %d is %g", op_attn[c->kind].name, b, s, (double)a[s]);
                return 0;
            }
        softmax_row(a, L);
        /* c_b [1 x Dv] = a_b [1 x L] V_b */
        rc_gemm(0, 0, 1, Dv, L, 1.0f, a, L, c->values->value.data + (size_t)b * Dv, B * Dv,
                0.0f, ctxv + (size_t)b * Dv, Dv);
    }
    return 1;
}

/* ---- backward ---- */

static void attn_backward(rc_tape *t, rc_var *y)
{
    attn_ctx *c = y->ctx;
    int B = c->B, S = c->S, D = c->Dk, Dv = c->Dv;
    const float *dctx = y->grad, *dw = y->grad + (size_t)B * Dv;
    const float *w = y->value.data + (size_t)B * Dv;
    const float *vals = c->values->value.data, *keys = c->keys->value.data;
    int additive = c->kind == ATTN_ADDITIVE;

    float *dvals = rc_needs_grad(c->values) ? rc_grad_of(t, c->values) : NULL;
    float *dkeys = rc_needs_grad(c->keys) ? rc_grad_of(t, c->keys) : NULL;
    float *dquery = rc_needs_grad(c->query) ? rc_grad_of(t, c->query) : NULL;
    float *dv = additive && rc_needs_grad(c->v) ? rc_grad_of(t, c->v) : NULL;
    float *dwq = additive && rc_needs_grad(c->w_q) ? rc_grad_of(t, c->w_q) : NULL;
    /* additive: the gradient of qp (= W_q q), [B x A]; dz one position's. */
    int need_dqp = additive && (dquery || dwq);
    float *dqp = need_dqp ? rc_tape_alloc(t, (size_t)B * D * sizeof(float)) : NULL;
    float *dz = additive ? rc_tape_alloc(t, (size_t)D * sizeof(float)) : NULL;
    float *g = rc_tape_alloc(t, (size_t)S * sizeof(float));
    if (rc_tape_status(t) != RC_OK) return;
    if (dqp) memset(dqp, 0, (size_t)B * D * sizeof(float));
    memset(g, 0, (size_t)S * sizeof(float));

    for (int b = 0; b < B; b++) {
        int L = c->len[b];
        const float *a = w + (size_t)b * S, *dc = dctx + (size_t)b * Dv;
        const float *vb = vals + (size_t)b * Dv; /* stride B*Dv */
        /* dV_b [L x Dv] += a_b^T [L x 1] dc_b [1 x Dv] */
        if (dvals)
            rc_gemm(1, 0, L, Dv, 1, 1.0f, a, L, dc, Dv, 1.0f, dvals + (size_t)b * Dv, B * Dv);
        /* g [1 x L] = dc_b V_b^T + da_b */
        rc_gemm(0, 1, 1, L, Dv, 1.0f, dc, Dv, vb, B * Dv, 0.0f, g, L);
        double dot = 0.0;
        for (int s = 0; s < L; s++) {
            g[s] += dw[(size_t)b * S + s];
            dot += (double)a[s] * g[s];
        }
        float d = (float)dot;
        for (int s = 0; s < L; s++) g[s] = a[s] * (g[s] - d); /* g now holds de_b */

        if (!additive) {
            const float *kb = keys + (size_t)b * D;
            /* dq_b [1 x D] += de_b [1 x L] K_b;  dK_b [L x D] += de_b^T q_b */
            if (dquery)
                rc_gemm(0, 0, 1, D, L, 1.0f, g, L, kb, B * D, 1.0f, dquery + (size_t)b * D, D);
            if (dkeys)
                rc_gemm(1, 0, L, D, 1, 1.0f, g, L, c->query->value.data + (size_t)b * D, D, 1.0f,
                        dkeys + (size_t)b * D, B * D);
            continue;
        }
        const float *v = c->v->value.data;
        for (int s = 0; s < L; s++) {
            const float *u = c->u + ((size_t)s * B + b) * D;
            float de = g[s];
            for (int j = 0; j < D; j++) dz[j] = de * v[j] * (1.0f - u[j] * u[j]);
            if (dv)
                for (int j = 0; j < D; j++) dv[j] += de * u[j];
            if (dkeys) {
                float *dk = dkeys + ((size_t)s * B + b) * D;
                for (int j = 0; j < D; j++) dk[j] += dz[j];
            }
            if (dqp) {
                float *dq = dqp + (size_t)b * D;
                for (int j = 0; j < D; j++) dq[j] += dz[j];
            }
        }
    }
    if (!dqp) return;
    if (c->w_q) {
        int Dq = c->Dq;
        /* dq [B x Dq] += dqp [B x A] W_q [A x Dq];  dW_q [A x Dq] += dqp^T q */
        if (dquery)
            rc_gemm(0, 0, B, Dq, D, 1.0f, dqp, D, c->w_q->value.data, Dq, 1.0f, dquery, Dq);
        if (dwq)
            rc_gemm(1, 0, D, Dq, B, 1.0f, dqp, D, c->query->value.data, Dq, 1.0f, dwq, Dq);
    } else if (dquery) {
        for (size_t i = 0; i < (size_t)B * D; i++) dquery[i] += dqp[i];
    }
}

/* ---- checking the arguments and making the node ---- */

static int is_3d(const rc_var *x)
{
    return x->value.ndim == 3 && x->value.shape[0] >= 1 && x->value.shape[1] >= 1 &&
           x->value.shape[2] >= 1;
}

static rc_status attention(rc_tape *t, int kind, rc_var *query, rc_var *w_q, rc_var *keys,
                           rc_var *v, rc_var *values, const int32_t *lengths,
                           rc_var **context, rc_var **weights)
{
    if (context) *context = NULL;
    if (weights) *weights = NULL;
    const char *op = op_attn[kind].name;
    const char *kname = kind == ATTN_DOT ? "keys" : "keys_proj";
    rc_var *req[4] = {query, keys, values, v};
    int n_req = kind == ATTN_ADDITIVE ? 4 : 3;
    if (!rc_op_check_inputs(t, op, n_req, req)) return t ? rc_tape_status(t) : RC_ERR_ARG;
    if (!context && !weights) {
        rc_tape_fail(t, RC_ERR_ARG, "%s: neither context nor weights asked for", op);
        return rc_tape_status(t);
    }
    if (query->value.ndim != 2 || query->value.shape[0] < 1 || query->value.shape[1] < 1) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: query is %s; expected [B x Dq] (batch, query size)",
                     op, rc_vshape(query));
        return rc_tape_status(t);
    }
    int B = query->value.shape[0], Dq = query->value.shape[1];
    if (!is_3d(keys) || keys->value.shape[1] != B) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: %s is %s; expected [S x %d x D] (source positions, "
                     "batch, size; time-major) for query %s", op, kname, rc_vshape(keys), B,
                     rc_vshape(query));
        return rc_tape_status(t);
    }
    int S = keys->value.shape[0], Dk = keys->value.shape[2];
    if (!is_3d(values) || values->value.shape[0] != S || values->value.shape[1] != B) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: values is %s; expected [%d x %d x Dv] like %s %s",
                     op, rc_vshape(values), S, B, kname, rc_vshape(keys));
        return rc_tape_status(t);
    }
    int Dv = values->value.shape[2];
    if (kind != ATTN_ADDITIVE && Dk != Dq) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: query %s and %s %s: sizes %d and %d differ", op,
                     rc_vshape(query), kname, rc_vshape(keys), Dq, Dk);
        return rc_tape_status(t);
    }
    if (kind == ATTN_ADDITIVE) {
        if (v->value.ndim != 1 || v->value.shape[0] != Dk) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: v is %s; expected [%d] to match keys_proj %s",
                         op, rc_vshape(v), Dk, rc_vshape(keys));
            return rc_tape_status(t);
        }
        if (w_q && (w_q->value.ndim != 2 || w_q->value.shape[0] != Dk ||
                    w_q->value.shape[1] != Dq)) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: w_q is %s; expected [%d x %d] (keys_proj size "
                         "x query size) for keys_proj %s and query %s", op, rc_vshape(w_q), Dk,
                         Dq, rc_vshape(keys), rc_vshape(query));
            return rc_tape_status(t);
        }
        if (!w_q && Dq != Dk) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: without w_q the query %s must have keys_proj's "
                         "size %d (keys_proj %s)", op, rc_vshape(query), Dk, rc_vshape(keys));
            return rc_tape_status(t);
        }
    }
    size_t n_out = (size_t)B * Dv + (size_t)B * S;
    if (n_out > (size_t)INT_MAX) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: the outputs (%zu numbers) are too large", op, n_out);
        return rc_tape_status(t);
    }
    int32_t *len = rc_tape_alloc(t, (size_t)B * sizeof *len);
    if (!len) return rc_tape_status(t);
    for (int b = 0; b < B; b++) {
        int L = lengths ? lengths[b] : S;
        if (L < 1 || L > S) {
            rc_tape_fail(t, RC_ERR_RANGE, "%s: lengths[%d] = %d is outside 1..%d (%s %s)", op,
                         b, L, S, kname, rc_vshape(keys));
            return rc_tape_status(t);
        }
        len[b] = L;
    }

    rc_var *in[5] = {query, keys, values, v, w_q};
    int n_in = kind == ATTN_ADDITIVE ? (w_q ? 5 : 4) : 3;
    int shape = (int)n_out;
    rc_var *y = rc_node_new(t, &op_attn[kind], 1, &shape, n_in, in);
    attn_ctx *c = y ? rc_tape_alloc(t, sizeof *c) : NULL;
    if (!c) return rc_tape_status(t);
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->B = B;
    c->S = S;
    c->Dq = Dq;
    c->Dk = Dk;
    c->Dv = Dv;
    c->len = len;
    c->query = query;
    c->keys = keys;
    c->values = values;
    c->v = v;
    c->w_q = w_q;
    y->ctx = c;
    if (kind == ATTN_ADDITIVE) {
        if (w_q) {
            float *qp = rc_tape_alloc(t, (size_t)B * Dk * sizeof(float));
            if (!qp) return rc_tape_status(t);
            rc_gemm(0, 1, B, Dk, Dq, 1.0f, query->value.data, Dq, w_q->value.data, Dq, 0.0f,
                    qp, Dk);
            c->qp = qp;
        } else {
            c->qp = query->value.data;
        }
        /* tanh's outputs are kept only when backward will need them. */
        if (y->requires_grad) {
            c->u = rc_tape_alloc(t, (size_t)S * B * Dk * sizeof(float));
            if (!c->u) return rc_tape_status(t);
        }
    }
    if (!attn_forward(t, c, y->value.data)) return rc_tape_status(t);
    int sc[2] = {B, Dv}, sw[2] = {B, S};
    if (context && !(*context = rc_view(t, y, 0, 2, sc))) return rc_tape_status(t);
    if (weights && !(*weights = rc_view(t, y, (size_t)B * Dv, 2, sw))) {
        if (context) *context = NULL;
        return rc_tape_status(t);
    }
    return RC_OK;
}

rc_status rc_attention_dot(rc_tape *t, rc_var *query, rc_var *keys, rc_var *values,
                           const int32_t *lengths, rc_var **context, rc_var **weights)
{
    return attention(t, ATTN_DOT, query, NULL, keys, NULL, values ? values : keys, lengths,
                     context, weights);
}

rc_status rc_attention_general(rc_tape *t, rc_var *query, rc_var *keys_proj, rc_var *values,
                               const int32_t *lengths, rc_var **context, rc_var **weights)
{
    return attention(t, ATTN_GENERAL, query, NULL, keys_proj, NULL, values, lengths, context,
                     weights);
}

rc_status rc_attention_additive(rc_tape *t, rc_var *query, rc_var *w_q, rc_var *keys_proj,
                                rc_var *v, rc_var *values, const int32_t *lengths,
                                rc_var **context, rc_var **weights)
{
    return attention(t, ATTN_ADDITIVE, query, w_q, keys_proj, v, values, lengths, context,
                     weights);
}

/* ---- the key projection: [S x B x Dk] -> [S x B x A], once per source ----
 * One matrix multiply over all S*B rows (a reshape, matmul and add, each
 * with its own backward). */
rc_var *rc_attention_project(rc_tape *t, rc_var *keys, rc_var *w, rc_var *b)
{
    rc_var *in[2] = {keys, w};
    if (!rc_op_check_inputs(t, "attention_project", 2, in)) return NULL;
    if (!is_3d(keys))
        return rc_tape_fail(t, RC_ERR_SHAPE, "attention_project: keys is %s; expected "
                            "[S x B x Dk] (time-major)", rc_vshape(keys));
    int S = keys->value.shape[0], B = keys->value.shape[1], Dk = keys->value.shape[2];
    if (w->value.ndim != 2 || w->value.shape[1] != Dk || w->value.shape[0] < 1)
        return rc_tape_fail(t, RC_ERR_SHAPE, "attention_project: w is %s; expected [A x %d] "
                            "for keys %s", rc_vshape(w), Dk, rc_vshape(keys));
    int A = w->value.shape[0];
    if (b && (b->value.ndim != 1 || b->value.shape[0] != A))
        return rc_tape_fail(t, RC_ERR_SHAPE, "attention_project: b is %s; expected [%d] for "
                            "w %s", rc_vshape(b), A, rc_vshape(w));
    int s2[2] = {S * B, Dk}, s3[3] = {S, B, A};
    rc_var *y = rc_matmul(t, rc_reshape(t, keys, 2, s2), w, 0, 1);
    if (b) y = rc_add(t, y, b);
    return rc_reshape(t, y, 3, s3);
}
