/* gemm_portable.c - the matrix multiply used when no BLAS is available.
 *
 * Organisation (the Goto / BLIS scheme; docs/performance.md has numbers):
 *   - op(B) is cut into kc x nc panels packed into NR-column slivers, op(A)
 *     into mc x kc blocks packed into MR-row slivers, so the micro-kernel
 *     reads both with unit stride whatever the transposes (the blocks are
 *     sized from KC, MC, NC below and the shape);
 *   - the micro-kernel keeps an MR x NR tile of C in registers and does a
 *     rank-1 update per k: NR/8 loads of B, MR broadcasts of A, MR*NR/8
 *     FMAs. A block whose rows are not a multiple of MR ends in slivers of
 *     4 (or 3, 5) rows, not in a padded one: M = 32 is 6+6+6+6+4+4;
 *   - the kernels are written once on GCC/clang vector types, for vectors
 *     of VW floats (the second half of this file, included twice: VW 8 and
 *     VW 4), and compiled per instruction set with target attributes; the
 *     best set this CPU runs is chosen at call time;
 *   - a one-row or one-column product goes to a matrix-vector routine, as
 *     packing would cost as much as the product itself.
 * Each thread packs into buffers of its own: A into a thread-local array,
 * B into a block it allocates at its first product and frees when it
 * ends (below).
 */
#ifndef RC_GEMM_BODIES
#include "../internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* MR x NR is the register tile. A KC x NR sliver of B (32 KiB) is read by
 * every tile of the MC x KC block of A (144 KiB, in L2) while the next
 * sliver is fetched (the first tile of a sliver prefetches it); the KC x NC
 * panel of B is 512 KiB. KC 512 rather than 256: K = 512 (a hidden size of
 * 512) in one block, C loaded and stored once; it and the prefetch were
 * measured together, 1.0 to 1.1 times the speed of KC 256 without it on
 * the workloads' shapes, never slower (docs/performance.md). */
enum { MR = 6, NR = 16, KC = 512, MC = 72, NC = 256 };
/* Column chunk of the matrix-vector routine's accumulator (in L1), and the
 * chunk a strided vector is copied in. */
enum { JB = 1024, DOT_CHUNK = 1024 };

#if (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6)) && !defined(__TINYC__)
#define RC_VEC 1
#else
#define RC_VEC 0
#endif

#if RC_VEC && (defined(__x86_64__) || defined(__i386__))
#define RC_X86 1
#else
#define RC_X86 0
#endif

#if RC_VEC && !defined(__clang__)
/* GCC does not fuse a*b+c into an FMA in ISO C mode; the kernel needs it
 * (clang fuses within an expression by default). */
#pragma GCC optimize("fp-contract=fast")
#endif

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* A sliver of B is NR*kc floats, a multiple of 4 KiB for kc = 64, 128...:
 * a cache line between slivers keeps the rows of different slivers out of
 * one L1 set while packing. */
#define B_SLIVER(kc) ((size_t)NR * (kc) + 16)
/* The A block, 144 KiB of thread-local storage: all that the packed
 * product of a recurrent step needs. */
static _Thread_local _Alignas(64) float pack_a_buf[MC * KC];
enum { PACK_B_FLOATS = (NC / NR) * (NR * KC + 16) };

/* The B panel (513 KiB), allocated by each thread at its first product.
 * Not thread-local storage like the A block: glibc carves static TLS out
 * of every thread's stack, the application's threads too, and a program
 * that starts threads with stacks smaller than that could not start them
 * at all (with both buffers there, 512 KiB stacks failed). A thread's
 * block is freed when it ends (a key's destructor), the main thread's at
 * exit. NULL when out of memory: rc_gemm_portable then computes row by
 * row with the matrix-vector routines, which need no buffer. */
static _Thread_local float *pack_b_mem;
static pthread_key_t pack_b_key;
static pthread_once_t pack_b_once = PTHREAD_ONCE_INIT;
static int pack_b_key_made;

static void make_pack_b_key(void) { pack_b_key_made = pthread_key_create(&pack_b_key, free) == 0; }

/* Not in recur.h: for tests/test_gemm.c, on 1 makes rc_gemm_portable go
 * the way it goes when its B panel cannot be allocated. Not thread-safe:
 * call it while no product runs. */
static int no_buffers;
void rc_gemm_portable_no_buffers(int on);
void rc_gemm_portable_no_buffers(int on) { no_buffers = on; }

static float *pack_b_buffer(void)
{
    if (no_buffers) return NULL;
    if (pack_b_mem) return pack_b_mem;
    pthread_once(&pack_b_once, make_pack_b_key);
    void *p = NULL;
    if (!pack_b_key_made ||
        posix_memalign(&p, 64, PACK_B_FLOATS * sizeof(float)) != 0)
        return NULL;
    pthread_setspecific(pack_b_key, p);
    return pack_b_mem = p;
}

