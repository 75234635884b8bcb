/* test_core.c - tensors, the arena, the random generator, matrix multiply. */
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_shape_helpers(void **state)
{
    (void)state;
    int s[3] = {2, 3, 4};
    char buf[32];
    assert_int_equal(rc_shape_size(3, s), 24);
    assert_string_equal(rc_shape_str(3, s, buf, sizeof buf), "[2x3x4]");
    assert_int_equal(rc_shape_size(5, s), 0);
    int bad[2] = {2, -1};
    assert_int_equal(rc_shape_size(2, bad), 0);
}

static void test_tensor_alloc_errors(void **state)
{
    (void)state;
    rc_tensor t;
    int s[1] = {-3};
    assert_int_equal(rc_tensor_alloc(&t, 1, s), RC_ERR_ARG);
    assert_non_null(strstr(rc_last_error(), "negative"));
    int s5[5] = {1, 1, 1, 1, 1};
    assert_int_equal(rc_tensor_alloc(&t, 5, s5), RC_ERR_ARG);
    int ok[2] = {3, 5};
    assert_int_equal(rc_tensor_alloc(&t, 2, ok), RC_OK);
    assert_int_equal(t.size, 15);
    for (size_t i = 0; i < t.size; i++) assert_true(t.data[i] == 0.0f);
    rc_tensor_free(&t);
}

static void test_arena_alignment_and_reuse(void **state)
{
    (void)state;
    rc_arena a;
    rc_arena_init(&a);
    for (int i = 1; i < 100; i++) {
        void *p = rc_arena_alloc(&a, (size_t)i * 1000);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        memset(p, 0xab, (size_t)i * 1000);
    }
    size_t cap = a.capacity;
    assert_true(a.peak >= 4950000);
    rc_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    /* After a reset the same amount fits without growing. */
    for (int i = 1; i < 100; i++) assert_non_null(rc_arena_alloc(&a, (size_t)i * 1000));
    assert_int_equal(a.capacity, cap);
    float *z = rc_arena_calloc(&a, 100 * sizeof(float));
    for (int i = 0; i < 100; i++) assert_true(z[i] == 0.0f);
    rc_arena_free(&a);
}

/* Philox4x32-10 known-answer vectors from Random123 (kat_vectors). */
static void test_philox_known_answers(void **state)
{
    (void)state;
    uint32_t out[4];
    rc_philox(0, 0, out);
    assert_int_equal(out[0], 0x6627e8d5u);
    assert_int_equal(out[1], 0xe169c58du);
    assert_int_equal(out[2], 0xbc57ac4cu);
    assert_int_equal(out[3], 0x9b00dbd8u);
}

static void test_rng_reproducible_and_splittable(void **state)
{
    (void)state;
    rc_rng a, b;
    rc_rng_init(&a, 42);
    rc_rng_init(&b, 42);
    float x[1000], y[1000];
    rc_rng_fill_uniform(&a, x, 1000, 0.0f, 1.0f);
    /* The same numbers made in two halves (as two threads would). */
    rc_rng_fill_uniform(&b, y, 500, 0.0f, 1.0f);
    rc_rng_fill_uniform(&b, y + 500, 500, 0.0f, 1.0f);
    assert_memory_equal(x, y, sizeof x);
    double mean = 0;
    for (int i = 0; i < 1000; i++) {
        assert_true(x[i] >= 0.0f && x[i] < 1.0f);
        mean += x[i];
    }
    mean /= 1000;
    assert_true(fabs(mean - 0.5) < 0.05);
    rc_rng_init(&a, 43);
    rc_rng_fill_uniform(&a, y, 1000, 0.0f, 1.0f);
    assert_memory_not_equal(x, y, sizeof x);
    /* Normal numbers: mean 0, sd 1. */
    float *n = malloc(20000 * sizeof *n);
    rc_rng_fill_normal(&a, n, 20000, 0.0f, 1.0f);
    double m = 0, v = 0;
    for (int i = 0; i < 20000; i++) m += n[i];
    m /= 20000;
    for (int i = 0; i < 20000; i++) v += (n[i] - m) * (n[i] - m);
    v /= 20000;
    assert_true(fabs(m) < 0.03);
    assert_true(fabs(v - 1.0) < 0.05);
    free(n);
}

/* The reference: a triple loop in double. */
static void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            C[(size_t)i * ldc + j] = (float)(alpha * s + (beta == 0 ? 0.0 : beta * C[(size_t)i * ldc + j]));
        }
}

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *,
                        int, float, float *, int);

static void check_gemm(gemm_fn fn)
{
    static const int sizes[][3] = {{1, 1, 1},   {1, 37, 19},  {23, 1, 31}, {7, 9, 1},
                                   {64, 64, 64}, {65, 33, 17}, {3, 129, 70}, {100, 8, 257}};
    rc_rng r;
    rc_rng_init(&r, 7);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
                       nc = (size_t)M * ldc;
                float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4),
                      *R = malloc(nc * 4);
                rc_rng_fill_uniform(&r, A, na, -1, 1);
                rc_rng_fill_uniform(&r, B, nb, -1, 1);
                rc_rng_fill_uniform(&r, C, nc, -1, 1);
                memcpy(R, C, nc * 4);
                float beta = (s & 1) ? 0.5f : 0.0f;
                fn(ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, C, ldc);
                gemm_ref(ta, tb, M, N, K, 1.5f, A, lda, B, ldb, beta, R, ldc);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        float c = C[(size_t)i * ldc + j], e = R[(size_t)i * ldc + j];
                        if (fabsf(c - e) > 1e-4f * (1.0f + (float)K))
                            fail_msg("gemm %dx%dx%d ta=%d tb=%d: C[%d,%d] = %g, want %g", M, N,
                                     K, ta, tb, i, j, (double)c, (double)e);
                    }
                free(A), free(B), free(C), free(R);
            }
}

static void test_gemm_matches_reference(void **state)
{
    (void)state;
    check_gemm(rc_gemm);
}

static void test_gemm_portable_matches_reference(void **state)
{
    (void)state;
    check_gemm(rc_gemm_portable);
}

TEST_GROUP(core_tests, "core",
           cmocka_unit_test(test_shape_helpers),
           cmocka_unit_test(test_tensor_alloc_errors),
           cmocka_unit_test(test_arena_alignment_and_reuse),
           cmocka_unit_test(test_philox_known_answers),
           cmocka_unit_test(test_rng_reproducible_and_splittable),
           cmocka_unit_test(test_gemm_matches_reference),
           cmocka_unit_test(test_gemm_portable_matches_reference));
