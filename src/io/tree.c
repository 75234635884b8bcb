/*
 * tree.c - labelled bracketed trees (the Stanford Sentiment Treebank's
 * PTB-style lines): a one-pass parser with an explicit stack (no recursion,
 * so deep or hostile input cannot overflow the C stack) that numbers nodes
 * as they close, which is post-order: children before parents, root last.
 *
 * All trees of a treebank share flat arrays; tree t owns nodes
 * [node0[t], node0[t+1]), child entries [node0[t] - t, node0[t+1] - t - 1)
 * (a tree of n nodes has n - 1 of them) and leaves [leaf0[t], leaf0[t+1]).
 * Words are copied into one pool sized from the text up front (each word
 * is followed by at least one byte that is not part of it), so pointers
 * into it never move.
 */
#include "io.h"

#include <stdlib.h>

struct rc_treebank {
    int n_trees;
    size_t n_nodes, n_leaves;
    int32_t *node0, *leaf0, *line; /* per tree (node0, leaf0: n_trees + 1) */
    int32_t *label, *n_children, *first_child, *parent, *leaf_pos, *word_id;
    const char **word;
    int32_t *children;
    int32_t *leaves;
    char *pool;
    /* capacities while parsing */
    size_t cap_trees, cap_nodes, cap_leaves, pool_used;
};

/* ---- errors ---- */

