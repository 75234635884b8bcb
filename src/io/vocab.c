/*
 * vocab.c - vocabularies: characters (one token per code point) or words
 * (split on whitespace, "<eos>" at every line end), built from a text by
 * frequency, looked up through an open-addressing hash table, and saved as
 * a small JSON document inside model files.
 *
 * Ids: 0 is "<unk>", 1 is "<eos>" (words only), then the text's tokens by
 * descending count, ties in byte order, so the same text always gives the
 * same ids.
 */
#include "io.h"

#include <stdlib.h>

#define UNK_TOKEN "<unk>"
#define EOS_TOKEN "<eos>"

struct rc_vocab {
    rc_text_level level;
    int n;               /* tokens */
    char *pool;          /* the tokens, each NUL-terminated */
    size_t *off;         /* n offsets into pool */
    size_t *len;         /* n lengths in bytes */
    uint64_t *hash;      /* n hashes */
    int32_t *slots;      /* the table: ids, -1 for an empty slot */
    size_t mask;         /* slots - 1 (a power of two minus one) */
    int32_t byte_id[128]; /* one-byte ASCII tokens: id, or -1 */
};

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

/* Bytes in the UTF-8 sequence starting with `lead` (the text is valid). */
static size_t utf8_len(unsigned char lead)
{
    return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A token for messages: quoted, at most ~40 bytes, control bytes as \xHH. */
static const char *show(const char *t, size_t n, char *buf, size_t bn)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < bn; i++) {
        unsigned char c = (unsigned char)t[i];
        if (i >= 40) {
            memcpy(buf + o, "...", 3), o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, bn - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* rc_text_validate's message under another function's name. */
static rc_status check_utf8(const char *fn, const char *text, size_t len)
{
    rc_status s = rc_text_validate(text, len, "text");
    if (s == RC_OK) return s;
    char msg[512];
    const char *m = rc_last_error();
    const char *pre = "text_validate: ";
    if (!strncmp(m, pre, strlen(pre))) m += strlen(pre);
    snprintf(msg, sizeof msg, "%s", m);
    return rc_error(s, "%s: %s", fn, msg);
}

/* ---- word and character iteration ---- */

enum { TOK_END, TOK_WORD, TOK_EOS };

typedef struct tok_iter {
    const char *s;
    size_t len, pos;
    int word;       /* words (else characters) */
    int line_open;  /* words: a token seen since the last line end */
} tok_iter;

/* The next token: a word or character (*p, *n), or a line end (words).
 * Every line gets an EOS; a last line without '\n' gets one only if it
 * holds a word. */
static int next_token(tok_iter *it, const char **p, size_t *n)
{
    const unsigned char *s = (const unsigned char *)it->s;
    if (!it->word) {
        if (it->pos >= it->len) return TOK_END;
        size_t k = utf8_len(s[it->pos]);
        *p = it->s + it->pos;
        *n = k;
        it->pos += k;
        return TOK_WORD;
    }
    while (it->pos < it->len && is_blank(s[it->pos])) it->pos++;
    if (it->pos >= it->len) {
        if (!it->line_open) return TOK_END;
        it->line_open = 0;
        return TOK_EOS;
    }
    if (s[it->pos] == '\n') {
        it->pos++;
        it->line_open = 0;
        return TOK_EOS;
    }
    size_t start = it->pos;
    while (it->pos < it->len && !is_blank(s[it->pos]) && s[it->pos] != '\n') it->pos++;
    it->line_open = 1;
    *p = it->s + start;
    *n = it->pos - start;
    return TOK_WORD;
}

/* ---- counting (building) ---- */

typedef struct count_entry {
    const char *p; /* into the text; NULL: empty slot */
    size_t len;
    uint64_t hash;
    uint64_t count;
} count_entry;

typedef struct counter {
    count_entry *e;
    size_t cap, n;
    uint64_t byte_count[128];  /* one-byte ASCII tokens */
    const char *byte_at[128];  /* where each was first seen */
} counter;

static int counter_grow(counter *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    if (cap > SIZE_MAX / sizeof(count_entry)) return 0;
    count_entry *e = calloc(cap, sizeof *e);
    if (!e) return 0;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->e[i].p) continue;
        size_t j = (size_t)c->e[i].hash & (cap - 1);
        while (e[j].p) j = (j + 1) & (cap - 1);
        e[j] = c->e[i];
    }
    free(c->e);
    c->e = e;
    c->cap = cap;
    return 1;
}

