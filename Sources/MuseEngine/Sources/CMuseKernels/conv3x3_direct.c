// 3x3 stride-1 convolution as one register-blocked kernel over the nine taps
// (see muse_conv3x3_taps in muse_kernels.h for the contract).
//
// Why: the engine's 3x3 convolutions ran as nine shifted GEMMs per image
// (ShiftedConv3x3.swift). At the tokenizer's small channel counts (32, 64) each
// of those GEMMs has K = 32 or 64, so the GEMM kernel loads and stores its
// output tile every 32-64 multiply-adds and re-packs its operands nine times.
// Here the accumulators of an output block stay in registers over all nine taps
// and every input channel (K = 9 x channels), and the input is read in place.
//
// Block: OB output rows x NB columns of accumulators.
//   AVX-512 (x86-64-v4): OB = 8, NB = 48 (8 x 3 zmm = 24 of 32 registers).
//   AVX2 + FMA (x86-64-v3): OB = 4, NB = 16 (4 x 2 ymm = 8 of 16 registers).
// Each (tap, input row) step loads NB / lanes vectors of the input and
// broadcasts OB weights for OB x NB / lanes fused multiply-adds, so the FMA
// units, not the loads, bound it. The sums run in a fixed order (blocks of 32
// input rows, then tap, then input row), so results are deterministic for a
// given variant.
#include "muse_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Input rows per pass over a column block: their slice of the input (32 rows x
// about 3 lines per tap row) stays in L1 while every output block reads it; the
// partial sums of a block go to `out` between passes.
#define IN_BLOCK 32

__attribute__((target("avx512f")))
static void taps_avx512(const float *in, long plane, int rows_in, const float *w, int rows_out,
                        const long *shift, float *out, long ldo, long columns) {
    for (long n0 = 0; n0 < columns; n0 += 48) {
        for (int i0 = 0; i0 < rows_in; i0 += IN_BLOCK) {
            int i1 = i0 + IN_BLOCK < rows_in ? i0 + IN_BLOCK : rows_in;
            for (int o0 = 0; o0 < rows_out; o0 += 8) {
                __m512 acc[8][3];
                for (int q = 0; q < 8; q++) {
                    const float *d = out + (long)(o0 + q) * ldo + n0;
                    for (int j = 0; j < 3; j++) acc[q][j] = i0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(d + 16 * j);
                }
                for (int k = 0; k < 9; k++) {
                    const float *src = in + shift[k] + n0;
                    const float *wk = w + (long)k * rows_in * rows_out + o0;
                    for (int i = i0; i < i1; i++) {
                        const float *s = src + (long)i * plane;
                        __m512 x0 = _mm512_loadu_ps(s), x1 = _mm512_loadu_ps(s + 16), x2 = _mm512_loadu_ps(s + 32);
                        const float *wi = wk + (long)i * rows_out;
                        for (int q = 0; q < 8; q++) {
                            __m512 b = _mm512_set1_ps(wi[q]);
                            acc[q][0] = _mm512_fmadd_ps(x0, b, acc[q][0]);
                            acc[q][1] = _mm512_fmadd_ps(x1, b, acc[q][1]);
                            acc[q][2] = _mm512_fmadd_ps(x2, b, acc[q][2]);
                        }
                    }
                }
                for (int q = 0; q < 8; q++) {
                    float *d = out + (long)(o0 + q) * ldo + n0;
                    _mm512_storeu_ps(d, acc[q][0]); _mm512_storeu_ps(d + 16, acc[q][1]); _mm512_storeu_ps(d + 32, acc[q][2]);
                }
            }
        }
    }
}

