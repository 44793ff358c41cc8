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
//
// # Tapes: the context of a computation
//
// How a computation runs is decided by its [Tape], not by switches of the
// process: whether it records gradients (off for evaluation and inference,
// so no graph and no saved activations are kept), the [tensor.Arena] its
// tensors come from, the callback that receives every operation as it runs
// (tracing: package graph builds the model's IR from it) and the hook run
// around each child of a container (module scopes, captured layer outputs).
// A computation is on a tape when its input is: [Tape.Const] puts a tensor
// on a tape, and the result of every operation is on the tape of its
// inputs (the first one that has a tape; parameters have none). Its
// tensors likewise take their memory from the arena of their inputs
// (package tensor), so a tape's arena is given to its input and followed
// by everything computed from it. A Var on no tape ([Const], [Param])
// records gradients in ordinary memory, as the zero Tape does.
//
// So two goroutines can train, trace, explain and infer different models
// at the same time, each on its own tape; nothing is shared but the
// parameters they read. A tape is used by one goroutine at a time. Results
// computed from parameters alone (none of the tape's inputs in their
// history) are off the tape: they record gradients and are not traced,
// which a model should avoid in Forward (an op on parameters alone is a
// constant of the traced graph).
//
// # Error handling
//
// As in package tensor, shape errors are programmer errors and panic with an
// "autograd: " or "tensor: " message.
package autograd

import (
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/tensor"
)

// Var is a tensor value in a differentiable computation.
type Var struct {
	// Value is the result of the forward computation.
	Value *tensor.Tensor
	// Grad is the gradient of the last Backward output with respect to
	// Value, accumulated over Backward calls for leaves; nil until set.
	Grad *tensor.Tensor

	tape         *Tape // the computation's context, or nil
	requiresGrad bool
	gradOwned    bool                   // Grad may be modified in place
	inputs       []*Var                 // nil for leaves
	backward     func(g *tensor.Tensor) // adds input gradients given Grad
	pass         *backwardPass          // the backward pass running through v, or nil
	retained     bool                   // a Program's step: backward keeps its links
	static       bool                   // a constant a Program may keep (Static)
}

// Param returns a leaf Var that requires a gradient: a trainable parameter.
func Param(t *tensor.Tensor) *Var { return &Var{Value: t, requiresGrad: true} }

// Const returns a leaf Var that needs no gradient, on no tape: input data,
// labels. [Tape.Const] puts one on a tape.
func Const(t *tensor.Tensor) *Var { return &Var{Value: t} }

// Static is [Const] for a constant that a layer makes during its forward
// pass from the shapes alone (an averaging matrix), the same numbers on
// every call with the same shapes: a recorded [Program] may keep it,
// where it refuses a Const (which may hold data of the call).
func Static(t *tensor.Tensor) *Var { return &Var{Value: t, static: true} }

// RequiresGrad reports whether gradients flow to v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad turns gradient tracking of a leaf on or off (freezing a
// layer). It panics on a non-leaf.
func (v *Var) SetRequiresGrad(on bool) {
	if v.inputs != nil {
		panic(tensor.ShapeErrorf("autograd: SetRequiresGrad on a non-leaf Var"))
	}
	v.requiresGrad = on
}

// IsLeaf reports whether v was made by Param or Const rather than an op.
func (v *Var) IsLeaf() bool { return v.inputs == nil }

// Shape is v.Value.Shape().
func (v *Var) Shape() []int { return v.Value.Shape() }

// Detach returns a leaf sharing v's value with no gradient history, on
// v's tape.
func (v *Var) Detach() *Var { return &Var{Value: v.Value, tape: v.tape} }

// ZeroGrad zeroes v's accumulated gradient, keeping its buffer for reuse.
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Grad.Fill(0)
	}
}

