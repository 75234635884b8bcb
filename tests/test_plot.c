/* test_plot.c - the PNG charts of src/plot: the files are PNGs of the
 * asked size, the data are drawn where and how they should be (read back
 * with cairo), errors name the file, and odd inputs do not crash. */
#include "test.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot/plot.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/recur-plot-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    plot_release_caches(); /* so that leak checkers see no font caches */
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Checks the PNG signature and IHDR, returning width and height. */
static void png_size(const char *path, int *w, int *h)
{
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(b + 12, "IHDR", 4);
    *w = (int)((uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19]);
    *h = (int)((uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23]);
}

/* A PNG read back: w x h pixels 0xRRGGBB. */
typedef struct image {
    int w, h;
    uint32_t *px;
} image;

static image load(const char *path)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    image im = {cairo_image_surface_get_width(s), cairo_image_surface_get_height(s), NULL};
    im.px = malloc((size_t)im.w * (size_t)im.h * sizeof *im.px);
    assert_non_null(im.px);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im.h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(d + (size_t)y * (size_t)stride);
        for (int x = 0; x < im.w; x++) im.px[(size_t)y * (size_t)im.w + (size_t)x] = row[x] & 0xffffff;
    }
    cairo_surface_destroy(s);
    return im;
}

/* Where the pixels of exactly colour c are: count, bounding box, centre. */
typedef struct where {
    long n;
    int x0, x1, y0, y1;
    double cx, cy;
} where;

static where find(const image *im, uint32_t c)
{
    where w = {0, im->w, -1, im->h, -1, 0, 0};
    c &= 0xffffff;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            if (im->px[(size_t)y * (size_t)im->w + (size_t)x] != c) continue;
            w.n++;
            w.cx += x, w.cy += y;
            if (x < w.x0) w.x0 = x;
            if (x > w.x1) w.x1 = x;
            if (y < w.y0) w.y0 = y;
            if (y > w.y1) w.y1 = y;
        }
    if (w.n) w.cx /= w.n, w.cy /= w.n;
    return w;
}

/* Pixels of colour c in columns [x0, x1]. */
static long count_cols(const image *im, uint32_t c, int x0, int x1)
{
    long n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = x0; x <= x1; x++) n += im->px[(size_t)y * (size_t)im->w + (size_t)x] == (c & 0xffffff);
    return n;
}

static double lum(uint32_t c)
{
    return 0.299 * ((c >> 16) & 0xff) + 0.587 * ((c >> 8) & 0xff) + 0.114 * (c & 0xff);
}

#define MAGENTA PLOT_RGB(255, 0, 255)

static void test_lines_png_size(void **state)
{
    (void)state;
    float y[5] = {3, 1, 4, 1, 5};
    plot_series s = {.name = "y", .y = y, .n = 5};
    plot_spec sp = {.title = "five points", .xlabel = "step", .ylabel = "loss"};
    int w, h;
    assert_int_equal(plot_lines_png(tmp("a.png"), &sp, &s, 1), RC_OK);
    png_size(tmp("a.png"), &w, &h);
    assert_int_equal(w, PLOT_DEFAULT_WIDTH);
    assert_int_equal(h, PLOT_DEFAULT_HEIGHT);
    sp.width = 640, sp.height = 360;
    assert_int_equal(plot_lines_png(tmp("b.png"), &sp, &s, 1), RC_OK);
    png_size(tmp("b.png"), &w, &h);
    assert_int_equal(w, 640);
    assert_int_equal(h, 360);
}

/* y = x in magenta, with a gap of NaNs in the middle: the line rises
 * from left to right inside the image, and the gap is empty. */
