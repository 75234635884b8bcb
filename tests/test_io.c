/* test_io.c - model files (safetensors), the JSON parser behind them, and
 * NumPy .npy arrays: round trips, files laid out as other writers lay them
 * out, and every kind of broken or hostile file. */
#include "test.h"

#include "io/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------- helpers -- */

/* Each test gets a fresh temporary directory as its state. */
static int make_dir(void **state) { return (*state = test_tmpdir_make("io")) ? 0 : -1; }
static int remove_dir(void **state) { return test_tmpdir_remove(*state); }

#define IO_TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

/* dir/name (in one of a few rotating buffers). */
static const char *in_dir(void **state, const char *name) { return test_path(*state, name); }

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A safetensors file from a header (used as given) and raw data. */
static void write_st_raw(const char *path, const char *header, const void *data, size_t n)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    assert_non_null(b);
    rc_put_le64(b, h);
    memcpy(b + 8, header, h);
    if (n) memcpy(b + 8 + h, data, n);
    test_write_bytes(path, b, 8 + h + n);
    free(b);
}

static void assert_contains(const char *s, const char *sub)
{
    if (!strstr(s, sub)) fail_msg("message \"%s\" does not contain \"%s\"", s, sub);
}

static void le_f32(unsigned char *p, float v) { rc_put_le32(p, rc_bits_from_f32(v)); }

static void le_f64(unsigned char *p, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    rc_put_le64(p, b);
}

/* --------------------------------------------------- safetensors ok -- */

static void test_st_round_trip(void **state)
{
    const char *path = in_dir(state, "model.safetensors");
    rc_tensor a, b, c, z;
    int sa[1] = {5}, sb[2] = {3, 4}, sc[4] = {2, 1, 3, 2}, sz[2] = {0, 3};
    assert_int_equal(rc_tensor_alloc(&a, 1, sa), RC_OK);
    assert_int_equal(rc_tensor_alloc(&b, 2, sb), RC_OK);
    assert_int_equal(rc_tensor_alloc(&c, 4, sc), RC_OK);
    assert_int_equal(rc_tensor_alloc(&z, 2, sz), RC_OK);
    rc_rng r;
    rc_rng_init(&r, 3);
    rc_rng_fill_normal(&r, a.data, a.size, 0, 1);
    rc_rng_fill_normal(&r, b.data, b.size, 0, 100);
    rc_rng_fill_normal(&r, c.data, c.size, 0, 1e-3f);
    a.data[0] = -0.0f;
    a.data[1] = INFINITY;
    a.data[2] = 1e-40f; /* subnormal */
    /* Given in an order that is not alphabetical. */
    const char *names[] = {"weight_ih_l0", "bias_ih_l0", "b \"quoted\"\\ \xc3\xa9", "empty"};
    const rc_tensor *ts[] = {&b, &a, &c, &z};
    const char *keys[] = {"format", "note", "unicode"};
    const char *vals[] = {"recur", "line1\nline2\t\"q\" \\ \x01", "\xe2\x82\xac \xf0\x9f\x98\x80"};
    assert_int_equal(rc_safetensors_write(path, 4, names, ts, 3, keys, vals), RC_OK);
    assert_false(file_exists(in_dir(state, "model.safetensors.tmp")));

    /* The layout: header length, a multiple of 8, padded with spaces. */
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    uint64_t hl = rc_le64(raw);
    assert_int_equal(hl % 8, 0);
    assert_int_equal(raw[8], '{');
    assert_int_equal(n, 8 + hl + 4 * (a.size + b.size + c.size));
    size_t last = 8 + hl - 1;
    while (raw[last] == ' ') last--;
    assert_int_equal(raw[last], '}');
    free(raw);

    rc_safetensors *st;
    assert_int_equal(rc_safetensors_open(path, &st), RC_OK);
    assert_string_equal(rc_safetensors_path(st), path);
    assert_int_equal(rc_safetensors_count(st), 4);
    /* Data order: the order given (the empty tensor sorts by its offset). */
    assert_string_equal(rc_safetensors_name(st, 0), "weight_ih_l0");
    assert_string_equal(rc_safetensors_name(st, 1), "bias_ih_l0");
    assert_string_equal(rc_safetensors_name(st, 2), names[2]);
    assert_string_equal(rc_safetensors_name(st, 3), "empty");
    assert_null(rc_safetensors_name(st, 4));
    assert_null(rc_safetensors_name(st, -1));
    assert_int_equal(rc_safetensors_find(st, "bias_ih_l0"), 1);
    assert_int_equal(rc_safetensors_find(st, "nope"), -1);
    assert_string_equal(rc_safetensors_dtype(st, "empty"), "F32");
    assert_null(rc_safetensors_dtype(st, "nope"));

    for (int i = 0; i < 4; i++) {
        rc_tensor t;
        assert_int_equal(rc_safetensors_get(st, names[i], &t), RC_OK);
        assert_int_equal(t.ndim, ts[i]->ndim);
        assert_memory_equal(t.shape, ts[i]->shape, (size_t)t.ndim * sizeof(int));
        assert_int_equal(t.size, ts[i]->size);
        if (t.size) assert_memory_equal(t.data, ts[i]->data, t.size * sizeof(float));
        rc_tensor_free(&t);
    }
    int nd, shp[RC_MAX_DIMS];
    assert_int_equal(rc_safetensors_shape(st, names[2], &nd, shp), RC_OK);
    assert_int_equal(nd, 4);
    assert_memory_equal(shp, sc, sizeof sc);

    /* Expected shapes. */
    rc_tensor t;
    assert_int_equal(rc_safetensors_get_expect(st, "weight_ih_l0", 2, sb, &t), RC_OK);
    rc_tensor_free(&t);
    int wrong[2] = {4, 3};
    assert_int_equal(rc_safetensors_get_expect(st, "weight_ih_l0", 2, wrong, &t), RC_ERR_SHAPE);
    assert_contains(rc_last_error(), "[3x4]");
    assert_contains(rc_last_error(), "[4x3]");
    assert_contains(rc_last_error(), "weight_ih_l0");
    assert_contains(rc_last_error(), path);
    assert_null(t.data);

    /* Metadata, in header order. */
    assert_int_equal(rc_safetensors_meta_count(st), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rc_safetensors_meta_key(st, i), keys[i]);
        assert_string_equal(rc_safetensors_meta(st, keys[i]), vals[i]);
    }
    assert_null(rc_safetensors_meta(st, "absent"));
    assert_null(rc_safetensors_meta_key(st, 3));
    rc_safetensors_close(st);

    /* No tensors and no metadata is a valid file too. */
    const char *path2 = in_dir(state, "empty.safetensors");
    assert_int_equal(rc_safetensors_write(path2, 0, NULL, NULL, 0, NULL, NULL), RC_OK);
    assert_int_equal(rc_safetensors_open(path2, &st), RC_OK);
    assert_int_equal(rc_safetensors_count(st), 0);
    assert_int_equal(rc_safetensors_meta_count(st), 0);
    rc_safetensors_close(st);

    rc_tensor_free(&a), rc_tensor_free(&b), rc_tensor_free(&c), rc_tensor_free(&z);
}