// 4 x 2 ymm accumulators, not 4 x 3: with 3 columns of vectors the 12
// accumulators, 3 inputs and a broadcast took all 16 ymm registers and clang
// spilled an accumulator to the stack in the inner loop.
__attribute__((target("avx2,fma")))
static void taps_avx2(const float *in, long plane, int rows_in, const float *w, int rows_out,
                      const long *shift, float *out, long ldo, long columns) {
    for (long n0 = 0; n0 < columns; n0 += 16) {
        for (int i0 = 0; i0 < rows_in; i0 += IN_BLOCK) {
            int i1 = i0 + IN_BLOCK < rows_in ? i0 + IN_BLOCK : rows_in;
            for (int o0 = 0; o0 < rows_out; o0 += 4) {
                __m256 acc[4][2];
                for (int q = 0; q < 4; q++) {
                    const float *d = out + (long)(o0 + q) * ldo + n0;
                    for (int j = 0; j < 2; j++) acc[q][j] = i0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(d + 8 * j);
                }
                for (int k = 0; k < 9; k++) {
                    const float *src = in + shift[k] + n0;
                    const float *wk = w + (long)k * rows_in * rows_out + o0;
                    for (int i = i0; i < i1; i++) {
                        const float *s = src + (long)i * plane;
                        __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + 8);
                        const float *wi = wk + (long)i * rows_out;
                        for (int q = 0; q < 4; q++) {
                            __m256 b = _mm256_broadcast_ss(wi + q);
                            acc[q][0] = _mm256_fmadd_ps(x0, b, acc[q][0]);
                            acc[q][1] = _mm256_fmadd_ps(x1, b, acc[q][1]);
                        }
                    }
                }
                for (int q = 0; q < 4; q++) {
                    float *d = out + (long)(o0 + q) * ldo + n0;
                    _mm256_storeu_ps(d, acc[q][0]); _mm256_storeu_ps(d + 8, acc[q][1]);
                }
            }
        }
    }
}

// Weight gradient: dw[(k * rows_a + a) * rows_b + b] += sum over n < columns of
//   da[a * lda + n] * xb[b * plane + shift[k] + n]
// Block: 4 x 4 (AVX-512) or 2 x 4 (AVX2) pairs (a, b), each a vector of partial
// sums over n, reduced once at the end; every step loads the block's rows of
// both operands once for all its pairs.
__attribute__((target("avx512f")))
static void grad_avx512(const float *da, long lda, int rows_a, const float *xb, long plane, int rows_b,
                        const long *shift, float *dw, long columns) {
    for (int k = 0; k < 9; k++) {
        for (int a0 = 0; a0 < rows_a; a0 += 4) {
            for (int b0 = 0; b0 < rows_b; b0 += 4) {
                __m512 acc[4][4];
                for (int p = 0; p < 4; p++) for (int q = 0; q < 4; q++) acc[p][q] = _mm512_setzero_ps();
                const float *pa = da + (long)a0 * lda, *pb = xb + (long)b0 * plane + shift[k];
                for (long n = 0; n < columns; n += 16) {
                    __m512 u0 = _mm512_loadu_ps(pa + n), u1 = _mm512_loadu_ps(pa + lda + n);
                    __m512 u2 = _mm512_loadu_ps(pa + 2 * lda + n), u3 = _mm512_loadu_ps(pa + 3 * lda + n);
                    for (int q = 0; q < 4; q++) {
                        __m512 v = _mm512_loadu_ps(pb + q * plane + n);
                        acc[0][q] = _mm512_fmadd_ps(u0, v, acc[0][q]);
                        acc[1][q] = _mm512_fmadd_ps(u1, v, acc[1][q]);
                        acc[2][q] = _mm512_fmadd_ps(u2, v, acc[2][q]);
                        acc[3][q] = _mm512_fmadd_ps(u3, v, acc[3][q]);
                    }
                }
                for (int p = 0; p < 4; p++) for (int q = 0; q < 4; q++)
                    dw[((long)k * rows_a + a0 + p) * rows_b + b0 + q] += _mm512_reduce_add_ps(acc[p][q]);
            }
        }
    }
}

