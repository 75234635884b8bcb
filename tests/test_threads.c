/* test_threads.c - recur's thread pool (src/core/pool.c) and what runs on
 * it: the pool's hand-over (every part runs once, on its own thread,
 * many jobs in a row, a call from inside a part runs there), rc_gemm
 * split over the pool (rows, columns, matrix-vector products), and the
 * recurrent cells' time loops split by batch rows, forward and backward,
 * and inference (gradients off: one step kept, input projected per step).
 * Every threaded result is compared with the same computation on one
 * thread. The splits give each number to one thread, computed from the
 * same operands in the same order: with the portable kernel (a BLAS=none
 * build) the results must be bit-identical. OpenBLAS computes the edge
 * of a block with other kernels than its inside, so a block boundary can
 * change the last bits there: with it, within 1e-5 (relative). */
#include "test.h"
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -------------------------------------------------------------- pool -- */

typedef struct {
    int runs[8];
    pthread_t who[8];
    int inner_threads[8];
    long sum;
} pool_probe;

static void probe_part(void *arg, int p, int n)
{
    pool_probe *pr = arg;
    assert_true(p >= 0 && p < n && n <= 8);
    pr->runs[p]++;
    pr->who[p] = pthread_self();
    pr->inner_threads[p] = rc_pool_threads();
}

static void count_part(void *arg, int p, int n)
{
    long *sums = arg; /* one slot per part, 16 longs apart (no shared line) */
    sums[16 * p] += p + 1 + n;
}

/* A part that itself calls the pool: that call runs on the part's thread. */
static void nested_part(void *arg, int p, int n)
{
    pool_probe inner;
    memset(&inner, 0, sizeof inner);
    rc_pool_run(2, probe_part, &inner);
    int *ok = arg;
    ok[p] = inner.runs[0] == 1 && inner.runs[1] == 1 &&
            pthread_equal(inner.who[0], pthread_self()) &&
            pthread_equal(inner.who[1], pthread_self()) && inner.inner_threads[0] == 1;
    (void)n;
}

