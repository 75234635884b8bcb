/* tree_plot.c - sentiment trees as a PNG (cairo).
 *
 * Layout: the leaves sit on one baseline at the bottom of each tree, left
 * to right, spaced by their words' widths; an inner node is centred over
 * its children and raised by its level (1 + its children's highest), so
 * each phrase sits just above its tallest part. Edges are straight lines
 * from parent to child. */
#include "tree_plot.h"

#include "plot.h"

#include <cairo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err[512];
const char *tree_plot_last_error(void) { return err; }

static rc_status fail(rc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof err, fmt, ap);
    va_end(ap);
    return s;
}

/* 0 very negative .. 4 very positive (ColorBrewer RdBu, grey middle). */
static const double class_rgb[5][3] = {{0.70, 0.09, 0.17}, {0.94, 0.54, 0.38}, {0.80, 0.80, 0.80},
                                       {0.40, 0.66, 0.81}, {0.13, 0.40, 0.67}};

/* The colour of a class of a model with `classes` classes. */
static const double *color_of(int classes, int k)
{
    if (classes == 2) return class_rgb[k ? 4 : 0];
    return class_rgb[k < 0 ? 2 : k > 4 ? 4 : k];
}

enum { MARGIN = 20, LEVEL_H = 34, WORD_GAP = 12, TITLE_H = 0, LEGEND_H = 34, R = 7 };

typedef struct layout {
    double *x;  /* per node */
    int *level; /* per node */
    int max_level;
    double width;
} layout;

static int layout_tree(cairo_t *cr, const rc_tree *t, layout *L)
{
    L->x = malloc((size_t)t->n_nodes * sizeof *L->x);
    L->level = malloc((size_t)t->n_nodes * sizeof *L->level);
    if (!L->x || !L->level) return -1;
    double cur = 0;
    L->max_level = 0;
    for (int k = 0; k < t->n_leaves; k++) {
        int j = t->leaves[k];
        cairo_text_extents_t ex;
        cairo_text_extents(cr, t->word[j], &ex);
        double w = ex.x_advance > 2 * R ? ex.x_advance : 2 * R;
        L->x[j] = cur + w / 2;
        cur += w + WORD_GAP;
    }
    L->width = cur > WORD_GAP ? cur - WORD_GAP : 2 * R;
    /* Post-order: children before parents. */
    for (int j = 0; j < t->n_nodes; j++) {
        int k = t->n_children[j];
        L->level[j] = 0;
        if (k == 0) continue;
        double lo = 1e30, hi = -1e30;
        for (int c = 0; c < k; c++) {
            int ch = t->children[t->first_child[j] + c];
            if (L->x[ch] < lo) lo = L->x[ch];
            if (L->x[ch] > hi) hi = L->x[ch];
            if (L->level[ch] + 1 > L->level[j]) L->level[j] = L->level[ch] + 1;
        }
        L->x[j] = (lo + hi) / 2;
        if (L->level[j] > L->max_level) L->max_level = L->level[j];
    }
    return 0;
}

static void dot(cairo_t *cr, double x, double y, const double *rgb, const double *ring)
{
    cairo_new_path(cr); /* no line from where the last text ended */
    if (ring) {
        cairo_arc(cr, x, y, R + 3.5, 0, 6.283185307);
        cairo_set_source_rgb(cr, ring[0], ring[1], ring[2]);
        cairo_fill(cr);
        cairo_arc(cr, x, y, R + 1.2, 0, 6.283185307);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_fill(cr);
    }
    cairo_arc(cr, x, y, R, 0, 6.283185307);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
}

