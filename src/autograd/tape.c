/* tape.c - the define-by-run tape.
 *
 * Each op computes its value at once and appends a node (an rc_var with the
 * op, its inputs and what it saved) to the tape. rc_backward walks the nodes
 * in reverse order and calls each op's backward, which adds the gradient of
 * its output into the gradients of its inputs. All nodes, values, saved
 * contexts and intermediate gradients live in the tape's arena. */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rc_tape {
    rc_arena arena;
    rc_var **nodes; /* in the order they were made; kept across resets */
    int n_nodes, cap_nodes;
    int grad_enabled;
    int training;
    rc_status status;
};

rc_tape *rc_tape_new(void)
{
    rc_tape *t = calloc(1, sizeof *t);
    if (!t) {
        rc_error(RC_ERR_NOMEM, "tape_new: out of memory");
        return NULL;
    }
    rc_arena_init(&t->arena);
    t->grad_enabled = 1;
    t->training = 1;
    return t;
}

void rc_tape_free(rc_tape *t)
{
    if (!t) return;
    rc_arena_free(&t->arena);
    free(t->nodes);
    free(t);
}

void rc_tape_reset(rc_tape *t)
{
    if (!t) return;
    rc_arena_reset(&t->arena);
    t->n_nodes = 0;
    t->status = RC_OK;
}

/* The accessors accept NULL (an rc_tape_new that failed) without crashing. */
void rc_tape_set_grad(rc_tape *t, int enabled)
{
    if (t) t->grad_enabled = enabled != 0;
}
int rc_tape_grad_enabled(const rc_tape *t) { return t && t->grad_enabled; }
void rc_tape_set_training(rc_tape *t, int training)
{
    if (t) t->training = training != 0;
}
int rc_tape_training(const rc_tape *t) { return t && t->training; }
rc_status rc_tape_status(const rc_tape *t) { return t ? t->status : RC_ERR_ARG; }
rc_arena *rc_tape_arena(rc_tape *t) { return t ? &t->arena : NULL; }
int rc_tape_size(const rc_tape *t) { return t ? t->n_nodes : 0; }
rc_var *rc_tape_node_at(const rc_tape *t, int i)
{
    return (t && i >= 0 && i < t->n_nodes) ? t->nodes[i] : NULL;
}

rc_var *rc_tape_fail(rc_tape *t, rc_status s, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t && t->status == RC_OK) {
        t->status = s;
        rc_error(s, "%s", msg);
    } else if (!t) {
        rc_error(s, "%s", msg);
    }
    return NULL;
}

int rc_op_check_inputs(rc_tape *t, const char *op, int n, rc_var *const *in)
{
    if (!t) {
        rc_error(RC_ERR_ARG, "%s: tape is NULL", op);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (!in[i]) {
            /* A NULL input after an earlier failure keeps that failure's message. */
            if (t->status == RC_OK)
                rc_tape_fail(t, RC_ERR_ARG, "%s: input %d is NULL", op, i);
            return 0;
        }
    }
    return 1;
}

void *rc_tape_alloc(rc_tape *t, size_t bytes)
{
    void *p = rc_arena_alloc(&t->arena, bytes);
    if (!p) rc_tape_fail(t, RC_ERR_NOMEM, "tape: out of memory (%zu bytes)", bytes);
    return p;
}

static int push_node(rc_tape *t, rc_var *v)
{
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? 2 * t->cap_nodes : 1024;
        rc_var **n = realloc(t->nodes, (size_t)cap * sizeof *n);
        if (!n) return 0;
        t->nodes = n;
        t->cap_nodes = cap;
    }
    t->nodes[t->n_nodes++] = v;
    return 1;
}

static rc_var *var_new(rc_tape *t, int ndim, const int *shape)
{
    rc_var *v = rc_tape_alloc(t, sizeof *v);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->value.ndim = ndim;
    memcpy(v->value.shape, shape, (size_t)ndim * sizeof(int));
    v->value.size = rc_shape_size(ndim, shape);
    v->value.data = rc_tape_alloc(t, (v->value.size ? v->value.size : 1) * sizeof(float));
    return v->value.data ? v : NULL;
}

static int shape_ok(rc_tape *t, const char *what, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > RC_MAX_DIMS || !shape) {
        rc_tape_fail(t, RC_ERR_SHAPE, "%s: need 1 to %d dimensions, got %d", what,
                     RC_MAX_DIMS, ndim);
        return 0;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            rc_tape_fail(t, RC_ERR_SHAPE, "%s: dimension %d is negative (%d)", what, i,
                         shape[i]);
            return 0;
        }
    return 1;
}

