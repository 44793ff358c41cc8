package tensor_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// naiveBroadcast is NumPy's rule written out: align trailing axes, a size-1
// axis stretches; ok is false when the shapes do not broadcast.
func naiveBroadcast(a, b []int) (out []int, ok bool) {
	n := max(len(a), len(b))
	out = make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, false
		}
	}
	return out, true
}

// source maps an index of the broadcast shape to the row-major position in
// an operand of shape s.
func source(s, idx []int) int {
	off := len(idx) - len(s)
	f := 0
	for d := range s {
		v := idx[off+d]
		if s[d] == 1 {
			v = 0
		}
		f = f*s[d] + v
	}
	return f
}

var broadcastPairs = [][2][]int{
	{{}, {}}, {{}, {3}}, {{2, 3}, {}}, {{3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}},
	{{4, 1, 3}, {2, 1}}, {{1}, {2, 3, 4}}, {{2, 3, 4}, {2, 3, 4}}, {{5, 1, 4, 1}, {3, 1, 2}},
	{{0, 3}, {3}}, {{2, 0}, {1}}, {{1, 1}, {7}}, {{3, 1, 1}, {1, 4, 5}}, {{2, 3, 4, 5}, {3, 1, 5}},
	{{2, 3, 4, 5}, {2, 1, 4, 1}}, {{1, 4}, {4, 1}}, {{6}, {6}},
}

var binaryOps = []struct {
	name string
	op   func(a, b *tensor.Tensor) *tensor.Tensor
	f    func(x, y float32) float32
}{
	{"Add", tensor.Add, func(x, y float32) float32 { return x + y }},
	{"Sub", tensor.Sub, func(x, y float32) float32 { return x - y }},
	{"Mul", tensor.Mul, func(x, y float32) float32 { return x * y }},
	{"Div", tensor.Div, func(x, y float32) float32 { return x / y }},
	{"Maximum", tensor.Maximum, func(x, y float32) float32 {
		if x != x || y != y {
			return float32(math.NaN())
		}
		if x > y {
			return x
		}
		return y
	}},
	{"Minimum", tensor.Minimum, func(x, y float32) float32 {
		if x != x || y != y {
			return float32(math.NaN())
		}
		if x < y {
			return x
		}
		return y
	}},
	{"Binary(atan2)", func(a, b *tensor.Tensor) *tensor.Tensor {
		return tensor.Binary(a, b, func(x, y float32) float32 { return float32(math.Atan2(float64(x), float64(y))) })
	}, func(x, y float32) float32 { return float32(math.Atan2(float64(x), float64(y))) }},
}

func TestBinaryBroadcast(t *testing.T) {
	r := newRand(10)
	for _, pair := range broadcastPairs {
		for _, swap := range []bool{false, true} {
			sa, sb := pair[0], pair[1]
			if swap {
				sa, sb = sb, sa
			}
			out, ok := naiveBroadcast(sa, sb)
			if !ok {
				t.Fatalf("bad test pair %v %v", sa, sb)
			}
			if got := tensor.BroadcastShape(sa, sb); !slices.Equal(got, out) && !(len(got) == 0 && len(out) == 0) {
				t.Errorf("BroadcastShape(%v, %v) = %v, want %v", sa, sb, got, out)
			}
			va, vb := randVals(r, numel(sa)), randVals(r, numel(sb))
			if len(vb) > 0 {
				vb[0] = 0 // a zero divisor: Div gives ±Inf
			}
			if len(va) > 1 && len(vb) > 0 {
				va[1] = vb[0] // a tie for Maximum and Minimum
			}
			for _, la := range layouts(sa, va) {
				for _, lb := range layouts(sb, vb) {
					for _, op := range binaryOps {
						want := make([]float32, numel(out))
						for i, idx := range indices(out) {
							want[i] = op.f(va[source(sa, idx)], vb[source(sb, idx)])
						}
						what := fmt.Sprintf("%s(%v %s, %v %s)", op.name, sa, la.name, sb, lb.name)
						checkExact(t, what, op.op(la.t, lb.t), out, want)
					}
				}
			}
		}
	}
}

// TestBinaryLarge covers the sizes at which the loops go parallel, both the
// same-shape fast path and the broadcasting rows.
func TestBinaryLarge(t *testing.T) {
	r := newRand(11)
	withThreads(4, func() {
		for _, pair := range [][2][]int{{{40000}, {40000}}, {{1000, 100}, {1, 100}}, {{300, 200}, {300, 1}}, {{3, 50000}, {50000}}} {
			sa, sb := pair[0], pair[1]
			out, _ := naiveBroadcast(sa, sb)
			va, vb := randVals(r, numel(sa)), randVals(r, numel(sb))
			for _, lb := range layouts(sb, vb)[:3] {
				want := make([]float32, numel(out))
				for i, idx := range indices(out) {
					want[i] = va[source(sa, idx)] * vb[source(sb, idx)]
				}
				checkExact(t, fmt.Sprintf("Mul(%v, %v %s)", sa, sb, lb.name), tensor.Mul(tensor.FromSlice(va, sa...), lb.t), out, want)
			}
		}
	})
}

