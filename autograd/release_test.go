package autograd

import (
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// releaseGraph builds a small network exercising every way gradients and
// values share memory: a tensor used twice by one op (Add(x, x)), residual
// sums (aliased skip gradient plus a fresh convolution gradient), Reshape
// views of values and gradients, Concat along the batch axis (contiguous
// Narrow views of the gradient), a Detach-ed value and a branch computed
// without gradients feeding the graph. It returns the loss and the Vars
// whose values the caller checks afterwards.
func releaseGraph(tp *Tape, params []*Var, x *tensor.Tensor, labels []int) (loss, logits, detached *Var) {
	w1, w2, g, b, lw, lb := params[0], params[1], params[2], params[3], params[4], params[5]
	conv := tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}
	in := tp.Const(x)
	h := Conv2d(in, w1, nil, conv)                             // (N,4,6,6)
	h = ReLU(BatchNorm(h, g, b, nil, nil, true, 0.1, 1e-5))    // conv, bn, relu
	h = Add(h, h)                                              // the same g for both inputs
	r := Add(h, Conv2d(h, w2, nil, conv))                      // residual
	r = Add(Conv2d(r, w2, nil, conv), r)                       // residual, other order
	r = Reshape(Reshape(r, -1, 36), r.Shape()...)              // views
	detached = r.Detach()                                      // shares r's value
	side := Scale(tp.Const(x), 0)                              // computed without gradients
	r = Add(r, Scale(Mul(detached, r), 0.5))                   // reads the detached value
	r = Add(r, Mean(Reshape(side, side.Value.Dim(0), -1)))     // and the side branch
	p := MaxPool2d(r, tensor.PoolParams{Kernel: [2]int{2, 2}}) // (N,4,3,3)
	cat := Concat(0, p, Scale(p, -1))                          // (2N,4,3,3)
	f := Flatten(Tanh(cat))                                    // (2N,36)
	logits = Linear(f, lw, lb)                                 // (2N,10)
	loss = Add(CrossEntropy(logits, labels, CrossEntropyOpts{}), Mean(Mul(logits, logits)))
	return loss, logits, detached
}

// TestBackwardReleases checks that giving gradients and values back to the
// arena during backward leaves every parameter gradient bit for bit as
// without an arena, while released buffers are poisoned with NaN so any read
// after release would show, and that it shrinks the arena.
func TestBackwardReleases(t *testing.T) {
	rng := tensor.NewRNG(7)
	n := 3
	x := tensor.Normal(rng, 0, 1, n, 2, 6, 6)
	labels := make([]int, 2*n)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	init := []*tensor.Tensor{
		tensor.Normal(rng, 0, 0.5, 4, 2, 3, 3), tensor.Normal(rng, 0, 0.3, 4, 4, 3, 3),
		tensor.Normal(rng, 1, 0.1, 4), tensor.Normal(rng, 0, 0.1, 4),
		tensor.Normal(rng, 0, 0.3, 10, 36), tensor.Normal(rng, 0, 0.1, 10),
	}
	params := func() []*Var {
		ps := make([]*Var, len(init))
		for i, v := range init {
			ps[i] = Param(v.Clone())
		}
		return ps
	}

	ref := params()
	loss, logits, _ := releaseGraph(nil, ref, x, labels)
	wantLogits := logits.Value.Clone()
	wantLoss := loss.Value.Item()
	loss.Backward()

	floats := map[string]int{}
	for _, mode := range []string{"keep", "grads", "values"} {
		t.Run(mode, func(t *testing.T) {
			a := tensor.NewArena()
			a.Poison = true
			ps := params()
			for step := range 3 { // later steps reuse dirty, poisoned buffers
				a.Reset()
				loss, logits, detached := releaseGraph(&Tape{Arena: a}, ps, x, labels)
				gotLogits := logits.Value.Clone()
				detachedBefore := detached.Value.Clone()
				xBefore := x.Clone()
				switch mode {
				case "keep":
					releaseGrads = false
					loss.Backward()
					releaseGrads = true
				case "grads":
					loss.Backward()
				case "values":
					loss.BackwardWithOptions(nil, BackwardOptions{ReleaseValues: true})
				}
				if !tensor.Equal(gotLogits, wantLogits) || loss.Value.Item() != wantLoss {
					t.Fatalf("step %d: forward differs", step)
				}
				if !tensor.Equal(detached.Value, detachedBefore) || !tensor.Equal(x, xBefore) {
					t.Logf("detached %v x %v", tensor.Equal(detached.Value, detachedBefore), tensor.Equal(x, xBefore))
					t.Fatalf("step %d: a leaf's value was released", step)
				}
				if mode != "values" && !tensor.Equal(logits.Value, gotLogits) {
					t.Fatalf("step %d: an intermediate value was released without ReleaseValues", step)
				}
				for i, p := range ps {
					if !tensor.Equal(p.Grad, ref[i].Grad) {
						t.Fatalf("step %d: gradient of parameter %d differs: %v vs %v", step, i, p.Grad, ref[i].Grad)
					}
					p.ZeroGrad()
				}
			}
			floats[mode] = a.Floats()
		})
	}
	t.Logf("arena floats: %v", floats)
	if !(floats["values"] < floats["grads"] && floats["grads"] < floats["keep"]) {
		t.Fatalf("releases do not shrink the arena: %v", floats)
	}
}

// TestBackwardReleaseSeed checks that a caller's seed gradient and the
// output's value survive a releasing backward pass.
func TestBackwardReleaseSeed(t *testing.T) {
	a := tensor.NewArena()
	a.Poison = true
	for _, values := range []bool{false, true} {
		t.Run(fmt.Sprint(values), func(t *testing.T) {
			a.Reset()
			w := Param(tensor.Full(2, 3))
			v := Add((&Tape{Arena: a}).Const(tensor.New(3)), w) // w, on a tape with the arena
			y := Mul(AddScalar(v, 1), AddScalar(v, 1))          // (w+1)²
			if y.Value.Arena() != a {
				t.Fatal("the result is not arena memory")
			}
			seed := tensor.Full(1, 3)
			yBefore := y.Value.Clone()
			y.BackwardWithOptions(seed, BackwardOptions{ReleaseValues: values})
			if !tensor.Equal(seed, tensor.Full(1, 3)) || !tensor.Equal(y.Value, yBefore) {
				t.Fatal("seed or output released")
			}
			if !tensor.Equal(w.Grad, tensor.Full(6, 3)) {
				t.Fatalf("gradient %v, want 6s", w.Grad)
			}
		})
	}
}
