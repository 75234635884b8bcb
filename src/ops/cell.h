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
 * for AVX2 with FMA (x86-64-v3) and for the baseline, and the loader picks
 * by the CPU. The AVX2 clone fuses a*b+c into one FMA (gcc does not in ISO
 * C mode unless asked): the polynomials of exp are chains of them, and
 * fused they take 30-40% less time (LSTM forward, 6.2 against 3.7-4.3 ns
 * an element, docs/performance.md). So the two clones' results may differ
 * in the last bits, as the matrix products' already do from one kernel set
 * to the next; on one CPU they are the same on any number of threads.
 * (clang 14 names the clones differently across files, so clang builds
 * get the baseline only.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#if defined(__x86_64__) && defined(__ELF__) && __GNUC__ >= 11
#pragma GCC optimize("fp-contract=fast")
#define RC_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__ELF__) && __GNUC__ >= 6
#define RC_KERNEL __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef RC_KERNEL
#define RC_KERNEL
#endif

#include "fastmath.h"

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
