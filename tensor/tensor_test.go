package tensor_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func TestCreation(t *testing.T) {
	z := tensor.New(2, 3)
	checkExact(t, "New", z, []int{2, 3}, make([]float32, 6))
	if z.Dims() != 2 || z.Size() != 6 || z.Dim(-1) != 3 || z.Dim(0) != 2 {
		t.Errorf("New(2, 3): Dims %d Size %d Dim(-1) %d", z.Dims(), z.Size(), z.Dim(-1))
	}
	checkExact(t, "Zeros", tensor.Zeros(4), []int{4}, make([]float32, 4))
	checkExact(t, "Ones", tensor.Ones(2, 2), []int{2, 2}, []float32{1, 1, 1, 1})
	checkExact(t, "Full", tensor.Full(-2.5, 3), []int{3}, []float32{-2.5, -2.5, -2.5})
	checkExact(t, "ZerosLike", tensor.ZerosLike(tensor.Ones(1, 2, 3)), []int{1, 2, 3}, make([]float32, 6))
	checkExact(t, "New zero-size", tensor.New(3, 0, 2), []int{3, 0, 2}, nil)

	s := tensor.Scalar(4.5)
	if s.Dims() != 0 || s.Size() != 1 || s.Item() != 4.5 || s.At() != 4.5 {
		t.Errorf("Scalar(4.5): dims %d size %d item %v", s.Dims(), s.Size(), s.Item())
	}
	if e := tensor.New(); e.Dims() != 0 || e.Size() != 1 || e.Item() != 0 {
		t.Errorf("New(): dims %d size %d", e.Dims(), e.Size())
	}

	data := []float32{1, 2, 3, 4, 5, 6}
	f := tensor.FromSlice(data, 3, 2)
	checkExact(t, "FromSlice", f, []int{3, 2}, data)
	if f.At(2, 1) != 6 || f.At(1, 0) != 3 {
		t.Errorf("FromSlice At: %v %v", f.At(2, 1), f.At(1, 0))
	}
	data[3] = 40 // FromSlice does not copy
	if f.At(1, 1) != 40 {
		t.Errorf("FromSlice copied its data")
	}
	f.Set(-1, 0, 1)
	if data[1] != -1 || f.At(0, 1) != -1 {
		t.Errorf("Set(−1, 0, 1) did not write data[1]")
	}
	if tensor.Ones(1, 1, 1).Item() != 1 {
		t.Errorf("Item of a 1×1×1 tensor")
	}

	mustPanic(t, "FromSlice short", func() { tensor.FromSlice(make([]float32, 5), 2, 3) })
	mustPanic(t, "FromSlice long", func() { tensor.FromSlice(make([]float32, 7), 2, 3) })
	mustPanic(t, "FromSlice scalar", func() { tensor.FromSlice(nil) })
	mustPanic(t, "New negative", func() { tensor.New(2, -1) })
	mustPanic(t, "Item of many", func() { tensor.Ones(2).Item() })
	mustPanic(t, "At out of range", func() { f.At(3, 0) })
	mustPanic(t, "At negative", func() { f.At(0, -1) })
	mustPanic(t, "At wrong rank", func() { f.At(1) })
	mustPanic(t, "Set wrong rank", func() { f.Set(0, 1, 1, 1) })
	mustPanic(t, "Dim out of range", func() { f.Dim(2) })
	mustPanic(t, "Dim negative out of range", func() { f.Dim(-3) })
}

