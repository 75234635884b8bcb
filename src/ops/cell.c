/* cell.c - what the three recurrent cells share: checking the arguments,
 * the time loop, variable lengths, and every matrix product. The cells'
 * own arithmetic (gate nonlinearities and state update) is in rnn.c,
 * lstm.c and gru.c.
 *
 * Forward of a sequence of T steps, batch B:
 *   1. the input projection of all steps at once, one matrix multiply:
 *        gates [T*B x G*H] = X [T*B x I] W_ih^T + bias
 *   2. for each step s: the hidden product of that step's rows,
 *        gates[s] += h_{s} W_hh^T          (GRU: into a scratch, see gru.c)
 *      then the cell's kernel turns gates[s] into activations in place and
 *      writes the new state (LSTM with projection: h = m W_hr^T after it).
 * Backward walks the steps in reverse with the kernels' backward and one
 * small product per step (dh_{s} = dpre[s] W_hh); the weight gradients,
 * the bias gradients and dX are then each ONE product (or sum) over all
 * steps, from the per-step gate gradients kept in one [T*B x G*H] array.
 *
 * Variable lengths (PyTorch's packed sequences): row b is active at step
 * s when s < len[b]. The matrix products cover all B rows; the kernels run
 * on the runs of active rows; an inactive row keeps its state, outputs
 * zero, and in backward passes its state gradient through unchanged.
 * Reverse reads row b at t = len[b]-1-s on step s: its input rows are
 * first gathered into step order, so the loop itself only ever runs
 * forward. The step op is the same machinery with T = 1, len[b] = 0 for a
 * masked row, and no y.
 *
 * Threads: the batch rows are independent sequences, so recur's pool
 * threads split them: in forward, blocks of rows whose steps any thread
 * may run (step_blocks); in backward, a block a thread for the whole
 * loop (loop_parts). Inference (no backward) keeps only one step
 * (step_slot, state_slot). docs/performance.md, "Threads".
 *
 * One node holds all outputs back to back (y [T x B x P], h_n [B x P],
 * c_n [B x H]); they are returned as rc_view's of it, so their gradients
 * meet in the node's gradient, where backward reads them. */
#include "../internal.h"
#include "cell.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* CPU seconds (of the whole process: all threads) this thread's cell ops
 * have spent in their loops over time steps, forward and backward: for
 * bench/bench_rnn.c, which compares the recurrent loop with what the BLAS
 * alone needs for its products. CPU time, not wall time, so that other
 * jobs on the machine do not count. Not in recur.h. */
static _Thread_local double loop_seconds;
double rc_cell_loop_seconds(void);
double rc_cell_loop_seconds(void) { return loop_seconds; }

static double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rc_cell_gates(rc_cell_kind kind)
{
    switch (kind) {
    case RC_CELL_RNN_TANH:
    case RC_CELL_RNN_RELU: return 1;
    case RC_CELL_LSTM: return 4;
    case RC_CELL_GRU: return 3;
    }
    return 0;
}

/* PyTorch's mode names (torch.nn.RNNBase.mode). */
const char *rc_cell_name(rc_cell_kind kind)
{
    switch (kind) {
    case RC_CELL_RNN_TANH: return "RNN_TANH";
    case RC_CELL_RNN_RELU: return "RNN_RELU";
    case RC_CELL_LSTM: return "LSTM";
    case RC_CELL_GRU: return "GRU";
    }
    return "unknown";
}

/* Everything forward computed that backward needs. Arrays are in step
 * order (row s*B + b is row b at step s); all live in the tape's arena. */
typedef struct cell_ctx {
    rc_cell_kind kind;
    int T, B, I, H, P, G;
    int reverse, has_y;
    int max_len;       /* no row is active at steps >= max_len */
    int keep;          /* backward will run: keep every step (else inference, below) */
    int32_t *len;      /* [B] steps of each row (0: a masked row of the step op) */
    rc_var *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh, *w_hr;
    const float *xs;   /* [T*B x I] the input in step order (x itself unless reverse) */
    float *gates;      /* [T*B x GH] gate activations */
    float *hs;         /* [(T+1)*B x P] hs[0] = h0, hs[s+1] = h after step s */
    float *cs;         /* LSTM [(T+1)*B x H] likewise for c */
    float *ms;         /* LSTM with projection [T*B x H]: o*tanh(c), 0 on inactive rows */
    float *hn;         /* GRU [T*B x H]: W_hn h + b_hn */
    float *b_hn;       /* GRU [H]: b_hn, or zeros */
    float *bias;       /* [GH] what input_bias gives (NULL: none); inference only */
    const float *w_ih_packed; /* inference: W_ih^T packed, for the per-step projection */
} cell_ctx;

/* Inference (no backward, keep 0): nothing of a step is needed after the
 * next one, so the arrays above hold one step (gates, ms, hn) or two
 * states used in turns (hs, cs) instead of all of them, and each step
 * does its own input projection (x_s W_ih^T, W_ih packed once) just
 * before its hidden product, rather than one product for all steps into
 * a [T*B x GH] array that the loop then reads back: less memory, and
 * what a step writes is still in cache when it is read. Where step s's
 * arrays and states s and s+1 are: */
static size_t step_slot(const cell_ctx *c, int s) { return c->keep ? (size_t)s : 0; }
static size_t state_slot(const cell_ctx *c, int s) { return c->keep ? (size_t)s : (size_t)(s & 1); }

static int is_lstm(const cell_ctx *c) { return c->kind == RC_CELL_LSTM; }
static int is_gru(const cell_ctx *c) { return c->kind == RC_CELL_GRU; }
static int is_relu(const cell_ctx *c) { return c->kind == RC_CELL_RNN_RELU; }

/* Where the output of row b at step s goes: its time position. */
static int time_of(const cell_ctx *c, int s, int b)
{
    return c->reverse ? c->len[b] - 1 - s : s;
}

/* The next run [*lo, *hi) of rows active at step s, searching from *hi
 * up to row end; 0 when there is none.
 * Use: for (lo = hi = r0; next_run(c, s, r1, &lo, &hi);) */