/* Files laid out as Python's safetensors (and others) may lay them out:
 * other dtypes, entries in another order than their data, whitespace in
 * the header, __metadata__ anywhere, padding. */
static void test_st_foreign_layout(void **state)
{
    const char *path = in_dir(state, "py.safetensors");
    unsigned char data[16 + 6 + 8 + 4 + 8];
    size_t o = 0;
    /* "d" F64 [2] at [0,16) */
    le_f64(data + o, 1.0 / 3.0), o += 8;
    le_f64(data + o, -1e300), o += 8; /* beyond float: -inf */
    /* "h" BF16 [3] at [16,22): 1.0, -2.5, 3.140625 */
    const uint16_t bf[3] = {0x3f80, 0xc020, 0x4049};
    for (int i = 0; i < 3; i++) data[o++] = (unsigned char)bf[i], data[o++] = (unsigned char)(bf[i] >> 8);
    /* "f" F16 [2,2] at [22,30): 1.0, -0.0, smallest subnormal, inf */
    const uint16_t hf[4] = {0x3c00, 0x8000, 0x0001, 0x7c00};
    for (int i = 0; i < 4; i++) data[o++] = (unsigned char)hf[i], data[o++] = (unsigned char)(hf[i] >> 8);
    /* "w" F32 [1] at [30,34): unaligned in memory */
    le_f32(data + o, 42.5f), o += 4;
    /* "i" I64 [1] at [34,42) */
    rc_put_le64(data + o, 7), o += 8;
    assert_int_equal(o, sizeof data);
    const char *header =
        "{ \"w\" : {\"shape\": [1], \"dtype\": \"F32\", \"data_offsets\": [30, 34]},\n"
        "  \"f\": {\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[22,30]},\r\n"
        "\t\"i\": {\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[34,42]},"
        "  \"__metadata__\": {\"format\": \"pt\", \"esc\": \"a\\u00e9\\ud83d\\ude00\\/\"},"
        "  \"h\": {\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
        "  \"d\": {\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}        ";
    write_st_raw(path, header, data, sizeof data);

    rc_safetensors *st;
    if (rc_safetensors_open(path, &st)) fail_msg("%s", rc_last_error());
    assert_int_equal(rc_safetensors_count(st), 5);
    const char *order[] = {"d", "h", "f", "w", "i"};
    for (int i = 0; i < 5; i++) assert_string_equal(rc_safetensors_name(st, i), order[i]);
    assert_string_equal(rc_safetensors_meta(st, "format"), "pt");
    assert_string_equal(rc_safetensors_meta(st, "esc"), "a\xc3\xa9\xf0\x9f\x98\x80/");
    assert_string_equal(rc_safetensors_dtype(st, "h"), "BF16");

    rc_tensor t;
    assert_int_equal(rc_safetensors_get(st, "d", &t), RC_OK);
    assert_true(t.data[0] == (float)(1.0 / 3.0));
    assert_true(isinf(t.data[1]) && t.data[1] < 0);
    rc_tensor_free(&t);
    assert_int_equal(rc_safetensors_get(st, "h", &t), RC_OK);
    assert_true(t.data[0] == 1.0f && t.data[1] == -2.5f && t.data[2] == 3.140625f);
    rc_tensor_free(&t);
    assert_int_equal(rc_safetensors_get(st, "f", &t), RC_OK);
    assert_int_equal(t.ndim, 2);
    assert_true(t.data[0] == 1.0f);
    assert_true(t.data[1] == 0.0f && signbit(t.data[1]));
    assert_true(t.data[2] == ldexpf(1.0f, -24));
    assert_true(isinf(t.data[3]) && t.data[3] > 0);
    rc_tensor_free(&t);
    assert_int_equal(rc_safetensors_get(st, "w", &t), RC_OK);
    assert_true(t.data[0] == 42.5f);
    rc_tensor_free(&t);
    /* A dtype recur does not read: the file opens, the tensor does not. */
    assert_int_equal(rc_safetensors_get(st, "i", &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "'i'");
    assert_contains(rc_last_error(), "I64");
    assert_contains(rc_last_error(), path);
    rc_safetensors_close(st);
}

static void test_st_half_conversions(void **state)
{
    (void)state;
    assert_true(rc_half_to_float(0x3555) == 0x1.554p-2f);
    assert_true(rc_half_to_float(0x7bff) == 65504.0f);
    assert_true(rc_half_to_float(0x0400) == ldexpf(1.0f, -14)); /* smallest normal */
    assert_true(rc_half_to_float(0x03ff) == 1023 * ldexpf(1.0f, -24));
    assert_true(isnan(rc_half_to_float(0x7e00)));
    assert_true(rc_half_to_float(0xfc00) == -INFINITY);
    assert_true(rc_double_to_float(0x1.fffffep127) == 0x1.fffffep127f);
    assert_true(rc_double_to_float(0x1.fffffefffffffp127) == 0x1.fffffep127f);
    assert_true(isinf(rc_double_to_float(0x1.ffffffp127)));
    assert_true(isnan(rc_double_to_float(NAN)));
    assert_true(rc_bf16_to_float(0xbf80) == -1.0f);
}

static void test_st_edge_tensors(void **state)
{
    const char *path = in_dir(state, "edge.safetensors");
    unsigned char data[8];
    le_f32(data, 1.5f);
    le_f32(data + 4, 2.5f);
    write_st_raw(path,
                 "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                 "\"five\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[4,8]},"
                 "\"z\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[8,8]},"
                 "\"__metadata__\":null}",
                 data, 8);
    rc_safetensors *st;
    if (rc_safetensors_open(path, &st)) fail_msg("%s", rc_last_error());
    assert_int_equal(rc_safetensors_meta_count(st), 0);
    rc_tensor t;
    int nd, sh[RC_MAX_DIMS];
    assert_int_equal(rc_safetensors_shape(st, "s", &nd, sh), RC_OK);
    assert_int_equal(nd, 0);
    assert_int_equal(rc_safetensors_get(st, "s", &t), RC_ERR_SHAPE);
    assert_contains(rc_last_error(), "'s' has 0 dimensions");
    assert_int_equal(rc_safetensors_shape(st, "five", &nd, sh), RC_ERR_SHAPE);
    assert_int_equal(nd, 5);
    assert_int_equal(rc_safetensors_get(st, "five", &t), RC_ERR_SHAPE);
    assert_contains(rc_last_error(), "'five' has 5 dimensions");
    assert_int_equal(rc_safetensors_get(st, "z", &t), RC_OK);
    assert_int_equal(t.size, 0);
    rc_tensor_free(&t);
    /* A missing tensor names the file and the tensor. */
    assert_int_equal(rc_safetensors_get(st, "weight_hh_l3", &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "no tensor 'weight_hh_l3'");
    assert_contains(rc_last_error(), path);
    assert_null(t.data);
    rc_safetensors_close(st);
}

static void test_st_meta_typed(void **state)
{
    const char *path = in_dir(state, "meta.safetensors");
    const char *k[] = {"hidden_size", "neg", "big", "junk", "t", "f", "B", "drop", "e",
                       "inf", "hex", "empty"};
    const char *v[] = {"128", "-3", "99999999999999999999", "12a", "true", "false", "True",
                       "0.25", "1e-3", "inf", "0x10", ""};
    assert_int_equal(rc_safetensors_write(path, 0, NULL, NULL, 12, k, v), RC_OK);
    rc_safetensors *st;
    assert_int_equal(rc_safetensors_open(path, &st), RC_OK);
    int i;
    assert_int_equal(rc_safetensors_meta_int(st, "hidden_size", 1, 1 << 20, &i), RC_OK);
    assert_int_equal(i, 128);
    assert_int_equal(rc_safetensors_meta_int(st, "neg", -5, 5, &i), RC_OK);
    assert_int_equal(i, -3);
    assert_int_equal(rc_safetensors_meta_int(st, "neg", 0, 5, &i), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "'neg' is \"-3\"");
    assert_int_equal(rc_safetensors_meta_int(st, "big", 0, 1000, &i), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_int(st, "junk", 0, 1000, &i), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_int(st, "empty", 0, 1000, &i), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_int(st, "num_layers", 1, 10, &i), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "no 'num_layers'");
    assert_contains(rc_last_error(), path);
    assert_int_equal(rc_safetensors_meta_bool(st, "t", &i), RC_OK);
    assert_int_equal(i, 1);
    assert_int_equal(rc_safetensors_meta_bool(st, "f", &i), RC_OK);
    assert_int_equal(i, 0);
    assert_int_equal(rc_safetensors_meta_bool(st, "B", &i), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "\"True\"");
    float x;
    assert_int_equal(rc_safetensors_meta_float(st, "drop", &x), RC_OK);
    assert_true(x == 0.25f);
    assert_int_equal(rc_safetensors_meta_float(st, "e", &x), RC_OK);
    assert_true(x == 1e-3f);
    assert_int_equal(rc_safetensors_meta_float(st, "inf", &x), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_float(st, "hex", &x), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_float(st, "empty", &x), RC_ERR_FORMAT);
    assert_int_equal(rc_safetensors_meta_float(st, "junk", &x), RC_ERR_FORMAT);
    rc_safetensors_close(st);
}

/* -------------------------------------------------- safetensors bad -- */

typedef struct bad_case {
    const char *header; /* NULL: use raw */
    size_t data_len;    /* zero bytes of data after the header */
    rc_status status;
    const char *want1, *want2;
} bad_case;

#define ENT(name, dt, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const bad_case bad_headers[] = {
    /* not JSON, or not the JSON expected */
    {"{\"a\": ", 0, RC_ERR_FORMAT, "not valid JSON", "byte 14"},
    {"{\"a\" 1}", 0, RC_ERR_FORMAT, "expected ':'", "byte 13"},
    {"{\"a\":{}} x", 0, RC_ERR_FORMAT, "unexpected 'x'", "byte 17"},
    {"{\"a\":{},}", 0, RC_ERR_FORMAT, "trailing comma", NULL},
    {"{\"a\":[1,2,]}", 0, RC_ERR_FORMAT, "trailing comma", NULL},
    {"{\"a\":tru}", 0, RC_ERR_FORMAT, "unknown literal", NULL},
    {"{\"a\":01}", 0, RC_ERR_FORMAT, "leading zero", NULL},
    {"{\"a\":-}", 0, RC_ERR_FORMAT, "expected a digit", NULL},
    {"{\"a\":1.}", 0, RC_ERR_FORMAT, "after '.'", NULL},
    {"{\"a\":1e}", 0, RC_ERR_FORMAT, "exponent", NULL},
    {"{1:2}", 0, RC_ERR_FORMAT, "expected a string key", "byte 9"},
    {"{\"abc", 0, RC_ERR_FORMAT, "unterminated string", "byte 9"},
    {"{\"a\\", 0, RC_ERR_FORMAT, "unterminated string", NULL},
    {"{\"a\\q\":1}", 0, RC_ERR_FORMAT, "bad escape \\'q'", NULL},
    {"{\"a\\u12\"}", 0, RC_ERR_FORMAT, "bad hex digit", NULL},
    {"{\"a\\u12", 0, RC_ERR_FORMAT, "unterminated \\u escape", NULL},
    {"{\"a\\ud800\":1}", 0, RC_ERR_FORMAT, "high surrogate", NULL},
    {"{\"a\\udc00\":1}", 0, RC_ERR_FORMAT, "lone low surrogate", NULL},
    {"{\"a\\u0000\":1}", 0, RC_ERR_FORMAT, "\\u0000", NULL},
    {"{\"a\tb\":1}", 0, RC_ERR_FORMAT, "control character 0x09", "byte 11"},
    {"{\"a\xff\":1}", 0, RC_ERR_FORMAT, "invalid UTF-8", "byte 11"},
    {"{\"a\xc0\xaf\":1}", 0, RC_ERR_FORMAT, "invalid UTF-8", NULL}, /* overlong */
    {"{\"a\xed\xa0\x80\":1}", 0, RC_ERR_FORMAT, "invalid UTF-8", NULL}, /* surrogate */
    {"{\"a\":{", 0, RC_ERR_FORMAT, "unterminated object", NULL},
    {"{\"a\":[1", 0, RC_ERR_FORMAT, "unterminated array", NULL},
    {"{\"a\":@}", 0, RC_ERR_FORMAT, "expected a value, got '@'", NULL},
    {"[1, 2]", 0, RC_ERR_FORMAT, "does not start with '{'", NULL},
    {"  {}", 0, RC_ERR_FORMAT, "does not start with '{'", NULL},
    /* entries */
    {"{\"a\":[]}", 0, RC_ERR_FORMAT, "tensor 'a' is an array", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, RC_ERR_FORMAT,
     "tensor 'a': missing field data_offsets", NULL},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, RC_ERR_FORMAT, "missing field dtype",
     NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, RC_ERR_FORMAT,
     "missing field shape", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     RC_ERR_FORMAT, "field dtype appears twice", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     RC_ERR_FORMAT, "unknown field 'x'", NULL},
    {"{" ENT("a", "Q4", "[1]", 0, 4) "}", 4, RC_ERR_FORMAT, "tensor 'a': unknown dtype 'Q4'",
     NULL},
    {"{\"a\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, RC_ERR_FORMAT,
     "dtype is a number", NULL},
    {"{" ENT("a", "F32", "[-1]", 0, 4) "}", 4, RC_ERR_FORMAT, "shape holds a number", NULL},
    {"{" ENT("a", "F32", "[1.0]", 0, 4) "}", 4, RC_ERR_FORMAT, "not an integer", NULL},
    {"{" ENT("a", "F32", "[\"1\"]", 0, 4) "}", 4, RC_ERR_FORMAT, "shape holds a string",
     NULL},
    {"{" ENT("a", "F32", "2", 0, 4) "}", 4, RC_ERR_FORMAT, "shape is a number", NULL},
    {"{" ENT("a", "F32", "[99999999999999999999999999]", 0, 4) "}", 4, RC_ERR_FORMAT,
     "not an integer", NULL},
    {"{" ENT("a", "F32", "[2147483648]", 0, 4) "}", 4, RC_ERR_FORMAT, "not an integer", NULL},
    {"{" ENT("a", "F32", "[2147483647,2147483647,2147483647,2147483647,2147483647]", 0, 4)
     "}", 4, RC_ERR_FORMAT, "overflows", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, RC_ERR_FORMAT,
     "two integers", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, RC_ERR_FORMAT,
     "two integers", NULL},
    {"{" ENT("a", "F32", "[1]", -4, 0) "}", 4, RC_ERR_FORMAT, "data_offsets holds a number",
     NULL},
    {"{" ENT("a", "F32", "[1]", 4, 0) "}", 4, RC_ERR_FORMAT, "end before they begin", NULL},
    {"{" ENT("a", "F32", "[2]", 0, 8) "}", 4, RC_ERR_FORMAT, "run past the end", "4 bytes"},
    {"{" ENT("a", "F32", "[1]", 18446744073709551612, 18446744073709551616) "}", 4,
     RC_ERR_FORMAT, "not an integer", NULL},
    {"{" ENT("a", "F32", "[3]", 0, 8) "}", 8, RC_ERR_FORMAT, "hold 8 bytes",
     "F32 [3] needs 12"},
    {"{" ENT("a", "F64", "[1]", 0, 4) "}", 8, RC_ERR_FORMAT, "F64 [1] needs 8", NULL},
    {"{" ENT("a", "F32", "[2]", 0, 8) "," ENT("b", "F32", "[2]", 4, 12) "}", 12, RC_ERR_FORMAT,
     "'a' [0, 8] and 'b' [4, 12] overlap", NULL},
    {"{" ENT("b", "F32", "[2]", 4, 12) "," ENT("a", "F32", "[3]", 0, 12) "}", 12,
     RC_ERR_FORMAT, "overlap", NULL},
    {"{" ENT("a", "F32", "[1]", 0, 4) "," ENT("a", "F32", "[1]", 4, 8) "}", 8, RC_ERR_FORMAT,
     "tensor 'a' appears twice", NULL},
    {"{" ENT("", "F32", "[1]", 0, 4) "}", 4, RC_ERR_FORMAT, "empty name", NULL},
    /* metadata */
    {"{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0, RC_ERR_FORMAT,
     "__metadata__ value 'n' is a number, expected a string", "byte 43"},
    {"{\"__metadata__\":{\"x\":{\"y\":\"z\"}}}", 0, RC_ERR_FORMAT,
     "value 'x' is an object", NULL},
    {"{\"__metadata__\":{\"x\":null}}", 0, RC_ERR_FORMAT, "value 'x' is null", NULL},
    {"{\"__metadata__\":[\"x\"]}", 0, RC_ERR_FORMAT, "__metadata__ is an array", NULL},
    {"{\"__metadata__\":{\"x\":\"1\",\"x\":\"2\"}}", 0, RC_ERR_FORMAT, "key 'x' appears twice",
     NULL},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, RC_ERR_FORMAT,
     "__metadata__ appears twice", NULL},
};

