/*
 * npy.c - NumPy .npy arrays: reading float and integer arrays, writing
 * float32 and int32 ones.
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), then
 * the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ending in '\n', then the raw data in C order.
 */
#include "io.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

typedef struct npy_info {
    char kind;     /* 'f', 'i', 'u', 'b' */
    int size;      /* bytes per element */
    char descr[16];
    int ndim;
    int shape[RC_MAX_DIMS];
    size_t numel;
    const unsigned char *data;
} npy_info;

/* The header parser: a small subset of Python literals. */
typedef struct hdr {
    const char *fn, *path;
    const unsigned char *s;
    size_t len, pos, base; /* base: file offset of s[0] */
} hdr;

static rc_status hdr_fail(const hdr *h, const char *fmt, ...) RC_PRINTF(2, 3);

static rc_status hdr_fail(const hdr *h, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rc_error(RC_ERR_FORMAT, "%s: %s: header byte %zu: %s", h->fn, h->path,
                    h->base + h->pos, msg);
}

static void hdr_ws(hdr *h)
{
    while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\t' ||
                               h->s[h->pos] == '\n' || h->s[h->pos] == '\r'))
        h->pos++;
}

static int hdr_peek(const hdr *h) { return h->pos < h->len ? h->s[h->pos] : -1; }

/* A quoted string without escapes into out (n bytes). */
static rc_status hdr_string(hdr *h, char *out, size_t n)
{
    int q = hdr_peek(h);
    if (q != '\'' && q != '"') return hdr_fail(h, "expected a quoted string");
    const unsigned char *end = memchr(h->s + h->pos + 1, q, h->len - h->pos - 1);
    if (!end) return hdr_fail(h, "unterminated string");
    size_t k = (size_t)(end - (h->s + h->pos + 1));
    if (memchr(h->s + h->pos + 1, '\\', k)) return hdr_fail(h, "escapes in strings are not supported");
    if (k + 1 > n) return hdr_fail(h, "string too long");
    memcpy(out, h->s + h->pos + 1, k);
    out[k] = '\0';
    h->pos += k + 2;
    return RC_OK;
}

static rc_status hdr_expect(hdr *h, char c)
{
    hdr_ws(h);
    if (hdr_peek(h) != c) return hdr_fail(h, "expected '%c'", c);
    h->pos++;
    return RC_OK;
}

/* (d0, d1, ...) with an optional trailing comma; Python 2's 3L allowed. */
static rc_status hdr_shape(hdr *h, npy_info *a)
{
    rc_status s = hdr_expect(h, '(');
    if (s) return s;
    a->ndim = 0;
    for (;;) {
        hdr_ws(h);
        if (hdr_peek(h) == ')') {
            h->pos++;
            return RC_OK;
        }
        int c = hdr_peek(h);
        if (c < '0' || c > '9') return hdr_fail(h, "expected a non-negative integer in the shape");
        long long v = 0;
        size_t at = h->pos;
        while ((c = hdr_peek(h)) >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            if (v > INT_MAX) {
                h->pos = at;
                return hdr_fail(h, "dimension larger than %d", INT_MAX);
            }
            h->pos++;
        }
        if (hdr_peek(h) == 'L') h->pos++;
        if (a->ndim == RC_MAX_DIMS) {
            h->pos = at;
            return hdr_fail(h, "more than %d dimensions (recur tensors have 1 to %d)",
                            RC_MAX_DIMS, RC_MAX_DIMS);
        }
        a->shape[a->ndim++] = (int)v;
        hdr_ws(h);
        if (hdr_peek(h) == ',') h->pos++;
        else if (hdr_peek(h) != ')') return hdr_fail(h, "expected ',' or ')' in the shape");
    }
}

