package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestSmallConv checks the direct convolution for tiny layers against the
// unfolded reference product plus the epilogue (bias, residual add, ReLU),
// over LeNet's layers and random stride-1 geometries with padding and odd
// sizes, every forced GEMM and vector path, NaN-filled scratch reused across
// runs, and guard bands around the output.
func TestSmallConv(t *testing.T) {
	r := newRand(31)
	geos := []ConvGeom{
		{C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 1, DilW: 1, OutH: 28, OutW: 28},
		{C: 6, H: 14, W: 14, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 10, OutW: 10},
		{C: 3, H: 7, W: 9, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 7, OutW: 9},
		{C: 2, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 1, OutW: 1},
	}
	for len(geos) < 24 {
		c, h, w := 1+r.IntN(5), 1+r.IntN(17), 1+r.IntN(17)
		kh, kw := 1+r.IntN(5), 1+r.IntN(5)
		ph, pw := r.IntN(3), r.IntN(3)
		g := ConvGeom{C: c, H: h, W: w, KH: kh, KW: kw, StrideH: 1, StrideW: 1, PadH: ph, PadW: pw, DilH: 1, DilW: 1,
			OutH: h + 2*ph - kh + 1, OutW: w + 2*pw - kw + 1}
		if g.OutH > 0 && g.OutW > 0 {
			geos = append(geos, g)
		}
	}
	for gi, g := range geos {
		if !SmallConvOK(g) {
			t.Fatalf("SmallConvOK(%+v) = false", g)
		}
		m := []int{6, 16, 1, 5, 13, 20}[gi%6]
		k, hw, chw := g.C*g.KH*g.KW, g.OutH*g.OutW, g.C*g.H*g.W
		x, w, bias := randSlice(r, chw), randSlice(r, m*k), randSlice(r, m)
		var add []float32
		if gi%3 == 2 {
			add = randSlice(r, m*hw)
		}
		relu := gi%2 == 0
		cols := naiveIm2col(g, x)
		ref, tl := naiveGemm(false, false, m, hw, k, 1, w, k, cols, hw, 0, nil, 0)
		for e := range ref {
			ref[e] += float64(bias[e/hw])
			if add != nil {
				ref[e] += float64(add[e])
			}
			if relu {
				ref[e] = max(ref[e], 0)
			}
		}
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			s := NewSmallConv(g, m, w, bias)
			restore()
			for _, vp := range vecPaths() {
				restoreVec := setVecPath(vp)
				sc := s.NewScratch()
				for i := range sc.c {
					sc.c[i] = float32(math.NaN())
				}
				for rep := range 2 {
					name := fmt.Sprintf("%s/%s rep %d m=%d add=%v relu=%v %+v", path, vp, rep, m, add != nil, relu, g)
					yg := newGuarded(m*hw, 9)
					for i := range yg.body {
						yg.body[i] = float32(math.NaN())
					}
					s.Run(x, yg.body, add, relu, sc)
					yg.checkGuards(t, name)
					for i, v := range yg.body {
						if d := math.Abs(float64(v) - ref[i]); !(d <= tl[i]+1e-6*math.Abs(ref[i])+1e-6) {
							t.Fatalf("%s: y[%d] = %v, want %v", name, i, v, ref[i])
						}
					}
				}
				restoreVec()
			}
		}
	}
}

func TestSmallConvRejects(t *testing.T) {
	g := ConvGeom{C: 1, H: 8, W: 8, KH: 3, KW: 3, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 3, OutW: 3}
	if SmallConvOK(g) {
		t.Fatal("stride 2 accepted")
	}
	mustPanicPrefix(t, "kernels: NewSmallConv", func() { NewSmallConv(g, 1, make([]float32, 9), make([]float32, 1)) })
}

func BenchmarkSmallConvLeNet(b *testing.B) {
	for _, g := range []ConvGeom{
		{C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 1, DilW: 1, OutH: 28, OutW: 28},
		{C: 6, H: 14, W: 14, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 10, OutW: 10},
	} {
		m := 6
		if g.C == 6 {
			m = 16
		}
		r := newRand(1)
		s := NewSmallConv(g, m, randSlice(r, m*g.C*25), randSlice(r, m))
		sc := s.NewScratch()
		x, y := randSlice(r, g.C*g.H*g.W), make([]float32, m*g.OutH*g.OutW)
		b.Run(fmt.Sprintf("C%d", g.C), func(b *testing.B) {
			for b.Loop() {
				s.Run(x, y, nil, true, sc)
			}
		})
	}
}
