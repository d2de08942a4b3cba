#include "muse_kernels.h"
#include <stdint.h>
#include <string.h>

// Clones by feature level, not by CPU model: a clone for "arch=skylake-avx512" is
// picked by CPU model, so an AVX-512 AMD EPYC (Zen 4) ran the AVX2 clone (seen in
// perf and in a test program). "arch=x86-64-v4" (AVX-512 F/BW/CD/DQ/VL) and
// "arch=x86-64-v3" (AVX2 + FMA; the old "avx2" clone had no FMA) are picked by the
// features the CPU reports.
#define CLONES __attribute__((target_clones("arch=x86-64-v4,arch=x86-64-v3,default")))

// Cephes expf: Cody-Waite reduction, degree-5 polynomial, 2^n by exponent bits.
static inline __attribute__((always_inline)) float exp_k(float v) {
    float x = v < -87.3f ? -87.3f : v;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + 12582912.0f;   // low mantissa bits of t hold round(x / ln 2)
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    uint32_t tb; memcpy(&tb, &t, 4);
    uint32_t sb = ((tb - 0x4B400000u) + 127u) << 23;
    float s; memcpy(&s, &sb, 4);
    return v < -87.3f ? 0.0f : y * s;
}

static inline __attribute__((always_inline)) float tanh_k(float u) {
    float c = u < -15.0f ? -15.0f : (u > 15.0f ? 15.0f : u);
    return 1.0f - 2.0f / (exp_k(2.0f * c) + 1.0f);
}

static inline __attribute__((always_inline)) float sigmoid_k(float x) {
    float c = x < -80.0f ? -80.0f : (x > 80.0f ? 80.0f : x);
    return 1.0f / (1.0f + exp_k(-c));
}

float muse_exp(float x) { return exp_k(x); }

// erf in two pieces, both computed and one selected, so loops over it vectorize:
// |x| < 0.9: its Taylor series x * P(x^2) to x^21 (truncation under 2e-9);
// |x| >= 0.9: 1 - erfc, with Numerical Recipes' erfcc (t exp(-x^2 + Q(t)),
// t = 1 / (1 + |x| / 2), fractional error under 1.2e-7, erfc <= 0.21 here).
// Accuracy is about that of libm's erff (tested against Double erf).
static inline __attribute__((always_inline)) float erf_k(float x) {
    float z2 = x * x;
    float p = 1.4807192816e-08f;
    p = p * z2 + -1.6365844691e-07f;
    p = p * z2 + 1.6462114366e-06f;
    p = p * z2 + -1.4925650358e-05f;
    p = p * z2 + 1.2055332982e-04f;
    p = p * z2 + -8.5483270235e-04f;
    p = p * z2 + 5.2239776254e-03f;
    p = p * z2 + -2.6866170645e-02f;
    p = p * z2 + 1.1283791671e-01f;
    p = p * z2 + -3.7612638903e-01f;
    p = p * z2 + 1.1283791671e+00f;
    float small = x * p;
    float a = x < 0.0f ? -x : x;
    float t = 1.0f / (1.0f + 0.5f * a);
    float q = 0.17087277f;
    q = q * t + -0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t + -1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t + -0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t + -1.26551223f;
    float big = 1.0f - t * exp_k(q - z2);
    big = x < 0.0f ? -big : big;
    return a < 0.9f ? small : big;
}

float muse_erf(float x) { return erf_k(x); }

CLONES float muse_exp_shift_inplace(float *p, long n, float shift) {
    float s = 0.0f;
    // Partial sums in 16 lanes so the reduction vectorizes without -ffast-math.
    float acc[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) { float e = exp_k(p[i + j] - shift); p[i + j] = e; acc[j] += e; }
    }
    for (; i < n; i++) { float e = exp_k(p[i] - shift); p[i] = e; s += e; }
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

CLONES float muse_max(const float *p, long n) {
    float acc[16];
    for (int j = 0; j < 16; j++) acc[j] = -__builtin_inff();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) acc[j] = p[i + j] > acc[j] ? p[i + j] : acc[j];
    }
    float m = -__builtin_inff();
    for (; i < n; i++) m = p[i] > m ? p[i] : m;
    for (int j = 0; j < 16; j++) m = acc[j] > m ? acc[j] : m;
    return m;
}

