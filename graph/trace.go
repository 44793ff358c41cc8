package graph

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Trace runs model once on an input of the given shape (N, C, H, W) filled
// with zeros, in evaluation mode and without gradients, and returns the
// graph of the operations it performed, each with its shapes and module
// scope: tracing is Fovea's shape inference. The model is left in
// evaluation mode. The trace runs on a tape of its own
// ([autograd.Tape]): other computations, of this model or others, may run
// at the same time, as long as none switches the model to training mode.
func Trace(model nn.Layer, inputShape ...int) (g *Graph, err error) {
	nn.SetTraining(model, false)

	params := map[*tensor.Tensor]string{}
	for _, p := range nn.StateDict(model) {
		params[p.Value] = p.Name
	}
	g = &Graph{}
	ids := map[*autograd.Var]int{}
	byTensor := map[*tensor.Tensor]int{}
	newValue := func(t *tensor.Tensor, producer int) int {
		v := &Value{ID: len(g.Values), Shape: slices.Clone(t.Shape()), Producer: producer}
		g.Values = append(g.Values, v)
		return v.ID
	}
	valueOf := func(v *autograd.Var) int {
		if id, ok := ids[v]; ok {
			return id
		}
		// A Var first seen as an input: a parameter or a constant.
		if id, ok := byTensor[v.Value]; ok {
			ids[v] = id
			return id
		}
		id := newValue(v.Value, -1)
		g.Values[id].Data = v.Value
		g.Values[id].Param = params[v.Value]
		ids[v], byTensor[v.Value] = id, id
		return id
	}
	sc := nn.NewScopes(model)
	tape := &autograd.Tape{NoGrad: true, Module: scoped(sc)}
	x := tape.Const(tensor.New(inputShape...))
	g.Input = newValue(x.Value, -1)
	ids[x] = g.Input
	tape.Trace = func(op autograd.TraceOp) {
		n := Node{Op: op.Op, Attrs: op.Attrs, Scope: sc.Path()}
		for _, in := range op.Inputs {
			if in == nil {
				n.Inputs = append(n.Inputs, -1)
				continue
			}
			n.Inputs = append(n.Inputs, valueOf(in))
		}
		n.Output = newValue(op.Output.Value, len(g.Nodes))
		ids[op.Output] = n.Output
		g.Nodes = append(g.Nodes, n)
	}
	out, err := maybe.Value(func() *autograd.Var { return model.Forward(x) })
	if err != nil {
		return nil, fmt.Errorf("graph: tracing the model on input %v: %w", inputShape, err)
	}
	id, ok := ids[out]
	if !ok {
		return nil, fmt.Errorf("graph: the model's output was not produced by a traced operation")
	}
	g.Output = id
	return g, nil
}