static int counter_add(counter *c, const char *p, size_t n)
{
    if (n == 1 && (unsigned char)p[0] < 0x80) {
        unsigned char b = (unsigned char)p[0];
        if (!c->byte_count[b]++) c->byte_at[b] = p;
        return 1;
    }
    if (2 * (c->n + 1) > c->cap && !counter_grow(c)) return 0;
    uint64_t h = hash_bytes(p, n);
    size_t j = (size_t)h & (c->cap - 1);
    for (;;) {
        count_entry *e = &c->e[j];
        if (!e->p) {
            e->p = p, e->len = n, e->hash = h, e->count = 1;
            c->n++;
            return 1;
        }
        if (e->hash == h && e->len == n && !memcmp(e->p, p, n)) {
            e->count++;
            return 1;
        }
        j = (j + 1) & (c->cap - 1);
    }
}

/* Descending count, then byte order (a prefix first). */
static int by_count(const void *a, const void *b)
{
    const count_entry *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->p, y->p, n);
    if (d) return d;
    return (x->len > y->len) - (x->len < y->len);
}

/* ---- the vocabulary ---- */

static int is_special(rc_text_level level, const char *p, size_t n)
{
    if (n == 5 && !memcmp(p, UNK_TOKEN, 5)) return 1;
    return level == RC_TEXT_WORD && n == 5 && !memcmp(p, EOS_TOKEN, 5);
}

/* An empty vocabulary with room for n tokens of `bytes` bytes in all. */
static rc_vocab *vocab_alloc(rc_text_level level, size_t n, size_t bytes)
{
    rc_vocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->level = level;
    size_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    v->pool = malloc(bytes + n + 1);
    v->off = malloc((n ? n : 1) * sizeof *v->off);
    v->len = malloc((n ? n : 1) * sizeof *v->len);
    v->hash = malloc((n ? n : 1) * sizeof *v->hash);
    v->slots = malloc(slots * sizeof *v->slots);
    if (!v->pool || !v->off || !v->len || !v->hash || !v->slots) {
        rc_vocab_free(v);
        return NULL;
    }
    memset(v->slots, 0xff, slots * sizeof *v->slots);
    v->mask = slots - 1;
    for (int i = 0; i < 128; i++) v->byte_id[i] = -1;
    return v;
}

/* The id of a token, or -1. */
static int32_t find(const rc_vocab *v, const char *p, size_t n, uint64_t h)
{
    size_t j = (size_t)h & v->mask;
    for (;;) {
        int32_t id = v->slots[j];
        if (id < 0) return -1;
        if (v->hash[id] == h && v->len[id] == n && !memcmp(v->pool + v->off[id], p, n))
            return id;
        j = (j + 1) & v->mask;
    }
}

static inline int32_t lookup(const rc_vocab *v, const char *p, size_t n)
{
    if (n == 1 && (unsigned char)p[0] < 0x80) return v->byte_id[(unsigned char)p[0]];
    return find(v, p, n, hash_bytes(p, n));
}

/* Appends a token (room was reserved by vocab_alloc); returns its id, or
 * the id of the earlier equal token (the vocabulary is then unchanged). */
static int32_t vocab_add(rc_vocab *v, const char *p, size_t n, size_t *pool_used)
{
    uint64_t h = hash_bytes(p, n);
    int32_t old = find(v, p, n, h);
    if (old >= 0) return old;
    int32_t id = v->n++;
    memcpy(v->pool + *pool_used, p, n);
    v->pool[*pool_used + n] = '\0';
    v->off[id] = *pool_used;
    v->len[id] = n;
    v->hash[id] = h;
    *pool_used += n + 1;
    size_t j = (size_t)h & v->mask;
    while (v->slots[j] >= 0) j = (j + 1) & v->mask;
    v->slots[j] = id;
    if (n == 1 && (unsigned char)p[0] < 0x80) v->byte_id[(unsigned char)p[0]] = id;
    return id;
}

static int n_special(rc_text_level level) { return level == RC_TEXT_WORD ? 2 : 1; }