CLONES void muse_scale(float *p, long n, float s) {
    for (long i = 0; i < n; i++) p[i] *= s;
}

CLONES void muse_gelu_tanh_forward(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        y[i] = 0.5f * v * (1.0f + tanh_k(u));
    }
}

CLONES void muse_gelu_tanh_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        float t = tanh_k(u);
        float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

CLONES void muse_gelu_erf_forward(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erf_k(v * 0.70710678118654752f));
    }
}

CLONES void muse_gelu_erf_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erf_k(v * 0.70710678118654752f));
        float pdf = exp_k(-0.5f * v * v) * 0.3989422804014327f;
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

CLONES void muse_silu_forward(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) { float v = x[i]; y[i] = v * sigmoid_k(v); }
}

CLONES void muse_silu_backward(const float *restrict x, const float *restrict dy, float *restrict dx, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i], s = sigmoid_k(v);
        dx[i] = dy[i] * (s * (1.0f + v * (1.0f - s)));
    }
}

// Normalization reductions. Each keeps 16 independent partial sums (one per
// lane of an AVX-512 register, two AVX2 registers), so clang vectorizes them
// without reassociating; the lanes are then added in a fixed order.

CLONES float muse_sum(const float *p, long n) {
    float acc[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16) { for (int j = 0; j < 16; j++) acc[j] += p[i + j]; }
    float s = 0.0f;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) s += p[i];
    return s;
}

CLONES float muse_sum_squared_deviation(const float *p, long n, float m) {
    float acc[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16) { for (int j = 0; j < 16; j++) { float d = p[i + j] - m; acc[j] += d * d; } }
    float s = 0.0f;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) { float d = p[i] - m; s += d * d; }
    return s;
}

CLONES void muse_layernorm_apply_row(const float *restrict x, float *restrict y, const float *g, const float *b,
                                     long n, float m, float rs) {
    for (long j = 0; j < n; j++) y[j] = (x[j] - m) * rs * g[j] + b[j];
}

void muse_layernorm_forward_row(const float *restrict x, float *restrict y, const float *g, const float *b,
                                long n, float eps, float *mean, float *rstd) {
    float m = muse_sum(x, n) / (float)n;
    float v = muse_sum_squared_deviation(x, n, m) / (float)n;
    float rs = 1.0f / __builtin_sqrtf(v + eps);
    *mean = m; *rstd = rs;
    muse_layernorm_apply_row(x, y, g, b, n, m, rs);
}

CLONES void muse_norm_backward_sums(const float *x, const float *dy, long n, float mean, float rstd,
                                    float *sum_dy, float *sum_dy_xhat) {
    float a1[16] = {0}, a2[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) { float d = dy[i + j]; a1[j] += d; a2[j] += d * ((x[i + j] - mean) * rstd); }
    }
    float s1 = 0.0f, s2 = 0.0f;
    for (int j = 0; j < 16; j++) { s1 += a1[j]; s2 += a2[j]; }
    for (; i < n; i++) { float d = dy[i]; s1 += d; s2 += d * ((x[i] - mean) * rstd); }
    *sum_dy = s1; *sum_dy_xhat = s2;
}

CLONES void muse_layernorm_backward_row(const float *restrict x, const float *restrict dy, const float *g, long n,
                                        float mean, float rstd, float *restrict dgamma, float *restrict dbeta,
                                        float *restrict dx) {
    float a1[16] = {0}, a2[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) {
            float xh = (x[i + j] - mean) * rstd, d = dy[i + j], dxh = d * g[i + j];
            a1[j] += dxh; a2[j] += dxh * xh;
            dgamma[i + j] += d * xh; dbeta[i + j] += d;
        }
    }
    float s1 = 0.0f, s2 = 0.0f;
    for (int j = 0; j < 16; j++) { s1 += a1[j]; s2 += a2[j]; }
    for (; i < n; i++) {
        float xh = (x[i] - mean) * rstd, d = dy[i], dxh = d * g[i];
        s1 += dxh; s2 += dxh * xh;
        dgamma[i] += d * xh; dbeta[i] += d;
    }
    float a = s1 / (float)n, b = s2 / (float)n;
    for (long j = 0; j < n; j++) { float xh = (x[j] - mean) * rstd; dx[j] = rstd * (dy[j] * g[j] - a - xh * b); }
}
