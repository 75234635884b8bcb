/*
 * safetensors.c - the model file: reading and writing safetensors.
 *
 * Layout: 8 bytes N (little-endian), N bytes of JSON header, then the data.
 * The header maps each tensor name to {"dtype", "shape", "data_offsets"}
 * (offsets relative to the start of the data), plus an optional
 * "__metadata__" object of string values. Reading takes the whole file into
 * memory and validates everything up front, so that rc_safetensors_get can
 * only fail for a missing tensor, an unsupported dtype or a shape recur
 * cannot hold.
 */
#include "io.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>

/* The reference implementation's limit on the header. */
#define MAX_HEADER_BYTES 100000000u

typedef struct dtype_info {
    const char *name;
    int size;  /* bytes per element */
    int float_kind; /* 0: not readable as float; 1 float; 2 bf16 */
} dtype_info;

static const dtype_info dtypes[] = {
    {"F32", 4, 1},  {"F64", 8, 1},      {"F16", 2, 1},      {"BF16", 2, 2},
    {"I8", 1, 0},   {"U8", 1, 0},       {"I16", 2, 0},      {"U16", 2, 0},
    {"I32", 4, 0},  {"U32", 4, 0},      {"I64", 8, 0},      {"U64", 8, 0},
    {"BOOL", 1, 0}, {"F8_E4M3", 1, 0},  {"F8_E5M2", 1, 0},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

typedef struct st_entry {
    const char *name;
    int dtype;              /* index into dtypes */
    int ndim;               /* as in the file (may exceed RC_MAX_DIMS) */
    int shape[RC_MAX_DIMS]; /* the first RC_MAX_DIMS dimensions */
    size_t numel;
    size_t begin, end;      /* byte range in the data */
} st_entry;

struct rc_safetensors {
    char *path;
    unsigned char *buf; /* the whole file */
    size_t len;
    size_t data_at;     /* 8 + N */
    char *strings;      /* the header's decoded strings (names, metadata) */
    int n;
    st_entry *e;        /* in data order */
    int *by_name;       /* indices into e, sorted by name */
    int n_meta;
    const char **meta_key, **meta_val; /* header order */
};

/* Long names from a hostile file are cut short in messages. */
#define NAME_FMT "'%.80s%s'"
#define NAME_ARG(s) (s), (strlen(s) > 80 ? "..." : "")

/* ------------------------------------------------------------- open -- */

typedef struct loader {
    rc_safetensors *st;
    const rc_json *doc;
    const char *path;
} loader;

/* Byte offset in the file of a header node. */
static size_t file_at(const loader *L, uint32_t node)
{
    return 8 + (size_t)L->doc->nodes[node].at;
}

static rc_status bad(const loader *L, uint32_t node, const char *fmt, ...) RC_PRINTF(3, 4);

static rc_status bad(const loader *L, uint32_t node, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rc_error(RC_ERR_FORMAT, "safetensors_open: %s: byte %zu: %s", L->path,
                    file_at(L, node), msg);
}

static int find_dtype(const char *s)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(dtypes[i].name, s)) return i;
    return -1;
}

static rc_status load_metadata(loader *L, uint32_t obj)
{
    const rc_json *d = L->doc;
    if (d->nodes[obj].type == RC_JSON_NULL) return RC_OK;
    if (d->nodes[obj].type != RC_JSON_OBJECT)
        return bad(L, obj, "__metadata__ is %s, expected an object of strings",
                   rc_json_type_name(d->nodes[obj].type));
    uint32_t m = d->nodes[obj].len / 2;
    rc_safetensors *st = L->st;
    st->meta_key = malloc((m ? m : 1) * sizeof *st->meta_key);
    st->meta_val = malloc((m ? m : 1) * sizeof *st->meta_val);
    if (!st->meta_key || !st->meta_val)
        return rc_error(RC_ERR_NOMEM, "safetensors_open: %s: out of memory", L->path);
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t v = k + 1;
        const char *key = rc_json_str(d, k);
        if (d->nodes[v].type != RC_JSON_STRING)
            return bad(L, v, "__metadata__ value " NAME_FMT " is %s, expected a string",
                       NAME_ARG(key), rc_json_type_name(d->nodes[v].type));
        for (int j = 0; j < st->n_meta; j++)
            if (!strcmp(st->meta_key[j], key))
                return bad(L, k, "__metadata__ key " NAME_FMT " appears twice", NAME_ARG(key));
        st->meta_key[st->n_meta] = key;
        st->meta_val[st->n_meta] = rc_json_str(d, v);
        st->n_meta++;
        k = d->nodes[v].end;
    }
    return RC_OK;
}

