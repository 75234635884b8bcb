/* bench_rnn.c - recur's side of `make bench-compare` (bench/compare.py):
 * one workload, timed, as one JSON line. bench/torch_rnn.py is the same in
 * PyTorch.
 *
 *   bench_rnn --cell lstm|gru --mode train|infer|gen [--input I] --hidden H
 *             --batch B --steps T --layers L [--vocab V --embed E]
 *             [--seconds S] [--threads N] [--ceiling] [--no-packed]
 *
 * train: forward, backward and an Adam step per iteration; infer: forward
 * with the tape's gradients off. Without --vocab the input is random
 * [T x B x I] and the loss the mean squared error against a random target;
 * with --vocab it is a character language model: embedding [V x E] ->
 * the recurrent layers -> linear head [H -> V] -> cross-entropy. gen:
 * that model generating one character at a time with batch 1 (embedding,
 * one step of every layer, head, softmax, a draw), state carried.
 * Tokens are T*B per iteration (gen: one per character).
 *
 * It runs for about S seconds (default 2) after one warm-up iteration and
 * prints tokens/s, the wall and CPU seconds per iteration, the CPU
 * seconds the cell ops spent in their loops over time steps (the
 * recurrent loop: per-step products and the gates' pointwise work), the
 * peak resident memory (getrusage) and what it was before the model
 * existed, and the GFLOP of matrix products one iteration does. --ceiling
 * instead times, with the BLAS called directly (cblas_sgemm /
 * cblas_sgemv; the build must have one), every product of one iteration
 * at its shape, in CPU seconds: what the machine's BLAS needs for the
 * products alone, and for the recurrent loop's per-step products.
 * --no-packed makes the loop call rc_gemm at every step instead of the
 * product with W_hh packed once (cell.c), to measure what that brings. */
#include "recur.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifdef RC_HAVE_CBLAS
#include <cblas.h>
extern void openblas_set_num_threads(int) __attribute__((weak));
#endif

/* In cell.c, not in recur.h: CPU seconds this thread's cell ops have spent
 * in their time loops (forward and backward), since the start. */
double rc_cell_loop_seconds(void);
/* In cell.c: 0 turns off the pre-packed recurrent product (rc_gemm at
 * every step instead), to measure what it brings. */
void rc_cell_set_packed(int on);

typedef struct opts {
    rc_cell_kind cell;
    const char *mode;
    int nin, H, B, T, L, V, E, threads, ceiling;
    double seconds;
} opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (all its threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_rnn: %s: %s\n", what, rc_last_error());
    exit(1);
}

/* ---------------------------------------------------------- products -- */

/* One product of an iteration: C[M x N] = op(A) op(B), `count` times;
 * loop: part of the recurrent loop (a per-step product). */
typedef struct prod {
    int M, N, K, ta, tb, count, loop;
} prod;

enum { MAX_PRODS = 64 };

static int add(prod *p, int n, int M, int N, int K, int ta, int tb, int count, int loop)
{
    if (count > 0 && n < MAX_PRODS) p[n++] = (prod){M, N, K, ta, tb, count, loop};
    return n;
}

/* The matrix products one iteration does (cell.c's and the head's). */
static int products(const opts *o, prod *p)
{
    int n = 0, G = o->cell == RC_CELL_LSTM ? 4 : 3, GH = G * o->H, H = o->H;
    int lm = o->V > 0, train = !strcmp(o->mode, "train"), gen = !strcmp(o->mode, "gen");
    int B = gen ? 1 : o->B, T = gen ? 1 : o->T, TB = T * B;
    for (int l = 0; l < o->L; l++) {
        int in = l ? H : lm ? o->E : o->nin;
        n = add(p, n, TB, GH, in, 0, 1, 1, 0);  /* input projection, all steps */
        n = add(p, n, B, GH, H, 0, 1, T, 1);    /* W_hh h, every step */
        if (!train) continue;
        n = add(p, n, GH, in, TB, 1, 0, 1, 0);  /* dW_ih */
        if (l || lm) n = add(p, n, TB, in, GH, 0, 0, 1, 0); /* dX */
        n = add(p, n, GH, H, TB, 1, 0, 1, 0);   /* dW_hh */
        n = add(p, n, B, H, GH, 0, 0, T - 1, 1); /* dh = dG W_hh, every step but the first */
    }
    if (lm) {
        n = add(p, n, TB, o->V, H, 0, 1, 1, 0); /* head */
        if (train) {
            n = add(p, n, o->V, H, TB, 1, 0, 1, 0);
            n = add(p, n, TB, H, o->V, 0, 0, 1, 0);
        }
    }
    if (gen) /* an iteration is 64 characters */
        for (int i = 0; i < n; i++) p[i].count *= 64;
    return n;
}

