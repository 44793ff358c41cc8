package kernels

import (
	"fmt"
	"math"
	"testing"
)

// winograd43Tol is the tolerance of the F(4×4, 3×3) convolution relative to
// the sum of the magnitudes of the products making an output,
// Σ|w|·|x| (plus the bias and residual): its transforms scale inputs by up
// to 4–8 and cancel, so its float32 rounding error is larger than a direct
// sum's (measured worst ratio ≈ 2e-6 here, against ≈ 1e-7 for a direct sum).
const winograd43Tol = 1e-5

// TestWinograd43 checks the Winograd convolution against the unfolded
// float64 reference with bias, residual add and ReLU, over ResNet-like and
// odd geometries (partial tiles, padding 0–2, planes smaller than a tile),
// batches, every forced GEMM path and serial/parallel, with NaN-filled
// scratch and guard bands around the output.
func TestWinograd43(t *testing.T) {
	r := newRand(43)
	geo := func(c, h, w, pad int) ConvGeom {
		return ConvGeom{C: c, H: h, W: w, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: pad, PadW: pad, DilH: 1, DilW: 1,
			OutH: h + 2*pad - 2, OutW: w + 2*pad - 2}
	}
	geos := []ConvGeom{geo(16, 14, 14, 1), geo(3, 7, 7, 1), geo(5, 9, 11, 1), geo(2, 3, 3, 0), geo(4, 1, 1, 1),
		geo(7, 6, 5, 2), geo(33, 8, 8, 1), geo(1, 13, 4, 0), geo(70, 5, 5, 1),
		geo(2, 70, 70, 1), geo(3, 46, 41, 1)} // more tiles than a chunk (winoChunk), across images
	worst := 0.0
	for gi, g := range geos {
		m := []int{8, 1, 13, 20, 3}[gi%5]
		n := []int{1, 2, 3}[gi%3]
		k, hw, chw := g.C*9, g.OutH*g.OutW, g.C*g.H*g.W
		x, w, bias := randSlice(r, n*chw), randSlice(r, m*k), randSlice(r, m)
		var add []float32
		if gi%2 == 1 {
			add = randSlice(r, n*m*hw)
		}
		relu := gi%3 != 1
		want, mag := make([]float64, n*m*hw), make([]float64, n*m*hw)
		absW := make([]float32, len(w))
		for i, v := range w {
			absW[i] = float32(math.Abs(float64(v)))
		}
		for i := range n {
			cols := naiveIm2col(g, x[i*chw:(i+1)*chw])
			acols := make([]float32, len(cols))
			for j, v := range cols {
				acols[j] = float32(math.Abs(float64(v)))
			}
			ref, _ := naiveGemm(false, false, m, hw, k, 1, w, k, cols, hw, 0, nil, 0)
			am, _ := naiveGemm(false, false, m, hw, k, 1, absW, k, acols, hw, 0, nil, 0)
			for e := range m * hw {
				v, a := ref[e]+float64(bias[e/hw]), am[e]+math.Abs(float64(bias[e/hw]))
				if add != nil {
					v += float64(add[i*m*hw+e])
					a += math.Abs(float64(add[i*m*hw+e]))
				}
				if relu {
					v = max(v, 0)
				}
				want[i*m*hw+e], mag[i*m*hw+e] = v, a
			}
		}
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			wg := NewWinograd43(g, m, n, w, bias)
			restore()
			for _, par := range []bool{false, true} {
				name := fmt.Sprintf("%s parallel=%v m=%d n=%d %+v", path, par, m, n, g)
				scratch := make([]float32, wg.ScratchSize())
				for i := range scratch {
					scratch[i] = float32(math.NaN())
				}
				yg := newGuarded(n*m*hw, 7)
				for i := range yg.body {
					yg.body[i] = float32(math.NaN())
				}
				wg.Bind(x, yg.body, add, relu, scratch)
				withThreads(2, func() { wg.Run(par) })
				yg.checkGuards(t, name)
				for i, v := range yg.body {
					d := math.Abs(float64(v) - want[i])
					worst = max(worst, d/mag[i])
					if !(d <= winograd43Tol*mag[i]) {
						t.Fatalf("%s: y[%d] = %v, want %v (|Σ| %g)", name, i, v, want[i], mag[i])
					}
				}
			}
		}
	}
	t.Logf("worst error / Σ|w·x| = %.3g", worst)
}

func TestWinograd43Rejects(t *testing.T) {
	g := ConvGeom{C: 1, H: 8, W: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 4, OutW: 4}
	if Winograd43OK(g) {
		t.Fatal("stride 2 accepted")
	}
	mustPanicPrefix(t, "kernels: NewWinograd43", func() { NewWinograd43(g, 1, 1, make([]float32, 9), make([]float32, 1)) })
}
