/* test_util.c - helpers shared by the tests. */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

rc_var *test_param(const char *name, int ndim, const int *shape, uint64_t seed,
                   float lo, float hi)
{
    rc_var *p = rc_param_new(name, ndim, shape);
    assert_non_null(p);
    rc_rng r;
    rc_rng_init(&r, seed);
    rc_rng_fill_uniform(&r, p->value.data, p->value.size, lo, hi);
    return p;
}

void assert_gradcheck(rc_gradcheck_fn f, void *user, rc_var **inputs, int n)
{
    rc_gradcheck_report rep;
    rc_status st = rc_gradcheck(f, user, inputs, n, NULL, &rep);
    if (st != RC_OK) fail_msg("gradcheck could not run: %s", rc_last_error());
    if (!rep.ok) fail_msg("%s", rep.message);
    assert_true(rep.checked > 0);
}

void test_expect_fail(rc_tape *t, const void *result, rc_status st, const char *const *words,
                      const char *what)
{
    if (result) fail_msg("%s: expected NULL", what);
    if (t) {
        if (rc_tape_status(t) != st)
            fail_msg("%s: tape status %s, expected %s (%s)", what,
                     rc_status_name(rc_tape_status(t)), rc_status_name(st), rc_last_error());
        rc_tape_reset(t);
    }
    const char *msg = rc_last_error();
    for (; *words; words++)
        if (!strstr(msg, *words)) fail_msg("%s: message \"%s\" lacks \"%s\"", what, msg, *words);
}

/* ------------------------------------------------------------ files -- */

char *test_tmpdir_make(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || strlen(base) >= 40) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 16;
    char *d = malloc(n);
    if (!d) return NULL;
    snprintf(d, n, "%s/recur-%s-XXXXXX", base, tag);
    if (!mkdtemp(d)) {
        free(d);
        return NULL;
    }
    return d;
}

/* Empties and removes one directory, depth first; links are removed, not
 * followed. */
static int remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    int r = 0;
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *p = malloc(n);
            if (!p) {
                r = -1;
                continue;
            }
            snprintf(p, n, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) r |= remove_tree(p);
            else if (remove(p) != 0) r = -1;
            free(p);
        }
        closedir(dir);
    }
    return rmdir(path) == 0 ? r : -1;
}

int test_tmpdir_remove(char *dir)
{
    if (!dir) return 0;
    int r = remove_tree(dir);
    free(dir);
    return r;
}

const char *test_path(const char *dir, const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

void test_write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (n) assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

const char *test_write_file(const char *dir, const char *name, const void *bytes, size_t n)
{
    const char *p = test_path(dir, name);
    test_write_bytes(p, bytes, n);
    return p;
}

char *test_slurp(const char *dir, const char *name)
{
    FILE *f = fopen(test_path(dir, name), "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

int test_count_lines(const char *dir, const char *name)
{
    char *s = test_slurp(dir, name);
    int n = 0;
    for (char *c = s; c && *c; c++) n += *c == '\n';
    free(s);
    return n;
}

int test_read_losses(const char *dir, const char *name, char losses[][32], int max)
{
    char *s = test_slurp(dir, name);
    int n = 0;
    for (char *line = s ? strtok(s, "\n") : NULL; line; line = strtok(NULL, "\n")) {
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

/* ------------------------------------------------- the recur command -- */

int test_run_recur(const char *dir, const char *args, char *err, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && " TEST_RECUR " %s >out.txt 2>err.txt", dir, args);
    int rc = system(cmd);
    if (err) {
        FILE *f = fopen(test_path(dir, "err.txt"), "r");
        size_t k = f ? fread(err, 1, n - 1, f) : 0;
        err[k] = '\0';
        if (f) fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void test_expect_cli_error(const char *dir, const char *args, const char *prefix,
                           const char *want)
{
    char err[4096];
    if (test_run_recur(dir, args, err, sizeof err) == 0)
        fail_msg("'%s' succeeded; expected an error", args);
    size_t n = strlen(err);
    if (n == 0 || strncmp(err, prefix, strlen(prefix)) != 0 || strchr(err, '\n') != err + n - 1)
        fail_msg("'%s': stderr is not one '%s...' line: [%s]", args, prefix, err);
    if (!strstr(err, want)) fail_msg("'%s': error [%s] does not mention '%s'", args, err, want);
}

void test_expect_cli_errors(const char *dir, const char *cmd, const char *prefix,
                            const test_cli_error_case *cases, size_t n)
{
    char args[1024];
    for (size_t i = 0; i < n; i++) {
        if (snprintf(args, sizeof args, "%s %s", cmd, cases[i].args) >= (int)sizeof args)
            fail_msg("'%s %s': too long", cmd, cases[i].args);
        test_expect_cli_error(dir, args, prefix, cases[i].want);
    }
}

char *test_torch_fresh_cases(const char *script, const char *tag, unsigned *seed)
{
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) return NULL;
    char *dir = test_tmpdir_make(tag);
    assert_non_null(dir);
    *seed = (unsigned)getpid();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/%s %s --quick --seed %u >/dev/null",
             RC_SOURCE_DIR, script, test_path(dir, "fresh.safetensors"), *seed);
    if (system(cmd) != 0) fail_msg("could not make fresh torch cases: %s", cmd);
    print_message("fresh torch cases from %s, seed %u\n", script, *seed);
    return dir;
}

rc_tensor test_fixture_get(const rc_safetensors *st, const char *c, const char *name)
{
    char k[160];
    rc_tensor t = {0};
    snprintf(k, sizeof k, "%s/%s", c, name);
    if (rc_safetensors_find(st, k) < 0) return t;
    if (rc_safetensors_get(st, k, &t) != RC_OK) fail_msg("%s", rc_last_error());
    return t;
}

int test_fixture_cases(const char *path,
                       int (*check_case)(const rc_safetensors *st, const char *c, void *user),
                       void *user)
{
    rc_safetensors *st;
    if (rc_safetensors_open(path, &st) != RC_OK) fail_msg("%s", rc_last_error());
    const char *cases = rc_safetensors_meta(st, "cases");
    assert_non_null(cases);
    char *list = strdup(cases);
    assert_non_null(list);
    int n = 0, failed = 0;
    for (char *c = strtok(list, ","); c; c = strtok(NULL, ",")) {
        n++;
        failed += check_case(st, c, user) != 0;
    }
    free(list);
    rc_safetensors_close(st);
    if (failed) fail_msg("%s: %d of %d cases differ from torch", path, failed, n);
    return n;
}

int test_close_to_fixture(const char *c, const char *name, const float *got,
                          const rc_tensor *want, double rtol)
{
    double mx = 1e-3, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < want->size; i++)
        if (fabs(want->data[i]) > mx) mx = fabs(want->data[i]);
    for (size_t i = 0; i < want->size; i++) {
        double e = got ? fabs((double)got[i] - want->data[i]) : fabs(want->data[i]);
        if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e, at = i;
    }
    if (worst > rtol * mx) {
        print_error("%s %s: element %zu is %.8g, torch says %.8g (error %.3g, max %.3g)\n", c,
                    name, at, got ? (double)got[at] : 0.0, (double)want->data[at], worst, mx);
        return 0;
    }
    return 1;
}