// Tape is the context of a computation (see the package documentation):
// put its input on the tape with [Tape.Const] and everything computed from
// it runs as the tape says. The zero Tape records gradients in ordinary
// memory, traces nothing and hooks nothing, as a Var on no tape does.
//
//	ev := &autograd.Tape{NoGrad: true}            // evaluation
//	logits := model.Forward(ev.Const(batch))
//
//	step := &autograd.Tape{Arena: arena}          // a training step
//	loss := lossFn(model.Forward(step.Const(batch)), labels)
//	loss.Backward()
//
// A tape is used by one goroutine at a time; its fields must not change
// while a computation on it runs.
type Tape struct {
	// NoGrad turns gradient recording off: evaluation and inference.
	NoGrad bool
	// Arena, if not nil, is where the computation's tensors take their
	// memory, activations and gradients alike ([tensor.Arena]).
	Arena *tensor.Arena
	// Trace, if not nil, receives every operation as it runs.
	Trace func(TraceOp)
	// Module, if not nil, runs each child of a container (the layers of an
	// nn.Sequential, the branches of an nn.Concat, the body, shortcut and
	// post of an nn.Residual): it is called with the call and a function
	// running the child's Forward, and returns the child's output, which it
	// may replace. Package graph learns module scopes this way (nn.Scopes),
	// package explain captures layer outputs.
	Module func(call ModuleCall, forward func() *Var) *Var
	// Opaque, if not nil, is asked about each child of a container before
	// it runs (package nn): a child it reports runs as one [Opaque] op, so
	// that a recorded [Program] runs it again eagerly on every call instead
	// of replaying the operations it performed once.
	Opaque func(layer any) bool

	rec *recording // the program being recorded, or nil
}

// ModuleCall is a container running one of its children, as [Tape.Module]
// sees it.
type ModuleCall struct {
	Parent any    // the container
	Name   string // the child's name in it ("0", "body"), as nn names children
	Layer  any    // the child
}

// Const returns a leaf Var holding x on tape t: the input of a computation.
// Its value is x tagged with t's arena ([tensor.Tensor.In]), so that every
// tensor computed from it takes memory from that arena. A nil t gives
// [Const].
func (t *Tape) Const(x *tensor.Tensor) *Var {
	if t == nil {
		return Const(x)
	}
	if t.Arena != nil {
		x = x.In(t.Arena)
	}
	return &Var{Value: x, tape: t}
}

// EvalConst returns x as the input of an evaluation or inference: a leaf on
// a new tape that records no gradients.
func EvalConst(x *tensor.Tensor) *Var { return (&Tape{NoGrad: true}).Const(x) }

// Tape returns the tape v is on, or nil.
func (v *Var) Tape() *Tape { return v.tape }

// GradEnabled reports whether operations on v record gradients: it is on no
// tape or on one without NoGrad.
func (v *Var) GradEnabled() bool { return v.tape == nil || !v.tape.NoGrad }

// tapeOf returns the tape of the first of vs on one, or nil.
func tapeOf(vs []*Var) *Tape {
	for _, v := range vs {
		if v != nil && v.tape != nil {
			return v.tape
		}
	}
	return nil
}

