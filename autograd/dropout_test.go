package autograd

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func TestDropoutValues(t *testing.T) {
	const p = 0.3
	x := tensor.AddScalar(tensor.Abs(rnd(1, 100, 100)), 0.1) // no zeros of its own
	xv := Param(x)
	y := Dropout(xv, p, tensor.NewRNG(2))
	y.BackwardWith(tensor.Ones(y.Shape()...))
	xd, yd, gd := x.Data(), y.Value.Data(), xv.Grad.Data()
	zeros := 0
	for i, v := range yd {
		switch {
		case v == 0:
			zeros++
			if gd[i] != 0 {
				t.Fatalf("element %d dropped but its gradient is %v", i, gd[i])
			}
		case math.Abs(float64(v-xd[i]/(1-p))) > 1e-6:
			t.Fatalf("survivor %d is %v, want x/(1-p) = %v", i, v, xd[i]/(1-p))
		case math.Abs(float64(gd[i]-1/(1-p))) > 1e-6:
			t.Fatalf("survivor %d has gradient %v, want 1/(1-p)", i, gd[i])
		}
	}
	// 10000 Bernoulli(0.3) draws: the standard deviation of the rate is 0.0046.
	if rate := float64(zeros) / float64(len(yd)); math.Abs(rate-p) > 0.02 {
		t.Fatalf("dropped %.3f of the elements, want about %v", rate, p)
	}
	// The same seed gives the same mask; another seed a different one.
	again := Dropout(Const(x), p, tensor.NewRNG(2)).Value
	other := Dropout(Const(x), p, tensor.NewRNG(3)).Value
	if maxAbsDiff(again, y.Value) != 0 {
		t.Fatal("same seed gave a different mask")
	}
	if maxAbsDiff(other, y.Value) == 0 {
		t.Fatal("different seeds gave the same mask")
	}
}

func TestDropoutEdges(t *testing.T) {
	x := Param(rnd(1, 3, 4))
	if Dropout(x, 0, tensor.NewRNG(1)) != x {
		t.Fatal("p = 0 did not return its input")
	}
	y := Dropout(x, 1, tensor.NewRNG(1))
	for _, v := range y.Value.Data() {
		if v != 0 {
			t.Fatalf("p = 1 left %v", v)
		}
	}
	Sum(y).Backward()
	for _, v := range x.Grad.Data() {
		if v != 0 {
			t.Fatalf("p = 1 passed gradient %v", v)
		}
	}
	for _, p := range []float32{-0.1, 1.5, float32(math.NaN())} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Dropout(p = %v) did not panic", p)
				}
			}()
			Dropout(x, p, tensor.NewRNG(1))
		}()
	}
}

func TestGradDropout(t *testing.T) {
	err := CheckGrad(func(xs []*Var) *Var {
		return Dropout(xs[0], 0.4, tensor.NewRNG(5)) // a fixed mask: f must be deterministic
	}, []*tensor.Tensor{rnd(1, 4, 3, 5)}, CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
}