rc_status rc_vocab_build(const char *text, size_t len, rc_text_level level, int min_freq,
                         int max_size, rc_vocab **out)
{
    const char *fn = "vocab_build";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!text && len) return rc_error(RC_ERR_ARG, "%s: text is NULL", fn);
    if (level != RC_TEXT_CHAR && level != RC_TEXT_WORD)
        return rc_error(RC_ERR_ARG, "%s: unknown level %d", fn, (int)level);
    if (min_freq < 0) return rc_error(RC_ERR_ARG, "%s: min_freq %d is negative", fn, min_freq);
    int ns = n_special(level);
    if (max_size < 0 || (max_size > 0 && max_size < ns))
        return rc_error(RC_ERR_ARG,
                        "%s: max_size %d: must be 0 (no limit) or at least %d (%s)", fn,
                        max_size, ns, ns == 2 ? "<unk> and <eos>" : "<unk>");
    rc_status s = check_utf8(fn, text, len);
    if (s) return s;

    counter c;
    memset(&c, 0, sizeof c);
    tok_iter it = {text, len, 0, level == RC_TEXT_WORD, 0};
    const char *p = NULL;
    size_t n = 0;
    int k;
    while ((k = next_token(&it, &p, &n)) != TOK_END) {
        if (k == TOK_WORD && !counter_add(&c, p, n)) {
            free(c.e);
            return rc_error(RC_ERR_NOMEM, "%s: out of memory after %zu distinct tokens", fn,
                            c.n);
        }
    }

    /* Candidates: every token but the special ones, rare ones dropped. */
    size_t total = c.n + 128;
    count_entry *cand = malloc(total * sizeof *cand);
    if (!cand) {
        free(c.e);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    size_t m = 0;
    for (int b = 0; b < 128; b++)
        if (c.byte_count[b] && c.byte_count[b] >= (uint64_t)min_freq)
            cand[m++] = (count_entry){c.byte_at[b], 1, 0, c.byte_count[b]};
    for (size_t i = 0; i < c.cap; i++) {
        const count_entry *e = &c.e[i];
        if (e->p && e->count >= (uint64_t)min_freq && !is_special(level, e->p, e->len))
            cand[m++] = *e;
    }
    free(c.e);
    qsort(cand, m, sizeof *cand, by_count);
    size_t keep = m;
    if (max_size > 0 && keep > (size_t)(max_size - ns)) keep = (size_t)(max_size - ns);
    if (keep > (size_t)INT32_MAX - (size_t)ns) {
        free(cand);
        return rc_error(RC_ERR_RANGE, "%s: %zu distinct tokens are more than ids can hold",
                        fn, keep);
    }

    size_t bytes = 10;
    for (size_t i = 0; i < keep; i++) bytes += cand[i].len;
    rc_vocab *v = vocab_alloc(level, keep + (size_t)ns, bytes);
    if (!v) {
        free(cand);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory for %zu tokens", fn, keep);
    }
    size_t used = 0;
    vocab_add(v, UNK_TOKEN, 5, &used);
    if (level == RC_TEXT_WORD) vocab_add(v, EOS_TOKEN, 5, &used);
    for (size_t i = 0; i < keep; i++) vocab_add(v, cand[i].p, cand[i].len, &used);
    free(cand);
    *out = v;
    return RC_OK;
}

void rc_vocab_free(rc_vocab *v)
{
    if (!v) return;
    free(v->pool);
    free(v->off);
    free(v->len);
    free(v->hash);
    free(v->slots);
    free(v);
}

int rc_vocab_size(const rc_vocab *v) { return v ? v->n : 0; }

rc_text_level rc_vocab_level(const rc_vocab *v) { return v ? v->level : RC_TEXT_CHAR; }

const char *rc_vocab_token(const rc_vocab *v, int id)
{
    if (!v || id < 0 || id >= v->n) return NULL;
    return v->pool + v->off[id];
}

int rc_vocab_id(const rc_vocab *v, const char *token, size_t len)
{
    if (!v || !token) return RC_VOCAB_UNK;
    int32_t id = lookup(v, token, len);
    return id < 0 ? RC_VOCAB_UNK : id;
}

rc_status rc_vocab_encode(const rc_vocab *v, const char *text, size_t len, int32_t **ids,
                          size_t *n, size_t *n_unk)
{
    const char *fn = "vocab_encode";
    if (!ids || !n) return rc_error(RC_ERR_ARG, "%s: ids or n is NULL", fn);
    *ids = NULL;
    *n = 0;
    if (n_unk) *n_unk = 0;
    if (!v) return rc_error(RC_ERR_ARG, "%s: no vocabulary", fn);
    if (!text && len) return rc_error(RC_ERR_ARG, "%s: text is NULL", fn);
    rc_status s = check_utf8(fn, text, len);
    if (s) return s;
    /* Each token takes at least one byte, and so does each line end but
     * perhaps the last. */
    if (len >= SIZE_MAX / sizeof(int32_t) - 1)
        return rc_error(RC_ERR_NOMEM, "%s: text of %zu bytes is too long", fn, len);
    int32_t *out = malloc((len + 1) * sizeof *out);
    if (!out) return rc_error(RC_ERR_NOMEM, "%s: out of memory for %zu ids", fn, len + 1);
    size_t m = 0, unk = 0;
    tok_iter it = {text, len, 0, v->level == RC_TEXT_WORD, 0};
    const char *p = NULL;
    size_t tn = 0;
    int k;
    while ((k = next_token(&it, &p, &tn)) != TOK_END) {
        int32_t id = RC_VOCAB_EOS;
        if (k == TOK_WORD) {
            id = lookup(v, p, tn);
            if (id < 0) id = RC_VOCAB_UNK, unk++;
        }
        out[m++] = id;
    }
    int32_t *shrunk = realloc(out, (m ? m : 1) * sizeof *out);
    *ids = shrunk ? shrunk : out;
    *n = m;
    if (n_unk) *n_unk = unk;
    return RC_OK;
}

