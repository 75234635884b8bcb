/* plot.c - line charts and heatmaps written as PNG files, drawn with cairo
 * (its "toy" text API with the system's sans-serif font). */
#include "plot.h"

#include <cairo.h>
#include <errno.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ------------------------------------------------------------ errors -- */

static _Thread_local char plot_err[512];

const char *plot_last_error(void) { return plot_err; }

void plot_release_caches(void)
{
    cairo_debug_reset_static_data(); /* first: cairo holds fontconfig patterns */
    FcFini();
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static rc_status fail(rc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plot_err, sizeof plot_err, fmt, ap);
    va_end(ap);
    return s;
}

/* ----------------------------------------------------------- colours -- */

static const uint32_t palette[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

uint32_t plot_palette(int i)
{
    unsigned k = i < 0 ? 0u - (unsigned)i : (unsigned)i;
    return 0xff000000u | palette[k % 10];
}

/* White to dark blue, and blue - white - red; nine stops each. */
static const uint32_t seq_stops[9] = {0xffffff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                      0x4292c6, 0x2171b5, 0x08519c, 0x08306b};
static const uint32_t div_stops[9] = {0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                      0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b};

uint32_t plot_colormap(plot_scale s, double t)
{
    const uint32_t *st = s == PLOT_DIVERGING ? div_stops : seq_stops;
    if (!(t > 0)) t = 0; /* also NaN */
    if (t > 1) t = 1;
    double f = t * 8;
    int i = (int)f;
    if (i > 7) i = 7;
    f -= i;
    uint32_t out = 0xff000000u;
    for (int sh = 0; sh <= 16; sh += 8) {
        double a = (st[i] >> sh) & 0xff, b = (st[i + 1] >> sh) & 0xff;
        out |= (uint32_t)lround(a + (b - a) * f) << sh;
    }
    return out;
}

static void set_rgb(cairo_t *cr, uint32_t c)
{
    cairo_set_source_rgb(cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0,
                         (c & 0xff) / 255.0);
}

static void set_rgba(cairo_t *cr, uint32_t c, double a)
{
    cairo_set_source_rgba(cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0,
                          (c & 0xff) / 255.0, a);
}

/* Relative luminance-like brightness in [0, 1]. */
static double brightness(uint32_t c)
{
    return (0.299 * ((c >> 16) & 0xff) + 0.587 * ((c >> 8) & 0xff) + 0.114 * (c & 0xff)) / 255;
}

#define INK 0x222222u      /* titles, labels */
#define INK_SOFT 0x444444u /* tick labels */
#define FRAME 0x555555u
#define GRID 0xe3e3e3u
#define GRID_MINOR 0xf1f1f1u
#define NAN_CELL 0xd0d0d0u

/* -------------------------------------------------------------- text -- */

#define FONT_TITLE 16.0
#define FONT_LABEL 13.5
#define FONT_TICK 12.0
#define TEXT_MAX 256

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Height of a line of the current font (ascent + descent). */
static double font_height(cairo_t *cr)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

static double text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Copies in to out as valid UTF-8 (bad bytes become '?', control
 * characters spaces), cut at a character boundary to fit n bytes. */
static void clean_text(const char *in, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    while (*p && o + 1 < n) {
        unsigned c = *p, cp = 0;
        int len = 0;
        if (c < 0x80) {
            out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
        int ok = len > 0;
        for (int k = 1; ok && k < len; k++) {
            if ((p[k] & 0xc0) != 0x80) ok = 0;
            else cp = cp << 6 | (p[k] & 0x3f);
        }
        if (ok) {
            if (len == 2) ok = cp >= 0x80;
            else if (len == 3) ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
            else ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (!ok) {
            out[o++] = '?';
            p++;
            continue;
        }
        if (o + (size_t)len >= n) break;
        memcpy(out + o, p, (size_t)len);
        o += (size_t)len;
        p += len;
    }
    out[o] = '\0';
}

/* clean_text, then shortened with an ellipsis to at most maxw pixels in
 * the current font. */
static void fit_text(cairo_t *cr, const char *in, double maxw, char *out, size_t n)
{
    clean_text(in, out, n);
    if (text_width(cr, out) <= maxw) return;
    char cand[TEXT_MAX + 4];
    size_t len = strlen(out);
    while (len > 0) {
        do len--;
        while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80);
        if (len + 4 > sizeof cand || len + 4 > n) continue;
        memcpy(cand, out, len);
        memcpy(cand + len, "\xe2\x80\xa6", 4); /* "..." as one character */
        if (text_width(cr, cand) <= maxw) break;
    }
    if (len == 0) memcpy(cand, "\xe2\x80\xa6", 4);
    memcpy(out, cand, strlen(cand) + 1);
}

/* Draws s with its anchor at (x, y): ax is the fraction of its width left
 * of the anchor (0 left, 0.5 centre, 1 right), ay the fraction of the
 * line height above it (0 top, 0.5 middle, 1 bottom); angle in radians
 * turns the text about the anchor. s must be clean UTF-8. */
static void draw_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay,
                      double angle)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_width(cr, s);
    cairo_save(cr);
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * w, -ay * (fe.ascent + fe.descent) + fe.ascent);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

/* ------------------------------------------------------------- ticks -- */

#define MAX_TICKS 48
#define MAX_MINOR 160

typedef struct ticks {
    int n, n_minor;
    double v[MAX_TICKS];            /* positions, in axis units (log10 on log axes) */
    char label[MAX_TICKS][32];
    double minor[MAX_MINOR];        /* grid lines without labels */
} ticks;

/* The 1-2-5 step at or above raw. */
static double nice_step(double raw)
{
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double e = pow(10, floor(log10(raw)));
    double f = raw / e;
    return (f <= 1.000001 ? 1 : f <= 2.000001 ? 2 : f <= 5.000001 ? 5 : 10) * e;
}

/* The 1-2-5 step after step. */
static double next_step(double step)
{
    double e = pow(10, floor(log10(step) + 1e-9));
    double m = step / e;
    return (m < 1.5 ? 2 : m < 3.5 ? 5 : 10) * e;
}

/* Writes each '-' of a number as the minus sign U+2212. */
static void fix_minus(char *buf, size_t n)
{
    char tmp[64];
    size_t o = 0;
    for (const char *p = buf; *p && o + 4 < sizeof tmp; p++) {
        if (*p == '-') memcpy(tmp + o, "\xe2\x88\x92", 3), o += 3;
        else tmp[o++] = *p;
    }
    tmp[o] = '\0';
    if (o < n) memcpy(buf, tmp, o + 1);
}