/* Parses descr into a's kind and size. */
static rc_status parse_descr(hdr *h, const char *d, npy_info *a)
{
    snprintf(a->descr, sizeof a->descr, "%s", d);
    char order = d[0], kind = order ? d[1] : 0;
    long size = 0;
    if ((order == '<' || order == '>' || order == '|' || order == '=') && kind &&
        d[2] >= '1' && d[2] <= '9' && strlen(d + 2) == 1)
        size = d[2] - '0';
    int ok = (kind == 'f' && (size == 2 || size == 4 || size == 8)) ||
             ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (kind == 'b' && size == 1);
    if (!ok)
        return hdr_fail(h, "unsupported dtype '%s' (recur reads float16/32/64, integers and "
                        "bool)", d);
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    if (size > 1 && (order == '>' || (order == '=' && first != 1)))
        return hdr_fail(h, "big-endian data ('%s') is not supported", d);
    a->kind = kind;
    a->size = (int)size;
    return RC_OK;
}

static rc_status parse_header(hdr *h, npy_info *a)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    rc_status s = hdr_expect(h, '{');
    if (s) return s;
    for (;;) {
        hdr_ws(h);
        if (hdr_peek(h) == '}') {
            h->pos++;
            break;
        }
        char key[32];
        size_t key_at = h->pos;
        if ((s = hdr_string(h, key, sizeof key))) return s;
        if ((s = hdr_expect(h, ':'))) return s;
        hdr_ws(h);
        if (!strcmp(key, "descr")) {
            if (have_descr++) return h->pos = key_at, hdr_fail(h, "'descr' appears twice");
            if (hdr_peek(h) == '[')
                return hdr_fail(h, "structured dtypes (a list as descr) are not supported");
            char d[16];
            size_t at = h->pos;
            if ((s = hdr_string(h, d, sizeof d))) return s;
            size_t after = h->pos;
            h->pos = at; /* errors point at the string */
            if ((s = parse_descr(h, d, a))) return s;
            h->pos = after;
        } else if (!strcmp(key, "fortran_order")) {
            if (have_order++) return h->pos = key_at, hdr_fail(h, "'fortran_order' appears twice");
            if (h->len - h->pos >= 4 && !memcmp(h->s + h->pos, "True", 4))
                return hdr_fail(h, "fortran_order is True: recur reads C-order arrays only "
                                "(save np.ascontiguousarray(a))");
            if (h->len - h->pos < 5 || memcmp(h->s + h->pos, "False", 5))
                return hdr_fail(h, "fortran_order must be True or False");
            h->pos += 5;
        } else if (!strcmp(key, "shape")) {
            if (have_shape++) return h->pos = key_at, hdr_fail(h, "'shape' appears twice");
            if ((s = hdr_shape(h, a))) return s;
        } else {
            h->pos = key_at;
            return hdr_fail(h, "unknown key '%s' (expected descr, fortran_order, shape)", key);
        }
        hdr_ws(h);
        if (hdr_peek(h) == ',') h->pos++;
        else if (hdr_peek(h) != '}') return hdr_fail(h, "expected ',' or '}'");
    }
    hdr_ws(h);
    if (h->pos < h->len) return hdr_fail(h, "unexpected text after the header's dict");
    if (!have_descr || !have_order || !have_shape)
        return hdr_fail(h, "the header has no '%s'",
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return RC_OK;
}