// record runs an op's forward computation fwd and wraps its result, on
// the tape of its inputs. If that tape records gradients and any input
// requires one, the result remembers its inputs and backward closure; if
// the tape is recording a [Program], the op becomes one of its steps.
//
// fwd computes the result from the inputs' current values alone and
// assigns everything the backward closure reads besides those values and
// the result (saved statistics, masks, argmax indices): a program runs it
// again on each new input, and the backward closure must then see that
// run's values. Nothing fwd reads may be computed outside it from tensor
// data, since it would go stale.
//
// The closure may read only the values of inputs and value itself (or
// memory the op allocated privately), must not keep g or anything computed
// from it after it returns, and must pass on fresh tensors or views of g,
// never forward values: backward passes release memory relying on that
// (see backwardPass).
func record(fwd func() *tensor.Tensor, backward func(g *tensor.Tensor), inputs ...*Var) *Var {
	value := fwd()
	t := tapeOf(inputs)
	out := &Var{Value: value, tape: t}
	if t != nil && t.rec != nil {
		t.rec.add(out, fwd, inputs)
	}
	if t != nil && t.NoGrad {
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
		panic(tensor.ShapeErrorf("autograd: gradient of shape %v for a value of shape %v", g.Shape(), v.Value.Shape()))
	}
	switch {
	case v.Grad == nil && v.inputs != nil:
		v.Grad, v.gradOwned = g, false
		v.pass.hold(g)
	case v.Grad == nil:
		v.Grad, v.gradOwned = g.Clone(), true
	case !v.gradOwned:
		// A new sum rather than a clone: it comes from the tensor arena
		// when one is in use, like every other intermediate tensor.
		old := v.Grad
		v.Grad, v.gradOwned = tensor.Add(old, g), true
		v.pass.hold(v.Grad)
		v.pass.unhold(old)
		v.pass.drop(g)
	default:
		v.Grad.AddInPlace(g)
		v.pass.drop(g)
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
		v.pass.hold(g)
	default:
		g.AddInPlace(v.Grad)
		old := v.Grad
		v.Grad, v.gradOwned = g, true
		v.pass.hold(g)
		v.pass.unhold(old)
	}
}

// Backward computes the gradient of v with respect to every Var it depends
// on that requires a gradient. v must hold a single element (a loss); use
// [Var.BackwardWith] to seed another output gradient.
func (v *Var) Backward() {
	if v.Value.Size() != 1 {
		panic(tensor.ShapeErrorf("autograd: Backward of a non-scalar of shape %v; use BackwardWith", v.Value.Shape()))
	}
	v.BackwardWith(nil)
}

// BackwardWith runs the backward pass seeded with grad, the gradient of some
// scalar with respect to v (same shape as v).
//
// Each intermediate gradient is given back to the tensor arena in use (see
// [tensor.Arena.Release]) as soon as its node has passed it on and no other
// node still holds it, so that later gradients of the pass reuse its memory.
// Nothing observable changes: intermediate gradients are dropped after the
// pass anyway, leaves receive copies, and grad itself is never released.
func (v *Var) BackwardWith(grad *tensor.Tensor) {
	v.BackwardWithOptions(grad, BackwardOptions{})
}

// BackwardOptions configures [Var.BackwardWithOptions].
type BackwardOptions struct {
	// ReleaseValues also gives the forward values of the intermediate
	// results in v's history back to the tensor arena in use, each as soon
	// as every backward step that may read it has run, as PyTorch frees
	// saved activations during backward. After the pass those values, and
	// every tensor sharing their memory (views of them, [Var.Detach] of
	// them, tensors that the caller derived from them without copying),
	// hold arbitrary numbers: read what is needed from them (accuracy,
	// metrics) before Backward. Kept are v's value and the memory of every
	// Var that is a direct input of a recorded op without being part of the
	// recorded graph itself: leaves (parameters, input data, Detach-ed
	// values) and results computed without gradient tracking. Without an
	// arena in use this option changes nothing.
	ReleaseValues bool
}