/* "2.50e+06" -> "2.5e6", "1.0e-05" -> "1e-5". */
static void tidy_exp(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char exp[16];
    int k = atoi(e + 1);
    snprintf(exp, sizeof exp, "e%d", k);
    char *m = e;
    if (memchr(s, '.', (size_t)(e - s))) {
        while (m > s && m[-1] == '0') m--;
        if (m > s && m[-1] == '.') m--;
    }
    memcpy(m, exp, strlen(exp) + 1);
}

/* A number for a linear axis whose ticks are step apart; sci: use
 * scientific notation (for the whole axis, so labels agree). */
static void fmt_linear(char *buf, size_t n, double v, double step, int sci)
{
    if (fabs(v) < step * 1e-6) v = 0;
    if (v == 0) {
        snprintf(buf, n, "0");
        return;
    }
    if (sci) {
        int sig = (int)floor(log10(fabs(v)) + 1e-9) - (int)floor(log10(step) + 1e-9) + 1;
        if (sig < 1) sig = 1;
        if (sig > 7) sig = 7;
        snprintf(buf, n, "%.*e", sig - 1, v);
        tidy_exp(buf);
    } else {
        int d = -(int)floor(log10(step) + 1e-9);
        if (d < 0) d = 0;
        if (d > 9) d = 9;
        snprintf(buf, n, "%.*f", d, v);
    }
    fix_minus(buf, n);
}

/* m * 10^k for a log axis: 0.001 ... 100000 written out, else 2e-6. */
static void fmt_log(char *buf, size_t n, int m, int k)
{
    if (k >= -4 && k < 0) snprintf(buf, n, "%.*f", -k, m * pow(10, k));
    else if (k >= 0 && k <= 5) snprintf(buf, n, "%.0f", m * pow(10, k));
    else snprintf(buf, n, "%de%d", m, k);
    fix_minus(buf, n);
}

/* Linear ticks at multiples of step within [lo, hi]. */
static void linear_ticks(ticks *t, double lo, double hi, double step)
{
    t->n = t->n_minor = 0;
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    double big = fmax(fabs(k0 * step), fabs(k1 * step));
    int sci = big >= 1e6 || (big > 0 && big < 1e-3);
    for (double k = k0; k <= k1 && t->n < MAX_TICKS; k++) {
        double v = k * step;
        t->v[t->n] = v;
        fmt_linear(t->label[t->n], sizeof t->label[0], v, step, sci);
        t->n++;
    }
}

/* Picks a linear step for [lo, hi] over len pixels: at least min_px
 * between ticks and room for the widest label (horizontal labels when
 * horiz, else the line height), and at least min_step. */
static void linear_axis(cairo_t *cr, ticks *t, double lo, double hi, double len, double min_px,
                        int horiz, double min_step)
{
    double range = hi - lo;
    double step = nice_step(range / fmax(1, len / min_px));
    if (step < min_step) step = min_step;
    for (int tries = 0; tries < 40; tries++) {
        linear_ticks(t, lo, hi, step);
        double need = min_px;
        if (horiz) {
            double w = 0;
            for (int i = 0; i < t->n; i++) w = fmax(w, text_width(cr, t->label[i]));
            need = fmax(need, w + 14);
        } else {
            need = fmax(need, font_height(cr) * 1.5);
        }
        if (t->n <= MAX_TICKS - 1 && step / range * len >= need) return;
        step = next_step(step);
    }
}

/* Ticks at m * 10^k for the digits m in set, within [lo, hi] (log10);
 * returns whether two of them are closer than line pixels. */
static int log_digit_ticks(ticks *t, double lo, double hi, double len, double line,
                           const int *set, int n_set)
{
    t->n = t->n_minor = 0;
    int crowded = 0;
    double prev = -1e300;
    for (int k = (int)floor(lo); k <= (int)ceil(hi); k++)
        for (int i = 0; i < n_set && t->n < MAX_TICKS; i++) {
            double v = k + log10(set[i]);
            if (v < lo - 1e-9 || v > hi + 1e-9) continue;
            if ((v - prev) / (hi - lo) * len < line) crowded = 1;
            prev = v;
            t->v[t->n] = v;
            fmt_log(t->label[t->n], sizeof t->label[0], set[i], k);
            t->n++;
        }
    return crowded;
}

/* Ticks for a log10 axis over [lo, hi] (exponents) and len pixels. */
static void log_ticks(cairo_t *cr, ticks *t, double lo, double hi, double len)
{
    t->n = t->n_minor = 0;
    double span = hi - lo;
    int k0 = (int)ceil(lo - 1e-9), k1 = (int)floor(hi + 1e-9);
    int decades = k1 - k0 + 1;
    double line = font_height(cr) * 1.6;
    if (decades >= 2) {
        static const int dsteps[] = {1, 2, 3, 5, 10, 20, 50, 100};
        int d = 1;
        for (size_t i = 0; i < sizeof dsteps / sizeof dsteps[0]; i++) {
            d = dsteps[i];
            if (d / span * len >= line && decades / d < MAX_TICKS) break;
        }
        for (int k = k0; k <= k1 && t->n < MAX_TICKS; k++) {
            if (((k % d) + d) % d) continue;
            t->v[t->n] = k;
            fmt_log(t->label[t->n], sizeof t->label[0], 1, k);
            t->n++;
        }
        if (d == 1 && len / span >= 40) {
            for (int k = k0 - 1; k <= k1; k++)
                for (int m = 2; m <= 9 && t->n_minor < MAX_MINOR; m++) {
                    double v = k + log10(m);
                    if (v > lo && v < hi) t->minor[t->n_minor++] = v;
                }
        }
        return;
    }
    /* Less than two decades shown: label 1, 2, 5 times the powers of ten
     * if that gives three ticks, else every digit if they do not collide,
     * else 1, 2, 5 if that gives two, else linear ticks (below). */
    static const int set125[] = {1, 2, 5}, set19[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int crowded = log_digit_ticks(t, lo, hi, len, line, set125, 3);
    if (t->n >= 3 && !crowded) {
        for (int k = (int)floor(lo); k <= (int)ceil(hi); k++)
            for (int m = 3; m <= 9 && t->n_minor < MAX_MINOR; m++) {
                double v = k + log10(m);
                if (m != 5 && v > lo && v < hi) t->minor[t->n_minor++] = v;
            }
        return;
    }
    ticks alt;
    if (!log_digit_ticks(&alt, lo, hi, len, line, set19, 9) && alt.n >= 2) {
        *t = alt;
        return;
    }
    if (t->n >= 2 && !crowded) return;
    /* A very narrow range: linear ticks in value space. */
    double vlo = pow(10, lo), vhi = pow(10, hi);
    ticks lin;
    linear_axis(cr, &lin, vlo, vhi, len, 50, 0, 0);
    t->n = 0;
    for (int i = 0; i < lin.n; i++) {
        if (!(lin.v[i] > 0)) continue;
        t->v[t->n] = log10(lin.v[i]);
        memcpy(t->label[t->n], lin.label[i], sizeof t->label[0]);
        t->n++;
    }
}

/* ------------------------------------------------------- the canvas -- */

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int len)
{
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                       : CAIRO_STATUS_WRITE_ERROR;
}

