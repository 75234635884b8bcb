/*
 * skeleton.c - MSR Action3D skeleton files (MSRAction3DSkeletonReal3D):
 * 20 lines of "x y z confidence" a frame, the labels in the file name
 * (aAA_sSS_eEE_skeleton3D.txt), the cross-subject split (odd subjects
 * train), and a per-sequence normalisation of the joint positions.
 */
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

void rc_skeleton_free(rc_skeleton *s)
{
    if (!s) return;
    free(s->xyz);
    memset(s, 0, sizeof *s);
}

static int two_digits(const char *p, int lo, int hi, int *out)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    int v = (p[0] - '0') * 10 + (p[1] - '0');
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

rc_status rc_skeleton_parse_name(const char *path, int *action, int *subject, int *instance)
{
    if (!path || !action || !subject || !instance)
        return rc_error(RC_ERR_ARG, "skeleton_parse_name: NULL argument");
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    int a, s, e;
    if (strlen(b) != strlen("a01_s01_e01_skeleton3D.txt") || b[0] != 'a' || b[3] != '_' ||
        b[4] != 's' || b[7] != '_' || b[8] != 'e' || strcmp(b + 11, "_skeleton3D.txt") != 0 ||
        !two_digits(b + 1, 1, 20, &a) || !two_digits(b + 5, 1, 10, &s) ||
        !two_digits(b + 9, 1, 3, &e))
        return rc_error(RC_ERR_FORMAT, "skeleton_parse_name: \"%s\" is not "
                        "aAA_sSS_eEE_skeleton3D.txt (action 01-20, subject 01-10, "
                        "repetition 01-03)", b);
    *action = a, *subject = s, *instance = e;
    return RC_OK;
}

rc_status rc_skeleton_read(const char *path, rc_skeleton *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "skeleton_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return rc_error(RC_ERR_ARG, "skeleton_read: path is NULL");
    unsigned char *buf;
    size_t len;
    rc_status st = rc_read_file("skeleton_read", path, &buf, &len);
    if (st) return st;
    /* NUL-terminate for strtod (one more byte). */
    unsigned char *t = realloc(buf, len + 1);
    if (!t) {
        free(buf);
        return rc_error(RC_ERR_NOMEM, "skeleton_read: %s: out of memory", path);
    }
    buf = t;
    buf[len] = '\0';
    char *text = (char *)buf, *end = text + len;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    lines++;
    rc_skeleton s = {0};
    s.xyz = malloc((lines + RC_SKEL_JOINTS) * 3 * sizeof *s.xyz);
    if (!s.xyz) {
        st = rc_error(RC_ERR_NOMEM, "skeleton_read: %s: out of memory", path);
        goto done;
    }
    size_t lineno = 0, rows = 0;
    for (char *p = text; p < end;) {
        lineno++;
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        *eol = '\0';
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            int nv = 0;
            double v[4];
            while (*q) {
                char *e;
                if (nv == 4) {
                    st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s:%zu: more than 4 values "
                                  "(x y z confidence)", path, lineno);
                    goto done;
                }
                errno = 0;
                double x = strtod(q, &e);
                size_t tl = strcspn(q, " \t\r");
                if (e != q + tl || tl == 0 || !isfinite(x) || isnan(x) ||
                    (tl > 1 && (q[1] == 'x' || q[1] == 'X' || q[2] == 'x' || q[2] == 'X'))) {
                    st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s:%zu: value %d \"%.*s\" is "
                                  "not a finite number", path, lineno, nv + 1,
                                  (int)(tl > 30 ? 30 : tl), q);
                    goto done;
                }
                v[nv++] = x;
                q += tl;
                while (*q == ' ' || *q == '\t' || *q == '\r') q++;
            }
            if (nv != 4) {
                st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s:%zu: %d value%s, expected 4 "
                              "(x y z confidence)", path, lineno, nv, nv == 1 ? "" : "s");
                goto done;
            }
            for (int k = 0; k < 3; k++) s.xyz[rows * 3 + (size_t)k] = rc_double_to_float(v[k]);
            rows++;
        } else if (eol < end) {
            st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s:%zu: blank line", path, lineno);
            goto done;
        }
        p = eol < end ? eol + 1 : end;
    }
    if (rows == 0) {
        st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s: empty (no frames)", path);
        goto done;
    }
    if (rows % RC_SKEL_JOINTS) {
        st = rc_error(RC_ERR_FORMAT, "skeleton_read: %s:%zu: %zu joint lines, not a multiple "
                      "of %d (the last frame is incomplete)", path, lineno, rows,
                      RC_SKEL_JOINTS);
        goto done;
    }
    s.frames = (int)(rows / RC_SKEL_JOINTS);
    if (rc_skeleton_parse_name(path, &s.action, &s.subject, &s.instance) != RC_OK) {
        s.action = s.subject = s.instance = 0;
        rc_clear_error();
    }
