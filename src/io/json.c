/*
 * json.c - a small JSON parser and string writer, enough for safetensors
 * headers: objects, arrays, strings with every escape, numbers (integers
 * kept exactly, anything else only marked as not an integer), true, false,
 * null. Strict RFC 8259 syntax, valid UTF-8 only, and safe on hostile
 * input: nesting is limited, numbers never overflow, every read is bounds
 * checked, and errors give the byte offset.
 */
#include "io.h"

#include <stdarg.h>
#include <stdlib.h>

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    rc_json *doc;
    size_t slen; /* bytes used in doc->strings */
    char *err;
    size_t errn;
    size_t err_at;
    rc_status status;
} parser;

static int fail(parser *p, size_t at, rc_status s, const char *fmt, ...) RC_PRINTF(4, 5);

static int fail(parser *p, size_t at, rc_status s, const char *fmt, ...)
{
    if (p->status == RC_OK) {
        va_list ap;
        va_start(ap, fmt);
        if (p->errn) vsnprintf(p->err, p->errn, fmt, ap);
        va_end(ap);
        p->err_at = at;
        p->status = s;
    }
    return 0;
}

const char *rc_json_type_name(int type)
{
    switch (type) {
    case RC_JSON_NULL: return "null";
    case RC_JSON_BOOL: return "a boolean";
    case RC_JSON_NUMBER: return "a number";
    case RC_JSON_STRING: return "a string";
    case RC_JSON_ARRAY: return "an array";
    case RC_JSON_OBJECT: return "an object";
    }
    return "an unknown value";
}

/* Describes the byte at pos for messages: "'x'", "byte 0x07", "end of input". */
static const char *what_is(parser *p, size_t pos, char *buf, size_t n)
{
    if (pos >= p->len) return "end of input";
    unsigned c = p->s[pos];
    if (c >= 0x21 && c < 0x7f) snprintf(buf, n, "'%c'", (char)c);
    else snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Appends a node; returns its index or UINT32_MAX when out of memory. */
static uint32_t new_node(parser *p, int type, size_t at)
{
    rc_json *d = p->doc;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap : 16;
        if (cap > UINT32_MAX / 2 - 1) {
            fail(p, at, RC_ERR_FORMAT, "too many values");
            return UINT32_MAX;
        }
        cap *= 2;
        rc_json_node *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            fail(p, at, RC_ERR_NOMEM, "out of memory for %u values", (unsigned)cap);
            return UINT32_MAX;
        }
        d->nodes = nn;
        d->cap = cap;
    }
    uint32_t k = d->n++;
    rc_json_node *nd = &d->nodes[k];
    memset(nd, 0, sizeof *nd);
    nd->type = (uint8_t)type;
    nd->at = (uint32_t)at;
    nd->end = k + 1;
    return k;
}