__attribute__((destructor)) static void free_main_pack_b(void)
{
    if (pack_b_mem && pack_b_key_made) pthread_setspecific(pack_b_key, NULL);
    free(pack_b_mem);
    pack_b_mem = NULL;
}

/* Full unrolling of the short loops over rows and vectors, so that the
 * accumulators live in registers: clang wants its own pragma (with GCC's
 * and a count above the trip count it leaves the loop rolled). */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define UNROLL _Pragma("GCC unroll 8")
#else
#define UNROLL
#endif

/* The k loop of a tile, unrolled 4 times: rolled, its 20 vector
 * instructions and 4 of loop control ran at 0.75-0.85 of the FMA peak on
 * Zen 3 even with A and B in L1, unrolled at 0.9-1.0 (docs/performance.md,
 * "The k loop unrolled"). */
#if defined(__clang__)
#define UNROLL_K _Pragma("unroll 4")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define UNROLL_K _Pragma("GCC unroll 4")
#else
#define UNROLL_K
#endif

#if RC_VEC
#define AI __attribute__((always_inline))
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
/* memcpy: unaligned, and no aliasing question; compiles to one move. */
#define LOADV(x, p) memcpy(&(x), (p), sizeof(x))
#define STOREV(p, x) memcpy((p), &(x), sizeof(x))
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define HAVE_SHUFFLEVECTOR 1
#endif
#endif
#ifndef HAVE_SHUFFLEVECTOR /* GCC before 12 has __builtin_shuffle */
#define HAVE_SHUFFLEVECTOR 0
typedef int vi8 __attribute__((vector_size(32)));
typedef int vi4 __attribute__((vector_size(16)));
#endif
#else
#define AI
#endif

/* ------------------------------------------------------------ packing -- */

/* The rows of the A sliver at row ir of an mc-row block: MR, except that
 * the last 7 or 8 rows are cut 4 + 3 or 4 + 4 (two tiles that keep the FMA
 * units busy, where 6 + 1 or 6 + 2 would leave a nearly idle one). */
static inline int sliver_rows(int mc, int ir)
{
    int left = mc - ir;
    return left == 7 || left == 8 ? 4 : MIN(MR, left);
}

/* One sliver of h rows: kc columns of h numbers. */
static inline AI void pack_a_sliver(int ta, const float *a, size_t lda, int kc,
                                    float *restrict dst, const int h)
{
    if (!ta) { /* element (i, k) at a[i*lda + k] */
        for (int k = 0; k < kc; k++) {
            UNROLL
            for (int i = 0; i < h; i++) dst[k * h + i] = a[i * lda + k];
        }
    } else { /* element (i, k) at a[k*lda + i] */
        for (int k = 0; k < kc; k++) {
            UNROLL
            for (int i = 0; i < h; i++) dst[k * h + i] = a[k * lda + i];
        }
    }
}

/* op(A)[i0.., k0..] (mc x kc) into slivers of sliver_rows() rows. */
static inline AI void pack_a_body(int ta, const float *A, size_t lda, int i0, int k0, int mc,
                                  int kc, float *restrict dst)
{
    for (int ir = 0, h; ir < mc; ir += h, dst += (size_t)h * kc) {
        h = sliver_rows(mc, ir);
        const float *a = A + (ta ? (size_t)k0 * lda + (size_t)(i0 + ir)
                                 : (size_t)(i0 + ir) * lda + (size_t)k0);
        /* A constant h for each, so the row loop unrolls. */
        switch (h) {
        case 6: pack_a_sliver(ta, a, lda, kc, dst, 6); break;
        case 5: pack_a_sliver(ta, a, lda, kc, dst, 5); break;
        case 4: pack_a_sliver(ta, a, lda, kc, dst, 4); break;
        case 3: pack_a_sliver(ta, a, lda, kc, dst, 3); break;
        case 2: pack_a_sliver(ta, a, lda, kc, dst, 2); break;
        default: pack_a_sliver(ta, a, lda, kc, dst, 1); break;
        }
    }
}

/* ------------------------------------------------------- the kernels -- */

#if RC_VEC
/* The bodies for vectors of 8 floats (AVX) and of 4 (SSE, NEON): the
 * second half of this file, twice. */
#define RC_GEMM_BODIES
#define VW 8
#include "gemm_portable.c"
#undef VW
#define VW 4
#include "gemm_portable.c"
#undef VW
#undef RC_GEMM_BODIES

#else /* no vector extensions: plain loops, left to the auto-vectorizer */

static inline void tile_body_4(int kc, const float *restrict pa, const float *restrict pb,
                               float *restrict c, size_t ldc, float alpha, float beta,
                               const int rows, const int j0, const float *pf)
{
    (void)pf;
    float acc[MR][8] = {{0}};
    pb += j0;
    for (int k = 0; k < kc; k++, pa += rows, pb += NR)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < 8; j++) acc[i][j] += pa[i] * pb[j];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < 8; j++) {
            float *cp = c + i * ldc + j0 + j;
            *cp = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * *cp);
        }
}