/* Reads the file into *buf and describes its array in a. */
static rc_status npy_load(const char *fn, const char *path, unsigned char **buf, npy_info *a)
{
    size_t len;
    memset(a, 0, sizeof *a);
    rc_status s = rc_read_file(fn, path, buf, &len);
    if (s) return s;
    const unsigned char *b = *buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: not a .npy file (%s)", fn, path,
                     len < 10 ? "too short" : "no \\x93NUMPY magic");
        goto fail;
    }
    int major = b[6];
    size_t hstart, hlen;
    if (major == 1) hstart = 10, hlen = rc_le16(b + 8);
    else if (major == 2 || major == 3) {
        if (len < 12) {
            s = rc_error(RC_ERR_FORMAT, "%s: %s: truncated in the header length", fn, path);
            goto fail;
        }
        hstart = 12, hlen = rc_le32(b + 8);
    } else {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: unsupported .npy format version %d.%d", fn, path,
                     major, b[7]);
        goto fail;
    }
    if (hlen > len - hstart) {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: header length %zu runs past the end of the file "
                     "(%zu bytes)", fn, path, hlen, len);
        goto fail;
    }
    hdr h = {fn, path, b + hstart, hlen, 0, hstart};
    if ((s = parse_header(&h, a))) goto fail;
    if (a->ndim == 0) {
        s = rc_error(RC_ERR_SHAPE, "%s: %s: a 0-d array (a scalar); recur needs 1 to %d "
                     "dimensions", fn, path, RC_MAX_DIMS);
        goto fail;
    }
    size_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < a->ndim; i++) {
        size_t d = (size_t)a->shape[i];
        if (d && numel > SIZE_MAX / d) overflow = 1;
        else numel *= d;
    }
    if (numel == 0) overflow = 0;
    char sb[64];
    rc_shape_str(a->ndim, a->shape, sb, sizeof sb);
    size_t have = len - hstart - hlen;
    if (overflow || numel > SIZE_MAX / (size_t)a->size) {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: shape %s is too large", fn, path, sb);
        goto fail;
    }
    size_t need = numel * (size_t)a->size;
    if (have != need) {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: %zu bytes of data, but shape %s of '%s' needs "
                     "%zu%s", fn, path, have, sb, a->descr, need,
                     have < need ? " (truncated?)" : "");
        goto fail;
    }
    a->numel = numel;
    a->data = b + hstart + hlen;
    return RC_OK;
fail:
    free(*buf);
    *buf = NULL;
    return s;
}

rc_status rc_npy_read(const char *path, rc_tensor *out)
{
    const char *fn = "npy_read";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    npy_info a;
    rc_status s = npy_load(fn, path, &buf, &a);
    if (s) return s;
    if (a.kind != 'f') {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: dtype '%s' is not floating point (use "
                     "rc_npy_read_int for integers)", fn, path, a.descr);
        free(buf);
        return s;
    }
    s = rc_tensor_alloc(out, a.ndim, a.shape);
    if (!s) rc_decode_floats(out->data, a.data, a.numel, a.size, 0);
    free(buf);
    return s;
}

rc_status rc_npy_read_int(const char *path, int32_t **data, int *ndim, int shape[RC_MAX_DIMS])
{
    const char *fn = "npy_read_int";
    if (!data || !ndim || !shape) return rc_error(RC_ERR_ARG, "%s: NULL output", fn);
    *data = NULL;
    *ndim = 0;
    unsigned char *buf;
    npy_info a;
    rc_status s = npy_load(fn, path, &buf, &a);
    if (s) return s;
    if (a.kind == 'f') {
        s = rc_error(RC_ERR_FORMAT, "%s: %s: dtype '%s' is floating point, expected integers "
                     "(use rc_npy_read)", fn, path, a.descr);
        free(buf);
        return s;
    }
    int32_t *d = malloc(a.numel ? a.numel * sizeof *d : 1);
    if (!d) {
        free(buf);
        return rc_error(RC_ERR_NOMEM, "%s: %s: cannot allocate %zu ints", fn, path, a.numel);
    }
    int sign = a.kind == 'i';
    for (size_t i = 0; i < a.numel; i++) {
        const unsigned char *p = a.data + i * (size_t)a.size;
        uint64_t u;
        switch (a.size) {
        case 1: u = p[0]; break;
        case 2: u = rc_le16(p); break;
        case 4: u = rc_le32(p); break;
        default: u = rc_le64(p); break;
        }
        int64_t v;
        if (sign) {
            /* Sign-extend from the element's width. */
            int bits = 8 * a.size;
            if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~(uint64_t)0 << bits;
            memcpy(&v, &u, sizeof v);
            if (v < INT32_MIN || v > INT32_MAX) goto range;
        } else {
            if (u > INT32_MAX) goto range;
            v = (int64_t)u;
        }
        d[i] = (int32_t)v;
        continue;
    range:
        if (sign) {
            memcpy(&v, &u, sizeof v);
            s = rc_error(RC_ERR_RANGE, "%s: %s: value %lld at index %zu does not fit in int32",
                         fn, path, (long long)v, i);
        } else {
            s = rc_error(RC_ERR_RANGE, "%s: %s: value %llu at index %zu does not fit in int32",
                         fn, path, (unsigned long long)u, i);
        }
        free(d);
        free(buf);
        return s;
    }
    free(buf);
    *data = d;
    *ndim = a.ndim;
    for (int i = 0; i < RC_MAX_DIMS; i++) shape[i] = i < a.ndim ? a.shape[i] : 0;
    return RC_OK;
}

