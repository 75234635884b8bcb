/* tensor.c - dense float32 tensors on the heap, and shape helpers. */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t rc_shape_size(int ndim, const int *shape)
{
    if (ndim < 1 || ndim > RC_MAX_DIMS || !shape) return 0;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return 0;
        n *= (size_t)shape[i];
    }
    return n;
}

char *rc_shape_str(int ndim, const int *shape, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? "x%d" : "%d", shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

const char *rc_vshape(const rc_var *v)
{
    static _Thread_local char bufs[4][48];
    static _Thread_local int next;
    char *b = bufs[next++ & 3];
    if (!v) return "(null)";
    return rc_shape_str(v->value.ndim, v->value.shape, b, sizeof bufs[0]);
}

rc_status rc_tensor_alloc(rc_tensor *t, int ndim, const int *shape)
{
    if (!t || !shape || ndim < 1 || ndim > RC_MAX_DIMS)
        return rc_error(RC_ERR_ARG, "tensor_alloc: need 1 to %d dimensions, got %d",
                        RC_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return rc_error(RC_ERR_ARG, "tensor_alloc: dimension %d is negative (%d)",
                            i, shape[i]);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->size = rc_shape_size(ndim, shape);
    t->data = calloc(t->size ? t->size : 1, sizeof(float));
    if (!t->data)
        return rc_error(RC_ERR_NOMEM, "tensor_alloc: cannot allocate %zu floats", t->size);
    return RC_OK;
}

void rc_tensor_free(rc_tensor *t)
{
    if (!t) return;
    free(t->data);
    t->data = NULL;
    t->size = 0;
}
