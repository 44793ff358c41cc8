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
	for i, l := range s.Layers {
		x = forwardChild(x, s, i, "", l)
	}
	return x
}

// Children names the layers by index.
func (s *Sequential) Children() []Named[Layer] {
	out := make([]Named[Layer], len(s.Layers))
	for i, l := range s.Layers {
		out[i] = Named[Layer]{Name: strconv.Itoa(i), Value: l}
	}
	return out
}
