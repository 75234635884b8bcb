/* test_gemm.c - the matrix multiply beyond test_core's odd sizes: sizes
 * around the portable kernel's blocks (tiles of 6 rows, or 4 + 4 and 4 + 3
 * at the end of a block, 16 columns; K blocks of up to 768 then 512, A
 * blocks of 72 rows at K 512 (more at shorter K), B panels of 256 columns
 * at K 512), long K,
 * beta 0 over NaN, alpha, one-row and one-column products, empty products,
 * and every kernel set this CPU runs. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* In gemm_portable.c, not in recur.h: forces a kernel set (0 generic,
 * 1 avx, 2 avx2+fma; -1 automatic), returns the name of the one in use. */
const char *rc_gemm_portable_kernel(int isa);
/* In gemm_portable.c, declared in src/internal.h: a B packed once. */
size_t rc_gemm_packed_floats(int K, int N);
void rc_gemm_pack_b(int trans_b, int K, int N, const float *B, int ldb, float *packed);
void rc_gemm_pack_b_part(int trans_b, int K, int N, const float *B, int ldb, float *packed,
                         int part, int parts);
void rc_gemm_packed(int trans_a, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *packed, float beta, float *C, int ldc);
/* In gemm_portable.c: 1 makes rc_gemm_portable go the way it goes when
 * its packing buffer cannot be allocated. */
void rc_gemm_portable_no_buffers(int on);

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *,
                        int, float, float *, int);

/* Padding around C's rows (and after the last) that must stay untouched. */
#define SENTINEL 12345.0f

typedef struct gemm_case {
    int ta, tb, M, N, K;
    float alpha, beta;
    int pad;     /* extra elements per row of A, B and C */
    int nan_c;   /* fill C with NaN (only with beta 0) */
} gemm_case;

/* Runs one case against a double-precision reference; the tolerance is the
 * worst-case float error of a K-term sum, scaled by the magnitudes. */
static void run_case(gemm_fn fn, const gemm_case *g, rc_rng *r)
{
    int M = g->M, N = g->N, K = g->K;
    int lda = (g->ta ? M : K) + g->pad, ldb = (g->tb ? K : N) + g->pad, ldc = N + g->pad;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    size_t na = (size_t)(g->ta ? K : M) * lda, nb = (size_t)(g->tb ? N : K) * ldb,
           nc = (size_t)M * ldc + (size_t)g->pad;
    float *A = malloc((na + 1) * sizeof *A), *B = malloc((nb + 1) * sizeof *B),
          *C = malloc((nc + 1) * sizeof *C), *C0 = malloc((nc + 1) * sizeof *C0);
    assert_true(A && B && C && C0);
    rc_rng_fill_uniform(r, A, na, -1, 1);
    rc_rng_fill_uniform(r, B, nb, -1, 1);
    for (size_t i = 0; i < nc; i++) C[i] = SENTINEL;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = g->nan_c ? NAN : 2.0f * rc_rng_uniform(r) - 1.0f;
    memcpy(C0, C, nc * sizeof *C);

    fn(g->ta, g->tb, M, N, K, g->alpha, A, lda, B, ldb, g->beta, C, ldc);

    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double a = g->ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = g->tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double c0 = C0[(size_t)i * ldc + j];
            double want = g->alpha * s + (g->beta == 0 ? 0.0 : g->beta * c0);
            double scale = fabs(g->alpha) * mag + (g->beta == 0 ? 0.0 : fabs(g->beta * c0));
            double tol = 1.2e-7 * (K + 4) * scale + 1e-30;
            float got = C[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= tol))
                fail_msg("gemm %dx%dx%d ta=%d tb=%d alpha=%g beta=%g pad=%d%s: C[%d,%d] = %.9g, "
                         "want %.9g (tol %.3g)",
                         M, N, K, g->ta, g->tb, (double)g->alpha, (double)g->beta, g->pad,
                         g->nan_c ? " NaN C" : "", i, j, (double)got, want, tol);
        }
        /* The row stride's padding is not part of C. */
        for (int j = N; j < ldc; j++)
            if (C[(size_t)i * ldc + j] != SENTINEL)
                fail_msg("gemm %dx%dx%d ta=%d tb=%d: wrote C[%d,%d] past N", M, N, K, g->ta,
                         g->tb, i, j);
    }
    for (size_t i = (size_t)M * ldc; i < nc; i++)
        if (C[i] != SENTINEL) fail_msg("gemm %dx%dx%d: wrote past C's last row", M, N, K);
    free(A), free(B), free(C), free(C0);
}

/* Every transpose pair of an M x N x K product. */
static void run_all_trans(gemm_fn fn, int M, int N, int K, float alpha, float beta, int pad,
                          int nan_c, rc_rng *r)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case g = {ta, tb, M, N, K, alpha, beta, pad, nan_c};
            run_case(fn, &g, r);
        }
}

