/* recurrent.c - the recurrent layer: torch.nn.RNN / LSTM / GRU.
 *
 * Layer l, direction d runs one fused sequence op (src/ops/cell.c) over the
 * previous layer's output; two directions are joined along the feature
 * axis; dropout sits between layers. Initial and final states are stacked
 * [layers*directions x B x .] as PyTorch does, index l*D + d. */
#include "../internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rc_rnn_config rc_rnn_defaults(rc_cell_kind mode, int input_size, int hidden_size)
{
    rc_rnn_config c;
    memset(&c, 0, sizeof c);
    c.mode = mode;
    c.input_size = input_size;
    c.hidden_size = hidden_size;
    c.num_layers = 1;
    c.bias = 1;
    return c;
}

static int n_dirs(const rc_rnn_config *c) { return c->bidirectional ? 2 : 1; }
static int out_size(const rc_rnn_config *c) { return c->proj_size > 0 ? c->proj_size : c->hidden_size; }
int rc_rnn_output_size(const rc_rnn *m) { return n_dirs(&m->cfg) * out_size(&m->cfg); }

static rc_status check_config(const rc_rnn_config *c)
{
    if (c->mode < RC_CELL_RNN_TANH || c->mode > RC_CELL_GRU)
        return rc_error(RC_ERR_ARG, "rnn: unknown cell kind %d", (int)c->mode);
    if (c->input_size < 1 || c->hidden_size < 1 || c->num_layers < 1)
        return rc_error(RC_ERR_ARG, "rnn: input_size (%d), hidden_size (%d) and num_layers "
                        "(%d) must be at least 1", c->input_size, c->hidden_size, c->num_layers);
    if (c->proj_size < 0 || (c->proj_size > 0 && c->mode != RC_CELL_LSTM))
        return rc_error(RC_ERR_ARG, "rnn: proj_size %d is only for LSTM (and >= 0)", c->proj_size);
    if (c->proj_size >= c->hidden_size && c->proj_size > 0)
        return rc_error(RC_ERR_ARG, "rnn: proj_size %d must be smaller than hidden_size %d",
                        c->proj_size, c->hidden_size);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return rc_error(RC_ERR_ARG, "rnn: dropout %g must be in [0, 1)", (double)c->dropout);
    return RC_OK;
}

/* Adds one parameter to m (in state_dict order). */
static rc_var *add_param(rc_rnn *m, const char *base, int layer, int dir, int ndim,
                         const int *shape)
{
    char name[64];
    snprintf(name, sizeof name, "%s_l%d%s", base, layer, dir ? "_reverse" : "");
    rc_var *p = rc_param_new(name, ndim, shape);
    if (p) m->params[m->n_params++] = p;
    return p;
}

rc_status rc_rnn_new(const rc_rnn_config *cfg, uint64_t seed, rc_rnn **out)
{
    if (!cfg || !out) return rc_error(RC_ERR_ARG, "rnn_new: config and out must not be NULL");
    *out = NULL;
    rc_status st = check_config(cfg);
    if (st != RC_OK) return st;
    const rc_rnn_config *c = cfg;
    int D = n_dirs(c), L = c->num_layers, H = c->hidden_size, P = out_size(c);
    int G = rc_cell_gates(c->mode);
    rc_rnn *m = calloc(1, sizeof *m);
    if (!m) return rc_error(RC_ERR_NOMEM, "rnn_new: out of memory");
    m->cfg = *c;
    m->params = calloc((size_t)(L * D * 5), sizeof *m->params);
    m->weights = calloc((size_t)(L * D), sizeof *m->weights);
    if (!m->params || !m->weights) {
        rc_rnn_free(m);
        return rc_error(RC_ERR_NOMEM, "rnn_new: out of memory");
    }
    rc_rng_init(&m->dropout_rng, seed ^ 0x5eedd0d0ULL);
    rc_rng init;
    rc_rng_init(&init, seed);
    float k = 1.0f / sqrtf((float)H);
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            rc_cell_weights *w = &m->weights[l * D + d];
            int in = l == 0 ? c->input_size : D * P;
            int s_ih[2] = {G * H, in}, s_hh[2] = {G * H, P}, s_b[1] = {G * H}, s_hr[2] = {P, H};
            /* PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh, weight_hr. */
            if (!(w->w_ih = add_param(m, "weight_ih", l, d, 2, s_ih))) goto oom;
            if (!(w->w_hh = add_param(m, "weight_hh", l, d, 2, s_hh))) goto oom;
            if (c->bias) {
                if (!(w->b_ih = add_param(m, "bias_ih", l, d, 1, s_b))) goto oom;
                if (!(w->b_hh = add_param(m, "bias_hh", l, d, 1, s_b))) goto oom;
            }
            if (c->proj_size > 0 && !(w->w_hr = add_param(m, "weight_hr", l, d, 2, s_hr)))
                goto oom;
        }
    for (int i = 0; i < m->n_params; i++)
        rc_rng_fill_uniform(&init, m->params[i]->value.data, m->params[i]->value.size, -k, k);
    *out = m;
    return RC_OK;