func TestRandom(t *testing.T) {
	a := tensor.Uniform(tensor.NewRNG(7), -2, 3, 1000)
	b := tensor.Uniform(tensor.NewRNG(7), -2, 3, 1000)
	c := tensor.Uniform(tensor.NewRNG(8), -2, 3, 1000)
	if !tensor.Equal(a, b) {
		t.Errorf("Uniform with the same seed differs")
	}
	if tensor.Equal(a, c) {
		t.Errorf("Uniform with different seeds agrees")
	}
	if !tensor.Equal(tensor.Normal(tensor.NewRNG(3), 0, 1, 50), tensor.Normal(tensor.NewRNG(3), 0, 1, 50)) {
		t.Errorf("Normal with the same seed differs")
	}
	if got := tensor.Uniform(tensor.NewRNG(1), 0, 1, 2, 3, 4).Shape(); !slices.Equal(got, []int{2, 3, 4}) {
		t.Errorf("Uniform shape %v", got)
	}

	// Moments, with tolerances of about five standard errors for n draws.
	const n = 100000
	lo, hi := float32(-2), float32(3)
	u := tensor.Uniform(tensor.NewRNG(11), lo, hi, n).Data()
	mean, vr := moments(u)
	for _, v := range u {
		if v < lo || v >= hi {
			t.Fatalf("Uniform(%v, %v) drew %v", lo, hi, v)
		}
	}
	w := float64(hi - lo)
	if wm, se := float64(lo+hi)/2, w/math.Sqrt(12*n); math.Abs(mean-wm) > 5*se {
		t.Errorf("Uniform mean %v, want %v ± %v", mean, wm, 5*se)
	}
	if wv := w * w / 12; math.Abs(vr-wv) > 0.02*wv {
		t.Errorf("Uniform variance %v, want %v ± 2%%", vr, wv)
	}

	g := tensor.Normal(tensor.NewRNG(12), 1.5, 0.5, n).Data()
	mean, vr = moments(g)
	if se := 0.5 / math.Sqrt(n); math.Abs(mean-1.5) > 5*se {
		t.Errorf("Normal mean %v, want 1.5 ± %v", mean, 5*se)
	}
	if sd, se := math.Sqrt(vr), 0.5/math.Sqrt(2*n); math.Abs(sd-0.5) > 5*se {
		t.Errorf("Normal std %v, want 0.5 ± %v", sd, 5*se)
	}
	within := 0
	for _, v := range g {
		if math.Abs(float64(v)-1.5) < 0.5 {
			within++
		}
	}
	if frac := float64(within) / n; math.Abs(frac-0.6827) > 0.01 {
		t.Errorf("Normal: %.4f of draws within one std, want 0.6827", frac)
	}
}

func moments(x []float32) (mean, variance float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		variance += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, variance / float64(len(x))
}

// maxSource makes every Float32 draw the largest value below 1.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return math.MaxUint64 }

// TestUniformBelowHi: the largest draw, 1-2^-24, scaled into [1, 2) rounds
// to 2 in float32; Uniform must still stay below hi.
func TestUniformBelowHi(t *testing.T) {
	rng := rand.New(maxSource{})
	for _, r := range [][2]float32{{1, 2}, {0, 1}, {-1, 1}, {3, 1e6}, {-7, -3}} {
		for _, v := range tensor.Uniform(rng, r[0], r[1], 4).Data() {
			if v < r[0] || v >= r[1] {
				t.Errorf("Uniform(%v, %v) with the largest draw gave %v", r[0], r[1], v)
			}
		}
	}
}

func TestLayouts(t *testing.T) {
	r := newRand(1)
	for _, shape := range [][]int{{}, {5}, {3, 4}, {2, 3, 4}, {1, 4}, {4, 1}, {2, 1, 3, 1}, {3, 0, 2}, {2, 3, 4, 5}} {
		vals := randVals(r, numel(shape))
		for _, l := range layouts(shape, vals) {
			checkExact(t, l.name+" At", l.t, shape, vals)
			if l.t.Size() > 0 && l.t.IsContiguous() != l.contiguous {
				t.Errorf("%s %v: IsContiguous %v, want %v", l.name, shape, l.t.IsContiguous(), l.contiguous)
			}
			c := l.t.Contiguous()
			if !c.IsContiguous() || !sameBits(c.Data(), vals) || !slices.Equal(c.Shape(), shape) {
				t.Errorf("%s %v: Contiguous gave %v %v, want %v", l.name, shape, c.Shape(), c.Data(), vals)
			}
			cl := l.t.Clone()
			if !sameBits(cl.Data(), vals) {
				t.Errorf("%s %v: Clone values", l.name, shape)
			}
			if cl.Size() > 0 {
				cl.Data()[0] = 1234
				if l.t.At(make([]int, len(shape))...) == 1234 {
					t.Errorf("%s %v: Clone shares memory", l.name, shape)
				}
			}
			if l.t.Size() > 0 && !l.t.IsContiguous() {
				mustPanic(t, l.name+" Data", func() { l.t.Data() })
			}
			if got := l.t.Reshape(-1); !sameBits(got.Data(), vals) {
				t.Errorf("%s %v: Reshape(-1) = %v, want %v", l.name, shape, got.Data(), vals)
			}
		}
	}
}