static inline void transpose_n(const float *src, size_t lds, float *dst, int n)
{
    for (int i = 0; i < n; i++)
        for (int q = 0; q < n; q++) dst[q * NR + i] = src[i * lds + q];
}
#define transpose_8(s, l, d) transpose_n(s, l, d, 8)
#define transpose_4(s, l, d) transpose_n(s, l, d, 4)

static inline void dot_body_4(int R, int L, const float *X, size_t ldx, const float *v,
                              float *y, size_t incy, float alpha, float beta)
{
    for (int r = 0; r < R; r++) {
        const float *x = X + (size_t)r * ldx;
        float s[8] = {0};
        int k = 0;
        for (; k + 8 <= L; k += 8)
            for (int q = 0; q < 8; q++) s[q] += x[k + q] * v[k + q];
        float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
        for (; k < L; k++) t += x[k] * v[k];
        float *yp = y + (size_t)r * incy;
        *yp = alpha * t + (beta == 0.0f ? 0.0f : beta * *yp);
    }
}

static inline void axpy_body_4(int R, int L, const float *X, size_t ldx, const float *v,
                               size_t incv, float *y, size_t incy, float alpha, float beta)
{
    float acc[JB];
    for (int j0 = 0; j0 < L; j0 += JB) {
        int jb = MIN(JB, L - j0);
        memset(acc, 0, (size_t)jb * sizeof(float));
        for (int r = 0; r < R; r++) {
            const float *x = X + (size_t)r * ldx + j0;
            float vr = v[r * incv];
            for (int j = 0; j < jb; j++) acc[j] += vr * x[j];
        }
        float *yp = y + (size_t)j0 * incy;
        for (int j = 0; j < jb; j++)
            yp[j * incy] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * yp[j * incy]);
    }
}
#endif

/* op(B)[k0.., j0..] (kc x nc) into NR-column slivers, zero-padded past nc.
 * tw: the width of the square blocks transposed in registers (8 or 4). */
static inline AI void pack_b_body(int tb, const float *B, size_t ldb, int k0, int j0, int kc,
                                  int nc, float *restrict dst, const int tw)
{
    if (!tb) {
        /* element (k, j) at B[k*ldb + j]. Row by row across the slivers:
         * long unit-stride reads that the prefetcher follows (sliver by
         * sliver, each 64-byte read would be a new row, often a new page). */
        for (int k = 0; k < kc; k++) {
            const float *b = B + (size_t)(k0 + k) * ldb + j0;
            float *d = dst + (size_t)k * NR;
            int jr = 0;
            for (; jr + NR <= nc; jr += NR, d += B_SLIVER(kc)) memcpy(d, b + jr, NR * sizeof(float));
            if (jr < nc)
                for (int j = 0; j < NR; j++) d[j] = jr + j < nc ? b[jr + j] : 0.0f;
        }
        return;
    }
    /* element (k, j) at B[j*ldb + k]: tw x tw blocks transposed in
     * registers; each sliver reads NR rows of B with unit stride. */
    for (int jr = 0; jr < nc; jr += NR, dst += B_SLIVER(kc)) {
        int nr = MIN(NR, nc - jr);
        const float *b = B + (size_t)(j0 + jr) * ldb + k0;
        int k = 0;
        if (nr == NR)
            for (; k + tw <= kc; k += tw)
                for (int j = 0; j < NR; j += tw) {
                    if (tw == 8) transpose_8(b + (size_t)j * ldb + k, ldb, dst + (size_t)k * NR + j);
                    else transpose_4(b + (size_t)j * ldb + k, ldb, dst + (size_t)k * NR + j);
                }
        for (; k < kc; k++)
            for (int j = 0; j < NR; j++) dst[k * NR + j] = j < nr ? b[j * ldb + k] : 0.0f;
    }
}

/* One kernel set per instruction set: the same bodies, compiled for it. */
typedef void (*tile_fn)(int kc, const float *pa, const float *pb, float *c, size_t ldc,
                        float alpha, float beta, const float *pf);
typedef struct kernel_set {
    const char *name;
    tile_fn tile[MR + 1]; /* by the number of rows */
    void (*pack_a)(int ta, const float *A, size_t lda, int i0, int k0, int mc, int kc,
                   float *dst);
    void (*pack_b)(int tb, const float *B, size_t ldb, int k0, int j0, int kc, int nc,
                   float *dst);
    void (*dot)(int R, int L, const float *X, size_t ldx, const float *v, float *y,
                size_t incy, float alpha, float beta);
    void (*axpy)(int R, int L, const float *X, size_t ldx, const float *v, size_t incv,
                 float *y, size_t incy, float alpha, float beta);
} kernel_set;

/* A tile of H rows: 16 columns at once with vectors of 8, or as two halves
 * of 8 columns with vectors of 4 (12 accumulators either way). */