static void test_pool_runs_every_part(void **state)
{
    (void)state;
    rc_set_threads(2);
    assert_int_equal(rc_pool_size(), 2);
    pool_probe pr;
    memset(&pr, 0, sizeof pr);
    rc_pool_run(2, probe_part, &pr);
    assert_int_equal(pr.runs[0], 1);
    assert_int_equal(pr.runs[1], 1);
    /* Part 0 on the caller, part 1 on a worker; inside a part, 1 thread. */
    assert_true(pthread_equal(pr.who[0], pthread_self()));
    assert_false(pthread_equal(pr.who[1], pthread_self()));
    assert_int_equal(pr.inner_threads[0], 1);
    assert_int_equal(pr.inner_threads[1], 1);
    assert_int_equal(rc_pool_threads(), 2);

    /* Many jobs in a row: each part exactly once per job. */
    long sums[32] = {0};
    for (int i = 0; i < 3000; i++) rc_pool_run(2, count_part, sums);
    assert_int_equal(sums[0], 3000L * 3);
    assert_int_equal(sums[16], 3000L * 4);

    /* A call from inside a part runs there, whole. */
    int ok[2] = {0, 0};
    rc_pool_run(2, nested_part, ok);
    assert_true(ok[0] && ok[1]);

    /* More parts than threads: clipped to the pool's threads. */
    memset(&pr, 0, sizeof pr);
    rc_pool_run(5, probe_part, &pr);
    assert_int_equal(pr.runs[0] + pr.runs[1] + pr.runs[2] + pr.runs[3] + pr.runs[4], 2);

    /* Resizing stops and restarts the workers. */
    rc_set_threads(3);
    memset(&pr, 0, sizeof pr);
    rc_pool_run(3, probe_part, &pr);
    assert_true(pr.runs[0] == 1 && pr.runs[1] == 1 && pr.runs[2] == 1);
    assert_false(pthread_equal(pr.who[1], pr.who[2]));
    rc_set_threads(1);
    memset(&pr, 0, sizeof pr);
    rc_pool_run(2, probe_part, &pr);
    assert_int_equal(pr.runs[0], 1);
    assert_int_equal(pr.runs[1], 0);
    assert_int_equal(rc_get_threads(), 1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* Part 1 (a worker) takes 30 ms, far past the 5 ms a waiting thread spins. */
static void slow_worker_part(void *arg, int p, int n)
{
    if (p == 1) sleep_ms(30);
    probe_part(arg, p, n);
}

/* The pool's sleeps: a worker idle for longer than its spin goes to sleep
 * and must be woken by the next job, and a caller whose worker takes
 * longer than the spin sleeps and must be woken when the worker ends.
 * Every part still runs once, on the same threads. (A lost wake-up hangs
 * here: checked by taking out either broadcast in pool.c.) */
static void test_pool_wakes_sleepers(void **state)
{
    (void)state;
    rc_set_threads(2);
    for (int round = 0; round < 3; round++) {
        sleep_ms(30); /* the worker is asleep now */
        pool_probe pr;
        memset(&pr, 0, sizeof pr);
        rc_pool_run(2, probe_part, &pr);
        assert_true(pr.runs[0] == 1 && pr.runs[1] == 1);
        assert_false(pthread_equal(pr.who[1], pthread_self()));
        memset(&pr, 0, sizeof pr);
        rc_pool_run(2, slow_worker_part, &pr); /* the caller sleeps in it */
        assert_true(pr.runs[0] == 1 && pr.runs[1] == 1);
        assert_true(pthread_equal(pr.who[0], pthread_self()));
        assert_false(pthread_equal(pr.who[1], pthread_self()));
    }
    rc_set_threads(1);
}

static void test_pool_range(void **state)
{
    (void)state;
    int lo, hi;
    rc_pool_range(100, 0, 2, 16, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 48);
    rc_pool_range(100, 1, 2, 16, &lo, &hi);
    assert_int_equal(lo, 48);
    assert_int_equal(hi, 100);
    rc_pool_range(5, 2, 3, 1, &lo, &hi);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 5);
    rc_pool_range(10, 0, 2, 16, &lo, &hi); /* one block: all to the last part */
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
    rc_pool_range(10, 1, 2, 16, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 10);
}

/* ---------------------------------------------------------- products -- */

/* How many of the n numbers of b differ from a's: bit for bit with the
 * portable kernel (unless near), beyond a relative 1e-5 with a BLAS. */
static size_t count_differing_near(const float *a, const float *b, size_t n, int near)
{
    int exact = !near && !strcmp(rc_blas_name(), "portable");
    size_t diff = 0;
    for (size_t j = 0; j < n; j++) {
        if (exact) {
            diff += memcmp(&a[j], &b[j], sizeof(float)) != 0;
        } else {
            float d = a[j] - b[j], m = a[j] < 0 ? -a[j] : a[j];
            if (d < 0) d = -d;
            diff += !(d <= 1e-5f * (m > 1.0f ? m : 1.0f));
        }
    }
    return diff;
}

static size_t count_differing(const float *a, const float *b, size_t n)
{
    return count_differing_near(a, b, n, 0);
}

static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static void test_gemm_split(void **state)
{
    (void)state;
    /* M x N x K, transposes: rows split, columns split, both matrix-vector
     * forms (M = 1: along N; N = 1: along M), and one too small to split. */
    const int shapes[][5] = {
        {300, 96, 40, 0, 1},  {300, 96, 40, 1, 0},  {64, 700, 50, 0, 0}, {64, 700, 50, 1, 1},
        {1, 2048, 256, 0, 1}, {1, 2048, 256, 0, 0}, {900, 1, 400, 0, 0}, {900, 1, 400, 1, 1},
        {8, 8, 8, 0, 0},      {37, 333, 129, 0, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        int ta = shapes[i][3], tb = shapes[i][4];
        int lda = ta ? M : K, ldb = tb ? K : N;
        float *A = malloc(sizeof(float) * (size_t)M * K);
        float *B = malloc(sizeof(float) * (size_t)K * N);
        float *C1 = malloc(sizeof(float) * (size_t)M * N);
        float *C2 = malloc(sizeof(float) * (size_t)M * N);
        assert_non_null(A);
        assert_non_null(B);
        assert_non_null(C1);
        assert_non_null(C2);
        fill(A, (size_t)M * K, 1 + (unsigned)i);
        fill(B, (size_t)K * N, 100 + (unsigned)i);
        fill(C1, (size_t)M * N, 7);
        memcpy(C2, C1, sizeof(float) * (size_t)M * N);
        rc_set_threads(1);
        rc_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C1, N);
        rc_set_threads(2);
        rc_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C2, N);
        rc_set_threads(1);
        size_t diff = count_differing(C1, C2, (size_t)M * N);
        if (diff)
            fail_msg("rc_gemm %dx%dx%d ta=%d tb=%d: %zu numbers differ between 1 and 2 threads",
                     M, N, K, ta, tb, diff);
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
}

/* -------------------------------------------------------------- cells -- */

typedef struct tcase {
    rc_cell_kind kind;
    int proj, T, B, I, H, reverse, varlen, with_h0;
} tcase;

/* Output y, h_n, c_n and every gradient of a forward and backward (from
 * a fixed random gradient of y and h_n), with the pool at `threads`. */
static float *run_cell(const tcase *k, int threads, int grad, size_t *n_out)
{
    rc_set_threads(threads);
    int G = rc_cell_gates(k->kind), GH = G * k->H, P = k->proj ? k->H / 2 : k->H;
    int sx[3] = {k->T, k->B, k->I}, sih[2] = {GH, k->I}, shh[2] = {GH, P}, sb[1] = {GH};
    int shr[2] = {P, k->H}, sh[2] = {k->B, P}, sc[2] = {k->B, k->H};
    rc_var *in[8] = {0};
    in[0] = test_param("x", 3, sx, 11, -1.0f, 1.0f);
    in[1] = test_param("w_ih", 2, sih, 12, -0.3f, 0.3f);
    in[2] = test_param("w_hh", 2, shh, 13, -0.3f, 0.3f);
    in[3] = test_param("b_ih", 1, sb, 14, -0.3f, 0.3f);
    in[4] = test_param("b_hh", 1, sb, 15, -0.3f, 0.3f);
    if (k->proj) in[5] = test_param("w_hr", 2, shr, 16, -0.3f, 0.3f);
    if (k->with_h0) {
        in[6] = test_param("h0", 2, sh, 17, -0.5f, 0.5f);
        if (k->kind == RC_CELL_LSTM) in[7] = test_param("c0", 2, sc, 18, -0.5f, 0.5f);
    }
    int32_t len[64];
    assert_true(k->B <= 64);
    for (int b = 0; b < k->B; b++) len[b] = k->varlen ? 1 + (5 * b + 3) % k->T : k->T;
    rc_cell_weights w = {in[1], in[2], in[3], in[4], in[5]};
    rc_tape *t = rc_tape_new();
    assert_non_null(t);
    rc_tape_set_grad(t, grad);
    rc_var *y, *hn, *cn;
    assert_int_equal(rc_cell_sequence(t, k->kind, &w, in[0], in[6], in[7],
                                      k->varlen ? len : NULL, k->reverse, &y, &hn, &cn),
                     RC_OK);
    size_t ny = (size_t)k->T * k->B * P, nh = (size_t)k->B * P;
    /* backward from y and h_n together: through the node that holds both */
    rc_var *node = y->in[0];
    size_t nn = node->value.size;
    if (!grad) { /* inference: the outputs only */
        float *out = malloc(sizeof(float) * nn);
        assert_non_null(out);
        memcpy(out, node->value.data, nn * sizeof(float));
        for (int i = 0; i < 8; i++) rc_param_free(in[i]);
        rc_tape_free(t);
        rc_set_threads(1);
        *n_out = nn;
        return out;
    }
    float *seed = malloc(sizeof(float) * nn);
    assert_non_null(seed);
    fill(seed, nn, 99);
    assert_int_equal(rc_backward_from(t, node, seed), RC_OK);
    free(seed);
    size_t total = nn;
    for (int i = 0; i < 8; i++)
        if (in[i]) total += in[i]->value.size;
    float *out = malloc(sizeof(float) * total), *o = out;
    assert_non_null(out);
    memcpy(o, node->value.data, nn * sizeof(float));
    o += nn;
    for (int i = 0; i < 8; i++) {
        if (!in[i]) continue;
        assert_non_null(in[i]->grad);
        memcpy(o, in[i]->grad, in[i]->value.size * sizeof(float));
        o += in[i]->value.size;
        rc_param_free(in[i]);
    }
    (void)ny;
    (void)nh;
    rc_tape_free(t);
    rc_set_threads(1);
    *n_out = total;
    return out;
}

static void test_cells_threaded(void **state)
{
    (void)state;
    const tcase cases[] = {
        {RC_CELL_LSTM, 0, 7, 33, 20, 40, 0, 0, 1},  {RC_CELL_LSTM, 0, 6, 9, 5, 24, 1, 1, 1},
        {RC_CELL_GRU, 0, 7, 33, 20, 40, 0, 1, 0},   {RC_CELL_GRU, 0, 5, 12, 7, 16, 1, 0, 1},
        {RC_CELL_RNN_TANH, 0, 6, 16, 9, 32, 0, 1, 1}, {RC_CELL_LSTM, 1, 5, 10, 6, 16, 0, 1, 1},
        {RC_CELL_LSTM, 0, 1, 12, 8, 24, 0, 0, 1},  /* one step: the step op's path */
        {RC_CELL_LSTM, 0, 3, 1, 64, 256, 0, 0, 1}, /* batch 1: products split by rc_gemm */
        {RC_CELL_GRU, 0, 3, 2, 64, 256, 1, 1, 1},
        /* Hidden sizes that fill the kernel's 16-column slivers. */
        {RC_CELL_LSTM, 0, 6, 9, 5, 128, 1, 1, 1},  {RC_CELL_LSTM, 0, 4, 20, 3, 64, 0, 0, 0},
        {RC_CELL_GRU, 0, 5, 11, 6, 96, 0, 1, 1},   {RC_CELL_GRU, 0, 4, 8, 1, 48, 1, 0, 1},
        {RC_CELL_RNN_RELU, 0, 5, 6, 7, 64, 1, 1, 0},
        /* Batch 64: forward runs 4 blocks of 16 rows on 2 threads, each
         * block's steps taken by whichever thread is free. */
        {RC_CELL_LSTM, 0, 7, 64, 5, 32, 1, 1, 1},  {RC_CELL_GRU, 0, 6, 64, 6, 48, 0, 0, 0},
        {RC_CELL_LSTM, 1, 5, 64, 4, 32, 0, 1, 0},  {RC_CELL_RNN_TANH, 0, 9, 64, 3, 16, 1, 0, 1},
    };
    char what[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tcase *k = &cases[i];
        snprintf(what, sizeof what, "%s proj=%d T=%d B=%d I=%d H=%d reverse=%d varlen=%d",
                 rc_cell_name(k->kind), k->proj, k->T, k->B, k->I, k->H, k->reverse, k->varlen);
        size_t n1, n2, n3, n4;
        float *a = run_cell(k, 1, 1, &n1), *b = run_cell(k, 2, 1, &n2);
        assert_true(n1 == n2);
        size_t diff = count_differing(a, b, n1);
        if (diff) fail_msg("%s: %zu of %zu numbers differ between 1 and 2 threads", what, diff, n1);
        /* Inference (gradients off) keeps one step and projects the input
         * step by step: the same outputs, on 1 and 2 threads (against
         * training's, within 1e-5: a product of one row is summed in
         * another order than one of several). */
        float *c = run_cell(k, 1, 0, &n3), *d = run_cell(k, 2, 0, &n4);
        assert_true(n3 == n4 && n3 <= n1);
        if ((diff = count_differing_near(a, c, n3, 1)))
            fail_msg("%s: inference: %zu of %zu outputs differ from training's", what, diff, n3);
        if ((diff = count_differing(c, d, n3)))
            fail_msg("%s: inference: %zu of %zu outputs differ between 1 and 2 threads", what,
                     diff, n3);
        free(a);
        free(b);
        free(c);
        free(d);
    }
}

/* ---------------------------------------------------------------- CLI -- */

/* --threads drives the pool: a small language model trained with 1 and
 * with 2 threads logs the same losses (to the printed digits, or within
 * 1e-4 where OpenBLAS's block edges differ), and samples the same text. */
static void test_cli_threads(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("threads");
    assert_non_null(dir);
    FILE *f = fopen(test_path(dir, "text.txt"), "w");
    assert_non_null(f);
    for (int i = 0; i < 400; i++)
        fprintf(f, "%s %s.\n", i % 3 ? "the cat" : "a dog", i % 5 ? "sleeps" : "runs far");
    fclose(f);
    char err[4096];
    static char a[40][32], b[40][32];
    for (int th = 1; th <= 2; th++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "train lm --data text.txt --hidden 64 --embed 16 --layers 2 --batch 16 "
                 "--bptt 24 --steps 40 --eval-every 1000 --quiet --threads %d --out m%d.model "
                 "--log m%d.csv", th, th, th);
        if (test_run_recur(dir, cmd, err, sizeof err)) fail_msg("%s: %s", cmd, err);
    }
    assert_int_equal(test_read_losses(dir, "m1.csv", a, 40), 40);
    assert_int_equal(test_read_losses(dir, "m2.csv", b, 40), 40);
    for (int i = 0; i < 40; i++) {
        double x = atof(a[i]), y = atof(b[i]);
        if (strcmp(a[i], b[i]) && !(x - y < 1e-4 * x && y - x < 1e-4 * x))
            fail_msg("step %d: loss %s with 1 thread, %s with 2", i + 1, a[i], b[i]);
    }
    char *s1 = NULL, *s2 = NULL;
    assert_int_equal(test_run_recur(dir, "sample m1.model --length 120 --seed 3 --threads 1", err,
                                    sizeof err), 0);
    s1 = test_slurp(dir, "out.txt");
    assert_int_equal(test_run_recur(dir, "sample m1.model --length 120 --seed 3 --threads 2", err,
                                    sizeof err), 0);
    s2 = test_slurp(dir, "out.txt");
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    assert_int_equal(test_tmpdir_remove(dir), 0);
}

TEST_GROUP(threads_group, "threads", cmocka_unit_test(test_pool_runs_every_part),
           cmocka_unit_test(test_pool_wakes_sleepers),
           cmocka_unit_test(test_pool_range), cmocka_unit_test(test_gemm_split),
           cmocka_unit_test(test_cells_threaded), cmocka_unit_test(test_cli_threads));