rc_var *rc_node_new(rc_tape *t, const rc_op *op, int ndim, const int *shape,
                    int n_in, rc_var *const *in)
{
    if (!shape_ok(t, op->name, ndim, shape)) return NULL;
    rc_var *v = var_new(t, ndim, shape);
    if (!v) return NULL;
    v->op = op;
    v->n_in = n_in;
    if (n_in > 0) {
        v->in = rc_tape_alloc(t, (size_t)n_in * sizeof *v->in);
        if (!v->in) return NULL;
        memcpy(v->in, in, (size_t)n_in * sizeof *v->in);
    }
    if (t->grad_enabled)
        for (int i = 0; i < n_in; i++)
            if (in[i]->requires_grad) v->requires_grad = 1;
    if (!push_node(t, v)) return rc_tape_fail(t, RC_ERR_NOMEM, "%s: out of memory", op->name);
    return v;
}

static rc_var *input_new(rc_tape *t, int ndim, const int *shape, const float *data, int grad)
{
    if (!t) {
        rc_error(RC_ERR_ARG, "input: tape is NULL");
        return NULL;
    }
    if (!shape_ok(t, "input", ndim, shape)) return NULL;
    rc_var *v = var_new(t, ndim, shape);
    if (!v) return NULL;
    if (data)
        memcpy(v->value.data, data, v->value.size * sizeof(float));
    else
        memset(v->value.data, 0, v->value.size * sizeof(float));
    v->requires_grad = grad && t->grad_enabled;
    if (!push_node(t, v)) return rc_tape_fail(t, RC_ERR_NOMEM, "input: out of memory");
    return v;
}

rc_var *rc_input(rc_tape *t, int ndim, const int *shape, const float *data)
{
    return input_new(t, ndim, shape, data, 0);
}

rc_var *rc_input_grad(rc_tape *t, int ndim, const int *shape, const float *data)
{
    return input_new(t, ndim, shape, data, 1);
}

float *rc_grad_of(rc_tape *t, rc_var *v)
{
    if (!v->grad) {
        /* Parameters get theirs at creation; this is for tape variables. */
        v->grad = rc_arena_calloc(&t->arena, (v->value.size ? v->value.size : 1) * sizeof(float));
        if (!v->grad) rc_tape_fail(t, RC_ERR_NOMEM, "backward: out of memory");
    }
    return v->grad;
}

/* ---- parameters ---- */

rc_var *rc_param_new(const char *name, int ndim, const int *shape)
{
    rc_var *p = calloc(1, sizeof *p);
    if (!p) {
        rc_error(RC_ERR_NOMEM, "param_new: out of memory");
        return NULL;
    }
    if (rc_tensor_alloc(&p->value, ndim, shape) != RC_OK) {
        free(p);
        return NULL;
    }
    p->grad = calloc(p->value.size ? p->value.size : 1, sizeof(float));
    char *nm = malloc(strlen(name ? name : "") + 1);
    if (!p->grad || !nm) {
        free(nm);
        rc_param_free(p);
        rc_error(RC_ERR_NOMEM, "param_new: out of memory");
        return NULL;
    }
    strcpy(nm, name ? name : "");
    p->name = nm;
    p->requires_grad = 1;
    p->is_param = 1;
    return p;
}

void rc_param_free(rc_var *p)
{
    if (!p) return;
    rc_tensor_free(&p->value);
    free(p->grad);
    free((char *)p->name);
    free(p);
}

void rc_param_zero_grad(rc_var *p)
{
    if (p && p->grad) memset(p->grad, 0, p->value.size * sizeof(float));
}

/* ---- backward ---- */

rc_status rc_backward_from(rc_tape *t, rc_var *out, const float *seed_grad)
{
    if (!t || !out)
        return rc_error(RC_ERR_ARG, "backward: %s is NULL", t ? "output" : "tape");
    if (t->status != RC_OK)
        return rc_error(t->status, "backward: the tape has an error from an earlier op: %s",
                        rc_last_error());
    if (!out->requires_grad)
        return rc_error(RC_ERR_STATE, "backward: the output %s does not depend on anything "
                        "that requires a gradient (or grad mode was off)", rc_vshape(out));
    /* Find the output on the tape; nodes after it cannot contribute. */
    int end = t->n_nodes - 1;
    while (end >= 0 && t->nodes[end] != out) end--;
    if (end < 0 && !out->is_param)
        return rc_error(RC_ERR_STATE, "backward: the output is not a node of this tape");
    float *g = rc_grad_of(t, out);
    if (!g) return t->status;
    for (size_t i = 0; i < out->value.size; i++) g[i] += seed_grad ? seed_grad[i] : 1.0f;
    for (int i = end; i >= 0; i--) {
        rc_var *v = t->nodes[i];
        if (v->op && v->op->backward && v->requires_grad && v->grad) {
            v->op->backward(t, v);
            if (t->status != RC_OK)
                return rc_error(t->status, "backward of %s: %s", v->op->name, rc_last_error());
        }
    }
    return RC_OK;
}

rc_status rc_backward(rc_tape *t, rc_var *loss)
{
    if (loss && loss->value.size != 1)
        return rc_error(RC_ERR_SHAPE, "backward: the loss must be a scalar, got %s",
                        rc_vshape(loss));
    return rc_backward_from(t, loss, NULL);
}