/* Runs `body` once per kernel set this CPU has, then restores the choice. */
static void for_each_kernel(void (*body)(rc_rng *r))
{
    const char *seen[8];
    int n = 0;
    for (int isa = 0; isa < 8; isa++) {
        const char *name = rc_gemm_portable_kernel(isa);
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(seen[i], name);
        if (dup) continue;
        seen[n++] = name;
        rc_rng r;
        rc_rng_init(&r, 1000 + (uint64_t)isa);
        body(&r);
    }
    rc_gemm_portable_kernel(-1);
    assert_true(n >= 1);
}

static void block_edges(rc_rng *r)
{
    /* Around MR (6), NR (16) and the edge tiles of both. */
    static const int small[][3] = {{5, 15, 7},  {6, 16, 8},   {7, 17, 9},  {12, 32, 3},
                                   {13, 33, 1}, {2, 2, 2},    {2, 47, 31}, {47, 2, 31},
                                   {11, 5, 64}, {18, 48, 16}, {8, 20, 13}, {9, 16, 5},
                                   {10, 18, 4}, {14, 31, 10}, {3, 64, 2},  {4, 8, 300}};
    for (size_t s = 0; s < sizeof small / sizeof small[0]; s++)
        run_all_trans(rc_gemm_portable, small[s][0], small[s][1], small[s][2], 1.0f,
                      (s & 1) ? 0.0f : 1.0f, (int)(s % 3), 0, r);
    /* Around the K, M and N blocks. */
    static const int big[][3] = {{143, 17, 255}, {144, 16, 256}, {145, 33, 257},
                                 {7, 511, 100},  {9, 512, 40},   {10, 513, 300},
                                 {289, 40, 513}, {150, 530, 20}, {20, 40, 384},
                                 {97, 35, 385},  {300, 70, 3},   {40, 257, 384},
                                 {71, 17, 511},  {72, 16, 512},  {73, 33, 513},
                                 {20, 40, 768},  {97, 35, 769},  {145, 33, 1025},
                                 {9, 257, 512},  {79, 255, 600}};
    for (size_t s = 0; s < sizeof big / sizeof big[0]; s++)
        run_all_trans(rc_gemm_portable, big[s][0], big[s][1], big[s][2], 0.5f,
                      (s & 1) ? 0.0f : -1.0f, (int)(s % 2) * 5, 0, r);
}

static void test_gemm_block_edges(void **state)
{
    (void)state;
    for_each_kernel(block_edges);
}

static void long_k(rc_rng *r)
{
    run_all_trans(rc_gemm_portable, 7, 19, 5000, 1.0f, 0.0f, 1, 0, r);
    run_all_trans(rc_gemm_portable, 1, 23, 4099, 1.0f, 1.0f, 2, 0, r);
    run_all_trans(rc_gemm_portable, 23, 1, 4099, 1.0f, 0.5f, 2, 0, r);
}

static void test_gemm_long_k(void **state)
{
    (void)state;
    for_each_kernel(long_k);
}