static void test_st_bad_headers(void **state)
{
    const char *path = in_dir(state, "bad.safetensors");
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const bad_case *c = &bad_headers[i];
        write_st_raw(path, c->header, zeros, c->data_len);
        rc_safetensors *st = (rc_safetensors *)&st; /* must be reset to NULL */
        rc_clear_error();
        rc_status s = rc_safetensors_open(path, &st);
        if (s != c->status)
            fail_msg("case %zu (%s): status %d, want %d: %s", i, c->header, s, c->status,
                     rc_last_error());
        assert_null(st);
        if (!strstr(rc_last_error(), c->want1) || (c->want2 && !strstr(rc_last_error(), c->want2)) ||
            !strstr(rc_last_error(), path))
            fail_msg("case %zu (%s): message \"%s\" lacks \"%s\" / \"%s\" / the path", i,
                     c->header, rc_last_error(), c->want1, c->want2 ? c->want2 : "");
    }
}

static void test_st_bad_files(void **state)
{
    const char *path = in_dir(state, "bad.safetensors");
    rc_safetensors *st;
    /* missing file */
    assert_int_equal(rc_safetensors_open(in_dir(state, "nope.safetensors"), &st), RC_ERR_IO);
    assert_contains(rc_last_error(), "nope.safetensors");
    assert_null(st);
    /* a directory */
    assert_int_equal(rc_safetensors_open((const char *)*state, &st), RC_ERR_IO);
    assert_contains(rc_last_error(), "not a regular file");
    /* empty, and too short for the length */
    test_write_bytes(path, "", 0);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "0 bytes");
    test_write_bytes(path, "\x02\0\0\0", 4);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "too few");
    /* header length larger than the file */
    unsigned char b[24] = {0};
    rc_put_le64(b, 17);
    memcpy(b + 8, "{}              ", 16);
    test_write_bytes(path, b, 24);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "header length 17 is larger than the rest of the file (16");
    assert_contains(rc_last_error(), path);
    rc_put_le64(b, UINT64_MAX);
    test_write_bytes(path, b, 24);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "larger than the rest");
    /* header length zero */
    rc_put_le64(b, 0);
    test_write_bytes(path, b, 24);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "does not start with '{'");
    /* not a safetensors file at all */
    test_write_bytes(path, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);

    /* truncated data: a good file cut short */
    rc_tensor t;
    int s2[2] = {4, 4};
    assert_int_equal(rc_tensor_alloc(&t, 2, s2), RC_OK);
    const char *nm[] = {"weight_ih_l0"};
    const rc_tensor *ts[] = {&t};
    assert_int_equal(rc_safetensors_write(path, 1, nm, ts, 0, NULL, NULL), RC_OK);
    rc_tensor_free(&t);
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    test_write_bytes(path, raw, n - 3);
    free(raw);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "'weight_ih_l0'");
    assert_contains(rc_last_error(), "truncated");
    assert_null(st);

    /* hostile nesting */
    size_t deep = 100000;
    char *h = malloc(2 * deep + 16);
    assert_non_null(h);
    size_t k = 0;
    k += (size_t)sprintf(h, "{\"a\":");
    for (size_t i = 0; i < deep; i++) h[k++] = '[';
    for (size_t i = 0; i < deep; i++) h[k++] = ']';
    h[k++] = '}';
    h[k] = '\0';
    write_st_raw(path, h, NULL, 0);
    free(h);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "nesting deeper than");
    /* many tensors with a duplicate at the end (the check is not quadratic) */
    rc_sbuf sb = {0};
    rc_sbuf_append(&sb, "{", 1);
    for (int i = 0; i < 20000; i++)
        rc_sbuf_printf(&sb, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                       i ? "," : "", i == 19999 ? 7 : i);
    rc_sbuf_append(&sb, "}", 1);
    assert_false(sb.oom);
    write_st_raw(path, sb.p, NULL, 0);
    rc_sbuf_free(&sb);
    assert_int_equal(rc_safetensors_open(path, &st), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "'t7' appears twice");
}

