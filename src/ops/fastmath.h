/*
 * fastmath.h - exp, sigmoid and tanh as inline arithmetic, so that the
 * loops of the pointwise kernels, the softmax and the cross-entropy
 * vectorize (libm's expf and tanhf are function calls, which stop a loop
 * from being vectorized). Private to src/ops.
 */
#ifndef RECUR_OPS_FASTMATH_H
#define RECUR_OPS_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* ---- exp, sigmoid and tanh, inlined and branch-free ----
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

/* e^x for x <= 0 (what a softmax needs: x - max); below -87 the result is
 * 0 (e^-87 is near float's smallest normal), -inf gives 0, NaN gives NaN. */
static inline float rc_exp_nonpos(float x)
{
    uint32_t xb = rc_bits_of(x);
    float s, p = rc_expm1_parts(-rc_abs_upto(xb, 87.0f), &s);
    float e = s * p + s;
    /* x < -87 (as bits: a negative float below -87 has larger magnitude bits) */
    uint32_t tiny = 0u - (uint32_t)((xb & 0x7fffffffu) > rc_bits_of(87.0f));
    uint32_t nan = rc_nan_mask(xb);
    return rc_float_of((rc_bits_of(e) & ~tiny & ~nan) | (xb & nan));
}

#endif