rc_status rc_vocab_decode(const rc_vocab *v, const int32_t *ids, size_t n, char **text)
{
    const char *fn = "vocab_decode";
    if (!text) return rc_error(RC_ERR_ARG, "%s: text is NULL", fn);
    *text = NULL;
    if (!v) return rc_error(RC_ERR_ARG, "%s: no vocabulary", fn);
    if (!ids && n) return rc_error(RC_ERR_ARG, "%s: ids is NULL", fn);
    int words = v->level == RC_TEXT_WORD;
    size_t bytes = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n)
            return rc_error(RC_ERR_RANGE, "%s: ids[%zu] = %d is outside the vocabulary [0, %d)",
                            fn, i, (int)ids[i], v->n);
        bytes += v->len[ids[i]] + (size_t)words; /* a space before each word */
    }
    char *t = malloc(bytes);
    if (!t) return rc_error(RC_ERR_NOMEM, "%s: out of memory for %zu bytes", fn, bytes);
    size_t o = 0;
    int line_start = 1;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (words && id == RC_VOCAB_EOS) {
            t[o++] = '\n';
            line_start = 1;
            continue;
        }
        if (words && !line_start) t[o++] = ' ';
        memcpy(t + o, v->pool + v->off[id], v->len[id]);
        o += v->len[id];
        line_start = 0;
    }
    t[o] = '\0';
    *text = t;
    return RC_OK;
}

/* ---- JSON ---- */

rc_status rc_vocab_to_json(const rc_vocab *v, char **json)
{
    if (!json) return rc_error(RC_ERR_ARG, "vocab_to_json: json is NULL");
    *json = NULL;
    if (!v) return rc_error(RC_ERR_ARG, "vocab_to_json: no vocabulary");
    rc_sbuf b = {0};
    rc_sbuf_printf(&b, "{\"level\":\"%s\",\"tokens\":[",
                   v->level == RC_TEXT_WORD ? "word" : "char");
    for (int i = 0; i < v->n; i++) {
        if (i) rc_sbuf_append(&b, ",", 1);
        rc_json_append_string(&b, v->pool + v->off[i]);
    }
    rc_sbuf_append(&b, "]}", 2);
    if (b.oom) {
        rc_sbuf_free(&b);
        return rc_error(RC_ERR_NOMEM, "vocab_to_json: out of memory for %d tokens", v->n);
    }
    *json = b.p;
    return RC_OK;
}

/* Is token i of the document acceptable at its place? NULL if so, else why. */
static const char *bad_token(rc_text_level level, int i, const char *t, size_t n)
{
    if (n == 0) return "is empty";
    if (strlen(t) != n) return "contains a NUL character";
    if (i == 0) return strcmp(t, UNK_TOKEN) ? "must be \"<unk>\" (id 0)" : NULL;
    if (level == RC_TEXT_WORD) {
        if (i == 1) return strcmp(t, EOS_TOKEN) ? "must be \"<eos>\" (id 1)" : NULL;
        for (size_t j = 0; j < n; j++)
            if (is_blank((unsigned char)t[j]) || t[j] == '\n')
                return "contains whitespace (a word never does)";
        return NULL;
    }
    if (utf8_len((unsigned char)t[0]) != n)
        return "is not a single character (a character vocabulary's tokens are)";
    return NULL;
}

