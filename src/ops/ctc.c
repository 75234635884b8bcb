/* ctc.c - connectionist temporal classification: the loss (forward-backward
 * in log space, with torch.nn.CTCLoss's gradient) and two decoders (best
 * path, and prefix beam search).
 *
 * Notation for one sequence b: T_b input steps, a target l of length L, and
 * the extended target l' of S = 2L + 1 symbols, blanks around and between
 * the labels: l' = (blank, l_1, blank, l_2, ..., l_L, blank). An alignment is
 * a path through l' that at each step stays, moves one on, or skips a blank
 * between two different labels. With y_t(c) = exp(log_probs[t, b, c]):
 *
 *   alpha_t(s) = y_t(l'_s) * (alpha_{t-1}(s) + alpha_{t-1}(s-1)
 *                             + [l'_s != blank, l'_s != l'_{s-2}] alpha_{t-1}(s-2))
 *   beta_t(s)  = y_t(l'_s) * (beta_{t+1}(s) + beta_{t+1}(s+1)
 *                             + [l'_s != blank, l'_s != l'_{s+2}] beta_{t+1}(s+2))
 *
 * with alpha_0 nonzero only at s = 0, 1 and beta_{T_b-1} only at S-1, S-2.
 * Both include the emission at t (Graves' convention), so for every t
 *   P(l | x) = sum_s alpha_t(s) beta_t(s) / y_t(l'_s),
 * and the loss is nll = -log P. Everything runs on logs in double.
 *
 * The gradient is torch's (aten/src/ATen/native/LossCTC.cpp computes it
 * this way; we checked the numbers, see tests/test_ctc.c): for t < T_b
 *
 *   d nll / d log_probs[t, b, c] = y_t(c) - (1 / (P y_t(c))) sum_{s: l'_s = c} alpha_t(s) beta_t(s)
 *
 * The second term alone is the derivative with the log-probabilities taken
 * as free inputs; torch adds y_t(c), which is what the gradient becomes
 * with respect to the logits under a log_softmax (the log_softmax's
 * backward then adds nothing, as the term sums to 0 over c). So the
 * gradient is exact for the usual log_softmax -> ctc_loss chain, and
 * matches torch's number for number. Steps t >= T_b get 0. A sequence with
 * no possible alignment has nll = +inf and, like torch, a NaN gradient on
 * its steps; with zero_infinity its loss and gradient are 0. */
#include "../internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log(exp(a) + exp(b)) without overflow; -inf when both are -inf. */
static double lse2(double a, double b)
{
    if (a < b) {
        double s = a;
        a = b;
        b = s;
    }
    if (b == -INFINITY) return a;
    return a + log1p(exp(b - a));
}

/* ---- the loss ---- */

typedef struct ctc_ctx {
    int T, B, C, blank, reduction, zero_infinity;
    int32_t *ilen, *tlen; /* copies of the lengths */
    size_t *toff;         /* where each sequence's labels start in targets */
    int32_t *targets;     /* copied: the caller's array need not outlive forward */
    size_t *aoff;         /* where each sequence's log alpha starts in alpha */
    double *alpha;        /* log alpha of each feasible sequence, [T_b x S_b] */
    double *nll;          /* per sequence; +inf when impossible */
    double *beta;         /* work for backward: two rows of log beta */
    double *lcab;         /* work for backward: C log occupancies */
} ctc_ctx;

/* Symbol s of the extended target. */
static inline int ext_label(const int32_t *tg, int blank, int s)
{
    return (s & 1) ? tg[s >> 1] : blank;
}

/* Fewest input steps that can emit the target: one per label, plus a blank
 * between each pair of equal neighbours. */
static long min_steps(const int32_t *tg, int L)
{
    long n = L;
    for (int i = 1; i < L; i++)
        if (tg[i] == tg[i - 1]) n++;
    return n;
}

/* Log alpha of one sequence; rows(t) gives where row t goes (with `full`,
 * alpha + t*S; otherwise two rotating rows). Returns the nll. */