/* Line and column (in characters) of text[pos]. */
static void line_col(const char *text, size_t pos, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < pos; i++) {
        unsigned char b = (unsigned char)text[i];
        if (b == '\n') l++, c = 1;
        else if ((b & 0xc0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

typedef struct parser {
    const char *fn, *name; /* for messages */
    const char *s;
    size_t len;
    int per_line; /* a file: one tree per line */
} parser;

static rc_status fail_at(const parser *p, size_t pos, const char *fmt, const char *a,
                         size_t n)
{
    size_t line, col;
    line_col(p->s, pos, &line, &col);
    char what[200];
    if (a) {
        char tok[48];
        size_t k = n < 40 ? n : 40;
        memcpy(tok, a, k);
        tok[k] = '\0';
        if (n > 40) memcpy(tok + 40, "...", 4);
        snprintf(what, sizeof what, fmt, tok);
    } else snprintf(what, sizeof what, "%s", fmt);
    return rc_error(RC_ERR_FORMAT, "%s: %s:%zu:%zu: %s", p->fn, p->name, line, col, what);
}

/* ---- growing the arrays ---- */

static int grow(void **a, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*a, c * elem);
    if (!q) return 0;
    *a = q;
    *cap = c;
    return 1;
}

/* Node and tree arrays: each realloc'd to the same capacity. */
static int reserve_nodes(rc_treebank *tb, size_t need)
{
    if (need <= tb->cap_nodes) return 1;
    size_t c = tb->cap_nodes ? tb->cap_nodes : 256;
    while (c < need) c *= 2;
    int32_t **arr[] = {&tb->label,  &tb->n_children, &tb->first_child,
                       &tb->parent, &tb->leaf_pos,   &tb->word_id, &tb->children};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {
        size_t old = tb->cap_nodes;
        if (!grow((void **)arr[i], &old, c, sizeof(int32_t))) return 0;
    }
    size_t old = tb->cap_nodes;
    if (!grow((void **)&tb->word, &old, c, sizeof(char *))) return 0;
    tb->cap_nodes = c;
    return 1;
}

static int reserve_trees(rc_treebank *tb, size_t need)
{
    if (need <= tb->cap_trees) return 1;
    size_t c = tb->cap_trees ? tb->cap_trees : 64;
    while (c < need) c *= 2;
    int32_t **arr[] = {&tb->node0, &tb->leaf0, &tb->line};
    for (size_t i = 0; i < 3; i++) {
        size_t old = tb->cap_trees;
        if (!grow((void **)arr[i], &old, c, sizeof(int32_t))) return 0;
    }
    tb->cap_trees = c;
    return 1;
}

/* ---- parsing ---- */

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}
static int is_word(unsigned char c) { return !is_space(c) && c != '(' && c != ')'; }

typedef struct frame {
    size_t open;      /* offset of its '(' */
    int32_t label;
    size_t child0;    /* height of the pending stack when it opened */
} frame;

typedef struct stacks {
    frame *f;
    size_t nf, cap_f;
    int32_t *pend;    /* closed nodes (tree-local) not yet given to a parent */
    size_t np, cap_p;
} stacks;

/* Skips whitespace; in a file a line end inside a tree is an error
 * (returns 0 with *pos at the line end). */
static int skip_space(const parser *p, size_t *pos)
{
    while (*pos < p->len && is_space((unsigned char)p->s[*pos])) {
        if (p->per_line && p->s[*pos] == '\n') return 0;
        (*pos)++;
    }
    return 1;
}

static rc_status unbalanced(const parser *p, size_t pos, const stacks *st)
{
    size_t line, col;
    line_col(p->s, st->f[0].open, &line, &col);
    char msg[160];
    snprintf(msg, sizeof msg,
             "unbalanced parentheses: %s with %zu '(' not closed (the tree opened at %zu:%zu)",
             pos >= p->len ? "the text ends" : "the line ends", st->nf, line, col);
    return fail_at(p, pos, msg, NULL, 0);
}

/* Adds node `local` (tree-local index) with the given fields. */
static void put_node(rc_treebank *tb, size_t base, int32_t local, int32_t label)
{
    size_t g = base + (size_t)local;
    tb->label[g] = label;
    tb->n_children[g] = 0;
    tb->first_child[g] = 0;
    tb->parent[g] = -1;
    tb->leaf_pos[g] = -1;
    tb->word_id[g] = -1;
    tb->word[g] = NULL;
}

/* Parses one tree starting at the '(' at *pos; appends it to tb. */
static rc_status parse_tree(const parser *p, size_t *pos, rc_treebank *tb, stacks *st)
{
    const char *s = p->s;
    size_t i = *pos;
    size_t base = tb->n_nodes, leaf_base = tb->n_leaves;
    size_t tree_idx = (size_t)tb->n_trees;
    size_t child_base = base - tree_idx; /* this tree's child entries start here */
    int32_t n = 0, nl = 0, nc = 0;       /* nodes, leaves, child entries so far */
    st->nf = st->np = 0;
    for (;;) {
        if (!skip_space(p, &i)) return unbalanced(p, i, st);
        if (i >= p->len) return unbalanced(p, i, st);
        unsigned char c = (unsigned char)s[i];
        if (c == '(') {
            size_t open = i++;
            if (!skip_space(p, &i) || i >= p->len) {
                if (!grow((void **)&st->f, &st->cap_f, st->nf + 1, sizeof *st->f))
                    return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
                st->f[st->nf++] = (frame){open, 0, 0};
                return unbalanced(p, i, st);
            }
            size_t t0 = i;
            while (i < p->len && is_word((unsigned char)s[i])) i++;
            if (i == t0) {
                if (s[i] == ')') return fail_at(p, open, "empty node \"()\"", NULL, 0);
                return fail_at(p, i, "missing label: '(' must be followed by a label 0-4",
                               NULL, 0);
            }
            int32_t label = 0;
            for (size_t k = t0; k < i; k++) {
                if (s[k] < '0' || s[k] > '9')
                    return fail_at(p, t0, "non-numeric label \"%s\" (labels are 0-4)", s + t0,
                                   i - t0);
                if (label <= 4) label = label * 10 + (s[k] - '0');
            }
            if (label > 4)
                return fail_at(p, t0, "label \"%s\" outside 0-4", s + t0, i - t0);
            int at_end = !skip_space(p, &i) || i >= p->len;
            if (at_end) {
                if (!grow((void **)&st->f, &st->cap_f, st->nf + 1, sizeof *st->f))
                    return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
                st->f[st->nf++] = (frame){open, label, st->np};
                return unbalanced(p, i, st);
            }
            c = (unsigned char)s[i];
            if (c == ')')
                return fail_at(p, i, "a node without a word or children (a leaf needs a word)",
                               NULL, 0);
            if (c == '(') { /* an inner node: its children follow */
                if (!grow((void **)&st->f, &st->cap_f, st->nf + 1, sizeof *st->f))
                    return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
                st->f[st->nf++] = (frame){open, label, st->np};
                continue;
            }
            /* A leaf: one word, then ')'. */
            size_t w0 = i;
            while (i < p->len && is_word((unsigned char)s[i])) i++;
            size_t wn = i - w0;
            if (!skip_space(p, &i) || i >= p->len) {
                if (!grow((void **)&st->f, &st->cap_f, st->nf + 1, sizeof *st->f))
                    return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
                st->f[st->nf++] = (frame){open, label, st->np};
                return unbalanced(p, i, st);
            }
            if (s[i] == '(')
                return fail_at(p, i, "a subtree after the word \"%s\" (a leaf holds one word)",
                               s + w0, wn);
            if (s[i] != ')')
                return fail_at(p, i, "a second word after \"%s\" (a leaf holds one word)",
                               s + w0, wn);
            i++;
            if (!reserve_nodes(tb, base + (size_t)n + 1) ||
                !grow((void **)&tb->leaves, &tb->cap_leaves, leaf_base + (size_t)nl + 1,
                      sizeof(int32_t)) ||
                !grow((void **)&st->pend, &st->cap_p, st->np + 1, sizeof *st->pend))
                return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
            put_node(tb, base, n, label);
            char *w = tb->pool + tb->pool_used;
            memcpy(w, s + w0, wn);
            w[wn] = '\0';
            tb->pool_used += wn + 1;
            tb->word[base + (size_t)n] = w;
            tb->leaf_pos[base + (size_t)n] = nl;
            tb->leaves[leaf_base + (size_t)nl++] = n;
            st->pend[st->np++] = n++;
        } else if (c == ')') {
            if (st->nf == 0) /* cannot happen: the loop ends when the root closes */
                return fail_at(p, i, "unbalanced parentheses: ')' without '('", NULL, 0);
            frame f = st->f[--st->nf];
            i++;
            size_t k = st->np - f.child0;
            if (!reserve_nodes(tb, base + (size_t)n + 1) ||
                !grow((void **)&st->pend, &st->cap_p, st->np + 1, sizeof *st->pend))
                return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
            put_node(tb, base, n, f.label);
            tb->n_children[base + (size_t)n] = (int32_t)k;
            tb->first_child[base + (size_t)n] = nc;
            for (size_t j = 0; j < k; j++) {
                int32_t ch = st->pend[f.child0 + j];
                tb->children[child_base + (size_t)nc++] = ch;
                tb->parent[base + (size_t)ch] = n;
            }
            st->np = f.child0;
            st->pend[st->np++] = n++;
        } else {
            size_t w0 = i;
            while (i < p->len && is_word((unsigned char)s[i])) i++;
            return fail_at(p, w0, "a word \"%s\" beside subtrees (words belong in leaves)",
                           s + w0, i - w0);
        }
        if (st->nf == 0) break; /* the root closed */
        if (n >= INT32_MAX / 2)
            return rc_error(RC_ERR_RANGE, "%s: %s: a tree with too many nodes", p->fn,
                            p->name);
    }
    if (!reserve_trees(tb, tree_idx + 2))
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
    tb->line[tree_idx] = 0; /* parse_all sets it */
    tb->n_nodes += (size_t)n;
    tb->n_leaves += (size_t)nl;
    tb->n_trees++;
    tb->node0[tb->n_trees] = (int32_t)tb->n_nodes;
    tb->leaf0[tb->n_trees] = (int32_t)tb->n_leaves;
    *pos = i;
    return RC_OK;
}

/* Parses every tree in p->s into a new treebank. */
static rc_status parse_all(const parser *p, rc_treebank **out)
{
    *out = NULL;
    if (p->len >= (size_t)INT32_MAX)
        return rc_error(RC_ERR_FORMAT, "%s: %s: too large (%zu bytes)", p->fn, p->name,
                        p->len);
    rc_treebank *tb = calloc(1, sizeof *tb);
    if (!tb || !(tb->pool = malloc(p->len + 1)) || !reserve_trees(tb, 1)) {
        rc_treebank_free(tb);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", p->fn);
    }
    tb->node0[0] = tb->leaf0[0] = 0;
    stacks st = {0};
    rc_status s = RC_OK;
    size_t i = 0, line = 1;
    for (;;) {
        /* to the next tree */
        while (i < p->len && is_space((unsigned char)p->s[i])) {
            if (p->s[i] == '\n') line++;
            i++;
        }
        if (i >= p->len) break;
        if (p->s[i] != '(') {
            if (p->s[i] == ')')
                s = fail_at(p, i, "unbalanced parentheses: ')' without '('", NULL, 0);
            else s = fail_at(p, i, "expected '(' to start a tree", NULL, 0);
            break;
        }
        if (tb->n_trees && !p->per_line) {
            s = fail_at(p, i, "text after the tree (one tree expected)", NULL, 0);
            break;
        }
        s = parse_tree(p, &i, tb, &st);
        if (s) break;
        tb->line[tb->n_trees - 1] = line > INT32_MAX ? INT32_MAX : (int32_t)line;
        if (p->per_line) { /* the rest of the line must be blank */
            while (i < p->len && p->s[i] != '\n' && is_space((unsigned char)p->s[i])) i++;
            if (i < p->len && p->s[i] != '\n') {
                s = p->s[i] == ')'
                        ? fail_at(p, i, "unbalanced parentheses: ')' without '('", NULL, 0)
                        : fail_at(p, i, "text after the tree (one tree per line)", NULL, 0);
                break;
            }
        }
    }
    free(st.f);
    free(st.pend);
    if (s == RC_OK && tb->n_trees == 0)
        s = rc_error(RC_ERR_FORMAT, "%s: %s: no trees (only whitespace)", p->fn, p->name);
    if (s) {
        rc_treebank_free(tb);
        return s;
    }
    *out = tb;
    return RC_OK;
}

/* Another function's message under this one's name ("text_read: X" ->
 * "trees_read: X"). */
static rc_status rename_error(rc_status s, const char *from, const char *fn)
{
    char msg[512];
    const char *m = rc_last_error();
    size_t k = strlen(from);
    if (!strncmp(m, from, k) && m[k] == ':') m += k + 2;
    snprintf(msg, sizeof msg, "%s", m);
    return rc_error(s, "%s: %s", fn, msg);
}

rc_status rc_trees_read(const char *path, rc_treebank **out)
{
    const char *fn = "trees_read";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!path) return rc_error(RC_ERR_ARG, "%s: path is NULL", fn);
    char *text;
    size_t len;
    rc_status s = rc_text_read(path, &text, &len);
    if (s) return rename_error(s, "text_read", fn);
    parser p = {fn, path, text, len, 1};
    s = parse_all(&p, out);
    free(text);
    return s;
}

