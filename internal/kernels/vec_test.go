package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// forEachVecPath runs fn once per kernel path this build and CPU support
// (avx512, avx2, generic), forcing it through setVecPath.
func forEachVecPath(t *testing.T, fn func(t *testing.T)) {
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			fn(t)
		})
	}
}

// vecLengths is every length 0..300 (all tails of every unrolled loop)
// followed by random lengths up to 5000.
func vecLengths(r *rand.Rand) []int {
	var ns []int
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	for range 30 {
		ns = append(ns, r.IntN(5000))
	}
	return ns
}

// vecInput returns n values starting align elements into a guard band,
// with a sprinkling of the special values the kernels must handle: ±0,
// NaN, ±Inf and subnormals.
func vecInput(r *rand.Rand, n, align int) []float32 {
	g := newGuarded(n+align, 5)
	s := g.body[align:]
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40, -1e-40}
	for i := range s {
		if r.IntN(16) == 0 {
			s[i] = specials[r.IntN(len(specials))]
		} else {
			s[i] = 4*r.Float32() - 2
		}
	}
	return s
}

// sameF32 reports whether got equals want bit for bit, any NaN matching
// any NaN.
func sameF32(got, want float32) bool {
	if got != got || want != want {
		return got != got && want != want
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// closeF32 reports whether got is within 2 ulp of mag (the magnitude of the
// largest term of a fused computation) of want; infinities and NaN must
// match exactly.
func closeF32(got, want float32, mag float64) bool {
	if sameF32(got, want) {
		return true
	}
	if math.IsInf(float64(want), 0) || want != want || got != got {
		return false
	}
	return math.Abs(float64(got)-float64(want)) <= 2*u32*mag
}

// vecCase describes one elementwise kernel for the shared test driver: how
// many inputs it reads, how to run it and its reference into dst, and the
// magnitude its fused rounding may be off by (0: must be exact).
type vecCase struct {
	name   string
	inputs int
	inout  bool // dst is also read (Axpy's y)
	run    func(dst []float32, in [][]float32)
	ref    func(dst []float32, in [][]float32)
	mag    func(dst0 float32, in []float32) float64
}

const (
	alpha = float32(0.75)
	beta  = float32(-1.25)
	gamma = float32(0.3)
	delta = float32(-0.6)
)

var vecCases = []vecCase{
	{name: "AddTo", inputs: 2, run: func(d []float32, in [][]float32) { AddTo(d, in[0], in[1]) }, ref: func(d []float32, in [][]float32) { addToGeneric(d, in[0], in[1]) }},
	{name: "SubTo", inputs: 2, run: func(d []float32, in [][]float32) { SubTo(d, in[0], in[1]) }, ref: func(d []float32, in [][]float32) { subToGeneric(d, in[0], in[1]) }},
	{name: "MulTo", inputs: 2, run: func(d []float32, in [][]float32) { MulTo(d, in[0], in[1]) }, ref: func(d []float32, in [][]float32) { mulToGeneric(d, in[0], in[1]) }},
	{name: "ScalTo", inputs: 1, run: func(d []float32, in [][]float32) { ScalTo(d, alpha, in[0]) }, ref: func(d []float32, in [][]float32) { scalToGeneric(d, alpha, in[0]) }},
	{name: "ReLUTo", inputs: 1, run: func(d []float32, in [][]float32) { ReLUTo(d, in[0]) }, ref: func(d []float32, in [][]float32) { reluToGeneric(d, in[0]) }},
	{name: "ReLUBackward", inputs: 2, run: func(d []float32, in [][]float32) { ReLUBackward(d, in[0], in[1]) }, ref: func(d []float32, in [][]float32) { reluBackwardGeneric(d, in[0], in[1]) }},
	{name: "GELUTo", inputs: 1, run: func(d []float32, in [][]float32) { GELUTo(d, in[0]) }, ref: func(d []float32, in [][]float32) { geluGeneric(d, in[0]) }},
	{name: "GELUBackward", inputs: 2, run: func(d []float32, in [][]float32) { GELUBackward(d, in[0], in[1]) }, ref: func(d []float32, in [][]float32) { geluBackwardGeneric(d, in[0], in[1]) }},
	{name: "Axpy", inputs: 1, inout: true,
		run: func(d []float32, in [][]float32) { Axpy(alpha, in[0], d) },
		ref: func(d []float32, in [][]float32) { axpyGeneric(alpha, in[0], d) },
		mag: func(d0 float32, in []float32) float64 { return math.Abs(float64(alpha*in[0])) + math.Abs(float64(d0)) }},
	{name: "AffineTo", inputs: 1,
		run: func(d []float32, in [][]float32) { AffineTo(d, alpha, beta, in[0]) },
		ref: func(d []float32, in [][]float32) { affineToGeneric(d, alpha, beta, in[0]) },
		mag: func(_ float32, in []float32) float64 { return math.Abs(float64(alpha*in[0])) + math.Abs(float64(beta)) }},
	{name: "AxpbyDev", inputs: 2,
		run: func(d []float32, in [][]float32) { AxpbyDev(d, alpha, in[0], beta, in[1], delta, gamma) },
		ref: func(d []float32, in [][]float32) { axpbyDevGeneric(d, alpha, in[0], beta, in[1], delta, gamma) },
		mag: func(_ float32, in []float32) float64 {
			return math.Abs(float64(alpha*in[0])) + math.Abs(float64(beta*(in[1]-delta))) + math.Abs(float64(gamma))
		}},
}

// TestVecKernels checks every elementwise kernel on every path against its
// reference loop over lengths 0..300 and random ones, with inputs and
// output starting at offsets 0..15 into guard bands of sentinels, and
// in place (dst aliasing the first input) where the kernel allows it.
func TestVecKernels(t *testing.T) {
	for _, vc := range vecCases {
		t.Run(vc.name, func(t *testing.T) {
			forEachVecPath(t, func(t *testing.T) {
				r := newRand(40)
				for _, n := range vecLengths(r) {
					align := r.IntN(16)
					in := make([][]float32, vc.inputs)
					for i := range in {
						in[i] = vecInput(r, n, (align+3*i)%16)
					}
					dst := newGuarded(n, 7+align)
					body := dst.body
					d0 := vecInput(r, n, 0)
					copy(body, d0)
					want := append([]float32(nil), d0...)
					vc.ref(want, in)
					vc.run(body, in)
					name := fmt.Sprintf("%s n=%d align=%d", vc.name, n, align)
					dst.checkGuards(t, name)
					checkVecOut(t, name, vc, body, want, d0, in)
					if t.Failed() {
						return
					}
					if !vc.inout {
						// In place: dst is the first input.
						x := append([]float32(nil), in[0]...)
						in2 := append([][]float32{x}, in[1:]...)
						vc.run(x, in2)
						checkVecOut(t, name+" in place", vc, x, want, d0, in)
					}
				}
			})
		})
	}
}

func checkVecOut(t *testing.T, name string, vc vecCase, got, want, d0 []float32, in [][]float32) {
	t.Helper()
	for i := range got {
		ok := sameF32(got[i], want[i])
		if !ok && vc.mag != nil {
			args := make([]float32, len(in))
			for j := range in {
				args[j] = in[j][i]
			}
			ok = closeF32(got[i], want[i], vc.mag(d0[i], args))
		}
		if !ok {
			t.Errorf("%s: [%d] = %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestVecReductions checks the float64-accumulating reductions against
// their reference loops within float64 summation error on every path.
func TestVecReductions(t *testing.T) {
	type red struct {
		name string
		run  func(g, x []float32, mu float64) float64
		ref  func(g, x []float32, mu float64) (s, mag float64)
	}
	reds := []red{
		{"Sum64", func(_, x []float32, _ float64) float64 { return Sum64(x) },
			func(_, x []float32, _ float64) (s, mag float64) {
				for _, v := range x {
					mag += math.Abs(float64(v))
				}
				return sum64Generic(x), mag
			}},
		{"SqDevSum64", func(_, x []float32, mu float64) float64 { return SqDevSum64(x, mu) },
			func(_, x []float32, mu float64) (s, mag float64) {
				s = sqDevSum64Generic(x, mu)
				return s, s
			}},
		{"DotDev64", func(g, x []float32, mu float64) float64 { return DotDev64(g, x, mu) },
			func(g, x []float32, mu float64) (s, mag float64) {
				for i, v := range x {
					mag += math.Abs(float64(g[i]) * (float64(v) - mu))
				}
				return dotDev64Generic(g, x, mu), mag
			}},
	}
	for _, rd := range reds {
		t.Run(rd.name, func(t *testing.T) {
			forEachVecPath(t, func(t *testing.T) {
				r := newRand(41)
				for _, n := range vecLengths(r) {
					align := r.IntN(16)
					g, x := randSlice(r, n+align)[align:], randSlice(r, n+16)[16-align:][:n]
					mu := r.Float64() - 0.5
					want, mag := rd.ref(g, x, mu)
					got := rd.run(g, x, mu)
					if e := float64(n+2) * 0x1p-52 * mag; !(math.Abs(got-want) <= e) {
						t.Errorf("n=%d align=%d: %v, want %v ± %.3g", n, align, got, want, e)
						return
					}
				}
			})
		})
	}
}

// TestVecReLUSpecials pins ReLU on the values where max and comparisons
// are delicate.
func TestVecReLUSpecials(t *testing.T) {
	nan, inf, negz := float32(math.NaN()), float32(math.Inf(1)), float32(math.Copysign(0, -1))
	x := []float32{nan, negz, 0, -inf, inf, -1, 1, 1e-45, -1e-45}
	wantY := []float32{nan, 0, 0, 0, inf, 0, 1, 1e-45, 0}
	wantD := []float32{0, 0, 0, 0, 1, 0, 1, 1, 0}
	forEachVecPath(t, func(t *testing.T) {
		// Repeat to 32 elements so the vector loop, not just the tail, sees them.
		xs, wy, wd := make([]float32, 32), make([]float32, 32), make([]float32, 32)
		ones := make([]float32, 32)
		for i := range xs {
			xs[i], wy[i], wd[i], ones[i] = x[i%len(x)], wantY[i%len(x)], wantD[i%len(x)], 1
		}
		y, d := make([]float32, 32), make([]float32, 32)
		ReLUTo(y, xs)
		ReLUBackward(d, ones, xs)
		for i := range xs {
			if !sameF32(y[i], wy[i]) || !sameF32(d[i], wd[i]) {
				t.Errorf("ReLU(%v) = %v, grad %v; want %v, %v", xs[i], y[i], d[i], wy[i], wd[i])
			}
		}
	})
}

func TestVecLengthMismatch(t *testing.T) {
	mustPanicPrefix(t, "kernels: AddTo", func() { AddTo(make([]float32, 3), make([]float32, 3), make([]float32, 2)) })
	mustPanicPrefix(t, "kernels: Axpy", func() { Axpy(1, make([]float32, 4), make([]float32, 3)) })
	mustPanicPrefix(t, "kernels: DotDev64", func() { DotDev64(make([]float32, 4), make([]float32, 3), 0) })
}

// TestSGDMomentum checks the SGD-with-momentum kernel against its
// documented loop bit for bit on every vector path, plain and Nesterov,
// over lengths around the vector widths.
func TestSGDMomentum(t *testing.T) {
	r := newRand(61)
	for _, vp := range vecPaths() {
		restore := setVecPath(vp)
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1029} {
			for _, nesterov := range []bool{false, true} {
				p, g, buf := randSlice(r, n), randSlice(r, n), randSlice(r, n)
				wp, wbuf := slices.Clone(p), slices.Clone(buf)
				lr, wd, mom, damp := float32(0.1), float32(5e-4), float32(0.9), float32(0.75)
				for i := range wp {
					d := g[i] + wd*wp[i]
					b := wbuf[i]*mom + damp*d
					wbuf[i] = b
					if nesterov {
						d += mom * b
					} else {
						d = b
					}
					wp[i] -= lr * d
				}
				SGDMomentum(p, g, buf, lr, wd, mom, damp, nesterov)
				for i := range p {
					if math.Float32bits(p[i]) != math.Float32bits(wp[i]) || math.Float32bits(buf[i]) != math.Float32bits(wbuf[i]) {
						t.Fatalf("%s n=%d nesterov=%v: p[%d], buf[%d] = %v, %v; want %v, %v", vp, n, nesterov, i, i, p[i], buf[i], wp[i], wbuf[i])
					}
				}
			}
		}
		restore()
	}
}

// TestAdamUpdate checks the Adam kernels against the documented loop bit
// for bit on every vector path, for Adam (L2 decay) and AdamW (decoupled),
// over lengths around the vector widths, zero second moments included.
func TestAdamUpdate(t *testing.T) {
	r := newRand(67)
	for _, vp := range vecPaths() {
		restore := setVecPath(vp)
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1029} {
			for _, c := range []AdamCoef{
				{Beta1: 0.9, Beta2: 0.999, OneMinB1: 0.1, OneMinB2: 0.001, StepSize: 0.01 / 0.1, BC2Sqrt: 0.0316, Eps: 1e-8, WD: 5e-4, Decay: 1},
				{Beta1: 0.9, Beta2: 0.999, OneMinB1: 0.1, OneMinB2: 0.001, StepSize: 0.003, BC2Sqrt: 0.7, Eps: 1e-8, Decay: 0.99995},
			} {
				p, g, m := randSlice(r, n), randSlice(r, n), randSlice(r, n)
				v := randSlice(r, n)
				for i := range v {
					v[i] *= v[i]
					if i%5 == 0 {
						v[i] = 0
					}
				}
				wp, wm, wv := slices.Clone(p), slices.Clone(m), slices.Clone(v)
				for i := range wp {
					pi := wp[i] * c.Decay
					gi := g[i] + c.WD*pi
					wm[i] = wm[i]*c.Beta1 + c.OneMinB1*gi
					wv[i] = wv[i]*c.Beta2 + c.OneMinB2*(gi*gi)
					denom := float32(math.Sqrt(float64(wv[i])))/c.BC2Sqrt + c.Eps
					wp[i] = pi - c.StepSize*(wm[i]/denom)
				}
				AdamUpdate(p, g, m, v, c)
				for i := range p {
					if math.Float32bits(p[i]) != math.Float32bits(wp[i]) || math.Float32bits(m[i]) != math.Float32bits(wm[i]) || math.Float32bits(v[i]) != math.Float32bits(wv[i]) {
						t.Fatalf("%s n=%d %+v: [%d] p, m, v = %v, %v, %v; want %v, %v, %v", vp, n, c, i, p[i], m[i], v[i], wp[i], wm[i], wv[i])
					}
				}
			}
		}
		restore()
	}
}