#define TILE_8(H) tile_body_8(kc, pa, pb, c, ldc, alpha, beta, H, 0, pf)
#define TILE_4(H)                                                                          \
    (tile_body_4(kc, pa, pb, c, ldc, alpha, beta, H, 0, pf),                               \
     tile_body_4(kc, pa, pb, c, ldc, alpha, beta, H, 8, NULL))
#define TILE_FN(SUF, ATTR, W, H)                                                           \
    ATTR static void tile##H##_##SUF(int kc, const float *pa, const float *pb, float *c,   \
                                     size_t ldc, float alpha, float beta, const float *pf) \
    {                                                                                      \
        TILE_##W(H);                                                                       \
    }

/* W: the vector width the set's bodies use (8 or 4). */
#define KERNEL_SET(SUF, NAME, ATTR, W)                                                    \
    TILE_FN(SUF, ATTR, W, 1)                                                               \
    TILE_FN(SUF, ATTR, W, 2)                                                               \
    TILE_FN(SUF, ATTR, W, 3)                                                               \
    TILE_FN(SUF, ATTR, W, 4)                                                               \
    TILE_FN(SUF, ATTR, W, 5)                                                               \
    TILE_FN(SUF, ATTR, W, 6)                                                               \
    ATTR static void pack_a_##SUF(int ta, const float *A, size_t lda, int i0, int k0,      \
                                  int mc, int kc, float *dst)                              \
    {                                                                                      \
        pack_a_body(ta, A, lda, i0, k0, mc, kc, dst);                                      \
    }                                                                                      \
    ATTR static void pack_b_##SUF(int tb, const float *B, size_t ldb, int k0, int j0,      \
                                  int kc, int nc, float *dst)                              \
    {                                                                                      \
        pack_b_body(tb, B, ldb, k0, j0, kc, nc, dst, W);                                   \
    }                                                                                      \
    ATTR static void dot_##SUF(int R, int L, const float *X, size_t ldx, const float *v,   \
                               float *y, size_t incy, float alpha, float beta)             \
    {                                                                                      \
        dot_body_##W(R, L, X, ldx, v, y, incy, alpha, beta);                               \
    }                                                                                      \
    ATTR static void axpy_##SUF(int R, int L, const float *X, size_t ldx, const float *v,  \
                                size_t incv, float *y, size_t incy, float alpha,           \
                                float beta)                                                \
    {                                                                                      \
        axpy_body_##W(R, L, X, ldx, v, incv, y, incy, alpha, beta);                        \
    }                                                                                      \
    static const kernel_set set_##SUF = {                                                  \
        NAME,                                                                              \
        {NULL, tile1_##SUF, tile2_##SUF, tile3_##SUF, tile4_##SUF, tile5_##SUF,            \
         tile6_##SUF},                                                                     \
        pack_a_##SUF, pack_b_##SUF, dot_##SUF, axpy_##SUF};

/* Baseline (SSE2 on x86-64, NEON on arm64): vectors of 4. */
KERNEL_SET(generic, "generic", , 4)
#if RC_X86
KERNEL_SET(avx, "avx", __attribute__((target("avx"))), 8)
KERNEL_SET(avx2, "avx2+fma", __attribute__((target("avx2,fma"))), 8)
static const kernel_set *const sets[] = {&set_generic, &set_avx, &set_avx2};
#else
static const kernel_set *const sets[] = {&set_generic};
#endif
enum { N_SETS = (int)(sizeof sets / sizeof sets[0]) };

/* The best set this CPU runs (the index into sets). */
static int best_set(void)
{
#if RC_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx")) return 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    return 1;
#else
    return 0;
#endif
}

static int forced_set = -1;

/* Not in recur.h: for the tests and the benchmark. isa >= 0 forces kernel
 * set isa (0 generic, 1 avx, 2 avx2+fma) if this CPU runs it, -1 goes back
 * to the automatic choice; returns the name of the set now used. Not
 * thread-safe: call it while no multiply runs. */
const char *rc_gemm_portable_kernel(int isa);
const char *rc_gemm_portable_kernel(int isa)
{
    int best = best_set();
    forced_set = isa >= 0 && isa <= best && isa < N_SETS ? isa : -1;
    return sets[forced_set >= 0 ? forced_set : best]->name;
}

static const kernel_set *pick(void)
{
    return sets[forced_set >= 0 ? forced_set : best_set()];
}

/* ----------------------------------------------------------- drivers -- */

/* C = beta * C, where beta 0 overwrites (C may hold NaN). */
static void scale_c(int M, int N, float beta, float *C, size_t ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

/* dot with a strided v: copied into a stack buffer a chunk at a time, the
 * chunks' products summed into y. */
static void dot_strided(const kernel_set *ks, int R, int L, const float *X, size_t ldx,
                        const float *v, size_t incv, float *y, size_t incy, float alpha,
                        float beta)
{
    if (incv == 1) {
        ks->dot(R, L, X, ldx, v, y, incy, alpha, beta);
        return;
    }
    float buf[DOT_CHUNK];
    for (int k0 = 0; k0 < L; k0 += DOT_CHUNK) {
        int kl = MIN(DOT_CHUNK, L - k0);
        for (int k = 0; k < kl; k++) buf[k] = v[(size_t)(k0 + k) * incv];
        ks->dot(R, kl, X + k0, ldx, buf, y, incy, alpha, k0 == 0 ? beta : 1.0f);
    }
}

/* Splits n into ceil(n / max) near-equal blocks, rounded up to a multiple
 * of `unit`, so that no block is a sliver (K = 1025 is 344 + 344 + 337,
 * not 512 + 512 + 1). */
static int block_size(int n, int max, int unit)
{
    int nb = (n + max - 1) / max;
    int b = (n + nb - 1) / nb;
    b = (b + unit - 1) / unit * unit;
    return b > max ? max : b;
}

/* K up to 1.5 KC stays one block (C is loaded and stored once, B packed
 * once); longer K is cut into near-equal blocks of at most KC. */
static int k_block(int K) { return K <= KC + KC / 2 ? K : block_size(K, KC, 8); }

/* The A block and the B panel hold fewer rows and columns when kc is
 * long, so that they take the same bytes whatever kc. */
static int m_block(int M, int kcb) { return block_size(M, MC * KC / kcb / MR * MR, MR); }

/* C[mc x nc] (+)= alpha * (packed A block) (packed B slivers, `bstride`
 * floats apart): every MR x NR tile, the partial ones at the right edge
 * through a buffer. The first tile of each sliver prefetches the next. */
static void macro_kernel(const kernel_set *ks, int mc, int nc, int kc, const float *pa,
                         const float *pb, size_t bstride, float alpha, float bet, float *C,
                         size_t ldc)
{
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = MIN(NR, nc - jr);
        const float *b = pb + (size_t)(jr / NR) * bstride;
        const float *next = jr + NR < nc ? b + bstride : NULL;
        for (int ir = 0, h; ir < mc; ir += h, next = NULL) {
            h = sliver_rows(mc, ir);
            const float *a = pa + (size_t)ir * kc;
            float *c = C + (size_t)ir * ldc + jr;
            if (nr == NR) {
                ks->tile[h](kc, a, b, c, ldc, alpha, bet, next);
                continue;
            }
            /* Past the last column: the whole tile into a buffer, then
             * the part that exists into C. */
            _Alignas(32) float t[MR * NR];
            ks->tile[h](kc, a, b, t, NR, alpha, 0.0f, NULL);
            for (int i = 0; i < h; i++)
                for (int j = 0; j < nr; j++) {
                    float *cp = c + (size_t)i * ldc + j;
                    *cp = t[i * NR + j] + (bet == 0.0f ? 0.0f : bet * *cp);
                }
        }
    }
}

/* c[1 x N] = alpha a . op(B) + beta c, a the K numbers of one row of op(A)
 * (inc_a apart): the rows of B [K x N] weighted by a, or one dot product
 * per row of B [N x K]. Needs no packing buffer. */
static void row_times_b(const kernel_set *ks, int trans_b, int N, int K, float alpha,
                        const float *a, size_t inc_a, const float *B, size_t ldb, float beta,
                        float *c)
{
    if (!trans_b)
        ks->axpy(K, N, B, ldb, a, inc_a, c, 1, alpha, beta);
    else
        dot_strided(ks, N, K, B, ldb, a, inc_a, c, 1, alpha, beta);
}

void rc_gemm_portable(int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, (size_t)ldc);
        return;
    }
    const kernel_set *ks = pick();
    size_t inc_a = trans_a ? (size_t)lda : 1; /* along a row of op(A) */
    if (M == 1) {
        row_times_b(ks, trans_b, N, K, alpha, A, inc_a, B, (size_t)ldb, beta, C);
        return;
    }
    if (N == 1) {
        /* c[M x 1] = op(A) b, b the K numbers of op(B)'s one column. */
        size_t inc_b = trans_b ? 1 : (size_t)ldb;
        if (!trans_a)
            dot_strided(ks, M, K, A, (size_t)lda, B, inc_b, C, (size_t)ldc, alpha, beta);
        else
            ks->axpy(K, M, A, (size_t)lda, B, inc_b, C, (size_t)ldc, alpha, beta);
        return;
    }

    float *pa = pack_a_buf, *pb = pack_b_buffer();
    if (!pb) { /* out of memory: row by row, as a one-row product is done */
        for (int i = 0; i < M; i++)
            row_times_b(ks, trans_b, N, K, alpha, trans_a ? A + i : A + (size_t)i * lda, inc_a,
                        B, (size_t)ldb, beta, C + (size_t)i * ldc);
        return;
    }
    int kcb = k_block(K);
    int nmax = (int)(PACK_B_FLOATS / B_SLIVER(kcb)) * NR;
    int mcb = m_block(M, kcb), ncb = block_size(N, nmax, NR);
    for (int jc = 0; jc < N; jc += ncb) {
        int nc = MIN(ncb, N - jc);
        for (int pc = 0; pc < K; pc += kcb) {
            int kc = MIN(kcb, K - pc);
            /* The first K block applies beta; the others add to C. */
            float bet = pc == 0 ? beta : 1.0f;
            ks->pack_b(trans_b, B, (size_t)ldb, pc, jc, kc, nc, pb);
            for (int ic = 0; ic < M; ic += mcb) {
                int mc = MIN(mcb, M - ic);
                ks->pack_a(trans_a, A, (size_t)lda, ic, pc, mc, kc, pa);
                macro_kernel(ks, mc, nc, kc, pa, pb, B_SLIVER(kc), alpha, bet,
                             C + (size_t)ic * ldc + jc, (size_t)ldc);
            }
        }
    }
}