/* An integer node in [lo, hi]; else an error naming what it is. */
static rc_status get_int(const loader *L, uint32_t node, int64_t lo, int64_t hi,
                         const char *tensor, const char *field, int64_t *out)
{
    const rc_json_node *nd = &L->doc->nodes[node];
    if (nd->type != RC_JSON_NUMBER)
        return bad(L, node, "tensor " NAME_FMT ": %s holds %s, expected an integer",
                   NAME_ARG(tensor), field, rc_json_type_name(nd->type));
    if (!nd->is_int || nd->i < lo || nd->i > hi)
        return bad(L, node, "tensor " NAME_FMT ": %s holds a number that is not an "
                   "integer in [%lld, %lld]", NAME_ARG(tensor), field, (long long)lo,
                   (long long)hi);
    *out = nd->i;
    return RC_OK;
}

static rc_status load_entry(loader *L, uint32_t keynode, uint32_t obj, st_entry *e)
{
    const rc_json *d = L->doc;
    const char *name = rc_json_str(d, keynode);
    e->name = name;
    if (!name[0]) return bad(L, keynode, "a tensor has an empty name");
    if (d->nodes[obj].type != RC_JSON_OBJECT)
        return bad(L, obj, "tensor " NAME_FMT " is %s, expected an object with dtype, "
                   "shape and data_offsets", NAME_ARG(name),
                   rc_json_type_name(d->nodes[obj].type));
    uint32_t dt = 0, sh = 0, off = 0;
    uint32_t k = obj + 1, m = d->nodes[obj].len / 2;
    for (uint32_t i = 0; i < m; i++) {
        const char *key = rc_json_str(d, k);
        uint32_t *slot = !strcmp(key, "dtype")          ? &dt
                         : !strcmp(key, "shape")        ? &sh
                         : !strcmp(key, "data_offsets") ? &off
                                                        : NULL;
        if (!slot)
            return bad(L, k, "tensor " NAME_FMT ": unknown field " NAME_FMT
                       " (expected dtype, shape, data_offsets)", NAME_ARG(name), NAME_ARG(key));
        if (*slot) return bad(L, k, "tensor " NAME_FMT ": field %s appears twice",
                              NAME_ARG(name), key);
        *slot = k + 1;
        k = d->nodes[k + 1].end;
    }
    if (!dt || !sh || !off)
        return bad(L, obj, "tensor " NAME_FMT ": missing field %s", NAME_ARG(name),
                   !dt ? "dtype" : !sh ? "shape" : "data_offsets");

    if (d->nodes[dt].type != RC_JSON_STRING)
        return bad(L, dt, "tensor " NAME_FMT ": dtype is %s, expected a string",
                   NAME_ARG(name), rc_json_type_name(d->nodes[dt].type));
    e->dtype = find_dtype(rc_json_str(d, dt));
    if (e->dtype < 0)
        return bad(L, dt, "tensor " NAME_FMT ": unknown dtype " NAME_FMT, NAME_ARG(name),
                   NAME_ARG(rc_json_str(d, dt)));

    if (d->nodes[sh].type != RC_JSON_ARRAY)
        return bad(L, sh, "tensor " NAME_FMT ": shape is %s, expected an array of integers",
                   NAME_ARG(name), rc_json_type_name(d->nodes[sh].type));
    if (d->nodes[sh].len > 64)
        return bad(L, sh, "tensor " NAME_FMT ": shape has %u dimensions", NAME_ARG(name),
                   (unsigned)d->nodes[sh].len);
    e->ndim = (int)d->nodes[sh].len;
    size_t numel = 1;
    int overflow = 0;
    for (int i = 0; i < e->ndim; i++) {
        int64_t v;
        rc_status s = get_int(L, sh + 1 + (uint32_t)i, 0, INT_MAX, name, "shape", &v);
        if (s) return s;
        if (i < RC_MAX_DIMS) e->shape[i] = (int)v;
        if (v && numel > SIZE_MAX / (size_t)v) overflow = 1;
        else numel *= (size_t)v;
    }
    size_t esize = (size_t)dtypes[e->dtype].size;
    if (numel == 0) overflow = 0; /* a zero dimension anywhere: no data */
    if (overflow || numel > SIZE_MAX / esize)
        return bad(L, sh, "tensor " NAME_FMT ": the shape's size overflows", NAME_ARG(name));
    e->numel = numel;

    if (d->nodes[off].type != RC_JSON_ARRAY || d->nodes[off].len != 2)
        return bad(L, off, "tensor " NAME_FMT ": data_offsets must be an array of two "
                   "integers [begin, end]", NAME_ARG(name));
    size_t data_len = L->st->len - L->st->data_at;
    int64_t b, en;
    rc_status s = get_int(L, off + 1, 0, INT64_MAX, name, "data_offsets", &b);
    if (!s) s = get_int(L, off + 2, 0, INT64_MAX, name, "data_offsets", &en);
    if (s) return s;
    if (b > en)
        return bad(L, off, "tensor " NAME_FMT ": data_offsets [%lld, %lld] end before "
                   "they begin", NAME_ARG(name), (long long)b, (long long)en);
    if ((uint64_t)en > (uint64_t)data_len)
        return bad(L, off, "tensor " NAME_FMT ": data_offsets [%lld, %lld] run past the "
                   "end of the data (%zu bytes; is the file truncated?)", NAME_ARG(name),
                   (long long)b, (long long)en, data_len);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    if (e->end - e->begin != numel * esize) {
        char sb[64];
        int nd = e->ndim < RC_MAX_DIMS ? e->ndim : RC_MAX_DIMS;
        rc_shape_str(nd, e->shape, sb, sizeof sb);
        if (e->ndim == 0) snprintf(sb, sizeof sb, "[] (a scalar)");
        return bad(L, off, "tensor " NAME_FMT ": data_offsets [%lld, %lld] hold %zu bytes, "
                   "but %s %s needs %zu", NAME_ARG(name), (long long)b, (long long)en,
                   e->end - e->begin, dtypes[e->dtype].name, sb, numel * esize);
    }
    return RC_OK;
}