static int next_run(const cell_ctx *c, int s, int end, int *lo, int *hi)
{
    int b = *hi;
    while (b < end && c->len[b] <= s) b++;
    if (b >= end) return 0;
    *lo = b;
    while (b < end && c->len[b] > s) b++;
    *hi = b;
    return 1;
}

/* The threads of a time loop. The rows of a batch are independent
 * sequences: a thread runs a block of rows (its part of every per-step
 * product, the kernels, the copies); W_hh and its packed copy are only
 * read. Each row's numbers are computed as with one thread. Rows below 4
 * a thread are not worth a thread; a loop on one thread still has its
 * per-step products split by rc_gemm. */
static int loop_parts(const cell_ctx *c)
{
    int n = rc_pool_threads(), most = c->B / 4;
    return n < most ? n : most < 1 ? 1 : most;
}

/* Forward's rows in blocks, each block's steps in order, any thread any
 * block: a thread that is done with a step takes the free block that is
 * furthest behind. With two blocks a thread, the threads end together
 * even when one of them runs slower for a while (another process on its
 * core): with a fixed block each, the faster one waited 3-12% of (ii)'s
 * loop for the other (docs/performance.md, "Blocks of rows"). A block's
 * steps are claimed and released with acquire/release atomics, so what
 * one thread wrote for a block's step is seen by the next that runs it. */
enum { MAX_BLOCKS = 64, BLOCK_BUSY = 1 << 30, BLOCK_ROWS = 16 };
typedef struct {
    int T, n;                     /* steps, blocks */
    int first[MAX_BLOCKS + 1];    /* block k: rows [first[k], first[k + 1]) */
    atomic_int next[MAX_BLOCKS];  /* block k's next step; | BLOCK_BUSY while it runs */
} step_blocks;

/* Two blocks a thread where they keep BLOCK_ROWS rows (the products are
 * as fast per row at 16 rows as at 32 or 64; at 8, 5% slower), else one
 * a thread. */
static int blocks_for(int B, int parts)
{
    int n = parts > 1 && 2 * parts <= B / BLOCK_ROWS ? 2 * parts : parts;
    return n < MAX_BLOCKS ? n : MAX_BLOCKS;
}

static void blocks_init(step_blocks *sb, int B, int T, int n)
{
    sb->T = T;
    sb->n = n;
    for (int k = 0; k < n; k++) {
        int hi;
        rc_pool_range(B, k, n, 1, &sb->first[k], &hi);
        sb->first[k + 1] = hi;
        atomic_init(&sb->next[k], 0);
    }
}

/* For thread p of parts: the free block furthest behind, its step in *s
 * (the block is then busy); -1 when every block has run its T steps. Of
 * blocks equally far, one of the thread's own (k = p, p + parts, ...),
 * whose rows are in its cache. While every block left is busy, waits
 * (yielding the core) for one to be released. */
static int blocks_claim(step_blocks *sb, int p, int parts, int *s)
{
    for (;;) {
        int best = -1, best_step = sb->T, best_own = 0, left = 0;
        for (int k = 0; k < sb->n; k++) {
            int v = atomic_load_explicit(&sb->next[k], memory_order_relaxed);
            int own = k % parts == p;
            if ((v & ~BLOCK_BUSY) >= sb->T) continue; /* done */
            left++;
            if (!(v & BLOCK_BUSY) && (v < best_step || (v == best_step && own && !best_own)))
                best = k, best_step = v, best_own = own;
        }
        if (!left) return -1;
        if (best >= 0 && atomic_compare_exchange_strong_explicit(
                             &sb->next[best], &best_step, best_step | BLOCK_BUSY,
                             memory_order_acquire, memory_order_relaxed)) {
            *s = best_step;
            return best;
        }
        if (best < 0) sched_yield();
    }
}

static void blocks_release(step_blocks *sb, int k, int s)
{
    atomic_store_explicit(&sb->next[k], s + 1, memory_order_release);
}

/* ------------------------------------------------------------ forward -- */

/* The biases that go into the input projection: b_ih + b_hh (for the GRU,
 * b_hh's n block stays out: it goes inside r * (...)). NULL if none. */
static float *input_bias(rc_tape *t, const cell_ctx *c)
{
    int GH = c->G * c->H;
    if (!c->b_ih && !c->b_hh) return NULL;
    float *bias = rc_tape_alloc(t, (size_t)GH * sizeof *bias);
    if (!bias) return NULL;
    int folded = is_gru(c) ? 2 * c->H : GH;
    for (int j = 0; j < GH; j++) {
        float v = c->b_ih ? c->b_ih->value.data[j] : 0.0f;
        if (c->b_hh && j < folded) v += c->b_hh->value.data[j];
        bias[j] = v;
    }
    return bias;
}

/* The input in step order for reverse: row b's step s is x at time
 * len[b]-1-s, and zeros past its length. NULL when out of memory. */
static const float *gather_reversed(rc_tape *t, const cell_ctx *c)
{
    const int T = c->T, B = c->B, I = c->I;
    float *xs = rc_tape_alloc(t, (size_t)T * B * I * sizeof(float));
    if (!xs) return NULL;
    for (int s = 0; s < T; s++)
        for (int b = 0; b < B; b++) {
            float *dst = xs + ((size_t)s * B + b) * I;
            if (s < c->len[b])
                memcpy(dst, c->x->value.data + ((size_t)time_of(c, s, b) * B + b) * I,
                       (size_t)I * sizeof(float));
            else
                memset(dst, 0, (size_t)I * sizeof(float));
        }
    return xs;
}

/* The recurrent product h W_hh^T (forward) or dG W_hh (backward) takes
 * the same W_hh at every step: packed once for the portable kernel's
 * micro-kernel, it is not packed again at every step, as a BLAS call
 * would (about a sixth of an LSTM step at batch 32, hidden 256). Worth it
 * when there are steps to share it and rows to fill the tiles; a batch of
 * one is a matrix-vector product, which reads W_hh as it is. Used when
 * the BLAS runs one thread (as after rc_set_threads: recur's pool threads
 * then each multiply their rows); when OpenBLAS runs several threads of
 * its own, the per-step product is kept (docs/performance.md). */
