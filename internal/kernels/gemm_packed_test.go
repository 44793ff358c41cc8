package kernels

import (
	"fmt"
	"math"
	"testing"
)

// checkPackedResult compares C (in a guard band, row gaps holding
// sentinels) with want ± tol plus the epilogue (bias, residual, ReLU) applied
// in float64.
func checkPackedResult(t *testing.T, name string, cg guarded, c0 []float32, m, n, ldc int, want, tol []float64, ep *Epilogue) {
	t.Helper()
	cg.checkGuards(t, name)
	bad := 0
	for i, got := range cg.body {
		r, j := i/ldc, i%ldc
		if j >= n {
			if math.Float32bits(got) != math.Float32bits(c0[i]) {
				t.Errorf("%s: wrote C[%d][%d] outside the m×n window", name, r, j)
				return
			}
			continue
		}
		w, e := want[r*n+j], tol[r*n+j]
		if ep != nil {
			if ep.RowBias != nil {
				w += float64(ep.RowBias[r])
				e += 2 * u32 * math.Abs(w)
			}
			if ep.Add != nil {
				w += float64(ep.Add[r*ep.LdAdd+j])
				e += 2 * u32 * math.Abs(w)
			}
			if ep.ReLU {
				w = max(w, 0)
			}
		}
		if !(math.Abs(float64(got)-w) <= e) {
			if bad++; bad <= 3 {
				t.Errorf("%s: C[%d][%d] = %v, want %v ± %.3g", name, r, j, got, w, e)
			}
		}
	}
}

// randEpilogue returns nil or an epilogue with some of bias, residual and
// ReLU for an m×n product.
func randEpilogue(t int, m, n int, seed uint64) *Epilogue {
	if t%4 == 0 {
		return nil
	}
	r := newRand(seed)
	ep := &Epilogue{ReLU: t%2 == 1}
	if t%4 != 3 {
		ep.RowBias = randSlice(r, m)
	}
	if t%4 >= 2 {
		ep.LdAdd = n + t%3
		ep.Add = randSlice(r, (m-1)*ep.LdAdd+n)
	}
	return ep
}

// TestGemmPacked checks GemmPacked against naiveGemm over random shapes
// with tails, every micro-kernel path forced (the packing follows the
// forced kernel), serial and parallel, with and without epilogues.
func TestGemmPacked(t *testing.T) {
	r := newRand(7)
	shapes := [][3]int{{1, 1, 1}, {7, 5, 3}, {6, 64, 256}, {13, 130, 257}, {70, 300, 600}, {3, 700, 40}, {200, 9, 513}}
	for range 12 {
		shapes = append(shapes, [3]int{1 + r.IntN(80), 1 + r.IntN(300), 1 + r.IntN(700)})
	}
	for si, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		pad := si % 3
		a, lda := denseWithPad(r, m, k, pad, si%4)
		b, ldb := denseWithPad(r, k, n, pad+1, (si+1)%4)
		want, tol := naiveGemm(false, false, m, n, k, 1, a, lda, b, ldb, 0, nil, 0)
		ldc := n + pad
		c0 := make([]float32, (m-1)*ldc+n)
		for i := range c0 {
			if i%ldc >= n {
				c0[i] = sentinel(i)
			} else {
				c0[i] = float32(math.NaN())
			}
		}
		ep := randEpilogue(si, m, n, uint64(si))
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			pa := PackA(m, n, k, a, lda)
			restore()
			for _, th := range []int{1, 2, 3} {
				for _, par := range []bool{false, true} {
					name := fmt.Sprintf("%s threads=%d parallel=%v m=%d n=%d k=%d ep=%v", path, th, par, m, n, k, ep != nil)
					cg := newGuarded(len(c0), 5)
					copy(cg.body, c0)
					withThreads(th, func() { GemmPacked(pa, n, b, ldb, cg.body, ldc, ep, par) })
					checkPackedResult(t, name, cg, c0, m, n, ldc, want, tol, ep)
				}
			}
		}
	}
}