// BackwardWithOptions is [Var.BackwardWith] with options; a nil grad seeds
// a scalar v with 1, as [Var.Backward] does.
func (v *Var) BackwardWithOptions(grad *tensor.Tensor, opt BackwardOptions) {
	if grad == nil {
		if v.Value.Size() != 1 {
			panic(tensor.ShapeErrorf("autograd: Backward of a non-scalar of shape %v; use BackwardWith", v.Value.Shape()))
		}
		grad = v.Value.Arena().Empty(v.Value.Shape()...) // from the computation's arena
		grad.Fill(1)
	}
	if !v.requiresGrad {
		panic(tensor.ShapeErrorf("autograd: Backward of a value that needs no gradient (no parameter in its history, or its graph was already consumed by an earlier Backward)"))
	}
	order, ts := topoOrder(v)
	defer ts.release(order)
	p := newBackwardPass(order, v, grad, opt.ReleaseValues)
	v.addGrad(grad)
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.Grad != nil {
			n.backward(n.Grad)
		}
		// An intermediate gradient has been passed on; give it back and
		// free the node's links so the forward activations can be
		// collected.
		p.unhold(n.Grad)
		p.doneReading(n)
		p.releaseDropped()
		n.Grad, n.pass = nil, nil
		if !n.retained { // a program's steps keep their links for its next run
			n.inputs, n.backward = nil, nil
			n.requiresGrad = false
		}
	}
	// Not deferred: after a panic some nodes may still point to p.
	p.free()
}

// backwardPass is the bookkeeping of one backward pass that decides when a
// tensor's memory may be given back to the arena early.
//
// Safety argument. A buffer is released only when nothing can use it again:
//
//   - holds counts, per buffer, the references that may still use it: each
//     node of the pass whose Grad uses it (gradients are aliased: Add hands
//     the same g to both inputs, Reshape a view of it), and, with
//     ReleaseValues, each node of the pass whose backward closure has not
//     run yet and may read a value using it (a closure reads only its own
//     output and its inputs' values).
//   - keep lists buffers that are never released: the seed gradient, v's
//     value, the values of inputs outside the pass (leaves such as
//     parameters and data, Detach-ed values, results computed without
//     gradient tracking) and, without ReleaseValues, every value.
//   - Backward closures keep no reference to the gradient they receive or
//     to tensors they compute from it once they return, and the gradients
//     they pass on are fresh tensors or views of the gradient they received,
//     never forward values (each op in this package is written that way).
//     A gradient that addGrad does not keep (summed into another, or
//     replaced by a sum) is only considered after the running closure has
//     returned, since the closure may still read it.
//   - Leaves never hold arena memory: addGrad copies into their own buffer.
//
// So when a buffer's count is zero after a closure has returned and it is
// not kept, no Var and no closure can reach it, and [tensor.Release] may
// recycle it. Buffers are identified by [tensor.BufferID], which views
// share. Release itself ignores memory that is not the arena's.
type backwardPass struct {
	holds   map[tensor.BufferID]int
	keep    map[tensor.BufferID]bool
	dropped []*tensor.Tensor  // given up during the running closure
	values  bool              // release forward values too
	seen    []tensor.BufferID // scratch for reading
}

var passPool = sync.Pool{New: func() any {
	return &backwardPass{holds: map[tensor.BufferID]int{}, keep: map[tensor.BufferID]bool{}}
}}

// newBackwardPass prepares the bookkeeping for the nodes in order (v last)
// and attaches it to them.
func newBackwardPass(order []*Var, v *Var, grad *tensor.Tensor, values bool) *backwardPass {
	p := passPool.Get().(*backwardPass)
	p.values = values
	p.keep[grad.Buffer()] = true
	p.keep[v.Value.Buffer()] = true
	for _, n := range order {
		n.pass = p
	}
	for _, n := range order {
		for _, in := range n.inputs {
			if in != nil && in.pass != p {
				p.keep[in.Value.Buffer()] = true
			}
		}
		if !values {
			p.keep[n.Value.Buffer()] = true
			continue
		}
		p.reading(n, func(id tensor.BufferID, _ *tensor.Tensor) { p.holds[id]++ })
	}
	return p
}

// reading calls fn once for each distinct buffer among the values n's
// backward closure may read (its own and its inputs'), with a tensor using
// it.
func (p *backwardPass) reading(n *Var, fn func(id tensor.BufferID, t *tensor.Tensor)) {
	p.seen = p.seen[:0]
	visit := func(t *tensor.Tensor) {
		id := t.Buffer()
		if !slices.Contains(p.seen, id) {
			p.seen = append(p.seen, id)
			fn(id, t)
		}
	}
	visit(n.Value)
	for _, in := range n.inputs {
		if in != nil {
			visit(in.Value)
		}
	}
}