/* ----------------------------------------------- a pre-packed op(B) -- *
 * The recurrent product of a time loop multiplies a new A (the state) by
 * the same B (W_hh^T, or W_hh in backward) at every step: B is packed once
 * into what the driver above packs it into at every call, K block after K
 * block, each the whole of N in NR-column slivers. */

size_t rc_gemm_packed_floats(int K, int N)
{
    if (K <= 0 || N <= 0) return 0;
    size_t n = 0, ns = (size_t)(N + NR - 1) / NR;
    for (int pc = 0, kcb = k_block(K); pc < K; pc += kcb) n += ns * B_SLIVER(MIN(kcb, K - pc));
    return n;
}

void rc_gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb, float *packed)
{
    rc_gemm_pack_b_part(trans_b, K, N, B, ldb, packed, 0, 1);
}

/* Part `part` of `parts` of the slivers: the threads of a pool can pack
 * one B together (4 MiB at hidden 512, a millisecond), each its columns,
 * to the same bytes as one thread. */
void rc_gemm_pack_b_part(int trans_b, int K, int N, const float *B, int ldb, float *packed,
                         int part, int parts)
{
    if (K <= 0 || N <= 0 || parts < 1 || part < 0 || part >= parts) return;
    const kernel_set *ks = pick();
    size_t ns = (size_t)(N + NR - 1) / NR;
    size_t s0 = ns * (size_t)part / (size_t)parts, s1 = ns * (size_t)(part + 1) / (size_t)parts;
    if (s0 >= s1) return;
    int j0 = (int)s0 * NR, nc = MIN(N, (int)s1 * NR) - j0;
    for (int pc = 0, kcb = k_block(K); pc < K; pc += kcb) {
        int kc = MIN(kcb, K - pc);
        ks->pack_b(trans_b, B, (size_t)ldb, pc, j0, kc, nc, packed + s0 * B_SLIVER(kc));
        packed += ns * B_SLIVER(kc);
    }
}