done:
    free(buf);
    if (st) {
        rc_skeleton_free(&s);
        return st;
    }
    *out = s;
    return RC_OK;
}

/* Files SOURCE.txt lists as defective. */
static const char *const known_bad[] = {"a13_s09_e02_skeleton3D.txt"};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const rc_skeleton_entry *)a)->path, ((const rc_skeleton_entry *)b)->path);
}

void rc_skeleton_list_free(rc_skeleton_entry *e, int n)
{
    if (!e) return;
    for (int i = 0; i < n; i++) free(e[i].path);
    free(e);
}

rc_status rc_skeleton_list(const char *dir, int drop_bad, rc_skeleton_entry **out, int *n,
                           int *n_dropped)
{
    if (!dir || !out || !n) return rc_error(RC_ERR_ARG, "skeleton_list: NULL argument");
    *out = NULL;
    *n = 0;
    if (n_dropped) *n_dropped = 0;
    DIR *d = opendir(dir);
    if (!d) return rc_error(RC_ERR_IO, "skeleton_list: %s: %s", dir, strerror(errno));
    rc_skeleton_entry *e = NULL;
    int cnt = 0, cap = 0, dropped = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int a, s, r;
        if (rc_skeleton_parse_name(de->d_name, &a, &s, &r) != RC_OK) continue;
        int bad = 0;
        for (size_t k = 0; k < sizeof known_bad / sizeof *known_bad; k++)
            bad |= !strcmp(de->d_name, known_bad[k]);
        if (bad && drop_bad) {
            dropped++;
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            rc_skeleton_entry *ne = realloc(e, (size_t)cap * sizeof *e);
            if (!ne) goto oom;
            e = ne;
        }
        size_t pl = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(pl);
        if (!path) goto oom;
        snprintf(path, pl, "%s/%s", dir, de->d_name);
        e[cnt++] = (rc_skeleton_entry){path, a, s, r, s % 2 == 1};
    }
    closedir(d);
    rc_clear_error();
    if (cnt == 0) {
        free(e);
        return rc_error(RC_ERR_FORMAT, "skeleton_list: %s: no aAA_sSS_eEE_skeleton3D.txt "
                        "files", dir);
    }
    qsort(e, (size_t)cnt, sizeof *e, cmp_entry);
    *out = e;
    *n = cnt;
    if (n_dropped) *n_dropped = dropped;
    return RC_OK;
oom:
    closedir(d);
    rc_skeleton_list_free(e, cnt);
    return rc_error(RC_ERR_NOMEM, "skeleton_list: %s: out of memory", dir);
}

rc_status rc_skeleton_normalize(float *xyz, int frames, int center)
{
    if (!xyz || frames < 1)
        return rc_error(RC_ERR_ARG, "skeleton_normalize: %s", xyz ? "no frames" : "xyz is NULL");
    if (center < -1 || center >= RC_SKEL_JOINTS)
        return rc_error(RC_ERR_RANGE, "skeleton_normalize: centre joint %d is not in -1..%d",
                        center, RC_SKEL_JOINTS - 1);
    /* The body size first (in double), so a failure changes nothing. */
    double size = 0;
    for (int f = 0; f < frames; f++) {
        const float *fr = xyz + (size_t)f * RC_SKEL_DIM;
        double c[3] = {0, 0, 0}, ss = 0;
        for (int k = 0; k < 3; k++) {
            if (center >= 0) c[k] = fr[3 * center + k];
            else {
                for (int j = 0; j < RC_SKEL_JOINTS; j++) c[k] += fr[3 * j + k];
                c[k] /= RC_SKEL_JOINTS;
            }
        }
        for (int j = 0; j < RC_SKEL_JOINTS; j++)
            for (int k = 0; k < 3; k++) ss += (fr[3 * j + k] - c[k]) * (fr[3 * j + k] - c[k]);
        size += sqrt(ss / RC_SKEL_JOINTS);
    }
    size /= frames;
    if (!(size > 0) || !isfinite(size))
        return rc_error(RC_ERR_NUMERIC, "skeleton_normalize: body size is %g (all joints at "
                        "the centre, or not finite): nothing to scale by", size);
    for (int f = 0; f < frames; f++) {
        float *fr = xyz + (size_t)f * RC_SKEL_DIM;
        double c[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++) {
            if (center >= 0) c[k] = fr[3 * center + k];
            else {
                for (int j = 0; j < RC_SKEL_JOINTS; j++) c[k] += fr[3 * j + k];
                c[k] /= RC_SKEL_JOINTS;
            }
        }
        for (int j = 0; j < RC_SKEL_JOINTS; j++)
            for (int k = 0; k < 3; k++)
                fr[3 * j + k] = (float)((fr[3 * j + k] - c[k]) / size);
    }
    return RC_OK;
}
