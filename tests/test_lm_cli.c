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

/* The running test's temporary directory. */
static char *dir;

static int setup(void **state)
{
    (void)state;
    if (!(dir = test_tmpdir_make("lm"))) return -1;
    /* A text with structure to learn: sentences from a tiny grammar. */
    FILE *f = fopen(test_path(dir, "text.txt"), "w");
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

static int teardown(void **state) { return test_tmpdir_remove(dir); }

#define TRAIN_ARGS                                                                      \
    "train lm --data text.txt --hidden 24 --embed 8 --layers 2 --dropout 0.1 --batch 8 " \
    "--bptt 16 --eval-every 50 --checkpoint-every 20 --quiet --steps 400"

static void test_resume_after_sigkill_matches_uninterrupted_run(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir, TRAIN_ARGS " --out a.model --log a.csv", err, sizeof err))
        fail_msg("uninterrupted run failed: %s", err);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        execl("/bin/sh", "sh", "-c", "exec " TEST_RECUR " " TRAIN_ARGS " --out b.model --log b.csv",
              (char *)NULL);
        _exit(127);
    }
    /* Kill it hard once it is well past a checkpoint but not done. */
    int killed = 0;
    for (int i = 0; i < 200000 && !killed; i++) {
        if (test_count_lines(dir, "b.csv") >= 150) {
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
    int logged = test_count_lines(dir, "b.csv");
    assert_true(logged < 400); /* it really was stopped mid-run */

    if (test_run_recur(dir, "train lm --resume b.model.ckpt --quiet", err, sizeof err))
        fail_msg("resume failed: %s", err);
    static char a[400][32], b[400][32];
    assert_int_equal(test_read_losses(dir, "a.csv", a, 400), 400);
    assert_int_equal(test_read_losses(dir, "b.csv", b, 400), 400);
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
    if (test_run_recur(dir,
                       "train lm --data text.txt --hidden 32 --embed 16 --batch 8 --bptt 32 "
                       "--steps 300 --eval-every 100 --quiet --out m.model --lr 0.01",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    if (test_run_recur(dir, "eval m.model text.txt --json", err, sizeof err))
        fail_msg("eval failed: %s", err);
    char *out = test_slurp(dir, "out.txt");
    double loss = -1;
    const char *l = strstr(out, "\"loss\":");
    assert_non_null(l);
    loss = atof(l + 7);
    free(out);
    /* A uniform guess over ~30 characters is 3.4 nats; the grammar is easy. */
    assert_true(loss > 0 && loss < 1.6);

    /* Same seed, same text; another seed, another text. */
    const char *seed7 = "sample m.model --length 200 --seed 7 --prime 'the '";
    const char *seed8 = "sample m.model --length 200 --seed 8 --prime 'the '";
    assert_int_equal(test_run_recur(dir, seed7, err, sizeof err), 0);
    char *s1 = test_slurp(dir, "out.txt");
    assert_int_equal(test_run_recur(dir, seed7, err, sizeof err), 0);
    char *s2 = test_slurp(dir, "out.txt");
    assert_int_equal(test_run_recur(dir, seed8, err, sizeof err), 0);
    char *s3 = test_slurp(dir, "out.txt");
    assert_string_equal(s1, s2);
    assert_string_not_equal(s1, s3);
    assert_true(strncmp(s1, "the ", 4) == 0);
    assert_true(strlen(s1) >= 200);
    /* Low temperature follows the grammar: words it has seen. */
    const char *cold_cmd = "sample m.model --length 300 --seed 1 --temperature 0.3";
    assert_int_equal(test_run_recur(dir, cold_cmd, err, sizeof err), 0);
    char *cold = test_slurp(dir, "out.txt");
    assert_true(strstr(cold, "the ") || strstr(cold, "a ") || strstr(cold, "my "));
    free(s1), free(s2), free(s3), free(cold);
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

/* A resumed run keeps its checkpoint's model: a flag that would change its
 * shape or vocabulary is refused by name; the same value, or a flag that may
 * change (--steps, --lr), is fine. */
static void test_resume_refuses_model_flags(void **state)
{
    (void)state;
    char err[4096];
    if (test_run_recur(dir,
                       "train lm --data text.txt --hidden 8 --embed 4 --batch 2 --bptt 8 --steps 2 "
                       "--quiet --threads 1 --out r.model",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    static const test_cli_error_case refused[] = {
        {"--hidden 9 --steps 3",
         "--hidden 9 contradicts the checkpoint r.model.ckpt, which was trained with "
         "--hidden 8: a resumed run keeps its checkpoint's model; drop --hidden"},
        {"--embed 5", "--embed 5 contradicts"},
        {"--cell gru", "--cell gru contradicts"},
        {"--layers 2", "--layers 2 contradicts"},
        {"--level word", "--level word contradicts"},
        {"--min-freq 2", "--min-freq 2 contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train lm --resume r.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train lm --resume r.model.ckpt --hidden 8 --embed 4 --cell lstm --level char "
                       "--lr 0.01 --steps 3 --quiet",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

static void test_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    test_write_file(dir, "empty.txt", "", 0);
    const char latin1[] = "caf\xe9 au lait\nline two\n";
    test_write_file(dir, "latin1.txt", latin1, sizeof latin1 - 1);
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
    assert_int_equal(rc_rnn_save(m, test_path(dir, "layer.safetensors")), RC_OK);
    rc_rnn_free(m);
    expect_error("eval layer.safetensors text.txt", "recurrent");
    expect_error("sample layer.safetensors", "recurrent");
    expect_error("train lm --resume layer.safetensors", "layer.safetensors");
}

static const struct CMUnitTest lm_cli_list[] = {
    cmocka_unit_test_setup_teardown(test_resume_refuses_model_flags, setup, teardown),
    cmocka_unit_test_setup_teardown(test_resume_after_sigkill_matches_uninterrupted_run, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_eval_and_sample, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_input_gives_one_line_errors, setup, teardown),
};
static const test_group lm_cli_tests = {"lm_cli", lm_cli_list,
                                        sizeof lm_cli_list / sizeof lm_cli_list[0]};
__attribute__((constructor)) static void lm_cli_register(void) { test_register(&lm_cli_tests); }
