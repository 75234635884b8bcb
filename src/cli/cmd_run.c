/* cmd_run.c - `recur run`: a recurrent-layer model file over NumPy arrays,
 * so that a layer trained anywhere (scripts/torch2recur.py) runs in C. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "usage: recur run MODEL --input X.npy --output Y.npy [--lengths L.npy]\n"
    "                 [--h0 H.npy] [--c0 C.npy] [--hn HN.npy] [--cn CN.npy]\n"
    "\n"
    "Runs a recurrent layer (a model file from recur or scripts/torch2recur.py)\n"
    "on float32 arrays shaped as PyTorch's: X is [T x B x I] ([B x T x I] when\n"
    "the model is batch_first), L holds B integer lengths (PyTorch's packed\n"
    "sequences: outputs past a length are zero), H and HN are\n"
    "[layers*directions x B x P], C and CN [layers*directions x B x H].\n";

/* The CLI's own errors, kept like the library's in one message. */
static char msg[512];
static rc_status fail(rc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s;
}

/* Reads an .npy into a tape input, checking its shape against want (a -1
 * matches anything). */
static rc_var *read_input(rc_tape *t, const char *what, const char *path, int ndim,
                          const int *want, rc_status *st)
{
    rc_tensor a;
    if ((*st = rc_npy_read(path, &a)) != RC_OK) return NULL;
    int ok = a.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || want[i] == a.shape[i];
    if (!ok) {
        char got[48], exp[64] = "[";
        rc_shape_str(a.ndim, a.shape, got, sizeof got);
        for (int i = 0; i < ndim; i++) {
            char d[16];
            snprintf(d, sizeof d, want[i] < 0 ? "%s*" : "%s%d", i ? "x" : "", want[i]);
            if (want[i] < 0) snprintf(d, sizeof d, "%s*", i ? "x" : "");
            strcat(exp, d);
        }
        strcat(exp, "]");
        *st = fail(RC_ERR_SHAPE, "%s: %s is %s, the model needs %s", path, what, got, exp);
        rc_tensor_free(&a);
        return NULL;
    }
    rc_var *v = rc_input(t, a.ndim, a.shape, a.data);
    rc_tensor_free(&a);
    if (!v) *st = rc_tape_status(t);
    return v;
}

static rc_status write_var(const char *path, rc_var *v)
{
    return path ? rc_npy_write(path, &v->value) : RC_OK;
}

int cmd_run(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *lens = NULL, *h0p = NULL, *c0p = NULL, *hnp = NULL,
               *cnp = NULL;
    int threads = 0;
    cli_option opts[] = {
        {"input", CLI_STRING, &in, "input sequences X (.npy, float)"},
        {"output", CLI_STRING, &out, "where to write the outputs Y (.npy)"},
        {"lengths", CLI_STRING, &lens, "B sequence lengths (.npy, integers)"},
        {"h0", CLI_STRING, &h0p, "initial hidden state (.npy)"},
        {"c0", CLI_STRING, &c0p, "initial cell state, LSTM only (.npy)"},
        {"hn", CLI_STRING, &hnp, "where to write the final hidden state (.npy)"},
        {"cn", CLI_STRING, &cnp, "where to write the final cell state, LSTM (.npy)"},
        {"threads", CLI_INT, &threads, "threads to use (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[1];
    int n_pos, r = cli_parse("run", usage, opts, argc, argv, 2, pos, 1, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos != 1) return cli_error("run", "give one model file (see recur run --help)");
    if (!in || !out) return cli_error("run", "--input and --output are required");
    if (threads > 0) rc_set_threads(threads);

    rc_rnn *m = NULL;
    if (rc_rnn_load(pos[0], &m) != RC_OK) return cli_error("run", "%s", rc_last_error());
    const rc_rnn_config *c = &m->cfg;
    if (cnp && c->mode != RC_CELL_LSTM) {
        rc_rnn_free(m);
        return cli_error("run", "--cn: the model is %s, which has no cell state",
                         rc_cell_name(c->mode));
    }
    int D = c->bidirectional ? 2 : 1, P = c->proj_size ? c->proj_size : c->hidden_size;
    rc_tape *t = rc_tape_new();
    rc_tape_set_grad(t, 0);
    rc_tape_set_training(t, 0);
    rc_status st = RC_OK;
    int32_t *lengths = NULL;
    rc_var *x, *h0 = NULL, *c0 = NULL, *y, *hn, *cn;
    int xs[3] = {-1, -1, c->input_size};
    if (!(x = read_input(t, "the input", in, 3, xs, &st))) goto done;
    int B = x->value.shape[c->batch_first ? 0 : 1], T = x->value.shape[c->batch_first ? 1 : 0];
    int hs[3] = {c->num_layers * D, B, P}, cs[3] = {c->num_layers * D, B, c->hidden_size};
    if (h0p && !(h0 = read_input(t, "h0", h0p, 3, hs, &st))) goto done;
    if (c0p && c->mode != RC_CELL_LSTM) {
        st = fail(RC_ERR_ARG, "--c0: the model is %s, which has no cell state",
                      rc_cell_name(c->mode));
        goto done;
    }
    if (c0p && !(c0 = read_input(t, "c0", c0p, 3, cs, &st))) goto done;
    if (lens) {
        int nd, shape[RC_MAX_DIMS];
        if ((st = rc_npy_read_int(lens, &lengths, &nd, shape)) != RC_OK) goto done;
        if (nd != 1 || shape[0] != B) {
            char got[48];
            st = fail(RC_ERR_SHAPE, "%s: lengths are %s, the input has batch %d", lens,
                          rc_shape_str(nd, shape, got, sizeof got), B);
            goto done;
        }
        for (int b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T) {
                st = fail(RC_ERR_RANGE, "%s: length %d of sequence %d is outside 1..%d",
                              lens, lengths[b], b, T);
                goto done;
            }
    }
    if ((st = rc_rnn_forward(t, m, x, lengths, h0, c0, &y, &hn, &cn)) != RC_OK) goto done;
    if ((st = write_var(out, y)) || (st = write_var(hnp, hn)) || (cnp && (st = write_var(cnp, cn))))
        goto done;
done:
    free(lengths);
    rc_tape_free(t);
    rc_rnn_free(m);
    return st == RC_OK ? 0 : cli_error("run", "%s", msg[0] ? msg : rc_last_error());
}