static int packed_off;
static int use_packed(const cell_ctx *c)
{
    return !packed_off && c->B >= 4 && c->max_len >= 2 && rc_gemm_threads() == 1;
}

/* Not in recur.h: for bench/bench_rnn.c (--no-packed), to time the loop
 * with rc_gemm instead. Not thread-safe: call it while no op runs. */
void rc_cell_set_packed(int on);
void rc_cell_set_packed(int on) { packed_off = !on; }

/* The pool's threads for a pass over n numbers (a copy, a sum): all of
 * them from 2^16 on, one below, where waking a thread costs more than it
 * saves. */
static int parts_for(size_t n)
{
    return n >= ((size_t)1 << 16) ? rc_pool_threads() : 1;
}

/* op(B) [K x N] packed into the tape's arena by all the pool's threads,
 * each its columns: a weight of hidden 512 is 4 MiB to copy, and the
 * other threads would wait while one did it. NULL when out of memory. */
typedef struct pack_job {
    int trans_b, K, N, ldb;
    const float *B;
    float *packed;
} pack_job;

static void pack_part(void *arg, int p, int n)
{
    const pack_job *j = arg;
    rc_gemm_pack_b_part(j->trans_b, j->K, j->N, j->B, j->ldb, j->packed, p, n);
}

static float *pack_weights(rc_tape *t, int trans_b, int K, int N, const float *B, int ldb)
{
    float *w = rc_tape_alloc(t, rc_gemm_packed_floats(K, N) * sizeof(float));
    if (!w) return NULL;
    pack_job j = {trans_b, K, N, ldb, B, w};
    rc_pool_run(parts_for((size_t)K * N), pack_part, &j);
    return w;
}

/* W_hh packed: as op(B) of h W_hh^T (forward) or of dG W_hh (backward).
 * NULL when not used, or out of memory. */
static float *packed_weights(rc_tape *t, const cell_ctx *c, int forward)
{
    if (!use_packed(c)) return NULL;
    int GH = c->G * c->H, P = c->P, K = forward ? P : GH, N = forward ? GH : P;
    return pack_weights(t, forward, K, N, c->w_hh->value.data, P);
}

/* The cell's forward kernel on rows [lo, lo+n) of step s. g holds the
 * step's pre-activations (GRU: the input side; hh the hidden side). */
static void kernel_forward(cell_ctx *c, int s, int lo, int n, float *g, const float *hh)
{
    const int H = c->H, GH = c->G * c->H, P = c->P;
    const size_t BP = (size_t)c->B * P, BH = (size_t)c->B * H;
    const size_t rg = (size_t)lo * GH, rh = (size_t)lo * H, rp = (size_t)lo * P;
    const size_t s0 = state_slot(c, s), s1 = state_slot(c, s + 1), st = step_slot(c, s);
    const float *hp = c->hs + s0 * BP;
    float *hc = c->hs + s1 * BP;
    switch (c->kind) {
    case RC_CELL_RNN_TANH:
    case RC_CELL_RNN_RELU:
        rc_rnn_step_forward(n, H, is_relu(c), g + rg, hc + rp);
        break;
    case RC_CELL_LSTM: /* m is h itself, or goes through W_hr afterwards */
        rc_lstm_step_forward(n, H, g + rg, c->cs + s0 * BH + rh, c->cs + s1 * BH + rh,
                             c->w_hr ? c->ms + st * BH + rh : hc + rp);
        break;
    case RC_CELL_GRU:
        rc_gru_step_forward(n, H, g + rg, hh + rg, c->b_hn, hp + rp, c->hn + st * BH + rh,
                            hc + rp);
        break;
    }
}

/* Step s of forward on rows [r0, r1). */
static void forward_step(cell_ctx *c, int s, int r0, int r1, const float *w_packed, float *hh,
                         float *y)
{
    const int B = c->B, H = c->H, P = c->P, GH = c->G * c->H, n = r1 - r0;
    const size_t BP = (size_t)B * P, BH = (size_t)B * H;
    const int proj = c->w_hr != NULL;
    const float *w_hh = c->w_hh->value.data;
    const size_t s0 = state_slot(c, s), s1 = state_slot(c, s + 1), st = step_slot(c, s);
    const float *hp = c->hs + s0 * BP;
    float *hc = c->hs + s1 * BP;
    float *g = c->gates + st * (size_t)B * GH;
    float *ms = proj ? c->ms + st * BH : NULL;
    int lo, hi;
    if (!c->keep && s < c->max_len) { /* inference: this step's input projection */
        float *gr = g + (size_t)r0 * GH;
        const float *xr = c->xs + ((size_t)s * B + r0) * c->I;
        if (c->bias)
            for (int b = 0; b < n; b++)
                memcpy(gr + (size_t)b * GH, c->bias, (size_t)GH * sizeof(float));
        float beta = c->bias ? 1.0f : 0.0f;
        if (c->w_ih_packed)
            rc_gemm_packed(0, n, GH, c->I, 1.0f, xr, c->I, c->w_ih_packed, beta, gr, GH);
        else
            rc_gemm(0, 1, n, GH, c->I, 1.0f, xr, c->I, c->w_ih->value.data, c->I, beta, gr, GH);
    }
    if (s < c->max_len) {
        /* The GRU's hidden side stays apart: r multiplies its n block. */
        float *dst = (is_gru(c) ? hh : g) + (size_t)r0 * GH;
        float beta = is_gru(c) ? 0.0f : 1.0f;
        if (w_packed)
            rc_gemm_packed(0, n, GH, P, 1.0f, hp + (size_t)r0 * P, P, w_packed, beta, dst, GH);
        else
            rc_gemm(0, 1, n, GH, P, 1.0f, hp + (size_t)r0 * P, P, w_hh, P, beta, dst, GH);
        for (lo = hi = r0; next_run(c, s, r1, &lo, &hi);)
            kernel_forward(c, s, lo, hi - lo, g, hh);
    }
    /* Rows not running at this step keep their state. They have no m
     * (zero, as W_hr's gradient multiplies it); their h is copied after
     * the projection, which covers all rows. */
    for (int b = r0; b < r1; b++) {
        if (s < c->len[b]) continue;
        if (ms) memset(ms + (size_t)b * H, 0, (size_t)H * sizeof(float));
        if (is_lstm(c))
            memcpy(c->cs + s1 * BH + (size_t)b * H, c->cs + s0 * BH + (size_t)b * H,
                   (size_t)H * sizeof(float));
    }
    if (proj && s < c->max_len)
        rc_gemm(0, 1, n, P, H, 1.0f, ms + (size_t)r0 * H, H, c->w_hr->value.data, H, 0.0f,
                hc + (size_t)r0 * P, P);
    for (int b = r0; b < r1; b++) {
        if (s >= c->len[b])
            memcpy(hc + (size_t)b * P, hp + (size_t)b * P, (size_t)P * sizeof(float));
        else if (y)
            memcpy(y + ((size_t)time_of(c, s, b) * B + b) * P, hc + (size_t)b * P,
                   (size_t)P * sizeof(float));
    }
}