rc_status rc_tree_parse(const char *text, size_t len, rc_treebank **out)
{
    const char *fn = "tree_parse";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!text && len) return rc_error(RC_ERR_ARG, "%s: text is NULL", fn);
    rc_status s = rc_text_validate(text, len, "text");
    if (s) return rename_error(s, "text_validate", fn);
    if (len == 0) return rc_error(RC_ERR_FORMAT, "%s: text:1:1: empty text", fn);
    parser p = {fn, "text", text, len, 0};
    return parse_all(&p, out);
}

void rc_treebank_free(rc_treebank *tb)
{
    if (!tb) return;
    free(tb->node0), free(tb->leaf0), free(tb->line);
    free(tb->label), free(tb->n_children), free(tb->first_child), free(tb->parent);
    free(tb->leaf_pos), free(tb->word_id), free((void *)tb->word), free(tb->children);
    free(tb->leaves), free(tb->pool);
    free(tb);
}

int rc_treebank_count(const rc_treebank *tb) { return tb ? tb->n_trees : 0; }
size_t rc_treebank_total_nodes(const rc_treebank *tb) { return tb ? tb->n_nodes : 0; }

rc_status rc_treebank_tree(const rc_treebank *tb, int i, rc_tree *out)
{
    if (!tb || !out) return rc_error(RC_ERR_ARG, "treebank_tree: tb or out is NULL");
    if (i < 0 || i >= tb->n_trees)
        return rc_error(RC_ERR_RANGE, "treebank_tree: tree %d out of range (%d trees)", i,
                        tb->n_trees);
    size_t b = (size_t)tb->node0[i], lb = (size_t)tb->leaf0[i];
    out->n_nodes = tb->node0[i + 1] - tb->node0[i];
    out->n_leaves = tb->leaf0[i + 1] - tb->leaf0[i];
    out->line = tb->line[i];
    out->label = tb->label + b;
    out->n_children = tb->n_children + b;
    out->first_child = tb->first_child + b;
    out->children = tb->children + (b - (size_t)i);
    out->parent = tb->parent + b;
    out->leaf_pos = tb->leaf_pos + b;
    out->word_id = tb->word_id + b;
    out->word = tb->word + b;
    out->leaves = tb->leaves + lb;
    return RC_OK;
}

