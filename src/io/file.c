/*
 * file.c - what the model-file readers and writers share: float format
 * conversions, reading a whole file, and atomic replacement of a file
 * (write "path.tmp", fsync, rename over path).
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

float rc_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float. */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* inf or NaN, keeping the payload */
        return rc_f32_from_bits(sign | 0x7f800000u | (mant << 13));
    return rc_f32_from_bits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

float rc_double_to_float(double d)
{
    /* Halfway between FLT_MAX and the next power of two rounds to
     * infinity (FLT_MAX's last mantissa bit is odd). */
    const double limit = 0x1.ffffffp127;
    if (d >= limit) return INFINITY;
    if (d <= -limit) return -INFINITY;
    return (float)d;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b[4];
    memcpy(b, &one, 4);
    return b[0] == 1;
}

void rc_decode_floats(float *dst, const unsigned char *src, size_t n, int elem_size,
                      int bf16)
{
    switch (elem_size) {
    case 2:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = rc_le16(src + 2 * i);
            dst[i] = bf16 ? rc_bf16_to_float(h) : rc_half_to_float(h);
        }
        break;
    case 4:
        if (host_is_little_endian()) memcpy(dst, src, n * 4);
        else
            for (size_t i = 0; i < n; i++) dst[i] = rc_f32_from_bits(rc_le32(src + 4 * i));
        break;
    case 8:
        for (size_t i = 0; i < n; i++) {
            uint64_t b = rc_le64(src + 8 * i);
            double d;
            memcpy(&d, &b, sizeof d);
            dst[i] = rc_double_to_float(d);
        }
        break;
    default: break;
    }
}

rc_status rc_read_file(const char *what, const char *path, unsigned char **buf,
                       size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!path) return rc_error(RC_ERR_ARG, "%s: no path given", what);
    FILE *f = fopen(path, "rb");
    if (!f) return rc_error(RC_ERR_IO, "%s: cannot open %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return rc_error(RC_ERR_IO, "%s: cannot stat %s: %s", what, path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return rc_error(RC_ERR_IO, "%s: %s is not a regular file", what, path);
    }
    if ((uintmax_t)st.st_size >= (uintmax_t)SIZE_MAX) {
        fclose(f);
        return rc_error(RC_ERR_NOMEM, "%s: %s is too large to read", what, path);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return rc_error(RC_ERR_NOMEM, "%s: cannot allocate %zu bytes to read %s", what, n, path);
    }
    size_t got = fread(b, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(b);
        return rc_error(RC_ERR_IO, "%s: %s: read %zu of %zu bytes", what, path, got, n);
    }
    *buf = b;
    *len = n;
    return RC_OK;
}

rc_status rc_atomic_open(rc_atomic_file *af, const char *what, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path) return rc_error(RC_ERR_ARG, "%s: no path given", what);
    size_t n = strlen(path);
    af->tmp = malloc(n + 5);
    if (!af->tmp) return rc_error(RC_ERR_NOMEM, "%s: out of memory", what);
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", 5);
    af->path = path;
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        rc_status s = rc_error(RC_ERR_IO, "%s: cannot create %s: %s", what, af->tmp,
                               strerror(errno));
        free(af->tmp);
        af->tmp = NULL;
        return s;
    }
    return RC_OK;
}

void rc_atomic_abort(rc_atomic_file *af)
{
    if (af->f) fclose(af->f);
    if (af->tmp) {
        remove(af->tmp);
        free(af->tmp);
    }
    memset(af, 0, sizeof *af);
}

/* Makes the rename itself durable; file systems that cannot sync a
 * directory are ignored. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else {
        size_t n = (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) memcpy(dir, path, n), dir[n] = '\0';
    }
    if (!dir) return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

rc_status rc_atomic_commit(rc_atomic_file *af, const char *what)
{
    rc_status s = RC_OK;
    if (fflush(af->f) != 0 || ferror(af->f))
        s = rc_error(RC_ERR_IO, "%s: cannot write %s: %s", what, af->tmp, strerror(errno));
    else if (fsync(fileno(af->f)) != 0)
        s = rc_error(RC_ERR_IO, "%s: cannot sync %s: %s", what, af->tmp, strerror(errno));
    int rc = fclose(af->f);
    af->f = NULL;
    if (s == RC_OK && rc != 0)
        s = rc_error(RC_ERR_IO, "%s: cannot close %s: %s", what, af->tmp, strerror(errno));
    if (s == RC_OK && rename(af->tmp, af->path) != 0)
        s = rc_error(RC_ERR_IO, "%s: cannot rename %s to %s: %s", what, af->tmp, af->path,
                     strerror(errno));
    if (s != RC_OK) {
        rc_atomic_abort(af);
        return s;
    }
    sync_parent_dir(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
    return RC_OK;
}