func TestReshape(t *testing.T) {
	base := tensor.FromSlice(randVals(newRand(2), 24), 2, 3, 4)
	for _, tc := range []struct{ in, want []int }{
		{[]int{-1, 4}, []int{6, 4}}, {[]int{4, -1}, []int{4, 6}}, {[]int{-1}, []int{24}},
		{[]int{2, -1, 3}, []int{2, 4, 3}}, {[]int{1, 24, 1}, []int{1, 24, 1}}, {[]int{4, 3, 2}, []int{4, 3, 2}},
	} {
		v := base.Reshape(tc.in...)
		checkExact(t, "Reshape", v, tc.want, base.Data())
		// A contiguous tensor reshapes to a view that shares memory.
		v.Data()[5] = 99
		if base.Data()[5] != 99 {
			t.Errorf("Reshape%v copied a contiguous tensor", tc.in)
		}
	}
	// A non-contiguous tensor is copied, in logical order.
	tr := base.Transpose(0, 2) // (4, 3, 2)
	want := values(tr)
	v := tr.Reshape(-1, 6)
	checkExact(t, "Reshape of a transpose", v, []int{4, 6}, want)
	v.Data()[0] = -77
	if base.At(0, 0, 0) == -77 {
		t.Errorf("Reshape of a non-contiguous view wrote through to the base")
	}
	s := tensor.Scalar(3).Reshape(1, 1)
	checkExact(t, "Reshape scalar", s, []int{1, 1}, []float32{3})
	checkExact(t, "Reshape to scalar", s.Reshape(), nil, []float32{3})
	checkExact(t, "Reshape zero-size", tensor.New(0, 3).Reshape(3, 0, 5), []int{3, 0, 5}, nil)

	mustPanic(t, "Reshape count", func() { base.Reshape(5, 5) })
	mustPanic(t, "Reshape two -1", func() { base.Reshape(-1, -1) })
	mustPanic(t, "Reshape -2", func() { base.Reshape(-2, -12) })
	mustPanic(t, "Reshape -1 indivisible", func() { base.Reshape(-1, 5) })
	mustPanic(t, "Reshape -1 beside 0", func() { tensor.New(0, 3).Reshape(-1, 0) })
}

func TestPermuteTranspose(t *testing.T) {
	vals := randVals(newRand(3), 24)
	base := tensor.FromSlice(vals, 2, 3, 4)
	p := base.Permute(2, 0, 1)
	if !slices.Equal(p.Shape(), []int{4, 2, 3}) || p.IsContiguous() {
		t.Fatalf("Permute(2, 0, 1): shape %v contiguous %v", p.Shape(), p.IsContiguous())
	}
	for _, idx := range indices(p.Shape()) {
		if got, want := p.At(idx...), vals[(idx[1]*3+idx[2])*4+idx[0]]; got != want {
			t.Fatalf("Permute At%v = %v, want %v", idx, got, want)
		}
	}
	// Views share memory both ways.
	p.Set(42, 3, 1, 2) // base (1, 2, 3)
	if base.At(1, 2, 3) != 42 {
		t.Errorf("Set through a permuted view did not reach the base")
	}
	c := p.Contiguous()
	c.Set(-5, 3, 1, 2)
	if base.At(1, 2, 3) != 42 {
		t.Errorf("Contiguous of a view shares memory with it")
	}
	checkExact(t, "Permute negative axes", base.Permute(-1, 0, -2), []int{4, 2, 3}, values(p))

	tr := base.Transpose(0, -1) // (4, 3, 2)
	for _, idx := range indices(tr.Shape()) {
		if tr.At(idx...) != base.At(idx[2], idx[1], idx[0]) {
			t.Fatalf("Transpose(0, -1) At%v", idx)
		}
	}
	checkExact(t, "Transpose twice", tr.Transpose(0, 2), []int{2, 3, 4}, base.Data())
	if !base.Transpose(1, 1).IsContiguous() {
		t.Errorf("Transpose(1, 1) is not contiguous")
	}
	// Swapping a size-1 axis keeps row-major order.
	if one := tensor.New(1, 5).Transpose(0, 1); !one.IsContiguous() {
		t.Errorf("(1,5) transposed to (5,1) reports non-contiguous")
	}

	mustPanic(t, "Permute short", func() { base.Permute(0, 1) })
	mustPanic(t, "Permute repeat", func() { base.Permute(0, 1, 1) })
	mustPanic(t, "Permute range", func() { base.Permute(0, 1, 3) })
	mustPanic(t, "Transpose range", func() { base.Transpose(0, 3) })
}