rc_status rc_treebank_sentence(const rc_treebank *tb, int i, char **out)
{
    if (!out) return rc_error(RC_ERR_ARG, "treebank_sentence: out is NULL");
    *out = NULL;
    rc_tree t;
    rc_status s = rc_treebank_tree(tb, i, &t);
    if (s) return s;
    size_t n = 1;
    for (int k = 0; k < t.n_leaves; k++) n += strlen(t.word[t.leaves[k]]) + 1;
    char *r = malloc(n), *o = r;
    if (!r) return rc_error(RC_ERR_NOMEM, "treebank_sentence: out of memory");
    for (int k = 0; k < t.n_leaves; k++) {
        const char *w = t.word[t.leaves[k]];
        size_t wn = strlen(w);
        if (k) *o++ = ' ';
        memcpy(o, w, wn);
        o += wn;
    }
    *o = '\0';
    *out = r;
    return RC_OK;
}

rc_status rc_treebank_build_vocab(const rc_treebank *tb, int min_freq, int max_size,
                                  rc_vocab **out)
{
    if (!out) return rc_error(RC_ERR_ARG, "treebank_build_vocab: out is NULL");
    *out = NULL;
    if (!tb) return rc_error(RC_ERR_ARG, "treebank_build_vocab: tb is NULL");
    /* The sentences as lines: at most the pool's bytes (a NUL per word
     * becomes a space or line end). */
    char *text = malloc(tb->pool_used + 1);
    if (!text) return rc_error(RC_ERR_NOMEM, "treebank_build_vocab: out of memory");
    size_t o = 0;
    for (int i = 0; i < tb->n_trees; i++) {
        for (int32_t k = tb->leaf0[i]; k < tb->leaf0[i + 1]; k++) {
            const char *w = tb->word[(size_t)tb->node0[i] + (size_t)tb->leaves[k]];
            size_t wn = strlen(w);
            memcpy(text + o, w, wn);
            o += wn;
            text[o++] = k + 1 < tb->leaf0[i + 1] ? ' ' : '\n';
        }
    }
    rc_status s = rc_vocab_build(text, o, RC_TEXT_WORD, min_freq, max_size, out);
    free(text);
    if (s) return rename_error(s, "vocab_build", "treebank_build_vocab");
    return RC_OK;
}