__attribute__((target("avx2,fma")))
static float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static void grad_avx2(const float *da, long lda, int rows_a, const float *xb, long plane, int rows_b,
                      const long *shift, float *dw, long columns) {
    for (int k = 0; k < 9; k++) {
        for (int a0 = 0; a0 < rows_a; a0 += 2) {
            for (int b0 = 0; b0 < rows_b; b0 += 4) {
                __m256 acc[2][4];
                for (int p = 0; p < 2; p++) for (int q = 0; q < 4; q++) acc[p][q] = _mm256_setzero_ps();
                const float *pa = da + (long)a0 * lda, *pb = xb + (long)b0 * plane + shift[k];
                for (long n = 0; n < columns; n += 8) {
                    __m256 u0 = _mm256_loadu_ps(pa + n), u1 = _mm256_loadu_ps(pa + lda + n);
                    for (int q = 0; q < 4; q++) {
                        __m256 v = _mm256_loadu_ps(pb + q * plane + n);
                        acc[0][q] = _mm256_fmadd_ps(u0, v, acc[0][q]);
                        acc[1][q] = _mm256_fmadd_ps(u1, v, acc[1][q]);
                    }
                }
                for (int p = 0; p < 2; p++) for (int q = 0; q < 4; q++)
                    dw[((long)k * rows_a + a0 + p) * rows_b + b0 + q] += sum8(acc[p][q]);
            }
        }
    }
}

static int has_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

// The default (requested 0) is the AVX-512 variant only. Against OpenBLAS's AVX2
// (Haswell) GEMMs the AVX2 one was mixed (`OPENBLAS_CORETYPE=Haswell muse-bench
// --conv3x3 avx2` on a Xeon: 3x3 fwd+bwd 1.08-1.14x at 32 channels, 0.94-0.97x at
// 128; tokenizer step 1.15x on full images, 0.94x on crops) and no AVX2-only
// machine has timed it yet, so it runs only when asked for (tests, benchmarks).
int muse_conv3x3_taps_variant(int requested) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if ((requested == 0 || requested == 2) && has_avx512()) return 2;
    if (requested == 1 && has_avx2()) return 1;
#else
    (void)requested;
#endif
    return 0;
}

int muse_conv3x3_taps_block_rows(int variant) { return variant == 2 ? 8 : (variant == 1 ? 4 : 0); }
int muse_conv3x3_taps_block_columns(int variant) { return variant == 2 ? 48 : (variant == 1 ? 16 : 0); }

int muse_conv3x3_taps(int variant, const float *in, long plane, int rows_in, const float *w, int rows_out,
                      const long *shift, float *out, long ldo, long columns) {
    int rb = muse_conv3x3_taps_block_rows(variant), cb = muse_conv3x3_taps_block_columns(variant);
    if (rb == 0 || variant != muse_conv3x3_taps_variant(variant)) return 0;
    if (rows_out % rb != 0 || columns % cb != 0 || rows_in <= 0) return 0;
#if defined(__x86_64__)
    if (variant == 2) taps_avx512(in, plane, rows_in, w, rows_out, shift, out, ldo, columns);
    else taps_avx2(in, plane, rows_in, w, rows_out, shift, out, ldo, columns);
    return 1;
#else
    (void)in; (void)plane; (void)w; (void)shift; (void)out; (void)ldo;
    return 0;
#endif
}

int muse_conv3x3_grad_block_rows_a(int variant) { return variant == 2 ? 4 : (variant == 1 ? 2 : 0); }
int muse_conv3x3_grad_block_rows_b(int variant) { return variant == 2 || variant == 1 ? 4 : 0; }
int muse_conv3x3_grad_block_columns(int variant) { return variant == 2 ? 16 : (variant == 1 ? 8 : 0); }

int muse_conv3x3_grad(int variant, const float *da, long lda, int rows_a, const float *xb, long plane, int rows_b,
                      const long *shift, float *dw, long columns) {
    int ra = muse_conv3x3_grad_block_rows_a(variant), rb = muse_conv3x3_grad_block_rows_b(variant);
    int cb = muse_conv3x3_grad_block_columns(variant);
    if (ra == 0 || variant != muse_conv3x3_taps_variant(variant)) return 0;
    if (rows_a % ra != 0 || rows_b % rb != 0 || columns % cb != 0) return 0;
#if defined(__x86_64__)
    if (variant == 2) grad_avx512(da, lda, rows_a, xb, plane, rows_b, shift, dw, columns);
    else grad_avx2(da, lda, rows_a, xb, plane, rows_b, shift, dw, columns);
    return 1;
#else
    (void)da; (void)lda; (void)xb; (void)plane; (void)shift; (void)dw;
    return 0;
#endif
}
