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
/// p[i] = gelu_tanh(p[i]) (in place).
void muse_gelu_tanh_forward(float *p, long n);
/// d[i] *= gelu_tanh'(x[i]) (x and d must not overlap).
void muse_gelu_tanh_backward(const float *restrict x, float *restrict d, long n);
/// p[i] = p[i] * sigmoid(p[i]) (in place).
void muse_silu_forward(float *p, long n);
/// d[i] *= silu'(x[i]) (x and d must not overlap).
void muse_silu_backward(const float *restrict x, float *restrict d, long n);
/// exp of one value (same kernel; for tests).
float muse_exp(float x);

#endif