static int by_offset_cmp(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorts the entries by name with a merge sort (no global state, so two
 * threads may open files at once). */
static void sort_names(const st_entry *e, int *idx, int *tmp, int n)
{
    if (n < 2) return;
    int h = n / 2;
    sort_names(e, idx, tmp, h);
    sort_names(e, idx + h, tmp, n - h);
    int i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = strcmp(e[idx[i]].name, e[idx[j]].name) <= 0 ? idx[i++] : idx[j++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, (size_t)n * sizeof *idx);
}

static rc_status load_header(loader *L)
{
    rc_safetensors *st = L->st;
    const rc_json *d = L->doc;
    if (d->nodes[0].type != RC_JSON_OBJECT)
        return bad(L, 0, "the header is %s, expected an object",
                   rc_json_type_name(d->nodes[0].type));
    uint32_t m = d->nodes[0].len / 2;
    st->e = calloc(m ? m : 1, sizeof *st->e);
    st->by_name = malloc((m ? m : 1) * sizeof *st->by_name);
    if (!st->e || !st->by_name)
        return rc_error(RC_ERR_NOMEM, "safetensors_open: %s: out of memory for %u tensors",
                        L->path, (unsigned)m);
    int have_meta = 0;
    uint32_t k = 1;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t v = k + 1;
        if (!strcmp(rc_json_str(d, k), "__metadata__")) {
            if (have_meta) return bad(L, k, "__metadata__ appears twice");
            have_meta = 1;
            rc_status s = load_metadata(L, v);
            if (s) return s;
        } else {
            rc_status s = load_entry(L, k, v, &st->e[st->n]);
            if (s) return s;
            st->n++;
        }
        k = d->nodes[v].end;
    }

    /* Data order, then overlaps: a non-empty tensor must start at or after
     * the end of every non-empty tensor before it. */
    qsort(st->e, (size_t)st->n, sizeof *st->e, by_offset_cmp);
    const st_entry *last = NULL;
    for (int i = 0; i < st->n; i++) {
        const st_entry *e = &st->e[i];
        if (e->begin == e->end) continue;
        if (last && e->begin < last->end)
            return rc_error(RC_ERR_FORMAT, "safetensors_open: %s: tensors " NAME_FMT
                            " [%zu, %zu] and " NAME_FMT " [%zu, %zu] overlap", L->path,
                            NAME_ARG(last->name), last->begin, last->end, NAME_ARG(e->name),
                            e->begin, e->end);
        last = e;
    }

    int *tmp = malloc((m ? (size_t)m : 1) * sizeof *tmp);
    if (!tmp) return rc_error(RC_ERR_NOMEM, "safetensors_open: %s: out of memory", L->path);
    for (int i = 0; i < st->n; i++) st->by_name[i] = i;
    sort_names(st->e, st->by_name, tmp, st->n);
    free(tmp);
    for (int i = 1; i < st->n; i++)
        if (!strcmp(st->e[st->by_name[i]].name, st->e[st->by_name[i - 1]].name))
            return rc_error(RC_ERR_FORMAT, "safetensors_open: %s: tensor " NAME_FMT
                            " appears twice in the header", L->path,
                            NAME_ARG(st->e[st->by_name[i]].name));
    return RC_OK;
}