static double ctc_alpha(const float *lp, size_t row_stride, int Tb, const int32_t *tg, int L,
                        int blank, double *alpha, int full)
{
    int S = 2 * L + 1;
    double *row = alpha;
    for (int s = 0; s < S; s++) row[s] = -INFINITY;
    row[0] = lp[blank];
    if (L > 0) row[1] = lp[tg[0]];
    for (int t = 1; t < Tb; t++) {
        const double *prev = row;
        row = full ? alpha + (size_t)t * S : alpha + (size_t)(t & 1) * S;
        const float *lpt = lp + (size_t)t * row_stride;
        for (int s = 0; s < S; s++) {
            int c = ext_label(tg, blank, s);
            double a = prev[s];
            if (s >= 1) a = lse2(a, prev[s - 1]);
            if (s >= 2 && c != blank && c != ext_label(tg, blank, s - 2))
                a = lse2(a, prev[s - 2]);
            row[s] = a == -INFINITY ? -INFINITY : a + (double)lpt[c];
        }
    }
    double lp_total = row[S - 1];
    if (S >= 2) lp_total = lse2(lp_total, row[S - 2]);
    return -lp_total;
}

/* Adds g * torch's gradient of one sequence's nll into grad (rows of
 * row_stride floats, the sequence's own columns). */
static void ctc_beta_grad(const ctc_ctx *c, int b, const float *lp, size_t row_stride,
                          float *grad, double g)
{
    int Tb = c->ilen[b], L = c->tlen[b], S = 2 * L + 1, C = c->C, blank = c->blank;
    const int32_t *tg = c->targets + c->toff[b];
    const double *alpha = c->alpha + c->aoff[b];
    double nll = c->nll[b];
    double *beta = c->beta, *next = c->beta + S;
    for (int t = Tb - 1; t >= 0; t--) {
        const float *lpt = lp + (size_t)t * row_stride;
        /* beta_t from beta_{t+1} (held in next). */
        for (int s = 0; s < S; s++) {
            int lab = ext_label(tg, blank, s);
            double v;
            if (t == Tb - 1) {
                v = (s >= S - 2) ? 0.0 : -INFINITY;
            } else {
                v = next[s];
                if (s + 1 < S) v = lse2(v, next[s + 1]);
                if (s + 2 < S && lab != blank && lab != ext_label(tg, blank, s + 2))
                    v = lse2(v, next[s + 2]);
            }
            beta[s] = v == -INFINITY ? -INFINITY : v + (double)lpt[lab];
        }
        for (int k = 0; k < C; k++) c->lcab[k] = -INFINITY;
        const double *at = alpha + (size_t)t * S;
        for (int s = 0; s < S; s++) {
            int lab = ext_label(tg, blank, s);
            double ab = at[s] + beta[s];
            if (at[s] != -INFINITY && beta[s] != -INFINITY) c->lcab[lab] = lse2(c->lcab[lab], ab);
        }
        float *gt = grad + (size_t)t * row_stride;
        for (int k = 0; k < C; k++) {
            double l = (double)lpt[k];
            double occ = c->lcab[k] == -INFINITY ? 0.0 : exp(c->lcab[k] + nll - l);
            gt[k] += (float)(g * (exp(l) - occ));
        }
        double *sw = beta;
        beta = next;
        next = sw;
    }
}

static void ctc_backward(rc_tape *t, rc_var *y)
{
    rc_var *x = y->in[0];
    const ctc_ctx *c = y->ctx;
    float *dx = rc_grad_of(t, x);
    if (!dx) return;
    size_t row_stride = (size_t)c->B * c->C;
    for (int b = 0; b < c->B; b++) {
        double g;
        if (c->reduction == RC_CTC_NONE)
            g = y->grad[b];
        else if (c->reduction == RC_CTC_SUM)
            g = y->grad[0];
        else
            g = (double)y->grad[0] / ((double)c->B * (c->tlen[b] > 1 ? c->tlen[b] : 1));
        const float *lp = x->value.data + (size_t)b * c->C;
        float *gb = dx + (size_t)b * c->C;
        if (isinf(c->nll[b])) {
            if (c->zero_infinity) continue;
            /* As torch: exp(-inf + inf) is NaN on every step of the sequence. */
            for (int tt = 0; tt < c->ilen[b]; tt++)
                for (int k = 0; k < c->C; k++) gb[(size_t)tt * row_stride + k] = NAN;
            continue;
        }
        if (c->ilen[b] == 0) continue; /* empty input and target: nothing depends on x */
        ctc_beta_grad(c, b, lp, row_stride, gb, g);
    }
}

