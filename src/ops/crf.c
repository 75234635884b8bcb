/* crf.c - a linear-chain conditional random field over tag sequences: the
 * negative log-likelihood as an op with a hand-written backward, and Viterbi
 * decoding.
 *
 * A sequence of length L with emissions e[t][k] (from the network), tag
 * transitions A[i][j] (i then j), and optional start s[k] and end z[k]
 * scores gives a tag path y its score
 *
 *   score(y) = s[y_0] + sum_{t<L} e[t][y_t] + sum_{0<t<L} A[y_{t-1}][y_t] + z[y_{L-1}]
 *
 * and the probability exp(score(y)) / Z with Z = sum over all K^L paths.
 * The loss of one sequence is log Z - score(gold).
 *
 * Forward algorithm (log space, each step a log-sum-exp shifted by its
 * maximum, so nothing overflows):
 *   alpha[0][j] = s[j] + e[0][j]
 *   alpha[t][j] = e[t][j] + lse_i(alpha[t-1][i] + A[i][j])
 *   log Z       = lse_j(alpha[L-1][j] + z[j])
 * Backward algorithm (in the op's backward):
 *   beta[L-1][i] = z[i]
 *   beta[t][i]   = lse_j(A[i][j] + e[t+1][j] + beta[t+1][j])
 * Marginals: P(y_t = j) = exp(alpha[t][j] + beta[t][j] - log Z), and
 *   P(y_{t-1} = i, y_t = j) = exp(alpha[t-1][i] + A[i][j] + e[t][j] + beta[t][j] - log Z).
 * d log Z / d e[t][j] = P(y_t = j), d log Z / d A[i][j] = sum_t P(i, j),
 * d log Z / d s[j] = P(y_0 = j), d log Z / d z[j] = P(y_{L-1} = j): the
 * expected counts; the gold score's derivatives are its counts. All of it
 * runs in double: the sums over paths cancel to small numbers.
 *
 * -inf is allowed in A, s and z (a forbidden move, as for I-PER after O):
 * such paths get probability 0 and those entries a zero gradient. The gold
 * path itself must have a finite score.
 *
 * Cost: K^2 exponentials per step and sequence, forward and again backward.
 */
#include "../internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* v[j], or 0 for an absent vector (no start / end scores). */
static inline double opt_at(const float *v, int j) { return v ? (double)v[j] : 0.0; }

/* log(sum_{i<K} exp(a[i] + m[i*stride])), m may be NULL (zeros); -inf when
 * every term is -inf (no +inf can occur: inputs are checked). */
static double lse_add(const double *a, const float *m, int stride, int K)
{
    double mx = -INFINITY;
    for (int i = 0; i < K; i++) {
        double v = a[i] + opt_at(m, i * stride);
        if (v > mx) mx = v;
    }
    if (mx == -INFINITY) return -INFINITY;
    double s = 0.0;
    for (int i = 0; i < K; i++) s += exp(a[i] + opt_at(m, i * stride) - mx);
    return mx + log(s);
}

/* ---- checks shared by the loss and the decoder ---- */