func TestSliceNarrow(t *testing.T) {
	vals := randVals(newRand(4), 60)
	base := tensor.FromSlice(vals, 5, 3, 4)

	s := base.Slice(1, 4)
	checkExact(t, "Slice(1, 4)", s, []int{3, 3, 4}, vals[12:48])
	if !s.IsContiguous() || !sameBits(s.Data(), vals[12:48]) {
		t.Errorf("Slice along axis 0 is not a contiguous view")
	}
	s.Set(7, 0, 0, 0)
	if vals[12] != 7 {
		t.Errorf("Slice does not share memory")
	}
	checkExact(t, "Slice empty", base.Slice(2, 2), []int{0, 3, 4}, nil)
	checkExact(t, "Slice all", base.Slice(0, 5), []int{5, 3, 4}, vals)
	checkExact(t, "Slice of a slice", s.Slice(1, 2), []int{1, 3, 4}, vals[24:36])

	n := base.Narrow(1, 1, 2) // (5, 2, 4)
	if n.IsContiguous() {
		t.Errorf("Narrow along axis 1 reports contiguous")
	}
	for _, idx := range indices(n.Shape()) {
		if n.At(idx...) != base.At(idx[0], idx[1]+1, idx[2]) {
			t.Fatalf("Narrow At%v", idx)
		}
	}
	n.Set(-9, 4, 1, 3) // base (4, 2, 3)
	if base.At(4, 2, 3) != -9 {
		t.Errorf("Narrow does not share memory")
	}
	checkExact(t, "Narrow axis 0", base.Narrow(0, 3, 2), []int{2, 3, 4}, vals[36:60])
	checkExact(t, "Narrow last axis", base.Narrow(-1, 3, 1), []int{5, 3, 1}, values(base.Narrow(2, 3, 1)))
	checkExact(t, "Narrow empty", base.Narrow(2, 4, 0), []int{5, 3, 0}, nil)
	checkExact(t, "Narrow of a transpose", base.Transpose(0, 2).Narrow(0, 1, 2).Contiguous(), []int{2, 3, 5},
		values(base.Narrow(2, 1, 2).Transpose(0, 2)))

	mustPanic(t, "Slice hi > n", func() { base.Slice(0, 6) })
	mustPanic(t, "Slice lo > hi", func() { base.Slice(3, 2) })
	mustPanic(t, "Slice negative", func() { base.Slice(-1, 2) })
	mustPanic(t, "Slice scalar", func() { tensor.Scalar(1).Slice(0, 1) })
	mustPanic(t, "Narrow past end", func() { base.Narrow(1, 2, 2) })
	mustPanic(t, "Narrow negative", func() { base.Narrow(1, -1, 1) })
	mustPanic(t, "Narrow axis", func() { base.Narrow(3, 0, 1) })
	mustPanic(t, "Data of Narrow", func() { n.Data() })
}