static double gflop(const prod *p, int n, int loop_only)
{
    double f = 0;
    for (int i = 0; i < n; i++)
        if (!loop_only || p[i].loop) f += 2.0 * p[i].M * p[i].N * p[i].K * p[i].count;
    return f * 1e-9;
}

#ifdef RC_HAVE_CBLAS
/* CPU seconds for one call of the product with the BLAS: the median of 5
 * timings of enough calls to last 10 ms (CPU time, as the recurrent loop's
 * is measured, so that other jobs on the machine do not count). */
static double blas_time(const prod *s, float *A, float *B, float *C)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, ldc = s->N;
    double t[5];
    int reps = 1;
    for (int k = -1; k < 5; k++) {
        double t0 = cpu_now();
        for (int r = 0; r < reps; r++) {
            if (s->M == 1)
                cblas_sgemv(CblasRowMajor, s->tb ? CblasNoTrans : CblasTrans,
                            s->tb ? s->N : s->K, s->tb ? s->K : s->N, 1.0f, B, ldb, A, 1, 0.0f,
                            C, 1);
            else
                cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                            s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f, A, lda,
                            B, ldb, 0.0f, C, ldc);
        }
        double dt = cpu_now() - t0;
        if (k < 0) { /* warm-up, and the number of calls for 10 ms */
            reps = dt > 0.01 ? 1 : (int)(0.01 / (dt > 1e-7 ? dt : 1e-7)) + 1;
            continue;
        }
        t[k] = dt / reps;
    }
    for (int i = 1; i < 5; i++) /* median of 5 */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[2];
}
#endif

static int ceiling(const opts *o)
{
#ifdef RC_HAVE_CBLAS
    prod p[MAX_PRODS];
    int n = products(o, p);
    size_t most = 1;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)p[i].M * p[i].K, b = (size_t)p[i].K * p[i].N,
               c = (size_t)p[i].M * p[i].N;
        if (a > most) most = a;
        if (b > most) most = b;
        if (c > most) most = c;
    }
    float *A = malloc(most * sizeof *A), *B = malloc(most * sizeof *B),
          *C = malloc(most * sizeof *C);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < most; i++) A[i] = B[i] = (float)((i % 17) - 8) * 0.01f, C[i] = 0;
    double total = 0, loop = 0;
    for (int i = 0; i < n; i++) {
        double s = blas_time(&p[i], A, B, C) * p[i].count;
        total += s;
        if (p[i].loop) loop += s;
    }
    printf("{\"side\": \"blas\", \"blas_cpu_s_per_iter\": %.6g, \"blas_loop_cpu_s_per_iter\": %.6g, "
           "\"gflop_per_iter\": %.6g, \"loop_gflop_per_iter\": %.6g, \"threads\": %d}\n",
           total, loop, gflop(p, n, 0), gflop(p, n, 1), o->threads);
    free(A), free(B), free(C);
    return 0;
#else
    (void)o;
    fprintf(stderr, "bench_rnn: --ceiling needs a build with a BLAS\n");
    return 1;
#endif
}

/* ---------------------------------------------------------- the model -- */

typedef struct model {
    rc_rnn *rnn;
    rc_linear head;
    rc_embedding_table emb;
    rc_var *params[64];
    int n_params;
} model;

static void model_new(const opts *o, model *m)
{
    memset(m, 0, sizeof *m);
    int lm = o->V > 0;
    rc_rnn_config c = rc_rnn_defaults(o->cell, lm ? o->E : o->nin, o->H);
    c.num_layers = o->L;
    if (rc_rnn_new(&c, 1, &m->rnn) != RC_OK) die("rnn");
    for (int i = 0; i < m->rnn->n_params; i++) m->params[m->n_params++] = m->rnn->params[i];
    if (lm) {
        rc_rng rng;
        rc_rng_init(&rng, 2);
        if (rc_embedding_init(&m->emb, "embedding", o->V, o->E, &rng) != RC_OK ||
            rc_linear_init(&m->head, "head", o->H, o->V, 1, &rng) != RC_OK)
            die("model");
        m->params[m->n_params++] = m->emb.weight;
        m->params[m->n_params++] = m->head.weight;
        m->params[m->n_params++] = m->head.bias;
    }
}

static void model_free(model *m)
{
    rc_rnn_free(m->rnn);
    if (m->head.weight) rc_linear_free(&m->head);
    if (m->emb.weight) rc_embedding_free(&m->emb);
}

