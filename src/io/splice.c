/*
 * splice.c - the UCI primate splice-junction data: one instance a line,
 * "CLASS, NAME, SEQUENCE", the sequence 60 nucleotide letters. Names are
 * copied into one pool (the file's size bounds it), sequences become token
 * ids: the four bases, then the ambiguity codes splice.names lists.
 */
#include "io.h"

#include <stdlib.h>

static const char letters[RC_SPLICE_TOKENS + 1] = "ACGTDNSR";
/* Which of A, C, G, T each token may stand for (bit 0 A ... bit 3 T). */
static const unsigned char bases[RC_SPLICE_TOKENS] = {1, 2, 4, 8, 1 | 4 | 8, 15, 2 | 4, 1 | 4};
static const char *const class_names[RC_SPLICE_CLASSES] = {"EI", "IE", "N"};

const char *rc_splice_class_name(int id)
{
    return id >= 0 && id < RC_SPLICE_CLASSES ? class_names[id] : NULL;
}

char rc_splice_token_char(int id)
{
    return id >= 0 && id < RC_SPLICE_TOKENS ? letters[id] : 0;
}

rc_status rc_splice_token_probs(int id, float out[4])
{
    if (!out) return rc_error(RC_ERR_ARG, "splice_token_probs: out is NULL");
    if (id < 0 || id >= RC_SPLICE_TOKENS)
        return rc_error(RC_ERR_RANGE, "splice_token_probs: token %d is not in 0..%d", id,
                        RC_SPLICE_TOKENS - 1);
    int k = 0;
    for (int b = 0; b < 4; b++) k += (bases[id] >> b) & 1;
    for (int b = 0; b < 4; b++) out[b] = (bases[id] >> b) & 1 ? 1.0f / (float)k : 0.0f;
    return RC_OK;
}

void rc_splice_free(rc_splice *s)
{
    if (!s) return;
    free(s->label);
    free(s->seq);
    free(s->name);
    free(s->pool_);
    memset(s, 0, sizeof *s);
}

static int token_of(unsigned char c)
{
    if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
    for (int i = 0; i < RC_SPLICE_TOKENS; i++)
        if (letters[i] == (char)c) return i;
    return -1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

rc_status rc_splice_read(const char *path, rc_splice *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "splice_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return rc_error(RC_ERR_ARG, "splice_read: path is NULL");
    unsigned char *buf;
    size_t len;
    rc_status st = rc_read_file("splice_read", path, &buf, &len);
    if (st) return st;
    const char *text = (const char *)buf, *end = text + len;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    rc_splice s = {0};
    s.label = malloc(lines * sizeof *s.label);
    s.seq = malloc(lines * RC_SPLICE_LEN * sizeof *s.seq);
    s.name = malloc(lines * sizeof *s.name);
    s.pool_ = malloc(len + 1);
    size_t pool_used = 0, lineno = 0;
    if (!s.label || !s.seq || !s.name || !s.pool_) {
        st = rc_error(RC_ERR_NOMEM, "splice_read: %s: out of memory", path);
        goto done;
    }
    for (const char *p = text; p < end;) {
        lineno++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *q = p;
        while (q < eol && is_space(*q)) q++;
        if (q == eol) {
            p = eol < end ? eol + 1 : end;
            continue;
        }
        /* The three fields, trimmed: [fs[i], fe[i]). */
        const char *fs[3], *fe[3];
        int nf = 0;
        const char *f = p;
        for (;;) {
            const char *c = memchr(f, ',', (size_t)(eol - f));
            const char *fend = c ? c : eol;
            if (nf == 3) {
                st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu:%zu: more than 3 "
                              "comma-separated fields", path, lineno, (size_t)(f - p));
                goto done;
            }
            const char *a = f, *b = fend;
            while (a < b && is_space(*a)) a++;
            while (b > a && is_space(b[-1])) b--;
            fs[nf] = a, fe[nf] = b, nf++;
            if (!c) break;
            f = c + 1;
        }
        if (nf != 3) {
            st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu: %d field%s, expected 3 "
                          "(CLASS, NAME, SEQUENCE)", path, lineno, nf, nf == 1 ? "" : "s");
            goto done;
        }
        int n = s.n, cls = -1;
        for (int k = 0; k < RC_SPLICE_CLASSES; k++)
            if ((size_t)(fe[0] - fs[0]) == strlen(class_names[k]) &&
                !memcmp(fs[0], class_names[k], (size_t)(fe[0] - fs[0])))
                cls = k;
        if (cls < 0) {
            int w = (int)(fe[0] - fs[0]);
            st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu:%zu: class \"%.*s\" is not EI, "
                          "IE or N", path, lineno, (size_t)(fs[0] - p) + 1, w > 20 ? 20 : w,
                          fs[0]);
            goto done;
        }
        size_t sl = (size_t)(fe[2] - fs[2]);
        /* Letters first, so a stray character is named at its column. */
        for (size_t k = 0; k < sl; k++) {
            unsigned char c = (unsigned char)fs[2][k];
            int id = token_of(c);
            if (id < 0) {
                size_t col = (size_t)(fs[2] - p) + k + 1;
                if (c >= 0x20 && c < 0x7f)
                    st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu:%zu: '%c' is not a "
                                  "nucleotide code (A C G T D N S R)", path, lineno, col, c);
                else
                    st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu:%zu: byte 0x%02x is "
                                  "not a nucleotide code (A C G T D N S R)", path, lineno, col,
                                  c);
                goto done;
            }
            if (k < RC_SPLICE_LEN) s.seq[(size_t)n * RC_SPLICE_LEN + k] = id;
        }
        if (sl != RC_SPLICE_LEN) {
            st = rc_error(RC_ERR_FORMAT, "splice_read: %s:%zu:%zu: sequence of %zu "
                          "nucleotides, expected %d", path, lineno, (size_t)(fs[2] - p) + 1, sl,
                          RC_SPLICE_LEN);
            goto done;
        }
        s.label[n] = cls;
        size_t nl = (size_t)(fe[1] - fs[1]);
        memcpy(s.pool_ + pool_used, fs[1], nl);
        s.pool_[pool_used + nl] = '\0';
        s.name[n] = s.pool_ + pool_used;
        pool_used += nl + 1;
        s.n++;
        p = eol < end ? eol + 1 : end;
    }
    if (s.n == 0)
        st = rc_error(RC_ERR_FORMAT, "splice_read: %s: empty (no instances)", path);
done:
    free(buf);
    if (st) {
        rc_splice_free(&s);
        return st;
    }
    *out = s;
    return RC_OK;
}