func TestBinaryPanics(t *testing.T) {
	for _, pair := range [][2][]int{{{2}, {3}}, {{2, 3}, {3, 2}}, {{4, 3}, {2, 1, 2}}, {{0}, {2}}} {
		mustPanic(t, fmt.Sprintf("Add(%v, %v)", pair[0], pair[1]), func() { tensor.Add(tensor.New(pair[0]...), tensor.New(pair[1]...)) })
		mustPanic(t, fmt.Sprintf("BroadcastShape(%v, %v)", pair[0], pair[1]), func() { tensor.BroadcastShape(pair[0], pair[1]) })
	}
}

// TestUnary compares every elementwise function with float64 math, on
// contiguous and non-contiguous inputs.
func TestUnary(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, -2, 0.5, 4, 1e-30, 1e30, float32(inf), float32(-inf), float32(nan), 3.7, -0.3}
	r := newRand(12)
	vals := append(slices.Clone(special), randVals(r, 45)...)
	for i := len(special); i < len(vals); i++ {
		vals[i] *= 10
	}
	ops := []struct {
		name string
		op   func(*tensor.Tensor) *tensor.Tensor
		f    func(float64) float64
		tol  func(x float64) float64 // error bound beyond 4 ulp of the result
	}{
		{"Neg", tensor.Neg, func(x float64) float64 { return -x }, nil},
		{"Scale(-1.5)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Scale(t, -1.5) }, func(x float64) float64 { return -1.5 * x }, nil},
		{"AddScalar(0.25)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.AddScalar(t, 0.25) }, func(x float64) float64 { return x + 0.25 }, nil},
		{"Exp", tensor.Exp, math.Exp, nil},
		{"Log", tensor.Log, math.Log, nil},
		{"Sqrt", tensor.Sqrt, math.Sqrt, nil},
		{"Abs", tensor.Abs, math.Abs, nil},
		{"Pow(2)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Pow(t, 2) }, func(x float64) float64 { return x * x }, nil},
		{"Pow(3)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Pow(t, 3) }, func(x float64) float64 { return math.Pow(x, 3) }, nil},
		{"Pow(0.5)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Pow(t, 0.5) }, func(x float64) float64 { return math.Pow(x, 0.5) }, nil},
		{"Pow(-1)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Pow(t, -1) }, func(x float64) float64 { return 1 / x }, nil},
		{"Pow(0)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Pow(t, 0) }, func(float64) float64 { return 1 }, nil},
		{"Clamp(-0.5, 2)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Clamp(t, -0.5, 2) }, func(x float64) float64 {
			if x != x {
				return x
			}
			return math.Min(math.Max(x, -0.5), 2)
		}, nil},
		{"Clamp(1, 1)", func(t *tensor.Tensor) *tensor.Tensor { return tensor.Clamp(t, 1, 1) }, func(x float64) float64 {
			if x != x {
				return x
			}
			return 1
		}, nil},
		{"Map(x³-x)", func(t *tensor.Tensor) *tensor.Tensor {
			return tensor.Map(t, func(x float32) float32 { return x*x*x - x })
		}, func(x float64) float64 { return x*x*x - x }, func(x float64) float64 {
			return 4 * u32 * (math.Abs(x*x*x) + math.Abs(x))
		}},
	}
	shape := []int{3, 4, 5}
	for _, op := range ops {
		want, tol := make([]float64, len(vals)), make([]float64, len(vals))
		for i, v := range vals {
			w := float64(float32(op.f(float64(v)))) // the float32 the result should round to
			want[i], tol[i] = w, 4*u32*math.Abs(w)
			if op.tol != nil {
				tol[i] += op.tol(float64(v))
			}
		}
		for _, l := range layouts(shape, vals) {
			got := values(op.op(l.t))
			for i := range got {
				g, w := float64(got[i]), want[i]
				switch {
				case math.IsNaN(w):
					if !math.IsNaN(g) {
						t.Errorf("%s(%v) %s = %v, want NaN", op.name, vals[i], l.name, g)
					}
				case math.IsInf(w, 0) || w == 0:
					if g != w || math.Signbit(g) != math.Signbit(w) {
						t.Errorf("%s(%v) %s = %v, want %v", op.name, vals[i], l.name, g, w)
					}
				case !(math.Abs(g-w) <= tol[i]):
					t.Errorf("%s(%v) %s = %v, want %v ± %.3g", op.name, vals[i], l.name, g, w, tol[i])
				}
			}
		}
	}
	mustPanic(t, "Clamp lo > hi", func() { tensor.Clamp(tensor.New(2), 1, 0) })

	// Large input: the parallel loop of Map.
	withThreads(4, func() {
		n := 70000
		x := randVals(r, n)
		got := tensor.Exp(tensor.FromSlice(x, n)).Data()
		for i := range x {
			if w := math.Exp(float64(x[i])); math.Abs(float64(got[i])-w) > 2*u32*w {
				t.Fatalf("Exp large: element %d = %v, want %v", i, got[i], w)
			}
		}
	})
}