/* beta 0 must overwrite C, not multiply it: 0 * NaN is NaN. */
static void beta_zero_nan(rc_rng *r)
{
    static const int sizes[][3] = {{1, 1, 1},   {1, 40, 9},  {40, 1, 9},  {6, 16, 4},
                                   {7, 17, 300}, {33, 65, 0}, {1, 30, 0},  {150, 20, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        run_all_trans(rc_gemm_portable, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f,
                      (int)(s % 2) * 3, 1, r);
}

static void test_gemm_beta_zero_overwrites_nan(void **state)
{
    (void)state;
    for_each_kernel(beta_zero_nan);
    rc_rng r;
    rc_rng_init(&r, 5);
    run_all_trans(rc_gemm, 7, 17, 30, 1.0f, 0.0f, 1, 1, &r);
    run_all_trans(rc_gemm, 1, 17, 30, 1.0f, 0.0f, 1, 1, &r);
    run_all_trans(rc_gemm, 17, 1, 30, 1.0f, 0.0f, 1, 1, &r);
}

static void alpha_beta(rc_rng *r)
{
    static const float ab[][2] = {{-0.75f, 0.0f}, {2.5f, 1.0f}, {0.3f, -2.0f}, {0.0f, 0.5f},
                                  {0.0f, 0.0f}};
    for (size_t s = 0; s < sizeof ab / sizeof ab[0]; s++) {
        run_all_trans(rc_gemm_portable, 20, 37, 41, ab[s][0], ab[s][1], 2, 0, r);
        run_all_trans(rc_gemm_portable, 1, 37, 41, ab[s][0], ab[s][1], 2, 0, r);
        run_all_trans(rc_gemm_portable, 37, 1, 41, ab[s][0], ab[s][1], 2, 0, r);
    }
}

static void test_gemm_alpha_beta(void **state)
{
    (void)state;
    for_each_kernel(alpha_beta);
}

/* One-row and one-column products take the matrix-vector routines: strided
 * vectors (lda, ldb, ldc > 1), outputs longer than its column chunk
 * (1024), and vectors longer than its copy chunk (1024). */
static void vectors(rc_rng *r)
{
    static const int sizes[][3] = {{1, 1, 1},    {1, 1, 37},   {1, 7, 1},    {7, 1, 1},
                                   {1, 33, 19},  {33, 1, 19},  {1, 2048, 51}, {1, 1100, 7},
                                   {1300, 1, 9}, {1, 20, 2500}, {20, 1, 2500}, {1, 3, 5}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int pad = 0; pad <= 3; pad += 3)
            run_all_trans(rc_gemm_portable, sizes[s][0], sizes[s][1], sizes[s][2], 1.25f,
                          (s & 1) ? 0.0f : 0.5f, pad, 0, r);
}

static void test_gemm_vectors(void **state)
{
    (void)state;
    for_each_kernel(vectors);
    rc_rng r;
    rc_rng_init(&r, 9);
    run_all_trans(rc_gemm, 1, 33, 19, 1.25f, 0.5f, 3, 0, &r);
    run_all_trans(rc_gemm, 33, 1, 19, 1.25f, 0.5f, 3, 0, &r);
}

/* M or N zero: nothing is touched (not even a NaN C). K zero: C = beta C. */
/* rc_gemm_packed with a freshly packed B, as a gemm_fn. It must give the
 * very bits rc_gemm_portable gives (the same tiles, in the same order),
 * checked on a copy of C, except for one row or column, which the
 * portable kernel does as a matrix-vector product. */
static void packed_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    size_t np = rc_gemm_packed_floats(K, N), nc = M > 0 ? (size_t)(M - 1) * ldc + N : 0;
    float *P = malloc((np + 1) * sizeof *P), *D = malloc((nc + 1) * sizeof *D);
    assert_true(P && D);
    memcpy(D, C, nc * sizeof *D);
    rc_gemm_pack_b(tb, K, N, B, ldb, P);
    rc_gemm_packed(ta, M, N, K, alpha, A, lda, P, beta, C, ldc);
    rc_gemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, D, ldc);
    for (size_t i = 0; i < nc && M > 1 && N > 1; i++)
        if (memcmp(&C[i], &D[i], sizeof *D) && !(isnan(C[i]) && isnan(D[i])))
            fail_msg("packed gemm %dx%dx%d ta=%d tb=%d: C[%zu] = %.9g, portable %.9g", M, N, K,
                     ta, tb, i, (double)C[i], (double)D[i]);
    free(P), free(D);
}