static void test_lines_draw_series_and_gap(void **state)
{
    (void)state;
    enum { N = 100 };
    float y[N];
    for (int i = 0; i < N; i++) y[i] = i >= 40 && i < 60 ? NAN : (float)i;
    plot_series s = {.y = y, .n = N, .color = MAGENTA}; /* no name: no legend */
    plot_spec sp = {.title = "diagonal", .xlabel = "x", .ylabel = "y"};
    assert_int_equal(plot_lines_png(tmp("d.png"), &sp, &s, 1), RC_OK);
    image im = load(tmp("d.png"));
    where m = find(&im, MAGENTA);
    assert_true(m.n > 300);
    /* inside the plot area, away from the labels at the edges */
    assert_true(m.x0 > 40 && m.x1 < im.w - 10 && m.y0 > 30 && m.y1 < im.h - 40);
    /* rising: the left end is low (large y), the right end high */
    int left_y = -1, right_y = -1;
    for (int y0 = 0; y0 < im.h; y0++) {
        if (im.px[(size_t)y0 * im.w + m.x0 + 1] == (MAGENTA & 0xffffff)) left_y = y0;
        if (right_y < 0 && im.px[(size_t)y0 * im.w + m.x1 - 1] == (MAGENTA & 0xffffff)) right_y = y0;
    }
    assert_true(left_y > 0 && right_y > 0 && left_y > right_y + 200);
    /* the gap (x in 39..60 is not joined) and both sides drawn */
    double span = m.x1 - m.x0;
    assert_int_equal(count_cols(&im, MAGENTA, m.x0 + (int)(span * 0.42), m.x0 + (int)(span * 0.58)), 0);
    assert_true(count_cols(&im, MAGENTA, m.x0 + (int)(span * 0.15), m.x0 + (int)(span * 0.25)) > 20);
    assert_true(count_cols(&im, MAGENTA, m.x0 + (int)(span * 0.75), m.x0 + (int)(span * 0.85)) > 20);
    free(im.px);
}

/* Two series with palette colours, a legend, a log axis and a marker. */
static void test_lines_palette_log_marker(void **state)
{
    (void)state;
    enum { N = 400 };
    float a[N], b[N], x[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i * 10;
        a[i] = 3.0f * expf(-i / 80.0f) + 0.05f;
        b[i] = 3.5f * expf(-i / 100.0f) + 0.2f;
    }
    plot_series s[2] = {{.name = "train", .x = x, .y = a, .n = N},
                        {.name = "valid", .x = x, .y = b, .n = N, .style = PLOT_DASHED}};
    plot_spec sp = {.title = "loss", .xlabel = "step", .ylabel = "loss", .log_y = 1,
                    .marker = 1, .marker_x = 2000, .marker_label = "learning rate / 10"};
    assert_int_equal(plot_lines_png(tmp("log.png"), &sp, s, 2), RC_OK);
    image im = load(tmp("log.png"));
    assert_true(find(&im, plot_palette(0)).n > 200);
    assert_true(find(&im, plot_palette(1)).n > 100);
    assert_true(plot_palette(0) != plot_palette(1) && plot_palette(10) == plot_palette(0));
    free(im.px);
}

/* A million points are drawn (reduced to the pixel columns) quickly and
 * still reach both ends; a spike in one point survives the reduction. */
static void test_lines_huge_series(void **state)
{
    (void)state;
    enum { N = 1000000 };
    float *y = malloc(N * sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < N; i++) y[i] = sinf(i * 1e-5f);
    y[N / 2] = 5; /* a single spike */
    plot_series s = {.y = y, .n = N, .color = MAGENTA, .line_width = 3};
    plot_spec sp = {.width = 600, .height = 300};
    assert_int_equal(plot_lines_png(tmp("huge.png"), &sp, &s, 1), RC_OK);
    image im = load(tmp("huge.png"));
    where m = find(&im, MAGENTA);
    assert_true(m.n > 300);
    /* the spike reaches the top of the drawn line, in the middle */
    int top_x = -1;
    for (int x = 0; x < im.w && top_x < 0; x++)
        if (im.px[(size_t)m.y0 * im.w + x] == (MAGENTA & 0xffffff)) top_x = x;
    assert_true(fabs(top_x - (m.x0 + m.x1) / 2.0) < 10);
    free(im.px);
    free(y);
}

