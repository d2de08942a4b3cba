import CMuseKernels

// Vectorized elementwise math (C kernels in CMuseKernels, auto-vectorized with
// AVX-512/AVX2 runtime dispatch). libm's scalar expf would cost as much as the
// GEMMs around softmax and the activations.

/// `p[i] = exp(p[i] - shift)` for i in 0..<n; returns the sum of the results
/// (inputs below -87.3, including -inf, give exactly 0).
@inline(__always)
func expShiftInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    muse_exp_shift_inplace(p, n, shift)
}

/// exp of one value through the same kernel (tests).
func expf1(_ x: Float) -> Float { muse_exp(x) }

/// Largest of `n` values (-inf when empty).
@inline(__always)
func vmax(_ p: UnsafePointer<Float>, _ n: Int) -> Float { muse_max(p, n) }

/// `p[i] *= s`.
@inline(__always)
func vscale(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ s: Float) { muse_scale(p, n, s) }
