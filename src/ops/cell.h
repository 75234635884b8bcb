/*
 * cell.h - what the shared time loop (cell.c) and the three cells (rnn.c,
 * lstm.c, gru.c) have in common: the signatures of the cells' pointwise
 * kernels, and the sigmoid and tanh those kernels inline. Private to
 * src/ops.
 *
 * A kernel handles one time step for n consecutive rows of the batch; its
 * arrays hold those rows back to back (a gate row is G*H numbers, a state
 * row H, or P for h). Everything that is a matrix product (W_ih x, W_hh h,
 * W_hr m, and their gradients) is done by cell.c, so a kernel is a single
 * loop over its rows and their H columns, with nothing inside it but
 * arithmetic, which the compiler vectorizes.
 */
#ifndef RECUR_OPS_CELL_H
#define RECUR_OPS_CELL_H

#include <stdint.h>
#include <string.h>

/* ---- getting the kernels vectorized ----
 *
 * gcc at -O2 vectorizes only loops whose trip count it knows to divide
 * evenly (its "very cheap" cost model); a kernel's loop runs over H, so
 * the files that include this header ask for gcc's usual cost model
 * (clang vectorizes these loops at -O2 anyway). And with gcc on x86-64
 * each kernel (marked RC_KERNEL where it is defined) is compiled twice,
 * for AVX2 and for the baseline, and the loader picks by the CPU. Both do
 * the same arithmetic on each element in the same order (no reductions,
 * no fused multiply-add: -std=c11 does not contract), so the results are
 * the same bits either way. (clang 14 names the clones differently across
 * files, so clang builds get the baseline only.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#if defined(__x86_64__) && defined(__ELF__) && __GNUC__ >= 6
#define RC_KERNEL __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef RC_KERNEL
#define RC_KERNEL
#endif

/* ---- sigmoid and tanh, inlined and branch-free ----
 *
 * libm's expf and tanhf are function calls, which stop a loop from being
 * vectorized; these are plain arithmetic. Both are built on
 *   e^x = 2^k e^r,  k = round(x / ln 2),  r = x - k ln 2  in [-ln2/2, ln2/2]
 * with e^r - 1 from its Taylor series to r^7 (truncation below 2e-8
 * relative) and 2^k made directly in the float's exponent bits. Errors are
 * a few units in the last place over the whole range, NaN gives NaN, and
 * the limits are exact (sigmoid(+inf) = 1, tanh(+-inf) = +-1). Choices
 * are made with integer masks rather than ?: on floats, which compilers
 * will not if-convert (a float comparison may trap). */

static inline uint32_t rc_bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float rc_float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* e^x - 1 = s * p + (s - 1) with s = 2^k, p = e^r - 1; x in [-87, 88]. */
static inline float rc_expm1_parts(float x, float *s)
{
    const float round_magic = 12582912.0f;       /* 1.5 * 2^23: adding it rounds to an integer */
    const float ln2_hi = 0.693145751953125f;     /* ln 2 in 16 bits, so k * ln2_hi is exact */
    const float ln2_lo = 1.42860682030941723e-6f; /* the rest of ln 2 */
    float kr = x * 1.44269504088896341f + round_magic;
    float k = kr - round_magic;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = r + r * r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                           r * (1.0f / 720 + r * (1.0f / 5040))))));
    /* k sits in the low bits of kr; 2^k has exponent field k + 127. */
    *s = rc_float_of((rc_bits_of(kr) - rc_bits_of(round_magic) + 127u) << 23);
    return p;
}

/* |x| as bits, limited to the bits of lim > 0 (non-negative floats order
 * as their bit patterns do); NaN becomes lim too, and is put back at the
 * end by the callers. */
static inline float rc_abs_upto(uint32_t xbits, float lim)
{
    uint32_t a = xbits & 0x7fffffffu, l = rc_bits_of(lim);
    return rc_float_of(a < l ? a : l);
}

/* All ones when x (as bits) is a NaN, else 0. */
static inline uint32_t rc_nan_mask(uint32_t xbits)
{
    return 0u - (uint32_t)((xbits & 0x7fffffffu) > 0x7f800000u);
}

/* sigma(x) = 1 / (1 + e^-x). With e = e^-|x|: sigma(|x|) = 1 / (1 + e) and
 * sigma(-|x|) = e / (1 + e), both without cancellation. */
static inline float rc_sigmoidf(float x)
{
    uint32_t xb = rc_bits_of(x);
    float s, p = rc_expm1_parts(-rc_abs_upto(xb, 87.0f), &s);
    float e = s * p + s;
    float q = 1.0f / (1.0f + e);
    uint32_t neg = 0u - (xb >> 31);                      /* all ones when x < 0 */
    float y = q * rc_float_of((rc_bits_of(e) & neg) | (rc_bits_of(1.0f) & ~neg));
    uint32_t nan = rc_nan_mask(xb);
    return rc_float_of((rc_bits_of(y) & ~nan) | (xb & nan));
}

/* tanh|x| = t / (t + 2) with t = e^(2|x|) - 1, accurate near 0 because t
 * is; |x| >= 9.1 gives 1 in float. The sign is copied from x. */
static inline float rc_tanhf(float x)
{
    uint32_t xb = rc_bits_of(x);
    float s, p = rc_expm1_parts(2.0f * rc_abs_upto(xb, 9.1f), &s);
    float t = s * p + (s - 1.0f);
    float y = rc_float_of(rc_bits_of(t / (t + 2.0f)) | (xb & 0x80000000u));
    uint32_t nan = rc_nan_mask(xb);
    return rc_float_of((rc_bits_of(y) & ~nan) | (xb & nan));
}

/* ---- the kernels: one step, n rows ---- */

/* rnn.c. pre [n x H] -> h [n x H] = act(pre); backward: dpre = dh act'. */
void rc_rnn_step_forward(int n, int H, int relu, const float *pre, float *h);
void rc_rnn_step_backward(int n, int H, int relu, const float *h, const float *dh,
                          float *dpre);

/* lstm.c. gates [n x 4H]: the pre-activations i f g o in, their
 * activations out; c = f c_prev + i g [n x H]; m = o tanh(c) [n x H] (h,
 * or what W_hr projects). Backward: from dm and dc (the gradient of c,
 * replaced by that of c_prev) to dpre [n x 4H]. */
void rc_lstm_step_forward(int n, int H, float *gates, const float *c_prev, float *c,
                          float *m);
void rc_lstm_step_backward(int n, int H, const float *gates, const float *c_prev,
                           const float *c, const float *dm, float *dc, float *dpre);

/* gru.c. gates [n x 3H]: in, the input side x_r x_z x_n (with the biases
 * of r and z from both sides, and b_in); out, the activations r z n.
 * hh [n x 3H]: W_hh h_prev (no bias); b_hn [H]. hn [n x H] saves
 * W_hn h_prev + b_hn; h [n x H] the new state. Backward: dx [n x 3H] the
 * gradient of the input side, dhh [n x 3H] of the hidden side W_hh h +
 * b_hh, and dh_prev [n x H] is set to the part of h_prev's gradient that
 * does not go through W_hh (z dh). */
void rc_gru_step_forward(int n, int H, float *gates, const float *hh, const float *b_hn,
                         const float *h_prev, float *hn, float *h);
void rc_gru_step_backward(int n, int H, const float *gates, const float *hn,
                          const float *h_prev, const float *dh, float *dh_prev, float *dx,
                          float *dhh);

#endif
