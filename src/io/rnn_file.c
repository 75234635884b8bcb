/* rnn_file.c - a recurrent layer's model file: its configuration in the
 * safetensors metadata and its parameters under PyTorch's names. */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {"RNN_TANH", "RNN_RELU", "LSTM", "GRU"};

static const char *key_of(char *buf, size_t n, const char *prefix, const char *key)
{
    snprintf(buf, n, "%s%s", prefix ? prefix : "", key);
    return buf;
}

rc_status rc_rnn_config_read(const rc_safetensors *st, const char *prefix, rc_rnn_config *cfg)
{
    char k[128];
    const char *path = rc_safetensors_path(st);
    const char *fmt = rc_safetensors_meta(st, key_of(k, sizeof k, prefix, "format"));
    const char *kind = rc_safetensors_meta(st, key_of(k, sizeof k, prefix, "kind"));
    if (!prefix || !*prefix) {
        if (!fmt || strcmp(fmt, "recur"))
            return rc_error(RC_ERR_FORMAT, "%s: not a recur model file (metadata 'format' is %s)",
                            path, fmt ? fmt : "missing");
        if (!kind || strcmp(kind, "recurrent"))
            return rc_error(RC_ERR_FORMAT, "%s: a model of kind '%s', not a recurrent layer",
                            path, kind ? kind : "(none)");
    }
    const char *mode = rc_safetensors_meta(st, key_of(k, sizeof k, prefix, "mode"));
    memset(cfg, 0, sizeof *cfg);
    int m = -1;
    for (int i = 0; mode && i < 4; i++)
        if (!strcmp(mode, mode_names[i])) m = i;
    if (m < 0)
        return rc_error(RC_ERR_FORMAT, "%s: metadata '%s' is %s; expected RNN_TANH, RNN_RELU, "
                        "LSTM or GRU", path, k, mode ? mode : "missing");
    cfg->mode = (rc_cell_kind)m;
    rc_status s;
    const int big = 1 << 20;
    if ((s = rc_safetensors_meta_int(st, key_of(k, sizeof k, prefix, "input_size"), 1, big,
                                     &cfg->input_size)) ||
        (s = rc_safetensors_meta_int(st, key_of(k, sizeof k, prefix, "hidden_size"), 1, big,
                                     &cfg->hidden_size)) ||
        (s = rc_safetensors_meta_int(st, key_of(k, sizeof k, prefix, "num_layers"), 1, 1000,
                                     &cfg->num_layers)) ||
        (s = rc_safetensors_meta_int(st, key_of(k, sizeof k, prefix, "proj_size"), 0, big,
                                     &cfg->proj_size)) ||
        (s = rc_safetensors_meta_bool(st, key_of(k, sizeof k, prefix, "bias"), &cfg->bias)) ||
        (s = rc_safetensors_meta_bool(st, key_of(k, sizeof k, prefix, "batch_first"),
                                      &cfg->batch_first)) ||
        (s = rc_safetensors_meta_bool(st, key_of(k, sizeof k, prefix, "bidirectional"),
                                      &cfg->bidirectional)) ||
        (s = rc_safetensors_meta_float(st, key_of(k, sizeof k, prefix, "dropout"),
                                       &cfg->dropout)))
        return s;
    return RC_OK;
}

rc_status rc_rnn_params_read(rc_rnn *m, const rc_safetensors *st, const char *prefix)
{
    for (int i = 0; i < m->n_params; i++) {
        rc_var *p = m->params[i];
        char k[160];
        rc_tensor t;
        rc_status s = rc_safetensors_get_expect(st, key_of(k, sizeof k, prefix, p->name),
                                                p->value.ndim, p->value.shape, &t);
        if (s != RC_OK) return s;
        memcpy(p->value.data, t.data, p->value.size * sizeof(float));
        rc_tensor_free(&t);
    }
    return RC_OK;
}

rc_status rc_rnn_load(const char *path, rc_rnn **out)
{
    if (!path || !out) return rc_error(RC_ERR_ARG, "rnn_load: path and out must not be NULL");
    *out = NULL;
    rc_safetensors *st = NULL;
    rc_status s = rc_safetensors_open(path, &st);
    if (s != RC_OK) return s;
    rc_rnn_config cfg;
    rc_rnn *m = NULL;
    if ((s = rc_rnn_config_read(st, "", &cfg)) == RC_OK &&
        (s = rc_rnn_new(&cfg, 0, &m)) == RC_OK &&
        (s = rc_rnn_params_read(m, st, "")) == RC_OK) {
        *out = m;
        m = NULL;
    } else if (s == RC_ERR_ARG) {
        /* A configuration rc_rnn_new refuses came from the file. */
        s = rc_error(RC_ERR_FORMAT, "%s: %s", path, rc_last_error());
    }
    rc_rnn_free(m);
    rc_safetensors_close(st);
    return s;
}

rc_status rc_rnn_save(const rc_rnn *m, const char *path)
{
    if (!m || !path) return rc_error(RC_ERR_ARG, "rnn_save: model and path must not be NULL");
    const rc_rnn_config *c = &m->cfg;
    char num[5][24];
    snprintf(num[0], sizeof num[0], "%d", c->input_size);
    snprintf(num[1], sizeof num[1], "%d", c->hidden_size);
    snprintf(num[2], sizeof num[2], "%d", c->num_layers);
    snprintf(num[3], sizeof num[3], "%d", c->proj_size);
    snprintf(num[4], sizeof num[4], "%.9g", (double)c->dropout);
    if (!strchr(num[4], '.') && !strchr(num[4], 'e')) strcat(num[4], ".0");
    const char *keys[] = {"format", "recur_version", "kind", "mode", "input_size",
                          "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                          "bidirectional", "proj_size"};
    const char *vals[] = {"recur", RC_VERSION, "recurrent", mode_names[c->mode], num[0],
                          num[1], num[2], c->bias ? "true" : "false",
                          c->batch_first ? "true" : "false", num[4],
                          c->bidirectional ? "true" : "false", num[3]};
    const char **names = malloc((size_t)m->n_params * sizeof *names);
    const rc_tensor **tensors = malloc((size_t)m->n_params * sizeof *tensors);
    rc_status st;
    if (!names || !tensors) {
        st = rc_error(RC_ERR_NOMEM, "rnn_save: out of memory");
    } else {
        for (int i = 0; i < m->n_params; i++) {
            names[i] = m->params[i]->name;
            tensors[i] = &m->params[i]->value;
        }
        st = rc_safetensors_write(path, m->n_params, names, tensors,
                                  (int)(sizeof keys / sizeof keys[0]), keys, vals);
    }
    free(names);
    free(tensors);
    return st;
}
