/*
 * internal.h - what the library's own files share and users do not see:
 * raising errors, and the helpers an op uses to make its node on the tape.
 */
#ifndef RECUR_INTERNAL_H
#define RECUR_INTERNAL_H

#include "recur.h"

#include <stdarg.h>

#if defined(__GNUC__)
#define RC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RC_PRINTF(a, b)
#endif

/* Sets this thread's error message (printf-style) and returns s. */
rc_status rc_error(rc_status s, const char *fmt, ...) RC_PRINTF(2, 3);

/* Formats a variable's shape for messages; uses one of a few rotating
 * buffers, so several can appear in one message. */
const char *rc_vshape(const rc_var *v);

/* ---- making nodes (autograd/tape.c) ---- */

/* Records a failure on the tape (the first one sticks) and returns NULL. */
rc_var *rc_tape_fail(rc_tape *t, rc_status s, const char *fmt, ...) RC_PRINTF(3, 4);

/* Checks that t is usable and that none of the n inputs is NULL; on a
 * NULL input it returns 0 and leaves an error naming the op (or keeps the
 * earlier error that made the input NULL). */
int rc_op_check_inputs(rc_tape *t, const char *op, int n, rc_var *const *in);

/* A new node of `op` with the given output shape and inputs: its value is
 * allocated (uninitialised) in the arena, requires_grad is set when grad
 * mode is on and any input requires it. NULL (tape failed) on error. */
rc_var *rc_node_new(rc_tape *t, const rc_op *op, int ndim, const int *shape,
                    int n_in, rc_var *const *in);

/* Arena memory for op contexts (NULL sets the tape's error). */
void *rc_tape_alloc(rc_tape *t, size_t bytes);

/* A B used by many products (the recurrent weights in a time loop), packed
 * once for the portable kernel (gemm_portable.c): op(B) is [K x N];
 * rc_gemm_packed_floats(K, N) floats hold it. Then
 *   C[M x N] = alpha * op(A) * op(B) + beta * C
 * with rc_gemm_packed as rc_gemm_portable would compute it. */
size_t rc_gemm_packed_floats(int K, int N);
/* The threads an rc_gemm call runs on (matmul.c): 1 for the portable
 * kernel, OpenBLAS's own count, 0 when not known. */
int rc_gemm_threads(void);
void rc_gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb, float *packed);
/* The same, only part `part` (0 .. parts-1) of B's columns: the parts
 * together write what rc_gemm_pack_b does. */
void rc_gemm_pack_b_part(int trans_b, int K, int N, const float *B, int ldb, float *packed,
                         int part, int parts);
void rc_gemm_packed(int trans_a, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *packed, float beta, float *C, int ldc);

/* recur's thread pool (pool.c). rc_pool_run(parts, fn, arg) calls
 * fn(arg, p, n) for p = 0 .. n-1, n = min(parts, the pool's threads), one
 * part per thread, and returns when all are done; the parts must write
 * disjoint memory. Inside a part (or while another application thread
 * holds the pool) the parts run one after the other on the caller.
 * rc_pool_threads(): the parts a call made here would run at once (1
 * inside a part). rc_pool_set_size: rc_set_threads's half; not while a
 * job runs. */
typedef void (*rc_pool_fn)(void *arg, int part, int parts);
void rc_pool_run(int parts, rc_pool_fn fn, void *arg);
int rc_pool_threads(void);
int rc_pool_size(void);
void rc_pool_set_size(int n);
int rc_pool_online_cpus(void);
/* [lo, hi) of part p of n over [0, len), boundaries on multiples of align
 * (except len itself). */
static inline void rc_pool_range(int len, int p, int n, int align, int *lo, int *hi)
{
    int units = (len + align - 1) / align;
    *lo = (int)((long)units * p / n) * align;
    *hi = p + 1 == n ? len : (int)((long)units * (p + 1) / n) * align;
    if (*lo > len) *lo = len;
    if (*hi > len) *hi = len;
}

/* The gradient buffer of v, allocated zeroed on first use. Only for
 * variables with requires_grad. */
float *rc_grad_of(rc_tape *t, rc_var *v);

/* Does this variable need a gradient (is non-NULL and requires one)? */
static inline int rc_needs_grad(const rc_var *v) { return v && v->requires_grad; }

/* A view of part of x's data: elements [offset, offset + size of shape)
 * of x's flat value, with the given shape, sharing x's memory (no copy).
 * Backward adds the view's gradient into that part of x's gradient. This
 * is how an op with several outputs (a sequence op's y, h_n, c_n) returns
 * them: one node holds all outputs back to back, and each is a view. */
rc_var *rc_view(rc_tape *t, rc_var *x, size_t offset, int ndim, const int *shape);

#endif
