/* tree_plot.h - a picture of sentiment trees (cairo; the command only):
 * each node a dot coloured by its predicted class, red (negative) through
 * grey (neutral) to blue (positive), the words under the leaves, and
 * optionally the gold label as a ring around each dot. */
#ifndef RECUR_TREE_PLOT_H
#define RECUR_TREE_PLOT_H

#include "recur.h"

typedef struct tree_plot_item {
    const rc_tree *tree;
    const int32_t *pred; /* per node (tree-local), 0..classes-1 */
    const int32_t *gold; /* per node 0..4 (SST labels), or NULL */
} tree_plot_item;

/* Draws the n trees one above the other into a PNG. classes: 5 or 2 (the
 * predictions' classes; gold labels are always 0..4). Returns RC_OK, or a
 * status with the message in tree_plot_last_error() naming the file. */
rc_status tree_plot_png(const char *path, const tree_plot_item *items, int n, int classes);
const char *tree_plot_last_error(void);

#endif
