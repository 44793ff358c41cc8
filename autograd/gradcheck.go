package autograd

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/tensor"
)

// CheckOpts tunes [CheckGrad]. The zero value uses the defaults below.
type CheckOpts struct {
	Eps  float64 // finite-difference step; default 1e-2
	ATol float64 // absolute tolerance; default 1e-3
	RTol float64 // relative tolerance; default 1e-2
	// MaxPerInput caps how many elements of each input are perturbed
	// (spread evenly over the tensor); 0 checks every element.
	MaxPerInput int
	Seed        uint64 // seeds the random output projection
}

// CheckGrad compares the gradients that Backward computes for f at inputs
// against central finite differences, and returns an error describing the
// worst mismatch, or nil.
//
// The scalar checked is L = Σ f(x)⊙R for a fixed random R, so every output
// element takes part. Tensors are float32, so the forward passes run in
// float32; the projection, the difference quotient and the comparison are
// computed in float64, and Eps is sized for float32 round-off. f must be
// deterministic (fix the seed of any randomness inside it).
func CheckGrad(f func(xs []*Var) *Var, inputs []*tensor.Tensor, opt CheckOpts) error {
	if opt.Eps == 0 {
		opt.Eps = 1e-2
	}
	if opt.ATol == 0 {
		opt.ATol = 1e-3
	}
	if opt.RTol == 0 {
		opt.RTol = 1e-2
	}
	vars := make([]*Var, len(inputs))
	for i, t := range inputs {
		vars[i] = Param(t.Clone())
	}
	out := f(vars)
	r := tensor.Normal(tensor.NewRNG(opt.Seed+1), 0, 1, out.Value.Shape()...)
	out.BackwardWith(r)

	project := func() float64 {
		// Constants on no tape: f may keep them (install them as a
		// layer's parameters), and nothing records, since no input needs
		// a gradient.
		consts := make([]*Var, len(vars))
		for i, v := range vars {
			consts[i] = Const(v.Value)
		}
		o := f(consts).Value.Contiguous().Data()
		var s float64
		for i, rv := range r.Data() {
			s += float64(o[i]) * float64(rv)
		}
		return s
	}
	for vi, v := range vars {
		x := v.Value.Data()
		var grad []float32
		if v.Grad != nil {
			grad = v.Grad.Contiguous().Data()
		}
		step := 1
		if opt.MaxPerInput > 0 && len(x) > opt.MaxPerInput {
			step = (len(x) + opt.MaxPerInput - 1) / opt.MaxPerInput
		}
		for i := 0; i < len(x); i += step {
			orig := x[i]
			x[i] = orig + float32(opt.Eps)
			up := project()
			x[i] = orig - float32(opt.Eps)
			down := project()
			x[i] = orig
			h := float64(orig+float32(opt.Eps)) - float64(orig-float32(opt.Eps)) // the step actually taken
			num := (up - down) / h
			var ana float64
			if grad != nil {
				ana = float64(grad[i])
			}
			if d := math.Abs(ana - num); d > opt.ATol+opt.RTol*math.Abs(num) || math.IsNaN(ana) {
				return fmt.Errorf("input %d %v element %d: backward gives %.6g, finite differences %.6g (|diff| %.3g)",
					vi, v.Value.Shape(), i, ana, num, d)
			}
		}
	}
	return nil
}