typedef struct {
    cell_ctx *c;
    const float *w_packed;
    float *hh, *y;
    step_blocks *blocks;
} fwd_job;

static void forward_part(void *arg, int p, int n)
{
    fwd_job *j = arg;
    for (int k, s; (k = blocks_claim(j->blocks, p, n, &s)) >= 0; blocks_release(j->blocks, k, s))
        forward_step(j->c, s, j->blocks->first[k], j->blocks->first[k + 1], j->w_packed, j->hh,
                     j->y);
}

/* Runs the sequence; y (if has_y), h_n and c_n (LSTM) are written into
 * out. Returns 0 (tape failed) when out of memory. The input's padding
 * (x past a row's length) is never used, but it goes through the input
 * multiply like the rest and must be finite. */
static int cell_forward(rc_tape *t, cell_ctx *c, float *out)
{
    const int T = c->T, B = c->B, I = c->I, H = c->H, P = c->P, GH = c->G * c->H;
    const size_t TB = (size_t)T * (size_t)B, BP = (size_t)B * P, BH = (size_t)B * H;
    const int proj = c->w_hr != NULL;
    float *y = c->has_y ? out : NULL;
    float *h_n = out + (c->has_y ? TB * P : 0), *c_n = h_n + BP;

    /* Rows of the per-step arrays and of the states (inference: one step,
     * two states). */
    const size_t steps = c->keep ? TB : (size_t)B, states = c->keep ? TB + B : 2 * (size_t)B;
    c->gates = rc_tape_alloc(t, steps * GH * sizeof(float));
    c->hs = rc_tape_alloc(t, states * P * sizeof(float));
    if (!c->gates || !c->hs) return 0;
    float *hh = NULL;
    if (is_lstm(c)) {
        c->cs = rc_tape_alloc(t, states * H * sizeof(float));
        if (!c->cs) return 0;
        if (proj && !(c->ms = rc_tape_alloc(t, steps * H * sizeof(float)))) return 0;
    }
    if (is_gru(c)) {
        c->hn = rc_tape_alloc(t, steps * H * sizeof(float));
        c->b_hn = rc_tape_alloc(t, (size_t)H * sizeof(float));
        hh = rc_tape_alloc(t, (size_t)B * GH * sizeof(float));
        if (!c->hn || !c->b_hn || !hh) return 0;
        for (int j = 0; j < H; j++)
            c->b_hn[j] = c->b_hh ? c->b_hh->value.data[2 * H + j] : 0.0f;
    }

    c->xs = c->reverse ? gather_reversed(t, c) : c->x->value.data;
    if (!c->xs) return 0;

    /* 1. The input projection of every step: one multiply (inference: in
     * the loop, step by step, with W_ih packed once when W_hh is). */
    float *bias = input_bias(t, c);
    if ((c->b_ih || c->b_hh) && !bias) return 0;
    if (c->keep) {
        if (bias)
            for (size_t r = 0; r < TB; r++)
                memcpy(c->gates + r * GH, bias, (size_t)GH * sizeof(float));
        rc_gemm(0, 1, (int)TB, GH, I, 1.0f, c->xs, I, c->w_ih->value.data, I,
                bias ? 1.0f : 0.0f, c->gates, GH);
    } else {
        c->bias = bias;
        if (use_packed(c)) {
            c->w_ih_packed = pack_weights(t, 1, I, GH, c->w_ih->value.data, I);
            if (!c->w_ih_packed) return 0;
        }
    }

    if (c->h0) memcpy(c->hs, c->h0->value.data, BP * sizeof(float));
    else memset(c->hs, 0, BP * sizeof(float));
    if (is_lstm(c)) {
        if (c->c0) memcpy(c->cs, c->c0->value.data, BH * sizeof(float));
        else memset(c->cs, 0, BH * sizeof(float));
    }
    /* y stays zero where a row has ended (or, reversed, not yet begun). */
    int padded = 0;
    for (int b = 0; b < B; b++) padded |= c->len[b] < T;
    if (y && padded) memset(y, 0, TB * P * sizeof(float));

    /* 2. The time loop. W_hh^T is packed once for all steps. */
    double t0 = clock_now();
    float *w_packed = packed_weights(t, c, 1);
    if (use_packed(c) && !w_packed) return 0;
    int parts = loop_parts(c), nb = blocks_for(B, parts);
    if (parts > nb) parts = nb;
    step_blocks blocks;
    blocks_init(&blocks, B, T, nb);
    fwd_job job = {c, w_packed, hh, y, &blocks};
    rc_pool_run(parts, forward_part, &job);
    loop_seconds += clock_now() - t0;
    memcpy(h_n, c->hs + state_slot(c, T) * BP, BP * sizeof(float));
    if (is_lstm(c)) memcpy(c_n, c->cs + state_slot(c, T) * BH, BH * sizeof(float));
    return 1;
}

