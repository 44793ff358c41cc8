package autograd

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// awayFromZero moves every element at least 0.1 from 0, so finite
// differences (step 1e-2) never straddle an activation's kink.
func awayFromZero(t *tensor.Tensor) *tensor.Tensor {
	return tensor.Map(t, func(v float32) float32 {
		if v < 0 {
			return v - 0.1
		}
		return v + 0.1
	})
}

// activations pairs each activation with a naive float64 reference.
var activations = map[string]struct {
	f   func(x *Var) *Var
	ref func(v float64) float64
}{
	"relu":  {ReLU, func(v float64) float64 { return math.Max(v, 0) }},
	"relu6": {func(x *Var) *Var { return ReLU6(Scale(x, 3)) }, func(v float64) float64 { return math.Min(math.Max(3*v, 0), 6) }},
	"leaky-relu": {func(x *Var) *Var { return LeakyReLU(x, 0.2) }, func(v float64) float64 {
		if v > 0 {
			return v
		}
		return 0.2 * v
	}},
	"elu": {func(x *Var) *Var { return ELU(x, 1.5) }, func(v float64) float64 {
		if v > 0 {
			return v
		}
		return 1.5 * (math.Exp(v) - 1)
	}},
	"gelu": {GELU, func(v float64) float64 {
		// Φ by numerical integration of the normal density, independent of erf.
		const steps, lo = 20000, -12.0
		if v <= lo {
			return 0 // below float32 resolution
		}
		h := (v - lo) / steps
		s := 0.0
		for i := range steps {
			u := lo + (float64(i)+0.5)*h
			s += math.Exp(-u*u/2) * h
		}
		return v * s / math.Sqrt(2*math.Pi)
	}},
	"silu":    {SiLU, func(v float64) float64 { return v / (1 + math.Exp(-v)) }},
	"sigmoid": {Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
	"tanh": {Tanh, func(v float64) float64 {
		e := math.Exp(2 * v)
		return (e - 1) / (e + 1)
	}},
}

func TestActivationValues(t *testing.T) {
	x := tensor.FromSlice([]float32{-30, -4, -1.5, -0.3, 0, 0.2, 1, 2.5, 6, 30}, 2, 5)
	for name, a := range activations {
		t.Run(name, func(t *testing.T) {
			got := a.f(Const(x)).Value
			if !tensor.SameShape(got, x) {
				t.Fatalf("shape %v, want %v", got.Shape(), x.Shape())
			}
			for i, v := range x.Data() {
				want := a.ref(float64(v))
				if g := float64(got.Data()[i]); math.Abs(g-want) > 1e-6+1e-5*math.Abs(want) {
					t.Errorf("%s(%g) = %g, want %g", name, v, g, want)
				}
			}
		})
	}
}

func TestGradActivations(t *testing.T) {
	shapes := [][]int{{7}, {3, 5}, {2, 3, 4, 5}}
	for name, a := range activations {
		for si, shape := range shapes {
			t.Run(fmt.Sprint(name, si), func(t *testing.T) {
				in := []*tensor.Tensor{awayFromZero(rnd(uint64(10+si), shape...))}
				if err := CheckGrad(func(xs []*Var) *Var { return a.f(xs[0]) }, in, CheckOpts{}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// The gradient at exactly 0 follows PyTorch: ReLU 0, LeakyReLU slope, ELU
// alpha.
func TestActivationGradAtZero(t *testing.T) {
	cases := map[string]struct {
		f    func(x *Var) *Var
		want float32
	}{
		"relu":       {ReLU, 0},
		"relu6":      {ReLU6, 0},
		"leaky-relu": {func(x *Var) *Var { return LeakyReLU(x, 0.2) }, 0.2},
		"elu":        {func(x *Var) *Var { return ELU(x, 1.5) }, 1.5},
		"gelu":       {GELU, 0.5},
		"silu":       {SiLU, 0.5},
		"sigmoid":    {Sigmoid, 0.25},
		"tanh":       {Tanh, 1},
	}
	for name, c := range cases {
		x := Param(tensor.Zeros(1))
		Sum(c.f(x)).Backward()
		if got := x.Grad.Data()[0]; got != c.want {
			t.Errorf("%s'(0) = %g, want %g", name, got, c.want)
		}
	}
}

// Large inputs must neither overflow nor produce NaN gradients.
func TestActivationExtremes(t *testing.T) {
	x := tensor.FromSlice([]float32{-1e4, -100, 100, 1e4}, 4)
	for name, a := range activations {
		v := Param(x.Clone())
		Sum(a.f(v)).Backward()
		for i, y := range a.f(Const(x)).Value.Data() {
			if math.IsNaN(float64(y)) || math.IsNaN(float64(v.Grad.Data()[i])) {
				t.Errorf("%s(%g) = %g, gradient %g", name, x.Data()[i], y, v.Grad.Data()[i])
			}
		}
	}
}

// ReLU6's gradient is 0 at and beyond 6, as PyTorch's hardtanh_backward,
// and passes through just inside.
func TestReLU6Gradient(t *testing.T) {
	x := Param(tensor.FromSlice([]float32{-1, 0, 0.5, 5.9, 6, 6.1, float32(math.NaN())}, 7))
	y := ReLU6(x)
	Sum(y).Backward()
	wantY := []float32{0, 0, 0.5, 5.9, 6, 6}
	wantG := []float32{0, 0, 1, 1, 0, 0, 0}
	for i, w := range wantY {
		if y.Value.Data()[i] != w {
			t.Errorf("ReLU6(%g) = %g, want %g", x.Value.Data()[i], y.Value.Data()[i], w)
		}
	}
	if v := y.Value.Data()[6]; v == v {
		t.Errorf("ReLU6(NaN) = %g, want NaN", v)
	}
	for i, w := range wantG {
		if g := x.Grad.Data()[i]; g != w {
			t.Errorf("ReLU6'(%g) = %g, want %g", x.Value.Data()[i], g, w)
		}
	}
}

// softmaxRef computes softmax (or log-softmax) of x along axis naively in
// float64 by index arithmetic on the row-major layout.
func softmaxRef(x *tensor.Tensor, axis int, log bool) []float64 {
	shape := x.Shape()
	if axis < 0 {
		axis += len(shape)
	}
	stride := 1
	for _, d := range shape[axis+1:] {
		stride *= d
	}
	n := shape[axis]
	data := x.Data()
	out := make([]float64, len(data))
	for k := range data {
		j := k / stride % n
		first := k - j*stride // element 0 of k's row
		var s float64
		for jj := range n {
			s += math.Exp(float64(data[first+jj*stride]))
		}
		if log {
			out[k] = float64(data[k]) - math.Log(s)
		} else {
			out[k] = math.Exp(float64(data[k])) / s
		}
	}
	return out
}

func TestSoftmaxValues(t *testing.T) {
	x := rnd(3, 2, 3, 4)
	for _, axis := range []int{0, 1, 2, -1, -3} {
		for _, log := range []bool{false, true} {
			f := Softmax
			if log {
				f = LogSoftmax
			}
			got := f(Const(x), axis).Value.Data()
			for k, want := range softmaxRef(x, axis, log) {
				if math.Abs(float64(got[k])-want) > 1e-6 {
					t.Fatalf("axis %d log %v: element %d = %g, want %g", axis, log, k, got[k], want)
				}
			}
		}
	}
	// Shifting a row by a large constant must not overflow (the max is
	// subtracted first) and must not change the result.
	big := tensor.FromSlice([]float32{1000, 1001, 1002}, 1, 3)
	small := tensor.FromSlice([]float32{0, 1, 2}, 1, 3)
	for i, v := range Softmax(Const(big), 1).Value.Data() {
		if w := Softmax(Const(small), 1).Value.Data()[i]; math.Abs(float64(v-w)) > 1e-6 {
			t.Fatalf("softmax of shifted row: %g, want %g", v, w)
		}
	}
	if v := LogSoftmax(Const(big), 1).Value.Data()[2]; math.Abs(float64(v)+math.Log(1+math.Exp(-1)+math.Exp(-2))) > 1e-4 { // float32 spacing near 1000 is 6e-5
		t.Fatalf("log-softmax of large row: %g", v)
	}
}

func TestGradSoftmax(t *testing.T) {
	cases := []struct {
		shape []int
		axis  int
	}{
		{[]int{5}, 0},
		{[]int{3, 6}, 1},
		{[]int{3, 6}, 0},
		{[]int{2, 3, 4}, 1},
		{[]int{2, 3, 4}, -1},
		{[]int{2, 3, 2, 2}, 0},
	}
	for i, c := range cases {
		for _, log := range []bool{false, true} {
			t.Run(fmt.Sprint(i, log), func(t *testing.T) {
				f := Softmax
				if log {
					f = LogSoftmax
				}
				in := []*tensor.Tensor{rnd(uint64(20+i), c.shape...)}
				if err := CheckGrad(func(xs []*Var) *Var { return f(xs[0], c.axis) }, in, CheckOpts{}); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Tensors large enough to be split over the worker pool give the same
// values and gradients as the reference, chunk boundaries included.
func TestActivationParallel(t *testing.T) {
	x := rnd(4, 5, 9000)
	v := Param(x.Clone())
	Sum(Sigmoid(v)).Backward()
	for i, u := range x.Data() {
		s := 1 / (1 + math.Exp(-float64(u)))
		if g := float64(v.Grad.Data()[i]); math.Abs(g-s*(1-s)) > 1e-6 {
			t.Fatalf("sigmoid gradient %d: %g, want %g", i, g, s*(1-s))
		}
	}
	got := Softmax(Const(x), 0).Value.Data()
	for k, want := range softmaxRef(x, 0, false) {
		if math.Abs(float64(got[k])-want) > 1e-6 {
			t.Fatalf("softmax element %d = %g, want %g", k, got[k], want)
		}
	}
}
