/* lstm.c - the LSTM cell: its pointwise kernels, forward and backward of
 * one step side by side. The matrix products (including the projection
 * W_hr) and the time loop are in cell.c.
 *
 *   [i f g o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh     (cell.c; 4H numbers)
 *   i = sigma(i)  f = sigma(f)  g = tanh(g)  o = sigma(o)
 *   c_t = f * c_{t-1} + i * g
 *   m_t = o * tanh(c_t)
 *   h_t = m_t,  or with a projection h_t = W_hr m_t          (cell.c)
 *
 * Backward, with dm = dL/dm_t (dh_t, or W_hr^T dh_t with a projection) and
 * dc = dL/dc_t from step t+1:
 *   dc    += dm * o * (1 - tanh(c_t)^2)
 *   d(i)   = dc * g       * i (1 - i)
 *   d(f)   = dc * c_{t-1} * f (1 - f)
 *   d(g)   = dc * i       * (1 - g^2)
 *   d(o)   = dm * tanh(c_t) * o (1 - o)
 *   dc_{t-1} = dc * f
 *   dh_{t-1} = W_hh^T d([i f g o])                            (cell.c)
 *
 * tanh(c_t) is computed again in backward rather than stored: it costs
 * less than the memory traffic of keeping it. */
#include "cell.h"

#include <stddef.h>

RC_KERNEL void rc_lstm_step_forward(int n, int H, float *restrict gates, const float *restrict c_prev,
                          float *restrict c, float *restrict m)
{
    for (int b = 0; b < n; b++) {
        float *gi = gates + (size_t)b * 4 * (size_t)H, *gf = gi + H, *gg = gf + H,
              *go = gg + H;
        const float *cp = c_prev + (size_t)b * (size_t)H;
        float *cb = c + (size_t)b * (size_t)H, *mb = m + (size_t)b * (size_t)H;
        for (int j = 0; j < H; j++) {
            float i = rc_sigmoidf(gi[j]), f = rc_sigmoidf(gf[j]);
            float g = rc_tanhf(gg[j]), o = rc_sigmoidf(go[j]);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            cb[j] = f * cp[j] + i * g;
        }
        /* tanh(c) in a loop of its own: it waits for c, and the loop above
         * (four independent functions) keeps the pipes busier alone. */
        for (int j = 0; j < H; j++) mb[j] = go[j] * rc_tanhf(cb[j]);
    }
}

RC_KERNEL void rc_lstm_step_backward(int n, int H, const float *restrict gates,
                           const float *restrict c_prev, const float *restrict c,
                           const float *restrict dm, float *restrict dc,
                           float *restrict dpre)
{
    for (int b = 0; b < n; b++) {
        size_t r4 = (size_t)b * 4 * (size_t)H, r = (size_t)b * (size_t)H;
        const float *gi = gates + r4, *gf = gi + H, *gg = gf + H, *go = gg + H;
        float *di = dpre + r4, *df = di + H, *dg = df + H, *dO = dg + H;
        const float *cp = c_prev + r, *cb = c + r, *dmb = dm + r;
        float *dcb = dc + r;
        for (int j = 0; j < H; j++) {
            float i = gi[j], f = gf[j], g = gg[j], o = go[j];
            float tc = rc_tanhf(cb[j]);
            float dcj = dcb[j] + dmb[j] * o * (1.0f - tc * tc);
            di[j] = dcj * g * i * (1.0f - i);
            df[j] = dcj * cp[j] * f * (1.0f - f);
            dg[j] = dcj * i * (1.0f - g * g);
            dO[j] = dmb[j] * tc * o * (1.0f - o);
            dcb[j] = dcj * f;
        }
    }
}
