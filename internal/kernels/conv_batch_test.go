package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestGemmConvImages checks the batched implicit GEMM (images side by
// side) against the unfolded reference product per image, with the
// epilogue (bias, residual add, ReLU) in NCHW, over random and ResNet-like
// geometries, odd batch sizes, every forced CPU path and thread count,
// NaN-filled scratch and guard bands around the output.
func TestGemmConvImages(t *testing.T) {
	r := newRand(23)
	var geos []ConvGeom
	for len(geos) < 30 {
		if g, ok := randConvGeom(r); ok {
			geos = append(geos, g)
		}
	}
	geos = append(geos,
		ConvGeom{C: 9, H: 7, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 7, OutW: 7},
		ConvGeom{C: 40, H: 13, W: 13, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 7, OutW: 7},
		ConvGeom{C: 30, H: 12, W: 11, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 12, OutW: 11},
		ConvGeom{C: 300, H: 5, W: 6, KH: 1, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 5, OutW: 4}, // k > kc, in place
		ConvGeom{C: 12, H: 14, W: 14, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 7, OutW: 7},
	)
	for gi, g := range geos {
		m := []int{1, 5, 13, 64, 70}[gi%5]
		n := []int{1, 2, 3, 5}[gi%4]
		k, hw := g.C*g.KH*g.KW, g.OutH*g.OutW
		chw := g.C * g.H * g.W
		x := randSlice(r, n*chw)
		a, lda := denseWithPad(r, m, k, gi%2, gi%3)
		var ep *Epilogue
		if gi%3 != 0 {
			ep = &Epilogue{ReLU: gi%2 == 1}
			if gi%5 != 1 {
				ep.RowBias = randSlice(r, m)
			}
			if gi%3 == 2 {
				ep.Add = randSlice(r, n*m*hw)
			}
		}
		// Reference: each image unfolded and multiplied, then the epilogue.
		want, tol := make([]float64, n*m*hw), make([]float64, n*m*hw)
		for i := range n {
			cols := naiveIm2col(g, x[i*chw:(i+1)*chw])
			w, tl := naiveGemm(false, false, m, hw, k, 1, a, lda, cols, hw, 0, nil, 0)
			for e := range m * hw {
				v := w[e]
				if ep != nil {
					if ep.RowBias != nil {
						v += float64(ep.RowBias[e/hw])
					}
					if ep.Add != nil {
						v += float64(ep.Add[i*m*hw+e])
					}
					if ep.ReLU {
						v = max(v, 0)
					}
				}
				want[i*m*hw+e], tol[i*m*hw+e] = v, tl[e]+1e-6*math.Abs(v)
			}
		}
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			pa := PackA(m, n*hw, k, a, lda)
			restore()
			for _, th := range []int{1, 2, 3} {
				for _, par := range []bool{false, true} {
					name := fmt.Sprintf("%s threads=%d parallel=%v m=%d n=%d %+v", path, th, par, m, n, g)
					scratch := make([]float32, ConvImagesScratch(g, m, n))
					for i := range scratch {
						scratch[i] = float32(math.NaN())
					}
					yg := newGuarded(n*m*hw, 7)
					for i := range yg.body {
						yg.body[i] = float32(math.NaN())
					}
					withThreads(th, func() { GemmConvImages(pa, g, n, x, scratch, yg.body, ep, par) })
					yg.checkGuards(t, name)
					for i, v := range yg.body {
						if d := math.Abs(float64(v) - want[i]); !(d <= tol[i]) {
							t.Fatalf("%s: y[%d] = %v, want %v ± %g", name, i, v, want[i], tol[i])
						}
					}
				}
			}
		}
	}
}

func TestGemmConvImagesPanics(t *testing.T) {
	g := ConvGeom{C: 2, H: 4, W: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 4, OutW: 4}
	pa := PackA(3, 32, 18, make([]float32, 3*18), 18)
	sc, y := make([]float32, ConvImagesScratch(g, 3, 2)), make([]float32, 2*3*16)
	mustPanicPrefix(t, "kernels: GemmConvImages: a buffer", func() { GemmConvImages(pa, g, 2, make([]float32, 63), sc, y, nil, false) })
	mustPanicPrefix(t, "kernels: GemmConvImages: a buffer", func() { GemmConvImages(pa, g, 2, make([]float32, 64), sc[:len(sc)-1], y, nil, false) })
	mustPanicPrefix(t, "kernels: GemmConvImages: epilogue Add", func() {
		GemmConvImages(pa, g, 2, make([]float32, 64), sc, y, &Epilogue{Add: make([]float32, 95)}, false)
	})
	g.C = 3
	mustPanicPrefix(t, "kernels: GemmConvImages: packed weights", func() { GemmConvImages(pa, g, 2, make([]float32, 96), sc, y, nil, false) })
}
