/* gru.c - the GRU cell: its pointwise kernels, forward and backward of one
 * step side by side. The matrix products and the time loop are in cell.c.
 *
 *   [x_r x_z x_n] = W_ih x_t + b_ih                  (cell.c; 3H numbers)
 *   [h_r h_z h_n] = W_hh h_{t-1} + b_hh              (cell.c, b_hn added here)
 *   r = sigma(x_r + h_r)
 *   z = sigma(x_z + h_z)
 *   n = tanh(x_n + r * h_n)      the reset multiplies the hidden product
 *                                after the matrix multiply (PyTorch, cuDNN)
 *   h_t = (1 - z) * n + z * h_{t-1}
 *
 * Because r and z only ever see x_r + h_r and x_z + h_z, cell.c puts both
 * biases of r and z into the input side; h_n keeps b_hn, and is saved for
 * backward.
 *
 * Backward, with dh = dL/dh_t:
 *   d(n) = dh * (1 - z) * (1 - n^2)
 *   d(z) = dh * (h_{t-1} - n) * z (1 - z)
 *   d(r) = d(n) * h_n * r (1 - r)
 *   gradient of [x_r x_z x_n]: [d(r), d(z), d(n)]
 *   gradient of [h_r h_z h_n]: [d(r), d(z), d(n) * r]
 *   dh_{t-1} = dh * z + W_hh^T (gradient of [h_r h_z h_n])   (the product: cell.c)
 */
#include "cell.h"

#include <stddef.h>

RC_KERNEL void rc_gru_step_forward(int n, int H, float *restrict gates, const float *restrict hh,
                         const float *restrict b_hn, const float *restrict h_prev,
                         float *restrict hn, float *restrict h)
{
    for (int b = 0; b < n; b++) {
        size_t r3 = (size_t)b * 3 * (size_t)H, r = (size_t)b * (size_t)H;
        float *gr = gates + r3, *gz = gr + H, *gn = gz + H;
        const float *hr = hh + r3, *hz = hr + H, *hnn = hz + H;
        const float *hp = h_prev + r;
        float *hnb = hn + r, *hb = h + r;
        for (int j = 0; j < H; j++) {
            float rg = rc_sigmoidf(gr[j] + hr[j]);
            float zg = rc_sigmoidf(gz[j] + hz[j]);
            float hv = hnn[j] + b_hn[j];
            float ng = rc_tanhf(gn[j] + rg * hv);
            gr[j] = rg;
            gz[j] = zg;
            gn[j] = ng;
            hnb[j] = hv;
            hb[j] = (1.0f - zg) * ng + zg * hp[j];
        }
    }
}

RC_KERNEL void rc_gru_step_backward(int n, int H, const float *restrict gates, const float *restrict hn,
                          const float *restrict h_prev, const float *restrict dh,
                          float *restrict dh_prev, float *restrict dx, float *restrict dhh)
{
    for (int b = 0; b < n; b++) {
        size_t r3 = (size_t)b * 3 * (size_t)H, r = (size_t)b * (size_t)H;
        const float *gr = gates + r3, *gz = gr + H, *gn = gz + H;
        float *dxr = dx + r3, *dxz = dxr + H, *dxn = dxz + H;
        float *dhr = dhh + r3, *dhz = dhr + H, *dhn = dhz + H;
        const float *hnb = hn + r, *hp = h_prev + r, *dhb = dh + r;
        float *dpb = dh_prev + r;
        for (int j = 0; j < H; j++) {
            float rg = gr[j], zg = gz[j], ng = gn[j], d = dhb[j];
            float dn = d * (1.0f - zg) * (1.0f - ng * ng);
            float dz = d * (hp[j] - ng) * zg * (1.0f - zg);
            float dr = dn * hnb[j] * rg * (1.0f - rg);
            dxr[j] = dr;
            dxz[j] = dz;
            dxn[j] = dn;
            dhr[j] = dr;
            dhz[j] = dz;
            dhn[j] = dn * rg;
            dpb[j] = d * zg;
        }
    }
}
