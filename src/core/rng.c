/* rng.c - Philox4x32-10 (Salmon et al. 2011), a counter-based generator.
 *
 * The numbers of block n depend only on (seed, n): no hidden state, so any
 * part of a stream can be made by any thread and the result does not depend
 * on the thread count. */
#include "../internal.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void rc_philox(uint64_t seed, uint64_t counter, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void rc_rng_init(rc_rng *r, uint64_t seed)
{
    r->seed = seed;
    r->counter = 0;
}

/* Each call uses a whole block for one number: simple, and the position of
 * a number in the stream is just the counter. */
uint32_t rc_rng_u32(rc_rng *r)
{
    uint32_t w[4];
    rc_philox(r->seed, r->counter++, w);
    return w[0];
}

static inline float u32_to_unit(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f); /* 24 bits: exact in float */
}

float rc_rng_uniform(rc_rng *r) { return u32_to_unit(rc_rng_u32(r)); }

/* Box-Muller on one block: two uniforms in, one normal out. */
static float normal_from_block(const uint32_t w[4])
{
    double u1 = ((double)(w[0] >> 8) + 1.0) / 16777217.0; /* (0, 1) */
    double u2 = (double)(w[1] >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

float rc_rng_normal(rc_rng *r)
{
    uint32_t w[4];
    rc_philox(r->seed, r->counter++, w);
    return normal_from_block(w);
}

void rc_rng_fill_uniform(rc_rng *r, float *out, size_t n, float lo, float hi)
{
    uint64_t base = r->counter;
    for (size_t i = 0; i < n; i++) {
        uint32_t w[4];
        rc_philox(r->seed, base + i, w);
        out[i] = lo + (hi - lo) * u32_to_unit(w[0]);
    }
    r->counter = base + n;
}

void rc_rng_fill_normal(rc_rng *r, float *out, size_t n, float mean, float sd)
{
    uint64_t base = r->counter;
    for (size_t i = 0; i < n; i++) {
        uint32_t w[4];
        rc_philox(r->seed, base + i, w);
        out[i] = mean + sd * normal_from_block(w);
    }
    r->counter = base + n;
}