static void test_st_write_atomic(void **state)
{
    const char *path = in_dir(state, "m.safetensors");
    const char *tmp = in_dir(state, "m.safetensors.tmp");
    rc_tensor a;
    int s1[1] = {3};
    assert_int_equal(rc_tensor_alloc(&a, 1, s1), RC_OK);
    a.data[0] = 1, a.data[1] = 2, a.data[2] = 3;
    const char *nm[] = {"x"};
    const rc_tensor *ts[] = {&a};
    const char *k[] = {"v"}, *v1[] = {"1"}, *v2[] = {"2"};
    /* A stale temporary from an earlier crash does not get in the way. */
    test_write_bytes(tmp, "junk", 4);
    assert_int_equal(rc_safetensors_write(path, 1, nm, ts, 1, k, v1), RC_OK);
    assert_false(file_exists(tmp));

    /* A reader holding the old file keeps seeing the old file: the new one
     * replaces it by rename, it is not rewritten in place. */
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    FILE *old = fopen(path, "rb");
    assert_non_null(old);
    a.data[0] = 10;
    assert_int_equal(rc_safetensors_write(path, 1, nm, ts, 1, k, v2), RC_OK);
    assert_false(file_exists(tmp));
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    unsigned char len8[8];
    assert_int_equal(fread(len8, 1, 8, old), 8);
    char *hdr = calloc(1, rc_le64(len8) + 1);
    assert_non_null(hdr);
    assert_int_equal(fread(hdr, 1, rc_le64(len8), old), rc_le64(len8));
    assert_non_null(strstr(hdr, "\"v\":\"1\""));
    free(hdr);
    fclose(old);
    rc_safetensors *st;
    assert_int_equal(rc_safetensors_open(path, &st), RC_OK);
    assert_string_equal(rc_safetensors_meta(st, "v"), "2");
    rc_tensor t;
    assert_int_equal(rc_safetensors_get(st, "x", &t), RC_OK);
    assert_true(t.data[0] == 10.0f);
    rc_tensor_free(&t);
    rc_safetensors_close(st);

    /* A failed write leaves the old file as it was, and no temporary. */
    const char *dup[] = {"x", "x"};
    const rc_tensor *ts2[] = {&a, &a};
    assert_int_equal(rc_safetensors_write(path, 2, dup, ts2, 0, NULL, NULL), RC_ERR_ARG);
    assert_contains(rc_last_error(), "'x' given twice");
    const char *meta_name[] = {"__metadata__"};
    assert_int_equal(rc_safetensors_write(path, 1, meta_name, ts, 0, NULL, NULL), RC_ERR_ARG);
    const char *bad_utf8[] = {"\xff"};
    assert_int_equal(rc_safetensors_write(path, 1, bad_utf8, ts, 0, NULL, NULL), RC_ERR_ARG);
    assert_int_equal(rc_safetensors_write(path, 1, nm, ts, 1, k, bad_utf8), RC_ERR_ARG);
    const char *empty[] = {""};
    assert_int_equal(rc_safetensors_write(path, 1, empty, ts, 0, NULL, NULL), RC_ERR_ARG);
    const rc_tensor *none[] = {NULL};
    assert_int_equal(rc_safetensors_write(path, 1, nm, none, 0, NULL, NULL), RC_ERR_ARG);
    assert_int_equal(rc_safetensors_write(path, -1, nm, ts, 0, NULL, NULL), RC_ERR_ARG);
    assert_false(file_exists(tmp));
    assert_int_equal(rc_safetensors_open(path, &st), RC_OK);
    assert_string_equal(rc_safetensors_meta(st, "v"), "2");
    rc_safetensors_close(st);

    /* A directory that does not exist. */
    const char *nowhere = in_dir(state, "no/such/dir/m.safetensors");
    assert_int_equal(rc_safetensors_write(nowhere, 1, nm, ts, 0, NULL, NULL), RC_ERR_IO);
    assert_contains(rc_last_error(), "no/such/dir/m.safetensors.tmp");
    rc_tensor_free(&a);
}

