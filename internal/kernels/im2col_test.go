package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randConvGeom draws a geometry with stride, padding (asymmetric: the
// bottom/right padding only shows through OutH/OutW) and dilation, or
// reports false when the window does not fit.
func randConvGeom(r *rand.Rand) (ConvGeom, bool) {
	g := ConvGeom{
		C: 1 + r.IntN(3), H: 1 + r.IntN(9), W: 1 + r.IntN(9),
		KH: 1 + r.IntN(4), KW: 1 + r.IntN(4),
		StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3),
		PadH: r.IntN(3), PadW: r.IntN(3),
		DilH: 1 + r.IntN(3), DilW: 1 + r.IntN(3),
	}
	padB, padR := r.IntN(3), r.IntN(3)
	g.OutH = (g.H+g.PadH+padB-g.DilH*(g.KH-1)-1)/g.StrideH + 1
	g.OutW = (g.W+g.PadW+padR-g.DilW*(g.KW-1)-1)/g.StrideW + 1
	return g, g.H+g.PadH+padB-g.DilH*(g.KH-1)-1 >= 0 && g.W+g.PadW+padR-g.DilW*(g.KW-1)-1 >= 0
}

// tap returns the input index that kernel tap (c, kh, kw) reads at output
// (oh, ow), or -1 in the padding; the direct definition of a convolution.
func (g ConvGeom) tap(c, kh, kw, oh, ow int) int {
	ih := oh*g.StrideH - g.PadH + kh*g.DilH
	iw := ow*g.StrideW - g.PadW + kw*g.DilW
	if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
		return -1
	}
	return (c*g.H+ih)*g.W + iw
}

func naiveIm2col(g ConvGeom, x []float32) []float32 {
	hw := g.OutH * g.OutW
	cols := make([]float32, g.C*g.KH*g.KW*hw)
	for c := range g.C {
		for kh := range g.KH {
			for kw := range g.KW {
				row := (c*g.KH+kh)*g.KW + kw
				for oh := range g.OutH {
					for ow := range g.OutW {
						if i := g.tap(c, kh, kw, oh, ow); i >= 0 {
							cols[row*hw+oh*g.OutW+ow] = x[i]
						}
					}
				}
			}
		}
	}
	return cols
}

// naiveCol2im returns, in float64, dx0 plus the scatter of cols.
func naiveCol2im(g ConvGeom, cols, dx0 []float32) (want, tol []float64) {
	hw := g.OutH * g.OutW
	want, tol = make([]float64, len(dx0)), make([]float64, len(dx0))
	for i, v := range dx0 {
		want[i], tol[i] = float64(v), math.Abs(float64(v))
	}
	for c := range g.C {
		for kh := range g.KH {
			for kw := range g.KW {
				row := (c*g.KH+kh)*g.KW + kw
				for oh := range g.OutH {
					for ow := range g.OutW {
						if i := g.tap(c, kh, kw, oh, ow); i >= 0 {
							v := float64(cols[row*hw+oh*g.OutW+ow])
							want[i] += v
							tol[i] += math.Abs(v)
						}
					}
				}
			}
		}
	}
	n := float64(g.KH*g.KW + 3)
	for i := range tol {
		tol[i] *= n * u32
	}
	return want, tol
}

var fixedConvGeoms = []ConvGeom{
	{C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 1, OutW: 1},
	{C: 2, H: 5, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 5, OutW: 7},
	{C: 3, H: 8, W: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadH: 1, PadW: 0, DilH: 1, DilW: 1, OutH: 4, OutW: 2},
	{C: 1, H: 7, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 2, DilW: 2, OutH: 7, OutW: 7},
	// Padding larger than the kernel: whole rows and columns of taps in padding.
	{C: 1, H: 2, W: 3, KH: 2, KW: 2, StrideH: 1, StrideW: 2, PadH: 3, PadW: 3, DilH: 1, DilW: 1, OutH: 7, OutW: 5},
}

