/* checkpoint.c - saving and restoring everything a training run needs. */
#include "../internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rc_status rc_checkpoint_save(const char *path, const rc_params *ps, rc_optim *opt,
                             int n_extra, const char *const *extra_names,
                             const rc_tensor *const *extra, int n_meta,
                             const char *const *meta_keys, const char *const *meta_values)
{
    if (!path || !ps) return rc_error(RC_ERR_ARG, "checkpoint_save: path and params are needed");
    int n_opt = opt ? rc_optim_state_count(opt) : 0;
    int n = ps->n + n_opt + n_extra, m = n_meta + (opt ? 1 : 0);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    const rc_tensor **tensors = calloc((size_t)n + 1, sizeof *tensors);
    char **owned = calloc((size_t)n_opt + 1, sizeof *owned);
    const char **keys = calloc((size_t)m + 1, sizeof *keys);
    const char **vals = calloc((size_t)m + 1, sizeof *vals);
    rc_status st = RC_OK;
    if (!names || !tensors || !owned || !keys || !vals) {
        st = rc_error(RC_ERR_NOMEM, "checkpoint_save: out of memory");
        goto done;
    }
    int k = 0;
    for (int i = 0; i < ps->n; i++, k++) {
        names[k] = ps->names[i];
        tensors[k] = &ps->vars[i]->value;
    }
    for (int i = 0; i < n_opt; i++, k++) {
        const char *sn = rc_optim_state_name(opt, i);
        size_t len = strlen(sn) + 8;
        if (!(owned[i] = malloc(len))) {
            st = rc_error(RC_ERR_NOMEM, "checkpoint_save: out of memory");
            goto done;
        }
        snprintf(owned[i], len, "optim/%s", sn);
        names[k] = owned[i];
        tensors[k] = rc_optim_state_tensor(opt, i);
    }
    for (int i = 0; i < n_extra; i++, k++) {
        names[k] = extra_names[i];
        tensors[k] = extra[i];
    }
    for (int i = 0; i < n_meta; i++) {
        keys[i] = meta_keys[i];
        vals[i] = meta_values[i];
    }
    char steps[32];
    if (opt) {
        snprintf(steps, sizeof steps, "%" PRId64, rc_optim_step_count(opt));
        keys[n_meta] = "optim/step";
        vals[n_meta] = steps;
    }
    st = rc_safetensors_write(path, n, names, tensors, m, keys, vals);
done:
    for (int i = 0; owned && i < n_opt; i++) free(owned[i]);
    free(owned);
    free(names);
    free(tensors);
    free(keys);
    free(vals);
    return st;
}

rc_status rc_checkpoint_load_params(const rc_safetensors *st, rc_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        rc_var *p = ps->vars[i];
        rc_tensor t;
        rc_status s = rc_safetensors_get_expect(st, ps->names[i], p->value.ndim, p->value.shape, &t);
        if (s != RC_OK) return s;
        memcpy(p->value.data, t.data, p->value.size * sizeof(float));
        rc_tensor_free(&t);
    }
    return RC_OK;
}

rc_status rc_checkpoint_load_optim(const rc_safetensors *st, rc_optim *opt)
{
    const char *path = rc_safetensors_path(st);
    const char *steps = rc_safetensors_meta(st, "optim/step");
    char *end;
    long long n = steps ? strtoll(steps, &end, 10) : -1;
    if (!steps || *end || n < 0)
        return rc_error(RC_ERR_FORMAT, "%s: no optimizer state (metadata optim/step is %s)", path,
                        steps ? steps : "missing");
    for (int i = 0; i < rc_optim_state_count(opt); i++) {
        char name[160];
        snprintf(name, sizeof name, "optim/%s", rc_optim_state_name(opt, i));
        rc_tensor *want = rc_optim_state_tensor(opt, i), t;
        rc_status s = rc_safetensors_get_expect(st, name, want->ndim, want->shape, &t);
        if (s != RC_OK) return s;
        s = rc_optim_load_state(opt, rc_optim_state_name(opt, i), t.data, t.size);
        rc_tensor_free(&t);
        if (s != RC_OK) return s;
    }
    return rc_optim_set_step_count(opt, (int64_t)n);
}
