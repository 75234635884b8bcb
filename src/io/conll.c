/*
 * conll.c - CoNLL column files (CoNLL-2003 NER): one token a line, columns
 * split by spaces or tabs, blank lines between sentences, -DOCSTART- lines
 * between documents. The text is read and checked as UTF-8 once
 * (rc_text_read), then cut in place: each kept field gets a NUL after it,
 * and tokens and tags point into that one buffer.
 */
#include "io.h"

#include <stdlib.h>

static int is_sep(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int grow(void **a, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*a, c * elem);
    if (!q) return 0;
    *a = q;
    *cap = c;
    return 1;
}

void rc_conll_free(rc_conll *c)
{
    if (!c) return;
    free(c->start);
    free(c->line);
    free(c->tokens);
    free(c->tags);
    free(c->pool_);
    memset(c, 0, sizeof *c);
}

/* The tags of one sentence (first on file line `line`), checked. */
static rc_status check_sentence(const char *path, const char *const *tags, size_t n,
                                size_t line, rc_tag_scheme scheme)
{
    if (rc_tags_check(tags, n, scheme) == RC_OK) return RC_OK;
    /* The shortest failing prefix ends at the first bad tag (a sentence
     * that is only bad at its end fails at n). */
    size_t k = 1;
    while (k < n && rc_tags_check(tags, k, scheme) == RC_OK) k++;
    char why[400];
    rc_tags_check(tags, k, scheme);
    snprintf(why, sizeof why, "%s", rc_last_error());
    return rc_error(RC_ERR_FORMAT, "conll_read: %s:%zu: tag \"%s\" is not %s: %s", path,
                    line + k - 1, tags[k - 1], rc_tag_scheme_name(scheme), why);
}

rc_status rc_conll_read(const char *path, int token_col, int tag_col,
                        const rc_tag_scheme *scheme, rc_conll *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "conll_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return rc_error(RC_ERR_ARG, "conll_read: path is NULL");
    char *text;
    size_t len;
    rc_status st = rc_text_read(path, &text, &len);
    if (st) {
        char why[512];
        snprintf(why, sizeof why, "%s", rc_last_error());
        return rc_error(st, "conll_read: %s", why);
    }
    rc_conll c = {0};
    c.pool_ = text;
    size_t cap_s = 0, cap_l = 0, cap_t = 0, cap_g = 0;
    size_t sent_first = 0, lineno = 0, sent_line = 0;
    int in_sentence = 0;
    char *fields[2] = {NULL, NULL};
    char *p = text, *end = text + len;
    st = RC_OK;
    while (p < end || in_sentence) {
        int blank = 1, docstart = 0;
        char *eol = p;
        if (p < end) {
            lineno++;
            eol = memchr(p, '\n', (size_t)(end - p));
            if (!eol) eol = end;
            /* Count the fields, remembering where each starts and ends. */
            int nf = 0;
            char *q = p;
            char *first_s = NULL, *first_e = NULL;
            while (q < eol) {
                while (q < eol && is_sep(*q)) q++;
                if (q >= eol) break;
                char *fs = q;
                while (q < eol && !is_sep(*q)) q++;
                if (nf == 0) first_s = fs, first_e = q;
                nf++;
            }
            blank = nf == 0;
            if (!blank) {
                if (!c.n_columns) {
                    c.n_columns = nf;
                    int tc = token_col < 0 ? nf + token_col : token_col;
                    int gc = tag_col < 0 ? nf + tag_col : tag_col;
                    if (tc < 0 || tc >= nf || gc < 0 || gc >= nf) {
                        st = rc_error(RC_ERR_FORMAT, "conll_read: %s:%zu: column %d (%s) is "
                                      "missing: the line has %d columns", path, lineno,
                                      (tc < 0 || tc >= nf) ? token_col : tag_col,
                                      (tc < 0 || tc >= nf) ? "token" : "tag", nf);
                        goto done;
                    }
                    token_col = tc;
                    tag_col = gc;
                } else if (nf != c.n_columns) {
                    st = rc_error(RC_ERR_FORMAT, "conll_read: %s:%zu: ragged row: %d columns, "
                                  "the first line has %d", path, lineno, nf, c.n_columns);
                    goto done;
                }
                docstart = (size_t)(first_e - first_s) == 10 && !memcmp(first_s, "-DOCSTART-", 10);
                if (docstart) c.n_docs++;
            }
            if (!blank && !docstart) {
                /* Cut out the two wanted fields. */
                int f = 0;
                q = p;
                while (q < eol) {
                    while (q < eol && is_sep(*q)) q++;
                    if (q >= eol) break;
                    char *fs = q;
                    while (q < eol && !is_sep(*q)) q++;
                    if (f == token_col) fields[0] = fs;
                    if (f == tag_col) fields[1] = fs;
                    if (q < eol) *q++ = '\0';
                    f++;
                }
                *eol = '\0'; /* the last field's end (the final NUL at end) */
                if (!in_sentence) {
                    in_sentence = 1;
                    sent_first = c.n_tokens;
                    sent_line = lineno;
                }
                if (!grow((void **)&c.tokens, &cap_t, c.n_tokens + 1, sizeof *c.tokens) ||
                    !grow((void **)&c.tags, &cap_g, c.n_tokens + 1, sizeof *c.tags)) {
                    st = rc_error(RC_ERR_NOMEM, "conll_read: %s: out of memory", path);
                    goto done;
                }
                c.tokens[c.n_tokens] = fields[0];
                c.tags[c.n_tokens] = fields[1];
                c.n_tokens++;
            }
            p = eol < end ? eol + 1 : end;
        }
        /* A blank line, a -DOCSTART- line or the end closes a sentence. */
        if ((blank || docstart || p >= end) && in_sentence) {
            in_sentence = 0;
            size_t n = c.n_tokens - sent_first;
            if (scheme) {
                st = check_sentence(path, c.tags + sent_first, n, sent_line, *scheme);
                if (st) goto done;
            }
            if (!grow((void **)&c.start, &cap_s, (size_t)c.n_sentences + 2, sizeof *c.start) ||
                !grow((void **)&c.line, &cap_l, (size_t)c.n_sentences + 1, sizeof *c.line)) {
                st = rc_error(RC_ERR_NOMEM, "conll_read: %s: out of memory", path);
                goto done;
            }
            c.start[c.n_sentences] = sent_first;
            c.line[c.n_sentences] = sent_line;
            c.n_sentences++;
            c.start[c.n_sentences] = c.n_tokens;
        }
        if (p >= end && !in_sentence) break;
    }
    if (c.n_tokens == 0) {
        st = rc_error(RC_ERR_FORMAT, "conll_read: %s:%zu: no tokens (only blank or "
                      "-DOCSTART- lines)", path, lineno ? lineno : 1);
        goto done;
    }
done:
    if (st) {
        rc_conll_free(&c);
        return st;
    }
    *out = c;
    return RC_OK;
}