static rc_status cairo_fail(const char *path, const char *what, cairo_status_t cs)
{
    return fail(cs == CAIRO_STATUS_NO_MEMORY ? RC_ERR_NOMEM : RC_ERR_STATE, "plot: %s: %s: %s",
                path, what, cairo_status_to_string(cs));
}

/* A white w x h image and a context on it. */
static rc_status canvas_new(const char *path, int w, int h, cairo_surface_t **sp, cairo_t **crp)
{
    *sp = NULL;
    *crp = NULL;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_status_t cs = cairo_surface_status(s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return cairo_fail(path, "cannot make the image", cs);
    }
    cairo_t *cr = cairo_create(s);
    if ((cs = cairo_status(cr)) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return cairo_fail(path, "cannot draw", cs);
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    *sp = s;
    *crp = cr;
    return RC_OK;
}

/* Writes the image to path as a PNG (unless st already failed) and frees
 * both. A half-written file is removed. */
static rc_status canvas_finish(rc_status st, const char *path, cairo_surface_t *s, cairo_t *cr)
{
    if (st == RC_OK) {
        cairo_status_t cs = cairo_status(cr);
        if (cs != CAIRO_STATUS_SUCCESS) st = cairo_fail(path, "drawing failed", cs);
    }
    if (st == RC_OK) {
        cairo_surface_flush(s);
        FILE *f = fopen(path, "wb");
        if (!f) {
            st = fail(RC_ERR_IO, "plot: %s: cannot open for writing: %s", path, strerror(errno));
        } else {
            cairo_status_t cs = cairo_surface_write_to_png_stream(s, png_write, f);
            int bad = ferror(f);
            int err = errno;
            if (fclose(f) != 0 && !bad) bad = 1, err = errno;
            if (cs != CAIRO_STATUS_SUCCESS || bad) {
                remove(path);
                st = bad ? fail(RC_ERR_IO, "plot: %s: cannot write: %s", path, strerror(err))
                         : cairo_fail(path, "cannot write the PNG", cs);
            }
        }
    }
    if (cr) cairo_destroy(cr);
    if (s) cairo_surface_destroy(s);
    return st;
}

/* A context on a 1x1 image, for measuring text before the size is known. */
static rc_status measure_new(const char *path, cairo_surface_t **sp, cairo_t **crp)
{
    return canvas_new(path, 1, 1, sp, crp);
}

static void canvas_free(cairo_surface_t *s, cairo_t *cr)
{
    if (cr) cairo_destroy(cr);
    if (s) cairo_surface_destroy(s);
}

static rc_status check_size(const char *path, int w, int h)
{
    if (w < 0 || h < 0 || w > PLOT_MAX_SIDE || h > PLOT_MAX_SIDE)
        return fail(RC_ERR_ARG, "plot: %s: image size %dx%d is outside 1..%d", path, w, h,
                    PLOT_MAX_SIDE);
    return RC_OK;
}

/* The pixel centre of a 1-pixel line at integer coordinate v. */
static double crisp(double v) { return floor(v) + 0.5; }

/* --------------------------------------------------------- line chart -- */

typedef struct chart {
    double x0, y0, w, h;      /* plot area */
    double xlo, xhi, ylo, yhi; /* axis ranges (y in log10 when log) */
    int log_y;
} chart;

static int point_ok(const chart *c, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!c->log_y || y > 0);
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static double map_x(const chart *c, double x)
{
    return clampd(c->x0 + (x - c->xlo) / (c->xhi - c->xlo) * c->w, -1e5, 1e5);
}

static double map_y(const chart *c, double y)
{
    if (c->log_y) y = log10(y);
    return clampd(c->y0 + c->h - (y - c->ylo) / (c->yhi - c->ylo) * c->h, -1e5, 1e5);
}

static double sx(const plot_series *s, int i) { return s->x ? (double)s->x[i] : (double)i; }

/* A run of points in one pixel column, when a long series is reduced. */
typedef struct bucket {
    int n, first, last, lo, hi; /* point indices */
} bucket;

static void bucket_emit(cairo_t *cr, const chart *c, const plot_series *s, const bucket *b,
                        int *open)
{
    int idx[4] = {b->first, b->lo, b->hi, b->last};
    int k = b->n == 1 ? 1 : 4;
    /* in the order of the points */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && idx[j] < idx[j - 1]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < k; i++) {
        if (i > 0 && idx[i] == idx[i - 1]) continue;
        double px = map_x(c, sx(s, idx[i])), py = map_y(c, s->y[idx[i]]);
        if (*open) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py);
        *open = 1;
    }
}

/* Draws a series in the given style: pass 0 its lines (clipped to the plot
 * area by the caller), pass 1 its dots (not clipped, so that a point on the
 * frame shows whole; only points within the axes). */
static void draw_series(cairo_t *cr, const chart *c, const plot_series *s, uint32_t color,
                        plot_style style, int pass)
{
    double lw = s->line_width > 0 ? s->line_width : 2.0;
    double r = fmax(lw * 1.4, 3.0); /* radius of dots */
    int reduce = s->n > 2 * (int)c->w;
    set_rgb(cr, color);
    if (pass == 0 && style != PLOT_POINTS) {
        cairo_set_line_width(cr, lw);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
        if (style == PLOT_DASHED) {
            double d[2] = {3 * lw + 2, 2 * lw + 1};
            cairo_set_dash(cr, d, 2, 0);
        }
        bucket b = {0};
        long col = 0;
        int open = 0;
        for (int i = 0; i < s->n; i++) {
            double x = sx(s, i), y = s->y[i];
            if (!point_ok(c, x, y)) {
                if (b.n) bucket_emit(cr, c, s, &b, &open);
                b.n = 0;
                open = 0;
                continue;
            }
            long key = reduce ? (long)floor(map_x(c, x)) : i;
            if (b.n && key == col) {
                b.n++;
                b.last = i;
                if (y < s->y[b.lo]) b.lo = i;
                if (y > s->y[b.hi]) b.hi = i;
                continue;
            }
            if (b.n) bucket_emit(cr, c, s, &b, &open);
            b = (bucket){1, i, i, i, i};
            col = key;
        }
        if (b.n) bucket_emit(cr, c, s, &b, &open);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        return;
    }
    if (pass != 1) return;
    /* dots: every point of PLOT_POINTS, else the points with no neighbour,
     * which a line would not show */
    long last = -1;
    for (int i = 0; i < s->n; i++) {
        if (!point_ok(c, sx(s, i), s->y[i])) continue;
        if (style != PLOT_POINTS) {
            int prev = i > 0 && point_ok(c, sx(s, i - 1), s->y[i - 1]);
            int next = i + 1 < s->n && point_ok(c, sx(s, i + 1), s->y[i + 1]);
            if (prev || next) continue;
        }
        double px = map_x(c, sx(s, i)), py = map_y(c, s->y[i]);
        if (px < c->x0 - 0.5 || px > c->x0 + c->w + 0.5 || py < c->y0 - 0.5 ||
            py > c->y0 + c->h + 0.5)
            continue;
        long key = (long)floor(px) * 100000 + (long)floor(py);
        if (reduce && key == last) continue;
        last = key;
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, r, 0, 2 * M_PI);
    }
    cairo_fill(cr);
}

