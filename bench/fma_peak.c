/* fma_peak.c - what the cores can do at most: single-precision multiply-adds
 * per second, from 12 independent chains of 8-wide FMAs in registers (no
 * memory traffic), on 1 to N threads at once. The matrix products of
 * docs/performance.md are compared with this number: no product can run
 * faster.
 *
 *   build/bench/fma_peak [threads]      (default 1; x86-64 with AVX2 + FMA)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_PEAK 1
enum { CHAINS = 12 };
static const long ITERS = 100000000; /* x 12 FMAs x 16 flops: 19.2 GFLOP */

/* 12 chains of a = a * x + y, started apart so that no two are the same
 * computation (a compiler would merge them). */
__attribute__((target("avx2,fma"))) static void *chains(void *arg)
{
    __m256 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps(1.0f + 0.1f * (float)i);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (long n = 0; n < ITERS; n++)
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    __m256 s = a[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *(float *)arg = out[0];
    return NULL;
}
#else
#define HAVE_PEAK 0
#endif

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "usage: fma_peak [threads]   (1-256)\n");
        return 2;
    }
#if HAVE_PEAK
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2 + FMA\n");
        return 1;
    }
    pthread_t *tid = malloc((size_t)threads * sizeof *tid);
    float *sink = malloc((size_t)threads * sizeof *sink);
    if (!tid || !sink) return 1;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, chains, &sink[i]);
        for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
        double s = now() - t0, gflop = (double)ITERS * CHAINS * 16 * threads / 1e9;
        printf("%d thread%s: %.1f GFLOP/s in all, %.1f per thread (%g)\n", threads,
               threads > 1 ? "s" : "", gflop / s, gflop / s / threads, (double)sink[0]);
    }
    free(tid);
    free(sink);
    return 0;
#else
    fprintf(stderr, "fma_peak: measures x86-64 AVX2 + FMA only\n");
    return 1;
#endif
}
