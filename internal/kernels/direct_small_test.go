package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
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
		// ResNet-20's stride-2 layers: 3×3 and the 1×1 shortcut.
		{C: 16, H: 32, W: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 16, OutW: 16},
		{C: 5, H: 16, W: 16, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 8, OutW: 8},
	}
	for len(geos) < 40 {
		c, h, w := 1+r.IntN(5), 1+r.IntN(17), 1+r.IntN(17)
		kh, kw := 1+r.IntN(5), 1+r.IntN(5)
		ph, pw := r.IntN(3), r.IntN(3)
		sh, sw := 1, 1
		if len(geos)%2 == 1 {
			sh, sw = 1+r.IntN(3), 1+r.IntN(3)
		}
		if h+2*ph < kh || w+2*pw < kw {
			continue
		}
		g := ConvGeom{C: c, H: h, W: w, KH: kh, KW: kw, StrideH: sh, StrideW: sw, PadH: ph, PadW: pw, DilH: 1, DilW: 1,
			OutH: (h+2*ph-kh)/sh + 1, OutW: (w+2*pw-kw)/sw + 1}
		geos = append(geos, g)
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

// randDirectGeom draws a geometry of up to maxC channels, planes up to
// 11×11, kernels up to 4×4, padding up to 2 (more than the kernel reaches
// too) and, when strided, strides up to 3; ok is false when the output is
// empty.
func randDirectGeom(r *rand.Rand, maxC int, strided bool) (g ConvGeom, ok bool) {
	c, h, w := 1+r.IntN(maxC), 1+r.IntN(11), 1+r.IntN(11)
	kh, kw := 1+r.IntN(4), 1+r.IntN(4)
	ph, pw := r.IntN(3), r.IntN(3)
	sh, sw := 1, 1
	if strided {
		sh, sw = 1+r.IntN(3), 1+r.IntN(3)
	}
	if h+2*ph < kh || w+2*pw < kw {
		return g, false
	}
	g = ConvGeom{C: c, H: h, W: w, KH: kh, KW: kw, StrideH: sh, StrideW: sw, PadH: ph, PadW: pw, DilH: 1, DilW: 1,
		OutH: (h+2*ph-kh)/sh + 1, OutW: (w+2*pw-kw)/sw + 1}
	return g, true
}

// TestSmallConvBatch checks runs of several stacked images against one
// image at a time: a full batch of nb, then fewer images over the scratch
// the full batch left (the stale images must not leak into the outputs),
// on every forced GEMM path.
func TestSmallConvBatch(t *testing.T) {
	r := newRand(37)
	for trial := range 32 {
		g, ok := randDirectGeom(r, 5, trial%2 == 1)
		if !ok {
			continue
		}
		m, nb := 1+r.IntN(20), 2+r.IntN(5)
		kt, ohw, chw := g.C*g.KH*g.KW, g.OutH*g.OutW, g.C*g.H*g.W
		wt, bias := randSlice(r, m*kt), randSlice(r, m)
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			one, many := NewSmallConv(g, m, wt, bias), NewSmallConvBatch(g, m, nb, wt, bias)
			restore()
			s1, sn := one.NewScratch(), many.NewScratch()
			for _, n := range []int{nb, 1 + r.IntN(nb)} {
				x := randSlice(r, n*chw)
				got := make([]float32, n*m*ohw)
				many.RunN(n, x, got, nil, trial%2 == 0, sn)
				for b := range n {
					want := make([]float32, m*ohw)
					one.Run(x[b*chw:(b+1)*chw], want, nil, trial%2 == 0, s1)
					for i, v := range want {
						if d := got[b*m*ohw+i]; math.Abs(float64(d-v)) > 1e-5*(1+math.Abs(float64(v))) {
							t.Fatalf("%s n=%d/%d %+v m=%d: image %d y[%d] = %v, one at a time %v", path, n, nb, g, m, b, i, d, v)
						}
					}
				}
			}
		}
	}
}

