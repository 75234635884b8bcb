/* conlleval.c - entity (chunk) level precision, recall and F1 as the CoNLL
 * shared tasks' conlleval script computes them, and conversion between the
 * IOB1, IOB2 and IOBES tag schemes.
 *
 * conlleval reads the gold and predicted tags of a corpus token by token
 * (a sentence boundary counts as an O that is no token) and decides, from
 * each pair of consecutive tags, whether a chunk ends before the current
 * token and whether one starts at it. A gold chunk and a predicted chunk
 * count as correct when they start at the same token with the same type
 * and end at the same token. The rules (see chunk_end and chunk_start) are
 * the script's, extended for S- and for E- followed by B-, which the script
 * (written for IOB1/IOB2/IOE1/IOE2) does not know; with only B-, I- and O,
 * or only I-, E- and O, they are exactly the script's.
 *
 * With these rules every chunk start comes with an end of the chunk before
 * (and vice versa), so each non-O token belongs to exactly one chunk: the
 * converter uses the same two functions, and a converted sentence has the
 * same chunks as the original, in any scheme. */
#include "io.h"

#include <stdlib.h>
#include <string.h>

/* One parsed tag: prefix 'O', 'B', 'I', 'E' or 'S'; type text[0..len)
 * (empty for O). */
typedef struct tag {
    char p;
    const char *type;
    size_t len;
} tag;

static const tag tag_outside = {'O', "", 0};

/* "O", or B-/I-/E-/S- and a non-empty type (everything after the first
 * '-', as conlleval splits). */
static int parse_tag(const char *s, tag *out)
{
    if (!s) return 0;
    if (!strcmp(s, "O")) {
        *out = tag_outside;
        return 1;
    }
    if (!strchr("BIES", s[0]) || s[0] == '\0' || s[1] != '-' || s[2] == '\0') return 0;
    out->p = s[0];
    out->type = s + 2;
    out->len = strlen(s + 2);
    return 1;
}

static int same_type(const tag *a, const tag *b)
{
    return a->len == b->len && !memcmp(a->type, b->type, a->len);
}

/* Does a chunk end between prev and cur? conlleval's endOfChunk: B-B, B-O,
 * I-B, I-O, E-E, E-I, E-O, and a typed tag followed by another type
 * (O included); extended: after E- or S- always, and B-S, I-S. */
static int chunk_end(const tag *prev, const tag *cur)
{
    if (prev->p == 'O') return 0;
    if (prev->p == 'E' || prev->p == 'S') return 1;
    /* prev is B or I */
    if (cur->p == 'B' || cur->p == 'S' || cur->p == 'O') return 1;
    return !same_type(prev, cur);
}

/* Does a chunk start at cur? conlleval's startOfChunk: B-B, I-B, O-B, O-I,
 * E-E, E-I, O-E, and a typed tag after another type (O included);
 * extended: at B- and S- always, and S-I, S-E. */
static int chunk_start(const tag *prev, const tag *cur)
{
    if (cur->p == 'O') return 0;
    if (cur->p == 'B' || cur->p == 'S') return 1;
    /* cur is I or E */
    if (prev->p == 'O' || prev->p == 'E' || prev->p == 'S') return 1;
    return !same_type(prev, cur);
}

/* ---- tag schemes ---- */

const char *rc_tag_scheme_name(rc_tag_scheme s)
{
    switch (s) {
    case RC_TAGS_IOB1: return "iob1";
    case RC_TAGS_IOB2: return "iob2";
    case RC_TAGS_IOBES: return "iobes";
    }
    return "unknown";
}

rc_status rc_tag_scheme_parse(const char *name, rc_tag_scheme *out)
{
    if (!name || !out) return rc_error(RC_ERR_ARG, "tag_scheme_parse: %s is NULL",
                                       !name ? "name" : "out");
    if (!strcmp(name, "iob1")) *out = RC_TAGS_IOB1;
    else if (!strcmp(name, "iob2") || !strcmp(name, "bio")) *out = RC_TAGS_IOB2;
    else if (!strcmp(name, "iobes")) *out = RC_TAGS_IOBES;
    else
        return rc_error(RC_ERR_ARG, "tag_scheme_parse: unknown tag scheme \"%s\" (iob1, iob2, "
                        "bio, iobes)", name);
    return RC_OK;
}

static int scheme_ok(rc_tag_scheme s)
{
    return s == RC_TAGS_IOB1 || s == RC_TAGS_IOB2 || s == RC_TAGS_IOBES;
}