/* ------------------------------------------------------------- JSON -- */

static void test_json_parser(void **state)
{
    (void)state;
    rc_json d;
    char err[128];
    size_t at;
    const char *text = " {\"a\": [1, -2, 9223372036854775807, -9223372036854775808, "
                       "9223372036854775808, 1.5, 2e3], \"b\": {\"c\": true, \"d\": null}, "
                       "\"e\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u20ac\", \"f\": false} ";
    assert_int_equal(rc_json_parse(&d, text, strlen(text), err, sizeof err, &at), RC_OK);
    assert_int_equal(d.nodes[0].type, RC_JSON_OBJECT);
    assert_int_equal(d.nodes[0].len, 8);
    assert_int_equal(d.nodes[0].end, d.n);
    const rc_json_node *arr = &d.nodes[2];
    assert_int_equal(arr->type, RC_JSON_ARRAY);
    assert_int_equal(arr->len, 7);
    assert_true(d.nodes[3].is_int && d.nodes[3].i == 1);
    assert_true(d.nodes[4].is_int && d.nodes[4].i == -2);
    assert_true(d.nodes[5].is_int && d.nodes[5].i == INT64_MAX);
    assert_true(d.nodes[6].is_int && d.nodes[6].i == INT64_MIN);
    assert_false(d.nodes[7].is_int); /* too big */
    assert_false(d.nodes[8].is_int);
    assert_false(d.nodes[9].is_int);
    assert_int_equal(d.nodes[10].type, RC_JSON_STRING);
    assert_string_equal(rc_json_str(&d, 10), "b");
    assert_int_equal(d.nodes[11].end, 16);
    assert_int_equal(d.nodes[13].type, RC_JSON_BOOL);
    assert_int_equal(d.nodes[13].i, 1);
    assert_int_equal(d.nodes[15].type, RC_JSON_NULL);
    assert_string_equal(rc_json_str(&d, 17), "x\"\\/\b\f\n\r\t\xe2\x82\xac");
    assert_int_equal(d.nodes[17].len, 12);
    assert_int_equal(d.nodes[19].i, 0);
    rc_json_free(&d);

    /* Nesting at the limit is fine; one more is not. */
    char deep[2 * RC_JSON_MAX_DEPTH + 4];
    size_t k = 0;
    for (int i = 0; i < RC_JSON_MAX_DEPTH; i++) deep[k++] = '[';
    for (int i = 0; i < RC_JSON_MAX_DEPTH; i++) deep[k++] = ']';
    assert_int_equal(rc_json_parse(&d, deep, k, err, sizeof err, &at), RC_OK);
    rc_json_free(&d);
    k = 0;
    for (int i = 0; i <= RC_JSON_MAX_DEPTH; i++) deep[k++] = '[';
    for (int i = 0; i <= RC_JSON_MAX_DEPTH; i++) deep[k++] = ']';
    assert_int_equal(rc_json_parse(&d, deep, k, err, sizeof err, &at), RC_ERR_FORMAT);
    assert_contains(err, "nesting");
    assert_int_equal(at, RC_JSON_MAX_DEPTH);
    assert_null(d.nodes);

    /* Every prefix of a valid document is an error, never a crash. */
    size_t n = strlen(text);
    for (size_t i = 0; i < n - 1; i++) {
        rc_status s = rc_json_parse(&d, text, i, err, sizeof err, &at);
        assert_int_equal(s, RC_ERR_FORMAT);
        assert_true(at <= i);
    }
    /* Scalars at the top level, empty input. */
    assert_int_equal(rc_json_parse(&d, "42", 2, err, sizeof err, &at), RC_OK);
    assert_int_equal(d.nodes[0].i, 42);
    rc_json_free(&d);
    assert_int_equal(rc_json_parse(&d, "", 0, err, sizeof err, &at), RC_ERR_FORMAT);
    assert_contains(err, "end of input");
    /* A NUL byte inside the text is not the end of it. */
    assert_int_equal(rc_json_parse(&d, "[1]\0", 4, err, sizeof err, &at), RC_ERR_FORMAT);
    assert_int_equal(at, 3);

    /* The writer escapes what the reader needs escaped. */
    rc_sbuf b = {0};
    rc_json_append_string(&b, "q\"b\\n\n\x01\x1f\xc3\xa9");
    assert_string_equal(b.p, "\"q\\\"b\\\\n\\n\\u0001\\u001f\xc3\xa9\"");
    assert_int_equal(rc_json_parse(&d, b.p, b.n, err, sizeof err, &at), RC_OK);
    assert_string_equal(rc_json_str(&d, 0), "q\"b\\n\n\x01\x1f\xc3\xa9");
    rc_json_free(&d);
    rc_sbuf_free(&b);
    assert_true(rc_utf8_valid("plain \xc3\xa9 \xf0\x9f\x98\x80"));
    assert_false(rc_utf8_valid("\xc3"));
    assert_false(rc_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
}

/* -------------------------------------------------------------- npy -- */

/* A .npy file from a header dict (padded here) and raw data. */
static void write_npy(const char *path, int major, const char *dict, const void *data,
                      size_t n)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t hl = strlen(dict) + 1;
    size_t pad = (64 - (pre + hl) % 64) % 64;
    hl += pad;
    unsigned char *b = malloc(pre + hl + n + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) b[8] = (unsigned char)hl, b[9] = (unsigned char)(hl >> 8);
    else rc_put_le32(b + 8, (uint32_t)hl);
    memcpy(b + pre, dict, strlen(dict));
    memset(b + pre + strlen(dict), ' ', pad);
    b[pre + hl - 1] = '\n';
    if (n) memcpy(b + pre + hl, data, n);
    test_write_bytes(path, b, pre + hl + n);
    free(b);
}

