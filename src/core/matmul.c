/* matmul.c - the matrix-multiply wrapper: an optimized BLAS when the build
 * found one (RC_HAVE_CBLAS), the portable kernel otherwise. */
#include "../internal.h"

#ifdef RC_HAVE_CBLAS
#include <cblas.h>
#endif

static int n_threads = 0;

#ifdef RC_HAVE_CBLAS
/* OpenBLAS's thread control, looked up weakly so that another CBLAS links. */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

const char *rc_blas_name(void)
{
#ifdef RC_HAVE_CBLAS
    return openblas_set_num_threads ? "openblas" : "cblas";
#else
    return "portable";
#endif
}

/* The threads: recur's pool (pool.c) gets them all, and OpenBLAS is held
 * at one thread, so that the two never compete for the cores: the pool
 * splits the products (rc_gemm below) and the recurrent loops (cell.c)
 * itself. */
void rc_set_threads(int n)
{
    n_threads = n < 0 ? 0 : n;
    rc_pool_set_size(n_threads > 0 ? n_threads : rc_pool_online_cpus());
#ifdef RC_HAVE_CBLAS
    if (openblas_set_num_threads) openblas_set_num_threads(1);
#endif
}

int rc_get_threads(void) { return n_threads; }

/* The threads one BLAS call runs on: OpenBLAS's setting (its environment
 * variables; 1 after rc_set_threads), 1 for the portable kernel. */
int rc_gemm_threads(void)
{
#ifdef RC_HAVE_CBLAS
    if (openblas_get_num_threads) return openblas_get_num_threads();
    return n_threads > 0 ? n_threads : 0;
#else
    return 1;
#endif
}

/* One product on the calling thread: the BLAS, or the portable kernel. */
static void gemm1(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
#ifdef RC_HAVE_CBLAS
    if (M == 1) {
        /* c[1 x N] = op(a)[1 x K] op(B)[K x N]  ==  op(B)^T a. op(a) of one
         * row is the same K numbers either way, with stride 1 or lda. */
        int inc_a = trans_a ? lda : 1;
        if (!trans_b) /* B is [K x N]: c = B^T a */
            cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, inc_a, beta, C, 1);
        else /* B is [N x K]: c = B a */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, inc_a, beta, C, 1);
        return;
    }
    if (N == 1) {
        /* c[M x 1] = op(A) b, b the K numbers of op(B)'s one column. */
        int inc_b = trans_b ? 1 : ldb;
        if (!trans_a)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, B, inc_b, beta, C, ldc);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, K, M, alpha, A, lda, B, inc_b, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
#else
    rc_gemm_portable(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* A product split over the pool: part p computes a block of C's rows
 * (split_n 0) or of its columns (split_n 1). Each element is computed
 * by one thread from the same numbers as without the split. */
typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc, split_n;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

static void gemm_part(void *arg, int p, int n)
{
    const gemm_job *j = arg;
    int lo, hi;
    if (j->split_n) {
        rc_pool_range(j->N, p, n, 16, &lo, &hi);
        if (hi > lo)
            gemm1(j->ta, j->tb, j->M, hi - lo, j->K, j->alpha, j->A, j->lda,
                  j->B + (j->tb ? (size_t)lo * j->ldb : (size_t)lo), j->ldb, j->beta, j->C + lo,
                  j->ldc);
    } else {
        rc_pool_range(j->M, p, n, 16, &lo, &hi);
        if (hi > lo)
            gemm1(j->ta, j->tb, hi - lo, j->N, j->K, j->alpha,
                  j->A + (j->ta ? (size_t)lo : (size_t)lo * j->lda), j->lda, j->B, j->ldb,
                  j->beta, j->C + (size_t)lo * j->ldc, j->ldc);
    }
}

/* Products smaller than this many multiply-adds stay on one thread: the
 * hand-over to the pool costs a few microseconds. */
#define SPLIT_MACS (1 << 18)

void rc_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    int parts = rc_pool_threads();
    if (parts > 1 && K > 0 && (double)M * N * K >= SPLIT_MACS) {
        /* The longer side of C, in blocks of 16 (a cache line of floats). */
        int split_n = N > M, len = split_n ? N : M;
        if (parts > len / 32) parts = len / 32;
        if (parts > 1) {
            gemm_job j = {trans_a, trans_b, M, N, K, lda, ldb, ldc, split_n,
                          alpha, beta, A, B, C};
            rc_pool_run(parts, gemm_part, &j);
            return;
        }
    }
    gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
