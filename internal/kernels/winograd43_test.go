package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
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
// batches, every vector path (the assembly transforms on AVX2 and
// AVX-512, the Go ones on the generic path), every forced GEMM path and
// serial/parallel, with NaN-filled scratch and guard bands around the
// output.
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
		for _, vp := range vecPaths() {
			restoreVec := setVecPath(vp)
			for _, path := range gemmPaths() {
				restore, _ := forceGemmKernel(path)
				wg := NewWinograd43(g, m, n, w, bias)
				restore()
				for _, par := range []bool{false, true} {
					name := fmt.Sprintf("vec %s gemm %s parallel=%v m=%d n=%d %+v", vp, path, par, m, n, g)
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
			restoreVec()
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

// TestWinograd43Transforms checks the assembly input and output transforms
// against the Go ones (inputUnit, outputUnit and the residual and ReLU
// passes) bit for bit on every vector path that has them: V's rows of
// every channel and y, over ResNet-18's plane sizes and odd ones (partial
// tiles at the right and bottom edges, padding 0–2, planes smaller than a
// tile, rows longer than a vector), batches whose tile rows share vectors,
// with zeros of both signs in x, M and the residual (and whole planes and
// tiles of them), a residual or none, ReLU or none, NaN-filled scratch,
// guard bands around y, and the channels transformed in descending order
// (a store past a channel's row of V or plane of y stays seen).
func TestWinograd43Transforms(t *testing.T) {
	type shape struct{ c, h, w, pad, o, n int }
	shapes := []shape{
		{3, 56, 56, 1, 2, 2}, {2, 28, 28, 1, 3, 3}, {3, 14, 14, 1, 5, 2}, {2, 7, 7, 1, 4, 5},
		{1, 9, 11, 0, 2, 2}, {2, 6, 5, 2, 3, 3}, {1, 1, 1, 1, 1, 1}, {1, 3, 3, 0, 1, 4}, {2, 13, 4, 0, 1, 2},
		{1, 70, 70, 1, 1, 1}, {2, 31, 66, 2, 2, 1}, {1, 10, 18, 1, 2, 7}, {1, 5, 30, 2, 1, 3}, {2, 17, 9, 0, 3, 2},
		{1, 2, 61, 1, 1, 2}, {1, 12, 12, 2, 2, 3}, {4, 8, 8, 1, 1, 1},
	}
	ran := false
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			r := newRand(4343)
			used := map[string]bool{} // the kernels run: in1, out4, …
			for i, s := range shapes {
				g := ConvGeom{C: s.c, H: s.h, W: s.w, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: s.pad, PadW: s.pad,
					DilH: 1, DilW: 1, OutH: s.h + 2*s.pad - 2, OutW: s.w + 2*s.pad - 2}
				a := newWinoAsm(NewWinograd43(g, s.o, s.n, make([]float32, s.o*s.c*9), make([]float32, s.o)))
				if a == nil {
					t.Skipf("no assembly transforms on %s", p)
				}
				ran = true
				used[fmt.Sprint("in", a.inS)], used[fmt.Sprint("out", a.outS)] = true, true
				checkWinoTransforms(t, r, g, s.o, s.n, i%2 == 0, i%3 != 1)
			}
			want := map[isa][]string{isaAVX2: {"in1", "in2", "out1", "out2"},
				isaAVX512: {"in1", "in2", "in4", "out1", "out2", "out4"}}[p]
			for _, k := range want {
				if !used[k] {
					t.Errorf("%s: the shapes never run kernel %s (ran %v)", p, k, used)
				}
			}
		})
	}
	if !ran {
		t.Skip("no assembly transforms in this build or on this CPU")
	}
}