rc_status rc_safetensors_open(const char *path, rc_safetensors **out)
{
    if (!out) return rc_error(RC_ERR_ARG, "safetensors_open: out is NULL");
    *out = NULL;
    rc_safetensors *st = calloc(1, sizeof *st);
    if (!st) return rc_error(RC_ERR_NOMEM, "safetensors_open: out of memory");
    rc_status s = rc_read_file("safetensors_open", path, &st->buf, &st->len);
    if (s) {
        free(st);
        return s;
    }
    st->path = strdup(path);
    if (!st->path) {
        rc_safetensors_close(st);
        return rc_error(RC_ERR_NOMEM, "safetensors_open: out of memory");
    }
    if (st->len < 8) {
        s = rc_error(RC_ERR_FORMAT, "safetensors_open: %s: the file has %zu bytes, too "
                     "few for the 8-byte header length", path, st->len);
        rc_safetensors_close(st);
        return s;
    }
    uint64_t hlen = rc_le64(st->buf);
    if (hlen > (uint64_t)(st->len - 8)) {
        s = rc_error(RC_ERR_FORMAT, "safetensors_open: %s: header length %llu is larger "
                     "than the rest of the file (%zu bytes); truncated, or not a "
                     "safetensors file", path, (unsigned long long)hlen, st->len - 8);
        rc_safetensors_close(st);
        return s;
    }
    if (hlen > MAX_HEADER_BYTES) {
        s = rc_error(RC_ERR_FORMAT, "safetensors_open: %s: header length %llu is over the "
                     "limit of %u bytes", path, (unsigned long long)hlen, MAX_HEADER_BYTES);
        rc_safetensors_close(st);
        return s;
    }
    st->data_at = 8 + (size_t)hlen;
    if (hlen == 0 || st->buf[8] != '{') {
        s = rc_error(RC_ERR_FORMAT, "safetensors_open: %s: byte 8: the header does not "
                     "start with '{' (not a safetensors file?)", path);
        rc_safetensors_close(st);
        return s;
    }
    rc_json doc;
    char msg[200];
    size_t at;
    s = rc_json_parse(&doc, (const char *)st->buf + 8, (size_t)hlen, msg, sizeof msg, &at);
    if (s) {
        s = rc_error(s, "safetensors_open: %s: byte %zu: header is not valid JSON: %s", path,
                     8 + at, msg);
        rc_safetensors_close(st);
        return s;
    }
    loader L = {st, &doc, path};
    s = load_header(&L);
    /* Names and metadata point into the strings; the nodes can go. */
    st->strings = doc.strings;
    free(doc.nodes);
    if (s) {
        rc_safetensors_close(st);
        return s;
    }
    *out = st;
    return RC_OK;
}

