/* test_forecast.c - time-series forecasting: the CSV column reader (good
 * files with a header, quoted fields, CRLF, a byte order mark and blank
 * trailing lines; each bad case's message), normalisation and windows on
 * a hand-made series, the seasonal-naive baseline and RMSE/MAE on
 * hand-computed numbers, and through the recur command: training on a
 * generated seasonal series that beats the baseline, eval agreeing with
 * training, exact resume, and one-line errors. */
#include "test.h"

#include "tasks/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The running test's temporary directory. */
static char *dir;
static int make_dir(void **state) { return (dir = test_tmpdir_make("fc")) ? 0 : -1; }
static int remove_dir(void **state) { return test_tmpdir_remove(dir); }

/* Writes a text to dir/name; returns the path. */
static const char *put(const char *name, const char *text)
{
    return test_write_file(dir, name, text, strlen(text));
}

/* ---------------------------------------------------------------- CSV -- */

static void test_csv_reads_quoted_crlf_header(void **state)
{
    (void)state;
    /* As the airline file: quoted header, CRLF, no line end at the end. */
    const char *p = put("air.csv", "\"Month\",\"Passengers\"\r\n\"1949-01\",112\r\n"
                                   "\"1949-02\",118\r\n\"1949-03\",132");
    rc_csv_column c;
    assert_int_equal(rc_csv_read_column(p, "Passengers", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 3);
    assert_true(c.values[0] == 112 && c.values[1] == 118 && c.values[2] == 132);
    assert_string_equal(c.name, "Passengers");
    assert_int_equal(c.index, 2);
    assert_int_equal(c.header, 1);
    assert_int_equal(c.first_line, 2);
    rc_csv_column_free(&c);
    assert_null(c.values);
    /* The same column by number. */
    assert_int_equal(rc_csv_read_column(p, "2", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.name, "Passengers");
    assert_true(c.values[2] == 132);
    rc_csv_column_free(&c);

    /* Quoted commas, doubled quotes, a quoted line break, spaces around
     * numbers, a byte order mark and blank lines at the end. */
    p = put("q.csv", "\xef\xbb\xbfid,\"note, with comma\",\"val\"\n"
                     "1,\"he said \"\"hi\"\"\", 2.5\n"
                     "2,\"two\nlines\",-1e2\n"
                     "3,plain,\"7\"\n\n\r\n\n");
    assert_int_equal(rc_csv_read_column(p, "val", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 3);
    assert_true(c.values[0] == 2.5f && c.values[1] == -100.0f && c.values[2] == 7.0f);
    assert_int_equal(c.index, 3);
    rc_csv_column_free(&c);
    assert_int_equal(rc_csv_read_column(p, "id", 1, &c), RC_OK);
    assert_true(c.n == 3 && c.values[2] == 3.0f);
    rc_csv_column_free(&c);
    /* The quoted text came through unescaped: it is quoted in the error,
     * and the row after the two-line field is on line 5. */
    assert_int_equal(rc_csv_read_column(p, "note, with comma", 1, &c), RC_ERR_FORMAT);
    assert_non_null(strstr(rc_last_error(), "q.csv:2: column 2 (note, with comma): "
                                            "'he said \"hi\"' is not a number"));
    p = put("q2.csv", "a,b\n1,\"x\ny\"\n2,3,4\n");
    assert_int_equal(rc_csv_read_column(p, "a", 1, &c), RC_ERR_FORMAT);
    assert_non_null(strstr(rc_last_error(), "q2.csv:4: 3 fields, but the header has 2"));

    /* No header: a single column, detected automatically or stated. */
    p = put("plain.csv", "1.5\n2\n-3e2\n\n\n");
    assert_int_equal(rc_csv_read_column(p, "1", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 3);
    assert_true(c.values[0] == 1.5f && c.values[2] == -300.0f);
    assert_int_equal(c.header, 0);
    assert_string_equal(c.name, "column 1");
    assert_int_equal(c.first_line, 1);
    rc_csv_column_free(&c);
    assert_int_equal(rc_csv_read_column(p, "1", 1, &c), RC_OK); /* "1.5" as a header */
    assert_true(c.n == 2 && c.values[0] == 2.0f);
    assert_string_equal(c.name, "1.5");
    rc_csv_column_free(&c);
}

static void expect_csv_error(const char *name, const char *bytes, const char *column, int header,
                             rc_status want, const char *msg)
{
    const char *p = put(name, bytes);
    rc_csv_column c;
    c.values = (float *)&c; /* must be reset */
    rc_status s = rc_csv_read_column(p, column, header, &c);
    if (s != want)
        fail_msg("%s: status %s, expected %s (%s)", name, rc_status_name(s), rc_status_name(want),
                 rc_last_error());
    assert_null(c.values);
    assert_int_equal(c.n, 0);
    if (!strstr(rc_last_error(), msg))
        fail_msg("%s: message [%s] does not contain [%s]", name, rc_last_error(), msg);
    if (strncmp(rc_last_error(), "csv_read: ", 10)) fail_msg("[%s]", rc_last_error());
}

static void test_csv_errors_name_file_line_and_column(void **state)
{
    (void)state;
    expect_csv_error("empty.csv", "", "1", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "empty.csv: empty file");
    expect_csv_error("blank.csv", "\r\n\n  \n", "1", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "blank.csv: empty file");
    expect_csv_error("hdr.csv", "\"Month\",\"Passengers\"\r\n", "Passengers", RC_CSV_HEADER_AUTO,
                     RC_ERR_FORMAT, "hdr.csv: no data rows after the header");
    expect_csv_error("nocol.csv", "Month,Passengers\n1,2\n", "Sunspots", RC_CSV_HEADER_AUTO,
                     RC_ERR_FORMAT, "nocol.csv:1: no column 'Sunspots' in the header "
                                    "('Month', 'Passengers')");
    expect_csv_error("nocol3.csv", "Month,Passengers\n1,2\n", "3", RC_CSV_HEADER_AUTO,
                     RC_ERR_FORMAT, "nocol3.csv:1: no column 3: the rows have 2 columns");
    expect_csv_error("nocol0.csv", "Month,Passengers\n1,2\n", "0", RC_CSV_HEADER_AUTO,
                     RC_ERR_FORMAT, "no column 0");
    expect_csv_error("named.csv", "1,2\n3,4\n", "Passengers", 0, RC_ERR_ARG,
                     "column 'Passengers' is a name, but the file is read without a header");
    expect_csv_error("nan.csv", "Month,Passengers\r\n1949-01,112\r\n1949-02,abc\r\n", "Passengers",
                     RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "nan.csv:3: column 2 (Passengers): 'abc' is not a number");
    expect_csv_error("nan2.csv", "v\n1\nnan\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "nan2.csv:3: column 1 (v): 'nan' is not a number");
    expect_csv_error("hex.csv", "v\n0x10\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "hex.csv:2: column 1 (v): '0x10' is not a number");
    expect_csv_error("big.csv", "v\n1e39\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "'1e39' is out of float range");
    expect_csv_error("part.csv", "v\n12abc\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "part.csv:2: column 1 (v): '12abc' is not a number");
    expect_csv_error("gap.csv", "a,b\n1,2\n3,\n", "b", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "gap.csv:3: column 2 (b): empty value");
    expect_csv_error("ragged.csv", "a,b\n1,2\n3,4,5\n6,7\n", "a", RC_CSV_HEADER_AUTO,
                     RC_ERR_FORMAT, "ragged.csv:3: 3 fields, but the header has 2");
    expect_csv_error("short.csv", "1,2\n3\n", "1", 0, RC_ERR_FORMAT,
                     "short.csv:2: 1 field, but the first row has 2");
    expect_csv_error("hole.csv", "v\n1\n\n2\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "hole.csv:3: blank line inside the data");
    expect_csv_error("open.csv", "v\n1\n\"2\n3\n", "v", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "open.csv:3: a quoted field opened on line 3 is never closed");
    expect_csv_error("after.csv", "a,b\n\"1\"x,2\n", "a", RC_CSV_HEADER_AUTO, RC_ERR_FORMAT,
                     "after.csv:2: field 1: text after the closing quote");
    /* A file that is not there, and a directory. */
    rc_csv_column c;
    char p[160];
    snprintf(p, sizeof p, "%s/missing.csv", dir);
    assert_int_equal(rc_csv_read_column(p, "1", RC_CSV_HEADER_AUTO, &c), RC_ERR_IO);
    assert_non_null(strstr(rc_last_error(), "missing.csv"));
    assert_int_equal(rc_csv_read_column(dir, "1", RC_CSV_HEADER_AUTO, &c), RC_ERR_IO);
    assert_int_equal(rc_csv_read_column(p, "", RC_CSV_HEADER_AUTO, &c), RC_ERR_ARG);
    assert_int_equal(rc_csv_read_column(p, "1", 7, &c), RC_ERR_ARG);
}

/* The real files, when the shared data is there. */
static void test_csv_reads_the_timeseries_files(void **state)
{
    (void)state;
    const char *air = RC_SOURCE_DIR "/../shared/data/timeseries/airline-passengers.csv";
    const char *sun = RC_SOURCE_DIR "/../shared/data/timeseries/monthly-sunspots.csv";
    if (access(air, R_OK) || access(sun, R_OK)) TEST_SKIP();
    rc_csv_column c;
    assert_int_equal(rc_csv_read_column(air, "Passengers", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 144);
    assert_true(c.values[0] == 112 && c.values[143] == 432);
    rc_csv_column_free(&c);
    assert_int_equal(rc_csv_read_column(sun, "2", RC_CSV_HEADER_AUTO, &c), RC_OK);
    assert_int_equal(c.n, 2820);
    assert_string_equal(c.name, "Sunspots");
    assert_true(c.values[0] == 58.0f && c.values[2819] == 33.4f);
    rc_csv_column_free(&c);
    assert_int_equal(rc_csv_read_column(air, "Month", RC_CSV_HEADER_AUTO, &c), RC_ERR_FORMAT);
    assert_non_null(strstr(rc_last_error(), "airline-passengers.csv:2: column 1 (Month): "
                                            "'1949-01' is not a number"));
}

/* ---------------------------------------------- windows and baselines -- */

static void test_normalisation_and_windows(void **state)
{
    (void)state;
    const float y[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    fc_norm nm;
    char why[128];
    /* Mean 4.5, population sd sqrt(5.25). */
    assert_int_equal(fc_norm_fit(&nm, y, 8, 0, why, sizeof why), 0);
    assert_true(fabs(nm.mean - 4.5) < 1e-12 && fabs(nm.sd - sqrt(5.25)) < 1e-12);
    assert_true(fabs(fc_norm_apply(&nm, 1) - (1 - 4.5) / sqrt(5.25)) < 1e-12);
    assert_true(fabs(fc_norm_invert(&nm, fc_norm_apply(&nm, 6.25)) - 6.25) < 1e-12);
    /* Only the part given counts: the first 4 values, mean 2.5. */
    assert_int_equal(fc_norm_fit(&nm, y, 4, 0, why, sizeof why), 0);
    assert_true(fabs(nm.mean - 2.5) < 1e-12 && fabs(nm.sd - sqrt(1.25)) < 1e-12);
    /* Log first: log 1, log e, log e^2 = 0, 1, 2: mean 1, sd sqrt(2/3). */
    const float ly[3] = {1.0f, (float)exp(1.0), (float)exp(2.0)};
    assert_int_equal(fc_norm_fit(&nm, ly, 3, 1, why, sizeof why), 0);
    assert_true(fabs(nm.mean - 1) < 1e-6 && fabs(nm.sd - sqrt(2.0 / 3)) < 1e-6);
    assert_true(fabs(fc_norm_invert(&nm, fc_norm_apply(&nm, 20)) - 20) < 1e-9);
    const float bad[3] = {1, 0, 2}, flat[3] = {5, 5, 5};
    assert_int_equal(fc_norm_fit(&nm, bad, 3, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "value 0 (point 2) is not positive"));
    assert_int_equal(fc_norm_fit(&nm, flat, 3, 0, why, sizeof why), -1);
    assert_non_null(strstr(why, "constant"));
    assert_int_equal(fc_norm_fit(&nm, y, 1, 0, why, sizeof why), -1);

    /* Windows of W=3 in, H=2 out over z = 10 * index. */
    float z[8];
    for (int i = 0; i < 8; i++) z[i] = 10.0f * (float)i;
    fc_config c;
    memset(&c, 0, sizeof c);
    c.window = 3, c.horizon = 2, c.season = 4;
    const int64_t starts[2] = {3, 5};
    float x[3 * 2 * 3], t[2 * 2];
    fc_make_inputs(&c, z, starts, 2, x);
    /* time-major [W x B x 1]: t=0: z0, z2; t=1: z1, z3; t=2: z2, z4 */
    const float want_x[6] = {0, 20, 10, 30, 20, 40};
    for (int i = 0; i < 6; i++) assert_true(x[i] == want_x[i]);
    fc_make_targets(&c, z, starts, 2, t);
    const float want_t[4] = {30, 40, 50, 60};
    for (int i = 0; i < 4; i++) assert_true(t[i] == want_t[i]);
    /* Changes from each window's last value (z2 = 20, z4 = 40). */
    c.predict_change = 1;
    fc_make_targets(&c, z, starts, 2, t);
    const float want_d[4] = {10, 20, 10, 20};
    for (int i = 0; i < 4; i++) assert_true(t[i] == want_d[i]);
    /* Season features: sin, cos of 2 pi (pos mod 4) / 4 after each value. */
    c.season_features = 1;
    assert_int_equal(fc_features(&c), 3);
    fc_make_inputs(&c, z, starts, 2, x);
    /* t=1, b=1 reads position 5 - 3 + 1 = 3: phase 3/4: sin -1, cos 0. */
    const float *e = x + (1 * 2 + 1) * 3;
    assert_true(e[0] == 30 && fabsf(e[1] + 1) < 1e-6f && fabsf(e[2]) < 1e-6f);
    /* t=2, b=0 reads position 2: phase 1/2: sin 0, cos -1. */
    e = x + (2 * 2 + 0) * 3;
    assert_true(e[0] == 20 && fabsf(e[1]) < 1e-6f && fabsf(e[2] + 1) < 1e-6f);
}

static void test_seasonal_naive_and_errors(void **state)
{
    (void)state;
    /* Two seasons of 4, then a holdout of 6. */
    const float y[14] = {1, 2, 3, 4, 2, 4, 6, 8, 3, 5, 7, 9, 4, 6};
    float one[6], multi[6];
    fc_naive_one_step(y, 8, 6, 4, one);
    const float want1[6] = {2, 4, 6, 8, 3, 5}; /* y[t - 4] */
    for (int i = 0; i < 6; i++) assert_true(one[i] == want1[i]);
    fc_naive_multi_step(y, 8, 6, 4, multi);
    const float wantm[6] = {2, 4, 6, 8, 2, 4}; /* the last season before 8, repeated */
    for (int i = 0; i < 6; i++) assert_true(multi[i] == wantm[i]);
    /* Errors one step: truth 3 5 7 9 4 6 minus 2 4 6 8 3 5: all 1. */
    assert_true(fabs(fc_rmse(one, y + 8, 6) - 1) < 1e-12);
    assert_true(fabs(fc_mae(one, y + 8, 6) - 1) < 1e-12);
    /* Multi-step: 1 1 1 1 2 2: RMSE sqrt(12/6), MAE 8/6. */
    assert_true(fabs(fc_rmse(multi, y + 8, 6) - sqrt(2.0)) < 1e-12);
    assert_true(fabs(fc_mae(multi, y + 8, 6) - 8.0 / 6) < 1e-12);
    const float a[3] = {1, 2, 3}, b[3] = {2, 4, 6};
    assert_true(fabs(fc_rmse(a, b, 3) - sqrt(14.0 / 3)) < 1e-12);
    assert_true(fabs(fc_mae(a, b, 3) - 2) < 1e-12);
    assert_true(fc_rmse(a, b, 0) != fc_rmse(a, b, 0)); /* NaN for nothing */
}

/* ---------------------------------------------------- the command line -- */


/* A number after "key": in a JSON text (inside obj when given). */
static double json_num(const char *json, const char *obj, const char *key)
{
    const char *at = json;
    char k[64];
    if (obj) {
        snprintf(k, sizeof k, "\"%s\":{", obj);
        at = strstr(json, k);
        if (!at) fail_msg("no %s in %s", obj, json);
    }
    snprintf(k, sizeof k, "\"%s\":", key);
    at = strstr(at, k);
    if (!at) fail_msg("no %s in %s", key, json);
    return atof(at + strlen(k));
}

/* A monthly-like series: level 10, a trend, a yearly cycle and noise. */
static void write_series(const char *name, int n, uint64_t seed)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    rc_rng r;
    rc_rng_init(&r, seed);
    fprintf(f, "\"t\",\"value\"\r\n");
    for (int t = 0; t < n; t++)
        fprintf(f, "\"%d\",%.4f\r\n", t,
                10 + 0.05 * t + 3 * sin(6.283185307179586 * t / 12) + 0.3 * rc_rng_normal(&r));
    fclose(f);
}

static void test_train_beats_seasonal_naive_and_eval_agrees(void **state)
{
    (void)state;
    write_series("s.csv", 240, 3);
    char err[4096];
    if (test_run_recur(dir,
                       "train forecast --data s.csv --column value --holdout 24 --season-features "
                       "--hidden 16 --epochs 60 --threads 1 --json --quiet --out s.model",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *tr = test_slurp(dir, "out.txt");
    assert_non_null(tr);
    double r1 = json_num(tr, "one_step", "rmse"), n1 = json_num(tr, "one_step", "naive_rmse");
    double rm = json_num(tr, "multi_step", "rmse"), nm = json_num(tr, "multi_step", "naive_rmse");
    double m1 = json_num(tr, "one_step", "mae"), nmae = json_num(tr, "one_step", "naive_mae");
    /* The seasonal naive misses a year of trend (0.6) plus twice the noise. */
    if (!(r1 < 0.8 * n1 && m1 < nmae && rm < nm))
        fail_msg("the model does not beat the seasonal-naive baseline: %s", tr);
    assert_non_null(strstr(tr, "\"strategy\":\"recursive\""));
    assert_int_equal((int)json_num(tr, NULL, "holdout"), 24);
    /* The plot is next to the model. */
    char p[160];
    snprintf(p, sizeof p, "%s/s.model.forecast.png", dir);
    assert_int_equal(access(p, R_OK), 0);

    /* eval on the same file gives the same numbers, as one JSON line. */
    if (test_run_recur(dir, "eval s.model s.csv --json", err, sizeof err))
        fail_msg("eval failed: %s", err);
    char *ev = test_slurp(dir, "out.txt");
    assert_non_null(ev);
    assert_int_equal(strchr(ev, '\n') - ev, (long)strlen(ev) - 1);
    assert_true(json_num(ev, "one_step", "rmse") == r1);
    assert_true(json_num(ev, "multi_step", "rmse") == rm);
    assert_true(json_num(ev, "multi_step", "naive_rmse") == nm);
    /* And as a table. */
    assert_int_equal(test_run_recur(dir, "eval s.model s.csv", err, sizeof err), 0);
    char *tab = test_slurp(dir, "out.txt");
    assert_non_null(strstr(tab, "seasonal naive S=12"));
    assert_non_null(strstr(tab, "multi-step"));
    /* A direct model: the horizon covers the whole holdout. */
    if (test_run_recur(dir,
                       "train forecast --data s.csv --column 2 --holdout 12 --season-features "
                       "--hidden 8 --epochs 5 --threads 1 --json --quiet --out d.model",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    char *dj = test_slurp(dir, "out.txt");
    assert_non_null(strstr(dj, "\"strategy\":\"direct\""));
    free(tr), free(ev), free(tab), free(dj);
}

#define RESUME_ARGS                                                                       \
    "train forecast --data s.csv --column value --holdout 24 --window 18 --horizon 6 "     \
    "--season-features --cell lstm --hidden 12 --layers 2 --dropout 0.1 --batch 8 "        \
    "--threads 1 --quiet "

static void test_resume_is_exact(void **state)
{
    (void)state;
    write_series("s.csv", 200, 9);
    char err[4096];
    /* 160 steps straight, against 70 steps, then a resume to 160. An epoch
     * is 17 steps (136 windows of 8), so the resume starts mid-epoch. */
    if (test_run_recur(dir, RESUME_ARGS "--steps 160 --out a.model --log a.csv", err, sizeof err))
        fail_msg("uninterrupted run failed: %s", err);
    if (test_run_recur(dir, RESUME_ARGS "--steps 70 --out b.model --log b.csv", err, sizeof err))
        fail_msg("first half failed: %s", err);
    if (test_run_recur(dir, "train forecast --resume b.model.ckpt --steps 160 --json", err,
                       sizeof err))
        fail_msg("resume failed: %s", err);
    static char a[160][32], b[160][32];
    assert_int_equal(test_read_losses(dir, "a.csv", a, 160), 160);
    assert_int_equal(test_read_losses(dir, "b.csv", b, 160), 160);
    for (int i = 0; i < 160; i++)
        if (strcmp(a[i], b[i]))
            fail_msg("step %d: uninterrupted loss %s, resumed loss %s", i + 1, a[i], b[i]);
    /* The resumed run kept its options (the log file, the data). */
    char *out = test_slurp(dir, "out.txt");
    assert_int_equal((int)json_num(out, NULL, "steps"), 160);
    free(out);
    /* A model file is not a checkpoint. */
    assert_int_not_equal(test_run_recur(dir, "train forecast --resume b.model", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "resume from MODEL.ckpt"));
}

static void expect_error(const char *args, const char *want)
{
    test_expect_cli_error(dir, args, "recur ", want);
}

static void test_bad_input_gives_one_line_errors(void **state)
{
    (void)state;
    write_series("s.csv", 60, 1);
    put("neg.csv", "v\n1\n-2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n");
    put("bad.csv", "v\n1\n2\nthree\n");
    const char *T = "train forecast --out x.model --quiet --epochs 1 ";
    char a[512];
#define E(args, want) (snprintf(a, sizeof a, "%s%s", T, args), expect_error(a, want))
    E("--data s.csv", "--column");
    E("--column value", "--data");
    E("--data missing.csv --column value", "missing.csv");
    E("--data s.csv --column nope", "s.csv:1: no column 'nope' in the header ('t', 'value')");
    E("--data bad.csv --column v", "bad.csv:4: column 1 (v): 'three' is not a number");
    E("--data s.csv --column value --holdout 5 --holdout-fraction 0.1", "not both");
    E("--data s.csv --column value --holdout 60", "nothing to train on");
    E("--data s.csv --column value --holdout-fraction 1.5", "--holdout-fraction");
    E("--data s.csv --column value --holdout 12 --window 40", "fewer than --window 40");
    E("--data s.csv --column value --target levels", "--target must be change or level");
    E("--data s.csv --column value --window 0", "--window");
    E("--data s.csv --column value --bidirectional", "--bidirectional");
    E("--data neg.csv --column v --holdout 4 --window 4 --horizon 2 --season 4 --log-transform",
      "value -2 (point 2) is not positive");
    E("--data s.csv --column value --cell lstmm", "--cell");
#undef E
    /* eval: another task's model, and a file without the model's column. */
    char err[4096];
    if (test_run_recur(dir,
                       "train forecast --data s.csv --column value --holdout 12 --window 12 "
                       "--horizon 3 --hidden 4 --epochs 1 --threads 1 --quiet --out m.model",
                       err, sizeof err))
        fail_msg("training failed: %s", err);
    expect_error("eval m.model bad.csv", "bad.csv:1: no column 'value'");
    put("tiny.csv", "t,value\n1,2\n2,3\n3,4\n4,5\n5,6\n6,7\n7,8\n8,9\n9,8\n10,7\n11,6\n"
                    "12,5\n13,4\n14,3\n15,2\n16,3\n17,4\n18,5\n19,6\n20,7\n");
    expect_error("eval m.model tiny.csv", "the forecasts need at least --window 12");
    expect_error("train forecast --resume m.model", "m.model");
    /* A resumed run keeps its checkpoint's model and data preparation: a
     * contradicting flag is refused by name, the same value is fine. */
    static const test_cli_error_case refused[] = {
        {"--window 18 --epochs 2",
         "--window 18 contradicts the checkpoint m.model.ckpt, which was trained with "
         "--window 12: a resumed run keeps its checkpoint's model; drop --window"},
        {"--horizon 6", "--horizon 6 contradicts"},
        {"--hidden 5", "--hidden 5 contradicts"},
        {"--cell lstm", "--cell lstm contradicts"},
        {"--season-features",
         "--season-features contradicts the checkpoint m.model.ckpt, which was trained "
         "without it"},
        {"--target level", "--target level contradicts"},
        {"--holdout 6", "--holdout 6 contradicts"},
    };
    TEST_EXPECT_CLI_ERRORS(dir, "train forecast --resume m.model.ckpt", "recur ", refused);
    if (test_run_recur(dir,
                       "train forecast --resume m.model.ckpt --window 12 --horizon 3 --hidden 4 "
                       "--cell gru --lr 0.002 --epochs 2",
                       err, sizeof err))
        fail_msg("resume with the checkpoint's own flags: %s", err);
}

TEST_GROUP(forecast, "forecast",
           cmocka_unit_test_setup_teardown(test_csv_reads_quoted_crlf_header, make_dir, remove_dir),
           cmocka_unit_test_setup_teardown(test_csv_errors_name_file_line_and_column, make_dir,
                                           remove_dir),
           cmocka_unit_test(test_csv_reads_the_timeseries_files),
           cmocka_unit_test(test_normalisation_and_windows),
           cmocka_unit_test(test_seasonal_naive_and_errors),
           cmocka_unit_test_setup_teardown(test_train_beats_seasonal_naive_and_eval_agrees, make_dir,
                                           remove_dir),
           cmocka_unit_test_setup_teardown(test_resume_is_exact, make_dir, remove_dir),
           cmocka_unit_test_setup_teardown(test_bad_input_gives_one_line_errors, make_dir,
                                           remove_dir))
