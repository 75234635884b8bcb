/* bench_matmul.c - GFLOP/s of the matrix products an RNN does, through
 * rc_gemm (the build's backend), the portable kernel alone and, when built
 * with a CBLAS, cblas_sgemm / cblas_sgemv called directly at 1 and 2
 * threads.
 *
 *   make bench && build/bench/bench_matmul [-s samples] [-k kernel-set]
 *
 * Each cell is the median of `samples` timings (default 7), each timing
 * the mean of enough calls to last about 20 ms, after a warm-up; the
 * columns of a row take turns, so a passing load on the machine touches
 * them alike. The last column is portable / OpenBLAS at 1 thread (> 1:
 * the portable kernel is faster). The shapes:
 *   32x1024x384    a step of a batch-32 LSTM, H 256: gates [32 x 4H] from
 *                  [x h] ([32 x 384]) times the stacked weights
 *   3200x1024x128  the input projection of 100 steps at once
 *   1x2048x512     one step of batch-1 inference (a matrix-vector product)
 * and for the first two the transposed products of backward: A^T B (the
 * weight gradient) and A B^T (the input gradient).
 */
#include "recur.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef RC_HAVE_CBLAS
#include <cblas.h>
/* Weak, as in matmul.c, so that another CBLAS links (then one cblas column). */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));
#endif

/* In gemm_portable.c, not in recur.h: forces a kernel set (0 generic,
 * 1 avx, 2 avx2+fma; -1 automatic), returns the name of the one in use. */
const char *rc_gemm_portable_kernel(int isa);

typedef struct shape {
    int M, N, K, ta, tb;
} shape;

static const shape shapes[] = {
    {32, 1024, 384, 0, 0},   {32, 1024, 384, 1, 0},   {32, 1024, 384, 0, 1},
    {3200, 1024, 128, 0, 0}, {3200, 1024, 128, 1, 0}, {3200, 1024, 128, 0, 1},
    {1, 2048, 512, 0, 0},    {1, 2048, 512, 0, 1},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef enum which { RC_GEMM, PORTABLE, CBLAS } which;

static float *A, *B, *C;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void call(which w, const shape *s)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, ldc = s->N;
    switch (w) {
    case RC_GEMM:
        rc_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        break;
    case PORTABLE:
        rc_gemm_portable(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        break;
    case CBLAS:
#ifdef RC_HAVE_CBLAS
        if (s->M == 1) /* c = op(B)^T a: B [K x N] is used transposed, B [N x K] as is */
            cblas_sgemv(CblasRowMajor, s->tb ? CblasNoTrans : CblasTrans, s->tb ? s->N : s->K,
                        s->tb ? s->K : s->N, 1.0f, B, ldb, A, 1, 0.0f, C, 1);
        else
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                        s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f, A, lda, B,
                        ldb, 0.0f, C, ldc);
#endif
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A column of the table: what is called, at how many BLAS threads (0: the
 * default, not set). */
typedef struct column {
    which w;
    int threads;
} column;

static void set_threads(int n)
{
#ifdef RC_HAVE_CBLAS
    if (n > 0 && openblas_set_num_threads) openblas_set_num_threads(n);
#else
    (void)n;
#endif
}

#define MAX_SAMPLES 64

/* GFLOP/s of each column on shape s: the median over `samples` timings,
 * each the mean time of enough calls to last about 20 ms. The columns take
 * turns within each round, so that a load that comes and goes on the
 * machine touches them alike. */
static void measure(const shape *s, const column *cols, int ncols, int samples, int dflt,
                    double *gflops)
{
    int reps[8];
    double t[8][MAX_SAMPLES];
    for (int c = 0; c < ncols; c++) {
        set_threads(cols[c].threads ? cols[c].threads : dflt);
        /* Warm-up (caches, clock, BLAS threads), and a first estimate. */
        double t0 = now();
        int n = 0;
        do {
            call(cols[c].w, s);
            n++;
        } while (now() - t0 < 0.05 && n < 1000);
        double per = (now() - t0) / n;
        reps[c] = per > 0 ? (int)(0.02 / per) + 1 : 1000;
    }
    for (int i = 0; i < samples; i++)
        for (int c = 0; c < ncols; c++) {
            set_threads(cols[c].threads ? cols[c].threads : dflt);
            call(cols[c].w, s); /* after a change of threads */
            double a = now();
            for (int r = 0; r < reps[c]; r++) call(cols[c].w, s);
            t[c][i] = (now() - a) / reps[c];
        }
    set_threads(dflt);
    for (int c = 0; c < ncols; c++) {
        qsort(t[c], (size_t)samples, sizeof t[c][0], cmp_double);
        double med = samples % 2 ? t[c][samples / 2]
                                 : 0.5 * (t[c][samples / 2 - 1] + t[c][samples / 2]);
        gflops[c] = 2.0 * s->M * s->N * s->K / med * 1e-9;
    }
}

static void fill(float *x, size_t n, uint64_t seed)
{
    rc_rng r;
    rc_rng_init(&r, seed);
    rc_rng_fill_uniform(&r, x, n, -1.0f, 1.0f);
}

int main(int argc, char **argv)
{
    int samples = 7, isa = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            isa = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [-s samples] [-k kernel-set]\n"
                    "  -s  timings per cell, the median is shown (default 7)\n"
                    "  -k  portable kernel set: 0 generic, 1 avx, 2 avx2+fma (default: best)\n",
                    argv[0]);
            return 2;
        }
    }
    if (samples < 1) samples = 1;
    if (samples > MAX_SAMPLES) samples = MAX_SAMPLES;
    const char *kernel = rc_gemm_portable_kernel(isa);

    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < N_SHAPES; i++) {
        const shape *s = &shapes[i];
        if ((size_t)s->M * s->K > na) na = (size_t)s->M * s->K;
        if ((size_t)s->K * s->N > nb) nb = (size_t)s->K * s->N;
        if ((size_t)s->M * s->N > nc) nc = (size_t)s->M * s->N;
    }
    A = malloc(na * sizeof *A), B = malloc(nb * sizeof *B), C = malloc(nc * sizeof *C);
    if (!A || !B || !C) {
        fprintf(stderr, "bench_matmul: out of memory\n");
        return 1;
    }
    fill(A, na, 1), fill(B, nb, 2), fill(C, nc, 3);

    int have_ob = 0, ob_default = 0;