void rc_safetensors_close(rc_safetensors *st)
{
    if (!st) return;
    free(st->path);
    free(st->buf);
    free(st->strings);
    free(st->e);
    free(st->by_name);
    free(st->meta_key);
    free(st->meta_val);
    free(st);
}

/* ---------------------------------------------------------- queries -- */

int rc_safetensors_count(const rc_safetensors *st) { return st ? st->n : 0; }

const char *rc_safetensors_path(const rc_safetensors *st) { return st ? st->path : NULL; }

const char *rc_safetensors_name(const rc_safetensors *st, int i)
{
    if (!st || i < 0 || i >= st->n) return NULL;
    return st->e[i].name;
}

int rc_safetensors_find(const rc_safetensors *st, const char *name)
{
    if (!st || !name) return -1;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->e[st->by_name[mid]].name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

static rc_status lookup(const rc_safetensors *st, const char *fn, const char *name,
                        const st_entry **e)
{
    if (!st || !name) return rc_error(RC_ERR_ARG, "%s: no file or no name given", fn);
    int i = rc_safetensors_find(st, name);
    if (i < 0)
        return rc_error(RC_ERR_FORMAT, "%s: %s: no tensor " NAME_FMT " (the file has %d)", fn,
                        st->path, NAME_ARG(name), st->n);
    *e = &st->e[i];
    return RC_OK;
}

const char *rc_safetensors_dtype(const rc_safetensors *st, const char *name)
{
    int i = rc_safetensors_find(st, name);
    return i < 0 ? NULL : dtypes[st->e[i].dtype].name;
}

rc_status rc_safetensors_shape(const rc_safetensors *st, const char *name, int *ndim,
                               int shape[RC_MAX_DIMS])
{
    const st_entry *e = NULL;
    rc_status s = lookup(st, "safetensors_shape", name, &e);
    if (s) return s;
    if (ndim) *ndim = e->ndim;
    if (shape)
        for (int i = 0; i < RC_MAX_DIMS; i++) shape[i] = i < e->ndim ? e->shape[i] : 0;
    if (e->ndim > RC_MAX_DIMS)
        return rc_error(RC_ERR_SHAPE, "safetensors_shape: %s: tensor " NAME_FMT " has %d "
                        "dimensions; recur tensors have at most %d", st->path,
                        NAME_ARG(name), e->ndim, RC_MAX_DIMS);
    return RC_OK;
}

rc_status rc_safetensors_get(const rc_safetensors *st, const char *name, rc_tensor *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "safetensors_get: out is NULL");
    memset(out, 0, sizeof *out);
    const st_entry *e = NULL;
    rc_status s = lookup(st, "safetensors_get", name, &e);
    if (s) return s;
    const dtype_info *dt = &dtypes[e->dtype];
    if (!dt->float_kind)
        return rc_error(RC_ERR_FORMAT, "safetensors_get: %s: tensor " NAME_FMT " has dtype "
                        "%s; recur reads F32, F64, F16 and BF16", st->path, NAME_ARG(name),
                        dt->name);
    if (e->ndim < 1 || e->ndim > RC_MAX_DIMS)
        return rc_error(RC_ERR_SHAPE, "safetensors_get: %s: tensor " NAME_FMT " has %d "
                        "dimensions; recur tensors have 1 to %d", st->path, NAME_ARG(name),
                        e->ndim, RC_MAX_DIMS);
    s = rc_tensor_alloc(out, e->ndim, e->shape);
    if (s) return s;
    rc_decode_floats(out->data, st->buf + st->data_at + e->begin, e->numel, dt->size,
                     dt->float_kind == 2);
    return RC_OK;
}

