package nn

import (
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
)

// Sequential applies its layers in order. Children are named by index
// ("0", "1", …) as in PyTorch's nn.Sequential.
type Sequential struct {
	Layers []Layer
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Layer) *Sequential { return &Sequential{Layers: layers} }

// Append adds layers at the end.
func (s *Sequential) Append(layers ...Layer) { s.Layers = append(s.Layers, layers...) }

// Forward applies every layer in turn.
func (s *Sequential) Forward(x *autograd.Var) *autograd.Var {
	for i := 0; i < len(s.Layers); i++ {
		l := s.Layers[i]
		// A batch norm followed by a ReLU (and a max pool) runs fused,
		// unless the tape watches each child (module hooks, tracing).
		if bn, ok := l.(*BatchNorm); ok && i+1 < len(s.Layers) && isReLU(s.Layers[i+1]) && !watched(x) {
			if i+2 < len(s.Layers) {
				if mp, ok := s.Layers[i+2].(*MaxPool2d); ok {
					x = bn.ForwardReLUMaxPool(x, mp)
					i += 2
					continue
				}
			}
			x = bn.ForwardReLU(x)
			i++
			continue
		}
		x = forwardChild(x, s, i, "", l)
	}
	return x
}

// isReLU reports whether l is a ReLU layer.
func isReLU(l Layer) bool {
	switch l.(type) {
	case ReLU, *ReLU:
		return true
	}
	return false
}

// Watched reports whether x's tape observes the children of containers or
// the operations one by one (module hooks, tracing), so that fusing two
// layers would hide one: a model fusing layers by hand checks it first.
func Watched(x *autograd.Var) bool { return watched(x) }

// watched is Watched.
func watched(x *autograd.Var) bool {
	t := x.Tape()
	return t != nil && (t.Module != nil || t.Trace != nil)
}

// Children names the layers by index.
func (s *Sequential) Children() []Named[Layer] {
	out := make([]Named[Layer], len(s.Layers))
	for i, l := range s.Layers {
		out[i] = Named[Layer]{Name: strconv.Itoa(i), Value: l}
	}
	return out
}