static int hexval(unsigned c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Four hex digits at pos; -1 (after failing) if not. */
static long read_hex4(parser *p, size_t pos)
{
    if (pos > p->len || p->len - pos < 4) {
        fail(p, pos, RC_ERR_FORMAT, "unterminated \\u escape");
        return -1;
    }
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[pos + (size_t)i]);
        if (h < 0) {
            char b[16];
            fail(p, pos + (size_t)i, RC_ERR_FORMAT, "bad hex digit %s in \\u escape",
                 what_is(p, pos + (size_t)i, b, sizeof b));
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (whose first byte is >= 0x80 and
 * which has `left` bytes), 0 if invalid: no overlong forms, surrogates or
 * code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    unsigned long cp, min;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* A string starting at the '"' at p->pos; appends a STRING node. */
static int parse_string(parser *p)
{
    size_t start = p->pos;
    uint32_t k = new_node(p, RC_JSON_STRING, start);
    if (k == UINT32_MAX) return 0;
    char *out = p->doc->strings + p->slen;
    size_t o = 0;
    p->pos++; /* the quote */
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, start, RC_ERR_FORMAT, "unterminated string");
        unsigned c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, p->pos, RC_ERR_FORMAT,
                        "control character 0x%02x in a string (must be escaped)", c);
        if (c == '\\') {
            size_t esc = p->pos;
            if (p->pos + 1 >= p->len)
                return fail(p, start, RC_ERR_FORMAT, "unterminated string");
            unsigned e = p->s[p->pos + 1];
            p->pos += 2;
            switch (e) {
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            case '/': out[o++] = '/'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                long cp = read_hex4(p, p->pos);
                if (cp < 0) return 0;
                p->pos += 4;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(p, esc, RC_ERR_FORMAT, "lone low surrogate \\u%04lx", cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' ||
                        p->s[p->pos + 1] != 'u')
                        return fail(p, esc, RC_ERR_FORMAT,
                                    "high surrogate \\u%04lx not followed by a low one", cp);
                    long lo = read_hex4(p, p->pos + 2);
                    if (lo < 0) return 0;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(p, esc, RC_ERR_FORMAT,
                                    "high surrogate \\u%04lx not followed by a low one", cp);
                    p->pos += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0)
                    return fail(p, esc, RC_ERR_FORMAT,
                                "\\u0000 in a string is not supported");
                /* The escape is at least as long as its UTF-8 bytes, so
                 * the decoded string still fits in the buffer. */
                o += put_utf8(out + o, (unsigned long)cp);
                break;
            }
            default: {
                char b[16];
                return fail(p, esc, RC_ERR_FORMAT, "bad escape \\%s in a string",
                            what_is(p, esc + 1, b, sizeof b));
            }
            }
            continue;
        }
        if (c < 0x80) {
            out[o++] = (char)c;
            p->pos++;
            continue;
        }
        size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (!n) return fail(p, p->pos, RC_ERR_FORMAT, "invalid UTF-8 in a string");
        memcpy(out + o, p->s + p->pos, n);
        o += n;
        p->pos += n;
    }
    out[o] = '\0';
    rc_json_node *nd = &p->doc->nodes[k];
    nd->i = (int64_t)p->slen;
    nd->len = (uint32_t)o;
    p->slen += o + 1;
    return 1;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p)
{
    size_t start = p->pos;
    uint32_t k = new_node(p, RC_JSON_NUMBER, start);
    if (k == UINT32_MAX) return 0;
    int neg = 0, integer = 1, overflow = 0;
    uint64_t mag = 0;
    if (p->s[p->pos] == '-') neg = 1, p->pos++;
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        char b[16];
        return fail(p, p->pos, RC_ERR_FORMAT, "expected a digit, got %s",
                    what_is(p, p->pos, b, sizeof b));
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos]))
            return fail(p, start, RC_ERR_FORMAT, "number with a leading zero");
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) {
            unsigned d = p->s[p->pos++] - '0';
            if (mag > (UINT64_MAX - d) / 10) overflow = 1;
            else mag = mag * 10 + d;
        }
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, p->pos, RC_ERR_FORMAT, "expected a digit after '.'");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, p->pos, RC_ERR_FORMAT, "expected a digit in the exponent");
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    rc_json_node *nd = &p->doc->nodes[k];
    if (integer && !overflow) {
        if (!neg && mag <= (uint64_t)INT64_MAX) nd->is_int = 1, nd->i = (int64_t)mag;
        else if (neg && mag <= (uint64_t)INT64_MAX) nd->is_int = 1, nd->i = -(int64_t)mag;
        else if (neg && mag == (uint64_t)INT64_MAX + 1) nd->is_int = 1, nd->i = INT64_MIN;
    }
    return 1;
}

static int parse_word(parser *p, const char *word, int type, int64_t v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, RC_ERR_FORMAT, "unknown literal (expected %s)", word);
    uint32_t k = new_node(p, type, p->pos);
    if (k == UINT32_MAX) return 0;
    p->doc->nodes[k].i = v;
    p->pos += n;
    return 1;
}

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int depth, int object)
{
    size_t start = p->pos;
    if (depth >= RC_JSON_MAX_DEPTH)
        return fail(p, start, RC_ERR_FORMAT, "nesting deeper than %d levels",
                    RC_JSON_MAX_DEPTH);
    uint32_t k = new_node(p, object ? RC_JSON_OBJECT : RC_JSON_ARRAY, start);
    if (k == UINT32_MAX) return 0;
    char close = object ? '}' : ']';
    uint32_t count = 0;
    char b[16];
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (object) {
                if (p->pos >= p->len)
                    return fail(p, p->pos, RC_ERR_FORMAT,
                                "unterminated object (opened at byte %zu)", start);
                if (p->s[p->pos] != '"')
                    return fail(p, p->pos, RC_ERR_FORMAT, "expected a string key, got %s",
                                what_is(p, p->pos, b, sizeof b));
                if (!parse_string(p)) return 0;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':')
                    return fail(p, p->pos, RC_ERR_FORMAT, "expected ':' after a key, got %s",
                                what_is(p, p->pos, b, sizeof b));
                p->pos++;
                count++;
            }
            if (!parse_value(p, depth + 1)) return 0;
            count++;
            skip_ws(p);
            if (p->pos >= p->len)
                return fail(p, p->pos, RC_ERR_FORMAT, "unterminated %s (opened at byte %zu)",
                            object ? "object" : "array", start);
            unsigned char c = p->s[p->pos];
            if (c == ',') {
                p->pos++;
                skip_ws(p);
                if (p->pos < p->len && p->s[p->pos] == (unsigned char)close)
                    return fail(p, p->pos, RC_ERR_FORMAT, "trailing comma");
                continue;
            }
            if (c == (unsigned char)close) {
                p->pos++;
                break;
            }
            return fail(p, p->pos, RC_ERR_FORMAT, "expected ',' or '%c', got %s", close,
                        what_is(p, p->pos, b, sizeof b));
        }
    }
    p->doc->nodes[k].len = count;
    p->doc->nodes[k].end = p->doc->n;
    return 1;
}