oom:
    rc_rnn_free(m);
    return rc_error(RC_ERR_NOMEM, "rnn_new: out of memory");
}

void rc_rnn_free(rc_rnn *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) rc_param_free(m->params[i]);
    free(m->params);
    free(m->weights);
    free(m);
}

rc_var *rc_rnn_param(const rc_rnn *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_params; i++)
        if (!strcmp(m->params[i]->name, name)) return m->params[i];
    return NULL;
}

void rc_rnn_zero_grad(rc_rnn *m)
{
    for (int i = 0; i < m->n_params; i++) rc_param_zero_grad(m->params[i]);
}

/* The state of layer-direction k out of a stacked [L*D x B x S] tensor. */
static rc_var *state_at(rc_tape *t, rc_var *s, int k, int B, int S)
{
    if (!s) return NULL;
    int shape[2] = {B, S};
    return rc_view(t, s, (size_t)k * B * S, 2, shape);
}

/* Stacks n [B x S] states into [n x B x S]. */
static rc_var *stack_states(rc_tape *t, rc_var **s, int n, int B, int S)
{
    int shape[3] = {1, B, S};
    for (int i = 0; i < n; i++)
        if (!(s[i] = rc_reshape(t, s[i], 3, shape))) return NULL;
    return n == 1 ? s[0] : rc_concat(t, s, n, 0);
}

static rc_status check_state(rc_tape *t, const char *what, rc_var *s, int n, int B, int S)
{
    if (!s) return RC_OK;
    if (s->value.ndim != 3 || s->value.shape[0] != n || s->value.shape[1] != B ||
        s->value.shape[2] != S) {
        rc_tape_fail(t, RC_ERR_SHAPE, "rnn: %s is %s, expected [%dx%dx%d] "
                     "(layers*directions x batch x size)", what, rc_vshape(s), n, B, S);
        return RC_ERR_SHAPE;
    }
    return RC_OK;
}

rc_status rc_rnn_forward(rc_tape *t, rc_rnn *m, rc_var *x, const int32_t *lengths,
                         rc_var *h0, rc_var *c0, rc_var **y, rc_var **h_n, rc_var **c_n)
{
    if (y) *y = NULL;
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!m || !y) return rc_error(RC_ERR_ARG, "rnn: the layer and y must not be NULL");
    if (!rc_op_check_inputs(t, "rnn", 1, &x)) return rc_tape_status(t) ? rc_tape_status(t) : RC_ERR_ARG;
    const rc_rnn_config *c = &m->cfg;
    int D = n_dirs(c), L = c->num_layers, H = c->hidden_size, P = out_size(c);
    if (x->value.ndim != 3 || x->value.shape[2] != c->input_size) {
        rc_tape_fail(t, RC_ERR_SHAPE, "rnn: input is %s, expected [%s x %d]", rc_vshape(x),
                     c->batch_first ? "batch x steps" : "steps x batch", c->input_size);
        return RC_ERR_SHAPE;
    }
    int B = x->value.shape[c->batch_first ? 0 : 1];
    if (c0 && c->mode != RC_CELL_LSTM) {
        rc_tape_fail(t, RC_ERR_ARG, "rnn: c0 is only for an LSTM (this is %s)", rc_cell_name(c->mode));
        return RC_ERR_ARG;
    }
    if (check_state(t, "h0", h0, L * D, B, P) || check_state(t, "c0", c0, L * D, B, H))
        return RC_ERR_SHAPE;

    rc_var *in = c->batch_first ? rc_transpose(t, x, 0, 1) : x;
    rc_var **hs = rc_tape_alloc(t, (size_t)(2 * L * D) * sizeof *hs);
    if (!in || !hs) return rc_tape_status(t);
    rc_var **cs = hs + L * D;
    for (int l = 0; l < L; l++) {
        rc_var *dir_out[2];
        for (int d = 0; d < D; d++) {
            int k = l * D + d;
            rc_status st = rc_cell_sequence(t, c->mode, &m->weights[k], in,
                                            state_at(t, h0, k, B, P), state_at(t, c0, k, B, H),
                                            lengths, d, &dir_out[d], &hs[k], &cs[k]);
            if (st != RC_OK) return st;
        }
        in = D == 1 ? dir_out[0] : rc_concat(t, dir_out, 2, 2);
        if (l < L - 1 && c->dropout > 0.0f) in = rc_dropout(t, in, c->dropout, &m->dropout_rng);
        if (!in) return rc_tape_status(t);
    }
    *y = c->batch_first ? rc_transpose(t, in, 0, 1) : in;
    if (h_n) *h_n = stack_states(t, hs, L * D, B, P);
    if (c_n && c->mode == RC_CELL_LSTM) *c_n = stack_states(t, cs, L * D, B, H);
    return rc_tape_status(t);
}
