package kernels

import "math"

// GELU in float32: x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2, the exact form
// (PyTorch's approximate="none"), from a rational approximation of erf
// instead of math.Erf in float64, which made GELU half of a training step
// of airbench94. Every operation rounds to float32 as written (each
// product is converted before it is added, so no compiler may fuse it),
// so that vector bodies doing the same operations give the same bits.
//
// erf(x) ≈ x·P(x²)/Q(x²) on x clamped to [−4, 4] (beyond, erf is ±1 in
// float32), with the monomial coefficients of Eigen's
// generic_fast_erf_float (also TensorFlow's and XLA's): its error is a few
// float32 ulps. φ(x) = exp(−x²/2)/√(2π) uses expNeg32.

// erf32 coefficients: P's (odd, α₁…α₁₃) and Q's (even, β₀…β₈).
const (
	erfA1  = -1.60960333262415e-02
	erfA3  = -2.95459980854025e-03
	erfA5  = -7.34990630326855e-04
	erfA7  = -5.69250639462346e-05
	erfA9  = -2.10102402082508e-06
	erfA11 = 2.77068142495902e-08
	erfA13 = -2.72614225801306e-10
	erfB0  = -1.42647390514189e-02
	erfB2  = -7.37332916720468e-03
	erfB4  = -1.68282697438203e-03
	erfB6  = -2.13374055278905e-04
	erfB8  = -1.45660718464996e-05

	sqrtHalf32   = float32(0.70710678118654752440) // 1/√2
	invSqrt2Pi32 = float32(0.39894228040143267794) // 1/√(2π)
)

// erf32 returns erf(x) for float32 x (NaN for NaN).
func erf32(x float32) float32 {
	x = min32(max32(x, -4), 4)
	x2 := x * x
	p := float32(x2*erfA13) + erfA11
	p = float32(x2*p) + erfA9
	p = float32(x2*p) + erfA7
	p = float32(x2*p) + erfA5
	p = float32(x2*p) + erfA3
	p = float32(x2*p) + erfA1
	p = x * p
	q := float32(x2*erfB8) + erfB6
	q = float32(x2*q) + erfB4
	q = float32(x2*q) + erfB2
	q = float32(x2*q) + erfB0
	return p / q
}

// max32 and min32 are MAXPS and MINPS: the second operand when either is
// NaN, so that a NaN x passes through the clamps of erf32 and expNeg32 as
// the vector bodies pass it.
func max32(x, y float32) float32 {
	if x > y {
		return x
	}
	return y
}

func min32(x, y float32) float32 {
	if x < y {
		return x
	}
	return y
}

// Cody–Waite constants of expNeg32: ln 2 split in a part exact in few bits
// and the rest, and the minimax polynomial of eʳ on |r| ≤ ln2/2 (Cephes'
// expf coefficients).
const (
	log2e32 = float32(1.44269504088896341)
	ln2Hi32 = float32(0.693359375)
	ln2Lo32 = float32(-2.12194440e-4)
	expP0   = float32(1.9875691500e-4)
	expP1   = float32(1.3981999507e-3)
	expP2   = float32(8.3334519073e-3)
	expP3   = float32(4.1665795894e-2)
	expP4   = float32(1.6666665459e-1)
	expP5   = float32(5.0000001201e-1)
	expMin  = float32(-87.0) // e^−87 is still a normal float32
)

// expNeg32 returns eˣ for x ≤ 0 (x below −87 counts as −87: the result is
// then below 2⁻¹²⁵, which is what φ needs of it).
func expNeg32(x float32) float32 {
	x = max32(x, expMin)
	n := float32(math.Floor(float64(float32(x*log2e32) + 0.5)))
	r := x - float32(n*ln2Hi32)
	r = r - float32(n*ln2Lo32)
	r2 := r * r
	p := float32(expP0*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	p = float32(p*r2) + r
	p = p + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// geluGeneric sets dst = x·Φ(x).
func geluGeneric(dst, x []float32) {
	for i, v := range x {
		c := 1 + erf32(v*sqrtHalf32)
		dst[i] = float32(0.5*v) * c
	}
}

// geluBackwardGeneric sets dx = g·(Φ(x) + x·φ(x)).
func geluBackwardGeneric(dx, g, x []float32) {
	for i, v := range x {
		cdf := float32(0.5 * (1 + erf32(v*sqrtHalf32)))
		pdf := invSqrt2Pi32 * expNeg32(float32(-0.5*v)*v)
		dx[i] = g[i] * (cdf + float32(v*pdf))
	}
}

// GELUTo sets dst = x·Φ(x) (GELU, exact form, float32 approximation of
// erf; see gelu.go).
func GELUTo(dst, x []float32) {
	checkVec("GELUTo", len(dst), len(x), len(x))
	geluTo(dst, x)
}

// GELUBackward sets dx = g·(Φ(x) + x·φ(x)), the gradient of [GELUTo].
func GELUBackward(dx, g, x []float32) {
	checkVec("GELUBackward", len(dx), len(g), len(x))
	geluBackward(dx, g, x)
}
