/* bleu.c - corpus BLEU (Papineni et al. 2002) computed as sacreBLEU 2.x
 * computes it with its defaults (corpus_bleu / BLEU().corpus_score):
 *
 * 1. Each hypothesis and reference is stripped of trailing whitespace and
 *    tokenized with the mteval-v13a rules (below), or only split on
 *    whitespace (RC_BLEU_TOK_NONE, sacreBLEU's tokenize='none').
 * 2. Per segment, for n = 1..N (N = 4): the hypothesis n-grams, each count
 *    clipped to the largest count of that n-gram in any one reference
 *    (counts[n]), and the number of hypothesis n-grams (totals[n]); the
 *    hypothesis length and the length of the reference closest to it (ties
 *    go to the shorter). A reference that is NULL or "" is no reference
 *    (sacreBLEU's variable number of references); a segment needs one.
 * 3. Over the corpus, the sums give
 *      p_n   = 100 * counts[n] / totals[n]                  (percent)
 *      BP    = 1 if hyp_len >= ref_len, else exp(1 - ref_len / hyp_len)
 *              (0 when hyp_len is 0)
 *      BLEU  = BP * exp((1/N) sum_n log p_n)                 (0..100)
 *    with log 0 taken as -9999999999 (so any p_n = 0 makes BLEU 0), and
 *    BLEU 0 at once when no n-gram of any order matched.
 *    Smoothing changes p_n when counts[n] is 0 (sacreBLEU's methods):
 *      exp   (the default, mteval's): the k-th such order gets
 *            100 / (2^k totals[n])
 *      floor: 100 * value / totals[n]   (value 0.1 by default)
 *      add-k: counts and totals of orders n >= 2 get + value (1)
 *      none:  p_n stays 0.
 *    An order with no hypothesis n-grams at all (totals[n] = 0) ends the
 *    loop: it and the higher orders keep p_n = 0, which makes BLEU 0 unless
 *    effective_order, which then averages over the orders before it only.
 *
 * The mteval-v13a tokenization (sacreBLEU's Tokenizer13a), applied in order:
 *    remove "<skipped>"; remove "-\n"; "\n" -> " "; the entities &quot;
 *    &amp; &lt; &gt; -> " & < > (one pass each, in that order); pad with a
 *    space on both sides; then four regular-expression substitutions, each
 *    over the whole line, left to right without overlap:
 *      ([{-~[-` -&(-+:-@/])  -> " \1 "   every such punctuation character
 *                                         (ASCII {|}~ [\]^_` space!"#$%&
 *                                         ()*+ :;<=>?@ and /) set apart
 *      ([^0-9])([.,])        -> "\1 \2 " period, comma after a non-digit
 *      ([.,])([^0-9])        -> " \1 \2" period, comma before a non-digit
 *      ([0-9])(-)            -> "\1 \2 " a dash after a digit
 *    and finally split on whitespace and join with single spaces.
 * So "3.5" and "1,000" stay whole, "end." splits, "-" stays inside words
 * ("e-mail") but not after a digit ("5-7" -> "5 - 7"), and the apostrophe
 * is never split ("don't").
 *
 * Python applies these to code points and we apply them to UTF-8 bytes;
 * the results are the same, because every pattern but [^0-9] is ASCII, no
 * byte of a multi-byte character is a digit, '.', ',' or '-', and the
 * replacements only insert spaces next to the ASCII characters. Whitespace
 * is Python's str.split()'s: ASCII \t \n \v \f \r, \x1c-\x1f and space,
 * and U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000. */