static void test_npy_round_trip(void **state)
{
    const char *path = in_dir(state, "x.npy");
    const char *tmp = in_dir(state, "x.npy.tmp");
    for (int nd = 1; nd <= 4; nd++) {
        int shape[4] = {3, 2, 4, 1};
        rc_tensor t, u;
        assert_int_equal(rc_tensor_alloc(&t, nd, shape), RC_OK);
        rc_rng r;
        rc_rng_init(&r, (uint64_t)nd);
        rc_rng_fill_normal(&r, t.data, t.size, 0, 1);
        assert_int_equal(rc_npy_write(path, &t), RC_OK);
        assert_false(file_exists(tmp));
        size_t n;
        unsigned char *raw = read_bytes(path, &n);
        assert_int_equal((n - 4 * t.size) % 64, 0); /* data aligned as NumPy does */
        assert_int_equal(raw[n - 4 * t.size - 1], '\n');
        if (nd == 1) assert_non_null(strstr((char *)raw + 10, "'shape': (3,), }"));
        if (nd == 2) assert_non_null(strstr((char *)raw + 10, "'shape': (3, 2), }"));
        free(raw);
        assert_int_equal(rc_npy_read(path, &u), RC_OK);
        assert_int_equal(u.ndim, nd);
        assert_memory_equal(u.shape, shape, (size_t)nd * sizeof(int));
        assert_memory_equal(u.data, t.data, t.size * sizeof(float));
        rc_tensor_free(&t);
        rc_tensor_free(&u);
    }
    /* int32 */
    int32_t v[6] = {0, -1, INT32_MAX, INT32_MIN, 7, 42};
    int sh[2] = {2, 3};
    assert_int_equal(rc_npy_write_int(path, v, 2, sh), RC_OK);
    int32_t *d;
    int nd, s[RC_MAX_DIMS];
    assert_int_equal(rc_npy_read_int(path, &d, &nd, s), RC_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(s[0], 2);
    assert_int_equal(s[1], 3);
    assert_memory_equal(d, v, sizeof v);
    free(d);
    /* empty arrays */
    int sz[2] = {0, 5};
    rc_tensor e;
    assert_int_equal(rc_tensor_alloc(&e, 2, sz), RC_OK);
    assert_int_equal(rc_npy_write(path, &e), RC_OK);
    rc_tensor_free(&e);
    assert_int_equal(rc_npy_read(path, &e), RC_OK);
    assert_int_equal(e.size, 0);
    assert_int_equal(e.shape[1], 5);
    rc_tensor_free(&e);
}

static void test_npy_foreign(void **state)
{
    const char *path = in_dir(state, "f.npy");
    rc_tensor t;
    /* float64, version 2, double quotes, other key order, no trailing comma */
    unsigned char d8[24];
    le_f64(d8, 0.1), le_f64(d8 + 8, -2.0), le_f64(d8 + 16, 1e39);
    write_npy(path, 2, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<f8\"}", d8, 24);
    if (rc_npy_read(path, &t)) fail_msg("%s", rc_last_error());
    assert_int_equal(t.ndim, 1);
    assert_true(t.data[0] == 0.1f && t.data[1] == -2.0f && isinf(t.data[2]));
    rc_tensor_free(&t);
    /* float16, version 3, Python 2 long dims */
    unsigned char d2[4] = {0x00, 0x3c, 0x00, 0xc0}; /* 1, -2 */
    write_npy(path, 3, "{'descr': '<f2', 'fortran_order': False, 'shape': (1L, 2L), }", d2, 4);
    if (rc_npy_read(path, &t)) fail_msg("%s", rc_last_error());
    assert_int_equal(t.ndim, 2);
    assert_true(t.data[0] == 1.0f && t.data[1] == -2.0f);
    rc_tensor_free(&t);

    /* integers of every width */
    int32_t *v;
    int nd, s[RC_MAX_DIMS];
    unsigned char u1[3] = {0, 200, 255};
    write_npy(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u1, 3);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_OK);
    assert_true(v[0] == 0 && v[1] == 200 && v[2] == 255);
    free(v);
    write_npy(path, 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", u1, 3);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_OK);
    assert_true(v[0] == 0 && v[1] == -56 && v[2] == -1);
    free(v);
    unsigned char i2[4] = {0x00, 0x80, 0xff, 0x7f};
    write_npy(path, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", i2, 4);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_OK);
    assert_true(v[0] == -32768 && v[1] == 32767);
    free(v);
    unsigned char i8[16];
    rc_put_le64(i8, (uint64_t)-5), rc_put_le64(i8 + 8, 1000000);
    write_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }", i8, 16);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_OK);
    assert_true(v[0] == -5 && v[1] == 1000000 && nd == 2 && s[0] == 2 && s[1] == 1);
    free(v);
    unsigned char bo[2] = {1, 0};
    write_npy(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", bo, 2);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_OK);
    assert_true(v[0] == 1 && v[1] == 0);
    free(v);
    /* values that do not fit */
    rc_put_le64(i8 + 8, (uint64_t)1 << 31);
    write_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8, 16);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_ERR_RANGE);
    assert_contains(rc_last_error(), "value 2147483648 at index 1");
    assert_contains(rc_last_error(), path);
    assert_null(v);
    rc_put_le64(i8, (uint64_t)INT64_MIN);
    write_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", i8, 8);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_ERR_RANGE);
    assert_contains(rc_last_error(), "-9223372036854775808 at index 0");
    unsigned char u4[4] = {0, 0, 0, 0x80};
    write_npy(path, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", u4, 4);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_ERR_RANGE);
    /* kinds crossed */
    write_npy(path, 1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", u4, 4);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "rc_npy_read_int");
    write_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", u4, 4);
    assert_int_equal(rc_npy_read_int(path, &v, &nd, s), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "floating point");
}

typedef struct npy_bad {
    int major;
    const char *dict;
    size_t data_len;
    rc_status status;
    const char *want;
} npy_bad;

static const npy_bad npy_bads[] = {
    {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, RC_ERR_FORMAT,
     "unsupported dtype '<c8'"},
    {1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8, RC_ERR_FORMAT,
     "unsupported dtype '|O'"},
    {1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 12, RC_ERR_FORMAT,
     "unsupported dtype '<U3'"},
    {1, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", 16, RC_ERR_FORMAT,
     "unsupported dtype '<f16'"},
    {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4, RC_ERR_FORMAT,
     "big-endian"},
    {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
     RC_ERR_FORMAT, "structured"},
    {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, RC_ERR_FORMAT,
     "fortran_order is True"},
    {1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 2), }", 16, RC_ERR_FORMAT,
     "True or False"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, RC_ERR_SHAPE, "0-d"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", 4,
     RC_ERR_FORMAT, "more than 4 dimensions"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, RC_ERR_FORMAT,
     "non-negative"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", 4,
     RC_ERR_FORMAT, "dimension larger"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 40, RC_ERR_FORMAT,
     "40 bytes of data, but shape [3x4] of '<f4' needs 48 (truncated?)"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 16, RC_ERR_FORMAT,
     "16 bytes of data, but shape [3] of '<f4' needs 12"},
    {1, "{'descr': '<f4', 'fortran_order': False, }", 4, RC_ERR_FORMAT, "no 'shape'"},
    {1, "{'descr': '<f4', 'shape': (1,), }", 4, RC_ERR_FORMAT, "no 'fortran_order'"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, RC_ERR_FORMAT,
     "unknown key 'x'"},
    {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
     RC_ERR_FORMAT, "'descr' appears twice"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4, RC_ERR_FORMAT,
     "unexpected text"},
    {1, "{'descr: '<f4'}", 4, RC_ERR_FORMAT, "expected ':'"},
    {1, "{'descr': '<f4", 4, RC_ERR_FORMAT, "unterminated string"},
    {1, "['descr', '<f4']", 4, RC_ERR_FORMAT, "expected '{'"},
    {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }", 4, RC_ERR_FORMAT,
     "expected ',' or ')'"},
};