void rc_gemm_packed(int trans_a, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *packed, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, (size_t)ldc);
        return;
    }
    const kernel_set *ks = pick();
    float *pa = pack_a_buf;
    size_t ns = (size_t)(N + NR - 1) / NR;
    int kcb = k_block(K), mcb = m_block(M, kcb);
    for (int pc = 0; pc < K; pc += kcb) {
        int kc = MIN(kcb, K - pc);
        float bet = pc == 0 ? beta : 1.0f;
        for (int ic = 0; ic < M; ic += mcb) {
            int mc = MIN(mcb, M - ic);
            ks->pack_a(trans_a, A, (size_t)lda, ic, pc, mc, kc, pa);
            macro_kernel(ks, mc, N, kc, pa, packed, B_SLIVER(kc), alpha, bet,
                         C + (size_t)ic * ldc, (size_t)ldc);
        }
        packed += ns * B_SLIVER(kc);
    }
}

#else /* RC_GEMM_BODIES ---------------------------------------------------
 * The kernel bodies for vectors of VW floats, included twice above. Every
 * name ends in _VW; vf is the vector type. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define vf CAT(vf, VW)
#if HAVE_SHUFFLEVECTOR
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (CAT(vi, VW)){__VA_ARGS__})
#endif

/* C[rows x 2*VW] at column j0 of the tile = alpha * (packed A sliver of
 * `rows` rows) * (packed B sliver) + beta * C (beta 0: C is not read). */