/* ----------------------------------------------------------- backward -- */

/* acc[j] += sum over rows of d[r][j], and the same into acc2 (when not
 * NULL) in the same pass: the bias gradients, b_ih's and b_hh's from one
 * array but for the GRU. Split by columns over the pool; each column is
 * summed in row order whatever the split. */
typedef struct {
    float *acc, *acc2;
    const float *d;
    size_t rows;
    int cols;
} colsum_job;

static void column_sums_part(void *arg, int p, int n)
{
    const colsum_job *j = arg;
    int lo, hi;
    rc_pool_range(j->cols, p, n, 16, &lo, &hi);
    for (size_t r = 0; r < j->rows; r++) {
        const float *dr = j->d + r * (size_t)j->cols;
        for (int k = lo; k < hi; k++) j->acc[k] += dr[k];
        if (j->acc2)
            for (int k = lo; k < hi; k++) j->acc2[k] += dr[k];
    }
}

static void add_column_sums(float *acc, float *acc2, const float *d, size_t rows, int cols)
{
    colsum_job j = {acc, acc2, d, rows, cols};
    int parts = parts_for(rows * (size_t)cols);
    if (parts > cols / 32) parts = cols / 32 < 1 ? 1 : cols / 32;
    rc_pool_run(parts, column_sums_part, &j);
}

/* The cell's backward kernel on rows [lo, lo+n) of step s: from dm (the
 * gradient of the cell's output m: h, or what W_hr projects), dh (of h;
 * the GRU needs it apart from dm) and dc (LSTM, of c; becomes that of the
 * previous c) to dX and dHH (the gradients of the gates' input and hidden
 * sides) and, for the GRU, dh_prev's part that skips W_hh. */
static void kernel_backward(const cell_ctx *c, int s, int lo, int n, const float *dm,
                            const float *dh, float *dc, float *dh_prev, float *dX, float *dHH)
{
    const int H = c->H, GH = c->G * c->H, P = c->P;
    const size_t BP = (size_t)c->B * P, BH = (size_t)c->B * H;
    const size_t rg = (size_t)lo * GH, rh = (size_t)lo * H, rp = (size_t)lo * P;
    const float *g = c->gates + s * (size_t)c->B * GH + rg;
    const float *hp = c->hs + s * BP, *hc = hp + BP;
    switch (c->kind) {
    case RC_CELL_RNN_TANH:
    case RC_CELL_RNN_RELU:
        rc_rnn_step_backward(n, H, is_relu(c), hc + rp, dm + rh, dX + rg);
        break;
    case RC_CELL_LSTM:
        rc_lstm_step_backward(n, H, g, c->cs + s * BH + rh, c->cs + (s + 1) * BH + rh, dm + rh,
                              dc + rh, dX + rg);
        break;
    case RC_CELL_GRU:
        rc_gru_step_backward(n, H, g, c->hn + s * BH + rh, hp + rp, dh + rp, dh_prev + rp,
                             dX + rg, dHH + rg);
        break;
    }
}

/* The time loop of backward on rows [r0, r1), steps in reverse. dh holds
 * the gradient of the last state, dc (LSTM) of the last cell state; at
 * the end the state's gradient is in dh if max_len is even, else in
 * dh_prev. */
typedef struct {
    const cell_ctx *c;
    const float *w_packed, *dy;
    float *dX, *dHH, *dh, *dh_prev, *dc, *dm, *dhs;
} bwd_job;