static const rc_op op_ctc_loss = {"ctc_loss", ctc_backward};

const char *rc_ctc_reduction_name(rc_ctc_reduction r)
{
    switch (r) {
    case RC_CTC_MEAN: return "mean";
    case RC_CTC_SUM: return "sum";
    case RC_CTC_NONE: return "none";
    }
    return "?";
}

rc_var *rc_ctc_loss(rc_tape *t, rc_var *log_probs, const int32_t *targets,
                    const int32_t *input_lengths, const int32_t *target_lengths, int blank,
                    rc_ctc_reduction reduction, int zero_infinity)
{
    if (!rc_op_check_inputs(t, "ctc_loss", 1, &log_probs)) return NULL;
    const rc_tensor *v = &log_probs->value;
    if (v->ndim != 3)
        return rc_tape_fail(t, RC_ERR_SHAPE, "ctc_loss: log_probs must be [T x B x C] "
                            "(time-major), got %s", rc_vshape(log_probs));
    int T = v->shape[0], B = v->shape[1], C = v->shape[2];
    if (T < 1 || B < 1 || C < 1)
        return rc_tape_fail(t, RC_ERR_SHAPE, "ctc_loss: log_probs %s is empty",
                            rc_vshape(log_probs));
    if (blank < 0 || blank >= C)
        return rc_tape_fail(t, RC_ERR_RANGE, "ctc_loss: blank %d is outside [0, %d) for "
                            "log_probs %s", blank, C, rc_vshape(log_probs));
    if (reduction != RC_CTC_MEAN && reduction != RC_CTC_SUM && reduction != RC_CTC_NONE)
        return rc_tape_fail(t, RC_ERR_ARG, "ctc_loss: unknown reduction %d (RC_CTC_MEAN, "
                            "RC_CTC_SUM or RC_CTC_NONE)", (int)reduction);
    if (!input_lengths || !target_lengths)
        return rc_tape_fail(t, RC_ERR_ARG, "ctc_loss: %s is NULL (log_probs %s)",
                            input_lengths ? "target_lengths" : "input_lengths",
                            rc_vshape(log_probs));
    size_t total = 0;
    for (int b = 0; b < B; b++) {
        if (input_lengths[b] < 0 || input_lengths[b] > T)
            return rc_tape_fail(t, RC_ERR_RANGE, "ctc_loss: sequence %d has input length "
                                "%d, outside [0, %d] for log_probs %s", b,
                                (int)input_lengths[b], T, rc_vshape(log_probs));
        if (target_lengths[b] < 0)
            return rc_tape_fail(t, RC_ERR_RANGE, "ctc_loss: sequence %d has target length "
                                "%d (must be >= 0)", b, (int)target_lengths[b]);
        total += (size_t)target_lengths[b];
    }
    if (!targets && total > 0)
        return rc_tape_fail(t, RC_ERR_ARG, "ctc_loss: targets is NULL but the target "
                            "lengths add up to %zu", total);
    size_t off = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < target_lengths[b]; i++) {
            int32_t id = targets[off + (size_t)i];
            if (id == blank)
                return rc_tape_fail(t, RC_ERR_RANGE, "ctc_loss: sequence %d label %d "
                                    "(targets[%zu]) is the blank %d", b, i,
                                    off + (size_t)i, blank);
            if (id < 0 || id >= C)
                return rc_tape_fail(t, RC_ERR_RANGE, "ctc_loss: sequence %d label %d "
                                    "(targets[%zu]) is id %d, outside [0, %d) for "
                                    "log_probs %s", b, i, off + (size_t)i, (int)id, C,
                                    rc_vshape(log_probs));
        }
        off += (size_t)target_lengths[b];
        for (int tt = 0; tt < input_lengths[b]; tt++)
            for (int k = 0; k < C; k++) {
                float x = v->data[((size_t)tt * B + b) * C + k];
                if (isnan(x) || (isinf(x) && x > 0))
                    return rc_tape_fail(t, RC_ERR_NUMERIC, "ctc_loss: log_probs[%d, %d, %d] "
                                        "(step %d of sequence %d) is %g", tt, b, k, tt, b,
                                        (double)x);
            }
    }

    int one = 1;
    rc_var *y = rc_node_new(t, &op_ctc_loss, 1, reduction == RC_CTC_NONE ? &B : &one, 1,
                            &log_probs);
    if (!y) return NULL;
    int full = y->requires_grad;

    ctc_ctx *c = rc_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->T = T, c->B = B, c->C = C, c->blank = blank, c->reduction = reduction;
    c->zero_infinity = zero_infinity != 0;
    c->ilen = rc_tape_alloc(t, (size_t)B * sizeof *c->ilen);
    c->tlen = rc_tape_alloc(t, (size_t)B * sizeof *c->tlen);
    c->toff = rc_tape_alloc(t, (size_t)B * sizeof *c->toff);
    c->aoff = rc_tape_alloc(t, (size_t)B * sizeof *c->aoff);
    c->nll = rc_tape_alloc(t, (size_t)B * sizeof *c->nll);
    c->targets = rc_tape_alloc(t, (total ? total : 1) * sizeof *c->targets);
    if (!c->ilen || !c->tlen || !c->toff || !c->aoff || !c->nll || !c->targets) return NULL;
    memcpy(c->ilen, input_lengths, (size_t)B * sizeof *c->ilen);
    memcpy(c->tlen, target_lengths, (size_t)B * sizeof *c->tlen);
    if (total) memcpy(c->targets, targets, total * sizeof *c->targets);

    /* Which sequences can be aligned at all, and the memory their alphas
     * need (a whole table when there will be a backward, two rows if not). */
    size_t alpha_n = 0, s_max = 1;
    off = 0;
    for (int b = 0; b < B; b++) {
        c->toff[b] = off;
        int L = target_lengths[b];
        int Tb = input_lengths[b];
        off += (size_t)L;
        c->aoff[b] = alpha_n;
        if (min_steps(c->targets + c->toff[b], L) > Tb) { /* impossible */
            c->nll[b] = INFINITY;
            continue;
        }
        c->nll[b] = 0.0; /* what an empty input with an empty target keeps */
        if (Tb == 0) continue;
        size_t S = 2 * (size_t)L + 1;
        if (S > s_max) s_max = S;
        alpha_n += full ? (size_t)Tb * S : 2 * S;
    }
    c->alpha = rc_tape_alloc(t, (alpha_n ? alpha_n : 1) * sizeof *c->alpha);
    if (!c->alpha) return NULL;
    if (full) {
        c->beta = rc_tape_alloc(t, 2 * s_max * sizeof *c->beta);
        c->lcab = rc_tape_alloc(t, (size_t)C * sizeof *c->lcab);
        if (!c->beta || !c->lcab) return NULL;
        y->ctx = c;
    }

    double red = 0.0;
    for (int b = 0; b < B; b++) {
        int L = c->tlen[b], Tb = c->ilen[b];
        if (!isinf(c->nll[b]) && Tb > 0)
            c->nll[b] = ctc_alpha(v->data + (size_t)b * C, (size_t)B * C, Tb,
                                  c->targets + c->toff[b], L, blank, c->alpha + c->aoff[b],
                                  full);
        /* -inf log_probs can make a feasible-looking target impossible. */
        double nll = c->nll[b];
        if (isinf(nll) && c->zero_infinity) nll = 0.0;
        if (reduction == RC_CTC_NONE)
            y->value.data[b] = (float)nll;
        else if (reduction == RC_CTC_SUM)
            red += nll;
        else
            red += nll / (L > 1 ? L : 1);
    }
    if (reduction == RC_CTC_SUM) y->value.data[0] = (float)red;
    if (reduction == RC_CTC_MEAN) y->value.data[0] = (float)(red / B);
    return y;
}