rc_status rc_treebank_index(rc_treebank *tb, const rc_vocab *v, size_t *n_unk)
{
    if (n_unk) *n_unk = 0;
    if (!tb || !v) return rc_error(RC_ERR_ARG, "treebank_index: tb or v is NULL");
    if (rc_vocab_level(v) != RC_TEXT_WORD)
        return rc_error(RC_ERR_ARG, "treebank_index: a character vocabulary (words needed)");
    size_t unk = 0;
    for (size_t g = 0; g < tb->n_nodes; g++) {
        const char *w = tb->word[g];
        if (!w) continue;
        size_t wn = strlen(w);
        int id = rc_vocab_id(v, w, wn);
        if (id == RC_VOCAB_UNK && strcmp(w, "<unk>")) unk++;
        tb->word_id[g] = id;
    }
    if (n_unk) *n_unk = unk;
    return RC_OK;
}

void rc_treebank_lowercase(rc_treebank *tb)
{
    if (!tb) return;
    /* Words live back to back in the pool, each NUL-terminated; bytes of
     * multi-byte UTF-8 characters are >= 0x80 and stay as they are. */
    for (size_t i = 0; i < tb->pool_used; i++)
        if (tb->pool[i] >= 'A' && tb->pool[i] <= 'Z') tb->pool[i] = (char)(tb->pool[i] - 'A' + 'a');
}
