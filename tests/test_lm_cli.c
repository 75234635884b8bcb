/* test_lm_cli.c - the language-model task through the recur command:
 * training, exact resume after SIGKILL, sampling reproducibility, eval,
 * and one-line errors for bad input. Small models and a small generated
 * text keep it fast. */
#include "test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECUR RC_SOURCE_DIR "/bin/recur"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/recur-lm-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    /* A text with structure to learn: sentences from a tiny grammar. */
    char p[128];
    snprintf(p, sizeof p, "%s/text.txt", dir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    const char *who[] = {"the cat", "a dog", "my king", "the old man", "our queen"};
    const char *did[] = {"sees", "loves", "fears", "calls", "follows"};
    const char *what[] = {"the moon.", "a bird.", "his horse.", "the sea.", "her crown."};
    rc_rng r;
    rc_rng_init(&r, 5);
    for (int i = 0; i < 1500; i++)
        fprintf(f, "%s %s %s\n", who[rc_rng_u32(&r) % 5], did[rc_rng_u32(&r) % 5],
                what[rc_rng_u32(&r) % 5]);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs a recur command line in dir; returns the exit code; stderr -> err. */
static int recur(const char *args, char *err, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && " RECUR " %s >out.txt 2>err.txt", dir, args);
    int rc = system(cmd);
    char p[128];
    snprintf(p, sizeof p, "%s/err.txt", dir);
    FILE *f = fopen(p, "r");
    size_t k = f && err ? fread(err, 1, n - 1, f) : 0;
    if (err) err[k] = '\0';
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *name)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t k = fread(s, 1, (size_t)n, f);
    s[k] = '\0';
    fclose(f);
    return s;
}

static int count_lines(const char *name)
{
    char *s = slurp(name);
    int n = 0;
    for (char *c = s; c && *c; c++) n += *c == '\n';
    free(s);
    return n;
}

#define TRAIN_ARGS                                                                      \
    "train lm --data text.txt --hidden 24 --embed 8 --layers 2 --dropout 0.1 --batch 8 " \
    "--bptt 16 --eval-every 50 --checkpoint-every 20 --quiet --steps 400"

/* Per step, the last loss logged (a resumed run logs the redone steps again). */
static int read_losses(const char *name, char losses[][32], int max)
{
    char *s = slurp(name);
    int n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        int step;
        char loss[32];
        if (sscanf(line, "%d,%31[^,]", &step, loss) == 2 && step >= 1 && step <= max) {
            strcpy(losses[step - 1], loss);
            if (step > n) n = step;
        }
    }
    free(s);
    return n;
}