/* ---- decoding ---- */

static rc_status check_decode_args(const char *fn, const float *log_probs, int T, int C,
                                   int blank)
{
    if (!log_probs && T > 0) return rc_error(RC_ERR_ARG, "%s: log_probs is NULL", fn);
    if (T < 0) return rc_error(RC_ERR_ARG, "%s: T is %d (must be >= 0)", fn, T);
    if (C < 1) return rc_error(RC_ERR_ARG, "%s: C is %d (must be >= 1)", fn, C);
    if (blank < 0 || blank >= C)
        return rc_error(RC_ERR_RANGE, "%s: blank %d is outside [0, %d)", fn, blank, C);
    return RC_OK;
}

/* NaN or +inf in row t (of C values) of sequence b (b < 0: the only one). */
static rc_status check_row(const char *fn, const float *row, int C, int b, int t)
{
    for (int k = 0; k < C; k++)
        if (isnan(row[k]) || (isinf(row[k]) && row[k] > 0)) {
            if (b < 0)
                return rc_error(RC_ERR_NUMERIC, "%s: step %d class %d is %g", fn, t, k,
                                (double)row[k]);
            return rc_error(RC_ERR_NUMERIC, "%s: sequence %d step %d class %d is %g", fn, b,
                            t, k, (double)row[k]);
        }
    return RC_OK;
}