rc_status rc_safetensors_get_expect(const rc_safetensors *st, const char *name, int ndim,
                                    const int *shape, rc_tensor *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "safetensors_get_expect: out is NULL");
    memset(out, 0, sizeof *out);
    if (ndim < 1 || ndim > RC_MAX_DIMS || !shape)
        return rc_error(RC_ERR_ARG, "safetensors_get_expect: need 1 to %d expected "
                        "dimensions, got %d", RC_MAX_DIMS, ndim);
    const st_entry *e = NULL;
    rc_status s = lookup(st, "safetensors_get_expect", name, &e);
    if (s) return s;
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        char got[64], want[64];
        if (e->ndim < 1) snprintf(got, sizeof got, "[] (a scalar)");
        else if (e->ndim > RC_MAX_DIMS) snprintf(got, sizeof got, "%d dimensions", e->ndim);
        else rc_shape_str(e->ndim, e->shape, got, sizeof got);
        rc_shape_str(ndim, shape, want, sizeof want);
        return rc_error(RC_ERR_SHAPE, "safetensors_get: %s: tensor " NAME_FMT " has shape "
                        "%s, expected %s", st->path, NAME_ARG(name), got, want);
    }
    return rc_safetensors_get(st, name, out);
}

int rc_safetensors_meta_count(const rc_safetensors *st) { return st ? st->n_meta : 0; }

const char *rc_safetensors_meta_key(const rc_safetensors *st, int i)
{
    if (!st || i < 0 || i >= st->n_meta) return NULL;
    return st->meta_key[i];
}

const char *rc_safetensors_meta(const rc_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_key[i], key)) return st->meta_val[i];
    return NULL;
}

static rc_status meta_value(const rc_safetensors *st, const char *fn, const char *key,
                            const char **v)
{
    if (!st || !key) return rc_error(RC_ERR_ARG, "%s: no file or no key given", fn);
    *v = rc_safetensors_meta(st, key);
    if (!*v)
        return rc_error(RC_ERR_FORMAT, "%s: %s: metadata has no " NAME_FMT, fn, st->path,
                        NAME_ARG(key));
    return RC_OK;
}

rc_status rc_safetensors_meta_int(const rc_safetensors *st, const char *key, int lo,
                                  int hi, int *out)
{
    const char *v;
    rc_status s = meta_value(st, "safetensors_meta_int", key, &v);
    if (s) return s;
    /* Plain decimal only: an optional '-', then digits. */
    const char *p = v;
    int neg = *p == '-';
    if (neg) p++;
    int ok = *p >= '0' && *p <= '9';
    long long mag = 0;
    for (; ok && *p; p++) {
        if (*p < '0' || *p > '9' || mag > (LLONG_MAX - 9) / 10) ok = 0;
        else mag = mag * 10 + (*p - '0');
    }
    long long val = neg ? -mag : mag;
    if (!ok || val < lo || val > hi)
        return rc_error(RC_ERR_FORMAT, "safetensors_meta_int: %s: metadata " NAME_FMT " is "
                        "\"%.40s\", expected an integer in [%d, %d]", st->path,
                        NAME_ARG(key), v, lo, hi);
    if (out) *out = (int)val;
    return RC_OK;
}