/* Writes a version 1.0 file of `count` 4-byte elements given as words. */
static rc_status npy_write(const char *fn, const char *path, const char *descr, int ndim,
                           const int *shape, const void *data, size_t count)
{
    char h[256];
    int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(h + k, sizeof h - (size_t)k, i ? ", %d" : "%d", shape[i]);
    k += snprintf(h + k, sizeof h - (size_t)k, ndim == 1 ? ",), }" : "), }");
    /* Pad with spaces and a final newline so the data starts at a
     * multiple of 64 bytes, as NumPy does. */
    size_t total = 10 + (size_t)k + 1;
    size_t padded = (total + 63) / 64 * 64;
    memset(h + k, ' ', padded - total);
    k += (int)(padded - total);
    h[k++] = '\n';
    unsigned char pre[10];
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    pre[8] = (unsigned char)(k & 0xff);
    pre[9] = (unsigned char)(k >> 8);

    rc_atomic_file af;
    rc_status s = rc_atomic_open(&af, fn, path);
    if (s) return s;
    int bad = fwrite(pre, 1, 10, af.f) != 10 || fwrite(h, 1, (size_t)k, af.f) != (size_t)k;
    const unsigned char *src = data;
    unsigned char buf[4096];
    for (size_t done = 0; done < count && !bad;) {
        size_t n = count - done < sizeof buf / 4 ? count - done : sizeof buf / 4;
        for (size_t i = 0; i < n; i++) {
            uint32_t w;
            memcpy(&w, src + 4 * (done + i), 4);
            rc_put_le32(buf + 4 * i, w);
        }
        bad = fwrite(buf, 4, n, af.f) != n;
        done += n;
    }
    if (bad) {
        s = rc_error(RC_ERR_IO, "%s: cannot write %s: %s", fn, af.tmp, strerror(errno));
        rc_atomic_abort(&af);
        return s;
    }
    return rc_atomic_commit(&af, fn);
}

static rc_status check_shape(const char *fn, const char *path, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > RC_MAX_DIMS || !shape)
        return rc_error(RC_ERR_ARG, "%s: %s: need 1 to %d dimensions, got %d", fn,
                        path ? path : "(null)", RC_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return rc_error(RC_ERR_ARG, "%s: %s: dimension %d is negative (%d)", fn,
                            path ? path : "(null)", i, shape[i]);
    return RC_OK;
}

rc_status rc_npy_write(const char *path, const rc_tensor *t)
{
    const char *fn = "npy_write";
    if (!t) return rc_error(RC_ERR_ARG, "%s: no tensor given", fn);
    rc_status s = check_shape(fn, path, t->ndim, t->shape);
    if (s) return s;
    if (rc_shape_size(t->ndim, t->shape) != t->size || (t->size && !t->data))
        return rc_error(RC_ERR_ARG, "%s: %s: malformed tensor (size %zu, data %s)", fn,
                        path ? path : "(null)", t->size, t->data ? "set" : "NULL");
    return npy_write(fn, path, "<f4", t->ndim, t->shape, t->data, t->size);
}

rc_status rc_npy_write_int(const char *path, const int32_t *data, int ndim, const int *shape)
{
    const char *fn = "npy_write_int";
    rc_status s = check_shape(fn, path, ndim, shape);
    if (s) return s;
    size_t n = rc_shape_size(ndim, shape);
    if (n && !data) return rc_error(RC_ERR_ARG, "%s: %s: data is NULL", fn, path ? path : "(null)");
    return npy_write(fn, path, "<i4", ndim, shape, data, n);
}
