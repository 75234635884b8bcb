/* pool.c - recur's own thread pool: the cores of rc_set_threads(n), for
 * the time loops of the recurrent cells (each thread runs the whole loop
 * on its share of the batch rows) and for the matrix products of rc_gemm
 * (each thread one block of C's rows or columns).
 *
 * One owner of the cores: when the pool has more than one thread,
 * OpenBLAS is held at one thread (matmul.c), so that its threads never
 * compete with ours; the pool's threads call it, one block each.
 *
 *   caller                         worker w (1 .. n-1)
 *   ------                         --------
 *   job = fn, arg, parts           spin on gen (up to YIELD_NS),
 *   gen++  (wake sleepers)           then sleep on go_cv
 *   fn(arg, 0, parts)              fn(arg, w, parts) if w < parts
 *   wait pending == 0 (spin,       pending-- (wake the caller if
 *     then sleep on done_cv)         it sleeps)
 *
 * Waiting spins for a few milliseconds at most, yielding its core to any
 * other runnable thread after the first 0.2 (below), and then blocks on a
 * condition variable: on a machine that other processes share, a thread
 * that spun forever would take a core from them (and from our own other
 * thread).
 * The wake-up handshakes are Dekker-style on sequentially consistent
 * atomics: the waker publishes, then looks for sleepers; a sleeper counts
 * itself, then looks again, so one of the two always sees the other.
 *
 * A job's parts write disjoint memory (the callers split rows or columns),
 * so nothing is shared but the job description and the counters. A call
 * made from inside a part, or while another thread of the application
 * holds the pool, runs all its parts one after the other on the calling
 * thread: the same parts, hence the same results. */
#include "../internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 64 };
/* How a waiting thread waits: it spins for SPIN_NS (longer than the gap
 * between the products of one generation step), then goes on spinning
 * but gives its core to any other runnable thread at every turn
 * (sched_yield) up to YIELD_NS, then sleeps. The yielding phase covers
 * the serial stretches between the parallel parts of a batch (a loss, the
 * next batch's setup: a few milliseconds) and a thread that ends its rows
 * of a time loop first: waking a sleeping thread costs tens to hundreds of
 * microseconds on a virtual machine, and its part starts that much late
 * (against sleeping after 0.2 ms: inference on (ii) and (iii) 1.05 to 1.13
 * times as fast, docs/performance.md). */
#define SPIN_NS 200000L
#define YIELD_NS 5000000L

static struct {
    pthread_mutex_t mu;  /* guards the sleeps and wake-ups */
    pthread_cond_t go_cv, done_cv;
    pthread_mutex_t busy; /* held by the thread that runs a job */
    atomic_uint gen;      /* incremented for each job (and to quit) */
    atomic_int pending;   /* workers that have not finished the job */
    atomic_int sleepers;  /* workers asleep on go_cv */
    atomic_int caller_asleep;
    atomic_int quit;
    rc_pool_fn fn;        /* the job: written before gen is incremented */
    void *arg;
    int parts;
    int size;             /* threads asked for (rc_pool_set_size) */
    int n_workers;        /* worker threads running (size - 1 once started) */
    unsigned start_gen;   /* gen when the workers were started */
    pthread_t tid[MAX_THREADS];
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .go_cv = PTHREAD_COND_INITIALIZER,
       .done_cv = PTHREAD_COND_INITIALIZER, .busy = PTHREAD_MUTEX_INITIALIZER, .size = 1};

/* Set on a pool thread while it runs a part (and on the caller during its
 * own part): products inside a part do not split again. */
static _Thread_local int in_part;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* One turn of a waiting thread's spin (i counts the turns, *start is
 * when it began, 0 before the first check): 0 when it is time to sleep. */
static int keep_spinning(unsigned i, long *start)
{
    if ((i & 63) != 63) {
        cpu_relax();
        return 1;
    }
    long t = now_ns();
    if (!*start) *start = t;
    if (t - *start > YIELD_NS) return 0;
    if (t - *start > SPIN_NS) sched_yield();
    return 1;
}

/* Spins until *v != old (returns 1) or it is time to sleep (returns 0). */
static int spin_while_uint(atomic_uint *v, unsigned old)
{
    long start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load(v) != old) return 1;
        if (!keep_spinning(i, &start)) return 0;
    }
}