rc_status rc_safetensors_meta_bool(const rc_safetensors *st, const char *key, int *out)
{
    const char *v;
    rc_status s = meta_value(st, "safetensors_meta_bool", key, &v);
    if (s) return s;
    int b;
    if (!strcmp(v, "true")) b = 1;
    else if (!strcmp(v, "false")) b = 0;
    else
        return rc_error(RC_ERR_FORMAT, "safetensors_meta_bool: %s: metadata " NAME_FMT " is "
                        "\"%.40s\", expected \"true\" or \"false\"", st->path,
                        NAME_ARG(key), v);
    if (out) *out = b;
    return RC_OK;
}

rc_status rc_safetensors_meta_float(const rc_safetensors *st, const char *key, float *out)
{
    const char *v;
    rc_status s = meta_value(st, "safetensors_meta_float", key, &v);
    if (s) return s;
    /* Decimal numbers only ("0.25", "1e-3"): no hex, inf or nan. strtod
     * reads the locale's decimal point, so '.' is swapped for it first:
     * a program that set a comma-decimal locale still reads "0.25". */
    int ok = *v != '\0';
    for (const char *p = v; ok && *p; p++)
        if (!strchr("0123456789+-.eE", *p)) ok = 0;
    double d = 0;
    const char *dp = localeconv()->decimal_point;
    size_t dpn = dp && *dp ? strlen(dp) : 1;
    char buf[128];
    if (ok && strlen(v) * dpn < sizeof buf) {
        size_t k = 0;
        for (const char *p = v; *p; p++) {
            if (*p == '.' && dp && *dp) memcpy(buf + k, dp, dpn), k += dpn;
            else buf[k++] = *p;
        }
        buf[k] = '\0';
        char *end;
        errno = 0;
        d = strtod(buf, &end);
        ok = end != buf && *end == '\0' && errno != ERANGE;
    } else {
        ok = 0;
    }
    if (!ok)
        return rc_error(RC_ERR_FORMAT, "safetensors_meta_float: %s: metadata " NAME_FMT " is "
                        "\"%.40s\", expected a decimal number", st->path, NAME_ARG(key), v);
    if (out) *out = rc_double_to_float(d);
    return RC_OK;
}

/* ------------------------------------------------------------ write -- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names must be non-empty valid UTF-8 and distinct. */
static rc_status check_names(const char *path, const char *what, int n,
                             const char *const *names, int tensors)
{
    if (n == 0) return RC_OK;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) return rc_error(RC_ERR_NOMEM, "safetensors_write: %s: out of memory", path);
    rc_status st = RC_OK;
    for (int i = 0; i < n && !st; i++) {
        s[i] = names[i];
        if (!names[i])
            st = rc_error(RC_ERR_ARG, "safetensors_write: %s: %s %d is NULL", path, what, i);
        else if (!names[i][0])
            st = rc_error(RC_ERR_ARG, "safetensors_write: %s: %s %d is empty", path, what, i);
        else if (!rc_utf8_valid(names[i]))
            st = rc_error(RC_ERR_ARG, "safetensors_write: %s: %s %d is not valid UTF-8", path,
                          what, i);
        else if (tensors && !strcmp(names[i], "__metadata__"))
            st = rc_error(RC_ERR_ARG, "safetensors_write: %s: a tensor cannot be named "
                          "__metadata__", path);
    }
    if (!st) {
        qsort(s, (size_t)n, sizeof *s, cmp_str);
        for (int i = 1; i < n && !st; i++)
            if (!strcmp(s[i], s[i - 1]))
                st = rc_error(RC_ERR_ARG, "safetensors_write: %s: %s " NAME_FMT
                              " given twice", path, what, NAME_ARG(s[i]));
    }
    free(s);
    return st;
}

static int write_floats_le(FILE *f, const float *x, size_t n)
{
    unsigned char buf[4096];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < sizeof buf / 4 ? n - done : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) rc_put_le32(buf + 4 * i, rc_bits_from_f32(x[done + i]));
        if (fwrite(buf, 4, k, f) != k) return -1;
        done += k;
    }
    return 0;
}