static void backward_rows(const bwd_job *j, int r0, int r1)
{
    const cell_ctx *c = j->c;
    const int T = c->T, B = c->B, H = c->H, P = c->P, GH = c->G * c->H, n = r1 - r0;
    const size_t BP = (size_t)B * P;
    const size_t rg = (size_t)r0 * GH, rp = (size_t)r0 * P, rh = (size_t)r0 * H;
    const int proj = c->w_hr != NULL;
    const float *w_hh = c->w_hh->value.data, *w_packed = j->w_packed, *dy = j->dy;
    float *dh = j->dh, *dh_prev = j->dh_prev, *dc = j->dc, *dm = j->dm;
    for (int s = T - 1; s >= 0; s--) {
        float *dXs = j->dX + s * (size_t)B * GH, *dHs = j->dHH + s * (size_t)B * GH;
        float *dhs_s = proj ? j->dhs + s * BP : NULL;
        int lo, hi;
        if (s >= c->max_len) { /* nothing happened at this step */
            memset(dXs + rg, 0, (size_t)n * GH * sizeof(float));
            if (dHs != dXs) memset(dHs + rg, 0, (size_t)n * GH * sizeof(float));
            if (dhs_s) memset(dhs_s + rp, 0, (size_t)n * P * sizeof(float));
            continue;
        }
        {
            /* The gradient of this step's output joins that of the state. */
            for (int b = r0; b < r1; b++) {
                int active = s < c->len[b];
                if (dy && active) {
                    const float *src = dy + ((size_t)time_of(c, s, b) * B + b) * P;
                    float *dst = dh + (size_t)b * P;
                    for (int k = 0; k < P; k++) dst[k] += src[k];
                }
                /* dh_prev: inactive rows pass theirs through; on active rows
                 * only the GRU has a part that skips W_hh (its kernel sets it). */
                if (!active)
                    memcpy(dh_prev + (size_t)b * P, dh + (size_t)b * P,
                           (size_t)P * sizeof(float));
                else if (!is_gru(c))
                    memset(dh_prev + (size_t)b * P, 0, (size_t)P * sizeof(float));
            }
            /* The gradient of m, the cell's output before the projection. */
            const float *dmv = dh;
            if (proj) {
                for (int b = r0; b < r1; b++) {
                    float *dst = dhs_s + (size_t)b * P;
                    if (s < c->len[b]) memcpy(dst, dh + (size_t)b * P, (size_t)P * sizeof(float));
                    else memset(dst, 0, (size_t)P * sizeof(float));
                }
                rc_gemm(0, 0, n, H, P, 1.0f, dhs_s + rp, P, c->w_hr->value.data, H, 0.0f,
                        dm + rh, H);
                dmv = dm;
            }
            for (lo = hi = r0; next_run(c, s, r1, &lo, &hi);)
                kernel_backward(c, s, lo, hi - lo, dmv, dh, dc, dh_prev, dXs, dHs);
            for (int b = r0; b < r1; b++)
                if (s >= c->len[b]) {
                    memset(dXs + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
                    if (dHs != dXs) memset(dHs + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
                }
            /* dh_{s} += dpre[s] W_hh (not needed past h0 unless h0 wants it). */
            if (w_packed && (s > 0 || rc_needs_grad(c->h0)))
                rc_gemm_packed(0, n, P, GH, 1.0f, dHs + rg, GH, w_packed, 1.0f, dh_prev + rp, P);
            else if (s > 0 || rc_needs_grad(c->h0))
                rc_gemm(0, 0, n, P, GH, 1.0f, dHs + rg, GH, w_hh, P, 1.0f, dh_prev + rp, P);
        }
        float *tmp = dh;
        dh = dh_prev;
        dh_prev = tmp;
    }
}

static void backward_part(void *arg, int p, int n)
{
    const bwd_job *j = arg;
    int r0, r1;
    rc_pool_range(j->c->B, p, n, 1, &r0, &r1);
    if (r1 > r0) backward_rows(j, r0, r1);
}

static void cell_backward(rc_tape *t, rc_var *out)
{
    cell_ctx *c = out->ctx;
    const int T = c->T, B = c->B, I = c->I, H = c->H, P = c->P, GH = c->G * c->H;
    const size_t TB = (size_t)T * (size_t)B, BP = (size_t)B * P, BH = (size_t)B * H;
    const int proj = c->w_hr != NULL;
    const float *dy = c->has_y ? out->grad : NULL;
    const float *dh_n = out->grad + (c->has_y ? TB * P : 0), *dc_n = dh_n + BP;

    /* dX: gradient of the input side of the gates, every step; dHH: of the
     * hidden side (the same array but for the GRU, whose n block differs). */
    float *dX = rc_tape_alloc(t, TB * GH * sizeof(float));
    float *dHH = is_gru(c) ? rc_tape_alloc(t, TB * GH * sizeof(float)) : dX;
    float *dh = rc_tape_alloc(t, BP * sizeof(float));
    float *dh_prev = rc_tape_alloc(t, BP * sizeof(float));
    float *dc = is_lstm(c) ? rc_tape_alloc(t, BH * sizeof(float)) : NULL;
    float *dm = proj ? rc_tape_alloc(t, BH * sizeof(float)) : NULL;
    float *dhs = proj ? rc_tape_alloc(t, TB * P * sizeof(float)) : NULL; /* dL/dh per step */
    if (!dX || !dHH || !dh || !dh_prev || (is_lstm(c) && !dc) || (proj && (!dm || !dhs)))
        return;
    memcpy(dh, dh_n, BP * sizeof(float));
    if (dc) memcpy(dc, dc_n, BH * sizeof(float));

    double t0 = clock_now();
    float *w_packed = packed_weights(t, c, 0);
    if (use_packed(c) && !w_packed) return;
    bwd_job job = {c, w_packed, dy, dX, dHH, dh, dh_prev, dc, dm, dhs};
    rc_pool_run(loop_parts(c), backward_part, &job);
    /* Every part swapped dh and dh_prev once a step that ran (those below
     * max_len): the state's gradient is where the last of them left it. */
    if (c->max_len % 2) dh = dh_prev;
    loop_seconds += clock_now() - t0;

    /* The weights, biases and input: one product (or sum) each. */
    if (rc_needs_grad(c->w_ih)) {
        float *d = rc_grad_of(t, c->w_ih);
        if (!d) return;
        rc_gemm(1, 0, GH, I, (int)TB, 1.0f, dX, GH, c->xs, I, 1.0f, d, I);
    }
    float *db_ih = NULL, *db_hh = NULL;
    if (rc_needs_grad(c->b_ih) && !(db_ih = rc_grad_of(t, c->b_ih))) return;
    if (rc_needs_grad(c->b_hh) && !(db_hh = rc_grad_of(t, c->b_hh))) return;
    if (dHH == dX && db_ih && db_hh) {
        add_column_sums(db_ih, db_hh, dX, TB, GH);
    } else {
        if (db_ih) add_column_sums(db_ih, NULL, dX, TB, GH);
        if (db_hh) add_column_sums(db_hh, NULL, dHH, TB, GH);
    }
    if (rc_needs_grad(c->w_hh)) {
        float *d = rc_grad_of(t, c->w_hh);
        if (!d) return;
        rc_gemm(1, 0, GH, P, (int)TB, 1.0f, dHH, GH, c->hs, P, 1.0f, d, P);
    }
    if (proj && rc_needs_grad(c->w_hr)) {
        float *d = rc_grad_of(t, c->w_hr);
        if (!d) return;
        rc_gemm(1, 0, P, H, (int)TB, 1.0f, dhs, P, c->ms, H, 1.0f, d, H);
    }
    if (rc_needs_grad(c->x)) {
        float *d = rc_grad_of(t, c->x);
        if (!d) return;
        if (!c->reverse) {
            rc_gemm(0, 0, (int)TB, I, GH, 1.0f, dX, GH, c->w_ih->value.data, I, 1.0f, d, I);
        } else { /* into step order, then back to each row's time positions */
            float *dxs = rc_tape_alloc(t, TB * I * sizeof(float));
            if (!dxs) return;
            rc_gemm(0, 0, (int)TB, I, GH, 1.0f, dX, GH, c->w_ih->value.data, I, 0.0f, dxs, I);
            for (int s = 0; s < T; s++)
                for (int b = 0; b < B; b++) {
                    if (s >= c->len[b]) continue;
                    const float *src = dxs + ((size_t)s * B + b) * I;
                    float *dst = d + ((size_t)time_of(c, s, b) * B + b) * I;
                    for (int j = 0; j < I; j++) dst[j] += src[j];
                }
        }
    }
    if (rc_needs_grad(c->h0)) {
        float *d = rc_grad_of(t, c->h0);
        if (!d) return;
        for (size_t k = 0; k < BP; k++) d[k] += dh[k];
    }
    if (rc_needs_grad(c->c0)) {
        float *d = rc_grad_of(t, c->c0);
        if (!d) return;
        for (size_t k = 0; k < BH; k++) d[k] += dc[k];
    }
}

/* ------------------------------------------------- checks, the two ops -- */

static const rc_op op_sequence[4] = {
    {"rnn_tanh_sequence", cell_backward},
    {"rnn_relu_sequence", cell_backward},
    {"lstm_sequence", cell_backward},
    {"gru_sequence", cell_backward},
};
static const rc_op op_step[4] = {
    {"rnn_tanh_step", cell_backward},
    {"rnn_relu_step", cell_backward},
    {"lstm_step", cell_backward},
    {"gru_step", cell_backward},
};

static int is_2d(const rc_var *v, int d0, int d1)
{
    return v->value.ndim == 2 && v->value.shape[0] == d0 && v->value.shape[1] == d1;
}

/* Checks the weights and states against x's B and I; fills c's sizes and
 * inputs. Returns 0 (tape failed, the message naming `op`) on a mismatch. */
static int check_cell(rc_tape *t, const char *op, rc_cell_kind kind, const rc_cell_weights *w,
                      int B, int I, rc_var *h0, rc_var *c0, const rc_var *x, cell_ctx *c)
{
    int G = rc_cell_gates(kind);
    if (!G) {
        rc_tape_fail(t, RC_ERR_ARG, "%s: unknown cell kind %d", op, (int)kind);
        return 0;
    }
    if (!w || !w->w_ih || !w->w_hh) {
        rc_tape_fail(t, RC_ERR_ARG, "%s: %s NULL (a %s needs at least w_ih and w_hh)", op,
                     !w ? "the weights are" : !w->w_ih ? "w_ih is" : "w_hh is",
                     rc_cell_name(kind));
        return 0;
    }
    const rc_var *w_ih = w->w_ih, *w_hh = w->w_hh;
    if (w_ih->value.ndim != 2 || w_ih->value.shape[0] < G || w_ih->value.shape[0] % G) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: w_ih is %s; expected [%d*H x I]: %d gate block%s "
                     "of the hidden size H by the input size", op, rc_vshape(w_ih), G, G,
                     G > 1 ? "s" : "");
        return 0;
    }
    int H = w_ih->value.shape[0] / G;
    if (w_ih->value.shape[1] != I) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: w_ih is %s but x is %s: expected [%dx%d] (input "
                     "size %d)", op, rc_vshape(w_ih), rc_vshape(x), G * H, I, I);
        return 0;
    }
    int P = H;
    if (w->w_hr) {
        if (kind != RC_CELL_LSTM) {
            rc_tape_fail(t, RC_ERR_ARG, "%s: w_hr is given, but only an LSTM has a "
                         "projection", op);
            return 0;
        }
        if (w->w_hr->value.ndim != 2 || w->w_hr->value.shape[1] != H ||
            w->w_hr->value.shape[0] < 1) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: w_hr is %s; expected [P x %d] (hidden size %d "
                         "from w_ih %s)", op, rc_vshape(w->w_hr), H, H, rc_vshape(w_ih));
            return 0;
        }
        P = w->w_hr->value.shape[0];
    }
    if (!is_2d(w_hh, G * H, P)) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: w_hh is %s; expected [%dx%d] (%d gate block%s of "
                     "hidden size %d, by %s %d)", op, rc_vshape(w_hh), G * H, P, G,
                     G > 1 ? "s" : "", H, w->w_hr ? "proj size" : "hidden size", P);
        return 0;
    }
    const rc_var *bs[2] = {w->b_ih, w->b_hh};
    for (int k = 0; k < 2; k++)
        if (bs[k] && (bs[k]->value.ndim != 1 || bs[k]->value.shape[0] != G * H)) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: %s is %s; expected [%d] (%d gate block%s of "
                         "hidden size %d)", op, k ? "b_hh" : "b_ih", rc_vshape(bs[k]), G * H,
                         G, G > 1 ? "s" : "", H);
            return 0;
        }
    if (h0 && !is_2d(h0, B, P)) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: the state h is %s; expected [%dx%d] (batch %d "
                     "from x %s, %s %d)", op, rc_vshape(h0), B, P, B, rc_vshape(x),
                     w->w_hr ? "proj size" : "hidden size", P);
        return 0;
    }
    if (c0 && kind != RC_CELL_LSTM) {
        rc_tape_fail(t, RC_ERR_ARG, "%s: a cell state c is given, but only an LSTM has one "
                     "(this is %s)", op, rc_cell_name(kind));
        return 0;
    }
    if (c0 && !is_2d(c0, B, H)) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: the cell state c is %s; expected [%dx%d] (batch "
                     "%d, hidden size %d)", op, rc_vshape(c0), B, H, B, H);
        return 0;
    }
    c->kind = kind;
    c->B = B;
    c->I = I;
    c->H = H;
    c->P = P;
    c->G = G;
    c->h0 = h0;
    c->c0 = c0;
    c->w_ih = w->w_ih;
    c->w_hh = w->w_hh;
    c->b_ih = w->b_ih;
    c->b_hh = w->b_hh;
    c->w_hr = w->w_hr;
    return 1;
}