static int parse_value(parser *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->pos, RC_ERR_FORMAT, "expected a value, got end of input");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, 1);
    case '[': return parse_container(p, depth, 0);
    case '"': return parse_string(p);
    case 't': return parse_word(p, "true", RC_JSON_BOOL, 1);
    case 'f': return parse_word(p, "false", RC_JSON_BOOL, 0);
    case 'n': return parse_word(p, "null", RC_JSON_NULL, 0);
    default:
        if (c == '-' || is_digit(c)) return parse_number(p);
        {
            char b[16];
            return fail(p, p->pos, RC_ERR_FORMAT, "expected a value, got %s",
                        what_is(p, p->pos, b, sizeof b));
        }
    }
}

void rc_json_free(rc_json *doc)
{
    if (!doc) return;
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

rc_status rc_json_parse(rc_json *doc, const char *text, size_t len, char *err,
                        size_t errn, size_t *err_at)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.err = err;
    p.errn = errn;
    if (errn) err[0] = '\0';
    if (err_at) *err_at = 0;
    if (!doc || (!text && len)) {
        if (errn) snprintf(err, errn, "no document or text");
        return RC_ERR_ARG;
    }
    memset(doc, 0, sizeof *doc);
    if (len >= UINT32_MAX) {
        if (errn) snprintf(err, errn, "text of %zu bytes is too long", len);
        return RC_ERR_FORMAT;
    }
    p.s = (const unsigned char *)text;
    p.len = len;
    p.doc = doc;
    /* Decoded strings are never longer than their source text, quotes
     * included, so one buffer of len + 1 bytes holds them all. */
    doc->strings = malloc(len + 1);
    if (!doc->strings) {
        if (errn) snprintf(err, errn, "out of memory for %zu bytes", len);
        return RC_ERR_NOMEM;
    }
    if (parse_value(&p, 0)) {
        skip_ws(&p);
        if (p.pos < p.len) {
            char b[16];
            fail(&p, p.pos, RC_ERR_FORMAT, "unexpected %s after the value",
                 what_is(&p, p.pos, b, sizeof b));
        }
    }
    if (p.status != RC_OK) {
        rc_json_free(doc);
        if (err_at) *err_at = p.err_at;
        return p.status;
    }
    return RC_OK;
}

int rc_utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t left = strlen(s);
    while (left) {
        size_t n = 1;
        if (*u >= 0x80 && !(n = utf8_seq(u, left))) return 0;
        u += n, left -= n;
    }
    return 1;
}

void rc_sbuf_append(rc_sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n + 1 > b->cap - b->n || !b->p) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void rc_sbuf_printf(rc_sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        b->oom = 1; /* only used for short pieces */
        return;
    }
    rc_sbuf_append(b, tmp, (size_t)k);
}

void rc_sbuf_free(rc_sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void rc_json_append_string(rc_sbuf *b, const char *s)
{
    rc_sbuf_append(b, "\"", 1);
    const unsigned char *c = (const unsigned char *)s;
    while (*c) {
        /* Copy the run of characters that need no escape in one go. */
        size_t run = 0;
        while (c[run] && c[run] >= 0x20 && c[run] != '"' && c[run] != '\\') run++;
        rc_sbuf_append(b, (const char *)c, run);
        c += run;
        if (!*c) break;
        switch (*c) {
        case '"': rc_sbuf_append(b, "\\\"", 2); break;
        case '\\': rc_sbuf_append(b, "\\\\", 2); break;
        case '\n': rc_sbuf_append(b, "\\n", 2); break;
        case '\r': rc_sbuf_append(b, "\\r", 2); break;
        case '\t': rc_sbuf_append(b, "\\t", 2); break;
        default: rc_sbuf_printf(b, "\\u%04x", *c);
        }
        c++;
    }
    rc_sbuf_append(b, "\"", 1);
}
