// Package autograd is Fovea's reverse-mode automatic differentiation.
//
// A [Var] wraps a tensor value. Every operation in this package computes its
// forward result with package tensor and, when gradients are enabled and an
// input needs one, records a node holding its inputs and a backward closure
// written directly under the forward code. [Var.Backward] orders the
// recorded nodes (the tape) topologically from the output and replays them
// in reverse, so each closure receives the gradient of its output and adds
// its inputs' gradients.
//
// Leaf Vars made by [Param] accumulate gradients across Backward calls until
// [Var.ZeroGrad]; gradients of intermediate results are dropped once used.
// [NoGrad] turns recording off (evaluation, inference), so no graph and no
// saved activations are kept.
//
// # Error handling
//
// As in package tensor, shape errors are programmer errors and panic with an
// "autograd: " or "tensor: " message.
package autograd

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/fovea-ml/fovea/tensor"
)

// Var is a tensor value in a differentiable computation.
type Var struct {
	// Value is the result of the forward computation.
	Value *tensor.Tensor
	// Grad is the gradient of the last Backward output with respect to
	// Value, accumulated over Backward calls for leaves; nil until set.
	Grad *tensor.Tensor

	requiresGrad bool
	gradOwned    bool                   // Grad may be modified in place
	inputs       []*Var                 // nil for leaves
	backward     func(g *tensor.Tensor) // adds input gradients given Grad
}

// Param returns a leaf Var that requires a gradient: a trainable parameter.
func Param(t *tensor.Tensor) *Var { return &Var{Value: t, requiresGrad: true} }

// Const returns a leaf Var that needs no gradient: input data, labels.
func Const(t *tensor.Tensor) *Var { return &Var{Value: t} }

// RequiresGrad reports whether gradients flow to v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad turns gradient tracking of a leaf on or off (freezing a
// layer). It panics on a non-leaf.
func (v *Var) SetRequiresGrad(on bool) {
	if v.inputs != nil {
		panic("autograd: SetRequiresGrad on a non-leaf Var")
	}
	v.requiresGrad = on
}

// IsLeaf reports whether v was made by Param or Const rather than an op.
func (v *Var) IsLeaf() bool { return v.inputs == nil }

// Shape is v.Value.Shape().
func (v *Var) Shape() []int { return v.Value.Shape() }

// Detach returns a leaf sharing v's value with no gradient history.
func (v *Var) Detach() *Var { return &Var{Value: v.Value} }

// ZeroGrad zeroes v's accumulated gradient, keeping its buffer for reuse.
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Grad.Fill(0)
	}
}

// noGrad counts active NoGrad scopes; recording is off while it is > 0.
var noGrad atomic.Int32

// NoGrad turns gradient recording off until the returned function is called:
//
//	defer autograd.NoGrad()()
//
// The switch is process-wide (Go has no goroutine-local state): do not train
// in one goroutine while another evaluates under NoGrad.
func NoGrad() (restore func()) {
	noGrad.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			noGrad.Add(-1)
		}
	}
}

// GradEnabled reports whether operations currently record gradients.
func GradEnabled() bool { return noGrad.Load() == 0 }

// record wraps an op's result. If recording is on and any input requires a
// gradient, the result remembers its inputs and backward closure.
func record(value *tensor.Tensor, backward func(g *tensor.Tensor), inputs ...*Var) *Var {
	out := &Var{Value: value}
	if !GradEnabled() {
		return out
	}
	for _, in := range inputs {
		if in != nil && in.requiresGrad {
			out.requiresGrad = true
			out.inputs = inputs
			out.backward = backward
			break
		}
	}
	return out
}

// addGrad accumulates g into v's gradient if v requires one. Leaves copy g
// into a buffer of their own (ordinary memory, never a tensor arena's, as
// their gradients outlive the step); intermediates may alias g until a
// second contribution arrives.
func (v *Var) addGrad(g *tensor.Tensor) {
	if v == nil || !v.requiresGrad {
		return
	}
	if !slices.Equal(g.Shape(), v.Value.Shape()) {
		panic(fmt.Sprintf("autograd: gradient of shape %v for a value of shape %v", g.Shape(), v.Value.Shape()))
	}
	switch {
	case v.Grad == nil && v.inputs != nil:
		v.Grad, v.gradOwned = g, false
	case v.Grad == nil:
		v.Grad, v.gradOwned = g.Clone(), true
	case !v.gradOwned:
		// A new sum rather than a clone: it comes from the tensor arena
		// when one is in use, like every other intermediate tensor.
		v.Grad, v.gradOwned = tensor.Add(v.Grad, g), true
	default:
		v.Grad.AddInPlace(g)
	}
}

// addOwnedGrad is addGrad for a gradient g that the caller allocated for
// this call alone (nothing else holds it), so v may keep it and modify it:
// a second contribution to an intermediate then sums into g instead of
// cloning the first one (the input of a residual block receives one from
// the skip path, aliased, and one from the convolution, fresh).
func (v *Var) addOwnedGrad(g *tensor.Tensor) {
	if v == nil || !v.requiresGrad {
		return
	}
	switch {
	case !slices.Equal(g.Shape(), v.Value.Shape()) || v.gradOwned || v.inputs == nil:
		// Shape mismatch (addGrad panics), v's own buffer to add into, or a
		// leaf, whose gradient must be ordinary memory that outlives any
		// tensor arena: addGrad copies it.
		v.addGrad(g)
	case v.Grad == nil:
		v.Grad, v.gradOwned = g, true
	default:
		g.AddInPlace(v.Grad)
		v.Grad, v.gradOwned = g, true
	}
}

// Backward computes the gradient of v with respect to every Var it depends
// on that requires a gradient. v must hold a single element (a loss); use
// [Var.BackwardWith] to seed another output gradient.
func (v *Var) Backward() {
	if v.Value.Size() != 1 {
		panic(fmt.Sprintf("autograd: Backward of a non-scalar of shape %v; use BackwardWith", v.Value.Shape()))
	}
	v.BackwardWith(tensor.Ones(v.Value.Shape()...))
}

// BackwardWith runs the backward pass seeded with grad, the gradient of some
// scalar with respect to v (same shape as v).
func (v *Var) BackwardWith(grad *tensor.Tensor) {
	if !v.requiresGrad {
		panic("autograd: Backward of a value that needs no gradient (no parameter in its history, or its graph was already consumed by an earlier Backward)")
	}
	order := topoOrder(v)
	v.addGrad(grad)
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.Grad != nil {
			n.backward(n.Grad)
		}
		// An intermediate gradient has been passed on; free it and the
		// node's links so the forward activations can be collected.
		n.Grad, n.inputs, n.backward = nil, nil, nil
		n.requiresGrad = false
	}
}

// topoOrder returns the non-leaf nodes reachable from v that require a
// gradient, each after all of its inputs (an iterative depth-first search,
// so deep networks do not grow the goroutine stack).
func topoOrder(v *Var) []*Var {
	var order []*Var
	seen := map[*Var]bool{}
	type frame struct {
		v    *Var
		next int
	}
	stack := []frame{{v: v}}
	seen[v] = true
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next < len(f.v.inputs) {
			in := f.v.inputs[f.next]
			f.next++
			if in != nil && in.requiresGrad && in.inputs != nil && !seen[in] {
				seen[in] = true
				stack = append(stack, frame{v: in})
			}
			continue
		}
		order = append(order, f.v)
		stack = stack[:len(stack)-1]
	}
	return order
}