/* Data for one batch: ids and targets (LM) or x and a target. */
typedef struct batch {
    int32_t *ids, *targets;
    float *x, *y;
} batch;

static void batch_new(const opts *o, batch *b)
{
    size_t TB = (size_t)o->T * o->B;
    rc_rng rng;
    rc_rng_init(&rng, 3);
    memset(b, 0, sizeof *b);
    if (o->V > 0) {
        b->ids = malloc(TB * sizeof *b->ids);
        b->targets = malloc(TB * sizeof *b->targets);
        if (!b->ids || !b->targets) die("out of memory");
        for (size_t i = 0; i < TB; i++) {
            b->ids[i] = (int32_t)(rc_rng_uniform(&rng) * o->V) % o->V;
            b->targets[i] = (int32_t)(rc_rng_uniform(&rng) * o->V) % o->V;
        }
    } else {
        b->x = malloc(TB * o->nin * sizeof *b->x);
        b->y = malloc(TB * o->H * sizeof *b->y);
        if (!b->x || !b->y) die("out of memory");
        rc_rng_fill_uniform(&rng, b->x, TB * o->nin, -1, 1);
        rc_rng_fill_uniform(&rng, b->y, TB * o->H, -1, 1);
    }
}

static void batch_free(batch *b)
{
    free(b->ids), free(b->targets), free(b->x), free(b->y);
}

/* Forward of one batch on t: the loss. */
static rc_var *forward(rc_tape *t, const opts *o, model *m, const batch *b)
{
    int T = o->T, B = o->B;
    rc_var *x, *y;
    if (o->V > 0)
        x = rc_reshape(t, rc_embedding(t, m->emb.weight, b->ids, T * B), 3,
                       (int[]){T, B, o->E});
    else
        x = rc_input(t, 3, (int[]){T, B, o->nin}, b->x);
    if (rc_rnn_forward(t, m->rnn, x, NULL, NULL, NULL, &y, NULL, NULL) != RC_OK) die("forward");
    if (o->V > 0) return rc_cross_entropy(t, rc_linear_forward(t, &m->head, y), b->targets, NULL);
    return rc_mse(t, y, rc_input(t, 3, (int[]){T, B, o->H}, b->y));
}

/* Generation: state [L x 1 x H] (and c for the LSTM) carried in m_h. */
typedef struct gen_state {
    float *h, *c, *p;
    int32_t next;
    rc_rng rng;
} gen_state;

