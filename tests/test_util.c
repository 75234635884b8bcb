/* test_util.c - helpers shared by the tests. */
#include "test.h"

#include <stdio.h>

rc_var *test_param(const char *name, int ndim, const int *shape, uint64_t seed,
                   float lo, float hi)
{
    rc_var *p = rc_param_new(name, ndim, shape);
    assert_non_null(p);
    rc_rng r;
    rc_rng_init(&r, seed);
    rc_rng_fill_uniform(&r, p->value.data, p->value.size, lo, hi);
    return p;
}

void assert_gradcheck(rc_gradcheck_fn f, void *user, rc_var **inputs, int n)
{
    rc_gradcheck_report rep;
    rc_status st = rc_gradcheck(f, user, inputs, n, NULL, &rep);
    if (st != RC_OK) fail_msg("gradcheck could not run: %s", rc_last_error());
    if (!rep.ok) fail_msg("%s", rep.message);
    assert_true(rep.checked > 0);
}