rc_status rc_ctc_greedy_decode(const float *log_probs, int T, int B, int C,
                               const int32_t *input_lengths, int blank, int32_t *labels,
                               int32_t *lengths)
{
    const char *fn = "ctc_greedy_decode";
    rc_status st = check_decode_args(fn, log_probs, T, C, blank);
    if (st) return st;
    if (B < 1) return rc_error(RC_ERR_ARG, "%s: B is %d (must be >= 1)", fn, B);
    if (!labels || !lengths)
        return rc_error(RC_ERR_ARG, "%s: %s is NULL", fn, labels ? "lengths" : "labels");
    for (int b = 0; b < B; b++) {
        int Tb = input_lengths ? input_lengths[b] : T;
        if (Tb < 0 || Tb > T)
            return rc_error(RC_ERR_RANGE, "%s: sequence %d has input length %d, outside "
                            "[0, %d]", fn, b, Tb, T);
        for (int t = 0; t < Tb; t++) {
            st = check_row(fn, log_probs + ((size_t)t * B + b) * C, C, b, t);
            if (st) return st;
        }
    }
    for (int b = 0; b < B; b++) {
        int Tb = input_lengths ? input_lengths[b] : T, n = 0, prev = -1;
        int32_t *out = labels + (size_t)b * (size_t)T;
        for (int t = 0; t < Tb; t++) {
            const float *row = log_probs + ((size_t)t * B + b) * C;
            int best = 0;
            for (int k = 1; k < C; k++)
                if (row[k] > row[best]) best = k;
            if (best != blank && best != prev) out[n++] = best;
            prev = best;
        }
        lengths[b] = n;
    }
    return RC_OK;
}

/* Prefix beam search. Prefixes are nodes of a trie (parent, last label,
 * length); a beam is a node with two log probabilities: of the paths so far
 * that collapse to the prefix and end in a blank (pb) or in its last label
 * (pnb). At each step every beam either stays (a blank, or its last label
 * repeated) or grows by one label c; growing by c from a path ending in c
 * itself needs a blank in between, so only pb may grow by the last label.
 * Candidates that reach the same prefix are summed; the beam_width best by
 * log(exp(pb) + exp(pnb)) are kept. The trie gets at most beam_width new
 * nodes a step. */

typedef struct bs_cand {
    double score;
    int index; /* < W: an existing beam; else W + i*C + c: beam i grown by c */
} bs_cand;