/* Parses tags[0..n) into out (n tags); an error names the caller and the
 * position. */
static rc_status parse_all(const char *what, const char *which, const char *const *tags,
                           size_t n, tag *out)
{
    for (size_t i = 0; i < n; i++)
        if (!parse_tag(tags[i], &out[i]))
            return rc_error(RC_ERR_FORMAT, "%s: %stag %zu is %s%s%s, not O or B-, I-, E-, S- "
                            "and a type", what, which, i, tags[i] ? "\"" : "",
                            tags[i] ? tags[i] : "NULL", tags[i] ? "\"" : "");
    return RC_OK;
}

rc_status rc_tags_check(const char *const *tags, size_t n, rc_tag_scheme scheme)
{
    if (!scheme_ok(scheme))
        return rc_error(RC_ERR_ARG, "tags_check: unknown tag scheme %d", (int)scheme);
    if (!tags && n > 0) return rc_error(RC_ERR_ARG, "tags_check: tags is NULL (n = %zu)", n);
    const char *name = rc_tag_scheme_name(scheme);
    tag prev = tag_outside, cur;
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            if (!parse_tag(tags[i], &cur))
                return rc_error(RC_ERR_FORMAT, "tags_check: tag %zu is %s%s%s, not O or B-, "
                                "I-, E-, S- and a type", i, tags[i] ? "\"" : "",
                                tags[i] ? tags[i] : "NULL", tags[i] ? "\"" : "");
        } else {
            cur = tag_outside;
        }
        const char *why = NULL;
        int prev_open = prev.p == 'B' || prev.p == 'I';
        switch (scheme) {
        case RC_TAGS_IOB1:
            if (i < n && (cur.p == 'E' || cur.p == 'S')) why = "has no E- or S- tags";
            else if (cur.p == 'B' && !(prev.p != 'O' && same_type(&prev, &cur)))
                why = "uses B- only to start a chunk right after another of its type";
            break;
        case RC_TAGS_IOB2:
            if (i < n && (cur.p == 'E' || cur.p == 'S')) why = "has no E- or S- tags";
            else if (cur.p == 'I' && !(prev.p != 'O' && same_type(&prev, &cur)))
                why = "continues a chunk with I- only after B- or I- of its type";
            break;
        case RC_TAGS_IOBES:
            if (cur.p == 'I' || cur.p == 'E') {
                if (!prev_open || !same_type(&prev, &cur))
                    why = "puts I- and E- only after B- or I- of their type";
            } else if (prev_open) {
                why = "closes a chunk begun with B- by E- of its type";
            }
            break;
        }
        if (why) {
            if (i == n)
                return rc_error(RC_ERR_FORMAT, "tags_check: the sentence ends after tag %zu "
                                "\"%s\", but %s %s", n - 1, tags[n - 1], name, why);
            return rc_error(RC_ERR_FORMAT, "tags_check: tag %zu \"%s\" after %s%s%s is not "
                            "valid %s, which %s", i, tags[i], i ? "\"" : "",
                            i ? tags[i - 1] : "the sentence start", i ? "\"" : "", name, why);
        }
        prev = cur;
    }
    return RC_OK;
}