/* Degenerate inputs draw a chart (axes at least) and do not crash. */
static void test_lines_degenerate(void **state)
{
    (void)state;
    float one = 2.5f, same[50], nan3[3] = {NAN, NAN, NAN}, neg[3] = {-1, 0, -3};
    float lone[5] = {1, NAN, 2, NAN, 3}, xs[2] = {7, 7}, ys[2] = {1, 2};
    for (int i = 0; i < 50; i++) same[i] = 0.125f;
    const char bad_utf8[] = "bad \xff\xfe utf-8 \xc3 title\n";
    plot_series cases[][2] = {
        {{.name = "one", .y = &one, .n = 1}, {.name = "empty", .y = NULL, .n = 0}},
        {{.name = "equal", .y = same, .n = 50}, {.name = "nan", .y = nan3, .n = 3}},
        {{.name = "isolated", .y = lone, .n = 5}, {.name = "same x", .x = xs, .y = ys, .n = 2}},
        {{.name = "zeros", .y = (float[3]){0, 0, 0}, .n = 3}, {.name = bad_utf8, .y = &one, .n = 1}},
    };
    plot_spec sp = {.title = bad_utf8, .xlabel = "x", .ylabel = "y"};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_int_equal(plot_lines_png(tmp("deg.png"), &sp, cases[k], 2), RC_OK);
        sp.log_y = 1;
        assert_int_equal(plot_lines_png(tmp("deg.png"), &sp, cases[k], 2), RC_OK);
        sp.log_y = 0;
    }
    /* no series at all; negative values on a log axis (nothing to draw) */
    assert_int_equal(plot_lines_png(tmp("none.png"), NULL, NULL, 0), RC_OK);
    plot_series s = {.y = neg, .n = 3};
    sp.log_y = 1;
    assert_int_equal(plot_lines_png(tmp("neg.png"), &sp, &s, 1), RC_OK);
    /* a fixed y range that cuts the data: clipped */
    sp = (plot_spec){.y_fixed = 1, .y_min = 0.1f, .y_max = 0.2f};
    s = (plot_series){.y = (float[3]){-1e30f, 0.15f, 1e30f}, .n = 3};
    assert_int_equal(plot_lines_png(tmp("clip.png"), &sp, &s, 1), RC_OK);
    /* a long legend name and a label wider than the image are shortened */
    char longname[600];
    memset(longname, 'w', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    sp = (plot_spec){.title = longname, .xlabel = longname, .width = 300, .height = 200};
    s = (plot_series){.name = longname, .y = ys, .n = 2};
    assert_int_equal(plot_lines_png(tmp("long.png"), &sp, &s, 1), RC_OK);
}

static void test_lines_errors(void **state)
{
    (void)state;
    float y[2] = {1, 2};
    plot_series s = {.y = y, .n = 2};
    const char *bad = "/nonexistent/dir/x.png";
    assert_int_equal(plot_lines_png(bad, NULL, &s, 1), RC_ERR_IO);
    assert_non_null(strstr(plot_last_error(), bad));
    assert_null(strchr(plot_last_error(), '\n'));

    plot_spec sp = {.width = -5};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    assert_non_null(strstr(plot_last_error(), "e.png"));
    sp = (plot_spec){.width = 40, .height = 30};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    assert_non_null(strstr(plot_last_error(), "too small"));
    sp = (plot_spec){.width = PLOT_MAX_SIDE + 1};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    sp = (plot_spec){.y_fixed = 1, .y_min = 1, .y_max = 1};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    sp = (plot_spec){.log_y = 1, .y_fixed = 1, .y_min = 0, .y_max = 1};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    sp = (plot_spec){.marker = 1, .marker_x = NAN};
    assert_int_equal(plot_lines_png(tmp("e.png"), &sp, &s, 1), RC_ERR_ARG);
    s.y = NULL;
    assert_int_equal(plot_lines_png(tmp("e.png"), NULL, &s, 1), RC_ERR_ARG);
    assert_int_equal(plot_lines_png(tmp("e.png"), NULL, NULL, 2), RC_ERR_ARG);
    assert_int_equal(plot_lines_png(NULL, NULL, NULL, 0), RC_ERR_ARG);
    assert_int_equal(plot_lines_png("", NULL, NULL, 0), RC_ERR_ARG);
    assert_false(exists(tmp("e.png")));
}

/* 2x2 cells with known colours: the largest value is the darkest cell and
 * sits where it should (row 0 on top, or at the bottom with rows_up). */