/* Short line sample of a series' style, for the legend. */
static void draw_swatch(cairo_t *cr, double x, double y, double len, const plot_series *s,
                        uint32_t color, plot_style style)
{
    double lw = s->line_width > 0 ? s->line_width : 2.0;
    set_rgb(cr, color);
    if (style == PLOT_POINTS) {
        cairo_arc(cr, x + len / 2, y, fmax(lw * 1.1, 2.5), 0, 2 * M_PI);
        cairo_fill(cr);
        return;
    }
    cairo_set_line_width(cr, lw);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    if (style == PLOT_DASHED) {
        double d[2] = {3 * lw + 2, 2 * lw + 1};
        cairo_set_dash(cr, d, 2, 0);
    }
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + len, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

typedef struct rect {
    double x, y, w, h;
} rect;

static int rect_overlap(rect a, rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* How much of the series lies under r: points in it, and samples every
 * few pixels along the lines between points (long series are sampled). */
static long points_in(const chart *c, const plot_series *series, int n, rect r)
{
    long hits = 0;
    r.x -= 4, r.y -= 4, r.w += 8, r.h += 8;
    for (int k = 0; k < n; k++) {
        const plot_series *s = &series[k];
        if (!s->y || s->n <= 0) continue;
        int stride = s->n > 20000 ? s->n / 20000 : 1;
        double qx = 0, qy = 0;
        int have = 0;
        for (int i = 0; i < s->n; i += stride) {
            if (!point_ok(c, sx(s, i), s->y[i])) {
                have = 0;
                continue;
            }
            double px = map_x(c, sx(s, i)), py = map_y(c, s->y[i]);
            int steps = 1;
            if (have && s->style != PLOT_POINTS)
                steps = (int)fmin(200, ceil(hypot(px - qx, py - qy) / 4) + 1);
            for (int j = 1; j <= steps; j++) {
                double f = (double)j / steps;
                double ax = have ? qx + (px - qx) * f : px, ay = have ? qy + (py - qy) * f : py;
                if (ax >= r.x && ax <= r.x + r.w && ay >= r.y && ay <= r.y + r.h) hits++;
            }
            qx = px, qy = py, have = 1;
        }
    }
    return hits;
}

static uint32_t series_color(const plot_series *s, int i)
{
    return (s->color >> 24) ? s->color : plot_palette(i);
}

/* Series past the palette's ten colours that repeat one are dashed. */
static plot_style series_style(const plot_series *s, int i)
{
    return !(s->color >> 24) && i >= 10 && s->style == PLOT_LINE ? PLOT_DASHED : s->style;
}

rc_status plot_lines_png(const char *path, const plot_spec *spec, const plot_series *series,
                         int n)
{
    plot_spec zero = {0};
    if (!spec) spec = &zero;
    if (!path || !*path) return fail(RC_ERR_ARG, "plot: no output file name");
    if (n < 0 || (n > 0 && !series))
        return fail(RC_ERR_ARG, "plot: %s: bad series list (n=%d)", path, n);
    int W = spec->width ? spec->width : PLOT_DEFAULT_WIDTH;
    int H = spec->height ? spec->height : PLOT_DEFAULT_HEIGHT;
    rc_status st = check_size(path, spec->width, spec->height);
    if (st) return st;
    for (int k = 0; k < n; k++)
        if (series[k].n < 0 || (series[k].n > 0 && !series[k].y))
            return fail(RC_ERR_ARG, "plot: %s: series %d (%s) has n=%d and %s", path, k,
                        series[k].name ? series[k].name : "unnamed", series[k].n,
                        series[k].y ? "values" : "no values");
    if (spec->y_fixed && (!isfinite(spec->y_min) || !isfinite(spec->y_max) ||
                          !(spec->y_max > spec->y_min) || (spec->log_y && spec->y_min <= 0)))
        return fail(RC_ERR_ARG, "plot: %s: bad y range [%g, %g]%s", path, spec->y_min,
                    spec->y_max, spec->log_y ? " for a log axis" : "");
    if (spec->marker && !isfinite(spec->marker_x))
        return fail(RC_ERR_ARG, "plot: %s: the marker's x is not a finite number", path);

    /* the data's ranges */
    chart c = {0};
    c.log_y = spec->log_y != 0;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int x_whole = 1;
    for (int k = 0; k < n; k++) {
        const plot_series *s = &series[k];
        for (int i = 0; i < s->n; i++) {
            double x = sx(s, i), y = s->y[i];
            if (!point_ok(&c, x, y)) continue;
            if (c.log_y) y = log10(y);
            xlo = fmin(xlo, x), xhi = fmax(xhi, x);
            ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            if (x != floor(x)) x_whole = 0;
        }
    }
    if (spec->marker) {
        xlo = fmin(xlo, spec->marker_x), xhi = fmax(xhi, spec->marker_x);
        if (spec->marker_x != floor(spec->marker_x)) x_whole = 0;
    }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (xhi - xlo < 1e-12 * fmax(1, fabs(xlo))) {
        double d = x_whole ? 1 : (xlo != 0 ? fabs(xlo) * 0.1 : 1);
        xlo -= d, xhi += d;
    }
    if (spec->y_fixed) {
        ylo = c.log_y ? log10(spec->y_min) : spec->y_min;
        yhi = c.log_y ? log10(spec->y_max) : spec->y_max;
    } else {
        if (!(ylo <= yhi)) ylo = 0, yhi = 1;
        if (yhi - ylo < 1e-12 * fmax(1, fabs(ylo))) {
            double d = c.log_y ? 0.5 : (ylo != 0 ? fabs(ylo) * 0.1 : 1);
            ylo -= d, yhi += d;
        } else {
            double pad = (yhi - ylo) * 0.05;
            ylo -= pad, yhi += pad;
        }
    }
    c.xlo = xlo, c.xhi = xhi, c.ylo = ylo, c.yhi = yhi;

    cairo_surface_t *surf;
    cairo_t *cr;
    if ((st = canvas_new(path, W, H, &surf, &cr)) != RC_OK) return st;

    /* layout: heights first, then the y ticks, then the widths */
    const double pad = 14, tick_len = 5;
    char title[TEXT_MAX], xlabel[TEXT_MAX], ylabel[TEXT_MAX];
    font(cr, FONT_TITLE, 1);
    double title_h = spec->title && *spec->title ? font_height(cr) + 10 : 0;
    fit_text(cr, spec->title, W - 2 * pad, title, sizeof title);
    font(cr, FONT_LABEL, 0);
    double label_h = font_height(cr);
    fit_text(cr, spec->xlabel, W - 2 * pad, xlabel, sizeof xlabel);
    fit_text(cr, spec->ylabel, H - 2 * pad, ylabel, sizeof ylabel);
    font(cr, FONT_TICK, 0);
    double tick_h = font_height(cr);
    double top = pad + title_h + 6;
    double bottom = tick_len + 4 + tick_h + (*xlabel ? 8 + label_h : 0) + pad;
    c.y0 = floor(top);
    c.h = floor(H - top - bottom);
    ticks yt, xt;
    if (c.h >= 20) {
        if (c.log_y) log_ticks(cr, &yt, c.ylo, c.yhi, c.h);
        else linear_axis(cr, &yt, c.ylo, c.yhi, c.h, 46, 0, 0);
    } else {
        yt.n = yt.n_minor = 0;
    }
    double ytw = 0;
    for (int i = 0; i < yt.n; i++) ytw = fmax(ytw, text_width(cr, yt.label[i]));
    double left = pad + (*ylabel ? label_h + 10 : 0) + ytw + 6 + tick_len;
    double right = pad + 10;
    c.x0 = floor(left);
    c.w = floor(W - left - right);
    if (c.w < 20 || c.h < 20) {
        canvas_free(surf, cr);
        return fail(RC_ERR_ARG, "plot: %s: image %dx%d is too small for the chart", path, W, H);
    }
    linear_axis(cr, &xt, c.xlo, c.xhi, c.w, 80, 1, x_whole ? 1 : 0);
    /* room for the last x label at the right edge */
    if (xt.n > 0) {
        double over = map_x(&c, xt.v[xt.n - 1]) + text_width(cr, xt.label[xt.n - 1]) / 2 + 4 - W;
        if (over > 0) {
            c.w -= ceil(over);
            linear_axis(cr, &xt, c.xlo, c.xhi, c.w, 80, 1, x_whole ? 1 : 0);
        }
    }

    /* grid */
    cairo_set_line_width(cr, 1);
    set_rgb(cr, GRID_MINOR);
    for (int i = 0; i < yt.n_minor; i++) {
        double py = crisp(c.y0 + c.h - (yt.minor[i] - c.ylo) / (c.yhi - c.ylo) * c.h);
        cairo_move_to(cr, c.x0, py);
        cairo_line_to(cr, c.x0 + c.w, py);
    }
    cairo_stroke(cr);
    set_rgb(cr, GRID);
    for (int i = 0; i < yt.n; i++) {
        double py = crisp(c.y0 + c.h - (yt.v[i] - c.ylo) / (c.yhi - c.ylo) * c.h);
        cairo_move_to(cr, c.x0, py);
        cairo_line_to(cr, c.x0 + c.w, py);
    }
    for (int i = 0; i < xt.n; i++) {
        double px = crisp(map_x(&c, xt.v[i]));
        cairo_move_to(cr, px, c.y0);
        cairo_line_to(cr, px, c.y0 + c.h);
    }
    cairo_stroke(cr);

    /* the marker line and its label */
    rect marker_box = {-1, -1, 0, 0};
    char mlabel[TEXT_MAX] = "";
    if (spec->marker) {
        double mx = crisp(map_x(&c, spec->marker_x));
        double d[2] = {6, 4};
        set_rgb(cr, 0x666666);
        cairo_set_line_width(cr, 1.3);
        cairo_set_dash(cr, d, 2, 0);
        cairo_move_to(cr, mx, c.y0);
        cairo_line_to(cr, mx, c.y0 + c.h);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (spec->marker_label && *spec->marker_label) {
            font(cr, FONT_TICK, 0);
            fit_text(cr, spec->marker_label, c.w * 0.45, mlabel, sizeof mlabel);
            double tw = text_width(cr, mlabel);
            double tx = mx + 6;
            if (tx + tw > c.x0 + c.w - 4) tx = mx - 6 - tw;
            marker_box = (rect){tx - 3, c.y0 + 5, tw + 6, tick_h + 4};
        }
    }

    /* the series, clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, c.x0, c.y0, c.w, c.h);
    cairo_clip(cr);
    int n_legend = 0;
    for (int k = 0; k < n; k++) {
        const plot_series *s = &series[k];
        int any = 0;
        for (int i = 0; i < s->n && !any; i++) any = point_ok(&c, sx(s, i), s->y[i]);
        if (!any) continue;
        draw_series(cr, &c, s, series_color(s, k), series_style(s, k), 0);
        if (s->name && *s->name) n_legend++;
    }
    cairo_restore(cr);
    for (int k = 0; k < n; k++)
        draw_series(cr, &c, &series[k], series_color(&series[k], k), series_style(&series[k], k), 1);

    if (*mlabel) {
        set_rgba(cr, 0xffffff, 0.85);
        cairo_rectangle(cr, marker_box.x, marker_box.y, marker_box.w, marker_box.h);
        cairo_fill(cr);
        set_rgb(cr, 0x444444);
        draw_text(cr, marker_box.x + 3, marker_box.y + 2, mlabel, 0, 0, 0);
    }

    /* the frame, ticks and their labels */
    cairo_set_line_width(cr, 1);
    set_rgb(cr, FRAME);
    cairo_rectangle(cr, c.x0 + 0.5, c.y0 + 0.5, c.w - 1, c.h - 1);
    for (int i = 0; i < yt.n; i++) {
        double py = crisp(c.y0 + c.h - (yt.v[i] - c.ylo) / (c.yhi - c.ylo) * c.h);
        cairo_move_to(cr, c.x0, py);
        cairo_line_to(cr, c.x0 - tick_len, py);
    }
    for (int i = 0; i < xt.n; i++) {
        double px = crisp(map_x(&c, xt.v[i]));
        cairo_move_to(cr, px, c.y0 + c.h);
        cairo_line_to(cr, px, c.y0 + c.h + tick_len);
    }
    cairo_stroke(cr);
    font(cr, FONT_TICK, 0);
    set_rgb(cr, INK_SOFT);
    for (int i = 0; i < yt.n; i++) {
        double py = c.y0 + c.h - (yt.v[i] - c.ylo) / (c.yhi - c.ylo) * c.h;
        draw_text(cr, c.x0 - tick_len - 4, py, yt.label[i], 1, 0.5, 0);
    }
    for (int i = 0; i < xt.n; i++)
        draw_text(cr, map_x(&c, xt.v[i]), c.y0 + c.h + tick_len + 3, xt.label[i], 0.5, 0, 0);

    /* title and axis labels */
    set_rgb(cr, INK);
    if (*title) {
        font(cr, FONT_TITLE, 1);
        double tx = c.x0 + c.w / 2, tw = text_width(cr, title);
        tx = clampd(tx, pad + tw / 2, W - pad - tw / 2);
        draw_text(cr, tx, pad, title, 0.5, 0, 0);
    }
    font(cr, FONT_LABEL, 0);
    if (*xlabel) draw_text(cr, c.x0 + c.w / 2, H - pad, xlabel, 0.5, 1, 0);
    if (*ylabel) draw_text(cr, pad, c.y0 + c.h / 2, ylabel, 0.5, 0, -M_PI / 2);

    /* the legend, in the corner with the fewest points under it */
    if (n_legend > 0 && !spec->no_legend) {
        font(cr, 12.5, 0);
        const double row = fmax(20, font_height(cr) + 4), sw = 28, bp = 9;
        double tw = 0;
        char names[16][TEXT_MAX];
        int shown = 0, idx[16];
        for (int k = 0; k < n && shown < 16; k++) {
            const plot_series *s = &series[k];
            int any = 0;
            for (int i = 0; i < s->n && !any; i++) any = point_ok(&c, sx(s, i), s->y[i]);
            if (!any || !s->name || !*s->name) continue;
            fit_text(cr, s->name, c.w * 0.4, names[shown], sizeof names[0]);
            tw = fmax(tw, text_width(cr, names[shown]));
            idx[shown++] = k;
        }
        double bw = bp + sw + 8 + tw + bp, bh = 2 * bp + shown * row - 4;
        rect cand[4] = {{c.x0 + c.w - 10 - bw, c.y0 + 10, bw, bh},
                        {c.x0 + 10, c.y0 + 10, bw, bh},
                        {c.x0 + c.w - 10 - bw, c.y0 + c.h - 10 - bh, bw, bh},
                        {c.x0 + 10, c.y0 + c.h - 10 - bh, bw, bh}};
        int best = 0;
        long best_score = -1;
        for (int i = 0; i < 4; i++) {
            long score = points_in(&c, series, n, cand[i]);
            if (marker_box.w > 0 && rect_overlap(cand[i], marker_box)) score += 1L << 40;
            if (best_score < 0 || score < best_score) best = i, best_score = score;
        }
        rect b = cand[best];
        b.x = floor(b.x) + 0.5, b.y = floor(b.y) + 0.5;
        set_rgba(cr, 0xffffff, 0.88);
        cairo_rectangle(cr, b.x, b.y, b.w, b.h);
        cairo_fill_preserve(cr);
        set_rgb(cr, 0xcccccc);
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        for (int j = 0; j < shown; j++) {
            double yy = b.y + bp + j * row + (row - 4) / 2;
            draw_swatch(cr, b.x + bp, yy, sw, &series[idx[j]],
                        series_color(&series[idx[j]], idx[j]), series_style(&series[idx[j]], idx[j]));
            set_rgb(cr, INK);
            draw_text(cr, b.x + bp + sw + 8, yy, names[j], 0, 0.5, 0);
        }
    }
    return canvas_finish(RC_OK, path, surf, cr);
}

/* ------------------------------------------------------------ heatmap -- */

/* Digits for the cell annotations. */
static int annot_decimals(const plot_heatmap_spec *sp, const float *v, size_t n)
{
    if (sp->decimals < 0) return 0;
    if (sp->decimals > 0) return sp->decimals > 6 ? 6 : sp->decimals;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && fabs(v[i] - nearbyint(v[i])) > 1e-6 * fmax(1, fabs(v[i])))
            return 2;
    return 0;
}

static void fmt_cell(char *buf, size_t n, double v, int decimals)
{
    snprintf(buf, n, "%.*f", decimals, v);
    if (!strcmp(buf, "-0") || !strncmp(buf, "-0.", 3)) { /* no "-0.00" */
        int zero = 1;
        for (const char *p = buf + 1; *p; p++) zero &= *p == '0' || *p == '.';
        if (zero) memmove(buf, buf + 1, strlen(buf));
    }
    fix_minus(buf, n);
}

/* The largest integer step (1-2-5) that leaves at least min_px between
 * ticks that are spacing pixels apart per index. */
static int index_step(double spacing, double min_px)
{
    double s = 1;
    while (s * spacing < min_px && s < 1e9) s = next_step(s);
    return (int)s;
}

rc_status plot_heatmap_png(const char *path, const plot_heatmap_spec *spec, const float *values,
                           int rows, int cols)
{
    plot_heatmap_spec zero = {0};
    const plot_heatmap_spec *sp = spec ? spec : &zero;
    if (!path || !*path) return fail(RC_ERR_ARG, "plot: no output file name");
    if (!values || rows <= 0 || cols <= 0 || (size_t)rows > ((size_t)-1 / sizeof(float)) / (size_t)cols)
        return fail(RC_ERR_ARG, "plot: %s: bad heatmap: %dx%d values%s", path, rows, cols,
                    values ? "" : " (none given)");
    rc_status st = check_size(path, sp->width, sp->height);
    if (st) return st;
    size_t nv = (size_t)rows * (size_t)cols;

    /* the colour range */
    double vmin, vmax;
    if (sp->v_fixed) {
        vmin = sp->v_min, vmax = sp->v_max;
        if (!isfinite(vmin) || !isfinite(vmax) || !(vmax > vmin))
            return fail(RC_ERR_ARG, "plot: %s: bad colour range [%g, %g]", path, vmin, vmax);
    } else {
        vmin = INFINITY, vmax = -INFINITY;
        for (size_t i = 0; i < nv; i++)
            if (isfinite(values[i])) vmin = fmin(vmin, values[i]), vmax = fmax(vmax, values[i]);
        if (!(vmin <= vmax)) vmin = 0, vmax = 1;
        if (sp->scale == PLOT_DIVERGING) {
            double m = fmax(fabs(vmin), fabs(vmax));
            if (m == 0) m = 1;
            vmin = -m, vmax = m;
        } else if (vmin > 0 && vmin < vmax) { /* counts, weights: white is 0 */
            vmin = 0;
        } else if (vmax - vmin < 1e-12 * fmax(1, fabs(vmax))) {
            if (vmin > 0) vmin = 0;
            else if (vmax < 0) vmax = 0;
            else vmax = 1;
        }
    }
    double mid = (vmin + vmax) / 2;

    cairo_surface_t *surf;
    cairo_t *cr;
    if ((st = measure_new(path, &surf, &cr)) != RC_OK) return st;

    /* ---- measure ---- */
    const double pad = 14, label_cap = 180, gap = 6, tick_len = 4;
    char title[TEXT_MAX], xlabel[TEXT_MAX], ylabel[TEXT_MAX], buf[TEXT_MAX];
    font(cr, FONT_TITLE, 1);
    double title_h = sp->title && *sp->title ? font_height(cr) + 12 : 0;
    clean_text(sp->title, title, sizeof title);
    double title_w = text_width(cr, title);
    font(cr, FONT_LABEL, 0);
    double label_h = font_height(cr);
    clean_text(sp->xlabel, xlabel, sizeof xlabel);
    clean_text(sp->ylabel, ylabel, sizeof ylabel);
    font(cr, FONT_TICK, 0);
    double tick_h = font_height(cr);
    double rl_w = 0, cl_h = 0;
    if (sp->row_labels) {
        for (int r = 0; r < rows; r++) {
            fit_text(cr, sp->row_labels[r], label_cap, buf, sizeof buf);
            rl_w = fmax(rl_w, text_width(cr, buf));
        }
    } else {
        snprintf(buf, sizeof buf, "%d", rows - 1);
        rl_w = text_width(cr, buf) + tick_len;
    }
    if (sp->col_labels) {
        for (int j = 0; j < cols; j++) {
            fit_text(cr, sp->col_labels[j], label_cap, buf, sizeof buf);
            cl_h = fmax(cl_h, text_width(cr, buf));
        }
    } else {
        cl_h = tick_h + tick_len;
    }
    ticks ct;
    linear_axis(cr, &ct, vmin, vmax, 300, 50, 0, 0);
    double cb_lab = 0;
    for (int i = 0; i < ct.n; i++) cb_lab = fmax(cb_lab, text_width(cr, ct.label[i]));
    const double cb_gap = 18, cb_w = 16;
    double left = pad + (*ylabel ? label_h + 10 : 0) + rl_w + gap;
    double right = sp->no_colorbar ? pad + 8 : cb_gap + cb_w + tick_len + 4 + cb_lab + pad;
    double top = pad + title_h;
    double bottom = gap + cl_h + (*xlabel ? 10 + label_h : 0) + pad;
    if (!sp->col_labels) /* half the last index label may stick out */
        right = fmax(right, pad + 12);

    /* cell sizes for an automatic image size */
    int dec = annot_decimals(sp, values, nv);
    double cell_w = sp->row_labels || sp->col_labels ? 30 : 24, cell_h = cell_w;
    if (sp->annotate) {
        double aw = 0;
        for (size_t i = 0; i < nv && i < 100000; i++) {
            if (!isfinite(values[i])) continue;
            fmt_cell(buf, sizeof buf, values[i], dec);
            aw = fmax(aw, text_width(cr, buf));
        }
        cell_w = fmax(cell_w, fmax(36, aw + 12));
        cell_h = fmax(cell_h, fmin(cell_w, 48));
    }
    int area_w, area_h;
    if (sp->width) {
        area_w = (int)floor(sp->width - left - right);
    } else {
        area_w = (int)clampd(cols * cell_w, 80, 1200);
        double need = title_w + 2 * pad - (left + area_w + right);
        if (need > 0) left += ceil(need / 2), right += ceil(need / 2);
    }
    if (sp->height) area_h = (int)floor(sp->height - top - bottom);
    else area_h = (int)clampd(rows * cell_h, 80, 700);
    int W = sp->width ? sp->width : (int)ceil(left + area_w + right);
    int H = sp->height ? sp->height : (int)ceil(top + area_h + bottom);
    canvas_free(surf, cr);
    if (area_w < 8 || area_h < 8)
        return fail(RC_ERR_ARG, "plot: %s: image %dx%d is too small for a %dx%d heatmap and its labels",
                    path, W, H, rows, cols);
    if ((st = check_size(path, W, H)) != RC_OK) return st;

    /* ---- reduce to at most one cell per pixel ---- */
    int ac = cols < area_w ? cols : area_w, ar = rows < area_h ? rows : area_h;
    float *agg = malloc((size_t)ar * (size_t)ac * sizeof *agg);
    if (!agg) return fail(RC_ERR_NOMEM, "plot: %s: out of memory", path);
    for (size_t i = 0; i < (size_t)ar * (size_t)ac; i++) agg[i] = NAN;
    int diverging = sp->scale == PLOT_DIVERGING;
    for (int r = 0; r < rows; r++) {
        size_t ra = (size_t)((long long)r * ar / rows) * (size_t)ac;
        for (int j = 0; j < cols; j++) {
            float v = values[(size_t)r * (size_t)cols + (size_t)j];
            if (!isfinite(v)) continue;
            float *a = &agg[ra + (size_t)((long long)j * ac / cols)];
            if (isnan(*a) || (diverging ? fabs(v - mid) > fabs(*a - mid) : v > *a)) *a = v;
        }
    }

    /* ---- draw ---- */
    if ((st = canvas_new(path, W, H, &surf, &cr)) != RC_OK) {
        free(agg);
        return st;
    }
    int x0 = (int)left, y0 = (int)top;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, area_w, area_h);
    cairo_status_t cs = cairo_surface_status(img);
    if (cs != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        free(agg);
        return canvas_finish(cairo_fail(path, "cannot make the image", cs), path, surf, cr);
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int py = 0; py < area_h; py++) {
        int d = (int)((long long)py * ar / area_h); /* row block, top to bottom */
        int rb = sp->rows_up ? ar - 1 - d : d;
        uint32_t *line = (uint32_t *)(void *)(data + (size_t)py * (size_t)stride);
        for (int px = 0; px < area_w; px++) {
            float v = agg[(size_t)rb * (size_t)ac + (size_t)((long long)px * ac / area_w)];
            line[px] = isnan(v) ? NAN_CELL
                                : plot_colormap(sp->scale, (v - vmin) / (vmax - vmin)) & 0xffffff;
        }
    }
    cairo_surface_mark_dirty(img);
    cairo_set_source_surface(cr, img, x0, y0);
    cairo_paint(cr);
    cairo_surface_destroy(img);

    double cw = (double)area_w / cols, ch = (double)area_h / rows; /* one cell */
    /* thin white lines between big cells */
    if (ac == cols && ar == rows && cw >= 16 && ch >= 16 && (cols > 1 || rows > 1)) {
        set_rgb(cr, 0xffffff);
        for (int j = 1; j < cols; j++) {
            double bx = x0 + ceil((double)j * area_w / cols);
            cairo_rectangle(cr, bx - 1, y0, 1, area_h);
        }
        for (int r = 1; r < rows; r++) {
            double by = y0 + ceil((double)r * area_h / rows);
            cairo_rectangle(cr, x0, by - 1, area_w, 1);
        }
        cairo_fill(cr);
    }

    /* cell values */
    if (sp->annotate && ac == cols && ar == rows) {
        double fs = fmin(12.5, ch * 0.5);
        for (; fs >= 7; fs -= 0.5) {
            font(cr, fs, 0);
            double aw = 0;
            for (size_t i = 0; i < nv; i++) {
                if (!isfinite(values[i])) continue;
                fmt_cell(buf, sizeof buf, values[i], dec);
                aw = fmax(aw, text_width(cr, buf));
            }
            if (aw <= cw - 4) break;
        }
        if (fs >= 7) {
            for (int r = 0; r < rows; r++) {
                int d = sp->rows_up ? rows - 1 - r : r;
                for (int j = 0; j < cols; j++) {
                    float v = values[(size_t)r * (size_t)cols + (size_t)j];
                    if (!isfinite(v)) continue;
                    uint32_t bg = plot_colormap(sp->scale, (v - vmin) / (vmax - vmin));
                    set_rgb(cr, brightness(bg) < 0.55 ? 0xffffff : INK);
                    fmt_cell(buf, sizeof buf, v, dec);
                    draw_text(cr, x0 + (j + 0.5) * cw, y0 + (d + 0.5) * ch, buf, 0.5, 0.5, 0);
                }
            }
        }
    }

    /* frame */
    set_rgb(cr, 0x888888);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x0 - 0.5, y0 - 0.5, area_w + 1, area_h + 1);
    cairo_stroke(cr);

    /* row labels (left) */
    font(cr, FONT_TICK, 0);
    double line_h = font_height(cr);
    set_rgb(cr, INK_SOFT);
    if (sp->row_labels) {
        int k = (int)ceil(line_h / ch);
        for (int r = 0; r < rows; r += k) {
            int d = sp->rows_up ? rows - 1 - r : r;
            fit_text(cr, sp->row_labels[r], label_cap, buf, sizeof buf);
            draw_text(cr, x0 - gap, y0 + (d + 0.5) * ch, buf, 1, 0.5, 0);
        }
    } else {
        int k = index_step(ch, line_h * 1.4);
        for (int r = 0; r < rows; r += k) {
            int d = sp->rows_up ? rows - 1 - r : r;
            double py = y0 + (d + 0.5) * ch;
            set_rgb(cr, FRAME);
            cairo_move_to(cr, x0 - 1, crisp(py));
            cairo_line_to(cr, x0 - 1 - tick_len, crisp(py));
            cairo_stroke(cr);
            set_rgb(cr, INK_SOFT);
            snprintf(buf, sizeof buf, "%d", r);
            draw_text(cr, x0 - gap - tick_len, py, buf, 1, 0.5, 0);
        }
    }
    /* column labels (below: words turned to read upwards, or indices) */
    if (sp->col_labels) {
        int k = (int)ceil(line_h / cw);
        for (int j = 0; j < cols; j += k) {
            fit_text(cr, sp->col_labels[j], label_cap, buf, sizeof buf);
            draw_text(cr, x0 + (j + 0.5) * cw, y0 + area_h + gap, buf, 1, 0.5, -M_PI / 2);
        }
    } else {
        snprintf(buf, sizeof buf, "%d", cols - 1);
        int k = index_step(cw, text_width(cr, buf) + 16);
        for (int j = 0; j < cols; j += k) {
            double px = x0 + (j + 0.5) * cw;
            set_rgb(cr, FRAME);
            cairo_move_to(cr, crisp(px), y0 + area_h + 1);
            cairo_line_to(cr, crisp(px), y0 + area_h + 1 + tick_len);
            cairo_stroke(cr);
            set_rgb(cr, INK_SOFT);
            snprintf(buf, sizeof buf, "%d", j);
            draw_text(cr, px, y0 + area_h + tick_len + 3, buf, 0.5, 0, 0);
        }
    }

    /* colour bar */
    if (!sp->no_colorbar) {
        double bx = x0 + area_w + cb_gap, by = y0, bh = area_h;
        cairo_pattern_t *g = cairo_pattern_create_linear(0, by + bh, 0, by);
        for (int i = 0; i <= 32; i++) {
            uint32_t c = plot_colormap(sp->scale, i / 32.0);
            cairo_pattern_add_color_stop_rgb(g, i / 32.0, ((c >> 16) & 0xff) / 255.0,
                                             ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0);
        }
        cairo_rectangle(cr, bx, by, cb_w, bh);
        cairo_set_source(cr, g);
        cairo_fill(cr);
        cairo_pattern_destroy(g);
        set_rgb(cr, 0x888888);
        cairo_rectangle(cr, bx - 0.5, by - 0.5, cb_w + 1, bh + 1);
        cairo_stroke(cr);
        linear_axis(cr, &ct, vmin, vmax, bh, 50, 0, 0);
        for (int i = 0; i < ct.n; i++) {
            double py = by + bh - (ct.v[i] - vmin) / (vmax - vmin) * bh;
            set_rgb(cr, FRAME);
            cairo_move_to(cr, bx + cb_w, crisp(py));
            cairo_line_to(cr, bx + cb_w + tick_len, crisp(py));
            cairo_stroke(cr);
            set_rgb(cr, INK_SOFT);
            draw_text(cr, bx + cb_w + tick_len + 3, py, ct.label[i], 0, 0.5, 0);
        }
    }

    /* title and axis labels */
    set_rgb(cr, INK);
    if (*title) {
        font(cr, FONT_TITLE, 1);
        fit_text(cr, sp->title, W - 2 * pad, title, sizeof title);
        double tw = text_width(cr, title);
        draw_text(cr, clampd(x0 + area_w / 2.0, pad + tw / 2, W - pad - tw / 2), pad, title, 0.5,
                  0, 0);
    }
    font(cr, FONT_LABEL, 0);
    if (*xlabel) {
        fit_text(cr, sp->xlabel, W - 2 * pad, xlabel, sizeof xlabel);
        draw_text(cr, x0 + area_w / 2.0, H - pad, xlabel, 0.5, 1, 0);
    }
    if (*ylabel) {
        fit_text(cr, sp->ylabel, H - 2 * pad, ylabel, sizeof ylabel);
        draw_text(cr, pad, y0 + area_h / 2.0, ylabel, 0.5, 0, -M_PI / 2);
    }
    free(agg);
    return canvas_finish(RC_OK, path, surf, cr);
}