// checkWinoTransforms compares the assembly transforms of one geometry with
// the Go ones.
func checkWinoTransforms(t *testing.T, r *rand.Rand, g ConvGeom, o, n int, residual, relu bool) {
	t.Helper()
	name := fmt.Sprintf("%s o=%d n=%d residual=%v relu=%v %+v", vecUse, o, n, residual, relu, g)
	// Values in [-1, 1) with zeros of both signs, and whole planes of x,
	// tiles of M and planes of add of zeros alone (of random signs, all −0
	// or all +0), whose transforms are zeros whose signs follow each
	// operation's rounding rules.
	zero := func(kind int) float32 {
		if kind == 1 && r.IntN(2) == 0 || kind == 2 {
			return float32(math.Copysign(0, -1))
		}
		return 0
	}
	values := func(n, parts int, at func(part, i int) int) []float32 {
		s := randSlice(r, n)
		for i := range s {
			if r.IntN(8) == 0 {
				s[i] = zero(1)
			}
		}
		for part := range parts {
			if kind := r.IntN(6); kind < 3 {
				for i := 0; at(part, i) >= 0; i++ {
					s[at(part, i)] = zero(kind)
				}
			}
		}
		return s
	}
	plane := func(size int) func(part, i int) int {
		return func(part, i int) int {
			if i == size {
				return -1
			}
			return part*size + i
		}
	}
	wg := NewWinograd43(g, o, n, randSlice(r, o*g.C*9), randSlice(r, o))
	hw := g.OutH * g.OutW
	x := values(n*g.C*g.H*g.W, n*g.C, plane(g.H*g.W))
	var add []float32
	if residual {
		add = values(n*o*hw, n*o, plane(hw))
	}
	m := values(36*o*wg.t, o*wg.t, func(tile, xi int) int { // M is [ξ][oc][t]
		if xi == 36 {
			return -1
		}
		return xi*o*wg.t + tile
	})
	run := func(goOnly bool) (v, y []float32) {
		winoGoOnly = goOnly
		defer func() { winoGoOnly = false }()
		scratch := make([]float32, wg.ScratchSize())
		for i := range scratch {
			scratch[i] = float32(math.NaN())
		}
		yg := newGuarded(n*o*hw, 9)
		for i := range yg.body {
			yg.body[i] = float32(math.NaN())
		}
		wg.Bind(x, yg.body, add, relu, scratch)
		if (wg.asm == nil) != goOnly {
			t.Fatalf("%s: goOnly=%v bound asm=%v", name, goOnly, wg.asm != nil)
		}
		// The channels in descending order, so that a store past a
		// channel's row of V or plane of y is not overwritten later.
		for u := wg.inN - 1; u >= 0; u-- {
			wg.inFn(u, u+1)
		}
		v = make([]float32, 36*g.C*wg.t) // [ξ][c][t], without the padding
		for row := range 36 * g.C {
			xi, c := row/g.C, row%g.C
			copy(v[row*wg.t:(row+1)*wg.t], scratch[xi*wg.vs+c*wg.ld:])
		}
		for xi := range 36 {
			copy(scratch[wg.mO+xi*wg.ms:], m[xi*o*wg.t:(xi+1)*o*wg.t])
		}
		for u := wg.outN - 1; u >= 0; u-- {
			wg.outFn(u, u+1)
		}
		yg.checkGuards(t, name)
		return v, yg.body
	}
	vGo, yGo := run(true)
	vAsm, yAsm := run(false)
	for i := range vGo {
		if math.Float32bits(vAsm[i]) != math.Float32bits(vGo[i]) {
			tt, row := i%wg.t, i/wg.t
			t.Fatalf("%s: V[ξ=%d][c=%d][tile %d] = %v, Go %v", name, row/g.C, row%g.C, tt, vAsm[i], vGo[i])
		}
	}
	for i := range yGo {
		if math.Float32bits(yAsm[i]) != math.Float32bits(yGo[i]) {
			p := i / hw
			t.Fatalf("%s: y[img %d][oc %d][%d][%d] = %v, Go %v", name, p/o, p%o, i%hw/g.OutW, i%g.OutW, yAsm[i], yGo[i])
		}
	}
}
