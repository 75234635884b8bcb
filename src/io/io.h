/*
 * io.h - what the model-file readers and writers share (not public):
 * the small JSON parser that safetensors headers need, little-endian and
 * half-precision conversions, reading a whole file, and writing a file
 * atomically.
 */
#ifndef RECUR_IO_H
#define RECUR_IO_H

#include "../internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- JSON (json.c) ----
 *
 * The whole document becomes one flat array of nodes in document order: a
 * container is followed by its children (an object's children alternate
 * key, value), and every node knows the index just past its subtree, so
 * walking needs no pointers and freeing is two free() calls. Strings are
 * decoded (escapes, \u surrogate pairs) into one buffer, NUL-terminated. */

typedef enum rc_json_type {
    RC_JSON_NULL,
    RC_JSON_BOOL,
    RC_JSON_NUMBER,
    RC_JSON_STRING,
    RC_JSON_ARRAY,
    RC_JSON_OBJECT
} rc_json_type;

typedef struct rc_json_node {
    uint8_t type;   /* rc_json_type */
    uint8_t is_int; /* numbers: an integer that fits in int64 */
    uint16_t pad_;
    uint32_t at;    /* byte offset of the value in the text */
    int64_t i;      /* bool and integer value; strings: offset into strings */
    uint32_t len;   /* strings: length in bytes; containers: children
                       (an object's members count twice: key and value) */
    uint32_t end;   /* index of the first node after this subtree */
} rc_json_node;

typedef struct rc_json {
    rc_json_node *nodes;
    uint32_t n, cap;
    char *strings;
} rc_json;

/* Nesting deeper than this is rejected (hostile input). */
#define RC_JSON_MAX_DEPTH 64

/* Parses text[0..len). On error returns RC_ERR_FORMAT (or RC_ERR_NOMEM),
 * writes a message without any file name into err (errn bytes) and the
 * byte offset of the problem into *err_at; doc is then empty. Text longer
 * than 4 GiB - 1 is refused. */
rc_status rc_json_parse(rc_json *doc, const char *text, size_t len, char *err,
                        size_t errn, size_t *err_at);
void rc_json_free(rc_json *doc);

static inline const char *rc_json_str(const rc_json *doc, uint32_t node)
{
    return doc->strings + doc->nodes[node].i;
}

/* The name of a node type, for messages ("a string"). */
const char *rc_json_type_name(int type);

/* Is s valid UTF-8 (what a JSON string must hold)? */
int rc_utf8_valid(const char *s);

/* A growing text buffer; after a failed allocation `oom` is set and
 * further appends do nothing. */
typedef struct rc_sbuf {
    char *p;
    size_t n, cap;
    int oom;
} rc_sbuf;

void rc_sbuf_append(rc_sbuf *b, const char *s, size_t n);
void rc_sbuf_printf(rc_sbuf *b, const char *fmt, ...) RC_PRINTF(2, 3);
void rc_sbuf_free(rc_sbuf *b);
/* Appends s as a JSON string: quotes, and escapes for '"', '\\' and
 * control characters. */
void rc_json_append_string(rc_sbuf *b, const char *s);

/* ---- bytes and numbers (file.c) ---- */

static inline uint16_t rc_le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rc_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t rc_le64(const unsigned char *p)
{
    return (uint64_t)rc_le32(p) | ((uint64_t)rc_le32(p + 4) << 32);
}
static inline void rc_put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}
static inline void rc_put_le64(unsigned char *p, uint64_t v)
{
    rc_put_le32(p, (uint32_t)v);
    rc_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* IEEE conversions to float32, from little-endian bytes. */
static inline float rc_f32_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
static inline uint32_t rc_bits_from_f32(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}
float rc_half_to_float(uint16_t h);
/* A double rounded to float; out of float's range gives +-inf (a plain
 * cast would be undefined behaviour). */
float rc_double_to_float(double d);
static inline float rc_bf16_to_float(uint16_t h)
{
    return rc_f32_from_bits((uint32_t)h << 16);
}

/* Converts n little-endian elements of `elem_size`-byte floats (2: half,
 * 4: float, 8: double; bf16 when `bf16`) at src (any alignment) to float. */
void rc_decode_floats(float *dst, const unsigned char *src, size_t n, int elem_size,
                      int bf16);

/* ---- files (file.c) ---- */

/* Reads the whole regular file `path` into *buf (malloc'd, caller frees);
 * errors name the file. `what` names the caller for messages. */
rc_status rc_read_file(const char *what, const char *path, unsigned char **buf,
                       size_t *len);

/* Atomic replacement: rc_atomic_open opens "path.tmp" for writing;
 * rc_atomic_commit flushes, fsyncs, closes and renames it over path (then
 * fsyncs the directory); rc_atomic_abort closes and removes the temporary.
 * On any error commit removes the temporary and path is left as it was. */
typedef struct rc_atomic_file {
    FILE *f;
    char *tmp;
    const char *path;
} rc_atomic_file;

rc_status rc_atomic_open(rc_atomic_file *af, const char *what, const char *path);
rc_status rc_atomic_commit(rc_atomic_file *af, const char *what);
void rc_atomic_abort(rc_atomic_file *af);

#endif
