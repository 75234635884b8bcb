/* plot.h - PNG charts for the recur command: line charts (training-loss
 * curves, forecasts against truth) and heatmaps (attention alignments,
 * confusion matrices, piano rolls). Drawn with cairo; this is tool code
 * above the library, which stays free of it.
 *
 * All specs work zero-initialised: `plot_spec s = {0};` draws a 900x500
 * chart with automatic axes, a legend for named series and palette
 * colours. Functions return RC_OK, or a status with a one-line message in
 * plot_last_error() that names the file ("plot: /x/y.png: ..."). */
#ifndef RECUR_PLOT_H
#define RECUR_PLOT_H

#include <stdint.h>

#include "recur.h"

/* A colour 0xAARRGGBB. Alpha 0 (the zero value) means "automatic". */
#define PLOT_RGB(r, g, b) \
    (0xff000000u | ((uint32_t)(r) & 0xff) << 16 | ((uint32_t)(g) & 0xff) << 8 | ((uint32_t)(b) & 0xff))
#define PLOT_AUTO 0u

/* The default image size of a line chart. */
#define PLOT_DEFAULT_WIDTH 900
#define PLOT_DEFAULT_HEIGHT 500
/* The largest image side accepted (pixels). */
#define PLOT_MAX_SIDE 16384

typedef enum plot_style {
    PLOT_LINE = 0,  /* a solid line; isolated points (between gaps) as dots */
    PLOT_DASHED,    /* a dashed line */
    PLOT_POINTS     /* dots only */
} plot_style;

/* One named series of n points. x NULL means 0, 1, 2, ...; a NaN or
 * infinite x or y (or y <= 0 on a log axis) is a gap in the line. */
typedef struct plot_series {
    const char *name;   /* in the legend; NULL or "" leaves it out */
    const float *x;     /* n values, or NULL */
    const float *y;     /* n values */
    int n;              /* 0 (or y NULL): the series is skipped */
    uint32_t color;     /* PLOT_RGB(...), or PLOT_AUTO: plot_palette(i) */
    plot_style style;
    float line_width;   /* pixels; 0 = 2 */
} plot_series;

typedef struct plot_spec {
    int width, height;             /* pixels; 0 = 900 x 500 */
    const char *title;             /* NULL = none */
    const char *xlabel, *ylabel;   /* NULL = none */
    int log_y;                     /* logarithmic y axis */
    int no_legend;                 /* no legend even for named series */
    int y_fixed;                   /* use [y_min, y_max] instead of the data's range */
    float y_min, y_max;
    int marker;                    /* draw a vertical line at x = marker_x */
    float marker_x;
    const char *marker_label;      /* written beside the marker line; NULL = none */
} plot_spec;

/* Draws the n series as a line chart and writes it as a PNG. Series with
 * no finite point are skipped; a chart with none at all still gets its
 * axes. Series far longer than the plot is wide are reduced to each pixel
 * column's first, lowest, highest and last point before drawing. */
rc_status plot_lines_png(const char *path, const plot_spec *spec, const plot_series *series,
                         int n);

typedef enum plot_scale {
    PLOT_SEQUENTIAL = 0, /* white (low) to dark blue (high) */
    PLOT_DIVERGING       /* blue (low) through white (middle) to red (high) */
} plot_scale;

typedef struct plot_heatmap_spec {
    int width, height;       /* pixels; 0 = from the number of cells and labels */
    const char *title;       /* NULL = none */
    const char *xlabel, *ylabel;
    const char *const *row_labels; /* rows UTF-8 labels (left), or NULL: index ticks */
    const char *const *col_labels; /* cols labels (bottom, rotated), or NULL */
    plot_scale scale;
    int v_fixed;             /* colour range [v_min, v_max]; else sequential runs from
                                min(0, data min) to the data max, diverging is
                                symmetric about 0 */
    float v_min, v_max;
    int annotate;            /* write each cell's value in it (where it fits) */
    int decimals;            /* digits in annotations; 0 = integers if all values
                                are whole numbers, else 2; -1 = none (integers) */
    int rows_up;             /* row 0 at the bottom (piano rolls: low pitch low) */
    int no_colorbar;
} plot_heatmap_spec;

/* Draws values [rows x cols] (row-major) as a heatmap with a colour bar
 * and writes it as a PNG. NaN cells are drawn grey. A matrix with more
 * cells than pixels is reduced by keeping, in each block, the value
 * farthest from the low end of the scale (the middle for diverging), so
 * short notes in a piano roll stay visible. Labels that would overlap are
 * thinned out; long ones are shortened with an ellipsis. */
rc_status plot_heatmap_png(const char *path, const plot_heatmap_spec *spec, const float *values,
                           int rows, int cols);

/* The i-th colour of the line palette (cycles; distinct for i = 0..9). */
uint32_t plot_palette(int i);
/* The colour of the scale at t in [0, 1] (clamped): 0 = low, 1 = high. */
uint32_t plot_colormap(plot_scale s, double t);

/* The message of the last failed plot call on this thread ("" if none). */
const char *plot_last_error(void);

/* Frees the font caches of cairo and fontconfig, which otherwise live
 * until exit (and show up in leak checkers). Call it only while no plot
 * call runs on any thread; plotting afterwards rebuilds them. */
void plot_release_caches(void);

#endif