rc_status rc_tags_convert(const char *const *tags, size_t n, rc_tag_scheme to,
                          const char ***out)
{
    if (!out) return rc_error(RC_ERR_ARG, "tags_convert: out is NULL");
    *out = NULL;
    if (!scheme_ok(to)) return rc_error(RC_ERR_ARG, "tags_convert: unknown tag scheme %d", (int)to);
    if (!tags && n > 0) return rc_error(RC_ERR_ARG, "tags_convert: tags is NULL (n = %zu)", n);
    tag *tg = malloc((n ? n : 1) * sizeof *tg);
    if (!tg) return rc_error(RC_ERR_NOMEM, "tags_convert: out of memory (%zu tags)", n);
    rc_status st = parse_all("tags_convert", "", tags, n, tg);
    if (st != RC_OK) {
        free(tg);
        return st;
    }
    /* One block: n pointers, then the strings ("O" or "X-" type). */
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += tg[i].p == 'O' ? 2 : tg[i].len + 3;
    size_t head = (n ? n : 1) * sizeof(char *);
    char *block = malloc(head + chars + 1);
    if (!block) {
        free(tg);
        return rc_error(RC_ERR_NOMEM, "tags_convert: out of memory (%zu tags)", n);
    }
    const char **ptrs = (const char **)(void *)block;
    char *w = block + head;
    for (size_t i = 0; i < n; i++) {
        const tag *prev = i ? &tg[i - 1] : &tag_outside, *cur = &tg[i];
        const tag *next = i + 1 < n ? &tg[i + 1] : &tag_outside;
        ptrs[i] = w;
        if (cur->p == 'O') {
            memcpy(w, "O", 2);
            w += 2;
            continue;
        }
        int first = chunk_start(prev, cur), last = chunk_end(cur, next);
        char p;
        switch (to) {
        case RC_TAGS_IOB1:
            /* B- only where a chunk directly follows one of its type. */
            p = first && prev->p != 'O' && same_type(prev, cur) ? 'B' : 'I';
            break;
        case RC_TAGS_IOB2: p = first ? 'B' : 'I'; break;
        default: p = first && last ? 'S' : first ? 'B' : last ? 'E' : 'I'; break;
        }
        w[0] = p;
        w[1] = '-';
        memcpy(w + 2, cur->type, cur->len);
        w[2 + cur->len] = '\0';
        w += cur->len + 3;
    }
    free(tg);
    *out = ptrs;
    return RC_OK;
}

/* ---- conlleval ---- */

void rc_conlleval_init(rc_conlleval *ev)
{
    if (ev) memset(ev, 0, sizeof *ev);
}

void rc_conlleval_free(rc_conlleval *ev)
{
    if (!ev) return;
    for (int i = 0; i < ev->n_types; i++) free(ev->types[i].type);
    free(ev->types);
    memset(ev, 0, sizeof *ev);
}

/* Index of a type in the (sorted) table, or -(insertion point) - 1. */
static int find_type(const rc_conlleval *ev, const tag *tg)
{
    int lo = 0, hi = ev->n_types;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const char *s = ev->types[mid].type;
        size_t sl = strlen(s), m = sl < tg->len ? sl : tg->len;
        int c = memcmp(s, tg->type, m);
        if (c == 0) c = sl < tg->len ? -1 : sl > tg->len ? 1 : 0;
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -lo - 1;
}

static rc_status add_type(rc_conlleval *ev, const tag *tg)
{
    int at = find_type(ev, tg);
    if (at >= 0) return RC_OK;
    at = -at - 1;
    if (ev->n_types == ev->cap_types) {
        int cap = ev->cap_types ? 2 * ev->cap_types : 8;
        rc_chunk_counts *nt = realloc(ev->types, (size_t)cap * sizeof *nt);
        if (!nt) return rc_error(RC_ERR_NOMEM, "conlleval_add: out of memory");
        ev->types = nt;
        ev->cap_types = cap;
    }
    char *name = malloc(tg->len + 1);
    if (!name) return rc_error(RC_ERR_NOMEM, "conlleval_add: out of memory");
    memcpy(name, tg->type, tg->len);
    name[tg->len] = '\0';
    memmove(ev->types + at + 1, ev->types + at, (size_t)(ev->n_types - at) * sizeof *ev->types);
    memset(&ev->types[at], 0, sizeof ev->types[at]);
    ev->types[at].type = name;
    ev->n_types++;
    return RC_OK;
}