#include "../internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable byte buffer ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static int buf_reserve(buf *b, size_t extra)
{
    if (b->n + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

/* Appending never fails once buf_reserve made room for what follows. */
static void buf_put(buf *b, const char *s, size_t n)
{
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_putc(buf *b, char c)
{
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}

/* ---- whitespace, as Python's str.isspace ---- */

/* The length in bytes of the whitespace character at s[0..n), or 0. */
static size_t py_space(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20)) return 1;
    if (c == 0xc2 && n >= 2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n < 3) return 0;
    if (c == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;           /* U+1680 */
    if (c == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) /* U+2000-200A, */
        return 3;                                                       /* 2028, 2029, 202F */
    if (c == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;           /* U+205F */
    if (c == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;           /* U+3000 */
    return 0;
}

/* The length of s[0..n) without its trailing whitespace (str.rstrip()).
 * Scanning byte by byte is safe in valid UTF-8: no whitespace sequence
 * starts with a continuation byte. */
static size_t py_rstrip(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t end = 0;
    for (size_t i = 0; i < n;) {
        size_t w = py_space(u + i, n - i);
        if (w) {
            i += w;
        } else {
            i++;
            end = i;
        }
    }
    return end;
}

/* ---- the 13a tokenizer ---- */

/* dst = src with every non-overlapping `from` replaced by `to`, left to
 * right (str.replace). */
static int replace_all(buf *dst, const char *src, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    dst->n = 0;
    /* A replacement never makes the text longer than from -> to allows. */
    if (!buf_reserve(dst, tl > fl ? n / fl * tl + n : n)) return 0;
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(src + i, from, fl) == 0) {
            buf_put(dst, to, tl);
            i += fl;
        } else {
            buf_putc(dst, src[i++]);
        }
    }
    return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The first substitution's class: { | } ~  [ \ ] ^ _ `  space ! " # $ % &
 * ( ) * +  : ; < = > ? @  and /. */
static int is_punct_13a(char c)
{
    unsigned char u = (unsigned char)c;
    return (u >= 0x7b && u <= 0x7e) || (u >= 0x5b && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
           (u >= 0x28 && u <= 0x2b) || (u >= 0x3a && u <= 0x40) || u == '/';
}

/* One of the three two-character substitutions over src into dst:
 *   rule 2  ([^0-9])([.,]) -> "\1 \2 "
 *   rule 3  ([.,])([^0-9]) -> " \1 \2"
 *   rule 4  ([0-9])(-)     -> "\1 \2 " */
static int substitute_pairs(buf *dst, const char *s, size_t n, int rule)
{
    dst->n = 0;
    if (!buf_reserve(dst, n + n / 2 * 2 + 2)) return 0; /* 2 more bytes per 2 matched */
    for (size_t i = 0; i < n;) {
        if (i + 1 < n) {
            char a = s[i], b = s[i + 1];
            int match = rule == 2   ? !is_digit(a) && (b == '.' || b == ',')
                        : rule == 3 ? (a == '.' || a == ',') && !is_digit(b)
                                    : is_digit(a) && b == '-';
            if (match) {
                char out[4];
                if (rule == 3) {
                    out[0] = ' ', out[1] = a, out[2] = ' ', out[3] = b;
                } else {
                    out[0] = a, out[1] = ' ', out[2] = b, out[3] = ' ';
                }
                buf_put(dst, out, 4);
                i += 2;
                continue;
            }
        }
        buf_putc(dst, s[i++]);
    }
    return 1;
}

/* Joins the whitespace-separated tokens of s[0..n) with single spaces. */
static int join_tokens(buf *dst, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    dst->n = 0;
    if (!buf_reserve(dst, n)) return 0;
    dst->p[0] = '\0';
    size_t i = 0;
    while (i < n) {
        size_t w = py_space(u + i, n - i);
        if (w) {
            i += w;
            continue;
        }
        size_t start = i;
        while (i < n && !py_space(u + i, n - i)) i++;
        if (dst->n) buf_putc(dst, ' ');
        buf_put(dst, s + start, i - start);
    }
    return 1;
}

/* Two scratch buffers that the steps pass back and forth. */
typedef struct tok_scratch {
    buf a, b;
} tok_scratch;

static void scratch_free(tok_scratch *w)
{
    free(w->a.p);
    free(w->b.p);
}

static void swap_bufs(tok_scratch *w)
{
    buf t = w->a;
    w->a = w->b;
    w->b = t;
}

/* The tokenized text, tokens joined by single spaces, in w->a. */
static int tokenize(tok_scratch *w, const char *text, size_t n, rc_bleu_tokenizer kind)
{
    n = py_rstrip(text, n);
    if (kind == RC_BLEU_TOK_NONE) return join_tokens(&w->a, text, n);
    static const char *const steps[][2] = {
        {"<skipped>", ""}, {"-\n", ""}, {"\n", " "}, {"&quot;", "\""},
        {"&amp;", "&"},    {"&lt;", "<"}, {"&gt;", ">"},
    };
    /* w->a holds the current text; each step writes w->b and swaps. */
    w->a.n = 0;
    if (!buf_reserve(&w->a, n)) return 0;
    buf_put(&w->a, text, n);
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        if (!replace_all(&w->b, w->a.p, w->a.n, steps[k][0], steps[k][1])) return 0;
        swap_bufs(w);
    }
    /* " line ", then every punctuation character c becomes " c " (the
     * padding spaces too: space is in the class). */
    w->b.n = 0;
    if (!buf_reserve(&w->b, 3 * (w->a.n + 2))) return 0;
    for (size_t i = 0; i < w->a.n + 2; i++) {
        char c = i == 0 || i == w->a.n + 1 ? ' ' : w->a.p[i - 1];
        if (is_punct_13a(c)) {
            char out[3] = {' ', c, ' '};
            buf_put(&w->b, out, 3);
        } else {
            buf_putc(&w->b, c);
        }
    }
    swap_bufs(w);
    for (int rule = 2; rule <= 4; rule++) {
        if (!substitute_pairs(&w->b, w->a.p, w->a.n, rule)) return 0;
        swap_bufs(w);
    }
    if (!join_tokens(&w->b, w->a.p, w->a.n)) return 0;
    swap_bufs(w);
    return 1;
}

static const char *tokenizer_name(rc_bleu_tokenizer k)
{
    return k == RC_BLEU_TOK_NONE ? "none" : "13a";
}

rc_status rc_bleu_tokenize(const char *text, rc_bleu_tokenizer kind, char **out)
{
    if (out) *out = NULL;
    if (!text || !out) return rc_error(RC_ERR_ARG, "bleu_tokenize: text and out must not be NULL");
    if (kind != RC_BLEU_TOK_13A && kind != RC_BLEU_TOK_NONE)
        return rc_error(RC_ERR_ARG, "bleu_tokenize: unknown tokenizer %d", (int)kind);
    size_t n = strlen(text);
    rc_status st = rc_text_validate(text, n, "bleu_tokenize text");
    if (st != RC_OK) return st;
    tok_scratch w = {{0}, {0}};
    if (!tokenize(&w, text, n, kind)) {
        scratch_free(&w);
        return rc_error(RC_ERR_NOMEM, "bleu_tokenize: out of memory");
    }
    *out = w.a.p;
    free(w.b.p);
    return RC_OK;
}

/* ---- token ids: every distinct token of the corpus gets an int ---- */

typedef struct interner {
    buf pool;        /* the tokens' bytes, back to back */
    size_t *off;     /* [count] start of token i in pool */
    uint32_t *len;   /* [count] */
    int32_t *slots;  /* [cap] open addressing: token id + 1, 0 empty */
    size_t count, cap_ids, cap;
} interner;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int interner_grow(interner *in)
{
    size_t cap = in->cap ? 2 * in->cap : 1024;
    int32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return 0;
    for (size_t i = 0; i < in->count; i++) {
        size_t h = (size_t)hash_bytes(in->pool.p + in->off[i], in->len[i]) & (cap - 1);
        while (slots[h]) h = (h + 1) & (cap - 1);
        slots[h] = (int32_t)i + 1;
    }
    free(in->slots);
    in->slots = slots;
    in->cap = cap;
    return 1;
}

/* The id of s[0..n), added if new; -1 when out of memory. */
static int32_t intern(interner *in, const char *s, size_t n)
{
    if (2 * (in->count + 1) > in->cap && !interner_grow(in)) return -1;
    size_t h = (size_t)hash_bytes(s, n) & (in->cap - 1);
    for (; in->slots[h]; h = (h + 1) & (in->cap - 1)) {
        size_t id = (size_t)in->slots[h] - 1;
        if (in->len[id] == n && memcmp(in->pool.p + in->off[id], s, n) == 0) return (int32_t)id;
    }
    if (in->count >= (size_t)INT32_MAX - 1) return -1;
    if (in->count == in->cap_ids) {
        size_t c = in->cap_ids ? 2 * in->cap_ids : 1024;
        size_t *off = realloc(in->off, c * sizeof *off);
        if (!off) return -1;
        in->off = off;
        uint32_t *len = realloc(in->len, c * sizeof *len);
        if (!len) return -1;
        in->len = len;
        in->cap_ids = c;
    }
    if (!buf_reserve(&in->pool, n)) return -1;
    in->off[in->count] = in->pool.n;
    in->len[in->count] = (uint32_t)n;
    buf_put(&in->pool, s, n);
    in->slots[h] = (int32_t)in->count + 1;
    return (int32_t)in->count++;
}

static void interner_free(interner *in)
{
    free(in->pool.p);
    free(in->off);
    free(in->len);
    free(in->slots);
}

/* ---- segment statistics ---- */

/* An int array that grows. */
typedef struct ivec {
    int32_t *p;
    size_t n, cap;
} ivec;

static int ivec_push(ivec *v, int32_t x)
{
    if (v->n == v->cap) {
        size_t c = v->cap ? 2 * v->cap : 256;
        int32_t *p = realloc(v->p, c * sizeof *p);
        if (!p) return 0;
        v->p = p;
        v->cap = c;
    }
    v->p[v->n++] = x;
    return 1;
}

/* The ids of the single-space-separated tokens of s (as join_tokens
 * leaves them) appended to v. */
static int ids_of(interner *in, ivec *v, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != ' ') i++;
        int32_t id = intern(in, s + start, i - start);
        if (id < 0 || !ivec_push(v, id)) return 0;
        i++;
    }
    return 1;
}

/* One n-gram occurrence: its ids (unused ones -1) and where it came from
 * (0 the hypothesis, r + 1 reference r). */
typedef struct gram {
    int32_t id[RC_BLEU_MAX_ORDER];
    int32_t src;
} gram;

static int gram_cmp(const void *pa, const void *pb)
{
    const gram *a = pa, *b = pb;
    for (int k = 0; k < RC_BLEU_MAX_ORDER; k++)
        if (a->id[k] != b->id[k]) return a->id[k] < b->id[k] ? -1 : 1;
    return (a->src > b->src) - (a->src < b->src);
}

typedef struct seg_work {
    ivec ids;          /* the hypothesis' ids, then each reference's */
    size_t *start;     /* [n_refs + 2] where each sequence starts in ids */
    gram *grams;
    size_t cap_grams;
} seg_work;

/* Adds one segment's clipped counts and totals: sequences 0 (hypothesis)
 * to n_seq - 1 of w->ids. */
static int segment_counts(seg_work *w, int n_seq, int max_order, int64_t *counts,
                          int64_t *totals)
{
    size_t need = 0;
    for (int q = 0; q < n_seq; q++) need += w->start[q + 1] - w->start[q];
    if (need > w->cap_grams) {
        gram *g = realloc(w->grams, need * sizeof *g);
        if (!g) return 0;
        w->grams = g;
        w->cap_grams = need;
    }
    for (int order = 1; order <= max_order; order++) {
        size_t m = 0;
        for (int q = 0; q < n_seq; q++) {
            const int32_t *x = w->ids.p + w->start[q];
            size_t len = w->start[q + 1] - w->start[q];
            for (size_t i = 0; i + (size_t)order <= len; i++) {
                gram *g = &w->grams[m++];
                for (int k = 0; k < RC_BLEU_MAX_ORDER; k++) g->id[k] = k < order ? x[i + k] : -1;
                g->src = q;
            }
        }
        if (m > 1) qsort(w->grams, m, sizeof *w->grams, gram_cmp);
        /* Each run of one n-gram: the hypothesis' count first (src 0 sorts
         * first), then each reference's in turn. */
        for (size_t i = 0; i < m;) {
            size_t j = i;
            int64_t hyp = 0, best_ref = 0, cur = 0;
            int32_t cur_src = -1;
            while (j < m && memcmp(w->grams[j].id, w->grams[i].id, sizeof w->grams[i].id) == 0) {
                if (w->grams[j].src == 0) {
                    hyp++;
                } else {
                    if (w->grams[j].src != cur_src) cur = 0;
                    cur_src = w->grams[j].src;
                    if (++cur > best_ref) best_ref = cur;
                }
                j++;
            }
            totals[order - 1] += hyp;
            counts[order - 1] += hyp < best_ref ? hyp : best_ref;
            i = j;
        }
    }
    return 1;
}

/* ---- the score from the statistics ---- */

rc_bleu_config rc_bleu_defaults(void)
{
    rc_bleu_config c;
    memset(&c, 0, sizeof c);
    c.tokenize = RC_BLEU_TOK_13A;
    c.smooth = RC_BLEU_SMOOTH_EXP;
    c.smooth_value = 0.0;
    c.max_order = RC_BLEU_MAX_ORDER;
    c.effective_order = 0;
    return c;
}

static const char *smooth_name(rc_bleu_smooth s)
{
    switch (s) {
    case RC_BLEU_SMOOTH_EXP: return "exp";
    case RC_BLEU_SMOOTH_NONE: return "none";
    case RC_BLEU_SMOOTH_FLOOR: return "floor";
    case RC_BLEU_SMOOTH_ADD_K: return "add-k";
    }
    return "?";
}

/* The value floor and add-k use: the config's, or sacreBLEU's default. */
static double smooth_value(const rc_bleu_config *c)
{
    if (c->smooth_value > 0) return c->smooth_value;
    return c->smooth == RC_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
}

static rc_status check_config(const char *fn, const rc_bleu_config *c)
{
    if (c->tokenize != RC_BLEU_TOK_13A && c->tokenize != RC_BLEU_TOK_NONE)
        return rc_error(RC_ERR_ARG, "%s: unknown tokenizer %d", fn, (int)c->tokenize);
    if (c->smooth < RC_BLEU_SMOOTH_EXP || c->smooth > RC_BLEU_SMOOTH_ADD_K)
        return rc_error(RC_ERR_ARG, "%s: unknown smoothing %d", fn, (int)c->smooth);
    if (c->max_order < 1 || c->max_order > RC_BLEU_MAX_ORDER)
        return rc_error(RC_ERR_ARG, "%s: max_order %d is outside 1..%d", fn, c->max_order,
                        RC_BLEU_MAX_ORDER);
    if (!isfinite(c->smooth_value))
        return rc_error(RC_ERR_ARG, "%s: smooth_value is %g", fn, c->smooth_value);
    return RC_OK;
}

/* log, with sacreBLEU's stand-in for log 0. */
static double bleu_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

rc_status rc_bleu_from_stats(const int64_t *counts, const int64_t *totals, int64_t hyp_len,
                             int64_t ref_len, const rc_bleu_config *cfg, rc_bleu_score *out)
{
    rc_bleu_config c = cfg ? *cfg : rc_bleu_defaults();
    if (!counts || !totals || !out)
        return rc_error(RC_ERR_ARG, "bleu_from_stats: counts, totals and out must not be NULL");
    rc_status st = check_config("bleu_from_stats", &c);
    if (st != RC_OK) return st;
    int N = c.max_order;
    if (hyp_len < 0 || ref_len < 0)
        return rc_error(RC_ERR_ARG, "bleu_from_stats: negative length (hyp_len %" PRId64
                        ", ref_len %" PRId64 ")", hyp_len, ref_len);
    for (int k = 0; k < N; k++)
        if (counts[k] < 0 || totals[k] < 0 || counts[k] > totals[k])
            return rc_error(RC_ERR_ARG, "bleu_from_stats: order %d has %" PRId64 " matches of "
                            "%" PRId64 " n-grams", k + 1, counts[k], totals[k]);
    memset(out, 0, sizeof *out);
    out->max_order = N;
    out->n_refs = 1;
    out->hyp_len = hyp_len;
    out->ref_len = ref_len;
    for (int k = 0; k < N; k++) {
        out->counts[k] = counts[k];
        out->totals[k] = totals[k];
    }
    out->ratio = ref_len ? (double)hyp_len / (double)ref_len : 0.0;
    if (hyp_len < ref_len)
        out->bp = hyp_len > 0 ? exp(1.0 - (double)ref_len / (double)hyp_len) : 0.0;
    else
        out->bp = 1.0;

    int any = 0;
    for (int k = 0; k < N; k++) any |= counts[k] != 0;
    if (!any) return RC_OK; /* score 0, precisions 0 */

    double kval = smooth_value(&c), mteval = 1.0;
    int eff = N;
    for (int n = 1; n <= N; n++) {
        double cor = (double)counts[n - 1], tot = (double)totals[n - 1];
        if (c.smooth == RC_BLEU_SMOOTH_ADD_K && n > 1) {
            cor += kval;
            tot += kval;
        }
        if (tot == 0.0) break;
        if (c.effective_order) eff = n;
        if (cor == 0.0) {
            if (c.smooth == RC_BLEU_SMOOTH_EXP) {
                mteval *= 2.0;
                out->precisions[n - 1] = 100.0 / (mteval * tot);
            } else if (c.smooth == RC_BLEU_SMOOTH_FLOOR) {
                out->precisions[n - 1] = 100.0 * kval / tot;
            }
        } else {
            out->precisions[n - 1] = 100.0 * cor / tot;
        }
    }
    double sum = 0.0;
    for (int n = 0; n < eff; n++) sum += bleu_log(out->precisions[n]);
    out->score = out->bp * exp(sum / eff);
    return RC_OK;
}

/* ---- the corpus ---- */

rc_status rc_bleu_corpus(const char *const *hyps, size_t n, const char *const *const *refs,
                         int n_refs, const rc_bleu_config *cfg, rc_bleu_score *out)
{
    static const char *fn = "bleu_corpus";
    rc_bleu_config c = cfg ? *cfg : rc_bleu_defaults();
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!hyps || n == 0)
        return rc_error(RC_ERR_ARG, "%s: no hypotheses (hyps %s, n %zu)", fn,
                        hyps ? "given" : "NULL", n);
    if (!refs || n_refs < 1)
        return rc_error(RC_ERR_ARG, "%s: need at least one reference stream (n_refs %d)", fn,
                        n_refs);
    rc_status st = check_config(fn, &c);
    if (st != RC_OK) return st;
    for (int r = 0; r < n_refs; r++)
        if (!refs[r]) return rc_error(RC_ERR_ARG, "%s: reference stream %d is NULL", fn, r);

    int64_t counts[RC_BLEU_MAX_ORDER] = {0}, totals[RC_BLEU_MAX_ORDER] = {0};
    int64_t hyp_len = 0, ref_len = 0;
    int refs_per_seg = 0; /* -1 once it varies */
    tok_scratch w = {{0}, {0}};
    interner in;
    memset(&in, 0, sizeof in);
    seg_work sw;
    memset(&sw, 0, sizeof sw);
    sw.start = malloc(((size_t)n_refs + 2) * sizeof *sw.start);
    if (!sw.start) {
        st = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    char what[128];
    for (size_t i = 0; i < n && st == RC_OK; i++) {
        sw.ids.n = 0;
        int n_seq = 0;
        /* Sequence 0 is the hypothesis, then the segment's references. */
        for (int q = -1; q < n_refs; q++) {
            const char *s = q < 0 ? hyps[i] : refs[q][i];
            if (q < 0 && !s) {
                st = rc_error(RC_ERR_ARG, "%s: hypothesis %zu is NULL", fn, i);
                break;
            }
            if (q >= 0 && (!s || !*s)) continue; /* no reference here */
            size_t len = strlen(s);
            if (q < 0)
                snprintf(what, sizeof what, "%s hypothesis %zu", fn, i);
            else
                snprintf(what, sizeof what, "%s reference %d of segment %zu", fn, q, i);
            if ((st = rc_text_validate(s, len, what)) != RC_OK) break;
            if (!tokenize(&w, s, len, c.tokenize)) {
                st = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
                break;
            }
            sw.start[n_seq++] = sw.ids.n;
            if (!ids_of(&in, &sw.ids, w.a.p, w.a.n)) {
                st = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
                break;
            }
        }
        if (st != RC_OK) break;
        sw.start[n_seq] = sw.ids.n;
        if (n_seq == 1) {
            st = rc_error(RC_ERR_ARG, "%s: segment %zu has no reference (all %d are NULL or "
                          "empty)", fn, i, n_refs);
            break;
        }
        int nr = n_seq - 1;
        if (refs_per_seg == 0) refs_per_seg = nr;
        else if (refs_per_seg != nr) refs_per_seg = -1;
        /* Lengths: the hypothesis', and the closest reference's (the
         * shorter on a tie). */
        int64_t hl = (int64_t)(sw.start[1] - sw.start[0]), best = -1, best_diff = -1;
        for (int q = 1; q < n_seq; q++) {
            int64_t rl = (int64_t)(sw.start[q + 1] - sw.start[q]);
            int64_t d = rl > hl ? rl - hl : hl - rl;
            if (best_diff < 0 || d < best_diff || (d == best_diff && rl < best)) {
                best_diff = d;
                best = rl;
            }
        }
        hyp_len += hl;
        ref_len += best;
        if (!segment_counts(&sw, n_seq, c.max_order, counts, totals))
            st = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    if (st == RC_OK) {
        st = rc_bleu_from_stats(counts, totals, hyp_len, ref_len, &c, out);
        out->n_refs = refs_per_seg;
    }
done:
    scratch_free(&w);
    interner_free(&in);
    free(sw.ids.p);
    free(sw.start);
    free(sw.grams);
    return st;
}

/* ---- reporting, as sacreBLEU prints it ---- */

char *rc_bleu_format(const rc_bleu_score *s, char *buf_out, size_t n)
{
    if (!buf_out || n == 0) return buf_out;
    if (!s) {
        snprintf(buf_out, n, "BLEU = ?");
        return buf_out;
    }
    char prec[8 * RC_BLEU_MAX_ORDER + 8] = "";
    size_t at = 0;
    int N = s->max_order >= 1 && s->max_order <= RC_BLEU_MAX_ORDER ? s->max_order
                                                                    : RC_BLEU_MAX_ORDER;
    for (int k = 0; k < N; k++) {
        int w = snprintf(prec + at, sizeof prec - at, "%s%.1f", k ? "/" : "", s->precisions[k]);
        if (w < 0 || (size_t)w >= sizeof prec - at) break;
        at += (size_t)w;
    }
    snprintf(buf_out, n, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %" PRId64
             " ref_len = %" PRId64 ")", s->score, prec, s->bp, s->ratio, s->hyp_len, s->ref_len);
    return buf_out;
}

char *rc_bleu_signature(const rc_bleu_score *s, const rc_bleu_config *cfg, char *buf_out,
                        size_t n)
{
    if (!buf_out || n == 0) return buf_out;
    rc_bleu_config c = cfg ? *cfg : rc_bleu_defaults();
    char nrefs[24], smooth[32];
    if (s && s->n_refs > 0)
        snprintf(nrefs, sizeof nrefs, "%d", s->n_refs);
    else
        snprintf(nrefs, sizeof nrefs, "%s", s && s->n_refs < 0 ? "var" : "1");
    if (c.smooth == RC_BLEU_SMOOTH_FLOOR || c.smooth == RC_BLEU_SMOOTH_ADD_K)
        snprintf(smooth, sizeof smooth, "%s[%.2f]", smooth_name(c.smooth), smooth_value(&c));
    else
        snprintf(smooth, sizeof smooth, "%s", smooth_name(c.smooth));
    snprintf(buf_out, n, "nrefs:%s|case:mixed|eff:%s|tok:%s|smooth:%s|version:recur-%s", nrefs,
             c.effective_order ? "yes" : "no", tokenizer_name(c.tokenize), smooth,
             RC_VERSION);
    return buf_out;
}
