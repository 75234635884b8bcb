/* rnn.c - the vanilla (Elman) RNN cell: its pointwise kernels, forward and
 * backward of one step side by side. The matrix products and the time loop
 * are in cell.c.
 *
 *   a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh        (cell.c)
 *   h_t = act(a_t)                       act = tanh or relu
 *
 * Backward, with dh = dL/dh_t (from the output and from step t+1):
 *   da_t = dh * (1 - h_t^2)              tanh
 *   da_t = dh * [h_t > 0]                relu (0 at a_t = 0, as PyTorch)
 *   dh_{t-1} = W_hh^T da_t               (cell.c)
 *
 * The gate row is H numbers and so is a state row, so n rows of either are
 * one run of n*H numbers. */
#include "cell.h"

#include <stddef.h>

RC_KERNEL void rc_rnn_step_forward(int n, int H, int relu, const float *restrict pre,
                         float *restrict h)
{
    size_t m = (size_t)n * (size_t)H;
    if (relu)
        for (size_t k = 0; k < m; k++) h[k] = pre[k] < 0.0f ? 0.0f : pre[k]; /* NaN stays */
    else
        for (size_t k = 0; k < m; k++) h[k] = rc_tanhf(pre[k]);
}

RC_KERNEL void rc_rnn_step_backward(int n, int H, int relu, const float *restrict h,
                          const float *restrict dh, float *restrict dpre)
{
    size_t m = (size_t)n * (size_t)H;
    if (relu)
        for (size_t k = 0; k < m; k++) dpre[k] = h[k] > 0.0f ? dh[k] : 0.0f;
    else
        for (size_t k = 0; k < m; k++) dpre[k] = dh[k] * (1.0f - h[k] * h[k]);
}