/* lengths: B values in 1..T (NULL: all T). */
static rc_status check_lengths(const char *op, const int32_t *lengths, int T, int B)
{
    if (!lengths) return RC_OK;
    for (int b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return rc_error(RC_ERR_RANGE, "%s: sequence %d has length %d, outside 1..%d "
                            "(T, the emissions' first dimension)", op, b, (int)lengths[b], T);
    return RC_OK;
}

/* Transitions, start and end may hold -inf (forbidden), not NaN or +inf. */
static rc_status check_scores(const char *op, const char *what, const float *v, int n)
{
    if (!v) return RC_OK;
    for (int i = 0; i < n; i++)
        if (isnan(v[i]) || (isinf(v[i]) && v[i] > 0))
            return rc_error(RC_ERR_NUMERIC, "%s: %s element %d is %g (NaN and +inf are not "
                            "scores; -inf forbids a move)", op, what, i, (double)v[i]);
    return RC_OK;
}

/* Emissions within each length must be finite; past it they are ignored. */
static rc_status check_emissions(const char *op, const float *e, int T, int B, int K,
                                 const int32_t *lengths)
{
    for (int b = 0; b < B; b++) {
        int L = lengths ? lengths[b] : T;
        for (int t = 0; t < L; t++) {
            const float *et = e + ((size_t)t * B + b) * K;
            for (int k = 0; k < K; k++)
                if (!isfinite(et[k]))
                    return rc_error(RC_ERR_NUMERIC, "%s: emission of tag %d at position %d "
                                    "of sequence %d is %g", op, k, t, b, (double)et[k]);
        }
    }
    return RC_OK;
}

/* ---- crf_nll ---- */

typedef struct crf_ctx {
    int T, B, K;
    int32_t *len;  /* B lengths */
    int32_t *tags; /* [T x B], copied; 0 past each length */
    double *alpha; /* [T x B x K] */
    double *logz;  /* B */
    double *beta;  /* [T x K] scratch for one sequence (backward) */
    double *w;     /* K scratch (backward) */
    double *acc;   /* K*K + 2K: transition, start and end gradient sums */
} crf_ctx;

static void crf_backward(rc_tape *t, rc_var *y)
{
    const crf_ctx *c = y->ctx;
    rc_var *em = y->in[0], *tr = y->in[1];
    rc_var *st = y->iarg[0] >= 0 ? y->in[y->iarg[0]] : NULL;
    rc_var *en = y->iarg[1] >= 0 ? y->in[y->iarg[1]] : NULL;
    const int B = c->B, K = c->K;
    const float *e = em->value.data, *A = tr->value.data;
    const float *z = en ? en->value.data : NULL;
    float *de = NULL, *dA = NULL, *ds = NULL, *dz = NULL;
    if (rc_needs_grad(em) && !(de = rc_grad_of(t, em))) return;
    if (rc_needs_grad(tr) && !(dA = rc_grad_of(t, tr))) return;
    if (rc_needs_grad(st) && !(ds = rc_grad_of(t, st))) return;
    if (rc_needs_grad(en) && !(dz = rc_grad_of(t, en))) return;

    double *accA = c->acc, *accs = c->acc + (size_t)K * K, *accz = accs + K;
    memset(c->acc, 0, ((size_t)K * K + 2 * (size_t)K) * sizeof *c->acc);
    const double g = (double)y->grad[0] / B;
    double *beta = c->beta, *w = c->w;

    for (int b = 0; b < B; b++) {
        const int L = c->len[b];
        const double logz = c->logz[b];
#define ALPHA(tt) (c->alpha + ((size_t)(tt) * B + b) * K)
#define EMIS(tt) (e + ((size_t)(tt) * B + b) * K)
#define TAG(tt) (c->tags[(size_t)(tt) * B + b])
        for (int i = 0; i < K; i++) beta[(size_t)(L - 1) * K + i] = opt_at(z, i);
        for (int tt = L - 2; tt >= 0; tt--) {
            const float *en1 = EMIS(tt + 1);
            const double *b1 = beta + (size_t)(tt + 1) * K;
            for (int j = 0; j < K; j++) w[j] = (double)en1[j] + b1[j];
            for (int i = 0; i < K; i++)
                beta[(size_t)tt * K + i] = lse_add(w, A + (size_t)i * K, 1, K);
        }
        /* Unary marginals: emissions, start (t = 0) and end (t = L-1). */
        for (int tt = 0; tt < L; tt++) {
            const double *a = ALPHA(tt), *bt = beta + (size_t)tt * K;
            float *dr = de ? de + ((size_t)tt * B + b) * K : NULL;
            for (int j = 0; j < K; j++) {
                double p = exp(a[j] + bt[j] - logz);
                if (dr) dr[j] += (float)(g * p);
                if (tt == 0) accs[j] += p;
                if (tt == L - 1) accz[j] += p;
            }
            if (dr) dr[TAG(tt)] -= (float)g;
        }
        accs[TAG(0)] -= 1.0;
        accz[TAG(L - 1)] -= 1.0;
        /* Pair marginals, only when the transitions want a gradient. */
        if (dA) {
            for (int tt = 1; tt < L; tt++) {
                const float *et = EMIS(tt);
                const double *a = ALPHA(tt - 1), *bt = beta + (size_t)tt * K;
                for (int j = 0; j < K; j++) w[j] = (double)et[j] + bt[j] - logz;
                for (int i = 0; i < K; i++) {
                    if (a[i] == -INFINITY) continue;
                    const float *Ai = A + (size_t)i * K;
                    double *acc_i = accA + (size_t)i * K;
                    for (int j = 0; j < K; j++) acc_i[j] += exp(a[i] + (double)Ai[j] + w[j]);
                }
                accA[(size_t)TAG(tt - 1) * K + TAG(tt)] -= 1.0;
            }
        }
#undef ALPHA
#undef EMIS
#undef TAG
    }
    if (dA)
        for (size_t i = 0; i < (size_t)K * K; i++) dA[i] += (float)(g * accA[i]);
    if (ds)
        for (int j = 0; j < K; j++) ds[j] += (float)(g * accs[j]);
    if (dz)
        for (int j = 0; j < K; j++) dz[j] += (float)(g * accz[j]);
}

static const rc_op op_crf_nll = {"crf_nll", crf_backward};

rc_var *rc_crf_nll(rc_tape *t, rc_var *emissions, rc_var *transitions, rc_var *start,
                   rc_var *end, const int32_t *tags, const int32_t *lengths)
{
    rc_var *req[2] = {emissions, transitions};
    if (!rc_op_check_inputs(t, "crf_nll", 2, req)) return NULL;
    const rc_tensor *ev = &emissions->value;
    if (ev->ndim != 3 || ev->shape[0] < 1 || ev->shape[1] < 1 || ev->shape[2] < 1)
        return rc_tape_fail(t, RC_ERR_SHAPE, "crf_nll: emissions %s must be [T x B x K] "
                            "(time-major, each at least 1)", rc_vshape(emissions));
    const int T = ev->shape[0], B = ev->shape[1], K = ev->shape[2];
    const rc_tensor *tv = &transitions->value;
    if (tv->ndim != 2 || tv->shape[0] != K || tv->shape[1] != K)
        return rc_tape_fail(t, RC_ERR_SHAPE, "crf_nll: transitions %s must be [%d x %d] for "
                            "emissions %s", rc_vshape(transitions), K, K,
                            rc_vshape(emissions));
    rc_var *opt[2] = {start, end};
    const char *opt_name[2] = {"start", "end"};
    for (int k = 0; k < 2; k++)
        if (opt[k] && (opt[k]->value.ndim != 1 || opt[k]->value.shape[0] != K))
            return rc_tape_fail(t, RC_ERR_SHAPE, "crf_nll: %s scores %s must be [%d] for "
                                "emissions %s", opt_name[k], rc_vshape(opt[k]), K,
                                rc_vshape(emissions));
    if (!tags)
        return rc_tape_fail(t, RC_ERR_ARG, "crf_nll: tags is NULL (emissions %s)",
                            rc_vshape(emissions));
    rc_status s = check_lengths("crf_nll", lengths, T, B);
    if (s != RC_OK) return rc_tape_fail(t, s, "%s", rc_last_error());
    for (int b = 0; b < B; b++) {
        int L = lengths ? lengths[b] : T;
        for (int tt = 0; tt < L; tt++) {
            int32_t y = tags[(size_t)tt * B + b];
            if (y < 0 || y >= K)
                return rc_tape_fail(t, RC_ERR_RANGE, "crf_nll: tag %d at position %d of "
                                    "sequence %d is outside [0, %d) (emissions %s)", (int)y,
                                    tt, b, K, rc_vshape(emissions));
        }
    }
    const float *e = ev->data, *A = tv->data;
    const float *sv = start ? start->value.data : NULL, *zv = end ? end->value.data : NULL;
    if ((s = check_emissions("crf_nll", e, T, B, K, lengths)) != RC_OK ||
        (s = check_scores("crf_nll", "transition", A, K * K)) != RC_OK ||
        (s = check_scores("crf_nll", "start", sv, K)) != RC_OK ||
        (s = check_scores("crf_nll", "end", zv, K)) != RC_OK)
        return rc_tape_fail(t, s, "%s", rc_last_error());
    /* The gold paths' scores: finite, or the loss would be +inf. */
    double gold_sum = 0.0;
    for (int b = 0; b < B; b++) {
        int L = lengths ? lengths[b] : T;
        int prev = tags[b];
        double sc = opt_at(sv, prev) + e[(size_t)b * K + prev];
        if (sc == -INFINITY)
            return rc_tape_fail(t, RC_ERR_NUMERIC, "crf_nll: the gold path of sequence %d "
                                "starts with tag %d, whose start score is -inf", b, prev);
        for (int tt = 1; tt < L; tt++) {
            int y = tags[(size_t)tt * B + b];
            double a = A[(size_t)prev * K + y];
            if (a == -INFINITY)
                return rc_tape_fail(t, RC_ERR_NUMERIC, "crf_nll: the gold path of sequence "
                                    "%d moves from tag %d to %d at position %d, a -inf "
                                    "transition", b, prev, y, tt);
            sc += a + e[((size_t)tt * B + b) * K + y];
            prev = y;
        }
        if (opt_at(zv, prev) == -INFINITY)
            return rc_tape_fail(t, RC_ERR_NUMERIC, "crf_nll: the gold path of sequence %d "
                                "ends with tag %d, whose end score is -inf", b, prev);
        gold_sum += sc + opt_at(zv, prev);
    }

    /* The node's inputs: emissions, transitions, then start and end when
     * given; iarg[0] / iarg[1] hold the index of start / end, or -1. */
    rc_var *in[4] = {emissions, transitions, NULL, NULL};
    int n_in = 2, i_start = -1, i_end = -1;
    if (start) in[i_start = n_in++] = start;
    if (end) in[i_end = n_in++] = end;
    int one = 1;
    rc_var *y = rc_node_new(t, &op_crf_nll, 1, &one, n_in, in);
    if (!y) return NULL;
    y->iarg[0] = i_start;
    y->iarg[1] = i_end;

    crf_ctx *c = rc_tape_alloc(t, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->T = T, c->B = B, c->K = K;
    c->alpha = rc_tape_alloc(t, (size_t)T * B * K * sizeof *c->alpha);
    c->logz = rc_tape_alloc(t, (size_t)B * sizeof *c->logz);
    c->len = rc_tape_alloc(t, (size_t)B * sizeof *c->len);
    if (!c->alpha || !c->logz || !c->len) return NULL;
    for (int b = 0; b < B; b++) c->len[b] = lengths ? lengths[b] : T;
    if (y->requires_grad) {
        c->tags = rc_tape_alloc(t, (size_t)T * B * sizeof *c->tags);
        c->beta = rc_tape_alloc(t, (size_t)T * K * sizeof *c->beta);
        c->w = rc_tape_alloc(t, (size_t)K * sizeof *c->w);
        c->acc = rc_tape_alloc(t, ((size_t)K * K + 2 * (size_t)K) * sizeof *c->acc);
        if (!c->tags || !c->beta || !c->w || !c->acc) return NULL;
        for (int tt = 0; tt < T; tt++)
            for (int b = 0; b < B; b++) {
                size_t i = (size_t)tt * B + b;
                c->tags[i] = tt < c->len[b] ? tags[i] : 0;
            }
        y->ctx = c;
    }

    double logz_sum = 0.0;
    for (int b = 0; b < B; b++) {
        const int L = c->len[b];
        double *a0 = c->alpha + (size_t)b * K;
        for (int j = 0; j < K; j++) a0[j] = opt_at(sv, j) + e[(size_t)b * K + j];
        for (int tt = 1; tt < L; tt++) {
            const double *ap = c->alpha + ((size_t)(tt - 1) * B + b) * K;
            double *at = c->alpha + ((size_t)tt * B + b) * K;
            const float *et = e + ((size_t)tt * B + b) * K;
            for (int j = 0; j < K; j++) at[j] = (double)et[j] + lse_add(ap, A + j, K, K);
        }
        c->logz[b] = lse_add(c->alpha + ((size_t)(L - 1) * B + b) * K, zv, 1, K);
        logz_sum += c->logz[b]; /* >= the gold score, so finite */
    }
    y->value.data[0] = (float)((logz_sum - gold_sum) / B);
    return y;
}

/* ---- Viterbi ----
 * delta[0][j] = s[j] + e[0][j]; delta[t][j] = e[t][j] + max_i(delta[t-1][i] + A[i][j])
 * with back-pointers; the best path ends at argmax_j(delta[L-1][j] + z[j]).
 * Ties: every argmax takes the smallest index (strict > while scanning up),
 * which picks, among equally good paths, the one with the smallest last
 * tag, then the smallest tag before it, and so on back to the first. */

rc_status rc_crf_viterbi(const float *emissions, const float *transitions, const float *start,
                         const float *end, int T, int B, int K, const int32_t *lengths,
                         int32_t *best_tags, float *best_scores)
{
    if (!emissions || !transitions || !best_tags)
        return rc_error(RC_ERR_ARG, "crf_viterbi: %s is NULL",
                        !emissions ? "emissions" : !transitions ? "transitions" : "best_tags");
    if (T < 1 || B < 1 || K < 1)
        return rc_error(RC_ERR_SHAPE, "crf_viterbi: T=%d, B=%d, K=%d must each be at least 1",
                        T, B, K);
    rc_status s;
    if ((s = check_lengths("crf_viterbi", lengths, T, B)) != RC_OK ||
        (s = check_emissions("crf_viterbi", emissions, T, B, K, lengths)) != RC_OK ||
        (s = check_scores("crf_viterbi", "transition", transitions, K * K)) != RC_OK ||
        (s = check_scores("crf_viterbi", "start", start, K)) != RC_OK ||
        (s = check_scores("crf_viterbi", "end", end, K)) != RC_OK)
        return s;

    int32_t *bp = malloc((size_t)T * K * sizeof *bp);
    double *delta = malloc(2 * (size_t)K * sizeof *delta);
    if (!bp || !delta) {
        free(bp);
        free(delta);
        return rc_error(RC_ERR_NOMEM, "crf_viterbi: out of memory (T=%d, K=%d)", T, K);
    }
    s = RC_OK;
    for (int b = 0; b < B && s == RC_OK; b++) {
        const int L = lengths ? lengths[b] : T;
        double *cur = delta, *prev = delta + K;
        for (int j = 0; j < K; j++) cur[j] = opt_at(start, j) + emissions[(size_t)b * K + j];
        for (int tt = 1; tt < L; tt++) {
            double *tmp = prev;
            prev = cur;
            cur = tmp;
            const float *et = emissions + ((size_t)tt * B + b) * K;
            int32_t *bpt = bp + (size_t)tt * K;
            for (int j = 0; j < K; j++) {
                double best = -INFINITY;
                int arg = 0;
                for (int i = 0; i < K; i++) {
                    double v = prev[i] + (double)transitions[(size_t)i * K + j];
                    if (v > best) best = v, arg = i;
                }
                cur[j] = best + (double)et[j];
                bpt[j] = arg;
            }
        }
        double best = -INFINITY;
        int arg = 0;
        for (int j = 0; j < K; j++) {
            double v = cur[j] + opt_at(end, j);
            if (v > best) best = v, arg = j;
        }
        if (best == -INFINITY) {
            s = rc_error(RC_ERR_NUMERIC, "crf_viterbi: every path of sequence %d has score "
                         "-inf (forbidden start, transitions or end)", b);
            break;
        }
        for (int tt = L - 1; tt >= 0; tt--) {
            best_tags[(size_t)tt * B + b] = arg;
            if (tt > 0) arg = bp[(size_t)tt * K + arg];
        }
        for (int tt = L; tt < T; tt++) best_tags[(size_t)tt * B + b] = -1;
        if (best_scores) best_scores[b] = (float)best;
    }
    free(bp);
    free(delta);
    return s;
}
