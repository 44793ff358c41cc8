package kernels

import (
	"math"
	"testing"
)

// TestGELU checks the float32 GELU and its gradient against the float64
// definitions (math.Erf, math.Exp) over [−12, 12] and at the edges: the
// result within 2·10⁻⁶ of itself plus 4·|x|·2⁻²⁴ (Φ's absolute float32
// error where 1 + erf cancels), the gradient within 2·10⁻⁶ of the
// larger of 1 and |x|·φ(x).
func TestGELU(t *testing.T) {
	var xs []float32
	for v := -12.0; v <= 12; v += 1.0 / 1024 {
		xs = append(xs, float32(v))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 100, -100, 3.4e38, -3.4e38)
	y, dx, g := make([]float32, len(xs)), make([]float32, len(xs)), make([]float32, len(xs))
	for i := range g {
		g[i] = 1
	}
	GELUTo(y, xs)
	GELUBackward(dx, g, xs)
	var worstY, worstD float64
	for i, v := range xs {
		u := float64(v)
		cdf := 0.5 * (1 + math.Erf(u/math.Sqrt2))
		wantY := u * cdf
		wantD := cdf + u*math.Exp(-0.5*u*u)/math.Sqrt(2*math.Pi)
		// Error relative to the scale of the terms (|x|·Φ and |x|·φ can
		// cancel against each other only within that scale).
		scaleY := math.Max(math.Abs(wantY), 1e-30)
		scaleD := math.Max(1, math.Abs(u)*math.Exp(-0.5*u*u))
		if math.Abs(u) > 1e30 {
			continue // x·Φ overflows nowhere but the checks' scale does
		}
		// 1 + erf(x/√2) cancels for negative x: in float32 (as in
		// PyTorch's float32 kernel) Φ has an absolute error of about
		// 2⁻²⁴, so GELU one of |x|·2⁻²⁴ besides its relative one.
		ey := math.Abs(float64(y[i])-wantY) / (scaleY + 4*math.Abs(u)*0x1p-24/2e-6)
		ed := math.Abs(float64(dx[i])-wantD) / scaleD
		worstY, worstD = math.Max(worstY, ey), math.Max(worstD, ed)
		if ey > 2e-6 || ed > 2e-6 {
			t.Fatalf("x = %v: GELU %v (want %v, rel err %.2g), gradient %v (want %v, err %.2g)", v, y[i], wantY, ey, dx[i], wantD, ed)
		}
	}
	t.Logf("worst relative error: GELU %.3g, gradient %.3g", worstY, worstD)
	nan := float32(math.NaN())
	GELUTo(y[:1], []float32{nan})
	GELUBackward(dx[:1], g[:1], []float32{nan})
	if y[0] == y[0] || dx[0] == dx[0] {
		t.Errorf("GELU(NaN) = %v, gradient %v: want NaN", y[0], dx[0])
	}
	inf := float32(math.Inf(1))
	GELUTo(y[:1], []float32{inf})
	if y[0] != inf {
		t.Errorf("GELU(+Inf) = %v", y[0])
	}
}

// TestExpNeg32 checks the float32 exponential of non-positive arguments
// against math.Exp: within 2 ulps down to −87, where it stops.
func TestExpNeg32(t *testing.T) {
	for v := 0.0; v >= -87; v -= 1.0 / 256 {
		x := float32(v)
		got, want := float64(expNeg32(x)), math.Exp(float64(x))
		if math.Abs(got-want) > 2.5*want*0x1p-24 {
			t.Fatalf("expNeg32(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestGELUPaths checks that every kernel path gives the generic loop's
// bits for GELU and its gradient over [−100, 100] (TestVecKernels covers
// the special values, lengths and alignments on [−2, 2]).
func TestGELUPaths(t *testing.T) {
	var xs, g []float32
	for v := -100.0; v <= 100; v += 1.0 / 64 {
		xs, g = append(xs, float32(v)), append(g, float32(math.Sin(v)))
	}
	want, wantD := make([]float32, len(xs)), make([]float32, len(xs))
	geluGeneric(want, xs)
	geluBackwardGeneric(wantD, g, xs)
	forEachVecPath(t, func(t *testing.T) {
		y, d := make([]float32, len(xs)), make([]float32, len(xs))
		GELUTo(y, xs)
		GELUBackward(d, g, xs)
		for i := range xs {
			if !sameF32(y[i], want[i]) || !sameF32(d[i], wantD[i]) {
				t.Fatalf("x = %v: GELU %v, gradient %v; the generic loop gives %v, %v", xs[i], y[i], d[i], want[i], wantD[i])
			}
		}
	})
}