rc_status rc_conlleval_add(rc_conlleval *ev, const char *const *gold,
                           const char *const *predicted, size_t n)
{
    if (!ev) return rc_error(RC_ERR_ARG, "conlleval_add: ev is NULL");
    if (n > 0 && (!gold || !predicted))
        return rc_error(RC_ERR_ARG, "conlleval_add: %s tags are NULL (sentence %lld, %zu "
                        "tokens)", !gold ? "gold" : "predicted", (long long)ev->sentences, n);
    tag *tg = malloc(2 * (n ? n : 1) * sizeof *tg);
    if (!tg) return rc_error(RC_ERR_NOMEM, "conlleval_add: out of memory (%zu tokens)", n);
    tag *gt = tg, *pt = tg + n;
    char which[64];
    rc_status st;
    snprintf(which, sizeof which, "sentence %lld: gold ", (long long)ev->sentences);
    st = parse_all("conlleval_add", which, gold, n, gt);
    if (st == RC_OK) {
        snprintf(which, sizeof which, "sentence %lld: predicted ", (long long)ev->sentences);
        st = parse_all("conlleval_add", which, predicted, n, pt);
    }
    /* Every type in the table before counting, so that a failure leaves
     * the counts as they were. */
    for (size_t i = 0; i < n && st == RC_OK; i++) {
        if (gt[i].p != 'O') st = add_type(ev, &gt[i]);
        if (st == RC_OK && pt[i].p != 'O') st = add_type(ev, &pt[i]);
    }
    if (st != RC_OK) {
        free(tg);
        return st;
    }

    /* conlleval's loop over the tokens, then the boundary (an O in both,
     * not counted as a token), which closes every chunk. in_correct: the
     * current gold and predicted chunks started together with one type. */
    tag lc = tag_outside, lg = tag_outside;
    int in_correct = 0;
    for (size_t i = 0; i <= n; i++) {
        const tag c = i < n ? gt[i] : tag_outside, g = i < n ? pt[i] : tag_outside;
        int end_c = chunk_end(&lc, &c), end_g = chunk_end(&lg, &g);
        int start_c = chunk_start(&lc, &c), start_g = chunk_start(&lg, &g);
        if (in_correct) {
            if (end_c && end_g && same_type(&lg, &lc)) {
                in_correct = 0;
                ev->correct++;
                ev->types[find_type(ev, &lc)].correct++;
            } else if (end_c != end_g || !same_type(&g, &c)) {
                in_correct = 0;
            }
        }
        if (start_c && start_g && same_type(&g, &c)) in_correct = 1;
        if (start_c) {
            ev->gold++;
            ev->types[find_type(ev, &c)].gold++;
        }
        if (start_g) {
            ev->predicted++;
            ev->types[find_type(ev, &g)].predicted++;
        }
        if (i < n) {
            if (c.p == g.p && same_type(&c, &g)) ev->correct_tags++;
            ev->tokens++;
        }
        lc = c;
        lg = g;
    }
    ev->sentences++;
    free(tg);
    return RC_OK;
}

rc_prf rc_prf_from_counts(int64_t gold, int64_t predicted, int64_t correct)
{
    rc_prf r = {0.0, 0.0, 0.0};
    if (predicted > 0) r.precision = 100.0 * (double)correct / (double)predicted;
    if (gold > 0) r.recall = 100.0 * (double)correct / (double)gold;
    if (r.precision + r.recall > 0.0)
        r.f1 = 2.0 * r.precision * r.recall / (r.precision + r.recall);
    return r;
}

rc_prf rc_conlleval_overall(const rc_conlleval *ev)
{
    if (!ev) return rc_prf_from_counts(0, 0, 0);
    return rc_prf_from_counts(ev->gold, ev->predicted, ev->correct);
}

double rc_conlleval_accuracy(const rc_conlleval *ev)
{
    if (!ev || ev->tokens == 0) return 0.0;
    return 100.0 * (double)ev->correct_tags / (double)ev->tokens;
}

rc_status rc_conlleval_report(const rc_conlleval *ev, char **text)
{
    if (!text) return rc_error(RC_ERR_ARG, "conlleval_report: text is NULL");
    *text = NULL;
    if (!ev) return rc_error(RC_ERR_ARG, "conlleval_report: ev is NULL");
    rc_sbuf b = {0};
    rc_prf o = rc_conlleval_overall(ev);
    rc_sbuf_printf(&b, "processed %lld tokens with %lld phrases; found: %lld phrases; "
                   "correct: %lld.\n", (long long)ev->tokens, (long long)ev->gold,
                   (long long)ev->predicted, (long long)ev->correct);
    if (ev->tokens > 0)
        rc_sbuf_printf(&b, "accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; "
                       "FB1: %6.2f\n", rc_conlleval_accuracy(ev), o.precision, o.recall, o.f1);
    for (int i = 0; i < ev->n_types; i++) {
        const rc_chunk_counts *c = &ev->types[i];
        if (c->gold == 0 && c->predicted == 0) continue;
        size_t len = strlen(c->type);
        for (size_t k = len; k < 17; k++) rc_sbuf_append(&b, " ", 1);
        rc_sbuf_append(&b, c->type, len);
        rc_prf r = rc_prf_from_counts(c->gold, c->predicted, c->correct);
        rc_sbuf_printf(&b, ": precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %lld\n",
                       r.precision, r.recall, r.f1, (long long)c->predicted);
    }
    if (b.oom || !b.p) {
        rc_sbuf_free(&b);
        return rc_error(RC_ERR_NOMEM, "conlleval_report: out of memory");
    }
    *text = b.p;
    return RC_OK;
}