/* Makes the node (value: y if has_y, then h_n, then c_n for LSTM), runs
 * forward, and returns it; NULL when the tape failed. */
static rc_var *cell_node(rc_tape *t, const rc_op *op, cell_ctx *proto)
{
    rc_var *in[8];
    int n_in = 0;
    rc_var *all[8] = {proto->x,    proto->h0,   proto->c0,   proto->w_ih,
                      proto->w_hh, proto->b_ih, proto->b_hh, proto->w_hr};
    for (int k = 0; k < 8; k++)
        if (all[k]) in[n_in++] = all[k];
    size_t TB = (size_t)proto->T * proto->B;
    size_t size = (proto->has_y ? TB * proto->P : 0) + (size_t)proto->B * proto->P +
                  (proto->kind == RC_CELL_LSTM ? (size_t)proto->B * proto->H : 0);
    if (size > (size_t)INT32_MAX)
        return rc_tape_fail(t, RC_ERR_SHAPE, "%s: the outputs (%zu numbers) are too large",
                            op->name, size);
    int shape = (int)size;
    rc_var *v = rc_node_new(t, op, 1, &shape, n_in, in);
    cell_ctx *c = v ? rc_tape_alloc(t, sizeof *c) : NULL;
    if (!c) return NULL;
    *c = *proto;
    c->keep = v->requires_grad;
    v->ctx = c;
    if (!cell_forward(t, c, v->value.data)) return NULL;
    return v;
}

