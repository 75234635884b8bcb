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

void rc_set_threads(int n)
{
    n_threads = n < 0 ? 0 : n;
#ifdef RC_HAVE_CBLAS
    if (openblas_set_num_threads && n > 0) openblas_set_num_threads(n);
#endif
}

int rc_get_threads(void) { return n_threads; }

/* The threads an rc_gemm call runs on: OpenBLAS's setting (its
 * environment variables, or rc_set_threads), 1 for the portable kernel. */
int rc_gemm_threads(void)
{
#ifdef RC_HAVE_CBLAS
    if (openblas_get_num_threads) return openblas_get_num_threads();
    return n_threads > 0 ? n_threads : 0;
#else
    return 1;
#endif
}

void rc_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc)
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
