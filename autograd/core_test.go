package autograd

import (
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func rnd(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.Normal(tensor.NewRNG(seed), 0, 1, shape...)
}

func TestGradConv2d(t *testing.T) {
	cases := []struct {
		n, c, h, w, o, k int
		p                tensor.ConvParams
	}{
		{2, 3, 7, 6, 4, 3, tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}},
		{1, 2, 9, 8, 3, 3, tensor.ConvParams{Stride: [2]int{2, 3}, Pad: [4]int{0, 1, 2, 1}}},
		{2, 2, 9, 9, 2, 3, tensor.ConvParams{Dilation: [2]int{2, 2}, Pad: [4]int{2, 2, 2, 2}}},
		{2, 4, 5, 5, 4, 3, tensor.ConvParams{Groups: 4, Pad: [4]int{1, 1, 1, 1}}}, // depthwise
		{1, 4, 6, 5, 6, 1, tensor.ConvParams{Groups: 2}},                          // 1x1 grouped, direct path
		{3, 1, 5, 7, 2, 2, tensor.ConvParams{Stride: [2]int{2, 2}}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := max(c.p.Groups, 1)
			in := []*tensor.Tensor{rnd(1, c.n, c.c, c.h, c.w), rnd(2, c.o, c.c/g, c.k, c.k), rnd(3, c.o)}
			err := CheckGrad(func(xs []*Var) *Var { return Conv2d(xs[0], xs[1], xs[2], c.p) }, in, CheckOpts{})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGradLinearMatMul(t *testing.T) {
	in := []*tensor.Tensor{rnd(1, 5, 7), rnd(2, 3, 7), rnd(3, 3)}
	if err := CheckGrad(func(xs []*Var) *Var { return Linear(xs[0], xs[1], xs[2]) }, in, CheckOpts{}); err != nil {
		t.Fatal(err)
	}
	in = []*tensor.Tensor{rnd(4, 4, 6), rnd(5, 6, 3)}
	if err := CheckGrad(func(xs []*Var) *Var { return MatMul(xs[0], xs[1]) }, in, CheckOpts{}); err != nil {
		t.Fatal(err)
	}
}

func TestGradElementwise(t *testing.T) {
	pos := func(seed uint64, shape ...int) *tensor.Tensor {
		return tensor.AddScalar(tensor.Abs(rnd(seed, shape...)), 0.5)
	}
	cases := map[string]struct {
		f  func(xs []*Var) *Var
		in []*tensor.Tensor
	}{
		"add-broadcast": {func(x []*Var) *Var { return Add(x[0], x[1]) }, []*tensor.Tensor{rnd(1, 2, 3, 4), rnd(2, 3, 1)}},
		"sub-broadcast": {func(x []*Var) *Var { return Sub(x[0], x[1]) }, []*tensor.Tensor{rnd(1, 4), rnd(2, 3, 4)}},
		"mul-broadcast": {func(x []*Var) *Var { return Mul(x[0], x[1]) }, []*tensor.Tensor{rnd(1, 2, 3, 4), rnd(2, 1, 3, 1)}},
		"div":           {func(x []*Var) *Var { return Div(x[0], x[1]) }, []*tensor.Tensor{rnd(1, 3, 4), pos(2, 3, 4)}},
		"exp":           {func(x []*Var) *Var { return Exp(x[0]) }, []*tensor.Tensor{rnd(1, 3, 5)}},
		"log":           {func(x []*Var) *Var { return Log(x[0]) }, []*tensor.Tensor{pos(1, 3, 5)}},
		"sqrt":          {func(x []*Var) *Var { return Sqrt(x[0]) }, []*tensor.Tensor{pos(1, 3, 5)}},
		"pow":           {func(x []*Var) *Var { return Pow(x[0], 3) }, []*tensor.Tensor{rnd(1, 3, 5)}},
		"clamp":         {func(x []*Var) *Var { return Clamp(x[0], -0.5, 0.7) }, []*tensor.Tensor{rnd(1, 4, 5)}},
		"scale":         {func(x []*Var) *Var { return AddScalar(Scale(Neg(x[0]), 3), 2) }, []*tensor.Tensor{rnd(1, 4)}},
		"sum-axes":      {func(x []*Var) *Var { return Sum(x[0], 0, 2) }, []*tensor.Tensor{rnd(1, 2, 3, 4)}},
		"mean-all":      {func(x []*Var) *Var { return Mean(x[0]) }, []*tensor.Tensor{rnd(1, 2, 3, 4)}},
		"mean-axis":     {func(x []*Var) *Var { return Mean(x[0], -1) }, []*tensor.Tensor{rnd(1, 2, 3, 4)}},
		"permute":       {func(x []*Var) *Var { return Permute(x[0], 2, 0, 1) }, []*tensor.Tensor{rnd(1, 2, 3, 4)}},
		"reshape":       {func(x []*Var) *Var { return Mul(Flatten(x[0]), x[1]) }, []*tensor.Tensor{rnd(1, 2, 3, 4), rnd(2, 12)}},
		"concat":        {func(x []*Var) *Var { return Concat(1, x[0], x[1]) }, []*tensor.Tensor{rnd(1, 2, 3, 4), rnd(2, 2, 1, 4)}},
		"reuse":         {func(x []*Var) *Var { return Mul(Add(x[0], x[0]), x[0]) }, []*tensor.Tensor{rnd(1, 5)}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := CheckGrad(c.f, c.in, CheckOpts{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A gradient rule that is wrong must be caught: CheckGrad is itself tested.
func TestCheckGradCatchesWrongRule(t *testing.T) {
	wrong := func(xs []*Var) *Var {
		x := xs[0]
		return record(func() *tensor.Tensor { return tensor.Mul(x.Value, x.Value) }, func(g *tensor.Tensor) { x.addGrad(g) }, x)
	}
	if err := CheckGrad(wrong, []*tensor.Tensor{rnd(1, 6)}, CheckOpts{}); err == nil {
		t.Fatal("CheckGrad accepted a wrong gradient rule for x²")
	}
}

func TestAccumulateAndNoGrad(t *testing.T) {
	w := Param(tensor.FromSlice([]float32{1, 2, 3}, 3))
	for range 2 {
		Sum(Scale(w, 2)).Backward()
	}
	if got := w.Grad.Data(); got[0] != 4 || got[2] != 4 {
		t.Fatalf("accumulated grad %v, want all 4", got)
	}
	w.ZeroGrad()
	if w.Grad.Data()[1] != 0 {
		t.Fatal("ZeroGrad left a value")
	}
	ev := &Tape{NoGrad: true}
	zero := ev.Const(tensor.New(3))
	y := Sum(Scale(Add(zero, w), 2))
	if y.RequiresGrad() || y.Tape() != ev || y.GradEnabled() {
		t.Fatal("op recorded on a NoGrad tape")
	}
	// Ops on parameters alone are on no tape: they record.
	if !Sum(Scale(w, 2)).RequiresGrad() {
		t.Fatal("op on a parameter alone did not record")
	}
	// Another tape in the same process still records.
	if tr := Sum(Scale(Add((&Tape{}).Const(tensor.New(3)), w), 2)); !tr.RequiresGrad() {
		t.Fatal("a recording tape did not record beside a NoGrad one")
	}
	if d := Scale(w, 2).Detach(); d.RequiresGrad() {
		t.Fatal("Detach kept the gradient")
	}
}