static void test_npy_bad_files(void **state)
{
    const char *path = in_dir(state, "bad.npy");
    unsigned char zeros[64] = {0};
    rc_tensor t;
    for (size_t i = 0; i < sizeof npy_bads / sizeof npy_bads[0]; i++) {
        const npy_bad *c = &npy_bads[i];
        write_npy(path, c->major, c->dict, zeros, c->data_len);
        rc_status s = rc_npy_read(path, &t);
        if (s != c->status || !strstr(rc_last_error(), c->want) ||
            !strstr(rc_last_error(), path))
            fail_msg("case %zu (%s): status %d (want %d), message \"%s\" (want \"%s\")", i,
                     c->dict, s, c->status, rc_last_error(), c->want);
        assert_null(t.data);
    }
    /* raw damage */
    assert_int_equal(rc_npy_read(in_dir(state, "none.npy"), &t), RC_ERR_IO);
    assert_contains(rc_last_error(), "none.npy");
    test_write_bytes(path, "\x93NUMP", 5);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "too short");
    test_write_bytes(path, "PK\x03\x04 this is a zip file", 24);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "magic");
    test_write_bytes(path, "\x93NUMPY\x09\x00\x10\x00{}", 12);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "version 9.0");
    test_write_bytes(path, "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "header length 255 runs past the end");
    test_write_bytes(path, "\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr'", 19);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    assert_contains(rc_last_error(), "runs past the end");
    test_write_bytes(path, "\x93NUMPY\x02\x00\xff", 9);
    assert_int_equal(rc_npy_read(path, &t), RC_ERR_FORMAT);
    /* writing */
    int bad[1] = {-1};
    assert_int_equal(rc_npy_write_int(path, NULL, 1, bad), RC_ERR_ARG);
    assert_int_equal(rc_npy_write(in_dir(state, "no/dir/x.npy"), &(rc_tensor){0}), RC_ERR_ARG);
    int one[1] = {1};
    int32_t x = 1;
    assert_int_equal(rc_npy_write_int(in_dir(state, "no/dir/x.npy"), &x, 1, one), RC_ERR_IO);
    assert_contains(rc_last_error(), "no/dir/x.npy.tmp");
}

TEST_GROUP(io_tests, "io",
           IO_TEST(test_st_round_trip),
           IO_TEST(test_st_foreign_layout),
           cmocka_unit_test(test_st_half_conversions),
           IO_TEST(test_st_edge_tensors),
           IO_TEST(test_st_meta_typed),
           IO_TEST(test_st_bad_headers),
           IO_TEST(test_st_bad_files),
           IO_TEST(test_st_write_atomic),
           cmocka_unit_test(test_json_parser),
           IO_TEST(test_npy_round_trip),
           IO_TEST(test_npy_foreign),
           IO_TEST(test_npy_bad_files));