static void test_resume_after_sigkill_matches_uninterrupted_run(void **state)
{
    (void)state;
    char err[4096];
    if (recur(TRAIN_ARGS " --out a.model --log a.csv", err, sizeof err))
        fail_msg("uninterrupted run failed: %s", err);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        execl("/bin/sh", "sh", "-c", "exec " RECUR " " TRAIN_ARGS " --out b.model --log b.csv",
              (char *)NULL);
        _exit(127);
    }
    /* Kill it hard once it is well past a checkpoint but not done. */
    int killed = 0;
    for (int i = 0; i < 200000 && !killed; i++) {
        if (count_lines("b.csv") >= 150) {
            kill(pid, SIGKILL);
            killed = 1;
        } else {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(killed);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int logged = count_lines("b.csv");
    assert_true(logged < 400); /* it really was stopped mid-run */

    if (recur("train lm --resume b.model.ckpt --quiet", err, sizeof err))
        fail_msg("resume failed: %s", err);
    static char a[400][32], b[400][32];
    assert_int_equal(read_losses("a.csv", a, 400), 400);
    assert_int_equal(read_losses("b.csv", b, 400), 400);
    for (int i = 0; i < 400; i++)
        if (strcmp(a[i], b[i]))
            fail_msg("step %d: uninterrupted loss %s, resumed loss %s (killed after %d logged steps)",
                     i + 1, a[i], b[i], logged);
    /* Training learned something: the last losses are well below the first. */
    assert_true(atof(a[399]) < 0.7 * atof(a[0]));
}

static void test_eval_and_sample(void **state)
{
    (void)state;
    char err[4096];
    if (recur("train lm --data text.txt --hidden 32 --embed 16 --batch 8 --bptt 32 --steps 300 "
              "--eval-every 100 --quiet --out m.model --lr 0.01",
              err, sizeof err))
        fail_msg("training failed: %s", err);
    if (recur("eval m.model text.txt --json", err, sizeof err)) fail_msg("eval failed: %s", err);
    char *out = slurp("out.txt");
    double loss = -1;
    const char *l = strstr(out, "\"loss\":");
    assert_non_null(l);
    loss = atof(l + 7);
    free(out);
    /* A uniform guess over ~30 characters is 3.4 nats; the grammar is easy. */
    assert_true(loss > 0 && loss < 1.6);

    /* Same seed, same text; another seed, another text. */
    assert_int_equal(recur("sample m.model --length 200 --seed 7 --prime 'the '", err, sizeof err), 0);
    char *s1 = slurp("out.txt");
    assert_int_equal(recur("sample m.model --length 200 --seed 7 --prime 'the '", err, sizeof err), 0);
    char *s2 = slurp("out.txt");
    assert_int_equal(recur("sample m.model --length 200 --seed 8 --prime 'the '", err, sizeof err), 0);
    char *s3 = slurp("out.txt");
    assert_string_equal(s1, s2);
    assert_string_not_equal(s1, s3);
    assert_true(strncmp(s1, "the ", 4) == 0);
    assert_true(strlen(s1) >= 200);
    /* Low temperature follows the grammar: words it has seen. */
    assert_int_equal(recur("sample m.model --length 300 --seed 1 --temperature 0.3", err, sizeof err), 0);
    char *cold = slurp("out.txt");
    assert_true(strstr(cold, "the ") || strstr(cold, "a ") || strstr(cold, "my "));
    free(s1), free(s2), free(s3), free(cold);
}

static void expect_error(const char *args, const char *want)
{
    char err[4096];
    int rc = recur(args, err, sizeof err);
    if (rc == 0) fail_msg("'%s' succeeded; expected an error", args);
    size_t n = strlen(err);
    if (n == 0 || strncmp(err, "recur ", 6) != 0 || strchr(err, '\n') != err + n - 1)
        fail_msg("'%s': stderr is not one 'recur ...' line: [%s]", args, err);
    if (!strstr(err, want)) fail_msg("'%s': error [%s] does not mention '%s'", args, err, want);
}

static void test_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s/empty.txt", dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/latin1.txt", dir);
    FILE *f = fopen(p, "wb");
    fputs("caf\xe9 au lait\nline two\n", f);
    fclose(f);
    expect_error("train lm --data empty.txt --out x.model", "empty");
    expect_error("train lm --data missing.txt --out x.model", "missing.txt");
    expect_error("train lm --data . --out x.model", ".");
    expect_error("train lm --data latin1.txt --out x.model", "latin1.txt:1:4: invalid UTF-8");
    expect_error("train lm --data text.txt --out x.model --cell lstmm", "--cell");
    expect_error("train lm --data text.txt --out x.model --hidden 0", "--hidden");
    expect_error("train lm --data text.txt --out x.model --lr abc", "--lr");
    expect_error("train lm --data text.txt", "--out");
    expect_error("train nosuchtask", "nosuchtask");
    expect_error("eval missing.model text.txt", "missing.model");
    expect_error("sample text.txt", "text.txt");
    /* A model file of another task: a recurrent layer from `recur run`. */
    rc_rnn_config c = rc_rnn_defaults(RC_CELL_GRU, 3, 4);
    rc_rnn *m;
    assert_int_equal(rc_rnn_new(&c, 1, &m), RC_OK);
    snprintf(p, sizeof p, "%s/layer.safetensors", dir);
    assert_int_equal(rc_rnn_save(m, p), RC_OK);
    rc_rnn_free(m);
    expect_error("eval layer.safetensors text.txt", "recurrent");
    expect_error("sample layer.safetensors", "recurrent");
    expect_error("train lm --resume layer.safetensors", "layer.safetensors");
}

static const struct CMUnitTest lm_cli_list[] = {
    cmocka_unit_test_setup_teardown(test_resume_after_sigkill_matches_uninterrupted_run, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_eval_and_sample, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_input_gives_one_line_errors, setup, teardown),
};
static const test_group lm_cli_tests = {"lm_cli", lm_cli_list,
                                        sizeof lm_cli_list / sizeof lm_cli_list[0]};
__attribute__((constructor)) static void lm_cli_register(void) { test_register(&lm_cli_tests); }
