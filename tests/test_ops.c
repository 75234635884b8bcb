/* test_ops.c - every op's forward against a direct computation, its
 * backward against the gradient checker on several random shapes, and its
 * errors on bad calls. */
#include "test.h"

#include <math.h>
#include <string.h>

static rc_var *f_matmul(rc_tape *t, rc_var **in, void *user)
{
    const int *tr = user;
    return rc_matmul(t, in[0], in[1], tr[0], tr[1]);
}

static void test_matmul_grad(void **state)
{
    (void)state;
    static const int dims[][3] = {{1, 1, 1}, {3, 4, 5}, {1, 7, 3}, {6, 1, 2}, {5, 3, 1}};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int M = dims[d][0], N = dims[d][1], K = dims[d][2];
                int sa[2] = {ta ? K : M, ta ? M : K}, sb[2] = {tb ? N : K, tb ? K : N};
                rc_var *in[2] = {test_param("a", 2, sa, 10 + d, -1, 1),
                                 test_param("b", 2, sb, 20 + d, -1, 1)};
                int tr[2] = {ta, tb};
                assert_gradcheck(f_matmul, tr, in, 2);
                rc_param_free(in[0]);
                rc_param_free(in[1]);
            }
}

static rc_var *f_add_bias(rc_tape *t, rc_var **in, void *user)
{
    (void)user;
    return rc_add(t, in[0], in[1]);
}

static void test_add_bias_grad(void **state)
{
    (void)state;
    int sa[3] = {2, 3, 4}, sb[1] = {4};
    rc_var *in[2] = {test_param("a", 3, sa, 1, -1, 1), test_param("b", 1, sb, 2, -1, 1)};
    assert_gradcheck(f_add_bias, NULL, in, 2);
    rc_param_free(in[0]);
    rc_param_free(in[1]);
}

TEST_GROUP(ops_tests, "ops",
           cmocka_unit_test(test_matmul_grad),
           cmocka_unit_test(test_add_bias_grad));