static void gen_one(rc_tape *t, const opts *o, model *m, gen_state *g)
{
    int L = o->L, H = o->H, V = o->V;
    rc_tape_reset(t);
    rc_var *h0 = rc_input(t, 3, (int[]){L, 1, H}, g->h);
    rc_var *c0 = o->cell == RC_CELL_LSTM ? rc_input(t, 3, (int[]){L, 1, H}, g->c) : NULL;
    rc_var *x = rc_reshape(t, rc_embedding(t, m->emb.weight, &g->next, 1), 3,
                           (int[]){1, 1, o->E});
    rc_var *y, *hn, *cn;
    if (rc_rnn_forward(t, m->rnn, x, NULL, h0, c0, &y, &hn, &cn) != RC_OK) die("generate");
    memcpy(g->h, hn->value.data, (size_t)L * H * sizeof(float));
    if (cn) memcpy(g->c, cn->value.data, (size_t)L * H * sizeof(float));
    rc_var *logits = rc_linear_forward(t, &m->head, y);
    if (!logits) die("generate");
    const float *z = logits->value.data;
    float mx = z[0];
    for (int i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += g->p[i] = expf(z[i] - mx);
    double u = rc_rng_uniform(&g->rng) * sum, acc = 0;
    g->next = V - 1;
    for (int i = 0; i < V; i++)
        if (u < (acc += g->p[i])) {
            g->next = i;
            break;
        }
}

static int run(const opts *o)
{
    long base_rss = maxrss_kb();
    prod p[MAX_PRODS];
    int np = products(o, p);
    model m;
    model_new(o, &m);
    rc_tape *t = rc_tape_new();
    if (!t) die("tape");
    int train = !strcmp(o->mode, "train"), gen = !strcmp(o->mode, "gen");
    rc_optim *opt = NULL;
    if (train) {
        rc_optim_config oc = rc_optim_defaults(RC_OPTIM_ADAM, 1e-3);
        if (rc_optim_new(&oc, m.params, m.n_params, &opt) != RC_OK) die("optimizer");
    } else {
        rc_tape_set_grad(t, 0);
        rc_tape_set_training(t, 0);
    }
    batch b;
    gen_state g;
    memset(&g, 0, sizeof g);
    if (gen) {
        size_t n = (size_t)o->L * o->H;
        g.h = calloc(n, sizeof *g.h), g.c = calloc(n, sizeof *g.c);
        g.p = malloc((size_t)o->V * sizeof *g.p);
        if (!g.h || !g.c || !g.p) die("out of memory");
        rc_rng_init(&g.rng, 4);
    } else {
        batch_new(o, &b);
    }
    /* One iteration: a batch, or 64 characters. */
    long iters = 0;
    double t0 = 0, c0 = 0, loop0 = 0, loss = 0;
    for (int warm = 1;; warm = 0) {
        if (gen) {
            for (int k = 0; k < 64; k++) gen_one(t, o, &m, &g);
        } else {
            rc_tape_reset(t);
            rc_var *l = forward(t, o, &m, &b);
            if (!l) die("forward");
            loss = l->value.data[0];
            if (train) {
                if (rc_backward(t, l) != RC_OK || rc_optim_step(opt) != RC_OK) die("backward");
                rc_optim_zero_grad(opt);
            }
        }
        if (warm) {
            t0 = now();
            c0 = cpu_now();
            loop0 = rc_cell_loop_seconds();
            continue;
        }
        iters++;
        if (now() - t0 >= o->seconds && iters >= 2) break;
    }
    double dt = now() - t0, cpu = cpu_now() - c0, loop = rc_cell_loop_seconds() - loop0;
    double tokens = gen ? 64.0 * iters : (double)iters * o->T * o->B;
    double gf = gflop(p, np, 0);
    printf("{\"side\": \"recur\", \"tokens_per_s\": %.6g, \"iters\": %ld, \"seconds\": %.4g, "
           "\"s_per_iter\": %.6g, \"cpu_s_per_iter\": %.6g, \"loop_cpu_s_per_iter\": %.6g, \"gflop_per_iter\": %.6g, "
           "\"maxrss_kb\": %ld, \"base_rss_kb\": %ld, \"threads\": %d, \"blas\": \"%s\", "
           "\"loss\": %.5g}\n",
           tokens / dt, iters, dt, dt / iters, cpu / iters, loop / iters, gf, maxrss_kb(), base_rss,
           o->threads, rc_blas_name(), loss);
    if (gen) free(g.h), free(g.c), free(g.p);
    else batch_free(&b);
    rc_optim_free(opt);
    rc_tape_free(t);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {RC_CELL_LSTM, "train", 0, 0, 0, 0, 1, 0, 0, 0, 0, 2.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--ceiling")) {
            o.ceiling = 1;
            continue;
        }
        if (!strcmp(a, "--no-packed")) {
            rc_cell_set_packed(0);
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_rnn: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--cell")) o.cell = !strcmp(v, "gru") ? RC_CELL_GRU : RC_CELL_LSTM;
        else if (!strcmp(a, "--mode")) o.mode = v;
        else if (!strcmp(a, "--input")) o.nin = atoi(v);
        else if (!strcmp(a, "--hidden")) o.H = atoi(v);
        else if (!strcmp(a, "--batch")) o.B = atoi(v);
        else if (!strcmp(a, "--steps")) o.T = atoi(v);
        else if (!strcmp(a, "--layers")) o.L = atoi(v);
        else if (!strcmp(a, "--vocab")) o.V = atoi(v);
        else if (!strcmp(a, "--embed")) o.E = atoi(v);
        else if (!strcmp(a, "--threads")) o.threads = atoi(v);
        else if (!strcmp(a, "--seconds")) o.seconds = atof(v);
        else {
            fprintf(stderr, "bench_rnn: unknown option %s\n", a);
            return 2;
        }
    }
    if (strcmp(o.mode, "train") && strcmp(o.mode, "infer") && strcmp(o.mode, "gen")) {
        fprintf(stderr, "bench_rnn: --mode is train, infer or gen\n");
        return 2;
    }
    if (o.H < 1 || o.L < 1 || (o.V > 0 ? o.E < 1 : o.nin < 1) ||
        (strcmp(o.mode, "gen") && (o.B < 1 || o.T < 1)) || (!strcmp(o.mode, "gen") && o.V < 1)) {
        fprintf(stderr, "bench_rnn: give --hidden, --layers, --batch, --steps and --input "
                        "(or --vocab and --embed; gen needs them)\n");
        return 2;
    }
    if (o.threads > 0) rc_set_threads(o.threads);
#ifdef RC_HAVE_CBLAS
    if (o.ceiling && o.threads > 0 && openblas_set_num_threads) openblas_set_num_threads(o.threads);
#endif
    return o.ceiling ? ceiling(&o) : run(&o);
}