static inline AI void CAT(tile_body_, VW)(int kc, const float *restrict pa,
                                          const float *restrict pb, float *restrict c,
                                          size_t ldc, float alpha, float beta, const int rows,
                                          const int j0, const float *pf)
{
    vf acc[MR][2];
    UNROLL
    for (int i = 0; i < rows; i++) acc[i][0] = acc[i][1] = (vf){0};
    pb += j0;
    /* C's rows are far apart (a new page each, often): start fetching
     * them now, to be there after the k loop. */
    UNROLL
    for (int i = 0; i < rows; i++) {
        __builtin_prefetch(c + i * ldc + j0, 1);
        __builtin_prefetch(c + i * ldc + j0 + 2 * VW - 1, 1);
    }
    /* One rank-1 update: named vectors, not an array (clang keeps an
     * array on the stack). */
#define RANK1_STEP                                                                         \
    do {                                                                                   \
        vf b0, b1;                                                                         \
        LOADV(b0, pb);                                                                     \
        LOADV(b1, pb + VW);                                                                \
        UNROLL                                                                             \
        for (int i = 0; i < rows; i++) {                                                   \
            float a = pa[i];                                                               \
            acc[i][0] += a * b0;                                                           \
            acc[i][1] += a * b1;                                                           \
        }                                                                                  \
    } while (0)
    /* pf: the next sliver of B, one cache line (a row of NR numbers) per
     * step, so that it is in cache when its first tile starts (it comes
     * from L3 otherwise, and that tile waits for it). */
    if (pf) {
        UNROLL_K
        for (int k = 0; k < kc; k++, pa += rows, pb += NR, pf += NR) {
            __builtin_prefetch(pf);
            RANK1_STEP;
        }
    } else {
        UNROLL_K
        for (int k = 0; k < kc; k++, pa += rows, pb += NR) RANK1_STEP;
    }
#undef RANK1_STEP
    UNROLL
    for (int i = 0; i < rows; i++) {
        UNROLL
        for (int v = 0; v < 2; v++) {
            float *cp = c + i * ldc + j0 + VW * v;
            vf r = acc[i][v] * alpha;
            if (beta != 0.0f) {
                vf o;
                LOADV(o, cp);
                r += beta * o;
            }
            STOREV(cp, r);
        }
    }
}

/* dst[q*NR + i] = src[i*lds + q] for i, q < VW: a square transpose in
 * registers (interleave pairs of rows, then pairs of pairs, then, for 8,
 * the 128-bit halves): VW loads and stores instead of VW*VW of each. */