rc_status rc_safetensors_write(const char *path, int n, const char *const *names,
                               const rc_tensor *const *tensors, int n_meta,
                               const char *const *meta_keys, const char *const *meta_values)
{
    const char *fn = "safetensors_write";
    if (!path || !*path) return rc_error(RC_ERR_ARG, "%s: no path given", fn);
    if (n < 0 || n_meta < 0 || (n && (!names || !tensors)) ||
        (n_meta && (!meta_keys || !meta_values)))
        return rc_error(RC_ERR_ARG, "%s: %s: bad counts or NULL arrays (n=%d, n_meta=%d)",
                        fn, path, n, n_meta);
    rc_status s = check_names(path, "tensor name", n, names, 1);
    if (!s) s = check_names(path, "metadata key", n_meta, meta_keys, 0);
    if (s) return s;
    for (int i = 0; i < n; i++) {
        const rc_tensor *t = tensors[i];
        if (!t)
            return rc_error(RC_ERR_ARG, "%s: %s: tensor " NAME_FMT " is NULL", fn, path,
                            NAME_ARG(names[i]));
        if (t->ndim < 1 || t->ndim > RC_MAX_DIMS || rc_shape_size(t->ndim, t->shape) != t->size ||
            (t->size && !t->data))
            return rc_error(RC_ERR_ARG, "%s: %s: tensor " NAME_FMT " is malformed (ndim %d, "
                            "size %zu, data %s)", fn, path, NAME_ARG(names[i]), t->ndim,
                            t->size, t->data ? "set" : "NULL");
    }
    for (int i = 0; i < n_meta; i++)
        if (!meta_values[i] || !rc_utf8_valid(meta_values[i]))
            return rc_error(RC_ERR_ARG, "%s: %s: metadata value of " NAME_FMT " is %s", fn,
                            path, NAME_ARG(meta_keys[i]),
                            meta_values[i] ? "not valid UTF-8" : "NULL");

    /* The header. */
    rc_sbuf h = {0};
    rc_sbuf_append(&h, "{", 1);
    if (n_meta) {
        rc_sbuf_printf(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) rc_sbuf_append(&h, ",", 1);
            rc_json_append_string(&h, meta_keys[i]);
            rc_sbuf_append(&h, ":", 1);
            rc_json_append_string(&h, meta_values[i]);
        }
        rc_sbuf_append(&h, "}", 1);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const rc_tensor *t = tensors[i];
        if (i || n_meta) rc_sbuf_append(&h, ",", 1);
        rc_json_append_string(&h, names[i]);
        rc_sbuf_printf(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) rc_sbuf_printf(&h, d ? ",%d" : "%d", t->shape[d]);
        rc_sbuf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t->size * 4);
        off += t->size * 4;
    }
    rc_sbuf_append(&h, "}", 1);
    while (h.n % 8 && !h.oom) rc_sbuf_append(&h, " ", 1);
    if (h.oom) {
        rc_sbuf_free(&h);
        return rc_error(RC_ERR_NOMEM, "%s: %s: out of memory for the header", fn, path);
    }

    rc_atomic_file af;
    s = rc_atomic_open(&af, fn, path);
    if (s) {
        rc_sbuf_free(&h);
        return s;
    }
    unsigned char len8[8];
    rc_put_le64(len8, (uint64_t)h.n);
    int bad_write = fwrite(len8, 1, 8, af.f) != 8 || fwrite(h.p, 1, h.n, af.f) != h.n;
    rc_sbuf_free(&h);
    for (int i = 0; i < n && !bad_write; i++)
        bad_write = write_floats_le(af.f, tensors[i]->data, tensors[i]->size) != 0;
    if (bad_write) {
        s = rc_error(RC_ERR_IO, "%s: cannot write %s: %s", fn, af.tmp, strerror(errno));
        rc_atomic_abort(&af);
        return s;
    }
    return rc_atomic_commit(&af, fn);
}
