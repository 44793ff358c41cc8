// Package graph is Fovea's intermediate representation of a model: the
// operations of one forward pass as nodes, the tensors between them as
// values with shapes, and the parameters by their state-dict names.
//
// The operations are the [ops.Op] constants of package ops, which declares
// each once with its trace name, ONNX operator and summary labels.
//
// A graph is obtained by tracing: [Trace] runs the model's ordinary Go
// Forward once, in evaluation mode without gradients, while package
// autograd reports each operation. Everything that needs the model as data
// (the inference engine, summaries, ONNX export) reads this IR, so a model
// written as plain Go code needs no second description.
//
// # Error handling
//
// Trace returns an error when the model panics on the given input shape or
// uses an operation that depends on values the graph cannot represent.
package graph

import (
	"fmt"
	"strings"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// Value is a tensor in the graph: the model input, a parameter, a constant
// captured during tracing, or the output of a node.
type Value struct {
	ID    int
	Shape []int
	// Param is the state-dict name for parameters and buffers, else "".
	Param string
	// Data holds the tensor of parameters and constants; nil for the input
	// and node outputs.
	Data *tensor.Tensor
	// Producer is the index of the node computing the value, or -1.
	Producer int
}

// Node is one operation.
type Node struct {
	Op     ops.Op // ops.Conv2d, ops.ReLU, …
	Attrs  any    // op-specific (see package ops): tensor.ConvParams, tensor.PoolParams, …
	Inputs []int  // value IDs; -1 for an absent optional input (a conv without bias)
	Output int    // value ID
	// Scope is the nn.Walk path of the innermost child of an
	// nn.Sequential, nn.Concat or nn.Residual that ran the operation
	// ("layers.3", "layer1.0.shortcut"), "" outside them.
	Scope string
}

// Graph is a traced forward pass.
type Graph struct {
	Values []*Value
	Nodes  []Node
	Input  int // value ID of the model input
	Output int // value ID of the model output
}

// Uses returns, for every value, the indices of the nodes reading it.
func (g *Graph) Uses() [][]int {
	uses := make([][]int, len(g.Values))
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in >= 0 {
				uses[in] = append(uses[in], i)
			}
		}
	}
	return uses
}

// String is a text dump: one line per node with shapes, e.g.
//
//	%3 = conv2d(%0 [1 1 28 28], conv1.weight [6 1 5 5], conv1.bias [6]) {stride [1 1] …} -> [1 6 28 28]
func (g *Graph) String() string {
	var b strings.Builder
	name := func(id int) string {
		if id < 0 {
			return "none"
		}
		v := g.Values[id]
		if v.Param != "" {
			return fmt.Sprintf("%s %v", v.Param, v.Shape)
		}
		if v.Data != nil {
			return fmt.Sprintf("const%d %v", id, v.Shape)
		}
		return fmt.Sprintf("%%%d %v", id, v.Shape)
	}
	fmt.Fprintf(&b, "input %s\n", name(g.Input))
	for _, n := range g.Nodes {
		args := make([]string, len(n.Inputs))
		for i, in := range n.Inputs {
			args[i] = name(in)
		}
		fmt.Fprintf(&b, "%%%d = %s(%s)", n.Output, n.Op, strings.Join(args, ", "))
		if n.Attrs != nil {
			fmt.Fprintf(&b, " %+v", n.Attrs)
		}
		fmt.Fprintf(&b, " -> %v\n", g.Values[n.Output].Shape)
	}
	fmt.Fprintf(&b, "output %%%d\n", g.Output)
	return b.String()
}