// TestSmallConvGrad checks the weight gradient of the direct convolutions
// against Σ over the images of dy·im2col(x)ᵀ in float64: random stride-1
// geometries (padding beyond the kernel's reach included), a full batch
// then a smaller one over the scratch it left, on every forced path.
func TestSmallConvGrad(t *testing.T) {
	r := newRand(43)
	for trial := range 48 {
		g, ok := randDirectGeom(r, 6, trial%2 == 1)
		if !ok {
			continue
		}
		m, nb := 1+r.IntN(13), 1+r.IntN(5)
		kt, ohw, chw := g.C*g.KH*g.KW, g.OutH*g.OutW, g.C*g.H*g.W
		batches := []int{nb, 1 + r.IntN(nb)}
		var xs, dys [][]float32
		want := make([]float64, m*kt)
		var tol float64
		for _, n := range batches {
			x, dy := randSlice(r, n*chw), randSlice(r, n*m*ohw)
			xs, dys = append(xs, x), append(dys, dy)
			for b := range n {
				cols := naiveIm2col(g, x[b*chw:(b+1)*chw])
				d, tl := naiveGemm(false, true, m, kt, ohw, 1, dy[b*m*ohw:(b+1)*m*ohw], ohw, cols, ohw, 0, nil, 0)
				for i := range want {
					want[i] += d[i]
					tol = max(tol, tl[i])
				}
			}
		}
		for _, path := range gemmPaths() {
			restore, _ := forceGemmKernel(path)
			s := NewSmallConvGrad(g, m, nb)
			restore()
			sc := s.NewScratch()
			for i, n := range batches {
				for lo := 0; lo < n; lo += s.Batch() {
					hi := min(n, lo+s.Batch())
					s.Accumulate(hi-lo, dys[i][lo*m*ohw:], xs[i][lo*chw:], sc)
				}
			}
			dw := randSlice(r, m*kt)
			base := append([]float32(nil), dw...)
			s.AddTo(dw, sc)
			for i := range dw {
				got := float64(dw[i] - base[i])
				if math.Abs(got-want[i]) > 2*tol*float64(len(batches)*nb)+1e-4 {
					t.Fatalf("trial %d %s %+v m=%d nb=%d: dw[%d] = %v, want %v", trial, path, g, m, nb, i, got, want[i])
				}
			}
			for _, v := range sc.acc {
				if v != 0 {
					t.Fatalf("%s: AddTo left the sums non-zero", path)
				}
			}
		}
	}
}

func TestSmallConvRejects(t *testing.T) {
	g := ConvGeom{C: 1, H: 8, W: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, DilH: 2, DilW: 2, OutH: 4, OutW: 4}
	if SmallConvOK(g) {
		t.Fatal("dilation 2 accepted")
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

// TestSmallConvFreeList checks the recycling of direct convolutions: a
// released SmallConv comes back for the same layout repacked with the new
// weights, a released scratch comes back with its borders still zero (the
// results match fresh memory's), another layout gets a new object, and the
// free list drops what would exceed its bound.
func TestSmallConvFreeList(t *testing.T) {
	r := newRand(53)
	g := ConvGeom{C: 3, H: 6, W: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 6, OutW: 5}
	m, nb := 4, 2
	w1, w2, b := randSlice(r, m*27), randSlice(r, m*27), randSlice(r, m)
	x := randSlice(r, nb*g.C*g.H*g.W)
	want := make([]float32, nb*m*g.OutH*g.OutW)
	fresh := NewSmallConvBatch(g, m, nb, w2, b)
	fresh.RunN(nb, x, want, nil, true, fresh.NewScratch())

	s := AcquireSmallConv(g, m, nb, w1, b)
	sc := s.AcquireScratch()
	s.RunN(nb, x, make([]float32, len(want)), nil, true, sc)
	s.ReleaseScratch(sc)
	s.Release()
	s2 := AcquireSmallConv(g, m, nb, w2, b)
	sc2 := s2.AcquireScratch()
	if s2 != s || sc2 != sc {
		t.Fatal("the released SmallConv and scratch did not come back for the same layout")
	}
	got := make([]float32, len(want))
	s2.RunN(nb, x, got, nil, true, sc2)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("recycled: y[%d] = %v, fresh %v", i, got[i], want[i])
		}
	}
	s2.ReleaseScratch(sc2)
	s2.Release()
	if other := AcquireSmallConv(g, m, nb+1, w2, b); other == s {
		t.Fatal("another layout got the released SmallConv")
	}
	g2 := g
	g2.H, g2.OutH = 7, 7
	big := &SmallConv{l: wideLayout{g: g2, nb: 1}, m: 1, kern: genericGemmKernel}
	putFree(big.key(smallConvKind), big, smallFreeMax+1)
	if _, ok := getFree(big.key(smallConvKind)); ok {
		t.Fatal("the free list kept an object beyond its bound")
	}
}