func TestIm2col(t *testing.T) {
	r := newRand(10)
	geoms := append([]ConvGeom(nil), fixedConvGeoms...)
	for len(geoms) < 300 {
		if g, ok := randConvGeom(r); ok {
			geoms = append(geoms, g)
		}
	}
	for _, g := range geoms {
		x := randSlice(r, g.C*g.H*g.W)
		x0 := append([]float32(nil), x...)
		want := naiveIm2col(g, x)
		// Start from NaN so that a cell Im2col forgets to write shows up.
		cols := newGuarded(len(want), 5)
		for i := range cols.body {
			cols.body[i] = float32(math.NaN())
		}
		Im2col(g, x, cols.body)
		name := fmt.Sprintf("Im2col %+v", g)
		cols.checkGuards(t, name)
		if !sameBits(x, x0) {
			t.Errorf("%s: modified x", name)
		}
		if !sameBits(cols.body, want) {
			for i := range want {
				if math.Float32bits(cols.body[i]) != math.Float32bits(want[i]) {
					t.Errorf("%s: cols[%d] = %v, want %v", name, i, cols.body[i], want[i])
					break
				}
			}
		}
	}
}

func TestCol2im(t *testing.T) {
	r := newRand(11)
	geoms := append([]ConvGeom(nil), fixedConvGeoms...)
	for len(geoms) < 300 {
		if g, ok := randConvGeom(r); ok {
			geoms = append(geoms, g)
		}
	}
	for _, g := range geoms {
		cols := randSlice(r, g.C*g.KH*g.KW*g.OutH*g.OutW)
		cols0 := append([]float32(nil), cols...)
		dx := newGuarded(g.C*g.H*g.W, 5)
		copy(dx.body, randSlice(r, len(dx.body))) // Col2im accumulates
		want, tol := naiveCol2im(g, cols, dx.body)
		Col2im(g, cols, dx.body)
		name := fmt.Sprintf("Col2im %+v", g)
		dx.checkGuards(t, name)
		if !sameBits(cols, cols0) {
			t.Errorf("%s: modified cols", name)
		}
		for i, got := range dx.body {
			if !(math.Abs(float64(got)-want[i]) <= tol[i]) {
				t.Errorf("%s: dx[%d] = %v, want %v ± %.3g", name, i, got, want[i], tol[i])
				break
			}
		}
	}
}

// TestIm2colAdjoint checks <Im2col(x), c> == <x, Col2im(c)>, both sums in
// float64, which holds only if Col2im is exactly the transpose of Im2col.
func TestIm2colAdjoint(t *testing.T) {
	r := newRand(12)
	for range 300 {
		g, ok := randConvGeom(r)
		if !ok {
			continue
		}
		x := randSlice(r, g.C*g.H*g.W)
		c := randSlice(r, g.C*g.KH*g.KW*g.OutH*g.OutW)
		cols := make([]float32, len(c))
		Im2col(g, x, cols)
		dx := make([]float32, len(x))
		Col2im(g, c, dx)
		var lhs, rhs, mag float64
		for i := range c {
			lhs += float64(cols[i]) * float64(c[i])
			mag += math.Abs(float64(cols[i]) * float64(c[i]))
		}
		for i := range x {
			rhs += float64(x[i]) * float64(dx[i])
		}
		// Only Col2im's float32 accumulation rounds: at most KH·KW terms
		// land on one input element.
		if tol := float64(g.KH*g.KW+3) * u32 * mag; math.Abs(lhs-rhs) > tol {
			t.Errorf("%+v: <Im2col(x), c> = %v, <x, Col2im(c)> = %v (tol %.3g)", g, lhs, rhs, tol)
		}
	}
}

func BenchmarkIm2col(b *testing.B) {
	cases := []struct {
		name string
		g    ConvGeom
	}{
		{"3x3s1p1_64x56x56", ConvGeom{C: 64, H: 56, W: 56, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 56, OutW: 56}},
		{"7x7s2p3_3x224x224", ConvGeom{C: 3, H: 224, W: 224, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3, DilH: 1, DilW: 1, OutH: 112, OutW: 112}},
		{"5x5s1p0_1x28x28", ConvGeom{C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 24, OutW: 24}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			g := tc.g
			x := randSlice(newRand(1), g.C*g.H*g.W)
			cols := make([]float32, g.C*g.KH*g.KW*g.OutH*g.OutW)
			b.SetBytes(int64(4 * len(cols)))
			for b.Loop() {
				Im2col(g, x, cols)
			}
		})
	}
}