static cairo_status_t write_png(void *closure, const unsigned char *data, unsigned int len)
{
    return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

rc_status tree_plot_png(const char *path, const tree_plot_item *items, int n, int classes)
{
    if (!path || !items || n < 1) return fail(RC_ERR_ARG, "tree plot: nothing to draw");
    if (classes != 2 && classes != 5)
        return fail(RC_ERR_ARG, "tree plot: %s: classes must be 2 or 5", path);
    /* Measure with a scratch surface. */
    cairo_surface_t *ms = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *mc = cairo_create(ms);
    cairo_select_font_face(mc, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(mc, 13);
    layout *L = calloc((size_t)n, sizeof *L);
    rc_status st = RC_OK;
    double W = 420, Htot = MARGIN + LEGEND_H;
    for (int i = 0; L && i < n; i++) {
        if (layout_tree(mc, items[i].tree, &L[i])) {
            st = fail(RC_ERR_NOMEM, "tree plot: out of memory");
            break;
        }
        if (L[i].width + 2 * MARGIN > W) W = L[i].width + 2 * MARGIN;
        Htot += (L[i].max_level + 1) * LEVEL_H + 24 + MARGIN;
    }
    /* The legend's width at its font size (as drawn below). */
    cairo_set_font_size(mc, 12);
    double legend_w = 2 * MARGIN;
    const char *lnames[] = {"very negative", "negative", "neutral", "positive", "very positive",
                            "(ring: gold label)"};
    for (int k = 0; k < 6; k++) {
        cairo_text_extents_t ex;
        cairo_text_extents(mc, lnames[k], &ex);
        legend_w += 2 * R + 5 + ex.x_advance + 18;
    }
    if (legend_w > W) W = legend_w;
    cairo_destroy(mc);
    cairo_surface_destroy(ms);
    if (!L) return fail(RC_ERR_NOMEM, "tree plot: out of memory");
    if (st == RC_OK && (W > PLOT_MAX_SIDE || Htot > PLOT_MAX_SIDE))
        st = fail(RC_ERR_ARG, "tree plot: %s: the picture would be %.0f x %.0f pixels (at most %d a "
                  "side): draw fewer or shorter trees", path, W, Htot, PLOT_MAX_SIDE);
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    if (st == RC_OK) {
        s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)W, (int)Htot);
        cr = cairo_create(s);
        if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
            st = fail(RC_ERR_NOMEM, "tree plot: %s: cannot make a %.0f x %.0f image", path, W, Htot);
    }
    if (st == RC_OK) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 12);
        /* Legend. */
        double lx = MARGIN, ly = MARGIN + 8;
        const char *names5[] = {"very negative", "negative", "neutral", "positive", "very positive"};
        const char *names2[] = {"negative", "positive"};
        for (int k = 0; k < classes; k++) {
            dot(cr, lx + R, ly, color_of(classes, k), NULL);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            cairo_move_to(cr, lx + 2 * R + 5, ly + 4);
            const char *nm = classes == 5 ? names5[k] : names2[k];
            cairo_show_text(cr, nm);
            cairo_text_extents_t ex;
            cairo_text_extents(cr, nm, &ex);
            lx += 2 * R + 5 + ex.x_advance + 18;
        }
        int any_gold = 0;
        for (int i = 0; i < n; i++) any_gold |= items[i].gold != NULL;
        if (any_gold) {
            cairo_move_to(cr, lx, ly + 4);
            cairo_show_text(cr, "(ring: gold label)");
        }
        cairo_set_font_size(cr, 13);
        double y0 = MARGIN + LEGEND_H;
        for (int i = 0; i < n; i++) {
            const rc_tree *t = items[i].tree;
            const layout *l = &L[i];
            double base = y0 + l->max_level * LEVEL_H + R + 2, x0 = (W - l->width) / 2;
            /* y of a node: leaves on the baseline, inner nodes by level. */
#define NODE_Y(j) (base - l->level[j] * LEVEL_H)
            cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
            cairo_set_line_width(cr, 1.2);
            for (int j = 0; j < t->n_nodes; j++)
                for (int c = 0; c < t->n_children[j]; c++) {
                    int ch = t->children[t->first_child[j] + c];
                    cairo_move_to(cr, x0 + l->x[j], NODE_Y(j));
                    cairo_line_to(cr, x0 + l->x[ch], NODE_Y(ch));
                }
            cairo_stroke(cr);
            for (int j = 0; j < t->n_nodes; j++)
                dot(cr, x0 + l->x[j], NODE_Y(j), color_of(classes, items[i].pred[j]),
                    items[i].gold ? color_of(5, items[i].gold[j]) : NULL);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            for (int k = 0; k < t->n_leaves; k++) {
                int j = t->leaves[k];
                cairo_text_extents_t ex;
                cairo_text_extents(cr, t->word[j], &ex);
                cairo_move_to(cr, x0 + l->x[j] - ex.x_advance / 2, base + R + 16);
                cairo_show_text(cr, t->word[j]);
            }
#undef NODE_Y
            y0 += (l->max_level + 1) * LEVEL_H + 24 + MARGIN;
        }
        cairo_surface_flush(s);
        FILE *f = fopen(path, "wb");
        if (!f) st = fail(RC_ERR_IO, "tree plot: %s: cannot open for writing", path);
        else {
            cairo_status_t cs = cairo_surface_write_to_png_stream(s, write_png, f);
            if (fclose(f) != 0 || cs != CAIRO_STATUS_SUCCESS)
                st = fail(RC_ERR_IO, "tree plot: %s: cannot write the PNG", path);
        }
    }
    if (cr) cairo_destroy(cr);
    if (s) cairo_surface_destroy(s);
    for (int i = 0; i < n; i++) free(L[i].x), free(L[i].level);
    free(L);
    return st;
}