static void packed(rc_rng *r)
{
    /* Tile and block edges, long K, beta 0 over NaN, alpha, one row. */
    static const int sh[][3] = {{5, 15, 7},    {6, 16, 8},    {13, 33, 1},  {2, 47, 31},
                                {64, 2048, 512}, {32, 1024, 256}, {145, 33, 257},
                                {10, 513, 300}, {289, 40, 513}, {7, 100, 1100}, {1, 40, 9}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        run_all_trans(packed_gemm, sh[s][0], sh[s][1], sh[s][2], (s % 3) ? 1.0f : 0.5f,
                      (s & 1) ? 0.0f : 1.0f, (int)(s % 2) * 3, 0, r);
    run_all_trans(packed_gemm, 20, 70, 30, 1.0f, 0.0f, 1, 1, r);
    run_all_trans(packed_gemm, 5, 9, 0, 1.0f, 0.5f, 1, 0, r);
}

static void test_gemm_packed(void **state)
{
    (void)state;
    for_each_kernel(packed);
}

/* B packed in parts (as the pool's threads pack a recurrent weight) is
 * the same bytes as packed at once, padding included, for any number of
 * parts (more parts than slivers leaves some empty); a part out of range
 * writes nothing. */
static void test_gemm_pack_b_in_parts(void **state)
{
    (void)state;
    rc_rng r;
    rc_rng_init(&r, 22);
    static const int sh[][2] = {{7, 5}, {512, 2048}, {300, 33}, {1100, 100}, {769, 17}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            int K = sh[s][0], N = sh[s][1], ldb = (tb ? K : N) + 3;
            size_t nb = (size_t)(tb ? N : K) * ldb, np = rc_gemm_packed_floats(K, N);
            float *B = malloc(nb * sizeof *B), *whole = malloc(np * sizeof *whole),
                  *parts = malloc(np * sizeof *parts);
            assert_true(B && whole && parts);
            rc_rng_fill_uniform(&r, B, nb, -1.0f, 1.0f);
            memset(whole, 0xff, np * sizeof *whole);
            rc_gemm_pack_b(tb, K, N, B, ldb, whole);
            for (int n = 1; n <= 9; n += 2) {
                memset(parts, 0xff, np * sizeof *parts);
                for (int p = n - 1; p >= 0; p--)
                    rc_gemm_pack_b_part(tb, K, N, B, ldb, parts, p, n);
                rc_gemm_pack_b_part(tb, K, N, B, ldb, parts, n, n);
                rc_gemm_pack_b_part(tb, K, N, B, ldb, parts, -1, n);
                for (size_t i = 0; i < np; i++)
                    if (memcmp(&whole[i], &parts[i], sizeof *parts))
                        fail_msg("B %dx%d tb=%d in %d parts: float %zu of %zu differs", K, N, tb,
                                 n, i, np);
            }
            free(B), free(whole), free(parts);
        }
}

/* Out of memory for the B panel: the product is still right (row by row,
 * with the matrix-vector routines), beta 0 over NaN included, long K. */
static void test_gemm_without_buffers(void **state)
{
    (void)state;
    rc_rng r;
    rc_rng_init(&r, 21);
    rc_gemm_portable_no_buffers(1);
    static const int sh[][3] = {{5, 15, 7}, {13, 33, 1}, {20, 40, 769}, {7, 100, 1100}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        run_all_trans(rc_gemm_portable, sh[s][0], sh[s][1], sh[s][2], 0.5f,
                      (s & 1) ? 0.0f : 1.0f, (int)(s % 2) * 3, (s & 1), &r);
    }
    rc_gemm_portable_no_buffers(0);
}

static void test_gemm_zero_sizes(void **state)
{
    (void)state;
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4};
    float C[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    gemm_fn fns[2] = {rc_gemm, rc_gemm_portable};
    for (int f = 0; f < 2; f++) {
        fns[f](0, 0, 0, 3, 2, 1.0f, A, 2, B, 3, 0.0f, C, 3);
        fns[f](0, 0, 2, 0, 2, 1.0f, A, 2, B, 1, 0.0f, C, 3);
        fns[f](1, 1, 0, 0, 0, 1.0f, A, 1, B, 1, 0.0f, C, 1);
        for (int i = 0; i < 6; i++) assert_true(isnan(C[i]));
        /* K = 0, beta 0: zeros over NaN, within the stride only. */
        float D[6] = {NAN, NAN, 7, NAN, NAN, 7};
        fns[f](0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.0f, D, 3);
        assert_true(D[0] == 0 && D[1] == 0 && D[3] == 0 && D[4] == 0);
        assert_true(D[2] == 7 && D[5] == 7);
        /* K = 0, beta 2: C doubled. */
        float E[4] = {1, 2, 3, 4};
        fns[f](1, 0, 2, 2, 0, 1.0f, A, 2, B, 2, 2.0f, E, 2);
        assert_true(E[0] == 2 && E[1] == 4 && E[2] == 6 && E[3] == 8);
    }
    rc_rng r;
    rc_rng_init(&r, 3);
    run_all_trans(rc_gemm_portable, 5, 9, 0, 1.0f, 0.5f, 1, 0, &r);
    run_all_trans(rc_gemm_portable, 1, 9, 0, 1.0f, 0.0f, 1, 1, &r);
    run_all_trans(rc_gemm_portable, 9, 1, 0, 1.0f, 0.0f, 1, 1, &r);
}

/* The RNN shapes the benchmark times, through rc_gemm and the portable
 * kernel, so that what is timed is also checked. */
static void test_gemm_rnn_shapes(void **state)
{
    (void)state;
    rc_rng r;
    rc_rng_init(&r, 11);
    run_all_trans(rc_gemm_portable, 32, 1024, 384, 1.0f, 0.0f, 0, 1, &r);
    run_all_trans(rc_gemm, 32, 1024, 384, 1.0f, 1.0f, 0, 0, &r);
    gemm_case g = {0, 0, 1, 2048, 512, 1.0f, 0.0f, 0, 1};
    run_case(rc_gemm_portable, &g, &r);
    run_case(rc_gemm, &g, &r);
}

TEST_GROUP(gemm_tests, "gemm",
           cmocka_unit_test(test_gemm_block_edges),
           cmocka_unit_test(test_gemm_long_k),
           cmocka_unit_test(test_gemm_beta_zero_overwrites_nan),
           cmocka_unit_test(test_gemm_alpha_beta),
           cmocka_unit_test(test_gemm_vectors),
           cmocka_unit_test(test_gemm_zero_sizes),
           cmocka_unit_test(test_gemm_packed),
           cmocka_unit_test(test_gemm_pack_b_in_parts),
           cmocka_unit_test(test_gemm_without_buffers),
           cmocka_unit_test(test_gemm_rnn_shapes));