// doneReading records that n's backward closure has run (or was skipped):
// it no longer needs the values it may read.
func (p *backwardPass) doneReading(n *Var) {
	if !p.values {
		return
	}
	p.reading(n, func(id tensor.BufferID, t *tensor.Tensor) {
		p.holds[id]--
		p.dropped = append(p.dropped, t)
	})
}

// hold counts a reference to t's buffer from a node's Grad. Like unhold and
// drop it is a no-op outside a pass (p nil: leaves, Vars that need no
// gradient).
func (p *backwardPass) hold(t *tensor.Tensor) {
	if p != nil {
		p.holds[t.Buffer()]++
	}
}

// unhold undoes hold when a node's Grad is replaced or passed on; the buffer
// is considered for release once the running closure returns.
func (p *backwardPass) unhold(t *tensor.Tensor) {
	if p != nil && t != nil {
		p.holds[t.Buffer()]--
		p.dropped = append(p.dropped, t)
	}
}

// drop notes a gradient that addGrad did not keep (summed into another);
// it is considered for release once the running closure returns.
func (p *backwardPass) drop(t *tensor.Tensor) {
	if p != nil {
		p.dropped = append(p.dropped, t)
	}
}

// releaseGrads turns releases off, for tests measuring what they save.
var releaseGrads = true

// releaseDropped gives back every dropped tensor's buffer that nothing
// holds any more.
func (p *backwardPass) releaseDropped() {
	if !releaseGrads {
		clear(p.dropped)
		p.dropped = p.dropped[:0]
		return
	}
	for i, t := range p.dropped {
		if id := t.Buffer(); p.holds[id] == 0 && !p.keep[id] {
			tensor.Release(t)
		}
		p.dropped[i] = nil
	}
	p.dropped = p.dropped[:0]
}

// free returns p to the pool.
func (p *backwardPass) free() {
	clear(p.holds)
	clear(p.keep)
	clear(p.dropped)
	p.dropped = p.dropped[:0]
	passPool.Put(p)
}

// topoOrder returns the non-leaf nodes reachable from v that require a
// gradient, each after all of its inputs (an iterative depth-first search,
// so deep networks do not grow the goroutine stack), in scratch memory
// that ts.release(order) gives back for the next pass.
func topoOrder(v *Var) (order []*Var, ts *topoScratch) {
	ts = topoPool.Get().(*topoScratch)
	stack := append(ts.stack[:0], topoFrame{v: v})
	order = ts.order[:0]
	ts.seen[v] = true
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next < len(f.v.inputs) {
			in := f.v.inputs[f.next]
			f.next++
			if in != nil && in.requiresGrad && in.inputs != nil && !ts.seen[in] {
				ts.seen[in] = true
				stack = append(stack, topoFrame{v: in})
			}
			continue
		}
		order = append(order, f.v)
		stack = stack[:len(stack)-1]
	}
	ts.stack = stack
	return order, ts
}

// release gives ts and order, which topoOrder returned, back for the next
// pass, holding no Vars.
func (ts *topoScratch) release(order []*Var) {
	clear(ts.seen)
	clear(order)
	clear(ts.stack[:cap(ts.stack)])
	ts.stack, ts.order = ts.stack[:0], order[:0]
	topoPool.Put(ts)
}

// topoScratch is topoOrder's memory, reused from pass to pass.
type topoScratch struct {
	seen  map[*Var]bool
	stack []topoFrame
	order []*Var
}

// topoFrame is a node of topoOrder's search and its next input.
type topoFrame struct {
	v    *Var
	next int
}

var topoPool = sync.Pool{New: func() any { return &topoScratch{seen: map[*Var]bool{}} }}