static rc_status from_doc(const rc_json *d, rc_vocab **out)
{
    const char *fn = "vocab_from_json";
    const rc_json_node *nd = d->nodes;
    char sb[64];
    if (nd[0].type != RC_JSON_OBJECT)
        return rc_error(RC_ERR_FORMAT, "%s: expected an object, got %s", fn,
                        rc_json_type_name(nd[0].type));
    uint32_t level_at = 0, tokens_at = 0;
    for (uint32_t k = 1; k < nd[0].end; k = nd[k + 1].end) {
        const char *key = rc_json_str(d, k);
        uint32_t *slot = !strcmp(key, "level") ? &level_at
                         : !strcmp(key, "tokens") ? &tokens_at
                                                  : NULL;
        if (!slot)
            return rc_error(RC_ERR_FORMAT, "%s: unknown key %s (expected \"level\" and "
                            "\"tokens\")", fn, show(key, nd[k].len, sb, sizeof sb));
        if (*slot)
            return rc_error(RC_ERR_FORMAT, "%s: key \"%s\" appears twice", fn, key);
        *slot = k + 1;
    }
    if (!level_at) return rc_error(RC_ERR_FORMAT, "%s: no \"level\"", fn);
    if (!tokens_at) return rc_error(RC_ERR_FORMAT, "%s: no \"tokens\"", fn);
    rc_text_level level;
    if (nd[level_at].type != RC_JSON_STRING)
        return rc_error(RC_ERR_FORMAT, "%s: \"level\" must be a string, got %s", fn,
                        rc_json_type_name(nd[level_at].type));
    const char *ls = rc_json_str(d, level_at);
    if (!strcmp(ls, "char") && nd[level_at].len == 4) level = RC_TEXT_CHAR;
    else if (!strcmp(ls, "word") && nd[level_at].len == 4) level = RC_TEXT_WORD;
    else
        return rc_error(RC_ERR_FORMAT, "%s: \"level\" must be \"char\" or \"word\", got %s",
                        fn, show(ls, nd[level_at].len, sb, sizeof sb));
    const rc_json_node *arr = &nd[tokens_at];
    if (arr->type != RC_JSON_ARRAY)
        return rc_error(RC_ERR_FORMAT, "%s: \"tokens\" must be an array, got %s", fn,
                        rc_json_type_name(arr->type));
    int ns = n_special(level);
    if (arr->len < (uint32_t)ns)
        return rc_error(RC_ERR_FORMAT, "%s: \"tokens\" has %u entries; a %s vocabulary "
                        "starts with %s", fn, (unsigned)arr->len,
                        level == RC_TEXT_WORD ? "word" : "char",
                        ns == 2 ? "\"<unk>\", \"<eos>\"" : "\"<unk>\"");
    if (arr->len > (uint32_t)INT32_MAX)
        return rc_error(RC_ERR_FORMAT, "%s: too many tokens (%u)", fn, (unsigned)arr->len);
    /* Check every token first, so the pool can be sized. */
    size_t bytes = 0;
    int i = 0;
    for (uint32_t j = tokens_at + 1; j < arr->end; j = nd[j].end, i++) {
        if (nd[j].type != RC_JSON_STRING)
            return rc_error(RC_ERR_FORMAT, "%s: tokens[%d] must be a string, got %s", fn, i,
                            rc_json_type_name(nd[j].type));
        const char *t = rc_json_str(d, j);
        const char *why = bad_token(level, i, t, nd[j].len);
        if (why)
            return rc_error(RC_ERR_FORMAT, "%s: tokens[%d] %s %s", fn, i,
                            show(t, nd[j].len, sb, sizeof sb), why);
        bytes += nd[j].len;
    }
    rc_vocab *v = vocab_alloc(level, arr->len, bytes);
    if (!v) return rc_error(RC_ERR_NOMEM, "%s: out of memory for %u tokens", fn,
                            (unsigned)arr->len);
    size_t used = 0;
    i = 0;
    for (uint32_t j = tokens_at + 1; j < arr->end; j = nd[j].end, i++) {
        const char *t = rc_json_str(d, j);
        int32_t id = vocab_add(v, t, nd[j].len, &used);
        if (id != i) {
            rc_vocab_free(v);
            return rc_error(RC_ERR_FORMAT, "%s: tokens[%d] %s repeats tokens[%d]", fn, i,
                            show(t, nd[j].len, sb, sizeof sb), (int)id);
        }
    }
    *out = v;
    return RC_OK;
}

rc_status rc_vocab_from_json(const char *json, rc_vocab **out)
{
    const char *fn = "vocab_from_json";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!json) return rc_error(RC_ERR_ARG, "%s: json is NULL", fn);
    rc_json doc;
    char err[160];
    size_t at = 0;
    rc_status s = rc_json_parse(&doc, json, strlen(json), err, sizeof err, &at);
    if (s) return rc_error(s, "%s: byte %zu: not valid JSON: %s", fn, at, err);
    s = from_doc(&doc, out);
    rc_json_free(&doc);
    return s;
}