static inline AI void CAT(transpose_, VW)(const float *src, size_t lds, float *dst)
{
#if VW == 8
    vf r0, r1, r2, r3, r4, r5, r6, r7;
    LOADV(r0, src), LOADV(r1, src + lds), LOADV(r2, src + 2 * lds), LOADV(r3, src + 3 * lds);
    LOADV(r4, src + 4 * lds), LOADV(r5, src + 5 * lds), LOADV(r6, src + 6 * lds);
    LOADV(r7, src + 7 * lds);
    vf t0 = SHUF(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = SHUF(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    vf t2 = SHUF(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = SHUF(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    vf t4 = SHUF(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = SHUF(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    vf t6 = SHUF(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = SHUF(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    /* u0: column 0 of rows 0-3 | column 4 of rows 0-3; and so on. */
    vf u0 = SHUF(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), u1 = SHUF(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    vf u2 = SHUF(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), u3 = SHUF(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    vf u4 = SHUF(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), u5 = SHUF(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    vf u6 = SHUF(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), u7 = SHUF(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    vf c0 = SHUF(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11), c4 = SHUF(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);
    vf c1 = SHUF(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11), c5 = SHUF(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);
    vf c2 = SHUF(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11), c6 = SHUF(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);
    vf c3 = SHUF(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11), c7 = SHUF(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);
    STOREV(dst, c0), STOREV(dst + NR, c1), STOREV(dst + 2 * NR, c2), STOREV(dst + 3 * NR, c3);
    STOREV(dst + 4 * NR, c4), STOREV(dst + 5 * NR, c5), STOREV(dst + 6 * NR, c6);
    STOREV(dst + 7 * NR, c7);
#else
    vf r0, r1, r2, r3;
    LOADV(r0, src), LOADV(r1, src + lds), LOADV(r2, src + 2 * lds), LOADV(r3, src + 3 * lds);
    vf t0 = SHUF(r0, r1, 0, 4, 1, 5), t1 = SHUF(r0, r1, 2, 6, 3, 7);
    vf t2 = SHUF(r2, r3, 0, 4, 1, 5), t3 = SHUF(r2, r3, 2, 6, 3, 7);
    vf c0 = SHUF(t0, t2, 0, 1, 4, 5), c1 = SHUF(t0, t2, 2, 3, 6, 7);
    vf c2 = SHUF(t1, t3, 0, 1, 4, 5), c3 = SHUF(t1, t3, 2, 3, 6, 7);
    STOREV(dst, c0), STOREV(dst + NR, c1), STOREV(dst + 2 * NR, c2), STOREV(dst + 3 * NR, c3);
#endif
}

/* The sum of a vector's lanes. */
#define HSUM(s, t)                                                                         \
    do {                                                                                   \
        (t) = 0.0f;                                                                        \
        for (int l_ = 0; l_ < VW; l_++) (t) += (s)[l_];                                    \
    } while (0)

/* y[r*incy] = alpha * dot(X[r, :L], v) + beta * y[r*incy] for r < R; v is
 * contiguous. Four rows at a time share each load of v. */
static inline AI void CAT(dot_body_, VW)(int R, int L, const float *X, size_t ldx,
                                         const float *v, float *y, size_t incy, float alpha,
                                         float beta)
{
    int r = 0;
    for (; r + 4 <= R; r += 4) {
        const float *x = X + (size_t)r * ldx;
        vf s[4][2];
        UNROLL
        for (int q = 0; q < 4; q++) s[q][0] = s[q][1] = (vf){0};
        int k = 0;
        for (; k + 2 * VW <= L; k += 2 * VW) {
            vf w0, w1;
            LOADV(w0, v + k);
            LOADV(w1, v + k + VW);
            UNROLL
            for (int q = 0; q < 4; q++) {
                vf a0, a1;
                LOADV(a0, x + q * ldx + k);
                LOADV(a1, x + q * ldx + k + VW);
                s[q][0] += a0 * w0;
                s[q][1] += a1 * w1;
            }
        }
        UNROLL
        for (int q = 0; q < 4; q++) {
            vf sq = s[q][0] + s[q][1];
            float t;
            HSUM(sq, t);
            for (int kk = k; kk < L; kk++) t += x[q * ldx + kk] * v[kk];
            float *yp = y + (size_t)(r + q) * incy;
            *yp = alpha * t + (beta == 0.0f ? 0.0f : beta * *yp);
        }
    }
    for (; r < R; r++) {
        const float *x = X + (size_t)r * ldx;
        vf s0 = {0}, s1 = {0};
        int k = 0;
        for (; k + 2 * VW <= L; k += 2 * VW) {
            vf a0, a1, w0, w1;
            LOADV(a0, x + k);
            LOADV(a1, x + k + VW);
            LOADV(w0, v + k);
            LOADV(w1, v + k + VW);
            s0 += a0 * w0;
            s1 += a1 * w1;
        }
        s0 += s1;
        float t;
        HSUM(s0, t);
        for (; k < L; k++) t += x[k] * v[k];
        float *yp = y + (size_t)r * incy;
        *yp = alpha * t + (beta == 0.0f ? 0.0f : beta * *yp);
    }
}

/* y[j*incy] = alpha * sum_r v[r*incv] X[r, j] + beta * y[j*incy] for j < L:
 * a JB-column chunk of the sum is accumulated in L1 over all rows, four
 * rows at a time, then written out. */
static inline AI void CAT(axpy_body_, VW)(int R, int L, const float *X, size_t ldx,
                                          const float *v, size_t incv, float *y, size_t incy,
                                          float alpha, float beta)
{
    _Alignas(32) float acc[JB];
    for (int j0 = 0; j0 < L; j0 += JB) {
        int jb = MIN(JB, L - j0);
        memset(acc, 0, (size_t)jb * sizeof(float));
        int r = 0;
        for (; r + 4 <= R; r += 4) {
            const float *x0 = X + (size_t)r * ldx + j0, *x1 = x0 + ldx, *x2 = x1 + ldx,
                        *x3 = x2 + ldx;
            float v0 = v[r * incv], v1 = v[(r + 1) * incv], v2 = v[(r + 2) * incv],
                  v3 = v[(r + 3) * incv];
            int j = 0;
            for (; j + VW <= jb; j += VW) {
                vf t, a0, a1, a2, a3;
                LOADV(t, acc + j);
                LOADV(a0, x0 + j);
                LOADV(a1, x1 + j);
                LOADV(a2, x2 + j);
                LOADV(a3, x3 + j);
                t += v0 * a0;
                t += v1 * a1;
                t += v2 * a2;
                t += v3 * a3;
                STOREV(acc + j, t);
            }
            for (; j < jb; j++) acc[j] += v0 * x0[j] + v1 * x1[j] + v2 * x2[j] + v3 * x3[j];
        }
        for (; r < R; r++) {
            const float *x0 = X + (size_t)r * ldx + j0;
            float v0 = v[r * incv];
            int j = 0;
            for (; j + VW <= jb; j += VW) {
                vf t, a0;
                LOADV(t, acc + j);
                LOADV(a0, x0 + j);
                t += v0 * a0;
                STOREV(acc + j, t);
            }
            for (; j < jb; j++) acc[j] += v0 * x0[j];
        }
        float *yp = y + (size_t)j0 * incy;
        if (beta == 0.0f)
            for (int j = 0; j < jb; j++) yp[j * incy] = alpha * acc[j];
        else
            for (int j = 0; j < jb; j++) yp[j * incy] = alpha * acc[j] + beta * yp[j * incy];
    }
}

#undef HSUM
#undef SHUF
#undef vf
#endif /* RC_GEMM_BODIES */