// TestSmallFreeFull fills the free list to its bound with objects of other
// layouts (a process that trained other models before) and checks that a
// released object of a new layout is still kept, room made by dropping
// others, and that the bound holds.
func TestSmallFreeFull(t *testing.T) {
	g := ConvGeom{C: 2, H: 5, W: 6, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 5, OutW: 6}
	per := smallFreeMax / 8
	for i := range 8 { // other layouts, each an eighth of the bound
		gi := g
		gi.C = 100 + i
		o := &SmallConv{l: wideLayout{g: gi, nb: 1}, m: 1, kern: genericGemmKernel}
		putFree(o.key(smallConvKind), o, per)
		t.Cleanup(func() { getFree(o.key(smallConvKind)) }) // the stand-ins leave the list
	}
	s := &SmallConv{l: wideLayout{g: g, nb: 1}, m: 1, kern: genericGemmKernel}
	putFree(s.key(smallConvKind), s, per/2)
	v, ok := getFree(s.key(smallConvKind))
	if !ok || v != s {
		t.Fatal("a full free list did not keep the released object of a new layout")
	}
	smallFree.Lock()
	total := smallFree.floats
	smallFree.Unlock()
	if total > smallFreeMax {
		t.Fatalf("the free list holds %d floats, over its bound %d", total, smallFreeMax)
	}
}

// TestSmallConvGradStale runs a full batch holding Inf and NaN, takes its
// sums, then a smaller clean batch over the same scratch: the slots of the
// images the small batch lacks must not reach its sums (0·Inf is NaN).
func TestSmallConvGradStale(t *testing.T) {
	r := newRand(59)
	g := ConvGeom{C: 2, H: 5, W: 6, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 5, OutW: 6}
	m, nb := 3, 4
	kt, ohw, chw := g.C*9, g.OutH*g.OutW, g.C*g.H*g.W
	for _, path := range gemmPaths() {
		restore, _ := forceGemmKernel(path)
		s := NewSmallConvGrad(g, m, nb)
		restore()
		sc := s.NewScratch()
		bad := randSlice(r, nb*chw)
		for i := range bad {
			if i%7 == 0 {
				bad[i] = float32(math.Inf(1))
			} else if i%11 == 0 {
				bad[i] = float32(math.NaN())
			}
		}
		badDy := randSlice(r, nb*m*ohw)
		s.Accumulate(nb, badDy, bad, sc)
		s.AddTo(make([]float32, m*kt), sc)
		x, dy := randSlice(r, chw), randSlice(r, m*ohw)
		s.Accumulate(1, dy, x, sc)
		got := make([]float32, m*kt)
		s.AddTo(got, sc)
		want, tol := naiveGemm(false, true, m, kt, ohw, 1, dy, ohw, naiveIm2col(g, x), ohw, 0, nil, 0)
		for i := range got {
			if d := math.Abs(float64(got[i]) - want[i]); !(d <= 2*tol[i]+1e-5) {
				t.Fatalf("%s: dw[%d] = %v after a batch with Inf and NaN, want %v", path, i, got[i], want[i])
			}
		}
	}
}