// TestGemmConv checks the implicit GEMM against naiveIm2col followed by
// naiveGemm over random geometries (stride, padding, dilation, asymmetric
// padding) and conv-like shapes, every path forced, serial and parallel.
func TestGemmConv(t *testing.T) {
	r := newRand(11)
	var geos []ConvGeom
	for len(geos) < 60 {
		if g, ok := randConvGeom(r); ok {
			geos = append(geos, g)
		}
	}
	geos = append(geos,
		ConvGeom{C: 16, H: 28, W: 28, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 28, OutW: 28},
		ConvGeom{C: 9, H: 7, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 7, OutW: 7},
		ConvGeom{C: 3, H: 37, W: 41, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3, DilH: 1, DilW: 1, OutH: 19, OutW: 21},
		ConvGeom{C: 40, H: 13, W: 13, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 7, OutW: 7},
		ConvGeom{C: 30, H: 12, W: 11, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 12, OutW: 11},
		ConvGeom{C: 300, H: 5, W: 6, KH: 1, KW: 3, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 5, OutW: 4}, // k > kc, in place
	)
	for gi, g := range geos {
		m := []int{1, 5, 13, 64, 70}[gi%5]
		k, n := g.C*g.KH*g.KW, g.OutH*g.OutW
		x := randSlice(r, g.C*g.H*g.W)
		x0 := append([]float32(nil), x...)
		a, lda := denseWithPad(r, m, k, gi%2, gi%3)
		cols := naiveIm2col(g, x)
		want, tol := naiveGemm(false, false, m, n, k, 1, a, lda, cols, n, 0, nil, 0)
		ldc := n + gi%3
		c0 := make([]float32, (m-1)*ldc+n)
		for i := range c0 {
			if i%ldc >= n {
				c0[i] = sentinel(i)
			} else {
				c0[i] = float32(math.NaN())
			}
		}
		ep := randEpilogue(gi, m, n, uint64(gi))
		var pad []float32
		if ps := ConvPadSize(g); ps > 0 {
			pad = make([]float32, ps)
			for i := range pad {
				pad[i] = float32(math.NaN()) // must be overwritten where read
			}
		}
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			pa := PackA(m, n, k, a, lda)
			restore()
			for _, th := range []int{1, 2, 3} {
				for _, par := range []bool{false, true} {
					name := fmt.Sprintf("%s threads=%d parallel=%v m=%d %+v ep=%v", path, th, par, m, g, ep != nil)
					cg := newGuarded(len(c0), 5)
					copy(cg.body, c0)
					withThreads(th, func() { GemmConv(pa, g, x, pad, cg.body, ldc, ep, par) })
					if !sameBits(x, x0) {
						t.Fatalf("%s: modified its input", name)
					}
					checkPackedResult(t, name, cg, c0, m, n, ldc, want, tol, ep)
				}
			}
		}
	}
}

func TestGemmConvPanics(t *testing.T) {
	g := ConvGeom{C: 2, H: 4, W: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 4, OutW: 4}
	pa := PackA(3, 16, 18, make([]float32, 3*18), 18)
	c := make([]float32, 3*16)
	mustPanicPrefix(t, "kernels: GemmConv: padding scratch", func() { GemmConv(pa, g, make([]float32, 32), nil, c, 16, nil, false) })
	mustPanicPrefix(t, "kernels: GemmConv: input", func() { GemmConv(pa, g, make([]float32, 31), make([]float32, ConvPadSize(g)), c, 16, nil, false) })
	g.C = 3
	mustPanicPrefix(t, "kernels: GemmConv: packed weights", func() { GemmConv(pa, g, make([]float32, 48), nil, c, 16, nil, false) })
	mustPanicPrefix(t, "kernels: gemm: matrix C", func() { GemmPacked(pa, 16, make([]float32, 18*16), 16, c[:40], 16, nil, false) })
}
