// Elementwise kernels of the MuseEngine that must vectorize (exp-based
// activations and softmax). Plain C loops that clang auto-vectorizes, compiled
// for AVX-512 / AVX2 / baseline with runtime dispatch (target_clones).
#ifndef MUSE_KERNELS_H
#define MUSE_KERNELS_H
#include <stddef.h>

/// p[i] = exp(p[i] - shift) for i < n; returns the sum. exp of inputs below
/// -87.3 (including -inf) is 0; otherwise within ~2 ulp of expf.
float muse_exp_shift_inplace(float *p, long n, float shift);
/// Largest of p[0..<n] (-inf for n == 0).
float muse_max(const float *p, long n);
/// p[i] *= s.
void muse_scale(float *p, long n, float s);
// The activations write a separate output (no copy of the input first); the
// arrays of one call must not overlap.
/// erf(x), vectorizable (a Taylor series below |x| = 0.9, 1 - erfc above);
/// within a few 1e-7 of the exact value.
float muse_erf(float x);
/// y[i] = x[i] Phi(x[i]) (exact GELU, with muse_erf).
void muse_gelu_erf_forward(const float *restrict x, float *restrict y, long n);
/// dx[i] = dy[i] * (Phi(x[i]) + x[i] phi(x[i])).
void muse_gelu_erf_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n);
/// y[i] = gelu_tanh(x[i]).
void muse_gelu_tanh_forward(const float *restrict x, float *restrict y, long n);
/// dx[i] = dy[i] * gelu_tanh'(x[i]).
void muse_gelu_tanh_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n);
/// y[i] = x[i] * sigmoid(x[i]).
void muse_silu_forward(const float *restrict x, float *restrict y, long n);
/// dx[i] = dy[i] * silu'(x[i]).
void muse_silu_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n);
/// Sum of p[0..<n], accumulated in 16 lanes (then the lanes in order), so it
/// vectorizes; deterministic for a given n.
float muse_sum(const float *p, long n);
/// Sum of (p[i] - m)^2 for i < n, in 16 lanes like muse_sum.
float muse_sum_squared_deviation(const float *p, long n, float m);
/// Layer norm of one row: mean, 1/sqrt(var + eps) into *mean, *rstd, and
/// y[j] = (x[j] - mean) * rstd * g[j] + b[j].
void muse_layernorm_forward_row(const float *restrict x, float *restrict y, const float *g, const float *b,
                                long n, float eps, float *mean, float *rstd);
/// y[j] = (x[j] - m) * rs * g[j] + b[j] for j < n.
void muse_layernorm_apply_row(const float *restrict x, float *restrict y, const float *g, const float *b,
                              long n, float m, float rs);
/// Layer-norm backward of one row (xhat = (x - mean) rstd, dxhat = dy g):
/// dgamma[j] += dy[j] xhat[j], dbeta[j] += dy[j],
/// dx[j] = rstd (dxhat[j] - mean(dxhat) - xhat[j] mean(dxhat xhat)).
void muse_layernorm_backward_row(const float *restrict x, const float *restrict dy, const float *g, long n,
                                 float mean, float rstd, float *restrict dgamma, float *restrict dbeta,
                                 float *restrict dx);
/// With xhat = (x - mean) rstd: *sum_dy = sum(dy), *sum_dy_xhat = sum(dy xhat).
void muse_norm_backward_sums(const float *x, const float *dy, long n, float mean, float rstd,
                             float *sum_dy, float *sum_dy_xhat);
/// exp of one value (same kernel; for tests).
float muse_exp(float x);

// 3x3 stride-1 convolution, direct (conv3x3_direct.c). On zero-padded input
// planes laid out as in ShiftedConv3x3.swift, tap k of the kernel reads every
// input row shifted by shift[k], so
//   out[o * ldo + n] = sum over k < 9, i < rows_in of
//                      w[(k * rows_in + i) * rows_out + o] * in[i * plane + shift[k] + n]
// for o < rows_out, n < columns (forward: rows = channels in -> out; backward
// data: the flipped, transposed kernel over the padded output gradient).
// Variants: 2 = AVX-512, 1 = AVX2 + FMA, 0 = none (the caller falls back to GEMMs).
/// The variant this CPU runs: `requested` 0 = the default (AVX-512 where the CPU
/// has it; the AVX2 variant, mixed against OpenBLAS's AVX2 GEMMs, runs only when
/// asked for), 1 or 2 = that one if the CPU has it; 0 when none.
int muse_conv3x3_taps_variant(int requested);
/// rows_out must be a multiple of this (8 or 4; 0 for variant 0).
int muse_conv3x3_taps_block_rows(int variant);
/// columns must be a multiple of this (48 or 16; 0 for variant 0); every
/// in[i * plane + shift[k] + n] for n < columns must be readable.
int muse_conv3x3_taps_block_columns(int variant);
/// Computes `out` as above with the given variant; 1 when done, 0 (nothing
/// written) when the variant is not available here or the sizes are not
/// multiples of its block.
int muse_conv3x3_taps(int variant, const float *in, long plane, int rows_in, const float *w, int rows_out,
                      const long *shift, float *out, long ldo, long columns);

// The weight gradient of the same convolution, direct:
//   dw[(k * rows_a + a) * rows_b + b] += sum over n < columns of
//                                        da[a * lda + n] * xb[b * plane + shift[k] + n]
// (da: the output gradient on the wide rows, zeros in the extra columns; xb: the
// padded input planes; dw: the taps' gradients [9, out, in]).
/// rows_a must be a multiple of this (4 AVX-512, 2 AVX2; 0 for variant 0).
int muse_conv3x3_grad_block_rows_a(int variant);
/// rows_b must be a multiple of this (4; 0 for variant 0).
int muse_conv3x3_grad_block_rows_b(int variant);
/// columns must be a multiple of this (16 AVX-512, 8 AVX2; 0 for variant 0).
int muse_conv3x3_grad_block_columns(int variant);
/// Accumulates into `dw` as above; 1 when done, 0 (nothing written) when the
/// variant is not available here or the sizes are off its block.
int muse_conv3x3_grad(int variant, const float *da, long lda, int rows_a, const float *xb, long plane, int rows_b,
                      const long *shift, float *dw, long columns);

/// Sets glibc malloc's mmap and trim thresholds (bytes); 1 when glibc took both,
/// 0 otherwise (or where the C library is not glibc).
int muse_malloc_tune(int mmap_threshold, int trim_threshold);

#endif
