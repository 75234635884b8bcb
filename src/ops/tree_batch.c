/* tree_batch.c - a batch of trees laid out by level for the composition
 * ops (tree_rnn.c, tree_lstm.c).
 *
 * A node's level is 0 for a leaf and 1 + its children's highest level
 * otherwise: once every level below k is computed, all of level k is ready,
 * so a level is one matrix multiply however many trees it spans. Rows are
 * assigned by a counting sort on the level (stable: trees in order, each
 * tree's nodes in post-order). Because trees are stored in post-order
 * (children first), the levels come out of one forward pass over the
 * nodes. */
#include "../internal.h"

#include <stdlib.h>
#include <string.h>

void rc_tree_batch_free(rc_tree_batch *b)
{
    if (!b) return;
    free(b->level_start);
    free(b->child_start);
    free(b->child_row);
    free(b->tree_of);
    free(b->node_of);
    free(b->tree_row0);
    free(b->row_of);
    free(b->root_row);
    free(b->label);
    free(b->word_id);
    memset(b, 0, sizeof *b);
}

rc_status rc_tree_batch_build(const rc_tree *trees, int n, rc_tree_batch *out)
{
    const char *fn = "tree_batch_build";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!trees || n < 1) return rc_error(RC_ERR_ARG, "%s: no trees (n = %d)", fn, n);
    size_t total = 0, edges = 0;
    for (int i = 0; i < n; i++) {
        if (trees[i].n_nodes < 1)
            return rc_error(RC_ERR_ARG, "%s: tree %d has no nodes", fn, i);
        total += (size_t)trees[i].n_nodes;
        edges += (size_t)trees[i].n_nodes - 1;
    }
    if (total >= (size_t)INT32_MAX / 2)
        return rc_error(RC_ERR_RANGE, "%s: %zu nodes are too many for one batch", fn, total);
    rc_tree_batch *b = out;
    int32_t *level = malloc(total * sizeof *level);
    b->child_start = malloc((total + 1) * sizeof(int32_t));
    b->child_row = malloc((edges ? edges : 1) * sizeof(int32_t));
    b->tree_of = malloc(total * sizeof(int32_t));
    b->node_of = malloc(total * sizeof(int32_t));
    b->tree_row0 = malloc(((size_t)n + 1) * sizeof(int32_t));
    b->row_of = malloc(total * sizeof(int32_t));
    b->root_row = malloc((size_t)n * sizeof(int32_t));
    b->label = malloc(total * sizeof(int32_t));
    if (!level || !b->child_start || !b->child_row || !b->tree_of || !b->node_of ||
        !b->tree_row0 || !b->row_of || !b->root_row || !b->label) {
        free(level);
        rc_tree_batch_free(b);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    /* Levels, per tree in post-order (children come first). */
    int max_level = 0, n_leaves = 0;
    size_t g = 0;
    for (int i = 0; i < n; i++) {
        const rc_tree *t = &trees[i];
        b->tree_row0[i] = (int32_t)g;
        for (int j = 0; j < t->n_nodes; j++) {
            int lv = 0, k = t->n_children[j];
            for (int c = 0; c < k; c++) {
                int ch = t->children[t->first_child[j] + c];
                int cl = level[b->tree_row0[i] + ch] + 1;
                if (cl > lv) lv = cl;
            }
            if (k == 0) n_leaves++;
            if (k > b->max_children) b->max_children = k;
            level[g++] = lv;
            if (lv > max_level) max_level = lv;
        }
    }
    b->tree_row0[n] = (int32_t)total;
    b->n_trees = n;
    b->n_nodes = (int)total;
    b->n_edges = (int)edges;
    b->n_leaves = n_leaves;
    b->n_levels = max_level + 1;
    b->level_start = calloc((size_t)b->n_levels + 1, sizeof(int32_t));
    b->word_id = malloc((n_leaves ? (size_t)n_leaves : 1) * sizeof(int32_t));
    if (!b->level_start || !b->word_id) {
        free(level);
        rc_tree_batch_free(b);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    /* Counting sort on the level: rows. */
    for (size_t k = 0; k < total; k++) b->level_start[level[k] + 1]++;
    for (int k = 0; k < b->n_levels; k++) b->level_start[k + 1] += b->level_start[k];
    int32_t *next = malloc((size_t)b->n_levels * sizeof *next);
    if (!next) {
        free(level);
        rc_tree_batch_free(b);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    memcpy(next, b->level_start, (size_t)b->n_levels * sizeof *next);
    g = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < trees[i].n_nodes; j++, g++) {
            int32_t r = next[level[g]]++;
            b->row_of[g] = r;
            b->tree_of[r] = i;
            b->node_of[r] = j;
            b->label[r] = trees[i].label ? trees[i].label[j] : 0;
            if (level[g] == 0) b->word_id[r] = trees[i].word_id ? trees[i].word_id[j] : -1;
        }
    free(next);
    free(level);
    /* Children by row, in row order. */
    int32_t e = 0;
    for (int r = 0; r < b->n_nodes; r++) {
        int i = b->tree_of[r], j = b->node_of[r];
        const rc_tree *t = &trees[i];
        b->child_start[r] = e;
        for (int c = 0; c < t->n_children[j]; c++)
            b->child_row[e++] = b->row_of[b->tree_row0[i] + t->children[t->first_child[j] + c]];
    }
    b->child_start[b->n_nodes] = e;
    for (int i = 0; i < n; i++)
        b->root_row[i] = b->row_of[b->tree_row0[i] + trees[i].n_nodes - 1];
    return RC_OK;
}
