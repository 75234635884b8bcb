/* params.c - a model's parameters by name. */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rc_params_init(rc_params *ps) { memset(ps, 0, sizeof *ps); }

rc_status rc_params_add(rc_params *ps, const char *prefix, rc_var *p)
{
    if (!ps || !p || !p->is_param)
        return rc_error(RC_ERR_ARG, "params_add: need a parameter (rc_param_new)");
    size_t len = strlen(prefix ? prefix : "") + strlen(p->name ? p->name : "") + 1;
    char *name = malloc(len);
    if (!name) return rc_error(RC_ERR_NOMEM, "params_add: out of memory");
    snprintf(name, len, "%s%s", prefix ? prefix : "", p->name ? p->name : "");
    if (rc_params_find(ps, name)) {
        rc_status s = rc_error(RC_ERR_ARG, "params_add: two parameters named '%s'", name);
        free(name);
        return s;
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        char **nn = realloc(ps->names, (size_t)cap * sizeof *nn);
        if (nn) ps->names = nn;
        rc_var **nv = nn ? realloc(ps->vars, (size_t)cap * sizeof *nv) : NULL;
        if (!nn || !nv) {
            free(name);
            return rc_error(RC_ERR_NOMEM, "params_add: out of memory");
        }
        ps->vars = nv;
        ps->cap = cap;
    }
    ps->names[ps->n] = name;
    ps->vars[ps->n++] = p;
    return RC_OK;
}

rc_var *rc_params_find(const rc_params *ps, const char *name)
{
    for (int i = 0; ps && name && i < ps->n; i++)
        if (!strcmp(ps->names[i], name)) return ps->vars[i];
    return NULL;
}

void rc_params_zero_grad(rc_params *ps)
{
    for (int i = 0; i < ps->n; i++) rc_param_zero_grad(ps->vars[i]);
}

size_t rc_params_numel(const rc_params *ps)
{
    size_t n = 0;
    for (int i = 0; i < ps->n; i++) n += ps->vars[i]->value.size;
    return n;
}

void rc_params_free(rc_params *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) free(ps->names[i]);
    free(ps->names);
    free(ps->vars);
    memset(ps, 0, sizeof *ps);
}