static void test_heatmap_cells(void **state)
{
    (void)state;
    float v[4] = {0.25f, 1.0f, 0.5f, 0.75f};
    plot_heatmap_spec sp = {.v_fixed = 1, .v_min = 0, .v_max = 1, .no_colorbar = 1};
    for (int up = 0; up < 2; up++) {
        sp.rows_up = up;
        assert_int_equal(plot_heatmap_png(tmp("h.png"), &sp, v, 2, 2), RC_OK);
        image im = load(tmp("h.png"));
        where c[4];
        double l[4];
        for (int i = 0; i < 4; i++) {
            c[i] = find(&im, plot_colormap(PLOT_SEQUENTIAL, v[i]));
            assert_true(c[i].n > 100);
            l[i] = lum(im.px[(size_t)lround(c[i].cy) * im.w + lround(c[i].cx)]);
        }
        /* the max (row 0, col 1) is the darkest */
        for (int i = 0; i < 4; i++)
            if (i != 1) assert_true(l[1] < l[i]);
        /* columns: col 1 right of col 0 */
        assert_true(c[1].cx > c[0].cx + 10 && c[3].cx > c[2].cx + 10);
        /* rows: row 0 above row 1, unless rows_up */
        if (!up) assert_true(c[0].cy + 10 < c[2].cy && c[1].cy + 10 < c[3].cy);
        else assert_true(c[0].cy > c[2].cy + 10 && c[1].cy > c[3].cy + 10);
        free(im.px);
    }
    /* colour scales: sequential runs white to dark blue */
    uint32_t lo = plot_colormap(PLOT_SEQUENTIAL, 0), hi = plot_colormap(PLOT_SEQUENTIAL, 1);
    assert_int_equal(lo & 0xffffff, 0xffffff);
    assert_true(lum(hi) < 80 && (hi & 0xff) > ((hi >> 16) & 0xff));
    uint32_t dlo = plot_colormap(PLOT_DIVERGING, 0), dhi = plot_colormap(PLOT_DIVERGING, 1);
    assert_true((dlo & 0xff) > ((dlo >> 16) & 0xff));  /* blue */
    assert_true(((dhi >> 16) & 0xff) > (dhi & 0xff));  /* red */
    assert_true(lum(plot_colormap(PLOT_DIVERGING, 0.5)) > 240);
    assert_int_equal(plot_colormap(PLOT_SEQUENTIAL, NAN), lo);
    assert_int_equal(plot_colormap(PLOT_SEQUENTIAL, 7), hi);
}

/* Attention map with word labels, a confusion matrix with counts, a
 * diverging map with NaNs, a piano roll: all written, sizes as asked. */
static void test_heatmap_kinds(void **state)
{
    (void)state;
    const char *src[] = {"the", "cat", "sat", "on", "the", "mat", "<eos>"};
    const char *tgt[] = {"le", "chat", "était", "assis", "sur", "le", "tapis", "<eos>"};
    float att[8 * 7];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 7; j++) att[i * 7 + j] = expf(-fabsf(j - i * 6.0f / 7) * 2);
    plot_heatmap_spec sp = {.title = "attention", .xlabel = "source", .ylabel = "target",
                            .row_labels = tgt, .col_labels = src};
    int w, h;
    assert_int_equal(plot_heatmap_png(tmp("att.png"), &sp, att, 8, 7), RC_OK);
    png_size(tmp("att.png"), &w, &h);
    assert_true(w > 200 && h > 200 && w <= 2000 && h <= 2000);
    sp.width = 500, sp.height = 400, sp.annotate = 1;
    assert_int_equal(plot_heatmap_png(tmp("att2.png"), &sp, att, 8, 7), RC_OK);
    png_size(tmp("att2.png"), &w, &h);
    assert_int_equal(w, 500);
    assert_int_equal(h, 400);

    const char *cls[] = {"NOUN", "VERB", "ADJ"};
    float cm[9] = {50, 3, 1, 4, 40, 2, 0, 5, 30};
    plot_heatmap_spec cs = {.title = "confusion", .row_labels = cls, .col_labels = cls,
                            .annotate = 1};
    assert_int_equal(plot_heatmap_png(tmp("cm.png"), &cs, cm, 3, 3), RC_OK);

    float dv[4 * 5];
    for (int i = 0; i < 20; i++) dv[i] = (i % 7) - 3.0f;
    dv[6] = NAN;
    plot_heatmap_spec ds = {.scale = PLOT_DIVERGING, .annotate = 1, .decimals = 1};
    assert_int_equal(plot_heatmap_png(tmp("div.png"), &ds, dv, 4, 5), RC_OK);
    image im = load(tmp("div.png"));
    assert_true(find(&im, plot_colormap(PLOT_DIVERGING, 0)).n > 50); /* -3: deepest blue */
    assert_true(find(&im, plot_colormap(PLOT_DIVERGING, 1)).n > 50); /* +3: deepest red */
    free(im.px);

    /* a piano roll far wider than the image: a one-step note survives */
    enum { P = 88, S = 20000 };
    float *roll = calloc((size_t)P * S, sizeof *roll);
    assert_non_null(roll);
    roll[(size_t)40 * S + 12345] = 1;
    plot_heatmap_spec ps = {.rows_up = 1, .no_colorbar = 1, .width = 800, .height = 300};
    assert_int_equal(plot_heatmap_png(tmp("roll.png"), &ps, roll, P, S), RC_OK);
    im = load(tmp("roll.png"));
    assert_true(find(&im, plot_colormap(PLOT_SEQUENTIAL, 1)).n >= 1);
    free(im.px);
    free(roll);
}