rc_status rc_cell_sequence(rc_tape *t, rc_cell_kind kind, const rc_cell_weights *w,
                           rc_var *x, rc_var *h0, rc_var *c0, const int32_t *lengths,
                           int reverse, rc_var **y, rc_var **h_n, rc_var **c_n)
{
    if (y) *y = NULL;
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    const char *op = (kind >= RC_CELL_RNN_TANH && kind <= RC_CELL_GRU)
                         ? op_sequence[kind].name : "cell_sequence";
    if (!rc_op_check_inputs(t, op, 1, &x)) return t ? rc_tape_status(t) : RC_ERR_ARG;
    if (x->value.ndim != 3 || x->value.shape[0] < 1 || x->value.shape[1] < 1 ||
        x->value.shape[2] < 1) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: x is %s; expected [T x B x I] (steps, batch, "
                     "input size; time-major)", op, rc_vshape(x));
        return rc_tape_status(t);
    }
    int T = x->value.shape[0], B = x->value.shape[1], I = x->value.shape[2];
    cell_ctx c;
    memset(&c, 0, sizeof c);
    if (!check_cell(t, op, kind, w, B, I, h0, c0, x, &c)) return rc_tape_status(t);
    c.T = T;
    c.x = x;
    c.reverse = reverse != 0;
    c.has_y = 1;
    c.len = rc_tape_alloc(t, (size_t)B * sizeof *c.len);
    if (!c.len) return rc_tape_status(t);
    c.max_len = 0;
    for (int b = 0; b < B; b++) {
        int L = lengths ? lengths[b] : T;
        if (L < 1 || L > T) {
            rc_tape_fail(t, RC_ERR_RANGE, "%s: lengths[%d] = %d is outside 1..%d (x is %s)",
                         op, b, L, T, rc_vshape(x));
            return rc_tape_status(t);
        }
        c.len[b] = L;
        if (L > c.max_len) c.max_len = L;
    }
    const rc_op *node_op = &op_sequence[kind];
    rc_var *v = cell_node(t, node_op, &c);
    if (!v) return rc_tape_status(t);
    int P = c.P, H = c.H;
    size_t off_h = (size_t)T * B * P;
    int sy[3] = {T, B, P}, sh[2] = {B, P}, sc[2] = {B, H};
    if (y && !(*y = rc_view(t, v, 0, 3, sy))) return rc_tape_status(t);
    if (h_n && !(*h_n = rc_view(t, v, off_h, 2, sh))) return rc_tape_status(t);
    if (c_n && kind == RC_CELL_LSTM && !(*c_n = rc_view(t, v, off_h + (size_t)B * P, 2, sc)))
        return rc_tape_status(t);
    return RC_OK;
}

/* One step: the sequence machinery with T = 1 and no y. A row whose mask
 * is 0 keeps its state (any other value runs the row; it is not a blend). */
rc_status rc_cell_step(rc_tape *t, rc_cell_kind kind, const rc_cell_weights *w,
                       rc_var *x, rc_var *h, rc_var *c, const float *mask,
                       rc_var **h_out, rc_var **c_out)
{
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    const char *op = (kind >= RC_CELL_RNN_TANH && kind <= RC_CELL_GRU)
                         ? op_step[kind].name : "cell_step";
    if (!rc_op_check_inputs(t, op, 1, &x)) return t ? rc_tape_status(t) : RC_ERR_ARG;
    if (x->value.ndim != 2 || x->value.shape[0] < 1 || x->value.shape[1] < 1) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: x is %s; expected [B x I] (batch, input size)", op,
                     rc_vshape(x));
        return rc_tape_status(t);
    }
    int B = x->value.shape[0], I = x->value.shape[1];
    cell_ctx cc;
    memset(&cc, 0, sizeof cc);
    if (!check_cell(t, op, kind, w, B, I, h, c, x, &cc)) return rc_tape_status(t);
    cc.T = 1;
    cc.x = x;
    cc.has_y = 0;
    cc.len = rc_tape_alloc(t, (size_t)B * sizeof *cc.len);
    if (!cc.len) return rc_tape_status(t);
    cc.max_len = 0;
    for (int b = 0; b < B; b++) {
        cc.len[b] = (!mask || mask[b] != 0.0f) ? 1 : 0;
        if (cc.len[b]) cc.max_len = 1;
    }
    rc_var *v = cell_node(t, &op_step[kind], &cc);
    if (!v) return rc_tape_status(t);
    int sh[2] = {B, cc.P}, sc[2] = {B, cc.H};
    if (h_out && !(*h_out = rc_view(t, v, 0, 2, sh))) return rc_tape_status(t);
    if (c_out && kind == RC_CELL_LSTM && !(*c_out = rc_view(t, v, (size_t)B * cc.P, 2, sc)))
        return rc_tape_status(t);
    return RC_OK;
}