#ifdef RC_HAVE_CBLAS
    have_ob = openblas_set_num_threads != NULL;
    if (have_ob && openblas_get_num_threads) ob_default = openblas_get_num_threads();
#endif
    column cols[4] = {{RC_GEMM, 0}, {PORTABLE, 0}, {CBLAS, 1}, {CBLAS, 2}};
    int ncols = 2;
#ifdef RC_HAVE_CBLAS
    ncols = have_ob ? 4 : 3;
#endif
    printf("matrix multiply, GFLOP/s (median of %d timings; beta 0; higher is better)\n",
           samples);
    if (have_ob)
        printf("rc_gemm: %s (%d threads); portable kernel: %s\n", rc_blas_name(), ob_default,
               kernel);
    else
        printf("rc_gemm: %s; portable kernel: %s\n", rc_blas_name(), kernel);
    if (ncols == 4)
        printf("\n%-15s %-6s %8s %9s %10s %10s %10s\n", "M x N x K", "op", "rc_gemm", "portable",
               "OpenBLAS-1", "OpenBLAS-2", "portable/1");
    else if (ncols == 3)
        printf("\n%-15s %-6s %8s %9s %10s %10s\n", "M x N x K", "op", "rc_gemm", "portable",
               "cblas", "portable/c");
    else
        printf("\n%-15s %-6s %8s %9s\n", "M x N x K", "op", "rc_gemm", "portable");
    for (int i = 0; i < N_SHAPES; i++) {
        const shape *s = &shapes[i];
        char dims[32];
        snprintf(dims, sizeof dims, "%dx%dx%d", s->M, s->N, s->K);
        const char *op = s->ta ? "A^T B" : s->tb ? "A B^T" : "A B";
        double g[4];
        measure(s, cols, ncols, samples, ob_default, g);
        if (ncols == 4)
            printf("%-15s %-6s %8.1f %9.1f %10.1f %10.1f %10.2f\n", dims, op, g[0], g[1], g[2],
                   g[3], g[1] / g[2]);
        else if (ncols == 3)
            printf("%-15s %-6s %8.1f %9.1f %10.1f %10.2f\n", dims, op, g[0], g[1], g[2],
                   g[1] / g[2]);
        else
            printf("%-15s %-6s %8.1f %9.1f\n", dims, op, g[0], g[1]);
        fflush(stdout);
    }
    free(A), free(B), free(C);
    return 0;
}