static void test_heatmap_degenerate_and_errors(void **state)
{
    (void)state;
    float one = 3, zeros[6] = {0}, nans[4] = {NAN, NAN, NAN, NAN}, neg[3] = {-1, -2, -3};
    assert_int_equal(plot_heatmap_png(tmp("1.png"), NULL, &one, 1, 1), RC_OK);
    assert_int_equal(plot_heatmap_png(tmp("z.png"), NULL, zeros, 2, 3), RC_OK);
    assert_int_equal(plot_heatmap_png(tmp("n.png"), NULL, nans, 2, 2), RC_OK);
    assert_int_equal(plot_heatmap_png(tmp("neg.png"), NULL, neg, 1, 3), RC_OK);
    plot_heatmap_spec ds = {.scale = PLOT_DIVERGING, .annotate = 1};
    assert_int_equal(plot_heatmap_png(tmp("dz.png"), &ds, zeros, 3, 2), RC_OK);
    const char *badl[] = {"\xff\xfe", "", "a very long label that goes on and on and on and on and on"};
    plot_heatmap_spec ls = {.row_labels = badl, .col_labels = badl};
    assert_int_equal(plot_heatmap_png(tmp("l.png"), &ls, neg, 3, 1), RC_OK);
    float tall[300];
    for (int i = 0; i < 300; i++) tall[i] = (float)i;
    assert_int_equal(plot_heatmap_png(tmp("tall.png"), NULL, tall, 300, 1), RC_OK);
    assert_int_equal(plot_heatmap_png(tmp("wide.png"), NULL, tall, 1, 300), RC_OK);

    const char *bad = "/nonexistent/dir/x.png";
    assert_int_equal(plot_heatmap_png(bad, NULL, &one, 1, 1), RC_ERR_IO);
    assert_non_null(strstr(plot_last_error(), bad));
    assert_int_equal(plot_heatmap_png(tmp("e.png"), NULL, &one, 0, 1), RC_ERR_ARG);
    assert_int_equal(plot_heatmap_png(tmp("e.png"), NULL, &one, 1, -1), RC_ERR_ARG);
    assert_int_equal(plot_heatmap_png(tmp("e.png"), NULL, NULL, 1, 1), RC_ERR_ARG);
    plot_heatmap_spec sp = {.width = 20, .height = 20};
    assert_int_equal(plot_heatmap_png(tmp("e.png"), &sp, &one, 1, 1), RC_ERR_ARG);
    assert_non_null(strstr(plot_last_error(), "too small"));
    sp = (plot_heatmap_spec){.v_fixed = 1, .v_min = 1, .v_max = 0};
    assert_int_equal(plot_heatmap_png(tmp("e.png"), &sp, &one, 1, 1), RC_ERR_ARG);
    assert_false(exists(tmp("e.png")));
}

TEST_GROUP(plot_group, "plot",
           cmocka_unit_test_setup_teardown(test_lines_png_size, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lines_draw_series_and_gap, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lines_palette_log_marker, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lines_huge_series, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lines_degenerate, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lines_errors, setup, teardown),
           cmocka_unit_test_setup_teardown(test_heatmap_cells, setup, teardown),
           cmocka_unit_test_setup_teardown(test_heatmap_kinds, setup, teardown),
           cmocka_unit_test_setup_teardown(test_heatmap_degenerate_and_errors, setup, teardown));
