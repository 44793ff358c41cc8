// Package nn holds Fovea's neural-network layers: one file per layer, each a
// concrete struct whose Forward calls the differentiable ops of package
// autograd.
//
// Layers meet the rest of Fovea through small interfaces: every layer is a
// [Layer]; a layer with trainable tensors also implements [ParamOwner],
// state that is saved but not trained (batch-norm running statistics) is a
// [BufferOwner], containers are [Parent]s, and layers that behave
// differently in training and evaluation implement [Trainable]. [Params],
// [Buffers] and [SetTraining] walk a tree of layers through these
// interfaces and name every tensor by its path, "features.0.weight", as
// PyTorch's state_dict does, so checkpoints move between the two by name.
//
// # Error handling
//
// Constructors and Forward panic with an "nn: " message on impossible
// configurations or input shapes (programmer errors).
package nn

import (
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Layer maps an input to an output.
type Layer interface {
	Forward(x *autograd.Var) *autograd.Var
}

// forwardChild runs l, the child of parent named name (or, when name is "",
// its index), on x: through the Module hook of x's tape
// ([autograd.Tape.Module]) when it has one.
//
// A child that the tape's Opaque reports runs as one [autograd.Opaque] op.
func forwardChild(x *autograd.Var, parent Layer, index int, name string, l Layer) *autograd.Var {
	if t := x.Tape(); t != nil && t.Opaque != nil && t.Opaque(l) {
		l = opaque{l}
	}
	if t := x.Tape(); t != nil && t.Module != nil {
		if name == "" {
			name = strconv.Itoa(index)
		}
		return t.Module(autograd.ModuleCall{Parent: parent, Name: name, Layer: l}, func() *autograd.Var { return l.Forward(x) })
	}
	return l.Forward(x)
}

// opaque runs a layer as one autograd.Opaque op.
type opaque struct{ l Layer }

func (o opaque) Forward(x *autograd.Var) *autograd.Var { return autograd.Opaque(x, o.l.Forward) }

// Named pairs a name with a value; it lists parameters, buffers and children.
type Named[T any] struct {
	Name  string
	Value T
}

// ParamOwner is a layer with trainable tensors of its own (not its
// children's), listed in a fixed order.
type ParamOwner interface {
	OwnParams() []Named[*autograd.Var]
}

// BufferOwner is a layer with saved, untrained state of its own, such as
// batch-norm running statistics.
type BufferOwner interface {
	OwnBuffers() []Named[*tensor.Tensor]
}

// Parent is a container of named sub-layers.
type Parent interface {
	Children() []Named[Layer]
}

// Trainable is a layer whose behaviour differs between training and
// evaluation (dropout, batch norm).
type Trainable interface {
	SetTraining(on bool)
}

// RandomStateOwner is a layer with a random generator of its own (dropout),
// whose state a training checkpoint saves so a resumed run draws the same
// numbers.
type RandomStateOwner interface {
	RandomState() ([]byte, error)
	SetRandomState(state []byte) error
}

// Walk calls fn for l and, depth first in order, every layer below it, with
// the dotted path of each ("" for l itself).
func Walk(l Layer, fn func(path string, l Layer)) {
	walk("", l, fn)
}

func walk(path string, l Layer, fn func(string, Layer)) {
	fn(path, l)
	if p, ok := l.(Parent); ok {
		for _, c := range p.Children() {
			if c.Value != nil {
				walk(join(path, c.Name), c.Value, fn)
			}
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// Params returns every trainable parameter under l, named by path.
func Params(l Layer) []Named[*autograd.Var] {
	var out []Named[*autograd.Var]
	Walk(l, func(path string, l Layer) {
		if p, ok := l.(ParamOwner); ok {
			for _, n := range p.OwnParams() {
				out = append(out, Named[*autograd.Var]{Name: join(path, n.Name), Value: n.Value})
			}
		}
	})
	return out
}

// Buffers returns every saved non-trainable tensor under l, named by path.
func Buffers(l Layer) []Named[*tensor.Tensor] {
	var out []Named[*tensor.Tensor]
	Walk(l, func(path string, l Layer) {
		if b, ok := l.(BufferOwner); ok {
			for _, n := range b.OwnBuffers() {
				out = append(out, Named[*tensor.Tensor]{Name: join(path, n.Name), Value: n.Value})
			}
		}
	})
	return out
}

// StateDict returns the values of all parameters and buffers under l by
// name, the tensors a checkpoint stores. The tensors are shared, not copied.
func StateDict(l Layer) []Named[*tensor.Tensor] {
	var out []Named[*tensor.Tensor]
	for _, p := range Params(l) {
		out = append(out, Named[*tensor.Tensor]{Name: p.Name, Value: p.Value.Value})
	}
	return append(out, Buffers(l)...)
}

// ParamVars returns the parameters under l without their names, as
// optimizers take them.
func ParamVars(l Layer) []*autograd.Var {
	ps := Params(l)
	out := make([]*autograd.Var, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

// NumParams counts the trainable scalars under l.
func NumParams(l Layer) int {
	n := 0
	for _, p := range Params(l) {
		n += p.Value.Value.Size()
	}
	return n
}

// SetTraining switches every layer under l to training (true) or
// evaluation (false) behaviour.
func SetTraining(l Layer, on bool) {
	Walk(l, func(_ string, l Layer) {
		if t, ok := l.(Trainable); ok {
			t.SetTraining(on)
		}
	})
}

// ZeroGrad zeroes the gradients of every parameter under l.
func ZeroGrad(l Layer) {
	for _, p := range Params(l) {
		p.Value.ZeroGrad()
	}
}

// Func adapts a plain function (an activation, say) to a Layer.
type Func func(x *autograd.Var) *autograd.Var

// Forward calls f.
func (f Func) Forward(x *autograd.Var) *autograd.Var { return f(x) }