static int bs_cand_cmp(const void *pa, const void *pb)
{
    const bs_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

typedef struct bs_work {
    int32_t *parent, *label, *len; /* the trie */
    int32_t *node_slot;            /* node -> its beam this step, or -1 */
    int32_t *beam_node, *next_node;
    double *pb, *pnb, *next_pb, *next_pnb; /* per beam (next_* for the kept ones) */
    double *stay_pb, *stay_pnb;            /* existing beams, at t + 1 */
    double *ext;                           /* [W x C]: pnb of beam i grown by c */
    int32_t *merge;                        /* [W x C]: the beam that equals it, or -1 */
    bs_cand *cand;
} bs_work;

static void bs_free(bs_work *w)
{
    free(w->parent), free(w->label), free(w->len), free(w->node_slot);
    free(w->beam_node), free(w->next_node);
    free(w->pb), free(w->pnb), free(w->next_pb), free(w->next_pnb);
    free(w->stay_pb), free(w->stay_pnb), free(w->ext), free(w->merge), free(w->cand);
}

rc_status rc_ctc_beam_search(const float *log_probs, int T, int C, size_t stride, int blank,
                             int beam_width, int n_best, int32_t *labels, int32_t *lengths,
                             float *scores, int *n_found)
{
    const char *fn = "ctc_beam_search";
    rc_status st = check_decode_args(fn, log_probs, T, C, blank);
    if (st) return st;
    if (beam_width < 1)
        return rc_error(RC_ERR_ARG, "%s: beam width %d (must be >= 1)", fn, beam_width);
    if (n_best < 1 || n_best > beam_width)
        return rc_error(RC_ERR_ARG, "%s: n_best %d must be in [1, beam width %d]", fn,
                        n_best, beam_width);
    if (!labels || !lengths || !scores || !n_found)
        return rc_error(RC_ERR_ARG, "%s: %s is NULL", fn,
                        !labels ? "labels" : !lengths ? "lengths" : !scores ? "scores"
                                                                           : "n_found");
    if (stride == 0) stride = (size_t)C;
    if (stride < (size_t)C)
        return rc_error(RC_ERR_ARG, "%s: stride %zu is less than C = %d", fn, stride, C);
    *n_found = 0;
    for (int t = 0; t < T; t++) {
        st = check_row(fn, log_probs + (size_t)t * stride, C, -1, t);
        if (st) return st;
    }

    size_t W = (size_t)beam_width, WC = W * (size_t)C;
    size_t n_nodes_max = 1 + W * (size_t)T;
    if (WC / W != (size_t)C || (n_nodes_max - 1) / W != (size_t)T || WC > (size_t)INT32_MAX ||
        n_nodes_max > (size_t)INT32_MAX)
        return rc_error(RC_ERR_ARG, "%s: beam width %d x C %d x T %d is too large", fn,
                        beam_width, C, T);
    bs_work w = {0};
    w.parent = malloc(n_nodes_max * sizeof *w.parent);
    w.label = malloc(n_nodes_max * sizeof *w.label);
    w.len = malloc(n_nodes_max * sizeof *w.len);
    w.node_slot = malloc(n_nodes_max * sizeof *w.node_slot);
    w.beam_node = malloc(W * sizeof *w.beam_node);
    w.next_node = malloc(W * sizeof *w.next_node);
    w.pb = malloc(W * sizeof *w.pb);
    w.pnb = malloc(W * sizeof *w.pnb);
    w.next_pb = malloc(W * sizeof *w.next_pb);
    w.next_pnb = malloc(W * sizeof *w.next_pnb);
    w.stay_pb = malloc(W * sizeof *w.stay_pb);
    w.stay_pnb = malloc(W * sizeof *w.stay_pnb);
    w.ext = malloc(WC * sizeof *w.ext);
    w.merge = malloc(WC * sizeof *w.merge);
    w.cand = malloc((W + WC) * sizeof *w.cand);
    if (!w.parent || !w.label || !w.len || !w.node_slot || !w.beam_node || !w.next_node ||
        !w.pb || !w.pnb || !w.next_pb || !w.next_pnb || !w.stay_pb || !w.stay_pnb || !w.ext ||
        !w.merge || !w.cand) {
        bs_free(&w);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory (beam width %d, C %d, T %d)", fn,
                        beam_width, C, T);
    }

    /* The root: the empty prefix, reached by the empty path. */
    int n_nodes = 1, n_beams = 1;
    w.parent[0] = -1, w.label[0] = -1, w.len[0] = 0, w.node_slot[0] = -1;
    w.beam_node[0] = 0, w.pb[0] = 0.0, w.pnb[0] = -INFINITY;

    for (int t = 0; t < T && n_beams > 0; t++) {
        const float *lp = log_probs + (size_t)t * stride;
        double lp_blank = lp[blank];
        for (int i = 0; i < n_beams; i++) w.node_slot[w.beam_node[i]] = i;
        for (size_t k = 0; k < (size_t)n_beams * C; k++) {
            w.ext[k] = -INFINITY;
            w.merge[k] = -1;
        }
        /* A beam whose parent is also a beam is that beam grown by its label. */
        for (int j = 0; j < n_beams; j++) {
            int node = w.beam_node[j], p = w.parent[node];
            if (p >= 0 && w.node_slot[p] >= 0)
                w.merge[(size_t)w.node_slot[p] * C + w.label[node]] = j;
        }
        for (int i = 0; i < n_beams; i++) {
            double all = lse2(w.pb[i], w.pnb[i]);
            int last = w.label[w.beam_node[i]];
            w.stay_pb[i] = all + lp_blank;
            w.stay_pnb[i] = last >= 0 ? w.pnb[i] + (double)lp[last] : -INFINITY;
        }
        for (int i = 0; i < n_beams; i++) {
            double all = lse2(w.pb[i], w.pnb[i]);
            int last = w.label[w.beam_node[i]];
            for (int k = 0; k < C; k++) {
                if (k == blank) continue;
                double from = (k == last) ? w.pb[i] : all;
                if (from == -INFINITY || lp[k] == -INFINITY) continue;
                double v = from + (double)lp[k];
                size_t e = (size_t)i * C + k;
                if (w.merge[e] >= 0)
                    w.stay_pnb[w.merge[e]] = lse2(w.stay_pnb[w.merge[e]], v);
                else
                    w.ext[e] = lse2(w.ext[e], v);
            }
        }
        for (int i = 0; i < n_beams; i++) w.node_slot[w.beam_node[i]] = -1;

        size_t nc = 0;
        for (int i = 0; i < n_beams; i++) {
            double s = lse2(w.stay_pb[i], w.stay_pnb[i]);
            if (s != -INFINITY) w.cand[nc++] = (bs_cand){s, i};
        }
        for (size_t e = 0; e < (size_t)n_beams * C; e++)
            if (w.ext[e] != -INFINITY) w.cand[nc++] = (bs_cand){w.ext[e], (int)(W + e)};
        qsort(w.cand, nc, sizeof *w.cand, bs_cand_cmp);
        int kept = (int)(nc < W ? nc : W);
        for (int j = 0; j < kept; j++) {
            int idx = w.cand[j].index;
            if ((size_t)idx < W) {
                w.next_node[j] = w.beam_node[idx];
                w.next_pb[j] = w.stay_pb[idx];
                w.next_pnb[j] = w.stay_pnb[idx];
            } else {
                size_t e = (size_t)idx - W;
                int i = (int)(e / (size_t)C), k = (int)(e % (size_t)C);
                int node = n_nodes++;
                w.parent[node] = w.beam_node[i];
                w.label[node] = k;
                w.len[node] = w.len[w.beam_node[i]] + 1;
                w.node_slot[node] = -1;
                w.next_node[j] = node;
                w.next_pb[j] = -INFINITY;
                w.next_pnb[j] = w.ext[e];
            }
        }
        n_beams = kept;
        memcpy(w.beam_node, w.next_node, (size_t)kept * sizeof *w.beam_node);
        memcpy(w.pb, w.next_pb, (size_t)kept * sizeof *w.pb);
        memcpy(w.pnb, w.next_pnb, (size_t)kept * sizeof *w.pnb);
    }

    /* The beams are in score order already (or the root alone when T = 0). */
    int n = n_beams < n_best ? n_beams : n_best;
    size_t cap = (size_t)T;
    for (int j = 0; j < n; j++) {
        int node = w.beam_node[j], len = w.len[node];
        lengths[j] = len;
        scores[j] = (float)lse2(w.pb[j], w.pnb[j]);
        for (int q = len - 1; q >= 0; q--) {
            labels[(size_t)j * cap + (size_t)q] = w.label[node];
            node = w.parent[node];
        }
    }
    *n_found = n;
    bs_free(&w);
    return RC_OK;
}