/* Spins until *v == 0 (returns 1) or it is time to sleep (returns 0). */
static int spin_until_zero(atomic_int *v)
{
    long start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load(v) == 0) return 1;
        if (!keep_spinning(i, &start)) return 0;
    }
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    unsigned seen = P.start_gen;
    for (;;) {
        if (!spin_while_uint(&P.gen, seen)) {
            pthread_mutex_lock(&P.mu);
            atomic_fetch_add(&P.sleepers, 1);
            while (atomic_load(&P.gen) == seen) pthread_cond_wait(&P.go_cv, &P.mu);
            atomic_fetch_sub(&P.sleepers, 1);
            pthread_mutex_unlock(&P.mu);
        }
        seen = atomic_load(&P.gen);
        if (atomic_load(&P.quit)) break;
        if (w < P.parts) {
            in_part = 1;
            P.fn(P.arg, w, P.parts);
            in_part = 0;
        }
        if (atomic_fetch_sub(&P.pending, 1) == 1 && atomic_load(&P.caller_asleep)) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_broadcast(&P.done_cv);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

/* Wakes the workers for the job now in P (or to quit). */
static void post(void)
{
    atomic_fetch_add(&P.gen, 1);
    if (atomic_load(&P.sleepers) > 0) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_broadcast(&P.go_cv);
        pthread_mutex_unlock(&P.mu);
    }
}

/* Stops and joins the workers. With busy held, or when no job can run. */
static void stop_workers(void)
{
    if (!P.n_workers) return;
    atomic_store(&P.quit, 1);
    post();
    for (int w = 0; w < P.n_workers; w++) pthread_join(P.tid[w], NULL);
    P.n_workers = 0;
    atomic_store(&P.quit, 0);
}

/* A child of fork() has none of its parent's threads: it starts its own
 * when it needs them. */
static void forget_workers_in_child(void)
{
    P.n_workers = 0;
    pthread_mutex_init(&P.busy, NULL);
    pthread_mutex_init(&P.mu, NULL);
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.caller_asleep, 0);
}

/* Starts size-1 workers (fewer if the system refuses more). With busy held. */
static void start_workers(void)
{
    static int atfork_set;
    if (!atfork_set) atfork_set = pthread_atfork(NULL, NULL, forget_workers_in_child) == 0;
    P.start_gen = atomic_load(&P.gen);
    int want = P.size - 1;
    while (P.n_workers < want &&
           pthread_create(&P.tid[P.n_workers], NULL, worker,
                          (void *)(intptr_t)(P.n_workers + 1)) == 0)
        P.n_workers++;
}

/* The workers are stopped when the program ends, so that nothing of them
 * is left for a leak checker (and no thread runs while libc winds down). */
__attribute__((destructor)) static void pool_at_exit(void)
{
    if (pthread_mutex_trylock(&P.busy) != 0) return;
    stop_workers();
    pthread_mutex_unlock(&P.busy);
}

int rc_pool_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void rc_pool_set_size(int n)
{
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    pthread_mutex_lock(&P.busy);
    if (n != P.size) {
        stop_workers();
        P.size = n;
    }
    pthread_mutex_unlock(&P.busy);
}

int rc_pool_size(void) { return P.size; }

int rc_pool_threads(void) { return in_part ? 1 : P.size; }

void rc_pool_run(int parts, rc_pool_fn fn, void *arg)
{
    if (parts < 1) return;
    if (parts > P.size) parts = P.size;
    /* One part: run it here, the pool free for what it calls (a time loop
     * on one thread still splits its products). */
    if (parts == 1 && !in_part) {
        fn(arg, 0, 1);
        return;
    }
    /* Inside a part, or the pool taken by another thread: all parts here. */
    if (parts == 1 || in_part || pthread_mutex_trylock(&P.busy) != 0) {
        int was = in_part;
        in_part = 1;
        for (int p = 0; p < parts; p++) fn(arg, p, parts);
        in_part = was;
        return;
    }
    if (P.n_workers < P.size - 1) start_workers();
    if (parts > P.n_workers + 1) parts = P.n_workers + 1;
    P.fn = fn;
    P.arg = arg;
    P.parts = parts;
    atomic_store(&P.pending, P.n_workers);
    post();
    in_part = 1;
    fn(arg, 0, parts);
    in_part = 0;
    if (!spin_until_zero(&P.pending)) {
        pthread_mutex_lock(&P.mu);
        atomic_store(&P.caller_asleep, 1);
        while (atomic_load(&P.pending) != 0) pthread_cond_wait(&P.done_cv, &P.mu);
        atomic_store(&P.caller_asleep, 0);
        pthread_mutex_unlock(&P.mu);
    }
    pthread_mutex_unlock(&P.busy);
}