// TestInPlaceOnViews checks that in-place operations on a view touch exactly
// the view's elements: the rest of the base is a guard band.
func TestInPlaceOnViews(t *testing.T) {
	r := newRand(5)
	fresh := func() (*tensor.Tensor, []float32) {
		v := randVals(r, 60)
		return tensor.FromSlice(slices.Clone(v), 5, 3, 4), v
	}
	// Elements of base (5,3,4) inside view Narrow(1, 1, 2).Transpose(0, 2)
	// (4, 2, 5): base index (a, b, c) with b in {1, 2}.
	inView := func(i int) bool { b := i / 4 % 3; return b == 1 || b == 2 }
	view := func(base *tensor.Tensor) *tensor.Tensor { return base.Narrow(1, 1, 2).Transpose(0, 2) }

	check := func(what string, base *tensor.Tensor, orig []float32, f func(x float32, i int) float32) {
		t.Helper()
		for i, got := range base.Data() {
			want := orig[i]
			if inView(i) {
				if f == nil {
					continue // checked through the view
				}
				want = f(orig[i], i)
			}
			if got != want {
				t.Errorf("%s: base element %d = %v, want %v (in view: %v)", what, i, got, want, inView(i))
				return
			}
		}
	}

	base, orig := fresh()
	view(base).Fill(2.5)
	check("Fill", base, orig, func(float32, int) float32 { return 2.5 })

	base, orig = fresh()
	view(base).ScaleInPlace(-3)
	check("ScaleInPlace", base, orig, func(x float32, _ int) float32 { return -3 * x })

	base, orig = fresh()
	v := view(base)
	src := tensor.FromSlice(randVals(r, v.Size()), v.Shape()...)
	v.CopyFrom(src)
	checkExact(t, "CopyFrom into a view", v, v.Shape(), src.Data())
	check("CopyFrom", base, orig, nil)

	// CopyFrom from a non-contiguous source into a contiguous tensor.
	dst := tensor.New(v.Shape()...)
	dst.CopyFrom(v)
	checkExact(t, "CopyFrom from a view", dst, v.Shape(), values(v))

	// Axpy / AddInPlace read non-contiguous sources.
	acc := tensor.FromSlice(randVals(r, v.Size()), v.Shape()...)
	a0 := slices.Clone(acc.Data())
	acc.Axpy(0.5, v)
	vv := values(v)
	want := make([]float32, len(a0))
	for i := range want {
		want[i] = a0[i] + 0.5*vv[i]
	}
	checkExact(t, "Axpy of a view", acc, v.Shape(), want)
	acc.AddInPlace(v)
	for i := range want {
		want[i] += vv[i]
	}
	checkExact(t, "AddInPlace of a view", acc, v.Shape(), want)

	mustPanic(t, "Axpy into a view", func() { v.Axpy(1, src) })
	mustPanic(t, "Axpy shapes", func() { acc.Axpy(1, tensor.New(3)) })
	mustPanic(t, "CopyFrom shapes", func() { acc.CopyFrom(tensor.New(3)) })
}

func TestEqualString(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	if !tensor.Equal(a, a.Transpose(0, 1).Transpose(0, 1)) || tensor.Equal(a, a.Transpose(0, 1)) {
		t.Errorf("Equal on views")
	}
	if tensor.Equal(a, a.Reshape(4)) || !tensor.SameShape(a, tensor.New(2, 2)) {
		t.Errorf("Equal/SameShape on shapes")
	}
	if s := a.String(); !strings.Contains(s, "[2 2]") || !strings.Contains(s, "1 2 3 4") {
		t.Errorf("String() = %q", s)
	}
	if s := a.Transpose(0, 1).String(); !strings.Contains(s, "1 3 2 4") {
		t.Errorf("String() of a transpose = %q", s)
	}
	if s := tensor.New(10, 10).String(); strings.Contains(s, "0 0") {
		t.Errorf("String() of a large tensor prints values: %q", s)
	}
}

// TestFillContiguous checks the contiguous fast path of Fill: zeroing
// (clear), another value, and -0 kept as -0.
func TestFillContiguous(t *testing.T) {
	x := tensor.Full(3, 4, 5)
	x.Fill(0)
	for _, v := range x.Data() {
		if math.Float32bits(v) != 0 {
			t.Fatalf("Fill(0) left %v", v)
		}
	}
	x.Fill(float32(math.Copysign(0, -1)))
	for _, v := range x.Data() {
		if !math.Signbit(float64(v)) || v != 0 {
			t.Fatalf("Fill(-0) gave %v", v)
		}
	}
	x.Fill(7)
	for _, v := range x.Data() {
		if v != 7 {
			t.Fatalf("Fill(7) gave %v", v)
		}
	}
}
