// Package engine runs trained models for inference faster than the eager
// autograd path. [Compile] traces a model into a graph (package graph),
// rewrites it, and plans every buffer once for the given input shape;
// [Plan.Run] then executes the steps with no graph bookkeeping and no
// per-call allocation of activations.
//
// Rewrites:
//   - an evaluation-mode batch norm that follows a convolution is folded
//     into the convolution's weights and bias;
//   - a residual addition is fused into the convolution that produces one
//     of its operands (the one computed last), and a ReLU into the
//     convolution, linear layer or addition before it;
//   - reshapes (nn.Flatten's included) become views of their input's
//     buffer.
//
// Buffers are shared between values whose lifetimes do not overlap.
//
// # Error handling
//
// Compile returns an error naming the operation when the model uses one the
// engine cannot run; callers then use the eager path. Run panics with an
// "engine: " message when given an input of another shape (a programmer
// error: compile a plan per input shape).
package engine

import (
	"slices"

	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Plan is a compiled model for one input shape. A Plan is not safe for
// concurrent use: each goroutine needs its own.
type Plan struct {
	inShape, outShape []int
	steps             []step
	bufs              [][]float32 // buffer i backs the values assigned to it
	bufOf             []int       // value ID → buffer index, -1 for constants
	wino              []float32   // scratch shared by the Winograd convolutions
	bindLater         []func()    // binds needing every step built (planning only)
	input, output     int
	in, out           *tensor.Tensor // views of the input and output buffers
	// Summary lists the executed steps, one line each, for logs and tests.
	Summary []string
}

// step is one executable operation over planned buffers.
type step struct {
	name string
	run  func(p *Plan)
}

// Compile traces model on inputShape (N, C, H, W) and plans its execution.
func Compile(model nn.Layer, inputShape ...int) (*Plan, error) {
	g, err := graph.Trace(model, inputShape...)
	if err != nil {
		return nil, err
	}
	return compileGraph(g)
}

// Run executes the plan on x, which must have the compiled input shape, and
// returns the output. The returned tensor's memory belongs to the plan: it
// is overwritten by the next Run.
func (p *Plan) Run(x *tensor.Tensor) *tensor.Tensor {
	if !slices.Equal(x.Shape(), p.inShape) {
		panic(tensor.ShapeErrorf("engine: Run on input %v, plan compiled for %v", x.Shape(), p.inShape))
	}
	copy(p.in.Data(), x.Contiguous().Data())
	for _, s := range p.steps {
		s.run(p)
	}
	return p.out
}

// InputShape returns the shape the plan was compiled for.
func (p *Plan) InputShape() []int { return p.inShape }

// buf returns the planned memory of value id.
func (p *Plan) buf(id int) []float32 { return p.bufs[p.bufOf[id]] }
